"""Slides of any example: `--slides` decks for a neuron, a chain, a network spec, a tensor example, a
comparison and a training run compile with beamer and no overfull box; frames hold one idea (the
backward pass a step or two per frame, every diagram piece its own frame); labels are never scaled
below 8 pt (the PDF's words are measured)."""
import re
import subprocess

import pytest

import derive
from derive.cli import main
from tests.test_course_pack import cli
from derive.rendering.blocks import Content, DiagramBlock, Section, Step, Table
from derive.rendering.diagrams import diagram
from derive.rendering.latex_layout import MACROS
from derive.rendering.slides import STEPS_PER_FRAME, TABLE_ROWS, deck
from tests.conftest import require_tool
from tests.latex_documents import NET, compile_latex
from tests.test_layout import overfull

NET_YAML = """inputs: [0.05, 0.10]
weights: [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]
biases: [[0.35, 0.35], [0.60, 0.60]]
targets: [0.01, 0.99]
activation: [tanh, sigmoid]
loss: binary_cross_entropy
lr: 0.5
"""
TENSOR_YAML = """title: A ReLU layer on a batch of two
equations: |
  z = W @ x + b
  a = relu(z)
  L = sum(a*a)/2
values: {W: [[1, -2], [0.5, 1]], x: [[1, 0], [-1, 2]], b: [0.5, -1]}
lr: 0.1
"""
TRAIN_YAML = """equations: |
  z = w*x + b
  a = sigmoid(z)
  L = (a - y)**2
values: {x: 2, w: -0.5, b: 0, y: 1}
train: {steps: 3, optimizer: momentum, lr: 0.5}
"""


def _specs(tmp_path):
    for name, text in (("net.yaml", NET_YAML), ("tensor.yaml", TENSOR_YAML), ("train.yaml", TRAIN_YAML)):
        (tmp_path / name).write_text(text)


def test_backward_pass_a_step_or_two_per_frame():
    s = Section("Backward pass")
    for k in range(7):
        s.say(f"Step {k}:")
        s.step(k, [f"rule {k}"])
    frames = deck(Content("T", [s])).sections
    steps = [sum(isinstance(b, Step) for b in f.blocks) for f in frames]
    assert sum(steps) == 7 and max(steps) <= STEPS_PER_FRAME and len(frames) == 4
    # the sentence introducing a step moves with it: every frame opens with "Step k:"
    assert all(f.blocks[0].sentence.startswith("Step") for f in frames)
    assert [f.title for f in frames] == [f"Backward pass ({k}/4)" for k in range(1, 5)]


def test_long_tables_are_cut_with_their_header():
    s = Section("Every parameter")
    s.tabulate(["p", "g"], [[str(k), str(k * k)] for k in range(2 * TABLE_ROWS + 1)])
    frames = deck(Content("T", [s])).sections
    tables = [b for f in frames for b in f.blocks if isinstance(b, Table)]
    # cut evenly: no part holds a lone row (2·9 + 1 = 19 rows → 7, 6, 6)
    sizes = [len(t.rows) for t in tables]
    assert sum(sizes) == 2 * TABLE_ROWS + 1 and max(sizes) <= TABLE_ROWS and max(sizes) - min(sizes) <= 1
    assert all(t.header == ("p", "g") for t in tables)
    assert [r for t in tables for r in t.rows] == [(str(k), str(k * k)) for k in range(2 * TABLE_ROWS + 1)]


def test_every_diagram_piece_gets_a_frame():
    ex = derive.chain(depth=5, weight=2, x=1)
    s = Section("The computation graph")
    s.say("Forward values in blue.")
    s.diagram(diagram(ex))
    frames = deck(Content("T", [s])).sections
    pieces = diagram(ex).pieces()
    assert len(pieces) >= 2 and len(frames) == len(pieces)
    assert [b.diagram.columns for f in frames for b in f.blocks if isinstance(b, DiagramBlock)] == \
        [p.columns for p in pieces]
    assert frames[0].blocks[0].sentence == "Forward values in blue."  # the caption opens the first


def test_deck_of_an_example_orders_graph_forward_backward_update():
    tex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1).to_slides()
    titles = re.findall(r"\\begin\{frame\}\[allowframebreaks=1\]\{([^}]*)\}", tex)
    order = [next(i for i, t in enumerate(titles) if t.startswith(p))
             for p in ("The computation graph", "Forward pass", "Backward pass", "Gradients of every")]
    assert order == sorted(order), titles
    assert tex.count(r"\begin{tikzpicture}") == 1 and r"\scalebox" not in tex
    # the only \resizebox is \derivefit's, which scales a picture only when it is wider than the
    # line (never on a frame: the labels are measured in test_diagram_labels_are_at_least_8pt…)
    assert tex.count(r"\resizebox") == MACROS.count(r"\resizebox") == 1
    # every number of the document is on the slides: ∂L/∂w = 8 and the update to 2.2
    assert "= 8" in tex and "2.2" in tex


def test_slides_refuse_formats_other_than_tex_and_pdf(capsys):
    with pytest.raises(SystemExit) as e:
        main(["neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--slides", "--format", "md"])
    assert e.value.code == 2 and "--slides makes a beamer deck" in capsys.readouterr().err


