"""Homework speed (issue 6 targets): 1000 variants of the ReLU-neuron spec (Markdown problems,
solutions and answer key) ≤ 5 s wall on 2 cores (≥ 200 variants/s); ≥ 1.6× from 1 to 2 jobs.
Medians of wall time, and of CPU time (this process and its worker processes), which a machine
shared with other work disturbs much less; the speed-up needs two idle cores to mean anything.
Each wall median is also given as a ratio to a same-run `python -c "import sympy"` (reference.py).
Run: python bench/bench_homework.py [variants]"""
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from derive.courseware.homework import generate
from derive.model.spec import load_spec
from reference import Reference, spread

SPEC = Path(__file__).resolve().parent.parent / "examples" / "relu-homework-wide.yaml"


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the pool's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(count: int, jobs: int) -> tuple[float, float]:
    """(wall, CPU) seconds of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        cpu, start = _cpu(), time.perf_counter()
        generate(load_spec(SPEC), count, 7, Path(tmp) / "hw", ["md"], jobs=jobs, progress=False)
        return time.perf_counter() - start, _cpu() - cpu


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    run(50, 1)  # warm caches
    ref, one, two = Reference(), [], []
    for _ in range(3):
        ref.sample()
        one.append(run(count, 1))
        ref.sample()
        two.append(run(count, 2))
    t1, c1 = statistics.median(r[0] for r in one), statistics.median(r[1] for r in one)
    t2, c2 = statistics.median(r[0] for r in two), statistics.median(r[1] for r in two)
    print(f"{count} variants, 1 job: {t1:.2f} s ({count / t1:.0f} variants/s, {t1 / count * 1000:.2f} ms per variant; "
          f"CPU {c1:.2f} s)")
    print(f"{count} variants, 2 jobs: {t2:.2f} s ({count / t2:.0f} variants/s; CPU {c2:.2f} s) — target ≤ 5 s, "
          f"≥ 200 variants/s")
    print(ref.summary())
    print(ref.line(f"{count} variants, 1 job, wall", [r[0] for r in one]))
    print(ref.line(f"{count} variants, 2 jobs, wall", [r[0] for r in two]))
    print(f"speed-up 1 → 2 jobs: {t1 / t2:.2f}× (target ≥ 1.6×)")


if __name__ == "__main__":
    main()
