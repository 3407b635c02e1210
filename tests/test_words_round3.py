"""Issue 26, QA round 2: the words about the math say what the numbers show.

Softmax/cross-entropy index conventions, compare's strength labels, every activation's
observation at z < 0, z = 0 and z > 0, the gate's slope and indicator as written, "summed over
outputs" only with several outputs, and a one-output loss handed a matrix target."""
from __future__ import annotations

import math
import re

import pytest
import sympy as sp
import torch

import derive
from derive.core.approx import approx
from derive.core.errors import DeriveError
from derive.core.functions import ACTIVATIONS
from derive.rendering.printing import printer_for
from derive.solutions.observations import LITTLE_FACTOR, SMALL_LOCAL_GRADIENT, activation_facts, observations

TEXT = printer_for("text")


def flat(text: str) -> str:
    """The text with its line wrapping undone."""
    return " ".join(text.split())


def said(sentence) -> str:
    return sentence.template.format(*[TEXT.doprint(m) for m in sentence.math])


# -- 2: one class-index convention in the softmax / cross-entropy definitions --

def _classifier(inputs, targets, outputs=3, base=None, onehot=False):
    n = len(inputs[0]) if isinstance(inputs[0], list) else len(inputs)
    weights = [[[0.3 * ((i + 2 * j) % 3) - 0.4 for i in range(n)] for j in range(2)],
               [[0.5 - 0.6 * ((i + j) % 2) + 0.1 * j for i in range(2)] for j in range(outputs)]]
    biases = [[0.1, -0.2], [0.05 * j for j in range(outputs)]]
    if onehot:
        targets = [[1 if c == t else 0 for c in range(outputs)] for t in targets]
    ex = derive.mlp(inputs=inputs, weights=weights, biases=biases, targets=targets,
                    activation=["tanh", "softmax"], loss="cross_entropy")
    if base is not None:
        ex.notation = {"index_base": base}
    return ex


@pytest.mark.parametrize("target", [0, 1, 2])
def test_one_example_says_how_a_class_index_names_its_entry(target):
    ex = _classifier([0.6, -1.2, 0.3], [target])
    text = ex.to_text()
    assert ("The class index y counts from 0, as in PyTorch, so the probability of class y is entry "
            "y + 1 of p:") in flat(text)
    assert "L = −log(p_(y+1))" in text and "L = −log(p_y)" not in text
    assert "Σ_{j=1..k}" in text
    # the loss line uses entry target (0-based) of p: the class the sentence says
    z = sp.Matrix(ex.value("z2"))
    p = [math.exp(float(v)) for v in z]
    p = [v / sum(p) for v in p]
    assert math.isclose(float(approx(ex.value("L"))), -math.log(p[target]), rel_tol=1e-12)
    loss_line = next(line for line in text.splitlines() if line.strip().startswith("L = CE("))
    shown = float(re.search(r"log\(([0-9.]+)\)", loss_line).group(1))
    assert math.isclose(shown, p[target], rel_tol=1e-3)


def test_zero_based_batch_counts_every_sum_and_subscript_from_0():
    ex = _classifier([[0.6, -1.2, 0.3], [1.0, 0.5, -0.4], [-0.2, 0.8, 0.9], [0.1, 0.0, -0.7]],
                     [2, 0, 1, 1], outputs=3, base=0)
    text = ex.to_text()
    assert "Σ_{j=0..k − 1}" in text and "Σ_{j=1..k}" not in text
    assert "Σ_{b=0..3} log(p_(y_b,b))" in text and "b=1.." not in text
    assert "counts from 0, as the entries of p do" in flat(text)
    latex = ex.to_latex()
    assert r"\sum_{b = 0}^{3}" in latex and r"\sum_{j = 0}^{k - 1}" in latex


def test_one_based_batch_writes_the_shifted_subscript_and_one_hot_targets_need_no_shift():
    ex = _classifier([[0.6, -1.2, 0.3], [1.0, 0.5, -0.4]], [1, 0], outputs=2)
    text = ex.to_text()
    assert "Σ_{b=1..2} log(p_(y_b+1,b))" in text and "entry y_b + 1 of p" in flat(text)
    hot = _classifier([[0.6, -1.2, 0.3], [1.0, 0.5, -0.4]], [1, 0], outputs=2, onehot=True).to_text()
    assert "counts from 0" not in hot and "+1" not in hot.split("The given values")[0]


# -- 3: compare's strength row is judged from the gradients it sits under --

