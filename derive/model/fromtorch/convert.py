"""A traced model as a TensorExample: each fx node becomes its equations (``MODULES``,
``FUNCTIONS``, ``METHODS``), then the loss; and the check that the example's numbers are
PyTorch's (``verify``), so a setting that slipped through unmodelled fails loudly, never gives a
wrong number quietly."""
from __future__ import annotations

import numpy as np

from ...core.errors import DeriveError
from ...core.tensor import PRECISION
from .net import Flow, Net, UnsupportedModel, Use, plain_name

# loss name in derive -> what PyTorch's loss of that name computes, for the docs
TORCH_LOSSES = {
    "mse": "nn.MSELoss() (mean over outputs and the batch)",
    "cross_entropy": "nn.CrossEntropyLoss() on the logits (softmax then cross-entropy, mean over the batch)",
    "binary_cross_entropy": "nn.BCELoss(reduction='sum') / batch (summed over outputs, mean over "
                            "the batch: nn.BCELoss() for one output)",
    "half_squared_error": "0.5 * ((a - y)**2).sum() / batch",
    "squared_error": "((a - y)**2).sum() / batch",
    "absolute_error": "(a - y).abs().sum() / batch",
}


def reference_loss(loss: str, out, y, probabilities: bool, batch: int):
    """PyTorch's loss of that name on the model's output (float64), as TORCH_LOSSES states."""
    import torch
    import torch.nn.functional as F
    if loss == "cross_entropy":
        return F.nll_loss(torch.log(out), y) if probabilities else F.cross_entropy(out, y)
    y = y.reshape(out.shape)
    if loss == "mse":
        return F.mse_loss(out, y)
    if loss == "binary_cross_entropy":
        return F.binary_cross_entropy(out, y, reduction="sum") / batch
    scale = {"half_squared_error": 0.5, "squared_error": 1.0, "absolute_error": 1.0}[loss]
    err = (out - y).abs() if loss == "absolute_error" else (out - y) ** 2
    return scale * err.sum() / batch


def write_graph(traced, masks: dict, rows: bool = False) -> tuple[Net, object]:
    """Every node of the traced graph as equations: (the Net, the output's Flow or tuple)."""
    import torch
    from torch.fx.node import map_arg
    from .calls import FUNCTIONS, METHODS
    from .modules import MODULES

    gm = traced.gm
    net = Net(traced.recorded, sequential=isinstance(traced.model, torch.nn.Sequential),
              failure=traced.failure, masks=masks, rows=rows)
    env: dict = {}
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for k, node in enumerate(placeholders):  # one left out takes its default (None: a zero state)
        env[node.name] = _input_flows(net, traced, node, k) if k < len(traced.inputs) else None
    out = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            continue
        if node.op == "output":
            out = map_arg(node.args[0], lambda n: env[n.name])
            break
        args = map_arg(node.args, lambda n: env[n.name])
        kwargs = map_arg(node.kwargs, lambda n: env[n.name])
        if node.op == "get_attr":
            env[node.name] = _attribute(net, traced, node)
            continue
        if node.op == "call_module":
            sub = gm.get_submodule(node.target)
            kind = type(sub).__name__
            use = Use(net, node, kind, traced.path(node.target), sub, tuple(args), dict(kwargs))
            entry = MODULES.get(kind)
            if entry is None:
                raise use.refuse("this module is not supported", "a model of "
                                 + ", ".join(sorted(MODULES)) + " modules can be derived")
            env[node.name] = net.flows[node.name] = entry.write(use)
            continue
        table, key = (FUNCTIONS, node.target) if node.op == "call_function" else (METHODS, node.target)
        name = getattr(node.target, "__name__", str(node.target))
        use = Use(net, node, name if node.op == "call_function" else f".{name}()", "", None,
                  tuple(args), dict(kwargs))
        writer = table.get(key)
        if writer is None:
            what = "function" if node.op == "call_function" else "tensor method"
            raise use.refuse(f"this {what} is not supported",
                             "write the forward with nn modules, + − * /, and the activations")
        env[node.name] = writer(use)
        net.flows[node.name] = env[node.name]
    if traced.failure is not None:  # every node written, yet PyTorch failed: its own reason
        raise UnsupportedModel(f"from_torch: {traced.failure}")
    unused = set(masks) - net.masks_used
    if unused:
        raise UnsupportedModel(f"from_torch: masks are given for {', '.join(sorted(map(repr, unused)))}, "
                               f"which is no training-mode Dropout of the model; the Dropout "
                               f"modules' paths are the keys")
    return net, out


