"""Issue 12 and 16 polish: the leaky-ReLU slope as written, names as on the board (x̂, ŷ),
recurrent-net wording that holds at the actual w_hh, the notation preset (δ, 0-based indices),
slides, LMS exports with numeric tolerances, MathML's unary minus."""
import sympy as sp

import derive
from derive.rendering.printing import latex_name, text_name


def _flat(text: str) -> str:
    return " ".join(text.split())


# --- leaky ReLU with an explicit slope; x·x --------------------------------------------------------

LEAKY = "z = w*x + b\na = leaky_relu(z, 0.1)\nL = (a - y)**2"


def test_leaky_relu_slope_is_shown_as_written_and_named_in_the_intro():
    ex = derive.Example.from_equations(LEAKY, values=dict(x=2, w=-3, b=-1, y=1))
    text = _flat(ex.to_text())
    assert "∂a/∂z = 𝟙[z > 0] + 0.1·𝟙[z ≤ 0] = 𝟙[−7 > 0] + 0.1 · 𝟙[−7 ≤ 0] = 0.1" in text
    assert "(10𝟙" not in text and "/10" not in text
    assert "LeakyReLU with negative slope α; here α = 0.1:" in text
    assert ex.grad("w") == sp.Rational(-68, 100)  # 2(a − y) · 0.1 · x = 2(−1.7)(0.1)(2)
    latex = ex.to_latex()
    assert r"\mathbf{1}\left[z > 0\right] + 0.1 \cdot \mathbf{1}\left[z \le 0\right]" in latex
    # the slope left to its usual value is the example's own, stated as such (never "default");
    # an active unit at z > 0 passes slope 1
    other = derive.Example.from_equations("z = w*x + b\na = leaky_relu(z)\nL = (a - y)**2",
                                           values=dict(x=2, w=3, b=1, y=1))
    t = _flat(other.to_text())
    assert "LeakyReLU with negative slope α; here α = 0.01:" in t and "default" not in t
    assert "∂a/∂z = 𝟙[z > 0] + 0.01·𝟙[z ≤ 0] = 𝟙[7 > 0] + 0.01 · 𝟙[7 ≤ 0] = 1" in t


def test_a_common_factor_is_pulled_out_only_when_it_tidies():
    from derive.core.engine import _common_factor
    a, y = sp.symbols("a y")
    assert str(_common_factor(2 * a - 2 * y)) == "2*(a - y)"
    assert str(_common_factor(a / 2 - y / 2)) == "(a - y)/2"
    assert str(_common_factor(2 * a + 4 * y)) == "2*(a + 2*y)"
    assert _common_factor(a + y / 10) == a + y / 10  # not (10a + y)/10
    assert _common_factor(2 * a + 3 * y) == 2 * a + 3 * y


def test_a_square_written_as_a_product_keeps_a_visible_product():
    ex = derive.Example.from_equations("L = log(x*x)", values=dict(x=2))
    assert "L = log(x · x) = log(2 · 2) ≈ 1.386" in ex.to_text()
    assert r"\log{\left(x \cdot x \right)}" in ex.to_latex()
    assert ex.grad("x") == 1


# --- names as on the board ---------------------------------------------------------------------------

def test_hatted_names_print_with_a_hat_in_every_format():
    assert (text_name("xhat1"), text_name("yhat"), text_name("x1")) == ("x\u03021", "\u0177", "x1")
    assert (latex_name("xhat1"), latex_name("yhat")) == (r"\hat{x}_{1}", r"\hat{y}")
    bn = derive.batchnorm([1, 2, 4], gamma=2, beta="0.5")
    text = bn.to_text()
    assert "x\u03021 = d1/s" in text and "xhat" not in text
    rnn = derive.rnn([1, "-0.5", 2], h0=0, w_xh="0.5", w_hh="1.5", w_hy=1, y=1)
    text = rnn.to_text()
    assert "ŷ = w_hy · h3 + b_y" in text and "yhat" not in text
    assert "(path 3: w_hh → z3 → h3 → ŷ → L)" in text


