"""QA round two on figures, slides and layout (issue #26): every SVG label inside its viewBox,
slide plots at their printed size with labels of at least 8 pt, a heading kept with the diagram
after it, the fragment's diagram within an article's text width, and a diagram in `compare`."""
import html
import math
import re

import pytest
import sympy as sp

import derive
from derive.rendering.diagrams import diagram, svg_markup, to_svg
from tests.latex_documents import NET

E = derive.Example.from_equations
# Generous glyph estimates for Helvetica (its widest digits and capitals are 0.6 em or less):
# a label may be narrower than this, never wider.
CHAR_EM, ASCENT, DESCENT = 0.6, 0.78, 0.22


def svg_examples():
    return {
        "neuron-relu": derive.neuron(x=2, w=3, b=1, y=5, activation="relu"),
        "neuron-tanh-negative": derive.neuron(x="-1.5", w="0.8", b="-0.2", y=1, activation="tanh"),
        "chain-leaky": derive.chain(depth=4, weight=[2, -1.5, 0.5, 3], x=1, activation="leaky_relu"),
        "mlp": derive.mlp(**NET, activation=["tanh", "sigmoid"], loss="binary_cross_entropy"),
        "tensor-relu": E("z = W @ x + b\na = relu(z)\nL = sum(a*a)/2",
                         values={"W": [[1, -2], [0.5, 1]], "x": [[1, 0], [-1, 2]], "b": [0.5, -1]}),
        # three-entry labels in the first column: the QA's cut label (−49 px of a 0-based viewBox)
        "tensor-two-layers": E("h = W1 @ x + b1\na = tanh(h)\nu = W2 @ a + b2\nL = sum(u*u)/2",
                               values={"W1": [[1, -2], [0.5, 1], [0.3, 0.2]], "x": [[1], [-1]],
                                       "b1": [0.5, -1, 0.2], "W2": [[1, 2, 3]], "b2": [0.1]}),
        "tensor-long-names": E("hidden = weight @ inputs + bias\nact = sigmoid(hidden)\nloss = sum(act*act)/2",
                               values={"weight": [[1, -2, 3], [0.5, 1, 2]], "bias": [0.5, -1],
                                       "inputs": [[1, 0, 2, 3], [-1, 2, 1, 0], [1, 1, 1, 1]]}),
        "tensor-zero-and-tiny": E("p = W @ x\nq = softplus(p)\nL = sum(q*q)",
                                  values={"W": [[0, "1e-5"], [-3, 0]], "x": [[0.001], [-2]]}),
    }


@pytest.fixture(scope="module")
def svg_exs():
    return svg_examples()


def _texts(svg: str):
    """(viewBox, attributes, shown characters) of every <text> of every piece (an innermost <svg>)."""
    for view, body in re.findall(r'<svg [^>]*?viewBox="([-\d. ]+)"[^>]*>((?:(?!<svg ).)*?)</svg>', svg, re.S):
        box = [float(v) for v in view.split()]
        for attrs, inner in re.findall(r"<text ([^>]*)>(.*?)</text>", body, re.S):
            yield box, dict(re.findall(r'([\w-]+)="([^"]*)"', attrs)), html.unescape(re.sub(r"<[^>]+>", "", inner))


def _corners(a: dict, shown: str) -> list:
    x, y, size = float(a["x"]), float(a["y"]), float(a["font-size"])
    w = len(shown) * size * CHAR_EM
    anchor = a.get("text-anchor", "start")
    left = x - w / 2 if anchor == "middle" else x - w if anchor == "end" else x
    points = [(px, py) for px in (left, left + w) for py in (y - ASCENT * size, y + DESCENT * size)]
    turn = re.fullmatch(r"rotate\(([-\d.]+) ([-\d.]+) ([-\d.]+)\)", a.get("transform", ""))
    if turn:
        angle, cx, cy = map(float, turn.groups())
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        points = [(cx + (px - cx) * c - (py - cy) * s, cy + (px - cx) * s + (py - cy) * c) for px, py in points]
    return points


