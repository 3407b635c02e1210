"""Slides of any document: its content blocks cut into beamer frames, one idea per frame, and
printed by the one LaTeX writer with ``templates/latex/slides.j2`` (the same blocks and printer as
the document, so a deck never holds a second copy of the math).

A section becomes one or more frames: a diagram gets a frame per piece (``diagrams.slide_pieces``:
as many columns as the frame's width holds, rows close enough to fit under the caption; never
scaled, so its 8 pt labels stay 8 pt); a long table is cut into frames of ``TABLE_ROWS`` rows, each
repeating the header; otherwise blocks fill a frame until its estimated height (``FRAME_LINES``
lines of the frame's ``\\small`` text) or ``STEPS_PER_FRAME`` justified steps are reached, and a
sentence that introduces the next display moves with it. Continued frames are numbered "(2/3)";
a section of a sentence or two opens the next frame, its title the frame's subtitle.

>>> from derive.rendering.blocks import Content, Section
>>> s = Section("Backward pass")
>>> for k in range(5):
...     s.step(k, [f"step {k}"])
>>> [f.title for f in deck(Content("T", [s])).sections]
['Backward pass (1/3)', 'Backward pass (2/3)', 'Backward pass (3/3)']
"""
from __future__ import annotations

import math

from .latex_layout import display_size, width  # display_size: formats' keeps use it too
from .blocks import (Bullet, Content, DiagramBlock, Figure, LecturerNote, NotationNote, PageBreak, NameLine,
                     Say, Section, Show, Step, Table)

FRAME_LINES = 14.0  # lines of \small text a 16:9 frame holds below its title (of about 18)
STEPS_PER_FRAME = 2  # the backward pass a step or two per frame
TABLE_ROWS = 9  # rows of a \footnotesize table on one frame (with its header and a sentence)


# A plot's printed size (mm): the 16:9 frame's text width (160 mm less 7 mm margins, a millimetre
# spare) by what the frame holds under its title and a sentence. A plot is drawn at this size,
# so on a frame it is printed at 1:1 and its fonts are their own size; on a page it is enlarged.
PLOT_MM = (145.0, 58.0)
PLOT_MIN_PT = 8.0  # every label of a plot, as printed on a frame (and larger on a page)
PLOT_DPI = 200  # 1142 px across: sharp on a projector, and on a page
PLOT_LEAD_LINES = 2.5  # what a frame holds above a plot (of its 19 lines, the plot takes 15)


def fit_plot(figure):
    """``figure`` (a matplotlib Figure) resized to ``PLOT_MM``, every text scaled with it but
    never below ``PLOT_MIN_PT``: drawn for a wider page (10 in with 10 pt ticks), its labels
    would be 5 pt once the picture is scaled down into a frame. Changes ``figure`` in place and
    returns it; ``derive.io.files.save_figure`` applies it to every plot derive writes.

    >>> from matplotlib.figure import Figure
    >>> f = Figure(figsize=(10, 4)); ax = f.subplots(); _ = ax.set_title("loss", fontsize=10)
    >>> f = fit_plot(f); [round(v * 25.4) for v in f.get_size_inches()], ax.title.get_fontsize()
    ([145, 58], 8.0)
    """
    from matplotlib.text import Text
    width, height = (v / 25.4 for v in PLOT_MM)
    scale = width / figure.get_size_inches()[0]

    def fitted(size: float) -> float:
        return round(max(PLOT_MIN_PT, size * scale), 1)
    figure.set_size_inches(width, height)
    for ax in figure.axes:  # tick labels are made afresh at every draw, from the axis' settings
        for axis in (ax.xaxis, ax.yaxis):
            for which in ("major", "minor"):
                ticks = axis.get_major_ticks() if which == "major" else axis.get_minor_ticks()
                size = ticks[0].label1.get_fontsize() if ticks else PLOT_MIN_PT
                axis.set_tick_params(which=which, labelsize=fitted(size))
    for text in figure.findobj(Text):  # titles, axis labels, legends, offsets, the suptitle
        text.set_fontsize(fitted(text.get_fontsize()))
    return figure


def _text_length(sentence) -> int:
    template = getattr(sentence, "template", None)
    if template is None:
        return len(str(sentence))
    return len(template) + 10 * len(getattr(sentence, "math", ()))


DISPLAY_EMS = 44.0  # a display line of the frame (14.6 cm of \small): wider ones are broken


