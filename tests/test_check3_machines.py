"""Checking round 3, the machines' half (issue 25): float32 answers from torch and numpy judged at
their own precision, torch tensors read wherever numbers are, matrix answers judged entry by entry
like scalar ones (the digits rule per entry), carried forward through the matrix steps, read back
from every form derive, numpy and torch print, and shown as grids in text, Markdown and HTML.

Every float32 value here comes from a real torch or numpy float32 computation, never typed."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
import torch

import derive
from derive.checking.machine import PRECISIONS, ULPS, printed_machine, widened_float32
from derive.checking.matrixcheck import read_matrix


def floats(m):
    return np.array(sp.Matrix(m).evalf(30).tolist(), dtype=float)


# -- float32 scalars from torch ------------------------------------------------------------------


def torch_neuron(activation, x=2.0, w=-0.6, b=0.4, y=1.0):
    """z, a, L and dL/dw, dL/db of one neuron with a squared error, in torch's float32."""
    xt, wt, bt = torch.tensor(x), torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    z = wt * xt + bt
    z.retain_grad()
    a = {"sigmoid": torch.sigmoid, "tanh": torch.tanh,
         "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01)}[activation](z)
    L = (a - y) ** 2
    L.backward()
    return {"z": z, "a": a, "L": L, "dL/dz": z.grad, "dL/dw": wt.grad, "dL/db": bt.grad}


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "leaky_relu"])
def test_float32_scalars_from_torch_are_correct_in_every_form(activation):
    ex = derive.neuron(x=2, w=-0.6, b=0.4, y=1, activation=activation, loss="squared_error")
    t = torch_neuron(activation)
    assert t["z"].item() == pytest.approx(-0.8, abs=1e-6) and t["z"].item() != -0.8  # binary noise
    forms = {"tensor": t, "item": {k: v.item() for k, v in t.items()},
             "numpy": {k: v.detach().numpy() for k, v in t.items()},
             "numpy scalar": {k: np.float32(v.item()) for k, v in t.items()},
             "float64 tensor of float32 values": {k: v.detach().double() for k, v in t.items()}}
    for form, answers in forms.items():
        report = ex.check(answers)
        assert report.ok, (form, str(report))
    # the report says how a float32 was judged
    note = ex.check({"z": t["z"]}).verdicts["z"].note
    assert note.startswith("read as float32 (a torch.float32 tensor): judged to its 7 significant digits")
    # the same values one float32 tolerance further off are wrong: the tolerance is float32's
    off = t["dL/dw"].item() * (1 + 3 * PRECISIONS["float32"].rtol)
    assert ex.check({"dL/dw": np.float32(off)}).status("dL/dw") == "incorrect"


def test_the_issue_values_z_and_dL_dw_from_a_float32_run():
    # z = w x + b in float32 is −0.80000007…: as .item() gives it, as torch and numpy print it
    z = torch.tensor(-0.6) * torch.tensor(2.0) + torch.tensor(0.4)
    ex = derive.neuron(x=2, w=-0.6, b=0.4, y=1, activation="sigmoid", loss="squared_error")
    torch.set_printoptions(precision=8)
    try:
        printed = repr(z.detach())
    finally:
        torch.set_printoptions(profile="default")
    assert printed == "tensor(-0.80000007)" and printed_machine(printed) == ("-0.80000007", "float32")
    numpy_printed = repr(np.float32(z.item()))
    assert numpy_printed == "np.float32(-0.8000001)"
    for answer in (z.item(), printed, numpy_printed, z, repr(z.detach().numpy())):
        assert ex.check({"z": answer}).ok, answer
    assert ex.check({"z": printed}).verdicts["z"].note.startswith(
        "read as float32 (as numpy or torch print it): judged to the digits printed or within a relative 1.9e-06")
    # typed by a person, 8 digits are held to their digits; a float64 value is a machine float
    assert ex.check({"z": "-0.80000007"}).status("z") == "incorrect"
    assert not widened_float32(-0.8000000000000002) and not widened_float32(-0.8)
    assert printed_machine("tensor(-0.8, dtype=torch.float64)") is None


