"""Exact evaluation that stays defined and within budget: values substituted into an expression
bottom-up, every intermediate checked as it is computed.

``expr.xreplace(values)`` lets SymPy evaluate whatever appears: ``3**100000000`` (never finishes),
``sqrt(-1)`` (``I``, which ``relu`` then silently maps to 0 and ``max`` cannot compare), ``log(-1)``
(``I·π``). ``substitute`` rebuilds the expression one node at a time instead: a power's size is
estimated before SymPy computes it (``derive.core.budget``), and a node whose value is not a finite
real number raises ``Undefined`` naming that sub-expression — before any function (``max``,
``relu``, ``abs`` …) sees it.

>>> import sympy as sp
>>> x = sp.Symbol("x", real=True)
>>> substitute(sp.sqrt(x) + 1, {x: sp.Integer(4)})
3
>>> substitute(sp.Abs(sp.sqrt(x)), {x: sp.Integer(-1)})
Traceback (most recent call last):
...
derive.core.approx.Undefined: square root of a negative number (sqrt(x) with x = -1)
"""
from __future__ import annotations

import functools
import operator

import sympy as sp
from sympy import S

from . import budget
from .approx import Undefined

_BAD = (S.ComplexInfinity, S.NaN, S.Infinity, S.NegativeInfinity, S.ImaginaryUnit)
_BAD_SET = frozenset(_BAD)  # membership by hash: no SymPy equality test against each of them


def _negative_base_root(e) -> bool:
    """``(-8)**(1/3)`` and the like: SymPy's principal root is complex."""
    if not e.is_Pow:
        return False
    base, exponent = e.args
    return (exponent.is_Rational and not exponent.is_Integer and base.is_number
            and base.is_extended_negative is True)


def _describe(original, args, values_text: str) -> str:
    """Why ``original`` (rebuilt from ``args``) is undefined, in words a student knows."""
    shown = sp.sstr(original)
    where = f" ({shown}{values_text})"
    if original.is_Pow:
        base, exponent = args
        if exponent.is_number and exponent.is_negative and base == 0:
            return f"division by zero{where}"
        if exponent == S.Half:
            return f"square root of a negative number{where}"
        return f"fractional power of a negative number{where}"
    if isinstance(original, sp.log):
        return f"log of {'0' if args[0] == 0 else 'a negative number'}{where} (log needs a positive argument)"
    if original.is_Mul and any(a.is_Pow and a.exp.is_negative and a.base == 0 for a in args):
        return f"division by zero{where}"
    return f"not a finite real number{where}"


def _plain_real(x) -> bool:
    """``x`` is an exact number that SymPy's ``exp`` cannot simplify: a remembered value (an atom
    with an approximation) or a rational multiple of one. ``exp``'s own evaluation would look for
    ``log``, ``π·i`` and coefficients in it first, at a cost of ~0.2 ms each time."""
    parts = x.args if x.is_Mul else (x,)
    return all(p.is_Rational or getattr(p, "approx_mpf", None) is not None for p in parts) \
        and not x.is_Rational


def exp(x: sp.Expr) -> sp.Expr:
    """``sp.exp(x)`` for a real number ``x``, its finiteness settled as it is built. SymPy answers
    ``is_finite`` of an exponential at once, but asked ``is_infinite`` first (as every later
    power ``1/(1 + e^(−z))`` and product does) it tries the other facts in random order and often
    runs the costly ``is_algebraic`` test — most of the time of a deep sigmoid chain."""
    e = sp.exp(x, evaluate=not _plain_real(x))
    e.is_finite  # noqa: B018 — cached on the object, and it decides is_infinite too
    return e


def substitute(expr: sp.Expr, values: dict, culprit: str = "", kinks: list | None = None) -> sp.Expr:
    """``expr`` with ``values`` (symbol -> exact number) substituted, evaluated bottom-up; raises
    ``Undefined`` for a non-real or infinite intermediate and ``BudgetError`` for one too large.
    ``kinks``: if given, every root ``u**p`` (0 < p < 1, as sqrt) whose base ``u`` depends on a
    symbol and is 0 here is appended to it, as (the power, its base's symbols): its derivative is
    infinite there."""
    if expr in values:
        return values[expr]
    if not expr.args:
        return expr
    # iterative postorder: deep expressions do not touch the recursion limit
    done: dict = {}
    stack = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if not node.args:
            done[node] = values.get(node, node)
            continue
        if not expanded:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in done)
            continue
        args = [done[a] for a in node.args]
        if all(new is old for new, old in zip(args, node.args)):
            done[node] = node  # nothing substituted below: as it was
            continue
        if node.is_Pow:
            budget.check_power(args[0], args[1], culprit or (lambda: sp.sstr(node)))
            if args[0] == 0 and args[1].is_number and args[1].is_extended_negative:
                raise Undefined(_describe(node, args, _values_text(node, values)))
        if isinstance(node, sp.core.relational.Relational):
            result = _compare(node.rel_op, *args) if args[0].is_Rational and args[1].is_Rational \
                else type(node)(*args)
        elif node.func is sp.exp:
            result = exp(args[0])
        elif (node.is_Add or node.is_Mul) and all(a.is_Rational for a in args):
            # numbers only: Rational arithmetic, ten times faster than SymPy's Mul(*args), which
            # flattens and sorts as for symbols (the bulk of a neuron's forward pass)
            result = functools.reduce(operator.add if node.is_Add else operator.mul, args)
        else:
            result = node.func(*args)
        _check(node, args, result, values)
        if kinks is not None and node.is_Pow and args[0] == 0 and args[1].is_Rational \
                and 0 < args[1] < 1 and node.args[0].free_symbols:
            kinks.append((node, node.args[0].free_symbols))
        done[node] = result
    return done[expr]


