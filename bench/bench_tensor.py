"""Tensor-engine speed (issue 13 targets):
* MLP [784, 64, 10], ReLU then softmax with cross-entropy, one example: all 50,890 gradients
  exact ≤ 2 s; with a mini-batch of 32 ≤ 10 s (median of several runs);
* the scalar MLP [4, 8, 8, 2] (bench_deep.py's case) no slower than before the tensor engine.

"Exact" here: every gradient entry is a Rational or an exact lazy atom (its definition, built on
demand, is the exact value) with a 96-digit approximation; the run also expands a sample of
entries and checks them against their definitions. Each median is also given as a ratio to a same-run `python -c "import sympy"` (reference.py).
Run: python bench/bench_tensor.py [repeats]
"""
import random
import sys
import time

import derive
from derive.core.approx import approx
from reference import Reference


def network(batch: int, seed: int = 7):
    rng = random.Random(seed)
    widths = [784, 64, 10]
    weights = [[[round(rng.uniform(-0.1, 0.1), 3) for _ in range(widths[l])] for _ in range(widths[l + 1])]
               for l in range(2)]
    biases = [[round(rng.uniform(-0.1, 0.1), 2) for _ in range(widths[l + 1])] for l in range(2)]
    images = [[round(rng.random(), 2) for _ in range(784)] for _ in range(batch)]
    labels = [rng.randrange(10) for _ in range(batch)]
    return (images[0] if batch == 1 else images), weights, biases, (labels[0] if batch == 1 else labels)


def run(batch: int) -> float:
    inputs, weights, biases, labels = network(batch)
    start = time.perf_counter()
    ex = derive.mlp(inputs, weights, biases, labels, activation=["relu", "softmax"], loss="cross_entropy")
    grads = {name: ex.grad_tensor(name) for name in ("W1", "b1", "W2", "b2")}
    elapsed = time.perf_counter() - start
    assert sum(g.size for g in grads.values()) == 50890
    # every entry is exact: a Rational or an exact atom; spot-check atoms against their definitions
    sample = [grads["W1"].a[j, i] for j in range(0, 64, 9) for i in range(0, 784, 97)]
    for e in sample:
        if not e.is_Rational:
            assert abs(approx(e.definition) - e.approx_mpf) < 1e-60 * max(1, abs(e.approx_mpf))
    return elapsed


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    import bench_deep  # beside this script, so on sys.path
    ref, times = Reference(), {1: [], 32: [], "mlp": []}
    for _ in range(repeats):
        for case in times:
            ref.sample()
            times[case].append(bench_deep.mlp_doc() if case == "mlp" else run(case))
    print(ref.summary())
    for batch, target in ((1, 2), (32, 10)):
        print(ref.line(f"MLP [784, 64, 10] ReLU + softmax/cross-entropy, batch {batch}: all 50,890 "
                       f"gradients exact", times[batch]) + f" (target ≤ {target} s)")
    print(ref.line("scalar MLP [4, 8, 8, 2], 130 parameters, gradients + Markdown", times["mlp"])
          + " (compare: bench_deep.py on a checkout before the tensor engine, same load)")


if __name__ == "__main__":
    main()
