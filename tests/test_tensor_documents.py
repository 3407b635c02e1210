"""Course exercises written as tensor equations — an LSTM cell, a GRU cell, attention, LayerNorm
over one vector, BatchNorm in a 2-layer net, softmax with a temperature, a residual block, the
``rnn`` builder with matrices and ``from_torch`` — checked against PyTorch float64 (every node's
value, every input's gradient, 1e-10), and their documents parsed: every backward step prints its
rule, its shape and its numbers; no source code appears in any format."""
from __future__ import annotations

import random
import re

import numpy as np
import pytest
import sympy as sp

torch = pytest.importorskip("torch")

import derive  # noqa: E402


def _quarters(rng, shape):
    """Exact numbers in [−1, 1] in steps of 1/4 (zeros and negatives included)."""
    rows, cols = shape
    if cols == 0:
        return [rng.randint(-4, 4) / 4 for _ in range(rows)]
    return [[rng.randint(-4, 4) / 4 for _ in range(cols)] for _ in range(rows)]


def _values(seed, shapes):
    rng = random.Random(seed)
    return {name: (_quarters(rng, shape) if shape else rng.randint(1, 8) / 4) for name, shape in shapes.items()}


# --- the exercises: equations, values, and an independent PyTorch forward pass -------------------

LSTM = """
ig = sigmoid(Wxi @ x + Whi @ h0 + bi)
fg = sigmoid(Wxf @ x + Whf @ h0 + bf)
og = sigmoid(Wxo @ x + Who @ h0 + bo)
gg = tanh(Wxg @ x + Whg @ h0 + bg)
c1 = fg * c0 + ig * gg
h1 = og * tanh(c1)
L = sum(h1 * g)
"""


def _lstm_values(seed):
    shapes = {}
    for gate in "ifog":
        shapes.update({f"Wx{gate}": (2, 3), f"Wh{gate}": (2, 2), f"b{gate}": (2, 0)})
    shapes.update(x=(3, 0), h0=(2, 0), c0=(2, 0), g=(2, 0))
    return _values(seed, shapes)


def _lstm_torch(t):
    s, th = torch.sigmoid, torch.tanh
    v = {"ig": s(t["Wxi"] @ t["x"] + t["Whi"] @ t["h0"] + t["bi"]),
         "fg": s(t["Wxf"] @ t["x"] + t["Whf"] @ t["h0"] + t["bf"]),
         "og": s(t["Wxo"] @ t["x"] + t["Who"] @ t["h0"] + t["bo"]),
         "gg": th(t["Wxg"] @ t["x"] + t["Whg"] @ t["h0"] + t["bg"])}
    v["c1"] = v["fg"] * t["c0"] + v["ig"] * v["gg"]
    v["h1"] = v["og"] * th(v["c1"])
    v["L"] = (v["h1"] * t["g"]).sum()
    return v


GRU = """
r = sigmoid(Wxr @ x + Whr @ h0 + br)
z = sigmoid(Wxz @ x + Whz @ h0 + bz)
n = tanh(Wxn @ x + bn + r * (Whn @ h0 + bhn))
h1 = (1 - z) * n + z * h0
L = sum((h1 - y)**2) / 2
"""


def _gru_values(seed):
    shapes = {}
    for gate in "rzn":
        shapes.update({f"Wx{gate}": (3, 2), f"Wh{gate}": (3, 3), f"b{gate}": (3, 0)})
    shapes.update(bhn=(3, 0), x=(2, 0), h0=(3, 0), y=(3, 0))
    return _values(seed, shapes)


def _gru_torch(t):
    v = {"r": torch.sigmoid(t["Wxr"] @ t["x"] + t["Whr"] @ t["h0"] + t["br"]),
         "z": torch.sigmoid(t["Wxz"] @ t["x"] + t["Whz"] @ t["h0"] + t["bz"])}
    v["n"] = torch.tanh(t["Wxn"] @ t["x"] + t["bn"] + v["r"] * (t["Whn"] @ t["h0"] + t["bhn"]))
    v["h1"] = (1 - v["z"]) * v["n"] + v["z"] * t["h0"]
    v["L"] = ((v["h1"] - t["y"]) ** 2).sum() / 2
    return v


ATTENTION = """
Q = Wq @ X
K = Wk @ X
V = Wv @ X
S = K.T @ Q / 2
A = softmax(S)
O = V @ A
L = sum(O * G)
"""


