"""A layer document under the notation preset ``index_base: 0`` numbers the entries of its
convolution, pooling and embedding sections from 0, as PyTorch indexes them: the max-pool's
"copies" column is torch's argmax (return_indices) as (channel, row, column), an average-pool's
window its 0-based corners, a convolution's window formula s·p + a − padding with its listed
outputs and zoomed entries at torch's positions, an embedding's rows the token indices
themselves. Under index_base: 1 the document is the one a spec without notation gives."""
from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from derive.model.spec import example_from_spec, load_spec
from tests.test_layer_listings import (FORMATS, T, close, count_sentence, entry, number, plant_ties, render,
                                       row_of, rows, section, sparse, words)

SHAPES = [(1, 6, 6), (2, 5, 5), (1, 7, 7), (2, 6, 6)]


def from_spec(tmp_path, equations: str, values: dict, data=(), base=None):
    """The example of a spec file with these equations and values (and ``notation: {index_base:
    base}`` unless base is None)."""
    spec = {"equations": equations, "values": values}
    if data:
        spec["data"] = list(data)
    if base is not None:
        spec["notation"] = {"index_base": base}
    path = tmp_path / f"spec{base}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return example_from_spec(load_spec(str(path)))


def cells(line: str, fmt: str, name: str) -> list[tuple]:
    """Every entry index of ``name`` written in a line, as integers."""
    if fmt == "text":
        found = re.findall(re.escape(name) + r"\[([\d,]+)\]", line)
    else:
        found = re.findall(r"\(" + re.escape(name) + r"(?:\\right|\\bigr)?\)_\{([\d,]+)\}", line)
    return [tuple(int(v) for v in f.split(",")) for f in found]


# --- max-pooling: the copied entry is torch's argmax -----------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_maxpool_copies_torchs_argmax_counted_from_0(tmp_path, seed):
    rng = random.Random(500 + seed)
    shape = SHAPES[seed % len(SHAPES)]
    size, stride = rng.choice([(2, 2), (3, 2), (2, 1), (3, 3)])
    x = np.array(rng.sample(range(-200, 200), int(np.prod(shape)))).reshape(shape)
    oh, ow = (shape[1] - size) // stride + 1, (shape[2] - size) // stride + 1
    G = sparse(rng, (shape[0], oh, ow), rng.choice([1, 2, 3]))
    hot = [tuple(int(v) for v in i) for i in np.argwhere(G != 0)]
    plant_ties(x, size, stride, [(*hot[0], True)])
    ex = from_spec(tmp_path, f"p = maxpool2d(x, {size}, {stride})\nL = sum(p*G)\n",
                   {"x": x.tolist(), "G": G.tolist()}, data=["G"], base=0)
    tx = T(x)
    p, where = F.max_pool2d(tx.unsqueeze(0), size, stride, return_indices=True)
    (p.squeeze(0) * T(G, False)).sum().backward()
    assert close(ex.value("p"), p.squeeze(0)) and close(ex.grad("x"), tx.grad)
    where = where.squeeze(0).numpy()
    for fmt in FORMATS:
        body = section(render(ex, fmt), fmt, "The max-pooling p: where the gradient goes")
        table = rows(body, fmt)
        assert table
        for line in table:  # every listed window: output (c, i, j) copies torch's pick, 0-based
            (out,) = [c for c in cells(line, fmt, "p")]
            (copied,) = cells(line, fmt, "x")
            ch, i, j = out
            assert copied == (ch, *divmod(int(where[ch, i, j]), x.shape[2])), (fmt, line)
        for ch, i, j in hot:
            line = row_of(table, fmt, "p", (ch, i, j))
            assert number(fmt, G[ch, i, j]) in line
        # the corners of the numbering: entry (0, 0, 0) is listed, no index reaches a shape
        assert any(cells(ln, fmt, "p")[0] == (0, 0, 0) for ln in table)
        assert all(v < n for ln in table for v, n in zip(cells(ln, fmt, "x")[0], x.shape))


