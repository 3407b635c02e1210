"""Issue 26, second round of QA on words and courseware: help texts that name only files that
exist and speak about the math; a problem sheet that states the example's own parameter values
(never a default); a tensor document's lecturer's note; a course pack that states a shared
definition once; homework LaTeX without a fragment's comment inside a whole document; the deep
chain's labels (exploding, stable, vanishing) following the numbers they label."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from derive.cli import cli

ROOT = Path(__file__).resolve().parent.parent

# a path inside the repository, as a help text would name one (docs/guide/commands.md)
REPO_PATH = re.compile(r"(?<![\w/.-])((?:docs|derive|examples|templates|tests|bench)/[\w./-]*\w)")
MODULE = re.compile(r"(?<![\w/.-])(derive(?:\.[a-z_]+)+)\b")
# words about the program's insides, not what the command gives the user
HELP_BANNED = [r"\bengine\b", r"\bsympy\b", r"\bconversation\b", r"\bcomes from the\b",
               r"\bcomputed by\b", r"\bevaluates\b"]


def _commands(group: click.Group, prefix=()):
    """Every command of the CLI, nested groups included, as (argv prefix, command)."""
    yield prefix, group
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))
        else:
            yield prefix + (name,), command


def _helps() -> dict:
    runner = CliRunner()
    out = {}
    for argv, _ in _commands(cli):
        result = runner.invoke(cli, [*argv, "--help"])
        assert result.exit_code == 0, (argv, result.output)
        out[" ".join(argv) or "derive"] = result.output
    return out


def test_every_path_a_help_text_names_exists():
    helps = _helps()
    assert len(helps) >= 12  # derive and each of its commands
    named = {(cmd, p) for cmd, text in helps.items() for p in REPO_PATH.findall(text)}
    missing = [(cmd, p) for cmd, p in sorted(named) if not (ROOT / p).exists()]
    assert not missing, missing
    assert ("handout", "docs/guide/lecture-materials.md") in named  # where course packs are documented
    modules = {m for text in helps.values() for m in MODULE.findall(text)}
    for module in modules:  # a module a help text points to can be imported
        importlib.import_module(module)


def test_no_help_text_speaks_about_the_programs_insides():
    bad = [(cmd, m.group(0)) for cmd, text in _helps().items() for pattern in HELP_BANNED
           for m in re.finditer(pattern, " ".join(text.split()), flags=re.IGNORECASE)]
    assert not bad, bad


def test_the_help_checker_finds_what_it_should():
    assert REPO_PATH.findall("(see docs/guides/course-packs.md).") == ["docs/guides/course-packs.md"]
    assert REPO_PATH.findall("derive demo --out output/ and spec.yaml") == []
    text = "Every number comes from the engine; SymPy evaluates the product"
    assert sum(bool(re.search(p, text, flags=re.IGNORECASE)) for p in HELP_BANNED) == 4


# --- a sheet states the example's parameter values, never a default ----------------------------

LEAKY_SHEET = """title: One leaky neuron
equations: |
  z = w*x + b
  a = {call}
  L = (a - y)**2
values: {{y: 1}}
random:
  x: {{integers: [1, 4]}}
  w: {{integers: [-3, 3], exclude: [0]}}
  b: {{choice: [-1, 0, 1]}}
