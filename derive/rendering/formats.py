"""Rendering: one registry entry per output format; Jinja templates lay out finished strings.

A format says which printer writes its math, how inline and display math are delimited, and how
user text is escaped. ``render(example, "markdown")`` builds the document content
(``derive.solutions.content``), prints every math object and sentence with the format's printer, and fills
``templates/<format>/<layout>.j2``. Templates never compute and never see SymPy objects.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.errors import DeriveError
from ..core.escape import visible
from ..core.functions import Sentence
from . import blocks
from .printing import printer_for
from .arithmetic import carried_across


def _escape_latex(text: str) -> str:
    """User and sentence text for LaTeX: ASCII specials escaped here, other Unicode (σ, −, é …)
    spelled in LaTeX by latexcodec; a character neither knows is dropped rather than break the
    document."""
    import latexcodec  # noqa: F401  (registers the "latex" codec)
    text = visible(text)  # a control character would end the TeX run (or be read as ^^ code)
    out = []
    # a run of superscripts (10⁻⁶ in a sentence) is one LaTeX exponent, not one per character
    # (a lone ¹ ² ³ latexcodec spells itself)
    parts = re.split(r"([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]{2,}|[⁰⁴⁵⁶⁷⁸⁹⁻])", text)
    if len(parts) > 1:
        return "".join(r"\ensuremath{^{" + p.translate(_FROM_SUPERSCRIPT) + "}}" if i % 2
                       else _escape_latex(p) for i, p in enumerate(parts))
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


_FROM_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_ASCII_SPECIALS = {"\\": r"\textbackslash{}", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
                   "$": r"\$", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "#": r"\#",
                   "_": r"\_", "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


# Symbols our own sentences use that latexcodec does not know (or spells less well).
_LATEX_SYMBOLS = {"⊙": r"\ensuremath{\odot}", "∂": r"\ensuremath{\partial}", "∏": r"\ensuremath{\prod}",
                  "⋮": r"\ensuremath{\vdots}", "𝟙": r"\ensuremath{\mathbf{1}}",
                  # the vector of ones (𝟏ᵀ g), as the LaTeX printer writes it
                  "𝟏": r"\ensuremath{\mathbf{1}}", "≈": r"\ensuremath{\approx}",
                  "ᵀ": r"\ensuremath{^{\top}}", "×": r"\ensuremath{\times}", "→": r"\ensuremath{\to}",
                  "√": r"\ensuremath{\surd}", "·": r"\ensuremath{\cdot}",
                  # U+03C6 is the loopy φ the printer sets as \varphi (latexcodec: \phi, ϕ)
                  "φ": r"\ensuremath{\varphi}"}


def _escape_markdown(text: str) -> str:
    # brackets and angle brackets escaped: no user text becomes a link (`[x](javascript:…)`)
    return re.sub(r"([\\`*_{}\[\]<>#|$])", r"\\\1", visible(text))


NOTATION_KEYS = {"total": ("d", "∂"), "delta": (True, False), "index_base": (0, 1)}


class ResolvedNotation(dict):
    """A notation preset already checked and completed for one example (``derive.solutions.steps.
    resolve_notation``): the user's keys plus what the printers need to apply them — ``output``,
    ``deltas`` (pre-activation -> its δ name) and ``renumber`` (the shift of displayed indices)."""


def check_notation(notation) -> dict:
    """A course's notation preset, checked: ``total`` ("d" or "∂"; ``partial`` is accepted for
    ``∂``) is how total derivatives are written; ``delta: true`` writes the loss's gradient with
    respect to a pre-activation as δ (δ, δ₁, δ⁽ˡ⁾ⱼ); ``index_base: 0`` numbers layers, units and
    inputs from 0 in the names shown.

    >>> check_notation({"total": "partial"})["total"]
    '∂'
    >>> check_notation({"delta": True, "index_base": 0})
    {'total': '∂', 'delta': True, 'index_base': 0}
    """
    if isinstance(notation, ResolvedNotation):
        return notation
    # ∂ for totals by default (as derive always wrote them); a direct partial that would collide
    # with a total is then marked |direct. Courses that write dL/dw choose total: d.
    out = {"total": "∂"}
    if notation is None:
        return out
    if not isinstance(notation, dict):
        raise DeriveError(f"notation must be a mapping like {{total: d, delta: true}}, got {notation!r}")
    for key, value in notation.items():
        if key not in NOTATION_KEYS:
            raise DeriveError(f"unknown notation setting {key!r}; known: {', '.join(NOTATION_KEYS)}")
        if key == "total" and value in ("partial", "\\partial"):
            value = "∂"
        # true/false, 0/1 exactly (YAML's yes/no arrive as bools; 1.0 or "0" are refused)
        if not any(value == v and type(value) is type(v) for v in NOTATION_KEYS[key]):
            raise DeriveError(f"notation {key} must be one of "
                              f"{', '.join(str(v).lower() if isinstance(v, bool) else str(v) for v in NOTATION_KEYS[key])}, "
                              f"got {value!r}")
        out[key] = value
    return out


def _text_table(header: list, rows: list, layout: str = "document") -> dict:
    """Plain-text tables are aligned by padding: every cell but a row's last one is padded to
    its column's width (computed here, so the template only lays out)."""
    widths = [max([len(h)] + [len(r[i]) for r in rows if i < len(r)]) for i, h in enumerate(header)]

    def pad(cells):
        return [c.ljust(widths[i]) if i < len(cells) - 1 else c for i, c in enumerate(cells)]

    return {"header": [h.ljust(w) for h, w in zip(header, widths)], "rule": ["-" * w for w in widths],
            "rows": [pad(r) for r in rows]}


