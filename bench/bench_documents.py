"""Document speed (issue 3 targets):
* derivation + Markdown of the neuron, in process: ≤ 10 ms (median);
* `derive neuron … --format md` as a whole process: ≤ 1.5 × `python -c "import sympy"`.
Run: python bench/bench_documents.py
"""
import statistics
import subprocess
import sys
import time

import derive


def in_process(activation: str, repeats: int = 30) -> float:
    derive.neuron(x=2, w=3, b=1, y=5, activation=activation, lr=0.1).to_markdown()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        derive.neuron(x=2, w=3, b=1, y=5, activation=activation, lr=0.1).to_markdown()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def process(cmd) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    for act in ("relu", "sigmoid"):
        print(f"neuron ({act}) derivation + Markdown in process: median {in_process(act) * 1000:.1f} ms (target ≤ 10 ms)")
    # Interleave the two commands so drifting machine load affects both alike.
    base_cmd = [sys.executable, "-c", "import sympy"]
    cli_cmd = [sys.executable, "-m", "derive.cli", "neuron", "--x", "2", "--w", "3", "--b", "1",
               "--y", "5", "--activation", "sigmoid", "--lr", "0.1", "--format", "md"]
    import shutil
    script = shutil.which("derive")
    script_cmd = [script, *cli_cmd[3:]] if script else None
    bases, clis, scripts = [], [], []
    for _ in range(15):
        bases.append(process(base_cmd))
        clis.append(process(cli_cmd))
        if script_cmd:
            scripts.append(process(script_cmd))
    base, cli = statistics.median(bases), statistics.median(clis)
    if scripts:
        s = statistics.median(scripts)
        print(f"`derive neuron … --format md` (console script): median {s:.3f} s = {s / base:.2f} × import sympy")
    print(f"python -c 'import sympy': median {base:.3f} s")
    print(f"python -m derive.cli neuron … --format md: median {cli:.3f} s = {cli / base:.2f} × import sympy (target ≤ 1.5)")


if __name__ == "__main__":
    main()
