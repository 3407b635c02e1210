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
examples; a column vector broadcasts over the columns (a bias over a batch).

Every operation returns ``(value, vjp)``: ``vjp(G)`` maps the gradient ``G`` of the result to the
gradients of the operands (``None`` where an operand takes none).
"""
from __future__ import annotations

from dataclasses import dataclass
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
from .engine import Graph, Quantity, compact, gc_paused
from .errors import GraphError, InvalidValue
from .functions import FUNCTIONS
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

    __slots__ = ("a", "scalar", "_rational", "_ints", "_fixed", "index", "const")

    def __init__(self, a: np.ndarray, scalar: bool = False, index: bool = False):
        self.a = a
        self.scalar = scalar
        self.index = index  # holds class indices (integers), not values to differentiate
        self.const = False  # a number written in the equations: takes no gradient
        self._rational = self._ints = self._fixed = None

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
        if self.scalar:
            return self.item()
        return sp.Matrix(self.a.tolist())

    def __repr__(self):
        return f"Tensor{self.shape}"


def scalar(value: sp.Expr) -> Tensor:
    a = np.empty((1, 1), dtype=object)
    a[0, 0] = value
    return Tensor(a, scalar=True)


def from_entries(entries, shape: tuple) -> Tensor:
    """A tensor of shape ``shape`` (() or (r, c)) from a flat list of exact entries."""
    if shape == ():
        return scalar(entries[0])
    a = np.empty(shape[0] * shape[1], dtype=object)
    a[:] = list(entries)
    return Tensor(a.reshape(shape))


def zeros(shape: tuple) -> Tensor:
    return from_entries([S.Zero] * (1 if shape == () else shape[0] * shape[1]), shape)


def full(shape: tuple, value: sp.Expr) -> Tensor:
    return from_entries([value] * (1 if shape == () else shape[0] * shape[1]), shape)


def _from_ints(nums: np.ndarray, den: int) -> np.ndarray:
    out = np.empty(nums.shape, dtype=object)
    out.ravel()[:] = [sp.Rational(int(n), den) for n in nums.ravel()]
    return out


def shape_text(shape: tuple) -> str:
    if shape == ():
        return "a scalar"
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


def matmul(A: Tensor, B: Tensor, where: Where, label: str = "@"):
    if A.scalar or B.scalar:
        raise ShapeError(f"{where.prefix()}`@` multiplies vectors and matrices; "
                         f"{where.text(0 if A.scalar else 1, 'an operand')} is a scalar — use * "
                         f"to scale by a number")
    (m, n), (n2, p) = A.a.shape, B.a.shape
    if n != n2:
        left, right = where.text(0, "A"), where.text(1, "B")
        raise ShapeError(f"{where.prefix()}{left} @ {right} needs {right} with {n} rows "
                         f"({left} is {m}×{n}), got {n2} (it is {n2}×{p}); transpose one of them "
                         f"or fix the values")
    out = matmul_values(A, B, label)

    def vjp(G: Tensor):
        return [matmul_values(G, transpose(B), f"∂/∂{where.text(0, 'A')}"),
                matmul_values(transpose(A), G, f"∂/∂{where.text(1, 'B')}")]
    return out, vjp


def transpose(A: Tensor) -> Tensor:
    if A.scalar:
        return A
    t = Tensor(A.a.T.copy())
    if A._rational is not None:
        t._rational = A._rational.T.copy()
    return t


def transpose_op(A: Tensor, where: Where):
    return transpose(A), lambda G: [transpose(G)]


# --- elementwise -------------------------------------------------------------------------------


def _broadcast_shape(A: Tensor, B: Tensor, where: Where, op: str) -> tuple:
    if A.scalar:
        return B.shape
    if B.scalar:
        return A.shape
    (r1, c1), (r2, c2) = A.a.shape, B.a.shape
    r = r1 if r1 == r2 or r2 == 1 else (r2 if r1 == 1 else None)
    c = c1 if c1 == c2 or c2 == 1 else (c2 if c1 == 1 else None)
    if r is None or c is None:
        raise ShapeError(f"{where.prefix()}{where.text(0, 'the left side')} {op} "
                         f"{where.text(1, 'the right side')} needs equal shapes (or one that "
                         f"broadcasts: a scalar, a column vector over columns, a row over rows), "
                         f"got {shape_text(A.shape)} and {shape_text(B.shape)}")
    return (r, c)


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
        if op == "*" and ((xr and x == 0) or (yr and y == 0)):
            out.append(S.Zero)
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


def binary(op: str, A: Tensor, B: Tensor, where: Where, label: str = ""):
    shape = _broadcast_shape(A, B, where, op)
    try:
        out = binary_values(op, A, B, shape, label or op)
    except Undefined as reason:
        raise Undefined(f"{where.prefix()}{where.text(0, 'x')} {op} {where.text(1, 'y')}: "
                        f"{reason}") from None

    def vjp(G: Tensor):
        la, lb = f"∂/∂{where.text(0, 'x')}", f"∂/∂{where.text(1, 'y')}"
        if op == "+":
            ga, gb = G, G
        elif op == "-":
            ga, gb = G, negate(G, lb)
        elif op == "*":
            ga = binary_values("*", G, B, shape, la)
            gb = binary_values("*", G, A, shape, lb)
        else:  # d(x/y) = G/y, −G·x/y²
            ga = binary_values("/", G, B, shape, la)
            gb = negate(binary_values("/", binary_values("*", G, out, shape, lb), B, shape, lb), lb)
        return [unbroadcast(ga, A.shape, la), unbroadcast(gb, B.shape, lb)]
    return out, vjp


def negate(A: Tensor, label: str = "−") -> Tensor:
    return binary_values("*", scalar(S.NegativeOne), A, A.shape, label)


def negate_op(A: Tensor, where: Where):
    return negate(A), lambda G: [negate(G)]


def map_entries(A: Tensor, func: Callable[[sp.Expr], sp.Expr], label: str) -> Tensor:
    """Apply an exact scalar function to every entry (compact: Rational or Quantity)."""
    return from_entries([compact(label, func(e)) for e in A.a.ravel()], A.shape)


def power(A: Tensor, B: Tensor, where: Where):
    """Elementwise A**B; B is usually a number (x**2)."""
    shape = _broadcast_shape(A, B, where, "**")
    xa, ya = _expand(A, shape).ravel(), _expand(B, shape).ravel()
    try:
        out = from_entries([compact("**", x ** y) for x, y in zip(xa, ya)], shape)
    except Undefined as reason:
        raise Undefined(f"{where.prefix()}{where.text(0, 'x')}**{where.text(1, 'y')}: {reason}") from None

    def vjp(G: Tensor):
        ga = from_entries([compact("∂**", g * y * x ** (y - 1)) for g, x, y in
                           zip(_expand(G, shape).ravel(), xa, ya)], shape)
        gb = None
        if not B.const:  # x**2: no derivative with respect to the written exponent
            gb_entries = []
            for g, x, y, o in zip(_expand(G, shape).ravel(), xa, ya, out.a.ravel()):
                gb_entries.append(S.Zero if (g == 0 or o == 0) else compact("∂**", g * o * sp.log(x)))
            gb = from_entries(gb_entries, shape)
        return [unbroadcast(ga, A.shape, "∂**"), gb and unbroadcast(gb, B.shape, "∂**")]
    return out, vjp


_RULES: dict = {}
_Z = sp.Symbol("z", real=True)


def _derivative_rule(spec, extra: tuple):
    """f'(z) of a registry function, differentiated once (extra arguments fixed numbers)."""
    key = (spec.name, extra)
    if key not in _RULES:
        _RULES[key] = sp.diff(spec.function(_Z, *extra), _Z)
    return _RULES[key]


