"""The curriculum in the equation language (issue 24): conv2d with channels, stride and padding,
max- and average-pooling, embeddings, softmax along an axis, layer normalisation, flatten — each
exercise ONE graph of equations, its values and every gradient against PyTorch float64 autograd
(1e-10), its document compiled by pdflatex with no overfull box over 2 pt."""
from __future__ import annotations

import random
import re
import warnings

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import derive
from derive.core.errors import DeriveError, ParseError

TOL = 1e-10


def decimals(rng, shape, low=-2.0, high=2.0, places=1):
    """Exact decimals (one place), some zero, some negative; a nested list of ``shape``."""
    if not shape:
        return round(rng.uniform(low, high), places)
    return [decimals(rng, shape[1:], low, high, places) for _ in range(shape[0])]


def distinct(rng, shape, step=0.1):
    """Entries all different (no tie in a max-pool window), as a nested list of ``shape``."""
    n = int(np.prod(shape))
    values = rng.sample(range(-5 * n, 5 * n), n)
    return (np.array(values, dtype=float) * step).round(10).reshape(shape).tolist()


def T(v, grad=True):
    return torch.tensor(np.array(v, dtype=float), dtype=torch.float64, requires_grad=grad)


def floats(m) -> np.ndarray:
    if isinstance(m, (sp.MatrixBase, sp.NDimArray)):
        return np.array(np.array(m.tolist(), dtype=object).astype(float))
    return np.array(float(m))


def assert_close(ours, ref, what=""):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    ours = floats(ours)
    assert ours.shape == ref.shape or ours.size == ref.size == 1, (what, ours.shape, ref.shape)
    assert np.allclose(ours.reshape(ref.shape), ref, rtol=TOL, atol=TOL), (what, ours, ref)


def assert_matches(ex, refs: dict, grads: dict):
    for name, ref in refs.items():
        assert_close(ex.value(name), ref, name)
    for name, tensor in grads.items():
        assert_close(ex.grad(name), tensor.grad, f"dL/d{name}")


# --- the exercises ----------------------------------------------------------------------------------

CONV_POOL = """
o = conv2d(x, k, stride=2, padding=1) + b
p = maxpool2d(o, 2)
a = relu(p)
L = mean((a - y)**2)
"""


def conv_pool_values(seed=1):
    rng = random.Random(seed)
    return {"x": decimals(rng, (2, 7, 7)), "k": decimals(rng, (3, 2, 3, 3)), "b": decimals(rng, (3, 1, 1)),
            "y": decimals(rng, (3, 2, 2), 0, 1)}


def conv_pool_torch(v):
    x, k, b = T(v["x"]), T(v["k"]), T(v["b"])
    o = F.conv2d(x.unsqueeze(0), k, stride=2, padding=1).squeeze(0) + b
    p = F.max_pool2d(o.unsqueeze(0), 2).squeeze(0)
    a = torch.relu(p)
    L = ((a - T(v["y"], False)) ** 2).mean()
    L.backward()
    return {"o": o, "p": p, "a": a, "L": L}, {"x": x, "k": k, "b": b}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_conv_stride_padding_two_channels_maxpool_relu_loss_is_one_graph(seed):
    v = conv_pool_values(seed)
    ex = derive.Example.from_equations(CONV_POOL, values=v)
    assert ex.shape("x") == (2, 7, 7) and ex.shape("o") == (3, 4, 4) and ex.shape("p") == (3, 2, 2)
    refs, leaves = conv_pool_torch(v)
    assert_matches(ex, refs, leaves)
    assert isinstance(ex.grad("k"), sp.NDimArray) and ex.grad("k").shape == (3, 2, 3, 3)


LENET = """
c = conv2d(x, k) + b1
h = relu(c)
p = maxpool2d(h, 2)
f = flatten(p)
z = W @ f + b2
q = softmax(z)
L = cross_entropy(q, y)
"""


def lenet_values(seed=7):
    rng = random.Random(seed)
    return {"x": [[[round(rng.random(), 2) for _ in range(12)] for _ in range(12)]],
            "k": decimals(rng, (4, 1, 3, 3), -1, 1), "b1": decimals(rng, (4, 1, 1), -0.5, 0.5),
            "W": decimals(rng, (10, 100), -0.3, 0.3, 2), "b2": decimals(rng, (10,), -0.2, 0.2), "y": 3}


