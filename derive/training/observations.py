"""Observations computed from a training run: units that die and stay dead, saturated units
whose gradient makes the loss crawl, a loss that diverges, clipping that engages — each sentence
quotes the numbers it is about, and nothing is keyed by an activation's name."""
from __future__ import annotations

import sympy as sp
from sympy import S

from ..core.approx import approx
from ..core.derivation import Chain, Value
from ..core.engine import compact
from ..core.notation import Norm
from ..core.functions import BY_CLASS, Sentence
from ..core.numbers import format_number
from .optimizers import ETA

SATURATED = sp.Rational(1, 100)  # |f'(z)| below this at every step: a saturated unit


def activation_units(graph):
    """Every application of a registry activation: (spec, node name, application) — in a graph
    of scalar nodes (a tensor graph's units are whole matrices: none here)."""
    units = []
    if graph.tensor:  # a tensor graph's units are whole matrices
        return units
    for node in graph.nodes.values():
        stack = [node.expr]
        while stack:
            e = stack.pop()
            spec = BY_CLASS.get(type(e))
            if spec is not None and spec.kind == "activation":
                units.append((spec, node.name, e))
            stack.extend(reversed(e.args))
    return units


def _slope(graph, values, app):
    """f'(argument) of one activation application at this step's values, exact."""
    subs = {graph.symbols[n]: values[n] for n in graph.symbols if n in values}
    arg = app.args[0].xreplace(subs)
    return arg, compact("f'", app.fdiff(1).xreplace(subs))


