"""derive.from_torch with BatchNorm1d and Conv1d layers: every gradient against PyTorch float64
autograd (1e-12), the names the example gives them, and clear errors for what is not covered."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch

import derive
from derive.model.tensors import TensorExample


def as_float(m) -> np.ndarray:
    if isinstance(m, sp.MatrixBase):
        return np.array([[float(e) for e in row] for row in m.tolist()])
    return np.array([[float(m)]])


def _decimals(module, seed: int):
    """Parameters rounded to two decimals, so derive and PyTorch start from the same numbers."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.round(torch.randn_like(p) * 100) / 100)
    return module.double()


def _assert_grads(ex, pairs):
    for name, param in pairs:
        ours = as_float(ex.grad(name))
        ref = param.grad.detach().numpy().reshape(ours.shape)
        assert np.allclose(ours, ref, rtol=1e-12, atol=1e-12), (name, ours, ref)


@pytest.mark.parametrize("batch, act, loss, affine", [
    (5, torch.nn.ReLU, "cross_entropy", True),
    (2, torch.nn.Tanh, "mse", True),
    (3, torch.nn.Sigmoid, "cross_entropy", False),
])
def test_batchnorm1d_between_linear_layers_matches_autograd(batch, act, loss, affine):
    net = _decimals(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4, affine=affine),
                                        act(), torch.nn.Linear(4, 2)), batch)
    x = torch.round(torch.randn(batch, 3, dtype=torch.float64) * 10) / 10
    if loss == "cross_entropy":
        y = torch.tensor([i % 2 for i in range(batch)])
        L = torch.nn.CrossEntropyLoss()(net(x), y)
    else:
        y = torch.round(torch.randn(batch, 2, dtype=torch.float64) * 10) / 10
        L = torch.nn.MSELoss()(net(x), y)
    L.backward()
    ex = derive.from_torch(net, x, y, loss=loss)
    assert isinstance(ex, TensorExample)
    assert math.isclose(float(ex.value("L")), L.item(), rel_tol=1e-12)
    pairs = [("W1", net[0].weight), ("b1", net[0].bias), ("W3", net[3].weight), ("b3", net[3].bias)]
    if affine:
        pairs += [("gamma2", net[1].weight), ("beta2", net[1].bias)]
        assert "gamma2_4" in ex.params and "beta2_1" in ex.params
        assert math.isclose(float(ex.grad("gamma2_3")), net[1].weight.grad[2].item(), rel_tol=1e-12,
                            abs_tol=1e-15)
    else:
        assert not any(p.startswith("gamma") for p in ex.params)
    _assert_grads(ex, pairs)
    # the batch statistics are PyTorch's: biased variance over the batch
    z1 = net[0](x).detach().numpy()
    assert np.allclose(as_float(ex.value("mu2")).ravel(), z1.mean(axis=0), atol=1e-12)
    assert np.allclose(as_float(ex.value("var2")).ravel(), z1.var(axis=0), atol=1e-12)


@pytest.mark.parametrize("stride, padding, batched", [(1, 0, True), (2, 1, True), (1, 2, False)])
def test_conv1d_then_linear_matches_autograd(stride, padding, batched):
    length = 7
    out_len = (length + 2 * padding - 3) // stride + 1
    conv = _decimals(torch.nn.Conv1d(1, 1, 3, stride=stride, padding=padding), stride)
    head = _decimals(torch.nn.Linear(out_len, 3), 7)
    net = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.Flatten(), head)
    x = torch.round(torch.randn(4 if batched else 1, 1, length, dtype=torch.float64) * 10) / 10
    if not batched:
        x = x[0]  # (1, length): one example, one channel
    y = torch.tensor([2, 0, 1, 1]) if batched else torch.tensor([1])
    L = torch.nn.CrossEntropyLoss()(net(x), y)  # unbatched: Flatten keeps (1, length), a batch of 1
    L.backward()
    ex = derive.from_torch(net, x, y, loss="cross_entropy")
    assert math.isclose(float(ex.value("L")), L.item(), rel_tol=1e-12)
    _assert_grads(ex, [("k1", net[0].weight), ("b1", net[0].bias), ("W2", head.weight), ("b2", head.bias)])
    assert ex.params[:4] == ["k1_1", "k1_2", "k1_3", "b1"]
    assert math.isclose(float(ex.grad("k1_2")), net[0].weight.grad[0, 0, 1].item(), rel_tol=1e-12,
                        abs_tol=1e-15)


def test_conv1d_alone_with_mse_matches_autograd_and_the_builder():
    conv = _decimals(torch.nn.Conv1d(1, 1, 2), 3)
    net = torch.nn.Sequential(conv, torch.nn.Sigmoid())
    x = torch.tensor([[[1.0, -2.0, 0.5, 3.0]]], dtype=torch.float64)
    y = torch.tensor([[[0.5, 0.0, -1.0]]], dtype=torch.float64)
    L = torch.nn.MSELoss()(net(x), y)
    L.backward()
    ex = derive.from_torch(net, x, y, loss="mse")
    assert math.isclose(float(ex.value("L")), L.item(), rel_tol=1e-12)
    _assert_grads(ex, [("k1", conv.weight), ("b1", conv.bias)])
    # the conv1d builder's forward values are the same convolution
    k = conv.weight.detach().reshape(-1).tolist()
    built = derive.conv1d([1, -2, 0.5, 3], k, bias=conv.bias.item())
    assert [float(built.value(f"o{j}")) for j in (1, 2, 3)] == pytest.approx(
        as_float(ex.value("z1")).ravel().tolist(), abs=1e-12)


@pytest.mark.parametrize("net, x, message", [
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(2)),
     torch.ones(3, 2), r"layer 2 \(Dropout\(p=0.5, inplace=False\)\): it is in training mode.*masks="),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Hardswish()),
     torch.ones(3, 2), r"layer 2 \(Hardswish\(\)\): this module is not supported"),
    (lambda: torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.Flatten()),
     torch.ones(2, 1, 5), r"layer 1 \(Conv1d\(1, 2.*2 output channels"),
    (lambda: torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3, dilation=2), torch.nn.Flatten()),
     torch.ones(2, 1, 7), r"layer 1 .*dilation=1"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(2)),
     torch.ones(3, 2), r"layer 2 .*normalises 2 features but receives 3"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)),
     torch.ones(1, 2), r"batch of at least 2"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Conv1d(1, 1, 2)),
     torch.ones(3, 2), r"layer 2 \(Conv1d.*it takes \(batch, channels, length\)"),
    (lambda: torch.nn.Sequential(torch.nn.Conv1d(1, 1, 2), torch.nn.BatchNorm1d(1)),
     torch.ones(3, 1, 4), r"layer 2 \(BatchNorm1d.*normalises a batch of feature vectors.*nn.Flatten"),
])
def test_unsupported_layers_and_settings_are_named(net, x, message):
    with pytest.raises(derive.DeriveError, match=message):
        derive.from_torch(net().double(), x.double(), torch.zeros(x.shape[0], 2).double(), loss="mse")


def test_cross_entropy_after_unflattened_conv_asks_for_flatten():
    net = torch.nn.Sequential(torch.nn.Conv1d(1, 1, 2)).double()
    with pytest.raises(derive.DeriveError, match=r"add nn.Flatten\(\)"):
        derive.from_torch(net, torch.ones(2, 1, 4).double(), torch.tensor([0, 1]), loss="cross_entropy")
