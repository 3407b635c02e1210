"""Arithmetic a student can redo: a displayed line that combines shown numbers (a product of
factors, a sum of path contributions, an update w − η·g) must give its result as those shown
numbers give it, to the digits shown. The result is the exact value rounded (as everywhere else
in the document, in the answer key and under ``--exact``); what may change is how many digits the
combined numbers show: the fewest extra digits (``carry``) for which the rounded numbers, combined,
round to the printed result.

>>> import sympy as sp
>>> from derive.core.derivation import Chain, Product, Value
>>> third = Value(sp.Rational(1, 3))
>>> carry_for(Product((third, third)), Value(sp.Rational(1, 9)), 4, 0)  # 0.3333 · 0.3333 ≈ 0.1111
0
>>> g, eta = Value(sp.Rational(-126853, 3 * 10**6)), Value(sp.Rational(8, 10))  # g = −0.0422843…
>>> carry_for(Product((g, eta)), Value(g.number * eta.number), 4, 0)  # (−0.04228)·0.8 ≠ −0.03383
1
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import mpmath
import sympy as sp

from ..core.derivation import Chain, Product, Row, Subst, Sum, Value
from ..core.numbers import format_number

@dataclass(frozen=True)
class Carried:
    """A matrix entry printed with ``extra`` digits beyond the document's: the digits a later
    line, redone from this matrix as printed, needs (a bias gradient summing its columns)."""

    number: object
    extra: int


FRACTION_DENOMINATOR = 12  # 1/3, 7/3, 5/6: a coefficient no decimal shows exactly, shown as a fraction
MAX_CARRY = 6  # beyond this the line is printed with the document's digits (it cannot be helped)
EQUALITIES = ("=", "≈")
OPERATORS = {"+": 1, "-": -1, "−": -1}  # between the items of one member (w − η·g)
PRODUCT = ("·",)


def short_fraction(number):
    """``number`` when it is a rational a decimal cannot show exactly but a short fraction can
    (1/3, −7/3, 5/6): inside a combining line it is printed so, and the line's arithmetic is exact
    (0.3333 · (−3) would not give −1). None otherwise."""
    if not isinstance(number, sp.Rational) or number.is_Integer:
        return None
    q = int(number.q)
    for prime in (2, 5):
        while q % prime == 0:
            q //= prime
    if q == 1 or number.q > FRACTION_DENOMINATOR or abs(number.p) > 99:
        return None
    return number


def shown(number, digits: int, fractions: bool = False):
    """The number as printed with ``digits`` significant digits, as an exact rational (what a
    student reads off the page), or None when it does not print as a plain decimal. With
    ``fractions``, a short fraction is printed, and read, exactly."""
    if fractions and short_fraction(number) is not None:
        return Fraction(int(number.p), int(number.q))
    text = format_number(number, digits)
    try:
        return Fraction(Decimal(text))
    except ArithmeticError:  # "inf", "nan": no arithmetic to redo
        return None


def combines(items) -> bool:
    """A member of a chain that combines numbers (rather than restating one value)."""
    if len(items) > 1:
        return True
    item = items[0]
    return isinstance(item, (Product, Sum)) and len(getattr(item, "factors", getattr(item, "terms", ()))) > 1 \
        or isinstance(item, Subst) and bool(item.values)


def evaluate(items, digits: int, subst_digits: int):
    """The value of one member (items and the operators between them) computed from its numbers
    as printed with ``digits`` significant digits (``subst_digits`` inside a substitution), or
    None when it holds anything but numbers."""
    total, sign, term = Fraction(0), 1, None
    for item in items:
        if isinstance(item, str):
            if item in OPERATORS:
                if term is None:
                    return None
                total = _plus(total, term if sign == 1 else -term)
                sign, term = OPERATORS[item], None
            elif item not in PRODUCT:  # juxtaposed factors multiply; anything else: no arithmetic
                return None
            continue
        value = _value(item, digits, subst_digits)
        if value is None:
            return None
        term = value if term is None else _times(term, value)
    if term is None:
        return None
    return _plus(total, term if sign == 1 else -term)


def _plus(a, b):
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a + b
    if isinstance(a, mpmath.mpf) or isinstance(b, mpmath.mpf):
        with mpmath.workdps(REDO_DIGITS):
            return _mp(a) + _mp(b)
    return _sym(a) + _sym(b)


def _times(a, b):
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a * b
    return _sym(a) * _sym(b)


def _sym(x):
    return sp.Rational(x.numerator, x.denominator) if isinstance(x, Fraction) else x


def _value(item, digits: int, subst_digits: int):
    if isinstance(item, Value):
        return shown(item.number, item.digits or digits, fractions=True)
    if isinstance(item, sp.Rational):
        return Fraction(int(item.p), int(item.q))
    if isinstance(item, Product):
        out = Fraction(1)
        for f in item.factors:
            v = _value(f, digits, subst_digits)
            if v is None:
                return None
            out = _times(out, v)
        return out
    if isinstance(item, Sum):
        out = Fraction(0)
        for t in item.terms:
            v = _value(t, digits, subst_digits)
            if v is None:
                return None
            out = _plus(out, v)
        return out
    if isinstance(item, Subst):
        values = {}
        for symbol, number in item.values:
            v = shown(number, subst_digits, fractions=True)
            if v is None:
                return None
            values[symbol] = sp.Rational(v.numerator, v.denominator)
        try:
            result = item.expr.xreplace(values)
        except (TypeError, ValueError, ArithmeticError):
            return None
        if not isinstance(result, sp.Expr) or not result.is_number or result.free_symbols:
            return None
        if isinstance(result, sp.Rational):
            return Fraction(int(result.p), int(result.q))
        return result if result.is_extended_real else None
    return None


REDO_DIGITS = 60  # a recomputed root or quotient, to far more digits than any document prints


def redo_rule(expr, env: dict):
    """A rule's right-hand side (SymPy: +, ·, whole and ½ powers, sign) recomputed from numbers
    as printed: ``env`` maps its symbols to Fractions (what the page shows) or to ``mpf`` values
    (unprinted intermediates a student computes on the way). Exact (a Fraction) while no root
    comes in; an ``mpf`` at REDO_DIGITS after. None when a symbol has no number or the
    arithmetic is undefined.

    >>> from sympy.abc import a, b
    >>> redo_rule(a * b + 1, {a: Fraction(1, 2), b: Fraction(3)})
    Fraction(5, 2)
    """
    if expr.is_Symbol:
        return env.get(expr)
    if expr.is_Rational:
        return Fraction(int(expr.p), int(expr.q))
    if expr.is_Add or expr.is_Mul:
        out = None
        for arg in expr.args:
            v = redo_rule(arg, env)
            if v is None:
                return None
            out = v if out is None else (_plus(out, v) if expr.is_Add else _times_any(out, v))
        return out
    if expr.is_Pow:
        base, k = redo_rule(expr.base, env), redo_rule(expr.exp, env)  # βᵗ: the step t from env
        if base is None or not isinstance(k, Fraction):
            return None
        if k in (Fraction(1, 2), Fraction(-1, 2)):
            if base < 0:
                return None
            with mpmath.workdps(REDO_DIGITS):
                root = mpmath.sqrt(_mp(base))
            return root if k > 0 else (None if root == 0 else _divide(Fraction(1), root))
        if k.denominator != 1 or (base == 0 and k < 0):
            return None
        if isinstance(base, Fraction):
            return base ** int(k)
        with mpmath.workdps(REDO_DIGITS):
            return base ** int(k)
    if isinstance(expr, sp.sign):
        v = redo_rule(expr.args[0], env)
        return None if v is None else Fraction((v > 0) - (v < 0))
    return None


def _mp(x):
    return mpmath.mpf(x.numerator) / x.denominator if isinstance(x, Fraction) else x


def _times_any(a, b):
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a * b
    with mpmath.workdps(REDO_DIGITS):
        return _mp(a) * _mp(b)


def _divide(a, b):
    with mpmath.workdps(REDO_DIGITS):
        return _mp(a) / _mp(b)


def _decimal(x) -> Decimal | None:
    """``x`` (a Fraction, an ``mpf`` or a real SymPy number) as a Decimal of 40 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 40
        if isinstance(x, Fraction):
            return Decimal(x.numerator) / Decimal(x.denominator)
        if isinstance(x, mpmath.mpf):
            return Decimal(mpmath.nstr(x, 40, strip_zeros=False, min_fixed=-mpmath.inf, max_fixed=mpmath.inf)) \
                if mpmath.isfinite(x) else None
        try:
            return Decimal(format_number(x, 40))
        except (ArithmeticError, TypeError, ValueError):
            return None