# --- the recurrent net's wording at its actual w_hh ---------------------------------------------------

def _through_time(ex) -> str:
    text = _flat(ex.to_text())
    return text[text.index("Through time"):]


def test_tanh_rnn_factor_above_one_possible_but_vanishing_here():
    ex = derive.rnn([1, "-0.5", 2], h0=0, w_xh="0.5", w_hh="1.5", w_hy=1, y=1, activation="tanh")
    part = _through_time(ex)
    f2, f3 = ex.evaluation.grad("h1", "h2"), ex.evaluation.grad("h2", "h3")
    assert abs(float(f2) - 1.240) < 5e-4 and abs(float(f3) - 0.2158) < 5e-5  # 1.5 · tanh'(z_t)
    assert "∂h3/∂h1 ≈ 0.2677, below 1, so the earliest use's contribution is damped" in part
    assert "vanishes as the sequence gets longer" in part
    assert "at most |w_hh| · 1 = 1.5 in size" in part and "factors above 1 are possible" in part
    assert "whatever the inputs" not in part and "w_hh used at step" in part
    # the observation no longer claims that tanh layers always shrink gradients
    assert "unless their weights exceed 1 in size" in part
    assert "stacking many" not in part


def test_sigmoid_rnn_vanishes_whatever_the_inputs_when_w_hh_times_a_quarter_is_below_one():
    ex = derive.rnn([1, "-0.5", 2], h0=0, w_xh="0.5", w_hh=2, w_hy=1, y=1, activation="sigmoid")
    part = _through_time(ex)
    assert "at most |w_hh| · 0.25 = 0.5 < 1 in size" in part
    assert "vanishes over many steps whatever the inputs" in part
    assert "unless their weights exceed 4 in size" in part
    big = _through_time(derive.rnn([1, 1, 1], h0=1, w_xh=1, w_hh=-6, w_hy=1, y=0, activation="sigmoid"))
    assert "at most |w_hh| · 0.25 = 1.5 in size" in big and "factors above 1 are possible" in big
    relu = _through_time(derive.rnn([1, "0.5", -1], h0=1, w_xh=1, w_hh=3, w_hy=1, y=0, activation="relu"))
    assert "∂h3/∂h1 = 9, above 1, so the earliest use's contribution is amplified" in relu
    assert "explodes as the sequence gets longer" in relu


# --- HTML: a sign is not a subtraction -------------------------------------------------------------

GAPS = """
var out = [];
document.querySelectorAll("math mo").forEach(function (mo) {
  if (mo.textContent !== "\\u2212") return;
  var prev = mo.previousElementSibling, next = mo.nextElementSibling;
  if (!prev || !next) return;
  var r = mo.getBoundingClientRect();
  var em = parseFloat(getComputedStyle(mo).fontSize);
  out.push((mo.getAttribute("form") || "binary") + ":" +
           ((r.left - prev.getBoundingClientRect().right) / em).toFixed(3) + ":" +
           ((next.getBoundingClientRect().left - r.right) / em).toFixed(3));
});
return out.join(" ");
"""


