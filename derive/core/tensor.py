"""Exact tensors: vectors and matrices whose entries are exact numbers, and the operations of the
tensor equation language, each with its vector–Jacobian product next to it.

Entries are SymPy numbers: a ``Rational`` where the value is rational, otherwise a ``Quantity``
(the scalar engine's exact atom: it stands for a shallow exact definition and carries a
high-precision approximation). For tensors the definitions are *lazy*: a ``LazyQuantity`` keeps a
recipe (``∂L/∂W1[2,1] = Σ_b δ1[2,b]·x[1,b]``) that builds its exact definition only when asked,
and a fixed-point approximation (an integer scaled by 2^PRECISION) computed for the whole tensor
at once by integer matrix products. That makes the cost follow the matrix sizes — a 784×64 weight
gradient is one integer matrix product — while every entry stays exact: its definition, expanded,
is the exact value, and the approximation decides signs (ReLU masks, max) as in the scalar engine.

Rational matrices are multiplied exactly through a common denominator (one integer matrix product).
A rational result stays a ``Rational``; where a product mixes in irrational entries, the entries
whose row and column are all rational are still computed exactly.

Shapes are 2-D (rows, columns): a list is a column vector (n, 1), a nested list a matrix
(row-major); a scalar is shape () and broadcasts. A mini-batch is a matrix whose columns are the
examples; a column vector broadcasts over the columns (a bias over a batch). Under the row
convention (``rows=True``: the examples are the rows, as in PyTorch) a list is a row vector and
broadcasts over the rows. An image is a C×H×W tensor and a kernel C_out×C_in×kh×kw (lists nested
three or four deep; the same object arrays); in a matrix product they stand for vec(·), their
entries row-major as one column (see "the layers of the language" below).

The operations of the language are ONE table (``TENSOR_OPS``: @, .T, negation, + − * / with
broadcasting, **, registry functions entry by entry, sum, mean, batch_mean, softmax, log_softmax
(along either axis), cross_entropy, conv1d, and the layers: conv2d, maxpool2d, avgpool2d,
embedding, flatten, feature_mean, layer_norm). Each entry declares its evaluation, its shape rule and its rule for each
operand's gradient as a formula object (∂L/∂W = δ xᵀ, g ⊙ f'(z), Σ_batch g …): documents print
that formula, and the reverse sweep evaluates the same formula with the operands' tensors
(``evaluate_formula``), so the printed VJP is the computed one. ``ShapeEvaluation`` infers every
shape once, from the table's shape rules; ``TensorEvaluation`` evaluates a tensor ``Graph`` and
sweeps back, with an optional hook that overrides a step's local VJP (mistake scenarios).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from math import lcm
from typing import Callable

import mpmath
import numpy as np
import sympy as sp
from mpmath.libmp import from_man_exp, to_fixed
from sympy import S
from sympy.core.expr import AtomicExpr

from .approx import Undefined, approx
from .derivation import Prime, Product, Sum
from .engine import Graph, Quantity, compact, gc_paused
from .errors import GraphError, InvalidValue
from .functions import FUNCTIONS, Indicator
from .matrixmath import BatchSum, Hadamard, MatProduct, Scaled, TensorCall, Transposed
from .notation import Ones
from .parser import BinOp, Call, Equation, Name, Neg, Num, Transpose

PRECISION = 320  # bits of the fixed-point approximations (≈ 96 decimal digits)
_TRUSTED = 1 << 170  # below 2^(170 − PRECISION) a fixed approximation is recomputed from the
# definition instead (it has too few significant bits left for display or sign decisions)


class ShapeError(GraphError):
    """Operands whose shapes do not fit (``W @ x`` with the wrong number of rows)."""


# --- lazy exact entries ------------------------------------------------------------------------


class LazyQuantity(Quantity):
    """A Quantity whose exact definition is built on demand from a recipe and whose approximation
    comes from a fixed-point integer (value ≈ fixed / 2^PRECISION)."""

    __slots__ = ("_recipe", "_fixed", "_definition", "_mpf")

    def __new__(cls, label: str, recipe: Callable[[], sp.Expr], fixed: int):
        obj = AtomicExpr.__new__(cls)
        obj.label = label
        obj._recipe, obj._fixed, obj._definition, obj._mpf = recipe, fixed, None, None
        obj._key = Quantity.unique_key()
        return obj

    @property
    def definition(self) -> sp.Expr:
        if self._definition is None:
            self._definition = self._recipe()
        return self._definition

    @property
    def approx_mpf(self):
        if self._mpf is None:
            if abs(self._fixed) >= _TRUSTED:
                self._mpf = mpmath.mp.make_mpf(from_man_exp(self._fixed, -PRECISION))
            else:  # tiny or cancelled: go back to the exact definition
                self._mpf = approx(self.definition)
        return self._mpf

    def __reduce__(self):
        return (Quantity, (self.label, self.definition, self.approx_mpf))


def fixed(e: sp.Expr) -> int:
    """The fixed-point approximation ``round(e · 2^PRECISION)`` (floor) of an exact entry."""
    if e.is_Rational:
        return (int(e.p) << PRECISION) // int(e.q)
    f = getattr(e, "_fixed", None)
    if f is not None:
        return f
    if isinstance(e, Quantity):
        return to_fixed(e.approx_mpf._mpf_, PRECISION)
    return to_fixed(approx(e)._mpf_, PRECISION)


def _entry(label: str, recipe: Callable[[], sp.Expr], fx: int) -> sp.Expr:
    return LazyQuantity(label, recipe, fx)


# --- tensor values -----------------------------------------------------------------------------


class Tensor:
    """An exact vector or matrix (2-D object array of SymPy numbers), or a scalar (shape ())."""

    __slots__ = ("a", "scalar", "_rational", "_ints", "_fixed", "index", "const", "_cache")

    def __init__(self, a: np.ndarray, scalar: bool = False, index: bool = False):
        self.a = a
        self.scalar = scalar
        self.index = index  # holds class indices (integers), not values to differentiate
        self.const = False  # a number written in the equations: takes no gradient
        self._rational = self._ints = self._fixed = None
        self._cache = None  # matrices built from this tensor (a kernel's band T(k)), by key

    def cached(self, key, build: Callable[[], "Tensor"]) -> "Tensor":
        """``build()`` once per key: the band matrix of a kernel serves the forward pass and
        the backward one."""
        if self._cache is None:
            self._cache = {}
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    @property
    def shape(self) -> tuple:
        return () if self.scalar else self.a.shape

    @property
    def size(self) -> int:
        return self.a.size

    def rational(self) -> np.ndarray:
        """Boolean array: which entries are Rationals."""
        if self._rational is None:
            self._rational = np.vectorize(lambda e: e.is_Rational, otypes=[bool])(self.a) \
                if self.a.size else np.zeros(self.a.shape, bool)
        return self._rational

    def all_rational(self) -> bool:
        return bool(self.rational().all())

    def ints(self) -> tuple[np.ndarray, int]:
        """(integer array, common denominator) of an all-rational tensor."""
        if self._ints is None:
            flat = self.a.ravel()
            den = lcm(*{int(e.q) for e in flat}) if flat.size else 1
            nums = np.empty(flat.size, dtype=object)
            nums[:] = [int(e.p) * (den // int(e.q)) for e in flat]
            self._ints = (nums.reshape(self.a.shape), den)
        return self._ints

    def fixed(self) -> np.ndarray:
        if self._fixed is None:
            out = np.empty(self.a.shape, dtype=object)
            out.ravel()[:] = [fixed(e) for e in self.a.ravel()] if self.a.size else []
            self._fixed = out
        return self._fixed

    def item(self) -> sp.Expr:
        return self.a[0, 0]

    def to_matrix(self) -> sp.Matrix | sp.Expr:
        """A SymPy Matrix (an N-d ``sympy.Array`` for a C×H×W image or a kernel), or a number."""
        if self.scalar:
            return self.item()
        if self.a.ndim > 2:
            return sp.ImmutableDenseNDimArray(list(self.a.ravel()), self.a.shape)
        return sp.Matrix(self.a.tolist())

    def __repr__(self):
        return f"Tensor{self.shape}"


def scalar(value: sp.Expr) -> Tensor:
    a = np.empty((1, 1), dtype=object)
    a[0, 0] = value
    return Tensor(a, scalar=True)


def from_entries(entries, shape: tuple) -> Tensor:
    """A tensor of shape ``shape`` ((), (r, c) or an N-d shape) from a flat list of exact
    entries (row-major)."""
    if shape == ():
        return scalar(entries[0])
    a = np.empty(_size(shape), dtype=object)
    a[:] = list(entries)
    return Tensor(a.reshape(shape))


def zeros(shape: tuple) -> Tensor:
    return from_entries([S.Zero] * _size(shape), shape)


def full(shape: tuple, value: sp.Expr) -> Tensor:
    return from_entries([value] * _size(shape), shape)


def reshaped(A: Tensor, shape: tuple) -> Tensor:
    """The same entries (row-major) in another shape: vec(x) of an image, or back."""
    if shape == ():
        return scalar(A.a.ravel()[0])
    t = Tensor(A.a.reshape(shape))
    if A._rational is not None:
        t._rational = A._rational.reshape(shape)
    if A._ints is not None:
        t._ints = (A._ints[0].reshape(shape), A._ints[1])
    return t


def vec(A: Tensor) -> Tensor:
    """An N-d tensor's entries as one column, row-major (channel by channel, row by row):
    how a C×H×W image enters a matrix product (T(k) vec(x))."""
    return A if A.scalar or A.a.ndim == 2 else reshaped(A, (A.size, 1))


def _from_ints(nums: np.ndarray, den: int) -> np.ndarray:
    out = np.empty(nums.shape, dtype=object)
    out.ravel()[:] = [sp.Rational(int(n), den) for n in nums.ravel()]
    return out


def shape_text(shape: tuple) -> str:
    if shape == ():
        return "a scalar"
    if len(shape) != 2:
        return f"a {'×'.join(map(str, shape))} tensor"
    r, c = shape
    if c == 1:
        return f"a column vector of {r}"
    return f"a {r}×{c} matrix"


# --- where an operation sits, for error messages -----------------------------------------------


@dataclass(frozen=True)
class Where:
    """The line and operand texts of an operation, so shape errors can quote the equation."""

    line: int | None
    texts: tuple = ()

    def prefix(self) -> str:
        return f"line {self.line}: " if self.line else ""

    def text(self, i: int, default: str) -> str:
        return self.texts[i] if i < len(self.texts) else default


# --- linear algebra ----------------------------------------------------------------------------


def _dot_recipe(arow: np.ndarray, bcol: np.ndarray) -> sp.Expr:
    return sp.Add(*[x * y for x, y in zip(arow, bcol) if x != 0 and y != 0])


def matmul_values(A: Tensor, B: Tensor, label: str) -> Tensor:
    """A @ B exactly: rational blocks by one integer product, the rest as lazy entries."""
    m, n = A.a.shape
    p = B.a.shape[1]
    if A.all_rational() and B.all_rational():
        (ai, da), (bi, db) = A.ints(), B.ints()
        return Tensor(_from_ints(ai.dot(bi), da * db))
    if A.all_rational():
        ai, da = A.ints()
        fx = ai.dot(B.fixed()) // da
    elif B.all_rational():
        bi, db = B.ints()
        fx = A.fixed().dot(bi) // db
    else:
        fx = A.fixed().dot(B.fixed()) >> PRECISION
    out = np.empty((m, p), dtype=object)
    rows = A.rational().all(axis=1)
    cols = B.rational().all(axis=0)
    if rows.any() and cols.any():  # entries built only from rationals are computed exactly
        sub_a, sub_b = Tensor(A.a[rows]), Tensor(B.a[:, cols])
        (ai, da), (bi, db) = sub_a.ints(), sub_b.ints()
        exact = _from_ints(ai.dot(bi), da * db)
        out[np.ix_(rows, cols)] = exact
    a_rows = [A.a[i] for i in range(m)]
    b_cols = [B.a[:, j] for j in range(p)]
    for i in range(m):
        for j in range(p):
            if rows[i] and cols[j]:
                continue
            out[i, j] = _entry(label, partial(_dot_recipe, a_rows[i], b_cols[j]), fx[i, j])
    return Tensor(out)


def transpose(A: Tensor) -> Tensor:
    if A.scalar:
        return A
    t = Tensor(A.a.T.copy())
    if A._rational is not None:
        t._rational = A._rational.T.copy()
    if A._ints is not None:  # a band matrix's integers, built once, serve its transpose too
        t._ints = (A._ints[0].T.copy(), A._ints[1])
    return t


# --- elementwise -------------------------------------------------------------------------------


def _expand(A: Tensor, shape: tuple) -> np.ndarray:
    if shape == ():
        return A.a
    return np.broadcast_to(A.a, shape)


def _fixed_binary(op: str, x: int, y: int, xr: bool, yr: bool, ex, ey) -> int:
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        if xr:
            return (int(ex.p) * y) // int(ex.q)
        if yr:
            return (x * int(ey.p)) // int(ey.q)
        return (x * y) >> PRECISION
    # division
    if y == 0:
        raise Undefined("division by zero")
    if yr:
        return (x * int(ey.q)) // int(ey.p)
    return (x << PRECISION) // y


def _binary_recipe(op: str, x, y):
    return {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y, "/": lambda: x / y}[op]()


def binary_values(op: str, A: Tensor, B: Tensor, shape: tuple, label: str) -> Tensor:
    xa, ya = _expand(A, shape).ravel(), _expand(B, shape).ravel()
    out = []
    for x, y in zip(xa, ya):
        xr, yr = x.is_Rational, y.is_Rational
        if xr and yr:
            if op == "/" and y == 0:
                raise Undefined("division by zero")
            out.append(_binary_recipe(op, x, y))
            continue
        if (op == "*" and ((xr and x == 0) or (yr and y == 0))) or (op == "/" and xr and x == 0):
            out.append(S.Zero)  # (a non-rational divisor is an exact non-zero atom)
            continue
        if op == "*" and ((xr and x == 1) or (yr and y == 1)):
            out.append(y if xr else x)
            continue
        if op in "+-" and yr and y == 0:
            out.append(x)
            continue
        if op == "+" and xr and x == 0:
            out.append(y)
            continue
        fx = _fixed_binary(op, fixed(x), fixed(y), xr, yr, x, y)
        out.append(_entry(label, partial(_binary_recipe, op, x, y), fx))
    return from_entries(out, shape)


def unbroadcast(G: Tensor, shape: tuple, label: str) -> Tensor:
    """Sum ``G`` over the axes along which an operand of ``shape`` was broadcast."""
    if G.shape == shape:
        return G
    if shape == ():
        return sum_all(G, label)
    out = G
    if shape[0] == 1 and G.a.shape[0] != 1:
        out = sum_axis(out, 0, label)
    if shape[1] == 1 and out.a.shape[1] != 1:
        out = sum_axis(out, 1, label)
    return out


def negate(A: Tensor, label: str = "−") -> Tensor:
    return binary_values("*", scalar(S.NegativeOne), A, A.shape, label)


def map_entries(A: Tensor, func: Callable[[sp.Expr], sp.Expr], label: str) -> Tensor:
    """Apply an exact scalar function to every entry (compact: Rational or Quantity)."""
    return from_entries([compact(label, func(e)) for e in A.a.ravel()], A.shape)


# --- reductions --------------------------------------------------------------------------------


def _sum_entries(entries, label: str) -> sp.Expr:
    entries = [e for e in entries if e != 0]
    if all(e.is_Rational for e in entries):
        return sp.Add(*entries) if entries else S.Zero
    fx = sum(fixed(e) for e in entries)
    if abs(fx) < _TRUSTED and _exactly_zero(entries):  # cancelled to rounding noise: when the
        # sum is provably 0 (Σ(p − y) over a softmax's axis: Σp = 1 exactly) it is 0, not 1e−72
        return S.Zero
    return _entry(label, partial(sp.Add, *entries), fx)


_UNWRAP_DEPTH = 4  # levels of sums and scalings opened by _exactly_zero (δ = (p − y)/B is two)


def _exactly_zero(entries) -> bool:
    """True when Σ entries is exactly 0 by a linear argument: the entries opened (a few levels
    of sums and rational multiples) into rational combinations of exact atoms, and every
    ratio e_k/T whose denominator T is a sum Σ e_k (a softmax output over its total) folded into
    a number when all of T's terms appear with proportional coefficients (Σ_k e_k/T = 1). No
    simplify: a combination that is not zero this way stays a sum (False)."""
    const, atoms, ratios = S.Zero, {}, {}
    stack = [(e, S.One, 0) for e in entries]
    while stack:
        e, c, depth = stack.pop()
        if e.is_Rational:
            const += c * e
            continue
        if isinstance(e, Quantity) and depth < _UNWRAP_DEPTH:
            d = e.definition
            if d.is_Add or d.is_Rational or (d.is_Mul and d.args[0].is_Rational):
                stack.append((d, c, depth + 1))
                continue
            ratio = _ratio(d)
            if ratio is not None:
                ratios.setdefault(ratio[1], {})
                ratios[ratio[1]][ratio[0]] = ratios[ratio[1]].get(ratio[0], S.Zero) + c
                continue
        if e.is_Add:
            stack.extend((a, c, depth) for a in e.args)
            continue
        if e.is_Mul and e.args[0].is_Rational:
            rest = e.func(*e.args[1:])
            stack.append((rest, c * e.args[0], depth))
            continue
        atoms[e] = atoms.get(e, S.Zero) + c
    for total, numerators in ratios.items():
        terms = _terms(total.definition)
        if terms is None or set(terms) != set(numerators):
            return False
        scale = {numerators[t] / terms[t] for t in terms}
        if len(scale) != 1:
            return False
        const += scale.pop()
    return const == 0 and all(c == 0 for c in atoms.values())


def _ratio(d):
    """(e, T) when ``d`` is e/T with T a Quantity defined as a sum; else None."""
    if not d.is_Mul or len(d.args) != 2:
        return None
    for num, den in (d.args, d.args[::-1]):
        if (den.is_Pow and den.exp == -1 and isinstance(den.base, Quantity)
                and den.base.definition.is_Add):
            return num, den.base
    return None


def _terms(d) -> dict | None:
    """A sum's terms as {atom: rational coefficient}, or None when it has a constant term."""
    terms = {}
    for a in d.args:
        if a.is_Rational:
            return None
        c, rest = (a.args[0], a.func(*a.args[1:])) if a.is_Mul and a.args[0].is_Rational else (S.One, a)
        terms[rest] = terms.get(rest, S.Zero) + c
    return terms


