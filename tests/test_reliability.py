"""Issue 17, one test per reproduction: bounded exact work, undefined math refused, no internal
errors, nothing lost, options in range. Every refusal is a DeriveError subclass naming the limit or
the culprit, and is made before the exact work starts: the refusal makes few calls (counted,
tests/work.py; a clock would measure the machine's load). The refusals' times are in
bench/bench_refusals.py."""
import os
import time
from contextlib import contextmanager

import pytest
import sympy as sp

import derive
from derive import DeriveError, Example
from derive.core import budget
from derive.core.budget import BudgetError
from derive.core.errors import InvalidValue
from work import counted

# A refusal before the work makes at most this many Python calls, imports aside (the parser, the
# checks, the message; measured: at most about 20 000, with SymPy's caches cold). The refused work
# itself (a graph of 10^5 nodes, forty squarings) makes millions.
REFUSAL_CALLS = 100_000


def refused(call, error=DeriveError, *words, calls=REFUSAL_CALLS):
    """``call()`` raises ``error`` having made fewer than ``calls`` calls; its message contains
    every word."""
    with counted() as work, pytest.raises(error) as info:
        call()
    if os.environ.get("DERIVE_SHOW_CALLS"):
        print(f"\nrefusal: {work.n} calls: {str(info.value)[:70]}")
    assert work.n < calls, f"the refusal made {work.n} calls (at most {calls}): work started before it"
    message = str(info.value)
    for word in words:
        assert word in message, message
    return info.value


def eqs(text, **values):
    return lambda: Example.from_equations(text, values=values or None)


# --- 1. the budget for exact work ------------------------------------------------------------


@pytest.mark.parametrize("literal", ["1e999999999", "1e-999999999", "1" * 5000, "0." + "0" * 5000 + "1"])
def test_huge_literals_are_refused_before_any_arithmetic(literal):
    e = refused(eqs(f"z = x*{literal}", x=3), BudgetError, "line 1, column")
    assert e.limit in ("max_digits", "max_exponent") and e.limit in str(e)


def test_huge_literal_values_are_refused_from_the_api_and_the_cli():
    refused(lambda: derive.neuron(x="1e999999999", w=1, b=0, y=0), BudgetError, "max_exponent")
    from decimal import Decimal
    refused(lambda: derive.neuron(x=Decimal("1e-999999999"), w=1, b=0, y=0), BudgetError)
    refused(lambda: derive.neuron(x=10 ** 5000, w=1, b=0, y=0), BudgetError, "max_digits")


@pytest.mark.parametrize("text, limit", [
    ("z = x**100000000", "max_exponent"),
    ("z = 2**2**2**2**2**2 + x", "max_exponent"),
    ("z = exp(exp(exp(exp(exp(x)))))", "max_magnitude"),
    ("z = x**9000", "max_digits"),
])
def test_powers_are_estimated_before_they_are_computed(text, limit):
    e = refused(eqs(text, x=3), BudgetError, "line 1")
    assert e.limit == limit and limit in str(e)


def test_a_squaring_chain_stops_at_the_line_that_grows_too_large():
    lines = ["a0 = x"] + [f"a{i} = a{i - 1}**2" for i in range(1, 41)]
    e = refused(eqs("\n".join(lines), x=3), BudgetError, "max_digits")
    assert "line 15: `a14`" in str(e)  # the first line beyond the limit: 3**(2**14) has 7818 digits
    products = ["a0 = x"] + [f"a{i} = a{i - 1}*a{i - 1}" for i in range(1, 41)]
    refused(eqs("\n".join(products), x=3), BudgetError, "max_digits")


def test_within_the_budget_exact_values_stay_exact():
    ex = Example.from_equations("a = x**200\nL = a*x", values={"x": 3})
    assert ex.value("L") == sp.Integer(3) ** 201
    assert ex.grad("x") == 201 * sp.Integer(3) ** 200


def test_limits_are_options():
    with budget.limits(max_exponent=10 ** 9, max_digits=10 ** 6):
        ex = Example.from_equations("z = x**5000", values={"x": 3})
        assert ex.value("z") == sp.Integer(3) ** 5000
    refused(eqs("z = x**5000", x=3), BudgetError)  # back to the default
    with budget.limits(max_nodes=10):
        refused(lambda: derive.chain(depth=5), BudgetError, "max_nodes = 10")
    refused(lambda: budget.configure(max_digits=-1), DeriveError, "max_digits")
    refused(lambda: budget.configure(nonsense=1), DeriveError, "unknown limit")


def test_nesting_is_limited_below_the_recursion_limit():
    ok = "z = " + "exp(" * 20 + "x" + ")" * 20
    refused(eqs(ok, x=-3), BudgetError, "max_magnitude")  # but parses
    deep = "z = " + "exp(" * 141 + "x" + ")" * 141
    refused(eqs(deep, x=1), BudgetError, "max_nesting", "line 1, column")
    deep_parens = "z = " + "(" * 500 + "x" + ")" * 500
    refused(eqs(deep_parens, x=1), BudgetError, "max_nesting")


