"""MkDocs hook: the pages that come from the code, made at build time so they never go stale.

* ``<!-- derive:functions -->``, ``<!-- derive:losses -->``, ``<!-- derive:tensor-functions -->`` in
  a page become tables of the registries (``derive.FUNCTIONS``, ``derive.LOSSES`` and the tensor
  functions), printed by derive's own text printer.
* ``reference/api.md`` is generated from the names ``derive`` exports: one mkdocstrings block per
  public name, at the module that defines it today.
* ``<!-- derive:cli -->`` becomes every command's ``--help``, from click.
* ``<!-- derive:gallery -->`` becomes the gallery: every spec in ``examples/`` rendered by the
  ``derive`` command line as HTML (linked) and PDF (linked, with a ``pdftoppm`` thumbnail). The
  renders are cached by a hash of the spec and of derive's code, so ``mkdocs serve`` stays quick.
* ``reference/spec.md`` must have a heading for every spec field the loader knows, and
  ``reference/equations.md`` must name every registry function: a field or function added to the
  code without its documentation fails the strict build.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.plugins.derive")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the checkout's derive, as the tests import it

# --- registry tables ---------------------------------------------------------------------------


def _cell(text) -> str:
    return str(text).replace("|", "&#124;").replace("\n", " ") if text else ""


def _printed(expr) -> str:
    from derive.rendering.printing import printer_for
    return printer_for("text").doprint(expr)


def _arguments(spec) -> str:
    names = [str(a) for a in spec.arguments]
    defaults = list(spec.defaults)
    first_default = len(names) - len(defaults)
    shown = [f"{n} = {defaults[i - first_default]}" if i >= first_default else n
             for i, n in enumerate(names)]
    if spec.variadic:
        shown.append("…")
    return ", ".join(shown)


def functions_table(kind: str) -> str:
    import derive
    rows = ["| name | arguments | definition | derivative | at kinks and ties |",
            "| --- | --- | --- | --- | --- |"]
    for name, spec in derive.FUNCTIONS.items():
        if spec.kind != kind:
            continue
        about = f"{spec.description}: " if spec.description else ""
        rows.append(f"| `{name}` | {_cell(_arguments(spec))} | {_cell(about + _printed(spec.definition))} "
                    f"| {_cell(_printed(spec.rule))} | {_cell(spec.convention)} |")
    return "\n".join(rows)


def losses_table() -> str:
    import derive
    rows = ["| name | what it is | in equations |", "| --- | --- | --- |"]
    for name, spec in derive.LOSSES.items():
        entry = derive.FUNCTIONS.get(name)
        called = _cell(_printed(entry.definition)) if entry is not None else "a tensor function (below)"
        rows.append(f"| `{name}` | {_cell(spec.description)} | {called} |")
    return "\n".join(rows)


def tensor_functions_table() -> str:
    try:
        from derive.core.tensor import TENSOR_FUNCTIONS
    except ImportError as e:  # the module moved: say so, loudly (a warning fails --strict)
        log.warning(f"the tensor function registry was not found ({e}); update docs/hooks/generate.py")
        return ""
    rows = ["| name | arguments | what it computes |", "| --- | --- | --- |"]
    for name, spec in TENSOR_FUNCTIONS.items():
        count = (f"{spec.min_arity} to {spec.arity}" if spec.defaults else str(spec.arity))
        rows.append(f"| `{name}` | {count} | {_cell(spec.description)} |")
    return "\n".join(rows)


def train_fields_table() -> str:
    """The spec's ``train:`` keys: steps, the optimizer, and each hyperparameter of the optimizer
    registry with its documentation and default."""
    try:
        from derive.training.optimizers import OPTIMIZERS, options
    except ImportError as e:
        log.warning(f"the optimizer registry was not found ({e}); update docs/hooks/generate.py")
        return ""
    rows = ["| key | meaning | default |", "| --- | --- | --- |",
            "| `steps` | number of updates | |",
            f"| `optimizer` | {', '.join(f'`{n}`' for n in OPTIMIZERS)} | `sgd` |"]
    for hp in options():
        def number(v):
            return str(v).lower() if isinstance(v, bool) else f"{float(v):g}"
        default = hp.default
        if isinstance(default, tuple):
            shown = "`[" + ", ".join(map(number, default)) + "]`"
        else:
            shown = "" if default is None else f"`{number(default)}`"
        rows.append(f"| `{hp.name}` | {_cell(hp.doc)} | {shown} |")
    return "\n".join(rows)


# --- the command-line reference ---------------------------------------------------------------


def cli_reference() -> str:
    """``derive --help`` and every command's ``--help``, as click prints them at 80 columns."""
    import click
    from derive.cli import cli
    lines = []

    def help_of(command, name, parent=None):
        # make_context applies the group's settings (-h as well as --help); resilient parsing
        # leaves required arguments unchecked
        ctx = command.make_context(name, [], parent=parent, resilient_parsing=True,
                                   terminal_width=80, max_content_width=80)
        return ctx, command.get_help(ctx)

    root, text = help_of(cli, "derive")
    lines += ["## derive", "", "```text", text, "```", ""]
    for name in sorted(cli.commands):
        _, text = help_of(cli.commands[name], name, root)
        lines += [f"## derive {name}", "", "```text", text, "```", ""]
    return "\n".join(lines)