def sum_all(A: Tensor, label: str = "Σ") -> Tensor:
    if A.all_rational() and A.size > 16:
        nums, den = A.ints()
        return scalar(sp.Rational(int(sum(nums.ravel())), den))
    return scalar(_sum_entries(list(A.a.ravel()), label))


def sum_axis(A: Tensor, axis: int, label: str = "Σ") -> Tensor:
    """Sum over rows (axis 0, a row vector results) or over columns (axis 1: a column vector)."""
    a = A.a if axis == 1 else A.a.T
    entries = [_sum_entries(list(row), label) for row in a]
    return from_entries(entries, (len(entries), 1) if axis == 1 else (1, len(entries)))


def conv_windows(length: int, k: int, stride: int, padding: int) -> list[int]:
    """Start positions (0-based, into the unpadded input; negative inside the padding) of the
    windows of a 1-D convolution, as PyTorch places them."""
    span = length + 2 * padding
    return [s - padding for s in range(0, span - k + 1, stride)] if k <= span else []


# --- softmax and cross-entropy -----------------------------------------------------------------


def _columns(A: Tensor) -> list[list]:
    return [list(A.a[:, j]) for j in range(A.a.shape[1])]


def _from_columns(cols: list[list]) -> Tensor:
    a = np.empty((len(cols[0]), len(cols)), dtype=object)
    for j, col in enumerate(cols):
        a[:, j] = col
    return Tensor(a)


def _softmax_column(col: list) -> tuple[list, sp.Expr]:
    exps = [compact("exp", sp.exp(z)) for z in col]
    total = compact("Σexp", sp.Add(*exps))
    return [compact("softmax", e / total) for e in exps], total


def softmax_values(Z: Tensor, axis: int = 0) -> Tensor:
    """Softmax over each column (axis 0), or over each row (axis 1)."""
    if axis == 1:
        return transpose(softmax_values(transpose(Z)))
    return _from_columns([_softmax_column(col)[0] for col in _columns(Z)])


def targets(P: Tensor, Y: Tensor, where: Where, rows: bool = False) -> Tensor:
    """Y as a one-hot (or soft) target matrix of P's shape: Y itself when shapes agree, else one
    0-based class index per column of P (per row, when the examples are the rows)."""
    if not P.scalar and Y.shape == P.shape:
        return Y
    if rows and not P.scalar:
        return transpose(targets(transpose(P), Y, where))
    k, batch = P.a.shape if not P.scalar else (1, 1)
    indices = list(Y.a.ravel())
    if P.scalar or len(indices) != batch or (not Y.scalar and 1 not in Y.a.shape):
        raise ShapeError(f"{where.prefix()}cross_entropy({where.text(0, 'p')}, "
                         f"{where.text(1, 'y')}) needs y one-hot with p's shape "
                         f"({shape_text(P.shape)}) or one class index per column ({batch}), "
                         f"got {shape_text(Y.shape)}")
    a = np.empty((k, batch), dtype=object)
    a[:] = S.Zero
    for j, c in enumerate(indices):
        if not (c.is_Integer and 0 <= int(c) < k):
            raise ShapeError(f"{where.prefix()}class index {c} in {where.text(1, 'y')} is not a "
                             f"whole number from 0 to {k - 1} (indices are 0-based, as in PyTorch)")
        a[int(c), j] = S.One
    Y.index = True
    return Tensor(a)


# --- values from users -------------------------------------------------------------------------


def is_tensor_value(value) -> bool:
    """True for what the tensor language takes as a vector or matrix: lists, arrays, matrices,
    torch tensors of one or two dimensions."""
    from .numbers import from_torch
    array, dtype = from_torch(value)
    if dtype:  # a torch tensor: a scalar one is a number
        return array.ndim > 0
    return isinstance(value, (list, tuple, np.ndarray, sp.MatrixBase))


def _nested_list(a: np.ndarray):
    """A numpy array as nested lists of its own scalars (float32 entries kept as float32)."""
    return list(a) if a.ndim == 1 else [_nested_list(r) for r in a]


def tensor_value(value, name: str, rows: bool = False) -> Tensor:
    """A user's value as an exact Tensor: a number (scalar), a list (a column vector; a row with
    ``rows``, the convention whose examples are rows), a nested list (matrix, row-major), lists
    nested three or four deep (a C×H×W image, a C_out×C_in×kh×kw kernel), a numpy array (1-D:
    a vector as a list) or a SymPy matrix or array."""
    from .errors import InvalidValue
    from .numbers import to_exact as exact_number
    seen: dict = {}

    def to_exact(v, label):  # data repeats values (pixels, rounded weights): convert each once
        key = (type(v), v) if isinstance(v, (int, float, str)) else None
        if key is None:
            return exact_number(v, label)
        if key not in seen:
            seen[key] = exact_number(v, label)
        return seen[key]

    from .numbers import from_torch
    value = from_torch(value)[0]  # a torch tensor: the numpy array it holds
    if isinstance(value, sp.MatrixBase):
        value = value.tolist()
    if isinstance(value, sp.NDimArray):
        value = value.tolist()
    if isinstance(value, np.ndarray):
        if value.ndim > 4:
            raise InvalidValue(f"{name}: arrays of {value.ndim} dimensions are not supported; give "
                              f"a vector, a matrix, a C×H×W image or a C_out×C_in×kh×kw kernel")
        if value.ndim == 0:
            return scalar(to_exact(value, name))
        # float32 entries as the decimals they print as in their own precision, not widened
        value = value.tolist() if value.dtype.kind != "f" or value.dtype.itemsize >= 8 else \
            _nested_list(value)
    if _depth(value) > 2:
        return _nd_value(value, name, to_exact)
    if not isinstance(value, (list, tuple)):
        return scalar(to_exact(value, name))
    if not value:
        raise InvalidValue(f"{name}: the list is empty; give at least one number")
    nested = [isinstance(v, (list, tuple, np.ndarray)) for v in value]
    if any(nested) and not all(nested):
        raise InvalidValue(f"{name}: mixes numbers and lists; a matrix is a list of rows of equal "
                          f"length, a vector a list of numbers")
    rows_convention = rows
    if not any(nested):
        rows = [[to_exact(v, f"{name}[{i}]")] for i, v in enumerate(value)]
    else:
        width = {len(r) for r in value}
        if len(width) != 1 or 0 in width:
            raise InvalidValue(f"{name}: rows of different lengths {sorted(width)}; every row of a "
                              f"matrix needs the same number of entries")
        rows = []
        for i, r in enumerate(value):
            if any(isinstance(v, (list, tuple, np.ndarray)) for v in r):
                raise InvalidValue(f"{name}: lists nested more than two deep; give a matrix")
            rows.append([to_exact(v, f"{name}[{i}][{j}]") for j, v in enumerate(r)])
    a = np.empty((len(rows), len(rows[0])), dtype=object)
    a[:] = rows
    if rows_convention and not any(nested):
        a = a.reshape(1, len(rows))  # a vector is a row when the examples are the rows
    return Tensor(a)


def _depth(value) -> int:
    depth = 0
    while isinstance(value, (list, tuple, np.ndarray)) and len(value):
        depth += 1
        value = value[0]
    return depth


