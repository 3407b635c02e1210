"""Documents for deep networks: the chain (exploding and vanishing gradients, derived) and the
multi-layer perceptron (δ notation, matrix form, every parameter's gradient and update)."""
from __future__ import annotations

import sympy as sp

from ..core.derivation import Chain, Ordinal, Partial, Prime, Product, Row, Total, Value
from ..core.engine import descend
from ..core.notation import Indexed, Layered, PartialOf, ProductOver, TotalOf
from ..rendering.blocks import Content, Section
from .observations import observations
from .steps import CROSSCHECK_NOTE, EXACT_NOTE, activations_used, local_chain, notebook_checks, roles_sentence
from ..core.functions import Sentence, activation as _activation

ELIDE = 3  # long products keep this many factors at each end
SYMBOLIC_NOTE = Sentence("The product over the layers and the maximum of σ' are evaluated "
                         "symbolically (SymPy's Product and solve), not looked up.")
TABLE_HEAD = 6  # long tables keep this many rows at each end
GENERAL_K = (sp.Rational(1, 2), sp.Integer(1), sp.Integer(5))
GENERAL_D = (3, 10, 50)


def _trend(per_layer) -> str:
    """Exploding, stable or vanishing, from the factor each layer contributes (its size above,
    at or below 1).

    >>> _trend(sp.Rational(1, 2)), _trend(sp.Integer(-1)), _trend(sp.Integer(5))
    ('vanishing', 'stable', 'exploding')
    """
    mag = abs(per_layer)
    return "exploding" if mag > 1 else "vanishing" if mag < 1 else "stable"


def _bounded_trend(bound) -> str | None:
    """What an upper bound on each layer's factor decides: below 1 the gradient vanishes; at 1 or
    above nothing is decided (the actual factors may be far smaller), so no label.

    >>> _bounded_trend(sp.Rational(1, 8)), _bounded_trend(sp.Integer(1)), _bounded_trend(sp.Integer(5))
    ('vanishing', None, None)
    """
    return "vanishing" if abs(bound) < 1 else None


def _as_power(total, weights):
    """5^19 for 19073486328125 when every weight is the integer 5 (as the conversation writes it)."""
    if not (total.is_Integer and total > 1) or len({str(w) for w in weights}) != 1:
        return None
    from ..core.numbers import to_exact
    k = to_exact(weights[0], "weight")
    if not (k.is_Integer and k > 1):
        return None
    n = sp.integer_log(int(total), int(k))
    return sp.Pow(k, n[0], evaluate=False) if n[1] else None


def _k_by_depth(factor, k, D, bound: bool = False) -> list:
    """Table rows: one weight k per row, one depth D per column, each cell labelled with what its
    factor means: the exact factor of an active chain explodes, stays or vanishes as its factor
    per layer is above, at or below 1; an upper bound decides only when it is below 1."""
    rows = []
    for kv in GENERAL_K:
        row = [Chain(k, "=", Value(kv))]
        # The label follows the factor per layer, not the size at one depth: 25 at D = 3 is the
        # start of an explosion (×5 per layer), not a stable gradient.
        per_layer = factor.subs({k: kv, D: 2})
        trend = _bounded_trend(per_layer) if bound else _trend(per_layer)
        for dv in GENERAL_D:
            value = Value(factor.subs({k: kv, D: dv}))
            row.append(Sentence("{0}" + (f" ({trend})" if trend else ""), (value,)))
        rows.append(row)
    return rows


UNDECIDED = Sentence("A bound of 1 or more decides nothing: it allows the gradient to grow but does "
                     "not make it, as the factors of an actual chain can be far smaller.")
LISTED_FACTORS = 4  # a longer chain's factors per layer are given by their range


