"""PyTorch modules as equations: one entry per ``nn.Module`` class (``MODULES``), each writing the
module's lines for one call in the traced forward. Every constructor argument that changes the
math is read and modelled, or refused by name (``Use.refuse``); arguments that change no number
(``inplace``, ``momentum`` of a BatchNorm's running statistics, ``sparse``) are read and left.

Each entry also declares the ``rank`` of one example's input (1 for a feature vector, 2 for a
(channels, length) signal): an input with one more dimension is a batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ...core.tensor import conv_windows
from .activations import ACTIVATION_MODULES, module_settings, write_activation
from .net import Flow, Use, number


@dataclass(frozen=True)
class ModuleEntry:
    write: Callable[[Use], object]  # -> the result Flow (or a tuple of Flows: an LSTM's (h, c))
    rank: int | None = 1  # dimensions of one example's input (None: any)


MODULES: dict[str, ModuleEntry] = {}


def module(name: str, rank: int | None = 1):
    def register(write):
        MODULES[name] = ModuleEntry(write, rank)
        return write
    return register


def _vector_input(use: Use, width: int, what: str) -> Flow:
    flow = use.flow(0)
    if len(flow.features) != 1:
        raise use.refuse(f"its input has shape {tuple(flow.shape)}; derive's {what} takes one "
                         f"feature vector per example", "put nn.Flatten() before it")
    if flow.width != width:
        raise use.refuse(f"it takes {width} features but receives {flow.width}")
    return flow


def _bias(use: Use, l: int, name: str = "b") -> str:
    return use.net.parameter(use, "bias", f"{name}{l}")[0] if use.module.bias is not None else ""


@module("Linear")
def linear(use: Use):
    """z = W x + b (W: out × in, PyTorch's weight; no b when bias=False)."""
    m = use.module
    flow = _vector_input(use, m.in_features, "Linear")
    l = use.net.new_layer()
    W = use.net.parameter(use, "weight", f"W{l}")[0]
    b = _bias(use, l)
    z = use.net.fresh("z", l)
    use.net.equation(z, use.net.affine(W, flow.name, b), use)
    return flow.derived(z, (m.out_features,))


def _activation_module(name: str):
    def write(use: Use):
        return write_activation(name, module_settings(name, use.module), use)
    return write


for _class, _name in ACTIVATION_MODULES.items():
    MODULES[_class] = ModuleEntry(_activation_module(_name), None)


@module("Dropout", None)
def dropout(use: Use):
    """Eval mode: the identity. Training mode: d = x ⊙ m/(1 − p) with the mask m of kept units
    given by the caller (``masks={path: mask}``), as PyTorch scales the kept ones."""
    m = use.module
    flow = use.flow(0)
    mask = use.net.masks.get(use.path)
    if not m.training or m.p == 0:
        if mask is not None:
            raise use.refuse("a mask is given but the layer does not drop in this mode "
                             f"({'eval' if not m.training else 'p=0'})", "drop the mask")
        return flow
    if m.p >= 1:
        raise use.refuse("p=1 drops every unit (the output is 0)", "use p < 1")
    if mask is None:
        raise use.refuse("it is in training mode and drops units at random",
                         f"give the units it keeps: from_torch(…, masks={{{use.path!r}: mask}}) "
                         f"(mask: 1 where kept, 0 where dropped, of the input's shape "
                         f"{tuple(flow.shape)}), or call model.eval()")
    use.net.masks_used.add(use.path)
    name = use.net.given(use.net.fresh("mask"), mask_columns(use, mask, flow))
    d = use.net.fresh("d")
    use.net.equation(d, f"{flow.name}*{name}/{number(1 - m.p)}", use)
    return flow.derived(d)


def mask_columns(use: Use, mask, flow: Flow) -> list:
    """The mask as the input is laid out (one column per example, or the image), 0s and 1s."""
    import torch
    t = torch.as_tensor(mask).detach()
    if tuple(t.shape) != tuple(flow.shape):
        raise use.refuse(f"its mask has shape {tuple(t.shape)}; it needs the input's shape "
                         f"{tuple(flow.shape)}")
    t = t.double()
    if not bool(((t == 0) | (t == 1)).all()):
        raise use.refuse("its mask must hold 1 (kept) and 0 (dropped) only",
                         "pass (output != 0) of a training-mode call, not the scaled output")
    return _whole(use.net.layout(t, flow.batched, flow.kind))


def _whole(v):
    return [_whole(e) for e in v] if isinstance(v, list) else int(v)


@module("Flatten", None)
def flatten(use: Use):
    """One example's features, flattened (derive's columns hold them flattened already)."""
    m = use.module
    return flatten_flow(use, m.start_dim, m.end_dim)


def flatten_flow(use: Use, start_dim: int, end_dim: int) -> Flow:
    flow = use.flow(0)
    ndim = len(flow.shape)
    end = end_dim + ndim if end_dim < 0 else end_dim
    whole = start_dim == 0 and end == ndim - 1  # the batch too: one vector
    if whole and flow.batched:
        if flow.shape[0] != 1:
            raise use.refuse(f"flattening from dimension 0 merges the {flow.shape[0]} examples of "
                             f"the batch into one vector", "flatten from dimension 1 (start_dim=1)")
        flow = Flow(flow.name, flow.features, False, flow.kind, flow.last)  # a batch of one: the example
    if flow.kind == "image":  # one image as one column: f = vec(x), channel by channel, row by row
        if (start_dim == (1 if flow.batched else 0)) and end == ndim - 1:
            f = use.net.fresh("f")
            use.net.equation(f, f"flatten({flow.name})", use)
            return flow.derived(f, (flow.width,), kind="data")
        raise use.refuse(f"start_dim={start_dim}, end_dim={end_dim} does not flatten the whole "
                         f"image {tuple(flow.features)}", "flatten every dimension of the example "
                         "(start_dim=1 for a batch of one, 0 for one image)")
    if not flow.batched:
        if flow.shape and flow.shape[0] == 1 and ndim >= 2 and start_dim == 1:
            # one example of one row: PyTorch reads (1, n) as a batch of one, as derive does
            flow = Flow(flow.name, flow.shape, True, flow.kind, flow.last)
        elif whole:
            return Flow(flow.name, (flow.width,), False)
        else:
            raise use.refuse(f"flattening one example of shape {tuple(flow.shape)} from dimension "
                             f"{start_dim} splits it into {flow.shape[0]} rows",
                             "pass a batch (batch first), or flatten every dimension (start_dim=0)")
    if start_dim != 1 or end != ndim - 1:
        raise use.refuse(f"start_dim={start_dim}, end_dim={end_dim} keeps more than the batch "
                         f"dimension apart", "flatten from dimension 1 (start_dim=1, end_dim=-1)")
    return Flow(flow.name, (flow.shape[0], flow.width), True)


@module("BatchNorm1d")
def batchnorm1d(use: Use):
    """Training mode (or track_running_stats=False): μ and σ² over the batch (biased), as the
    batchnorm builder. Eval mode: the running statistics, constants. Then γ x̂ + β."""
    m = use.module
    flow = use.flow(0)
    if len(flow.shape) != 2 or not flow.batched:
        raise use.refuse(f"its input has shape {tuple(flow.shape)}; derive normalises a batch of "
                         f"feature vectors (batch, features)", "put nn.Flatten() and a Linear "
                         "layer before it")
    if m.num_features != flow.width:
        raise use.refuse(f"it normalises {m.num_features} features but receives {flow.width}")
    net = use.net
    l = net.new_layer()
    eps = net.given(net.fresh("eps", l), m.eps)
    x = flow.name
    batch_stats = m.training or not m.track_running_stats
    if batch_stats:
        if flow.shape[0] < 2:
            raise use.refuse("it needs a batch of at least 2 examples in training mode (the "
                             "variance of one is 0)")
        mu, d, var = net.fresh("mu", l), net.fresh("d", l), net.fresh("var", l)
        net.equation(mu, f"batch_mean({x})")  # over the examples, in either convention
        net.equation(d, f"{x} - {mu}")
        net.equation(var, f"batch_mean({d}**2)")
    else:  # eval: PyTorch's running statistics, which the loss does not differentiate
        mu = net.given(net.fresh("mu", l), net.layout(m.running_mean, False, "tensor"))
        var = net.given(net.fresh("var", l), net.layout(m.running_var, False, "tensor"))
        d = net.fresh("d", l)
        net.equation(d, f"{x} - {mu}")
    s, xhat = net.fresh("s", l), net.fresh("xhat", l)
    net.equation(s, f"sqrt({var} + {eps})")
    net.equation(xhat, f"{d}/{s}")
    z = net.fresh("z", l)
    if m.affine:
        gamma = net.parameter(use, "weight", f"gamma{l}")[0]
        beta = net.parameter(use, "bias", f"beta{l}")[0] if m.bias is not None else None
        net.equation(z, f"{gamma}*{xhat}" + (f" + {beta}" if beta else ""), use)
    else:
        net.equation(z, xhat, use)
    return flow.derived(z)


def _single(use: Use, value, what: str) -> int:
    v = value[0] if isinstance(value, (tuple, list)) else value
    if not isinstance(v, int):
        raise use.refuse(f"{what}={value!r} is not modelled", f"use a whole-number {what}")
    return v


def _padding(use: Use, padding, k: int) -> int:
    """A whole-number padding; 'valid' is 0 and 'same' (k−1)/2 where that is whole."""
    if padding == "valid":
        return 0
    if padding == "same":
        if k % 2 == 0:
            raise use.refuse(f"padding='same' with an even kernel ({k}) pads one side more than "
                             f"the other", "give the padding as a number")
        return (k - 1) // 2
    return _single(use, padding, "padding")


@module("Conv1d", 2)
def conv1d(use: Use):
    """One channel in, one out: z = conv1d(x, k, stride, padding) + b, each example a column."""
    m = use.module
    flow = use.flow(0)
    if len(flow.features) != 2:
        raise use.refuse(f"its input has shape {tuple(flow.shape)}; it takes (batch, channels, "
                         f"length)")
    if use.net.rows:
        raise use.refuse("derive's conv1d convolves columns; with batch=\"rows\" it is not "
                         "modelled", "use the default batch=\"columns\"")
    if (m.in_channels, m.out_channels, m.groups) != (1, 1, 1):
        raise use.refuse(f"it has {m.in_channels} input and {m.out_channels} output channels; "
                         f"derive's conv1d takes one channel (in_channels=1, out_channels=1)")
    if _single(use, m.dilation, "dilation") != 1:
        raise use.refuse(f"dilation={m.dilation} is not modelled (derive's conv1d has dilation=1)",
                         "use dilation=1")
    stride, padding = _single(use, m.stride, "stride"), _padding(use, m.padding, m.kernel_size[0])
    if padding and m.padding_mode != "zeros":
        raise use.refuse(f"padding_mode={m.padding_mode!r} pads with other numbers than zeros; "
                         f"derive's conv1d pads with zeros", "use padding_mode='zeros'")
    net = use.net
    l = net.new_layer()
    k = net.parameter(use, "weight", f"k{l}", shape=(m.kernel_size[0], 1))[0]  # (1, 1, k): a column
    b = net.parameter(use, "bias", f"b{l}", shape=())[0] if m.bias is not None else ""
    settings = f", {stride}, {padding}" if (stride, padding) != (1, 0) else ""
    z = net.fresh("z", l)
    net.equation(z, f"conv1d({flow.name}, {k}{settings})" + (f" + {b}" if b else ""), use)
    out = len(conv_windows(flow.features[1], m.kernel_size[0], stride, padding))
    return flow.derived(z, (1, out))


# --- recurrent cells: one step, h' from the input x and the state h ----------------------------


def _zeros(use: Use, width: int, name: str) -> Flow:
    """The state a call leaves out: zeros, as PyTorch takes it (an input named H0, C0)."""
    x = use.flow(0)
    shape = ((x.shape[0],) if x.batched else ()) + (width,)
    count = x.shape[0] if x.batched else 1
    zeros = [[0] * width for _ in range(count)] if use.net.rows else [[0] * count for _ in range(width)]
    return Flow(use.net.given(use.net.fresh(name, 0), zeros), shape, x.batched)


def _state(use: Use, given, width: int, name: str) -> Flow:
    """The state operand ``given`` (None: zeros), which must match the input's batch."""
    if given is None:
        return _zeros(use, width, name)
    x = use.flow(0)
    if not isinstance(given, Flow) or given.width != width or given.batched != x.batched:
        raise use.refuse(f"its state has shape {getattr(given, 'shape', given)}; it needs "
                         f"{width} entries per example, as its input's batch")
    return given


def _operand(use: Use, i: int):
    return use.args[i] if i < len(use.args) else use.kwargs.get("hx")


def _gates(use: Use, l: int, gates: str, bias: bool) -> dict:
    """The cell's weights split by gate, named as PyTorch's documentation writes them:
    W_i{g}, W_h{g} (the input's and the state's), b_i{g}, b_h{g}."""
    net = use.net
    out = {}
    for side in "ih":
        out[f"W_{side}"] = net.parameter(use, f"weight_{side}h", [f"W_{side}{g}{l}" for g in gates])
        out[f"b_{side}"] = (net.parameter(use, f"bias_{side}h", [f"b_{side}{g}{l}" for g in gates])
                            if bias else ("",) * len(gates))
    return out


def _affine(net, w: dict, k: int, x: str, h: str) -> tuple[str, str]:
    """(W_i x + b_i, W_h h + b_h) of gate k."""
    return net.affine(w["W_i"][k], x, w["b_i"][k]), net.affine(w["W_h"][k], h, w["b_h"][k])


@module("RNNCell")
def rnn_cell(use: Use):
    """h' = f(W_ih x + b_ih + W_hh h + b_hh), f = tanh or relu (nonlinearity)."""
    m = use.module
    x = _vector_input(use, m.input_size, "RNNCell")
    h = _state(use, _operand(use, 1), m.hidden_size, "H")
    if m.nonlinearity not in ("tanh", "relu"):
        raise use.refuse(f"nonlinearity={m.nonlinearity!r} is not modelled", "use 'tanh' or 'relu'")
    net = use.net
    l = net.new_layer()
    w = _gates(use, l, "h", m.bias)
    inner, state = _affine(net, w, 0, x.name, h.name)
    out = net.fresh("h", l)
    net.equation(out, f"{m.nonlinearity}({inner} + {state})", use)
    return x.derived(out, (m.hidden_size,))


@module("LSTMCell")
def lstm_cell(use: Use):
    """i, f, o = σ(W_i· x + b_i· + W_h· h + b_h·), g = tanh(…), c' = f ⊙ c + i ⊙ g,
    h' = o ⊙ tanh(c'); the result is (h', c')."""
    m = use.module
    x = _vector_input(use, m.input_size, "LSTMCell")
    state = _operand(use, 1)
    if state is not None and not (isinstance(state, tuple) and len(state) == 2):
        raise use.refuse("its state must be the pair (h, c)")
    h = _state(use, None if state is None else state[0], m.hidden_size, "H")
    c = _state(use, None if state is None else state[1], m.hidden_size, "C")
    net = use.net
    l = net.new_layer()
    w = _gates(use, l, "ifgo", m.bias)
    nodes = {}
    for k, (g, f) in enumerate(zip("ifgo", ("sigmoid", "sigmoid", "tanh", "sigmoid"))):
        inner, hidden = _affine(net, w, k, x.name, h.name)
        nodes[g] = net.equation(net.fresh(g, l), f"{f}({inner} + {hidden})")
    c_new = net.equation(net.fresh("c", l), f"{nodes['f']}*{c.name} + {nodes['i']}*{nodes['g']}",
                         use, 1)
    h_new = net.equation(net.fresh("h", l), f"{nodes['o']}*tanh({c_new})", use, 0)
    width = (m.hidden_size,)
    return (x.derived(h_new, width), x.derived(c_new, width))


@module("GRUCell")
def gru_cell(use: Use):
    """r, z = σ(W_i· x + b_i· + W_h· h + b_h·), n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),
    h' = (1 − z) ⊙ n + z ⊙ h."""
    m = use.module
    x = _vector_input(use, m.input_size, "GRUCell")
    h = _state(use, _operand(use, 1), m.hidden_size, "H")
    net = use.net
    l = net.new_layer()
    w = _gates(use, l, "rzn", m.bias)
    r_in, r_h = _affine(net, w, 0, x.name, h.name)
    z_in, z_h = _affine(net, w, 1, x.name, h.name)
    n_in, n_h = _affine(net, w, 2, x.name, h.name)
    r = net.equation(net.fresh("r", l), f"sigmoid({r_in} + {r_h})")
    z = net.equation(net.fresh("z", l), f"sigmoid({z_in} + {z_h})")
    n = net.equation(net.fresh("n", l), f"tanh({n_in} + {r}*({n_h}))")
    out = net.equation(net.fresh("h", l), f"(1 - {z})*{n} + {z}*{h.name}", use)
    return x.derived(out, (m.hidden_size,))


# --- images: one example's C×H×W, as derive's conv2d and pooling take it ------------------------


def _square(use: Use, value, what: str) -> int:
    """A setting PyTorch gives per dimension (3 or (3, 3)) that derive takes as one number."""
    vals = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(set(vals)) != 1 or not isinstance(vals[0], int):
        raise use.refuse(f"{what}={value!r} differs between height and width (or is not a whole "
                         f"number); derive's layer takes one {what} for both",
                         f"use a square {what}")
    return vals[0]


def _image_input(use: Use, channels: int | None = None) -> Flow:
    flow = use.flow(0)
    if flow.kind != "image":
        raise use.refuse(f"its input has shape {tuple(flow.shape)}; it takes one image "
                         f"(channels, height, width), or a batch of one")
    if channels is not None and flow.features[0] != channels:
        raise use.refuse(f"it takes {channels} channel(s) but receives {flow.features[0]}")
    return flow


@module("Conv2d", 3)
def conv2d(use: Use):
    """c = conv2d(x, K, stride, padding) + b: C_out×C_in×kh×kw kernel K (PyTorch's weight), b
    one number per output channel (C_out×1×1)."""
    m = use.module
    flow = _image_input(use, m.in_channels)
    if m.groups != 1:
        raise use.refuse(f"groups={m.groups} convolves groups of channels apart; derive's conv2d "
                         f"connects every input channel to every output channel", "use groups=1")
    if _square(use, m.dilation, "dilation") != 1:
        raise use.refuse(f"dilation={m.dilation} is not modelled (derive's conv2d has dilation=1)",
                         "use dilation=1")
    kh, kw = m.kernel_size
    stride = _square(use, m.stride, "stride")
    if m.padding == "same" and (kh % 2 == 0 or kw % 2 == 0 or kh != kw):
        raise use.refuse(f"padding='same' with a {kh}×{kw} kernel pads unevenly",
                         "give the padding as a number")
    padding = (kh - 1) // 2 if m.padding == "same" else (0 if m.padding == "valid" else
                                                          _square(use, m.padding, "padding"))
    if padding and m.padding_mode != "zeros":
        raise use.refuse(f"padding_mode={m.padding_mode!r} pads with other numbers than zeros; "
                         f"derive's conv2d pads with zeros", "use padding_mode='zeros'")
    net = use.net
    l = net.new_layer()
    K = net.parameter(use, "weight", f"K{l}")[0]
    b = "" if m.bias is None else net.parameter(use, "bias", f"b{l}", shape=(m.out_channels, 1, 1))[0]
    settings = (f", stride={stride}" if stride != 1 else "") + (f", padding={padding}" if padding else "")
    c = net.fresh("c", l)
    net.equation(c, f"conv2d({flow.name}, {K}{settings})" + (f" + {b}" if b else ""), use)
    _, h, w = flow.features
    out = (m.out_channels, len(conv_windows(h, kh, stride, padding)),
           len(conv_windows(w, kw, stride, padding)))
    return flow.derived(c, out)