@pytest.mark.parametrize("name", sorted(svg_examples()))
def test_every_svg_label_lies_inside_its_viewbox(name, svg_exs):
    d = diagram(svg_exs[name])
    for svg in (svg_markup(d), to_svg(d).decode("utf-8")):
        texts = list(_texts(svg))
        assert len(texts) >= 4
        for (x0, y0, w, h), attrs, shown in texts:
            for px, py in _corners(attrs, shown):
                assert x0 <= px <= x0 + w and y0 <= py <= y0 + h, (name, shown, (px, py), (x0, y0, w, h))


def test_values_beside_neighbouring_columns_do_not_overlap(svg_exs):
    """A tensor's three-entry labels are wider than the usual column spacing: the columns move
    apart rather than print one label over the next."""
    for name in ("tensor-two-layers", "tensor-long-names", "mlp"):
        svg = svg_markup(diagram(svg_exs[name]))
        boxes = []
        for _, attrs, shown in _texts(svg):
            if attrs.get("stroke") == "#fff":  # the values on the nodes
                size = float(attrs["font-size"])
                half = len(shown) * size * 0.5 / 2  # a tight estimate: these must not even touch
                boxes.append((float(attrs["x"]) - half, float(attrs["x"]) + half, float(attrs["y"]), shown))
        assert len(boxes) >= 6
        for i, (l1, r1, y1, t1) in enumerate(boxes):
            for l2, r2, y2, t2 in boxes[i + 1:]:
                if abs(y1 - y2) < 13:
                    assert r1 <= l2 or r2 <= l1, (name, t1, t2)


# --- 4. a fragment's diagram within a default article's text width --------------------------

ARTICLE = r"""\documentclass{article}
\usepackage{amsmath}
\usepackage[T1]{fontenc}
\usepackage{amssymb,array,booktabs,longtable,graphicx,tikz}
\begin{document}
\section{Our own heading}
\input{body.tex}
\end{document}
"""


def fragment_examples():
    return {
        "mlp-tanh-sigmoid": lambda: derive.mlp(**NET, activation=["tanh", "sigmoid"], loss="binary_cross_entropy",
                                               lr="0.5"),
        "mlp-relu": lambda: derive.mlp(**NET, activation="relu", lr="0.1"),
        "chain-leaky": lambda: derive.chain(depth=5, weight=[2, -1.5, 0.5, 3, 1], x=1, activation="leaky_relu"),
        "tensor-two-layers": lambda: svg_examples()["tensor-two-layers"],
    }


@pytest.mark.parametrize("name", sorted(fragment_examples()))
def test_fragment_diagram_fits_a_default_article(name, tmp_path, pdflatex):
    """A default article's text is 345 pt wide; a six-column piece drawn for derive's pages is
    about 390 pt: it is scaled down to the line there (and only there), never overfull."""
    from tests.latex_documents import compile_latex
    from tests.test_layout import overfull
    body = fragment_examples()[name]().render("latex", fragment=True)
    assert r"\begin{tikzpicture}" in body and r"\providecommand{\derivefit}" in body
    (tmp_path / "body.tex").write_text(body, encoding="utf-8")
    build = compile_latex(tmp_path / "b", ARTICLE, [tmp_path / "body.tex"])
    assert build.returncode == 0, build.errors
    lines = body.splitlines()
    pictures = [k + 1 for k, line in enumerate(lines) if r"\derivefit{%" in line]
    assert pictures
    drawn = set()  # the fragment's lines that draw a diagram (\derivefit{ … \end{tikzpicture}})
    for start in pictures:
        end = next(k + 1 for k in range(start - 1, len(lines)) if lines[k].startswith(r"\end{tikzpicture}"))
        drawn |= set(range(start, end + 1))
    boxes = overfull(build.log)
    at = [tuple(map(int, re.search(r"lines (\d+)--(\d+)", b).groups())) for b, _ in boxes]
    assert not [b for b, (a, z) in zip(boxes, at) if drawn & set(range(a, z + 1))], boxes
    if name.startswith(("mlp", "tensor")):  # and nothing else runs over either
        assert not boxes, boxes