lr: 0.1
ask: ["dL/dw", "w_new"]
"""


@pytest.mark.parametrize("call, said", [("leaky_relu(z, 0.1)", "here α = 0.1"),
                                        ("leaky_relu(z)", "here α = 0.01"),
                                        ("leaky_relu(z, 0.25)", "here α = 0.25"),
                                        ("elu(z)", "here α = 1"),
                                        ("elu(z, 0.5)", "here α = 0.5")])
def test_a_problem_sheet_states_the_examples_alpha_not_a_default(tmp_path, call, said):
    from derive.courseware.homework import generate
    from derive.model.spec import load_spec
    spec = tmp_path / "hw.yaml"
    spec.write_text(LEAKY_SHEET.format(call=call))
    for per_page in (False, True):
        folder = tmp_path / f"hw{per_page}"
        generate(load_spec(str(spec)), 2, 3, folder, ["text", "md"], jobs=1, per_page=per_page)
        for name in ("problems.txt", "problems.md", "solutions.txt"):
            text = " ".join((folder / name).read_text().split())
            assert "default" not in text, (name, per_page)
            assert text.count(said + ":") == (2 if per_page else 1), (name, per_page)


def test_a_document_states_alpha_given_or_not_and_an_alpha_input_with_the_values():
    import derive
    for equations, values, said in (
            ("a = leaky_relu(z)\nL = a", {"z": "-0.5"}, "LeakyReLU with negative slope α; here α = 0.01:"),
            ("a = leaky_relu(z, 0.3)\nL = a", {"z": "2"}, "LeakyReLU with negative slope α; here α = 0.3:"),
            ("a = leaky_relu(z, alpha)\nL = a", {"z": "-2", "alpha": "0.2"}, "LeakyReLU with negative slope α:")):
        ex = derive.Example.from_equations(equations, values=values)
        for text in (ex.to_text(), ex.to_markdown()):
            flat = " ".join(text.split())
            assert said in flat and "default" not in flat
    symbolic = " ".join(derive.neuron(activation="leaky_relu").to_text().split())
    assert "here α = 0.01:" in symbolic and "default" not in symbolic


# --- a tensor document's lecturer's note, as a scalar one's -----------------------------------

TENSOR_SPEC = """title: A softmax layer
equations: |
  z = W @ x + b
  p = softmax(z)
  L = cross_entropy(p, y)
values: {W: [[0.2, -0.5], [1.5, 1.3], [0.0, 0.25]], x: [1, 2], b: [0.1, -0.2, 0.3], y: [0, 1, 0]}
lr: 0.5
"""


def _notes(text: str) -> str:
    from derive.rendering.blocks import NOTES_TITLE
    assert text.count(NOTES_TITLE) == 1
    return " ".join(text.split(NOTES_TITLE, 1)[1].split())


def _examples():
    import derive
    return {
        "neuron": derive.neuron(x=2, w=-1, b=0.5, y=1, activation="sigmoid", lr=0.1),
        "chain": derive.chain(depth=3, weight=0.5, x=1, activation="tanh"),
        "softmax": derive.Example.from_equations("z = W @ x + b\np = softmax(z)\nL = cross_entropy(p, y)",
                                                 values={"W": [[0.2, -0.5], [1.5, 1.3]], "x": [1, 2],
                                                         "b": [0.1, -0.2], "y": [0, 1]}),
        "relu layer": derive.Example.from_equations("z = W @ x + b\na = relu(z)\nL = sum(a*a)",
                                                    values={"W": [[1, -2], [0.5, 0]], "x": [1, -1], "b": [0, 0.25]}),
        "rows": derive.Example.from_equations("z = X @ W + b\nL = mean(z*z)", batch="rows",
                                              values={"X": [[1, 2], [3, -4]], "W": [[1], [2]], "b": [[1]]}),
        "pool": derive.Example.from_equations("o = maxpool2d(x, 2)\nL = sum(o)", values={"x": [[[1, 2], [3, 4]]]}),
    }


@pytest.mark.parametrize("name", ["neuron", "chain", "softmax", "relu layer", "rows", "pool"])
def test_every_document_notes_how_its_numbers_were_obtained(name):
    from derive.rendering.blocks import NOTES_TITLE
    ex = _examples()[name]
    tensor = getattr(ex, "matrices", False)
    for fmt in ("text", "markdown", "latex"):
        plain, noted = ex.render(fmt), ex.render(fmt, notes=True)
        assert NOTES_TITLE not in plain
        notes = _notes(noted)
        assert ("Every entry is computed exactly" if tensor else "Every number is computed exactly") in notes
        if tensor:
            assert "rule printed is the rule the numbers under it were evaluated with" in notes
        # the PyTorch check is named where the notebook has one (images, the rows convention: none)
        checked = name not in ("rows", "pool")
        assert ("again with PyTorch in float64" in notes) == checked, (name, fmt)
        if checked:  # and it is true: the notebook carries those cells
            assert "PyTorch gives the same" in ex.to_ipynb()


def test_render_notes_on_a_tensor_spec_from_the_command_line(tmp_path):
    from derive.cli import main
    spec = tmp_path / "softmax.yaml"
    spec.write_text(TENSOR_SPEC)
    for notes in ((), ("--notes",)):
        out = tmp_path / f"doc{len(notes)}.md"
        try:
            main(["render", str(spec), "--format", "md", *notes, "-o", str(out)])
        except SystemExit as e:
            assert e.code in (0, None)
        text = out.read_text()
        if notes:
            assert "Every entry is computed exactly" in _notes(text)
        else:
            assert "computed exactly" not in text
    # the body is the same with and without the notes (they close the document)
    from derive.rendering.blocks import NOTES_TITLE
    noted = (tmp_path / "doc1.md").read_text().split("## " + NOTES_TITLE)[0]
    assert (tmp_path / "doc0.md").read_text().rstrip() == noted.rstrip()


# --- a homework sheet is a whole document: no fragment's comment inside it -----------------------

TENSOR_HOMEWORK = """title: A ReLU layer
equations: |
  z = W @ x + b
  a = relu(z)
  L = sum(a*a)
