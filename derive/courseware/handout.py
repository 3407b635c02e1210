"""The whole tutoring conversation as one lecture handout (or a beamer deck): ReLU and its
derivative; one neuron backpropagated, with its computation graph; sigmoid instead and the
comparison; exploding gradients through the 3-layer chain and their generalisation; He
initialisation derived, with the variance plot; remedies. Every number comes from the engine:
change an input and every number in the handout changes with it."""
from __future__ import annotations

from pathlib import Path

from ..rendering.blocks import Bullet, Content, Figure, Say, Section, Show, Step, Table
from ..solutions.content import build
from ..core.errors import DeriveError, OutputExists
from ..core.functions import Sentence

PLOT_NAME = "handout-variance.png"


def _part(number: int, title: str, intro: str) -> Section:
    s = Section(f"Part {number} · {title}")
    s.say(Sentence(intro))
    return s


def handout_content(x=2, w=3, b=1, y=5, lr="0.1", chain_weight=5, chain_depth=3, seed=0,
                    plot: str | None = PLOT_NAME, svg_names: bool = False,
                    stem: str = "handout") -> tuple[Content, dict]:
    """The handout's content and the diagrams in it (name -> Diagram), for writers that render
    the diagrams as separate SVG files (named ``{stem}-{diagram}.svg``, after the output)."""
    from ..model.builders import chain, neuron
    from .compare import compare_activations
    from ..rendering.diagrams import diagram, diagram_section
    from ..initialization.variance import simulate_variance, simulation_section, variance_derivation
    from .remedies import remedies

    relu = neuron(x=x, w=w, b=b, y=y, activation="relu", lr=lr)
    sigmoid = neuron(x=x, w=w, b=b, y=y, activation="sigmoid", lr=lr)
    deep = chain(depth=chain_depth, weight=chain_weight, x=1, activation="relu", loss="half_squared_error", y=0)
    sections, diagrams = [], {}

    def with_diagram(section_list, ex, name):
        d = diagram(ex)
        if svg_names:
            d.svg_name = f"{stem}-{name}.svg"
        diagrams[name] = d
        return [diagram_section(ex, d)] + section_list

    relu_doc = build(relu).sections
    intro = [s for s in relu_doc if s.title.startswith("The activation")]
    rest = [s for s in relu_doc if not s.title.startswith("The activation")]
    sections.append(_part(1, "ReLU and its derivative", "ReLU(z) = max(0, z) passes positive inputs "
                          "unchanged and blocks negative ones; its derivative is 1 or 0."))
    sections += intro
    sections.append(_part(2, "Backpropagation through one ReLU neuron",
                          "The smallest network: one input, one weight, one bias, one ReLU."))
    sections += with_diagram(rest, relu, "neuron")
    sections.append(_part(3, "How would sigmoid do instead?",
                          "The same neuron and numbers, with a sigmoid in place of the ReLU."))
    sections += [s for s in build(sigmoid).sections if s.title in ("Forward pass", "Backward pass: the chain rule", "Observations")]
    sections += compare_activations(["relu", "sigmoid"], x=x, w=w, b=b, y=y, lr=lr).content().sections[:1]
    sections.append(_part(4, "Does ReLU prevent exploding gradients?",
                          "No: ReLU passes gradients through unchanged, so large weights multiply "
                          "up layer after layer."))
    sections += with_diagram(build(deep).sections, deep, "chain")
    sections.append(_part(5, "The role of He initialisation",
                          "Choose the weights' scale so that each layer keeps the signal's size."))
    he = variance_derivation("relu")
    sections += he.content.sections
    sim = simulate_variance(depth=50, width=256, activation="relu", schemes=["normal", "small", "xavier", "he"],
                            seed=seed, batch=1024)
    sections.append(simulation_section(sim, plot))
    sections.append(_part(6, "Remedies", "What else keeps gradients in check."))
    sections += remedies().content.sections
    return Content("ReLU, backpropagation and exploding gradients — a worked handout", sections), \
        {"diagrams": diagrams, "simulation": sim,
         "examples": [("One ReLU neuron", relu), ("One sigmoid neuron", sigmoid),
                      (f"A {chain_depth}-layer ReLU chain", deep)]}


