"""LaTeX layout that holds at any size: long displays break, wide tables split by columns, long
tables run over pages with their header repeated.

Displays. ``display(math)`` writes ``\\derivedisplay{math}{breakable}``; the macro (``MACROS``,
defined once in each document's preamble, or with ``\\providecommand`` at the top of a fragment)
measures the equation and, if it is wider than the line, sets it as a paragraph that TeX breaks
after relations (preferred) and binary operators, continuation lines indented. ``breakable`` is
the same math with ``\\left…\\right`` pairs (which TeX can never break inside) replaced by fixed
``\\bigl…\\bigr`` sizes (``\\Bigl`` around fractions). Only packages of texlive-latex-base.

Tables. ``table_parts(header, rows, budget)`` estimates each column's printed width from its
LaTeX (a character is about half an em); a table wider than ``budget`` gives its long text columns
a paragraph width (``p{…}``) and, if still too wide, is split into several tables of consecutive
columns, each repeating the first (label) column. Nothing is ever scaled.
"""
from __future__ import annotations

import re

from ..core.errors import DeriveError

# \derivedisplay{math}{breakable}: a centred display if it fits, else a broken ragged paragraph
# (an empty second argument: the math itself breaks as it is).
MACROS = r"""\providecommand{\derivedisplay}[2]{%
\setbox0=\hbox{$\displaystyle #1$}%
\ifdim\wd0>\linewidth
\par\begingroup\raggedright\leftskip=1em\hangindent=2.5em\hangafter=1
\relpenalty=50 \binoppenalty=400 \emergencystretch=4em \medskip
\noindent$\displaystyle\if\relax\detokenize{#2}\relax #1\else #2\fi$\par\medskip\endgroup
\else\[ #1 \]\fi}
\providecommand{\deriveinline}[1]{\def\deriveinlinemath{#1}\futurelet\deriveinlinenext\deriveinlineset}
\providecommand{\deriveinlineset}{\let\deriveinlinego\deriveinlinetext
\ifinner\else\setbox0=\hbox{$\deriveinlinemath$}%
\ifdim\wd0>0.5\linewidth\let\deriveinlinego\deriveinlinedisplay\fi\fi\deriveinlinego}
\providecommand{\deriveinlinetext}{$\deriveinlinemath$}
\providecommand{\deriveinlinedisplay}{\let\deriveinlinego\deriveinlinebare
\ifx\deriveinlinenext.\let\deriveinlinego\deriveinlinepunct\fi
\ifx\deriveinlinenext,\let\deriveinlinego\deriveinlinepunct\fi
\ifx\deriveinlinenext;\let\deriveinlinego\deriveinlinepunct\fi
\ifx\deriveinlinenext:\let\deriveinlinego\deriveinlinepunct\fi
\deriveinlinego}
\providecommand{\deriveinlinebare}{\[\deriveinlinemath\]}
\providecommand{\deriveinlinepunct}[1]{\[\deriveinlinemath#1\]}
\providecommand{\derivefit}[1]{\setbox2=\hbox{#1}%
\ifdim\wd2>\linewidth\resizebox{\linewidth}{!}{\box2}\else\box2\fi}
\providecommand{\derivetall}[1]{\setbox2=\hbox{#1}%
\rule[\dimexpr-\dp2-2pt\relax]{0pt}{\dimexpr\ht2+\dp2+4pt\relax}\box2}
\providecommand{\derivestrut}{\rule[-1.5ex]{0pt}{4ex}}
\providecommand{\derivenarrow}[1]{\ifdim#1em>\linewidth
\ifdim#1em>1.1\linewidth\footnotesize\else\small\fi\fi}
\providecommand{\derivegap}[1]{\hspace{\ifdim#1em>\linewidth0.45\tabcolsep\else\tabcolsep\fi}}
\providecommand{\derivekeep}[1]{\par
\expandafter\ifx\csname if@nobreak\endcsname\iftrue\else
\ifdim\pagegoal<\maxdimen\ifdim\pagetotal<\pagegoal
\ifdim\dimexpr\pagegoal-\pagetotal\relax<#1\relax\newpage\fi\fi\fi\fi}
"""
# \deriveinline{math}: math in a sentence holding an environment (cases, a matrix), which TeX
# can never break inside: as it is if it takes at most half the line, else a display taking the
# punctuation after it along (never in a table's cell or a box: there it stays as it is), so a
# narrow text (a fragment in a default article's 345 pt) is never overfull by a definition.
# \derivefit{picture}: the picture as drawn, or scaled down to the line if it is wider: a
# diagram is sized for derive's pages and frames, where it always fits unscaled, but a fragment
# may be \input into a narrower text (a default article's 345 pt).
# \derivetall{cell}: a table's tall cell (a fraction, a matrix) with 2 pt of room above and
# below, so rows never touch; \derivestrut: that room for a fraction in a cell of words.
# \derivenarrow{ems}, \derivegap{ems}: a table of numbers estimated ``ems`` wide, in a text narrower
# than that (a fragment in a default article's 345 pt), a size smaller with less space between
# its columns; on derive's own page, as it is.
# \derivekeep{length}: start a new page here unless ``length`` is left on this one (what
# needspace.sty is for, in plain LaTeX and without output-routine tricks, which upset longtable):
# a heading, or a sentence ending in ":", is never left at the foot of a page, away from the
# display or table it introduces. Right after a heading (LaTeX's \if@nobreak: no paragraph since)
# it does nothing: a page break there would leave that heading alone at the foot of the page (a
# user's \section followed by \input of a fragment), and LaTeX keeps a heading with what follows.
# Nor when the page already holds more than it can (a long table's last rows, a paragraph, not yet
# broken off): TeX breaks before what overflows, which then opens the next page with room to
# spare, and a \newpage here would end that page after those few lines (a page 90 % empty).

