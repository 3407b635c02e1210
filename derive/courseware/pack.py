"""Course packs: one document (or one deck) from a course file that lists its sections.

.. code-block:: yaml

    title: Week 5 — backpropagation
    precision: 4                       # optional: significant digits of ≈ numbers
    sections:
      - {title: One neuron, spec: neuron.yaml}          # an equations or network spec
      - title: A deep chain
        builder: chain                                   # a builder of derive.model.builders
        args: {depth: 3, weight: 5, x: 1, activation: relu}
        text: Why large weights explode.                 # optional: a paragraph before it
      - {title: Remarks, text: "Bring your calculator."} # a paragraph only

Each section is numbered ("2. A deep chain") and listed in the contents at the top; an example's
own sections (its diagram, forward and backward passes …) sit one level below. A definition shown
in an earlier section (an activation and its derivative, a loss, a tensor document's softmax and
cross-entropy, a chain's activation) is not repeated: the later section points back to it. One preamble serves the whole document: the examples are rendered as
parts of one page (``render_content(part=True)``) and joined into its body. A ``spec:`` path is
relative to the course file. Every field is checked by name.
"""
from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import DeriveError, OutputExists, SpecError
from ..core.functions import Sentence
from ..rendering.blocks import Bullet, Content, Say, Section, Show

COURSE_FIELDS = ("title", "sections", "precision")
SECTION_FIELDS = ("title", "spec", "builder", "args", "text")
DEFINITIONS = ("The activation function", "The loss function")  # stated once in a pack


def builders() -> dict:
    """The builders a course section may call by name (``builder: neuron``)."""
    from ..model import builders as b
    from ..model import layers
    return {"neuron": b.neuron, "chain": b.chain, "mlp": b.mlp, "batchnorm": layers.batchnorm,
            "rnn": layers.rnn, "conv1d": layers.conv1d, "conv2d": layers.conv2d,
            "maxpool": layers.maxpool, "dropout": layers.dropout}


@dataclass
class PackSection:
    """One section of a course: its number and title, an optional paragraph and an example."""

    number: int
    title: str
    text: str = ""
    example: object = None

    @property
    def heading(self) -> str:
        return f"{self.number}. {self.title}"


@dataclass
class Course:
    title: str
    sections: list = field(default_factory=list)
    precision: int = 4

    @property
    def examples(self) -> list:
        """(label, Example) pairs, for a notebook's code cells."""
        return [(s.title, s.example) for s in self.sections if s.example is not None]


def _fields(data, allowed: tuple, where: str) -> None:
    if not isinstance(data, dict):
        raise SpecError(f"{where} must be a mapping with the fields {', '.join(allowed)}, "
                        f"got {type(data).__name__}")
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise SpecError(f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(allowed)}")


def _text(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where} must be text")
    return value.strip()


def _example_from_file(path: Path, where: str):
    from ..model.spec import example_from_spec, load_spec, load_yaml, mlp_from_spec
    if not path.is_file():
        raise SpecError(f"{where}: spec file {path} not found (a spec path is relative to the "
                        f"course file)")
    data = load_yaml(path)
    if "equations" not in data and "weights" in data:
        return mlp_from_spec(path)
    spec = load_spec(path)
    if spec.random:
        raise SpecError(f"{where}: {path} is a homework spec (it has `random:`); a course section "
                        f"shows one worked example: give it fixed `values:`")
    ex = example_from_spec(spec)
    if spec.precision:
        ex.precision = spec.precision
    return ex


def _example_from_builder(name, args, where: str):
    table = builders()
    if name not in table:
        raise SpecError(f"{where}: unknown builder {name!r}; known builders: {', '.join(table)}")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise SpecError(f"{where}: `args` must be a mapping like {{x: 2, w: 3}}")
    function = table[name]
    known = [p for p in inspect.signature(function).parameters]
    unknown = [k for k in args if k not in known]
    if unknown:
        raise SpecError(f"{where}: builder {name} takes no argument {unknown[0]!r}; its "
                        f"arguments: {', '.join(known)}")
    try:
        return function(**args)
    except TypeError as e:  # a required argument left out
        raise SpecError(f"{where}: builder {name}: {e}") from None