def apply_function(spec, A: Tensor, extra: tuple, where: Where, ungated: bool = False):
    """A registry function (relu, sigmoid, exp, …) applied to every entry. ``ungated`` (a mistake
    scenario for checking) lets a gate such as ReLU pass the gradient everywhere, mask forgotten."""
    name = spec.name
    try:
        out = map_entries(A, lambda e: spec.function(e, *extra), name)
    except Undefined as reason:
        raise Undefined(f"{where.prefix()}{name}({where.text(0, 'x')}): {reason}") from None
    rule = _derivative_rule(spec, extra)

    def vjp(G: Tensor):
        if ungated and getattr(spec, "gates", False):
            return [G]
        local = map_entries(A, lambda e: rule.xreplace({_Z: e}), f"{name}'")
        return [binary_values("*", G, local, A.shape, f"∂{name}")]
    return out, vjp


# --- reductions --------------------------------------------------------------------------------


def _sum_entries(entries, label: str) -> sp.Expr:
    entries = [e for e in entries if e != 0]
    if all(e.is_Rational for e in entries):
        return sp.Add(*entries) if entries else S.Zero
    fx = sum(fixed(e) for e in entries)
    return _entry(label, partial(sp.Add, *entries), fx)


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


def sum_op(A: Tensor, where: Where):
    return sum_all(A), lambda G: [full(A.shape, G.item())]


