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
    assert "LeakyReLU with negative slope α (default 0.01); here α = 0.1:" in text
    assert ex.grad("w") == sp.Rational(-68, 100)  # 2(a − y) · 0.1 · x = 2(−1.7)(0.1)(2)
    latex = ex.to_latex()
    assert r"\mathbb{1}\left[z > 0\right] + 0.1 \mathbb{1}\left[z \le 0\right]" in latex
    # the default slope is not repeated as "here"; an active unit at z > 0 passes slope 1
    other = derive.Example.from_equations("z = w*x + b\na = leaky_relu(z)\nL = (a - y)**2",
                                           values=dict(x=2, w=3, b=1, y=1))
    t = _flat(other.to_text())
    assert "(default 0.01):" in t and "here α" not in t
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
    assert (text_name("xhat1"), text_name("yhat"), text_name("x1")) == ("x\u03021", "y\u0302", "x1")
    assert (latex_name("xhat1"), latex_name("yhat")) == (r"\hat{x}_{1}", r"\hat{y}")
    bn = derive.batchnorm([1, 2, 4], gamma=2, beta="0.5")
    text = bn.to_text()
    assert "x\u03021 = d1/s" in text and "xhat" not in text
    rnn = derive.rnn([1, "-0.5", 2], h0=0, w_xh="0.5", w_hh="1.5", w_hy=1, y=1)
    text = rnn.to_text()
    assert "y\u0302 = w_hy · h3 + b_y" in text and "yhat" not in text
    assert "(path 3: w_hh → z3 → h3 → y\u0302 → L)" in text


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
