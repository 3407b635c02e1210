"""derive.from_torch beyond Linear + activations: every supported module, models with a forward
of their own (traced with torch.fx: a residual block, a small CNN), recurrent cells — each
against PyTorch float64 autograd (loss and every parameter's gradient, 1e-10) — and refusals
that name the module, function or setting."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import derive
from derive.model.fromtorch import UnsupportedModel, torch_gradients

F = torch.nn.functional
nn = torch.nn


def decimals(model, seed: int, scale: float = 1.0):
    """Parameters rounded to two decimals (derive reads the same numbers), in float64."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.round(torch.randn_like(p) * 100 * scale) / 100)
    return model.double()


def data(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.round(torch.randn(*shape, generator=g, dtype=torch.float64) * 10) / 10


def torch_loss(out, y, loss):
    if loss == "cross_entropy":
        return F.cross_entropy(out, y)
    if loss == "mse":
        return F.mse_loss(out, y)
    batch = out.shape[0] if out.dim() > 1 else 1
    if loss == "half_squared_error":
        return 0.5 * ((out - y) ** 2).sum() / batch
    if loss == "squared_error":
        return ((out - y) ** 2).sum() / batch
    if loss == "absolute_error":
        return (out - y).abs().sum() / batch
    if loss == "binary_cross_entropy":  # derive's: summed over outputs, mean over the batch
        return F.binary_cross_entropy(out, y, reduction="sum") / batch
    raise ValueError(loss)


def assert_matches_torch(model, x, y, loss="mse", masks=None, forward=None, **kw):
    """from_torch's loss and every parameter's gradient equal PyTorch's own (float64, 1e-10),
    computed here independently of from_torch's self-check."""
    ex = derive.from_torch(model, x, y, loss=loss, masks=masks, **kw)
    model.zero_grad()
    out = forward() if forward is not None else (model(*x) if isinstance(x, tuple) else model(x))
    L = torch_loss(out, y, loss)
    L.backward()
    assert math.isclose(float(ex.value("L")), L.item(), rel_tol=1e-10, abs_tol=1e-12)
    ours = torch_gradients(ex)
    expected = {n: p.grad.to_dense() if p.grad.is_sparse else p.grad
                for n, p in model.named_parameters() if p.grad is not None}  # those the loss reaches
    assert set(ours) == set(expected), (sorted(ours), sorted(expected))
    for name, g in expected.items():
        np.testing.assert_allclose(ours[name].reshape(g.shape), g.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    return ex


# --- every supported module, alone after a Linear (so it has a parameter upstream) ------------

LAYERS = {
    "ReLU": lambda: nn.ReLU(), "Sigmoid": lambda: nn.Sigmoid(), "Tanh": lambda: nn.Tanh(),
    "SiLU": lambda: nn.SiLU(), "Identity": lambda: nn.Identity(),
    "LeakyReLU": lambda: nn.LeakyReLU(0.2), "ELU": lambda: nn.ELU(alpha=0.5),
    "Softplus": lambda: nn.Softplus(beta=2.0, threshold=30.0), "GELU": lambda: nn.GELU("tanh"),
    "GELU-exact": lambda: nn.GELU(), "Dropout-eval": lambda: nn.Dropout(0.3).eval(),
    "BatchNorm1d": lambda: nn.BatchNorm1d(4), "BatchNorm1d-eval": lambda: _bn_eval(),
    "Linear-nobias": lambda: nn.Linear(4, 4, bias=False),
}


def _bn_eval():
    bn = nn.BatchNorm1d(4).double()
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.5, -0.25, 0.0, 1.0]))
        bn.running_var.copy_(torch.tensor([2.0, 0.5, 1.0, 0.25]))
    return bn.eval()


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_each_layer_between_linears_matches_torch(name, loss):
    model = decimals(nn.Sequential(nn.Linear(3, 4), LAYERS[name](), nn.Linear(4, 3)), 1)
    x = data(5, 3)
    y = torch.tensor([0, 2, 1, 1, 0]) if loss == "cross_entropy" else data(5, 3, seed=2)
    assert_matches_torch(model, x, y, loss)


@pytest.mark.parametrize("loss", ["half_squared_error", "squared_error", "absolute_error",
                                  "binary_cross_entropy"])