def mean_op(A: Tensor, where: Where):
    n = sp.Integer(A.size)
    total = sum_all(A)
    out = scalar(compact("mean", total.item() / n))
    return out, lambda G: [full(A.shape, compact("∂mean", G.item() / n))]


def batch_mean_op(A: Tensor, where: Where):
    """The mean over the batch (the columns), per row: an n×B matrix gives a column of n means
    (BatchNorm's μ and σ²); the gradient spreads each G_i evenly, G_i/B, over its row."""
    if A.scalar:
        raise ShapeError(f"{where.prefix()}batch_mean needs a vector or a matrix (examples as "
                         f"columns); {where.text(0, 'its argument')} is a scalar")
    rows, batch = A.a.shape
    n = sp.Integer(batch)
    out = from_entries([compact("mean", e / n) for e in sum_axis(A, 1, "Σ").a.ravel()], (rows, 1))

    def vjp(G: Tensor):
        spread = [compact("∂mean", g / n) for g in G.a.ravel()]
        return [from_entries([spread[i] for i in range(rows) for _ in range(batch)], (rows, batch))]
    return out, vjp


def _whole(t: Tensor, what: str, where: Where, least: int) -> int:
    v = t.item() if t.scalar else None
    if v is None or not v.is_Integer or v < least:
        raise ShapeError(f"{where.prefix()}conv1d: the {what} must be a whole number ≥ {least}, got "
                         f"{v if v is not None else shape_text(t.shape)}")
    return int(v)


def conv_windows(length: int, k: int, stride: int, padding: int) -> list[int]:
    """Start positions (0-based, into the unpadded input; negative inside the padding) of the
    windows of a 1-D convolution, as PyTorch places them."""
    span = length + 2 * padding
    return [s - padding for s in range(0, span - k + 1, stride)] if k <= span else []


def _conv_shape(shapes, numbers) -> tuple:
    (length, batch), (k, _) = shapes[0], shapes[1]
    stride = int(numbers[2]) if len(numbers) > 2 and numbers[2] is not None else 1
    padding = int(numbers[3]) if len(numbers) > 3 and numbers[3] is not None else 0
    return (len(conv_windows(length, k, stride, padding)), batch)


def conv1d_op(X: Tensor, K: Tensor, *rest):
    """1-D convolution (cross-correlation, as ``torch.nn.functional.conv1d``, one channel) of each
    column of X (length L, one column per example) with the kernel column K, zero padding:
    ``o[j, b] = Σ_m K[m]·X[j·stride + m − padding, b]``. As a matrix product o = T(K) X with the
    banded matrix T(K); so ∂L/∂X = T(K)ᵀ G, and ∂L/∂K[m] sums G times the inputs K[m] met."""
    where = rest[-1]
    stride = _whole(rest[0], "stride", where, 1) if len(rest) > 1 else 1
    padding = _whole(rest[1], "padding", where, 0) if len(rest) > 2 else 0
    if X.scalar or K.scalar or K.a.shape[1] != 1:
        raise ShapeError(f"{where.prefix()}conv1d(x, k) needs x a column (or a batch of columns) "
                         f"and k a column vector (the kernel), got {shape_text(X.shape)} and "
                         f"{shape_text(K.shape)}")
    length, batch = X.a.shape
    k = K.a.shape[0]
    starts = conv_windows(length, k, stride, padding)
    if not starts:
        raise ShapeError(f"{where.prefix()}conv1d: the kernel ({k}) is longer than the padded "
                         f"input ({length + 2 * padding})")
    band = np.empty((len(starts), length), dtype=object)
    band[:] = S.Zero
    for j, s in enumerate(starts):
        for m in range(k):
            if 0 <= s + m < length:
                band[j, s + m] = K.a[m, 0]
    T = Tensor(band)
    out = matmul_values(T, X, "conv")

    def vjp(G: Tensor):
        # the inputs each kernel entry met, against the gradient they produced (one column)
        met = np.empty((k, len(starts) * batch), dtype=object)
        met[:] = S.Zero
        for j, s in enumerate(starts):
            for m in range(k):
                if 0 <= s + m < length:
                    met[m, j * batch:(j + 1) * batch] = X.a[s + m, :]
        column = Tensor(G.a.reshape(len(starts) * batch, 1))
        return [matmul_values(transpose(T), G, "∂conv/∂x"),
                matmul_values(Tensor(met), column, "∂conv/∂k")] + [None] * (len(rest) - 1)
    return out, vjp


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