def _attention_values(seed):
    return _values(seed, {"Wq": (4, 3), "X": (3, 3), "Wk": (4, 3), "Wv": (2, 3), "G": (2, 3)})


def _attention_torch(t):
    v = {"Q": t["Wq"] @ t["X"], "K": t["Wk"] @ t["X"], "V": t["Wv"] @ t["X"]}
    v["S"] = v["K"].T @ v["Q"] / 2
    v["A"] = torch.softmax(v["S"], dim=0)  # each column: one query's weights over the keys
    v["O"] = v["V"] @ v["A"]
    v["L"] = (v["O"] * t["G"]).sum()
    return v


LAYERNORM = """
mu = mean(x)
xc = x - mu
var = mean(xc * xc)
s = sqrt(var + eps)
xhat = xc / s
out = gamma * xhat + beta
L = sum(out * g)
"""


def _layernorm_values(seed):
    v = _values(seed, {"x": (4, 0), "gamma": (4, 0), "beta": (4, 0), "g": (4, 0)})
    v["eps"] = "0.01"
    return v


def _layernorm_torch(t):
    v = {"mu": t["x"].mean()}
    v["xc"] = t["x"] - v["mu"]
    v["var"] = (v["xc"] * v["xc"]).mean()
    v["s"] = torch.sqrt(v["var"] + t["eps"])
    v["xhat"] = v["xc"] / v["s"]
    v["out"] = t["gamma"] * v["xhat"] + t["beta"]
    v["L"] = (v["out"] * t["g"]).sum()
    # the same as PyTorch's own layer norm over the vector (biased variance)
    ref = torch.nn.functional.layer_norm(t["x"].T, (t["x"].shape[0],), t["gamma"].T[0], t["beta"].T[0],
                                         float(t["eps"].detach()))
    assert torch.allclose(ref.T, v["out"], atol=1e-12)
    return v


BATCHNORM_NET = """
z1 = W1 @ X + b1
mu = batch_mean(z1)
zc = z1 - mu
var = batch_mean(zc * zc)
s = sqrt(var + eps)
zhat = zc / s
a1 = relu(gamma * zhat + beta)
z2 = W2 @ a1 + b2
p = softmax(z2)
L = cross_entropy(p, y)
"""


def _batchnorm_values(seed):
    v = _values(seed, {"W1": (3, 2), "X": (2, 4), "b1": (3, 0), "gamma": (3, 0), "beta": (3, 0),
                       "W2": (2, 3), "b2": (2, 0)})
    v["eps"] = "0.001"
    v["y"] = [1, 0, 1, 1]
    return v


def _batchnorm_torch(t):
    v = {"z1": t["W1"] @ t["X"] + t["b1"]}
    v["mu"] = v["z1"].mean(dim=1, keepdim=True)
    v["zc"] = v["z1"] - v["mu"]
    v["var"] = (v["zc"] * v["zc"]).mean(dim=1, keepdim=True)
    v["s"] = torch.sqrt(v["var"] + t["eps"])
    v["zhat"] = v["zc"] / v["s"]
    v["a1"] = torch.relu(t["gamma"] * v["zhat"] + t["beta"])
    v["z2"] = t["W2"] @ v["a1"] + t["b2"]
    v["p"] = torch.softmax(v["z2"], dim=0)
    v["L"] = torch.nn.functional.cross_entropy(v["z2"].T, t["y"].long().flatten())
    return v


TEMPERATURE = """
z = W @ X + b
p = softmax(z / T)
L = cross_entropy(p, y)
"""


def _temperature_values(seed):
    v = _values(seed, {"W": (3, 2), "X": (2, 2), "b": (3, 0)})
    v["T"] = "1.5"
    v["y"] = [[0, 1], [1, 0], [0, 0]]
    return v


def _temperature_torch(t):
    v = {"z": t["W"] @ t["X"] + t["b"]}
    v["p"] = torch.softmax(v["z"] / t["T"], dim=0)
    v["L"] = -(t["y"] * torch.log(v["p"])).sum() / 2
    return v


RESIDUAL = """
h = relu(W1 @ x + b1)
out = W2 @ h + b2 + x
L = sum((out - t)**2) / 2
"""


def _residual_values(seed):
    return _values(seed, {"W1": (4, 3), "x": (3, 0), "b1": (4, 0), "W2": (3, 4), "b2": (3, 0), "t": (3, 0)})