def _pool(use: Use, op: str, size: int, stride: int, ceil_mode: bool) -> Flow:
    flow = _image_input(use)
    c, h, w = flow.features
    rows, cols = conv_windows(h, size, stride, 0), conv_windows(w, size, stride, 0)
    if ceil_mode and ((h - size) % stride or (w - size) % stride):
        raise use.refuse("ceil_mode=True adds a partial window at the edge here; derive pools "
                         "whole windows only", "use ceil_mode=False, or an input the windows tile")
    p = use.net.fresh("p")
    settings = f", {stride}" if stride != size else ""
    use.net.equation(p, f"{op}({flow.name}, {size}{settings})", use)
    return flow.derived(p, (c, len(rows), len(cols)))


@module("MaxPool2d", 3)
def maxpool2d(use: Use):
    """p = maxpool2d(x, size, stride): each window's maximum (the first at a tie, as PyTorch)."""
    m = use.module
    size = _square(use, m.kernel_size, "kernel_size")
    stride = _square(use, m.stride if m.stride is not None else size, "stride")
    if _square(use, m.padding, "padding") != 0:
        raise use.refuse(f"padding={m.padding} pads with −∞; derive's maxpool2d pools the image "
                         f"itself", "use padding=0")
    if _square(use, m.dilation, "dilation") != 1:
        raise use.refuse(f"dilation={m.dilation} is not modelled", "use dilation=1")
    if m.return_indices:
        raise use.refuse("return_indices=True returns the argmax too", "use return_indices=False")
    return _pool(use, "maxpool2d", size, stride, m.ceil_mode)


