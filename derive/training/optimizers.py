"""The optimizer registry: one entry per optimizer, with PyTorch's exact update rules
(``torch.optim``), written once over exact numbers.

Every entry holds its update (one parameter, one step), the names of its state, the rule as printable
formulas, and the rule again with step 1's numbers for the document. The update is the same
arithmetic PyTorch does in float64, here on exact numbers; where PyTorch rearranges a formula for
speed the result is mathematically identical (Adam divides √v by √(1 − β₂ᵗ) instead of taking
√v̂). Weight decay is L2 added to the gradient (g + λθ) for every optimizer but AdamW, which
decays the parameter itself (θ(1 − ηλ)) before its Adam step.

>>> OPTIMIZERS["adam"].title
'Adam'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp
from sympy import S

import mpmath

from ..core.approx import DIGITS, Undefined, approx
from ..core.derivation import Chain, Subst, Value
from ..core.engine import Quantity
from ..core.numbers import to_exact
from ..core.errors import InvalidValue


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


@dataclass(frozen=True)
class Hyper:
    """The hyperparameters of a run, exact (``lr`` per parameter)."""

    lr: dict
    momentum: sp.Expr = S.Zero
    nesterov: bool = False
    alpha: sp.Expr = sp.Rational(99, 100)
    beta1: sp.Expr = sp.Rational(9, 10)
    beta2: sp.Expr = sp.Rational(999, 1000)
    eps: sp.Expr = sp.Rational(1, 10 ** 8)
    weight_decay: sp.Expr = S.Zero
    clip_norm: sp.Expr | None = None
    clip_value: sp.Expr | None = None


# Symbols of the rules. Their names are Unicode, which the text printer shows as written; LaTeX
# gets them through ``LATEX_NAMES`` (the printer's ``names`` setting).
def rule_symbol(name: str) -> sp.Symbol:
    """A symbol of the update rules, by its Unicode name (``θₜ₋₁``, ``m̂₁``); LaTeX from
    ``LATEX_NAMES``.

    >>> from derive.rendering.printing import printer_for
    >>> print(printer_for("latex", names=LATEX_NAMES).doprint(rule_symbol("m̂ₜ₋₁")))
    \\hat{m}_{t-1}
    """
    return sp.Symbol(name, real=True)


_sym = rule_symbol


ETA, MU, ALPHA, B1, B2, EPS, LAM, THETA = (_sym(n) for n in ("η", "μ", "α", "β₁", "β₂", "ε", "λ", "θ"))
_SUB = str.maketrans("0123456789ₜ₋₁", "0123456789t-1")
_LATEX_BASE = {"η": r"\eta", "μ": r"\mu", "α": r"\alpha", "β": r"\beta", "ε": r"\varepsilon",
               "λ": r"\lambda", "θ": r"\theta", "m̂": r"\hat{m}", "v̂": r"\hat{v}"}
_SUBSCRIPTS = {"₀": "0", "₁": "1", "₂": "2", "₃": "3", "ₜ": "t", "₋": "-"}


def latex_of(name: str) -> str:
    """``m̂ₜ₋₁`` -> ``\\hat{m}_{t-1}``: LaTeX for the Unicode names of the rules."""
    cut = len(name)
    while cut > 0 and name[cut - 1] in _SUBSCRIPTS:
        cut -= 1
    base, sub = name[:cut], "".join(_SUBSCRIPTS[c] for c in name[cut:])
    head = _LATEX_BASE.get(base, base)
    return f"{head}_{{{sub}}}" if sub else head


LATEX_NAMES = {n: latex_of(n) for n in
               ["η", "μ", "α", "β₁", "β₂", "ε", "λ", "θ"]
               + [base + sub for base in ("g", "d", "θ", "m", "v", "s", "G", "m̂", "v̂")
                  for sub in ("₀", "₁", "ₜ", "ₜ₋₁")]}


def _add(*terms):
    return sp.Add(*terms, evaluate=False)


def _mul(*factors):
    return sp.Mul(*factors, evaluate=False)


def _div(a, b):
    return sp.Mul(a, sp.Pow(b, -1, evaluate=False), evaluate=False)


def _sqrt(a):
    return sp.Pow(a, S.Half, evaluate=False)


@dataclass(frozen=True)
class Worked:
    """One line of the rule written out with step 1's numbers: ``lhs = rule = numbers = value``."""

    lhs: object
    rule: sp.Expr
    values: dict  # symbol -> number, substituted into ``rule``
    result: sp.Expr

    def chain(self):
        shown = tuple(sorted(((s, v.value if isinstance(v, Exact) else v) for s, v in self.values.items()),
                             key=lambda sv: sv[0].name))
        return Chain(self.lhs, "=", self.rule, "=", Subst(self.rule, shown), "=", Value(self.result))


