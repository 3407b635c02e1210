"""The catalogue of common backprop mistakes. Each entry recomputes what a student would get by
making that mistake on *this* example, in words that fit it: the actual activation's rule from its
registry entry (tanh'(z) = 1 − tanh²(z), not σ by name), the actual loss's derivative
(∂L/∂a = a − y for ½(a − y)²), the actual names. A diagnosis is given only when the student's
answer matches the mistake's value, the value differs from the correct one at the digits the
student wrote, and every answer the mistake relies on was given and shows it (no "a was rounded
to 0.38" when no ``a`` was given). Adding a mistake is one entry.

``Scenario`` recomputes any answer key with some local derivatives or node values replaced (or
with hand-style rounding of every intermediate, or with the contributions of several paths
multiplied), which is all the entries need.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

import mpmath
import sympy as sp

from ..core.approx import approx
from ..core.engine import accumulate, compact, descend, propagate
from ..core.exact import substitute
from ..core.functions import BY_CLASS, Indicator, derivative_rule
from ..core.losses import find_loss


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
    from the node's (possibly rounded) output, as by hand (σ' as a(1 − a)); ``multiply_at``:
    names whose adjoint multiplies the contributions of its consumers instead of adding them.

    >>> import derive
    >>> ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1)
    >>> Scenario(ex, locals_={("L", "a"): -4}).derivative("L", "w")  # the sign slip in 2(a − y)
    -8
    """

    def __init__(self, ex, values=None, locals_=None, round_all: int | None = None,
                 value_form: bool = False, multiply_at=()):
        self.ex, self.graph = ex, ex.graph
        self.value_overrides = dict(values or {})
        self.local_overrides = dict(locals_ or {})
        self.multiply_at = frozenset(multiply_at)
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
            combine = None
            if self.multiply_at:
                combine = lambda n, collected, term: collected * term if n in self.multiply_at \
                    else collected + term  # noqa: E731
            self._adjoints[of] = accumulate(self.graph, of, self.local, settle, combine)
        return self._adjoints[of].get(wrt, sp.S.Zero)

    def _touched(self) -> set:
        """Nodes whose adjoint may differ from the engine's: reached, in reverse, from an
        overridden local derivative or from a node whose inputs changed."""
        values, ev = self.values(), self.ex.evaluation
        touched: set = set(self.multiply_at)
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
        if key.kind == "local":
            return self.local(key.of, key.wrt)
        g = self.derivative(self.ex.output, key.name)
        return self._round(descend(self.ex.evaluation.values[key.name], self.ex.lr, g))


@dataclass(frozen=True)
class Candidate:
    """One way a mistake plays out on this example: the value the student would get, and words
    that fit it (``title``/``hint`` replace the mistake's own when set). ``needs``: answers, by
    meaning ``(kind, name, of, wrt)``, that the mistake says the student wrote, each with the value
    it must show — it fires only when each was given and shows it; ``agrees``: answers that, when
    given, must show the value the mistake implies (a sign slip in ∂L/∂a is no explanation when
    the student's own ∂L/∂a is right). ``scenario``: the slip made wherever it applies — every
    other answer the student got right must be what the slip gives too, else it contradicts the
    slip (a sign error in ∂L/∂a is no explanation of a wrong ∂L/∂w when the student's ∂L/∂z, which
    inherits it, is right)."""

    value: object
    detail: str = ""
    title: str = ""
    hint: str = ""
    needs: tuple = ()
    agrees: tuple = ()
    scenario: object = None


@dataclass(frozen=True)
class Mistake:
    """One entry of the catalogue. ``values``: the kind of example it applies to — "scalar"
    (``alternatives(checker, key)`` -> Candidates) or "tensor" (``alternatives(ex, key,
    expected)`` -> Candidates whose values are Tensors, recomputed through the tensor engine's
    one reverse sweep with the entry's override of a step's local VJP)."""

    name: str
    title: str
    hint: str
    alternatives: Callable
    values: str = "scalar"


@dataclass(frozen=True)
class Diagnosis:
    """A catalogue mistake that explains an answer, in this example's terms. Its words name the
    rule and the slip, never the step's correct value (a tutor shows them before the value)."""

    name: str
    title: str
    hint: str
    detail: str = ""

    @property
    def text(self) -> str:
        """The hint a report shows: ``title: hint (detail)``."""
        return f"{self.title}: {self.hint}" + (f" ({self.detail})" if self.detail else "")


MISTAKES: list[Mistake] = []

# Searches over single edges or single rounded intermediates are hand-sized (each is a full
# recomputation); beyond this many nodes they look only where a hand calculation starts and ends.
SINGLE_ROUNDING_NODES = 60


def register(m: Mistake) -> Mistake:
    MISTAKES.append(m)
    return m


# --- words computed from the example ----------------------------------------------------------


def _text(expr) -> str:
    from ..rendering.printing import printer_for
    return printer_for("text").doprint(expr)


def _number(value) -> str:
    """A number as the report's table shows it: −0.2913, 8.655×10⁻⁶."""
    from ..rendering.printing import printer_for
    return printer_for("text").number(value)


def _value(name: str) -> tuple:
    return ("value", name, "", "")


def _edge(of: str, wrt: str) -> tuple:
    """The meaning of one edge's local derivative (an answer to ``da/dz`` where z reaches a
    only through it stands for this too)."""
    return ("local", "", of, wrt)


def _rule(spec) -> str:
    """f'(z) = … as the text printer prints the registry entry's derivative (from its SymPy
    class's ``fdiff``; a user entry's alike)."""
    return _text(spec.derivative)


