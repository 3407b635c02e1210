"""The layer documents' listings keep every entry that is the point (issue 24, item 4): a max- or
average-pooling routing table, a convolution's windows and zoomed-in sums, an embedding's rows
of ∂L/∂E show every window, term or row that carries a nonzero gradient (and every tie) in text,
Markdown and LaTeX, whatever its position; the sentence saying what is shown counts what is
listed; the numbers are torch float64's. Images 1×6×6 … 2×8×8 with a sparse upstream gradient
(1–3 nonzero entries at random windows) and planted ties."""
from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import derive
from derive.solutions.layersections import POINT_SHOWN, chosen

FORMATS = ("text", "markdown", "latex")
SHAPES = [(1, 6, 6), (1, 7, 7), (2, 6, 6), (1, 8, 8), (2, 8, 8)]


def render(ex, fmt: str) -> str:
    return {"text": ex.to_text, "markdown": ex.to_markdown, "latex": ex.to_latex}[fmt]()


def section(doc: str, fmt: str, title: str) -> str:
    """The body of the section titled ``title`` in a rendered document."""
    start = doc.index(title) + len(title)
    if fmt == "markdown":
        end = doc.find("\n## ", start)
    elif fmt == "latex":
        end = min(i for i in (doc.find("\\section", start), doc.find("\\end{document}", start)) if i >= 0)
    else:
        found = re.compile(r"\n[^\n]+\n-{3,}\n").search(doc, start + 1 + doc[start:].index("\n", 1))
        end = found.start() if found else -1
    return doc[start:end if end >= 0 else None]


def entry(fmt: str, name: str, index) -> str:
    """How a document writes entry ``index`` (1-based) of ``name``, as a regular expression."""
    idx = ",".join(str(i) for i in index)
    if fmt == "text":
        return re.escape(f"{name}[{idx}]")
    return r"(?:\\left|\\bigl)?\(" + re.escape(name) + r"(?:\\right|\\bigr)?\)_\{" + re.escape(idx) + r"\}"


def number(fmt: str, v) -> str:
    s = format(v, "g")
    return {"text": s.replace("-", "−"), "markdown": f"${s}$", "latex": rf"\({s}\)"}[fmt]


def rows(body: str, fmt: str) -> list[str]:
    """The lines of a section's table."""
    lines = body.splitlines()
    if fmt == "markdown":
        return [ln for ln in lines if ln.startswith("| ") and "---" not in ln][1:]
    if fmt == "latex":
        table = body[body.index("\\endlastfoot"):body.index("\\end{longtable}")]
        return [ln for ln in table.splitlines() if ln.endswith("\\\\")]
    head = next(i for i, ln in enumerate(lines) if ln.startswith("    ----"))  # the table's rule
    table = []
    for ln in lines[head + 1:]:
        if not ln.startswith("    "):
            break
        table.append(ln)
    return table


def first_cell(line: str, fmt: str) -> str:
    """A table row's first cell, without its math delimiters ($…$, \\(…\\))."""
    cell = (line.split("|")[1] if fmt == "markdown" else line.split("&")[0] if fmt == "latex"
            else line.split()[0]).strip()
    return cell.removeprefix("$").removesuffix("$").removeprefix("\\(").removesuffix("\\)")


def row_of(table: list[str], fmt: str, name: str, index) -> str:
    """The one row of ``table`` whose first cell is entry ``index`` of ``name``."""
    found = [ln for ln in table if re.fullmatch(entry(fmt, name, index), first_cell(ln, fmt))]
    assert len(found) == 1, (name, index, table)
    return found[0]


def words(body: str) -> str:
    return " ".join(body.split())


def count_sentence(body: str, noun: str):
    """(shown, total, the words after the colon) of "(N of M windows: …)" or "(The first N …)"."""
    text = words(body)
    m = re.search(rf"\((\d+) of (\d+) {noun}: ([^)]*)\)", text)
    if m:
        return int(m[1]), int(m[2]), m[3]
    m = re.search(rf"\(The first (\d+) of (\d+) {noun}\.\)", text)
    return (int(m[1]), int(m[2]), "") if m else None