@pytest.mark.parametrize("slope", [0.5, 1.0])  # ELU(0.5) is traced; ELU(1) is the mlp builder's
def test_every_loss_matches_torch(loss, slope):
    model = decimals(nn.Sequential(nn.Linear(3, 4), nn.ELU(slope), nn.Linear(4, 2), nn.Sigmoid()), 3)
    y = torch.round(torch.rand(4, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 10) / 10
    ex = assert_matches_torch(model, data(4, 3), y, loss)
    assert ("layers" in ex.meta) == (slope == 1.0)  # the mlp builder's example, or the traced one


@pytest.mark.parametrize("act", [nn.ReLU(), nn.LeakyReLU(0.2), nn.ELU(0.5), nn.ELU(), nn.SiLU()])
def test_kinks_at_zero_take_pytorchs_derivative(act):
    model = decimals(nn.Sequential(nn.Linear(2, 2), act, nn.Linear(2, 1)), 1)
    with torch.no_grad():  # the first unit's pre-activation is exactly 0 on both examples
        model[0].weight[0] = torch.tensor([1.0, -1.0])
        model[0].bias[0] = 0.0
    x = torch.tensor([[1.5, 1.5], [-0.5, -0.5]], dtype=torch.float64)
    assert (model[0](x)[:, 0] == 0).all()
    assert_matches_torch(model, x, data(2, 1, seed=4))


@pytest.mark.parametrize("last", [nn.Tanh(), nn.LogSoftmax(dim=1)])
def test_cross_entropy_after_another_activation_softmaxes_it_as_torch(last):
    # nn.CrossEntropyLoss takes whatever the model gives as logits: a softmax of tanh(z)
    model = decimals(nn.Sequential(nn.Linear(3, 3), last), 2)
    ex = assert_matches_torch(model, data(4, 3), torch.tensor([0, 2, 1, 1]), "cross_entropy")
    assert [eq.source for eq in ex.graph.equations][-2] == "softmax(a1)"


def test_an_image_output_with_mse_matches_torch():
    model = decimals(nn.Sequential(nn.Conv2d(1, 2, 2), nn.Sigmoid()), 3)
    assert_matches_torch(model, data(1, 1, 4, 4), data(1, 2, 3, 3, seed=1), "mse")


def test_a_single_example_unbatched_matches_torch():
    model = decimals(nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.1), nn.Linear(4, 2, bias=False)), 4)
    ex = assert_matches_torch(model, data(3), data(2, seed=5), "mse")
    assert ex.shape("X") == (3, 1)


def test_dropout_in_training_mode_takes_the_mask_by_path():
    model = decimals(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Dropout(0.25), nn.Linear(4, 2)), 2)
    x, y = data(3, 3), data(3, 2, seed=1)
    mask = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 1, 1]])
    ex = derive.from_torch(model, x, y, masks={"2": mask})
    # PyTorch with this mask: keep where 1, scale the kept by 1/(1 − p)
    h = torch.tanh(model[0](x)) * mask / 0.75
    L = F.mse_loss(model[3](h), y)
    L.backward()
    assert math.isclose(float(ex.value("L")), L.item(), rel_tol=1e-10)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(torch_gradients(ex)[name].reshape(p.shape), p.grad.numpy(), atol=1e-12)
    assert "d1 = (a1 ⊙ mask1)/(3/4)" in ex.to_text()
    # the module itself is a key as good as its path
    same = derive.from_torch(model, x, y, masks={model[2]: mask})
    assert float(same.value("L")) == float(ex.value("L"))


@pytest.mark.parametrize("masks, message", [
    (None, r"layer 3 \(Dropout\(p=0.25.*training mode.*masks=\{'2': mask\}.*model.eval\(\)"),
    ({"2": torch.ones(3, 5)}, r"layer 3 .*mask has shape \(3, 5\).*\(3, 4\)"),
    ({"2": torch.full((3, 4), 2.0)}, r"layer 3 .*1 \(kept\) and 0 \(dropped\) only"),
    ({"2": torch.ones(3, 4), "drop": torch.ones(3, 4)}, r"masks are given for 'drop'"),
])
def test_dropout_masks_are_required_and_checked(masks, message):
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Dropout(0.25), nn.Linear(4, 2)).double()
    with pytest.raises(UnsupportedModel, match=message):
        derive.from_torch(model, data(3, 3), data(3, 2), masks=masks)


