"""The registries are the extension points: an activation is one call, a format one entry plus its
templates, an example kind its builder plus one layout entry — and every registry fact the
teaching layer relies on is checked against SymPy."""
import json
import subprocess
import sys

import pytest
import sympy as sp

import derive
from derive.core import functions as F
from derive.core.extend import register_activation
from derive.core.functions import ACTIVATIONS, FUNCTIONS, derivative_rule


@pytest.fixture
def swish2():
    spec = register_activation("swish2", "z*sigmoid(2*z)", latex=r"\operatorname{swish}_2")
    yield spec
    F.unregister("swish2")


def _swish2(z):
    return z / (1 + sp.exp(-2 * z))


def test_register_activation_is_found_at_call_time(swish2):
    assert "swish2" in ACTIVATIONS and FUNCTIONS["swish2"] is swish2
    z = sp.Symbol("z", real=True)
    # derivative from SymPy, equal to plain sympy.diff of the elementary formula
    ours, plain = derivative_rule(swish2, z), sp.diff(_swish2(z), z)
    for point in (sp.Rational(-7, 3), 0, sp.Rational(1, 5), 4):
        assert abs(sp.N(ours.subs(z, point) - plain.subs(z, point), 30)) < 1e-25


def test_registered_activation_in_equations_and_neuron(swish2):
    ex = derive.Example.from_equations("z = w*x + b\na = swish2(z)\nL = (a - y)**2",
                                       values={"x": 2, "w": sp.Rational(-1, 2), "b": sp.Rational(1, 4), "y": 1})
    x, w, b, y = sp.symbols("x w b y", real=True)
    L = (_swish2(w * x + b) - y) ** 2
    at = {x: 2, w: sp.Rational(-1, 2), b: sp.Rational(1, 4), y: 1}
    assert abs(float(ex.grad("w")) - float(sp.diff(L, w).subs(at))) < 1e-12
    n = derive.neuron(x=2, w=sp.Rational(-1, 2), b=sp.Rational(1, 4), y=1, activation="swish2", lr="0.1")
    assert abs(float(n.grad("w")) - float(sp.diff(L, w).subs(at))) < 1e-12
    # central differences as a second, independent reference
    h = 1e-6
    up = derive.neuron(x=2, w=-0.5 + h, b=0.25, y=1, activation="swish2")
    dn = derive.neuron(x=2, w=-0.5 - h, b=0.25, y=1, activation="swish2")
    assert abs((float(up.value("L")) - float(dn.value("L"))) / (2 * h) - float(n.grad("w"))) < 1e-6


def test_registered_activation_in_documents(swish2):
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="swish2", lr="0.1")
    text = ex.to_text()
    assert "swish2(z) = z · σ(2z)" in text
    assert "swish2'(z) = 2z · σ(2z)(1 − σ(2z)) + σ(2z)" in text
    latex = ex.to_latex()
    assert r"\operatorname{swish}_2'(z)" in latex and r"\operatorname{swish}_2(z)" in latex
    md = ex.to_markdown()
    assert r"\operatorname{swish}_2" in md


def test_registered_activation_in_mlp_and_check(swish2):
    net = derive.mlp(inputs=[1, -2], weights=[[[sp.Rational(1, 2), sp.Rational(-1, 4)]], [[2]]],
                     biases=[[0], [sp.Rational(1, 10)]], targets=[1], activation=["swish2", "identity"],
                     loss="half_squared_error", lr="0.5")
    g = net.grad("w1_1_1")
    x1, x2 = 1, -2
    w11, w12, b1, v, c = sp.symbols("w11 w12 b1 v c", real=True)
    L = (v * _swish2(w11 * x1 + w12 * x2 + b1) + c - 1) ** 2 / 2
    at = {w11: sp.Rational(1, 2), w12: sp.Rational(-1, 4), b1: 0, v: 2, c: sp.Rational(1, 10)}
    assert abs(float(g) - float(sp.diff(L, w11).subs(at))) < 1e-12
    assert "swish2" in net.to_text()
    report = net.check({"dL/dw1_1_1": f"{float(g):.6g}", "dL/db2_1": 999})
    assert report.verdicts["dL/dw1_1_1"].status == "correct"
    assert report.verdicts["dL/db2_1"].status == "incorrect"