def reproduces(x, printed: str) -> bool:
    """Does the recomputed value ``x`` round to the printed result, to the digits printed (and
    unambiguously: not on a tie that rounding half up and half to even would split)?"""
    try:
        target = Decimal(printed)
    except ArithmeticError:
        return False
    value = _decimal(x)
    if value is None:
        return False
    quantum = Decimal(1).scaleb(target.as_tuple().exponent)
    with localcontext() as ctx:
        ctx.prec = 60
        return (value.quantize(quantum, ROUND_HALF_EVEN) == target
                and value.quantize(quantum, ROUND_HALF_UP) == target)


def carry_for(member, result: Value, precision: int, subst_carry: int) -> int | None:
    """The fewest extra digits the numbers of ``member`` (one math object, or a tuple of items
    with operators between them: w, "−", η·g) need for the line ``member = result`` to be redone
    from the page; None when the member holds more than numbers (nothing to redo)."""
    items = member if isinstance(member, tuple) else (member,)
    printed = format_number(result.number, result.digits or precision)
    for carry in range(MAX_CARRY + 1):
        x = evaluate(items, precision + carry, precision + carry + subst_carry)
        if x is None:
            return None
        if reproduces(x, printed):
            return carry
    return 0


def exactly(member, result: Value, precision: int, carry: int, subst_carry: int) -> bool:
    """Does ``member``, printed with ``carry`` extra digits, give the printed result exactly (so
    the line may say =, not ≈)?"""
    x = evaluate(member, precision + carry, precision + carry + subst_carry)
    target = shown(result.number, result.digits or precision)
    return isinstance(x, Fraction) and target is not None and x == target


