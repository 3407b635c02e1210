"""Staging: compound parts of an expression get names of their own, so every step of a derivation
is one operation with one local rule.

Two policies share the machinery (fresh names that clash with none of the user's, the text of a
staged line):

* ``stage_expression`` — ``Example.from_expr``: one node per function application, per compound
  function argument and per operand of the top-level operation (u1, u2, …, then the whole).
* ``stage_equations`` — tensor equations: a compound *argument* of a function
  (``ig = sigmoid(Wxi @ x + Whi @ h0 + bi)``) and a compound *base* of a power
  (``L = sum((yhat - y)**2)``) become lines of their own, so the document writes
  u1 = W_xi x + W_hi h₀ + b_i, then ig = σ(u1), each with its formula and its backward rule. The
  user's lines keep their names and line numbers (answer keys and error messages still speak of
  them); each new line is a ``StagedEquation`` that says what it stands for.

A named composite of the tensor table (``layer_norm``) is written out first by ``expand_composites``:
its steps become lines of their own (part "step"), each an ordinary entry of the table.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .parser import BinOp, Call, Equation, Name, Neg, Num, Transpose, names_in


@dataclass(frozen=True)
class StagedEquation(Equation):
    """A line the staging introduced: ``part`` of the user's line ``of`` ("argument" of the
    function ``function``, or "base" of a power), so a document can say what the name stands for."""

    of: str = ""
    part: str = "argument"  # "argument", "base", or "step" (of a composite such as layer_norm)
    function: str = ""  # the function whose argument (or step) it is ("" for a power's base)
    exponent: object = None  # the power's exponent (a parser tree) for a base
    what: str = ""  # a step of a composite: what it computes ("the mean of each example's features")
    call: object = None  # a step of a composite: the call written out (layer_norm(x, gamma, beta))


class FreshNames:
    """u1, u2, … skipping every name in ``used`` (the user's names and those already given)."""

    def __init__(self, used, stem: str = "u"):
        self.used = set(used)
        self.stem = stem
        self.count = 0

    def __call__(self) -> str:
        while True:
            self.count += 1
            candidate = f"{self.stem}{self.count}"
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate

    def named(self, stem: str) -> str:
        """``stem`` itself when unused (mu, xhat: names a document prints as μ, x̂), else stem1 …"""
        candidate, n = stem, 0
        while candidate in self.used:
            n += 1
            candidate = f"{stem}{n}"
        self.used.add(candidate)
        return candidate


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "**": 4}


def _level(node) -> int:
    if isinstance(node, BinOp):
        return _PRECEDENCE.get(node.op, 0)
    return 3 if isinstance(node, Neg) else 5


def text_of(node) -> str:
    """The text of a tree as the user would write it, with only the brackets it needs (the
    ``source`` of a staged line, for error messages)."""
    if isinstance(node, Num):
        return node.text
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Neg):
        return f"-{_wrap(node.operand, _level(node.operand) < 4)}"
    if isinstance(node, Transpose):
        return f"{_wrap(node.operand, not isinstance(node.operand, (Name, Call)))}.T"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(text_of(a) for a in node.args)})"
    p = _PRECEDENCE.get(node.op, 0)
    if node.op == "**":
        return f"{_wrap(node.left, _level(node.left) <= p)}**{_wrap(node.right, _level(node.right) < 3)}"
    strict = node.op in ("-", "/", "@")
    right = _level(node.right) <= p if strict else _level(node.right) < p
    return f"{_wrap(node.left, _level(node.left) < p)} {node.op} {_wrap(node.right, right)}"


def _wrap(node, parenthesize: bool) -> str:
    t = text_of(node)
    return f"({t})" if parenthesize else t


def _atomic(node) -> bool:
    return isinstance(node, (Num, Name))


def stage_expression(tree, name: str) -> list[Equation]:
    """Auto-staging for ``from_expr``: every function application a node u1, u2, …; the whole
    expression ``name``."""
    fresh = FreshNames(set(names_in(tree)) | {name})
    equations: list[Equation] = []

    def emit(node, target: str | None = None) -> Name:
        target = target or fresh()
        equations.append(Equation(target, node, len(equations) + 1, text_of(node)))
        return Name(target, 0)

    def named(staged) -> Name:
        return staged if isinstance(staged, Name) else emit(staged)

    def stage(node):
        """A tree for ``node`` in which each function application is a named node."""
        if _atomic(node):
            return node
        if isinstance(node, Call):
            return emit(Call(node.func, tuple(a if _atomic(a) else named(stage(a)) for a in node.args),
                             node.column))
        if isinstance(node, Neg):
            inner = node.operand
            return Neg(inner if _atomic(inner) else named(stage(inner)), node.column)
        return BinOp(node.op, stage(node.left), stage(node.right), node.column)

    if isinstance(tree, BinOp):
        left, right = stage(tree.left), stage(tree.right)
        emit(BinOp(tree.op, left if _atomic(left) else named(left),
                   right if _atomic(right) else named(right), tree.column), name)
    elif isinstance(tree, Call):
        emit(Call(tree.func, tuple(a if _atomic(a) else named(stage(a)) for a in tree.args), tree.column), name)
    elif isinstance(tree, Neg):
        inner = tree.operand
        emit(Neg(inner if _atomic(inner) else named(stage(inner)), tree.column), name)
    else:
        emit(tree, name)
    return equations


_PENDING = "\0"  # the owner of a part whose own line has no name yet


def _composite(node):
    from .tensor import TENSOR_OPS
    spec = TENSOR_OPS.get(node.func) if isinstance(node, Call) else None
    return spec if spec is not None and spec.composite is not None else None


