"""Homework speed (issue 6 targets): 1000 variants of the ReLU-neuron spec (Markdown problems,
solutions and answer key) ≤ 5 s wall on 2 cores (≥ 200 variants/s); ≥ 1.6× from 1 to 2 jobs.
Run: python bench/bench_homework.py [variants]"""
import statistics
import sys
import tempfile
import time
from pathlib import Path

from derive.courseware.homework import generate
from derive.model.spec import load_spec

SPEC = Path(__file__).resolve().parent.parent / "examples" / "relu-homework-wide.yaml"


def run(count: int, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate(load_spec(SPEC), count, 7, Path(tmp) / "hw", ["md"], jobs=jobs, progress=False)
        return time.perf_counter() - start


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    run(50, 1)  # warm caches
    t1 = statistics.median(run(count, 1) for _ in range(3))
    t2 = statistics.median(run(count, 2) for _ in range(3))
    print(f"{count} variants, 1 job: {t1:.2f} s ({count / t1:.0f} variants/s, {t1 / count * 1000:.2f} ms per variant)")
    print(f"{count} variants, 2 jobs: {t2:.2f} s ({count / t2:.0f} variants/s) — target ≤ 5 s, ≥ 200 variants/s")
    print(f"speed-up 1 → 2 jobs: {t1 / t2:.2f}× (target ≥ 1.6×)")


if __name__ == "__main__":
    main()
