"""The tensor engine: exact matrix values and gradients, checked against PyTorch float64 autograd,
against the scalar engine, and for the identities courses teach (softmax + cross-entropy = p − y)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import derive
from derive.core.engine import expand_quantities
from derive.core.functions import FUNCTIONS
from derive.core.parser import BinOp, Name, Neg, Num, Transpose, parse_equations
from derive.core.tensor import TENSOR_FUNCTIONS
from derive.model.tensors import TensorExample

DESIGN = """
z = W @ x + b
p = softmax(z)
L = cross_entropy(p, y)
"""
DESIGN_VALUES = {"W": [[0.2, -0.5], [1.5, 1.3], [0.0, 0.25]], "x": [1, 2], "b": [0.1, -0.2, 0.3],
                 "y": [0, 1, 0]}


# --- an independent reference: the same equations run through torch float64 -------------------

def _torch_value(v):
    a = np.array(v, dtype=float) if not isinstance(v, np.ndarray) else v.astype(float)
    if a.ndim == 0:
        return torch.tensor(float(a), dtype=torch.float64, requires_grad=True)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def _torch_eval(tree, env):
    if isinstance(tree, Num):
        return torch.tensor(float(tree.value), dtype=torch.float64)
    if isinstance(tree, Name):
        return env[tree.id]
    if isinstance(tree, Neg):
        return -_torch_eval(tree.operand, env)
    if isinstance(tree, Transpose):
        return _torch_eval(tree.operand, env).T
    if isinstance(tree, BinOp):
        a, b = _torch_eval(tree.left, env), _torch_eval(tree.right, env)
        return {"@": lambda: a @ b, "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                "/": lambda: a / b, "**": lambda: a ** b}[tree.op]()
    args = [_torch_eval(a, env) for a in tree.args]
    if tree.func == "cross_entropy":
        p, y = args
        if y.shape != p.shape:  # class indices -> one-hot
            idx = y.detach().reshape(-1).long()
            y = torch.zeros_like(p).detach()
            y[idx, torch.arange(p.shape[1])] = 1
        return -(y * torch.log(p)).sum() / p.shape[1]
    spec = TENSOR_FUNCTIONS.get(tree.func) or FUNCTIONS[tree.func]
    args += [float(d) for d in spec.defaults[len(args) - spec.min_arity:]]
    names = {f"a{i}": a for i, a in enumerate(args)}
    code = spec.torch.format(*names)
    return eval(code, {"torch": torch, **names})  # our own registry's spelling, not user text


def torch_gradients(text, values, output=None):
    equations = parse_equations(text, {**FUNCTIONS, **TENSOR_FUNCTIONS})
    env = {k: _torch_value(v) for k, v in values.items()}
    for eq in equations:
        env[eq.name] = _torch_eval(eq.tree, env)
        env[eq.name].retain_grad() if env[eq.name].requires_grad else None
    out = env[output or equations[-1].name]
    out.backward()
    return {k: (env[k].grad if env[k].grad is not None else torch.zeros_like(env[k])) for k in env
            if env[k].requires_grad}, env


def as_float(m) -> np.ndarray:
    if isinstance(m, sp.MatrixBase):
        return np.array([[float(e) for e in row] for row in m.tolist()])
    return np.array([[float(m)]])


def assert_matches_torch(ex, text, values, names=None, tol=1e-12):
    grads, env = torch_gradients(text, values)
    for name in names or ex.inputs:
        if name not in grads:
            continue
        ours = as_float(ex.grad(name))
        ref = grads[name].detach().numpy().reshape(ours.shape)
        assert np.allclose(ours, ref, rtol=tol, atol=tol), (name, ours, ref)


# --- the contract example ------------------------------------------------------------------------

def test_design_example_softmax_cross_entropy_is_exactly_p_minus_y():
    ex = derive.Example.from_equations(DESIGN, values=DESIGN_VALUES)
    assert isinstance(ex, TensorExample)
    p, y = ex.value("p"), sp.Matrix([0, 1, 0])
    assert ex.value("z") == sp.Matrix([sp.Rational(-7, 10), sp.Rational(39, 10), sp.Rational(4, 5)])
    assert ex.grad("z").shape == (3, 1)
    assert ex.grad("z") == p - y  # structurally: δ = p − y, not a quotient that happens to agree
    assert ex.grad("W").shape == (3, 2)
    assert ex.grad("W") == (p - y) * sp.Matrix([[1, 2]])  # δ xᵀ
    assert ex.grad("b") == p - y
    assert sp.simplify(ex.value("L") + sp.log(p[1])) == 0
    assert_matches_torch(ex, DESIGN, DESIGN_VALUES)


def test_class_index_target_equals_one_hot():
    one_hot = derive.Example.from_equations(DESIGN, values=DESIGN_VALUES)
    index = derive.Example.from_equations(DESIGN, values={**DESIGN_VALUES, "y": 1})
    assert index.grad("W") == one_hot.grad("W")
    assert index.grad("y") == 0  # class indices take no gradient


@pytest.mark.parametrize("batch", [1, 3, 5])
def test_mini_batch_mean_cross_entropy_is_p_minus_y_over_batch(batch):
    rng = np.random.default_rng(batch)
    X = np.round(rng.uniform(-2, 2, (4, batch)), 2)
    W = np.round(rng.uniform(-1, 1, (3, 4)), 2)
    b = [0.5, -0.25, 0]
    labels = [int(c) for c in rng.integers(0, 3, batch)]
    text = "z = W @ X + b\np = softmax(z)\nL = cross_entropy(p, y)"
    values = {"W": W, "X": X, "b": b, "y": labels}
    ex = derive.Example.from_equations(text, values=values)
    P = ex.value("p")
    Y = sp.zeros(3, batch)
    for j, c in enumerate(labels):
        Y[c, j] = 1
    assert ex.grad("z") == (P - Y) / batch
    # the bias gradient is the sum over the batch
    assert (ex.grad("b") - (P - Y) * sp.ones(batch, 1) / batch).applyfunc(
        lambda e: sp.simplify(expand_quantities(e))) == sp.zeros(3, 1)
    onehot_values = {**values, "y": np.array(Y.tolist(), dtype=float)}
    assert_matches_torch(ex, text, onehot_values, names=["W", "X", "b"])


def test_values_are_exact_rationals_and_matrices():
    ex = derive.Example.from_equations("z = W @ x\nL = sum(z * z)/2",
                                       values={"W": [[0.1, 0.2], [0.3, 0.4]], "x": np.array([1, 2])})
    assert ex.value("z") == sp.Matrix([sp.Rational(1, 2), sp.Rational(11, 10)])
    assert ex.value("L") == sp.Rational(1, 2) * (sp.Rational(1, 4) + sp.Rational(121, 100))
    assert ex.grad("W") == sp.Matrix([[sp.Rational(1, 2), 1], [sp.Rational(11, 10), sp.Rational(11, 5)]])
    assert ex.grad("x") == sp.Matrix([[sp.Rational(1, 2) * sp.Rational(1, 10) + sp.Rational(11, 10) * sp.Rational(3, 10)],
                                      [sp.Rational(1, 2) * sp.Rational(2, 10) + sp.Rational(11, 10) * sp.Rational(4, 10)]])


def test_transpose_mean_and_log_softmax_match_torch():
    text = "u = A.T @ B\nv = log_softmax(u) * c\nL = -mean(v)"
    values = {"A": [[1, -2, 0.5], [0.25, 3, -1]], "B": [[0.5, 1], [-1, 2]], "c": [[1, 0], [0, 1], [2, -1]]}
    ex = derive.Example.from_equations(text, values=values)
    assert ex.value("u").shape == (3, 2)
    assert_matches_torch(ex, text, values)


def test_relu_mask_at_a_kink_follows_pytorch():
    text = "z = W @ x\na = relu(z)\nL = sum(a)"
    values = {"W": [[1, -1], [2, 0]], "x": [1, 1]}  # z = [0, 2]: the first unit sits on the kink
    ex = derive.Example.from_equations(text, values=values)
    assert ex.grad("W") == sp.Matrix([[0, 0], [1, 1]])
    assert_matches_torch(ex, text, values)


@pytest.mark.parametrize("text, values, message", [
    ("z = W @ x", {"W": [[1, 2], [3, 4]], "x": [1, 2, 3]},
     "line 1: W @ x needs x with 2 rows (W is 2×2), got 3"),
    ("z = W @ x + b", {"W": [[1, 2], [3, 4]], "x": [1, 2], "b": [1, 2, 3]},
     "line 1: W @ x + b needs equal shapes"),
    ("p = softmax(z)\nL = cross_entropy(p, y)", {"z": [1, 2], "y": 2},
     "class index 2 in y is not a whole number from 0 to 1"),
    ("z = W @ s", {"W": [[1, 2]], "s": 3}, "line 1: `@` multiplies vectors and matrices; s is a scalar"),
])
def test_shape_errors_name_both_shapes_and_the_line(text, values, message):
    with pytest.raises(derive.DeriveError) as err:
        derive.Example.from_equations(text, values=values)
    assert message in str(err.value)


def test_bad_values_are_clear():
    with pytest.raises(derive.DeriveError, match="rows of different lengths"):
        derive.Example.from_equations("L = sum(W)", values={"W": [[1, 2], [3]]})
    with pytest.raises(derive.DeriveError, match="gradients are taken of a scalar"):
        derive.Example.from_equations("z = 2*W", values={"W": [1, 2]}).grad("W")


def test_scalar_engine_refuses_matrix_syntax_clearly():
    from derive.core.engine import Graph
    with pytest.raises(derive.DeriveError, match="`@` works on vectors and matrices"):
        Graph(parse_equations("z = w @ x", {**FUNCTIONS, **TENSOR_FUNCTIONS}))


def test_update_and_entry_aliases():
    ex = derive.Example.from_equations("z = W @ x\nL = sum(z)", values={"W": [[1, 2]], "x": [3, 4]}, lr="0.5")
    assert ex.update("W") == sp.Matrix([[sp.Rational(-1, 2), 0]])


# --- random tensor graphs against PyTorch -----------------------------------------------------

ACTS = ["relu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus", "identity", "silu"]
LOSSES = ["ce_index", "ce_onehot", "half_sse", "mean_sq", "log_softmax"]


@st.composite
def tensor_graphs(draw):
    n_in = draw(st.integers(1, 4))
    hidden = draw(st.integers(1, 4))
    k = draw(st.integers(2, 4))
    batch = draw(st.integers(1, 4))
    act = draw(st.sampled_from(ACTS))
    loss = draw(st.sampled_from(LOSSES))
    num = st.integers(-20, 20).map(lambda i: i / 10)
    mat = lambda r, c: [[draw(num) for _ in range(c)] for _ in range(r)]  # noqa: E731
    values = {"X": mat(n_in, batch), "W1": mat(hidden, n_in), "b1": [draw(num) for _ in range(hidden)],
              "W2": mat(k, hidden), "b2": [draw(num) for _ in range(k)]}
    lines = ["z1 = W1 @ X + b1", f"a1 = {act}(z1)"]
    if draw(st.booleans()):
        lines.append("h = a1 * a1 / 2 + a1")
    else:  # W1 and X used twice: gradients sum over both uses; .T twice is the identity
        lines.append("h = (W1 @ X).T.T * a1 - 2*a1")
    lines.append("z2 = W2 @ h + b2")
    if loss.startswith("ce"):
        lines += ["p = softmax(z2)", "L = cross_entropy(p, Y)"]
        labels = [draw(st.integers(0, k - 1)) for _ in range(batch)]
        if loss == "ce_index":
            values["Y"] = labels
        else:
            values["Y"] = [[1 if labels[j] == i else 0 for j in range(batch)] for i in range(k)]
    elif loss == "half_sse":
        lines.append("L = sum((z2 - Y)**2)/2")
        values["Y"] = mat(k, batch)
    elif loss == "mean_sq":
        lines.append("L = mean((sigmoid(z2) - Y)**2)")
        values["Y"] = mat(k, batch)
    else:
        lines.append("L = -sum(log_softmax(z2) * Y)")
        values["Y"] = mat(k, batch)
    return "\n".join(lines), values


@settings(max_examples=12)
@given(tensor_graphs())
def test_random_tensor_graphs_match_pytorch(graph):
    text, values = graph
    ex = derive.Example.from_equations(text, values=values)
    torch_values = dict(values)
    if isinstance(values["Y"], list) and values["Y"] and not isinstance(values["Y"][0], list):
        k = len(values["b2"])
        torch_values["Y"] = [[1 if c == i else 0 for c in values["Y"]] for i in range(k)]
    grads, env = torch_gradients(text, torch_values)
    for name in ["W1", "b1", "W2", "b2", "X", "z1", "a1", "z2"]:
        ours = as_float(ex.grad(name))
        ref = grads[name].detach().numpy().reshape(ours.shape)
        assert np.allclose(ours, ref, rtol=1e-12, atol=1e-12), (name, text, ours, ref)
    assert math.isclose(float(ex.value("L")), float(env["L"].detach()), rel_tol=1e-12, abs_tol=1e-12)


# --- the scalar engine and the tensor engine agree -------------------------------------------

SCALAR_FUNCS = ["relu", "sigmoid", "tanh", "exp", "softplus", "abs", "leaky_relu", "identity"]


@st.composite
def scalar_graphs(draw):
    names = ["x", "w", "b"]
    values = {n: draw(st.integers(-30, 30).map(lambda i: i / 10)) for n in names}
    lines = []
    for i in range(draw(st.integers(1, 4))):
        a, c = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        op = draw(st.sampled_from(["+", "-", "*"]))
        f = draw(st.sampled_from(SCALAR_FUNCS))
        lines.append(f"u{i} = {f}({a} {op} {c})")
        names.append(f"u{i}")
    lines.append(f"L = ({names[-1]} - {names[-2]})**2 + {names[-1]}/2 + w*x*b")
    return "\n".join(lines), values


def _same(a, b) -> bool:
    if a.is_Rational and b.is_Rational:
        return a == b
    from derive.core.approx import approx
    return abs(approx(a) - approx(b)) <= 1e-50 * max(1, abs(approx(a)))


@settings(max_examples=30)
@given(scalar_graphs())
def test_scalar_and_tensor_engines_agree(graph):
    text, values = graph
    scalar_ex = derive.Example.from_equations(text, values=values)
    tensor_ex = TensorExample.from_equations(text, values=values)
    assert not isinstance(scalar_ex, TensorExample)
    for name in scalar_ex.inputs + scalar_ex.nodes:
        assert _same(scalar_ex.value(name), tensor_ex.value(name)), name
        assert _same(scalar_ex.grad(name), tensor_ex.grad(name)), (name, text)


# --- mlp with mini-batches and softmax, and from_torch ----------------------------------------

def _torch_net(seed, widths, acts):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        lin = torch.nn.Linear(a, b).double()
        with torch.no_grad():  # decimals, so derive and torch start from the same numbers
            lin.weight.copy_(torch.round(lin.weight * 100) / 100)
            lin.bias.copy_(torch.round(lin.bias * 100) / 100)
        layers.append(lin)
        if acts[i]:
            layers.append(acts[i]())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("batch, acts, loss", [
    (3, [torch.nn.ReLU, None], "cross_entropy"),
    (1, [torch.nn.Tanh, None], "cross_entropy"),
    (4, [torch.nn.Sigmoid, torch.nn.Sigmoid], "mse"),
    (2, [torch.nn.LeakyReLU, torch.nn.Softmax], "cross_entropy"),
])
def test_from_torch_matches_autograd(batch, acts, loss):
    if acts[-1] is torch.nn.Softmax:
        acts = [acts[0], lambda: torch.nn.Softmax(dim=1)]
    net = _torch_net(batch, [3, 4, 3], acts)
    x = torch.round(torch.randn(batch, 3, dtype=torch.float64) * 10) / 10
    if loss == "cross_entropy":
        y = torch.tensor([i % 3 for i in range(batch)])
        out = net(x)
        L = (torch.nn.NLLLoss()(torch.log(out), y) if isinstance(net[-1], torch.nn.Softmax)
             else torch.nn.CrossEntropyLoss()(out, y))
    else:
        y = torch.round(torch.rand(batch, 3, dtype=torch.float64) * 10) / 10
        L = torch.nn.MSELoss()(net(x), y)
    L.backward()
    ex = derive.from_torch(net, x, y, loss=loss)
    assert math.isclose(float(ex.value("L")), L.item(), rel_tol=1e-12)
    linear = [m for m in net if isinstance(m, torch.nn.Linear)]
    for l, lin in enumerate(linear, start=1):
        W = as_float(ex.grad(f"W{l}")) if isinstance(ex, TensorExample) else None
        assert np.allclose(W, lin.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
        assert np.allclose(as_float(ex.grad(f"b{l}")).ravel(), lin.bias.grad.numpy(), rtol=1e-12, atol=1e-12)
        j, i = lin.weight.shape[0] - 1, lin.weight.shape[1] - 1
        assert math.isclose(float(ex.grad(f"w{l}_{j + 1}_{i + 1}")), lin.weight.grad[j, i].item(),
                            rel_tol=1e-12, abs_tol=1e-15)


def test_from_torch_names_an_unsupported_layer():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Hardswish(), torch.nn.Linear(2, 1))
    with pytest.raises(derive.DeriveError, match=r"layer 2 \(Hardswish\(\)\): this module is not supported"):
        derive.from_torch(net, torch.ones(1, 2), torch.ones(1, 1))
    # a slope other than the mlp builder's is written out in matrix form, not refused
    leaky = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.LeakyReLU(0.2)).double()
    ex = derive.from_torch(leaky, -torch.ones(1, 2).double(), torch.ones(1, 1).double())
    assert "leaky_relu(z1, 0.2)" in [eq.source for eq in ex.graph.equations]
    assert math.isclose(float(ex.value("L")), torch.nn.functional.mse_loss(
        leaky(-torch.ones(1, 2).double()), torch.ones(1, 1).double()).item(), rel_tol=1e-12)


def test_mlp_batch_softmax_names_and_mean_loss():
    X = [[1, 2], [0, -1], [0.5, 0.5]]
    W = [[[1, -1], [0, 1], [0.5, 0.25]], [[1, 0.5, -1], [0.2, 0.3, 0.1]]]
    b = [[0, 0, 0.1], [0.5, 0]]
    ex = derive.mlp(X, W, b, [0, 1, 1], activation=["relu", "softmax"], loss="cross_entropy")
    assert ex.shape("X") == (2, 3) and ex.params[:3] == ["w1_1_1", "w1_1_2", "w1_2_1"]
    assert len(ex.params) == 6 + 3 + 6 + 2
    # the mean loss over the batch is the mean of the per-example losses
    singles = [derive.mlp(x, W, b, c, activation=["relu", "softmax"], loss="cross_entropy")
               for x, c in zip(X, [0, 1, 1])]
    assert sp.simplify(expand_quantities(ex.value("L") - sum(s.value("L") for s in singles) / 3)) == 0
    import mpmath
    with mpmath.workdps(80):
        for name in ("w1_2_1", "b2_1", "w2_1_3"):
            mean = sum(approx(s.grad(name)) for s in singles) / 3
            assert abs(approx(ex.grad(name)) - mean) < 1e-50
    # one-hot targets give the same example
    onehot = derive.mlp(X, W, b, [[1, 0], [0, 1], [0, 1]], activation=["relu", "softmax"], loss="cross_entropy")
    for a, b in zip(onehot.grad("W1"), ex.grad("W1")):
        assert a == b or sp.simplify(expand_quantities(a - b)) == 0


def approx(e):
    from derive.core.approx import approx as _approx
    return _approx(sp.sympify(e))
