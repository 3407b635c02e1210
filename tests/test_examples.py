"""The twelve course exercises under examples/: each spec renders to text, Markdown (pandoc parses
it) and PDF (pdflatex, no overfull box wider than 2 pt), and every gradient it derives matches
PyTorch float64 twice: the same equations evaluated by torch autograd, and an independent program
written with PyTorch's own layers and losses (conv1d, batch_norm, max_pool1d, cross_entropy …)."""
import re
import subprocess
from pathlib import Path

import pytest
import torch
import torch.nn.functional as Fn

from derive.core.approx import approx
from derive.model.spec import example_from_spec, load_spec
from tests.reference import torch_gradients

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OVERFULL_LIMIT_PT = 2.0


def t(v, grad=False):
    return torch.tensor(float(v), dtype=torch.float64, requires_grad=grad)


# Each program gets every input as a float64 tensor (requires_grad) and returns the loss, written
# the way a PyTorch user would, not from derive's equations.

def l2_neuron(v):
    w = torch.stack([v["w1"], v["w2"]])
    a = torch.sigmoid(w @ torch.stack([v["x1"], v["x2"]]) + v["b"])
    return 0.5 * Fn.mse_loss(a, v["y"], reduction="sum") + v["lambda"] / 2 * (w ** 2).sum()


def batch_mean(v):
    x = torch.stack([v["x1"], v["x2"], v["x3"]])
    y = torch.stack([v["y1"], v["y2"], v["y3"]])
    return Fn.mse_loss(v["w"] * x + v["b"], y)


def batchnorm(v):
    x = torch.stack([v["x1"], v["x2"], v["x3"]]).reshape(3, 1)
    out = Fn.batch_norm(x, None, None, weight=v["gamma"].reshape(1), bias=v["beta"].reshape(1),
                        training=True, eps=float(v["eps"]))
    return (out.reshape(3) * torch.stack([v["g1"], v["g2"], v["g3"]])).sum()


def rnn(v):
    cell = torch.nn.RNNCell(1, 1, nonlinearity="tanh", dtype=torch.float64)
    h = v["h0"].reshape(1, 1)
    weights = {"weight_ih": v["U"].reshape(1, 1), "weight_hh": v["V"].reshape(1, 1),
               "bias_ih": v["b"].reshape(1), "bias_hh": torch.zeros(1, dtype=torch.float64)}
    for x in ("x1", "x2", "x3"):
        h = torch.func.functional_call(cell, weights, (v[x].reshape(1, 1), h))
    return 0.5 * (v["W"] * h.reshape(()) + v["c"] - v["y"]) ** 2


def conv1d(v):
    x = torch.stack([v[f"x{i}"] for i in range(1, 5)]).reshape(1, 1, 4)
    k = torch.stack([v["k1"], v["k2"]]).reshape(1, 1, 2)
    out = torch.relu(Fn.conv1d(x, k, v["b"].reshape(1))).reshape(3)
    return 0.5 * Fn.mse_loss(out, torch.stack([v["y1"], v["y2"], v["y3"]]), reduction="sum")


def maxpool(v):
    z = torch.stack([v["w"] * v[f"x{i}"] + v["b"] for i in range(1, 5)]).reshape(1, 1, 4)
    m = Fn.max_pool1d(z, 4).reshape(())  # routes a tie to one unit: same dL/dw, dL/db here
    return 0.5 * (m - v["y"]) ** 2


def dropout(v):
    h = torch.relu(torch.stack([v["w1"], v["w2"], v["w3"]]) * v["x"])
    mask = torch.stack([v["mask1"], v["mask2"], v["mask3"]])
    o = torch.stack([v["v1"], v["v2"], v["v3"]]) @ (h * mask / (1 - v["p"]))
    return 0.5 * (o - v["y"]) ** 2


def huber(v):
    return Fn.huber_loss(v["w"] * v["x"] + v["b"], v["y"], delta=float(v["delta"]))


