"""The tutor on matrix and batch examples (issue 25): whole matrices, or entry by entry on
request (each entry judged at once, carried forward from the student's earlier matrices); "hint",
"help" and "?" are commands, never answers; every local derivative of a scalar worked solution is
asked, a skip edge's under its |direct key; and a batch session through a pseudo-terminal."""
from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time

import numpy as np
import pytest
import sympy as sp

import derive
from derive.checking.tutor import Tutor, worked_steps

BATCH = """title: A batch of three through a softmax classifier
inputs: [[1, 2], [0, 1], [0.5, -1]]
weights: [[[1, -1], [0, 1]], [[1, 0.5], [0.2, 0.3], [-0.5, 0]]]
biases: [[0, 0.1], [0.5, 0, -0.25]]
targets: [0, 2, 1]
activation: [tanh, softmax]
loss: cross_entropy
lr: 0.5
"""


def batch():
    return derive.mlp([[1, 2], [0, 1], [0.5, -1]], [[[1, -1], [0, 1]], [[1, 0.5], [0.2, 0.3], [-0.5, 0]]],
                      [[0, 0.1], [0.5, 0, -0.25]], [0, 2, 1], activation=["tanh", "softmax"],
                      loss="cross_entropy", lr="0.5")


def floats(m):
    return np.array(sp.Matrix(m).evalf(30).tolist(), dtype=float)


def printed(m, digits=8):
    """A matrix as a student types it, in derive's printed form (rows split by ;)."""
    return "[" + "; ".join(", ".join(f"{v:.{digits}g}" for v in row) for row in np.atleast_2d(m)) + "]"


def value_of(ex, key):
    from derive.checking.matrixcheck import expected_answer
    return floats(expected_answer(ex, key).a.tolist())


# -- a batch example, whole matrices ---------------------------------------------------------------


def test_a_batch_session_with_whole_matrices_succeeds_and_asks_every_line():
    ex = batch()
    tutor = Tutor(ex)
    assert type(tutor).__name__ == "MatrixTutor"
    keys = [s.key for s in tutor.steps]
    # a builder's parameters update entry by entry (w1_1_1_new), so no W1_new step
    assert keys == ["z1", "a1", "z2", "a2", "L", "dL/da2", "dL/dz2", "dL/da1", "dL/dz1", "dL/dW1",
                    "dL/db1", "dL/dW2", "dL/db2"]
    for key in keys:
        value = value_of(ex, key)
        reply = tutor.respond(printed(value) if value.size > 1 else f"{value.item():.8g}")
        assert reply.lines == ("  ✓ correct",), (key, reply.lines)
    assert tutor.done and tutor.exit_code == 0


def test_a_wrong_gradient_then_one_computed_from_it_is_carried_forward_in_the_session():
    ex = batch()
    tutor = Tutor(ex, steps=["dL/dz2", "dL/dW2"])
    dz = value_of(ex, "dL/dz2") * 2  # forgot nothing, doubled everything
    for _ in range(3):
        tutor.respond(printed(dz))
    assert tutor.steps[0].status == "incorrect"
    reply = tutor.respond(printed(dz @ value_of(ex, "a1").T))
    assert reply.lines[0].startswith("  ✓ carried forward: right given your dL/dz2")
    assert tutor.steps[1].status == "carried" and tutor.exit_code == 1  # the first step is wrong


# -- hint, help, ? are commands ----------------------------------------------------------------


@pytest.mark.parametrize("make", [batch, lambda: derive.neuron(x=2, w=3, b=1, y=5, activation="tanh", lr=0.1)])
def test_hint_help_and_question_mark_are_never_answers(make):
    ex = make()
    tutor = Tutor(ex)
    first = tutor.current.key
    helped = tutor.respond("help").lines
    assert helped[0].startswith(f"  Answer {first} with ") and any(l.startswith("  hint:") for l in helped)
    assert any(line.startswith("  ?: show the value") for line in helped)
    hint = tutor.respond("hint").lines
    assert hint[0].startswith("  Hint: the forward pass:")
    second = tutor.respond("HINT").lines
    assert second[0].startswith("  Hint: ") and second != hint
    assert tutor.respond("hint").lines[0].startswith("  No more hints for this step: ? shows the value")
    assert tutor.current.key == first and tutor.current.tries == 0 and not tutor.current.attempts
    shown = tutor.respond("?").lines
    assert shown[0].startswith("  The value: ") and tutor.steps[0].status == "shown"
    assert tutor.current.key != first


