"""Checking matrix answers: entry by entry against the exact gradient, and the classic
implementation slips diagnosed — a transposed matrix, the batch mean's 1/N missing, the ReLU mask
forgotten, the bias gradient not summed over the batch, softmax's gradient without subtracting y.

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

import numpy as np

from ..core.errors import AnswerError, DeriveError
from ..core.matrixmath import MatrixValue
from ..core.numbers import to_exact
from ..core.tensor import Tensor, binary_values, scalar, tensor_value
from ..rendering.printing import printer_for
from .answers import Answer, matches, parse_key
from .mistakes import matrix_mistakes
from .report import KEYS_LISTED, Report, Verdict, unknown_key_reason

ENTRY_DIGITS = 12  # a float entry is held to 12 significant digits (float64 noise stays below)


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


def expected_answer(ex, text: str) -> Tensor:
    """The exact Tensor the answer key ``text`` asks of a tensor example (``dL/dW``, ``W_new``,
    ``z``, or an entry's own name such as ``w1_2_1``): what homework keys and the tutor ask.

    >>> import derive
    >>> ex = derive.Example.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2]], "x": [3, 4]})
    >>> expected_answer(ex, "dL/dW").a.tolist()
    [[3, 4]]
    """
    return expected_tensor(ex, parse_key(_Names(ex), text))


_ENTRY_INT = re.compile(r"[+-]?\d+")
_ENTRY_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def read_matrix(text: str):
    """A matrix answer as typed: nested lists ``[[1, 2], [3, 4]]``, the printed form
    ``[1, 2; 3, 4]`` (rows split by ;, entries as printed: ``4.289×10⁻⁵``), or a column ``[1; 2]`` / ``[1, 2]``; anything else (a
    number, a formula) is returned as typed. Entries are kept as written: a whole number exact, a
    decimal with its significant figures, ``3/20`` exact (read by the checker, never eval'd).

    >>> read_matrix("[[1, 2.50], [−3, 1/4]]")
    [[1, 2.5], [-3, '1/4']]
    >>> read_matrix("[0.5; −1]"), read_matrix("0.25"), read_matrix("[4.289×10⁻⁵, 1]")
    ([[0.5], [-1]], '0.25', [4.289e-05, 1])
    """
    t = text.strip().replace("−", "-").replace("≈", "")
    if not t.startswith("["):
        return text
    if not t.endswith("]"):
        raise DeriveError(f"cannot read {text!r} as a matrix: it opens with [ but does not close; "
                          f"write [[1, 2], [3, 4]] or [1, 2; 3, 4]")
    inner = t[1:-1].strip()
    if inner.startswith("["):  # nested lists: one [..] per row
        rows = re.findall(r"\[([^\[\]]*)\]", inner)
        rest = re.sub(r"\[[^\[\]]*\]", "", inner).replace(",", "").strip()
        if rest or not rows:
            raise DeriveError(f"cannot read {text!r} as a matrix; write [[1, 2], [3, 4]] or "
                              f"[1, 2; 3, 4]")
    else:
        rows = inner.split(";")
        if len(rows) == 1:  # a list: a column vector
            return [_entry(e, text) for e in _split(rows[0])]
    return [[_entry(e, text) for e in _split(r)] for r in rows]


def _split(row: str) -> list[str]:
    return [e for e in row.replace(",", " ").split() if e]


_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
# a power of ten as derive prints it (4.289×10⁻⁵) or as typed (4.289×10^-5, 4.289*10^-5)
_ENTRY_POWER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))[×x·*]10\^?([+-]?\d+)")


def _entry(e: str, text: str):
    power = _ENTRY_POWER.fullmatch(e.translate(_SUPERSCRIPTS))
    if power:
        e = f"{power[1]}e{power[2]}"
    if _ENTRY_INT.fullmatch(e):
        return int(e)
    if _ENTRY_DECIMAL.fullmatch(e):
        return float(e)  # the checker reads its significant figures from the float
    if "/" in e:
        return e  # a fraction, exact
    raise DeriveError(f"cannot read the entry {e!r} of {text!r}; write numbers such as 0.25, -3 or 1/4")


def _read(raw):
    """The answer as a value: a matrix typed as text (``"[1, 2; 3, 4]"``, as printed) becomes
    its nested lists, entry by entry (never eval'd); anything else stays as given."""
    if isinstance(raw, np.ndarray) and raw.ndim == 0:
        raw = raw.item()
    return read_matrix(raw) if isinstance(raw, str) else raw


def _answer_tensor(raw, key: str) -> Tensor:
    if isinstance(raw, str):
        return scalar(to_exact(raw, key))
    return tensor_value(raw, f"answer {key!r}")


def answer_tensor(raw, key: str) -> Tensor:
    """The exact Tensor an answer to ``key`` stands for, as the check reads it (text such as
    ``"[1, 2; 3, 4]"`` included); raises a DeriveError when it cannot be read.

    >>> answer_tensor("[1/2; −3]", "dL/dx").a.tolist()
    [[1/2], [-3]]
    """
    return _answer_tensor(_read(raw), key)


def _digits(value) -> int | None:
    if isinstance(value, float):
        return min(len(repr(abs(value)).replace(".", "").lstrip("0").split("e")[0]) or 1, ENTRY_DIGITS)
    return None


def _same(answer: Tensor, raw_entries, expected: Tensor, rtol, atol) -> bool:
    if answer.shape != expected.shape:
        return False
    for given, raw, want in zip(answer.a.ravel(), raw_entries, expected.a.ravel()):
        digits = _digits(raw) if rtol is None and atol is None else None
        # a whole number is exact, as in a scalar check (0 is not "0 to 12 digits": ±0.5)
        whole = isinstance(raw, int) and not isinstance(raw, bool)
        if not matches(Answer(raw, given, digits), want, rtol, atol) and not (
                digits is None and rtol is None and atol is None and not whole
                and matches(Answer(raw, given, ENTRY_DIGITS), want)):
            return False
    return True


def _raw_entries(raw, n: int) -> list:
    try:
        flat = np.asarray(raw, dtype=object).ravel().tolist()
    except (ValueError, TypeError):
        flat = []
    if len(flat) != n:
        return [None] * n
    return [float(v) if isinstance(v, np.floating) else v for v in flat]


def check_tensor_answers(ex, answers: dict, rtol=None, atol=None,
                         listed: str = KEYS_LISTED) -> Report:
    """The Report for answers to a TensorExample (numbers, nested lists, arrays, matrices).
    A key that is not one of the example's is reported for that key (``unreadable``, with the
    valid keys and ``listed``: how to list them all), like a scalar example's."""
    if not isinstance(answers, dict) or not answers:
        raise DeriveError("answers must be a non-empty mapping like {\"dL/dW1\": [[...], ...]}")
    names = _Names(ex)
    printer = printer_for("text")
    report = Report()
    for text, raw in answers.items():
        try:
            key = parse_key(names, text)
        except AnswerError as e:
            report.verdicts[str(text)] = Verdict(str(text), raw, None, "unreadable",
                                                 unknown_key_reason(ex, text, e, listed))
            continue
        expected = expected_tensor(ex, key)
        shown = (printer.doprint(MatrixValue.of(expected)) if not expected.scalar
                 else expected.item())
        try:
            value = _read(raw)
            answer = _answer_tensor(value, text)
        except DeriveError as e:  # unreadable: reported for this key, the others still checked
            said = str(e)
            at = said.find("cannot read")  # the reader's own words, without the key repeated
            why = said[at:] if at >= 0 else f"cannot read this answer: {said}"
            report.verdicts[text] = Verdict(text, raw, shown, "unreadable", why)
            continue
        given = printer.doprint(MatrixValue.of(answer)) if not answer.scalar else raw
        entries = _raw_entries(value, answer.size)
        if _same(answer, entries, expected, rtol, atol):
            report.verdicts[text] = Verdict(text, given, shown, "correct")
            continue
        verdict = Verdict(text, given, shown, "incorrect")
        for mistake in matrix_mistakes():  # the one catalogue's entries for tensors
            if any(_same(answer, entries, c.value, rtol, atol)
                   for c in mistake.alternatives(ex, key, expected) if c.value is not None):
                verdict.diagnosis = mistake.name
                verdict.hint = f"{mistake.title}: {mistake.hint}"
                break
        if not verdict.hint:
            if answer.shape != expected.shape:
                verdict.hint = (f"the answer has shape {_shape(answer)} but {text} has shape "
                                f"{_shape(expected)}")
            else:
                wrong = [i for i, (a, r, e) in enumerate(zip(answer.a.ravel(), entries, expected.a.ravel()))
                         if not _same(scalar(a), [r], scalar(e), rtol, atol)]
                verdict.hint = (f"{len(wrong)} of {expected.size} entries differ{_first(wrong, expected)}; "
                                f"recheck this step")
        report.verdicts[text] = verdict
    return report


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


def _shape(t: Tensor) -> str:
    return "1×1 (a number)" if t.scalar else "×".join(map(str, t.a.shape))
