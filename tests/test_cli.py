"""The command line: every command documented with an example, clean one-line errors, safe
writes, PDFs. (The demo folder current: tests/test_golden.py; templates found by a non-editable
install, the wheel's: tests/test_release.py.)"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from derive.cli import cli, main

ROOT = Path(__file__).resolve().parent.parent
NEURON = ["neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--activation", "relu", "--lr", "0.1"]


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "derive.cli", *args], capture_output=True, text=True,
                          cwd=cwd)


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    assert cli.commands, "no commands"
    for name, command in cli.commands.items():
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in result.output and f"derive {name}" in result.output, name


def test_neuron_prints_the_worked_example():
    out = run(*NEURON)
    assert out.returncode == 0
    assert "∂L/∂w = 4 · 1 · 2 = 8" in out.stdout and "= 2.2" in out.stdout


def test_sigmoid_on_the_command_line():
    out = run(*NEURON[:-4], "--activation", "sigmoid", "--lr", "0.1")
    assert "σ(7) ≈ 0.9991" in out.stdout and "0.0009102" in out.stdout
    assert "−0.01457" in out.stdout and "≈ 3.001" in out.stdout and "0.000999" not in out.stdout


@pytest.mark.parametrize("args, words", [
    (["neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--activation", "nope"], "unknown activation"),
    (["neuron", "--x", "abc"], "cannot read 'abc' as a number"),
    (["neuron", "--x", "2", "--w", "3"], "missing value(s)"),
    (["render", "missing.yaml"], "no such file"),
    (["chain", "--depth", "3", "--weight", "five"], "cannot read"),
    (["neuron", *NEURON[1:], "--format", "pdf"], "needs -o FILE.pdf"),
    (["compare", "--activations", "relu,bogus", "--x", "1", "--w", "1", "--b", "0", "--y", "1"], "unknown activation"),
])
def test_bad_input_is_one_line_and_nonzero(args, words):
    out = run(*args)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in out.stderr


@pytest.mark.parametrize("yaml_text, words", [
    ("title: [unclosed\n", "malformed YAML at line"),
    ("- just\n- a list\n", "must be a YAML mapping"),
    ("equations: |\n  z = w*x +\nvalues: {w: 1, x: 2}\n", "line 1, column"),
    ("equations: |\n  z = w*x\nvalues: {w: 1}\n", "missing value(s) for x"),
    ("equations: |\n  a = relu(z, 2)\n", "`relu` takes 1 argument, got 2"),
    ("equations: |\n  z = w*x\nvalue: {w: 1}\n", "unknown field(s) value"),
    ("equations: |\n  z = log(x)\nvalues: {x: 0}\n", "log of 0"),
])
def test_bad_specs(tmp_path, yaml_text, words):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml_text)
    out = run("render", str(spec))
    assert out.returncode == 2
    assert words in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_render_spec_and_output_files(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("title: Backprop through one ReLU neuron\nequations: |\n  z = w*x + b\n  a = relu(z)\n"
                    "  L = (a - y)**2\nvalues: {x: 2, w: 3, b: 1, y: 5}\nlr: 0.1\n")
    target = tmp_path / "out.md"
    assert run("render", str(spec), "--format", "md", "-o", str(target)).returncode == 0
    first = target.read_bytes()
    assert b"# Backprop through one ReLU neuron" in first
    refused = run("render", str(spec), "--format", "md", "-o", str(target))
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert run("render", str(spec), "--format", "md", "-o", str(target), "--force").returncode == 0
    assert target.read_bytes() == first  # same input, same bytes
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_failed_render_leaves_no_file(tmp_path):
    target = tmp_path / "x.md"
    out = run("neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--activation", "bogus", "-o", str(target))
    assert out.returncode == 2 and not target.exists()


def test_tex_and_pdf(tmp_path, pdflatex):
    tex = run(*NEURON, "--format", "tex")
    assert tex.stdout.startswith("\\documentclass") and tex.stdout.rstrip().endswith("\\end{document}")
    body = run(*NEURON, "--format", "tex", "--fragment")
    assert "\\documentclass" not in body.stdout
    pdf = tmp_path / "n.pdf"
    assert run(*NEURON, "--format", "pdf", "-o", str(pdf)).returncode == 0
    assert pdf.read_bytes().startswith(b"%PDF")


def test_pdf_without_pdflatex_is_a_clear_error(tmp_path):
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))
    out = subprocess.run([sys.executable, "-m", "derive.cli", *NEURON, "--format", "pdf", "-o",
                          str(tmp_path / "n.pdf")], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "pdflatex is not installed" in out.stderr


def test_main_exit_codes():
    with pytest.raises(SystemExit) as e:
        main(["neuron", "--activation", "bogus"])
    assert e.value.code == 2


def test_demo_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    out = run("demo", "--out", str(tmp_path), "--no-pdf")
    assert out.returncode == 2 and "--force" in out.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"


SPEC = ("title: One sigmoid neuron\nequations: |\n  z = w*x + b\n  a = sigmoid(z)\n  L = (a - y)**2\n"
        "values: {x: 2, w: 3, b: 1, y: 5}\nlr: 0.1\n")


def test_check_command_exit_codes(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    good = tmp_path / "good.yaml"
    good.write_text("z: 7\ndL/dw: -0.01457\nw_new: 3.001457\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 0.999\ndL/da: -8.002\nda/dz: 0.000999\ndz/dw: 2\ndL/dw: -0.016\nw_new: 3.0016\n")
    out = run("check", str(spec), str(good))
    assert out.returncode == 0, out.stdout + out.stderr
    out = run("check", str(spec), str(bad))
    assert out.returncode == 1 and "premature rounding" in out.stdout and "carried forward" in out.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("dL/dw: __import__('os')\nz: 7\ndL/dv: 3\n")  # dL/dW is read as dL/dw
    out = run("check", str(spec), str(broken))
    # unreadable answers and unknown keys are verdicts in the report: exit 1, no error line
    assert out.returncode == 1 and out.stderr == "", out.stderr
    assert "? unreadable" in out.stdout and "✓ correct" in out.stdout
    assert "ex.keys()" not in out.stdout and f"derive check {spec} --keys" in " ".join(out.stdout.split())
    keys = run("check", str(spec), "--keys")
    assert keys.returncode == 0 and "dL/dw  (∂L/∂w)" in keys.stdout.splitlines()
    out = run("check", str(spec), str(tmp_path / "missing.yaml"))  # bad usage stays 2
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "missing.yaml: no such file (answers file)" in out.stderr  # not "(spec file)"
    listed = tmp_path / "listed.yaml"
    listed.write_text("- 7\n- 8\n")
    out = run("check", str(spec), str(listed))
    assert out.returncode == 2 and "the answers file must be a YAML mapping" in out.stderr


def test_every_option_is_documented_in_help_and_the_docs():
    """Each command's --help describes every option it takes, and the hand-written guide to the
    command line (docs/guide/commands.md; the README links to it) names them."""
    guide = (ROOT / "docs" / "guide" / "commands.md").read_text()
    for name, command in cli.commands.items():
        for param in command.params:
            if param.param_type_name != "option":
                continue
            assert param.help, (name, param.opts)
            assert any(f"`{o}" in guide or f" {o} " in guide for o in param.opts), \
                f"docs/guide/commands.md does not mention {param.opts} (derive {name})"