def test_depth_limits_hold_for_builders():
    refused(lambda: derive.chain(depth=100000), BudgetError, "max_nodes")
    big = [[0.1] * 1000 for _ in range(1000)]
    # counted from the shapes: about one call per weight to read the input, none per node
    refused(lambda: derive.mlp([1] * 1000, [big], [[0] * 1000], [0] * 1000), BudgetError, "max_nodes",
            calls=2 * 1000 * 1000 + REFUSAL_CALLS)


# --- 2. undefined is undefined everywhere ----------------------------------------------------


@pytest.mark.parametrize("text, words", [
    ("z = relu(sqrt(x))", ["square root of a negative number", "sqrt(x) with x = -1"]),
    ("z = max(log(x), 1)", ["log of a negative number"]),
    ("z = abs(sqrt(x))", ["square root of a negative number"]),
    ("z = min(1, x**(1/3))", ["fractional power of a negative number"]),
    ("z = sigmoid(log(x + 1))", ["log of 0"]),
    ("z = leaky_relu(1/(x + 1))", ["division by zero"]),
    ("z = tanh(sqrt(x)) + 1", ["square root"]),
    ("u = x + 2\nz = elu(sqrt(x*u))", ["line 2", "square root"]),
])
def test_undefined_inside_functions_is_refused_naming_node_and_line(text, words):
    name = text.splitlines()[-1].split("=")[0].strip()
    refused(eqs(text, x=-1), InvalidValue, f"`{name} =", "undefined", *words)


def test_every_registry_function_refuses_a_non_real_argument():
    from derive.core.functions import FUNCTIONS
    for name, spec in FUNCTIONS.items():
        first = "sqrt(x) > 0" if 0 in spec.conditions else "sqrt(x)"  # where takes a comparison
        args = ", ".join([first] + ["1"] * (spec.min_arity - 1))
        refused(eqs(f"z = {name}({args})", x=-4), InvalidValue, "of a negative number", "x = -4")


def test_kinks_and_ties_at_defined_values_still_work():
    ex = Example.from_equations("z = relu(sqrt(x) - 2)\nL = max(z, 0)", values={"x": 4})
    assert ex.value("L") == 0 and ex.grad("x") == 0
    ex = Example.from_equations("L = abs(sqrt(x) - 3)", values={"x": 16})
    assert ex.value("L") == 1 and ex.grad("x") == sp.Rational(1, 8)


# --- answers are graded under the same budget ----------------------------------------------------


@pytest.mark.parametrize("answer", ["1e999999999", "2**2**2**2**2**2", "3**100000000",
                                    "exp(exp(exp(exp(exp(1)))))", "10**5000"])
def test_answers_beyond_the_budget_are_graded_incorrect_quickly(answer):
    if answer == "10**5000":
        answer = 10 ** 5000  # a Python int over 4300 digits (str() of it fails)
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1)
    with counted() as work:
        report = ex.check({"z": 7, "dL/dw": answer})
    assert work.n < REFUSAL_CALLS, f"{work.n} calls: the answer's value was computed before it was refused"
    assert report.status("z") == "correct" and report.status("dL/dw") == "incorrect"
    assert "not graded" in report.hint("dL/dw") and "max_" in report.hint("dL/dw")
    assert "dL/dw" in report.to_text()


@pytest.mark.parametrize("formula", ["(w*x + b - y)**40*(x + w)**40", "x**100000000*w",
                                     "exp(exp(exp(exp(exp(w)))))"])
def test_symbolic_answers_are_compared_within_the_time_budget(formula, monkeypatch):
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1)
    report = ex.check({"dL/dw": formula})
    assert report.status("dL/dw") == "incorrect"
    right = ex.check({"a": "relu(w*x + b)", "L": "(relu(b + x*w) - y)**2"})  # true formulas still are
    assert right.status("a") == "correct" and right.status("L") == "correct"
    # On a machine so slow that simplify never finishes in time (every deadline expires at once:
    # the real timer, set to a microsecond, so the simplify is really interrupted and its work not
    # done), the comparison falls back to random points and grades the same.
    timers = []
    real_deadline = budget.deadline

    def expired(seconds):
        timers.append(seconds)
        return real_deadline(1e-6)
    monkeypatch.setattr(budget, "deadline", expired)
    slow = ex.check({"dL/dw": formula, "a": "relu(w*x + b)", "L": "(relu(b + x*w) - y)**2"})
    assert [slow.status(q) for q in ("dL/dw", "a", "L")] == ["incorrect", "correct", "correct"]
    assert timers and set(timers) == {budget.current().simplify_seconds}


def test_a_deadline_that_expires_at_once_leaves_no_timer_behind():
    """The timer may fire before the block is entered (a loaded machine descheduling us right after
    arming it): the block is still interrupted, and afterwards no timer is armed and no handler left."""
    import signal
    before = signal.getsignal(signal.SIGALRM)
    interrupted = 0
    for _ in range(300):
        with budget.deadline(1e-6) as late:
            sum(range(50_000))
        interrupted += late[0]
        assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
        assert signal.getsignal(signal.SIGALRM) is before
    assert interrupted == 300


