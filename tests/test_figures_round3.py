"""QA round three on figures (issue #24's C3, C4; issue #26's fragments): a layer graph's labels
never run into each other or past their boxes (SVG, estimated; TikZ, as pdflatex sets it),
class indices show their value only, slide frames neither overflow nor leave an orphan row or a
lone sentence, and a fragment fits a default article's text width."""
import html
import re
import subprocess

import pytest

import derive
from derive.rendering.blocks import Content
from derive.rendering.diagrams import diagram, diagram_section, svg_markup, to_text
from derive.rendering.formats import render_content

E = derive.Example.from_equations

CONV = dict(  # conv (stride 2, padding 1, 2 → 3 channels) → max-pool → ReLU → squared error
    equations="c = conv2d(x, k, stride=2, padding=1) + b\np = maxpool2d(c, 2)\na = relu(p)\nL = sum((a - y)**2)",
    values={"x": [[[(3 * r + 5 * c) % 7 - 3 for c in range(7)] for r in range(7)],
                  [[(2 * r - c) % 5 - 2 for c in range(7)] for r in range(7)]],
            "k": [[[[(o + i + r - c) % 3 - 1 for c in range(3)] for r in range(3)] for i in range(2)]
                  for o in range(3)],
            "b": [[[0.5]], [[-1]], [[0]]],
            "y": [[[0, 0.5], [0, 1]], [[1, 1], [0, 1]], [[-1, 0.5], [-0.5, -0.5]]]})
LENET = dict(  # 1×8×8 image, two 3×3 filters, ReLU, pool, linear to 4 classes, cross-entropy
    equations="c = conv2d(x, k) + b1\nh = relu(c)\np1 = maxpool2d(h, 2)\nf = flatten(p1)\n"
              "z = W @ f + b2\np = softmax(z)\nL = cross_entropy(p, y)",
    values={"x": [[[((r * 8 + c) * 37 % 17 - 8) / 8 for c in range(8)] for r in range(8)]],
            "k": [[[[0, 0.25, 0], [0.5, 0.25, 0.25], [0, -0.25, 0.25]]],
                  [[[0, 0.5, 0.25], [0, 0.75, -0.5], [0, 0, 0.75]]]],
            "b1": [[[0.25]], [[-0.5]]],
            "W": [[((j * 18 + m) * 7 % 7 - 3) / 4 for m in range(18)] for j in range(4)],
            "b2": [0.5, 0, -0.5, 0.25], "y": 2})
EMBEDDING = dict(
    equations="e = embedding(E, i)\nz = W @ e + b\np = softmax(z)\nL = cross_entropy(p, y)",
    values={"E": [[0.5, -1], [1, 0.25], [-0.5, 2], [0, 1], [1.5, -0.5]],
            "W": [[1, -0.5], [0.25, 0.75], [-1, 0.5]], "b": [0.1, 0, -0.2], "i": [1, 3, 1], "y": [2, 0, 2]})
ATTENTION = dict(  # QKᵀ in the row convention
    equations="S = Q @ K.T\nA = softmax(S)\nO = A @ V\nL = sum(O*G)",
    values={"Q": [[1, 0], [0.5, -1], [0, 2]], "K": [[1, 1], [-1, 0.5], [0, 1], [2, -1]],
            "V": [[1, 2], [0, 1], [-1, 0.5], [2, 0]], "G": [[1, -1], [0.5, 2], [-1, 1]]},
    data=["G"], batch="rows")
RESIDUAL = dict(
    equations="h = relu(W1 @ x + b1)\nr = W2 @ h + b2 + x\na = tanh(r)\nL = sum((a - y)**2)/2",
    values={"x": [[1, -0.5], [0.5, 2], [-1, 0]], "W1": [[0.5, -1, 0.25], [1, 0.5, -0.5], [0, 0.25, 1]],
            "b1": [0.1, -0.2, 0], "W2": [[1, 0, -0.5], [0.5, -0.25, 1], [-1, 0.5, 0.5]],
            "b2": [0, 0.3, -0.1], "y": [[1, 0], [0, 1], [0.5, 0.5]]})


def _example(spec: dict):
    spec = dict(spec)
    return E(spec.pop("equations"), **spec)


def _torch_embedding():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Embedding(5, 2), torch.nn.Linear(2, 3))
    return derive.from_torch(net, torch.tensor([1, 3, 1]), torch.tensor([2, 0, 2]), loss="cross_entropy")


def graphs():
    return {"conv": lambda: _example(CONV), "lenet": lambda: _example(LENET),
            "embedding": lambda: _example(EMBEDDING), "attention-rows": lambda: _example(ATTENTION),
            "residual": lambda: _example(RESIDUAL), "torch-embedding": _torch_embedding}


# --- 1. SVG: no two labels overlap, and an input's text stays inside its box -----------------

