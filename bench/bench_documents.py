"""Document speed (issue 3 targets):
* derivation + Markdown of the neuron, in process: ≤ 10 ms (median);
* `derive neuron … --format md` as a whole process: ≤ 1.5 × `python -c "import sympy"` (issue 22:
  ≤ 1.4 ×), paired: the commands alternate in one run.

Every figure is a median, given as wall time and as CPU time (the CPU time of the process or of
the child processes, which a machine shared with other work disturbs much less than wall time).
The in-process figure is measured twice: the same neuron again and again (what the targets were
set with) and a different x every run (so no value computed in an earlier run is reused).

Start-up is measured as an installed copy runs: with Python's bytecode cache (pip compiles
bytecode at install; PYTHONDONTWRITEBYTECODE, if set, would make every run compile derive from
source while SymPy's bytecode is prebuilt). The caches go to a temporary PYTHONPYCACHEPREFIX, not
into the source tree. Run: python bench/bench_documents.py [repeats]
"""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import derive


def in_process(activation: str, repeats: int = 30, fresh: bool = False) -> tuple[float, float]:
    """(wall, CPU) medians in seconds; ``fresh``: x differs every run."""
    def one(i):
        x = 2 + i % 97 if fresh else 2
        derive.neuron(x=x, w=3, b=1, y=5, activation=activation, lr=0.1).to_markdown()
    one(0)  # warm up
    walls, cpus = [], []
    for i in range(1, repeats + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        one(i)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return statistics.median(walls), statistics.median(cpus)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process(cmd, env) -> tuple[float, float]:
    """(wall, CPU) of one run of ``cmd`` in seconds."""
    cpu = _children_cpu()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start, _children_cpu() - cpu


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    inside = {act: (in_process(act), in_process(act, fresh=True)) for act in ("relu", "sigmoid")}
    base_cmd = [sys.executable, "-c", "import sympy"]
    # The same import with the collector handled as derive's command line handles it (off while
    # it runs, the heap frozen before exit): what the command costs beyond SymPy's import itself.
    alike_cmd = [sys.executable, "-c", "import gc; gc.disable(); import sympy; gc.freeze()"]
    cli_cmd = [sys.executable, "-m", "derive.cli", "neuron", "--x", "2", "--w", "3", "--b", "1",
               "--y", "5", "--activation", "sigmoid", "--lr", "0.1", "--format", "md"]
    script = shutil.which("derive")
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        commands = {"base": base_cmd, "alike": alike_cmd, "cli": cli_cmd}
        if script:
            commands["script"] = [script, *cli_cmd[3:]]
        for cmd in commands.values():  # writes the bytecode caches
            process(cmd, env)
        runs = {name: [] for name in commands}
        # Interleaved, so that drifting machine load affects every command alike.
        for _ in range(repeats):
            for name, cmd in commands.items():
                runs[name].append(process(cmd, env))

    def med(name, i):
        return statistics.median(r[i] for r in runs[name])

    def spread(name):
        walls = [r[0] for r in runs[name]]
        return f"{min(walls):.3f}–{max(walls):.3f} s over {len(walls)}"
    base, base_cpu = med("base", 0), med("base", 1)
    print(f"python -c 'import sympy' (the same-run reference): median {base:.3f} s ({spread('base')}; "
          f"CPU {base_cpu:.3f} s)")
    for act, ((wall, cpu), (fresh_wall, fresh_cpu)) in inside.items():
        print(f"neuron ({act}) derivation + Markdown in process: median {wall * 1000:.1f} ms "
              f"= {wall / base:.4f} × import sympy (CPU {cpu * 1000:.1f} ms; a different x every run: "
              f"{fresh_wall * 1000:.1f} ms = {fresh_wall / base:.4f} ×, CPU {fresh_cpu * 1000:.1f} ms) "
              f"(target ≤ 10 ms)")
    if script:
        s, s_cpu = med("script", 0), med("script", 1)
        print(f"`derive neuron … --format md` (console script): median {s:.3f} s ({spread('script')}) "
              f"= {s / base:.2f} × import sympy (CPU {s_cpu / base_cpu:.2f} ×)")
    cli, cli_cpu = med("cli", 0), med("cli", 1)
    pairs = sorted(c[0] / b[0] for c, b in zip(runs["cli"], runs["base"]))
    print(f"python -m derive.cli neuron … --format md: median {cli:.3f} s ({spread('cli')}) = "
          f"{cli / base:.2f} × import sympy (per pair {pairs[0]:.2f}–{pairs[-1]:.2f}; CPU "
          f"{cli_cpu / base_cpu:.2f} ×) (target ≤ 1.4, issue 22)")
    alike, alike_cpu = med("alike", 0), med("alike", 1)
    print(f"  against `import sympy` with the collector off and the heap frozen at exit, as the "
          f"command line runs (median {alike:.3f} s, {spread('alike')}): {cli / alike:.2f} × "
          f"(CPU {cli_cpu / alike_cpu:.2f} ×), the command's own work")


if __name__ == "__main__":
    main()
