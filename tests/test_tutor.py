"""The interactive tutor (`derive check --interactive`): the session as a state machine (steps in
the worked solution's order, unreadable answers asked again, three tries with escalating hints,
`?`, `q`, carried-forward credit, the summary), the command with piped answers, and a real
terminal session through a pseudo-terminal (pexpect): line editing, hints, `?`, `q`, summary."""
import os
import subprocess
import sys

import pytest
import sympy as sp

import derive
from derive.checking.answers import expected_value, parse_key
from derive.checking.tutor import Tutor, line_reader, run, worked_steps

SPEC = ("title: One sigmoid neuron\nequations: |\n  z = w*x + b\n  a = sigmoid(z)\n  L = (a - y)**2\n"
        "values: {x: 2, w: 3, b: 1, y: 5}\nlr: 0.1\n")
STEPS = ["z", "a", "L", "dL/da", "da/dz", "dz/dw", "dL/dw", "w_new"]
MLP = ("inputs: [0.05, 0.10]\nweights: [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]\n"
       "biases: [[0.35, 0.35], [0.60, 0.60]]\ntargets: [0.01, 0.99]\nactivation: [relu, sigmoid]\n"
       "loss: binary_cross_entropy\nlr: 0.5\n")


def exact_answers(ex, steps, digits=8):
    """Each step's engine value, written as a student would: a decimal with ``digits`` figures."""
    return [str(sp.N(expected_value(ex, parse_key(ex, k)), digits)) for k in steps]


def session(tutor, lines):
    """Feed lines; return every reply's text, one string per reply."""
    said = []
    for line in lines:
        said.append("\n".join(tutor.respond(line).lines))
    return said


# -- the steps, in the worked solution's order ---------------------------------------------------


def test_steps_follow_the_worked_solution_for_neuron_chain_and_mlp():
    assert worked_steps(derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid", lr=0.1)) == STEPS
    chain = derive.chain(depth=2, weight=-1, x=2, activation="tanh", loss="half_squared_error", y=0)
    assert worked_steps(chain) == ["z1", "a1", "z2", "a2", "L", "dL/da2", "da2/dz2", "dz2/da1",
                                   "da1/dz1", "dz1/dw1", "dL/dw1"]  # no lr: no update step
    one = derive.mlp(inputs=[1, -2], weights=[[[1, 2], [3, -1]], [[2, 1]]], biases=[[0, 1], [-1]],
                     targets=[1], activation="relu", loss="squared_error", lr=0.5)
    assert worked_steps(one)[7:] == ["dL/da2_1", "da2_1/dz2_1", "dz2_1/da1_1", "da1_1/dz1_1",
                                     "dz1_1/dw1_1_1", "dL/dw1_1_1", "w1_1_1_new"]  # one path
    two = derive.mlp(inputs=[1, -2], weights=[[[1, 2], [3, -1]], [[2, 1], [1, 1]]],
                     biases=[[0, 1], [-1, 0]], targets=[1, 0], activation="relu",
                     loss="squared_error", lr=0.5)
    # two paths meet: the local derivatives on them in graph order (as the document lists them)
    assert worked_steps(two) == ["z1_1", "a1_1", "z1_2", "a1_2", "z2_1", "a2_1", "z2_2", "a2_2", "L",
                                 "dz1_1/dw1_1_1", "da1_1/dz1_1", "dz2_1/da1_1", "da2_1/dz2_1",
                                 "dz2_2/da1_1", "da2_2/dz2_2", "dL/da2_1", "dL/da2_2", "dL/dw1_1_1",
                                 "w1_1_1_new"]


def test_an_l2_term_keeps_the_direct_partial_out_and_ask_overrides():
    ex = derive.Example.from_equations("z = w*x\nL = (z - y)**2 + c*w**2",
                                       values={"w": 2, "x": 3, "y": 1, "c": 1}, params=["w"])
    steps = worked_steps(ex)
    assert "dL/dw" in steps and steps.count("dL/dw") == 1
    assert steps[:2] == ["z", "L"] and "dL/dz" in steps and "dz/dw" in steps
    ex.meta["ask"] = ["dL/dw", "z"]
    assert worked_steps(ex) == ["dL/dw", "z"]
    with pytest.raises(derive.DeriveError, match="unknown name"):
        Tutor(ex, steps=["dL/dq"])


# -- one step: unreadable, three tries, escalating hints, ?, q -------------------------------------


def test_a_typo_is_asked_again_and_is_not_a_try():
    t = Tutor(derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1))
    for typo in ("7..1", "7 +", "seven", ""):
        reply = t.respond(typo)
        assert not reply.done and t.prompt() == "z = " and t.current.tries == 0
        assert "cannot read" in reply.lines[0] or "type your answer" in reply.lines[0]
    assert t.respond("7").lines == ("  ✓ correct",) and t.prompt() == "a = "
    assert t.steps[0].tries == 1 and t.steps[0].status == "correct"


