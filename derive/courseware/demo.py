"""``derive demo``: every worked example of the source conversation, regenerated from the engine,
as Markdown, LaTeX, text, a self-contained HTML page and PDF.

Each example is one entry in ``EXAMPLES`` (a name, a one-line description and a function giving
``render(format) -> str``), so later features add their example here. Files are generated into a
temporary folder and moved into place; an existing non-empty folder needs ``force``.
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.errors import DeriveError

TEXT_FORMATS = (("markdown", "md"), ("latex", "tex"), ("text", "txt"))


@dataclass(frozen=True)
class DemoExample:
    name: str
    description: str
    render: Callable[[str], str]  # format name -> document
    extra: Callable | None = None  # writes side files (plots, diagrams) into a folder


def _neuron(activation):
    def render(fmt):
        from ..model.builders import neuron
        from ..model.example import render as r
        return r(neuron(x=2, w=3, b=1, y=5, activation=activation, loss="squared_error", lr="0.1"), fmt)
    return render


def _symbolic(fmt):
    from ..model.builders import neuron
    from ..model.example import render as r
    return r(neuron(activation="relu"), fmt)


def _compare(fmt):
    from .compare import compare_activations, render_comparison
    return render_comparison(compare_activations(["relu", "sigmoid"], x=2, w=3, b=1, y=5, lr="0.1"), fmt)


def _chain(depth):
    def render(fmt):
        from ..model.builders import chain
        from ..model.example import render as r
        return r(chain(depth=depth, weight=5, x=1, activation="relu", loss="half_squared_error", y=0), fmt)
    return render


NETWORK_222 = dict(inputs=["0.05", "0.10"],
                   weights=[[["0.15", "0.20"], ["0.25", "0.30"]], [["0.40", "0.45"], ["0.50", "0.55"]]],
                   biases=[["0.35", "0.35"], ["0.60", "0.60"]], targets=["0.01", "0.99"])


def _network(fmt):
    from ..model.builders import mlp
    from ..model.example import render as r
    return r(mlp(**NETWORK_222, activation="sigmoid", loss="half_squared_error", lr="0.5"), fmt)


def _he(fmt):
    from ..teaching.initialization import simulate_variance, simulation_section, variance_derivation
    handout = variance_derivation("relu")
    sim = simulate_variance(depth=50, width=256, activation="relu", schemes=["normal", "small", "xavier", "he"],
                            seed=0, batch=1024)
    handout.content.sections.append(simulation_section(sim, "he-initialization-plot.png"))
    deep = simulate_variance(depth=100, width=256, activation="relu", schemes=["normal", "he"], seed=0, batch=256)
    handout.content.sections.append(simulation_section(deep, "he-initialization-100-layers.png"))
    return handout.render(fmt)


def _he_plots(folder: Path):
    from ..teaching.initialization import simulate_variance
    sim = simulate_variance(depth=50, width=256, activation="relu", schemes=["normal", "small", "xavier", "he"],
                            seed=0, batch=1024)
    sim.plot(folder / "he-initialization-plot.png")
    deep = simulate_variance(depth=100, width=256, activation="relu", schemes=["normal", "he"], seed=0, batch=256)
    deep.plot(folder / "he-initialization-100-layers.png")


@functools.lru_cache(maxsize=1)
def _handout_content():
    from ..rendering.diagrams import dot_available
    from .handout import handout_content
    return handout_content(svg_names=dot_available())


def _handout(fmt):
    from ..rendering.formats import render_content
    content, _ = _handout_content()
    return render_content(content, fmt)


def _handout_files(folder: Path):
    from ..rendering.diagrams import dot_available, to_svg
    from .handout import PLOT_NAME
    content, extra = _handout_content()
    extra["simulation"].plot(folder / PLOT_NAME)
    if dot_available():
        for d in extra["diagrams"].values():
            (folder / d.svg_name).write_bytes(to_svg(d))


def _remedies(fmt):
    from .remedies import remedies
    return remedies().render(fmt)


EXAMPLES: list[DemoExample] = [
    DemoExample("neuron-relu", "One ReLU neuron backpropagated (x = 2, w = 3, b = 1, y = 5): "
                "dL/dw = 4 · 1 · 2 = 8, w_new = 2.2", _neuron("relu")),
    DemoExample("neuron-sigmoid", "The same neuron with a sigmoid: σ(7) ≈ 0.9991, "
                "σ'(7) ≈ 0.0009102, dL/dw ≈ −0.01457, w_new ≈ 3.001 (exact values carried; "
                "the conversation's 0.000999 came from rounding σ(7) too early)", _neuron("sigmoid")),
    DemoExample("compare-relu-sigmoid", "ReLU vs sigmoid side by side: forward output, local "
                "gradient, dL/dw, updated weight, gradient strength", _compare),
    DemoExample("chain-relu-3", "Does ReLU prevent exploding gradients? A 3-layer ReLU chain with "
                "every weight 5: a3 = 125, L = 7812.5, dL/dw1 = 125 · 5 · 5 = 3125, and the "
                "generalisation k^(D−1) over weights and depths, with the sigmoid bound", _chain(3)),
    DemoExample("chain-relu-10", "The same chain 10 layers deep: dL/dw1 = 5^19", _chain(10)),
    DemoExample("network-2-2-2", "A full backpropagation through a 2-2-2 sigmoid network: δ "
                "notation, matrix form, every gradient and update", _network),
    DemoExample("he-initialization", "Why He initialisation: Var[z] = n·Var[w]·E[a²], E[ReLU(z)²] = "
                "½·Var[z] derived with sympy.stats, hence Var[w] = 2/n_in (std √(2/n_in)); LeCun, "
                "Glorot; a 50-layer simulation and the conversation's 100-layer example, plotted", _he,
                _he_plots),
    DemoExample("remedies", "Remedies worked on the exploding chain: gradient clipping (norm and "
                "value), weight decay, a residual connection, a normalisation step, and the table",
                _remedies),
    DemoExample("handout", "The whole conversation as one lecture handout, with computation-graph "
                "diagrams and the variance plot (slides: `derive handout --slides`)", _handout,
                _handout_files),
    DemoExample("neuron-relu-symbolic", "The ReLU neuron without numbers: "
                "dL/dw = 2(a − y) · 𝟙[z > 0] · x", _symbolic),
]


def _index(examples, pdf: bool) -> str:
    lines = ["# Worked examples generated by derive", "",
             "Regenerate with `derive demo --out output/ --force`; a test checks these files are "
             "current.", "",
             "| example | what it shows | files |", "| --- | --- | --- |"]
    for ex in examples:
        files = [f"[{ext}]({ex.name}.{ext})" for _, ext in TEXT_FORMATS] + [f"[html]({ex.name}.html)"]
        if pdf:
            files.append(f"[pdf]({ex.name}.pdf)")
        lines.append(f"| {ex.name} | {ex.description} | {' · '.join(files)} |")
    return "\n".join(lines) + "\n"


def write_demo(out, force: bool = False, pdf: bool = True, examples=None) -> list[Path]:
    from ..io.files import compile_pdf, pdflatex_available
    out = Path(out)
    examples = EXAMPLES if examples is None else examples
    if out.exists() and not out.is_dir():
        raise DeriveError(f"{out} is a file; give a folder for --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DeriveError(f"{out}/ exists and is not empty; pass --force to regenerate its examples")
    pdf = pdf and pdflatex_available()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix=".derive-demo-", dir=out) as tmp:
        staged = Path(tmp)
        pending = []
        for ex in examples:
            for fmt, ext in TEXT_FORMATS:
                (staged / f"{ex.name}.{ext}").write_text(ex.render(fmt), encoding="utf-8")
            if pdf:
                pending.append(ex)
        for ex in examples:
            if ex.extra is not None:
                ex.extra(staged)
        from ..rendering.formats import embed_images
        plots = sorted(staged.glob("*.png"))
        for ex in examples:  # one self-contained page each, plots inside
            (staged / f"{ex.name}.html").write_text(embed_images(ex.render("html"), plots), encoding="utf-8")
        for ex in pending:
            (staged / f"{ex.name}.pdf").write_bytes(
                compile_pdf(ex.render("latex"), resources=sorted(staged.glob("*.png"))))
        (staged / "README.md").write_text(_index(examples, pdf), encoding="utf-8")
        # Everything rendered: only now touch the destination, one atomic rename per file.
        for path in sorted(staged.iterdir()):
            os.replace(path, out / path.name)
            written.append(out / path.name)
    return written


__all__ = ["EXAMPLES", "DemoExample", "write_demo", "shutil"]
