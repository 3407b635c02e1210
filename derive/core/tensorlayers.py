"""The layers of the tensor language, as entries of the one table ``TENSOR_OPS``: 2-D convolution
with channels, max- and average-pooling, an embedding lookup, flatten, the mean over each
example's features, and layer normalisation as a named composite.

Values. An image is a C×H×W tensor, a kernel C_out×C_in×kh×kw (``Tensor`` holds any numpy object
array of exact entries; ``value``/``grad`` give a ``sympy.Array`` for them). In a matrix product an
image stands for vec(x), its entries read row-major — channel by channel, row by row — as one
column, so each layer is a matrix a lecturer can write down:

* ``conv2d(x, k, stride=1, padding=0)`` (a cross-correlation, as PyTorch's) is vec(o) = T(k) vec(x):
  row (o, p, q) of the band matrix T(k) holds kernel o at window (p, q). Backwards,
  ∂L/∂x = T(k)ᵀ g, and ∂L/∂k = corr(x, g): entry (o, i, a, b) sums g[o, p, q] times the input
  entry the kernel entry met, x[i, p·stride + a − padding, q·stride + b − padding];
* ``maxpool2d(x, size, stride=size)`` is vec(o) = R(x) vec(x), R(x) selecting each window's
  maximum — at a tie the first one in row-major window order, as PyTorch — and ∂L/∂x = R(x)ᵀ g
  routes each output's gradient to the entry it copied;
* ``avgpool2d(x, size, stride=size)``: ∂L/∂x = up(g)/size², each output's gradient spread over its
  window (summed where windows overlap);
* ``embedding(E, i)``: the rows of E (one per class, PyTorch's layout) picked by 0-based class
  indices — as columns, Eᵀ onehot(i), when the examples are columns; as rows, onehot(i)ᵀ E, when
  they are rows. ∂L/∂E = onehot(i) gᵀ (or onehot(i) g): the gradient lands in the rows picked;
* ``flatten(x)``: vec(x), a column (a row under ``batch: rows``); ∂L/∂x = vec⁻¹(g);
* ``feature_mean(x)``: the mean of each example's features (each column, or each row under
  ``batch: rows``);
* ``layer_norm(x, gamma, beta, eps=1e-5)``: a named composite — the staging writes out its steps
  (the mean, the centred input, the variance, the normalised x̂, then γ ⊙ x̂ + β), each step an
  entry of the table with its own rule.

Stride, padding, pool sizes and axes are numbers written in the equation (``conv2d(x, k, 2, 1)``
or ``conv2d(x, k, stride=2, padding=1)``).
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy import S

from .matrixmath import MatProduct, Scaled, TensorCall, Transposed
from .parser import BinOp, Call, Name, Num
from .tensor import (ONES, Applied, NoRule, ShapeError, Tensor, TensorFunction, _APPLIED, _T,
                     _sum_entries, compact, conv_windows, matmul_values, register_tensor_function,
                     reshaped, shape_text, vec)


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
    return (latex + "_{" + r",\,".join(f"{n}={f}" for n, f in shown) + "}",
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
    raise NoRule("layer_norm is written out in its steps before it is evaluated")


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

__all__ = ["LAYER_NORM_STEPS", "band2d", "correlate2d", "layer_norm_steps", "pool_argmax", "pool_select",
           "upsample"]
