"""The engine: the conversation's numbers (as corrected in NOTES.md), fan-out, staging, number
semantics, kinks, undefined math, depth."""
from fractions import Fraction

import pytest
import sympy as sp

import derive
from derive import DeriveError, Example


def test_relu_neuron_matches_the_conversation():
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", loss="squared_error", lr=0.1)
    assert [ex.value(n) for n in ("z", "a", "L")] == [7, 7, 4]
    assert ex.grad("a") == 4                      # dL/da = 2(a - y)
    assert ex.evaluation.local("a", "z").value == 1
    assert ex.evaluation.local("z", "w").value == 2
    assert ex.grad("w") == 8
    assert ex.update("w") == sp.Rational(11, 5)
    assert ex.grad("b") == 4 and ex.update("b") == sp.Rational(3, 5)


def test_sigmoid_neuron_is_exact_not_the_conversations_rounding():
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid", lr=0.1)
    s = 1 / (1 + sp.exp(-7))
    assert ex.value("a") == s
    assert sp.simplify(ex.grad("w") - 2 * (s - 5) * s * (1 - s) * 2) == 0
    assert abs(float(ex.grad("w")) - (-0.0145669)) < 5e-8
    assert abs(float(ex.update("w")) - 3.0014567) < 5e-8
    local = float(ex.evaluation.local("a", "z").value)
    assert abs(local - 0.00091022) < 1e-8 and abs(local - 0.000999) > 8e-5


def test_fan_out_sums_over_every_path():
    text = "z = 2*x + 2 + x\nq = relu(z) + z*x\nh = relu(z*z)\ny = h + q + q*x"
    ex = Example.from_equations(text, values={"x": -4})
    assert ex.value("y") == -20
    assert ex.grad("x") == 46
    paths = ex.derivation("x").paths
    assert sorted(p.value for p in paths) == [-60, 30, 36, 40]
    assert sum(p.value for p in paths) == 46


def test_grad_of_an_intermediate_and_with_respect_to_one():
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu")
    assert ex.grad("z") == 4
    assert ex.grad("w", of="z") == 2
    assert ex.grad("w", of="a") == 2
    assert ex.grad("y", of="z") == 0  # z does not depend on y


def test_symbolic_derivation_without_values():
    ex = derive.neuron(activation="relu")
    a, y, x, z = (ex.graph.symbols[n] for n in "ayxz")
    expected = 2 * (a - y) * derive.core.functions.Indicator(z > 0) * x
    assert sp.expand(ex.grad("w") - expected) == 0


def test_from_expr_stages_cs231n_style():
    ex = Example.from_expr("1/(1 + exp(-(w0*x0 + w1*x1 + w2)))",
                           values=dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3))
    assert ex.nodes == ["u1", "u2", "u3", "u4", "f"]
    assert ex.value("u1") == 1 and ex.value("f") == 1 / (1 + sp.exp(-1))
    grads = {n: float(ex.grad(n)) for n in ("w0", "x0", "w1", "x1", "w2")}
    expected = {"w0": -0.19661, "x0": 0.39322, "w1": -0.39322, "x1": -0.58984, "w2": 0.19661}
    for k, v in expected.items():
        assert abs(grads[k] - v) < 1e-5


@pytest.mark.parametrize("given, exact", [
    (0.1, sp.Rational(1, 10)), ("0.15", sp.Rational(3, 20)), (Fraction(3, 20), sp.Rational(3, 20)),
    (7, sp.Integer(7)), ("1/3", sp.Rational(1, 3)), (2.5e-3, sp.Rational(1, 400)),
])
def test_numbers_are_exact(given, exact):
    ex = Example.from_equations("f = 2*x", values={"x": given})
    assert ex.value("x") == exact and ex.value("f") == 2 * exact


def test_float_lr_is_the_decimal_it_prints_as():
    ex = derive.neuron(x=2, w=3, b=1, y=5, lr=0.1)
    assert ex.lr == sp.Rational(1, 10)


