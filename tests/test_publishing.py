"""Publishing: HTML pages in a real headless browser (no console errors, math laid out as MathML,
diagrams inline SVG, plots embedded), notebooks executed with nbclient (derive rebuilds each
example, PyTorch cross-checks it), homework sheets to hand out, and LMS exports (Moodle XML with
cloze parts and worked-solution feedback, QTI 1.2, GIFT) with the spec's tolerance."""
import json
import re
import xml.etree.ElementTree as ET
import zipfile

import pytest

from derive.cli import main
from tests.browser import load

NET = ("inputs: [0.5, -1.2, 0.3]\nweights: [[[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]], [[0.7, -0.8]]]\n"
       "biases: [[0.1, -0.1], [0.2]]\ntargets: [0.3]\nactivation: [tanh, sigmoid]\nlr: 0.5\n")
HOMEWORK = """title: Backprop through one sigmoid neuron
instructions: Compute the gradients and one gradient-descent step.
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


def run(argv):
    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        assert e.code in (0, None), (argv, e.code)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """HTML and notebooks for the neuron, a chain, an MLP, a homework set and the handout."""
    out = tmp_path_factory.mktemp("published")
    (out / "net.yaml").write_text(NET)
    (out / "hw.yaml").write_text(HOMEWORK)
    commands = {
        "neuron": ["neuron", "--x", "2", "--w", "-3", "--b", "1", "--y", "0.5", "--activation", "gelu", "--lr", "0.1"],
        "chain": ["chain", "--depth", "6", "--weight", "1.5", "--activation", "sigmoid", "--lr", "0.1"],
        "mlp": ["mlp", out / "net.yaml", "--focus", "w1_1_1"],
    }
    for name, argv in commands.items():
        for fmt in ("html", "ipynb"):
            run(argv + ["--format", fmt, "-o", out / f"{name}.{fmt}"])
    run(["handout", "--format", "html", "-o", out / "handout.html"])
    run(["handout", "--format", "ipynb", "-o", out / "handout.ipynb"])
    run(["homework", out / "hw.yaml", "--variants", "3", "--seed", "2", "--out", out / "hw",
         "--format", "html,ipynb", "--per-page"])
    return out


PAGES = ["neuron.html", "chain.html", "mlp.html", "handout.html", "hw/problems.html", "hw/solutions.html"]


@pytest.mark.parametrize("page", PAGES)
def test_html_pages_in_headless_chromium(published, page):
    path = published / page
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>") and "@media print" in html
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # self-contained: nothing to fetch
    result = load(path)
    assert result["console"] == []  # no errors, no warnings
    assert result["math"] >= 10 and result["mathml_laid_out"] == result["math"], result
    assert "\\frac" not in re.sub(r"<math.*?</math>", "", html, flags=re.S)  # no raw TeX left over
    if page == "handout.html":
        assert result["svg"] >= 2 and result["data_images"] == 1  # diagrams inline, the plot embedded


def test_html_screenshot_has_rendered_math(published, tmp_path):
    """The page as a reader sees it: a screenshot with ink in it (math drawn, not blank)."""
    import subprocess
    from PIL import Image
    from tests.browser import FLAGS, chromium
    shot = tmp_path / "page.png"
    subprocess.run([chromium(), *FLAGS, f"--user-data-dir={tmp_path}/profile", "--window-size=900,1200",
                    f"--screenshot={shot}", (published / "neuron.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    image = Image.open(shot).convert("L")
    dark = sum(image.histogram()[:128])
    assert image.size == (900, 1200) and dark > 2000


@pytest.mark.parametrize("name", ["neuron", "chain", "mlp", "handout", "hw/solutions"])
def test_notebooks_execute(published, name):
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(published / f"{name}.ipynb", as_version=4)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds.count("markdown") >= 4 and kinds.count("code") >= 2
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(published)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    agreed = [o for o in outputs if o.output_type == "stream" and "PyTorch gives the same" in o.text]
    assert len(agreed) == kinds.count("code") // 2  # one cross-check per example, each passed


def test_notebook_crosscheck_can_fail():
    """The check cell compares against derive's exact numbers: a wrong value makes it raise."""
    import derive
    from derive.rendering.notebook import crosscheck_code
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid")
    code = crosscheck_code(ex).replace("v_z = ", "v_z = 1e-3 + ", 1)
    with pytest.raises(AssertionError):
        exec(compile(code, "cell", "exec"), {"ex": ex})


