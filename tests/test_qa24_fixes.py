"""Issue #24's QA findings A1–A3 and B1–B3, each at its cause, on examples beyond the QA's own:
exact zero gradients of broadcast inputs under softmax, the batch-convention warnings, mlp's
class-index targets, the PyTorch export of an embedding, refusals naming the format asked for,
and ``to_pdf(path)``."""
from __future__ import annotations

import contextlib
import io
import json
import re
import runpy
import warnings

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import derive
from derive.core.errors import DeriveError, DeriveWarning, InvalidValue, NotApplicable

# Two features, four examples (the columns); the same data as rows for batch: rows.
XC = [[1, 2, 0.5, -1], [0, -1, 2, 0.25]]
XR = np.array(XC).T.tolist()
W3 = [[1, -1], [0.5, 2], [-1, 0.25]]  # 3 classes × 2 features
Y4 = [1, 0, 2, 2]
NOISE_TEXT = re.compile(r"e[−-][1-9]\d")  # a number printed with an exponent of −10 or below
NOISE_LATEX = re.compile(r"10\^\{[−-][1-9]\d\}")


def build(text, values, batch="columns"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeriveWarning)  # some of these are deliberately odd nets
        return derive.Example.from_equations(text, values=values, batch=batch)


def is_zero(g) -> bool:
    return g.is_zero_matrix if isinstance(g, sp.MatrixBase) else g == 0


# --- A1: an exact zero is 0 --------------------------------------------------------------------

ZERO_CASES = {
    # name: (equations, values, batch, the inputs whose gradient is exactly 0)
    "QA, one example, scalar c": (
        "z = W @ x + b + c\np = softmax(z)\nL = cross_entropy(p, y)",
        dict(W=W3, x=[1, 2], b=[0.1, 0, -0.3], c=0.7, y=1), "columns", ["c"]),
    "scalar c over a batch": (
        "z = W @ X + b + c\np = softmax(z)\nL = cross_entropy(p, y)",
        dict(W=W3, X=XC, b=[0.1, 0, -0.3], c=-0.7, y=Y4), "columns", ["c"]),
    "a row bias under columns, tanh, 4 classes": (
        "h = tanh(W @ X)\nz = V @ h + r\np = softmax(z)\nL = cross_entropy(p, Y)",
        dict(W=W3, X=XC, V=[[1, 0, -1], [0.5, 0.5, 0], [0, -2, 1], [1, 1, 1]], r=[[0.1, 0, -0.3, 0.2]],
             Y=[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]), "columns", ["r"]),
    "a column bias and a scalar under rows": (
        "z = X @ W + r + c\np = softmax(z)\nL = cross_entropy(p, y)",
        dict(X=XR, W=np.array(W3).T.tolist(), r=[[0.1], [0], [-0.3], [0.2]], c=2, y=Y4), "rows", ["r", "c"]),
    "log_softmax and a written cross-entropy": (
        "z = W @ X + c\nq = log_softmax(z)\nL = -sum(Y * q)",
        dict(W=W3, X=XC, c=0.3, Y=[[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]]), "columns", ["c"]),
}


@pytest.mark.parametrize("case", ZERO_CASES, ids=list(ZERO_CASES))
def test_a_gradient_that_is_exactly_zero_is_zero_in_grad_and_documents(case):
    text, values, batch, zeros = ZERO_CASES[case]
    ex = build(text, values, batch)
    for name in zeros:
        g = ex.grad(name)
        assert is_zero(g), (name, g)
        assert all(e == 0 for e in ex.grad_tensor(name).a.ravel())
    words = ex.to_text()
    assert not NOISE_TEXT.search(words), NOISE_TEXT.search(words)
    assert not NOISE_LATEX.search(ex.to_latex())
    for name in zeros:
        if ex.shape(name) == ():
            assert f"{name}: value" in words and re.search(rf"{name}: value [^,]+, gradient 0\b", words)


