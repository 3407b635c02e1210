"""Sections of a tensor document for the layers of the language, from the example's numbers:
a convolution as a sum and as a matrix (vec(o) = T(k) vec(x), ∂L/∂x = T(k)ᵀ g, the kernel's
gradient a correlation of the input with g), each zoomed in on one entry; max-pooling's routing
(each window's gradient to its maximum, ties to the first as PyTorch); an embedding's gradient
landing in the rows of E that were looked up."""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..core.derivation import Chain, Partial, Product, Sum, Value
from ..core.functions import Sentence
from ..core.matrixmath import Dots, Entry, MatProduct, MatrixValue, TensorCall, Transposed
from ..core.parser import BinOp, Call, Name
from ..core.tensor import Tensor, band2d, conv_windows, pool_argmax
from ..rendering.blocks import Section

TERMS_SHOWN = 9  # terms of a zoomed-in sum written out; beyond, the first ones and ⋯


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def _calls(ex, func: str):
    """(equation, call) for each use of ``func`` whose gradient is the line's (the call is the
    line, or one term of a sum: o = conv2d(x, k) + b), operands named."""
    for eq in ex.graph.equations:
        t = eq.tree
        for node in ([t] if isinstance(t, Call) else [t.left, t.right] if isinstance(t, BinOp) and t.op == "+"
                     else []):
            if isinstance(node, Call) and node.func == func and all(
                    isinstance(a, Name) for a in node.args[:2 if func != "maxpool2d" else 1]):
                yield eq, node


def _index(*i) -> tuple:
    return tuple(v + 1 for v in i)


def _entry(name, index, of=""):
    index = _index(*index)
    return Entry(name, index[0], index[1], of, index[2:])


def _window_index(out: str, offset: str, stride: int, padding: int) -> str:
    """The input row (or column) a kernel entry meets, 1-based: s·(p − 1) + a − padding."""
    start = out + "-1" if stride == 1 else f"{stride}({out}-1)"
    return f"{start}+{offset}" + (f"-{padding}" if padding else "")


def _terms(pairs):
    """Products of shown numbers, the first few and ⋯ when there are many."""
    terms = tuple(Product((Value(a), Value(b))) for a, b in pairs[:TERMS_SHOWN])
    return terms + ((Dots(),) if len(pairs) > TERMS_SHOWN else ())


def _sum_of(pairs):
    from ..core.engine import compact
    return compact("Σ", sp.Add(*[a * b for a, b in pairs]))


