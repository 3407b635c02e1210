"""Builders for the canonical layer exercises (CS231n's assignments, d2l): batch normalisation, a
recurrent net unrolled in time, 1-D and 2-D convolution, max-pooling and dropout.

Each writes staged equations with scalar names — one line per entry, the way the exercise is
worked by hand — so the scalar engine derives it and every document, check and export works as
for any example. A layer inside a larger net is represented by its upstream gradient: the loss is
``L = Σ upstream_i · out_i``, so ∂L/∂out_i = upstream_i (CS231n's ``dout``).
"""
from __future__ import annotations

import re

import numpy as np
import sympy as sp

from ..core.engine import graph_of
from ..core.errors import DeriveError
from ..core.functions import activation as activation_spec
from ..core.functions import derivative_rule
from ..core.losses import loss as loss_spec
from ..core.parser import BinOp, Call, Name, Num
from ..core.tensor import layer_norm_steps
from ..core.windows import conv_taps, pool_windows
from ..solutions.layerdocs import batchnorm_simplified as simplified  # also registers the layouts
from .example import Example


def _vector(value, name: str) -> list:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not value:
        raise DeriveError(f"{name}: expected a non-empty list of numbers, got {value!r}")
    if any(isinstance(v, (list, tuple)) for v in value):
        raise DeriveError(f"{name}: expected a list of numbers, not of lists")
    return list(value)


def _matrix(value, name: str) -> list:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if (not isinstance(value, (list, tuple)) or not value
            or not all(isinstance(r, (list, tuple)) and r for r in value)):
        raise DeriveError(f"{name}: expected a matrix (a non-empty list of rows), got {value!r}")
    if len({len(r) for r in value}) != 1:
        raise DeriveError(f"{name}: rows of different lengths")
    return [list(r) for r in value]


def _upstream(upstream, n: int, name: str = "upstream") -> list:
    """The gradient arriving from above; default 1, 2, …, n (distinct, so no symmetry hides a bug)."""
    if upstream is None:
        return list(range(1, n + 1))
    values = _vector(upstream, name)
    if len(values) != n:
        raise DeriveError(f"{name}: {n} outputs need {n} upstream gradients, got {len(values)}")
    return values


def _readout(outputs: list[str], upstream: list, values: dict) -> str:
    terms = []
    for i, (o, u) in enumerate(zip(outputs, upstream), start=1):
        values[f"g{i}"] = u
        terms.append(f"g{i}*{o}")
    return "L = " + " + ".join(terms)


def _act(name: str, arg: str) -> str:
    activation_spec(name)
    return f"{name}({arg})"


def _unit(out: str, pre: str, total: str, activation: str) -> list[str]:
    """``out = total`` without an activation; else the pre-activation named, ``pre = total`` and
    ``out = f(pre)`` — short lines and local derivatives, as on the board."""
    spec = activation_spec(activation)
    if derivative_rule(spec, sp.Symbol("z", real=True)) == 1:  # the identity: nothing to name
        return [f"{out} = {total}"]
    return [f"{pre} = {total}", f"{out} = {_act(activation, pre)}"]


# --- batch normalisation ---------------------------------------------------------------------


# The steps of a normalisation are the tensor table's layer_norm composite: one feature over a batch
# of n is normalised as layer_norm normalises a column of n features (mean, centred, squared,
# biased variance, standard deviation, normalised, scaled and shifted). Its stems are named as
# CS231n's exercise names them, and each step is written entry by entry.
_NORMALISATION_NAMES = {"mu": "mu", "xc": "d", "sq": "sq", "var": "var", "sigma": "s", "xhat": "xhat"}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 3}


def _normalisation_lines(n: int) -> list[str]:
    """The scalar lines of ``out = layer_norm(x, gamma, beta, eps)`` over ``x1 … xn``."""
    steps = layer_norm_steps("out", (Name("x", 0), Name("gamma", 0), Name("beta", 0), Name("eps", 0)),
                             _NORMALISATION_NAMES.__getitem__)
    vectors, lines = {"x"}, []
    for name, tree, _ in steps:
        if _per_entry(tree, vectors):
            vectors.add(name)
            lines += [f"{name}{i} = {_entry_text(tree, i, vectors, n)}" for i in range(1, n + 1)]
        else:
            lines.append(f"{name} = {_entry_text(tree, 1, vectors, n)}")
    return lines


