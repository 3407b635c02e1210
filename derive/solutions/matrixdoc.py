"""The worked solution of a tensor example, in matrix form: every step as formula → shapes →
numbers. The forward pass shows each line with its matrices; the backward pass writes each
gradient with the rule a lecturer uses — ∂L/∂W = δ aᵀ, ∂L/∂a = Wᵀ δ, the ReLU mask ⊙ 𝟙[z > 0],
a broadcast bias summed over the batch, softmax with cross-entropy as δ = p − y — and then its
numbers (large matrices elided to their corners, with the shape). A chosen entry (``focus``, e.g.
``W1[2,1]`` or ``w1_2_1``) is then derived in scalar form, as a sum over the batch.
"""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import sympy as sp

from ..core.derivation import Chain, Partial, Prime, Product, Row, Sum, Total, Value
from ..core.errors import DeriveError
from ..core.functions import FUNCTIONS, Indicator, Sentence
from ..core.matrixmath import (MAX_SHOWN, BatchSum, Dots, Entry, Hadamard, MatProduct, MatrixValue, Scaled,
                               ShapeOf, TensorCall, Transposed, Updated)
from ..core.notation import Ones
from ..core.staging import StagedEquation
from ..core.tensor import (TENSOR_FUNCTIONS, NoRule, Tensor, axis_of, class_axis, display, fused_rule_of,
                           operands, rule_of)
from ..core.parser import BinOp, Call, Name, Neg, Transpose
from ..rendering.arithmetic import Carried
from ..rendering.blocks import Content, Section
from .steps import CROSSCHECK_NOTE, notebook_checks
from .tensorwords import add_definitions, counting_sentence, index_base, written_mean

# How a tensor document's numbers were obtained: a remark for the lecturer (``--notes``)
TENSOR_NOTE = Sentence("Every entry is computed exactly (fractions, and closed forms such as {0}) "
                       "and rounded only where it is shown. Each backward step is its operation's "
                       "rule from one table of tensor operations (the vector–Jacobian product): the "
                       "rule printed is the rule the numbers under it were evaluated with, entry by "
                       "entry.", (sp.exp(sp.Rational(39, 10)),))

ONES = Ones()
_FOCUS = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[(\d+),\s*(\d+)\]$")


class _NoRule(Exception):
    """The form has no hand-written matrix rule; the gradient is shown by its numbers only."""


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def _side_by_side(names, values, columns: int = 8, most: int = 3) -> list[list[str]]:
    """Inputs grouped to share a line: at most ``most`` of them and ``columns`` matrix columns
    in all (a page holds about that many numbers side by side), in the given order."""
    groups: list[list[str]] = []
    width = 0
    for name in names:
        t = values[name]
        cols = 1 if t.scalar else min(t.a.shape[1], MAX_SHOWN) if t.a.ndim == 2 else columns + 1
        if groups and len(groups[-1]) < most and width + cols <= columns:
            groups[-1].append(name)
            width += cols
        else:
            groups.append([name])
            width = cols
    return groups


def _shown(t, extra: dict | None = None, precision: int = 4):
    """A tensor's numbers as a math object: a matrix, or a plain value for a scalar; ``extra``:
    {entry index: digits beyond the document's} that a later line, redone from these numbers,
    needs."""
    extra = extra or {}
    if t.scalar:
        return Value(t.item(), precision + extra[()]) if extra.get(()) else Value(t.item())
    m = MatrixValue.of(t)
    if extra and t.a.ndim == 2 and max(t.a.shape) <= MAX_SHOWN:  # shown whole: entry (i, j) is row i, column j
        m = replace(m, rows=tuple(tuple(Carried(e, extra[(i, j)]) if extra.get((i, j)) else e
                                        for j, e in enumerate(row)) for i, row in enumerate(m.rows)))
    return m


# --- arithmetic a student can redo: the digits each printed matrix needs -------------------------


def _bound(f):
    """A rule formula with each ∂L/∂n (a ``Partial``) as a symbol, so that ``evaluate_formula``
    computes it from bound tensors."""
    if isinstance(f, Partial):
        return sp.Symbol(f"∂{f.wrt}", real=True)
    if isinstance(f, tuple):
        return tuple(_bound(x) for x in f)
    if isinstance(f, sp.Basic) or not hasattr(f, "__dataclass_fields__"):
        return f
    return replace(f, **{name: _bound(getattr(f, name)) for name in f.__dataclass_fields__})


def _symbols_of(f) -> set:
    if isinstance(f, sp.Basic):
        return set(f.free_symbols)
    if isinstance(f, tuple):
        return set().union(set(), *(_symbols_of(x) for x in f))
    if hasattr(f, "__dataclass_fields__"):
        return set().union(set(), *(_symbols_of(getattr(f, n)) for n in f.__dataclass_fields__))
    return set()


def _identity(symbol: sp.Symbol):
    """The printed matrix a formula's symbol reads: ("grad", n) for ∂n, else ("value", n)."""
    name = symbol.name
    return ("grad", name[1:]) if name.startswith("∂") else ("value", name)


def _printed_lines(ex, values, grads) -> tuple[dict, list]:
    """({identity: exact tensor} of every matrix the document prints, [(result identity,
    formula)] of every line that computes one from others): the forward lines, the backward
    rules, the updates."""
    printed = {("value", n): values[n] for n in ex.inputs}
    lines = []
    for eq in ex.graph.equations:
        printed[("value", eq.name)] = values[eq.name]
        lines.append((("value", eq.name), display(eq.tree, _shape_reader(ex))))
    for name, g in grads.items():
        if ex.is_index(name):
            continue
        printed[("grad", name)] = g
        try:
            formula = gradient_formula(ex, name)
        except (DeriveError, NoRule, _NoRule, KeyError, ValueError, TypeError):
            formula = None
        if formula is not None:
            lines.append((("grad", name), formula))
    if ex.lr is not None:
        for name in _param_tensors(ex):
            printed[("new", name)] = _update(ex, name)
            lines.append((("new", name), Sum((_sym(name), Product((-_sym("eta"), Partial(ex.output, name)))))))
    return printed, lines


def _evaluate(bound, env: dict, shape: tuple):
    """A printed line's rule at bound tensors: the reverse sweep's ``evaluate_formula``, and the
    forward pass's Σ(u) and mean(u) of a loss (sums of printed entries, too)."""
    from ..core.tensor import evaluate_formula, scalar
    if isinstance(bound, TensorCall) and bound.text in ("Σ", "mean") and len(bound.args) == 1:
        entries = list(evaluate_formula(bound.args[0], env, None).a.ravel())
        total = sum(entries, sp.S.Zero)
        return scalar(total / len(entries) if bound.text == "mean" else total)
    return evaluate_formula(bound, env, shape)