@dataclass(frozen=True)
class Optimizer:
    """One registry entry. ``update(p, g, state, h, lr, t, settle)`` -> (new p, new state,
    worked lines); ``g`` already holds L2 weight decay unless ``decoupled_decay``; ``settle(label,
    expr)`` makes each new number exact and atomic."""

    name: str
    title: str
    torch: str  # the torch.optim class
    default_lr: sp.Expr  # PyTorch's default learning rate
    update: Callable
    rule: Callable  # Hyper -> [(lhs symbol, SymPy rule)] printable lines
    state_names: Callable  # Hyper -> [(key, display name, description)]
    decoupled_decay: bool = False


OPTIMIZERS: dict[str, Optimizer] = {}


def register(opt: Optimizer) -> Optimizer:
    OPTIMIZERS[opt.name] = opt
    return opt


THETA_T, THETA_PREV, G_T = _sym("θₜ"), _sym("θₜ₋₁"), _sym("gₜ")


# --- SGD, momentum, Nesterov (torch.optim.SGD, dampening 0) ------------------------------------


def _sgd_update(p, g, state, h, lr, t, settle, name):
    worked, p, g = [], Exact(p), Exact(g)
    if h.momentum == 0:
        new = settle(f"{name}_new", p - lr * g)
        if t == 1:  # the worked lines are shown for update 1 only
            worked.append(Worked(_sym(f"{name}_new"), _add(_sym(name), _mul(-1, ETA, _sym("g₁"))),
                                 {_sym(name): p, ETA: lr, _sym("g₁"): g}, new))
        return new, {}, worked
    old = state.get("velocity", S.Zero)
    velocity = settle(f"v[{name}]", h.momentum * Exact(old) + g)  # torch: the first buffer is g itself
    if t == 1:  # the worked lines are shown for update 1 only
        worked.append(Worked(_sym("v₁"), _add(_mul(MU, _sym("v₀")), _sym("g₁")),
                             {MU: h.momentum, _sym("v₀"): old, _sym("g₁"): g}, velocity))
    if h.nesterov:
        direction = settle(f"d[{name}]", g + h.momentum * velocity)
        if t == 1:  # the worked lines are shown for update 1 only
            worked.append(Worked(_sym("d₁"), _add(_sym("g₁"), _mul(MU, _sym("v₁"))),
                                 {MU: h.momentum, _sym("v₁"): velocity, _sym("g₁"): g}, direction))
        step_symbol = _sym("d₁")
    else:
        direction, step_symbol = velocity, _sym("v₁")
    new = settle(f"{name}_new", p - lr * direction)
    if t == 1:  # the worked lines are shown for update 1 only
        worked.append(Worked(_sym(f"{name}_new"), _add(_sym(name), _mul(-1, ETA, step_symbol)),
                             {_sym(name): p, ETA: lr, step_symbol: direction}, new))
    return new, {"velocity": velocity}, worked


def _sgd_rule(h):
    if h.momentum == 0:
        return [(THETA_T, _add(THETA_PREV, _mul(-1, ETA, G_T)))]
    v_t, v_prev = _sym("vₜ"), _sym("vₜ₋₁")
    lines = [(v_t, _add(_mul(MU, v_prev), G_T))]
    if h.nesterov:
        lines.append((THETA_T, _add(THETA_PREV, _mul(-1, ETA, _add(G_T, _mul(MU, v_t))))))
    else:
        lines.append((THETA_T, _add(THETA_PREV, _mul(-1, ETA, v_t))))
    return lines


def _sgd_state(h):
    return [("velocity", "v", "velocity (momentum buffer)")] if h.momentum != 0 else []


register(Optimizer("sgd", "SGD", "SGD", sp.Rational(1, 1000), _sgd_update,
                   _sgd_rule, _sgd_state))
register(Optimizer("momentum", "SGD with momentum", "SGD", sp.Rational(1, 1000), _sgd_update,
                   _sgd_rule, _sgd_state))
register(Optimizer("nesterov", "SGD with Nesterov momentum", "SGD", sp.Rational(1, 1000),
                   _sgd_update, _sgd_rule, _sgd_state))


# --- RMSprop (torch.optim.RMSprop, not centered) ------------------------------------------------