# --- 3. a heading kept with the diagram it introduces ------------------------------------------

def _page_texts(pdf) -> list:
    import subprocess
    from tests.conftest import require_tool
    pdftotext, pdfinfo = require_tool("pdftotext"), require_tool("pdfinfo")
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run([pdfinfo, str(pdf)], capture_output=True,
                                                             text=True, check=True).stdout).group(1))
    return [subprocess.run([pdftotext, "-f", str(p), "-l", str(p), str(pdf), "-"], capture_output=True,
                           text=True, check=True).stdout for p in range(1, pages + 1)]


@pytest.mark.parametrize("name", ["tensor-relu", "mlp", "neuron-tanh-negative"])
def test_a_diagrams_heading_never_ends_a_page(name, svg_exs, tmp_path, pdflatex):
    """Paragraphs of growing length, each followed by the diagram's section, put the heading at
    every height of the page, the page's foot among them: each page that shows the heading (or
    its caption) shows the picture after it."""
    from derive.core.functions import Sentence
    from derive.rendering.blocks import Content, Section
    from derive.rendering.diagrams import DIAGRAM_TITLES, diagram_section
    from derive.rendering.formats import render_content
    from tests.latex_documents import compile_latex
    ex = svg_exs[name]
    sections = []
    for k in range(1, 13):
        s = Section(f"Paragraph {k}")
        s.say(Sentence(" ".join(["Some words of a paragraph that fills the page."] * (3 * k))))
        sections += [s, diagram_section(ex)]
    build = compile_latex(tmp_path / "b", render_content(Content("Keep", sections), "latex", ex.latex_names))
    assert build.returncode == 0, build.errors
    heading = DIAGRAM_TITLES[diagram(ex).kind]
    pictures = 0
    for number, text in enumerate(_page_texts(build.pdf), 1):
        words = [w for w in text.split() if w]
        for at in [i for i in range(len(words)) if " ".join(words[i:i + len(heading.split())]) == heading]:
            after = words[at:]
            # the caption ends "… in its box." / "operation." / "(red)."; the picture's labels follow
            caption_end = next(i for i, w in enumerate(after) if w.endswith("."))
            labels = [w for w in after[caption_end + 1:] if re.search(r"\d", w)]
            assert len(labels) >= 3, (name, number, after[-12:])
            pictures += 1
    assert pictures == 12


# --- 5. a diagram in `derive compare` ---------------------------------------------------------

@pytest.mark.parametrize("activations, values", [
    ("relu,sigmoid,tanh", ["--x", "2", "--w", "3", "--b", "1", "--y", "5", "--lr", "0.1"]),
    ("leaky_relu,elu", ["--x", "-1.5", "--w", "0.4", "--b", "0", "--y", "0"]),
    ("gelu,softplus,identity", ["--x", "0", "--w", "-2", "--b", "0.5", "--y", "1", "--lr", "0.5"]),
])
def test_compare_documents_have_the_shared_diagram(activations, values, tmp_path):
    from tests.test_course_pack import cli
    for fmt, mark in (("html", "<svg "), ("tex", r"\begin{tikzpicture}"), ("md", "data:image/svg+xml")):
        out = tmp_path / f"compare.{fmt}"
        cli("compare", "--activations", activations, *values, "--format", fmt, "-o", str(out))
        text = out.read_text(encoding="utf-8")
        assert text.count(mark) == 1, (fmt, text.count(mark))  # the one neuron all columns share


