"""Checking round 3 (issue 25, Build 2, 3 and 6): keys that mean what the document shows, hints
from the student's own evidence, the new catalogue slips, and the wording — on our own examples
(sigmoid, tanh, leaky ReLU, fan-out and skip graphs, mean losses as equations and through mlp)."""
import pytest
import sympy as sp

import derive
from derive import DeriveError
from derive.checking.mistakes import Scenario
from derive.checking.answers import parse_key

SKIP = """z1 = w1*x
a1 = sigmoid(z1)
z2 = w3*z1 + w2*a1
L = (z2 - y)**2"""


def _skip(**values):
    return derive.Example.from_equations(SKIP, values=dict(dict(w1=0.5, x=1, w3=0.5, w2=-1, y=1), **values))


def _slipped(ex, key, **kw):
    return Scenario(ex, **kw).answer(parse_key(ex, key))


# --- keys that mean what the document shows ----------------------------------------------------


def test_the_documents_own_local_derivative_is_accepted_and_explained():
    ex = _skip()
    assert "∂z2/∂z1 = w3 = 0.5" in ex.to_text()  # the document lists the local under this name
    local, total = ex.evaluation.local("z2", "z1").value, ex.grad("z1", of="z2")
    assert local == sp.Rational(1, 2) and abs(float(total) - 0.2650) < 1e-4
    report = ex.check({"dz2/dz1": 0.5})
    assert report.status("dz2/dz1") == "correct" and report.diagnosis("dz2/dz1") == ""
    note = report.verdicts["dz2/dz1"].note
    assert "local derivative ∂z2/∂z1" in note and "the total over both paths" in note and "0.2650" in note
    assert "a path not summed" not in report.to_text()
    # the total is accepted too, and the |direct form names the local alone
    assert ex.check({"dz2/dz1": "0.2650"}).status("dz2/dz1") == "correct"
    assert ex.check({"dz2/dz1|direct": 0.5}).status("dz2/dz1|direct") == "correct"
    wrong = ex.check({"dz2/dz1|direct": "0.2650"})
    assert wrong.status("dz2/dz1|direct") == "incorrect"
    assert "dz2/dz1|direct" in ex.keys() and ex.keys()["dz2/dz1|direct"] == "∂z₂/∂z₁|direct"
    # a wrong answer to the ambiguous key is told both values
    hint = ex.check({"dz2/dz1": "0.9000"}).hint("dz2/dz1")
    assert "0.2650" in hint and "the local ∂z2/∂z1" in hint and "0.5" in hint


def test_a_local_answer_to_the_ambiguous_key_carries_forward_as_the_local():
    """dz2/dz1 = 0.5 (the local) enters dL/dz1 as the edge's value, not as the total."""
    ex = _skip(w3=-1.5)
    g = ex.evaluation.adjoints("L")
    given_local = sp.Rational(-3, 2)
    report = ex.check({"dz2/dz1": -1.5, "dL/dz1": float(g["z1"])})
    assert report.status("dz2/dz1") == "correct" and report.status("dL/dz1") == "correct"


def test_the_direct_partial_under_the_totals_key_is_named_not_a_slip():
    """An L2 term: ∂L/∂w|direct = 2·lam·w beside the total; the document prints |direct."""
    ex = derive.Example.from_equations("z = w*x\na = tanh(z)\nL = (a - y)**2 + lam*w**2",
                                       values=dict(w=-0.5, x=2, y=0.25, lam=0.1))
    text = ex.to_text()
    assert "∂L/∂w|direct = 2 · lam · w" in text.replace("2lam · w", "2 · lam · w") or "∂L/∂w|direct" in text
    direct = ex.evaluation.local("L", "w").value
    assert direct == sp.Rational(-1, 10)
    report = ex.check({"dL/dw": -0.1})
    assert report.status("dL/dw") == "incorrect" and report.diagnosis("dL/dw") == ""
    assert "that is the direct partial ∂L/∂w|direct" in report.hint("dL/dw")
    assert "dL/dw|direct" in report.hint("dL/dw")
    assert ex.check({"dL/dw|direct": -0.1}).ok
    assert ex.keys()["dL/dw|direct"] == "∂L/∂w|direct"
    with pytest.raises(DeriveError, match="does not use x directly"):
        parse_key(ex, "dL/dx|direct")