def test_a_mask_for_an_eval_mode_dropout_is_refused_not_ignored():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.25), nn.Linear(4, 2)).double().eval()
    with pytest.raises(UnsupportedModel, match=r"layer 2 .*a mask is given but the layer does not drop"):
        derive.from_torch(model, data(3, 3), data(3, 2), masks={"1": torch.ones(3, 4)})


# --- models with a forward of their own, traced --------------------------------------------------


class Residual(nn.Module):
    """x + W2 relu(W1 x + b1) + b2, then a head: the residual block of a ResNet, on vectors."""

    def __init__(self, width=3, classes=2):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        return self.head(torch.tanh(self.fc2(h) + x))


def test_a_residual_block_is_traced_and_matches_torch():
    model = decimals(Residual(), 3)
    x, y = data(4, 3), torch.tensor([1, 0, 0, 1])
    ex = assert_matches_torch(model, x, y, "cross_entropy")
    lines = [str(eq.source) for eq in ex.graph.equations]
    assert "W2 @ a1 + b2" in lines and "z2 + X" in lines  # the skip connection, as written
    assert ex.params[:2] == ["w1_1_1", "w1_1_2"]


class Gated(nn.Module):
    """Functions, methods, numbers and a parameter read directly in forward."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.scale = nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))
        self.out = nn.Linear(3, 1)

    def forward(self, x):
        h = self.fc(x)
        g = torch.sigmoid(h) * h.tanh()          # a gate, elementwise
        g = 2 * g - h / 4 + self.scale * g        # numbers and a parameter vector broadcast
        return self.out(F.leaky_relu(g, negative_slope=0.3).view(x.size(0), -1))


class Affine(nn.Module):
    """Parameters used directly: x @ W + b, and F.linear(h, V, c)."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.zeros(3, 4))
        self.b = nn.Parameter(torch.zeros(4))
        self.V = nn.Parameter(torch.zeros(2, 4))
        self.c = nn.Parameter(torch.zeros(2))

    def forward(self, x, h=None):
        return F.linear(torch.tanh(x @ self.W + self.b), self.V, self.c)


def test_parameters_multiplied_directly_match_torch():
    model = decimals(Affine(), 4)
    ex = assert_matches_torch(model, data(3, 3), data(3, 2, seed=1))
    assert [eq.source for eq in ex.graph.equations][:1] == ["W.T @ X"]


def test_functions_methods_numbers_and_parameters_in_forward_match_torch():
    model = decimals(Gated(), 5)
    assert_matches_torch(model, data(4, 3), data(4, 1, seed=3), "mse")


