"""A registered activation is as trustworthy as a built-in one: its kinks and the value used there
are facts found from the formula (and agree with PyTorch), bad names, formulas and ``latex=`` are
refused at registration, and documents, messages, hints and notebooks treat it like a built-in."""
import contextlib
import io
import json

import pytest
import sympy as sp

import derive
from derive.core import functions as F
from derive.core.budget import BudgetError
from derive.core.errors import RegistrationError
from derive.core.extend import register_activation
from derive.core.functions import kink_slopes
from work import counted

REFUSAL_CALLS = 100_000  # as in tests/test_reliability.py: a refusal before the work makes few calls

# name, formula, kinks, f' derive uses at each (the parts' PyTorch conventions)
KINKED = [
    ("hardclip", "max(-1, min(1, z))", (-1, 1), (sp.Rational(1, 2), sp.Rational(1, 2))),
    ("floor1", "max(z, 1)", (1,), (sp.Rational(1, 2),)),
    ("vee2", "abs(z - 2)", (2,), (0,)),
    ("leaky10", "where(z > 0, z, 0.1*z)", (0,), (sp.Rational(1, 10),)),
    ("relu6", "min(max(0, z), 6)", (0, 6), (sp.Rational(1, 2), sp.Rational(1, 2))),
    ("bent", "relu(t - 1) + t/2", (1,), (sp.Rational(1, 2),)),
]
SMOOTH = [("softsign", "z/(1 + abs(z))"), ("zabs", "z*abs(z)"), ("sq2", "w**2/2 + w")]


@pytest.fixture
def registered():
    """Register every formula of this module; leave the registry as it was."""
    names = []

    def add(name, formula, latex=None):
        spec = register_activation(name, formula, latex=latex)
        names.append(name)
        return spec
    yield add
    for name in names:
        F.unregister(name)


@pytest.mark.parametrize("name, formula, kinks, slopes", KINKED)
def test_kinks_and_their_values_are_facts_of_the_entry(registered, name, formula, kinks, slopes):
    spec = registered(name, formula)
    assert spec.kinks == kinks
    assert kink_slopes(spec) == tuple(zip(kinks, slopes))
    assert spec.kink is not None and all(spec.kink([sp.Integer(k)]) for k in kinks)
    assert not spec.kink([sp.Rational(1, 3)])


@pytest.mark.parametrize("name, formula", SMOOTH)
def test_a_continuous_derivative_has_no_kink_and_no_sentence(registered, name, formula):
    spec = registered(name, formula)
    assert spec.kinks == () and spec.kink is None
    text = derive.neuron(x=1, w=-1, b=0, y=3, activation=name).to_text()
    assert "kink" not in text


def test_builtin_kinks_are_written_in_their_entries():
    alpha = sp.Symbol("alpha", real=True)
    assert kink_slopes(F.FUNCTIONS["relu"]) == ((0, 0),)
    assert kink_slopes(F.FUNCTIONS["leaky_relu"]) == ((0, alpha),)
    assert kink_slopes(F.FUNCTIONS["elu"]) == ((0, alpha),)
    assert kink_slopes(F.FUNCTIONS["abs"]) == ((0, 0),)
    assert all(F.FUNCTIONS[n].kinks == () for n in ("sigmoid", "tanh", "gelu", "silu", "softplus"))


def test_kink_sentence_names_the_points_and_the_values(registered):
    registered("hardclip", "max(-1, min(1, z))")
    ex = derive.neuron(x=1, w=-1, b=0, y=3, activation="hardclip")
    text = " ".join(ex.to_text().split())
    assert ("At the kinks z = −1 and z = 1 the derivative is not defined; we take "
            "hardclip'(−1) = 0.5 and hardclip'(1) = 0.5, as PyTorch does.") in text
    md = ex.to_markdown()
    assert "At the kinks $z = -1$ and $z = 1$" in md
    assert r"$\operatorname{hardclip}'(1) = 0.5$" in md
    assert "z = 0" not in text.split("Backward")[0]  # the old fixed sentence is gone
    relu = " ".join(derive.neuron(x=1, w=-1, b=0, y=3, activation="relu").to_text().split())
    assert "At the kink z = 0 the derivative is not defined; we take ReLU'(0) = 0" in relu
    registered("relu6", "min(max(0, z), 6)")  # a teacher's ReLU6: ½ at 0, unlike relu's 0
    six = " ".join(derive.neuron(x=1, w=-1, b=0, y=3, activation="relu6").to_text().split())
    assert "At the kinks z = 0 and z = 6" in six and "relu6'(0) = 0.5 and relu6'(6) = 0.5" in six


