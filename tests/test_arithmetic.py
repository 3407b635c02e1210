"""Arithmetic a student can redo (issue 26, item 2): every displayed line of a text document that
combines printed numbers — a product of factors, a sum over paths, an update w − η·g, a
substitution — gives its printed result as those printed numbers give it, to the digits printed.

The check is independent of the printer: it reads the text output, parses each member of each
displayed relation chain that is pure arithmetic on numbers (and the activations' closed forms),
redoes it exactly (``Fraction``; ``mpmath`` at 50 digits for σ, tanh, exp, ln) and rounds to the
printed result's last digit."""
from __future__ import annotations

import random
import re
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import mpmath
import pytest

mpmath.mp.dps = 50  # the functions' values, to far more digits than any document prints

import derive
from derive.rendering.arithmetic import MORE_DIGITS

SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
VULGAR = {"½": Fraction(1, 2), "¼": Fraction(1, 4), "⅓": Fraction(1, 3), "¾": Fraction(3, 4)}
NUMBER = r"−?\d+(?:\.\d+)?(?:×10[⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)?"
RESULT = re.compile(rf"^{NUMBER}$")
TOKEN = re.compile(rf"\s*(\d+(?:\.\d+)?(?:×10[⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)?|[½¼⅓¾]|[()\[\]·+−/²³⁴]|σ|tanh|ReLU|softplus|e\^|ln|log)")
FUNCTIONS = {"σ": lambda x: 1 / (1 + mpmath.exp(-x)), "tanh": mpmath.tanh,
             "ReLU": lambda x: max(x, 0), "softplus": lambda x: mpmath.log(1 + mpmath.exp(x)),
             "ln": mpmath.log, "log": mpmath.log}


def number(text: str) -> Fraction:
    text = text.replace("−", "-")
    if "×10" in text:
        mantissa, exponent = text.split("×10")
        return Fraction(Decimal(mantissa)) * Fraction(10) ** int(exponent.translate(SUPERSCRIPTS))
    return Fraction(Decimal(text))


def tokens(text: str):
    out, i = [], 0
    while i < len(text):
        if text[i] == " ":
            i += 1
            continue
        m = TOKEN.match(text, i)
        if m is None:
            return None  # a symbol, a relation, a matrix: not arithmetic on numbers
        out.append(m.group(1))
        i = m.end()
    return out


def _mp(x):
    return mpmath.mpf(x.numerator) / x.denominator if isinstance(x, Fraction) else x


def _both(a, b):
    """Exact while both are fractions; 50-digit mpmath once a function value joins in."""
    return (a, b) if isinstance(a, Fraction) and isinstance(b, Fraction) else (_mp(a), _mp(b))


class Parser:
    """+ − · / and powers over numbers, brackets and a few functions; juxtaposition multiplies."""

    def __init__(self, toks):
        self.toks, self.i = toks, 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self):
        self.i += 1
        return self.toks[self.i - 1]

    def expression(self):
        sign = 1
        if self.peek() == "−":
            self.take()
            sign = -1
        value = sign * self.term()
        while self.peek() in ("+", "−"):
            op = self.take()
            value, t = _both(value, self.term())
            value = value + t if op == "+" else value - t
        return value

    def term(self):
        value = self.power()
        while self.peek() is not None and self.peek() not in ("+", "−", ")", "]"):
            divide = self.peek() == "/"
            if self.peek() in ("·", "/"):
                self.take()
            value, factor = _both(value, self.power())  # juxtaposed: ½(…), 2(a − y)
            value = value / factor if divide else value * factor
        return value

    def power(self):
        base = self.atom()
        while self.peek() in ("²", "³", "⁴"):
            base = base ** {"²": 2, "³": 3, "⁴": 4}[self.take()]
        return base

    def atom(self):
        t = self.take()
        if t in ("(", "["):
            v = self.expression()
            assert self.take() in (")", "]")
            return v
        if t == "−":
            return -self.atom()
        if t in VULGAR:
            return VULGAR[t]
        if t in FUNCTIONS or t == "e^":
            power = 1
            while self.peek() in ("²", "³"):  # tanh²(z): the function's value squared
                power *= {"²": 2, "³": 3}[self.take()]
            arg = _mp(self.atom())
            return (mpmath.exp(arg) if t == "e^" else FUNCTIONS[t](arg)) ** power
        return number(t)


def redo(text: str):
    toks = tokens(text)
    if not toks or not (any(t in ("·", "+", "−", "/", "²", "³") for t in toks[1:])
                        or any(t in FUNCTIONS or t == "e^" for t in toks)):
        return None  # one number restated, or not arithmetic
    p = Parser(toks)
    value = p.expression()
    assert p.peek() is None, text
    return value