# --- average-pooling: each window's corners from 0 ---------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_avgpool_window_corners_counted_from_0(tmp_path, seed):
    rng = random.Random(600 + seed)
    shape = SHAPES[seed % len(SHAPES)]
    size, stride = rng.choice([(2, 2), (2, 1), (3, 1)])
    x = np.array([rng.randint(-9, 9) for _ in range(int(np.prod(shape)))]).reshape(shape)
    oh, ow = (shape[1] - size) // stride + 1, (shape[2] - size) // stride + 1
    G = sparse(rng, (shape[0], oh, ow), 2)
    ex = from_spec(tmp_path, f"o = avgpool2d(x, {size}, stride={stride})\nL = sum(o*G)\n",
                   {"x": x.tolist(), "G": G.tolist()}, data=["G"], base=0)
    tx = T(x)
    (F.avg_pool2d(tx.unsqueeze(0), size, stride).squeeze(0) * T(G, False)).sum().backward()
    assert close(ex.grad("x"), tx.grad)
    for fmt in FORMATS:
        table = rows(section(render(ex, fmt), fmt, "The average-pooling o: where the gradient goes"), fmt)
        for line in table:
            (ch, i, j), = cells(line, fmt, "o")
            first, last = cells(line, fmt, "x")
            assert first == (ch, i * stride, j * stride)
            assert last == (ch, i * stride + size - 1, j * stride + size - 1)
        for ch, i, j in np.argwhere(G != 0):  # every output that carries gradient is listed
            assert number(fmt, G[ch, i, j]) in row_of(table, fmt, "o", (ch, i, j))


# --- convolution: the window formula, the listed windows and the zoomed entries -------------------------------


@pytest.mark.parametrize("seed, stride, padding", [(0, 1, 0), (1, 2, 1), (2, 1, 1), (3, 2, 0)])
def test_conv_counts_from_0_at_torchs_positions(tmp_path, seed, stride, padding):
    rng = random.Random(700 + seed)
    c, h, w = SHAPES[seed % len(SHAPES)]
    co, kh = rng.choice([1, 2]), rng.choice([2, 3])
    x = np.array([rng.randint(-4, 4) for _ in range(c * h * w)]).reshape(c, h, w)
    k = np.array([rng.choice([-2, -1, 1, 2]) for _ in range(co * c * kh * kh)]).reshape(co, c, kh, kh)
    oh = (h + 2 * padding - kh) // stride + 1
    G = sparse(rng, (co, oh, oh), rng.choice([1, 2]))
    ex = from_spec(tmp_path, f"o = conv2d(x, k, {stride}, {padding})\nL = sum(o*G)\n",
                   {"x": x.tolist(), "k": k.tolist(), "G": G.tolist()}, data=["G"], base=0)
    tx, tk = T(x), T(k)
    o = F.conv2d(tx.unsqueeze(0), tk, stride=stride, padding=padding).squeeze(0)
    (o * T(G, False)).sum().backward()
    assert close(ex.value("o"), o) and close(ex.grad("x"), tx.grad) and close(ex.grad("k"), tk.grad)
    title = "The convolution o, as a sum and as a matrix"
    text = section(ex.to_text(), "text", title)
    start = "p" if stride == 1 else f"{stride}p"
    pad = f"-{padding}" if padding else ""
    assert f"x[i,{start}+a{pad},{start.replace('p', 'q')}+b{pad}]" in text
    assert "indices from 0)" in words(text) and "indices from 1" not in text
    # the forward zoom: the output entry named, at 0-based (p, q) of channel 0, sums to torch's value
    m = re.search(r"For output channel 0 at position \((\d+), (\d+)\)", words(text))
    p, q = int(m[1]), int(m[2])
    lines = [ln.strip() for ln in text.splitlines()]
    at = next(n for n, ln in enumerate(lines) if ln.startswith("k[0,"))
    forward = lines[at:at + 2]  # the sum with names, then with numbers
    assert float(forward[1].rsplit("= ", 1)[1].replace("−", "-")) == o[0, p, q].item()
    for a, b in [(0, 0)]:  # the first term: kernel entry (0, 0, 0, 0) meets x at s·p + a − padding
        r, col = stride * p + a - padding, stride * q + b - padding
        if 0 <= r < h and 0 <= col < w:
            assert forward[0].startswith(f"k[0,0,0,0] · x[0,{r},{col}]")
    for fmt in FORMATS:
        table = rows(section(render(ex, fmt), fmt, title), fmt)
        for ch, i, j in np.argwhere(G != 0):
            line = row_of(table, fmt, "o", (ch, i, j))
            assert number(fmt, G[ch, i, j]) in line
            first, last = cells(line, fmt, "x")  # the window's block within the image, 0-based
            assert first[1:] == (max(i * stride - padding, 0), max(j * stride - padding, 0))
            assert last[1:] == (min(i * stride - padding + kh, h) - 1, min(j * stride - padding + kh, w) - 1)
    # the zoom on an input entry: at its 0-based position torch's gradient is the sum shown
    names, numbers = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("∂L/∂x[")]
    at = tuple(int(v) for v in re.match(r"∂L/∂x\[(\d+),(\d+),(\d+)\]", names).groups())
    assert tx.grad[at].item() != 0
    assert float(numbers.rsplit("= ", 1)[1].replace("−", "-")) == tx.grad[at].item()
    # the kernel's zoom: its first entry whose gradient is not 0, numbered from 0
    names, numbers = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("∂L/∂k[")]
    m = tuple(int(v) for v in re.match(r"∂L/∂k\[(\d+),(\d+),(\d+),(\d+)\]", names).groups())
    first = next(i for i, v in enumerate(tk.grad.numpy().ravel()) if v != 0)
    assert m == tuple(int(v) for v in np.unravel_index(first, k.shape))
    assert float(numbers.rsplit("= ", 1)[1].replace("−", "-")) == tk.grad[m].item()