# Labels measured in DejaVu Sans, what a browser draws "Helvetica, Arial, sans-serif" in where
# neither is installed (as here) and wider than both ("×" and "−" are 0.84 em): its ink rises
# 0.73 em above the baseline and falls 0.24 em below.
ASCENT, DESCENT = 0.73, 0.24


def _advance(text: str, size: float) -> float:
    from matplotlib import font_manager
    from PIL import ImageFont
    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), round(size)).getlength(text)


def _svg_labels(svg: str) -> list:
    """(left, top, right, bottom, text) of every <text>, its tspans at their own sizes."""
    out = []
    for attrs, inner in re.findall(r"<text ([^>]*)>(.*?)</text>", svg, re.S):
        a = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        assert "transform" not in a  # a layer graph's labels are upright
        size = float(a["font-size"])
        width, tallest = 0.0, size
        for piece in re.split(r"(<tspan[^>]*>.*?</tspan>)", inner):
            m = re.match(r'<tspan[^>]*font-size="([\d.]+)"[^>]*>(.*?)</tspan>', piece)
            text, fs = (m.group(2), float(m.group(1))) if m else (piece, size)
            width += _advance(html.unescape(re.sub(r"<[^>]+>", "", text)), fs)
        x, y = float(a["x"]), float(a["y"])
        assert a.get("text-anchor") == "middle"
        shown = html.unescape(re.sub(r"<[^>]+>", "", inner))
        out.append((x - width / 2, y - ASCENT * tallest, x + width / 2, y + DESCENT * tallest, shown))
    return out


def _collisions(boxes, clearance: float) -> list:
    """Pairs of boxes that overlap across (more than a pixel or a point) and are closer than
    ``clearance`` up or down: one printed over, or touching, the other."""
    bad = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            across = min(a[2], b[2]) - max(a[0], b[0])
            down = min(a[3], b[3]) - max(a[1], b[1])
            if across > 1 and down > -clearance:
                bad.append((a[4], b[4], round(across, 1), round(down, 1)))
    return bad


@pytest.mark.parametrize("name", sorted(graphs()))
def test_svg_layer_graph_labels_never_overlap(name):
    d = diagram(graphs()[name]())
    assert d.kind == "layer graph" and d.on_nodes
    pieces = re.findall(r"<svg [^>]*>.*?</svg>", svg_markup(d), re.S)
    assert sum(len(_svg_labels(p)) for p in pieces) >= 10
    for piece in pieces:
        labels = _svg_labels(piece)
        assert not _collisions(labels, 2), (name, _collisions(labels, 2))
        # every input's name and shape inside its box (the QA's "k 2×1×3×3" ran past it)
        for x, y, w, h in re.findall(r'<rect x="([-\d.]+)" y="([-\d.]+)" width="([\d.]+)" height="([\d.]+)"',
                                     piece):
            x, y, w = float(x), float(y), float(w)
            inside = [b for b in labels if y < (b[1] + b[3]) / 2 < y + float(h) and x < (b[0] + b[2]) / 2 < x + w]
            assert len(inside) == 1, (name, inside)
            assert x + 2 <= inside[0][0] and inside[0][2] <= x + w - 2, (name, inside[0], x, w)


# --- 1. TikZ: pdflatex's words never overlap ------------------------------------------------