def test_float16_and_bfloat16_and_integer_tensors():
    ex = derive.neuron(x=2, w=-0.6, b=0.4, y=1, activation="tanh", loss="squared_error")
    for dtype, name in ((torch.float16, "float16"), (torch.bfloat16, "bfloat16")):
        t = torch_neuron("tanh")
        z = torch.tensor(-0.6, dtype=dtype) * torch.tensor(2.0, dtype=dtype) + torch.tensor(0.4, dtype=dtype)
        report = ex.check({"z": z, "dL/dw": t["dL/dw"].to(dtype)})
        assert report.ok, str(report)
        assert report.verdicts["dL/dw"].note.startswith(f"read as {name}")
    assert derive.neuron(x=2, w=3, b=1, y=5).check({"z": torch.tensor(7)}).ok
    # not an answer to one key: said for that key, never a traceback
    two = derive.neuron(x=2, w=3, b=1, y=5).check({"z": torch.tensor([7.0, 1.0])})
    assert two.status("z") == "unreadable" and "a tensor of shape (2,)" in two.hint("z")
    assert ULPS * PRECISIONS["float32"].eps == PRECISIONS["float32"].rtol


def test_torch_is_imported_only_for_torch_objects():
    code = ("import sys, numpy as np, derive\n"
            "ex = derive.neuron(x=2, w=3, b=1, y=5)\n"
            "assert ex.check({'z': np.float32(7), 'dL/dw': 8.0}).ok\n"
            "m = derive.Example.from_equations('z = W @ x\\nL = sum(z)', values={'W': [[1, 2]], 'x': [3, 4]})\n"
            "assert m.check({'dL/dW': np.array([[3, 4]], dtype=np.float32)}).ok\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# -- float32 matrices from numpy and torch -------------------------------------------------------

X = np.array([[1, 0, -1, 0.5, 2], [2, 1, 0.5, -1, 0], [0.5, -0.5, 1, 1, -2]])
W1 = np.array([[0.2, -0.5, 0.1], [1.5, 1.3, -0.7], [0.0, 0.25, 0.4], [-0.3, 0.6, 0.9]])
B1 = np.array([[0.1], [-0.2], [0.3], [0.0]])
W2 = np.array([[0.5, -1, 0.2, 0.3], [0.1, 0.4, -0.6, 0.8], [-0.2, 0.3, 0.5, -0.4]])
B2 = np.array([[0.05], [-0.1], [0.2]])
Y = [0, 2, 1, 1, 0]
EQUATIONS = "h = tanh(W1 @ X + b1)\ns = W2 @ h + b2\np = softmax(s)\nL = cross_entropy(p, y)"


def softmax_batch():
    """A two-layer softmax classifier on a batch of 5, written as equations (columns: examples)."""
    return derive.Example.from_equations(EQUATIONS, values={"X": X, "W1": W1, "b1": B1, "W2": W2,
                                                            "b2": B2, "y": Y})


def numpy_backprop(dtype):
    """The same network's backward pass as a student writes it in numpy."""
    f = lambda a: np.asarray(a, dtype=dtype)  # noqa: E731
    h = np.tanh(f(W1) @ f(X) + f(B1))
    s = f(W2) @ h + f(B2)
    p = np.exp(s - s.max(0))
    p = p / p.sum(0)
    ds = (p - np.eye(3, dtype=dtype)[:, Y]) / 5
    dh = f(W2).T @ ds
    du = dh * (1 - h ** 2)
    return {"h": h, "s": s, "p": p, "dL/ds": ds, "dL/dW2": ds @ h.T, "dL/db2": ds.sum(1, keepdims=True),
            "dL/dh": dh, "dL/du1": du, "dL/dW1": du @ f(X).T, "dL/db1": du.sum(1, keepdims=True)}


def test_a_float32_numpy_backprop_is_correct_and_a_float64_one_too():
    ex = softmax_batch()
    for dtype in (np.float32, np.float64):
        answers = numpy_backprop(dtype)
        report = ex.check(answers)
        assert report.ok, str(report)
    # the float32 run really is off the exact values by more than a float64 tolerance
    g32 = numpy_backprop(np.float32)["dL/dW1"]
    assert np.abs(g32 - floats(ex.grad("W1"))).max() > 1e-9
    note = ex.check({"dL/dW1": g32}).verdicts["dL/dW1"].note
    assert note.startswith("read as float32 (a numpy float32 array)")
    assert note.endswith("of each entry, or of the matrix's largest entry")
    # one entry off by a hundred float32 units is found, at its place
    bad = g32.copy()
    bad[2, 1] *= np.float32(1 + 100 * PRECISIONS["float32"].eps)
    hint = ex.check({"dL/dW1": bad}).hint("dL/dW1")
    assert hint == "1 of 12 entries differs, at row 3, column 2; recheck this step"


def test_torch_autograd_on_mlp_and_from_torch_batches_is_correct():
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Sigmoid(), torch.nn.Linear(8, 3))
    xb, yb = torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0])
    ex = derive.from_torch(net, xb, yb, loss="cross_entropy")
    loss = torch.nn.functional.cross_entropy(net(xb), yb)
    loss.backward()
    grads = {"dL/dW1": net[0].weight.grad, "dL/db1": net[0].bias.grad,
             "dL/dW2": net[2].weight.grad, "dL/db2": net[2].bias.grad, "L": loss}
    report = ex.check(grads)
    assert report.ok, str(report)
    assert report.verdicts["dL/dW1"].note.startswith("read as float32 (a torch.float32 tensor)")
    # entries by their own names, as tensors (w1_2_3 is W1[2,3])
    assert ex.check({"dL/dw1_2_3": net[0].weight.grad[1, 2], "dL/db2_3": net[2].bias.grad[2]}).ok
    # the same net through mlp, the weights as torch parameters (values are read from torch too)
    same = derive.mlp(xb.tolist(), [net[0].weight, net[2].weight], [net[0].bias, net[2].bias],
                      yb.tolist(), activation=["sigmoid", "softmax"], loss="cross_entropy")
    assert same.check(grads).ok
    w = net[0].weight.detach().numpy()
    assert same.value("W1")[1, 2] == sp.Rational(str(w[1, 2]))  # the decimal the float32 prints as
    # a bfloat16 copy of the gradients: judged at bfloat16's precision, and said so
    coarse = ex.check({"dL/dW2": net[2].weight.grad.to(torch.bfloat16)})
    assert coarse.ok and coarse.verdicts["dL/dW2"].note.startswith("read as bfloat16 (a torch.bfloat16 tensor)")
    assert not ex.check({"dL/dW2": net[2].weight.grad.to(torch.bfloat16) * 1.1}).ok
    # a float32 tensor's gradient that forgot the 1/N of the batch mean is still diagnosed
    wrong = ex.check({"dL/dW1": net[0].weight.grad * 5})
    assert wrong.diagnosis("dL/dW1") == "missing_mean"


