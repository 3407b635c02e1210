"""A diagram in every single-example document: the computation graph of a scalar example, the
network of an mlp, the layer graph (with shapes) of a tensor example, each with forward values and
gradients — SVG in HTML, TikZ in LaTeX, Mermaid in Markdown. The values on the edges are the
engine's (checked against sympy.diff and torch); large graphs are summarised, never scaled."""
import re

import pytest
import sympy as sp

import derive
from derive.rendering.diagrams import MAX_ROWS, PIECE_COLUMNS, diagram, svg_markup, to_svg
from derive.rendering.latex_layout import MACROS
from tests.latex_documents import NET, compile_latex
from tests.test_layout import overfull

TENSOR = dict(equations="z = W @ x + b\na = relu(z)\nL = sum(a*a)/2",
              values={"W": [[1, -2], [0.5, 1]], "x": [[1, 0], [-1, 2]], "b": [0.5, -1]})


def examples():
    return {
        "neuron-relu": derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr="0.1"),
        "neuron-leaky-negative": derive.neuron(x="-1.5", w="0.4", b="-0.2", y=0, activation="leaky_relu",
                                               lr="0.1"),
        "neuron-symbolic": derive.neuron(activation="sigmoid"),
        "chain": derive.chain(depth=3, weight=5, x=1, activation="relu", y=0),
        "chain-deep": derive.chain(depth=30, weight="1.1", activation="tanh"),
        "mlp": derive.mlp(**NET, activation=["relu", "sigmoid"], lr="0.5"),
        "mlp-wide": derive.mlp([1, 0, -1], [[[f"{0.1 * (i - j):.1f}" for j in range(3)] for i in range(6)],
                                            [["0.2"] * 6]], [[0] * 6, ["0.1"]], [1], activation="tanh"),
        "tensor": derive.Example.from_equations(TENSOR["equations"], values=TENSOR["values"], lr="0.1"),
        "generic": derive.Example.from_equations("u = x*y\nv = u + x\nL = v**2", values={"x": 3, "y": -2}),
    }


@pytest.fixture(scope="module")
def exs():
    return examples()


def test_edges_carry_the_engines_values_and_gradients(exs):
    ex = exs["generic"]
    d = diagram(ex)
    x, y = sp.symbols("x y")
    L = (x * y + x) ** 2
    at = {x: 3, y: -2}
    edges = {(e.parent, e.child): (e.forward, e.gradient) for e in d.edges}
    # x feeds u and v: the gradients along its two edges add up to ∂L/∂x
    assert edges[("x", "u")][0] == 3 and edges[("y", "u")][0] == -2
    assert edges[("x", "u")][1] + edges[("x", "v")][1] == sp.diff(L, x).subs(at)
    assert edges[("y", "u")][1] == sp.diff(L, y).subs(at)
    assert edges[("v", "L")] == (-3, -6)


def test_tensor_layer_graph_has_shapes_and_torch_gradients(exs):
    torch = pytest.importorskip("torch")
    d = diagram(exs["tensor"])
    assert d.kind == "layer graph"
    shapes = {n.name: n.shape for n in d.nodes}
    assert shapes["W"] == "2×2" and shapes["x"] == "2×2" and shapes["b"] == "2×1" and shapes["L"] == ""
    W = torch.tensor(TENSOR["values"]["W"], dtype=torch.float64, requires_grad=True)
    x = torch.tensor(TENSOR["values"]["x"], dtype=torch.float64)
    b = torch.tensor([[0.5], [-1.0]], dtype=torch.float64, requires_grad=True)
    L = (torch.relu(W @ x + b) ** 2).sum() / 2
    L.backward()
    node = {n.name: n for n in d.nodes}
    assert d.on_nodes and all(e.forward is None and e.gradient is None for e in d.edges)
    for name, grad in (("b", b.grad), ("W", W.grad)):
        assert [float(v) for v in node[name].gradient.a.reshape(-1).tolist()] == pytest.approx(grad.reshape(-1).tolist())
    assert float(node["L"].forward.item()) == pytest.approx(L.item())
    assert [n.op for n in d.nodes if n.kind == "op"] == ["W x + b", "ReLU(z)", "a ⊙ a", "Σ(u1)/2"]