def _this_chain(ex, d, spec) -> Sentence | None:
    """The example's own factors per layer, w(l)·f'(z(l−1)) for l = 2 … D (each step back from
    z(l) to z(l−1)), and what they do, from their sizes: all above 1 the gradient explodes, all
    below it vanishes, all exactly 1 it passes unchanged, a zero stops it."""
    from .observations import magnitude
    depth = ex.meta["depth"]
    if depth < 2:
        return None
    sym = ex.graph.symbols
    factors = [(l, d.value(f"w{l}") * d.local_step(f"a{l - 1}", f"z{l - 1}").value)
               for l in range(2, depth + 1)]
    # holes 0-2: z(l), z(l−1) and the rule w(l)·f'(z(l−1)); then the numbers
    math = [Layered(Z, L), Layered(Z, L - 1), Product((Layered(W, L), Prime(spec.name, Layered(Z, L - 1))))]

    def hole(l, f) -> str:
        math.append(Chain(Product((sym[f"w{l}"], Prime(spec.name, sym[f"z{l - 1}"]))), "=", Value(f)))
        return f"{{{len(math) - 1}}}"
    if len(factors) <= LISTED_FACTORS:
        listing = ", ".join(hole(l, f) for l, f in factors)
    elif len({f for _, f in factors}) == 1:  # every weight the same, every unit alike
        listing = f"every one is {hole(*factors[0])}"
    else:
        ranked = sorted(factors, key=lambda lf: magnitude(lf[1]))
        listing = f"from {hole(*ranked[0])} to {hole(*ranked[-1])} in size"
    values = [f for _, f in factors]
    if any(f == 0 for f in values):
        verdict = "A factor is 0, so no gradient reaches the layers below it."
    elif all((abs(f) - 1).is_zero for f in values):
        verdict = "Each is 1 in size, so the gradient passes back unchanged: it is stable."
    elif all(magnitude(f) > 1 for f in values):
        verdict = "Each is above 1 in size, so the gradient grows layer by layer going back: it explodes."
    elif all(magnitude(f) < 1 for f in values):
        verdict = "Each is below 1 in size, so the gradient shrinks layer by layer going back: it vanishes."
    else:
        through = ProductOver(PartialOf(Layered(Z, L), Layered(Z, L - 1)), L, 2, sp.Integer(depth))
        math.append(Chain(through, "=", Value(sp.Mul(*values))))
        verdict = f"Some are above 1 in size and some below; together they give {{{len(math) - 1}}}."
    return Sentence("In this chain, each step back from {0} to {1} multiplies the gradient by {2}: "
                    + listing + ". " + verdict, tuple(math))


def _elided_rows(rows: list, head: int = TABLE_HEAD, filler=None) -> list:
    if len(rows) <= 2 * head + 1:
        return rows
    width = len(rows[0])
    gap = [filler or "⋮"] + ["⋮"] * (width - 1)
    return rows[:head] + [gap] + rows[-head:]


# the general formulas' symbols: layer l, units j and i, the loss, weights and biases, the
# weight matrix W, activations a, pre-activations z, δ
L, J, I, LOSS, W, B, MATRIX, A, Z, DELTA = sp.symbols("l j i L w b W a z delta")
BOUND = sp.Symbol("bound")


def general_rule():
    """dL/dw1 for a chain with every weight k and every unit active, the depth D a symbol:
    the product of the D − 1 weight factors is derived with SymPy (Product(...).doit())."""
    k, D, l, x = sp.symbols("k D l x", positive=True)
    weights_product = sp.Product(k, (l, 2, D)).doit()  # ∂z(l)/∂a(l−1) = w(l) = k, l = 2 … D
    return k, D, x, weights_product


def sigmoid_derivative_maximum():
    """max σ'(z), derived: σ'' = 0 at z = 0, so σ'(z) ≤ σ'(0) = 1/4."""
    z = sp.Symbol("z", real=True)
    s = 1 / (1 + sp.exp(-z))
    ds = sp.diff(s, z)
    critical = sp.solve(sp.Eq(sp.diff(ds, z), 0), z)
    return critical, sp.simplify(ds.subs(z, critical[0]))


