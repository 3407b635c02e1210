"""``derive.from_torch``: a student's small PyTorch model as a worked derivation.

An ``nn.Sequential`` of ``Linear`` layers, each optionally followed by an activation module (and a
final ``Softmax``), becomes the Example ``mlp`` builds, with the same parameter names
(``w{l}_{j}_{i}`` is ``layer l``'s ``weight[j−1, i−1]``; ``b{l}_{j}``). With ``BatchNorm1d``
(training mode: batch statistics, as the ``batchnorm`` builder) or a one-channel ``Conv1d`` (as the
``conv1d`` builder) among them, the net is written in matrix form, layer by layer, and ``l``
counts the layers with parameters: ``W{l}``/``b{l}`` for a Linear, ``gamma{l}``/``beta{l}`` for
a BatchNorm1d, the kernel ``k{l}`` (entries ``k{l}_{m}``) and bias ``b{l}`` for a Conv1d.
Weights are taken as the decimals they print as, like every float derive reads. PyTorch is
imported only here, and only when called.
"""
from __future__ import annotations

from ..core.errors import DeriveError

# PyTorch module class -> (activation name, the settings it must have to mean exactly that)
TORCH_ACTIVATIONS = {
    "ReLU": ("relu", {}),
    "Sigmoid": ("sigmoid", {}),
    "Tanh": ("tanh", {}),
    "LeakyReLU": ("leaky_relu", {"negative_slope": 0.01}),
    "ELU": ("elu", {"alpha": 1.0}),
    "Softplus": ("softplus", {"beta": 1.0}),
    "GELU": ("gelu", {"approximate": "none"}),
    "SiLU": ("silu", {}),
    "Identity": ("identity", {}),
    "Softmax": ("softmax", {}),
}

# loss name in derive -> what PyTorch's loss of that name computes, for the docs
TORCH_LOSSES = {
    "mse": "nn.MSELoss() (mean over outputs and the batch)",
    "cross_entropy": "nn.CrossEntropyLoss() on the logits (softmax then cross-entropy, mean over the batch)",
    "binary_cross_entropy": "nn.BCELoss()",
    "half_squared_error": "0.5 * ((a - y)**2).sum() / batch",
    "squared_error": "((a - y)**2).sum() / batch",
    "absolute_error": "(a - y).abs().sum() / batch",
}


def _rows(t) -> list:
    """A tensor, numpy array or (nested) list of numbers as nested Python lists."""
    if hasattr(t, "detach"):
        return t.detach().cpu().double().tolist()
    if hasattr(t, "tolist"):  # numpy arrays: a user may pass the data they fed to torch.tensor
        return t.tolist()
    return list(t)


def from_torch(module, x, y, loss: str = "mse", lr=None, title: str | None = None):
    """The Example for ``module`` on inputs ``x`` (one example, or a batch as rows, as PyTorch
    takes it) and targets ``y`` (class indices for ``loss="cross_entropy"``, else target rows).

    With ``loss="cross_entropy"`` and no final ``Softmax``, the last layer's outputs are logits and
    a softmax is added, as ``nn.CrossEntropyLoss`` does.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 3))
    >>> ex = from_torch(net, torch.tensor([[1.0, 2.0]]), torch.tensor([2]), loss="cross_entropy")
    >>> ex.shape("W2")
    (3, 2)
    """
    from .builders import mlp
    if loss not in TORCH_LOSSES:
        raise DeriveError(f"from_torch: loss {loss!r} is not supported; choose one of: "
                          + ", ".join(sorted(TORCH_LOSSES)))
    layers = list(module) if hasattr(module, "__iter__") else [module]
    if any(type(layer).__name__ in MATRIX_LAYERS for layer in layers):
        return _layered(layers, x, y, loss, lr, title)
    weights, biases, acts = [], [], []
    for position, layer in enumerate(layers, start=1):
        kind = type(layer).__name__
        if kind == "Linear":
            weights.append(_rows(layer.weight))
            biases.append(_rows(layer.bias) if layer.bias is not None else [0] * layer.out_features)
            acts.append(None)
            continue
        if kind in TORCH_ACTIVATIONS:
            name = _activation(layer, position)
            if not acts or acts[-1] is not None:
                raise DeriveError(f"from_torch: layer {position} ({layer}) must follow a Linear "
                                  f"layer (one activation per Linear)")
            acts[-1] = name
            continue
        raise _unsupported(layer, position)
    if not weights:
        raise DeriveError("from_torch: the model has no Linear layer")
    acts = [a or "identity" for a in acts]
    if loss == "cross_entropy" and acts[-1] != "softmax":
        if acts[-1] != "identity":
            raise DeriveError(f"from_torch: cross_entropy takes the logits of a Linear layer (or a "
                              f"final Softmax); the last layer applies {acts[-1]}")
        acts[-1] = "softmax"
    xs = _rows(x)
    batch = isinstance(xs[0], list)
    if loss == "cross_entropy":
        ys = [int(v) for v in y.detach().reshape(-1).tolist()] if hasattr(y, "detach") else y
        targets = ys if batch else (ys[0] if isinstance(ys, list) else ys)
    else:
        targets = _rows(y) if hasattr(y, "detach") else y
    return mlp(xs, weights, biases, targets, activation=acts, loss=loss, lr=lr, title=title)