def _pdf_words(pdf) -> list:
    from tests.conftest import require_tool
    out = subprocess.run([require_tool("pdftotext"), "-bbox", str(pdf), "-"], capture_output=True,
                         text=True, check=True).stdout
    return [(float(a), float(b), float(c), float(d), html.unescape(w)) for a, b, c, d, w in re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', out)]


@pytest.mark.parametrize("name", sorted(graphs()))
def test_tikz_layer_graph_words_never_overlap(name, tmp_path, pdflatex):
    """The diagram's section alone in a document: every word pdflatex set (its font box, a
    little taller than its ink) keeps a point clear of every other word it is over or under."""
    from tests.latex_documents import compile_latex
    from tests.test_layout import overfull
    ex = graphs()[name]()
    tex = render_content(Content("Graph", [diagram_section(ex)]), "latex", names=ex.latex_names)
    build = compile_latex(tmp_path / "b", tex)
    assert build.returncode == 0, build.errors
    assert not overfull(build.log)
    words = _pdf_words(build.pdf)
    assert len(words) >= 30
    assert not _collisions(words, 1), (name, _collisions(words, 1))


# --- 2. class indices: their value, no gradient ---------------------------------------------

@pytest.mark.parametrize("name, indices, others", [
    ("embedding", {"i", "y"}, {"E", "W", "b"}), ("lenet", {"y"}, {"x", "k", "W"}),
    ("torch-embedding", {"i", "Y"}, {"E1", "W2", "b2"})])
def test_class_indices_show_their_value_only(name, indices, others):
    ex = graphs()[name]()
    d = diagram(ex)
    by_name = {n.name: n for n in d.nodes}
    for n in indices:
        assert ex.is_index(n) and by_name[n].forward is not None and by_name[n].gradient is None, n
    for n in others:  # data and parameters that do take a gradient keep it
        assert by_name[n].gradient is not None, n
    text = to_text(d)
    for n in indices:
        line = next(line for line in text.splitlines() if line.strip().startswith(f"{n}:"))
        assert "value" in line and "gradient" not in line, line
    assert "Class indices take no gradient" in d.summary
    svg = svg_markup(d)
    assert "(0, 0, 0)" not in svg and ">0<" not in svg


def test_a_target_that_takes_a_gradient_keeps_it():
    """A squared error's target is data with a real gradient, −(a − y): it stays drawn."""
    d = diagram(_example(RESIDUAL))
    y = next(n for n in d.nodes if n.name == "y")
    assert y.gradient is not None and "Class indices" not in d.summary


# --- 3. slide frames: no overfull box, no orphan row, no lone sentence -----------------------

def _mlp3():
    return derive.mlp(inputs=[0.5, -1, 2], weights=[[[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [-0.7, 0.8, 0.9]],
                                                     [[1, -1, 0.5], [0.25, 0.5, -0.5]], [[0.3, -0.4]]],
                      biases=[[0, 0.1, -0.1], [0.2, -0.2], [0.05]], targets=[1],
                      activation=["tanh", "relu", "sigmoid"], loss="binary_cross_entropy", lr="0.1")


def decks():
    return {"conv": lambda: _example(CONV), "lenet": lambda: _example(LENET),
            "embedding": lambda: _example(EMBEDDING), "mlp-3-layers": _mlp3}


DISPLAYS = ("\\derivedisplay", "\\[", "\\begin{tabular", "\\begin{tikzpicture", "\\includegraphics",
            "\\begin{align")


def _frames(tex: str) -> list:
    """(title, body) of every frame, the body without the frame's font and skip settings."""
    out = []
    for title, body in re.findall(r"\\begin\{frame\}(?:\[[^]]*\])?(?:\{(.*?)\})?\n(.*?)\\end\{frame\}", tex, re.S):
        body = "\n".join(line for line in body.splitlines()
                         if not line.startswith(("\\small", "%", "\\setlength")))
        out.append((title, body))
    return out


def _check_frames(name: str, tex: str):
    frames = _frames(tex)
    assert len(frames) >= 4
    tables: dict = {}
    for title, body in frames:
        part = re.search(r"\((\d+)/(\d+)\)$", title)
        if part and int(part.group(1)) > 1 and not any(d in body for d in DISPLAYS):
            words = re.sub(r"\\\(.*?\\\)", "xxxx", body).strip()  # a formula in a sentence: a word
            assert len(words) > 200, (name, title, words)  # more than a sentence or two
        for header, rows in re.findall(r"\\midrule\n(?:.*?\n)??|\\toprule\n(.*?)\\\\\n\\midrule\n(.*?)\\bottomrule",
                                       body, re.S):
            if header:
                tables.setdefault((title.split(" (")[0], header), []).append(rows.count("\\\\"))
    for (section, header), parts in tables.items():
        if len(parts) > 1:  # a table cut into frames: no frame holds a row or two of it alone
            assert min(parts) >= 3, (name, section, header, parts)


@pytest.mark.parametrize("name", sorted(decks()))
def test_slide_frames_hold_more_than_an_orphan(name):
    _check_frames(name, decks()[name]().to_slides())


@pytest.mark.parametrize("name", sorted(decks()))
def test_slide_decks_have_no_overfull_box(name, tmp_path, pdflatex):
    from tests.latex_documents import compile_latex
    from tests.test_layout import overfull
    build = compile_latex(tmp_path / "b", decks()[name]().to_slides())
    assert build.returncode == 0, build.errors
    boxes = [b for b in overfull(build.log) if "vbox" in b[0] or "hbox" in b[0]]
    assert not boxes, (name, boxes)


def test_a_long_table_is_cut_evenly():
    from derive.rendering.blocks import Section, Table
    from derive.rendering.slides import TABLE_ROWS, deck
    for n in (TABLE_ROWS + 1, TABLE_ROWS + 2, TABLE_ROWS + 3, 2 * TABLE_ROWS + 1, 3 * TABLE_ROWS + 4):
        s = Section("Every name")
        s.tabulate(["name", "shape"], [[f"a{k}", "scalar"] for k in range(n)])
        parts = [len(b.rows) for f in deck(Content("T", [s])).sections for b in f.blocks if isinstance(b, Table)]
        assert sum(parts) == n and max(parts) <= TABLE_ROWS + 2 and max(parts) - min(parts) <= 1, (n, parts)
        assert len(parts) == (1 if n <= TABLE_ROWS + 2 else -(-n // TABLE_ROWS)), (n, parts)


def test_a_closing_sentence_never_has_a_frame_of_its_own():
    from derive.rendering.blocks import Section, Say
    from derive.rendering.slides import deck
    s = Section("Routing")
    s.say("Each output copies the largest entry of its window. " * 7)
    s.tabulate(["output", "copies"], [[f"p{k}", f"c{k}"] for k in range(9)])
    s.say("1 of the 12 windows has a tie.")
    frames = deck(Content("T", [s, Section("Next", [])])).sections
    assert frames[0].blocks[-1].sentence == "1 of the 12 windows has a tie." and frames[0].title == "Routing"
    s.say("Another closing sentence.")  # too much for one frame: the table moves down with them
    s.tabulate(["output", "copies"], [[f"q{k}", f"d{k}"] for k in range(4)])
    s.say("And the last one.")
    frames = [f for f in deck(Content("T", [s])).sections]
    assert all(any(not isinstance(b, Say) for b in f.blocks) for f in frames), [f.blocks for f in frames]


# --- 4. a fragment in a default article: nothing overfull ------------------------------------

ARTICLE = r"""\documentclass{article}
\usepackage{amsmath}
\usepackage[T1]{fontenc}
\usepackage{amssymb,array,booktabs,longtable,graphicx,tikz}
\begin{document}
\section{Our own heading}
\input{body.tex}
\end{document}
"""


def fragments():
    from tests.latex_documents import NET
    return {
        "chain-leaky": lambda: derive.chain(depth=5, weight=[2, -1.5, 0.5, 3, 1], x=1, activation="leaky_relu"),
        "chain-elu-deep": lambda: derive.chain(depth=8, weight=-1.25, x="0.5", activation="elu"),
        "neuron-leaky": lambda: derive.neuron(x=2, w=-3, b=1, y=5, activation="leaky_relu"),
        "mlp-tanh-sigmoid": lambda: derive.mlp(**NET, activation=["tanh", "sigmoid"], loss="binary_cross_entropy"),
        "tensor-leaky": lambda: E("z = W @ x + b\na = leaky_relu(z)\nL = sum(a*a)/2",
                                  values={"W": [[1, -2], [0.5, 1]], "x": [[1, 0], [-1, 2]], "b": [0.5, -1]}),
        "tensor-embedding": lambda: _example(EMBEDDING),
    }


@pytest.mark.parametrize("name", sorted(fragments()))
def test_fragment_in_a_default_article_has_no_overfull_box(name, tmp_path, pdflatex):
    """The long inline definition of LeakyReLU' (39 pt over a 345 pt line) becomes a display, the
    depth table's mixed columns are sized from \\linewidth, long inline formulas may stretch."""
    from tests.latex_documents import compile_latex
    from tests.test_layout import overfull
    body = fragments()[name]().render("latex", fragment=True)
    (tmp_path / "body.tex").write_text(body, encoding="utf-8")
    build = compile_latex(tmp_path / "b", ARTICLE, [tmp_path / "body.tex"])
    assert build.returncode == 0, build.errors
    assert not overfull(build.log), (name, overfull(build.log))


def test_a_wide_inline_environment_is_displayed_only_when_too_wide(tmp_path, pdflatex):
    """\\deriveinline keeps a cases inline where it fits half the line, else displays it with
    its punctuation; inside a table's cell it always stays inline."""
    from derive.rendering.latex_layout import MACROS, inline
    from tests.latex_documents import compile_latex
    cases = r"f(z) = \begin{cases} z, & z > 0 \\ 0.01 z, & z \le 0 \end{cases}"
    wide = cases + r"\quad(\text{we take } f'(0) = 0.01 \text{ by convention, as PyTorch does})"
    tex = (r"\documentclass{article}\usepackage{amsmath}\begin{document}" + MACROS
           + f"Narrow: {inline(cases)}. Wide: {inline(wide)}. End.\n\n"
           + r"\begin{tabular}{l}" + inline(wide) + r"\end{tabular}" + "\n\\end{document}\n")
    assert r"\deriveinline{" in inline(cases) and r"\(" in inline("x + y")
    build = compile_latex(tmp_path / "b", tex)
    assert build.returncode == 0, build.errors
    text = subprocess.run(["pdftotext", "-layout", str(build.pdf), "-"], capture_output=True, text=True).stdout
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert any(line.startswith("Narrow:") and "Wide:" in line for line in lines), lines  # inline, then a display
    assert not any("Wide:" in line and "convention" in line for line in lines), lines
    assert any(line.endswith("PyTorch does).") for line in lines), lines  # the full stop went with it
