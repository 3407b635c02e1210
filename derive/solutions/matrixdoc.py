"""The worked solution of a tensor example, in matrix form: every step as formula → shapes →
numbers. The forward pass shows each line with its matrices; the backward pass writes each
gradient with the rule a lecturer uses — ∂L/∂W = δ aᵀ, ∂L/∂a = Wᵀ δ, the ReLU mask ⊙ 𝟙[z > 0],
a broadcast bias summed over the batch, softmax with cross-entropy as δ = p − y — and then its
numbers (large matrices elided to their corners, with the shape). A chosen entry (``focus``, e.g.
``W1[2,1]`` or ``w1_2_1``) is then derived in scalar form, as a sum over the batch.
"""
from __future__ import annotations

import re

import sympy as sp

from ..core.derivation import Chain, Partial, Prime, Product, Row, Sum, Value
from ..core.errors import DeriveError
from ..core.functions import FUNCTIONS, Indicator, Sentence
from ..core.matrixmath import (MAX_SHOWN, BatchSum, Entry, Hadamard, MatProduct, MatrixValue, Scaled, ShapeOf,
                               Source, TensorCall, Transposed, Updated)
from ..core.notation import Ones
from ..core.tensor import TENSOR_FUNCTIONS, NoRule, display, fused_rule_of, operands, rule_of
from ..core.parser import BinOp, Call, Name
from ..rendering.blocks import Content, Section

ONES = Ones()
_FOCUS = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[(\d+),\s*(\d+)\]$")


class _NoRule(Exception):
    """The form has no hand-written matrix rule; the gradient is shown by its numbers only."""


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def _side_by_side(names, values, columns: int = 8, most: int = 3) -> list[list[str]]:
    """Inputs grouped to share a line: at most ``most`` of them and ``columns`` matrix columns
    in all (a page holds about that many numbers side by side), in the given order."""
    groups: list[list[str]] = []
    width = 0
    for name in names:
        t = values[name]
        cols = 1 if t.scalar else min(t.a.shape[1], MAX_SHOWN)
        if groups and len(groups[-1]) < most and width + cols <= columns:
            groups[-1].append(name)
            width += cols
        else:
            groups.append([name])
            width = cols
    return groups


def _shown(t):
    """A tensor's numbers as a math object: a matrix, or a plain value for a scalar."""
    return Value(t.item()) if t.scalar else MatrixValue.of(t)


def _occurrences(tree, name: str, path=()):
    """Paths (tuples of (node, child index)) from the root to each Name(name)."""
    if isinstance(tree, Name):
        return [path] if tree.id == name else []
    found = []
    for i, c in enumerate(operands(tree)):
        found += _occurrences(c, name, path + ((tree, i),))
    return found


def _rule_along(ex, g, path, out):
    """The gradient reaching the end of ``path`` (from an equation's root, whose result is
    ``out``), as a matrix formula built from ``g``: each step is the table's printed rule for
    that operand (``derive.core.tensor.rule_of``), the formula the engine evaluates."""
    for node, i in path:
        try:
            g = rule_of(ex.structure, node, i, g, tuple(display(a) for a in operands(node)), out)
        except NoRule:
            raise _NoRule from None
        if g is None:
            raise _NoRule
        out = display(operands(node)[i])
    return g


def rules_used(formula) -> list:
    """The registry functions written as f'(z) in a formula, in order (each once)."""
    found, stack = [], [formula]
    while stack:
        f = stack.pop(0)
        if isinstance(f, Prime):
            if f.function not in found:
                found.append(f.function)
        elif isinstance(f, (Hadamard, Product, MatProduct, Sum)):
            stack.extend(f.factors if not isinstance(f, Sum) else f.terms)
        elif isinstance(f, (Transposed, BatchSum)):
            stack.append(f.operand)
        elif isinstance(f, Scaled):
            stack.append(f.operand)
    return found


def _size(shape) -> int:
    return 1 if shape == () else shape[0] * shape[1]


def _softmax_pair(ex, name: str):
    """(p, y, batch) when ``name`` is the logits of ``p = softmax(name)`` and the output is
    ``cross_entropy(p, y)`` — the pair whose gradient is δ = (p − y)/B."""
    graph = ex.graph
    for eq in graph.equations:
        t = eq.tree
        if isinstance(t, Call) and t.func == "softmax" and isinstance(t.args[0], Name) and t.args[0].id == name:
            for eq2 in graph.equations:
                t2 = eq2.tree
                if (isinstance(t2, Call) and t2.func in TENSOR_FUNCTIONS
                        and TENSOR_FUNCTIONS[t2.func].after_softmax and isinstance(t2.args[0], Name)
                        and t2.args[0].id == eq.name and isinstance(t2.args[1], Name)):
                    users = [e for e in graph.equations if eq.name in graph.uses[e.name]]
                    if len(users) == 1:
                        batch = ex.shape(eq.name)[1]
                        return eq.name, t2.args[1].id, batch, eq2.name
    return None