# layers written in matrix form, layer by layer (their own parameters, not mlp's)
MATRIX_LAYERS = ("BatchNorm1d", "Conv1d")


def _unsupported(layer, position: int) -> DeriveError:
    supported = ", ".join(["Linear", *MATRIX_LAYERS, "Flatten", *TORCH_ACTIVATIONS])
    return DeriveError(f"from_torch: layer {position} ({layer}) is not supported; a model of "
                       f"{supported} layers can be derived")


def _activation(layer, position: int) -> str:
    """derive's name for a PyTorch activation module, checking it has derive's settings."""
    kind = type(layer).__name__
    name, settings = TORCH_ACTIVATIONS[kind]
    for attr, expected in settings.items():
        if getattr(layer, attr, expected) != expected:
            raise DeriveError(f"from_torch: layer {position} ({layer}) has {attr}="
                              f"{getattr(layer, attr)!r}; derive's {name} uses {expected!r}")
    if kind == "Softmax" and layer.dim not in (-1, 1, None):
        raise DeriveError(f"from_torch: layer {position} ({layer}) must take the softmax over "
                          f"the features (dim=-1 or dim=1)")
    return name


def _single(value, what: str, layer, position: int) -> int:
    v = value[0] if isinstance(value, (tuple, list)) else value
    if not isinstance(v, int):
        raise DeriveError(f"from_torch: layer {position} ({layer}): {what} {value!r} is not "
                          f"supported (the conv1d builder takes a whole-number {what})")
    return v


def _conv_lines(layer, position: int, l: int, prev: str, values: dict, aliases: dict) -> str:
    """``z{l} = conv1d(prev, k{l}, stride, padding) + b{l}``: the conv1d builder's layer on every
    example (one column each)."""
    if (layer.in_channels, layer.out_channels, layer.groups) != (1, 1, 1):
        raise DeriveError(f"from_torch: layer {position} ({layer}) has {layer.in_channels} input "
                          f"and {layer.out_channels} output channels; derive's conv1d takes one "
                          f"channel (in_channels=1, out_channels=1)")
    if _single(layer.dilation, "dilation", layer, position) != 1 or layer.padding_mode != "zeros":
        raise DeriveError(f"from_torch: layer {position} ({layer}): only dilation=1 and zero "
                          f"padding are supported, as in the conv1d builder")
    stride = _single(layer.stride, "stride", layer, position)
    padding = _single(layer.padding, "padding", layer, position)
    kernel = _rows(layer.weight)[0][0]  # weight is (1, 1, k)
    values[f"k{l}"] = kernel
    for m in range(len(kernel)):
        aliases[f"k{l}_{m + 1}"] = (f"k{l}", m, 0)
    bias = _rows(layer.bias)[0] if layer.bias is not None else 0
    values[f"b{l}"] = bias
    args = f"{prev}, k{l}" + (f", {stride}, {padding}" if (stride, padding) != (1, 0) else "")
    return f"z{l} = conv1d({args}) + b{l}"


