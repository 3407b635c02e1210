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

from ..core.derivation import Chain, Product, Remark, Row, Subst, Sum, Value, Vector
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
            v = shown(number.number, number.digits or subst_digits, fractions=True) if isinstance(number, Value) \
                else shown(number, subst_digits, fractions=True)
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


def carried_across(sections, precision: int, subst_carry: int = 0) -> list:
    """The sections with every shown number printed with the digits the document's lines need,
    and with the same digits wherever it appears: a path's product "1 · 1.6 · 0.7792 · 1.3 ≈
    1.6206" when the sum over the paths adds it as 1.6206, and "p = σ(0.3) ≈ 0.57444" when a
    later line substitutes p as 0.57444 (and a sentence stating the value states it so). The
    digits are the fewest that let every line that combines numbers be redone from the page
    (``DigitPlan``). A line that shared digits cannot mend (a difference of nearly equal
    numbers) shows its own numbers to more digits and says so. ``subst_carry`` is not used:
    a substituted number is printed as the line that gives it prints it."""
    from ..core.functions import Sentence
    from .blocks import Bullet, Say, Show, Step
    places = []  # (section, block, None or the Row item) of every displayed chain, in reading order
    for si, s in enumerate(sections):
        for bi, b in enumerate(s.blocks):
            if isinstance(b, (Show, Step)):
                if isinstance(b.math, Chain):
                    places.append((si, bi, None))
                elif isinstance(b.math, Row):
                    places += [(si, bi, ri) for ri, m in enumerate(b.math.items) if isinstance(m, Chain)]
    if not places:
        return sections
    chains = [_chain_at(sections, place) for place in places]
    plan = DigitPlan(chains, precision)
    out = [type(s)(s.title, list(s.blocks), s.subtitle) for s in sections]
    for c, ((si, bi, ri), chain) in enumerate(zip(places, chains)):
        chain = plan.chain(c, chain)
        block = out[si].blocks[bi]
        math = chain if ri is None else Row(tuple(chain if n == ri else m for n, m in enumerate(block.math.items)))
        out[si].blocks[bi] = replace(block, math=math)
    for s in out:  # and a sentence that states one of these values states it alike
        for bi, b in enumerate(s.blocks):
            if isinstance(b, (Say, Bullet)) and isinstance(b.sentence, Sentence) and b.sentence.math:
                math = tuple(plan.raised(m) for m in b.sentence.math)
                if math != b.sentence.math:
                    s.blocks[bi] = replace(b, sentence=replace(b.sentence, math=math))
    return out


MORE_DIGITS = "more digits here: the result needs them"
ROUNDED_GIVE = "the numbers as shown give {0}"
CHAIN_CARRY = 3  # a value shows at most this many digits more than the document's
SEARCH = 2  # every way of adding up to this many digits is tried before the uniform carry


