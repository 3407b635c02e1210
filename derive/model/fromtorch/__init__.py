"""``derive.from_torch``: a student's PyTorch model as a worked derivation, never silently wrong.

A Sequential of ``Linear`` layers, each optionally followed by an activation (and a final
``Softmax``), becomes the Example ``mlp`` builds, with the same parameter names
(``w{l}_{j}_{i}`` is layer l's ``weight[j−1, i−1]``; ``b{l}_{j}``).

Any other model — other layers (``BatchNorm1d``, ``Dropout``, ``Conv1d``, ``Flatten``, the
``RNNCell``/``LSTMCell``/``GRUCell`` steps …) or a module with its own ``forward`` (a residual
block) — is traced with ``torch.fx`` and written node by node in matrix form (``modules``,
``calls``: one entry per module class, function and method), one column per example, ``l``
counting the layers with parameters: ``W{l}``/``b{l}`` for a Linear, ``gamma{l}``/``beta{l}`` for
a BatchNorm1d, ``k{l}``/``b{l}`` for a Conv1d, ``W_ii{l}``, ``b_hi{l}`` … for a recurrent cell's
gates (PyTorch's documentation's names). A setting that changes the math is modelled or refused
by name (``UnsupportedModel``); and the example checks itself against PyTorch (float64: every
node, the loss, every parameter's gradient) before it is returned.

Weights are taken as the decimals they print as (float64), like every float derive reads.
PyTorch is imported only here, and only when called.
"""
from __future__ import annotations

from ...core.errors import DeriveError
from .convert import TORCH_LOSSES
from .net import UnsupportedModel

__all__ = ["from_torch", "torch_gradients", "UnsupportedModel", "TORCH_LOSSES"]


def from_torch(module, x, y, loss: str = "mse", lr=None, title: str | None = None, masks=None,
               batch: str = "columns"):
    """The Example for ``module`` on inputs ``x`` (one example, or a batch as rows, as PyTorch
    takes it; a tuple for a forward of several arguments, as ``(x, h)`` for an RNNCell or
    ``(x, (h, c))`` for an LSTMCell) and targets ``y`` (class indices for
    ``loss="cross_entropy"``, else targets of the output's shape).

    With ``loss="cross_entropy"`` and no final ``Softmax``, the last layer's outputs are logits and
    a softmax is added, as ``nn.CrossEntropyLoss`` does. A ``Dropout`` in training mode needs the
    units it keeps: ``masks={"drop": mask}`` by the module's path (its name in
    ``model.named_modules()``), the mask 1 where kept and 0 where dropped, of its input's shape.
    ``batch="rows"`` writes the examples as rows, as PyTorch holds them (``X @ W1.T + b1``);
    the default ``"columns"`` makes each example a column (``W1 @ X + b1``).

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 3))
    >>> ex = from_torch(net, torch.tensor([[1.0, 2.0]]), torch.tensor([2]), loss="cross_entropy")
    >>> ex.shape("W2")
    (3, 2)
    """
    if loss not in TORCH_LOSSES:
        raise DeriveError(f"from_torch: loss {loss!r} is not supported; choose one of: "
                          + ", ".join(sorted(TORCH_LOSSES)))
    if batch not in ("columns", "rows"):
        raise DeriveError(f"from_torch: batch must be \"columns\" (each example a column: W @ X + b) "
                          f"or \"rows\" (each a row, as PyTorch: X @ W.T + b), got {batch!r}")
    import torch
    from ...core.engine import Graph
    from ...core.functions import FUNCTIONS
    from ...core.parser import parse_equations
    from ...core.tensor import TENSOR_FUNCTIONS
    from ..tensors import TensorExample
    from .convert import loss_lines, verify, write_graph
    from .net import Net
    from .sequential import check_activations, mlp_example, mlp_layers, mlp_loss_fits, torch_names
    from .trace import Traced

    masks = _masks(module, masks)
    traced = Traced(module, _arguments(x), masks)
    target = _target(y, loss)
    pairs = mlp_layers(traced) if traced.failure is None else None
    # the mlp builder's rows hold W as X @ W reads it (in × out); PyTorch's is written node by node
    pairs = pairs if pairs is not None and mlp_loss_fits(pairs, loss) and batch == "columns" else None
    out_ref = traced.outputs
    if pairs is not None:
        check_activations(traced, Net(traced.recorded, sequential=True))
        ex = mlp_example(traced, pairs, traced.inputs[0], target, loss, lr, title)
        ex.meta["torch_parameters"] = torch_names(pairs)
        ex.meta["torch_shapes"] = {n: tuple(p.shape) for n, p in traced.reference.named_parameters()}
        count = out_ref.shape[0] if out_ref.dim() > 1 else 1
        loss_value, grads = _reference(traced, loss, out_ref, target, pairs[-1][1] == "softmax", count)
        _compare(ex, loss_value, grads)
        return ex
    net, out = write_graph(traced, masks, rows=batch == "rows")
    if isinstance(module, torch.nn.LSTMCell) and isinstance(out, tuple):
        out, out_ref = out[0], out_ref[0]  # one step of a bare LSTMCell: the loss of h'
    flow, probabilities = loss_lines(net, out, loss, target)
    inputs_order = [n for n in net.values if n != "Y"] + ["Y"]
    graph = Graph(parse_equations("\n".join(net.lines), {**FUNCTIONS, **TENSOR_FUNCTIONS}),
                  tensor=True, inputs=inputs_order)
    params = net.scalar_params()
    count = flow.shape[0] if flow.batched else 1
    meta = {"loss": loss, "batch": count, "focus": params[0] if params else None,
            "torch_parameters": {k: v.names for k, v in net.torch_parameters.items()},
            "torch_shapes": {k: v.shape for k, v in net.torch_parameters.items()}}
    ex = TensorExample(graph, net.values, params, lr, title or _title(module, traced, flow), "tensor",
                       meta, net.aliases, batch=batch)
    reference = _reference(traced, loss, out_ref, target, probabilities, count)
    verify(ex, net, traced, reference[0], reference[1])
    return ex


