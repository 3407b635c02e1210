"""Every LaTeX document the test suite produces, for the layout test (tests/test_layout.py):
name -> (tex, side files it includes). Kept in one place so a new document is checked by adding it
here."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

import derive

ROOT = Path(__file__).resolve().parent.parent
NET = dict(inputs=[0.05, 0.10], weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
           biases=[[0.35, 0.35], [0.60, 0.60]], targets=[0.01, 0.99])


def mlp_643():
    """A 6-4-3 sigmoid MLP with mixed-sign decimals: the wide-table case."""
    inputs = ["0.5", "-1.2", "0.3", "0.8", "-0.4", "1.5"]
    w1 = [[f"{(-1) ** (i + j) * (0.1 * (i + 1) + 0.05 * j):.2f}" for j in range(6)] for i in range(4)]
    w2 = [[f"{(-1) ** (i * j) * (0.2 + 0.1 * i - 0.05 * j):.2f}" for j in range(4)] for i in range(3)]
    return derive.mlp(inputs, [w1, w2], [["0.1", "-0.2", "0.3", "0"], ["0.05", "-0.05", "0.1"]],
                      ["0.2", "0.7", "0.1"], activation="sigmoid", loss="half_squared_error", lr="0.5")


def registry_document() -> str:
    from derive.core import functions as F
    from derive.core.derivation import Chain
    from derive.rendering.blocks import Content, Section
    from derive.rendering.formats import render_content
    z = sp.Symbol("z", real=True)
    s = Section("Every registry function")
    for name, spec in sorted(F.FUNCTIONS.items()):
        args = [z] + [sp.Rational(1, 2)] * (spec.arity - 1) if hasattr(spec, "arity") else [z]
        try:
            expr = spec.function(*args)
        except TypeError:
            expr = spec.function(z)
        s.show(Chain(expr, "=", sp.diff(expr, z)))
        if spec.kind in ("activation", "loss"):  # the formulas a document introduces it with
            s.show(spec.definition)
            s.show(spec.derivative)
        if not spec.conditions:  # the rule a justification quotes
            s.show(spec.rule)
    return render_content(Content("Registry", [s]), "latex")


HOMEWORK = """title: Backprop through one sigmoid neuron
equations: |
  z = w*x + b
  a = sigmoid(z)
  L = (a - y)**2
values: {y: 1}
random:
  x: {uniform: [-2, 2], decimals: 2}
  w: {uniform: [-3, 3], decimals: 2}
  b: {choice: [-1, 0, 0.5, 1]}
lr: 0.1
ask: ["dL/dw", "dL/db", "w_new"]
"""


@functools.lru_cache(maxsize=1)
def documents(tmp: str, demo: str | None = None) -> dict:
    """name -> (tex, [side files]). ``tmp`` is a folder for the plots the handout includes;
    ``demo``, a folder `derive demo` wrote: its .tex files and plots are used instead of
    rendering the demo's examples again."""
    from derive.courseware.demo import EXAMPLES
    from derive.courseware.handout import handout_content, slides_content
    from derive.courseware.homework import Generator, _sheet, _sheet_body
    from derive.model.spec import load_spec
    from derive.rendering.formats import render_content
    folder = Path(tmp)
    folder.mkdir(parents=True, exist_ok=True)
    if demo is not None:
        plots = sorted(Path(demo).glob("*.png"))
        docs = {f"demo-{ex.name}": ((Path(demo) / f"{ex.name}.tex").read_text(encoding="utf-8"), plots)
                for ex in EXAMPLES}
    else:
        for ex in EXAMPLES:  # the side files (plots, diagrams) every demo document includes
            if ex.extra is not None:
                ex.extra(folder)
        plots = sorted(folder.glob("*.png"))
        docs = {f"demo-{ex.name}": (ex.render("latex"), plots) for ex in EXAMPLES}
    content, _ = handout_content()
    docs["slides"] = (render_content(slides_content(content), "latex", layout="slides"), plots)
    docs["mlp-6-4-3"] = (mlp_643().to_latex(), [])
    docs["chain-20-sigmoid"] = (derive.chain(depth=20, weight="1.5", x=1, activation="sigmoid",
                                             loss="half_squared_error", y=0, lr="0.1").to_latex(), [])
    docs["neuron-gelu"] = (derive.neuron(x="0.7", w="-1.3", b="0.25", y=1, activation="gelu",
                                         lr="0.1").to_latex(), [])
    docs["registry"] = (registry_document(), [])
    from tests.test_matrixdoc import matrix_examples
    for name, ex in matrix_examples().items():
        docs[f"matrix-{name}"] = (ex.to_latex(), [])
    from tests.test_layers import layer_documents
    for name, ex in layer_documents().items():
        docs[f"layer-{name}"] = (ex.to_latex(), [])
    spec_path = folder / "hw.yaml"
    spec_path.write_text(HOMEWORK)
    gen = Generator(load_spec(str(spec_path)), 3)
    variants = gen.variants(4)
    for sol in (False, True):
        for per_page in (False, True):
            body = _sheet_body(gen, variants, "latex", sol, per_page=per_page)
            name = "homework-" + ("solutions" if sol else "problems") + ("-per-page" if per_page else "")
            docs[name] = (_sheet(gen, "latex", sol, body, variants, per_page), [])
    return docs


@dataclass(frozen=True)
class Build:
    """One pdflatex compile: exit status, its ``!`` error lines, its log, the PDF (None if failed)."""
    returncode: int
    errors: list
    log: str
    pdf: Path | None


def compile_latex(folder: Path, tex: str, resources=()) -> Build:
    """pdflatex in ``folder`` (run again if it asks to, for references), as derive compiles PDFs."""
    folder.mkdir(parents=True)
    for r in resources:
        shutil.copy(r, folder)
    (folder / "doc.tex").write_text(tex, encoding="utf-8")
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
    for _ in range(2):
        run = subprocess.run(["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                             cwd=folder, capture_output=True, text=True, errors="replace", env=env)
        if run.returncode != 0 or "Rerun" not in run.stdout:
            break
    log = (folder / "doc.log").read_text(errors="replace") if (folder / "doc.log").exists() else ""
    errors = [l for l in run.stdout.splitlines() if l.startswith("!")]
    pdf = folder / "doc.pdf"
    return Build(run.returncode, errors[:2], log, pdf if run.returncode == 0 and pdf.exists() else None)
