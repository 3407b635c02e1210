"""Issue 27: cost that follows input size. Prints, for each case, the seconds it takes in-process
(after imports): long sums and products, the mixed-function spec, refusals (deep nesting, huge
choice lists and answers, a zip bomb), and the worst of 200 seeded random 4–8-line graphs over
every registry function (build, every gradient, the text document).

    python bench/bench_reliability.py            # all of it
    python bench/bench_reliability.py graphs     # only the random graphs
"""
from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import derive  # noqa: E402
from derive import DeriveError, Example  # noqa: E402


def timed(label, call, width=58):
    start = time.perf_counter()
    try:
        call()
        outcome = "ok"
    except DeriveError as e:
        outcome = f"refused ({type(e).__name__})"
    elapsed = time.perf_counter() - start
    print(f"{label:<{width}} {elapsed:7.3f} s  {outcome}")
    return elapsed


MIXED = """p = sigmoid(w*x + b)
h = gelu(p*u) + hinge(cos(w), y) + binary_cross_entropy(p, y)
q = logsumexp(h, leaky_relu(u - p, 0.1), x)
L = q*h + leaky_relu(h)"""


def sizes():
    names = [f"x{i}" for i in range(400)]
    timed("sum of 400 distinct inputs, value + every gradient",
          lambda: [Example.from_equations("L = " + " + ".join(names), values={n: i for i, n in enumerate(names)}).grad(n)
                   for n in names[:5]])
    timed("x+x+…+x, 10^5 terms", lambda: Example.from_equations("L = " + "+".join(["x"] * 100_000),
                                                                 values={"x": 2}).grad("x"))
    timed("x*x*…*x, 2000 factors", lambda: Example.from_equations("L = " + "*".join(["x"] * 2000),
                                                                   values={"x": 1}).grad("x"))
    ex = lambda: Example.from_equations(MIXED, values={"w": "0.5", "x": 1, "b": 0, "u": 2, "y": 1})  # noqa: E731
    timed("the mixed spec (BCE, gelu, hinge, cos, logsumexp, leaky_relu): build", ex)
    timed("  … to_text()", lambda: ex().to_text())
    timed("  … to_markdown()", lambda: ex().to_markdown())
    chain = "\n".join(["a0 = relu(w*x)"] + [f"a{i} = relu(a{i - 1} + b)" for i in range(1, 2400)])
    timed("2,400-line chain within max_nodes: build + grad",
          lambda: Example.from_equations(chain, values={"w": 1, "x": 1, "b": "0.5"}).grad("w"))


def refusals():
    big = derive.neuron(x=2, w=3, b=1, y=5)
    timed("refuse: 400000 nested parentheses in an equation",
          lambda: Example.from_equations("z = " + "(" * 400_000 + "x" + ")" * 400_000, values={"x": 1}))
    timed("refuse: exp( nested 100000 deep",
          lambda: Example.from_equations("z = " + "exp(" * 100_000 + "x" + ")" * 100_000, values={"x": 1}))
    timed("grade: an answer of 400000 nested parentheses",
          lambda: big.check({"z": "(" * 400_000 + "7" + ")" * 400_000}).to_text())
    timed("grade: a 10 MB answer string", lambda: big.check({"z": "7" * 10_000_000}).to_text())
    timed("grade: a 10 MB formula answer", lambda: big.check({"z": "x+" * 3_000_000 + "1"}).to_text())
    timed("refuse: 10^5 unary minus signs",
          lambda: Example.from_equations("z = " + "-" * 100_000 + "x", values={"x": 1}))
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "hw.yaml"
        spec.write_text("equations: |\n  z = w*x\nvalues: {x: 2}\nrandom:\n  w: {choice: ["
                        + ", ".join(str(i) for i in range(100_000)) + "]}\n")
        from derive.courseware.homework import Generator
        from derive.model.spec import load_spec
        timed("homework: a choice of 10^5 items, 2 variants",
              lambda: Generator(load_spec(spec), 0).variants(2))
        import io
        import zipfile

        import numpy as np
        from numpy.lib import format as npy
        bomb = Path(tmp) / "bomb.npz"
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
            buf = io.BytesIO()
            npy.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (100_000_000,)})
            with z.open("dL/dw.npy", "w", force_zip64=True) as f:
                f.write(buf.getvalue())
                for _ in range(48):
                    f.write(b"\0" * (1 << 24))
        from derive.model.spec import load_answers
        timed("refuse: a zip-bomb .npz (800 MB inflated)", lambda: load_answers(bomb))


def random_graph(rng: random.Random, functions) -> tuple[str, dict]:
    inputs = rng.sample(["x", "w", "b", "y", "v", "c"], rng.randint(2, 4))
    values = {n: rng.choice([rng.randint(-3, 3), round(rng.uniform(-2, 2), 1)]) for n in inputs}
    names, lines = list(inputs), []
    for i in range(rng.randint(4, 8)):
        spec = rng.choice(functions)
        args = [rng.choice(names) for _ in range(spec.min_arity)]
        if rng.random() < 0.5:
            args[0] = f"{rng.choice(names)} {rng.choice('+-*')} {args[0]}"
        call = f"{spec.name}({', '.join(args)})"
        rhs = call if rng.random() < 0.5 else f"{call} {rng.choice('+-*')} {rng.choice(names)}"
        lines.append(f"n{i} = {rhs}")
        names.append(f"n{i}")
    return "\n".join(lines), values


def graphs(count=200):
    from derive.core.functions import FUNCTIONS
    functions = [s for s in FUNCTIONS.values() if not s.conditions]
    rng = random.Random(27)
    worst, times, refused = (0.0, ""), [], 0
    for _ in range(count):
        text, values = random_graph(rng, functions)
        start = time.perf_counter()
        try:
            ex = Example.from_equations(text, values=values)
            for p in ex.inputs:
                ex.grad(p)
            ex.to_text()
        except DeriveError:
            refused += 1
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        worst = max(worst, (elapsed, text))
    times.sort()
    print(f"{count} random 4–8-line graphs over {len(functions)} registry functions: "
          f"median {times[len(times) // 2]:.3f} s, 95th {times[int(len(times) * 0.95)]:.3f} s, "
          f"worst {worst[0]:.3f} s ({refused} refused as undefined or beyond the budget)")
    print("worst case:\n  " + worst[1].replace("\n", "\n  "))


if __name__ == "__main__":
    parts = sys.argv[1:] or ["sizes", "refusals", "graphs"]
    start = time.perf_counter()
    import derive.cli  # noqa: F401 - start-up, not counted below
    print(f"start-up (imports): {time.perf_counter() - start:.2f} s")
    for part in parts:
        globals()[part]()