def T(v, grad=True):
    return torch.tensor(np.array(v, dtype=float), dtype=torch.float64, requires_grad=grad)


def close(ours, ref) -> bool:
    ours = np.array(np.array(ours.tolist(), dtype=object).astype(float)) if hasattr(ours, "tolist") else float(ours)
    return np.allclose(np.reshape(ours, ref.shape), ref.detach().numpy(), rtol=1e-10, atol=1e-10)


def sparse(rng, shape, count) -> np.ndarray:
    """Zeros of ``shape`` with ``count`` nonzero whole numbers (±1 … ±3) at random places."""
    G = np.zeros(shape, dtype=int)
    for flat in rng.sample(range(G.size), count):
        G.flat[flat] = rng.choice([-3, -2, -1, 1, 2, 3])
    return G


# --- which items a listing shows, and its words ------------------------------------------------------


def test_chosen_shows_what_is_the_point_first_then_fills_and_says_so():
    grad, tie = ("that carries gradient", "that carry gradient"), ("with a tie", "with a tie")
    shown, said = chosen(16, [(*grad, {10, 15}), (*tie, {15, 12})], 8, "windows")
    assert shown == [0, 1, 2, 3, 4, 10, 12, 15]
    assert said == "8 of 16 windows: the 2 that carry gradient, the one other with a tie, and 5 more."
    shown, said = chosen(16, [(*grad, {10})], 8, "windows")
    assert shown == [0, 1, 2, 3, 4, 5, 6, 10] and said == "8 of 16 windows: the one that carries gradient and 7 more."
    # every item carries gradient: nothing singled out, the first ones
    shown, said = chosen(16, [(*grad, set(range(16)))], 8, "windows")
    assert shown == list(range(8)) and said == "The first 8 of 16 windows."
    # more that carry gradient than the limit: all of them, up to POINT_SHOWN
    many = set(range(1, 31, 2))
    shown, said = chosen(40, [(*grad, many)], 8, "windows")
    assert set(shown) == many and said == "15 of 40 windows: the 15 that carry gradient."
    huge = set(range(1, 80, 2))
    shown, said = chosen(80, [(*grad, huge)], 8, "windows")
    assert len(shown) == POINT_SHOWN and said == f"{POINT_SHOWN} of 80 windows: {POINT_SHOWN} of the 40 that carry gradient."
    assert chosen(5, [(*grad, {1})], 8, "windows") == ([0, 1, 2, 3, 4], "")


# --- max-pooling ---------------------------------------------------------------------------------------


def plant_ties(x: np.ndarray, size: int, stride: int, windows: list) -> None:
    """Copy each listed window's maximum onto another entry of that window (earlier or later in
    row-major order), so the window has a tie."""
    for c, p, q, earlier in windows:
        block = x[c, p * stride:p * stride + size, q * stride:q * stride + size]
        a, b = np.unravel_index(int(np.argmax(block)), block.shape)
        other = (0, 0) if earlier and (a, b) != (0, 0) else (size - 1, size - 1) if (a, b) != (size - 1, size - 1) else (0, 0)
        block[other] = block[a, b]


def pool_case(seed: int):
    rng = random.Random(seed)
    shape = SHAPES[seed % len(SHAPES)]
    size, stride = rng.choice([(2, 2), (2, 2), (3, 2), (3, 3)])
    x = np.array(rng.sample(range(-200, 200), int(np.prod(shape)))).reshape(shape)
    oh, ow = (shape[1] - size) // stride + 1, (shape[2] - size) // stride + 1
    G = sparse(rng, (shape[0], oh, ow), rng.choice([1, 2, 3]))
    hot = [tuple(int(v) for v in i) for i in np.argwhere(G != 0)]
    cold = [(c, p, q) for c in range(shape[0]) for p in range(oh) for q in range(ow) if G[c, p, q] == 0]
    plant_ties(x, size, stride, [(*hot[0], True), (*rng.choice(cold), rng.random() < 0.5)])
    return x, G, size, stride