# --- the API reference -------------------------------------------------------------------------

# Sections of the API page, by exported name. A name derive exports that no section lists still
# appears (under "More"), so a new public name is documented the day it is exported.
API_SECTIONS = {
    "Examples": ["Example", "TensorExample", "from_torch"],
    "Builders": ["neuron", "chain", "mlp", "batchnorm", "batchnorm_simplified", "rnn", "conv1d",
                 "conv2d", "maxpool", "dropout"],
    "Checking answers": ["Report"],
    "Extending": ["register_activation", "unregister"],
    "Courseware": ["compare_activations", "remedies", "variance_derivation", "simulate_variance"],
}
# Registries: documented as tables on the equation-language page, not here.
API_TABLES = {"FUNCTIONS", "ACTIVATIONS", "LOSSES"}


def _runtime_classes() -> dict:
    """Public classes a user meets through a method rather than by name: found from a live
    object, so the page follows them when their module moves."""
    import derive
    found = {}
    example = derive.neuron(x=1, w=1, b=0, y=0, activation="identity")
    training = example.train(1)
    found["Training"] = f"{type(training).__module__}.{type(training).__qualname__}"
    try:
        import derive.checking.tutor as tutor
        found["Tutor"] = f"{tutor.Tutor.__module__}.Tutor"
    except (ImportError, AttributeError) as e:
        log.warning(f"the tutor moved ({e}); update docs/hooks/generate.py")
    return found