def _nd_value(value, name: str, to_exact) -> Tensor:
    """Lists nested three or four deep: a C×H×W image or a C_out×C_in×kh×kw kernel."""
    depth = _depth(value)
    if depth > 4:
        raise InvalidValue(f"{name}: lists nested {depth} deep; give at most a C_out×C_in×kh×kw "
                          f"kernel (four deep)")

    def shape_of(v, level):
        if level == depth:
            if isinstance(v, (list, tuple, np.ndarray)):
                raise InvalidValue(f"{name}: lists nested deeper in some places than in others")
            return ()
        if not isinstance(v, (list, tuple, np.ndarray)) or not len(v):
            raise InvalidValue(f"{name}: an empty or missing list inside a {depth}-deep value")
        inner = {shape_of(u, level + 1) for u in v}
        if len(inner) != 1:
            raise InvalidValue(f"{name}: lists of different lengths inside a {depth}-deep value; "
                              f"every channel needs the same rows and columns")
        return (len(v),) + inner.pop()

    shape = shape_of(value, 0)
    flat = np.array(value, dtype=object).reshape(-1)
    entries = [to_exact(v, f"{name}[{i}]") for i, v in enumerate(flat)]
    return from_entries(entries, shape)


# --- formulas: the printed rules, and their numbers ----------------------------------------------
#
# A rule is a formula object of derive.core.matrixmath / derivation (δ xᵀ, Wᵀδ, g ⊙ f'(z), Σ_batch g,
# p ⊙ (g − pᵀg) …), built by the table entry from its operands. Documents print it with the
# operands' names; the reverse sweep evaluates the same entry's formula with the operands bound
# to their tensors (``evaluate_formula``). So the VJP that is evaluated is the VJP that is printed.


ONES = Ones()


@dataclass(frozen=True)
class Applied(TensorCall):
    """A tensor function inside a rule (softmax(z), onehot(y), the band matrix T(k) of a
    convolution): printed as a TensorCall, evaluated by the function ``name`` of ``_APPLIED``
    with ``params`` (sizes, stride …) that are not printed."""

    name: str = ""
    params: tuple = ()


@dataclass(frozen=True)
class PrimeOf(Prime):
    """f'(z) of a registry function with its extra numeric arguments (leaky_relu's slope): printed
    as f'(z), evaluated entry by entry with those arguments."""

    extra: tuple = ()


def _T(x):
    """xᵀ, with (xᵀ)ᵀ written as x and (AB)ᵀ as BᵀAᵀ."""
    if isinstance(x, Transposed):
        return x.operand
    if isinstance(x, MatProduct):
        return MatProduct(tuple(_T(f) for f in reversed(x.factors)))
    if isinstance(x, sp.Basic) and x.is_number:
        return x
    return Transposed(x)


def _one(g) -> bool:
    return isinstance(g, sp.Basic) and g == 1


def _scale(g, local, scalar_side: bool):
    """g times a local factor: · when one side is a scalar, ⊙ entry by entry otherwise; a
    factor 1 dropped."""
    if _one(local):
        return g
    if _one(g):
        return local
    return Product((local, g)) if scalar_side else Hadamard((g, local))


def _negated(g):
    return Product((sp.Integer(-1), g))


def collect(g, shape: tuple, to: tuple):
    """The gradient ``g`` of a result of ``shape`` for an operand of shape ``to`` that was
    broadcast: summed over the batch (Σ_batch g, a bias column), over the rows (𝟏ᵀ g) or over
    every entry (𝟏ᵀ g 𝟏, a scalar)."""
    if shape == to or shape == ():
        return g
    if len(shape) != 2:  # an image's or a kernel's gradient summed over its broadcast axes
        axes = tuple(i for i, (n, m) in enumerate(zip(shape, to or (1,) * len(shape))) if n != m)
        letters = _AXIS_LETTERS[len(shape)]
        below = ",".join(letters[i] for i in axes)
        return Applied(rf"\sum_{{{below}}}", f"Σ_{below.replace(',', '')}", (g,), "sum_to", (to,))
    if to == () or to == (1, 1):
        if shape[1] == 1:
            return MatProduct((Transposed(ONES), g))
        if shape[0] == 1:
            return MatProduct((g, ONES))
        return MatProduct((Transposed(ONES), g, ONES))
    if to[1] == 1 and shape[1] != 1:
        g = BatchSum(g)
    if to[0] == 1 and shape[0] != 1:
        g = MatProduct((Transposed(ONES), g))
    return g


_AXIS_LETTERS = {3: "chw", 4: "ochw"}  # an image's axes (channel, height, width); a kernel's


def sum_to(G: Tensor, to: tuple) -> Tensor:
    """G summed over the axes along which an operand of shape ``to`` was broadcast."""
    if to == ():
        return sum_all(G)
    axes = tuple(i for i, (n, m) in enumerate(zip(G.a.shape, to)) if n != m)
    a = G.a
    out = np.empty(to, dtype=object)
    for index in np.ndindex(*to):
        cells = a[tuple(slice(None) if i in axes else index[i] for i in range(a.ndim))]
        out[index] = _sum_entries(list(np.asarray(cells).ravel()), "Σ")
    return Tensor(out)


def _derivative_rule(spec, extra: tuple):
    """f'(z) of a registry function, differentiated once (extra arguments fixed numbers)."""
    key = (spec.name, extra)
    if key not in _DERIVATIVES:
        _DERIVATIVES[key] = sp.diff(spec.function(_Z, *extra), _Z)
    return _DERIVATIVES[key]


_DERIVATIVES: dict = {}
_Z = sp.Symbol("z", real=True)


def local_derivative(spec, z, extra: tuple = ()):
    """f'(z) as a course writes it: short forms as SymPy gives them (the ReLU mask 𝟙[z > 0],
    1 − tanh²(z), σ(z)(1 − σ(z))); a piecewise or long one as the registry's rule applied,
    ELU'(z1), whose definition a document states once."""
    local = _derivative_rule(spec, tuple(extra))
    if spec.kind == "activation" and (len(local.atoms(Indicator)) > 1 or sp.count_ops(local) > 4):
        return PrimeOf(spec.name, z, tuple(extra))
    if not isinstance(z, sp.Symbol):
        return local.xreplace({_Z: z}) if isinstance(z, sp.Basic) else None
    key = (spec.name, tuple(extra), z)  # differentiated in z itself: SymPy orders terms by name
    if key not in _DERIVATIVES:
        _DERIVATIVES[key] = sp.diff(spec.function(z, *extra), z)
    return _DERIVATIVES[key]


def _entrywise(expr: sp.Expr, env: dict, label: str) -> Tensor:
    """A SymPy expression over the bound symbols, evaluated entry by entry (broadcasting)."""
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    if not symbols:
        return scalar(compact(label, expr))
    tensors = [env[s] for s in symbols]
    shape = ()
    for t in tensors:
        shape = _broadcast(shape, t.shape)
    if len(symbols) == 1:
        z, t = symbols[0], tensors[0]
        return from_entries([compact(label, expr.xreplace({z: e})) for e in _expand(t, shape).ravel()], shape)
    columns = [_expand(t, shape).ravel() for t in tensors]
    return from_entries([compact(label, expr.xreplace(dict(zip(symbols, vals)))) for vals in zip(*columns)],
                        shape)


def _broadcast(a: tuple, b: tuple) -> tuple:
    if a == ():
        return b
    if b == ():
        return a
    return tuple(max(x, y) for x, y in zip(a, b))


def _elementwise(op: str, A: Tensor, B: Tensor, label: str) -> Tensor:
    return binary_values(op, A, B, _broadcast(A.shape, B.shape), label)


def _is_ones(f) -> bool:
    return isinstance(f, Ones)


def _product(factors, env, shape, label) -> Tensor:
    """A matrix product whose first or last factor may be 𝟏 or 𝟏ᵀ (a sum, or a spread, along
    that side); ``shape`` is the result's, for a spread."""
    factors = list(factors)
    lead = trail = None
    if factors and isinstance(factors[0], Transposed) and _is_ones(factors[0].operand):
        lead, factors = "sum", factors[1:]
    elif factors and _is_ones(factors[0]):
        lead, factors = "spread", factors[1:]
    if factors and _is_ones(factors[-1]):
        trail, factors = "sum", factors[:-1]
    elif factors and isinstance(factors[-1], Transposed) and _is_ones(factors[-1].operand):
        trail, factors = "spread", factors[:-1]
    out = vec(evaluate_formula(factors[0], env, None, label))
    for f in factors[1:]:  # an image or a kernel enters a product as its column vec(·)
        out = matmul_values(out, vec(evaluate_formula(f, env, None, label)), label)
    if shape is not None and len(shape) > 2 and lead is None and trail is None:
        return reshaped(out, shape)  # T(k)ᵀ g: the column of an image's entries, as the image
    if lead == "sum":
        out = sum_axis(out, 0, label) if not out.scalar else out
    if trail == "sum":
        out = sum_axis(out, 1, label) if not out.scalar else out
    if lead == "spread" or trail == "spread":
        out = from_entries(list(_expand(out, shape).ravel()), shape)
    return out


def evaluate_formula(f, env: dict, shape: tuple | None = None, label: str = "∂") -> Tensor:
    """The numbers of a rule: ``f`` with its symbols bound to tensors in ``env`` (``shape``: the
    result's, where a vector of ones has to be spread to it).

    >>> g, x = sp.symbols("g x")
    >>> G, X = tensor_value([1, 2], "g"), tensor_value([3, 4], "x")
    >>> evaluate_formula(MatProduct((g, Transposed(x))), {g: G, x: X}).a.tolist()
    [[3, 4], [6, 8]]
    """
    if isinstance(f, sp.Basic):
        if f in env:
            return env[f]
        if f.is_number:
            return scalar(f)
        return _entrywise(f, env, label)
    if isinstance(f, MatProduct):
        out = _product(f.factors, env, shape, label)
    elif isinstance(f, Transposed):
        out = transpose(evaluate_formula(f.operand, env, None, label))
    elif isinstance(f, (Hadamard, Product)):
        if any(_is_ones(x) for x in f.factors):  # g·𝟏: a scalar spread over ``shape``
            rest = [x for x in f.factors if not _is_ones(x)]
            value = evaluate_formula(Product(tuple(rest)), env, None, label) if rest else scalar(S.One)
            return full(shape, value.item())
        out = evaluate_formula(f.factors[0], env, None, label)
        for x in f.factors[1:]:
            out = _elementwise("*", out, evaluate_formula(x, env, None, label), label)
    elif isinstance(f, Sum):
        out = evaluate_formula(f.terms[0], env, shape, label)
        for x in f.terms[1:]:
            out = _elementwise("+", out, evaluate_formula(x, env, shape, label), label)
    elif isinstance(f, Scaled):
        out = _elementwise("/", evaluate_formula(f.operand, env, shape, label),
                           evaluate_formula(f.divisor, env, None, label), label)
    elif isinstance(f, BatchSum):
        out = sum_axis(evaluate_formula(f.operand, env, None, label), 1, label)
    elif isinstance(f, PrimeOf):
        rule = _derivative_rule(FUNCTIONS[f.function], f.extra)
        return map_entries(evaluate_formula(f.arg, env, None, label), lambda e: rule.xreplace({_Z: e}),
                           f"{f.function}'")
    elif isinstance(f, Applied):
        out = _APPLIED[f.name](*[evaluate_formula(a, env, None, label) for a in f.args], *f.params)
    else:
        raise TypeError(f"not a rule formula: {f!r}")
    if shape == () and not out.scalar and out.a.shape == (1, 1):
        return scalar(out.item())
    return out


