"""A Sequential of Linear layers, each optionally followed by an activation at settings the
``mlp`` builder's activation has: the example ``mlp`` builds, with its names (``w{l}_{j}_{i}`` is
layer l's ``weight[j−1, i−1]``, ``b{l}_{j}``) and its documents."""
from __future__ import annotations

from .activations import ACTIVATION_MODULES, ACTIVATIONS, is_mlp_activation, module_settings
from .net import Net, Use, columns


def mlp_layers(traced) -> list | None:
    """The model's (Linear, activation name or None) pairs when it is such a Sequential (every
    Linear with a bias that is trained, every activation with the mlp builder's settings); else
    None (the model is written node by node)."""
    import torch
    model = traced.reference
    if not isinstance(model, torch.nn.Sequential) or traced.masks:
        return None
    pairs = []
    for index, layer in enumerate(model):
        kind = type(layer).__name__
        if isinstance(layer, torch.nn.Linear) and type(layer) is torch.nn.Linear:
            if layer.bias is None or not all(p.requires_grad for p in layer.parameters()):
                return None
            pairs.append([layer, None, index])
        elif kind in ACTIVATION_MODULES and pairs and pairs[-1][1] is None:
            name = ACTIVATION_MODULES[kind]
            if name == "log_softmax" or not is_mlp_activation(name, module_settings(name, layer)):
                return None
            pairs[-1][1] = name
        else:
            return None
    if not pairs or any(p[1] == "softmax" for p in pairs[:-1]):
        return None
    return pairs


def mlp_loss_fits(pairs, loss: str) -> bool:
    """Cross-entropy on the mlp builder's path takes logits (or a final Softmax); after another
    activation PyTorch's softmax of it is written node by node."""
    return loss != "cross_entropy" or pairs[-1][1] in (None, "identity", "softmax")


def check_activations(traced, net: Net):
    """Each activation's own checks (a Softplus input past its threshold …), by its entry."""
    import torch
    for node in traced.gm.graph.nodes:
        if node.op != "call_module":
            continue
        layer = traced.gm.get_submodule(node.target)
        kind = type(layer).__name__
        if kind in ACTIVATION_MODULES:
            name = ACTIVATION_MODULES[kind]
            flow = _flow(traced, node)
            use = Use(net, node, kind, node.target, layer, (flow,), {})
            ACTIVATIONS[name].write(module_settings(name, layer), use)
    del torch


def _flow(traced, node):
    from .net import Flow
    t = traced.recorded[node.args[0].name]
    return Flow(node.args[0].name, tuple(t.shape), t.dim() >= 2)


def mlp_example(traced, pairs, x, y, loss: str, lr, title):
    from ..builders import mlp
    weights = [columns(layer.weight, False, "tensor") for layer, _, _ in pairs]
    biases = [layer.bias.detach().double().tolist() for layer, _, _ in pairs]
    acts = [a or "identity" for _, a, _ in pairs]
    if loss == "cross_entropy" and acts[-1] != "softmax":
        acts[-1] = "softmax"  # the logits' softmax, as nn.CrossEntropyLoss
    xs = x.detach().double().tolist()
    several = isinstance(xs[0], list)  # a mini-batch, not one example
    if loss == "cross_entropy":
        ys = [int(v) for v in y.reshape(-1).tolist()]
        targets = ys if several else ys[0]
    else:
        targets = y.detach().double().tolist()
    return mlp(xs, weights, biases, targets, activation=acts, loss=loss, lr=lr, title=title)


def torch_names(pairs) -> dict:
    """PyTorch's parameter names -> the example's tensors (``0.weight`` -> W1)."""
    out = {}
    for l, (_, _, index) in enumerate(pairs, start=1):
        out[f"{index}.weight"], out[f"{index}.bias"] = (f"W{l}",), (f"b{l}",)
    return out


def scalar_gradient(ex, name: str, shape: tuple):
    """∂L/∂W{l} (or b{l}) of a scalar mlp example, from its entries w{l}_{j}_{i} (b{l}_{j})."""
    import numpy as np
    import sympy as sp
    base = name[0].lower() + name[1:]
    if len(shape) == 2:
        return np.array([[float(sp.N(ex.grad(f"{base}_{j + 1}_{i + 1}"), 20)) for i in range(shape[1])]
                         for j in range(shape[0])])
    return np.array([float(sp.N(ex.grad(f"{base}_{j + 1}"), 20)) for j in range(shape[0])])