def softmax_values(Z: Tensor) -> Tensor:
    return _from_columns([_softmax_column(col)[0] for col in _columns(Z)])


def softmax_op(Z: Tensor, where: Where):
    """Softmax over each column (each example of a batch)."""
    if Z.scalar:
        raise ShapeError(f"{where.prefix()}softmax needs a vector (or a batch of vectors as "
                         f"columns); {where.text(0, 'its argument')} is a scalar")
    P = softmax_values(Z)

    def vjp(G: Tensor):
        cols = []
        for g, p in zip(_columns(G), _columns(P)):
            inner = compact("gᵀp", sp.Add(*[gi * pi for gi, pi in zip(g, p)]))
            cols.append([S.Zero if pi == 0 else compact("∂softmax", pi * (gi - inner))
                         for gi, pi in zip(g, p)])
        return [_from_columns(cols)]
    vjp.softmax_of = Z  # cross-entropy of this softmax differentiates the pair at once
    return P, vjp


def log_softmax_op(Z: Tensor, where: Where):
    if Z.scalar:
        raise ShapeError(f"{where.prefix()}log_softmax needs a vector (or a batch of vectors as "
                         f"columns); {where.text(0, 'its argument')} is a scalar")
    cols, probs = [], []
    for col in _columns(Z):
        p, total = _softmax_column(col)
        log_total = compact("log Σexp", sp.log(total))
        cols.append([compact("log_softmax", z - log_total) for z in col])
        probs.append(p)

    def vjp(G: Tensor):
        out = []
        for g, p in zip(_columns(G), probs):
            s = sp.Add(*g)
            out.append([compact("∂log_softmax", gi - pi * s) for gi, pi in zip(g, p)])
        return [_from_columns(out)]
    return _from_columns(cols), vjp


def targets(P: Tensor, Y: Tensor, where: Where) -> Tensor:
    """Y as a one-hot (or soft) target matrix of P's shape: Y itself when shapes agree, else one
    0-based class index per column of P."""
    if not P.scalar and Y.shape == P.shape:
        return Y
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


def cross_entropy_op(P: Tensor, Y: Tensor, where: Where, logits: Tensor | None = None,
                     forget_targets: bool = False):
    """−(1/B) Σ_b Σ_k y_kb log p_kb: the mean over the batch (the columns). With ``logits`` (P is
    softmax(logits)) the gradient for the logits is also given directly: δ = (p·Σy − y)/B, exactly
    p − y for one example with a one-hot target. ``forget_targets`` (a mistake scenario for
    checking) gives p·Σy/B, the classic slip of not subtracting y."""
    onehot = targets(P, Y, where)
    k, batch = P.a.shape
    n = sp.Integer(batch)
    terms = []
    for p, y in zip(P.a.ravel(), onehot.a.ravel()):
        if y != 0:
            if p.is_Rational and p <= 0:
                raise Undefined(f"{where.prefix()}cross_entropy: log of {p} (p must be positive)")
            terms.append(compact("y log p", y * sp.log(p)))
    loss = scalar(compact("cross-entropy", -_sum_entries(terms, "Σ y log p") / n))

    def vjp(G: Tensor):
        g = G.item()
        grad_p = from_entries([S.Zero if y == 0 else compact("∂CE/∂p", -g * y / (n * p))
                               for p, y in zip(P.a.ravel(), onehot.a.ravel())], P.shape)
        grad_y = None
        if not Y.index:
            grad_y = from_entries([compact("∂CE/∂y", -g * sp.log(p) / n) if p != 0 else S.Zero
                                   for p in P.a.ravel()], P.shape)
        fused = None
        if logits is not None:
            sums = [sp.Add(*onehot.a[:, j]) for j in range(batch)]
            fused = from_entries(
                [compact("δ", g * (P.a[i, j] * sums[j] - (0 if forget_targets else onehot.a[i, j])) / n)
                 for i in range(k) for j in range(batch)], P.shape)
        return [grad_p, grad_y], fused
    return loss, vjp


