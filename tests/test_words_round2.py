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
