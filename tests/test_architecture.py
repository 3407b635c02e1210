"""The package's layers, enforced: every import (module-level and inside functions) goes down the
order declared in ``derive.LAYERS`` or stays in its own layer, no module imports cycle, and no
private name (``_x``) is imported from another module."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import derive

PACKAGE = Path(derive.__file__).resolve().parent


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(("derive",) + parts), path


def imports(name: str, path: Path):
    """(imported module, imported names, line) for every import of a derive module in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("derive"):
                continue
            names = [a.name for a in node.names]
            # ``from . import x`` imports the submodule x
            known = {m for m, _ in modules()}
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
            if subs:
                for s in subs:
                    yield s, [], node.lineno
            else:
                yield target, names, node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("derive"):
                    yield a.name, [], node.lineno


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package facade
    return derive.LAYERS.index(parts[1]) if parts[1] in derive.LAYERS else None


def test_every_module_belongs_to_a_layer():
    for name, path in modules():
        if name == "derive":
            continue
        assert layer_of(name) is not None, f"{name} is in no layer of derive.LAYERS"


def test_imports_only_go_down():
    wrong = []
    for name, path in modules():
        here = layer_of(name)
        if here is None:
            continue
        for target, _, line in imports(name, path):
            there = layer_of(target)
            if target == "derive" or (there is not None and there > here):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {target} (up a layer)")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = {name: sorted({t for t, _, _ in imports(name, path) if t != name})
             for name, path in modules()}
    # iterative DFS with colours; report the first cycle found
    colour = {n: 0 for n in graph}
    for start in graph:
        if colour[start]:
            continue
        stack = [(start, iter(graph[start]))]
        colour[start] = 1
        trail = [start]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in graph:
                    continue
                if colour[child] == 1:
                    cycle = trail[trail.index(child):] + [child]
                    raise AssertionError("import cycle: " + " -> ".join(cycle))
                if colour[child] == 0:
                    colour[child] = 1
                    trail.append(child)
                    stack.append((child, iter(graph[child])))
                    break
            else:
                colour[node] = 2
                trail.pop()
                stack.pop()


def test_no_private_names_across_modules():
    wrong = []
    for name, path in modules():
        for target, names, line in imports(name, path):
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {n} from {target}")
    assert not wrong, "\n".join(wrong)


# Modules that compute (checking answers, the mistake catalogue, training, optimizers) may use the
# engine's public API; every other module above the core that builds documents reads only the
# ``Derivation`` (and a training step's read-only ``values``).
COMPUTING = {"derive.checking.report", "derive.checking.answers", "derive.checking.mistakes",
             "derive.checking.matrixcheck", "derive.training.run", "derive.training.optimizers",
             "derive.checking.tutor", "derive.courseware.tutor",
             "derive.checking.machine"}  # judges machine numbers against the engine's values


def document_modules():
    for name, path in modules():
        if name.split(".")[1:2] in (["solutions"], ["checking"], ["training"], ["initialization"],
                                    ["courseware"]) and name not in COMPUTING:
            yield name, path