def test_keys_are_case_tolerant_where_unambiguous_and_say_so():
    ex = derive.neuron(x=2, w=-3, b=1, y=5, activation="tanh", lr=0.1)
    g = float(ex.grad("w"))
    report = ex.check({"dl/dw": g, "Z": -5, "W_new": float(ex.update("w"))})
    assert report.ok
    assert "read as dL/dw" in report.verdicts["dl/dw"].note
    assert "read as z" in report.verdicts["Z"].note
    # two names equal but for case: no guess, both offered
    two = derive.Example.from_equations("z = Ab*x + aB\nL = z**2", values=dict(Ab=1, aB=2, x=3))
    report = two.check({"dL/dab": 1})
    assert report.status("dL/dab") == "unreadable"
    assert "did you mean Ab or aB?" in report.hint("dL/dab") or "did you mean aB or Ab?" in report.hint("dL/dab")


def test_did_you_mean_for_keys_and_function_names():
    ex = derive.mlp([1, 2], [[[0.5, -0.25], [0.75, 0.5]], [[1, -1]]], [[0.1, -0.2], [0.3]], [1],
                    activation=["relu", "sigmoid"], lr=0.1)
    hint = ex.check({"dL/dw11_1": 0}).hint("dL/dw11_1")
    assert "unknown name 'w11_1'; did you mean" in hint and "w1_1_1" in hint
    relu = derive.neuron(x=2, w=3, b=1, y=5)
    assert "did you mean `sigmoid`?" in relu.check({"da/dz": "sigmod(z)"}).hint("da/dz")
    assert "unknown name(s) A (did you mean a?)" in relu.check({"dL/da": "2*(A - y)"}).hint("dL/da")
    with pytest.raises(DeriveError, match=r"unknown function `sigmod` \(did you mean `sigmoid`\?\)"):
        derive.Example.from_equations("z = w*x\na = sigmod(z)", values=dict(w=1, x=2))
    with pytest.raises(DeriveError, match=r"unknown function `frobnicate`; known functions"):
        derive.Example.from_equations("z = frobnicate(x)", values=dict(x=2))
    assert "did you mean 'dL/dw'" in relu.check({"dL/dww": 1}).hint("dL/dww") or \
        "did you mean" in relu.check({"dL/dww": 1}).hint("dL/dww")


def test_cs231n_gradient_names_for_tensor_and_scalar_parameters():
    net = derive.mlp([[1, 2], [0, 1], [-1, 1]], [[[1, -1], [0, 1]], [[0.5, -0.5]]], [[0, 0.5], [0.1]],
                     [1, 0, 1], activation=["tanh", "sigmoid"], loss="half_squared_error", lr=0.5)
    answers = {"dW1": net.grad_tensor("W1").a.tolist(), "db2": net.grad_tensor("b2").a.tolist()}
    assert net.check(answers).ok
    neuron = derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid")
    assert neuron.check({"dw": float(neuron.grad("w")), "db": float(neuron.grad("b"))}).ok
    assert parse_key(neuron, "dz").wrt == "z" and parse_key(neuron, "dz").of == "L"


# --- hints from the student's own evidence -----------------------------------------------------


def test_carried_forward_hint_names_only_upstream_steps():
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu")  # z = 7, a = 7, L = 4
    report = ex.check({"z": 8, "a": 8, "L": 9})
    assert report.status("a") == "carried" and report.status("L") == "carried"
    assert report.hint("a").startswith("right given your z, which this step inherits")
    assert "L" not in report.hint("a").split("(")[0]
    assert report.hint("L").startswith("right given your z and a, which")
    # a gradient inherits the local derivatives on its path, not a value computed after it
    sig = derive.neuron(x=1, w=-2, b=0.5, y=0, activation="sigmoid", loss="half_squared_error")
    dlda = sp.Rational(str(round(float(sig.grad("a")), 3))) + sp.Rational(1, 10)
    slipped = dlda * sig.evaluation.local("a", "z").value * 1
    report = sig.check({"dL/da": str(sp.N(dlda, 4)), "L": 5, "dL/dw": str(sp.N(slipped, 4))})
    assert report.status("dL/dw") == "carried"
    assert "your dL/da, which" in report.hint("dL/dw") and " L" not in report.hint("dL/dw").split("(")[0]


