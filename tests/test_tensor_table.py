"""The one table of tensor primitives, entry by entry: each VJP against PyTorch float64 autograd
(1e-10) and against central differences of the exact forward pass, on random shapes (broadcast
scalars, columns and rows, 1×1, batches of 1, negative and zero values, ReLU ties); and each
entry's printed rule — written with the operands' names, as a document prints it — evaluated at
the numbers equals the gradient the engine computed."""
from __future__ import annotations

import copy
import random
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp

import derive
from derive.core.approx import approx
from derive.core.parser import Name, Num
from derive.core.tensor import (TENSOR_OPS, NoRule, binary_values, display, evaluate_formula,
                                fused_rule_of, operands, rule_of)
from derive.rendering.printing import printer_for
from test_tensor import torch_gradients

H = Fraction(1, 10 ** 15)  # central differences of the exact forward pass: error ~ H² ≈ 1e-30


def _matrix(rng, shape, low=-2, high=2, zeros=True, positive=False):
    """Entries with one or two decimals (exact), some zero, some negative."""
    r, c = shape if shape else (1, 1)
    out = []
    for _ in range(r):
        row = []
        for _ in range(c):
            if positive:
                row.append(Fraction(rng.randint(5, 30), 10))
            elif zeros and rng.random() < 0.2:
                row.append(Fraction(0))
            else:
                row.append(Fraction(rng.randint(low * 10, high * 10), 10))
        out.append(row)
    if not shape:
        return out[0][0]
    return out


def _tensor(rng, shape, distinct=False, zeros=True):
    """An image or a kernel (lists nested 3 or 4 deep); ``distinct``: no two entries equal (a
    max-pool window without a tie, where central differences would average two slopes)."""
    if distinct:
        n = int(np.prod(shape))
        return (np.array([Fraction(v, 10) for v in rng.sample(range(-5 * n, 5 * n), n)], dtype=object)
                .reshape(shape).tolist())
    if len(shape) == 2:
        return _matrix(rng, shape, zeros=zeros)
    return [_tensor(rng, shape[1:], zeros=zeros) for _ in range(shape[0])]


def _shapes(rng):
    """A result shape: 1×1, a column, a batch of 1, a matrix."""
    return rng.choice([(1, 1), (rng.randint(2, 4), 1), (1, rng.randint(2, 4)),
                       (rng.randint(2, 4), rng.randint(2, 4))])


def _broadcast_partner(rng, shape):
    r, c = shape
    return rng.choice([shape, (), (r, 1), (1, c)])