_DELIMS = {"(": ")", "[": "]", "|": "|", r"\{": r"\}", ".": "."}
_LEFT = re.compile(r"\\left(\\\{|\\\||[(\[|.])")
_RIGHT = re.compile(r"\\right(\\\}|\\\||[)\]|.])")


def breakable(math: str, small: str = "big", large: str | None = "Big") -> str:
    r"""``math`` with every ``\left``/``\right`` pair in fixed sizes, so TeX may break inside:
    ``small`` around plain content, ``large`` around fractions, sums and products (an empty size
    writes the bare delimiter; ``None`` keeps ``\left``/``\right``).

    >>> breakable(r"2 \left(a + \frac{1}{2}\right) \left(b\right)")
    '2 \\Bigl(a + \\frac{1}{2}\\Bigr) \\bigl(b\\bigr)'
    >>> breakable(r"\left(b\right)^{2}", small="")
    '(b)^{2}'
    """
    tokens = list(re.finditer(r"\\left(?:\\\{|\\\||[(\[|.])|\\right(?:\\\}|\\\||[)\]|.])", math))
    if not tokens:
        return math
    size: dict[int, str] = {}
    stack = []
    for t in tokens:
        if t.group().startswith("\\left"):
            stack.append(t)
        elif stack:
            opener = stack.pop()
            inner = math[opener.end():t.start()]
            tall = "\\frac" in inner or "\\sum" in inner or "\\prod" in inner
            size[opener.start()] = size[t.start()] = large if tall else small
    out, pos = [], 0
    for t in tokens:
        out.append(math[pos:t.start()])
        big = size.get(t.start(), small)
        text = t.group()
        if big is None:
            out.append(text)
        elif text.startswith("\\left"):
            delim = text[len("\\left"):]
            out.append("" if delim == "." else f"\\{big}l{delim}" if big else delim)
        else:
            delim = text[len("\\right"):]
            out.append("" if delim == "." else f"\\{big}r{delim}" if big else delim)
        pos = t.end()
    out.append(math[pos:])
    return "".join(out)


