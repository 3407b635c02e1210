"""The loss registry: each loss is one entry with its formula written once, and the mistake
catalogue finds a loss by its entry — a call ``squared_error(a, y)`` gets the diagnoses its formula
``(a - y)**2`` gets."""
import pytest
import sympy as sp

import derive
from derive.core.approx import approx
from derive.core.functions import FUNCTIONS
from derive.core.losses import LOSSES, find_loss
from derive.core.parser import parse_equations

NEURON = "z = w*x + b\na = sigmoid(z)\nL = {loss}"
VALUES = {"x": 1.5, "w": -0.4, "b": 0.3, "y": 0.25}
CALLABLE = ["squared_error", "half_squared_error", "mse", "binary_cross_entropy", "absolute_error"]


@pytest.mark.parametrize("name", CALLABLE)
def test_one_formula_serves_the_builders_the_equations_and_the_callable_loss(name):
    entry = LOSSES[name]
    a, y = sp.symbols("a y", real=True)
    # the callable loss computes the entry's formula
    cls = FUNCTIONS[name].cls
    assert cls(sp.Rational(3, 10), sp.Rational(1, 4)) == entry.formula(sp.Rational(3, 10), sp.Rational(1, 4))
    assert sp.simplify(cls(a, y).rewrite("elementary") - entry.formula(a, y)) == 0
    # its hand-written derivatives (the textbook forms documents show) are the formula's
    for argument, partial in zip((a, y), cls(a, y).func.partials(a, y)):
        assert sp.simplify(sp.diff(entry.formula(a, y), argument) - partial) == 0, (name, argument)
    # the builders' equation line is the formula printed in the equation language
    eq = parse_equations(f"L = {entry.equation(['a'], ['y'])}", FUNCTIONS)[0]
    graph = derive.Example.from_equations(f"L = {entry.equation(['a'], ['y'])}").graph
    assert sp.simplify(graph.nodes["L"].expr.xreplace({graph.symbols["a"]: a, graph.symbols["y"]: y})
                       - entry.formula(a, y)) == 0 and eq.name == "L"


def test_the_builders_write_the_registry_formula_over_several_outputs():
    two = LOSSES["half_squared_error"]
    assert two.equation(["a1", "a2"], ["y1", "y2"]) == "1/2*((a1 - y1)**2 + (a2 - y2)**2)"
    assert LOSSES["mse"].equation(["a1", "a2", "a3"], ["y1", "y2", "y3"]) == \
        "((a1 - y1)**2 + (a2 - y2)**2 + (a3 - y3)**2)/3"
    assert LOSSES["binary_cross_entropy"].equation(["a"], ["y"]) == "-(y*log(a) + (1 - y)*log(1 - a))"
    assert LOSSES["absolute_error"].batch("A", "Y", 4) == "sum(abs(A - Y))/4"
    assert LOSSES["half_squared_error"].batch("A", "Y", 2) == "sum((A - Y)**2)/4"
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", loss="half_squared_error")
    a, y = ex.graph.symbols["a"], ex.graph.symbols["y"]
    assert ex.graph.nodes["L"].expr == LOSSES["half_squared_error"].formula(a, y)


@pytest.mark.parametrize("name", ["squared_error", "half_squared_error", "binary_cross_entropy",
                                  "absolute_error"])
def test_a_loss_is_found_by_its_entry_as_a_call_and_as_its_formula(name):
    entry = LOSSES[name]
    for written in (f"{name}(a, y)", entry.equation(["a"], ["y"])):
        ex = derive.Example.from_equations(NEURON.format(loss=written), values=VALUES)
        node = ex.graph.nodes["L"]
        found = find_loss(node.expr, [ex.graph.symbols["a"]], [ex.graph.symbols["y"]])
        assert found is not None and found[0] is entry, written
    # a penalty added to the loss: still found by its loss term
    ex = derive.Example.from_equations(NEURON.format(loss=entry.equation(["a"], ["y"]) + " + c*w*w"),
                                       values={**VALUES, "c": 0.1}, params=["w", "b"])
    assert find_loss(ex.graph.nodes["L"].expr, [ex.graph.symbols["a"]],
                     [ex.graph.symbols["y"], ex.graph.symbols["c"], ex.graph.symbols["w"]])[0] is entry
    # a loss no entry describes is not mistaken for one
    other = derive.Example.from_equations(NEURON.format(loss="(a - y)**4"), values=VALUES)
    assert find_loss(other.graph.nodes["L"].expr, [other.graph.symbols["a"]], [other.graph.symbols["y"]]) is None


def _diagnosis(text, key, wrong):
    ex = derive.Example.from_equations(NEURON.format(loss=text), values=VALUES)
    report = ex.check({key: f"{float(approx(wrong(ex))):.6g}"})
    assert report.status(key) == "incorrect"
    return report.diagnosis(key), report.hint(key)


SLIPS = {  # loss: [(mistake, wrong answer for dL/da, words both forms must share)]
    "squared_error": [("factor_two", lambda ex: ex.grad("a") / 2, "the 2 from the square was dropped"),
                      ("sign_error", lambda ex: -ex.grad("a"), "sign error in (a − y)")],
    "half_squared_error": [("factor_two", lambda ex: ex.grad("a") * 2, "the ½ in front of the square was dropped"),
                           ("sign_error", lambda ex: -ex.grad("a"), "sign error in (a − y)")],
    "binary_cross_entropy": [("sign_error", lambda ex: -ex.grad("a"), "sign error in ∂L/∂a")],
    "absolute_error": [("sign_error", lambda ex: -ex.grad("a"), "sign error in (a − y)")],
}


@pytest.mark.parametrize("name", sorted(SLIPS))
def test_a_call_gets_the_diagnoses_its_formula_gets(name):
    for mistake, wrong, words in SLIPS[name]:
        as_call = _diagnosis(f"{name}(a, y)", "dL/da", wrong)
        as_formula = _diagnosis(LOSSES[name].equation(["a"], ["y"]), "dL/da", wrong)
        assert as_call[0] == as_formula[0] == mistake, (name, as_call, as_formula)
        assert words in as_call[1] and words in as_formula[1], (name, as_call[1], as_formula[1])


def test_squared_error_call_dropped_two_reaches_dL_dw():
    """The dropped 2 is diagnosed further down the chain too (∂L/∂w), as for the formula."""
    for text in ("squared_error(a, y)", "(a - y)**2"):
        ex = derive.Example.from_equations(NEURON.format(loss=text), values=VALUES)
        report = ex.check({"dL/dw": f"{float(approx(ex.grad('w') / 2)):.6g}"})
        assert report.diagnosis("dL/dw") == "factor_two", text
