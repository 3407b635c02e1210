"""The catalogue of common backprop mistakes. Each entry recomputes what a student would get by
making that mistake on *this* example; a diagnosis is given only when the student's answer matches
that value and the value differs from the correct one. Adding a mistake is one entry.

``Scenario`` recomputes any answer key with some local derivatives or node values replaced (or
with hand-style rounding of every intermediate), which is all the entries need.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import mpmath
import sympy as sp

from ..core.approx import approx
from ..core.engine import accumulate, compact, descend, propagate
from ..core.functions import BY_CLASS


def round_significant(value, digits: int) -> sp.Rational:
    """``value`` rounded to ``digits`` significant figures, as an exact decimal."""
    x = approx(value)
    if x == 0:
        return sp.S.Zero
    text = mpmath.nstr(x, digits, min_fixed=-50, max_fixed=50)
    from ..core.numbers import parse_decimal
    return parse_decimal(text)


class Scenario:
    """Recompute values, local derivatives and gradients with overrides (exact elsewhere), through
    the engine's one forward pass (``propagate``) and one reverse accumulation (``accumulate``).

    ``values``: node values replaced; ``locals_``: local derivatives replaced, keyed by edge
    ``(of, wrt)``; ``round_all``: hand-style rounding of every value, local derivative and
    gradient to that many significant figures; ``value_form``: activation derivatives computed
    from the node's (possibly rounded) output, as by hand (σ' as a(1 − a)).

    >>> import derive
    >>> ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1)
    >>> Scenario(ex, locals_={("L", "a"): -4}).derivative("L", "w")  # the sign slip in 2(a − y)
    -8
    """

    def __init__(self, ex, values=None, locals_=None, round_all: int | None = None,
                 value_form: bool = False):
        self.ex, self.graph = ex, ex.graph
        self.value_overrides = dict(values or {})
        self.local_overrides = dict(locals_ or {})
        self.round_all = round_all
        self.value_form = value_form or round_all is not None
        self._values: dict | None = None
        self._adjoints: dict = {}

    def _round(self, v):
        return round_significant(v, self.round_all) if self.round_all else v

    def values(self) -> dict:
        """Every input and node value in this scenario."""
        if self._values is None:
            ev = self.ex.evaluation
            if self.round_all:  # rounding touches every node: recompute all, rounded
                evaluate = lambda node, subs: self._round(node.expr.xreplace(subs))  # noqa: E731
            else:
                evaluate = lambda node, subs: compact(node.name, node.expr.xreplace(subs))  # noqa: E731
            self._values = propagate(self.graph, ev.values, self.value_overrides.get, evaluate,
                                     recompute_all=bool(self.round_all))
        return self._values

    def value(self, name):
        return self.values()[name]

    def local(self, of, wrt):
        if (of, wrt) in self.local_overrides:
            return self.local_overrides[(of, wrt)]
        ev = self.ex.evaluation
        node = self.graph.nodes[of]
        values = self.values()
        if not self.round_all and all(values[p] is ev.values[p] for p in node.parents) \
                and values[of] is ev.values[of]:
            return ev.local(of, wrt).value  # nothing changed upstream: the engine's own value
        rule = ev.symbolic_local(of, wrt)
        subs = {self.graph.symbols[p]: values[p] for p in node.parents}
        if self.value_form and type(node.expr) in BY_CLASS:
            # By hand, σ'(z) is computed as a(1 − a) from the rounded a: use the node's value.
            rule = rule.xreplace({node.expr: node.symbol})
            subs[node.symbol] = values[of]
        local = rule.xreplace(subs)
        return self._round(local) if self.round_all else compact(f"∂{of}/∂{wrt}", local)

    def derivative(self, of, wrt):
        if of == wrt:
            return sp.S.One
        if of not in self._adjoints:
            if self.round_all:
                settle = lambda n, v: self._round(v)  # noqa: E731
            else:
                exact, touched = self.ex.evaluation.adjoints(of), self._touched()
                # An adjoint no override reaches is the engine's own: reuse it (a deep network
                # would otherwise rebuild every adjoint for every scenario).
                settle = lambda n, v: compact(f"∂{of}/∂{n}", v) if n in touched else exact[n]  # noqa: E731
            self._adjoints[of] = accumulate(self.graph, of, self.local, settle)
        return self._adjoints[of].get(wrt, sp.S.Zero)

    def _touched(self) -> set:
        """Nodes whose adjoint may differ from the engine's: reached, in reverse, from an
        overridden local derivative or from a node whose inputs changed."""
        values, ev = self.values(), self.ex.evaluation
        touched: set = set()
        for name in reversed(list(self.graph.nodes)):
            node = self.graph.nodes[name]
            altered = name in touched or any(values[p] is not ev.values[p] for p in node.parents)
            for p in node.parents:
                if altered or (name, p) in self.local_overrides:
                    touched.add(p)
        return touched

    def answer(self, key):
        if key.kind == "value":
            return self.value(key.name)
        if key.kind == "derivative":
            return self.derivative(key.of, key.wrt)
        g = self.derivative(self.ex.output, key.name)
        return self._round(descend(self.ex.evaluation.values[key.name], self.ex.lr, g))


@dataclass(frozen=True)
class Mistake:
    name: str
    title: str
    hint: str
    alternatives: Callable  # (checker, key) -> list of (value, detail)


MISTAKES: list[Mistake] = []

# Searches over single edges or single rounded intermediates are hand-sized (each is a full
# recomputation); beyond this many nodes they look only where a hand calculation starts and ends.
SINGLE_ROUNDING_NODES = 60


def register(m: Mistake) -> Mistake:
    MISTAKES.append(m)
    return m


def _loss_edges(ex):
    """Edges (output, a) of a squared-difference loss (a − y)²."""
    node = ex.graph.nodes[ex.output]
    out = []
    for p in node.parents:
        diff = [e for e in sp.preorder_traversal(node.expr)
                if e.is_Pow and e.exp == 2 and e.base.is_Add and e.base.has(ex.graph.symbols[p])]
        if diff:
            out.append((ex.output, p))
    return out


def _activation_edges(ex):
    """Edges (a, z, spec) of activations applied to a node. A deep network keeps the first and
    last two: where a hand calculation starts and ends (each edge costs a recomputation)."""
    out = []
    for node in ex.graph.nodes.values():
        spec = BY_CLASS.get(type(node.expr))
        if spec is not None and spec.kind == "activation" and node.expr.args[0].is_Symbol:
            out.append((node.name, node.expr.args[0].name, spec))
    if len(ex.graph.nodes) > SINGLE_ROUNDING_NODES and len(out) > 4:
        out = out[:2] + out[-2:]
    return out


def _with_locals(checker, key, overrides):
    if key.kind == "value":
        return []
    return [Scenario(checker.ex, locals_=overrides).answer(key)]


def _sign_error(checker, key):
    ev = checker.ev
    return [(v, "") for e in _loss_edges(checker.ex)
            for v in _with_locals(checker, key, {e: -ev.local(*e).value})]


def _factor_two(checker, key):
    ev = checker.ev
    out = []
    for e in _loss_edges(checker.ex):
        for factor, detail in ((sp.Rational(1, 2), "the 2 from the square was dropped"),
                               (2, "a ½ in front of the square was missed or doubled")):
            out += [(v, detail) for v in _with_locals(checker, key, {e: factor * ev.local(*e).value})]
    return out


def _activation_omitted(checker, key):
    return [(v, f"∂{a}/∂{z} left out") for a, z, _ in _activation_edges(checker.ex)
            for v in _with_locals(checker, key, {(a, z): sp.S.One})
            if checker.ev.local(a, z).value != 1]


def _function_instead_of_derivative(checker, key):
    out = []
    for a, z, spec in _activation_edges(checker.ex):
        if spec.kink is None and not spec.homogeneous:  # a smooth curve: f(z) differs from f'(z)
            out += [(v, f"{spec.unicode}({z}) = {a} used for {spec.unicode}'({z})")
                    for v in _with_locals(checker, key, {(a, z): checker.ev.values[a]})]
    return out


def _derivative_at_output(checker, key):
    out = []
    for a, z, spec in _activation_edges(checker.ex):
        rule = checker.ev.symbolic_local(a, z)
        at_a = rule.xreplace({checker.ex.graph.symbols[z]: checker.ev.values[a]})
        out += [(v, f"{spec.unicode}' evaluated at {a} instead of {z}")
                for v in _with_locals(checker, key, {(a, z): at_a})]
    return out


def _gate_ignored(checker, key):
    out = []
    for a, z, spec in _activation_edges(checker.ex):
        if spec.gates and spec.inactive_slope == "0" and not checker.ev.values[z].is_extended_positive:
            out += [(v, f"{z} ≤ 0, so {spec.unicode}'({z}) = 0") for v in _with_locals(checker, key, {(a, z): sp.S.One})]
    return out



def _premature_rounding(checker, key):
    ex = checker.ex
    out = []
    for name in ex.nodes if len(ex.nodes) <= SINGLE_ROUNDING_NODES else ():
        if name == ex.output:
            continue
        exact = ex.evaluation.values[name]
        for digits in (1, 2, 3, 4):
            rounded = round_significant(exact, digits)
            if rounded == exact:
                continue
            v = Scenario(ex, values={name: rounded}, value_form=True).answer(key)
            from ..core.numbers import format_number
            out.append((v, f"{name} was rounded to {format_number(rounded, digits)} before use"))
    for digits in (2, 3, 4):
        out.append((Scenario(ex, round_all=digits).answer(key),
                    f"every intermediate was rounded to {digits} significant figures"))
    return out


def _path_not_summed(checker, key):
    if key.kind not in ("derivative", "update"):
        return []
    of, wrt = (key.of, key.wrt) if key.kind == "derivative" else (checker.ex.output, key.name)
    paths = checker.ev.paths(wrt, of)
    if not paths or len(paths) < 2:
        return []
    out = []
    for p in paths:
        value = sp.S.One
        for a, b in zip(p, p[1:]):
            value *= checker.ev.local(b, a).value
        if key.kind == "update":
            value = descend(checker.ev.values[key.name], checker.ex.lr, value)
        out.append((value, "only the path " + " → ".join(p) + " was used"))
    return out


def _update_sign(checker, key):
    if key.kind != "update":
        return []
    ex = checker.ex
    g = ex.evaluation.grad(key.name, ex.output)
    w = ex.evaluation.values[key.name]
    return [(descend(w, -ex.lr, g), "added η·gradient instead of subtracting it")]


def _update_without_rate(checker, key):
    if key.kind != "update":
        return []
    ex = checker.ex
    g = ex.evaluation.grad(key.name, ex.output)
    return [(descend(ex.evaluation.values[key.name], 1, g), "subtracted the gradient without η")]


def _factors_added(checker, key):
    if key.kind != "derivative":
        return []
    paths = checker.ev.paths(key.wrt, key.of)
    if not paths or len(paths) != 1 or len(paths[0]) < 3:
        return []
    p = paths[0]
    return [(sum((checker.ev.local(b, a).value for a, b in zip(p, p[1:])), sp.S.Zero), "")]



# Order matters: the first mistake that explains an answer is named, so the more specific ones
# come first (an update's own slips; an inactive ReLU's gate before "derivative omitted").
register(Mistake("update_sign", "update with the wrong sign",
                 "gradient descent moves against the gradient: w_new = w − η·∂L/∂w", _update_sign))
register(Mistake("update_without_rate", "update without the learning rate η",
                 "scale the gradient by η: w_new = w − η·∂L/∂w", _update_without_rate))
register(Mistake("relu_gate_ignored", "ReLU gate ignored for z ≤ 0",
                 "ReLU'(z) = 0 when z ≤ 0: no gradient flows through an inactive unit", _gate_ignored))
register(Mistake("sign_error", "sign error in (a − y)",
                 "the loss's derivative is 2(a − y): prediction minus target, in that order",
                 _sign_error))
register(Mistake("factor_two", "factor 2 dropped or ½ mismatched",
                 "d/da (a − y)² = 2(a − y), while d/da ½(a − y)² = a − y", _factor_two))
register(Mistake("activation_derivative_omitted", "activation derivative omitted",
                 "the chain rule needs the activation's local derivative between ∂L/∂a and ∂z/∂w",
                 _activation_omitted))
register(Mistake("function_instead_of_derivative", "σ used instead of σ'",
                 "the local derivative of a = σ(z) is σ'(z) = σ(z)(1 − σ(z)), not σ(z) itself",
                 _function_instead_of_derivative))
register(Mistake("derivative_at_output", "derivative evaluated at a instead of z",
                 "evaluate the activation's derivative at its input z, not at its output a",
                 _derivative_at_output))
register(Mistake("premature_rounding", "premature rounding of an intermediate",
                 "carry full precision through the calculation and round only the final answer",
                 _premature_rounding))
register(Mistake("path_not_summed", "a path not summed",
                 "a value used in several places collects a gradient from each use: sum over "
                 "every path", _path_not_summed))
register(Mistake("factors_added", "factors added instead of multiplied",
                 "the chain rule multiplies the local derivatives along the path", _factors_added))


def diagnose(checker, key, answer):
    """The first catalogue mistake that explains ``answer`` for ``key``, with its detail."""
    from .answers import matches
    expected = checker.expected(key)
    for mistake in MISTAKES:  # catalogue order: the more specific explanation first
        try:
            alternatives = mistake.alternatives(checker, key)
        except Exception:  # a mistake that does not apply to this graph shape
            continue
        for value, detail in alternatives:
            if value is None:
                continue
            if matches(answer, value) and abs(approx(value) - approx(expected)) > \
                    mpmath.mpf(10) ** -12 * (1 + abs(approx(expected))):
                # Only when the mistake's value is distinguishable from the correct one at the
                # student's precision.
                from .answers import Answer
                if not matches(Answer(answer.raw, value, answer.digits), expected):
                    return mistake, detail
    return None


def hand_rounded(ex, digits: int) -> dict:
    """Hand-style rounding: every value, local derivative and gradient rounded to ``digits``
    significant figures as it is computed (to reproduce textbook numbers)."""
    from .answers import Key
    s = Scenario(ex, round_all=digits)
    out = {}
    for name in ex.nodes:
        out[name] = s.value(name)
    for name in ex.nodes:  # every local derivative, keyed like the answers: "da/dz"
        for parent in ex.graph.nodes[name].parents:
            out[f"d{name}/d{parent}"] = s.local(name, parent)
    for name in ex.inputs:
        out[f"d{ex.output}/d{name}"] = s.answer(Key("", "derivative", of=ex.output, wrt=name))
        if ex.lr is not None and name in ex.params:
            out[f"{name}_new"] = s.answer(Key("", "update", name=name))
    return out