def _name_beyond(s: Section, beyond: set, identity: tuple, label, base: int = 1):
    """After a line, the entries its printed operands give only with more digits than shown
    (numbered from ``base``, the document's index base)."""
    indices = sorted(index for who, index in beyond if who == identity)
    if not indices:
        return
    where = ("entr" + ("y " if len(indices) == 1 else "ies ")
             + ", ".join(f"({i + base}, {j + base})" for i, j in indices) + " of {0}") if indices[0] else "{0}"
    s.say(Sentence(f"Here {where} {'follows' if len(indices) == 1 else 'follow'} from the numbers above "
                   "only with more digits than are shown: each is the unrounded value, rounded.", (label,)))


def _through_forward(lines) -> list:
    """[(result, rule)] of each backward rule that applies an activation the forward pass printed
    (1 − tanh²(z1) with a1 = tanh(z1) above), with that activation read off the page instead:
    1 − a1², as a student redoes the line from the printed a1."""
    forward = {str(f): _sym(r[1]) for r, f in lines if r[0] == "value" and isinstance(f, sp.Function)
               and len(f.args) == 1 and f.args[0].is_Symbol}
    out = []
    for r, f in lines:
        if r[0] != "grad":
            continue
        bound = _bound(f)
        read = _sympy_mapped(bound, lambda e: e.replace(lambda x: isinstance(x, sp.Function) and str(x) in forward,
                                                        lambda x: forward[str(x)]))
        if read != bound:
            out.append((r, read))
    return out


def _sympy_mapped(f, change):
    """``f`` (a rule: SymPy inside matrix-rule dataclasses) with ``change`` applied to its SymPy parts."""
    if isinstance(f, sp.Basic):
        return change(f)
    if isinstance(f, tuple):
        return tuple(_sympy_mapped(x, change) for x in f)
    if not hasattr(f, "__dataclass_fields__"):
        return f
    return replace(f, **{name: _sympy_mapped(getattr(f, name), change) for name in f.__dataclass_fields__})


def _redoable(t) -> bool:
    """Every entry on the page: a number or a matrix shown whole."""
    return t.scalar or (t.a.ndim == 2 and max(t.a.shape) <= MAX_SHOWN)


# extra digits an entry may take for the lines reading it; beyond, the entry is named (40 random
# nets: 18 entries named in 12 documents; with 2 digits, 51)
MATRIX_CARRY = 3