def observations(tr) -> list:
    """Sentences about the run, each quoting the numbers it is about."""
    out = []
    ex, records, graph = tr.example, tr.records, tr.example.graph
    output = ex.output
    losses = [r.values[output] for r in records]
    n = tr.steps
    # A unit whose derivative is exactly 0 from step k to the end: dead, and its parameters learn nothing.
    dead: dict = {}  # first dead step -> [(node, spec, argument, its value)]
    crawling = False
    for spec, node, app in activation_units(graph):
        slopes = [_slope(graph, r.values, app) for r in records]
        zero_from = None
        for k in range(len(slopes) - 1, -1, -1):
            if slopes[k][1] != 0:
                break
            zero_from = k
        if zero_from is not None and n - zero_from >= 1:
            dead.setdefault(zero_from, []).append((node, spec, app.args[0], slopes[zero_from][0]))
            continue
        small = [abs(approx(s)) for _, s in slopes]
        if small and all(0 < m < approx(SATURATED) for m in small):
            worst = max(range(len(small)), key=lambda k: small[k])
            crawling = True
            change = approx(losses[-1]) - approx(losses[0])
            relative = abs(change) / abs(approx(losses[0])) if losses[0] != 0 else None
            out.append(Sentence(
                "{0} is saturated at every step: its derivative is at most "
                f"{{1}} (step {worst}), so every gradient through it is scaled down by that "
                f"factor and the loss crawls: {{2}} at step 0, {{3}} at step {n}"
                + (f" ({format_number(sp.Float(relative * 100, 30), 2)} % lower)." if relative is not None and change < 0
                   else "."),
                (_unit(graph, node), Value(slopes[worst][1]), *distinct(losses[0], losses[-1]))))
    for k, units in sorted(dead.items()):
        nodes = [u[0] for u in units]
        kinds = sorted({u[1].unicode for u in units})
        upstream = set().union(*(_upstream_symbols(graph, node) for node in nodes))
        starved = [p for p in tr.params if graph.symbols[p] in upstream
                   and all(r.grads[p] == 0 for r in records[k:])]
        frozen = [p for p in starved if all(r.values[p] == records[k].values[p]
                                            for r in records[k:])]
        one = len(units) == 1
        when = "from the start" if k == 0 else f"from step {k} on"
        math = [_unit(graph, nodes[0])] if one else [graph.symbols[n_] for n_ in nodes]
        text = ("{0} is" if one else f"The units {_listing(0, len(nodes))} ({'/'.join(kinds)}) are")
        text += f" dead {when}: " + _listing(len(math), len(units), ", ")
        math += [Chain(u[2], "=", Value(u[3]), "≤", Value(S.Zero)) if u[3].is_number and u[3] <= 0
                 else Chain(u[2], "=", Value(u[3])) for u in units]
        text += (f"{' there' if k else ''}, and {'its' if one else 'their'} derivative stays exactly 0 "
                 f"through step {n}, so no gradient passes.")
        if starved:
            text += (f" The gradient{'' if len(starved) == 1 else 's'} of "
                     f"{_listing(len(math), len(starved))} {'is' if len(starved) == 1 else 'are'} "
                     f"exactly 0 from step {k} on")
            math += [graph.symbols[p] for p in starved]
            text += (": they never change again — a dead unit stays dead." if frozen == starved
                     else ": only the optimizer's momentum still moves them; the data teaches them nothing.")
        out.append(Sentence(text, tuple(math)))
    # Divergence: the loss ends above where it started and rose in most steps.
    if n >= 2:
        rises = sum(1 for a, b in zip(losses, losses[1:]) if approx(b) > approx(a))
        if approx(losses[-1]) > 2 * abs(approx(losses[0])):
            first = next(k for k in range(1, n + 1) if approx(losses[k]) > approx(losses[0]))
            out.append(Sentence(
                f"The loss diverges: it rises in {rises} of {n} steps, from {{0}} at step 0 to "
                f"{{1}} at step {n} (above the start from step {first} on). The learning rate "
                f"{{2}} is too large here: each step overshoots the minimum by more than it gains.",
                (Value(losses[0]), Value(losses[-1]), Chain(ETA, "=", Value(_typical_lr(tr))))))
    zero = next((k for k in range(len(losses)) if losses[k] == 0), None)
    if zero is not None and all(l == 0 for l in losses[zero:]):
        if any(k <= zero for k in dead):
            out.append(Sentence(f"The loss is exactly 0 from step {zero} on, but not because the "
                                f"network learned: its units are dead, so the output no longer "
                                f"responds to the parameters before them."))
        else:
            out.append(Sentence(f"The loss is exactly 0 from step {zero} on: the fit is exact, every "
                                f"gradient is 0 and the parameters stop changing."))
    elif n >= 1 and not crawling:
        trend = _trend(losses, diverged=n >= 2 and approx(losses[-1]) > 2 * abs(approx(losses[0])))
        if trend is not None:
            out.append(trend)
    # Clipping.
    events = [(k + 1, c) for k, r in enumerate(records) for c in r.clipped]
    norm_events = [(k, c) for k, c in events if c[0] == "norm"]
    if norm_events:
        shown = norm_events[:3]
        more = f" (and at {len(norm_events) - 3} more steps)" if len(norm_events) > 3 else ""
        parts = ", ".join(f"step {k}: {{{2 * i}}} clipped to {{{2 * i + 1}}}" for i, (k, _) in enumerate(shown))
        math = tuple(x for _, c in shown for x in (Chain(_NORM, "=", Value(c[1])), Value(c[2])))
        out.append(Sentence(f"Clipping by norm engages at {len(norm_events)} of {n} steps — {parts}"
                            f"{more}: the direction is kept, the step bounded.", math))
    elif tr.hyper.clip_norm is not None and n:
        out.append(Sentence("Clipping by norm never engages: the gradient norm stays at most {0}.",
                            (Value(tr.hyper.clip_norm),)))
    value_events = [(k, c) for k, c in events if c[0] == "value"]
    if value_events:
        k, c = value_events[0]
        out.append(Sentence(f"Clipping by value engages at {len(value_events)} of {n} steps (first at "
                            f"step {k}, for {_listing(1, len(c[1]))}): each component is capped at "
                            f"±{{0}}, which can turn the gradient's direction.",
                            (Value(c[2]), *[_symbol(graph, p) for p in c[1]])))
    return out


