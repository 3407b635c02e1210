"""One value, one printed form (issue 26, item 2): a value a document shows is shown with the
same digits wherever it stands — the line that gives it, a later factor, a substituted symbol —
and with the fewest digits that let every combining line be redone from the page.

The check reads the text output only: for each exact value of the example (every node's value,
every total derivative, every local derivative), every number printed in a displayed line that
is that value rounded (to 4 or more significant digits) must have one number of digits."""
from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import mpmath
import pytest
import sympy as sp

import derive
from derive.rendering.arithmetic import MORE_DIGITS
from test_arithmetic import NUMBER, check_document, printed_decimal, random_example, rounds_to

TOKEN = re.compile(rf"(?<![\w.])({NUMBER})(?![\w.])")


def _significant(token: str) -> int:
    mantissa = token.replace("−", "").split("×10")[0]
    digits = mantissa.replace(".", "").lstrip("0")
    return len(digits) if digits else 1


def exact_values(ex) -> list:
    """The example's exact numbers a document shows: node values, total and local derivatives."""
    out = []
    names = list(ex.inputs) + list(ex.nodes)
    for name in names:
        out.append(ex.value(name))
        try:
            out.append(ex.grad(name))
        except Exception:  # noqa: BLE001 - the output itself, or an input the output ignores
            pass
    for p in ex.params:
        d = ex.derivation(p)
        out += [step.value for step in d.local] + [a.value for a in d.adjoints] + [t.value for t in d.paths]
    seen, values = set(), []
    for v in out:
        try:
            x = mpmath.mpf(sp.N(abs(v), 40))
        except (TypeError, ValueError):
            continue
        if isinstance(v, sp.Rational) and v.q in (1, 2, 4, 5, 8, 10, 16, 20, 25, 40, 50, 100):
            continue  # a short exact decimal: printed exactly, never rounded
        key = mpmath.nstr(x, 30)
        if x != 0 and key not in seen:
            seen.add(key)
            values.append(x)
    return values


def displayed_numbers(text: str) -> list:
    """Every number printed in a displayed line: not a table row, a justification or a figure's
    label (a graph's edge or unit, in the figure's own short form)."""
    out = []
    for line in text.splitlines():
        if not line.startswith("    ") or line.startswith("        ") or "   " in line.strip() \
                or "──▶" in line or ": value " in line or MORE_DIGITS in line:
            continue  # (a line that says its numbers have more digits here than elsewhere)
        out += TOKEN.findall(line)
    return out


def mixed_digits(text: str, values) -> list:
    """(value, the printed forms) of every value printed with more than one number of digits. A
    printed number is read as the value nearest to it among those it rounds (tanh(z) ≈ z for a
    small z: both round to 0.02746, which is the nearer one's)."""
    forms: dict = {}
    for t in sorted(set(t.replace("−", "") for t in displayed_numbers(text))):
        if _significant(t) < 4:
            continue
        near = [v for v in values if rounds_to(v, t)]
        if near:
            shown = mpmath.mpf(str(printed_decimal(t)))
            forms.setdefault(min(near, key=lambda v: abs(v - shown)), []).append(t)
    return [(mpmath.nstr(v, 12), f) for v, f in forms.items() if len({_significant(t) for t in f}) > 1]


def test_the_checker_finds_mixed_digits_and_passes_one_form():
    p = mpmath.mpf(1) / (1 + mpmath.exp(-mpmath.mpf("0.3")))  # σ(0.3) = 0.574442…
    bad = "    p = σ(0.3) ≈ 0.5744\n    ∂L/∂p = −1/0.57444 ≈ −1.7408\n"
    assert mixed_digits(bad, [p]) == [(mpmath.nstr(p, 12), ["0.5744", "0.57444"])]
    assert mixed_digits("    p = σ(0.3) ≈ 0.57444\n    ∂L/∂p = −1/0.57444 ≈ −1.7408\n", [p]) == []
    assert mixed_digits("    parameter   0.5744   0.57444\n", [p]) == []  # a table row is not read


def test_a_value_is_printed_alike_in_the_line_that_gives_it_and_the_lines_that_use_it():
    # the case: p = σ(0.3) was "≈ 0.5744" in the forward pass and 0.57444 in ∂L/∂p
    ex = derive.Example.from_equations("p = sigmoid(a)\nL = -(y*log(p) + (1 - y)*log(1 - p))",
                                       values=dict(a=0.3, y=1))
    text = ex.to_text()
    assert "p = σ(a) = σ(0.3) ≈ 0.5744\n" in text
    assert "∂L/∂p = (1 − y)/(1 − p) − y/p = (1 − 1)/(1 − 0.5744) − 1/0.5744 ≈ −1.741\n" in text
    assert "∂L/∂a = (−1.741) · 0.24446 ≈ −0.4256\n" in text  # one digit more, in one factor
    assert float(ex.grad("a")) == pytest.approx(-0.425557, abs=1e-6)
    assert mixed_digits(text, exact_values(ex)) == []
    n, wrong = check_document(text)
    assert n >= 5 and not wrong, wrong