def test_a_sign_flipped_only_in_the_last_step_blames_no_step_shown_right():
    """The issue's case on our own net: only dL/dw⁽¹⁾₂,₁'s sign flipped, dL/dz⁽²⁾₁ right."""
    ex = derive.mlp([1, -2], [[[0.5, -0.25], [0.75, 0.5]], [[1, -1]]], [[0.1, -0.2], [0.3]], [1],
                    activation=["tanh", "sigmoid"], loss="squared_error")
    g = float(ex.grad("w1_2_1"))
    report = ex.check({"dL/dz2_1": float(ex.grad("z2_1")), "dL/dw1_2_1": -g})
    assert report.status("dL/dz2_1") == "correct" and report.status("dL/dw1_2_1") == "incorrect"
    assert "sign error" not in report.hint("dL/dw1_2_1")
    # what may be named is a slip below z⁽²⁾₁, which the right dL/dz⁽²⁾₁ does not contradict:
    # tanh' of the first layer's unit 2 with its sign flipped
    assert report.diagnosis("dL/dw1_2_1") == "derivative_sign_flipped"
    assert report.hint("dL/dw1_2_1").startswith("tanh'(z1_2) with its sign flipped")
    # without the right dL/dz⁽²⁾₁ the same answer is the sign slip in the loss
    alone = ex.check({"dL/dw1_2_1": -g})
    assert alone.diagnosis("dL/dw1_2_1") == "sign_error"


# --- the new slips -------------------------------------------------------------------------------


@pytest.mark.parametrize("z_sign", [-1, 0])
def test_leaky_relu_taken_as_relu(z_sign):
    # z = w·x + b = −2.5 (inactive), or exactly 0 (the kink: LeakyReLU'(0) = α)
    b = -2.5 if z_sign else 0
    ex = derive.Example.from_equations("z = w*x + b\na = leaky_relu(z, 0.1)\nL = (a - y)**2",
                                       values=dict(w=0, x=1, b=b, y=1) if not z_sign else
                                       dict(w=1, x=-2, b=-0.5, y=1))
    assert ex.evaluation.local("a", "z").value == sp.Rational(1, 10)
    wrong = _slipped(ex, "dL/dw", locals_={("a", "z"): 0})
    report = ex.check({"da/dz": 0, "dL/dw": wrong} if z_sign else {"da/dz": 0})
    assert report.diagnosis("da/dz") == "leaky_as_relu"
    assert "LeakyReLU taken as ReLU for z ≤ 0" in report.hint("da/dz")
    assert "a path not summed" not in report.to_text()


def test_leaky_relu_in_a_fan_out_graph_is_not_a_path_not_summed():
    ex = derive.Example.from_equations(
        "z1 = w1*x\na1 = leaky_relu(z1, 0.2)\nz2 = w3*z1 + w2*a1\nL = (z2 - y)**2",
        values=dict(w1=-1, x=2, w3=0.5, w2=1.5, y=0))
    wrong = _slipped(ex, "dL/dw1", locals_={("a1", "z1"): 0})
    report = ex.check({"dL/dw1": wrong})
    assert report.diagnosis("dL/dw1") == "leaky_as_relu"


def test_the_upstream_used_once_across_fan_out_branches():
    """z feeds a = tanh(z) (upstream u·∂L/∂s) and s directly (upstream ∂L/∂s): the student
    multiplies the sum of both local derivatives by one upstream only."""
    ex = derive.Example.from_equations("z = w*x\na = tanh(z)\ns = u*a + z\nL = (s - y)**2",
                                       values=dict(w=0.5, x=-1, u=3, y=2))
    g = ex.evaluation.adjoints("L")
    once = g["s"] * (ex.evaluation.local("s", "z").value + ex.evaluation.local("a", "z").value)
    assert once != g["z"]
    report = ex.check({"dL/dz": once})
    assert report.diagnosis("dL/dz") == "upstream_once"
    assert "each branch carries its own upstream gradient" in report.hint("dL/dz")


