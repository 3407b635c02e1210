"""Carried-forward credit by intervals and hints that fit (issue 15, items 4 and 5): each bullet of
the issue's "Why" on its example, the new catalogue rules, and the property that consistent
follow-on steps are carried however the student rounded."""
import math

import pytest

import derive

# A sigmoid neuron where the sign slip in ∂L/∂a gives the dL/dw = −0.03501.
SIGN = dict(x=1, w=3, b=1, y=-1, activation="sigmoid", loss="half_squared_error", lr=0.1)


def _sigmoid(z):
    return 1 / (1 + math.exp(-z))


def test_sign_error_kept_at_full_precision_is_carried_like_rounding_first():
    ex = derive.neuron(**SIGN)
    a = _sigmoid(3 * 1 + 1)
    slipped = -(a - (-1))  # y − a instead of a − y
    local = a * (1 - a)
    full, rounded = slipped * local * 1, float(f"{slipped:.4g}") * float(f"{local:.4g}")
    assert f"{full:.4g}" == "-0.03501" and f"{rounded:.4g}" == "-0.035"  # the two students differ
    for dldw in (f"{full:.4g}", f"{rounded:.4f}"):
        report = ex.check({"dL/da": f"{slipped:.4g}", "da/dz": f"{local:.4g}", "dL/dw": dldw})
        assert report.status("dL/da") == "incorrect" and report.diagnosis("dL/da") == "sign_error"
        assert report.status("da/dz") == "correct"
        assert report.status("dL/dw") == "carried", (dldw, report.hint("dL/dw"))
        assert report.diagnosis("dL/dw") == ""  # a carried step carries no diagnosis
        assert report.hint("dL/dw").startswith("right given your dL/da, which this step inherits")
    # Outside what the student's own values allow: not carried.
    report = ex.check({"dL/da": f"{slipped:.4g}", "da/dz": f"{local:.4g}", "dL/dw": "-0.03520"})
    assert report.status("dL/dw") == "incorrect"


def test_machine_floats_are_carried_at_their_own_precision():
    ex = derive.neuron(**SIGN)
    a = _sigmoid(4)
    slipped, local = -(a + 1), a * (1 - a)
    report = ex.check({"dL/da": slipped, "da/dz": local, "dL/dw": slipped * local,
                       "w_new": 3 - 0.1 * slipped * local})
    assert [report.status(k) for k in ("dL/da", "dL/dw", "w_new")] == ["incorrect", "carried", "carried"]
    # a float off in its 7th digit is not what the student's own values give
    report = ex.check({"dL/da": slipped, "da/dz": local, "dL/dw": slipped * local * (1 + 1e-6)})
    assert report.status("dL/dw") == "incorrect"


def test_a_gate_the_written_value_leaves_undecided_carries_both_sides():
    # z = 0.004 exactly: a student who wrote z = 0.00 may have used 0 (ReLU'(0) = 0) or 0.004
    ex = derive.neuron(x=1, w="0.01", b="-0.006", y=1, activation="relu", lr=0.1)
    assert ex.value("z") == derive.core.numbers.parse_decimal("0.004")
    report = ex.check({"z": "0.00", "dL/dw": 0})
    assert report.status("z") == "incorrect"
    assert report.status("dL/dw") == "carried" and "your z" in report.hint("dL/dw")
    assert ex.check({"dL/dw": 0}).status("dL/dw") == "incorrect"  # nothing inherited: wrong


def test_right_values_rounded_early_are_carried_with_advice():
    ex = derive.neuron(**SIGN)
    a = _sigmoid(4)
    # every earlier answer right to 3 figures; the product of the rounded values is off in its 4th
    dlda, local = float(f"{a + 1:.3g}"), float(f"{a * (1 - a):.3g}")
    product = f"{dlda * local:.4g}"
    exact = (a + 1) * a * (1 - a)
    assert product != f"{exact:.4g}"
    report = ex.check({"dL/da": f"{a + 1:.3g}", "da/dz": f"{a * (1 - a):.3g}", "dL/dw": product})
    assert report.status("dL/da") == report.status("da/dz") == "correct"
    assert report.status("dL/dw") == "carried"
    assert "carry more digits" in report.hint("dL/dw")


@pytest.mark.parametrize("depth", [400, 1000])
def test_deep_chain_checks_iteratively(depth):
    ex = derive.chain(depth=depth, weight="0.9", x=1, activation="relu", loss="half_squared_error", y=0)
    last = 0.9 ** depth  # a_D = 0.9^D, every unit active
    doubled = 2 * last  # ∂L/∂a_D of ½a² written as 2a (the ½ missed)
    grad_w1 = last * 0.9 ** (depth - 1)  # ∂L/∂w1 = a_D · Π w (x = 1)
    assert math.isclose(float(ex.grad("w1")), grad_w1, rel_tol=1e-9)
    report = ex.check({f"dL/da{depth}": f"{doubled:.5g}", f"dL/dz{depth}": f"{doubled:.5g}",
                       "dL/dw1": f"{2 * grad_w1:.4g}"})
    assert report.status(f"dL/da{depth}") == "incorrect"
    assert report.diagnosis(f"dL/da{depth}") == "factor_two"
    assert report.status(f"dL/dz{depth}") == "carried" and report.status("dL/dw1") == "carried"