def build_chain(ex) -> Content:
    depth = ex.meta["depth"]
    d = ex.derivation("w1")
    spec = _activation(ex.meta["activation"])
    act_name = spec.unicode if spec.unicode.isascii() else spec.name
    sym = ex.graph.symbols
    sections = []

    # The rule of every layer, not layer 1's instance of it (z1 = w1 · x read as "each layer
    # multiplies x").
    layer_l = {sym["z1"]: Layered(Z, L)}
    z_rule = sp.Mul(Layered(W, L), Layered(A, L - 1), evaluate=False)  # w before a, as written
    if "b1" in sym:
        z_rule = sp.Add(z_rule, Layered(B, L), evaluate=False)
    s = Section("The network")
    s.say(Sentence(f"A chain of {depth} layer{'s' if depth > 1 else ''} with one unit each "
                   f"{'and no biases' if not ex.meta.get('biases') else 'with biases'}; "
                   "each layer {3} computes {0} and {1}, starting from {2}.",
                   (Chain(Layered(Z, L), "=", z_rule),
                    Chain(Layered(A, L), "=", ex.graph.nodes["a1"].display.xreplace(layer_l)),
                    Chain(sp.Symbol("a0"), "=", sym["x"]), L)))
    s.say(Sentence("The activation is {0}; its derivative is {1}.", (spec.definition, spec.derivative)))
    s.show(Chain(sym["L"], "=", ex.graph.nodes["L"].display))
    weights = ex.meta["weights"]
    same = len({str(w) for w in weights}) == 1
    s.lecturer_note(EXACT_NOTE)
    if notebook_checks(ex):
        s.lecturer_note(CROSSCHECK_NOTE)
    s.say(Sentence("Given {0} and {1}; " + ("every weight is {2}." if same else "the weights are listed below."),
                   (Chain(sym["x"], "=", Value(d.value("x"))), Chain(sym["y"], "=", Value(d.value("y"))),
                    Value(d.value("w1")))))
    s.say(roles_sentence(ex))
    sections.append(s)

    # Forward pass: lines for short chains (as in the conversation), a table for long ones.
    s = Section("Forward pass")
    if depth <= 6:
        for l in range(1, depth + 1):
            for name in (f"z{l}", f"a{l}"):
                node = ex.graph.nodes[name]
                s.show(Chain(node.symbol, "=", node.display, "=", d.substituted(node.display), "=",
                             Value(d.value(name))))
    rows = []
    for l in range(1, depth + 1):
        rows.append([Ordinal(l), Value(d.value(f"w{l}")), Value(d.value(f"z{l}")), Value(d.value(f"a{l}")),
                     Value(d.local_step(f"a{l}", f"z{l}").value)])
    s.say(Sentence(f"Layer by layer{' (first and last layers)' if depth > 2 * TABLE_HEAD + 1 else ''}:"))
    s.tabulate(["layer", "weight", "z", "a", f"{act_name}'(z)"], _elided_rows(rows))
    node = ex.graph.nodes["L"]
    s.say(Sentence("The loss:"))
    s.show(Chain(sym["L"], "=", node.display, "=", d.substituted(node.display), "=", Value(d.value("L"))))
    sections.append(s)

    # Backward pass for w1: the full product, elided when long.
    s = Section("Backward pass: the chain rule through every layer")
    edges = [("L", f"a{depth}")]
    for l in range(depth, 0, -1):
        edges.append((f"a{l}", f"z{l}"))
        edges.append((f"z{l}", f"a{l - 1}" if l > 1 else "w1"))
    symbolic = Product(tuple(Partial(of, wrt) for of, wrt in edges), elide=ELIDE)
    numeric = Product(tuple(Value(d.local_step(of, wrt).value) for of, wrt in edges), elide=ELIDE)
    total = d.total
    s.say(Sentence(f"{{0}} is a product of {len(edges)} local derivatives: the loss, then for each "
                   f"layer its activation's derivative and its weight.", (Total("L", "w1"),)))
    s.show(Chain(Total("L", "w1"), "=", symbolic))
    if depth <= 6:
        for of, wrt in edges:
            step = d.local_step(of, wrt)
            s.step(local_chain(d, step), step.justification)
    s.say(Sentence("Multiply:"))
    power = _as_power(total, ex.meta["weights"])
    s.show(Chain(Total("L", "w1"), "=", numeric, "=", Value(total), *(("=", power) if power is not None else ())))
    grads = ex.gradients()
    rows = [[Ordinal(l), Value(grads[f"w{l}"])] for l in range(1, depth + 1)]
    header = ["layer", "∂L/∂w"]
    if ex.lr is not None:
        header.append("updated weight")
        for l, row in enumerate(rows, start=1):
            row.append(Value(descend(d.value(f"w{l}"), ex.lr, grads[f"w{l}"])))
    s.say(Sentence("Every weight's gradient:"))
    s.tabulate(header, _elided_rows(rows))
    sections.append(s)

    # What a chain of this activation does at any depth, from the registry's facts: a gate passes
    # the weights' product unchanged (it explodes with large weights); a saturating curve scales
    # each layer by at most its bound.
    if spec.gates:
        sections.append(_generalisation(ex, d, spec))
        sections.append(_sigmoid_bound())
    elif spec.saturation_bound is not None:
        sections.append(_saturation_bound(ex, d, spec))
    obs = observations(ex, ex.derivation())
    if obs:
        o = Section("Observations")
        for sentence in obs:
            o.bullet(sentence)
        sections.append(o)
    return Content(ex.title, sections)


