"""The batch convention is a choice (issue 24): ``batch="columns"`` (the default, W @ X + b) or
``batch="rows"`` (X @ W + b, as PyTorch and CS231n). The same net gives the same loss either way
and gradients that are each other's transposes; a likely mismatch gets a warning."""
from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import derive
from derive.core.errors import DeriveError, DeriveWarning

COLUMNS = """
z1 = W1 @ X + b1
h = relu(z1)
z2 = W2 @ h + b2
p = softmax(z2)
L = cross_entropy(p, y)
"""
ROWS = """
z1 = X @ W1 + b1
h = relu(z1)
z2 = h @ W2 + b2
p = softmax(z2)
L = cross_entropy(p, y)
"""


def floats(m) -> np.ndarray:
    return np.array(np.array(m.tolist(), dtype=object).astype(float)) if isinstance(m, sp.MatrixBase) \
        else np.array(float(m))


def net(seed, batch=4, d=3, hidden=5, k=3):
    rng = random.Random(seed)
    r = lambda *shape: np.round(np.array([rng.uniform(-1, 1) for _ in range(int(np.prod(shape)))]).reshape(shape), 2)  # noqa: E731
    return {"X": r(batch, d), "W1": r(hidden, d), "b1": r(hidden), "W2": r(k, hidden), "b2": r(k),
            "y": [rng.randrange(k) for _ in range(batch)]}


@pytest.mark.parametrize("seed, batch", [(1, 4), (2, 1), (3, 3)])
def test_the_same_net_in_rows_and_columns_has_one_loss_and_transposed_gradients(seed, batch):
    v = net(seed, batch)
    cols = derive.Example.from_equations(COLUMNS, values={
        "X": v["X"].T.tolist(), "W1": v["W1"].tolist(), "b1": v["b1"].tolist(), "W2": v["W2"].tolist(),
        "b2": v["b2"].tolist(), "y": v["y"]})
    rows = derive.Example.from_equations(ROWS, values={
        "X": v["X"].tolist(), "W1": v["W1"].T.tolist(), "b1": v["b1"].tolist(), "W2": v["W2"].T.tolist(),
        "b2": v["b2"].tolist(), "y": v["y"]}, batch="rows")
    assert rows.shape("b1") == (1, 5) and cols.shape("b1") == (5, 1)  # a list is a row under rows
    assert abs(float(rows.value("L")) - float(cols.value("L"))) < 1e-14
    for name in ("X", "W1", "b1", "W2", "b2"):
        assert np.allclose(floats(rows.grad(name)), floats(cols.grad(name)).T, rtol=1e-13, atol=1e-13), name
    # and both are PyTorch's
    X, W1, b1, W2, b2 = (torch.tensor(v[n], dtype=torch.float64, requires_grad=True)
                         for n in ("X", "W1", "b1", "W2", "b2"))
    L = F.cross_entropy(torch.relu(X @ W1.T + b1) @ W2.T + b2, torch.tensor(v["y"]))
    L.backward()
    assert abs(float(rows.value("L")) - L.item()) < 1e-10
    assert np.allclose(floats(rows.grad("W1")), W1.grad.numpy().T, atol=1e-10)
    assert np.allclose(floats(rows.grad("b2")), b2.grad.numpy().reshape(1, -1), atol=1e-10)


def test_mlp_takes_the_batch_keyword_and_keeps_the_scalar_names():
    v = net(5, 3)
    kw = dict(activation=["relu", "softmax"], loss="cross_entropy")
    args = (v["X"].tolist(), [v["W1"].tolist(), v["W2"].tolist()], [v["b1"].tolist(), v["b2"].tolist()], v["y"])
    cols, rows = derive.mlp(*args, **kw), derive.mlp(*args, **kw, batch="rows")
    assert rows.shape("X") == (3, 3) and rows.shape("W1") == (3, 5) and cols.shape("W1") == (5, 3)
    assert abs(float(rows.value("L")) - float(cols.value("L"))) < 1e-14
    assert np.allclose(floats(rows.grad("W2")), floats(cols.grad("W2")).T, atol=1e-13)
    for name in ("w1_2_3", "b2_1", "w2_3_5"):  # the same weight, whatever its layout
        assert abs(float(rows.grad(name)) - float(cols.grad(name))) < 1e-14
    text = rows.to_text()
    assert "rows" in text.split("Forward pass")[0]