def printed_decimal(printed: str) -> Decimal:
    """The printed number as a Decimal that keeps its last digit's place (0.2500, 1.953×10⁶)."""
    mantissa, _, exponent = printed.replace("−", "-").partition("×10")
    return Decimal(mantissa).scaleb(int(exponent.translate(SUPERSCRIPTS)) if exponent else 0)


def rounds_to(value, printed: str) -> bool:
    target = printed_decimal(printed)
    quantum = Decimal(1).scaleb(target.as_tuple().exponent)
    with localcontext() as ctx:
        ctx.prec = 60
        if isinstance(value, Fraction):
            x = Decimal(value.numerator) / Decimal(value.denominator)
        else:
            x = Decimal(mpmath.nstr(value, 50, strip_zeros=False))
        return x.quantize(quantum, ROUND_HALF_EVEN) == target or x.quantize(quantum, ROUND_HALF_UP) == target


def combining_lines(text: str):
    """(line, member, result) for every member of a displayed chain that is arithmetic on
    printed numbers followed by = or ≈ and one printed number."""
    for line in text.splitlines():
        if not line.startswith("    ") or line.startswith("        "):
            continue  # displays are indented by 4; justifications by 8
        if "   " in line.strip():
            continue  # a table row: columns apart by three spaces
        # a line whose numbers have more digits here than elsewhere says so; it is redone too
        members = re.split(r" [=≈] ", line.strip().removesuffix(f" ({MORE_DIGITS})"))
        for member, result in zip(members, members[1:]):
            result = result.strip()
            if RESULT.match(result) and tokens(member) is not None:
                yield line, member, result


def check_document(text: str) -> tuple[int, list]:
    checked, wrong = 0, []
    for line, member, result in combining_lines(text):
        value = redo(member)
        if value is None:
            continue
        checked += 1
        if not rounds_to(value, result):
            wrong.append(f"{line.strip()}   [{member} gives {value if isinstance(value, Fraction) else mpmath.nstr(value, 12)}, not {result}]")
    return checked, wrong


# --- random examples ------------------------------------------------------------------------


def _decimal(rng, lo, hi, places):
    return round(rng.uniform(lo, hi), places) or 0.5


SMOOTH = ["sigmoid", "tanh", "softplus", "relu", "leaky_relu", "elu", "silu", "identity"]
LOSSES = ["squared_error", "half_squared_error", "absolute_error"]


def random_example(seed: int):
    """A seeded random example: one neuron, a chain, a small network or a matrix layer."""
    rng = random.Random(seed)
    kind = ["neuron", "neuron", "chain", "mlp", "tensor", "bce"][seed % 6]
    if kind == "neuron":
        return derive.neuron(x=_decimal(rng, -3, 3, 1), w=_decimal(rng, -2, 2, 2), b=_decimal(rng, -1, 1, 1),
                             y=_decimal(rng, -1, 2, 1), activation=rng.choice(SMOOTH), loss=rng.choice(LOSSES),
                             lr=rng.choice([0.1, 0.05, 0.5, 0.01]))
    if kind == "bce":
        return derive.neuron(x=_decimal(rng, -3, 3, 1), w=_decimal(rng, -2, 2, 2), b=_decimal(rng, -1, 1, 1),
                             y=rng.choice([0, 1]), activation="sigmoid", loss="binary_cross_entropy", lr=0.1)
    if kind == "chain":
        depth = rng.randint(2, 4)
        return derive.chain(depth=depth, weight=[_decimal(rng, -1.5, 1.5, 2) for _ in range(depth)],
                            x=_decimal(rng, -2, 2, 1), y=_decimal(rng, -1, 1, 1),
                            activation=rng.choice(["sigmoid", "tanh", "relu", "softplus"]), lr=0.1)
    if kind == "mlp":
        n, h = rng.randint(1, 2), 2
        weights = [[[_decimal(rng, -1, 1, 1) for _ in range(n)] for _ in range(h)],
                   [[_decimal(rng, -1, 1, 1) for _ in range(h)]]]
        return derive.mlp(inputs=[_decimal(rng, -1, 1, 1) for _ in range(n)], weights=weights,
                          biases=[[_decimal(rng, -0.5, 0.5, 1) for _ in range(h)], [_decimal(rng, -0.5, 0.5, 1)]],
                          targets=[rng.choice([0, 1, 0.5])], activation=rng.choice(["sigmoid", "tanh"]),
                          loss="half_squared_error", lr=0.5)
    if seed % 12 == 4:  # a softmax classifier on a batch: the cross-entropy's mean written out
        return _classifier(rng)
    act = rng.choice(["sigmoid", "tanh", "relu"])
    return derive.Example.from_equations(
        f"z = W @ x + b\na = {act}(z)\nL = sum((a - y)**2)",
        values={"W": [[_decimal(rng, -1, 1, 1) for _ in range(2)] for _ in range(2)],
                "x": [_decimal(rng, -1, 1, 1), _decimal(rng, -1, 1, 1)],
                "b": [_decimal(rng, -0.5, 0.5, 1), _decimal(rng, -0.5, 0.5, 1)],
                "y": [rng.choice([0, 1]), rng.choice([0, 1])]}, lr="0.1")


