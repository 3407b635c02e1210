"""Content blocks: the typed, format-free structure of a document (titled sections of sentences,
displayed math, justified steps, bullets, tables, figures and diagrams). The teaching layer fills
them; the format registry prints them; templates lay them out.

Each kind of block is a frozen dataclass holding math objects and sentences (never markup). A
``Section`` collects blocks in reading order:

>>> s = Section("Forward pass")
>>> s.say("Substitute the values:")
>>> [type(b).__name__ for b in s.blocks]
['Say']
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Block:
    """Base of every block; ``kind`` names it for the templates."""

    kind = "block"


@dataclass(frozen=True)
class Say(Block):
    """A paragraph: a ``Sentence`` (text with math holes) or plain text."""

    sentence: object
    kind = "say"


@dataclass(frozen=True)
class NotationNote(Block):
    """A paragraph stating a notation preset's convention ("Write δ for ∂L/∂z …"), printed only
    when the preset turns ``key`` on (so one content serves every course's notation)."""

    sentence: object
    key: str
    kind = "say"


@dataclass(frozen=True)
class LecturerNote(Block):
    """A remark for the lecturer, not the students: how the numbers were obtained, where an
    example comes from. Printed only when notes are asked for (``notes=True``, ``--notes``),
    gathered into one closing section; never in the body or on a problem sheet."""

    sentence: object
    kind = "bullet"


@dataclass(frozen=True)
class Show(Block):
    """Displayed math (a ``Chain``, a SymPy expression or another math object)."""

    math: object
    kind = "show"


@dataclass(frozen=True)
class Step(Block):
    """Displayed math with the sentences that justify it ("Why: …")."""

    math: object
    reasons: tuple = ()
    kind = "step"


@dataclass(frozen=True)
class Bullet(Block):
    """One item of a bulleted list (consecutive bullets form one list)."""

    sentence: object
    kind = "bullet"


@dataclass(frozen=True)
class Table(Block):
    """A table of cells (text, sentences, math objects or values)."""

    header: tuple
    rows: tuple
    kind = "table"


@dataclass(frozen=True)
class Figure(Block):
    """An image file included by path, with its caption."""

    path: str
    caption: str = "Variance and gradient norm per layer"
    kind = "figure"


@dataclass(frozen=True)
class DiagramBlock(Block):
    """A computation-graph diagram, drawn by the format's diagram writer."""

    diagram: object
    kind = "diagram"


@dataclass(frozen=True)
class PageBreak(Block):
    """The next block starts a new page (homework handed out one variant per page)."""

    kind = "pagebreak"


@dataclass(frozen=True)
class NameLine(Block):
    """A line for the student's name and ID."""

    kind = "nameline"


@dataclass
class Section:
    """A titled run of blocks, in reading order. The methods append one typed block each."""

    title: str
    blocks: list = field(default_factory=list)
    subtitle: str = ""  # slides: the part a frame belongs to
    anchor: str = ""  # HTML: the heading's id, for a contents list linking to it

    def add(self, block: Block) -> None:
        self.blocks.append(block)

    def say(self, sentence):
        self.add(Say(sentence))

    def note(self, sentence, key: str):
        """A sentence shown only under the notation preset ``key`` (see ``NotationNote``)."""
        self.add(NotationNote(sentence, key))

    def show(self, math):
        self.add(Show(math))

    def lecturer_note(self, sentence):
        """A remark for the lecturer only (see ``LecturerNote``)."""
        self.add(LecturerNote(sentence))

    def step(self, math, reasons=()):
        self.add(Step(math, tuple(reasons)))

    def bullet(self, sentence):
        self.add(Bullet(sentence))

    def diagram(self, d):
        self.add(DiagramBlock(d))

    def figure(self, path: str, caption: str | None = None):
        self.add(Figure(path) if caption is None else Figure(path, caption))

    def tabulate(self, header, rows):
        self.add(Table(tuple(header), tuple(tuple(r) for r in rows)))


NOTES_TITLE = "Notes for the lecturer"


# How deep a document's headings sit (``--section-level``): a fragment's sections nest under the
# including document's own headings (a subsection under its \section, ### under its ##).
SECTION_LEVELS = ("section", "subsection", "subsubsection")


def section_level(level) -> int:
    """The depth of ``level`` (a name of ``SECTION_LEVELS`` or 0, 1, 2): 0 for top-level sections.

    >>> section_level("subsection"), section_level(0)
    (1, 0)
    """
    if isinstance(level, int) and not isinstance(level, bool) and 0 <= level < len(SECTION_LEVELS):
        return level
    if level in SECTION_LEVELS:
        return SECTION_LEVELS.index(level)
    from ..core.errors import DeriveError
    raise DeriveError(f"unknown section level {level!r}; choose one of: {', '.join(SECTION_LEVELS)}")


@dataclass
class Content:
    """A document's content: its title, its sections and an optional footer."""

    title: str
    sections: list
    footer: str = ""
