"""The registry's formulas are math, printed by the one printer per format: every entry's definition
and derivative as the LaTeX and text printers write them, each written form equal to the function it
defines, and a function registered later gets both with no strings."""
import mpmath
import pytest
import sympy as sp

import derive
from derive.core import functions as F
from derive.core.derivation import Chain, Remark
from derive.rendering.printing import printer_for

LATEX, TEXT = printer_for("latex"), printer_for("text")

CASES = r"\begin{cases} %s, & %s \\ %s, & %s \end{cases}"

# name -> (definition in LaTeX, in text, derivative in LaTeX, in text)
PRINTED = {
    "relu": (
        r"\operatorname{ReLU}(z) = \max(0, z) = " + CASES % ("z", "z > 0", "0", r"z \le 0"),
        "ReLU(z) = max(0, z) = z if z > 0, else 0",
        r"\operatorname{ReLU}'(z) = \mathbf{1}\left[z > 0\right] = " + CASES % ("1", "z > 0", "0", r"z \le 0")
        + r"\quad(\operatorname{ReLU}'(0) = 0\text{ by convention})",
        "ReLU'(z) = 𝟙[z > 0] = 1 if z > 0, else 0 (ReLU'(0) = 0 by convention)"),
    "leaky_relu": (
        r"\operatorname{LeakyReLU}(z, \alpha) = " + CASES % ("z", "z > 0", r"\alpha z", r"z \le 0"),
        "LeakyReLU(z, α) = z if z > 0, else αz",
        r"\operatorname{LeakyReLU}'(z) = " + CASES % ("1", "z > 0", r"\alpha", r"z \le 0")
        + r"\quad(\operatorname{LeakyReLU}'(0) = \alpha\text{ by convention})",
        "LeakyReLU'(z) = 1 if z > 0, else α (LeakyReLU'(0) = α by convention)"),
    "elu": (
        r"\operatorname{ELU}(z, \alpha) = " + CASES % ("z", "z > 0", r"\alpha \left(e^{z} - 1\right)", r"z \le 0"),
        "ELU(z, α) = z if z > 0, else α(e^z − 1)",
        r"\operatorname{ELU}'(z) = " + CASES % ("1", "z > 0", r"\alpha e^{z}", r"z \le 0")
        + r"\quad(\operatorname{ELU}'(0) = \alpha\text{ by convention})",
        "ELU'(z) = 1 if z > 0, else α · e^z (ELU'(0) = α by convention)"),
    "sigmoid": (
        r"\sigma(z) = \frac{1}{1 + e^{- z}}", "σ(z) = 1/(1 + e^(−z))",
        r"\sigma'(z) = \sigma(z) \left(1 - \sigma(z)\right)", "σ'(z) = σ(z)(1 − σ(z))"),
    "tanh": (
        r"\tanh{\left(z \right)} = \frac{e^{z} - e^{- z}}{e^{z} + e^{- z}}",
        "tanh(z) = (e^z − e^(−z))/(e^z + e^(−z))",
        r"\tanh'(z) = 1 - \tanh^{2}{\left(z \right)}", "tanh'(z) = 1 − tanh²(z)"),
    "softplus": (
        r"\operatorname{softplus}(z) = \log{\left(1 + e^{z} \right)}", "softplus(z) = log(1 + e^z)",
        r"\operatorname{softplus}'(z) = \sigma(z)", "softplus'(z) = σ(z)"),
    "gelu": (
        r"\operatorname{GELU}(z) = z \Phi(z) = \frac{1}{2} z \left(1 + \operatorname{erf}{\left(\frac{z}{\sqrt{2}} \right)}\right)",
        "GELU(z) = z · Φ(z) = ½z(1 + erf(z/√2))",
        r"\operatorname{GELU}'(z) = \Phi(z) + z \varphi(z)", "GELU'(z) = Φ(z) + z · φ(z)"),
    "silu": (
        r"\operatorname{SiLU}(z) = z \sigma(z)", "SiLU(z) = z · σ(z)",
        r"\operatorname{SiLU}'(z) = \sigma(z) \left(1 + z \left(1 - \sigma(z)\right)\right)",
        "SiLU'(z) = σ(z)(1 + z(1 − σ(z)))"),
    "identity": (r"\operatorname{id}(z) = z", "id(z) = z", r"\operatorname{id}'(z) = 1", "id'(z) = 1"),
    "squared_error": (
        r"\operatorname{SE}(a, y) = \left(a - y\right)^{2}", "SE(a, y) = (a − y)²",
        r"\frac{\partial \operatorname{SE}(a, y)}{\partial a} = 2 \left(a - y\right)", "∂SE(a, y)/∂a = 2(a − y)"),
    "binary_cross_entropy": (
        r"\operatorname{BCE}(a, y) = - \left(y \log{\left(a \right)} + \left(1 - y\right) \log{\left(1 - a \right)}\right)",
        "BCE(a, y) = −(y · log(a) + (1 − y) · log(1 − a))",
        r"\frac{\partial \operatorname{BCE}(a, y)}{\partial a} = \frac{a - y}{a \left(1 - a\right)}",
        "∂BCE(a, y)/∂a = (a − y)/(a(1 − a))"),
    "huber": (
        r"\operatorname{Huber}(r, \delta) = " + CASES % (r"\frac{1}{2} r^{2}", r"\left|r\right| \le \delta",
                                                         r"\delta \left(\left|r\right| - \frac{1}{2} \delta\right)",
                                                         r"\left|r\right| > \delta"),
        "Huber(r, δ) = ½r² if |r| ≤ δ, else δ(|r| − ½δ)",
        r"\frac{\partial \operatorname{Huber}(r, \delta)}{\partial r} = "
        + CASES % ("r", r"\left|r\right| \le \delta", r"\delta \cdot \operatorname{sign}\left(r\right)",
                   r"\left|r\right| > \delta"),
        "∂Huber(r, δ)/∂r = r if |r| ≤ δ, else δ · sign(r)"),
    "hinge": (
        r"\operatorname{hinge}(y, s) = \max\left(0, 1 - y s\right)", "hinge(y, s) = max(0, 1 − ys)",
        r"\frac{\partial \operatorname{hinge}(y, s)}{\partial s} = - y \mathbf{1}\left[y s \le 1\right] = "
        + CASES % ("- y", r"y s \le 1", "0", "y s > 1"),
        "∂hinge(y, s)/∂s = −y · 𝟙[ys ≤ 1] = −y if ys ≤ 1, else 0"),
}


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_definition_and_derivative_as_printed(name):
    spec = F.FUNCTIONS[name]
    definition_latex, definition_text, derivative_latex, derivative_text = PRINTED[name]
    assert LATEX.doprint(spec.definition) == definition_latex
    assert TEXT.doprint(spec.definition) == definition_text
    assert LATEX.doprint(spec.derivative) == derivative_latex
    assert TEXT.doprint(spec.derivative) == derivative_text


