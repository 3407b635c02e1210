"""The document of a training run: the setup, step 1 derived in full (the single-step worked
solution), the optimizer's update rule derived once with step 1's numbers, a table per step, the
loss curve and observations computed from the run."""
from __future__ import annotations

import copy

import sympy as sp

from ..core.derivation import Chain, Note, Partial, Product, Sum, Value, Vector
from ..core.notation import Nabla, Norm
from ..core.functions import Sentence
from ..rendering.blocks import Content, Section
from ..solutions.content import build
from .optimizers import B1, B2, ETA, G_T, LAM, THETA, rule_symbol
from .observations import observations

TABLE_STEPS = 8  # per-step tables shown in full; longer runs show the first and last ones

_G = sp.Symbol("g₁", real=True)


def _rate(tr):
    rates = list(dict.fromkeys(tr.hyper.lr.values()))
    return rates[0] if len(rates) == 1 else None


def training_content(tr, figure: str | None = None) -> Content:
    ex, h, opt = tr.example, tr.hyper, tr.optimizer
    symbols = ex.graph.symbols
    title = f"{ex.title or 'Training ' + ex.output}: {tr.steps} step{'s' if tr.steps != 1 else ''} of {opt.title}"
    sections = []

    # 1. The setup.
    s = Section("The training run")
    rate = _rate(tr)
    parts = [f"Starting from the given values, {tr.steps} update{'s' if tr.steps != 1 else ''} of "
             f"{opt.title} (the rule of PyTorch's {opt.torch}, in exact arithmetic)"]
    math = []
    if rate is not None:
        parts.append(" with learning rate {0}")
        math.append(Chain(ETA, "=", Value(rate)))
    s.say(Sentence("".join(parts) + ". Step k shows the values after k updates; update k uses the "
                   "gradient at step k − 1.", tuple(math)))
    if rate is None:
        s.say(Sentence("Each parameter has its own learning rate:"))
        s.tabulate(["parameter", "learning rate"], [[symbols[p], Value(h.lr[p])] for p in ex.params])
    hyper = _hyper_rows(tr)
    if hyper:
        s.tabulate(["hyperparameter", "value"], hyper)
    sections.append(s)

    # 2. Step 1 in full: the single-step worked solution at the starting values.
    first = copy.copy(ex)
    plain = opt.name == "sgd" and h.momentum == 0 and h.weight_decay == 0 and not tr.records[0].clipped
    first.lr = rate if plain and rate is not None else None  # its update section is update 1 exactly
    worked = build(first)
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
    sections.append(_rule_section(tr))

    # 4. Tables: the loss per step, then one table per step.
    sections.extend(_tables(tr))

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
    h, name = tr.hyper, tr.optimizer.name
    rows = []
    if h.momentum != 0:
        rows.append(["momentum μ", Value(h.momentum)])
    if h.nesterov:
        rows.append(["Nesterov", "yes"])
    if name == "rmsprop":
        rows.append(["α (average of g²)", Value(h.alpha)])
    if name in ("adam", "adamw"):
        rows.append([Vector((B1, B2), brackets=False),
                     Vector((Value(h.beta1), Value(h.beta2)), brackets=False)])
    if name in ("rmsprop", "adam", "adamw", "adagrad"):
        rows.append(["ε", Value(h.eps)])
    if h.weight_decay != 0:
        kind = "decoupled: θ(1 − ηλ)" if tr.optimizer.decoupled_decay else "L2: adds λθ to the gradient"
        rows.append([f"weight decay λ ({kind})", Value(h.weight_decay)])
    if h.clip_value is not None:
        rows.append(["clip each gradient component to ±c", Value(h.clip_value)])
    if h.clip_norm is not None:
        rows.append(["clip the gradient norm to at most c", Value(h.clip_norm)])
    return rows