def _generalisation(ex, d, spec) -> Section:
    k, D, x, weights_product = general_rule()
    act = spec.unicode
    s = Section("Generalisation: D layers, every weight k")
    s.say(Sentence(f"Suppose every weight is {{0}} and every {act} unit is active (each {act}' = 1). "
                   f"The backward product then keeps one factor {{0}} per layer above the first; over "
                   f"layers 2 … D:", (k,)))
    s.show(Chain(ProductOver(PartialOf(Layered(Z, L), Layered(A, L - 1)), L, 2, D), "=",
                 ProductOver(k, L, 2, D), "=", weights_product))
    s.lecturer_note(SYMBOLIC_NOTE)
    s.say(Sentence("so the gradient of the first weight is"))
    loss_factor, last = PartialOf(LOSS, Indexed(A, D)), Indexed(A, D)
    s.show(Chain(Total("L", "w1"), "=", Product((loss_factor, weights_product, x))))
    if _loss_grows_with_depth(ex, d):
        s.say(Sentence("Here the loss's own factor is {0} and {1}, so with {2} the output is {3} and "
                       "{4} too, and the whole gradient is {5}: the loss factor is a power of k as "
                       "well, so it grows faster than the weight factors alone when k > 1 and "
                       "shrinks faster when k < 1.",
                       (Chain(loss_factor, "=", last),
                        Chain(sp.Symbol("y"), "=", Value(sp.S.Zero)), Chain(x, "=", Value(sp.S.One)),
                        Chain(last, "=", k ** D),
                        Chain(loss_factor, "=", k ** D),
                        Chain(Total("L", "w1"), "=", sp.simplify(k ** D * weights_product)))))
    s.say(Sentence("The weight factor {0} for a few weights and depths:", (weights_product,)))
    s.tabulate(["", *[f"D = {d}" for d in GENERAL_D]], _k_by_depth(weights_product, k, D))
    s.say(Sentence(f"Only k = 1 keeps the gradient stable at every depth: an active {act} passes "
                   f"gradients through unchanged, so it cannot stop them from exploding when the "
                   f"weights are large — that is the job of a good initialisation."))
    own = _this_chain(ex, d, spec)
    if own is not None:
        s.say(own)
    return s


def _loss_grows_with_depth(ex, d) -> bool:
    """True when this chain's loss has ∂L/∂a = a at its target, with input 1 (y = 0 under the half
    squared error, for instance): then the loss factor itself is k^D. Computed, not assumed."""
    node = ex.graph.nodes["L"]
    depth = ex.meta["depth"]
    a = ex.graph.symbols[f"a{depth}"]
    given = {ex.graph.symbols[n]: d.value(n) for n in node.parents if n != f"a{depth}"}
    rule = sp.diff(node.expr.xreplace(given), a)
    return d.value("x") == 1 and sp.simplify(rule - a) == 0


