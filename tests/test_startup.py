"""Start-up stays light (issue 11, speed): the commands that print a document import neither the
numeric stack (numpy, torch, matplotlib) nor the exporters of other formats (nbformat,
latex2mathml); they are imported when a command needs them. Speed itself is measured by
bench/bench_documents.py, not by a timed test."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "torch", "matplotlib", "nbformat", "latex2mathml")

PROBE = """
import json, runpy, sys
sys.argv = ["derive", *json.loads(sys.argv[1])]
try:
    runpy.run_module("derive.cli", run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported_by(*argv: str, whole: bool = False) -> tuple[int, set, str]:
    """(exit status, top-level modules imported, stdout) of ``derive *argv`` in a fresh process;
    ``whole``: every module's full name (``derive.core.tensor``), not only its top level."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    modules = set(report["modules"]) if whole else {m.split(".")[0] for m in report["modules"]}
    return report["code"], modules, done.stdout


@pytest.mark.parametrize("argv", [
    ("--help",),
    ("neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--activation", "sigmoid",
     "--lr", "0.1", "--format", "md"),
    ("chain", "--depth", "3", "--activation", "tanh", "--format", "text"),
])
def test_documents_do_not_import_the_numeric_stack(argv):
    code, modules, out = imported_by(*argv)
    assert code in (0, None)
    assert out.strip(), "the command printed nothing"
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_help_imports_no_sympy():
    code, modules, out = imported_by("--help")
    assert code in (0, None) and "neuron" in out
    assert "sympy" not in modules and "jinja2" not in modules


# What a scalar document (`derive neuron … --format text/md`) does not need, so must not import
# (issue 22: one package for scalars and tensors must not make the scalar start-up heavier):
# the numeric stack and other formats' exporters, spec files and the REPL, and the subsystems
# of other commands — checking, training, initialisation, courseware, file output, the tensor
# engine and matrix documents. Each is imported by the command or format that needs it.
NOT_FOR_A_SCALAR_DOCUMENT = (
    *HEAVY, "scipy", "pandas", "yaml", "prompt_toolkit", "latexcodec", "nbclient", "PIL",
    "sympy.stats", "derive.checking", "derive.training", "derive.initialization",
    "derive.courseware", "derive.io", "derive.core.tensor", "derive.core.tensorgraph",
    "derive.core.extend", "derive.core.matrixmath", "derive.model.tensors", "derive.model.layers", "derive.model.fromtorch",
    "derive.model.spec", "derive.solutions.matrixdoc", "derive.solutions.layerdocs",
    "derive.rendering.notebook", "derive.rendering.latex_layout",
)  # (derive.rendering.diagrams is printed: every single-example document carries its diagram)


@pytest.mark.parametrize("fmt", ["text", "md"])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_a_scalar_document_imports_only_what_it_prints(fmt, activation):
    code, modules, out = imported_by("neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5",
                                     "--activation", activation, "--lr", "0.1", "--format", fmt,
                                     whole=True)
    assert code in (0, None)
    assert ("∂L/∂w" if fmt == "text" else r"\frac{\partial L}{\partial w}") in out, out[:300]
    # a package counts as imported when any of its modules is
    imported = {name for name in NOT_FOR_A_SCALAR_DOCUMENT
                if any(m == name or m.startswith(name + ".") for m in modules)}
    assert not imported, sorted(imported)
    # and what it needs is imported (the check above would pass for a command that failed early)
    assert {"sympy", "jinja2", "derive.rendering.formats", "derive.model.builders"} <= modules
