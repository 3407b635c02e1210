"""Sections of a tensor document for the layers of the language, from the example's numbers:
a convolution as a sum and as a matrix (vec(o) = T(k) vec(x), ∂L/∂x = T(k)ᵀ g, the kernel's
gradient a correlation of the input with g), each zoomed in on one entry; max-pooling's routing
(each window's gradient to its maximum, ties to the first as PyTorch) and average-pooling's
(shared by the window); an embedding's gradient landing in the rows of E that were looked up.

A listing too long to show whole keeps what is its point — every window, term or row that
carries a nonzero gradient, every tie — then the first others, and says which it shows
(``chosen``). The windows are the tensor table's, asked through ``derive.core.windows``."""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..core.derivation import Chain, Partial, Product, Sum, Value
from ..core.functions import Sentence
from ..core.matrixmath import Dots, Entry, MatProduct, MatrixValue, Scaled, TensorCall, Transposed
from ..core.parser import BinOp, Call, Name
from ..core.tensor import Tensor, band2d, pool_argmax
from ..core.windows import conv_taps, pool_windows
from ..rendering.blocks import Section
from .tensorwords import index_base

TERMS_SHOWN = 9  # terms of a zoomed-in sum written out; beyond, what carries gradient and ⋯
ROWS_SHOWN = 8  # rows of a routing table; beyond, what carries gradient or ties, then the first
EMBEDDING_ROWS_SHOWN = 6  # rows of ∂L/∂E shown, each a row of numbers
POINT_SHOWN = 24  # entries that are the point (a nonzero gradient, a tie) shown beyond the limit


def chosen(n: int, groups, limit: int, nouns: str) -> tuple[list[int], str]:
    """Which of ``n`` listed items to show, and the words saying which: every item of each group
    (the point of the listing: a nonzero gradient, a tie; up to POINT_SHOWN), then the first
    others up to ``limit``, in their order. ``groups`` are (phrase for one, for many, indices),
    e.g. ("that carries gradient", "that carry gradient", {2, 5}); a group holding every item
    singles nothing out and is passed over. The words are "" when every item is shown, else
    "8 of 16 windows: the 2 that carry gradient, the one with a tie, and 5 more"."""
    taken: set = set()
    claimed = []
    for one, many, members in groups:
        members = sorted(set(members))
        if len(members) == n:
            continue
        fresh = [i for i in members if i not in taken]
        kept = fresh[:max(POINT_SHOWN - len(taken), 0)]
        taken.update(kept)
        if len(fresh) < len(members):  # some are already listed for an earlier reason
            one, many = f"other {one}", f"others {many}"
        claimed.append((one, many, len(kept), len(fresh)))
    fill = [i for i in range(n) if i not in taken][:max(limit - len(taken), 0)]
    shown = sorted(taken | set(fill))
    if len(shown) == n:
        return shown, ""
    parts = [(f"{k} of the {of} {many}" if k < of else f"the one {one}" if k == 1 else f"the {k} {many}")
             for one, many, k, of in claimed if k]
    if not parts:
        return shown, f"The first {len(shown)} of {n} {nouns}."
    if fill:
        parts.append(f"{len(fill)} more")
    listed = " and ".join(parts) if len(parts) < 3 else ", ".join(parts[:-1]) + ", and " + parts[-1]
    return shown, f"{len(shown)} of {n} {nouns}: {listed}."


def _gapped(shown: list[int], n: int, term) -> tuple:
    """The terms ``term(i)`` of the shown items with ⋯ wherever items are left out."""
    out, last = [], -1
    for i in shown:
        if i > last + 1:
            out.append(Dots())
        out.append(term(i))
        last = i
    return tuple(out) + ((Dots(),) if last < n - 1 else ())


def _zoom(s, lead: tuple, pairs: list, result, carries) -> None:
    """A zoomed-in sum ``lead`` Σ a·b, written with names and then with numbers: ``pairs`` holds
    (name a, name b, number a, number b) per term; the terms in ``carries`` (those whose gradient
    factor is not 0; None for a forward sum, whose first terms are shown) always appear, then the
    first others up to TERMS_SHOWN, ⋯ where terms are left out, and a sentence saying which are
    shown — and that the ones left out are 0 when they are, so the shown numbers give the result."""
    n = len(pairs)
    groups = [] if carries is None else [("that carries gradient", "that carry gradient", carries)]
    shown, words = chosen(n, groups, TERMS_SHOWN, "terms")
    s.show(Chain(*lead, Sum(_gapped(shown, n, lambda i: Product(pairs[i][:2])))))
    s.show(Chain(*lead, Sum(_gapped(shown, n, lambda i: Product((Value(pairs[i][2]), Value(pairs[i][3]))))),
                 "=", Value(result)))
    if words:
        zero = all(pairs[i][2] * pairs[i][3] == 0 for i in set(range(n)) - set(shown))
        s.say(Sentence(f"({words[:-1]}{'; every term left out is 0' if zero else ''}.)"))


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
                    isinstance(a, Name) for a in node.args[:1 if func in ("maxpool2d", "avgpool2d") else 2]):
                yield eq, node


