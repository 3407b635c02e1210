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
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}),
      file=sys.stderr)
"""


def imported_by(*argv: str) -> tuple[int, set, str]:
    """(exit status, top-level modules imported, stdout) of ``derive *argv`` in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"]), done.stdout


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
