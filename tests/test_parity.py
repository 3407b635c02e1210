"""One example, scalar or tensor (issue 22): every public method of an example and every command
of the CLI, walked over a scalar example and a tensor example — a two-layer softmax net written
as equations, on a batch of 3 — asserting the values (the tensor's against PyTorch float64,
computed here from torch itself, not from derive's export) or a refusal by name
(``NotApplicable``, a ``DeriveError``). A method or command added later without a case here fails
the walk."""
from __future__ import annotations

import inspect
import json
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import derive
from derive import NotApplicable
from derive.model.base import ExampleBase
from derive.model.tensors import TensorExample


@pytest.fixture(autouse=True)
def _torch_default_dtype():
    """The notebook cells exec'd here set torch's default dtype to float64: restored after each
    test, so later torch tests in the same process get torch's float32 default."""
    torch = sys.modules.get("torch")
    before = torch.get_default_dtype() if torch else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_default_dtype(before or torch.float32)
from derive.rendering.formats import FORMATS

NET = """z1 = W1 @ X + b1
h = relu(z1)
z2 = W2 @ h + b2
p = softmax(z2)
L = cross_entropy(p, y)
"""
# a batch of 3 examples (the columns of X), 3 classes, targets as class indices
NET_VALUES = {"W1": [[0.2, -0.5], [1.5, 1.3], [0.0, 0.25]], "X": [[1, 2, -1], [0.5, -1, 2]],
              "b1": [0.1, -0.2, 0.3], "W2": [[1, -1, 0.5], [0.3, 0.2, -0.4], [-0.6, 0.7, 0.1]],
              "b2": [0.0, 0.1, -0.1], "y": [0, 2, 1]}
PARAMS = ["W1", "b1", "W2", "b2"]
LR = sp.Rational(1, 10)


def tensor_example():
    return derive.Example.from_equations(NET, values=NET_VALUES, lr="0.1", title="A softmax net")


def scalar_example():
    return derive.Example.from_equations("z = w*x + b\na = sigmoid(z)\nL = (a - y)**2",
                                         values={"x": 2, "w": -1, "b": "0.5", "y": 1}, lr="0.1",
                                         title="A sigmoid neuron")


def torch_net(values=NET_VALUES):
    """The same net built directly in PyTorch (float64): a loss tensor and the leaf tensors."""
    import torch
    t = {n: torch.tensor(np.array(v, dtype=float).reshape(len(v), -1) if n != "y" else v,
                         dtype=torch.float64 if n != "y" else torch.long, requires_grad=n != "y")
         for n, v in values.items()}
    h = torch.relu(t["W1"] @ t["X"] + t["b1"])
    z2 = t["W2"] @ h + t["b2"]
    # derive's batch is the columns: PyTorch's cross_entropy wants (batch, classes)
    loss = torch.nn.functional.cross_entropy(z2.T, t["y"])
    return loss, t


def floats(x) -> np.ndarray:
    return np.array(x.tolist() if hasattr(x, "tolist") else x, dtype=float)


@pytest.fixture(scope="module")
def reference():
    loss, leaves = torch_net()
    loss.backward()
    return {"L": loss.item(), **{f"d{p}": leaves[p].grad.numpy().copy() for p in PARAMS},
            **{p: leaves[p].detach().numpy().copy() for p in PARAMS}}


def close(a, b, tol=1e-10):
    a, b = floats(a), floats(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.allclose(a, b, rtol=tol, atol=tol), (a, b)


def refused(call, *words):
    with pytest.raises(NotApplicable) as info:
        call()
    for w in words:
        assert w in str(info.value)
    return True


# --- the walk over every public method -------------------------------------------------------

def public_methods() -> set[str]:
    names = set()
    for cls in (ExampleBase, derive.Example, TensorExample):
        for name, value in inspect.getmembers(cls):
            method = callable(value) or isinstance(inspect.getattr_static(cls, name), property)
            if method and (not name.startswith("_") or name in ("_repr_html_", "_repr_markdown_")):
                names.add(name)
    return names


def _train_against_torch(ex, reference_fn):
    """3 Adam steps equal to torch.optim.Adam (1e-10), on the scalar or the tensor example."""
    import torch
    tr = ex.train(3, optimizer="adam", lr="0.01")
    leaves, loss_of = reference_fn()
    opt = torch.optim.Adam([leaves[p] for p in ex.params], lr=0.01)
    for step in range(3):
        opt.zero_grad()
        loss = loss_of(leaves)
        close(tr.loss[step], loss.item())
        loss.backward()
        opt.step()
    for p in ex.params:
        close(tr.value(p, 3), leaves[p].detach().numpy())


def scalar_torch():
    import torch
    leaves = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for n, v in {"w": -1.0, "b": 0.5}.items()}
    return leaves, lambda t: (torch.sigmoid(t["w"] * 2 + t["b"]) - 1) ** 2