def _index(*i, base: int = 1) -> tuple:
    return tuple(v + base for v in i)


def _entry(name, index, of="", base: int = 1):
    """Entry ``index`` (0-based positions) of ``name`` as the document numbers it: from ``base``."""
    index = _index(*index, base=base)
    return Entry(name, index[0], index[1], of, index[2:])


def _window_index(out: str, offset: str, stride: int, padding: int, base: int = 1) -> str:
    """The input row (or column) a kernel entry meets: s·(p − 1) + a − padding when indices
    count from 1, s·p + a − padding when they count from 0."""
    if base == 0:
        start = out if stride == 1 else f"{stride}{out}"
    else:
        start = out + "-1" if stride == 1 else f"{stride}({out}-1)"
    return f"{start}+{offset}" + (f"-{padding}" if padding else "")


def _sum_of(products):
    from ..core.engine import compact
    return compact("Σ", sp.Add(*products))


def _at(flat: int, shape: tuple) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _carrying(G) -> set:
    """The flat positions where the gradient ``G`` is not 0."""
    return {j for j, v in enumerate(G.a.ravel()) if v != 0}


def conv_section(ex, eq, call) -> Section | None:
    d = ex.matrix_derivation()
    site = ex.structure.site(call)
    x, k = call.args[0].id, call.args[1].id
    X, K = d.values[x], d.values[k]
    stride = site.numbers[2] if len(site.numbers) > 2 else 1
    padding = site.numbers[3] if len(site.numbers) > 3 else 0
    stride, padding = int(stride), int(padding)
    co, ci, kh, kw = K.shape
    base = index_base(ex)  # entries numbered from 1, or from 0 under index_base: 0
    # which inputs each output meets, with which kernel entry: the table's conv2d, asked
    out_shape, taps = conv_taps("conv2d", X.shape, K.shape, stride, padding)
    g = d.gradients[eq.name]
    carries = _carrying(g)
    s = Section(f"The convolution {eq.name}, as a sum and as a matrix")
    s.say(Sentence(f"Each output entry sums a kernel's entries times the inputs its window covers: "
                   f"over the {ci} input channel(s) and the {kh}×{kw} window, the window moved by the "
                   f"stride {stride} and the input padded with {padding} zero(s) on each side "
                   f"(a padded entry adds nothing; indices from {base}):"))
    row, col = (_window_index(o, a, stride, padding, base) for o, a in (("p", "a"), ("q", "b")))
    s.show(Chain(Entry(eq.name if call is eq.tree else "conv", "c", "p", "", ("q",)), "=", TensorCall(
        r"\sum_{i,a,b}", "Σ_(i,a,b)", (Product((Entry(k, "c", "i", "", ("a", "b")),
                                                 Entry(x, "i", row, "", (col,)))),))))
    # as a sum: the output entry of the first channel whose window meets the most inputs
    j = max(range(int(np.prod(out_shape[1:]))), key=lambda j: len(taps[j]))
    _, p, q = _at(j, out_shape)
    s.say(Sentence(f"For output channel {base} at position ({p + base}, {q + base})"
                   + (", before what is added to the convolution:" if call is not eq.tree else ":")))
    pairs = [(_entry(k, _at(m, K.shape), base=base), _entry(x, _at(i, X.shape), base=base),
              K.a.ravel()[m], X.a.ravel()[i]) for m, i in taps[j]]
    _zoom(s, (), pairs, _sum_of([a * b for *_, a, b in pairs]), None)  # a forward sum: the first terms
    # the outputs that carry gradient, and the windows they send it back through
    _windows_table(s, eq.name, x, ex.output, g, out_shape, taps, X.shape, base)
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
    # zoom in on one input entry: among those the gradient reaches, the one it reaches from the
    # most outputs (then the one met by the most windows)
    meets: dict = {}
    for out, met in enumerate(taps):
        for m, i in met:
            meets.setdefault(i, []).append((out, m))
    if meets:
        i, uses = max(meets.items(), key=lambda item: (sum(out in carries for out, _ in item[1]),
                                                        len(item[1]), -item[0]))
        pairs = [(_entry(eq.name, _at(out, out_shape), ex.output, base=base),
                  _entry(k, _at(m, K.shape), base=base), g.a.ravel()[out], K.a.ravel()[m]) for out, m in uses]
        _zoom(s, (_entry(x, _at(i, X.shape), ex.output, base=base), "="), pairs, d.gradients[x].a.ravel()[i],
              {t for t, (out, _) in enumerate(uses) if out in carries})
    # the kernel's gradient, a correlation: the first kernel entry whose gradient is not 0 (the
    # first one when none is)
    dk = d.gradients[k].a.ravel()
    m = next((m for m in range(K.size) if dk[m] != 0), 0)
    s.say(Sentence("The kernel is shared by every window, so its gradient sums over the windows: entry "
                   "(c, i, a, b) is the output gradient of channel c correlated with input channel i, "
                   "{0}. " + ("For the first kernel entry:" if m == 0 else
                             "For {1}, the first kernel entry whose gradient is not 0:"),
                   (Chain(Partial(ex.output, k), "=", TensorCall(r"\operatorname{corr}", "corr",
                                                                  (_sym(x), Partial(ex.output, eq.name)))),
                    _entry(k, _at(m, K.shape), base=base))))
    uses = [(out, i) for out, met in enumerate(taps) for mm, i in met if mm == m]
    pairs = [(_entry(eq.name, _at(out, out_shape), ex.output, base=base),
              _entry(x, _at(i, X.shape), base=base), g.a.ravel()[out], X.a.ravel()[i]) for out, i in uses]
    _zoom(s, (_entry(k, _at(m, K.shape), ex.output, base=base), "="), pairs, dk[m],
          {t for t, (out, _) in enumerate(uses) if out in carries})
    return s