def test_the_other_gradients_still_match_torch():
    """The proof of zero is only for sums that are zero: W's and b's gradients (nonzero sums of
    the same kind) are torch's."""
    text, values, _, _ = ZERO_CASES["scalar c over a batch"]
    ex = build(text, values)
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in values.items() if k != "y"}
    z = t["W"] @ t["X"] + t["b"].reshape(-1, 1) + t["c"]
    loss = F.cross_entropy(z.T, torch.tensor(Y4))
    loss.backward()
    assert abs(float(ex.value("L")) - loss.item()) < 1e-12
    assert np.allclose(np.array(ex.grad("W"), dtype=float), t["W"].grad.numpy(), atol=1e-12)
    assert np.allclose(np.array(ex.grad("b"), dtype=float).ravel(), t["b"].grad.numpy(), atol=1e-12)
    assert not any(e == 0 for e in np.array(ex.grad("b")).ravel())


def test_the_zero_proof_is_exact_and_refuses_what_is_not_zero():
    from derive.core.tensor import Tensor, _exactly_zero, softmax_values
    p = softmax_values(Tensor(np.array([[sp.Rational(1, 3)], [sp.Integer(-2)], [sp.Rational(5, 2)]], dtype=object)))
    p1, p2, p3 = p.a.ravel()
    assert _exactly_zero([p1, p2, p3, sp.Integer(-1)])
    assert _exactly_zero([2 * p1, 2 * p2, 2 * p3, sp.Integer(-2)])
    assert not _exactly_zero([p1, p2, sp.Integer(-1)])  # a term of the total missing
    assert not _exactly_zero([p1, p2, p3, sp.Rational(-1) + sp.Rational(1, 10**80)])
    assert not _exactly_zero([p1, 2 * p2, p3, sp.Integer(-1)])  # not proportional to the total


# --- A2: convention warnings -------------------------------------------------------------------

def said(text, values, batch="columns"):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ex = derive.Example.from_equations(text, values=values, batch=batch)
    return [str(w.message) for w in caught if issubclass(w.category, DeriveWarning)], ex


QA_X = [[1, 2], [0, -1], [2, 0.5]]
QA_W1 = [[0.5, -1], [1, 0.5], [-0.5, 0.25]]
QA_W2 = [[1, -1, 0.5], [0.5, 0, -1], [-1, 0.5, 1]]
ROWS_NET = "h = relu(X @ W1 + b1)\nz = h @ W2 + b2\np = softmax(z)\nL = cross_entropy(p, y)"
COLS_NET = "h = relu(W1 @ X + b1)\nz = W2 @ h + b2\np = softmax(z)\nL = cross_entropy(p, y)"


def test_a_row_bias_under_columns_warns_of_the_row_convention_even_when_batch_equals_classes():
    values = dict(X=QA_X, W1=np.array(QA_W1).T.tolist(), b1=[[0, 0.5, -0.25]],
                  W2=np.array(QA_W2).T.tolist(), b2=[[0.1, 0, -0.1]], y=[2, 0, 1])
    messages, ex = said(ROWS_NET, values)
    assert len(messages) == 1 and re.search(r"line 1: b1 is a row \(1×3\) added to every row of a 3×3 "
                                            r"matrix.*batch=\"rows\"", messages[0])
    assert messages == ex.meta["warnings"]
    # the warned-of fix gives PyTorch's loss
    right = said(ROWS_NET, {**values, "b1": [0, 0.5, -0.25], "b2": [0.1, 0, -0.1]}, "rows")
    assert right[0] == []
    X = torch.tensor(QA_X, dtype=torch.float64)
    h = torch.relu(X @ torch.tensor(QA_W1, dtype=torch.float64).T + torch.tensor([0, 0.5, -0.25], dtype=torch.float64))
    z = h @ torch.tensor(QA_W2, dtype=torch.float64).T + torch.tensor([0.1, 0, -0.1], dtype=torch.float64)
    assert abs(float(right[1].value("L")) - F.cross_entropy(z, torch.tensor([2, 0, 1])).item()) < 1e-12


def test_a_column_bias_under_rows_warns_of_the_column_convention():
    values = dict(X=[[1, 0, 2, -1], [0.5, 1, 0, 0]], W=[[1, 0], [0, 1], [1, -1]], b=[[0.1], [0], [0.2]])
    messages, _ = said("z = W @ X + b\nL = sum(tanh(z) * z)", values, "rows")
    assert any(re.search(r"b is a column \(3×1\) added to every column of a 3×4 matrix.*"
                         r"batch=\"columns\"", m) for m in messages), messages


