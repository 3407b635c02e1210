"""Builders for the standard examples. Each writes staged equations with the names of the design
card and hands them to the engine, so a builder's example is derived exactly like user text."""
from __future__ import annotations

from .engine import Graph
from .errors import DeriveError
from .example import Example
from .functions import activation as _activation
from .losses import loss as _loss
from .parser import parse_equations


def _activation_call(name: str, arg: str, alpha=None) -> str:
    spec = _activation(name)
    if alpha is not None and spec.arity == 2:
        return f"{name}({arg}, {alpha})"
    return f"{name}({arg})"


def _as_list(value, name: str):
    if isinstance(value, (list, tuple)):
        if not value:
            raise DeriveError(f"{name}: the list is empty")
        return list(value)
    return None


def neuron(x=None, w=None, b=None, y=None, activation: str = "relu", loss: str = "squared_error",
           lr=None, alpha=None, title: str | None = None) -> Example:
    """One neuron: ``z = w*x + b``, ``a = activation(z)``, ``L = loss(a, y)``.

    With list inputs ``x=[…]`` and ``w=[…]`` the inputs are ``x1, x2 …`` and ``w1, w2 …``.
    Leave every value out for a symbolic derivation.

    >>> neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1).grad("w")
    8
    """
    _loss(loss)
    xs, ws = _as_list(x, "x"), _as_list(w, "w")
    values = {}
    if xs is not None or ws is not None:
        if xs is None or ws is None or len(xs) != len(ws):
            raise DeriveError("x and w must be lists of the same length for a neuron with several "
                              f"inputs (got x={x!r}, w={w!r})")
        terms = [f"w{i}*x{i}" for i in range(1, len(xs) + 1)]
        for i, (xi, wi) in enumerate(zip(xs, ws), start=1):
            values[f"x{i}"], values[f"w{i}"] = xi, wi
    else:
        terms = ["w*x"]
        values["x"], values["w"] = x, w
    values["b"], values["y"] = b, y
    text = "\n".join([
        f"z = {' + '.join(terms)} + b",
        f"a = {_activation_call(activation, 'z', alpha)}",
        f"L = {_loss(loss).equation(['a'], ['y'])}",
    ])
    given = {k: v for k, v in values.items() if v is not None}
    if given and len(given) != len(values):
        missing = [k for k, v in values.items() if v is None]
        raise DeriveError(f"neuron: missing value(s) for {', '.join(missing)} "
                          f"(give all of x, w, b, y, or none for a symbolic derivation)")
    params = [k for k in values if k.startswith("w")] + ["b"]
    meta = {"activation": activation, "loss": loss, "focus": params[0]}
    if alpha is not None:
        meta["alpha"] = alpha
    spec = _activation(activation)
    shown = spec.unicode if spec.unicode.isascii() else spec.name
    title = title or f"Backpropagation through one {shown} neuron"
    return Example(Graph(parse_equations(text), inputs=list(values)), given or None, params, lr,
                   title, "neuron", meta)