class Shared(nn.Module):
    """One Linear applied twice: its gradient sums both uses."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(torch.tanh(self.fc(x)))


def test_a_module_used_twice_shares_its_parameters():
    ex = assert_matches_torch(decimals(Shared(), 2), data(2, 3), data(2, 3, seed=1))
    assert [eq.source for eq in ex.graph.equations][:3] == ["W1 @ X + b1", "tanh(z1)", "W1 @ a1 + b1"]


class LSTMHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(3, 2)
        self.out = nn.Linear(2, 2)

    def forward(self, x, h, c):
        h1, c1 = self.cell(x, (h, c))
        return self.out(h1 + c1)


@pytest.mark.parametrize("cell, bias, state", [
    ("RNNCell", True, True), ("RNNCell", False, False), ("LSTMCell", True, True),
    ("LSTMCell", False, False), ("GRUCell", True, True), ("GRUCell", True, False),
])
def test_one_step_of_a_recurrent_cell_matches_torch(cell, bias, state):
    model = decimals(getattr(nn, cell)(3, 2, bias=bias), 7)
    x, y = data(4, 3), data(4, 2, seed=9)
    if cell == "LSTMCell":
        args = (x, (data(4, 2, seed=1), data(4, 2, seed=2))) if state else (x,)
        out = lambda: model(*args)[0]  # noqa: E731  the loss of h'
    else:
        args = (x, data(4, 2, seed=1)) if state else (x,)
        out = lambda: model(*args)  # noqa: E731
    ex = assert_matches_torch(model, args if len(args) > 1 else x, y, "mse", forward=out)
    gates = {"RNNCell": "h", "LSTMCell": "ifgo", "GRUCell": "rzn"}[cell]
    assert f"W_i{gates[0]}1" in ex.graph.inputs and f"W_h{gates[-1]}1" in ex.graph.inputs
    assert (f"b_i{gates[0]}1" in ex.graph.inputs) == bias


def test_rnn_cell_with_relu_and_an_lstm_cell_inside_a_model():
    model = decimals(nn.RNNCell(2, 3, nonlinearity="relu"), 2)
    x, h = data(3, 2), data(3, 3, seed=4)
    assert_matches_torch(model, (x, h), data(3, 3, seed=5), forward=lambda: model(x, h))
    lstm = decimals(LSTMHead(), 3)
    args = (data(2, 3), data(2, 2, seed=1), data(2, 2, seed=2))
    ex = assert_matches_torch(lstm, args, data(2, 2, seed=3))
    assert {"X", "H0", "C0"} <= set(ex.graph.inputs)


# --- the Conv1d layer (one channel) and flattening ----------------------------------------------


class SmallConv1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, stride=2, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.flatten(F.relu(self.conv(x)), 1))


def test_a_small_conv1d_model_with_a_forward_matches_torch():
    model = decimals(SmallConv1d(), 8)
    assert_matches_torch(model, data(3, 1, 7), torch.tensor([2, 0, 1]), "cross_entropy")


# --- images: Conv2d, pooling, and a small CNN ----------------------------------------------------


class CNN(nn.Module):
    """conv (2 channels in, 3 out, stride 2, padding 1) → ReLU → 2×2 max-pool → linear → logits."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(3 * 2 * 2, 4)

    def forward(self, x):
        h = self.pool(F.relu(self.conv(x)))
        return self.fc(h.view(x.size(0), -1))


class LeNet(nn.Module):
    """The LeNet-style net of the issue: 1×12×12, four 3×3 filters, pool, linear to 10 classes."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 5 * 5, 10)

    def forward(self, x):
        return self.fc(torch.flatten(F.max_pool2d(torch.relu(self.conv(x)), 2), 1))


class ConvResidual(nn.Module):
    """A residual block on an image: relu(x + conv2(relu(conv1(x)))), then average-pooled."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 2, 3, padding=1)
        self.conv2 = nn.Conv2d(2, 2, 3, padding="same", bias=False)
        self.head = nn.Linear(2 * 2 * 2, 3)

    def forward(self, x):
        h = torch.relu(x + self.conv2(torch.relu(self.conv1(x))))
        return self.head(torch.flatten(F.avg_pool2d(h, 2)))


def test_a_small_cnn_with_a_forward_matches_torch():
    model = decimals(CNN(), 1)
    ex = assert_matches_torch(model, data(1, 2, 7, 7), torch.tensor([2]), "cross_entropy")
    lines = [eq.source for eq in ex.graph.equations]
    assert lines[:4] == ["conv2d(X, K1, stride=2, padding=1) + b1", "relu(c1)", "maxpool2d(a1, 2)",
                         "flatten(p1)"]
    assert ex.shape("K1") == (3, 2, 3, 3) and ex.shape("X") == (2, 7, 7)


def test_the_lenet_style_net_matches_torch():
    model = decimals(LeNet(), 4, scale=0.3)
    x = torch.round(torch.rand(1, 1, 12, 12, generator=torch.Generator().manual_seed(1),
                               dtype=torch.float64) * 100) / 100
    ex = assert_matches_torch(model, x, torch.tensor([3]), "cross_entropy")
    assert ex.shape("f1") == (100, 1) and ex.shape("W2") == (10, 100)


def test_a_residual_conv_block_on_one_unbatched_image_matches_torch():
    model = decimals(ConvResidual(), 6)
    ex = assert_matches_torch(model, data(2, 4, 4), data(3, seed=2), "mse")
    sources = [eq.source for eq in ex.graph.equations]
    assert "X + c2" in sources and "conv2d(a1, K2, padding=1)" in sources