def _batchnorm_lines(layer, position: int, l: int, prev: str, width: int, batch: int,
                     values: dict, aliases: dict) -> list[str]:
    """BatchNorm1d in training mode, as the batchnorm builder writes it, for every feature at
    once: μ and σ² over the batch (biased, as PyTorch normalises), x̂ = (x − μ)/√(σ² + ε)."""
    if not layer.training:
        raise DeriveError(f"from_torch: layer {position} ({layer}) is in eval mode (it would use "
                          f"its running statistics); derive follows training mode, with the "
                          f"batch's mean and variance: call model.train()")
    if layer.num_features != width:
        raise DeriveError(f"from_torch: layer {position} ({layer}) normalises {layer.num_features} "
                          f"features but receives {width}")
    if batch < 2:
        raise DeriveError(f"from_torch: layer {position} ({layer}) needs a batch of at least 2 "
                          f"examples in training mode (the variance of one is 0)")
    values[f"eps{l}"] = layer.eps
    lines = [f"mu{l} = batch_mean({prev})", f"d{l} = {prev} - mu{l}",
             f"var{l} = batch_mean(d{l}**2)", f"s{l} = sqrt(var{l} + eps{l})",
             f"xhat{l} = d{l}/s{l}"]
    if layer.affine:
        values[f"gamma{l}"], values[f"beta{l}"] = _rows(layer.weight), _rows(layer.bias)
        for j in range(width):
            aliases[f"gamma{l}_{j + 1}"] = (f"gamma{l}", j, 0)
            aliases[f"beta{l}_{j + 1}"] = (f"beta{l}", j, 0)
        lines.append(f"z{l} = gamma{l}*xhat{l} + beta{l}")
    else:
        lines.append(f"z{l} = xhat{l}")
    return lines


