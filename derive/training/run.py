"""Training over several steps: ``Example.train(...)`` -> ``Training``.

Exact but fast. Every step re-evaluates the *same* graph at the new parameter values (a new
``Evaluation``), and every number a step produces — forward values, gradients, optimizer state, new
parameters — is settled into a Rational or a ``Quantity``: an exact number *defined* by the previous
step's numbers, with its high-precision approximation computed once. Nothing is re-composed, so
the 20th step costs what the first does (a hand-written loop over SymPy expressions grows with
every step: 0.6 s, 6 s, 86 s). Rational runs stay rational (4 → 0 → 0 below); rationals whose
digits grow without bound (a polynomial loss under SGD) become Quantity atoms too, still exact.

>>> from derive import neuron
>>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.1)
>>> tr.loss, tr.value("w", 1), tr.value("b", 1)
([4, 0, 0], 11/5, 3/5)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import sympy as sp
from sympy import S

from ..core.approx import Undefined, approx
from ..core.derivation import Value
from ..core.engine import Evaluation, Quantity, compact, gc_paused, public_form
from ..core.errors import DeriveError, InvalidValue
from ..core.functions import Sentence
from ..core.numbers import format_number, to_exact
from ..rendering.blocks import Content, Section
from ..rendering.printing import latex_name
from .optimizers import COMMON, LEARNING_RATE, OPTIMIZERS, Exact, latex_names, options, takers
from .observations import observations

MAX_STEPS = 10_000
MAX_RATIONAL_BITS = 4096  # a rational with more bits than this is kept as an exact atom instead


def settle(label: str, expr) -> sp.Expr:
    """``expr`` as an exact number that stays small: a Rational, or a Quantity atom defined by
    ``expr`` (whose own atoms are the previous step's numbers)."""
    value = expr.atom(label) if isinstance(expr, Exact) else compact(label, expr if isinstance(expr, sp.Basic) else to_exact(expr, label))
    if value.is_Rational and int(value.p).bit_length() + int(value.q).bit_length() > MAX_RATIONAL_BITS:
        return Quantity(label, value, approx(value))
    return value


@dataclass(frozen=True)
class Hyper:
    """The hyperparameters of a run, exact: ``lr`` per trained parameter, and every other
    hyperparameter by name (the optimizer's own and the common ones; None where unset)."""

    lr: dict
    values: dict

    def __getitem__(self, name: str):
        return self.values[name]

    def __getattr__(self, name: str):
        values = self.__dict__.get("values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(name)


def _rate(value, what: str):
    return LEARNING_RATE.check(value, what)


def hyperparameters(ex, spec, trained: list, lr, given: dict) -> Hyper:
    """Validate and make exact, from the entry's declarations; every error names the option and
    how to fix it."""
    base = ex.lr if ex.lr is not None else spec.default_lr
    if isinstance(lr, dict):
        unknown = [k for k in lr if k not in trained]
        if unknown:
            raise DeriveError(f"lr: {', '.join(map(repr, unknown))} "
                              f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'}; "
                              f"the parameters are: {', '.join(trained)}")
        missing = [p for p in trained if p not in lr]
        if missing and ex.lr is None:
            raise DeriveError(f"lr: no learning rate for {', '.join(missing)}; give every parameter "
                              f"one (e.g. lr={{{missing[0]!r}: 0.1, …}}) or one number for all")
        rates = {p: _rate(lr[p], f"lr[{p}]") if p in lr else ex.lr for p in trained}
    else:
        rate = base if lr is None else _rate(lr, "lr")
        rates = {p: rate for p in trained}
    declared = {hp.name: hp for hp in spec.hyperparameters + COMMON[1:]}
    for name in given:
        if name not in declared:
            known = [hp.name for hp in options()]
            if name not in known:
                raise DeriveError(f"unknown option {name!r} for training; the options are: steps, "
                                  f"optimizer, {', '.join(known)}")
            raise DeriveError(f"{name} applies to {_listing(takers(name))}, not {spec.name}; "
                              f"{spec.name} takes: {', '.join(hp.name for hp in spec.hyperparameters) or 'lr only'}")
    values = {}
    for name, hp in declared.items():
        value = given.get(name)
        values[name] = hp.default if value is None else hp.check(value, name)
    if spec.check is not None:
        spec.check(values)
    return Hyper(lr=rates, values=values)


def _listing(names: list) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _entries(value) -> tuple:
    """(shape, entries row by row) of an exact number, Tensor or matrix: () and one entry for a number."""
    a = getattr(value, "a", None)
    if a is not None:  # the tensor engine's Tensor
        if value.shape == ():
            return (), (value.item(),)
        return tuple(a.shape), tuple(a.ravel().tolist())
    if isinstance(value, sp.MatrixBase):
        return tuple(value.shape), tuple(value)
    return (), (value,)


def _shaped(shape: tuple, entries):
    """Entries back in their shape: a number, or an immutable SymPy matrix."""
    if shape == ():
        return entries[0]
    return sp.ImmutableMatrix(shape[0], shape[1], list(entries))


class _TensorValues(Mapping):
    """Every input's and node's value at one step of a tensor example, converted when read."""

    def __init__(self, example):
        self.example = example
        self.names = list(example.inputs) + list(example.nodes)
        self.cache = {}

    def __getitem__(self, name):
        if name not in self.cache:
            if name not in self.names:
                raise KeyError(name)
            self.cache[name] = _shaped(*_entries(self.example.tensor(name)))
        return self.cache[name]

    def __iter__(self):
        return iter(self.names)

    def __len__(self):
        return len(self.names)


@dataclass(frozen=True)
class Point:
    """The example evaluated at one step's values: every value, and the gradients of the loss
    with respect to the trained parameters (entries row by row)."""

    values: Mapping
    grads: dict  # parameter -> tuple of entries
    example: object  # the example at these values (tensor examples), else None
    evaluation: object = None  # the scalar engine's Evaluation (scalar examples)

    def grad(self, name: str, output: str):
        """∂output/∂name, public form (a matrix for a tensor)."""
        if self.example is not None:
            return self.example.grad(name)
        return public_form(self.evaluation.grad(name, output))


class Trainable:
    """What a run needs of an example, scalar or tensor: the parameters it trains (a tensor
    example's base tensors), their shapes, and the example re-evaluated at new values — through
    the example's public methods (a tensor example is rebuilt at the new values)."""

    def __init__(self, ex):
        self.ex = ex
        self.tensor = ex.matrices  # values and gradients are matrices (TensorExample)
        aliases = getattr(ex, "aliases", None) or {}
        self.aliases = dict(aliases)
        trained = [aliases[p][0] if p in aliases else p for p in ex.params]
        self.params = list(dict.fromkeys(trained))
        self.first = self.at(None)
        self.shapes = {p: _entries(self._start(p))[0] for p in self.params}

    def shaped(self, per_param: dict) -> dict:
        """parameter -> its entries in its shape (a number, or a matrix)."""
        return {p: _shaped(self.shapes[p], entries) for p, entries in per_param.items()}

    def shaped_state(self, state: dict) -> dict:
        return {p: {key: _shaped(self.shapes[p], entries) for key, entries in s.items()}
                for p, s in state.items()}

    def _start(self, name):
        return self.ex.tensor(name) if self.tensor else self.ex.evaluation.values[name]

    def start(self, name) -> tuple:
        return _entries(self._start(name))[1]

    def at(self, params: dict | None) -> Point:
        ex = self.ex
        if not self.tensor:
            if params is None:
                evaluation = ex.evaluation
            else:
                values = {n: ex.evaluation.values[n] for n in ex.graph.inputs}
                values.update({p: entries[0] for p, entries in params.items()})
                evaluation = Evaluation(ex.graph, values)
            grads = {p: (evaluation.grad(p, ex.output),) for p in self.params}
            return Point(MappingProxyType(evaluation.values), grads, None, evaluation)
        if params is None:
            here = ex
        else:
            given = {n: ex.tensor(n) for n in ex.inputs if n not in params}
            for p, entries in params.items():
                shape = self.shapes[p]
                given[p] = entries[0] if shape == () else [list(entries[i * shape[1]:(i + 1) * shape[1]])
                                                           for i in range(shape[0])]
            here = type(ex)(ex.graph, given, params=self.params)
        grads = {p: _entries(here.grad_tensor(p))[1] for p in self.params}
        return Point(_TensorValues(here), grads, here)


@dataclass(frozen=True)
class StepRecord:
    """Step k: the example at the parameters after k updates, its gradients, and the optimizer
    state after k updates. ``norm``/``clipped`` describe the gradient used by update k + 1.
    A tensor parameter's values are matrices."""

    point: Point
    grads: dict  # parameter -> gradient (a number, or a matrix of the parameter's shape)
    state: dict  # parameter -> {state key: value}
    norm: sp.Expr
    used: dict | None = None  # the gradient after clipping (None at the last step)
    clipped: tuple = ()  # ("norm", norm, threshold) and/or ("value", [params], threshold)
    envs: tuple = ()  # the focus parameter's update k + 1, per entry: {rule symbol: number}

    @property
    def values(self):
        """Every input's and node's exact value at this step, read-only (a matrix for a tensor):
        what documents show (they never reach into the evaluation)."""
        return self.point.values

    @property
    def evaluation(self):
        """The scalar engine's evaluation at this step (scalar examples)."""
        return self.point.evaluation


def train(ex, steps, optimizer="sgd", lr=None, **options) -> "Training":
    """Run ``steps`` updates of ``optimizer`` from the example's values; see ``Example.train``.
    ``options`` are the optimizer's hyperparameters and the common ones (weight_decay,
    clip_norm, clip_value), as its registry entry declares them."""
    if ex.symbolic:
        raise DeriveError("training needs values: give the example values=… (it is symbolic)")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= MAX_STEPS:
        raise DeriveError(f"steps must be a whole number from 0 to {MAX_STEPS}, got {steps!r}")
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise DeriveError(f"unknown optimizer {optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    spec = OPTIMIZERS[optimizer.lower()]
    if not ex.params:
        raise DeriveError("the example has no parameters to train; name them with params=[…]")
    model = Trainable(ex)
    hyper = hyperparameters(ex, spec, model.params, lr, options)
    values = {p: model.start(p) for p in model.params}
    state = {p: {} for p in model.params}
    focus = ex.focus if getattr(ex, "focus", None) in model.params else model.params[0]
    records = []
    point = model.first
    decay = hyper.weight_decay if spec.decay == "l2" else S.Zero
    prepared = spec.prepare(hyper.values)
    with gc_paused():
        for t in range(steps + 1):
            if t > 0:
                try:
                    point = model.at(values)
                except InvalidValue as e:
                    raise InvalidValue(f"step {t}: {e}") from None
            grads = point.grads
            norm = _norm(grads)
            before = _copy_state(state)  # the state after t updates belongs to step t
            if t == steps:
                records.append(StepRecord(point, model.shaped(grads), model.shaped_state(before), norm))
                break
            used, clipped = _clip(grads, norm, hyper)
            envs = ()
            try:
                for p in model.params:
                    new_values, new_state, kept = [], {}, []
                    for i, (theta, g) in enumerate(zip(values[p], used[p])):
                        if decay != 0:  # L2, as PyTorch: g + λθ
                            g = settle(f"g[{p}]", Exact(g) + decay * Exact(theta))
                        entry_state = {key: entries[i] for key, entries in state[p].items()}
                        new, after, env = spec.update(theta, g, entry_state, hyper.values, hyper.lr[p],
                                                      t + 1, settle, p, prepared)
                        new_values.append(new)
                        for key, v in after.items():
                            new_state.setdefault(key, []).append(v)
                        if t == 0 and p == focus:
                            kept.append(env)
                    values[p] = tuple(new_values)
                    state[p] = {key: tuple(v) for key, v in new_state.items()}
                    if kept:
                        envs = tuple(kept)
            except Undefined as e:
                raise InvalidValue(f"step {t + 1}: the {spec.title} update is undefined ({e}); "
                                  f"use eps > 0 or another learning rate") from None
            records.append(StepRecord(point, model.shaped(grads), model.shaped_state(before), norm,
                                      model.shaped(used), clipped, envs))
    return Training(ex, spec, hyper, steps, records, model, focus)


def _norm(grads: dict) -> sp.Expr:
    """‖g‖ = √(Σ g²) over every entry of every parameter, exact."""
    total = Exact(S.Zero)
    for entries in grads.values():
        for g in entries:
            total = total + Exact(g) ** 2
    return settle("‖g‖", total.sqrt())


def _copy_state(state: dict) -> dict:
    return {p: dict(s) for p, s in state.items()}


def _clip(grads: dict, norm, hyper: Hyper):
    """Clip by value (each component into [−c, c]), then by global norm (like
    ``torch.nn.utils.clip_grad_norm_``, without its 1e-6 added to the norm: exact g·c/‖g‖)."""
    used, clipped = dict(grads), []
    if hyper.clip_value is not None:
        c = hyper.clip_value
        hit = []
        for p, entries in used.items():
            capped = []
            for g in entries:
                a = approx(g)
                capped.append(c if a > c else -c if a < -c else g)
            if any(a is not b for a, b in zip(capped, entries)):
                used[p] = tuple(capped)
                hit.append(p)
        if hit:
            clipped.append(("value", tuple(hit), c))
        norm = _norm(used)
    if hyper.clip_norm is not None and approx(norm) > hyper.clip_norm:
        scale = Exact(hyper.clip_norm) / Exact(norm)
        used = {p: tuple(settle(f"clip[{p}]", Exact(g) * scale) for g in entries)
                for p, entries in used.items()}
        clipped.append(("norm", norm, hyper.clip_norm))
    return used, tuple(clipped)


def _public(value):
    """The public form of an exact number, or of every entry of a matrix."""
    if isinstance(value, sp.MatrixBase):
        return sp.Matrix(value.shape[0], value.shape[1], [public_form(e) for e in value])
    return public_form(value)


def _float(value) -> float:
    """For plots: the approximation as a float, huge values capped (a diverging loss stays drawable)."""
    x = approx(value)
    return float(max(min(x, 1e300), -1e300))


class Training:
    """A run of ``steps`` optimizer updates: exact losses, parameters, gradients and optimizer
    state at every step (step 0 is the start), documents and a plot.

    >>> from derive import neuron
    >>> tr = neuron(x=2, w=3, b=1, y=5, activation="sigmoid").train(3, optimizer="adam", lr=0.1)
    >>> len(tr.loss), sorted(tr.state("w", 1))
    (4, ['m', 'v'])
    """

    def __init__(self, example, optimizer, hyper: Hyper, steps: int, records: list,
                 model: Trainable | None = None, focus: str | None = None):
        self.example = example
        self.optimizer = optimizer
        self.hyper = hyper
        self.steps = steps
        self.records = records
        self.model = model or Trainable(example)
        self.focus = focus or self.model.params[0]
        self.precision = 4

    # --- numbers ---------------------------------------------------------------------------

    @property
    def params(self) -> list:
        """The parameters the run updates (the example's; a tensor example's whole tensors), in order.

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.params
        ['w', 'b']
        """
        return list(self.model.params)

    def shape(self, name: str) -> tuple:
        """A trained parameter's shape: () for a number, (rows, columns) for a matrix.

        >>> from derive import neuron
        >>> neuron(x=2, w=3, b=1, y=5, activation="relu").train(1, lr=0.01).shape("w")
        ()
        """
        return self.model.shapes[name]

    @property
    def loss(self) -> list:
        """The loss at steps 0 … steps, exact.

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.loss
        [4, 81/25, 6561/2500]
        """
        output = self.example.output
        return [public_form(r.values[output]) for r in self.records]

    def _record(self, step) -> StepRecord:
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= self.steps:
            raise DeriveError(f"step must be a whole number from 0 to {self.steps}, got {step!r}")
        return self.records[step]

    def _name(self, name: str):
        ex = self.example
        known = list(ex.inputs) + list(ex.nodes)
        if name not in known and name not in self.model.aliases:
            raise DeriveError(f"unknown name {name!r}; known names: {', '.join(known)}")

    def _alias(self, name: str, whole):
        """One entry of a matrix for a scalar alias (w1_2_1 -> W1[1, 0]), else the value itself."""
        if name in self.model.aliases:
            _, i, j = self.model.aliases[name]
            return whole[i, j] if isinstance(whole, sp.MatrixBase) else whole
        return whole

    def _base(self, name: str) -> str:
        return self.model.aliases[name][0] if name in self.model.aliases else name

    def value(self, name: str, step: int) -> sp.Expr:
        """Exact value of a parameter, input or node at ``step`` (after ``step`` updates); a
        ``sympy.Matrix`` for a tensor.

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.value("w", 1)
        73/25
        """
        self._name(name)
        record, base = self._record(step), self._base(name)
        if record.point.example is not None:  # the example at this step's values, as it shows them
            return self._alias(name, record.point.example.value(base))
        return self._alias(name, _public(record.values[base]))

    def grad(self, name: str, step: int) -> sp.Expr:
        """Exact ∂loss/∂name at ``step`` (before clipping; the gradient update step + 1 uses); a
        ``sympy.Matrix`` for a tensor.

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.grad("w", 1)
        36/5
        """
        self._name(name)
        record, base = self._record(step), self._base(name)
        if base in record.grads and record.point.example is None:
            return self._alias(name, _public(record.grads[base]))
        return self._alias(name, record.point.grad(base, self.example.output))

    def state(self, name: str, step: int) -> dict:
        """The optimizer's state for parameter ``name`` after ``step`` updates: velocity (momentum),
        ``m`` and ``v`` (Adam's moments), ``square_avg`` (RMSprop), ``sum`` (Adagrad); {} for SGD.
        Matrices for a tensor parameter.

        >>> from derive import neuron
        >>> neuron(x=2, w=3, b=1, y=5, activation="relu").train(1, optimizer="momentum", momentum=0.9, lr=0.01).state("w", 1)
        {'velocity': 8}
        """
        self._name(name)
        base = self._base(name)
        if base not in self.params:
            raise DeriveError(f"{name!r} is not a parameter; the parameters are: {', '.join(self.params)}")
        held = self._record(step).state[base]
        zero = _shaped(self.shape(base), [S.Zero] * max(1, sp.prod(self.shape(base))))
        return {s.key: self._alias(name, _public(held.get(s.key, zero)))
                for s in self.optimizer.carried(self.hyper.values)}

    def gradient_norm(self, step: int) -> sp.Expr:
        """‖∇L‖ over every parameter at ``step`` (before clipping).

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.gradient_norm(0)
        4*sqrt(5)
        """
        return public_form(self._record(step).norm)

    # --- documents -------------------------------------------------------------------------

    def content(self, figure: str | None = None, precision: int | None = None) -> Content:
        """The document as content blocks; ``figure`` names the loss-curve image to include;
        ``precision``: the digits it will be printed with (a table's row shows the digits its
        update needs to be redone).

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.content().title
        'Backpropagation through one ReLU neuron: 2 steps of SGD'
        """
        from .document import training_content
        return training_content(self, figure, self.precision if precision is None else precision)

    def render(self, fmt: str, precision: int | None = None, fragment: bool = False,
               figure: str | None = None, exact: bool = False, notes: bool = False,
               section_level="section") -> str:
        """The document in one format ("markdown", "latex", "text"); ``figure`` is the file name
        of the loss curve (``plot``) to include; ``exact`` also shows exact forms; ``notes`` the
        remarks for the lecturer; ``section_level``: the headings' depth ("subsection" nests a
        fragment under a section).

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.render("text") == tr.to_text()
        True
        """
        from ..rendering.formats import render_content
        precision = self.precision if precision is None else precision
        if isinstance(precision, bool) or not isinstance(precision, int) or not 1 <= precision <= 30:
            raise DeriveError(f"precision must be a whole number from 1 to 30, got {precision!r}")
        with gc_paused():
            return render_content(self.content(figure, precision), fmt, names=self.latex_names(),
                                  precision=precision, fragment=fragment, exact=exact, notes=notes, level=section_level)

    def latex_names(self) -> dict:
        """LaTeX for every name the document prints: the rule's symbols (η, β₁, m̂ₜ …), the
        example's names and each parameter's updated value.

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, optimizer="adam", lr=0.01)
        >>> print(tr.latex_names()["w_new"], tr.latex_names()["β₁"])
        {w}_{\\mathrm{new}} \\beta_{1}
        """
        names = latex_names(self.optimizer, self.hyper.values)
        own = dict(getattr(self.example, "latex_names", None) or {})
        names.update(own)
        for p in self.params:
            base = latex_name(p, own)
            names[f"{p}_new"] = f"{{{base}}}_{{\\mathrm{{new}}}}"
        return names

    def to_markdown(self, precision: int | None = None, figure: str | None = None) -> str:
        """The document as Markdown with $…$ math.

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.to_markdown().startswith("# Backpropagation through one ReLU neuron")
        True
        """
        return self.render("markdown", precision, figure=figure)

    def to_latex(self, precision: int | None = None, fragment: bool = False,
                 figure: str | None = None) -> str:
        """The document as LaTeX (``fragment=True``: the body only).

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> "begin{document}" in tr.to_latex()
        True
        """
        return self.render("latex", precision, fragment, figure)

    def to_text(self, precision: int | None = None, figure: str | None = None) -> str:
        """The document as plain text (also ``str(training)``).

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> "The loss at every step" in tr.to_text()
        True
        """
        return self.render("text", precision, figure=figure)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        first, last = self.records[0], self.records[-1]
        output = self.example.output
        return (f"<derive.Training {self.optimizer.name}, {self.steps} steps: {output} "
                f"{format_number(first.values[output])} → "
                f"{format_number(last.values[output])}>")

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self):
        from ..rendering.formats import FORMATS
        return self.render("html") if "html" in FORMATS else None

    # --- plot ------------------------------------------------------------------------------

    def plot(self, path=None):
        """The loss curve (left) and the parameters — or, for more than six or for matrices, the
        gradient norm — per step (right). A matplotlib ``Figure`` on the Agg canvas (pyplot and the global backend
        are left alone); saved to ``path`` (.png, .pdf, .svg) when given.

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> len(tr.plot().axes)
        2
        """
        figure = new_figure(2)
        left, right = figure.axes
        steps = list(range(self.steps + 1))
        output = self.example.output
        losses = [_float(r.values[output]) for r in self.records]
        loss_axes(left, steps, {f"{self.optimizer.title}": losses}, output)
        if len(self.params) <= 6 and all(self.shape(p) == () for p in self.params):
            for p in self.params:
                right.plot(steps, [_float(r.values[p]) for r in self.records], label=p,
                           marker="o" if self.steps <= 30 else None, markersize=3, linewidth=1.6)
            right.set_title("parameters", fontsize=10)
            right.ticklabel_format(axis="y", useOffset=False)
            right.legend(fontsize=8)
        else:
            norms = [_float(r.norm) for r in self.records]
            right.plot(steps, norms, marker="o" if self.steps <= 30 else None, markersize=3, linewidth=1.6)
            right.set_title("gradient norm ‖∇L‖", fontsize=10)
            if all(n > 0 for n in norms):
                right.set_yscale("log")
        from matplotlib.ticker import MaxNLocator
        right.xaxis.set_major_locator(MaxNLocator(integer=True))
        right.set_xlabel("step")
        right.grid(True, alpha=0.3)
        figure.suptitle(f"{self.example.title or 'Training'}: {self.optimizer.title}, "
                        f"{self.steps} steps", fontsize=11)
        if path is not None:
            save_figure(figure, path)
        return figure


def new_figure(panels: int):
    """A Figure with its own Agg canvas (never pyplot, never the global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(4.6 * panels if panels > 1 else 6.4, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    figure.subplots(1, panels)
    return figure


def loss_axes(ax, steps, curves: dict, output: str):
    for label, losses in curves.items():
        ax.plot(steps, losses, label=label, marker="o" if len(steps) <= 31 else None, markersize=3,
                linewidth=1.6)
    positive = [x for c in curves.values() for x in c if x > 0]
    if positive and all(x > 0 for c in curves.values() for x in c) and max(positive) / min(positive) > 100:
        ax.set_yscale("log")
    else:
        ax.ticklabel_format(axis="y", useOffset=False)  # 16.0072, not +1.6007e1 and 0.00002
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.set_title(f"loss {output}", fontsize=10)
    ax.grid(True, alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)


def save_figure(figure, path) -> str:
    """Save deterministically (no timestamps or software versions in the file), atomically."""
    from ..io.files import save_figure as save
    return save(figure, path)


class TrainingComparison:
    """Several runs side by side (the same steps): a loss table with one column per run, the loss
    curves in one plot, and each run's observations.

    >>> from derive import neuron
    >>> runs = {a: neuron(x=2, w=3, b=1, y=5, activation=a).train(2, lr=0.1) for a in ["relu", "sigmoid"]}
    >>> TrainingComparison("ReLU vs sigmoid", runs).losses()["relu"]
    [4, 0, 0]
    """

    def __init__(self, title: str, runs: dict, description: str = ""):
        if not runs:
            raise DeriveError("compare at least one training run")
        steps = {tr.steps for tr in runs.values()}
        if len(steps) != 1:
            raise DeriveError(f"the runs have different numbers of steps ({sorted(steps)}); train each "
                              f"for the same number")
        self.title, self.runs, self.description = title, dict(runs), description
        self.steps = steps.pop()

    def losses(self) -> dict:
        return {label: tr.loss for label, tr in self.runs.items()}

    def content(self, figure: str | None = None) -> Content:
        s = Section("The runs")
        if self.description:
            s.say(Sentence(self.description))
        for label, tr in self.runs.items():
            rates = sorted(set(tr.hyper.lr.values()), key=approx)
            clip = (f", gradient norm clipped to {format_number(tr.hyper.clip_norm)}"
                    if tr.hyper.clip_norm is not None else "")
            s.bullet(Sentence(f"{label}: {tr.example.title or tr.example.output}, {tr.optimizer.title} "
                              f"with learning rate {', '.join(format_number(r) for r in rates)}{clip}."))
        sections = [s]
        s = Section("The loss, step by step")
        outputs = {label: tr.example.output for label, tr in self.runs.items()}
        header = ["step"] + [f"{label}: {outputs[label]}" for label in self.runs]
        rows = [[str(k)] + [Value(tr.records[k].values[tr.example.output])
                            for tr in self.runs.values()] for k in range(self.steps + 1)]
        s.tabulate(header, rows)
        sections.append(s)
        if figure:
            s = Section("The loss curves")
            s.figure(figure, "Loss per step, one curve per run")
            sections.append(s)
        for label, tr in self.runs.items():
            obs = observations(tr)
            if obs:
                s = Section(f"What the run shows: {label}")
                for o in obs:
                    s.bullet(o)
                sections.append(s)
        return Content(self.title, sections)

    def render(self, fmt: str, precision: int = 4, fragment: bool = False, figure: str | None = None,
               notes: bool = False) -> str:
        from ..rendering.formats import render_content
        names = {}
        for tr in self.runs.values():
            names.update(tr.latex_names())
        with gc_paused():
            return render_content(self.content(figure), fmt, names=names, precision=precision,
                                  fragment=fragment, notes=notes)

    def to_markdown(self, figure: str | None = None) -> str:
        return self.render("markdown", figure=figure)

    def to_latex(self, figure: str | None = None) -> str:
        return self.render("latex", figure=figure)

    def to_text(self, figure: str | None = None) -> str:
        return self.render("text", figure=figure)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def plot(self, path=None):
        """Every run's loss curve in one panel (a Figure on the Agg canvas)."""
        figure = new_figure(1)
        ax = figure.axes[0]
        steps = list(range(self.steps + 1))
        curves = {label: [_float(r.values[tr.example.output]) for r in tr.records]
                  for label, tr in self.runs.items()}
        loss_axes(ax, steps, curves, "per step")
        figure.suptitle(self.title, fontsize=11)
        if path is not None:
            save_figure(figure, path)
        return figure