def _plain_table(header: list, rows: list, layout: str = "document") -> dict:
    return {"header": header, "rows": rows, "parts": [{"header": header, "rows": rows}]}



def _latex_table(header: list, rows: list, layout: str = "document") -> dict:
    """LaTeX tables too wide for the page are split by columns or wrapped (latex_layout)."""
    from .latex_layout import table_parts
    return {"header": header, "rows": rows,
            "parts": table_parts(header, rows, TABLE_BUDGET.get(layout, 41.0))}


def _latex_inline(math: str) -> str:
    r"""Math in a sentence, which TeX must be able to break like the words around it: plain
    brackets (``\bigl`` around a fraction), never ``\left…\right``, which TeX cannot break inside
    and which sizes brackets in a small inline fraction too large.

    >>> _latex_inline(r"\sigma(z) \left(1 - \sigma(z)\right) = \left(\frac{1}{2}\right)")
    '\\(\\sigma(z) (1 - \\sigma(z)) = \\bigl(\\frac{1}{2}\\bigr)\\)'
    """
    from .latex_layout import inline  # a cases or a matrix: a display when too wide (latex_layout)
    return inline(math)


def _latex_display(math: str) -> str:
    from .latex_layout import display
    return display(math)


def _latex_macros() -> str:
    from .latex_layout import MACROS
    return MACROS


def _latex_paper(text: str, paper: str) -> str:
    from .latex_layout import set_paper
    return set_paper(text, paper)


def _markdown_diagram(d, printer) -> str:
    from . import diagrams
    if d.svg_name:
        return f"![Computation graph: forward values in blue, gradients in red]({d.svg_name})"
    return diagrams.to_markdown_image(d, printer)


def _tikz_diagram(d, printer) -> str:
    from . import diagrams
    return diagrams.to_tikz(d, printer)


def _text_diagram(d, printer) -> str:
    from . import diagrams
    return diagrams.to_text(d, printer)