def test_is_zero_gives_up_in_time(monkeypatch):
    x, y = sp.symbols("x y")
    with budget.limits(simplify_seconds=60):  # decided, on an idle machine or a busy one
        assert budget.is_zero(sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1) is True
        assert budget.is_zero(x - y) is False
    # a simplify that would never finish is stopped at the deadline: undecided, not stuck
    timers = []
    real_deadline = budget.deadline

    def recorded(seconds):
        timers.append(seconds)
        return real_deadline(seconds)

    def endless(expr, *args, **kwargs):
        while True:
            pass
    monkeypatch.setattr(budget, "deadline", recorded)
    monkeypatch.setattr(sp, "simplify", endless)
    with budget.limits(simplify_seconds=0.05):
        assert budget.is_zero(x - y) is None
    assert timers == [0.05]
    # too large to try at all: undecided without starting simplify
    big = sp.Add(*[sp.Symbol(f"s{i}") ** 2 for i in range(300)])  # 599 operations
    assert sp.count_ops(big) > budget.SIMPLIFY_MAX_OPS
    assert budget.is_zero(big) is None and timers == [0.05]


# --- 3. no internal errors ------------------------------------------------------------------------


def test_graphs_without_inputs_give_a_clear_error():
    refused(lambda: str(Example.from_equations("z = 1")), DeriveError, "no inputs", "`z`")
    refused(lambda: Example.from_expr("2*3"), DeriveError, "no inputs")


def test_unused_lines_and_constant_outputs_give_documents():
    ex = Example.from_equations("z = y\nL = tanh(3)", values={"y": 2})
    assert ex.grad("y") == 0 and "L" in str(ex)
    ex = Example.from_equations("z = x\nL = 3", values={"x": 1})
    assert ex.grad("x") == 0 and str(ex)


@pytest.mark.parametrize("call, words", [
    (lambda ex: ex.check({"z": 7}, rtol="abc"), ["rtol", "abc"]),
    (lambda ex: ex.check({"z": 7}, rtol=-1), ["rtol", "≥ 0"]),
    (lambda ex: ex.check({"z": 7}, atol=float("nan")), ["atol"]),
])
def test_bad_tolerances_are_refused(call, words):
    ex = derive.neuron(x=2, w=3, b=1, y=5)
    refused(lambda: call(ex), DeriveError, *words)


def test_wrongly_typed_arguments_are_refused():
    refused(lambda: Example.from_equations("z = w*x", values={"w": 1, "x": 2}, params=5), DeriveError, "params")
    refused(lambda: Example.from_equations("z = w*x", values=[1, 2]), DeriveError, "mapping")
    refused(lambda: derive.mlp([1], [[[1]]], [5], [1]), DeriveError, "biases[0]")
    refused(lambda: derive.mlp("abc", [[1]], 5, [1]), DeriveError, "inputs")
    refused(lambda: derive.mlp([1], [[["a"]]], [[0]], [1]), DeriveError, "w1_1_1")


def test_unicode_digits_and_line_separators_are_not_syntax():
    refused(eqs("z = x*٣", x=1), DeriveError, "`٣`")
    refused(eqs("z = x*３", x=1), DeriveError, "`３`")
    refused(eqs("z = x\u2028L = z*2", x=1), DeriveError, "column")
    refused(lambda: derive.neuron(x="٣", w=1, b=0, y=0), DeriveError, "cannot read")
    ex = derive.neuron(x=2, w=3, b=1, y=5)
    assert ex.check({"z": "7"}).status("z") == "correct"
    assert ex.check({"z": "٧"}).status("z") != "correct" if _readable(ex, "٧") else True


def _readable(ex, answer):
    try:
        ex.check({"z": answer})
        return True
    except DeriveError:
        return False


YAML_BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_spec_files_are_read_strictly(tmp_path):
    from derive.model.spec import load_spec
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(YAML_BOMB)
    refused(lambda: load_spec(bomb), DeriveError, "aliases", "line 2")
    dup = tmp_path / "dup.yaml"
    dup.write_text("equations: |\n  z = w*x\nvalues: {w: 1, x: 2}\nvalues: {w: 3, x: 4}\n")
    refused(lambda: load_spec(dup), DeriveError, "'values' appears twice", "line 4")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("title: caf\xe9\n".encode("latin-1"))
    refused(lambda: load_spec(latin), DeriveError, "not UTF-8", "line 1")
    big = tmp_path / "big.yaml"
    big.write_text("title: " + "x" * 2_000_000)
    refused(lambda: load_spec(big), DeriveError, "max_file_bytes")
    refused(lambda: load_spec("/dev/zero"), DeriveError, "not a regular file")
    refused(lambda: load_spec(tmp_path), DeriveError, "folder")
    import os
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    refused(lambda: load_spec(fifo), DeriveError, "not a regular file")