def test_notebooks_are_deterministic(published, tmp_path):
    run(["chain", "--depth", "6", "--weight", "1.5", "--activation", "sigmoid", "--lr", "0.1",
         "--format", "ipynb", "-o", tmp_path / "again.ipynb"])
    assert (tmp_path / "again.ipynb").read_bytes() == (published / "chain.ipynb").read_bytes()


# --- homework sheets -------------------------------------------------------------------------


def test_homework_sheets_to_hand_out(tmp_path):
    (tmp_path / "hw.yaml").write_text(HOMEWORK)
    run(["homework", tmp_path / "hw.yaml", "--variants", "4", "--out", tmp_path / "hw", "--format", "tex,md",
         "--per-page"])
    problems = (tmp_path / "hw" / "problems.tex").read_text()
    solutions = (tmp_path / "hw" / "solutions.tex").read_text()
    assert problems.count("Student ID") == 4  # a name and ID line on every variant's page
    assert problems.count("\\clearpage") == 4 and solutions.count("\\clearpage") == 4  # a page each
    for sheet in (problems, solutions):  # a student handed only their own page has the definitions
        assert sheet.count("Logistic sigmoid:") == 4 and sheet.count("Its derivative:") == 4
        headings = re.findall(r"\\section\*\{(.*?)\}", sheet)
        assert len(headings) == len(set(headings)), headings  # no heading repeats
    assert "Answers within 1 \\% of the exact value are accepted." in problems
    # the shown arithmetic adds up: 2·(a − 1) with a carried to 5 digits gives the shown result
    md = (tmp_path / "hw" / "solutions.md").read_text()
    for a, shown in re.findall(r"= 2 \\cdot \\left\(([-\d.]+) - 1\\right\) \\approx ([-\d.]+)", md):
        assert f"{2 * (float(a) - 1):.4g}" == f"{float(shown):.4g}", (a, shown)
    assert re.search(r"= 2 \\cdot \\left\(", md)


def test_sheets_without_per_page_have_one_name_line(tmp_path):
    (tmp_path / "hw.yaml").write_text(HOMEWORK)
    run(["homework", tmp_path / "hw.yaml", "--variants", "3", "--out", tmp_path / "hw", "--format", "tex"])
    problems = (tmp_path / "hw" / "problems.tex").read_text()
    assert problems.count("Student ID") == 1 and "\\clearpage" not in problems


# --- LMS exports -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("lms")
    (out / "hw.yaml").write_text(HOMEWORK)
    run(["homework", out / "hw.yaml", "--variants", "30", "--seed", "7", "--out", out / "hw",
         "--format", "moodle,qti,gift"])
    key = json.loads((out / "hw" / "answers.json").read_text())
    return out / "hw", key


def test_moodle_xml_cloze_with_feedback_and_spec_tolerance(exports):
    folder, key = exports
    root = ET.parse(folder / "moodle.xml").getroot()
    category, *questions = root.findall("question")
    assert category.get("type") == "category"
    assert category.find("category/text").text == "$course$/top/Backprop through one sigmoid neuron"
    assert len(questions) == 30 and {q.get("type") for q in questions} == {"cloze"}
    for q, row in zip(questions, key):
        text = q.find("questiontext/text").text
        assert q.find("idnumber").text == row["id"]
        assert "\\(w = " in text and "\\[z = w x + b\\]" in text  # TeX, for Moodle's MathJax filter
        parts = re.findall(r"\{(\d+):NUMERICAL:=([^:}]+):([^}#]+)\}", text)
        assert len(parts) == 3 and len(re.findall(r"\{\d+:", text)) == 3  # one cloze part per step
        for (weight, value, tol), (k, answer) in zip(parts, row["answers"].items()):
            assert weight == "1" and float(value) == pytest.approx(answer, rel=1e-15)
            assert float(tol) == pytest.approx(0.01 * abs(answer), rel=1e-12)  # 1 % from the spec
            assert float(tol) == pytest.approx(row["tolerance"][k], rel=1e-15)  # the key agrees
        feedback = q.find("generalfeedback/text").text
        assert "Forward pass" in feedback and "\\frac{\\partial L}{\\partial w}" in feedback
        assert "\\mathbb" not in feedback and "<math" not in feedback  # MathJax-compatible TeX