def matrix_carries(ex, values, grads, precision: int) -> tuple[dict, set]:
    """Extra digits per printed entry, {(identity, (i, j)): carry}, so that every line computing
    a matrix from matrices printed before it (W x + b, ∂L/∂z xᵀ, the bias gradient's column sums,
    the update W − η·∂L/∂W, an entrywise product, Σ and mean) gives each printed entry from the
    printed entries, to the digits printed. The digits are one number per printed matrix: every
    entry of a matrix carries as many as the entry that needs the most (a vector printed
    [−0.9548; 0.95483] would read as two kinds of number). The line's own rule
    (``evaluate_formula``, the rule the reverse sweep evaluates) is evaluated once at symbols
    standing for the operands' entries: each result entry is then a formula of the entries it
    depends on, redone at the numbers as printed; an entry that does not redo gets one more
    digit in the one operand matrix that mends it, or else in its least precise ones. Returns
    the carries and the result entries that MATRIX_CARRY digits do not mend (a sum of nearly
    equal numbers of opposite signs, mostly), which the document names instead of printing ten
    digits everywhere upstream."""
    from ..core.numbers import format_number
    from ..core.tensor import from_entries, scalar
    from ..rendering.arithmetic import reproduces, shown as read
    printed, lines = _printed_lines(ex, values, grads)
    eta = _sym("eta")
    level: dict = {}  # identity -> the extra digits of every entry of that printed matrix

    def entries(t) -> dict:
        return {(): t.item()} if t.scalar else {index: t.a[index] for index in np.ndindex(*t.a.shape)}

    def on_page(cell):
        identity, index = cell
        t, extra = printed[identity], level.get(identity, 0)
        number = t.item() if t.scalar else t.a[index]
        # a carried entry prints a short fraction as one (1/6, not 0.1666667), as scalar lines do
        n = read(number, precision + extra, fractions=bool(extra) and not t.scalar)
        return None if n is None else sp.Rational(n.numerator, n.denominator)

    def tensor(identity, number_of):
        t = printed[identity]
        if ex.is_index(identity[1]) or t.scalar and number_of(identity, ()) is None:
            return t  # class indices: whole numbers, read as they are
        numbers = {index: number_of(identity, index) for index in entries(t)}
        if any(n is None for n in numbers.values()):
            return None
        return scalar(numbers[()]) if t.scalar else from_entries(list(numbers.values()), t.a.shape)

    def redo(relation, number_of=lambda identity, index: on_page((identity, index))):
        """The result's entries computed from the operands as printed (None: not redone)."""
        result, operands, bound = relation
        env = {eta: scalar(ex.lr)} if ex.lr is not None else {}
        for o in operands:
            t = tensor(o, number_of)
            if t is None:
                return None
            env[_sym(("∂" if o[0] == "grad" else "") + o[1])] = t
        target = printed[result]
        try:
            x = _evaluate(bound, env, () if target.scalar else target.a.shape)
        except Exception:  # noqa: BLE001 — a rule with no arithmetic to redo here (softmax, CE)
            return None
        got = list(entries(x).values())
        return dict(zip(entries(target), got)) if len(got) == len(entries(target)) else None

    relations = []  # (result, operands, rule, {result entry: the operand matrices it depends on})
    tiny = sp.Rational(1, 10 ** 40)
    for result, bound in [(r, _bound(f)) for r, f in lines] + _through_forward(lines):
        operands = sorted(_identity(x) for x in _symbols_of(bound) if x != eta)
        if any(o not in printed for o in operands) or not all(_redoable(printed[o]) for o in operands + [result]):
            continue
        relation = (result, operands, bound)
        exact_number = lambda identity, index: printed[identity].item() if printed[identity].scalar \
            else printed[identity].a[index]  # noqa: E731
        base = redo(relation, exact_number)
        if base is None:
            continue
        deps = {index: [] for index in base}
        for o in operands:  # which result entries move when one operand entry moves
            if ex.is_index(o[1]):
                continue
            for index in entries(printed[o]):
                moved = redo(relation, lambda identity, i, o=o, index=index:
                             exact_number(identity, i) + (tiny if (identity, i) == (o, index) else 0))
                for r in (moved or {}):
                    if moved[r] != base[r] and o not in deps[r]:
                        deps[r].append(o)
        relations.append((relation, deps))

    def whole(identity) -> bool:
        """Every entry already printed exactly (0.5, −1): more digits would change nothing."""
        return all(on_page((identity, index)) == number for index, number in entries(printed[identity]).items())

    def failing(relation) -> list:
        x = redo(relation)
        if x is None:
            return []
        t = printed[relation[0]]
        return [index for index, value in x.items() if not reproduces(value, format_number(
            t.item() if t.scalar else t.a[index], precision + level.get(relation[0], 0)))]

    copies = [(relation[0], relation[1][0]) for relation, _ in relations  # ∂L/∂b = ∂L/∂z: the same numbers
              if isinstance(relation[2], sp.Symbol) and len(relation[1]) == 1
              and entries(printed[relation[0]]).keys() == entries(printed[relation[1][0]]).keys()]

    def settle(skipped: set) -> set:
        """Digits for every result entry but ``skipped``; the entries they cannot mend."""
        level.clear()
        for _ in range(MATRIX_CARRY * 4 + 1):
            changed = False
            for relation, deps in relations:
                for index in failing(relation):
                    if (relation[0], index) in skipped:
                        continue
                    room = sorted((o for o in deps[index] if level.get(o, 0) < MATRIX_CARRY and not whole(o)),
                                  key=lambda o: level.get(o, 0))
                    for o in room:  # one more digit in the one matrix that mends this entry, if one does
                        level[o] = level.get(o, 0) + 1
                        if index not in failing(relation):
                            break
                        level[o] -= 1
                    else:  # else in the least precise matrices it reads
                        least = level.get(room[0], 0) if room else None
                        for o in room:
                            if level.get(o, 0) == least:
                                level[o] = least + 1
                    changed = changed or bool(room)
            for a, b in copies:  # one value, one printed form: ∂L/∂a = ∂L/∂u1 shows its digits
                most = max(level.get(a, 0), level.get(b, 0))
                if level.get(a, 0) != most or level.get(b, 0) != most:
                    level[a] = level[b] = most
                    changed = True
            if not changed:
                break
        return {(relation[0], index) for relation, _ in relations for index in failing(relation)} - skipped

    # an entry no digits mend (a difference of nearly equal numbers) is left out, so that the
    # digits it asked for go, and the document names it
    def digits_for() -> tuple[dict, set]:
        beyond: set = set()
        for _ in range(4):
            more = settle(beyond)
            if not more:
                break
            beyond |= more
        return dict(level), beyond

    def named(relations_of) -> set:
        return {(relation[0], index) for relation, _ in relations_of for index in failing(relation)}

    def fewest(levels: dict, tied: list) -> tuple[dict, set]:
        """Since a matrix's entries share their digits, one entry that asks for many (an update
        that nearly cancels) raises the whole matrix, and then every line computing it asks for
        more again: the digits of each matrix (each group of copies at once) are moved one at a
        time, down or up, wherever that names fewer entries, or as few with fewer digits."""
        level.clear()
        level.update({m: c for m, c in levels.items() if c and not whole(m)})
        groups = [g for g in tied if not all(whole(m) for m in g)]
        touching = {m: [k for k, r in enumerate(relations) if r[0][0] == m or m in r[0][1]] for g in groups for m in g}
        fails = {k: named([r]) for k, r in enumerate(relations)}  # each line's entries that do not redo

        def union() -> set:
            return set().union(*fails.values()) if fails else set()

        left = union()

        def cost(names):
            return (len(names), sum(level.get(m, 0) * len(entries(printed[m])) for m in level))

        score = cost(left)
        group_of = {m: k for k, g in enumerate(groups) for m in g}
        # the groups a move may have to take along: the matrices the lines computing a group read
        upstream = [sorted({group_of[o] for m in g for k in touching[m] if relations[k][0][0] == m
                            for o in relations[k][0][1] if o in group_of} - {n}) for n, g in enumerate(groups)]

        def attempt(moving: list, step: int) -> bool:
            """Move the digits of the groups ``moving`` by ``step``; kept when the cost falls."""
            nonlocal left, score
            olds = [level.get(groups[n][0], 0) for n in moving]
            if not all(0 <= old + step <= MATRIX_CARRY for old in olds):
                return False
            around = sorted({k for n in moving for m in groups[n] for k in touching[m]})
            kept = {k: fails[k] for k in around}
            for n, old in zip(moving, olds):
                for m in groups[n]:
                    level[m] = old + step
            fails.update({k: named([relations[k]]) for k in around})
            after = union()
            if cost(after) < score:
                left, score = after, cost(after)
                return True
            fails.update(kept)
            for n, old in zip(moving, olds):
                for m in groups[n]:
                    level[m] = old
            return False

        for _ in range(2 * MATRIX_CARRY + 2):
            moved = False
            for n in range(len(groups)):
                for step in (-1, 1):
                    # alone, or with one matrix its line reads (∂L/∂z1 and the ∂L/∂a1 it is made of)
                    moved = any(attempt(moving, step) for moving in [[n]] + [[n, u] for u in upstream[n]]) or moved
            if not moved:
                break
        return {(identity, index): c for identity, c in level.items() if c
                for index in entries(printed[identity])}, left

    def groups_of(pairs) -> list:
        """The printed matrices, each copy with what it copies (one value, one printed form)."""
        found: list = [[m] for m in dict.fromkeys(r[0] for r, _ in relations)] + \
            [[o] for r, _ in relations for o in r[1]]
        merged: list = []
        for g in found:
            if any(g[0] in h for h in merged):
                continue
            merged.append(list(g))
        for a, b in pairs:
            ga = next(h for h in merged if a in h)
            gb = next(h for h in merged if b in h)
            if ga is not gb:
                ga.extend(gb)
                merged.remove(gb)
        return merged

    found = fewest(digits_for()[0], groups_of(copies))
    if copies and found[1]:  # a copy's digits (a bias update's tie) cost an entry: copies keep their own
        copies.clear()
        fewer = fewest(digits_for()[0], groups_of(()))
        found = fewer if len(fewer[1]) < len(found[1]) else found
    return found


CHANNELS_SHOWN = 3  # an image's channels shown in full; beyond, the first two and the last


def _slices(t, name: str, base: int = 1):
    """(label, matrix) of each channel of an image (x[1,*,*] …) or each 2-D slice of a kernel
    (k[1,2,*,*] …), numbered from ``base``; many: the first two and the last, with the count left
    out between them."""
    lead = list(np.ndindex(*t.a.shape[:-2]))
    left_out = len(lead) - 3
    if len(lead) > CHANNELS_SHOWN:
        lead = lead[:2] + [None] + lead[-1:]
    out = []
    for index in lead:
        if index is None:
            out.append(left_out)
            continue
        label = Entry(name, index[0] + base, *(("*",) if len(index) == 1 else (index[1] + base,)),
                      more=("*", "*") if len(index) > 1 else ("*",))
        out.append((label, Tensor(t.a[index])))
    return out


def show_numbers(s: Section, items: list, t, name: str, of: str = "", extra: dict | None = None,
                 precision: int = 4, base: int = 1):
    """``items = numbers`` on one line; an image or a kernel channel by channel, each slice on a
    line of its own (x[1,*,*] = [...]), a long run of channels with the middle left out. Where an
    elided matrix hides nonzero entries among few, they are listed (a pooled or looked-up
    gradient is zero nearly everywhere: its nonzero entries are the point)."""
    if t.scalar or t.a.ndim == 2:
        s.show(Chain(*items, "=", _shown(t, extra, precision)))
        hidden = _hidden_nonzeros(t, name, of, base)
        if hidden is not None:
            s.say(hidden)
        return
    if len(items) > 1:
        s.show(Chain(*items))
    slices = _slices(t, name, base)
    if not any(isinstance(b.sentence, Sentence) and b.sentence.template.startswith(_SLICED)
               for b in s.blocks if hasattr(b, "sentence")):
        s.say(Sentence(_SLICED + " (* runs over every row and every column of a slice):"))
    for item in slices:
        if isinstance(item, int):
            s.say(Sentence(f"({item} slice{'s' if item > 1 else ''} left out here.)"))
            continue
        label, part = item
        s.show(Chain(replace(label, of=of), "=", MatrixValue.of(part)))
    hidden = _hidden_nonzeros(t, name, of, base)
    if hidden is not None:
        s.say(hidden)


