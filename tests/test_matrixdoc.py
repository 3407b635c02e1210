"""Matrix-form documents: formula → shapes → numbers, the rules courses teach, elided large
matrices, the zoom into one entry; they compile (tests/test_layout.py) and parse with pandoc."""
from __future__ import annotations

import json
import re
import random
import subprocess

import pytest
import sympy as sp

import derive
from derive.core.engine import expand_quantities


def small_batch():
    return derive.mlp([[1, 2], [0, 1], [0.5, -1]], [[[1, -1], [0, 1], [0.5, 0.25]], [[1, 0.5, -1], [0.2, 0.3, 0.1]]],
                      [[0, 0, 0.1], [0.5, 0]], [0, 1, 1], activation=["relu", "softmax"],
                      loss="cross_entropy", lr=0.1, focus="w1_2_1")


def large_batch():
    rng = random.Random(1)
    W1 = [[round(rng.uniform(-1, 1), 2) for _ in range(12)] for _ in range(8)]
    W2 = [[round(rng.uniform(-1, 1), 2) for _ in range(8)] for _ in range(3)]
    X = [[round(rng.uniform(0, 1), 1) for _ in range(12)] for _ in range(10)]
    return derive.mlp(X, [W1, W2], [[0] * 8, [0] * 3], [i % 3 for i in range(10)],
                      activation=["relu", "softmax"], loss="cross_entropy", focus="w1_2_1")


def regression():
    return derive.Example.from_equations(
        "z = W @ x + c\nh = tanh(z)\nyhat = v.T @ h\nL = mean((yhat - y)**2)",
        values={"W": [[0.5, -1], [2, 0.25]], "x": [1, -2], "c": [0, 0.5], "v": [1, -1], "y": 0.5}, lr="0.1")


TWO_LAYER = "z1 = W1 @ X + b1\na1 = relu(z1)\nz2 = W2 @ a1 + b2\np = softmax(z2)\nL = cross_entropy(p, y)"


def symbolic():
    """The two-layer net of CS231n from shapes alone (a batch of 8, class-index targets)."""
    return derive.Example.from_equations(TWO_LAYER, shapes={"X": [4, 8], "W1": [3, 4], "b1": [3],
                                                            "W2": [2, 3], "b2": [2], "y": [8]}, lr="0.1")


def matrix_examples():
    return {"softmax-batch": small_batch(), "large": large_batch(), "regression": regression(),
            "symbolic": symbolic()}


def test_softmax_batch_document_shows_the_rules_with_numbers():
    text = small_batch().to_text()
    assert "z1 = W1 X + b1" in text and "z1 is 3×3" in text
    assert "probabilities a2 minus the one-hot targets onehot(Y), divided by the batch size 3" in text
    assert "Y holds class indices" in text and "δ = p − y" not in text
    # the digits the lines reading ∂L/∂z2 need, the same for every entry of the matrix; an
    # entry needing more (a near cancellation in a bias sum) is named instead
    assert ("∂L/∂z2 = (a2 − onehot(Y))/3 = [−0.1922951, 0.1927017, 0.2768720; 0.1922951, −0.1927017, "
            "−0.2768720]") in text
    assert "Here entry (2, 1) of ∂L/∂b1 follows from the numbers above only with more digits" in " ".join(text.split())
    assert "∂L/∂z1 = ∂L/∂a1 ⊙ 𝟙[z1 > 0]" in text
    assert "the unit was active: 6 of 9 entries" in text
    assert "∂L/∂W1 = ∂L/∂z1 Xᵀ" in text and "∂L/∂a1 = W2ᵀ ∂L/∂z2" in text
    assert "∂L/∂b1 = Σ_batch ∂L/∂z1" in text
    assert "∂L/∂W1[2,1] = (−0.03846) · 1 + 0.03854 · 0 + 0 · 0.5 ≈ −0.03846" in text
    assert "W1⁽ⁿᵉʷ⁾ = W1 − η · ∂L/∂W1" in text and "W1_new" not in text
    assert "W_{1}^{(\\mathrm{new})} = W_{1}" in small_batch().to_latex()