values: {x: [1, -1]}
random:
  W: {integers: [-2, 2], shape: [2, 2]}
  b: {choice: [0, 1]}
lr: 0.1
ask: ["dL/dW", "dL/db"]
"""


@pytest.mark.parametrize("kind", ["scalar", "tensor"])
def test_homework_latex_has_no_fragment_comment(tmp_path, kind):
    from derive.cli import main
    spec = tmp_path / "hw.yaml"
    spec.write_text(LEAKY_SHEET.format(call="leaky_relu(z, 0.1)") if kind == "scalar" else TENSOR_HOMEWORK)
    for options in ((), ("--per-page",), ("--notes",)):
        out = tmp_path / f"hw{len(options)}{options[:1]}"
        try:
            main(["homework", str(spec), "--variants", "3", "--out", str(out), "--format", "tex",
                  "--jobs", "2", *options])
        except SystemExit as e:
            assert e.code in (0, None)
        for name in ("problems.tex", "solutions.tex"):
            tex = (out / name).read_text()
            assert tex.count(r"\documentclass") == 1 and tex.count(r"\end{document}") == 1
            assert "A fragment to" not in tex and "% " not in tex.split(r"\begin{document}")[1], (name, options)
    # a fragment asked for still says what its including document needs
    import derive
    fragment = derive.neuron(x=2, w=3, b=1, y=5).to_latex(fragment=True)
    assert fragment.startswith("% A fragment to \\input")


# --- the deep chain's labels follow the numbers -------------------------------------------------

def _label_cells(ex):
    """(bound?, label or None, [values at D = 3, 10, 50]) for each row of the chain document's
    generalisation tables."""
    from derive.core.derivation import Chain
    out = []
    for s in ex.content().sections:
        for b in s.blocks:
            if type(b).__name__ != "Table" or not s.title.startswith(("Generalisation", "The same chain")):
                continue
            bound = isinstance(b.header[0], Chain)  # "bound (¼k)^(D − 1)" heads a bound's table
            for row in b.rows:
                labels = {re.sub(r"^\{0\} ?", "", c.template).strip("()") or None for c in row[1:]}
                assert len(labels) == 1, row  # one label per weight k, whatever the depth
                out.append((bound, labels.pop(), [float(c.math[0].number) for c in row[1:]]))
    return out


def _reference_factors(activation: str, weight: float, depth: int, x: float = 1.0) -> list:
    """w(l)·f'(z(l−1)) for l = 2 … D, from a forward pass in floats (the reference)."""
    import math
    f = {"relu": lambda z: max(z, 0.0), "sigmoid": lambda z: 1 / (1 + math.exp(-z)), "tanh": math.tanh}[activation]
    df = {"relu": lambda z: 1.0 if z > 0 else 0.0, "sigmoid": lambda z: f(z) * (1 - f(z)),
          "tanh": lambda z: 1 - math.tanh(z) ** 2}[activation]
    a, zs = x, []
    for _ in range(depth):
        z = weight * a
        zs.append(z)
        a = f(z)
    return [weight * df(zs[l - 2]) for l in range(2, depth + 1)]


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("weight", [0, 0.5, 1, 5, -2])
def test_chain_labels_follow_the_numbers(activation, weight):
    import derive
    ex = derive.chain(depth=3, weight=weight, x=1, activation=activation, y=0, lr=0.1)
    cells = _label_cells(ex)
    assert cells  # every one of these activations has its generalisation table
    for bound, label, values in cells:
        if bound:  # an upper bound decides only that the gradient vanishes
            assert label in (None, "vanishing"), (label, values)
            assert (label == "vanishing") == (values[0] < 1), (label, values)
            continue
        grows, same = values[1] > values[0] > 1, values[0] == values[1] == 1
        expected = "exploding" if grows else "stable" if same else "vanishing"
        assert label == expected, (label, values)
        assert label != "vanishing" or values[2] < values[1] < values[0] < 1
    # the example's own factors, said with what they do
    text = " ".join(ex.to_text().split())
    factors = _reference_factors(activation, weight, 3)
    said = re.search(r"In this chain, each step back .*?: (.*?)\. (.*?\.)", text)
    assert said, text[-1500:]
    shown = [float(v.replace("−", "-")) for v in re.findall(r"[=≈] (−?[\d.]+)", said.group(1))]
    assert shown == pytest.approx(factors, rel=1e-3, abs=1e-12)
    verdict = said.group(2)
    if any(f == 0 for f in factors):
        assert verdict.startswith("A factor is 0")
    elif all(abs(f) > 1 for f in factors):
        assert verdict.endswith("it explodes.")
    elif all(abs(f) < 1 for f in factors):
        assert verdict.endswith("it vanishes.")
    elif all(abs(f) == 1 for f in factors):
        assert verdict.endswith("it is stable.")
    assert "explosion even faster" not in text


