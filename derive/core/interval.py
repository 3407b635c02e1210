"""Intervals of real numbers: what a written answer stands for, carried through a computation.

A student who writes 0.0350 may have used any number that rounds to it, [0.03495, 0.03505].
Recomputing a later step over such intervals (``evaluate`` for a node's formula or a local
derivative, the ordinary operators ``+ − × ÷`` for the chain rule, whose one implementation takes
any number type through its hooks) gives every value that step can take given the student's own
earlier answers; carried-forward credit asks whether the student's answer lies in that range.

Endpoints are mpmath numbers (no overflow or underflow at any depth) at ``DIGITS`` digits, far
below the narrowest interval checking uses (a machine float: ±1e-9 relative). Elementary functions
are monotone and map endpoints to endpoints; a registry function is evaluated at the corners of
its argument box and at its centre — exact for the monotone activations and losses, and off only by
a second-order amount inside an interval that straddles the dip of a non-monotone one (GELU near
−0.75), far below the digits a student writes. A comparison that the interval does not decide
(``z > 0`` for z ∈ [−0.01, 0.01]) is 0 or 1: the gate of ReLU then spans [0, 1].

>>> x = Interval("0.03495", "0.03505")
>>> 2 * x - 1
Interval(-0.9301, -0.9299)
>>> (x * -x).contains(-0.001225)
True
"""
from __future__ import annotations

import itertools

import mpmath
import sympy as sp

from .approx import Undefined, approx

DIGITS = 30
MAX_CORNERS = 6  # arguments beyond this many: lower corner, upper corner and centre only


class Interval:
    """A closed interval [lo, hi] of reals; arithmetic with numbers (int, float, mpf, SymPy
    numbers, exact Quantities) and other intervals.

    >>> Interval(1, 2) * Interval(-1, 3)
    Interval(-2.0, 6.0)
    """

    __slots__ = ("lo", "hi")

    def __init__(self, lo, hi=None):
        lo = _mpf(lo)
        hi = lo if hi is None else _mpf(hi)
        if hi < lo:
            lo, hi = hi, lo
        self.lo, self.hi = lo, hi

    @classmethod
    def around(cls, value, radius) -> "Interval":
        """[value − radius, value + radius].

        >>> Interval.around(8, 0.5).hi
        mpf('8.5')
        """
        v, r = _mpf(value), abs(_mpf(radius))
        return cls(v - r, v + r)

    @property
    def mid(self):
        return (self.lo + self.hi) / 2

    @property
    def radius(self):
        return (self.hi - self.lo) / 2

    def contains(self, x) -> bool:
        x = _mpf(x)
        return self.lo <= x <= self.hi

    def hull(self, other) -> "Interval":
        other = as_interval(other)
        return Interval(min(self.lo, other.lo), max(self.hi, other.hi))

    def __repr__(self):
        return f"Interval({mpmath.nstr(self.lo, 8)}, {mpmath.nstr(self.hi, 8)})"

    def __eq__(self, other):
        return isinstance(other, Interval) and self.lo == other.lo and self.hi == other.hi

    def __hash__(self):
        return hash((self.lo, self.hi))

    # -- arithmetic (SymPy numbers on the left defer to these: sympify refuses an Interval) --

    def __neg__(self):
        return Interval(-self.hi, -self.lo)

    def __pos__(self):
        return self

    def __add__(self, other):
        o = as_interval(other)
        return Interval(self.lo + o.lo, self.hi + o.hi)

    __radd__ = __add__

    def __sub__(self, other):
        o = as_interval(other)
        return Interval(self.lo - o.hi, self.hi - o.lo)

    def __rsub__(self, other):
        return as_interval(other) - self

    def __mul__(self, other):
        o = as_interval(other)
        products = (self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi)
        return Interval(min(products), max(products))

    __rmul__ = __mul__

    def __truediv__(self, other):
        o = as_interval(other)
        if o.lo <= 0 <= o.hi:
            raise Undefined("division by an interval that contains 0")
        return self * Interval(1 / o.hi, 1 / o.lo)

    def __rtruediv__(self, other):
        return as_interval(other) / self

    def __pow__(self, n):
        if isinstance(n, Interval):
            return _power(self, n)
        n = int(n)
        if n < 0:
            return Interval(1) / self ** -n
        if n % 2 == 0 and self.lo <= 0 <= self.hi:
            return Interval(0, max(self.lo ** n, self.hi ** n))
        return Interval(self.lo ** n, self.hi ** n)


def _mpf(x):
    if isinstance(x, sp.Basic):
        return approx(x)
    if isinstance(x, Interval):
        raise TypeError("an interval is not a number")
    return mpmath.mpf(x)


def as_interval(x) -> Interval:
    """``x`` as an interval (a number becomes a single point)."""
    return x if isinstance(x, Interval) else Interval(x)


def _power(base: Interval, exponent: Interval) -> Interval:
    if base.lo <= 0:
        raise Undefined("fractional power of an interval that reaches 0 or below")
    corners = [b ** e for b in (base.lo, base.hi) for e in (exponent.lo, exponent.hi)]
    return Interval(min(corners), max(corners))


