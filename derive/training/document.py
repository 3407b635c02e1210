"""The document of a training run: the setup, step 1 derived in full (the single-step worked
solution), the optimizer's update rule derived once with step 1's numbers, a table per step, the
loss curve and observations computed from the run."""
from __future__ import annotations

import copy
from dataclasses import replace
from types import SimpleNamespace

import sympy as sp

from ..core.approx import approx
from ..core.derivation import Chain, Note, Partial, Product, Sum, Value, Vector
from ..core.engine import descend
from ..core.matrixmath import MatrixValue
from ..core.notation import Nabla, Norm
from ..core.functions import Sentence
from ..rendering.blocks import Content, Section
from ..rendering.diagrams import with_diagram
from ..solutions.content import build
from ..solutions.matrixdoc import build_matrix
from .optimizers import COMMON, ETA, G_T, LAM, THETA, THETA_PREV, first_update, worked_lines
from .observations import observations

TABLE_STEPS = 8  # per-step tables shown in full; longer runs show the first and last ones


def mend_with_a_digit(room, carry: dict, holds) -> bool:
    """One more digit in the least-carried cell of ``room`` that makes ``holds()`` true, if one
    does; else one more in each. Whether any cell was given a digit."""
    for cell in sorted(room, key=lambda c: carry.get(c, 0)):
        carry[cell] = carry.get(cell, 0) + 1
        if holds():
            return True
        carry[cell] -= 1
    for cell in room:
        carry[cell] = carry.get(cell, 0) + 1
    return bool(room)

def _rate(tr):
    rates = list(dict.fromkeys(tr.hyper.lr.values()))
    return rates[0] if len(rates) == 1 else None


def shown(value, limit: int | None = None):
    """A number as a ``Value``, a matrix as a ``MatrixValue`` (large ones elided to their corners)."""
    if isinstance(value, sp.MatrixBase):
        holder = SimpleNamespace(a=value)  # MatrixValue reads entries [i, j] and the shape
        return MatrixValue.of(holder) if limit is None else MatrixValue.of(holder, limit)
    return Value(value)


def _symbol_of(ex):
    symbols = getattr(ex.graph, "symbols", None) or {}
    return lambda name: symbols.get(name) or sp.Symbol(name)


# Generic points (no kink, no tie) at which an optimizer's first update is compared with gradient
# descent's θ − η·g: where they agree, the single-step worked solution's update is update 1.
_POINTS = ((sp.Rational(3, 7), sp.Rational(-5, 11), sp.Rational(2, 13)),
           (sp.Rational(-4, 9), sp.Rational(6, 7), sp.Rational(3, 17)))


def _first_update_is_descent(tr) -> bool:
    h, opt = tr.hyper, tr.optimizer
    if tr.steps == 0 or tr.records[0].clipped or (h.weight_decay != 0 and opt.decay == "l2"):
        return False
    for theta, g, lr in _POINTS:
        ours = opt.step(theta, g, lr, h.values)
        if abs(approx(ours) - approx(descend(theta, lr, g))) > 1e-40:
            return False
    return True