def test_hints_escalate_rule_then_formula_then_value():
    t = Tutor(derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1))
    first, second, third = session(t, ["5", "6", "9"])
    assert "wx + b" in first and "with the values of w, x and b" in first and "7" not in first
    assert "2 tries left" in first
    assert "3 · 2 + 1" in second and "= 7" not in second and "1 try left" in second
    assert "The value: z = 7" in third and "✗ incorrect" in third
    assert t.steps[0].status == "incorrect" and t.steps[0].tries == 3 and t.prompt() == "a = "


def test_a_diagnosed_mistake_comes_first_and_the_value_stays_hidden():
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid", lr=0.1)
    t = Tutor(ex, steps=["dL/da", "da/dz"])
    first = session(t, ["8.002"])[0]  # the sign slip: a − y written as y − a
    assert "sign error" in first and "8.00" not in first.replace("8.002", "", 1)
    second = session(t, ["8.0"])[0]
    assert "2(a − y) = 2 · (0.9991 − 5)" in second and "≈ −8.002" not in second
    # local derivative of a smooth activation: its formula and the derivative rule
    t.respond("?")
    da = session(t, ["0.5", "0.6", "0.7"])
    assert "the local derivative of the line a = σ(z) with respect to z" in da[0]
    assert "σ(7) · (1 − σ(7))" in da[1] and "0.0009102" not in "".join(da[:2])
    # the value comes with the sentence that justifies it
    assert "The value: ∂a/∂z ≈ 0.0009102\n    (by the derivative rule σ'(z) = σ(z)(1 − σ(z)))" in da[2]


