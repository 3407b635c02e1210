"""Textbook forms: after the mechanical chain-rule product, the simplified form a textbook states,
found and verified by SymPy — never looked up by activation or loss name.

* A local derivative written in terms of the unit's own output: σ'(z) = σ(z)(1 − σ(z)) = a(1 − a),
  tanh'(z) = 1 − tanh²(z) = 1 − a² (the node a = f(z) replaces f(z) wherever it appears).
* A product of local derivatives that cancels: with a sigmoid and binary cross-entropy,
  ∂L/∂a · ∂a/∂z = (a − y)/(a(1 − a)) · a(1 − a), which simplifies to ∂L/∂z = a − y.

Each form is kept only when SymPy confirms it equals the mechanical one (with every node replaced
by its definition) and it is shorter. The content layer states them ("which simplifies to …").
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ..core.functions import BY_CLASS

MAX_FACTORS = 8  # products longer than this are not searched (deep chains: nothing cancels)


@dataclass(frozen=True)
class TextbookForm:
    """∂of/∂wrt as derived (``mechanical``: the factors, output side first) and as a textbook
    writes it (``simplified``, in node names); ``cancelled`` names the factors that cancel
    (as (of, wrt) edges); ``value`` is the exact number (None when symbolic)."""

    of: str
    wrt: str
    mechanical: tuple
    simplified: sp.Expr
    cancelled: tuple = ()
    value: sp.Expr | None = None


def _outputs(ex) -> dict:
    """{f(z): a} for every node a = f(z) that is one registry application (or a power, e^z …)."""
    forms = {}
    for node in ex.graph.nodes.values():
        expr = node.expr
        if BY_CLASS.get(type(expr)) is not None or isinstance(expr, (sp.exp, sp.tanh)):
            forms[expr] = node.symbol
    return forms


def _definitions(ex) -> dict:
    """Node symbol -> its expression in the inputs (to verify a form by full substitution)."""
    graph = ex.graph
    full = {}
    for name, node in graph.nodes.items():
        full[node.symbol] = node.expr.xreplace(full)
    return full


def _equal(a: sp.Expr, b: sp.Expr, definitions: dict) -> bool:
    return _is_zero((a - b).xreplace(definitions))


# The symbolic work depends only on the graph's structure, not on its numbers: homework variants,
# training steps and repeated renders of one graph ask the same questions, so answers are cached.
@lru_cache(maxsize=2048)
def _is_zero(difference: sp.Expr) -> bool:
    """Whether a symbolic difference is identically zero. A cheap evaluation at fixed points rules
    out most candidates first; SymPy's simplify only runs on differences small enough to finish
    (unbounded, it factored for minutes inside a 2-2-1 network's product); a larger difference
    that vanishes at every probe point is taken as zero — the same answer on every machine."""
    probed = _vanishes_at_probes(difference)
    if probed is False:
        return False
    if sp.count_ops(difference) <= SIMPLIFY_MAX_OPS:
        for rewrite in (lambda e: e, lambda e: e.rewrite(sp.exp)):
            if sp.simplify(rewrite(difference)) == 0:
                return True
        return False
    return probed is True


SIMPLIFY_MAX_OPS = 60  # simplify on larger differences can run for minutes
# Probe points in (0, 1) for every symbol: inside every registry function's domain and the
# losses' (a prediction in (0, 1) for cross-entropy); irrational-looking so no identity holds by
# accident, fixed so the outcome never depends on the run.
_PROBES = ((sp.Rational(3, 7), sp.Rational(5, 11), sp.Rational(2, 13), sp.Rational(7, 9)),
           (sp.Rational(8, 17), sp.Rational(3, 19), sp.Rational(11, 23), sp.Rational(13, 29)),
           (sp.Rational(5, 31), sp.Rational(17, 37), sp.Rational(19, 41), sp.Rational(23, 43)))


def _vanishes_at_probes(difference: sp.Expr):
    """True if the difference is 0 (to 40 digits) at every probe point, False if it is clearly
    not at one, None if it cannot be evaluated there."""
    symbols = sorted(difference.free_symbols, key=lambda s: s.name)
    seen = False
    for probe in _PROBES:
        point = {s: probe[i % len(probe)] + sp.Rational(i // len(probe), 3)
                 for i, s in enumerate(symbols)}
        try:
            value = sp.N(difference.xreplace(point), 50)
        except (TypeError, ValueError, ZeroDivisionError, ArithmeticError):
            continue
        if value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            continue  # a pole at this point
        if not value.is_Number:
            real, imaginary = value.as_real_imag()
            if not (real.is_Number and imaginary.is_Number):
                return None  # a function SymPy cannot evaluate: leave it to simplify
            value = abs(real) + abs(imaginary)
        if abs(value) > sp.Float("1e-40", 50):
            return False
        seen = True
    return True if seen else None


@lru_cache(maxsize=4096)  # the same symbolic factors for every set of values
def _ops(expr) -> int:
    return sp.count_ops(expr)


def local_form(ex, step):
    """∂of/∂wrt of one edge rewritten in terms of ``of``'s own value, or None:
    ∂a/∂z = σ(z)(1 − σ(z)) -> a(1 − a)."""
    node = ex.graph.nodes[step.of]
    if BY_CLASS.get(type(node.expr)) is None and not isinstance(node.expr, (sp.exp, sp.tanh)):
        return None
    rewritten = step.symbolic.xreplace({node.expr: node.symbol})
    if rewritten == step.symbolic or rewritten.has(node.expr) or _ops(rewritten) >= _ops(step.symbolic):
        return None
    if not _equal(rewritten, step.symbolic, _definitions(ex)):
        return None
    return TextbookForm(step.of, step.wrt, (step.symbolic,), rewritten, (), step.value)


def product_form(ex, d):
    """The first product ∂L/∂n = ∂L/∂… · … · ∂…/∂n along a single path whose factors cancel,
    or None. Factors are taken in terms of the nodes (a for σ(z)), multiplied, and cancelled."""
    if d.paths is None or len(d.paths) != 1:
        return None
    path = d.paths[0].nodes
    edges = list(zip(path, path[1:]))[::-1][:MAX_FACTORS]  # (parent, child) from the output back
    outputs = _outputs(ex)
    factors = []
    for parent, child in edges:
        factors.append(d.local_step(child, parent).symbolic.xreplace(outputs))
        if len(factors) < 2:
            continue
        written = sum(_ops(f) for f in factors)
        best = _simplest(sp.Mul(*factors))
        if _ops(best) >= written or any(best.has(f) for f in outputs):
            continue
        mechanical = tuple(d.local_step(c, p).symbolic for p, c in edges[:len(factors)])
        if not _equal(best, sp.Mul(*mechanical), _definitions(ex)):
            continue
        cancelled = _cancelled(factors, edges)
        value = None if ex.symbolic else d.total_of(parent)
        return TextbookForm(d.output, parent, mechanical, best, cancelled, value)
    return None


@lru_cache(maxsize=2048)
def _simplest(product: sp.Expr) -> sp.Expr:
    """The shorter of the cancelled and the factored form of a product (a product too long to
    factor in time is left as it is: nothing a textbook would state cancels there)."""
    if _ops(product) > SIMPLEST_MAX_OPS:
        return product
    return min([sp.cancel(product), sp.factor(product)], key=_ops)


SIMPLEST_MAX_OPS = 120


def _cancelled(factors, edges) -> tuple:
    """The edges whose factor divides the product of the factors before it (σ' against BCE's
    denominator a(1 − a))."""
    out = []
    for k in range(1, len(factors)):
        before = sp.together(sp.Mul(*factors[:k]))
        denominator = sp.denom(before)
        if denominator == 1 or factors[k] == 1:
            continue
        quotient = sp.cancel(denominator / factors[k])
        if sp.denom(quotient) == 1:
            parent, child = edges[k]
            out.append((child, parent))
    return tuple(out)