def test_html_leading_minus_is_a_prefix_sign_in_chromium(tmp_path):
    from derive.rendering.formats import mathml
    from tests.browser import evaluate
    sign = '<mo form="prefix" lspace="0" rspace="0">&#x02212;</mo>'
    assert mathml(r"0.4 \cdot \left(-1.5\right) + 0.1 = -0.5").count(sign) == 2
    # a subtraction stays binary, after a name, a number or a closing bracket; a sign after a minus
    # f' on the line, not a superscript prime raised twice (a detached accent over ELU′)
    prime = mathml(r"\operatorname{ELU}'(z) + \sigma'(z)")
    assert '<mi>ELU</mi><mo lspace="0" rspace="0">&#x02032;</mo>' in prime and "<msup>" not in prime
    assert '<mi>&#x003C3;</mi><mo lspace="0" rspace="0">&#x02032;</mo>' in prime
    tex = mathml(r"-x - 2 - (a) - -3")
    assert tex.count(sign) == 2 and tex.count("<mo>&#x02212;</mo>") == 3
    page = tmp_path / "elu.html"
    main_args = ["neuron", "--x", "-1.5", "--w", "0.4", "--b", "0.1", "--y", "1", "--activation", "elu",
                 "--loss", "half_squared_error", "--lr", "0.5", "--format", "html", "-o", str(page)]
    from derive.cli import main
    try:
        main(main_args)
    except SystemExit as e:
        assert e.code in (0, None)
    html = page.read_text()
    assert html.count(sign) >= 10
    gaps = [g.split(":") for g in evaluate(page, GAPS).split()]
    signs = [(float(a), float(b)) for form, a, b in gaps if form == "prefix"]
    binary = [(float(a), float(b)) for form, a, b in gaps if form == "binary"]
    assert len(signs) >= 10 and len(binary) >= 3
    # "(−1.5)": the sign touches its number (no 0.22em operator space on either side of it) …
    assert all(right < 0.05 for _, right in signs), signs
    # … while "a − y" keeps the operator's space on both sides
    assert all(left > 0.15 and right > 0.15 for left, right in binary), binary


# --- the notation preset: δ and indices from 0 ---------------------------------------------------

import re  # noqa: E402

import pytest  # noqa: E402

PRESET = {"delta": True, "index_base": 0}
MLP = dict(inputs=[1, 2], weights=[[[0.1, 0.2], [0.3, -0.4]], [[0.5, -0.6]]], biases=[[0.1, 0.2], [0.3]],
           targets=[1], activation="sigmoid", loss="half_squared_error", lr=0.5)


def test_delta_preset_on_a_neuron_in_text_markdown_and_latex():
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", loss="squared_error", lr=0.1)
    text = _flat(ex.to_text(notation={"delta": True, "total": "d"}))
    assert "Write δ for dL/dz, the gradient of the loss with respect to the pre-activation z." in text
    assert "δ = ∂L/∂a · ∂a/∂z = 4 · 1 = 4 dL/db = δ · ∂z/∂b" in text
    assert "dL/dz" not in text.replace("Write δ for dL/dz", "")  # stated once, then always δ
    plain = _flat(ex.to_text(notation={"total": "d"}))
    assert "δ" not in plain and "dL/dz = ∂L/∂a · ∂a/∂z = 4 · 1 = 4" in plain  # off by default
    md = ex.to_markdown(notation={"delta": True})
    assert r"Write $\delta$ for $\frac{\partial L}{\partial z}$" in md
    assert r"\delta = \frac{\partial L}{\partial a} \cdot \frac{\partial a}{\partial z} = 4 \cdot 1 = 4" in md
    latex = ex.to_latex(notation={"delta": True})
    assert latex.count(r"\frac{\partial L}{\partial z}") == 1 and r"\delta \cdot \frac{\partial z}{\partial b}" in latex
    assert ex.grad("b") == 4  # the numbers do not depend on the notation


def _indices(text: str) -> set:
    """Every index of a numbered name (w1_2_1, z2_1, δ1_2, x1, y1) in a plain-text document."""
    return {int(i) for m in re.finditer(r"(?<![A-Za-z0-9.])(?:[wbzaxy]|δ)(\d+(?:_\d+)*)\b", text)
            for i in m.group(1).split("_")}


def _units(text: str) -> set:
    """Every unit index of a numbered name in a plain-text document: x1, y1, and every index
    of w1_2_1, z2_1, δ1_2 but the first (the layer)."""
    out = set()
    for m in re.finditer(r"(?<![A-Za-z0-9.])(?:[wbzaxy]|δ)(\d+(?:_\d+)*)\b", text):
        indices = [int(i) for i in m.group(1).split("_")]
        out |= set(indices[1:] if len(indices) > 1 else indices)
    return out


def _layers(text: str) -> set:
    return {int(m.group(1)) for m in re.finditer(r"(?<![A-Za-z0-9.])(?:[wbza]|δ)(\d+)_\d+\b", text)}


