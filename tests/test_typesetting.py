"""Typesetting a lecturer can hand out (issue 26, items 6 and 7): a clean indicator with a dot
after a coefficient in every format; the 0-based convention with a⁽⁰⁾ = x stated; softmax and
cross-entropy defined where used, the batch mean written out; a heading or a sentence introducing
a display kept with it in LaTeX; HTML displays that scroll with nothing cut off at 800 px; every
``--per-page`` problem page with the definitions it needs; homework bytes that do not depend on
``--jobs``."""
from __future__ import annotations

import re
import subprocess

import pytest

import derive
from derive.courseware.homework import generate
from derive.model.spec import load_spec

LEAKY = derive.Example.from_equations("z = w*x + b\na = leaky_relu(z, 0.1)\nL = (a - y)**2",
                                      values=dict(x=2, w=-3, b=-1, y=1))
NET = dict(inputs=[0.05, 0.10], weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
           biases=[[0.35, 0.35], [0.60, 0.60]], targets=[0.01, 0.99], activation="sigmoid",
           loss="half_squared_error", lr=0.5)
BATCH = dict(inputs=[[1, 2], [0.5, -1], [2, 0.5]],
             weights=[[[0.2, -0.5], [1.5, 1.3]], [[0.5, -0.3], [0.1, 0.2], [-1, 0.4]]],
             biases=[[0.1, -0.2], [0.3, 0, -0.1]], targets=[0, 2, 1], activation=["relu", "softmax"],
             loss="cross_entropy", lr=0.1)
HOMEWORK = """title: One leaky ReLU neuron
equations: |
  z = w*x + b
  a = leaky_relu(z, 0.1)
  L = (a - y)**2
values: {y: 1}
random:
  x: {integers: [1, 4]}
  w: {integers: [-3, 3], exclude: [0]}
  b: {choice: [-1, 0, 1]}
lr: 0.1
ask: ["dL/dw", "dL/db", "w_new"]
"""


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_indicator_is_one_clean_symbol_with_a_dot_after_a_coefficient_in_every_format():
    text = _flat(LEAKY.to_text())
    assert "𝟙[z > 0] + 0.1·𝟙[z ≤ 0]" in text and "0.1𝟙" not in text
    latex = LEAKY.to_latex()
    assert r"\mathbf{1}\left[z > 0\right] + 0.1 \cdot \mathbf{1}\left[z \le 0\right]" in latex
    assert r"\mathbb{1}" not in latex and r"\renewcommand{\mathbb}" not in latex  # no macro to carry
    md = LEAKY.to_markdown()
    assert r"0.1 \cdot \mathbf{1}" in md and r"\mathbb{1}" not in md
    html = LEAKY.to_html()
    assert '<mn mathvariant="bold">1</mn>' in html and r"\mathbb" not in html
    # an integer coefficient too: 2·𝟙[…], never 2𝟙 (read 21)
    import sympy as sp
    from derive.core.functions import Indicator
    from derive.rendering.printing import printer_for
    z = sp.Symbol("z")
    two = sp.Mul(2, Indicator(z > 0), evaluate=False)
    assert printer_for("text").doprint(two) == "2·𝟙[z > 0]"
    assert printer_for("latex").doprint(two) == r"2 \cdot \mathbf{1}\left[z > 0\right]"


def test_index_base_zero_states_the_input_as_layer_zero_in_every_format():
    ex = derive.mlp(**NET)
    preset = {"index_base": 0, "delta": True}
    text = _flat(ex.to_text(notation=preset))
    assert "the network's inputs are layer 0, a0_i = xᵢ" in text and "a_(−1)" not in text
    assert "x0" in text and "x2" not in text and "w1_0_0" in text
    latex = ex.to_latex(notation=preset)
    assert r"a^{(0)}_{i} = x_{i}" in latex and "^{(-1)}" not in latex and "^{(0)}_{0" not in latex
    md = ex.to_markdown(notation=preset)
    assert r"a^{(0)}_{i} = x_{i}" in md and r"w^{(1)}_{0,0}" in md