def test_zoomed_entry_is_the_matrix_entry():
    ex = small_batch()
    g = ex.grad("w1_2_1")
    assert ex.grad("W1")[1, 0] == g
    dz1, X = ex.grad("z1"), ex.value("X")
    # one form per matrix: the entry is an exact atom (≈ value) like the rest of ∂L/∂W1
    assert sp.simplify(expand_quantities(g - sum(dz1[1, b] * X[0, b] for b in range(3)))) == 0
    assert f"≈ {float(g):.4g}".replace("-", "−") in ex.to_text()


def test_large_matrices_are_elided_with_their_shape():
    text = large_batch().to_text()
    assert "(8×10)" in text and "…" in text and "⋮" in text
    tex = large_batch().to_latex()
    assert "\\cdots" in tex and "\\vdots" in tex and "_{8 \\times 10}" in tex


def test_other_rules_mean_transpose_and_tanh():
    text = regression().to_text()
    assert "∂L/∂h = v ∂L/∂ŷ = [−0.9548; 0.9548]" in text  # (vᵀ)ᵀ = v; one number of digits
    assert "∂L/∂z = ∂L/∂h ⊙ (1 − tanh²(z))" in text  # tanh² as by hand
    assert "∂L/∂v = h (∂L/∂ŷ)ᵀ = [−0.9420; −0.9205]" in text  # (∂L/∂ŷ hᵀ)ᵀ
    assert "∂L/∂W = ∂L/∂z xᵀ" in text and "∂L/∂c = ∂L/∂z =" in text


@pytest.mark.parametrize("name", sorted(matrix_examples()))
def test_matrix_markdown_parses_with_pandoc(name, pandoc):
    md = matrix_examples()[name].to_markdown()
    run = subprocess.run([pandoc, "-f", "markdown", "-t", "json"], input=md, capture_output=True,
                         text=True, check=True)
    found = {}

    def walk(node):
        if isinstance(node, dict):
            if "t" in node:
                found.setdefault(node["t"], []).append(node.get("c"))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(json.loads(run.stdout))
    assert len(found.get("Math", [])) >= md.count("$$\n") // 2
    strays = [s for s in found.get("Str", []) if "$" in s or "\\frac" in s or "bmatrix" in s]
    assert not strays, strays[:5]


def test_documents_are_deterministic():
    assert small_batch().to_latex() == small_batch().to_latex()


def _net(activation, targets=(1, 0, 1)):
    return derive.mlp([[1, -1], [0, 2], [0.5, 0.5]],
                      [[[0.1, -0.2], [0.3, 0.4], [-0.5, 0]], [[1, -1, 0.5], [0.2, 0.2, -0.3]]],
                      [[0, 0.1, -0.1], [0, 0]], list(targets), activation=[activation, "softmax"],
                      loss="cross_entropy", lr=0.1)


@pytest.mark.parametrize("activation, rule", [
    ("gelu", "∂L/∂z1 = ∂L/∂a1 ⊙ (Φ(z1) + z1 · φ(z1))"),
    ("elu", "∂L/∂z1 = ∂L/∂a1 ⊙ ELU'(z1)"),
    ("leaky_relu", "∂L/∂z1 = ∂L/∂a1 ⊙ LeakyReLU'(z1)"),
    ("silu", "∂L/∂z1 = ∂L/∂a1 ⊙ SiLU'(z1)"),
    ("sigmoid", "∂L/∂z1 = ∂L/∂a1 ⊙ σ(z1)(1 − σ(z1))"),
    ("identity", "∂L/∂z1 = ∂L/∂a1 = ["),
])
def test_local_derivatives_are_the_registry_rules(activation, rule):
    text, latex = _net(activation).to_text(), _net(activation).to_latex()
    assert rule in text
    for sympy_spelling in ("erf", "pi", "√2", "/100", "⊙ 1 ", "e^z1"):
        assert sympy_spelling not in text, sympy_spelling
    assert "erf" not in latex and "\\pi" not in latex
    if rule.endswith("'(z1)"):  # a rule written as f'(z1) is stated once, as the registry states it
        prime = rule.split("⊙ ")[1][:-4]
        assert text.count(f"where {prime}(z) = ") == 1
    else:
        assert "where " not in text