def member_carries(items: tuple, precision: int, subst_carry: int) -> tuple[dict, set]:
    """For a relation chain's items, ({index of an item: carry} for the items of every member
    that combines numbers into the single value after the next = or ≈ — printed with ``carry``
    extra digits and short fractions —, the indices of the = relations whose member, as printed,
    gives the result only to the digits shown, so they read ≈)."""
    members, start = [], 0  # (first item, end, the relation after it or None)
    for i, item in enumerate(items):
        if isinstance(item, str) and item not in OPERATORS and item not in PRODUCT:
            members.append((start, i, item))
            start = i + 1
    members.append((start, len(items), None))
    out, approximate = {}, set()
    for (s0, e0, relation), (s1, e1, _) in zip(members, members[1:]):
        member, result = items[s0:e0], items[s1:e1]
        if relation not in EQUALITIES or not member or len(result) != 1 \
                or not isinstance(result[0], Value) or not combines(member):
            continue
        carry = carry_for(tuple(member), result[0], precision, subst_carry)
        if carry is None:
            continue
        out.update({i: carry for i in range(s0, e0)})
        if relation == "=" and not exactly(tuple(member), result[0], precision, carry, subst_carry):
            approximate.add(e0)
    return out, approximate


def _shown_values(item, digits: int):
    """(Value, digits it prints with) of the numbers a combining member shows, nested ones too."""
    if isinstance(item, Value):
        yield item, item.digits or digits
    for inner in getattr(item, "factors", getattr(item, "terms", ())):
        yield from _shown_values(inner, digits)