@dataclass(frozen=True)
class Format:
    """One output format: its names, file extension, the printer that writes its math, how math
    is delimited and text escaped, its templates (``templates/<templates>/<layout>.j2``), how it
    draws computation-graph diagrams and lays out tables. A format made from another one
    (``source``: a PDF is compiled LaTeX) or an export (``printer`` None) has no templates.

    >>> get_format("md").name, get_format("md").extension
    ('markdown', 'md')
    """

    name: str
    printer: str | None  # "latex" or "text"; None for an export (the PyTorch script)
    extension: str
    inline: Callable[[str], str] = lambda m: m
    display: Callable[[str], str] = lambda m: m
    escape: Callable[[str], str] = lambda t: t
    aliases: tuple = ()
    templates: str | None = None  # template folder; None: the format's name
    diagram: Callable | None = None  # (Diagram, printer) -> markup
    table: Callable[[list, list, str], dict] = _plain_table  # printed cells, layout -> template data
    macros: Callable[[], str] = lambda: ""  # definitions the templates put in the preamble
    paper: Callable[[str, str], str] | None = None  # (document, "a4"|"letter") -> document
    source: str | None = None  # rendered as this format, then converted (pdf: latex)
    binary: bool = False  # the converted result is bytes (written, never printed)
    description: str = ""
    # (source document, examples) -> this format, for a non-binary converted format (ipynb)
    convert: Callable | None = None
    listed: bool = True  # offered by the CLI's --format (html_tex is for LMS feedback only)
    # an export (printer None): "module:function" of the writer, (example) -> text. A name, not
    # the function: exporters live in the io layer, above this one, and are imported when used.
    export: str | None = None
    # the IPython display method that shows a document in this format (Jupyter's rich display)
    notebook_repr: str | None = None
    notebook_fragment: bool = False  # the display shows the sections only (a page inside a page)

    @property
    def template_folder(self) -> str:
        return self.templates or self.name

    @property
    def document(self) -> bool:
        """A document format of its own (templates and a printer)."""
        return self.printer is not None and self.source is None


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    """Add an output format; the CLI's ``--format`` choices and every writer find it from then on.

    >>> fmt = register(Format("plain", "text", "txt2", templates="text"))
    >>> "plain" in format_choices()
    True
    >>> unregister("plain")
    """
    FORMATS[fmt.name] = fmt
    return fmt


register_format = register


def unregister(name: str) -> None:
    """Remove a format added by ``register`` (tests leave the registry as they found it)."""
    del FORMATS[name]
    environment.cache_clear()


def mathjax_tex(math: str) -> str:
    r"""LaTeX as MathJax (Jupyter, GitHub, Moodle) renders it: MathJax draws ``\mathbb{1}`` as a
    plain 1 (its blackboard font has letters only), so the indicator is written ``\mathbf{1}``.

    >>> mathjax_tex(r"\mathbb{1}\left[z > 0\right]")
    '\\mathbf{1}\\left[z > 0\\right]'
    """
    return math.replace("\\mathbb{1}", "\\mathbf{1}")


def _escape_html(text: str) -> str:
    import html
    return html.escape(visible(text), quote=False)


def mathml(math: str, display: bool = False) -> str:
    """LaTeX from the printer as MathML (latex2mathml), which browsers render natively; math it
    cannot convert stays visible as TeX source rather than vanish.

    >>> mathml("x^{2}").startswith('<math xmlns="http://www.w3.org/1998/Math/MathML"')
    True
    """
    from latex2mathml.converter import convert
    from .latex_layout import breakable
    # Browsers space stretchy fences widely: plain parentheses unless they enclose a fraction.
    tex = breakable(mathjax_tex(math.strip()), small="", large=None)
    tex, names = _hold_operator_names(tex)
    try:
        out = convert(tex, display="block" if display else "inline")
    except Exception:  # latex2mathml raises bare exceptions on what it does not know
        return f'<code class="tex">{_escape_html(math)}</code>'
    # \operatorname{ReLU} arrives as an operator <mo>, which browsers pad like a relation.
    out = re.sub(r"<mo>([A-Za-z]{2,})</mo>", r"<mi>\1</mi>", out)
    for held, name in names.items():
        out = out.replace(f"<mi>{held}</mi>", f"<mi>{name}</mi>")
    # \mathrm{prev} arrives letter by letter, each its own upright <mi>: one name, one <mi>
    out = _UPRIGHT_LETTERS.sub(lambda m: '<mi mathvariant="normal">' + re.sub("<[^>]*>", "", m.group(1))
                               + "</mi>", out)
    # A matrix's brackets are fences that stretch over its rows, grouped with its table (a bare
    # <mo>[</mo> beside an <mtable> is sized as a glyph of the line by some browsers).
    out = re.sub(r"<mo>&#x0005B;</mo>(<mtable>.*?</mtable>)<mo>&#x0005D;</mo>",
                 r'<mrow><mo stretchy="true" fence="true" form="prefix">&#x0005B;</mo>\1'
                 r'<mo stretchy="true" fence="true" form="postfix">&#x0005D;</mo></mrow>', out)
    # f' arrives as a superscript prime, which browsers raise a second time (a detached accent
    # over ELU′): the prime glyph already sits high, so it follows its function on the line.
    out = re.sub(r"<msup>(<mi>[^<]*</mi>)<mi>&#x02032;</mi></msup>",
                 r'\1<mo lspace="0" rspace="0">&#x02032;</mo>', out)
    return _prefix_minus(out)