def test_qti_package(exports):
    folder, key = exports
    with zipfile.ZipFile(folder / "qti.zip") as z:
        names = z.namelist()
        assert "imsmanifest.xml" in names
        manifest = ET.fromstring(z.read("imsmanifest.xml"))
        ns = {"m": "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"}
        resource = manifest.find("m:resources/m:resource", ns)
        assert resource.get("type") == "imsqti_xmlv1p2" and resource.get("href") in names
        assessment = ET.fromstring(z.read(resource.get("href")))
    q = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
    items = assessment.findall(f".//{q}item")
    assert len(items) == 90
    answers = [a for row in key for a in row["answers"].values()]
    for item, answer in zip(items, answers):
        lo = float(item.find(f".//{q}vargte").text)
        hi = float(item.find(f".//{q}varlte").text)
        assert lo == pytest.approx(answer - 0.01 * abs(answer)) and hi == pytest.approx(answer + 0.01 * abs(answer))
        assert "Forward pass" in item.find(f".//{q}itemfeedback//{q}mattext").text
    assert (folder / "qti.zip").read_bytes() == (folder / "qti.zip").read_bytes()


def test_gift_questions(exports):
    folder, key = exports
    text = (folder / "questions.gift").read_text()
    assert text.count("$CATEGORY: $course$/top/Backprop through one sigmoid neuron") == 1
    questions = [block for block in text.split("\n\n") if block.startswith("::")]
    assert len(questions) == 90
    answers = [a for row in key for a in row["answers"].values()]
    for block, answer in zip(questions, answers):
        m = re.search(r"(?<!\\)\{#([^:]+):([^#]+)####(.*)(?<!\\)\}$", block, re.S)
        assert m, block[:200]
        assert float(m.group(1)) == pytest.approx(answer) and float(m.group(2)) == pytest.approx(0.01 * abs(answer))
        unescaped = re.sub(r"\\[{}=~#:]", "", block[:m.start()])
        assert not re.search(r"[{}=~#]", unescaped.split("::", 2)[2])  # specials all escaped


def test_check_uses_the_spec_tolerance(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("equations: |\n  z = w*x + b\n  a = sigmoid(z)\n  L = (a - y)**2\n"
                    "values: {x: 2, w: 3, b: 1, y: 5}\ntolerance: {relative: 0.01}\n")
    (tmp_path / "close.yaml").write_text("dL/dw: -0.01465\n")  # 0.6 % off: accepted at 1 %
    (tmp_path / "far.yaml").write_text("dL/dw: -0.0149\n")  # 2.3 % off
    for answers, code in (("close.yaml", 0), ("far.yaml", 1)):
        with pytest.raises(SystemExit) as e:
            main(["check", str(spec), str(tmp_path / answers)])
        assert e.value.code == code


@pytest.mark.parametrize("raw, words", [
    ({"relative": 2}, "below 1"), ({"percent": 1}, "unknown kind"), ({"sig_figs": 2.5}, "whole number"),
    ({"absolute": -1}, "positive"), ("1%", "exactly one of")])
def test_bad_tolerances_name_the_field(raw, words):
    from derive.core.errors import SpecError
    from derive.core.tolerance import parse_tolerance
    with pytest.raises(SpecError, match=words):
        parse_tolerance(raw, "hw.yaml")


def test_tolerance_rules():
    from derive.core.tolerance import Tolerance
    assert Tolerance("relative", 0.01).bound(-250) == 2.5
    assert Tolerance("absolute", 0.001).accepts(1.0009, 1) and not Tolerance("absolute", 0.001).accepts(1.0011, 1)
    sig = Tolerance("sig_figs", 3)
    assert sig.bound(123.4) == pytest.approx(0.5) and sig.bound(-0.0012) == pytest.approx(5e-6)
    assert sig.accepts(0.01234, 0.012344) and not sig.accepts(0.0123, 0.012356)
