"""Textbook notation as printable math objects: the pieces of general formulas (a norm, an
expectation, a sum over an index, a layer's unit) that are not functions of the registry. They
are SymPy objects, so they combine with ordinary SymPy arithmetic, and each is printed by the
one printer per format (``derive.rendering.printing``); nothing here formats text.

>>> from derive.rendering.printing import printer_for
>>> g, w, l = sp.symbols("g w l")
>>> print(printer_for("text").doprint(Norm(g) + Variance(Layered(w, l))))
‖g‖ + Var[w(l)]
>>> print(printer_for("latex").doprint(Norm(g) + Variance(Layered(w, l))))
\\lVert g \\rVert + \\operatorname{Var}[w^{(l)}]
"""
from __future__ import annotations

import sympy as sp


class Notation(sp.Function):
    """A notation node: never evaluated, never differentiated (it only stands for what it shows)."""

    @classmethod
    def eval(cls, *args):
        return None


class Norm(Notation):
    """‖x‖, the Euclidean length of a vector."""

    nargs = 1


class Expectation(Notation):
    """E[x], the mean of a random quantity."""

    nargs = 1


class Variance(Notation):
    """Var[x]."""

    nargs = 1


class StdDev(Notation):
    """std[x], the standard deviation."""

    nargs = 1


class Normal(Notation):
    """N(mean, variance), the normal distribution."""

    nargs = 2


class SumOver(Notation):
    """Σ over ``index`` (from ``lower`` to ``upper`` when given) of ``body``:
    ``SumOver(body, i)`` or ``SumOver(body, i, 1, n)``."""

    nargs = (2, 4)


class ProductOver(Notation):
    """∏ over ``index`` (from ``lower`` to ``upper`` when given) of ``body``."""

    nargs = (2, 4)


class Layered(Notation):
    """A quantity of layer ``layer`` (and unit ``index``): ``a^{(l)}_j`` in LaTeX, ``a(l)_j`` in
    text; a concrete layer prints like the network's own names (``δ1_2``)."""

    nargs = (2, 3)


class Indexed(Notation):
    """``base`` with a subscript: ``θ_{t−1}``, printed θₜ₋₁ in text where Unicode has the
    subscript characters."""

    nargs = 2


class Hat(Notation):
    """x̂: an estimate or a normalised quantity (m̂, v̂, x̂)."""

    nargs = 1


class Nabla(Notation):
    """∇x, the gradient (vector of partial derivatives) of x."""

    nargs = 1


class Ones(Notation):
    """𝟏, the vector (or matrix) of ones that sums a batch: ``Ones()``."""

    nargs = 0


class PartialOf(Notation):
    """∂of/∂wrt between two general quantities (∂z(l)/∂a(l−1)); the derivation's own
    ``Partial`` and ``Total`` name nodes of a graph."""

    nargs = 2


class TotalOf(PartialOf):
    """dof/dwrt through the whole graph between general quantities (∂L/∂z(l)_j): written with
    the notation preset's symbol for totals (∂ by default, d under ``total: d``)."""

    nargs = 2


class OneLine(Notation):
    """Cases written on one line, as a sentence quotes them: ``OneLine(Piecewise((r, |r| ≤ δ),
    (δ·sign(r), True)))`` reads r if |r| ≤ δ, else δ·sign(r) (a display writes the cases one
    below the other)."""

    nargs = 1


__all__ = ["Notation", "OneLine", "Norm", "Expectation", "Variance", "StdDev", "Normal", "SumOver",
           "ProductOver", "Layered", "Indexed", "Hat", "Nabla", "Ones",
           "PartialOf", "TotalOf"]