# --- the registry of tensor functions ----------------------------------------------------------


@dataclass(frozen=True)
class TensorFunction:
    """A function of whole tensors in the equation language (the parser checks the arity)."""

    name: str
    arity: int
    op: Callable  # (Tensor args..., where) -> (value, vjp)
    latex: str
    unicode: str
    torch: str  # PyTorch spelling for the reference tests ({0}, {1} the arguments)
    description: str
    defaults: tuple = ()
    layer: bool = False  # may be a layer's activation (mlp(activation=[…, "softmax"]))
    after_softmax: bool = False  # takes softmax(z) and gives z its gradient directly (p − y)
    # the result's shape from the arguments' shapes and written numbers (None where an argument
    # is not a number), for derivations from shapes alone; None: the first argument's shape
    shape: Callable | None = None

    @property
    def min_arity(self) -> int:
        return self.arity - len(self.defaults)


TENSOR_FUNCTIONS: dict[str, TensorFunction] = {}


def register_tensor_function(spec: TensorFunction) -> TensorFunction:
    TENSOR_FUNCTIONS[spec.name] = spec
    return spec


register_tensor_function(TensorFunction(
    "softmax", 1, softmax_op, r"\operatorname{softmax}", "softmax", "torch.softmax({0}, dim=0)",
    "softmax over each column: p_k = e^(z_k) / Σ_m e^(z_m)", layer=True))
register_tensor_function(TensorFunction(
    "log_softmax", 1, log_softmax_op, r"\operatorname{log\,softmax}", "log_softmax",
    "torch.log_softmax({0}, dim=0)", "log of the softmax, per column: z_k − log Σ_m e^(z_m)", layer=True))
register_tensor_function(TensorFunction(
    "sum", 1, sum_op, r"\sum", "Σ", "torch.sum({0})", "sum of every entry",
    shape=lambda shapes, numbers: ()))
register_tensor_function(TensorFunction(
    "mean", 1, mean_op, r"\operatorname{mean}", "mean", "torch.mean({0})", "mean of every entry",
    shape=lambda shapes, numbers: ()))
register_tensor_function(TensorFunction(
    "batch_mean", 1, batch_mean_op, r"\operatorname{mean}_{\mathrm{batch}}", "mean_batch",
    "torch.mean({0}, dim=1, keepdim=True)", "mean over the batch (the columns) of each row",
    shape=lambda shapes, numbers: (shapes[0][0], 1) if shapes[0] else ()))
register_tensor_function(TensorFunction(
    "conv1d", 4, conv1d_op, r"\operatorname{conv1d}", "conv1d",
    "torch.nn.functional.conv1d({0}.T.unsqueeze(1), {1}.T.unsqueeze(0), stride=int({2}), "
    "padding=int({3})).squeeze(1).T",
    "1-D convolution (cross-correlation) of each column with a kernel column; stride, padding",
    defaults=(sp.Integer(1), sp.Integer(0)), shape=lambda shapes, numbers: _conv_shape(shapes, numbers)))
register_tensor_function(TensorFunction(
    "cross_entropy", 2, cross_entropy_op, r"\operatorname{CE}", "CE",
    "-(({1}) * torch.log({0})).sum() / ({0}).shape[1]",
    "cross-entropy of probabilities p (columns) and targets y (one-hot, or a 0-based class index "
    "per column), averaged over the batch", after_softmax=True, shape=lambda shapes, numbers: ()))


# --- values from users -------------------------------------------------------------------------


def is_tensor_value(value) -> bool:
    """True for what the tensor language takes as a vector or matrix: lists, arrays, matrices."""
    return isinstance(value, (list, tuple, np.ndarray, sp.MatrixBase))