def _lines(block, measure=None) -> float:
    """A block's estimated height in lines of the frame's text (95 characters to a line; a
    display as many lines as ``measure`` (its printed width in ems) says it breaks into). A
    lecturer's note takes none: it is gathered into the closing notes, never shown on its frame."""
    if isinstance(block, LecturerNote):
        return 0.0
    if isinstance(block, (Say, NotationNote)):
        return 0.3 + _text_length(block.sentence) / 95
    if isinstance(block, Bullet):
        return 0.5 + _text_length(block.sentence) / 90
    rows, row = 1, 1.2
    if measure is not None and isinstance(block, (Step, Show)):
        ems, row = measure(block.math)  # its width, and the height of one of its lines
        rows = max(1, math.ceil(ems / DISPLAY_EMS))
    if isinstance(block, Step):
        return 0.7 + row * rows + sum(_text_length(r) for r in block.reasons) / 110
    if isinstance(block, Show):
        return 0.5 + row * rows
    if isinstance(block, Table):
        return _table_lines(block, measure)
    return FRAME_LINES  # a figure or a diagram: a frame of its own


TABLE_BUDGET_EMS = 46.0  # a frame's table width in ems of \\footnotesize (formats.TABLE_BUDGET)


def _table_lines(t: Table, measure=None) -> float:
    """A \\footnotesize table's height in lines of the frame's text: a row of words or numbers
    0.85 line, a row holding a fraction or a matrix as tall as that (with its 2 pt above and
    below); a table too wide for the frame is printed as several (its label column repeated)."""
    if measure is None:
        return 1.5 + 0.85 * (len(t.rows) + 1)
    heights, widths = [], [0.0] * len(t.header)
    for row in t.rows:
        tallest = 1.2
        for c, cell in enumerate(row):
            try:
                ems, h = measure(cell, cell=True)
            except Exception:  # a cell the printer cannot size: a line of words
                ems, h = 6.0, 1.2
            tallest = max(tallest, h)
            if c < len(widths):
                widths[c] = max(widths[c], ems)
        heights.append(0.85 if tallest <= 1.2 else 0.8 * tallest + 0.4)
    total = sum(widths) + 1.2 * len(widths)
    parts = 1 if total <= TABLE_BUDGET_EMS or len(widths) <= 2 else math.ceil(
        (total - widths[0]) / (TABLE_BUDGET_EMS - widths[0] - 1.2))
    return parts * (1.5 + 0.85) + sum(heights) * parts


def _split_table(t: Table) -> list:
    """A long table in parts of at most ``TABLE_ROWS`` rows, as even as can be: 13 rows are
    frames of 7 and 6, never 9 and 4; 10 or 11 rows stay on one frame rather than leave a row
    or two alone on the next."""
    rows = list(t.rows)
    if len(rows) <= TABLE_ROWS + 2:  # a row or two more fit: better than a frame for them alone
        return [t]
    parts = math.ceil(len(rows) / TABLE_ROWS)
    out, start = [], 0
    for k in range(parts):  # the first ``len(rows) % parts`` parts take a row more
        size = len(rows) // parts + (k < len(rows) % parts)
        out.append(Table(t.header, tuple(rows[start:start + size])))
        start += size
    return out


def _recaptioned(block, old, new):
    """``block``, the caption of diagram ``old``, as the caption of ``new`` (its summary)."""
    from ..core.functions import Sentence
    from .diagrams import caption

    def braced(text):
        return text.replace("{", "{{").replace("}", "}}")
    if isinstance(block, Say) and _sentence_text(block) == braced(caption(old)):
        return Say(Sentence(braced(caption(new))))
    return block


# A diagram's frame, in points: the body under a frame's title (measured: 221.5 pt of \small
# text), a subtitle's line, a caption's line (\small at 0.96: 10.6 pt) and the skips around the
# picture and between paragraphs; a caption line holds about 95 characters of the 415 pt text.
FRAME_BODY_PT, SUBTITLE_PT, CAPTION_LINE_PT, DIAGRAM_SKIPS_PT, CAPTION_CHARS = 221.0, 12.0, 10.8, 16.0, 95


def diagram_heights(lead: list, subtitle: bool) -> tuple:
    """(first, other): the height (cm) a diagram's first piece may take under the sentences
    ``lead`` (its caption) on its frame, and a later piece on a frame of its own."""
    rest = FRAME_BODY_PT - DIAGRAM_SKIPS_PT - (SUBTITLE_PT if subtitle else 0.0)
    words = sum(math.ceil(len(_sentence_text(b)) / CAPTION_CHARS) * CAPTION_LINE_PT + 3.0 for b in lead)
    return (rest - words) / 28.45, rest / 28.45