_UPRIGHT_LETTER = '<mi mathvariant="normal">[^<&]</mi>'
_UPRIGHT_LETTERS = re.compile(f"<mrow>({_UPRIGHT_LETTER}(?:{_UPRIGHT_LETTER}|<mn>[^<]*</mn>)+)</mrow>")
_OPERATOR_NAME = re.compile(r"\\operatorname\{((?:[^{}\\]|\\[,;_ ])*)\}")
_NAME_SPACES = {"\\,": "\u2009", "\\;": "\u2005", "\\ ": " ", "\\_": "_"}


def _hold_operator_names(tex: str) -> tuple[str, dict[str, str]]:
    r"""``tex`` with each ``\operatorname{…}`` that latex2mathml cannot read (it takes letters only:
    ``conv2d``, ``log\,softmax`` arrive as an empty operator and italic letters) replaced by a
    placeholder of letters, and the MathML text each placeholder stands for: set upright in one
    ``<mi>``, like every other operator name.

    >>> _hold_operator_names(r"\operatorname{conv2d}\left(x\right) + \operatorname{ReLU}(y)")
    ('\\operatorname{derivheldopa}\\left(x\\right) + \\operatorname{ReLU}(y)', {'derivheldopa': 'conv2d'})
    """
    import html
    names: dict[str, str] = {}

    def hold(match):
        text = match.group(1)
        if text.isascii() and text.isalpha():
            return match.group(0)
        for tex_space, char in _NAME_SPACES.items():
            text = text.replace(tex_space, char)
        # the count's digits as letters (0 → a … 9 → j): a placeholder latex2mathml reads
        held = "derivheldop" + "".join("abcdefghij"[int(d)] for d in str(len(names)))
        names[held] = html.escape(text.strip(), quote=False)
        return "\\operatorname{" + held + "}"

    return _OPERATOR_NAME.sub(hold, tex), names


_MINUS = "<mo>&#x02212;</mo>"
# what a binary minus follows: a closing fence (a bracket, bars)
_CLOSING = ("&#x00029;", "&#x0005D;", "&#x0007D;", "&#x0007C;", "&#x02016;", "&#x0232A;", "&#x027E9;")


def _prefix_minus(mathml_text: str) -> str:
    """A minus that starts a row or follows an operator is a sign, not a subtraction: latex2mathml
    writes both as ``<mo>−</mo>``, which browsers space like a binary operator ("= − 0.5",
    "( − 1.5)"). A sign gets ``form="prefix"`` and no extra space.

    >>> _prefix_minus("<mrow><mo>&#x0003D;</mo><mo>&#x02212;</mo><mn>1</mn></mrow>")
    '<mrow><mo>&#x0003D;</mo><mo form="prefix" lspace="0" rspace="0">&#x02212;</mo><mn>1</mn></mrow>'
    """
    def sign(match):
        before = re.search(r"(<mrow>|<math[^>]*>|<mo[^>]*>([^<]*)</mo>)$", match.string[:match.start()])
        if before is None or before.group(2) in _CLOSING:
            return match.group(0)  # after a number, a name or (a): a subtraction
        return '<mo form="prefix" lspace="0" rspace="0">&#x02212;</mo>'

    return re.sub(re.escape(_MINUS), sign, mathml_text)


def _html_diagram(d, printer) -> str:
    """Inline SVG (the page stays one file)."""
    from . import diagrams
    return (f'<figure class="diagram">{diagrams.svg_markup(d, printer)}<figcaption>Forward values in '
            f'blue, gradients in red</figcaption></figure>')


def _notebook(markdown: str, examples=()) -> str:
    from .notebook import notebook
    return notebook(markdown, examples)


def embed_images(html: str, files) -> str:
    """An HTML page carries its plots as data URIs, so the page is one self-contained file:
    every ``src="…"`` naming one of ``files`` (by path or file name) is replaced by the data.

    >>> embed_images('<img src="missing.png">', [])
    '<img src="missing.png">'
    """
    import base64
    import mimetypes
    for file in map(Path, files):
        if not file.is_file():
            continue
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        data = f"data:{kind};base64,{base64.b64encode(file.read_bytes()).decode('ascii')}"
        for ref in {str(file), file.name}:
            html = html.replace(f'src="{ref}"', f'src="{data}"')
    return html