def test_softmax_and_cross_entropy_are_defined_and_the_batch_mean_written_out():
    ex = derive.mlp(**BATCH)
    text = _flat(ex.to_text())
    assert "The softmax turns each column of scores into probabilities that sum to 1" in text
    assert "softmax(z)ᵢ = e^(zᵢ)/Σ_{j=1..k} e^(zⱼ)" in text
    assert "The cross-entropy (here p = a2 and y = Y) is the mean, over the examples b of the batch" in text
    # y_b counts from 0 (PyTorch's class indices) and the entries from 1: entry y_b + 1
    assert ("class y_b. The class index y_b counts from 0, as in PyTorch, so the probability of "
            "class y_b is entry y_b + 1 of p: L = −⅓Σ_{b=1..3} log(p_(y_b+1,b))") in text
    # the three probabilities of the targets' classes (Y = 0, 2, 1), read off a2 above
    m = re.search(r"L = CE\(a2, Y\) = −\(1/3\) · \(log\(([\d.]+)\) \+ log\(([\d.]+)\) \+ log\(([\d.]+)\)\) ≈ ([\d.]+)", text)
    assert m, text[text.index("L is a number"):][:200]
    import math
    p = [float(x) for x in m.groups()[:3]]
    assert abs(-(sum(map(math.log, p))) / 3 - float(m.group(4))) < 5e-4
    assert abs(float(ex.value("L")) - float(m.group(4))) < 5e-4
    one = derive.Example.from_equations("z = W @ x + b\np = softmax(z)\nL = cross_entropy(p, y)",
                                        values={"W": [[0.2, -0.5], [1.5, 1.3], [0.0, 0.25]], "x": [1, 2],
                                                "b": [0.1, -0.2, 0.3], "y": [0, 1, 0]})
    flat = _flat(one.to_text())
    assert "L = −log(p_y)" in flat and re.search(r"L = CE\(p, y\) = −log\(0\.947\d+\) ≈ 0\.05364", flat)



_SOFTMAX_CE = "z = X @ W + b\np = softmax(z)\nL = cross_entropy(p, y)"


@pytest.mark.parametrize("batch", [3, 2, 4])
@pytest.mark.parametrize("rows", [True, False])
def test_the_batch_mean_reads_the_examples_along_the_batch_convention(batch, rows):
    """Under ``batch: rows`` softmax goes along each row, L = −(1/B)Σ log(p_{b,y_b}) with B the
    number of rows (not the class count), and the written-out mean takes p[b, y_b]; the column
    convention is the transpose of all that."""
    import math
    import numpy as np
    X = np.array([[1, -2], [0.5, 1], [-1, 0], [0.25, -0.5]])[:batch]
    W = np.array([[0.3, -0.6, 0.2], [-0.4, 0.1, 0.5]])
    y = [2, 0, 1, 1][:batch]
    if rows:
        ex = derive.Example.from_equations(_SOFTMAX_CE, values={"X": X.tolist(), "W": W.tolist(),
                                           "b": [0.1, 0, -0.1], "y": y}, batch="rows")
    else:
        ex = derive.Example.from_equations("z = W @ X + b\np = softmax(z)\nL = cross_entropy(p, y)",
                                           values={"X": X.T.tolist(), "W": W.T.tolist(),
                                                   "b": [0.1, 0, -0.1], "y": y})
    text = _flat(ex.to_text())
    unit = "row" if rows else "column"
    assert f"The softmax turns each {unit} of scores into probabilities" in text
    frac = {2: "½", 3: "⅓", 4: "¼"}[batch]
    index = "p_(b,y_b+1)" if rows else "p_(y_b+1,b)"  # class y_b (from 0) is entry y_b + 1
    assert f"L = −{frac}Σ_{{b=1..{batch}}} log({index})" in text, text[:1500]
    P = np.array(ex.value("p"), dtype=float)
    right = [P[b, y[b]] if rows else P[y[b], b] for b in range(batch)]
    logs = r" \+ ".join([r"log\(([\d.]+)\)"] * batch)
    m = re.search(rf"L = CE\(p, y\) = −\(1/{batch}\) · \({logs}\) ≈ ([\d.]+)", text)
    assert m, text[text.index("L is a number"):][:200]
    shown = [float(v) for v in m.groups()[:batch]]
    assert all(abs(a - b) < 5e-4 * abs(b) for a, b in zip(shown, right)), (shown, right)
    assert abs(-sum(map(math.log, shown)) / batch - float(m.group(batch + 1))) < 5e-4
    assert abs(float(ex.value("L")) - float(m.group(batch + 1))) < 5e-4


