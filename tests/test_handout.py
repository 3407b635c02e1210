"""Handouts and diagrams: TikZ compiles, dot renders, the handout PDF compiles and rasterises,
and every number in it comes from the engine."""
import subprocess

import pytest

import derive
from derive.rendering.diagrams import diagram, to_dot, to_mermaid, to_svg
from derive.rendering.blocks import Content, Section
from derive.courseware.handout import handout_content, write_handout
from derive.rendering.formats import render_content
from tests.conftest import require_tool

NET = dict(inputs=[0.05, 0.10], weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
           biases=[[0.35, 0.35], [0.60, 0.60]], targets=[0.01, 0.99])
GRAPHS = {
    "neuron": lambda: derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1),
    "chain": lambda: derive.chain(depth=3, weight=5, x=1, activation="relu", loss="half_squared_error", y=0),
    "network": lambda: derive.mlp(**NET, activation="sigmoid"),
}


def test_neuron_diagram_carries_values_and_gradients():
    d = diagram(GRAPHS["neuron"]())
    edges = {(e.parent, e.child): (e.forward, e.gradient) for e in d.edges}
    assert edges[("w", "z")] == (3, 8) and edges[("z", "a")] == (7, 4) and edges[("a", "L")] == (7, 4)
    assert "graph LR" in to_mermaid(d) and "digraph" in to_dot(d)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_diagrams_compile_with_tikz(name, tmp_path, pdflatex):
    ex = GRAPHS[name]()
    s = Section("Graph")
    s.diagram(diagram(ex))
    (tmp_path / "g.tex").write_text(render_content(Content("Graph", [s]), "latex", names=ex.latex_names))
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "g.tex"], cwd=tmp_path,
                         capture_output=True, text=True, errors="replace")
    assert run.returncode == 0, [l for l in run.stdout.splitlines() if l.startswith("!")][:3]


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_diagrams_render_with_dot(name):
    require_tool("dot")
    svg = to_svg(diagram(GRAPHS[name]()))
    assert b"<svg" in svg and b"</svg>" in svg


def test_large_graphs_are_summarised():
    d = diagram(derive.chain(depth=40, weight="1.1"))
    assert "only the first" in d.summary and len(d.nodes) < 40


def test_handout_pdf_compiles_and_rasterises(tmp_path, pdflatex):
    pdftoppm = require_tool("pdftoppm")
    write_handout(str(tmp_path / "handout.pdf"), "pdf")
    subprocess.run([pdftoppm, "-png", "-r", "40", "-f", "1", "-l", "1", str(tmp_path / "handout.pdf"),
                    str(tmp_path / "page")], check=True)
    page = next(tmp_path.glob("page*.png"))
    assert page.read_bytes()[:4] == b"\x89PNG" and page.stat().st_size > 5000


def test_slides_compile(tmp_path, pdflatex):
    write_handout(str(tmp_path / "slides.pdf"), "pdf", slides=True)
    assert (tmp_path / "slides.pdf").read_bytes().startswith(b"%PDF")


def test_handout_numbers_come_from_the_engine():
    def text(**inputs):
        content, _ = handout_content(plot=None, **inputs)
        return render_content(content, "text")
    default, changed = text(), text(w=4)
    assert "∂L/∂w = 4 · 1 · 2 = 8" in default and "w_new = w − η · ∂L/∂w = 3 − 0.1 · 8 = 2.2" in default
    # w = 4: z = 9, a = 9, dL/da = 8, dL/dw = 16, w_new = 2.4
    assert "∂L/∂w = 8 · 1 · 2 = 16" in changed and "= 2.4" in changed
    assert "∂L/∂w = 4 · 1 · 2 = 8" not in changed


def test_handout_markdown_has_svg_diagrams_and_plot(tmp_path):
    require_tool("dot")
    write_handout(str(tmp_path / "handout.md"), "md")
    md = (tmp_path / "handout.md").read_text()
    assert "![Computation graph" in md and "handout-neuron.svg" in md and "handout-variance.png" in md
    assert (tmp_path / "handout-neuron.svg").exists() and (tmp_path / "handout-variance.png").exists()
