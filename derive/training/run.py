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
from .optimizers import LATEX_NAMES, OPTIMIZERS, Exact, Hyper
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


def _number(value, what: str, positive=False, nonnegative=False, below_one=False) -> sp.Expr:
    exact = to_exact(value, what)
    if positive and not exact > 0:
        raise DeriveError(f"{what} must be positive, got {format_number(exact)}")
    if nonnegative and exact < 0:
        raise DeriveError(f"{what} must be ≥ 0, got {format_number(exact)}")
    if below_one and not (0 <= exact < 1):
        raise DeriveError(f"{what} must be in [0, 1), got {format_number(exact)}")
    return exact


def hyperparameters(ex, optimizer: str, lr, momentum, nesterov, alpha, betas, eps, weight_decay,
                    clip_norm, clip_value) -> Hyper:
    """Validate and make exact; every error names the option and how to fix it."""
    spec = OPTIMIZERS[optimizer]
    base = ex.lr if ex.lr is not None else spec.default_lr
    if isinstance(lr, dict):
        unknown = [k for k in lr if k not in ex.params]
        if unknown:
            raise DeriveError(f"lr: {', '.join(map(repr, unknown))} "
                              f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'}; "
                              f"the parameters are: {', '.join(ex.params)}")
        missing = [p for p in ex.params if p not in lr]
        if missing and ex.lr is None:
            raise DeriveError(f"lr: no learning rate for {', '.join(missing)}; give every parameter "
                              f"one (e.g. lr={{{missing[0]!r}: 0.1, …}}) or one number for all")
        rates = {p: _number(lr[p], f"lr[{p}]", positive=True) if p in lr else ex.lr for p in ex.params}
    else:
        rate = base if lr is None else _number(lr, "lr", positive=True)
        rates = {p: rate for p in ex.params}
    if isinstance(nesterov, str) or not isinstance(nesterov, bool):
        raise DeriveError(f"nesterov must be True or False, got {nesterov!r}")
    mu = _number(momentum, "momentum", below_one=True)
    if optimizer == "nesterov":
        nesterov = True
    if optimizer in ("momentum", "nesterov") and mu == 0:
        mu = sp.Rational(9, 10)  # these names mean momentum: PyTorch's usual 0.9 unless given
    if nesterov and mu == 0:
        raise DeriveError("nesterov needs momentum > 0 (as in PyTorch), e.g. momentum=0.9")
    if nesterov and optimizer not in ("sgd", "momentum", "nesterov"):
        raise DeriveError(f"nesterov applies to SGD; {optimizer} has no Nesterov variant here")
    if mu != 0 and optimizer not in ("sgd", "momentum", "nesterov", "rmsprop"):
        raise DeriveError(f"momentum applies to sgd, momentum, nesterov and rmsprop, not {optimizer}")
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise DeriveError(f"betas must be two numbers like (0.9, 0.999), got {betas!r}") from None
    return Hyper(
        lr=rates, momentum=mu, nesterov=nesterov,
        alpha=_number(alpha, "alpha", below_one=True),
        beta1=_number(b1, "betas[0]", below_one=True), beta2=_number(b2, "betas[1]", below_one=True),
        eps=_number(eps, "eps", nonnegative=True),
        weight_decay=_number(weight_decay, "weight_decay", nonnegative=True),
        clip_norm=None if clip_norm is None else _number(clip_norm, "clip_norm", positive=True),
        clip_value=None if clip_value is None else _number(clip_value, "clip_value", positive=True))


@dataclass(frozen=True)
class StepRecord:
    """Step k: the evaluation at the parameters after k updates, its gradients, and the optimizer
    state after k updates. ``norm``/``clipped`` describe the gradient used by update k + 1."""

    evaluation: Evaluation
    grads: dict
    state: dict  # parameter -> {state key: value}
    norm: sp.Expr
    used: dict | None = None  # the gradient after clipping (None at the last step)
    clipped: tuple = ()  # ("norm", norm, threshold) and/or ("value", [params], threshold)
    worked: tuple = ()  # the focus parameter's update rule with numbers (update k + 1)

    @property
    def values(self):
        """Every input's and node's exact value at this step, read-only: what documents show
        (they never reach into the evaluation)."""
        return MappingProxyType(self.evaluation.values)