# --- the table of tensor primitives ----------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """Where a primitive is applied: its operands' shapes and the result's, the numbers written
    among its operands (None where an operand is not a number), the line and operand texts for
    messages, and the facts its rule depends on."""

    shapes: tuple
    out: tuple
    numbers: tuple
    where: Where
    function: object = None  # the registry entry applied entry by entry (relu, exp …)
    extra: tuple = ()  # its numeric arguments after the first (leaky_relu's slope)
    index: bool = False  # cross-entropy: y holds class indices, not one-hot columns
    one_hot: bool = True  # cross-entropy: every column of y sums to 1 (one-hot, or indices)
    rows: bool = False  # the batch convention: the examples are the rows (X @ W + b), not columns


@dataclass(frozen=True)
class TensorFunction:
    """One primitive of the tensor language, declared once: how to evaluate it, its shape rule,
    and its rule for the gradient of each operand — a formula object that documents print and the
    reverse sweep evaluates (``evaluate_formula``), so the printed VJP is the computed one.

    * ``shape(site)`` -> the result's shape (or raises ShapeError naming the operands);
    * ``evaluate(args, site)`` -> the result Tensor;
    * ``rule(g, i, site, operands, out)`` -> ∂/∂operand i as a formula of ``g`` (the gradient
      of the result), the operands' and the result's formulas (names in a document, bound
      symbols when evaluated); None where the operand takes no gradient;
    * ``fused(g, site, operands, out, logits)`` (cross-entropy) -> the gradient of the logits
      when its first operand is softmax(logits): δ = (p − y)/B at once;
    * ``averages(site)`` -> the count its gradient divides by (the 1/N of a mean), else None;
    * ``display(forms, tree)`` -> the forward form as a document writes it (W x + b, σ(z)).
    """

    name: str
    arity: int
    shape: Callable
    evaluate: Callable
    rule: Callable
    latex: str = ""
    unicode: str = ""
    torch: str = ""  # PyTorch spelling for the reference tests ({0}, {1} the arguments)
    description: str = ""
    defaults: tuple = ()
    layer: bool = False  # may be a layer's activation (mlp(activation=[…, "softmax"]))
    after_softmax: bool = False  # takes softmax(z) and gives z its gradient directly (p − y)
    fused: Callable | None = None
    averages: Callable | None = None
    operator: bool = False  # written as an operator (@, +, .T …), not called by name
    display: Callable | None = None  # (operands' formulas, tree) -> the written form; None: f(x, y)
    params: tuple = ()  # the arguments' names, for keyword arguments (conv2d(x, k, padding=1))
    composite: Callable | None = None  # (target, args, fresh) -> its steps, (name, tree, what)
    # each: a named composite (layer_norm) that the staging writes out line by line

    @property
    def min_arity(self) -> int:
        return self.arity - len(self.defaults)


TENSOR_OPS: dict[str, TensorFunction] = {}  # every primitive, operators and functions
TENSOR_FUNCTIONS: dict[str, TensorFunction] = {}  # those called by name in equations


def register_tensor_function(spec: TensorFunction) -> TensorFunction:
    TENSOR_OPS[spec.name] = spec
    if not spec.operator:
        TENSOR_FUNCTIONS[spec.name] = spec
    return spec


# --- shape rules --


def _same_shape(site: Site) -> tuple:
    return site.shapes[0]


def _matmul_shape(site: Site) -> tuple:
    a, b = site.shapes
    where = site.where
    if a == () or b == ():
        raise ShapeError(f"{where.prefix()}`@` multiplies vectors and matrices; "
                         f"{where.text(0 if a == () else 1, 'an operand')} is a scalar — use * "
                         f"to scale by a number")
    if a[1] != b[0]:
        left, right = where.text(0, "A"), where.text(1, "B")
        raise ShapeError(f"{where.prefix()}{left} @ {right} needs {right} with {a[1]} rows "
                         f"({left} is {a[0]}×{a[1]}), got {b[0]} (it is {b[0]}×{b[1]}); transpose "
                         f"one of them or fix the values")
    return (a[0], b[1])


def _transpose_shape(site: Site) -> tuple:
    s = site.shapes[0]
    return s if s == () else (s[1], s[0])


def _broadcast_shape_of(op: str):
    def shape(site: Site) -> tuple:
        a, b = site.shapes
        if a == ():
            return b
        if b == ():
            return a
        if len(a) != 2 or len(b) != 2:
            return _broadcast_nd(site, op, a, b)
        r = a[0] if a[0] == b[0] or b[0] == 1 else (b[0] if a[0] == 1 else None)
        c = a[1] if a[1] == b[1] or b[1] == 1 else (b[1] if a[1] == 1 else None)
        if r is None or c is None:
            where = site.where
            raise ShapeError(f"{where.prefix()}{where.text(0, 'the left side')} {op} "
                             f"{where.text(1, 'the right side')} needs equal shapes (or one that "
                             f"broadcasts: a scalar, a column vector over columns, a row over "
                             f"rows), got {shape_text(a)} and {shape_text(b)}")
        return (r, c)
    return shape


def _broadcast_nd(site: Site, op: str, a: tuple, b: tuple) -> tuple:
    """Entrywise operands of which one is an image or a kernel: equal ranks, each axis equal or
    1 in one of them (a channel bias is C×1×1)."""
    if len(a) == len(b) and all(x == y or 1 in (x, y) for x, y in zip(a, b)):
        return tuple(max(x, y) for x, y in zip(a, b))
    where = site.where
    raise ShapeError(f"{where.prefix()}{where.text(0, 'the left side')} {op} "
                     f"{where.text(1, 'the right side')} needs equal shapes (or one with 1 where the "
                     f"other is longer: a channel bias is C×1×1), got {shape_text(a)} and "
                     f"{shape_text(b)}")


def _vector_shape(what: str):
    def shape(site: Site) -> tuple:
        if site.shapes[0] == () or len(site.shapes[0]) != 2:
            raise ShapeError(f"{site.where.prefix()}{what} needs a vector (or a batch of vectors "
                             f"as columns, or as rows with axis=1); {site.where.text(0, 'its argument')} "
                             f"is {shape_text(site.shapes[0])}")
        if len(site.shapes) > 1 and site.numbers[1] not in (0, 1):
            raise ShapeError(f"{site.where.prefix()}{what}: axis must be written as 0 (over each "
                             f"column) or 1 (over each row), got {site.where.text(1, 'another value')}")
        return site.shapes[0]
    return shape


def _batch_mean_shape(site: Site) -> tuple:
    if site.shapes[0] == ():
        raise ShapeError(f"{site.where.prefix()}batch_mean needs a vector or a matrix (examples as "
                         f"columns, or rows under batch: rows); {site.where.text(0, 'its argument')} "
                         f"is a scalar")
    return (1, site.shapes[0][1]) if site.rows else (site.shapes[0][0], 1)


def _cross_entropy_shape(site: Site) -> tuple:
    p, y = site.shapes
    where = site.where
    if p != () and y == p:
        return ()
    batch = 1 if p == () else (p[0] if site.rows else p[1])
    count = 1 if y == () else y[0] * y[1]
    if p == () or len(p) != 2 or count != batch or (y != () and 1 not in y):
        raise ShapeError(f"{where.prefix()}cross_entropy({where.text(0, 'p')}, "
                         f"{where.text(1, 'y')}) needs y one-hot with p's shape "
                         f"({shape_text(p)}) or one class index per {'row' if site.rows else 'column'} "
                         f"({batch}), got {shape_text(y)}")
    return ()


def _conv_numbers(site: Site) -> tuple:
    numbers = site.numbers
    stride = int(numbers[2]) if len(numbers) > 2 and numbers[2] is not None else 1
    padding = int(numbers[3]) if len(numbers) > 3 and numbers[3] is not None else 0
    return stride, padding


def _conv_shape(site: Site) -> tuple:
    x, k = site.shapes[0], site.shapes[1]
    where = site.where
    if site.rows:  # refused rather than read along the wrong axis
        raise ShapeError(f"{where.prefix()}conv1d convolves each column (a batch of signals as "
                         f"columns), but this example's examples are rows (batch: rows): take the "
                         f"columns convention for it, or conv2d on a 1×1×n image")
    if x == () or k == () or k[1] != 1:
        raise ShapeError(f"{where.prefix()}conv1d(x, k) needs x a column (or a batch of columns) "
                         f"and k a column vector (the kernel), got {shape_text(x)} and "
                         f"{shape_text(k)}")
    stride, padding = _conv_numbers(site)
    starts = conv_windows(x[0], k[0], stride, padding)
    if not starts:
        raise ShapeError(f"{where.prefix()}conv1d: the kernel ({k[0]}) is longer than the padded "
                         f"input ({x[0] + 2 * padding})")
    return (len(starts), x[1])


# --- evaluation --


def _matmul(args, site):
    return matmul_values(args[0], args[1], "@")


def _binary(op: str):
    def evaluate(args, site):
        A, B = args
        try:
            return binary_values(op, A, B, site.out, op)
        except Undefined as reason:
            where = site.where
            raise Undefined(f"{where.prefix()}{where.text(0, 'x')} {op} {where.text(1, 'y')}: "
                            f"{reason}") from None
    return evaluate


def _power(args, site):
    A, B = args
    xa, ya = _expand(A, site.out).ravel(), _expand(B, site.out).ravel()
    try:
        return from_entries([compact("**", x ** y) for x, y in zip(xa, ya)], site.out)
    except Undefined as reason:
        where = site.where
        raise Undefined(f"{where.prefix()}{where.text(0, 'x')}**{where.text(1, 'y')}: {reason}") from None


def _apply(args, site):
    spec = site.function
    try:
        return map_entries(args[0], lambda e: spec.function(e, *site.extra), spec.name)
    except Undefined as reason:
        raise Undefined(f"{site.where.prefix()}{spec.name}({site.where.text(0, 'x')}): {reason}") from None


def _mean(args, site):
    A = args[0]
    return scalar(compact("mean", sum_all(A).item() / sp.Integer(A.size)))


def _batch_mean(args, site):
    A = args[0]
    n = sp.Integer(A.a.shape[0] if site.rows else A.a.shape[1])  # the examples: rows or columns
    return from_entries([compact("mean", e / n) for e in sum_axis(A, 0 if site.rows else 1, "Σ").a.ravel()],
                        site.out)


def axis_of(site) -> int:
    """The axis a softmax normalises over: the one written (``softmax(z, axis=1)``), else the
    classes' axis of the batch convention — 0 (each column) when the examples are columns, 1
    (each row) when they are rows."""
    if len(site.numbers) > 1 and site.numbers[1] is not None:
        return int(site.numbers[1])
    return 1 if site.rows else 0


def class_axis(site) -> int:
    """A cross-entropy's classes: down each column, or along each row under ``batch: rows``."""
    return 1 if site.rows else 0


def _softmax(args, site):
    return softmax_values(args[0], axis_of(site))


def _log_softmax_values(Z: Tensor, axis: int = 0) -> Tensor:
    if axis == 1:
        return transpose(_log_softmax_values(transpose(Z)))
    cols = []
    for col in _columns(Z):
        _, total = _softmax_column(col)
        log_total = compact("log Σexp", sp.log(total))
        cols.append([compact("log_softmax", z - log_total) for z in col])
    return _from_columns(cols)


def _log_softmax(args, site):
    return _log_softmax_values(args[0], axis_of(site))


def _cross_entropy(args, site):
    P, Y = args
    onehot = targets(P, Y, site.where, site.rows)
    n = sp.Integer(P.a.shape[0] if site.rows else P.a.shape[1])
    terms = []
    for p, y in zip(P.a.ravel(), onehot.a.ravel()):
        if y != 0:
            if p.is_Rational and p <= 0:
                raise Undefined(f"{site.where.prefix()}cross_entropy: log of {p} (p must be positive)")
            terms.append(compact("y log p", y * sp.log(p)))
    return scalar(compact("cross-entropy", -_sum_entries(terms, "Σ y log p") / n))


def _whole(t: Tensor, what: str, where: Where, least: int) -> int:
    v = t.item() if t.scalar else None
    if v is None or not v.is_Integer or v < least:
        raise ShapeError(f"{where.prefix()}conv1d: the {what} must be a whole number ≥ {least}, got "
                         f"{v if v is not None else shape_text(t.shape)}")
    return int(v)


def _conv_settings(args, site) -> tuple:
    stride = _whole(args[2], "stride", site.where, 1) if len(args) > 2 else 1
    padding = _whole(args[3], "padding", site.where, 0) if len(args) > 3 else 0
    return stride, padding


def band(K: Tensor, length: int, stride: int, padding: int) -> Tensor:
    """The banded matrix T(k) of a 1-D convolution: conv1d(x, k) = T(k) x."""
    k = K.a.shape[0]
    starts = conv_windows(length, k, stride, padding)
    a = np.empty((len(starts), length), dtype=object)
    a[:] = S.Zero
    for j, s in enumerate(starts):
        for m in range(k):
            if 0 <= s + m < length:
                a[j, s + m] = K.a[m, 0]
    return Tensor(a)


def correlate(X: Tensor, G: Tensor, k: int, stride: int, padding: int) -> Tensor:
    """∂L/∂k of o = conv1d(x, k): entry m sums G times the inputs kernel entry m met
    (Σ_j,b G[j,b]·x[j·stride + m − padding, b]), one integer product."""
    length, batch = X.a.shape
    starts = conv_windows(length, k, stride, padding)
    met = np.empty((k, len(starts) * batch), dtype=object)
    met[:] = S.Zero
    for j, s in enumerate(starts):
        for m in range(k):
            if 0 <= s + m < length:
                met[m, j * batch:(j + 1) * batch] = X.a[s + m, :]
    return matmul_values(Tensor(met), Tensor(G.a.reshape(len(starts) * batch, 1)), "∂conv/∂k")


def _conv1d(args, site):
    X, K = args[0], args[1]
    stride, padding = _conv_settings(args, site)
    return matmul_values(band(K, X.a.shape[0], stride, padding), X, "conv")


def _onehot(Y: Tensor, k: int) -> Tensor:
    return targets(zeros((k, 1 if Y.scalar else Y.size)), Y, Where(None))


_APPLIED = {"softmax": softmax_values, "onehot": _onehot, "band": band, "correlate": correlate,
            "log": lambda P: map_entries(P, sp.log, "log"), "sum_to": sum_to}


# --- the rules (each printed, and evaluated, as a formula) --


def _matmul_rule(g, i, site, operands, out):
    a, b = operands
    if i == 0:
        return MatProduct((g, _T(b)))
    return MatProduct((_T(a), g))


def _transpose_rule(g, i, site, operands, out):
    return _T(g)


def _negate_rule(g, i, site, operands, out):
    return _negated(g)


def _sum_rule(op: str):
    def rule(g, i, site, operands, out):
        g = collect(g, site.out, site.shapes[i])
        return _negated(g) if op == "-" and i == 1 else g
    return rule