def expand_composites(equations: list[Equation]) -> list[Equation]:
    """Each named composite (``y = layer_norm(x, gamma, beta)``) written out in its steps, each a
    ``StagedEquation`` (part "step") before the user's line, which keeps its name and number; a
    composite inside a larger expression is named first. The list itself when there is none."""
    if not any(_composite(n) for eq in equations for n in _nodes(eq.tree)):
        return equations
    used = set()
    for eq in equations:
        used.add(eq.name)
        used.update(names_in(eq.tree))
    fresh = FreshNames(used)
    out: list[Equation] = []

    def write_out(target: str, call: Call, eq: Equation, last_is_user: bool):
        spec = _composite(call)
        args = []
        for a in call.args:  # a compound argument is computed once, on a line of its own
            if _atomic(a):
                args.append(a)
                continue
            name = fresh()
            out.append(StagedEquation(name, a, eq.line, text_of(a), of=target, part="argument",
                                      function=call.func))
            args.append(Name(name, 0))
        steps = spec.composite(target, tuple(args), fresh.named)
        written = Call(call.func, tuple(args), call.column)
        for name, tree, what in steps[:-1]:
            out.append(StagedEquation(name, tree, eq.line, text_of(tree), of=target, part="step",
                                      function=call.func, what=what, call=written))
        name, tree, what = steps[-1]
        if last_is_user:
            out.append(Equation(name, tree, eq.line, eq.source))
        else:
            out.append(StagedEquation(name, tree, eq.line, text_of(tree), of=target, part="step",
                                      function=call.func, what=what, call=written))

    def replace_inner(node, eq):
        if _atomic(node):
            return node
        if _composite(node) is not None:
            name = fresh.named(node.func.replace("_", ""))
            write_out(name, Call(node.func, tuple(replace_inner(a, eq) for a in node.args), node.column),
                      eq, False)
            return Name(name, node.column)
        if isinstance(node, Call):
            return Call(node.func, tuple(replace_inner(a, eq) for a in node.args), node.column)
        if isinstance(node, BinOp):
            return BinOp(node.op, replace_inner(node.left, eq), replace_inner(node.right, eq), node.column)
        if isinstance(node, (Neg, Transpose)):
            return type(node)(replace_inner(node.operand, eq), node.column)
        return node

    for eq in equations:
        tree = eq.tree
        if _composite(tree) is not None:
            write_out(eq.name, Call(tree.func, tuple(replace_inner(a, eq) for a in tree.args), tree.column),
                      eq, True)
            continue
        new = replace_inner(tree, eq)
        out.append(eq if new is tree else Equation(eq.name, new, eq.line, eq.source))
    return out


def _nodes(tree):
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Call):
            stack.extend(node.args)
        elif isinstance(node, BinOp):
            stack.extend((node.left, node.right))
        elif isinstance(node, (Neg, Transpose)):
            stack.append(node.operand)


def stage_equations(equations: list[Equation]) -> list[Equation]:
    """Tensor equations with every compound function argument and compound power base named (see
    the module docstring), named composites written out in their steps first; the list itself
    when nothing is compound. A new line comes right before the line that uses it and carries
    that line's number."""
    expanded = expand_composites(equations)
    changed = expanded is not equations
    equations = expanded
    used = set()
    for eq in equations:
        used.add(eq.name)
        used.update(names_in(eq.tree))
    fresh = FreshNames(used)
    out: list[Equation] = []

    for eq in equations:
        before: list[Equation] = []

        def name_part(node, owner: str, **facts) -> Name:
            mark = len(before)
            node = walk(node, _PENDING)  # its own compound parts are parts of the new line
            target = fresh()  # numbered after them: u1, u2 … in the order the lines come
            for k in range(mark, len(before)):
                if before[k].of is _PENDING:
                    before[k] = replace(before[k], of=target)
            before.append(StagedEquation(target, node, eq.line, text_of(node), of=owner, **facts))
            return Name(target, getattr(node, "column", 0))

        def walk(node, owner: str):
            if _atomic(node):
                return node
            if isinstance(node, Call):
                args = tuple(a if _atomic(a) else name_part(a, owner, part="argument", function=node.func)
                             for a in node.args)
                return Call(node.func, args, node.column)
            if isinstance(node, BinOp):
                if node.op == "**" and not _atomic(node.left):
                    return BinOp(node.op, name_part(node.left, owner, part="base", exponent=node.right),
                                 walk(node.right, owner), node.column)
                return BinOp(node.op, walk(node.left, owner), walk(node.right, owner), node.column)
            if isinstance(node, Neg):
                return Neg(walk(node.operand, owner), node.column)
            if isinstance(node, Transpose):
                return Transpose(walk(node.operand, owner), node.column)
            return node

        tree = walk(eq.tree, eq.name)
        if before:
            changed = True
            out.extend(before)
            out.append(replace(eq, tree=tree) if isinstance(eq, StagedEquation)
                       else Equation(eq.name, tree, eq.line, eq.source))
        else:
            out.append(eq)
    return out if changed else equations


def staged_graph(graph):
    """``graph`` with its compound arguments named (``stage_equations``): a graph of the same
    class over the staged lines, with the same output and the inputs in the same order; the
    graph itself when nothing is compound."""
    equations = stage_equations(graph.equations)
    if equations is graph.equations:
        return graph
    return type(graph)(equations, graph.output, symbols=graph.symbols, inputs=list(graph.inputs),
                       tensor=graph.tensor)


def introduced(graph) -> list[StagedEquation]:
    """The lines of ``graph`` that the staging introduced, in order."""
    return [eq for eq in graph.equations if isinstance(eq, StagedEquation)]


__all__ = ["FreshNames", "StagedEquation", "expand_composites", "introduced", "stage_equations",
           "stage_expression", "staged_graph", "text_of"]
