"""The equations a PyTorch model becomes, written one fx node at a time.

A ``Flow`` is one tensor of the model as derive holds it: its name in the equations and PyTorch's
shape of it. An activation (``kind="data"``) is written with one column per example: PyTorch's
(batch, features…) becomes a matrix of prod(features) rows and one column per example, the
features flattened in PyTorch's (row-major) order, so ``Flatten`` changes no number. An image
(``kind="image"``: the input and output of a Conv2d or a pooling) is one example's C×H×W tensor,
as derive's ``conv2d`` takes it. Class indices (``kind="index"``, an Embedding's input) are a
list of whole numbers. A parameter used directly in a ``forward`` (``kind="tensor"``) keeps
PyTorch's shape, a vector as a column. With ``batch="rows"`` an example is a row instead (and a
parameter vector a row), as PyTorch holds them.

``Net`` collects the lines, the inputs' values, the parameters (with their scalar names and the
PyTorch parameter each comes from) and the nodes whose values must agree with PyTorch's.
``Use`` is one node being written: the module or function, where it sits, its operands — and
``refuse``, the one way a setting or an operand that is not modelled is named.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from math import prod

from ...core.errors import DeriveError

# names the loss and the data take; a layer's nodes never take them
RESERVED = frozenset({"X", "Y", "L", "p"})
_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


class UnsupportedModel(DeriveError):
    """A PyTorch module, function, method or setting that ``from_torch`` does not model, refused
    by name (never ignored): the message names it, where it sits and what to change."""


@dataclass(frozen=True)
class Flow:
    """One tensor of the model: its name in the equations, PyTorch's shape, and whether its first
    dimension is the batch. ``last`` names the operation that made it when a loss needs to know
    (``"softmax"``: cross-entropy takes it as probabilities)."""

    name: str
    shape: tuple
    batched: bool
    kind: str = "data"  # "data" (one column per example), "image", "index" or "tensor" (see above)
    last: str = ""

    @property
    def features(self) -> tuple:
        return tuple(self.shape[1:]) if self.batched else tuple(self.shape)

    @property
    def width(self) -> int:
        return prod(self.features)

    def derived(self, name: str, features: tuple | None = None, last: str = "",
                kind: str | None = None) -> "Flow":
        """The flow of a result with this one's batch (and these features and kind, else the
        same)."""
        features = self.features if features is None else tuple(features)
        shape = ((self.shape[0],) if self.batched else ()) + features
        return Flow(name, shape, self.batched, kind or self.kind, last)


def columns(t, batched: bool, kind: str = "data", rows: bool = False):
    """A PyTorch tensor as derive's value of that kind (see the module docstring): one column per
    example (features flattened); one image C×H×W; class indices; or a parameter as it is (a
    vector as a column, a 0-d tensor as a number). ``rows``: the batch convention whose
    examples are rows — one row per example, a parameter vector a row."""
    if kind == "index":
        return t.detach().cpu().long().tolist()
    t = t.detach().cpu().double()
    if kind == "tensor":
        if t.dim() == 0:
            return t.item()
        if t.dim() == 1:
            return [t.tolist()] if rows else t.reshape(-1, 1).tolist()
        return t.tolist()
    if kind == "image":
        return t.reshape(t.shape[-3:]).tolist()
    one_per_example = t.reshape(t.shape[0] if batched else 1, -1)
    return one_per_example.tolist() if rows else one_per_example.T.tolist()


def number(v) -> str:
    """A setting as the equations write it: a float as the decimal it prints as."""
    if isinstance(v, bool):
        raise TypeError(v)
    return repr(int(v)) if float(v).is_integer() else repr(float(v))


@dataclass
class Use:
    """One fx node being written: ``module`` (None for a function or method), its ``path`` in the
    model ('' for the model itself), its ``op`` (the class, function or method name), operands
    (Flows, numbers, tuples) and keyword arguments; ``net`` the equations written so far."""

    net: "Net"
    node: object
    op: str
    path: str
    module: object
    args: tuple
    kwargs: dict

    def where(self) -> str:
        """Where the node sits, as a message names it: ``layer 2 (Dropout(p=0.5, …))`` in a
        Sequential, else the module's path in the model, or the function and its node."""
        if self.node.op == "call_module":
            if self.net.sequential and self.path.isdigit():
                return f"layer {int(self.path) + 1} ({self.module})"
            return f"`{self.path}` ({self.module})" if self.path else f"the model ({self.module})"
        return f"`{self.op}` (node `{self.node.name}` of the traced forward)"

    def refuse(self, what: str, fix: str = "") -> UnsupportedModel:
        return UnsupportedModel(f"from_torch: {self.where()}: {what}" + (f"; {fix}" if fix else ""))

    def flow(self, i: int = 0) -> Flow:
        """Operand i, which must be a tensor of the model."""
        a = self.args[i] if i < len(self.args) else None
        if not isinstance(a, Flow):
            raise self.refuse(f"operand {i + 1} is {a!r}, not a tensor of the model")
        return a

    def torch_in(self, i: int = 0):
        """PyTorch's value of operand i (float64), from the reference run."""
        return self.net.reference(self.node.args[i].name)

    def torch_out(self):
        return self.net.reference(self.node.name)