def _residual_torch(t):
    v = {"h": torch.relu(t["W1"] @ t["x"] + t["b1"])}
    v["out"] = t["W2"] @ v["h"] + t["b2"] + t["x"]
    v["L"] = ((v["out"] - t["t"]) ** 2).sum() / 2
    return v


EXERCISES = {
    "lstm": (LSTM, _lstm_values, _lstm_torch),
    "gru": (GRU, _gru_values, _gru_torch),
    "attention": (ATTENTION, _attention_values, _attention_torch),
    "layernorm": (LAYERNORM, _layernorm_values, _layernorm_torch),
    "batchnorm-net": (BATCHNORM_NET, _batchnorm_values, _batchnorm_torch),
    "temperature": (TEMPERATURE, _temperature_values, _temperature_torch),
    "residual": (RESIDUAL, _residual_values, _residual_torch),
}


def exercise(name, seed=0):
    text, values, _ = EXERCISES[name]
    return derive.Example.from_equations(text, values=values(seed), title=f"Exercise: {name}")


def rnn_example():
    return derive.rnn([[1, 0.5], [-0.5, 1], [0.25, -1]], h0=[0, 0.5], w_xh=[[0.5, -1], [0.25, 0.75]],
                      w_hh=[[0.5, 0.25], [-0.75, 0.5]], w_hy=[[1, -0.5]], y=[0.5], b_h=[0.25, -0.25],
                      b_y=[0.1])


def _rnn_torch(t):
    h, v = t["h0"], {}
    for step in (1, 2, 3):
        h = v[f"h{step}"] = torch.tanh(t["w_xh"] @ t[f"x{step}"] + t["w_hh"] @ h + t["b_h"])
    v["yhat"] = t["w_hy"] @ h + t["b_y"]
    v["L"] = ((v["yhat"] - t["y"]) ** 2).sum() / 2
    return v


def torch_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    with torch.no_grad():  # exact quarters, so the example's exact numbers are the module's
        for p in model.parameters():
            p.copy_(torch.round(p * 4) / 4)
    return model.double()


TORCH_X = [[1.0, -0.5, 0.25], [0.5, 0.0, -1.0]]
TORCH_Y = [[0.5, -0.25], [0.0, 1.0]]


def from_torch_example():
    return derive.from_torch(torch_model(), torch.tensor(TORCH_X, dtype=torch.float64),
                             torch.tensor(TORCH_Y, dtype=torch.float64), loss="mse")


def all_examples():
    found = {name: exercise(name) for name in EXERCISES}
    found["rnn"] = rnn_example()
    found["from_torch"] = from_torch_example()
    return found


# --- values and gradients against PyTorch float64 -------------------------------------------------


def _numbers(value) -> np.ndarray:
    if isinstance(value, sp.MatrixBase):
        return np.array(value.evalf(30).tolist(), dtype=float)
    return np.array([[float(sp.N(value, 30))]])


def _torch_inputs(ex):
    out = {}
    for name in ex.inputs:
        value = ex.value(name)
        t = torch.tensor(_numbers(value), dtype=torch.float64)
        if not isinstance(value, sp.MatrixBase):
            t = t.reshape(())
        out[name] = t.requires_grad_(not ex.is_index(name))
    return out


def _agree(ex, reference):
    t = _torch_inputs(ex)
    v = reference(t)
    v["L"].backward()
    users = [n for n in v if n in ex.nodes]
    assert len(users) == len(v), sorted(set(v) - set(ex.nodes))
    for name in users:
        np.testing.assert_allclose(_numbers(ex.value(name)), v[name].detach().numpy().reshape(
            _numbers(ex.value(name)).shape), rtol=0, atol=1e-10, err_msg=name)
    checked = 0
    for name in ex.inputs:
        if ex.is_index(name):
            continue
        expected = t[name].grad.numpy() if t[name].grad is not None else np.zeros(t[name].shape)
        got = _numbers(ex.grad(name))
        np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=0, atol=1e-10, err_msg=f"dL/d{name}")
        checked += 1
    return checked


@pytest.mark.parametrize("name", sorted(EXERCISES))
@pytest.mark.parametrize("seed", [0, 1])
def test_exercise_matches_torch_float64(name, seed):
    text, values, reference = EXERCISES[name]
    ex = derive.Example.from_equations(text, values=values(seed))
    assert _agree(ex, reference) == len([n for n in ex.inputs if not ex.is_index(n)])