def test_values_given_as_torch_tensors_are_the_decimals_they_print_as():
    W = torch.tensor([[0.2, -0.5], [1.5, 1.3]])  # float32: 0.2 is 0.2000000029802…
    x = torch.tensor([1.0, 2.0])
    ex = derive.Example.from_equations("z = W @ x\nL = sum(relu(z))", values={"W": W, "x": x})
    same = derive.Example.from_equations("z = W @ x\nL = sum(relu(z))",
                                         values={"W": [[0.2, -0.5], [1.5, 1.3]], "x": [1, 2]})
    assert ex.value("z") == same.value("z") == sp.Matrix([[sp.Rational(-4, 5)], [sp.Rational(41, 10)]])
    assert ex.grad("W") == same.grad("W")
    scalar = derive.Example.from_equations("z = w*x\nL = z**2", values={"w": torch.tensor(0.1), "x": 3})
    assert scalar.value("z") == sp.Rational(3, 10)


# -- the digits rule, entry by entry --------------------------------------------------------------


def test_a_matrix_rounded_to_one_decimal_is_refused_by_the_digits_rule():
    ex = softmax_batch()
    g = floats(ex.grad("W1"))
    assert np.abs(g).max() < 0.5  # mostly 0.0 after rounding to 1 decimal
    report = ex.check({"dL/dW1": np.round(g, 1)})
    assert report.status("dL/dW1") == "incorrect"
    assert report.hint("dL/dW1").startswith("too few digits:")
    assert "give at least 2 significant figures in every entry" in report.hint("dL/dW1")
    # as the scalar rule: "-0.4" for −0.44 is too few digits, 3 figures are right
    assert ex.check({"dL/dW1": np.array([[float(f"{v:.3g}") for v in r] for r in g])}).ok
    assert ex.check({"dL/dW1": [[f"{v:#.2g}" for v in r] for r in g]}).ok  # 2 figures, as text
    # an entry that is exactly right at one figure stays right (0.5, an exact 0)
    exact = derive.Example.from_equations("z = W @ x\nL = sum(z)", values={"W": [[1, 2]], "x": [0.5, 0]})
    assert exact.check({"dL/dW": [[0.5, 0.0]]}).ok
    # wrong entries and too-short ones together: both are said
    mixed = np.round(g, 1)
    mixed[0, 0] = 5.0
    hint = ex.check({"dL/dW1": mixed}).hint("dL/dW1")
    assert hint.startswith("1 of 12 entries differs, at row 1, column 1") and "fewer than 2 significant" in hint