def backward_formula(ex, name: str):
    """∂L/∂name as a matrix formula over the gradients of the lines that use ``name``, or None
    when one of the forms has no hand-written rule."""
    out = ex.output
    pair = _softmax_pair(ex, name)
    if pair is not None and pair[3] == out:
        p, y, batch, loss = pair
        return fused_rule_of(ex.structure, ex.graph.by_name[loss].tree, sp.Integer(1),
                             (_sym(p), _sym(y)), _sym(loss), _sym(name))
    terms = []
    for eq in ex.graph.equations:
        if name not in ex.graph.uses[eq.name]:
            continue
        g = sp.Integer(1) if eq.name == out else Partial(out, eq.name)
        if eq.name != out and eq.name not in _ancestors_of_output(ex):
            continue
        for path in _occurrences(eq.tree, name):
            try:
                terms.append(_rule_along(ex, g, path, _sym(eq.name)))
            except _NoRule:
                return None
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else Sum(tuple(terms))


def _target(ex, y: str):
    """The target as it enters p − y: y itself when one-hot, onehot(y) when it holds class
    indices (read literally, p − 2 would subtract the index)."""
    if ex.is_index(y):
        return TensorCall(r"\operatorname{onehot}", "onehot", (_sym(y),))
    return _sym(y)


def _is_softmax_output(ex, name: str) -> bool:
    """True for p in ``p = softmax(z)`` followed by ``L = cross_entropy(p, y)``."""
    for eq in ex.graph.equations:
        t = eq.tree
        if eq.name == name and isinstance(t, Call) and t.func == "softmax" and isinstance(t.args[0], Name):
            pair = _softmax_pair(ex, t.args[0].id)
            return pair is not None and pair[0] == name
    return False


def _shape_of_formula(ex, f):
    """The shape of a factor of a matrix rule: a named tensor, its gradient, a transpose."""
    if isinstance(f, Partial):
        return ex.shape(f.wrt)
    if isinstance(f, sp.Symbol) and (f.name in ex.graph.inputs or f.name in ex.graph.nodes):
        return ex.shape(f.name)
    if isinstance(f, Transposed):
        inner = _shape_of_formula(ex, f.operand)
        return None if inner is None else (inner if inner == () else (inner[1], inner[0]))
    return None


def _product_shapes(ex, formula) -> list:
    """The factors' shapes of a matrix product ∂L/∂z1 Xᵀ: [(3, 8), (8, 4)]; [] otherwise."""
    if not isinstance(formula, MatProduct):
        return []
    shapes = [_shape_of_formula(ex, f) for f in formula.factors]
    return shapes if all(s not in (None, ()) for s in shapes) else []


def _ancestors_of_output(ex) -> set:
    graph, seen, stack = ex.graph, set(), [ex.output]
    while stack:
        n = stack.pop()
        for u in graph.uses.get(n, ()):
            if u not in seen:
                seen.add(u)
                stack.append(u)
    return seen


def _focus_entry(ex):
    """The entry to zoom into: meta focus (``W1[2,1]`` or an alias such as ``w1_2_1``)."""
    focus = ex.meta.get("focus")
    if not focus:
        return None
    m = _FOCUS.match(focus)
    if m:
        name, i, j = m.group(1), int(m.group(2)) - 1, int(m.group(3)) - 1
    elif focus in ex.aliases:
        name, i, j = ex.aliases[focus]
    else:
        return None
    values = ex.matrix_derivation().values
    if name not in values or values[name].scalar:
        raise DeriveError(f"focus {focus!r}: {name} is not a matrix of this example")
    r, c = values[name].a.shape
    if not (0 <= i < r and 0 <= j < c):
        raise DeriveError(f"focus {focus!r}: {name} is {r}×{c}; entries are numbered from 1")
    return name, i, j


