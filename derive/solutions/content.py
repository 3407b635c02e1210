"""From an ``Example`` to the content of its worked-example document, as math objects and
sentences (still format-free). ``derive.rendering.formats`` prints them for one format and hands the finished
strings to a template. The order follows the source conversation: the activation and its
derivative, the network and values, the forward pass, the loss, the chain rule written out, each
factor justified, the product, the update, and observations generated from the values."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from ..core.derivation import Chain, Partial, Prime, Product, Sum, Total, Value
from ..core.functions import Sentence, kink_slopes
from ..core.losses import LOSSES



from ..rendering.blocks import Content, Section
from .deep import build_chain, mlp_sections
from .observations import observations
from .steps import (CROSSCHECK_NOTE, EXACT_NOTE, activations_used, forward_chain, functions_used,
                    local_chain, notebook_checks, partial as _partial, pre_activations, product_form,
                    roles_sentence)
from .simplify import local_form as textbook_local, product_form as textbook_product


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

    >>> {"neuron", "chain", "mlp", "generic"} <= set(LAYOUTS)  # layer builders add their own
    True
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


def parameters_said(spec, values) -> str:
    """"; here α = 0.1" for the entry's parameters that ``values`` (its arguments after the
    first) give as numbers, whether written or left to the function's usual value: a sheet
    states the example's α, never a default, in scalar and tensor documents alike. A parameter
    that is an input of its own (``leaky_relu(z, alpha)``: None here) is given with the values.

    >>> import sympy as sp
    >>> from derive.core.functions import FUNCTIONS
    >>> parameters_said(FUNCTIONS["elu"], ()), parameters_said(FUNCTIONS["leaky_relu"], (sp.Rational(1, 10),))
    ('; here α = 1', '; here α = 0.1')
    """
    from ..core.numbers import format_number, terminating_decimal
    values = list(values) + list(spec.defaults[len(values):])

    def said(value):  # as the formulas print it: 0.2 as given, 1/3 exact (never ≈ 0.3333)
        if isinstance(value, sp.Rational) and terminating_decimal(value, 6) is None:
            return f"{value.p}/{value.q}"
        return format_number(value, 4)
    chosen = [f"{name} = {said(value).replace('-', '−')}"
              for name, value in zip(spec.parameters, values) if value is not None and value.is_number]
    return "; here " + ", ".join(chosen) if chosen else ""


def delta_sentence(ex) -> Sentence:
    """What the preset ``delta: true`` abbreviates, said once: "Write δ for ∂L/∂z, …"."""
    zs = pre_activations(ex)
    more = " (likewise for every pre-activation)" if len(zs) > 1 else ""
    return Sentence("Write {0} for {1}, the gradient of the loss with respect to the pre-activation "
                    "{2}" + more + ".", (Total(ex.output, zs[0]), Total(ex.output, zs[0], abbreviate=False),
                                         ex.graph.symbols[zs[0]]))


def _listed(first: int, count: int) -> str:
    holes = [f"{{{first + i}}}" for i in range(count)]
    return holes[0] if count == 1 else ", ".join(holes[:-1]) + " and " + holes[-1]


def kink_sentence(spec, parameters=None) -> Sentence | None:
    """Where the activation's derivative is not defined and the value taken there, from the
    entry's facts (``kinks``; the rule's value at each): "At the kinks z = −1 and z = 1 …". The
    convention is stated as the math's, in the entry's own parameters (LeakyReLU'(0) = α), the
    application's values deciding only where it bends.

    >>> from derive.core.functions import FUNCTIONS
    >>> kink_sentence(FUNCTIONS["relu"]).template
    'At the kink {0} the derivative is not defined; we take {1}, as PyTorch does.'
    """
    z = sp.Symbol("z", real=True)
    slopes = kink_slopes(spec)
    if parameters is not None:  # the application's own α …: a kink only where it bends for them
        names = dict(zip(spec.arguments[1:], parameters))  # α -> the application's value
        # the value in the entry's parameters (α) unless it is unbounded for these values
        slopes = tuple((k, None if v is None or v.xreplace(names).is_finite is False else v) for k, v in slopes
                       if spec.kink is None or spec.kink([k, *parameters]))
    finite = [(k, v) for k, v in slopes if v is not None]
    unbounded = [k for k, v in slopes if v is None]
    parts, math = [], ()
    if finite:
        n = len(finite)
        parts.append(f"At the kink{'s' if n > 1 else ''} {_listed(0, n)} the derivative is not "
                     f"defined; we take {_listed(n, n)}, as PyTorch does.")
        math = (tuple(Chain(z, "=", Value(k)) for k, _ in finite)
                + tuple(Chain(Prime(spec.name, Value(k)), "=", Value(v) if v.is_number else v)
                        for k, v in finite))
    if unbounded:
        m = len(unbounded)
        parts.append(f"At {_listed(len(math), m)} the derivative is unbounded, so the gradient is "
                     f"undefined there.")
        math += tuple(Chain(z, "=", Value(k)) for k in unbounded)
    if not parts:
        return None
    return Sentence(" ".join(parts), math)


def build_generic(ex, parameters=None) -> Content:
    """The generic worked example: activations, computation, forward pass, the chain rule for the
    focus parameter, then ``parameters(ex)`` (sections for every other parameter and the update;
    by default ``parameter_sections``) and observations."""
    d = ex.derivation()
    sections = []
    title = ex.title or f"Derivative of {ex.output} by the chain rule"

    # 1. The activation functions and their derivatives.
    used = activations_used(ex)
    if used:
        s = Section("The activation function" + ("s" if len(used) > 1 else ""))
        for spec, _, application in used:
            said = parameters_said(spec, application.args[1:])  # "; here α = 0.1"
            s.say(Sentence(spec.description[0].upper() + spec.description[1:] + said + ":"))
            s.show(spec.definition)
            s.say(Sentence("Its derivative:"))
            kink = None
            if spec.kinks:
                given = [d.at(a) for a in application.args[1:]] if not ex.symbolic else None
                kink = kink_sentence(spec, given)
            # the convention is stated once: in the kink sentence when there is one
            s.show(spec.derivative if kink is None else spec.derivative_cases)
            if kink is not None:
                s.say(kink)
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
        s.lecturer_note(EXACT_NOTE)
        if notebook_checks(ex):
            s.lecturer_note(CROSSCHECK_NOTE)
        s.say(Sentence("The given values:"))
        s.tabulate(["input", "value"], [[ex.graph.symbols[n], Value(d.value(n))] for n in ex.inputs])
    if ex.lr is not None:
        s.say(Sentence("The learning rate is {0}.",
                                     (Chain(sp.Symbol("eta"), "=", Value(ex.lr)),)))
    loss_name = ex.meta.get("loss")
    if loss_name in LOSSES:
        outputs = (ex.meta.get("widths") or [1])[-1]  # a neuron and a chain have one output
        s.say(Sentence(f"The loss is the {LOSSES[loss_name].described(outputs)}."))
    sections.append(s)

    # 3. Forward pass.
    if not ex.symbolic:
        s = Section("Forward pass")
        s.say(Sentence("Substitute the values, one node at a time:"))
        for f in d.forward:
            s.show(forward_chain(ex, f))
        sections.append(s)

    # 4. Backward pass: the focus parameter in full; what it computes is reused below.
    work = Worked(ex)
    s = Section("Backward pass: the chain rule")
    s.say(Sentence("Notation: {0} is the total derivative of the output through every path of the "
                   "graph (what gradient descent uses); {1} is the derivative of one line with "
                   "respect to one of its inputs, the others held fixed.",
                   (Total(ex.output, d.wrt), Partial(ex.output, d.wrt, direct=True))))
    if pre_activations(ex):
        s.note(delta_sentence(ex), "delta")
    work.gradient(s, d, first=True)
    sections.append(s)

    # 5. Every parameter, and the update (an MLP gets δ notation and a table instead).
    sections.extend(parameters(ex, d) if parameters else parameter_sections(ex, d, work))

    # 6. Observations.
    obs = observations(ex, d)
    if obs:
        s = Section("Observations")
        for o in obs:
            s.bullet(o)
        sections.append(s)
    return Content(title, sections)


def asked_parameters(ex, d) -> list:
    """The parameters a document works in full: those ``ask`` names (dL/dw, in that order) when
    the example has an ``ask`` list, else every parameter; the focus parameter first. An ``ask``
    list may name inputs that are not parameters (a layer's dx): their gradients are worked too."""
    asked = []
    for key in ex.meta.get("ask") or ():
        for sep in ("/d", "/∂"):
            if sep in key:
                name = key.split(sep, 1)[1]
                if (name in ex.params or name in ex.inputs) and name not in asked:
                    asked.append(name)  # an input's gradient too (a layer's dx): asked, not updated
        if key.endswith("_new") and key[:-4] in ex.params and key[:-4] not in asked:
            asked.append(key[:-4])
    order = asked or list(ex.params)
    return [p for p in order if p != d.wrt]


def parameter_sections(ex, d, work=None) -> list:
    """Every other asked parameter's gradient worked in full (shared factors referred to, not
    recomputed), then the update of each parameter."""
    sections = []
    work = work or Worked(ex, d)
    others = asked_parameters(ex, d)
    if not others and ex.lr is None:
        return sections
    heading = ("Gradients of every parameter" if all(p in ex.params for p in others)
               else "Every other gradient asked for")
    s = Section(heading + (" and the update" if ex.lr is not None else "") if others else "The update")
    for p in others:
        work.gradient(s, ex.derivation(p, ex.output))
    if ex.lr is not None and not ex.symbolic:
        grads = {p: d.total_of(p) for p in ex.params}  # the derivation's own (exact) totals
        s.say(Sentence("Gradient descent with learning rate {0} moves each parameter against its "
                       "gradient:", (Chain(sp.Symbol("eta"), "=", Value(ex.lr)),)))
        eta = sp.Symbol("eta")
        for p in ex.params:
            sym = ex.graph.symbols[p]
            new = sp.Symbol(f"{p}_new")
            s.show(Chain(
                new, "=", sym, "-", Product((eta, Total(ex.output, p))), "=",
                Value(d.value(p)), "-", Product((Value(ex.lr), Value(grads[p]))), "=",
                Value(_update(ex, d, p))))
    sections.append(s)
    return sections


class Worked:
    """Works gradients one after another in one document: each local derivative is justified
    once, and a total derivative already computed (dL/dz) is referred to, not recomputed."""

    def __init__(self, ex, d=None):
        self.ex = ex
        self.shown: set = set()  # (of, wrt) local steps already justified
        self.known: dict = {}  # node -> the single-path edges from the output down to it
        self.stated: set = set()  # nodes whose total gradient is displayed already

    def gradient(self, s: Section, d, first: bool = False) -> None:
        ex = self.ex
        target = Total(d.output, d.wrt)
        sym = ex.graph.symbols[d.wrt]
        product = product_form(d)
        if product is not None:
            symbolic, numeric, edges = product
            # the longest stretch from the output already derived: refer to it, don't recompute
            reuse = max((k for k, (a, _) in enumerate(edges) if a in self.known), default=None)
            if reuse is not None:
                node = edges[reuse][0]
                upper, rest = edges[:reuse + 1], edges[reuse + 1:]
                upstream = Total(d.output, node)
                if node in self.stated:
                    s.say(Sentence("{0} reaches {1} through {2}; {3} from above:",
                                   (sym, ex.graph.symbols[d.output], ex.graph.symbols[node],
                                    Chain(upstream, "=", Value(d.total_of(node))))))
                elif ex.symbolic:
                    s.say(Sentence("{0} reaches {1} through {2}, whose gradient follows from the "
                                   "factors above:",
                                   (sym, ex.graph.symbols[d.output], ex.graph.symbols[node])))
                    s.show(Chain(upstream, "=", Product(tuple(_partial(d, b, a) for a, b in upper)), "=",
                                 Product(tuple(d.local_step(b, a).symbolic for a, b in upper))))
                    self.stated.add(node)
                else:
                    s.say(Sentence("{0} reaches {1} through {2}, whose gradient follows from the "
                                   "factors above:",
                                   (sym, ex.graph.symbols[d.output], ex.graph.symbols[node])))
                    numbers = (("=", Product(tuple(Value(d.local_step(b, a).value) for a, b in upper)))
                               if len(upper) > 1 else ()) + ("=", Value(d.total_of(node)))
                    s.show(Chain(upstream, "=", Product(tuple(_partial(d, b, a) for a, b in upper)), *numbers))
                    self.stated.add(node)
                s.show(Chain(target, "=", Product((upstream, *(_partial(d, b, a) for a, b in rest)))))
                todo = rest
            else:
                s.say(Sentence(("To update {0} we need {1}. By the chain rule:" if ex.lr is not None
                                else "By the chain rule, {1} is a product of local derivatives:"),
                               (sym, target)))
                s.show(Chain(target, "=", symbolic))
                todo = edges
            fresh = [(a, b) for a, b in todo if (b, a) not in self.shown]
            if fresh:
                s.say(Sentence("One factor at a time:" if len(fresh) > 1 else "The new factor:"))
            for a, b in fresh:
                step = d.local_step(b, a)
                form = textbook_local(ex, step)
                if form is None:
                    s.step(local_chain(d, step), step.justification)
                else:
                    s.step(*_local_with_form(ex, d, step, form))
                self.shown.add((b, a))
            if ex.symbolic:
                s.show(Chain(target, "=", Product(tuple(d.local_step(b, a).symbolic for a, b in edges))))
            elif reuse is not None:
                s.show(Chain(target, "=", Product((Value(d.total_of(edges[reuse][0])),
                                                   *(Value(d.local_step(b, a).value) for a, b in rest))),
                             "=", Value(d.total)))
            else:
                s.say(Sentence("Multiply the factors:"))
                s.show(Chain(target, "=", numeric, "=", Value(d.total)))
            if reuse is None:
                _textbook_product(ex, d, edges, s)
            for k, (a, _) in enumerate(edges[:-1]):  # every node on the path now has a known gradient
                self.known.setdefault(a, edges[:k + 1])
            return
        self._multipath(s, d, target)

    def _multipath(self, s: Section, d, target) -> None:
        ex = self.ex
        s.say(Sentence(
            "{0} reaches {1} along more than one path, so the chain rule sums over the paths "
            "(a node used twice collects a gradient from each use).",
            (ex.graph.symbols[d.wrt], ex.graph.symbols[d.output])))
        fresh = [step for step in d.local if (step.of, step.wrt) not in self.shown]
        if fresh:
            s.say(Sentence("The local derivatives:" if len(fresh) == len(d.local)
                           else "The local derivatives not shown above:"))
        for step in fresh:
            s.step(local_chain(d, step), step.justification)
            self.shown.add((step.of, step.wrt))
        if d.paths is not None:
            n = len(d.paths)
            s.say(Sentence(f"There {'is' if n == 1 else 'are'} {n} path{'' if n == 1 else 's'}; "
                           f"each contributes the product of the local derivatives along it:"))
            for i, path in enumerate(d.paths, start=1):
                edges = list(zip(path.nodes, path.nodes[1:]))[::-1]
                symbolic = Product(tuple(_partial(d, b, a) for a, b in edges))
                # the nodes as math (ŷ, w⁽¹⁾₁,₁), not as the names typed
                why = (Sentence(f"path {i}: " + " → ".join(f"{{{k}}}" for k in range(len(path.nodes))),
                                tuple(ex.graph.symbols[n] for n in path.nodes)),)
                if ex.symbolic:
                    s.step(Chain(symbolic, "=", Product(tuple(d.local_step(b, a).symbolic for a, b in edges))), why)
                else:
                    s.step(Chain(symbolic, "=", Product(tuple(Value(d.local_step(b, a).value) for a, b in edges)),
                                 "=", Value(path.value)), why)
            s.say(Sentence("The gradient is the sum over the paths:"))
            if not ex.symbolic:
                s.show(Chain(target, "=", Sum(tuple(Value(p.value) for p in d.paths)), "=", Value(d.total)))
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
                terms = tuple(_partial(d, c, a.node) if c == d.output
                              else Product((Total(d.output, c), _partial(d, c, a.node))) for c in a.consumers)
                s.show(Chain(Total(d.output, a.node), "=", Sum(terms) if len(terms) > 1 else terms[0], "=",
                             Value(a.value) if not ex.symbolic else a.value))


def _update(ex, d, p):
    from ..core.engine import compact, descend
    return compact(f"{p}_new", descend(d.value(p), ex.lr, d.total_of(p)))


def _mlp_document(ex) -> Content:
    return build_generic(ex, parameters=lambda ex, d: mlp_sections(ex, d))


register_layout("generic", build_generic, "staged equations: the chain rule for the focus parameter")
register_layout("neuron", build_generic, "one neuron: the chain rule for its weight")
register_layout("mlp", _mlp_document, "a multi-layer network: δ notation, matrix form, every parameter")
register_layout("chain", build_chain, "a deep chain: exploding and vanishing gradients")

__all__ = ["build", "build_generic", "register_layout", "LAYOUTS", "Content", "Section", "observations"]


def _listing(n: int) -> str:
    """"{0}, {1} and {2}" for n = 3."""
    fields = [f"{{{i}}}" for i in range(n)]
    return fields[0] if n == 1 else ", ".join(fields[:-1]) + " and " + fields[-1]


def _local_with_form(ex, d, step, form):
    """A local derivative whose rule simplifies in terms of the unit's own output:
    ∂a/∂z = 1 − tanh²(z) = 1 − a² = 1 − tanh²(0.5) ≈ 0.7864, with the reason it simplifies."""
    node = ex.graph.nodes[step.of]
    items = [_partial(d, step.of, step.wrt), "=", step.symbolic, "=", form.simplified]
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
    cross-entropy: dL/dz = a − y), verified equal by SymPy in ``derive.solutions.simplify``."""
    form = textbook_product(ex, d)
    if form is None:
        return
    total = Total(form.of, form.wrt)
    prefix = list(edges)[:len(form.mechanical)]
    count = "two" if len(prefix) == 2 else str(len(prefix))
    s.say(Sentence(f"Written out symbolically, the first {count} factors are"))
    s.show(Chain(total, "=", Product(tuple(_partial(d, b, a) for a, b in prefix)), "=",
                 Product(form.mechanical)))
    s.say(Sentence("which simplifies to"))
    s.show(Chain(total, "=", form.simplified) if ex.symbolic else
           Chain(total, "=", form.simplified, "=", Value(form.value)))
    rest = edges[len(form.mechanical):]
    math = tuple(Chain(_partial(d, of, wrt), "=", d.local_step(of, wrt).symbolic)
                 for of, wrt in form.cancelled)
    fields = " and ".join(f"{{{i}}}" for i in range(len(math)))
    tail = ", so" if rest else "."
    if math:
        s.say(Sentence(("The factor " if len(math) == 1 else "The factors ") + fields
                       + (" cancels" if len(math) == 1 else " cancel") + tail, math))
    elif rest:
        s.say(Sentence("so"))
    if rest:
        factors = [d.local_step(b, a).symbolic for a, b in rest]
        whole = sp.Mul(form.simplified, *factors, evaluate=False)
        s.show(Chain(Total(d.output, d.wrt), "=",
                     Product((total,) + tuple(_partial(d, b, a) for a, b in rest)), "=", whole))
