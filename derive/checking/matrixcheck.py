"""Checking matrix answers: entry by entry against the exact gradient, and the classic
implementation slips diagnosed — a transposed matrix, the batch mean's 1/N missing, the ReLU mask
forgotten, the bias gradient not summed over the batch, softmax's gradient without subtracting y.

Each slip is one entry of ``MATRIX_MISTAKES``: a name, a title, a hint and a function giving the
matrix a student who made it would hand in (from the same engine, with the slip switched on).

>>> import derive
>>> ex = derive.Example.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2]], "x": [3, 4]})
>>> ex.check({"dL/dW": [[3, 4]]}).ok, ex.check({"dL/dW": [[3], [4]]}).diagnosis("dL/dW")
(True, 'transposed')
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp

from ..core.errors import AnswerError, DeriveError
from ..core.matrixmath import MatrixValue
from ..core.numbers import to_exact
from ..core.tensor import Tensor, TensorEvaluation, binary_values, scalar, tensor_value
from ..rendering.printing import printer_for
from .answers import Answer, matches, parse_key
from .report import KEYS_LISTED, Report, Verdict, unknown_key_reason

ENTRY_DIGITS = 12  # a float entry is held to 12 significant digits (float64 noise stays below)


@dataclass(frozen=True)
class MatrixMistake:
    name: str
    title: str
    hint: str
    slip: Callable  # (example, key, expected Tensor) -> the Tensor this slip produces, or None


def _transposed(ex, key, expected: Tensor):
    return None if expected.scalar else Tensor(expected.a.T.copy())


def _batch_of(ex) -> int:
    return int(ex.meta.get("batch") or 1)


def _times_batch(ex, key, expected: Tensor):
    n = _batch_of(ex)
    if n == 1:
        return None
    return binary_values("*", scalar(sp.Integer(n)), expected, expected.shape, "×B")


def _variant(ex, mistake: str, key):
    if key.kind != "derivative":
        return None
    ev = TensorEvaluation(ex.graph, ex.values, frozenset({mistake}))
    return ev.adjoints(key.of)[_base(ex, key.wrt)]


def _unsummed_bias(ex, key, expected: Tensor):
    """The per-example gradient of the sum the bias is added to (k × B instead of k × 1)."""
    if key.kind != "derivative" or expected.scalar or expected.a.shape[1] != 1:
        return None
    wrt = _base(ex, key.wrt)
    adj = ex.evaluation.adjoints(key.of)
    for eq in ex.graph.equations:
        if wrt in ex.graph.uses[eq.name]:
            g = adj[eq.name]
            if not g.scalar and g.a.shape[0] == expected.a.shape[0] and g.a.shape[1] > 1:
                return g
    return None


MATRIX_MISTAKES = [
    MatrixMistake("transposed", "transposed matrix",
                  "the gradient has the shape of the variable (out × in for a weight): "
                  "∂L/∂W = δ aᵀ, not a δᵀ", _transposed),
    MatrixMistake("missing_mean", "missing 1/N of the batch mean",
                  "every entry is N times too large: the loss is the mean over the batch, so the "
                  "gradient carries 1/N", _times_batch),
    MatrixMistake("mask_forgotten", "ReLU mask forgotten",
                  "the gradient went through the activation as if every unit were active: "
                  "multiply entrywise by 𝟙[z > 0]", lambda ex, key, e: _variant(ex, "mask", key)),
    MatrixMistake("bias_not_summed", "bias gradient not summed over the batch",
                  "the bias is shared by every example: sum δ over the batch (the columns) to get "
                  "one column", _unsummed_bias),
    MatrixMistake("softmax_without_y", "softmax gradient without subtracting y",
                  "softmax followed by cross-entropy has the gradient p − y: subtract the one-hot "
                  "target", lambda ex, key, e: _variant(ex, "targets", key)),
]


def _base(ex, name: str) -> str:
    return ex.aliases[name][0] if name in ex.aliases else name


class _Names:
    """The example's names plus its entry aliases (w1_2_1), for reading answer keys."""

    def __init__(self, ex):
        self.inputs = list(ex.inputs) + [a for a in ex.aliases if ex.aliases[a][0] in ex.inputs]
        self.nodes = list(ex.nodes) + [a for a in ex.aliases if ex.aliases[a][0] not in ex.inputs]


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


def _answer_tensor(raw, key: str) -> Tensor:
    if isinstance(raw, np.ndarray) and raw.ndim == 0:
        raw = raw.item()
    if isinstance(raw, str):
        return scalar(to_exact(raw, key))
    return tensor_value(raw, f"answer {key!r}")


def _digits(value) -> int | None:
    if isinstance(value, float):
        return min(len(repr(abs(value)).replace(".", "").lstrip("0").split("e")[0]) or 1, ENTRY_DIGITS)
    return None


def _same(answer: Tensor, raw_entries, expected: Tensor, rtol, atol) -> bool:
    if answer.shape != expected.shape:
        return False
    for given, raw, want in zip(answer.a.ravel(), raw_entries, expected.a.ravel()):
        digits = _digits(raw) if rtol is None and atol is None else None
        if not matches(Answer(raw, given, digits), want, rtol, atol) and not (
                digits is None and rtol is None and atol is None
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
        answer = _answer_tensor(raw, text)
        shown = (printer.doprint(MatrixValue.of(expected)) if not expected.scalar
                 else expected.item())
        given = printer.doprint(MatrixValue.of(answer)) if not answer.scalar else raw
        entries = _raw_entries(raw, answer.size)
        if _same(answer, entries, expected, rtol, atol):
            report.verdicts[text] = Verdict(text, given, shown, "correct")
            continue
        verdict = Verdict(text, given, shown, "incorrect")
        for mistake in MATRIX_MISTAKES:
            slipped = mistake.slip(ex, key, expected)
            if slipped is not None and _same(answer, entries, slipped, rtol, atol):
                verdict.diagnosis = mistake.name
                verdict.hint = f"{mistake.title}: {mistake.hint}"
                break
        if not verdict.hint:
            if answer.shape != expected.shape:
                verdict.hint = (f"the answer has shape {_shape(answer)} but {text} has shape "
                                f"{_shape(expected)}")
            else:
                wrong = sum(not _same(scalar(a), [r], scalar(e), rtol, atol) for a, r, e in
                            zip(answer.a.ravel(), entries, expected.a.ravel()))
                verdict.hint = f"{wrong} of {expected.size} entries differ; recheck this step"
        report.verdicts[text] = verdict
    return report


def _shape(t: Tensor) -> str:
    return "1×1 (a number)" if t.scalar else f"{t.a.shape[0]}×{t.a.shape[1]}"
