"""SymPy classes for the registry functions beyond the activations: the indicator 𝟙[·], n-ary
``max``/``min``, ``where``, ``logsumexp`` and the losses callable in equations. Each class carries
its derivative rule next to its definition (``fdiff``); ``derive.core.functions`` registers them.

Conventions where a derivative does not exist are chosen to agree with PyTorch, so a document, its
justification and the exported script give the same number:

* ``max``/``min`` at a tie of k arguments: each tied argument gets 1/k of the gradient
  (``torch.amax``/``torch.amin``, and ``torch.maximum``/``torch.minimum`` for two arguments).
* ``where(c, a, b)``: the gradient flows into the chosen branch only (``torch.where``).
* ``hinge(y, s)`` at the margin y·s = 1: the linear piece's gradient, −y (as PyTorch's
  ``hinge_embedding_loss`` and scikit-learn's hinge loss).
* ``absolute_error`` at a = y: gradient 0 (sign(0) = 0, ``torch.abs``).
"""
from __future__ import annotations

import mpmath
import sympy as sp
from sympy import S


class Indicator(sp.Function):
    """𝟙[condition]: 1 where the condition holds, else 0 (the gate of ReLU and friends)."""

    numeric = staticmethod(lambda c: c)  # the relation already evaluates to 1 or 0
    nargs = 1

    @classmethod
    def eval(cls, condition):
        if condition is sp.true:
            return S.One
        if condition is sp.false:
            return S.Zero
        return None

    def fdiff(self, argindex=1):
        return S.Zero  # piecewise constant: zero derivative away from the switch point

    def _eval_is_extended_real(self):
        return True


def _tie_share(args, i: int, wins) -> sp.Expr:
    """∂ max(args)/∂ args[i] (``wins`` = GreaterThan) or min (LessThan): 1 when args[i] is the
    extreme, shared equally with the arguments that tie with it —
    𝟙[a_i ≥ a_j for all j ≠ i] / (1 + Σ_{j ≠ i} 𝟙[a_j = a_i])."""
    mine = args[i]
    others = [a for j, a in enumerate(args) if j != i]
    gate = Indicator(sp.And(*[wins(mine, a) for a in others]))
    ties = [Indicator(sp.Eq(a, mine)) for a in others]
    return gate / (1 + sp.Add(*ties))


def _extreme(args, better):
    """The largest (``better`` = positive difference) of numeric args, first one at a tie."""
    best = args[0]
    for a in args[1:]:
        if better(a - best):
            best = a
    return best


class Maximum(sp.Function):
    """max(a₁, …, aₙ); at a tie the tied arguments share the gradient equally (as torch.amax)."""

    numeric = staticmethod(lambda *a: max(a))

    @classmethod
    def eval(cls, *args):
        if all(a.is_number for a in args):
            return _extreme(args, lambda d: bool(d.is_extended_positive))
        return None

    def fdiff(self, argindex=1):
        return _tie_share(self.args, argindex - 1, sp.GreaterThan)


class Minimum(sp.Function):
    """min(a₁, …, aₙ); at a tie the tied arguments share the gradient equally (as torch.amin)."""

    numeric = staticmethod(lambda *a: min(a))

    @classmethod
    def eval(cls, *args):
        if all(a.is_number for a in args):
            return _extreme(args, lambda d: bool(d.is_extended_negative))
        return None

    def fdiff(self, argindex=1):
        return _tie_share(self.args, argindex - 1, sp.LessThan)


class PoolMax(sp.Function):
    """max(a₁, …, aₙ) as PyTorch's max pooling computes it: at a tie the first maximal argument
    gets the whole gradient (F.max_pool1d routes it to one index, the first)."""

    numeric = staticmethod(lambda *a: max(a))

    @classmethod
    def eval(cls, *args):
        if all(a.is_number for a in args):
            return _extreme(args, lambda d: bool(d.is_extended_positive))
        return None

    def fdiff(self, argindex=1):
        # 𝟙[a_i > a_j for the earlier j, a_i ≥ a_j for the later j]: the first maximum wins
        i, args = argindex - 1, self.args
        return Indicator(sp.And(*[sp.StrictGreaterThan(args[i], a) for a in args[:i]],
                                *[sp.GreaterThan(args[i], a) for a in args[i + 1:]]))


class Where(sp.Function):
    """where(condition, a, b): a where the condition holds, else b (as torch.where)."""

    nargs = 3

    @classmethod
    def eval(cls, condition, a, b):
        if condition is sp.true:
            return a
        if condition is sp.false:
            return b
        return None

    def _eval_derivative(self, s):
        # The condition only switches between the branches: it contributes nothing to the
        # derivative (0 almost everywhere, like ReLU's gate); each branch gets its own gate.
        condition, a, b = self.args
        return Indicator(condition) * a.diff(s) + Indicator(~condition) * b.diff(s)

    def _eval_is_extended_real(self):
        return self.args[1].is_extended_real and self.args[2].is_extended_real


