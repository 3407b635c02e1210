"""Training on tensor examples and the optimizer registry: every optimizer on a tensor example and on
a scalar one equals torch.optim in float64 (1e-10); the Training object, its documents and the CLI on
tensors; an optimizer added as ONE registry entry; Example.update as one sgd step of the registry."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import derive
from derive import DeriveError
from derive.core.approx import approx

ROOT = Path(__file__).resolve().parent.parent

SOFTMAX_NET = """h = relu(W1 @ x + b1)
p = softmax(W2 @ h + b2)
L = cross_entropy(p, y)"""
SOFTMAX_VALUES = {"W1": [[0.2, -0.5], [1.5, 1.3], [0.0, 0.25]], "b1": [0.1, -0.2, 0.3], "x": [1, 2],
                  "W2": [[0.3, -0.1, 0.2], [-0.4, 0.5, 0.1]], "b2": [0.05, -0.05], "y": [0, 1]}

# A second tensor graph: tanh, a batch of two columns, squared error, a bias broadcast over the batch.
BATCH_NET = """a = tanh(W @ X + b)
L = sum((a - Y) ** 2) / 2"""
BATCH_VALUES = {"W": [[0.5, -1.2], [0.3, 0.8]], "b": [0.1, -0.4], "X": [[1, -2], [0.5, 3]],
                "Y": [[0.2, -0.3], [0.6, 0.1]]}


def _torch_softmax_net(optimizer, steps, torch_kwargs, clip_norm=None, clip_value=None, lr=0.1, rates=None):
    import torch
    t = lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True)  # noqa: E731
    W1, W2 = t(SOFTMAX_VALUES["W1"]), t(SOFTMAX_VALUES["W2"])
    b1, b2 = t([[v] for v in SOFTMAX_VALUES["b1"]]), t([[v] for v in SOFTMAX_VALUES["b2"]])
    x = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    groups = [{"params": [p], "lr": (rates or {}).get(n, lr)} for n, p in params.items()]
    opt = optimizer(groups, **torch_kwargs)
    for _ in range(steps):
        opt.zero_grad()
        h = torch.relu(W1 @ x + b1)
        z = (W2 @ h + b2).reshape(1, 2)
        torch.nn.functional.cross_entropy(z, torch.tensor([1])).backward()
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(list(params.values()), clip_value)
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(list(params.values()), clip_norm)
        opt.step()
    return {n: p.detach().numpy() for n, p in params.items()}


def _assert_tensor_matches(tr, reference, tol=1e-10):
    assert set(reference) == set(tr.params)
    for name, expected in reference.items():
        got = tr.value(name, tr.steps)
        assert got.shape == expected.shape, name
        for i in range(expected.shape[0]):
            for j in range(expected.shape[1]):
                assert abs(float(approx(got[i, j])) - expected[i, j]) <= tol, (name, i, j)


def test_a_softmax_net_as_equations_trains_3_adam_steps_equal_to_torch():
    import torch
    ex = derive.Example.from_equations(SOFTMAX_NET, values=SOFTMAX_VALUES)
    tr = ex.train(3, optimizer="adam", lr=0.1)
    _assert_tensor_matches(tr, _torch_softmax_net(torch.optim.Adam, 3, {}))
    assert tr.params == ["W1", "b1", "W2", "b2"] and tr.shape("W1") == (3, 2)
    assert all(approx(b) < approx(a) for a, b in zip(tr.loss, tr.loss[1:]))


TENSOR_CASES = {  # name: (derive options, torch class, torch options)
    "sgd": ({}, "SGD", {}),
    "momentum": ({"momentum": 0.8}, "SGD", {"momentum": 0.8}),
    "nesterov": ({}, "SGD", {"momentum": 0.9, "nesterov": True}),
    "rmsprop": ({"weight_decay": 0.01}, "RMSprop", {"weight_decay": 0.01}),
    "rmsprop+momentum": ({"momentum": 0.5, "alpha": 0.9}, "RMSprop", {"momentum": 0.5, "alpha": 0.9}),
    "adam": ({"betas": (0.8, 0.99), "weight_decay": 0.05}, "Adam", {"betas": (0.8, 0.99), "weight_decay": 0.05}),
    "adamw": ({"weight_decay": 0.1}, "AdamW", {"weight_decay": 0.1}),
    "adagrad": ({}, "Adagrad", {}),
}


@pytest.mark.parametrize("case", sorted(TENSOR_CASES))
def test_every_optimizer_on_a_tensor_example_matches_torch(case):
    import torch
    options, torch_name, torch_options = TENSOR_CASES[case]
    ex = derive.Example.from_equations(SOFTMAX_NET, values=SOFTMAX_VALUES)
    tr = ex.train(3, optimizer=case.split("+")[0], lr=0.2, **options)
    _assert_tensor_matches(tr, _torch_softmax_net(getattr(torch.optim, torch_name), 3, torch_options, lr=0.2))


def test_tensor_learning_rate_per_parameter_and_clipping_match_torch():
    import torch
    ex = derive.Example.from_equations(SOFTMAX_NET, values=SOFTMAX_VALUES)
    rates = {"W1": 0.3, "b1": 0.05, "W2": 0.2, "b2": 0.1}
    tr = ex.train(3, optimizer="momentum", lr=rates, clip_value=0.1)
    _assert_tensor_matches(tr, _torch_softmax_net(torch.optim.SGD, 3, {"momentum": 0.9}, clip_value=0.1,
                                                  rates=rates))
    assert tr.records[0].clipped and tr.records[0].clipped[0][0] == "value"
    # by norm: torch adds 1e-6 to the norm before dividing; derive scales by exactly c/‖g‖
    tr = ex.train(3, optimizer="adam", lr=0.1, clip_norm=0.05)
    _assert_tensor_matches(tr, _torch_softmax_net(torch.optim.Adam, 3, {}, clip_norm=0.05), tol=1e-6)
    assert tr.records[0].clipped[0][0] == "norm"


def test_a_batch_tanh_net_with_squared_error_matches_torch():
    import torch
    ex = derive.Example.from_equations(BATCH_NET, values=BATCH_VALUES)
    tr = ex.train(4, optimizer="rmsprop", lr=0.05, momentum=0.3)
    W = torch.tensor(BATCH_VALUES["W"], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[0.1], [-0.4]], dtype=torch.float64, requires_grad=True)
    X, Y = (torch.tensor(BATCH_VALUES[k], dtype=torch.float64) for k in ("X", "Y"))
    opt = torch.optim.RMSprop([W, b], lr=0.05, momentum=0.3)
    for _ in range(4):
        opt.zero_grad()
        (((torch.tanh(W @ X + b) - Y) ** 2).sum() / 2).backward()
        opt.step()
    _assert_tensor_matches(tr, {"W": W.detach().numpy(), "b": b.detach().numpy()})


def test_the_training_object_on_tensors_gives_matrices():
    ex = derive.Example.from_equations(BATCH_NET, values=BATCH_VALUES)
    tr = ex.train(2, optimizer="adam", lr=0.1)
    assert isinstance(tr.value("W", 1), sp.MatrixBase) and tr.value("W", 0) == sp.Matrix(
        [[sp.Rational(1, 2), sp.Rational(-6, 5)], [sp.Rational(3, 10), sp.Rational(4, 5)]])
    assert tr.grad("W", 0) == ex.grad("W")  # the example's own gradient at the start
    state = tr.state("W", 1)
    assert set(state) == {"m", "v"} and state["m"].shape == (2, 2)
    for i in range(2):  # m₁ = (1 − β₁)·g₁ entry by entry
        for j in range(2):
            assert abs(approx(state["m"][i, j]) - approx(ex.grad("W")[i, j]) / 10) < 1e-15
    assert tr.state("W", 0) == {"m": sp.zeros(2, 2), "v": sp.zeros(2, 2)}
    assert tr.grad("a", 1).shape == (2, 2)  # a node's gradient at a later step
    with pytest.raises(DeriveError, match="not a parameter"):
        tr.state("X", 1)
    with pytest.raises(DeriveError, match="unknown name"):
        tr.value("nope", 1)


def test_aliased_entries_of_an_mlp_built_as_tensors():
    ex = derive.mlp(inputs=[[1, 2], [0.5, -1]], weights=[[[0.1, 0.2], [0.3, -0.4]], [[0.2, -0.3], [0.4, 0.1]]],
                    biases=[[0, 0.1], [0.2, -0.2]], targets=[0, 1], activation=["relu", "softmax"],
                    loss="cross_entropy")
    tr = ex.train(2, optimizer="sgd", lr=0.5)
    assert tr.params == ["W1", "b1", "W2", "b2"]
    assert tr.value("w1_2_1", 1) == tr.value("W1", 1)[1, 0]
    grad = ex.grad("W1")
    assert tr.value("W1", 1) == sp.Matrix(ex.value("W1")) - grad / 2  # one SGD step, exact


def test_tensor_documents_show_the_matrix_update_with_numbers(tmp_path, pdflatex):
    ex = derive.Example.from_equations(SOFTMAX_NET, values=SOFTMAX_VALUES)
    tr = ex.train(3, optimizer="adam", lr=0.1, weight_decay=0.01)
    text = tr.to_text()
    assert "3 steps of Adam" in text and "entry by entry" in text
    # the matrix lines of update 1, then one entry the gradient moves, worked with its numbers
    assert re.search(r"m₁ = β₁ · m₀ \+ g₁\(1 − β₁\) = \[", text)
    assert re.search(r"Entry by entry; for instance entry \(1, 1\):\n +m₁ = β₁ · m₀ \+ g₁\(1 − β₁\) = "
                     r"0\.9 · 0 \+ 0\.002 · \(1 − 0\.9\) = 0\.0002", text)  # g₁ = 0 + 0.01·0.2 there
    plain = ex.train(1, optimizer="adam", lr=0.1).to_text()
    assert "for instance entry (2, 1)" in plain  # row 1 of ∂L/∂W1 is 0: the first entry that moves
    assert "g₁ = ∂L/∂W1 + λ · W1 = [" in text
    # per-step tables hold the parameters as matrices
    assert "W1" in text.split("Update 3 (loss")[1] and "[" in text.split("Update 3 (loss")[1]
    md = tr.to_markdown()
    assert "\\begin{bmatrix}" in md and "\\hat{m}_{1}" in md
    tex = tr.to_latex()
    (tmp_path / "t.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                         capture_output=True, text=True, errors="replace")
    assert run.returncode == 0, [l for l in run.stdout.splitlines() if l.startswith("!")][:3]
    assert len(tr.plot().axes) == 2


def test_large_matrices_are_elided_in_the_document():
    import random
    rng = random.Random(3)
    W = [[rng.randint(-3, 3) / 10 for _ in range(9)] for _ in range(8)]
    ex = derive.Example.from_equations("z = W @ x\nL = sum(z * z) / 2", values={"W": W, "x": [1] * 9})
    text = ex.train(1, lr=0.01).to_text()
    assert "(8×9)" in text and "…" in text and "⋮" in text


SPEC = """title: A softmax net
equations: |
  h = relu(W1 @ x + b1)
  p = softmax(W2 @ h + b2)
  L = cross_entropy(p, y)