def _compare(op: str, a: sp.Rational, b: sp.Rational):
    """``a op b`` for two exact rationals, as SymPy's relation would evaluate it (true or false),
    by integer arithmetic: SymPy's own evaluation asks the assumption system and approximates
    the difference, which made ReLU's gate the slowest step of a neuron's local derivatives."""
    left, right = int(a.p) * int(b.q), int(b.p) * int(a.q)  # denominators are positive
    holds = {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right,
             "==": left == right, "!=": left != right}[op]
    return sp.true if holds else sp.false


def _shown(symbol, value) -> str:
    """``a = 2/5``, or ``a ≈ -0.8312`` for an irrational value (whose own sstr is only its label)."""
    if value.is_Rational:
        return f"{symbol} = {sp.sstr(value)}"
    return f"{symbol} ≈ {sp.sstr(sp.N(value, 4))}"


def _values_text(node, values) -> str:
    used = sorted((s for s in node.free_symbols if s in values), key=lambda s: s.name)[:3]
    return "".join((" with " if i == 0 else ", ") + _shown(s, values[s]) for i, s in enumerate(used))


def _check(node, args, result, values) -> None:
    if result.is_Rational:
        budget.check_rational(result, lambda: sp.sstr(node))  # printed only if refused
        return
    if result in _BAD_SET or _negative_base_root(result) or any(
            a in _BAD_SET or _negative_base_root(a) for a in result.args):
        raise Undefined(_describe(node, args, _values_text(node, values)))
    if not result.free_symbols and result.has(*_BAD):
        raise Undefined(_describe(node, args, _values_text(node, values)))


def check_real(value: sp.Expr, culprit: str = "") -> sp.Expr:
    """``value`` if it is a finite real number (no ``I``, ``zoo``, ``nan``, complex roots)."""
    bad = value in _BAD or value.has(*_BAD) or any(
        _negative_base_root(e) for e in sp.preorder_traversal(value) if e.is_Pow)
    if bad:
        where = f" ({culprit})" if culprit else ""
        raise Undefined(f"{sp.sstr(value)} is not a finite real number{where}")
    return value


def domain(written: sp.Expr, values: dict) -> list:
    """Check ``written`` — a line as the user wrote it, built without SymPy's automatic
    simplification (``x/x``, ``sqrt(x)**2``, ``0*log(x)`` kept as they are) — at ``values``, every
    sub-expression bottom-up: raises ``Undefined`` for the first one that is undefined (which the
    simplified line may have cancelled away). Returns the roots whose derivative is infinite
    there (see ``substitute``'s ``kinks``), for the derivatives to refuse.

    >>> x = sp.Symbol("x", real=True)
    >>> domain(sp.Mul(x, sp.Pow(x, -1, evaluate=False), evaluate=False), {x: sp.Integer(0)})
    Traceback (most recent call last):
    ...
    derive.core.approx.Undefined: division by zero (1/x with x = 0)
    """
    kinks: list = []
    substitute(written, values, kinks=kinks)
    return kinks


def may_hide_undefined(written: sp.Expr, evaluated: sp.Expr) -> bool:
    """Whether simplification may have removed a partial operation (a division, a root or
    fractional power, a log) of ``written`` from ``evaluated``: only then is ``domain`` needed
    beyond evaluating ``evaluated`` itself.

    >>> x = sp.Symbol("x")
    >>> may_hide_undefined(sp.Mul(x, sp.Pow(x, -1, evaluate=False), evaluate=False), sp.S.One)
    True
    >>> may_hide_undefined(x + 1, x + 1)
    False
    """
    kept = None
    for e in sp.preorder_traversal(written):
        partial = (e.is_Pow and not (e.exp.is_Integer and e.exp >= 0)) or isinstance(e, sp.log)
        if partial and e.free_symbols:
            if kept is None:
                kept = set(sp.preorder_traversal(evaluated))
            if e not in kept:
                return True
    return False


__all__ = ["substitute", "check_real", "domain", "may_hide_undefined"]
