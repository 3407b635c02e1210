"""Course packs (`derive handout COURSE.yaml`) and fragments: a three-section pack (a spec file, a
builder call, a paragraph) builds in md, tex, pdf, html and ipynb (the notebook runs) and as
slides; it has one preamble, a contents list, numbered sections, diagrams, and a definition stated
once; the course file's fields are checked by name. A fragment states the packages it needs, and
with them a minimal amsmath document that \\input's it compiles, its headings nested by
--section-level."""
import json
import os
import re

import pytest

from derive.cli import main
from derive.core.errors import DeriveError
from derive.courseware.pack import load_course, write_course
from tests.latex_documents import compile_latex
from tests.test_layout import overfull

NEURON = """title: One ReLU neuron
equations: |
  z = w*x + b
  a = relu(z)
  L = (a - y)**2
values: {x: 2, w: 3, b: 1, y: 5}
lr: 0.1
"""
NET = """inputs: [0.05, 0.10]
weights: [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]
biases: [[0.35, 0.35], [0.60, 0.60]]
targets: [0.01, 0.99]
activation: relu
loss: half_squared_error
lr: 0.5
"""
COURSE = """title: Week 5 — backpropagation
sections:
  - {title: One neuron, spec: specs/neuron.yaml}
  - title: A small ReLU network
    spec: specs/net.yaml
    text: The same rule, unit by unit.
  - {title: A deep chain, builder: chain, args: {depth: 3, weight: 5, x: 1, activation: relu}}
  - {title: Remarks, text: "Bring your calculator."}
"""


def cli(*args) -> None:
    """The command line in-process; it must succeed (main returns, or exits 0)."""
    try:
        main(list(args))
    except SystemExit as e:
        assert e.code in (0, None)


@pytest.fixture
def course(tmp_path):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "neuron.yaml").write_text(NEURON)
    (tmp_path / "specs" / "net.yaml").write_text(NET)
    (tmp_path / "week5.yaml").write_text(COURSE)
    return tmp_path / "week5.yaml"


def test_markdown_pack_has_contents_numbered_sections_and_definitions_once(course):
    md = write_course(course, None, "md")
    assert md.startswith("# Week 5 — backpropagation\n\n## Contents\n\n- Section 1: One neuron\n"
                         "- Section 2: A small ReLU network\n")
    headings = re.findall(r"^## (.*)$", md, re.M)
    assert headings == ["Contents", "1. One neuron", "2. A small ReLU network", "3. A deep chain", "4. Remarks"]
    assert "### The computation graph" in md and "### The network diagram" in md
    assert md.count("](data:image/svg+xml;base64,") >= 3 and "```" not in md  # every example's diagram
    # ReLU is displayed in section 1 only; the network's definitions section points back to it
    assert md.count("$$\n\\operatorname{ReLU}(z) = \\max") == 1
    # (the network's definitions section and the chain's sentence), naming what they point to
    assert md.count("$\\operatorname{ReLU}(z)$ and its derivative are as defined in Section 1.") == 2
    assert md.count("\\operatorname{ReLU}(z) = \\max") == 1 and "As defined in" not in md
    assert "The same rule, unit by unit." in md and "Bring your calculator." in md


def test_latex_pack_has_one_preamble_and_compiles(course, tmp_path, pdflatex):
    tex = write_course(course, None, "tex")
    assert tex.count(r"\documentclass") == 1 and tex.count(r"\begin{document}") == 1
    assert tex.count(r"\providecommand{\derivedisplay}") == 1 and "A fragment to" not in tex
    assert re.findall(r"\\section\*\{([^}]*)\}", tex) == ["Contents", "1. One neuron", "2. A small ReLU network",
                                                          "3. A deep chain", "4. Remarks"]
    assert tex.count(r"\begin{tikzpicture}") >= 3 and r"\subsection*{Forward pass}" in tex
    build = compile_latex(tmp_path / "b", tex)
    assert build.returncode == 0, build.errors
    assert not overfull(build.log), overfull(build.log)


def test_pack_pdf_html_ipynb_from_the_command_line(course, tmp_path, pdflatex):
    for fmt in ("pdf", "html", "ipynb"):
        out = tmp_path / f"week5.{fmt}"
        cli("handout", str(course), "--format", fmt, "-o", str(out))
        assert out.exists()
    assert (tmp_path / "week5.pdf").read_bytes().startswith(b"%PDF")
    html = (tmp_path / "week5.html").read_text()
    assert html.count("<!DOCTYPE html>") == 1 and html.count("<svg ") >= 3
    assert '<h2 id="section-1">1. One neuron</h2>' in html and "<h3>Forward pass</h3>" in html
    nb = json.loads((tmp_path / "week5.ipynb").read_text())
    assert sum(c["cell_type"] == "code" for c in nb["cells"]) == 6  # rebuild + torch check, 3 examples


