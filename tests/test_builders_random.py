"""Every builder on random shapes, sizes, activations and values against PyTorch float64 autograd
(1e-12): mlp with mini-batches and softmax, batchnorm, rnn, conv1d, conv2d, maxpool (ties
included), dropout, and from_torch with BatchNorm1d and Conv1d. Few examples each (the CI
profile's budget is shared); values are tenths, so kinks and ties do occur."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import derive
from derive.core.functions import ACTIVATIONS

TOL = 1e-12
NUM = st.integers(-20, 20).map(lambda i: i / 10)
ACTS = sorted(a for a in ACTIVATIONS if ACTIVATIONS[a].torch)
FEW = settings(max_examples=8, deadline=None)


def t(v, grad=True):
    return torch.tensor(np.array(v, dtype=float), dtype=torch.float64, requires_grad=grad)


def torch_activation(name):
    """The registry's own PyTorch spelling of an activation (defaults filled in)."""
    spec = ACTIVATIONS[name]
    extra = [float(d) for d in spec.defaults]

    def apply(z):
        names = {f"a{i}": v for i, v in enumerate([z, *extra])}
        return eval(spec.torch.format(*names), {"torch": torch, **names})  # our registry's text
    return apply


def close(ours, ref):
    ours = np.array([[float(e) for e in row] for row in ours.tolist()]) if isinstance(
        ours, sp.MatrixBase) else np.array(float(ours))
    ref = np.asarray(ref, dtype=float).reshape(ours.shape)
    return np.allclose(ours, ref, rtol=TOL, atol=TOL)


@st.composite
def networks(draw):
    n_in, hidden, classes, batch = (draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                                    draw(st.integers(2, 3)), draw(st.integers(1, 4)))
    mat = lambda r, c: [[draw(NUM) for _ in range(c)] for _ in range(r)]  # noqa: E731
    return dict(X=mat(batch, n_in), W=[mat(hidden, n_in), mat(classes, hidden)],
                b=[[draw(NUM) for _ in range(hidden)], [draw(NUM) for _ in range(classes)]],
                y=[draw(st.integers(0, classes - 1)) for _ in range(batch)], act=draw(st.sampled_from(ACTS)))


@FEW
@given(networks())
def test_mlp_batch_softmax_matches_torch(net):
    ex = derive.mlp(net["X"], net["W"], net["b"], net["y"], activation=[net["act"], "softmax"],
                    loss="cross_entropy")
    W1, W2, b1, b2 = t(net["W"][0]), t(net["W"][1]), t(net["b"][0]), t(net["b"][1])
    X = t(net["X"], grad=False)
    logits = torch_activation(net["act"])(X @ W1.T + b1) @ W2.T + b2
    L = F.cross_entropy(logits, torch.tensor(net["y"]))
    L.backward()
    assert close(ex.value("L"), L.item())
    for name, p in (("W1", W1), ("W2", W2), ("b1", b1), ("b2", b2)):
        assert close(ex.grad(name), p.grad.numpy()), (name, net)


@FEW
@given(st.integers(2, 5).flatmap(lambda n: st.tuples(st.lists(NUM, min_size=n, max_size=n),
                                                     st.lists(NUM, min_size=n, max_size=n))),
       NUM, NUM, st.sampled_from(["1e-5", "0.01", "0.5"]))
def test_batchnorm_matches_torch(xs_up, gamma, beta, eps):
    xs, up = xs_up
    ex = derive.batchnorm(xs, gamma=gamma, beta=beta, eps=eps, upstream=up)
    n = len(xs)
    tx, tg, tb = t(xs), t([gamma]), t([beta])
    out = F.batch_norm(tx.reshape(n, 1), None, None, weight=tg, bias=tb, training=True, eps=float(eps))
    (out.reshape(-1) * t(up, grad=False)).sum().backward()
    for i in range(n):
        assert close(ex.grad(f"x{i + 1}"), tx.grad[i].item()), (i, xs, up)
    assert close(ex.grad("gamma"), tg.grad[0].item()) and close(ex.grad("beta"), tb.grad[0].item())