def _windows_table(s, out_name: str, x: str, loss: str, g, out_shape: tuple, taps: list, x_shape: tuple,
                   base: int = 1):
    """The outputs of a convolution that carry gradient, each with the block of inputs its window
    covers (channels, rows, columns, within the image) — where ∂L/∂x can be nonzero; entries
    numbered from ``base``."""
    n = len(taps)
    shown, words = chosen(n, [("that carries gradient", "that carry gradient", _carrying(g))], ROWS_SHOWN,
                          "windows")
    rows = []
    for j in shown:
        cells = np.array([_at(i, x_shape) for _, i in taps[j]])  # its block: first and last corner
        first, last = tuple(int(v) for v in cells.min(axis=0)), tuple(int(v) for v in cells.max(axis=0))
        rows.append([_entry(out_name, _at(j, out_shape), base=base), Value(g.a.ravel()[j]),
                     Sentence("{0} to {1}", (_entry(x, first, base=base), _entry(x, last, base=base)))])
    s.say(Sentence("Going back, each output's gradient reaches the inputs of its window (the padding "
                   "takes none):"))
    s.tabulate(["output", Sentence("{0}", (Partial(loss, out_name),)), "window in the input"], rows)
    _say_shown(s, words, g, shown)


def _say_shown(s, words: str, g, shown: list) -> None:
    """The sentence saying which windows a listing shows — and that every one left out carries no
    gradient, when so."""
    if not words:
        return
    left = set(range(g.size)) - set(shown)
    zero = all(g.a.ravel()[j] == 0 for j in left)
    s.say(Sentence(f"({words[:-1]}; every other output's gradient is 0.)" if zero else f"({words})"))


def _pool(ex, call):
    """(input name, its value, window size, stride, the output shape and each output's window as
    flat input positions — the table's pool, asked) of a pooling call."""
    d = ex.matrix_derivation()
    site = ex.structure.site(call)
    x = call.args[0].id
    X = d.values[x]
    size = int(site.numbers[1])
    stride = int(site.numbers[2]) if len(site.numbers) > 2 and site.numbers[2] else size
    out_shape, windows = pool_windows(X.shape, size, stride)
    return x, X, size, stride, out_shape, windows


def maxpool_section(ex, eq, call) -> Section | None:
    d = ex.matrix_derivation()
    x, X, size, stride, out_shape, windows = _pool(ex, call)
    picks = pool_argmax(X, size, stride)  # the table's routing: each window's first maximum
    base = index_base(ex)
    g = d.gradients[eq.name]
    fx = X.fixed()
    tied = {j for j, (cells, cell) in enumerate(zip(windows, picks))
            if sum(1 for other in cells if fx.ravel()[other] == fx[cell]) > 1}
    s = Section(f"The max-pooling {eq.name}: where the gradient goes")
    s.say(Sentence(f"Each output copies the largest entry of its {size}×{size} window (stride {stride}); "
                   f"at a tie the first one in row-major order (left to right, then down), as PyTorch "
                   f"does. Going back, each output's gradient returns to the entry it copied — {{0}}, "
                   f"with {{1}} selecting those entries — and every other entry of {{2}} gets 0:",
                   (Chain(Partial(ex.output, x), "=", MatProduct((Transposed(TensorCall("R", "R", (_sym(x),))),
                                                                   Partial(ex.output, eq.name)))),
                    TensorCall("R", "R", (_sym(x),)), _sym(x))))
    total = len(windows)
    shown, words = chosen(total, [("that carries gradient", "that carry gradient", _carrying(g)),
                                  ("with a tie", "with a tie", tied)], ROWS_SHOWN, "windows")
    rows = [[_entry(eq.name, _at(j, out_shape), base=base), _entry(x, picks[j], base=base),
             Value(X.a[picks[j]]), "yes" if j in tied else "", Value(g.a.ravel()[j])] for j in shown]
    s.tabulate(["output", "copies", "value", "tie", "gradient routed"], rows)
    _say_shown(s, words, g, shown)
    ties = len(tied)
    s.say(Sentence(f"{ties} of the {total} windows {'has' if ties == 1 else 'have'} a tie at these values."
                   if ties else "No window has a tie at these values."))
    return s