def zoom_section(ex, name: str, i: int, j: int) -> Section | None:
    """∂L/∂W[i,j] in scalar form, for W used as ``W @ A``: Σ_b ∂L/∂z[i,b] · A[j,b]."""
    for eq in ex.graph.equations:
        for path in _occurrences(eq.tree, name):
            node, k = path[-1]
            if not (isinstance(node, BinOp) and node.op == "@" and k == 0 and isinstance(node.right, Name)):
                continue
            if len(path) > 1 and not all(isinstance(n, BinOp) and n.op in "+-" for n, _ in path[:-1]):
                continue
            a_name = node.right.id
            d = ex.matrix_derivation()
            grad_z = d.gradients[eq.name]
            A = d.values[a_name]
            batch = A.a.shape[1]
            total = d.gradients[name].a[i, j]
            s = Section(f"Zoom in: one entry of ∂{ex.output}/∂{name}")
            s.say(Sentence("Entry ({0}) of the matrix product {1} uses row {2} of {3} and column "
                           "{4} of {5}ᵀ, so one weight's gradient is a sum over the examples of "
                           "the batch:", (Source(f"{i + 1},{j + 1}"), MatProduct((Partial(ex.output, eq.name), Transposed(_sym(a_name)))),
                                            sp.Integer(i + 1), Partial(ex.output, eq.name),
                                            sp.Integer(j + 1), _sym(a_name))))
            terms = tuple(Product((Entry(eq.name, i + 1, b + 1, ex.output), Entry(a_name, j + 1, b + 1)))
                          for b in range(min(batch, 4)))
            numbers = tuple(Product((Value(grad_z.a[i, b]), Value(A.a[j, b]))) for b in range(min(batch, 4)))
            if batch > 4:
                terms += (Source("…"),)
                numbers += (Source("…"),)
            s.show(Chain(Entry(name, i + 1, j + 1, ex.output), "=", Sum(terms)))
            s.show(Chain(Entry(name, i + 1, j + 1, ex.output), "=", Sum(numbers), "=", Value(total)))
            return s
    return None