MLP = dict(inputs=[1, 2], weights=[[[0.1, 0.2], [0.3, -0.4]], [[0.5, -0.6]]], biases=[[0.1, 0.2], [0.3]],
           targets=[1], activation="sigmoid", loss="half_squared_error", lr=0.5)


def test_an_mlp_carries_few_digits_and_each_value_keeps_them():
    ex = derive.mlp(**MLP)
    text = ex.to_text(notation={"delta": True, "index_base": 0})
    # δ2_0 ≈ −0.098909 took 7 digits in its factors; 4 and 5 do, once the factors are chosen
    assert "δ2_0 = ∂L/∂a2_0 · ∂a2_0/∂z2_0 = (−0.409147) · 0.24175 ≈ −0.09891\n" in text
    assert "δ1_1 = σ'(z1_1) · (w2_0_1 · δ2_0) = 0.2445 · [(−0.6) · (−0.09891)] ≈ 0.01451\n" in text
    numbers = [t for t in displayed_numbers(text) if "." in t]
    assert max(_significant(t) for t in numbers) <= 6
    values = exact_values(ex)
    assert len(values) >= 12 and mixed_digits(text, values) == []
    n, wrong = check_document(text)
    assert n >= 20 and not wrong, wrong
    # the numbers are the network's: δ2_0 = (a − y)σ'(z) at z = 0.5σ(0.6) − 0.6σ(−0.3) + 0.3
    z = 0.5 / (1 + mpmath.exp(-0.6)) - 0.6 / (1 + mpmath.exp(0.3)) + 0.3
    a = 1 / (1 + mpmath.exp(-z))
    assert float((a - 1) * a * (1 - a)) == pytest.approx(-0.0989095, abs=1e-7)


SKIP = "h = tanh(w*x)\nu = h + x\nL = (u*h - y)**2"


def test_a_value_on_two_paths_is_printed_alike_on_both():
    ex = derive.Example.from_equations(SKIP, values=dict(w=0.5, x=0.8, y=1))
    text = ex.to_text()
    assert mixed_digits(text, exact_values(ex)) == []
    n, wrong = check_document(text)
    assert n >= 6 and not wrong, wrong


@pytest.mark.parametrize("chunk", range(4))
def test_every_value_of_random_scalar_examples_has_one_printed_form(chunk):
    wrong, read = [], 0
    for seed in range(chunk * 50, chunk * 50 + 50):
        if seed % 6 == 4:
            continue  # a matrix layer: its entries are another document's business
        ex = random_example(seed)
        text = ex.to_text()
        values = exact_values(ex)
        read += len(values)
        wrong += [f"seed {seed}: {v} printed as {forms}" for v, forms in mixed_digits(text, values)]
    assert not wrong, "\n".join(wrong[:20])
    assert read >= 40 * 8  # the check reads real values (it cannot pass on none)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
def test_a_training_run_states_update_1_with_the_digits_of_the_worked_step(optimizer):
    # s₁ was "≈ 0.01468" on its line and √0.014682 in the update; a was 0.1824 and 0.18243
    tr = derive.neuron(x=2, w=-1, b=0.5, y=1, activation="sigmoid").train(2, optimizer=optimizer, lr=0.1)
    text = tr.to_text()
    assert mixed_digits(text, exact_values(tr.example)) == []
    assert "a = σ(z) = σ(−1.5) ≈ 0.18243\n" in text and "(0.18243 − 1)² ≈ 0.6684" in text
    n, wrong = check_document(text)
    assert n >= 8 and not wrong, wrong
    if optimizer == "rmsprop":  # g/√s at t = 1 is −1/√(1 − α) up to ε: w_new ≈ 0 needs ten digits,
        # in its own line, which says so; g₁ and s₁ keep their four elsewhere
        assert "g₁ = ∂L/∂w ≈ −0.4878\n" in text and "≈ 0.002379\n" in text
        line = next(l for l in text.splitlines() if l.strip().startswith("w_new"))
        assert "√0.002379033106" in line and line.endswith(f"({MORE_DIGITS})")