def api_page() -> str:
    import derive
    from derive import _EXPORTS, __all__ as public
    where = {name: f"derive.{module}.{name}" for name, module in _EXPORTS.items()}
    runtime = _runtime_classes()
    lines = ["# Python API",
             "",
             "Generated from the docstrings of the names `import derive` gives you "
             "(`derive.Example`, `derive.neuron` …), at the module that defines each today. "
             "Import them from `derive`, not from the modules: the modules may move, the names "
             "stay. The registries (`derive.FUNCTIONS`, `derive.ACTIVATIONS`, `derive.LOSSES`) are "
             "tabulated in [the equation language](equations.md#functions).",
             ""]
    listed = set(API_TABLES)
    sections = dict(API_SECTIONS)
    sections["Training"] = ["Training"]
    sections["Checking answers"] = sections["Checking answers"] + ["Tutor"]
    for title, names in sections.items():
        lines += [f"## {title}", ""]
        for name in names:
            path = where.get(name) or runtime.get(name)
            if path is None:
                continue  # e.g. TensorExample merged into Example
            listed.add(name)
            lines += [f"::: {path}", "    options:", "      heading_level: 3", ""]
            if name == "Training":
                lines.insert(-4, "`Example.train(...)` returns a `Training`:\n")
            if name == "Tutor":
                lines.insert(-4, "The tutor of `derive check --interactive`, as a state machine "
                                 "(`Tutor(ex)`; `tutor.respond(\"7\")` gives the lines to show):\n")
    errors = [n for n in public if n not in _EXPORTS]
    lines += ["## Errors", "",
              "Every error derive raises is a `DeriveError`; its message names the culprit and "
              "the fix. The command line prints it as one line and exits with status 2.", ""]
    for name in errors:
        cls = getattr(derive, name)
        lines += [f"::: {cls.__module__}.{name}", "    options:", "      heading_level: 3",
                  "      show_bases: true", ""]
    rest = [n for n in _EXPORTS if n not in listed]
    if rest:
        lines += ["## More", ""]
        for name in rest:
            lines += [f"::: {where[name]}", "    options:", "      heading_level: 3", ""]
    return "\n".join(lines) + "\n"


# --- the gallery -------------------------------------------------------------------------------

GALLERY = "gallery"


def _code_hash() -> str:
    digest = hashlib.sha256()
    for folder in ("derive", "templates"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in {".py", ".j2"}:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _derive(*args, cwd) -> None:
    """``derive ARGS`` run in this process, in ``cwd``: the gallery's two dozen commands would each
    start an interpreter and import SymPy again. One at a time (the working directory is the
    process's), with the PDFs' dates fixed as the command line's own runs have them."""
    from derive.cli import main
    old_cwd, old_epoch = os.getcwd(), os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = old_epoch or "1700000000"
    os.chdir(cwd)
    try:
        main(list(args))
    except SystemExit as stop:
        if stop.code:
            raise RuntimeError(f"derive {' '.join(args)}: exit status {stop.code}") from None
    finally:
        os.chdir(old_cwd)
        if old_epoch is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)


def _render_example(spec: Path, out: Path, pdf: bool) -> dict:
    """``out`` gets ``<stem>.html``, ``<stem>.pdf`` and ``<stem>.png`` (the PDF's first page)."""
    stem = spec.stem
    text = spec.read_text()
    homework = "\nrandom:" in "\n" + text
    formats = "html,pdf" if pdf else "html"
    if homework:  # random values: two variants of the homework, its worked solutions
        work = out / f"{stem}-homework"
        _derive("homework", str(spec), "--variants", "2", "--seed", "1", "--out", str(work),
                "--format", formats, "--force", "--jobs", "1", cwd=out)
        shutil.move(work / "solutions.html", out / f"{stem}.html")
        if pdf:
            shutil.move(work / "solutions.pdf", out / f"{stem}.pdf")
        shutil.rmtree(work)
    else:
        _derive("render", str(spec), "--format", "html", "-o", f"{stem}.html", "--force", cwd=out)
        if pdf:
            _derive("render", str(spec), "--format", "pdf", "-o", f"{stem}.pdf", "--force", cwd=out)
    if pdf:
        subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", "-singlefile",
                        f"{stem}.pdf", stem], cwd=out, check=True, capture_output=True)
    title = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                  if line.startswith("title:")), stem)
    return {"stem": stem, "title": title.strip("'\""), "homework": homework}


