"""What a student writes and what it is compared with: answer keys ("z", "dL/dw", "w_new") and
the exact value each names, answers read by the safe parser, and the significant-figure tolerance.

Numbers are taken as people type them: int, float, ``Fraction``, ``Decimal``, numpy scalars (and
one-element arrays), text. How close a number must be (``matches``):

* a number written with few digits (``0.9991``, ``"≈ 0.9991"``, ``Decimal("0.9991")``) is right
  when it is the exact value rounded to the significant figures written (± half a unit in the last
  digit written);
* a float that is binary noise around a short decimal (``1.286 - 1.13 == 0.15600000000000014``,
  ``0.1*3``: 15 or more digits, within 1e-12 of 0.156) is read as that decimal (``short_decimal``),
  its digits rule and all;
* a *machine value* — a float whose shortest repr has 10 or more significant digits
  (``float(ex.grad("w"))``), or text or a Decimal written with
  as many — carries its digits by accident of binary arithmetic; it is right within a relative
  tolerance of 1e-9 (``MACHINE_RTOL``). A float32 (float16) — numpy, a torch tensor, ``t.item()``
  — is judged at its own precision (``derive.checking.machine``);
* an exact form (``3/20``, ``Fraction(3, 20)``, ``2*exp(-7)``) must be exact.

>>> answer = parse_answer(None, 0.1 * 3)
>>> answer.digits, answer.rtol, answer.noise, matches(answer, sp.Rational(3, 10))
(1, None, '0.30000000000000004', True)
>>> parse_answer(None, 2 ** 0.5).rtol
1e-09
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

import mpmath
import sympy as sp

from ..core.approx import approx
from ..core.errors import AnswerError, DeriveError

_DERIVATIVE = re.compile(r"^\s*(?:d|∂)\s*([A-Za-z][A-Za-z0-9_]*)\s*/\s*(?:d|∂)\s*([A-Za-z][A-Za-z0-9_]*)\s*$")
_NEW = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)_new\s*$")
MIN_SIGNIFICANT = 2
# A float carries 17 significant digits by accident; one typed by a person rarely has 10.
MACHINE_DIGITS = 10
MACHINE_RTOL = 1e-9


@dataclass(frozen=True)
class Key:
    """What an answer key names: a value, a derivative d(of)/d(wrt) (the total, over every path),
    the local derivative ∂(of)/∂(wrt)|direct of one line (``kind="local"``), or an update.
    ``note``: how a key written loosely was read (``dl/dw`` as dL/dw), for the report."""

    text: str
    kind: str  # "value", "derivative", "local", "update"
    name: str = ""  # value / update
    of: str = ""
    wrt: str = ""
    note: str = ""


# the document's mark of a line's own partial derivative beside the total (∂L/∂w|direct)
_DIRECT = re.compile(r"\s*\|\s*_?\s*\{?\s*direct\s*\}?\s*$")
# CS231n's names for gradients: dW1, db1, dX are ∂L/∂W1, ∂L/∂b1, ∂L/∂X
_GRADIENT_ALIAS = re.compile(r"^\s*d([A-Za-z][A-Za-z0-9_]*)\s*$")


def parse_key(ex, text: str) -> Key:
    """What the answer key ``text`` names in ``ex``: ``"z"`` (a value), ``"dL/dw"`` or
    ``"∂L/∂w"`` (the total derivative), ``"dz2/dz1|direct"`` (one line's own local derivative, as
    documents mark it beside the total), ``"w_new"``, ``"delta1"``, and CS231n's ``"dW1"`` for
    ∂L/∂W1. A name written in another case is read when only one name fits (``dl/dw`` is dL/dw;
    ``note`` says so); an unknown name gets the nearest names as "did you mean".

    >>> import derive
    >>> ex = derive.neuron(x=2, w=3, b=1, y=5)
    >>> k = parse_key(ex, "dl/dw"); (k.kind, k.of, k.wrt, k.note)
    ('derivative', 'L', 'w', 'read as dL/dw (names are case-sensitive)')
    >>> parse_key(ex, "dw").of, parse_key(ex, "dL/da|direct").kind
    ('L', 'local')
    """
    if not isinstance(text, str):
        raise AnswerError(f"answer key {text!r} must be text like \"z\", \"dL/dw\" or \"w_new\"")
    names = list(ex.inputs) + list(ex.nodes)
    known = set(names)
    if text.strip() in known:
        return Key(text, "value", name=text.strip())
    direct = _DIRECT.search(text)
    body = text[:direct.start()] if direct else text
    m = _DERIVATIVE.match(body)
    if m:
        written = m.groups()
        of, wrt = (_resolve(text, n, names) for n in written)
        note = _read_as(text, written, (of, wrt), f"d{of}/d{wrt}" + ("|direct" if direct else ""))
        if direct:
            return _direct_key(ex, text, of, wrt, note)
        return Key(text, "derivative", of=of, wrt=wrt, note=note)
    if direct:
        raise AnswerError(f"answer key {text!r}: |direct marks a local derivative, such as "
                          f"\"dz2/dz1|direct\"")
    m = _NEW.match(text)
    if m and _resolved(m.group(1), list(ex.inputs)):
        name = _resolved(m.group(1), list(ex.inputs))
        params = list(getattr(ex, "params", None) or ())
        if params and name not in params:  # ex.keys() lists no such update: nor is one graded
            role = getattr(ex, "roles", {}).get(name, "data")
            raise AnswerError(f"answer key {text!r}: {name} is {'a constant' if role == 'constant' else 'data'}, "
                              f"given and never updated; the updated parameters are "
                              f"{', '.join(p + '_new' for p in params)}")
        return Key(text, "update", name=name, note=_read_as(text, (m.group(1),), (name,), f"{name}_new"))
    delta = delta_node(ex, text)
    if delta is not None:  # δ1, delta2_1: ∂L/∂z of that unit, as backprop is taught
        return Key(text, "derivative", of=_output(ex), wrt=delta)
    alias = _gradient_alias(ex, text, names)
    if alias is not None:
        return alias
    single = _resolved(text.strip(), names)
    if single is not None:  # a value written in another case: Z for z
        return Key(text, "value", name=single, note=_read_as(text, (text.strip(),), (single,), single))
    near = _near(text.strip(), list(answer_keys_of(ex)))
    raise AnswerError(f"cannot read the answer key {text!r}{near}: use a name (\"z\"), a derivative "
                      f"(\"dL/dw\" or \"∂L/∂w\"), an update (\"w_new\") or a unit's δ "
                      f"(\"delta1\" for ∂L/∂z1)")


def _output(ex) -> str:
    graph = getattr(ex, "graph", None)
    return graph.output if graph is not None else ex.output


def _resolved(written: str, names: list) -> str | None:
    """``written`` as one of ``names``: itself, else the only name equal to it but for case."""
    if written in names:
        return written
    folded = [n for n in names if n.casefold() == written.casefold()]
    return folded[0] if len(folded) == 1 else None


def _resolve(text: str, written: str, names: list) -> str:
    found = _resolved(written, names)
    if found is not None:
        return found
    folded = [n for n in names if n.casefold() == written.casefold()]
    close = folded or _close(written, names)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise AnswerError(f"answer key {text!r}: unknown name {written!r}; {hint}known: "
                      f"{', '.join(sorted(names))}")


def _close(written: str, names: list) -> list:
    import difflib
    return difflib.get_close_matches(written, names, n=3, cutoff=0.6)


def _near(written: str, keys: list) -> str:
    close = _close(written, keys)
    return f" (did you mean {' or '.join(repr(k) for k in close)}?)" if close else ""


def _read_as(text: str, written: tuple, resolved: tuple, canonical: str) -> str:
    """The note for a key whose names were written in another case, else ""."""
    if tuple(written) == tuple(resolved):
        return ""
    return f"read as {canonical} (names are case-sensitive)"


def _direct_key(ex, text: str, of: str, wrt: str, note: str) -> Key:
    graph = getattr(ex, "graph", None)
    node = graph.nodes.get(of) if graph is not None and hasattr(graph, "nodes") else None
    if getattr(ex, "aliases", None) is not None or not hasattr(ex, "evaluation"):
        raise AnswerError(f"answer key {text!r}: |direct names one line's own local derivative, "
                          f"a key of scalar examples; a tensor example is checked by its "
                          f"gradients (\"d{of}/d{wrt}\")")
    if node is None or wrt not in node.parents:
        uses = f"; {of}'s line uses {', '.join(node.parents)}" if node is not None else ""
        raise AnswerError(f"answer key {text!r}: |direct is the derivative of one line with "
                          f"respect to one of its inputs, and the line of {of} does not use {wrt} "
                          f"directly{uses}")
    return Key(text, "local", of=of, wrt=wrt, note=note)


def _gradient_alias(ex, text: str, names: list) -> Key | None:
    """``dW1`` for ∂L/∂W1 (CS231n's convention), when no name of the example is spelled so."""
    m = _GRADIENT_ALIAS.match(text)
    if not m:
        return None
    out = _output(ex)
    name = _resolved(m.group(1), [n for n in names if n != out])
    if name is None:
        return None
    return Key(text, "derivative", of=out, wrt=name, note=f"read as d{out}/d{name}")


def answer_keys_of(ex) -> list:
    """The keys ``answer_keys`` lists, for "did you mean" (an object with only names lists those)."""
    try:
        return list(answer_keys(ex))
    except AttributeError:  # the tensor checker's name lists: the names and their gradients
        out = _output(ex)
        return list(ex.inputs) + list(ex.nodes) + [f"d{out}/d{n}" for n in list(ex.inputs) + list(ex.nodes)]


def other_paths(ex, of: str, wrt: str) -> bool:
    """Does ``wrt`` reach ``of`` other than through the edge of ``of``'s own line? Then the key
    ``d{of}/d{wrt}`` has two readings: the local derivative and the total over every path."""
    graph = ex.graph
    node = graph.nodes.get(of)
    if node is None or wrt not in node.parents or len(graph.consumers[wrt]) < 2:
        return False
    upstream = graph.ancestors(of)
    return any(c != of and c in upstream for c in graph.consumers[wrt])


def meanings(ex, key: Key) -> list:
    """Every meaning an answer to ``key`` stands for: its own, and for a derivative along one
    edge that is the only path (∂a/∂z) both the local derivative and the total, which agree."""
    own = (key.kind, key.name, key.of, key.wrt)
    if key.kind not in ("derivative", "local") or getattr(ex, "aliases", None) is not None:
        return [own]
    graph = ex.graph
    node = graph.nodes.get(key.of)
    if node is None or key.wrt not in node.parents or other_paths(ex, key.of, key.wrt):
        return [own]
    twin = ("local" if key.kind == "derivative" else "derivative", "", key.of, key.wrt)
    return [own, twin]


def local_reading(ex, key: Key) -> Key | None:
    """The other reading of an ambiguous key: ``dz2/dz1``, where z1 also reaches z2 another way,
    is the total and also — as a worked solution lists it under "The local derivatives" — the
    local ∂z2/∂z1. None when the document prints that local under another name (the output's
    ∂L/∂w|direct beside the total ∂L/∂w) or when the key has one reading."""
    if key.kind != "derivative" or getattr(ex, "aliases", None) is not None \
            or not other_paths(ex, key.of, key.wrt):
        return None
    if key.of == ex.graph.output and not _partial_written(ex, key.text):
        return None
    return Key(key.text, "local", of=key.of, wrt=key.wrt, note=key.note)


def _partial_written(ex, text: str) -> bool:
    """Is ``text`` written with ∂ in a course that writes totals with d (``total: d``), where
    ∂L/∂w is the line's own partial and dL/dw the total?"""
    if "∂" not in text or not getattr(ex, "notation", None):
        return False
    from ..rendering.formats import check_notation
    return check_notation(ex.notation)["total"] == "d"


_DELTA = re.compile(r"^\s*(?:δ|delta)\s*_?\s*([0-9][0-9_]*)?\s*$")


def delta_node(ex, text: str) -> str | None:
    """The node a δ key names: ``δ``/``delta`` is ∂L/∂z for the unit whose pre-activation z
    carries the same index (``delta1`` → z1, ``δ2_1`` → z2_1, ``δ`` → the only one). A
    pre-activation is a node an activation of the registry is applied to.

    >>> import derive
    >>> delta_node(derive.chain(depth=2, weight=2, x=1), "delta1"), delta_node(derive.neuron(x=1, w=2, b=0, y=1), "δ")
    ('z1', 'z')
    """
    m = _DELTA.match(text) if isinstance(text, str) else None
    if not m:
        return None
    from ..core.functions import BY_CLASS
    graph = getattr(ex, "graph", None)
    if graph is None:  # the tensor checker's name lists: no units to index
        return None
    units = []
    for node in graph.nodes.values():
        spec = BY_CLASS.get(type(node.expr))
        if spec is not None and spec.kind == "activation" and node.expr.args \
                and node.expr.args[0].is_Symbol and node.expr.args[0].name in graph.nodes:
            units.append(node.expr.args[0].name)
    index = m.group(1) or ""
    if not index:
        return units[0] if len(units) == 1 else None
    found = [z for z in units if re.sub(r"^[^\d]*", "", z) == index]
    return found[0] if len(found) == 1 else None


_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUPERSCRIPT = str.maketrans("0123456789()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾")
_LAYERED = re.compile(r"^([A-Za-z]+)(\d+)((?:_\d+)+)$")  # w1_2_1: layer 1, indices 2, 1
_INDEXED = re.compile(r"^([A-Za-z]+?)(\d+)$")  # x1


def display_name(name: str) -> str:
    """A name as a lecturer writes it: ``w1_1_2`` -> ``w⁽¹⁾₁,₂``, ``x1`` -> ``x₁``,
    ``lambda`` -> ``λ``.

    >>> display_name("w1_1_2"), display_name("x1"), display_name("lambda"), display_name("W1")
    ('w⁽¹⁾₁,₂', 'x₁', 'λ', 'W₁')
    """
    from ..rendering.printing import text_name
    m = _LAYERED.match(name)
    if m:
        base, layer, rest = m.groups()
        return (text_name(base) + f"({layer})".translate(_SUPERSCRIPT)
                + ",".join(i.translate(_SUBSCRIPT) for i in rest.strip("_").split("_")))
    m = _INDEXED.match(name)
    if m and text_name(name) == name:
        return text_name(m.group(1)) + m.group(2).translate(_SUBSCRIPT)
    return text_name(name)


def _course_names(ex):
    """``display_name`` under the example's notation preset: ``index_base: 0`` shows the
    builders' 1-based names from 0 (w⁽⁰⁾₀,₀ for the key w1_1_1), as its documents do."""
    notation = getattr(ex, "notation", None)
    if not notation or notation.get("index_base") != 0:
        return display_name
    from ..rendering.printing import renumber
    from ..solutions.steps import resolve_notation
    shift = resolve_notation(ex)["renumber"]
    return lambda name: display_name(renumber(name, shift))


def answer_keys(ex) -> dict[str, str]:
    """Every answer key of ``ex`` (key -> display name): each value, each local derivative
    ∂child/∂parent, the output's derivative with respect to every name, and each parameter's
    update when the example has a learning rate. Works for scalar and tensor examples (whose
    entries, such as ``w1_2_1`` of ``W1``, are keys too).

    >>> import derive
    >>> keys = derive.neuron(x=2, w=3, b=1, y=5, lr=0.1).keys()
    >>> keys["dL/dw"], keys["w_new"], len(keys)
    ('∂L/∂w', 'w (updated)', 19)
    """
    keys: dict[str, str] = {}
    out = ex.output
    aliases = getattr(ex, "aliases", None)
    if aliases is not None:  # a tensor example: tensors by name, and their entries
        names = list(ex.inputs) + list(ex.nodes)
        entries = [a for a in aliases if aliases[a][0] in names]
        for n in names + entries:
            keys[n] = display_name(n)
        for n in names + entries:
            if n != out:
                keys[f"d{out}/d{n}"] = f"∂{display_name(out)}/∂{display_name(n)}"
    else:
        graph = ex.graph
        names = list(graph.inputs) + list(graph.nodes)
        shown = _course_names(ex)  # as the course numbers them (the preset index_base: 0)
        for n in names:
            keys[n] = shown(n)
        for child, node in graph.nodes.items():
            upstream = None
            for parent in node.parents:
                keys[f"d{child}/d{parent}"] = f"∂{shown(child)}/∂{shown(parent)}"
                if len(graph.consumers[parent]) > 1:  # it may reach child another way
                    upstream = graph.ancestors(child) if upstream is None else upstream
                    if any(c != child and c in upstream for c in graph.consumers[parent]):
                        # as documents mark it beside the total
                        keys[f"d{child}/d{parent}|direct"] = f"∂{shown(child)}/∂{shown(parent)}|direct"
        for n in names:
            if n != out:
                keys[f"d{out}/d{n}"] = f"∂{shown(out)}/∂{shown(n)}"
    if ex.lr is not None:
        for p in ex.params:
            keys[f"{p}_new"] = f"{_course_names(ex)(p)} (updated)"
    return keys


def key_from_display(ex, text: str) -> str | None:
    """The key whose display name (or whose display with d for ∂) is ``text``, else None:
    ``∂L/∂w⁽¹⁾₁,₁`` -> ``dL/dw1_1_1``."""
    wanted = "".join(text.split())
    for key, shown in answer_keys(ex).items():
        if "".join(shown.split()) == wanted or "".join(shown.replace("∂", "d").split()) == wanted:
            return key
    return None


def expected_value(ex, key: Key):
    """The exact value an answer key asks for."""
    ev = ex.evaluation
    if key.kind == "value":
        return ev.values[key.name]
    if key.kind == "derivative":
        return ev.grad(key.wrt, key.of)
    if key.kind == "local":
        return ev.local(key.of, key.wrt).value
    if ex.lr is None:
        raise AnswerError(f"answer key {key.text!r} needs a learning rate (lr) in the example")
    from ..core.engine import descend
    return descend(ev.values[key.name], ex.lr, ev.grad(key.name, ex.output))


@dataclass(frozen=True)
class Answer:
    """A student's answer: a number with the significant figures written, or a formula."""

    raw: object
    value: sp.Expr | None  # exact number, if numeric
    digits: int | None  # significant figures written (None: exact, e.g. a fraction)
    formula: sp.Expr | None = None  # if symbolic
    problem: str = ""  # why the answer could not be graded (beyond the work budget)
    rtol: float | None = None  # a machine value's relative tolerance (see the module docstring)
    unreadable: str = ""  # why the answer could not be read (where, and what was expected)
    slack: object = None  # a numeric formula's half-width, from its decimal literals' last digits
    whole: bool = False  # a single-digit whole number written without a point (exact: 0, 1, −1)
    precision: object = None  # a float32 (float16 …) value: how it was read (derive.checking.machine)
    noise: str = ""  # a float read as the short decimal it is noise around: the float as given

    @property
    def machine(self) -> bool:
        """True when the answer is a machine value (judged by ``rtol``, not by its digits)."""
        return self.rtol is not None


def _significant_digits(text: str) -> int | None:
    text = text.strip().lstrip("+-")
    if "/" in text:
        return None
    mantissa = re.split(r"[eE]", text)[0]

    digits = mantissa.replace(".", "").lstrip("0")
    return max(len(digits), 1)


def parse_answer(ex, raw) -> Answer:
    """The student's answer, read under the same work budget as equations: an answer beyond it
    (``1e999999999``, ``3**100000000``) comes back with ``problem`` set, graded incorrect."""
    from ..core.budget import BudgetError
    try:
        answer = _parse_answer(ex, raw)
        if answer.value is not None:
            approx(answer.value)  # its size is within the budget before anything compares it
        return answer
    except BudgetError as e:
        return Answer(_shown(raw), None, None, problem=f"not graded: {e}")
    except RecursionError:
        return Answer(_shown(raw), None, None, problem="not graded: the answer is nested too deeply")
    except DeriveError as e:  # unreadable: reported for this key, the others are still checked
        return Answer(_shown(raw), None, None, unreadable=_reason(e))


def _reason(error: DeriveError) -> str:
    """A read error as a reason for one answer: ``column 4: unexpected `)```."""
    from ..core.errors import ParseError
    text = str(error)
    if isinstance(error, ParseError) and error.line is not None:
        text = text.split(": ", 1)[1] if ": " in text else text
        return f"column {error.column}: {text}" if error.column is not None else text
    return text


def _with_digits(raw, value, text: str, machine=(MACHINE_DIGITS, MACHINE_RTOL)) -> Answer:
    """A decimal answer with the significant figures written in ``text``; a machine value
    (``machine``: digits from which it is one, and its relative tolerance) also gets its rtol."""
    digits = _significant_digits(text)
    if re.fullmatch(r"\s*[+-]?[0-9]+\s*", text):  # a whole number as typed: see _whole_digits
        digits = _whole_digits(int(text))
        if digits is None:
            return Answer(raw, value, None, whole=True)
    threshold, rtol = machine
    return Answer(raw, value, digits, rtol=rtol if digits is not None and digits >= threshold else None)


def _whole_digits(number: int) -> int | None:
    """Significant figures of a whole number written without a point: a single digit (0, 1,
    −1, 7) is exact — gates, indicators and max routing are exactly 0 or 1, and "1" for 0.5 is
    wrong, not rounded; from 10 on the trailing zeros are not counted (``1200``: 2 figures, so
    1200 stands for anything in [1150, 1250)).

    >>> _whole_digits(0), _whole_digits(-1), _whole_digits(12), _whole_digits(1200)
    (None, None, 2, 2)
    """
    if abs(number) < 10:
        return None
    return len(str(abs(number)).rstrip("0")) or 1


def _shown(raw) -> object:
    """A huge answer as a short description (``str`` of a 5000-digit int fails, and a report is
    no place for it)."""
    from ..core.budget import digits_of_int
    if isinstance(raw, int) and abs(raw).bit_length() > 200:
        return f"<a number of about {digits_of_int(raw)} digits>"
    parts = [getattr(raw, a, None) for a in ("numerator", "denominator", "p", "q")]
    parts = [p for p in parts if isinstance(p, int) and not isinstance(p, bool)]
    if parts and max(abs(p).bit_length() for p in parts) > 200:  # a Fraction, a SymPy Rational
        return f"<a fraction of about {max(digits_of_int(p) for p in parts)} digits>"
    if isinstance(raw, str) and len(raw) > 80:
        return raw[:60] + "…"
    return raw


def check_tolerance(name: str, value):
    """``rtol``/``atol``: None or a finite number ≥ 0.

    >>> check_tolerance("rtol", 0.01)
    0.01
    """
    import math
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise DeriveError(f"{name} must be a number ≥ 0 such as 0.01, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DeriveError(f"{name} must be a number ≥ 0 such as 0.01, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise DeriveError(f"{name} must be a finite number ≥ 0, got {value!r}")
    return value


def _parse_answer(ex, raw) -> Answer:
    from ..core.numbers import parse_decimal, to_exact
    from ..core.parser import to_sympy
    from decimal import Decimal
    if isinstance(raw, bool) or raw is None:
        raise AnswerError(f"answer {raw!r} is not a number or a formula")
    from .machine import machine_number  # float32 and torch values, judged at their own precision
    machine = machine_number(raw)
    if machine is not None and machine.read is not None:
        return Answer(machine.raw, machine.value, _significant_digits(machine.text),
                      rtol=machine.read.precision.rtol, precision=machine.read)
    raw = raw if machine is None else machine.raw  # a float64 or integer tensor: its numpy value
    if type(raw).__module__ == "numpy" and getattr(raw, "shape", None) is not None:
        return _numpy_answer(raw)
    if isinstance(raw, int):
        value = to_exact(raw, "answer")  # within the digit budget before str() is called
        return Answer(raw, value, _whole_digits(raw), whole=abs(raw) < 10)
    if isinstance(raw, float):
        short = short_decimal(raw)
        if short is not None:  # 1.286 - 1.13: the decimal 0.156, and its digits rule
            return replace(_with_digits(raw, parse_decimal(short), short), noise=float.__repr__(raw))
        return _with_digits(raw, to_exact(raw, "answer"), float.__repr__(raw))
    if isinstance(raw, Decimal):  # as written: Decimal("0.9991") has 4 significant figures
        return _with_digits(raw, to_exact(raw, "answer"), str(raw))
    if isinstance(raw, (list, tuple, dict, set)):
        raise AnswerError(f"expected one number or a formula for this key, got a "
                          f"{type(raw).__name__} of {len(raw)} item(s)")
    if isinstance(raw, (sp.Basic,)) or not isinstance(raw, str):
        value = to_exact(raw, "answer")
        return Answer(raw, value, None)
    from ..core.budget import check_answer_size
    check_answer_size(raw)  # before anything reads it: a 10 MB answer is not graded
    # as copied from a derive document: a Unicode minus, a leading ≈ of a rounded value
    stripped = raw.lstrip()
    prefix = re.match(r"(?:≈|~|\\approx)?\s*", stripped).end()
    offset = len(raw) - len(stripped) + prefix
    # ≈ 0.7568… is how a huge exact value prints (rounded to 4 digits, more exist)
    text = re.sub(r"\s*(?:…|\.\.\.|\\ldots)$", "", stripped[prefix:].rstrip())
    exact = parse_decimal(text.replace("−", "-"))
    if exact is not None:
        return _with_digits(raw, exact, text.replace("−", "-"))
    if ex is None:
        raise AnswerError(f"answer {raw!r} is not a number")
    from ..core.parser import answer_functions, parse_answer_expression
    names, symbols = answer_names(ex)
    tree = parse_answer_expression(text, names, column0=offset + 1)  # the whitelist parser
    used = {n: symbols.get(n) for n in _names(tree)}
    unknown = sorted(n for n, s in used.items() if s is None)
    if unknown:
        near = [m for n in unknown for m in _close(n, list(ex.graph.symbols))[:1]
                or [m for m in ex.graph.symbols if m.casefold() == n.casefold()][:1]]
        mean = f" (did you mean {' or '.join(near)}?)" if near else ""
        raise AnswerError(f"answer {text!r} uses unknown name(s) {', '.join(unknown)}{mean}; the "
                          f"example's names are {', '.join(ex.graph.symbols)}")
    expr = to_sympy(tree, used, functions=answer_functions()[0])
    deltas = {s: n for s, n in _deltas(ex).items() if s in expr.free_symbols}
    if deltas:  # δ⁽ˡ⁾ⱼ is ∂L/∂z⁽ˡ⁾ⱼ, in the names of the graph
        from ..core.engine import Evaluation
        symbolic = Evaluation(ex.graph, None)
        expr = expr.xreplace({s: symbolic.grad(n, ex.graph.output) for s, n in deltas.items()})
    if not expr.free_symbols:
        digits = _literal_digits(tree)
        if digits is None or _is_scientific(tree):
            return Answer(raw, expr, digits)
        slack = _formula_slack(ex, tree, used)
        return Answer(raw, expr, digits if slack else None, slack=slack if slack else None)
    return Answer(raw, None, _literal_digits(tree), expr)


def _literal_digits(tree) -> int | None:
    """Significant figures of a number written as an expression: those of its decimal literals
    (``2 · (0.3 − 1)``: 1), of the mantissa of ``m × 10^k`` (``7 × 10⁻¹``: 1); None when every
    literal is a whole number (``3/20``, ``2*exp(-7)``: exact)."""
    from ..core.parser import BinOp, Neg, Num
    node = tree.operand if isinstance(tree, Neg) else tree
    if (isinstance(node, BinOp) and node.op == "*" and isinstance(node.left, Num)
            and isinstance(node.right, BinOp) and node.right.op == "**"
            and isinstance(node.right.left, Num) and node.right.left.text == "10"):
        return _significant_digits(node.left.text)
    literals = [len(n.text.replace(".", "").lstrip("0")) or 1 for n in _walk(tree)
                if isinstance(n, Num) and "." in n.text]
    return max(literals) if literals else None


def _is_scientific(tree) -> bool:
    """``m × 10^k``: a number in scientific notation (its mantissa's digits count)."""
    from ..core.parser import BinOp, Neg, Num
    node = tree.operand if isinstance(tree, Neg) else tree
    return (isinstance(node, BinOp) and node.op == "*" and isinstance(node.left, Num)
            and isinstance(node.right, BinOp) and node.right.op == "**"
            and isinstance(node.right.left, Num) and node.right.left.text == "10")


def _formula_slack(ex, tree, used):
    """How far a numeric formula's value may be off because its decimal literals are rounded:
    each literal stands for ± half a unit in its last written digit, propagated to first order
    (``1 - tanh(-0.3)``: 0.05·tanh'(−0.3) ≈ 0.046, not ±0.5 as if the result had 1 figure).
    Whole numbers are exact, and so is a decimal equal to one of the example's exact values
    (``2*(-0.3 - 0.5)`` with z = −0.3 and y = 0.5 is exact)."""
    from ..core.parser import BinOp, Call, Name, Neg, Num, Transpose, to_sympy
    from ..core.parser import answer_functions
    known = set()
    try:
        known = {v for v in ex.evaluation.values.values() if getattr(v, "is_Rational", False)}
    except Exception:  # noqa: BLE001 — a symbolic example has no values: nothing is known
        known = set()
    stand_ins: dict = {}

    def swap(node):
        if isinstance(node, Num):
            if "." not in node.text or node.value in known or -node.value in known:
                return node
            name = f"_literal{len(stand_ins)}"
            stand_ins[name] = (sp.Symbol(name), node.value,
                               mpmath.mpf("0.5") * mpmath.mpf(10) ** -len(node.text.split(".", 1)[1]))
            return Name(name, node.column)
        if isinstance(node, BinOp):
            return BinOp(node.op, swap(node.left), swap(node.right), node.column)
        if isinstance(node, Neg):
            return Neg(swap(node.operand), node.column)
        if isinstance(node, Transpose):
            return Transpose(swap(node.operand), node.column)
        if isinstance(node, Call):
            return Call(node.func, tuple(swap(a) for a in node.args), node.column)
        return node

    swapped = swap(tree)
    if not stand_ins:
        return mpmath.mpf(0)
    symbols = dict(used)
    symbols.update({name: symbol for name, (symbol, _, _) in stand_ins.items()})
    expr = to_sympy(swapped, symbols, functions=answer_functions()[0])
    at = {symbol: value for symbol, value, _ in stand_ins.values()}
    slack = mpmath.mpf(0)
    for symbol, _, half in stand_ins.values():
        slope = approx(sp.diff(expr, symbol).xreplace(at))
        slack += abs(slope) * half
    return slack


_NAMES_CACHE: dict = {}


def _deltas(ex) -> dict:
    """The δ notation of the documents: ``delta1_2`` (δ⁽¹⁾₂, ``\\delta^{(1)}_{2}``) stands for
    ∂L/∂z1_2, the gradient with respect to a pre-activation z… (symbol -> node name)."""
    graph = ex.graph
    return {sp.Symbol("delta" + n[1:], real=True): n for n in graph.nodes
            if n.startswith("z") and "delta" + n[1:] not in graph.symbols}


def answer_names(ex) -> tuple[dict, dict]:
    """(every displayed form of the example's names -> name, name -> SymPy symbol): the name as
    written in equations, in text documents (λ), as displayed by ``keys()`` (w⁽¹⁾₁,₁) and in
    LaTeX (w^{(1)}_{1,1}); ``e`` and ``π`` are the constants unless the example has such names."""
    from ..rendering.printing import latex_name, text_name
    graph = ex.graph
    cache_key = (id(graph), tuple(sorted((ex.latex_names or {}).items())))
    cached = _NAMES_CACHE.get(cache_key)
    if cached is not None and cached[0] is graph:
        return cached[1], cached[2]
    names: dict[str, str] = {}
    for name in graph.symbols:
        for shown in (latex_name(name, ex.latex_names), display_name(name), text_name(name), name):
            names[shown] = name
    symbols = dict(graph.symbols)
    for delta, node in _deltas(ex).items():
        for shown in (latex_name(delta.name), display_name(delta.name), "δ" + node[1:], delta.name):
            names.setdefault(shown, delta.name)
        symbols.setdefault(delta.name, delta)
    # as Python's str() (E, pi), the text documents (e, π), pretty printing (ℯ) and LaTeX write them
    for constant, value, shown in (("e", sp.E, ("e",)), ("E", sp.E, ("ℯ",)),
                                   ("pi", sp.pi, ("π", "\\pi"))):
        if constant not in symbols:
            symbols[constant] = value
            names.setdefault(constant, constant)
            for s in shown:
                names.setdefault(s, constant)
    if len(_NAMES_CACHE) > 64:
        _NAMES_CACHE.clear()
    _NAMES_CACHE[cache_key] = (graph, names, symbols)
    return names, symbols


NOISE_RTOL = 1e-12  # binary noise of a few operations on short decimals is ~1e-16 relative
NOISE_DIGITS = 15  # a shortest repr this long is noise; a person types fewer


def short_decimal(number: float) -> str | None:
    """The short decimal a float is binary noise around — its shortest repr has 15 or more
    significant digits, yet it is within a relative 1e-12 of a decimal of at most 9, as a person
    types — else None.

    >>> short_decimal(1.286 - 1.13), short_decimal(0.1 * 3), short_decimal(0.156), short_decimal(2 ** 0.5)
    ('0.156', '0.3', None, None)
    """
    from decimal import Decimal
    text = float.__repr__(number)
    if not (number == number and abs(number) != float("inf")) or number == 0 \
            or _significant_digits(text) < NOISE_DIGITS:
        return None
    exact = Decimal(number)
    for digits in range(1, MACHINE_DIGITS):  # longer decimals are machine values anyway
        candidate = f"{number:.{digits}g}"
        if abs(exact - Decimal(candidate)) <= Decimal(NOISE_RTOL) * abs(Decimal(candidate)):
            return candidate if "e" not in candidate else f"{Decimal(candidate):f}"
    return None


def as_machine(answer: Answer) -> Answer:
    """A float read as a short decimal (``noise``) as the machine value it also is: a float that
    is the exact value to 1e-9 (``float(ex.value("a"))`` = 7.999999999999995) stays right."""
    from ..core.numbers import to_exact
    number = float(answer.noise)
    return _with_digits(answer.raw, to_exact(number, "answer"), answer.noise)


def _numpy_answer(raw) -> Answer:
    """A numpy scalar or one-element array: an integer exactly, a float as the decimal it prints
    as in its own precision (``str(np.float32(x))``), a machine value by its size."""
    from ..core.numbers import to_exact
    if raw.shape != ():
        if raw.size != 1:
            raise AnswerError(f"expected one number for this key, got an array of shape "
                              f"{tuple(raw.shape)}")
        raw = raw.reshape(())
    scalar = raw[()]
    value = to_exact(scalar, "answer")
    if scalar.dtype.kind in "iu":
        return Answer(scalar, value, _whole_digits(int(scalar)), whole=abs(int(scalar)) < 10)
    return _with_digits(scalar, value, str(scalar))  # float64: float16/32 are machine.py's


def _names(tree):
    from ..core.parser import names_in
    return names_in(tree)


def _walk(tree):
    from ..core.parser import BinOp, Call, Neg, Transpose
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, BinOp):
            stack += [node.left, node.right]
        elif isinstance(node, (Neg, Transpose)):
            stack.append(node.operand)
        elif isinstance(node, Call):
            stack += list(node.args)


def matches(answer: Answer, target, rtol=None, atol=None) -> bool:
    """Does a numeric answer equal ``target`` as far as the student's digits (or rtol/atol) say?"""
    if answer.value is None or target is None:
        return False
    given, want = approx(answer.value), approx(target)
    if answer.value == target:
        return True
    if answer.rtol is not None and abs(given - want) <= answer.rtol * abs(want):
        return True  # a machine value: its 17 digits are binary noise, not the student's claim
    if rtol is not None or atol is not None:
        return abs(given - want) <= (atol or 0) + (rtol or 0) * abs(want)
    digits = answer.digits
    if digits is None:  # an exact form (3/20, 2*exp(-7)…): must be exact, up to rounding noise
        return abs(given - want) <= mpmath.mpf(10) ** -30 * max(1, abs(want))
    return abs(given - want) <= half_unit(answer) * (1 + mpmath.mpf(10) ** -9)


def half_unit(answer: Answer):
    """Half a unit in the last digit the student wrote: every number within it of the written
    value rounds to it (``0.0350`` → 0.00005, ``8`` → 0.5, ``0.0000`` → 0.00005: a written zero
    counts its decimals). None for an exact form (a fraction, ``2*exp(-7)``).

    >>> float(half_unit(Answer("0.0350", sp.Rational(35, 1000), 3)))
    5e-05
    >>> float(half_unit(Answer("0.0000", sp.S.Zero, 1))), float(half_unit(Answer(8, sp.Integer(8), 1)))
    (5e-05, 0.5)
    """
    if answer.digits is None or answer.value is None:
        return None
    if answer.slack is not None:
        return answer.slack
    if answer.value == 0:
        return mpmath.mpf("0.5") * mpmath.mpf(10) ** -_decimals(answer.raw)
    return _half_unit(answer.value, max(answer.digits, 1))


@functools.lru_cache(maxsize=4096)
def _half_unit(value: sp.Expr, digits: int):
    # cached: the diagnosis compares one answer with dozens of candidate values
    exponent = mpmath.floor(mpmath.log10(abs(approx(value))))
    return mpmath.mpf("0.5") * mpmath.mpf(10) ** (exponent - digits + 1)


def _decimals(raw) -> int:
    """Decimal places written in a number (``0.0000`` → 4, ``0e-3`` → 3, ``0`` → 0)."""
    text = (repr(raw) if isinstance(raw, float) else str(raw)).strip()
    match = re.match(r"^[^0-9.]*([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-−]?[0-9]+))?", text)
    if not match:
        return 0
    places = len(match.group(2) or "")
    if match.group(3):
        places -= int(match.group(3).replace("−", "-"))
    return places
