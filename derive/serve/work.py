"""What one request of ``derive serve`` computes, as plain functions of the request's text: the
example it describes (a spec, the equation editor or a builder form), its derivation as an HTML
fragment, the check of typed answers, a training run and a download. Nothing here keeps state
between calls: every request builds its own example from what it sent.

The web layer (``derive.serve.app``) calls these inside the work budget and turns a
``DeriveError`` into the CLI's one-line message on the page.

>>> source = Source.from_form({"build": "neuron", "x": "2", "w": "3", "b": "1", "y": "5", "lr": "0.1"})
>>> load(source).example.grad("w")
8
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from ..core import budget
from ..core.errors import DeriveError

BUILDERS = ("neuron", "chain", "mlp")
# The fields of each builder form, with the CLI's defaults (``derive neuron --help`` …).
BUILDER_FIELDS = {
    "neuron": {"x": "2", "w": "3", "b": "1", "y": "5", "activation": "relu", "loss": "squared_error",
               "lr": "0.1"},
    "chain": {"depth": "3", "weight": "5", "x": "1", "y": "0", "activation": "relu",
              "loss": "half_squared_error", "lr": ""},
    "mlp": {"inputs": "[1, 2]", "weights": "[[[0.1, 0.2], [0.3, -0.4]], [[0.5, -0.6]]]",
            "biases": "[[0.1, 0.1], [0.2]]", "targets": "[1]", "activation": "sigmoid",
            "loss": "half_squared_error", "lr": "0.5"},
}
# The equation editor's fields (a spec written for the user).
EDITOR_FIELDS = ("title", "equations", "values", "lr")
MAX_TRAIN_STEPS = 100  # a training run shown on a page (the CLI allows 10000, written to a file)
# Downloads: the format names of the registry offered on the page, with their labels.
DOWNLOADS = (("markdown", "Markdown"), ("latex", "LaTeX"), ("pdf", "PDF"), ("ipynb", "Notebook"),
             ("pytorch", "PyTorch"), ("html", "HTML"), ("worksheet", "Worksheet"))
SHARE_LIMIT = 6000  # longest link written into the page (servers refuse long request lines)


class ServeError(DeriveError):
    """A request the server cannot answer (a missing field, an unknown builder)."""


@dataclass(frozen=True)
class Source:
    """Where a request's example comes from: a spec's YAML text, or a builder and its fields.
    Only text: no file-system path ever comes from a request."""

    spec: str = ""
    build: str = ""
    fields: tuple = ()  # (name, text) pairs of the builder form
    typed: bool = False  # the spec was written from the equation editor (errors name its lines)

    @classmethod
    def from_form(cls, form: dict) -> "Source":
        """From the request's fields: ``spec`` (pasted or uploaded YAML), the equation editor
        (``equations``, ``values``, ``title``, ``lr``) or ``build`` with a builder's fields."""
        build = (form.get("build") or "").strip()
        if build and build not in ("spec", "editor"):
            if build not in BUILDERS:
                raise ServeError(f"unknown builder {build!r}; choose one of {', '.join(BUILDERS)}")
            defaults = BUILDER_FIELDS[build]
            return cls(build=build, fields=tuple((k, str(form.get(k, v) or "").strip()) for k, v in defaults.items()))
        if build == "editor" or (not form.get("spec") and form.get("equations")):
            return cls(spec=editor_spec({k: form.get(k, "") for k in EDITOR_FIELDS}), typed=True)
        spec = form.get("spec") or ""
        if not spec.strip():
            raise ServeError("nothing to derive: write equations, choose a builder or paste a spec")
        return cls(spec=spec)

    def query(self) -> dict:
        """The fields that rebuild this example (a shareable link, a hidden form field)."""
        if self.build:
            return {"build": self.build, **dict(self.fields)}
        return {"spec": self.spec}

    def link(self) -> str:
        """``/?spec=…`` or ``/?build=neuron&x=…``: the example in a URL ("" when it is too long
        for one)."""
        url = "/?" + urlencode(self.query())
        return url if len(url) <= SHARE_LIMIT else ""


def _yaml_text(value: str) -> str:
    """A text field as a YAML double-quoted scalar (titles may hold any character)."""
    import json
    return json.dumps(value, ensure_ascii=False)  # JSON strings are YAML flow scalars