def load_course(path) -> Course:
    """A course file, checked field by field (an unknown field is an error naming it).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "c.yaml").write_text("title: T\\nsections:\\n  - {title: A, text: Hello.}\\n")
    >>> [s.heading for s in load_course(d / "c.yaml").sections]
    ['1. A']
    """
    from ..model.spec import load_yaml
    path = Path(path)
    data = load_yaml(path, "course file")
    _fields(data, COURSE_FIELDS, str(path))
    title = _text(data.get("title"), f"{path}: `title`")
    sections = data.get("sections")
    if not isinstance(sections, list) or not sections:
        raise SpecError(f"{path}: `sections` must be a list of sections, each with a title and a "
                        f"spec, a builder or a text")
    precision = data.get("precision", 4)
    if isinstance(precision, bool) or not isinstance(precision, int) or not 1 <= precision <= 30:
        raise SpecError(f"{path}: `precision` must be a whole number from 1 to 30")
    course = Course(title, precision=precision)
    for number, item in enumerate(sections, 1):
        where = f"{path}: section {number}"
        _fields(item, SECTION_FIELDS, where)
        heading = _text(item.get("title"), f"{where}: `title`")
        sources = [k for k in ("spec", "builder") if k in item]
        if len(sources) > 1:
            raise SpecError(f"{where}: give a `spec` or a `builder`, not both")
        if "args" in item and "builder" not in item:
            raise SpecError(f"{where}: `args` are a builder's arguments; add `builder:`")
        if not sources and "text" not in item:
            raise SpecError(f"{where}: give a `spec:` file, a `builder:` or a `text:` paragraph")
        text = _text(item["text"], f"{where}: `text`") if "text" in item else ""
        example = None
        if "spec" in item:
            example = _example_from_file(path.parent / _text(item["spec"], f"{where}: `spec`"), where)
        elif "builder" in item:
            example = _example_from_builder(item["builder"], item.get("args"), where)
        if example is not None and not example.title:
            example.title = heading
        course.sections.append(PackSection(number, heading, text, example))
    return course


# --- content ---------------------------------------------------------------------------------


def _key(obj):
    try:
        hash(obj)
        return obj
    except TypeError:
        return repr(obj)


def _named(math):
    """What a definition display names: ReLU(z) for ReLU(z) = max(0, z) = …"""
    return math.items[0] if hasattr(math, "items") and math.items else math


def _back(named: list, number: int) -> Sentence:
    """The pointer back, naming what it points to: "ReLU(z) and its derivative are as defined in
    Section 1."; "ReLU(z), σ(z) and BCE(a, y) and their derivatives …" for several."""
    slots = [f"{{{i}}}" for i in range(len(named))]
    listed = slots[0] if len(slots) == 1 else ", ".join(slots[:-1]) + " and " + slots[-1]
    its = "its derivative" if len(named) == 1 else "their derivatives"
    return Sentence(f"{listed} and {its} are as defined in Section {number}.", tuple(named))


def _remember(shown: dict, key, number: int, defining: dict) -> None:
    """Record a display shown in section ``number``, and the function it defines (a chain states
    ReLU' with its convention, a definitions section without: the same function)."""
    shown.setdefault(key, number)
    if key in defining:
        shown.setdefault(("function",) + defining[key][:1], number)


def _where(shown: dict, key, defining: dict):
    """The section that showed ``key`` or defined its function; None if none did."""
    if key in shown:
        return shown[key]
    if key in defining:
        return shown.get(("function",) + defining[key][:1])
    return None


def _once(section: Section, shown: dict, number: int, defining: dict | None = None) -> Section:
    """A definitions section without what an earlier section showed: each display shown before
    goes, with the sentence that introduced it; if no display is left, a pointer back remains,
    naming what it points to."""
    defining = defining or {}
    kept, first, named = [], None, []
    for b in section.blocks:
        if isinstance(b, Show) and _where(shown, _key(b.math), defining) is not None:
            key = _key(b.math)
            first = first or _where(shown, key, defining)
            name = defining[key][1] if key in defining else _named(b.math)
            if all(_key(n) != _key(name) for n in named):
                named.append(name)
            if kept and isinstance(kept[-1], Say):
                kept.pop()  # "Its derivative:" goes with its display
            continue
        kept.append(b)
    for b in kept:
        if isinstance(b, Show):
            _remember(shown, _key(b.math), number, defining)
    if first is None:
        return section
    if not any(isinstance(b, Show) for b in kept):
        return Section(section.title, [Say(_back(named, first))], section.subtitle)
    kept.append(Say(_back(named, first)))
    return Section(section.title, kept, section.subtitle)


