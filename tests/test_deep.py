"""Deep networks: the conversation's chain, the 2-2-2 network against sympy.diff and PyTorch,
random MLPs against PyTorch, and the generalisation derived symbolically."""
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import derive
from derive.solutions.deep import general_rule, sigmoid_derivative_maximum
from tests.reference import composed, elementary, torch_gradients

NET = dict(inputs=["0.05", "0.10"], weights=[[["0.15", "0.20"], ["0.25", "0.30"]], [["0.40", "0.45"], ["0.50", "0.55"]]],
           biases=[["0.35", "0.35"], ["0.60", "0.60"]], targets=["0.01", "0.99"])


def test_the_conversations_chain():
    ex = derive.chain(depth=3, weight=5, x=1, activation="relu", loss="half_squared_error", y=0)
    assert ex.value("a3") == 125 and ex.value("L") == sp.Rational(15625, 2)
    assert ex.grad("w1") == 3125 and ex.grad("a3") == 125
    assert derive.chain(depth=10, weight=5, x=1, activation="relu", loss="half_squared_error", y=0).grad("w1") == 5**19


def test_chain_with_lists_and_biases():
    ex = derive.chain(depth=2, weight=[2, 3], x=1, bias=[1, -1], activation="relu", y=0)
    # z1 = 2*1 + 1 = 3, a1 = 3, z2 = 3*3 - 1 = 8, L = 32, dL/dw1 = 8 * 3 * 1 = 24
    assert ex.value("L") == 32 and ex.grad("w1") == 24 and ex.grad("b2") == 8


def test_generalisation_is_derived():
    k, D, x, weights_product = general_rule()
    assert sp.simplify(weights_product - k ** (D - 1)) == 0
    critical, maximum = sigmoid_derivative_maximum()
    assert critical == [0] and maximum == sp.Rational(1, 4)


def test_chain_document_elides_long_products():
    text = derive.chain(depth=40, weight="1.1", activation="relu").to_text()
    assert "…" in text and "⋮" in text and "product of 81 local derivatives" in text
    assert "vanishing" in text and "exploding" in text and "stable" in text


def test_2_2_2_network_matches_sympy_diff_and_torch():
    ex = derive.mlp(**NET, activation="sigmoid", loss="half_squared_error", lr="0.5")
    formula = elementary(composed(ex))
    subs = {ex.graph.symbols[n]: ex.evaluation.values[n] for n in ex.inputs}
    _, torch_grads = torch_gradients(ex)
    for p in ex.params:
        exact = float(sp.N(ex.grad(p), 30))
        reference = float(sp.N(sp.diff(formula, ex.graph.symbols[p]).xreplace(subs), 30))
        assert abs(exact - reference) <= 1e-12 * max(1, abs(reference))
        assert abs(exact - torch_grads[p]) <= 1e-12 * max(1, abs(exact))
        update = float(sp.N(ex.update(p), 30))
        assert abs(update - (float(ex.evaluation.values[p]) - 0.5 * torch_grads[p])) <= 1e-12
    # Matt Mazur's well-known numbers for this network
    assert abs(float(ex.update("w2_1_1")) - 0.35891648) < 1e-8
    assert abs(float(ex.update("w1_1_1")) - 0.149780716) < 1e-9


@st.composite
def networks(draw):
    layers = draw(st.integers(1, 3))
    widths = [draw(st.integers(1, 4)) for _ in range(layers + 1)]
    value = st.sampled_from([sp.Rational(p, 10) for p in range(-12, 13) if p])
    weights = [[[draw(value) for _ in range(widths[l])] for _ in range(widths[l + 1])] for l in range(layers)]
    biases = [[draw(value) for _ in range(widths[l + 1])] for l in range(layers)]
    acts = [draw(st.sampled_from(["sigmoid", "tanh", "softplus", "silu", "gelu", "elu", "identity", "leaky_relu"]))
            for _ in range(layers)]
    inputs = [draw(value) for _ in range(widths[0])]
    targets = [draw(value) for _ in range(widths[-1])]
    loss = draw(st.sampled_from(["half_squared_error", "squared_error", "mse", "absolute_error"]))
    return inputs, weights, biases, targets, acts, loss


@settings(max_examples=40, deadline=None, derandomize=True)
@given(networks())
def test_random_mlps_match_torch(net):
    inputs, weights, biases, targets, acts, loss = net
    ex = derive.mlp(inputs, weights, biases, targets, activation=acts, loss=loss)
    _, torch_grads = torch_gradients(ex)
    for p in ex.params:
        exact = float(sp.N(ex.grad(p), 25))
        assert abs(exact - torch_grads[p]) <= 1e-10 * max(1, abs(exact)), (p, exact, torch_grads[p])
