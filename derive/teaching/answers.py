"""What a student writes and what it is compared with: answer keys ("z", "dL/dw", "w_new") and
the exact value each names, answers read by the safe parser, and the significant-figure tolerance."""
from __future__ import annotations

import re
from dataclasses import dataclass

import mpmath
import sympy as sp

from ..core.approx import approx
from ..core.errors import AnswerError, DeriveError

_DERIVATIVE = re.compile(r"^\s*(?:d|∂)\s*([A-Za-z][A-Za-z0-9_]*)\s*/\s*(?:d|∂)\s*([A-Za-z][A-Za-z0-9_]*)\s*$")
_NEW = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)_new\s*$")
MIN_SIGNIFICANT = 2


@dataclass(frozen=True)
class Key:
    """What an answer key names: a value, a derivative d(of)/d(wrt), or an update."""

    text: str
    kind: str  # "value", "derivative", "update"
    name: str = ""  # value / update
    of: str = ""
    wrt: str = ""


def parse_key(ex, text: str) -> Key:
    if not isinstance(text, str):
        raise AnswerError(f"answer key {text!r} must be text like \"z\", \"dL/dw\" or \"w_new\"")
    names = set(ex.inputs) | set(ex.nodes)
    if text.strip() in names:
        return Key(text, "value", name=text.strip())
    m = _DERIVATIVE.match(text)
    if m:
        of, wrt = m.groups()
        for n in (of, wrt):
            if n not in names:
                raise AnswerError(f"answer key {text!r}: unknown name {n!r}; known: {', '.join(sorted(names))}")
        return Key(text, "derivative", of=of, wrt=wrt)
    m = _NEW.match(text)
    if m and m.group(1) in ex.inputs:
        return Key(text, "update", name=m.group(1))
    raise AnswerError(f"cannot read the answer key {text!r}: use a name (\"z\"), a derivative "
                      f"(\"dL/dw\" or \"∂L/∂w\") or an update (\"w_new\")")


def expected_value(ex, key: Key):
    """The exact value an answer key asks for."""
    ev = ex.evaluation
    if key.kind == "value":
        return ev.values[key.name]
    if key.kind == "derivative":
        return ev.grad(key.wrt, key.of)
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


def _shown(raw) -> object:
    """A huge answer as a short description (``str`` of a 5000-digit int fails, and a report is
    no place for it)."""
    if isinstance(raw, int) and abs(raw).bit_length() > 200:
        return f"<a number of about {int(abs(raw).bit_length() * 0.30103) + 1} digits>"
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
    from ..core.parser import Num, parse_expression, to_sympy
    if isinstance(raw, bool) or raw is None:
        raise AnswerError(f"answer {raw!r} is not a number or a formula")
    if type(raw).__module__ == "numpy" and getattr(raw, "shape", None) == ():
        # a numpy scalar: an integer as int; a float as the decimal it prints as (np.float32(3.001)
        # is 3.001, and repr(np.float64(x)) is "np.float64(x)", not a decimal)
        raw = raw.item() if raw.dtype.kind in "iub" else str(raw)
    if isinstance(raw, int):
        value = to_exact(raw, "answer")  # within the digit budget before str() is called
        return Answer(raw, value, len(str(abs(raw)).rstrip("0")) or 1)
    if isinstance(raw, float):
        return Answer(raw, to_exact(raw), _significant_digits(repr(raw)))
    if isinstance(raw, (sp.Basic,)) or not isinstance(raw, str):
        value = to_exact(raw, "answer")
        return Answer(raw, value, None)
    # as copied from a derive document: a Unicode minus, a leading ≈ of a rounded value
    text = raw.strip().replace("−", "-").lstrip("≈~").strip()
    exact = parse_decimal(text)
    if exact is not None:
        return Answer(raw, exact, _significant_digits(text))
    tree = parse_expression(text.replace("∂", "d"))  # the engine's whitelist parser
    symbols = {n: ex.graph.symbols.get(n, sp.Symbol(n, real=True)) for n in _names(tree)}
    expr = to_sympy(tree, symbols)
    if not expr.free_symbols:
        literals = [len(n.text.replace(".", "").lstrip("0")) for n in _walk(tree) if isinstance(n, Num)
                    and "." in n.text]
        return Answer(raw, expr, max(literals) if literals else None)
    unknown = [s.name for s in expr.free_symbols if s.name not in ex.graph.symbols]
    if unknown:
        raise AnswerError(f"answer {text!r} uses unknown name(s) {', '.join(sorted(unknown))}")
    return Answer(raw, None, None, expr)


def _names(tree):
    from ..core.parser import names_in
    return names_in(tree)


def _walk(tree):
    from ..core.parser import BinOp, Call, Neg
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, BinOp):
            stack += [node.left, node.right]
        elif isinstance(node, Neg):
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
    if rtol is not None or atol is not None:
        return abs(given - want) <= (atol or 0) + (rtol or 0) * abs(want)
    digits = answer.digits
    if digits is None:  # an exact form (3/20, 2*exp(-7)…): must be exact, up to rounding noise
        return abs(given - want) <= mpmath.mpf(10) ** -30 * max(1, abs(want))
    digits = max(digits, 1)
    if given == 0:
        return abs(want) < mpmath.mpf("0.5") * mpmath.mpf(10) ** (-digits)
    exponent = mpmath.floor(mpmath.log10(abs(given)))
    half_unit = mpmath.mpf("0.5") * mpmath.mpf(10) ** (exponent - digits + 1)
    return abs(given - want) <= half_unit * (1 + mpmath.mpf(10) ** -9)