def test_the_hint_ladder_after_a_wrong_answer_continues_where_it_is():
    tutor = Tutor(derive.neuron(x=2, w=3, b=1, y=5, activation="tanh", lr=0.1), steps=["a"])
    wrong = tutor.respond("0.5").lines
    assert wrong[1].startswith("  Hint: the forward pass")  # the rule, after the first try
    assert tutor.respond("hint").lines[0] == "  Hint: a = tanh(z) = tanh(7)"  # then the formula
    assert tutor.current.tries == 1


# -- entry by entry ----------------------------------------------------------------------------------


def test_a_matrix_answered_entry_by_entry():
    ex = batch()
    tutor = Tutor(ex, steps=["z1", "dL/dW2"])
    assert tutor.respond("entries").lines[0] == ("  z1 entry by entry: 6 entries (2×3), row by row. "
                                                 "? shows an entry's value, hint gives a hint.")
    assert tutor.prompt() == "z1[1,1] = "
    z1 = value_of(ex, "z1")
    wrong = tutor.respond(f"{z1[0, 0] + 1:.6g}").lines
    assert wrong[0] == "  ✗ not right yet" and wrong[1] == "  Hint: entry [1,1] of z1: the forward pass: z1 = W1 X + b1"
    assert tutor.respond("hint").lines[0].endswith("this entry is its row 1, column 1")
    assert tutor.respond("hint").lines == ("  No more hints for this entry: ? shows its value.",)
    assert tutor.respond("0.3.1").lines[0].startswith("  cannot read")  # no try spent
    assert tutor.respond("−1").lines == ("  ✓ correct",)  # the Unicode minus of a printed value
    assert tutor.prompt() == "z1[1,2] = "
    for index in range(1, 6):
        r, c = divmod(index, 3)
        reply = tutor.respond(f"{z1[r, c]:.6g}")
    assert reply.lines[-1] == "  z1: ✓ correct (6 correct, of 6 entries)"
    assert tutor.steps[0].status == "correct" and tutor.steps[0].attempts[-1].startswith("[")
    # a one-number step is answered as it is
    one = Tutor(ex, steps=["L"])
    assert one.respond("entries").lines == ("  L is one number: answer it as it is.",)


def test_entries_carried_forward_from_an_earlier_wrong_matrix():
    ex = batch()
    tutor = Tutor(ex, steps=["dL/dz2", "dL/db2"])
    dz = value_of(ex, "dL/dz2") + 0.1  # every entry off
    for _ in range(3):
        tutor.respond(printed(dz))
    tutor.respond("entries")
    db = dz.sum(axis=1)
    said = [tutor.respond(f"{v:.6g}").lines for v in db]
    assert said[0] == ("  ✓ carried forward: right given your earlier answers",)
    assert said[-1][-1] == "  dL/db2: ✓ carried forward (3 carried forward, of 3 entries)"
    assert tutor.steps[1].status == "carried"


def test_question_mark_in_entry_mode_shows_one_entry():
    ex = batch()
    tutor = Tutor(ex, steps=["a1"])
    tutor.respond("entries")
    reply = tutor.respond("?").lines
    assert reply[0] == f"  The value: a1[1,1] = {tutor.writer.math(derive.core.derivation.Value(ex.evaluation.values['a1'].a[0, 0]))}"
    a1 = value_of(ex, "a1")
    for index in range(1, 6):
        reply = tutor.respond(f"{a1.ravel()[index]:.6g}")
    assert reply.lines[-1] == "  a1: shown (?) (5 correct, 1 shown with ?, of 6 entries)"
    assert tutor.exit_code == 1


# -- every local derivative, skip edges included -------------------------------------------------