def editor_spec(form: dict) -> str:
    """The equation editor's fields as a spec: values one per line (``x = 2`` or ``x: 2``; a
    matrix as a nested list ``W = [[1, 2], [3, 4]]``).

    >>> print(editor_spec({"title": "t", "equations": "z = w*x", "values": "w = 3\\nx: 2", "lr": ""}))
    title: "t"
    equations: |
      z = w*x
    values:
      w: 3
      x: 2
    <BLANKLINE>
    """
    equations = (form.get("equations") or "").replace("\r", "").strip("\n")
    if not equations.strip():
        raise ServeError("write the equations, one `name = expression` per line (e.g. `z = w*x + b`)")
    lines = []
    if (form.get("title") or "").strip():
        lines.append(f"title: {_yaml_text(form['title'].strip())}")
    lines.append("equations: |")
    lines += ["  " + line for line in equations.split("\n")]
    values = [v.strip() for v in (form.get("values") or "").replace("\r", "").replace(";\n", "\n").split("\n")]
    values = [v for v in values if v]
    if values:
        lines.append("values:")
        for n, line in enumerate(values, 1):
            m = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)\s*[=:]\s*(\S.*)", line)
            if not m:
                raise ServeError(f"values line {n}: {line[:40]!r} is not `name = number` (e.g. `x = 2`)")
            lines.append(f"  {m.group(1)}: {m.group(2)}")
    if (form.get("lr") or "").strip():
        lines.append(f"lr: {form['lr'].strip()}")
    return "\n".join(lines) + "\n"


@dataclass
class Loaded:
    """The example of one request, with what checking and training take from its spec."""

    example: object
    rtol: float | None = None
    atol: float | None = None
    train: dict = field(default_factory=dict)  # the spec's `train:` section
    tolerance: object = None  # the spec's Tolerance (the worksheet's rule), if any


def load(source: Source) -> Loaded:
    """The example a request describes, built afresh (never shared between requests)."""
    if source.build:
        return Loaded(_built(source.build, dict(source.fields)))
    return _from_spec_text(source.spec, "" if source.typed else "the spec")


def _number(text: str, name: str):
    from ..core.numbers import to_exact
    return to_exact(text, name) if text.strip() else None


def _whole(text: str, name: str, low: int, high: int, what: str, whose: str) -> int:
    """A whole number from ``low`` to ``high`` typed in a form, or the error naming that range."""
    text = text.strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ServeError(f"{name}: {text[:20]!r} is not a whole number; give {what} from {low} to {high}")
    if not low <= int(text[:30]) <= high or len(text) > 30:
        raise ServeError(f"{name}: {text[:20]} is outside {low} … {high} ({whose} limit)")
    return int(text)


def _built(build: str, f: dict):
    from ..model import builders
    if build == "neuron":
        return builders.neuron(**{k: _number(f[k], k) for k in ("x", "w", "b", "y", "lr")},
                               activation=f["activation"], loss=f["loss"])
    if build == "chain":
        deepest = (budget.current().max_nodes - 1) // 2  # a chain of depth d has 2d + 1 nodes
        _whole(f["depth"], "depth", 1, deepest, "layers", "the work budget's max_nodes")
        weights = [_number(p, "weight") for p in f["weight"].split(",") if p.strip()]
        if not weights:
            raise ServeError("weight: give a number, or one per layer separated by commas")
        return builders.chain(depth=int(f["depth"]), weight=weights[0] if len(weights) == 1 else weights,
                              x=_number(f["x"], "x"), y=_number(f["y"], "y"), activation=f["activation"],
                              loss=f["loss"], lr=_number(f["lr"], "lr"))
    lines = [f"{k}: {f[k]}" for k in ("inputs", "weights", "biases", "targets", "activation", "loss") if f[k]]
    if f["lr"]:
        lines.append(f"lr: {f['lr']}")
    return _from_spec_text("\n".join(lines) + "\n").example