def training_content(tr, figure: str | None = None, precision: int = 4) -> Content:
    ex, h, opt = tr.example, tr.hyper, tr.optimizer
    symbol = _symbol_of(ex)
    title = f"{ex.title or 'Training ' + ex.output}: {tr.steps} step{'s' if tr.steps != 1 else ''} of {opt.title}"
    sections = []

    # 1. The setup.
    s = Section("The training run")
    rate = _rate(tr)
    parts = [f"Starting from the given values, {tr.steps} update{'s' if tr.steps != 1 else ''} of "
             f"{opt.title} (the update rule as in PyTorch's {opt.torch})"]
    math = []
    if rate is not None:
        parts.append(" with learning rate {0}")
        math.append(Chain(ETA, "=", Value(rate)))
    s.say(Sentence("".join(parts) + ". Step k shows the values after k updates; update k uses the "
                   "gradient at step k − 1.", tuple(math)))
    s.lecturer_note(Sentence("Every step is computed in exact arithmetic (no floating point), so the "
                             "run is the optimizer's rule itself, rounded only where it is shown."))
    if rate is None:
        s.say(Sentence("Each parameter has its own learning rate:"))
        s.tabulate(["parameter", "learning rate"], [[symbol(p), Value(h.lr[p])] for p in tr.params])
    hyper = _hyper_rows(tr)
    if hyper:
        s.tabulate(["hyperparameter", "value"], hyper)
    sections.append(s)

    # 2. Step 1 in full: the single-step worked solution at the starting values.
    first = copy.copy(ex)
    plain = _first_update_is_descent(tr)
    first.lr = rate if plain and rate is not None else None  # its update section is update 1 exactly
    worked = with_diagram(build_matrix(first) if tr.model.tensor else build(first), first)
    intro = Section("Step 1 in full: the gradients at the start")
    intro.say(Sentence("Every step repeats one computation at new values: the forward pass, then the "
                       "chain rule back to every parameter. Here it is in full for the starting values; "
                       "the later steps' numbers are in the tables below."))
    sections.append(intro)
    for sec in worked.sections:
        if sec.title == "Observations":
            sec.title = "Observations at the start"
        sections.append(sec)

    # 3. The update rule, once in general and once with step 1's numbers.
    sections.append(_rule_section(tr, precision))

    # 4. Tables: the loss per step, then one table per step.
    sections.extend(_tables(tr, precision))

    # 5. The loss curve.
    if figure:
        s = Section("The loss curve")
        s.figure(figure, f"Loss per step ({opt.title}) and the parameters or the gradient norm")
        sections.append(s)

    # 6. Observations.
    obs = observations(tr)
    if obs:
        s = Section("What the run shows")
        for o in obs:
            s.bullet(o)
        sections.append(s)
    return Content(title, sections)


def _hyper_rows(tr):
    """One row per hyperparameter the rule uses (its symbols appear in the rule, or a flag that
    is set), then weight decay and clipping: read from the registry entry, never by its name."""
    h, opt = tr.hyper, tr.optimizer
    used = set()
    for line in opt.lines(h.values):
        used |= line.rhs.free_symbols
    rows = []
    for hp in opt.hyperparameters:
        value = h[hp.name]
        if hp.kind == "flag":
            if value:
                rows.append([hp.label or hp.name, "yes"])
        elif hp.symbols and any(sym in used for sym in hp.symbols):
            if len(hp.symbols) > 1:
                rows.append([Vector(hp.symbols, brackets=False),
                             Vector(tuple(Value(v) for v in value), brackets=False)])
            else:
                rows.append([hp.label or hp.name, Value(value)])
    if h.weight_decay != 0:
        kind = "L2: adds λθ to the gradient" if opt.decay == "l2" else "decoupled: θ(1 − ηλ)"
        rows.append([f"weight decay λ ({kind})", Value(h.weight_decay)])
    for hp in COMMON:
        if hp.name.startswith("clip") and h[hp.name] is not None:
            rows.append([hp.label, Value(h[hp.name])])
    return rows


def _carried(value, carries: dict, line):
    """A worked matrix with the extra digits its entries need ({(line, entry): carry})."""
    from ..rendering.arithmetic import Carried
    if not isinstance(value, MatrixValue) or any(value.elided()):
        return value
    columns = value.shape[1]
    return replace(value, rows=tuple(tuple(Carried(e, carries[(line, i * columns + j)])
                                           if carries.get((line, i * columns + j)) else e
                                           for j, e in enumerate(row)) for i, row in enumerate(value.rows)))