def definitions_of(ex) -> dict:
    """The math that defines a function in ``ex``'s document outside its definitions sections:
    each applied activation's and loss's definition and derivative (a chain states them in a
    sentence), and a tensor document's softmax and cross-entropy displays (the blocks
    ``tensorwords.add_definitions`` adds where they are used). Keys as ``_key`` makes them; each
    maps to (the function's name, what its definition names: ReLU(z))."""
    if getattr(ex, "matrices", False):
        from ..solutions.tensorwords import add_definitions
        scratch = Section("")
        add_definitions(ex, scratch)
        return {_key(b.math): (repr(_key(b.math)), _named(b.math))
                for b in scratch.blocks if isinstance(b, Show)}
    from ..solutions.steps import functions_used
    used = functions_used(ex, "activation") + functions_used(ex, "loss")
    return {_key(m): (spec.name, _named(spec.definition)) for spec, _, _ in used
            for m in (spec.definition, spec.derivative, spec.derivative_cases)}


def _pointer(sentence, number: int) -> Sentence:
    """The sentence that introduced a display shown before, now pointing back to it: "The
    softmax turns … (here p = softmax(z)), as defined in Section 1."."""
    template = sentence.template.rstrip()
    return Sentence(template.rstrip(":") + f", as defined in Section {number}.", sentence.math)


def _once_in_place(section: Section, shown: dict, number: int, defining: dict) -> Section:
    """Any other section without a definition shown before: a repeated display goes and the
    sentence introducing it points back; a sentence that only states definitions shown before
    (a chain's "The activation is σ(z) = …; its derivative is …") becomes a pointer naming them.
    Definitions shown here for the first time are remembered for the sections after."""
    kept, changed = [], False
    for b in section.blocks:
        if isinstance(b, Show) and _key(b.math) in defining:
            key = _key(b.math)
            if _where(shown, key, defining) is None:
                _remember(shown, key, number, defining)
                kept.append(b)
                continue
            changed = True
            if kept and isinstance(kept[-1], Say) and isinstance(kept[-1].sentence, Sentence):
                kept[-1] = Say(_pointer(kept[-1].sentence, _where(shown, key, defining)))
            continue
        math = getattr(getattr(b, "sentence", None), "math", ()) if isinstance(b, Say) else ()
        keys = [_key(m) for m in math]
        if keys and all(k in defining for k in keys):
            where = [_where(shown, k, defining) for k in keys]
            if all(w is not None for w in where):
                changed = True
                named = []
                for k in keys:
                    if all(_key(n) != _key(defining[k][1]) for n in named):
                        named.append(defining[k][1])
                kept.append(Say(_back(named, where[0])))
                continue
            for k in keys:
                _remember(shown, k, number, defining)
        kept.append(b)
    return Section(section.title, kept, section.subtitle) if changed else section


def parts(course: Course) -> list[tuple[Section, Content | None, object]]:
    """Each course section as (its heading section, its example's content or None, example),
    with the definitions stated once: in the definitions sections, in a tensor document's
    computation, in a chain's opening sentence."""
    shown: dict = {}
    out = []
    for ps in course.sections:
        head = Section(ps.heading, anchor=_anchor(ps))  # the HTML contents link to it
        if ps.text:
            head.say(Sentence(ps.text.replace("{", "{{").replace("}", "}}")))
        content = None
        if ps.example is not None:
            c = ps.example.document_content()
            defining = definitions_of(ps.example)
            sections = [_once(s, shown, ps.number, defining) if s.title.startswith(DEFINITIONS)
                        else _once_in_place(s, shown, ps.number, defining) for s in c.sections]
            content = Content(c.title, [s for s in sections if s.blocks])
        out.append((head, content, ps.example))
    return out


def contents(course: Course) -> Section:
    s = Section("Contents")
    for ps in course.sections:  # "1. A" as an item would read as a list of its own in Markdown
        s.add(Bullet(f"Section {ps.number}: {ps.title}"))
    return s


# --- documents -------------------------------------------------------------------------------


def render_course(course: Course, fmt: str) -> str:
    """The course as one document in a document format (markdown, latex, html): one preamble,
    the contents, then each section and its example one level below it."""
    from ..rendering.formats import render_content
    body = []
    for ps, (head, content, ex) in zip(course.sections, parts(course)):
        heading = render_content(Content("", [head]), fmt, part=True)
        example = ""
        if content is not None:
            example = render_content(content, fmt, ex.latex_names, course.precision, part=True,
                                     level=1, notation=ex.document_notation(None))
            if fmt == "latex":
                heading, example = _keep_heading_with_example(heading, example, head)
        body += [heading, example]
    document = render_content(Content(course.title, [contents(course)]), fmt, body="".join(body))
    return _linked_contents(document, course) if fmt == "html" else document


