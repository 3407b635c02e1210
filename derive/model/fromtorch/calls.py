"""Functions and methods a traced ``forward`` calls, as equations: ``FUNCTIONS`` maps the
function object fx records (``operator.add``, ``torch.relu``, ``F.softplus``) to its writer,
``METHODS`` a tensor method's name (``x.relu()``, ``x.view(…)``). One entry each; anything else is
refused by name. Settings given as arguments (``F.softplus(x, beta=2)``) are read by the
function's own signature, so a positional and a keyword setting are the same.
"""
from __future__ import annotations

import inspect
import operator
from typing import Callable

from .activations import ACTIVATIONS, write_activation
from .modules import flatten_flow
from .net import Flow, Use, number

FUNCTIONS: dict = {}  # function object -> writer(use)
FUNCTION_RANKS: dict = {}  # function object -> dimensions of one example's input, where it says
METHODS: dict[str, Callable] = {}  # tensor method name -> writer(use)


def _settings(use: Use, fn, name: str, positional: tuple) -> dict:
    """The activation's settings from the call's arguments, by ``fn``'s signature (or, for a
    built-in without one, its ``positional`` parameter names), PyTorch's defaults where the call
    leaves them out; an argument the activation does not model is refused."""
    entry = ACTIVATIONS[name]
    try:
        parameters = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        parameters = list(positional)
    if len(use.args) > len(parameters):
        raise use.refuse(f"arguments {use.args[len(parameters):]!r} are not modelled")
    given = dict(zip(parameters[1:], use.args[1:]), **use.kwargs)
    settings = dict(entry.settings)
    for k, v in given.items():
        if k == "_stacklevel" or (k == "dtype" and v is None):
            continue  # a warning's depth; the output's dtype left as it is
        if k not in settings:
            raise use.refuse(f"argument {k}={v!r} is not modelled")
        settings[k] = v
    return settings


def _activation_function(fn, name: str, positional: tuple):
    def write(use: Use):
        return write_activation(name, _settings(use, fn, name, positional), use)
    return write


def _activation_method(name: str):
    def write(use: Use):
        settings = dict(ACTIVATIONS[name].settings)
        keys = [k for k in settings if k != "inplace"]
        for k, v in zip(keys, use.args[1:]):
            settings[k] = v
        for k, v in use.kwargs.items():
            if k not in settings:
                raise use.refuse(f"argument {k}={v!r} is not modelled")
            settings[k] = v
        if len(use.args) - 1 > len(keys):
            raise use.refuse(f"arguments {use.args[1:]!r} are not modelled")
        return write_activation(name, settings, use)
    return write


def _registered():
    import torch
    import torch.nn.functional as F
    # function, its activation, its parameters in order (for built-ins without a signature)
    x, by_dim = ("input",), ("input", "dim", "dtype")
    for fn, name, positional in (
            (torch.relu, "relu", x), (F.relu, "relu", x), (torch.sigmoid, "sigmoid", x),
            (F.sigmoid, "sigmoid", x), (torch.tanh, "tanh", x), (F.tanh, "tanh", x),
            (F.silu, "silu", x), (F.leaky_relu, "leaky_relu", x), (F.elu, "elu", x),
            (F.softplus, "softplus", ("input", "beta", "threshold")),
            (F.gelu, "gelu", ("input", "approximate")), (torch.softmax, "softmax", by_dim),
            (F.softmax, "softmax", by_dim), (torch.log_softmax, "log_softmax", by_dim),
            (F.log_softmax, "log_softmax", by_dim), (F.selu, "selu", x), (torch.selu, "selu", x),
            (F.celu, "celu", ("input", "alpha")), (F.logsigmoid, "logsigmoid", x),
            (F.softsign, "softsign", x), (F.tanhshrink, "tanhshrink", x), (F.mish, "mish", x)):
        FUNCTIONS[fn] = _activation_function(fn, name, positional)
    for name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax"):
        METHODS[name] = _activation_method(name)
    for fn, op in ((operator.add, "+"), (torch.add, "+"), (operator.sub, "-"), (torch.sub, "-"),
                   (operator.mul, "*"), (torch.mul, "*"), (operator.truediv, "/"), (torch.div, "/")):
        FUNCTIONS[fn] = _binary(op)
    for name, op in (("add", "+"), ("sub", "-"), ("mul", "*"), ("div", "/")):
        METHODS[name] = _binary(op)
    FUNCTIONS[operator.neg] = _negation
    FUNCTIONS[torch.neg] = _negation
    METHODS["neg"] = _negation
    FUNCTIONS[operator.getitem] = _getitem
    FUNCTIONS[getattr] = _attribute
    FUNCTIONS[torch.flatten] = _flatten_function
    METHODS["flatten"] = _flatten_function
    METHODS["view"] = METHODS["reshape"] = _reshape
    METHODS["size"] = _size
    METHODS["contiguous"] = lambda use: use.flow(0)
    FUNCTIONS[operator.matmul] = FUNCTIONS[torch.matmul] = _matmul
    FUNCTIONS[F.linear] = _linear
    FUNCTIONS[F.dropout] = _dropout_function
    FUNCTION_RANKS[F.max_pool2d] = FUNCTION_RANKS[F.avg_pool2d] = 3
    FUNCTIONS[F.max_pool2d] = _as_module(torch.nn.MaxPool2d, "maxpool2d", (
        "input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"))
    FUNCTIONS[F.avg_pool2d] = _as_module(torch.nn.AvgPool2d, "avgpool2d", (
        "input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
        "divisor_override"))


