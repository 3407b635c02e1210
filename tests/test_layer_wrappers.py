"""The layer builders are thin wrappers over the tensor table: on examples the other layer tests do
not use (other sizes, strides, paddings, activations; negative and zero values; ties in max-pooling;
all-dropped masks), each builder's values and gradients equal exactly the same layer written in the
equation language with the table's op (conv1d, conv2d, maxpool2d, layer_norm, elementwise ops,
@), and equal PyTorch float64. And the builders take their windows from the table: a spy on the
entries' evaluate sees them called, and layers.py has no window arithmetic of its own."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import derive
from derive.core.engine import expand_quantities
from derive.core.tensor import TENSOR_OPS

TOL = 1e-12
ACT = {"identity": lambda o: o, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
       "softplus": F.softplus}


def t(v, grad=True):
    return torch.tensor(np.array(v, dtype=float), dtype=torch.float64, requires_grad=grad)


def exact(a, b) -> bool:
    """Equal as exact numbers (the tensor example's entries may be lazy quantities)."""
    a, b = expand_quantities(sp.sympify(a)), expand_quantities(sp.sympify(b))
    return a == b or sp.simplify(a - b) == 0


def close(a, b) -> bool:
    return abs(float(a) - float(b)) <= TOL * max(1.0, abs(float(b)))


def entries(value) -> list:
    """A tensor example's value or gradient, its entries row-major."""
    return list(sp.flatten(value.tolist())) if hasattr(value, "tolist") else [value]


def same_layer(ex, tensor, pairs):
    """Each (scalar name of the builder, tensor name, flat index) equal: values of nodes, gradients
    of inputs."""
    for scalar_name, tensor_name, i, kind in pairs:
        mine = ex.value(scalar_name) if kind == "value" else ex.grad(scalar_name)
        theirs = entries(tensor.value(tensor_name) if kind == "value" else tensor.grad(tensor_name))[i]
        assert exact(mine, theirs), (scalar_name, mine, theirs)


# --- conv1d --------------------------------------------------------------------------------------

CONV1D = [
    ([0, -1.5, 2, 0, 3, -2, 1], [-1, 0, 2], -0.25, 3, 2, "relu", None),
    ([2, -3], [1, -1, 0.5], 0, 1, 1, "sigmoid", [1, -1]),
    ([-1, -2, -3, -4, -5], [0.5, 0.5, -1], 1, 2, 0, "tanh", [-1, 3]),
    ([1, 0, 0, 1, 2, -2, 0.5, 4], [3, -2, 1, 0], 0.5, 1, 3, "softplus", None),
]


@pytest.mark.parametrize("x, k, bias, stride, padding, activation, upstream", CONV1D)
def test_conv1d_builder_is_the_table_conv1d_and_torch(x, k, bias, stride, padding, activation, upstream):
    ex = derive.conv1d(x, k, bias=bias, stride=stride, padding=padding, activation=activation,
                       upstream=upstream)
    outs = list(ex.meta["taps"])
    g = upstream or list(range(1, len(outs) + 1))
    tensor = derive.TensorExample.from_equations(
        f"z = conv1d(x, k, stride={stride}, padding={padding}) + b\no = {activation}(z)\nL = sum(g*o)",
        values={"x": x, "k": k, "b": bias, "g": g})
    assert len(entries(tensor.value("o"))) == len(outs)
    same_layer(ex, tensor, [(o, "o", j, "value") for j, o in enumerate(outs)]
               + [(f"x{i + 1}", "x", i, "grad") for i in range(len(x))]
               + [(f"k{m + 1}", "k", m, "grad") for m in range(len(k))] + [("b", "b", 0, "grad")])
    tx, tk, tb = t([[x]]), t([[k]]), t([bias])
    out = ACT[activation](F.conv1d(tx, tk, tb, stride=stride, padding=padding)).reshape(-1)
    (out * t(g, grad=False)).sum().backward()
    assert [close(ex.value(o), out[j].item()) for j, o in enumerate(outs)] == [True] * len(outs)
    assert all(close(ex.grad(f"x{i + 1}"), tx.grad[0, 0, i].item()) for i in range(len(x)))
    assert all(close(ex.grad(f"k{m + 1}"), tk.grad[0, 0, m].item()) for m in range(len(k)))
    assert close(ex.grad("b"), tb.grad[0].item())


# --- conv2d --------------------------------------------------------------------------------------

CONV2D = [
    ([[1, 0, -2], [0.5, 3, 1], [2, -1, 0]], [[1, -1], [0, 2]], -0.5, 2, 1, "tanh", [[1, -2], [0, 3]]),
    ([[0, 0, 0, 0, 0], [1, -1, 1, -1, 1], [2, 0, -2, 0, 2], [0.5, 0.5, 0.5, 0.5, 0.5]],
     [[1, 0, -1], [2, 0, -2], [1, 0, -1]], 0, 1, 0, "relu", None),
    ([[3, -1], [-2, 4]], [[0.5]], 1, 1, 2, "identity", None),
    ([[1, 2, 3, 4, 5, 6], [-6, -5, -4, -3, -2, -1], [0, 1, 0, 1, 0, 1]], [[1, 1, -1], [0.25, 0, 1]],
     0.25, 2, 1, "sigmoid", None),
]


@pytest.mark.parametrize("x, k, bias, stride, padding, activation, upstream", CONV2D)
def test_conv2d_builder_is_the_table_conv2d_and_torch(x, k, bias, stride, padding, activation, upstream):
    ex = derive.conv2d(x, k, bias=bias, stride=stride, padding=padding, activation=activation,
                       upstream=upstream)
    outs = list(ex.meta["taps"])
    g = np.asarray(upstream if upstream is not None else range(1, len(outs) + 1), dtype=object)
    rows, cols = (int(v) for v in outs[-1][1:].split("_"))
    tensor = derive.TensorExample.from_equations(
        f"z = conv2d(x, k, stride={stride}, padding={padding}) + b\no = {activation}(z)\nL = sum(g*o)",
        values={"x": [x], "k": [[k]], "b": bias, "g": [g.reshape(rows, cols).tolist()]})
    xs, ks = ex.meta["inputs"], ex.meta["kernel"]
    same_layer(ex, tensor, [(o, "o", j, "value") for j, o in enumerate(outs)]
               + [(n, "x", i, "grad") for i, n in enumerate(xs)]
               + [(n, "k", i, "grad") for i, n in enumerate(ks)] + [("b", "b", 0, "grad")])
    tx, tk, tb = t([[x]]), t([[k]]), t([bias])
    out = ACT[activation](F.conv2d(tx, tk, tb, stride=stride, padding=padding)).reshape(-1)
    assert out.numel() == len(outs)
    (out * t(g.ravel().tolist(), grad=False)).sum().backward()
    assert all(close(ex.value(o), out[j].item()) for j, o in enumerate(outs))
    assert all(close(ex.grad(n), v) for n, v in zip(xs, tx.grad.reshape(-1).tolist()))
    assert all(close(ex.grad(n), v) for n, v in zip(ks, tk.grad.reshape(-1).tolist()))
    assert close(ex.grad("b"), tb.grad[0].item())


# --- maxpool -------------------------------------------------------------------------------------

POOL2D = [
    ([[1, 1, 0], [1, 1, 0], [2, 2, 2]], 2, 1),  # overlapping windows, ties in every window
    ([[0, 0, 0, 0], [0, 0, 0, 0]], 2, 2),  # all zeros: every window a tie, the first entry wins
    ([[-3, -1, -2, -5, 0, 0], [-1, -4, -2, -2, 0, -1], [7, 7, 1, 2, 3, 3]], 3, 3),
    ([[2, -1, 4, 4, 0], [3, 3, -2, 1, 0], [0, 5, 5, 1, -1], [1, 2, 3, 4, 5], [5, 0, 0, 5, -5]], 3, 2),
]


@pytest.mark.parametrize("x, size, stride", POOL2D)
def test_maxpool_image_builder_is_the_table_maxpool2d_and_torch(x, size, stride):
    ex = derive.maxpool(x, size=size, stride=stride)
    outs = list(ex.meta["windows"])
    g = [(-1) ** j * (j + 1) for j in range(len(outs))]  # signs mixed: nothing cancels by accident
    rows, cols = (int(v) for v in outs[-1][1:].split("_"))
    ex = derive.maxpool(x, size=size, stride=stride, upstream=np.reshape(g, (rows, cols)).tolist())
    tensor = derive.TensorExample.from_equations(
        f"o = maxpool2d(x, {size}, {stride})\nL = sum(g*o)",
        values={"x": [x], "g": [np.reshape(g, (rows, cols)).tolist()]})
    xs = ex.meta["inputs"]
    same_layer(ex, tensor, [(o, "o", j, "value") for j, o in enumerate(outs)]
               + [(n, "x", i, "grad") for i, n in enumerate(xs)])
    tx = t([[x]])
    out = F.max_pool2d(tx, size, stride).reshape(-1)
    (out * t(g, grad=False)).sum().backward()
    assert [float(ex.value(o)) for o in outs] == out.tolist()
    assert [float(ex.grad(n)) for n in xs] == tx.grad.reshape(-1).tolist()


@pytest.mark.parametrize("x, size, stride", [
    ([0, 0, 0, 0, 0, 0], 3, 3), ([4, -1, 4, 4, -2, 0, 0], 2, 1), ([-5, -5, -7, -1, -1, -7, -7], 3, 2),
])
def test_maxpool_vector_builder_routes_as_torch(x, size, stride):
    """A vector is pooled over conv1d's windows (the table pools images only): torch's
    max_pool1d decides, ties to the first maximum included."""
    n_out = len(range(0, len(x) - size + 1, stride))
    g = [2 * j - 3 for j in range(n_out)]
    ex = derive.maxpool(x, size=size, stride=stride, upstream=g)
    tx = t([[x]])
    out = F.max_pool1d(tx, size, stride).reshape(-1)
    (out * t(g, grad=False)).sum().backward()
    assert [float(ex.value(f"o{j + 1}")) for j in range(n_out)] == out.tolist()
    assert [float(ex.grad(f"x{i + 1}")) for i in range(len(x))] == tx.grad.reshape(-1).tolist()


# --- dropout -------------------------------------------------------------------------------------

@pytest.mark.parametrize("x, mask, p, upstream", [
    ([1, -2, 3], [0, 0, 0], "0.5", [1, 2, 3]),  # every unit dropped: no gradient passes
    ([0, -0.5, 2, 7, -3], [1, 1, 0, 1, 0], "0.2", [-1, 0, 4, 0.5, 2]),
    ([-1, 4], [1, 1], 0, None),  # p = 0: the identity
])
def test_dropout_builder_is_the_elementwise_ops_and_torch(x, mask, p, upstream):
    ex = derive.dropout(x, mask, p, upstream=upstream)
    g = upstream or list(range(1, len(x) + 1))
    tensor = derive.TensorExample.from_equations("o = x*m/(1 - p)\nL = sum(g*o)",
                                                 values={"x": x, "m": mask, "p": p, "g": g})
    n = len(x)
    same_layer(ex, tensor, [(f"out{i + 1}", "o", i, "value") for i in range(n)]
               + [(f"x{i + 1}", "x", i, "grad") for i in range(n)])
    tx = t(x)
    out = tx * t(mask, grad=False) / (1 - float(p))
    (out * t(g, grad=False)).sum().backward()
    assert all(close(ex.value(f"out{i + 1}"), out[i].item()) for i in range(n))
    assert all(close(ex.grad(f"x{i + 1}"), tx.grad[i].item()) for i in range(n))
    if not any(mask):
        assert [ex.grad(f"x{i + 1}") for i in range(n)] == [0] * n


# --- batchnorm -----------------------------------------------------------------------------------

@pytest.mark.parametrize("x, gamma, beta, eps, upstream", [
    ([0, 0, 3, -3, 1], "0.5", 2, "1e-3", [1, -1, 0, 2, -2]),
    ([-2, 5], -1, 0, "1e-5", None),  # two examples, a negative scale
    ([1, 1, 1, 4], 3, "-0.5", "0.1", [0, 0, 0, 1]),  # ties in the batch
])
def test_batchnorm_builder_is_the_table_layer_norm_and_torch(x, gamma, beta, eps, upstream):
    """One feature over a batch of n normalised as layer_norm normalises a column of n features."""
    ex = derive.batchnorm(x, gamma=gamma, beta=beta, eps=eps, upstream=upstream)
    n = len(x)
    g = upstream or list(range(1, n + 1))
    tensor = derive.TensorExample.from_equations(
        "o = layer_norm(x, gamma, beta, eps)\nL = sum(g*o)",
        values={"x": x, "gamma": gamma, "beta": beta, "eps": eps, "g": g})
    same_layer(ex, tensor, [(f"out{i + 1}", "o", i, "value") for i in range(n)]
               + [(f"x{i + 1}", "x", i, "grad") for i in range(n)]
               + [("gamma", "gamma", 0, "grad"), ("beta", "beta", 0, "grad")])
    tx, tg, tb = t(x), t([float(gamma)]), t([float(beta)])
    out = F.batch_norm(tx.reshape(n, 1), None, None, weight=tg, bias=tb, training=True, eps=float(eps))
    (out.reshape(-1) * t(g, grad=False)).sum().backward()
    assert all(close(ex.value(f"out{i + 1}"), out[i, 0].item()) for i in range(n))
    assert all(close(ex.grad(f"x{i + 1}"), tx.grad[i].item()) for i in range(n))
    assert close(ex.grad("gamma"), tg.grad[0].item()) and close(ex.grad("beta"), tb.grad[0].item())


# --- rnn -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("activation, xs, h0, w_hh", [
    ("sigmoid", [-2, 3], -1, "-0.5"), ("relu", [2, -3], 0, 2), ("identity", [1, 0, -1], 1, 0),
])
def test_scalar_rnn_builder_is_the_unrolled_equations_and_torch(activation, xs, h0, w_hh):
    ex = derive.rnn(xs, h0=h0, w_xh="0.5", w_hh=w_hh, w_hy=-2, y=1, b_h="0.25", b_y=0,
                    activation=activation)
    T = len(xs)
    text = "\n".join([f"h{s} = {activation}(w_xh*x{s} + w_hh*h{s - 1} + b_h)" for s in range(1, T + 1)]
                     + [f"L = (w_hy*h{T} + b_y - y)**2/2"])
    values = {**{f"x{s}": v for s, v in enumerate(xs, start=1)}, "h0": h0, "w_xh": "0.5", "w_hh": w_hh,
              "w_hy": -2, "y": 1, "b_h": "0.25", "b_y": 0}
    direct = derive.Example.from_equations(text, values=values)
    for name in ("w_hh", "w_xh", "x1"):  # exact (a sigmoid's takes SymPy's simplify ~1 s each)
        assert exact(ex.grad(name), direct.grad(name)), name
    for name in ("w_hy", "b_h", "b_y", "h0"):  # the rest to 60 digits
        assert abs(sp.N(expand_quantities(sp.sympify(ex.grad(name) - direct.grad(name))), 60)) < 1e-55, name
    assert exact(ex.value(f"h{T}"), direct.value(f"h{T}"))
    p = {k: t(float(sp.Rational(v))) for k, v in dict(w_xh="0.5", w_hh=w_hh, w_hy=-2, b_h="0.25").items()}
    h = t(float(h0), grad=False)
    for x in xs:
        h = ACT[activation](p["w_xh"] * x + p["w_hh"] * h + p["b_h"])
    (0.5 * (p["w_hy"] * h - 1) ** 2).backward()
    assert all(close(ex.grad(k), v.grad.item()) for k, v in p.items())