def _per_entry(tree, vectors: set) -> bool:
    """Does the step hold one number per entry (it uses a vector outside a mean)?"""
    if isinstance(tree, Name):
        return tree.id in vectors
    if isinstance(tree, Call):
        return tree.func != "feature_mean" and any(_per_entry(a, vectors) for a in tree.args)
    if isinstance(tree, BinOp):
        return _per_entry(tree.left, vectors) or _per_entry(tree.right, vectors)
    return False


def _entry_text(tree, i: int, vectors: set, n: int) -> str:
    """Entry ``i`` of a step's tree as an equation: a vector's name is its entry, a feature_mean
    the mean of its argument's n entries, the rest as written."""
    if isinstance(tree, Name):
        return f"{tree.id}{i}" if tree.id in vectors else tree.id
    if isinstance(tree, Num):
        return tree.text
    if isinstance(tree, Call):
        if tree.func == "feature_mean":
            return f"({' + '.join(_entry_text(tree.args[0], j, vectors, n) for j in range(1, n + 1))})/{n}"
        return f"{tree.func}({', '.join(_entry_text(a, i, vectors, n) for a in tree.args)})"
    rank = _PRECEDENCE[tree.op]
    sides = []
    for side, operand in (("left", tree.left), ("right", tree.right)):
        text = _entry_text(operand, i, vectors, n)
        inner = _PRECEDENCE.get(operand.op) if isinstance(operand, BinOp) else None
        if inner is not None and (inner < rank or tree.op == "**"
                                  or inner == rank and side == "right" and tree.op in ("-", "/")):
            text = f"({text})"
        sides.append(text)
    return f" {tree.op} ".join(sides) if rank == 1 else tree.op.join(sides)


def batchnorm(x, gamma=1, beta=0, eps="1e-5", upstream=None, title: str | None = None) -> Example:
    """Batch normalisation of one feature over a batch ``x1 … xn`` (training mode, biased variance
    as in PyTorch), in the steps of the tensor table's ``layer_norm``: ``mu``, ``d_i = x_i − mu``,
    ``sq_i = d_i²``, ``var``, ``s = sqrt(var + eps)``, ``xhat_i = d_i/s``,
    ``out_i = gamma·xhat_i + beta``; ``L = Σ g_i·out_i`` with ``g = upstream`` (default 1 … n).

    >>> ex = batchnorm([1, 2, 3], gamma=2, beta=0, eps=0, upstream=[1, 0, 0])
    >>> ex.grad("beta"), ex.grad("x2")  # = γ/(n·s)·(0 − 1 − 0), s = sqrt(2/3)
    (1, -sqrt(6)/3)
    """
    xs = _vector(x, "x")
    n = len(xs)
    if n < 2:
        raise DeriveError("batchnorm: a batch needs at least 2 examples (the variance of one is 0)")
    ups = _upstream(upstream, n)
    values = {f"x{i}": v for i, v in enumerate(xs, start=1)}
    values.update({"gamma": gamma, "beta": beta, "eps": eps})
    lines = _normalisation_lines(n)
    lines.append(_readout([f"out{i}" for i in range(1, n + 1)], ups, values))
    xs_names = [f"x{i}" for i in range(1, n + 1)]
    meta = {"layer": "batchnorm", "batch": n, "focus": "x1", "upstream": ups,
            "ask": [f"dL/d{x}" for x in xs_names] + ["dL/dgamma", "dL/dbeta"]}
    # display objects, printed alike by every format: σ² and ε in the text as in the LaTeX
    shown = {"mu": sp.Symbol("mu"), "var": sp.Symbol("sigma") ** 2, "gamma": sp.Symbol("gamma"),
             "beta": sp.Symbol("beta"), "eps": sp.Symbol("varepsilon"),
             **{f"xhat{i}": sp.Symbol(f"xhat{i}") for i in range(1, n + 1)}}
    # γ and β are what training updates; the x's are the layer's input, whose gradient (CS231n's
    # dx) the exercise asks for and passes down — data here, not parameters
    return Example(graph_of("\n".join(lines), inputs=list(values)), values,
                   ["gamma", "beta"], None,
                   title or f"Batch normalisation: the backward pass over a batch of {n}", "batchnorm",
                   meta, shown)