_LOSSES_FOUND: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _loss_found(ex, expr=None):
    """The output's loss as the registry knows it — (entry, [(prediction, target), …]) — whether
    written as a call (``squared_error(a, y)``) or as its formula (``(a - y)**2``); None for a
    loss no entry describes. Found once per graph (``expr``: another form of its line, such as
    the line times N, looked up afresh)."""
    graph = ex.graph
    if graph not in _LOSSES_FOUND or expr is not None:
        node = graph.nodes[ex.output]
        symbols = graph.symbols
        computed = [symbols[p] for p in node.parents if p in graph.nodes]
        given = [symbols[p] for p in node.parents if p not in graph.nodes]
        line = node.expr if expr is None else expr
        found = find_loss(line, computed, given)
        if found is None and not computed:  # a loss over inputs only: any input may be the prediction
            found = find_loss(line, given, given[1:] + given[:1])
        if expr is not None:
            return found
        _LOSSES_FOUND[graph] = found
    return _LOSSES_FOUND[graph]


def _residual(ex, parent: str, squared: bool = False):
    """The residual (a − y) of the loss's entry for the prediction ``parent`` (only for an entry
    whose loss is a function of a − y; ``squared``: of (a − y)²), or None."""
    found = _loss_found(ex)
    if found is None:
        return None
    entry, pairs = found
    if not entry.residual or (squared and not entry.squared):
        return None
    symbol = ex.graph.symbols[parent]
    for a, y in pairs:
        if a == symbol:
            return a - y
        if y == symbol and entry.squared:  # squared_error(y, a): the square is symmetric
            return y - a
    return None


def _loss_edges(ex):
    """Edges (output, prediction) of the loss: its parents that are computed nodes (for a loss
    written straight over inputs, the predictions its registry entry pairs with targets)."""
    node = ex.graph.nodes[ex.output]
    computed = [p for p in node.parents if p in ex.graph.nodes]
    if not computed:
        found = _loss_found(ex)
        computed = [a.name for a, _ in found[1] if a.is_Symbol] if found else []
    return [(ex.output, p) for p in computed]


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


def _inactive(checker, z: str) -> bool:
    return not checker.ev.values[z].is_extended_positive


def _with_locals(checker, key, overrides):
    if key.kind == "value":
        return []
    return [Scenario(checker.ex, locals_=overrides).answer(key)]


def _local_slip(checker, key, edge, wrong, **words):
    """Candidates for one local derivative replaced by ``wrong`` (the student's own answer for
    that edge, if given, must show ``wrong``)."""
    return _locals_slip(checker, key, {edge: wrong}, **words)


def _locals_slip(checker, key, overrides, **words):
    """Candidates for several local derivatives replaced at once (each given one must show it)."""
    if key.kind == "value":
        return []
    scenario = Scenario(checker.ex, locals_=overrides)
    agrees = tuple((_edge(*edge), wrong) for edge, wrong in overrides.items())
    return [Candidate(scenario.answer(key), agrees=agrees, scenario=scenario, **words)]


# --- the catalogue ----------------------------------------------------------------------------


def _sign_error(checker, key):
    ex, ev = checker.ex, checker.ev
    out = []
    for L, a in _loss_edges(ex):
        local = ev.local(L, a).value
        if local == 0:
            continue
        formula = _text(ev.symbolic_local(L, a))
        difference = _residual(ex, a)
        if difference is not None:
            title = f"sign error in ({_text(difference)})"
            hint = f"∂{L}/∂{a} = {formula}: prediction minus target, in that order"
        else:
            title, hint = f"sign error in ∂{L}/∂{a}", f"∂{L}/∂{a} = {formula}"
            combined = _combined_step(checker, key, L, a)
            if combined is not None:  # asked for ∂L/∂z: name that step, not ∂L/∂a inside it
                title, hint = combined
        out += _local_slip(checker, key, (L, a), -local, title=title, hint=hint)
    return out


def _combined_step(checker, key, L, a):
    """(title, hint) of a sign error when ``key`` is ∂L/∂z through ``a`` = f(z) and the loss's
    and activation's derivatives combine into a shorter form (σ and BCE: a − y); else None."""
    ex, ev = checker.ex, checker.ev
    if key.kind != "derivative" or key.of != L:
        return None
    for node, z, spec in _activation_edges(ex):
        if node != a or key.wrt != z:
            continue
        symbol = ex.graph.symbols[a]
        product = (ev.symbolic_local(L, a) * ev.symbolic_local(a, z)).xreplace(
            {ex.graph.nodes[a].expr: symbol})
        if z in {s.name for s in product.free_symbols}:
            return None
        combined = sp.factor(sp.cancel(product))
        if sp.count_ops(combined) >= sp.count_ops(product):
            return None
        return (f"sign error in ∂{L}/∂{z}",
                f"∂{L}/∂{z} = ∂{L}/∂{a} · {spec.unicode}′({z}) = {_text(combined)}")
    return None


def _factor_two(checker, key):
    ex, ev = checker.ex, checker.ev
    out, every = [], {}
    for L, a in _loss_edges(ex):
        difference = _residual(ex, a, squared=True)
        local = ev.local(L, a).value
        if difference is None or local == 0:
            continue
        rule = ev.symbolic_local(L, a)
        coefficient = sp.cancel(rule / difference)
        hint = f"here {L} = {_text(ex.graph.nodes[L].display)}, so ∂{L}/∂{a} = {_text(rule)}"
        if coefficient == 2:  # (a − y)²: the 2 comes down from the square
            halved, doubled = "the 2 from the square was dropped", "∂L/∂a was doubled"
        elif coefficient == 1:  # ½(a − y)²: the ½ cancels the 2
            halved = "the ½ was applied after it had cancelled the 2 from the square"
            doubled = "the ½ in front of the square was dropped"
        else:
            halved, doubled = "off by a factor ½", "off by a factor 2"
        for factor, detail, title in ((sp.Rational(1, 2), halved, "factor 2 dropped"),
                                      (2, doubled, "factor 2 too many")):
            out += _local_slip(checker, key, (L, a), factor * local, detail=detail, title=title,
                               hint=hint)
            every[factor] = every.get(factor, ()) + (((L, a), factor * local, detail, title, hint),)
    for factor, slips in every.items():  # the same slip in each output's term at once
        if len(slips) > 1:
            _, _, detail, title, hint = slips[0]
            out += _locals_slip(checker, key, {edge: wrong for edge, wrong, *_ in slips},
                                detail=detail, title=title, hint=hint)
    return out