class DigitPlan:
    """One number of digits per value shown in a set of relation chains (a document): the
    fewest, beyond ``precision``, for which every member that combines numbers into a result
    gives that result, as printed, from its numbers as printed. A value is one number wherever
    it stands (the result of its line, a factor of a later one, a substituted symbol), so the
    digits a later line asks of it pass to the line that gives it, and on to that line's
    numbers. The lines are mended last to first until none changes: a failing line gets the
    fewest added digits that mend it (every way of adding one or two, values no line gives
    first and then the way that leaves the fewest other lines failing; else one more digit in
    each of its numbers at a time, then as many taken back as can be), at most CHAIN_CARRY. A
    line no such digits mend is left out, with what it asked (and a line that held until a
    later one asked more of its numbers is not sacrificed: the later one is left out): it is
    ``unmended``, and ``local`` has the digits its own numbers need there (up to MAX_CARRY).

    >>> import sympy as sp
    >>> sigma = Value(1 / (1 + sp.exp(-sp.Rational(3, 10))))  # σ(0.3) ≈ 0.5744
    >>> line = Chain(sp.Symbol("q"), "=", Product((Value(sp.Integer(6)), sigma)), "=", Value(6 * sigma.number))
    >>> DigitPlan([line], 4).digits  # 6 · 0.5744 = 3.4464, but 6σ(0.3) ≈ 3.447: 0.57444 it is
    {'0.574442516811659': 5}
    """

    def __init__(self, chains, precision: int):
        self.precision = precision
        self.limit = precision + CHAIN_CARRY
        self.unmended: set = set()
        self.local: dict = {}  # unmended line -> the digits its own numbers take there, or None
        self._keys: dict = {}
        self.base: dict = {}  # key -> the digits a builder asked of the value (or the precision)
        self.given: set = set()  # keys of values some line gives (its result)
        self.lines = []  # (member items, result Value) of every member that combines numbers
        self.chain_of = []  # per line: (its chain, the member's first item, its end)
        self.keys_of = []  # per line: the keys of its numbers, then its result's
        self.lines_of: dict = {}  # key -> the lines that show it
        self._held: dict = {}  # (line, digits of its keys) -> whether it gives its result
        for c, chain in enumerate(chains):
            for item in chain.items:
                for number, digits in _numbers(item):
                    key = self.key(number)
                    if key is not None:
                        self.base[key] = max(self.base.get(key, precision), digits or precision)
            for s0, e0, r in _members(chain.items):
                member, result = chain.items[s0:e0], chain.items[r]
                keys = []
                for item in member:
                    for number, _ in _numbers(item):
                        key = self.key(number)
                        if key is not None and key not in keys:
                            keys.append(key)
                key = self.key(result.number)
                if key is not None:
                    self.given.add(key)
                for k in keys + [key]:
                    self.lines_of.setdefault(k, set()).add(len(self.lines))
                self.lines.append((member, result))
                self.chain_of.append((c, s0, e0))
                self.keys_of.append(tuple(keys) + (key,))  # the result's key last (None: exact)
        self.digits = self._settle()

    def key(self, number):
        """The value's identity (its magnitude to 15 digits), or None when its digits never change
        what is printed: a number shown exactly (0.3, 1/4), a short fraction (printed as one)."""
        try:
            return self._keys[number]
        except KeyError:
            pass
        except TypeError:
            return None
        key = None
        try:
            if isinstance(number, sp.Expr) and number.is_number and short_fraction(number) is None:
                low, high = format_number(number, self.precision), format_number(number, self.limit)
                if low != high and shown(number, self.limit) is not None:
                    key = format_number(abs(number), 15)
        except (TypeError, ValueError, ArithmeticError):
            key = None
        self._keys[number] = key
        return key

    def chain(self, c: int, chain):
        """Chain ``c`` with its planned digits; a line no shared digits mend shows its own numbers
        to the digits it needs, and says so (or, when none do, what its numbers give)."""
        items = list(self.annotated(chain).items)
        remarks = []
        for n, (at, s0, e0) in enumerate(self.chain_of):
            if at != c or n not in self.unmended:
                continue
            digits = self.local.get(n)
            if digits is not None:
                items[s0:e0] = [self.annotated(i, digits) for i in chain.items[s0:e0]]
                remarks.append(Remark(MORE_DIGITS))
            else:
                x = evaluate(tuple(self.annotated(i) for i in chain.items[s0:e0]), self.precision, self.precision)
                if x is not None:
                    result = self.lines[n][1]
                    key = self.key(result.number)
                    remarks.append(Remark(ROUNDED_GIVE, (Value(_number(x), self._digits(key, self.digits)
                                                                 if key is not None else result.digits),)))
        return Chain(*items, *remarks[:1])

    def raised(self, item):
        """``item`` (a sentence's math) with a value the lines show with more digits shown so."""
        if isinstance(item, Value):
            key = self.key(item.number)
            wanted = self.digits.get(key) if key is not None else None
            return Value(item.number, wanted) if wanted and wanted > (item.digits or self.precision) else item
        if isinstance(item, (Chain, Vector)):
            inner = tuple(self.raised(i) for i in item.items)
            return item if inner == item.items else (Chain(*inner) if isinstance(item, Chain)
                                                     else replace(item, items=inner))
        return item

    def _digits(self, key, digits) -> int:
        return digits.get(key, self.base.get(key, self.precision))

    def annotated(self, item, digits=None):
        """``item`` with every value that has a key printed with its planned digits."""
        digits = self.digits if digits is None else digits
        if isinstance(item, Chain):
            return Chain(*(self.annotated(i, digits) for i in item.items))
        if isinstance(item, Value):
            key = self.key(item.number)
            return item if key is None else Value(item.number, self._digits(key, digits))
        if isinstance(item, Product):
            return replace(item, factors=tuple(self.annotated(f, digits) for f in item.factors))
        if isinstance(item, Sum):
            return replace(item, terms=tuple(self.annotated(t, digits) for t in item.terms))
        if isinstance(item, Subst):
            return replace(item, values=tuple((symbol, self.annotated(Value(n), digits)
                                               if not isinstance(n, Value) and self.key(n) is not None
                                               else self.annotated(n, digits) if isinstance(n, Value) else n)
                                              for symbol, n in item.values))
        if isinstance(item, Vector):
            return replace(item, items=tuple(self.annotated(i, digits) for i in item.items))
        return item

    def holds(self, n: int, digits) -> bool:
        """Does line ``n``, printed with ``digits``, give its printed result?"""
        member, result = self.lines[n]
        state = (n, tuple(self._digits(k, digits) for k in self.keys_of[n]))
        known = self._held.get(state)
        if known is not None:
            return known
        x = evaluate(tuple(self.annotated(i, digits) for i in member), self.precision, self.precision)
        if x is None:
            held = True  # nothing to redo
        else:
            key = self.key(result.number)
            places = self._digits(key, digits) if key is not None else (result.digits or self.precision)
            held = reproduces(x, format_number(result.number, places))
        self._held[state] = held
        return held

    def _slots(self, n: int, digits, limit: int) -> list:
        """The keys of the numbers line ``n`` combines that may take a digit more, values no line
        gives (the given numbers, σ of a given input: no digits pass on from them) first."""
        slots = [k for k in self.keys_of[n][:-1] if self._digits(k, digits) < limit]
        return sorted(slots, key=lambda k: k in self.given)

    def _cost(self, trial, slots) -> int:
        """How many lines that show one of ``slots`` fail with ``trial``: the digits still to come."""
        lines = set().union(*(self.lines_of.get(k, ()) for k in slots))
        return sum(not self.holds(m, trial) for m in lines)

    def _mend(self, n: int, digits, limit: int | None = None) -> dict | None:
        limit = self.limit if limit is None else limit
        slots = self._slots(n, digits, limit)
        if not slots:
            return None
        for total in range(1, SEARCH + 1):
            found = []
            for added in _ways(total, len(slots)):
                trial = dict(digits)
                for key, more in zip(slots, added):
                    if more:
                        trial[key] = self._digits(key, digits) + more
                if all(self._digits(k, trial) <= limit for k in slots) and self.holds(n, trial):
                    found.append(trial)
            if found:  # the way that leaves the fewest other lines to mend; the first of equals
                return min(found, key=lambda t: self._cost(t, slots))
        trial = dict(digits)
        for _ in range(limit - self.precision):  # one more digit in each, until it holds
            for key in slots:
                trial[key] = min(self._digits(key, trial) + 1, limit)
            if self.holds(n, trial):
                break
        else:
            return None
        for key in reversed(slots):  # then as many taken back as can be: given values' first
            while self._digits(key, trial) > self._digits(key, digits):
                trial[key] = self._digits(key, trial) - 1
                if not self.holds(n, trial):
                    trial[key] += 1
                    break
        return trial

    def _settle(self) -> dict:
        """The digits; ``self.unmended``: the lines no digits within the limit mend. A line that
        gives its result at the document's digits, but not at the digits a later line asks of
        its numbers, is not sacrificed to that line: the later line is left unmended instead."""
        left_out: set = set()
        for _ in range(len(self.lines) + 1):
            digits, hopeless, cause = self._mended(left_out)
            more = set()
            for n in hopeless:
                if self.holds(n, {}):  # it held until another line asked more of its numbers
                    more |= {cause[k] for k in self.keys_of[n] if k in cause}
                else:  # no shared digits mend it: what it asked of its numbers goes too
                    more.add(n)
            if not more - left_out:
                break
            left_out |= more
        self.unmended = {n for n in range(len(self.lines)) if not self.holds(n, digits)}
        for n in self.unmended:  # its own numbers to more digits, in this line only
            self.local[n] = self._mend(n, digits, self.precision + MAX_CARRY)
        return digits

    def _mended(self, left_out: set):
        digits: dict = {}
        hopeless, cause = set(), {}  # cause: key -> the line that last gave it digits
        for _ in range(4 * MAX_CARRY * max(len(self.lines), 1)):
            changed = False
            for n in range(len(self.lines) - 1, -1, -1):
                if n in hopeless or n in left_out or self.holds(n, digits):
                    continue
                mended = self._mend(n, digits)
                if mended is None:
                    hopeless.add(n)
                    continue
                cause.update({k: n for k, d in mended.items() if d != digits.get(k)})
                digits, changed = mended, True
            if not changed:
                break
        return digits, hopeless, cause