def tensor_torch():
    _, leaves = torch_net()

    def loss_of(t):
        import torch
        z2 = t["W2"] @ torch.relu(t["W1"] @ t["X"] + t["b1"]) + t["b2"]
        return torch.nn.functional.cross_entropy(z2.T, t["y"])
    return leaves, loss_of


def scalar_cases(ex):
    """name -> a check of that method on the scalar example (values from sympy and by hand)."""
    w, b = sp.Integer(-1), sp.Rational(1, 2)
    z = 2 * w + b
    a = 1 / (1 + sp.exp(-z))
    dLdw = 2 * (a - 1) * a * (1 - a) * 2

    def num(x):
        return float(sp.N(x, 30))
    return {
        "inputs": lambda: ex.inputs == ["w", "x", "b", "y"],
        "nodes": lambda: ex.nodes == ["z", "a", "L"],
        "output": lambda: ex.output == "L",
        "symbolic": lambda: ex.symbolic is False,
        "focus": lambda: ex.focus == "w",
        "inputs_with_role": lambda: ex.inputs_with_role("data") == ["x", "y"],
        "value": lambda: ex.value("z") == z,
        "grad": lambda: abs(num(ex.grad("w")) - num(dLdw)) < 1e-12,
        "update": lambda: abs(num(ex.update("w")) - num(w - LR * dLdw)) < 1e-12,
        "gradients": lambda: list(ex.gradients()) == ["w", "b"],
        "derivation": lambda: abs(num(ex.derivation("w").total) - num(dLdw)) < 1e-12,
        "rounded": lambda: ex.rounded(3)["z"] == z,
        "keys": lambda: "dL/dw" in ex.keys() and "w_new" in ex.keys(),
        "check": lambda: ex.check({"z": -1.5, "dL/dw": 99}).status("dL/dw") == "incorrect",
        "table": lambda: abs(ex.table().row("w").gradient - num(dLdw)) < 1e-12,
        "train": lambda: _train_against_torch(ex, scalar_torch) or True,
        "shape": lambda: ex.shape("w") == (),
        "is_index": lambda: ex.is_index("y") is False,
        "tensor": lambda: refused(lambda: ex.tensor("w"), "scalar"),
        "grad_tensor": lambda: refused(lambda: ex.grad_tensor("w"), "scalar"),
        "matrix_derivation": lambda: refused(ex.matrix_derivation, "derivation()"),
        "content": lambda: ex.content().sections != [],
        "document_notation": lambda: ex.document_notation({"total": "d"})["total"] == "d",
        "writes": lambda: ex.writes("ipynb") and ex.writes("pytorch") and ex.writes("md"),
        "from_equations": lambda: type(derive.Example.from_equations("L = w*x")) is derive.Example,
        "from_expr": lambda: derive.Example.from_expr("relu(w*x)").nodes[-1] == "f",
    }