def test_index_base_zero_and_delta_on_an_mlp_in_every_format():
    # the 0-based convention: units from 0, layers from 1 with the inputs as layer 0 (a⁽⁰⁾ = x)
    ex = derive.mlp(**MLP)
    one, zero = ex.to_text(), ex.to_text(notation=PRESET)
    assert _units(one) == {1, 2} and _units(zero) == {0, 1}  # every unit shifted, none left over
    assert _layers(one) == _layers(zero) == {1, 2}  # the layers are not
    z = _flat(zero)
    assert "Write δ1_0 for ∂L/∂z1_0" in z
    assert "The layers count from 1; the network's inputs are layer 0, a0_i = xᵢ." in z
    assert "δ2_0 = ∂L/∂a2_0 · ∂a2_0/∂z2_0 = (−0.409147) · 0.24175 ≈ −0.09891" in z
    assert "δ1_1 = σ'(z1_1) · (w2_0_1 · δ2_0) = 0.2445 · [(−0.6) · (−0.09891)] ≈ 0.01451" in z
    assert "∂L/∂w1_1_0 = δ1_1 · x0 = 0.01451 · 1 ≈ 0.01451" in z
    assert abs(float(ex.grad("w1_2_1")) - 0.01451) < 5e-6  # the API keeps the builder's names
    latex = ex.to_latex(notation=PRESET)
    shown = set(re.findall(r"(?:w|b|z|a|\\delta)\^\{\((-?\d)\)\}_\{([\d,]+)\}", latex))
    assert {layer for layer, _ in shown} == {"1", "2"}  # and a⁽⁰⁾ᵢ = xᵢ stated; never a⁽⁻¹⁾
    assert {int(i) for _, idx in shown for i in idx.split(",")} == {0, 1}
    assert r"w^{(1)}_{0,0}" in latex and r"\delta^{(2)}_{0}" in latex and r"a^{(0)}_{i} = x_{i}" in latex
    assert "(-1)" not in latex and r"w^{(1)}_{1,1}" in latex and r"w^{(1)}_{2,1}" not in latex
    md = ex.to_markdown(notation=PRESET)
    assert r"w^{(1)}_{0,0}" in md and r"\delta^{(1)}_{1}" in md and r"w^{(1)}_{2,2}" not in md


def test_index_base_zero_on_a_chain_keeps_its_layers():
    # a chain's one index is its layer: from 1, the input a0 = x, under either index base
    ex = derive.chain(depth=3, weight=5, x=1, activation="tanh", loss="half_squared_error", y=0, lr="0.1")
    text = ex.to_text(notation=PRESET)
    flat = _flat(text)
    assert "each layer l computes z(l) = w(l) · a(l−1) and a(l) = tanh(z(l)), starting from a0 = x." in flat
    assert "a_(−1)" not in flat and text == ex.to_text(notation={"delta": True})
    latex = ex.to_latex(notation=PRESET)
    assert r"a^{(0)} = x" in latex and r"a^{(-1)}" not in latex and r"w^{(3)}" in latex
    # an RNN counts from 0 already (h0, the initial state): shown as it is
    rnn = derive.rnn([1, 2], h0=0, w_xh=1, w_hh="0.5", w_hy=1, y=0)
    assert rnn.to_text(notation={"index_base": 0}) == rnn.to_text()