def _ways(total: int, slots: int):
    """Every way of adding ``total`` digits over ``slots`` numbers, the fewest numbers first
    (one number given two digits before two given one), the earlier numbers first."""
    def parts(total, slots):
        if slots == 1:
            yield (total,)
            return
        for first in range(total, -1, -1):
            for rest in parts(total - first, slots - 1):
                yield (first,) + rest
    return sorted(parts(total, slots), key=lambda w: sum(1 for p in w if p))


def _members(items):
    """(first item, end, result index) of every member of a relation chain that combines numbers
    into the one value after the next = or ≈."""
    members, start = [], 0
    for i, item in enumerate(items):
        if isinstance(item, str) and item not in OPERATORS and item not in PRODUCT:
            members.append((start, i, item))
            start = i + 1
    members.append((start, len(items), None))
    for (s0, e0, relation), (s1, e1, _) in zip(members, members[1:]):
        member, result = items[s0:e0], items[s1:e1]
        if relation in EQUALITIES and member and len(result) == 1 and isinstance(result[0], Value) \
                and combines(member):
            yield s0, e0, s1


def _numbers(item):
    """(number, digits asked or None) of every number ``item`` shows: its values, nested ones,
    a substitution's numbers."""
    if isinstance(item, Value):
        yield item.number, item.digits
    elif isinstance(item, Subst):
        for _, number in item.values:
            yield from _numbers(number) if isinstance(number, Value) else ((number, None),)
    elif isinstance(item, (Product, Sum, Vector)):
        for inner in getattr(item, "factors", None) or getattr(item, "terms", None) or getattr(item, "items", ()):
            yield from _numbers(inner)
    elif isinstance(item, Chain):
        for inner in item.items:
            yield from _numbers(inner)


def _number(x):
    """A recomputed value (a Fraction or an ``mpf``) as a SymPy number."""
    if isinstance(x, Fraction):
        return sp.Rational(x.numerator, x.denominator)
    if isinstance(x, mpmath.mpf):
        return sp.Float(mpmath.nstr(x, 30), 30)
    return x


def _chain_at(sections, place):
    si, bi, ri = place
    math = sections[si].blocks[bi].math
    return math if ri is None else math.items[ri]


def _terminates(number, digits: int) -> bool:
    """Printed with ``digits`` the same as with fewer (1.6, −0.325): nothing to carry."""
    try:
        return Fraction(Decimal(format_number(number, digits))) == Fraction(int(number.p), int(number.q)) \
            if isinstance(number, sp.Rational) else False
    except ArithmeticError:
        return False


__all__ = ["Carried", "redo_rule", "carry_for", "member_carries", "reproduces", "shown", "short_fraction",
           "evaluate", "MAX_CARRY", "carried_across", "DigitPlan"]