def test_variant_index_is_bounded(tmp_path):
    from derive.courseware.homework import Generator
    from derive.model.spec import load_spec
    spec = tmp_path / "hw.yaml"
    spec.write_text("equations: |\n  z = w*x\nrandom:\n  w: {integers: [1, 100000000]}\nvalues: {x: 2}\n")
    gen = Generator(load_spec(spec), 0)
    refused(lambda: gen.variants(10_000_000), BudgetError, "max_variants")


# --- 4. nothing lost --------------------------------------------------------------------------------

HW = "equations: |\n  z = w*x\n  L = (z - 1)**2\nrandom:\n  w: {integers: [1, 50]}\nvalues: {x: 2}\nask: [dL/dw]\n"


def _spec(tmp_path):
    from derive.model.spec import load_spec
    path = tmp_path / "hw.yaml"
    path.write_text(HW)
    return load_spec(path)


def test_force_never_deletes_files_derive_did_not_write(tmp_path):
    from derive.courseware.homework import generate
    out = tmp_path / "userdir"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    refused(lambda: generate(_spec(tmp_path), 2, 0, out, ["md"], force=True), DeriveError, "not written by derive")
    assert (out / "thesis.tex").read_text() == "years of work"
    hw = tmp_path / "hw"
    generate(_spec(tmp_path), 2, 0, hw, ["md"])
    (hw / "notes.txt").write_text("mine")  # added to derive's folder by the user
    refused(lambda: generate(_spec(tmp_path), 2, 0, hw, ["md"], force=True), DeriveError, "notes.txt")
    (hw / "notes.txt").unlink()
    generate(_spec(tmp_path), 3, 1, hw, ["md"], force=True)  # derive's own folder: replaced
    assert "hw-s1-3" not in (hw / "answers.json").read_text() and "-s1-3" in (hw / "answers.json").read_text()


def test_a_file_created_during_a_run_is_kept(tmp_path, monkeypatch):
    import derive.courseware.homework as hw_module
    from derive.courseware.homework import generate
    out = tmp_path / "hw"
    generate(_spec(tmp_path), 2, 0, out, ["md"])
    original = hw_module.answer_key_csv

    def meanwhile(*args):
        (out / "late.txt").write_text("written during the run")
        return original(*args)
    monkeypatch.setattr(hw_module, "answer_key_csv", meanwhile)
    generate(_spec(tmp_path), 2, 1, out, ["md"], force=True)
    assert (out / "late.txt").read_text() == "written during the run"


def test_concurrent_runs_into_one_folder_fail_clearly(tmp_path):
    from derive.courseware.homework import generate
    from derive.io.files import FolderClaim
    out = tmp_path / "hw"
    with FolderClaim(out):  # another run holds the folder
        refused(lambda: generate(_spec(tmp_path), 2, 0, out, ["md"]), DeriveError, "another derive run")
    generate(_spec(tmp_path), 2, 0, out, ["md"])  # released: works
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hw", "hw.yaml"]  # no lock left


def test_special_files_and_dangling_links_are_never_replaced(tmp_path):
    import os
    from derive.io.files import write_atomic
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    refused(lambda: write_atomic(fifo, "x", force=True), DeriveError, "device, pipe or socket")
    assert fifo.is_fifo()
    refused(lambda: write_atomic("/dev/null", "x", force=True), DeriveError, "device")
    link = tmp_path / "link.md"
    link.symlink_to(tmp_path / "missing.md")
    refused(lambda: write_atomic(link, "x"), DeriveError, "symbolic link")
    refused(lambda: write_atomic(link, "x", force=True), DeriveError, "symbolic link")
    assert link.is_symlink() and not (tmp_path / "missing.md").exists()


def test_side_files_only_after_every_check(tmp_path):
    import subprocess
    import sys
    (tmp_path / "v.md").write_text("mine")
    out = subprocess.run([sys.executable, "-m", "derive.cli", "variance", "--depth", "2", "--width", "4",
                          "--batch", "8", "--format", "md", "-o", "v.md"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "exists" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.md"]  # no v.png written first


def test_sigterm_removes_staging_and_prints_one_line(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    spec = tmp_path / "hw.yaml"
    spec.write_text(HW.replace("[1, 50]", "[1, 100000]"))
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "derive.cli", "homework", str(spec), "--variants", "400",
                             "--out", str(tmp_path / "hw"), "--format", "md,tex", "--jobs", "2"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    for _ in range(1200):  # up to a minute (1200 polls 50 ms apart) for the staging folder
        if any(p.name.startswith(".hw.") and p.is_dir() for p in tmp_path.iterdir()):
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # while the staging folder is being filled
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, 0), err
    if proc.returncode == 130:
        assert err.strip().splitlines() == ["derive: interrupted"], err
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left in (["hw.yaml", "tmp"], ["hw", "hw.yaml", "tmp"]), left  # no staging folder, no lock
    assert not list((tmp_path / "tmp").iterdir())  # no temporary build folders


# --- 5. option validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["homework", "s.yaml", "--out", "o", "--jobs", "200"], "--jobs"),
    (["homework", "s.yaml", "--out", "o", "--jobs", "0"], "from 1 to"),
    (["homework", "s.yaml", "--out", "o", "--variants", "10000000"], "max_variants"),
    (["homework", "s.yaml", "--out", "o", "--variants", "0"], "--variants"),
    (["homework", "s.yaml", "--out", "o", "--format", ""], "--format is empty"),
    (["check", "s.yaml", "a.yaml", "--rtol", "-1"], "≥ 0"),
    (["check", "s.yaml", "a.yaml", "--atol", "inf"], "finite"),
    (["chain", "--depth", "100000"], "max_nodes"),
    (["variance", "--depth", "1000", "--width", "4096", "--batch", "100000"], "limit"),
    (["variance", "--plot", "p.xyz"], ".png, .pdf or .svg"),
    (["neuron", "--x", "1e999999999", "--w", "1", "--b", "0", "--y", "0"], "max_exponent"),
    (["--limit", "max_digits=abc", "neuron"], "max_digits"),
])
def test_options_out_of_range_are_one_line_errors(args, words, capsys):
    from derive.cli import main
    with counted() as work, pytest.raises(SystemExit) as info:
        main(args)
    assert work.n < REFUSAL_CALLS, f"{work.n} calls before the option was refused"
    err = capsys.readouterr().err
    assert info.value.code == 2 and len(err.strip().splitlines()) == 1 and words in err, err


