"""The HTML documents' MathML is well formed: every script and fraction element has exactly its
operands (an elided matrix subscripted with its shape is ONE base), matrix brackets stretch over
their rows, and every operator name of the tensor table and the registries is set upright in one
<mi>, as \\operatorname sets it in LaTeX."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import derive
from derive.core.functions import FUNCTIONS
from derive.core.tensor import TENSOR_OPS
from derive.rendering.formats import mathml

# MathML elements with a fixed number of children (MathML Core §3): base and script(s), or
# numerator and denominator
ARITY = {"msub": 2, "msup": 2, "mfrac": 2, "munder": 2, "mover": 2, "mroot": 2,
         "msubsup": 3, "munderover": 3}
M = "{http://www.w3.org/1998/Math/MathML}"


def _grid(rng, *shape):
    """Small exact values (halves) with negatives and zeros among them."""
    return (rng.integers(-4, 5, size=shape) / 2).tolist()


def _examples() -> dict[str, derive.Example]:
    rng = np.random.default_rng(24)
    conv = derive.Example.from_equations(
        "c = conv2d(x, k, stride=2, padding=1) + b\np = maxpool2d(c, 2)\na = relu(p)\n"
        "L = sum((a - y)**2)",
        values=dict(x=_grid(rng, 2, 7, 7), k=_grid(rng, 3, 2, 3, 3), b=[[[0.5]], [[-1]], [[0]]],
                    y=_grid(rng, 3, 2, 2)))
    lenet = derive.Example.from_equations(
        "c = conv2d(x, k) + b1\nh = relu(c)\nq = maxpool2d(h, 2)\nf = flatten(q)\n"
        "z = W @ f + b2\np = softmax(z)\nL = cross_entropy(p, y)",
        values=dict(x=_grid(rng, 1, 8, 8), k=_grid(rng, 2, 1, 3, 3), b1=[[[0.25]], [[-0.5]]],
                    W=_grid(rng, 3, 18), b2=[0.5, 0, -0.5], y=2))
    pool = derive.Example.from_equations(
        "p = avgpool2d(maxpool2d(x, 2), 2)\nL = sum(p*G)",
        values=dict(x=rng.permutation(64).reshape(1, 8, 8).tolist(), G=[[[1, -2], [0, 3]]]),
        data=["G"])
    return {"conv": conv, "lenet": lenet, "pool": pool}


@pytest.fixture(scope="module")
def documents() -> dict[str, list[ET.Element]]:
    """Each example's HTML page, as its parsed <math> elements."""
    out = {}
    for name, ex in _examples().items():
        page = ex.to_html()
        out[name] = [ET.fromstring(m) for m in re.findall(r'<math xmlns=.*?</math>', page, flags=re.S)]
    return out


def _tag(el: ET.Element) -> str:
    return el.tag.removeprefix(M)


def _text(el: ET.Element) -> str:
    return "".join(el.itertext())


def test_every_script_and_fraction_has_its_operands(documents):
    for name, maths in documents.items():
        assert len(maths) > 50, name  # a whole derivation, not an error page
        for math in maths:
            for el in math.iter():
                tag = _tag(el)
                if tag in ARITY:
                    assert len(el) == ARITY[tag], (name, ET.tostring(el, encoding="unicode")[:300])
                # an empty operator is what latex2mathml leaves of a name it could not read
                if tag == "mo":
                    assert (el.text or "").strip() or len(el), (name, ET.tostring(math, encoding="unicode")[:300])


def test_an_elided_matrix_is_one_base_under_its_shape(documents):
    # conv: x is 2×7×7 (each slice 7×7); lenet: x is 8×8 and f is 18×1
    expected = {"conv": {"7×7"}, "lenet": {"8×8", "18×1"}, "pool": {"8×8"}}
    for name, maths in documents.items():
        shapes = set()
        for math in maths:
            for sub in math.iter(M + "msub"):
                base, script = sub
                if base.find(f".//{M}mtable") is None:
                    continue
                shapes.add(_text(script))
                # the base is the bracketed table: one row of [ table ], the brackets stretching
                fences = [c for c in base.iter(M + "mo") if c.text in "[]"]
                assert [c.text for c in fences] == ["[", "]"], name
                assert all(c.get("stretchy") == "true" for c in fences), name
        assert expected[name] <= shapes, (name, shapes)


def test_matrix_brackets_stretch_around_their_table():
    out = mathml(r"W = \begin{bmatrix} 1 & -2 \\ 0.5 & 3 \end{bmatrix}")
    row = ET.fromstring(out).find(f".//{M}mtable/..")
    assert [(_tag(c), c.get("stretchy")) for c in row] == [
        ("mo", "true"), ("mtable", None), ("mo", "true")]
    assert "".join(row[0].itertext()) == "[" and "".join(row[2].itertext()) == "]"


def _operator_names() -> list[tuple[str, str]]:
    """(\\operatorname{…}'s content as a reader sees it, the LaTeX that holds it) of every tensor
    operation and every function of the registry (activations, losses, math)."""
    latexes = [spec.latex for spec in TENSOR_OPS.values()] + [f.latex for f in FUNCTIONS.values()]
    names = []
    for latex in latexes:
        for content in re.findall(r"\\operatorname\{([^{}]*)\}", latex or ""):
            names.append((content.replace("\\,", "\u2009").replace("\\_", "_"), latex))
    return names


def test_the_registries_hold_names_latex2mathml_cannot_read_alone():
    # the reason for the fix: conv2d (a digit) and log softmax (a thin space)
    shown = {n for n, _ in _operator_names()}
    assert {"conv2d", "conv1d", "log\u2009softmax", "maxpool", "LayerNorm"} <= shown


@pytest.mark.parametrize("name, latex", _operator_names())
def test_every_operator_name_is_upright_in_one_mi(name, latex):
    # with a second held name after it: each placeholder gives back its own name
    out = mathml(latex + r"\left(x\right) + \operatorname{max\_pool3d}(y)")
    root = ET.fromstring(out)
    whole = [el for el in root.iter(M + "mi") if el.text == name]
    assert whole, out
    # more than one character in an <mi> is upright (MathML Core); no italic override
    assert all(el.get("mathvariant") in (None, "normal") for el in whole)
    assert [el.text for el in root.iter(M + "mi")].count("max_pool3d") == 1, out
    assert not [el for el in root.iter(M + "mo") if not (el.text or "").strip()], out


def test_the_conv_document_sets_its_layers_upright(documents):
    names = {el.text for math in documents["conv"] for el in math.iter(M + "mi")}
    assert {"conv2d", "maxpool", "ReLU"} <= names
    # no name spelled letter by letter (latex2mathml's c, o, n, v, 2, d)
    letters = [[el.text for el in row] for math in documents["conv"] for row in math.iter(M + "mrow")]
    assert not any(r[i:i + 4] == ["c", "o", "n", "v"] for r in letters for i in range(len(r)))


def test_an_elided_matrix_keeps_its_shape_in_latex():
    ex = _examples()["lenet"]
    tex = ex.to_latex()
    # the shape subscripts the bracketed matrix as one group
    assert re.search(r"\{\\begin\{bmatrix\}[^{}]*?\\vdots.*?\\end\{bmatrix\}\}_\{18 \\times 1\}", tex, flags=re.S)
