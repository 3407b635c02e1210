"""The function registry: every function the equation language knows, one entry each.

An entry carries the SymPy definition (a ``sympy.Function`` subclass whose ``fdiff`` *is* the
derivative rule, next to the definition as in micrograd), its LaTeX and Unicode names, its
convention at kinks, the sentence that justifies a local derivative, and the PyTorch spelling used by
the exporter and the cross-checking tests. Adding a function is one entry in ``FUNCTIONS``.

Conventions at kinks and ties agree with PyTorch, so a document's justification and the exported
script give the same number: ReLU'(0) = 0, leaky ReLU'(0) = α, ELU'(0) = α, |x|'(0) = 0, and max/min
at a tie of k arguments give each tied argument 1/k of the gradient (torch.amax, torch.maximum).
Each convention is one fact of its entry (``FunctionSpec.convention``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from collections.abc import Mapping
from typing import Callable

import mpmath
import sympy as sp
from sympy import S

from .errors import ParseError
from .exact import exp as _exp
from .operations import (AbsoluteError, BinaryCrossEntropy, HalfSquaredError, Hinge, Huber,
                         Indicator, LogSumExp, Maximum, MeanSquaredError, Minimum, NormalCdf,
                         NormalPdf, PoolMax, SquaredError, Where)


def _positive(x):
    """True/False when the sign of the real number ``x`` is decidable, None for symbols."""
    if not x.is_number:
        return None
    return x.is_extended_positive


class Relu(sp.Function):
    """max(0, z)."""

    numeric = staticmethod(lambda z: z if z > 0 else z * 0)
    nargs = 1

    @classmethod
    def eval(cls, z):
        p = _positive(z)
        if p is True:
            return z
        if p is False:
            return S.Zero
        return None

    def fdiff(self, argindex=1):
        return Indicator(sp.StrictGreaterThan(self.args[0], 0))

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real


class LeakyRelu(sp.Function):
    """z for z > 0, αz otherwise."""

    numeric = staticmethod(lambda z, alpha: z if z > 0 else alpha * z)
    nargs = 2

    @classmethod
    def eval(cls, z, alpha):
        p = _positive(z)
        if p is True:
            return z
        if p is False:
            return alpha * z
        return None

    def fdiff(self, argindex=1):
        z, alpha = self.args
        if argindex == 1:
            # unevaluated: the active branch first, as the rule reads (1 if z > 0, else α)
            return sp.Add(Indicator(sp.StrictGreaterThan(z, 0)), alpha * Indicator(sp.LessThan(z, 0)),
                          evaluate=False)
        return z * Indicator(sp.LessThan(z, 0))


class Sigmoid(sp.Function):
    """σ(z) = 1/(1 + e^(−z)); a number argument evaluates to that exact form."""

    numeric = staticmethod(lambda z: 1 / (1 + mpmath.exp(-z)))
    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_number:
            return 1 / (1 + _exp(-z))
        return None

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0]) * (1 - Sigmoid(self.args[0]))

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real


class Softplus(sp.Function):
    """log(1 + e^z)."""

    numeric = staticmethod(lambda z: mpmath.log1p(mpmath.exp(z)))
    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_number:
            return sp.log(1 + _exp(z))
        return None

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])


class Elu(sp.Function):
    """z for z > 0, α(e^z − 1) otherwise."""

    numeric = staticmethod(lambda z, alpha: z if z > 0 else alpha * mpmath.expm1(z))
    nargs = 2

    @classmethod
    def eval(cls, z, alpha):
        p = _positive(z)
        if p is True:
            return z
        if p is False:
            return alpha * (_exp(z) - 1)
        return None

    def fdiff(self, argindex=1):
        z, alpha = self.args
        if argindex == 1:
            return Indicator(sp.StrictGreaterThan(z, 0)) + alpha * sp.exp(z) * Indicator(sp.LessThan(z, 0))
        return (sp.exp(z) - 1) * Indicator(sp.LessThan(z, 0))


class Gelu(sp.Function):
    """z·Φ(z) = z(1 + erf(z/√2))/2 (the exact, erf form)."""

    numeric = staticmethod(lambda z: z * (1 + mpmath.erf(z / mpmath.sqrt(2))) / 2)
    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_number:
            return z * (1 + sp.erf(z / sp.sqrt(2))) / 2
        return None

    def fdiff(self, argindex=1):
        z = self.args[0]  # Φ(z) + z·φ(z), as a textbook writes it (SymPy would expand erf and exp)
        return sp.Add(NormalCdf(z), sp.Mul(z, NormalPdf(z)), evaluate=False)


class Silu(sp.Function):
    """z·σ(z) (also called swish)."""

    numeric = staticmethod(lambda z: z / (1 + mpmath.exp(-z)))
    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_number:
            return z / (1 + _exp(-z))
        return None

    def fdiff(self, argindex=1):
        z = self.args[0]
        return Sigmoid(z) * (1 + z * (1 - Sigmoid(z)))


class IdentityActivation(sp.Function):
    """z itself (a linear output unit)."""

    numeric = staticmethod(lambda z: z)
    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_number:
            return z
        return None

    def fdiff(self, argindex=1):
        return S.One


# --- justification sentences -------------------------------------------------------------------
# A sentence is a format string whose {fields} are math objects (see ``derive.core.derivation.Math``);
# each output format prints the math with its own printer. Built here, next to each function.


@dataclass(frozen=True)
class Sentence:
    """Text with math holes: ``Sentence("since {0}, ReLU is active", (chain,))``."""

    template: str
    math: tuple = ()


def _relu_like(name: str, slope_neg, slope_at_kink: str | None = None):
    """``slope_neg``: the negative side's slope, as text ("0", "α") or as a function of the
    argument giving math (ELU's α·e^z), so every format typesets it rather than printing "^"."""
    at_zero = slope_at_kink or slope_neg

    def justify(arg, value, at_kink: bool):
        from .derivation import Chain, Value
        slope, holes = (slope_neg, ()) if isinstance(slope_neg, str) else ("{1}", (slope_neg(arg),))
        if value is None:  # symbolic derivation: state the rule
            return Sentence(f"{name}' is 1 where the unit is active ({{0}}) and "
                            f"{slope} elsewhere", (sp.StrictGreaterThan(arg, 0),) + holes)
        if at_kink:
            # the convention itself is stated once, with the activation's definition
            return Sentence(f"{{0}} is exactly {name}'s kink, where we take {name}'(0) = {at_zero}",
                            (Chain(arg, "=", Value(S.Zero)),))
        if value.is_extended_positive:
            return Sentence(f"since {{0}}, the unit is active and {name}' = 1",
                            (Chain(arg, "=", Value(value), ">", Value(S.Zero)),))
        if value == 0:  # not a kink for these parameters (ELU with α = 1): the pieces meet smoothly
            return Sentence(f"at {{0}} the two pieces of {name} meet with the same slope, so "
                            f"{name}' is defined there", (Chain(arg, "=", Value(S.Zero)),))
        below = (Chain(arg, "=", Value(value), "<", Value(S.Zero)),)
        if slope_neg == "0":
            return Sentence("since {0}, the unit is inactive and passes no gradient", below)
        # a slope on the negative side still passes the gradient on: not "inactive"
        return Sentence(f"since {{0}}, {name} is on its negative side, where {name}' = {slope}",
                        below + holes)
    return justify


def _smooth(name: str):
    """Justify by the function's derivative rule, f'(z) = … as its entry states it (printed by each
    format's printer). The entry is looked up when a derivation asks, so it is built by then."""
    def justify(arg, value, at_kink: bool):
        return Sentence("by the derivative rule {0}", (FUNCTIONS[name].quoted_rule,))
    return justify


def _abs_justify(arg, value, at_kink: bool):
    from .derivation import Chain, Value
    if value is None:
        return Sentence("the derivative of |x| is sign(x) (0 at x = 0 by convention)")
    if at_kink:
        return Sentence("{0} is the kink of |x|; by convention |x|'(0) = 0",
                        (Chain(arg, "=", Value(S.Zero)),))
    return Sentence("the derivative of |x| is sign(x), here {0}",
                    (Chain(sp.sign(arg), "=", Value(sp.sign(value))),))


TIE_CONVENTION = ("tied arguments share the gradient equally (as torch.amax and torch.maximum do; "
                  "PyTorch's max pooling routes it all to one of them instead)")


POOL_CONVENTION = ("the first of the tied arguments gets the whole gradient (as PyTorch's max "
                   "pooling, which routes it to one index)")
MIN_TIE_CONVENTION = "tied arguments share the gradient equally (as torch.amin and torch.minimum do)"


def _extreme_justify(word: str, convention: str, shared: bool = True):
    """max and min: the gradient goes to the extreme argument; a tie is shared (one fact)."""
    extreme = "largest" if word == "maximum" else "smallest"

    def justify(app, argvals, wrt):
        from .derivation import Chain, Value
        if argvals is None:
            return Sentence(f"the gradient flows only into the {extreme} argument; by convention "
                            f"{convention}")
        mine = next(i for i, a in enumerate(app.args) if a.has(wrt))
        top = app.func(*argvals)
        tied = [i for i, v in enumerate(argvals) if v == top]
        here = Chain(app.args[mine], "=", Value(argvals[mine]))
        if mine not in tied:
            relation = "<" if word == "maximum" else ">"
            return Sentence(f"since {{0}}, this argument is not the {word} and gets no gradient",
                            (Chain(app.args[mine], "=", Value(argvals[mine]), relation, Value(top)),))
        if len(tied) == 1:
            return Sentence(f"since {{0}} is the {extreme} argument, all of the gradient flows "
                            f"into it", (here,))
        share = (f"each gets 1/{len(tied)}" if shared else
                 "this one gets all of it" if mine == tied[0] else "this one gets none")
        return Sentence(f"{len(tied)} arguments tie for the {word} {{0}}; by convention "
                        f"{convention}, so {share}", (Value(top),))
    return justify


def _where_justify(condition, holds, at_kink: bool):
    if holds is None:
        return Sentence("where(c, a, b) passes the gradient to a where c holds and to b elsewhere; "
                        "the condition itself gets none (as torch.where)")
    branch = "first" if holds is sp.true or holds == 1 else "second"
    verdict = "holds" if branch == "first" else "does not hold"
    return Sentence(f"the condition {{0}} {verdict}, so the gradient flows only into the {branch} "
                    f"branch (as torch.where)", (condition,))


def _loss_justify(name: str, convention: str):
    def justify(arg, value, at_kink: bool):
        if at_kink:
            return Sentence(f"this is the loss's kink: by convention {convention}")
        return Sentence("by the loss's derivative {0}", (FUNCTIONS[name].quoted_rule,))
    return justify


@dataclass(frozen=True)
class FunctionSpec:
    """One registry entry: every fact about a function that the engine, the teaching layer, the
    printers, the simulations and the exporters need. Nothing outside the registry is keyed by a
    function's name; code asks the entry (``spec.gates``, ``spec.saturation_bound`` …).

    >>> FUNCTIONS["sigmoid"].saturation_bound, FUNCTIONS["relu"].gates
    (1/4, True)
    """

    name: str
    function: Callable  # builds the SymPy expression from SymPy arguments
    cls: type  # the SymPy class, for printers and the numeric checkers
    arity: int  # number of arguments written
    kind: str  # "activation" or "math"
    latex: str  # name in LaTeX, e.g. r"\operatorname{ReLU}"
    unicode: str  # name in plain text, e.g. "ReLU"
    torch: str | None  # PyTorch expression, {0} {1} the arguments; None: spelled from ``expand``
    defaults: tuple = ()  # values of trailing optional arguments (alpha)
    kink: Callable | None = None  # args -> True when exactly at a kink
    kinks: tuple = ()  # the points of the first argument where f' jumps (ReLU: (0,)); the value
    # derive uses there is its rule's value at the point (``kink_slopes``)
    justify: Callable = field(default=None)
    description: str = ""
    # -- its formulas, as math (printed by each format's printer; never written as LaTeX/text) --
    variables: tuple = ()  # names of its arguments in its formulas; default z (x for math) and
    # the parameters (α -> alpha), e.g. ("a", "y") for a loss
    forms: Callable | None = None  # (*arguments) -> the definition's written forms, each equal to
    # f(arguments), e.g. max(0, z) and the cases; None: a user entry's formula, a loss's own
    derivative_forms: Callable | None = None  # (*arguments) -> f'(z) as written, when the rule from
    # ``fdiff`` reads worse (σ(z)(1 + z(1 − σ(z))), not σ(z)(z(1 − σ(z)) + 1))
    wrt: int = 0  # the argument a loss's derivative is stated for (hinge(y, s): s)
    # -- teaching facts --
    convention: str = ""  # the convention at its kink, e.g. "ReLU'(0) = 0" (empty: smooth)
    gates: bool = False  # a gate like ReLU: slope 1 where z > 0, ``inactive_slope`` elsewhere
    inactive_slope: str = "0"  # a gate's slope where it is inactive ("0", "α")
    saturation_bound: sp.Expr | None = None  # sup |f'| of a saturating function (σ' ≤ 1/4)
    init: str | None = None  # recommended initialisation scheme (initialization.variance)
    homogeneous: bool = False  # f(cz) = c·f(z) for c > 0: a simulation may renormalise each layer
    numpy: Callable | None = None  # forward on numpy arrays (simulations); None: from ``expand``
    expand: Callable | None = None  # args -> its definition in other registry functions (user entries)
    formula: str = ""  # the formula a user registered it with
    variadic: bool = False  # takes ``arity`` or more arguments (max, min, logsumexp)
    conditions: tuple = ()  # 0-based positions of arguments that are comparisons (where)
    parameters: tuple = ()  # names of the optional arguments after z, as printed ("α",)
    justify_call: Callable | None = None  # (application, argument values, wrt) -> Sentence,
    # for functions whose justification needs every argument (max, min: which one wins)
    over_entries: str = ""  # a loss over whole tensors, in the equation language with {0} {1}
    # its arguments: what to write when a matrix target is given to the one-output loss
    slips: tuple = ()  # common hand slips in f'(z), for diagnosing answers: pairs (what went
    # wrong, the wrong f'(z) in the equation language over z), e.g. ("the square was forgotten",
    # "1 - tanh(z)")

    # The printable formulas are built once per entry (documents ask for them on every render);
    # an entry registered later builds its own on first use.

    @cached_property
    def arguments(self) -> tuple:
        """The symbols its formulas are written in: (z,), (z, α), (a, y), (x,).

        >>> FUNCTIONS["leaky_relu"].arguments, FUNCTIONS["hinge"].arguments
        ((z, alpha), (y, s))
        """
        names = self.variables
        if not names:
            first = ("z",) if self.kind == "activation" else ("x",) if self.arity == 1 else tuple(
                "abcdefgh"[:self.arity])
            names = first + tuple(_symbol_name(p) for p in self.parameters)
        return tuple(sp.Symbol(n, real=True) for n in names)

    @cached_property
    def definition(self):
        """f(z) = … as printable math: the entry's written forms, a user entry's formula, a
        loss's own definition.

        >>> from derive.rendering.printing import printer_for
        >>> printer_for("text").doprint(FUNCTIONS["relu"].definition)
        'ReLU(z) = max(0, z) = z if z > 0, else 0'
        """
        from .derivation import Chain
        args = self.arguments
        if self.forms is not None:
            forms = self.forms(*args)
        elif self.expand is not None:
            forms = (_written(self.expand(*args)),)
        else:
            forms = (_written(self.cls.formula(*args)),) if hasattr(self.cls, "formula") else ()
        items = [self.function(*args)]
        for form in forms:
            items += ["=", form]
        return Chain(*items)

    @cached_property
    def derivative_cases(self):
        """f'(z) = … as printable math, a gate's rule also as cases, without the kink convention:
        for a page whose next sentence states the convention (stated once per page).

        >>> from derive.rendering.printing import printer_for
        >>> printer_for("text").doprint(FUNCTIONS["relu"].derivative_cases)
        "ReLU'(z) = 𝟙[z > 0] = 1 if z > 0, else 0"
        """
        from .derivation import Chain
        rule = self.rule.items
        items = list(rule)
        cases = _as_cases(rule[-1])
        if cases is not None:  # 𝟙[z > 0] = cases; a sum of gated terms reads better as cases alone
            items = items[:-1] + ([] if _indicators(rule[-1]) > 1 else [rule[-1], "="]) + [cases]
        return Chain(*items)

    @cached_property
    def derivative(self):
        """f'(z) = … as printable math, from the SymPy class's ``fdiff``; a gate's rule also as
        cases, with its kink convention.

        >>> from derive.rendering.printing import printer_for
        >>> printer_for("text").doprint(FUNCTIONS["tanh"].derivative)
        "tanh'(z) = 1 − tanh²(z)"
        """
        from .derivation import Chain, Prime, Remark
        if self.kind != "activation" or not self.kinks:
            return self.derivative_cases
        # the value the rule gives at each kink, stated as the convention it is (ReLU'(0) = 0)
        values = tuple(Chain(Prime(self.name, _shown(k)), "=", _shown(v))
                       for k, v in kink_slopes(self) if v is not None)
        if not values:  # unbounded at every kink: no convention to state
            return self.derivative_cases
        holes = ", ".join(f"{{{i}}}" for i in range(len(values)))
        return Chain(*self.derivative_cases.items, Remark(holes + " by convention", values))

    @cached_property
    def quoted_rule(self):
        """``rule`` as a sentence quotes it: cases on one line.

        >>> from derive.rendering.printing import printer_for
        >>> print(printer_for("text").doprint(FUNCTIONS["huber"].quoted_rule))
        ∂Huber(r, δ)/∂r = r if |r| ≤ δ, else δ · sign(r)
        """
        from .derivation import Chain
        from .notation import OneLine
        return Chain(*[item.replace(sp.Piecewise, lambda *rows: OneLine(sp.Piecewise(*rows, evaluate=False)))
                       if isinstance(item, sp.Basic) else item for item in self.rule.items])

    @cached_property
    def rule(self):
        """The derivative rule in one line, the way a justification quotes it: σ'(z) = σ(z)(1 − σ(z)),
        ∂SE(a, y)/∂a = 2(a − y), d/dx eˣ = eˣ.

        >>> from derive.rendering.printing import printer_for
        >>> printer_for("text").doprint(FUNCTIONS["log"].rule)
        'd/dx log(x) = 1/x'
        """
        from .derivation import Chain, Prime
        from .notation import PartialOf
        args = self.arguments
        wrt = args[self.wrt]
        if self.derivative_forms is not None:
            body = self.derivative_forms(*args)
        else:
            body = _written(sp.diff(self.function(*args), wrt))
            if self.kind == "loss":  # 2(a − y), not −2y + 2a
                body = sp.factor_terms(body)
        if self.kind == "activation":
            return Chain(Prime(self.name, wrt), "=", body)
        if self.kind == "loss":
            return Chain(PartialOf(self.function(*args), wrt), "=", body)
        return Chain(sp.Derivative(self.function(*args), wrt), "=", body)

    @property
    def min_arity(self) -> int:
        return self.arity - len(self.defaults)


def _symbol_name(printed: str) -> str:
    """A parameter's symbol name from its printed letter: α -> alpha (so every printer shows it
    as its own Greek letter, \\alpha in LaTeX)."""
    import unicodedata
    try:
        words = unicodedata.name(printed).split()
    except (TypeError, ValueError):
        return printed
    return words[-1].lower() if words[:2] == ["GREEK", "SMALL"] else printed


def _written(expr):
    """A formula for display: ``where(c, a, b)`` as cases."""
    return expr.replace(Where, lambda c, a, b: sp.Piecewise((a, c), (b, True))) if expr.has(Where) else expr


def _indicators(expr) -> int:
    return len(expr.atoms(Indicator))


def _as_cases(rule):
    """A rule written with indicators (𝟙[z > 0] + α·𝟙[z ≤ 0]) as cases, the condition that holds
    for positive inputs first; None when it has no indicator or is not a sum of gated terms."""
    if isinstance(rule, sp.Piecewise):
        return None
    if not rule.has(Indicator):
        return None
    rows = []
    for term in sp.Add.make_args(rule):
        gates = [f for f in sp.Mul.make_args(term) if isinstance(f, Indicator)]
        if len(gates) != 1 or not isinstance(gates[0].args[0], sp.core.relational.Relational):
            return None
        rest = sp.Mul(*[f for f in sp.Mul.make_args(term) if f is not gates[0]])
        rows.append((rest, gates[0].args[0]))
    rows.sort(key=lambda row: 0 if row[1].rel_op in (">", ">=") else 1)
    if len(rows) == 1:
        rows.append((S.Zero, True))
    elif len(rows) == 2 and rows[1][1] == sp.Not(rows[0][1]):
        rows[1] = (rows[1][0], True)
    else:
        return None
    return sp.Piecewise(*rows)


def derivative_rule(spec: FunctionSpec, z: sp.Symbol) -> sp.Expr:
    """f'(z) of a one-argument entry, from its SymPy definition (its ``fdiff``)."""
    args = [z, *spec.defaults]
    return sp.diff(spec.function(*args), z)


def kink_slopes(spec: FunctionSpec) -> tuple:
    """(point, f'(point)) for each of ``spec.kinks``: the value derive (and PyTorch) uses where the
    derivative is not defined; trailing parameters stay symbols (LeakyReLU'(0) = α).

    >>> kink_slopes(FUNCTIONS["relu"]), kink_slopes(FUNCTIONS["leaky_relu"])
    (((0, 0),), ((0, alpha),))
    """
    known = _KINK_SLOPES.get(id(spec))
    if known is not None and known[0] is spec:  # the same entry (a replaced one has another id)
        return known[1]
    z, *params = spec.arguments[:1 + len(spec.parameters)]  # z and its parameters (α) as symbols
    rule = sp.diff(spec.function(z, *params, *spec.defaults[len(params):spec.arity - 1]), z)
    slopes = tuple((k, _bounded(rule.xreplace({z: k}))) for k in spec.kinks)
    _KINK_SLOPES[id(spec)] = (spec, slopes)  # every document with the function states them
    return slopes


def _shown(x):
    """A number as documents print numbers (0.5 in every format, not ½ in one and 0.5 in another);
    a symbol (α) as itself."""
    from .derivation import Value
    return Value(x) if getattr(x, "is_number", False) else x


def _bounded(slope):
    """The slope at a kink, or None where the derivative is unbounded there (√|z| at 0: SymPy
    gives zoo or nan, PyTorch inf or nan — no value to state)."""
    return None if slope.has(S.ComplexInfinity, S.NaN, S.Infinity, S.NegativeInfinity) else slope


_KINK_SLOPES: dict = {}  # id(spec) -> (spec, its kink slopes); the spec kept, so its id stays its own


def _zero_kink(args):
    return args[0] == 0


def _elu_kink(args):
    """ELU bends at 0 unless α = 1, where both sides have slope 1 (its default is smooth)."""
    return args[0] == 0 and (len(args) < 2 or args[1] != 1)


def _tie(args):
    """Two or more arguments share the extreme value (max and min alike: a tie at the top)."""
    if not all(a.is_number for a in args):
        return False
    top = max(args, key=lambda a: float(sp.N(a, 30)))
    bottom = min(args, key=lambda a: float(sp.N(a, 30)))
    return sum(1 for a in args if a == top) > 1 or sum(1 for a in args if a == bottom) > 1


def _margin(args):
    return args[0] * args[1] == 1


def _zero_kink_residual(args):
    return args[0] == args[1]


FUNCTIONS: dict[str, FunctionSpec] = {}

# SymPy class -> registry entry, for printers and the engine's kink/justification lookup. Only
# entries with a class of their own (sqrt is a power, x**(1/2), and prints as one).
BY_CLASS: dict[type, FunctionSpec] = {}


def register(spec: FunctionSpec) -> FunctionSpec:
    """Add an entry; it is found by every lookup from then on (parser, builders, printers)."""
    FUNCTIONS[spec.name] = spec
    if issubclass(spec.cls, sp.Function):
        BY_CLASS[spec.cls] = spec
    return spec


def unregister(name: str) -> None:
    """Remove an entry added by ``register`` (tests use it to leave the registry as they found it)."""
    spec = FUNCTIONS.pop(name)
    if BY_CLASS.get(spec.cls) is spec:
        del BY_CLASS[spec.cls]


def _one_plus(term):
    """1 + term in that order, as a textbook writes 1 + e^(−z) (a sum would put the 1 last)."""
    return sp.Add(sp.UnevaluatedExpr(S.One), term, evaluate=False)


def _as_written(*terms):
    """A sum with its terms in the order given: e^z − e^(−z)."""
    return sp.Add(*terms, evaluate=False)


def _ratio(numerator, denominator):
    """numerator/denominator as one fraction, neither side rearranged: z/√2."""
    return sp.Mul(numerator, sp.Pow(denominator, -1, evaluate=False), evaluate=False)


def _reciprocal(denominator):
    return sp.Pow(denominator, -1, evaluate=False)


def _np():
    import numpy
    return numpy


def _erf(x):
    """erf on numpy arrays (numpy has none; math.erf elementwise)."""
    import math
    np = _np()
    return np.vectorize(math.erf, otypes=[float])(x)


register(FunctionSpec(
    "relu", Relu, Relu, 1, "activation", r"\operatorname{ReLU}", "ReLU", "torch.relu({0})",
    kink=_zero_kink, kinks=(S.Zero,), justify=_relu_like("ReLU", "0"),
    forms=lambda z: (Maximum(S.Zero, z), sp.Piecewise((z, z > 0), (S.Zero, True))),
    description="rectified linear unit",
    convention="ReLU'(0) = 0", gates=True, inactive_slope="0", init="he", homogeneous=True,
    numpy=lambda z: _np().maximum(z, 0)))
register(FunctionSpec(
    "leaky_relu", LeakyRelu, LeakyRelu, 2, "activation", r"\operatorname{LeakyReLU}", "LeakyReLU",
    "torch.nn.functional.leaky_relu({0}, float({1}))", defaults=(sp.Rational(1, 100),),
    kink=_zero_kink, kinks=(S.Zero,), justify=_relu_like("LeakyReLU", "α"),
    forms=lambda z, alpha: (sp.Piecewise((z, z > 0), (alpha * z, True)),),
    description="LeakyReLU with negative slope α", parameters=("α",),
    convention="LeakyReLU'(0) = α", gates=True, inactive_slope="α", init="leaky_he", homogeneous=True,
    numpy=lambda z, alpha: _np().where(z > 0, z, alpha * z)))
register(FunctionSpec(
    "sigmoid", Sigmoid, Sigmoid, 1, "activation", r"\sigma", "σ", "torch.sigmoid({0})",
    justify=_smooth("sigmoid"), forms=lambda z: (_reciprocal(_one_plus(sp.exp(-z))),),
    description="logistic sigmoid",
    saturation_bound=sp.Rational(1, 4), init="xavier", numpy=lambda z: 1 / (1 + _np().exp(-z)),
    slips=(("the factor σ(z) was forgotten", "1 - sigmoid(z)"),)))
register(FunctionSpec(
    "tanh", sp.tanh, sp.tanh, 1, "activation", r"\tanh", "tanh", "torch.tanh({0})",
    justify=_smooth("tanh"),
    forms=lambda z: (_ratio(_as_written(sp.exp(z), -sp.exp(-z)), _as_written(sp.exp(z), sp.exp(-z))),),
    description="hyperbolic tangent",
    saturation_bound=S.One, init="xavier", numpy=lambda z: _np().tanh(z),
    slips=(("the square was forgotten", "1 - tanh(z)"),)))
register(FunctionSpec(
    "softplus", Softplus, Softplus, 1, "activation", r"\operatorname{softplus}", "softplus",
    "torch.nn.functional.softplus({0})",
    justify=_smooth("softplus"), forms=lambda z: (sp.log(_one_plus(sp.exp(z))),),
    description="smooth ReLU",
    numpy=lambda z: _np().logaddexp(0, z)))
register(FunctionSpec(
    "elu", Elu, Elu, 2, "activation", r"\operatorname{ELU}", "ELU",
    "torch.nn.functional.elu({0}, float({1}))", defaults=(S.One,),
    kink=_elu_kink, kinks=(S.Zero,), justify=_relu_like("ELU", lambda z: sp.Mul(sp.Symbol("alpha"), sp.exp(z), evaluate=False), "α"),
    forms=lambda z, alpha: (sp.Piecewise((z, z > 0), (alpha * (sp.exp(z) - 1), True)),),
    description="exponential linear unit with parameter α", parameters=("α",),
    convention="ELU'(0) = α", gates=True, inactive_slope="αe^z",
    numpy=lambda z, alpha: _np().where(z > 0, z, alpha * _np().expm1(_np().minimum(z, 0)))))
register(FunctionSpec(
    "gelu", Gelu, Gelu, 1, "activation", r"\operatorname{GELU}", "GELU",
    "torch.nn.functional.gelu({0})",
    justify=_smooth("gelu"),
    forms=lambda z: (z * NormalCdf(z), sp.Mul(S.Half, z, _one_plus(sp.erf(_ratio(z, sp.sqrt(2)))),
                                               evaluate=False)),
    description="Gaussian error linear unit (exact erf form; Φ and φ are the standard normal "
                "CDF and density)",
    numpy=lambda z: z * (1 + _erf(z / 2 ** 0.5)) / 2))
register(FunctionSpec(
    "silu", Silu, Silu, 1, "activation", r"\operatorname{SiLU}", "SiLU",
    "torch.nn.functional.silu({0})",
    justify=_smooth("silu"), forms=lambda z: (z * Sigmoid(z),),
    derivative_forms=lambda z: sp.Mul(Sigmoid(z), _one_plus(z * (1 - Sigmoid(z))), evaluate=False),
    description="sigmoid-weighted linear unit (swish)",
    numpy=lambda z: z / (1 + _np().exp(-z))))
register(FunctionSpec(
    "identity", IdentityActivation, IdentityActivation, 1, "activation", r"\operatorname{id}", "id", "({0})",
    justify=_smooth("identity"), forms=lambda z: (z,),
    description="identity (linear unit)",
    init="lecun", homogeneous=True, numpy=lambda z: z))
register(FunctionSpec(
    "exp", sp.exp, sp.exp, 1, "math", r"\exp", "exp", "torch.exp({0})",
    justify=_smooth("exp")))
register(FunctionSpec(
    "log", sp.log, sp.log, 1, "math", r"\log", "log", "torch.log({0})",
    justify=_smooth("log")))
register(FunctionSpec(
    "sqrt", sp.sqrt, sp.Pow, 1, "math", r"\sqrt", "√", "torch.sqrt({0})",
    justify=_smooth("sqrt"), derivative_forms=lambda x: _reciprocal(sp.Mul(2, sp.sqrt(x), evaluate=False))))
register(FunctionSpec(
    "abs", sp.Abs, sp.Abs, 1, "math", r"\left|\cdot\right|", "abs", "torch.abs({0})",
    kink=_zero_kink, kinks=(S.Zero,), justify=_abs_justify))
register(FunctionSpec(
    "max", Maximum, Maximum, 2, "math", r"\max", "max",
    "torch.amax(torch.stack([torch.as_tensor(v) for v in ({*},)]), 0)",
    kink=_tie, justify_call=_extreme_justify("maximum", TIE_CONVENTION), variadic=True,
    convention=TIE_CONVENTION,
    description="the largest of two or more arguments"))
register(FunctionSpec(
    "min", Minimum, Minimum, 2, "math", r"\min", "min",
    "torch.amin(torch.stack([torch.as_tensor(v) for v in ({*},)]), 0)",
    kink=_tie, justify_call=_extreme_justify("minimum", MIN_TIE_CONVENTION), variadic=True,
    convention=MIN_TIE_CONVENTION,
    description="the smallest of two or more arguments"))
register(FunctionSpec(
    "pool_max", PoolMax, PoolMax, 2, "math", r"\max", "max",
    "torch.nn.functional.max_pool1d(torch.stack([torch.as_tensor(v) for v in ({*},)]).reshape(1, 1, -1), "
    "len(({*},))).reshape(())",
    kink=_tie, justify_call=_extreme_justify("maximum", POOL_CONVENTION, shared=False), variadic=True,
    convention=POOL_CONVENTION,
    description="the largest argument, as max pooling: a tie's gradient goes to the first"))
register(FunctionSpec(
    "where", Where, Where, 3, "math", r"\operatorname{where}", "where",
    "torch.where({0}, torch.as_tensor({1}), torch.as_tensor({2}))", justify=_where_justify,
    conditions=(0,), convention="the gradient flows only into the branch the condition selects "
    "(as torch.where)", description="where(c, a, b): a where the condition c holds, else b"))
register(FunctionSpec(
    "sin", sp.sin, sp.sin, 1, "math", r"\sin", "sin", "torch.sin({0})",
    justify=_smooth("sin")))
register(FunctionSpec(
    "cos", sp.cos, sp.cos, 1, "math", r"\cos", "cos", "torch.cos({0})",
    justify=_smooth("cos")))
register(FunctionSpec(
    "logsumexp", LogSumExp, LogSumExp, 2, "math", r"\operatorname{logsumexp}", "logsumexp",
    "torch.logsumexp(torch.stack([torch.as_tensor(v) for v in ({*},)]), 0)", variadic=True,
    justify=_smooth("logsumexp"),
    description="log(e^a₁ + … + e^aₙ), a smooth maximum"))

register(FunctionSpec(
    "normal_cdf", NormalCdf, NormalCdf, 1, "math", r"\Phi", "Φ", "torch.special.ndtr({0})",
    justify=_smooth("normal_cdf"),
    numpy=lambda z: (1 + _erf(z / _np().sqrt(2))) / 2,
    description="Φ(z), the standard normal distribution function"))
register(FunctionSpec(
    "normal_pdf", NormalPdf, NormalPdf, 1, "math", r"\varphi", "φ",
    "(torch.exp(-({0}) ** 2 / 2) / math.sqrt(2 * math.pi))",
    justify=_smooth("normal_pdf"),
    numpy=lambda z: _np().exp(-z ** 2 / 2) / _np().sqrt(2 * _np().pi),
    description="φ(z), the standard normal density"))

# The losses, callable in equations: L = binary_cross_entropy(a, y). (``derive.core.losses``
# holds the builders' loss registry, which writes the same formulas over several outputs.)
_LOSS_ENTRIES = (  # name, class, LaTeX and text names, torch, its variables, the one its
    # derivative is stated for, description; the formulas themselves are the classes' own
    ("squared_error", SquaredError, r"\operatorname{SE}", "SE", "(({0} - {1}) ** 2)", ("a", "y"), 0,
     "squared error"),
    ("half_squared_error", HalfSquaredError, r"\tfrac{1}{2}\operatorname{SE}", "½SE",
     "(0.5 * ({0} - {1}) ** 2)", ("a", "y"), 0, "half squared error"),
    ("mse", MeanSquaredError, r"\operatorname{MSE}", "MSE",
     "torch.nn.functional.mse_loss({0}, torch.as_tensor({1}))", ("a", "y"), 0,
     "mean squared error (of one output)"),
    ("absolute_error", AbsoluteError, r"\operatorname{AE}", "AE",
     "torch.nn.functional.l1_loss({0}, torch.as_tensor({1}))", ("a", "y"), 0, "absolute error"),
    ("binary_cross_entropy", BinaryCrossEntropy, r"\operatorname{BCE}", "BCE",
     "torch.nn.functional.binary_cross_entropy({0}, torch.as_tensor({1}))", ("a", "y"), 0,
     "binary cross-entropy (a is a probability in (0, 1))"),
    ("huber", Huber, r"\operatorname{Huber}", "Huber",
     "torch.where(torch.abs({0}) <= {1}, 0.5 * {0} ** 2, {1} * (torch.abs({0}) - 0.5 * {1}))",
     ("r", "delta"), 0, "Huber loss of a residual r (quadratic up to δ, then linear)"),
    ("hinge", Hinge, r"\operatorname{hinge}", "hinge",
     "torch.nn.functional.hinge_embedding_loss(torch.as_tensor({0} * {1}), torch.tensor(-1.0))",
     ("y", "s"), 1, "hinge loss of a label y = ±1 and a score s"),
)
_LOSS_FORMS = {  # where a loss's own formula reads worse than a textbook's (|r| − ½δ, y·s)
    "huber": dict(
        forms=lambda r, d: (sp.Piecewise((r ** 2 / 2, sp.LessThan(sp.Abs(r), d)),
                                         (d * _as_written(sp.Abs(r), -d / 2), True), evaluate=False),),
        derivative_forms=lambda r, d: sp.Piecewise((r, sp.LessThan(sp.Abs(r), d)),
                                                   (d * sp.sign(r), True), evaluate=False)),
    "hinge": dict(
        forms=lambda y, s: (Maximum(S.Zero, 1 - sp.Mul(y, s, evaluate=False)),),
        derivative_forms=lambda y, s: -y * Indicator(sp.LessThan(sp.Mul(y, s, evaluate=False), 1))),
    "binary_cross_entropy": dict(
        forms=lambda a, y: (sp.Mul(-1, _as_written(y * sp.log(a), (1 - y) * sp.log(1 - a)),
                                   evaluate=False),)),
}
# Each loss over every entry of a matrix prediction and target, as PyTorch's losses reduce
# (mse_loss, l1_loss, binary_cross_entropy: the mean of the entries): the spelling an error
# offers when a matrix target is handed to the one-output function.
_OVER_ENTRIES = {
    "squared_error": "sum(({0} - {1})**2)",
    "half_squared_error": "0.5*sum(({0} - {1})**2)",
    "mse": "mean(({0} - {1})**2)",
    "absolute_error": "mean(abs({0} - {1}))",
    "binary_cross_entropy": "mean(-({1}*log({0}) + (1 - {1})*log(1 - {0})))",
}
for _name, _cls, _latex, _text, _torch, _variables, _wrt, _description in _LOSS_ENTRIES:
    _convention = {"hinge": "at the margin y·s = 1 the gradient is that of the linear piece, "
                            "∂/∂s = −y (as PyTorch's hinge_embedding_loss and scikit-learn's hinge)",
                   "absolute_error": "at a = y the gradient is 0 (sign(0) = 0, as torch.abs)"}.get(_name, "")
    register(FunctionSpec(
        _name, _cls, _cls, 2, "loss", _latex, _text, _torch,
        justify=_loss_justify(_name, _convention), description=_description,
        variables=_variables, wrt=_wrt, **_LOSS_FORMS.get(_name, {}),
        defaults=(S.One,) if _name == "huber" else (),
        kink=_margin if _name == "hinge" else (_zero_kink_residual if _name == "absolute_error" else None),
        convention=_convention, over_entries=_OVER_ENTRIES.get(_name, "")))



class _Activations(Mapping):
    """The activations of ``FUNCTIONS``, looked up at call time (so one registered later counts)."""

    def __getitem__(self, name):
        spec = FUNCTIONS[name]
        if spec.kind != "activation":
            raise KeyError(name)
        return spec

    def __iter__(self):
        return (name for name, spec in FUNCTIONS.items() if spec.kind == "activation")

    def __len__(self):
        return sum(1 for _ in self)

    def __repr__(self):
        return f"ACTIVATIONS({', '.join(self)})"


ACTIVATIONS = _Activations()


def lookup(name: str, line: int | None = None, column: int | None = None) -> FunctionSpec:
    """The registry entry called ``name``; a clear error listing the known ones otherwise."""
    try:
        return FUNCTIONS[name]
    except KeyError:
        known = ", ".join(sorted(FUNCTIONS))
        raise ParseError(f"unknown function `{name}`; known functions: {known}", line, column) from None


def activation(name: str) -> FunctionSpec:
    """The activation called ``name`` (for builders and the CLI)."""
    from .errors import DeriveError
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise DeriveError(f"unknown activation {name!r}; choose one of: "
                          + ", ".join(sorted(ACTIVATIONS))) from None


def numpy_function(expr: sp.Expr, symbol: sp.Symbol) -> Callable:
    """``expr`` (in ``symbol``) as a function on numpy arrays, from each entry's ``numpy`` fact —
    no code generation. Used for simulations of any activation and its derivative.

    >>> import numpy as np
    >>> z = sp.Symbol("z", real=True)
    >>> numpy_function(Relu(z), z)(np.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    np = _np()
    comparisons = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                   "==": np.equal, "!=": np.not_equal}

    def walk(e, z):
        if e == symbol:
            return z
        if e.is_Number or e.is_NumberSymbol:
            return float(e)
        if e.is_Add:
            return sum(walk(a, z) for a in e.args)
        if e.is_Mul:
            out = 1.0
            for a in e.args:
                out = out * walk(a, z)
            return out
        if e.is_Pow:
            return np.power(walk(e.base, z), walk(e.exp, z))
        if isinstance(e, sp.core.relational.Relational):
            return comparisons[e.rel_op](walk(e.lhs, z), walk(e.rhs, z)).astype(float)
        elementary = {sp.exp: np.exp, sp.log: np.log, sp.tanh: np.tanh, sp.Abs: np.abs,
                      sp.sign: np.sign, sp.erf: _erf}
        if type(e) in elementary:
            return elementary[type(e)](walk(e.args[0], z))
        if isinstance(e, Indicator):
            return walk(e.args[0], z)
        spec = BY_CLASS.get(type(e))
        if spec is not None and spec.numpy is not None:
            return spec.numpy(*[walk(a, z) for a in e.args])
        if spec is not None and spec.expand is not None:
            return walk(spec.expand(*e.args), z)
        raise TypeError(f"no numpy form for {type(e).__name__}")

    # a constant (identity' = 1) is broadcast to the input's shape
    return lambda z: np.broadcast_to(walk(expr, z), np.shape(z))