def test_shared_diagram_writes_only_the_values_every_column_has():
    from derive.courseware.compare import compare_activations
    from derive.rendering.diagrams import shared_diagrams
    comp = compare_activations(["relu", "sigmoid", "tanh"], x="-0.5", w="1.5", b="0.25", y=1)
    [d] = shared_diagrams(list(comp.examples.values()))
    edges = {(e.parent, e.child): e for e in d.edges}
    # z = w x + b is the same for every activation: its inputs' values are written …
    assert [edges[(p, "z")].forward for p in ("x", "w", "b")] == [sp.Rational(-1, 2), sp.Rational(3, 2),
                                                                     sp.Rational(1, 4)]
    assert edges[("z", "a")].forward == sp.Rational(-1, 2)
    # … the gradients, which differ by activation, are not (ReLU's is 0 here, tanh's is not)
    assert all(e.gradient is None for e in d.edges)
    assert [n.op for n in d.nodes if n.name == "a"] == ["f"] and "differ by column" in d.summary
    # one activation alone: its own diagram, every value on it
    [alone] = shared_diagrams([comp.examples["tanh"]])
    assert alone == diagram(comp.examples["tanh"])
    # different graphs: one diagram each
    other = derive.chain(depth=2, weight=2, x=1)
    assert len(shared_diagrams([comp.examples["relu"], other])) == 2


# --- 1. slide plots at their printed size, labels at least 8 pt --------------------------------

FRAME_TEXT_MM = 160 - 2 * 7  # the 16:9 frame less its 7 mm margins (templates/latex/slides.j2)
TRAIN_SPECS = {
    "sigmoid-momentum": """equations: |
  z = w*x + b
  a = sigmoid(z)
  L = (a - y)**2
values: {x: 2, w: -0.5, b: 0, y: 1}
train: {steps: 3, optimizer: momentum, lr: 0.5}
""",
    "tanh-adam-40-steps": """equations: |
  z = w*x + b
  a = tanh(z)
  L = (a - y)**2
values: {x: -1.5, w: 0.8, b: 0.2, y: 1}
train: {steps: 40, optimizer: adam, lr: 0.05}
""",
    "tensor-relu-sgd": """equations: |
  z = W @ x + b
  a = relu(z)
  L = sum(a*a)/2
values: {W: [[1, -2], [0.5, 1]], x: [[1, 0], [-1, 2]], b: [0.5, -1]}
train: {steps: 2, optimizer: sgd, lr: 0.1}
""",
}
VARIANCE = {"relu": ["--depth", "12", "--width", "16", "--batch", "32"],
            "sigmoid": ["--depth", "6", "--width", "8", "--batch", "16", "--schemes", "xavier,he,small"]}


def _png_inches(path) -> tuple:
    """A PNG's size in inches, from its pixels and its pHYs resolution (what pdflatex prints it at)."""
    import struct
    data = path.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    at = data.index(b"pHYs")
    per_metre, _, unit = struct.unpack(">IIB", data[at + 4:at + 13])
    assert unit == 1
    dpi = per_metre * 0.0254
    return width / dpi, height / dpi