def values_of(base: str, n: int) -> list[str]:
    return [f"{base}{i}" for i in range(1, n + 1)]


def batchnorm_simplified(ex: Example) -> list:
    """CS231n's one-line gradient for the batchnorm example ``ex``, from its exact forward values:
    ∂L/∂x_i = γ/(n·s) · (n·g_i − Σ_j g_j − x̂_i · Σ_j g_j x̂_j), with s = sqrt(var + eps).
    Returns the exact ∂L/∂x_i, i = 1 … n (to compare with the step-by-step ones).

    >>> ex = batchnorm([1, 2, 4])
    >>> [round(float(v), 4) for v in batchnorm_simplified(ex)]
    [-0.1145, 0.1718, -0.0573]
    >>> [round(float(ex.grad(f"x{i}")), 4) for i in (1, 2, 3)]
    [-0.1145, 0.1718, -0.0573]
    """
    if ex.meta.get("layer") != "batchnorm":
        raise DeriveError("batchnorm_simplified needs an example built by batchnorm(...)")
    return simplified(ex)


# --- recurrent net -----------------------------------------------------------------------------


def rnn(xs, h0, w_xh, w_hh, w_hy, y, b_h=0, b_y=0, activation: str = "tanh",
        loss: str = "half_squared_error", lr=None, title: str | None = None) -> Example:
    """A recurrent net unrolled over ``len(xs)`` steps: ``z_t = w_xh·x_t + w_hh·h_(t−1) + b_h``,
    ``h_t = f(z_t)``,
    output ``yhat = w_hy·h_T + b_y`` at the last step, ``L = loss(yhat, y)``. The weights are
    shared across time, so ∂L/∂w_hh is a sum over the time steps (one path per step) — and a
    product of T factors w_hh·f'(…) along the longest path: exploding or vanishing gradients.
    Scalars here; matrices (lists) give the same equations with ``@``.

    >>> ex = rnn([1, 2, 3], h0=0, w_xh=1, w_hh=2, w_hy=1, y=0, activation="identity")
    >>> ex.value("h3"), ex.grad("w_hh")
    (11, 66)
    """
    steps = _vector(xs, "xs") if not isinstance(xs, (list, tuple)) or not any(
        isinstance(v, (list, tuple, np.ndarray)) for v in xs) else list(xs)
    loss_spec(loss)
    matrices = any(isinstance(v, (list, tuple, np.ndarray)) for v in [*steps, h0, w_xh, w_hh, w_hy, y])
    mul = " @ " if matrices else "*"
    values = {f"x{t}": v for t, v in enumerate(steps, start=1)}
    values.update({"h0": h0, "w_xh": w_xh, "w_hh": w_hh, "b_h": b_h, "w_hy": w_hy, "b_y": b_y, "y": y})
    lines = []
    for t in range(1, len(steps) + 1):  # the pre-activation z_t named: short, as on the board
        lines.append(f"z{t} = w_xh{mul}x{t} + w_hh{mul}h{t - 1} + b_h")
        lines.append(f"h{t} = {_act(activation, f'z{t}')}")
    lines.append(f"yhat = w_hy{mul}h{len(steps)} + b_y")
    if matrices:
        spec = loss_spec(loss)
        if spec.batch is None:
            raise DeriveError(f"rnn: the loss {loss!r} has no matrix form")
        lines.append(f"L = {spec.batch('yhat', 'y', 1)}")
    else:
        lines.append(f"L = {loss_spec(loss).equation(['yhat'], ['y'])}")
    params = ["w_hh", "w_xh", "w_hy", "b_h", "b_y"]
    meta = {"layer": "rnn", "steps": len(steps), "activation": activation, "loss": loss, "focus": "w_hh"}
    title = title or f"A recurrent net over {len(steps)} steps: the shared recurrent weight"
    latex = {"w_xh": r"w_{xh}", "w_hh": r"w_{hh}", "w_hy": r"w_{hy}", "b_h": "b_h", "b_y": "b_y",
             "yhat": r"\hat{y}", **{f"h{t}": f"h_{{{t}}}" for t in range(len(steps) + 1)}}
    text = "\n".join(lines)
    if matrices:
        from .tensors import TensorExample
        ex = TensorExample.from_equations(text, values=values, params=params, lr=lr, title=title)
        ex.meta.update(meta)
        return ex
    return Example(graph_of(text, inputs=list(values)), values, params, lr, title,
                   "rnn", meta, latex)