def _frames(s: Section, fill: bool, measure=None, fit=None) -> list[list]:
    """The section's blocks grouped into frames (lists of blocks). ``fill``: also cut by the
    estimated height and the number of steps; otherwise only diagrams and long tables get
    frames of their own (a deck whose frames were planned by hand, like the handout's)."""
    frames: list[list] = [[]]
    lines = steps = 0.0

    def new_frame():
        nonlocal lines, steps
        if frames[-1]:
            frames.append([])
        lines = steps = 0

    blocks = [b for b in s.blocks if not isinstance(b, (PageBreak, NameLine))]
    for i, b in enumerate(blocks):
        if isinstance(b, (DiagramBlock, Figure)):
            # a frame of its own (a diagram: one per piece), with the sentences just before it
            lead = []
            while frames[-1] and isinstance(frames[-1][-1], Say) and (
                    isinstance(b, DiagramBlock) or sum(_lines(x) for x in lead + frames[-1][-1:]) <= PLOT_LEAD_LINES):
                lead.insert(0, frames[-1].pop())
            if not frames[-1] and len(frames) > 1:
                frames.pop()
            if isinstance(b, DiagramBlock) and fit is not None:
                drawn, parts = fit(b.diagram, lead, bool(s.subtitle))
                if drawn is not b.diagram:  # summarised to fit: its caption says how
                    lead = [_recaptioned(x, b.diagram, drawn) for x in lead]
                pieces = [DiagramBlock(p) for p in parts]
            elif isinstance(b, DiagramBlock):
                pieces = [DiagramBlock(p) for p in b.diagram.pieces()]
            else:
                pieces = [b]
            for k, piece in enumerate(pieces):
                new_frame()
                frames[-1].extend((lead if k == 0 else []) + [piece])
            new_frame()
            continue
        parts = _split_table(b) if isinstance(b, Table) else [b]
        for part in parts:
            cost = _lines(part, measure)
            is_step = isinstance(part, (Step, Show, Table))
            over = fill and frames[-1] and not isinstance(part, LecturerNote) and (lines + cost > FRAME_LINES
                                            or isinstance(part, Step) and steps >= STEPS_PER_FRAME)
            if over and _annotates(part, frames[-1]):
                # "where ELU'(z) = …", "Here W at step 1 follows …" belong to the display just
                # before them: on its frame if the spare lines hold them, else with it on the next
                if lines + cost <= FRAME_LINES + SPARE_LINES:
                    over = False
                else:
                    k = len(frames[-1]) - 1
                    while k > 0 and isinstance(frames[-1][k - 1], Say):
                        k -= 1  # the display's introducing sentence goes with it
                    if k > 0:
                        moved = frames[-1][k:]
                        del frames[-1][k:]
                        new_frame()
                        frames[-1].extend(moved)
                        lines = sum(_lines(b, measure) for b in moved)
                        steps = sum(isinstance(b, Step) for b in moved)
                    over = False
            if (over or len(parts) > 1 and part is not parts[0]) and frames[-1]:
                carry = []  # a sentence introducing this display moves to the next frame with it
                while frames[-1] and isinstance(frames[-1][-1], Say) and is_step:
                    carry.insert(0, frames[-1].pop())
                new_frame()
                frames[-1].extend(carry)
                lines = sum(_lines(c, measure) for c in carry)
            frames[-1].append(part)
            lines += cost
            steps += isinstance(part, Step)
    out: list[list] = []
    for f in frames:  # a frame of lecturer's notes only would print empty and skip a number
        if f and out and all(isinstance(b, LecturerNote) for b in f):
            out[-1].extend(f)
        elif f:
            out.append(f)
    if fill and len(out) > 1 and _words_only(out[-1]):
        _no_lone_sentence(out, measure)
    if fill:
        _join_sparse(out, measure)
    return out


def _join_sparse(frames: list, measure) -> None:
    """Two neighbouring frames of a section that together hold no more than a frame (by the
    estimate and its spare lines), neither a diagram nor a figure, and no more than
    ``STEPS_PER_FRAME`` steps, become one: a frame cut early (the given values alone on one)
    is no frame half empty. Changes ``frames`` in place."""
    def lines(f):
        return sum(_lines(b, measure) for b in f)

    def joinable(f):
        return not any(isinstance(b, (DiagramBlock, Figure)) for b in f)
    k = 0
    while k + 1 < len(frames):
        a, b = frames[k], frames[k + 1]
        if joinable(a) and joinable(b) and lines(a) + lines(b) <= FRAME_LINES + SPARE_LINES \
                and sum(isinstance(x, Step) for x in a + b) <= STEPS_PER_FRAME:
            frames[k] = a + b
            del frames[k + 1]
        else:
            k += 1


