"""Initialisation and remedies: formulas out of SymPy, the simulation's acceptance numbers, plots,
worked remedies, and the PyTorch export run for real."""
import json
import subprocess
import sys

import pytest
import sympy as sp

import derive
from derive.initialization.variance import rules, second_moments, simulate_variance, variance_derivation
from derive.courseware.remedies import remedies


def test_second_moments_come_from_sympy_stats():
    m = second_moments()
    v, alpha = m["v"], m["alpha"]
    assert sp.simplify(m["relu_sq"] - v / 2) == 0
    assert sp.simplify(m["relu_var"] - (sp.Rational(1, 2) - 1 / (2 * sp.pi)) * v) == 0
    assert sp.simplify(m["leaky_sq"] - (1 + alpha**2) * v / 2) == 0


def test_initialisation_rules_match_the_known_results():
    r = rules()
    n_in, n_out, alpha = r["n_in"], r["n_out"], second_moments()["alpha"]
    assert sp.simplify(r["he"] - 2 / n_in) == 0
    assert sp.simplify(r["lecun"] - 1 / n_in) == 0
    assert sp.simplify(r["xavier"] - 2 / (n_in + n_out)) == 0
    assert sp.simplify(r["xavier_uniform_bound"] - sp.sqrt(6 / (n_in + n_out))) == 0
    assert sp.simplify(r["leaky_he"] - 2 / ((1 + alpha**2) * n_in)) == 0
    assert sp.simplify(r["he_fan_out"] - 2 / n_out) == 0


def test_derivation_document_says_variance_and_standard_deviation(tmp_path, pdflatex):
    h = variance_derivation("relu", "he")
    text = h.to_text()
    assert "variance" in text and "standard deviation" in text and "E[a²]" in text
    assert "2/(n_in + n_out)" in text  # the corrected Glorot variance
    tex = h.to_latex()
    (tmp_path / "h.tex").write_text(tex)
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "h.tex"], cwd=tmp_path,
                         capture_output=True, text=True, errors="replace")
    assert run.returncode == 0


def test_simulation_acceptance_and_determinism():
    sim = simulate_variance(depth=50, width=256, activation="relu", schemes=["he", "xavier", "normal"], seed=0)
    assert 0.25 <= sim.ratio("he") <= 4
    assert sim.ratio("xavier") < 1e-3
    assert sim.ratio("normal") > 1e10
    again = simulate_variance(depth=50, width=256, activation="relu", schemes=["he", "xavier", "normal"], seed=0)
    assert again.variances == sim.variances and again.gradients == sim.gradients
    other = simulate_variance(depth=50, width=256, activation="relu", schemes=["he"], seed=1)
    assert other.variances["he"] != sim.variances["he"]
    assert len(sim.variances["he"]) == 50 and len(sim.gradients["normal"]) == 50
    table = sim.table()
    assert table[0][0] == "scheme" and len(table) == 4


def test_the_conversations_100_layer_example_does_not_overflow():
    sim = simulate_variance(depth=100, width=64, activation="relu", schemes=["normal", "he"], seed=0, batch=128)
    assert sim.ratio("normal") > 1e100 and all(v < float("inf") for v in sim.variances["normal"])


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_plots_are_real_files(tmp_path, suffix, magic):
    sim = simulate_variance(depth=10, width=32, activation="tanh", schemes=["xavier", "small"], seed=0, batch=64)
    path = sim.plot(tmp_path / f"plot{suffix}")
    assert open(path, "rb").read(len(magic)) == magic


def test_remedies_worked_numbers():
    r = remedies().results
    c = r["clipping"]
    assert c["norm"] == 3125 * sp.sqrt(3)
    assert sp.simplify(c["by_norm"] - 5 / sp.sqrt(3)) == 0 and c["by_value"] == 5
    assert r["decay"]["grad"] == sp.Rational(6251, 2)  # 3125 + 0.1 * 5
    assert r["residual"]["local"] == sp.Rational(11, 10)  # 1 + ReLU'(z2) * w2
    assert abs(float(r["residual"]["residual"])) > 1000 * abs(float(r["residual"]["plain"]))
    assert abs(float(r["normalisation"]["normalised"])) < abs(float(r["normalisation"]["plain"]))
    text = remedies().to_text()
    assert "3125 → 2.887" in text and "gradient clipping (value)" in text


EXAMPLES = {
    "neuron": lambda: derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid", lr=0.1),
    "chain": lambda: derive.chain(depth=4, weight="1.5", x=1, activation="tanh", y=0),
    "mlp": lambda: derive.mlp([0.5, -1], [[[1, 2], [-1, 0.5]], [[0.3, -0.7]]], [[0.1, 0.2], [0]], [1],
                              activation=["relu", "sigmoid"], loss="binary_cross_entropy"),
    "equations": lambda: derive.Example.from_equations(
        "z = 2*x + 2 + x\nq = leaky_relu(z, 0.2) + z*x\nh = elu(z*z/50)\ny = h + q + q*x + max(x, h) + sqrt(abs(z)) + log(1 + exp(-q))",
        values={"x": "-0.4"}),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_exported_pytorch_scripts_run_and_agree(name, tmp_path):
    ex = EXAMPLES[name]()
    script = tmp_path / "export.py"
    script.write_text(ex.to_pytorch())
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    for n in ex.inputs:
        exact = float(sp.N(ex.grad(n), 30))
        assert abs(data["gradients"][n] - exact) <= 1e-12 * max(1, abs(exact)), (n, data["gradients"][n], exact)
    for n in ex.nodes:
        exact = float(sp.N(ex.evaluation.values[n], 30))
        assert abs(data["values"][n] - exact) <= 1e-12 * max(1, abs(exact))


def test_cli_variance_and_pytorch(tmp_path):
    out = subprocess.run(["derive", "variance", "--depth", "10", "--width", "32", "--batch", "64",
                          "--format", "md", "-o", str(tmp_path / "he.md")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "he.png").read_bytes()[:4] == b"\x89PNG"
    assert "![" in (tmp_path / "he.md").read_text()
    py = subprocess.run(["derive", "neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--format", "pytorch"],
                        capture_output=True, text=True)
    assert py.returncode == 0 and "import torch" in py.stdout
