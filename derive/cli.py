"""The command line: a thin layer over the Python API. Every command's help has an example;
errors are one line on stderr and a non-zero exit status, never a traceback."""
from __future__ import annotations

import sys

import click

from .core.errors import DeriveError, OutputExists



class FormatChoice(click.Choice):
    """``--format``: the names and aliases of the format registry, read when the option is used
    (so a format registered later is offered too, and ``derive --help`` imports nothing)."""

    def __init__(self, documents_only: bool = False, printable: bool = False):
        self.documents_only, self.printable = documents_only, printable
        super().__init__((), case_sensitive=True)

    @property
    def choices(self):
        from .rendering.formats import format_choices
        return tuple(format_choices(self.documents_only, self.printable))

    @choices.setter
    def choices(self, value):  # click.Choice.__init__ assigns; the registry is the source
        pass


PAPER = click.option("--paper", type=click.Choice(("a4", "letter")), default="a4", show_default=True,
                     help="Paper size of LaTeX and PDF documents.")


def _notes_option(ctx, param, value):
    ctx.meta["derive.notes"] = value  # read by _notes(): no command signature changes
    return value


def _notes() -> bool:
    """``--notes``: the remarks for the lecturer (how numbers were obtained), in a closing section."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get("derive.notes"))


def _output_options(f):
    f = click.option("--section-level", "section_level", default="section", show_default=True,
                     type=click.Choice(("section", "subsection", "subsubsection")),
                     help="Depth of the document's headings: with --fragment, subsection nests "
                          "them under your own \\section.")(f)
    f = click.option("--slides", is_flag=True,
                     help="A beamer slide deck, one idea per frame (--format tex or pdf).")(f)
    f = PAPER(f)
    f = click.option("--notes", is_flag=True, expose_value=False, callback=_notes_option,
                     help="Add the notes for the lecturer (how the numbers were obtained).")(f)
    f = click.option("--force", is_flag=True, help="Overwrite an existing output file.")(f)
    f = click.option("--exact", is_flag=True,
                     help="Also show exact forms of rounded values: σ(7) = 1/(1 + e^(−7)) ≈ 0.9991.")(f)
    f = click.option("--fragment", is_flag=True,
                     help="With --format tex: only the body, to \\input into your own document.")(f)
    f = click.option("--precision", type=click.IntRange(1, 30), default=4, show_default=True,
                     help="Significant digits of rounded (≈) numbers.")(f)
    f = click.option("-o", "--output", "output", type=click.Path(dir_okay=False),
                     help="Write to FILE instead of standard output.")(f)
    f = click.option("--format", "fmt", type=FormatChoice(), default="text",
                     show_default=True, help="Output format.")(f)
    return f


def emit(render, fmt: str, output: str | None, force: bool, fragment: bool = False, resources=(),
         paper: str = "a4", examples=(), slides=None):
    """``render(format_name, fragment)`` -> str; write it where the user asked (``resources``:
    images a PDF or HTML page includes; ``paper``: a4 or letter for LaTeX and PDF; ``examples``:
    (label, Example) pairs a notebook rebuilds and cross-checks in code cells; ``slides``: a
    function giving the beamer deck's LaTeX, written instead of the document)."""
    from .rendering.formats import get_format
    chosen = get_format(fmt)
    plain = render

    def render(name, frag):  # LaTeX on the paper asked for
        text = plain(name, frag)
        paper_of = get_format(name).paper
        return paper_of(text, paper) if paper_of else text
    if slides is not None:  # a deck: LaTeX or its PDF, on beamer's own 16:9 page
        if chosen.name not in ("latex", "pdf"):
            raise DeriveError(f"--slides makes a beamer deck: use --format tex or pdf, not {fmt}")
        if fragment:
            raise DeriveError("--slides makes a whole deck; leave out --fragment")
        render = lambda name, frag: slides()  # noqa: E731
    if chosen.binary:
        if not output:
            raise DeriveError(f"--format {fmt} needs -o FILE.{chosen.extension} (it is not printed "
                              f"to the terminal)")
        from pathlib import Path
        if Path(output).exists() and not force:
            raise OutputExists(f"{output} exists; pass --force to overwrite it")
        from .io.files import compile_pdf, write_atomic
        write_atomic(output, compile_pdf(render(chosen.source, False), resources=resources), force=True)
        return
    if chosen.convert is not None:  # made from another format (ipynb from Markdown)
        text = chosen.convert(plain(chosen.source, False), examples)
    else:
        text = render(chosen.name, fragment)
    if chosen.name == "html":  # one self-contained page: plots inside it
        from .rendering.formats import embed_images
        text = embed_images(text, resources)
    if output:
        from .io.files import write_atomic  # imported only when a file is written
        write_atomic(output, text, force)
    else:
        click.echo(text, nl=False)


def _documents_only(fmt: str, why: str) -> None:
    """Commands that write documents refuse export formats (the PyTorch script) with a reason."""
    from .rendering.formats import get_format
    if get_format(fmt).printer is None:
        raise DeriveError(f"--format {fmt} {why}")


def _tolerance(param, value):
    """--rtol/--atol: a finite number ≥ 0."""
    import math
    if value is not None and (not math.isfinite(value) or value < 0):
        raise click.BadParameter(f"must be a finite number ≥ 0, got {value}")
    return value


def _jobs(value):
    """--jobs: 1 … 4 × the cores (more processes than that only thrash)."""
    import os
    if value is None:
        return None
    top = 4 * (os.cpu_count() or 1)
    if not 1 <= value <= top:
        raise click.BadParameter(f"must be from 1 to {top} (4 × the {os.cpu_count() or 1} cores), got {value}",
                                 param_hint="'--jobs'")
    return value


MAX_SIMULATION_VALUES = 2 ** 23  # batch × width floats held at once (64 MB)
MAX_SIMULATION_WORK = 4 * 10 ** 10  # depth × batch × width² multiply-adds (tens of seconds)


def _simulation_size(depth: int, width: int, batch: int) -> None:
    """The Monte Carlo simulation's memory and time, bounded before it starts."""
    if batch * width > MAX_SIMULATION_VALUES:
        raise DeriveError(f"--batch {batch} × --width {width} = {batch * width} values, more than the "
                          f"limit {MAX_SIMULATION_VALUES}; lower the batch or the width")
    if depth * batch * width * width > MAX_SIMULATION_WORK:
        raise DeriveError(f"--depth {depth} × --batch {batch} × --width {width}² is "
                          f"{depth * batch * width * width:.2e} multiply-adds, more than the limit "
                          f"{MAX_SIMULATION_WORK:.0e}; lower the depth, batch or width")


def _number(ctx, param, value):
    """Accept numbers as typed (exact: 0.1 stays 1/10); reject anything else with a clear line."""
    if value is None:
        return None
    from .core.numbers import to_exact
    try:
        return to_exact(value, "value")
    except DeriveError as e:
        raise click.BadParameter(str(e).removeprefix("value: ")) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="derive", message="derive %(version)s")
