"""The loss registry: one entry per loss. Each entry writes its formula as an equation line over
the prediction and target names, so a loss goes through the same parser and engine as any
user equation (and shows in documents exactly as it is computed)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import DeriveError


@dataclass(frozen=True)
class LossSpec:
    name: str
    equation: Callable[[list[str], list[str]], str]  # (predictions, targets) -> right-hand side
    description: str
    # The same loss over whole tensors (columns = examples), averaged over a batch of ``n``:
    # (prediction name, target name, n) -> right-hand side in the tensor language.
    batch: Callable[[str, str, int], str] | None = None
    class_targets: bool = False  # targets may be 0-based class indices (cross-entropy)


def _sum(terms: list[str]) -> str:
    return " + ".join(terms)


def _squared(a: list[str], y: list[str]) -> str:
    return _sum([f"({p} - {t})**2" for p, t in zip(a, y)])


def _half_squared(a, y):
    if len(a) == 1:
        return f"1/2*({a[0]} - {y[0]})**2"
    return f"1/2*({_squared(a, y)})"


def _mse(a, y):
    if len(a) == 1:
        return _squared(a, y)
    return f"({_squared(a, y)})/{len(a)}"


def _bce(a, y):
    return _sum([f"-({t}*log({p}) + (1 - {t})*log(1 - {p}))" for p, t in zip(a, y)])


def _absolute(a, y):
    return _sum([f"abs({p} - {t})" for p, t in zip(a, y)])


def _cross_entropy(a, y):
    return "-(" + _sum([f"{t}*log({p})" for p, t in zip(a, y)]) + ")"


def _over(n: int, factor: int = 1) -> str:
    return "" if n * factor == 1 else f"/{n * factor}"


LOSSES: dict[str, LossSpec] = {}


def register(spec: LossSpec) -> LossSpec:
    LOSSES[spec.name] = spec
    return spec


register(LossSpec("squared_error", _squared, "squared error, summed over outputs",
                  lambda a, y, n: f"sum(({a} - {y})**2){_over(n)}"))
register(LossSpec("half_squared_error", _half_squared,
                  "half squared error, summed over outputs (its derivative is a − y)",
                  lambda a, y, n: f"sum(({a} - {y})**2){_over(n, 2)}"))
register(LossSpec("mse", _mse, "mean squared error over outputs",
                  lambda a, y, n: f"mean(({a} - {y})**2)"))
register(LossSpec("binary_cross_entropy", _bce,
                  "binary cross-entropy (a is a probability in (0, 1))",
                  lambda a, y, n: f"-sum({y}*log({a}) + (1 - {y})*log(1 - {a})){_over(n)}"))
register(LossSpec("absolute_error", _absolute, "absolute error, summed over outputs",
                  lambda a, y, n: f"sum(abs({a} - {y})){_over(n)}"))
register(LossSpec("cross_entropy", _cross_entropy,
                  "cross-entropy of probabilities p (a softmax output) and a one-hot target or "
                  "class index; the mean over a batch",
                  lambda a, y, n: f"cross_entropy({a}, {y})", class_targets=True))


def loss(name: str) -> LossSpec:
    try:
        return LOSSES[name]
    except KeyError:
        raise DeriveError(f"unknown loss {name!r}; choose one of: " + ", ".join(sorted(LOSSES))) from None
