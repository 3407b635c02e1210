"""Builders for the standard examples. Each writes staged equations with the names of the design
card and hands them to the engine, so a builder's example is derived exactly like user text."""
from __future__ import annotations

from ..core import budget
from ..core.engine import graph_of
from ..core.errors import DeriveError, InvalidValue
from .example import Example
from ..core.functions import activation as _activation
from ..core.losses import loss as _loss


def _activation_call(name: str, arg: str, alpha=None) -> str:
    spec = _activation(name)
    if alpha is not None and spec.arity == 2:
        return f"{name}({arg}, {alpha})"
    return f"{name}({arg})"


def _plain(value):
    """A numpy array as nested lists of its own scalars (``tolist()`` would turn a float32 3.001
    into the Python float 3.0009999275207520); a 0-d array as its scalar; lists and tuples
    element by element; anything else unchanged. Builders take arrays wherever they take lists,
    and torch tensors (parameters too) as the numpy arrays they hold."""
    from ..core.numbers import from_torch
    value = from_torch(value)[0]
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) is not None:
        if value.ndim == 0:
            return value[()]
        return [_plain(v) for v in value]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


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
    >>> import numpy as np
    >>> neuron(x=np.array([1.0, 2.0]), w=np.array([0.5, -0.25]), b=np.float64(0), y=1).value("z")
    0
    """
    x, w, b, y, lr = _plain(x), _plain(w), _plain(b), _plain(y), _plain(lr)
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
    return Example(graph_of(text, inputs=list(values)), given or None, params, lr,
                   title, "neuron", meta)


def _per_layer(value, depth: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != depth:
            raise DeriveError(f"{name}: expected {depth} value{'' if depth == 1 else 's'} (one per layer), got {len(value)}")
        return list(value)
    return [value] * depth


def chain(depth: int = 3, weight=5, x=1, activation: str = "relu", loss: str = "half_squared_error",
          y=0, bias=None, lr=None, title: str | None = None) -> Example:
    """A deep chain of single units: ``z_l = w_l·a_(l−1) [+ b_l]``, ``a_l = activation(z_l)``,
    ``a_0 = x``, then the loss. ``weight`` (and ``bias``) is a number or a list, one per layer.

    >>> chain(depth=3, weight=5, x=1).grad("w1")
    3125
    """
    weight, x, y, bias, lr = _plain(weight), _plain(x), _plain(y), _plain(bias), _plain(lr)
    depth = _plain(depth)
    if type(depth).__module__ == "numpy" and getattr(depth, "dtype", None) is not None and depth.dtype.kind in "iu":
        depth = int(depth)  # np.int64(3), e.g. from a range of depths
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise DeriveError(f"depth must be a whole number ≥ 1, got {depth!r}")
    budget.check_nodes(3 * depth + 3, f"a chain of depth {depth}")  # before writing its lines
    _loss(loss)
    act = _activation(activation)
    weights = _per_layer(weight, depth, "weight")
    biases = None if bias is None else _per_layer(bias, depth, "bias")
    lines, values, latex = [], {"x": x}, {"a0": "a^{(0)}"}  # a0 = x, as the document says
    for l in range(1, depth + 1):
        prev = "x" if l == 1 else f"a{l - 1}"
        lines.append(f"z{l} = w{l}*{prev}" + (f" + b{l}" if biases else ""))
        lines.append(f"a{l} = {_activation_call(activation, f'z{l}')}")
        values[f"w{l}"] = weights[l - 1]
        if biases:
            values[f"b{l}"] = biases[l - 1]
        for base in ("z", "a", "w", "b"):
            latex[f"{base}{l}"] = f"{base}^{{({l})}}"
    lines.append(f"L = {_loss(loss).equation([f'a{depth}'], ['y'])}")
    values["y"] = y
    params = [f"w{l}" for l in range(1, depth + 1)] + ([f"b{l}" for l in range(1, depth + 1)] if biases else [])
    order = ["x"] + [k for k in values if k not in ("x", "y")] + ["y"]
    meta = {"activation": activation, "loss": loss, "depth": depth, "focus": "w1",
            "weights": weights, "biases": biases}
    title = title or f"Exploding and vanishing gradients: a {depth}-layer {act.unicode if act.unicode.isascii() else act.name} chain"
    return Example(graph_of("\n".join(lines), inputs=order), values, params, lr, title,
                   "chain", meta, latex)


def mlp(inputs, weights, biases, targets, activation="sigmoid", loss: str = "half_squared_error",
        lr=None, focus: str | None = None, title: str | None = None, batch: str = "columns") -> Example:
    """A multi-layer perceptron of any widths. ``weights[l][j][i]`` is layer l+1's weight from
    input i to neuron j (PyTorch's (out, in) order), named ``w{l}_{j}_{i}`` (1-based); biases
    ``b{l}_{j}``; nodes ``z{l}_{j}``, ``a{l}_{j}``; inputs ``x1 …``, targets ``y1 …``.
    ``activation`` is one name or a list with one per layer (e.g. ["relu", "sigmoid"]).

    ``inputs`` may also be a mini-batch (a list of input vectors; the loss is the mean over it),
    and the last activation may be ``"softmax"`` with ``loss="cross_entropy"``, whose ``targets``
    are 0-based class indices (one per example) or one-hot vectors: then the example is built
    with matrices (``W{l}``, ``b{l}``, ``X``, ``Y``; see ``mlp_tensor``), its parameters still
    named ``w{l}_{j}_{i}`` and ``b{l}_{j}``. With a cross-entropy loss, ``targets=[3]`` for one
    input vector is one class index (0-based), not a one-hot vector of the wrong length.

    ``batch="rows"`` builds it in the row convention of PyTorch and CS231n: the examples are the
    rows of ``X``, ``z{l} = a{l−1} @ W{l} + b{l}`` with ``W{l}`` (in × out), the transpose of the
    columns convention's; the loss is the same, each gradient the transpose.

    >>> ex = mlp([1, 2], [[[1, 0], [0, 1]]], [[0, 0]], [1, 2], activation="identity")
    >>> ex.grad("w1_1_1")
    0
    """
    inputs, weights, biases, targets = _plain(inputs), _plain(weights), _plain(biases), _plain(targets)
    lr = _plain(lr)
    if _one_class_index(inputs, weights, targets, loss):
        targets = targets[0]  # [3]: one class index for one example, as the contract reads it
    if batch != "columns" or _tensor_mlp(inputs, activation, targets):
        return mlp_tensor(inputs, weights, biases, targets, activation, loss, lr, focus, title, batch)
    xs = list(inputs) if isinstance(inputs, (list, tuple)) else None
    ys = list(targets) if isinstance(targets, (list, tuple)) else None
    if not xs or not ys:
        raise DeriveError("mlp: inputs and targets must be non-empty lists of numbers")
    if not isinstance(weights, (list, tuple)) or not weights:
        raise DeriveError("mlp: weights must be a list with one matrix [out][in] per layer")
    layers = len(weights)
    acts = list(activation) if isinstance(activation, (list, tuple)) else [activation] * layers
    if len(acts) != layers:
        raise DeriveError(f"mlp: {layers} layers but {len(acts)} activations")
    for a in acts:
        _activation(a)
    _loss(loss)
    if not isinstance(biases, (list, tuple)) or len(biases) != layers:
        raise DeriveError(f"mlp: biases must be a list with one vector per layer ({layers} layers)")
    _check_mlp_size(xs, ys, weights)
    lines, values = [], {f"x{i}": v for i, v in enumerate(xs, start=1)}
    width_in = len(xs)
    prev = [f"x{i}" for i in range(1, width_in + 1)]
    for l, (W, bvec) in enumerate(zip(weights, biases), start=1):
        if not isinstance(W, (list, tuple)) or not W or not all(isinstance(r, (list, tuple)) for r in W):
            raise DeriveError(f"mlp: weights[{l - 1}] must be a matrix (a list of rows)")
        if any(len(r) != width_in for r in W):
            raise DeriveError(f"mlp: layer {l} weights must have {width_in} columns (its inputs), "
                              f"got rows of length {sorted({len(r) for r in W})}")
        if not isinstance(bvec, (list, tuple)):
            raise DeriveError(f"mlp: biases[{l - 1}] must be a list with one bias per neuron, got {bvec!r}")
        if len(bvec) != len(W):
            raise DeriveError(f"mlp: layer {l} has {len(W)} neurons but {len(bvec)} biases")
        current = []
        for j, row in enumerate(W, start=1):
            terms = [f"w{l}_{j}_{i}*{p}" for i, p in enumerate(prev, start=1)]
            lines.append(f"z{l}_{j} = {' + '.join(terms)} + b{l}_{j}")
            lines.append(f"a{l}_{j} = {_activation_call(acts[l - 1], f'z{l}_{j}')}")
            for i, wji in enumerate(row, start=1):
                values[f"w{l}_{j}_{i}"] = wji
            values[f"b{l}_{j}"] = bvec[j - 1]
            current.append(f"a{l}_{j}")
        prev, width_in = current, len(W)
    if len(ys) != len(prev):
        raise DeriveError(f"mlp: the last layer has {len(prev)} outputs but {len(ys)} targets")
    lines.append(f"L = {_loss(loss).equation(prev, [f'y{k}' for k in range(1, len(ys) + 1)])}")
    for k, v in enumerate(ys, start=1):
        values[f"y{k}"] = v
    params = [k for k in values if k.startswith(("w", "b"))]
    focus = focus or params[0]
    if focus not in params:
        raise DeriveError(f"mlp: focus {focus!r} is not a parameter; choose one of {', '.join(params[:6])} …")
    meta = {"activation": acts, "loss": loss, "focus": focus, "layers": layers,
            "widths": [len(xs)] + [len(W) for W in weights]}
    widths = "-".join(str(w) for w in meta["widths"])
    title = title or f"Backpropagation through a {widths} network"
    return Example(graph_of("\n".join(lines), inputs=list(values)), values, params, lr,
                   title, "mlp", meta)


def _is_vector(v) -> bool:
    import numpy as np
    return isinstance(v, (list, tuple, np.ndarray))


def _one_class_index(inputs, weights, targets, loss) -> bool:
    """``targets=[3]`` with a cross-entropy loss, one input vector and more than one output: one
    0-based class index (a one-hot vector would need one entry per output)."""
    from ..core.losses import LOSSES
    spec = LOSSES.get(loss)
    if spec is None or not spec.class_targets or not _is_vector(targets) or len(targets) != 1:
        return False
    if not _is_vector(inputs) or (len(inputs) and _is_vector(inputs[0])) or _is_vector(targets[0]):
        return False
    last = weights[-1] if isinstance(weights, (list, tuple)) and weights else None
    outputs = len(last) if isinstance(last, (list, tuple)) else 0
    value = targets[0]
    whole = isinstance(value, int) and not isinstance(value, bool) or (
        isinstance(value, float) and value.is_integer())
    return outputs > 1 and whole


def _tensor_mlp(inputs, activation, targets) -> bool:
    """A mini-batch, a layer function over whole vectors (softmax) or a class-index target needs
    the tensor engine; everything else keeps the scalar derivation (one line per neuron)."""
    from ..core.tensor import TENSOR_FUNCTIONS
    acts = list(activation) if isinstance(activation, (list, tuple)) else [activation]
    batch = _is_vector(inputs) and len(inputs) > 0 and _is_vector(inputs[0])
    return batch or any(a in TENSOR_FUNCTIONS for a in acts) or not _is_vector(targets)


def mlp_tensor(inputs, weights, biases, targets, activation="relu", loss: str = "half_squared_error",
               lr=None, focus: str | None = None, title: str | None = None, batch: str = "columns"):
    """The MLP in matrix form: ``z{l} = W{l} @ a{l−1} + b{l}``, ``a{l} = f(z{l})``, ``a0 = X``
    (one column per example), then the loss averaged over the batch. Parameters keep the scalar
    names (``w{l}_{j}_{i}`` is ``W{l}[j−1, i−1]``; ``b{l}_{j}``); with one example the nodes do too
    (``z{l}_{j}``, ``a{l}_{j}``). ``batch="rows"``: one row per example, ``z{l} = a{l−1} @ W{l} +
    b{l}`` with ``W{l}`` the transpose (in × out; ``w{l}_{j}_{i}`` is ``W{l}[i−1, j−1]``), b a row.

    >>> ex = mlp_tensor([[1, 2], [0, 1]], [[[1, -1], [0, 1]]], [[0, 0]], [0, 1],
    ...                 activation=["softmax"], loss="cross_entropy")
    >>> ex.shape("X"), ex.shape("W1")
    ((2, 2), (2, 2))
    """
    import numpy as np

    from ..core.functions import ACTIVATIONS
    from ..core.losses import loss as loss_spec
    from ..core.engine import Graph
    from ..core.tensor import TENSOR_FUNCTIONS, TensorFunction
    from .tensors import TensorExample

    rows = [list(np.asarray(v, dtype=object).ravel()) for v in inputs] if (
        _is_vector(inputs) and len(inputs) and _is_vector(inputs[0])) else None
    convention, batch = batch, rows is not None  # ``batch`` from here on: is it a mini-batch
    if rows is None:
        if not _is_vector(inputs) or not len(inputs):
            raise DeriveError("mlp: inputs must be a vector or a list of vectors (a mini-batch)")
        rows = [list(inputs)]
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise DeriveError(f"mlp: the input vectors have different lengths {sorted(widths)}")
    n = len(rows)
    if not isinstance(weights, (list, tuple)) or not weights:
        raise DeriveError("mlp: weights must be a list with one matrix [out][in] per layer")
    layers = len(weights)
    acts = list(activation) if isinstance(activation, (list, tuple)) else [activation] * layers
    if len(acts) != layers:
        raise DeriveError(f"mlp: {layers} layers but {len(acts)} activations")
    for a in acts:
        spec = TENSOR_FUNCTIONS.get(a)
        if not (isinstance(spec, TensorFunction) and spec.layer) and a not in ACTIVATIONS:
            layer_functions = sorted([*ACTIVATIONS, *(k for k, v in TENSOR_FUNCTIONS.items() if v.layer)])
            raise DeriveError(f"unknown activation {a!r}; choose one of: {', '.join(layer_functions)}")
    spec = loss_spec(loss)
    if spec.batch is None:
        raise DeriveError(f"mlp: the loss {loss!r} has no matrix form")
    if not isinstance(biases, (list, tuple)) or len(biases) != layers:
        raise DeriveError(f"mlp: biases must be a list with one vector per layer ({layers} layers)")
    by_rows = convention == "rows"
    values = {"X": [list(r) for r in rows] if by_rows else [[r[i] for r in rows] for i in range(len(rows[0]))]}
    lines, prev, width, aliases = [], "X", len(rows[0]), {}

    def at(j: int, i: int) -> tuple:  # entry (j, i) of the columns convention, in this one's layout
        return (i, j) if by_rows else (j, i)
    for l, (W, bvec) in enumerate(zip(weights, biases), start=1):
        W = np.asarray(W, dtype=object)
        if W.ndim != 2 or W.shape[1] != width:
            raise DeriveError(f"mlp: layer {l} weights must be a matrix with {width} columns (its "
                              f"inputs), got shape {W.shape}")
        if len(bvec) != W.shape[0]:
            raise DeriveError(f"mlp: layer {l} has {W.shape[0]} neurons but {len(bvec)} biases")
        lines.append(f"z{l} = {prev} @ W{l} + b{l}" if by_rows else f"z{l} = W{l} @ {prev} + b{l}")
        lines.append(f"a{l} = {acts[l - 1]}(z{l})")
        values[f"W{l}"], values[f"b{l}"] = (W.T if by_rows else W).tolist(), list(bvec)
        for j in range(W.shape[0]):
            for i in range(W.shape[1]):
                aliases[f"w{l}_{j + 1}_{i + 1}"] = (f"W{l}", *at(j, i))
        for j in range(W.shape[0]):
            aliases[f"b{l}_{j + 1}"] = (f"b{l}", *at(j, 0))
            if not batch:
                aliases[f"z{l}_{j + 1}"] = (f"z{l}", *at(j, 0))
                aliases[f"a{l}_{j + 1}"] = (f"a{l}", *at(j, 0))
        prev, width = f"a{l}", W.shape[0]
    if not batch:
        for i in range(len(rows[0])):
            aliases[f"x{i + 1}"] = ("X", *at(i, 0))
    values["Y"] = _targets(targets, n, width, batch, spec.class_targets)
    _check_class_output(values["Y"], targets, acts, spec.class_targets)
    if by_rows and _is_vector(values["Y"]) and _is_vector(values["Y"][0]):
        values["Y"] = [list(r) for r in zip(*values["Y"])]  # one row per example
    lines.append(f"L = {spec.batch(prev, 'Y', n)}")
    params = [name for name in aliases if name[0] in "wb"]
    focus = focus or params[0]
    if focus not in params:
        raise DeriveError(f"mlp: focus {focus!r} is not a parameter; choose one of {', '.join(params[:6])} …")
    meta = {"activation": acts, "loss": loss, "focus": focus, "layers": layers, "batch": n,
            "widths": [len(rows[0])] + [len(w) for w in weights], "convention": convention}
    title = title or (f"Backpropagation through a {'-'.join(map(str, meta['widths']))} network"
                      + (f" on a mini-batch of {n}" if batch else ""))
    from ..core.functions import FUNCTIONS
    from ..core.parser import parse_equations
    graph = Graph(parse_equations("\n".join(lines), {**FUNCTIONS, **TENSOR_FUNCTIONS}), tensor=True,
                  inputs=["X"] + [k for k in values if k not in ("X", "Y")] + ["Y"])
    return TensorExample(graph, values, params, lr, title, "mlp", meta, aliases, batch=convention)


def _check_class_output(Y, targets, acts, classes: bool) -> None:
    """Class-index targets are compared with probabilities (DESIGN: ``activation=[…, "softmax"]``
    with ``loss="cross_entropy"`` takes class indices): another output layer (the default
    sigmoid) gives outputs that do not sum to 1, and −log a_y of them is no cross-entropy."""
    indices = classes and (not _is_vector(Y) or not any(_is_vector(t) for t in Y))
    if indices and acts[-1] != "softmax":
        fixed = ", ".join(f'"{a}"' for a in [*acts[:-1], "softmax"])
        raise InvalidValue(f"mlp: the targets ({targets!r}) are class indices and cross_entropy reads "
                           f"them against probabilities, but the output layer is {acts[-1]!r}, "
                           f"whose outputs do not sum to 1: end with a softmax, "
                           f"activation=[{fixed}] (or give one-hot targets)")


def _targets(targets, n: int, k: int, batch: bool, classes: bool):
    """Targets as the matrix Y (k × n, one column per example), or class indices (one per example)."""
    import numpy as np
    if not batch:
        if classes and not _is_vector(targets):
            return targets  # one class index
        targets = [targets]
    if len(targets) != n:
        raise DeriveError(f"mlp: {n} examples but {len(targets)} targets")
    if classes and not any(_is_vector(t) for t in targets):
        return list(targets)  # class indices
    cols = [list(np.asarray(t, dtype=object).ravel()) for t in targets]
    if any(len(c) != k for c in cols):
        raise DeriveError(f"mlp: the last layer has {k} outputs; every target needs {k} entries")
    return [[c[i] for c in cols] for i in range(k)]


def _check_mlp_size(xs, ys, weights) -> None:
    """Nodes and inputs of the network, counted from the shapes before any line is written (one
    1000×1000 layer is a million weights)."""
    count = len(xs) + len(ys) + 1
    for W in weights:
        if isinstance(W, (list, tuple)):
            rows = len(W)
            cols = max((len(r) for r in W if isinstance(r, (list, tuple))), default=0)
            count += rows * (cols + 3)  # weights, bias, z and a per neuron
            if count > budget.current().max_nodes:
                break
    budget.check_nodes(count, "the network")