_SLICED = "An image or a kernel is shown slice by slice"
NONZEROS_LISTED = 12


def _hidden_nonzeros(t, name: str, of: str = "", base: int = 1) -> Sentence | None:
    """The nonzero entries of a mostly-zero tensor when its display leaves some of them out."""
    a = t.a
    if t.scalar:
        return None
    nonzero = []
    for index in np.ndindex(*a.shape):  # stops at the first entry beyond the few it would list
        if a[index] != 0:
            nonzero.append(index)
            if len(nonzero) > NONZEROS_LISTED:
                return None
    if not nonzero:
        return None
    shown = _visible(a.shape)
    if all(shown(index) for index in nonzero):
        return None
    entries = tuple(Chain(Entry(name, index[0] + base, index[1] + base, of, tuple(i + base for i in index[2:])),
                          "=", Value(a[index])) for index in nonzero)
    return Sentence(f"Only {len(nonzero)} of its {a.size} entries are nonzero: "
                    + ", ".join(f"{{{i}}}" for i in range(len(entries))) + "; every other entry is 0.",
                    entries)


def _visible(shape: tuple):
    """Which entries a document's display of a tensor of ``shape`` shows (corners of an elided
    matrix; the channels shown of an image)."""
    def kept(n, i, limit=MAX_SHOWN):
        return n <= limit or i < 3 or i >= n - 2

    def visible(index):
        lead = index[:-2]
        if lead:
            count = int(np.prod(shape[:-2]))
            flat = int(np.ravel_multi_index(lead, shape[:-2]))
            if count > CHANNELS_SHOWN and not (flat < 2 or flat == count - 1):
                return False
        return kept(shape[-2], index[-2]) and kept(shape[-1], index[-1])
    return visible


def _shape_reader(ex):
    """The shape of a sub-expression of the example's lines, as the shape inference found it."""
    return ex.structure.of


def _occurrences(tree, name: str, path=()):
    """Paths (tuples of (node, child index)) from the root to each Name(name)."""
    if isinstance(tree, Name):
        return [path] if tree.id == name else []
    found = []
    for i, c in enumerate(operands(tree)):
        found += _occurrences(c, name, path + ((tree, i),))
    return found


def _rule_along(ex, g, path, out):
    """The gradient reaching the end of ``path`` (from an equation's root, whose result is
    ``out``), as a matrix formula built from ``g``: each step is the table's printed rule for
    that operand (``derive.core.tensor.rule_of``), the formula the engine evaluates."""
    for node, i in path:
        try:
            g = rule_of(ex.structure, node, i, g, tuple(display(a) for a in operands(node)), out)
        except NoRule:
            raise _NoRule from None
        if g is None:
            raise _NoRule
        out = display(operands(node)[i])
    return g


def rules_used(formula) -> list:
    """The registry functions written as f'(z) in a formula, in order (each once)."""
    found, stack = [], [formula]
    while stack:
        f = stack.pop(0)
        if isinstance(f, Prime):
            if f.function not in found:
                found.append(f.function)
        elif isinstance(f, (Hadamard, Product, MatProduct, Sum)):
            stack.extend(f.factors if not isinstance(f, Sum) else f.terms)
        elif isinstance(f, (Transposed, BatchSum)):
            stack.append(f.operand)
        elif isinstance(f, Scaled):
            stack.append(f.operand)
    return found


def _parameters_of(ex, function: str) -> str:
    """"; here α = 0.2" for the first line applying ``function`` (leaky_relu(z, 0.2)), its
    parameters as the equations give them; "" when it has none or they are inputs of their own."""
    from .content import parameters_said
    from ..core.parser import Num
    spec = FUNCTIONS[function]
    for eq in ex.graph.equations:
        if spec.parameters and isinstance(eq.tree, Call) and eq.tree.func == function:
            return parameters_said(spec, [a.value if isinstance(a, Num) else None for a in eq.tree.args[1:]])
    return ""


def _size(shape) -> int:
    return 1 if shape == () else int(np.prod(shape))


def _softmax_pair(ex, name: str):
    """(p, y, batch) when ``name`` is the logits of ``p = softmax(name)`` and the output is
    ``cross_entropy(p, y)`` — the pair whose gradient is δ = (p − y)/B."""
    graph = ex.graph
    for eq in graph.equations:
        t = eq.tree
        if isinstance(t, Call) and t.func == "softmax" and isinstance(t.args[0], Name) and t.args[0].id == name:
            for eq2 in graph.equations:
                t2 = eq2.tree
                if (isinstance(t2, Call) and t2.func in TENSOR_FUNCTIONS
                        and TENSOR_FUNCTIONS[t2.func].after_softmax and isinstance(t2.args[0], Name)
                        and t2.args[0].id == eq.name and isinstance(t2.args[1], Name)):
                    users = [e for e in graph.equations if eq.name in graph.uses[e.name]]
                    # fused only when the softmax normalises along the cross-entropy's classes
                    if len(users) == 1 and axis_of(ex.structure.site(t)) == class_axis(ex.structure.site(t2)):
                        batch = ex.shape(eq.name)[0 if ex.batch == "rows" else 1]
                        return eq.name, t2.args[1].id, batch, eq2.name
    return None


def backward_formula(ex, name: str):
    """∂L/∂name as a matrix formula over the gradients of the lines that use ``name``, or None
    when one of the forms has no hand-written rule."""
    out = ex.output
    pair = _softmax_pair(ex, name)
    if pair is not None and pair[3] == out:
        p, y, batch, loss = pair
        return fused_rule_of(ex.structure, ex.graph.by_name[loss].tree, sp.Integer(1),
                             (_sym(p), _sym(y)), _sym(loss), _sym(name))
    terms = []
    for eq in ex.graph.equations:
        if name not in ex.graph.uses[eq.name]:
            continue
        g = sp.Integer(1) if eq.name == out else Partial(out, eq.name)
        if eq.name != out and eq.name not in _ancestors_of_output(ex):
            continue
        for path in _occurrences(eq.tree, name):
            try:
                terms.append(_rule_along(ex, g, path, _sym(eq.name)))
            except _NoRule:
                return None
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else Sum(tuple(terms))


def _target(ex, y: str):
    """The target as it enters p − y: y itself when one-hot, onehot(y) when it holds class
    indices (read literally, p − 2 would subtract the index)."""
    if ex.is_index(y):
        onehot = TensorCall(r"\operatorname{onehot}", "onehot", (_sym(y),))
        return Transposed(onehot) if ex.batch == "rows" else onehot
    return _sym(y)