def test_prose_uses_the_documents_names_and_the_table_a_scalar():
    onehot_targets = [[0, 1, 0], [1, 0, 1]]  # 2 classes × 3 examples, one-hot columns
    ex = derive.mlp([[1, -1], [0, 2], [0.5, 0.5]], [[[1, -1], [0.5, 0.5]], [[1, -1], [0.2, 0.2]]],
                    [[0, 0.1], [0, 0]], [[0, 1], [1, 0], [0, 1]], activation=["tanh", "softmax"],
                    loss="cross_entropy")
    text = ex.to_text()
    assert "∂L/∂z2 = (a2 − Y)/3" in text and "minus the one-hot targets Y, divided by the batch size 3" in text
    assert "δ = p − y" not in text and "onehot" not in text
    assert onehot_targets == [[int(v) for v in row] for row in ex.value("Y").tolist()]
    rows = [line.split() for line in text.splitlines() if line.strip().startswith("L ")]
    assert rows[0][:2] == ["L", "scalar"] and "1×1" not in text
    assert "\\text{scalar}" in ex.to_latex() and "1 \\times 1" not in ex.to_latex()


def test_one_form_per_matrix_never_a_placeholder_next_to_formulas():
    ex = derive.Example.from_equations(
        "h = W @ x + b\ng = tanh(h)\np = softmax(g)\nL = cross_entropy(p, y)",
        values={"W": [[0.3, -1.2], [0, 2.5], [-0.7, 0.1], [1, 1]], "x": [-2, 0.5], "b": [0, -0.1, 0.2, 0],
                "y": [0, 0, 1, 0]})
    from derive.core.engine import Quantity
    for name in ("b", "W", "h", "g", "p"):
        m = ex.grad(name)
        atoms = [isinstance(e, Quantity) for e in m]
        assert all(atoms) or not any(atoms), (name, m)
    b = ex.grad("b")
    assert "≈ −0.07558" in str(b) and "∂tanh" not in str(b)
    import torch
    W = torch.tensor([[0.3, -1.2], [0, 2.5], [-0.7, 0.1], [1, 1]], dtype=torch.float64)
    tb = torch.tensor([0, -0.1, 0.2, 0], dtype=torch.float64, requires_grad=True)
    logits = torch.tanh(W @ torch.tensor([-2, 0.5], dtype=torch.float64) + tb)
    torch.nn.functional.cross_entropy(logits.reshape(1, -1), torch.tensor([2])).backward()
    assert [float(e) for e in b] == pytest.approx(tb.grad.tolist(), abs=1e-12)
    # the scalar alias of an entry is the entry the matrix shows
    assert ex.grad("b")[2] == b[2]


# --- symbolic derivations from shapes -------------------------------------------------------------

def test_symbolic_derivation_shows_the_rules_with_shapes_and_no_numbers():
    ex = symbolic()
    assert ex.symbolic and ex.shape("z1") == (3, 8) and ex.shape("L") == ()
    text = ex.to_text()
    for line in ("z1 = W1 X + b1", "∂L/∂z2 = (p − onehot(y))/8", "∂L/∂a1 = W2ᵀ ∂L/∂z2",
                 "∂L/∂z1 = ∂L/∂a1 ⊙ 𝟙[z1 > 0]", "∂L/∂W1 = ∂L/∂z1 Xᵀ", "∂L/∂b1 = Σ_batch ∂L/∂z1",
                 "∂L/∂W2 = ∂L/∂z2 a1ᵀ", "W1⁽ⁿᵉʷ⁾ = W1 − η · ∂L/∂W1"):
        assert line in text, line
    flat = " ".join(text.split())
    assert "∂L/∂W1 is 3×4, like W1:" in flat and "Shapes: 3×8 times 8×4 gives 3×4." in flat
    # value-dependent prose and numbers are left out
    assert "entries here" not in text and "≈" not in text and "Zoom in" not in text
    numbers = text.replace("η = 0.1", "")  # the one number given: the learning rate
    assert not re.search(r"= \[|−?\d+\.\d", numbers), re.search(r"= \[|−?\d+\.\d", numbers)
    assert "∂L/∂p" not in text and "∂L/∂y" not in text  # the fused pair and the targets
    for call in (lambda: ex.grad("W1"), lambda: ex.value("z1"), lambda: ex.check({"dL/dW1": 0}),
                 lambda: ex.update("W1")):
        with pytest.raises(derive.DeriveError, match="symbolic .shapes only"):
            call()


