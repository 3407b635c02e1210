"""From an ``Example`` to the content of its worked-example document, as math objects and
sentences (still format-free). ``derive.rendering.formats`` prints them for one format and hands the finished
strings to a template. The order follows the source conversation: the activation and its
derivative, the network and values, the forward pass, the loss, the chain rule written out, each
factor justified, the product, the update, and observations generated from the values."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from ..core.derivation import Chain, Partial, Product, Sum, Value
from ..core.functions import Sentence
from ..core.losses import LOSSES



from ..rendering.blocks import Content, Section
from .deep import build_chain, mlp_sections
from .observations import observations
from .simplify import local_form as textbook_local, product_form as textbook_product
from .steps import (activations_used, forward_chain, functions_used, local_chain, product_form,
                    roles_sentence)


@dataclass(frozen=True)
class Layout:
    """How an example kind becomes a document: ``build(ex) -> Content``."""

    kind: str
    build: Callable
    description: str = ""


LAYOUTS: dict[str, Layout] = {}


def register_layout(kind: str, build_fn: Callable, description: str = "") -> Layout:
    """Give an example kind (``Example.kind``) its document layout. A new kind is its builder
    (which sets ``kind``) plus one entry here.

    >>> sorted(LAYOUTS)
    ['chain', 'generic', 'mlp', 'neuron']
    """
    layout = Layout(kind, build_fn, description)
    LAYOUTS[kind] = layout
    return layout


def unregister_layout(kind: str) -> None:
    del LAYOUTS[kind]


def build(ex) -> Content:
    """The whole worked example for any ``Example``, laid out by its kind's registry entry."""
    layout = LAYOUTS.get(ex.kind)
    if layout is None:
        from ..core.errors import DeriveError
        raise DeriveError(f"no document layout for examples of kind {ex.kind!r}; known kinds: "
                          f"{', '.join(sorted(LAYOUTS))} (add one with register_layout)")
    return layout.build(ex)


def build_generic(ex, parameters=None) -> Content:
    """The generic worked example: activations, computation, forward pass, the chain rule for the
    focus parameter, then ``parameters(ex)`` (sections for every other parameter and the update;
    by default ``parameter_sections``) and observations."""
    d = ex.derivation()
    ev = ex.evaluation
    sections = []
    title = ex.title or f"Derivative of {ex.output} by the chain rule"

    # 1. The activation functions and their derivatives.
    used = activations_used(ex)
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

    # 1b. The losses called in the equations (L = binary_cross_entropy(a, y)).
    losses = functions_used(ex, "loss")
    if losses:
        s = Section("The loss function" + ("s" if len(losses) > 1 else ""))
        for spec, _, _ in losses:
            s.say(Sentence(f"{spec.description[0].upper()}{spec.description[1:]}:"))
            s.show(spec.definition)
            s.say(Sentence("Its derivative:"))
            s.show(spec.derivative)
            if spec.convention:
                s.say(Sentence(f"By convention {spec.convention}."))
        sections.append(s)

    # 2. The computation and the given values.
    s = Section("The computation")
    if ex.meta.get("instructions"):  # the spec's task, as the teacher wrote it (plain text)
        s.say(Sentence(ex.meta["instructions"].replace("{", "{{").replace("}", "}}")))
    s.say(Sentence("Each line defines one node; the inputs are " + _listing(len(ex.inputs)) + ".",
                   tuple(ex.graph.symbols[n] for n in ex.inputs))
          if len(ex.inputs) <= 12 else Sentence(f"Each line defines one node; there are "
                                                f"{len(ex.inputs)} inputs."))
    s.say(roles_sentence(ex))
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
            s.show(forward_chain(ex, f))
        sections.append(s)

    # 4. Backward pass.
    target = Partial(d.output, d.wrt)
    s = Section("Backward pass: the chain rule")
    product = product_form(ex, d)
    if product is not None:
        symbolic, numeric, edges = product
        s.say(Sentence("To update {0} we need {1}. By the chain rule:",
                                     (ex.graph.symbols[d.wrt], target)))
        s.show(Chain(target, "=", symbolic))
        s.say(Sentence("One factor at a time:"))
        for a, b in edges:
            step = ev.local(b, a)
            form = textbook_local(ex, step)
            if form is None:
                s.step(local_chain(ex, step), step.justification)
            else:
                s.step(*_local_with_form(ex, step, form))
        if numeric is not None:
            s.say(Sentence("Multiply the factors:"))
            s.show(Chain(target, "=", numeric, "=", Value(d.total)))
        else:  # symbolic: the product of the local rules, in chain order
            s.show(Chain(target, "=", Product(tuple(ev.local(b, a).symbolic for a, b in edges))))
        _textbook_product(ex, d, edges, s)
    else:
        s.say(Sentence(
            "{0} reaches {1} along more than one path, so the chain rule sums over the paths "
            "(a node used twice collects a gradient from each use). The local derivatives:",
            (ex.graph.symbols[d.wrt], ex.graph.symbols[d.output])))
        for step in d.local:
            s.step(local_chain(ex, step), step.justification)
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
    sections.extend((parameters or parameter_sections)(ex, d))

    # 6. Observations.
    obs = observations(ex, d)
    if obs:
        s = Section("Observations")
        for o in obs:
            s.bullet(o)
        sections.append(s)
    return Content(title, sections)


