"""Documents: the conversation's numbers, real pdflatex and pandoc, determinism, Jupyter."""
import json
import subprocess

import pytest

import derive
from derive import Example

SIGMOID = dict(x=2, w=3, b=1, y=5, activation="sigmoid", lr=0.1)
RELU = dict(x=2, w=3, b=1, y=5, activation="relu", lr=0.1)
NET = dict(inputs=[0.05, 0.10], weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
           biases=[[0.35, 0.35], [0.60, 0.60]], targets=[0.01, 0.99], activation="sigmoid",
           loss="half_squared_error", lr=0.5)


def examples():
    return {
        "relu": derive.neuron(**RELU),
        "sigmoid": derive.neuron(**SIGMOID),
        "symbolic": derive.neuron(activation="relu"),
        "fanout": Example.from_equations("z = 2*x + 2 + x\nq = relu(z) + z*x\nh = relu(z*z)\ny = h + q + q*x",
                                         values={"x": -4}, title="Fan-out & 100% of paths_"),
        "expr": Example.from_expr("1/(1 + exp(-(w0*x0 + w1*x1 + w2)))", values=dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3)),
        "kink": Example.from_equations("a = relu(z)\nL = (a - y)**2", values={"z": 0, "y": 1}),
        "chain": derive.chain(depth=3, weight=5, x=1, activation="relu", loss="half_squared_error", y=0),
        "chain-long": derive.chain(depth=40, weight="1.1", x=1, activation="tanh", y=0, lr="0.01"),
        "mlp": derive.mlp(**NET),
        "mlp-mixed": derive.mlp([1, -2], [[[1, 2], [-1, 1]], [[1, -1]]], [[0, 1], [0]], [1],
                                activation=["relu", "sigmoid"], loss="binary_cross_entropy", lr=0.1),
    }


def test_relu_document_has_the_conversations_numbers():
    text = derive.neuron(**RELU).to_text()
    assert "∂L/∂w = 4 · 1 · 2 = 8" in text
    assert "w_new = w − η · ∂L/∂w = 3 − 0.1 · 8 = 2.2" in text
    assert "since z = 7 > 0" in text


def test_sigmoid_document_is_correct_and_never_the_rounded_slip():
    for text in (derive.neuron(**SIGMOID).to_text(), derive.neuron(**SIGMOID).to_markdown()):
        assert "σ(7) ≈ 0.9991" in text or "\\sigma(7) \\approx 0.9991" in text
        assert "0.0009102" in text and "0.01457" in text and "3.001" in text
        assert "0.000999" not in text and "3.0016" not in text
    assert "saturated" in derive.neuron(**SIGMOID).to_text()


def test_relu_inactive_is_observed():
    text = derive.neuron(x=2, w=-3, b=1, y=5, activation="relu", lr=0.1).to_text()
    assert "inactive" in text and "dead" in text


def test_symbolic_document_shows_the_rule():
    text = derive.neuron(activation="relu").to_text()
    assert "∂L/∂w = 2(a − y) · 𝟙[z > 0] · x" in text


def test_precision_and_exact_forms():
    ex = derive.neuron(**SIGMOID)
    assert "0.999088949" in ex.to_text(precision=9)
    with pytest.raises(derive.DeriveError, match="precision"):
        ex.to_text(precision=0)


def test_same_input_same_bytes():
    a = {k: (e.to_markdown(), e.to_latex(), e.to_text()) for k, e in examples().items()}
    b = {k: (e.to_markdown(), e.to_latex(), e.to_text()) for k, e in examples().items()}
    assert a == b


def test_jupyter_reprs():
    ex = derive.neuron(**RELU)
    assert ex._repr_markdown_().startswith("# Backpropagation")
    assert not hasattr(ex, "_repr_latex_")  # notebooks showed the LaTeX document raw
    html = ex._repr_html_()
    assert "<html" not in html and "<math" in html and "<h2>Backward pass" in html
    symbolic = derive.neuron(activation="relu")._repr_markdown_()
    assert "\\mathbf{1}" in symbolic and "\\mathbb{1}" not in symbolic  # MathJax draws \mathbb{1} as 1


@pytest.mark.parametrize("name", sorted(examples()))
def test_latex_compiles_with_pdflatex(name, tmp_path, pdflatex):
    ex = examples()[name]
    (tmp_path / "doc.tex").write_text(ex.to_latex(), encoding="utf-8")
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                         cwd=tmp_path, capture_output=True, text=True, errors="replace")
    assert run.returncode == 0, [l for l in run.stdout.splitlines() if l.startswith("!")][:3]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


def _walk(node, found):
    if isinstance(node, dict):
        if node.get("t") in ("Math", "Str", "RawInline", "RawBlock"):
            found.setdefault(node["t"], []).append(node.get("c"))
        for v in node.values():
            _walk(v, found)
    elif isinstance(node, list):
        for v in node:
            _walk(v, found)