def test_a_sequential_cnn_with_average_pooling_matches_torch():
    model = decimals(nn.Sequential(nn.Conv2d(1, 2, 2), nn.Tanh(), nn.AvgPool2d(2, stride=1),
                                   nn.Flatten(), nn.Linear(2 * 3 * 3, 2)), 2)
    assert_matches_torch(model, data(1, 1, 5, 5), data(1, 2, seed=1), "mse")


def test_flattening_a_batch_of_one_whole_gives_one_example():
    class Whole(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 2)
            self.fc = nn.Linear(9, 2)

        def forward(self, x):
            return self.fc(torch.flatten(torch.relu(self.conv(x))))  # (1, 1, 3, 3) -> (9,)
    ex = assert_matches_torch(decimals(Whole(), 3), data(1, 1, 4, 4), data(2, seed=1), "mse")
    assert ex.shape("z2") == (2, 1)
    with pytest.raises(UnsupportedModel, match=r"merges the 3 examples of the batch into one vector"):
        derive.from_torch(nn.Sequential(nn.Linear(2, 2), nn.Flatten(0)).double(), data(3, 2), data(6))


def test_dropout_on_an_image_takes_an_image_mask():
    model = decimals(nn.Sequential(nn.Conv2d(1, 2, 2), nn.Dropout(0.5), nn.Flatten(), nn.Linear(18, 1)), 5)
    x, y = data(1, 1, 4, 4), data(1, 1, seed=1)
    mask = (torch.arange(18).reshape(1, 2, 3, 3) % 3 != 0).long()
    ex = derive.from_torch(model, x, y, masks={"1": mask})
    L = F.mse_loss(model[3](model[2](model[0](x) * mask / 0.5)), y)
    assert math.isclose(float(ex.value("L")), L.item(), rel_tol=1e-12)
    assert ex.shape("mask1") == (2, 3, 3)


def test_a_batch_of_images_is_refused_by_name():
    with pytest.raises(UnsupportedModel, match=r"batch of 3 images; derive's conv2d .* one image"):
        derive.from_torch(CNN().double(), data(3, 2, 7, 7), torch.tensor([0, 1, 2]), loss="cross_entropy")


# --- Embedding and LayerNorm ---------------------------------------------------------------------


@pytest.mark.parametrize("indices, labels", [([2, 0, 5, 2], [1, 2, 0, 1]), (4, 2)])
def test_embedding_then_linear_with_class_indices_matches_torch(indices, labels):
    model = decimals(nn.Sequential(nn.Embedding(6, 4), nn.Tanh(), nn.Linear(4, 3)), 5)
    ex = assert_matches_torch(model, torch.tensor(indices), torch.tensor(labels), "cross_entropy")
    assert ex.is_index("i") and ex.shape("E1") == (6, 4)
    grad = torch_gradients(ex)["0.weight"]
    picked = set(np.atleast_1d(indices).tolist())
    assert all(not grad[r].any() for r in range(6) if r not in picked)


def test_indices_given_as_a_list_and_pooling_functions_first():
    emb = decimals(nn.Sequential(nn.Embedding(5, 2), nn.Linear(2, 3)), 1)
    ex = derive.from_torch(emb, [4, 0, 4], [2, 1, 0], loss="cross_entropy")
    L = F.cross_entropy(emb(torch.tensor([4, 0, 4])), torch.tensor([2, 1, 0]))
    assert math.isclose(float(ex.value("L")), L.item(), rel_tol=1e-12)

    class PoolFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2 * 2 * 2, 1)

        def forward(self, x):
            return self.fc(F.avg_pool2d(x, 2).flatten(1))
    assert_matches_torch(decimals(PoolFirst(), 2), data(1, 2, 4, 4), data(1, 1, seed=2))


def test_layer_norm_between_linears_matches_torch():
    model = decimals(nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4, eps=1e-3), nn.ReLU(),
                                   nn.Linear(4, 2)), 6)
    ex = assert_matches_torch(model, data(3, 3), torch.tensor([1, 0, 1]), "cross_entropy")
    sources = [eq.source for eq in ex.graph.equations]
    assert "layer_norm(z1, gamma2, beta2, eps2)" in sources and "xc / sigma" in sources


