"""Training over several steps: exact values, PyTorch's optimizers to 1e-10, observations computed
from the run, documents that compile and parse, plots, the CLI."""
import json
import re
import subprocess

import pytest
import sympy as sp

import derive
from derive import DeriveError
from derive.core.approx import approx
from derive.core.engine import Quantity

NET = dict(inputs=[0.05, 0.10], weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
           biases=[[0.35, 0.35], [0.60, 0.60]], targets=[0.01, 0.99], activation="sigmoid",
           loss="half_squared_error")
CONVERSATION = dict(x=2, w=3, b=1, y=5, loss="squared_error")


def test_the_conversations_neuron_two_steps_exact():
    tr = derive.neuron(activation="relu", **CONVERSATION).train(2, optimizer="sgd", lr=0.1)
    assert tr.loss == [4, 0, 0]
    assert tr.value("w", 1) == sp.Rational(11, 5) and tr.value("b", 1) == sp.Rational(3, 5)
    assert tr.value("w", 2) == sp.Rational(11, 5)  # L = 0: gradient 0, nothing moves
    assert tr.grad("w", 0) == 8 and tr.grad("b", 0) == 4 and tr.grad("w", 1) == 0
    assert tr.value("z", 1) == 5 and tr.grad("a", 0) == 4  # nodes too
    assert tr.state("w", 1) == {}


# --- PyTorch float64 on Mazur's 2-2-2 network ----------------------------------------------


