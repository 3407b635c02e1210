"""A diagram on a slide fits its frame as printed: caption and picture on one frame, no picture
taller or wider than the frame, and never scaled (its 8 pt labels stay 8 pt on the projector)."""
from __future__ import annotations

import re
import subprocess

import pytest
import yaml

import derive
from derive.core.functions import Sentence
from derive.rendering.blocks import Say
from derive.model.spec import example_from_spec, load_spec
from derive.rendering import diagrams
from derive.rendering.printing import printer_for
from derive.rendering.slides import diagram_heights
from tests.conftest import require_tool
from tests.test_course_pack import cli
from tests.test_layout import overfull

WIDE = {  # a 3-6-2 softplus/sigmoid network: a layer of six units
    "title": "A 3-6-2 softplus net", "activations": ["softplus", "sigmoid"], "loss": "half_squared_error",
    "lr": 0.1, "inputs": [0.5, -1, 0], "targets": [0.2, 0.9],
    "weights": [[[-0.7, 0.7, 0.5], [-0.5, 0.0, -0.1], [0.3, 0.6, -0.8], [-0.9, 0.7, -0.1],
                 [0.5, -1.0, -0.1], [0.4, -0.5, 0.9]],
                [[0.8, -0.9, -0.9, 0.1, 0.9, -0.2], [-0.6, -0.2, -0.9, -0.6, -0.1, -0.0]]],
    "biases": [[0] * 6, [0, 0]]}
SOFTMAX = {"title": "Softmax regression", "equations": "z = W @ x + b\np = softmax(z)\nL = cross_entropy(p, y)\n",
           "values": {"W": [[0.5, -1, 0.25], [-0.5, 0.2, 1]], "x": [1, -2, 0], "b": [0.1, -0.1], "y": 1},
           "lr": 0.5}
NET232 = {"title": "A 2-3-2 tanh network with softmax",
          "equations": "h = tanh(W1 @ x + b1)\nz = W2 @ h + b2\np = softmax(z)\nL = cross_entropy(p, y)\n",
          "values": {"x": [0.5, -1], "W1": [[1, 0.5], [-0.5, 0], [0.25, 1]], "b1": [0, 0.5, -0.25],
                     "W2": [[1, -1, 0.5], [0, 0.5, -1]], "b2": [0, 0], "y": 0}, "lr": 0.1}
PACK = {"title": "Week 8", "sections": [
    {"title": "Softmax regression", "spec": "softmax.yaml"},
    {"title": "Two-layer softmax net", "spec": "net232.yaml"},
    {"title": "A wide network", "spec": "wide.yaml"}]}


FIT = "\\providecommand{\\derivefit}[1]{\\setbox2=\\hbox{#1}%\n\\ifdim\\wd2>\\linewidth"
LOGGED = FIT + "\\typeout{derivefit: \\the\\wd2 \\space into \\the\\linewidth}%\n"


def _compile(tmp_path, name):
    tex = (tmp_path / f"{name}.tex").read_text()
    assert FIT in tex  # \derivefit logs each picture it scales, and by how much
    (tmp_path / f"{name}.tex").write_text(tex.replace(FIT, LOGGED, 1))
    for _ in range(2):
        subprocess.run(["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", f"{name}.tex"],
                       cwd=tmp_path, capture_output=True, text=True, errors="replace")
    return (tmp_path / f"{name}.log").read_text(errors="replace")


