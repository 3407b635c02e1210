"""The curriculum's speed target (issue 24): a LeNet-style net written in the equation language —
a 1×12×12 image, 4 filters 3×3 with a channel bias, ReLU, 2×2 max-pooling, flatten, a linear layer
to 10 classes, softmax with cross-entropy — with all 170 gradient entries (k, b1, W, b2, and the
image's) exact, in ≤ 3× bench_tensor.py's MLP [784, 64, 10] (batch 1) measured in the same run.

"Exact": every gradient entry is a Rational or an exact lazy atom whose definition, built on
demand, is the exact value; the run expands a sample of them and checks them against their
96-digit approximations. Each median is also given as a ratio to a same-run
`python -c "import sympy"` (reference.py).
Run: python bench/bench_curriculum.py [repeats]
"""
import random
import statistics
import sys
import time

import derive
from derive.core.approx import approx
from reference import Reference

LENET = """
c = conv2d(x, k) + b1
h = relu(c)
p = maxpool2d(h, 2)
f = flatten(p)
z = W @ f + b2
q = softmax(z)
L = cross_entropy(q, y)
"""


def values(seed: int = 7) -> dict:
    rng = random.Random(seed)

    def uniform(shape, low, high, places=1):
        if not shape:
            return round(rng.uniform(low, high), places)
        return [uniform(shape[1:], low, high, places) for _ in range(shape[0])]

    return {"x": [[[round(rng.random(), 2) for _ in range(12)] for _ in range(12)]],
            "k": uniform((4, 1, 3, 3), -1, 1), "b1": uniform((4, 1, 1), -0.5, 0.5),
            "W": uniform((10, 100), -0.3, 0.3, 2), "b2": uniform((10,), -0.2, 0.2), "y": 3}


def run() -> float:
    v = values()
    start = time.perf_counter()
    ex = derive.Example.from_equations(LENET, values=v)
    grads = {name: ex.grad_tensor(name) for name in ("k", "b1", "W", "b2", "x")}
    elapsed = time.perf_counter() - start
    assert sum(g.size for g in grads.values()) == 36 + 4 + 1000 + 10 + 144
    sample = [grads["k"].a.ravel()[i] for i in range(0, 36, 5)] + [grads["W"].a[j, i] for j in range(0, 10, 3)
                                                                   for i in range(0, 100, 17)]
    for e in sample:  # exact: the definition, expanded, is the value the approximation gives
        if not e.is_Rational:
            assert abs(approx(e.definition) - e.approx_mpf) < 1e-60 * max(1, abs(e.approx_mpf))
    return elapsed


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    import bench_tensor  # beside this script, so on sys.path
    ref, times = Reference(), {"lenet": [], "mlp": []}
    run()  # the first run also pays for imports and caches; both cases are measured warm
    bench_tensor.run(1)
    for _ in range(repeats):
        ref.sample()
        times["lenet"].append(run())
        times["mlp"].append(bench_tensor.run(1))
    print(ref.summary())
    print(ref.line("LeNet-style 1×12×12 → conv 4×3×3 → ReLU → pool 2 → linear 10 → CE: all gradients exact",
                   times["lenet"]))
    print(ref.line("MLP [784, 64, 10] ReLU + softmax/cross-entropy, batch 1 (bench_tensor.py)", times["mlp"]))
    ratio = statistics.median(times["lenet"]) / statistics.median(times["mlp"])
    print(f"LeNet / MLP [784, 64, 10]: {ratio:.2f}× (target ≤ 3×)")


if __name__ == "__main__":
    main()