def lenet_torch(v):
    x, k, b1, W, b2 = T(v["x"]), T(v["k"]), T(v["b1"]), T(v["W"]), T(v["b2"])
    c = F.conv2d(x.unsqueeze(0), k).squeeze(0) + b1
    p = F.max_pool2d(torch.relu(c).unsqueeze(0), 2).squeeze(0)
    z = W @ p.reshape(-1, 1) + b2.reshape(-1, 1)
    L = F.cross_entropy(z.T, torch.tensor([v["y"]]))
    L.backward()
    return {"c": c, "p": p, "z": z, "L": L}, {"k": k, "b1": b1, "W": W, "b2": b2, "x": x}


def test_lenet_style_net_matches_torch():
    v = lenet_values()
    ex = derive.Example.from_equations(LENET, values=v)
    assert ex.shape("f") == (100, 1) and ex.shape("p") == (4, 5, 5)
    refs, leaves = lenet_torch(v)
    ex_b2 = leaves.pop("b2")
    assert_matches(ex, refs, leaves)
    assert_close(ex.grad("b2"), ex_b2.grad.reshape(-1, 1), "dL/db2")
    assert ex.is_index("y")


EMBEDDING = """
e = embedding(E, i)
z = W @ e + b
p = softmax(z)
L = cross_entropy(p, y)
"""


@pytest.mark.parametrize("indices, labels", [([2, 0, 5, 2], [1, 2, 0, 1]), (4, 2)])
def test_embedding_linear_cross_entropy_with_a_batch_of_class_indices(indices, labels):
    rng = random.Random(5)
    v = {"E": decimals(rng, (6, 4)), "W": decimals(rng, (3, 4)), "b": decimals(rng, (3,)), "i": indices,
         "y": labels}
    ex = derive.Example.from_equations(EMBEDDING, values=v)
    E, W, b = T(v["E"]), T(v["W"]), T(v["b"])
    idx = torch.tensor(np.atleast_1d(indices))
    e = E[idx].T
    z = W @ e + b.reshape(-1, 1)
    L = F.cross_entropy(z.T, torch.tensor(np.atleast_1d(labels)))
    L.backward()
    assert_matches(ex, {"e": e, "z": z, "L": L}, {"E": E, "W": W})
    assert ex.is_index("i") and ex.is_index("y")
    # the gradient lands in the rows picked, and nowhere else
    picked = set(np.atleast_1d(indices).tolist())
    grad = floats(ex.grad("E"))
    assert all(not grad[r].any() for r in range(6) if r not in picked)
    assert all(grad[r].any() for r in picked)


def test_embedding_index_out_of_range_is_refused_by_name():
    with pytest.raises(DeriveError, match=r"class index 6 in i is not a whole number from 0 to 5"):
        derive.Example.from_equations("e = embedding(E, i)\nL = sum(e)",
                                      values={"E": [[1, 2]] * 6, "i": [0, 6]})


ATTENTION = """
Q = X @ Wq
K = X @ Wk
V = X @ Wv
S = Q @ K.T / 2
A = softmax(S)
O = A @ V
L = sum(O * C)
"""


def test_attention_written_q_k_transpose_in_the_row_convention():
    rng = random.Random(11)
    v = {"X": decimals(rng, (3, 4)), "Wq": decimals(rng, (4, 4)), "Wk": decimals(rng, (4, 4)),
         "Wv": decimals(rng, (4, 2)), "C": decimals(rng, (3, 2))}
    ex = derive.Example.from_equations(ATTENTION, values=v, batch="rows")
    X, Wq, Wk, Wv = T(v["X"]), T(v["Wq"]), T(v["Wk"]), T(v["Wv"])
    S = (X @ Wq) @ (X @ Wk).T / 2
    A = torch.softmax(S, dim=1)  # each row: one query's weights over the keys
    O = A @ (X @ Wv)
    L = (O * T(v["C"], False)).sum()
    L.backward()
    assert_matches(ex, {"A": A, "O": O, "L": L}, {"X": X, "Wq": Wq, "Wk": Wk, "Wv": Wv})
    # written explicitly, the axis gives the same, under either convention
    explicit = derive.Example.from_equations(ATTENTION.replace("softmax(S)", "softmax(S, axis=1)"), values=v)
    assert_close(explicit.grad("Wq"), floats(ex.grad("Wq")))


RESIDUAL = """
u = W1 @ x + b1
h = relu(u)
v = W2 @ h + b2
r = relu(v + x)
L = sum((r - t)**2)/2
"""


