"""Rendering: one registry entry per output format; Jinja templates lay out finished strings.

A format says which printer writes its math, how inline and display math are delimited, and how
user text is escaped. ``render(example, "markdown")`` builds the document content
(``derive.teaching.content``), prints every math object and sentence with the format's printer, and fills
``templates/<format>/<layout>.j2``. Templates never compute and never see SymPy objects.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.errors import DeriveError
from ..core.functions import Sentence
from .printing import printer_for


def _escape_latex(text: str) -> str:
    """User and sentence text for LaTeX: ASCII specials escaped here, other Unicode (σ, −, é …)
    spelled in LaTeX by latexcodec; a character neither knows is dropped rather than break the
    document."""
    import latexcodec  # noqa: F401  (registers the "latex" codec)
    out = []
    for ch in text:
        if ch in _ASCII_SPECIALS:
            out.append(_ASCII_SPECIALS[ch])
        elif ch in _LATEX_SYMBOLS:
            out.append(_LATEX_SYMBOLS[ch])
        elif ch.isascii():
            out.append(ch)
        else:
            try:
                out.append(ch.encode("latex").decode("ascii"))
            except UnicodeError:
                out.append("")
    return "".join(out)


_ASCII_SPECIALS = {"\\": r"\textbackslash{}", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
                   "$": r"\$", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "#": r"\#",
                   "_": r"\_", "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


# Symbols our own sentences use that latexcodec does not know (or spells less well).
_LATEX_SYMBOLS = {"⊙": r"\ensuremath{\odot}", "∂": r"\ensuremath{\partial}", "∏": r"\ensuremath{\prod}",
                  "⋮": r"\ensuremath{\vdots}", "𝟙": r"\ensuremath{\mathbb{1}}", "≈": r"\ensuremath{\approx}",
                  "ᵀ": r"\ensuremath{^{\top}}", "×": r"\ensuremath{\times}", "→": r"\ensuremath{\to}",
                  "√": r"\ensuremath{\surd}", "·": r"\ensuremath{\cdot}"}


def _escape_markdown(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>#|$])", r"\\\1", text)


@dataclass(frozen=True)
class Format:
    name: str
    printer: str  # "latex" or "text"
    extension: str
    inline: Callable[[str], str]
    display: Callable[[str], str]
    escape: Callable[[str], str]


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    FORMATS[fmt.name] = fmt
    return fmt


register(Format("markdown", "latex", "md", lambda m: f"${m}$", lambda m: f"$$\n{m}\n$$",
                _escape_markdown))
def _latex_display(math: str) -> str:
    from .latex_layout import display
    return display(math)


register(Format("latex", "latex", "tex", lambda m: f"\\({m}\\)", _latex_display, _escape_latex))
register(Format("text", "text", "txt", lambda m: m, lambda m: f"    {m}", lambda t: t))

ALIASES = {"md": "markdown", "tex": "latex", "txt": "text"}


def get_format(name: str) -> Format:
    name = ALIASES.get(name, name)
    try:
        return FORMATS[name]
    except KeyError:
        raise DeriveError(f"unknown format {name!r}; choose one of: "
                          f"{', '.join(sorted(FORMATS))}") from None


def templates_dir() -> Path:
    """The shipped templates: ``derive/templates`` in an installed package (setuptools maps the
    top-level ``templates/`` there), else the source tree's ``templates/`` (editable installs).
    Plain paths, no importlib.resources: start-up time matters."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "markdown").is_dir():
            return candidate
    raise DeriveError(f"derive's templates are missing (looked in {package / 'templates'}); "
                      f"reinstall the package")


@functools.lru_cache(maxsize=None)
def environment(fmt_name: str):
    import jinja2
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / fmt_name)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # TeX and Markdown are not HTML; user text is escaped before it arrives
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


