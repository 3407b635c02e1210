"""A PyTorch model traced with ``torch.fx`` and run once in float64: the graph the equations are
written from, and PyTorch's value at every node (the reference from_torch checks itself against).

The model is copied and converted to float64 (a float32 weight becomes the float64 of the same
number, the decimal derive reads); the copy is traced (``torch.fx.symbolic_trace``: a built-in
module such as ``nn.Conv2d`` is one node, a user's module is traced through) and run by an fx
``Interpreter`` that records every node's value — with a training-mode ``Dropout`` given its
mask, so the run is the one the equations describe.
"""
from __future__ import annotations

import copy

from .net import UnsupportedModel


def _leaf(module) -> bool:
    """A built-in module (nn.Linear, nn.LSTMCell …) fx keeps as one node, not a container."""
    import torch
    return type(module).__module__.startswith("torch.nn") and not isinstance(
        module, (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict))


class Traced:
    """``gm``: the fx GraphModule of a float64 copy of ``module``; ``recorded``: node name ->
    PyTorch's value there (float64); ``inputs``: the forward's arguments as PyTorch took them;
    ``paths``: a call_module node's target -> its path in the user's model ('' for the model
    itself, when it is one built-in module)."""

    def __init__(self, module, arguments: tuple, masks: dict):
        import torch
        import torch.fx as fx
        if not isinstance(module, torch.nn.Module):
            raise UnsupportedModel(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
        self.model = module
        self.reference = copy.deepcopy(module).double()
        self.masks = masks
        if _leaf(self.reference):
            self.gm = _single_module_graph(self.reference, len(arguments))
            self.paths = {"model": ""}
        else:
            try:
                self.gm = fx.symbolic_trace(self.reference)
            except Exception as reason:  # fx raises many kinds (TraceError, TypeError …)
                raise UnsupportedModel(
                    f"from_torch: {type(module).__name__}.forward cannot be traced by torch.fx "
                    f"({type(reason).__name__}: {str(reason).splitlines()[0] if str(reason) else ''}); "
                    f"write forward without control flow that depends on the data") from None
            self.paths = {}
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
        self.inputs = tuple(_as_tensor(a, self.rank(p) == 0) for a, p in zip(arguments, placeholders))
        self.recorded = self._run()

    def rank(self, node) -> int | None:
        """How many dimensions one example of this input has: the ``rank`` of the first module
        (or pooling function) that reads it, through functions that keep shapes; None where
        nothing says. 0: class indices (an Embedding)."""
        from .calls import FUNCTION_RANKS
        from .modules import MODULES
        seen, queue = set(), list(node.users)
        while queue:
            n = queue.pop(0)
            if n.name in seen:
                continue
            seen.add(n.name)
            if n.op == "call_module":
                entry = MODULES.get(type(self.gm.get_submodule(n.target)).__name__)
                if entry is not None and entry.rank is not None:
                    return entry.rank
            if n.op == "call_function" and n.target in FUNCTION_RANKS:
                return FUNCTION_RANKS[n.target]
            queue.extend(n.users)
        return None

    def path(self, target: str) -> str:
        return self.paths.get(target, target)

    def _run(self) -> dict:
        import torch
        import torch.fx as fx
        recorded = {}
        traced = self

        class Recorder(fx.Interpreter):
            def run_node(self, n):
                out = super().run_node(n)
                recorded[n.name] = _snapshot(out)
                return out

            def call_module(self, target, args, kwargs):
                m = self.fetch_attr(target)
                mask = traced.masks.get(traced.path(target))
                if isinstance(m, torch.nn.Dropout) and m.training and 0 < m.p < 1:
                    # PyTorch's dropout with this mask: the kept units scaled by 1/(1 − p); a
                    # mask of the wrong shape (refused when the layer is written) or none: no
                    # drawing at random, which would move the caller's random state
                    keep = torch.as_tensor(mask if mask is not None else 1, dtype=torch.float64)
                    if keep.shape != args[0].shape:
                        return args[0]
                    return args[0] * (keep / (1 - m.p))
                return super().call_module(target, args, kwargs)

        self.failure = None  # PyTorch's own error, where the model does not run on the inputs
        try:
            self.outputs = Recorder(self.gm).run(*self.inputs)
        except Exception as reason:  # any error of the model's own code
            self.outputs = None
            first = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
            self.failure = f"PyTorch cannot run the model on these inputs ({first})"
        return recorded


def _as_tensor(v, index: bool):
    """An argument as PyTorch takes it: float64 (a float32 weight's input too), or class
    indices as whole numbers (int64) for an Embedding; tuples element by element."""
    import numpy as np
    import torch
    if isinstance(v, tuple):
        return tuple(_as_tensor(e, index) for e in v)
    t = v.detach() if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
    if index:
        whole = not t.is_floating_point() or bool((t == t.round()).all())
        return t.long() if whole else t.double()
    return t.double()


def _snapshot(value):
    """A node's value as it was when computed (an in-place ReLU later changes the tensor)."""
    if hasattr(value, "detach"):
        return value.detach().clone()
    if isinstance(value, tuple):
        return tuple(_snapshot(v) for v in value)
    return value


def _single_module_graph(module, n_inputs: int):
    """The fx graph of one built-in module called on the inputs (fx would trace through it)."""
    import torch
    import torch.fx as fx
    root = torch.nn.Module()
    root.model = module
    graph = fx.Graph()
    names = ("input", "hx", "state")
    args = [graph.placeholder(names[i] if i < len(names) else f"input{i}") for i in range(n_inputs)]
    graph.output(graph.call_module("model", tuple(args)))
    return fx.GraphModule(root, graph)