@click.option("--limit", "limits", multiple=True, metavar="NAME=N",
              help="Raise (or lower) a limit of the work budget, e.g. --limit max_digits=20000; "
                   "see derive.core.budget for the limits.")
def cli(limits):
    """derive: exact, step-by-step chain-rule derivations (backpropagation worked examples).

    \b
    Example:
      derive neuron --x 2 --w 3 --b 1 --y 5 --activation relu --lr 0.1
    """
    if limits:
        from .core import budget
        budget.configure(**budget.parse_assignments(",".join(limits)))


@cli.command()
@click.option("--x", callback=_number, help="Input x.")
@click.option("--w", callback=_number, help="Weight w.")
@click.option("--b", callback=_number, help="Bias b.")
@click.option("--y", callback=_number, help="Target y.")
@click.option("--activation", default="relu", show_default=True, help="Activation (relu, sigmoid, tanh, …).")
@click.option("--loss", default="squared_error", show_default=True, help="Loss (squared_error, half_squared_error, …).")
@click.option("--lr", callback=_number, help="Learning rate η for the update.")
@_output_options
def neuron(x, w, b, y, activation, loss, lr, fmt, output, precision, fragment, force, exact, paper,
           slides, section_level):
    """One neuron z = w·x + b, a = activation(z), L = loss(a, y), backpropagated by hand.

    Leave out every value for a symbolic derivation.

    \b
    Example:
      derive neuron --x 2 --w 3 --b 1 --y 5 --activation relu --lr 0.1 --format md
    """
    from .model.builders import neuron as build
    ex = build(x=x, w=w, b=b, y=y, activation=activation, loss=loss, lr=lr)
    ex.precision, ex.exact = precision, exact
    _emit_example(ex, fmt, output, force, fragment, paper, slides, section_level)


def _render(ex, fmt_name: str, fragment: bool, section_level: str = "section") -> str:
    """One example in one format (a document, or an export such as the PyTorch script): the
    example's own ``render``, the same for scalar and tensor examples."""
    return ex.render(fmt_name, fragment=fragment, notes=_notes(), section_level=section_level)


def _emit_example(ex, fmt, output, force, fragment, paper, slides, section_level):
    """Write one example's document (or, with --slides, its deck) where the user asked."""
    from .rendering.formats import get_format
    ex._refuse_format(get_format(fmt))  # a notebook is made from Markdown: refused, if it is,
    # by the example for the format asked for (ipynb), not by its PyTorch check inside
    emit(lambda f, frag: _render(ex, f, frag, section_level), fmt, output, force, fragment,
         paper=paper, examples=[(ex.title or "the example", ex)],
         slides=(lambda: ex.to_slides("latex")) if slides else None)


@cli.command()
@click.option("--activations", default="relu,sigmoid", show_default=True,
              help="Comma-separated activations to compare.")