def _torch_gradients(ex) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(ex.to_pytorch(), "<to_pytorch>", "exec"), {"__name__": "__main__"})  # noqa: S102
    return json.loads(out.getvalue())["gradients"]


@pytest.mark.parametrize("name, formula, kinks, slopes", KINKED)
def test_gradient_at_each_kink_agrees_with_pytorch(registered, name, formula, kinks, slopes):
    pytest.importorskip("torch")
    registered(name, formula)
    for k, slope in zip(kinks, slopes):
        ex = derive.neuron(x=1, w=k, b=0, y=3, activation=name)  # z = k exactly
        assert ex.evaluation.local("a", "z").at_kink
        assert ex.evaluation.local("a", "z").value == slope
        got = _torch_gradients(ex)
        for p in ("w", "b"):
            assert abs(got[p] - float(ex.grad(p))) < 1e-12, (name, k, p)


def test_huge_power_is_refused_at_registration():
    with counted() as work:  # refused from the formula, before any value of it is computed
        with pytest.raises(BudgetError, match=r"register_activation\('huge'\).*max_exponent = 10000"):
            register_activation("huge", "z**99999999")
        with pytest.raises(BudgetError, match="max_exponent"):
            register_activation("huge", "sigmoid(z)**(99999999/2)")
    assert work.n < REFUSAL_CALLS and "huge" not in F.FUNCTIONS, work


@pytest.mark.parametrize("name", ["L", "w", "z", "x1", "w1_2_1", "z2", "alpha", "alpha2", "Sigma",
                                  "lr", "eta", "pi", "e"])
def test_names_used_as_variables_are_refused(name):
    with pytest.raises(RegistrationError, match=f"`{name}` is .*such as {name}_act"):
        register_activation(name, "z**2")
    assert name not in F.FUNCTIONS
    ex = derive.neuron(x=1, w=2, b=0, y=1, activation="relu")  # later calls still work
    assert ex.grad("w") == 2 * (2 - 1) * 1


def test_a_constant_in_the_formula_is_named():
    with pytest.raises(RegistrationError, match="`pi`, a constant"):
        register_activation("piz", "pi*z")
    with pytest.raises(RegistrationError, match="found 2: z, y"):
        register_activation("zy", "z*y")


@pytest.mark.parametrize("latex, why", [
    (r"\foo{", "brace open"), (r"\mathcal{M}#", "'#'"), (r"\input{/etc/passwd}", r"\\input"),
    ("a}{", "never opened"), (r"\mathrm{x}\\", "not one of the allowed"), ("x\ny", r"'\\n'"),
    (r"50\%", r"\\%"), ("φ", "ASCII")])
def test_bad_latex_is_refused_naming_latex(latex, why):
    with pytest.raises(RegistrationError, match=f"latex= .*{why}"):
        register_activation("fancy", "z**2", latex=latex)
    assert "fancy" not in F.FUNCTIONS


def test_rule_line_uses_the_applications_argument(registered):
    registered("sq2", "w**2/2 + w")
    ex = derive.Example.from_equations("u = w*x + b\na = sq2(u)\nL = (a - y)**2",
                                       values={"x": 2, "w": 1, "b": 0, "y": 1})
    text = ex.to_text()
    assert "sq2'(u) = u + 1, from its definition sq2(u) = u + ½u²" in text
    assert "sq2'(w)" not in text and "sq2(w)" not in text
    assert ex.grad("w") == 2 * (4 - 1) * (2 + 1) * 2


def test_messages_print_the_registered_name(registered):
    registered("recip", "1/z")
    with pytest.raises(derive.DeriveError) as caught:
        derive.neuron(x=1, w=0, b=0, y=1, activation="recip").grad("w")
    assert "recip(z) with z = 0" in str(caught.value) and "Registered_" not in str(caught.value)
    z = sp.Symbol("z")
    assert str(F.FUNCTIONS["recip"].cls(z)) == "recip(z)"