def test_a_softmax_over_the_examples_read_through_a_transpose_warns():
    X = np.array([[1, 2, 0, -1], [0.5, 0, 1, 2]]).T.tolist()  # 4 examples as rows
    Y = [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]]
    messages, _ = said("z = W.T @ X.T + b\np = softmax(z, axis=1)\nL = cross_entropy(p, Y)",
                       dict(W=[[1, 0, 1], [0, 1, 1]], X=X, b=[0.1, 0, -0.1], Y=Y))
    assert len(messages) == 1 and re.search(r"softmax\(z\) normalises over an axis of 4 entries, the "
                                            r"number of examples \(the rows of X, as … @ X.T reads "
                                            r"them\).*axis=0", messages[0])
    # the other transposed form: X.T @ … with the examples as X's columns, softmax over them
    messages, _ = said("z = X.T @ W + b\np = softmax(z, axis=0)\nL = cross_entropy(p, y)",
                       dict(X=[[1, 2, 0, -1], [0.5, 0, 1, 2]], W=[[1, 0, 1], [0, 1, 1]], b=[0.1, 0, -0.1],
                            y=[0, 1, 2, 0]), "rows")
    assert any("normalises over an axis of 4 entries" in m and "the columns of X" in m for m in messages)


RIGHT_NETS = {
    "columns, 3 examples = 3 classes": (COLS_NET, dict(X=np.array(QA_X).T.tolist(), W1=QA_W1, b1=[0, 0.5, -0.25],
                                                       W2=QA_W2, b2=[0.1, 0, -0.1], y=[2, 0, 1]), "columns"),
    "rows, 3 examples = 3 classes": (ROWS_NET, dict(X=QA_X, W1=np.array(QA_W1).T.tolist(), b1=[0, 0.5, -0.25],
                                                    W2=np.array(QA_W2).T.tolist(), b2=[0.1, 0, -0.1], y=[2, 0, 1]), "rows"),
    "columns, transposed weights, 4 examples": (
        "z = W.T @ X + b\np = softmax(z)\nL = cross_entropy(p, y)",
        dict(W=[[1, 0, 1], [0, 1, 1]], X=XC, b=[0.1, 0, -0.1], y=Y4), "columns"),
    "rows, X @ W.T, explicit row bias": (
        "z = X @ W.T + b\np = softmax(z, axis=1)\nL = cross_entropy(p, y)",
        dict(X=XR, W=W3, b=[[0.1, 0, -0.1]], y=Y4), "rows"),
    "columns, tanh layer and a scalar offset": (
        "h = tanh(W @ X + b) + c\nL = sum(h * h)", dict(W=W3, X=XC, b=[0, 1, 2], c=0.5), "columns"),
    "columns, a row of parameters over a parameter matrix (no examples in it)": (
        "u = A + B\nL = sum(u * u)", dict(A=[[1, -2]], B=[[0.5, 1], [2, 0]]), "columns"),
    "rows, attention Q K^T": (
        "S = Q @ K.T\nA = softmax(S, axis=1)\nO = A @ V\nL = sum(O * G)",
        dict(Q=[[1, 0], [0, 1], [1, 1]], K=[[0.5, 1], [1, -1], [0, 2]], V=[[1, 2], [0, 1], [-1, 0]],
             G=[[1, 0], [0, 1], [1, 1]]), "rows"),
}


@pytest.mark.parametrize("case", RIGHT_NETS, ids=list(RIGHT_NETS))
def test_no_warning_on_nets_written_in_their_own_convention(case):
    text, values, batch = RIGHT_NETS[case]
    assert said(text, values, batch)[0] == []


@pytest.mark.parametrize("batch", ["columns", "rows"])
def test_no_warning_on_the_mlp_builder_either_way(batch):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeriveWarning)
        ex = derive.mlp([[1, 2], [0, -1], [2, 0.5]], [QA_W1, QA_W2], [[0, 0.5, -0.25], [0.1, 0, -0.1]],
                        [2, 0, 1], activation=["relu", "softmax"], loss="cross_entropy", batch=batch)
    assert "warnings" not in ex.meta


# --- A3: class-index targets need a softmax output --------------------------------------------