def test_notation_preset_from_a_spec_reaches_documents_and_homework(tmp_path):
    from derive.cli import main
    spec = tmp_path / "hw.yaml"
    spec.write_text("title: One neuron, two inputs\nequations: |\n  z1 = w1*x1 + w2*x2 + b1\n"
                    "  a1 = sigmoid(z1)\n  L = (a1 - y1)**2\nvalues: {y1: 1}\nrandom:\n"
                    "  x1: {integers: [1, 3]}\n  x2: {integers: [-2, 2]}\n  w1: {choice: [0.5, -0.5]}\n"
                    "  w2: {choice: [1, 2]}\n  b1: {choice: [0, 1]}\nlr: 0.1\n"
                    "ask: [\"dL/dw1\", \"dL/db1\", \"w1_new\"]\n"
                    "notation: {delta: true, total: d}\n")
    try:
        main(["homework", str(spec), "--variants", "2", "--seed", "1", "--out", str(tmp_path / "hw"),
              "--format", "text,tex"])
    except SystemExit as e:
        assert e.code in (0, None)
    problems = _flat((tmp_path / "hw" / "problems.txt").read_text())
    solutions = _flat((tmp_path / "hw" / "solutions.txt").read_text())
    assert "z1 = w1 · x1 + w2 · x2 + b1" in problems and "Compute dL/dw1, dL/db1, w1_new." in problems
    assert "Write δ1 for dL/dz1, the gradient of the loss with respect to the pre-activation z1." in solutions
    assert "dL/db1 = δ1 · ∂z1/∂b1" in solutions and _indices(solutions) <= {1, 2}
    tex = (tmp_path / "hw" / "solutions.tex").read_text()
    assert r"\delta_{1}" in tex and r"w_{0}" not in tex


def test_index_base_zero_refused_on_the_users_own_equations():
    # QA: renumbering a spec's own w1, w2 to w0, w1 made the document's ∂L/∂w1 the spec's w2
    ex = derive.Example.from_equations("z1 = w1*x1 + w2*x2 + b\na1 = sigmoid(z1)\nL = squared_error(a1, y)",
                                       values={"w1": 0.3, "w2": -0.1, "x1": 1, "x2": 2, "b": 0, "y": 1})
    with pytest.raises(derive.SpecError, match="equations keep their names as written"):
        ex.to_text(notation={"index_base": 0})
    assert "δ1" in ex.to_text(notation={"delta": True})  # delta alone keeps the user's names


@pytest.mark.parametrize("preset, message", [
    ({"index_base": 2}, "notation index_base must be one of 0, 1, got 2"),
    ({"delta": "yes"}, "notation delta must be one of true, false, got 'yes'"),
    ({"index_base": True}, "notation index_base must be one of 0, 1, got True"),
    ({"deltas": True}, "unknown notation setting 'deltas'"),
])
def test_notation_preset_is_checked(preset, message):
    ex = derive.neuron(x=2, w=3, b=1, y=5)
    with pytest.raises(derive.DeriveError, match=re.escape(message)):
        ex.to_text(notation=preset)


def test_notation_documents_compile_and_parse(tmp_path, pdflatex, pandoc):
    import subprocess
    from tests.test_layout import compile_once
    docs = {"neuron": derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr="0.1"),
            "chain": derive.chain(depth=3, weight=5, x=1, activation="tanh", y=0, lr="0.1"),
            "mlp": derive.mlp(**MLP)}
    for name, ex in docs.items():
        code, errors, overfull = compile_once(tmp_path / name, ex.to_latex(notation=dict(PRESET, total="d")))
        assert code == 0 and not errors and not overfull, (name, errors, overfull)
        md = ex.to_markdown(notation=PRESET)
        run = subprocess.run([pandoc, "-f", "markdown", "-t", "html", "--mathml"], input=md,
                             capture_output=True, text=True, check=True)
        assert "<math" in run.stdout and "\\delta" not in run.stdout.split("<math")[0]


# --- LMS exports, validated against the formats' grammars -------------------------------------------

LMS_SPEC = """title: Backprop through one sigmoid neuron
equations: |
  z = w*x + b
  a = sigmoid(z)
  L = (a - y)**2
values: {y: 1}
random:
  x: {uniform: [-2, 2], decimals: 1}
  w: {uniform: [-3, 3], decimals: 1}
  b: {choice: [-1, 0, 0.5, 1]}
lr: 0.1
ask: ["dL/dw", "dL/db", "w_new"]
tolerance: {relative: 0.01}
"""


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    import json
    from derive.cli import main
    out = tmp_path_factory.mktemp("lms-polish")
    (out / "hw.yaml").write_text(LMS_SPEC)
    try:
        main(["homework", str(out / "hw.yaml"), "--variants", "30", "--seed", "11", "--out", str(out / "hw"),
              "--format", "moodle,qti,gift"])
    except SystemExit as e:
        assert e.code in (0, None)
    key = json.loads((out / "hw" / "answers.json").read_text())
    answers = [(row["id"], k, a) for row in key for k, a in row["answers"].items()]
    assert len(key) == 30 and len(answers) == 90
    return out / "hw", answers