@pytest.mark.parametrize("seed", range(8))
def test_maxpool_routing_table_lists_every_window_that_carries_gradient_and_every_tie(seed):
    x, G, size, stride = pool_case(seed)
    ex = derive.Example.from_equations(f"p = maxpool2d(x, {size}, {stride})\nL = sum(p*G)",
                                       values={"x": x.tolist(), "G": G.tolist()}, data=["G"])
    tx = T(x)
    p, where = F.max_pool2d(tx.unsqueeze(0), size, stride, return_indices=True)
    (p.squeeze(0) * T(G, False)).sum().backward()
    assert close(ex.value("p"), p.squeeze(0)) and close(ex.grad("x"), tx.grad)
    c, oh, ow = G.shape
    where = where.squeeze(0).numpy()
    ties = sum(1 for ch in range(c) for i in range(oh) for j in range(ow)
               if (x[ch, i * stride:i * stride + size, j * stride:j * stride + size]
                   == p[0, ch, i, j].item()).sum() > 1)
    assert ties >= 1  # planted (overlapping windows may share an entry)
    for fmt in FORMATS:
        body = section(render(ex, fmt), fmt, "The max-pooling p: where the gradient goes")
        table = rows(body, fmt)
        for ch, i, j in np.argwhere(G != 0):
            r, col = divmod(int(where[ch, i, j]), x.shape[2])  # torch's pick: the first maximum
            line = row_of(table, fmt, "p", (ch + 1, i + 1, j + 1))
            assert re.search(entry(fmt, "x", (ch + 1, r + 1, col + 1)), line), line
            assert number(fmt, G[ch, i, j]) in line, line
        tied_rows = [ln for ln in table if "yes" in ln]
        assert len(tied_rows) == ties  # every tie is listed
        total = c * oh * ow
        counted = count_sentence(body, "windows")
        if len(table) == total:
            assert counted is None
        else:
            assert counted is not None and counted[:2] == (len(table), total)
            k = int((G != 0).sum())
            assert (f"the {k} that carry gradient" if k > 1 else "the one that carries gradient") in counted[2]
            cold_ties = sum(1 for ln in tied_rows if number(fmt, 0) in ln.split("yes")[-1])
            more = re.search(r"(\d+) more", counted[2])
            assert (int(more[1]) if more else 0) == len(table) - k - cold_ties
        verb = "has" if ties == 1 else "have"
        assert f"{ties} of the {total} windows {verb} a tie at these values." in words(body)


def test_the_qa_max_pool_lists_the_windows_that_carry_gradient():
    x = np.random.default_rng(3).permutation(64).reshape(1, 8, 8).tolist()
    G = [[[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 2]]]
    ex = derive.Example.from_equations("p = maxpool2d(x, 2)\nL = sum(p*G)", values=dict(x=x, G=G), data=["G"])
    body = words(section(ex.to_text(), "text", "The max-pooling p: where the gradient goes"))
    assert "p[1,3,3] x[1,6,6] 45 1" in body and "p[1,4,4] x[1,7,7] 58 2" in body
    assert "(8 of 16 windows: the 2 that carry gradient and 6 more; every other output's gradient is 0.)" in body
    assert "No window has a tie at these values." in body


def test_one_tie_is_singular():
    x = np.arange(1, 17).reshape(1, 4, 4)
    x[0, 0, 0] = x[0, 1, 1] = 20
    ex = derive.Example.from_equations("p = maxpool2d(x, 2)\nL = sum(p)", values={"x": x.tolist()})
    assert "1 of the 4 windows has a tie at these values." in words(ex.to_text())