def _times_rule(g, i, site, operands, out):
    other = operands[1 - i]
    return collect(_scale(g, other, site.shapes[1 - i] == () or site.out == ()), site.out, site.shapes[i])


def _divide_rule(g, i, site, operands, out):
    x, y = operands
    if i == 0:
        return collect(g if _one(y) else Scaled(g, y), site.out, site.shapes[0])
    scalar_side = site.out == ()  # −x/y² has the result's shape
    if isinstance(x, sp.Basic) and isinstance(y, sp.Basic):
        local = -x / y ** 2  # d(x/y)/dy = −x/y²
    else:
        local = _negated(Scaled(out, y))
    return collect(_scale(g, local, scalar_side), site.out, site.shapes[1])


def _power_rule(g, i, site, operands, out):
    x, c = operands
    scalar_side = site.out == ()  # the local derivative has the result's shape
    if not (isinstance(x, sp.Basic) and isinstance(c, sp.Basic)):
        raise NoRule("power of a compound base")
    if i == 0:  # the power rule: c·x^(c−1)
        local = sp.Mul(c, sp.Pow(x, c - 1, evaluate=False), evaluate=False) if c.is_number else c * x ** (c - 1)
    else:  # d(x^c)/dc = x^c·log x
        local = x ** c * sp.log(x)
    return collect(_scale(g, local, scalar_side), site.out, site.shapes[i])


def _apply_rule(g, i, site, operands, out):
    if i > 0:
        return None  # a written number (leaky_relu's slope)
    local = local_derivative(site.function, operands[0], site.extra)
    if local is None:
        raise NoRule("the derivative of a function of a compound argument")
    return _scale(g, local, site.out == ())


def _sum_all_rule(g, i, site, operands, out):
    return ONES if _one(g) else Product((g, ONES))


def _mean_rule(g, i, site, operands, out):
    return Scaled(_sum_all_rule(g, i, site, operands, out), sp.Integer(_size(site.shapes[0])))


def _batch_mean_rule(g, i, site, operands, out):
    if site.rows:
        return Scaled(MatProduct((ONES, g)), sp.Integer(site.shapes[0][0]))
    return Scaled(MatProduct((g, Transposed(ONES))), sp.Integer(site.shapes[0][1]))


def _softmax_rule(g, i, site, operands, out):
    """The softmax JVP p ⊙ (g − pᵀg), per column of a batch: p ⊙ (g − 𝟏ᵀ(p ⊙ g)); over rows
    (axis 1) p ⊙ (g − (p ⊙ g) 𝟏)."""
    if i > 0:
        return None  # the axis is a number
    p = out
    if axis_of(site) == 1:
        inner = MatProduct((g, _T(p))) if site.out[0] == 1 else MatProduct((Hadamard((p, g)), ONES))
    else:
        inner = MatProduct((_T(p), g)) if site.out[1] == 1 else MatProduct((Transposed(ONES), Hadamard((p, g))))
    return Hadamard((p, Sum((g, _negated(inner)))))


def _log_softmax_rule(g, i, site, operands, out):
    """log_softmax's: g − softmax(z) ⊙ (𝟏ᵀg), per column; g − softmax(z) ⊙ (g 𝟏) per row."""
    if i > 0:
        return None
    spec = TENSOR_OPS["softmax"]
    axis = axis_of(site)
    p = Applied(spec.latex, spec.unicode, (operands[0],), "softmax", (axis,) if axis else ())
    total = MatProduct((g, ONES)) if axis == 1 else MatProduct((Transposed(ONES), g))
    return Sum((g, _negated(Hadamard((p, total)))))


def _target(site, y):
    """The target as it enters p − y: y itself when one-hot, onehot(y) when it holds class
    indices (read literally, p − 2 would subtract the index); onehot(y)ᵀ when the examples are
    rows."""
    if site.index:
        if site.rows:
            return Transposed(Applied(r"\operatorname{onehot}", "onehot", (y,), "onehot", (site.shapes[0][1],)))
        return Applied(r"\operatorname{onehot}", "onehot", (y,), "onehot", (site.shapes[0][0],))
    return y


def _batch(site) -> int:
    return site.shapes[0][0] if site.rows else site.shapes[0][1]


def _over_batch(f, site):
    return f if _batch(site) == 1 else Scaled(f, sp.Integer(_batch(site)))


def _cross_entropy_rule(g, i, site, operands, out):
    p, y = operands
    if i == 0:  # ∂L/∂p = −y ⊘ p / B
        target = _target(site, y)
        if isinstance(target, sp.Basic) and isinstance(p, sp.Basic):
            local = -target / (_batch(site) * p)
        else:
            local = _over_batch(Scaled(_negated(target), p), site)
        return _scale(g, local, True)
    if site.index:
        return None  # class indices take no gradient
    return _scale(g, _over_batch(_negated(sp.log(p)) if isinstance(p, sp.Basic) else
                                 _negated(Applied(r"\log", "log", (p,), "log")), site), True)


def _cross_entropy_fused(g, site, operands, out, logits):
    """δ for the logits of p = softmax(z): (p − y)/B; with targets whose columns do not sum to 1,
    (p ⊙ 𝟏ᵀy − y)/B (rows: (p ⊙ y𝟏 − y)/B)."""
    p, y = operands
    y = _target(site, y)
    if site.one_hot:
        delta = Sum((p, _negated(y)))
    else:
        total = MatProduct((y, ONES)) if site.rows else MatProduct((Transposed(ONES), y))
        delta = Sum((Hadamard((p, total)), _negated(y)))
    return _scale(g, _over_batch(delta, site), True)


def _conv_rule(g, i, site, operands, out):
    if i > 1:
        return None  # stride and padding are numbers
    x, k = operands[0], operands[1]
    stride, padding = _conv_numbers(site)
    if i == 0:  # o = T(k) x, so ∂L/∂x = T(k)ᵀ g
        return MatProduct((Transposed(Applied("T", "T", (k,), "band", (site.shapes[0][0], stride, padding))), g))
    return Applied(r"\operatorname{corr}", "corr", (x, g), "correlate", (site.shapes[1][0], stride, padding))


def _size(shape) -> int:
    return 1 if shape == () else int(np.prod(shape))


class NoRule(Exception):
    """A form whose gradient has no matrix formula (a power of a compound base …)."""


# --- the written forms (W x + b, ReLU(z1), softmax(z2)) --


def _sympy(*forms) -> bool:
    return all(isinstance(f, sp.Basic) for f in forms)


def _display_sum(forms, tree, shapes):
    left, right = forms
    return Sum((left, right))


def _display_difference(forms, tree, shapes):
    left, right = forms
    return Sum((left, -right if _sympy(right) else _negated(right)))


def _display_product(forms, tree, shapes):
    # two tensors multiply entry by entry: written ⊙, never as a matrix product
    if shapes is not None and shapes(tree.left) != () and shapes(tree.right) != ():
        return Hadamard(tuple(forms))
    return sp.Mul(*forms, evaluate=False) if _sympy(*forms) else Product(tuple(forms))


def _display_quotient(forms, tree, shapes):
    return Scaled(*forms)


def _display_power(forms, tree, shapes):
    if _sympy(*forms):
        return sp.Pow(*forms, evaluate=False)
    return TensorCall(r"\operatorname{pow}", "pow", tuple(forms))


def _display_applied(forms, tree, shapes):
    spec = FUNCTIONS[tree.func]
    if not _sympy(*forms):  # a compound tensor argument: the function written by name, as math
        return TensorCall(spec.latex, spec.unicode, tuple(forms))
    args = list(forms)
    args += list(spec.defaults[len(args) - spec.min_arity:]) if len(args) < spec.arity else []
    return spec.function(*args, evaluate=False) if spec.name != "sqrt" else sp.sqrt(args[0])


def _display_axis(name: str, forms):
    """softmax(z): the axis is said in the document's words, not written as an argument."""
    spec = TENSOR_OPS[name]
    return TensorCall(spec.latex, spec.unicode, forms[:1])


_DISPLAYS = {"+": _display_sum, "-": _display_difference, "*": _display_product,
             "/": _display_quotient}


def display(tree, shapes=None):
    """An equation's right-hand side as math objects (W1 a + b, ReLU(z1), softmax(z2)), never as
    source code: each primitive's written form, from its table entry. ``shapes`` (a callable
    giving a sub-expression's shape) lets a product of two tensors be written ⊙.

    >>> from derive.core.parser import parse_equations
    >>> display(parse_equations("z = W @ x + b", {**FUNCTIONS, **TENSOR_FUNCTIONS})[0].tree)
    Sum(terms=(MatProduct(factors=(W, x)), b))
    """
    if isinstance(tree, Num):
        return tree.value
    if isinstance(tree, Name):
        return sp.Symbol(tree.id, real=True)
    op = primitive_of(tree)
    forms = tuple(display(a, shapes) for a in operands(tree))
    if op.display is None:
        return TensorCall(op.latex, op.unicode, forms)
    return op.display(forms, tree, shapes)


for _op, _name in (("+", "sum"), ("-", "difference"), ("*", "product"), ("/", "quotient")):
    register_tensor_function(TensorFunction(
        _op, 2, _broadcast_shape_of(_op), _binary(_op),
        _sum_rule(_op) if _op in "+-" else (_times_rule if _op == "*" else _divide_rule),
        description=f"entrywise {_name}, broadcasting a scalar, a column or a row", operator=True,
        display=_DISPLAYS[_op]))
register_tensor_function(TensorFunction(
    "@", 2, _matmul_shape, _matmul, _matmul_rule, description="matrix product", operator=True,
    display=lambda forms, tree, shapes: MatProduct(tuple(forms))))
register_tensor_function(TensorFunction(
    "T", 1, _transpose_shape, lambda args, site: transpose(args[0]), _transpose_rule,
    description="transpose", operator=True, display=lambda forms, tree, shapes: Transposed(forms[0])))
register_tensor_function(TensorFunction(
    "neg", 1, _same_shape, lambda args, site: negate(args[0]), _negate_rule,
    description="negation", operator=True, display=lambda forms, tree, shapes: _negated(forms[0])))
register_tensor_function(TensorFunction(
    "**", 2, _broadcast_shape_of("**"), _power, _power_rule, description="entrywise power",
    operator=True, display=_display_power))
register_tensor_function(TensorFunction(
    "apply", 1, _same_shape, _apply, _apply_rule,
    description="a registry function (relu, sigmoid, exp …) applied to every entry", operator=True,
    display=_display_applied))
register_tensor_function(TensorFunction(
    "softmax", 2, _vector_shape("softmax"), _softmax, _softmax_rule, r"\operatorname{softmax}",
    "softmax", "torch.softmax({0}, dim=int({1}))",
    "softmax over each column (axis=0; over each row with axis=1, the default under batch: rows): "
    "p_k = e^(z_k) / Σ_m e^(z_m)", defaults=(sp.Integer(0),), layer=True, params=("z", "axis"),
    display=lambda forms, tree, shapes: _display_axis("softmax", forms)))
register_tensor_function(TensorFunction(
    "log_softmax", 2, _vector_shape("log_softmax"), _log_softmax, _log_softmax_rule,
    r"\operatorname{log\,softmax}", "log_softmax", "torch.log_softmax({0}, dim=int({1}))",
    "log of the softmax, per column (axis=0) or per row (axis=1): z_k − log Σ_m e^(z_m)",
    defaults=(sp.Integer(0),), layer=True, params=("z", "axis"),
    display=lambda forms, tree, shapes: _display_axis("log_softmax", forms)))
register_tensor_function(TensorFunction(
    "sum", 1, lambda site: (), lambda args, site: sum_all(args[0]), _sum_all_rule, r"\sum", "Σ",
    "torch.sum({0})", "sum of every entry"))
register_tensor_function(TensorFunction(
    "mean", 1, lambda site: (), _mean, _mean_rule, r"\operatorname{mean}", "mean",
    "torch.mean({0})", "mean of every entry", averages=lambda site: _size(site.shapes[0])))
register_tensor_function(TensorFunction(
    "batch_mean", 1, _batch_mean_shape, _batch_mean, _batch_mean_rule,
    r"\operatorname{mean}_{\mathrm{batch}}", "mean_batch", "torch.mean({0}, dim=1, keepdim=True)",
    "mean over the batch (the columns) of each row; of each column under batch: rows",
    averages=lambda site: site.shapes[0][0 if site.rows else 1]))
register_tensor_function(TensorFunction(
    "conv1d", 4, _conv_shape, _conv1d, _conv_rule, r"\operatorname{conv1d}", "conv1d",
    "torch.nn.functional.conv1d({0}.T.unsqueeze(1), {1}.T.unsqueeze(0), stride=int({2}), "
    "padding=int({3})).squeeze(1).T",
    "1-D convolution (cross-correlation) of each column with a kernel column; stride, padding",
    defaults=(sp.Integer(1), sp.Integer(0)), params=("x", "k", "stride", "padding")))
