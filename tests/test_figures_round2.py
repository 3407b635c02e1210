"""QA round two on figures, slides and layout (issue #26): every SVG label inside its viewBox,
slide plots at their printed size with labels of at least 8 pt, a heading kept with the diagram
after it, the fragment's diagram within an article's text width, and a diagram in `compare`."""
import html
import math
import re

import pytest

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
    pictures = [k + 1 for k, line in enumerate(lines) if line.startswith(r"\derivefit{")]
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