def _sentence_text(block) -> str:
    sentence = getattr(block, "sentence", "")
    return str(getattr(sentence, "template", sentence)).strip()


def _annotates(block, frame: list) -> bool:
    """A sentence that speaks of the display just before it (which the frame ends with): one
    going on from it ("where …", in lower case) or remarking on it, not one introducing what
    follows (ending in a colon)."""
    if not isinstance(block, Say) or not frame or not isinstance(frame[-1], (Step, Show, Table)):
        return False
    text = _sentence_text(block)
    return bool(text) and (text[0].islower() or not text.endswith(":"))


LONE_LINES = 2.0  # a continuation frame of no more than this, in sentences only, is no frame
SPARE_LINES = 2.0  # of the frame's spare lines (it holds about 18, FRAME_LINES plans 14)


def _words_only(blocks) -> bool:
    return all(isinstance(b, (Say, Bullet, NotationNote, LecturerNote)) for b in blocks) and \
        sum(_lines(b) for b in blocks) <= LONE_LINES


def _no_lone_sentence(frames: list, measure) -> None:
    """A last frame holding only a sentence or two ("1 of the 12 windows has a tie") joins the
    frame before it if that has the room (the estimate keeps spare lines); else the display
    before it (with the sentence introducing it) moves over, so the frame is more than a line."""
    last, before = frames[-1], frames[-2]
    used = sum(_lines(b, measure) for b in before)
    if used + sum(_lines(b) for b in last) <= FRAME_LINES + SPARE_LINES:
        before.extend(frames.pop())
        return
    movable = [k for k, b in enumerate(before) if isinstance(b, (Step, Show, Table))]
    if not movable or movable[-1] == 0 and len(before) == 1:
        return
    k = movable[-1]
    while k > 0 and isinstance(before[k - 1], Say):  # its introducing sentence goes with it
        k -= 1
    if k == 0:
        return  # the whole frame would move: nothing gained
    frames[-1] = before[k:] + last
    del before[k:]


def deck(content: Content, fill: bool = True, measure=None, fit=None) -> Content:
    """``content`` cut into frames: one section per frame, each frame's title the section's
    title (numbered when a section takes several frames), its subtitle the section's;
    ``measure(math)``: a display's printed width in ems and the height of its line in lines of
    text, as ``render_slides`` measures its LaTeX (``display_size``); ``fit(diagram, lead,
    subtitle)``: (the diagram drawn, its pieces) for frames under the sentences ``lead``, each
    fitting its frame unscaled (``diagrams.slide_pieces``)."""
    sections = []
    lead, lead_title = [], ""  # a few sentences of their own open the next frame
    for i, s in enumerate(content.sections):
        # the sentences of a short section before open this one's first frame, their title its
        # subtitle: a diagram there fits under them too
        opening = None if fit is None else (
            lambda d, before, subtitle, lead=lead, sub=bool(lead_title): fit(d, lead + before, subtitle or sub))
        frames = _frames(s, fill, measure, opening) or [[]]
        short = (fill and len(frames) == 1 and all(isinstance(b, Say) for b in frames[0])
                 and sum(_lines(b) for b in frames[0]) <= 3 and i + 1 < len(content.sections))
        if short and not lead:
            lead, lead_title = frames[0], s.title
            continue
        frames[0] = lead + frames[0]
        for k, blocks in enumerate(frames):
            title = s.title if len(frames) == 1 else f"{s.title} ({k + 1}/{len(frames)})"
            sections.append(Section(title, blocks, s.subtitle or (lead_title if k == 0 else "")))
        lead, lead_title = [], ""
    return Content(content.title, sections, content.footer)


def render_slides(content: Content, names=None, precision: int = 4, exact: bool = False,
                  notation=None, fill: bool = True, part: bool = False) -> str:
    """The beamer deck (LaTeX) of ``content``; ``part``: the frames only, to join into another
    deck's body."""
    from .formats import Writer, check_notation, get_format, render_content
    writer = Writer(get_format("latex"), names, precision, exact, "slides", check_notation(notation))

    def measure(obj, cell=False):
        return display_size(writer.cell(obj) if cell else writer.math(obj))

    def fit(d, lead, subtitle):
        from .diagrams import slide_pieces
        return slide_pieces(d, writer.printer, diagram_heights(lead, subtitle))

    return render_content(deck(content, fill, measure, fit), "latex", names, precision, layout="slides",
                          exact=exact, notation=notation, part=part)


__all__ = ["deck", "render_slides", "display_size", "fit_plot", "FRAME_LINES", "STEPS_PER_FRAME", "TABLE_ROWS", "PLOT_MM",
           "PLOT_MIN_PT", "PLOT_DPI"]