def train(ex, steps, optimizer="sgd", lr=None, momentum=0, nesterov=False, alpha=0.99,
          betas=(0.9, 0.999), eps=1e-8, weight_decay=0, clip_norm=None, clip_value=None) -> "Training":
    """Run ``steps`` updates of ``optimizer`` from the example's values; see ``Example.train``."""
    if ex.symbolic:
        raise DeriveError("training needs values: give the example values=… (it is symbolic)")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= MAX_STEPS:
        raise DeriveError(f"steps must be a whole number from 0 to {MAX_STEPS}, got {steps!r}")
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise DeriveError(f"unknown optimizer {optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    optimizer = optimizer.lower()
    if not ex.params:
        raise DeriveError("the example has no parameters to train; name them with params=[…]")
    hyper = hyperparameters(ex, optimizer, lr, momentum, nesterov, alpha, betas, eps, weight_decay,
                            clip_norm, clip_value)
    spec = OPTIMIZERS[optimizer]
    graph, output, params = ex.graph, ex.output, list(ex.params)
    values = dict(ex.evaluation.values)
    values = {n: values[n] for n in graph.inputs}
    state = {p: {} for p in params}
    records = []
    evaluation = ex.evaluation
    with gc_paused():
        for t in range(steps + 1):
            if t > 0:
                try:
                    evaluation = Evaluation(graph, values)
                except InvalidValue as e:
                    raise InvalidValue(f"step {t}: {e}") from None
            grads = {p: evaluation.grad(p, output) for p in params}
            norm = _norm(grads)
            before = _copy_state(state)  # the state after t updates belongs to step t
            if t == steps:
                records.append(StepRecord(evaluation, grads, before, norm))
                break
            used, clipped = _clip(grads, norm, hyper)
            worked = ()
            try:
                for p in params:
                    g = used[p]
                    if hyper.weight_decay != 0 and not spec.decoupled_decay:
                        g = settle(f"g[{p}]", Exact(g) + hyper.weight_decay * Exact(values[p]))  # L2, as PyTorch
                    new, state[p], lines = spec.update(values[p], g, state[p], hyper, hyper.lr[p],
                                                       t + 1, settle, p)
                    if t == 0 and p == ex.focus:
                        worked = tuple(lines)
                    values[p] = new
            except Undefined as e:
                raise InvalidValue(f"step {t + 1}: the {spec.title} update is undefined ({e}); "
                                  f"use eps > 0 or another learning rate") from None
            records.append(StepRecord(evaluation, grads, before, norm, used, clipped, worked))
    return Training(ex, spec, hyper, steps, records)


def _norm(grads: dict) -> sp.Expr:
    """‖g‖ = √(Σ g²) over every parameter, exact."""
    total = Exact(S.Zero)
    for g in grads.values():
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
        for p, g in used.items():
            a = approx(g)
            if a > c or a < -c:
                used[p] = c if a > 0 else -c
                hit.append(p)
        if hit:
            clipped.append(("value", tuple(hit), c))
        norm = _norm(used)
    if hyper.clip_norm is not None and approx(norm) > hyper.clip_norm:
        scale = Exact(hyper.clip_norm) / Exact(norm)
        used = {p: settle(f"clip[{p}]", Exact(g) * scale) for p, g in used.items()}
        clipped.append(("norm", norm, hyper.clip_norm))
    return used, tuple(clipped)


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

    def __init__(self, example, optimizer, hyper: Hyper, steps: int, records: list):
        self.example = example
        self.optimizer = optimizer
        self.hyper = hyper
        self.steps = steps
        self.records = records
        self.precision = 4

    # --- numbers ---------------------------------------------------------------------------

    @property
    def params(self) -> list:
        """The parameters the run updates (the example's), in order.

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.params
        ['w', 'b']
        """
        return list(self.example.params)

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
        graph = self.example.graph
        if name not in graph.symbols:
            raise DeriveError(f"unknown name {name!r}; known names: "
                              f"{', '.join(list(graph.inputs) + list(graph.nodes))}")

    def value(self, name: str, step: int) -> sp.Expr:
        """Exact value of a parameter, input or node at ``step`` (after ``step`` updates).

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.value("w", 1)
        73/25
        """
        self._name(name)
        return public_form(self._record(step).values[name])

    def grad(self, name: str, step: int) -> sp.Expr:
        """Exact ∂loss/∂name at ``step`` (before clipping; the gradient update step + 1 uses).

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.grad("w", 1)
        36/5
        """
        self._name(name)
        record = self._record(step)
        if name in record.grads:
            return public_form(record.grads[name])
        return public_form(record.evaluation.grad(name, self.example.output))

    def state(self, name: str, step: int) -> dict:
        """The optimizer's state for parameter ``name`` after ``step`` updates: velocity (momentum),
        ``m`` and ``v`` (Adam's moments), ``square_avg`` (RMSprop), ``sum`` (Adagrad); {} for SGD.

        >>> from derive import neuron
        >>> neuron(x=2, w=3, b=1, y=5, activation="relu").train(1, optimizer="momentum", momentum=0.9, lr=0.01).state("w", 1)
        {'velocity': 8}
        """
        self._name(name)
        if name not in self.params:
            raise DeriveError(f"{name!r} is not a parameter; the parameters are: {', '.join(self.params)}")
        held = self._record(step).state[name]
        return {key: public_form(held.get(key, S.Zero)) for key, _, _ in self.optimizer.state_names(self.hyper)}

    def gradient_norm(self, step: int) -> sp.Expr:
        """‖∇L‖ over every parameter at ``step`` (before clipping).

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.gradient_norm(0)
        4*sqrt(5)
        """
        return public_form(self._record(step).norm)

    # --- documents -------------------------------------------------------------------------

    def content(self, figure: str | None = None) -> Content:
        """The document as content blocks; ``figure`` names the loss-curve image to include.

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> tr.content().title
        'Backpropagation through one ReLU neuron: 2 steps of SGD'
        """
        from .document import training_content
        return training_content(self, figure)

    def render(self, fmt: str, precision: int | None = None, fragment: bool = False,
               figure: str | None = None, exact: bool = False) -> str:
        """The document in one format ("markdown", "latex", "text"); ``figure`` is the file name
        of the loss curve (``plot``) to include; ``exact`` also shows exact forms.

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
            return render_content(self.content(figure), fmt, names=self.latex_names(), precision=precision,
                                  fragment=fragment, exact=exact)

    def latex_names(self) -> dict:
        """LaTeX for every name the document prints: the rules' symbols (η, β₁, m̂ₜ …), the
        example's names and each parameter's updated value.

        >>> from derive import neuron
        >>> tr = neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr=0.01)
        >>> print(tr.latex_names()["w_new"], tr.latex_names()["β₁"])
        {w}_{\\mathrm{new}} \\beta_{1}
        """
        names = dict(LATEX_NAMES)
        names.update(self.example.latex_names)
        for p in self.params:
            base = self.example.latex_names.get(p) or latex_name(p)
            names[f"{p}_new"] = f"{{{base}}}_{{\\mathrm{{new}}}}"
            names[f"{p}_decayed"] = f"{{{base}}}_{{\\mathrm{{decayed}}}}"
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
        """The loss curve (left) and the parameters — or, for more than six, the gradient norm —
        per step (right). A matplotlib ``Figure`` on the Agg canvas (pyplot and the global backend
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
        if len(self.params) <= 6:
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
    from ..io.files import write_atomic
    import io
    path = Path(path)
    kind = path.suffix.lstrip(".").lower() or "png"
    if kind not in ("png", "pdf", "svg"):
        raise DeriveError(f"{path}: a plot is written as .png, .pdf or .svg")
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None},
                "svg": {"Date": None}}[kind]
    buffer = io.BytesIO()
    figure.savefig(buffer, format=kind, dpi=120, metadata=metadata)
    write_atomic(path, buffer.getvalue(), force=True)
    return str(path)


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

    def render(self, fmt: str, precision: int = 4, fragment: bool = False, figure: str | None = None) -> str:
        from ..rendering.formats import render_content
        names = {}
        for tr in self.runs.values():
            names.update(tr.latex_names())
        with gc_paused():
            return render_content(self.content(figure), fmt, names=names, precision=precision,
                                  fragment=fragment)

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