register_tensor_function(TensorFunction(
    "cross_entropy", 2, _cross_entropy_shape, _cross_entropy, _cross_entropy_rule, r"\operatorname{CE}",
    "CE", "-(({1}) * torch.log({0})).sum() / ({0}).shape[1]",
    "cross-entropy of probabilities p (columns) and targets y (one-hot, or a 0-based class index "
    "per column), averaged over the batch", after_softmax=True, fused=_cross_entropy_fused,
    averages=_batch))


# --- the tensor evaluator of a Graph ------------------------------------------------------------


def source_text(tree) -> str:
    """A short text of a sub-expression, for error messages (``W @ x``, ``(a - y)``)."""
    if isinstance(tree, Num):
        return tree.text
    if isinstance(tree, Name):
        return tree.id
    if isinstance(tree, Transpose):
        inner = source_text(tree.operand)
        return f"{inner}.T" if isinstance(tree.operand, (Name, Call)) else f"({inner}).T"
    if isinstance(tree, Neg):
        return f"-{source_text(tree.operand)}"
    if isinstance(tree, Call):
        return f"{tree.func}({', '.join(source_text(a) for a in tree.args)})"
    left, right = source_text(tree.left), source_text(tree.right)
    left = f"({left})" if isinstance(tree.left, BinOp) and tree.op not in "+-" else left
    right = f"({right})" if isinstance(tree.right, BinOp) else right
    return f"{left} {tree.op} {right}"


def primitive_of(tree) -> TensorFunction | None:
    """The table entry a syntax-tree node applies (None for a name or a number)."""
    if isinstance(tree, BinOp):
        return TENSOR_OPS.get(tree.op)
    if isinstance(tree, Transpose):
        return TENSOR_OPS["T"]
    if isinstance(tree, Neg):
        return TENSOR_OPS["neg"]
    if isinstance(tree, Call):
        return TENSOR_FUNCTIONS.get(tree.func, TENSOR_OPS["apply"])
    return None


def operands(tree) -> tuple:
    """The operand sub-trees of a syntax-tree node."""
    if isinstance(tree, BinOp):
        return (tree.left, tree.right)
    if isinstance(tree, Call):
        return tree.args
    if isinstance(tree, (Neg, Transpose)):
        return (tree.operand,)
    return ()


_operands = operands


class ShapeEvaluation:
    """Shapes of every node and sub-expression from the inputs' shapes alone, by the table's
    shape rules: the one shape inference, used by a symbolic matrix derivation (no values) and
    first of all by the evaluation with numbers (so both give the same messages).

    >>> from derive.core.parser import parse_equations
    >>> g = Graph(parse_equations("z = W @ x + b\\nL = sum(z)", {**FUNCTIONS, **TENSOR_FUNCTIONS}), tensor=True)
    >>> ShapeEvaluation(g, {"W": [3, 2], "x": [2], "b": [3]}).shapes["z"]
    (3, 1)
    """

    def __init__(self, graph: Graph, shapes: dict, given: dict | None = None, rows: bool = False):
        """``given``: the input tensors, when the shapes come from values (their numbers decide
        what a shape cannot: a function's numeric argument held in a name). ``rows``: the batch
        convention whose examples are the rows (softmax and cross-entropy along each row)."""
        if given is None:
            unknown = [k for k in shapes if k not in graph.inputs]
            if unknown:
                raise InvalidValue(f"shapes given for unknown name(s) {', '.join(map(repr, unknown))}; "
                                   f"the inputs are: {', '.join(graph.inputs)}")
            missing = [n for n in graph.inputs if n not in shapes]
            if missing:
                raise InvalidValue(f"missing shape(s) for {', '.join(missing)}; give every input a "
                                   f"shape, e.g. `{missing[0]}: [3, 1]`")
            shapes = {n: _shape_of_given(n, shapes[n], rows) for n in graph.inputs}
        self.graph = graph
        self.given = given
        self.rows = rows
        self.shapes: dict[str, tuple] = dict(shapes)
        self.sites: dict[int, Site] = {}  # id(sub-tree) -> its Site
        self._of: dict[int, tuple] = {}  # id(sub-tree) -> its shape
        for eq in graph.equations:
            self.shapes[eq.name] = self._shape(eq.tree, eq)

    def of(self, tree) -> tuple:
        """The shape of a sub-expression of one of the graph's equations."""
        if isinstance(tree, Num):
            return ()
        if isinstance(tree, Name):
            return self.shapes[tree.id]
        return self._of[id(tree)]

    def site(self, tree) -> Site:
        """The Site of a sub-expression (shapes, numbers, facts) its rule reads."""
        return self.sites[id(tree)]

    def _shape(self, tree, eq: Equation) -> tuple:
        if isinstance(tree, Num):
            return ()
        if isinstance(tree, Name):
            return self.shapes[tree.id]
        args = operands(tree)
        shapes = tuple(self._shape(a, eq) for a in args)
        numbers = tuple(a.value if isinstance(a, Num) else None for a in args)
        where = Where(eq.line, tuple(source_text(a) for a in args))
        spec = primitive_of(tree)
        if spec is None:
            raise GraphError(f"line {eq.line}: comparisons are not allowed in equations")
        site = Site(shapes, (), numbers, where, rows=self.rows)
        if spec.name == "apply":
            site = self._applied(tree, eq, site)
        if spec.after_softmax:
            site = replace(site, index=shapes[0] != () and shapes[1] != shapes[0])
        shape = spec.shape(site)
        site = replace(site, out=shape)
        self.sites[id(tree)] = site
        self._of[id(tree)] = shape
        return shape

    def _applied(self, tree, eq: Equation, site: Site) -> Site:
        """A registry function: its numeric arguments after the first, with their defaults."""
        spec = FUNCTIONS[tree.func]
        extra = []
        for i, a in enumerate(tree.args[1:], start=1):
            value = a.value if isinstance(a, Num) else None
            if value is None and self.given is not None and isinstance(a, Name) and site.shapes[i] == ():
                value = self.given[a.id].item() if a.id in self.given else None
            if site.shapes[i] != () and spec.over_entries and len(tree.args) == 2:
                # a one-output loss handed a matrix target: the spelling over every entry
                written = [source_text(b) for b in tree.args]
                written = [w if w.isidentifier() else f"({w})" for w in written]
                raise GraphError(f"line {eq.line}: `{tree.func}` takes one prediction and one "
                                 f"target, and `{source_text(a)}` is {shape_text(site.shapes[i])}"
                                 f"; for the loss over every entry write "
                                 f"`{spec.over_entries.format(*written)}`")
            if site.shapes[i] != () or value is None or not value.is_Rational:
                raise GraphError(f"line {eq.line}: argument {i + 1} of `{tree.func}` must be a "
                                 f"number (it is applied to every entry of the first)")
            extra.append(value)
        n = len(tree.args)
        extra += list(spec.defaults[n - spec.min_arity:]) if n < spec.arity else []
        return replace(site, function=spec, extra=tuple(extra))


@dataclass
class TapeStep:
    """One primitive applied in the forward pass: its table entry and Site, its operand and
    result tensors, and the operands' formulas for its rule (numbers where written)."""

    op: TensorFunction
    site: Site
    inputs: tuple
    out: Tensor
    tree: object
    fused: Tensor | None = None  # cross-entropy of softmax(z): z, which gets δ directly


_G = sp.Symbol("∂out", real=True)
_OUT = sp.Symbol("out", real=True)
_ARGS = tuple(sp.Symbol(f"x{i}", real=True) for i in range(8))
_LOGITS = sp.Symbol("logits", real=True)


def step_operands(step: TapeStep) -> tuple:
    """The operands as the evaluated rule names them: a written number as itself, else a
    symbol bound to the operand's tensor."""
    return tuple(n if n is not None else _ARGS[i] for i, n in enumerate(step.site.numbers))


def step_env(step: TapeStep, G: Tensor) -> dict:
    env = {_G: G, _OUT: step.out}
    for i, t in enumerate(step.inputs):
        env[_ARGS[i]] = t
    if step.fused is not None:
        env[_LOGITS] = step.fused
    return env


def local_vjp(step: TapeStep, G: Tensor) -> tuple[list, Tensor | None]:
    """The entry's own VJP of one step: the gradient of each operand (None where it takes none)
    and, for cross-entropy of a softmax, the logits' — by evaluating its rule."""
    env = step_env(step, G)
    args = step_operands(step)
    grads = []
    for i, t in enumerate(step.inputs):
        if t.const or t.index:
            grads.append(None)
            continue
        formula = step.op.rule(_G, i, step.site, args, _OUT)
        grads.append(None if formula is None else
                     evaluate_formula(formula, env, step.site.shapes[i], f"∂/∂{step.site.where.text(i, 'x')}"))
    fused = None
    if step.fused is not None:
        fused = evaluate_formula(step.op.fused(_G, step.site, args, _OUT, _LOGITS), env,
                                 step.fused.shape, "δ")
    return grads, fused


def evaluate_step_formula(step: TapeStep, G: Tensor, build, shape: tuple) -> Tensor:
    """The numbers of a formula about one step, ``build(g, operands, out, logits)`` (the
    symbols the step's own rule uses), at the step's tensors: how an override states its
    altered rule as a formula too."""
    return evaluate_formula(build(_G, step_operands(step), _OUT, _LOGITS), step_env(step, G), shape)


class TensorEvaluation:
    """Exact forward tensors and reverse-mode gradients of a tensor Graph at given values."""

    def __init__(self, graph: Graph, values: dict, rows: bool = False, lines: dict | None = None):
        """``rows``: the batch convention whose examples are the rows (a list is then a row
        vector, and softmax and cross-entropy go along each row). ``lines`` (optional): tensors
        that stand for some lines' values instead of computing them (a student's own forward
        values, as checking carries them forward)."""
        self.graph = graph
        self.values: dict[str, Tensor] = {}
        for name in graph.inputs:
            v = values[name]
            self.values[name] = v if isinstance(v, Tensor) else tensor_value(v, name, rows)
        self.structure = ShapeEvaluation(graph, {n: t.shape for n, t in self.values.items()},
                                         given=self.values, rows=rows)
        self.tape: list[TapeStep] = []
        self.produced_by: dict[int, TapeStep] = {}
        self._adjoints: dict[str, dict[str, Tensor]] = {}
        with gc_paused():
            for eq in graph.equations:
                if lines and eq.name in lines:
                    self.values[eq.name] = lines[eq.name]
                    continue
                try:
                    self.values[eq.name] = self._eval(eq.tree)
                except Undefined as reason:
                    raise InvalidValue(f"line {eq.line}: `{eq.name} = {eq.source}` is undefined at "
                                       f"the given values: {reason}; change the values or the "
                                       f"equation") from None

    @property
    def shapes(self) -> dict:
        return self.structure.shapes

    # -- forward --

    def _eval(self, tree) -> Tensor:
        if isinstance(tree, Num):
            t = scalar(tree.value)
            t.const = True
            return t
        if isinstance(tree, Name):
            return self.values[tree.id]
        args = tuple(self._eval(a) for a in operands(tree))
        op = primitive_of(tree)
        site = self.structure.site(tree)
        fused = None
        if op.after_softmax:
            producer = self.produced_by.get(id(args[0]))
            if (producer is not None and producer.op.name == "softmax"
                    and axis_of(producer.site) == class_axis(site)):
                fused = producer.inputs[0]  # the pair is differentiated at once
            if site.index is False and not args[1].index:
                site = replace(site, one_hot=_columns_sum_to_one(args[1], site.rows))
                self.structure.sites[id(tree)] = site
        out = op.evaluate(list(args), site)
        if op.after_softmax and args[1].index and not site.index:
            site = replace(site, index=True)
            self.structure.sites[id(tree)] = site
        step = TapeStep(op, site, args, out, tree, fused)
        self.tape.append(step)
        self.produced_by[id(out)] = step
        return out

    # -- reverse mode --

    def adjoints(self, of: str, local=None) -> dict[str, Tensor]:
        """∂of/∂n for every name n (a tensor of n's shape), by one reverse sweep of the tape.

        ``local(step, G)`` (optional) overrides a step's local VJP: it returns ``(grads, fused)``
        as ``local_vjp`` does, or None for the entry's own — the hook mistake scenarios use (a
        forgotten mask, a forgotten 1/N), like ``accumulate``'s ``local`` for scalars."""
        if local is None and of in self._adjoints:
            return self._adjoints[of]
        target = self.values[of]
        if not target.scalar:
            raise GraphError(f"`{of}` is {'a vector' if target.a.shape[1] == 1 else 'a matrix'}; "
                             f"gradients are taken of a scalar (sum it, or pick a loss)")
        with gc_paused():
            adj: dict[int, Tensor] = {id(target): scalar(S.One)}
            shown: dict[int, Tensor] = {}  # reported but not propagated (p of softmax + CE)
            for step in reversed(self.tape):
                G = adj.get(id(step.out))
                if G is None:
                    continue
                result = local(step, G) if local is not None else None
                grads, fused = result if result is not None else local_vjp(step, G)
                for i, (inp, g) in enumerate(zip(step.inputs, grads)):
                    if g is None or inp.const or inp.index:
                        continue
                    _accumulate(shown if fused is not None and i == 0 else adj, inp, g)
                if fused is not None:
                    _accumulate(adj, step.fused, fused)
            result = {}
            for name, t in self.values.items():
                g = adj.get(id(t))
                extra = shown.get(id(t))
                if g is not None and extra is not None:
                    g = _sum(g, extra)
                result[name] = g if g is not None else (extra if extra is not None else zeros(t.shape))
        if local is None:
            self._adjoints[of] = result
        return result

    def grad(self, wrt: str, of: str) -> Tensor:
        return self.adjoints(of)[wrt]