values:
  W1: [[0.2, -0.5], [1.5, 1.3], [0.0, 0.25]]
  b1: [0.1, -0.2, 0.3]
  x: [1, 2]
  W2: [[0.3, -0.1, 0.2], [-0.4, 0.5, 0.1]]
  b2: [0.05, -0.05]
  y: [0, 1]
train: {steps: 2, optimizer: adam, lr: 0.1}
"""


def _derive(*args, cwd):
    return subprocess.run([sys.executable, "-m", "derive.cli", *args], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_train_on_a_tensor_spec(tmp_path):
    (tmp_path / "net.yaml").write_text(SPEC, encoding="utf-8")
    run = _derive("train", "net.yaml", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "2 steps of Adam" in run.stdout and "Entry by entry" in run.stdout
    run = _derive("train", "net.yaml", "--optimizer", "adagrad", "--eps", "1e-10", "--format", "md",
                  "-o", "run.md", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "steps of Adagrad" in (tmp_path / "run.md").read_text() and (tmp_path / "run.png").exists()
    bad = _derive("train", "net.yaml", "--optimizer", "sgd", "--betas", "0.9,0.99", cwd=tmp_path)
    assert bad.returncode == 2 and "betas applies to adam and adamw, not sgd" in bad.stderr


# --- the registry ------------------------------------------------------------------------------


def test_the_document_checks_no_optimizer_by_name():
    from derive.training.optimizers import OPTIMIZERS
    for module in ("document.py", "observations.py", "run.py"):
        source = (ROOT / "derive" / "training" / module).read_text(encoding="utf-8")
        assert not re.search(r"\.name\s*(==|!=|in\b)", source), module
        if module != "run.py":  # run.py's default optimizer is sgd
            for name in OPTIMIZERS:
                assert f'"{name}"' not in source, (module, name)


def test_the_cli_and_spec_options_come_from_the_registry():
    from derive.model.spec import train_fields
    from derive.training.optimizers import OPTIMIZERS
    fields = set(train_fields())
    for opt in OPTIMIZERS.values():
        assert {hp.name for hp in opt.hyperparameters} <= fields
    help_text = subprocess.run([sys.executable, "-m", "derive.cli", "train", "--help"], capture_output=True,
                               text=True, cwd=ROOT).stdout
    for name in fields - {"steps", "optimizer"}:
        assert "--" + name.replace("_", "-") in help_text, name


def test_example_update_is_one_sgd_step_of_the_registry():
    from derive.training.optimizers import OPTIMIZERS
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid", lr=0.1)
    assert ex.update("w") == sp.sympify(OPTIMIZERS["sgd"].step(ex.value("w"), ex.grad("w"), ex.lr))
    assert ex.update("w") == ex.value("w") - ex.lr * ex.grad("w")
    assert derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1).update("w") == sp.Rational(11, 5)
    symbolic = derive.neuron(activation="relu", lr=0.1)
    w = symbolic.graph.symbols["w"]
    assert sp.expand(symbolic.update("w") - (w - sp.Rational(1, 10) * symbolic.grad("w"))) == 0


def test_unknown_and_misplaced_options_are_refused_by_name():
    ex = derive.Example.from_equations(BATCH_NET, values=BATCH_VALUES)
    for kwargs, needle in [({"optimizer": "adam", "alpha": 0.9}, "alpha applies to rmsprop, not adam"),
                           ({"optimizer": "sgd", "eps": 1e-8}, "eps applies to"),
                           ({"rho": 0.9}, "rho applies to adadelta, not sgd"),
                           ({"gamma": 0.9}, "unknown option 'gamma'"),
                           ({"optimizer": "adam", "betas": (0.9, 1.0)}, "betas[1] must be in [0, 1)"),
                           ({"lr": {"W": 0.1}}, "no learning rate for b"),
                           ({"lr": {"X": 0.1, "W": 1, "b": 1}}, "'X' is not a parameter")]:
        with pytest.raises(DeriveError, match=re.escape(needle)):
            ex.train(1, **kwargs)


def _sign_descent_entry():
    """signSGD (θ − η·sign(g)) — a new optimizer in ONE entry: its hyperparameters, state, rule."""
    from derive.training.optimizers import ETA, G_T, THETA_PREV, Line, Optimizer
    return Optimizer("signsgd", "sign descent", "—", sp.Rational(1, 100),
                     lambda h: (Line("θ", sp.Add(THETA_PREV, sp.Mul(-1, ETA, sp.sign(G_T), evaluate=False),
                                                 evaluate=False)),))


@pytest.fixture
def signsgd():
    from derive.training.optimizers import OPTIMIZERS, register
    register(_sign_descent_entry())
    yield
    OPTIMIZERS.pop("signsgd")


def test_an_optimizer_registered_from_outside_trains_and_reaches_the_cli(signsgd, tmp_path):
    ex = derive.Example.from_equations(BATCH_NET, values=BATCH_VALUES)
    tr = ex.train(2, optimizer="signsgd", lr=0.1)
    g = ex.grad("W")
    assert tr.value("W", 1) == sp.Matrix(ex.value("W")) - g.applyfunc(sp.sign) / 10
    assert "θₜ = θₜ₋₁ − η · sign(gₜ)" in tr.to_text() and tr.state("W", 1) == {}
    from click.testing import CliRunner
    from derive.cli import cli
    (tmp_path / "n.yaml").write_text(SPEC.replace("optimizer: adam", "optimizer: signsgd"))
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "n.yaml")])
    assert result.exit_code == 0, result.output
    assert "2 steps of sign descent" in result.output
    assert "signsgd" in CliRunner().invoke(cli, ["train", "--help"]).output


def test_adadelta_added_as_one_entry_matches_torch(tmp_path):
    import torch
    # tensor example
    ex = derive.Example.from_equations(SOFTMAX_NET, values=SOFTMAX_VALUES)
    tr = ex.train(3, optimizer="adadelta", rho=0.8)
    _assert_tensor_matches(tr, _torch_softmax_net(torch.optim.Adadelta, 3, {"rho": 0.8}, lr=1.0))
    assert set(tr.state("W1", 2)) == {"square_avg", "acc_delta"}
    text = tr.to_text()
    assert "steps of Adadelta" in text and "ρ" in text and "Δ₁ = " in text
    assert "\\rho" in tr.to_markdown() and "\\Delta_{1}" in tr.to_markdown()
    # scalar example: Mazur's 2-2-2 network, against torch with one tensor per layer
    from tests.test_training import NET, _assert_matches, _torch_network
    run = derive.mlp(**NET).train(5, optimizer="adadelta", lr=0.5, eps=1e-6)
    _assert_matches(run, _torch_network(torch.optim.Adadelta, 5, 0.5, eps=1e-6))
    # the CLI and the spec take it without another edit
    (tmp_path / "n.yaml").write_text(SPEC.replace("optimizer: adam, lr: 0.1", "optimizer: adadelta, rho: 0.8"))
    from derive.model.spec import training_from_spec
    _, options = training_from_spec(tmp_path / "n.yaml")
    assert options["rho"] == 0.8
    from click.testing import CliRunner
    from derive.cli import cli
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "n.yaml"), "--rho", "0.7"])
    assert result.exit_code == 0, result.output
    assert "0.7" in result.output and "Adadelta" in result.output