def test_rnn_builder_with_matrices_matches_torch_float64():
    ex = rnn_example()
    assert _agree(ex, _rnn_torch) >= 7


def test_from_torch_matches_the_module():
    ex = from_torch_example()
    model = torch_model()
    x = torch.tensor(TORCH_X, dtype=torch.float64)
    y = torch.tensor(TORCH_Y, dtype=torch.float64)
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    assert abs(float(sp.N(ex.value(ex.output), 30)) - loss.item()) < 1e-10
    for l, layer in ((1, model[0]), (2, model[2])):
        np.testing.assert_allclose(_numbers(ex.grad(f"W{l}")), layer.weight.grad.numpy(), atol=1e-10)
        np.testing.assert_allclose(_numbers(ex.grad(f"b{l}")).ravel(), layer.bias.grad.numpy(), atol=1e-10)


# --- the documents: every backward step rule → shape → numbers, and no source code --------------

_MEMBER = re.compile(r" (?:=|≈) ")
_NUMBERS = re.compile(r"^[\[\]0-9.,;−\s×⁰¹²³⁴⁵⁶⁷⁸⁹⁻…⋮()]+$")  # a matrix or a number, nothing else


def _backward_lines(text: str) -> list[str]:
    """The lines of the text document's backward pass (to the next section's underline)."""
    lines = text.splitlines()
    start = lines.index("Backward pass in matrix form")
    out = []
    for i, line in enumerate(lines[start + 2:], start=start + 2):
        if i + 1 < len(lines) and set(lines[i + 1]) == {"-"}:
            break
        out.append(line)
    return out


def bare_gradients(text: str) -> list[str]:
    """Each displayed ∂L/∂… line of the backward pass that is not rule = numbers, or whose
    shape was not stated just before it ("∂L/∂W is 2×3, like W:")."""
    lines = _backward_lines(text)
    wrong = []
    for i, line in enumerate(lines):
        if not line.startswith("    ∂"):
            continue
        members = _MEMBER.split(line.strip())
        gradient = members[0]
        if len(members) < 3 or _NUMBERS.match(members[1]) or not _NUMBERS.match(members[-1]):
            wrong.append(line.strip())
            continue
        said = " ".join(l for l in lines[max(0, i - 3):i] if not l.startswith("    "))
        if not re.search(re.escape(gradient) + r" is (a number|\d+×\d+), like ", said):
            wrong.append(f"(no shape) {line.strip()}")
    return wrong


def _function_spellings():
    """Registry names that documents must spell as math (sigmoid → σ, cross_entropy → CE)."""
    from derive.core.functions import FUNCTIONS
    from derive.core.tensor import TENSOR_FUNCTIONS
    names = [n for n, spec in FUNCTIONS.items() if spec.unicode != n]
    return names + [n for n, spec in TENSOR_FUNCTIONS.items() if spec.unicode != n]


def source_code(document: str, fmt: str) -> list[str]:
    """Pieces of source code in a document: code font, the operators and spellings of the
    equation language, a registry function under its code name."""
    found = []
    if fmt == "html":  # the page's style sheet is no part of the text (@media print)
        document = re.sub(r"<(style|script)\b.*?</\1>", "", document, flags=re.S)
    if fmt == "latex" and r"\begin{document}" in document:  # the preamble's macros (\if@nobreak)
        document = document.split(r"\begin{document}", 1)[1]
    code_font = {"text": [], "markdown": ["`"], "latex": [r"\texttt", r"\verb", r"\lstinline"],
                 "html": ["<code", "<pre", r"\texttt"]}[fmt]
    for mark in code_font + ["@", "**", ".T ", ".T)", "yhat"]:
        if mark in document:
            found.append(mark)
    for name in _function_spellings():
        if re.search(rf"(?<![A-Za-z_\\]){re.escape(name)}\(", document):
            found.append(f"{name}(")
    if fmt == "text" and re.search(r"[A-Za-z0-9)] - [A-Za-z0-9(]", document):
        found.append("ASCII minus (a - b)")  # the text printer writes −
    return found


@pytest.fixture(scope="module")
def examples():
    return all_examples()