def test_matrix_rnn_builder_is_the_tensor_equations_and_torch():
    xs = [[0, -1], [2, 0.5]]
    W_xh, W_hh, W_hy = [[1, 0], [-0.5, 2]], [[0, -1], [1, 0.5]], [[2, -1], [0, 1], [1, 1]]
    ex = derive.rnn(xs, h0=[1, -1], w_xh=W_xh, w_hh=W_hh, w_hy=W_hy, y=[0, 1, -1], b_h=[0, 0.5],
                    b_y=[1, 0, 0], activation="sigmoid")
    direct = derive.TensorExample.from_equations(
        "z1 = w_xh @ x1 + w_hh @ h0 + b_h\nh1 = sigmoid(z1)\nz2 = w_xh @ x2 + w_hh @ h1 + b_h\n"
        "h2 = sigmoid(z2)\nyhat = w_hy @ h2 + b_y\nL = sum((yhat - y)**2)/2",
        values={"x1": xs[0], "x2": xs[1], "h0": [1, -1], "w_xh": W_xh, "w_hh": W_hh, "w_hy": W_hy,
                "y": [0, 1, -1], "b_h": [0, 0.5], "b_y": [1, 0, 0]})
    P = {"w_xh": t(W_xh), "w_hh": t(W_hh), "w_hy": t(W_hy), "b_h": t([[0], [0.5]])}
    h = t([[1], [-1]], grad=False)
    for x in xs:
        h = torch.sigmoid(P["w_xh"] @ t([[v] for v in x], grad=False) + P["w_hh"] @ h + P["b_h"])
    yhat = P["w_hy"] @ h + t([[1], [0], [0]], grad=False)
    (0.5 * ((yhat - t([[0], [1], [-1]], grad=False)) ** 2).sum()).backward()
    for name, tensor in P.items():
        mine, theirs = entries(ex.grad(name)), entries(direct.grad(name))
        assert all(exact(a, b) for a, b in zip(mine, theirs)), name
        assert np.allclose(np.array([float(v) for v in mine]), tensor.grad.numpy().ravel(),
                           atol=TOL, rtol=TOL)


