"""Observations a lecturer would add under a worked solution, generated from the values."""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from ..core.derivation import Chain, Prime, Total, Value
from ..core.functions import Sentence
from .steps import activations_used

SMALL_LOCAL_GRADIENT = sp.Rational(1, 100)  # below this an activation is called saturated
# A gate's slope on its negative side lets "little" gradient through only below this factor (a
# leaky ReLU with α = 0.01, ELU far left); 0.2 or 0.6 scales the gradient, it does not stop it.
LITTLE_FACTOR = sp.Rational(1, 10)
LARGE_GRADIENT = 100


def magnitude(value):
    from ..core.approx import approx
    return abs(approx(value))


def activation_facts(ex, d):
    """Each activation application with its actual input and local derivative there:
    (spec, the application, its argument, the argument's value, f' at that value). The local
    derivative is the activation's own f'(u) at u = its argument — not the edge's ∂a/∂w, which
    also holds the inner derivative."""
    out = []
    for spec, _, app in activations_used(ex):
        arg = app.args[0]
        z = d.at(arg)
        # a parameter that is an input of its own (leaky_relu(z, alpha)) at its value too
        local = _local_rule(spec, tuple(d.at(a) for a in app.args[1:])).xreplace({_U: z})
        out.append((spec, app, arg, z, local))
    return out


_U = sp.Dummy("u", real=True)


# Differentiated once per entry and extra arguments (keyed by the entry itself, so a name
# registered again with another formula gets its own rule): SymPy's diff with a fresh symbol
# re-derives every assumption, and dominated a document's time.
@lru_cache(maxsize=512)
def _local_rule(spec, extra: tuple) -> sp.Expr:
    return sp.diff(spec.function(_U, *extra), _U)


def _negative_side(spec, app, d, arg, z, local, slope) -> Sentence:
    """A gate at z ≤ 0, said as its slope there makes true: a slope of 0 passes nothing (a unit
    that stays there is dead), a slope below ``LITTLE_FACTOR`` little, a slope of at least 1 all
    of it, and any other slope scales the gradient by itself. Only a slope of 0 is "inactive"."""
    name = spec.unicode
    where = (Chain(arg, "=", Value(sp.S.Zero)) if z == 0
             else Chain(arg, "=", Value(z), "<", Value(sp.S.Zero)))
    params = [d.at(a) for a in app.args[1:]]
    at_kink = z == 0 and spec.convention and (spec.kink is None or spec.kink([z, *params]))
    # the convention itself is stated once per page, with the activation's definition
    kink = ", its kink" if at_kink else ""
    if local == 0:
        return Sentence(
            f"{name} is inactive for this input ({{0}}{kink}): its local derivative is {{1}}, so no "
            f"gradient reaches the weights before it. A unit that is inactive for every input "
            f"never learns again: a 'dead' neuron.", (where, slope))
    side = "where its two pieces meet" if z == 0 else "on its negative side"
    size = magnitude(local)
    if size >= 1:  # ELU with α ≥ 1 near 0: nothing is lost
        joint, verdict = ", yet", ": the gradient passes on at full strength"
    elif size < LITTLE_FACTOR:
        joint, verdict = ":", ", below 0.1, so little gradient reaches the weights before it"
    else:
        joint, verdict = ":", ", so every gradient flowing back through it is scaled by that factor"
    return Sentence(f"{name} is {side} for this input ({{0}}{kink}){joint} its local derivative "
                    f"is {{1}}{verdict}.", (where, slope))


def observations(ex, d) -> list:
    """Sentences a lecturer would add, generated from the values and the registry's facts about
    each activation (never canned, never keyed by an activation's name)."""
    out = []
    if ex.symbolic:
        return out
    for spec, app, arg, z, local in activation_facts(ex, d):
        name = spec.unicode
        at = Chain(arg, "=", Value(z))
        slope = Chain(Prime(spec.name, arg), "=", Value(local))
        if spec.gates:
            if z.is_extended_positive:
                out.append(Sentence(
                    f"{name} is active for this input ({{0}}): its local derivative is {{1}}, so it "
                    f"passes the gradient on unchanged — no vanishing gradient here.",
                    (Chain(arg, "=", Value(z), ">", Value(sp.S.Zero)), slope)))
                continue
            out.append(_negative_side(spec, app, d, arg, z, local, slope))
        elif spec.saturation_bound is not None:
            bound = Chain(Prime(spec.name, sp.Symbol("z")), "≤", spec.saturation_bound)
            if magnitude(local) < SMALL_LOCAL_GRADIENT:
                out.append(Sentence(
                    f"{name} is saturated at {{0}}: its local derivative is only {{1}} (< 0.01), "
                    f"so every gradient flowing back through it is scaled down by that factor — "
                    f"the vanishing-gradient problem.", (at, slope)))
            else:
                out.append(Sentence(
                    f"{name}'s local derivative at {{0}} is {{1}}; since {{2}} for every z, each {name} "
                    f"multiplies the gradient passing back by at most that much: stacked {name} layers "
                    f"shrink gradients unless their weights exceed {{3}} in size.",
                    (at, slope, bound, Value(1 / spec.saturation_bound))))
    large = [(p, d.total_of(p)) for p in ex.params if magnitude(d.total_of(p)) >= LARGE_GRADIENT]
    if large:
        shown = large[:3]
        more = f" and {len(large) - 3} more" if len(large) > 3 else ""
        out.append(Sentence(
            ("The gradient " if len(large) == 1 else "The gradients ")
            + ", ".join(f"{{{i}}}" for i in range(len(shown))) + more
            + (" is" if len(large) == 1 else " are") + " large (≥ 100): with a fixed learning "
            "rate such gradients make big, unstable steps (the exploding-gradient problem).",
            tuple(Chain(Total(ex.output, p), "=", Value(g)) for p, g in shown)))
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