def test_large_graphs_are_summarised_not_scaled(exs):
    deep = diagram(exs["chain-deep"])
    assert "left out" in deep.summary and deep.columns <= 2 * PIECE_COLUMNS
    assert all(p.columns <= PIECE_COLUMNS for p in deep.pieces())
    wide = diagram(exs["mlp-wide"])
    rows = {}
    for n in wide.nodes:
        rows[n.column] = rows.get(n.column, 0) + 1
    assert max(rows.values()) <= MAX_ROWS and any(n.kind == "more" and n.op == "3 more" for n in wide.nodes)
    assert "⋮" in wide.summary
    for name in ("chain-deep", "mlp-wide"):
        tikz = exs[name].to_latex()
        # the only \resizebox is \derivefit's (in the preamble), which scales nothing that fits
        assert tikz.count(r"\resizebox") == MACROS.count(r"\resizebox") and r"\scalebox" not in tikz
        assert "scale=" not in tikz


def test_pieces_repeat_the_nodes_they_continue_from():
    d = diagram(derive.chain(depth=4, weight=2, x=1))
    first, second = d.pieces()
    ghosts = [n for n in second.nodes if n.kind == "ghost"]
    assert ghosts and all(n.column == 0 for n in ghosts)
    drawn_first = {n.name for n in first.nodes}
    assert {g.name for g in ghosts} <= drawn_first  # a ghost repeats a node of the piece before
    # every edge is drawn exactly once over the pieces
    assert sorted((e.parent, e.child) for p in d.pieces() for e in p.edges) == \
        sorted((e.parent, e.child) for e in d.edges)


@pytest.mark.parametrize("name", sorted(examples()))
def test_every_document_kind_has_its_diagram(name, exs):
    ex = exs[name]
    html = ex.to_html()
    assert html.count('<figure class="diagram"><svg') == 1
    pieces = len(diagram(ex).pieces())
    assert html.count("<svg ") == pieces
    assert ex.to_latex().count(r"\begin{tikzpicture}") == pieces
    assert ex.to_markdown().count("](data:image/svg+xml;base64,") == pieces
    assert "──▶" in ex.to_text()


def test_svg_is_standalone_deterministic_and_readable(exs):
    d = diagram(exs["mlp"])
    svg = to_svg(d)
    assert svg.startswith(b"<?xml") and svg == to_svg(diagram(exs["mlp"]))
    import xml.dom.minidom
    xml.dom.minidom.parseString(svg)  # well-formed
    many = to_svg(diagram(exs["chain-deep"]))  # several pieces: inner <svg>s of one document
    assert xml.dom.minidom.parseString(many).documentElement.getElementsByTagName("svg").length == \
        len(diagram(exs["chain-deep"]).pieces())
    widths = [int(w) for w in re.findall(r'<svg [^>]*width="(\d+)"', svg_markup(d))]
    assert max(widths) <= 830  # a 46rem column: the browser never shrinks the labels
    assert min(int(s) for s in re.findall(r'font-size="(\d+)"', svg_markup(d))) >= 10


def test_train_document_has_the_diagram():
    run = derive.neuron(x=2, w=3, b=1, y=5, activation="relu").train(2, lr="0.01")
    assert run.render("html").count("<svg ") == 1 and r"\begin{tikzpicture}" in run.render("latex")


@pytest.mark.parametrize("name", ["neuron-relu", "mlp", "tensor", "chain-deep", "mlp-wide"])
def test_documents_with_diagrams_compile_without_overfull_boxes(name, exs, tmp_path, pdflatex):
    build = compile_latex(tmp_path / "b", exs[name].to_latex())
    assert build.returncode == 0, build.errors
    assert not overfull(build.log), overfull(build.log)