def _worked_carries(per_entry: list, g1, precision: int) -> tuple[dict, set]:
    """Update 1's lines for a matrix, {(line, entry): extra digits}, so that each printed matrix
    (g₁, m₁, v₁, m̂₁ …) gives the next lines' entries from its printed entries, to the digits
    printed; the (line, entry) pairs no MATRIX_CARRY digits mend are returned, to be named."""
    from fractions import Fraction
    from ..core.numbers import format_number
    from ..rendering.arithmetic import redo_rule, reproduces, shown as read
    from ..solutions.matrixdoc import MATRIX_CARRY
    printed = {g1: "g"} | {line.lhs: k for k, line in enumerate(per_entry[0])}
    carry: dict = {}

    def fails(e: int, k: int) -> bool:
        line, env = per_entry[e][k], {}
        for symbol, number in line.values.items():
            if symbol in printed:
                env[symbol] = read(number, precision + carry.get((printed[symbol], e), 0))
            elif isinstance(number, sp.Rational):
                env[symbol] = Fraction(int(number.p), int(number.q))
            else:
                env[symbol] = read(number, precision)  # the parameter, as the given values show it
        x = redo_rule(line.rule, env)
        return x is not None and not reproduces(x, format_number(line.result, precision + carry.get((k, e), 0)))

    def settle(skipped: set) -> set:
        carry.clear()
        for _ in range(MATRIX_CARRY * 4 + 1):
            changed = False
            for e, lines in enumerate(per_entry):
                for k, line in enumerate(lines):
                    if (k, e) in skipped or not fails(e, k):
                        continue
                    room = sorted(((printed[sym], e) for sym in line.values if sym in printed
                                   and carry.get((printed[sym], e), 0) < MATRIX_CARRY),
                                  key=lambda c: carry.get(c, 0))
                    changed = mend_with_a_digit(room, carry, lambda: not fails(e, k)) or changed
            if not changed:
                break
        return {(k, e) for e, lines in enumerate(per_entry) for k in range(len(lines))
                if (k, e) not in skipped and fails(e, k)}

    unredone: set = set()
    last = len(per_entry[0]) - 1
    for _ in range(4):
        more = settle(unredone)
        if not more:
            break
        unredone |= {cell for cell in more if cell[0] == last} or more  # the new θ first, as in the tables
    return {cell: c for cell, c in carry.items() if c}, unredone


def _rule_section(tr, precision: int = 4) -> Section:
    ex, h, opt = tr.example, tr.hyper, tr.optimizer
    symbol = _symbol_of(ex)
    s = Section(f"The update rule: {opt.title}")
    entrywise = " (for a matrix, entry by entry: squares, roots and quotients of matrices are taken " \
                "per entry)" if any(tr.shape(p) != () for p in tr.params) else ""
    s.say(Sentence("For every parameter {0} with gradient {1} at update t (t = 1, 2, …), starting "
                   f"from zero state{entrywise}:", (THETA, G_T)))
    lines = opt.lines(h.values)
    for line in lines:
        s.show(Chain(line.symbol, "=", line.rhs))
    for remark in opt.remarks:
        s.say(remark)
    if h.weight_decay != 0 and opt.decay == "l2":
        s.say(Sentence("Weight decay enters as L2 regularisation in the gradient: {0}.",
                       (Chain(G_T, "=", Sum((Partial(ex.output, THETA.name), Product((LAM, THETA_PREV))))),)))
    record = tr.records[0]
    if record.clipped:
        s.say(Sentence("Before the update the gradient is clipped:"))
        for kind, *data in record.clipped:
            if kind == "norm":
                norm, c = data
                g = sp.Symbol("g")
                s.show(Chain(g, "=", Product((g, sp.Symbol("c") / Norm(g))), "=", Product((g, Value(c / norm)))))
                s.say(Sentence("since {0} exceeds {1}.", (Chain(Norm(g), "=", Value(norm)),
                                                          Chain(sp.Symbol("c"), "=", Value(c)))))
            else:
                params, c = data
                s.say(Sentence(f"by value: {', '.join(params)} capped at ±{{0}}.", (Value(c),)))
    focus = tr.focus
    if not record.envs:
        return s
    g_raw = record.grads[focus]
    g_used = record.used[focus]
    s.say(Sentence("Update 1 with the numbers, for {0}:", (symbol(focus),)))
    g1 = first_update(G_T)
    if h.weight_decay != 0 and opt.decay == "l2":
        theta = record.values[focus]
        g = g_used + h.weight_decay * theta
        first = Partial(ex.output, focus) if g_used == g_raw else sp.Symbol("g_clipped")
        s.show(Chain(g1, "=", Sum((first, Product((LAM, symbol(focus))))), "=",
                     Sum((shown(g_used), Product((Value(h.weight_decay), shown(theta))))),
                     "=", shown(g)))
    elif g_used != g_raw:
        s.show(Chain(g1, "=", shown(g_used), Note("clipped")))
    per_entry = [worked_lines(opt, h.values, env, focus) for env in record.envs]
    shape = tr.shape(focus)
    plain_g = not (h.weight_decay != 0 and opt.decay == "l2") and g_used == g_raw
    # a matrix's lines read each other's printed entries: the digits each entry needs
    carries, unredone = _worked_carries(per_entry, g1, precision) if plain_g and shape != () else ({}, set())
    if plain_g:
        s.show(Chain(g1, "=", Partial(ex.output, focus), "=", _carried(shown(g_raw), carries, "g")))
    if shape == ():
        for line in per_entry[0]:
            s.show(line.chain())
    else:  # every line as a matrix, then one entry with its numbers
        for k, line in enumerate(per_entry[0]):
            result = sp.ImmutableMatrix(shape[0], shape[1], [entry[k].result for entry in per_entry])
            s.show(Chain(line.lhs, "=", line.rule, "=", _carried(shown(result), carries, k)))
        if unredone:
            lines = sorted({k for k, _ in unredone})
            s.say(Sentence("Here " + " and ".join(f"{{{i}}}" for i in range(len(lines)))
                           + " follow" + ("s" if len(lines) == 1 else "") + " from the numbers above only "
                           "with more digits than are shown, in some entries: each is the unrounded "
                           "value, rounded.", tuple(per_entry[0][k].lhs for k in lines)))
        moving = [i for i, env in enumerate(record.envs) if env[G_T] != 0]
        k = moving[0] if moving else 0  # an entry the gradient moves, if any
        s.say(Sentence(f"Entry by entry; for instance entry ({k // shape[1] + 1}, {k % shape[1] + 1}):"))
        for line in per_entry[k]:
            s.show(line.chain())
    for remark in opt.first_remarks:
        s.say(remark)
    return s