@click.option("--x", callback=_number, help="Input x.")
@click.option("--w", callback=_number, help="Weight w.")
@click.option("--b", callback=_number, help="Bias b.")
@click.option("--y", callback=_number, help="Target y.")
@click.option("--loss", default="squared_error", show_default=True, help="Loss (squared_error, half_squared_error, …).")
@click.option("--lr", callback=_number, help="Learning rate η for the update.")
@_output_options
def compare(activations, x, w, b, y, loss, lr, fmt, output, precision, fragment, force, exact, paper,
            slides, section_level):
    """The same neuron under several activations, side by side (output, local gradient,
    dL/dw, update, gradient strength).

    \b
    Example:
      derive compare --activations relu,sigmoid --x 2 --w 3 --b 1 --y 5 --lr 0.1
    """
    from .courseware.compare import compare_activations, render_comparison
    _documents_only(fmt, "exports one example; use `derive neuron … --format pytorch`")
    if None in (x, w, b, y):
        raise DeriveError("compare needs --x, --w, --b and --y")
    comp = compare_activations(activations, x=x, w=w, b=b, y=y, loss=loss, lr=lr)
    from .rendering.slides import render_slides
    emit(lambda f, frag: render_comparison(comp, f, precision, frag, exact, section_level, notes=_notes()), fmt, output,
         force, fragment, paper=paper,
         slides=(lambda: render_slides(comp.content(), None, precision, exact)) if slides else None)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@_output_options
def render(spec, fmt, output, precision, fragment, force, exact, paper, slides, section_level):
    """Render the worked example of a YAML spec (title, equations, values, lr).

    \b
    Example spec.yaml:
      title: Backprop through one ReLU neuron
      equations: |
        z = w*x + b
        a = relu(z)
        L = (a - y)**2
      values: {x: 2, w: 3, b: 1, y: 5}
      lr: 0.1
    \b
    Example:
      derive render spec.yaml --format tex -o neuron.tex
    """
    from .model.spec import example_from_spec, load_spec
    s = load_spec(spec)
    ex = example_from_spec(s)
    ex.precision, ex.exact = s.precision or precision, exact
    _emit_example(ex, fmt, output, force, fragment, paper, slides, section_level)


@cli.command()
@click.option("--depth", type=click.IntRange(1, 100000), default=3, show_default=True, help="Number of layers.")
@click.option("--weight", default="5", show_default=True,
              help="Every layer's weight, or a comma-separated list (one per layer).")
@click.option("--x", callback=_number, default="1", show_default=True, help="Input x of the first layer.")
@click.option("--y", callback=_number, default="0", show_default=True, help="Target y.")
@click.option("--activation", default="relu", show_default=True, help="Every layer's activation (relu, sigmoid, tanh, …).")
@click.option("--loss", default="half_squared_error", show_default=True, help="Loss (half_squared_error, squared_error, …).")
@click.option("--lr", callback=_number, help="Learning rate η for the update.")
@_output_options
def chain(depth, weight, x, y, activation, loss, lr, fmt, output, precision, fragment, force, exact, paper,
          slides, section_level):
    """A deep chain of single units (exploding and vanishing gradients): the forward table, the
    full chain-rule product, and the generalisation to any depth.

    \b
    Example:
      derive chain --depth 3 --weight 5 --x 1 --activation relu --loss half_squared_error --y 0
    """
    from .model.builders import chain as build
    from .core.numbers import to_exact
    parts = [p.strip() for p in str(weight).split(",") if p.strip()]
    weights = [to_exact(p, "--weight") for p in parts]
    ex = build(depth=depth, weight=weights[0] if len(weights) == 1 else weights, x=x, y=y,
               activation=activation, loss=loss, lr=lr)
    ex.precision, ex.exact = precision, exact
    _emit_example(ex, fmt, output, force, fragment, paper, slides, section_level)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--focus", help="The parameter derived in full detail, e.g. w1_1_1.")
@_output_options
def mlp(spec, focus, fmt, output, precision, fragment, force, exact, paper, slides, section_level):
    """A multi-layer network from a YAML spec: forward pass neuron by neuron, δ notation, matrix
    form, every parameter's gradient and update, one parameter in full detail.

    \b
    Example net.yaml:
      inputs: [0.05, 0.10]
      weights: [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]
      biases: [[0.35, 0.35], [0.60, 0.60]]
      targets: [0.01, 0.99]
      activation: sigmoid          # or one per layer: [relu, sigmoid]
      loss: half_squared_error
      lr: 0.5
    \b
    Example:
      derive mlp net.yaml --focus w1_1_1 --format md
    """
    from .model.spec import mlp_from_spec
    ex = mlp_from_spec(spec, focus)
    ex.precision, ex.exact = ex.meta.get("precision") or precision, exact
    _emit_example(ex, fmt, output, force, fragment, paper, slides, section_level)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("answers", type=click.Path(dir_okay=False), required=False)
@click.option("--interactive", is_flag=True,
              help="Ask for each step in turn: three tries with hints, ? shows the value, q stops; "
                   "a summary at the end.")