def conv_section(ex, eq, call) -> Section | None:
    d = ex.matrix_derivation()
    site = ex.structure.site(call)
    x, k = call.args[0].id, call.args[1].id
    X, K = d.values[x], d.values[k]
    stride = site.numbers[2] if len(site.numbers) > 2 else 1
    padding = site.numbers[3] if len(site.numbers) > 3 else 0
    stride, padding = int(stride), int(padding)
    co, ci, kh, kw = K.shape
    c, h, w = X.shape
    rows, cols = conv_windows(h, kh, stride, padding), conv_windows(w, kw, stride, padding)
    g = d.gradients[eq.name]
    s = Section(f"The convolution {eq.name}, as a sum and as a matrix")
    # as a sum: the output entry whose window meets the most inputs
    def met(cc, p, q):
        return [((cc, i, a, b), (i, rows[p] + a, cols[q] + b)) for i in range(ci) for a in range(kh)
                for b in range(kw) if 0 <= rows[p] + a < h and 0 <= cols[q] + b < w]
    p, q = max(((p, q) for p in range(len(rows)) for q in range(len(cols))), key=lambda pq: len(met(0, *pq)))
    pairs = met(0, p, q)
    s.say(Sentence(f"Each output entry sums a kernel's entries times the inputs its window covers: "
                   f"over the {ci} input channel(s) and the {kh}×{kw} window, the window moved by the "
                   f"stride {stride} and the input padded with {padding} zero(s) on each side "
                   f"(a padded entry adds nothing; indices from 1):"))
    s.show(Chain(Entry(eq.name if call is eq.tree else "conv", "c", "p", "", ("q",)), "=", TensorCall(
        r"\sum_{i,a,b}", "Σ_(i,a,b)", (Product((Entry(k, "c", "i", "", ("a", "b")), Entry(
            x, "i", _window_index("p", "a", stride, padding), "", (_window_index("q", "b", stride, padding),)))),))))
    s.say(Sentence(f"For output channel 1 at position ({p + 1}, {q + 1})"
                   + (", before what is added to the convolution:" if call is not eq.tree else ":")))
    s.show(Chain(Sum(tuple(Product((_entry(k, kk), _entry(x, xx))) for kk, xx in pairs[:TERMS_SHOWN])
                     + ((Dots(),) if len(pairs) > TERMS_SHOWN else ()))))
    numbers = [(K.a[kk], X.a[xx]) for kk, xx in pairs]
    s.show(Chain(Sum(_terms(numbers)), "=", Value(_sum_of(numbers))))
    # as a matrix
    T = band2d(K, X.shape, stride, padding)
    s.say(Sentence("Read the image and the output as columns, their entries channel by channel and row "
                   "by row: vec({0}) has {1} entries, the output's {2}. The convolution is then one "
                   "matrix product {3}, where row (c, p, q) of {4} holds kernel c where window (p, q) "
                   "meets the input, and zeros elsewhere:",
                   (_sym(x), sp.Integer(X.size), sp.Integer(T.shape[0]),
                    Chain(TensorCall(r"\operatorname{vec}", "vec", (_sym("o"),)), "=",
                          MatProduct((TensorCall("T", "T", (_sym(k),)), TensorCall(r"\operatorname{vec}", "vec", (_sym(x),))))),
                    TensorCall("T", "T", (_sym(k),)))))
    nonzero = int(max(sum(1 for e in row if e != 0) for row in T.a))
    s.show(Chain(TensorCall("T", "T", (_sym(k),)), "=", MatrixValue.of(T)))
    s.say(Sentence(f"It is {T.shape[0]}×{T.shape[1]} with at most {nonzero} nonzero entries per row, "
                   f"so going back through it takes its transpose: {{0}}. Each input entry collects the "
                   f"gradient of every output whose window covers it, times the kernel entry that met it.",
                   (Chain(Partial(ex.output, x), "=", MatProduct((Transposed(TensorCall("T", "T", (_sym(k),))),
                                                                   Partial(ex.output, eq.name)))),)))
    # zoom in on one input entry: the one met by the most windows
    meets: dict = {}
    for cc in range(co):
        for pp in range(len(rows)):
            for qq in range(len(cols)):
                for kk, xx in met(cc, pp, qq):
                    meets.setdefault(xx, []).append(((cc, pp, qq), kk))
    if meets:
        xx, uses = max(meets.items(), key=lambda item: (len(item[1]), [-i for i in item[0]]))
        pairs = [(g.a[out], K.a[kk]) for out, kk in uses]
        s.show(Chain(_entry(x, xx, ex.output), "=",
                     Sum(tuple(Product((_entry(eq.name, out, ex.output), _entry(k, kk)))
                               for out, kk in uses[:TERMS_SHOWN]) + ((Dots(),) if len(uses) > TERMS_SHOWN else ()))))
        s.show(Chain(_entry(x, xx, ex.output), "=", Sum(_terms(pairs)), "=",
                     Value(d.gradients[x].a[xx])))
    # the kernel's gradient: a correlation
    s.say(Sentence("The kernel is shared by every window, so its gradient sums over the windows: entry "
                   "(c, i, a, b) is the output gradient of channel c correlated with input channel i, "
                   "{0}. For the first kernel entry:",
                   (Chain(Partial(ex.output, k), "=", TensorCall(r"\operatorname{corr}", "corr",
                                                                  (_sym(x), Partial(ex.output, eq.name)))),)))
    kk = (0, 0, 0, 0)
    uses = [((0, pp, qq), (0, rows[pp], cols[qq])) for pp in range(len(rows)) for qq in range(len(cols))
            if 0 <= rows[pp] < h and 0 <= cols[qq] < w]
    s.show(Chain(_entry(k, kk, ex.output), "=",
                 Sum(tuple(Product((_entry(eq.name, out, ex.output), _entry(x, xin))) for out, xin in uses[:TERMS_SHOWN])
                     + ((Dots(),) if len(uses) > TERMS_SHOWN else ()))))
    pairs = [(g.a[out], X.a[xin]) for out, xin in uses]
    s.show(Chain(_entry(k, kk, ex.output), "=", Sum(_terms(pairs)), "=",
                 Value(d.gradients[k].a[kk])))
    return s