def _state_header(tr):
    """(state key, column heading) per state entry: the state after the update."""
    return [(st.key, sp.Symbol(st.symbol)) for st in tr.optimizer.carried(tr.hyper.values)]


def _entries(value) -> list:
    """The (row, column) positions of a cell's number that the table shows: () for a number,
    every entry of a small matrix, the corners MatrixValue keeps of a large one."""
    if not isinstance(value, sp.MatrixBase):
        return [()]
    from ..core.matrixmath import MAX_SHOWN
    def kept(n):
        return list(range(n)) if n <= MAX_SHOWN else [0, 1, 2, n - 2, n - 1]
    return [(i, j) for i in kept(value.shape[0]) for j in kept(value.shape[1])]


def _at(value, index):
    return value[index] if index else value


def _table_cells(tr, listed: list) -> dict:
    """{(step, parameter, column): exact number or matrix} of every cell a table shows: "prev",
    "g" (the gradient shown), "used" (the gradient the rule takes, after clipping), the state's
    keys and "new"."""
    records, cells = tr.records, {}
    for k in listed:
        before, after = records[k - 1], records[k]
        for p in tr.params:
            cells[(k, p, "prev")] = before.values[p]
            cells[(k, p, "g")] = before.grads[p]
            cells[(k, p, "used")] = before.used[p]
            cells[(k, p, "new")] = after.values[p]
            for key, _ in _state_header(tr):
                cells[(k, p, key)] = after.state[p][key]
    return cells


def _table_carries(tr, listed: list, precision: int) -> dict:
    """Extra digits per table entry, {(step, parameter, column, entry): carry}, so that each row
    redoes from the printed numbers, to the digits printed: the optimizer's own lines (the rule
    written once in its registry entry) evaluated at the row's printed θₖ₋₁, gradient and the
    state printed in the previous update's table, each printed result (a state, θₖ) following
    from them; a line whose result is not printed (m̂, v̂) is computed on the way, unrounded. A
    state whose previous value is not printed (after left-out updates) is not redone. Where
    MAX_CARRY extra digits are not enough (θ − η·1.0000001 at θ = η: a difference of nearly equal
    numbers), the cells keep MAX_CARRY and the result is returned among the unredone cells, which
    the table names."""
    from ..core.numbers import format_number
    from ..rendering.arithmetic import MAX_CARRY, reproduces, shown as read
    cells = _table_cells(tr, listed)
    carry: dict = {}

    def printed(cell):
        k, p, column, index = cell
        return read(_at(cells[(k, p, column)], index), precision + carry.get(cell, 0))

    rows = [_RowRedo(tr, k, p, index, listed) for k in listed for p in tr.params
            for index in _entries(cells[(k, p, "prev")])]
    def holds(row, target) -> bool:
        x = row.redo(printed).get(target)
        k, p, column, index = target
        return x is None or reproduces(x, format_number(_at(cells[(k, p, column)], index),
                                                        precision + carry.get(target, 0)))

    def settle(skipped: set) -> set:
        """Carries for every relation but ``skipped``; the relations they cannot mend."""
        carry.clear()
        for _ in range(MAX_CARRY * 8 + 1):
            changed = False
            for row in rows:
                for target in row.inputs:
                    if target in skipped or holds(row, target):
                        continue
                    # one more digit in the one number that mends the row, if one does; else in each
                    room = [cell for cell in row.inputs[target] if carry.get(cell, 0) < MAX_CARRY]
                    changed = mend_with_a_digit(room, carry, lambda: holds(row, target)) or changed
            for a, b in same:  # θₖ at the foot of one table and the head of the next: one printed form
                most = max(carry.get(a, 0), carry.get(b, 0))
                if carry.get(a, 0) != most or carry.get(b, 0) != most:
                    carry[a] = carry[b] = most
                    changed = True
            if not changed:
                break
        return {target for row in rows for target in row.inputs if target not in skipped and not holds(row, target)}

    same = [((k, p, "new", index), (k + 1, p, "prev", index)) for k in listed if k + 1 in listed
            for p in tr.params for index in _entries(cells[(k, p, "new")])]

    def digits_for() -> tuple[dict, set]:
        # a relation no digits mend is left out, so that the digits it asked for go (and it is named)
        unredone: set = set()
        for _ in range(4):
            failing = settle(unredone)
            if not failing:
                break
            unredone |= {t for t in failing if t[2] == "new"} or failing
        return {cell: c for cell, c in carry.items() if c}, unredone

    found = digits_for()
    if same and found[1]:  # θₖ's one form costs a row its redo: each table keeps its own digits
        same.clear()
        fewer = digits_for()
        found = fewer if len(fewer[1]) < len(found[1]) else found
    return found


