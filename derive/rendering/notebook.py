"""Jupyter notebooks (``--format ipynb``, written with nbformat): the worked solution as Markdown
cells, one per section, then for each example two code cells — one that rebuilds it with derive
from its staged equations and exact values, one that rebuilds it with PyTorch autograd (float64)
and checks every value and gradient against derive's exact ones.

Output is deterministic: cell ids are numbered, not random.

>>> import derive, json
>>> nb = json.loads(notebook("# T\\n\\n## A\\n\\ntext\\n", [("n", derive.neuron(x=2, w=3, b=1, y=5))]))
>>> [c["cell_type"] for c in nb["cells"]]
['markdown', 'markdown', 'markdown', 'code', 'code']
"""
from __future__ import annotations

import sympy as sp

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
          "language_info": {"name": "python"}}


# Words about the math, as the document's own: what the cells check, not which program runs them
CROSSCHECK_HEADING = ("## The gradients above, checked with PyTorch\n\n"
                      "For each example, the first cell rebuilds it from its equations and exact "
                      "values; the second computes every value and gradient again with PyTorch in "
                      "float64 and stops with an error if any of them differs from the exact one.")


def _sections(markdown: str) -> list[str]:
    """Markdown split before each ``## `` heading (outside code fences): one cell per section."""
    cells, current, fenced = [], [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if line.startswith("## ") and not fenced and any(l.strip() for l in current):
            cells.append("\n".join(current).strip("\n"))
            current = []
        current.append(line)
    if any(l.strip() for l in current):
        cells.append("\n".join(current).strip("\n"))
    return cells


def equation_lines(ex) -> list[str]:
    """The example's equations as the user wrote them, one ``name = expression`` per line. A
    tensor graph's lines that the staging introduced (u1 = W x + b for σ(W x + b)) are left out:
    the user's line keeps its original text, and rebuilding stages it again into the same nodes —
    writing both would add dead and duplicate nodes."""
    from ..core.staging import StagedEquation
    if getattr(ex.graph, "tensor", False):
        return [f"{eq.name} = {eq.source}" for eq in ex.graph.equations
                if not isinstance(eq, StagedEquation)]
    return [f"{name} = {node.source}" for name, node in ex.graph.nodes.items()]


def value_literal(value):
    """An input's exact value as the equations' values take it: a number as text (``'3/20'``),
    a column vector as a list, a matrix as a list of rows."""
    from ..core.tensor import Tensor
    if not isinstance(value, Tensor):
        return sp.sstr(value)
    if value.scalar:
        return sp.sstr(value.item())
    rows = [[sp.sstr(e) for e in row] for row in value.a.tolist()]
    return [row[0] for row in rows] if value.a.shape[1] == 1 else rows


# What a rebuild cell shows: every gradient as a number (a vector as a list, a matrix as rows),
# never the exact form, which may be long (exp(183/100 - …)) or an opaque huge-form atom.
NUMBER_CODE = [
    "def number(x):",
    "    \"\"\"An exact value as a float; a vector as a list of floats, a matrix as rows.\"\"\"",
    "    if hasattr(x, 'tolist'):",
    "        rows = [[float(e) for e in row] for row in x.tolist()]",
    "        return [row[0] for row in rows] if all(len(row) == 1 for row in rows) else rows",
    "    return float(x)",
    ""]


def rebuild_code(ex, var: str = "ex") -> str:
    """Python that rebuilds ``ex`` with derive from its staged equations and exact values."""
    equations = "\n".join(equation_lines(ex))
    values = ", ".join(f"{n!r}: {value_literal(v)!r}" for n, v in ex.values.items())
    params = [n for n in ex.inputs if ex.roles[n] == "parameter"]
    lines = ["import derive", "",
             f"{var} = derive.Example.from_equations(",
             f'    """{equations}""",',
             f"    values={{{values}}},",
             f"    params={params!r},"]
    if ex.lr is not None:
        lines.append(f"    lr={sp.sstr(ex.lr)!r},")
    lines += [f"    output={ex.output!r},", ")", ""] + NUMBER_CODE + [
              f"# the gradients as numbers (exact: {var}.grad(p))",
              f"{{p: number({var}.grad(p)) for p in {var}.params}}"]
    return "\n".join(lines)


def registration_code(examples) -> str | None:
    """``derive.register_activation(...)`` for every registered activation the examples apply
    (those a formula defines, its dependencies first), so the notebook runs in a fresh kernel; None
    when they use built-in functions only.

    >>> import derive
    >>> registration_code([("n", derive.neuron(x=2, w=3, b=1, y=5))]) is None
    True
    """
    from ..core.functions import BY_CLASS, FUNCTIONS
    needed: dict = {}

    def visit(expr):
        for e in sp.preorder_traversal(expr):
            spec = BY_CLASS.get(type(e))
            if spec is not None and spec.formula and spec.name not in needed:
                visit(spec.expand(sp.Symbol("z", real=True)))  # a formula may use another
                needed[spec.name] = spec
    for _, ex in examples:
        if not getattr(ex.graph, "tensor", False):
            for node in ex.graph.nodes.values():
                visit(node.expr)
            continue
        for eq in ex.graph.equations:  # a tensor graph: its functions are applied entrywise
            for name in _called(eq.tree):
                spec = FUNCTIONS.get(name)
                if spec is not None and spec.formula:
                    visit(spec.expand(sp.Symbol("z", real=True)))
                    needed.setdefault(spec.name, spec)
    if not needed:
        return None
    return "\n".join(["# The activations these examples use, each defined by its formula",
                      "import derive", ""] + [
        f"derive.register_activation({s.name!r}, {s.formula!r}, latex={s.latex!r})"
        for s in needed.values()] + [f"print({'defined: ' + ', '.join(needed)!r})"])


def _called(tree):
    """The names of the functions a parse tree applies."""
    from ..core.parser import BinOp, Call, Neg, Transpose
    if isinstance(tree, Call):
        yield tree.func
        for a in tree.args:
            yield from _called(a)
    elif isinstance(tree, BinOp):
        yield from _called(tree.left)
        yield from _called(tree.right)
    elif isinstance(tree, (Neg, Transpose)):
        yield from _called(tree.operand)


def crosscheck_code(ex, var: str = "ex") -> str:
    """PyTorch's autograd (float64) on the same equations, checked against derive's exact values
    entry by entry (a scalar is a 0-dimensional array, a tensor has its shape)."""
    script = ex.to_pytorch()  # derive.io.pytorch, through the example (a higher layer)
    body = script[script.index("import torch"):script.rindex("print(json.dumps")].rstrip()
    return "\n".join([
        "# The same values and gradients again with PyTorch (float64), compared with the exact ones.",
        "import numpy as np", "",
        body, "",
        "def exact(x):",
        "    return np.array(x.tolist() if hasattr(x, 'tolist') else x, dtype=float)",
        "",
        "def agree(name, torch_value, exact_value):",
        "    want = exact(exact_value)",
        "    got = np.zeros(want.shape) if torch_value is None else np.array(torch_value, dtype=float)",
        "    assert got.shape == want.shape, (name, got.shape, want.shape)",
        "    assert np.allclose(got, want, rtol=1e-9, atol=1e-12), (name, got, want)",
        "",
        "for name, value in values.items():",
        f"    agree(name, value, {var}.value(name))",
        "for name, grad in gradients.items():",
        f"    agree('d/d' + name, grad, {var}.grad(name))",
        'print(f"PyTorch gives the same {len(values)} values and {len(gradients)} gradients")',
    ])


def notebook(markdown: str, examples=()) -> str:
    """The notebook JSON for a Markdown document and the examples (label, Example) it works."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
    nb = new_notebook(metadata=KERNEL)
    nb.cells = [new_markdown_cell(text) for text in _sections(markdown)]
    examples = [(label, ex) for label, ex in examples if not ex.symbolic]
    if examples:
        nb.cells.append(new_markdown_cell(CROSSCHECK_HEADING))
        registration = registration_code(examples)
        if registration:
            nb.cells.append(new_code_cell(registration))
    for i, (label, ex) in enumerate(examples, 1):
        var = "ex" if len(examples) == 1 else f"ex{i}"
        if len(examples) > 1:
            nb.cells.append(new_markdown_cell(f"### {label}"))
        nb.cells.append(new_code_cell(rebuild_code(ex, var)))
        nb.cells.append(new_code_cell(crosscheck_code(ex, var)))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"  # nbformat draws random ids; ours are stable
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


__all__ = ["notebook", "rebuild_code", "crosscheck_code", "registration_code"]