def _columns_sum_to_one(Y: Tensor, rows: bool = False) -> bool:
    """Every example's targets sum to 1: each column's (each row's, under ``batch: rows``)."""
    if Y.scalar:
        return Y.item() == 1
    if rows:
        Y = transpose(Y)
    return all(sp.Add(*Y.a[:, j]) == 1 for j in range(Y.a.shape[1]))


def rule_of(structure, tree, i: int, g, operand_forms: tuple, out) -> object:
    """The printed rule of one operand of a sub-expression: ∂L/∂(operand i) as a formula of
    ``g`` (the gradient reaching ``tree``), the operands' formulas and the result's — the
    formula the reverse sweep evaluates. ``structure``: the example's ShapeEvaluation (its
    ``evaluation.structure`` with values). Raises NoRule where a form has no matrix formula.

    >>> from derive.core.parser import parse_equations
    >>> from derive.core.derivation import Partial
    >>> g = Graph(parse_equations("z = W @ x\\nL = sum(z)", {**FUNCTIONS, **TENSOR_FUNCTIONS}), tensor=True)
    >>> s = ShapeEvaluation(g, {"W": [3, 2], "x": [2]})
    >>> W, x, z = sp.symbols("W x z")
    >>> rule_of(s, g.by_name["z"].tree, 0, Partial("L", "z"), (W, x), z)
    MatProduct(factors=(Partial(of='L', wrt='z', direct=False), Transposed(operand=x)))
    """
    op = primitive_of(tree)
    return op.rule(g, i, structure.site(tree), tuple(operand_forms), out)


def fused_rule_of(structure, tree, g, operand_forms: tuple, out, logits) -> object:
    """δ for the logits of softmax followed by cross-entropy at ``tree`` (the cross-entropy)."""
    op = primitive_of(tree)
    return op.fused(g, structure.site(tree), tuple(operand_forms), out, logits)


def uses_tensor_syntax(equations: list[Equation]) -> bool:
    """True when an equation uses ``@``, ``.T`` or a tensor function (softmax, sum …)."""
    stack = [eq.tree for eq in equations]
    while stack:
        node = stack.pop()
        if isinstance(node, Transpose) or (isinstance(node, BinOp) and node.op == "@") or (
                isinstance(node, Call) and node.func in TENSOR_FUNCTIONS):
            return True
        stack.extend(operands(node))
    return False


def _sum(a: Tensor, b: Tensor) -> Tensor:
    return binary_values("+", a, b, a.shape, "Σ")


def _accumulate(adj: dict, t: Tensor, g: Tensor):
    key = id(t)
    adj[key] = g if key not in adj else _sum(adj[key], g)


