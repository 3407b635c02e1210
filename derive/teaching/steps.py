"""The lines of a worked solution shared by every layout: which activations a graph applies, the
chain rule of a single path, a local derivative or forward node written out with its numbers."""
from __future__ import annotations

from ..core.derivation import Chain, Partial, Product, Value
from ..core.functions import BY_CLASS


def activations_used(ex):
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


def product_form(ex, d):
    """The chain rule for a single path as (symbolic product, numeric product); None if the
    gradient has more than one path."""
    if d.paths is None or len(d.paths) != 1:
        return None
    path = d.paths[0].nodes
    edges = list(zip(path, path[1:]))[::-1]  # from the output back to wrt
    symbolic = Product(tuple(partial(ex, b, a) for a, b in edges))
    numeric = None
    if not ex.symbolic:
        numeric = Product(tuple(Value(ex.evaluation.local(b, a).value) for a, b in edges))
    return symbolic, numeric, edges


def partial(ex, of: str, wrt: str) -> Partial:
    """∂of/∂wrt of one line, marked direct when ``of`` is the output and ``wrt`` also reaches it
    another way (so that the total d(of)/d(wrt) differs: an L2 term's ∂L/∂w)."""
    direct = False
    if of == ex.output and wrt in ex.graph.position:
        paths = ex.evaluation.paths(wrt, of)
        direct = paths is None or len(paths) > 1
    return Partial(of, wrt, direct)


def local_chain(ex, step):
    items = [partial(ex, step.of, step.wrt), "="]
    if step.symbolic.is_Number or step.value is None:
        items.append(step.symbolic if step.value is None else Value(step.value))
        return Chain(*items)
    items.append(step.symbolic)
    if not step.symbolic.is_Symbol and step.substituted and step.substituted.values:
        items += ["=", step.substituted]
    items += ["=", Value(step.value)]
    return Chain(*items)


def forward_chain(ex, f):
    items = [ex.graph.symbols[f.name], "=", f.expr]
    if f.substituted is not None and f.substituted.values and not f.expr.is_Symbol:
        items += ["=", f.substituted]
    if f.value is not None:
        items += ["=", Value(f.value)]
    return Chain(*items)