@click.option("--rtol", type=float, callback=lambda c, p, v: _tolerance(p, v),
              help="Relative tolerance (≥ 0) instead of the significant figures written.")
@click.option("--atol", type=float, callback=lambda c, p, v: _tolerance(p, v),
              help="Absolute tolerance (≥ 0) instead of the significant figures written.")
@click.option("--format", "fmt", type=FormatChoice(printable=True), default="text", show_default=True,
              help="Format of the report (with --interactive: of the closing summary).")
@click.option("--keys", "list_keys", is_flag=True,
              help="List the answer keys of SPEC (key and how it is displayed) and exit.")
def check(spec, answers, interactive, rtol, atol, fmt, list_keys):
    """Check a student's answers against the exact derivation: each step correct, incorrect, or
    carried forward (right given the student's own earlier answers), with hints that name common
    mistakes. SPEC is an equations spec (`derive render`) or a network spec (`derive mlp`).
    Exit status 0 if all correct, 1 if something is not (incorrect, unreadable or an unknown key:
    each is a verdict in the report), 2 for bad command-line usage or a bad spec.

    --interactive asks the steps of the worked solution in order (or the spec's `ask:` list):
    forward values, local derivatives, the gradient, the update. An answer it cannot read is
    asked again; a wrong one gets up to three tries, with a hint that grows each time (the
    mistake or the rule, then the formula with its numbers, then the value). Type ? to see the
    value, q to stop. At a terminal the line can be edited (arrow keys, ↑ for earlier answers);
    from a pipe the answers are read one per line. Exit status 0 only when every step is
    correct or carried forward; a step left unanswered counts as not answered (1). On a matrix
    spec the steps are whole matrices (each line's value, the gradients backwards, the updates),
    typed as nested lists [[1, 2], [3, 4]] or as printed, rows split by ; [1, 2; 3, 4].

    \b
    Example answers.yaml:
      z: 7
      dL/dw: 8
      w_new: 2.2
    \b
    Example:
      derive check spec.yaml answers.yaml
      derive check spec.yaml --interactive
      derive check spec.yaml --keys     # the answer keys it accepts
      printf '7\\n0.9991\\n' | derive check spec.yaml --interactive   # answers from a pipe
      derive check softmax.yaml grads.npz     # matrix answers: nested lists or a numpy archive
    """
    from .model.spec import load_answers, load_yaml
    from .rendering.formats import get_format
    name = get_format(fmt).name
    if _is_network_spec(spec):
        from .model.spec import mlp_from_spec
        ex, s = mlp_from_spec(spec), None
    else:
        from .model.spec import example_from_spec, load_spec
        s = load_spec(spec)
        if s.random:  # a homework spec: answers are keyed by variant id
            if interactive:
                raise DeriveError("--interactive needs a spec with fixed values (this one has `random`)")
            if not answers:
                raise DeriveError("give the answers file, keyed by variant id")
            sys.exit(_check_homework(s, load_yaml(answers, "answers file"), *_spec_tolerance(s, rtol, atol), name))
        ex = example_from_spec(s)
    if list_keys:
        for key, shown in ex.keys().items():
            click.echo(key if key == shown else f"{key}  ({shown})")
        sys.exit(0)
    if s is not None:
        rtol, atol = _spec_tolerance(s, rtol, atol)
    if interactive:
        if answers:
            raise DeriveError("--interactive asks for the answers; give an answers file or "
                              "--interactive, not both")
        sys.exit(_interactive(ex, rtol, atol, name))
    if not answers:
        raise DeriveError("give an answers file (YAML: `dL/dw: 8` …) or use --interactive")
    given = load_answers(answers)
    report = ex.check(given, rtol=rtol, atol=atol,  # not Python's ex.keys() on the command line
                      listed=f"`derive check {spec} --keys` lists them")
    click.echo(_report_text(report, name), nl=False)
    # an unreadable answer or unknown key is a verdict on that key (in the report), not bad
    # command-line input: exit 1 like any answer that is not right
    sys.exit(0 if report.ok else 1)


def _is_network_spec(path) -> bool:
    """A `derive mlp` spec (inputs, weights, biases, targets) rather than an equations spec."""
    from .model.spec import load_yaml
    data = load_yaml(path)
    return "equations" not in data and any(k in data for k in ("weights", "biases", "targets"))


def _interactive(ex, rtol, atol, fmt: str) -> int:
    """The tutor session: prompt_toolkit's line editing when both ends are a terminal, else the
    answers read from stdin one per line."""
    from .checking.tutor import Tutor, line_reader, run, terminal_reader
    tutor = Tutor(ex, rtol=rtol, atol=atol)
    if sys.stdin.isatty() and sys.stdout.isatty():
        read = terminal_reader()
    else:
        read = line_reader(sys.stdin, click.echo)
    return run(tutor, read, click.echo, fmt)


