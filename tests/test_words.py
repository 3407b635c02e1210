"""Words about the math only (issue 26, item 1): every kind of document speaks to students about
the example. No sentence is about the program, its source or how the numbers were obtained;
those remarks are notes for the lecturer, printed only with ``notes=True`` (``--notes``), in one
closing section. Conventions are stated as the math's: "we take ReLU'(0) = 0, as PyTorch does"."""
from __future__ import annotations

import re

import pytest
import sympy as sp

import derive
from derive.courseware.compare import compare_activations, render_comparison
from derive.courseware.handout import write_handout
from derive.courseware.homework import generate
from derive.initialization.variance import variance_derivation
from derive.model.spec import example_from_spec, load_spec
from derive.rendering.blocks import NOTES_TITLE

# words about the program, its source or its workings (case-insensitive, whole words)
BANNED = [r"\bderive\b", r"\bsympy\b", r"\bengine\b", r"\bconversation", r"\bsource\b",
          r"\bgenerated\b", r"\btool\b", r"\bsoftware\b", r"\blibrary\b", r"\bprogram\b",
          r"\bexact arithmetic\b", r"\bfloat64\b", r"\bautograd\b", r"\bregistered\b",
          r"\bcomputed by\b", r"\bevaluated by\b", r"\bsympy\.stats\b", r"\bderive uses\b",
          r"\bagrees with\b", r"\bsession\b", r"\bcross-check\b",
          r"\banswer key\b", r"[-–]-?exact\b"]
# PyTorch named where a convention is stated as the math's, or as the check of the numbers
# (a notebook's last cells): "as PyTorch does", "checked with PyTorch", "PyTorch gives the same"
PYTORCH_SAID = ("as ", "as in ", "checked with ", "again with ")


def words_about_the_tool(text: str, allowed=()) -> list[str]:
    """Every banned word in ``text`` (but those of ``allowed``) with its context; PyTorch only
    where a convention is stated as the math's ("as PyTorch does", "as in PyTorch") or where it
    checks the numbers ("checked with PyTorch")."""
    found = []
    for pattern in BANNED:
        if pattern in allowed:
            continue
        for m in re.finditer(pattern, text, flags=re.IGNORECASE):
            found.append(text[max(0, m.start() - 40):m.end() + 40].replace("\n", " "))
    for m in re.finditer("PyTorch", text):
        before = text[max(0, m.start() - 14):m.start()].replace("\n", " ")
        if not (before.endswith(PYTORCH_SAID) or text.startswith(" gives the same", m.end())):
            found.append(text[max(0, m.start() - 40):m.end() + 40].replace("\n", " "))
    return found


