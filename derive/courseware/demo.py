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

from ..core.errors import DeriveError, OutputExists

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
    from ..initialization.variance import simulate_variance, simulation_section, variance_derivation
    handout = variance_derivation("relu")
    sim = simulate_variance(depth=50, width=256, activation="relu", schemes=["normal", "small", "xavier", "he"],
                            seed=0, batch=1024)
    handout.content.sections.append(simulation_section(sim, "he-initialization-plot.png"))
    deep = simulate_variance(depth=100, width=256, activation="relu", schemes=["normal", "he"], seed=0, batch=256)
    handout.content.sections.append(simulation_section(deep, "he-initialization-100-layers.png"))
    return handout.render(fmt)


def _he_plots(folder: Path):
    from ..initialization.variance import simulate_variance
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


SOFTMAX_BATCH = dict(inputs=[[1, 2], [0, 1], [0.5, -1], [2, 0.5]],
                     weights=[[[1, -1], [0, 1], [0.5, 0.25]], [[1, 0.5, -1], [0.2, 0.3, 0.1], [-0.5, 0, 1]]],
                     biases=[[0, 0, 0.1], [0.5, 0, -0.25]], targets=[0, 2, 1, 1])


def _softmax_batch(fmt):
    from ..model.builders import mlp
    return mlp(**SOFTMAX_BATCH, activation=["relu", "softmax"], loss="cross_entropy", lr="0.5",
               focus="w1_2_1").render(fmt)


def _batchnorm(fmt):
    from ..model.example import render as r
    from ..model.layers import batchnorm
    return r(batchnorm([1, 2, 4], gamma=2, beta="0.5", upstream=[1, -2, "0.5"]), fmt)


def _rnn(fmt):
    from ..model.example import render as r
    from ..model.layers import rnn
    return r(rnn([1, "0.5", -1], h0=1, w_xh=1, w_hh=3, w_hy=1, y=0, activation="relu"), fmt)


def _remedies(fmt):
    from .remedies import remedies
    return remedies().render(fmt)


@functools.lru_cache(maxsize=None)
def _training(name: str):
    """The demo's training runs (each computed once for all formats)."""
    from ..model.builders import chain, neuron
    from ..training.run import TrainingComparison
    conversation = dict(x=2, w=3, b=1, y=5, loss="squared_error")
    if name == "relu-vs-sigmoid":
        runs = {a: neuron(activation=a, **conversation).train(20, lr="0.1") for a in ["relu", "sigmoid"]}
        return TrainingComparison(
            "Training one neuron: ReLU vs sigmoid, 20 steps", runs,
            "The same neuron (x = 2, w = 3, b = 1, y = 5, squared error), trained by gradient descent "
            "with learning rate 0.1, once with ReLU and once with a sigmoid.")
    if name == "dying-relu":
        return neuron(activation="relu", **conversation).train(6, lr="0.25")
    runs = {"without clipping": chain(depth=3, weight=5, x=1, activation="relu", loss="half_squared_error",
                                      y=0).train(20, lr="0.01"),
            "clipped to norm 5": chain(depth=3, weight=5, x=1, activation="relu", loss="half_squared_error",
                                       y=0).train(20, lr="0.01", clip_norm=5)}
    return TrainingComparison("The exploding 3-layer ReLU chain, trained with and without gradient clipping",
                              runs, "A 3-layer ReLU chain (every weight 5, x = 1, y = 0, ½(a − y)²): "
                              "every gradient is 3125 at the start. Gradient descent with learning rate "
                              "0.01, once as it is and once with the gradient norm clipped to 5.")


def _training_doc(name: str):
    def render(fmt):
        # 7 digits: the sigmoid's crawl (16.00728 → 16.00678) is invisible at the usual 4
        return _training(name).render(fmt, precision=7 if name == "relu-vs-sigmoid" else 4,
                                      figure=f"training-{name}.png")
    return render


def _training_plot(name: str):
    def extra(folder: Path):
        _training(name).plot(folder / f"training-{name}.png")
    return extra


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
    DemoExample("training-relu-vs-sigmoid", "The conversation's neuron trained for 20 steps (SGD, "
                "η = 0.1) with ReLU and with a sigmoid: ReLU fits in one step (loss 4 → 0), the "
                "saturated sigmoid crawls (loss ≈ 16.01 → 15.99): the vanishing gradient over time",
                _training_doc("relu-vs-sigmoid"), _training_plot("relu-vs-sigmoid")),
    DemoExample("training-dying-relu", "The ReLU neuron with too large a learning rate (η = 0.25): "
                "the loss grows 4 → 9 → 20.25, then z < 0 and the unit is dead for good (loss 25, "
                "every gradient 0); step 1 derived in full, a table per step, the loss curve",
                _training_doc("dying-relu"), _training_plot("dying-relu")),
    DemoExample("training-exploding-chain", "The exploding 3-layer ReLU chain trained with and "
                "without clipping (η = 0.01): unclipped, one step of 31.25 kills every unit; clipped "
                "to norm 5, the weights shrink steadily", _training_doc("exploding-chain"),
                _training_plot("exploding-chain")),
    DemoExample("neuron-relu-symbolic", "The ReLU neuron without numbers: "
                "dL/dw = 2(a − y) · 𝟙[z > 0] · x", _symbolic),
    DemoExample("softmax-classifier-batch", "A 2-3-3 ReLU + softmax classifier on a mini-batch of "
                "4, in matrix form: shapes, δ = (p − y)/4, ∂L/∂W = δ aᵀ, the ReLU mask, the bias "
                "gradient summed over the batch, one weight zoomed in", _softmax_batch),
    DemoExample("batchnorm-backward", "Batch normalisation's backward pass over a batch of 3, path "
                "by path, and CS231n's simplified formula shown equal", _batchnorm),
    DemoExample("rnn-exploding-w_hh", "A 3-step recurrent net: the shared w_hh's gradient is a sum "
                "over time, each step back multiplies by w_hh · f' = 3 — exploding gradients", _rnn),
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
        raise OutputExists(f"{out}/ exists and is not empty; pass --force to regenerate its examples")
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