# --- convolution and pooling: the tensor table's entries, entry by entry -----------------------
#
# The windows, strides and paddings of conv1d, conv2d and maxpool2d are defined once, in the tensor
# table (derive.core.tensor.TENSOR_OPS). A builder asks the table (derive.core.windows, shared with
# the layer documents) which inputs each output entry meets and writes one scalar line per output
# from the answer, so its scalar derivation is the table's layer, entry by entry.


def _names(base: str, shape: tuple) -> list[str]:
    """Scalar names of a tensor's entries, row-major: ``x1 …`` for a column, ``x{r}_{c}`` for an
    image's rows and columns (1-based)."""
    if len(shape) == 2 and shape[1] == 1:
        return [f"{base}{i}" for i in range(1, shape[0] + 1)]
    rows, cols = shape[-2:]
    return [f"{base}{r}_{c}" for r in range(1, rows + 1) for c in range(1, cols + 1)]


def _settings(layer: str, stride, padding) -> None:
    if not isinstance(stride, int) or stride < 1 or not isinstance(padding, int) or padding < 0:
        raise DeriveError(f"{layer}: stride must be a whole number ≥ 1 and padding ≥ 0")


def _conv(layer: str, X: list, x_shape: tuple, K: list, k_shape: tuple, bias, stride: int,
          padding: int, activation: str, upstream) -> tuple[str, dict, dict, list[str]]:
    """The scalar lines of the table's ``layer`` (conv1d or conv2d) with a bias and an
    activation, and the readout ``L = Σ g·o``: (equations, values, meta, output names)."""
    _settings(layer, stride, padding)
    out_shape, taps = conv_taps(layer, x_shape, k_shape, stride, padding)
    xs, ks, outs = _names("x", x_shape), _names("k", k_shape), _names("o", out_shape)
    ups = _upstream(upstream, len(outs))
    values = {**dict(zip(xs, X)), **dict(zip(ks, K)), "b": bias}
    lines, pairs_of = [], {}
    for out, met in zip(outs, taps):
        pairs = [(ks[m], xs[i]) for m, i in met]
        lines += _unit(out, "z" + out[1:], " + ".join([f"{k}*{x}" for k, x in pairs] + ["b"]), activation)
        pairs_of[out] = pairs
    _all_used({n for pairs in pairs_of.values() for pair in pairs for n in pair}, xs + ks, layer,
              f"stride {stride} and padding {padding}")
    lines.append(_readout(outs, ups, values))
    meta = {"layer": layer, "stride": stride, "padding": padding, "focus": ks[0], "taps": pairs_of,
            "inputs": xs, "kernel": ks, "activation": activation}
    return "\n".join(lines), values, meta, outs


def _all_used(used: set, names: list[str], layer: str, settings: str) -> None:
    """Every input (and kernel entry) must take part at least once: one that only ever meets the
    zero padding, or that the stride skips, is not in the computation at all."""
    clauses = []
    for prefix, other in (("x", "the kernel" if layer.startswith("conv") else "a window"), ("k", "an input")):
        unused = [n for n in names if n.startswith(prefix) and n not in used]
        if unused:
            clauses.append(f"{', '.join(unused)} never meet{'s' if len(unused) == 1 else ''} {other}")
    if clauses:
        raise DeriveError(f"{layer}: with {settings}, {' and '.join(clauses)} (a gradient of 0, as in "
                          f"PyTorch, but no part of the computation); use a smaller stride"
                          + (" or padding" if layer.startswith("conv") else ""))