def _pages(pdf) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    return out.split("\f")


def test_latex_keeps_a_heading_and_an_introducing_sentence_with_what_follows(tmp_path, pdflatex):
    from tests.test_layout import compile_once
    tex = LEAKY.to_latex()
    assert "\\derivekeep{6\\baselineskip}\nThe given values:\\par\\nopagebreak" in tex
    # every heading asks for room: six lines, more when sentences open its section
    assert len(re.findall(r"\\derivekeep\{(?:[6-9]|1[0-4])\\baselineskip\}\n\\section\*", tex)) == tex.count("\\section*")
    docs = {"net": derive.mlp(**NET).to_latex(), "batch": derive.mlp(**BATCH).to_latex(),
            "chain": derive.chain(depth=6, weight=0.5, x=1, activation="sigmoid", lr=0.1).to_latex()}
    for name, doc in docs.items():
        code, errors, overfull = compile_once(tmp_path / name, doc)
        assert code == 0 and not errors and not overfull, (name, errors, overfull)
        for number, page in enumerate(_pages(tmp_path / name / "doc.pdf")[:-1], 1):
            lines = [l.strip() for l in page.splitlines() if l.strip() and not l.strip().isdigit()]
            assert lines and not lines[-1].endswith(":"), (name, number, lines[-3:])


def test_html_displays_scroll_with_nothing_cut_off_at_800_px(tmp_path):
    from tests.browser import evaluate
    page = tmp_path / "net.html"
    page.write_text(derive.mlp(**NET).to_html(), encoding="utf-8")
    script = """
      var hidden = [];
      var boxes = document.querySelectorAll('.math');
      for (var k = 0; k < boxes.length; k++) {
        var el = boxes[k], m = el.querySelector('math'); if (!m) continue;
        var r = el.getBoundingClientRect(), right = r.left + el.scrollWidth;
        var glyphs = m.querySelectorAll('mi, mn, mo, mtext');
        for (var g = 0; g < glyphs.length; g++) {
          var b = glyphs[g].getBoundingClientRect();
          if (b.width && (b.left < r.left - 0.5 || b.right > right + 0.5)) { hidden.push(k + ':' + glyphs[g].textContent); break; }
        }
      }
      return boxes.length + ' ' + hidden.join(',');"""
    import tests.browser as browser
    flags = list(browser.FLAGS)
    try:
        browser.FLAGS[:] = flags + ["--window-size=800,900"]
        answer = evaluate(page, script)
    finally:
        browser.FLAGS[:] = flags
    count, _, hidden = answer.partition(" ")
    assert int(count) > 30 and hidden == "", answer


def test_every_per_page_problem_page_carries_the_definitions(tmp_path):
    spec = tmp_path / "hw.yaml"
    spec.write_text(HOMEWORK)
    generate(load_spec(str(spec)), 3, 2, tmp_path / "hw", ["text"], jobs=1, per_page=True)
    pages = [p for p in (tmp_path / "hw" / "problems.txt").read_text().split("\f") if "Problem" in p]
    assert len(pages) == 3
    for page in pages:
        flat = _flat(page)
        assert "Name:" in flat and "LeakyReLU(z, α) = z if z > 0, else αz" in flat
        assert "we take LeakyReLU'(0) = α, as PyTorch does" in flat
    solutions = [p for p in (tmp_path / "hw" / "solutions.txt").read_text().split("\f") if "Solution" in p]
    assert len(solutions) == 3 and all("LeakyReLU(z, α) = z if z > 0, else αz" in _flat(p) for p in solutions)


@pytest.mark.parametrize("formats", [["text", "tex", "md", "html"]])
def test_homework_bytes_do_not_depend_on_jobs(tmp_path, formats):
    spec = tmp_path / "hw.yaml"
    spec.write_text(HOMEWORK)
    written = {}
    for jobs in (1, 2, 4):
        out = tmp_path / f"jobs{jobs}"
        generate(load_spec(str(spec)), 22, 5, out, formats, jobs=jobs)  # ≥ 20: the parallel path
        written[jobs] = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if not p.name.startswith(".")}
    assert written[1] == written[2] == written[4]
    tex = written[1]["solutions.tex"].decode()
    assert tex.count("\\providecommand{\\derivedisplay}") == 1  # the preamble once, never per worker
    assert "Generated by" not in tex