def _trend(losses, diverged: bool):
    """What the loss curve does, step by step: falls at every step, falls then rises (naming the
    turning step), rises, stays flat, or goes up and down — never just first against last, which
    hides an overshoot. None when the divergence sentence already says it all."""
    n = len(losses) - 1
    a = [approx(l) for l in losses]
    moves = [(b > p) - (b < p) for p, b in zip(a, a[1:])]  # +1 rise, -1 fall, 0 level
    low = min(range(n + 1), key=lambda k: a[k])  # the first lowest step
    steps = f"{n} step{'' if n == 1 else 's'}"
    if all(m == 0 for m in moves):
        return Sentence(f"The loss stays at {{0}} for all {steps}: no update changes it.",
                        (Value(losses[0]),))
    if all(m <= 0 for m in moves):
        every = ", lower at every step" if all(m < 0 for m in moves) else ""
        return Sentence(f"The loss falls from {{0}} to {{1}} in {steps}{every}.",
                        distinct(losses[0], losses[-1]))
    if all(m >= 0 for m in moves):
        if diverged:
            return None
        return Sentence(f"The loss rises from {{0}} to {{1}} in {steps}: the steps overshoot "
                        f"instead of descending.", distinct(losses[0], losses[-1]))
    if 0 < low < n and all(m <= 0 for m in moves[:low]) and all(m >= 0 for m in moves[low:]):
        first, lowest, last = distinct(losses[0], losses[low], losses[-1])
        where = "above" if a[-1] > a[0] else "still below"
        return Sentence(f"The loss falls from {{0}} to {{1}} at step {low}, then rises "
                        f"to {{2}} at step {n} ({where} the start): after step {low} "
                        f"the updates overshoot the minimum.", (first, lowest, last))
    rises = sum(1 for m in moves if m > 0)
    falls = sum(1 for m in moves if m < 0)
    first, lowest, last = distinct(losses[0], losses[low], losses[-1])
    return Sentence(f"The loss goes up and down: it falls in {falls} and rises in {rises} of {n} "
                    f"steps, from {{0}} at step 0 to its lowest, {{1}}, at step {low}, and ends "
                    f"at {{2}} at step {n}.", (first, lowest, last))


def distinct(*values) -> tuple:
    """Values shown with just enough significant digits for unequal ones to differ (16.00728 and
    16.00678, not 16.01 and 16.01); as ``Value``s when the usual display already tells them apart."""
    def clash(digits=None):
        shown = [format_number(v) if digits is None else format_number(v, digits) for v in values]
        return shown, any(shown[i] == shown[j] and values[i] != values[j]
                          for i in range(len(values)) for j in range(i))
    shown, clashing = clash()
    if not clashing:
        return tuple(Value(v) for v in values)
    for digits in range(5, 16):
        shown, clashing = clash(digits)
        if not clashing:
            break
    if any("e" in t for t in shown):
        return tuple(Value(v) for v in values)
    return tuple(Value(v, digits) for v in values)


_NORM = Norm(sp.Symbol("g"))


def _typical_lr(tr):
    rates = list(dict.fromkeys(tr.hyper.lr.values()))
    return rates[0] if len(rates) == 1 else max(rates, key=approx)


def _listing(start: int, count: int, last: str = " and ") -> str:
    """"{2}, {3} and {4}": ``count`` math placeholders from ``start``."""
    fields = [f"{{{start + i}}}" for i in range(count)]
    return fields[0] if count == 1 else ", ".join(fields[:-1]) + last + fields[-1]


def _unit(graph, node: str):
    """``a = ReLU(z)``: the node as written, for a sentence about it."""
    return Chain(graph.symbols[node], "=", graph.nodes[node].display)


def _upstream_symbols(graph, node: str) -> set:
    return {graph.symbols[n] for n in graph.ancestors(node)}


def _symbol(graph, name: str):
    symbols = getattr(graph, "symbols", None) or {}
    return symbols.get(name) or sp.Symbol(name)