def test_one_number_in_a_tensor_example_gets_the_scalar_wording():
    ex = softmax_batch()
    report = ex.check({"L": 5})
    hint = report.hint("L")
    assert hint.startswith("the correct value is ≈ ") and hint.endswith("; recheck this step")
    assert "entries" not in hint
    assert float(ex.value("L")) == pytest.approx(1.835, abs=1e-3)
    assert ex.check({"L": "2"}).hint("L").startswith("too few digits: give at least 2")
    assert ex.check({"L": torch.tensor(float(ex.value("L")))}).ok


# -- reading matrices back: derive's, numpy's and torch's printed forms --------------------------


def test_every_printed_form_reads_back_as_the_answer():
    from derive.core.matrixmath import MatrixValue
    from derive.rendering.printing import printer_for
    ex = softmax_batch()
    grad = ex.evaluation.adjoints("L")["b2"]
    text = printer_for("text").doprint(MatrixValue.of(grad))
    assert "−" in text and ";" in text  # as documents print it: [−0.05878; 0.1931; −0.1343]
    latex = printer_for("latex").doprint(MatrixValue.of(ex.evaluation.adjoints("L")["W2"]))
    assert latex.startswith("\\begin{bmatrix}")
    g = floats(ex.grad("b2"))
    forms = {"text": text, "latex": latex, "shown": ex.check({"dL/db2": 0}).verdicts["dL/db2"].expected,
             "numpy str": str(g), "numpy repr": repr(g), "float32 repr": repr(g.astype(np.float32)),
             "nested": str(g.tolist()), "torch": repr(torch.tensor(g * 1)),
             "tabs and Unicode minus": "[" + ";\t".join(f"{v:.5g}".replace("-", "−") for v in g.ravel()) + "]"}
    for name, form in forms.items():
        key = "dL/dW2" if name == "latex" else "dL/db2"
        assert ex.check({key: form}).ok, (name, form, ex.check({key: form}).hint(key))
    # a report's grid of lines, pasted
    grid = "\n".join("  ".join(f"{v:.4g}" for v in row) for row in floats(ex.grad("W2")))
    assert ex.check({"dL/dW2": grid}).ok
    # elided forms cannot be pasted: said so, with the fix
    big = derive.Example.from_equations("L = sum(A)", values={"A": np.ones((12, 2)).tolist()})
    shown = big.check({"dL/dA": 0}).verdicts["dL/dA"].expected
    assert "⋮" in shown
    hint = big.check({"dL/dA": shown}).hint("dL/dA")
    assert "entries are left out" in hint and "give every entry" in hint


def test_read_matrix_keeps_digits_and_forms():
    assert read_matrix("[−0.05878; 0.1931; −0.1343]") == [["-0.05878"], ["0.1931"], ["-0.1343"]]
    assert read_matrix("array([[1., 2.], [3., 4.]])") == [["1.", "2."], ["3.", "4."]]
    entries = read_matrix("array([0.1, -0.25], dtype=float32)")
    assert entries == ["0.1", "-0.25"] and [e.precision for e in entries] == ["float32", "float32"]
    entries = read_matrix("tensor([[ 0.5, -1.0]], requires_grad=True)")  # torch's default: float32
    assert entries == [["0.5", "-1.0"]] and entries[0][0].precision == "float32"
    assert not hasattr(read_matrix("tensor([0.5], dtype=torch.float64)")[0], "precision")
    assert read_matrix("\\begin{bmatrix} \\frac{1}{2} & -3 \\\\ 4.3 \\times 10^{-5} & 0 \\end{bmatrix}") == \
        [["1/2", -3], ["4.3e-5", 0]]
    assert read_matrix("[[1, 2], [3, 4]] (2×2)") == [[1, 2], [3, 4]]
    with pytest.raises(derive.DeriveError, match="does not close"):
        read_matrix("[1, 2; 3")


