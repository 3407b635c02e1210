"""Checking matrix answers: entry by entry against the exact gradient, and the classic
implementation slips diagnosed — a transposed matrix, the batch mean's 1/N missing, the ReLU mask
forgotten, the bias gradient not summed over the batch, softmax's gradient without subtracting y.

Each entry is judged by the rules of a scalar answer (``derive.checking.answers``): right to the
significant figures written, a machine float by its relative tolerance, float32 values (numpy
arrays, torch tensors) at float32 precision (``derive.checking.machine``), and an entry written
with fewer than two significant figures that is not exactly right is refused with the digits rule
(``np.round(grads, 1)`` holds 0.0 where the gradient is 0.03). Answers are read as given: nested
lists, numpy arrays, torch tensors, SymPy matrices, or text as derive and numpy print matrices
(``read_matrix``).

Carried forward: a gradient computed correctly from the student's own (wrong) gradient of a later
line — ∂L/∂W₂ = ∂L/∂s a₁ᵀ from a wrong ∂L/∂s — earns credit. The reverse sweep is rerun with the
student's gradients in place of the engine's (the sweep's local-VJP hook), each entry standing for
every number that rounds to it: the VJPs are linear in the gradient they are given, so the range
of each recomputed entry is the recomputed value ± Σ |J eᵢ| rᵢ over the student's entries i of
radius rᵢ (one sweep per entry; beyond ``MAX_PROBES`` entries, an estimate from signed probes).
A line's value is carried the same way by the forward pass from the student's values of the lines
before it (``TensorEvaluation``'s ``lines``), its range estimated by signed probes of their radii.
The backward sweep uses the exact forward values (a gradient is not carried through a wrong value).

Each slip is an entry of the one mistakes catalogue (``derive.checking.mistakes``, entries with
``values="tensor"``), defined by the override of a step's local VJP it applies in the tensor
engine's one reverse sweep: the matrix a student who made it would hand in.

>>> import derive
>>> ex = derive.Example.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2]], "x": [3, 4]})
>>> ex.check({"dL/dW": [[3, 4]]}).ok, ex.check({"dL/dW": [[3], [4]]}).diagnosis("dL/dW")
(True, 'transposed')
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

import mpmath
import numpy as np
import sympy as sp

from ..core.approx import approx
from ..core.errors import AnswerError, DeriveError
from ..core.numbers import to_exact
from ..core.tensor import (Tensor, TensorEvaluation, binary_values, from_entries, local_vjp, scalar,
                           tensor_value, zeros)
from ..rendering.printing import printer_for
from .answers import MIN_SIGNIFICANT, Answer, as_machine, half_unit, matches, parse_answer, parse_key
from .grids import as_given, grid
from .machine import PRECISIONS, Read, plain, precision_of
from .mistakes import matrix_mistakes
from .report import KEYS_LISTED, Report, Verdict, unknown_key_reason

# an exact entry (a SymPy matrix's Rational) that is not exactly right is held to 12 significant
# digits: a matrix built from floats (sp.Matrix(array)) carries them as long Rationals
ENTRY_DIGITS = 12
MAX_PROBES = 64  # entries of the student's gradients swept one by one for a carried range


def _base(ex, name: str) -> str:
    return ex.aliases[name][0] if name in ex.aliases else name


class _Names:
    """The example's names plus its entry aliases (w1_2_1), for reading answer keys."""

    def __init__(self, ex):
        self.inputs = list(ex.inputs) + [a for a in ex.aliases if ex.aliases[a][0] in ex.inputs]
        self.nodes = list(ex.nodes) + [a for a in ex.aliases if ex.aliases[a][0] not in ex.inputs]
        self.output = ex.output  # dW1 is read as dL/dW1


def expected_tensor(ex, key) -> Tensor:
    ev = ex.evaluation
    if key.kind == "value":
        t = ev.values[_base(ex, key.name)]
    elif key.kind == "derivative":
        if key.of in ex.aliases or not ev.values[key.of].scalar:
            raise DeriveError(f"answer key {key.text!r}: derivatives are of a scalar such as "
                              f"{ex.output}")
        t = ev.adjoints(key.of)[_base(ex, key.wrt)]
    else:
        if ex.lr is None:
            raise DeriveError(f"answer key {key.text!r} needs a learning rate (lr) in the example")
        base = _base(ex, key.name)
        old, g = ev.values[base], ev.adjoints(ex.output)[base]
        step = binary_values("*", scalar(ex.lr), g, g.shape, "η·∂L")
        t = binary_values("-", old, step, old.shape, f"{base}_new")
    name = key.name or key.wrt
    if name in ex.aliases:
        _, i, j = ex.aliases[name]
        return scalar(t.a[i, j])
    return t


def tensor_key(ex, text: str):
    """The Key ``text`` names in a tensor example (whole tensors and their entries' own names)."""
    return parse_key(_Names(ex), text)


def expected_answer(ex, text: str) -> Tensor:
    """The exact Tensor the answer key ``text`` asks of a tensor example (``dL/dW``, ``W_new``,
    ``z``, or an entry's own name such as ``w1_2_1``): what homework keys and the tutor ask.

    >>> import derive
    >>> ex = derive.Example.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2]], "x": [3, 4]})
    >>> expected_answer(ex, "dL/dW").a.tolist()
    [[3, 4]]
    """
    return expected_tensor(ex, parse_key(_Names(ex), text))


# -- reading: text as derive, numpy and torch print matrices ------------------------------------

