"""Layout that holds at any size: every LaTeX document the suite produces (demo, handout, slides,
homework sheets, a 6-4-3 MLP, a 20-layer sigmoid chain, a GELU neuron, every registry function)
compiles with no overfull box over 2 pt. Compiled once each per session, two at a time (the
``latex_builds`` fixture, whose demo PDFs tests/test_golden.py also compares), and the log parsed."""
import re

import pytest

from derive.rendering.latex_layout import breakable, set_paper, table_parts, width
from tests.latex_documents import compile_latex, mlp_643

OVERFULL = re.compile(r"Overfull \\([hv])box \(([\d.]+)pt too (?:wide|high)\)[^\n]*")


def overfull(log: str) -> list:
    return [(m.group(0), float(m.group(2))) for m in OVERFULL.finditer(log) if float(m.group(2)) > 2.0]


def compile_once(folder, tex, resources=()):
    """One compile of a document a test makes itself: (exit status, ``!`` errors, overfull boxes)."""
    build = compile_latex(folder, tex, resources)
    return build.returncode, build.errors, overfull(build.log)


def test_every_latex_document_fits_its_page(latex_builds, tmp_path):
    docs = latex_builds  # compiled once per session (tests/conftest.py), shared with test_golden.py
    assert len(docs) >= 17 and {"slides", "mlp-6-4-3", "chain-20-sigmoid", "registry",
                                "homework-problems", "homework-solutions", "demo-handout"} <= set(docs)
    letter = compile_latex(tmp_path / "letter", set_paper(mlp_643().to_latex(), "letter"))
    results = dict(docs, **{"letter-mlp-6-4-3": letter})
    failures = {name: (b.returncode, b.errors, overfull(b.log)) for name, b in results.items()
                if b.returncode != 0 or overfull(b.log)}
    assert not failures, failures


def test_long_equations_get_a_breakable_form():
    math = r"\frac{1}{2} \left(z + \left(-0.66\right) \cdot \frac{1}{2}\right) = 1"
    assert breakable(math) == r"\frac{1}{2} \Bigl(z + \bigl(-0.66\bigr) \cdot \frac{1}{2}\Bigr) = 1"
    assert breakable(r"\left. x \right|_{0}") == r" x \bigr|_{0}"


def test_wide_tables_split_by_columns_and_text_wraps():
    header = ["scheme"] + [f"layer {k}" for k in range(1, 9)]
    rows = [["normal"] + [r"\(\approx 1.091 \times 10^{210}\)"] * 8]
    parts = table_parts(header, rows, budget=41)
    assert len(parts) >= 2 and all(p["header"][0] == "scheme" for p in parts)
    assert [h for p in parts for h in p["header"][1:]] == header[1:]  # every column once, in order
    for p in parts:
        assert sum(width(c) + 1.2 for c in p["header"]) <= 41 or len(p["header"]) == 2
    small = table_parts(["a", "b"], [["1", "2"]], budget=41)
    assert small == [{"spec": "ll", "header": ["a", "b"], "rows": [["1", "2"]]}]  # never enlarged
    text = table_parts(["technique", "what it does"], [["clipping", "rescales the gradient vector " * 4]], 41)
    assert "p{" in text[0]["spec"] and len(text) == 1


def test_paper_sizes():
    tex = r"\usepackage[a4paper,margin=2.2cm]{geometry}"
    assert "letterpaper" in set_paper(tex, "letter") and set_paper(tex, "a4") == tex
    from derive import DeriveError
    with pytest.raises(DeriveError, match="a4 or letter"):
        set_paper(tex, "a3")