def build_matrix(ex) -> Content:
    """The document of a TensorExample (see the module docstring). A symbolic example (shapes,
    no values) gets the same steps with their shapes and no numbers."""
    symbolic = ex.symbolic
    d = ex.matrix_derivation()
    values = None if symbolic else d.values
    grads = None if symbolic else d.gradients
    sections = []

    s = Section("The computation")
    batch = ex.meta.get("batch")
    s.say(Sentence("Each line computes a whole vector or matrix at once. Vectors are columns"
                   + (f"; the {batch} examples of the mini-batch are the columns of X, and the "
                      "loss is their mean." if batch and batch > 1 else ".")))
    if symbolic:
        s.say(Sentence("The inputs have shapes but no values: every step below is the matrix "
                       "rule with its shapes, for any numbers of those shapes."))
    rows = []
    for name in ex.inputs:
        role = "parameter" if name in ex.params or any(
            a[0] == name for k, a in ex.aliases.items() if k in ex.params) else "given"
        if ex.is_index(name):
            role = "given (class indices, 0-based)"
        rows.append([_sym(name), ShapeOf(ex.shape(name)), role])
    for eq in ex.graph.equations:
        rows.append([_sym(eq.name), ShapeOf(ex.shape(eq.name)), Chain(_sym(eq.name), "=", display(eq.tree))])
    s.tabulate(["name", "shape", "role or definition"], rows)
    if not symbolic:  # the numbers the forward pass starts from, as the scalar documents give them
        s.say(Sentence("The given values:"))
        for group in _side_by_side(ex.inputs, values):
            given = [Chain(_sym(name), "=", _shown(values[name])) for name in group]
            s.show(given[0] if len(given) == 1 else Row(tuple(given)))
    sections.append(s)

    s = Section("Forward pass")
    for eq in ex.graph.equations:
        shape = ex.shape(eq.name)
        if shape == ():
            s.say(Sentence("{0} is a number:", (_sym(eq.name),)))
        else:
            s.say(Sentence("{0} is {1}:", (_sym(eq.name), ShapeOf(shape))))
        items = [_sym(eq.name), "=", display(eq.tree)]
        s.show(Chain(*items) if symbolic else Chain(*items, "=", _shown(values[eq.name])))
    sections.append(s)

    s = Section("Backward pass in matrix form")
    s.say(Sentence("Going backwards, each gradient has the shape of its variable. A matrix "
                   "product passes the gradient through the transpose of the other factor; an "
                   "elementwise function multiplies it entry by entry (⊙) by its derivative."))
    relevant = _ancestors_of_output(ex)
    order = [eq.name for eq in reversed(ex.graph.equations) if eq.name in relevant]
    order += [n for n in ex.inputs if n in relevant and not ex.is_index(n)]
    stated: list = []
    for name in order:
        formula = backward_formula(ex, name)
        pair = _softmax_pair(ex, name)
        if pair is not None and pair[3] == ex.output:
            p, y, batch, _ = pair
            onehot = ex.is_index(y)
            s.say(Sentence("Softmax followed by cross-entropy: the gradient with respect to the "
                           "logits {0} is the probabilities {1} minus the one-hot targets {2}"
                           + (f", divided by the batch size {batch} (the loss is a mean)"
                              if batch > 1 else "")
                           + (" — {3} holds class indices, so {2} puts a 1 in the row of each "
                              "example's class." if onehot else "."),
                           (_sym(name), _sym(p), _target(ex, y), _sym(y))))
        elif formula is not None and _has_mask(formula):
            if symbolic:  # how many units are active depends on the values
                s.say(Sentence("The mask keeps the gradient where the unit was active (z > 0) "
                               "and stops it elsewhere."))
            else:
                active = sum(1 for e in values[_mask_arg(formula)].a.ravel() if e.is_extended_positive)
                s.say(Sentence(f"The mask keeps the gradient where the unit was active: "
                               f"{active} of {values[_mask_arg(formula)].size} entries here."))
        elif formula is not None and isinstance(formula, BatchSum):
            # a bias is added, γ multiplies, μ is subtracted: what they share is the batch
            s.say(Sentence("{0} is shared by every column (every example of the batch), so its "
                           "gradient sums the contributions of the columns.", (_sym(name),)))
        if symbolic:
            if _is_softmax_output(ex, name) or (formula is None and name in ex.graph.inputs):
                continue  # p of softmax + cross-entropy (the pair is done at once); a target
            shape = ex.shape(name)
            s.say(Sentence("{0} is " + ("a number, like {1}:" if shape == () else "{2}, like {1}:"),
                           (Partial(ex.output, name), _sym(name), ShapeOf(shape))))
            if formula is None:
                s.say(Sentence("(no matrix rule is written for this step; its entries follow "
                               "from the chain rule once values are given)"))
                continue
            s.show(Chain(Partial(ex.output, name), "=", formula))
            factors = _product_shapes(ex, formula)
            if factors:  # the inner sizes match and the outer ones give the gradient's shape
                s.say(Sentence("Shapes: " + " times ".join(f"{{{i}}}" for i in range(len(factors)))
                               + f" gives {{{len(factors)}}}.",
                               tuple(ShapeOf(f) for f in factors) + (ShapeOf(shape),)))
        else:
            items = [Partial(ex.output, name), "="]
            if formula is not None:
                items += [formula, "="]
            items.append(_shown(grads[name]))
            s.show(Chain(*items))
        for function in rules_used(formula) if formula is not None else ():
            if function not in stated:  # the registry's rule, once per document
                stated.append(function)
                s.say(Sentence("where {0}, entry by entry.", (FUNCTIONS[function].derivative,)))
    sections.append(s)

    focus = None if symbolic else _focus_entry(ex)
    if focus is not None:
        zoom = zoom_section(ex, *focus)
        if zoom is not None:
            sections.append(zoom)

    if ex.lr is not None:
        s = Section("The update")
        eta = _sym("eta")
        s.say(Sentence("Gradient descent with learning rate {0} moves every parameter matrix "
                       "against its gradient:", (Chain(eta, "=", Value(ex.lr)),)))
        for name in _param_tensors(ex):
            rule = [Updated(name), "=", Sum((_sym(name), Product((-eta, Partial(ex.output, name)))))]
            s.show(Chain(*rule) if symbolic else Chain(*rule, "=", _shown(_update(ex, name))))
        sections.append(s)
    title = ex.title or "Backpropagation in matrix form"
    return Content(title, sections)


def _param_tensors(ex) -> list[str]:
    names = []
    for p in ex.params:
        base = ex.aliases[p][0] if p in ex.aliases else p
        if base not in names:
            names.append(base)
    return names


def _update(ex, name: str):
    from ..core.tensor import binary_values, scalar
    d = ex.matrix_derivation()
    old = d.values[name]
    g = d.gradients[name]
    step = binary_values("*", scalar(ex.lr), g, g.shape, "η·∂L")
    return binary_values("-", old, step, old.shape, f"{name}_new")


def _has_mask(formula) -> bool:
    return _mask_arg(formula) is not None


def _mask_arg(formula):
    if isinstance(formula, Hadamard):
        for f in formula.factors:
            ind = [a for a in sp.preorder_traversal(f) if isinstance(a, Indicator)] \
                if isinstance(f, sp.Basic) else []
            if ind:
                syms = sorted(ind[0].free_symbols, key=lambda x: x.name)
                return syms[0].name if syms else None
    return None

