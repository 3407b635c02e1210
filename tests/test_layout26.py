"""Layout of lecture materials, looked at page by page: a fragment \\input after one's own heading
starts on that heading's page; a course pack leaves no heading at the foot of a page and no page
mostly empty; slide decks (a tensor example, a network spec, a training run) have no overfull box,
no near-empty frame, and a sentence annotating a display ("where …", a digits note) on that
display's frame; a training fragment's step tables fit a default article; tall table rows never
touch; a run of displays (an update rule) is never split by a page break."""
import re
import subprocess

import pytest

from derive.rendering.blocks import Content, Say, Section, Show
from derive.rendering.latex_layout import padded, table_parts
from derive.rendering.slides import deck
from tests.conftest import require_tool
from tests.latex_documents import compile_latex
from tests.test_course_pack import cli
from tests.test_layout import overfull

ARTICLE = r"""\documentclass{article}
\usepackage{amsmath}
\usepackage[T1]{fontenc}
\usepackage{amssymb,array,booktabs,longtable,graphicx,tikz}
\begin{document}
%s
\end{document}
"""
TENSOR = """title: A leaky-ReLU layer on a batch of two
equations: |
  z = W @ x + b
  h = leaky_relu(z)
  L = sum(h*h)/2
values: {W: [[0.5, -1.5], [2, 0.25]], x: [[1, -2], [0.5, 1]], b: [0.1, -0.3]}
lr: 0.05
"""
NET = """inputs: [1.0, -0.5]
weights: [[[0.3, -0.2], [0.1, 0.4]], [[0.7, -0.5], [0.2, 0.9]], [[1.1, -0.6]]]
biases: [[0.0, 0.1], [0.2, -0.1], [0.05]]
targets: [1.0]
activation: [leaky_relu, tanh, sigmoid]
loss: binary_cross_entropy
lr: 0.3
"""
ELU = """title: An ELU neuron
equations: |
  z = w*x + b
  a = elu(z)
  L = (a - y)**2
values: {x: 1.5, w: -0.8, b: 0.4, y: 0.25}
train: {steps: 4, optimizer: adam, lr: 0.1}
"""


def pages(pdf) -> list[list[str]]:
    """Each page's non-empty lines (pdftotext, one page at a time), the page number dropped."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    out = []
    for page in text.split("\f")[:-1]:
        lines = [l.strip() for l in page.splitlines() if l.strip()]
        out.append([l for l in lines if not re.fullmatch(r"\d+( / \d+)?", l)])
    return out


def bottoms(pdf) -> list[float]:
    """How far down each page its lowest line of text reaches (0 top, 1 foot of the paper)."""
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    out = []
    for page in xml.split("<page ")[1:]:
        height = float(re.search(r'height="([\d.]+)"', page).group(1))
        lines = [(float(m.group(1)), re.sub(r"<[^>]*>|\s+", "", m.group(2)))
                 for m in re.finditer(r'<line xMin="[\d.]+" yMin="[\d.]+" xMax="[\d.]+" yMax="([\d.]+)">(.*?)</line>',
                                      page, re.S)]
        body = [y for y, words in lines if not re.fullmatch(r"\d+", words)]
        out.append(max(body, default=0) / height)
    return out


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    d = tmp_path_factory.mktemp("specs")
    for name, text in (("tensor.yaml", TENSOR), ("net.yaml", NET), ("elu.yaml", ELU)):
        (d / name).write_text(text)
    return d


# --- c-4: a fragment after one's own heading -------------------------------------------------

@pytest.mark.parametrize("filler", [38, 41])
def test_fragment_starts_on_the_page_of_the_users_heading(tmp_path, filler):
    require_tool("pdflatex")
    cli("neuron", "--x", "0.5", "--w", "-1.2", "--b", "0.3", "--y", "1", "--activation", "tanh", "--lr", "0.1",
        "--format", "tex", "--fragment", "--section-level", "subsection", "-o", str(tmp_path / "frag.tex"))
    assert "\\derivekeep" in (tmp_path / "frag.tex").read_text()
    body = "\n".join(f"Filler line {k}.\\par" for k in range(filler)) + "\n\\section{My part}\n\\input{frag}"
    build = compile_latex(tmp_path / "doc", ARTICLE % body, resources=[tmp_path / "frag.tex"])
    assert build.pdf is not None, build.errors
    page = next(p for p in pages(build.pdf) if any(l.endswith("My part") for l in p))
    after = page[[k for k, l in enumerate(page) if l.endswith("My part")][0] + 1:]
    # the fragment's first heading and its first lines are on the heading's page
    assert len(after) >= 3 and after[0] == "The activation function", after[:3]


# --- c-5: a course pack -------------------------------------------------------------------------

def test_course_pack_keeps_headings_with_their_content_and_fills_its_pages(tmp_path, specs):
    require_tool("pdflatex")
    words = " ".join(["The chain rule multiplies local derivatives along every path."] * 40)
    (tmp_path / "net.yaml").write_text(NET)
    (tmp_path / "tensor.yaml").write_text(TENSOR)
    (tmp_path / "course.yaml").write_text(f"""title: Layout probe