class _RowRedo:
    """One entry of one table row redone as a student would: the rule's lines in order, from the
    printed θₖ₋₁, gradient (the clipped one where the rule takes it; plus λθ for L2 decay) and
    previous state; each printed line's result checked, then taken as printed."""

    def __init__(self, tr, k: int, p: str, index: tuple, listed: list):
        from .optimizers import T, before, now
        h, opt = tr.hyper, tr.optimizer
        self.prepared = opt.prepare(h.values)
        self.k, self.index = k, index
        self.cell = lambda column, step=k: (step, p, column, index)  # noqa: E731
        self.states = {now(st.symbol): st.key for st in self.prepared.carried}
        self.previous = {before(st.symbol): st.key for st in self.prepared.carried}
        self.decay = h.weight_decay if opt.decay == "l2" else 0
        self.gradient = self.cell("used" if h.clip_norm is not None or h.clip_value is not None else "g")
        self.known_state = k == 1 or (k - 1) in listed  # the state before: 0, or printed in the table before
        self.constants = dict(self.prepared.bindings)
        self.constants.update({ETA: h.lr[p], T: sp.Integer(k)})
        self.inputs = {}  # printed result cell -> the printed cells it is computed from
        depends = {THETA_PREV: {self.cell("prev")},
                   G_T: {self.gradient} | ({self.cell("prev")} if self.decay else set())}
        for symbol, key in self.previous.items():
            depends[symbol] = {self.cell(key, k - 1)} if k > 1 else set()
        for line in self.prepared.lines:
            needed = set().union(*(depends.get(s, set()) for s in line.rhs.free_symbols))
            target = self._target(line)
            if target is not None:
                self.inputs[target] = sorted(needed)
                needed = {target}
            depends[line.symbol] = needed

    def _target(self, line):
        if line.lhs == "θ":
            return self.cell("new")
        return self.cell(self.states[line.symbol]) if line.symbol in self.states else None

    def redo(self, printed) -> dict:
        """{printed result cell: its value from the printed numbers (None: not redone)}."""
        from fractions import Fraction
        from ..rendering.arithmetic import redo_rule
        exact = lambda v: Fraction(int(v.p), int(v.q))  # noqa: E731
        env = {s: exact(v) for s, v in self.constants.items() if isinstance(v, sp.Rational)}
        theta, g = printed(self.cell("prev")), printed(self.gradient)
        if theta is None or g is None:
            return {}
        env[THETA_PREV] = theta
        env[G_T] = g + exact(sp.Rational(self.decay)) * theta if self.decay else g
        for symbol, key in self.previous.items():
            env[symbol] = (Fraction(0) if self.k == 1 else printed(self.cell(key, self.k - 1))) \
                if self.known_state else None
        out = {}
        for line in self.prepared.lines:
            value = redo_rule(line.rhs, env)
            target = self._target(line)
            if target is not None:
                out[target] = value
                value = printed(target)
            env[line.symbol] = value
        return out