def test_skip_edges_are_asked_under_their_direct_key():
    ex = derive.Example.from_equations("z1 = w*x\na = tanh(z1)\nz3 = a + z1\nL = (z3 - y)**2",
                                       values={"w": 0.5, "x": 2, "y": 1})
    from derive.checking.answers import parse_key
    try:
        parse_key(ex, "dz3/dz1|direct")
    except derive.DeriveError:
        pytest.skip("the answer keys have no |direct form yet (issue 25's keys half)")
    steps = worked_steps(ex)
    d = ex.derivation()
    for s in d.local:
        key = f"d{s.of}/d{s.wrt}"
        assert key in steps or f"{key}|direct" in steps, key
    assert "dz3/dz1|direct" in steps and "dz3/da" in steps
    tutor = Tutor(ex, steps=["dz3/dz1|direct"])
    assert tutor.respond("1").lines == ("  ✓ correct",)
    # the total over both paths is not the local derivative
    other = Tutor(ex, steps=["dz3/dz1|direct"])
    total = float(ex.grad("z1", of="z3"))
    assert other.respond(f"{total:.6g}").lines[0].startswith("  ✗")


# -- a pseudo-terminal ---------------------------------------------------------------------------

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()=>][0-9A-B]?|\r")


class Terminal:
    """A command on a pseudo-terminal (python's pty module): ``expect`` reads until a text
    appears (escape sequences removed), ``send`` types a line; cursor-position requests get an
    answer as a terminal gives one."""

    def __init__(self, args, cwd):
        import fcntl
        import pty
        import struct
        import termios
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                     env={**os.environ, "TERM": "xterm", "COLUMNS": "200"},
                                     close_fds=True, start_new_session=True)
        os.close(slave)
        self.seen, self.at = "", 0

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the child closed the terminal
            return False
        if not chunk:
            return False
        if b"\x1b[6n" in chunk:
            os.write(self.master, b"\x1b[1;1R")
        self.seen += _ESCAPES.sub("", chunk.decode("utf-8", "replace"))
        return True

    def expect(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen[self.at:]:
            if time.monotonic() > deadline or not self._read(0.2):
                raise AssertionError(f"never saw {text!r}; the terminal shows:\n{self.seen[self.at:]}")
        end = self.seen.index(text, self.at) + len(text)
        said, self.at = self.seen[self.at:end], end
        return said

    def send(self, line: str):
        os.write(self.master, line.encode() + b"\r")

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(0.2) and self.proc.poll() is None:
            pass
        try:
            return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            os.close(self.master)


def test_a_batch_example_through_a_pseudo_terminal(tmp_path):
    spec = tmp_path / "batch.yaml"
    spec.write_text(BATCH)
    ex = batch()
    z1, a1 = value_of(ex, "z1"), value_of(ex, "a1")
    term = Terminal([sys.executable, "-m", "derive.cli", "check", str(spec), "--interactive"],
                    cwd=os.getcwd())
    try:
        term.expect("Answer each of the 13 steps")
        term.expect("z1 =")
        term.send("help")
        term.expect("entries: answer this matrix entry by entry")
        term.expect("z1 =")
        term.send("hint")
        term.expect("Hint: the forward pass: z1 = W1 X + b1")
        term.expect("z1 =")
        term.send(printed(z1).replace("-", "−"))  # the whole matrix, with Unicode minus signs
        term.expect("✓ correct")
        term.expect("a1 =")
        term.send("entries")
        term.expect("a1 entry by entry: 6 entries (2×3)")
        for index, value in enumerate(a1.ravel()):
            r, c = divmod(index, 3)
            term.expect(f"a1[{r + 1},{c + 1}] =")
            term.send("?" if index == 4 else f"{value:.6g}")
        term.expect("a1: shown (?) (5 correct, 1 shown with ?, of 6 entries)")
        term.expect("z2 =")
        term.send(printed(z1))  # the wrong shape: asked again at no cost
        term.expect("z2 is a 3×3 matrix, but that is a 2×3 matrix")
        term.expect("z2 =")
        term.send("q")
        term.expect("Stopped; not answered: z2, a2, L")
        summary = term.expect("1 of 13 steps earn credit.")
        assert "✓ correct" in summary and "shown (?)" in summary
    finally:
        status = term.finish()
    assert status == 1