def _input_flows(net: Net, traced, node, k: int):
    """The forward's k-th argument as inputs of the example: X for the first (one column per
    example), H0 (and C0 for a pair) for a recurrent state."""
    import torch
    value = traced.inputs[k]
    if isinstance(value, tuple):
        return tuple(_input_flow(net, traced, node, v, f"{'HC'[i] if i < 2 else 'S'}0")
                     for i, v in enumerate(value))
    initial = node.name[0].upper()
    name = "X" if k == 0 else (f"{initial}0" if initial in "HC" and f"{initial}0" not in net.taken
                               else f"X{k + 1}")
    if not isinstance(value, torch.Tensor):
        raise UnsupportedModel(f"from_torch: the forward's argument `{node.name}` is "
                               f"{type(value).__name__}; it takes tensors")
    return _input_flow(net, traced, node, value, name)


def _input_flow(net: Net, traced, node, value, name: str) -> Flow:
    """An argument of the forward, laid out for the first module that reads it: class indices
    for an Embedding (named i), one image for a Conv2d or a pooling, else one column per
    example."""
    rank = traced.rank(node)
    batched = value.dim() > rank if rank is not None else value.dim() >= 2
    kind = "index" if rank == 0 else ("image" if rank == 3 else "data")
    if kind == "index":
        name = "i" if name == "X" else name.lower()
        if value.is_floating_point() or value.dim() > 1:
            raise UnsupportedModel(f"from_torch: the input `{node.name}` of shape "
                                   f"{tuple(value.shape)} feeds an Embedding; give class indices "
                                   f"(a tensor of whole numbers: one, or one per example)")
    if kind == "image" and batched and value.shape[0] != 1:
        raise UnsupportedModel(f"from_torch: the input `{node.name}` is a batch of "
                               f"{value.shape[0]} images; derive's conv2d and pooling take one "
                               f"image (C×H×W): pass one example (x[:1] or x[0])")
    net.given(name, net.layout(value, batched, kind))
    return Flow(name, tuple(value.shape), batched, kind)


def _attribute(net: Net, traced, node) -> Flow:
    """A parameter or buffer the forward reads directly (``self.scale``): an input of the
    example, a parameter where it requires a gradient."""
    import torch
    value = traced.gm
    for part in node.target.split("."):
        value = getattr(value, part)
    if not isinstance(value, torch.Tensor) or value.dim() > 2:
        what = f"a {value.dim()}-d tensor" if isinstance(value, torch.Tensor) else type(value).__name__
        raise UnsupportedModel(f"from_torch: `{node.target}` is {what}; a forward may read "
                               f"parameters of up to 2 dimensions")
    base = node.target.rsplit(".", 1)[-1]  # its own name where the equations can take it
    fits = plain_name(base) and base not in net.taken and len(base) <= 8
    name = base if fits else net.fresh("P", len(net.params) + 1)
    if isinstance(value, torch.nn.Parameter):
        net.tensor_parameter(value, node.target, (name,))
    else:
        net.given(name, net.layout(value, False, "tensor"))
    return Flow(name, tuple(value.shape), False, "tensor")