def _one_percent(value: float, low: float, high: float) -> None:
    """[low, high] is value ± 1 % of |value| (to the last bits of a float); an exact 0 keeps the
    tolerance's floor of 1e-12, so an answer computed in floats still counts."""
    assert low <= value <= high
    if value == 0:
        assert high - low == 2e-12, (low, high)
        return
    assert abs((high - low) / 2 - 0.01 * abs(value)) <= 1e-13 * abs(value), (value, low, high)
    assert abs((high + low) / 2 - value) <= 1e-13 * abs(value), (value, low, high)


def test_qti_package_is_valid_qti_1_2_with_one_percent_ranges(lms):
    from tests.lms_validate import validate_qti
    folder, answers = lms
    items = validate_qti((folder / "qti.zip").read_bytes())
    assert len(items) == 90
    for item, (ident, key, answer) in zip(items, answers):
        assert item.ident.startswith(ident) and item.title.endswith(f"— {key}")
        assert item.value == answer
        _one_percent(answer, item.low, item.high)
        assert "\\(" in item.text and "Forward pass" in item.feedback and "<math" not in item.feedback


def test_moodle_xml_is_valid_cloze_with_one_percent_tolerances(lms):
    from tests.lms_validate import validate_moodle
    folder, answers = lms
    questions = validate_moodle((folder / "moodle.xml").read_text())
    assert len(questions) == 30
    parts = [(ident, p) for ident, ps, _ in questions for p in ps]
    assert len(parts) == 90
    for (ident, part), (key_id, _, answer) in zip(parts, answers):
        assert ident == key_id and part.weight == 1 and part.value == answer
        _one_percent(answer, answer - part.tolerance, answer + part.tolerance)
    for _, _, feedback in questions:  # the worked solution, TeX for MathJax
        assert "\\frac{\\partial L}{\\partial w}" in feedback and "\\mathbb" not in feedback


def test_gift_numerical_questions_with_one_percent_tolerances(lms):
    from tests.lms_validate import validate_gift
    folder, answers = lms
    questions = validate_gift((folder / "questions.gift").read_text())
    assert len(questions) == 90
    for (title, value, tolerance, feedback), (_, key, answer) in zip(questions, answers):
        assert title.endswith(key.replace("/", "/")) and value == answer
        _one_percent(answer, answer - tolerance, answer + tolerance)
        assert "Forward pass" in feedback