def _anchor(ps) -> str:
    """The id of a pack section's heading in HTML: ``section-2``."""
    return f"section-{ps.number}"


def _linked_contents(document: str, course: Course) -> str:
    """The HTML contents list with each item a link to its section's heading: the list that
    follows the "Contents" heading, one item per section, in order."""
    at = document.find("<h2>Contents</h2>")
    start = document.find("<ul>", at)
    end = document.find("</ul>", start)
    if at < 0 or start < 0 or end < 0:
        raise DeriveError("the course pack's contents list is missing from its HTML")
    items = re.findall(r"<li>(.*?)</li>", document[start:end], flags=re.S)
    if len(items) != len(course.sections):
        raise DeriveError("the course pack's contents list does not match its sections")
    linked = "<ul>\n" + "".join(f'<li><a href="#{_anchor(ps)}">{item}</a></li>\n'
                                for ps, item in zip(course.sections, items))
    return document[:start] + linked + document[end:]


_KEEP = re.compile(r"\\derivekeep\{(\d+)\\baselineskip\}\n")


def _keep_heading_with_example(heading: str, example: str, head: Section) -> tuple[str, str]:
    r"""A section's heading (and its paragraph) and its example's first heading, kept together
    on a page with a few lines of what they introduce: the section's keep asks for room for all
    of it (the headings, about 95 characters of the paragraph to a line, four lines more), and
    the example's first keep, which would break the page between the paragraph and the
    example's heading (leaving the section's heading and a line at the foot of a page), goes."""
    text = sum(len(str(getattr(b, "sentence", ""))) for b in head.blocks)
    lines = 10 + (math.ceil(text / 95) + 1 if text else 0)
    keep = _KEEP.match(heading)
    if keep:
        heading = f"\\derivekeep{{{max(lines, int(keep.group(1)))}\\baselineskip}}\n" + heading[keep.end():]
    keep = _KEEP.match(example)
    if keep:
        example = example[keep.end():]
    return heading, example


def render_course_slides(course: Course) -> str:
    """The course as one beamer deck: a contents frame, then each section's frames, every frame
    of a section carrying its heading as the subtitle."""
    from ..rendering.formats import render_content
    from ..rendering.slides import deck, render_slides
    body = []
    for head, content, ex in parts(course):
        frames = [Section(head.title, head.blocks)] if head.blocks else []
        if content is not None:
            frames += [Section(s.title, s.blocks, head.title) for s in content.sections]
        names = ex.latex_names if ex is not None else None
        notation = ex.document_notation(None) if ex is not None else None
        body.append(render_slides(Content("", frames), names, course.precision, notation=notation,
                                  part=True))
    return render_content(deck(Content(course.title, [contents(course)])), "latex", layout="slides",
                          body="".join(body))


def write_course(course_file, output: str | None, fmt: str = "md", slides: bool = False,
                 force: bool = False, paper: str = "a4") -> str | None:
    """Write the course pack of ``course_file``; without ``output`` return its text."""
    from ..io.files import compile_pdf, write_atomic
    from ..rendering.formats import get_format
    chosen = get_format(fmt)
    if chosen.printer is None or chosen.name == "text":
        raise DeriveError(f"--format {fmt}: a course pack is md, tex, pdf, html or ipynb")
    if slides and chosen.name not in ("latex", "pdf"):
        raise DeriveError("--slides makes a beamer deck: use --format tex or pdf")
    if (chosen.binary or chosen.convert is not None) and not output:
        raise DeriveError(f"--format {fmt} needs -o FILE.{chosen.extension}")
    if output and Path(output).exists() and not force:
        raise OutputExists(f"{output} exists; pass --force to overwrite it")
    course = load_course(course_file)
    from ..core.engine import gc_paused
    with gc_paused():
        if slides:
            text = render_course_slides(course)
        else:
            source = chosen.source or chosen.name
            text = render_course(course, source)
            paper_of = get_format(source).paper
            if paper_of is not None:
                text = paper_of(text, paper)
            if chosen.convert is not None:
                text = chosen.convert(text, course.examples)
    data = compile_pdf(text) if chosen.binary else text
    if not output:
        return text
    write_atomic(output, data, force=True)
    return None


__all__ = ["Course", "PackSection", "load_course", "render_course", "render_course_slides",
           "write_course", "builders", "COURSE_FIELDS", "SECTION_FIELDS"]