def tensor_cases(ex, ref):
    W1, lr = np.array(NET_VALUES["W1"]), 0.1
    return {
        "inputs": lambda: ex.inputs == ["W1", "X", "b1", "W2", "b2", "y"],
        "nodes": lambda: ex.nodes == ["z1", "h", "z2", "p", "L"],
        "output": lambda: ex.output == "L",
        "symbolic": lambda: ex.symbolic is False,
        "focus": lambda: ex.focus == "W1",
        "inputs_with_role": lambda: ex.inputs_with_role("data") == ["X", "y"],
        "value": lambda: close(ex.value("L"), ref["L"]) or True,
        "grad": lambda: all(close(ex.grad(p), ref[f"d{p}"]) or True for p in PARAMS),
        "update": lambda: close(ex.update("W1"), W1 - lr * ref["dW1"]) or True,
        "gradients": lambda: list(ex.gradients()) == PARAMS and all(
            close(g, ref[f"d{p}"]) or True for p, g in ex.gradients().items()),
        "derivation": lambda: refused(ex.derivation, "matrix_derivation()"),
        "rounded": lambda: refused(lambda: ex.rounded(3), "table()"),
        "keys": lambda: {"dL/dW1", "W1_new", "z1"} <= set(ex.keys()),
        "check": lambda: ex.check({"dL/dW1": floats(ex.grad("W1")).tolist()}).ok
        and not ex.check({"dL/dW1": (2 * floats(ex.grad("W1"))).tolist()}).ok,
        "table": lambda: _tensor_table(ex, ref),
        "train": lambda: _train_against_torch(ex, tensor_torch) or True,
        "shape": lambda: (ex.shape("W1"), ex.shape("X"), ex.shape("L")) == ((3, 2), (2, 3), ()),
        "is_index": lambda: ex.is_index("y") is True,
        "tensor": lambda: ex.tensor("z1").shape == (3, 3),
        "grad_tensor": lambda: close(floats(ex.grad_tensor("b2").a), ref["db2"]) or True,
        "matrix_derivation": lambda: close(floats(ex.matrix_derivation().gradients["W2"].a),
                                           ref["dW2"]) or True,
        "content": lambda: ex.content().sections != [],
        "document_notation": lambda: ex.document_notation({"total": "d"})["total"] == "d",
        "writes": lambda: ex.writes("ipynb") and ex.writes("pytorch") and not TensorExample.from_equations(
            "o = maxpool2d(x, 2)\nL = sum(o)", values={"x": [[[1, 2], [3, 4]]]}).writes("pytorch"),
        "from_equations": lambda: type(TensorExample.from_equations(NET, values=NET_VALUES)) is TensorExample,
        "from_expr": lambda: type(derive.Example.from_expr("relu(w*x)")) is derive.Example,
    }


def _tensor_table(ex, ref):
    table = ex.table()
    assert [r.name for r in table[:6]] == ["W1[1,1]", "W1[1,2]", "W1[2,1]", "W1[2,2]", "W1[3,1]", "W1[3,2]"]
    assert table.row("b1[2]").kind == "parameter" and table.row("X[2,3]").value == 2.0
    grads = np.array([[table.row(f"W2[{i},{j}]").gradient for j in (1, 2, 3)] for i in (1, 2, 3)])
    close(grads, ref["dW2"])
    assert table.row("L").gradient == 1.0 and abs(table.row("L").value - ref["L"]) < 1e-12
    assert all(isinstance(r.value, float) and isinstance(r.gradient, float) for r in table)
    return True


DOCUMENT_METHODS = {f"to_{f.name}" for f in FORMATS.values() if f.listed} | {
    "render", "_repr_html_", "_repr_markdown_", "to_slides", "document_content"}


def test_every_public_method_has_a_case():
    ex = scalar_example()
    covered = set(scalar_cases(ex)) | DOCUMENT_METHODS
    assert public_methods() == covered, (public_methods() ^ covered)


@pytest.mark.parametrize("kind", ["scalar", "tensor"])
def test_every_public_method_on_both_kinds(kind, reference):
    ex = scalar_example() if kind == "scalar" else tensor_example()
    cases = scalar_cases(ex) if kind == "scalar" else tensor_cases(ex, reference)
    assert set(cases) == set(scalar_cases(scalar_example()))  # the same walk for both kinds
    for name, case in cases.items():
        assert case(), f"{kind}: {name}"


@pytest.mark.parametrize("kind", ["scalar", "tensor"])
def test_every_registered_format_renders(kind, pdflatex):
    ex = scalar_example() if kind == "scalar" else tensor_example()
    title = "A sigmoid neuron" if kind == "scalar" else "A softmax net"
    for fmt in FORMATS.values():
        if not fmt.listed:
            continue
        out = getattr(ex, f"to_{fmt.name}")()
        assert out == ex.render(fmt.name), fmt.name  # one protocol: the method is the render
        if fmt.binary:
            assert out.startswith(b"%PDF"), fmt.name
        elif fmt.name == "pytorch":
            assert "import torch" in out
        elif fmt.name == "ipynb":
            assert json.loads(out)["cells"]
        else:
            assert title in out, fmt.name
    assert "<section>" in ex._repr_html_() and "<!DOCTYPE" not in ex._repr_html_()
    assert ex._repr_markdown_().startswith("# ")
    assert ex.to_latex(fragment=True).count("documentclass") == 0
    with pytest.raises(derive.DeriveError, match="precision"):
        ex.to_text(precision=0)