def test_symbolic_rules_are_the_numeric_documents_rules():
    values = {"X": [[1, 2, 0], [0, -1, 1]], "W1": [[1, -1], [0.5, 0.5], [0, 1]], "b1": [0, 0.1, 0],
              "W2": [[1, 0, -1], [0.5, 1, 0]], "b2": [0, 0], "y": [1, 0, 1]}
    numeric = derive.Example.from_equations(TWO_LAYER, values=values).to_text()
    shaped = derive.Example.from_equations(TWO_LAYER, shapes={"X": [2, 3], "W1": [3, 2], "b1": [3],
                                                              "W2": [2, 3], "b2": [2], "y": [3]}).to_text()
    rules = [l.strip() for l in shaped.splitlines() if l.strip().startswith("∂L/∂") and " = " in l]
    assert len(rules) >= 7
    for rule in rules:  # the numeric document writes the same rule, then its numbers
        assert any(l.strip().startswith(rule + " = [") for l in numeric.splitlines()), rule


@pytest.mark.parametrize("shapes, message", [
    ({"W": [3, 2], "x": [3], "b": [3]}, r"line 1: W @ x needs x with 2 rows \(W is 3×2\), got 3"),
    ({"W": [3, 2], "x": [2], "b": [2]}, r"line 1: W @ x \+ b needs equal shapes"),
    ({"W": [3, 2], "x": [2]}, r"missing shape\(s\) for b"),
    ({"W": [3, 2, 1], "x": [2], "b": [3]}, r"`W: \[3, 2, 1\]` is not a shape"),
    ({"W": [3, 2], "x": [2], "b": [3], "v": [1]}, r"unknown name\(s\) 'v'"),
])
def test_symbolic_shape_errors_name_the_shapes_and_the_line(shapes, message):
    with pytest.raises(derive.DeriveError, match=message):
        derive.Example.from_equations("z = W @ x + b\nL = sum(z)", shapes=shapes)
    with pytest.raises(derive.DeriveError, match="either values .* or shapes"):
        derive.Example.from_equations("z = W @ x\nL = sum(z)", values={"W": [[1]], "x": [1]},
                                      shapes={"W": [1, 1], "x": [1]})


def test_symbolic_spec_renders_from_the_command_line(tmp_path, capsys):
    from click.testing import CliRunner
    from derive.cli import cli, main
    spec = tmp_path / "sym.yaml"
    spec.write_text("title: Softmax regression from shapes\nequations: |\n  z = W @ x + b\n"
                    "  p = softmax(z)\n  L = cross_entropy(p, y)\nshapes: {W: [3, 2], x: [2], b: [3], y: [3]}\n")
    run = CliRunner().invoke(cli, ["render", str(spec), "--format", "text"])
    assert run.exit_code == 0, run.output
    assert "∂L/∂z = p − y" in run.output and "∂L/∂W = ∂L/∂z xᵀ" in run.output
    assert "minus the one-hot targets y." in " ".join(run.output.split())
    bad = tmp_path / "bad.yaml"
    bad.write_text("equations: |\n  z = W @ x\n  L = sum(z)\nshapes: {W: [3, 2], x: [2]}\n"
                   "values: {W: [[1, 2]], x: [1, 2]}\n")
    with pytest.raises(SystemExit) as stop:
        main(["render", str(bad)])
    assert stop.value.code == 2 and "not both" in capsys.readouterr().err


def test_the_given_values_are_stated_side_by_side_before_the_forward_pass():
    """Like a scalar document, a matrix one states the numbers it starts from (a few per line);
    a symbolic one (shapes only) has none to state."""
    ex = derive.Example.from_equations("z = W @ x + b\np = softmax(z)\nL = cross_entropy(p, y)",
                                       values={"W": [[0.2, -0.5], [1.5, 1.3], [0, 0.25]],
                                               "x": [1, -2], "b": [0.1, -0.2, 0.3], "y": 2})
    text = ex.to_text()
    given = text[text.index("The given values:"):text.index("Forward pass")]
    assert "W = [0.2, −0.5; 1.5, 1.3; 0, 0.25],    x = [1; −2],    b = [0.1; −0.2; 0.3]" in given
    assert "    y = 2" in given
    symbolic = derive.Example.from_equations("z = W @ x\nL = sum(z)", shapes={"W": [3, 2], "x": [2]})
    assert "The given values" not in symbolic.to_text()