# How the handout's sections become frames, by (part, title start); the rest get a frame each.
#   skip:   printed in the handout only (the slides show the same numbers elsewhere)
#   lead:   its sentences open the next frame (a few lines are no frame of their own)
#   follow: it closes the frame before it (which has room: a wide, short diagram)
#   table:  from the sentence before its first table on (the table restates the lines above it)
#   figure: its first sentence and the plot (the plot shows the table's numbers)
#   product: without the local derivatives one by one (the product shows each factor's value)
SLIDE_PLAN = {
    (2, "The computation graph"): "frame",  # the first match wins: the graph is no skipped listing
    (2, "The computation"): "skip",  # the forward pass shows the same lines with the values in
    (2, "Observations"): "skip",  # said aloud
    (3, "Forward pass"): "skip",  # the comparison table has a and L for both activations
    (3, "Observations"): "skip",  # said aloud: the comparison table shows the saturation
    (4, "The network"): "lead",
    (4, "Forward pass"): "table",
    (4, "Backward pass"): "product",
    (4, "Observations"): "skip",
    (4, "Generalisation"): "math",  # the asides and the conclusion are said aloud
    (5, "The question"): "lead",
    (5, "Simulation"): "figure",
    (6, "The problem"): "lead",
}


def _slide_blocks(s: Section, action: str) -> list:
    blocks = [Show(b.math) if isinstance(b, Step) else b for b in s.blocks]
    if action == "lead":
        return [b for b in blocks if isinstance(b, (Say, Bullet))]
    if action == "table":
        first = next((i for i, b in enumerate(blocks) if isinstance(b, Table)), None)
        if first is not None:
            start = first - 1 if first and isinstance(blocks[first - 1], Say) else first
            return blocks[start:]
    if action == "product":
        return [b for b in s.blocks if not isinstance(b, Step)]
    if action == "math":  # the displays and tables, each with the sentence that introduces it
        return [b for i, b in enumerate(blocks) if not isinstance(b, Say) or
                i + 1 < len(blocks) and isinstance(blocks[i + 1], (Show, Table))]
    if action == "figure" and any(isinstance(b, Figure) for b in blocks):
        return blocks[:1] + [b for b in blocks if isinstance(b, Figure)]
    return blocks


def _said(block: Say, said: set) -> bool:
    math = getattr(block.sentence, "math", ())
    return _key(block) in said or bool(math) and all(_key(m) in said for m in math)


def _remember(block, said: set) -> None:
    if isinstance(block, Say):
        said.add(_key(block))
    elif isinstance(block, Show):
        said.add(_key(block.math))


def _key(obj):
    """A hashable stand-in for a block or math object (what was said or shown already)."""
    try:
        hash(obj)
        return obj
    except TypeError:
        return repr(obj)


def slides_content(content: Content) -> Content:
    """The handout's content cut for projection, one idea per frame (``SLIDE_PLAN``): a part's
    one-line introduction opens the part's first frame (its title becomes that frame's subtitle),
    short text-only sections open the frame after them, what another frame restates is left to
    the handout, and steps lose their written-out justifications (said aloud, and printed in the
    handout)."""
    sections: list[Section] = []
    pending: list = []  # sentences that open the next frame
    subtitle, part = "", 0
    said: set = set()
    for s in content.sections:
        if s.title.startswith("Part ") and all(isinstance(b, Say) for b in s.blocks):
            part += 1
            subtitle, pending = s.title, list(s.blocks)
            continue
        action = next((a for (p, start), a in SLIDE_PLAN.items() if p == part and s.title.startswith(start)),
                      "frame")
        if action == "skip":
            continue
        # a sentence said on an earlier frame (the notation, again for sigmoid), or one whose
        # math was all displayed before (the activation, defined in part 1), is not repeated
        blocks = [b for b in _slide_blocks(s, action) if not (isinstance(b, Say) and _said(b, said))]
        for b in blocks:
            _remember(b, said)
        if action == "lead":
            pending += blocks
            continue
        if action == "follow" and sections:
            sections[-1].blocks.extend(blocks)
            continue
        sections.append(Section(s.title, pending + blocks, subtitle or s.subtitle))
        subtitle, pending = "", []
    return Content(content.title, sections, content.footer)