def _classifier(rng):
    batch = rng.randint(1, 3)
    X = [[_decimal(rng, -2, 2, 1) for _ in range(batch)] for _ in range(2)]
    return derive.Example.from_equations(
        "z = W @ X + b\np = softmax(z)\nL = cross_entropy(p, y)",
        values={"W": [[_decimal(rng, -1, 1, 1) for _ in range(2)] for _ in range(3)], "X": X,
                "b": [_decimal(rng, -0.5, 0.5, 1) for _ in range(3)],
                "y": [rng.randint(0, 2) for _ in range(batch)]}, lr="0.1")


def test_the_issues_own_lines_are_checked_as_a_student_would():
    # the two lines the issue quotes: 4 significant digits do not give the printed product
    assert not rounds_to(redo("(−1.124) · 0.09828 · (−0.5) · 0.6347"), "0.03507")
    assert rounds_to(redo("(−1.124) · 0.09828 · (−0.5) · 0.6347"), "0.03506")
    assert not rounds_to(redo("(−0.04228) · 0.8"), "−0.03383")
    assert rounds_to(redo("3 − 0.1 · 8"), "2.2") and rounds_to(redo("σ(7)"), "0.9991")
    assert redo("0.5") is None and redo("x · 2") is None


@pytest.mark.parametrize("chunk", range(8))
def test_every_combining_line_of_200_random_examples_redoes(chunk):
    checked, wrong = 0, []
    for seed in range(chunk * 25, chunk * 25 + 25):
        ex = random_example(seed)
        n, bad = check_document(ex.to_text())
        checked += n
        wrong += [f"seed {seed}: {w}" for w in bad]
    assert not wrong, "\n".join(wrong[:20])
    assert checked >= 25 * 6  # the check reads real lines (it cannot pass on none)


def test_more_digits_also_redo_and_the_exact_values_stay_in_the_key():
    ex = derive.neuron(x=2, w=-1, b=0.5, y=1, activation="sigmoid", lr=0.1)
    for precision in (2, 3, 6):
        checked, wrong = check_document(ex.to_text(precision))
        assert checked >= 8 and not wrong, wrong
    # the result is the exact value rounded, everywhere: the text shows the key's value
    key = float(ex.grad("w"))
    assert f"{key:.4g}".replace("-", "−") in ex.to_text()
    assert "≈" in ex.to_text(exact=True)


def test_training_comparison_layers_and_homework_lines_redo(tmp_path):
    from derive.courseware.compare import compare_activations, render_comparison
    from derive.courseware.homework import generate
    from derive.model.spec import load_spec
    docs = {opt: derive.neuron(x=2, w=-1, b=0.5, y=1, activation="sigmoid").train(2, optimizer=opt, lr=0.1).to_text()
            for opt in ("sgd", "momentum", "adam", "rmsprop")}
    docs["clipped"] = derive.chain(depth=3, weight=0.7, x=1.5, y=0.2, activation="tanh").train(2, lr=0.1,
                                                                                            clip_norm=0.5).to_text()
    docs["compare"] = render_comparison(compare_activations(["relu", "sigmoid", "tanh"], x=1.5, w=-0.7, b=0.3,
                                                            y=1, lr=0.1), "text")
    docs["batchnorm"] = derive.batchnorm([1, 2, 4], gamma=2, beta=0.5, upstream=[1, -1, 0.5]).to_text()
    docs["rnn"] = derive.rnn([1, -1, 2], h0=0, w_xh=0.5, w_hh=1.5, w_hy=1, y=1).to_text()
    spec = tmp_path / "hw.yaml"
    spec.write_text("equations: |\n  z = w*x + b\n  a = tanh(z)\n  L = (a - y)**2\nvalues: {y: 0.5}\n"
                    "random:\n  x: {uniform: [-2, 2], decimals: 1}\n  w: {uniform: [-1, 1], decimals: 2}\n"
                    "  b: {choice: [-0.3, 0.1]}\nlr: 0.1\n")
    generate(load_spec(str(spec)), 4, 3, tmp_path / "hw", ["text"], jobs=1)
    docs["solutions"] = (tmp_path / "hw" / "solutions.txt").read_text()
    for name, text in docs.items():
        checked, wrong = check_document(text)
        assert checked >= 3 and not wrong, (name, wrong)