_MINUS = str.maketrans({"−": "-", "–": "-", "‒": "-", "﹣": "-", "－": "-", "\u2009": " ",
                        "\u00a0": " ", "\u202f": " "})
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_ENTRY_INT = re.compile(r"[+-]?\d+")
_ENTRY_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_ENTRY_FRACTION = re.compile(r"[+-]?\d+/\d+")
# a power of ten as derive prints it (4.289×10⁻⁵, in LaTeX 4.289 \times 10^{-5}) or as typed
_ENTRY_POWER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(?:[×x·*]|\\times|\\cdot)10\^?\{?([+-]?\d+)\}?")
# numpy's and torch's reprs: array([[1., 2.]], dtype=float32), tensor([0.5, -1.], grad_fn=<…>)
_WRAPPED = re.compile(r"^(?:np\.|numpy\.|torch\.)?(array|tensor)\((.*?)"
                      r"((?:,\s*(?:dtype|device|grad_fn|requires_grad)\s*=[^,]*)*)\)$", re.S)
_ELIDED = ("…", "⋯", "⋮", "⋱", "\\cdots", "\\vdots", "\\ddots", "...")
_SHAPE_SUFFIX = re.compile(r"\s*(?:\(\s*\d+\s*[×x]\s*\d+\s*\)|_\{\s*\d+\s*\\times\s*\d+\s*\})$")
_GRID_BRACKETS = str.maketrans("⎡⎢⎣⎤⎥⎦│|", " " * 8)


def read_matrix(text: str):
    """A matrix answer as typed or pasted: nested lists ``[[1, 2], [3, 4]]``; derive's printed
    form ``[1, 2; 3, 4]`` (rows split by ;, entries as printed: ``4.289×10⁻⁵``, a Unicode minus);
    a column ``[1; 2]`` or ``[1, 2]``; derive's LaTeX ``\\begin{bmatrix} 1 & 2 \\\\ 3 & 4
    \\end{bmatrix}`` (as Markdown documents hold it); a grid of lines (a report's rows); numpy's
    and torch's prints (``[[1. 2.]\\n [3. 4.]]``, ``array([[1., 2.]], dtype=float32)``,
    ``tensor([0.5, -1.])``). Anything else (a number, a formula) is returned as typed.

    Entries are kept as written, so their significant figures count: a whole number as an int, a
    decimal as its text, ``3/20`` exact (read by the checker, never eval'd); an array printed
    with ``dtype=float32`` holds float32 entries (judged at float32 precision).

    >>> read_matrix("[[1, 2.50], [−3, 1/4]]")
    [[1, '2.50'], [-3, '1/4']]
    >>> read_matrix("[0.5; −1]"), read_matrix("0.25"), read_matrix("[4.289×10⁻⁵, 1]")
    ([['0.5'], [-1]], '0.25', ['4.289e-5', 1])
    >>> read_matrix("\\\\begin{bmatrix} 1 & -0.5 \\\\\\\\ 2 & 3 \\\\end{bmatrix}")
    [[1, '-0.5'], [2, 3]]
    """
    t = text.strip().translate(_MINUS).replace("≈", "").replace("$", "").strip()
    if not t.startswith(("[", "\\begin", "\\left", "array", "tensor", "np.", "numpy.", "torch.", "⎡")) \
            and "\n" not in t:
        return text
    if any(mark in t for mark in _ELIDED):
        raise DeriveError(f"cannot read {_short(text)} as a matrix: entries are left out (… ⋮); "
                          f"derive shows only the first and last rows and columns of a large "
                          f"matrix: give every entry (as nested lists, or from print(...) of the array)")
    t = _SHAPE_SUFFIX.sub("", t)
    wrapped = _WRAPPED.match(t)
    narrow = None
    if wrapped:
        t, options = wrapped.group(2).strip(), wrapped.group(3)
        found = re.search(r"dtype\s*=\s*(?:torch\.|np\.|numpy\.)?(\w+)", options)
        # torch prints no dtype for its default, float32
        dtype = found.group(1) if found else "float32" if wrapped.group(1) == "tensor" else None
        narrow = dtype if dtype in ("float32", "float16") else None
        if not t.startswith("["):  # one number: tensor(-0.8000), as the machine holds it
            return _entry(t, text, narrow)
    if "\\begin" in t or "&" in t:
        return _latex_rows(t, text)
    if "\n" in t and not t.startswith("[["):
        rows = [line.translate(_GRID_BRACKETS).strip(" []") for line in t.splitlines()]
        rows = [r for r in rows if r]
        return _rows([_split(r) for r in rows], text, narrow)
    if not t.startswith("["):
        raise DeriveError(f"cannot read {_short(text)} as a matrix; write [[1, 2], [3, 4]] or [1, 2; 3, 4]")
    if not t.endswith("]"):
        raise DeriveError(f"cannot read {_short(text)} as a matrix: it opens with [ but does not "
                          f"close; write [[1, 2], [3, 4]] or [1, 2; 3, 4]")
    inner = t[1:-1].strip()
    if inner.startswith("["):  # nested lists: one [..] per row
        rows = re.findall(r"\[([^\[\]]*)\]", inner)
        rest = re.sub(r"\[[^\[\]]*\]", "", inner).replace(",", "").strip()
        if rest or not rows:
            raise DeriveError(f"cannot read {_short(text)} as a matrix; write [[1, 2], [3, 4]] or "
                              f"[1, 2; 3, 4]")
        return _rows([_split(r) for r in rows], text, narrow)
    rows = inner.split(";")
    if len(rows) == 1:  # a list: a column vector
        return [_entry(e, text, narrow) for e in _split(rows[0])]
    return _rows([_split(r) for r in rows], text, narrow)