def conv1d(x, kernel, bias=0, stride: int = 1, padding: int = 0, activation: str = "identity",
           upstream=None, title: str | None = None) -> Example:
    """1-D convolution (cross-correlation, as PyTorch's ``conv1d``) with a shared kernel:
    ``o_j = f(Σ_m k_m·x_(j·stride + m − padding) + b)`` (zero padding), ``L = Σ g_j·o_j``: the
    tensor table's ``conv1d``, one scalar line per output. The kernel's gradient sums over every
    position it was used at.

    >>> ex = conv1d([1, 2, 3, 4], [1, -1], upstream=[1, 1, 1])
    >>> ex.value("o1"), ex.grad("k1"), ex.grad("x2")
    (-1, 6, 0)
    """
    xs, ks = _vector(x, "x"), _vector(kernel, "kernel")
    text, values, meta, _ = _conv("conv1d", xs, (len(xs), 1), ks, (len(ks), 1), bias, stride, padding,
                                  activation, upstream)
    return Example(graph_of(text, inputs=list(values)), values, meta["kernel"] + ["b"], None,
                   title or "A 1-D convolution: one kernel shared by every position", "conv", meta)


_GRID = re.compile(r"^([A-Za-z]+)(\d+)_(\d+)$")


def _grid_names(names) -> dict:
    """LaTeX for row/column names: ``x2_1`` -> ``x_{2,1}`` (the default would read it as the mlp's
    layer-2 ``x^{(2)}_{1}``)."""
    return {n: f"{m[1]}_{{{m[2]},{m[3]}}}" for n in names if (m := _GRID.match(n))}


def conv2d(x, kernel, bias=0, stride: int = 1, padding: int = 0, activation: str = "identity",
           upstream=None, title: str | None = None) -> Example:
    """2-D convolution (cross-correlation, as PyTorch's ``conv2d``), one channel: inputs
    ``x{r}_{c}``, kernel ``k{r}_{c}``, outputs ``o{r}_{c}`` (1-based), ``L = Σ g·o`` with
    ``upstream`` a matrix of the output's shape (default 1, 2, … row by row): the tensor table's
    ``conv2d`` on a 1×H×W image, one scalar line per output.

    >>> ex = conv2d([[1, 2], [3, 4]], [[1, 0], [0, 1]])
    >>> ex.value("o1_1"), ex.grad("k2_2")
    (5, 4)
    """
    X, K = _matrix(x, "x"), _matrix(kernel, "kernel")
    ups = None if upstream is None else np.asarray(upstream, dtype=object).ravel().tolist()
    text, values, meta, outs = _conv("conv2d", [v for r in X for v in r], (1, len(X), len(X[0])),
                                     [v for r in K for v in r], (1, 1, len(K), len(K[0])), bias,
                                     stride, padding, activation, ups)
    return Example(graph_of(text, inputs=list(values)), values, meta["kernel"] + ["b"],
                   None, title or "A 2-D convolution: one kernel shared by every position",
                   "conv", meta, latex_names=_grid_names([*values, *outs, *("z" + o[1:] for o in outs)]))