def case(op: str, seed: int):
    """(text, values, names to differentiate, kink) for one random use of table entry ``op``.
    The loss is Σ C ⊙ u with a random upstream C, so the VJP meets a general gradient."""
    rng = random.Random(f"{op}-{seed}")
    kink = False
    if op == "@":
        m, n, p = rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 3)
        values = {"A": _matrix(rng, (m, n)), "B": _matrix(rng, (n, p))}
        body, shape = "u = A @ B", (m, p)
    elif op == "T":
        shape = _shapes(rng)
        values = {"A": _matrix(rng, (shape[1], shape[0]))}
        body = "u = A.T"
    elif op == "neg":
        shape = _shapes(rng)
        values = {"A": _matrix(rng, shape)}
        body = "u = -A"
    elif op in "+-*/":
        shape = _shapes(rng)
        a, b = (shape, _broadcast_partner(rng, shape)) if rng.random() < 0.5 else \
            (_broadcast_partner(rng, shape), shape)
        values = {"A": _matrix(rng, a), "B": _matrix(rng, b, zeros=op != "/")}
        if op == "/":
            values["B"] = _matrix(rng, b, positive=True) if rng.random() < 0.5 else \
                _negative(_matrix(rng, b, positive=True))
        body = f"u = A {op} B"
    elif op == "**":
        shape = _shapes(rng)
        if seed % 2:
            values = {"A": _matrix(rng, shape, positive=True), "E": _matrix(rng, _broadcast_partner(rng, shape))}
            body = "u = A ** E"
        else:
            values = {"A": _matrix(rng, shape)}
            body = f"u = A ** {rng.choice([2, 3])}"
    elif op == "apply":
        shape = _shapes(rng)
        function = ["relu", "sigmoid", "tanh", "exp", "softplus", "elu", "silu",
                    "leaky_relu(A, 0.2)", "leaky_relu"][seed % 9]
        values = {"A": _matrix(rng, shape)}
        call = function if "(" in function else f"{function}(A)"
        body = f"u = {call}"
        kink = function.startswith(("relu", "leaky_relu", "elu"))
    elif op in ("sum", "mean", "softmax", "log_softmax", "batch_mean"):
        shape = _shapes(rng)
        if op in ("softmax", "log_softmax") and shape[0] == 1:
            shape = (rng.randint(2, 4), shape[1])
        values = {"A": _matrix(rng, shape)}
        body = f"u = {op}(A)"
        shape = {"sum": (), "mean": (), "batch_mean": (shape[0], 1)}.get(op, shape)
    elif op == "conv1d":
        length, k, batch = rng.randint(3, 6), rng.randint(1, 3), rng.randint(1, 3)
        stride, padding = rng.randint(1, 2), rng.randint(0, 1)
        values = {"A": _matrix(rng, (length, batch)), "K": _matrix(rng, (k, 1))}
        body = f"u = conv1d(A, K, {stride}, {padding})"
        shape = (len(range(0, length + 2 * padding - k + 1, stride)), batch)
    elif op == "conv2d":
        c, h, w = rng.randint(1, 2), rng.randint(3, 5), rng.randint(3, 5)
        co, kh, kw = rng.randint(1, 2), rng.randint(1, 3), rng.randint(1, 3)
        stride, padding = rng.randint(1, 2), rng.randint(0, 1)
        values = {"A": _tensor(rng, (c, h, w)), "K": _tensor(rng, (co, c, kh, kw))}
        body = f"u = conv2d(A, K, stride={stride}, padding={padding})"
        shape = (co, (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1)
    elif op in ("maxpool2d", "avgpool2d"):
        c, h, w, size = rng.randint(1, 2), rng.randint(3, 5), rng.randint(3, 5), rng.randint(2, 3)
        stride = rng.choice([None, 1, 2])
        values = {"A": _tensor(rng, (c, h, w), distinct=op == "maxpool2d")}
        body = f"u = {op}(A, {size})" if stride is None else f"u = {op}(A, {size}, stride={stride})"
        stride = stride or size
        shape = (c, (h - size) // stride + 1, (w - size) // stride + 1)
    elif op == "embedding":
        n, d, m = rng.randint(2, 5), rng.randint(1, 3), rng.randint(1, 3)
        values = {"A": _matrix(rng, (n, d)), "I": [rng.randrange(n) for _ in range(m)]}
        body, shape = "u = embedding(A, I)", (d, m)
    elif op == "flatten":
        dims = rng.choice([(2, 2, 3), (1, 3, 2), (3, 2)])
        values = {"A": _tensor(rng, dims)}
        body, shape = "u = flatten(A)", (int(np.prod(dims)), 1)
    elif op == "feature_mean":
        shape = _shapes(rng)
        values = {"A": _matrix(rng, shape)}
        body, shape = "u = feature_mean(A)", (1, shape[1])
    elif op == "layer_norm":
        r, c = rng.randint(2, 4), rng.randint(1, 3)
        values = {"A": _matrix(rng, (r, c)), "G": [row[0] for row in _matrix(rng, (r, 1))],
                  "B": [row[0] for row in _matrix(rng, (r, 1))]}
        body, shape = "u = layer_norm(A, G, B, 0.01)", (r, c)
    elif op == "cross_entropy":
        k, batch = rng.randint(2, 4), rng.randint(1, 3)
        kind = seed % 3
        values = {"Z": _matrix(rng, (k, batch))}
        if kind == 0:  # one-hot
            labels = [rng.randrange(k) for _ in range(batch)]
            values["Y"] = [[Fraction(int(labels[j] == i)) for j in range(batch)] for i in range(k)]
        elif kind == 1:  # class indices
            values["Y"] = [rng.randrange(k) for _ in range(batch)]
        else:  # soft targets whose columns need not sum to 1
            values["Y"] = _matrix(rng, (k, batch), low=0, high=1)
        # through softmax (the fused pair) or a sigmoid (the plain rule for p)
        p = "softmax(Z)" if seed % 2 == 0 else "sigmoid(Z)"
        return (f"p = {p}\nL = cross_entropy(p, Y)", values,
                ["Z", "p"] + (["Y"] if kind != 1 else []), False)
    else:
        raise KeyError(op)
    values["C"] = _tensor(rng, shape, zeros=False) if shape else _matrix(rng, (), zeros=False)
    return f"{body}\nL = sum(C * u)", values, [n for n in values if n != "C"], kink


def _negative(m):
    return [[-e for e in row] for row in m] if isinstance(m, list) else -m


def _floats(m) -> np.ndarray:
    if isinstance(m, sp.NDimArray):
        return np.array(m.tolist(), dtype=object).astype(float)
    if isinstance(m, sp.MatrixBase):
        return np.array([[float(e) for e in row] for row in m.tolist()], dtype=float)
    return np.array([[float(m)]])


def _torch_ready(values):
    return {k: (np.array(v, dtype=float) if isinstance(v, list) else float(v)) for k, v in values.items()}


OPS = sorted(TENSOR_OPS)
SEEDS = range(6)


def test_every_entry_is_covered():
    covered = {op for op in OPS for _ in [case(op, 0)]}
    assert covered == set(TENSOR_OPS)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("op", OPS)
def test_vjp_matches_torch_float64(op, seed):
    text, values, names, _ = case(op, seed)
    ex = derive.Example.from_equations(text, values=values)
    grads, _ = torch_gradients(text, _torch_ready(values))
    for name in names:
        if name not in grads or ex.is_index(name):
            continue
        ours = _floats(ex.grad(name))
        ref = grads[name].detach().numpy().reshape(ours.shape)
        assert np.allclose(ours, ref, rtol=1e-10, atol=1e-10), (op, seed, name, ours, ref)


def _loss_at(text, values):
    ex = derive.Example.from_equations(text, values=values)
    return approx(ex.tensor("L").item())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("op", OPS)
def test_vjp_matches_central_differences(op, seed):
    text, values, names, kink = case(op, seed)
    ex = derive.Example.from_equations(text, values=values)
    rng = random.Random(seed)
    for name in names:
        if name not in ex.inputs or ex.is_index(name):
            continue
        grad = ex.grad_tensor(name)
        value = values[name]
        dims = np.array(value, dtype=object).shape if isinstance(value, list) else ()
        cells = list(np.ndindex(*dims)) if dims else [None]
        for cell in rng.sample(cells, min(3, len(cells))):
            entry = value
            for i in cell or ():
                entry = entry[i]
            if kink and entry == 0:
                continue  # a kink: central differences average the two slopes; torch checks it
            shifted = []
            for sign in (1, -1):
                moved = copy.deepcopy(values)
                if cell is None:
                    moved[name] = value + sign * H
                else:
                    inner = moved[name]
                    for i in cell[:-1]:
                        inner = inner[i]
                    inner[cell[-1]] += sign * H
                shifted.append(_loss_at(text, moved))
            numeric = (shifted[0] - shifted[1]) / (2 * mpmath.mpf(H.numerator) / H.denominator)
            exact = approx(grad.item() if grad.scalar else grad.a.reshape(dims)[cell])
            assert abs(numeric - exact) < 1e-10, (op, seed, name, cell, numeric, exact)


def _printed_rule(ex, tree, i, g, out):
    """The rule a document prints for operand i of ``tree``: operands by name (or number)."""
    forms = tuple(a.value if isinstance(a, Num) else sp.Symbol(a.id, real=True) if isinstance(a, Name)
                  else display(a) for a in operands(tree))
    return rule_of(ex.structure, tree, i, g, forms, out)


def _close(a, b) -> bool:
    as_floats = lambda t: np.vectorize(lambda e: float(approx(e)), otypes=[float])(t.a)  # noqa: E731
    return a.shape == b.shape and np.allclose(as_floats(a), as_floats(b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("op", OPS)
def test_printed_rule_evaluated_at_the_numbers_is_the_vjp(op, seed):
    text, values, names, _ = case(op, seed)
    ex = derive.Example.from_equations(text, values=values)
    ev = ex.evaluation
    adjoint = ev.adjoints("L")
    g = sp.Symbol("g", real=True)
    env = {sp.Symbol(n, real=True): t for n, t in ev.values.items()}
    printer = printer_for("text")
    checked = 0
    total: dict = {}  # a name used on several lines (layer_norm's steps): the sum of its rules
    for eq in ex.graph.equations:
        env[g] = adjoint[eq.name]  # the gradient reaching this line
        out = sp.Symbol(eq.name, real=True)
        for i, a in enumerate(operands(eq.tree)):
            if not isinstance(a, Name) or ex.is_index(a.id):
                continue
            try:
                rule = _printed_rule(ex, eq.tree, i, g, out)
            except NoRule:
                pytest.fail(f"{eq.source}: no rule for {a.id}")
            printed = printer.doprint(rule)
            assert printed and "texttt" not in printed, printed
            numbers = evaluate_formula(rule, env, ev.values[a.id].shape)
            total[a.id] = numbers if a.id not in total else binary_values("+", total[a.id], numbers,
                                                                            numbers.shape, "Σ")
            checked += 1
    for name, numbers in total.items():
        assert _close(numbers, adjoint[name]), (name, numbers)
    for eq in ex.graph.equations:
        out = sp.Symbol(eq.name, real=True)
        tree = eq.tree
        step = ev.produced_by[id(ev.values[eq.name])]
        if step.fused is not None:  # δ for the logits of softmax + cross-entropy
            p, y = (sp.Symbol(x.id, real=True) for x in operands(tree))
            rule = fused_rule_of(ex.structure, tree, sp.Integer(1), (p, y), out, sp.Symbol("Z", real=True))
            assert printer.doprint(rule).startswith(("p − Y", "(p − Y)/", "p − onehot(Y)", "(p − onehot(Y))/",
                                                     "p ⊙ (𝟏ᵀ Y) − Y", "(p ⊙ (𝟏ᵀ Y) − Y)/")), printer.doprint(rule)
            assert _close(evaluate_formula(rule, env, ev.values["Z"].shape), adjoint["Z"])
            checked += 1
    assert checked >= 1


LECTURE = {"W": [[1, 2], [3, 4]], "x": [1, -1], "z": [1, 0, -2], "Z": [[1, 2, 3], [0, -1, 2]],
           "b": [1, 2], "k": [1, -1], "T": 2, "y": [0, 1, 0]}


@pytest.mark.parametrize("line, wrt, printed", [
    ("u = W @ x", "W", "g xᵀ"),
    ("u = W @ x", "x", "Wᵀ g"),
    ("u = relu(z)", "z", "g ⊙ 𝟙[z > 0]"),
    ("u = Z + b", "b", "Σ_batch g"),
    ("u = softmax(z)", "z", "u ⊙ (g − uᵀ g)"),
    ("u = softmax(Z)", "Z", "u ⊙ (g − 𝟏ᵀ (u ⊙ g))"),
    ("u = log_softmax(z)", "z", "g − softmax(z) ⊙ (𝟏ᵀ g)"),
    ("u = batch_mean(Z)", "Z", "(g 𝟏ᵀ)/3"),
    ("u = z ** 3", "z", "g ⊙ 3z²"),
    ("u = conv1d(z, k)", "z", "T(k)ᵀ g"),
    ("u = conv1d(z, k)", "k", "corr(z, g)"),
    ("u = T * Z", "T", "𝟏ᵀ (g ⊙ Z) 𝟏"),
])
def test_rules_read_as_a_lecturer_writes_them(line, wrt, printed):
    ex = derive.Example.from_equations(line + "\nL = sum(u)", values={
        n: v for n, v in LECTURE.items() if n in line.replace("(", " ").replace(")", " ").replace(",", " ").split()})
    tree = ex.graph.equations[0].tree
    i = [getattr(a, "id", None) for a in operands(tree)].index(wrt)
    rule = _printed_rule(ex, tree, i, sp.Symbol("g", real=True), sp.Symbol("u", real=True))
    assert printer_for("text").doprint(rule) == printed