def _activation_omitted(checker, key):
    out = []
    for a, z, spec in _activation_edges(checker.ex):
        local = checker.ev.local(a, z).value
        if local == 1:
            continue
        u = spec.unicode
        out += _local_slip(
            checker, key, (a, z), sp.S.One, title=f"{u}' omitted",
            hint=f"on the way from ∂L/∂{a} to ∂L/∂{z} the chain rule multiplies by "
                 f"∂{a}/∂{z} = {u}'({z}); {_rule(spec)}",
            detail=f"∂{a}/∂{z} left out")
    return out


def _function_instead_of_derivative(checker, key):
    out = []
    ev = checker.ev
    for a, z, spec in _activation_edges(checker.ex):
        if spec.kink is None and not spec.homogeneous:  # a smooth curve: f(z) differs from f'(z)
            u = spec.unicode
            out += _local_slip(
                checker, key, (a, z), ev.values[a], title=f"{u} used instead of {u}'",
                hint=f"the local derivative of {a} = {u}({z}) is {_rule(spec)}, not {u}({z}) itself",
                detail=f"{u}({z}) = {_number(ev.values[a])} used for {u}'({z})")
    return out


def _derivative_at_output(checker, key):
    out = []
    ev = checker.ev
    for a, z, spec in _activation_edges(checker.ex):
        rule = ev.symbolic_local(a, z)
        at_a = compact(f"∂{a}/∂{z}", substitute(rule, {checker.ex.graph.symbols[z]: ev.values[a]}))
        if at_a == ev.local(a, z).value:
            continue
        u = spec.unicode
        out += _local_slip(
            checker, key, (a, z), at_a, title=f"{u}' evaluated at {a} instead of {z}",
            hint=f"evaluate {u}' at its input {z} = {_number(ev.values[z])}, not at its output "
                 f"{a} = {_number(ev.values[a])}")
    return out


def _path_nodes(ex, of: str, wrt: str) -> set:
    """The nodes on some path wrt → … → of (both ends included)."""
    graph = ex.graph
    upstream = graph.ancestors(of) | {of}
    below, stack = {wrt}, [wrt]
    while stack:
        for c in graph.consumers.get(stack.pop(), ()):
            if c not in below and c in upstream:
                below.add(c)
                stack.append(c)
    return below if of in below else set()


def _key_edges(checker, key) -> list:
    """The edges (child, parent) a slip can change the answer to ``key`` through, in graph order:
    the key's own edge for a local derivative, every edge on its paths for a gradient."""
    ex = checker.ex
    if key.kind == "local":
        return [(key.of, key.wrt)]
    if key.kind == "value":
        return []
    of, wrt = (key.of, key.wrt) if key.kind == "derivative" else (ex.output, key.name)
    on = _path_nodes(ex, of, wrt)
    return [(c, p) for c in ex.graph.nodes if c in on for p in ex.graph.nodes[c].parents if p in on]


def _inactive_slope_dropped(checker, key):
    """A gate whose inactive side still has a slope (leaky ReLU's α, ELU's αe^z) taken as ReLU's
    0 there — in the derivative, and also in the forward value (a = 0 for z ≤ 0)."""
    out = []
    ex, ev = checker.ex, checker.ev
    for a, z, spec in _activation_edges(ex):
        local = ev.local(a, z).value
        if not spec.gates or not _inactive(checker, z) or local == 0:
            continue
        u = spec.unicode
        words = dict(title=f"{u} taken as ReLU for {z} ≤ 0",
                     hint=f"{u}'({z}) = {spec.inactive_slope} for {z} ≤ 0 ({spec.convention}), not 0: "
                          f"the inactive side still passes the gradient on, scaled",
                     detail=f"here {z} = {_number(ev.values[z])} ≤ 0")
        out += _local_slip(checker, key, (a, z), sp.S.Zero, **words)
        if ev.values[a] != 0:  # a = 0 as ReLU gives, with its slope 0
            scenario = Scenario(ex, values={a: sp.S.Zero}, locals_={(a, z): sp.S.Zero})
            out.append(Candidate(scenario.answer(key), agrees=((_value(a), sp.S.Zero),
                                                                (_edge(a, z), sp.S.Zero)),
                                 scenario=scenario, **words))
    return out


def _weight_for_input(checker, key):
    """∂z/∂w taken as w instead of its coefficient x (in a term w·x of a linear line): the
    variable differentiated by, not what multiplies it. Found from the edge's rule (a symbol of
    another input of the line), never from names."""
    out = []
    ex, ev = checker.ex, checker.ev
    graph = ex.graph
    for c, p in _key_edges(checker, key)[-12:]:  # near the answer: where a hand calculation ends
        rule = ev.symbolic_local(c, p)
        if not rule.is_Symbol or rule == graph.symbols[p] or rule.name not in graph.nodes[c].parents:
            continue
        q, wrong = rule.name, ev.values[p]
        if wrong == ev.values[q]:
            continue
        out += _local_slip(checker, key, (c, p), wrong,
                           title=f"∂{c}/∂{p} taken as {p} instead of {q}",
                           hint=f"{c} is linear in {p}: the derivative is its coefficient, ∂{c}/∂{p} = {q}",
                           detail=f"{p} = {_number(wrong)} used for ∂{c}/∂{p}")
    return out