# --- embedding: the rows are the token indices ---------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_embedding_rows_are_the_token_indices(tmp_path, seed):
    rng = random.Random(800 + seed)
    classes, width = rng.choice([5, 6, 7]), 2
    E = np.array([rng.randint(-3, 3) for _ in range(classes * width)]).reshape(classes, width)
    i = [rng.randrange(classes) for _ in range(3)]
    C = np.array([[rng.choice([-2, -1, 1, 2]) for _ in i] for _ in range(width)])
    ex = from_spec(tmp_path, "e = embedding(E, i)\nL = sum(C*e)\n",
                   {"E": E.tolist(), "i": i, "C": C.tolist()}, data=["i", "C"], base=0)
    tE = T(E)
    (F.embedding(torch.tensor(i), tE).T * T(C, False)).sum().backward()
    assert close(ex.grad("E"), tE.grad)
    looked = sorted(set(i))
    text = words(section(ex.to_text(), "text", "The embedding e: where the gradient lands"))
    assert "copies row i of E for class index i" in text and "i + 1" not in text
    assert "zero except in rows " + ", ".join(str(r) for r in looked) + "," in text
    shown = {int(r): line for r, line in re.findall(r"∂L/∂E\[(\d+),\*\] = (\[[^]]*\])", text)}
    assert sorted(shown) == looked
    for r in looked:
        want = "[" + ", ".join(format(v, "g").replace("-", "−") for v in tE.grad[r].tolist()) + "]"
        assert shown[r] == want
    for fmt in FORMATS[1:]:
        body = section(render(ex, fmt), fmt, "The embedding e: where the gradient lands")
        for r in looked:
            assert re.search(entry(fmt, "E", (r, "*")), body), (fmt, r)
        assert count_sentence(body, "rows looked up") is None  # every row looked up is shown


# --- index_base: 1 is the document without notation ----------------------------------------------------------


def test_base_1_is_the_document_without_notation(tmp_path):
    rng = random.Random(9)
    x = np.array([rng.randint(-4, 4) for _ in range(2 * 6 * 6)]).reshape(2, 6, 6)
    k = np.array([rng.choice([-1, 1, 2]) for _ in range(2 * 2 * 3 * 3)]).reshape(2, 2, 3, 3)
    conv = ("c = conv2d(x, k, stride=2, padding=1)\np = maxpool2d(c, 2)\nq = avgpool2d(c, 2, stride=1)\n"
            "L = sum(p) + sum(q*q)\n")
    emb = "e = embedding(E, i)\nL = sum(C*e)\n"
    emb_values = {"E": [[1, -1], [0, 2], [3, 1], [-2, 0]], "i": [3, 1, 3], "C": [[1, 0, 2], [-1, 1, 0]]}
    for equations, values, data in [(conv, {"x": x.tolist(), "k": k.tolist()}, ()),
                                    (emb, emb_values, ["i", "C"])]:
        plain = from_spec(tmp_path, equations, values, data)
        one = from_spec(tmp_path, equations, values, data, base=1)
        zero = from_spec(tmp_path, equations, values, data, base=0)
        for fmt in FORMATS:
            assert render(one, fmt) == render(plain, fmt)
            assert render(zero, fmt) != render(plain, fmt)
    text = plain_text = render(from_spec(tmp_path, conv, {"x": x.tolist(), "k": k.tolist()}), "text")
    assert "x[i,2(p-1)+a-1,2(q-1)+b-1]" in text and "indices from 1)" in words(plain_text)
    assert "For output channel 1 at position (" in words(text)
    text = words(render(from_spec(tmp_path, emb, emb_values, ["i", "C"]), "text"))
    assert "copies row i + 1 of E" in text and "zero except in rows 2, 4," in text