def exact_equalities_wrong(text: str) -> tuple[int, list]:
    """Every member followed by "=" (not ≈) must give its printed result exactly from the
    printed numbers: 0.3333 · (−3) · 1 = −1 is false as written, (1/3) · (−3) · 1 = −1 is true."""
    checked, wrong = 0, []
    for line in text.splitlines():
        if not line.startswith("    ") or line.startswith("        ") or "   " in line.strip():
            continue
        parts = re.split(r" ([=≈]) ", line.strip())
        for member, relation, result in zip(parts[0::2], parts[1::2], parts[2::2]):
            result = result.strip()
            if relation != "=" or not RESULT.match(result) or tokens(member) is None:
                continue
            value = redo(member)
            if value is None:
                continue
            checked += 1
            if not (isinstance(value, Fraction) and value == number(result)):
                wrong.append(f"{line.strip()}   [{member} gives {value}]")
    return checked, wrong


BATCH_MEAN = ("z1 = w*x1 + b\nz2 = w*x2 + b\nz3 = w*x3 + b\nL1 = squared_error(z1, y1)\n"
              "L2 = squared_error(z2, y2)\nL3 = squared_error(z3, y3)\nL = (L1 + L2 + L3)/3")
MULTI_PATH = "h = tanh(w*x)\nu = v*h\nq = c*h\nL = (u + q - y)**2"
SEVENTH = "z1 = w1*x + b\nz2 = w2*x + b\ns = sigmoid(z1) + relu(z2)\nL = (s - y)**2/7"


@pytest.mark.parametrize("equations, values, lines", [
    (BATCH_MEAN, {"w": 0.5, "b": 0, "x1": 1, "x2": 2, "x3": -1, "y1": 2, "y2": 3, "y3": 0},
     ["∂L/∂L1 · ∂L1/∂z1 · ∂z1/∂w = (1/3) · (−3) · 1 = −1"]),
    (BATCH_MEAN, {"w": -1.3, "b": 0.4, "x1": 0.7, "x2": -2, "x3": 3, "y1": -4, "y2": 0.1, "y3": 1.5}, []),
    (BATCH_MEAN, {"w": 0, "b": 0, "x1": 0, "x2": 0, "x3": 0, "y1": 0, "y2": 0, "y3": 0}, []),
    (MULTI_PATH, {"w": 0.8, "x": -1.5, "v": 2, "c": -0.3, "y": 0.5}, []),
    (MULTI_PATH, {"w": -2, "x": 0.1, "v": 0, "c": 4, "y": -1}, []),
    (SEVENTH, {"w1": 0.5, "w2": -1, "x": 2, "b": 0.3, "y": 1}, []),
    (SEVENTH, {"w1": -1.2, "w2": 0.7, "x": -0.5, "b": 0, "y": -2}, []),
])
def test_batch_means_and_path_sums_say_equal_only_when_the_printed_numbers_give_it(equations, values, lines):
    ex = derive.Example.from_equations(equations, values=values, lr=0.1)
    text = ex.to_text()
    for line in lines:
        assert line in text
    checked, wrong = exact_equalities_wrong(text)
    assert checked >= (3 if equations != MULTI_PATH else 0) and not wrong, "\n".join(wrong)
    n, bad = check_document(text)  # and every ≈ rounds to its printed result
    assert n >= 8 and not bad, bad


def test_a_third_in_a_product_is_printed_as_a_fraction_and_read_exactly():
    import sympy as sp
    from derive.core.derivation import Chain, Partial, Product, Sum, Value
    from derive.rendering.arithmetic import short_fraction
    from derive.rendering.printing import printer_for
    assert short_fraction(sp.Rational(7, 3)) == sp.Rational(7, 3)
    assert short_fraction(sp.Rational(1, 4)) is None and short_fraction(sp.Rational(1, 13)) is None
    assert short_fraction(sp.Integer(2)) is None and short_fraction(sp.Rational(200, 3)) is None
    line = Chain(Partial("L", "w"), "=", Product((Value(sp.Rational(1, 3)), Value(sp.Integer(-3)), Value(sp.Integer(1)))), "=",
                 Value(sp.Integer(-1)))
    assert printer_for("text").doprint(line) == "∂L/∂w = (1/3) · (−3) · 1 = −1"
    assert r"\frac{1}{3} \cdot \left(-3\right) \cdot 1 = -1" in printer_for("latex").doprint(line)
    # a sum of rounded path terms that is 2 only to its digits says ≈
    paths = Chain(Partial("L", "b"), "=", Sum((Value(sp.Rational(-2, 15)), Value(sp.Rational(5, 3)),
                                                Value(sp.Rational(7, 15)))), "=", Value(sp.Integer(2)))
    text = printer_for("text").doprint(paths)
    assert text.endswith(" ≈ 2") and "5/3" in text, text
    checked, wrong = exact_equalities_wrong("    " + text)
    assert not wrong
