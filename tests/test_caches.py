"""The shortcuts taken for speed give exactly what the long way gives (issue 11, speed): rational
comparisons by integer arithmetic, remembered approximations and public forms, and the symbolic
work shared by every evaluation of one graph. Speed itself is measured by the scripts in bench/."""
import mpmath
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import derive
from derive.core import budget
from derive.core.approx import approx
from derive.core.engine import Evaluation, Graph, compact, public_form
from derive.core.exact import substitute
from derive.core.parser import parse_equations

RELATIONS = [sp.StrictLessThan, sp.LessThan, sp.StrictGreaterThan, sp.GreaterThan, sp.Eq, sp.Ne]
rationals = st.fractions(min_value=-50, max_value=50, max_denominator=12).map(
    lambda f: sp.Rational(f.numerator, f.denominator))


@given(a=rationals, b=rationals, relation=st.sampled_from(RELATIONS))
def test_rational_comparisons_agree_with_sympy(a, b, relation):
    x, y = sp.symbols("x y", real=True)
    ours = substitute(relation(x, y), {x: a, y: b})
    assert ours is relation(a, b)  # SymPy's own evaluation: true or false
    assert ours is (sp.true if {sp.StrictLessThan: a < b, sp.LessThan: a <= b,
                                sp.StrictGreaterThan: a > b, sp.GreaterThan: a >= b,
                                sp.Eq: a == b, sp.Ne: a != b}[relation] else sp.false)


def test_relu_gate_at_kink_and_both_sides():
    z = sp.Symbol("z", real=True)
    gate = derive.FUNCTIONS["relu"].cls(z).diff(z)
    assert [substitute(gate, {z: v}) for v in (sp.Integer(-3), sp.Integer(0), sp.Rational(1, 7))] \
        == [0, 0, 1]


def _fresh_walk(expr):
    """The approximation the long way (nothing remembered)."""
    from derive.core.approx import DIGITS, _walk
    with mpmath.workdps(DIGITS + 10):
        return _walk(expr)


@pytest.mark.parametrize("text", ["1/(1 + exp(-7))", "log(3)/7 - 2**(1/3)", "-5/3", "tanh(1/2)**2"])
def test_remembered_approximation_is_the_computed_one(text):
    x = sp.Symbol("x")
    expr = sp.sympify(text, locals={"x": x})  # test input written by us, not user text
    first, again = approx(expr), approx(expr)
    assert first == again == _fresh_walk(expr)
    with mpmath.workdps(70):
        assert mpmath.almosteq(first, mpmath.mpf(str(sp.N(expr, 70))), rel_eps=mpmath.mpf(10) ** -55)


def test_a_lower_magnitude_limit_still_refuses_a_remembered_value():
    big = sp.exp(sp.Integer(300))
    assert approx(big) > 10 ** 130  # remembered under the default limit
    with budget.limits(max_magnitude=100):
        with pytest.raises(budget.BudgetError):
            approx(big)
    assert approx(big) > 10 ** 130


def test_public_form_of_a_deep_value_is_checked_against_the_current_limit():
    q = compact("a", 1 / (1 + sp.exp(sp.Integer(-7))))
    assert public_form(q) == 1 / (1 + sp.exp(-7))
    deep = q
    for i in range(14):  # more Quantities than the API expands: one Quantity, size-checked
        deep = compact(f"q{i}", deep / (1 + deep) + sp.exp(sp.Rational(1, i + 2)))
    huge = deep * sp.exp(sp.Integer(400))
    first = public_form(huge)
    assert isinstance(first, type(q)) and public_form(huge) is first
    assert float(first) == pytest.approx(float(deep) * float(sp.exp(400)), rel=1e-12)
    with budget.limits(max_magnitude=50):
        with pytest.raises(budget.BudgetError):
            public_form(huge)


def test_evaluations_of_one_graph_share_symbolic_work_not_numbers():
    graph = Graph(parse_equations("z = w*x + b\na = relu(z)\nL = (a - y)**2"))
    values = [{"x": 2, "w": 3, "b": 1, "y": 5}, {"x": -2, "w": 3, "b": 1, "y": 5},
              {"x": 1, "w": 2, "b": -1, "y": 0}]
    shared = [Evaluation(graph, {k: sp.Integer(v) for k, v in vs.items()}) for vs in values]
    alone = [Evaluation(Graph(parse_equations("z = w*x + b\na = relu(z)\nL = (a - y)**2")),
                        {k: sp.Integer(v) for k, v in vs.items()}) for vs in values]
    for a, b in zip(shared, alone):
        for p in ("w", "b", "x"):
            assert a.grad(p, "L") == b.grad(p, "L")
        assert a.derivation("w", "L") == b.derivation("w", "L")
    # by hand: dL/dw = 2(a − y)·relu'(z)·x
    assert [e.grad("w", "L") for e in shared] == [2 * (7 - 5) * 1 * 2, 0, 2 * (1 - 0) * 1 * 1]
    assert shared[0].paths("w", "L") == [("w", "z", "a", "L")]
    shared[0].paths("w", "L").append(("changed",))  # a caller's copy: the graph's stays
    assert shared[1].paths("w", "L") == [("w", "z", "a", "L")]


def test_a_cached_product_rule_holds_for_an_equal_expression_built_anew():
    """The term-by-term derivative remembers which arguments hold a symbol, keyed by equality. An
    equal product built after SymPy's cache was emptied has equal but distinct arguments, and its
    derivative must still leave the differentiated factor out of the rest (it once gave
    −y·log(a)/a for ∂(−y·log a)/∂a when the suite had run long enough to evict SymPy's cache)."""
    from sympy.core.cache import clear_cache
    from derive.core.engine import _diff
    a, y = sp.symbols("a y", real=True)
    first = sp.Mul(-1, y, sp.log(a), evaluate=False)
    assert _diff(first, a) == -y / a
    clear_cache()
    again = sp.Mul(-1, y, sp.log(a), evaluate=False)
    assert again == first and again.args[2] is not first.args[2]
    assert _diff(again, a) == -y / a and _diff(again, y) == -sp.log(a)
    total = sp.Add(a, y, sp.log(a), evaluate=False)
    assert _diff(total, a) == 1 + 1 / a
    clear_cache()
    assert _diff(sp.Add(a, y, sp.log(a), evaluate=False), a) == 1 + 1 / a