def hinge(v):
    s = v["w1"] * v["x1"] + v["w2"] * v["x2"] + v["b"]
    return Fn.hinge_embedding_loss((v["y"] * s).reshape(1), torch.tensor([-1.0], dtype=torch.float64))


def gelu(v):
    return (Fn.gelu(v["w"] * v["x"] + v["b"]) - v["y"]) ** 2


def sigmoid_bce(v):
    z = v["w1"] * v["x1"] + v["w2"] * v["x2"] + v["b"]
    return Fn.binary_cross_entropy_with_logits(z, v["y"])


def softmax(v):
    z = torch.stack([v[f"w{i}"] * v["x"] + v[f"b{i}"] for i in (1, 2, 3)])
    target = torch.stack([v["y1"], v["y2"], v["y3"]]).argmax()
    return Fn.cross_entropy(z.reshape(1, 3), target.reshape(1))


PROGRAMS = {
    "l2-regularised-neuron": l2_neuron, "batch-mean-loss": batch_mean,
    "batchnorm-three-scalars": batchnorm, "rnn-tanh-three-steps": rnn, "conv1d-relu": conv1d,
    "maxpool-tie": maxpool, "dropout-fixed-mask": dropout, "huber-regression": huber,
    "hinge-classifier": hinge, "gelu-neuron": gelu, "sigmoid-bce": sigmoid_bce,
    "softmax-three-classes": softmax,
}


def example(name):
    return example_from_spec(load_spec(EXAMPLES / f"{name}.yaml"))


def test_the_twelve_exercises_are_all_here():
    specs = {p.stem for p in EXAMPLES.glob("*.yaml") if not p.stem.startswith("relu-homework")}
    assert specs == set(PROGRAMS)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_gradient_matches_pytorch_float64(name):
    ex = example(name)
    v = {n: t(approx(ex.evaluation.values[n]), grad=True) for n in ex.inputs}
    loss = PROGRAMS[name](v)
    value = float(loss.detach())
    assert abs(value - float(approx(ex.evaluation.values[ex.output]))) <= 1e-12 * max(1, abs(value))
    loss.backward()
    _, same_equations = torch_gradients(ex)
    for p in ex.params:
        exact = float(approx(ex.evaluation.grad(p, ex.output)))
        independent = float(v[p].grad) if v[p].grad is not None else 0.0
        assert abs(exact - independent) <= 1e-12 * max(1, abs(exact)), (p, exact, independent)
        assert abs(exact - same_equations[p]) <= 1e-12 * max(1, abs(exact)), (p, exact, same_equations[p])
    asked = [k.split("/d", 1)[1] for k in ex.meta.get("ask", []) if k.startswith("dL/d")]
    for n in asked:  # the data gradients an exercise asks for (BatchNorm's dL/dx1)
        exact = float(approx(ex.evaluation.grad(n, ex.output)))
        assert abs(exact - float(v[n].grad)) <= 1e-12 * max(1, abs(exact)), (n, exact, float(v[n].grad))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_renders_to_text_markdown_and_pdf(name, tmp_path, pdflatex, pandoc):
    ex = example(name)
    text = ex.to_text()
    assert ex.title in text and f"∂{ex.output}/∂" in text
    md = ex.to_markdown()
    parsed = subprocess.run([pandoc, "-f", "markdown", "-t", "json"], input=md, capture_output=True,
                            text=True)
    assert parsed.returncode == 0 and '"Math"' in parsed.stdout
    (tmp_path / f"{name}.tex").write_text(ex.to_latex(), encoding="utf-8")
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                         cwd=tmp_path, capture_output=True, text=True, errors="replace")
    assert run.returncode == 0, [line for line in run.stdout.splitlines() if line.startswith("!")][:3]
    log = (tmp_path / f"{name}.log").read_text(errors="replace")
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w <= OVERFULL_LIMIT_PT for w in widths), (name, widths)