def test_a_one_element_target_list_is_one_class_index_for_one_example():
    x, W, b = [0.5, -1], [[1, 2], [0.5, -0.5], [0, 1], [2, 0]], [0, 0.1, -0.2, 0.3]
    ex = derive.mlp(x, [W], [b], [3], activation=["softmax"], loss="cross_entropy")
    same = derive.mlp(x, [W], [b], 3, activation=["softmax"], loss="cross_entropy")
    assert ex.value("L") == same.value("L") and ex.is_index("Y")
    z = torch.tensor(W, dtype=torch.float64) @ torch.tensor(x, dtype=torch.float64) + torch.tensor(b, dtype=torch.float64)
    assert abs(float(ex.value("L")) - F.cross_entropy(z.unsqueeze(0), torch.tensor([3])).item()) < 1e-12
    # the default (sigmoid) output: [3] is read as one class index, and refused by name, since
    # class indices take a softmax output (DESIGN: activation=[…, "softmax"]; issue #24 QA A3)
    with pytest.raises(DeriveError, match=r"\(3\) are class indices.*activation=\[\"softmax\"\]"):
        derive.mlp(x, [W], [b], [3], loss="cross_entropy")


def test_x_at_w_under_the_columns_convention_gets_a_warning_and_a_sentence():
    rng = random.Random(9)
    X = [[round(rng.uniform(-1, 1), 1) for _ in range(3)] for _ in range(4)]  # 4 examples as rows
    W = [[round(rng.uniform(-1, 1), 1) for _ in range(2)] for _ in range(3)]
    Y = [[1, 0], [0, 1], [1, 0], [0, 1]]
    text = "z = X @ W + b\np = softmax(z)\nL = cross_entropy(p, Y)"
    values = {"X": X, "W": W, "b": [[0.1, -0.1]], "Y": Y}
    with pytest.warns(DeriveWarning, match=r"softmax\(z\) normalises over an axis of 4 entries, the "
                                           r"number of examples"):
        ex = derive.Example.from_equations(text, values=values)
    assert "batch" in ex.to_text() and "rows" in ex.to_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        right = derive.Example.from_equations(text, values={**values, "b": [0.1, -0.1]}, batch="rows")
    # the numbers: columns read the wrong axis; rows give PyTorch's loss
    Xt = torch.tensor(X, dtype=torch.float64)
    z = Xt @ torch.tensor(W, dtype=torch.float64) + torch.tensor([0.1, -0.1], dtype=torch.float64)
    assert abs(float(right.value("L")) - F.cross_entropy(z, torch.tensor([0, 1, 0, 1])).item()) < 1e-12
    assert abs(float(ex.value("L")) - float(right.value("L"))) > 1e-3


def test_an_unknown_convention_is_refused_by_name():
    with pytest.raises(DeriveError, match=r"batch must be \"columns\".*or \"rows\".*got 'row'"):
        derive.Example.from_equations("z = W @ x\nL = sum(z)", values={"W": [[1]], "x": [1]}, batch="row")


def test_the_spec_field_batch_rows(tmp_path):
    from derive.model.spec import example_from_spec, load_spec
    path = tmp_path / "net.yaml"
    path.write_text("equations: |\n  z = X @ W + b\n  p = softmax(z)\n  L = cross_entropy(p, y)\n"
                    "values: {X: [[1, 2], [0, -1]], W: [[0.5, -1], [1, 0]], b: [0, 0.5], y: [1, 0]}\n"
                    "batch: rows\n")
    ex = example_from_spec(load_spec(str(path)))
    assert ex.batch == "rows" and ex.shape("b") == (1, 2)
    path.write_text("equations: |\n  z = W @ x\n  L = sum(z)\nvalues: {W: [[1]], x: [1]}\nbatch: diagonal\n")
    with pytest.raises(DeriveError, match=r"batch"):
        example_from_spec(load_spec(str(path)))