def test_the_weight_instead_of_the_input():
    for f in ("sigmoid", "tanh"):
        ex = derive.neuron(x=-2, w=0.5, b=0, y=1, activation=f)
        report = ex.check({"dz/dw": 0.5})
        assert report.diagnosis("dz/dw") == "weight_for_input"
        assert "∂z/∂w taken as w instead of x" in report.hint("dz/dw")
        wrong = _slipped(ex, "dL/dw", locals_={("z", "w"): sp.Rational(1, 2)})
        assert ex.check({"dL/dw": wrong}).diagnosis("dL/dw") == "weight_for_input"


@pytest.mark.parametrize("loss", ["squared_error(a, y)", "squared_error(y, a)", "(a - y)**2"])
def test_a_loss_recognised_by_its_entry_gets_the_formulas_diagnoses(loss):
    ex = derive.Example.from_equations(f"z = w*x + b\na = tanh(z)\nL = {loss}",
                                       values=dict(w=0.5, x=1, b=-1, y=0.25))
    g = ex.grad("w")
    halved = ex.check({"dL/dw": g / 2})
    assert halved.diagnosis("dL/dw") == "factor_two" and "the 2 from the square was dropped" in halved.hint("dL/dw")
    assert ex.check({"dL/dw": -g}).diagnosis("dL/dw") == "sign_error"


MEAN_EQUATIONS = """z1 = w*x1 + b
z2 = w*x2 + b
a1 = sigmoid(z1)
a2 = sigmoid(z2)
L = ((a1 - y1)**2 + (a2 - y2)**2)/2"""


def test_forgot_one_over_n_for_a_mean_written_as_equations_and_through_mlp():
    ex = derive.Example.from_equations(MEAN_EQUATIONS, values=dict(w=-1, b=0.5, x1=2, x2=-1, y1=1, y2=0))
    report = ex.check({"dL/dw": 2 * ex.grad("w")})
    assert report.diagnosis("dL/dw") == "missing_mean" and "missing 1/2 of the mean" in report.hint("dL/dw")
    # the same loss with the ½ of the half squared error in front is no mean
    half = derive.Example.from_equations(MEAN_EQUATIONS.replace(
        "L = ((a1 - y1)**2 + (a2 - y2)**2)/2", "L = 1/2*((a1 - y1)**2 + (a2 - y2)**2)"),
        values=dict(w=-1, b=0.5, x1=2, x2=-1, y1=1, y2=0))
    assert half.check({"dL/dw": 2 * half.grad("w")}).diagnosis("dL/dw") != "missing_mean"
    net = derive.mlp([1, 2], [[[0.5, -0.25], [0.75, 0.5]], [[1, -1], [0.5, 0.5]]],
                     [[0.1, -0.2], [0.3, 0]], [1, 0], activation=["relu", "sigmoid"], loss="mse")
    assert net.check({"dL/dw2_1_1": 2 * net.grad("w2_1_1")}).diagnosis("dL/dw2_1_1") == "missing_mean"


def test_forgot_one_over_n_for_softmax_batches_as_equations_and_through_mlp():
    W, X, b = [[1, -1], [0.5, 1]], [[1, 2, 0], [0, 1, -1]], [[0.1], [-0.2]]
    for ex, key in (
            (derive.Example.from_equations("Z = W @ X + b\nP = softmax(Z)\nL = cross_entropy(P, Y)",
                                           values={"W": W, "X": X, "b": b, "Y": [[1, 0, 0], [0, 1, 1]]}), "dL/dW"),
            (derive.mlp([[1, 0], [2, 1], [0, -1]], [W], [[0.1, -0.2]], [0, 1, 1], activation=["softmax"],
                        loss="cross_entropy"), "dL/dW1"),
            (derive.Example.from_equations("Z = W @ X + b\nA = tanh(Z)\nL = sum((A - Y)**2)/3",
                                           values={"W": W, "X": X, "b": b, "Y": [[1, 0, 0], [0, 1, 1]]}), "dL/dW"),
            (derive.mlp([[1, 0], [2, 1], [0, -1]], [W], [[0.1, -0.2]], [[1, 0], [0, 1], [0, 1]],
                        activation=["tanh"], loss="half_squared_error"), "dL/dW1")):
        name = key.split("/d")[1]
        g = ex.grad_tensor(name).a
        assert ex.check({key: (g * 3).tolist()}).diagnosis(key) == "missing_mean", key
        assert ex.check({key: g.tolist()}).ok


