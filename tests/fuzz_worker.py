"""The fuzz suite's worker: runs cases (JSON lines on stdin) under a memory limit, one reply per
case. Each case has its own limit of CPU time (RLIMIT_CPU: a busy machine slows a case down but
does not use up its CPU seconds); past it the kernel's SIGXCPU makes faulthandler print where the
case was and the process ends, which the parent reports as a hang. Started by tests/test_fuzz.py;
not a test itself.

A case is {"kind": "cli", "argv": [...], "files": {name: text}} (the command line, in a fresh
folder) or {"kind": "api", "equations": ..., "values": ..., "answers": ...}. The reply is
{"outcome": "ok" | "error" | "internal", "detail": ...}.
"""
import faulthandler
import gc
import io
import json
import math
import os
import resource
import signal
import sys
import tempfile
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import fields

SECONDS = float(os.environ.get("DERIVE_FUZZ_SECONDS", "10"))  # CPU seconds per case
# A last resort in wall-clock time, for a case that would wait without using the CPU (none does);
# generous, so that no load on the machine reaches it.
WALL_SECONDS = 30 * SECONDS
MEMORY = int(os.environ.get("DERIVE_FUZZ_MEMORY", str(2 ** 30)))


def run_cli(case, cli_main):
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory(prefix="derive-fuzz-") as tmp:
        for name, text in case.get("files", {}).items():
            with open(os.path.join(tmp, name), "w", encoding="utf-8", errors="surrogatepass") as f:
                f.write(text)
        here = os.getcwd()
        os.chdir(tmp)
        try:
            with redirect_stdout(out), redirect_stderr(err):
                try:
                    cli_main(case["argv"])
                    code = 0
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finally:
            os.chdir(here)
    stderr = err.getvalue()
    if code == 3 or "Traceback" in stderr or "internal error" in stderr:
        return {"outcome": "internal", "detail": stderr[-2000:]}
    if code == 2:
        lines = stderr.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("derive: error: "):
            return {"outcome": "internal", "detail": "not one error line: " + stderr[-2000:]}
        return {"outcome": "error", "detail": lines[0]}
    if code not in (0, 1):
        return {"outcome": "internal", "detail": f"exit {code}: {stderr[-2000:]}"}
    return {"outcome": "ok", "detail": ""}


def run_api(case):
    import derive
    from derive import Example
    try:
        ex = Example.from_equations(case["equations"], values=case.get("values"))
        str(ex)
        if not ex.symbolic:
            for p in ex.params:
                ex.grad(p)
        if case.get("answers"):
            ex.check(case["answers"]).to_text()
        return {"outcome": "ok", "detail": ""}
    except derive.DeriveError as e:
        text = str(e)
        return {"outcome": "error", "detail": text[:300]}
    except Exception:
        return {"outcome": "internal", "detail": traceback.format_exc()[-3000:]}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def out_of_cpu(signum, frame):
    os._exit(3)  # faulthandler has printed the traceback; the parent sees the worker die


def limit_cpu(seconds: float | None) -> None:
    """From now on, at most ``seconds`` more CPU seconds (None: no limit but the hard one)."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = hard if seconds is None else math.ceil(cpu_seconds() + seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def main():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    # SIGXCPU: faulthandler writes every thread's traceback (from C, so also inside a long SymPy
    # or big-integer call), then chains to the Python handler, which ends the process.
    signal.signal(signal.SIGXCPU, out_of_cpu)
    faulthandler.register(signal.SIGXCPU, all_threads=True, chain=True)
    from derive.cli import main as cli_main
    from derive.core import budget
    defaults = {f.name: f.default for f in fields(budget.Limits)}
    for line in sys.stdin:
        case = json.loads(line)
        limit_cpu(SECONDS)
        faulthandler.dump_traceback_later(WALL_SECONDS, exit=True)
        try:
            reply = run_cli(case, cli_main) if case["kind"] == "cli" else run_api(case)
        except MemoryError:
            reply = {"outcome": "internal", "detail": "MemoryError: past the memory limit"}
        except BaseException:  # noqa: BLE001 - anything escaping is a finding
            reply = {"outcome": "internal", "detail": traceback.format_exc()[-3000:]}
        faulthandler.cancel_dump_traceback_later()
        limit_cpu(None)
        budget.configure(**defaults)  # a case's --limit does not leak into the next
        gc.enable()  # main() pauses the collector for short commands
        gc.collect()
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
