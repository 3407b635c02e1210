"""Softmax and cross-entropy defined where a tensor document uses them, and the cross-entropy's
batch mean written out with its numbers: L = −⅓(log 0.06066 + log 0.3794 + log 0.1307) ≈ 1.935,
a line a student can redo from the probabilities printed above it."""
from __future__ import annotations

import re

import sympy as sp

from ..core.derivation import Chain, Subst
from ..core.functions import Sentence
from ..core.notation import Indexed, SumOver
from ..core.parser import Call, Name
from ..core.tensor import axis_of, class_axis

MAX_TERMS = 6  # a longer batch mean is stated, not written out term by term


def _calls(ex, func: str) -> list:
    return [eq for eq in ex.graph.equations if isinstance(eq.tree, Call) and eq.tree.func == func]


def index_base(ex) -> int:
    """Where the document's entries and examples are numbered from: 0 under the notation preset
    ``index_base: 0``, else 1. A class index counts from 0 in either (PyTorch's targets)."""
    return 0 if (getattr(ex, "notation", None) or {}).get("index_base") == 0 else 1


_LAYER_ONE = re.compile(r"^([A-Za-z]+)1$")


def _first_layer_input(ex):
    """(a1's letter "a", the input x) when the lines are layers numbered from 1, the first
    ``a1 = f(z1)`` of a ``z1`` made from one given input x (and parameters); else None."""
    from ..core.functions import FUNCTIONS
    from ..core.tensor import TENSOR_FUNCTIONS
    for eq in ex.graph.equations:
        tree, m = eq.tree, _LAYER_ONE.match(eq.name)
        if not (m and isinstance(tree, Call) and tree.args and isinstance(tree.args[0], Name)):
            continue
        spec = TENSOR_FUNCTIONS.get(tree.func)
        if not (tree.func in FUNCTIONS and FUNCTIONS[tree.func].kind == "activation"
                or spec is not None and getattr(spec, "layer", False)):
            continue
        made = ex.graph.by_name.get(tree.args[0].id)
        if made is None or not _LAYER_ONE.match(made.name):
            return None
        given = [n for n in _names(made.tree) if n in ex.inputs and n not in ex.params
                 and not ex.is_index(n) and not any(a[0] == n for k, a in ex.aliases.items() if k in ex.params)]
        given = list(dict.fromkeys(given))
        return (m.group(1), given[0]) if len(given) == 1 else None
    return None


def _names(tree) -> list:
    from ..core.tensor import operands
    if isinstance(tree, Name):
        return [tree.id]
    return [n for c in operands(tree) for n in _names(c)]


def counting_sentence(ex) -> Sentence | None:
    """Under ``index_base: 0``, how the document counts: entries from 0, and — when the lines
    are layers z1, a1, … — the layers from 1 with the input as layer 0, a0 = x (the 0-based
    convention). None under the default base (entries from 1, as the document always says)."""
    if index_base(ex) != 0:
        return None
    text = ("Entries are numbered from 0: entry (0, 0) of a matrix is its first row and first "
            "column, and entry 0 of a vector its first entry.")
    layered = _first_layer_input(ex)
    if layered is None:
        return Sentence(text)
    letter, x = layered
    return Sentence(text + " The layers count from 1, the input being layer 0: {0}.",
                    (Chain(sp.Symbol(f"{letter}0"), "=", sp.Symbol(x)),))


def _class_indices(ex, eq) -> bool:
    """True when the cross-entropy ``eq``'s target holds class indices (not one-hot rows)."""
    y = eq.tree.args[1]
    return isinstance(y, Name) and ex.is_index(y.id)


