"""Matrix answers checked entry by entry, the classic implementation slips diagnosed, and the
CLI reading matrix answers from YAML or a numpy .npz archive."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

import derive

X = [[1, 2], [0, 1], [0.5, -1], [2, 0.5]]
W = [[[1, -1], [0, 1], [0.5, 0.25]], [[1, 0.5, -1], [0.2, 0.3, 0.1], [-0.5, 0, 1]]]
B = [[0, 0, 0.1], [0.5, 0, -0.25]]


def classifier(activation="relu"):
    return derive.mlp(X, W, B, [0, 2, 1, 1], activation=[activation, "softmax"], loss="cross_entropy", lr="0.5")


def floats(m):
    return np.array(m.evalf(30).tolist(), dtype=float)


def test_correct_matrix_answers_in_every_form():
    ex = classifier()
    g = floats(ex.grad("W1"))
    for answer in (g, g.tolist(), derive.Example.from_equations("L = sum(A)", values={"A": g.tolist()}).value("A")):
        assert ex.check({"dL/dW1": answer}).ok
    assert ex.check({"dL/db2": floats(ex.grad("b2")).ravel().tolist(), "dL/dw1_2_1": float(ex.grad("w1_2_1"))}).ok
    assert ex.check({"W1_new": floats(ex.update("W1"))}).ok


SLIPS = [  # every matrix entry of the mistakes catalogue (test_checking counts them)
    ("dL/dW2", lambda ex: floats(ex.grad("W2")).T, "transposed"),
    ("dL/dW1", lambda ex: floats(ex.grad("W1")) * 4, "missing_mean"),
    ("dL/db1", lambda ex: floats(ex.grad("z1")), "bias_not_summed"),
    # the ReLU passed every gradient: ∂L/∂W1 = ∂L/∂a1 Xᵀ (by hand from the engine's ∂L/∂a1)
    ("dL/dW1", lambda ex: floats(ex.grad("a1")) @ floats(ex.value("X")).T, "mask_forgotten"),
    # δ2 = p/B without − y: ∂L/∂W2 = (p/B) a1ᵀ
    ("dL/dW2", lambda ex: floats(ex.value("a2")) / 4 @ floats(ex.value("a1")).T, "softmax_without_y"),
]


@pytest.mark.parametrize("key, slip, diagnosis", SLIPS)
def test_classic_slips_are_diagnosed(key, slip, diagnosis):
    ex = classifier()
    report = ex.check({key: slip(ex)})
    assert not report.ok and report.diagnosis(key) == diagnosis
    assert report.status(key) == "incorrect"


def test_mask_slip_needs_a_gate():
    ex = classifier("tanh")  # no gate: forgetting a mask is not a possible slip
    wrong = floats(ex.grad("W1")) + 0.5
    report = ex.check({"dL/dW1": wrong})
    assert report.diagnosis("dL/dW1") == "" and "6 of 6 entries differ" in report.hint("dL/dW1")


def test_one_wrong_entry_and_wrong_shape():
    ex = classifier()
    g = floats(ex.grad("W1"))
    g[1, 0] += 0.01
    assert "1 of 6 entries differs" in ex.check({"dL/dW1": g}).hint("dL/dW1")
    assert "shape 2×2 but dL/dW1 has shape 3×2" in ex.check({"dL/dW1": [[1, 2], [3, 4]]}).hint("dL/dW1")


SPEC = """title: A softmax classifier on a mini-batch
equations: |
  z = W @ X + b
  p = softmax(z)
  L = cross_entropy(p, y)
values:
  W: [[0.2, -0.5], [1.5, 1.3], [0, 0.25]]
  X: [[1, 0, -1], [2, 1, 0.5]]
  b: [0.1, -0.2, 0.3]
  y: [1, 0, 2]