def test_rules_quoted_by_justifications():
    """"Why:" lines quote the rule from the entry: prime notation for activations, d/dx for the
    elementary functions (also for several arguments: ∂/∂a), ∂ of a loss by its argument."""
    expected = {"sigmoid": "σ'(z) = σ(z)(1 − σ(z))", "exp": "d/dx e^x = e^x", "sqrt": "d/dx √x = 1/(2√x)",
                "log": "d/dx log(x) = 1/x", "cos": "d/dx cos(x) = −sin(x)",
                "normal_pdf": "d/dx φ(x) = −x · φ(x)",
                "logsumexp": "∂/∂a logsumexp(a, b) = e^a/(e^a + e^b)",
                "half_squared_error": "∂½SE(a, y)/∂a = a − y", "relu": "ReLU'(z) = 𝟙[z > 0]"}
    assert {n: TEXT.doprint(F.FUNCTIONS[n].rule) for n in expected} == expected
    assert LATEX.doprint(F.FUNCTIONS["sqrt"].rule) == r"\frac{d}{dx} \sqrt{x} = \frac{1}{2 \sqrt{x}}"
    assert LATEX.doprint(F.FUNCTIONS["logsumexp"].rule) == \
        r"\frac{\partial}{\partial a} \operatorname{logsumexp}(a, b) = \frac{e^{a}}{e^{a} + e^{b}}"
    why = F.FUNCTIONS["tanh"].justify(sp.Symbol("z"), sp.Rational(1, 2), False)
    assert why.template == "by the derivative rule {0}" and TEXT.doprint(why.math[0]) == "tanh'(z) = 1 − tanh²(z)"
    loss_why = F.FUNCTIONS["huber"].justify(sp.Symbol("r"), sp.Rational(1, 2), False)
    assert TEXT.doprint(loss_why.math[0]) == "∂Huber(r, δ)/∂r = r if |r| ≤ δ, else δ · sign(r)"
    # in a sentence the cases stay on one line (a display writes them one below the other)
    assert LATEX.doprint(loss_why.math[0]) == (
        r"\frac{\partial \operatorname{Huber}(r, \delta)}{\partial r} = r \text{ if } \left|r\right| \le "
        r"\delta\text{, else } \delta \cdot \operatorname{sign}\left(r\right)")


def _members(chain):
    """The math members of a printed formula, relations and remarks dropped."""
    return [m for m in chain.items if not isinstance(m, (str, Remark))]


def _number(expr, values) -> mpmath.mpf:
    return mpmath.mpf(str(sp.N(expr.doit().xreplace(values), 30)))


SAMPLES = [sp.Rational(-17, 10), sp.Rational(-1, 5), sp.Rational(3, 10), sp.Rational(9, 10), 2]