sections:
  - title: Warm-up
    text: "{words}"
  - title: A deep sigmoid network
    spec: net.yaml
    text: Every unit repeats the single-neuron rule.
  - title: A layer on a batch
    spec: tensor.yaml
    text: The same rules, a matrix at a time.
  - {{title: A deep chain, builder: chain, args: {{depth: 3, weight: 5, x: 1, activation: relu}}}}
""")
    cli("handout", str(tmp_path / "course.yaml"), "--format", "pdf", "-o", str(tmp_path / "pack.pdf"))
    cli("handout", str(tmp_path / "course.yaml"), "--format", "tex", "-o", str(tmp_path / "pack.tex"))
    tex = (tmp_path / "pack.tex").read_text()
    headings = {re.sub(r"\\\(|\\\)|[{}]", "", h) for h in re.findall(r"\\(?:sub)*section\*\{(.*)\}", tex)}
    assert "2. A deep sigmoid network" in headings
    texts = pages(tmp_path / "pack.pdf")
    for number, page in enumerate(texts[:-1], 1):
        # no heading among the last two lines of a page (a heading and a line at the foot)
        assert not [l for l in page[-3:] if l in headings], (number, page[-3:])
    # no page but the last is mostly empty (a page ended after a line or two)
    low = [(k + 1, round(b, 2)) for k, b in enumerate(bottoms(tmp_path / "pack.pdf")[:-1]) if b < 0.6]
    assert not low, low


# --- c-6: slides --------------------------------------------------------------------------------

DECKS = {
    "tensor": ("render", "tensor.yaml"),
    "network": ("mlp", "net.yaml"),
    "train": ("train", "elu.yaml"),
    "train-tensor": ("train", "tensor.yaml", "--steps", "3", "--optimizer", "adam", "--lr", "0.05"),
}


@pytest.mark.parametrize("name", sorted(DECKS))
def test_decks_fit_their_frames(tmp_path, specs, name):
    require_tool("pdflatex")
    command, spec, *extra = DECKS[name]
    tex_path = tmp_path / "deck.tex"
    cli(command, str(specs / spec), *extra, "--slides", "--format", "tex", "-o", str(tex_path))
    tex = tex_path.read_text()
    resources = [p for p in tmp_path.glob("*.png")]
    build = compile_latex(tmp_path / "build", tex, resources)
    assert build.pdf is not None, build.errors
    assert overfull(build.log) == []  # no box more than 2 pt too wide or tall
    images = subprocess.run(["pdfimages", "-list", str(build.pdf)], capture_output=True, text=True).stdout
    with_image = {int(l.split()[0]) for l in images.splitlines()[2:] if l.split()}
    texts = pages(build.pdf)
    for number, page in enumerate(texts[1:], 2):  # the title frame aside
        body = " ".join(page[1:])  # the frame's title aside
        if number not in with_image:
            assert len(body) >= 60, (number, page)  # a frame holding next to nothing
        # a sentence going on from a display, or remarking on it, is on that display's frame
        assert not body.startswith(("where ", "Here ")), (number, body[:80])
    # frames planned to fit: beamer never had to continue one (a frame "… (2)") but for a
    # diagram taller than a frame with its sentence
    continued = [p[0] for p in texts if re.search(r"\(\d\)$", p[0]) and "graph" not in p[0]]
    assert continued == []


def test_a_where_sentence_stays_on_its_displays_frame():
    s = Section("Backward pass")
    for k in range(8):
        s.show(f"x_{k} = {k}")
    s.say("where x is the input, entry by entry.")
    frames = deck(Content("T", [s])).sections
    last = frames[-1].blocks
    assert any(isinstance(b, Say) for b in frames[-1].blocks)
    for f in frames:  # the sentence never opens a frame
        assert not isinstance(f.blocks[0], Say), [type(b).__name__ for b in f.blocks]
    assert isinstance(last[-1], Say) and isinstance(last[-2], Show)


# --- tables -------------------------------------------------------------------------------------

def test_tall_table_rows_are_padded_and_matrices_measured_by_their_widest_row():
    frac = r"\(L = \frac{\sum(u_{1})}{2}\)"
    assert padded(frac) == "\\derivetall{" + frac + "}"
    assert padded("scalar") == "scalar" and padded(r"\(2 \times 2\)") == r"\(2 \times 2\)"
    assert padded(r"words \(\frac{1}{2}\) more").startswith("\\derivestrut ")
    matrix = r"\deriveinline{\begin{bmatrix} 0.0000465 & -0.00002475 \\ 0.182581 & 0.0912095 \end{bmatrix}}"
    parts = table_parts(["p", "m", "v"], [[r"\(W\)", matrix, matrix]], budget=41)
    # matrix cells are math (never paragraph columns), and padded so rows never touch
    assert [p["spec"] for p in parts] == ["lll"] or all("p{" not in p["spec"] for p in parts)
    assert parts[0]["rows"][0][1].startswith("\\derivetall{")


def test_training_fragment_tables_fit_a_default_article(tmp_path, specs):
    require_tool("pdflatex")
    for name, extra in (("elu", ()), ("tensor", ("--steps", "3", "--optimizer", "adam", "--lr", "0.05"))):
        frag = tmp_path / f"{name}.tex"
        cli("train", str(specs / f"{name}.yaml"), *extra, "--format", "tex", "--fragment", "-o", str(frag))
        body = f"\\section{{My part}}\n\\input{{{name}}}"
        resources = [frag, *tmp_path.glob("*.png")]
        build = compile_latex(tmp_path / f"doc-{name}", ARTICLE % body, resources=resources)
        assert build.pdf is not None, build.errors
        if "Rerun" in build.log:  # longtable settles its column widths on a second run
            build = compile_latex(tmp_path / f"doc2-{name}", ARTICLE % body, resources=resources)
        assert overfull(build.log) == [], (name, overfull(build.log)[:3])


def test_an_update_rule_is_never_split_by_a_page_break(tmp_path, specs):
    require_tool("pdflatex")
    cli("train", str(specs / "tensor.yaml"), "--steps", "3", "--optimizer", "adam", "--lr", "0.05",
        "--format", "tex", "-o", str(tmp_path / "t.tex"))
    tex = (tmp_path / "t.tex").read_text()
    assert "\\postdisplaypenalty=10000 \\derivedisplay{m_{t} = " in tex
    cli("train", str(specs / "tensor.yaml"), "--steps", "3", "--optimizer", "adam", "--lr", "0.05",
        "--format", "pdf", "-o", str(tmp_path / "t.pdf"))
    texts = pages(tmp_path / "t.pdf")
    rule = next(k for k, p in enumerate(texts) if any("The update rule: Adam" in l for l in p))
    # the general rule, m_t to θ_t, on the page of its heading
    page = " ".join(texts[rule])
    assert "The update rule: Adam" in page and "are taken per entry" in page and "θ" in page