def side_file_names(output) -> tuple[str, str]:
    """The plot's file name and the diagrams' stem for an output path: named after the output, so
    the slides (slides.pdf) and the handout (handout.md) never claim the same side file."""
    stem = Path(output).stem
    return f"{stem}-variance.png", stem


def write_handout(output: str | None, fmt: str = "md", slides: bool = False, force: bool = False,
                  paper: str = "a4", **inputs) -> str | None:
    """Write the handout; a Markdown or LaTeX handout gets its plot and diagrams beside it, named
    after the output (``notes.md`` -> ``notes-variance.png``, ``notes-neuron.svg``); a PDF keeps
    them in its temporary build folder. Without ``output`` return the document text (diagrams as
    inline SVG images or TikZ, no plot)."""
    import tempfile
    from ..io.files import compile_pdf, write_atomic
    from ..rendering.formats import get_format
    from ..rendering.formats import render_content as render_plain
    from ..rendering.slides import deck

    def render_content(content, fmt, names, layout):
        text = render_plain(content, fmt, names, layout=layout)
        paper_of = get_format(fmt).paper
        return paper_of(text, paper) if paper_of else text
    fmt = get_format(fmt).name
    if fmt == "ipynb" and not output:
        raise DeriveError("--format ipynb needs -o FILE.ipynb")
    if slides and fmt not in ("latex", "pdf"):
        raise DeriveError("--slides makes a beamer deck: use --format tex or pdf")
    if fmt == "pdf" and not output:
        raise DeriveError("--format pdf needs -o FILE.pdf")
    layout = "slides" if slides else "document"
    # the planned frames; a diagram's pieces and a long table's rows then get frames of their own
    cut = (lambda c: deck(slides_content(c), fill=False)) if slides else (lambda c: c)
    if not output:
        content, _ = handout_content(plot=None, **inputs)
        return render_content(cut(content), fmt, None, layout=layout)
    out = Path(output)
    if out.exists() and not force:
        raise OutputExists(f"{out} exists; pass --force to overwrite it")
    if fmt == "ipynb":  # Markdown cells (diagrams as SVG images), code cells rebuilding the examples
        from ..rendering.notebook import notebook
        content, extra = handout_content(plot=None, **inputs)
        write_atomic(out, notebook(render_plain(content, "markdown", None), extra["examples"]), force=True)
        return None
    from ..rendering.diagrams import to_svg
    plot_name, stem = side_file_names(out)
    svg = fmt == "markdown"
    content, extra = handout_content(svg_names=svg, plot=plot_name, stem=stem, **inputs)
    content = cut(content)
    if fmt == "html":  # one page: plot and diagrams inside it
        from ..rendering.formats import embed_images
        with tempfile.TemporaryDirectory(prefix="derive-handout-") as build:
            plot_path = Path(build) / plot_name
            extra["simulation"].plot(plot_path)
            page = render_content(content, "html", None, layout=layout)
            write_atomic(out, embed_images(page, [plot_path]), force=True)
        return None
    if fmt == "pdf":
        with tempfile.TemporaryDirectory(prefix="derive-handout-") as build:
            plot_path = Path(build) / plot_name
            extra["simulation"].plot(plot_path)
            tex = render_content(content, "latex", None, layout=layout)
            write_atomic(out, compile_pdf(tex, resources=[plot_path]), force=True)
        return None
    side_files = [out.parent / plot_name] + (
        [out.parent / d.svg_name for d in extra["diagrams"].values()] if svg else [])
    clash = [str(p) for p in side_files if p.exists()]
    if clash and not force:
        raise DeriveError(f"{clash[0]} exists (the handout writes its plot and diagrams beside it, "
                          f"named after {out.name}); pass --force to overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="derive-handout-") as build:
        plot_tmp = Path(build) / plot_name
        extra["simulation"].plot(plot_tmp)
        write_atomic(out.parent / plot_name, plot_tmp.read_bytes(), force=True)
    if svg:
        for d in extra["diagrams"].values():
            write_atomic(out.parent / d.svg_name, to_svg(d), force=True)
    write_atomic(out, render_content(content, fmt, None, layout=layout), force=True)
    return None
