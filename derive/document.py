"""From an ``Example`` to the content of its worked-example document, as math objects and
sentences (still format-free). ``derive.render`` prints them for one format and hands the finished
strings to a template. The order follows the source conversation: the activation and its
derivative, the network and values, the forward pass, the loss, the chain rule written out, each
factor justified, the product, the update, and observations generated from the values."""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .derivation import Chain, Partial, Product, Sum, Value
from .functions import BY_CLASS, Sentence
from .losses import LOSSES

SMALL_LOCAL_GRADIENT = sp.Rational(1, 100)  # below this an activation is called saturated
LARGE_GRADIENT = 100


@dataclass
class Section:
    """A titled run of blocks, in reading order: ("say", Sentence), ("show", math),
    ("step", (math, reasons)), ("bullet", Sentence), ("table", {"header", "rows"})."""

    title: str
    blocks: list = field(default_factory=list)

    def say(self, sentence):
        self.blocks.append(("say", sentence))

    def show(self, math):
        self.blocks.append(("show", math))

    def step(self, math, reasons=()):
        self.blocks.append(("step", (math, tuple(reasons))))

    def bullet(self, sentence):
        self.blocks.append(("bullet", sentence))

    def diagram(self, d):
        self.blocks.append(("diagram", d))

    def tabulate(self, header, rows):
        self.blocks.append(("table", {"header": list(header), "rows": [list(r) for r in rows]}))


@dataclass
class Content:
    title: str
    sections: list
    footer: str = ""


def _activations_used(ex):
    seen = {}
    for node in ex.graph.nodes.values():
        stack = [node.expr]
        while stack:
            e = stack.pop()
            spec = BY_CLASS.get(type(e))
            if spec is not None and spec.kind == "activation":
                seen.setdefault(spec.name, (spec, node.name, e))
            stack.extend(e.args)
    return list(seen.values())


def _product_form(ex, d):
    """The chain rule for a single path as (symbolic product, numeric product); None if the
    gradient has more than one path."""
    if d.paths is None or len(d.paths) != 1:
        return None
    path = d.paths[0].nodes
    edges = list(zip(path, path[1:]))[::-1]  # from the output back to wrt
    symbolic = Product(tuple(Partial(b, a) for a, b in edges))
    numeric = None
    if not ex.symbolic:
        numeric = Product(tuple(Value(ex.evaluation.local(b, a).value) for a, b in edges))
    return symbolic, numeric, edges


def _local_chain(ex, step):
    items = [Partial(step.of, step.wrt), "="]
    if step.symbolic.is_Number or step.value is None:
        items.append(step.symbolic if step.value is None else Value(step.value))
        return Chain(*items)
    items.append(step.symbolic)
    if not step.symbolic.is_Symbol and step.substituted and step.substituted.values:
        items += ["=", step.substituted]
    items += ["=", Value(step.value)]
    return Chain(*items)


def _forward_chain(ex, f):
    items = [ex.graph.symbols[f.name], "=", f.expr]
    if f.substituted is not None and f.substituted.values and not f.expr.is_Symbol:
        items += ["=", f.substituted]
    if f.value is not None:
        items += ["=", Value(f.value)]
    return Chain(*items)


def _mag(value):
    from .approx import approx
    return abs(approx(value))


def observations(ex, d) -> list:
    """Sentences a lecturer would add, generated from the values (never canned)."""
    out = []
    if ex.symbolic:
        return out
    for spec, node_name, app in _activations_used(ex):
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
            mag = _mag(local)
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
    large = [(p, g) for p, g in ex.gradients().items() if _mag(g) >= LARGE_GRADIENT]
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
            direction = "decreases" if _mag(g) and g.is_extended_positive else "increases"
            out.append(Sentence(
                f"The gradient is {'positive' if direction == 'decreases' else 'negative'}, so "
                f"gradient descent {direction} {{0}}.", (ex.graph.symbols[d.wrt],)))
        else:
            out.append(Sentence("The gradient is 0, so this step leaves {0} unchanged.",
                                (ex.graph.symbols[d.wrt],)))
    return out


