"""Matrix-form network documents under a course's notation preset, and their carried digits:
``delta: true`` writes δ1 = ∂L/∂z1 (as the scalar and mlp documents do), ``index_base: 0``
numbers the entries from 0 and states a0 = x, and every printed matrix carries one number of
digits — the most any of its entries needs to be redone from the numbers above it."""
import re
import sys
from pathlib import Path

import pytest
import sympy as sp

import derive
from derive.model.spec import example_from_spec, load_spec
from derive.solutions.matrixdoc import matrix_carries

sys.path.insert(0, str(Path(__file__).parent))
from test_redo_round2 import check_tensor_document, random_net  # noqa: E402

SOFTMAX_NET = """\
title: A 2-3-3 tanh network with softmax output
equations: |
  z1 = W1 @ x + b1
  a1 = tanh(z1)
  z2 = W2 @ a1 + b2
  p = softmax(z2)
  L = cross_entropy(p, y)
values:
  x: [0.5, -1.0]
  W1: [[0.2, -0.4], [0.7, 0.1], [-0.3, 0.5]]
  b1: [0.1, 0.0, -0.2]
  W2: [[0.6, -0.2, 0.3], [-0.5, 0.4, 0.1], [0.2, 0.3, -0.6]]
  b2: [0.0, 0.1, -0.1]
  y: [0, 1, 0]
lr: 0.5
"""

SIGMOID_NET = """\
title: A 2-2-1 sigmoid network with a squared error, from a zero and a negative input
equations: |
  z1 = W1 @ x + b1
  a1 = sigmoid(z1)
  z2 = W2 @ a1 + b2
  a2 = sigmoid(z2)
  L = mean((a2 - y)**2)
values:
  x: [0, -2]
  W1: [[0.3, -0.1], [-0.6, 0.4]]
  b1: [0, 0.2]
  W2: [[0.5, -0.7]]
  b2: [0.1]
  y: [1]
lr: 0.1
"""

PRESET = "notation: {delta: true, index_base: 0}\n"


