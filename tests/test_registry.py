"""Every registry entry: derivative rule vs central differences and vs PyTorch, and its LaTeX."""
import mpmath
import pytest
import sympy as sp

from derive.core import functions as F
from derive.core.losses import LOSSES
from derive.rendering.printing import LatexPrinter, TextPrinter
from tests.reference import ELEMENTARY, torch_functions

POINTS = [sp.Rational(-17, 10), sp.Rational(-3, 10), sp.Rational(1, 10), sp.Rational(2, 5),
          sp.Rational(7, 10), sp.Rational(13, 10), 3]


def _domain_ok(name, args):
    if name in ("log", "sqrt"):
        return args[0] > 0
    if name in ("max", "min", "pool_max"):
        return args[0] != args[1]
    if name == "binary_cross_entropy":
        return 0 < args[0] < 1
    if name in ("absolute_error", "huber"):  # away from the kink and the switch point
        return args[0] != args[1] and abs(args[0]) != args[1]
    if name == "hinge":
        return args[0] * args[1] != 1
    return True


def _args(spec, z):
    if spec.name == "where":  # the condition is on z; the branches differ on each side
        return [sp.StrictGreaterThan(z, 0), z ** 2, -2 * z]
    if spec.arity == 2 and spec.defaults:
        return [z, spec.defaults[0]]
    if spec.arity == 2:
        return [z, sp.Rational(1, 3)]
    return [z]


def test_every_entry_has_a_reference():
    assert set(F.FUNCTIONS) == set(ELEMENTARY) == set(torch_functions())


@pytest.mark.parametrize("name", sorted(F.FUNCTIONS))
def test_derivative_rule_matches_central_differences(name):
    spec = F.FUNCTIONS[name]
    z = sp.Symbol("z", real=True)
    rule = sp.diff(spec.function(*_args(spec, z)), z)
    checked = 0
    for point in POINTS:
        args = _args(spec, point)
        if not _domain_ok(name, args):
            continue
        exact = sp.N(rule.xreplace({z: point}), 30)
        def f(t):
            value = sp.N(spec.function(*_args(spec, sp.Float(t, 40))), 40)
            return mpmath.mpf(value._mpf_) if value.is_Float else mpmath.mpf(int(value))
        with mpmath.workdps(40):
            fd = mpmath.diff(f, mpmath.mpf(sp.N(point, 40)), h=mpmath.mpf("1e-12"))
        assert abs(float(exact) - float(fd)) < 1e-9, (name, point)
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("name", sorted(F.FUNCTIONS))
def test_derivative_rule_matches_torch(name):
    import torch
    spec = F.FUNCTIONS[name]
    z = sp.Symbol("z", real=True)
    rule = sp.diff(spec.function(*_args(spec, z)), z)
    fn = torch_functions()[name]
    for point in POINTS:
        args = _args(spec, point)
        if not _domain_ok(name, args):
            continue
        t = torch.tensor(float(point), dtype=torch.float64, requires_grad=True)
        extra = [float(a) if spec.defaults else torch.tensor(float(a), dtype=torch.float64) for a in args[1:]]
        out = fn(t > 0, t ** 2, -2 * t) if name == "where" else fn(t, *extra)
        out_value = float(out.detach())
        (g,) = torch.autograd.grad(out, [t])
        assert abs(float(sp.N(rule.xreplace({z: point}), 20)) - float(g)) < 1e-12, (name, point)
        assert abs(float(sp.N(spec.function(*args), 20)) - out_value) < 1e-12, (name, point)


@pytest.mark.parametrize("name", sorted(F.FUNCTIONS))
def test_latex_and_text_names(name):
    spec = F.FUNCTIONS[name]
    z = sp.Symbol("z", real=True)
    expr = spec.function(*_args(spec, z))
    latex = LatexPrinter().doprint(expr)
    text = TextPrinter().doprint(expr)
    assert latex and text and "z" in latex and "z" in text
    assert "\\theta" not in latex and "Heaviside" not in latex
    derivative = LatexPrinter().doprint(sp.diff(expr, z))
    assert "Heaviside" not in derivative and "\\theta" not in derivative
    if spec.kind in ("activation", "loss"):  # its formulas are math, printed by each printer
        name_latex = LatexPrinter().doprint(spec.function(*spec.arguments))
        assert LatexPrinter().doprint(spec.definition).startswith(name_latex + " = ")
        assert TextPrinter().doprint(spec.definition).startswith(TextPrinter().doprint(
            spec.function(*spec.arguments)) + " = ")
        assert " = " in TextPrinter().doprint(spec.derivative)


def test_relu_derivative_prints_as_indicator():
    z = sp.Symbol("z", real=True)
    assert LatexPrinter().doprint(sp.diff(F.Relu(z), z)) == "\\mathbf{1}\\left[z > 0\\right]"
    assert TextPrinter().doprint(sp.diff(F.Relu(z), z)) == "𝟙[z > 0]"


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_builds_and_differentiates(name):
    from derive import Example
    rhs = LOSSES[name].equation(["a"], ["y"])
    ex = Example.from_equations(f"L = {rhs}", values={"a": sp.Rational(3, 10), "y": 1})
    fd_up = Example.from_equations(f"L = {rhs}", values={"a": sp.Rational(3, 10) + sp.Rational(1, 10**7), "y": 1})
    fd_dn = Example.from_equations(f"L = {rhs}", values={"a": sp.Rational(3, 10) - sp.Rational(1, 10**7), "y": 1})
    fd = (float(fd_up.value("L")) - float(fd_dn.value("L"))) / 2e-7
    assert abs(float(ex.grad("a")) - fd) < 1e-6


def test_every_entry_compiles_in_latex(tmp_path, pdflatex):
    """One document with every function, its derivative rule and its printed formulas."""
    import subprocess
    from derive.core.derivation import Chain
    from derive.rendering.blocks import Content, Section
    from derive.rendering.formats import render_content
    from derive.core.extend import register_activation
    from derive.solutions.content import kink_sentence
    z = sp.Symbol("z", real=True)
    s = Section("Every registry function")
    # registered entries too, with custom latex= names and kinks of their own
    mine = [register_activation(*entry) for entry in (
        ("swish_two", "z*sigmoid(2*z)", r"\operatorname{swish}_2"), ("phi_two", "z*tanh(z)", r"\phi_2"),
        ("hardclip", "max(-1, min(1, z))", r"\mathrm{hc}"), ("relu_six", "min(max(0, z), 6)", None))]
    try:
        for name, spec in sorted(F.FUNCTIONS.items()):
            expr = spec.function(*_args(spec, z))
            s.show(Chain(expr, "=", sp.diff(expr, z)))
            if spec.kind in ("activation", "loss"):
                s.show(spec.definition)
                s.show(spec.derivative)
            if not spec.conditions:  # the rule a justification quotes
                s.show(spec.rule)
            if spec.kinks:
                s.say(kink_sentence(spec))
        tex = render_content(Content("Registry", [s]), "latex")  # printed while registered
    finally:
        for spec in mine:
            F.unregister(spec.name)
    assert r"\phi_2'" in tex and r"\operatorname{swish}_2'" in tex and r"\mathrm{hc}'(-1)" in tex
    (tmp_path / "f.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "f.tex"], cwd=tmp_path,
                         capture_output=True, text=True, errors="replace")
    assert run.returncode == 0, [l for l in run.stdout.splitlines() if l.startswith("!")][:3]
    log = (tmp_path / "f.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log
