"""PyTorch's activations as derive writes them: one entry per activation, shared by the module
(``nn.Softplus(beta=2)``), the function (``F.softplus(x, beta=2)``, ``torch.relu``) and the
method (``x.relu()``). Each entry lists every setting it reads, with PyTorch's default, and
writes the equation for given settings — or refuses a setting it cannot model by name.

An entry's ``mlp`` is the ``mlp`` builder's activation with the same math at the default
settings: a Sequential of Linear layers and such activations is the example ``mlp`` builds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .net import Use, number


@dataclass(frozen=True)
class Activation:
    """``write(settings, use)`` -> the equation's right side with ``{0}`` for the input (and
    the name of the operation, for a loss that must know: "softmax")."""

    write: Callable
    settings: dict  # setting -> PyTorch's default
    mlp: str | None = None
    last: str = ""


def _plain(name: str):
    return lambda s, use: f"{name}({{0}})"


def _plain_form(form: str):
    """An activation written with the registry's functions (Mish: z·tanh(softplus(z)))."""
    return lambda s, use: form


def _argument(use: Use, prefix: str, v) -> str:
    """A function's numeric argument: the number, or a negative one as a named constant (an
    argument must be a number or a name)."""
    if float(v) >= 0:
        return number(v)
    return use.net.given(use.net.fresh(prefix), float(v))


def _leaky_relu(s, use):
    return f"leaky_relu({{0}}, {_argument(use, 'alpha', s['negative_slope'])})"


def _elu(s, use):
    return f"elu({{0}}, {_argument(use, 'alpha', s['alpha'])})"


def _softplus(s, use):
    """PyTorch's softplus is (1/β)·log(1 + e^(βz)), and z itself where βz > threshold (a jump:
    at threshold 1 it drops by 0.31). derive writes the smooth form, so it refuses when an entry
    of the input lies past the threshold — at the given values: the equation language has no
    thresholded softplus, so a training run that carries an input past it is not re-checked."""
    beta, threshold = float(s["beta"]), float(s["threshold"])
    z = use.torch_in(0)
    over = (z * beta > threshold)
    if bool(over.any()):
        top = float(z.max())
        jump = math.log1p(math.exp(-threshold)) / beta
        count = int(over.sum())
        raise use.refuse(
            f"threshold={number(threshold)} makes PyTorch's softplus the identity where βz > "
            f"{number(threshold)}, as at {count} {'entry' if count == 1 else 'entries'} of its "
            f"input (the largest z = {top:.6g}; a jump of {jump:.3g} at the threshold); derive's "
            f"softplus is the smooth (1/β)·log(1 + e^(βz)) everywhere",
            f"raise threshold above {top * beta:.6g} (βz's largest) so that both agree")
    if beta == 1:
        return "softplus({0})"
    b = number(beta)
    return f"softplus({b}*{{0}})/{b}"


def _celu(s, use):
    """CELU_α(z) = α·ELU(z/α): max(0, z) + min(0, α(e^(z/α) − 1))."""
    if float(s["alpha"]) == 1:
        return "elu({0})"
    a = _argument(use, "alpha", s["alpha"])
    return f"{a}*elu({{0}}/{a})"


# SELU's constants, as PyTorch writes them (float64 holds them to 17 digits)
SELU_ALPHA, SELU_SCALE = "1.6732632423543772848170429916717", "1.0507009873554804934193349852946"


def _gelu(s, use):
    approximate = s["approximate"]
    if approximate == "none":
        return "gelu({0})"
    if approximate == "tanh":
        # PyTorch's tanh form: ½z(1 + tanh(√(2/π)(z + 0.044715 z³))), √(2/π) as the float64 it uses
        kappa = use.net.given(use.net.fresh("kappa"), math.sqrt(2 / math.pi))
        return f"0.5*{{0}}*(1 + tanh({kappa}*({{0}} + 0.044715*{{0}}**3)))"
    raise use.refuse(f"approximate={approximate!r} is not one of GELU's forms ('none', 'tanh')")