register(Format("markdown", "latex", "md", lambda m: f"${mathjax_tex(m)}$",
                lambda m: f"$$\n{mathjax_tex(m)}\n$$", _escape_markdown, aliases=("md",), diagram=_markdown_diagram,
                notebook_repr="_repr_markdown_", description="Markdown with $…$ math (pandoc, GitHub, Jupyter)"))
register(Format("latex", "latex", "tex", _latex_inline, _latex_display,
                _escape_latex, aliases=("tex",), diagram=_tikz_diagram, table=_latex_table,
                macros=_latex_macros, paper=_latex_paper, description="a LaTeX document (pdflatex)"))
register(Format("text", "text", "txt", lambda m: m, lambda m: f"    {m}", visible,
                aliases=("txt",), diagram=_text_diagram, table=_text_table,
                description="plain Unicode text"))
register(Format("pdf", "latex", "pdf", source="latex", binary=True, paper=_latex_paper,
                description="the LaTeX document compiled with pdflatex"))
# One self-contained page with math as MathML; the same page with MathJax-compatible TeX for
# learning platforms (Moodle feedback), whose HTML filters strip MathML.
register(Format("html", "latex", "html", lambda m: mathml(m),
                lambda m: f'<div class="math">{mathml(m, display=True)}</div>', _escape_html,
                aliases=("htm",), diagram=_html_diagram, notebook_repr="_repr_html_",
                notebook_fragment=True,
                description="one self-contained HTML page: MathML, inline SVG, embedded plots"))
register(Format("html_tex", "latex", "html", lambda m: f"\\({_escape_html(mathjax_tex(m.strip()))}\\)",
                lambda m: f'<p class="math">\\[{_escape_html(mathjax_tex(m.strip()))}\\]</p>',
                _escape_html, templates="html", diagram=_html_diagram, listed=False,
                description="HTML with TeX for MathJax (LMS feedback)"))
register(Format("ipynb", "latex", "ipynb", source="markdown", convert=_notebook,
                description="a Jupyter notebook: the solution as Markdown, code cells rebuilding and "
                            "cross-checking each example with PyTorch"))
register(Format("pytorch", None, "py", export="derive.io.pytorch:to_pytorch",
                description="a runnable PyTorch script (one example)"))
register(Format("worksheet", None, "html", export="derive.courseware.worksheet:to_worksheet",
                description="a self-checking HTML worksheet (offline: answers checked in the page)"))


def get_format(name: str) -> Format:
    """The format called ``name`` or one of its aliases (``md``, ``tex``, ``txt``)."""
    for fmt in FORMATS.values():
        if name == fmt.name or name in fmt.aliases:
            return fmt
    raise DeriveError(f"unknown format {name!r}; choose one of: {', '.join(format_choices())}")


def format_choices(documents_only: bool = False, printable: bool = False) -> list[str]:
    """Every name and alias, for the CLI's ``--format``. ``documents_only``: no exports (the
    PyTorch script); ``printable``: only formats with templates of their own (text a terminal
    can show, no PDF)."""
    out = []
    for fmt in FORMATS.values():
        if not fmt.listed or (documents_only and fmt.printer is None) or (printable and not fmt.document):
            continue
        out += [*fmt.aliases, fmt.name]
    return out


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
def environment(folder: str):
    """The Jinja environment of one template folder (cached)."""
    import jinja2
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # TeX and Markdown are not HTML; user text is escaped before it arrives
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["underline"] = lambda text, char: char * len(text)  # a plain-text heading's rule
    return env


@functools.lru_cache(maxsize=1024)  # a few dozen sentence templates, printed again and again
def _holes(template: str) -> tuple:
    """A sentence template split into its text and the numbers of its math holes:
    ``"since {0}, ReLU is active"`` -> ``("since ", 0, ", ReLU is active")``."""
    return tuple(int(part[1:-1]) if re.fullmatch(r"\{\d+\}", part) else part
                 for part in re.split(r"(\{\d+\})", template) if part)