def _is_softmax_output(ex, name: str) -> bool:
    """True for p in ``p = softmax(z)`` followed by ``L = cross_entropy(p, y)``."""
    for eq in ex.graph.equations:
        t = eq.tree
        if eq.name == name and isinstance(t, Call) and t.func == "softmax" and isinstance(t.args[0], Name):
            pair = _softmax_pair(ex, t.args[0].id)
            return pair is not None and pair[0] == name
    return False


def _shape_of_formula(ex, f):
    """The shape of a factor of a matrix rule: a named tensor, its gradient, a transpose."""
    if isinstance(f, Partial):
        return ex.shape(f.wrt)
    if isinstance(f, sp.Symbol) and (f.name in ex.graph.inputs or f.name in ex.graph.nodes):
        return ex.shape(f.name)
    if isinstance(f, Transposed):
        inner = _shape_of_formula(ex, f.operand)
        return None if inner is None else (inner if inner == () else (inner[1], inner[0]))
    return None


def _product_shapes(ex, formula) -> list:
    """The factors' shapes of a matrix product ∂L/∂z1 Xᵀ: [(3, 8), (8, 4)]; [] otherwise."""
    if not isinstance(formula, MatProduct):
        return []
    shapes = [_shape_of_formula(ex, f) for f in formula.factors]
    return shapes if all(s not in (None, ()) for s in shapes) else []


def _ancestors_of_output(ex) -> set:
    graph, seen, stack = ex.graph, set(), [ex.output]
    while stack:
        n = stack.pop()
        for u in graph.uses.get(n, ()):
            if u not in seen:
                seen.add(u)
                stack.append(u)
    return seen


def _focus_entry(ex):
    """The entry to zoom into: meta focus (``W1[2,1]`` or an alias such as ``w1_2_1``)."""
    focus = ex.meta.get("focus")
    if not focus:
        return None
    base = index_base(ex)  # W1[0,0] under index_base: 0, as the document numbers its entries
    m = _FOCUS.match(focus)
    if m:
        name, i, j = m.group(1), int(m.group(2)) - base, int(m.group(3)) - base
    elif focus in ex.aliases:
        name, i, j = ex.aliases[focus]
    else:
        return None
    values = ex.matrix_derivation().values
    if name not in values or values[name].scalar:
        raise DeriveError(f"focus {focus!r}: {name} is not a matrix of this example")
    r, c = values[name].a.shape
    if not (0 <= i < r and 0 <= j < c):
        raise DeriveError(f"focus {focus!r}: {name} is {r}×{c}; entries are numbered from {base}")
    return name, i, j


def zoom_section(ex, name: str, i: int, j: int) -> Section | None:
    """∂L/∂W[i,j] in scalar form, for W used as ``W @ A``: Σ_b ∂L/∂z[i,b] · A[j,b]."""
    for eq in ex.graph.equations:
        for path in _occurrences(eq.tree, name):
            # the table's rule along this use: zoom in where it is ∂L/∂z Aᵀ (W used as W A)
            g = Partial(ex.output, eq.name)
            try:
                rule = _rule_along(ex, g, path, _sym(eq.name))
            except _NoRule:
                continue
            if not (isinstance(rule, MatProduct) and len(rule.factors) == 2 and rule.factors[0] == g
                    and isinstance(rule.factors[1], Transposed)
                    and isinstance(rule.factors[1].operand, sp.Symbol)):
                continue
            a_name = rule.factors[1].operand.name
            d = ex.matrix_derivation()
            grad_z = d.gradients[eq.name]
            A = d.values[a_name]
            batch = A.a.shape[1]
            total = d.gradients[name].a[i, j]
            base = index_base(ex)
            s = Section(f"Zoom in: one entry of ∂{ex.output}/∂{name}")
            s.say(Sentence(f"Entry ({i + base}, {j + base}) of the matrix product {{0}} uses row {{1}} of "
                           f"{{2}} and column {{3}} of {{4}}ᵀ, so one weight's gradient is a sum "
                           + ("over the examples of the batch:" if batch > 1 else "with one term:"),
                           (MatProduct((Partial(ex.output, eq.name), Transposed(_sym(a_name)))),
                            sp.Integer(i + base), Partial(ex.output, eq.name), sp.Integer(j + base), _sym(a_name))))
            terms = tuple(Product((Entry(eq.name, i + base, b + base, ex.output), Entry(a_name, j + base, b + base)))
                          for b in range(min(batch, 4)))
            numbers = tuple(Product((Value(grad_z.a[i, b]), Value(A.a[j, b]))) for b in range(min(batch, 4)))
            if batch > 4:
                terms += (Dots(),)
                numbers += (Dots(),)
            s.show(Chain(Entry(name, i + base, j + base, ex.output), "=", Sum(terms)))
            s.show(Chain(Entry(name, i + base, j + base, ex.output), "=", Sum(numbers), "=", Value(total)))
            return s
    return None


