"""Content blocks: the typed, format-free structure of a document (titled sections of sentences,
displayed math, justified steps, bullets, tables and diagrams). The teaching layer fills them; the
format registry prints them; templates lay them out."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Section:
    """A titled run of blocks, in reading order: ("say", Sentence), ("show", math),
    ("step", (math, reasons)), ("bullet", Sentence), ("table", {"header", "rows"})."""

    title: str
    blocks: list = field(default_factory=list)
    subtitle: str = ""  # slides: the part a frame belongs to

    def say(self, sentence):
        self.blocks.append(("say", sentence))

    def show(self, math):
        self.blocks.append(("show", math))

    def step(self, math, reasons=()):
        self.blocks.append(("step", (math, tuple(reasons))))

    def bullet(self, sentence):
        self.blocks.append(("bullet", sentence))

    def diagram(self, d):
        self.blocks.append(("diagram", d))

    def tabulate(self, header, rows):
        self.blocks.append(("table", {"header": list(header), "rows": [list(r) for r in rows]}))


@dataclass
class Content:
    title: str
    sections: list
    footer: str = ""