@pytest.mark.parametrize("where", ["beside", "elsewhere"])
def test_force_through_a_symlink_replaces_its_folder_and_keeps_the_link(tmp_path, where):
    """Issue 27: `--out LINK --force` with LINK a link to derive's folder left `.LINK.old-<pid>`."""
    from derive.courseware.homework import generate
    real = tmp_path / "real"
    generate(_spec(tmp_path), 2, 0, real, ["md"])
    parent = tmp_path if where == "beside" else tmp_path / "other"
    parent.mkdir(exist_ok=True)
    link = parent / "LINK"
    link.symlink_to(real)
    generate(_spec(tmp_path), 3, 5, link, ["md"], force=True)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert "-s5-3" in (real / "answers.json").read_text()
    assert sorted(p.name for p in parent.iterdir()) == ["LINK"] + (["hw.yaml", "real"] if where == "beside" else [])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["hw.yaml", "real"] + (["other"] if where != "beside" else ["LINK"]))
    from derive.io.files import current_umask
    assert real.stat().st_mode & 0o777 == 0o777 & ~current_umask()  # an ordinary folder's mode


# --- issue 27: no internal error from a corpus of hostile files ----------------------------------

BIG = "1" * 4400  # past Python's 4300-digit int-string limit


def _npz_files(tmp_path):
    import io
    import zipfile

    import numpy as np
    from numpy.lib import format as npy

    def header(shape, descr="<f8"):
        buf = io.BytesIO()
        npy.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
        return buf.getvalue()
    files = {}
    bomb = tmp_path / "bomb.npz"  # 400 MB of zeros from well under a megabyte
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("dL/dw.npy", "w", force_zip64=True) as f:
            f.write(header((50_000_000,)))
            for _ in range(25):
                f.write(b"\0" * (1 << 24))
    files["bomb"] = bomb
    shape = tmp_path / "shape.npz"
    with zipfile.ZipFile(shape, "w") as z:
        z.writestr("dL/dw.npy", header((100_000, 100_000)) + b"\0" * 16)
    files["shape"] = shape
    strings = tmp_path / "strings.npz"
    np.savez(strings, **{"dL/dw": np.array(["8", "9"])})
    files["strings"] = strings
    pickled = tmp_path / "object.npz"
    np.savez(pickled, **{"dL/dw": np.array([{"a": 1}], dtype=object)})
    files["object"] = pickled
    version = tmp_path / "version.npz"
    with zipfile.ZipFile(version, "w") as z:
        z.writestr("dL/dw.npy", b"\x93NUMPY\x09\x00" + b"\0" * 64)
    files["version"] = version
    return files