def inline(math: str) -> str:
    r"""Math in a sentence, which TeX must be able to break like the words around it: plain
    brackets (``\bigl`` around a fraction), never ``\left…\right``, which TeX cannot break
    inside and which sizes brackets in a small inline fraction too large; an environment (cases,
    a matrix), which TeX cannot break either, in ``\deriveinline``: a display if too wide.

    >>> inline(r"\sigma(z) \left(1 - \sigma(z)\right) = \left(\frac{1}{2}\right)")
    '\\(\\sigma(z) (1 - \\sigma(z)) = \\bigl(\\frac{1}{2}\\bigr)\\)'
    >>> inline(r"f(z) = \begin{cases} z, & z > 0 \\ 0, & z \le 0 \end{cases}")[:22]
    '\\deriveinline{f(z) = \\'
    """
    math = breakable(math.strip(), small="", large="big")
    if "\\begin{" in math:
        return f"\\deriveinline{{{math}}}"
    return f"\\({math}\\)"


def display(math: str) -> str:
    """A display that breaks when it is too wide for the line (see the module docstring)."""
    math = math.strip()
    other = breakable(math)
    return f"\\derivedisplay{{{math}}}{{{other if other != math else ''}}}"


# --- width estimates ----------------------------------------------------------------------

_ZERO = re.compile(r"\\(left|right|bigl|bigr|Bigl|Bigr|operatorname|mathrm|mathbf|mathit|text|"
                   r"ensuremath|derivetall|derivestrut|deriveinline|displaystyle|textstyle|,|!|;|quad)\b|\\[,;!]")
_SCRIPT = re.compile(r"[_^](\{[^{}]*\}|\\?[A-Za-z0-9])")


def width(latex: str) -> float:
    r"""The printed width of a cell or formula in ems, roughly (half an em per character,
    scripts at 70 %, a fraction as wide as its wider part).

    >>> width(r"\(3125\) \ensuremath{\to} \(2.887\)") < width(r"\(1.091 \times 10^{210}\)") + 3
    True
    """
    text = latex.replace("\\(", "").replace("\\)", "").replace("$", "")
    text = widest_rows(text)  # a matrix is as wide as its widest row, not all its entries in a line
    text = text.replace("\\quad", " mm ")  # an em between a matrix's columns (as "mm" counts)
    # fractions: the wider of numerator and denominator (innermost first)
    frac = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}")
    while True:
        new = frac.sub(lambda m: m.group(1) if len(m.group(1)) >= len(m.group(2)) else m.group(2), text)
        if new == text:
            break
        text = new
    scripts = sum(len(re.sub(r"\\[A-Za-z]+", "x", m.group(1))) for m in _SCRIPT.finditer(text))
    text = _SCRIPT.sub("", text)
    text = _ZERO.sub("", text)
    text = re.sub(r"\\[A-Za-z]+", "xx", text)  # a symbol command (\cdot, \approx …) with its space
    text = re.sub(r"[{}\s]", "", text).replace("\\", "")
    text = re.sub(r"([=+<>-])", r"\1x", text)  # relations and operators carry space around them
    return 0.5 * len(text) + 0.35 * scripts


_MATRIX = re.compile(r"\\begin\{([bpvBV]?matrix|array|cases)\}(?:\{[^{}]*\})?(.*?)\\end\{\1\}", re.S)


def widest_rows(latex: str, rows: list | None = None) -> str:
    r"""``latex`` with each matrix (array, cases) replaced by its widest row, its entries spaced
    as the columns are (an em between them), innermost first; ``rows`` collects each one's count.

    >>> widest_rows(r"A = \begin{bmatrix} 1 & 2 \\ 30 & 4 \end{bmatrix}")
    'A = [ 30 \\quad 4 ]'
    """
    def widest(m):
        lines = m.group(2).split("\\\\")
        if rows is not None:
            rows.append(len(lines))
        return "[" + max(lines, key=lambda r: width(r.replace("&", ""))).replace("&", "\\quad") + "]"
    while True:
        new = _MATRIX.sub(widest, latex)
        if new == latex:
            return latex
        latex = new


