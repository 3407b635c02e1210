"""A derivation is data, not strings: the plain frozen dataclasses passed from the engine to the
renderers, and the small math objects (``Chain``, ``Value``, ``Subst``, ``Partial``) that every
printer knows how to print. Nothing here formats text."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

import sympy as sp

_EMPTY = MappingProxyType({})

# --- math objects (printed by derive.rendering.printing, one printer per format) -------------------------


@dataclass(frozen=True)
class Value:
    """A number shown under the display policy: exact when it terminates, else ≈ N digits
    (``digits`` significant digits instead of the document's precision, when given)."""

    number: sp.Expr
    digits: int | None = None


@dataclass(frozen=True)
class Subst:
    """``expr`` printed with its symbols replaced by numbers, *not* evaluated: 3 · 2 + 1."""

    expr: sp.Expr
    values: tuple  # ((symbol, number), ...)


@dataclass(frozen=True)
class Partial:
    """∂of/∂wrt: the direct partial derivative of one line with respect to one of its inputs, the
    others held fixed. ``direct`` marks one whose (of, wrt) is also shown as a total derivative
    (an L2 term: ∂L/∂w|direct = λw, next to the total dL/dw); printers then keep them apart."""

    of: str
    wrt: str
    direct: bool = False


@dataclass(frozen=True)
class Total:
    """d of/d wrt: the total derivative through every path of the graph (what gradient descent
    uses). Printed dL/dw, or ∂L/∂w under the notation preset ``total: "∂"``; with ``delta: true``
    the gradient with respect to a pre-activation is printed δ, unless ``abbreviate`` is False
    (where the document says what δ stands for)."""

    of: str
    wrt: str
    abbreviate: bool = True


@dataclass(frozen=True)
class Ordinal:
    """A layer, unit or step number as the builders count it (from 1), printed as the notation
    preset counts (from 0 under ``index_base: 0``)."""

    number: int


@dataclass(frozen=True)
class Product:
    """Factors shown side by side with ·, e.g. the chain rule ∂L/∂a · ∂a/∂z · ∂z/∂w.
    ``elide`` keeps the first and last few factors of a long product with "…" between."""

    factors: tuple
    elide: int = 0


@dataclass(frozen=True)
class Sum:
    """Terms shown with + between them (the sum over paths, or over a node's consumers)."""

    terms: tuple


@dataclass(frozen=True)
class Prime:
    """f'(arg) for the registry function called ``function``: σ'(z), ReLU'(z₁)."""

    function: str
    arg: sp.Expr


@dataclass(frozen=True)
class Vector:
    """Items side by side, separated by commas: ``(3125, 3125, 3125)``, or without brackets
    (``β₁, β₂``) when ``brackets`` is false."""

    items: tuple
    brackets: bool = True


@dataclass(frozen=True)
class Row:
    """Formulas shown on one line with a wide gap between them (two related rules)."""

    items: tuple


@dataclass(frozen=True)
class Note:
    """A short remark in words after a formula, printed upright: ``(clipped)``."""

    text: str


@dataclass(frozen=True)
class Remark:
    """A remark in brackets after a formula, words with math holes, the math printed as math:
    ``Remark("{0} by convention", (Chain(Prime("relu", 0), "=", 0),))`` reads
    (ReLU'(0) = 0 by convention)."""

    template: str
    math: tuple = ()


@dataclass(frozen=True, init=False)
class Chain:
    """A displayed relation chain: ``Chain(z, "=", expr, "=", Value(7))``. A ``=`` in front of a
    ``Value`` that is not shown exactly is printed as ≈."""

    items: tuple

    def __init__(self, *items):
        object.__setattr__(self, "items", tuple(items))


# --- the derivation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ForwardStep:
    """One node of the forward pass: ``name = expr = substituted = value``."""

    name: str
    expr: sp.Expr  # as written (display form), in the parents' symbols
    substituted: Subst | None
    value: sp.Expr | None  # exact; None in a symbolic derivation
    line: int | None
    parents: tuple


@dataclass(frozen=True)
class LocalStep:
    """One edge's local derivative ∂of/∂wrt: symbolic rule, numbers substituted, exact value."""

    of: str
    wrt: str
    symbolic: sp.Expr  # in the symbols of ``of``'s parents
    substituted: Subst | None
    value: sp.Expr | None
    justification: tuple  # of functions.Sentence
    at_kink: bool = False


@dataclass(frozen=True)
class PathTerm:
    """One path from ``wrt`` to the output: the product of its local derivatives."""

    nodes: tuple  # wrt, ..., output
    value: sp.Expr | None


@dataclass(frozen=True)
class AdjointStep:
    """Reverse-mode accumulation at one node: ∂L/∂node = Σ over consumers c of ∂L/∂c · ∂c/∂node."""

    node: str
    consumers: tuple  # names of the nodes that use ``node``
    value: sp.Expr


@dataclass(frozen=True)
class Update:
    """Gradient descent on one parameter: new = old − η · ∂L/∂p."""

    name: str
    old: sp.Expr
    lr: sp.Expr
    grad: sp.Expr
    new: sp.Expr


@dataclass(frozen=True)
class Derivation:
    """Everything a document shows about ∂output/∂wrt, step by step, and what it looks up around
    it: every value, every edge's local derivative, every node's total derivative. Documents read
    this, never the engine's evaluation.

    >>> import derive
    >>> d = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1).derivation("w")
    >>> d.output, d.wrt, d.total, d.value("z"), d.total_of("b"), d.local_step("a", "z").value
    ('L', 'w', 8, 7, 4, 1)
    >>> d.is_multipath("w"), d.substituted(d.forward[0].expr).values[0][1]
    (False, 1)
    """

    output: str
    wrt: str
    forward: tuple  # ForwardStep, in evaluation order
    local: tuple  # LocalStep for every edge on a path from wrt to output
    paths: tuple | None  # PathTerm for each path, None when there are too many to show
    adjoints: tuple  # AdjointStep, from the output back to wrt
    total: sp.Expr  # exact (or symbolic) ∂output/∂wrt
    update: Update | None
    # Read-only lookups around the focus (views, not copies: a derivation costs no more to make).
    values: MappingProxyType = field(default_factory=lambda: _EMPTY, compare=False, repr=False)  # name -> exact value
    totals: MappingProxyType = field(default_factory=lambda: _EMPTY, compare=False, repr=False)  # n -> ∂output/∂n
    edges: MappingProxyType = field(default_factory=lambda: _EMPTY, compare=False, repr=False)  # (of, wrt) -> LocalStep
    subs: MappingProxyType = field(default_factory=lambda: _EMPTY, compare=False, repr=False)  # Symbol -> value
    multipath: frozenset = field(default=frozenset(), compare=False, repr=False)  # >1 path to output
    symbolic: bool = field(default=False, compare=False)  # no values: a symbolic derivation

    def value(self, name: str) -> sp.Expr:
        """The exact value of an input or node (``d.value("z")``)."""
        return self.values[name]

    def total_of(self, name: str) -> sp.Expr:
        """The total derivative ∂output/∂name through every path (0 if the output does not
        depend on ``name``)."""
        return self.totals.get(name, sp.S.Zero)

    def local_step(self, of: str, wrt: str) -> LocalStep:
        """The local derivative ∂of/∂wrt of one edge of the graph (rule, substitution, value)."""
        return self.edges[(of, wrt)]

    def is_multipath(self, name: str) -> bool:
        """Whether ``name`` reaches the output along more than one path (its ∂output/∂name then
        differs from the direct partial of the output's own line)."""
        return name in self.multipath

    def at(self, expr: sp.Expr) -> sp.Expr:
        """The exact value of an expression in the graph's symbols (an activation's argument)."""
        return expr.xreplace(dict(self.subs))

    def substituted(self, expr: sp.Expr) -> Subst:
        """``expr`` with its symbols' values shown in place, not evaluated (3 · 2 + 1)."""
        return Subst(expr, tuple((s, self.subs[s]) for s in ordered_symbols(expr)))


@lru_cache(maxsize=4096)  # the same local derivatives and lines for every set of values
def ordered_symbols(expr: sp.Expr) -> tuple:
    """Free symbols in a deterministic order (by name): the order substitutions are shown in."""
    return tuple(sorted(expr.free_symbols, key=lambda s: s.name))


@dataclass(frozen=True)
class MatrixDerivation:
    """What a matrix document reads of a tensor example: every name's value and ∂output/∂name
    (tensors of the name's shape; read-only). Empty for a symbolic example (shapes, no values).

    >>> import derive
    >>> ex = derive.Example.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]})
    >>> d = ex.matrix_derivation()
    >>> d.output, d.values["z"].a.tolist(), d.gradients["W"].a.tolist()
    ('L', [[17], [39]], [[5, 6], [5, 6]])
    """

    output: str
    values: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    gradients: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