def add_definitions(ex, s) -> None:
    """The softmax and cross-entropy of ``ex`` defined (one each), each a sentence and its
    display, in the section ``s`` that lists the computation. Entries and examples are
    numbered from the document's index base; a class index y counts from 0 (as in PyTorch),
    so with entries numbered from 1 the class's probability is entry y + 1, and it is written
    so: −log p_{y+1}."""
    j, i, k, b = sp.symbols("j i k b")
    z = sp.Symbol("z")
    base = index_base(ex)
    last = k if base == 1 else k - 1
    for eq in (_calls(ex, "softmax") + _calls(ex, "log_softmax"))[:1]:
        arg = eq.tree.args[0]
        line = (Chain(sp.Symbol(eq.name), "=", sp.Function(eq.tree.func)(sp.Symbol(arg.id))),) \
            if isinstance(arg, Name) else ()
        unit = "row" if axis_of(ex.structure.site(eq.tree)) == 1 else "column"
        s.say(Sentence(f"The softmax turns each {unit} of scores into probabilities that sum to 1"
                       + (" (here {0})" if line else "") + ":", line))
        s.show(Chain(Indexed(sp.Function("softmax")(z), i), "=",
                     sp.exp(Indexed(z, i)) / SumOver(sp.exp(Indexed(z, j)), j, base, last)))
    for eq in _calls(ex, "cross_entropy")[:1]:
        rows = _rows(ex, eq)
        batch = _batch(ex, eq)
        p, y = sp.Symbol("p"), sp.Symbol("y")
        names = tuple(Chain(generic, "=", sp.Symbol(a.id)) for generic, a in zip((p, y), eq.tree.args)
                      if isinstance(a, Name) and a.id != generic.name)  # the lines' own names
        given = (" (here " + " and ".join(f"{{{n + 3}}}" for n in range(len(names))) + ")") if names else ""
        indices = _class_indices(ex, eq)
        # the class's entry of p: y itself when entries count from 0 as class indices do, y + 1
        # when they count from 1 (one-hot targets name no number: their class is the 1 entry)
        shift = 1 if indices and base == 1 else 0
        counted = (":" if not indices else
                   ". The class index {1} counts from 0, as in PyTorch, so the probability of "
                   "class {1} is entry {1} + 1 of {0}:" if shift else
                   ". The class index {1} counts from 0, as the entries of {0} do:")
        if batch == 1:
            s.say(Sentence("The cross-entropy" + given + " is the negative log of the probability "
                           "{0} gives the example's class {1}" + counted, (p, y, b, *names)))
            s.show(Chain(sp.Symbol(eq.name), "=", -sp.log(Indexed(p, y + shift))))
            continue
        s.say(Sentence("The cross-entropy" + given + " is the mean, over the examples {2} of the "
                       "batch, of the negative log of the probability {0} gives each example's "
                       "class {1}" + counted, (p, Indexed(y, b), b, *names)))
        # p_{b,y_b} when the examples are the rows, p_{y_b,b} when they are the columns
        cls = Indexed(y, b) + shift
        term = sp.log(Indexed(p, sp.Tuple(b, cls) if rows else sp.Tuple(cls, b)))
        s.show(Chain(sp.Symbol(eq.name), "=", sp.Mul(sp.Rational(-1, batch),
                                                     SumOver(term, b, base, batch - 1 + base),
                                                     evaluate=False)))


def _rows(ex, eq) -> bool:
    """True when the cross-entropy ``eq`` reads its classes along each row (examples are rows)."""
    return class_axis(ex.structure.site(eq.tree)) == 1


def _batch(ex, eq) -> int:
    """The number of examples the cross-entropy ``eq`` averages over: p's rows under
    ``batch: rows``, its columns otherwise."""
    shape = ex.shape(eq.tree.args[0].id) if isinstance(eq.tree.args[0], Name) else ()
    if shape == () or len(shape) == 1:
        return 1
    return shape[0] if _rows(ex, eq) else shape[1]


def written_mean(ex, eq, values):
    """The cross-entropy line ``eq`` written out with the probabilities of the targets' classes,
    as a substitution (printed, not evaluated): −⅓(log p₁ + log p₂ + log p₃); None when the
    line is not a cross-entropy of named operands or the batch is too long to write out."""
    from ..core.tensor import Where, targets
    tree = eq.tree
    if not (isinstance(tree, Call) and tree.func == "cross_entropy" and len(tree.args) == 2
            and all(isinstance(a, Name) for a in tree.args)):
        return None
    P, Y = values[tree.args[0].id], values[tree.args[1].id]
    rows = _rows(ex, eq)
    try:
        onehot = targets(P, Y, Where(None), rows=rows)
    except Exception:  # a shape the document states elsewhere; no line to write out
        return None
    if P.scalar:
        return None
    batch = _batch(ex, eq)
    k = P.a.shape[1] if rows else P.a.shape[0]
    terms, shown = [], []
    for example in range(batch):  # in the order of the examples, each one's target classes
        for cls in range(k):
            row, col = (example, cls) if rows else (cls, example)
            y = onehot.a[row, col]
            if y == 0:
                continue
            s = sp.Symbol(f"p_{row}_{col}")
            shown.append((s, P.a[row, col]))
            terms.append(sp.log(s) if y == 1 else sp.Mul(y, sp.log(s), evaluate=False))
    if not terms or len(terms) > MAX_TERMS:
        return None
    total = terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)
    expr = sp.Mul(sp.Rational(-1, batch), total, evaluate=False) if batch != 1 else sp.Mul(-1, total, evaluate=False)
    return Subst(expr, tuple(shown))


__all__ = ["add_definitions", "counting_sentence", "index_base", "written_mean"]