class Writer:
    """Prints math objects and sentences for one format."""

    def __init__(self, fmt: Format, names=None, precision: int = 4, exact: bool = False):
        self.fmt = fmt
        self.printer = printer_for(fmt.printer, names, precision, exact)

    def math(self, obj) -> str:
        return self.printer.doprint(obj)

    def inline(self, obj) -> str:
        return self.fmt.inline(self.math(obj).strip())

    def display(self, obj) -> str:
        return self.fmt.display(self.math(obj))

    def sentence(self, s) -> str:
        if isinstance(s, str):
            return self.fmt.escape(s)
        parts = re.split(r"(\{\d+\})", s.template)
        out = []
        for part in parts:
            m = re.fullmatch(r"\{(\d+)\}", part)
            out.append(self.inline(s.math[int(m.group(1))]) if m else self.fmt.escape(part))
        return "".join(out)

    def diagram(self, d) -> str:
        """A computation-graph diagram in this format (TikZ, SVG image or Mermaid, or text)."""
        from . import diagrams
        if self.fmt.name == "latex":
            return diagrams.to_tikz(d, self.printer)
        if self.fmt.name == "markdown":
            if d.svg_name:
                return f"![Computation graph: forward values in blue, gradients in red]({d.svg_name})"
            return diagrams.to_mermaid(d)
        return diagrams.to_text(d)

    def cell(self, c) -> str:
        from ..core.derivation import Chain, Value
        from ..core.numbers import is_exact_display
        if isinstance(c, str):
            return self.fmt.escape(c)
        if isinstance(c, Sentence):
            return self.sentence(c)
        if isinstance(c, Value) and not is_exact_display(c.number):
            return self.inline(Chain("≈", c))  # a table cell shows ≈ for rounded values
        return self.inline(c)


# Widest a LaTeX table part may be, in ems of its font (see latex_layout.table_parts): A4 with the
# document's margins (letter is wider), and a 16:9 beamer frame's tables at \footnotesize.
TABLE_BUDGET = {"document": 41.0, "slides": 38.0}


def render_content(content, fmt_name: str, names=None, precision: int = 4, fragment: bool = False,
                   layout: str = "document", exact: bool = False, body: str = "") -> str:
    """``body`` is already-rendered text of the same format placed after the sections (used to
    assemble sheets rendered in parallel)."""
    fmt = get_format(fmt_name)
    from .latex_layout import MACROS, table_parts
    w = Writer(fmt, names if fmt.printer == "latex" else None, precision, exact)  # names are LaTeX
    sections = []
    for s in content.sections:
        blocks = []
        for kind, payload in s.blocks:
            if kind in ("say", "bullet"):
                blocks.append({"kind": kind, "text": w.sentence(payload)})
            elif kind == "show":
                blocks.append({"kind": kind, "math": w.display(payload)})
            elif kind == "step":
                math, reasons = payload
                blocks.append({"kind": kind, "math": w.display(math),
                               "why": "; ".join(w.sentence(r) for r in reasons)})
            elif kind == "figure":
                blocks.append({"kind": kind, "path": payload})
            elif kind == "diagram":
                blocks.append({"kind": "raw", "raw": w.diagram(payload)})
            elif kind == "table":
                header = [w.cell(h) for h in payload["header"]]
                rows = [[w.cell(c) for c in row] for row in payload["rows"]]
                parts = (table_parts(header, rows, TABLE_BUDGET.get(layout, 41.0))
                         if fmt.name == "latex" else [{"header": header, "rows": rows}])
                blocks.append({"kind": kind, "header": header, "rows": rows, "parts": parts})
        sections.append({"title": fmt.escape(s.title), "blocks": blocks,
                         "subtitle": fmt.escape(getattr(s, "subtitle", ""))})
    template = environment(fmt.name).get_template(f"{layout}.j2")
    return template.render(title=fmt.escape(content.title), sections=sections, fragment=fragment,
                           footer=fmt.escape(content.footer), body=body,
                           macros=MACROS if fmt.name == "latex" else "")
