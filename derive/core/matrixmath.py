"""Math objects of matrix-form derivations (plain data; the printers in
``derive.rendering.printing`` write them): a matrix of exact numbers shown with its shape and,
when large, elided to its corners; matrix products written side by side; the elementwise product
⊙; the transpose; a sum over the batch; one entry of a matrix; a parameter after its update."""
from __future__ import annotations

from dataclasses import dataclass

MAX_SHOWN = 6  # rows or columns shown in full; beyond, the first 3 and the last 2 with dots


@dataclass(frozen=True)
class MatrixValue:
    """A matrix (or column vector) of exact numbers; ``rows`` is a tuple of tuples."""

    rows: tuple
    shape: tuple
    limit: int = MAX_SHOWN  # rows or columns shown in full

    @staticmethod
    def of(tensor, limit: int = MAX_SHOWN) -> "MatrixValue":
        """From a ``derive.core.tensor.Tensor`` (only the entries that will be shown are kept).
        ``limit`` up to 10 (LaTeX's bmatrix takes at most 10 columns): a small exercise's
        selection or band matrix shown whole."""
        a = tensor.a
        if getattr(a, "ndim", 2) > 2:  # an image or a kernel in one matrix: its slices' rows stacked
            a = a.reshape(-1, a.shape[-1])
        r, c = a.shape
        limit = min(limit, 10)
        keep_r = list(range(r)) if r <= limit else [0, 1, 2, r - 2, r - 1]
        keep_c = list(range(c)) if c <= limit else [0, 1, 2, c - 2, c - 1]
        return MatrixValue(tuple(tuple(a[i, j] for j in keep_c) for i in keep_r), (r, c), limit)

    def elided(self) -> tuple[bool, bool]:
        return self.shape[0] > self.limit, self.shape[1] > self.limit


@dataclass(frozen=True)
class MatProduct:
    """Matrix product, factors written side by side: W a + b."""

    factors: tuple


@dataclass(frozen=True)
class Hadamard:
    """Elementwise product ⊙."""

    factors: tuple


@dataclass(frozen=True)
class Transposed:
    """Transpose: aᵀ."""

    operand: object


@dataclass(frozen=True)
class BatchSum:
    """Σ over the examples of a batch (the columns): how a broadcast bias collects its gradient."""

    operand: object


@dataclass(frozen=True)
class Scaled:
    """``operand`` divided by a count (1/B of a batch mean): (p − y)/B."""

    operand: object
    divisor: object


@dataclass(frozen=True)
class Entry:
    """One entry of a named matrix, 1-based: W1[2,1]; with ``of``, the gradient ∂of/∂W1[2,1];
    ``more``: the further indices of an image's or a kernel's entry, k[1,2,3,1]."""

    name: str
    row: int
    column: int
    of: str = ""
    more: tuple = ()

    @property
    def indices(self) -> tuple:
        return (self.row, self.column, *self.more)


@dataclass(frozen=True)
class ShapeOf:
    """A shape, 3 × 2."""

    shape: tuple


@dataclass(frozen=True)
class Dots:
    """The terms left out of a long sum: … (text), ⋯ (LaTeX)."""


@dataclass(frozen=True)
class TensorCall:
    """A tensor function applied to its arguments (softmax(z2), CE(p, y)), named by its registry
    entry's LaTeX and Unicode spelling."""

    latex: str
    text: str
    args: tuple


@dataclass(frozen=True)
class Updated:
    """A parameter after one gradient-descent step: W⁽¹⁾ new, written as the scalar documents
    write w_new in LaTeX (a superscript (new))."""

    name: str