def test_notebook_registers_the_activations_it_uses(registered, tmp_path):
    """A notebook of an example with registered activations runs in a fresh kernel: a code cell
    registers them (a formula's own registered parts first) before the cells that use them."""
    import nbformat
    from nbclient import NotebookClient
    from derive.rendering.notebook import notebook, registration_code
    registered("mish", "z*tanh(softplus(z))", latex=r"\operatorname{mish}")
    registered("mish2", "mish(z)/2 + relu(z - 1)", latex=r"\phi_2")
    ex = derive.Example.from_equations("u = w*x + b\na = mish2(u)\nL = (a - y)**2",
                                       values={"x": 2, "w": sp.Rational(-1, 4), "b": 1, "y": 1})
    code = registration_code([("e", ex)])
    assert code.index("'mish'") < code.index("'mish2'")  # mish2's formula calls mish
    assert "derive.register_activation('mish2', 'mish(z)/2 + relu(z - 1)', latex='\\\\phi_2')" in code
    nb = nbformat.reads(notebook(ex.to_markdown(), [("e", ex)]), as_version=4)
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    assert sources[0] == code and "from_equations" in sources[1]
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "defined: mish, mish2" in text and "PyTorch gives the same" in text
    assert registration_code([("n", derive.neuron(x=1, w=1, b=0, y=0))]) is None


def test_unregister_is_public_and_keeps_builtins():
    assert "unregister" in derive.__all__ and "RegistrationError" in derive.__all__
    derive.register_activation("cube3", "z**3")
    assert derive.neuron(x=1, w=2, b=0, y=0, activation="cube3").grad("w") == 2 * 8 * 12
    derive.unregister("cube3")
    assert "cube3" not in F.FUNCTIONS
    with pytest.raises(derive.RegistrationError, match="`relu` is a built-in function"):
        derive.unregister("relu")
    with pytest.raises(derive.RegistrationError, match="`cube3` is not a registered activation"):
        derive.unregister("cube3")
    assert "relu" in F.FUNCTIONS


@pytest.mark.parametrize("name, formula", [("mish", "z*tanh(softplus(z))"), ("tanh2", "tanh(z)"),
                                           ("softsign", "z/(1 + abs(z))"), ("tanh", None)])
def test_derivative_slips_of_any_activation_are_named(registered, name, formula):
    """Sign flip and f' evaluated at a: the same named hints for registered and built-in ones."""
    from derive.core.functions import derivative_rule
    if formula:
        registered(name, formula)
    ex = derive.neuron(x=1, w=sp.Rational(1, 2), b=sp.Rational(1, 4), y=1, activation=name)
    local = ex.grad("z", of="a")
    assert local != 0
    hints = [h for h in str(ex.check({"da/dz": float(-local)})).splitlines() if h.startswith("* ")]
    assert len(hints) == 1 and "sign flipped" in hints[0], hints
    assert "recheck" not in hints[0]
    z = sp.Symbol("z", real=True)
    at_a = derivative_rule(F.FUNCTIONS[name], z).subs(z, ex.value("a"))
    if at_a != local:
        report = str(ex.check({"da/dz": float(at_a)}))
        assert "evaluated at a instead of z" in report, report
    right = str(ex.check({"da/dz": float(local)}))
    assert "sign flipped" not in right and "The step earns credit." in right


@pytest.mark.parametrize("name, formula", [("hardclip", "max(-1, min(1, z))"), ("relu", None)])
def test_no_sign_flip_is_named_for_a_gate(registered, name, formula):
    """A derivative without a minus sign to lose (𝟙[z > 0], hardclip's ½ or 1): no such slip."""
    if formula:
        registered(name, formula)
    ex = derive.neuron(x=1, w=sp.Rational(1, 2), b=sp.Rational(1, 4), y=1, activation=name)
    report = ex.check({"da/dz": float(-ex.grad("z", of="a"))})
    assert report.status("da/dz") == "incorrect" and report.diagnosis("da/dz") != "derivative_sign_flipped"