# -- carried forward through the matrix steps ----------------------------------------------------


def test_a_gradient_computed_from_a_wrong_upstream_gradient_is_carried():
    ex = softmax_batch()
    ds_true, h = floats(ex.grad("s")), floats(ex.value("h"))
    ds = ds_true.copy()
    ds[1, 2] += 0.05  # one slip in ∂L/∂s
    report = ex.check({"dL/ds": ds, "dL/dW2": ds @ h.T, "dL/db2": ds.sum(1, keepdims=True),
                       "dL/dh": W2.T @ ds})
    assert report.status("dL/ds") == "incorrect"
    assert [report.status(k) for k in ("dL/dW2", "dL/db2", "dL/dh")] == ["carried"] * 3
    assert report.hint("dL/dW2").startswith("right given your dL/ds, which this step inherits")
    # computed from ∂L/∂s as written to 4 figures, but from unrounded values: within the range
    written = np.array([[float(f"{v:.4g}") for v in r] for r in ds])
    assert ex.check({"dL/ds": written, "dL/dW2": ds @ h.T}).status("dL/dW2") == "carried"
    # a second slip on top of the carried one is not carried
    wrong = ds @ h.T
    wrong[0, 0] += 0.1
    assert ex.check({"dL/ds": ds, "dL/dW2": wrong}).status("dL/dW2") == "incorrect"
    # further down: ∂L/∂W1 from the student's wrong ∂L/∂h, through tanh
    dh = W2.T @ ds
    du = dh * (1 - h ** 2)
    deeper = ex.check({"dL/ds": ds, "dL/dh": dh, "dL/dW1": du @ X.T})
    assert deeper.status("dL/dh") == deeper.status("dL/dW1") == "carried"
    # ∂L/∂W1 inherits ∂L/∂h only: the student's ∂L/∂s reaches it through ∂L/∂h, which replaces it
    assert deeper.hint("dL/dW1").startswith("right given your dL/dh, which this step inherits")


def test_a_value_computed_from_a_wrong_earlier_value_is_carried():
    ex = softmax_batch()
    h = floats(ex.value("h"))
    h[0, 0] += 0.2  # one slip in the hidden layer
    s = W2 @ h + B2
    p = np.exp(s - s.max(0))
    p /= p.sum(0)
    report = ex.check({"h": h, "s": s, "p": p})
    assert [report.status(k) for k in ("h", "s", "p")] == ["incorrect", "carried", "carried"]
    assert report.hint("p").startswith("right given your s, which this step inherits")  # s replaces h
    # s written to 3 decimals, p computed before rounding: still within what s stands for
    assert ex.check({"h": h, "s": np.round(s, 3), "p": p}).status("p") == "carried"
    # p from the exact s is not carried from the student's s: it is simply wrong or right
    exact_p = floats(ex.value("p"))
    assert ex.check({"s": s, "p": exact_p}).status("p") == "correct"
    wrong = p.copy()
    wrong[1, 1] += 0.05
    assert ex.check({"s": s, "p": wrong}).status("p") == "incorrect"


def test_an_update_from_a_wrong_gradient_is_carried_and_the_mlp_names_work():
    ex = derive.mlp([[1, 2], [0, 1], [0.5, -1]], [[[1, -1], [0, 1]], [[1, 0.5], [0.2, 0.3], [-0.5, 0]]],
                    [[0, 0.1], [0.5, 0, -0.25]], [0, 2, 1], activation=["leaky_relu", "softmax"],
                    loss="cross_entropy", lr="0.5")
    g = floats(ex.grad("W2")) * -1  # a sign slip
    report = ex.check({"dL/dW2": g, "W2_new": floats(ex.value("W2")) - 0.5 * g})
    assert report.status("dL/dW2") == "incorrect" and report.status("W2_new") == "carried"
    dz = floats(ex.grad("z2")) * 2
    a1 = floats(ex.value("a1"))
    report = ex.check({"dL/dz2": dz, "dL/dW2": dz @ a1.T, "dL/dw2_1_2": (dz @ a1.T)[0, 1]})
    assert report.status("dL/dW2") == "carried" and report.status("dL/dw2_1_2") == "carried"