def test_registered_activation_in_pytorch_export(swish2, tmp_path):
    pytest.importorskip("torch")
    ex = derive.neuron(x=2, w=sp.Rational(3, 10), b=-1, y=1, activation="swish2")
    script = tmp_path / "s.py"
    script.write_text(ex.to_pytorch(), encoding="utf-8")
    assert "torch.sigmoid" in script.read_text()
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    got = json.loads(run.stdout)
    assert abs(got["gradients"]["w"] - float(ex.grad("w"))) < 1e-12


def test_registered_activation_from_the_cli(swish2, tmp_path):
    """The CLI is the same process here (click's runner): the new name is accepted."""
    from click.testing import CliRunner
    from derive.cli import cli
    result = CliRunner().invoke(cli, ["neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5",
                                      "--activation", "swish2"])
    assert result.exit_code == 0 and "swish2'(z)" in result.output


def test_register_activation_rejects_bad_input():
    with pytest.raises(derive.DeriveError, match="exactly one variable"):
        register_activation("two", "x*y")
    with pytest.raises(derive.DeriveError, match="built-in"):
        register_activation("relu", "z")
    with pytest.raises(derive.DeriveError, match="identifier"):
        register_activation("1bad", "z")
    with pytest.raises(derive.DeriveError, match="unknown function"):
        register_activation("evil", "eval(z)")
    assert "two" not in FUNCTIONS and "evil" not in FUNCTIONS


def test_registered_activation_with_a_kink_follows_its_parts():
    register_activation("leaky2", "relu(z) + z/10")
    try:
        ex = derive.neuron(x=1, w=1, b=-1, y=1, activation="leaky2")  # z = 0: relu's kink
        assert ex.evaluation.local("a", "z").at_kink
        assert ex.grad("w") == sp.Rational(2, 10) * (ex.value("a") - 1)
    finally:
        F.unregister("leaky2")


# --- the registry's facts, checked against SymPy ----------------------------------------------


@pytest.mark.parametrize("name", [n for n, s in F.FUNCTIONS.items() if s.saturation_bound is not None])
def test_saturation_bound_is_the_maximum_of_the_derivative(name):
    """Independent of derive's rules: SymPy's elementary form, differentiated and maximised."""
    from tests.reference import ELEMENTARY
    z = sp.Symbol("z", real=True)
    d = sp.diff(ELEMENTARY[name](z), z)
    critical = [c for c in sp.solve(sp.diff(d, z), z) if c.is_real]
    assert critical and max(sp.simplify(d.subs(z, c)) for c in critical) == FUNCTIONS[name].saturation_bound
    assert sp.limit(d, z, sp.oo) == 0 and sp.limit(d, z, -sp.oo) == 0  # the critical point is the max


@pytest.mark.parametrize("name", sorted(F.ACTIVATIONS))
def test_gate_facts_match_the_derivative(name):
    spec = FUNCTIONS[name]
    z = sp.Symbol("z", real=True)
    d = derivative_rule(spec, z)
    if spec.gates:  # slope exactly 1 where active
        assert d.subs(z, 3) == 1 and d.subs(z, sp.Rational(1, 7)) == 1
        if spec.inactive_slope == "0":
            assert d.subs(z, -3) == 0
    points = (sp.Rational(-5, 2), 0, sp.Rational(7, 3))
    homogeneous = all(spec.function(3 * t, *spec.defaults) == 3 * spec.function(t, *spec.defaults)
                      for t in points)
    assert spec.homogeneous == homogeneous  # f(cz) = c·f(z) for c > 0


@pytest.mark.parametrize("name", sorted(F.ACTIVATIONS))
def test_numpy_forward_matches_sympy(name):
    import numpy as np
    spec = FUNCTIONS[name]
    z = sp.Symbol("z", real=True)
    f = F.numpy_function(spec.function(z, *spec.defaults), z)
    df = F.numpy_function(derivative_rule(spec, z), z)
    points = [-2.5, -0.3, 0.4, 1.7]
    got, dgot = f(np.array(points)), df(np.array(points))
    for p, g, dg in zip(points, got, dgot):
        q = sp.Rational(str(p))
        assert abs(float(spec.function(q, *spec.defaults)) - g) < 1e-12
        assert abs(float(derivative_rule(spec, z).subs(z, q)) - dg) < 1e-12


