"""The canonical layer builders (batchnorm, rnn, conv1d, conv2d, maxpool, dropout) against PyTorch
float64 autograd, and BatchNorm's step-by-step gradient against CS231n's simplified formula."""
from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import derive
from derive.core.engine import expand_quantities

TOL = 1e-12


def t(v, grad=True):
    return torch.tensor(np.array(v, dtype=float), dtype=torch.float64, requires_grad=grad)


def close(a, b):
    return abs(float(a) - float(b)) <= TOL * max(1.0, abs(float(b)))


@pytest.mark.parametrize("x, gamma, beta, eps, upstream", [
    ([1, 2, 4], 2, 0.5, "1e-5", None),
    ([-0.5, 0.25, 3, 1.5], "1.5", -1, "0.001", [1, -2, 0.5, 3]),
    ([0, 0, 1], 1, 0, "1e-5", [0, 1, 0]),
])
def test_batchnorm_matches_torch_and_the_simplified_formula(x, gamma, beta, eps, upstream):
    ex = derive.batchnorm(x, gamma=gamma, beta=beta, eps=eps, upstream=upstream)
    n = len(x)
    g = t(upstream if upstream is not None else list(range(1, n + 1)), grad=False)
    tx, tg, tb = t(x), t([float(gamma)]), t([float(beta)])
    out = F.batch_norm(tx.reshape(n, 1), None, None, weight=tg, bias=tb, training=True, eps=float(eps))
    (out.reshape(-1) * g).sum().backward()
    for i in range(n):
        assert close(ex.value(f"out{i + 1}"), out[i, 0].item())
        assert close(ex.grad(f"x{i + 1}"), tx.grad[i].item())
    assert close(ex.grad("gamma"), tg.grad[0].item()) and close(ex.grad("beta"), tb.grad[0].item())
    # the step-by-step gradient and CS231n's simplified one are the same exact number
    for i, simple in enumerate(derive.batchnorm_simplified(ex), start=1):
        step = ex.evaluation.grad(f"x{i}", "L")
        assert sp.simplify(expand_quantities(step - simple)) == 0


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_scalar_rnn_matches_torch_and_sums_over_time(activation):
    xs, h0, w_xh, w_hh, w_hy, y = [1, -0.5, 2], 0.25, 0.5, 1.5, -1, 0.3
    ex = derive.rnn(xs, h0, w_xh, w_hh, w_hy, y, b_h=0.1, b_y=-0.2, activation=activation)
    p = {k: t(v) for k, v in dict(w_xh=w_xh, w_hh=w_hh, w_hy=w_hy, b_h=0.1, b_y=-0.2).items()}
    f = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[activation]
    h = t(h0, grad=False)
    for x in xs:
        h = f(p["w_xh"] * x + p["w_hh"] * h + p["b_h"])
    L = 0.5 * (p["w_hy"] * h + p["b_y"] - y) ** 2
    L.backward()
    for name, tensor in p.items():
        assert close(ex.grad(name), tensor.grad.item()), name
    # the shared weight's gradient is a sum over the time steps: one path per use of w_hh
    paths = ex.evaluation.paths("w_hh", "L")
    assert len(paths) == len(xs)


def test_exploding_gradient_through_w_hh_grows_with_steps():
    grads = [abs(float(derive.rnn([1] * T, 0, 1, 3, 1, 0, activation="identity").grad("w_hh")))
             for T in (1, 2, 3, 4)]
    assert all(b > 2.5 * a for a, b in zip(grads, grads[1:]))


def test_matrix_rnn_matches_torch():
    xs = [[1, 0], [0.5, -1], [0, 2]]
    W_xh, W_hh, W_hy = [[0.5, -0.25], [0.1, 0.3]], [[0.9, -0.4], [0.2, 0.7]], [[1, -1]]
    ex = derive.rnn(xs, h0=[0, 0], w_xh=W_xh, w_hh=W_hh, w_hy=W_hy, y=[0.5], b_h=[0.1, 0], b_y=[0])
    P = {"w_xh": t(W_xh), "w_hh": t(W_hh), "w_hy": t(W_hy), "b_h": t([[0.1], [0]])}
    h = torch.zeros(2, 1, dtype=torch.float64)
    for x in xs:
        h = torch.tanh(P["w_xh"] @ t([[v] for v in x], grad=False) + P["w_hh"] @ h + P["b_h"])
    L = 0.5 * ((P["w_hy"] @ h - 0.5) ** 2).sum()
    L.backward()
    for name, tensor in P.items():
        assert np.allclose(np.array(ex.grad(name).tolist(), dtype=float), tensor.grad.numpy(), atol=TOL, rtol=TOL)


