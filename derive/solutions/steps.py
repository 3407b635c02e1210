"""The lines of a worked solution shared by every layout: which activations a graph applies, the
chain rule of a single path, a local derivative or forward node written out with its numbers."""
from __future__ import annotations

import re

import sympy as sp

from ..core.derivation import Chain, Partial, Product, Value
from ..core.functions import BY_CLASS, Sentence
from ..core.errors import SpecError

# How the numbers were obtained: a remark for the lecturer (``--notes``), not for the students.
EXACT_NOTE = Sentence("Every number is computed exactly (fractions, and closed forms such as "
                      "σ(7) = 1/(1 + e⁻⁷)) and rounded only where it is shown; a factor that enters "
                      "a product or sum is shown with enough digits for the line to be redone from "
                      "the numbers printed.")
# The same example as a notebook checks itself: a remark for the lecturer, where it applies.
CROSSCHECK_NOTE = Sentence("As a notebook (the ipynb format) the example ends with cells that "
                           "compute every value and gradient again with PyTorch in float64 and "
                           "stop with an error if any differs from the exact one.")


def notebook_checks(ex) -> bool:
    """True when ``ex`` can be written as a notebook with its PyTorch check (images and the
    rows convention have no PyTorch export).

    >>> import derive
    >>> notebook_checks(derive.neuron(x=2, w=3, b=1, y=5)), notebook_checks(derive.neuron())
    (True, False)
    """
    return not ex.symbolic and ex.writes("ipynb") and ex.writes("pytorch")


def activations_used(ex):
    return functions_used(ex, "activation")


def functions_used(ex, kind: str):
    """(registry entry, node, application) for each registry function of ``kind`` the graph
    applies ("activation", "loss" …), first use only, in node order."""
    seen = {}
    for node in ex.graph.nodes.values():
        stack = [node.expr]
        while stack:
            e = stack.pop()
            spec = BY_CLASS.get(type(e))
            if spec is not None and spec.kind == kind:
                seen.setdefault(spec.name, (spec, node.name, e))
            stack.extend(e.args)
    return list(seen.values())


def product_form(d):
    """The chain rule for a single path of the derivation ``d`` as (symbolic product, numeric
    product, edges); None if the gradient has more than one path."""
    if d.paths is None or len(d.paths) != 1:
        return None
    path = d.paths[0].nodes
    edges = list(zip(path, path[1:]))[::-1]  # from the output back to wrt
    symbolic = Product(tuple(partial(d, b, a) for a, b in edges))
    numeric = None
    if not d.symbolic:
        numeric = Product(tuple(Value(d.local_step(b, a).value) for a, b in edges))
    return symbolic, numeric, edges


def partial(d, of: str, wrt: str) -> Partial:
    """∂of/∂wrt of one line, marked direct when ``of`` is the derivation's output and ``wrt``
    also reaches it another way (so that the total d(of)/d(wrt) differs: an L2 term's ∂L/∂w)."""
    return Partial(of, wrt, of == d.output and d.is_multipath(wrt))


def local_chain(d, step):
    """∂of/∂wrt = rule = the rule with numbers = value, for one edge of the derivation ``d``."""
    items = [partial(d, step.of, step.wrt), "="]
    if step.symbolic.is_Number or step.value is None:
        items.append(step.symbolic if step.value is None else Value(step.value))
        return Chain(*items)
    items.append(step.symbolic)
    if not step.symbolic.is_Symbol and step.substituted and step.substituted.values \
            and not _compares_many(step.symbolic):
        items += ["=", step.substituted]
    items += ["=", Value(step.value)]
    return Chain(*items)


def _compares_many(expr) -> bool:
    """A gate over several comparisons (max over four units): its substituted form only repeats
    the comparisons, which the justification states with the numbers that decide them."""
    return any(isinstance(e, sp.And) for e in sp.preorder_traversal(expr))


def forward_chain(ex, f):
    items = [ex.graph.symbols[f.name], "=", f.expr]
    if f.substituted is not None and f.substituted.values and not f.expr.is_Symbol:
        items += ["=", f.substituted]
    if f.value is not None:
        items += ["=", Value(f.value)]
    return Chain(*items)


