"""Initialisation: why He (and LeCun, Glorot) scale the weights the way they do — derived with
SymPy, not asserted — and a Monte Carlo simulation of deep networks under several schemes.

The derivation (for one layer z = Σ_i w_i a_i with n = n_in inputs):
* assumptions: the weights are independent of each other and of the activations, with mean 0;
* Var[z] = Σ Var[w_i a_i] = n (E[w²] E[a²] − E[w]² E[a]²) = n · Var[w] · E[a²]  (E[w] = 0);
* for z ~ N(0, v): E[ReLU(z)²] = v/2 (sympy.stats integrates it), so E[a²] = ½ Var[z_prev];
* keeping Var[z] the same from layer to layer: n · Var[w] · ½ = 1, so Var[w] = 2/n (He).
Note the second moment E[a²], not Var[a]: Var[ReLU(z)] = (½ − 1/(2π)) v, which would give the
wrong rule.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp

from ..core.derivation import Chain, Product, Value
from ..core.notation import Expectation, Indexed, Layered, Normal, StdDev, SumOver, TotalOf, Variance
from ..rendering.blocks import Content, Section
from ..core.errors import DeriveError
from ..core.functions import FUNCTIONS, Sentence

# the general formulas' symbols: layer l, units j and i, n inputs, weight, activation,
# pre-activation, variance
L, J, I, N, W, A, Z, V = sp.symbols("l j i n w a z v")
LOSS_SYMBOL = sp.Symbol("L")

SCHEMES = ("he", "lecun", "xavier", "xavier_uniform", "leaky_he", "he_fan_out")
SIM_SCHEMES = {"normal": "std 1", "small": "std 0.01", "xavier": "Glorot, Var 2/(n_in + n_out)",
               "he": "He, Var 2/n_in", "lecun": "LeCun, Var 1/n_in"}


@lru_cache(maxsize=None)
def second_moments():
    """E[f(z)²] and E[f(z)] for z ~ N(0, v), by sympy.stats (exact integrals)."""
    from sympy.stats import E, Normal, variance
    v = sp.Symbol("v", positive=True)
    alpha = sp.Symbol("alpha", positive=True)
    z = Normal("z", 0, sp.sqrt(v))
    relu_sq = sp.simplify(E(sp.Piecewise((z ** 2, z > 0), (0, True))))
    relu_mean = sp.simplify(E(sp.Piecewise((z, z > 0), (0, True))))
    leaky_sq = sp.simplify(E(sp.Piecewise((z ** 2, z > 0), (alpha ** 2 * z ** 2, True))))
    identity_sq = sp.simplify(E(z ** 2))
    relu_var = sp.simplify(relu_sq - relu_mean ** 2)
    return {"v": v, "alpha": alpha, "relu_sq": relu_sq, "relu_mean": relu_mean, "relu_var": relu_var,
            "leaky_sq": leaky_sq, "identity_sq": identity_sq, "normal_var": sp.simplify(variance(z))}


@lru_cache(maxsize=None)
def rules():
    """The initialisation variances, each solved from its condition with SymPy."""
    from sympy.stats import Uniform, variance
    m = second_moments()
    v = m["v"]
    n_in, n_out, var_w, r = sp.symbols("n_in n_out Var_w r", positive=True)
    gain_relu = sp.simplify(m["relu_sq"] / v)  # E[ReLU(z)²] / Var[z] = 1/2
    gain_leaky = sp.simplify(m["leaky_sq"] / v)
    he = sp.solve(sp.Eq(n_in * var_w * gain_relu, 1), var_w)[0]
    lecun = sp.solve(sp.Eq(n_in * var_w, 1), var_w)[0]  # tanh, linear regime: tanh'(0) = 1
    leaky = sp.solve(sp.Eq(n_in * var_w * gain_leaky, 1), var_w)[0]
    he_out = sp.solve(sp.Eq(n_out * var_w * gain_relu, 1), var_w)[0]
    # Glorot: the forward condition n_in Var[w] = 1 and the backward one n_out Var[w] = 1 cannot
    # both hold; their compromise (n_in + n_out)/2 · Var[w] = 1.
    xavier = sp.solve(sp.Eq((n_in + n_out) / 2 * var_w, 1), var_w)[0]
    u = Uniform("u", -r, r)
    bound = sp.solve(sp.Eq(variance(u), xavier), r)[0]
    return {"n_in": n_in, "n_out": n_out, "Var_w": var_w, "gain_relu": gain_relu,
            "gain_leaky": gain_leaky, "he": he, "lecun": lecun, "leaky_he": leaky, "he_fan_out": he_out,
            "xavier": xavier, "xavier_uniform_bound": sp.simplify(bound),
            "uniform_variance": sp.simplify(variance(u))}


@dataclass
class Handout:
    """A document built from sections (renders like every other document), with the numbers it
    derived in ``results``.

    >>> h = variance_derivation("relu")
    >>> h.results["he"], h.content.title
    (2/n_in, 'Why He initialisation: the variance of relu layers, derived')
    """

    content: Content
    results: dict = field(default_factory=dict)
    precision: int = 4

    def to_markdown(self):
        """The document as Markdown with $…$ math.

        >>> h = variance_derivation("relu")
        >>> h.to_markdown().startswith("# Why He initialisation")
        True
        """
        from ..rendering.formats import render_content
        return render_content(self.content, "markdown", None, self.precision)

    def to_latex(self, fragment: bool = False):
        """The document as LaTeX (``fragment=True``: the body only).

        >>> h = variance_derivation("relu")
        >>> "begin{document}" in h.to_latex()
        True
        """
        from ..rendering.formats import render_content
        return render_content(self.content, "latex", None, self.precision, fragment)

    def to_text(self):
        """The document as plain text (also ``str(handout)``).

        >>> h = variance_derivation("relu")
        >>> "Var[w] = 2/n_in" in h.to_text()
        True
        """
        from ..rendering.formats import render_content
        return render_content(self.content, "text", None, self.precision)

    def render(self, fmt: str, fragment: bool = False, section_level="section", notes: bool = False):
        """The document in one format of the format registry ("markdown", "latex", "text", "html");
        ``section_level``: the headings' depth ("subsection" nests a fragment under a section);
        ``notes``: also the remarks for the lecturer.

        >>> h = variance_derivation("relu")
        >>> h.render("text") == h.to_text()
        True
        """
        from ..rendering.formats import render_content
        return render_content(self.content, fmt, None, self.precision, fragment, level=section_level,
                              notes=notes)

    def __str__(self):
        return self.to_text()

    def _repr_markdown_(self):
        return self.to_markdown()


SCHEME_NAMES = {"he": "He", "lecun": "LeCun", "xavier": "Glorot (Xavier), normal",
                "xavier_uniform": "Glorot (Xavier), uniform bound", "leaky_he": "He for leaky ReLU",
                "he_fan_out": "He, fan-out"}


@dataclass(frozen=True)
class LayerMoments:
    """What one activation f does to the variance argument, for z ~ N(0, v): the forward factor
    E[f(z)²]/v (``gain``; exact for a piecewise-linear f, else in the linear regime near 0, where
    small initial weights keep z), the backward factor E[f'(z)²] (``slope_gain``), and the lines
    that show them."""

    exact: bool  # piecewise linear: the integrals are exact, not a linear-regime estimate
    centred: bool  # f(0) = 0 near 0 (the forward condition alone fixes the scale)
    gain: sp.Expr | None  # E[f(z)²] = gain · v; None when f(0) ≠ 0 (the mean does not scale)
    slope_gain: sp.Expr  # E[f'(z)²]
    lines: tuple  # Chains for the document: E[f(z)²] = …, E[f(z)] = …, …
    mean: sp.Expr  # E[f(z)] (exact) or f(0) (linear regime)


@lru_cache(maxsize=None)
def layer_moments(name: str) -> LayerMoments:
    """The moments of the activation called ``name`` under z ~ N(0, v), from its registry entry:
    a homogeneous entry (f(cz) = c·f(z): ReLU, leaky ReLU, the identity) is z above 0 and s·z
    below, with s = −f(−1) in the entry's own parameters, and its integrals are exact
    (sympy.stats); a smooth one is linearised at 0, f(z) ≈ f(0) + f'(0)·z."""
    from sympy.stats import E, Normal
    from ..core.functions import derivative_rule
    spec = _activation(name)
    m = second_moments()
    v = m["v"]
    z = sp.Symbol("z", real=True)
    params = spec.arguments[1:]
    applied = spec.function(Z, *params)
    if spec.homogeneous:
        slope = sp.simplify(-spec.function(sp.S.NegativeOne, *params))
        if slope.has(*[p for p in params if p.is_Symbol]):
            slope = slope.xreplace({p: m["alpha"] for p in params if p.is_Symbol})  # α > 0
        n = Normal("z", 0, sp.sqrt(v))
        sq = sp.simplify(E(sp.Piecewise((n ** 2, n > 0), (slope ** 2 * n ** 2, True))))
        mean = sp.simplify(E(sp.Piecewise((n, n > 0), (slope * n, True))))
        gain = sp.simplify(sq / v)
        # f' is 1 above 0 and s below, each half the time
        slope_gain = sp.simplify((1 + slope ** 2) / 2)
        applied = applied.xreplace({p: m["alpha"] for p in params if p.is_Symbol})
        two_pi = sp.Mul(2, sp.pi, evaluate=False)
        root = sp.Pow(sp.Mul(v, sp.Pow(two_pi, -1, evaluate=False), evaluate=False), sp.S.Half,
                      evaluate=False)  # √(v/(2π)), as by hand
        mean_shown = (sp.Mul(sp.simplify(mean / sp.sqrt(v / (2 * sp.pi))), root, evaluate=False)
                      if mean != 0 else mean)
        ratio = sp.simplify((sq - mean ** 2) / v * 2 * sp.pi)  # over 2π: (π − 1)/(2π) for ReLU
        var_shown = sp.Mul(ratio, v, sp.Pow(two_pi, -1, evaluate=False), evaluate=False)
        lines = (Chain(Expectation(applied ** 2), "=", sq), Chain(Expectation(applied), "=", mean_shown),
                 Chain(Variance(applied), "=", var_shown))
        mean = mean_shown
        return LayerMoments(True, True, gain, slope_gain, lines, mean)
    args = [z, *spec.defaults]
    f0 = sp.simplify(spec.function(*args).subs(z, 0))
    d0 = sp.simplify(derivative_rule(spec, z).subs(z, 0))
    linear = sp.Add(f0, sp.Mul(d0, Z, evaluate=False), evaluate=False) if f0 != 0 else sp.Mul(d0, Z)
    sq = sp.Add(f0 ** 2, sp.Mul(d0 ** 2, V, evaluate=False), evaluate=False) if f0 != 0 else d0 ** 2 * V
    lines = (Chain(applied, "≈", linear), Chain(Expectation(applied ** 2), "≈", sq))
    return LayerMoments(False, f0 == 0, d0 ** 2 if f0 == 0 else None, d0 ** 2, lines, f0)


def variance_derivation(activation: str = "relu", scheme: str | None = None) -> Handout:
    """Derive the weight variance that keeps activations (and gradients) from exploding or
    vanishing, for ``activation`` ("relu", "leaky_relu", "tanh", "sigmoid", "identity"): the
    argument is worked for that activation's layers.

    >>> variance_derivation("relu").results["he"]
    2/n_in
    """
    spec = _with_init(activation)
    recommended = spec.init
    scheme = scheme or recommended
    if scheme not in SCHEMES:
        raise DeriveError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    m, r = second_moments(), rules()
    n_in, n_out = r["n_in"], r["n_out"]
    act = spec.unicode
    lm = layer_moments(spec.name)
    applied = spec.function(Z, *[m["alpha"] if p.is_Symbol else p for p in spec.arguments[1:]])
    sections = []

    s = Section("The question")
    s.say(Sentence("In a deep network each layer computes {0} and {1}, here with {2}. "
                   "Backpropagation multiplies one local derivative per layer, so if every layer "
                   "scales the signal by a factor other than 1, activations and gradients grow or "
                   "shrink exponentially with depth. How large should the weights be at the start "
                   "of training?",
                   (Chain(Layered(Z, L, J), "=", SumOver(sp.Mul(Indexed(W, sp.Tuple(J, I)), Layered(A, L - 1, I),
                                                                 evaluate=False), I, 1, N)),
                    Chain(Layered(A, L, J), "=", sp.Function("f")(Layered(Z, L, J))),
                    Chain(sp.Function("f")(Z), "=", applied))))
    sections.append(s)

    s = Section("Step 1: the variance of a weighted sum")
    s.say(Sentence("Assume the weights are independent of each other and of the activations, all "
                   "with mean 0 (as every initialisation scheme draws them). For one term, "
                   "independence gives {0}, and with {1}:",
                   (Chain(Variance(sp.Mul(W, A, evaluate=False)), "=", sp.Add(
                       sp.Mul(Expectation(W ** 2), Expectation(A ** 2), evaluate=False),
                       sp.Mul(-1, Expectation(W) ** 2, Expectation(A) ** 2, evaluate=False), evaluate=False)),
                    Chain(Expectation(W), "=", sp.S.Zero))))
    s.show(Chain(Variance(Z), "=", SumOver(Variance(sp.Mul(Indexed(W, I), Indexed(A, I), evaluate=False)), I, 1, N),
                 "=", sp.Mul(N, Variance(W), Expectation(A ** 2), evaluate=False)))
    s.say(Sentence("It is the second moment E[a²] that appears, not Var[a]: the two differ "
                   "whenever the activations do not have mean 0"
                   + (f", as {act}'s do not ({{0}})." if lm.mean != 0 else "."),
                   ((Chain(Expectation(applied) if lm.exact else spec.function(sp.S.Zero, evaluate=False),
                           "=", lm.mean),) if lm.mean != 0 else ())))
    sections.append(s)

    s = Section(f"Step 2: what {act} does to the second moment")
    if lm.exact:
        s.say(Sentence("Let {0}, v the variance (symmetric, mean 0). Integrating over the normal "
                       "density:", (Chain(Z, "~", Normal(0, V)),)))
        for line in lm.lines:
            s.show(line)
        s.say(Sentence("So a fixed fraction of the second moment survives the activation: {0}.",
                       (Chain(Expectation(A ** 2), "=", Product((lm.gain, Variance(Z)))),)))
    else:
        s.say(Sentence(f"Let {{0}}, v the variance. {act} has no closed-form moments under a normal "
                       f"density, but at the start of training the weights are small, so z stays "
                       f"near 0, where {act} is close to its tangent line:", (Chain(Z, "~", Normal(0, V)),)))
        for line in lm.lines:
            s.show(line)
        if lm.centred:
            s.say(Sentence("so {0} near 0.", (Chain(Expectation(A ** 2), "≈", Product((lm.gain, Variance(Z)))),)))
        else:
            s.say(Sentence(f"The constant {{0}} is the square of {act}'s mean at 0: no weight scale "
                           f"removes it, so the forward pass cannot fix the scale. The backward pass "
                           f"does, below.", (lm.mean ** 2,)))
    sections.append(s)

    forward = None
    if lm.gain is not None:
        s = Section("Step 3: keep the variance constant from layer to layer")
        s.say(Sentence(f"Combining the two steps for {act} layers:"))
        s.show(Chain(Variance(Layered(Z, L)), "=" if lm.exact else "≈",
                     sp.Mul(lm.gain, N, Variance(W), Variance(Layered(Z, L - 1)), evaluate=False)))
        forward = sp.solve(sp.Eq(lm.gain * n_in * r["Var_w"], 1), r["Var_w"])[0]
        s.say(Sentence("Over L layers the factor is raised to the power L: it must equal 1. Solving "
                       "{0} for Var[w]:",
                       (Chain(sp.Mul(lm.gain, sp.Symbol("n_in"), Variance(W), evaluate=False), "=", sp.S.One),)))
        s.show(Chain(Variance(W), "=", forward))
        named = [SCHEME_NAMES[k] for k in ("he", "leaky_he", "lecun") if sp.simplify(r[k] - forward) == 0]
        s.say(Sentence("That is " + (f"{named[0]} initialisation: " if named else "")
                       + "weights drawn from a normal distribution with variance {0}, i.e. standard "
                       "deviation {1}. Beware the notation: {2} is right only when the second "
                       "argument is read as the standard deviation; written as N(mean, variance), "
                       "as here, the same distribution is {3}.",
                       (Chain(Variance(W), "=", forward), Chain(StdDev(W), "=", _root(forward)),
                        Normal(0, _root(forward)), Normal(0, forward))))
        sections.append(s)

    s = Section("The backward pass")
    backward = sp.solve(sp.Eq(lm.slope_gain * n_out * r["Var_w"], 1), r["Var_w"])[0]
    balanced = sp.solve(sp.Eq(lm.slope_gain * (n_in + n_out) / 2 * r["Var_w"], 1), r["Var_w"])[0]
    s.say(Sentence("A gradient flows back through the same weights and through f': each "
                   "∂L/∂a of the layer below sums over the {1} units it feeds, "
                   + ("and {0}, so" if lm.exact else "and near 0 {0}, so"),
                   (Chain(Expectation(sp.Function("f'")(Z) ** 2), "=" if lm.exact else "≈", lm.slope_gain),
                    n_out)))
    s.show(Chain(Variance(TotalOf(LOSS_SYMBOL, Layered(A, L - 1))), "=" if lm.exact else "≈",
                 sp.Mul(lm.slope_gain, sp.Symbol("n_out"), Variance(W), Variance(TotalOf(LOSS_SYMBOL, Layered(A, L))),
                        evaluate=False)))
    s.say(Sentence("Keeping the gradients' variance constant needs {0}. Glorot and Bengio balance "
                   "the forward and backward conditions with the mean of the two fan sizes:",
                   (Chain(Variance(W), "=", backward),)))
    s.show(Chain(Variance(W), "=", balanced))
    if sp.simplify(balanced - r["xavier"]) != 0:
        factor = sp.simplify(balanced / r["xavier"])
        s.say(Sentence("Glorot's own rule {0} assumes f'(0) = 1, as for tanh; for " + act
                       + " layers the balance is {1} times larger (the uniform bound below {2} times).",
                       (Chain(Indexed(Variance(W), sp.Symbol("Glorot")), "=", r["xavier"]), factor,
                        sp.sqrt(factor))))
    bound = _root(sp.simplify(3 * balanced))
    s.say(Sentence("For a uniform distribution U(−r, r) the variance is {0}; setting it equal to "
                   "this variance gives the bound {1}.",
                   (r["uniform_variance"], Chain(sp.Symbol("r"), "=", bound))))
    sections.append(s)

    s = Section("Summary: variances by scheme")
    rows = [
        ["He (Kaiming), normal", "ReLU", r["he"], _root(r["he"])],
        ["He, fan-out (backward pass)", "ReLU", r["he_fan_out"], _root(r["he_fan_out"])],
        ["He for leaky ReLU (slope α)", "LeakyReLU", r["leaky_he"], _root(r["leaky_he"])],
        ["LeCun, normal", "tanh (linear regime), SELU", r["lecun"], _root(r["lecun"])],
        ["Glorot (Xavier), normal", "tanh, sigmoid", r["xavier"], _root(r["xavier"])],
        ["Glorot (Xavier), uniform U(−r, r)", "tanh, sigmoid", r["xavier"],
         Sentence("bound {0}", (Chain(sp.Symbol("r"), "=", _root(6 / (r["n_in"] + r["n_out"]))),))],
    ]
    s.tabulate(["scheme", "for", "variance Var[w]", "standard deviation"], rows)
    s.say(Sentence("Glorot's variance is {0}, not {1}: the mean of the two fan sizes is {2}.",
                   (r["xavier"], 1 / (n_in + n_out), sp.Mul(n_in + n_out, sp.Pow(2, -1, evaluate=False), evaluate=False))))
    chosen = {"he": r["he"], "lecun": r["lecun"], "xavier": r["xavier"], "xavier_uniform": r["xavier_uniform_bound"],
              "leaky_he": r["leaky_he"], "he_fan_out": r["he_fan_out"]}[scheme]
    is_bound = scheme == "xavier_uniform"
    advice = ("" if recommended == scheme else
              f" (for {activation} the usual choice is {SCHEME_NAMES[recommended]})")
    derived = balanced if scheme.startswith("xavier") or forward is None else forward
    differs = not is_bound and sp.simplify(chosen - derived) != 0
    s.say(Sentence(f"For {activation} with the {SCHEME_NAMES[scheme]} scheme: {'bound ' if is_bound else ''}"
                   f"{{0}}{advice}" + (f"; the argument above for {act} layers gives {{1}}." if differs else "."),
                   (Chain(sp.Symbol("r") if is_bound else Variance(W), "=", chosen),
                    *((Chain(Variance(W), "=", derived),) if differs else ()))))
    if scheme == "he":
        s.lecturer_note(Sentence("PyTorch's torch.nn.init.kaiming_normal_(w, nonlinearity='relu') "
                                 "draws exactly this: standard deviation gain/√fan_in with gain √2."))
    s.lecturer_note(Sentence("The tutoring conversation this handout follows wrote He's rule as "
                             "N(0, √(2/n)) and Glorot's as N(0, 1/(n_in + n_out)); the notation "
                             "remark and the summary's correction answer those."))
    s.lecturer_note(Sentence("The integrals and the solved conditions are computed symbolically "
                             "(SymPy's sympy.stats and solve), not looked up."))
    sections.append(s)
    results = dict(r)
    results.update(second_moments())
    results.update({"forward": forward, "backward": backward, "balanced": balanced})
    short = SCHEME_NAMES[scheme].split(",")[0]
    return Handout(Content(f"Why {short} initialisation: the variance of {activation} layers, derived", sections),
                   results)


# --- Monte Carlo ------------------------------------------------------------------------------


@dataclass
class Simulation:
    """Per scheme, per layer (layer 1 first): the forward second moment E[a²] and the norm of the
    backward gradient ∂L/∂a; from ``simulate_variance``.

    >>> sim = simulate_variance(depth=3, width=64, schemes=("he",), batch=64)
    >>> sim.depth, list(sim.variances), len(sim.gradients["he"])
    (3, ['he'], 3)
    """

    depth: int
    width: int
    activation: str
    batch: int
    seed: int
    variances: dict
    gradients: dict

    def table(self, layers=None) -> list[list]:
        """A header row and one row per scheme: E[a²] at the chosen ``layers`` (default: a few
        from the first to the last).

        >>> sim = simulate_variance(depth=3, width=64, schemes=("he", "small"), batch=64)
        >>> sim.table()[0], [row[0] for row in sim.table()[1:]]
        (['scheme', 'layer 1', 'layer 2', 'layer 3'], ['he', 'small'])
        """
        layers = layers or sorted({1, 2, 5, 10, 25, self.depth // 2, self.depth} & set(range(1, self.depth + 1)))
        rows = []
        for scheme in self.variances:
            rows.append([scheme, *[self.variances[scheme][l - 1] for l in layers]])
        return [["scheme", *[f"layer {l}" for l in layers]], *rows]

    def ratio(self, scheme: str) -> float:
        """Second moment at the last layer over layer 1 (about 1 for a scheme that suits the
        activation, far below 1 when the signal vanishes).

        >>> sim = simulate_variance(depth=3, width=64, schemes=("he", "small"), batch=64)
        >>> sim.ratio("small") < 0.01 < sim.ratio("he")
        True
        """
        v = self.variances[scheme]
        return v[-1] / v[0]

    def plot(self, path) -> str:
        """Two panels, log y: forward E[a²] and backward ‖∂L/∂a‖ per layer, one line per scheme.
        The format follows the extension (.png, .pdf, .svg). Returns the path.

        >>> import tempfile, pathlib
        >>> sim = simulate_variance(depth=3, width=16, schemes=("he",), batch=16)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     pathlib.Path(sim.plot(pathlib.Path(folder) / "variance.svg")).suffix
        '.svg'
        """
        # A Figure on the Agg canvas: no pyplot, so the caller's backend and figures are untouched.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from pathlib import Path
        path = Path(path)
        fig = Figure(figsize=(10, 4), layout="constrained")
        FigureCanvasAgg(fig)
        left, right = fig.subplots(1, 2)
        layers = list(range(1, self.depth + 1))
        for scheme in self.variances:
            label = f"{scheme}: {SIM_SCHEMES.get(scheme, scheme)}"
            left.plot(layers, self.variances[scheme], label=label, linewidth=1.8)
            right.plot(layers, self.gradients[scheme], label=label, linewidth=1.8)
        for ax, title in ((left, "forward: second moment E[a²] per layer"),
                          (right, "backward: gradient norm ‖∂L/∂a‖ per layer")):
            ax.set_yscale("log")
            ax.set_xlabel("layer")
            ax.set_title(title, fontsize=10)
            ax.grid(True, which="major", alpha=0.3)
        # below both panels: inside one, the legend hid the steepest curve
        fig.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncol=2,
                   fontsize=8, frameon=False)
        fig.suptitle(f"{self.depth}-layer {self.activation} network, width {self.width}, batch "
                     f"{self.batch}, seed {self.seed}", fontsize=11)
        from ..io.files import save_figure
        return save_figure(fig, path)


def _std(scheme: str, n_in: int, n_out: int) -> float:
    import math
    return {"normal": 1.0, "small": 0.01, "xavier": math.sqrt(2 / (n_in + n_out)),
            "he": math.sqrt(2 / n_in), "lecun": math.sqrt(1 / n_in)}[scheme]


def simulate_variance(depth: int = 50, width: int = 256, activation: str = "relu",
                      schemes=("normal", "small", "xavier", "he"), seed: int = 0,
                      batch: int = 1024) -> Simulation:
    """Push a batch of N(0, 1) inputs through ``depth`` fully connected layers initialised by each
    scheme; record the forward second moment and backpropagate a N(0, 1) output gradient.

    Homogeneous activations (ReLU, leaky ReLU, identity) are renormalised every layer and the scale
    carried in log space, so even std-1 weights over 100 layers (factor ~10²⁰⁰) do not overflow.

    >>> sim = simulate_variance(depth=3, width=64, schemes=("he", "small"), batch=64)
    >>> len(sim.variances["he"]), sim.variances["small"][-1] < 0.01 < sim.variances["he"][-1]
    (3, True)
    """
    import numpy as np
    spec = _activation(activation)
    for s in schemes:
        if s not in SIM_SCHEMES:
            raise DeriveError(f"unknown scheme {s!r}; choose from {', '.join(SIM_SCHEMES)}")
    if depth < 1 or width < 1 or batch < 1:
        raise DeriveError("depth, width and batch must be at least 1")
    homogeneous = spec.homogeneous
    f, df = _activation_numpy(spec)
    variances, gradients = {}, {}
    import zlib
    for scheme in schemes:
        # One stream per (seed, scheme name): a scheme's numbers do not depend on the others listed.
        rng = np.random.default_rng([seed, zlib.crc32(scheme.encode())])
        x = rng.standard_normal((batch, width)).astype(np.float32)
        std = _std(scheme, width, width)
        weights = [(rng.standard_normal((width, width)) * std).astype(np.float32) for _ in range(depth)]
        a, log_scale = x, 0.0
        moments, cache = [], []
        for W in weights:
            z = a @ W
            a = f(z)
            m = float(np.mean(np.square(a, dtype=np.float64)))
            moments.append(np.log(m) + 2 * log_scale if m > 0 else -np.inf)
            cache.append((z, log_scale))
            if homogeneous and m > 0:
                factor = np.sqrt(m)
                a = a / np.float32(factor)
                log_scale += float(np.log(factor))
        g = rng.standard_normal((batch, width)).astype(np.float32)
        g_log = 0.0
        norms = [0.0] * depth
        for layer in range(depth - 1, -1, -1):
            z, _ = cache[layer]
            norm = float(np.sqrt(np.mean(np.sum(np.square(g, dtype=np.float64), axis=1))))
            norms[layer] = np.log(norm) + g_log if norm > 0 else -np.inf
            if homogeneous and norm > 0:
                g = g / np.float32(norm)
                g_log += float(np.log(norm))
            g = (g * df(z)) @ weights[layer].T
        variances[scheme] = [float(np.exp(v)) for v in moments]
        gradients[scheme] = [float(np.exp(v)) for v in norms]
    return Simulation(depth, width, activation, batch, seed, variances, gradients)


def _activation_numpy(spec):
    """The activation and its derivative on numpy arrays, from the registry (its ``numpy`` fact
    and its SymPy derivative), in the arrays' own dtype."""
    from ..core.functions import derivative_rule, numpy_function
    z = sp.Symbol("z", real=True)
    args = [z, *spec.defaults]
    forward = numpy_function(spec.function(*args), z)
    backward = numpy_function(derivative_rule(spec, z), z)
    import numpy as np

    def f(x):
        return np.asarray(forward(x), dtype=x.dtype)

    def df(x):
        return np.asarray(backward(x), dtype=x.dtype)
    return f, df


def _activation(name: str):
    from ..core.functions import activation
    return activation(name)


def _with_init(name: str):
    """The activation called ``name``, which must name a recommended initialisation scheme."""
    spec = _activation(name)
    if spec.init is None:
        from ..core.functions import ACTIVATIONS
        known = ", ".join(n for n, a in ACTIVATIONS.items() if a.init)
        raise DeriveError(f"the registry names no initialisation scheme for {name!r}; "
                          f"variance_derivation covers: {known}")
    return spec


def simulation_section(sim: Simulation, plot_name: str | None = None) -> Section:
    from ..core.numbers import plural
    s = Section(f"Simulation: {plural(sim.depth, 'layer')} of width {sim.width}")
    s.say(Sentence(f"A batch of {sim.batch} random inputs through {sim.depth} {sim.activation} "
                   f"layers of width {sim.width}, weights drawn by each scheme (seed {sim.seed}). "
                   "The second moment E[a²] per layer:"))
    table = sim.table()
    s.tabulate(table[0], [[row[0], *[Value(_to_rational(x)) for x in row[1:]]] for row in table[1:]])
    for scheme in sim.variances:
        ratio = sim.ratio(scheme)
        # A random walk drifts a little even when the scale is right; an order of magnitude is the
        # line between drift and the exponential trend of a wrong scale.
        verdict = ("stays within an order of magnitude (stable)" if 0.1 <= ratio <= 10
                   else ("explodes" if ratio > 10 else "vanishes"))
        s.say(Sentence(f"{scheme} ({SIM_SCHEMES[scheme]}): layer {sim.depth} / layer 1 = {{0}} — it {verdict}.",
                       (Value(_to_rational(ratio)),)))
    if plot_name:
        s.figure(plot_name)
    return s


def _to_rational(x: float):
    import math
    if not math.isfinite(x):
        return sp.oo
    return sp.Float(x, 17)


def _root(expr):
    """√(2/n) as written by hand (SymPy would rewrite it as √2·n^(−1/2))."""
    return sp.Pow(expr, sp.S.Half, evaluate=False)
