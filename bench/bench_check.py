"""Checking speed (issue 7 target): a 20-key answer set checked in process ≤ 50 ms (median).
Also as a ratio to a same-run `python -c "import sympy"` (reference.py), timed between runs.
Run: python bench/bench_check.py"""
import statistics
import time

import derive
from reference import Reference


def answers_for(ex):
    keys = {}
    for n in ex.nodes:
        keys[n] = str(derive.core.numbers.format_number(ex.value(n), 6))
    for p in ex.params:
        keys[f"dL/d{p}"] = str(derive.core.numbers.format_number(ex.grad(p), 6))
        keys[f"{p}_new"] = str(derive.core.numbers.format_number(ex.update(p), 6))
    return dict(list(keys.items())[:20])


def main():
    ex = derive.mlp([1, 2], [[[0.5, -0.25], [0.75, 0.5]], [[1, -1]]], [[0.1, -0.2], [0.3]], [1],
                    activation=["relu", "sigmoid"], loss="half_squared_error", lr="0.1")
    answers = answers_for(ex)
    answers["dL/dw1_1_1"] = "0.5"  # one wrong answer, so the diagnosis catalogue runs too
    assert len(answers) == 20
    ex.check(answers)  # warm up
    times, ref = [], Reference()
    for i in range(20):
        if i % 2 == 0:
            ref.sample()
        start = time.perf_counter()
        ex.check(answers)
        times.append(time.perf_counter() - start)
    print(ref.summary())
    print(f"check, 20 keys (one wrong, diagnosed): median {statistics.median(times) * 1000:.1f} ms "
          f"({min(times) * 1000:.1f}–{max(times) * 1000:.1f}) = {ref.ratio(times):.4f} × import sympy "
          f"(target ≤ 50 ms)")


if __name__ == "__main__":
    main()