def hostile_cases(tmp_path):
    """(name, argv): each must end with exit 0, 1 or 2 and never an internal error."""
    def write(name, text):
        (tmp_path / name).write_text(text, encoding="utf-8")
        return str(tmp_path / name)
    ok = write("ok.yaml", "equations: |\n  z = w*x + b\n  L = (z - y)**2\nvalues: {x: 2, w: 3, b: 1, y: 5}\n")
    cases = [
        ("big value", ["render", write("v.yaml", f"equations: |\n  z = w*x\nvalues: {{w: {BIG}, x: 2}}\n")]),
        ("big random bound", ["homework", write("r.yaml", f"equations: |\n  z = w*x\nvalues: {{x: 2}}\n"
                                                          f"random:\n  w: {{integers: [1, {BIG}]}}\n"),
                              "--out", str(tmp_path / "hw1"), "--variants", "2"]),
        ("big choice", ["homework", write("c.yaml", f"equations: |\n  z = w*x\nvalues: {{x: 2}}\n"
                                                    f"random:\n  w: {{choice: [1, {BIG}]}}\n"),
                        "--out", str(tmp_path / "hw2"), "--variants", "2"]),
        ("big uniform", ["homework", write("u.yaml", f"equations: |\n  z = w*x\nvalues: {{x: 2}}\n"
                                                     f"random:\n  w: {{uniform: [0, {BIG}], decimals: 1}}\n"),
                         "--out", str(tmp_path / "hw3"), "--variants", "2"]),
        ("big answer", ["check", ok, write("a1.yaml", f"z: {BIG}\n")]),
        ("big string answer", ["check", ok, write("a2.yaml", f"z: '{BIG}'\ndL/dw: '{BIG}/3'\n")]),
        ("big fraction answer", ["check", ok, write("a3.yaml", f"dL/dw: '{BIG}/{BIG}'\n")]),
        ("big lr", ["render", write("lr.yaml", f"equations: |\n  z = w*x\nvalues: {{w: 1, x: 2}}\nlr: {BIG}\n")]),
        ("big precision", ["render", ok, "--precision", BIG]),
        ("big seed", ["homework", write("s.yaml", "equations: |\n  z = w*x\nvalues: {x: 2}\n"
                                                  "random:\n  w: {integers: [1, 9]}\n"),
                      "--out", str(tmp_path / "hw4"), "--variants", "2", "--seed", BIG]),
        ("big variant id", ["check", str(tmp_path / "s.yaml"), write("a4.yaml", f"'00000000-s1-{BIG}': {{z: 1}}\n")]),
        ("big limit", ["--limit", f"max_digits={BIG}", "render", ok]),
        ("big hex", ["check", ok, write("a5.yaml", "z: 0x" + "f" * 4000 + "\n")]),
        ("big float text", ["check", ok, write("a6.yaml", "z: 1" + "0" * 5000 + ".5\n")]),
        ("deep answer", ["check", ok, write("a7.yaml", "z: '" + "(" * 5000 + "1" + ")" * 5000 + "'\n")]),
        ("nested yaml", ["check", ok, write("a8.yaml", "z: " + "[" * 3000 + "]" * 3000 + "\n")]),
        ("binary yaml", ["check", ok, write("a9.yaml", "z: !!binary AAAA\n")]),
        ("timestamp", ["check", ok, write("a10.yaml", "z: 2001-12-14\n")]),
        ("set", ["check", ok, write("a11.yaml", "z: !!set {a, b}\n")]),
    ]
    cases += [(f"npz {name}", ["check", ok, str(path)]) for name, path in _npz_files(tmp_path).items()]
    return cases


def test_hostile_files_never_cause_an_internal_error(tmp_path, capsys):
    from derive.cli import main
    failures = []
    for name, argv in hostile_cases(tmp_path):
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            code = e.code
        err = capsys.readouterr().err
        if code not in (0, 1, 2) or "internal error" in err or "Traceback" in err:
            failures.append((name, code, err[-300:]))
        elif code == 2:
            assert len(err.strip().splitlines()) == 1, (name, err)
    assert not failures, failures


# --- issue 27: verdicts that cannot be gamed --------------------------------------------------------


@pytest.mark.parametrize("values", [{"x": 2, "w": 3, "b": 1, "y": 5}, None], ids=["numbers", "symbolic"])
def test_an_answer_that_restates_its_step_is_not_a_value(values):
    ex = Example.from_equations("z = w*x + b\na = sigmoid(z)\nL = (a - y)**2", values=values)
    restating = {"z": "z", "a": "a", "L": "L", "dz/dw": "L/a"}
    report = ex.check(restating)
    for key in restating:
        assert report.status(key) == "incorrect", (key, report.to_text())
        assert "not a value" in report.hint(key), report.hint(key)
    if values is not None:
        assert ex.check({"x": "x"}).status("x") == "incorrect"
        assert "give its value" in ex.check({"x": "x"}).hint("x")
    later = ex.check({"z": "a - sigmoid(z) + w*x + b"})
    assert later.status("z") == "incorrect" and "not a value" in later.hint("z")
    # the steps before it, and the step itself in a derivative, are a formula's to use
    fine = ex.check({"a": "sigmoid(z)", "L": "(a - y)**2", "da/dz": "a*(1 - a)",
                     "dL/da": "2*(a - y)", "dL/dz": "2*(a - y)*a*(1 - a)"})
    assert all(fine.status(k) == "correct" for k in fine.verdicts), fine.to_text()


def test_restating_is_refused_in_builders_too():
    ex = derive.chain(depth=2, weight=2, x=1, activation="tanh", loss="half_squared_error", y=0)
    report = ex.check({"z1": "z1", "a2": "a2", "L": "L", "a1": "a2"})
    assert all(report.status(k) == "incorrect" and "not a value" in report.hint(k) for k in report.verdicts)


READ_BACK = [("z = exp(x)\na = sigmoid(z)\nL = a*c + sqrt(x)", {"x": 1, "c": 2}),
             ("z = exp(x)*w\nL = z*w", {"x": "0.5", "w": 3}),
             ("z = tanh(w*x)\nL = log(z + 2)", {"x": "0.3", "w": -2}),
             ("z = w*x + b\na = gelu(z)\nL = (a - y)**2", {"x": 1, "w": "0.5", "b": 0, "y": 1}),
             ("z = softplus(w*x)\nL = elu(z - 3)", {"x": 1, "w": 1}),
             ("z = silu(x)*k\nL = z**(1/3)", {"x": 2, "k": 3})]