def test_residual_block_matches_torch():
    rng = random.Random(3)
    v = {"x": decimals(rng, (3,)), "W1": decimals(rng, (4, 3)), "b1": decimals(rng, (4,)),
         "W2": decimals(rng, (3, 4)), "b2": decimals(rng, (3,)), "t": decimals(rng, (3,))}
    ex = derive.Example.from_equations(RESIDUAL, values=v)
    x, W1, b1, W2, b2 = (T(np.reshape(v[n], (-1, 1)) if n in ("x", "b1", "b2") else v[n]) for n in
                         ("x", "W1", "b1", "W2", "b2"))
    r = torch.relu(W2 @ torch.relu(W1 @ x + b1) + b2 + x)
    L = ((r - T(np.reshape(v["t"], (-1, 1)), False)) ** 2).sum() / 2
    L.backward()
    assert_matches(ex, {"r": r, "L": L}, {"x": x, "W1": W1, "b1": b1, "W2": W2, "b2": b2})
    # x reaches the loss along two paths: through the block and around it
    assert "∂L/∂x" in ex.to_text()


# --- the other operations -----------------------------------------------------------------------------


@pytest.mark.parametrize("size, stride", [(2, None), (3, 1), (2, 1)])
def test_avgpool_matches_torch(size, stride):
    rng = random.Random(size * 10 + (stride or 0))
    v = {"x": decimals(rng, (2, 5, 5)), "C": None}
    call = f"avgpool2d(x, {size})" if stride is None else f"avgpool2d(x, {size}, stride={stride})"
    x = T(v["x"])
    o = F.avg_pool2d(x.unsqueeze(0), size, stride or size).squeeze(0)
    v["C"] = decimals(rng, tuple(o.shape))
    ex = derive.Example.from_equations(f"o = {call}\nL = sum(C * o)", values=v)
    (o * T(v["C"], False)).sum().backward()
    assert_matches(ex, {"o": o}, {"x": x})


def test_maxpool_tie_goes_to_the_first_maximum_in_row_major_order_as_torch():
    x = [[[1, 3, 0, 2], [3, 2, 2, 2]]]  # window 1: 3 at (0,1) and (1,0); window 2: 2 three times
    ex = derive.Example.from_equations("o = maxpool2d(x, 2)\nL = sum(C * o)", values={"x": x, "C": [[[5, 7]]]})
    tx = T(x)
    (F.max_pool2d(tx.unsqueeze(0), 2).squeeze(0) * T([[[5, 7]]], False)).sum().backward()
    assert_close(ex.grad("x"), tx.grad)
    assert floats(ex.grad("x")).tolist() == [[[0, 5, 0, 7], [0, 0, 0, 0]]]


@pytest.mark.parametrize("axis", [0, 1])
def test_softmax_and_log_softmax_along_either_axis(axis):
    rng = random.Random(axis)
    v = {"Z": decimals(rng, (3, 4)), "C": decimals(rng, (3, 4))}
    ex = derive.Example.from_equations(f"p = softmax(Z, axis={axis})\nq = log_softmax(Z, {axis})\n"
                                       f"L = sum(C * p) + sum(C * q)", values=v)
    Z = T(v["Z"])
    C = T(v["C"], False)
    p, q = torch.softmax(Z, dim=axis), torch.log_softmax(Z, dim=axis)
    L = (C * p).sum() + (C * q).sum()
    L.backward()
    assert_matches(ex, {"p": p, "q": q, "L": L}, {"Z": Z})


@pytest.mark.parametrize("rows", [False, True])
def test_layer_norm_is_written_out_in_its_steps_and_matches_torch(rows):
    rng = random.Random(4)
    X = decimals(rng, (4, 3))  # 4 features × 3 examples (columns); transposed for rows
    gamma, beta = decimals(rng, (4,), 0.5, 2), decimals(rng, (4,))
    C = decimals(rng, (4, 3))
    data = np.array(X).T.tolist() if rows else X
    weights = np.array(C).T.tolist() if rows else C
    ex = derive.Example.from_equations("y = layer_norm(x, gamma, beta, 0.001)\nL = sum(C * y)",
                                       values={"x": data, "gamma": gamma, "beta": beta, "C": weights},
                                       batch="rows" if rows else "columns")
    x, g, b = T(np.array(X).T), T(gamma), T(beta)
    y = F.layer_norm(x, (4,), g, b, eps=0.001)
    (y * T(np.array(C).T, False)).sum().backward()
    flip = (lambda a: a) if rows else (lambda a: a.T)
    assert_close(ex.value("y"), flip(y))
    assert_close(ex.grad("x"), flip(x.grad))
    assert_close(ex.grad("gamma"), g.grad.reshape((1, -1) if rows else (-1, 1)))
    assert_close(ex.grad("beta"), b.grad.reshape((1, -1) if rows else (-1, 1)))
    steps = [eq.name for eq in ex.graph.equations]
    assert steps[:6] == ["mu", "xc", "sq", "var", "u1", "sigma"] and steps[6:8] == ["xhat", "y"]
    text = ex.to_text()
    assert "layer normalisation" in text.lower() and "x̂" in text