def build_gallery() -> tuple[Path, list[dict]]:
    pdf = shutil.which("pdflatex") is not None and shutil.which("pdftoppm") is not None
    if not pdf:
        say = log.warning if os.environ.get("DERIVE_REQUIRE_TOOLS") else log.info
        say("pdflatex or pdftoppm is missing: the gallery has HTML pages only")
    specs = sorted((ROOT / "examples").glob("*.yaml"))
    cache = Path(tempfile.gettempdir()) / "derive-docs-gallery" / f"{_code_hash()}-{int(pdf)}"
    entries = []

    def one(spec: Path) -> dict:
        key = hashlib.sha256(spec.read_bytes()).hexdigest()[:16]
        folder = cache / f"{spec.stem}-{key}"
        done = folder / "done"
        if not done.exists():
            scratch = Path(tempfile.mkdtemp(prefix=f"{spec.stem}-", dir=cache))
            info = _render_example(spec, scratch, pdf)
            (scratch / "done").write_text(repr(info))
            shutil.rmtree(folder, ignore_errors=True)
            scratch.rename(folder)
        import ast
        return {**ast.literal_eval(done.read_text()), "folder": folder}

    cache.mkdir(parents=True, exist_ok=True)
    entries = [one(spec) for spec in specs]
    return cache, entries


def gallery_markdown(entries: list[dict]) -> str:
    lines = ['<div class="grid cards" markdown>', ""]
    for e in entries:
        stem = e["stem"]
        has_pdf = (e["folder"] / f"{stem}.pdf").exists()
        what = "two homework variants with their worked solutions" if e["homework"] else "the worked example"
        lines.append(f"-   **{e['title']}**")
        lines.append("")
        if has_pdf:
            lines.append(f"    [![{stem}: the PDF's first page]({GALLERY}/{stem}.png)]({GALLERY}/{stem}.pdf)")
            lines.append("")
        links = f"[HTML]({GALLERY}/{stem}.html)" + (f" · [PDF]({GALLERY}/{stem}.pdf)" if has_pdf else "")
        lines.append(f"    `examples/{stem}.yaml`, {what}: {links}")
        lines.append("")
    lines.append("</div>")
    return "\n".join(lines)


# --- MkDocs events -----------------------------------------------------------------------------

_gallery: list[dict] = []


def on_files(files, config):
    files.append(File.generated(config, "reference/api.md", content=api_page()))
    global _gallery
    _, _gallery = build_gallery()
    for e in _gallery:
        for suffix in (".html", ".pdf", ".png"):
            path = e["folder"] / f"{e['stem']}{suffix}"
            if path.exists():
                files.append(File.generated(config, f"{GALLERY}/{e['stem']}{suffix}",
                                            abs_src_path=str(path)))
    return files


def _check_spec_fields(markdown: str) -> None:
    from derive.model import spec
    headings = "\n".join(line for line in markdown.splitlines() if line.startswith("#"))
    train = spec.train_fields() if hasattr(spec, "train_fields") else spec.TRAIN_FIELDS
    fields = list(spec.KNOWN_FIELDS) + [f"train.{k}" for k in train if k != "lr"]
    for name in fields:
        short = name.split(".")[-1]
        if f"`{name}`" not in headings and f"`{short}`" not in markdown:
            log.warning(f"reference/spec.md does not document the spec field `{name}`")


def _check_functions(markdown: str) -> None:
    import derive
    for name in derive.FUNCTIONS:
        if f"`{name}`" not in markdown:
            log.warning(f"reference/equations.md does not name the function `{name}`")


def on_page_markdown(markdown, page, config, files):
    replacements = {
        "<!-- derive:activations -->": lambda: functions_table("activation"),
        "<!-- derive:functions -->": lambda: functions_table("math"),
        "<!-- derive:loss-functions -->": lambda: functions_table("loss"),
        "<!-- derive:losses -->": losses_table,
        "<!-- derive:tensor-functions -->": tensor_functions_table,
        "<!-- derive:gallery -->": lambda: gallery_markdown(_gallery),
        "<!-- derive:cli -->": cli_reference,
        "<!-- derive:train-fields -->": train_fields_table,
    }
    for marker, make in replacements.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    if page.file.src_uri == "reference/spec.md":
        _check_spec_fields(markdown)
    if page.file.src_uri == "reference/equations.md":
        _check_functions(markdown)
    return markdown
