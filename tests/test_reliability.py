"""Issue 17, one test per reproduction: bounded exact work, undefined math refused, no internal
errors, nothing lost, options in range. Every refusal is a DeriveError subclass naming the limit or
the culprit, and returns in under a second (timed in-process, after imports)."""
import time

import pytest
import sympy as sp

import derive
from derive import DeriveError, Example
from derive.core import budget
from derive.core.budget import BudgetError
from derive.core.errors import ValueError_

SECOND = 1.0


def refused(call, error=DeriveError, *words):
    """``call()`` raises ``error`` within a second; its message contains every word."""
    start = time.perf_counter()
    with pytest.raises(error) as info:
        call()
    elapsed = time.perf_counter() - start
    assert elapsed < SECOND, f"refusal took {elapsed:.2f} s"
    message = str(info.value)
    for word in words:
        assert word in message, message
    return info.value


def eqs(text, **values):
    return lambda: Example.from_equations(text, values=values or None)


# --- 1. the budget for exact work ------------------------------------------------------------


@pytest.mark.parametrize("literal", ["1e999999999", "1e-999999999", "1" * 5000, "0." + "0" * 5000 + "1"])
def test_huge_literals_are_refused_before_any_arithmetic(literal):
    e = refused(eqs(f"z = x*{literal}", x=3), BudgetError, "line 1, column")
    assert e.limit in ("max_digits", "max_exponent") and e.limit in str(e)


def test_huge_literal_values_are_refused_from_the_api_and_the_cli():
    refused(lambda: derive.neuron(x="1e999999999", w=1, b=0, y=0), BudgetError, "max_exponent")
    from decimal import Decimal
    refused(lambda: derive.neuron(x=Decimal("1e-999999999"), w=1, b=0, y=0), BudgetError)
    refused(lambda: derive.neuron(x=10 ** 5000, w=1, b=0, y=0), BudgetError, "max_digits")


@pytest.mark.parametrize("text, limit", [
    ("z = x**100000000", "max_exponent"),
    ("z = 2**2**2**2**2**2 + x", "max_exponent"),
    ("z = exp(exp(exp(exp(exp(x)))))", "max_magnitude"),
    ("z = x**9000", "max_digits"),
])
def test_powers_are_estimated_before_they_are_computed(text, limit):
    e = refused(eqs(text, x=3), BudgetError, "line 1")
    assert e.limit == limit and limit in str(e)


def test_a_squaring_chain_stops_at_the_line_that_grows_too_large():
    lines = ["a0 = x"] + [f"a{i} = a{i - 1}**2" for i in range(1, 41)]
    e = refused(eqs("\n".join(lines), x=3), BudgetError, "max_digits")
    assert "line 15: `a14`" in str(e)  # the first line beyond the limit: 3**(2**14) has 7818 digits
    products = ["a0 = x"] + [f"a{i} = a{i - 1}*a{i - 1}" for i in range(1, 41)]
    refused(eqs("\n".join(products), x=3), BudgetError, "max_digits")


def test_within_the_budget_exact_values_stay_exact():
    ex = Example.from_equations("a = x**200\nL = a*x", values={"x": 3})
    assert ex.value("L") == sp.Integer(3) ** 201
    assert ex.grad("x") == 201 * sp.Integer(3) ** 200


def test_limits_are_options():
    with budget.limits(max_exponent=10 ** 9, max_digits=10 ** 6):
        ex = Example.from_equations("z = x**5000", values={"x": 3})
        assert ex.value("z") == sp.Integer(3) ** 5000
    refused(eqs("z = x**5000", x=3), BudgetError)  # back to the default
    with budget.limits(max_nodes=10):
        refused(lambda: derive.chain(depth=5), BudgetError, "max_nodes = 10")
    refused(lambda: budget.configure(max_digits=-1), DeriveError, "max_digits")
    refused(lambda: budget.configure(nonsense=1), DeriveError, "unknown limit")


def test_nesting_is_limited_below_the_recursion_limit():
    ok = "z = " + "exp(" * 20 + "x" + ")" * 20
    refused(eqs(ok, x=-3), BudgetError, "max_magnitude")  # but parses
    deep = "z = " + "exp(" * 141 + "x" + ")" * 141
    refused(eqs(deep, x=1), BudgetError, "max_nesting", "line 1, column")
    deep_parens = "z = " + "(" * 500 + "x" + ")" * 500
    refused(eqs(deep_parens, x=1), BudgetError, "max_nesting")


def test_depth_limits_hold_for_builders():
    refused(lambda: derive.chain(depth=100000), BudgetError, "max_nodes")
    big = [[0.1] * 1000 for _ in range(1000)]
    refused(lambda: derive.mlp([1] * 1000, [big], [[0] * 1000], [0] * 1000), BudgetError, "max_nodes")


# --- 2. undefined is undefined everywhere ----------------------------------------------------


@pytest.mark.parametrize("text, words", [
    ("z = relu(sqrt(x))", ["square root of a negative number", "sqrt(x) with x = -1"]),
    ("z = max(log(x), 1)", ["log of a negative number"]),
    ("z = abs(sqrt(x))", ["square root of a negative number"]),
    ("z = min(1, x**(1/3))", ["fractional power of a negative number"]),
    ("z = sigmoid(log(x + 1))", ["log of 0"]),
    ("z = leaky_relu(1/(x + 1))", ["division by zero"]),
    ("z = tanh(sqrt(x)) + 1", ["square root"]),
    ("u = x + 2\nz = elu(sqrt(x*u))", ["line 2", "square root"]),
])
def test_undefined_inside_functions_is_refused_naming_node_and_line(text, words):
    name = text.splitlines()[-1].split("=")[0].strip()
    refused(eqs(text, x=-1), ValueError_, f"`{name} =", "undefined", *words)


def test_every_registry_function_refuses_a_non_real_argument():
    from derive.core.functions import FUNCTIONS
    for name, spec in FUNCTIONS.items():
        args = ", ".join(["sqrt(x)"] + ["1"] * (spec.min_arity - 1))
        refused(eqs(f"z = {name}({args})", x=-4), ValueError_, "of a negative number", "x = -4")


def test_kinks_and_ties_at_defined_values_still_work():
    ex = Example.from_equations("z = relu(sqrt(x) - 2)\nL = max(z, 0)", values={"x": 4})
    assert ex.value("L") == 0 and ex.grad("x") == 0
    ex = Example.from_equations("L = abs(sqrt(x) - 3)", values={"x": 16})
    assert ex.value("L") == 1 and ex.grad("x") == sp.Rational(1, 8)