class Writer:
    """Prints math objects, sentences and blocks for one format."""

    def __init__(self, fmt: Format, names=None, precision: int = 4, exact: bool = False,
                 layout: str = "document", notation=None, carry: int = 0):
        self.fmt = fmt
        self.layout = layout  # the template ("document", "slides"): tables fit its width
        self.printer = printer_for(fmt.printer, names, precision, exact, notation, carry)

    def math(self, obj) -> str:
        return self.printer.doprint(obj)

    def inline(self, obj) -> str:
        return self.fmt.inline(self.math(obj).strip())

    def display(self, obj) -> str:
        return self.fmt.display(self.math(obj))

    def sentence(self, s) -> str:
        if isinstance(s, str):
            return self.fmt.escape(s)
        return "".join(self.inline(s.math[part]) if isinstance(part, int) else self.fmt.escape(part)
                       for part in _holes(s.template))

    def diagram(self, d) -> str:
        """A computation-graph diagram in this format: the format's own diagram writer, or, for a
        format registered without one, the diagram in words (each node, each edge), escaped."""
        if self.fmt.diagram is None:
            return self.fmt.escape(_text_diagram(d, self.printer))
        return self.fmt.diagram(d, self.printer)

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

    def block(self, b) -> dict:
        """One block as the finished strings its template lays out."""
        writer = BLOCK_WRITERS.get(type(b))
        if writer is None:
            raise DeriveError(f"no writer for the block {type(b).__name__}")
        return {"kind": b.kind, **writer(self, b)}


def _table(w: Writer, b: blocks.Table) -> dict:
    return w.fmt.table([w.cell(h) for h in b.header], [[w.cell(c) for c in row] for row in b.rows],
                       w.layout)


# Block type -> its printed fields. A new block kind is one entry here plus its template branch.
BLOCK_WRITERS: dict[type, Callable] = {
    blocks.Say: lambda w, b: {"text": w.sentence(b.sentence)},
    blocks.NotationNote: lambda w, b: {"text": w.sentence(b.sentence)},
    blocks.Bullet: lambda w, b: {"text": w.sentence(b.sentence)},
    blocks.LecturerNote: lambda w, b: {"text": w.sentence(b.sentence)},
    blocks.Show: lambda w, b: {"math": w.display(b.math)},
    blocks.Step: lambda w, b: {"math": w.display(b.math),  # each rule cited once
                               "why": "; ".join(dict.fromkeys(w.sentence(r) for r in b.reasons))},
    blocks.Figure: lambda w, b: {"path": b.path, "caption": w.fmt.escape(b.caption)},
    blocks.DiagramBlock: lambda w, b: {"kind": "raw", "raw": w.diagram(b.diagram)},
    blocks.Table: _table,
    blocks.PageBreak: lambda w, b: {},
    blocks.NameLine: lambda w, b: {},
}


# Widest a LaTeX table part may be, in ems of its font (see latex_layout.table_parts): A4 with the
# document's margins (letter is wider), and a 16:9 beamer frame's tables at \footnotesize.
TABLE_BUDGET = {"document": 41.0, "slides": 46.0}


def lecturer_notes(content, notes: bool) -> list:
    """The content's sections as printed: remarks for the lecturer (``LecturerNote``) taken out
    of the body and, when ``notes`` is asked for, gathered into one closing section (a bulleted
    list); otherwise dropped. The students' text never depends on ``notes``."""
    gathered, sections = [], []
    for s in content.sections:
        kept = [b for b in s.blocks if not isinstance(b, blocks.LecturerNote)]
        gathered += [b for b in s.blocks if isinstance(b, blocks.LecturerNote)]
        if kept or not any(isinstance(b, blocks.LecturerNote) for b in s.blocks):
            sections.append(s if len(kept) == len(s.blocks) else
                            blocks.Section(s.title, kept, s.subtitle))
    if notes and gathered:
        unique = list({id(b.sentence): b for b in gathered}.values())  # a note stated once
        sections.append(blocks.Section(blocks.NOTES_TITLE, [blocks.Bullet(b.sentence) for b in unique]))
    return sections


HEADING_LINES = 6  # the room a heading asks for at the foot of a page, in lines of text
KEEP_MOST = 18  # no keep asks for more: a heading is kept with a few lines, never a whole section
KEPT_DISPLAYS = 7  # a run of displays longer than this (a long table of equations) may break


def _lines_of(text: str) -> int:
    return 1 + len(re.sub(r"\\[A-Za-z]+|[{}]", "", text)) // 95  # about 95 characters to a line