def _from_spec_text(text: str, name: str = "the spec") -> Loaded:
    """A spec's text, read by the very loaders of ``derive render``/``mlp``/``check``: it is
    written to a private temporary file whose name the messages then show as ``name`` (none for
    the equation editor's spec, whose lines are the equations' own)."""
    budget.check_file_size(len(text.encode("utf-8")), "the spec")
    with tempfile.TemporaryDirectory(prefix="derive-serve-") as folder:
        path = Path(folder) / "spec.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return _from_spec_file(path)
        except DeriveError as e:
            shown = str(e).replace(str(path), name) if name else str(e).replace(f"{path}: ", "")
            raise ServeError(shown.replace(str(path), "the equations")) from None


def _from_spec_file(path: Path) -> Loaded:
    from ..model.spec import example_from_spec, load_spec, load_yaml, mlp_from_spec, train_options
    data = load_yaml(path)
    if "equations" not in data and any(k in data for k in ("weights", "biases", "targets")):
        return Loaded(mlp_from_spec(path), train=train_options(data, path))
    spec = load_spec(path)
    rtol = atol = None
    if spec.tolerance is not None:
        args = spec.tolerance.check_args()
        rtol, atol = args.get("rtol"), args.get("atol")
    if spec.random:  # a homework spec: its first variant (seed 0), as `derive homework` draws it
        from ..courseware.homework import Generator, ask_keys
        generator = Generator(spec, 0)
        example = generator.variants(1)[0].example
        example.meta["ask"] = ask_keys(generator, example)  # this request's own example
        if spec.instructions:  # a variant is still the problem the spec sets
            example.meta["instructions"] = spec.instructions.strip()
        example.meta["variant"] = ("This is variant 1 of the spec's random problem (as derive homework "
                                   "draws it with seed 0); each student's variant has its own numbers.")
    else:
        if isinstance(spec.lr, dict):
            spec.lr = None  # a learning rate per parameter: a training option
        example = example_from_spec(spec)
    return Loaded(example, rtol, atol, train_options(data, path), spec.tolerance)


# --- the derivation -------------------------------------------------------------------------------


def derivation_html(ex) -> str:
    """The worked example as derive's HTML (MathML, derive's own diagram as inline SVG: it
    summarises a large graph), body only — the page's only drawing of the graph."""
    return ex.render("html", fragment=True)


def download(ex, fmt: str, tolerance=None) -> tuple[bytes, str, str]:
    """(content, file name, media type) of the example in one registry format."""
    from ..rendering.formats import get_format
    chosen = get_format(fmt)
    if chosen.name not in dict(DOWNLOADS):
        raise ServeError(f"unknown download {fmt!r}; choose one of {', '.join(dict(DOWNLOADS))}")
    if chosen.name == "worksheet":
        from ..courseware.worksheet import worksheet
        body = worksheet(ex, tolerance=tolerance)
    else:
        body = ex.render(chosen.name)
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    name = re.sub(r"[^A-Za-z0-9]+", "-", (ex.title or "derivation").lower()).strip("-")[:60] or "derivation"
    kinds = {"pdf": "application/pdf", "html": "text/html", "ipynb": "application/x-ipynb+json",
             "worksheet": "text/html", "pytorch": "text/x-python"}
    if chosen.name == "worksheet":  # an HTML file too: its own name beside the HTML download's
        name += "-worksheet"
    return data, f"{name}.{chosen.extension}", kinds.get(chosen.name, "text/plain") + (
        "" if chosen.binary else "; charset=utf-8")


# --- checking ---------------------------------------------------------------------------------------


HINT_LEVELS = 2  # the rule, then the formula with its numbers; the value is the reveal


@dataclass
class StepView:
    """One answer box of the check panel, ready to lay out (strings only)."""

    key: str
    label: str  # MathML
    answer: str = ""
    status: str = ""  # "", correct, carried, incorrect, unreadable
    message: str = ""  # the checker's words (a diagnosis, carried forward, unreadable …)
    hints: list = field(default_factory=list)
    revealed: list = field(default_factory=list)
    level: int = 0
    shown: bool = False