MLP_W = [[[1, 0.5], [-0.5, 1]], [[1, -1], [0.5, 0.5], [0, 1], [1, 1]]]
MLP_B = [[0, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize("activation, fixed", [
    (None, '"sigmoid", "softmax"'), (["relu", "sigmoid"], '"relu", "softmax"'),
    ("tanh", '"tanh", "softmax"'), (["relu", "identity"], '"relu", "softmax"'),
    (["relu", "log_softmax"], '"relu", "softmax"')])
@pytest.mark.parametrize("inputs, targets", [([0.5, -1], [3]), ([0.5, -1], 2), ([[0.5, -1], [1, 0]], [3, 0])])
def test_class_indices_with_a_non_softmax_output_are_refused_naming_softmax(activation, fixed, inputs, targets):
    kw = {} if activation is None else {"activation": activation}
    with pytest.raises(InvalidValue, match=rf"class indices.*activation=\[{fixed}\]"):
        derive.mlp(inputs, MLP_W, MLP_B, targets, loss="cross_entropy", **kw)


def test_class_indices_with_a_softmax_output_match_torch_and_one_hot_targets_stay_allowed():
    ex = derive.mlp([[0.5, -1], [1, 0]], MLP_W, MLP_B, [3, 0], activation=["relu", "softmax"], loss="cross_entropy")
    X = torch.tensor([[0.5, -1], [1, 0]], dtype=torch.float64)
    z = torch.relu(X @ torch.tensor(MLP_W[0], dtype=torch.float64).T) @ torch.tensor(MLP_W[1], dtype=torch.float64).T
    assert abs(float(ex.value("L")) - F.cross_entropy(z, torch.tensor([3, 0])).item()) < 1e-12
    one_hot = derive.mlp([0.5, -1], MLP_W, MLP_B, [0, 0, 0, 1], loss="cross_entropy")  # −Σ y log a
    assert one_hot.value("L") is not None


# --- B1: the PyTorch export of an embedding ----------------------------------------------------

EMB_E = [[0.5, -1], [1, 0.25], [-0.5, 2], [0, 1], [1.5, -0.5]]
EMB_W = [[1, -0.5], [0.25, 0.75], [-1, 0.5]]


def run_script(source: str, tmp_path) -> dict:
    path = tmp_path / "export.py"
    path.write_text(source)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(path), run_name="__main__")
    return json.loads(out.getvalue())


def agrees(ex, got: dict):
    for name, grad in got["gradients"].items():
        want = np.array(ex.grad(name), dtype=float).reshape(np.shape(grad) if grad is not None else ())
        assert np.allclose(np.zeros(want.shape) if grad is None else grad, want, rtol=1e-10, atol=1e-12), name
    assert abs(got["values"][ex.output] - float(ex.value(ex.output))) < 1e-12


@pytest.mark.parametrize("indices, targets", [([1, 3, 1], [2, 0, 2]), ([4, 0], [[0, 1], [1, 0], [0, 0]]), (2, 1)])
def test_an_embedding_exports_to_pytorch_and_agrees(indices, targets, tmp_path):
    ex = build("e = embedding(E, i)\nz = W @ e + b\np = softmax(z)\nL = cross_entropy(p, y)",
               dict(E=EMB_E, W=EMB_W, b=[0.1, 0, -0.2], i=indices, y=targets))
    source = ex.to_pytorch()
    lookup = next(line for line in source.splitlines() if line.startswith("v_i = "))
    assert "one_hot" not in lookup  # the indices themselves, which torch reads as E[i]
    got = run_script(source, tmp_path)
    assert "i" not in got["gradients"] and {"E", "W", "b"} <= set(got["gradients"])
    agrees(ex, got)
    # the row a lookup did not pick gets no gradient, in torch as in derive
    picked = {indices} if isinstance(indices, int) else set(indices)
    for row in set(range(5)) - picked:
        assert all(v == 0 for v in got["gradients"]["E"][row])


def test_from_torch_embedding_exports_and_its_notebook_check_passes(tmp_path):
    from derive.rendering.notebook import crosscheck_code, rebuild_code
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Embedding(5, 2), torch.nn.Linear(2, 3)).double()
    ex = derive.from_torch(net, torch.tensor([1, 3, 1]), torch.tensor([2, 0, 2]), loss="cross_entropy")
    agrees(ex, run_script(ex.to_pytorch(), tmp_path))
    assert '"cell_type": "code"' in ex.to_ipynb()
    scope: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # the notebook's own cells: rebuild, then PyTorch's check
        exec(rebuild_code(ex), scope)
        exec(crosscheck_code(ex), scope)
    assert out.getvalue().startswith("PyTorch gives the same")


