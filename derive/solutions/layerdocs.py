"""Documents of the layer exercises that say more than the generic worked example: batch
normalisation's backward pass checked against CS231n's simplified formula, a recurrent net's
shared weight whose gradient is a sum over time steps that explodes or vanishes, and the matrix
view of convolution, max-pooling and dropout — the scalar lines of the worked example written as
one matrix product each (o = T x + b, ∂L/∂x = Tᵀ δ, ∂L/∂k = P δ), with their numbers. Each is a
layout registry entry (``register_layout``) for the kind its builder sets."""
from __future__ import annotations

import sympy as sp

from ..core.derivation import Chain, Partial, Prime, Product, Row, Sum, Value
from ..core.notation import Hat, Indexed, PartialOf, SumOver
from ..core.engine import compact, expand_quantities
from ..core.functions import FUNCTIONS, Sentence, derivative_rule
from ..core.matrixmath import Hadamard, MatProduct, MatrixValue, Scaled, Transposed
from ..core.tensor import band, band2d, from_entries, pool_select
from ..rendering.blocks import Section
from .content import build_generic, register_layout
from .matrixdoc import ONES

def _simplified():
    """CS231n's formula, ∂L/∂x_i = γ/(n·s) · (n·g_i − Σ_j g_j − x̂_i · Σ_j g_j·x̂_j) with
    s = √(σ² + ε), as a printable formula."""
    i, j, n, s, x, g, gamma, sigma, eps = sp.symbols("i j n s x g gamma sigma epsilon")
    xhat = Hat(x)
    bracket = sp.Add(sp.Mul(n, Indexed(g, i), evaluate=False), -SumOver(Indexed(g, j), j),
                     sp.Mul(-1, Indexed(xhat, i), SumOver(sp.Mul(Indexed(g, j), Indexed(xhat, j),
                                                                 evaluate=False), j), evaluate=False),
                     evaluate=False)
    return Row((Chain(PartialOf(sp.Symbol("L"), Indexed(x, i)), "=",
                      Product((gamma / sp.Mul(n, s, evaluate=False), bracket))),
                Chain(s, "=", sp.sqrt(sp.Add(sigma ** 2, eps, evaluate=False)))))


SIMPLIFIED = _simplified()


def batchnorm_simplified(ex) -> list:
    """CS231n's one-line gradient for a ``batchnorm`` example, from its exact forward values:
    ∂L/∂x_i = γ/(n·s) · (n·g_i − Σ_j g_j − x̂_i · Σ_j g_j x̂_j), s = sqrt(var + eps); exact."""
    n = ex.meta["batch"]
    v = ex.derivation().values
    gs = [v[f"g{i}"] for i in range(1, n + 1)]
    xh = [v[f"xhat{i}"] for i in range(1, n + 1)]
    total = sum(gs)
    weighted = sum(g * h for g, h in zip(gs, xh))
    return [compact(f"dx{i}", v["gamma"] / (n * v["s"]) * (n * g - total - h * weighted))
            for i, (g, h) in enumerate(zip(gs, xh), start=1)]


def _equal(a, b) -> bool:
    return a == b or sp.simplify(expand_quantities(a - b)) == 0


def build_batchnorm(ex):
    content = build_generic(ex)
    n = ex.meta["batch"]
    s = Section("The simplified formula (CS231n)")
    s.say(Sentence("Collecting the paths through the mean, the variance and x̂ gives one formula "
                   "for the whole backward pass, with g the upstream gradient:"))
    s.show(SIMPLIFIED)
    simple = batchnorm_simplified(ex)
    d = ex.derivation()
    same = 0
    for i, value in enumerate(simple, start=1):
        step = d.total_of(f"x{i}")
        same += _equal(step, value)
        s.show(Chain(Partial(ex.output, f"x{i}"), "=", Value(value)))
    total = sum(simple)
    total = sp.S.Zero if _equal(total, sp.S.Zero) else total
    s.say(Sentence(f"{same} of {n} values equal the step-by-step ones exactly (checked "
                   f"symbolically), and they sum to {{0}}" + (": shifting every input by the same "
                   "amount does not change a normalised output." if total == 0 else "."),
                   (Value(total),)))
    content.sections.insert(len(content.sections) - (1 if content.sections[-1].title == "Observations" else 0), s)
    return content