@pytest.mark.parametrize("stride, padding, activation", [(1, 0, "identity"), (2, 1, "relu"), (1, 2, "tanh")])
def test_conv1d_matches_torch(stride, padding, activation):
    x, k = [1, -2, 0.5, 3, -1, 2], [0.5, -1, 0.25]
    ex = derive.conv1d(x, k, bias=0.1, stride=stride, padding=padding, activation=activation)
    tx, tk, tb = t([[x]]), t([[k]]), t([0.1])
    out = F.conv1d(tx, tk, tb, stride=stride, padding=padding)
    out = {"identity": lambda o: o, "relu": torch.relu, "tanh": torch.tanh}[activation](out)
    n_out = out.shape[-1]
    (out.reshape(-1) * t(list(range(1, n_out + 1)), grad=False)).sum().backward()
    for j in range(n_out):
        assert close(ex.value(f"o{j + 1}"), out.reshape(-1)[j].item())
    for m in range(len(k)):
        assert close(ex.grad(f"k{m + 1}"), tk.grad[0, 0, m].item())
    for i in range(len(x)):
        assert close(ex.grad(f"x{i + 1}"), tx.grad[0, 0, i].item())
    assert close(ex.grad("b"), tb.grad[0].item())


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_conv2d_matches_torch(stride, padding):
    x = [[1, 2, 0, -1], [0.5, -1, 3, 2], [2, 0, 1, 1], [-2, 1, 0.5, 0]]
    k = [[1, -0.5], [0.25, 2]]
    ex = derive.conv2d(x, k, bias=-0.5, stride=stride, padding=padding, activation="relu")
    tx, tk, tb = t([[x]]), t([[k]]), t([-0.5])
    out = torch.relu(F.conv2d(tx, tk, tb, stride=stride, padding=padding))
    n = out.numel()
    (out.reshape(-1) * t(list(range(1, n + 1)), grad=False)).sum().backward()
    rows, cols = out.shape[-2:]
    for r in range(rows):
        for c in range(cols):
            assert close(ex.value(f"o{r + 1}_{c + 1}"), out[0, 0, r, c].item())
    for r in range(2):
        for c in range(2):
            assert close(ex.grad(f"k{r + 1}_{c + 1}"), tk.grad[0, 0, r, c].item())
    for r in range(4):
        for c in range(4):
            assert close(ex.grad(f"x{r + 1}_{c + 1}"), tx.grad[0, 0, r, c].item())


@pytest.mark.parametrize("x", [[1, 5, 2, 0, -1, -3], [2, 2, 0, 1, 4, 4]])
def test_maxpool1d_routes_the_gradient_to_the_argmax(x):
    ex = derive.maxpool(x, size=2)
    tx = t([[x]])
    out = F.max_pool1d(tx, 2)
    (out.reshape(-1) * t([1, 2, 3], grad=False)).sum().backward()
    for i in range(len(x)):
        assert close(ex.grad(f"x{i + 1}"), tx.grad[0, 0, i].item()), (i, x)


def test_maxpool2d_matches_torch():
    x = [[1, 3, 0, 2], [4, -1, 5, 1], [0, 0, 2, 7], [1, 6, -3, 2]]
    ex = derive.maxpool(x, size=2)
    tx = t([[x]])
    out = F.max_pool2d(tx, 2)
    (out.reshape(-1) * t([1, 2, 3, 4], grad=False)).sum().backward()
    for r in range(4):
        for c in range(4):
            assert close(ex.grad(f"x{r + 1}_{c + 1}"), tx.grad[0, 0, r, c].item())
    assert ex.value("o2_2") == 7


def test_dropout_scales_kept_units_and_blocks_dropped_ones():
    x, mask, p = [1, -2, 0.5, 3], [1, 0, 1, 1], 0.25
    ex = derive.dropout(x, mask, p, upstream=[1, 1, 2, -1])
    tx = t(x)
    out = tx * t(mask, grad=False) / (1 - p)
    (out * t([1, 1, 2, -1], grad=False)).sum().backward()
    for i in range(4):
        assert close(ex.grad(f"x{i + 1}"), tx.grad[i].item())
    assert ex.grad("x2") == 0 and ex.grad("x3") == sp.Rational(8, 3)