@pytest.mark.parametrize("name", sorted(n for n, s in F.FUNCTIONS.items() if s.kind in ("activation", "loss")))
def test_every_written_form_equals_the_function(name):
    """The forms an entry writes (max(0, z), the cases, 1/(1 + e^(−z)), …) are the function they
    define, and the derivative's forms are its SymPy derivative, at points either side of 0 (for
    gates, the convention at the kink is the value the rule gives there)."""
    spec = F.FUNCTIONS[name]
    args = spec.arguments
    wrt = args[spec.wrt]
    function = spec.function(*args)
    others = {a: v for a, v in zip(args, (sp.Rational(7, 10), sp.Rational(3, 5))) if a != wrt}
    for point in SAMPLES:
        if spec.kind == "loss" and name == "binary_cross_entropy":
            point = sp.Rational(1, 2) + point / 5  # a probability in (0, 1)
        values = {wrt: point, **{a: v for a, v in others.items()}}
        definition = _members(spec.definition)
        assert definition[0] == function and len(definition) >= 2
        for form in definition[1:]:
            assert abs(_number(form, values) - _number(function, values)) < 1e-25, (name, form, point)
        derivative = _members(spec.derivative)
        exact = sp.diff(function, wrt)
        for form in derivative[1:]:
            assert abs(_number(form, values) - _number(exact, values)) < 1e-25, (name, form, point)
    remarks = [m for m in spec.derivative.items if isinstance(m, Remark)]
    assert len(remarks) == (1 if spec.gates else 0)
    if spec.gates:  # the stated kink value is the entry's convention fact, and the rule's own
        (kink,) = remarks
        assert TEXT.doprint(kink.math[0]) == spec.convention
        stated = kink.math[0].items[2]  # a number is shown as documents show numbers (a Value)
        assert getattr(stated, "number", stated) == sp.diff(function, wrt).xreplace({wrt: 0})


def test_a_registered_activation_gets_printed_formulas_for_free():
    spec = derive.register_activation("swish2", "z*sigmoid(2*z)")
    try:
        assert TEXT.doprint(spec.definition) == "swish2(z) = z · σ(2z)"
        assert LATEX.doprint(spec.definition) == r"\operatorname{swish2}(z) = z \sigma\left(2 z\right)"
        assert TEXT.doprint(spec.derivative) == "swish2'(z) = 2z · σ(2z)(1 − σ(2z)) + σ(2z)"
        assert LATEX.doprint(spec.derivative) == (r"\operatorname{swish2}'(z) = 2 z \sigma\left(2 z\right) "
                                                  r"\left(1 - \sigma\left(2 z\right)\right) + \sigma\left(2 z\right)")
        gate = derive.register_activation("half_gate", "relu(z)/2")
        assert TEXT.doprint(gate.derivative) == "half_gate'(z) = ½·𝟙[z > 0] = 1/2 if z > 0, else 0 (half_gate'(0) = 0 by convention)"
        leaky = derive.register_activation("leaky_where", "where(z > 0, z, 0.1*z)")
        assert TEXT.doprint(leaky.definition) == "leaky_where(z) = z if z > 0, else 0.1·z"
        assert LATEX.doprint(leaky.definition) == (r"\operatorname{leaky\_where}(z) = "
                                                   + CASES % ("z", "z > 0", "0.1 z", r"z \le 0"))
        assert TEXT.doprint(leaky.derivative) == ("leaky_where'(z) = 1 if z > 0, else 0.1 "
                                                  "(leaky_where'(0) = 0.1 by convention)")
        clip = derive.register_activation("clip_two", "max(-1, min(1, z))")  # two kinks, ties shared
        assert TEXT.doprint(clip.derivative).endswith(
            " (clip_two'(−1) = 0.5, clip_two'(1) = 0.5 by convention)")
        assert LATEX.doprint(clip.derivative).endswith(
            r"\quad(\operatorname{clip\_two}'(-1) = 0.5\text{, }"
            r"\operatorname{clip\_two}'(1) = 0.5\text{ by convention})")
    finally:
        for name in ("swish2", "half_gate", "leaky_where", "clip_two"):
            if name in F.FUNCTIONS:
                F.unregister(name)


def test_piecewise_printing():
    """Cases in LaTeX spell out the negated condition of an "otherwise" row when it is one
    relation; in text the last row is "else"."""
    z, w = sp.symbols("z w", real=True)
    two = sp.Piecewise((z, z > 0), (-z, True))
    assert LATEX.doprint(two) == CASES % ("z", "z > 0", "- z", r"z \le 0")
    assert TEXT.doprint(two) == "z if z > 0, else −z"
    three = sp.Piecewise((z, z > 1), (w, z > 0), (0, True))
    assert LATEX.doprint(three) == (r"\begin{cases} z, & z > 1 \\ w, & z > 0 \\ 0, & \text{otherwise} "
                                    r"\end{cases}")
    assert TEXT.doprint(three) == "z if z > 1, w if z > 0, else 0"
