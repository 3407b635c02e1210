"""No silently ignored setting: every constructor argument of every module from_torch supports
(walked with inspect.signature, so a new PyTorch argument fails here) is varied, and each
variant either reproduces PyTorch float64 (loss and every gradient, 1e-10) or is refused by an
UnsupportedModel naming that argument."""
from __future__ import annotations

import inspect

import pytest
import torch

import derive
from derive.model.fromtorch import UnsupportedModel
from derive.model.fromtorch.modules import MODULES
from tests.test_fromtorch_wide import assert_matches_torch, data, decimals

nn = torch.nn
F = torch.nn.functional

# arguments that only place or type the tensors
NOT_SETTINGS = {"self", "device", "dtype"}


def _after_linear(m, x_width=3, width=4, loss="mse"):
    """Linear(3 → width), the module, then Linear to 2 outputs (the module's output width)."""
    first = nn.Linear(x_width, width)
    with torch.no_grad():
        probe = m.double()(first.double()(data(5, x_width))) if not isinstance(m, nn.Dropout) else None
    out = width if probe is None else probe.shape[-1]
    return nn.Sequential(first, m, nn.Linear(out, 2)), data(5, x_width), data(5, 2, seed=3), loss


def _last(m):
    """The module last, after Linear(3 → 4), its 4 outputs compared to targets by mse."""
    return nn.Sequential(nn.Linear(3, 4), m), data(5, 3), data(5, 4, seed=3), "mse"


def _conv1d(m):
    with torch.no_grad():
        width = m.double()(data(3, m.in_channels, 8)).flatten(1).shape[1]
    return nn.Sequential(m, nn.ReLU(), nn.Flatten(), nn.Linear(width, 2)), \
        data(3, m.in_channels, 8), data(3, 2, seed=3), "mse"


def _flatten(m):
    conv = nn.Conv1d(1, 1, 2)
    with torch.no_grad():
        out = m(conv.double()(data(3, 1, 6)))
    return nn.Sequential(conv, m, nn.Linear(out.shape[-1], 2)), data(3, 1, 6), \
        data(*out.shape[:-1], 2, seed=3), "mse"


def _cell(m):
    x = data(4, m.input_size)
    return m, x, data(4, m.hidden_size, seed=3), "mse"


def _bn(m):
    return _after_linear(m)


def _conv2d(m):
    x = data(1, m.in_channels, 6, 6)
    with torch.no_grad():
        width = m.double()(x).flatten(1).shape[1]
    return nn.Sequential(m, nn.ReLU(), nn.Flatten(), nn.Linear(width, 2)), x, data(1, 2, seed=3), "mse"


def _pool(m):
    conv, x = nn.Conv2d(1, 2, 3), data(1, 1, 7, 7)
    with torch.no_grad():
        out = m(conv.double()(x))
    width = out.flatten(1).shape[1] if isinstance(out, torch.Tensor) else 1
    return nn.Sequential(conv, m, nn.Flatten(), nn.Linear(width, 2)), x, data(1, 2, seed=3), "mse"


def _embedding(m):
    return nn.Sequential(m, nn.Linear(m.embedding_dim, 2)), torch.tensor([1, 0, 3, 1]), \
        data(4, 2, seed=3), "mse"