def test_too_few_digits_asks_for_more_without_giving_them():
    t = Tutor(derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid", lr=0.1), steps=["dL/da"])
    reply = session(t, ["-8"])[0]
    assert "too few digits" in reply and "8.00" not in reply and t.current.tries == 1


def test_question_mark_shows_the_value_and_earns_no_credit():
    t = Tutor(derive.neuron(x=2, w=3, b=1, y=5, activation="tanh", loss="binary_cross_entropy",
                            lr=0.1), steps=["a", "dL/da"])
    reply = t.respond("?")
    assert reply.lines == ("  The value: a ≈ 1.000",) or reply.lines[0].startswith("  The value: a ≈")
    assert t.steps[0].status == "shown" and t.prompt() == "dL/da = "
    t.respond(exact_answers(t.ex, ["dL/da"])[0])
    assert t.done and t.steps[1].status == "correct" and t.exit_code == 1
    text = t.summary_text()
    assert "shown (?)" in text and "Shown with ?: a." in text and "1 of 2 steps earn credit." in text


def test_q_stops_and_the_rest_is_not_answered():
    t = Tutor(derive.neuron(x=2, w=3, b=1, y=5, lr=0.1))
    t.respond("7")
    reply = t.respond("Q")
    assert reply.done and "not answered: a, L, dL/da, da/dz, dz/dw, dL/dw, w_new" in " ".join(reply.lines)
    assert t.exit_code == 1 and t.respond("8").lines == ()
    text = t.summary_text()
    assert "1 of 8 steps earn credit." in text and "Not answered: a, L," in text
    rows = [line.split() for line in text.splitlines() if line.startswith("    ")]
    assert rows[0] == ["step", "your", "answer", "status", "tries"]
    assert rows[2] == ["z", "7", "✓", "correct", "1"] and rows[3] == ["a", "—", "not", "answered", "0"]


def test_carried_forward_counts_as_consistent():
    # a = 0.999 is right to its 3 digits; L from it is 16.008, not the exact 16.00727…: carried
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid", lr=0.1)
    t = Tutor(ex, steps=["a", "L"])
    assert t.respond("0.999").lines == ("  ✓ correct",)
    reply = t.respond("16.008")
    assert reply.done and "carried forward" in reply.lines[0]
    assert [s.status for s in t.steps] == ["correct", "carried"] and t.exit_code == 0
    # a wrong value the student keeps using: the later step is consistent with it
    t = Tutor(derive.neuron(x=2, w=3, b=1, y=5, activation="relu", loss="squared_error"),
              steps=["z", "a", "L"])
    session(t, ["8", "8", "8"])  # z wrong three times: z = 7 is shown
    assert t.steps[0].status == "incorrect"
    assert "carried forward" in t.respond("8").lines[0]  # ReLU(8), from the student's z
    assert t.respond("4").lines == ("  ✓ correct",)  # (ReLU(7) − 5)²: the shown value used


def test_a_right_answer_after_a_wrong_one_is_correct_on_the_second_try():
    t = Tutor(derive.chain(depth=2, weight=2, x=-1, activation="relu", loss="half_squared_error", y=1),
              steps=["z1", "a1", "da1/dz1"])
    t.respond("-2")
    t.respond("0")
    reply = session(t, ["1", "0"])
    # z1 = −2 ≤ 0: the gate is closed; the formula hint cites the rule with its numbers
    assert "✗" in reply[0] and "✓ correct" in reply[1]
    assert [(s.status, s.tries) for s in t.steps] == [("correct", 1), ("correct", 1), ("correct", 2)]


@pytest.mark.parametrize("ex", [
    derive.neuron(x=-1.5, w=0.5, b=0.25, y=1, activation="softplus", loss="binary_cross_entropy", lr=0.2),
    derive.neuron(x=[1, 2], w=[0.5, -1], b=0, y=0, activation="leaky_relu", loss="squared_error", lr=1),
    derive.chain(depth=3, weight=0.5, x=2, activation="sigmoid", loss="half_squared_error", y=0, lr=0.1),
    derive.mlp(inputs=[0.05, 0.10], weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
               biases=[[0.35, 0.35], [0.60, 0.60]], targets=[0.01, 0.99], activation=["relu", "sigmoid"],
               loss="binary_cross_entropy", lr=0.5),
], ids=["softplus-bce", "leaky-relu-two-inputs", "chain-sigmoid", "mlp-relu-sigmoid-bce"])
def test_a_full_correct_session_succeeds_for_any_example(ex):
    t = Tutor(ex)
    lines = iter(exact_answers(ex, [s.key for s in t.steps]))
    out = []
    code = run(t, lambda prompt: next(lines), out.append)
    assert code == 0 and all(s.status == "correct" and s.tries == 1 for s in t.steps)
    assert f"{len(t.steps)} of {len(t.steps)} steps earn credit." in "\n".join(out)


def test_run_at_end_of_input_names_the_steps_not_answered():
    import io
    out = []
    t = Tutor(derive.neuron(x=2, w=3, b=1, y=5, lr=0.1))
    code = run(t, line_reader(io.StringIO("7\n\nabc\n"), out.append), out.append)
    text = "\n".join(out)
    assert code == 1 and "z = 7" in text and "cannot read" in text
    assert "End of input; not answered: a, L, dL/da" in text


# -- the command: piped answers --------------------------------------------------------------------


def derive_cli(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "derive.cli", *args], input=stdin,
                          capture_output=True, text=True)