def test_the_validators_reject_broken_exports(lms):
    """Each checker fails on the mistakes it exists to catch."""
    import io
    import zipfile
    from tests.lms_validate import validate_gift, validate_moodle, validate_qti
    folder, _ = lms
    package = (folder / "qti.zip").read_bytes()

    def rezip(change):
        with zipfile.ZipFile(io.BytesIO(package)) as z:
            files = {n: z.read(n).decode() for n in z.namelist()}
        files = change(files)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for n, data in files.items():
                z.writestr(n, data)
        return buf.getvalue()

    def assessment(edit):
        return lambda files: {n: (edit(d) if n != "imsmanifest.xml" else d) for n, d in files.items()}

    broken = {
        "not in the zip": lambda files: {n: d for n, d in files.items() if n == "imsmanifest.xml"},
        "no resource names": lambda files: dict(files, **{"extra.xml": "<x/>"}),
        "break the model": assessment(lambda d: d.replace("<resprocessing>", "<resprocessing><qticomment/>", 1)
                                      .replace("</itemfeedback>\n</item>", "</itemfeedback>\n<presentation/></item>", 1)),
        "linkrefid": assessment(lambda d: d.replace('linkrefid="general_fb"', 'linkrefid="fb"', 1)),
        "respident": assessment(lambda d: d.replace('<vargte respident="response1">', '<vargte respident="r2">', 1)),
        "fibtype": assessment(lambda d: d.replace('fibtype="Decimal"', 'fibtype="Float"', 1)),
    }
    for words, change in broken.items():
        with pytest.raises(AssertionError, match=words):
            validate_qti(rezip(change))
    moodle = (folder / "moodle.xml").read_text()
    with pytest.raises(AssertionError, match="broken"):
        validate_moodle(moodle.replace(":NUMERICAL:=", ":NUMERICAL=", 1))
    with pytest.raises(AssertionError, match="bad answer"):
        validate_moodle(moodle.replace(":NUMERICAL:=", ":NUMERICAL:=0.1.2:", 1))
    with pytest.raises(AssertionError, match="category comes first"):
        validate_moodle(moodle.replace('type="category"', 'type="cloze"', 1))
    gift = (folder / "questions.gift").read_text()
    with pytest.raises(AssertionError, match="unescaped"):
        validate_gift(gift.replace("\\=", "=", 1))


# --- slides worth projecting ---------------------------------------------------------------------

def test_slides_one_idea_per_frame_about_half_the_old_count(tmp_path, pdflatex):
    import subprocess
    from derive.courseware.handout import handout_content, slides_content, write_handout
    from derive.rendering.blocks import DiagramBlock, Figure, Say, Show, Table
    from tests.test_layout import compile_once
    content, _ = handout_content(plot=None)
    frames = slides_content(content).sections
    titles = [f.title for f in frames]
    assert len(frames) <= 24 and len(set(titles)) >= len(titles) - 3  # 47 pages before, 38 frames (parts 2 and 4 each have a graph, a forward and a backward frame)
    assert "The computation" not in titles and not any(t.startswith("Part ") for t in titles)
    assert [f.subtitle for f in frames if f.subtitle] == [
        "Part 1 · ReLU and its derivative", "Part 2 · Backpropagation through one ReLU neuron",
        "Part 3 · How would sigmoid do instead?", "Part 4 · Does ReLU prevent exploding gradients?",
        "Part 5 · The role of He initialisation", "Part 6 · Remedies"]
    for f in frames:  # nearly-empty frames are merged: two blocks at least, or a whole summary table
        assert len(f.blocks) >= 2 or any(isinstance(b, Table) and len(b.rows) >= 4 for b in f.blocks), f.title
    shown = [f for f in frames if any(isinstance(b, (Show, Table, Figure, DiagramBlock)) for b in f.blocks)]
    assert len(shown) >= len(frames) - 1  # only one frame of prose (normalisation)
    notation = [f for f in frames for b in f.blocks if isinstance(b, Say) and "Notation:" in str(b.sentence)]
    assert len(notation) == 1  # said once, not again for sigmoid
    # compiled: every frame on one page (no continuation pages), no overfull box over 2 pt
    write_handout(str(tmp_path / "deck" / "slides.tex"), "tex", slides=True)
    tex = (tmp_path / "deck" / "slides.tex").read_text()
    code, errors, overfull = compile_once(tmp_path / "build", tex, [tmp_path / "deck" / "slides-variance.png"])
    assert code == 0 and not errors and not overfull, (errors, overfull)
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(tmp_path / "build" / "doc.pdf")],
                                                             capture_output=True, text=True).stdout).group(1))
    assert pages == tex.count("\\begin{frame}") <= 25, pages
    assert " I}" not in tex and "\\documentclass[10pt,aspectratio=169]{beamer}" in tex