def test_keyword_arguments_are_placed_by_name_and_checked():
    v = conv_pool_values()
    by_name = derive.Example.from_equations(CONV_POOL, values=v)
    by_position = derive.Example.from_equations(CONV_POOL.replace("stride=2, padding=1", "2, 1"), values=v)
    assert by_name.grad("k") == by_position.grad("k")
    only_padding = derive.Example.from_equations("o = conv2d(x, k, padding=1)\nL = sum(o)",
                                                 values={"x": v["x"], "k": v["k"]})
    assert only_padding.shape("o") == (3, 7, 7)  # stride 1, its default, filled in
    for text, message in [
        ("o = conv2d(x, k, strides=2)\nL = sum(o)", r"`conv2d` has no argument `strides`; its arguments are x, k, stride, padding"),
        ("o = conv2d(x, k, stride=2, stride=1)\nL = sum(o)", r"argument `stride` of `conv2d` is given twice"),
        ("o = conv2d(x, k, 2, stride=1)\nL = sum(o)", r"argument `stride` of `conv2d` is given twice"),
        ("o = conv2d(x, stride=2, k)\nL = sum(o)", r"a positional argument follows a keyword argument"),
        ("o = relu(z=1)", r"keyword arguments are not allowed"),
    ]:
        with pytest.raises(ParseError, match=message):
            derive.Example.from_equations(text, values={"x": v["x"], "k": v["k"]})


@pytest.mark.parametrize("text, message", [
    ("o = conv2d(x, k, stride=0)\nL = sum(o)", r"conv2d: the stride must be a whole number ≥ 1"),
    ("o = conv2d(y, k)\nL = sum(o)", r"needs y a C×H×W image"),
    ("o = conv2d(x, x)\nL = sum(o)", r"needs the kernel a C_out×C_in×kh×kw tensor"),
    ("o = maxpool2d(x, 8)\nL = sum(o)", r"maxpool2d: the window \(8×8\) is larger than the input \(7×7\)"),
    ("o = maxpool2d(x, 2, stride=0)\nL = sum(o)", r"the stride must be a whole number ≥ 1"),
    ("p = softmax(y, axis=2)\nL = sum(p)", r"axis must be written as 0"),
])
def test_bad_layer_settings_are_refused_by_name(text, message):
    v = conv_pool_values()
    values = {n: v[n] if n != "y" else [[1, 2], [3, 4]] for n in ("x", "k", "y") if re.search(rf"\b{n}\b", text)}
    with pytest.raises(DeriveError, match=message):
        derive.Example.from_equations(text, values=values)


def test_conv_kernel_channels_must_match_the_image():
    v = conv_pool_values()
    with pytest.raises(DeriveError, match=r"the kernel k takes 2 input channel\(s\) but x has 1"):
        derive.Example.from_equations("o = conv2d(x, k)\nL = sum(o)", values={"x": [v["x"][0]], "k": v["k"]})


# --- the documents ------------------------------------------------------------------------------------


