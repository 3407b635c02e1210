"""Every catalogued scalar slip, planted in random graphs (neurons, fan-out and skip graphs, a
two-example mean), comes back by its name; and no diagnosis contradicts an answer the student got
right (issue 25, Build 3).

A slip is planted through the engine's one reverse accumulation (``Scenario``) with the student's
evidence: the slipped step under its own key, every unaffected step right, the steps after it
computed from the slip (carried forward). The catalogue is never asked how to plant its own slips.
"""
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import derive
from derive.checking.answers import Key, matches, parse_answer, parse_key
from derive.checking.mistakes import MISTAKES, Scenario, slip_rule
from derive.core.functions import FUNCTIONS

SETTINGS = dict(max_examples=10, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

HALVES = st.integers(-6, 6).map(lambda k: sp.Rational(k, 2))
NONZERO = st.integers(1, 6).flatmap(lambda k: st.sampled_from([sp.Rational(k, 2), -sp.Rational(k, 2)]))
ACTIVATIONS = ["sigmoid", "tanh", "softplus", "relu", "leaky_relu", "elu"]
GATES = [f for f in ACTIVATIONS if FUNCTIONS[f].gates]
SMOOTH = [f for f in ACTIVATIONS if not FUNCTIONS[f].gates]
# the activations a slip can be made with (a gate's slips need a gate; a curve's, a curve)
FOR_SLIP = {"relu_gate_ignored": GATES, "activation_not_applied": GATES,
            "leaky_as_relu": [f for f in GATES if FUNCTIONS[f].inactive_slope != "0"],
            "activation_derivative_omitted": SMOOTH,
            "derivative_sign_flipped": ["sigmoid", "tanh"],  # softplus' = σ has no minus to lose
            "function_instead_of_derivative": SMOOTH, "derivative_at_output": SMOOTH,
            "premature_rounding": SMOOTH,
            "derivative_slip": [f for f in SMOOTH if FUNCTIONS[f].slips]}

LOSSES = ["(a - y)**2", "squared_error(a, y)", "1/2*(a - y)**2", "half_squared_error(a, y)"]


def _neuron(f, loss, x, w, b, y):
    return derive.Example.from_equations(f"z = w*x + b\na = {f}(z)\nL = {loss}",
                                         values=dict(x=x, w=w, b=b, y=y), lr=sp.Rational(1, 10))


def _skip(f, x, w1, w2, w3, y):
    """z1 feeds a1 and, by a skip edge, z2: dL/dz1 sums two paths."""
    return derive.Example.from_equations(
        f"z1 = w1*x\na1 = {f}(z1)\nz2 = w3*z1 + w2*a1\nL = (z2 - y)**2",
        values=dict(x=x, w1=w1, w2=w2, w3=w3, y=y), lr=sp.Rational(1, 10))


def _mean(f, x1, x2, w, b):
    return derive.Example.from_equations(
        f"z1 = w*x1 + b\nz2 = w*x2 + b\na1 = {f}(z1)\na2 = {f}(z2)\n"
        f"L = ((a1 - y1)**2 + (a2 - y2)**2)/2",
        values=dict(x1=x1, x2=x2, w=w, b=b, y1=1, y2=0), lr=sp.Rational(1, 10))


def _value(ex, scenario, key):
    return scenario.answer(parse_key(ex, key))


def _exact(ex, key):
    return _value(ex, Scenario(ex), key)


def _local(ex, of, wrt):
    return ex.evaluation.local(of, wrt).value


def _evidence(ex, overrides, slipped_keys, later):
    """The student's answers: every value right, each slipped local under its key, the later
    steps computed with the slip (they carry it forward)."""
    scenario = Scenario(ex, locals_={e: v for e, v in overrides.items()})
    answers = {n: ex.value(n) for n in ex.nodes}
    for (of, wrt), v in overrides.items():
        answers[f"d{of}/d{wrt}"] = v
    for k in later:
        answers[k] = _value(ex, scenario, k)
    return answers


# --- how each slip is made, by hand ------------------------------------------------------------


def _plant_local(ex, edge, wrong, later=("dL/dw",)):
    if wrong == _local(ex, *edge):
        return None
    key = f"d{edge[0]}/d{edge[1]}"
    return _evidence(ex, {edge: wrong}, [key], later), key


def plant(name, ex, f):
    """(answers, the key whose diagnosis names the slip), or None where the slip cannot be made."""
    spec = FUNCTIONS[f]
    z = ex.evaluation.values.get("z")
    inactive = z is not None and not z.is_extended_positive
    if name == "sign_error":
        return _plant_local(ex, ("L", "a"), -_local(ex, "L", "a"))
    if name == "factor_two":
        return _plant_local(ex, ("L", "a"), _local(ex, "L", "a") / 2)
    if name == "activation_derivative_omitted":
        return None if spec.gates else _plant_local(ex, ("a", "z"), sp.S.One)
    if name == "relu_gate_ignored":
        return _plant_local(ex, ("a", "z"), sp.S.One) if spec.gates and inactive else None
    if name == "leaky_as_relu":
        if not (spec.gates and inactive) or _local(ex, "a", "z") == 0:
            return None
        return _plant_local(ex, ("a", "z"), sp.S.Zero)
    if name == "derivative_sign_flipped":
        return None if spec.gates else _plant_local(ex, ("a", "z"), -_local(ex, "a", "z"))
    if name == "function_instead_of_derivative":
        return None if spec.gates else _plant_local(ex, ("a", "z"), ex.value("a"))
    if name == "derivative_at_output":
        if spec.gates:
            return None
        rule = ex.evaluation.symbolic_local("a", "z")
        return _plant_local(ex, ("a", "z"), rule.xreplace({ex.graph.symbols["z"]: ex.value("a")}))
    if name == "derivative_slip":
        if not spec.slips:
            return None
        return _plant_local(ex, ("a", "z"), slip_rule(spec.slips[0][1]).xreplace(
            {sp.Symbol("z", real=True): ex.value("z")}))
    if name == "weight_for_input":
        return _plant_local(ex, ("z", "w"), ex.evaluation.values["w"])
    if name == "activation_not_applied":
        if not (spec.gates and inactive) or ex.value("a") == ex.value("z"):
            return None
        answers = {"z": ex.value("z"), "a": ex.value("z")}
        return answers, "a"
    if name == "update_sign":
        g = ex.grad("w")
        return {"dL/dw": g, "w_new": ex.evaluation.values["w"] + ex.lr * g}, "w_new"
    if name == "update_without_rate":
        g = ex.grad("w")
        return {"dL/dw": g, "w_new": ex.evaluation.values["w"] - g}, "w_new"
    if name == "factors_added":
        path = ["w", "z", "a", "L"]
        total = sum(_local(ex, b, a) for a, b in zip(path, path[1:]))
        return {"dL/dw": total}, "dL/dw"
    if name == "premature_rounding":
        if spec.gates:
            return None
        rounded = sp.Rational(str(sp.N(ex.value("a"), 2)))
        if rounded == ex.value("a"):
            return None
        rule = ex.evaluation.symbolic_local("a", "z")
        by_hand = rule.xreplace({ex.graph.nodes["a"].expr: rounded})
        answer = str(sp.N(by_hand, 4))
        return {"a": str(sp.N(ex.value("a"), 2)), "da/dz": answer}, "da/dz"
    return None


def plant_skip(name, ex):
    """Slips of a graph with a skip edge z1 → z2 beside z1 → a1 → z2."""
    g = ex.evaluation.adjoints("L")
    direct = g["z2"] * _local(ex, "z2", "z1")
    through = g["a1"] * _local(ex, "a1", "z1")
    if name == "path_not_summed":
        return {"dL/dz1": direct}, "dL/dz1"
    if name == "paths_multiplied":
        return {"dL/dz1": direct * through}, "dL/dz1"
    if name == "upstream_once":  # ∂L/∂z2 once, for both branches: ∂L/∂z2·(∂z2/∂z1 + ∂a1/∂z1)
        return {"dL/dz1": g["z2"] * (_local(ex, "z2", "z1") + _local(ex, "a1", "z1"))}, "dL/dz1"
    return None


def plant_mean(name, ex):
    if name != "missing_mean":
        return None
    overrides = {("L", a): 2 * _local(ex, "L", a) for a in ("a1", "a2")}
    return _evidence(ex, overrides, [], ["dL/dw"]), "dL/da1"


SCALAR = sorted(m.name for m in MISTAKES if m.values == "scalar")
NEURON_SLIPS = [n for n in SCALAR if n not in ("path_not_summed", "paths_multiplied", "upstream_once",
                                                "missing_mean")]


def _distinct(ex, answers, key):
    """The planted answer differs from the right one (else there is no slip to see)."""
    return parse_answer(ex, answers[key]).value is not None and \
        not matches(parse_answer(ex, answers[key]), ex.check({key: 0}).expected(key))


def _assert_named(ex, answers, key, name):
    report = ex.check(answers)
    assert report.status(key) == "incorrect", (name, key, report.status(key), report.hint(key))
    assert report.diagnosis(key) == name, (name, key, answers[key], report.hint(key))
    for k, v in report.verdicts.items():  # the evidence: right answers stay right, later ones carried
        if k != key and k in answers and matches(parse_answer(ex, answers[k]), v.expected):
            assert v.status == "correct", (k, v.hint)


@pytest.mark.parametrize("name", NEURON_SLIPS)
@settings(**dict(SETTINGS, max_examples=5))
@given(data=st.data(), loss=st.sampled_from(LOSSES), x=NONZERO, w=NONZERO, b=HALVES, y=HALVES)
def test_every_neuron_slip_is_named(name, data, loss, x, w, b, y):
    f = data.draw(st.sampled_from(FOR_SLIP.get(name, ACTIVATIONS)), label="activation")
    ex = _neuron(f, loss, x, w, b, y)
    planted = plant(name, ex, f)
    assume(planted is not None)
    answers, key = planted
    assume(_distinct(ex, answers, key))
    _assert_named(ex, answers, key, name)


@settings(**SETTINGS)
@given(st.sampled_from(["path_not_summed", "paths_multiplied", "upstream_once"]),
       st.sampled_from(["sigmoid", "tanh", "softplus"]), NONZERO, NONZERO, NONZERO, NONZERO, HALVES)
def test_fan_out_slips_are_named(name, f, x, w1, w2, w3, y):
    ex = _skip(f, x, w1, w2, w3, y)
    answers, key = plant_skip(name, ex)
    assume(_distinct(ex, answers, key))
    _assert_named(ex, answers, key, name)


@settings(**SETTINGS)
@given(st.sampled_from(["sigmoid", "tanh", "leaky_relu"]), NONZERO, NONZERO, NONZERO, HALVES)
def test_a_forgotten_mean_is_named(f, x1, x2, w, b):
    ex = _mean(f, x1, x2, w, b)
    answers, key = plant_mean("missing_mean", ex)
    assume(_distinct(ex, answers, key))
    _assert_named(ex, answers, key, "missing_mean")


def test_every_scalar_slip_is_planted_here():
    planted = set(NEURON_SLIPS) | {"path_not_summed", "paths_multiplied", "upstream_once", "missing_mean"}
    assert planted == set(SCALAR)


# --- no hint contradicts a right answer ---------------------------------------------------------


def _upstream_keys(ex, wrt, locals_too):
    """Every gradient on the way back from L to ``wrt`` (not wrt's own), and the local
    derivatives too when ``locals_too``."""
    keys = [f"dL/d{n}" for n in ex.nodes if n != "L"]
    if locals_too:
        keys += [f"d{c}/d{p}" for c in ex.nodes for p in ex.graph.nodes[c].parents]
    return [k for k in keys if k != f"dL/d{wrt}"]


def _explains(ex, answers, key, name):
    """Some candidate of the named slip gives the answer and reproduces every right answer."""
    from derive.checking.report import Checker
    checker = Checker(ex, answers)
    mistake = next(m for m in MISTAKES if m.name == name and m.values == "scalar")
    right = {k: a for k, a in checker.answers.items() if k != key and a.value is not None
             and matches(a, checker.expected(checker.keys[k]))}
    for c in mistake.alternatives(checker, checker.keys[key]):
        if c.value is None or not matches(checker.answers[key], c.value):
            continue
        if c.scenario is None:
            return True
        if all(matches(a, c.scenario.answer(checker.keys[k])) for k, a in right.items()):
            return True
    return False


@settings(**dict(SETTINGS, max_examples=30))
@given(st.sampled_from(ACTIVATIONS), st.sampled_from(LOSSES), NONZERO, NONZERO, HALVES, HALVES,
       st.sampled_from([-1, 2, sp.Rational(1, 2)]), st.booleans(), st.booleans())
def test_a_slip_in_the_last_step_blames_no_step_shown_right(f, loss, x, w, b, y, factor, skip,
                                                             locals_too):
    """Only the last step is wrong (its sign flipped, doubled or halved) and every gradient
    before it is given right (with or without the local derivatives): whatever is named must
    agree with all of them."""
    ex = _skip(f, x, w, b, y + 1, y) if skip else _neuron(f, loss, x, w, b, y)
    wrt = "w1" if skip else "w"
    g = ex.grad(wrt)
    assume(g != 0)
    answers = {k: _exact(ex, k) for k in _upstream_keys(ex, wrt, locals_too)}
    key = f"dL/d{wrt}"
    answers[key] = factor * g
    report = ex.check(answers)
    assert report.status(key) == "incorrect"
    assert all(report.status(k) == "correct" for k in answers if k != key)
    named = report.diagnosis(key)
    if named:
        assert _explains(ex, answers, key, named), (named, report.hint(key))
    # the loss's and the activation's own steps were shown right (dL/dz inherits them): neither
    # is blamed; ∂z/∂w is blamed only where the student did not show it right
    blamed = {"sign_error", "factor_two", "derivative_sign_flipped", "derivative_slip",
              "activation_derivative_omitted", "leaky_as_relu", "relu_gate_ignored",
              "function_instead_of_derivative", "derivative_at_output"}
    assert named not in (blamed | {"weight_for_input"} if locals_too else blamed), named