def test_justification_at_a_kink_states_the_value_used(registered):
    registered("hardclip", "max(-1, min(1, z))")
    ex = derive.neuron(x=1, w=1, b=0, y=3, activation="hardclip")  # z = 1: a kink
    text = " ".join(ex.to_text().split())
    assert ("z = 1 is a kink of hardclip, where its derivative is not defined; we take "
            "hardclip'(1) = 0.5, as PyTorch does") in text
    off = " ".join(derive.neuron(x=1, w=sp.Rational(1, 2), b=0, y=3, activation="hardclip").to_text().split())
    assert "is a kink of hardclip" not in off
    # a long rule is displayed with the activation, not squeezed into the sentence
    assert ("by the derivative rule hardclip'(z) stated with the activation above, from its "
            "definition hardclip(z) = max(−1, min(1, z))") in off


def test_a_power_tower_in_a_registered_formula_fails_fast_where_it_is_used():
    """Accepted at registration (it is a formula), refused at once at the numbers that make it
    huge, within the same budget as an equation's own powers (it ran for minutes)."""
    register_activation("tower6", "z**z**z**z**z**z")
    try:
        with counted() as work, pytest.raises(BudgetError, match=r"tower6\(2\).*max_exponent"):
            derive.neuron(x=1, w=2, b=0, y=0, activation="tower6")
        assert work.n < REFUSAL_CALLS, work
        assert derive.neuron(x=1, w=1, b=0, y=0, activation="tower6").value("a") == 1
    finally:
        F.unregister("tower6")


def test_an_unbounded_slope_at_a_kink_is_said_and_the_document_renders():
    register_activation("root_abs", "abs(z)**0.5")
    try:
        assert kink_slopes(F.FUNCTIONS["root_abs"]) == ((0, None),)
        ex = derive.neuron(x=1, w=4, b=0, y=0, activation="root_abs")
        text = " ".join(ex.to_text().split())
        assert "At z = 0 the derivative is unbounded, so the gradient is undefined there." in text
        assert "by convention" not in text
        assert "undefined there" in ex.to_latex() and ex.to_markdown() and ex.to_html()
        assert ex.grad("w") == 1  # 2a · ½·4^(−1/2) · x = 4 · ¼ · 1 at z = 4
    finally:
        F.unregister("root_abs")


def test_elu_with_its_default_alpha_has_no_kink_and_is_not_called_inactive():
    """ELU's two pieces meet with slope 1 when α = 1: no kink sentence, and at z = 0 nothing is
    lost; with α = 0.5 the kink is there, with the value taken there (in the entry's α)."""
    smooth = " ".join(derive.neuron(x=1, w=0, b=0, y=1, activation="elu").to_text().split())
    assert "At the kink" not in smooth and "is inactive" not in smooth
    assert ("ELU is where its two pieces meet for this input (z = 0), yet its local derivative "
            "is ELU'(z) = 1: the gradient passes on at full strength.") in smooth
    bent = " ".join(derive.neuron(x=1, w=-1, b=0.5, y=1, activation="elu", alpha=0.5).to_text().split())
    assert "At the kink z = 0 the derivative is not defined; we take ELU'(0) = α" in bent


def test_exporting_an_example_whose_activation_was_unregistered_says_what_to_do():
    register_activation("cube_act", "z**3")
    ex = derive.neuron(x=1, w=2, b=0, y=0, activation="cube_act")
    F.unregister("cube_act")
    with pytest.raises(derive.DeriveError, match=r"`cube_act` has no PyTorch spelling any more.*"
                                                 r"register it again"):
        ex.to_pytorch()


@pytest.mark.parametrize("name", ["lam", "eps_bn", "margin", "momentum", "target", "label2", "mask1",
                                  "t1", "h_0"])
def test_data_and_hyperparameter_names_are_refused_as_activation_names(name):
    """Equations use these as values (README: roles by name); as a function the name would turn
    every later `lam*w**2` into a call."""
    with pytest.raises(RegistrationError, match=f"`{name}` is a (data|hyperparameter's) name"):
        register_activation(name, "z*2")
    assert name not in F.FUNCTIONS


def test_a_word_that_starts_like_a_data_name_is_a_fine_activation_name():
    register_activation("xlogx", "z*log(1 + z**2)")
    try:
        ex = derive.Example.from_equations("z = w*x\na = xlogx(z)\nL = (a - y)**2",
                                           values={"x": 1, "w": 2, "y": 0})
        assert ex.value("a") == 2 * sp.log(5)
    finally:
        F.unregister("xlogx")