def exercises() -> dict:
    """One example of each exercise, as a document compiles it."""
    rng = random.Random(2)
    att = {"X": decimals(rng, (3, 4)), "Wq": decimals(rng, (4, 4)), "Wk": decimals(rng, (4, 4)),
           "Wv": decimals(rng, (4, 2)), "C": decimals(rng, (3, 2))}
    res = {"x": decimals(rng, (3,)), "W1": decimals(rng, (4, 3)), "b1": decimals(rng, (4,)),
           "W2": decimals(rng, (3, 4)), "b2": decimals(rng, (3,)), "t": decimals(rng, (3,))}
    emb = {"E": decimals(rng, (6, 4)), "W": decimals(rng, (3, 4)), "b": decimals(rng, (3,)),
           "i": [2, 0, 5, 2], "y": [1, 2, 0, 1]}
    ln = {"x": decimals(rng, (4, 3)), "gamma": decimals(rng, (4,), 0.5, 2), "beta": decimals(rng, (4,)),
          "C": decimals(rng, (4, 3))}
    return {
        "conv-pool": derive.Example.from_equations(CONV_POOL, values=conv_pool_values()),
        "lenet": derive.Example.from_equations(LENET, values=lenet_values()),
        "embedding": derive.Example.from_equations(EMBEDDING, values=emb),
        "attention-rows": derive.Example.from_equations(ATTENTION, values=att, batch="rows"),
        "residual": derive.Example.from_equations(RESIDUAL, values=res),
        "layer-norm": derive.Example.from_equations("y = layer_norm(x, gamma, beta)\nL = sum(C * y)", values=ln),
        "avgpool": derive.Example.from_equations("o = avgpool2d(x, 2, stride=1)\nL = sum(o * o)",
                                                 values={"x": decimals(rng, (2, 4, 4))}),
        "mlp-rows": derive.mlp(decimals(rng, (3, 4)), [decimals(rng, (5, 4)), decimals(rng, (3, 5))],
                               [decimals(rng, (5,)), decimals(rng, (3,))], [0, 2, 1],
                               activation=["relu", "softmax"], loss="cross_entropy", batch="rows"),
    }