def _layered(layers, x, y, loss: str, lr, title):
    """A Sequential with BatchNorm1d or Conv1d layers, written in matrix form (see the module
    docstring): each example a column, the loss the mean over the batch."""
    import numpy as np

    from ..core.functions import FUNCTIONS
    from ..core.losses import loss as loss_spec
    from ..core.parser import parse_equations
    from ..core.engine import Graph
    from ..core.tensor import TENSOR_FUNCTIONS, conv_windows
    from .tensors import TensorExample

    xs = np.asarray(_rows(x), dtype=float)
    conv_first = type(layers[0]).__name__ == "Conv1d"
    if conv_first:  # PyTorch's Conv1d takes (batch, 1, length), or (1, length) for one example
        if xs.ndim not in (2, 3) or xs.shape[-2] != 1:
            raise DeriveError(f"from_torch: a model starting with Conv1d takes x of shape (batch, 1, "
                              f"length) or (1, length), got {tuple(xs.shape)}")
        batched = xs.ndim == 3
        xs = xs.reshape(-1, xs.shape[-1])
    else:
        if xs.ndim not in (1, 2):
            raise DeriveError(f"from_torch: x must be one example (features) or a batch (rows), "
                              f"got shape {tuple(xs.shape)}")
        batched = xs.ndim == 2
        xs = xs.reshape(-1, xs.shape[-1])
    batch, width = xs.shape
    values = {"X": xs.T.tolist()}  # one column per example
    aliases: dict = {}
    lines, prev, l, channels = [], "X", 0, conv_first
    last_act, params = None, []
    for position, layer in enumerate(layers, start=1):
        kind = type(layer).__name__
        if kind == "Linear":
            l += 1
            if layer.in_features != width:
                raise DeriveError(f"from_torch: layer {position} ({layer}) takes {layer.in_features} "
                                  f"inputs but receives {width}")
            values[f"W{l}"] = _rows(layer.weight)
            values[f"b{l}"] = _rows(layer.bias) if layer.bias is not None else [0] * layer.out_features
            for j in range(layer.out_features):
                for i in range(layer.in_features):
                    aliases[f"w{l}_{j + 1}_{i + 1}"] = (f"W{l}", j, i)
                aliases[f"b{l}_{j + 1}"] = (f"b{l}", j, 0)
            params += [f"W{l}", f"b{l}"]
            lines.append(f"z{l} = W{l} @ {prev} + b{l}")
            prev, width, last_act = f"z{l}", layer.out_features, None
        elif kind == "Conv1d":
            if not channels:
                raise DeriveError(f"from_torch: layer {position} ({layer}) must come before any "
                                  f"Flatten, Linear or BatchNorm1d layer (it takes (batch, 1, "
                                  f"length) inputs)")
            l += 1
            lines.append(_conv_lines(layer, position, l, prev, values, aliases))
            params += [f"k{l}", f"b{l}"]
            width = len(conv_windows(width, layer.kernel_size[0], layer.stride[0], layer.padding[0]))
            prev, last_act = f"z{l}", None
        elif kind == "BatchNorm1d":
            if channels:
                raise DeriveError(f"from_torch: layer {position} ({layer}) after a Conv1d normalises "
                                  f"over the batch and the length together; put nn.Flatten() and a "
                                  f"Linear layer before it")
            l += 1
            lines += _batchnorm_lines(layer, position, l, prev, width, batch, values, aliases)
            if layer.affine:
                params += [f"gamma{l}", f"beta{l}"]
            prev, last_act = f"z{l}", None
        elif kind == "Flatten":
            if (layer.start_dim, layer.end_dim) != (1, -1):
                raise DeriveError(f"from_torch: layer {position} ({layer}) must flatten from "
                                  f"dimension 1 (start_dim=1, end_dim=-1)")
            channels = False  # one channel: (batch, 1, length) -> (batch, length), same numbers
        elif kind in TORCH_ACTIVATIONS:
            name = _activation(layer, position)
            if prev == "X" or last_act is not None:
                raise DeriveError(f"from_torch: layer {position} ({layer}) must follow a layer "
                                  f"with parameters (one activation each)")
            if name != "identity":
                lines.append(f"a{l} = {name}({prev})")
                prev = f"a{l}"
            last_act = name
        else:
            raise _unsupported(layer, position)
    if prev == "X":
        raise DeriveError("from_torch: the model has no layer with parameters")
    spec = loss_spec(loss)
    if loss == "cross_entropy":
        if channels:
            raise DeriveError("from_torch: cross_entropy needs class scores per example: add "
                              "nn.Flatten() after the Conv1d layers")
        if last_act not in (None, "softmax"):
            raise DeriveError(f"from_torch: cross_entropy takes the logits of the last layer (or a "
                              f"final Softmax); the last layer applies {last_act}")
        if last_act is None:
            lines.append(f"p = softmax({prev})")
            prev = "p"
    target = _rows(y) if hasattr(y, "detach") or hasattr(y, "tolist") else y
    values["Y"] = _target_matrix(target, batch, width, batched, loss == "cross_entropy")
    lines.append(f"L = {spec.batch(prev, 'Y', batch)}")
    widths = "-".join(str(w) for w in [xs.shape[1], width])
    title = title or (f"Backpropagation through a PyTorch model ({len(layers)} layers, "
                      f"{widths} wide)" + (f" on a mini-batch of {batch}" if batched else ""))
    graph = Graph(parse_equations("\n".join(lines), {**FUNCTIONS, **TENSOR_FUNCTIONS}), tensor=True,
                  inputs=["X"] + [k for k in values if k not in ("X", "Y")] + ["Y"])
    # parameters by their scalar names (w1_2_1, gamma2_1, k1_3), as mlp names them; a scalar
    # tensor (a Conv1d's bias) is its own name
    scalar_params = []
    for p in params:
        entries = [a for a, (base, _, _) in aliases.items() if base == p]
        scalar_params += entries or [p]
    meta = {"loss": loss, "batch": batch, "focus": scalar_params[0]}
    return TensorExample(graph, values, scalar_params, lr, title, "tensor", meta, aliases)


def _target_matrix(target, batch: int, width: int, batched: bool, classes: bool):
    """Targets as one column per example (k × batch), or the class indices (0-based)."""
    import numpy as np
    arr = np.asarray(target, dtype=object)
    if classes and arr.size == batch and (arr.ndim <= 1 or arr.shape[-1] != width or width == 1):
        return [int(v) for v in arr.reshape(-1)] if batched else int(arr.reshape(-1)[0])
    flat = np.asarray(target, dtype=float).reshape(batch, -1) if arr.size else None
    if flat is None or flat.shape[1] != width:
        raise DeriveError(f"from_torch: the model gives {width} outputs per example; y has shape "
                          f"{tuple(np.shape(target))}")
    return flat.T.tolist()