@pytest.mark.parametrize("names,x,w,b,y", [
    ("sigmoid,softplus,gelu", 1.2, -0.8, 0.3, 0.5),
    ("relu,tanh,elu,silu", -1, 2, 1.5, 1),
    ("leaky_relu,identity,sigmoid", 0.5, -1.2, 0.1, 0.3),
])
def test_strength_labels_follow_the_gradient_row(names, x, w, b, y):
    c = derive.compare_activations(names, x=x, w=w, b=b, y=y, lr=0.2)
    grads = [abs(float(approx(r["dL/dw"]))) for r in c.rows]
    top = max(grads)
    order = ["zero", "vanishing", "weak", "moderate", "strong"]
    for r, g in zip(c.rows, grads):
        label, percent = re.fullmatch(r"(\w+) \(([0-9.e+]+)%\)", r["strength"]).groups()
        assert math.isclose(float(percent), 100 * g / top if top else 0, rel_tol=5e-3, abs_tol=1e-9)
        ratio = g / top if top else 0
        expected = ("zero" if ratio == 0 else "vanishing" if ratio < 0.01 else "weak" if ratio < 0.2
                    else "moderate" if ratio < 0.9 else "strong")
        assert label == expected
    ranks = [order.index(r["strength"].split()[0]) for r in c.rows]
    for (g1, r1), (g2, r2) in zip(sorted(zip(grads, ranks)), sorted(zip(grads, ranks))[1:]):
        assert r1 <= r2  # a larger |∂L/∂w| never gets a weaker label
    text = flat(c.to_text())
    assert "gradient strength: |∂L/∂w| ÷ the largest" in text
    assert "|∂L/∂w| ÷ the largest" in text  # the row's label says what it measures


# -- 4: every activation's observation is true at z < 0, z = 0 and z > 0 --

def _torch_slope(name, z, params):
    t = torch.tensor(float(z), dtype=torch.float64, requires_grad=True)
    f = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
         "softplus": torch.nn.functional.softplus, "gelu": torch.nn.functional.gelu,
         "silu": torch.nn.functional.silu, "identity": lambda v: v,
         "leaky_relu": lambda v: torch.nn.functional.leaky_relu(v, float(params[0])),
         "elu": lambda v: torch.nn.functional.elu(v, float(params[0]))}.get(name)
    if f is None:
        return None
    f(t).backward()
    return t.grad.item()


CASES = [(name, alpha) for name in ACTIVATIONS
         for alpha in ([None, "0.01", "0.3", "2"] if ACTIVATIONS[name].parameters else [None])]


@pytest.mark.parametrize("name,alpha", CASES)
@pytest.mark.parametrize("zv", [-2.5, -0.4, 0, 0.7, 3])
def test_every_observation_is_true(name, zv, alpha):
    spec = ACTIVATIONS[name]
    call = f"{name}(z, {alpha})" if alpha is not None else f"{name}(z)"
    ex = derive.Example.from_equations(f"z = w*x + b\na = {call}\nL = (a - y)**2",
                                       values={"w": 1, "x": 1, "b": zv, "y": -0.5}, lr=0.1)
    d = ex.derivation()
    [(_, app, _, z, local)] = activation_facts(ex, d)
    params = [d.at(a) for a in app.args[1:]] or list(spec.defaults)
    slope = _torch_slope(name, z, params)
    if slope is not None:
        assert math.isclose(float(approx(local)), slope, rel_tol=1e-9, abs_tol=1e-12)
    size = abs(float(approx(local)))
    for sentence in observations(ex, d):
        text = said(sentence)
        if spec.unicode not in text:
            continue
        assert ("inactive" in text) == (size == 0), text
        little, small = float(LITTLE_FACTOR), float(SMALL_LOCAL_GRADIENT)
        assert ("little gradient" in text) == (0 < size < little and spec.gates), text
        assert ("full strength" in text) <= (size >= 1), text
        assert ("saturated" in text) <= (size < small), text
        assert ("scaled by that factor" in text) <= (little <= size < 1), text
        assert ("active for this input" in text and "inactive" not in text) <= bool(z > 0), text
        assert "by convention" not in text  # stated once, with the definition
    for line in ex.to_text().splitlines():  # the step reasons too
        if "inactive" in line:
            assert size == 0, line


def test_quoted_elu_example_is_no_longer_inactive():
    ex = derive.neuron(x=0.5, w=-1.2, b=0.1, y=0.3, activation="elu")
    text = flat(ex.to_text())
    assert "inactive" not in text and "little gradient" not in text
    assert "ELU is on its negative side for this input (z = −0.5 < 0)" in text
    assert "scaled by that factor" in text


# -- 11: the gate's slope as written, a dot before the indicator, the convention once --

@pytest.mark.parametrize("alpha,shown,dot", [("0.2", "0.2", "0.2·𝟙[z ≤ 0]"), ("0.25", "0.25", "¼·𝟙[z ≤ 0]"),
                                             ("1/3", "1/3", "⅓·𝟙[z ≤ 0]"), ("0.01", "0.01", "0.01·𝟙[z ≤ 0]")])