def test_a_skip_connection_carries_both_paths():
    # h feeds s directly and through g: ∂L/∂h sums both
    ex = derive.Example.from_equations("h = tanh(W @ x)\ng = relu(V @ h)\ns = h + g\nL = sum(s * s)",
                                       values={"W": [[0.5, -1], [1, 0.25]], "x": [1, 2],
                                               "V": [[1, -0.5], [0.5, 1]]})
    ds_true = floats(ex.grad("s"))
    ds = ds_true + np.array([[0.3], [0]])
    # ∂L/∂h = ∂L/∂s + Vᵀ(∂L/∂g), ∂L/∂g = ∂L/∂s: both from the student's ∂L/∂s
    u = floats(ex.value("V")) @ floats(ex.value("h"))
    dg = ds * (u > 0)
    dh = ds + floats(ex.value("V")).T @ dg
    report = ex.check({"dL/ds": ds, "dL/dh": dh})
    assert report.status("dL/ds") == "incorrect" and report.status("dL/dh") == "carried", str(report)
    assert ex.check({"dL/dh": dh}).status("dL/dh") == "incorrect"  # nothing to carry it from
    # the path through g alone (the skip path forgotten) is not carried
    assert ex.check({"dL/ds": ds, "dL/dh": floats(ex.value("V")).T @ dg}).status("dL/dh") == "incorrect"


# -- grids in the report ---------------------------------------------------------------------------


def test_the_report_shows_matrices_as_grids_in_text_markdown_and_html():
    ex = softmax_batch()
    g = floats(ex.grad("W2"))
    g[1, 3] += 1
    report = ex.check({"dL/dW2": g, "L": float(ex.value("L"))})
    text = report.to_text()
    table_line = next(line for line in text.splitlines() if line.strip().startswith("dL/dW2"))
    assert "3×4 matrix, below" in table_line and len(table_line) < 100
    assert "dL/dW2, your answer:" in text and "dL/dW2, correct value:" in text
    lines = text.splitlines()
    start = lines.index("dL/dW2, your answer:")
    grid_rows = lines[start + 3:start + 6] + lines[start + 9:start + 12]  # header, rule, 3 rows: twice
    assert lines[start + 6] == "dL/dW2, correct value:"
    assert [row.split()[0] for row in grid_rows] == ["1", "2", "3"] * 2
    assert all(len(row.split()) >= 5 for row in grid_rows)  # a row label and 4 entries
    assert f"{1 + floats(ex.grad('W2'))[1, 3]:.4f}"[:5] in grid_rows[1] and "✗" in grid_rows[1]
    assert "✗" not in grid_rows[0]
    md = report.to_markdown()
    assert "| 2 |" in md.replace("|  2 |", "| 2 |") or "| 2 " in md
    assert md.count("✗") == 2  # the verdict, and the one entry that differs
    html = report.to_html()
    assert html.count("<table") == 3 and "✗" in html
    assert max(len(line) for line in text.splitlines()) < 120


# -- a 1-D answer has no orientation: read in the variable's shape ---------------------------------


def rows_net(activation="tanh"):
    """A batch: rows net (X @ W + b, as in PyTorch): its biases are rows."""
    return derive.Example.from_equations(f"""
h = X @ W1 + b1
a = {activation}(h)
s = a @ W2 + b2
p = softmax(s, axis=1)
L = cross_entropy(p, y)
""", values={"X": [[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]], "W1": [[0.2, -0.3], [0.4, 0.1], [-0.5, 0.25]],
             "b1": [0.1, -0.2], "W2": [[0.3, -0.6, 0.2], [0.7, 0.5, -0.4]], "b2": [0.05, 0.0, -0.05],
             "y": [2, 0]}, batch="rows")