def internals_read(source: str) -> list:
    """(line, attribute) for every ``.evaluation`` and every private ``x._name`` (x not self/cls)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        private = node.attr.startswith("_") and not node.attr.startswith("__") and owner not in ("self", "cls")
        if node.attr == "evaluation" or private:
            found.append((node.lineno, node.attr))
    return sorted(found)


# Every document module is held to the rule (matrix documents read ex.matrix_derivation()).
NOT_YET = set()


def test_documents_read_only_the_derivation():
    """No document or content module touches ``.evaluation`` (the engine's working state) or a
    private ``._name`` of another object: documents are built from derivation data."""
    wrong = [f"{path.relative_to(PACKAGE)}:{line} reads .{attr}"
             for name, path in document_modules() if name not in NOT_YET
             for line, attr in internals_read(path.read_text(encoding="utf-8"))]
    assert not wrong, "\n".join(wrong)


def test_the_document_check_can_fail():
    source = ("def build(ex, d):\n    return ex.evaluation.values['x'], ex.graph._private, "
              "self._own, d.value('x'), x.__class__\n")
    assert internals_read(source) == [(2, "_private"), (2, "evaluation")]
    assert {"derive.solutions.content", "derive.courseware.homework", "derive.solutions.steps"} \
        <= {n for n, _ in document_modules()}


def formula_pairs(source: str) -> list:
    """Lines that build a formula by hand: any call ``Formula(...)`` (the (LaTeX, text) pair class
    is gone; a formula is math printed by each format's printer)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Formula":
            found.append(node.lineno)
    return found


# LaTeX that states a formula rather than a name: a relation, a fraction, cases, an indicator,
# sub/superscripts. A registry entry may carry its function's name in LaTeX (\operatorname{ReLU},
# \tfrac{1}{2}\operatorname{SE}), never a formula.
_LATEX_FORMULA = re.compile(r"=|\\frac|\\begin|\\mathbb|\\[lg]e\b|\^|\\bigl|\\sum|\\partial")
REGISTRY_MODULES = ("derive.core.functions", "derive.core.losses", "derive.core.operations",
                    "derive.core.extend", "derive.core.notation")


def latex_formulas(source: str) -> list:
    """Lines of string constants (docstrings aside) that write a formula in LaTeX."""
    tree = ast.parse(source)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    patterns = {id(a) for n in ast.walk(tree) if isinstance(n, ast.Call)  # regular expressions
                and getattr(n.func, "attr", None) in ("compile", "match", "fullmatch", "search", "sub")
                for a in n.args}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                and id(node) not in patterns \
                and "\\" in node.value and _LATEX_FORMULA.search(node.value):
            found.append(node.lineno)
    return found


def test_formulas_are_printable_objects_not_handwritten_pairs():
    """Formulas are SymPy expressions and the math objects of ``derive.core.derivation`` /
    ``derive.core.notation``, printed by the one printer per format; nobody writes a formula twice
    (LaTeX and text), and the registries write none at all: an entry states its definition and
    derivative as math (``FunctionSpec.forms``, the SymPy class's ``fdiff``)."""
    wrong = [f"{path.relative_to(PACKAGE)}:{line} writes a Formula by hand"
             for name, path in modules() for line in formula_pairs(path.read_text(encoding="utf-8"))]
    wrong += [f"{path.relative_to(PACKAGE)}:{line} writes a formula in LaTeX"
              for name, path in modules() if name in REGISTRY_MODULES
              for line in latex_formulas(path.read_text(encoding="utf-8"))]
    from dataclasses import fields
    from derive.core import derivation
    from derive.core.functions import FunctionSpec
    from derive.core.losses import LossSpec
    wrong += [f"{spec.__name__}.{f.name} holds a formula as a string" for spec in (FunctionSpec, LossSpec)
              for f in fields(spec) if f.name.endswith(("_latex", "_text")) or f.name == "latex" and spec is LossSpec]
    wrong += ["derive.core.derivation still defines Formula"] if hasattr(derivation, "Formula") else []
    assert not wrong, "\n".join(wrong)


def test_the_formula_check_can_fail():
    source = ('x = Formula(r"\\\\lVert g \\\\rVert", "‖g‖")\ny = Formula(latex, f"δ{l}")\n'
              'z = Formula(spec.latex, spec.text)\nw = Norm(g)\n')
    assert formula_pairs(source) == [1, 2, 3]
    registry = ('"""A docstring: \\\\sigma(z) = 1/(1 + e^{-z})."""\n'
                'name = r"\\operatorname{ReLU}"\n'
                'half = r"\\tfrac{1}{2}\\operatorname{SE}"\n'
                'rule = r"\\sigma\'(z) = \\sigma(z)\\bigl(1 - \\sigma(z)\\bigr)"\n'
                'cases = (r"\\begin{cases} z, & z > 0 \\\\ 0, & z \\le 0 \\end{cases}", "text")\n'
                'names = re.compile(r"^[A-Za-z]\\d*$")\n')
    assert latex_formulas(registry) == [4, 5]

def graph_classes(source: str) -> list[str]:
    """Classes named like a graph (``…Graph``) other than the one ``Graph``."""
    return [node.name for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ClassDef) and node.name.endswith("Graph") and node.name != "Graph"]


def test_one_graph_class():
    """Scalar and tensor equations build the same ``derive.core.engine.Graph``: a new kind of value
    is a new evaluator in the same graph, never a second graph class."""
    found = [(name, cls) for name, path in modules()
             for cls in graph_classes(path.read_text(encoding="utf-8"))]
    assert found == [], f"a second graph class: {found}; build a derive.core.engine.Graph"
    graphs = [name for name, path in modules()
              if re.search(r"^class Graph\b[:(]", path.read_text(encoding="utf-8"), re.M)]
    assert graphs == ["derive.core.engine"], graphs


def test_the_graph_class_check_can_fail():
    assert graph_classes("class TensorGraph:\n    pass\nclass Graph:\n    pass\n") == ["TensorGraph"]
    assert graph_classes("class Graph:\n    pass\n") == []


def mistake_flags(source: str) -> list[str]:
    """Parameters, names and strings that switch a mistake on (``mistakes``, ``ungated``,
    ``forget_targets``, "mask", "targets" as flags)."""
    flagged = re.compile(r"^(mistakes?|ungated|forget_\w+)$")
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.arg) and flagged.match(node.arg):
            found.append(f"parameter {node.arg}")
        elif isinstance(node, ast.Name) and flagged.match(node.id):
            found.append(f"name {node.id}")
        elif isinstance(node, ast.Attribute) and flagged.match(node.attr):
            found.append(f"attribute {node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and flagged.match(node.value):
            found.append(f"string {node.value!r}")
    return found


def test_no_mistake_flag_in_the_core():
    """Mistake scenarios are a hook on the one reverse sweep (an overridden local VJP, like
    ``accumulate``'s ``local``) defined in derive.checking.mistakes; the core takes no flags."""
    found = [(name, f) for name, path in modules() if name.startswith("derive.core")
             for f in mistake_flags(path.read_text(encoding="utf-8"))]
    assert found == [], found


def test_the_mistake_flag_check_can_fail():
    source = "def apply(spec, A, ungated=False):\n    return 'mask' in mistakes\n"
    assert mistake_flags(source) == ["parameter ungated", "name mistakes"]
    assert mistake_flags("def f(x, local=None):\n    return x\n") == []


def operator_switches(source: str) -> list[int]:
    """Lines that compare a syntax tree's operator (``node.op == "@"``, ``tree.op in "+-"``):
    a tensor rule written outside the table."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Attribute) and side.attr == "op" for side in [node.left, *node.comparators]):
            found.append(node.lineno)
    return found


def test_no_tensor_rule_outside_the_table():
    """The matrix documents read every rule from derive.core.tensor's one table: no switch on an
    operator in derive.solutions.matrixdoc."""
    path = PACKAGE / "solutions" / "matrixdoc.py"
    assert operator_switches(path.read_text(encoding="utf-8")) == []


def test_the_operator_switch_check_can_fail():
    assert operator_switches("if tree.op == '@':\n    pass\nok = n.op in '+-'\n") == [1, 3]
