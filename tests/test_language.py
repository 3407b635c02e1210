"""The equation language beyond activations: losses callable in equations, n-ary max/min, where,
sin/cos/logsumexp, λ as a name; and at every kink or tie, derive's convention, its stated
justification and its PyTorch export agree with PyTorch float64."""
import json
import subprocess
import sys

import pytest
import sympy as sp

from derive import DeriveError, Example
from derive.core.functions import FUNCTIONS
from derive.core.losses import LOSSES
from tests.reference import torch_gradients


def _export(ex) -> dict:
    """Run the example's own PyTorch export; its JSON output."""
    run = subprocess.run([sys.executable, "-c", ex.to_pytorch()], capture_output=True, text=True,
                         check=True)
    return json.loads(run.stdout)


def _agree(ex, expected: dict | None = None, untracked=()):
    """derive's exact gradients == torch float64 (independent evaluation) == the export.
    ``untracked``: inputs PyTorch's built-in takes as a plain float (huber's δ): not compared."""
    _, reference = torch_gradients(ex)
    exported = _export(ex)["gradients"]
    for name in ex.inputs:
        exact = float(ex.grad(name))
        if name not in untracked:
            assert abs(exact - reference[name]) <= 1e-12 * max(1, abs(exact)), (name, exact, reference[name])
        assert abs(exact - exported[name]) <= 1e-12 * max(1, abs(exact)), (name, exact, exported[name])
        if expected and name in expected:
            assert ex.grad(name) == expected[name], (name, ex.grad(name))


def test_every_registry_loss_is_callable_in_equations():
    from derive.core.tensor import TENSOR_FUNCTIONS
    for name in LOSSES:  # scalar losses here; cross_entropy over vectors is the tensor language's
        assert (name in FUNCTIONS and FUNCTIONS[name].kind == "loss") or name in TENSOR_FUNCTIONS, name


@pytest.mark.parametrize("name", sorted(n for n in LOSSES if n in FUNCTIONS))
def test_every_scalar_loss_agrees_with_its_written_formula_and_torch(name):
    assert FUNCTIONS[name].kind == "loss"
    ex = Example.from_equations(f"a = sigmoid(w*x)\nL = {name}(a, y)",
                                values={"w": "-0.7", "x": 2, "y": 1})
    # the same loss written out by the builders' registry gives the same gradient
    written = Example.from_equations(f"a = sigmoid(w*x)\nL = {LOSSES[name].equation(['a'], ['y'])}",
                                     values={"w": "-0.7", "x": 2, "y": 1})
    assert sp.N(ex.grad("w") - written.grad("w"), 40) == 0
    _agree(ex)


@pytest.mark.parametrize("text, values, expected", [
    ("m = max(x1, x2, x3, x4)\nL = 3*m", {"x1": 7, "x2": 7, "x3": 7, "x4": 7}, {"x1": sp.Rational(3, 4)}),
    # a 4-way tie among three arguments: each gets 1/3 (torch.amax), the fourth nothing
    ("m = max(x1, x2, x3, x4)\nL = 3*m", {"x1": 2, "x2": 5, "x3": 5, "x4": 5}, {"x1": 0, "x2": 1, "x3": 1}),
    ("m = max(x1, x2)\nL = 4*m", {"x1": -1, "x2": -1}, {"x1": 2, "x2": 2}),
    ("m = min(x1, x2, x3)\nL = m", {"x1": 0, "x2": 0, "x3": 1}, {"x1": sp.Rational(1, 2), "x3": 0}),
    ("m = max(relu(x1), x2, 0)\nL = m*m", {"x1": -2, "x2": 1}, {"x1": 0, "x2": 2}),
    # max pooling's convention: the first maximal entry gets everything (F.max_pool1d)
    ("m = pool_max(x1, x2, x3, x4)\nL = 3*m", {"x1": 2, "x2": 5, "x3": 5, "x4": 5}, {"x2": 3, "x3": 0}),
    ("L = hinge(y, w*x)", {"y": -1, "w": 1, "x": -1}, {"w": -1, "x": 1}),  # at the margin
    ("L = hinge(y, w*x)", {"y": 1, "w": 2, "x": 1}, {"w": 0}),
    ("L = absolute_error(w*x, y)", {"w": 3, "x": 1, "y": 3}, {"w": 0}),
    ("L = huber(w*x - y, delta)", {"w": 2, "x": 1, "y": 1, "delta": 1}, {"w": 1}),  # |r| = δ
    ("L = huber(w*x - y, delta)", {"w": -3, "x": 1, "y": 1, "delta": 1}, {"w": -1}),
    ("u = where(x > 0, w*x, 0.1*w*x)\nL = u*u", {"x": 0, "w": 2}, {"w": 0}),  # boundary: branch b
    ("u = where(x >= 1, w*x, 0)\nL = (u - 1)**2", {"x": 1, "w": 3}, {"w": 4}),
])
def test_kinks_and_ties_agree_with_torch_and_the_export(text, values, expected):
    ex = Example.from_equations(text, values=values)
    _agree(ex, expected, untracked=("delta",))