def torch_rows_grads(ex, activation):
    X, W1, b1, W2, b2 = (torch.tensor(floats(ex.value(n)), dtype=torch.float32, requires_grad=n != "X")
                         for n in ("X", "W1", "b1", "W2", "b2"))
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    s = act(X @ W1 + b1.reshape(-1)) @ W2 + b2.reshape(-1)
    torch.nn.functional.cross_entropy(s, torch.tensor([2, 0])).backward()
    return b1.grad.reshape(-1), b2.grad.reshape(-1)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_a_one_dimensional_bias_gradient_is_read_as_the_row_it_is_under_batch_rows(activation):
    ex = rows_net(activation)
    g1, g2 = floats(ex.grad("b1")), floats(ex.grad("b2"))
    assert g2.shape == (1, 3) and g1.shape == (1, 2)  # rows under batch: rows
    tb1, tb2 = torch_rows_grads(ex, activation)
    assert tb2.shape == (3,) and np.allclose(tb2.numpy(), g2.ravel(), atol=1e-6)
    row_text = "[" + ", ".join(f"{v:.4f}".replace("-", "−") for v in g2.ravel()) + "]"  # derive's row
    forms = {"torch b.grad": tb2, "numpy": tb2.numpy(), "list": [round(v, 4) for v in g2.ravel()],
             "printed row": row_text, "float64 1-D": g2.ravel()}
    for form, answer in forms.items():
        report = ex.check({"dL/db2": answer, "dL/db1": tb1})
        assert report.status("dL/db2") == "correct", (form, report.hint("dL/db2"))
        assert report.status("dL/db1") == "correct" and report.diagnosis("dL/db2") == ""
    # an explicit column for a row is still a transpose, and a wrong 1-D list is wrong, not transposed
    column = [[round(v, 4)] for v in g2.ravel()]
    assert ex.check({"dL/db2": column}).diagnosis("dL/db2") == "transposed"
    wrong = [round(v, 4) for v in g2.ravel() + np.array([0.1, 0, 0])]
    verdict = ex.check({"dL/db2": wrong})
    assert verdict.status("dL/db2") == "incorrect" and verdict.diagnosis("dL/db2") != "transposed"
    assert "1 of 3 entries differs, at column 1" in verdict.hint("dL/db2")


def test_a_one_dimensional_answer_is_a_column_where_the_variable_is_a_column():
    ex = derive.Example.from_equations("z = W @ x + b\nL = sum(tanh(z))",
                                       values={"W": [[1, -2], [0.5, 3], [-1, 0]], "x": [0.3, -0.2],
                                               "b": [0.1, 0, -0.4]})
    g = floats(ex.grad("b"))
    assert g.shape == (3, 1)
    for answer in ([round(v, 5) for v in g.ravel()], g.ravel(), torch.tensor(g.ravel())):
        assert ex.check({"dL/db": answer}).status("dL/db") == "correct"
    assert ex.check({"dL/db": [list(np.round(g.ravel(), 5))]}).diagnosis("dL/db") == "transposed"


# -- float32 where two paths (or two terms) nearly cancel ------------------------------------------


CANCEL = """z1 = w1*x
h = {f}(z1)
z2 = w3*z1 + w2*h
L = squared_error(z2, y)"""


def torch_cancel(f, vals):
    t = {k: torch.tensor(float(v), requires_grad=True) for k, v in vals.items()}
    z1 = t["w1"] * t["x"]
    z1.retain_grad()
    h = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}[f](z1)
    z2 = t["w3"] * z1 + t["w2"] * h
    z2.retain_grad()
    ((z2 - t["y"]) ** 2).backward()
    return {"z2": z2, "dL/dz1": z1.grad, "dL/dw1": t["w1"].grad, "dL/dz2": z2.grad}


@pytest.mark.parametrize("f,vals", [
    ("tanh", {"x": 1.5, "w1": 0.4, "w2": -0.8, "w3": 0.5696, "y": 1}),  # w3 ≈ −w2·tanh'(z1)
    ("sigmoid", {"x": -1.2, "w1": 0.7, "w2": 1.3, "w3": -0.2738, "y": 0.25}),  # w3 ≈ −w2·σ'(z1)
    ("tanh", {"x": 0.9, "w1": -0.5, "w2": 1.1, "w3": -0.9042, "y": 2.0})])