def test_every_exercise_document_compiles_and_fits_its_page(pdflatex, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from tests.latex_documents import compile_latex
    from tests.test_layout import overfull
    docs = exercises()
    with ThreadPoolExecutor(2) as pool:
        builds = dict(zip(docs, pool.map(lambda item: compile_latex(tmp_path / item[0], item[1].to_latex()),
                                         docs.items())))
    assert {name: (b.returncode, b.errors, overfull(b.log)) for name, b in builds.items()
            if b.returncode != 0 or overfull(b.log)} == {}


def test_documents_show_the_layers_rules_and_the_nonzero_entries():
    docs = exercises()
    words = lambda ex: " ".join(ex.to_text().split())  # noqa: E731 (the text wraps its sentences)
    conv = words(docs["conv-pool"])
    assert "∂L/∂x = T(k)ᵀ ∂L/∂o" in conv and "∂L/∂k = corr(x, ∂L/∂o)" in conv
    assert "vec(o) = T(k) vec(x)" in conv and "(48×98)" in conv  # the convolution as a matrix
    assert re.search(r"∂L/∂k\[1,1,1,1\] = ∂L/∂o\[1,\d,\d\] · x\[1,\d,\d\]", conv)  # zoomed in
    assert "∂L/∂o = R(o)ᵀ ∂L/∂p" in conv and "the first one in row-major order" in conv
    emb = words(docs["embedding"])
    assert "∂L/∂E = onehot(i) (∂L/∂e)ᵀ" in emb and "zero except in rows 1, 3, 6" in emb
    for row in (1, 3, 6):
        assert f"∂L/∂E[{row},*] = [" in emb
    lenet = words(docs["lenet"])
    assert "∂L/∂p = vec⁻¹(∂L/∂f)" in lenet and "x[1,*,*] = [" in lenet
    # a mostly-zero gradient whose display elides entries lists its nonzero ones
    pooled = derive.Example.from_equations("o = maxpool2d(x, 4)\nL = sum(o)",
                                           values={"x": distinct(random.Random(1), (1, 8, 8))})
    text = words(pooled)
    assert "Only 4 of its 64 entries are nonzero: ∂L/∂x[1," in text
    body = docs["conv-pool"].to_latex().split("\\begin{document}")[-1]
    assert "stride=" not in body and "maxpool2d(" not in body  # math, never source code


# --- the layer builders over the table ------------------------------------------------------------


@pytest.mark.parametrize("stride, padding", [(2, 1), (1, 0), (1, 1)])
def test_the_conv2d_builder_is_the_tables_conv2d_and_shows_every_nonzero_entry(stride, padding):
    X = [[1, 2, 0, 1], [0, 1, 3, 2], [2, -2, 1, 0], [1, 1, -1, 2]]
    K = [[1, 0.5], [0, -1]]
    ex = derive.conv2d(X, K, bias=0.5, stride=stride, padding=padding)
    n = int(np.sqrt(len(ex.meta["taps"])))
    g = np.arange(1, n * n + 1).reshape(1, n, n).tolist()  # the builder's default upstream 1, 2, …
    table = derive.Example.from_equations(f"o = conv2d(x, k, {stride}, {padding}) + b\nL = sum(g * o)",
                                          values={"x": [X], "k": [[K]], "b": [[[0.5]]], "g": g})
    for r in range(4):
        for c in range(4):
            assert ex.grad(f"x{r + 1}_{c + 1}") == table.grad("x")[0, r, c]
    for r in range(2):
        for c in range(2):
            assert ex.grad(f"k{r + 1}_{c + 1}") == table.grad("k")[0, 0, r, c]
    shown = " ".join(ex.to_text().split())
    image = "; ".join(", ".join(format(float(table.grad("x")[0, r, c]), "g").replace("-", "−") for c in range(4))
                      for r in range(4))
    assert f"∂L/∂x = Tᵀ δ = [{image}]" in shown  # as the 4×4 image, no entry hidden


def test_the_maxpool_builder_routes_as_the_tables_maxpool2d():
    X = [[1, 5, 2, 0], [3, 5, -1, 4], [0, 0, 2, 2], [1, -3, 2, 1]]  # ties inside windows
    ex = derive.maxpool(X, size=2)
    table = derive.Example.from_equations("o = maxpool2d(x, 2)\nL = sum(g * o)",
                                          values={"x": [X], "g": [[[1, 2], [3, 4]]]})
    for r in range(4):
        for c in range(4):
            assert ex.grad(f"x{r + 1}_{c + 1}") == table.grad("x")[0, r, c]


def test_check_takes_images_and_kernels_and_what_does_not_yet_refuses_by_name():
    from derive.core.errors import NotApplicable
    ex = derive.Example.from_equations(CONV_POOL, values=conv_pool_values(), lr=0.1)
    assert ex.check({"dL/dk": floats(ex.grad("k")).tolist()}).ok
    wrong = floats(ex.grad("k"))
    wrong[1, 0, 2, 1] += 1
    report = ex.check({"dL/dk": wrong.tolist()})
    assert not report.ok and "at entry [2,1,3,2]" in str(report)
    assert ex.update("b")[2, 0, 0] == ex.value("b")[2, 0, 0] - ex.grad("b")[2, 0, 0] / 10
    for call in (lambda: ex.table(), lambda: ex.train(steps=1), lambda: ex.render("pytorch")):
        with pytest.raises(NotApplicable, match=r"are images or kernels \(more than two axes\)"):
            call()


def test_the_conv1d_batchnorm_and_dropout_builders_agree_with_the_table():
    x, k = [1, 2, -1, 0.5, 3], [1, -0.5, 2]
    ex = derive.conv1d(x, k, bias=0.5, stride=2, padding=1)
    table = derive.Example.from_equations("o = conv1d(x, k, 2, 1) + b\nL = sum(g * o)",
                                          values={"x": x, "k": k, "b": 0.5, "g": [1, 2, 3]})
    assert [ex.grad(f"x{i + 1}") for i in range(5)] == list(table.grad("x"))
    assert [ex.grad(f"k{i + 1}") for i in range(3)] == list(table.grad("k"))
    # batch normalisation of one feature over a batch is layer_norm of that column
    bn = derive.batchnorm([1, 2, 4], gamma=2, beta=0.5, eps="0.001", upstream=[1, -2, 0.5])
    ln = derive.Example.from_equations("y = layer_norm(x, gamma, beta, 0.001)\nL = sum(g * y)",
                                       values={"x": [1, 2, 4], "gamma": 2, "beta": 0.5, "g": [1, -2, 0.5]})
    for i in range(3):
        assert float(bn.grad(f"x{i + 1}")) == pytest.approx(float(ln.grad("x")[i]), rel=1e-14)
    assert float(bn.grad("gamma")) == pytest.approx(float(ln.grad("gamma")), rel=1e-14)
    drop = derive.dropout([1, -2, 3, 0.5], mask=[1, 0, 1, 1], p=0.25)
    same = derive.Example.from_equations("o = x * m / (1 - p)\nL = sum(g * o)",
                                         values={"x": [1, -2, 3, 0.5], "m": [1, 0, 1, 1], "p": 0.25, "g": [1, 2, 3, 4]})
    assert [drop.grad(f"x{i + 1}") for i in range(4)] == list(same.grad("x"))
