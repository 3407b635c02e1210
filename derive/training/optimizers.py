"""The optimizer registry: one entry per optimizer, with PyTorch's update rules (``torch.optim``).

An entry declares its hyperparameters (name, default, check, doc) and its rule ONCE, as math: SymPy
lines over the symbols of one update — the parameter θₜ₋₁, its gradient gₜ, the step t, the
learning rate η, the state before the update (mₜ₋₁, vₜ₋₁ …) and the hyperparameters' symbols
(β₁, μ, ε …). Everything else is substitution into those lines: ``update`` evaluates them over
exact numbers (one entry of one parameter at a time: every rule acts entry by entry), the worked
lines of a document are the same lines with update 1's numbers, the document's hyperparameter
table, the ``derive train`` options and the spec's ``train:`` fields are read from the entries.
Adding an optimizer is one ``register(Optimizer(...))``.

Where PyTorch rearranges a formula for speed the result is mathematically identical (Adam divides
√v by √(1 − β₂ᵗ) instead of taking √v̂). Weight decay is L2 added to the gradient (g + λθ) for
every optimizer whose entry says ``decay="l2"``; AdamW's rule decays the parameter itself.

>>> OPTIMIZERS["adam"].title
'Adam'
>>> [h.name for h in OPTIMIZERS["adam"].hyperparameters]
['betas', 'eps']
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Callable

import sympy as sp
from sympy import S

import mpmath

from ..core.approx import DIGITS, Undefined, approx
from ..core.derivation import Chain, Subst, Value
from ..core.engine import DESCENT, ETA as DESCENT_RATE, GRADIENT, THETA as DESCENT_PARAMETER, Quantity
from ..core.errors import DeriveError, InvalidValue
from ..core.functions import Sentence
from ..core.numbers import format_number, to_exact


def _approx_of(x):
    cached = getattr(x, "approx_mpf", None)
    return cached if cached is not None else approx(x)


class Exact:
    """An exact number for update arithmetic that stays cheap. Rationals combine as Rationals
    (SymPy's exact arithmetic: a rational run stays rational); otherwise the operations are
    recorded unevaluated over their operands, with the approximation carried alongside, and
    ``settle`` turns the (shallow) result into one ``Quantity`` atom — no SymPy simplification,
    no expression growth from step to step.

    >>> (Exact(sp.Rational(1, 2)) * 3 + 1).value
    5/2
    """

    __slots__ = ("value", "number")

    def __init__(self, value, number=None):
        if isinstance(value, Exact):
            value, number = value.value, value.number
        self.value = value if isinstance(value, sp.Basic) else to_exact(value)
        self.number = number  # the approximation, when ``value`` is not a Rational

    @property
    def rational(self) -> bool:
        return self.number is None and self.value.is_Rational

    def approximation(self):
        if self.number is not None:
            return self.number
        return _approx_of(self.value)

    @staticmethod
    def _op(kind, a, b=None):
        x = a.value
        y = None if b is None else b.value
        if a.rational and (b is None or b.rational):
            if kind == "sqrt":
                if x < 0:
                    raise Undefined("square root of a negative number")
                root = sp.sqrt(x)  # SymPy simplifies √29296875 to 3125·√3
                return Exact(root, None if root.is_Rational else approx(root))
            else:
                if kind == "/" and y == 0:
                    raise Undefined("division by zero")
                return Exact(x + y if kind == "+" else x * y if kind == "*" else x / y)
        if kind == "*" and (x == 0 or y == 0):
            return Exact(S.Zero)
        with mpmath.workdps(DIGITS + 10):
            ax = a.approximation()
            ay = None if b is None else b.approximation()
            if kind == "+":
                return Exact(sp.Add(x, y, evaluate=False), ax + ay)
            if kind == "*":
                return Exact(sp.Mul(x, y, evaluate=False), ax * ay)
            if kind == "/":
                if ay == 0:
                    raise Undefined("division by zero")
                return Exact(sp.Mul(x, sp.Pow(y, -1, evaluate=False), evaluate=False), ax / ay)
            if ax < 0:
                raise Undefined("square root of a negative number")
            return Exact(sp.Pow(x, S.Half, evaluate=False), mpmath.sqrt(ax))

    def atom(self, label: str) -> sp.Expr:
        """The exact value as a Rational or one Quantity atom."""
        if self.number is None:
            return self.value
        if isinstance(self.value, Quantity):
            return self.value
        return Quantity(label, self.value, self.number)

    def __add__(self, other):
        return Exact._op("+", self, Exact(other))

    __radd__ = __add__

    def __sub__(self, other):
        return Exact._op("+", self, -Exact(other))

    def __rsub__(self, other):
        return Exact._op("+", Exact(other), -self)

    def __neg__(self):
        return Exact._op("*", Exact(S.NegativeOne), self)

    def __mul__(self, other):
        return Exact._op("*", self, Exact(other))

    __rmul__ = __mul__

    def __truediv__(self, other):
        return Exact._op("/", self, Exact(other))

    def __rtruediv__(self, other):
        return Exact._op("/", Exact(other), self)

    def __pow__(self, k):
        """Whole powers by repeated squaring (every optimizer needs g², Adam β^t); ½ is sqrt."""
        if k == S.Half or k == 0.5:
            return self.sqrt()
        if int(k) != k:
            raise InvalidValue(f"an optimizer value raised to {k}: only whole powers and ½ are exact here")
        k = int(k)
        if k < 0:
            return Exact(S.One) / self ** -k
        result, base = Exact(S.One), self
        while k:
            if k & 1:
                result = result * base
            base, k = base * base, k >> 1
        return result

    def sqrt(self):
        return Exact._op("sqrt", self)

    def sign(self):
        """−1, 0 or 1 (exact: a Rational's sign, or an atom's decided by its approximation)."""
        a = self.approximation()
        return Exact(S.Zero if a == 0 else S.One if a > 0 else S.NegativeOne)


def evaluate(expr: sp.Expr, env: dict) -> Exact:
    """A rule's right-hand side at exact numbers: its symbols looked up in ``env`` (symbol ->
    number), its operations done with ``Exact`` arithmetic (+, ·, whole powers and √, sign)."""
    if expr.is_Symbol:
        try:
            return Exact(env[expr])
        except KeyError:
            raise DeriveError(f"the update rule uses {expr.name}, which has no value: declare it as "
                              f"a hyperparameter's symbol or a state of the optimizer") from None
    if expr.is_Number:
        return Exact(expr)
    args = [evaluate(a, env) for a in expr.args] if not expr.is_Pow else None
    if expr.is_Add:
        total = args[0]
        for a in args[1:]:
            total = total + a
        return total
    if expr.is_Mul:
        product = args[0]
        for a in args[1:]:
            product = product * a
        return product
    if expr.is_Pow:
        exponent = evaluate(expr.exp, env)
        if not exponent.rational:
            raise InvalidValue(f"an update rule raises to {expr.exp}: only exact rational powers")
        return evaluate(expr.base, env) ** exponent.value
    if isinstance(expr, sp.sign):
        return args[0].sign()
    raise DeriveError(f"an update rule may use +, −, ·, /, whole powers, √ and sign; not {expr.func.__name__}")


# --- the symbols of the rules ------------------------------------------------------------------
# Unicode names, which the text printer shows as written; LaTeX from ``latex_of``. A rule is
# written at a general update t: ``now("m")`` is mₜ, ``before("m")`` is mₜ₋₁.


def rule_symbol(name: str) -> sp.Symbol:
    """A symbol of the update rules, by its Unicode name (``θₜ₋₁``, ``m̂₁``).

    >>> from derive.rendering.printing import printer_for
    >>> print(printer_for("latex", names={"m̂ₜ₋₁": latex_of("m̂ₜ₋₁")}).doprint(rule_symbol("m̂ₜ₋₁")))
    \\hat{m}_{t-1}
    """
    return sp.Symbol(name, real=True)


_sym = rule_symbol
_SUBSCRIPTS = {"₀": "0", "₁": "1", "₂": "2", "₃": "3", "ₜ": "t", "₋": "-"}
_ACCENTS = {"\u0302": r"\hat", "\u0303": r"\tilde", "\u0304": r"\bar"}


def now(base: str) -> sp.Symbol:
    """``base`` after update t: mₜ."""
    return _sym(base + "ₜ")


def before(base: str) -> sp.Symbol:
    """``base`` before update t (its value after update t − 1): mₜ₋₁."""
    return _sym(base + "ₜ₋₁")


ETA, MU, ALPHA, B1, B2, EPS, LAM, RHO = (_sym(n) for n in ("η", "μ", "α", "β₁", "β₂", "ε", "λ", "ρ"))
assert ETA == DESCENT_RATE  # gradient descent's η is the rules' η
THETA = _sym("θ")
THETA_T, THETA_PREV, G_T, T = now("θ"), before("θ"), now("g"), _sym("t")


def _letter_latex(ch: str) -> str:
    """A Greek letter by its Unicode name (ρ -> \\rho, ε -> \\varepsilon as the course writes it)."""
    if ch == "ε":
        return r"\varepsilon"
    name = unicodedata.name(ch, "").replace("LAMDA", "LAMBDA")  # Unicode spells it "lamda"
    if name.startswith("GREEK SMALL LETTER "):
        return "\\" + name.rsplit(" ", 1)[1].lower()
    if name.startswith("GREEK CAPITAL LETTER "):
        return "\\" + name.rsplit(" ", 1)[1].capitalize()
    return ch


def latex_of(name: str) -> str:
    """``m̂ₜ₋₁`` -> ``\\hat{m}_{t-1}``, ``β₁`` -> ``\\beta_{1}``: LaTeX for the Unicode names of
    the rules (any Greek letter, accents ^ ~ ¯, subscripts).

    >>> latex_of("m̂ₜ₋₁"), latex_of("ρ"), latex_of("θ̃₁")
    ('\\\\hat{m}_{t-1}', '\\\\rho', '\\\\tilde{\\\\theta}_{1}')
    """
    cut = len(name)
    while cut > 0 and name[cut - 1] in _SUBSCRIPTS:
        cut -= 1
    base, sub = name[:cut], "".join(_SUBSCRIPTS[c] for c in name[cut:])
    accent = _ACCENTS.get(base[-1]) if len(base) > 1 else None
    head = "".join(_letter_latex(c) for c in (base[:-1] if accent else base))
    if accent:
        head = f"{accent}{{{head}}}"
    return f"{head}_{{{sub}}}" if sub else head


def _add(*terms):
    return sp.Add(*terms, evaluate=False)


def _mul(*factors):
    return sp.Mul(*factors, evaluate=False)


def _div(a, b):
    return sp.Mul(a, sp.Pow(b, -1, evaluate=False), evaluate=False)


def _sqrt(a):
    return sp.Pow(a, S.Half, evaluate=False)


def _minus(a):
    return _mul(-1, a)


def _average(beta, old, new):
    """β·old + (1 − β)·new: an exponential moving average."""
    return _add(_mul(beta, old), _mul(_add(1, _minus(beta)), new))


def rename(expr, mapping: dict):
    """``expr`` with symbols renamed (or replaced by numbers), *unevaluated*: the worked lines keep
    the rule's layout (1 − β₁¹ stays 1 − β₁¹)."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    args = [rename(a, mapping) for a in expr.args]
    if isinstance(expr, (sp.Add, sp.Mul, sp.Pow)):
        return expr.func(*args, evaluate=False)
    return expr.func(*args)