DECKS = {
    "neuron-tanh": ["neuron", "--x", "-1.5", "--w", "0.8", "--b", "0.2", "--y", "1", "--activation", "tanh",
                    "--lr", "0.1"],
    "chain-4": ["chain", "--depth", "4", "--weight", "2,-1.5,0.5,3", "--x", "1", "--activation", "leaky_relu",
                "--lr", "0.01"],
    "mlp": ["mlp", "net.yaml"],
    "tensor": ["render", "tensor.yaml"],
    "compare": ["compare", "--activations", "relu,sigmoid,tanh", "--x", "2", "--w", "3", "--b", "1",
                "--y", "5", "--lr", "0.1"],
    "train": ["train", "train.yaml"],
}


@pytest.mark.parametrize("name", sorted(DECKS))
def test_decks_compile_without_overfull_boxes(name, tmp_path, pdflatex):
    _specs(tmp_path)
    args = [str(tmp_path / a) if a.endswith(".yaml") else a for a in DECKS[name]]
    cli(*args, "--slides", "--format", "tex", "-o", str(tmp_path / "deck.tex"))
    tex = (tmp_path / "deck.tex").read_text()
    assert tex.startswith(r"\documentclass[10pt,aspectratio=169]{beamer}")
    resources = [tmp_path / "deck.png"] if (tmp_path / "deck.png").exists() else []
    build = compile_latex(tmp_path / "build", tex, resources)
    assert build.returncode == 0, build.errors
    assert not overfull(build.log), overfull(build.log)
    assert "Overfull" not in build.log  # not even a small one: a frame never runs over
    frames = tex.count(r"\begin{frame}")
    assert frames >= 5
    assert r"\begin{tikzpicture}" in tex  # compare's too: the neuron its columns share


def _word_heights(pdf) -> list:
    """(word, height in pt) of every word pdftotext finds, from its bounding boxes."""
    pdftotext = require_tool("pdftotext")
    html = subprocess.run([pdftotext, "-bbox", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return [(w, float(y2) - float(y1)) for y1, y2, w in
            re.findall(r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>', html)]


def test_diagram_labels_are_at_least_8pt_on_the_frame(tmp_path, pdflatex):
    """The edge labels (signed decimals) of the graph frames, measured in the PDF: the 5 pt labels
    of a scaled-down picture would measure about 5 pt."""
    ex = derive.mlp(**NET, activation="sigmoid", lr="0.5")
    s = Section("Graph")
    s.diagram(diagram(ex))
    from derive.rendering.slides import render_slides
    build = compile_latex(tmp_path / "b", render_slides(Content("Graph", [s]), ex.latex_names))
    assert build.returncode == 0, build.errors
    numbers = [(w, h) for w, h in _word_heights(build.pdf) if re.fullmatch(r"[−-]?\d+\.\d+", w)]
    assert len(numbers) >= 10
    # pdftotext's box of a Latin Modern word is 0.885 × its size (the frame's 9 pt text: 7.96):
    # 8 pt labels measure 7.08, the 5 pt of a picture scaled to fit would measure 4.4
    assert min(h for _, h in numbers) >= 8 * 0.88, sorted(numbers, key=lambda p: p[1])[:3]
    # the frame number too (beamer's default footline is 5 pt)
    pages = [h for w, h in _word_heights(build.pdf) if re.fullmatch(r"\d+/\d+", w)]
    assert pages and min(pages) >= 8 * 0.88


def test_handout_slides_frames_fit(tmp_path, pdflatex):
    from derive.courseware.handout import write_handout
    tex = write_handout(None, "tex", slides=True)
    build = compile_latex(tmp_path / "b", tex)
    assert build.returncode == 0, build.errors
    assert not overfull(build.log)
    assert tex.count(r"\resizebox") == MACROS.count(r"\resizebox") and "font=\\scriptsize" not in tex


@pytest.mark.parametrize("make", [
    lambda: derive.chain(depth=4, weight=0.5, x=0.7, y=1, activation="sigmoid", lr=0.1),
    lambda: derive.chain(depth=2, weight=[-1.2, 0.3], x=-0.4, y=0, activation="tanh", lr=0.5),
    lambda: derive.mlp(inputs=[0.6, -1.2], weights=[[[0.4, -0.7], [-0.3, 0.9]], [[1.1, -0.6]]],
                       biases=[[0.1, -0.2], [0.05]], targets=[1], activation=["tanh", "sigmoid"],
                       loss="binary_cross_entropy", lr=0.5),
    lambda: derive.neuron(x=1.5, w=-0.8, b=0.3, y=0.5, activation="relu", lr=0.1),
])
def test_continued_frames_are_numbered_without_a_gap(make):
    """A lecturer's note is gathered into the closing notes, so it never takes a frame of its
    own: a frame of notes only printed nothing and the deck read "(1/3)" then "(3/3)"."""
    from derive.rendering.blocks import LecturerNote
    from derive.rendering.slides import render_slides
    content = make().document_content()
    for s in deck(content).sections:
        assert s.blocks and not all(isinstance(b, LecturerNote) for b in s.blocks), s.title
    tex = render_slides(content)
    titles = re.findall(r"\\begin\{frame\}\[allowframebreaks=1\]\{(.*)\}", tex)
    parts: dict = {}
    for t in titles:
        m = re.fullmatch(r"(.*) \((\d+)/(\d+)\)", t)
        if m:
            parts.setdefault((m.group(1), int(m.group(3))), []).append(int(m.group(2)))
    assert parts, titles  # the check reads real continued frames
    for (title, total), numbers in parts.items():
        assert numbers == list(range(1, total + 1)), (title, numbers)