def _spec_tolerance(spec, rtol, atol):
    """--rtol/--atol if given, else the spec's `tolerance:`, else the student's own digits."""
    if rtol is not None or atol is not None or spec.tolerance is None:
        return rtol, atol
    args = spec.tolerance.check_args()
    return args.get("rtol"), args.get("atol")


def _report_text(report, name: str) -> str:
    from .rendering.formats import render_content
    return render_content(report.content(), name)


def _check_homework(spec, given: dict, rtol, atol, name: str) -> int:
    """Answers for homework variants: {variant id: {key: answer}}; each variant regenerated from
    its id (spec hash, seed, index) and checked."""
    import re
    from .courseware.homework import Generator, spec_hash
    ids = re.compile(r"^([0-9a-f]{8})-s(-?\d+)-(\d+)$")
    all_ok = True
    generators: dict = {}
    for variant_id, answers in given.items():
        m = ids.match(str(variant_id))
        if not m:
            raise DeriveError(f"{variant_id!r} is not a variant id like 1a2b3c4d-s7-3 "
                              f"(see answers.json of the homework)")
        digest, seed, index = m.group(1), int(m.group(2)), int(m.group(3))
        if digest != spec_hash(spec):
            raise DeriveError(f"variant {variant_id} was generated from another version of the spec "
                              f"(hash {digest}, this spec is {spec_hash(spec)})")
        if not isinstance(answers, dict):
            raise DeriveError(f"answers for {variant_id} must be a mapping like {{dL/dw: 8}}")
        gen = generators.setdefault(seed, Generator(spec, seed))
        variant = gen.variants(index)[index - 1]
        report = variant.example.check(answers, rtol=rtol, atol=atol)
        report.title = f"Variant {variant_id}"
        click.echo(_report_text(report, name), nl=False)
        all_ok = all_ok and report.ok
    return 0 if all_ok else 1


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--variants", type=click.IntRange(1), default=10, show_default=True,
              help="How many variants (at most the budget's max_variants, 5000 by default).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed: same seed, same variants.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--format", "fmts", default="md,tex", show_default=True,
              help="Comma-separated: md, tex, pdf, html, ipynb, text, moodle, qti, gift, worksheet "
                   "(answers.csv/json are always written).")
@click.option("--per-page", is_flag=True, help="One variant per page, each with its own name and ID line.")
@PAPER
@click.option("--jobs", type=int, callback=lambda c, p, v: _jobs(v),
              help="Processes to render with, 1 to 4 × the cores (default: the number of cores).")
@click.option("--force", is_flag=True, help="Replace the folder if it exists and is not empty.")
@click.option("--notes", is_flag=True, expose_value=False, callback=_notes_option,
              help="End the solutions with a note for the lecturer (the spec's hash and the seed).")
def homework(spec, variants, seed, out, fmts, jobs, force, per_page, paper):
    """Seeded homework variants with constraints: problems.*, solutions.* (the full worked
    derivation per variant), answers.csv, answers.json and Moodle XML.

    \b
    Example spec.yaml:
      title: Backprop through one ReLU neuron
      equations: |
        z = w*x + b
        a = relu(z)
        L = (a - y)**2
      values: {y: 5}
      random:
        x: {integers: [1, 5]}
        w: {integers: [-4, 4], exclude: [0]}
        b: {choice: [-1, 0, 1, 2]}
      constraints: ["z > 0"]
      lr: 0.1
      ask: ["dL/dw", "dL/db", "w_new"]
    \b
    Random matrices: every entry drawn on its own; a matrix answer is one column per entry in
    answers.csv and one numeric part per entry in the Moodle, QTI and GIFT exports.
      random:
        W: {integers: [-2, 2], shape: [3, 2], exclude: [0]}
        b: {uniform: [-1, 1], decimals: 1, shape: [3]}
    \b
    Example:
      derive homework spec.yaml --variants 30 --seed 7 --out hw1/ --format md,tex,pdf,moodle
    """
    import gc
    gc.enable()  # a long run: collect as usual (main() pauses the collector for short commands)
    from .core.budget import check_variants
    from .courseware.homework import generate
    from .model.spec import load_spec
    check_variants(variants)
    if not [f for f in fmts.split(",") if f.strip()]:
        raise DeriveError("--format is empty; give one or more of md, tex, pdf, html, ipynb, text, moodle, qti, gift, worksheet")
    written = generate(load_spec(spec), variants, seed, out, fmts.split(","), jobs=jobs, force=force,
                       per_page=per_page, paper=paper, notes=_notes())
    click.echo(f"wrote {len(written)} files to {out}", err=True)


def _learning_rates(ctx, param, value):
    """``0.1`` or ``w=0.1,b=0.01`` (one per parameter)."""
    if value is None:
        return None
    if "=" not in value:
        return _number(ctx, param, value)
    rates = {}
    for part in value.split(","):
        name, _, number = part.partition("=")
        if not name.strip() or not number.strip():
            raise click.BadParameter(f"{part!r}: write one number, or name=number pairs like w=0.1,b=0.01")
        rates[name.strip()] = _number(ctx, param, number.strip())
    return rates