def _saturation_bound(ex, d, spec) -> Section:
    """A chain of a saturating activation: each layer scales the gradient by at most k·bound."""
    k, D, _, _ = general_rule()
    act = spec.unicode
    s = Section(f"Generalisation: D {act} layers, every weight k")
    bound = spec.saturation_bound
    s.say(Sentence(f"{act}' is at most {{0}} everywhere, so each layer multiplies the gradient by at "
                   f"most {{1}}, and through D layers the factor is at most {{2}}.",
                   (bound, Chain(sp.Symbol("w"), "·", Prime(spec.name, sp.Symbol("z")), "≤", k * bound),
                    (k * bound) ** (D - 1))))
    s.tabulate([Chain(BOUND, "", (k * bound) ** (D - 1)),
                *[f"D = {depth}" for depth in GENERAL_D]], _k_by_depth((k * bound) ** (D - 1), k, D, bound=True))
    s.say(Sentence(f"With weights below {{0}} a {act} chain's gradients vanish with depth.",
                   (1 / bound,)))
    s.say(UNDECIDED)
    own = _this_chain(ex, d, spec)
    if own is not None:
        s.say(own)
    return s


def _sigmoid_bound() -> Section:
    critical, maximum = sigmoid_derivative_maximum()
    k, D, _, weights_product = general_rule()
    s = Section("The same chain with sigmoids")
    s.say(Sentence("Setting the derivative of σ'(z) to zero, σ''(z) = 0, gives z = {0}, so σ'(z) ≤ {1} "
                   "for every z.", (Value(critical[0]), Chain(
                       Prime("sigmoid", sp.S.Zero), "=", Value(maximum)))))
    bound = (k / 4) ** (D - 1)
    s.lecturer_note(SYMBOLIC_NOTE)
    s.say(Sentence("Each sigmoid layer multiplies the gradient by at most {0}, so through D layers "
                   "the factor is at most {1}.", (Chain(Product((sp.Symbol("w"), Prime("sigmoid", Z))), "≤",
                                                        k / 4), bound)))
    s.tabulate([Chain(BOUND, "", bound), *[f"D = {d}" for d in GENERAL_D]],
               _k_by_depth(bound, k, D, bound=True))
    s.say(Sentence("With moderate weights sigmoid chains vanish: the opposite failure from ReLU's."))
    s.say(UNDECIDED)
    return s


# --- MLP ---------------------------------------------------------------------------------