def _fanout_nodes(checker, key):
    """(node, its consumers on the key's paths) for every node that fans out on them."""
    ex = checker.ex
    if key.kind not in ("derivative", "update"):
        return [], None
    of, wrt = (key.of, key.wrt) if key.kind == "derivative" else (ex.output, key.name)
    on = _path_nodes(ex, of, wrt)
    graph = ex.graph
    return [(n, [c for c in graph.consumers[n] if c in on]) for n in graph.inputs + list(graph.nodes)
            if n in on and n != of and sum(1 for c in graph.consumers[n] if c in on) > 1], of


def _upstream_once(checker, key):
    """Where a value fans out, the upstream gradient taken once for every branch: one branch's
    ∂L/∂c multiplying the sum of all the branches' local derivatives, or multiplying only its own
    branch (the others' local derivatives added without theirs)."""
    fans, of = _fanout_nodes(checker, key)
    ev = checker.ev
    g = ev.adjoints(of)
    out = []
    for n, consumers in fans:
        ups = {c: (sp.S.One if c == of else g.get(c, sp.S.Zero)) for c in consumers}
        for chosen in consumers:
            others = [c for c in consumers if c != chosen]
            if any(ups[c] == 0 for c in others):
                continue  # a branch with no upstream: nothing to rescale
            across = {(c, n): ev.local(c, n).value * ups[chosen] / ups[c] for c in others}
            alone = {(c, n): ev.local(c, n).value / ups[c] for c in others}
            for overrides, detail in (
                    (across, f"∂{of}/∂{chosen} was used as the upstream of every branch of {n} "
                             f"({', '.join(consumers)})"),
                    (alone, f"the upstream ∂{of}/∂{chosen} multiplied only the branch through "
                            f"{chosen}; the other branches of {n} were added without theirs")):
                if all(ups[c] == ups[chosen] for c in others) and overrides is across:
                    continue  # the same upstream everywhere: that is the right sum
                # the scenario: the student's correct answers must agree with the slip (a right
                # ∂L/∂z1 shows the branches were summed correctly: the slip is not theirs)
                scenario = Scenario(checker.ex, locals_=overrides)
                out.append(Candidate(scenario.answer(key), detail, scenario=scenario,
                                     hint=f"{n} feeds {', '.join(consumers)}: each branch carries its "
                                          f"own upstream gradient, ∂{of}/∂{n} = Σ over them of "
                                          f"∂{of}/∂c · ∂c/∂{n}"))
    return out


def _mean_count(ex):
    """N of a loss that is a mean over N prediction–target terms, else None, read from the
    graph's loss line: a coefficient 1/(kN) in front of N terms of a registry entry (the mse
    entry, ``sum((a − y)²)/6`` over 3 examples, ``((a1 − y1)² + (a2 − y2)²)/2``) — but not an
    entry's own factor written in front (½ of the half squared error, over two outputs). Read
    once per graph."""
    if ex.graph not in _MEAN_COUNTS:
        _MEAN_COUNTS[ex.graph] = _read_mean_count(ex)
    return _MEAN_COUNTS[ex.graph]


_MEAN_COUNTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _read_mean_count(ex):
    node = ex.graph.nodes[ex.output]
    coefficient, _ = sp.factor_terms(node.expr).as_coeff_Mul()
    if not coefficient.is_Rational or coefficient.p != 1 or coefficient.q < 2:
        return None
    found = _loss_found(ex) or _loss_found(ex, sp.expand(node.expr * coefficient.q))
    if found is None:
        return None
    entry, pairs = found
    n = len(pairs)
    if n < 2 or coefficient.q % n:
        return None
    if not entry.mean and entry.scale(n) == coefficient and not _divided(node.display, n):
        return None  # ½(…) summed: the entry's own ½, not a mean
    return n


def _divided(display, n: int) -> bool:
    """Is the line written as a division by a multiple of n (``(…)/2``), not a factor in front?"""
    factors = sp.Mul.make_args(display)
    return any(f.is_Pow and f.exp == -1 and f.base.is_Integer and f.base % n == 0 for f in factors)


def _mean_forgotten(checker, key):
    """The 1/N of a mean over N examples (or outputs) forgotten: every ∂L/∂a of the loss N
    times too large."""
    ex, ev = checker.ex, checker.ev
    n = _mean_count(ex)
    if n is None:
        return []
    edges = _loss_edges(ex)
    overrides = {e: ev.local(*e).value * n for e in edges if ev.local(*e).value != 0}
    if not overrides:
        return []
    L = ex.output
    return _locals_slip(checker, key, overrides, title=f"missing 1/{n} of the mean",
                        hint=f"{L} = {_text(ex.graph.nodes[L].display)} is a mean over {n} terms: "
                             f"the 1/{n} stays in every ∂{L}/∂a",
                        detail=f"{', '.join(f'∂{L}/∂{a}' for _, a in overrides)} {n} times too large")


def slip_rule(text: str) -> sp.Expr:
    """A registry slip's wrong f'(z) over the symbol ``z``, read by derive's own parser (never
    sympify).

    >>> slip_rule("1 - tanh(z)")
    1 - tanh(z)
    """
    from ..core.parser import parse_expression, to_sympy
    if text not in _SLIP_RULES:
        _SLIP_RULES[text] = to_sympy(parse_expression(text), {"z": _Z})
    return _SLIP_RULES[text]


_Z = sp.Symbol("z", real=True)
_SLIP_RULES: dict = {}


def _derivative_slip(checker, key):
    out = []
    ev = checker.ev
    for a, z, spec in _activation_edges(checker.ex):
        for what, text in spec.slips:
            wrong_rule = slip_rule(text)
            wrong = compact(f"∂{a}/∂{z}", substitute(wrong_rule, {_Z: ev.values[z]}))
            if wrong == ev.local(a, z).value:
                continue
            out += _local_slip(checker, key, (a, z), wrong,
                               title=f"{spec.unicode}' written as {_text(wrong_rule)}",
                               hint=_rule(spec), detail=what)
    return out