@pytest.mark.parametrize("xv", [3, -2])
def test_leaky_slope_printed_as_given_with_a_dot(alpha, shown, dot, xv):
    ex = derive.Example.from_equations(f"z = w*x + b\na = leaky_relu(z, {alpha})\nL = (a - y)**2",
                                       values={"w": -1.4, "x": xv, "b": 0, "y": 1.5}, lr=0.1)
    text = flat(ex.to_text())
    assert f"here α = {shown}:" in text
    assert f"LeakyReLU(z, {shown})" in text
    assert dot in text
    assert text.count("LeakyReLU'(0) = α") == 1  # the convention stated once on the page
    latex = ex.to_latex()
    if "/" not in shown:
        assert f"{shown} \\cdot \\mathbf{{1}}" in latex and f"LeakyReLU}}(z, {shown})" in latex


def test_homework_pages_state_the_convention_once(tmp_path):
    spec = tmp_path / "hw.yaml"
    spec.write_text("title: A leaky neuron\nequations: |\n  z = w*x + b\n  a = leaky_relu(z, 0.2)\n"
                    "  L = squared_error(a, y)\nvalues: {y: 1.5, x: 2}\nrandom:\n  w: {integers: [-3, 3], exclude: [0]}\n"
                    "  b: {choice: [-0.5, 0, 0.5]}\nlr: 0.1\n")
    from derive.courseware.homework import generate
    from derive.model.spec import load_spec
    generate(load_spec(spec), variants=2, seed=3, out=tmp_path / "hw", formats=("text",), jobs=1)
    for page in ("problems.txt", "solutions.txt"):
        text = flat((tmp_path / "hw" / page).read_text())
        assert "⅕" not in text and "1/5" not in text, page
        assert text.count("LeakyReLU'(0) = α") == 1, page  # once per document, not per variant
    assert "0.2·𝟙[z ≤ 0]" in flat((tmp_path / "hw" / "solutions.txt").read_text())


# -- 14: "summed over outputs" only with several outputs --

@pytest.mark.parametrize("loss", ["squared_error", "half_squared_error", "absolute_error", "mse"])
def test_summed_over_outputs_only_with_several(loss):
    one = derive.neuron(x=[1, -2], w=[0.5, 0.25], b=0.1, y=0.3, activation="tanh", loss=loss).to_text()
    line = next(l for l in one.splitlines() if l.startswith("The loss is"))
    assert "over outputs" not in line
    two = derive.mlp(inputs=[1, 2], weights=[[[0.1, 0.2], [0.3, -0.1]]], biases=[[0, 0]],
                     targets=[1, 0], activation="sigmoid", loss=loss).to_text()
    line = next(l for l in two.splitlines() if l.startswith("The loss is"))
    assert "over outputs" in line


# -- 15: a one-output loss handed a matrix target says what to write --

W = [[0.1, 0.2], [0.3, -0.4]]
X = [[1, 2, -3], [0, 1, -1]]
B = [0.5, -1]
Y = [[1, 0, 1], [0, 1, 0]]


@pytest.mark.parametrize("loss,torch_loss", [
    ("mse", lambda a, y: torch.nn.functional.mse_loss(a, y)),
    ("binary_cross_entropy", lambda a, y: torch.nn.functional.binary_cross_entropy(a, y)),
    ("squared_error", lambda a, y: ((a - y) ** 2).sum()),
    ("half_squared_error", lambda a, y: 0.5 * ((a - y) ** 2).sum()),
    ("absolute_error", lambda a, y: torch.nn.functional.l1_loss(a, y)),
])
def test_matrix_target_error_offers_the_spelling_that_works(loss, torch_loss):
    values = {"W": W, "X": X, "b": B, "Y": Y}
    with pytest.raises(DeriveError) as err:
        derive.Example.from_equations(f"z = W @ X + b\na = sigmoid(z)\nL = {loss}(a, Y)", values=values)
    message = str(err.value)
    assert f"`{loss}`" in message and "`Y` is a 2×3 matrix" in message
    fix = re.search(r"write `([^`]+)`", message).group(1)
    ex = derive.Example.from_equations(f"z = W @ X + b\na = sigmoid(z)\nL = {fix}", values=values)
    Wt = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    a = torch.sigmoid(Wt @ torch.tensor(X, dtype=torch.float64) + torch.tensor(B, dtype=torch.float64)[:, None])
    L = torch_loss(a, torch.tensor(Y, dtype=torch.float64))
    L.backward()
    assert math.isclose(float(approx(ex.value("L"))), L.item(), rel_tol=1e-10)
    got = [float(approx(v)) for v in sp.Matrix(ex.grad("W"))]
    assert got == pytest.approx(Wt.grad.flatten().tolist(), rel=1e-9, abs=1e-12)