@pytest.mark.parametrize("call, message", [
    (lambda: derive.batchnorm([1]), "at least 2 examples"),
    (lambda: derive.conv1d([1, 2], [1, 2, 3]), "kernel (3) is longer than the padded input (2)"),
    (lambda: derive.dropout([1, 2], [1, 2], 0.5), "mask holds 0 (dropped) or 1 (kept)"),
    (lambda: derive.conv1d([1, 2, 3], [1], upstream=[1]), "3 outputs need 3 upstream gradients"),
    (lambda: derive.conv1d([1, 2, 3], [1, 2], stride=3), "x3 never meets the kernel"),
    (lambda: derive.conv1d([1], [1], stride=2, padding=1), "x1 never meets the kernel and k1 never meets an input"),
    (lambda: derive.maxpool([1, 2], size=1), "size must be a whole number ≥ 2"),
])
def test_builder_errors_name_the_problem(call, message):
    with pytest.raises(derive.DeriveError) as err:
        call()
    assert message in str(err.value)


def test_batchnorm_document_shows_the_simplified_formula_equal():
    text = " ".join(derive.batchnorm([1, 2, 4], gamma=2, beta="0.5", upstream=[1, -2, "0.5"]).to_text().split())
    assert "The simplified formula (CS231n)" in text
    assert "3 of 3 values equal the step-by-step ones exactly" in text and "sum to 0" in text
    assert "∂L/∂x2 ≈ −2.921" in text


def test_rnn_document_shows_the_factor_per_step_back():
    text = " ".join(derive.rnn([1, "0.5", -1], h0=1, w_xh=1, w_hh=3, w_hy=1, y=0, activation="relu").to_text().split())
    assert "∂h3/∂h2 3" in text and "∂h3/∂h1 = 9" in text and "explodes" in text
    small = derive.rnn([1, 1, 1], h0=1, w_xh=1, w_hh="0.5", w_hy=1, y=0, activation="tanh").to_text()
    assert "vanishes" in small


@pytest.mark.parametrize("build, params, asked", [
    (lambda: derive.maxpool([1, 5, 2, 0], size=2), [], ["x1", "x2", "x3", "x4"]),
    (lambda: derive.maxpool([[1, 5], [2, 0]], size=2), [], ["x1_1", "x1_2", "x2_1", "x2_2"]),
    (lambda: derive.dropout([1, 2, 3], mask=[1, 0, 1], p=0.5), [], ["x1", "x2", "x3"]),
    (lambda: derive.batchnorm([1, 2, 4], gamma=2, beta=0.5, upstream=[1, 0, -1]), ["gamma", "beta"],
     ["x1", "x2", "x3"]),
    (lambda: derive.conv1d([1, 2, 3, 4], [1, -1]), ["k1", "k2", "b"], []),
])
def test_layer_documents_call_only_parameters_parameters(build, params, asked):
    ex = build()
    assert ex.params == params
    text = ex.to_text()
    if not params:
        assert "No input is updated (the layer has no parameters)" in text
        assert "what training would update" not in text and "Gradients of every parameter" not in text
    else:
        assert "what training would update) are " + (" and ".join([", ".join(
            derive_text(p) for p in params[:-1]), derive_text(params[-1])]) if len(params) > 1 else "") in " ".join(text.split())
    for x in asked:  # the input gradients (dx) are still worked, each in full, with its value
        assert f"∂L/∂{x} = " in text
        finals = [float(line.split()[-1].replace("−", "-")) for line in text.splitlines()
                  if line.strip().startswith(f"∂L/∂{x} = ")
                  and re.fullmatch(r"−?[0-9.]+", line.split()[-1])]
        assert finals and finals[-1] == pytest.approx(float(ex.grad(x)), rel=1e-3, abs=1e-12), x
    if asked:
        flat = " ".join(text.split())
        assert "The gradients asked for " in flat and "what the layer passes back" in flat
        assert "To update x" not in text


def derive_text(name):
    from derive.rendering.printing import text_name
    return text_name(name)


# --- the matrix view: one matrix product per scalar derivation -----------------------------------

def _same(a, b) -> bool:
    return a == b or sp.simplify(expand_quantities(sp.sympify(a) - sp.sympify(b))) == 0


def layer_documents():
    """One example of each layer with a matrix view (also compiled by tests/test_layout.py)."""
    return {"conv1d": derive.conv1d([1, 2, -1, 0.5, 3], [1, -0.5, 2], bias=0.5, stride=2, padding=1,
                                    activation="relu"),
            "conv2d": derive.conv2d([[1, 2, 0], [-1, 0.5, 3], [2, 1, -2]], [[1, -1], [0.5, 2]], bias=-0.5,
                                    activation="tanh"),
            "maxpool": derive.maxpool([[1, 5, 2, 0], [3, 3, -1, 4]], size=2),
            "dropout": derive.dropout([1, -2, 3, 0.5], mask=[1, 0, 1, 1], p=0.25)}