@dataclass
class TorchParameter:
    """Where a PyTorch parameter went: the derive tensors that hold it (stacked by rows, as an
    LSTM's four gates are), and its shape."""

    names: tuple
    shape: tuple


@dataclass
class Net:
    """The equations of a model under construction (see the module docstring)."""

    recorded: dict  # fx node name -> PyTorch's value (float64) in the reference run
    sequential: bool = False  # the model is an nn.Sequential: messages count its layers
    failure: str | None = None  # where PyTorch could not run the model, its error
    lines: list = field(default_factory=list)
    values: dict = field(default_factory=dict)
    params: list = field(default_factory=list)  # tensor names, in order
    aliases: dict = field(default_factory=dict)  # scalar name -> (tensor, row, column)
    torch_parameters: dict = field(default_factory=dict)  # PyTorch name -> TorchParameter
    checks: list = field(default_factory=list)  # (derive name, fx node name, tuple index or None)
    layer: int = 0  # layers with parameters so far: their names' number
    taken: set = field(default_factory=lambda: set(RESERVED))
    masks: dict = field(default_factory=dict)  # Dropout path -> the units it keeps
    masks_used: set = field(default_factory=set)
    rows: bool = False  # the batch convention: the examples are rows (X @ Wᵀ + b), not columns
    flows: dict = field(default_factory=dict)  # fx node name -> its Flow (or tuple of Flows)
    seen: dict = field(default_factory=dict)  # PyTorch parameter name -> its derive names

    def layout(self, t, batched: bool, kind: str = "data"):
        """A PyTorch tensor as this example's value (``columns`` in its batch convention)."""
        return columns(t, batched, kind, self.rows)

    def affine(self, W: str, x: str, b: str = "") -> str:
        """W x + b for every example: ``W @ x + b`` with the examples as columns, ``x @ W.T + b``
        with them as rows."""
        product = f"{x} @ {W}.T" if self.rows else f"{W} @ {x}"
        return product + (f" + {b}" if b else "")

    def reference(self, node: str):
        """PyTorch's value at a node; where PyTorch stopped before it, its error."""
        if node not in self.recorded:
            raise UnsupportedModel(f"from_torch: {self.failure}")
        return self.recorded[node]

    def fresh(self, prefix: str, l: int | None = None) -> str:
        """``{prefix}{l}`` (l the current layer), or with a further number if that is taken."""
        base = f"{prefix}{self.layer if l is None else l}"
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def new_layer(self) -> int:
        self.layer += 1
        return self.layer

    def equation(self, name: str, text: str, use: Use | None = None, index=None) -> str:
        """``name = text``; with ``use``, its value is checked against PyTorch's at that node."""
        self.lines.append(f"{name} = {text}")
        if use is not None:
            self.checks.append((name, use.node.name, index))
        return name

    def given(self, name: str, value) -> str:
        """An input that is data or a constant (never updated)."""
        self.taken.add(name)
        self.values[name] = value
        return name

    def parameter(self, use: Use, attr: str, names, shape: tuple | None = None) -> tuple:
        """The module's parameter ``attr`` as derive tensors: one name, or several that split it
        by rows (an LSTM's gates); a matrix keeps its rows and columns, a vector is a column, or
        each part takes ``shape`` (() a number). A parameter that does not require a gradient is
        an input that is never updated. Returns the names."""
        names = (names,) if isinstance(names, str) else tuple(names)
        prefix = f"{use.path}." if use.path else ""
        return self.tensor_parameter(getattr(use.module, attr), prefix + attr, names, shape)

    def tensor_parameter(self, p, torch_name: str, names: tuple, shape: tuple | None = None) -> tuple:
        if torch_name in self.seen:  # a module called twice shares its parameters
            return self.seen[torch_name]
        self.seen[torch_name] = names
        t = p.detach().cpu().double()
        parts = t.chunk(len(names), dim=0) if len(names) > 1 else (t,)
        for name, part in zip(names, parts):
            part = part if shape is None else part.reshape(shape)
            self.taken.add(name)
            self.values[name] = self.layout(part, False, "tensor")
            if p.requires_grad:
                self.params.append(name)
                # entries by scalar names (w1_2_1) for vectors and matrices; a kernel is itself
                rows = part.reshape(part.shape[0], -1) if 0 < part.dim() <= 2 else None
                if rows is not None and rows.numel() > 1:
                    scalar = name[0].lower() + name[1:]
                    for j in range(rows.shape[0]):
                        for i in range(rows.shape[1]):
                            key = f"{scalar}_{j + 1}" if rows.shape[1] == 1 else f"{scalar}_{j + 1}_{i + 1}"
                            self.aliases[key] = (name, j, i)
        if p.requires_grad:
            self.torch_parameters[torch_name] = TorchParameter(names, tuple(p.shape))
        return names

    def scalar_params(self) -> list:
        """The parameters by their scalar names (w1_2_1, gamma2_1, k1_3), as mlp names them; a
        parameter of one entry is its own name."""
        out = []
        for p in self.params:
            entries = [a for a, (base, _, _) in self.aliases.items() if base == p]
            out += entries or [p]
        return out


def plain_name(text: str) -> bool:
    """A name the equations can use as it is (letters and digits)."""
    return bool(_PLAIN.match(text))