def build_matrix(ex) -> Content:
    """The document of a TensorExample (see the module docstring). A symbolic example (shapes,
    no values) gets the same steps with their shapes and no numbers."""
    symbolic = ex.symbolic
    d = ex.matrix_derivation()
    values = None if symbolic else d.values
    grads = None if symbolic else d.gradients
    shapes = _shape_reader(ex)
    sections = []
    precision = getattr(ex, "precision", 4)
    carries, beyond = ({}, set()) if symbolic else matrix_carries(ex, values, grads, precision)
    base = index_base(ex)  # entries numbered from 1, or from 0 under index_base: 0
    def digits(kind, name):  # the extra digits of each entry of one printed matrix
        return {"extra": {index: c for (identity, index), c in carries.items() if identity == (kind, name)},
                "precision": precision}

    s = Section("The computation")
    s.say(_opening(ex))
    for warning in ex.meta.get("warnings", ()):  # a likely mismatch of the batch convention
        s.say(Sentence("Note, " + warning + "."))
    if symbolic:
        s.say(Sentence("The inputs have shapes but no values: every step below is the matrix "
                       "rule with its shapes, for any numbers of those shapes."))
    rows = []
    for name in ex.inputs:
        role = "parameter" if name in ex.params or any(
            a[0] == name for k, a in ex.aliases.items() if k in ex.params) else "given"
        if ex.is_index(name):
            role = "given (class indices, 0-based)"
        rows.append([_sym(name), ShapeOf(ex.shape(name)), role])
    for eq in ex.graph.equations:
        rows.append([_sym(eq.name), ShapeOf(ex.shape(eq.name)),
                     Chain(_sym(eq.name), "=", display(eq.tree, shapes))])
    s.tabulate(["name", "shape", "role or definition"], rows)
    for said in _composite_sentences(ex, shapes):
        s.say(said)
    named = _introduced_sentence(ex, shapes)
    if named is not None:
        s.say(named)
    counted = counting_sentence(ex)  # under index_base: 0, entries from 0 and a0 = x
    if counted is not None:
        s.say(counted)
    add_definitions(ex, s)  # softmax and cross-entropy, where they are used
    if not symbolic:  # the numbers the forward pass starts from, as the scalar documents give them
        s.lecturer_note(TENSOR_NOTE)  # how the numbers were obtained, as a scalar document says it
        if notebook_checks(ex):
            s.lecturer_note(CROSSCHECK_NOTE)
        s.say(Sentence("The given values:"))
        for group in _side_by_side(ex.inputs, values):
            if len(group) == 1:
                show_numbers(s, [_sym(group[0])], values[group[0]], group[0], **digits("value", group[0]), base=base)
                continue
            given = [Chain(_sym(name), "=", _shown(values[name], **digits("value", name))) for name in group]
            s.show(Row(tuple(given)))
    sections.append(s)

    s = Section("Forward pass")
    for eq in ex.graph.equations:
        shape = ex.shape(eq.name)
        if shape == ():
            s.say(Sentence("{0} is a number:", (_sym(eq.name),)))
        else:
            s.say(Sentence("{0} is {1}:", (_sym(eq.name), ShapeOf(shape))))
        items = [_sym(eq.name), "=", display(eq.tree, shapes)]
        if symbolic:
            s.show(Chain(*items))
        else:
            mean = written_mean(ex, eq, values)  # −⅓(log … + …), to redo
            if mean is not None:
                items += ["=", mean]
            show_numbers(s, items, values[eq.name], eq.name, **digits("value", eq.name), base=base)
            _name_beyond(s, beyond, ("value", eq.name), _sym(eq.name), base)
    sections.append(s)

    s = Section("Backward pass in matrix form")
    s.say(_backward_opening(ex))
    note = _delta_note(ex)
    if note is not None:
        s.note(note, "delta")
    relevant = _ancestors_of_output(ex)
    order = [eq.name for eq in reversed(ex.graph.equations) if eq.name in relevant]
    order += [n for n in ex.inputs if n in relevant and not ex.is_index(n)]
    stated: list = []
    for name in order:
        if _is_softmax_output(ex, name):
            continue  # p of softmax + cross-entropy: the pair is differentiated at once, for z
        formula = gradient_formula(ex, name)
        pair = _softmax_pair(ex, name)
        if pair is not None and pair[3] == ex.output:
            p, y, batch, _ = pair
            onehot = ex.is_index(y)
            s.say(Sentence("Softmax followed by cross-entropy: the gradient with respect to the "
                           "logits {0} is the probabilities {1} minus the one-hot targets {2}"
                           + (f", divided by the batch size {batch} (the loss is a mean)"
                              if batch > 1 else "")
                           + ((" — {3} holds class indices, so {2} puts a 1 in the "
                               + ("column" if ex.batch == "rows" else "row")
                               + " of each example's class.") if onehot else "."),
                           (_sym(name), _sym(p), _target(ex, y), _sym(y))))
        elif formula is not None and _has_mask(formula):
            if symbolic:  # how many units are active depends on the values
                s.say(Sentence("The mask keeps the gradient where the unit was active ({0}) "
                               "and stops it elsewhere.",
                               (sp.StrictGreaterThan(_sym(_mask_arg(formula)), 0),)))
            else:
                active = sum(1 for e in values[_mask_arg(formula)].a.ravel() if e.is_extended_positive)
                s.say(Sentence(f"The mask keeps the gradient where the unit was active: "
                               f"{active} of {values[_mask_arg(formula)].size} entries here."))
        elif formula is not None:
            for said in (_shared_sentence(ex, name, formula), *_through_sentences(ex, name)):
                if said is not None:
                    s.say(said)
        if formula is None and symbolic and name in ex.graph.inputs:
            continue  # a target of cross-entropy: its gradient needs the numbers
        shape = ex.shape(name)
        s.say(Sentence("{0} is " + ("a number, like {1}:" if shape == () else "{2}, like {1}:"),
                       (Partial(ex.output, name), _sym(name), ShapeOf(shape))))
        if symbolic:
            if formula is None:
                s.say(Sentence("(no matrix rule is written for this step; its entries follow "
                               "from the chain rule once values are given)"))
                continue
            s.show(Chain(Partial(ex.output, name), "=", formula))
            factors = _product_shapes(ex, formula)
            if factors:  # the inner sizes match and the outer ones give the gradient's shape
                s.say(Sentence("Shapes: " + " times ".join(f"{{{i}}}" for i in range(len(factors)))
                               + f" gives {{{len(factors)}}}.",
                               tuple(ShapeOf(f) for f in factors) + (ShapeOf(shape),)))
        else:
            items = [Partial(ex.output, name)]
            if formula is not None:
                items += ["=", formula]
            show_numbers(s, items, grads[name], name, of=ex.output, **digits("grad", name), base=base)
            _name_beyond(s, beyond, ("grad", name), Partial(ex.output, name), base)
        for function in rules_used(formula) if formula is not None else ():
            if function not in stated:  # the registry's rule, once per document
                stated.append(function)
                s.say(Sentence("where {0}, entry by entry" + _parameters_of(ex, function) + ".",
                               (FUNCTIONS[function].derivative,)))
    sections.append(s)

    from .layersections import layer_sections
    sections += layer_sections(ex)

    focus = None if symbolic else _focus_entry(ex)
    if focus is not None:
        zoom = zoom_section(ex, *focus)
        if zoom is not None:
            sections.append(zoom)

    if ex.lr is not None:
        s = Section("The update")
        eta = _sym("eta")
        s.say(Sentence("Gradient descent with learning rate {0} moves every parameter "
                       + ("matrix " if all(ex.shape(n) != () for n in _param_tensors(ex)) else "")
                       + "against its gradient:", (Chain(eta, "=", Value(ex.lr)),)))
        for name in _param_tensors(ex):
            rule = [Updated(name), "=", Sum((_sym(name), Product((-eta, Partial(ex.output, name)))))]
            if symbolic:
                s.show(Chain(*rule))
            else:
                show_numbers(s, rule, _update(ex, name), f"{name}_new", **digits("new", name), base=base)
                _name_beyond(s, beyond, ("new", name), Updated(name), base)
        sections.append(s)
    title = ex.title or "Backpropagation in matrix form"
    return _written(Content(title, sections), ex.output)


# --- the notation preset: δ for the gradients of the pre-activations ------------------------------

_PRE_ACTIVATION = re.compile(r"^z(\d+(?:_\d+)*)?$")  # z, z1, z2: δ takes over z's index


def pre_activations(ex) -> list[str]:
    """The lines' pre-activations, in line order: each name an activation (a1 = tanh(z1)) or a
    layer function (p = softmax(z2)) is applied to, as a whole."""
    out = []
    for eq in ex.graph.equations:
        t = eq.tree
        if not (isinstance(t, Call) and t.args and isinstance(t.args[0], Name)):
            continue
        spec = FUNCTIONS.get(t.func)
        layer = TENSOR_FUNCTIONS.get(t.func)
        if (spec is not None and spec.kind == "activation" or layer is not None and getattr(layer, "layer", False)) \
                and t.args[0].id in ex.graph.by_name and t.args[0].id not in out:
            out.append(t.args[0].id)
    return out