def maxpool(x, size: int = 2, stride: int | None = None, upstream=None,
            title: str | None = None) -> Example:
    """Max-pooling over windows of ``size`` (``size×size`` for a matrix ``x``), stride ``size`` by
    default: ``o_j = max(window)``; the gradient is routed to the window's maximum (at a tie to the
    first one, as PyTorch). Inputs ``x1 …`` (or ``x{r}_{c}``), outputs ``o1 …`` (or ``o{r}_{c}``);
    the windows are the tensor table's (``maxpool2d``).

    >>> ex = maxpool([1, 5, 2, 0], size=2)
    >>> ex.value("o2"), ex.grad("x2"), ex.grad("x1")
    (2, 1, 0)
    """
    if not isinstance(size, int) or size < 2:
        raise DeriveError(f"maxpool: size must be a whole number ≥ 2, got {size!r} (a window of "
                          f"one entry just copies it)")
    stride = stride or size
    _settings("maxpool", stride, 0)
    two_d = isinstance(x, (list, tuple, np.ndarray)) and any(isinstance(r, (list, tuple, np.ndarray)) for r in x)
    if two_d:
        X = _matrix(x, "x")
        entries, shape = [v for r in X for v in r], (1, len(X), len(X[0]))
    else:
        entries = _vector(x, "x")
        shape = (len(entries), 1)
    if size > min(shape[-2:] if two_d else shape[:1]):
        raise DeriveError(f"maxpool: the window ({size}{f'×{size}' if two_d else ''}) is larger than "
                          f"the input ({'×'.join(map(str, shape[-2:] if two_d else shape[:1]))})")
    out_shape, windows = pool_windows(shape, size, stride)
    inputs, outs = _names("x", shape), _names("o", out_shape)
    values = dict(zip(inputs, entries))
    windows = [(out, [inputs[i] for i in cells]) for out, cells in zip(outs, windows)]
    _all_used({n for _, cells in windows for n in cells}, inputs, "maxpool",
              f"size {size} and stride {stride}")
    ups = _upstream(None if upstream is None else np.asarray(upstream, dtype=object).ravel().tolist(),
                    len(windows))
    lines = []
    for out, cells_ in windows:
        # pool_max: at a tie the first maximal entry gets the gradient, as F.max_pool1d/2d
        lines.append(f"{out} = pool_max({', '.join(cells_)})")
    lines.append(_readout([o for o, _ in windows], ups, values))
    # no parameters: the exercise asks for the gradient the layer passes down to its inputs
    meta = {"layer": "maxpool", "size": size, "stride": stride, "focus": inputs[0],
            "ask": [f"dL/d{x}" for x in inputs], "windows": dict(windows), "inputs": inputs}
    return Example(graph_of("\n".join(lines), inputs=list(values)), values, [], None,
                   title or "Max-pooling: the gradient goes to the maximum", "maxpool", meta,
                   latex_names=_grid_names([*values, *(o for o, _ in windows)]))


def dropout(x, mask, p, upstream=None, title: str | None = None) -> Example:
    """Inverted dropout with a fixed mask: ``out_i = x_i·m_i/(1 − p)`` (kept units are scaled up
    at training time, so nothing changes at test time); ``L = Σ g_i·out_i``. The gradient is
    g_i·m_i/(1 − p): dropped units pass none.

    >>> ex = dropout([1, 2, 3], mask=[1, 0, 1], p=0.5)
    >>> ex.value("out1"), ex.grad("x2"), ex.grad("x3")
    (2, 0, 6)
    """
    xs, ms = _vector(x, "x"), _vector(mask, "mask")
    if len(xs) != len(ms):
        raise DeriveError(f"dropout: x has {len(xs)} entries but the mask {len(ms)}")
    if any(m not in (0, 1) for m in ms):
        raise DeriveError("dropout: the mask holds 0 (dropped) or 1 (kept) per unit")
    ups = _upstream(upstream, len(xs))
    values = {f"x{i}": v for i, v in enumerate(xs, start=1)}
    values.update({f"m{i}": v for i, v in enumerate(ms, start=1)})
    values["p"] = p
    lines = [f"out{i} = x{i}*m{i}/(1 - p)" for i in range(1, len(xs) + 1)]
    lines.append(_readout([f"out{i}" for i in range(1, len(xs) + 1)], ups, values))
    meta = {"layer": "dropout", "focus": "x1", "ask": [f"dL/dx{i}" for i in range(1, len(xs) + 1)],
            "inputs": values_of("x", len(xs))}
    # no parameters (the mask and p are fixed): the gradient asked for is the inputs'
    return Example(graph_of("\n".join(lines), inputs=list(values)), values, [], None,
                   title or "Inverted dropout with a fixed mask", "dropout", meta)