def tensor_value(value, name: str) -> Tensor:
    """A user's value as an exact Tensor: a number (scalar), a list (column vector), a nested list
    (matrix, row-major), a numpy array (1-D: column vector) or a SymPy matrix."""
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

    if isinstance(value, sp.MatrixBase):
        value = value.tolist()
    if isinstance(value, np.ndarray):
        if value.ndim > 2:
            raise InvalidValue(f"{name}: arrays of {value.ndim} dimensions are not supported; give "
                              f"a vector or a matrix (a batch is a matrix with one column per example)")
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return scalar(to_exact(value, name))
    if not value:
        raise InvalidValue(f"{name}: the list is empty; give at least one number")
    nested = [isinstance(v, (list, tuple, np.ndarray)) for v in value]
    if any(nested) and not all(nested):
        raise InvalidValue(f"{name}: mixes numbers and lists; a matrix is a list of rows of equal "
                          f"length, a vector a list of numbers")
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
    return Tensor(a)


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


@dataclass
class TapeEntry:
    out: Tensor
    inputs: tuple
    vjp: object
    fused: Tensor | None = None  # cross-entropy after softmax: the logits get δ directly


class TensorEvaluation:
    """Exact forward tensors and reverse-mode gradients of a tensor Graph at given values."""

    def __init__(self, graph: Graph, values: dict, mistakes: frozenset = frozenset()):
        """``mistakes``: deliberate slips for diagnosing answers — "mask" (gates pass every
        gradient), "targets" (softmax + cross-entropy without subtracting y)."""
        self.graph = graph
        self.mistakes = frozenset(mistakes)
        self.values: dict[str, Tensor] = {}
        for name in graph.inputs:
            v = values[name]
            self.values[name] = v if isinstance(v, Tensor) else tensor_value(v, name)
        self.tape: list[TapeEntry] = []
        self.produced_by: dict[int, TapeEntry] = {}
        self._adjoints: dict[str, dict[str, Tensor]] = {}
        with gc_paused():
            for eq in graph.equations:
                try:
                    self.values[eq.name] = self._eval(eq.tree, eq)
                except Undefined as reason:
                    raise InvalidValue(f"line {eq.line}: `{eq.name} = {eq.source}` is undefined at "
                                      f"the given values: {reason}; change the values or the "
                                      f"equation") from None

    # -- forward --

    def _record(self, out: Tensor, inputs: tuple, vjp) -> Tensor:
        entry = TapeEntry(out, inputs, vjp)
        self.tape.append(entry)
        self.produced_by[id(out)] = entry
        return out

    def _eval(self, tree, eq: Equation) -> Tensor:
        if isinstance(tree, Num):
            t = scalar(tree.value)
            t.const = True
            return t
        if isinstance(tree, Name):
            return self.values[tree.id]
        where = Where(eq.line, tuple(source_text(a) for a in _operands(tree)))
        if isinstance(tree, Neg):
            x = self._eval(tree.operand, eq)
            return self._record(*_pair(negate_op(x, where), (x,)))
        if isinstance(tree, Transpose):
            x = self._eval(tree.operand, eq)
            return self._record(*_pair(transpose_op(x, where), (x,)))
        if isinstance(tree, BinOp):
            a, b = self._eval(tree.left, eq), self._eval(tree.right, eq)
            if tree.op == "@":
                return self._record(*_pair(matmul(a, b, where), (a, b)))
            if tree.op == "**":
                return self._record(*_pair(power(a, b, where), (a, b)))
            if tree.op in ("+", "-", "*", "/"):
                return self._record(*_pair(binary(tree.op, a, b, where), (a, b)))
            raise GraphError(f"line {eq.line}: comparisons are not allowed in equations")
        if isinstance(tree, Call):
            args = [self._eval(a, eq) for a in tree.args]
            if tree.func in TENSOR_FUNCTIONS:
                spec = TENSOR_FUNCTIONS[tree.func]
                if spec.after_softmax:
                    return self._after_softmax(spec, args, where)
                return self._record(*_pair(spec.op(*args, where), tuple(args)))
            spec = FUNCTIONS[tree.func]
            extra = []
            for i, t in enumerate(args[1:], start=1):
                if not t.scalar or not t.item().is_Rational:
                    raise GraphError(f"line {eq.line}: argument {i + 1} of `{tree.func}` must be a "
                                     f"number (it is applied to every entry of the first)")
                extra.append(t.item())
            extra += list(spec.defaults[len(args) - spec.min_arity:]) if len(args) < spec.arity else []
            return self._record(*_pair(apply_function(spec, args[0], tuple(extra), where,
                                                      "mask" in self.mistakes), (args[0],)))
        raise TypeError(f"not a syntax tree node: {tree!r}")

    def _after_softmax(self, spec, args, where: Where) -> Tensor:
        """A loss of probabilities (cross-entropy): when they come straight from a softmax, the
        pair is differentiated at once, the logits receiving δ directly."""
        p, y = args
        producer = self.produced_by.get(id(p))
        logits = None
        if producer is not None and getattr(producer.vjp, "softmax_of", None) is not None:
            logits = producer.vjp.softmax_of
        out, vjp = spec.op(p, y, where, logits, "targets" in self.mistakes)
        entry = TapeEntry(out, (p, y), vjp)
        entry.fused = logits
        self.tape.append(entry)
        self.produced_by[id(out)] = entry
        return out

    # -- reverse mode --

    def adjoints(self, of: str) -> dict[str, Tensor]:
        """∂of/∂n for every name n (a tensor of n's shape), by one reverse sweep of the tape."""
        if of in self._adjoints:
            return self._adjoints[of]
        target = self.values[of]
        if not target.scalar:
            raise GraphError(f"`{of}` is {'a vector' if target.a.shape[1] == 1 else 'a matrix'}; "
                             f"gradients are taken of a scalar (sum it, or pick a loss)")
        with gc_paused():
            adj: dict[int, Tensor] = {id(target): scalar(S.One)}
            shown: dict[int, Tensor] = {}  # reported but not propagated (p of softmax + CE)
            for entry in reversed(self.tape):
                G = adj.get(id(entry.out))
                if G is None:
                    continue
                result = entry.vjp(G)
                fused = None
                if isinstance(result, tuple):
                    result, fused = result
                for i, (inp, g) in enumerate(zip(entry.inputs, result)):
                    if g is None or inp.const or inp.index:
                        continue
                    if fused is not None and i == 0:
                        _accumulate(shown, inp, g)
                    else:
                        _accumulate(adj, inp, g)
                if fused is not None:
                    _accumulate(adj, entry.fused, fused)
            result = {}
            for name, t in self.values.items():
                g = adj.get(id(t))
                extra = shown.get(id(t))
                if g is not None and extra is not None:
                    g = _sum(g, extra)
                result[name] = g if g is not None else (extra if extra is not None else zeros(t.shape))
        self._adjoints[of] = result
        return result

    def grad(self, wrt: str, of: str) -> Tensor:
        return self.adjoints(of)[wrt]