def _example(tmp_path, text: str, name: str = "net.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return example_from_spec(load_spec(path))


def _flat(text: str) -> str:
    return " ".join(text.split())


def _line(text: str, start: str) -> str:
    return next(line.strip() for line in text.splitlines() if line.strip().startswith(start))


def test_delta_true_writes_the_pre_activations_gradients_as_delta(tmp_path):
    ex = _example(tmp_path, SOFTMAX_NET + PRESET)
    text = ex.to_text()
    flat = _flat(text)
    assert "Write δ1 = ∂L/∂z1 and δ2 = ∂L/∂z2, the gradients of the loss with respect to the" in flat
    assert _line(text, "δ2 = ").startswith("δ2 = p − y = [0.298435; −0.757024; 0.458589]")
    assert "∂L/∂a1 = W2ᵀ δ2 = [" in text and "δ1 = ∂L/∂a1 ⊙ (1 − tanh²(z1)) = [" in text
    assert "∂L/∂W1 = δ1 xᵀ = [" in text and "∂L/∂W2 = δ2 a1ᵀ = [" in text
    assert "∂L/∂b1 = δ1 = [" in text and "∂L/∂x = W1ᵀ δ1 = [" in text
    assert "δ2 is 3×1, like z2:" in text and "∂L/∂z1" not in text.split("pre-activation).")[1]
    latex = ex.to_latex()
    assert r"\delta_{2}" in latex and r"\frac{\partial L}{\partial z_{2}}" in latex  # the one definition
    # the same numbers as without the preset: only the names change
    plain = _example(tmp_path, SOFTMAX_NET, "plain.yaml").to_text()
    assert _line(plain, "∂L/∂z2 = p − y = ").split(" = ")[-1] == _line(text, "δ2 = ").split(" = ")[-1]
    assert "δ" not in plain and "Write δ" not in plain


def test_delta_through_a_sigmoid_output_and_a_mean_squared_error(tmp_path):
    ex = _example(tmp_path, SIGMOID_NET + PRESET)
    text = ex.to_text()
    assert "δ2 = ∂L/∂a2 ⊙ σ(z2)(1 − σ(z2)) = [−0.233222]" in text
    assert "δ1 = ∂L/∂a1 ⊙ σ(z1)(1 − σ(z1)) = [−0.028863; 0.037350]" in text
    # x = [0; −2]: the first column of ∂L/∂W1 = δ1 xᵀ is 0
    assert "∂L/∂W1 = δ1 xᵀ = [0, 0.05773; 0, −0.07470]" in text
    assert ex.grad("W1")[0, 0] == 0 and float(ex.grad("W1")[0, 1]) == pytest.approx(0.0577258, abs=1e-6)


def test_delta_is_a_setting_of_the_render_call_too():
    ex = derive.Example.from_equations("z1 = W1 @ x + b1\na1 = relu(z1)\nL = sum(a1)",
                                       values={"W1": [[1, -2], [0.5, 1]], "x": [1, 2], "b1": [0, -1]})
    assert "δ1 = " not in ex.to_text()
    text = ex.to_text(notation={"delta": True})
    assert "Write δ1 = ∂L/∂z1, the gradient of the loss with respect to the" in _flat(text)
    assert "δ1 = ∂L/∂a1 ⊙ 𝟙[z1 > 0] = [0; 1]" in text and "∂L/∂W1 = δ1 xᵀ" in text
    # total: d writes every gradient of a matrix document as the total it is
    assert "dL/dW1 = dL/dz1 xᵀ" in ex.to_text(notation={"total": "d"})


def test_index_base_zero_numbers_entries_from_0_and_states_a0_is_x(tmp_path):
    ex = _example(tmp_path, SIGMOID_NET + "focus: W1[0,1]\n" + PRESET)
    text = ex.to_text()
    flat = _flat(text)
    assert "Entries are numbered from 0: entry (0, 0) of a matrix is its first row and first column" in flat
    assert "The layers count from 1, the input being layer 0: a0 = x." in flat
    # the zoom: entry (0, 1) is row 0 of W1 and column 1, i.e. x[1] = −2
    assert "Entry (0, 1) of the matrix product δ1 xᵀ uses row 0 of δ1 and column 1 of xᵀ" in flat
    assert "∂L/∂W1[0,1] = ∂L/∂z1[0,0] · x[1,0]" in text
    assert "∂L/∂W1[0,1] = (−0.02886) · (−2) ≈ 0.05773" in text
    assert "W1[1,1]" not in text and "Entry (1, 1)" not in text
    latex = ex.to_latex()
    assert r"a_{0} = x" in latex and r"\left(W_{1}\right)_{0,1}" in latex
    md = ex.to_markdown()
    assert "a_{0} = x" in md
    # out of range in the base the document counts in
    bad = _example(tmp_path, SIGMOID_NET + "focus: W1[2,0]\n" + PRESET, "bad.yaml")
    with pytest.raises(derive.DeriveError, match=r"W1 is 2×2; entries are numbered from 0"):
        bad.to_text()


def test_index_base_zero_names_the_entries_it_cannot_redo_from_0(tmp_path):
    zero = _example(tmp_path, SOFTMAX_NET + PRESET).to_text()
    one = _example(tmp_path, SOFTMAX_NET, "one.yaml").to_text()
    named = re.findall(r"Here entry \((\d+), (\d+)\) of W1⁽ⁿᵉʷ⁾", _flat(one))
    assert named == [("2", "2")]  # −0.005714 = 0.1 − 0.5 · 0.211428…: a near cancellation
    assert re.findall(r"Here entry \((\d+), (\d+)\) of W1⁽ⁿᵉʷ⁾", _flat(zero)) == [("1", "1")]


def test_index_base_one_keeps_the_document_as_it_was(tmp_path):
    plain = _example(tmp_path, SIGMOID_NET + "focus: W1[1,2]\n").to_text()
    preset_one = _example(tmp_path, SIGMOID_NET + "focus: W1[1,2]\nnotation: {index_base: 1}\n",
                          "one.yaml").to_text()
    assert plain == preset_one
    assert "Entries are numbered from 0" not in plain and "a0 = x" not in plain
    assert "Entry (1, 2) of the matrix product ∂L/∂z1 xᵀ uses row 1 of ∂L/∂z1 and column 2" in _flat(plain)
    assert "∂L/∂W1[1,2] = ∂L/∂z1[1,1] · x[2,1]" in plain


def test_an_mlp_spec_in_matrix_form_follows_the_preset(tmp_path):
    path = tmp_path / "mlp.yaml"
    path.write_text("inputs: [[0.5, -1.0], [0, 2]]\n"
                    "weights:\n  - [[0.2, -0.4], [0.7, 0.1], [-0.3, 0.5]]\n"
                    "  - [[0.6, -0.2, 0.3], [-0.5, 0.4, 0.1]]\n"
                    "biases: [[0.1, 0, -0.2], [0, 0.1]]\ntargets: [1, 0]\n"
                    "activations: [tanh, softmax]\nloss: cross_entropy\nlr: 0.5\n" + PRESET, encoding="utf-8")
    from derive.model.spec import mlp_from_spec
    ex = mlp_from_spec(path)
    text = _flat(ex.to_text())
    assert "The layers count from 1, the input being layer 0: a0 = X." in text
    assert "δ2 = (a2 − onehot(Y))/2 = [" in text and "∂L/∂W1 = δ1 Xᵀ" in text
    assert "Σ_{j=0..k − 1}" in text and "entry (0, 0)" in text


# --- one number of digits per printed matrix -------------------------------------------------


def _digits(entry: str) -> int:
    mantissa = entry.replace("−", "").split("×")[0]
    return len(mantissa.replace(".", "").lstrip("0"))


def test_every_entry_of_a_printed_vector_carries_the_same_digits(tmp_path):
    text = _example(tmp_path, SOFTMAX_NET).to_text()
    # QA: ∂L/∂a1 was printed [0.649291; −0.22492; −0.261325] and ∂L/∂W2 with 4 to 5 digits
    assert "∂L/∂a1 = W2ᵀ ∂L/∂z2 = [0.649291; −0.224920; −0.261325]" in text
    for start in ("p = softmax", "∂L/∂a1 =", "∂L/∂z1 =", "∂L/∂W1 =", "∂L/∂W2 =", "∂L/∂z2 ="):
        result = _line(text, start).split(" = ")[-1]
        entries = [e.strip() for row in result[1:-1].split(";") for e in row.split(",")]
        assert len({_digits(e) for e in entries}) == 1, (start, entries)
    # and the regression QA found: ∂L/∂h = v ∂L/∂ŷ = [−0.9548; 0.95483]
    from test_matrixdoc import regression
    assert "∂L/∂h = v ∂L/∂ŷ = [−0.9548; 0.9548]" in regression().to_text()


@pytest.mark.parametrize("seed", [0, 3, 6, 7, 12])
def test_carries_are_one_per_matrix_and_every_line_still_redoes(seed):
    ex, rows = random_net(seed)
    d = ex.matrix_derivation()
    carries, beyond = matrix_carries(ex, d.values, d.gradients, 4)
    per_matrix: dict = {}
    for (identity, index), c in carries.items():
        per_matrix.setdefault(identity, {})[index] = c
    for identity, cells in per_matrix.items():
        t = d.gradients[identity[1]] if identity[0] == "grad" else d.values.get(identity[1])
        if identity[0] == "new":
            t = d.values[identity[1]]
        assert len(set(cells.values())) == 1, (identity, cells)
        assert len(cells) == (1 if t.scalar else t.a.size), identity  # every entry, not some
    checked, wrong = check_tensor_document(ex.to_text(), rows)
    assert checked >= 20 and not wrong, wrong


def test_the_softmax_and_sigmoid_networks_redo_from_the_printed_numbers(tmp_path):
    for spec in (SOFTMAX_NET, SIGMOID_NET):
        checked, wrong = check_tensor_document(_example(tmp_path, spec).to_text(), False)
        assert checked >= 30 and not wrong, wrong


def test_the_printed_gradients_are_the_exact_ones(tmp_path):
    """The numbers under the new names are the derivative's, checked against a finite
    difference of the loss (float64) for the softmax network."""
    ex = _example(tmp_path, SOFTMAX_NET + PRESET)
    W1 = sp.Matrix(ex.value("W1")).evalf(30)
    import math

    def loss(w):
        x, b1 = [0.5, -1.0], [0.1, 0.0, -0.2]
        W2 = [[0.6, -0.2, 0.3], [-0.5, 0.4, 0.1], [0.2, 0.3, -0.6]]
        a1 = [math.tanh(sum(w[i][k] * x[k] for k in range(2)) + b1[i]) for i in range(3)]
        z2 = [sum(W2[j][i] * a1[i] for i in range(3)) + b for j, b in enumerate([0.0, 0.1, -0.1])]
        return -(z2[1] - math.log(sum(math.exp(v) for v in z2)))

    w = [[float(W1[i, j]) for j in range(2)] for i in range(3)]
    h = 1e-6
    for i in range(3):
        for j in range(2):
            up = [row[:] for row in w]
            down = [row[:] for row in w]
            up[i][j] += h
            down[i][j] -= h
            assert float(ex.grad("W1")[i, j]) == pytest.approx((loss(up) - loss(down)) / (2 * h), abs=1e-8)


def test_render_time_index_base_numbers_a_tensor_document_as_the_spec_would():
    # the preset given to to_text numbers the entries too, not only the δ names
    import copy
    from derive.model.tensors import TensorExample
    ex = TensorExample.from_equations("z = W @ x + b\na = tanh(z)\nL = sum(a*a)",
                                      values={"W": [[1, -2], [0.5, 0]], "x": [-1, 2], "b": [0, 1]})
    spec_like = copy.copy(ex)
    spec_like.notation = {"index_base": 0}
    at_render = ex.to_text(notation={"index_base": 0})
    assert at_render == spec_like.to_text()
    assert "Entries are numbered from 0" in at_render and ex.notation is None
    assert "Entries are numbered from 0" not in ex.to_text()