def _rows(rows: list, text: str, narrow) -> list:
    return [[_entry(e, text, narrow) for e in r] for r in rows]


def _latex_rows(t: str, text: str) -> list:
    body = re.sub(r"\\(?:begin|end)\{[a-z]*matrix\}|\\left[\[(]|\\right[\])]", "", t)
    body = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"\1/\2", body)
    body = body.replace("\\,", "").replace("\\!", "").replace("{", "").replace("}", "") \
        if "\\times" not in body else re.sub(r"\\[,!]", "", body)
    rows = [r for r in (r.strip() for r in body.split("\\\\")) if r]
    cells = [[c.replace(" ", "") for c in r.split("&")] for r in rows]
    if not cells or any(not c for r in cells for c in r):
        raise DeriveError(f"cannot read {_short(text)} as a matrix: a row or an entry is empty")
    return [[_entry(c, text, None) for c in r] for r in cells]


def _split(row: str) -> list[str]:
    return [e for e in row.replace(",", " ").split() if e]


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "…")


def _entry(e: str, text: str, narrow=None):
    e = e.strip().lstrip("+") if e.strip() != "+" else e
    power = _ENTRY_POWER.fullmatch(e.translate(_SUPERSCRIPTS).replace(" ", ""))
    if power:
        e = f"{power[1]}e{power[2]}"
    if narrow is not None and (_ENTRY_DECIMAL.fullmatch(e) or _ENTRY_INT.fullmatch(e)):
        return Printed(e, narrow)  # printed by numpy or torch from float32: its digits, its precision
    if _ENTRY_INT.fullmatch(e):
        return int(e)
    if _ENTRY_DECIMAL.fullmatch(e) or _ENTRY_FRACTION.fullmatch(e):
        return e  # as written: the checker reads its significant figures (a fraction: exact)
    raise DeriveError(f"cannot read the entry {e!r} of {_short(text)}; write numbers such as "
                      f"0.25, -3 or 1/4")


class Printed(str):
    """An entry as numpy or torch printed it from a float32 (float16) array: judged by the digits
    printed or at the format's precision, whichever is wider."""

    precision: str

    def __new__(cls, text: str, precision: str):
        self = super().__new__(cls, text)
        self.precision = precision
        return self


def _read(raw):
    """The answer as a value: a matrix typed as text becomes its nested lists of entries (never
    eval'd), a torch tensor the numpy array it holds; anything else stays as given.
    Returns (value, the torch dtype or "")."""
    raw, dtype = plain(raw)
    if isinstance(raw, np.ndarray) and raw.ndim == 0 and not dtype and precision_of(raw) is None:
        raw = raw.item()
    return (read_matrix(raw) if isinstance(raw, str) else raw), dtype