def roles_sentence(ex):
    """Which inputs the document updates, and which stay fixed (data and constants):
    "Gradient descent updates the parameters w and b; x and y are data, and λ is a constant."
    Long lists are shortened to their first two and last names."""
    from ..core.functions import Sentence
    symbols = ex.graph.symbols
    math: list = []

    def listing(names):
        shown = names if len(names) <= 6 else names[:2] + [None] + names[-1:]
        fields = []
        for n in shown:
            if n is None:
                fields.append("…")
                continue
            math.append(symbols[n])
            fields.append(f"{{{len(math) - 1}}}")
        text = fields[0] if len(fields) == 1 else ", ".join(fields[:-1]) + " and " + fields[-1]
        return text + (f" ({len(names)} in all)" if len(names) > 6 else "")

    params = ex.inputs_with_role("parameter")
    fixed = [(role, ex.inputs_with_role(role)) for role in ("data", "constant")]
    plural = len(params) != 1
    if not params:
        head = "No input is updated" + (" (the layer has no parameters)" if asked_inputs(ex) else "")
    elif ex.lr is not None:
        head = (f"Gradient descent updates the parameter{'s' if plural else ''} " + listing(params))
    else:
        head = (f"The parameter{'s' if plural else ''} (what training would update) "
                f"{'are' if plural else 'is'} " + listing(params))
    tails = []
    for role, names in fixed:
        if not names:
            continue
        noun = "data" if role == "data" else ("a constant" if len(names) == 1 else "constants")
        verb = "is" if len(names) == 1 else "are"
        tails.append(f"{listing(names)} {verb} {noun}")
    text = head + ("; " + " and ".join(tails) + (", given and never updated" if tails else "")
                   if tails else "") + "."
    asked = [n for n in asked_inputs(ex) if n not in params]
    if asked:  # a layer exercise asks for the gradient passed down to its inputs (dx)
        text += (f" The gradient{'s' if len(asked) > 1 else ''} asked for "
                 + ("also " if params else "") + f"{'go' if len(asked) > 1 else 'goes'} to "
                 + listing(asked) + ", what the layer passes back to the layer below.")
    return Sentence(text, tuple(math))


_PRE_ACTIVATION = re.compile(r"^z(\d+(?:_\d+)*)?$")  # z, z1, z2_1: δ takes over z's indices


def pre_activations(ex) -> list[str]:
    """The nodes an activation function is applied to (``a = relu(z)``: ``z``), in node order —
    what δ notation abbreviates the loss's gradient for."""
    out = []
    for node in ex.graph.nodes.values():
        for e in sp.preorder_traversal(node.expr):
            spec = BY_CLASS.get(type(e))
            if spec is not None and spec.kind == "activation" and e.args and e.args[0].is_Symbol:
                name = e.args[0].name
                if name in ex.graph.nodes and name not in out:
                    out.append(name)
    return out


def resolve_notation(ex, notation=None):
    """The notation preset (``{total, delta, index_base}``, checked) completed for ``ex``: the δ
    name of each pre-activation (``z2_1`` -> ``delta2_1``, printed δ⁽²⁾₁; another name ``s`` ->
    δ_s) and the shift of displayed indices. ``index_base: 0`` is the 0-based convention: units
    and inputs count from 0 (x₀, w⁽¹⁾₀,₀), layers from 1 with the input as layer 0 (a⁽⁰⁾ = x),
    so a chain (whose one index is its layer) is shown as it is; a graph that already has a 0
    index (an RNN's h0) counts from 0 already and is shown as it is too.

    >>> import derive
    >>> n = resolve_notation(derive.chain(depth=2, weight=1, x=1), {"delta": True, "index_base": 0})
    >>> n["deltas"], n["renumber"]
    ({'z1': 'delta1', 'z2': 'delta2'}, 0)
    >>> resolve_notation(derive.mlp(inputs=[1, 2], weights=[[[1, 1]]], biases=[[0]], targets=[1]),
    ...                  {"index_base": 0})["renumber"]
    -1
    """
    from ..rendering.formats import ResolvedNotation, check_notation
    from ..rendering.printing import name_indices
    checked = dict(check_notation(notation if notation is not None else getattr(ex, "notation", None)))
    out = ResolvedNotation(checked)
    out["output"] = ex.output
    out["deltas"] = {}
    if checked.get("delta"):
        for z in pre_activations(ex):
            m = _PRE_ACTIVATION.match(z)
            out["deltas"][z] = ("delta" + (m.group(1) or "")) if m else None
    if checked.get("index_base") == 0 and ex.kind == "generic":
        # Renumbering the user's own names would make the document's w1 the spec's w2: an answer
        # key written from the spec would then be wrong.
        raise SpecError("notation index_base: 0 renumbers the names derive generates (neuron, chain, "
                        "mlp, layers); equations keep their names as written: name them from 0 "
                        "(w0, x0, …) and drop index_base")
    # the unit indices (a layer's, the first of several, counts from 1 in either base; a chain's
    # one index is its layer): shifted only when they all start at 1
    units = [i for n in [*ex.inputs, *ex.graph.nodes] for i in (lambda k: k[1:] if len(k) > 1 else k)(
        name_indices(n))] if ex.kind != "chain" else []
    out["renumber"] = -1 if checked.get("index_base") == 0 and units and min(units) >= 1 else 0
    return out


def asked_inputs(ex) -> list:
    """The inputs whose gradients an example's ``ask`` list names (dL/dx1 …), in input order."""
    keys = ex.meta.get("ask") or ()
    named = {k.split(sep, 1)[1] for k in keys for sep in ("/d", "/∂") if sep in k}
    return [n for n in ex.inputs if n in named]