def test_pack_notebook_runs(course, tmp_path):
    nbclient = pytest.importorskip("nbclient")
    import nbformat
    pytest.importorskip("torch")
    out = tmp_path / "week5.ipynb"
    write_course(course, str(out), "ipynb")
    nb = nbformat.read(str(out), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    env = os.environ.get("PYTHONPATH", "")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.environ["PYTHONPATH"] = root + (os.pathsep + env if env else "")
    try:
        client.execute()
    finally:
        os.environ["PYTHONPATH"] = env
    outputs = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert outputs


def test_pack_slides_compile(course, tmp_path, pdflatex):
    tex = write_course(course, None, "tex", slides=True)
    assert tex.count(r"\documentclass") == 1
    assert r"\framesubtitle{2. A small ReLU network}" in tex
    build = compile_latex(tmp_path / "b", tex)
    assert build.returncode == 0, build.errors
    assert "Overfull" not in build.log, overfull(build.log)


@pytest.mark.parametrize("text, message", [
    ("title: T\nsection: []\n", "unknown field 'section'"),
    ("title: T\nsections:\n  - {title: A, txt: hi}\n", "section 1: unknown field 'txt'"),
    ("title: T\nsections:\n  - {title: A}\n", "give a `spec:` file, a `builder:` or a `text:`"),
    ("title: T\nsections:\n  - {title: A, builder: neuron, args: {x: 1, q: 2}}\n", "takes no argument 'q'"),
    ("title: T\nsections:\n  - {title: A, builder: perceptron}\n", "unknown builder 'perceptron'"),
    ("title: T\nsections:\n  - {title: A, spec: missing.yaml}\n", "not found"),
    ("title: T\nsections:\n  - {title: A, spec: a.yaml, builder: neuron}\n", "not both"),
    ("sections:\n  - {title: A, text: hi}\n", "`title` must be text"),
])
def test_course_fields_are_checked_by_name(tmp_path, text, message):
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(DeriveError, match=re.escape(message)):
        load_course(tmp_path / "c.yaml")


def test_without_a_course_the_handout_is_todays(capsys):
    cli("handout", "--format", "md")
    assert capsys.readouterr().out.startswith("# ReLU, backpropagation and exploding gradients")


def test_course_with_the_handouts_options_is_refused(course, capsys):
    with pytest.raises(SystemExit) as e:
        main(["handout", str(course), "--x", "3"])
    assert e.value.code == 2 and "--x sets the built-in handout" in capsys.readouterr().err


# --- fragments ---------------------------------------------------------------------------------


def _fragment(tmp_path, *options):
    out = tmp_path / "body.tex"
    cli("neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--lr", "0.1", "--format", "tex",
        "--fragment", *options, "-o", str(out))
    return out.read_text()


def test_fragment_states_its_packages_and_nests(tmp_path, pdflatex):
    body = _fragment(tmp_path, "--section-level", "subsection")
    header = body.splitlines()[:3]
    assert header[0].startswith("% A fragment to \\input")
    packages = [line.lstrip("% ") for line in header[1:]]
    assert r"\subsection*{Forward pass}" in body and r"\section*" not in body
    doc = "\n".join([r"\documentclass{article}", r"\usepackage{amsmath}", *packages, r"\begin{document}",
                     r"\section{My own heading}", r"\input{body.tex}", r"\end{document}"])
    folder = tmp_path / "doc"
    build = compile_latex(folder, doc, [tmp_path / "body.tex"])
    assert build.returncode == 0, build.errors
    assert not overfull(build.log)


def test_section_levels_in_markdown_and_html(tmp_path):
    import derive
    ex = derive.neuron(x=2, w=3, b=1, y=5)
    assert "\n#### Forward pass\n" in ex.render("md", fragment=True, section_level="subsubsection")
    assert "<h3>Forward pass</h3>" in ex.render("html", fragment=True, section_level="subsection")
    with pytest.raises(DeriveError, match="unknown section level 'chapter'"):
        ex.render("md", section_level="chapter")


def test_pack_and_deck_bytes_are_deterministic(course):
    assert write_course(course, None, "tex") == write_course(course, None, "tex")
    assert write_course(course, None, "html") == write_course(course, None, "html")
    assert write_course(course, None, "tex", slides=True) == write_course(course, None, "tex", slides=True)


# --- shared definitions stated once (issue 26, QA round 2) -------------------------------------

SIGMOID_BCE = """equations: |
  z = {z}
  a = sigmoid(z)
  L = binary_cross_entropy(a, y)
values: {values}
lr: 0.1
"""
SOFTMAX_SPEC = """equations: |
  z = W @ x + b
  p = softmax(z)
  L = cross_entropy(p, y)
values: {W: [[0.2, -0.5], [1.5, 1.3], [0.0, 0.25]], x: [1, 2], b: [0.1, -0.2, 0.3], y: [0, 1, 0]}
"""
SOFTMAX_NET = ("{builder: mlp, args: {inputs: [1, -2], weights: [[[0.2, -0.5], [1.5, 1.3]], [[0.5, -0.3], "
               "[0.1, 0.2], [-1, 0.4]]], biases: [[0.1, -0.2], [0.3, 0, -0.1]], targets: [2], "
               "activation: [relu, softmax], loss: cross_entropy}}")
SIGMOID_CHAIN = "{builder: chain, args: {depth: 3, weight: 0.5, activation: sigmoid}}"
SIGMOID = r"\sigma(z) = \frac{1}{1 + e^{- z}}"
BCE = r"\operatorname{BCE}(a, y) = - \left(y \log{\left(a \right)}"
SOFTMAX = r"\mathrm{softmax}\left(z\right)_{i} = \frac{e^{z_{i}}}{\sum_{j = 1}^{k} e^{z_{j}}}"


def _shared_pack(tmp_path, sections):
    (tmp_path / "n1.yaml").write_text(SIGMOID_BCE.format(z="w*x + b", values="{x: 2, w: -1, b: 0.5, y: 1}"))
    (tmp_path / "n2.yaml").write_text(SIGMOID_BCE.format(z="w1*x1 + w2*x2 + b",
                                                         values="{x1: 1, x2: -2, w1: 0.5, w2: 0.75, b: 0.25, y: 0}"))
    (tmp_path / "t.yaml").write_text(SOFTMAX_SPEC)
    lines = ["title: Shared definitions", "sections:"]
    for i, section in enumerate(sections, 1):
        body = section if section.startswith("{") else "{spec: " + section + "}"
        lines.append(f"  - {{title: Part {i}, " + body[1:])
    (tmp_path / "c.yaml").write_text("\n".join(lines) + "\n")
    return tmp_path / "c.yaml"


@pytest.mark.parametrize("sections, once, pointers", [
    # two scalar specs sharing σ and BCE, and a tensor spec
    (["n1.yaml", "t.yaml", "n2.yaml"], [SIGMOID, BCE, SOFTMAX], ["$\\sigma(z)$ and its derivative are as defined in Section 1.",
                                                          "$\\operatorname{BCE}(a, y)$ and its derivative are as defined in Section 1."]),
    # two tensor sections sharing softmax and cross-entropy, and a chain of σ before a σ neuron
    (["t.yaml", SOFTMAX_NET, SIGMOID_CHAIN, "n1.yaml"], [SOFTMAX, SIGMOID, BCE],
     # (the cross-entropy is stated again: Section 1's target is one-hot, Part 2's a class index
     # counted from 0, so its p entry is y + 1 — another formula, not a repeat)
     ["(here $a_{2} = \\mathrm{softmax}\\left(z_{2}\\right)$), as defined in Section 1.",
      "$\\sigma(z)$ and its derivative are as defined in Section 3."]),
    # the neuron first: the chain's sentence stating σ points back instead
    (["n1.yaml", SIGMOID_CHAIN, "t.yaml"], [SIGMOID, BCE, SOFTMAX],
     ["$\\sigma(z)$ and its derivative are as defined in Section 1."]),
])
def test_a_pack_states_each_shared_definition_once(tmp_path, sections, once, pointers):
    course = _shared_pack(tmp_path, sections)
    md = write_course(course, None, "md")
    for formula in once:
        assert md.count(formula) == 1, formula
    for pointer in pointers:
        assert md.count(pointer) == pointers.count(pointer), pointer
    # each definition is stated in the first section that uses it, before any pointer to it
    first = md.index("## 2. Part 2")
    assert all(md.index(f) < first for f in once[:1])
    tex = write_course(course, None, "tex")
    html = write_course(course, None, "html")
    assert tex.count(r"\sigma(z) = \frac{1}{1 + e^{- z}}") == 1 and html.count("defined in Section") == md.count(
        "defined in Section") and "As defined in" not in md
    # a section on its own still defines everything it uses
    for i, section in enumerate(sections):
        (tmp_path / f"alone{i}").mkdir()
        assert "defined in Section" not in write_course(_shared_pack(tmp_path / f"alone{i}", [section]), None, "md")