def _rmsprop_update(p, g, state, h, lr, t, settle, name):
    p, g = Exact(p), Exact(g)
    s0 = state.get("square_avg", S.Zero)
    s1 = settle(f"s[{name}]", h.alpha * Exact(s0) + (1 - h.alpha) * g ** 2)
    worked = []
    if t == 1:  # the worked lines are shown for update 1 only
        worked += [Worked(_sym("s₁"), _add(_mul(ALPHA, _sym("s₀")), _mul(_add(1, _mul(-1, ALPHA)), _sym("g₁") ** 2)),
                         {ALPHA: h.alpha, _sym("s₀"): s0, _sym("g₁"): g}, s1)]
    scaled = settle(f"g/rms[{name}]", g / (Exact(s1).sqrt() + h.eps))
    new_state = {"square_avg": s1}
    ratio = _div(_sym("g₁"), _add(_sqrt(_sym("s₁")), EPS))
    if h.momentum != 0:
        b0 = state.get("velocity", S.Zero)
        b1 = settle(f"v[{name}]", h.momentum * Exact(b0) + scaled)
        if t == 1:  # the worked lines are shown for update 1 only
            worked.append(Worked(_sym("v₁"), _add(_mul(MU, _sym("v₀")), ratio),
                                 {MU: h.momentum, _sym("v₀"): b0, _sym("g₁"): g, _sym("s₁"): s1, EPS: h.eps}, b1))
        new = settle(f"{name}_new", p - lr * b1)
        if t == 1:  # the worked lines are shown for update 1 only
            worked.append(Worked(_sym(f"{name}_new"), _add(_sym(name), _mul(-1, ETA, _sym("v₁"))),
                                 {_sym(name): p, ETA: lr, _sym("v₁"): b1}, new))
        new_state["velocity"] = b1
        return new, new_state, worked
    new = settle(f"{name}_new", p - lr * scaled)
    if t == 1:  # the worked lines are shown for update 1 only
        worked.append(Worked(_sym(f"{name}_new"), _add(_sym(name), _mul(-1, ETA, ratio)),
                             {_sym(name): p, ETA: lr, _sym("g₁"): g, _sym("s₁"): s1, EPS: h.eps}, new))
    return new, new_state, worked


def _rmsprop_rule(h):
    s_t, s_prev = _sym("sₜ"), _sym("sₜ₋₁")
    lines = [(s_t, _add(_mul(ALPHA, s_prev), _mul(_add(1, _mul(-1, ALPHA)), G_T ** 2)))]
    ratio = _div(G_T, _add(_sqrt(s_t), EPS))
    if h.momentum != 0:
        v_t = _sym("vₜ")
        lines.append((v_t, _add(_mul(MU, _sym("vₜ₋₁")), ratio)))
        lines.append((THETA_T, _add(THETA_PREV, _mul(-1, ETA, v_t))))
    else:
        lines.append((THETA_T, _add(THETA_PREV, _mul(-1, ETA, ratio))))
    return lines


def _rmsprop_state(h):
    names = [("square_avg", "s", "running average of g²")]
    if h.momentum != 0:
        names.append(("velocity", "v", "velocity (momentum buffer)"))
    return names


register(Optimizer("rmsprop", "RMSprop", "RMSprop", sp.Rational(1, 100), _rmsprop_update,
                   _rmsprop_rule, _rmsprop_state))


# --- Adam and AdamW -------------------------------------------------------------------------


def _adam_update(p, g, state, h, lr, t, settle, name, decay_first=False):
    worked, p, g = [], Exact(p), Exact(g)
    if decay_first:  # AdamW: θ ← θ(1 − ηλ) before the Adam step (decoupled weight decay)
        decayed = settle(f"{name}_decayed", p * (1 - lr * h.weight_decay))
        if t == 1:  # the worked lines are shown for update 1 only
            worked.append(Worked(_sym(f"{name}_decayed"), _mul(_sym(name), _add(1, _mul(-1, ETA, LAM))),
                                 {_sym(name): p, ETA: lr, LAM: h.weight_decay}, decayed))
        p = Exact(decayed)
    m0, v0 = state.get("m", S.Zero), state.get("v", S.Zero)
    m1 = settle(f"m[{name}]", h.beta1 * Exact(m0) + (1 - h.beta1) * g)
    v1 = settle(f"v[{name}]", h.beta2 * Exact(v0) + (1 - h.beta2) * g ** 2)
    m_hat = settle(f"m̂[{name}]", Exact(m1) / (1 - h.beta1 ** t))
    v_hat = settle(f"v̂[{name}]", Exact(v1) / (1 - h.beta2 ** t))
    new = settle(f"{name}_new", p - lr * Exact(m_hat) / (Exact(v_hat).sqrt() + h.eps))
    g1, ms, vs, mh, vh = (_sym(n) for n in ("g₁", "m₁", "v₁", "m̂₁", "v̂₁"))
    old = _sym(f"{name}_decayed") if decay_first else _sym(name)
    if t == 1:  # the worked lines are shown for update 1 only
        worked += [
            Worked(ms, _add(_mul(B1, _sym("m₀")), _mul(_add(1, _mul(-1, B1)), g1)),
                   {B1: h.beta1, _sym("m₀"): m0, g1: g}, m1),
            Worked(_sym("v₁"), _add(_mul(B2, _sym("v₀")), _mul(_add(1, _mul(-1, B2)), g1 ** 2)),
                   {B2: h.beta2, _sym("v₀"): v0, g1: g}, v1),
            Worked(mh, _div(ms, _add(1, _mul(-1, sp.Pow(B1, t, evaluate=False)))), {ms: m1, B1: h.beta1}, m_hat),
            Worked(vh, _div(vs, _add(1, _mul(-1, sp.Pow(B2, t, evaluate=False)))), {vs: v1, B2: h.beta2}, v_hat),
            Worked(_sym(f"{name}_new"), _add(old, _mul(-1, ETA, _div(mh, _add(_sqrt(vh), EPS)))),
                   {old: p, ETA: lr, mh: m_hat, vh: v_hat, EPS: h.eps}, new),
        ]
    return new, {"m": m1, "v": v1}, worked


