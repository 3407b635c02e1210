"""High-precision approximations of exact values, straight-line.

SymPy's ``evalf`` and assumption system re-walk nested transcendental expressions and retry at
higher precision, which is slow and recurses; here every exact value is a shallow expression over
Rationals and ``Quantity`` atoms whose approximations are already known, so one small mpmath walk
at ``DIGITS`` significant digits suffices. Used for display and for the sign decisions at kinks.
"""
from __future__ import annotations

import mpmath
import sympy as sp

from . import budget
from .errors import UndefinedValue

DIGITS = 60
_CTX = mpmath.mp.clone() if hasattr(mpmath.mp, "clone") else mpmath.mp


class Undefined(UndefinedValue):
    """The math is undefined at these numbers (log 0, division by zero, …)."""


def _mpf(x):
    return mpmath.mpf(x)


def approx(expr: sp.Expr) -> mpmath.mpf:
    """``expr`` (a real number expression) as an mpmath number with ``DIGITS`` digits."""
    if getattr(expr, "approx_mpf", None) is not None:
        return _walk(expr)  # a Quantity carries its own (still checked against the budget)
    # A document, a check and its diagnoses approximate the same values again and again (every
    # printed number, every sign and size test): remembered per expression and magnitude limit.
    key = (expr, budget.current().max_magnitude)
    value = _SEEN.get(key)
    if value is None:
        with mpmath.workdps(DIGITS + 10):
            value = _walk(expr)
        if len(_SEEN) >= _SEEN_SIZE:
            del _SEEN[next(iter(_SEEN))]  # the oldest
        _SEEN[key] = value
    return value


_SEEN: dict = {}
_EXP_SEEN: dict = {}
_SEEN_SIZE = 4096


def rational(p: int, q: int) -> mpmath.mpf:
    """p/q rounded to the working precision, by one big-integer division (mpmath would convert
    both thousand-digit integers exactly first, which dominates deep exact chains)."""
    if p == 0:
        return mpmath.mpf(0)
    prec = mpmath.mp.prec + 10
    shift = max(0, prec + q.bit_length() - abs(p).bit_length())
    man = (abs(p) << shift) // q
    value = mpmath.mpf((0 if p > 0 else 1, man, -shift, man.bit_length()))
    return value


_LOG2_10 = 3.321928094887362


def _walk(e):
    """The approximation of ``e``, refused when its size is beyond ``max_magnitude``: every value
    is checked as it is computed, so no later step (exp, a power) starts from a monstrous one."""
    x = _walk_unguarded(e)
    if x and mpmath.isfinite(x) and mpmath.mag(x) > budget.current().max_magnitude * _LOG2_10 + 2:
        budget.check_magnitude(float(mpmath.mag(x)) / _LOG2_10, _short(e))
    return x


def _short(e) -> str:
    text = sp.sstr(e)
    return text if len(text) <= 60 else text[:40] + "…"


def _walk_unguarded(e):
    if e.is_Rational:
        return rational(int(e.p), int(e.q))
    cached = getattr(e, "approx_mpf", None)
    if cached is not None:
        return cached
    if e.is_Float:
        return mpmath.mpf(e._mpf_)
    if e is sp.pi:
        return +mpmath.pi
    if e is sp.E:
        return +mpmath.e
    if e.is_Add:
        return mpmath.fsum(_walk(a) for a in e.args)
    if e.is_Mul:
        result = mpmath.mpf(1)
        for a in e.args:
            result *= _walk(a)
        return result
    if e.is_Pow:
        base, exponent = e.args
        b = _walk(base)
        if exponent.is_Integer:
            if b == 0 and exponent < 0:
                raise Undefined(f"division by zero ({sp.sstr(base)} = 0)")
            _check_power_size(b, mpmath.mpf(int(exponent)), e)
            return b ** int(exponent)
        x = _walk(exponent)
        _check_power_size(b, x, e)
        if b < 0:
            raise Undefined(f"{'square root' if exponent == sp.S.Half else 'fractional power'} of "
                            f"a negative number ({sp.sstr(base)} < 0)")
        if b == 0 and x < 0:
            raise Undefined(f"division by zero ({sp.sstr(base)} = 0)")
        return b ** x
    if isinstance(e, sp.exp):
        # A value and its local derivative share their exponentials (σ(z) and σ(z)(1 − σ(z))):
        # each is computed once per precision.
        key = (e, mpmath.mp.prec, budget.current().max_magnitude)
        value = _EXP_SEEN.get(key)
        if value is None:
            x = _walk(e.args[0])
            if x > budget.current().max_magnitude * 2.303 + 2:  # before mpmath spends time on it
                budget.check_magnitude(float(x / mpmath.ln(10)), _short(e))
            value = mpmath.exp(x)
            if len(_EXP_SEEN) >= _SEEN_SIZE:
                del _EXP_SEEN[next(iter(_EXP_SEEN))]  # the oldest
            _EXP_SEEN[key] = value
        return value
    if isinstance(e, sp.log):
        x = _walk(e.args[0])
        if x <= 0:
            raise Undefined(f"log of {'0' if x == 0 else 'a negative number'} "
                            f"(log needs a positive argument)")
        return mpmath.log(x)
    if isinstance(e, sp.tanh):
        return mpmath.tanh(_walk(e.args[0]))
    if isinstance(e, sp.erf):
        return mpmath.erf(_walk(e.args[0]))
    if isinstance(e, sp.Abs):
        return abs(_walk(e.args[0]))
    if isinstance(e, sp.sign):
        return mpmath.mpf(mpmath.sign(_walk(e.args[0])))
    numeric = getattr(type(e), "numeric", None)
    if numeric is not None:
        return numeric(*[_walk(a) for a in e.args])
    if isinstance(e, sp.core.relational.Relational):
        left, right = _walk(e.lhs), _walk(e.rhs)
        return mpmath.mpf(1 if compare_relation(e.rel_op, left, right) else 0)
    if e is sp.true:
        return mpmath.mpf(1)
    if e is sp.false:
        return mpmath.mpf(0)
    if e.has(sp.S.ComplexInfinity, sp.S.NaN) or e.has(sp.S.ImaginaryUnit):
        raise Undefined(f"{sp.sstr(e)} is not a finite real number")
    # Anything else (a SymPy constant we don't special-case): let SymPy do it.
    value = e.evalf(DIGITS + 10)
    if not value.is_Float:
        raise Undefined(f"{sp.sstr(e)} is not a finite real number")
    return mpmath.mpf(value._mpf_)


def compare_relation(op: str, a, b) -> bool:
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]


_CHEAP_EXPONENT = 2 ** 50  # exponents a float holds exactly enough for the cheap bound


def _check_power_size(b, x, e) -> None:
    """``b**x`` would be more than ``max_magnitude`` orders of magnitude: refused before computing."""
    if b == 0 or not mpmath.isfinite(b):
        return
    limit = budget.current().max_magnitude + 1
    # A cheap bound first: 2^(mag−1) ≤ |b| < 2^mag, so |log10 |b|| ≤ (|mag| + 1)·log10 2; the
    # 70-digit logarithm below is needed only for powers near the limit.
    if abs(x) < _CHEAP_EXPONENT and (abs(mpmath.mag(b)) + 1) * 0.302 * float(abs(x)) <= limit:
        return
    size = float(abs(mpmath.log10(abs(b)) * x)) if abs(x) < mpmath.mpf(10) ** 30 else float("inf")
    if size > limit and (abs(b) > 1) == (x > 0):
        budget.check_magnitude(size, _short(e))
