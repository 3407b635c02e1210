"""Issue #26, QA items c-3 and c-8: diagram labels readable and never lying across an edge, text
labels in the document's minus sign and precision, and the compare document's α and loss node."""
import re

import pytest

import derive
from derive.courseware.compare import compare_activations
from derive.rendering.diagrams import (SVG_ARROW, SVG_GAP, TIKZ_ARROW, TIKZ_GAP, _crossed, _ink, diagram,
                                       edge_layout, svg_markup, to_text)
from derive.rendering.printing import printer_for

E = derive.Example.from_equations

GRAPHS = {
    # a residual unit: h feeds g and, past g and u, v (labels of h → g and u → v lay across h → v)
    "residual": E("z = w*x\nh = tanh(z)\ng = c*h\nu = tanh(g)\nv = u + h\nL = (v - t)**2",
                  values={"x": 0.8, "w": -1.1, "c": 2, "t": 0.5}),
    "twopath": E("u = w*x + b\nh = tanh(u)\np = v*h\nq = h*h\nL = p + 0.5*q - y*u",
                 values={"x": 1.3, "w": -0.7, "b": 0.4, "v": 1.6, "y": 0.25}),
    "skip-relu": E("h = relu(w*x + b)\nu = tanh(k*h)\nv = h + u\nL = (v - y)**2",
                   values={"x": 1, "w": 0.5, "b": -1.6, "k": -1.1, "y": 1}),
    "neuron": derive.neuron(x="-1.5", w="0.8", b="-0.2", y=1, activation="leaky_relu"),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("target", ["svg", "tikz"])
def test_no_edge_label_lies_across_another_edge(name, target):
    """Every label keeps a gap from every other edge (and the wider arrowhead), in the layout's
    own units; the QA's residual example had the h → v line through "−0.8881"."""
    d = diagram(GRAPHS[name])
    gap, arrow, step = (SVG_GAP, SVG_ARROW, 78) if target == "svg" else (TIKZ_GAP, TIKZ_ARROW, 1.45)
    for piece in d.pieces():
        _, routes = edge_layout(piece, target, printer_for("latex", d.names))
        labelled = [r for r in routes if r.labels]
        assert labelled
        for r in labelled:
            assert r.clear
            others = [seg for s in routes if s is not r for seg in _ink(s, step, arrow)]
            for _, text, _, corners in r.labels:
                assert not _crossed(corners, others, gap * 0.99), (name, target, r.edge, text)


def test_ink_models_the_arrowhead_wider():
    d = diagram(GRAPHS["neuron"])
    _, routes = edge_layout(d, "svg")
    segments = _ink(routes[0], 78, SVG_ARROW)
    assert segments[-1][2] == SVG_ARROW[1] and segments[0][2] == 0.0
    square = [(0, 0), (10, 0), (10, 10), (0, 10)]
    assert _crossed(square, [((5, -3), (5, -1), 0.0)], 2.0)  # 1 px from the box: within the gap
    assert not _crossed(square, [((5, -5), (5, -3), 0.0)], 2.0)
    assert _crossed(square, [((5, -5), (5, -3), 4.5)], 2.0)  # an arrowhead reaches it


def test_text_graph_labels_use_the_true_minus_and_the_documents_precision():
    ex = GRAPHS["residual"]
    text = ex.render("text")
    graph = text.split("The computation graph")[1].split("Forward pass")[0]
    edges = [line for line in graph.splitlines() if "──▶" in line]
    assert edges and not any("-" in line for line in edges)
    assert "forward −1.1" in graph and "−0.7064" in graph
    six = ex.render("text", precision=6).split("The computation graph")[1].split("Forward pass")[0]
    assert "−0.706419" in six and "−0.7064," not in six
    assert to_text(diagram(ex), printer_for("text", precision=2)).count("−0.71") >= 1


def test_svg_labels_stay_readable_at_800_px():
    """A layer graph with long labels is cut into narrower pieces, each at most 755 px (the
    text column of the page at an 800 px window), so its 13 px labels are shown at ≥ 11 px."""
    ex = derive.mlp([0.5, -1.0], [[[0.2, -0.5], [1.5, 1.3], [0.1, 0.4]], [[0.3, 0.2, -0.1], [0.5, -0.4, 0.2],
                                                                          [0.1, 0.1, 0.1]]],
                    [[0.1, -0.2, 0.3], [0, 0, 0]], [2], activation=["relu", "softmax"], loss="cross_entropy")
    svg = svg_markup(diagram(ex))
    widths = [int(w) for w in re.findall(r'<svg [^>]*?width="(\d+)"', svg)]
    sizes = [float(s) for s in re.findall(r'<text [^>]*font-size="([\d.]+)"', svg)]
    assert len(widths) >= 2 and max(widths) <= 755
    column = 755  # px: the body at an 800 px window (46rem of 18 px less 2 × 1.25rem padding is wider)
    assert min(sizes) * min(1, column / max(widths)) >= 11


def test_compare_states_alpha_and_names_the_loss_node():
    c = compare_activations(["leaky_relu", "elu", "sigmoid"], x=2, w=-0.5, b=0.3, y=1, lr=0.1)
    text = c.to_text()
    assert "LeakyReLU with α = 0.01:" in text and "ELU with α = 1:" in text
    html = c.to_html()
    assert "SE(a, y)</text>" in html and "(·)²" not in html
    tex = c.to_latex()
    assert r"local gradient \(\frac{\partial a}{\partial z}\)" in tex
    assert "local gradient ∂a/∂z" not in tex