def tall(latex: str) -> bool:
    """A cell taller than a line of text: a fraction, a big operator, a matrix."""
    return any(t in latex for t in ("\\frac", "\\begin{", "\\sum", "\\prod", "\\sqrt"))


NARROW = 30.0  # ems a table may take and still fit a default article's 345 pt line (34.5 em)
_MATH = re.compile(r"\\\(.*?\\\)")


def _wraps(cell: str) -> bool:
    """A cell TeX may break: words beside its math ("\\(0.25\\) (vanishing)"), not one number."""
    return bool(re.search(r"\S\s+\S", _MATH.sub("M", cell)))


def _has_math(cell: str) -> bool:
    return "\\(" in cell or "\\deriveinline" in cell


def padded(cell: str) -> str:
    r"""A tall cell (a fraction, a matrix) with room above and below it, so the rows of a table
    never touch: a cell of math only in ``\derivetall`` (its box and 2 pt either side), any other
    a strut as tall as a fraction.

    >>> padded(r"\(\frac{1}{2}\)"), padded("3")
    ('\\derivetall{\\(\\frac{1}{2}\\)}', '3')
    """
    if not tall(cell):
        return cell
    math_only = (cell.startswith("\\(") and cell.endswith("\\)") and cell.count("\\(") == 1) or (
        cell.startswith("\\deriveinline{") and cell.endswith("}") and cell.count("\\deriveinline") == 1)
    return f"\\derivetall{{{cell}}}" if math_only else "\\derivestrut " + cell


def _narrowing(specs: list[str], total: float) -> str:
    r"""The column specification of a table of numbers (nothing to wrap) ``total`` ems wide: in a
    text narrower than that (a fragment in a default article), its cells a size or two smaller
    with less space between them (``\derivenarrow``, ``\derivegap``: TeX decides against
    ``\linewidth``), never past the margin; on derive's own page, as it is.

    >>> _narrowing(["l", "l"], 35)
    '@{\\derivegap{35.0}}>{\\derivenarrow{35.0}}l@{\\derivegap{35.0}}@{\\derivegap{35.0}}>{\\derivenarrow{35.0}}l@{\\derivegap{35.0}}'
    """
    est = f"{total:.1f}"
    gap = f"@{{\\derivegap{{{est}}}}}"
    return gap + (gap + gap).join(f">{{\\derivenarrow{{{est}}}}}{sp}" for sp in specs) + gap