def _shape_of_given(name: str, value, rows: bool = False) -> tuple:
    """A user's shape: [rows, columns], [n] (a column vector; a row under ``batch: rows``), []
    or 1-free scalar forms."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or len(value) > 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        raise InvalidValue(f"shapes: `{name}: {value!r}` is not a shape; write [rows, columns] "
                           f"(e.g. `W: [3, 2]`), [n] for a column vector or [] for a scalar")
    if not value:
        return ()
    if len(value) == 1:
        return (1, value[0]) if rows else (value[0], 1)
    return (value[0], value[1])


# === the layers of the language =================================================================
#
# The layers of the tensor language, as entries of the one table ``TENSOR_OPS``: 2-D convolution
# with channels, max- and average-pooling, an embedding lookup, flatten, the mean over each
# example's features, and layer normalisation as a named composite.
#
# Values. An image is a C×H×W tensor, a kernel C_out×C_in×kh×kw (``Tensor`` holds any numpy object
# array of exact entries; ``value``/``grad`` give a ``sympy.Array`` for them). In a matrix product an
# image stands for vec(x), its entries read row-major — channel by channel, row by row — as one
# column, so each layer is a matrix a lecturer can write down:
#
# * ``conv2d(x, k, stride=1, padding=0)`` (a cross-correlation, as PyTorch's) is vec(o) = T(k) vec(x):
#   row (o, p, q) of the band matrix T(k) holds kernel o at window (p, q). Backwards,
#   ∂L/∂x = T(k)ᵀ g, and ∂L/∂k = corr(x, g): entry (o, i, a, b) sums g[o, p, q] times the input
#   entry the kernel entry met, x[i, p·stride + a − padding, q·stride + b − padding];
# * ``maxpool2d(x, size, stride=size)`` is vec(o) = R(x) vec(x), R(x) selecting each window's
#   maximum — at a tie the first one in row-major window order, as PyTorch — and ∂L/∂x = R(x)ᵀ g
#   routes each output's gradient to the entry it copied;
# * ``avgpool2d(x, size, stride=size)``: ∂L/∂x = up(g)/size², each output's gradient spread over its
#   window (summed where windows overlap);
# * ``embedding(E, i)``: the rows of E (one per class, PyTorch's layout) picked by 0-based class
#   indices — as columns, Eᵀ onehot(i), when the examples are columns; as rows, onehot(i)ᵀ E, when
#   they are rows. ∂L/∂E = onehot(i) gᵀ (or onehot(i) g): the gradient lands in the rows picked;
# * ``flatten(x)``: vec(x), a column (a row under ``batch: rows``); ∂L/∂x = vec⁻¹(g);
# * ``feature_mean(x)``: the mean of each example's features (each column, or each row under
#   ``batch: rows``);
# * ``layer_norm(x, gamma, beta, eps=1e-5)``: a named composite — the staging writes out its steps
#   (the mean, the centred input, the variance, the normalised x̂, then γ ⊙ x̂ + β), each step an
#   entry of the table with its own rule.
#
# Stride, padding, pool sizes and axes are numbers written in the equation (``conv2d(x, k, 2, 1)``
# or ``conv2d(x, k, stride=2, padding=1)``).


def _number(site, i: int, op: str, what: str, least: int, default):
    """A setting written as a number in the equation (a stride, a padding, a pool size)."""
    if len(site.shapes) <= i:
        return default
    v = site.numbers[i]
    if v is None or not v.is_Integer or v < least:
        raise ShapeError(f"{site.where.prefix()}{op}: {what} must be a whole number ≥ {least} "
                         f"written in the equation, got {site.where.text(i, 'another value')}")
    return int(v)


def _image(site, op: str, what: str = "x") -> tuple:
    x = site.shapes[0]
    if len(x) != 3:
        name = site.where.text(0, what)
        raise ShapeError(f"{site.where.prefix()}{op}({name}, …) needs {name} a C×H×W image "
                         f"(channels, height, width: lists nested three deep), got {shape_text(x)}")
    return x


# --- conv2d --------------------------------------------------------------------------------------


def _conv2d_settings(site) -> tuple[int, int]:
    return (_number(site, 2, "conv2d", "the stride", 1, 1),
            _number(site, 3, "conv2d", "the padding", 0, 0))


def _conv2d_shape(site) -> tuple:
    x, k = _image(site, "conv2d"), site.shapes[1]
    where = site.where
    if len(k) != 4:
        raise ShapeError(f"{where.prefix()}conv2d({where.text(0, 'x')}, {where.text(1, 'k')}) needs "
                         f"the kernel a C_out×C_in×kh×kw tensor (lists nested four deep), got "
                         f"{shape_text(k)}")
    if k[1] != x[0]:
        raise ShapeError(f"{where.prefix()}conv2d: the kernel {where.text(1, 'k')} takes {k[1]} input "
                         f"channel(s) but {where.text(0, 'x')} has {x[0]}")
    stride, padding = _conv2d_settings(site)
    rows = conv_windows(x[1], k[2], stride, padding)
    cols = conv_windows(x[2], k[3], stride, padding)
    if not rows or not cols:
        raise ShapeError(f"{where.prefix()}conv2d: the kernel ({k[2]}×{k[3]}) is larger than the "
                         f"padded input ({x[1] + 2 * padding}×{x[2] + 2 * padding})")
    return (k[0], len(rows), len(cols))


def band2d(K: Tensor, in_shape: tuple, stride: int, padding: int) -> Tensor:
    """T(k): conv2d(x, k) = T(k) vec(x). Row (o, p, q) holds kernel o where window (p, q) meets
    the input (zero padding meets nothing); built once per kernel and input shape."""
    return K.cached(("band2d", in_shape, stride, padding), lambda: _band2d(K, in_shape, stride, padding))


def _band2d(K: Tensor, in_shape: tuple, stride: int, padding: int) -> Tensor:
    co, ci, kh, kw = K.a.shape
    c, h, w = in_shape
    rows, cols = conv_windows(h, kh, stride, padding), conv_windows(w, kw, stride, padding)
    shape = (co * len(rows) * len(cols), c * h * w)
    a = np.empty(shape, dtype=object)
    a[:] = S.Zero
    exact = K.all_rational()
    nums, den = K.ints() if exact else (None, 1)
    ints = np.zeros(shape, dtype=object) if exact else None
    for o in range(co):
        for p, r0 in enumerate(rows):
            for q, c0 in enumerate(cols):
                row = (o * len(rows) + p) * len(cols) + q
                for i in range(ci):
                    for da in range(kh):
                        r = r0 + da
                        if not 0 <= r < h:
                            continue
                        for db in range(kw):
                            col = c0 + db
                            if 0 <= col < w:
                                a[row, (i * h + r) * w + col] = K.a[o, i, da, db]
                                if exact:
                                    ints[row, (i * h + r) * w + col] = nums[o, i, da, db]
    t = Tensor(a)
    if exact:  # the integers of a mostly-zero matrix, set here rather than read back entry by entry
        t._ints, t._rational = (ints, den), np.ones(shape, bool)
    return t


def correlate2d(X: Tensor, G: Tensor, kshape: tuple, stride: int, padding: int) -> Tensor:
    """∂L/∂k of o = conv2d(x, k): entry (o, i, a, b) is Σ_p,q g[o, p, q]·x[i, p·s + a − pad,
    q·s + b − pad] — the gradient correlated with the input, one matrix product g P."""
    co, ci, kh, kw = kshape
    c, h, w = X.a.shape
    rows, cols = conv_windows(h, kh, stride, padding), conv_windows(w, kw, stride, padding)
    patches = np.empty((len(rows) * len(cols), ci * kh * kw), dtype=object)
    patches[:] = S.Zero
    for p, r0 in enumerate(rows):
        for q, c0 in enumerate(cols):
            for i in range(ci):
                for da in range(kh):
                    for db in range(kw):
                        r, col = r0 + da, c0 + db
                        if 0 <= r < h and 0 <= col < w:
                            patches[p * len(cols) + q, (i * kh + da) * kw + db] = X.a[i, r, col]
    G2 = reshaped(G, (co, len(rows) * len(cols)))
    return reshaped(matmul_values(G2, Tensor(patches), "∂conv/∂k"), kshape)


def _conv2d(args, site):
    X, K = args[0], args[1]
    stride, padding = _conv2d_settings(site)
    return reshaped(matmul_values(band2d(K, X.shape, stride, padding), vec(X), "conv2d"), site.out)


def _conv2d_rule(g, i, site, operands, out):
    if i > 1:
        return None  # stride and padding are numbers
    x, k = operands[0], operands[1]
    stride, padding = _conv2d_settings(site)
    if i == 0:  # vec(o) = T(k) vec(x), so ∂L/∂x = T(k)ᵀ g
        return MatProduct((Transposed(Applied("T", "T", (k,), "band2d", (site.shapes[0], stride, padding))), g))
    return Applied(r"\operatorname{corr}", "corr", (x, g), "correlate2d", (site.shapes[1], stride, padding))


def _settings_name(base: str, latex: str, forms, names: tuple, defaults: tuple):
    """conv2d with its stride and padding as a subscript, where they are not the defaults."""
    shown = [(n, f) for n, f, d in zip(names, forms, defaults) if f != d]
    if not shown:
        return latex, base
    # a word is upright (size, not s·i·z·e); a one-letter setting (s, p) stays a variable
    return (latex + "_{" + r",\,".join(f"{n}={f}" if len(n) == 1 else rf"\mathrm{{{n}}}={f}"
                                       for n, f in shown) + "}",
            base + "[" + ", ".join(f"{n}={f}" for n, f in shown) + "]")


def _display_conv2d(forms, tree, shapes):
    latex, text = _settings_name("conv2d", r"\operatorname{conv2d}", forms[2:], ("s", "p"),
                                 (sp.Integer(1), sp.Integer(0)))
    return TensorCall(latex, text, forms[:2])


# --- pooling -------------------------------------------------------------------------------------


def _pool_settings(site, op: str) -> tuple[int, int]:
    size = _number(site, 1, op, "the window size", 1, 1)
    return size, _number(site, 2, op, "the stride", 1, size)


def _pool_shape(op: str):
    def shape(site) -> tuple:
        c, h, w = _image(site, op)
        size, stride = _pool_settings(site, op)
        rows, cols = conv_windows(h, size, stride, 0), conv_windows(w, size, stride, 0)
        if not rows or not cols:
            raise ShapeError(f"{site.where.prefix()}{op}: the window ({size}×{size}) is larger than "
                             f"the input ({h}×{w})")
        return (c, len(rows), len(cols))
    return shape


def _windows(shape: tuple, size: int, stride: int):
    """(output index, the window's input indices in row-major order) of every pooling window."""
    c, h, w = shape
    rows, cols = conv_windows(h, size, stride, 0), conv_windows(w, size, stride, 0)
    for ch in range(c):
        for p, r0 in enumerate(rows):
            for q, c0 in enumerate(cols):
                yield (ch, p, q), [(ch, r0 + a, c0 + b) for a in range(size) for b in range(size)]


def pool_argmax(X: Tensor, size: int, stride: int) -> list:
    """The input index each output of a max-pool copies: its window's maximum, the first one in
    row-major window order at a tie (as PyTorch). Signs and order come from the exact entries'
    approximations (96 digits), as everywhere in the engine."""
    def build():
        fx = X.fixed()
        picks = []
        for _, cells in _windows(X.shape, size, stride):
            best = cells[0]
            for cell in cells[1:]:
                if fx[cell] > fx[best]:
                    best = cell
            picks.append(best)
        return picks
    return X.cached(("argmax", size, stride), build)


def pool_select(X: Tensor, size: int, stride: int) -> Tensor:
    """R(x): one 1 per row, at the input its output copies (maxpool2d(x) = R(x) vec(x))."""
    def build():
        picks = pool_argmax(X, size, stride)
        c, h, w = X.shape
        shape = (len(picks), X.size)
        a = np.empty(shape, dtype=object)
        a[:] = S.Zero
        ints = np.zeros(shape, dtype=object)
        for j, (ch, r, col) in enumerate(picks):
            a[j, (ch * h + r) * w + col] = S.One
            ints[j, (ch * h + r) * w + col] = 1
        t = Tensor(a)
        t._ints, t._rational = (ints, 1), np.ones(shape, bool)
        return t
    return X.cached(("select", size, stride), build)


def _maxpool2d(args, site):
    X = args[0]
    size, stride = _pool_settings(site, "maxpool2d")
    picks = pool_argmax(X, size, stride)
    out = np.empty(len(picks), dtype=object)
    out[:] = [X.a[cell] for cell in picks]
    return Tensor(out.reshape(site.out))


def _maxpool2d_rule(g, i, site, operands, out):
    if i > 0:
        return None
    size, stride = _pool_settings(site, "maxpool2d")
    return MatProduct((Transposed(Applied("R", "R", (operands[0],), "pool_select", (size, stride))), g))


def _avgpool2d(args, site):
    X = args[0]
    size, stride = _pool_settings(site, "avgpool2d")
    n = sp.Integer(size * size)
    out = [compact("mean", _sum_entries([X.a[cell] for cell in cells], "Σ") / n)
           for _, cells in _windows(X.shape, size, stride)]
    a = np.empty(len(out), dtype=object)
    a[:] = out
    return Tensor(a.reshape(site.out))


def upsample(G: Tensor, in_shape: tuple, size: int, stride: int) -> Tensor:
    """up(g): each output's gradient copied onto every entry of its window (summed where
    windows overlap), an image of the input's shape."""
    terms: dict = {}
    for (out, cells) in _windows(in_shape, size, stride):
        for cell in cells:
            terms.setdefault(cell, []).append(G.a[out])
    a = np.empty(in_shape, dtype=object)
    for cell in np.ndindex(*in_shape):
        a[cell] = _sum_entries(terms.get(cell, []), "up")
    return Tensor(a)


def _avgpool2d_rule(g, i, site, operands, out):
    if i > 0:
        return None
    size, stride = _pool_settings(site, "avgpool2d")
    up = Applied(r"\operatorname{up}", "up", (g,), "upsample", (site.shapes[0], size, stride))
    return Scaled(up, sp.Integer(size * size))


def _display_pool(name: str):
    def display(forms, tree, shapes):
        size = forms[1]
        stride = forms[2] if len(forms) > 2 else size
        latex, text = _settings_name(name, rf"\operatorname{{{name}}}", (size, stride), ("size", "s"),
                                     (None, size))
        return TensorCall(latex, text, forms[:1])
    return display


# --- embedding, flatten, feature_mean --------------------------------------------------------------


def _embedding_shape(site) -> tuple:
    e, i = site.shapes
    where = site.where
    if len(e) != 2 or (i != () and (len(i) != 2 or 1 not in i)):
        raise ShapeError(f"{where.prefix()}embedding({where.text(0, 'E')}, {where.text(1, 'i')}) needs "
                         f"E a matrix (one row per class) and i a class index or a list of them, got "
                         f"{shape_text(e)} and {shape_text(i)}")
    m = 1 if i == () else i[0] * i[1]
    return (m, e[1]) if site.rows else (e[1], m)


def _embedding(args, site):
    E, I = args
    n = E.a.shape[0]
    picks = []
    for c in I.a.ravel():
        if not (c.is_Integer and 0 <= int(c) < n):
            raise ShapeError(f"{site.where.prefix()}class index {c} in {site.where.text(1, 'i')} is not "
                             f"a whole number from 0 to {n - 1} (the rows of "
                             f"{site.where.text(0, 'E')}; indices are 0-based, as in PyTorch)")
        picks.append(int(c))
    I.index = True  # class indices: they pick rows and take no gradient
    rows = E.a[picks, :]
    return Tensor(rows.copy() if site.rows else rows.T.copy())


def _embedding_rule(g, i, site, operands, out):
    if i > 0:
        return None
    onehot = Applied(r"\operatorname{onehot}", "onehot", (operands[1],), "onehot", (site.shapes[0][0],))
    return MatProduct((onehot, g)) if site.rows else MatProduct((onehot, _T(g)))


def _flatten_shape(site) -> tuple:
    x = site.shapes[0]
    n = 1 if x == () else int(np.prod(x))
    return (1, n) if site.rows else (n, 1)


def _flatten_rule(g, i, site, operands, out):
    return Applied(r"\operatorname{vec}^{-1}", "vec⁻¹", (g,), "reshape", (site.shapes[0],))


def _feature_mean_shape(site) -> tuple:
    x = site.shapes[0]
    if len(x) != 2:
        raise ShapeError(f"{site.where.prefix()}feature_mean needs a vector or a matrix, got "
                         f"{shape_text(x)}")
    return (x[0], 1) if site.rows else (1, x[1])


def _feature_mean(args, site):
    A = args[0]
    a = A.a if site.rows else A.a.T  # one example per row of ``a``
    n = sp.Integer(a.shape[1])
    out = [compact("mean", _sum_entries(list(row), "Σ") / n) for row in a]
    return Tensor(np.array(out, dtype=object).reshape(site.out))


def _features(site) -> int:
    return site.shapes[0][1] if site.rows else site.shapes[0][0]


def _feature_mean_rule(g, i, site, operands, out):
    spread = MatProduct((g, Transposed(ONES))) if site.rows else MatProduct((ONES, g))
    return Scaled(spread, sp.Integer(_features(site)))


# --- layer_norm: a named composite --------------------------------------------------------------


def _layer_norm_shape(site) -> tuple:
    x = site.shapes[0]
    if len(x) != 2:
        raise ShapeError(f"{site.where.prefix()}layer_norm needs a vector or a matrix (one example "
                         f"per column, or per row under batch: rows), got {shape_text(x)}")
    return x


def _written_out(args, site):
    raise GraphError(f"{site.where.prefix()}layer_norm is written out in its steps (the staging of "
                     f"a tensor example) before it is evaluated")


def _composite_rule(g, i, site, operands, out):
    raise NoRule("layer_norm is written out in its steps")


LAYER_NORM_STEPS = ("mu", "xc", "sq", "var", "sigma", "xhat")


def layer_norm_steps(target: str, args: tuple, fresh) -> list[tuple[str, object, str]]:
    """The lines of ``target = layer_norm(x, gamma, beta, eps)``: (name, tree, what it is)
    triples, the last one ``target``. ``fresh(stem)`` gives an unused name."""
    x, gamma, beta = args[:3]
    eps = args[3] if len(args) > 3 else Num(sp.Rational(1, 100000), "1e-5", 0)
    names = {stem: fresh(stem) for stem in LAYER_NORM_STEPS}
    n = {stem: Name(v, 0) for stem, v in names.items()}
    return [
        (names["mu"], Call("feature_mean", (x,), 0), "the mean of each example's features"),
        (names["xc"], BinOp("-", x, n["mu"], 0), "the input centred"),
        (names["sq"], BinOp("**", n["xc"], Num(sp.Integer(2), "2", 0), 0), "its square"),
        (names["var"], Call("feature_mean", (n["sq"],), 0), "the variance (biased, as PyTorch)"),
        (names["sigma"], Call("sqrt", (BinOp("+", n["var"], eps, 0),), 0), "the standard deviation"),
        (names["xhat"], BinOp("/", n["xc"], n["sigma"], 0), "the normalised input"),
        (target, BinOp("+", BinOp("*", gamma, n["xhat"], 0), beta, 0), "scaled and shifted"),
    ]


# --- the entries -----------------------------------------------------------------------------------


_APPLIED.update({"band2d": band2d, "correlate2d": correlate2d, "pool_select": pool_select,
                 "upsample": upsample, "reshape": reshaped})

register_tensor_function(TensorFunction(
    "conv2d", 4, _conv2d_shape, _conv2d, _conv2d_rule, r"\operatorname{conv2d}", "conv2d",
    "torch.nn.functional.conv2d({0}.unsqueeze(0), {1}, stride=int({2}), padding=int({3})).squeeze(0)",
    "2-D convolution (cross-correlation, as PyTorch) of a C×H×W image with a C_out×C_in×kh×kw "
    "kernel; stride, zero padding", defaults=(sp.Integer(1), sp.Integer(0)),
    params=("x", "k", "stride", "padding"), display=_display_conv2d))
# the stride of a pool defaults to its size: written as 0 where a default must be a number (the
# PyTorch spelling reads 0 as "the size"); a stride written in the equation must be ≥ 1
register_tensor_function(TensorFunction(
    "maxpool2d", 3, _pool_shape("maxpool2d"), _maxpool2d, _maxpool2d_rule, r"\operatorname{maxpool}",
    "maxpool", "torch.nn.functional.max_pool2d({0}.unsqueeze(0), int({1}), int({2}) or int({1})).squeeze(0)",
    "max-pooling of each channel over size×size windows (stride = size by default); the gradient "
    "goes to each window's maximum, the first in row-major order at a tie, as PyTorch",
    defaults=(sp.Integer(0),), params=("x", "size", "stride"), display=_display_pool("maxpool")))
register_tensor_function(TensorFunction(
    "avgpool2d", 3, _pool_shape("avgpool2d"), _avgpool2d, _avgpool2d_rule, r"\operatorname{avgpool}",
    "avgpool", "torch.nn.functional.avg_pool2d({0}.unsqueeze(0), int({1}), int({2}) or int({1})).squeeze(0)",
    "average-pooling of each channel over size×size windows (stride = size by default)",
    defaults=(sp.Integer(0),), params=("x", "size", "stride"), display=_display_pool("avgpool")))
register_tensor_function(TensorFunction(
    "embedding", 2, _embedding_shape, _embedding, _embedding_rule, r"\operatorname{embedding}",
    "embedding", "{0}[{1}.reshape(-1).long()].T",
    "the rows of E (one per class) picked by 0-based class indices i, as columns (as rows under "
    "batch: rows)", params=("E", "i")))
register_tensor_function(TensorFunction(
    "flatten", 1, _flatten_shape, lambda args, site: reshaped(args[0], site.out), _flatten_rule,
    r"\operatorname{vec}", "vec", "{0}.reshape(-1, 1)",
    "the entries of an image (channel by channel, row by row) as one column", params=("x",)))
register_tensor_function(TensorFunction(
    "feature_mean", 1, _feature_mean_shape, _feature_mean, _feature_mean_rule,
    r"\operatorname{mean}_{\mathrm{features}}", "mean_features", "torch.mean({0}, dim=0, keepdim=True)",
    "the mean of each example's features: of each column (of each row under batch: rows)",
    averages=_features, params=("x",)))
register_tensor_function(TensorFunction(
    "layer_norm", 4, _layer_norm_shape, _written_out, _composite_rule, r"\operatorname{LayerNorm}",
    "LayerNorm",
    "torch.nn.functional.layer_norm({0}.T, {0}.shape[:1], {1}.reshape(-1), {2}.reshape(-1), float({3})).T",
    "layer normalisation of each example (each column; each row under batch: rows): "
    "γ ⊙ (x − μ)/√(σ² + ε) + β, written out in its steps", defaults=(sp.Rational(1, 100000),),
    params=("x", "gamma", "beta", "eps"), composite=layer_norm_steps))

