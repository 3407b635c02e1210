"""Edge routing in the diagrams (issue #26, QA round 2 item 1): an edge that skips a column is
drawn around the nodes and captions in its way, never through them, and no edge label covers
another label, a node or a caption, in the SVG's pixels and in the TikZ picture's centimetres
(boxes estimated from text length × font size)."""
import pytest

import derive
from derive.rendering.diagrams import (Box, _overlap, diagram, edge_layout, svg_markup, to_tikz)
from derive.rendering.printing import printer_for
from tests.latex_documents import NET

E = derive.Example.from_equations

TWOPATH = dict(text="u = w*x + b\nh = tanh(u)\np = v*h\nq = h*h\nL = p + 0.5*q - y*u",
               values={"x": 1.3, "w": -0.7, "b": 0.4, "v": 1.6, "y": 0.25})


def examples():
    return {
        # the QA's example: u → L passes p, its labels fell on h → p's and v → p's
        "twopath": E(TWOPATH["text"], values=TWOPATH["values"]),
        # three paths from a to L, two of them skipping columns, negative and zero values
        "threepath": E("a = w*x\nb = sigmoid(a)\nc = b*b\nd = exp(c)\nL = d + 2*b - 3*a",
                       values={"x": -0.5, "w": 0}),
        # an input used early and again at the loss (placed by its first consumer)
        "input-reused": E("z = w*x + c\na = relu(z)\ns = a*a\nL = s - w*c",
                          values={"x": 2, "w": -1.5, "c": 0.25}),
        # a skip over two stacked nodes, with a long-named op
        "skip-stack": E("u = x + y\nv = softplus(u)\ng = gelu(u)\nr = v*g\nm = r + v\nL = m*m + u",
                        values={"x": 0.3, "y": -1.1}),
        # a residual-like tensor graph: the block's input added back after two layers
        "tensor-residual": E("h = W1 @ x\na = tanh(h)\nr = W2 @ a + x\nL = sum(r*r)/2",
                             values={"W1": [[1, -2], [0.5, 1]], "x": [[1], [-1]],
                                     "W2": [[0.3, 0.2], [-1, 2]]}),
        "mlp": derive.mlp(**NET, activation=["tanh", "sigmoid"], loss="binary_cross_entropy"),
        "neuron": derive.neuron(x="-1.5", w="0.8", b="-0.2", y=1, activation="leaky_relu"),
        "chain": derive.chain(depth=3, weight=[2, -1.5, 0.5], x=0, activation="relu"),
    }


@pytest.fixture(scope="module")
def exs():
    return examples()


def _layouts(ex):
    d = diagram(ex)
    printer = printer_for("latex", d.names)
    for piece in d.pieces():
        for target in ("svg", "tikz"):
            yield target, piece, edge_layout(piece, target, printer)


@pytest.mark.parametrize("name", sorted(examples()))
def test_no_edge_passes_through_a_node_or_caption(name, exs):
    for target, piece, (obstacles, routes) in _layouts(exs[name]):
        assert len(routes) == len(piece.edges)
        step = 78 if target == "svg" else 1.45
        for r in routes:
            ends = (r.edge.parent, r.edge.child)
            for px, py in r.samples(step):
                for o in obstacles:
                    if o.owner not in ends:
                        assert not o.hits(px, py, 0), (name, target, ends, o.owner, (px, py))


@pytest.mark.parametrize("name", sorted(examples()))
def test_no_label_covers_another_label_a_node_or_a_caption(name, exs):
    for target, _, (obstacles, routes) in _layouts(exs[name]):
        labels = [(r.edge, text, corners) for r in routes for _, text, _, corners in r.labels]
        for i, (e1, t1, c1) in enumerate(labels):
            for e2, t2, c2 in labels[i + 1:]:
                assert not _overlap(c1, c2), (name, target, (e1.parent, e1.child, t1), (e2.parent, e2.child, t2))
            for o in obstacles:
                assert not _overlap(c1, o.corners()), (name, target, (e1.parent, e1.child, t1), o.owner)


def test_the_skip_edge_of_the_twopath_example_bends_and_the_others_stay_straight(exs):
    d = diagram(exs["twopath"])
    for target in ("svg", "tikz"):
        _, routes = edge_layout(d, target)
        bent = {(r.edge.parent, r.edge.child) for r in routes if r.curved}
        assert bent == {("u", "L")}, target
    svg = svg_markup(d)
    assert svg.count("<path d=") == 1 + 1  # the arrow head's and the one curve
    tikz = to_tikz(d, printer_for("latex", d.names))
    assert tikz.count(".. controls") == 1 and tikz.count(r"\draw[->]") == len(d.edges)


def test_a_bend_clears_the_node_it_would_cross():
    """The straight line u → L goes through p's circle; the drawn curve keeps outside it."""
    d = diagram(E(TWOPATH["text"], values=TWOPATH["values"]))
    obstacles, routes = edge_layout(d, "svg")
    [skip] = [r for r in routes if (r.edge.parent, r.edge.child) == ("u", "L")]
    [p] = [o for o in obstacles if o.owner == "p" and o.round]
    (x0, y0), (x1, y1) = skip.points[0], skip.points[-1]
    straight_hits = any(p.hits(x0 + (x1 - x0) * k / 100, y0 + (y1 - y0) * k / 100, 0) for k in range(101))
    assert straight_hits
    assert min(((px - p.x) ** 2 + (py - p.y) ** 2) ** 0.5 for px, py in skip.samples(78)) > p.hw


def test_boxes_and_overlap():
    """The geometry the routing stands on: a circle's and a box's hit tests, and the overlap
    of turned rectangles (touching is not overlapping)."""
    circle, box = Box(0, 0, 2, 2, "c", round=True), Box(0, 0, 2, 1, "b")
    assert circle.hits(1.9, 0, 0) and not circle.hits(1.5, 1.5, 0) and circle.hits(1.5, 1.5, 0.2)
    assert box.hits(1.9, 0.9, 0) and not box.hits(1.9, 1.1, 0)
    square = [(0, 0), (1, 0), (1, 1), (0, 1)]
    assert _overlap(square, [(0.5, 0.5), (1.5, 0.5), (1.5, 1.5), (0.5, 1.5)])
    assert not _overlap(square, [(1, 0), (2, 0), (2, 1), (1, 1)])
    diamond = [(1.6, 0.5), (2.1, 0), (2.6, 0.5), (2.1, 1)]  # turned 45°, clear of the corner
    assert not _overlap(square, diamond)
    assert _overlap(square, [(0.9, 0.5), (1.4, 0), (1.9, 0.5), (1.4, 1)])
