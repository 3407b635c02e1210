"""Matrix checking speed (issue 25 target): a [4, 8, 3] network on a mini-batch of 5 (`mlp`,
sigmoid then softmax with cross-entropy), every whole-matrix answer given — each line's value,
the gradient of every line and parameter, each update — checked in ≤ 100 ms (median). Also the
same answers as float32 torch tensors, and one wrong gradient with the next one carried forward.
Printed against a same-run `python -c "import sympy"` (reference.py).
Run: python bench/bench_matrixcheck.py"""
import statistics
import time

import numpy as np

import derive
from reference import Reference

RNG = np.random.default_rng(25)


def network():
    inputs = RNG.integers(-9, 10, size=(5, 4)) / 10
    weights = [RNG.integers(-9, 10, size=(8, 4)) / 10, RNG.integers(-9, 10, size=(3, 8)) / 10]
    biases = [RNG.integers(-9, 10, size=8) / 10, RNG.integers(-9, 10, size=3) / 10]
    return derive.mlp(inputs.tolist(), [w.tolist() for w in weights], [b.tolist() for b in biases],
                      [0, 2, 1, 1, 0], activation=["sigmoid", "softmax"], loss="cross_entropy", lr="0.5")


def floats(t):
    return np.array(t.evalf(17).tolist(), dtype=float) if hasattr(t, "tolist") else float(t)


def all_answers(ex):
    """Every whole-matrix key (no entry aliases) with the engine's value as float64 arrays."""
    out = {}
    for key in ex.keys():
        base = key.split("/d")[-1].removesuffix("_new")
        if base in ex.aliases:
            continue
        if key.endswith("_new"):
            out[key] = floats(ex.update(base))
        elif key.startswith(f"d{ex.output}/d"):
            out[key] = floats(ex.grad(base))
        else:
            out[key] = floats(ex.value(key))
    return out


def timed(ex, answers, ref, runs=20):
    ex.check(answers)  # warm up: the exact sweep is cached on the example
    times = []
    for i in range(runs):
        if i % 2 == 0:
            ref.sample()
        start = time.perf_counter()
        ex.check(answers)
        times.append(time.perf_counter() - start)
    return times


def main():
    ex = network()
    answers = all_answers(ex)
    ref = Reference()
    report = ex.check(answers)
    assert report.ok, report
    results = [("all answers (float64 arrays)", len(answers), timed(ex, answers, ref))]
    import torch
    as32 = {k: torch.tensor(np.asarray(v), dtype=torch.float32) for k, v in answers.items()}
    assert ex.check(as32).ok
    results.append(("all answers (float32 torch tensors)", len(as32), timed(ex, as32, ref)))
    wrong = dict(answers)
    wrong["dL/dz2"] = answers["dL/dz2"] * 1.5
    wrong["dL/dW2"] = wrong["dL/dz2"] @ floats(ex.value("a1")).T
    assert ex.check(wrong).status("dL/dW2") == "carried"
    results.append(("one wrong gradient, the next carried", len(wrong), timed(ex, wrong, ref, runs=6)))
    print(ref.summary())
    for label, n, times in results:
        print(f"matrix check, [4, 8, 3] net, batch 5, {n} keys, {label}: median "
              f"{statistics.median(times) * 1000:.1f} ms ({min(times) * 1000:.1f}–{max(times) * 1000:.1f}) "
              f"= {ref.ratio(times):.4f} × import sympy (target ≤ 100 ms)")


if __name__ == "__main__":
    main()