@pytest.mark.parametrize("name", sorted(examples()))
def test_markdown_math_parses_with_pandoc(name, pandoc):
    md = examples()[name].to_markdown()
    run = subprocess.run([pandoc, "-f", "markdown", "-t", "json"], input=md, capture_output=True,
                         text=True, check=True)
    found = {}
    _walk(json.loads(run.stdout), found)
    math = found.get("Math", [])
    assert len(math) >= md.count("$$\n") // 2  # every display block became math
    strays = [s for s in found.get("Str", []) if "$" in s or "\\frac" in s or "\\partial" in s]
    assert not strays, strays[:5]  # no math left behind as plain text
    assert not found.get("RawInline") and not found.get("RawBlock")


def test_fragment_is_a_body_only():
    body = derive.neuron(**RELU).to_latex(fragment=True)
    assert "\\begin{document}" not in body and "\\section*" in body


def test_user_text_is_escaped_for_latex(tmp_path, pdflatex):
    ex = Example.from_equations("f = 2*x", values={"x": 1}, title="50% of $money_ & #1 {ok} ~ ^ σ")
    tex = ex.to_latex()
    assert "50\\% of \\$money\\_ \\& \\#1 \\{ok\\}" in tex
    (tmp_path / "t.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                         cwd=tmp_path, capture_output=True, text=True, errors="replace")
    assert run.returncode == 0


def other_documents():
    """Every other document derive writes, by name -> (markdown, latex)."""
    from derive.courseware.compare import compare_activations, render_comparison
    from derive.initialization.variance import variance_derivation
    from derive.courseware.remedies import remedies
    comparison = compare_activations(["relu", "sigmoid", "tanh"], x=2, w=3, b=1, y=5, lr=0.1)
    report = derive.neuron(**SIGMOID).check({"a": 0.999, "da/dz": 0.000999, "dL/dw": -0.016})
    he, fixes = variance_derivation("relu"), remedies()
    return {
        "compare": (render_comparison(comparison, "markdown"), render_comparison(comparison, "latex")),
        "report": (report.to_markdown(), report.to_latex()),
        "he": (he.to_markdown(), he.to_latex()),
        "remedies": (fixes.to_markdown(), fixes.to_latex()),
    }


def test_every_other_document_compiles_and_parses(tmp_path, pdflatex, pandoc):
    for name, (md, tex) in other_documents().items():
        (tmp_path / f"{name}.tex").write_text(tex, encoding="utf-8")
        run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                             cwd=tmp_path, capture_output=True, text=True, errors="replace")
        assert run.returncode == 0, (name, [l for l in run.stdout.splitlines() if l.startswith("!")][:3])
        parsed = subprocess.run([pandoc, "-f", "markdown", "-t", "json"], input=md, capture_output=True,
                                text=True, check=True)
        found = {}
        _walk(json.loads(parsed.stdout), found)
        assert found.get("Math"), name
        strays = [s for s in found.get("Str", []) if "$" in s or "\\frac" in s]
        assert not strays, (name, strays[:3])


def test_comparison_states_its_inputs_as_the_document_prints_numbers():
    """Decimal inputs read as typed (x = 0.5), a repeating one rounded with ≈, never 1/2."""
    from derive.courseware.compare import compare_activations, render_comparison
    text = render_comparison(compare_activations(["relu", "tanh"], x=0.5, w=-1.5, b=0.25, y=1,
                                                 lr=0.1), "text")
    assert "Inputs x = 0.5, w = −1.5, b = 0.25, y = 1;" in " ".join(text.split())
    assert "1/2" not in text  # a terminating decimal is never shown as a fraction
    text = render_comparison(compare_activations(["elu", "softplus"], x="1/3", w=2, b=0, y=-1), "text")
    # the inputs as a reader types them; inside a combining line 1/3 stays a fraction, so the
    # line can be redone exactly
    assert "Inputs x ≈ 0.3333, w = 2, b = 0, y = −1;" in " ".join(text.split())


def test_comparison_takeaways_name_their_activation_and_it_renders_itself():
    """Two activations sharing a generic takeaway each say whose it is; the comparison object
    renders itself like an Example (to_text, to_markdown, to_latex, to_html)."""
    from derive.courseware.compare import compare_activations, render_comparison
    c = compare_activations(["softplus", "identity", "relu"], x=-0.5, w=1.5, b=0.25, y=1, lr=0.1)
    text = " ".join(c.to_text().split())
    takeaways = text[text.index("Key takeaways"):]
    assert "With softplus, the gradient is positive, so gradient descent decreases w." in takeaways
    assert "With identity, the gradient is positive, so gradient descent decreases w." in takeaways
    assert "ReLU is inactive for this input" in takeaways and "With ReLU" not in takeaways
    assert c.to_markdown() == render_comparison(c, "markdown")
    assert c.to_latex().startswith("\\documentclass") and c.to_html().lstrip().startswith("<!DOCTYPE")
