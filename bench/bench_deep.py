"""Deep-network speed (issue 4 targets):
* a 1000-layer chain derived and rendered to Markdown ≤ 3 s, t(1000)/t(100) ≤ 12;
* an MLP with widths [4, 8, 8, 2] (130 parameters): all exact gradients and the full document ≤ 3 s.
Prints medians, each also as a ratio to a same-run `python -c "import sympy"` (reference.py).
Run: python bench/bench_deep.py [repeats]
"""
import random
import statistics
import sys
import time

import derive
from reference import Reference


def chain_doc(depth: int, activation: str, weight="1.01") -> float:
    start = time.perf_counter()
    ex = derive.chain(depth=depth, weight=weight, x=1, activation=activation, loss="half_squared_error", y=0)
    ex.gradients()
    ex.to_markdown()
    return time.perf_counter() - start


def mlp_doc() -> float:
    rng = random.Random(7)
    widths = [4, 8, 8, 2]
    weights = [[[round(rng.uniform(-1, 1), 2) for _ in range(widths[l])] for _ in range(widths[l + 1])]
               for l in range(3)]
    biases = [[round(rng.uniform(-0.5, 0.5), 2) for _ in range(widths[l + 1])] for l in range(3)]
    start = time.perf_counter()
    ex = derive.mlp([0.5, -1, 0.25, 2], weights, biases, [0, 1], activation=["relu", "relu", "sigmoid"],
                    loss="half_squared_error", lr="0.1")
    assert len(ex.params) == 130
    ex.gradients()
    ex.to_markdown()
    return time.perf_counter() - start


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    # Exact ReLU values grow in digits with depth (1.01^1000 has ~4000 digits, 5^1000 ~700), so
    # big-integer arithmetic adds a superlinear term that weight 1 (and the sigmoid) do not have.
    ref = Reference()
    for activation, weight in (("sigmoid", "1.01"), ("relu", "1"), ("relu", "5"), ("relu", "1.01")):
        times = {100: [], 1000: []}
        for _ in range(repeats):
            ref.sample()
            for d in times:
                times[d].append(chain_doc(d, activation, weight))
        med = {d: statistics.median(t) for d, t in times.items()}
        print(f"{activation} chain, weight {weight}, + Markdown: depth 100 {med[100]:.3f} s, depth 1000 "
              f"{med[1000]:.3f} s = {ref.ratio(times[1000]):.3f} × import sympy (target ≤ 3 s), ratio "
              f"{med[1000] / med[100]:.1f} (target ≤ 12)")
    times = []
    for _ in range(repeats):
        ref.sample()
        times.append(mlp_doc())
    print(ref.line("MLP [4, 8, 8, 2], 130 parameters, gradients + Markdown", times) + " (target ≤ 3 s)")
    print(ref.summary())


if __name__ == "__main__":
    main()