def test_a_tie_is_justified_by_the_registry_convention():
    ex = Example.from_equations("m = max(x1, x2, x3, x4)\nL = 2*m", values={"x1": 1, "x2": 3, "x3": 3, "x4": 0})
    tied = ex.evaluation.local("m", "x2")
    assert tied.at_kink and tied.value == sp.Rational(1, 2)
    (sentence,) = tied.justification
    assert FUNCTIONS["max"].convention in sentence.template and "each gets 1/2" in sentence.template
    loser = ex.evaluation.local("m", "x1").justification[0]
    assert "not the maximum and gets no gradient" in loser.template
    assert "torch.amax" in FUNCTIONS["max"].torch  # the export follows the same convention
    text = ex.to_text()
    assert "since x1 = 1 < 3, this argument is not the maximum" in text
    assert "∂m/∂x1 = 𝟙[x1 ≥ x2, x1 ≥ x3, x1 ≥ x4]" in text
    focused = Example.from_equations("m = max(x1, x2, x3, x4)\nL = 2*m", params=["x2"],
                                     values={"x1": 1, "x2": 3, "x3": 3, "x4": 0}).to_text()
    assert "2 arguments tie for the maximum 3; by convention tied arguments share" in focused


def test_hinge_at_the_margin_states_its_convention():
    ex = Example.from_equations("L = hinge(y, s)", values={"y": 1, "s": 1})
    step = ex.evaluation.local("L", "s")
    assert step.at_kink and step.value == -1
    assert FUNCTIONS["hinge"].convention in step.justification[0].template


def test_where_names_the_branch_that_gets_the_gradient():
    ex = Example.from_equations("u = where(x > 0, w*x, 0)\nL = u", values={"x": -1, "w": 2})
    text = ex.to_text()
    assert "u = where(x > 0, wx, 0)" in text or "u = where(x > 0, w · x, 0)" in text
    assert "x > 0 does not hold, so the gradient flows only into the second branch" in text
    assert ex.grad("w") == 0


def test_logsumexp_sin_cos_values_and_gradients():
    ex = Example.from_equations("u = logsumexp(a, b, c)\nL = sin(u) + cos(a)", values={"a": 1, "b": 0, "c": -1})
    u = sp.log(sp.E + 1 + sp.exp(-1))
    assert sp.N(ex.value("u") - u, 50) == 0
    assert sp.N(ex.grad("b") - sp.cos(u) / (sp.E + 1 + sp.exp(-1)), 50) == 0
    _agree(ex)


def test_lambda_is_a_name_printed_greek():
    ex = Example.from_equations("L = (w*x - y)**2 + lambda*w**2", values={"w": 1, "x": 2, "y": 1, "lambda": "0.1"})
    assert ex.grad("w") == sp.Rational(21, 5)
    assert "λ" in ex.to_text() and "\\lambda" in ex.to_latex()
    assert "lambda" not in ex.to_text().replace("lambda", "", 0) or "λ" in ex.to_text()
    _agree(ex)


@pytest.mark.parametrize("name, greek, latex", [("alpha", "α", "\\alpha"), ("gamma", "γ", "\\gamma"),
                                                 ("beta", "β", "\\beta"), ("mu", "μ", "\\mu"),
                                                 ("lambda", "λ", "\\lambda")])
def test_greek_names_print_as_greek(name, greek, latex):
    ex = Example.from_equations(f"L = {name}*w", values={name: 2, "w": 3})
    assert f"L = {greek}" in ex.to_text() and latex in ex.to_latex()


def test_other_keywords_are_still_refused():
    with pytest.raises(DeriveError, match="`import` is a Python keyword"):
        Example.from_equations("L = import*2")


def test_why_bullet_losses_max_lambda_and_the_tie_export():
    """Issue 12, "Why": `L = binary_cross_entropy(a, y)` was an unknown function, max/min took two
    arguments, `lambda` was refused, and at a max tie derive gave the first argument everything
    while its own export (torch.maximum) split it."""
    bce = Example.from_equations("a = sigmoid(z)\nL = binary_cross_entropy(a, y)", values={"z": 0, "y": 1})
    assert bce.grad("z") == -sp.Rational(1, 2)  # a − y at σ(0) = 1/2
    assert Example.from_equations("m = max(a, b, c)\nn = min(a, b, c)",
                                  values={"a": 1, "b": 3, "c": 2}).value("m") == 3
    assert Example.from_equations("L = lambda*w", values={"lambda": 2, "w": 5}).grad("w") == 2
    tie = Example.from_equations("m = max(p, q)\nL = m", values={"p": 2, "q": 2})
    assert tie.grad("p") == tie.grad("q") == sp.Rational(1, 2)
    exported = _export(tie)["gradients"]
    assert exported == {"p": 0.5, "q": 0.5}
