"""Engine speed: a D-layer sigmoid chain from equations, every weight gradient exact.

Target (issue 2): D = 1000 in ≤ 2 s; t(1000)/t(100) ≤ 12. Prints medians of several runs,
each also as a ratio to a same-run `python -c "import sympy"` (reference.py), timed between runs.
Run: python bench/bench_engine.py [repeats]
"""
import statistics
import sys
import time

import derive
from derive.core import engine
from reference import Reference


def chain_text(depth: int, activation: str = "sigmoid") -> str:
    lines, prev = [], "x"
    for layer in range(1, depth + 1):
        lines.append(f"z{layer} = w{layer}*{prev}")
        lines.append(f"a{layer} = {activation}(z{layer})")
        prev = f"a{layer}"
    lines.append(f"L = 1/2*({prev} - y)**2")
    return "\n".join(lines)


def run(depth: int, repeat: int = 0) -> float:
    # Fresh weights on every repeat, and the graph built anew: derive remembers values per
    # expression and graphs per text, and a benchmark that asks the same question twice would
    # measure the memory, not the engine.
    engine._GRAPHS.clear()
    text = chain_text(depth)
    weight = f"1.{5 + repeat}"
    values = {"x": 1, "y": 0, **{f"w{l}": weight for l in range(1, depth + 1)}}
    start = time.perf_counter()
    ex = derive.Example.from_equations(text, values=values)
    grads = ex.gradients()
    elapsed = time.perf_counter() - start
    assert len(grads) == depth
    return elapsed


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    medians, ref, times = {}, Reference(), {100: [], 1000: []}
    for k in range(repeats):
        for depth in times:
            ref.sample()
            times[depth].append(run(depth, k))
    print(ref.summary())
    for depth in times:
        medians[depth] = statistics.median(times[depth])
        print(ref.line(f"sigmoid chain depth {depth:5d}", times[depth]))
    print(f"t(1000)/t(100) = {medians[1000] / medians[100]:.1f}  (target ≤ 12; t(1000) target ≤ 2 s)")


if __name__ == "__main__":
    main()