def _pair(ctx, param, value):
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2:
        raise click.BadParameter(f"{value!r}: give two numbers like 0.9,0.999")
    return tuple(_number(ctx, param, p) for p in parts)


def _optimizer_options() -> list:
    """``--optimizer`` and one option per hyperparameter of the optimizer registry (each entry's
    own and the common ones), with its doc and the optimizers that take it."""
    from .training.optimizers import OPTIMIZERS, options, takers
    made = [click.Option(["--optimizer"], help=f"One of: {', '.join(OPTIMIZERS)} (default sgd).")]
    callbacks = {"number": _number, "pair": _pair}
    sentence = lambda text: (text[0].upper() + text[1:] if text[:1].isascii() else text)  # noqa: E731 (ε stays ε)
    for hp in options():
        flag = "--" + hp.name.replace("_", "-")
        takes = takers(hp.name)
        where = f" ({', '.join(takes)})" if takes and len(takes) < len(OPTIMIZERS) else ""
        if hp.name == "lr":
            made.append(click.Option([flag, hp.name], callback=_learning_rates, help=sentence(hp.doc) + "."))
        elif hp.kind == "flag":
            made.append(click.Option([flag, hp.name], is_flag=True, default=None,
                                     help=sentence(hp.doc) + where + "."))
        else:
            example = " like 0.9,0.999" if hp.kind == "pair" else ""
            made.append(click.Option([flag, hp.name], callback=callbacks[hp.kind],
                                     help=sentence(hp.doc) + example + where + "."))
    return made


class _TrainCommand(click.Command):
    """``derive train``: the optimizer options are generated from the registry when the command
    parses its arguments or shows its help (so ``derive --help`` imports no SymPy)."""

    def get_params(self, ctx):
        from .training.optimizers import OPTIMIZERS, options
        key = (tuple(OPTIMIZERS), tuple(hp.name for hp in options()))  # an entry registered later counts
        if getattr(self, "registry_key", None) != key:
            if not hasattr(self, "fixed"):
                self.fixed = list(self.params)
            self.params = self.fixed[:2] + _optimizer_options() + self.fixed[2:]  # after SPEC and --steps
            self.registry_key = key
        return super().get_params(ctx)


