"""How close an answer must be to count as right — one rule shared by the spec's ``tolerance:``
field, the answer key, ``derive check`` and every LMS export (Moodle, QTI, GIFT).

A spec writes exactly one of::

    tolerance: {relative: 0.01}     # within 1 % of the exact value
    tolerance: {absolute: 0.001}    # within ±0.001
    tolerance: {sig_figs: 3}        # within half a unit in the 3rd significant figure

>>> t = parse_tolerance({"relative": 0.01}, "spec.yaml")
>>> t.bound(250), t.describe()
(2.5, '1 %')
>>> parse_tolerance({"sig_figs": 3}, "s").bound(0.012345)
5e-05
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .errors import SpecError

KINDS = ("relative", "absolute", "sig_figs")


@dataclass(frozen=True)
class Tolerance:
    kind: str  # relative, absolute or sig_figs
    amount: float  # a fraction, an absolute width, or a number of significant figures

    def bound(self, value) -> float:
        """The largest accepted |answer − value| around an exact ``value`` (a positive float;
        a zero value under a relative rule gets a tiny absolute floor instead of none)."""
        x = abs(float(value))
        if not math.isfinite(x):  # an exact value beyond a double's range: no float bound either
            return math.inf
        if self.kind == "absolute":
            return float(self.amount)
        if self.kind == "relative":
            return float(self.amount) * x if x else 1e-12
        if x == 0:
            return 0.5 * 10.0 ** (1 - int(self.amount)) * 1e-12
        exponent = math.floor(math.log10(x))
        return 0.5 * 10.0 ** (exponent - int(self.amount) + 1)

    def accepts(self, answer, value) -> bool:
        return abs(float(answer) - float(value)) <= self.bound(value) * (1 + 1e-12)

    def check_args(self) -> dict:
        """``rtol``/``atol`` for ``Example.check``: relative and absolute rules exactly; a
        significant-figures rule as its relative bound for a leading digit of 1 (the most
        lenient end of its range, so no answer the LMS accepts is marked wrong here)."""
        if self.kind == "relative":
            return {"rtol": float(self.amount)}
        if self.kind == "absolute":
            return {"atol": float(self.amount)}
        return {"rtol": 0.5 * 10.0 ** (1 - int(self.amount))}

    def describe(self) -> str:
        if self.kind == "relative":
            pct = Fraction(str(self.amount)) * 100
            text = str(pct.numerator) if pct.denominator == 1 else f"{float(pct):g}"
            return f"{text} %"
        if self.kind == "absolute":
            return f"±{float(self.amount):g}"
        return f"{int(self.amount)} significant figures"


def parse_tolerance(raw, source: str) -> Tolerance | None:
    """The spec's ``tolerance`` field (``None`` when absent); errors name the field and the fix."""
    if raw is None:
        return None
    where = f"{source}: tolerance"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise SpecError(f"{where}: give exactly one of {{relative: 0.01}}, {{absolute: 0.001}} or "
                        f"{{sig_figs: 3}}, got {raw!r}")
    (kind, amount), = raw.items()
    if kind not in KINDS:
        raise SpecError(f"{where}: unknown kind {kind!r}; use relative, absolute or sig_figs")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise SpecError(f"{where}.{kind} must be a number, got {amount!r}")
    if kind == "sig_figs":
        if not isinstance(amount, int) or not 1 <= amount <= 15:
            raise SpecError(f"{where}.sig_figs must be a whole number from 1 to 15, got {amount!r}")
    elif not (0 < amount < math.inf) or (kind == "relative" and amount >= 1):
        raise SpecError(f"{where}.{kind} must be positive" + (" and below 1 (0.01 is 1 %)"
                                                               if kind == "relative" else "")
                        + f", got {amount!r}")
    return Tolerance(kind, amount)


__all__ = ["Tolerance", "parse_tolerance", "KINDS"]