@pytest.mark.parametrize("text, values", READ_BACK)
def test_every_printed_form_of_an_exact_value_reads_back(text, values):
    """str() (E, pi), the text document (e^(1/2), ·, −) and the LaTeX the Markdown shows."""
    from derive.rendering.printing import printer_for
    ex = Example.from_equations(text, values=values)
    for key in ex.keys():
        value = ex.check({key: 0}).verdicts[key].expected
        forms = {"str": str(value), "text": printer_for("text").doprint(value),
                 "latex": printer_for("latex").doprint(value)}
        for form, answer in forms.items():
            assert ex.check({key: answer}).status(key) == "correct", (key, form, answer)
    assert ex.check({"z": "E"}).status("z") == ("correct" if text.startswith("z = exp(x)\n") else "incorrect")
    e = Example.from_equations("z = exp(x)\nL = z*pi_", values={"x": 1, "pi_": 1})
    for answer in ["E", "e", "exp(1)", "ℯ", "e^1", "\\mathrm{e}"]:
        assert e.check({"z": answer}).status("z") == "correct", answer
    assert e.check({"L": "pi"}).status("L") == "incorrect"


# --- issue 27: undefined inside one line, where SymPy's simplification would cancel it ---------------

def raises_with(call, error, *words):
    """``call()`` raises ``error`` whose message holds every word (issue 27's tests time nothing:
    refusal times are measured in bench/bench_reliability.py)."""
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), str(info.value)
    return info.value


@pytest.mark.parametrize("text, x, words", [
    ("z = x/x", 0, ["division by zero", "1/x with x = 0"]),
    ("z = (x-1)/(x-1)", 1, ["division by zero", "x = 1"]),
    ("z = log(x) - log(x)", -1, ["log of a negative number", "log(x) with x = -1"]),
    ("z = sqrt(x)**2", -1, ["square root of a negative number", "sqrt(x) with x = -1"]),
    ("z = exp(log(x))", -1, ["log of a negative number"]),
    ("z = 0*log(x)", 0, ["log of 0"]),
    ("z = sqrt(x)*0", -1, ["square root of a negative number"]),
    ("u = x + 1\nz = u*0/(x - 2) + tanh(u)", 2, ["line 2", "division by zero"]),
    ("u = 2*x\nz = u + (log(u - 4) - log(u - 4))*u", 2, ["line 2", "log of 0"]),
])
def test_undefined_inside_one_line_is_refused_before_simplification(text, x, words):
    name = text.splitlines()[-1].split("=")[0].strip()
    raises_with(eqs(text, x=x), derive.UndefinedValue, f"`{name} =", "undefined", *words)
    two = text.splitlines()[:-1] + [f"{name}_a = {text.splitlines()[-1].split('=', 1)[1]}"]
    raises_with(eqs("\n".join(two), x=x), derive.UndefinedValue)  # as on two lines: the same verdict


@pytest.mark.parametrize("text, name, value", [
    ("z = sqrt(((w1)**0.5)**2 + 0.5)", "w1", 0),
    ("z = sqrt(w1)**2 + w1", "w1", 0),
    ("u = w1 + 1\nz = (u - 1)**(1/3)*0 + u", "u", 1),
])
def test_an_infinite_derivative_hidden_by_simplification_is_raises_with(text, name, value):
    ex = Example.from_equations(text, values={name if name != "u" else "w1": value if name != "u" else 0})
    assert ex.value("z") is not None  # the value is defined
    wrt = "w1"
    e = raises_with(lambda: ex.grad(wrt), derive.UndefinedValue, "derivative", "infinite derivative")
    assert "line" in str(e)
    torch = pytest.importorskip("torch")
    if text.startswith("z = sqrt(((w1)"):  # torch agrees: nan
        w = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
        torch.sqrt((w ** 0.5) ** 2 + 0.5).backward()
        assert torch.isnan(w.grad)


def test_defined_lines_with_the_same_shape_still_work():
    assert Example.from_equations("z = x/x", values={"x": 3}).grad("x") == 0
    assert Example.from_equations("z = sqrt(x)**2", values={"x": 4}).value("z") == 4
    ex = Example.from_equations("z = sqrt(((w1)**0.5)**2 + 0.5)", values={"w1": 2})
    assert ex.grad("w1") == 1 / (2 * sp.sqrt(sp.Rational(5, 2)))
    assert Example.from_equations("z = 0*log(x) + x", values={"x": 1}).grad("x") == 1


# --- issue 27: long sums and products, differentiated term by term ---------------------------------