@FEW
@given(st.lists(NUM, min_size=1, max_size=4), NUM, NUM, NUM, NUM, NUM, NUM, NUM,
       st.sampled_from(["tanh", "sigmoid", "relu", "identity", "leaky_relu"]))
def test_rnn_matches_torch(xs, h0, w_xh, w_hh, w_hy, y, b_h, b_y, activation):
    ex = derive.rnn(xs, h0, w_xh, w_hh, w_hy, y, b_h=b_h, b_y=b_y, activation=activation)
    p = {k: t(v) for k, v in dict(w_xh=w_xh, w_hh=w_hh, w_hy=w_hy, b_h=b_h, b_y=b_y).items()}
    f = torch_activation(activation)
    h = t(h0, grad=False)
    for x in xs:
        h = f(p["w_xh"] * x + p["w_hh"] * h + p["b_h"])
    L = 0.5 * (p["w_hy"] * h + p["b_y"] - y) ** 2
    L.backward()
    for name, tensor in p.items():
        assert close(ex.grad(name), tensor.grad.item()), (name, xs, activation)


@st.composite
def conv1d_cases(draw):
    k = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    length = draw(st.integers(max(1, k - 2 * padding), 6))
    return dict(x=draw(st.lists(NUM, min_size=length, max_size=length)),
                k=draw(st.lists(NUM, min_size=k, max_size=k)), b=draw(NUM),
                stride=draw(st.integers(1, 2)), padding=padding, act=draw(st.sampled_from(ACTS)))


@FEW
@given(conv1d_cases())
def test_conv1d_matches_torch(c):
    try:
        ex = derive.conv1d(c["x"], c["k"], bias=c["b"], stride=c["stride"], padding=c["padding"],
                           activation=c["act"])
    except derive.DeriveError as e:  # an input or kernel entry only ever meets the padding
        assert "never meet" in str(e)
        assume(False)
    tx, tk, tb = t([[c["x"]]]), t([[c["k"]]]), t([c["b"]])
    out = torch_activation(c["act"])(F.conv1d(tx, tk, tb, stride=c["stride"], padding=c["padding"]))
    n = out.numel()
    (out.reshape(-1) * t(list(range(1, n + 1)), grad=False)).sum().backward()
    for m in range(len(c["k"])):
        assert close(ex.grad(f"k{m + 1}"), tk.grad[0, 0, m].item()), (m, c)
    for i in range(len(c["x"])):
        assert close(ex.grad(f"x{i + 1}"), tx.grad[0, 0, i].item()), (i, c)
    assert close(ex.grad("b"), tb.grad[0].item())


@st.composite
def conv2d_cases(draw):
    kr, kc = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    rows, cols = draw(st.integers(kr, 3)), draw(st.integers(kc, 3))
    grid = lambda r, c: [[draw(NUM) for _ in range(c)] for _ in range(r)]  # noqa: E731
    return dict(x=grid(rows, cols), k=grid(kr, kc), b=draw(NUM), stride=draw(st.integers(1, 2)),
                padding=draw(st.integers(0, 1)), act=draw(st.sampled_from(ACTS)))


@FEW
@given(conv2d_cases())
def test_conv2d_matches_torch(c):
    try:
        ex = derive.conv2d(c["x"], c["k"], bias=c["b"], stride=c["stride"], padding=c["padding"],
                           activation=c["act"])
    except derive.DeriveError as e:  # an input or kernel entry only ever meets the padding
        assert "never meet" in str(e)
        assume(False)
    tx, tk, tb = t([[c["x"]]]), t([[c["k"]]]), t([c["b"]])
    out = torch_activation(c["act"])(F.conv2d(tx, tk, tb, stride=c["stride"], padding=c["padding"]))
    n = out.numel()
    (out.reshape(-1) * t(list(range(1, n + 1)), grad=False)).sum().backward()
    for r, row in enumerate(c["k"]):
        for q in range(len(row)):
            assert close(ex.grad(f"k{r + 1}_{q + 1}"), tk.grad[0, 0, r, q].item()), c
    for r, row in enumerate(c["x"]):
        for q in range(len(row)):
            assert close(ex.grad(f"x{r + 1}_{q + 1}"), tx.grad[0, 0, r, q].item()), c