def _digits(number, extra: int | None, precision: int, bare: bool = False):
    """A table's number with ``extra`` digits beyond the document's (``bare``, a matrix entry:
    the number itself when it needs none)."""
    if extra:
        return Value(number, precision + extra)
    return number if bare else Value(number)


def _tables(tr, precision: int = 4) -> list:
    ex, records = tr.example, tr.records
    symbol = _symbol_of(ex)
    output = ex.output
    clip = tr.hyper.clip_norm is not None or tr.hyper.clip_value is not None
    both = tr.hyper.clip_value is not None  # by value: show the raw and the clipped gradient
    s = Section("The loss at every step")
    header = ["step", symbol(output), Norm(Nabla(symbol(output)))]
    if clip:
        header.append("clipped")
    rows = []
    for k, r in enumerate(records):
        row = [str(k), Value(r.values[output]), Value(r.norm)]
        if clip:
            row.append("yes" if r.clipped else ("" if k == tr.steps else "no"))
        rows.append(row)
    s.tabulate(header, rows)
    sections = [s]
    if tr.steps == 0:
        return sections
    listed = list(range(1, tr.steps + 1))
    if len(listed) > TABLE_STEPS:
        listed = listed[:TABLE_STEPS // 2 + 1] + listed[-(TABLE_STEPS // 2 - 1):]
    state_header = _state_header(tr)
    carries, unredone = _table_carries(tr, listed, precision)

    def cell(k, p, column, number):  # a number with the digits its row's update needs
        if isinstance(number, sp.MatrixBase):
            matrix, entries = shown(number), iter(_entries(number))
            rows = tuple(tuple(_digits(v, carries.get((k, p, column, next(entries))), precision, bare=True)
                               for v in row) for row in matrix.rows)
            return replace(matrix, rows=rows)
        return _digits(number, carries.get((k, p, column, ())), precision)
    s = Section("Step by step")
    s.say(Sentence("Update k takes each parameter from its value at step k − 1, with the gradient "
                   "there" + (" (after clipping)" if clip else "") + (" and the optimizer's state"
                                                                       if state_header else "")
                   + ", to its value at step k."
                   + ("" if len(listed) == tr.steps else
                      f" Updates {listed[TABLE_STEPS // 2] + 1} to {listed[TABLE_STEPS // 2 + 1] - 1} "
                      f"are left out here; Training.value, .grad and .state give every one.")))
    for k in listed:
        before, after = records[k - 1], records[k]
        scaled = [c for c in before.clipped if c[0] == "norm"]
        note, math = "", (Value(before.values[output]), Value(after.values[output]))
        if scaled and not both:
            note, math = "; the gradient clipped: scaled by {2}", math + (Value(scaled[0][2] / scaled[0][1]),)
        s.say(Sentence(f"Update {k} (loss {{0}} at step {k - 1}, {{1}} at step {k}{note}):", math))
        head = ["parameter", f"at step {k - 1}", "gradient" if not clip or both else "gradient used"]
        if both:
            head.append("clipped")
        head += [shown_name for _, shown_name in state_header]
        head.append(f"at step {k}")
        body = []
        for p in tr.params:
            row = [symbol(p), cell(k, p, "prev", before.values[p]),
                   cell(k, p, "g", before.grads[p]) if both or not clip else cell(k, p, "used", before.used[p])]
            if both:
                row.append(cell(k, p, "used", before.used[p]))
            row += [cell(k, p, key, after.state[p][key]) for key, _ in state_header]
            row.append(cell(k, p, "new", after.values[p]))
            body.append(row)
        s.tabulate(head, body)
        beyond = sorted({(p, column) for (step, p, column, _) in unredone if step == k},
                        key=lambda pc: (tr.params.index(pc[0]), pc[1]))
        if beyond:  # mostly a difference of nearly equal numbers: said, so that no one redoes it in vain
            names = " and ".join(f"{{{i}}}" for i in range(len(beyond)))
            s.say(Sentence(f"Here {names} at step {k} "
                           + ("follows" if len(beyond) == 1 else "follow")
                           + " from the row's numbers only with more digits than the table shows"
                           ": each is the unrounded value, rounded.",
                           tuple(symbol(p) for p, _ in beyond)))
    sections.append(s)
    return sections