def test_the_protocol_is_written_once():
    """to_* and _repr_* come from the format registry: no example class writes its own, and
    ``render`` no longer looks the kind up in sys.modules."""
    import derive.model.example as example_module
    for cls in (derive.Example, TensorExample, ExampleBase):
        own = [n for n in vars(cls) if n.startswith("to_") or n.startswith("_repr_") or n == "render"]
        assert own == [], (cls.__name__, own)
    assert "sys.modules" not in inspect.getsource(example_module)


def test_a_format_registered_later_is_a_method_too():
    from dataclasses import replace
    from derive.rendering.formats import get_format, register, unregister
    register(replace(get_format("text"), name="plain", aliases=(), templates="text"))
    try:
        ex = tensor_example()
        assert ex.to_plain() == ex.to_text()
    finally:
        unregister("plain")
    with pytest.raises(AttributeError):
        ex.to_plain


# --- exports that run ------------------------------------------------------------------------

def test_tensor_pytorch_export_runs_and_agrees(tmp_path, reference):
    ex = tensor_example()
    script = tmp_path / "net.py"
    script.write_text(ex.to_pytorch())
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    for name in ex.inputs + ex.nodes:
        if name != "y":  # class indices are data, not a tensor of floats
            close(out["values"][name], ex.value(name))
    for p in PARAMS + ["X"]:
        close(out["gradients"][p], ex.grad(p))
        close(out["gradients"][p], reference[f"d{p}"] if p != "X" else out["gradients"]["X"])
    close(out["values"]["L"], reference["L"])


def test_tensor_export_can_fail(tmp_path):
    """The export spells the equations: a changed equation gives other numbers."""
    ex = tensor_example()
    script = tmp_path / "net.py"
    script.write_text(ex.to_pytorch().replace("torch.relu(v_z1)", "torch.tanh(v_z1)"))
    out = json.loads(subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                                    timeout=120).stdout)
    assert not np.allclose(floats(out["gradients"]["W1"]), floats(ex.grad("W1")))