class LogSumExp(sp.Function):
    """log(e^a₁ + … + e^aₙ), the smooth maximum; its gradient is the softmax."""

    numeric = staticmethod(lambda *a: mpmath.log(mpmath.fsum(mpmath.exp(v) for v in a)))

    @classmethod
    def eval(cls, *args):
        if all(a.is_number for a in args):
            return sp.log(sp.Add(*[sp.exp(a) for a in args]))
        return None

    def fdiff(self, argindex=1):
        return sp.exp(self.args[argindex - 1]) / sp.Add(*[sp.exp(a) for a in self.args])

    def _eval_is_extended_real(self):
        return all(a.is_extended_real for a in self.args) or None


class NormalCdf(sp.Function):
    """Φ(z), the standard normal distribution function (GELU(z) = z·Φ(z))."""

    numeric = staticmethod(lambda z: mpmath.ncdf(z))
    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_number:
            return (1 + sp.erf(z / sp.sqrt(2))) / 2
        return None

    def fdiff(self, argindex=1):
        return NormalPdf(self.args[0])

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real


class NormalPdf(sp.Function):
    """φ(z) = e^(−z²/2)/√(2π), the standard normal density."""

    numeric = staticmethod(lambda z: mpmath.npdf(z))
    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_number:
            return sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi)
        return None

    def fdiff(self, argindex=1):
        return -self.args[0] * NormalPdf(self.args[0])

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real


# --- losses callable in equations ----------------------------------------------------------------
# A loss is a function of the prediction and the target (huber: of the residual and δ), with both
# partial derivatives written by hand in the form a textbook gives them.


def _registered(name: str):
    """The loss's formula from its registry entry (``derive.core.losses``: written once there)."""
    from .losses import LOSSES
    return LOSSES[name].formula


class _Loss(sp.Function):
    """A loss. Each subclass defines two static methods: ``formula(a, b)``, the loss itself (the
    registry entry's, for the losses of ``derive.core.losses``), and ``partials(a, b)``, its two
    derivatives as a textbook writes them (tests check them against the formula's)."""

    nargs = 2

    @classmethod
    def eval(cls, a, b):
        if a.is_number and b.is_number:
            return cls.formula(a, b)
        return None

    def fdiff(self, argindex=1):
        return self.partials(*self.args)[argindex - 1]

    def _eval_is_extended_real(self):
        return True

    def _eval_rewrite_as_elementary(self, a, b, **kwargs):
        return self.formula(a, b)


class SquaredError(_Loss):
    """(a − y)²."""

    loss_entry = "squared_error"
    formula = staticmethod(_registered("squared_error"))
    partials = staticmethod(lambda a, y: (2 * (a - y), -2 * (a - y)))


class HalfSquaredError(_Loss):
    """½(a − y)²."""

    loss_entry = "half_squared_error"
    formula = staticmethod(_registered("half_squared_error"))
    partials = staticmethod(lambda a, y: (a - y, -(a - y)))


class MeanSquaredError(_Loss):
    """(a − y)², the mean over a single output (``torch.nn.functional.mse_loss``)."""

    loss_entry = "mse"
    formula = staticmethod(_registered("mse"))
    partials = staticmethod(lambda a, y: (2 * (a - y), -2 * (a - y)))


class AbsoluteError(_Loss):
    """|a − y|; at a = y the gradient is 0 (sign(0) = 0, as torch.abs)."""

    loss_entry = "absolute_error"
    formula = staticmethod(_registered("absolute_error"))
    partials = staticmethod(lambda a, y: (sp.sign(a - y), -sp.sign(a - y)))


class BinaryCrossEntropy(_Loss):
    """−(y log a + (1 − y) log(1 − a)); ∂/∂a = (a − y)/(a(1 − a))."""

    loss_entry = "binary_cross_entropy"
    formula = staticmethod(_registered("binary_cross_entropy"))
    partials = staticmethod(lambda a, y: ((a - y) / (a * (1 - a)), sp.log(1 - a) - sp.log(a)))


class Huber(_Loss):
    """huber(r, δ) = ½r² for |r| ≤ δ, else δ(|r| − ½δ): quadratic near 0, linear beyond δ
    (``torch.nn.functional.huber_loss`` of the residual r). Its derivative is continuous."""

    formula = staticmethod(lambda r, d: Where(sp.LessThan(sp.Abs(r), d), r ** 2 / 2,
                                              d * (sp.Abs(r) - d / 2)))
    partials = staticmethod(lambda r, d: (Where(sp.LessThan(sp.Abs(r), d), r, d * sp.sign(r)),
                                          Where(sp.LessThan(sp.Abs(r), d), S.Zero, sp.Abs(r) - d)))


class Hinge(_Loss):
    """hinge(y, s) = max(0, 1 − y·s) for a label y = ±1 and a score s; at the margin y·s = 1 the
    gradient is the linear piece's (as torch's hinge_embedding_loss and scikit-learn's hinge)."""

    formula = staticmethod(lambda y, s: Maximum(S.Zero, 1 - y * s))
    partials = staticmethod(lambda y, s: (-s * Indicator(sp.LessThan(y * s, 1)),
                                          -y * Indicator(sp.LessThan(y * s, 1))))