def table_parts(header: list[str], rows: list[list[str]], budget: float) -> list[dict]:
    """Split a table into parts that each fit ``budget`` ems: ``[{"spec", "header", "rows"}]``.

    >>> parts = table_parts(["k", "a", "b"], [["1", "2", "3"]], budget=100)
    >>> [p["spec"] for p in parts]
    ['lll']
    """
    ncols = len(header)
    rows = [[padded(c) for c in r] for r in rows]
    cells = [header] + rows
    widths = [max(width(r[c]) for r in cells if c < len(r)) for c in range(ncols)]
    gap = 1.2  # \tabcolsep on both sides of a column, in ems
    total = sum(widths) + gap * ncols
    specs = ["l"] * ncols
    if total > budget:
        # Long text columns (cells written as words, not math) wrap within a paragraph width.
        text_cols = [c for c in range(ncols) if widths[c] > 8 and
                     sum(not _has_math(r[c]) for r in rows if c < len(r)) * 2 >= len(rows)]
        if text_cols:
            fixed = sum(widths[c] + gap for c in range(ncols) if c not in text_cols)
            room = budget - fixed - gap * len(text_cols)
            share = sum(widths[c] for c in text_cols)
            if room > 6 * len(text_cols):
                for c in text_cols:
                    w = max(6.0, room * widths[c] / share)
                    specs[c] = f">{{\\raggedright\\arraybackslash}}p{{{w:.1f}em}}"
                    widths[c] = w
                total = sum(widths) + gap * ncols
    elif total > NARROW:
        # Fits derive's page but not a narrower text (a fragment in a default article): the
        # columns mixing numbers and words ("0.25 (vanishing)") share what the line leaves,
        # measured by TeX from \linewidth, so they wrap there and stay on one line here.
        wrap = [c for c in range(1, ncols) if sum(_wraps(r[c]) for r in rows if c < len(r)) * 2 >= len(rows)]
        if wrap:
            # the other columns' estimate, and an em to spare for its error (never over the line)
            fixed = sum(widths[c] for c in range(ncols) if c not in wrap) + 1.0
            share = sum(widths[c] for c in wrap)
            for c in wrap:
                specs[c] = (f">{{\\raggedright\\arraybackslash}}p{{\\dimexpr(\\linewidth-{fixed:.1f}em-{2 * ncols}"
                            f"\\tabcolsep)*{round(1000 * widths[c] / share)}/1000\\relax}}")
        else:
            return [{"spec": _narrowing(specs, total), "header": header, "rows": rows}]
    if total <= budget or ncols <= 2:
        return [{"spec": "".join(specs), "header": header, "rows": rows}]
    # Still too wide: consecutive column groups, each with the first (label) column again.
    parts, group, used = [], [], widths[0] + gap
    for c in range(1, ncols):
        if group and used + widths[c] + gap > budget:
            parts.append(group)
            group, used = [], widths[0] + gap
        group.append(c)
        used += widths[c] + gap
    parts.append(group)
    out = []
    for group in parts:
        cols = [0] + group
        used = sum(widths[c] + gap for c in cols)
        narrow = used > NARROW and all(specs[c] == "l" for c in cols)
        out.append({"spec": _narrowing([specs[c] for c in cols], used) if narrow else "".join(specs[c] for c in cols), "header": [header[c] for c in cols],
                    "rows": [[r[c] if c < len(r) else "" for c in cols] for r in rows]})
    return out


PAPERS = {"a4": "a4paper", "letter": "letterpaper"}


def set_paper(tex: str, paper: str) -> str:
    r"""A document for ``paper`` (a4 or letter); the layout budgets hold on both (A4 is the
    narrower, letter the shorter). Slides and fragments have no paper and are returned as is.

    >>> set_paper(r"\usepackage[a4paper,margin=2.2cm]{geometry}", "letter")
    '\\usepackage[letterpaper,margin=2.2cm]{geometry}'
    """
    if paper not in PAPERS:
        raise DeriveError(f"unknown paper {paper!r}; choose a4 or letter")
    return tex.replace("[a4paper,", f"[{PAPERS[paper]},", 1)




_DISPLAY_MATRIX = re.compile(r"\\begin\{([bpvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*?)\\end\{\1\}", re.S)


def display_size(latex: str) -> tuple:
    r"""A display's printed width in ems (a matrix as wide as its widest row) and the height of
    its line in lines of the frame's text: a matrix of r rows is 0.85 r lines and its brackets'
    overhang, a fraction about two, anything else one and a bit.

    >>> display_size(r"x = \begin{bmatrix} 1 & 2 \\ 3 & 4 \\ 5 & 6 \end{bmatrix}")[1]
    3.05
    >>> display_size(r"y = \frac{1}{2}")[1], display_size("y = 2")[1]
    (2.1, 1.2)
    """
    heights = [1.2]
    def widest_row(m):
        rows = m.group(2).split("\\\\")
        heights.append(round(0.85 * len(rows) + 0.5, 2))  # measured: a 6-row matrix is 66 pt of 11.5 pt lines
        return max(rows, key=width)
    flat = latex
    while True:  # until none is left (a block matrix's entries may be matrices)
        new = _DISPLAY_MATRIX.sub(widest_row, flat)
        if new == flat:
            break
        flat = new
    if "\\frac" in flat:
        heights.append(2.1)  # a fraction's line is about two lines of text
    return width(flat), max(heights)


__all__ = ["MACROS", "breakable", "inline", "display", "display_size", "width", "table_parts",
           "set_paper", "PAPERS"]