# -- answers, entry by entry --------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """An answer read entry by entry: the exact Tensor, an ``Answer`` per entry (row-major) and,
    for float32 values, how they were read."""

    tensor: Tensor
    answers: tuple
    read: Read | None = None


def _depth(value) -> int:
    return 1 + _depth(value[0]) if isinstance(value, (list, tuple)) and value else 0


def _box(value) -> tuple:
    """The shape nested lists would have if every level were as long as its first list."""
    return (len(value), *_box(value[0])) if isinstance(value, (list, tuple)) and value else ()


def _fill(a: np.ndarray, value) -> bool:
    """Put nested lists into ``a`` entry by entry; False if they are ragged (not of a's shape)."""
    for index in np.ndindex(a.shape):
        v = value
        for i in index:
            if not isinstance(v, (list, tuple)) or i >= len(v):
                return False
            v = v[i]
        if isinstance(v, (list, tuple)):
            return False
        a[index] = v
    return all(len(v) == n for v, n in _levels(value, a.shape))  # no level longer than the box


def _levels(value, shape):
    """(a nested list, the length its level must have), for every list inside ``value``."""
    stack = [(value, 0)]
    while stack:
        v, k = stack.pop()
        yield v, shape[k]
        if k + 1 < len(shape):
            stack.extend((w, k + 1) for w in v if isinstance(w, (list, tuple)))


def _layout(value, what: str):
    """(shape of the 2-D array, the entries row-major, scalar?) of an answer, or the reader's
    error for a malformed one (ragged rows, three dimensions …)."""
    if isinstance(value, sp.MatrixBase):
        value = value.tolist()
    if isinstance(value, np.ndarray):
        if value.ndim > 4:
            tensor_value(value, what)  # raises: names the dimensions
        if value.ndim > 2:  # an image (C×H×W) or a kernel (C_out×C_in×kh×kw)
            narrow = precision_of(value) is not None
            return value.shape, list(value.ravel()) if narrow else value.ravel().tolist(), False
        a = value.reshape(1, 1) if value.ndim == 0 else value.reshape(-1, 1) if value.ndim == 1 else value
        narrow = precision_of(a) is not None
        entries = list(a.ravel()) if narrow else a.ravel().tolist()
        return a.shape, entries, value.ndim == 0
    if not isinstance(value, (list, tuple)):
        return (1, 1), [value], True
    nested = [isinstance(v, (list, tuple, np.ndarray)) for v in value]
    if value and not any(nested):
        return (len(value), 1), list(value), False
    if value and all(nested):
        widths = {len(r) for r in value}
        if len(widths) == 1 and 0 not in widths and not any(
                isinstance(v, (list, tuple, np.ndarray)) for r in value for v in r):
            return (len(value), len(value[0])), [v for r in value for v in r], False
        if _depth(value) in (3, 4):  # an image or a kernel as nested lists, if not ragged
            a = np.empty(_box(value), dtype=object)
            if a.ndim == _depth(value) and _fill(a, value):
                return a.shape, list(a.ravel()), False
    tensor_value(value, what)  # raises the reader's own error (ragged, mixed, empty)
    raise DeriveError(f"{what}: cannot read this as a matrix; give nested lists of numbers")


def _one_dimensional(value) -> bool:
    """A flat list or a 1-D array: entries with no rows or columns."""
    if isinstance(value, np.ndarray):
        return value.ndim == 1
    return isinstance(value, (list, tuple)) and bool(value) and \
        not any(isinstance(v, (list, tuple, np.ndarray)) for v in value)


def _entry_answer(entry, what: str) -> Answer:
    if isinstance(entry, str) and _ENTRY_FRACTION.fullmatch(entry.strip()):
        return Answer(entry, to_exact(entry, what), None)  # 3/20: exact
    answer = parse_answer(None, str(entry) if isinstance(entry, Printed) else entry)
    if isinstance(entry, Printed) and answer.value is not None:
        precision = PRECISIONS[entry.precision]
        answer = replace(answer, rtol=max(answer.rtol or 0, precision.rtol),
                         precision=Read(precision, "as numpy or torch print it", True))
    if answer.unreadable or answer.problem or answer.value is None:
        why = answer.problem or answer.unreadable or "not a number"
        raise DeriveError(f"cannot read the entry {entry!r}: {why}")
    return answer


def read_answer(raw, key: str, shape: tuple | None = None) -> Reading:
    """The answer to ``key`` read entry by entry (a DeriveError when it cannot be read).

    A 1-D answer (a list, a 1-D array or tensor such as torch's ``b.grad``, derive's printed row
    ``[1, 2, 3]``) has no orientation: it is read in the variable's ``shape`` (its rows and
    columns), so a row bias under ``batch: rows`` is a row, and otherwise a column."""
    value, dtype = _read(raw)
    what = f"answer {key!r}"
    shape_read, entries, is_scalar = _layout(value, what)
    if shape is not None and len(shape) == 2 and shape[0] == 1 and _one_dimensional(value) \
            and shape_read == (shape[1], 1):
        shape_read = tuple(shape)  # a row vector's entries, given as a 1-D list
    shape = shape_read
    if is_scalar and isinstance(entries[0], str) and parse_answer(None, entries[0]).value is None:
        raise DeriveError(f"cannot read {_short(entries[0])} as a number; write it like 2, -0.15, "
                          f"1e-3 or 3/20, or a matrix as [[1, 2], [3, 4]]")
    seen: dict = {}
    answers = []
    for e in entries:
        k = (type(e), e) if isinstance(e, (int, float, str, np.generic)) else None  # repeated values once
        if k is None or k not in seen:
            a = _entry_answer(e, what)
            if k is None:
                answers.append(a)
                continue
            seen[k] = a
        answers.append(seen[k])
    narrow = PRECISIONS.get(dtype)
    if narrow is not None:  # a torch tensor (a bfloat16 one read through float32): its own format
        answers = [replace(a, rtol=narrow.rtol, precision=Read(narrow, f"a torch.{dtype} tensor"))
                   if a.precision is not None else a for a in answers]
    exact = [a.value for a in answers]
    tensor = scalar(exact[0]) if is_scalar else from_entries(exact, shape)
    read = next((a.precision for a in answers if a.precision is not None), None)
    if read is not None and dtype:
        read = Read(read.precision, f"a torch.{dtype} tensor")
    elif read is not None and not is_scalar and read.source.startswith("numpy"):
        read = Read(read.precision, f"a {read.source} array")
    return Reading(tensor, tuple(answers), read)


def _answer_tensor(raw, key: str, shape: tuple | None = None) -> Tensor:
    return read_answer(raw, key, shape).tensor


def answer_tensor(raw, key: str, shape: tuple | None = None) -> Tensor:
    """The exact Tensor an answer to ``key`` stands for, as the check reads it (text such as
    ``"[1, 2; 3, 4]"`` included; a 1-D answer in the variable's ``shape``); raises a DeriveError
    when it cannot be read.

    >>> answer_tensor("[1/2; −3]", "dL/dx").a.tolist()
    [[1/2], [-3]]
    """
    return _answer_tensor(raw, key, shape)


# -- judging an entry as a scalar answer is judged ----------------------------------------------


def entry_status(answer: Answer, want, rtol=None, atol=None, scale=None) -> str:
    """"correct", "few" (right only to fewer than two significant figures: the digits rule) or
    "wrong", by the rules of a scalar answer; ``scale`` (the largest |entry| of the matrix, for a
    machine value) also accepts a machine entry within its tolerance of the matrix's scale.

    >>> import sympy as sp
    >>> [entry_status(parse_answer(None, x), sp.Rational(3, 100)) for x in (0.03, 0.0, 0.031, 0.05)]
    ['correct', 'few', 'wrong', 'wrong']
    """
    if answer.value == want or answer.noise and matches(as_machine(answer), want, rtol, atol):
        return "correct"
    explicit = rtol is not None or atol is not None
    if not explicit and answer.machine and scale and \
            abs(approx(answer.value) - approx(want)) <= answer.rtol * scale():
        return "correct"  # an entry that cancels to almost nothing keeps its terms' rounding
    too_few = (not explicit and answer.digits is not None and answer.digits < MIN_SIGNIFICANT
               and answer.slack is None and not matches(replace(answer, digits=None, rtol=None), want))
    if not too_few and matches(answer, want, rtol, atol):
        return "correct"
    if answer.whole and not explicit and _rounds_to(want, answer.value):
        too_few = True  # 1 for 0.9991: the value to one figure
    if too_few and (answer.whole or matches(answer, want)):
        return "few"
    if answer.digits is None and not answer.whole and not explicit and answer.slack is None \
            and matches(replace(answer, digits=ENTRY_DIGITS), want):
        return "correct"
    return "wrong"


def _statuses(reading: Reading, expected: Tensor, rtol, atol) -> list | None:
    """Each entry's status (None when the shapes differ)."""
    if reading.tensor.a.shape != expected.a.shape:
        return None
    scale = _scale(expected)
    return [entry_status(a, w, rtol, atol, scale) for a, w in zip(reading.answers, expected.a.ravel())]


def _scale(expected: Tensor):
    cache = []

    def largest():
        if not cache:
            cache.append(max((abs(approx(e)) for e in expected.a.ravel()), default=mpmath.mpf(0)))
        return cache[0]
    return largest


def _agrees(reading: Reading, candidate: Tensor, rtol, atol) -> bool:
    """Does the answer equal ``candidate`` at the digits written (the digits rule aside)?"""
    statuses = _statuses(reading, candidate, rtol, atol)
    return statuses is not None and all(s != "wrong" for s in statuses)


# -- carried forward: the reverse sweep rerun from the student's own gradients -------------------


@dataclass(frozen=True)
class Carried:
    """A step recomputed from the student's other answers: the value, each entry's radius (a
    float array) and the answers it inherits (their keys as written)."""

    value: Tensor
    radius: np.ndarray
    inherited: tuple


def _radius(reading: Reading) -> np.ndarray:
    """What each entry stands for: ± half a unit in its last digit (a machine value: at least its
    relative tolerance); 0 for an exact form."""
    out = []
    for a in reading.answers:
        r = half_unit(a)
        r = mpmath.mpf(0) if r is None else r
        if a.machine:
            r = max(r, abs(approx(a.value)) * mpmath.mpf(a.rtol))
        out.append(float(r))
    return np.array(out).reshape(reading.tensor.a.shape)


class _Carrier:
    """The student's gradients of the example's lines, and the sweep rerun from them."""

    def __init__(self, ex, keys: dict, readings: dict):
        self.ex, self.ev = ex, ex.evaluation
        self._sweeps: dict = {}
        out = ex.output
        self.given = {}  # node -> (key text, Reading): the student's ∂out/∂node of a whole line
        for text, key in keys.items():
            reading = readings.get(text)
            if reading is None or key.kind != "derivative" or key.of != out or key.wrt not in ex.nodes \
                    or key.wrt == out or key.wrt in ex.aliases:
                continue
            exact = self.ev.adjoints(out)[key.wrt]
            if reading.tensor.a.shape == exact.a.shape:
                self.given[key.wrt] = (text, reading)
        self.lines = {}  # node -> (key text, Reading): the student's value of a line
        for text, key in keys.items():
            reading = readings.get(text)
            if reading is not None and key.kind == "value" and key.name in ex.nodes \
                    and reading.tensor.a.shape == self.ev.values[key.name].a.shape:
                self.lines[key.name] = (text, reading)
        self.updates = {key.wrt: (text, readings[text]) for text, key in keys.items()
                        if key.kind == "derivative" and key.of == out and key.wrt in ex.inputs
                        and text in readings}

    def _downstream(self, name: str) -> set:
        """The lines computed from ``name`` (its gradient flows back through them)."""
        uses = self.ex.graph.uses
        found, changed = set(), True
        while changed:
            changed = False
            for n, used in uses.items():
                if n not in found and (name in used or found.intersection(used)):
                    found.add(n)
                    changed = True
        return found

    def _sweep(self, substitute: dict, seed: bool = True) -> dict:
        """∂out/∂n for every n, with the gradient reaching each line in ``substitute`` (node ->
        Tensor) replaced by the given one; ``seed=False``: the output's own 1 replaced by 0 (the
        linear part alone)."""
        ev = self.ev
        by_id = {id(ev.values[n]): t for n, t in substitute.items()}
        if not seed:
            target = ev.values[self.ex.output]
            by_id.setdefault(id(target), zeros(target.shape))

        def local(step, G):
            given = by_id.get(id(step.out))
            return None if given is None else local_vjp(step, given)
        return ev.adjoints(self.ex.output, local=local)

    def _reaches(self, start: str, name: str, blocked: set) -> bool:
        """Does a path of lines lead from ``start`` to ``name`` avoiding the ``blocked`` lines?"""
        uses = self.ex.graph.uses
        pending, seen = [start], {start}
        while pending:
            here = pending.pop()
            for n, used in uses.items():
                if here in used and n not in seen:
                    if n == name:
                        return True
                    if n not in blocked:
                        seen.add(n)
                        pending.append(n)
        return False

    def value(self, name: str, skip: str = "") -> Carried | None:
        """A line's value recomputed by the forward pass from the student's values of the lines
        it is computed from; the range by signed probes of their radii (an estimate: the forward
        pass is not linear). None when no such answer differs from the exact value."""
        exact = self.ev.values
        used = {n: tr for n, tr in self.lines.items()
                if tr[0] != skip and n != name and self._reaches(n, name, set())
                and not _equal(tr[1].tensor, exact[n])}
        if not used:
            return None
        inputs = {n: exact[n] for n in self.ex.inputs}

        def forward(shift=None):
            lines = {n: r.tensor if shift is None else _moved(r.tensor, shift[n]) for n, (_, r) in used.items()}
            try:
                return TensorEvaluation(self.ex.graph, inputs, rows=self.ex.batch == "rows",
                                        lines=lines).values[name]
            except DeriveError:  # the student's values leave the line undefined (log of 0 …)
                return None
        centre = forward()
        if centre is None:
            return None
        radius = np.zeros(centre.a.shape)
        rng = np.random.default_rng(0)
        for _ in range(4):
            shift = {n: rng.choice([-1, 1], size=r.tensor.a.shape) * _radius(r) for n, (_, r) in used.items()}
            if not any(v.any() for v in shift.values()):
                break
            moved = forward(shift)
            if moved is not None:
                radius = np.maximum(radius, np.abs(_floats(moved) - _floats(centre)))
        reached = tuple(text for n, (text, _) in used.items() if self._reaches(n, name, set(used) - {n}))
        return Carried(centre, 2 * radius, reached)

    def _swept(self, substitute: dict, seed: bool = True) -> dict:
        """``_sweep`` of {node: (tag, Tensor)}, once per substitution: the keys of one report
        share their sweeps (∂L/∂W2 and ∂L/∂b2 from the same wrong ∂L/∂s)."""
        key = (seed, tuple(sorted((n, tag) for n, (tag, _) in substitute.items())))
        if key not in self._sweeps:
            self._sweeps[key] = self._sweep({n: t for n, (_, t) in substitute.items()}, seed)
        return self._sweeps[key]

    def derivative(self, name: str, skip: str = "") -> Carried | None:
        """∂out/∂name recomputed from the student's gradients of the lines after it (never from
        the answer ``skip`` being judged); None when no such answer differs from the exact one."""
        after = self._downstream(name)
        exact = self.ev.adjoints(self.ex.output)
        used = {n: tr for n, tr in self.given.items()
                if n in after and tr[0] != skip and not _equal(tr[1].tensor, exact[n])}
        if not used:
            return None
        value = self._swept({n: ("given", r.tensor) for n, (_, r) in used.items()})[name]
        radius = np.zeros(value.a.shape)
        entries = sum(r.tensor.size for _, r in used.values())
        reached = []  # the student's gradients that reach ``name`` (not replaced by a later one)
        for n, (text, r) in used.items():
            radii = _radius(r)
            shape = r.tensor.a.shape
            zero = {m: ("zero", zeros(t.tensor.shape)) for m, (_, t) in used.items() if m != n}
            # a probe of distinct entries (a constant one is lost in softmax's VJP: p ⊙ (g − pᵀg))
            probe = from_entries([sp.Integer((i + 1) * (-1) ** i) for i in range(r.tensor.size)],
                                 r.tensor.shape)
            if not np.any(_floats(self._swept({**zero, n: ("probe", probe)}, seed=False)[name])):
                continue  # every path from n to name passes through another given gradient
            reached.append(text)
            if entries <= MAX_PROBES:
                for i in np.flatnonzero(radii):
                    unit = [sp.S.Zero] * radii.size
                    unit[i] = sp.S.One
                    column = self._swept({**zero, n: (("unit", i), from_entries(unit, r.tensor.shape))},
                                         seed=False)[name]
                    radius += np.abs(_floats(column)) * radii.ravel()[i]
            else:  # many entries: the largest response to signed probes, doubled (an estimate)
                rng = np.random.default_rng(0)
                worst = np.zeros(value.a.shape)
                for k in range(8):
                    signs = rng.choice([-1, 1], size=shape) * radii
                    probe = from_entries([sp.Float(float(v)) for v in signs.ravel()], r.tensor.shape)
                    worst = np.maximum(worst, np.abs(_floats(
                        self._swept({**zero, n: (("signs", k), probe)}, seed=False)[name])))
                radius += 2 * worst
        return Carried(value, radius, tuple(reached))

    def update(self, name: str, skip: str = "") -> Carried | None:
        """name_new = name − η ∂out/∂name from the student's gradient of ``name`` (or, without
        it, the gradient recomputed from the student's later gradients)."""
        ex = self.ex
        given = self.updates.get(name)
        exact = self.ev.adjoints(ex.output)[name]
        if given is not None and given[1].tensor.a.shape == exact.a.shape \
                and not _equal(given[1].tensor, exact):
            grad = Carried(given[1].tensor, _radius(given[1]), (given[0],))
        elif given is None:
            grad = self.derivative(name, skip)
        else:
            grad = None
        if grad is None:
            return None
        step = binary_values("*", scalar(ex.lr), grad.value, grad.value.shape, "η·∂L")
        value = binary_values("-", self.ev.values[name], step, step.shape, f"{name}_new")
        return Carried(value, grad.radius * abs(float(ex.lr)), grad.inherited)


def _moved(t: Tensor, shift: np.ndarray) -> Tensor:
    """``t`` with each entry moved by ``shift`` (floats)."""
    return from_entries([e + sp.Float(float(d), 30) if d else e for e, d in zip(t.a.ravel(), shift.ravel())],
                        t.shape)


def _equal(a: Tensor, b: Tensor) -> bool:
    return a.a.shape == b.a.shape and all(x == y for x, y in zip(a.a.ravel(), b.a.ravel()))


def _floats(t: Tensor) -> np.ndarray:
    return np.array([float(approx(e)) for e in t.a.ravel()]).reshape(t.a.shape)


def _consistent(reading: Reading, carried: Carried, rtol, atol) -> bool:
    """Is each entry of the answer in its carried range, at the digits written?"""
    if reading.tensor.a.shape != carried.value.a.shape:
        return False
    for a, c, r in zip(reading.answers, carried.value.a.ravel(), carried.radius.ravel()):
        given, centre = approx(a.value), approx(c)
        if rtol is not None or atol is not None:
            slack = (atol or 0) + (rtol or 0) * abs(centre)
        else:
            slack = half_unit(a)
            if slack is None:
                slack = mpmath.mpf(10) ** -30 * max(1, abs(given))
            elif a.machine:
                slack = max(slack, abs(given) * mpmath.mpf(a.rtol))
        if abs(given - centre) > (slack + mpmath.mpf(r)) * (1 + mpmath.mpf(10) ** -9):
            return False
    return True


def _carried(carrier: _Carrier, ex, key, text: str) -> Carried | None:
    if key.kind == "value" and _base(ex, key.name) in ex.nodes:
        found = carrier.value(_base(ex, key.name), skip=text)
    elif key.kind == "derivative" and key.of == ex.output and key.wrt != ex.output:
        found = carrier.derivative(_base(ex, key.wrt), skip=text)
    elif key.kind == "update" and ex.lr is not None:
        found = carrier.update(_base(ex, key.name), skip=text)
    else:
        return None
    name = key.name or key.wrt
    if found is not None and name in ex.aliases:  # one entry's own name (w1_2_1)
        _, i, j = ex.aliases[name]
        found = Carried(scalar(found.value.a[i, j]), found.radius[i:i + 1, j:j + 1], found.inherited)
    return found


def _readings(ex, answers: dict) -> tuple[dict, dict]:
    """(key text -> Key, key text -> Reading) of the answers that can be read (the others left out)."""
    names = _Names(ex)
    keys, readings = {}, {}
    for text, raw in answers.items():
        try:
            keys[text] = parse_key(names, text)
            readings[text] = read_answer(raw, text, _wanted_shape(ex, keys[text]))
        except DeriveError:
            keys.pop(text, None)
    return keys, readings


def _wanted_shape(ex, key) -> tuple | None:
    """The shape of the quantity ``key`` asks for (a 1-D answer is read in it); None when the key
    asks for nothing this example has (reported where it is judged)."""
    try:
        return expected_tensor(ex, key).a.shape
    except DeriveError:
        return None


def entry_answer(text: str) -> Answer:
    """One entry of a matrix typed on its own (``−0.05``, ``3/20``, ``4.3×10⁻⁵``), as the matrix
    check reads an entry; a DeriveError when it is not a number."""
    value = read_matrix(text)
    if not isinstance(value, str):
        raise DeriveError(f"cannot read {_short(text)} as one entry: give a number")
    return _entry_answer(_entry(value.strip().translate(_MINUS).replace("≈", "").strip(), text), text)


def entry_verdict(ex, given: dict, key: str, index: int, answer: Answer, rtol=None, atol=None) -> str:
    """The verdict on one entry (row-major ``index``) of the matrix ``key``, answered on its own:
    "correct", "few" (too few digits), "carried" (right given the student's other answers
    ``given``, {key: answer}) or "wrong".

    >>> import derive
    >>> ex = derive.Example.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2]], "x": [3, 4]})
    >>> entry_verdict(ex, {}, "dL/dW", 1, entry_answer("4")), entry_verdict(ex, {}, "dL/dW", 1, entry_answer("5"))
    ('correct', 'wrong')
    """
    k = parse_key(_Names(ex), key)
    expected = expected_tensor(ex, k)
    status = entry_status(answer, expected.a.ravel()[index], rtol, atol, _scale(expected))
    if status != "wrong" or not given:
        return status
    keys, readings = _readings(ex, {t: v for t, v in given.items() if t != key})
    carried = _carried(_Carrier(ex, keys, readings), ex, k, key)
    if carried is None:
        return status
    one = Carried(scalar(carried.value.a.ravel()[index]), carried.radius.reshape(-1)[index:index + 1].reshape(1, 1),
                  carried.inherited)
    return "carried" if _consistent(Reading(scalar(answer.value), (answer,)), one, rtol, atol) else status


# -- the check ----------------------------------------------------------------------------------


def check_tensor_answers(ex, answers: dict, rtol=None, atol=None,
                         listed: str = KEYS_LISTED) -> Report:
    """The Report for answers to a TensorExample (numbers, nested lists, arrays, torch tensors,
    matrices as text). A key that is not one of the example's is reported for that key
    (``unreadable``, with the valid keys and ``listed``: how to list them all), like a scalar
    example's."""
    if not isinstance(answers, dict) or not answers:
        raise DeriveError("answers must be a non-empty mapping like {\"dL/dW\": [[...], ...]}")
    names = _Names(ex)
    printer = printer_for("text")
    report = Report()
    keys, readings, problems = {}, {}, {}
    for text, raw in answers.items():
        try:
            keys[text] = parse_key(names, text)
        except AnswerError as e:
            problems[text] = unknown_key_reason(ex, text, e, listed)
            continue
        try:
            readings[text] = read_answer(raw, text, _wanted_shape(ex, keys[text]))
        except DeriveError as e:  # unreadable: reported for this key, the others still checked
            said = str(e)
            at = said.find("cannot read")  # the reader's own words, without the key repeated
            problems[text] = said[at:] if at >= 0 else f"cannot read this answer: {said}"
    carrier = None
    for text, raw in answers.items():
        if text not in keys:
            report.verdicts[str(text)] = Verdict(str(text), raw, None, "unreadable", problems[text])
            continue
        key = keys[text]
        expected = expected_tensor(ex, key)
        shown = grid(expected, printer=printer) if not expected.scalar else expected.item()
        if text in problems:
            report.verdicts[text] = Verdict(text, raw, shown, "unreadable", problems[text])
            continue
        reading = readings[text]
        answer = reading.tensor
        statuses = _statuses(reading, expected, rtol, atol)
        wrong = [i for i, s in enumerate(statuses or ()) if s != "correct"]
        given = grid(answer, wrong, printer, [as_given(a.raw, a.value, printer) for a in reading.answers]) \
            if not answer.scalar else _given(raw, reading)
        note = reading.read.note(matrix=not answer.scalar) if reading.read is not None else ""
        if statuses is not None and not wrong:
            report.verdicts[text] = Verdict(text, given, shown, "correct", note=note)
            continue
        verdict = Verdict(text, given, shown, "incorrect", note=note)
        report.verdicts[text] = verdict
        few = [i for i, s in enumerate(statuses or ()) if s == "few"]
        if statuses is not None and len(few) == len(wrong):  # right, but to too few digits
            verdict.hint = _too_few(few, expected)
            continue
        if carrier is None:
            carrier = _Carrier(ex, keys, readings)
        carried = _carried(carrier, ex, key, text)
        if carried is not None and _consistent(reading, carried, rtol, atol):
            verdict.status = "carried"
            inherited = ", ".join(carried.inherited)
            verdict.hint = (f"right given your {inherited}, which this step inherits (with exact "
                            f"earlier values it would be the correct value shown)")
            continue
        for mistake in matrix_mistakes():  # the one catalogue's entries for tensors
            if any(_agrees(reading, c.value, rtol, atol)
                   for c in mistake.alternatives(ex, key, expected) if c.value is not None):
                verdict.diagnosis = mistake.name
                verdict.hint = f"{mistake.title}: {mistake.hint}"
                break
        if verdict.hint:
            continue
        if statuses is None:
            verdict.hint = (f"the answer has shape {_shape(answer)} but {text} has shape "
                            f"{_shape(expected)}")
        elif expected.a.size == 1:  # one number: said as a scalar answer's verdict says it
            verdict.hint = f"the correct value is {_fmt(expected.a[0, 0])}; recheck this step"
        else:
            differ = [i for i in wrong if i not in few]
            verdict.hint = (f"{_count(len(differ), expected.size, 'differs', 'differ')}"
                            f"{_first(differ, expected)}; recheck this step"
                            + (f" ({_count(len(few), expected.size, 'is', 'are')} right only to fewer "
                               f"than {MIN_SIGNIFICANT} significant figures)" if few else ""))
    return report


def _given(raw, reading: Reading):
    """A one-number answer as the report shows it: as typed, a tensor or array as its number."""
    if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
        return raw
    return reading.answers[0].raw


def _count(n: int, of: int, one: str, many: str) -> str:
    """"1 of 6 entries differs", "2 of 6 entries differ"."""
    return f"{n} of {of} entries {one if n == 1 else many}"


def _too_few(few: list, expected: Tensor) -> str:
    rule = f"give at least {MIN_SIGNIFICANT} significant figures"
    if expected.a.size == 1:
        return f"too few digits: {rule} (the value is {_fmt(expected.a[0, 0])})"
    return (f"too few digits: {_count(len(few), expected.size, 'is', 'are')} right only to the digits "
            f"written{_first(few, expected)}; {rule} in every entry")


def _first(wrong: list, expected: Tensor) -> str:
    """Where the first differing entry is (1-based, row-major): the position, never its value."""
    if not wrong:
        return ""
    if expected.a.ndim > 2:  # an image or a kernel: its 1-based index
        index = np.unravel_index(wrong[0], expected.a.shape)
        where = f"entry [{','.join(str(int(i) + 1) for i in index)}]"
        return f", the first at {where}" if len(wrong) > 1 else f", at {where}"
    rows, cols = expected.a.shape
    i, j = divmod(wrong[0], cols)
    where = (f"entry {i + 1}" if cols == 1 else f"column {j + 1}" if rows == 1
             else f"row {i + 1}, column {j + 1}")
    return f", the first at {where}" if len(wrong) > 1 else f", at {where}"


def _fmt(value) -> str:
    """A value as the report's table prints it (−0.2913, ≈ 8.655×10⁻⁶)."""
    from ..core.numbers import is_exact_display
    text = printer_for("text").number(value)
    return text if is_exact_display(value) else f"≈ {text}"


def _rounds_to(value, whole) -> bool:
    """Is ``value`` the whole number ``whole`` rounded to one significant figure (0.9991 → 1)?"""
    from .mistakes import round_significant
    return whole != 0 and getattr(value, "is_number", False) and bool(value.is_real) \
        and round_significant(value, 1) == whole


def _shape(t: Tensor) -> str:
    return "1×1 (a number)" if t.scalar else "×".join(map(str, t.a.shape))