def avgpool_section(ex, eq, call) -> Section | None:
    d = ex.matrix_derivation()
    x, X, size, stride, out_shape, windows = _pool(ex, call)
    g = d.gradients[eq.name]
    n = sp.Integer(size * size)
    base = index_base(ex)
    s = Section(f"The average-pooling {eq.name}: where the gradient goes")
    s.say(Sentence(f"Each output is the mean of the {n} entries of its {size}×{size} window (stride "
                   f"{stride}). Going back, each output's gradient is shared equally by its window — "
                   f"{{0}}, where {{1}} copies each output's gradient onto its window (summed where "
                   f"windows overlap); every entry no window covers gets 0:",
                   (Chain(Partial(ex.output, x), "=", Scaled(TensorCall(
                       r"\operatorname{up}", "up", (Partial(ex.output, eq.name),)), n)),
                    TensorCall(r"\operatorname{up}", "up", (Partial(ex.output, eq.name),)))))
    shown, words = chosen(len(windows), [("that carries gradient", "that carry gradient", _carrying(g))],
                          ROWS_SHOWN, "windows")
    rows = []
    for j in shown:
        cells = [_at(i, X.shape) for i in windows[j]]
        rows.append([_entry(eq.name, _at(j, out_shape), base=base),
                     Sentence("{0} to {1}", (_entry(x, cells[0], base=base), _entry(x, cells[-1], base=base))),
                     Value(g.a.ravel()[j]), Value(g.a.ravel()[j] / n)])
    s.tabulate(["output", "window", "gradient", "each entry of the window gets"], rows)
    _say_shown(s, words, g, shown)
    return s


def embedding_section(ex, eq, call) -> Section | None:
    d = ex.matrix_derivation()
    E, i = call.args[0].id, call.args[1].id
    picked = [int(v) for v in d.values[i].a.ravel()]
    grad = d.gradients[E]
    base = index_base(ex)  # rows of E numbered from 1, or from 0 (as the class indices) under index_base: 0
    s = Section(f"The embedding {eq.name}: where the gradient lands")
    as_rows = ex.batch == "rows"
    row = "row i + 1" if base == 1 else "row i"
    s.say(Sentence(f"The lookup copies {row} of {{0}} for class index i (0-based, as PyTorch), so "
                   + ("{1}" if as_rows else "{1} (its transpose, as columns)")
                   + ". Only the rows looked up take part: the gradient {2} is zero except in rows "
                   + ", ".join(str(r + base) for r in sorted(set(picked)))
                   + ", each receiving the gradients of the examples that looked it up:",
                   (_sym(E), Chain(_sym(eq.name), "=", MatProduct((Transposed(TensorCall(
                       r"\operatorname{onehot}", "onehot", (_sym(i),))), _sym(E))) if as_rows else MatProduct(
                       (Transposed(_sym(E)), TensorCall(r"\operatorname{onehot}", "onehot", (_sym(i),))))),
                    Chain(Partial(ex.output, E), "=", MatProduct((TensorCall(r"\operatorname{onehot}", "onehot",
                                                                            (_sym(i),)),
                                                                  Partial(ex.output, eq.name) if as_rows else
                                                                  Transposed(Partial(ex.output, eq.name))))))))
    looked = sorted(set(picked))
    carries = {t for t, r in enumerate(looked) if any(v != 0 for v in grad.a[r])}
    shown, words = chosen(len(looked), [("that carries gradient", "that carry gradient", carries)],
                          EMBEDDING_ROWS_SHOWN, "rows looked up")
    for t in shown:
        r = looked[t]
        s.show(Chain(Entry(E, r + base, "*", ex.output), "=", MatrixValue.of(Tensor(grad.a[r:r + 1, :]))))
    if words:
        zero = carries <= set(shown)  # the rows left out take no gradient
        s.say(Sentence(f"({words[:-1]}; every other row's gradient is 0.)" if zero else f"({words})"))
    return s


SECTIONS = {"conv2d": conv_section, "maxpool2d": maxpool_section, "avgpool2d": avgpool_section,
            "embedding": embedding_section}


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