def evaluate(expr: sp.Expr, subs: dict) -> Interval:
    """Every value ``expr`` takes when each symbol ranges over ``subs[symbol]`` (an Interval, or
    an exact number). Raises ``Undefined`` where the math is undefined somewhere in the box.

    >>> z = sp.Symbol("z")
    >>> evaluate(2 * sp.exp(z), {z: Interval(0, 1)})
    Interval(2.0, 5.4365637)
    >>> from derive.core.functions import Relu
    >>> evaluate(sp.diff(Relu(z), z), {z: Interval(-0.5, 0.5)})  # the gate is undecided
    Interval(0.0, 1.0)
    """
    with mpmath.workdps(DIGITS):
        return _walk(expr, subs)


_MONOTONE = {sp.exp: mpmath.exp, sp.tanh: mpmath.tanh, sp.erf: mpmath.erf}


def _walk(e, subs) -> Interval:
    if e.is_Symbol:
        return as_interval(subs[e])
    if not e.free_symbols:
        return Interval(approx(e))
    if e.is_Add:
        total = Interval(0)
        for a in e.args:
            total = total + _walk(a, subs)
        return total
    if e.is_Mul:
        product = Interval(1)
        for a in e.args:
            product = product * _walk(a, subs)
        return product
    if e.is_Pow:
        base, exponent = e.args
        b = _walk(base, subs)
        if exponent.is_Integer:
            if int(exponent) < 0 and b.lo <= 0 <= b.hi:
                raise Undefined(f"division by zero ({sp.sstr(base)} may be 0)")
            return b ** int(exponent)
        return _power(b, _walk(exponent, subs))
    function = _MONOTONE.get(type(e))
    if function is not None:
        x = _walk(e.args[0], subs)
        return Interval(function(x.lo), function(x.hi))
    if isinstance(e, sp.log):
        x = _walk(e.args[0], subs)
        if x.lo <= 0:
            raise Undefined("log of an interval that reaches 0 or below")
        return Interval(mpmath.log(x.lo), mpmath.log(x.hi))
    if isinstance(e, sp.Abs):
        x = _walk(e.args[0], subs)
        if x.lo <= 0 <= x.hi:
            return Interval(0, max(-x.lo, x.hi))
        return Interval(abs(x.lo), abs(x.hi))
    if isinstance(e, sp.core.relational.Relational):
        return _compare(e.rel_op, _walk(e.lhs, subs), _walk(e.rhs, subs))
    if isinstance(e, sp.And):
        parts = [_walk(a, subs) for a in e.args]
        return Interval(min(p.lo for p in parts), min(p.hi for p in parts))
    if isinstance(e, sp.Or):
        parts = [_walk(a, subs) for a in e.args]
        return Interval(max(p.lo for p in parts), max(p.hi for p in parts))
    if isinstance(e, sp.Not):
        return 1 - _walk(e.args[0], subs)
    numeric = getattr(type(e), "numeric", None)
    if numeric is not None:  # a registry function: its corners and centre
        args = [_walk(a, subs) for a in e.args]
        return _corners(lambda *point: numeric(*point), args)
    # Anything else (where, a loss called in an equation): substitute corners of its symbols.
    symbols = sorted(e.free_symbols, key=lambda s: s.name)
    boxes = [as_interval(subs[s]) for s in symbols]
    return _corners(lambda *point: approx(e.xreplace(
        {s: sp.Float(v, DIGITS) for s, v in zip(symbols, point)})), boxes)


def _corners(function, boxes: list) -> Interval:
    if len(boxes) <= MAX_CORNERS:
        points = list(itertools.product(*[(b.lo, b.hi) if b.lo != b.hi else (b.lo,) for b in boxes]))
    else:
        points = [tuple(b.lo for b in boxes), tuple(b.hi for b in boxes)]
    points.append(tuple(b.mid for b in boxes))
    values = [mpmath.mpf(function(*p)) for p in points]
    return Interval(min(values), max(values))


def _compare(op: str, a: Interval, b: Interval) -> Interval:
    """1 where the comparison holds for every pair of values, 0 where for none, else [0, 1]."""
    always = {"<": a.hi < b.lo, "<=": a.hi <= b.lo, ">": a.lo > b.hi, ">=": a.lo >= b.hi,
              "==": a.lo == a.hi == b.lo == b.hi,
              "!=": a.hi < b.lo or b.hi < a.lo}[op]
    never = {"<": a.lo >= b.hi, "<=": a.lo > b.hi, ">": a.hi <= b.lo, ">=": a.hi < b.lo,
             "==": a.hi < b.lo or b.hi < a.lo,
             "!=": a.lo == a.hi == b.lo == b.hi}[op]
    if always:
        return Interval(1)
    if never:
        return Interval(0)
    return Interval(0, 1)


__all__ = ["Interval", "as_interval", "evaluate"]