def _keep_displays_together(printed: list) -> int:
    r"""Keeps for a LaTeX section's printed blocks (changed in place); returns the lines its
    heading asks for. Consecutive displays (an update rule's equations, a forward pass) are never
    split by a page break, up to ``KEPT_DISPLAYS`` of them: each but the run's last gets
    ``\postdisplaypenalty=10000`` (before a display TeX never breaks). The sentence introducing
    a run asks for the run's room and is never split itself. The heading asks for six lines and
    the sentences opening its section up to the display they lead to, with that display's room
    when it is a run (so a page never ends with the heading and a line, the rest overleaf)."""
    from .latex_layout import display_size
    leading = 0
    opening = True  # still in the sentences opening the section
    for k, b in enumerate(printed):
        kind = b.get("kind")
        intro = kind == "say" and k + 2 < len(printed) and printed[k + 1].get("kind") == "show" \
            and printed[k + 2].get("kind") == "show"
        if intro:
            lines = float(_lines_of(b["text"]))
            for d in printed[k + 1:k + 1 + KEPT_DISPLAYS]:
                if d.get("kind") != "show":
                    break
                lines += 0.6 + 1.1 * display_size(d["math"])[1]
            room = min(round(lines + 1), KEEP_MOST - (leading if opening else 0))
            b["text"] = (f"\\derivekeep{{{room}\\baselineskip}}"
                         f"{{\\interlinepenalty=10000 {b['text']}\\par}}")
            if opening:
                return_lines = leading + room
                opening = False
                leading = return_lines
        elif kind == "say" and opening:
            leading += _lines_of(b["text"])
        else:
            if opening:
                leading += HEADING_LINES
            opening = False
    if opening:
        leading += HEADING_LINES
    run = 0
    for b, after in zip(printed, printed[1:] + [None]):
        if b.get("kind") != "show":
            run = 0
            continue
        run += 1
        if after is not None and after.get("kind") == "show" and run % KEPT_DISPLAYS:
            b["math"] = "\\postdisplaypenalty=10000 " + b["math"] + "\\postdisplaypenalty=0 "
    return int(min(KEEP_MOST, max(HEADING_LINES, leading)))


def render_content(content, fmt_name: str, names=None, precision: int = 4, fragment: bool = False,
                   layout: str = "document", exact: bool = False, body: str = "",
                   notation=None, carry: int = 0, notes: bool = False, macros: bool = True,
                   level="section", part: bool = False) -> str:
    """``content`` in one document format, laid out by ``templates/<format>/<layout>.j2``.
    ``body`` is already-rendered text of the same format placed after the sections (used to
    assemble sheets rendered in parallel); ``carry``: extra digits in shown substitutions, so the
    arithmetic on a homework sheet adds up at the shown precision; ``notes``: the remarks for the
    lecturer, in a closing section (``lecturer_notes``); ``macros``: a fragment's LaTeX
    definitions (off for the parts of a sheet, whose preamble states them once); ``level``: the
    headings' depth (``blocks.SECTION_LEVELS``); ``part``: the sections only, for a ``body`` (no
    preamble, not even a fragment's)."""
    fmt = get_format(fmt_name)
    if not fmt.document:
        raise DeriveError(f"{fmt.name} is not a document format of its own; render "
                          f"{fmt.source or 'an example'} instead")
    notation = check_notation(notation)
    w = Writer(fmt, names, precision, exact, layout, notation, carry)  # display names: every printer
    sections = []
    # a line's result printed with the digits a later line reads it with (a path in the sum)
    for s in carried_across(lecturer_notes(content, notes), precision, carry):
        printed = [w.block(b) for b in s.blocks
                   if not isinstance(b, blocks.NotationNote) or notation.get(b.key)]
        keep = _keep_displays_together(printed) if fmt.name == "latex" and layout == "document" else 6
        sections.append({"title": fmt.escape(s.title), "blocks": printed,
                         "subtitle": fmt.escape(s.subtitle), "anchor": s.anchor})
        if fmt.name == "latex" and layout == "document":
            sections[-1]["keep"] = f"{keep}\\baselineskip"
    template = environment(fmt.template_folder).get_template(f"{layout}.j2")
    return template.render(title=fmt.escape(content.title), sections=sections, fragment=fragment or part,
                           footer=fmt.escape(content.footer), body=body,
                           macros=fmt.macros() if macros else "",
                           level=blocks.section_level(level), part=part)