def _has_minus(rule: sp.Expr) -> bool:
    """Does f'(z) carry a minus sign a hand calculation can lose (1 − tanh²(z), σ(z)(1 − σ(z)))?
    A gate's 𝟙[z > 0] has none: there a sign flip is no plausible slip."""
    stack = [rule]
    while stack:
        e = stack.pop()
        if isinstance(e, (Indicator, sp.core.relational.Relational)):
            continue
        if e.is_Number and e.is_negative:
            return True
        if e.is_Pow:  # 1/(1 + |z|)² is a division, not a minus sign
            stack += [e.base] if e.exp.is_Number else [e.base, e.exp]
            continue
        stack.extend(e.args)
    return False


_MINUS: dict = {}


def _rule_has_minus(spec) -> bool:
    """``_has_minus`` of the entry's derivative rule, found once per entry (the rule is SymPy's
    derivative of its function: recomputing it for every diagnosis costs a differentiation)."""
    known = _MINUS.get(spec.name)
    if known is None or known[0] is not spec:  # a re-registered entry is a new object: asked afresh
        known = _MINUS[spec.name] = (spec, _has_minus(derivative_rule(spec, _Z)))
    return known[1]


def _derivative_sign_flipped(checker, key):
    """f'(z) with the wrong sign: a generic slip for every activation (built-in or registered),
    from its derivative rule alone."""
    out = []
    ev = checker.ev
    for a, z, spec in _activation_edges(checker.ex):
        local = ev.local(a, z).value
        if local == 0 or not _rule_has_minus(spec):
            continue
        u = spec.unicode
        out += _local_slip(checker, key, (a, z), -local, title=f"{u}'({z}) with its sign flipped",
                           hint=f"{_rule(spec)}; at {z} = {_number(ev.values[z])} it is "
                                f"{_number(local)}", detail=f"∂{a}/∂{z} = {_number(-local)}")
    return out


def _gate_ignored(checker, key):
    out = []
    ev = checker.ev
    for a, z, spec in _activation_edges(checker.ex):
        local = ev.local(a, z).value
        if not spec.gates or not _inactive(checker, z) or local == 1:
            continue
        u = spec.unicode
        flows = ("no gradient flows through an inactive unit" if local == 0
                 else "only the inactive side's slope passes the gradient on")
        out += _local_slip(
            checker, key, (a, z), sp.S.One, title=f"{u} gate ignored for {z} ≤ 0",
            hint=f"{u}'({z}) = {spec.inactive_slope} for {z} ≤ 0 ({spec.convention}): {flows}",
            detail=f"here {z} = {_number(ev.values[z])} ≤ 0")
    return out


def _activation_not_applied(checker, key):
    """a = z written for a gate's inactive input (ReLU(−4) taken as −4)."""
    out = []
    ex, ev = checker.ex, checker.ev
    for a, z, spec in _activation_edges(ex):
        if not spec.gates or not _inactive(checker, z) or ev.values[a] == ev.values[z]:
            continue
        words = dict(title=f"{spec.unicode} not applied",
                     hint=_text(spec.definition),
                     detail=f"here {z} = {_number(ev.values[z])} ≤ 0, where {a} = "
                            f"{spec.unicode}({z}) is not {z}")
        agrees = ((_value(a), ev.values[z]),)
        # its local derivative taken as 1 too (the identity's), or still the gate's own
        for locals_ in ({(a, z): sp.S.One}, {}):
            scenario = Scenario(ex, values={a: ev.values[z]}, locals_=locals_)
            out.append(Candidate(scenario.answer(key), agrees=agrees, scenario=scenario, **words))
    return out


def _premature_rounding(checker, key):
    """An intermediate the student wrote rounded, then used rounded (σ' as a(1 − a) from the
    rounded a); or every intermediate rounded as it was computed — only as far as the student's
    own answers show it."""
    ex = checker.ex
    out = []
    judged = (key.kind, key.name, key.of, key.wrt)
    given = [(m, ans) for m, ans in checker.by_meaning.items()
             if m != judged and ans.value is not None and ans.formula is None]
    for meaning, answer in given:
        name = meaning[1]
        if meaning[0] != "value" or name == ex.output or answer.digits is None:
            continue
        exact = ex.evaluation.values[name]
        written = answer.value
        if written == exact or round_significant(exact, answer.digits) != written:
            continue
        scenario = Scenario(ex, values={name: written}, value_form=True)
        out.append(Candidate(scenario.answer(key), f"{name} was rounded to {_number(written)} before use",
                             needs=((meaning, written),), scenario=scenario))
    for digits in (2, 3, 4):
        if not given or not any(a.digits is not None and a.digits <= digits for _, a in given):
            continue  # nothing the student wrote looks rounded to this many figures
        scenario = Scenario(ex, round_all=digits)
        from .answers import Key, matches
        shows = []
        for meaning, answer in sorted(given, key=lambda g: g[0][0] != "value"):  # values first: cheap
            value = scenario.answer(Key("", *meaning))
            if not matches(answer, value):
                break
            shows.append((meaning, value))
        else:
            out.append(Candidate(scenario.answer(key),
                                 f"every intermediate was rounded to {digits} significant figures",
                                 needs=tuple(shows)))
    return out


def _paths_of(checker, key):
    if key.kind not in ("derivative", "update"):
        return None, None, None
    of, wrt = (key.of, key.wrt) if key.kind == "derivative" else (checker.ex.output, key.name)
    return of, wrt, checker.ev.paths(wrt, of)


