"""Random staged graphs (fan-out, every registry function, values away from kinks): every gradient
agrees with (a) plain ``sympy.diff`` of the composed formula written with SymPy's own elementary
functions, (b) central finite differences, (c) PyTorch float64 autograd."""
import re

import mpmath
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from derive import Example
from derive.core.approx import approx
from derive.core.functions import BY_CLASS, FUNCTIONS
from tests.reference import composed, elementary, torch_gradients

UNARY = ["relu({a})", "sigmoid({a})", "tanh({a})", "softplus({a})", "gelu({a})", "silu({a})",
         "identity({a})", "exp({a}/4)", "log(1 + {a}*{a})", "sqrt(1 + {a}*{a})", "abs({a})",
         "leaky_relu({a}, 0.1)", "leaky_relu({a})", "elu({a}, 0.5)", "elu({a})", "{a}**2", "-{a}",
         "sin({a})", "cos({a}/2)", "normal_cdf({a})", "normal_pdf({a})", "huber({a})", "binary_cross_entropy(sigmoid({a}), 0.3)"]
BINARY = ["{a} + {b}", "{a} - {b}", "{a}*{b}", "{a}/(1 + {b}*{b})", "max({a}, {b})",
          "min({a}, {b})", "{a}*{b} + {a}", "relu({a}*{b}) + {b}", "max({a}, {b}, 1, -{a})",
          "min({b}, {a}, 0)", "pool_max({a}, {b}, 0)", "where({a} > {b}, {a}*{b}, {b})", "logsumexp({a}, {b}, 0)",
          "squared_error({a}, {b})", "half_squared_error({a}, {b})", "mse({a}, {b})",
          "absolute_error({a}, {b})", "huber({a}, 1 + {b}*{b})", "hinge({a}, {b})",
          "binary_cross_entropy(sigmoid({a}), sigmoid({b}))"]
VALUES = [sp.Rational(p, q) for q in (1, 2, 3, 7) for p in range(-9, 10) if p]


@st.composite
def graphs(draw):
    n_inputs = draw(st.integers(1, 3))
    names = [f"x{i}" for i in range(1, n_inputs + 1)]
    lines = []
    for k in range(1, draw(st.integers(1, 5)) + 1):
        a = draw(st.sampled_from(names))
        b = draw(st.sampled_from(names))
        template = draw(st.sampled_from(UNARY + BINARY))
        lines.append(f"n{k} = {template.format(a=a, b=b)}")
        names.append(f"n{k}")
    # Make the output use several earlier nodes: fan-out.
    used = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3))
    lines.append("out = " + " + ".join(f"{c}*{u}" for c, u in zip((1, 2, -1), used)))
    text = "\n".join(lines)
    values = {f"x{i}": draw(st.sampled_from(VALUES)) for i in range(1, n_inputs + 1)}
    return text, {k: v for k, v in values.items() if re.search(rf"\b{k}\b", text)}


def _gap(expr, subs):
    """Distance of a registry application from its kink, tie or switch point (None: smooth)."""
    spec = BY_CLASS.get(type(expr))
    args = [approx(a.xreplace(subs)) if not isinstance(a, sp.core.relational.Relational) else a
            for a in expr.args]
    if spec is None:
        return None
    if spec.name in ("max", "min", "pool_max"):
        ordered = sorted(args, reverse=spec.name == "max")
        return ordered[0] - ordered[1]
    if spec.name == "where":
        condition = expr.args[0]
        return approx((condition.lhs - condition.rhs).xreplace(subs))
    if spec.name in ("absolute_error", "squared_error"):
        return args[0] - args[1]
    if spec.name == "huber":
        delta = args[1] if len(args) > 1 else 1
        return abs(args[0]) - delta
    if spec.name == "hinge":
        return args[0] * args[1] - 1
    if spec.kink is None:
        return None
    return args[0]


def _away_from_kinks(ex) -> bool:
    subs = ex.evaluation._subs
    for node in ex.graph.nodes.values():
        stack = [node.expr]
        while stack:
            e = stack.pop()
            stack.extend(e.args)
            gap = _gap(e, subs)
            if gap is not None and abs(gap) < mpmath.mpf("1e-4"):
                return False
    return True


def _close(x, y, rel, abs_=1e-12):
    return abs(x - y) <= rel * max(abs(x), abs(y)) + abs_


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(graphs())
def test_random_graphs_agree_with_three_references(case):
    text, values = case
    ex = Example.from_equations(text, values=values)
    assume(_away_from_kinks(ex))
    out = float(approx(ex.evaluation.values["out"]))
    assume(abs(out) < 1e12)
    grads = {n: float(approx(ex.evaluation.grad(n, "out"))) for n in ex.inputs}

    # (a) plain sympy.diff of the composed formula, in SymPy's own elementary functions
    formula = elementary(composed(ex))
    subs = {ex.graph.symbols[n]: v for n, v in values.items()}
    for n in ex.inputs:
        reference = float(sp.N(sp.diff(formula, ex.graph.symbols[n]).xreplace(subs), 30))
        assert _close(grads[n], reference, 1e-10), (text, values, n, grads[n], reference)

    # (b) central finite differences on the exact engine
    h = sp.Rational(1, 10**6)
    for n in ex.inputs:
        up = Example.from_equations(text, values={**values, n: values[n] + h})
        dn = Example.from_equations(text, values={**values, n: values[n] - h})
        if not (_away_from_kinks(up) and _away_from_kinks(dn)):
            continue
        fd = float((approx(up.evaluation.values["out"]) - approx(dn.evaluation.values["out"])) / (2 * approx(h)))
        assert _close(grads[n], fd, 1e-5, 1e-7), (text, values, n, grads[n], fd)

    # (c) PyTorch float64 autograd
    forward, torch_grads = torch_gradients(ex)
    assert _close(forward["out"], out, 1e-12)
    for n in ex.inputs:
        assert _close(grads[n], torch_grads[n], 1e-9, 1e-12), (text, values, n, grads[n], torch_grads[n])


def test_every_function_appears_in_the_generator():
    templates = " ".join(UNARY + BINARY)
    for name in FUNCTIONS:
        assert f"{name}(" in templates