def test_long_sums_and_products_have_the_gradients_of_sympy_diff():
    names = [f"x{i}" for i in range(90)]
    values = {n: sp.Rational(i - 40, 7) for i, n in enumerate(names)}
    text = "L = " + " + ".join(f"{n}*{names[(i + 1) % 90]}" if i % 3 == 0 else f"tanh({n})" if i % 3 == 1
                               else n for i, n in enumerate(names)) + " + x0*x1*x2*y"
    ex = Example.from_equations(text, values={**values, "y": 3})
    symbols = {n: sp.Symbol(n) for n in [*names, "y"]}
    formula = sp.sympify(text.split("=", 1)[1], locals=symbols)
    at = {symbols[n]: v for n, v in {**values, "y": 3}.items()}
    for n in ["x0", "x1", "x2", "x3", "x44", "x89", "y"]:
        assert sp.simplify(ex.grad(n) - sp.diff(formula, symbols[n]).subs(at)) == 0, n
    same = Example.from_equations("L = " + " + ".join(["x"] * 500) + " - x*w", values={"x": 2, "w": 3})
    assert same.value("L") == 994 and same.grad("x") == 497 and same.grad("w") == -2


def test_large_explicit_values_are_exact_and_the_same_as_expanded():
    from derive.core.engine import expand_quantities
    text = ("n0 = sigmoid(w) - x\nn1 = gelu(n0) - x\nn2 = softplus(w * n1)\nn5 = sin(n0 + n2)\n"
            "n6 = sqrt(b - n5)\nn7 = sigmoid(n5) * n6")
    ex = Example.from_equations(text, values={"w": 1, "x": -1, "b": 2})
    for p in ex.inputs:
        given, full = ex.grad(p), expand_quantities(ex.evaluation.grad(p, "n7"))
        assert abs(sp.N(given - full, 50)) < sp.Float("1e-45"), p


@pytest.mark.parametrize("fmt", ["moodle", "qti", "gift"])
def test_an_lms_export_of_a_value_beyond_a_double_is_refused_by_name(tmp_path, fmt, capsys):
    """An LMS keeps numeric answers as doubles: exp(800) would be written as inf and mark every
    student wrong. The export names the variant and the step instead."""
    from derive.cli import main
    spec = tmp_path / "big.yaml"
    spec.write_text("equations: |\n  z = w*x\n  L = exp(z)\nvalues: {x: 800}\n"
                    "random:\n  w: {integers: [1, 2]}\nask: [dL/dw]\n")
    with pytest.raises(SystemExit) as info:
        main(["homework", str(spec), "--variants", "2", "--seed", "1", "--format", fmt,
              "--out", str(tmp_path / "hw")])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1, err
    assert "dL/dw" in err and "beyond the range" in err and "variant" in err, err
    assert not (tmp_path / "hw").exists()


def test_answer_keys_beyond_a_double_hold_the_value_as_text_never_inf(tmp_path):
    """A homework whose answers are beyond a double's range still gets its sheets and keys: the
    JSON and CSV keys write the value (and its tolerance) as text in scientific notation."""
    import json
    from derive.cli import main
    spec = tmp_path / "big.yaml"
    spec.write_text("equations: |\n  z = w*x\n  L = exp(z)\nvalues: {x: 800}\n"
                    "random:\n  w: {integers: [1, 2]}\nask: [dL/dw]\n")
    main(["homework", str(spec), "--variants", "2", "--seed", "1", "--out", str(tmp_path / "hw")])
    rows = json.loads((tmp_path / "hw" / "answers.json").read_text())
    by_w = {r["values"]["w"]: r for r in rows}
    exact = 800 * sp.exp(800 * 2)
    assert by_w[2]["answers"]["dL/dw"] == "5.9464946459695844e+697"
    assert abs(sp.Float(by_w[2]["answers"]["dL/dw"], 30) / sp.N(exact, 30) - 1) < 1e-16
    assert float(sp.Float(by_w[1]["answers"]["dL/dw"], 17) / sp.N(800 * sp.exp(800), 20)) == pytest.approx(1, abs=1e-15)
    assert by_w[2]["tolerance"]["dL/dw"] == "5.0e+693"  # half a unit in the 4th figure of 5.946e697
    csv_text = (tmp_path / "hw" / "answers.csv").read_text()
    assert "inf" not in csv_text and "e+697" in csv_text


def test_a_sum_beyond_max_terms_is_refused_before_parsing_and_within_it_is_exact():
    big = "L = " + " + ".join(["x"] * 100_000)
    with counted() as work, pytest.raises(BudgetError, match="max_terms") as info:
        Example.from_equations(big, values={"x": 2})
    assert work.n < REFUSAL_CALLS, f"{work.n} calls before the sum was refused"
    assert "have 99999 operations" in str(info.value)
    with budget.limits(max_terms=200_000), pytest.raises(BudgetError, match="max_nodes"):
        Example.from_equations("\n".join(f"z{i} = x" for i in range(6000)), values={"x": 1})
    ok = Example.from_equations("L = " + " + ".join(f"{i % 7 - 3}*x*x" for i in range(3000)) + " - w",
                                values={"x": 3, "w": -1})
    assert ok.value("L") == sum(i % 7 - 3 for i in range(3000)) * 9 + 1
    assert ok.grad("x") == sum(i % 7 - 3 for i in range(3000)) * 6 and ok.grad("w") == -1
