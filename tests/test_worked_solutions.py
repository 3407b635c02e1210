"""Issue 12, one test per "Why" bullet (items 1, 2, 3, 7) on its exact example: the words around
the numbers are right for any graph, not only the conversation's."""
import pytest

import derive
from derive import Example


def test_observation_quotes_the_activations_own_derivative_at_its_input():
    """`a = sigmoid(w*x + b)` at x = 0.01, w = 1, b = 0: σ'(0.01) ≈ 0.25, not "b + wx ≈ 0.0025"."""
    ex = Example.from_equations("a = sigmoid(w*x + b)\nL = (a - y)**2",
                               values={"x": "0.01", "w": 1, "b": 0, "y": 1})
    text = ex.to_text()
    obs = text[text.index("Observations"):]
    # 0.24999, as ∂a/∂b shows it: (−0.9950) · 0.2500 would end on a tie, not on −0.2487
    assert "σ's local derivative at b + wx = 0.01 is σ'(b + wx) ≈ 0.24999" in obs
    assert "∂L/∂b = (−0.9950) · 0.24999 ≈ −0.2487" in text
    assert "0.0025" not in obs and "saturated" not in obs


def test_observation_at_z_1_is_sigma_prime_of_1():
    """At z = 1 the local derivative is σ'(1) ≈ 0.1966 (never 1.966)."""
    ex = derive.neuron(x=1, w=1, b=0, y=0, activation="sigmoid")
    obs = ex.to_text().split("Observations")[1]
    assert "σ'(z) ≈ 0.1966" in obs and "1.966" not in obs


def test_l2_term_total_and_direct_partial_never_share_a_symbol():
    ex = Example.from_equations("z = w1*x + b\na = sigmoid(z)\nL = (a - y)**2 + lam*w1**2/2",
                               values={"x": "-0.9", "w1": 1, "b": 0, "y": 1, "lam": "0.1"}, lr="0.1")
    text = ex.to_text()
    assert "∂L/∂w1|direct = lam · w1 = 0.1 · 1 = 0.1" in text
    assert "∂L/∂w1 = 0.2630 + 0.1 ≈ 0.3630" in text
    d = ex.to_text(notation={"total": "d"})
    assert "∂L/∂w1 = lam · w1 = 0.1 · 1 = 0.1" in d and "dL/dw1 = 0.2630 + 0.1 ≈ 0.3630" in d
    assert "Notation: dL/dw1 is the total derivative" in d
    latex = ex.to_latex(notation={"total": "d"})
    assert r"\frac{dL}{dw_{1}}" in latex
    assert r"\mathrm{lam} \cdot w_{1}" in latex  # a visible product, not "lamw1"


def test_notation_preset_is_checked():
    ex = derive.neuron(x=2, w=3, b=1, y=5)
    with pytest.raises(derive.DeriveError, match="unknown notation setting 'totl'"):
        ex.to_text(notation={"totl": "d"})
    with pytest.raises(derive.DeriveError, match="notation total must be one of"):
        ex.to_text(notation={"total": "D"})


def test_notation_from_a_spec(tmp_path):
    from derive.model.spec import example_from_spec, load_spec
    spec = tmp_path / "s.yaml"
    spec.write_text("equations: |\n  z = w*x + b\n  L = (z - y)**2\nvalues: {x: 2, w: 3, b: 1, y: 5}\n"
                    "notation: {total: d}\n", encoding="utf-8")
    assert "dL/dw = ∂L/∂z · ∂z/∂w" in example_from_spec(load_spec(spec)).to_text()


def test_mlp_document_never_prints_dL_dL_and_works_every_parameter():
    from derive.courseware.demo import NETWORK_222
    ex = derive.mlp(**NETWORK_222, activation="sigmoid", loss="half_squared_error", lr="0.5")
    text = ex.to_text()
    assert "∂L/∂L" not in text
    # every parameter from its δ (computed once, above) and its input
    assert "∂L/∂w2_2_1 = δ2_2 · a1_1 = (−0.03810) · 0.5933 ≈ −0.02260" in text
    assert "∂L/∂b1_2 = δ1_2 ≈ 0.009954" in text


def test_every_parameter_in_full_with_shared_factors_referred_to():
    ex = Example.from_equations("z = w1*x1 + w2*x2 + b\na = tanh(z)\nL = (a - y)**2",
                                values={"x1": 1, "x2": 2, "w1": "0.5", "w2": "-0.25", "b": "0.1", "y": 1},
                                lr="0.1")
    text = ex.to_text()
    rest = text[text.index("Gradients of every parameter"):]
    # w2: the shared ∂L/∂z is computed once from the factors above …
    assert "w2 reaches L through z, whose gradient follows from the factors above:" in rest
    assert "∂L/∂z = ∂L/∂a · ∂a/∂z = (−1.801) · 0.9901 ≈ −1.783" in rest
    assert "∂z/∂w2 = x2 = 2" in rest and "(z is linear in w2; its coefficient is the derivative)" in rest
    # … and b refers to it instead of recomputing it
    assert "b reaches L through z; ∂L/∂z ≈ −1.783 from above:" in rest
    assert rest.count("∂L/∂z = ∂L/∂a · ∂a/∂z") == 1