def matrix_notation(ex, notation=None):
    """The notation preset (``notation``, else the example's own) completed for a matrix
    document: under ``delta: true`` the gradient of each pre-activation is written δ (δ1 for
    ∂L/∂z1, δ_u for another name u), as the scalar documents write it. Names are shown as
    written (W1, z1: the layers count from 1 under either index base, the input being layer 0);
    the entries are numbered from the base in the document itself.

    >>> import derive
    >>> ex = derive.Example.from_equations("z1 = W1 @ x\\na1 = tanh(z1)\\nL = sum(a1)",
    ...                                    values={"W1": [[1, 2]], "x": [3, 4]})
    >>> matrix_notation(ex, {"delta": True})["deltas"]
    {'z1': 'delta1'}
    """
    from ..rendering.formats import ResolvedNotation, check_notation
    out = ResolvedNotation(check_notation(getattr(ex, "notation", None) if notation is None else notation))
    out["output"] = ex.output
    out["deltas"] = {}
    if out.get("delta"):
        for z in pre_activations(ex):
            m = _PRE_ACTIVATION.match(z)
            out["deltas"][z] = ("delta" + (m.group(1) or "")) if m else None
    out["renumber"] = 0
    return out


def _delta_note(ex):
    """What δ stands for, said once where the backward pass begins (shown under ``delta: true``)."""
    zs = pre_activations(ex)
    if not zs:
        return None
    holes = [f"{{{k}}}" for k in range(len(zs))]
    listed = holes[0] if len(zs) == 1 else ", ".join(holes[:-1]) + " and " + holes[-1]
    plural = len(zs) > 1
    return Sentence("Write " + listed + (", the gradients of the loss with respect to the pre-activations"
                                         if plural else ", the gradient of the loss with respect to the "
                                         "pre-activation") + (" (each has the shape of its pre-activation)." if plural else "."),
                    tuple(Chain(Total(ex.output, z), "=", Total(ex.output, z, abbreviate=False)) for z in zs))


def _written(obj, output: str):
    """The document's gradients of the loss as totals (∂L/∂W1 through every path, which is what
    every gradient of a matrix document is): printed ∂L/∂W1, dL/dW1 under ``total: d``, and δ for
    a pre-activation under ``delta: true``."""
    if isinstance(obj, Partial):
        return Total(obj.of, obj.wrt) if obj.of == output and not obj.direct else obj
    if isinstance(obj, Transposed) and isinstance(obj.operand, Partial) and obj.operand.of == output:
        # bracketed as a transposed ∂L/∂ŷ is, (∂L/∂ŷ)ᵀ: a one-factor product groups it
        return Transposed(MatProduct((_written(obj.operand, output),)))
    if isinstance(obj, (sp.Basic, str, int, float, type(None))):
        return obj
    if isinstance(obj, tuple):
        return tuple(_written(x, output) for x in obj)
    if isinstance(obj, list):
        return [_written(x, output) for x in obj]
    if isinstance(obj, Chain):  # its own __init__(*items)
        return Chain(*_written(obj.items, output))
    if hasattr(obj, "__dataclass_fields__") and not isinstance(obj, type):
        from dataclasses import fields
        return replace(obj, **{f.name: _written(getattr(obj, f.name), output) for f in fields(obj) if f.init})
    return obj


# --- the words, from the example's facts --------------------------------------------------------


def _opening(ex) -> Sentence:
    """What the lines compute: vectors as columns, and a mini-batch only when there is one (its
    examples the columns of the data input that has them)."""
    batch = ex.meta.get("batch")
    rows = getattr(ex, "batch", "columns") == "rows"
    unit, axis = ("rows", 0) if rows else ("columns", 1)
    vectors = "Vectors are rows (the row convention, as in PyTorch)" if rows else "Vectors are columns"
    if batch and batch > 1:
        data = [n for n in ex.inputs if n not in ex.params and len(ex.shape(n)) == 2
                and ex.shape(n)[axis] == batch and not ex.is_index(n)]
        where = f"the {unit} of {{0}}" if data else f"the {unit}"
        return Sentence(f"Each line computes a whole vector or matrix at once. {vectors}; "
                        f"the {batch} examples of the mini-batch are {where}, and the loss is their "
                        "mean.", (_sym(data[0]),) if data else ())
    if rows:
        return Sentence("Each line computes a whole vector or matrix at once. Vectors are rows: the "
                        "examples of a batch are the rows (the row convention, as in PyTorch), and "
                        "softmax and cross-entropy go along each row.")
    if all(ex.shape(n) == () or ex.shape(n)[1] == 1 for n in ex.inputs + ex.nodes):
        return Sentence("Each line computes a whole vector at once; vectors are columns.")
    return Sentence("Each line computes a whole vector or matrix at once. Vectors are columns.")


def _introduced_sentence(ex, shapes) -> Sentence | None:
    """What each name the staging introduced stands for: the argument of a function, or the
    base of a power, in one of the user's lines."""
    staged = [eq for eq in ex.graph.equations if isinstance(eq, StagedEquation) and eq.part != "step"]
    if not staged:
        return None
    by_name = {eq.name: eq for eq in ex.graph.equations}
    parts, math = [], []
    for eq in staged:
        user = by_name[eq.of]
        k = len(math)
        what = "the argument" if eq.part == "argument" else "the base of the power"
        parts.append(f"{{{k}}} is {what} in {{{k + 1}}}")
        math += [_sym(eq.name), Chain(_sym(user.name), "=", display(user.tree, shapes))]
    one = len(staged) == 1
    return Sentence(("To give every step a rule of its own, a compound argument has a name of its own: "
                     if one else "To give every step a rule of its own, each compound argument has a "
                     "name of its own: ") + "; ".join(parts) + ".", tuple(math))


def _composite_sentences(ex, shapes) -> list:
    """What a named composite (layer_norm) computes, step by step: one sentence per call."""
    said, by_of = [], {}
    for eq in ex.graph.equations:
        if isinstance(eq, StagedEquation) and eq.part == "step":
            by_of.setdefault(eq.of, []).append(eq)
    for target, steps in by_of.items():
        last = ex.graph.by_name[target]
        spec = TENSOR_FUNCTIONS[steps[0].function]
        per = "row" if ex.batch == "rows" else "column"
        math = [Chain(_sym(target), "=", display(steps[0].call, shapes))]
        parts = []
        for eq in steps + ([last] if not isinstance(last, StagedEquation) else []):
            what = eq.what if isinstance(eq, StagedEquation) else "scaled and shifted"
            parts.append(f"{what}, {{{len(math)}}}")
            math.append(Chain(_sym(eq.name), "=", display(eq.tree, shapes)))
        name = "layer normalisation" if spec.name == "layer_norm" else spec.name
        said.append(Sentence(f"{{0}} is a {name} of each example (each {per}), written out in its "
                             f"steps: " + "; ".join(parts) + ".", tuple(math)))
    return said