def notebook_words(ipynb: str) -> str:
    """What a notebook says to its reader: its Markdown cells, and its code cells' comments and
    strings (what they print); the code itself (``import derive``) is not prose."""
    import io
    import json
    import tokenize
    said = []
    for cell in json.loads(ipynb)["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            said.append(source)
            continue
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in (tokenize.COMMENT, tokenize.STRING):
                said.append(token.string)
    return "\n".join(said)


def _body(text: str) -> str:
    return text.split(NOTES_TITLE)[0]


NEURONS = [dict(x=2, w=3, b=1, y=5, activation="relu", lr=0.1),
           dict(x=2, w=-1, b=0.5, y=1, activation="sigmoid", lr=0.1),
           dict(x=-1.5, w=0.4, b=0.1, y=0, activation="leaky_relu", loss="half_squared_error", lr=0.5),
           dict(x=1, w=0.5, b=-0.5, y=1, activation="tanh", loss="absolute_error"),
           dict(x=[1, 2], w=[0.5, -0.25], b=0, y=1, activation="elu", lr=0.1),
           dict(activation="relu")]  # symbolic
NET = dict(inputs=[0.05, 0.10], weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
           biases=[[0.35, 0.35], [0.60, 0.60]], targets=[0.01, 0.99], activation="sigmoid",
           loss="half_squared_error", lr=0.5)
SOFTMAX = dict(inputs=[[1, 2], [0.5, -1], [2, 0.5]], weights=[[[0.2, -0.5], [1.5, 1.3]], [[0.5, -0.3], [0.1, 0.2], [-1, 0.4]]],
               biases=[[0.1, -0.2], [0.3, 0, -0.1]], targets=[0, 2, 1], activation=["relu", "softmax"],
               loss="cross_entropy", lr=0.1)
TENSOR = ("z = W @ x + b\np = softmax(z)\nL = cross_entropy(p, y)",
          {"W": [[0.2, -0.5], [1.5, 1.3], [0.0, 0.25]], "x": [1, 2], "b": [0.1, -0.2, 0.3], "y": [0, 1, 0]})
SPEC = """title: One neuron, two inputs
equations: |
  z = w1*x1 + w2*x2 + b
  a = leaky_relu(z, 0.1)
  L = half_squared_error(a, y)
values: {x1: 1, x2: -2, w1: 0.5, w2: 0.75, b: 0.25, y: 1}
lr: 0.1
"""
HOMEWORK = """title: Backprop through one leaky ReLU neuron
equations: |
  z = w*x + b
  a = leaky_relu(z, 0.1)
  L = (a - y)**2
values: {y: 1}
random:
  x: {integers: [1, 4]}
  w: {integers: [-3, 3], exclude: [0]}
  b: {choice: [-1, 0, 1]}
lr: 0.1
ask: ["dL/dw", "dL/db", "w_new"]
"""


def _neurons(tmp_path):
    out = []
    for i, kw in enumerate(NEURONS):
        ex = derive.neuron(**kw)
        out += [(f"neuron {i} {kw.get('activation')}", ex.to_text()), (f"neuron {i} md", ex.to_markdown())]
    return out


def _chains(tmp_path):
    out = []
    for act, depth in (("relu", 3), ("sigmoid", 4), ("tanh", 10)):
        ex = derive.chain(depth=depth, weight=2, x=1, activation=act, loss="half_squared_error", y=0, lr=0.1)
        out += [(f"chain {act}", ex.to_text()), (f"chain {act} md", ex.to_markdown())]
    return out


def _networks(tmp_path):
    out = []
    for label, kw in (("mlp", NET), ("mlp softmax batch", SOFTMAX)):
        ex = derive.mlp(**kw)
        out += [(label, ex.to_text()), (label + " md", ex.to_markdown())]
    return out


def _render_and_compare(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    ex = example_from_spec(load_spec(str(spec)))
    comp = compare_activations(["relu", "sigmoid", "leaky_relu"], x=2, w=3, b=1, y=5, lr=0.1)
    return [("render", ex.to_text()), ("render md", ex.to_markdown()),
            ("compare", render_comparison(comp, "text")), ("compare md", render_comparison(comp, "markdown"))]


def _training(tmp_path):
    run = derive.neuron(x=2, w=3, b=1, y=5, activation="relu").train(3, optimizer="adam", lr=0.1)
    chain_run = derive.chain(depth=2, weight=2, x=1, y=0).train(2, lr=0.01, clip_norm=1)
    return [("train", run.to_text()), ("train md", run.to_markdown()), ("train chain", chain_run.to_text())]


def _variance(tmp_path):
    out = []
    for act in ("relu", "sigmoid", "tanh", "leaky_relu", "identity"):
        h = variance_derivation(act)
        out += [(f"variance {act}", h.to_text()), (f"variance {act} md", h.to_markdown())]
    return out


def _handout(tmp_path):
    return [("handout", write_handout(None, "text")), ("handout md", write_handout(None, "md"))]


def _homework(tmp_path):
    out = []
    hw = tmp_path / "homework.yaml"
    hw.write_text(HOMEWORK)
    for per_page in (False, True):
        folder = tmp_path / f"hw{per_page}"
        generate(load_spec(str(hw)), 3, 1, folder, ["text", "md"], jobs=1, per_page=per_page)
        for name in ("problems.txt", "solutions.txt", "problems.md", "solutions.md"):
            out.append((f"homework {name} per_page={per_page}", (folder / name).read_text()))
    return out


def _tensors(tmp_path):
    tensor = derive.Example.from_equations(TENSOR[0], values=TENSOR[1], lr="0.5")
    out = [("tensor", tensor.to_text()), ("tensor md", tensor.to_markdown())]
    for label, ex in (("batchnorm", derive.batchnorm([1, 2, 4], gamma=2, beta=0.5, upstream=[1, -1, 0.5])),
                      ("rnn", derive.rnn([1, -1, 2], h0=0, w_xh=0.5, w_hh=1.5, w_hy=1, y=1)),
                      ("conv1d", derive.conv1d([1, 2, -1, 3], [0.5, -1], bias=0.1, upstream=[1, 0, -1])),
                      ("maxpool", derive.maxpool([1, 3, 3, 2], size=2, upstream=[1, -1]))):
        out += [(label, ex.to_text())]
    return out


def _notebooks(tmp_path):
    """Notebooks of a scalar, a tensor and a network example, one applying a registered
    activation (its registration cell), and a course pack's."""
    from derive.courseware.pack import write_course
    derive.register_activation("swish2", "z*sigmoid(2*z)", latex=r"\operatorname{swish}_2")
    try:
        custom = derive.Example.from_equations("z = w*x + b\na = swish2(z)\nL = (a - y)**2",
                                               values={"x": -1, "w": 0.5, "b": 0.25, "y": 1})
        out = [("notebook swish2", notebook_words(custom.to_ipynb()))]
    finally:
        derive.unregister("swish2")
    tensor = derive.Example.from_equations(TENSOR[0], values=TENSOR[1], lr="0.5")
    out += [("notebook neuron", notebook_words(derive.neuron(**NEURONS[2]).to_ipynb())),
            ("notebook tensor", notebook_words(tensor.to_ipynb())),
            ("notebook mlp", notebook_words(derive.mlp(**NET).to_ipynb()))]
    (tmp_path / "neuron.yaml").write_text(SPEC)
    (tmp_path / "course.yaml").write_text("title: Week 5\nsections:\n  - {title: A neuron, spec: neuron.yaml}\n"
                                          "  - {title: A chain, builder: chain, args: {depth: 2, weight: 0.5}}\n")
    write_course(tmp_path / "course.yaml", str(tmp_path / "pack.ipynb"), "ipynb")
    out.append(("notebook pack", notebook_words((tmp_path / "pack.ipynb").read_text())))
    assert all("checked with PyTorch" in text and "PyTorch gives the same" in text for _, text in out)
    return out


# A notebook's check cells say the precision they check in (float64): that is the check's math
NOTEBOOK_ALLOWED = (r"\bfloat64\b",)


# every document kind, several examples each, in text and Markdown (and notebooks' cells)
KINDS = {"neuron": _neurons, "chain": _chains, "mlp": _networks, "render and compare": _render_and_compare,
         "train": _training, "variance": _variance, "handout": _handout, "homework": _homework,
         "tensor": _tensors, "notebook": _notebooks}


@pytest.mark.parametrize("kind", KINDS)
def test_no_document_kind_has_words_about_the_tool(tmp_path, kind):
    docs = KINDS[kind](tmp_path)
    assert len(docs) >= 2
    allowed = NOTEBOOK_ALLOWED if kind == "notebook" else ()
    bad = {label: found for label, text in docs if (found := words_about_the_tool(text, allowed))}
    assert not bad, "\n".join(f"{label}: {found[:3]}" for label, found in bad.items())
    assert not any(NOTES_TITLE in text for _, text in docs)  # notes only when asked for


def test_the_checker_finds_what_it_should():
    assert words_about_the_tool("The source conversation wrote N(0, 1)")
    assert words_about_the_tool("SymPy evaluates the product") and words_about_the_tool("Through the engine")
    assert words_about_the_tool("derive uses LeakyReLU'(0) = 0.1, as PyTorch does")
    assert words_about_the_tool("Generated by derive from spec ab12 with seed 7")
    assert words_about_the_tool("PyTorch's torch.nn.init.kaiming_normal_ draws this")
    assert not words_about_the_tool("we take LeakyReLU'(0) = α, as PyTorch does; the rule as in PyTorch")
    # the phrases notebooks' cross-check cells used to print
    assert words_about_the_tool("PyTorch agrees with derive on 7 values and 4 gradients")
    assert words_about_the_tool("# The same example in PyTorch (float64 autograd), compared with derive's")
    assert words_about_the_tool("Each example again from its equations with derive (exact)")
    assert words_about_the_tool("# The activations these examples use, registered as in the session")
    assert not words_about_the_tool("The gradients above, checked with PyTorch; PyTorch gives the same 7 values")


def test_conventions_are_stated_as_the_maths():
    text = derive.Example.from_equations("a = leaky_relu(z, 0.1)\nL = a", values={"z": "-0.5"}).to_text()
    flat = " ".join(text.split())
    assert "here α = 0.1" in flat
    assert "At the kink z = 0 the derivative is not defined; we take LeakyReLU'(0) = α, as PyTorch does." in flat
    relu = " ".join(derive.neuron(x=2, w=3, b=1, y=5).to_text().split())
    assert "we take ReLU'(0) = 0, as PyTorch does." in relu


def test_notes_for_the_lecturer_only_when_asked(tmp_path):
    ex = derive.neuron(x=2, w=-1, b=0.5, y=1, activation="sigmoid", lr=0.1)
    plain, noted = ex.to_text(), ex.to_text(notes=True)
    assert NOTES_TITLE not in plain and noted.startswith(plain.rstrip("\n").rsplit("\n\n", 1)[0][:200])
    notes = noted.split(NOTES_TITLE, 1)[1]
    assert "computed exactly" in notes and noted.count(NOTES_TITLE) == 1
    assert _body(noted) .replace("\n", "") .startswith(plain.replace("\n", "")[:500])
    h = variance_derivation("relu")
    assert "kaiming_normal_" not in h.to_text() and "kaiming_normal_" in h.render("text", notes=True)
    assert "conversation" in h.render("text", notes=True).split(NOTES_TITLE)[1]
    # the CLI's --notes reaches the document, and homework's solutions (never the problems)
    from derive.cli import main
    out = tmp_path / "n.txt"
    _run(main, ["neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--notes", "-o", str(out)])
    assert NOTES_TITLE in out.read_text()
    hw = tmp_path / "homework.yaml"
    hw.write_text(HOMEWORK)
    _run(main, ["homework", str(hw), "--variants", "2", "--out", str(tmp_path / "hw"), "--format",
                "text,tex", "--notes", "--jobs", "1"])
    solutions = (tmp_path / "hw" / "solutions.txt").read_text()
    assert NOTES_TITLE in solutions and "seed 0" in solutions.split(NOTES_TITLE)[1]
    assert NOTES_TITLE not in (tmp_path / "hw" / "problems.txt").read_text()
    tex = (tmp_path / "hw" / "solutions.tex").read_text()
    assert tex.index(NOTES_TITLE) < tex.index("\\end{document}")


def _run(main, argv):
    try:
        main(argv)
    except SystemExit as e:
        assert e.code in (0, None), argv


def test_variance_for_sigmoid_works_the_argument_for_sigmoid_layers():
    text = " ".join(variance_derivation("sigmoid").to_text().split())
    assert "ReLU layers" not in text and "first for ReLU" not in text
    assert "Step 2: what σ does to the second moment" in text
    assert "σ(z) ≈ ¼z + 1/2" in text and "E[(f'(z))²] ≈ 1/16" in text
    assert "Var[w] = 32/(n_in + n_out)" in text  # the balance for σ' (0) = ¼: 16 × Glorot's
    relu = " ".join(variance_derivation("relu").to_text().split())
    assert "E[ReLU²(z)] = ½v" in relu and "Var[w] = 2/n_in" in relu and "σ" not in relu.split("Summary")[0]
    tanh = " ".join(variance_derivation("tanh").to_text().split())
    assert "tanh(z) ≈ z" in tanh and "Var[w] = 1/n_in" in tanh


@pytest.mark.parametrize("acts, loss", [(["relu", "tanh"], "squared_error"),
                                        (["sigmoid", "leaky_relu", "elu"], "absolute_error")])
def test_a_comparison_names_its_loss_learning_rate_and_activations(acts, loss):
    from derive.courseware.compare import compare_activations, render_comparison
    comp = compare_activations(acts, x=1.5, w=-0.8, b=0.3, y=0.5, loss=loss, lr=0.1)
    text = " ".join(render_comparison(comp, "text").split())
    assert "Each column is the neuron z = wx + b, a = f(z), with its own activation f:" in text
    from derive.core.functions import FUNCTIONS
    from derive.rendering.printing import printer_for
    for name in acts + [loss]:
        assert printer_for("text").doprint(FUNCTIONS[name].definition) in text, name
    assert "w_new = w − η · ∂L/∂w, with learning rate η = 0.1" in text
    assert "updated weight w − η · ∂L/∂w" in text and "w_new −0.8" not in text
    # the table's update is the stated rule with the stated η: w − 0.1·∂L/∂w
    for ex in comp.examples.values():
        assert ex.update("w") == ex.value("w") - sp.Rational(1, 10) * ex.grad("w")