def _smallest_font(figure) -> float:
    """The smallest size (pt) of any text the saved figure shows, tick labels included."""
    from matplotlib.text import Text
    sizes = [t.get_fontsize() for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            sizes += [t.label1.get_fontsize() for t in axis.get_major_ticks() + axis.get_minor_ticks()
                      if t.label1.get_visible() and t.label1.get_text().strip()]
    assert len(sizes) >= 8
    return min(sizes)


def _printed_scale(tex: str, png, folder) -> float:
    """How much the deck scales the plot: its \\includegraphics options (natural size when none),
    then \\derivefit's shrinking to the frame's text width when it is wider."""
    [(options, name)] = re.findall(r"\\includegraphics(\[[^\]]*\])?\{([^}]*)\}", tex)
    assert (folder / name).read_bytes() == png.read_bytes()  # the figure measured is the one shown
    width_in, height_in = _png_inches(png)
    printed_mm = width_in * 25.4
    if options:
        m = re.fullmatch(r"\[width=([\d.]+)mm\]", options)
        assert m, options  # only a width in mm can be checked here
        printed_mm = float(m.group(1))
    printed_mm = min(printed_mm, FRAME_TEXT_MM)
    assert height_in * 25.4 * printed_mm / (width_in * 25.4) <= 62  # under the title, with a sentence
    return printed_mm / (width_in * 25.4)


def _check_deck(tmp_path, tex, resources):
    from tests.latex_documents import compile_latex
    build = compile_latex(tmp_path / "build", tex, resources)
    assert build.returncode == 0, build.errors
    assert "Overfull" not in build.log
    return build


@pytest.mark.parametrize("name", sorted(TRAIN_SPECS))
def test_training_plot_labels_are_at_least_8pt_on_the_frame(name, tmp_path, pdflatex):
    from derive.model.spec import training_from_spec
    from tests.test_course_pack import cli
    spec = tmp_path / "train.yaml"
    spec.write_text(TRAIN_SPECS[name])
    cli("train", str(spec), "--slides", "--format", "tex", "-o", str(tmp_path / "deck.tex"))
    tex = (tmp_path / "deck.tex").read_text()
    ex, options = training_from_spec(spec)  # the same run, plotted again to read its fonts
    figure = ex.train(**options).plot(tmp_path / "again.png")
    effective = _smallest_font(figure) * _printed_scale(tex, tmp_path / "again.png", tmp_path)
    assert effective >= 8 - 1e-6, effective
    _check_deck(tmp_path, tex, [tmp_path / "deck.png"])


@pytest.mark.parametrize("activation", sorted(VARIANCE))
def test_variance_plot_labels_are_at_least_8pt_on_the_frame(activation, tmp_path, pdflatex, monkeypatch):
    from derive.initialization.variance import simulate_variance
    from derive.io import files
    from tests.test_course_pack import cli
    args = VARIANCE[activation]
    cli("variance", "--activation", activation, *args, "--slides", "--format", "tex", "-o", str(tmp_path / "v.tex"))
    tex = (tmp_path / "v.tex").read_text()
    options = dict(zip(args[::2], args[1::2]))
    schemes = options.get("--schemes", "normal,small,xavier,he").split(",")
    sim = simulate_variance(int(options["--depth"]), int(options["--width"]), activation, schemes, 0,
                            int(options["--batch"]))
    saved = []  # sim.plot returns its path: the figure is caught on its way to the file
    original = files.save_figure
    monkeypatch.setattr(files, "save_figure", lambda figure, path, dpi=None: saved.append(figure)
                        or original(figure, path, dpi))
    sim.plot(tmp_path / "again.png")
    effective = _smallest_font(saved[0]) * _printed_scale(tex, tmp_path / "again.png", tmp_path)
    assert effective >= 8 - 1e-6, effective
    build = _check_deck(tmp_path, tex, [tmp_path / "v.png"])
    # the plot fits its frame: no frame ran over into a continuation, "(2)" (ours are "(2/2)")
    titles = [t.strip().splitlines()[0] for t in _page_texts(build.pdf) if t.strip()]
    assert not [t for t in titles if re.search(r"\(\d+\)$", t)], titles


def test_fit_plot_keeps_large_fonts_and_lifts_small_ones():
    from matplotlib.figure import Figure
    from derive.rendering.slides import PLOT_MM, fit_plot
    figure = Figure(figsize=(4, 2))  # narrower than a frame: scaled up, labels with it
    ax = figure.subplots()
    ax.set_title("small", fontsize=6)
    ax.set_xlabel("large", fontsize=14)
    ax.tick_params(labelsize=4)
    fit_plot(figure)
    grow = PLOT_MM[0] / 25.4 / 4
    assert [round(v * 25.4, 3) for v in figure.get_size_inches()] == list(PLOT_MM)
    assert ax.title.get_fontsize() == pytest.approx(max(8, 6 * grow), abs=0.05)
    assert ax.xaxis.label.get_fontsize() == pytest.approx(14 * grow, abs=0.05)
    figure.canvas = None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(figure).draw()
    assert min(t.label1.get_fontsize() for t in ax.xaxis.get_major_ticks()) >= 8