@pytest.mark.parametrize("build", [
    lambda: derive.conv1d([1, 2, -1, 0.5, 3], [1, -0.5, 2], bias=0.5, stride=2, padding=1, activation="relu"),
    lambda: derive.conv1d([0.3, -2, 1, 1], [2, 1], stride=1, padding=2, activation="sigmoid", upstream=[1, -1, 0.5, 2, 0, 3, -2]),
    lambda: derive.conv2d([[1, 2, 0], [-1, 0.5, 3], [2, 1, -2]], [[1, -1], [0.5, 2]], bias=-0.5, activation="tanh"),
    lambda: derive.conv2d([[1, 2], [3, 4]], [[1, 0], [0, -1]], padding=1, stride=2),
])
def test_conv_matrix_view_equals_the_scalar_gradients(build):
    from derive.solutions.layerdocs import matrix_view_conv
    ex = build()
    m = matrix_view_conv(ex)
    for name, value in zip(ex.meta["inputs"], m["dx"]):
        assert _same(value, ex.grad(name)), name
    for name, value in zip(ex.meta["kernel"], m["dk"]):
        assert _same(value, ex.grad(name)), name
    assert _same(m["db"], ex.grad("b"))
    text = ex.to_text()
    assert "The same layer in matrix form" in text and "∂L/∂x = Tᵀ δ = [" in text
    assert "∂L/∂k = P δ = [" in text and "z = T x + b = [" in text
    act = ex.meta["activation"]
    assert ("δ = g ⊙ " in text) == (act != "identity")


@pytest.mark.parametrize("x, size", [([1, 5, 2, 0, 7, 7], 2), ([[1, 5, 2, 0], [3, 3, -1, 4]], 2),
                                     ([[2, 2], [2, 2]], 2), ([-1, -3, -2], 3)])
def test_maxpool_selection_matrix_routes_like_the_scalar_gradients(x, size):
    from derive.solutions.layerdocs import matrix_view_maxpool
    ex = derive.maxpool(x, size=size)
    m = matrix_view_maxpool(ex)
    assert all(sum(row) == 1 for row in m["R"])  # one input copied per output
    for name, value in zip(ex.meta["inputs"], m["dx"]):
        assert value == ex.grad(name), name
    for j, value in enumerate(m["o"], start=1):
        out = f"o{j}" if f"o{j}" in ex.nodes else list(ex.meta["windows"])[j - 1]
        assert value == ex.value(out)
    assert "∂L/∂x = Rᵀ g = [" in ex.to_text()


def test_dropout_vector_form_equals_the_scalar_gradients():
    from derive.solutions.layerdocs import matrix_view_dropout
    ex = derive.dropout([1, -2, 3, 0.5], mask=[1, 0, 1, 1], p=0.25, upstream=[2, 1, -1, 0.5])
    m = matrix_view_dropout(ex)
    assert m["dx"] == [ex.grad(f"x{i}") for i in range(1, 5)] == [sp.Rational(8, 3), 0, sp.Rational(-4, 3), sp.Rational(2, 3)]
    text = ex.to_text()
    assert "∂L/∂x = (m ⊙ g)/(1 − p) = [2.667; 0; −1.333; 0.6667]" in text
    assert "out = (m ⊙ x)/(1 − p) = [" in text


@pytest.mark.parametrize("name", ["conv1d", "conv2d", "maxpool", "dropout"])
def test_layer_markdown_parses_with_pandoc(name, pandoc):
    import subprocess
    md = layer_documents()[name].to_markdown()
    assert "## The same layer in matrix form" in md or "The same layer in matrix form\n" in md
    run = subprocess.run([pandoc, "-f", "markdown", "-t", "json"], input=md, capture_output=True,
                         text=True, check=True)
    strs, maths = [], []

    def walk(node):  # every string outside math is prose: no stray $ or LaTeX in it
        if isinstance(node, dict):
            (strs if node.get("t") == "Str" else maths if node.get("t") == "Math" else []).append(node.get("c"))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(__import__("json").loads(run.stdout))
    assert not [x for x in strs if "$" in str(x) or "bmatrix" in str(x) or "\\frac" in str(x)]
    assert sum("bmatrix" in str(m) for m in maths) >= 3