def loss_lines(net: Net, out, loss: str, y):
    """The loss of the output: L = the loss over the batch (for cross-entropy a softmax first,
    as nn.CrossEntropyLoss, unless the model ends with one). Returns (the output flow, whether
    the loss takes it as probabilities)."""
    from ...core.losses import loss as loss_spec
    if isinstance(out, tuple):
        raise UnsupportedModel(f"from_torch: the model returns {len(out)} tensors; the loss needs "
                               f"one (return the prediction only)")
    if not isinstance(out, Flow) or out.kind not in ("data", "image"):
        raise UnsupportedModel("from_torch: the model's output is not computed from its input")
    spec = loss_spec(loss)
    prev, probabilities = out.name, out.last == "softmax"
    batch = out.shape[0] if out.batched else 1
    if loss == "cross_entropy":
        if len(out.features) != 1:
            raise UnsupportedModel(f"from_torch: cross_entropy needs class scores per example; the "
                                   f"output has shape {tuple(out.shape)}: add nn.Flatten() "
                                   f"(and a Linear layer)")
        if not probabilities:
            prev = net.equation("p", f"softmax({out.name})")
    net.given("Y", target_matrix(y, out, loss == "cross_entropy", net.rows))
    net.equation("L", spec.batch(prev, "Y", batch))
    return out, probabilities


def target_matrix(target, out: Flow, classes: bool, rows: bool = False):
    """Targets as one column per example (outputs × batch; one row each with ``rows``), or the
    class indices (0-based)."""
    if hasattr(target, "detach"):
        target = target.detach().cpu().tolist()
    elif hasattr(target, "tolist"):
        target = target.tolist()
    arr = np.asarray(target, dtype=object)
    batch, width = (out.shape[0] if out.batched else 1), out.width
    if out.kind == "image":
        if arr.size != width:
            raise DeriveError(f"from_torch: the model gives an image of shape {out.features}; y "
                              f"has shape {tuple(np.shape(target))}")
        return np.asarray(target, dtype=float).reshape(out.features).tolist()
    if classes and arr.size == batch and (arr.ndim <= 1 or arr.shape[-1] != width or width == 1):
        flat = [int(v) for v in arr.reshape(-1)]
        return flat if out.batched else flat[0]
    if arr.size != batch * width:
        raise DeriveError(f"from_torch: the model gives {width} outputs per example; y has shape "
                          f"{tuple(np.shape(target))}")
    flat = np.asarray(target, dtype=float).reshape(batch, width)
    return flat.tolist() if rows else flat.T.tolist()


def floats(t) -> np.ndarray:
    """An exact Tensor's entries as floats (from its fixed-point approximation), in its shape."""
    scale = 1 << PRECISION
    f = t.fixed()
    return np.array([int(v) / scale for v in f.ravel()], dtype=float).reshape(f.shape)


def close(ours: np.ndarray, ref: np.ndarray) -> bool:
    """Agreement of exact numbers with float64 arithmetic: rounding only, scaled to the size."""
    scale = max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
    return bool(np.allclose(ours, ref, rtol=1e-7, atol=1e-9 * scale))


def verify(ex, net: Net, traced, loss_value, grads: dict):
    """Every checked node, the loss and every parameter's gradient, against PyTorch's: a
    disagreement is a setting from_torch failed to model — refused, never returned."""
    for name, node, index in net.checks:
        flow, ref = net.flows[node], traced.recorded[node]
        if index is not None:
            flow, ref = flow[index], ref[index]
        ours = floats(ex.tensor(name))
        agree(f"`{name}` (node `{node}` of the traced forward)", ours,
               np.asarray(net.layout(ref, flow.batched, flow.kind), dtype=float))
    agree("the loss", floats(ex.tensor(ex.output)), np.array([[loss_value]]))
    for torch_name, where in net.torch_parameters.items():
        if torch_name in grads:
            got = np.concatenate([floats(ex.grad_tensor(n)).reshape(-1) for n in where.names])
            agree(f"∂L/∂{torch_name}", got, grads[torch_name])


def agree(what: str, ours: np.ndarray, ref: np.ndarray):
    ref = np.asarray(ref, dtype=float)
    if ref.size != ours.size:
        raise UnsupportedModel(f"from_torch: {what} has {ours.size} entries, PyTorch's "
                               f"{ref.size}: please report it with the model")
    ref = ref.reshape(ours.shape)
    if not close(ours, ref):
        raise UnsupportedModel(f"from_torch: {what} differs from PyTorch's by up to "
                               f"{float(np.abs(ours - ref).max()):.3g}: the model does something "
                               f"derive does not model; please report it with the model")