@pytest.mark.parametrize("kind", ["scalar", "tensor"])
def test_notebook_runs_in_nbclient(kind, tmp_path, monkeypatch):
    import os
    from pathlib import Path
    import nbformat
    from nbclient import NotebookClient
    # the kernel imports this checkout's derive (not another installed copy)
    root = str(Path(derive.__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    ex = scalar_example() if kind == "scalar" else tensor_example()
    nb = nbformat.reads(ex.to_ipynb(), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    agreed = [o.text for o in outputs if o.output_type == "stream" and "PyTorch gives the same" in o.text]
    expected = len(ex.inputs + ex.nodes) - (1 if kind == "tensor" else 0)  # not the class indices
    assert agreed == [f"PyTorch gives the same {expected} values and "
                      f"{len(ex.inputs) - (1 if kind == 'tensor' else 0)} gradients\n"]


def test_tensor_notebook_crosscheck_can_fail():
    from derive.rendering.notebook import crosscheck_code
    ex = tensor_example()
    code = crosscheck_code(ex).replace("v_z2 = ", "v_z2 = 1e-3 + ", 1)
    with pytest.raises(AssertionError):
        exec(compile(code, "cell", "exec"), {"ex": ex})


@pytest.mark.parametrize("equations, values", [
    ("g = sigmoid(Wg @ x + Ug @ h + bg)\nc = tanh(Wc @ x)\nhn = g * c + h\nL = mean((hn - y)**2)",
     {"Wg": [[0.5, -1], [0, 0.25]], "Ug": [[1, 0], [-0.5, 0.5]], "bg": [0, -0.25],
      "Wc": [[1, 0.5], [-1, 0]], "x": [1, -1], "h": [0, 0.5], "y": [0.5, 0]}),
    ("a = relu(W @ x + b)\nL = sum((a - y)**2)", {"W": [[1, -1], [0, 2], [-1, 0]], "x": [0, -1],
                                                  "b": [-1, 2, 0], "y": [1, 0, -2]}),
])
def test_notebook_rebuild_reproduces_the_examples_nodes(equations, values):
    """The rebuild cell writes the user's lines only (staging runs again): the same nodes, in the
    same order, with the same values and gradients — no dead u-lines, no duplicates."""
    from derive.rendering.notebook import equation_lines, rebuild_code
    ex = derive.TensorExample.from_equations(equations, values=values)
    assert any(n.startswith("u") for n in ex.nodes)  # the staging did name compound arguments
    assert equation_lines(ex) == [line.strip() for line in equations.splitlines()]
    scope = {}
    exec(compile(rebuild_code(ex), "cell", "exec"), scope)
    rebuilt = scope["ex"]
    assert rebuilt.nodes == ex.nodes and rebuilt.inputs == ex.inputs
    def same(a, b):  # exact expressions, maybe in other forms: equal to 40 digits
        a, b = (x if isinstance(x, sp.MatrixBase) else sp.Matrix([[x]]) for x in (a, b))
        return a.shape == b.shape and all(abs(sp.N(d, 40)) < 1e-35 for d in a - b)
    for name in ex.inputs + ex.nodes:
        assert same(rebuilt.value(name), ex.value(name)), name
    for name in ex.inputs:
        assert same(rebuilt.grad(name), ex.grad(name)), name


# --- homework with random matrices -----------------------------------------------------------

HOMEWORK = """title: Softmax layer homework
equations: |
  z = W @ x + b
  p = softmax(z)
  L = cross_entropy(p, y)
values: {x: [1, -2], y: [0, 1, 0]}
random:
  W: {integers: [-2, 2], shape: [3, 2], exclude: [0]}
  b: {uniform: [-1, 1], decimals: 1, shape: [3]}
lr: 0.5
ask: ["dL/dW", "dL/db", "b_new"]
"""


def _softmax_answers(values):
    """dL/dW = (p − y) xᵀ and dL/db = p − y, computed here with numpy from the drawn values."""
    W, b = np.array(values["W"], dtype=float), np.array(values["b"], dtype=float)
    x, y = np.array([1.0, -2.0]), np.array([0.0, 1.0, 0.0])
    z = W @ x + b
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    return np.outer(p - y, x), p - y, b - 0.5 * (p - y)


def test_homework_with_random_matrices_exports_to_moodle(tmp_path):
    import sys as _sys
    _sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from lms_validate import validate_gift, validate_moodle, validate_qti
    from derive.courseware.homework import generate
    from derive.model.spec import load_spec
    spec = tmp_path / "hw.yaml"
    spec.write_text(HOMEWORK)
    out = tmp_path / "hw"
    generate(load_spec(spec), 4, 7, out, ["md", "moodle", "qti", "gift", "ipynb"], jobs=1)
    rows = json.loads((out / "answers.json").read_text())
    assert len(rows) == 4 and len({json.dumps(r["values"]) for r in rows}) == 4
    for row in rows:
        W, b = row["values"]["W"], row["values"]["b"]
        assert np.array(W).shape == (3, 2) and all(v in (-2, -1, 1, 2) for r in W for v in r)
        assert len(b) == 3 and all(-1 <= v <= 1 and round(v, 1) == v for v in b)
        dW, db, b_new = _softmax_answers(row["values"])
        close(row["answers"]["dL/dW"], dW, 1e-12)
        close(row["answers"]["dL/db"], db, 1e-12)
        close(row["answers"]["b_new"], b_new, 1e-12)
        assert np.array(row["tolerance"]["dL/dW"]).shape == (3, 2)
    import csv
    header = next(csv.reader((out / "answers.csv").read_text().splitlines()))
    assert {"dL/dW[3,2]", "dL/db[1]", "W[1,1]", "x[2]"} <= set(header)
    questions = validate_moodle((out / "moodle.xml").read_text())
    assert len(questions) == 4
    for (ident, parts, _), row in zip(questions, rows):
        assert ident == row["id"] and len(parts) == 6 + 3 + 3  # one cloze part per entry
        dW, db, b_new = _softmax_answers(row["values"])
        close([p.value for p in parts], np.concatenate([dW.ravel(), db, b_new]), 1e-12)
    items = validate_qti((out / "qti.zip").read_bytes())
    assert len(items) == 4 * 3 and [i.title.split(" — ")[-1] for i in items[:3]] == ["dL/dW", "dL/db", "b_new"]
    assert [i.text.count("Each line computes a whole") for i in items[:3]] == [1, 1, 1]  # the problem once per item
    import zipfile
    with zipfile.ZipFile(out / "qti.zip") as z:
        xml = z.read(next(n for n in z.namelist() if n != "imsmanifest.xml")).decode()
    assert xml.count("<response_str ") == 4 * (6 + 3 + 3)  # one fill-in per entry
    dW, _, _ = _softmax_answers(rows[0]["values"])
    assert items[0].value == pytest.approx(dW[0, 0], rel=1e-12)
    assert len(validate_gift((out / "questions.gift").read_text())) == 4 * 12
    problems = (out / "problems.md").read_text()
    assert "W = \\begin{bmatrix}" in problems and "0.4223" not in problems
    assert "\\frac{\\partial L}{\\partial W}" in problems
    # the same seed gives the same bytes; another seed other matrices
    again = tmp_path / "again"
    generate(load_spec(spec), 4, 7, again, ["md", "moodle"], jobs=1)
    assert (again / "moodle.xml").read_bytes() == (out / "moodle.xml").read_bytes()
    other = tmp_path / "other"
    generate(load_spec(spec), 4, 8, other, ["md"], jobs=1)
    assert json.loads((other / "answers.json").read_text())[0]["values"] != rows[0]["values"]


def test_homework_constraints_on_matrices(tmp_path):
    from derive.courseware.homework import Generator
    from derive.model.spec import load_spec
    spec = tmp_path / "hw.yaml"
    spec.write_text(HOMEWORK + 'constraints: ["z > 0"]\n')
    with pytest.raises(derive.SpecError, match=r"compares z, a column vector of 3; a constraint compares numbers"):
        Generator(load_spec(spec), 0)
    spec.write_text(HOMEWORK + 'constraints: ["L < 1"]\n')
    variants = Generator(load_spec(spec), 0).variants(5)
    assert all(float(v.example.value("L")) < 1 for v in variants)
    spec.write_text(HOMEWORK.replace("shape: [3, 2]", "shape: [3, 2, 1]"))
    with pytest.raises(derive.SpecError, match="shape must be"):
        Generator(load_spec(spec), 0)


def test_homework_matrix_answers_checked_by_variant_id(tmp_path, capsys):
    from derive.courseware.homework import generate
    from derive.model.spec import load_spec
    spec = tmp_path / "hw.yaml"
    spec.write_text(HOMEWORK)
    generate(load_spec(spec), 2, 3, tmp_path / "hw", ["md"], jobs=1)
    rows = json.loads((tmp_path / "hw" / "answers.json").read_text())
    import yaml
    answers = {rows[0]["id"]: {"dL/dW": rows[0]["answers"]["dL/dW"]},
               rows[1]["id"]: {"dL/dW": np.array(rows[1]["answers"]["dL/dW"]).T.tolist()}}
    (tmp_path / "answers.yaml").write_text(yaml.safe_dump(answers))
    assert cli(["check", str(spec), str(tmp_path / "answers.yaml")]) == 1
    out = capsys.readouterr().out
    assert out.count("correct") >= 2 and "transpose" in out.lower()


# --- the tutor on a tensor spec --------------------------------------------------------------

def test_tutor_asks_the_matrix_steps():
    from derive.checking.tutor import MatrixTutor, Tutor
    ex = tensor_example()
    tutor = Tutor(ex)
    assert isinstance(tutor, MatrixTutor)
    keys = [s.key for s in tutor.steps]
    assert keys[:5] == ["z1", "h", "z2", "p", "L"] and keys[5:9] == ["dL/dp", "dL/dz2", "dL/dh", "dL/dz1"]
    assert keys[9:] == ["dL/dW1", "dL/db1", "dL/dW2", "dL/db2", "W1_new", "b1_new", "W2_new", "b2_new"]
    z1 = floats(ex.value("z1"))
    assert tutor.respond(str(z1.tolist())).lines == ("  ✓ correct",)
    wrong = tutor.respond("[1, 2; 3, 4]")  # h, a 3×3 matrix
    assert "but that is a 2×2 matrix" in " ".join(wrong.lines) and "does not count as a try" in " ".join(wrong.lines)
    assert not any("Hint" in l for l in wrong.lines)  # a wrong shape is asked again, no hint spent
    tutor.respond("[[1, 1, 1], [1, 1, 1], [1, 1, 1]]")  # the first wrong try (the shape did not count)
    hint = tutor.respond("[[0, 0, 0], [0, 0, 0], [0, 0, 0]]").lines
    assert any("Hint: the forward pass: h = ReLU" in l for l in hint)
    assert tutor.respond("?").lines[0].startswith("  The value: h = [0.05, 1, 0;")
    assert tutor.respond("[1 2").lines[0].startswith("  cannot read")  # asked again, no try used
    assert tutor.current.key == "z2" and tutor.current.tries == 0
    assert tutor.respond("q").done and tutor.exit_code == 1
    summary = tutor.summary_text()
    assert "1 of 17 steps earn credit" in " ".join(summary.split())


def test_tutor_diagnoses_a_transposed_gradient():
    from derive.checking.tutor import Tutor
    ex = tensor_example()
    tutor = Tutor(ex, steps=["dL/dW1", "dL/dW2"])
    first = tutor.respond(str(floats(ex.grad("W1")).T.tolist())).lines
    assert "transpose" in " ".join(first).lower()
    assert tutor.respond(str(floats(ex.grad("W1")).tolist())).lines == ("  ✓ correct",)
    hint = tutor.respond("[[0, 0, 0], [0, 0, 0], [0, 0, 0]]").lines
    assert "9 of 9 entries differ" in " ".join(hint)


def test_tutor_through_a_pipe(tmp_path):
    ex = tensor_example()
    spec = tmp_path / "net.yaml"
    import yaml
    spec.write_text(yaml.safe_dump({"title": "A softmax net", "equations": NET, "values": NET_VALUES,
                                    "lr": 0.1, "ask": ["z1", "dL/dz2", "dL/dW1", "W1_new"]}))
    answers = [floats(ex.value("z1")), floats(ex.grad("z2")), floats(ex.grad("W1")), floats(ex.update("W1"))]
    lines = "\n".join("[" + "; ".join(", ".join(repr(float(v)) for v in row) for row in a) + "]" for a in answers)
    run = subprocess.run([sys.executable, "-m", "derive.cli", "check", str(spec), "--interactive"],
                         input=lines + "\n", capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("\n  ✓ correct\n") == 4 and "4 of 4 steps earn credit" in run.stdout


# --- every CLI command over a scalar and a tensor example -------------------------------------

def cli(argv) -> int:
    from derive.cli import main
    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        return e.code or 0
    return 0


SCALAR_SPEC = """title: A sigmoid neuron
equations: |
  z = w*x + b
  a = sigmoid(z)
  L = (a - y)**2
values: {x: 2, w: -1, b: 0.5, y: 1}
lr: 0.1
"""
NET_MLP = """title: A softmax network
inputs: [[1, 2], [0.5, -1], [-1, 2]]
weights: [[[0.2, -0.5], [1.5, 1.3]], [[1, -1], [0.3, 0.2]]]
biases: [[0.1, -0.2], [0, 0.1]]
targets: [0, 1, 1]
activation: [relu, softmax]
loss: cross_entropy
lr: 0.1
"""
SCALAR_MLP = """inputs: [0.05, 0.10]
weights: [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]
biases: [[0.35, 0.35], [0.60, 0.60]]
targets: [0.01, 0.99]
activation: sigmoid
lr: 0.5
"""


@pytest.fixture
def specs(tmp_path):
    import yaml
    files = {"scalar": tmp_path / "scalar.yaml", "tensor": tmp_path / "tensor.yaml",
             "scalar-mlp": tmp_path / "smlp.yaml", "tensor-mlp": tmp_path / "tmlp.yaml",
             "scalar-hw": tmp_path / "shw.yaml", "tensor-hw": tmp_path / "thw.yaml"}
    files["scalar"].write_text(SCALAR_SPEC)
    files["tensor"].write_text(yaml.safe_dump({"title": "A softmax net", "equations": NET,
                                               "values": NET_VALUES, "lr": 0.1}))
    files["scalar-mlp"].write_text(SCALAR_MLP)
    files["tensor-mlp"].write_text(NET_MLP)
    files["scalar-hw"].write_text(SCALAR_SPEC.replace("values: {x: 2, w: -1, b: 0.5, y: 1}",
                                                      "values: {x: 2, b: 0.5, y: 1}\nrandom: {w: {integers: [-3, 3]}}"))
    files["tensor-hw"].write_text(HOMEWORK)
    return files


# command -> how it is walked: (arguments with {spec}/{out} placeholders, which specs, exit status)
COMMANDS = {
    "render": [(["{spec}", "--format", fmt, "-o", "{out}." + fmt], ("scalar", "tensor"), 0)
               for fmt in ("md", "tex", "text", "html", "ipynb", "pytorch")],
    "mlp": [(["{spec}", "--format", fmt, "-o", "{out}." + fmt], ("scalar-mlp", "tensor-mlp"), 0)
            for fmt in ("md", "pytorch", "ipynb")],
    "check": [(["{spec}", "--keys"], ("scalar", "tensor"), 0)],
    "homework": [(["{spec}", "--variants", "2", "--out", "{out}", "--format", "md,moodle,gift,qti", "--jobs", "1"],
                  ("scalar-hw", "tensor-hw"), 0)],
    "train": [(["{spec}", "--steps", "2", "--optimizer", "adam", "-o", "{out}.md", "--format", "md"],
               ("scalar", "tensor"), 0)],
    # commands that build their own scalar examples from numbers (no spec to give a tensor)
    "neuron": [(["--x", "2", "--w", "3", "--b", "1", "--y", "5", "--format", "md"], (), 0)],
    "chain": [(["--depth", "2", "--format", "text"], (), 0)],
    "compare": [(["--x", "2", "--w", "3", "--b", "1", "--y", "5"], (), 0)],
    "variance": [(["--depth", "3", "--width", "8", "--batch", "16", "--format", "text"], (), 0)],
    "handout": [(["--format", "md", "-o", "{out}.md"], (), 0)],
    "demo": None,  # writes the whole conversation (minutes): test_examples keeps output/ current
    "serve": None,  # a server: tests/test_serve.py (in-process) and tests/test_browser.py (Chromium)
}


def test_every_command_is_walked():
    from derive.cli import cli as group
    assert set(group.commands) == set(COMMANDS)


@pytest.mark.parametrize("command", [c for c, runs in COMMANDS.items() if runs])
def test_every_command_on_both_kinds(command, specs, tmp_path, capsys):
    for i, (args, kinds, status) in enumerate(COMMANDS[command]):
        for kind in kinds or ("own",):
            out = tmp_path / f"{command}-{kind}-{i}"
            argv = [command] + [a.replace("{spec}", str(specs.get(kind, ""))).replace("{out}", str(out))
                                for a in args]
            code = cli(argv)
            err = capsys.readouterr().err
            assert code == status, (argv, err)
            if "-o" in args:
                assert (out.parent / (out.name + "." + args[args.index("-o") + 1].split(".")[-1])).stat().st_size > 0


def test_tensor_render_pytorch_and_ipynb_through_the_cli(specs, tmp_path, reference):
    assert cli(["render", specs["tensor"], "--format", "pytorch", "-o", tmp_path / "net.py"]) == 0
    run = subprocess.run([sys.executable, str(tmp_path / "net.py")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    close(json.loads(run.stdout)["gradients"]["W1"], reference["dW1"])
    assert cli(["render", specs["tensor"], "--format", "ipynb", "-o", tmp_path / "net.ipynb"]) == 0
    cells = json.loads((tmp_path / "net.ipynb").read_text())["cells"]
    assert sum(c["cell_type"] == "code" for c in cells) == 2


def test_compare_refuses_matrices_by_name():
    with pytest.raises(NotApplicable, match="x is a matrix"):
        derive.compare_activations(["relu", "sigmoid"], x=[[1, 2], [3, 4]], w=[[1, 0], [0, 1]], b=0, y=1)