# class -> (required arguments, {argument: values to try}, harness(module) -> model, x, y, loss)
WALK = {
    "Linear": ({"in_features": 4, "out_features": 3},
               {"in_features": [4], "out_features": [1, 5], "bias": [True, False]}, _after_linear),
    "ReLU": ({}, {"inplace": [False, True]}, _after_linear),
    "Sigmoid": ({}, {"args": [()], "kwargs": [{}]}, _after_linear),
    "Tanh": ({}, {"args": [()], "kwargs": [{}]}, _after_linear),
    "SiLU": ({}, {"inplace": [False, True]}, _after_linear),
    "Identity": ({}, {"args": [()], "kwargs": [{}]}, _after_linear),
    "LeakyReLU": ({}, {"negative_slope": [0.0, 0.01, 0.3, -0.5, 2.0], "inplace": [True]}, _after_linear),
    "ELU": ({}, {"alpha": [0.0, 0.5, 1.0, 2.5], "inplace": [True]}, _after_linear),
    "Softplus": ({}, {"beta": [0.5, 1.0, 3.0], "threshold": [1.0, 5.0, 20.0, 100.0]}, _after_linear),
    "GELU": ({}, {"approximate": ["none", "tanh"]}, _after_linear),
    "SELU": ({}, {"inplace": [False, True]}, _after_linear),
    "CELU": ({}, {"alpha": [1.0, 0.5, 2.0], "inplace": [True]}, _after_linear),
    "LogSigmoid": ({}, {"args": [()], "kwargs": [{}]}, _after_linear),
    "Softsign": ({}, {"args": [()], "kwargs": [{}]}, _after_linear),
    "Tanhshrink": ({}, {"args": [()], "kwargs": [{}]}, _after_linear),
    "Mish": ({}, {"inplace": [False, True]}, _after_linear),
    "Softmax": ({"dim": 1}, {"dim": [None, 0, 1, -1]}, _last),
    "LogSoftmax": ({"dim": 1}, {"dim": [None, 0, 1, -1]}, _last),
    "Dropout": ({}, {"p": [0.0, 0.2, 0.5, 1.0], "inplace": [False, True]}, _after_linear),
    "Flatten": ({}, {"start_dim": [0, 1, 2], "end_dim": [-1, 1, 2]}, _flatten),
    "BatchNorm1d": ({"num_features": 4},
                    {"num_features": [4], "eps": [1e-5, 0.5], "momentum": [0.1, None, 0.9],
                     "affine": [True, False], "track_running_stats": [True, False],
                     "bias": [True, False]}, _bn),
    "Conv1d": ({"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": 1},
               {"in_channels": [1, 2], "out_channels": [1, 2], "kernel_size": [1, 3, (2,)],
                "stride": [1, 2, (3,)], "padding": [0, 2, "same", "valid"], "dilation": [1, 2],
                "groups": [1], "bias": [True, False],
                "padding_mode": ["zeros", "reflect", "replicate", "circular"]}, _conv1d),
    "Conv2d": ({"in_channels": 2, "out_channels": 2, "kernel_size": 3, "padding": 1},
               {"in_channels": [2], "out_channels": [1, 3], "kernel_size": [1, 3, (2, 3)],
                "stride": [1, 2, (1, 2)], "padding": [0, 2, (1, 0), "same", "valid"],
                "dilation": [1, 2], "groups": [1, 2], "bias": [True, False],
                "padding_mode": ["zeros", "reflect", "replicate", "circular"]}, _conv2d),
    "MaxPool2d": ({"kernel_size": 2},
                  {"kernel_size": [2, 3, (2, 3)], "stride": [None, 1, 2, (1, 2)], "padding": [0, 1],
                   "dilation": [1, 2], "return_indices": [False, True], "ceil_mode": [False, True]},
                  _pool),
    "AvgPool2d": ({"kernel_size": 2},
                  {"kernel_size": [2, 3, (2, 3)], "stride": [None, 1, 2], "padding": [0, 1],
                   "ceil_mode": [False, True], "count_include_pad": [True, False],
                   "divisor_override": [None, 4, 3]}, _pool),
    "Embedding": ({"num_embeddings": 5, "embedding_dim": 3},
                  {"num_embeddings": [5, 7], "embedding_dim": [1, 3], "padding_idx": [None, 2, 1],
                   "max_norm": [None, 1.0], "norm_type": [2.0, 1.0],
                   "scale_grad_by_freq": [False, True], "sparse": [False, True],
                   "_weight": [None, torch.arange(15.0).reshape(5, 3) / 10], "_freeze": [False, True]},
                  _embedding),
    "LayerNorm": ({"normalized_shape": 4},
                  {"normalized_shape": [4, (4,)], "eps": [1e-5, 0.1],
                   "elementwise_affine": [True, False], "bias": [True, False]}, _after_linear),
    "RNNCell": ({"input_size": 3, "hidden_size": 2},
                {"input_size": [3], "hidden_size": [1, 3], "bias": [True, False],
                 "nonlinearity": ["tanh", "relu"]}, _cell),
    "LSTMCell": ({"input_size": 3, "hidden_size": 2},
                 {"input_size": [3], "hidden_size": [1, 3], "bias": [True, False]}, _cell),
    "GRUCell": ({"input_size": 3, "hidden_size": 2},
                {"input_size": [3], "hidden_size": [1, 3], "bias": [True, False]}, _cell),
}

# a variant may be refused only by a message that names its argument (or the value's meaning)
NAMES = {"num_features": "normalises", "in_channels": "channels", "out_channels": "channels",
         "start_dim": "start_dim", "end_dim": "end_dim", "dim": "dim=", "p": "p=1"}


