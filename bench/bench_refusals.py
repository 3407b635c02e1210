"""How long a refusal takes (issue 17's target: well under a second each, median), moved here from
the tests (issue 23: a test counts the work a refusal does, tests/work.py; a clock measures the
machine's load). Also prints each refusal's call count, the number the tests bound.
Run: python bench/bench_refusals.py [repeats]"""
import statistics
import sys
import time
from pathlib import Path

import derive
from derive import DeriveError, Example
from derive.core import budget

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from work import counted  # noqa: E402


def eqs(text, **values):
    return lambda: Example.from_equations(text, values=values or None)


def cli(*args):
    def call():
        import contextlib
        import io
        from derive.cli import main
        with contextlib.redirect_stderr(io.StringIO()):
            main(list(args))
    return call


BIG = [[0.1] * 1000 for _ in range(1000)]
SQUARINGS = "\n".join(["a0 = x"] + [f"a{i} = a{i - 1}**2" for i in range(1, 41)])
REFUSALS = {
    "literal 1e999999999": eqs("z = x*1e999999999", x=3),
    "power x**100000000": eqs("z = x**100000000", x=3),
    "tower 2**2**2**2**2**2": eqs("z = 2**2**2**2**2**2 + x", x=3),
    "exp nested five deep": eqs("z = exp(exp(exp(exp(exp(x)))))", x=3),
    "forty squarings": eqs(SQUARINGS, x=3),
    "nesting 141 exps": eqs("z = " + "exp(" * 141 + "x" + ")" * 141, x=1),
    "chain(depth=100000)": lambda: derive.chain(depth=100000),
    "mlp with a 1000x1000 layer": lambda: derive.mlp([1] * 1000, [BIG], [[0] * 1000], [0] * 1000),
    "undefined relu(sqrt(x))": eqs("z = relu(sqrt(x))", x=-1),
    "register z**99999999": lambda: derive.register_activation("huge", "z**99999999"),
    "cli chain --depth 100000": cli("chain", "--depth", "100000"),
    "cli variance too large": cli("variance", "--depth", "1000", "--width", "4096", "--batch", "100000"),
}
ANSWERS = ["1e999999999", "3**100000000", "(w*x + b - y)**40*(x + w)**40", "exp(exp(exp(exp(exp(w)))))"]


def refuse(call):
    try:
        call()
    except (DeriveError, SystemExit):
        return
    raise AssertionError("not refused")


def median_ms(call, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(repeats=5):
    print(f"refusal (median of {repeats})            ms    calls")
    for name, call in REFUSALS.items():
        refuse(call)  # warm up: imports, caches
        with counted() as work:
            refuse(call)
        print(f"  {name:32} {median_ms(lambda: refuse(call), repeats):7.1f} {work.n:8}")
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1)
    print(f"answers graded (simplify_seconds = {budget.current().simplify_seconds})")
    for answer in ANSWERS:
        ex.check({"dL/dw": answer})
        with counted() as work:
            ex.check({"dL/dw": answer})
        print(f"  {answer[:32]:32} {median_ms(lambda: ex.check({'dL/dw': answer}), repeats):7.1f} {work.n:8}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