def _path_not_summed(checker, key):
    of, wrt, paths = _paths_of(checker, key)
    if not paths or len(paths) < 2:
        return []
    graph = checker.ex.graph
    out = []
    for p in paths:
        # the one accumulation with every edge off this path set to 0: this path's product alone
        on_path = set(zip(p[1:], p))
        off = {(c, q): sp.S.Zero for c in graph.nodes for q in graph.nodes[c].parents
               if (c, q) not in on_path}
        out.append(Candidate(Scenario(checker.ex, locals_=off).answer(key),
                             "only the path " + " → ".join(p) + " was used"))
    return out


def _paths_multiplied(checker, key):
    of, wrt, paths = _paths_of(checker, key)
    if not paths or len(paths) < 2:
        return []
    graph = checker.ex.graph
    on_paths = {n for p in paths for n in p}
    fans = [n for n in graph.inputs + list(graph.nodes) if n in on_paths and n != of
            and sum(1 for c in graph.consumers[n] if c in on_paths) > 1]
    out = []
    for group in [[n] for n in fans] + ([fans] if len(fans) > 1 else []):
        consumers = [c for c in graph.consumers[group[0]] if c in on_paths]
        detail = (f"the contributions to ∂{of}/∂{group[0]} through {', '.join(consumers)} were "
                  f"multiplied" if len(group) == 1 else
                  f"the contributions were multiplied at {', '.join(group)}")
        out.append(Candidate(Scenario(checker.ex, multiply_at=group).answer(key), detail))
    return out


def _update_sign(checker, key):
    if key.kind != "update":
        return []
    ex = checker.ex
    g = ex.evaluation.grad(key.name, ex.output)
    w = ex.evaluation.values[key.name]
    name, L = key.name, ex.output
    return [Candidate(descend(w, -ex.lr, g), "added η·gradient instead of subtracting it",
                      hint=f"gradient descent moves against the gradient: {name}_new = {name} − "
                           f"η·∂{L}/∂{name}")]


def _update_without_rate(checker, key):
    if key.kind != "update":
        return []
    ex = checker.ex
    g = ex.evaluation.grad(key.name, ex.output)
    name, L = key.name, ex.output
    return [Candidate(descend(ex.evaluation.values[key.name], 1, g), "subtracted the gradient without η",
                      hint=f"scale the gradient by η = {_number(ex.lr)}: {name}_new = {name} − "
                           f"η·∂{L}/∂{name}")]


def _factors_added(checker, key):
    if key.kind != "derivative":
        return []
    paths = checker.ev.paths(key.wrt, key.of)
    if not paths or len(paths) != 1 or len(paths[0]) < 3:
        return []
    p = paths[0]
    return [Candidate(sum((checker.ev.local(b, a).value for a, b in zip(p, p[1:])), sp.S.Zero),
                      "the local derivatives along " + " → ".join(p) + " were added")]


# Order matters: the first mistake that explains an answer is named, so the more specific ones
# come first (an update's own slips; an inactive gate before "derivative omitted").
register(Mistake("update_sign", "update with the wrong sign",
                 "gradient descent moves against the gradient: w_new = w − η·∂L/∂w", _update_sign))
register(Mistake("update_without_rate", "update without the learning rate η",
                 "scale the gradient by η: w_new = w − η·∂L/∂w", _update_without_rate))
register(Mistake("leaky_as_relu", "inactive slope taken as 0",
                 "a gate with a slope on its inactive side (leaky ReLU's α) passes the gradient on "
                 "there, scaled", _inactive_slope_dropped))
register(Mistake("relu_gate_ignored", "gate ignored for an inactive unit",
                 "a gate's derivative is its inactive slope where its input is ≤ 0", _gate_ignored))
register(Mistake("activation_not_applied", "activation not applied",
                 "apply the activation to its input, also where the input is ≤ 0",
                 _activation_not_applied))
register(Mistake("missing_mean", "missing 1/N of the mean",
                 "the loss is a mean: its 1/N stays in the gradient", _mean_forgotten))
register(Mistake("sign_error", "sign error in the loss's derivative",
                 "differentiate the loss with respect to the prediction, keeping the order of "
                 "prediction and target", _sign_error))
register(Mistake("factor_two", "factor 2 dropped or ½ mismatched",
                 "d/da (a − y)² = 2(a − y), while d/da ½(a − y)² = a − y", _factor_two))
register(Mistake("activation_derivative_omitted", "activation derivative omitted",
                 "the chain rule needs the activation's local derivative between ∂L/∂a and ∂z/∂w",
                 _activation_omitted))
register(Mistake("derivative_slip", "activation derivative written wrongly",
                 "use the activation's derivative rule as stated", _derivative_slip))
register(Mistake("derivative_sign_flipped", "activation derivative with the wrong sign",
                 "evaluate the activation's derivative rule as stated, keeping its sign",
                 _derivative_sign_flipped))
register(Mistake("function_instead_of_derivative", "activation used instead of its derivative",
                 "the local derivative of a = f(z) is f'(z), not f(z) itself",
                 _function_instead_of_derivative))
register(Mistake("derivative_at_output", "derivative evaluated at the output instead of the input",
                 "evaluate the activation's derivative at its input z, not at its output a",
                 _derivative_at_output))
register(Mistake("weight_for_input", "the variable instead of its coefficient",
                 "in a term w·x the derivative with respect to w is x, not w", _weight_for_input))
register(Mistake("premature_rounding", "premature rounding of an intermediate",
                 "carry full precision through the calculation and round only the final answer",
                 _premature_rounding))
register(Mistake("path_not_summed", "a path not summed",
                 "a value used in several places collects a gradient from each use: sum over "
                 "every path", _path_not_summed))
register(Mistake("upstream_once", "the upstream gradient used once across the branches",
                 "where a value fans out, each branch carries its own upstream gradient",
                 _upstream_once))
register(Mistake("paths_multiplied", "paths multiplied instead of added",
                 "where a value feeds several others, the chain rule adds the contributions "
                 "through each: ∂L/∂x = Σ over its consumers c of ∂L/∂c · ∂c/∂x", _paths_multiplied))