def test_training_keeps_the_row_convention():
    v = net(4, 3)
    kw = dict(activation=["relu", "softmax"], loss="cross_entropy", lr=0.5)
    args = (v["X"].tolist(), [v["W1"].tolist(), v["W2"].tolist()], [v["b1"].tolist(), v["b2"].tolist()], v["y"])
    cols = derive.mlp(*args, **kw).train(steps=2, optimizer="sgd")
    rows = derive.mlp(*args, **kw, batch="rows").train(steps=2, optimizer="sgd")
    assert [float(a) for a in rows.loss] == pytest.approx([float(b) for b in cols.loss], rel=1e-13)


def test_what_writes_the_columns_convention_refuses_rows_by_name_and_shapes_follow_the_convention():
    from derive.core.errors import NotApplicable
    v = net(6, 2)
    ex = derive.mlp(v["X"].tolist(), [v["W1"].tolist(), v["W2"].tolist()], [v["b1"].tolist(), v["b2"].tolist()],
                    v["y"], activation=["relu", "softmax"], loss="cross_entropy", batch="rows")
    with pytest.raises(NotApplicable, match=r"the pytorch export writes the columns convention"):
        ex.render("pytorch")
    symbolic = derive.Example.from_equations("z = X @ W + b\nL = sum(z)", shapes={"X": [4, 3], "W": [3, 2], "b": [2]},
                                             batch="rows")
    assert symbolic.shape("b") == (1, 2) and symbolic.shape("z") == (4, 2)


def test_homework_keeps_the_specs_batch_convention(tmp_path):
    from derive.courseware.homework import Generator
    from derive.model.spec import load_spec
    path = tmp_path / "hw.yaml"
    path.write_text("equations: |\n  z = X @ W + b\n  p = softmax(z)\n  L = cross_entropy(p, y)\n"
                    "values: {X: [[1, 2], [0, -1], [2, 1]], b: [0, 0.5], y: [1, 0, 1]}\n"
                    "random:\n  W: {integers: [-2, 2], shape: [2, 2]}\nbatch: rows\n")
    variant = Generator(load_spec(str(path)), 1).variants(1)[0]
    ex = variant.example if hasattr(variant, "example") else variant
    assert ex.batch == "rows" and ex.shape("b") == (1, 2)


def test_batch_mean_averages_over_the_examples_of_either_convention():
    X = [[1, 2, -1], [0.5, -2, 3]]  # columns: 3 examples of 2 features
    text = "mu = batch_mean(X)\nd = X - mu\nv = batch_mean(d**2)\nL = sum(v * v)"
    cols = derive.Example.from_equations(text, values={"X": X})
    rows = derive.Example.from_equations(text, values={"X": np.array(X).T.tolist()}, batch="rows")
    assert rows.shape("mu") == (1, 2) and cols.shape("mu") == (2, 1)
    assert rows.value("L") == cols.value("L")
    assert rows.grad("X") == cols.grad("X").T
    t = torch.tensor(np.array(X).T, dtype=torch.float64, requires_grad=True)
    v = ((t - t.mean(0, keepdim=True)) ** 2).mean(0)
    (v * v).sum().backward()
    assert np.allclose(floats(rows.grad("X")), t.grad.numpy(), atol=1e-12)


def test_conv1d_under_rows_is_refused_by_name():
    with pytest.raises(DeriveError, match=r"conv1d convolves each column .*\(batch: rows\)"):
        derive.Example.from_equations("o = conv1d(x, k)\nL = sum(o)", values={"x": [1, 2, 3], "k": [1, -1]},
                                      batch="rows")


def test_a_softmax_over_the_examples_in_the_right_convention_is_told_its_axis():
    X = [[1, 2, 0, -1, 3], [0.5, 1, -1, 2, 0]]  # 5 examples as columns, 2 features
    W = [[1, 0], [0, 1], [1, 1]]
    with pytest.warns(DeriveWarning, match=r"softmax\(z\) normalises over an axis of 5 entries.*give axis=0"):
        derive.Example.from_equations("z = W @ X\np = softmax(z, axis=1)\nL = sum(p * p)",
                                      values={"W": W, "X": X})