def check_steps(loaded: Loaded, answers: dict, levels: dict, show: set) -> list[StepView]:
    """An answer box per step of the worked solution, in its order (the tutor's steps: ``derive
    check --interactive``), judged by ``Example.check`` on every answer given at once, so an
    answer right given the student's own earlier ones is carried forward. ``levels``: how many
    hints each step asked for (the rule, then the formula with its numbers); ``show``: steps
    whose value was asked for."""
    from ..checking.tutor import Tutor
    from ..rendering.formats import Writer, get_format
    ex = loaded.example
    tutor = Tutor(ex, rtol=loaded.rtol, atol=loaded.atol)
    html = Writer(get_format("html"), precision=ex.precision or 4, notation=ex.notation)
    views, read, unreadable = [], {}, {}
    for step in tutor.steps:
        key = step.key
        text = str(answers.get(key, "")).strip()
        level = max(0, min(HINT_LEVELS, int(levels.get(key, 0) or 0)))
        views.append(StepView(key, html.inline(tutor.help(key).label), text, level=level,
                              shown=key in show))
        if text:
            try:
                budget.check_answer_size(text)
                read[key] = tutor.read(text)
            except DeriveError as e:
                unreadable[key] = str(e)
    report = ex.check(read, rtol=loaded.rtol, atol=loaded.atol) if read else None
    for v in views:
        if v.key in unreadable:
            v.status, v.message = "unreadable", _unread(unreadable[v.key])
        elif report is not None and v.key in read:
            v.status = report.status(v.key)
            if v.status in ("carried", "unreadable"):
                v.message = report.hint(v.key) if v.status == "carried" else _unread(report.hint(v.key))
            elif v.status == "incorrect":
                v.message = tutor.diagnosis(report, v.key) or _budget_note(report.hint(v.key))
        told = tutor.help(v.key)
        v.hints = [told.rule, told.formula][:v.level]
        if v.shown:
            v.revealed = list(told.reveal)
            if report is not None and v.status == "incorrect" and v.key in read and not v.message:
                v.revealed.append(report.hint(v.key))  # derive check's own words, with the value
    return views


def _unread(reason: str) -> str:
    """Why an answer cannot be read, once (the mark already says "cannot read it")."""
    return re.sub(r"^(cannot read (this answer|that):\s*)+", "", reason)


def server_words(message: str) -> str:
    """A work-budget message as the browser should read it: the request is over the server's
    limit (the CLI's ``--limit`` and Python advice are no use to a student at a page)."""
    return re.sub(r"; raise it with --limit \S+ \(Python: [^)]*\)\) if you really need more",
                  " (over this server's limit for one request)", message)


def _budget_note(hint: str) -> str:
    """An answer beyond the work budget is graded incorrect with the budget's reason (not the value)."""
    return server_words(hint) if hint.startswith("not graded") else ""


def summary(views: list[StepView]) -> str:
    """``5 of 8 steps earn credit`` over the steps answered so far."""
    answered = [v for v in views if v.status]
    if not answered:
        return ""
    good = sum(v.status in ("correct", "carried") and not v.shown for v in views)
    return f"{good} of {len(views)} step{'s' if len(views) != 1 else ''} earn credit."


# --- training ----------------------------------------------------------------------------------------


def train_html(loaded: Loaded, steps: str, optimizer: str, lr: str) -> str:
    """A training run of the example as HTML, with the loss plot inside the page."""
    from ..rendering.formats import embed_images
    options = dict(loaded.train)
    if steps.strip():
        options["steps"] = _whole(steps, "steps", 1, MAX_TRAIN_STEPS, "steps", "the page's")
    options.setdefault("steps", 10)
    if not 1 <= options["steps"] <= MAX_TRAIN_STEPS:
        raise ServeError(f"steps: {options['steps']} is outside 1 … {MAX_TRAIN_STEPS} (the page's "
                         f"limit; `derive train` runs more)")
    if optimizer.strip():
        options["optimizer"] = optimizer.strip()
    if lr.strip():
        options["lr"] = _number(lr, "lr")
    run = loaded.example.train(**options)
    with tempfile.TemporaryDirectory(prefix="derive-serve-") as folder:
        plot = Path(folder) / "loss.png"
        run.plot(str(plot))
        html = embed_images(run.render("html", None, True, plot.name), [plot])
    # the page's words: the Python attributes of a Training are not the browser's
    return html.replace("Training.value, .grad and .state give every one", "derive train lists every one")


def optimizers() -> list[str]:
    from ..training.optimizers import OPTIMIZERS
    return list(OPTIMIZERS)