def test_keys_and_check_follow_the_index_base():
    ex = derive.mlp(**MLP)
    assert ex.keys()["dL/dw1_2_1"] == "∂L/∂w⁽¹⁾₂,₁"
    ex.notation = {"index_base": 0, "delta": True}
    keys = ex.keys()
    assert (keys["dL/dw1_2_1"], keys["w2_1_2"], keys["x1"], keys["w1_1_1_new"]) == (
        "∂L/∂w⁽¹⁾₁,₀", "w⁽²⁾₀,₁", "x₀", "w⁽¹⁾₀,₀ (updated)")
    g = ex.grad("w1_2_1")
    report = ex.check({"∂L/∂w⁽¹⁾₁,₀": float(g), "∂L/∂w⁽¹⁾₀,₀": float(g)})  # typed as the sheet shows them
    assert report.status("∂L/∂w⁽¹⁾₁,₀") == "correct" and report.status("∂L/∂w⁽¹⁾₀,₀") == "incorrect"


def test_notation_in_a_network_spec(tmp_path):
    from derive.model.spec import mlp_from_spec
    spec = tmp_path / "net.yaml"
    spec.write_text("inputs: [1, 2]\nweights: [[[0.1, 0.2], [0.3, -0.4]], [[0.5, -0.6]]]\n"
                    "biases: [[0.1, 0.2], [0.3]]\ntargets: [1]\nactivation: sigmoid\nlr: 0.5\n"
                    "notation: {delta: true, index_base: 0}\n")
    ex = mlp_from_spec(str(spec))
    assert ex.notation == {"delta": True, "index_base": 0} and ex.keys()["dL/dw1_1_1"] == "∂L/∂w⁽¹⁾₀,₀"
    assert "Write δ1_0 for ∂L/∂z1_0" in _flat(ex.to_text())
    spec.write_text(spec.read_text().replace("index_base: 0", "index_base: 3"))
    with pytest.raises(derive.DeriveError, match="net.yaml: notation index_base must be one of 0, 1, got 3"):
        mlp_from_spec(str(spec))


def test_text_prints_pi_as_a_letter_and_constant_roots_below_the_line():
    """π, never "pi"; 1/√π as a root in the denominator, not π^(−1/2) (the variance document)."""
    import sympy as sp
    from derive.rendering.printing import printer_for
    v = sp.Symbol("v", positive=True)
    text, latex = printer_for("text"), printer_for("latex")
    assert text.doprint(v * (sp.pi - 1) / (2 * sp.pi)) == "(1/2) · (v(π − 1))/π"
    assert text.doprint(sp.sqrt(2) * sp.sqrt(v) / (2 * sp.sqrt(sp.pi))) == "(1/2) · (√2 · √v)/√π"
    assert latex.doprint(sp.sqrt(v) / sp.sqrt(sp.pi)) == r"\frac{\sqrt{v}}{\sqrt{\pi}}"
    assert text.doprint(3 * v ** sp.Rational(-1, 2)) == "3v^(−1/2)"  # a variable's stays a power


def test_a_denominator_of_several_brackets_is_bracketed_as_a_whole():
    """a/((b + 1)(c + 1)): written "(a)/(b + 1)(c + 1)" it reads as a product (QA: hardclip′)."""
    import sympy as sp
    from derive.rendering.printing import printer_for
    a, b, c = sp.symbols("a b c", real=True)
    text = printer_for("text")
    assert text.doprint(a / ((b + 1) * (c + 1))) == "a/((b + 1)(c + 1))"
    assert text.doprint((a + 1) / (b + 1)) == "(a + 1)/(b + 1)"
    shown = text._plain(values={b: sp.Integer(2), c: sp.Integer(-3)}).doprint(a / ((b + 1) * (c + 1)))
    assert shown == "a/((2 + 1) · (−3 + 1))"


def test_gelu_names_its_normal_cdf_and_density_with_the_glyphs_its_formulas_use():
    import derive
    ex = derive.neuron(x=0.5, w=-1, b=0.2, y=1, activation="gelu")
    text, latex = ex.to_text(), ex.to_latex()
    assert "Φ and φ are the standard normal CDF and density" in " ".join(text.split())
    assert r"$\Phi$ and \ensuremath{\varphi} are the standard normal" in latex
    assert r"z \varphi(z)" in latex and r"\phi" not in latex  # one φ glyph throughout