def test_an_index_that_is_both_a_lookup_and_a_target_is_refused_by_name():
    ex = build("e = embedding(E, i)\nz = W @ e\np = softmax(z)\nL = cross_entropy(p, i)",
               dict(E=EMB_E[:3], W=[[1, 0], [0, 1], [1, 1]], i=[1, 2]))
    with pytest.raises(DeriveError, match=r"`i` is both an embedding's index and a cross-entropy's target"):
        ex.to_pytorch()


# --- B2: refusals name the format asked for -----------------------------------------------------

IMAGE = ("o = maxpool2d(x, 2)\nL = sum(o)", {"x": [[[1, 2], [3, 4]], [[0, -1], [5, 2]]]}, "columns")
ROWS = ("z = X @ W + b\np = softmax(z)\nL = cross_entropy(p, y)",
        {"X": [[1, 2], [0, -1]], "W": [[0.5, -1], [1, 0]], "b": [0, 0.5], "y": [1, 0]}, "rows")


@pytest.mark.parametrize("case", [IMAGE, ROWS], ids=["image", "rows"])
@pytest.mark.parametrize("fmt", ["ipynb", "pytorch"])
def test_a_refusal_names_the_format_asked_for(case, fmt):
    ex = build(*case)
    with pytest.raises(NotApplicable) as caught:
        ex.render(fmt)
    other = {"ipynb": "pytorch", "pytorch": "ipynb"}[fmt]
    assert f"the {fmt} " in str(caught.value) and f"the {other} " not in str(caught.value)
    assert not ex.writes(fmt) and ex.writes("md")


@pytest.mark.parametrize("case", [IMAGE, ROWS], ids=["image", "rows"])
def test_the_command_line_refusal_names_ipynb(case, tmp_path, capsys):
    import yaml
    from derive.cli import main
    text, values, batch = case
    spec = tmp_path / "net.yaml"
    spec.write_text(yaml.safe_dump({"equations": text, "values": values, "batch": batch}))
    with pytest.raises(SystemExit) as ended:
        main(["render", str(spec), "--format", "ipynb", "-o", str(tmp_path / "net.ipynb")])
    err = capsys.readouterr().err
    assert ended.value.code == 2 and err.count("\n") == 1
    assert err.startswith("derive: error: the ipynb format") and "pytorch" not in err
    assert not (tmp_path / "net.ipynb").exists()


# --- B3: to_pdf("out.pdf") ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["scalar", "tensor"])
def test_to_pdf_writes_a_path_atomically_and_never_overwrites_without_force(kind, tmp_path, pdflatex):
    from pathlib import Path
    from derive.core.errors import OutputExists
    ex = (derive.Example.from_equations("L = (w*x - y)**2", values={"w": 3, "x": -2, "y": 0.5}) if kind == "scalar"
          else derive.Example.from_equations("z = W @ x\nL = sum(z*z)", values={"W": [[1, 2], [0, -1]], "x": [1, 3]}))
    out = ex.to_pdf(str(tmp_path / "out.pdf"))
    assert Path(out) == tmp_path / "out.pdf" and (tmp_path / "out.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(OutputExists):
        ex.to_pdf(tmp_path / "out.pdf")
    ex.to_pdf(tmp_path / "out.pdf", force=True)
    ex.to_pdf(path=tmp_path / "named", force=True)
    assert (tmp_path / "named").read_bytes().startswith(b"%PDF")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    with pytest.raises(DeriveError, match=r"path='out'"):
        ex.to_pdf("out")
    assert isinstance(ex.to_pdf(5), bytes)  # the first argument is still the precision


# --- a lookup's indices are data, whatever their name -------------------------------------------

@pytest.mark.parametrize("index", ["i", "tok", "word_ids"])
def test_embedding_indices_are_data_not_parameters(index):
    text = f"e = embedding(E, {index})\nz = V @ e\np = softmax(z)\nL = cross_entropy(p, y)"
    values = {"E": [[1, 2], [0, 1], [-1, 0]], index: [2, 0, 2], "V": [[1, 0], [0, 1], [1, 1]], "y": [1, 2, 0]}
    ex = derive.Example.from_equations(text, values=values)
    assert ex.params == ["E", "V"] and ex.roles[index] == "data"
    # an explicit data list still counts, and the index stays data beside it
    assert derive.Example.from_equations(text, values=values, data="V").params == ["E"]