def build_rnn(ex):
    content = build_generic(ex)
    d = ex.derivation("w_hh")
    if not d.paths:
        return content
    steps = ex.meta["steps"]
    w, t = ex.graph.symbols["w_hh"], sp.Symbol("t")
    s = Section("Through time: the shared recurrent weight")
    s.say(Sentence("The same {0} is used at every step, so its gradient is a sum with one term per "
                   "use. The term of the use at step {1} passes back through the later steps, each "
                   "multiplying by {0} times the activation's slope:", (w, t)))
    rows = []
    for path in sorted(d.paths, key=lambda p: -len(p.nodes)):
        hs = [n for n in path.nodes[1:] if n in ex.graph.nodes and n.startswith("h")]
        rows.append([hs[0][1:], str(len(hs) - 1), Value(path.value)])  # the step t of h_t, steps after it
    s.tabulate([Sentence("{0} used at step", (w,)), "later steps passed back",
                Sentence("contribution to {0}", (Chain(Partial(ex.output, "w_hh")),))], rows)
    factors = [ex.derivation(f"h{t - 1}", f"h{t}").total for t in range(2, steps + 1)]
    if factors:
        product = compact("∏", sp.Mul(*factors))
        step_back = PartialOf(Indexed(sp.Symbol("h"), t), Indexed(sp.Symbol("h"), t - 1))
        s.say(Sentence("Each step back multiplies by {0}:", (Chain(step_back, "=", Product((
            w, Prime(ex.meta["activation"], Indexed(sp.Symbol("z"), t))))),)))
        s.tabulate(["step", Chain(step_back)], [[Chain(Partial(f"h{t}", f"h{t - 1}")), Value(f)]
                                                for t, f in zip(range(2, steps + 1), factors)])
        s.say(_through_time(ex, d, product))
    s.show(Chain(Partial(ex.output, "w_hh"), "=", Value(d.total)))
    content.sections.insert(len(content.sections) - (1 if content.sections[-1].title == "Observations" else 0), s)
    return content


def _through_time(ex, d, product) -> Sentence:
    """What the product of the factors says, at this w_hh: only what the numbers and the
    activation's bound on f' (a registry fact) show — explode or vanish over more steps."""
    steps = ex.meta["steps"]
    size = abs(sp.N(product, 30))
    first = Chain(Partial(f"h{steps}", "h1"), "=", Value(product))
    if size > 1:
        fate = ("above 1, so the earliest use's contribution is amplified: with factors like these the "
                "gradient explodes as the sequence gets longer")
    elif size < 1:
        fate = ("below 1, so the earliest use's contribution is damped: with factors like these the "
                "gradient vanishes as the sequence gets longer")
    else:
        fate = "exactly 1: the gradient neither explodes nor vanishes here"
    spec = FUNCTIONS[ex.meta["activation"]]
    bound = spec.saturation_bound if spec.saturation_bound is not None else (sp.S.One if spec.gates else None)
    w_hh = d.value("w_hh")
    if bound is None:
        return Sentence(f"From the last step back to the first the factor is {{0}}, {fate}.", (first,))
    limit = abs(w_hh) * bound
    w = ex.graph.symbols["w_hh"]
    # |w_hh| times f's largest slope (σ' ≤ 1/4, tanh' ≤ 1, a gate's 1)
    cap = Chain(Product((sp.Abs(w), Value(bound))), "=", Value(limit))
    if limit < 1:
        why = (". Since every factor is at most {1} < 1 in size ({2} times the activation's largest "
               "slope), at this {3} the gradient through time vanishes over many steps whatever the inputs")
    else:
        why = (". Every factor is at most {1} in size ({2} times the activation's largest slope), so at "
               "this {3} factors above 1 are possible: the gradient explodes over many steps while the "
               "slopes {4} stay near their maximum, and vanishes where they saturate")
    slope = Prime(ex.meta["activation"], Indexed(sp.Symbol("z"), sp.Symbol("t")))
    return Sentence(f"From the last step back to the first the factor is {{0}}, {fate}{why}.",
                    (first, cap, sp.Abs(w), w, slope))