def parameter_sections(ex, d) -> list:
    """Every parameter's gradient other than the focus one, and the update of each."""
    sections = []
    ev = ex.evaluation
    grads = ex.gradients()
    others = [p for p in ex.params if p != d.wrt]
    if others or ex.lr is not None:
        s = Section("Gradients of every parameter" + (" and the update" if ex.lr is not None else ""))
        for p in others:
            dp = ex.evaluation.derivation(p, ex.output)
            prod = product_form(ex, dp)
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
    return sections


def _local_with_form(ex, step, form):
    """A local derivative whose rule simplifies in terms of the unit's own output:
    ∂a/∂z = 1 − tanh²(z) = 1 − a² = 1 − 0.4621² ≈ 0.7864, with the reason it simplifies."""
    node = ex.graph.nodes[step.of]
    items = [Partial(step.of, step.wrt), "=", step.symbolic, "=", form.simplified]
    if not ex.symbolic:
        # Substitute into the rule, not into a(1 − a): a rounded a would give the hand-rounding
        # slip (σ(7) ≈ 0.999 -> σ'(7) ≈ 0.000999) that the exact value avoids.
        if step.substituted is not None and step.substituted.values:
            items += ["=", step.substituted]
        items += ["=", Value(step.value)]
    reason = Sentence("since {0}, this simplifies to {1}",
                      (Chain(node.symbol, "=", node.display), form.simplified))
    return Chain(*items), step.justification + (reason,)


def _textbook_product(ex, d, edges, s):
    """After the mechanical product, the textbook form when factors cancel (σ with binary
    cross-entropy: ∂L/∂z = a − y), verified equal by SymPy in ``derive.teaching.simplify``."""
    form = textbook_product(ex, d)
    if form is None:
        return
    partial = Partial(form.of, form.wrt)
    prefix = list(edges)[:len(form.mechanical)]
    count = "two" if len(prefix) == 2 else str(len(prefix))
    s.say(Sentence(f"Written out symbolically, the first {count} factors are"))
    s.show(Chain(partial, "=", Product(tuple(Partial(b, a) for a, b in prefix)), "=",
                 Product(form.mechanical)))
    s.say(Sentence("which simplifies to"))
    s.show(Chain(partial, "=", form.simplified) if ex.symbolic else
           Chain(partial, "=", form.simplified, "=", Value(form.value)))
    rest = edges[len(form.mechanical):]
    math = tuple(Chain(Partial(of, wrt), "=", ex.evaluation.local(of, wrt).symbolic)
                 for of, wrt in form.cancelled)
    fields = " and ".join(f"{{{i}}}" for i in range(len(math)))
    tail = ", so" if rest else "."
    if math:
        s.say(Sentence(("The factor " if len(math) == 1 else "The factors ") + fields
                       + (" cancels" if len(math) == 1 else " cancel") + tail, math))
    elif rest:
        s.say(Sentence("so"))
    if rest:
        factors = [ex.evaluation.local(b, a).symbolic for a, b in rest]
        whole = sp.Mul(form.simplified, *factors, evaluate=False)
        s.show(Chain(Partial(d.output, d.wrt), "=",
                     Product((partial,) + tuple(Partial(b, a) for a, b in rest)), "=", whole))


def _update(ex, p):
    from ..core.engine import compact
    return compact(f"{p}_new", ex.evaluation.values[p] - ex.lr * ex.evaluation.grad(p, ex.output))


def _mlp_document(ex) -> Content:
    return build_generic(ex, parameters=lambda ex, d: mlp_sections(ex))


register_layout("generic", build_generic, "staged equations: the chain rule for the focus parameter")
register_layout("neuron", build_generic, "one neuron: the chain rule for its weight")
register_layout("mlp", _mlp_document, "a multi-layer network: δ notation, matrix form, every parameter")
register_layout("chain", build_chain, "a deep chain: exploding and vanishing gradients")

__all__ = ["build", "build_generic", "register_layout", "LAYOUTS", "Content", "Section", "observations"]


def _listing(n: int) -> str:
    """"{0}, {1} and {2}" for n = 3."""
    fields = [f"{{{i}}}" for i in range(n)]
    return fields[0] if n == 1 else ", ".join(fields[:-1]) + " and " + fields[-1]