def _backward_opening(ex) -> Sentence:
    """How gradients travel back, naming only the kinds of step this example has."""
    trees = [eq.tree for eq in ex.graph.equations]
    ops, calls = set(), set()
    while trees:
        t = trees.pop()
        if isinstance(t, BinOp):
            ops.add(t.op)
            trees += [t.left, t.right]
        elif isinstance(t, Call):
            calls.add(t.func)
            trees += list(t.args)
        elif isinstance(t, (Neg, Transpose)):
            trees.append(t.operand)
    clauses = []
    if "@" in ops:
        clauses.append("a matrix product passes the gradient through the transpose of the other factor")
    if calls & set(FUNCTIONS):
        clauses.append("an elementwise function multiplies it entry by entry (⊙) by its derivative")
    text = "Going backwards, each gradient has the shape of its variable."
    if clauses:
        joined = "; ".join(clauses)
        text += " " + joined[0].upper() + joined[1:] + "."
    return Sentence(text)


def _shared_sentence(ex, name: str, formula) -> Sentence | None:
    """Why a gradient is a sum, from the shapes: a column shared by the columns of a batch
    (Σ_batch …), or one number used at every entry of a vector or matrix (𝟏ᵀ … — a mean over one
    vector is no batch)."""
    if isinstance(formula, Product) and len(formula.factors) == 2 and formula.factors[0] == -1:
        formula = formula.factors[1]  # −Σ_batch …, −𝟏ᵀ …: the sum is the same
    if isinstance(formula, BatchSum) and ex.shape(name) != ():
        return Sentence("{0} is shared by every column (every example of the batch), so its "
                        "gradient sums the contributions of the columns.", (_sym(name),))
    if (ex.batch == "rows" and len(ex.shape(name)) == 2 and ex.shape(name)[0] == 1
            and isinstance(formula, MatProduct) and formula.factors[0] == Transposed(ONES)):
        return Sentence("{0} is shared by every row (every example of the batch), so its "
                        "gradient sums the contributions of the rows.", (_sym(name),))
    if ex.shape(name) == () and isinstance(formula, MatProduct) and formula.factors[0] == Transposed(ONES):
        return Sentence("{0} is one number used at every entry, so its gradient sums the "
                        "contributions of all the entries.", (_sym(name),))
    return None


def _through_sentences(ex, name: str) -> list:
    """What a softmax or a mean does to the gradient of its argument ``name``, said where the
    argument is: column by column for a matrix, over the batch only for ``batch_mean``."""
    said = []
    for eq in ex.graph.equations:
        t = eq.tree
        if not (isinstance(t, Call) and t.args and isinstance(t.args[0], Name) and t.args[0].id == name):
            continue
        shape = ex.shape(name)
        share = (lambda n: sp.Rational(1, n)) if eq.name == ex.output else (
            lambda n: Scaled(Partial(ex.output, eq.name), sp.Integer(n)))  # ∂L/∂L is 1
        if t.func == "softmax" and _softmax_pair(ex, name) is None:
            a, g = _sym(eq.name), Partial(ex.output, eq.name)
            col_a, col_g = _sym("a"), _sym("g")  # one column of each, as a course writes it
            by_row = axis_of(ex.structure.site(t)) == 1
            unit, across = ("row", "column") if by_row else ("column", "row")
            dot = MatProduct((col_g, Transposed(col_a))) if by_row else MatProduct((Transposed(col_a), col_g))
            minus_sum = Product((sp.Integer(-1), dot))
            column = Hadamard((col_a, Sum((col_g, minus_sum))))
            every = (MatProduct((Hadamard((a, g)), ONES)) if by_row
                     else MatProduct((Transposed(ONES), Hadamard((a, g)))))
            if shape != () and shape[0 if by_row else 1] > 1:
                said.append(Sentence(
                    f"Each output of a softmax depends on every logit of its {unit}, so the gradient "
                    f"is its Jacobian applied to {{0}}: for each {unit} {{1}} of {{2}} and {{3}} of {{0}}, "
                    f"the {unit} of the gradient is {{4}}; the {across} {{5}} holds every {unit}'s {{6}}, "
                    f"subtracted from each entry of its {unit}.",
                    (g, col_a, a, col_g, column, every, dot)))
            else:
                said.append(Sentence(
                    "Each output of a softmax depends on every logit, so the gradient is its "
                    "Jacobian applied to {0}: {1}, the number {2} subtracted from every entry.",
                    (g, Hadamard((a, Sum((g, Product((sp.Integer(-1), MatProduct((Transposed(a), g)))))))),
                     MatProduct((Transposed(a), g)))))
        elif t.func == "batch_mean" and shape != ():
            unit, n = ("rows", shape[0]) if ex.batch == "rows" else ("columns", shape[1])
            said.append(Sentence(
                f"{{0}} is the mean over the {n} {unit} (the examples of the batch), so every "
                f"{unit[:-1]} of {{1}} receives {{2}}.", (_sym(eq.name), _sym(name), share(n))))
        elif t.func == "mean" and shape != ():
            n = _size(shape)
            said.append(Sentence(
                f"{{0}} is the mean of the {n} entries of {{1}}, so every entry receives "
                f"{{2}}.", (_sym(eq.name), _sym(name), share(n))))
    return said


# --- gradients: the rules of the table, as the document prints them -----------------------------


def gradient_formula(ex, name: str):
    """∂L/∂name as the document prints it: the table's rule (``backward_formula``), a term that
    appears twice (u = zc ⊙ zc gives ∂L/∂u ⊙ zc from each factor) written once with a 2."""
    formula = backward_formula(ex, name)
    return None if formula is None else _collected(formula)


def _collected(formula):
    """A sum with a term twice (u = zc ⊙ zc gives ∂L/∂u ⊙ zc from each factor) as 2 · term."""
    if not isinstance(formula, Sum):
        return formula
    terms: list = []
    counts: list = []
    for t in formula.terms:
        if t in terms:
            counts[terms.index(t)] += 1
        else:
            terms.append(t)
            counts.append(1)
    if len(terms) == len(formula.terms):
        return formula
    merged = tuple(t if c == 1 else Product((sp.Integer(c), t)) for t, c in zip(terms, counts))
    return merged[0] if len(merged) == 1 else Sum(merged)


def _param_tensors(ex) -> list[str]:
    names = []
    for p in ex.params:
        base = ex.aliases[p][0] if p in ex.aliases else p
        if base not in names:
            names.append(base)
    return names


def _update(ex, name: str):
    from ..core.tensor import binary_values, scalar
    d = ex.matrix_derivation()
    old = d.values[name]
    g = d.gradients[name]
    step = binary_values("*", scalar(ex.lr), g, g.shape, "η·∂L")
    return binary_values("-", old, step, old.shape, f"{name}_new")


def _has_mask(formula) -> bool:
    return _mask_arg(formula) is not None


def _mask_arg(formula):
    if isinstance(formula, Hadamard):
        for f in formula.factors:
            ind = [a for a in sp.preorder_traversal(f) if isinstance(a, Indicator)] \
                if isinstance(f, sp.Basic) else []
            if ind:
                syms = sorted(ind[0].free_symbols, key=lambda x: x.name)
                return syms[0].name if syms else None
    return None

