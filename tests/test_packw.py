"""QA round (packw): the worksheet page speaks only to students; a course pack's notebook shows
numbers; shared definitions are stated once and named where they are pointed back to; the
handout's formats; the HTML pack's contents link to its sections."""
from __future__ import annotations

import re

from derive.cli import main
from tests.test_words import words_about_the_tool

HW = """title: A tanh neuron with half squared error
instructions: Do the forward pass, the backward pass and one update.
equations: |
  z = w*x + b
  a = tanh(z)
  L = half_squared_error(a, y)
values: {y: 0.5}
random:
  x: {integers: [-3, 3], exclude: [0]}
  w: {uniform: [-1, 1], decimals: 1}
  b: {choice: [-0.5, 0, 0.5]}
lr: 0.2
ask: ["dL/dw", "dL/db", "w_new"]
"""


def _visible(page: str) -> str:
    """The words a student sees: no comments, scripts, styles or tags."""
    page = re.sub(r"<!--.*?-->", " ", page, flags=re.S)
    page = re.sub(r"<(script|style|head)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return re.sub(r"<[^>]+>", " ", page)


def test_worksheet_page_body_has_no_words_about_the_tool(tmp_path):
    out = tmp_path / "neuron.html"
    main(["neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--activation", "relu",
          "--lr", "0.1", "--format", "worksheet", "-o", str(out)])
    page = out.read_text(encoding="utf-8")
    body = _visible(page)
    assert words_about_the_tool(body) == []
    for said in ("scrambled", "answers are inside", "--format", "moodle", "LMS"):
        assert said not in body
    # the lecturer's remark is kept, as a comment only
    comment = re.search(r"<!--(.*?)-->", page, flags=re.S).group(1)
    assert "scrambled but not encrypted" in comment and "--" not in comment
    assert "Your answers" in body and "dL/dw" not in words_about_the_tool(body)


def test_homework_worksheets_have_no_words_about_the_tool(tmp_path):
    spec = tmp_path / "hw.yaml"
    spec.write_text(HW, encoding="utf-8")
    out = tmp_path / "hw"
    main(["homework", str(spec), "--format", "worksheet", "--out", str(out), "--variants", "2"])
    pages = sorted(out.rglob("worksheet-*.html"))
    assert len(pages) == 2
    for p in pages:
        body = _visible(p.read_text(encoding="utf-8"))
        assert words_about_the_tool(body) == [] and "scrambled" not in body
        assert "A tanh neuron with half squared error" in body


LRELU = """title: A leaky ReLU neuron with BCE
equations: |
  z = w*x + b
  a = leaky_relu(z)
  p = sigmoid(a)
  L = binary_cross_entropy(p, y)
values: {x: -2, w: 0.75, b: 1.5, y: 1}
lr: 0.3
"""
NET = """title: A 2-3-2 ELU/softmax classifier
inputs: [-1.5, 0]
weights: [[[0.4, -0.7], [1.2, 0.3], [-0.5, 0.9]], [[0.6, -1.1, 0.8], [-0.2, 0.5, 1.3]]]
biases: [[0.6, -0.2, 0.1], [0.05, -0.3]]
targets: [1]
activations: [elu, softmax]
loss: cross_entropy
lr: 0.2
"""
COURSE = """title: Week 7
precision: 4
sections:
  - {title: A leaky ReLU neuron, spec: lrelu.yaml}
  - title: A deep softplus chain
    builder: chain
    args: {depth: 4, weight: -2, x: 0.5, activation: softplus}
  - {title: An ELU network, spec: net.yaml}
"""


def _course(tmp_path):
    (tmp_path / "lrelu.yaml").write_text(LRELU, encoding="utf-8")
    (tmp_path / "net.yaml").write_text(NET, encoding="utf-8")
    course = tmp_path / "course.yaml"
    course.write_text(COURSE, encoding="utf-8")
    return course


def test_pack_notebook_cells_show_gradients_as_numbers(tmp_path):
    import json
    import derive
    out = tmp_path / "pack.ipynb"
    main(["handout", str(_course(tmp_path)), "--format", "ipynb", "-o", str(out)])
    cells = ["".join(c["source"]) for c in json.loads(out.read_text(encoding="utf-8"))["cells"]
             if c["cell_type"] == "code" and "from_equations" in "".join(c["source"])]
    assert len(cells) == 3
    shown = []
    for src in cells:  # each rebuild cell, run; its last line is what the student sees
        *body, last = src.rstrip().split("\n")
        assert last.startswith("{p: number(")
        scope: dict = {}
        exec("\n".join(body), scope)
        shown.append((scope, eval(last, scope)))
    (s1, g1), (s2, g2), (s3, g3) = shown
    assert g1 == {"w": 0.01, "b": -0.005}  # z = 0: slope 0.01 (as PyTorch), (p - y)·0.01·x and ·1
    chain = derive.chain(depth=4, weight=-2, x=0.5, activation="softplus")
    assert list(g2) == ["w1", "w2", "w3", "w4"]
    for p, v in g2.items():
        assert type(v) is float and abs(v - float(chain.grad(p))) < 1e-12
    assert abs(g2["w1"] - (-0.014766884638934611)) < 1e-12
    # the ELU network: matrices as rows of floats, bias vectors as lists of floats
    assert [len(r) for r in g3["W1"]] == [2, 2, 2] and len(g3["b1"]) == 3 and len(g3["b2"]) == 2
    assert all(type(x) is float for r in g3["W1"] + g3["W2"] for x in r)
    assert all(type(x) is float for x in g3["b1"] + g3["b2"])
    assert abs(g3["W1"][0][0] - (-0.9447071257060035)) < 1e-9 and g3["W1"][0][1] == 0.0
    assert abs(g3["b2"][0] + g3["b2"][1]) < 1e-12  # softmax + cross-entropy: gradients sum to 0
    assert abs(g3["W2"][0][1] - (-0.680712432727446)) < 1e-9
    for row, want in zip(g3["W2"], s3["ex3"].grad("W2").tolist()):
        assert all(abs(x - float(w)) < 1e-12 for x, w in zip(row, want))


NEURON = """title: One ReLU neuron
equations: |
  z = w*x + b
  a = relu(z)
  L = (a - y)**2
values: {x: 2, w: 3, b: 1, y: 5}
lr: 0.1
"""
WEEK5 = """title: Week 5 — backpropagation
sections:
  - {title: One neuron, spec: neuron.yaml}
  - title: A deep chain
    builder: chain
    args: {depth: 3, weight: 5, x: 1, activation: relu}
    text: Large weights multiply up layer after layer.
  - {title: Remarks, text: "Bring your calculator."}
"""


def _week5(tmp_path):
    (tmp_path / "neuron.yaml").write_text(NEURON, encoding="utf-8")
    (tmp_path / "week5.yaml").write_text(WEEK5, encoding="utf-8")
    return tmp_path / "week5.yaml"


def test_guide_week5_states_relu_once_and_names_the_back_reference(tmp_path):
    out = tmp_path / "w5.md"
    main(["handout", str(_week5(tmp_path)), "--format", "md", "-o", str(out)])
    md = out.read_text(encoding="utf-8")
    one, two = md.split("## 2. A deep chain")
    two = two.split("## 3. Remarks")[0]
    assert one.count(r"\operatorname{ReLU}(z) = \max(0, z)") == 1
    assert r"\max(0, z)" not in two and r"\mathbf{1}\left[z > 0\right]" not in two
    assert two.count(r"$\operatorname{ReLU}(z)$ and its derivative are as defined in Section 1.") == 1
    assert "As defined in Section" not in md
    # the chain's own layers still say which activation they apply
    assert r"a^{(l)} = \operatorname{ReLU}\left(z^{(l)}\right)" in two


def test_pointer_back_names_several_functions(tmp_path):
    (tmp_path / "lrelu.yaml").write_text(LRELU, encoding="utf-8")
    (tmp_path / "c.yaml").write_text("title: Twice\nsections:\n  - {title: A, spec: lrelu.yaml}\n"
                                     "  - {title: B, spec: lrelu.yaml}\n", encoding="utf-8")
    out = tmp_path / "c.md"
    main(["handout", str(tmp_path / "c.yaml"), "--format", "md", "-o", str(out)])
    two = out.read_text(encoding="utf-8").split("## 2. B")[1]
    assert (r"$\operatorname{LeakyReLU}(z, \alpha)$ and $\sigma(z)$ and their derivatives are as "
            "defined in Section 1.") in two
    assert r"$\operatorname{BCE}(a, y)$ and its derivative are as defined in Section 1." in two


def test_handout_help_says_which_formats_a_course_pack_takes(capsys, tmp_path):
    import pytest
    try:
        main(["handout", "--help"])
    except SystemExit as e:
        assert e.code in (0, None)
    said = " ".join(capsys.readouterr().out.split())
    assert "a course pack (COURSE) is md, tex, pdf, html or ipynb" in said
    with pytest.raises(SystemExit) as e:  # and text is refused for a pack, as the help says
        main(["handout", str(_week5(tmp_path)), "--format", "txt"])
    assert e.value.code == 2
    assert "a course pack is md, tex, pdf, html or ipynb" in capsys.readouterr().err


def test_html_pack_contents_link_to_the_section_headings(tmp_path):
    out = tmp_path / "w5.html"
    main(["handout", str(_week5(tmp_path)), "--format", "html", "-o", str(out)])
    html = out.read_text(encoding="utf-8")
    links = re.findall(r'<li><a href="#([^"]+)">([^<]*)</a></li>', html)
    assert links == [("section-1", "Section 1: One neuron"), ("section-2", "Section 2: A deep chain"),
                     ("section-3", "Section 3: Remarks")]
    headings = re.findall(r'<h2 id="([^"]+)">([^<]*)</h2>', html)
    assert headings == [("section-1", "1. One neuron"), ("section-2", "2. A deep chain"),
                        ("section-3", "3. Remarks")]
    assert len(re.findall(r'id="section-1"', html)) == 1  # each target once