def _as_module(cls, name: str, parameters: tuple):
    """A function with a module's settings (F.max_pool2d and nn.MaxPool2d): the module's entry,
    on a module of the call's settings — one writer, one set of checks."""
    from .modules import MODULES

    def write(use: Use):
        given = dict(zip(parameters[1:], use.args[1:]), **use.kwargs)
        unknown = set(given) - set(parameters)
        if unknown or len(use.args) > len(parameters):
            raise use.refuse(f"arguments {sorted(unknown) or use.args[len(parameters):]} are not "
                             f"modelled")
        try:
            module = cls(**given)
        except (TypeError, ValueError) as reason:
            raise use.refuse(f"its arguments are not {cls.__name__}'s ({reason})") from None
        return MODULES[cls.__name__].write(Use(use.net, use.node, use.op, use.path, module,
                                               use.args[:1], {}))
    return write


def _broadcast(use: Use, a, b) -> tuple | None:
    """The batch and features of a ⊙ b where derive broadcasts as PyTorch does: equal shapes, a
    number, or a parameter vector over every example's features. None where it does not."""
    flows = [f for f in (a, b) if isinstance(f, Flow)]
    if len(flows) == 1:
        return flows[0]
    a_, b_ = flows
    if a_.shape == b_.shape and a_.kind == b_.kind and a_.batched == b_.batched:
        return a_
    for big, small in ((a_, b_), (b_, a_)):
        if small.kind == "tensor" and (small.shape == () or (
                len(small.shape) == 1 and big.kind == "data" and len(big.features) == 1
                and small.shape == big.features)):
            return big
    return None


def _operand_text(use: Use, v) -> str:
    if isinstance(v, Flow):
        return v.name
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"({number(v)})" if v < 0 else number(v)
    raise use.refuse(f"operand {v!r} is not modelled (a tensor of the model or a number)")


def _binary(op: str):
    def write(use: Use):
        a, b = use.args[0], use.args[1] if len(use.args) > 1 else use.kwargs.get("other")
        alpha = use.kwargs.get("alpha", 1)
        extra = sorted(k for k, v in use.kwargs.items()
                       if k not in ("other", "alpha") and not (k == "rounding_mode" and v is None))
        if extra or len(use.args) > 2:
            raise use.refuse(f"arguments {extra or list(use.args[2:])} are not modelled")
        shape = _broadcast(use, a, b)
        if shape is None:
            raise use.refuse(f"its operands have shapes {a.shape} and {b.shape}; derive "
                             f"broadcasts equal shapes, a number, or a parameter vector over "
                             f"each example's features")
        left, right = _operand_text(use, a), _operand_text(use, b)
        if alpha != 1:
            if op not in "+-":
                raise use.refuse(f"alpha={alpha!r} is not modelled")
            right = f"{number(alpha)}*{right}"
        node = use.net.fresh("s" if op in "+-" else "q")
        use.net.equation(node, f"{left} {op} {right}", use)
        return shape.derived(node) if shape.kind != "tensor" else Flow(node, shape.shape, False, "tensor")
    return write


def _negation(use: Use):
    flow = use.flow(0)
    node = use.net.fresh("q")
    use.net.equation(node, f"-{flow.name}", use)
    return flow.derived(node)