@module("AvgPool2d", 3)
def avgpool2d(use: Use):
    """p = avgpool2d(x, size, stride): each window's mean."""
    m = use.module
    size = _square(use, m.kernel_size, "kernel_size")
    stride = _square(use, m.stride if m.stride is not None else size, "stride")
    if _square(use, m.padding, "padding") != 0:
        raise use.refuse(f"padding={m.padding} is not modelled (derive's avgpool2d pools the "
                         f"image itself)", "use padding=0")
    # count_include_pad only counts padding, of which there is none here
    if m.divisor_override not in (None, size * size):
        raise use.refuse(f"divisor_override={m.divisor_override} divides by other than the "
                         f"window's {size * size} entries", "use divisor_override=None")
    return _pool(use, "avgpool2d", size, stride, m.ceil_mode)


# --- an embedding and layer normalisation ---------------------------------------------------------


@module("Embedding", 0)
def embedding(use: Use):
    """h = embedding(E, i): the rows of E picked by the class indices i, one column each."""
    m = use.module
    flow = use.flow(0)
    if flow.kind != "index":
        raise use.refuse(f"its input `{flow.name}` is not class indices",
                         "feed the indices to the Embedding first")
    indices = use.torch_in(0).reshape(-1).tolist()
    if m.padding_idx is not None and m.padding_idx in indices:
        raise use.refuse(f"padding_idx={m.padding_idx} is among the indices; PyTorch gives its row "
                         f"no gradient, which derive does not model", "use indices other than "
                         "the padding index, or padding_idx=None")
    if m.max_norm is not None:
        raise use.refuse(f"max_norm={m.max_norm} rescales the rows it looks up (and the weight "
                         f"itself); derive does not model it", "use max_norm=None")
    if m.scale_grad_by_freq and len(set(indices)) != len(indices):
        raise use.refuse("scale_grad_by_freq=True divides the gradient by how often an index "
                         "occurs, and indices repeat here", "use scale_grad_by_freq=False")
    net = use.net
    l = net.new_layer()
    E = net.parameter(use, "weight", f"E{l}")[0]
    h = net.fresh("h", l)
    net.equation(h, f"embedding({E}, {flow.name})", use)
    return flow.derived(h, (m.embedding_dim,), kind="data")


@module("LayerNorm")
def layer_norm(use: Use):
    """z = layer_norm(x, γ, β, ε): each example normalised over its features, then γ ⊙ x̂ + β."""
    m = use.module
    flow = use.flow(0)
    if tuple(m.normalized_shape) != flow.features or len(flow.features) != 1:
        raise use.refuse(f"normalized_shape={tuple(m.normalized_shape)} over an input of shape "
                         f"{tuple(flow.shape)}; derive normalises one feature vector per example",
                         "normalise the last dimension of a (batch, features) input")
    net = use.net
    l = net.new_layer()
    eps = net.given(net.fresh("eps", l), m.eps)
    gamma = net.parameter(use, "weight", f"gamma{l}")[0] if m.weight is not None else "1"
    beta = net.parameter(use, "bias", f"beta{l}")[0] if m.bias is not None else "0"
    z = net.fresh("z", l)
    net.equation(z, f"layer_norm({flow.name}, {gamma}, {beta}, {eps})", use)
    return flow.derived(z)