def test_recommended_initialisation_is_a_fact_of_the_entry():
    from derive.initialization.variance import variance_derivation
    assert FUNCTIONS["relu"].init == "he" and FUNCTIONS["sigmoid"].init == "xavier"
    doc = variance_derivation("sigmoid")
    assert "sigmoid" in doc.content.title and "Glorot" in doc.content.title
    with pytest.raises(derive.DeriveError, match="no initialisation scheme"):
        variance_derivation("softplus")


def test_no_activation_name_is_special_cased_outside_the_registry():
    """Facts live in the registry: no module compares with an activation's name."""
    import pathlib
    import re
    root = pathlib.Path(derive.__file__).parent
    # ("identity" is the absence of an activation, e.g. a Linear layer with none after it)
    names = "|".join(sorted(n for n in F.ACTIVATIONS if n != "identity"))
    pattern = re.compile(rf"""(==|!=|\bin)\s*\(?\s*["']({names})["']""")
    offenders = []
    for path in root.rglob("*.py"):
        # from_torch reads PyTorch's own settings, which are spelled with these names
        # (GELU(approximate="tanh"), RNNCell(nonlinearity="relu"), F.relu)
        if path.name in ("functions.py",) or "fromtorch" in path.parts:
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(root)}:{i}: {line.strip()}")
    assert not offenders, offenders


# --- formats and layouts ----------------------------------------------------------------------


def test_a_new_format_is_one_entry_plus_its_templates(tmp_path, monkeypatch):
    from derive.rendering import formats
    folder = tmp_path / "templates" / "shout"
    folder.mkdir(parents=True)
    (folder / "document.j2").write_text(
        "{{ title }}\n{% for s in sections %}## {{ s.title }}\n{% for b in s.blocks %}"
        "{% if b.kind in ('say', 'bullet') %}{{ b.text }}\n{% elif b.kind in ('show', 'step') %}"
        "{{ b.math }}\n{% endif %}{% endfor %}{% endfor %}", encoding="utf-8")
    monkeypatch.setattr(formats, "templates_dir", lambda: tmp_path / "templates")
    formats.environment.cache_clear()
    formats.register(formats.Format("shout", "text", "shout", display=lambda m: f">> {m.upper()}",
                                    aliases=("sh",)))
    try:
        from derive.cli import FormatChoice
        assert "shout" in FormatChoice().choices and "sh" in FormatChoice().choices
        ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr="0.1")
        from derive.model.example import render
        out = render(ex, "sh")
        assert out.startswith("Backpropagation through one ReLU neuron") or "## Forward pass" in out
        assert ">> ∂L/∂W = ∂L/∂A · ∂A/∂Z · ∂Z/∂W" in out
    finally:
        formats.unregister("shout")
    assert "shout" not in FormatChoice().choices


def test_unknown_format_lists_the_registry():
    from derive.rendering.formats import get_format
    with pytest.raises(derive.DeriveError, match="markdown"):
        get_format("docx")


def test_a_new_example_kind_is_its_builder_plus_a_layout():
    from derive.model.example import Example
    from derive.rendering.blocks import Content, Section
    from derive.solutions import content
    from derive.core.derivation import Chain, Partial, Value
    from derive.core.engine import Graph
    from derive.core.parser import parse_equations

    def square_builder(x):  # the builder: an Example of the new kind
        return Example(Graph(parse_equations("L = x**2")), values={"x": x}, kind="square")

    def square_layout(ex):  # its layout: one line
        s = Section("Derivative")
        s.show(Chain(Partial("L", "x"), "=", Value(ex.grad("x"))))
        return Content("A square", [s])

    content.register_layout("square", square_layout)
    try:
        assert "∂L/∂x = 6" in square_builder(3).to_text()
    finally:
        content.unregister_layout("square")
    with pytest.raises(derive.DeriveError, match="no document layout"):
        square_builder(3).to_text()