def _adamw_update(p, g, state, h, lr, t, settle, name):
    return _adam_update(p, g, state, h, lr, t, settle, name, decay_first=True)


def _adam_rule(h, decoupled=False):
    m_t, v_t, mh, vh, t = _sym("mₜ"), _sym("vₜ"), _sym("m̂ₜ"), _sym("v̂ₜ"), _sym("t")
    lines = [
        (m_t, _add(_mul(B1, _sym("mₜ₋₁")), _mul(_add(1, _mul(-1, B1)), G_T))),
        (v_t, _add(_mul(B2, _sym("vₜ₋₁")), _mul(_add(1, _mul(-1, B2)), G_T ** 2))),
        (mh, _div(m_t, _add(1, _mul(-1, sp.Pow(B1, t, evaluate=False))))),
        (vh, _div(v_t, _add(1, _mul(-1, sp.Pow(B2, t, evaluate=False))))),
    ]
    start = _mul(THETA_PREV, _add(1, _mul(-1, ETA, LAM))) if decoupled else THETA_PREV
    lines.append((THETA_T, _add(start, _mul(-1, ETA, _div(mh, _add(_sqrt(vh), EPS))))))
    return lines


def _adam_state(h):
    return [("m", "m", "first moment (average of g)"), ("v", "v", "second moment (average of g²)")]


register(Optimizer("adam", "Adam", "Adam", sp.Rational(1, 1000), _adam_update, _adam_rule,
                   _adam_state))
register(Optimizer("adamw", "AdamW", "AdamW", sp.Rational(1, 1000), _adamw_update,
                   lambda h: _adam_rule(h, decoupled=True), _adam_state, decoupled_decay=True))


# --- Adagrad (torch.optim.Adagrad, lr_decay 0, initial accumulator 0) ---------------------------


def _adagrad_update(p, g, state, h, lr, t, settle, name):
    p, g = Exact(p), Exact(g)
    G0 = state.get("sum", S.Zero)
    G1 = settle(f"G[{name}]", Exact(G0) + g ** 2)
    new = settle(f"{name}_new", p - lr * g / (Exact(G1).sqrt() + h.eps))
    g1, Gs = _sym("g₁"), _sym("G₁")
    worked = []
    if t == 1:  # the worked lines are shown for update 1 only
        worked += [Worked(Gs, _add(_sym("G₀"), g1 ** 2), {_sym("G₀"): G0, g1: g}, G1),
                  Worked(_sym(f"{name}_new"), _add(_sym(name), _mul(-1, ETA, _div(g1, _add(_sqrt(Gs), EPS)))),
                         {_sym(name): p, ETA: lr, g1: g, Gs: G1, EPS: h.eps}, new)]
    return new, {"sum": G1}, worked


def _adagrad_rule(h):
    G_t = _sym("Gₜ")
    return [(G_t, _add(_sym("Gₜ₋₁"), G_T ** 2)),
            (THETA_T, _add(THETA_PREV, _mul(-1, ETA, _div(G_T, _add(_sqrt(G_t), EPS)))))]


register(Optimizer("adagrad", "Adagrad", "Adagrad", sp.Rational(1, 100), _adagrad_update,
                   _adagrad_rule, lambda h: [("sum", "G", "sum of g²")]))
