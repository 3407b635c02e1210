"""The loss registry: one entry per loss, its formula written ONCE as SymPy — the loss of one
output, ``summand(a, y)``, and the factor in front of the sum over outputs, ``scale(n)``. From that
one formula come: the builders' equation lines (the formula printed in the equation language, so a
loss goes through the same parser and engine as any user equation and shows in documents exactly
as it is computed), the same loss over whole tensors (``batch``), the formula of the loss callable
in equations (``L = squared_error(a, y)``: ``derive.core.operations``), and the mistake
catalogue's facts about it (``residual``, ``squared``), by which a loss is found by its entry —
written as a call or as its formula — never by its shape.

>>> LOSSES["half_squared_error"].equation(["a"], ["y"])
'1/2*(a - y)**2'
>>> LOSSES["squared_error"].equation(["a1", "a2"], ["y1", "y2"])
'(a1 - y1)**2 + (a2 - y2)**2'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp
from sympy import S

from .errors import DeriveError


def _as_written(*terms):
    return sp.Add(*terms, evaluate=False)


@dataclass(frozen=True)
class LossSpec:
    """One loss. ``summand(a, y)``: the loss of one prediction a and its target y (unevaluated, in
    the layout a lecturer writes); ``scale(n)``: the factor in front of the sum over n outputs (½
    for the half squared error, 1/n for the mean). ``residual``: the summand is a function of
    a − y (``squared``: of (a − y)², whose derivative brings down the 2). ``tensor``: a tensor
    function computes it over whole tensors instead (cross-entropy of a softmax)."""

    name: str
    summand: Callable
    description: str
    scale: Callable = lambda n: S.One
    residual: bool = False
    squared: bool = False
    class_targets: bool = False  # targets may be 0-based class indices (cross-entropy)
    tensor: str | None = None  # the tensor function computing it over a batch, if any
    mean: bool = False  # the mean over the outputs (written …/n), and over a batch's entries
    over_outputs: str = ""  # how several outputs combine ("summed over outputs"), said only
    # when there are several (a single-output neuron's loss is summed over nothing)
    remark: str = ""  # said after it in brackets ("its derivative is a − y")

    def described(self, outputs: int = 1) -> str:
        """Its description for a network with ``outputs`` outputs.

        >>> LOSSES["squared_error"].described(1), LOSSES["squared_error"].described(3)
        ('squared error', 'squared error, summed over outputs')
        """
        text = self.description
        if outputs > 1 and self.over_outputs:
            text += ", " + self.over_outputs
        return text + (f" ({self.remark})" if self.remark else "")

    def formula(self, a, y) -> sp.Expr:
        """The loss of one output, evaluated by SymPy: (a − y)², ½(a − y)² …"""
        return self.total([a], [y])

    def total(self, predictions, targets) -> sp.Expr:
        """The loss over several outputs, evaluated: scale(n)·Σ summand(aᵢ, yᵢ)."""
        n = len(predictions)
        terms = [_evaluated(self.summand(sp.sympify(a, strict=True), sp.sympify(y, strict=True))) for a, y in zip(predictions, targets)]
        return self.scale(n) * sp.Add(*terms)

    def equation(self, predictions: list[str], targets: list[str]) -> str:
        """The right-hand side of the loss line over named outputs, in the equation language."""
        terms = [equation_text(self.summand(_name(a), _name(y))) for a, y in zip(predictions, targets)]
        n, text = len(terms), " + ".join(terms)
        factor = sp.Rational(self.scale(n))
        if factor == 1:
            return text
        if factor == -1:
            return f"-({text})"
        if self.mean:
            return f"({text})/{n}"
        return f"{factor}*({text})" if n > 1 else f"{factor}*{text}"

    def batch(self, prediction: str, target: str, n: int) -> str:
        """The same loss over whole tensors (columns = examples), averaged over a batch of n."""
        if self.tensor is not None:
            return f"{self.tensor}({prediction}, {target})"
        inner, sign = self.summand(_name(prediction), _name(target)), ""
        if _negated(inner) is not None:
            inner, sign = _negated(inner), "-"
        if self.mean:  # the mean over every entry of the batch
            return f"{sign}mean({equation_text(inner)})"
        factor = sp.Rational(self.scale(1)) / n
        text = f"{sign}sum({equation_text(inner)})"
        return text if factor == 1 else f"{text}/{factor.q}" if factor.p == 1 else f"{factor}*{text}"


def _evaluated(e):
    """An expression written unevaluated, now evaluated by SymPy (bottom-up)."""
    if not e.args:
        return e
    return e.func(*[_evaluated(a) for a in e.args])


def _name(text: str) -> sp.Symbol:
    return sp.Symbol(text, real=True)


def equation_text(e) -> str:
    """A SymPy expression (as the registry writes it, unevaluated) in the equation language:
    ``-(y*log(a) + (1 - y)*log(1 - a))``, ``(a - y)**2``, ``abs(a - y)``."""
    if e.is_Symbol:
        return e.name
    if e.is_Integer or e.is_Rational:
        return str(e)
    if e.is_Add:
        out = equation_text(e.args[0])
        for term in e.args[1:]:
            negated = _negated(term)
            out += f" - {_operand(negated, sp.Add)}" if negated is not None else f" + {equation_text(term)}"
        return out
    if e.is_Mul:
        negated = _negated(e)
        if negated is not None:
            return f"-({equation_text(negated)})" if negated.is_Add else f"-{_operand(negated, sp.Mul)}"
        return "*".join(_operand(f, sp.Mul) for f in e.args)
    if e.is_Pow:
        return f"{_operand(e.base, sp.Pow)}**{equation_text(e.exp)}"
    if isinstance(e, sp.Abs):
        return f"abs({equation_text(e.args[0])})"
    name = {sp.log: "log", sp.exp: "exp"}.get(e.func, getattr(e.func, "__name__", str(e.func)))
    return f"{name}({', '.join(equation_text(a) for a in e.args)})"


def _negated(e):
    """``b`` for −1·b (as written), else None."""
    if e.is_Mul and e.args and e.args[0] == -1:
        rest = e.args[1:]
        return rest[0] if len(rest) == 1 else sp.Mul(*rest, evaluate=False)
    return None


def _operand(e, within) -> str:
    text = equation_text(e)
    compound = e.is_Add or (within is sp.Pow and (e.is_Mul or e.is_Pow or (e.is_Rational and not e.is_Integer)))
    return f"({text})" if compound else text


def _residual_squared(a, y):
    return sp.Pow(_as_written(a, sp.Mul(-1, y, evaluate=False)), 2, evaluate=False)


def _bce(a, y):
    return sp.Mul(-1, _as_written(sp.Mul(y, sp.log(a), evaluate=False),
                                  sp.Mul(_as_written(1, sp.Mul(-1, y, evaluate=False)),
                                         sp.log(_as_written(1, sp.Mul(-1, a, evaluate=False))),
                                         evaluate=False)), evaluate=False)


LOSSES: dict[str, LossSpec] = {}


def register(spec: LossSpec) -> LossSpec:
    LOSSES[spec.name] = spec
    return spec


register(LossSpec("squared_error", _residual_squared, "squared error",
                  residual=True, squared=True, over_outputs="summed over outputs"))
register(LossSpec("half_squared_error", _residual_squared, "half squared error",
                  scale=lambda n: S.Half, residual=True, squared=True,
                  over_outputs="summed over outputs", remark="its derivative is a − y"))
register(LossSpec("mse", _residual_squared, "mean squared error",
                  scale=lambda n: sp.Rational(1, n), residual=True, squared=True, mean=True,
                  over_outputs="averaged over outputs"))
register(LossSpec("binary_cross_entropy", _bce, "binary cross-entropy",
                  remark="a is a probability in (0, 1)", over_outputs="summed over outputs"))
register(LossSpec("absolute_error",
                  lambda a, y: sp.Abs(_as_written(a, sp.Mul(-1, y, evaluate=False)), evaluate=False),
                  "absolute error", residual=True, over_outputs="summed over outputs"))
register(LossSpec("cross_entropy", lambda p, y: sp.Mul(y, sp.log(p), evaluate=False),
                  "cross-entropy of probabilities p (a softmax output) and a one-hot target or "
                  "class index; the mean over a batch", class_targets=True, tensor="cross_entropy",
                  scale=lambda n: S.NegativeOne))


def loss(name: str) -> LossSpec:
    try:
        return LOSSES[name]
    except KeyError:
        raise DeriveError(f"unknown loss {name!r}; choose one of: " + ", ".join(sorted(LOSSES))) from None


def find_loss(expr, predictions, targets):
    """The registry entry whose formula ``expr`` is, with the predictions and targets it pairs
    (``(entry, [(prediction, target), …])``), or None: a loss found by its entry, whether written
    as a call (``squared_error(a, y)``) or as its formula (``(a - y)**2``, ``-(y*log(a) + …)``).
    Each candidate pairing is tried in order; a sum of such a loss and other terms (a penalty
    c·w²) is found by its loss term: what is left does not involve the predictions."""
    called = getattr(type(expr), "loss_entry", None)  # a callable loss names its entry
    if called in LOSSES and len(expr.args) == 2:
        return LOSSES[called], [tuple(expr.args)]
    pairs = list(zip(predictions, targets))
    if not pairs:
        return None
    for entry in LOSSES.values():
        if entry.tensor is not None:
            continue
        for chosen in ([pairs] if len(pairs) > 1 else []) + [[p] for p in pairs]:
            written = entry.total([a for a, _ in chosen], [y for _, y in chosen])
            if written == expr:
                return entry, chosen
            rest = sp.expand(expr - written)  # what is left (a penalty) must not involve the predictions
            if rest == 0 or not rest.has(*[a for a, _ in chosen]):
                return entry, chosen
    return None
