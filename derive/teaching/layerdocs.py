"""Documents of the layer exercises that say more than the generic worked example: batch
normalisation's backward pass checked against CS231n's simplified formula, and a recurrent net's
shared weight whose gradient is a sum over time steps that explodes or vanishes. Each is a layout
registry entry (``register_layout``) for the kind its builder sets."""
from __future__ import annotations

import sympy as sp

from ..core.derivation import Chain, Formula, Partial, Product, Value
from ..core.engine import compact, expand_quantities
from ..core.functions import FUNCTIONS, Sentence
from ..rendering.blocks import Section
from .content import build_generic, register_layout

SIMPLIFIED = Formula(
    r"\frac{\partial L}{\partial x_i} = \frac{\gamma}{n\,s}\Bigl(n\,g_i - \sum_j g_j"
    r" - \hat{x}_i \sum_j g_j \hat{x}_j\Bigr), \quad s = \sqrt{\sigma^2 + \varepsilon}",
    "∂L/∂x_i = γ/(n·s) · (n·g_i − Σ_j g_j − x̂_i · Σ_j g_j·x̂_j),  s = √(σ² + ε)")


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
    s = Section("Through time: the shared weight w_hh")
    s.say(Sentence("The same w_hh is used at every step, so its gradient is a sum with one term per "
                   "use. The term of the use at step t passes back through the later steps, each "
                   "multiplying by w_hh times the activation's slope:"))
    rows = []
    for path in sorted(d.paths, key=lambda p: -len(p.nodes)):
        hs = [n for n in path.nodes[1:] if n in ex.graph.nodes and n.startswith("h")]
        rows.append([hs[0][1:], str(len(hs) - 1), Value(path.value)])  # the step t of h_t, steps after it
    s.tabulate(["w_hh used at step", "later steps passed back", "contribution to ∂L/∂w_hh"], rows)
    factors = [ex.derivation(f"h{t - 1}", f"h{t}").total for t in range(2, steps + 1)]
    if factors:
        product = compact("∏", sp.Mul(*factors))
        s.say(Sentence("Each step back multiplies by ∂h_t/∂h_(t−1) = w_hh · f'(z_t):"))
        s.tabulate(["step", "∂h_t/∂h_(t−1)"], [[Chain(Partial(f"h{t}", f"h{t - 1}")), Value(f)]
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
    # |w_hh| times f's largest slope (σ' ≤ 1/4, tanh' ≤ 1, a gate's 1)
    cap = Chain(Product((sp.Abs(ex.graph.symbols["w_hh"]), Value(bound))), "=", Value(limit))
    if limit < 1:
        why = (". Since every factor is at most {1} < 1 in size (|w_hh| times the largest slope of f), at "
               "this w_hh the gradient through time vanishes over many steps whatever the inputs")
    else:
        why = (". Every factor is at most {1} in size (|w_hh| times the largest slope of f), so at this "
               "w_hh factors above 1 are possible: "
               "the gradient explodes over many steps while the slopes f'(z_t) stay near their "
               "maximum, and vanishes where they saturate")
    return Sentence(f"From the last step back to the first the factor is {{0}}, {fate}{why}.", (first, cap))


register_layout("batchnorm", build_batchnorm, "batch normalisation with the simplified gradient")
register_layout("rnn", build_rnn, "a recurrent net: the shared weight's gradient through time")

__all__ = ["batchnorm_simplified", "build_batchnorm", "build_rnn"]