def _pages(pdf) -> list:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    return text.split("\f")


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    require_tool("pdflatex")
    require_tool("pdftotext")
    tmp = tmp_path_factory.mktemp("fitf")
    for name, spec in (("wide", WIDE), ("softmax", SOFTMAX), ("net232", NET232), ("pack", PACK)):
        (tmp / f"{name}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    cli("mlp", str(tmp / "wide.yaml"), "--slides", "--format", "tex", "-o", str(tmp / "wide-deck.tex"))
    cli("handout", str(tmp / "pack.yaml"), "--slides", "--format", "tex", "-o", str(tmp / "pack-deck.tex"))
    return {name: (tmp, _compile(tmp, name)) for name in ("wide-deck", "pack-deck")}


@pytest.mark.parametrize("name", ["wide-deck", "pack-deck"])
def test_no_frame_overflows_and_no_picture_is_scaled(decks, name):
    tmp, log = decks[name]
    assert (tmp / f"{name}.pdf").exists()
    assert [o for o in overfull(log)] == []
    # \derivefit logs every picture it scales; a frame's labels are \footnotesize (8 pt) in a
    # 10 pt deck, so the least scale that keeps them 8 pt is 8/8: none at all
    scaled = [(float(a), float(b)) for a, b in re.findall(r"derivefit: ([\d.]+)pt into ([\d.]+)pt", log)]
    assert all(b / a >= 8 / 8 for a, b in scaled), scaled
    assert scaled == []
    assert "font=\\footnotesize" in (tmp / f"{name}.tex").read_text()


@pytest.mark.parametrize("name, words", [
    ("wide-deck", ("softplus", "loss")),  # the network's column headings, drawn in the picture
    ("pack-deck", ("softmax", "CE")),
])
def test_a_caption_is_on_the_frame_of_its_picture(decks, name, words):
    tmp, _ = decks[name]
    pages = _pages(tmp / f"{name}.pdf")
    captions = [p for p in pages if "Above each" in p]
    assert captions
    for page in captions:
        flat = " ".join(page.split())
        assert "with respect to it (red)" in flat  # the caption whole, never cut mid-sentence
        # the picture's node labels and values on the caption's frame
        assert re.search(r"\b[xLWzp]\b", page) and re.search(r"\d\.\d", page), flat[:200]
        assert "The weights" not in flat or "in the tables" in flat
    assert any(all(w in p for w in words) for p in pages)


def test_a_tall_network_is_summarised_to_fit_under_its_caption():
    ex = derive.mlp(WIDE["inputs"], WIDE["weights"], WIDE["biases"], WIDE["targets"],
                    activation=WIDE["activations"], loss=WIDE["loss"], lr=WIDE["lr"])
    d = diagrams.diagram(ex)
    printer = printer_for("latex", d.names)
    assert max(n.row for n in d.nodes) == 3  # 6 units: two, "⋮ 3 more", the last
    first, other = diagram_heights([Say(Sentence("x" * 285))], False)  # under a caption of 3 lines
    assert 5.8 < first < 6.2 and other > 6.9
    drawn, pieces = diagrams.slide_pieces(d, printer, (first, other))
    assert drawn is not d and max(n.row for n in drawn.nodes) == 2
    assert [n.op for n in drawn.nodes if n.kind == "more"] == ["4 more", "4 more"]
    assert "more than three units" in diagrams.caption(drawn)
    assert "more than four" not in diagrams.caption(drawn)
    for p in pieces:
        w, h = diagrams.tikz_size(p, printer)
        assert w <= diagrams.FRAME_CM and h <= first
        assert p.row_scale >= diagrams.MIN_ROW_SCALE


def test_a_wide_layer_graph_is_cut_where_the_frame_ends(tmp_path):
    (tmp_path / "net232.yaml").write_text(yaml.safe_dump(NET232))
    ex = example_from_spec(load_spec(tmp_path / "net232.yaml"))
    d = diagrams.diagram(ex)
    printer = printer_for("latex", d.names)
    assert diagrams.tikz_size(d, printer)[0] > diagrams.FRAME_CM  # 6 columns: 18 cm of labels
    drawn, pieces = diagrams.slide_pieces(d, printer, diagram_heights([], False))
    assert drawn is d and len(pieces) == 2
    assert all(diagrams.tikz_size(p, printer)[0] <= diagrams.FRAME_CM for p in pieces)
    assert [n.kind for n in pieces[1].nodes if n.column == 0] == ["ghost"]  # it continues from z