def _softmax_over_features(name: str):
    def write(s, use):
        flow = use.flow(0)
        dim = s["dim"]
        ndim = len(flow.shape)
        if dim is None:  # PyTorch's legacy choice: dim 0 for 0-, 1- and 3-d inputs, else 1
            dim = 0 if ndim in (0, 1, 3) else 1
        dim = dim + ndim if dim < 0 else dim
        feature_axis = 1 if flow.batched else 0
        if flow.batched and ndim == 2 and dim == 0 and flow.kind == "data":
            # over the batch: along each row of derive's columns (down each column of its rows)
            return f"{name}({{0}}, axis={0 if use.net.rows else 1})"
        if dim != feature_axis or len(flow.features) != 1 or flow.kind != "data":
            raise use.refuse(
                f"dim={s['dim']} takes the {name} over axis {dim} of a {ndim}-d input of shape "
                f"{tuple(flow.shape)}; derive's {name} is over the features of each example",
                f"use dim={feature_axis} (or dim=-1) on a (batch, features) input")
        return f"{name}({{0}})"
    return write


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(_plain("relu"), {"inplace": False}, "relu"),
    "sigmoid": Activation(_plain("sigmoid"), {}, "sigmoid"),
    "tanh": Activation(_plain("tanh"), {}, "tanh"),
    "silu": Activation(_plain("silu"), {"inplace": False}, "silu"),
    "identity": Activation(lambda s, use: "{0}", {}, "identity"),
    "leaky_relu": Activation(_leaky_relu, {"negative_slope": 0.01, "inplace": False}, "leaky_relu"),
    "elu": Activation(_elu, {"alpha": 1.0, "inplace": False}, "elu"),
    "softplus": Activation(_softplus, {"beta": 1.0, "threshold": 20.0}, "softplus"),
    "gelu": Activation(_gelu, {"approximate": "none"}, "gelu"),
    "softmax": Activation(_softmax_over_features("softmax"), {"dim": None}, "softmax", "softmax"),
    "log_softmax": Activation(_softmax_over_features("log_softmax"), {"dim": None}, None, "log_softmax"),
    "selu": Activation(lambda s, use: f"{SELU_SCALE}*elu({{0}}, {SELU_ALPHA})", {"inplace": False}),
    "celu": Activation(_celu, {"alpha": 1.0, "inplace": False}),
    "logsigmoid": Activation(_plain_form("log(sigmoid({0}))"), {}),
    "softsign": Activation(_plain_form("{0}/(1 + abs({0}))"), {}),
    "tanhshrink": Activation(_plain_form("{0} - tanh({0})"), {}),
    "mish": Activation(_plain_form("{0}*tanh(softplus({0}))"), {"inplace": False}),
}

# nn.Module class -> its activation (its settings are the module's attributes of those names)
ACTIVATION_MODULES = {
    "ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "SiLU": "silu", "Identity": "identity",
    "LeakyReLU": "leaky_relu", "ELU": "elu", "Softplus": "softplus", "GELU": "gelu",
    "Softmax": "softmax", "LogSoftmax": "log_softmax", "SELU": "selu", "CELU": "celu",
    "LogSigmoid": "logsigmoid", "Softsign": "softsign", "Tanhshrink": "tanhshrink", "Mish": "mish",
}


def module_settings(name: str, module) -> dict:
    return {k: getattr(module, k) for k in ACTIVATIONS[name].settings}


def is_mlp_activation(name: str, settings: dict) -> bool:
    """True when the mlp builder's activation of this entry has exactly these settings (every
    setting at PyTorch's default but those that change no number, like inplace)."""
    entry = ACTIVATIONS[name]
    return entry.mlp is not None and all(
        k == "inplace" or (k == "dim" and v in (None, 1, -1)) or v == entry.settings[k]
        for k, v in settings.items())


def write_activation(name: str, settings: dict, use: Use):
    """The activation's node: ``a{l} = f(input)``, checked against PyTorch's value; the
    identity writes nothing (its output is its input)."""
    entry = ACTIVATIONS[name]
    flow = use.flow(0)
    text = entry.write(settings, use)
    if text == "{0}":
        return flow
    node = use.net.fresh("a")
    use.net.equation(node, text.format(flow.name), use)
    return flow.derived(node, last=entry.last if "axis" not in text else "")