# --- average-pooling -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_avgpool_table_lists_every_window_that_carries_gradient(seed):
    rng = random.Random(100 + seed)
    shape = SHAPES[seed % len(SHAPES)]
    size, stride = rng.choice([(2, 2), (2, 1), (3, 1), (3, 3)])
    x = np.array([rng.randint(-9, 9) for _ in range(int(np.prod(shape)))]).reshape(shape)
    oh, ow = (shape[1] - size) // stride + 1, (shape[2] - size) // stride + 1
    G = sparse(rng, (shape[0], oh, ow), rng.choice([1, 2, 3]))
    ex = derive.Example.from_equations(f"o = avgpool2d(x, {size}, stride={stride})\nL = sum(o*G)",
                                       values={"x": x.tolist(), "G": G.tolist()}, data=["G"])
    tx = T(x)
    o = F.avg_pool2d(tx.unsqueeze(0), size, stride).squeeze(0)
    (o * T(G, False)).sum().backward()
    assert close(ex.value("o"), o) and close(ex.grad("x"), tx.grad)
    for fmt in FORMATS:
        body = section(render(ex, fmt), fmt, "The average-pooling o: where the gradient goes")
        table = rows(body, fmt)
        for ch, i, j in np.argwhere(G != 0):
            line = row_of(table, fmt, "o", (ch + 1, i + 1, j + 1))
            first, last = (ch + 1, i * stride + 1, j * stride + 1), (ch + 1, i * stride + size, j * stride + size)
            assert re.search(entry(fmt, "x", first), line) and re.search(entry(fmt, "x", last), line), line
            assert number(fmt, G[ch, i, j]) in line, line
        counted = count_sentence(body, "windows")
        total = G.size
        if len(table) < total:
            k = int((G != 0).sum())
            assert counted[:2] == (len(table), total) and f"{len(table) - k} more" in counted[2]
            assert "every other output's gradient is 0" in counted[2]
        else:
            assert counted is None


# --- convolution -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed, stride, padding", [(0, 1, 0), (1, 2, 1), (2, 1, 1), (3, 2, 0), (4, 2, 1)])
def test_conv_lists_its_windows_that_carry_gradient_and_zooms_in_where_the_gradient_is(seed, stride, padding):
    rng = random.Random(200 + seed)
    c, h, w = SHAPES[seed % len(SHAPES)]
    co, kh = rng.choice([1, 2]), rng.choice([2, 3])
    x = np.array([rng.randint(-4, 4) for _ in range(c * h * w)]).reshape(c, h, w)
    k = np.array([rng.choice([-2, -1, 1, 2]) for _ in range(co * c * kh * kh)]).reshape(co, c, kh, kh)
    oh = (h + 2 * padding - kh) // stride + 1
    G = sparse(rng, (co, oh, oh), rng.choice([1, 2, 3]))
    ex = derive.Example.from_equations(f"o = conv2d(x, k, {stride}, {padding})\nL = sum(o*G)",
                                       values={"x": x.tolist(), "k": k.tolist(), "G": G.tolist()}, data=["G"])
    tx, tk = T(x), T(k)
    o = F.conv2d(tx.unsqueeze(0), tk, stride=stride, padding=padding).squeeze(0)
    (o * T(G, False)).sum().backward()
    assert close(ex.value("o"), o) and close(ex.grad("x"), tx.grad) and close(ex.grad("k"), tk.grad)
    title = "The convolution o, as a sum and as a matrix"
    for fmt in FORMATS:
        body = section(render(ex, fmt), fmt, title)
        table = rows(body, fmt)
        for ch, i, j in np.argwhere(G != 0):
            assert number(fmt, G[ch, i, j]) in row_of(table, fmt, "o", (ch + 1, i + 1, j + 1))
        counted = count_sentence(body, "windows")
        if len(table) < G.size:
            assert counted[:2] == (len(table), G.size)
    # the zoom on an input entry: one the gradient reaches, every output reaching it written out
    text = section(ex.to_text(), "text", title)
    zoom = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("∂L/∂x[")]
    names, numbers = zoom
    at = tuple(int(v) - 1 for v in re.match(r"∂L/∂x\[(\d+),(\d+),(\d+)\]", names).groups())
    assert tx.grad[at].item() != 0
    assert float(numbers.rsplit("= ", 1)[1].replace("−", "-")) == tx.grad[at].item()
    for ch, i, j in np.argwhere(G != 0):
        r0, c0 = i * stride - padding, j * stride - padding
        if r0 <= at[1] < r0 + kh and c0 <= at[2] < c0 + kh:
            assert f"∂L/∂o[{ch + 1},{i + 1},{j + 1}] · k[" in names
    # the kernel's zoom: its first entry whose gradient is not 0, with that gradient
    zoom = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("∂L/∂k[")]
    names, numbers = zoom
    m = tuple(int(v) - 1 for v in re.match(r"∂L/∂k\[(\d+),(\d+),(\d+),(\d+)\]", names).groups())
    first = next(i for i, v in enumerate(tk.grad.numpy().ravel()) if v != 0)
    assert m == tuple(int(v) for v in np.unravel_index(first, k.shape))
    assert float(numbers.rsplit("= ", 1)[1].replace("−", "-")) == tk.grad[m].item()