@pytest.mark.parametrize("name", sorted(EXERCISES) + ["rnn", "from_torch"])
def test_every_gradient_has_its_rule_and_shape(examples, name):
    ex = examples[name]
    text = ex.to_text()
    assert bare_gradients(text) == []
    shown = {m.group(1) for m in re.finditer(r"^    ∂L/∂(\S+) = ", "\n".join(_backward_lines(text)), re.M)}
    # every name the gradient reaches is shown (p of softmax + cross-entropy goes with its logits)
    expected = {n for n in ex.inputs + ex.nodes if n != ex.output and not ex.is_index(n)}
    from derive.rendering.printing import text_name
    missing = {n for n in expected if text_name(n) not in shown}
    assert all(n == "p" or ex.graph.by_name.get(n) is not None and "softmax" in ex.graph.by_name[n].source
               for n in missing), missing


@pytest.mark.parametrize("name", sorted(EXERCISES) + ["rnn", "from_torch"])
def test_no_source_code_in_any_format(examples, name):
    ex = examples[name]
    for fmt, doc in (("text", ex.to_text()), ("markdown", ex.to_markdown()), ("latex", ex.to_latex()),
                     ("html", ex.render("html"))):
        assert source_code(doc, fmt) == [], fmt


def test_the_checker_catches_a_bare_gradient_and_code():
    doc = ("Backward pass in matrix form\n----------------------------\n"
           "∂L/∂W is 2×3, like W:\n    ∂L/∂W = [0.5, 1, 2; 0, 0, 1]\n"
           "∂L/∂x is 3×1, like x:\n    ∂L/∂x = Wᵀ ∂L/∂z = [1; 2; 3]\n"
           "    ∂L/∂b = ∂L/∂z = [1; 2]\n")
    assert bare_gradients(doc) == ["∂L/∂W = [0.5, 1, 2; 0, 0, 1]", "(no shape) ∂L/∂b = ∂L/∂z = [1; 2]"]
    assert source_code(r"ig = \texttt{sigmoid(Wxi @ x + (Whi @ h0) + bi)}", "latex") == [
        r"\texttt", "@", "sigmoid("]
    assert source_code("L = (yhat - y) ** 2", "text") == ["**", "yhat", "ASCII minus (a - b)"]
    assert source_code(r"\sigma\left(u_{1}\right) \operatorname{CE}", "latex") == []


def test_compound_arguments_get_names_the_document_explains(examples):
    ex = examples["lstm"]
    assert ex.nodes[:2] == ["u1", "ig"] and ex.value("u1").shape == (2, 1)
    text = " ".join(ex.to_text().split())
    assert "u1 = Wxi x + Whi h0 + bi" in text and "ig = σ(u1)" in text
    assert "u1 is the argument in ig = σ(u1)" in text and "u5 is the argument in L = Σ(u5)" in text
    assert "∂L/∂u1 = ∂L/∂ig ⊙ σ(u1)(1 − σ(u1))" in text
    assert "∂L/∂Wxi = ∂L/∂u1 xᵀ" in text and "∂L/∂bi = ∂L/∂u1" in text
    assert "h1 = og ⊙ tanh(c1)" in text  # a product of two vectors is written ⊙
    # the user's names keep working: keys and check speak of them, and the new ones add to them
    keys = ex.keys()
    assert "dL/dWxi" in keys and "ig" in keys
    assert ex.check({"dL/dbi": ex.grad("bi").tolist(), "ig": ex.value("ig").tolist()}).ok
    # a name the user took is skipped
    taken = derive.Example.from_equations("u1 = sum(x)\nL = sum((u1 * x - y)**2)",
                                          values={"x": [1, 2], "y": [0, 1]})
    assert taken.nodes == ["u1", "u2", "u3", "L"]
    assert [e.of for e in taken.graph.equations if hasattr(e, "of")] == ["u3", "L"]