def uses_tensor_syntax(equations: list[Equation]) -> bool:
    """True when an equation uses ``@``, ``.T`` or a tensor function (softmax, sum …)."""
    stack = [eq.tree for eq in equations]
    while stack:
        node = stack.pop()
        if isinstance(node, Transpose) or (isinstance(node, BinOp) and node.op == "@") or (
                isinstance(node, Call) and node.func in TENSOR_FUNCTIONS):
            return True
        stack.extend(_operands(node))
    return False


def _operands(tree) -> tuple:
    if isinstance(tree, BinOp):
        return (tree.left, tree.right)
    if isinstance(tree, Call):
        return tree.args
    if isinstance(tree, (Neg, Transpose)):
        return (tree.operand,)
    return ()


def _pair(op_result, inputs):
    out, vjp = op_result
    return out, inputs, vjp


def _sum(a: Tensor, b: Tensor) -> Tensor:
    return binary_values("+", a, b, a.shape, "Σ")


def _accumulate(adj: dict, t: Tensor, g: Tensor):
    key = id(t)
    adj[key] = g if key not in adj else _sum(adj[key], g)



def _shape_of_given(name: str, value) -> tuple:
    """A user's shape: [rows, columns], [n] (a column vector), [] or 1-free scalar forms."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or len(value) > 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        raise InvalidValue(f"shapes: `{name}: {value!r}` is not a shape; write [rows, columns] "
                           f"(e.g. `W: [3, 2]`), [n] for a column vector or [] for a scalar")
    if not value:
        return ()
    return (value[0], 1) if len(value) == 1 else (value[0], value[1])


class ShapeEvaluation:
    """Shapes of every node from the inputs' shapes alone, for a symbolic matrix derivation
    (no values): the same shape rules, and the same messages, as the evaluation with numbers.

    >>> from derive.core.parser import parse_equations
    >>> from derive.core.tensor import TENSOR_FUNCTIONS
    >>> g = Graph(parse_equations("z = W @ x + b\\nL = sum(z)", {**FUNCTIONS, **TENSOR_FUNCTIONS}), tensor=True)
    >>> ShapeEvaluation(g, {"W": [3, 2], "x": [2], "b": [3]}).shapes["z"]
    (3, 1)
    """

    def __init__(self, graph: Graph, shapes: dict):
        unknown = [k for k in shapes if k not in graph.inputs]
        if unknown:
            raise InvalidValue(f"shapes given for unknown name(s) {', '.join(map(repr, unknown))}; "
                               f"the inputs are: {', '.join(graph.inputs)}")
        missing = [n for n in graph.inputs if n not in shapes]
        if missing:
            raise InvalidValue(f"missing shape(s) for {', '.join(missing)}; give every input a "
                               f"shape, e.g. `{missing[0]}: [3, 1]`")
        self.graph = graph
        self.shapes = {n: _shape_of_given(n, shapes[n]) for n in graph.inputs}
        for eq in graph.equations:
            self.shapes[eq.name] = self._shape(eq.tree, eq)

    def _shape(self, tree, eq: Equation) -> tuple:
        if isinstance(tree, Num):
            return ()
        if isinstance(tree, Name):
            return self.shapes[tree.id]
        where = Where(eq.line, tuple(source_text(a) for a in _operands(tree)))
        if isinstance(tree, Neg):
            return self._shape(tree.operand, eq)
        if isinstance(tree, Transpose):
            s = self._shape(tree.operand, eq)
            return s if s == () else (s[1], s[0])
        if isinstance(tree, BinOp):
            a, b = self._shape(tree.left, eq), self._shape(tree.right, eq)
            if tree.op == "@":
                if a == () or b == ():
                    raise ShapeError(f"{where.prefix()}`@` multiplies vectors and matrices; "
                                     f"{where.text(0 if a == () else 1, 'an operand')} is a scalar "
                                     f"— use * to scale by a number")
                if a[1] != b[0]:
                    left, right = where.text(0, "A"), where.text(1, "B")
                    raise ShapeError(f"{where.prefix()}{left} @ {right} needs {right} with {a[1]} "
                                     f"rows ({left} is {a[0]}×{a[1]}), got {b[0]} (it is "
                                     f"{b[0]}×{b[1]}); transpose one of them or fix the shapes")
                return (a[0], b[1])
            if a == ():
                return b
            if b == ():
                return a
            r = a[0] if a[0] == b[0] or b[0] == 1 else (b[0] if a[0] == 1 else None)
            c = a[1] if a[1] == b[1] or b[1] == 1 else (b[1] if a[1] == 1 else None)
            if r is None or c is None:
                raise ShapeError(f"{where.prefix()}{where.text(0, 'the left side')} {tree.op} "
                                 f"{where.text(1, 'the right side')} needs equal shapes (or one "
                                 f"that broadcasts: a scalar, a column vector over columns, a row "
                                 f"over rows), got {shape_text(a)} and {shape_text(b)}")
            return (r, c)
        if isinstance(tree, Call):
            shapes = [self._shape(a, eq) for a in tree.args]
            if tree.func in TENSOR_FUNCTIONS:
                spec = TENSOR_FUNCTIONS[tree.func]
                numbers = [a.value if isinstance(a, Num) else None for a in tree.args]
                if spec.shape is None:
                    if shapes[0] == () and spec.layer:
                        raise ShapeError(f"{where.prefix()}{tree.func} needs a vector (or a batch "
                                         f"of vectors as columns); {where.text(0, 'its argument')} "
                                         f"is a scalar")
                    return shapes[0]
                return spec.shape(shapes, numbers)
            for i, s in enumerate(shapes[1:], start=1):
                if s != () or not isinstance(tree.args[i], Num):
                    raise GraphError(f"line {eq.line}: argument {i + 1} of `{tree.func}` must be a "
                                     f"number (it is applied to every entry of the first)")
            return shapes[0]
        raise TypeError(f"not a syntax tree node: {tree!r}")