def test_piped_single_answer_exits_1_naming_the_unanswered_steps(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = derive_cli("check", str(spec), "--interactive", stdin="7\n")
    assert out.returncode == 1, out.stderr
    assert "z = 7\n  ✓ correct" in out.stdout
    assert "not answered: a, L, dL/da, da/dz, dz/dw, dL/dw, w_new" in out.stdout
    assert "1 of 8 steps earn credit." in out.stdout and out.stderr == ""


def test_piped_full_session_exits_0_and_a_network_spec_works_too(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid", lr=0.1)
    answers = "\n".join(["7", "oops"] + exact_answers(ex, STEPS)[1:]) + "\n"
    out = derive_cli("check", str(spec), "--interactive", stdin=answers)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "cannot read" in out.stdout and "8 of 8 steps earn credit." in out.stdout
    net = tmp_path / "net.yaml"
    net.write_text(MLP)
    from derive.model.spec import mlp_from_spec
    ex = mlp_from_spec(net)
    steps = worked_steps(ex)
    out = derive_cli("check", str(net), "--interactive", stdin="\n".join(exact_answers(ex, steps)) + "\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(steps)} of {len(steps)} steps earn credit." in out.stdout
    answers = tmp_path / "answers.yaml"  # a network spec is checked from a file as well
    answers.write_text(f"dL/dw1_1_1: {exact_answers(ex, ['dL/dw1_1_1'])[0]}\nz1_1: 1\n")
    out = derive_cli("check", str(net), str(answers))
    assert out.returncode == 1 and "✓ correct" in out.stdout and "✗ incorrect" in out.stdout
    both = derive_cli("check", str(spec), str(spec), "--interactive")
    assert both.returncode == 2 and "not both" in both.stderr


# -- a real terminal (pseudo-terminal) -------------------------------------------------------------


def test_terminal_session_with_line_editing_hints_question_mark_and_q(tmp_path):
    import pexpect  # a test dependency: in CI it must be there, never skipped
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    child = pexpect.spawn(sys.executable, ["-m", "derive.cli", "check", str(spec), "--interactive"],
                          encoding="utf-8", timeout=60, dimensions=(40, 200),
                          env={**os.environ, "TERM": "xterm"})
    try:
        # prompt_toolkit draws the prompt "z = " as "z =" and a cursor move: match the key
        child.expect_exact("z =")
        child.send("76\x1b[D\x1b[3~\r")  # type 76, ← , Delete: the line reads 7
        child.expect_exact("✓ correct")
        child.expect_exact("a =")
        child.send("0.9x\r")  # a typo: asked again, not a try
        child.expect_exact("cannot read")
        child.expect_exact("a =")
        child.send("\x1b[A\x7f91\r")  # ↑ recalls 0.9x, Backspace, 91: the answer 0.991
        child.expect_exact("✗ not right yet")
        child.expect_exact("Hint: the forward pass: a = σ(z)")  # first: the rule
        child.expect_exact("a =")
        child.send("0.5\r")
        child.expect_exact("Hint: a = σ(z) = σ(7)")
        child.expect_exact("1 try left")
        child.expect_exact("a =")
        child.send("?\r")
        child.expect_exact("The value: a ≈ 0.9991")
        child.expect_exact("L =")
        child.send("q\r")
        child.expect_exact("Stopped; not answered: L, dL/da")
        child.expect_exact("Summary")
        child.expect_exact("shown (?)")
        child.expect_exact("1 of 8 steps earn credit.")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 1


def test_examples_the_tutor_cannot_ask_are_refused_with_the_fix(tmp_path):
    matrix = derive.Example.from_equations("L = sum(A)", values={"A": [[1, 2], [3, 4]]})
    assert [s.key for s in Tutor(matrix).steps] == ["L", "dL/dA"]  # matrices are asked too (test_parity)
    with pytest.raises(derive.DeriveError, match="needs an example with values"):
        Tutor(derive.Example.from_equations("z = w*x\nL = z**2"))
    spec = tmp_path / "symbolic.yaml"
    spec.write_text("equations: |\n  z = w*x\n  L = z**2\n")
    out = derive_cli("check", str(spec), "--interactive")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "values" in out.stderr


def test_hints_for_other_graphs_read_their_own_rules():
    """Max pooling with a tie, the Huber loss, an RNN: each hint is written from the graph's own
    lines and registry entries, and a bare coefficient is not substituted into its value."""
    ex = derive.Example.from_equations("z1 = w*x1\nz2 = w*x2\nm = max(z1, z2)\nL = huber(m - y, delta)",
                                       values={"w": 0.5, "x1": 3, "x2": 3, "y": 1, "delta": 1},
                                       params=["w"])
    steps = worked_steps(ex)
    assert steps[:5] == ["z1", "z2", "m", "L", "dz1/dw"] and "dm/dz1" in steps and steps[-1] == "dL/dw"
    t = Tutor(ex, steps=["dz1/dw", "dm/dz2", "L", "dL/dw"])
    coefficient = session(t, ["5", "6"])
    assert "Hint: ∂z1/∂w = x1\n" in coefficient[1] and "= 3" not in coefficient[1]
    t.respond("?")
    tie = session(t, ["1", "2", "?"])
    assert "tie" not in tie[1] and "The value: ∂m/∂z2 = 0.5" in tie[2] and "tie for the maximum" in tie[2]
    huber = session(t, ["9", "8"])
    assert "the values of m, y and δ" in huber[0] and "1.5" in huber[1]
    t.respond("?")
    total = session(t, ["9"])[0]
    assert "the chain rule, summed over every use of w" in total


@pytest.mark.parametrize("ex", [
    derive.neuron(x=1, w=-1, b=1, y=2, activation="relu", loss="absolute_error", lr=0.5),  # z = 0: the kink
    derive.mlp(inputs=[-1], weights=[[[0.25], [2]], [[1.5, -1]]], biases=[[0, 0.5], [0.1]],
               targets=[0.2], activation="tanh", loss="mse", lr=0.1),
], ids=["relu-kink-abs", "mlp-tanh-mse"])
def test_no_hint_gives_the_value_before_the_third_try(ex):
    t = Tutor(ex)
    while not t.done:
        step = t.current
        k = parse_key(ex, step.key)
        value = t.writer.math(derive.core.derivation.Value(expected_value(ex, k)))
        for wrong in ("12345", "23456"):
            if t.current is not step:  # consistent with the earlier wrong answers: carried
                break
            for line in t.respond(wrong).lines:
                assert not line.rstrip(")").endswith((f"= {value}", f"≈ {value}")), (step.key, line)
        if t.current is step:
            assert "The value:" in t.respond("?").lines[0]
    assert t.exit_code == 1 and {s.status for s in t.steps} <= {"shown", "carried"}
    assert sum(s.status == "shown" for s in t.steps) > len(t.steps) / 2


def matrix_example():
    return derive.Example.from_equations("z = W @ x + b\nL = sum(tanh(z))",
                                         values={"W": [[1, -2, 0.5], [0.25, 3, -1]], "x": [0.5, -1, 2],
                                                 "b": [0, -0.5]}, lr=0.1)


def matrix_text(m, digits=8):
    return "[" + "; ".join(", ".join(f"{float(v):.{digits}g}" for v in row) for row in m.tolist()) + "]"


def test_a_matrix_answer_of_the_wrong_shape_costs_no_try_and_names_the_shape():
    ex = matrix_example()
    tutor = Tutor(ex, steps=["dL/dW", "z"])
    reply = tutor.respond("0.375")
    assert reply.lines == ("  dL/dW is a 2×3 matrix, but that is a number; answer with a 2×3 matrix. "
                           "Try again (this does not count as a try).",)
    assert tutor.respond("[1, 2; 3, 4]").lines[0].startswith(
        "  dL/dW is a 2×3 matrix, but that is a 2×2 matrix;")
    assert tutor.current.key == "dL/dW" and tutor.current.tries == 0
    g = ex.grad("W").evalf(30)
    assert tutor.respond(matrix_text(g)).lines == ("  ✓ correct",)
    assert tutor.steps[0].tries == 1 and tutor.steps[0].status == "correct"
    # z is a column of 2: a row [[a, b]] is a slip (transposed), which does cost a try
    z = ex.value("z").evalf(30)
    reply = tutor.respond("[[" + ", ".join(f"{float(v):.8g}" for v in z) + "]]")
    assert "transposed" in " ".join(reply.lines).lower() and tutor.current.tries == 1
    assert tutor.respond("4").lines[0] == ("  z is a column vector of 2, but that is a number; "
                                           "answer with a column vector of 2. Try again (this does not count as a try).")
    assert tutor.current.tries == 1


def test_a_matrix_with_wrong_entries_is_told_where_the_first_one_is():
    ex = matrix_example()
    tutor = Tutor(ex, steps=["dL/dW"])
    g = ex.grad("W").evalf(30).tolist()
    g[1][2] += 1
    reply = tutor.respond(matrix_text(sp.Matrix(g)))
    assert reply.lines[:2] == ("  ✗ not right yet", "  1 of 6 entries differs, at row 2, column 3; recheck this step")
    g[0][1] -= 1
    reply = tutor.respond(matrix_text(sp.Matrix(g)).replace("-", "−"))
    assert reply.lines[1] == "  2 of 6 entries differ, the first at row 1, column 2; recheck this step"
    assert tutor.current.tries == 2