# --- embedding ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_embedding_shows_every_row_that_carries_gradient(seed):
    rng = random.Random(300 + seed)
    classes, width = rng.choice([8, 10, 12]), 3
    E = np.array([rng.randint(-3, 3) for _ in range(classes * width)]).reshape(classes, width)
    i = list(range(classes)) + [rng.randrange(classes) for _ in range(3)]  # every row, some twice
    rng.shuffle(i)
    C = sparse(rng, (width, len(i)), rng.choice([1, 2, 3]))
    ex = derive.Example.from_equations("e = embedding(E, i)\nL = sum(C*e)",
                                       values={"E": E.tolist(), "i": i, "C": C.tolist()}, data=["C"])
    tE = T(E)
    e = F.embedding(torch.tensor(i), tE).T
    (e * T(C, False)).sum().backward()
    assert close(ex.value("e"), e) and close(ex.grad("E"), tE.grad)
    hot = [r for r in range(classes) if tE.grad[r].abs().sum() > 0]
    for fmt in FORMATS:
        body = section(render(ex, fmt), fmt, "The embedding e: where the gradient lands")
        for r in hot:
            assert re.search(entry(fmt, "E", (r + 1, "*")), body), (fmt, r)
        shown = sum(1 for r in range(1, classes + 1) if re.search(entry(fmt, "E", (r, "*")), body))
        counted = count_sentence(body, "rows looked up")
        assert counted[:2] == (shown, classes)
        k = len(hot)
        assert (f"the {k} that carry gradient" if k > 1 else "the one that carries gradient") in counted[2]
        assert f"{shown - k} more" in counted[2] and "every other row's gradient is 0" in counted[2]


# --- the windows, asked of the table --------------------------------------------------------------------


@pytest.mark.parametrize("x_shape, k_shape, stride, padding", [
    ((1, 4, 4), (1, 1, 2, 2), 1, 0), ((2, 7, 7), (3, 2, 3, 3), 2, 1), ((1, 6, 5), (2, 1, 3, 2), 1, 1),
    ((3, 8, 8), (2, 3, 2, 3), 2, 0), ((1, 5, 5), (1, 1, 5, 5), 1, 2)])
def test_conv_taps_are_pytorchs_windows(x_shape, k_shape, stride, padding):
    """derive.core.windows reads the windows off one evaluation of the table's conv2d: they are
    the windows PyTorch places (written out here independently)."""
    from derive.core.windows import conv_taps
    c, h, w = x_shape
    co, ci, kh, kw = k_shape
    out_shape, taps = conv_taps("conv2d", x_shape, k_shape, stride, padding)
    oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    assert out_shape == (co, oh, ow)
    expected = [[(((o * ci + i) * kh + a) * kw + b, (i * h + r) * w + col)
                 for i in range(ci) for a in range(kh) for b in range(kw)
                 for r, col in [(p * stride - padding + a, q * stride - padding + b)]
                 if 0 <= r < h and 0 <= col < w]
                for o in range(co) for p in range(oh) for q in range(ow)]
    assert taps == expected


@pytest.mark.parametrize("shape, size, stride", [((1, 4, 4), 2, 2), ((2, 7, 7), 3, 2), ((2, 8, 8), 2, 1),
                                                 ((1, 6, 5), 3, 3)])
def test_pool_windows_are_pytorchs_windows(shape, size, stride):
    from derive.core.windows import pool_windows
    c, h, w = shape
    out_shape, windows = pool_windows(shape, size, stride)
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    assert out_shape == (c, oh, ow)
    assert windows == [[(ch * h + p * stride + a) * w + q * stride + b for a in range(size) for b in range(size)]
                       for ch in range(c) for p in range(oh) for q in range(ow)]