def test_the_example_factors_of_a_long_mixed_chain():
    import math
    import derive
    weights = [5, 0.1] * 5
    ex = derive.chain(depth=10, weight=weights, x=1, activation="tanh")
    text = " ".join(ex.to_text().split())
    assert "Some are above 1 in size and some below; together they give ∏_{l=2..10} ∂z(l)/∂z(l−1) ≈ " in text
    a, product = 1.0, 1.0
    for l, w in enumerate(weights, 1):
        z = w * a
        if l < len(weights):
            product *= weights[l] * (1 - math.tanh(z) ** 2)
        a = math.tanh(z)
    m = re.search(r"∂z\(l−1\) ≈ ([\d.]+)×10⁻([⁰¹²³⁴⁵⁶⁷⁸⁹]+)", text)
    printed, exponent = float(m.group(1)), int(m.group(2).translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")))
    assert printed * 10 ** -exponent == pytest.approx(product, rel=1e-3)


@pytest.mark.parametrize("call, said", [("leaky_relu(z)", "; here α = 0.01."), ("leaky_relu(z, 0.2)", "; here α = 0.2."),
                                        ("elu(z, 0.5)", "; here α = 0.5."), ("leaky_relu(z, alpha)", ". ")])
def test_a_tensor_document_states_its_alpha(call, said):
    import derive
    values = {"W": [[0.2, -0.5], [1.5, 1.3]], "x": [1, 2], "b": [0.1, -0.2]}
    if "alpha" in call:
        values["alpha"] = 0.3  # an input of its own: given with the values
    ex = derive.Example.from_equations(f"z = W @ x + b\na = {call}\nL = sum(a*a)", values=values)
    for text in (ex.to_text(), ex.to_markdown()):
        flat = " ".join(text.split())
        assert "entry by entry" + said in flat + " " and "default" not in flat