# --- hyperparameters: name, default, check, doc ------------------------------------------------


def unit_interval(value, what: str):
    """A number in [0, 1) (momentum, averaging factors)."""
    exact = to_exact(value, what)
    if not 0 <= exact < 1:
        raise DeriveError(f"{what} must be in [0, 1), got {format_number(exact)}")
    return exact


def positive(value, what: str):
    exact = to_exact(value, what)
    if not exact > 0:
        raise DeriveError(f"{what} must be positive, got {format_number(exact)}")
    return exact


def nonnegative(value, what: str):
    exact = to_exact(value, what)
    if exact < 0:
        raise DeriveError(f"{what} must be ≥ 0, got {format_number(exact)}")
    return exact


def flag(value, what: str):
    if not isinstance(value, bool):
        raise DeriveError(f"{what} must be True or False, got {value!r}")
    return value


def pair(check: Callable) -> Callable:
    """Two numbers, each checked by ``check`` (Adam's betas)."""
    def checked(value, what: str):
        try:
            first, second = value
        except (TypeError, ValueError):
            raise DeriveError(f"{what} must be two numbers like (0.9, 0.999), got {value!r}") from None
        return check(first, f"{what}[0]"), check(second, f"{what}[1]")
    checked.kind = "pair"
    return checked


flag.kind = "flag"


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter: its keyword, default, check (value, what) -> exact value or a
    ``DeriveError`` naming it, its doc (the CLI's help), and the rule symbols it gives values to
    (a pair gives two: β₁, β₂). ``label`` heads its row in the document's table."""

    name: str
    default: object
    check: Callable
    doc: str
    symbols: tuple = ()
    label: str = ""

    @property
    def kind(self) -> str:
        """How it is written on the command line: "number", "flag" or "pair"."""
        return getattr(self.check, "kind", "number")

    def bind(self, value) -> dict:
        """symbol -> value for the rules."""
        if not self.symbols:
            return {}
        values = value if isinstance(value, tuple) else (value,)
        return dict(zip(self.symbols, values))


def momentum(default) -> Hyperparameter:
    return Hyperparameter("momentum", default, unit_interval, "momentum factor μ", (MU,), "momentum μ")


NESTEROV = Hyperparameter("nesterov", False, flag, "Nesterov momentum (needs momentum > 0)")
EPSILON = Hyperparameter("eps", sp.Rational(1, 10 ** 8), nonnegative,
                         "ε added to the denominator (stability)", (EPS,), "ε")

# Hyperparameters of every run, whatever the optimizer: the learning rate (a number, or one per
# parameter), L2 weight decay (or the entry's own decoupled decay), and gradient clipping.
LEARNING_RATE = Hyperparameter("lr", None, positive, "learning rate η: a number, or one per parameter "
                               "({w: 0.1, b: 0.01}; on the command line w=0.1,b=0.01)", (ETA,))
COMMON = (
    LEARNING_RATE,
    Hyperparameter("weight_decay", S.Zero, nonnegative,
                   "weight decay λ (L2 in the gradient; decoupled where the optimizer's rule says so)",
                   (LAM,), "weight decay λ"),
    Hyperparameter("clip_norm", None, positive, "clip the gradient's norm (over every parameter) to at most this",
                   (), "clip the gradient norm to at most c"),
    Hyperparameter("clip_value", None, positive, "clip each gradient component to ±this", (),
                   "clip each gradient component to ±c"),
)


@dataclass(frozen=True)
class State:
    """A quantity the optimizer carries from update to update, starting at 0: its key (for
    ``Training.state``), its symbol's base (``v`` -> vₜ, vₜ₋₁) and what it is."""

    key: str
    symbol: str
    doc: str


@dataclass(frozen=True)
class Line:
    """One line of a rule: ``now(lhs) = rhs`` (lhs "θ": the parameter after the update)."""

    lhs: str
    rhs: sp.Expr

    @property
    def symbol(self) -> sp.Symbol:
        return now(self.lhs)


@dataclass(frozen=True)
class Optimizer:
    """One registry entry.

    ``rule(h)`` gives the lines of one update from the hyperparameters ``h`` (name -> exact value),
    ending with the line for "θ"; ``state`` lists what is carried over (any ``State`` whose
    symbol a line assigns); ``decay`` is "l2" (weight decay added to the gradient by the run) or
    "decoupled" (the rule itself uses λ). ``check(h)`` refuses combinations (Nesterov without
    momentum). ``remarks`` and ``first_remarks`` are sentences the document says after the rule
    and after update 1's numbers."""

    name: str
    title: str
    torch: str  # the torch.optim class with these semantics
    default_lr: sp.Expr  # PyTorch's default learning rate
    rule: Callable
    hyperparameters: tuple = ()
    state: tuple = ()
    decay: str = "l2"
    check: Callable | None = None
    remarks: tuple = ()
    first_remarks: tuple = ()

    def lines(self, h: dict) -> tuple:
        lines = tuple(self.rule(h))
        if not lines or lines[-1].lhs != "θ":
            raise DeriveError(f"optimizer {self.name}: its rule must end with the parameter's line θₜ = …")
        return lines

    def carried(self, h: dict) -> tuple:
        """The states this run carries (those its rule assigns)."""
        return self.prepare(h).carried

    def hyperparameter(self, name: str) -> Hyperparameter | None:
        return next((hp for hp in self.hyperparameters if hp.name == name), None)

    def bindings(self, h: dict) -> dict:
        """symbol -> value of every hyperparameter of this run (its own and the common ones)."""
        out = {}
        for hp in self.hyperparameters + COMMON[1:]:
            if hp.name in h and h[hp.name] is not None:
                out.update(hp.bind(h[hp.name]))
        return out

    def prepare(self, h: dict) -> "Prepared":
        """The rule at these hyperparameters, once per run: its lines, the states it carries and
        the hyperparameters' symbols bound to their values."""
        lines = self.lines(h)
        assigned = {line.lhs for line in lines}
        return Prepared(lines, tuple(s for s in self.state if s.symbol in assigned), self.bindings(h))

    def update(self, theta, g, state: dict, h: dict, lr, t: int, settle: Callable, label: str,
               prepared: "Prepared | None" = None):
        """One update of one entry: (θ after, state after, {symbol: value} of every line)."""
        prepared = prepared or self.prepare(h)
        env = dict(prepared.bindings)
        env.update({THETA_PREV: theta, G_T: g, ETA: lr, T: sp.Integer(t)})
        for s in self.state:
            env[before(s.symbol)] = state.get(s.key, S.Zero)
        for line in prepared.lines:
            name = f"{label}_new" if line.lhs == "θ" else f"{line.lhs}[{label}]"
            env[line.symbol] = settle(name, evaluate(line.rhs, env))
        new_state = {s.key: env[now(s.symbol)] for s in prepared.carried}
        return env[THETA_T], new_state, env

    def step(self, theta, g, lr, h: dict | None = None) -> sp.Expr:
        """One update from zero state by substitution into the rule (numbers or symbols):
        ``Example.update`` is ``OPTIMIZERS["sgd"].step``.

        >>> OPTIMIZERS["sgd"].step(3, 8, sp.Rational(1, 10))
        11/5
        >>> OPTIMIZERS["adam"].step(3, 8, sp.Rational(1, 10))
        2320000003/800000001
        """
        prepared = self.prepare(defaults(self) if h is None else h)
        env = dict(prepared.bindings)
        env.update({THETA_PREV: sp.sympify(theta, strict=True), G_T: sp.sympify(g, strict=True),
                    ETA: sp.sympify(lr, strict=True), T: S.One})
        env.update({before(s.symbol): S.Zero for s in self.state})
        for line in prepared.lines:
            env[line.symbol] = line.rhs.xreplace(env)
        return env[THETA_T]


@dataclass(frozen=True)
class Prepared:
    lines: tuple
    carried: tuple
    bindings: dict


OPTIMIZERS: dict[str, Optimizer] = {}


def register(opt: Optimizer) -> Optimizer:
    """Add an optimizer: one entry (its hyperparameters, state and rule).

    >>> register(OPTIMIZERS["sgd"]) is OPTIMIZERS["sgd"]
    True
    """
    if not isinstance(opt, Optimizer):
        raise DeriveError(f"register an Optimizer, got {type(opt).__name__}")
    names = [hp.name for hp in opt.hyperparameters]
    common = {hp.name for hp in COMMON}
    clash = [n for n in names if n in common or n in ("steps", "optimizer")]
    if clash or len(set(names)) != len(names):
        raise DeriveError(f"optimizer {opt.name}: hyperparameter names must be distinct and not "
                          f"{', '.join(sorted(common | {'steps', 'optimizer'}))}")
    OPTIMIZERS[opt.name] = opt
    return opt


def defaults(opt: Optimizer) -> dict:
    """The hyperparameters at their defaults (the common ones unset)."""
    h = {hp.name: hp.default for hp in opt.hyperparameters}
    h.update({hp.name: hp.default for hp in COMMON[1:]})
    return h


def options() -> list:
    """Every hyperparameter any entry declares, each once (the common ones first): what the CLI's
    ``derive train`` options and the spec's ``train:`` fields are made from."""
    seen, out = set(), []
    for hp in COMMON + tuple(hp for opt in OPTIMIZERS.values() for hp in opt.hyperparameters):
        if hp.name not in seen:
            seen.add(hp.name)
            out.append(hp)
    return out


def takers(name: str) -> list:
    """The optimizers that declare hyperparameter ``name``."""
    return [opt.name for opt in OPTIMIZERS.values() if opt.hyperparameter(name) is not None]


def latex_names(opt: Optimizer, h: dict) -> dict:
    """LaTeX for every symbol the entry's rule prints, at a general t and at update 1."""
    names = {}
    lines = opt.lines(h)
    symbols = {THETA, THETA_T, THETA_PREV, G_T, _sym("g₁"), ETA, T}
    for hp in opt.hyperparameters + COMMON:
        symbols |= set(hp.symbols)
    for remark in opt.remarks + opt.first_remarks:
        for m in remark.math:
            symbols |= getattr(m, "free_symbols", set())
    for line in lines:
        symbols |= line.rhs.free_symbols | {line.symbol}
    for s in list(symbols):
        symbols.add(first_update(s))
    for s in symbols:
        if isinstance(s, sp.Symbol):
            names[s.name] = latex_of(s.name)
    return names


def first_update(symbol):
    """The name a rule's symbol takes at update 1: mₜ -> m₁, mₜ₋₁ -> m₀ (θ is left to the caller)."""
    if not isinstance(symbol, sp.Symbol):
        return symbol
    name = symbol.name
    if name.endswith("ₜ₋₁"):
        return _sym(name[:-3] + "₀")
    if name.endswith("ₜ"):
        return _sym(name[:-1] + "₁")
    return symbol


@dataclass(frozen=True)
class Worked:
    """One line of the rule written out with update 1's numbers: ``lhs = rule = numbers = value``."""

    lhs: object
    rule: sp.Expr
    values: dict  # symbol -> number, substituted into ``rule``
    result: sp.Expr

    def chain(self):
        shown = tuple(sorted(self.values.items(), key=lambda sv: sv[0].name))
        return Chain(self.lhs, "=", self.rule, "=", Subst(self.rule, shown), "=", Value(self.result))


def worked_lines(opt: Optimizer, h: dict, env: dict, parameter: str) -> list:
    """Update 1's lines for one entry of ``parameter``: the rule renamed to update 1 (θₜ₋₁ -> the
    parameter, θₜ -> its new value, mₜ -> m₁, t -> 1), with the numbers from ``env``."""
    names = {THETA_PREV: _sym(parameter), THETA_T: _sym(f"{parameter}_new"), T: S.One}
    out = []
    for line in opt.lines(h):
        symbols = line.rhs.free_symbols | {line.symbol}
        mapping = {s: names.get(s, first_update(s)) for s in symbols}
        rule = rename(line.rhs, mapping)
        values = {mapping[s]: env[s] for s in line.rhs.free_symbols if s in env and s != T}
        out.append(Worked(mapping[line.symbol], rule, values, env[line.symbol]))
    return out


# --- the entries -------------------------------------------------------------------------------


def _descent_rule(h):
    """torch.optim.SGD (dampening 0): plain descent, or with a velocity (whose first value is g
    itself, as torch's buffer), Nesterov's look-ahead on request."""
    plain = rename(DESCENT, {DESCENT_PARAMETER: THETA_PREV, GRADIENT: G_T})  # gradient descent's own rule
    if h["momentum"] == 0:
        return (Line("θ", plain),)
    velocity = Line("v", _add(_mul(MU, before("v")), G_T))
    direction = _add(G_T, _mul(MU, now("v"))) if h["nesterov"] else now("v")
    return (velocity, Line("θ", rename(DESCENT, {DESCENT_PARAMETER: THETA_PREV, GRADIENT: direction})))


def _nesterov_needs_momentum(h):
    if h["nesterov"] and h["momentum"] == 0:
        raise DeriveError("nesterov needs momentum > 0 (as in PyTorch), e.g. momentum=0.9")


_VELOCITY = (State("velocity", "v", "velocity (momentum buffer)"),)
for _name, _title, _momentum, _nesterov in (("sgd", "SGD", S.Zero, False),
                                            ("momentum", "SGD with momentum", sp.Rational(9, 10), False),
                                            ("nesterov", "SGD with Nesterov momentum", sp.Rational(9, 10), True)):
    register(Optimizer(
        _name, _title, "SGD", sp.Rational(1, 1000), _descent_rule,
        hyperparameters=(momentum(_momentum),
                         Hyperparameter("nesterov", _nesterov, flag, NESTEROV.doc, label="Nesterov")),
        state=_VELOCITY, check=_nesterov_needs_momentum))


def _rmsprop_rule(h):
    """torch.optim.RMSprop (not centered)."""
    ratio = _div(G_T, _add(_sqrt(now("s")), EPS))
    lines = [Line("s", _average(ALPHA, before("s"), G_T ** 2))]
    if h["momentum"] != 0:
        lines.append(Line("v", _add(_mul(MU, before("v")), ratio)))
        lines.append(Line("θ", _add(THETA_PREV, _mul(-1, ETA, now("v")))))
    else:
        lines.append(Line("θ", _add(THETA_PREV, _mul(-1, ETA, ratio))))
    return lines


register(Optimizer(
    "rmsprop", "RMSprop", "RMSprop", sp.Rational(1, 100), _rmsprop_rule,
    hyperparameters=(Hyperparameter("alpha", sp.Rational(99, 100), unit_interval,
                                    "RMSprop's averaging factor α for g²", (ALPHA,), "α (average of g²)"),
                     EPSILON, momentum(S.Zero)),
    state=(State("square_avg", "s", "running average of g²"),) + _VELOCITY))


def _adam_rule(h, decoupled=False):
    """torch.optim.Adam / AdamW (amsgrad off): moments, bias corrections, the step."""
    start = THETA_PREV
    lines = []
    if decoupled:  # AdamW: θ(1 − ηλ) first, then the Adam step from there
        lines.append(Line("θ̃", _mul(THETA_PREV, _add(1, _mul(-1, ETA, LAM)))))
        start = now("θ̃")
    lines += [
        Line("m", _average(B1, before("m"), G_T)),
        Line("v", _average(B2, before("v"), G_T ** 2)),
        Line("m̂", _div(now("m"), _add(1, _minus(sp.Pow(B1, T, evaluate=False))))),
        Line("v̂", _div(now("v"), _add(1, _minus(sp.Pow(B2, T, evaluate=False))))),
        Line("θ", _add(start, _mul(-1, ETA, _div(now("m̂"), _add(_sqrt(now("v̂")), EPS))))),
    ]
    return lines


_BIAS = Sentence("The moments start at 0, so early averages are biased towards 0; dividing by {0} and "
                 "{1} corrects that (both tend to 1 as t grows).",
                 tuple(_add(1, _minus(sp.Pow(b, T, evaluate=False))) for b in (B1, B2)))
_BIAS_AT_1 = Sentence("At t = 1 the bias corrections undo the averaging exactly: {0} and {1}, so the "
                      "first step moves every parameter by about η in the direction of −g, whatever "
                      "the gradient's size.", (Chain(_sym("m̂₁"), "=", _sym("g₁")),
                                               Chain(_sym("v̂₁"), "=", _sym("g₁") ** 2)))
_BETAS = Hyperparameter("betas", (sp.Rational(9, 10), sp.Rational(999, 1000)), pair(unit_interval),
                        "Adam's averaging factors β₁ (of g) and β₂ (of g²)", (B1, B2))
_MOMENTS = (State("m", "m", "first moment (average of g)"), State("v", "v", "second moment (average of g²)"))

register(Optimizer("adam", "Adam", "Adam", sp.Rational(1, 1000), _adam_rule,
                   hyperparameters=(_BETAS, EPSILON), state=_MOMENTS,
                   remarks=(_BIAS,), first_remarks=(_BIAS_AT_1,)))
register(Optimizer("adamw", "AdamW", "AdamW", sp.Rational(1, 1000),
                   lambda h: _adam_rule(h, decoupled=True), hyperparameters=(_BETAS, EPSILON),
                   state=_MOMENTS, decay="decoupled", remarks=(_BIAS,), first_remarks=(_BIAS_AT_1,)))


def _adagrad_rule(h):
    """torch.optim.Adagrad (lr_decay 0, initial accumulator 0)."""
    return (Line("G", _add(before("G"), G_T ** 2)),
            Line("θ", _add(THETA_PREV, _mul(-1, ETA, _div(G_T, _add(_sqrt(now("G")), EPS))))))


register(Optimizer("adagrad", "Adagrad", "Adagrad", sp.Rational(1, 100), _adagrad_rule,
                   hyperparameters=(Hyperparameter("eps", sp.Rational(1, 10 ** 10), nonnegative,
                                                   EPSILON.doc, (EPS,), "ε"),),
                   state=(State("sum", "G", "sum of g²"),)))


def _adadelta_rule(h):
    """torch.optim.Adadelta: a running average of g², the step scaled by the root of the running
    average of the squared steps (so its units are the parameter's), lr 1 by default."""
    step = _mul(_div(_sqrt(_add(before("u"), EPS)), _sqrt(_add(now("s"), EPS))), G_T)
    return (Line("s", _average(RHO, before("s"), G_T ** 2)),
            Line("Δ", step),
            Line("u", _average(RHO, before("u"), now("Δ") ** 2)),
            Line("θ", _add(THETA_PREV, _mul(-1, ETA, now("Δ")))))


register(Optimizer("adadelta", "Adadelta", "Adadelta", S.One, _adadelta_rule,
                   hyperparameters=(Hyperparameter("rho", sp.Rational(9, 10), unit_interval,
                                                   "Adadelta's averaging factor ρ", (RHO,), "ρ"),
                                    Hyperparameter("eps", sp.Rational(1, 10 ** 6), nonnegative,
                                                   "ε inside both roots", (EPS,), "ε")),
                   state=(State("square_avg", "s", "running average of g²"),
                          State("acc_delta", "u", "running average of the squared steps"))))