def torch_gradients(ex) -> dict:
    """The example's gradient of each PyTorch parameter, by its name in
    ``model.named_parameters()``, as a numpy array of the parameter's shape (float64): what
    ``p.grad`` holds after ``loss.backward()``.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Dropout(0.5)).eval()
    >>> sorted(torch_gradients(from_torch(net, [[1.0, 2.0]], [[0.5]])))
    ['0.bias', '0.weight']
    """
    import numpy as np
    from ..tensors import TensorExample
    from .convert import floats
    from .sequential import scalar_gradient
    names = getattr(ex, "meta", {}).get("torch_parameters")
    if names is None:
        raise DeriveError("torch_gradients: this example was not made by from_torch")
    shapes = ex.meta["torch_shapes"]
    if not isinstance(ex, TensorExample):  # the scalar mlp of one example: its entries' names
        return {k: scalar_gradient(ex, v[0], shapes[k]) for k, v in names.items()}
    return {k: np.concatenate([floats(ex.grad_tensor(n)).reshape(-1) for n in v]).reshape(shapes[k])
            for k, v in names.items()}


def _arguments(x) -> tuple:
    """The forward's arguments: a tuple of tensors (or of lists, arrays, tuples) is several,
    anything else one."""
    import torch
    if isinstance(x, tuple) and x and all(isinstance(v, (torch.Tensor, tuple, list)) or hasattr(v, "shape")
                                          for v in x):
        return x
    return (x,)


def _target(y, loss: str):
    import numpy as np
    import torch
    t = y.detach() if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    return t.long() if loss == "cross_entropy" else t.double()


def _masks(module, masks) -> dict:
    """``masks`` by module path; a key may also be the Dropout module itself."""
    if masks is None:
        return {}
    if not hasattr(masks, "items"):
        raise DeriveError(f"from_torch: masks must be a mapping {{path: mask}}, got "
                          f"{type(masks).__name__}")
    paths = {id(m): name for name, m in module.named_modules()}
    out = {}
    for key, mask in masks.items():
        if not isinstance(key, str):
            if id(key) not in paths:
                raise DeriveError(f"from_torch: masks key {key!r} is no module of the model")
            key = paths[id(key)]
        out[key] = mask
    return out


def _reference(traced, loss: str, out, target, probabilities: bool, batch: int):
    """PyTorch's loss (float64) and every parameter's gradient."""
    from .convert import reference_loss
    L = reference_loss(loss, out, target, probabilities, batch)
    L.backward()
    grads = {name: (p.grad.to_dense() if p.grad.is_sparse else p.grad).detach().numpy().copy()
             for name, p in traced.reference.named_parameters() if p.grad is not None}
    return L.item(), grads


def _compare(ex, loss_value: float, grads: dict):
    """The mlp example's loss and gradients against PyTorch's (see ``verify``)."""
    import numpy as np
    import sympy as sp
    from .convert import agree
    agree("the loss", np.array([[float(sp.N(ex.value(ex.output), 20))]]), np.array([[loss_value]]))
    for k, v in torch_gradients(ex).items():
        agree(f"∂L/∂{k}", v.reshape(-1), grads[k])


def _title(module, traced, flow) -> str:
    import torch
    batch = f" on a mini-batch of {flow.shape[0]}" if flow.batched and flow.shape[0] > 1 else ""
    if isinstance(module, torch.nn.Sequential):
        return f"Backpropagation through a PyTorch model ({len(module)} layers){batch}"
    return f"Backpropagation through a PyTorch {type(module).__name__}{batch}"