@cli.command(cls=_TrainCommand)
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--steps", type=click.IntRange(0, 10000), help="Number of updates (or `steps:` in the spec's train section).")
@click.option("--plot", "plot", type=click.Path(dir_okay=False),
              help="Write the loss curve here (.png, .pdf, .svg); with -o it defaults to FILE's name + .png.")
@_output_options
def train(spec, steps, plot, fmt, output, precision, fragment, force, exact, paper, slides, section_level,
          **hyperparameters):
    """Train an example for several steps with an optimizer (PyTorch's rules, exact numbers):
    step 1 in full, the update rule with its numbers, a table per step, the loss curve and what
    the run shows (dead units, saturation, divergence, clipping). Scalar or tensor equations.
    Options override the spec's `train:` section; the optimizer options come from the optimizer
    registry.

    \b
    Example spec.yaml:
      equations: |
        z = w*x + b
        a = sigmoid(z)
        L = (a - y)**2
      values: {x: 2, w: 3, b: 1, y: 5}
      train: {steps: 20, optimizer: adam, lr: 0.1}
    \b
    Example:
      derive train spec.yaml --steps 20 --optimizer momentum --lr 0.1 --format md -o run.md
    """
    from pathlib import Path
    from .model.spec import training_from_spec
    if fmt == "pytorch":
        raise DeriveError("--format pytorch exports one example; use `derive render SPEC --format pytorch`")
    ex, options = training_from_spec(spec)
    given = {"steps": steps, **hyperparameters}
    options.update({k: v for k, v in given.items() if v is not None})
    if "steps" not in options:
        raise DeriveError("how many steps? give --steps N (or `train: {steps: N}` in the spec)")
    run = ex.train(**options)
    import tempfile
    with tempfile.TemporaryDirectory(prefix="derive-train-") as build:
        name = None
        if plot is None and output and fmt == "pdf":
            plot = str(Path(build) / (Path(output).stem + ".png"))  # a PDF's plot stays in its build folder
        elif plot is None and output and fmt != "text":
            plot = str(Path(output).with_suffix(".png"))  # named after the output, beside it
        if plot:
            if output and Path(plot).resolve() == Path(output).resolve():
                raise DeriveError(f"--plot {plot} is the output file; give the plot its own name")
            if fmt in ("pdf", "tex", "latex") and Path(plot).suffix.lower() == ".svg":
                raise DeriveError(f"--plot {plot}: LaTeX cannot include SVG; use a .png or .pdf plot")
            if Path(plot).exists() and not force:
                raise DeriveError(f"{plot} exists; pass --force to overwrite it")
            run.plot(plot)
            beside = output and Path(plot).parent.resolve() == Path(output).parent.resolve()
            name = Path(plot).name if beside or fmt == "pdf" else plot  # a PDF is built beside a copy
        from .rendering.slides import render_slides
        emit(lambda f, frag: run.render(f, precision, frag, name, exact, section_level=section_level, notes=_notes()),
             fmt, output, force, fragment, resources=[plot] if plot else [], paper=paper,
             slides=(lambda: render_slides(run.content(name), run.latex_names(), precision, exact))
             if slides else None)


@cli.command()
@click.option("--activation", default="relu", show_default=True,
              help="Any activation whose registry entry names an initialisation scheme (relu, tanh, sigmoid …).")
@click.option("--depth", type=click.IntRange(1, 1000), default=50, show_default=True, help="Layers of the simulated network.")
@click.option("--width", type=click.IntRange(1, 4096), default=256, show_default=True, help="Units per layer.")
@click.option("--batch", type=click.IntRange(1, 100000), default=1024, show_default=True, help="Random inputs per simulation.")
@click.option("--schemes", default="normal,small,xavier,he", show_default=True,
              help="Comma-separated: normal (std 1), small (std 0.01), xavier, he, lecun.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed: same seed, same simulation.")
@click.option("--plot", "plot", type=click.Path(dir_okay=False),
              help="Write the variance plot here (.png, .pdf or .svg); with -o it defaults to FILE's name + .png.")
@_output_options
def variance(activation, depth, width, batch, schemes, seed, plot, fmt, output, precision, fragment, force,
             exact, paper, slides, section_level):
    """Why He initialisation: the variance rule derived step by step (E[ReLU(z)²] = ½·Var[z] for z ~
    N(0, v)), and a Monte Carlo simulation of a deep network under several schemes, plotted.

    \b
    Example:
      derive variance --activation relu --depth 50 --width 256 --format md -o he.md
    """
    from pathlib import Path
    from .initialization.variance import simulate_variance, variance_derivation, simulation_section
    _documents_only(fmt, "is for examples; variance writes a document")
    _simulation_size(depth, width, batch)
    if plot and Path(plot).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise DeriveError(f"--plot {plot}: the plot is written as .png, .pdf or .svg; "
                          f"end the file name with one of them")
    if output and Path(output).exists() and not force:  # before any side file is written
        raise DeriveError(f"{output} exists; pass --force to overwrite it")
    handout = variance_derivation(activation)
    sim = simulate_variance(depth, width, activation, [s.strip() for s in schemes.split(",") if s.strip()],
                            seed, batch)
    import tempfile
    with tempfile.TemporaryDirectory(prefix="derive-variance-") as build:
        name = None
        if plot is None and (fmt == "html" or (output and fmt == "pdf")):
            # a PDF's plot stays in its build folder; an HTML page carries it inside
            plot = str(Path(build) / (Path(output or "variance").stem + ".png"))
            name = Path(plot).name
        elif plot is None and output:
            plot = str(Path(output).with_suffix(".png"))  # named after the output, beside it
        if plot:
            if Path(plot).exists() and not force:
                raise OutputExists(f"{plot} exists; pass --force to overwrite it")
            Path(plot).parent.mkdir(parents=True, exist_ok=True)
            sim.plot(plot)
            if name is None:
                name = Path(plot).name if output and Path(plot).parent == Path(output).parent else plot
        if fmt == "html":
            name = plot
        handout.content.sections.append(simulation_section(sim, name))
        handout.precision = precision
        from .rendering.slides import render_slides
        emit(lambda f, frag: handout.render(f, frag, section_level, notes=_notes()), fmt, output, force, fragment,
             resources=[plot] if plot else [], paper=paper,  # a PDF embeds the plot
             slides=(lambda: render_slides(handout.content, None, precision)) if slides else None)


@cli.command()
@click.argument("course", required=False, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=FormatChoice(documents_only=True), default="md", show_default=True,
              help="Output format (pdf and ipynb need -o); a course pack (COURSE) is md, tex, pdf, "
                   "html or ipynb.")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False),
              help="Write here; md/tex put the plot and diagrams beside it, named after it "
                   "(notes.md -> notes-variance.png); pdf and html keep them inside. Stdout by default.")