@FEW
@given(st.integers(2, 3).flatmap(lambda size: st.tuples(
    st.just(size), st.lists(st.integers(-2, 2), min_size=size, max_size=3 * size))), st.booleans())
def test_maxpool_matches_torch_with_ties(case, two_d):
    size, xs = case
    if two_d:  # a square grid of whole windows (ties are frequent with values in -2 … 2)
        side = 2 * size if len(xs) >= 2 * size else size
        flat = (xs * (4 * side * side))[:side * side]
        x = [flat[r * side:(r + 1) * side] for r in range(side)]
        ex = derive.maxpool(x, size=size)
        tx = t([[x]])
        out = F.max_pool2d(tx, size)
    else:
        x = xs[:len(xs) - len(xs) % size]
        ex = derive.maxpool(x, size=size)
        tx = t([[x]])
        out = F.max_pool1d(tx, size)
    n = out.numel()
    (out.reshape(-1) * t(list(range(1, n + 1)), grad=False)).sum().backward()
    grads = tx.grad.reshape(-1).tolist()
    names = ex.meta["inputs"]
    assert [float(ex.grad(name)) for name in names] == pytest.approx(grads, abs=TOL)


@FEW
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(st.lists(NUM, min_size=n, max_size=n),
                                                     st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n),
                                                     st.lists(NUM, min_size=n, max_size=n))),
       st.sampled_from(["0.2", "0.25", "0.5", "0.9"]))
def test_dropout_matches_torch(case, p):
    x, mask, up = case
    ex = derive.dropout(x, mask, p, upstream=up)
    tx = t(x)
    (tx * t(mask, grad=False) / (1 - float(p)) * t(up, grad=False)).sum().backward()
    for i in range(len(x)):
        assert close(ex.grad(f"x{i + 1}"), tx.grad[i].item())


@settings(max_examples=5, deadline=None)
@given(st.integers(2, 4), st.integers(0, 1000), st.sampled_from(["ReLU", "Tanh", "Sigmoid"]), st.booleans())
def test_from_torch_with_batchnorm_or_conv_matches_autograd(batch, seed, act, conv):
    torch.manual_seed(seed)
    layers = ([torch.nn.Conv1d(1, 1, 2, padding=1), getattr(torch.nn, act)(), torch.nn.Flatten(),
               torch.nn.Linear(5, 2)] if conv else
              [torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3), getattr(torch.nn, act)(), torch.nn.Linear(3, 2)])
    net = torch.nn.Sequential(*layers).double()
    with torch.no_grad():
        for prm in net.parameters():
            prm.copy_(torch.round(torch.randn_like(prm) * 10) / 10)
    x = torch.round(torch.randn(batch, 1, 4, dtype=torch.float64) * 10) / 10 if conv else \
        torch.round(torch.randn(batch, 3, dtype=torch.float64) * 10) / 10
    y = torch.randint(0, 2, (batch,))
    F.cross_entropy(net(x), y).backward()
    ex = derive.from_torch(net, x, y, loss="cross_entropy")
    with_params = [m for m in net if list(m.parameters())]
    for l, module in enumerate(with_params, start=1):
        names = ["k", "b"] if isinstance(module, torch.nn.Conv1d) else (
            ["gamma", "beta"] if isinstance(module, torch.nn.BatchNorm1d) else ["W", "b"])
        for name, prm in zip(names, module.parameters()):
            assert close(ex.grad(f"{name}{l}"), prm.grad.numpy()), (name, l)