# --- the windows are the table's --------------------------------------------------------------


def spy(monkeypatch, name: str) -> list:
    """Replace the table entry ``name`` by one whose evaluate records each call."""
    calls, spec = [], TENSOR_OPS[name]

    def evaluate(args, site):
        calls.append(tuple(a.shape for a in args))
        return spec.evaluate(args, site)
    monkeypatch.setitem(TENSOR_OPS, name, dataclasses.replace(spec, evaluate=evaluate))
    return calls


@pytest.mark.parametrize("op, build", [
    ("conv1d", lambda: derive.conv1d([1, 2, 3, 4], [1, -1], stride=2)),
    ("conv2d", lambda: derive.conv2d([[1, 2, 0], [3, 4, 1]], [[1, -1]], padding=1)),
    ("maxpool2d", lambda: derive.maxpool([[1, 2, 0, 5], [3, 4, 1, 1]], size=2)),
    ("conv1d", lambda: derive.maxpool([1, 2, 0, 5], size=2)),  # a vector's windows: conv1d's
])
def test_the_builder_goes_through_the_table_entry(monkeypatch, op, build):
    calls = spy(monkeypatch, op)
    build()
    assert calls, f"{op} was never evaluated"


def test_a_changed_table_entry_changes_the_builder(monkeypatch):
    """The windows are not also written in layers.py: a conv2d entry that (wrongly) drops its
    last output column yields a builder without those outputs, whose last input column then meets
    no kernel entry at all."""
    spec = TENSOR_OPS["conv2d"]

    def narrower(site):
        c, h, w = spec.shape(site)
        return (c, h, w - 1)

    def evaluate(args, site):
        full = spec.evaluate(args, dataclasses.replace(site, out=spec.shape(site)))
        return type(full)(full.a[:, :, :-1].copy())
    x, k = [[1, 2, 0], [3, 4, 1], [0, 1, 1]], [[1, -1], [2, 0]]
    assert list(derive.conv2d(x, k).meta["taps"]) == ["o1_1", "o1_2", "o2_1", "o2_2"]
    monkeypatch.setitem(TENSOR_OPS, "conv2d", dataclasses.replace(spec, shape=narrower, evaluate=evaluate))
    assert list(derive.conv2d(x, k, padding=1).meta["taps"]) == [f"o{r}_{c}" for r in (1, 2, 3, 4)
                                                                  for c in (1, 2, 3)]
    with pytest.raises(derive.DeriveError, match="x1_3, x2_3, x3_3 never meet the kernel"):
        derive.conv2d(x, k)


def test_layers_module_has_no_window_arithmetic():
    import derive.model.layers as layers
    source = Path(layers.__file__).read_text()
    tree = ast.parse(source)
    stepped = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
               and getattr(node.func, "id", None) == "range" and len(node.args) == 3]
    assert not stepped, f"range(start, stop, step) at lines {stepped}: windows belong to the table"
    assert "conv_windows" not in source and "_window_starts" not in source


def test_maxpool_refuses_inputs_no_window_holds():
    with pytest.raises(derive.DeriveError) as err:
        derive.maxpool([[1, 2, 3], [4, 5, 6], [7, 8, 9]], size=2)
    assert "with size 2 and stride 2, x1_3, x2_3, x3_1, x3_2, x3_3 never meet a window" in str(err.value)
    assert "use a smaller stride" in str(err.value) and "padding" not in str(err.value)
