"""Observations a lecturer would add under a worked solution, generated from the values."""
from __future__ import annotations

import sympy as sp

from ..core.derivation import Chain, Partial, Value
from ..core.functions import Sentence
from .steps import activations_used

SMALL_LOCAL_GRADIENT = sp.Rational(1, 100)  # below this an activation is called saturated
LARGE_GRADIENT = 100


def magnitude(value):
    from ..core.approx import approx
    return abs(approx(value))


def observations(ex, d) -> list:
    """Sentences a lecturer would add, generated from the values (never canned)."""
    out = []
    if ex.symbolic:
        return out
    for spec, node_name, app in activations_used(ex):
        arg = app.args[0]
        z = arg.xreplace(ex.evaluation._subs)
        local = ex.evaluation.local(node_name, next(
            (p for p in ex.graph.nodes[node_name].parents if ex.graph.symbols[p] in arg.free_symbols),
            ex.graph.nodes[node_name].parents[0])).value
        if spec.name in ("relu", "leaky_relu", "elu"):
            if z.is_extended_positive:
                out.append(Sentence(
                    f"{spec.unicode} is active for this input ({{0}}): it passes the gradient on "
                    f"unchanged ({{1}}), so it does not shrink it — no vanishing gradient here.",
                    (Chain(arg, "=", Value(z), ">", Value(sp.S.Zero)),
                     Chain(Partial(node_name, str(arg)) if arg.is_Symbol else arg, "=", Value(sp.S.One)))))
            else:
                slope = "0" if spec.name == "relu" else "small"
                out.append(Sentence(
                    f"{spec.unicode} is inactive for this input ({{0}}): its local gradient is "
                    f"{slope}, so {'no' if slope == '0' else 'little'} gradient reaches the weights "
                    f"before it. A unit that is inactive for every input never learns again: a "
                    f"'dead' neuron.",
                    (Chain(arg, "=", Value(z), "≤", Value(sp.S.Zero)),)))
        elif spec.name in ("sigmoid", "tanh"):
            mag = magnitude(local)
            bound = "1/4" if spec.name == "sigmoid" else "1"
            if mag < SMALL_LOCAL_GRADIENT:
                out.append(Sentence(
                    f"{spec.unicode} is saturated at {{0}}: its local gradient is only {{1}} "
                    f"(< 0.01), so every gradient flowing back through it is scaled down by that "
                    f"factor — the vanishing-gradient problem.",
                    (Chain(arg, "=", Value(z)), Chain(Partial(node_name, str(arg)) if arg.is_Symbol else arg,
                                                       "=", Value(local)))))
            else:
                out.append(Sentence(
                    f"{spec.unicode}'s local gradient here is {{0}}; it is never more than "
                    f"{bound}, so stacking many {spec.unicode} layers shrinks gradients.",
                    (Chain(Partial(node_name, str(arg)) if arg.is_Symbol else arg, "=", Value(local)),)))
    large = [(p, g) for p, g in ex.gradients().items() if magnitude(g) >= LARGE_GRADIENT]
    if large:
        shown = large[:3]
        more = f" and {len(large) - 3} more" if len(large) > 3 else ""
        out.append(Sentence(
            ("The gradient " if len(large) == 1 else "The gradients ")
            + ", ".join(f"{{{i}}}" for i in range(len(shown))) + more
            + (" is" if len(large) == 1 else " are") + " large (≥ 100): with a fixed learning "
            "rate such gradients make big, unstable steps (the exploding-gradient problem).",
            tuple(Chain(Partial(ex.output, p), "=", Value(g)) for p, g in shown)))
    if ex.lr is not None and d.update is not None:
        g = d.update.grad
        if g != 0:
            direction = "decreases" if magnitude(g) and g.is_extended_positive else "increases"
            out.append(Sentence(
                f"The gradient is {'positive' if direction == 'decreases' else 'negative'}, so "
                f"gradient descent {direction} {{0}}.", (ex.graph.symbols[d.wrt],)))
        else:
            out.append(Sentence("The gradient is 0, so this step leaves {0} unchanged.",
                                (ex.graph.symbols[d.wrt],)))
    return out