# --- refused by name -----------------------------------------------------------------------------


class Uses(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.how = how

    def forward(self, x):
        h = self.fc(x)
        if self.how == "cat":
            return torch.cat([h, x], dim=1)
        if self.how == "permute":
            return h.permute(1, 0)
        if self.how == "index":
            return h[:, 0]
        if self.how == "tuple":
            return h, x
        return h


@pytest.mark.parametrize("how, message", [
    ("cat", r"`cat` \(node `cat` of the traced forward\): this function is not supported"),
    ("permute", r"`.permute\(\)` .*this tensor method is not supported"),
    ("index", r"`getitem` .*indexing a tensor"),
    ("tuple", r"the model returns 2 tensors"),
])
def test_unsupported_functions_and_methods_are_named(how, message):
    with pytest.raises(UnsupportedModel, match=message):
        derive.from_torch(Uses(how).double(), data(2, 2), data(2, 2))


def test_an_unsupported_module_is_named_by_its_path():
    class Nested(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(nn.Linear(2, 2), nn.Hardswish())

        def forward(self, x):
            return self.block(x)
    with pytest.raises(UnsupportedModel, match=r"`block.1` \(Hardswish\(\)\): this module is not supported"):
        derive.from_torch(Nested().double(), data(2, 2), data(2, 2))


def test_data_dependent_control_flow_is_refused_by_the_tracer():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) if x.sum() > 0 else x
    with pytest.raises(UnsupportedModel, match=r"Branchy.forward cannot be traced by torch.fx"):
        derive.from_torch(Branchy().double(), data(2, 2), data(2, 2))


def test_softplus_past_its_threshold_is_refused_not_silently_wrong():
    # the case: Softplus(threshold=1) gave L = 9.29 where PyTorch gives 9.0
    model = nn.Sequential(nn.Linear(1, 1), nn.Softplus(threshold=1)).double()
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.fill_(0.0)
    x, y = torch.tensor([[3.0]], dtype=torch.float64), torch.tensor([[0.0]], dtype=torch.float64)
    assert F.mse_loss(model(x), y).item() == 9.0
    with pytest.raises(UnsupportedModel, match=r"layer 2 \(Softplus\(beta=1.0, threshold=1\)\): "
                                               r"threshold=1 makes PyTorch's softplus the identity"
                                               r".* at 1 entry .*raise threshold above 3"):
        derive.from_torch(model, x, y)
    # the default threshold (20) too, on the mlp builder's path
    plain = nn.Sequential(nn.Linear(1, 1), nn.Softplus()).double()
    with torch.no_grad():
        plain[0].weight.fill_(10.0)
    with pytest.raises(UnsupportedModel, match=r"layer 2 \(Softplus\(beta=1.0, threshold=20.0\)\): threshold=20"):
        derive.from_torch(plain, x, y)
    # below the threshold both are the smooth softplus, and agree
    ex = derive.from_torch(model, torch.tensor([[0.5]], dtype=torch.float64), y)
    assert math.isclose(float(ex.value("L")), math.log1p(math.exp(0.5)) ** 2, rel_tol=1e-12)


# --- documents -----------------------------------------------------------------------------------


def test_the_documents_of_a_traced_model_render_without_source_code():
    ex = derive.from_torch(decimals(Residual(), 3), data(2, 3), torch.tensor([1, 0]), loss="cross_entropy")
    md = ex.to_markdown()
    assert "∂L/∂W1" in md or r"\frac{\partial L}{\partial W_{1}}" in md or "W1" in md
    for code in ("torch.", "nn.", "forward(", "F.relu", "def "):  # source code, never in a document
        assert code not in md
    text = ex.to_text()
    assert "s2 = z2 + X" in text and "a2 = tanh(s2)" in text
    assert ex.to_latex().count(r"\begin{document}") == 1


def test_the_documents_of_cnns_and_cells_show_their_layers():
    cnn = derive.from_torch(decimals(CNN(), 1, scale=0.3), data(1, 2, 7, 7), torch.tensor([2]),
                            loss="cross_entropy")
    words = " ".join(cnn.to_text().split())
    for line in ("c1 = conv2d[s=2, p=1](X, K1) + b1", "p1 = maxpool[size=2](a1)", "f1 = vec(p1)",
                 "∂L/∂K1 = corr(X, ∂L/∂c1)"):
        assert line in words, line
    md = cnn.to_markdown()
    assert "conv2d(" not in md.replace("\\operatorname{conv2d}", "") and "torch" not in md
    lstm = derive.from_torch(decimals(nn.LSTMCell(3, 2), 7), (data(2, 3), (data(2, 2, seed=1),
                                                              data(2, 2, seed=2))), data(2, 2, seed=9))
    words = " ".join(lstm.to_text().split())
    assert "c1 = f1 ⊙ C0 + i1 ⊙ g1" in words and "h1 = o1 ⊙ tanh(c1)" in words


def test_the_cnn_document_compiles_without_an_overfull_box(pdflatex, tmp_path):
    from tests.latex_documents import compile_latex
    from tests.test_layout import overfull
    ex = derive.from_torch(decimals(CNN(), 1, scale=0.3), data(1, 2, 7, 7), torch.tensor([2]),
                           loss="cross_entropy")
    build = compile_latex(tmp_path / "cnn", ex.to_latex())
    assert (build.returncode, build.errors, overfull(build.log)) == (0, [], [])


class Calls(nn.Module):
    """One small forward per refusal: ``how`` picks what it does after a Linear."""

    def __init__(self, how):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.how = how
        self.grid = nn.Parameter(torch.ones(2, 2, 2))
        self.norm = nn.LayerNorm(2)

    def forward(self, x):
        h = self.fc(x)
        how = self.how
        if how == "reshape":
            return h.reshape(-1, 2)
        if how == "matmul":
            return torch.matmul(h, h)
        if how == "transpose":
            return h.T
        if how == "alpha":
            return torch.add(h, x, alpha=0.5)
        if how == "rounding":
            return torch.div(h, 2, rounding_mode="floor")
        if how == "grid":
            return h * self.grid
        if how == "norm":
            return self.norm(h)
        return h


@pytest.mark.parametrize("how, message", [
    ("reshape", r"reshaping \(3, 4\) to \(6, 2\) is not modelled"),
    ("matmul", r"`matmul` .*a matrix product of shapes \(3, 4\) and \(3, 4\) is not modelled"),
    ("transpose", r"`getattr` .*the attribute \.T is not modelled"),
    ("rounding", r"`div` .*arguments \['rounding_mode'\] are not modelled"),
    ("grid", r"`grid` is a 3-d tensor"),
    ("norm", r"`norm` \(LayerNorm\(\(2,\).*normalized_shape=\(2,\) over an input of shape \(3, 4\)"),
])
def test_calls_that_are_not_modelled_are_named(how, message):
    with pytest.raises(UnsupportedModel, match=message):
        derive.from_torch(Calls(how).double(), data(3, 4), data(3, 4))


def test_torch_add_with_alpha_is_modelled():
    assert_matches_torch(decimals(Calls("alpha"), 1), data(3, 4), data(3, 4, seed=1))


@pytest.mark.parametrize("model, x, message", [
    (lambda: nn.Sequential(nn.Embedding(4, 2)), torch.tensor([[0, 1], [2, 3]]),
     r"feeds an Embedding; give class indices \(a tensor of whole numbers"),
    (lambda: nn.Sequential(nn.Embedding(4, 2)), torch.tensor([0.5, 1.0]),
     r"feeds an Embedding; give class indices"),
    (lambda: nn.Sequential(nn.Linear(4, 4), nn.MaxPool2d(2)), data(3, 4),
     r"layer 2 \(MaxPool2d.*it takes one image \(channels, height, width\)"),
    (lambda: nn.Sequential(nn.Conv2d(2, 1, 2)), data(1, 1, 3, 3),
     r"layer 1 \(Conv2d.*it takes 2 channel\(s\) but receives 1"),
    (lambda: nn.GRUCell(3, 2), (data(2, 3), data(2, 3)),
     r"the model \(GRUCell\(3, 2\)\): its state has shape \(2, 3\); it needs 2 entries per example"),
])
def test_inputs_a_layer_cannot_take_are_named(model, x, message):
    with pytest.raises(UnsupportedModel, match=message):
        derive.from_torch(model().double(), x, torch.zeros(2))


# --- the batch convention: the examples as rows, as PyTorch holds them -----------------------------

ROWS = {
    "mlp": (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3)), lambda: data(4, 3),
            torch.tensor([0, 2, 1, 1]), "cross_entropy"),
    "residual": (lambda: Residual(), lambda: data(4, 3), torch.tensor([1, 0, 0, 1]), "cross_entropy"),
    "gated": (lambda: Gated(), lambda: data(4, 3), data(4, 1, seed=3), "mse"),
    "affine": (lambda: Affine(), lambda: data(3, 3), data(3, 2, seed=1), "mse"),
    "batchnorm": (lambda: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2)),
                  lambda: data(5, 3), data(5, 2, seed=1), "mse"),
    "batchnorm-eval": (lambda: nn.Sequential(nn.Linear(3, 4), _bn_eval(), nn.Linear(4, 2)),
                       lambda: data(5, 3), data(5, 2, seed=1), "mse"),
    "layernorm": (lambda: nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2)),
                  lambda: data(3, 3), torch.tensor([1, 0, 1]), "cross_entropy"),
    "embedding": (lambda: nn.Sequential(nn.Embedding(6, 4), nn.Linear(4, 3)),
                  lambda: torch.tensor([2, 0, 5, 2]), torch.tensor([1, 2, 0, 1]), "cross_entropy"),
    "lstm": (lambda: LSTMHead(), lambda: (data(2, 3), data(2, 2, seed=1), data(2, 2, seed=2)),
             data(2, 2, seed=3), "mse"),
    "gru": (lambda: nn.GRUCell(3, 2), lambda: data(4, 3), data(4, 2, seed=9), "mse"),
    "cnn": (lambda: CNN(), lambda: data(1, 2, 7, 7), torch.tensor([2]), "cross_entropy"),
    "softmax-over-batch": (lambda: nn.Sequential(nn.Linear(3, 3), nn.Softmax(dim=0)),
                           lambda: data(4, 3), data(4, 3, seed=1), "mse"),
}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_the_examples_as_rows_give_pytorchs_numbers_and_the_columns_loss(name):
    make, x, y, loss = ROWS[name]
    model = decimals(make(), 3)
    rows = assert_matches_torch(model, x(), y, loss, batch="rows")
    cols = derive.from_torch(model, x(), y, loss=loss)
    assert float(rows.value("L")) == pytest.approx(float(cols.value("L")), rel=1e-12)
    for k, g in torch_gradients(cols).items():
        np.testing.assert_allclose(torch_gradients(rows)[k], g, rtol=1e-12, atol=1e-14)
    if name in ("mlp", "residual"):
        assert rows.shape("X") == (4, 3) and cols.shape("X") == (3, 4)  # PyTorch's layout, and its transpose
        assert [eq.source for eq in rows.graph.equations][0] == "X @ W1.T + b1"


def test_rows_refuse_what_derive_writes_only_in_columns():
    model = nn.Sequential(nn.Conv1d(1, 1, 2), nn.Flatten()).double()
    with pytest.raises(UnsupportedModel, match=r"layer 1 \(Conv1d.*batch=\"rows\" it is not modelled"):
        derive.from_torch(model, data(2, 1, 4), data(2, 3), batch="rows")
    with pytest.raises(derive.DeriveError, match=r"batch must be \"columns\" .* or \"rows\""):
        derive.from_torch(model, data(2, 1, 4), data(2, 3), batch="row")


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_a_traced_model_follows_pytorchs_optimizer(optimizer):
    import copy
    model = decimals(Residual(), 3)
    x, y = data(4, 3), torch.tensor([1, 0, 0, 1])
    trained = derive.from_torch(model, x, y, loss="cross_entropy").train(steps=3, optimizer=optimizer,
                                                                          lr=0.1)
    ref = copy.deepcopy(model)
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(ref.parameters(), lr=0.1)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        L = F.cross_entropy(ref(x), y)
        losses.append(L.item())
        L.backward()
        opt.step()
    np.testing.assert_allclose([float(v) for v in trained.loss], losses, rtol=1e-10)