def _rule_section(tr) -> Section:
    ex, h, opt = tr.example, tr.hyper, tr.optimizer
    s = Section(f"The update rule: {opt.title}")
    s.say(Sentence("For every parameter {0} with gradient {1} at update t (t = 1, 2, …), starting "
                   "from zero state:", (THETA, G_T)))
    for lhs, rule in opt.rule(h):
        s.show(Chain(lhs, "=", rule))
    if opt.name in ("adam", "adamw"):
        s.say(Sentence("The moments start at 0, so early averages are biased towards 0; dividing by "
                       "{0} and {1} corrects that (both tend to 1 as t grows).",
                       tuple(sp.Add(1, -sp.Pow(b, sp.Symbol("t"), evaluate=False), evaluate=False)
                             for b in (B1, B2))))
    if h.weight_decay != 0 and not opt.decoupled_decay:
        s.say(Sentence("Weight decay enters as L2 regularisation in the gradient: {0}.",
                       (Chain(G_T, "=", Sum((Partial(ex.output, THETA.name), Product((LAM, rule_symbol("θₜ₋₁")))))),)))
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
    focus = ex.focus if ex.focus in ex.params else ex.params[0]
    if not record.worked:
        return s
    g_raw = record.grads[focus]
    g_used = record.used[focus]
    s.say(Sentence("Update 1 with the numbers, for {0}:", (ex.graph.symbols[focus],)))
    if h.weight_decay != 0 and not opt.decoupled_decay:
        g = g_used + h.weight_decay * record.values[focus]
        first = Partial(ex.output, focus) if g_used == g_raw else sp.Symbol("g_clipped")
        s.show(Chain(_G, "=", Sum((first, Product((LAM, ex.graph.symbols[focus])))), "=",
                     Sum((Value(g_used), Product((Value(h.weight_decay), Value(record.values[focus]))))),
                     "=", Value(g)))
    elif g_used != g_raw:
        s.show(Chain(_G, "=", Value(g_used), Note("clipped")))
    else:
        s.show(Chain(_G, "=", Partial(ex.output, focus), "=", Value(g_raw)))
    for line in record.worked:
        s.show(line.chain())
    if opt.name in ("adam", "adamw"):
        s.say(Sentence("At t = 1 the bias corrections undo the averaging exactly: {0} and {1}, so the "
                       "first step moves every parameter by about η in the direction of −g, whatever "
                       "the gradient's size.", (Chain(rule_symbol("m̂₁"), "=", _G),
                                                 Chain(rule_symbol("v̂₁"), "=", _G ** 2))))
    return s


def _state_header(tr):
    """(state key, column heading) per state entry: the state after the update."""
    return [(key, sp.Symbol(short)) for key, short, _ in tr.optimizer.state_names(tr.hyper)]


def _tables(tr) -> list:
    ex, records = tr.example, tr.records
    symbols = ex.graph.symbols
    output = ex.output
    clip = tr.hyper.clip_norm is not None or tr.hyper.clip_value is not None
    both = tr.hyper.clip_value is not None  # by value: show the raw and the clipped gradient
    s = Section("The loss at every step")
    header = ["step", symbols[output], Norm(Nabla(symbols[output]))]
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
    shown = list(range(1, tr.steps + 1))
    if len(shown) > TABLE_STEPS:
        shown = shown[:TABLE_STEPS // 2 + 1] + shown[-(TABLE_STEPS // 2 - 1):]
    state_header = _state_header(tr)
    s = Section("Step by step")
    s.say(Sentence("Update k takes each parameter from its value at step k − 1, with the gradient "
                   "there" + (" (after clipping)" if clip else "") + (" and the optimizer's state"
                                                                       if state_header else "")
                   + ", to its value at step k."
                   + ("" if len(shown) == tr.steps else
                      f" Updates {shown[TABLE_STEPS // 2] + 1} to {shown[TABLE_STEPS // 2 + 1] - 1} "
                      f"are left out here; Training.value, .grad and .state give every one.")))
    for k in shown:
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
        for p in ex.params:
            row = [symbols[p], Value(before.values[p]),
                   Value(before.grads[p] if both or not clip else before.used[p])]
            if both:
                row.append(Value(before.used[p]))
            row += [Value(after.state[p].get(key, sp.S.Zero)) for key, _ in state_header]
            row.append(Value(after.values[p]))
            body.append(row)
        s.tabulate(head, body)
    sections.append(s)
    return sections