def maxpool_section(ex, eq, call) -> Section | None:
    d = ex.matrix_derivation()
    site = ex.structure.site(call)
    x = call.args[0].id
    X = d.values[x]
    size = int(site.numbers[1])
    stride = int(site.numbers[2]) if len(site.numbers) > 2 and site.numbers[2] else size
    picks = pool_argmax(X, size, stride)
    g = d.gradients[eq.name]
    out_shape = d.values[eq.name].shape
    s = Section(f"The max-pooling {eq.name}: where the gradient goes")
    ties = 0
    rows = []
    fx = X.fixed()
    for j, (index, cell) in enumerate(zip(np.ndindex(*out_shape), picks)):
        c, r0, c0 = index[0], index[1] * stride, index[2] * stride
        window = [(c, r0 + a, c0 + b) for a in range(size) for b in range(size)]
        tie = sum(1 for other in window if fx[other] == fx[cell]) > 1
        ties += tie
        if len(rows) < 8 or tie and len(rows) < 12:
            rows.append([_entry(eq.name, index), _entry(x, cell), Value(X.a[cell]),
                         "yes" if tie else "", Value(g.a[index])])
    s.say(Sentence(f"Each output copies the largest entry of its {size}×{size} window (stride {stride}); "
                   f"at a tie the first one in row-major order (left to right, then down), as PyTorch "
                   f"does. Going back, each output's gradient returns to the entry it copied — {{0}}, "
                   f"with {{1}} selecting those entries — and every other entry of {{2}} gets 0:",
                   (Chain(Partial(ex.output, x), "=", MatProduct((Transposed(TensorCall("R", "R", (_sym(x),))),
                                                                   Partial(ex.output, eq.name)))),
                    TensorCall("R", "R", (_sym(x),)), _sym(x))))
    s.tabulate(["output", "copies", "value", "tie", f"gradient routed"], rows)
    total = int(np.prod(out_shape))
    if len(rows) < total:
        s.say(Sentence(f"(The first {len(rows)} of {total} windows.)"))
    s.say(Sentence(f"{ties} of the {total} windows have a tie at these values." if ties else
                   "No window has a tie at these values."))
    return s


def embedding_section(ex, eq, call) -> Section | None:
    d = ex.matrix_derivation()
    E, i = call.args[0].id, call.args[1].id
    picked = [int(v) for v in d.values[i].a.ravel()]
    grad = d.gradients[E]
    s = Section(f"The embedding {eq.name}: where the gradient lands")
    as_rows = ex.batch == "rows"
    s.say(Sentence("The lookup copies row i + 1 of {0} for class index i (0-based, as PyTorch), so "
                   + ("{1}" if as_rows else "{1} (its transpose, as columns)")
                   + ". Only the rows looked up take part: the gradient {2} is zero except in rows "
                   + ", ".join(str(r + 1) for r in sorted(set(picked)))
                   + ", each receiving the gradients of the examples that looked it up:",
                   (_sym(E), Chain(_sym(eq.name), "=", MatProduct((Transposed(TensorCall(
                       r"\operatorname{onehot}", "onehot", (_sym(i),))), _sym(E))) if as_rows else MatProduct(
                       (Transposed(_sym(E)), TensorCall(r"\operatorname{onehot}", "onehot", (_sym(i),))))),
                    Chain(Partial(ex.output, E), "=", MatProduct((TensorCall(r"\operatorname{onehot}", "onehot",
                                                                            (_sym(i),)),
                                                                  Partial(ex.output, eq.name) if as_rows else
                                                                  Transposed(Partial(ex.output, eq.name))))))))
    for r in sorted(set(picked))[:6]:
        s.show(Chain(Entry(E, r + 1, "*", ex.output), "=", MatrixValue.of(Tensor(grad.a[r:r + 1, :]))))
    return s


SECTIONS = {"conv2d": conv_section, "maxpool2d": maxpool_section, "embedding": embedding_section}


def layer_sections(ex) -> list:
    """The layers' sections of a tensor example with values, in the order of the lines."""
    if ex.symbolic:
        return []
    out = []
    for func, build in SECTIONS.items():
        for eq, call in _calls(ex, func):
            section = build(ex, eq, call)
            if section is not None:
                out.append((eq.line, section))
    return [s for _, s in sorted(out, key=lambda item: item[0])]


__all__ = ["layer_sections"]
