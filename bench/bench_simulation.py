"""Simulation speed (issue 5 target): the default simulation (depth 50, width 256, batch 1024,
4 schemes) ≤ 2 s. Prints the median of 5 runs. Run: python bench/bench_simulation.py"""
import statistics
import time

from derive.initialization.variance import simulate_variance


def run() -> float:
    start = time.perf_counter()
    simulate_variance(depth=50, width=256, activation="relu", schemes=["normal", "small", "xavier", "he"],
                      seed=0, batch=1024)
    return time.perf_counter() - start


if __name__ == "__main__":
    run()  # warm up (imports)
    print(f"simulate_variance(50, 256, batch 1024, 4 schemes): median {statistics.median(run() for _ in range(5)):.3f} s (target ≤ 2 s)")
