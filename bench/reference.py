"""The same-run reference every bench prints its medians against: `python -c "import sympy"` as a
child process, timed between the bench's own runs.

The machine these benches run on is shared, and its load drifts by a factor of two within
minutes, so an absolute median from one run and one from another say little. A reference timed in
the same run, alternating with the measured work, drifts with it; the ratio of the two medians is
the figure to compare across runs (and across checkouts: run both with PYTHONPATH=<checkout>).

    ref = Reference()
    for _ in range(repeats):
        ref.sample()            # one `import sympy`, before each measured run
        times.append(measure())
    print(ref.line("my case", times))
"""
import os
import statistics
import subprocess
import sys
import time

COMMAND = [sys.executable, "-c", "import sympy"]


def spread(times) -> str:
    """'median s (min–max over n)'."""
    return (f"{statistics.median(times):.3f} s ({min(times):.3f}–{max(times):.3f} over "
            f"{len(times)})")


class Reference:
    """Wall times of `python -c "import sympy"`, sampled between a bench's own runs."""

    def __init__(self):
        self.times: list[float] = []
        # Bytecode as an installed copy has it: a PYTHONDONTWRITEBYTECODE in the environment would
        # make every reference run compile SymPy from source.
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def sample(self) -> float:
        start = time.perf_counter()
        subprocess.run(COMMAND, check=True, capture_output=True, env=self.env)
        elapsed = time.perf_counter() - start
        self.times.append(elapsed)
        return elapsed

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def ratio(self, times) -> float:
        return statistics.median(times) / self.median

    def line(self, label: str, times) -> str:
        """One result line: the median with its range, then the ratio to the reference."""
        return f"{label}: median {spread(times)} = {self.ratio(times):.3f} × import sympy"

    def summary(self) -> str:
        return f"reference `python -c 'import sympy'`: median {spread(self.times)}"