def test_float32_where_two_paths_nearly_cancel_is_judged_at_the_paths_scale(f, vals):
    ex = derive.Example.from_equations(CANCEL.format(f=f), values=vals)
    t = torch_cancel(f, vals)
    rtol = PRECISIONS["float32"].rtol
    exact = {k: float(ex.check({k: 0}).expected(k, as_float=True)) for k in t}
    paths = abs(float(ex.grad("z2"))) * abs(vals["w3"])  # one path's contribution to dL/dz1
    assert abs(exact["dL/dz1"]) < paths / 50  # the paths nearly cancel
    report = ex.check(t)
    assert all(report.status(k) == "correct" for k in t), str(report)
    # well off at the paths' own scale is still wrong, and the report says it judged a float32
    off = np.float32(exact["dL/dz1"] + 40 * rtol * paths)
    wrong = ex.check({"dL/dz1": off})
    assert wrong.status("dL/dz1") == "incorrect"
    assert "read as float32 (numpy float32)" in wrong.verdicts["dL/dz1"].note
    assert "float32" in wrong.to_text()
    # a number typed by a person keeps the digits rule: 7 digits written are 7 digits claimed
    typed = f"{float(t['dL/dz1']):.7g}"
    half = 0.5 * 10 ** (np.floor(np.log10(abs(float(typed)))) - 6)
    assert abs(float(typed) - exact["dL/dz1"]) > half  # float32 noise shows in the 7th digit here
    assert ex.check({"dL/dz1": typed}).status("dL/dz1") == "incorrect"


def test_float32_rounding_scale_of_a_cancelling_sum_of_values():
    # z = a·x − b·x with a ≈ b: the terms, not their difference, set the float32 scale
    vals = {"a": 1.0001, "b": 1.0, "x": 3.3}
    ex = derive.Example.from_equations("z = a*x - b*x\nL = z**2", values=vals)
    a, b, x = (torch.tensor(vals[k]) for k in ("a", "b", "x"))
    z = a * x - b * x
    exact = float(ex.value("z"))
    assert abs(z.item() - exact) > PRECISIONS["float32"].rtol * abs(exact)  # beyond the value's own tolerance
    assert ex.check({"z": z}).status("z") == "correct"
    assert ex.check({"z": np.float32(exact + 0.001)}).status("z") == "incorrect"


# -- a float that is binary noise around a short decimal is read as that decimal --------------------


def test_float_noise_around_a_short_decimal_is_read_as_the_decimal():
    from derive.checking.answers import parse_answer, short_decimal
    ex = derive.Example.from_equations(CANCEL.format(f="tanh"),
                                       values={"x": 1.5, "w1": 0.4, "w2": -0.8, "w3": 0.5, "y": 1}, lr=0.1)
    exact = float(ex.grad("z1"))
    assert round(exact, 5) == 0.15648
    noisy = 1.286 - 1.13
    assert repr(noisy) == "0.15600000000000014" and short_decimal(noisy) == "0.156"
    for answer in (noisy, 0.156):  # the same number as a person wrote it
        assert ex.check({"dL/dz1": answer}).status("dL/dz1") == "correct"
    assert "read as 0.156" in ex.check({"dL/dz1": noisy}).verdicts["dL/dz1"].note
    # the digits rule then applies: 0.1567 (noise 0.15670000000000006) is wrong at 4 digits
    assert ex.check({"dL/dz1": 1.2864 - 1.1297}).status("dL/dz1") == "incorrect"
    assert ex.check({"dL/dz1": 0.1 + 0.05}).hint("dL/dz1").startswith("the correct value")  # 0.15, 2 digits
    # floats that are no short decimal stay machine values (1e-9 relative), negative ones too
    for value in (exact, -exact, 2 ** 0.5, float(ex.grad("w1"))):
        assert short_decimal(value) is None and parse_answer(None, value).machine
    assert short_decimal(-(1.286 - 1.13)) == "-0.156" and short_decimal(1.1 * 1.1) == "1.21"
    assert ex.check({"dL/dz1": exact, "dL/dw1": float(ex.grad("w1"))}).ok


def test_a_float32_that_prints_short_is_judged_as_float32_not_by_its_printed_digits():
    for activation, w in (("sigmoid", -0.8), ("tanh", -0.5)):
        ex = derive.neuron(x=1, w=w, b=0, y=1e-7, activation=activation, lr=1e-9)
        exact = float(ex.check({"w_new": 0}).expected("w_new", as_float=True))
        assert exact != w and str(np.float32(exact)) == str(w)  # prints with one digit
        assert ex.check({"w_new": np.float32(exact)}).status("w_new") == "correct"
    ex = derive.neuron(x=1, w=-0.43, b=0, y=1e-7, activation="sigmoid", lr=1e-7)
    assert ex.check({"w_new": np.float32(-0.4)}).status("w_new") == "incorrect"  # a 1-digit rounding