@click.option("--slides", is_flag=True, help="A beamer slide deck instead of a handout (tex or pdf).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@PAPER
@click.option("--x", callback=_number, default="2", show_default=True, help="Input x of the worked neuron.")
@click.option("--w", callback=_number, default="3", show_default=True, help="Weight w.")
@click.option("--b", callback=_number, default="1", show_default=True, help="Bias b.")
@click.option("--y", callback=_number, default="5", show_default=True, help="Target y.")
@click.option("--lr", callback=_number, default="0.1", show_default=True, help="Learning rate η.")
def handout(course, fmt, output, slides, force, paper, x, w, b, y, lr):
    """A lecture handout on ReLU and backpropagation: ReLU and its derivative, one neuron with
    its computation graph, sigmoid instead, exploding gradients, He initialisation with the
    variance plot, remedies. Every number is exact, rounded only where it is shown.

    With COURSE (a course file), a course pack instead: one document of numbered sections, each
    a spec file, a builder call or a paragraph (see docs/guide/lecture-materials.md).

    \b
    Example course.yaml:
      title: Week 5 — backpropagation
      sections:
        - {title: One neuron, spec: neuron.yaml}
        - {title: A deep chain, builder: chain, args: {depth: 3, weight: 5}}
        - {title: Remarks, text: "Bring your calculator."}
    \b
    Example:
      derive handout --format pdf -o handout.pdf
      derive handout --slides --format pdf -o slides.pdf
      derive handout course.yaml --format html -o week5.html
    """
    import gc
    gc.enable()
    if course is not None:
        ctx = click.get_current_context()
        given = [f"--{n}" for n in ("x", "w", "b", "y", "lr")
                 if ctx.get_parameter_source(n) is not click.core.ParameterSource.DEFAULT]
        if given:
            raise DeriveError(f"{given[0]} sets the built-in handout's neuron; a course file's "
                              f"sections give their own values")
        from .courseware.pack import write_course
        text = write_course(course, output, fmt, slides, force, paper)
        if text is not None:
            click.echo(text, nl=False)
        return
    from .courseware.handout import write_handout
    text = write_handout(output, fmt, slides, force, paper=paper, x=x, w=w, b=b, y=y, lr=lr)
    if text is not None:
        click.echo(text, nl=False)


@cli.command()
@click.option("--out", "out", default="output", show_default=True, type=click.Path(file_okay=False),
              help="Folder to write the examples into.")
@click.option("--force", is_flag=True, help="Replace the folder's generated files if it exists.")
@click.option("--no-pdf", is_flag=True, help="Skip PDFs even when pdflatex is installed.")
def demo(out, force, no_pdf):
    """Write every built-in worked example (ReLU neuron, sigmoid instead, the comparison, …) as
    Markdown, LaTeX, text, HTML and PDF, with an index README.md.

    \b
    Example:
      derive demo --out output/ --force
    """
    import gc
    gc.enable()  # a long run: collect as usual
    from .courseware.demo import write_demo
    written = write_demo(out, force=force, pdf=not no_pdf)
    click.echo(f"wrote {len(written)} files to {out}/", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (the default: this computer only).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
def serve(host, port, open_browser):
    """A local web app: type equations (or use a builder, or upload a spec) and see the
    derivation live; check answers step by step with hints; train; download every format.

    \b
    Example:
      derive serve --open
    """
    import gc
    gc.enable()  # a long-running server: collect as usual
    try:
        from .serve.app import serve as run
    except ImportError as e:
        raise DeriveError(f"derive serve needs the web packages ({e.name}); pip install 'derive[serve]'") from None
    click.echo(f"derive serve: http://{host}:{port}/ (Ctrl-C stops)", err=True)
    run(host, port, open_browser)


def _terminate_cleanly():
    """SIGTERM unwinds like Ctrl-C: staging folders and temporary build folders are removed on the
    way out, and the command ends with one line (``derive: interrupted``)."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)


def main(argv=None):
    """Console entry point: one line on stderr for any error, never a traceback."""
    # A short-lived process: the cyclic garbage collector only costs time here (its passes over
    # SymPy's import-time objects alone take tens of milliseconds); memory is freed at exit.
    import gc
    enabled = gc.isenabled()
    gc.disable()
    _terminate_cleanly()
    try:
        _run(argv)
    finally:
        if argv is None:  # the program itself (console script, python -m): the process ends now.
            # Frozen objects are left out of the collection the interpreter runs at exit, which
            # walked every object SymPy and the derivation made (a third of `derive neuron`'s
            # time); the operating system takes the memory back.
            gc.freeze()
        # main(argv) may be called in-process (tests, notebooks): leave the collector as found
        (gc.enable if enabled else gc.disable)()


def _run(argv):
    try:
        cli.main(args=argv, prog_name="derive", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        from .core.escape import one_line
        click.echo(f"derive: error: {one_line(e.format_message())}", err=True)
        sys.exit(2)
    except click.exceptions.Abort as e:  # click turns Ctrl-C (and our SIGTERM) into Abort
        interrupted = isinstance(e.__cause__, KeyboardInterrupt)
        click.echo("derive: interrupted" if interrupted else "derive: aborted", err=True)
        sys.exit(130)
    except DeriveError as e:
        from .core.escape import one_line  # it may quote the user's text: no control characters
        click.echo(f"derive: error: {one_line(str(e))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("derive: interrupted", err=True)
        sys.exit(130)
    except RecursionError:
        click.echo("derive: error: the input is nested too deeply to process", err=True)
        sys.exit(2)
    except OSError as e:
        click.echo(f"derive: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), err=True)
        sys.exit(2)
    except Exception as e:  # a bug in derive: still one line, and say so
        click.echo(f"derive: internal error ({type(e).__name__}: {e}); please report it", err=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