@pytest.mark.parametrize("text, values, wrt, expected, word", [
    ("a = relu(z)", {"z": 0}, "z", 0, "ReLU'(0) = 0"),
    ("a = abs(z)", {"z": 0}, "z", 0, "|x|'(0) = 0"),
    ("a = max(p, q)", {"p": 2, "q": 2}, "p", sp.Rational(1, 2), "share the gradient equally"),
    ("a = max(p, q)", {"p": 2, "q": 2}, "q", sp.Rational(1, 2), "share the gradient equally"),
    ("a = max(p, q, r, s)", {"p": 2, "q": 5, "r": 5, "s": 5}, "q", sp.Rational(1, 3), "torch.amax"),
    ("a = max(p, q, r, s)", {"p": 2, "q": 5, "r": 5, "s": 5}, "p", 0, "not the maximum"),
    ("a = min(p, q, r)", {"p": -1, "q": -1, "r": 0}, "p", sp.Rational(1, 2), "torch.amin"),
    ("a = hinge(y, s)", {"y": -1, "s": -1}, "s", 1, "hinge_embedding_loss"),
    ("a = absolute_error(p, q)", {"p": 3, "q": 3}, "p", 0, "sign(0) = 0"),
    ("a = leaky_relu(z, 0.1)", {"z": 0}, "z", sp.Rational(1, 10), "LeakyReLU'(0) = α"),
])
def test_kinks_use_the_convention_and_say_so(text, values, wrt, expected, word):
    ex = Example.from_equations(text, values=values)
    assert ex.grad(wrt) == expected
    step = ex.evaluation.local("a", wrt)
    assert step.at_kink
    assert any(word in s.template for s in step.justification)


@pytest.mark.parametrize("text, values, words", [
    ("z = w*x\nL = log(z)", {"w": 0, "x": 1}, ["line 2", "L = log(z)", "log of 0"]),
    ("z = w - x\nL = log(z)", {"w": 1, "x": 3}, ["line 2", "log of a negative number"]),
    ("q = 1/(x - 2)", {"x": 2}, ["line 1", "division by zero"]),
    ("r = sqrt(x)", {"x": -4}, ["line 1", "square root of a negative number"]),
])
def test_undefined_math_names_the_node_and_line(text, values, words):
    with pytest.raises(DeriveError) as err:
        Example.from_equations(text, values=values)
    for w in words:
        assert w in str(err.value)


def test_undefined_derivative_is_reported():
    ex = Example.from_equations("r = sqrt(x)", values={"x": 0})
    assert ex.value("r") == 0
    with pytest.raises(DeriveError, match="derivative of `r = sqrt\\(x\\)`.*division by zero"):
        ex.grad("x")


def test_missing_and_unknown_values():
    with pytest.raises(DeriveError, match="missing value\\(s\\) for b"):
        Example.from_equations("z = w*x + b", values={"w": 1, "x": 2})
    with pytest.raises(DeriveError, match="unknown name"):
        Example.from_equations("z = w*x", values={"w": 1, "x": 2, "q": 3})
    with pytest.raises(DeriveError, match="computed on line 1"):
        Example.from_equations("z = w*x", values={"w": 1, "x": 2, "z": 3})


def test_deep_relu_chain_has_no_recursion_limit():
    depth = 1200
    lines = ["a0 = x"] + [f"a{i} = relu(w{i}*a{i-1})" for i in range(1, depth + 1)]
    lines.append(f"L = 1/2*(a{depth} - y)**2")
    values = {"x": 1, "y": 0, **{f"w{i}": 1 for i in range(1, depth + 1)}}
    ex = Example.from_equations("\n".join(lines), values=values)
    assert ex.grad("w1") == 1 and ex.value("L") == sp.Rational(1, 2)


def test_deep_sigmoid_chain_is_exact_and_finite():
    depth = 200
    lines = [f"a{i} = sigmoid(w{i}*{'x' if i == 1 else f'a{i-1}'})" for i in range(1, depth + 1)]
    lines.append(f"L = 1/2*(a{depth} - y)**2")
    values = {"x": 1, "y": 0, **{f"w{i}": "1.5" for i in range(1, depth + 1)}}
    ex = Example.from_equations("\n".join(lines), values=values)
    g = ex.grad("w1")
    # finite difference on the exact engine, with w1 moved by ±h
    h = sp.Rational(1, 10**8)
    up = Example.from_equations("\n".join(lines), values={**values, "w1": sp.Rational(3, 2) + h})
    dn = Example.from_equations("\n".join(lines), values={**values, "w1": sp.Rational(3, 2) - h})
    fd = (float(sp.Float(up.value("L").evalf(30), 30)) - float(sp.Float(dn.value("L").evalf(30), 30))) / float(2 * h)
    assert abs(float(g) - fd) <= 1e-6 * max(1e-300, abs(fd)) + 1e-30


def test_determinism_of_order():
    ex = Example.from_equations("b2 = x*x\nb1 = x + 1\nf = b1*b2 + b2", values={"x": 3})
    assert ex.nodes == ["b2", "b1", "f"]
    # paths in the order of the consumers' lines, and the same on every call
    assert [p.nodes for p in ex.derivation("x").paths] == [("x", "b2", "f"), ("x", "b1", "f")]
    assert [p.nodes for p in ex.derivation("x").paths] == [("x", "b2", "f"), ("x", "b1", "f")]
