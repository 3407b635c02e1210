"""Simulation speed (issue 5 target): the default simulation (depth 50, width 256, batch 1024,
4 schemes) ≤ 2 s. Prints the median of 5 runs, also as a ratio to a same-run
`python -c "import sympy"` (reference.py). Run: python bench/bench_simulation.py"""
import time

from derive.initialization.variance import simulate_variance
from reference import Reference


def run() -> float:
    start = time.perf_counter()
    simulate_variance(depth=50, width=256, activation="relu", schemes=["normal", "small", "xavier", "he"],
                      seed=0, batch=1024)
    return time.perf_counter() - start


if __name__ == "__main__":
    run()  # warm up (imports)
    ref, times = Reference(), []
    for _ in range(5):
        ref.sample()
        times.append(run())
    print(ref.summary())
    print(ref.line("simulate_variance(50, 256, batch 1024, 4 schemes)", times) + " (target ≤ 2 s)")