def _getitem(use: Use):
    """The entries of a tuple (an LSTMCell's (h, c)); indexing a tensor is not modelled."""
    seq, index = use.args
    if isinstance(seq, tuple) and isinstance(index, int):
        return seq[index]
    raise use.refuse("indexing a tensor (x[…]) is not modelled",
                     "write the model without slices (nn.Flatten, separate layers)")


def _attribute(use: Use):
    """x.shape (a number of the reference run, as x.size()); any other attribute is refused."""
    name = use.args[1] if len(use.args) > 1 else None
    if name == "shape":
        return tuple(use.torch_out())
    raise use.refuse(f"the attribute .{name} is not modelled",
                     "write the forward with nn modules, + − * /, and the activations")


def _flatten_function(use: Use):
    names = ("start_dim", "end_dim")
    given = dict(zip(names, use.args[1:]), **use.kwargs)
    if set(given) - set(names):
        raise use.refuse(f"arguments {sorted(set(given) - set(names))} are not modelled")
    return flatten_flow(use, given.get("start_dim", 0), given.get("end_dim", -1))


def _reshape(use: Use):
    """x.view(B, −1) (or any reshape to (batch, features)): the flatten derive already holds."""
    flow = use.flow(0)
    out = tuple(use.torch_out().shape)
    if flow.kind == "image" and out in ((1, flow.width), (flow.width,)):
        return flatten_flow(use, 1 if flow.batched else 0, -1)
    if flow.batched and out == (flow.shape[0], flow.width):
        return Flow(flow.name, out, True)
    if not flow.batched and out == (flow.width,):
        return Flow(flow.name, out, False)
    raise use.refuse(f"reshaping {tuple(flow.shape)} to {out} is not modelled",
                     "reshape to (batch, -1) only, as a flatten")


def _size(use: Use):
    """x.size(d): a number of the reference run (it only ever feeds a reshape)."""
    value = use.torch_out()
    return tuple(value) if not isinstance(value, int) else value


def _matmul(use: Use):
    """x @ W with W a parameter (PyTorch's x Wᵀ-free form): Wᵀ x per example; W @ x for one
    example."""
    a, b = use.args
    rows = use.net.rows
    if isinstance(a, Flow) and isinstance(b, Flow) and a.kind == "data" and b.kind == "tensor" \
            and len(b.shape) == 2 and len(a.features) == 1 and a.features[0] == b.shape[0]:
        node = use.net.fresh("z")
        use.net.equation(node, f"{a.name} @ {b.name}" if rows else f"{b.name}.T @ {a.name}", use)
        return a.derived(node, (b.shape[1],))
    if isinstance(a, Flow) and isinstance(b, Flow) and a.kind == "tensor" and b.kind == "data" \
            and len(a.shape) == 2 and not b.batched and b.shape == (a.shape[1],):
        node = use.net.fresh("z")
        use.net.equation(node, use.net.affine(a.name, b.name), use)
        return b.derived(node, (a.shape[0],))
    raise use.refuse(f"a matrix product of shapes {getattr(a, 'shape', a)} and "
                     f"{getattr(b, 'shape', b)} is not modelled",
                     "multiply the examples by a parameter matrix (x @ W), or use nn.Linear")


def _linear(use: Use):
    """F.linear(x, W, b) = W x + b per example."""
    x, W = use.args[0], use.args[1]
    b = use.args[2] if len(use.args) > 2 else use.kwargs.get("bias")
    if not (isinstance(x, Flow) and isinstance(W, Flow) and W.kind == "tensor" and len(W.shape) == 2
            and len(x.features) == 1 and x.features[0] == W.shape[1]):
        raise use.refuse("F.linear takes the examples (batch, in) and a parameter weight (out, in)")
    if b is not None and not (isinstance(b, Flow) and b.kind == "tensor" and b.shape == (W.shape[0],)):
        raise use.refuse("its bias must be a parameter vector of the output's width")
    node = use.net.fresh("z")
    use.net.equation(node, use.net.affine(W.name, x.name, b.name if b is not None else ""), use)
    return x.derived(node, (W.shape[0],))


def _dropout_function(use: Use):
    bound = inspect.signature(_dropout_signature()).bind(*use.args, **use.kwargs).arguments
    if bound.get("training", True) and bound.get("p", 0.5) != 0:
        raise use.refuse("F.dropout in training mode drops units at random",
                         "use an nn.Dropout module (from_torch takes its mask: masks={path: mask}), "
                         "or training=False")
    return use.flow(0)


def _dropout_signature():
    import torch.nn.functional as F
    return F.dropout


_registered()