# --- the matrix view of convolution, max-pooling and dropout ------------------------------------


LAYER_SHOWN = 10  # a layer exercise's matrices are small: shown whole up to 10 rows or columns


def _vec(entries):
    """Exact numbers as a column (a MatrixValue to show)."""
    return MatrixValue.of(from_entries(list(entries), (len(entries), 1)), LAYER_SHOWN)


def _mat(rows):
    return MatrixValue.of(from_entries([e for r in rows for e in r], (len(rows), len(rows[0]))), LAYER_SHOWN)


def _v(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def _insert(content, section):
    """Place ``section`` before the observations (the last word stays theirs)."""
    at = len(content.sections) - (1 if content.sections[-1].title == "Observations" else 0)
    content.sections.insert(at, section)


def _matvec(rows, vector, label: str) -> list:
    return [compact(label, sp.Add(*[a * b for a, b in zip(row, vector) if a != 0 and b != 0]))
            for row in rows]


def _grid(names) -> tuple:
    """(rows, columns) of names x{r}_{c} (1-based)."""
    cells = [tuple(int(i) for i in n[1:].split("_")) for n in names]
    return max(r for r, _ in cells), max(c for _, c in cells)


def _input_gradient(ex, entries):
    """∂L/∂x to show: an image's as the image (a long column would hide its nonzero entries
    behind ⋮), a vector's as a column."""
    names = ex.meta["inputs"]
    if "_" not in names[0]:
        return _vec(entries)
    h, w = _grid(names)
    return _mat([entries[r * w:(r + 1) * w] for r in range(h)])


def band_of(ex) -> list:
    """T of a conv1d or conv2d exercise: the tensor table's band matrix of its kernel (the one
    ``conv1d``/``conv2d`` of the equation language multiply by), as rows of exact numbers."""
    v, meta = ex.derivation().values, ex.meta
    xs, ks = meta["inputs"], meta["kernel"]
    stride, padding = meta["stride"], meta["padding"]
    if meta["layer"] == "conv2d":
        h, w = _grid(xs)
        K = from_entries([v[k] for k in ks], (1, 1) + _grid(ks))
        T = band2d(K, (1, h, w), stride, padding)
    else:
        T = band(from_entries([v[k] for k in ks], (len(ks), 1)), len(xs), stride, padding)
    return T.a.tolist()


def matrix_view_conv(ex) -> dict:
    """The convolution as matrices, from the exact forward values: T (outputs × inputs) with the
    kernel on its band (the tensor table's ``band``/``band2d``, as ``conv1d``/``conv2d`` use it),
    P (kernel × outputs) whose column j is output j's window, the upstream g, the pre-activation
    z = T x + b, δ = g ⊙ f'(z), and the gradients Tᵀδ, Pδ, Σδ (exact)."""
    v, meta = ex.derivation().values, ex.meta
    xs, ks, taps = meta["inputs"], meta["kernel"], meta["taps"]
    outs = list(taps)
    T = band_of(ex)
    P = [[sp.S.Zero] * len(outs) for _ in ks]
    for j, out in enumerate(outs):
        for k, x in taps[out]:
            P[ks.index(k)][j] = v[x]
    x = [v[n] for n in xs]
    z = [compact("z", e + v["b"]) for e in _matvec(T, x, "Tx")]
    g = [v[f"g{j}"] for j in range(1, len(outs) + 1)]
    spec = FUNCTIONS[meta.get("activation", "identity")]
    zsym = sp.Symbol("z", real=True)
    rule = derivative_rule(spec, zsym)
    delta = [compact("δ", gj * rule.xreplace({zsym: zj})) for gj, zj in zip(g, z)]
    Tt = [list(col) for col in zip(*T)]
    return {"T": T, "P": P, "x": x, "z": z, "g": g, "delta": delta, "outs": outs,
            "dx": _matvec(Tt, delta, "Tᵀδ"), "dk": _matvec(P, delta, "Pδ"),
            "db": compact("Σδ", sp.Add(*delta))}


def build_conv(ex):
    content = build_generic(ex)
    m = matrix_view_conv(ex)
    meta = ex.meta
    two_d = meta["layer"] == "conv2d"
    n_out, n_in, n_k = len(m["outs"]), len(m["x"]), len(m["P"])
    x, k, b, g, z, T, P, d = (_v(n) for n in ("x", "k", "b", "g", "z", "T", "P", "delta"))
    s = Section("The same layer in matrix form")
    s.say(Sentence(("The input read row by row is the column {0} (" if two_d else "Stack the inputs "
                    "in the column {0} (") + f"{n_in} entries), the kernel in {{1}} ({n_k}) and the "
                   f"outputs' upstream gradients in {{2}} ({n_out}). Every output is one row of a "
                   "matrix product, {3}, where row j of {4} holds the kernel at output j's window "
                   f"(stride {meta['stride']}, padding {meta['padding']}) and zeros elsewhere:",
                   (x, k, g, Chain(z, "=", Sum((MatProduct((T, x)), b))), T)))
    s.show(Chain(_v("T"), "=", _mat(m["T"])))
    s.show(Chain(z, "=", Sum((MatProduct((T, x)), b)), "=", _vec(m["z"])))
    activation = meta.get("activation", "identity")
    if derivative_rule(FUNCTIONS[activation], sp.Symbol("z", real=True)) != 1:  # not the identity
        s.say(Sentence("The activation acts entry by entry, so the gradient reaching {0} is the "
                       "upstream one times its derivative:", (z,)))
        s.show(Chain(d, "=", Hadamard((g, Prime(activation, z))), "=", _vec(m["delta"])))
    else:
        s.say(Sentence("There is no activation, so the gradient reaching {0} is the upstream one: {1}.",
                   (z, Chain(d, "=", g))))
    s.say(Sentence("Going back through a matrix product takes the transpose: the input's gradient "
                   "is {0}, what the layer passes to the layer below (CS231n's dx)"
                   + (", read back into the image's rows and columns:" if two_d else ":"),
                   (MatProduct((Transposed(T), d)),)))
    s.show(Chain(Partial(ex.output, "x"), "=", MatProduct((Transposed(T), d)), "=",
                 _input_gradient(ex, m["dx"])))
    s.say(Sentence("The kernel is shared: {0} multiplies one input at every output, so its gradient "
                   "sums over the outputs. Writing output j's window as column j of {1}:",
                   (_v("k_m"), P)))
    s.show(Chain(_v("P"), "=", _mat(m["P"])))
    s.show(Chain(Partial(ex.output, "k"), "=", MatProduct((P, d)), "=", _vec(m["dk"])))
    s.show(Chain(Partial(ex.output, "b"), "=", Sum(tuple(_v(f"delta{j}") for j in range(1, n_out + 1)))
                 if n_out <= 4 else MatProduct((Transposed(ONES), d)), "=", Value(m["db"])))
    s.say(Sentence("These are the numbers of the scalar derivation above, entry by entry."))
    _insert(content, s)
    return content


def matrix_view_maxpool(ex) -> dict:
    """Max-pooling as a selection matrix R (outputs × inputs, one 1 per row at the window's
    first maximum, as PyTorch breaks ties), with o = R x and ∂L/∂x = Rᵀ g (exact). An image's R
    is the tensor table's (as ``maxpool2d`` routes it); a vector's, which the table does not pool,
    is read from the scalar lines: row j holds ∂o_j/∂x_i, the routing ``pool_max`` does."""
    v, meta = ex.derivation().values, ex.meta
    xs, outs = meta["inputs"], list(meta["windows"])
    if "_" in xs[0]:
        X = from_entries([v[n] for n in xs], (1,) + _grid(xs))
        R = pool_select(X, meta["size"], meta["stride"]).a.tolist()
    else:
        R = [[ex.grad(x, of=out) for x in xs] for out in outs]
    g = [v[f"g{j}"] for j in range(1, len(outs) + 1)]
    Rt = [list(col) for col in zip(*R)]
    return {"R": R, "x": [v[n] for n in xs], "o": _matvec(R, [v[n] for n in xs], "Rx"), "g": g,
            "dx": _matvec(Rt, g, "Rᵀg")}


def build_maxpool(ex):
    content = build_generic(ex)
    m = matrix_view_maxpool(ex)
    two_d = any("_" in n for n in ex.meta["inputs"])
    R, x, g = _v("R"), _v("x"), _v("g")
    s = Section("The same layer in matrix form")
    s.say(Sentence(("Read the input row by row into the column {0}" if two_d else "Stack the inputs "
                    "in the column {0}") + f" ({len(m['x'])} entries) and the upstream gradients in "
                   f"{{1}} ({len(m['g'])}). At these values each output copies one input — its "
                   "window's maximum (the first one at a tie, as PyTorch) — so the layer is a "
                   "selection matrix {2} with one 1 per row:", (x, g, R)))
    s.show(Chain(R, "=", _mat(m["R"])))
    s.show(Chain(_v("o"), "=", MatProduct((R, x)), "=", _vec(m["o"])))
    s.say(Sentence("Going back through {0} takes its transpose: each output's gradient returns to "
                   "the input it copied, and every other input gets 0"
                   + (" (read back into the image's rows and columns):" if two_d else ":"), (R,)))
    s.show(Chain(Partial(ex.output, "x"), "=", MatProduct((Transposed(R), g)), "=",
                 _input_gradient(ex, m["dx"])))
    s.say(Sentence("These are the numbers of the scalar derivation above, entry by entry."))
    _insert(content, s)
    return content


def matrix_view_dropout(ex) -> dict:
    """Inverted dropout as vectors: out = (m ⊙ x)/(1 − p), ∂L/∂x = (m ⊙ g)/(1 − p), with the
    numbers of the scalar lines (exact)."""
    d = ex.derivation()
    v = d.values
    n = len(ex.meta["inputs"])
    return {name: [v[f"{name}{i}"] for i in range(1, n + 1)] for name in ("x", "m", "g", "out")} | {
        "dx": [d.total_of(f"x{i}") for i in range(1, n + 1)], "keep": 1 - v["p"]}


def build_dropout(ex):
    content = build_generic(ex)
    m = matrix_view_dropout(ex)
    x, mask, g, p = _v("x"), _v("m"), _v("g"), _v("p")
    s = Section("The same layer in matrix form")
    s.say(Sentence("Stack the inputs in the column {0}, the mask in {1} (1 keeps a unit, 0 drops "
                   "it) and the upstream gradients in {2}. The layer multiplies entry by entry:",
                   (x, mask, g)))
    s.show(Chain(_v("m"), "=", _vec(m["m"])))
    s.show(Chain(_v("out"), "=", Scaled(Hadamard((mask, x)), 1 - p), "=", _vec(m["out"])))
    s.say(Sentence("The mask and the scaling are fixed numbers, so the gradient goes back through "
                   "the same product: a dropped unit passes none, a kept one passes {0}.",
                   (Scaled(g, 1 - p),)))
    s.show(Chain(Partial(ex.output, "x"), "=", Scaled(Hadamard((mask, g)), 1 - p), "=", _vec(m["dx"])))
    s.say(Sentence("These are the numbers of the scalar derivation above, entry by entry."))
    _insert(content, s)
    return content


register_layout("batchnorm", build_batchnorm, "batch normalisation with the simplified gradient")
register_layout("conv", build_conv, "a 1-D or 2-D convolution, with its matrix view (o = T x + b)")
register_layout("maxpool", build_maxpool, "max-pooling, with its selection matrix (∂L/∂x = Rᵀ g)")
register_layout("dropout", build_dropout, "inverted dropout, with its vector form")
register_layout("rnn", build_rnn, "a recurrent net: the shared weight's gradient through time")

__all__ = ["batchnorm_simplified", "build_batchnorm", "build_conv", "build_dropout", "build_maxpool",
           "build_rnn", "matrix_view_conv", "matrix_view_dropout", "matrix_view_maxpool"]
