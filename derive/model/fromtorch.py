"""``derive.from_torch``: a student's small PyTorch model as a worked derivation.

An ``nn.Sequential`` of ``Linear`` layers, each optionally followed by an activation module (and a
final ``Softmax``), becomes the Example ``mlp`` builds, with the same parameter names
(``w{l}_{j}_{i}`` is ``layer l``'s ``weight[j−1, i−1]``; ``b{l}_{j}``). Weights are taken as the
decimals they print as, like every float derive reads. PyTorch is imported only here, and only
when called.
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
    weights, biases, acts = [], [], []
    for position, layer in enumerate(layers, start=1):
        kind = type(layer).__name__
        if kind == "Linear":
            weights.append(_rows(layer.weight))
            biases.append(_rows(layer.bias) if layer.bias is not None else [0] * layer.out_features)
            acts.append(None)
            continue
        if kind in TORCH_ACTIVATIONS:
            name, settings = TORCH_ACTIVATIONS[kind]
            for attr, expected in settings.items():
                if getattr(layer, attr, expected) != expected:
                    raise DeriveError(f"from_torch: layer {position} ({layer}) has {attr}="
                                      f"{getattr(layer, attr)!r}; derive's {name} uses {expected!r}")
            if kind == "Softmax" and layer.dim not in (-1, 1, None):
                raise DeriveError(f"from_torch: layer {position} ({layer}) must take the softmax over "
                                  f"the features (dim=-1 or dim=1)")
            if not acts or acts[-1] is not None:
                raise DeriveError(f"from_torch: layer {position} ({layer}) must follow a Linear "
                                  f"layer (one activation per Linear)")
            acts[-1] = name
            continue
        supported = ", ".join(["Linear", *TORCH_ACTIVATIONS])
        raise DeriveError(f"from_torch: layer {position} ({layer}) is not supported; a model of "
                          f"{supported} layers can be derived")
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