focus: W[2,1]
"""


def test_cli_checks_matrix_answers_from_yaml_and_npz(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    from derive.model.spec import example_from_spec, load_spec
    ex = example_from_spec(load_spec(str(spec)))
    assert "Zoom in: one entry of ∂L/∂W" in ex.to_text()
    good = {"dL/dW": floats(ex.grad("W")), "dL/db": floats(ex.grad("b"))}
    np.savez(tmp_path / "good.npz", **good)
    run = cli("check", str(spec), str(tmp_path / "good.npz"))
    assert run.returncode == 0, run.stdout + run.stderr
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"dL/dW": floats(ex.grad("W")).T.tolist()}))
    run = cli("check", str(spec), str(tmp_path / "bad.yaml"))
    assert run.returncode == 1 and "transposed matrix" in run.stdout
    (tmp_path / "broken.npz").write_text("not a zip")
    run = cli("check", str(spec), str(tmp_path / "broken.npz"))
    assert run.returncode == 2 and "not a numpy .npz archive" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def cli(*args):
    return subprocess.run([sys.executable, "-m", "derive.cli", *args], capture_output=True, text=True)


def printed(m, rows_split=True, digits=6):
    """A matrix as a student types it: rows split by ; (derive's printed form) or nested lists,
    with Unicode minus signs."""
    def entry(v):
        return f"{v:.{digits}g}".replace("-", "−")
    rows = [[entry(v) for v in r] for r in np.atleast_2d(m)]
    if rows_split:
        return "[" + "; ".join(", ".join(r) for r in rows) + "]"
    return "[" + ", ".join("[" + ", ".join(r) + "]" for r in rows) + "]"


def test_matrix_answers_written_as_text_are_read_entry_by_entry():
    ex = classifier("tanh")
    g1, g2, b2 = floats(ex.grad("W1")), floats(ex.grad("W2")), floats(ex.grad("b2"))
    assert (g1 < 0).any()  # the Unicode minus is exercised
    report = ex.check({"dL/dW1": printed(g1), "dL/dW2": printed(g2, rows_split=False),
                       "dL/db2": printed(b2)})  # a column: [a; b; c]
    assert [report.status(k) for k in report.verdicts] == ["correct"] * 3, str(report)
    # derive's own printed form of the answer, read back (powers of ten such as 4.289×10⁻⁵)
    shown = ex.check({"dL/dW1": 0}).verdicts["dL/dW1"].expected
    assert shown.startswith("[") and ";" in shown
    assert ex.check({"dL/dW1": shown}).status("dL/dW1") == "correct"
    tiny = derive.Example.from_equations("z = W @ x\nL = sum(z)", values={"W": [[1, 2]], "x": ["3e-5", "-4e-6"]})
    # a 1-D list has no orientation: read in the variable's shape (a row here); a column is a transpose
    assert tiny.check({"dL/dW": "[3×10⁻⁵, −4×10⁻⁶]"}).status("dL/dW") == "correct"
    assert tiny.check({"dL/dW": "[3×10⁻⁵; −4×10⁻⁶]"}).diagnosis("dL/dW") == "transposed"
    for row in ("[[3×10⁻⁵, −4×10⁻⁶]]", "[[3×10⁻⁵, −4×10^-6]]",
                "[[3*10^-5, -4e-6]]"):
        assert tiny.check({"dL/dW": row}).status("dL/dW") == "correct", row
    assert tiny.check({"dL/dW": "[[3×10⁻⁵, 4×10⁻⁶]]"}).hint("dL/dW").startswith("1 of 2 entries differs, at column 2")


def test_a_wrong_entry_in_text_is_located_and_the_answer_is_not_a_slip():
    ex = classifier("tanh")
    g = floats(ex.grad("W1"))
    g[2, 1] += 0.01
    report = ex.check({"dL/dW1": printed(g)})
    assert report.status("dL/dW1") == "incorrect"
    assert report.hint("dL/dW1") == "1 of 6 entries differs, at row 3, column 2; recheck this step"
    g[0, 1] += 0.01
    assert ex.check({"dL/dW1": printed(g)}).hint("dL/dW1") == \
        "2 of 6 entries differ, the first at row 1, column 2; recheck this step"
    b = floats(ex.grad("b2")).ravel()
    b[1] -= 1
    assert ex.check({"dL/db2": printed(b)}).hint("dL/db2").startswith("1 of 3 entries differs, at entry 2;")


def test_unreadable_text_is_marked_for_its_key_and_the_others_are_still_checked():
    ex = classifier("tanh")
    good = printed(floats(ex.grad("W2")))
    report = ex.check({"dL/dW1": "[0.1, 0.2; 0.3", "dL/db2": "abc", "dL/dW2": good,
                       "dL/db1": "[1, 2; 3]", "W1_new": "[0.1, x; 1, 2; 3, 4]"})
    assert [report.status(k) for k in report.verdicts] == \
        ["unreadable", "unreadable", "correct", "unreadable", "unreadable"]
    assert "does not close" in report.hint("dL/dW1")
    assert report.hint("dL/db2").startswith("cannot read 'abc' as a number")
    assert "rows of different lengths" in report.hint("dL/db1")
    assert "cannot read the entry 'x'" in report.hint("W1_new")
    assert not report.ok


def test_cli_reads_text_matrices_and_marks_the_unreadable_one(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    from derive.model.spec import example_from_spec, load_spec
    ex = example_from_spec(load_spec(str(spec)))
    text = {"dL/dW": printed(floats(ex.grad("W"))), "dL/db": printed(floats(ex.grad("b")))}
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(text))
    run = cli("check", str(spec), str(tmp_path / "good.yaml"))
    assert run.returncode == 0, run.stdout + run.stderr
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**text, "dL/db": "abc"}))
    run = cli("check", str(spec), str(tmp_path / "bad.yaml"))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "unreadable" in run.stdout and "cannot read 'abc'" in run.stdout and "correct" in run.stdout
