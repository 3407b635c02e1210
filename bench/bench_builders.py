"""Builder speed (issue 22, item 4): `derive.chain(depth=1000, …)` within 1.2 × of
`Example.from_equations` on the same graph, both with every weight gradient.

The two are timed alternately in one process (the one first in a pair swaps every time), each with
its own weights and with derive's and SymPy's caches emptied before it, so that neither reuses a
value the other computed. Medians of wall and CPU time (CPU time is what a shared machine disturbs
least), their ratio, and each against a same-run `python -c "import sympy"` (reference.py).
Run: python bench/bench_builders.py [pairs] [depth]
"""
import statistics
import sys
import time

from sympy.core.cache import clear_cache

import derive
from derive.core import approx, derivation, engine, numbers
from derive.core.losses import loss as loss_entry
from reference import Reference, spread

ACTIVATION, LOSS = "sigmoid", "half_squared_error"


def equations(depth: int) -> str:
    """The builder's chain written out by hand: the lines `derive.chain` documents."""
    lines, prev = [], "x"
    for layer in range(1, depth + 1):
        lines.append(f"z{layer} = w{layer}*{prev}")
        lines.append(f"a{layer} = {ACTIVATION}(z{layer})")
        prev = f"a{layer}"
    lines.append(f"L = {loss_entry(LOSS).equation([prev], ['y'])}")
    return "\n".join(lines)


def _fresh():
    """Every cache derive and SymPy keep between examples emptied: graphs per text, rules and lines
    per expression, printed and approximated values, SymPy's expression cache. Left filled, the
    second route of a pair would reuse the first one's lines (they have the same symbols)."""
    for memo in (engine._GRAPHS, engine._RULES, engine._LINES, approx._SEEN, approx._EXP_SEEN,
                 numbers._PRINTED):
        memo.clear()
    engine._public_form.cache_clear()
    derivation.ordered_symbols.cache_clear()
    clear_cache()


def through_builder(depth: int, weight: str) -> tuple[float, float]:
    _fresh()
    wall, cpu = time.perf_counter(), time.process_time()
    ex = derive.chain(depth=depth, weight=weight, x=1, activation=ACTIVATION, loss=LOSS, y=0)
    grads = ex.gradients()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert len(grads) == depth
    return wall, cpu


def from_equations(depth: int, weight: str) -> tuple[float, float]:
    _fresh()
    text = equations(depth)
    values = {"x": 1, "y": 0, **{f"w{l}": weight for l in range(1, depth + 1)}}
    wall, cpu = time.perf_counter(), time.process_time()
    ex = derive.Example.from_equations(text, values=values)
    grads = ex.gradients()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert len(grads) == depth
    return wall, cpu


def main():
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    # the same graph by both routes (the builder adds only display names and metadata)
    built = derive.chain(depth=5, weight="1.5", activation=ACTIVATION, loss=LOSS)
    written = derive.Example.from_equations(equations(5), values=dict(built.values))
    assert built.gradients() == written.gradients()
    through_builder(10, "1.01"), from_equations(10, "1.01")  # warm up both routes
    ref = Reference()
    runs = {"builder": [], "equations": []}
    for k in range(pairs):
        ref.sample()
        order = [("builder", through_builder), ("equations", from_equations)]
        for i, (name, run) in enumerate(order[::-1] if k % 2 else order):
            # distinct weights, so no run meets a value computed before
            runs[name].append(run(depth, f"1.{100 + 2 * k + i}"))
    print(ref.summary())
    for name in runs:
        walls = [w for w, _ in runs[name]]
        cpus = [c for _, c in runs[name]]
        print(ref.line(f"chain depth {depth} {name:9s} wall", walls)
              + f"; CPU median {spread(cpus)}")
    wall = statistics.median(w for w, _ in runs["builder"]) / statistics.median(
        w for w, _ in runs["equations"])
    cpu = statistics.median(c for _, c in runs["builder"]) / statistics.median(
        c for _, c in runs["equations"])
    per_pair = sorted(b[1] / e[1] for b, e in zip(runs["builder"], runs["equations"]))
    print(f"builder / from_equations: wall {wall:.2f} ×, CPU {cpu:.2f} × (per pair CPU "
          f"{per_pair[0]:.2f}–{per_pair[-1]:.2f}) (target ≤ 1.2)")


if __name__ == "__main__":
    main()