def mlp_sections(ex, d) -> list:
    """δ notation, matrix form and the table of every parameter (added to the generic document),
    read from the derivation ``d`` of the loss."""
    from ..core.matrixmath import Hadamard, MatProduct, Transposed  # only networks show matrices
    widths = ex.meta["widths"]
    layers = ex.meta["layers"]
    acts = ex.meta["activation"]
    sym = ex.graph.symbols
    s = Section("Backpropagation layer by layer (δ notation)")
    s.say(Sentence("Write δ for the gradient of the loss with respect to a neuron's pre-activation, "
                   "{0}. Then every weight's gradient is its neuron's δ times the input it "
                   "multiplies, and every bias's gradient is δ itself:",
                   (Chain(Layered(DELTA, L, J), "=", TotalOf(LOSS, Layered(Z, L, J))),)))
    s.show(Row((Chain(TotalOf(LOSS, Layered(W, L, sp.Tuple(J, I))), "=",
                      Product((Layered(DELTA, L, J), Layered(A, L - 1, I)))),
                Chain(TotalOf(LOSS, Layered(B, L, J)), "=", Layered(DELTA, L, J)))))
    s.say(Sentence("The layers count from 1; the network's inputs are layer 0, {0}.",
                   (Chain(Layered(A, 0, I), "=", Indexed(sp.Symbol("x"), I)),)))
    for l in range(layers, 0, -1):
        act = _activation(acts[l - 1])
        for j in range(1, widths[l] + 1):
            z = f"z{l}_{j}"
            a = f"a{l}_{j}"
            delta = d.total_of(z)
            local = d.local_step(a, z).value
            if l == layers:
                up = d.total_of(a)
                s.show(Chain(_delta(l, j), "=",
                             Product((Partial("L", a), Partial(a, z))), "=",
                             Product((Value(up), Value(local))), "=", Value(delta)))
            else:
                terms = []
                values = []
                for k in range(1, widths[l + 1] + 1):
                    terms.append(Product((sym[f"w{l + 1}_{k}_{j}"], _delta(l + 1, k))))
                    values.append(Product((Value(d.value(f"w{l + 1}_{k}_{j}")), Value(d.total_of(f"z{l + 1}_{k}")))))
                from ..core.derivation import Sum
                s.show(Chain(_delta(l, j), "=",
                             Product((Prime(act.name, sym[z]),
                                      Sum(tuple(terms)))), "=",
                             Product((Value(local), Sum(tuple(values)))), "=", Value(delta)))
    s.say(Sentence("In matrix form, for the whole layer at once (⊙ is the elementwise product, f the "
                   "layer's activation — here " + ", ".join(_activation(a).unicode for a in acts) + "):"))
    s.show(Row((Chain(Layered(DELTA, L), "=",
                      Hadamard((MatProduct((Transposed(Layered(MATRIX, L + 1)), Layered(DELTA, L + 1))),
                                Prime("f", Layered(Z, L))))),
                Chain(TotalOf(LOSS, Layered(MATRIX, L)), "=",
                      MatProduct((Layered(DELTA, L), Transposed(Layered(A, L - 1))))))))
    t = Section("Every parameter" + (": gradient and update" if ex.lr is not None else ""))
    grads = ex.gradients()
    rows = []
    for p in ex.params:
        row = [sym[p], Value(d.value(p)), Value(grads[p])]
        if ex.lr is not None:
            row.append(Value(descend(d.value(p), ex.lr, grads[p])))
        rows.append(row)
    header = ["parameter", "value", "gradient"] + (["updated"] if ex.lr is not None else [])
    t.say(Sentence("Each parameter's gradient from its neuron's δ (computed above) and the input "
                   "it multiplies:"))
    for l in range(1, layers + 1):
        for j in range(1, widths[l] + 1):
            delta = _delta(l, j)
            dv = Value(d.total_of(f"z{l}_{j}"))
            for i in range(1, widths[l - 1] + 1):
                w, source = f"w{l}_{j}_{i}", (f"x{i}" if l == 1 else f"a{l - 1}_{i}")
                if w in sym and source in sym:
                    t.show(Chain(Total("L", w), "=", Product((delta, sym[source])), "=",
                                 Product((dv, Value(d.value(source)))), "=", Value(grads[w])))
            if f"b{l}_{j}" in grads:
                t.show(Chain(Total("L", f"b{l}_{j}"), "=", delta, "=", Value(grads[f"b{l}_{j}"])))
    if ex.lr is not None:
        p = sp.Symbol("p")
        t.say(Sentence("Gradient descent with {0}: each parameter p becomes {1}.",
                       (Chain(sp.Symbol("eta"), "=", Value(ex.lr)),
                        sp.Add(p, sp.Mul(-1, sp.Symbol("eta"), TotalOf(LOSS, p), evaluate=False), evaluate=False))))
    t.tabulate(header, rows)
    return [s, t]


def _delta(l: int, j: int) -> sp.Symbol:
    """δ⁽ˡ⁾ⱼ as a name the printers know (\\delta^{(l)}_{j}, δl_j), renumbered with the others
    under the notation preset ``index_base: 0``."""
    return sp.Symbol(f"delta{l}_{j}")


__all__ = ["build_chain", "mlp_sections", "general_rule", "sigmoid_derivative_maximum",
           "activations_used"]