# --- wording -------------------------------------------------------------------------------------


def test_credit_sentences_agree_in_number():
    ex = derive.neuron(x=2, w=3, b=1, y=5)
    assert "The step earns no credit." in ex.check({"z": 8}).to_text()
    assert "The step earns credit." in ex.check({"z": 7}).to_text()
    assert "2 of 2 steps earn credit." in ex.check({"z": 7, "a": 7}).to_text()
    assert "0 of 1 step" not in ex.check({"z": 8}).to_text()


# --- a slip is blamed only when no correct answer contradicts it -----------------------------------


FAN_OUT = """z1 = w1*x
h = {f}(z1)
z2 = w3*z1 + w2*h
L = squared_error(z2, y)"""


@pytest.mark.parametrize("f,values", [("tanh", dict(x=1.5, w1=0.4, w2=-0.8, w3=0.5, y=1)),
                                      ("sigmoid", dict(x=-2, w1=0.3, w2=1.5, w3=-0.7, y=0.5))])
def test_upstream_once_is_not_blamed_when_the_students_own_upstream_steps_are_right(f, values):
    ex = derive.Example.from_equations(FAN_OUT.format(f=f), values=values, lr=0.1)
    ev = ex.evaluation
    g = ev.adjoints("L")
    # the slip: ∂L/∂z2 used as the upstream of both branches of z1
    slip = {("h", "z1"): ev.local("h", "z1").value * g["z2"] / g["h"]}
    once_z1, once_w1 = _slipped(ex, "dL/dz1", locals_=slip), _slipped(ex, "dL/dw1", locals_=slip)
    assert float(once_z1) == pytest.approx(float(g["z2"] * (values["w3"] + ev.local("h", "z1").value)))
    assert abs(float(once_z1 - g["z1"])) > 0.05
    once_new = round(float(_slipped(ex, "w1_new", locals_=slip)), 6)
    assert once_new == pytest.approx(values["w1"] - 0.1 * float(once_w1), abs=1e-6)
    # alone, the slip explains the answers
    assert ex.check({"dL/dw1": once_w1}).diagnosis("dL/dw1") == "upstream_once"
    assert ex.check({"w1_new": once_new}).diagnosis("w1_new") == "upstream_once"
    # with the slip's own ∂L/∂z1 beside it, the slip is still named there (no right answer contradicts it)
    both = ex.check({"dL/dz1": round(float(once_z1), 5), "dL/dw1": round(float(once_w1), 5)})
    assert both.diagnosis("dL/dz1") == "upstream_once" and both.status("dL/dw1") == "carried"
    # a right ∂L/∂z1 or ∂L/∂w1 contradicts it: the update's slip is elsewhere
    right_z1, right_w1 = float(g["z1"]), float(ev.adjoints("L")["w1"])
    for answers in ({"dL/dz1": right_z1, "dL/dw1": right_w1, "w1_new": once_new},
                    {"dL/dw1": right_w1, "w1_new": once_new}, {"dL/dz1": right_z1, "w1_new": once_new},
                    {"dL/dz1": right_z1, "dL/dw1": once_w1}):
        report = ex.check(answers)
        judged = "w1_new" if "w1_new" in answers else "dL/dw1"
        assert report.status(judged) == "incorrect", answers
        assert report.diagnosis(judged) != "upstream_once", answers
        assert "upstream gradient used once" not in report.to_text(), answers
        assert all(report.status(k) == "correct" for k in answers if k != judged)