def build(ex) -> Content:
    """The whole worked example for any ``Example`` (neuron, chain, MLP or user equations)."""
    if ex.kind == "chain":
        from .deep import build_chain
        return build_chain(ex)
    d = ex.derivation()
    ev = ex.evaluation
    sections = []
    title = ex.title or f"Derivative of {ex.output} by the chain rule"

    # 1. The activation functions and their derivatives.
    used = _activations_used(ex)
    if used:
        s = Section("The activation function" + ("s" if len(used) > 1 else ""))
        for spec, _, _ in used:
            s.say(Sentence(f"{spec.description.capitalize()}:"))
            s.show(spec.definition)
            s.say(Sentence("Its derivative:"))
            s.show(spec.derivative)
            if spec.kink is not None:
                s.say(Sentence(
                    "At the kink z = 0 the derivative is not defined; derive uses the convention "
                    "shown (as PyTorch does)."))
        sections.append(s)

    # 2. The computation and the given values.
    s = Section("The computation")
    s.say(Sentence("Each line defines one node; the inputs are " + _listing(len(ex.inputs)) + ".",
                   tuple(ex.graph.symbols[n] for n in ex.inputs))
          if len(ex.inputs) <= 12 else Sentence(f"Each line defines one node; there are "
                                                f"{len(ex.inputs)} inputs."))
    for node in ex.graph.nodes.values():
        s.show(Chain(node.symbol, "=", node.display))
    if not ex.symbolic:
        s.say(Sentence("The given values:"))
        s.tabulate(["input", "value"], [[ex.graph.symbols[n], Value(ev.values[n])] for n in ex.inputs])
    if ex.lr is not None:
        s.say(Sentence("The learning rate is {0}.",
                                     (Chain(sp.Symbol("eta"), "=", Value(ex.lr)),)))
    loss_name = ex.meta.get("loss")
    if loss_name in LOSSES:
        s.say(Sentence(f"The loss is the {LOSSES[loss_name].description}."))
    sections.append(s)

    # 3. Forward pass.
    if not ex.symbolic:
        s = Section("Forward pass")
        s.say(Sentence("Substitute the values, one node at a time:"))
        for f in d.forward:
            s.show(_forward_chain(ex, f))
        sections.append(s)

    # 4. Backward pass.
    target = Partial(d.output, d.wrt)
    s = Section("Backward pass: the chain rule")
    product = _product_form(ex, d)
    if product is not None:
        symbolic, numeric, edges = product
        s.say(Sentence("To update {0} we need {1}. By the chain rule:",
                                     (ex.graph.symbols[d.wrt], target)))
        s.show(Chain(target, "=", symbolic))
        s.say(Sentence("One factor at a time:"))
        for a, b in edges:
            step = ev.local(b, a)
            s.step(_local_chain(ex, step), step.justification)
        if numeric is not None:
            s.say(Sentence("Multiply the factors:"))
            s.show(Chain(target, "=", numeric, "=", Value(d.total)))
        else:  # symbolic: the product of the local rules, in chain order
            s.show(Chain(target, "=", Product(tuple(ev.local(b, a).symbolic for a, b in edges))))
    else:
        s.say(Sentence(
            "{0} reaches {1} along more than one path, so the chain rule sums over the paths "
            "(a node used twice collects a gradient from each use). The local derivatives:",
            (ex.graph.symbols[d.wrt], ex.graph.symbols[d.output])))
        for step in d.local:
            s.step(_local_chain(ex, step), step.justification)
        if d.paths is not None:
            s.say(Sentence(f"There are {len(d.paths)} paths; each contributes the product of the "
                           f"local derivatives along it:"))
            for i, path in enumerate(d.paths, start=1):
                edges = list(zip(path.nodes, path.nodes[1:]))[::-1]
                symbolic = Product(tuple(Partial(b, a) for a, b in edges))
                if ex.symbolic:
                    s.step(Chain(symbolic, "=", Product(tuple(ev.local(b, a).symbolic for a, b in edges))),
                           (Sentence(f"path {i}: " + " → ".join(path.nodes)),))
                else:
                    s.step(Chain(symbolic, "=", Product(tuple(Value(ev.local(b, a).value) for a, b in edges)),
                                 "=", Value(path.value)),
                           (Sentence(f"path {i}: " + " → ".join(path.nodes)),))
            s.say(Sentence("The gradient is the sum over the paths:"))
            if not ex.symbolic:
                s.show(Chain(target, "=", Sum(tuple(Value(p.value) for p in d.paths)),
                             "=", Value(d.total)))
            else:
                s.show(Chain(target, "=", d.total))
        else:
            s.say(Sentence(
                "There are too many paths to list, so accumulate backwards instead: each node's "
                "gradient is the sum, over the nodes that use it, of their gradient times the "
                "local derivative."))
            for a in d.adjoints:
                if not a.consumers:
                    continue
                terms = tuple(Product((Partial(d.output, c), Partial(c, a.node))) for c in a.consumers)
                s.show(Chain(Partial(d.output, a.node), "=", Sum(terms), "=",
                                         Value(a.value) if not ex.symbolic else a.value))
    sections.append(s)

    # 5. Every parameter, and the update (an MLP gets δ notation and a table instead).
    grads = ex.gradients()
    others = [p for p in ex.params if p != d.wrt]
    if ex.kind == "mlp":
        from .deep import mlp_sections
        sections.extend(mlp_sections(ex))
    elif others or ex.lr is not None:
        s = Section("Gradients of every parameter" + (" and the update" if ex.lr is not None else ""))
        for p in others:
            dp = ex.evaluation.derivation(p, ex.output)
            prod = _product_form(ex, dp)
            if prod is not None and not ex.symbolic:
                s.show(Chain(Partial(ex.output, p), "=", prod[0], "=", prod[1], "=",
                                         Value(grads[p])))
            else:
                s.show(Chain(Partial(ex.output, p), "=",
                                         Value(grads[p]) if not ex.symbolic else grads[p]))
        if ex.lr is not None and not ex.symbolic:
            s.say(Sentence("Gradient descent with learning rate {0} moves each "
                                         "parameter against its gradient:",
                                         (Chain(sp.Symbol("eta"), "=", Value(ex.lr)),)))
            eta = sp.Symbol("eta")
            for p in ex.params:
                sym = ex.graph.symbols[p]
                new = sp.Symbol(f"{p}_new")
                s.show(Chain(
                    new, "=", sym, "-", Product((eta, Partial(ex.output, p))), "=",
                    Value(ev.values[p]), "-", Product((Value(ex.lr), Value(grads[p]))), "=",
                    Value(_update(ex, p))))
        sections.append(s)

    # 6. Observations.
    obs = observations(ex, d)
    if obs:
        s = Section("Observations")
        for o in obs:
            s.bullet(o)
        sections.append(s)
    return Content(title, sections)


def _update(ex, p):
    from .engine import compact
    return compact(f"{p}_new", ex.evaluation.values[p] - ex.lr * ex.evaluation.grad(p, ex.output))


__all__ = ["build", "Content", "Section", "observations"]


def _listing(n: int) -> str:
    """"{0}, {1} and {2}" for n = 3."""
    fields = [f"{{{i}}}" for i in range(n)]
    return fields[0] if n == 1 else ", ".join(fields[:-1]) + " and " + fields[-1]