def test_ask_orders_the_parameters_worked(tmp_path):
    from derive.model.spec import example_from_spec, load_spec
    spec = tmp_path / "s.yaml"
    spec.write_text("equations: |\n  z = w*x + b\n  a = relu(z)\n  L = (a - y)**2\n"
                    "values: {x: 2, w: 3, b: 1, y: 5}\nask: [\"dL/db\"]\n", encoding="utf-8")
    text = example_from_spec(load_spec(spec)).to_text()
    assert "∂L/∂b = ∂L/∂z · ∂z/∂b" in text


def test_tanh_chain_does_not_carry_the_conversations_relu_prose():
    text = derive.chain(depth=3, weight="0.5", x=1, activation="tanh", loss="squared_error", y=1).to_text()
    assert "ReLU" not in text and "half squared error" not in text and "sigmoid" not in text
    assert "tanh' is at most 1 everywhere" in text


def test_relu_chain_keeps_its_generalisation_only_where_it_holds():
    conv = derive.chain(depth=3, weight=5, x=1, activation="relu", loss="half_squared_error", y=0).to_text()
    assert "Here the loss's own factor is ∂L/∂a_D = a_D" in conv
    other = derive.chain(depth=3, weight=5, x=1, activation="relu", loss="squared_error", y=1).to_text()
    assert "loss's own factor" not in other and "every ReLU unit is active" in other


def test_variance_for_sigmoid_is_about_sigmoid():
    from derive.initialization.variance import variance_derivation
    h = variance_derivation("sigmoid")
    assert h.content.title == "Why Glorot (Xavier) initialisation: the variance of sigmoid layers, derived"
    text = " ".join(h.to_text().split())
    assert ("For sigmoid with the Glorot (Xavier), normal scheme: Var[w] = 2/(n_in + n_out); the argument "
            "above for σ layers gives Var[w] = 32/(n_in + n_out).") in text
    assert "ReLU layers" not in text and "Step 2: what σ does to the second moment" in text


# --- display (item 7) ---------------------------------------------------------------------------


def test_no_doubled_parentheses_around_a_negative_argument():
    ex = Example.from_equations("a = sigmoid(z)\nL = a", values={"z": "-0.9"})
    assert "σ(−0.9)" in ex.to_text() and "σ((−0.9))" not in ex.to_text()
    assert r"\sigma(-0.9)" in ex.to_latex() and r"\sigma(\left(-0.9\right))" not in ex.to_latex()


def test_indexed_update_names():
    ex = Example.from_equations("L = (w1*x - y)**2", values={"w1": 1, "x": 2, "y": 1}, lr="0.1")
    latex = ex.to_latex()
    assert r"w_{1}^{(\mathrm{new})}" in latex and r"w1\_new" not in latex
    from derive.rendering.printing import latex_name
    assert latex_name("w1_2_1_new") == r"{w^{(1)}_{2,1}}^{(\mathrm{new})}"


def test_no_repeated_member_in_a_chain():
    ex = Example.from_equations("y = 40*x", values={"x": 1})
    text = ex.to_text()
    assert "∂y/∂x = 40" in text and "= 40 = 40" not in text


def test_one_citation_per_rule():
    ex = Example.from_equations("L = relu(z) + relu(z)", values={"z": 2})
    step = [l for l in ex.to_text().splitlines() if "unit is active" in l][0]
    assert step.count("unit is active") == 1


def test_plurals():
    ex = Example.from_equations("L = 2*x", values={"x": 1})
    assert "1 value>" in repr(ex) and "1 node," in repr(ex)
    report = ex.check({"L": 2})
    assert "The step earns credit." in report.to_text()
    assert "The step earns no credit." in ex.check({"L": 3}).to_text()
    assert "1 of 2 steps earn credit." in ex.check({"L": 2, "dL/dx": 3}).to_text()


@pytest.mark.parametrize("precision, shown", [(4, "1.000"), (2, "1.0"), (1, "1")])
def test_precision_is_significant_figures_with_trailing_zeros(precision, shown):
    """σ(20) = 0.999999998 at N significant figures keeps its zeros."""
    ex = Example.from_equations("a = sigmoid(z)\nL = a", values={"z": 20})
    assert f"≈ {shown}" in ex.to_text(precision=precision)
    assert f"\\approx {shown}" in ex.to_latex(precision=precision)