register(Mistake("factors_added", "factors added instead of multiplied",
                 "the chain rule multiplies the local derivatives along the path", _factors_added))


def _shows(checker, meaning, value) -> bool | None:
    """Does the student's answer with this meaning show ``value``? None when not given."""
    from .answers import matches
    answer = checker.by_meaning.get(meaning)
    if answer is None or answer.value is None:
        return None
    return matches(answer, value)


def _right_answers(checker, own) -> list:
    """(meaning, answer) of every other answer the student got right as written: the evidence a
    diagnosis must not contradict."""
    from .answers import Key, MIN_SIGNIFICANT, matches
    out = []
    for meaning, answer in checker.by_meaning.items():
        if meaning in own or answer.value is None or answer.formula is not None:
            continue
        try:
            exact = checker.expected(Key("", *meaning))
        except Exception:  # noqa: BLE001 — an update without a learning rate: no evidence
            continue
        too_few = answer.digits is not None and answer.digits < MIN_SIGNIFICANT and answer.value != exact
        if not too_few and matches(answer, exact, checker.rtol, checker.atol):
            out.append((meaning, answer))
    return out


def _contradicted(scenario, right) -> bool:
    """Does an answer the student got right differ from what the slip would have given them?"""
    from .answers import Key, matches
    for meaning, answer in right:
        try:
            slipped = scenario.answer(Key("", *meaning))
        except Exception:  # noqa: BLE001 — undefined under the slip: no evidence either way
            continue
        if not matches(answer, slipped):
            return True
    return False


def diagnose(checker, key, answer) -> Diagnosis | None:
    """The first catalogue mistake that explains ``answer`` for ``key``, in this example's words.

    >>> import derive
    >>> from derive.checking.report import Checker
    >>> ex = derive.neuron(x=2, w=3, b=1, y=5, activation="tanh", loss="half_squared_error")
    >>> checker = Checker(ex, {"dL/da": "4.000"})
    >>> diagnose(checker, checker.keys["dL/da"], checker.answers["dL/da"]).text
    'sign error in (a − y): ∂L/∂a = a − y: prediction minus target, in that order'
    """
    from dataclasses import replace
    from .answers import matches, meanings
    expected = checker.expected(key)
    judged = (key.kind, key.name, key.of, key.wrt)
    own = set(meanings(checker.ex, key))
    right = None
    for mistake in MISTAKES:  # catalogue order: the more specific explanation first
        if mistake.values != "scalar":
            continue
        try:
            candidates = mistake.alternatives(checker, key)
        except Exception:  # a mistake that does not apply to this graph shape
            continue
        for c in candidates:
            if c.value is None or not matches(answer, c.value):
                continue
            # distinguishable from the correct value at the student's precision
            if c.value == expected or matches(replace(answer, value=c.value), expected):
                continue
            if any(m != judged and _shows(checker, m, v) is not True for m, v in c.needs):
                continue
            if any(m != judged and _shows(checker, m, v) is False for m, v in c.agrees):
                continue
            if c.scenario is not None:
                right = _right_answers(checker, own) if right is None else right
                if _contradicted(c.scenario, right):
                    continue
            return Diagnosis(mistake.name, c.title or mistake.title, c.hint or mistake.hint,
                             c.detail)
    return None


def diagnose_formula(checker, key, formula: sp.Expr, raw) -> Diagnosis | None:
    """A mistake inside a symbolic answer (``2*(y - a)`` for ``2*(a - y)``): the formula at the
    example's values, diagnosed like a number given exactly."""
    from .answers import Answer
    ev, graph = checker.ev, checker.ex.graph
    if checker.ex.symbolic:  # no values: diagnose at two generic points, agreeing
        return _diagnose_symbolic(checker, key, formula, raw)
    subs = {graph.symbols[n]: ev.values[n] for n in list(graph.inputs) + list(graph.nodes)}
    try:
        value = compact("answer", substitute(formula, subs))
    except Exception:  # undefined at these values (log of a negative …): nothing to diagnose
        return None
    return diagnose(checker, key, Answer(raw, value, None))


_GENERIC = ((sp.Rational(3, 7), sp.Rational(-5, 11), sp.Rational(2, 13), sp.Rational(7, 5)),
            (sp.Rational(-4, 9), sp.Rational(6, 7), sp.Rational(-3, 17), sp.Rational(5, 3)),
            (sp.Rational(5, 7), sp.Rational(9, 11), sp.Rational(4, 13), sp.Rational(-2, 5)),
            (sp.Rational(8, 9), sp.Rational(3, 5), sp.Rational(7, 17), sp.Rational(11, 3)))