def test_every_rule_has_a_formula(examples):
    def line(name, gradient):
        found = [l.strip() for l in examples[name].to_text().splitlines() if l.startswith(f"    {gradient} = ")]
        assert found, gradient
        return found[0]
    assert line("attention", "∂L/∂S").startswith("∂L/∂S = A ⊙ (∂L/∂A − 𝟏ᵀ (A ⊙ ∂L/∂A)) = [")
    assert line("batchnorm-net", "∂L/∂s").startswith("∂L/∂s = Σ_batch (∂L/∂ẑ ⊙ (−zc/s²)) = [")
    assert line("batchnorm-net", "∂L/∂u1").startswith("∂L/∂u1 = (∂L/∂var 𝟏ᵀ)/4 = [")
    assert line("batchnorm-net", "∂L/∂z1").startswith("∂L/∂z1 = (∂L/∂μ 𝟏ᵀ)/4 + ∂L/∂zc = [")
    assert line("temperature", "∂L/∂T").startswith("∂L/∂T = 𝟏ᵀ (∂L/∂u1 ⊙ (−z/T²)) 𝟏 ≈ ")  # a scalar broadcast: summed
    assert line("temperature", "∂L/∂y").startswith("∂L/∂y = −log(p)/2 = [")
    assert line("layernorm", "∂L/∂μ").startswith("∂L/∂μ = −𝟏ᵀ ∂L/∂xc ≈ ")
    assert line("layernorm", "∂L/∂s").startswith("∂L/∂s = 𝟏ᵀ (∂L/∂x̂ ⊙ (−xc/s²)) ≈ ")
    assert line("layernorm", "∂L/∂xc").startswith("∂L/∂xc = 2 · ∂L/∂u1 ⊙ xc + (∂L/∂x̂)/s = [")
    for gate in "ifog":
        assert line("lstm", f"∂L/∂Wx{gate}").startswith(f"∂L/∂Wx{gate} = ∂L/∂u")


def test_sentences_follow_the_shapes(examples):
    layernorm = " ".join(examples["layernorm"].to_text().split())
    assert "batch" not in layernorm and "every column" not in layernorm
    assert "μ is one number used at every entry" in layernorm
    assert "Each line computes a whole vector at once" in layernorm
    assert "matrix product" not in layernorm  # LayerNorm has none
    net = " ".join(examples["batchnorm-net"].to_text().split())
    assert "μ is shared by every column (every example of the batch)" in net
    assert "ε is one number used at every entry" in net or "eps is one number used at every entry" in net
    assert "A matrix product passes the gradient" in net


def test_text_printer_brackets_every_compound_side_of_a_slash():
    from derive.core.derivation import Partial, Product, Sum
    from derive.core.matrixmath import Hadamard, Scaled
    from derive.rendering.printing import printer_for
    a, b, c, h, s = sp.symbols("a b c h s", real=True)
    text = printer_for("text").doprint
    assert text(Scaled(Partial("L", "d"), Sum((a, b)))) == "(∂L/∂d)/(a + b)"
    assert text(Scaled(Partial("L", "u"), s)) == "(∂L/∂u)/s"
    assert text(Scaled(h, a * b)) == "h/(ab)"
    assert text(Scaled(Sum((a, -b)), 3)) == "(a − b)/3"
    assert text(Scaled(Hadamard((h, a)), Sum((1, -c)))) == "(h ⊙ a)/(1 − c)"
    assert text(Scaled(Product((sp.Integer(-1), sp.log(a))), 2)) == "−log(a)/2"
    assert text(Scaled(a, -b)) == "a/(−b)"
    assert text(h / (a + b)) == "h/(a + b)" and text(h / (a * (b + c))) == "h/(a(b + c))"
    assert text(1 / (a + b) ** 2) == "1/(a + b)²" and text(h / a ** 2) == "h/a²"


def test_display_names_are_one_object_every_printer_prints():
    ex = derive.batchnorm([1, 2, 4], gamma=2, beta=0.5)
    text = ex.to_text()
    assert "s = √(σ² + ε)" in text and not re.search(r"\b(var|eps)\b", text)
    assert r"\sigma^{2}" in ex.to_latex() and r"\mathrm{var}" not in ex.to_latex()
    from derive.model.example import render
    html = render(ex, "html")
    assert "&#x003C3;" in html and "&#x003B5;" in html  # σ and ε (not the lunate ϵ) in MathML
    assert ">var<" not in html and ">eps<" not in html


def test_every_exercise_document_compiles_and_fits_its_page(examples, tmp_path, pdflatex):
    from concurrent.futures import ThreadPoolExecutor

    from tests.latex_documents import compile_latex
    from tests.test_layout import overfull
    with ThreadPoolExecutor(2) as pool:
        builds = dict(zip(examples, pool.map(lambda item: compile_latex(tmp_path / item[0], item[1].to_latex()),
                                             examples.items())))
    assert {name: (b.returncode, b.errors, overfull(b.log)) for name, b in builds.items()
            if b.returncode != 0 or overfull(b.log)} == {}