def carried_across(sections, precision: int, subst_carry: int = 0) -> list:
    """The sections with every line's result printed with the digits a later line reads it with:
    a path's product "1 · 1.6 · 0.7792 · 1.3 ≈ 1.6206" when the sum over the paths adds it as
    1.6206, so the sum adds the printed terms, and the path line's own factors get the digits
    that give 1.6206 (one value, one printed form). Lines are visited last to first, so digits a
    later line asks of a result pass on to the results that line's factors came from."""
    from .blocks import Section, Show, Step
    places = []  # (section, block, None or the Row item) of every displayed chain, in reading order
    for si, s in enumerate(sections):
        for bi, b in enumerate(s.blocks):
            if isinstance(b, (Show, Step)):
                if isinstance(b.math, Chain):
                    places.append((si, bi, None))
                elif isinstance(b.math, Row):
                    places += [(si, bi, ri) for ri, m in enumerate(b.math.items) if isinstance(m, Chain)]
    chains = [_chain_at(sections, place) for place in places]
    digits: dict = {}  # chain index -> digits its result is printed with
    for k in range(len(chains) - 1, -1, -1):
        chain = _with_result_digits(chains[k], digits.get(k))
        chains[k] = chain
        carries, _ = member_carries(chain.items, precision, subst_carry)
        for i, c in carries.items():
            for value, wanted in _shown_values(chain.items[i], precision + c):
                if wanted <= precision or _terminates(value.number, wanted) or short_fraction(value.number) is not None:
                    continue
                for j in range(k - 1, -1, -1):  # the nearest line above that printed this value
                    if _result(chains[j]) == value.number:
                        digits[j] = max(digits.get(j, 0), wanted)
                        break
    if not digits:
        return sections
    # and a factor shows a value as the line that printed it does (0.779152 in both), where the
    # line still redoes with it
    for k, chain in enumerate(chains):
        printed = {}
        for j in range(k):  # the nearest line above that printed the value decides
            if _result(chains[j]) is not None:
                printed[_result(chains[j])] = digits.get(j, 0)
        carries, _ = member_carries(chain.items, precision, subst_carry)
        if not any(printed.values()) or not carries:
            continue
        wider = Chain(*(_with_digits(item, printed, precision + carries[i]) if i in carries else item
                        for i, item in enumerate(chain.items)))
        if wider != chain and _unredone(wider, precision, subst_carry) <= _unredone(chain, precision, subst_carry):
            chains[k] = wider
    out = [Section(s.title, list(s.blocks), s.subtitle) for s in sections]
    for (si, bi, ri), chain in zip(places, chains):
        block = out[si].blocks[bi]
        math = chain if ri is None else Row(tuple(chain if n == ri else m for n, m in enumerate(block.math.items)))
        out[si].blocks[bi] = replace(block, math=math)
    return out


def _with_digits(item, printed: dict, digits: int):
    """``item`` with each shown value that an earlier line printed with more digits shown so."""
    if isinstance(item, Value):
        wanted = printed.get(item.number, 0)
        return Value(item.number, wanted) if wanted > (item.digits or digits) else item
    if isinstance(item, Product):
        return replace(item, factors=tuple(_with_digits(f, printed, digits) for f in item.factors))
    if isinstance(item, Sum):
        return replace(item, terms=tuple(_with_digits(t, printed, digits) for t in item.terms))
    return item


def _unredone(chain, precision: int, subst_carry: int) -> int:
    """How many combining members of ``chain``, printed with their carries, do not give the result."""
    items = chain.items
    carries, _ = member_carries(items, precision, subst_carry)
    bounds = [i for i, item in enumerate(items) if isinstance(item, str) and item in EQUALITIES]
    count, start = 0, 0
    for b in bounds:
        member, result, first = items[start:b], items[b + 1:b + 2], start
        start = b + 1
        if first not in carries or not result or not isinstance(result[0], Value):
            continue  # not a member that combines numbers into one printed value
        carry = carries[first]
        x = evaluate(tuple(member), precision + carry, precision + carry + subst_carry)
        if x is not None and not reproduces(x, format_number(result[0].number, result[0].digits or precision)):
            count += 1
    return count


def _chain_at(sections, place):
    si, bi, ri = place
    math = sections[si].blocks[bi].math
    return math if ri is None else math.items[ri]


def _result(chain):
    last = chain.items[-1] if chain.items else None
    return last.number if isinstance(last, Value) and len(chain.items) > 2 else None


def _with_result_digits(chain, digits):
    if digits is None or _result(chain) is None or (chain.items[-1].digits or 0) >= digits:
        return chain
    return Chain(*chain.items[:-1], Value(chain.items[-1].number, digits))


def _terminates(number, digits: int) -> bool:
    """Printed with ``digits`` the same as with fewer (1.6, −0.325): nothing to carry."""
    try:
        return Fraction(Decimal(format_number(number, digits))) == Fraction(int(number.p), int(number.q)) \
            if isinstance(number, sp.Rational) else False
    except ArithmeticError:
        return False


__all__ = ["Carried", "redo_rule", "carry_for", "member_carries", "reproduces", "shown", "short_fraction",
           "evaluate", "MAX_CARRY", "carried_across"]