def _diagnose_symbolic(checker, key, formula, raw):
    """A symbolic example's formula answer: the same mistake must explain it at two generic
    points (values no kink or tie sits on), so a coincidence at one point names nothing."""
    from .answers import Answer
    ex = checker.ex
    names = list(ex.graph.inputs)
    found = []
    for point in _GENERIC:
        values = {n: point[i % len(point)] * (1 + i // len(point)) for i, n in enumerate(names)}
        try:  # the example's own class, at values (model is a layer above: no import)
            twin = type(ex)(ex.graph, values=values, params=list(ex.params), lr=ex.lr)
            twin_checker = type(checker)(twin, {key.text: 0})  # checking imports this module
            subs = {ex.graph.symbols[n]: v for n, v in twin.evaluation.values.items()}
            value = compact("answer", substitute(formula, subs))
            if value == twin_checker.expected(key):
                continue  # the slip is invisible here (a gate that is closed): another point
            diagnosis = diagnose(twin_checker, key, Answer(raw, value, None))
        except Exception:  # noqa: BLE001 — undefined at this point: nothing to name
            continue
        if diagnosis is None:
            return None
        found.append(diagnosis)
    if len(found) >= 2 and all(d.name == found[0].name and d.text == found[0].text for d in found):
        return found[0]
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


# --- matrix mistakes: overrides of a step's local VJP in the tensor engine's one sweep ----------
#
# Each entry is defined by the override it applies (``TensorEvaluation.adjoints(of, local=…)``):
# the student's matrix is the engine's own reverse sweep with that one slip, on this example.
# (The tensor engine is imported inside them: a scalar check never loads numpy.)


def _base(ex, name: str) -> str:
    return ex.aliases[name][0] if name in ex.aliases else name


def _swept(ex, key, override):
    """The gradient ``key`` asks for, swept back with ``override`` of the steps' local VJPs."""
    if key.kind != "derivative":
        return []
    return [Candidate(ex.evaluation.adjoints(key.of, local=override)[_base(ex, key.wrt)])]


def _transposed(ex, key, expected):
    """The gradient laid out as the transpose of its variable (a δᵀ instead of δ aᵀ)."""
    from ..core.tensor import Tensor
    return [] if expected.scalar else [Candidate(Tensor(expected.a.T.copy()))]


def _without_mean(step, G):
    """A mean's gradient without its 1/N: the entry's own VJP times the count it divides by."""
    from ..core.tensor import binary_values, local_vjp, scalar
    count = step.op.averages(step.site) if step.op.averages is not None else 1
    if count == 1:
        return None
    grads, fused = local_vjp(step, G)
    times = lambda t: t and binary_values("*", scalar(sp.Integer(count)), t, t.shape, "×N")  # noqa: E731
    return [times(g) for g in grads], times(fused)


def _division_without_batch(ex):
    """A batch mean written by hand, ``sum(…)/N`` with N a multiple of the batch (the columns of
    what is summed), with its 1/B forgotten: the division's gradient B times too large. Read
    from the tape: the divisor is a written number, the numerator a sum over a batch."""
    from ..core.tensor import binary_values, local_vjp, scalar
    produced_by = ex.evaluation.produced_by

    def override(step, G):
        if step.op.name != "/" or step.site.numbers[1] is None or not step.site.numbers[1].is_Integer:
            return None
        summed = produced_by.get(id(step.inputs[0]))
        if summed is None or summed.op.name != "sum" or len(summed.site.shapes[0]) != 2:
            return None
        batch = summed.site.shapes[0][1]
        if batch < 2 or int(step.site.numbers[1]) % batch:
            return None
        grads, fused = local_vjp(step, G)
        times = lambda t: t and binary_values("*", scalar(sp.Integer(batch)), t, t.shape, "×B")  # noqa: E731
        return [times(g) for g in grads], times(fused)
    return override


def _mask_forgotten(step, G):
    """A gate (ReLU) passing every gradient, as if each unit were active."""
    if step.op.name == "apply" and getattr(step.site.function, "gates", False):
        return [G] + [None] * (len(step.inputs) - 1), None
    return None


def _bias_not_summed(step, G):
    """A bias broadcast over the batch given the per-example gradient, not its sum Σ_batch."""
    from ..core.tensor import local_vjp, negate
    if step.op.name not in ("+", "-"):
        return None
    out = step.site.out
    own, _ = local_vjp(step, G)
    grads, changed = [], False
    for i, shape in enumerate(step.site.shapes):
        if shape != () and shape[1] == 1 and out[1] > 1 and shape[0] == out[0] and own[i] is not None:
            grads.append(negate(G) if step.op.name == "-" and i == 1 else G)
            changed = True
        else:
            grads.append(own[i])
    return (grads, None) if changed else None


def _without_targets(step, G):
    """Softmax followed by cross-entropy with δ = p/B: the targets never subtracted."""
    from ..core.matrixmath import Scaled
    from ..core.derivation import Product
    from ..core.tensor import evaluate_step_formula, local_vjp
    if step.fused is None:
        return None
    grads, _ = local_vjp(step, G)
    batch = step.site.shapes[0][1]

    def delta(g, operands, out, logits):
        p = Product((g, operands[0]))
        return p if batch == 1 else Scaled(p, sp.Integer(batch))
    return grads, evaluate_step_formula(step, G, delta, step.fused.shape)


def _unsummed_bias(ex, key, expected):
    if expected.scalar or expected.a.shape[1] != 1:
        return []
    return _swept(ex, key, _bias_not_summed)


register(Mistake("transposed", "transposed matrix",
                 "the gradient has the shape of the variable (out × in for a weight): "
                 "∂L/∂W = δ aᵀ, not a δᵀ", _transposed, values="tensor"))
register(Mistake("missing_mean", "missing 1/N of the batch mean",
                 "every entry is N times too large: the loss is the mean over the batch, so the "
                 "gradient carries 1/N", lambda ex, key, e: _swept(ex, key, _without_mean)
                 + _swept(ex, key, _division_without_batch(ex)),
                 values="tensor"))
register(Mistake("mask_forgotten", "ReLU mask forgotten",
                 "the gradient went through the activation as if every unit were active: "
                 "multiply entrywise by 𝟙[z > 0]", lambda ex, key, e: _swept(ex, key, _mask_forgotten),
                 values="tensor"))
register(Mistake("bias_not_summed", "bias gradient not summed over the batch",
                 "the bias is shared by every example: sum δ over the batch (the columns) to get "
                 "one column", _unsummed_bias, values="tensor"))
register(Mistake("softmax_without_y", "softmax gradient without subtracting y",
                 "softmax followed by cross-entropy has the gradient p − y: subtract the one-hot "
                 "target", lambda ex, key, e: _swept(ex, key, _without_targets), values="tensor"))


def matrix_mistakes() -> list:
    """The catalogue's entries for tensor examples, in catalogue order."""
    return [m for m in MISTAKES if m.values == "tensor"]