def _torch_network(optimizer, steps, lr, clip_norm=None, clip_value=None, **kwargs):
    import torch
    t = lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True)  # noqa: E731
    W1, b1, W2, b2 = t(NET["weights"][0]), t(NET["biases"][0]), t(NET["weights"][1]), t(NET["biases"][1])
    x = torch.tensor(NET["inputs"], dtype=torch.float64)
    y = torch.tensor(NET["targets"], dtype=torch.float64)
    names = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    if isinstance(lr, dict):  # one parameter group per learning rate: row j of W_l with b_l[j]
        raise AssertionError("use _torch_groups for per-parameter rates")
    opt = optimizer([W1, b1, W2, b2], lr=lr, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        a1 = torch.sigmoid(W1 @ x + b1)
        a2 = torch.sigmoid(W2 @ a1 + b2)
        (0.5 * ((a2 - y) ** 2).sum()).backward()
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(list(names.values()), clip_value)
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(list(names.values()), clip_norm)
        opt.step()
    return _named(W1, b1, W2, b2)


def _named(W1, b1, W2, b2):
    out = {}
    for layer, (W, b) in enumerate(((W1, b1), (W2, b2)), start=1):
        for j in range(2):
            for i in range(2):
                out[f"w{layer}_{j + 1}_{i + 1}"] = W[j, i].item()
            out[f"b{layer}_{j + 1}"] = b[j].item()
    return out


def _assert_matches(tr, reference, tol=1e-10):
    assert set(reference) == set(tr.params)
    for name, expected in reference.items():
        got = float(approx(tr.records[-1].evaluation.values[name]))
        assert abs(got - expected) <= tol, (name, got, expected)


CASES = {  # name: (derive options, torch class name, torch options)
    "sgd": ({}, "SGD", {}),
    "momentum": ({"momentum": 0.8}, "SGD", {"momentum": 0.8}),
    "nesterov": ({}, "SGD", {"momentum": 0.9, "nesterov": True}),
    "rmsprop": ({}, "RMSprop", {}),
    "rmsprop+momentum+decay": ({"momentum": 0.5, "alpha": 0.9, "weight_decay": 0.01}, "RMSprop",
                               {"momentum": 0.5, "alpha": 0.9, "weight_decay": 0.01}),
    "adam": ({}, "Adam", {}),
    "adam+decay": ({"weight_decay": 0.1, "betas": (0.8, 0.99)}, "Adam",
                   {"weight_decay": 0.1, "betas": (0.8, 0.99)}),
    "adamw": ({"weight_decay": 0.1}, "AdamW", {"weight_decay": 0.1}),
    "adagrad": ({"eps": 1e-10}, "Adagrad", {"eps": 1e-10}),
    "sgd+decay": ({"weight_decay": 0.05, "momentum": 0.9}, "SGD", {"weight_decay": 0.05, "momentum": 0.9}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_optimizer_matches_torch_on_the_2_2_2_network(case):
    import torch
    options, torch_name, torch_options = CASES[case]
    name = case.split("+")[0]
    tr = derive.mlp(**NET).train(10, optimizer=name, lr=0.5, **options)
    _assert_matches(tr, _torch_network(getattr(torch.optim, torch_name), 10, 0.5, **torch_options))


@pytest.mark.parametrize("name,torch_name", [("adam", "Adam"), ("momentum", "SGD"), ("rmsprop", "RMSprop"),
                                             ("adagrad", "Adagrad"), ("adamw", "AdamW")])
def test_per_parameter_learning_rates_match_torch_param_groups(name, torch_name):
    import torch
    rates = {}
    for layer in (1, 2):
        for j in (1, 2):
            rate = {1: 0.3, 2: 0.7}[layer] * j
            rates.update({f"w{layer}_{j}_1": rate, f"w{layer}_{j}_2": rate, f"b{layer}_{j}": rate})
    extra = {"momentum": 0.9} if name == "momentum" else {"eps": 1e-10} if name == "adagrad" else {}
    decay = {"weight_decay": 0.05}
    tr = derive.mlp(**NET).train(10, optimizer=name, lr=rates, **extra, **decay)
    # PyTorch: one scalar tensor per parameter, each in its own group with its own lr.
    scalars = {p: torch.tensor(float(approx(tr.records[0].evaluation.values[p])), dtype=torch.float64,
                               requires_grad=True) for p in tr.params}
    opt = getattr(torch.optim, torch_name)([{"params": [scalars[p]], "lr": rates[p]} for p in tr.params],
                                           **extra, **decay)
    x = torch.tensor(NET["inputs"], dtype=torch.float64)
    y = torch.tensor(NET["targets"], dtype=torch.float64)
    for _ in range(10):
        opt.zero_grad()
        a = x
        for layer in (1, 2):
            a = torch.stack([torch.sigmoid(scalars[f"w{layer}_{j}_1"] * a[0] + scalars[f"w{layer}_{j}_2"] * a[1]
                                           + scalars[f"b{layer}_{j}"]) for j in (1, 2)])
        (0.5 * ((a - y) ** 2).sum()).backward()
        opt.step()
    _assert_matches(tr, {p: s.item() for p, s in scalars.items()})


def test_clipping_matches_torch():
    import torch
    by_value = derive.mlp(**NET).train(10, optimizer="sgd", lr=0.5, clip_value=0.05)
    _assert_matches(by_value, _torch_network(torch.optim.SGD, 10, 0.5, clip_value=0.05))
    # torch adds 1e-6 to the norm before dividing; derive scales by exactly c/‖g‖.
    by_norm = derive.mlp(**NET).train(10, optimizer="adam", lr=0.1, clip_norm=0.01)
    _assert_matches(by_norm, _torch_network(torch.optim.Adam, 10, 0.1, clip_norm=0.01), tol=1e-6)
    assert all(r.clipped for r in by_norm.records[:-1])


def test_other_graphs_match_torch():
    """Not only the 2-2-2 network: a leaky-ReLU/tanh graph with fan-out, negative values, Adam."""
    import torch
    text = "z = w*x + b\nh = leaky_relu(z, 0.1)\nq = tanh(v*h + w)\nL = (q - y)**2 + c*w*w"
    values = {"x": -1.5, "w": 0.7, "b": -0.2, "v": -2, "y": 0.25, "c": 0.1}
    ex = derive.Example.from_equations(text, values=values, params=["w", "b", "v"])
    tr = ex.train(8, optimizer="adam", lr=0.05, betas=(0.5, 0.9))
    p = {k: torch.tensor(float(values[k]), dtype=torch.float64, requires_grad=True) for k in ("w", "b", "v")}
    opt = torch.optim.Adam(list(p.values()), lr=0.05, betas=(0.5, 0.9))
    for _ in range(8):
        opt.zero_grad()
        h = torch.nn.functional.leaky_relu(p["w"] * -1.5 + p["b"], 0.1)
        q = torch.tanh(p["v"] * h + p["w"])
        ((q - 0.25) ** 2 + 0.1 * p["w"] * p["w"]).backward()
        opt.step()
    _assert_matches(tr, {k: t.item() for k, t in p.items()})


# --- exact but fast --------------------------------------------------------------------------


def _depth(q) -> int:
    """How many Quantity levels a value's definition reaches into (without expanding)."""
    return len(q.definition.atoms(Quantity)) if isinstance(q, Quantity) else 0


def test_rational_runs_stay_rational_and_irrational_ones_stay_shallow():
    relu = derive.neuron(activation="relu", x=2, w=-1, b=7, y="0.5").train(6, optimizer="momentum", lr="0.01")
    for r in relu.records:
        assert all(v.is_Rational for v in r.evaluation.values.values())
        assert all(v.is_Rational for s in r.state.values() for v in s.values())
    sig = derive.neuron(activation="sigmoid", **CONVERSATION).train(30, optimizer="adam", lr=0.1)
    last, first = sig.records[-1].evaluation.values["w"], sig.records[3].evaluation.values["w"]
    assert isinstance(last, Quantity) and _depth(last) <= 6 and _depth(last) == _depth(first)
    # Still exact: the explicit form of step 2 agrees with the atoms to 50 digits.
    w2 = sig.records[2].evaluation.values["w"]
    from derive.core.engine import expand_quantities
    assert abs(sp.N(expand_quantities(w2), 60) - sp.Float(approx(w2), 60)) < sp.Float(10) ** -50


def test_adam_state_and_bias_correction_at_step_1():
    tr = derive.neuron(activation="sigmoid", **CONVERSATION).train(2, optimizer="adam", lr=0.1)
    g = tr.grad("w", 0)
    state = tr.state("w", 1)
    assert sp.simplify(state["m"] - g / 10) == 0 and sp.simplify(state["v"] - g ** 2 / 1000) == 0
    assert tr.state("w", 0) == {"m": 0, "v": 0}
    # At t = 1 Adam moves by η·sign(g)·|g|/(|g| + ε): almost exactly η.
    assert abs(approx(tr.value("w", 1)) - 3 - sp.Rational(1, 10)) < 1e-6


def test_huge_rationals_become_exact_atoms():
    ex = derive.Example.from_equations("L = (w*w*x - 1)**2", values={"w": "0.5", "x": 3}, params=["w"])
    tr = ex.train(12, lr="0.01")
    assert isinstance(tr.records[-1].evaluation.values["w"], Quantity)  # digits would double each step
    assert tr.records[2].evaluation.values["w"].is_Rational


def test_bad_options_are_refused_by_name():
    ex = derive.neuron(activation="relu", **CONVERSATION)
    for kwargs, needle in [({"optimizer": "sgdx"}, "unknown optimizer"), ({"lr": {"q": 1}}, "'q'"),
                           ({"lr": {"w": 0.1}}, "no learning rate for b"), ({"lr": -1}, "lr must be positive"),
                           ({"betas": (0.9,)}, "betas"), ({"momentum": 1.5}, "momentum"),
                           ({"optimizer": "adam", "momentum": 0.9}, "momentum applies"),
                           ({"optimizer": "adam", "nesterov": True}, "nesterov")]:
        with pytest.raises(DeriveError, match=re.escape(needle)):
            ex.train(2, **kwargs)
    with pytest.raises(DeriveError, match="steps"):
        ex.train(-1)
    tr = ex.train(2, lr=0.1)
    with pytest.raises(DeriveError, match="step must be"):
        tr.value("w", 3)
    with pytest.raises(DeriveError, match="unknown name"):
        tr.grad("nope", 0)
    with pytest.raises(DeriveError, match="symbolic"):
        derive.neuron(activation="relu").train(1)


def test_default_learning_rate_is_the_examples_then_torchs():
    assert derive.neuron(activation="relu", lr=0.1, **CONVERSATION).train(1).loss == [4, 0]
    tr = derive.neuron(activation="relu", **CONVERSATION).train(1, optimizer="adam")
    assert tr.hyper.lr["w"] == sp.Rational(1, 1000)


# --- observations ---------------------------------------------------------------------------


def test_dying_relu_diverges_then_dies():
    tr = derive.neuron(activation="relu", **CONVERSATION).train(6, lr=0.25)
    assert tr.loss[:4] == [4, 9, sp.Rational(81, 4), 25] and tr.loss[-1] == 25
    text = " ".join(tr.to_text().split())
    assert "a = ReLU(z) is dead from step 3 on: z = −1.75 ≤ 0 there" in text
    assert "The gradients of w and b are exactly 0 from step 3 on" in text
    assert "The loss diverges" in text and "η = 0.25" in text


def test_saturated_sigmoid_crawls():
    tr = derive.neuron(activation="sigmoid", **CONVERSATION).train(20, lr=0.1)
    text = " ".join(tr.to_text().split())
    assert "a = σ(z) is saturated at every step: its derivative is at most 0.0009" in text
    assert "the loss crawls: 16.0073 at step 0, 16.0068 at step 20" in text  # digits enough to differ
    assert "dead" not in text.split("What the run shows")[1]


def test_clipping_engages_with_the_norm_quoted():
    chain = derive.chain(depth=3, weight=5, x=1, activation="relu", loss="half_squared_error", y=0)
    tr = chain.train(3, lr=0.01, clip_norm=5)
    assert tr.gradient_norm(0) == 3125 * sp.sqrt(3)
    assert "step 1: ‖g‖ ≈ 5413 clipped to 5" in " ".join(tr.to_text().split())
    one = derive.Example.from_equations("L = w**5/5", values={"w": 5}, params=["w"]).train(1, lr=0.001, clip_norm=5)
    assert one.gradient_norm(0) == 625 and one.value("w", 1) == 5 - sp.Rational(5, 1000)
    assert "step 1: ‖g‖ = 625 clipped to 5" in " ".join(one.to_text().split())
    unclipped = " ".join(chain.train(3, lr=0.01).to_text().split())
    assert "The units a1, a2 and a3 (ReLU) are dead from step 1 on" in unclipped
    assert "The gradients of w1, w2 and w3 are exactly 0 from step 1 on" in unclipped
    assert "not because the network learned" in unclipped


def test_no_false_alarms_on_a_healthy_run():
    tr = derive.mlp(**NET).train(5, optimizer="sgd", lr=0.5)
    obs = tr.to_text().split("What the run shows")[1]
    assert "dead" not in obs and "diverges" not in obs and "falls from" in obs


def _shows(eq, values, steps, **kw):
    tr = derive.Example.from_equations(eq, values=values, params=list(values)).train(steps, **kw)
    return tr, " ".join(tr.to_text().split("What the run shows")[1].split())


def test_the_loss_trend_is_told_step_by_step_not_first_against_last():
    tr, text = _shows("L = (w - 3)**2", {"w": 0}, 3, lr=0.1)  # factor (1 - 2η)² = 0.64 per step
    assert tr.loss == [9, sp.Rational(144, 25), sp.Rational(2304, 625), sp.Rational(36864, 15625)]
    assert "The loss falls from 9 to 2.359296 in 3 steps, lower at every step." in text
    tr, text = _shows("L = (v + 1)**2", {"v": "-1.1"}, 3, lr=1.05)  # factor 1.21: rises, not 2×
    assert [float(l) for l in tr.loss] == pytest.approx([0.01, 0.0121, 0.014641, 0.01771561])
    assert "The loss rises from 0.01 to 0.01771561 in 3 steps" in text and "falls" not in text
    assert "diverges" not in text
    tr, text = _shows("L = (w - 3)**2", {"w": 0}, 4, lr=2, optimizer="adam")  # overshoots after step 2
    low = min(tr.loss, key=float)
    assert tr.loss.index(low) == 2 and float(tr.loss[3]) > float(low) and float(tr.loss[4]) > float(tr.loss[3])
    assert ("The loss falls from 9 to 0.5508 at step 2, then rises to 3.763 at step 4 (still below "
            "the start): after step 2 the updates overshoot the minimum.") in text
    tr, text = _shows("L = b**2 + 1", {"b": 0}, 2, lr=0.1)
    assert tr.loss == [1, 1, 1] and "The loss stays at 1 for all 2 steps" in text


# --- documents, plots, display --------------------------------------------------------------


def test_document_has_every_part():
    tr = derive.mlp(**NET).train(3, optimizer="adam", lr=0.1)
    md = tr.to_markdown(figure="loss.png")
    for part in ("## The training run", "## Forward pass", "## The update rule: Adam", "\\hat{m}_{1}",
                 "{1 - 0.9}", "## The loss at every step", "Update 3 (loss", "![", "(loss.png)",
                 "## What the run shows"):
        assert part in md, part
    assert tr.to_markdown(figure="loss.png") == md  # same input, same bytes
    assert "loss.png" not in tr.to_markdown()


def _compile(tex, tmp_path, pdflatex, name="doc", resources=()):
    import shutil
    for r in resources:
        shutil.copy(r, tmp_path)
    (tmp_path / f"{name}.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                         cwd=tmp_path, capture_output=True, text=True, errors="replace")
    assert run.returncode == 0, [l for l in run.stdout.splitlines() if l.startswith("!")][:3]
    overfull = [float(m) for m in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide", run.stdout)]
    assert all(o <= 2 for o in overfull), overfull


def test_documents_compile_and_parse(tmp_path, pdflatex, pandoc):
    from derive.training.run import TrainingComparison
    runs = {
        "adam-per-lr": derive.mlp(**NET).train(3, optimizer="adam", lr={p: 0.1 for p in derive.mlp(**NET).params},
                                                weight_decay=0.01, clip_norm=0.05),
        "rmsprop": derive.neuron(activation="tanh", x=-1, w="0.5", b=2, y=0).train(4, optimizer="rmsprop",
                                                                                  momentum=0.5, lr=0.01),
        "nesterov": derive.neuron(activation="relu", **CONVERSATION).train(12, optimizer="nesterov", lr=0.01),
        "adamw": derive.neuron(activation="sigmoid", **CONVERSATION).train(2, optimizer="adamw", weight_decay=0.1),
        "adagrad": derive.chain(depth=3, weight=5, x=1).train(3, optimizer="adagrad", lr=0.1, clip_value=100),
    }
    runs["adam-per-lr"].plot(tmp_path / "loss.png")
    comparison = TrainingComparison("ReLU vs sigmoid", {a: derive.neuron(activation=a, **CONVERSATION).train(3, lr=0.1)
                                                        for a in ("relu", "sigmoid")})
    docs = {name: (tr.to_latex(figure="loss.png"), tr.to_markdown(figure="loss.png")) for name, tr in runs.items()}
    docs["comparison"] = (comparison.to_latex(figure="loss.png"), comparison.to_markdown(figure="loss.png"))
    for name, (tex, md) in docs.items():
        _compile(tex, tmp_path, pdflatex, name)
        parsed = subprocess.run([pandoc, "-f", "markdown", "-t", "json"], input=md, capture_output=True,
                                text=True, check=True)
        found = {}
        _walk(json.loads(parsed.stdout), found)
        assert found.get("Math"), name
        strays = [s for s in found.get("Str", []) if "$" in s or "\\frac" in s or "\\hat" in s]
        assert not strays, (name, strays[:3])


def _walk(node, found):
    if isinstance(node, dict):
        if node.get("t") in ("Math", "Str"):
            found.setdefault(node["t"], []).append(node.get("c"))
        for v in node.values():
            _walk(v, found)
    elif isinstance(node, list):
        for v in node:
            _walk(v, found)


def test_plot_is_an_agg_figure_and_deterministic(tmp_path):
    import matplotlib
    backend = matplotlib.get_backend()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    tr = derive.neuron(activation="sigmoid", **CONVERSATION).train(5, lr=0.1)
    figure = tr.plot(tmp_path / "a.png")
    assert isinstance(figure.canvas, FigureCanvasAgg) and len(figure.axes) == 2
    assert list(figure.axes[0].lines[0].get_ydata()) == [float(approx(v)) for v in tr.loss]
    tr.plot(tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.get_backend() == backend
    many = derive.mlp(**NET).train(2, lr=0.5).plot()
    assert "gradient norm" in many.axes[1].get_title()
    with pytest.raises(DeriveError, match="png"):
        tr.plot(tmp_path / "x.gif")


def test_jupyter_display():
    tr = derive.neuron(activation="relu", **CONVERSATION).train(1, lr=0.1)
    assert tr._repr_markdown_().startswith("# ") and "<derive.Training sgd, 1 steps: L 4 → 0>" == repr(tr)
    from derive.rendering.formats import FORMATS
    assert (tr._repr_html_() is None) == ("html" not in FORMATS)


# --- command line and spec ------------------------------------------------------------------


SPEC = """title: One sigmoid neuron
equations: |
  z = w*x + b
  a = sigmoid(z)
  L = (a - y)**2
values: {x: 2, w: 3, b: 1, y: 5}
lr: {w: 0.1, b: 0.01}
train: {steps: 3, optimizer: momentum}
"""


def _derive(*args, cwd):
    import sys
    return subprocess.run([sys.executable, "-m", "derive.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_cli_train(tmp_path):
    (tmp_path / "n.yaml").write_text(SPEC, encoding="utf-8")
    run = _derive("train", "n.yaml", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "3 steps of SGD with momentum" in run.stdout and "momentum μ" in run.stdout
    assert "Each parameter has its own learning rate" in run.stdout
    run = _derive("train", "n.yaml", "--steps", "2", "--optimizer", "adam", "--lr", "w=0.2,b=0.1",
                  "--format", "md", "-o", "run.md", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    md = (tmp_path / "run.md").read_text()
    assert "2 steps of Adam" in md and "(run.png)" in md and (tmp_path / "run.png").exists()
    for args, needle in [(["--optimizer", "nope"], "unknown optimizer"), (["--lr", "w=1,q=2"], "'q'"),
                         (["--betas", "0.9"], "two numbers"), (["--format", "pytorch"], "pytorch")]:
        bad = _derive("train", "n.yaml", *args, cwd=tmp_path)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and needle in bad.stderr, bad.stderr
    (tmp_path / "bad.yaml").write_text(SPEC.replace("optimizer: momentum", "optimiser: momentum"))
    bad = _derive("train", "bad.yaml", cwd=tmp_path)
    assert bad.returncode == 2 and "optimiser" in bad.stderr
    (tmp_path / "nosteps.yaml").write_text(SPEC.replace("steps: 3, ", ""))
    bad = _derive("train", "nosteps.yaml", cwd=tmp_path)
    assert bad.returncode == 2 and "--steps" in bad.stderr


def test_cli_train_pdf_and_mlp_spec(tmp_path, pdflatex):
    (tmp_path / "net.yaml").write_text(json.dumps({**NET, "train": {"steps": 2, "optimizer": "adam", "lr": 0.1}}))
    run = _derive("train", "net.yaml", "--format", "pdf", "-o", "net.pdf", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "net.pdf").read_bytes()[:4] == b"%PDF" and not (tmp_path / "net.png").exists()
    run = _derive("train", "net.yaml", "--format", "pdf", "-o", "net2.pdf", "--plot", "curve.pdf", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "curve.pdf").read_bytes()[:4] == b"%PDF"
    run = _derive("train", "net.yaml", "--format", "md", "-o", "net.md", "--plot", "curve.svg", cwd=tmp_path)
    assert run.returncode == 0 and "(curve.svg)" in (tmp_path / "net.md").read_text()
    assert (tmp_path / "curve.svg").read_text().startswith("<?xml")
    bad = _derive("train", "net.yaml", "--format", "pdf", "-o", "net3.pdf", "--plot", "c.svg", cwd=tmp_path)
    assert bad.returncode == 2 and "SVG" in bad.stderr


def _step_rows(text: str) -> dict:
    """{(update, parameter): [at step k − 1, gradient, (v,) at step k]} read off the printed
    step tables, each number as printed."""
    out, k = {}, None
    for line in text[text.index("Step by step"):].splitlines():
        m = re.match(r"Update (\d+) ", line)
        if m:
            k = int(m.group(1))
            continue
        cells = [c.replace("≈", "").strip() for c in re.split(r"   +", line.strip())]
        if k and len(cells) >= 4 and re.fullmatch(r"−?[\d.]+", cells[1]):
            out[(k, cells[0])] = cells[1:]
    return out


@pytest.mark.parametrize("optimizer, act, x, w, b, y, lr", [
    ("momentum", "tanh", 1.5, -0.8, 0.3, 0.5, 0.1),
    ("momentum", "sigmoid", -2, 0.7, -0.1, 1, 0.5),
    ("sgd", "tanh", 1.5, -0.8, 0.3, 0.5, 0.1),
    ("sgd", "relu", 0.3, 1.2, -0.4, 2, 0.05),
])
def test_step_tables_redo_from_their_printed_numbers(optimizer, act, x, w, b, y, lr):
    """θₖ = θₖ₋₁ − η·g (− η·vₖ with vₖ = μ·vₖ₋₁ + g) from the printed cells gives the printed θₖ:
    −0.6223 − 0.1·(−3.865) is −0.2358, so that row shows −0.62233 and −3.8646 for its −0.2359."""
    from fractions import Fraction
    from tests.test_arithmetic import number, rounds_to
    tr = derive.neuron(x=x, w=w, b=b, y=y, activation=act).train(5, optimizer=optimizer, lr=lr)
    rows = _step_rows(tr.to_text())
    assert len(rows) == 10, rows
    eta, mu = Fraction(str(lr)), Fraction(9, 10)
    for (k, p), cells in rows.items():
        prev, g, new = number(cells[0]), number(cells[1]), cells[-1]
        direction = number(cells[2]) if optimizer == "momentum" else g
        assert rounds_to(prev - eta * direction, new), (k, p, cells)
        if optimizer == "momentum" and k > 1:
            assert rounds_to(mu * number(rows[(k - 1, p)][2]) + g, cells[2]), (k, p, cells, rows[(k - 1, p)])