def test_every_supported_module_is_walked_argument_by_argument():
    assert set(WALK) == set(MODULES), sorted(set(MODULES) ^ set(WALK))
    for name, (_, vary, _) in WALK.items():
        params = set(inspect.signature(getattr(nn, name).__init__).parameters) - NOT_SETTINGS
        assert set(vary) == params, (name, sorted(params ^ set(vary)))


def _variants():
    for name, (required, vary, _) in sorted(WALK.items()):
        for arg, values in vary.items():
            for v in values:
                yield pytest.param(name, arg, v, id=f"{name}-{arg}={v!r}")


def _build(name, required, arg, value):
    if arg == "args":
        return getattr(nn, name)(*value, **required)
    if arg == "kwargs":
        return getattr(nn, name)(**required, **value)
    return getattr(nn, name)(**{**required, arg: value})


@pytest.mark.parametrize("name, arg, value", list(_variants()))
def test_each_setting_is_honoured_or_refused_by_name(name, arg, value):
    required, _, harness = WALK[name]
    try:
        m = _build(name, required, arg, value)
    except (ValueError, TypeError, RuntimeError) as reason:  # PyTorch itself refuses it
        pytest.skip(f"PyTorch refuses {name}({arg}={value!r}): {reason}")
    model, x, y, loss = harness(m)
    model = decimals(model, 11, scale=0.5)
    masks, forward = None, None
    if isinstance(m, nn.Dropout):
        model.train()
        if 0 < m.p < 1:
            mask = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1], [1, 1, 0, 1]])
            masks = {"1": mask}
            forward = lambda: model[2](model[0](x) * mask / (1 - m.p))  # noqa: E731
    if name == "BatchNorm1d" and arg == "track_running_stats":
        model.eval()  # its effect: batch statistics even in eval mode
    cell = isinstance(m, (nn.RNNCell, nn.GRUCell, nn.LSTMCell))
    if isinstance(m, nn.LSTMCell):
        forward = lambda: model(x)[0]  # noqa: E731  the loss of h'

    try:
        assert_matches_torch(model, x, y, loss, masks=masks, forward=forward)
    except UnsupportedModel as refused:
        word = NAMES.get(arg, arg)
        assert word in str(refused), (arg, value, str(refused))
    else:
        assert not cell or model.hidden_size == m.hidden_size


def test_batchnorm_in_eval_mode_uses_the_running_statistics():
    bn = nn.BatchNorm1d(4)
    model = decimals(nn.Sequential(nn.Linear(3, 4), bn, nn.Linear(4, 2)), 5)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        bn.running_var.copy_(torch.tensor([1.5, 0.5, 2.0, 1.0]))
    x, y = data(3, 3), data(3, 2, seed=1)
    train = assert_matches_torch(model.train(), x, y)
    with torch.no_grad():  # the train-mode forward moved them; set them again
        bn.running_mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        bn.running_var.copy_(torch.tensor([1.5, 0.5, 2.0, 1.0]))
    evaluated = assert_matches_torch(model.eval(), x, y)
    assert train.value("L") != evaluated.value("L")
    assert "mu2" in evaluated.graph.inputs and "mu2" not in train.graph.inputs


@pytest.mark.parametrize("call, message", [
    (lambda x: F.softplus(x, beta=2, threshold=0.5), r"threshold=0.5"),
    (lambda x: F.gelu(x, approximate="tanh"), None),
    (lambda x: F.leaky_relu(x, 0.25), None),
    (lambda x: F.elu(x, alpha=0.75), None),
    (lambda x: torch.softmax(x, 0), None),  # over the batch: axis=1 of the columns
    (lambda x: F.dropout(x, 0.5, training=True), r"training mode"),
    (lambda x: F.dropout(x, 0.5, training=False), None),
    (lambda x: x.softmax(-1), None),
    (lambda x: F.celu(x, 0.5) + F.selu(x) + F.logsigmoid(x) + F.softsign(x) + F.tanhshrink(x)
     + F.mish(x), None),
])
def test_functional_settings_are_read_by_the_functions_signature(call, message):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return call(self.fc(x))
    model = decimals(Model(), 2)
    x, y = data(4, 3) * 2, data(4, 3, seed=1)
    if message is None:
        assert_matches_torch(model, x, y)
    else:
        with pytest.raises(UnsupportedModel, match=message):
            derive.from_torch(model, x, y)


def test_a_frozen_parameter_is_a_constant():
    model = decimals(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), 3)
    model[0].weight.requires_grad_(False)
    ex = assert_matches_torch(model, data(3, 3), data(3, 2, seed=1))
    assert "W1" in ex.graph.inputs and not any(p.startswith("w1_") for p in ex.params)
