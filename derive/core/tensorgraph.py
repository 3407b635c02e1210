"""The layer-level engine: staged equations over vectors and matrices.

Each line is evaluated into exact tensors (``derive.core.tensor``); every operation on the way —
``W @ x``, ``+ b``, ``relu``, ``softmax`` — is recorded on a tape with its vector–Jacobian product.
Reverse accumulation walks the tape once, backwards, summing where a tensor feeds several
operations, so the cost follows the matrix sizes and not the number of scalar paths.

Softmax followed by cross-entropy is differentiated as the pair: the gradient for the logits is
(p − y)/B directly, the identity every course derives, and exact (no e^z/Σe^z quotients to cancel).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

from sympy import S

from .approx import Undefined
from .engine import gc_paused
from .errors import GraphError, InvalidValue
from .functions import FUNCTIONS
from .parser import BinOp, Call, Equation, Name, Neg, Num, Transpose, names_in
from .tensor import (TENSOR_FUNCTIONS, Tensor, Where, apply_function, binary, binary_values,
                     matmul, negate_op, power, scalar, tensor_value, transpose_op, zeros)


def source_text(tree) -> str:
    """A short text of a sub-expression, for error messages (``W @ x``, ``(a - y)``)."""
    if isinstance(tree, Num):
        return tree.text
    if isinstance(tree, Name):
        return tree.id
    if isinstance(tree, Transpose):
        inner = source_text(tree.operand)
        return f"{inner}.T" if isinstance(tree.operand, (Name, Call)) else f"({inner}).T"
    if isinstance(tree, Neg):
        return f"-{source_text(tree.operand)}"
    if isinstance(tree, Call):
        return f"{tree.func}({', '.join(source_text(a) for a in tree.args)})"
    left, right = source_text(tree.left), source_text(tree.right)
    left = f"({left})" if isinstance(tree.left, BinOp) and tree.op not in "+-" else left
    right = f"({right})" if isinstance(tree.right, BinOp) else right
    return f"{left} {tree.op} {right}"


@dataclass
class TapeEntry:
    out: Tensor
    inputs: tuple
    vjp: object
    fused: Tensor | None = None  # cross-entropy after softmax: the logits get δ directly


class TensorGraph:
    """Staged tensor equations: inputs, a valid order, the output."""

    def __init__(self, equations: list[Equation], output: str | None = None,
                 inputs: list[str] | None = None):
        defined: dict[str, Equation] = {}
        for eq in equations:
            if eq.name in defined:
                raise GraphError(f"`{eq.name}` is assigned twice, on line {defined[eq.name].line} "
                                 f"and line {eq.line}; give the second one its own name")
            defined[eq.name] = eq
        self.uses = {eq.name: names_in(eq.tree) for eq in equations}
        found: dict[str, None] = {}
        for eq in equations:
            if eq.name in self.uses[eq.name]:
                raise GraphError(f"line {eq.line}: `{eq.name}` is defined in terms of itself; "
                                 f"use a new name for the new value")
            for n in self.uses[eq.name]:
                if n not in defined:
                    found.setdefault(n, None)
        if inputs is not None:
            ranked = {n: i for i, n in enumerate(inputs)}
            found = dict.fromkeys(sorted(found, key=lambda n: (ranked.get(n, len(ranked)),
                                                               list(found).index(n))))
        self.inputs = list(found)
        pending = {eq.name: sum(1 for u in self.uses[eq.name] if u in defined) for eq in equations}
        consumers: dict[str, list[str]] = {n: [] for n in defined}
        for eq in equations:
            for u in self.uses[eq.name]:
                if u in defined:
                    consumers[u].append(eq.name)
        ready = [(defined[n].line, n) for n, k in pending.items() if k == 0]
        heapq.heapify(ready)
        self.equations: list[Equation] = []
        while ready:
            _, name = heapq.heappop(ready)
            self.equations.append(defined[name])
            for c in consumers[name]:
                pending[c] -= 1
                if pending[c] == 0:
                    heapq.heappush(ready, (defined[c].line, c))
        if len(self.equations) < len(equations):
            stuck = sorted((defined[n].line, n) for n, k in pending.items() if k > 0)
            raise GraphError("the equations form a cycle through "
                             + ", ".join(f"`{n}` (line {line})" for line, n in stuck))
        self.nodes = [eq.name for eq in self.equations]
        self.by_name = defined
        if output is None:
            output = max(equations, key=lambda e: e.line).name
        if output not in defined:
            raise GraphError(f"output `{output}` is not a computed node; choose one of: "
                             + ", ".join(self.nodes))
        self.output = output


class TensorEvaluation:
    """Exact forward tensors and reverse-mode gradients of a TensorGraph at given values."""

    def __init__(self, graph: TensorGraph, values: dict, mistakes: frozenset = frozenset()):
        """``mistakes``: deliberate slips for diagnosing answers — "mask" (gates pass every
        gradient), "targets" (softmax + cross-entropy without subtracting y)."""
        self.graph = graph
        self.mistakes = frozenset(mistakes)
        self.values: dict[str, Tensor] = {}
        for name in graph.inputs:
            v = values[name]
            self.values[name] = v if isinstance(v, Tensor) else tensor_value(v, name)
        self.tape: list[TapeEntry] = []
        self.produced_by: dict[int, TapeEntry] = {}
        self._adjoints: dict[str, dict[str, Tensor]] = {}
        with gc_paused():
            for eq in graph.equations:
                try:
                    self.values[eq.name] = self._eval(eq.tree, eq)
                except Undefined as reason:
                    raise InvalidValue(f"line {eq.line}: `{eq.name} = {eq.source}` is undefined at "
                                      f"the given values: {reason}; change the values or the "
                                      f"equation") from None

    # -- forward --

    def _record(self, out: Tensor, inputs: tuple, vjp) -> Tensor:
        entry = TapeEntry(out, inputs, vjp)
        self.tape.append(entry)
        self.produced_by[id(out)] = entry
        return out

    def _eval(self, tree, eq: Equation) -> Tensor:
        if isinstance(tree, Num):
            t = scalar(tree.value)
            t.const = True
            return t
        if isinstance(tree, Name):
            return self.values[tree.id]
        where = Where(eq.line, tuple(source_text(a) for a in _operands(tree)))
        if isinstance(tree, Neg):
            x = self._eval(tree.operand, eq)
            return self._record(*_pair(negate_op(x, where), (x,)))
        if isinstance(tree, Transpose):
            x = self._eval(tree.operand, eq)
            return self._record(*_pair(transpose_op(x, where), (x,)))
        if isinstance(tree, BinOp):
            a, b = self._eval(tree.left, eq), self._eval(tree.right, eq)
            if tree.op == "@":
                return self._record(*_pair(matmul(a, b, where), (a, b)))
            if tree.op == "**":
                return self._record(*_pair(power(a, b, where), (a, b)))
            if tree.op in ("+", "-", "*", "/"):
                return self._record(*_pair(binary(tree.op, a, b, where), (a, b)))
            raise GraphError(f"line {eq.line}: comparisons are not allowed in equations")
        if isinstance(tree, Call):
            args = [self._eval(a, eq) for a in tree.args]
            if tree.func in TENSOR_FUNCTIONS:
                spec = TENSOR_FUNCTIONS[tree.func]
                if spec.after_softmax:
                    return self._after_softmax(spec, args, where)
                return self._record(*_pair(spec.op(*args, where), tuple(args)))
            spec = FUNCTIONS[tree.func]
            extra = []
            for i, t in enumerate(args[1:], start=1):
                if not t.scalar or not t.item().is_Rational:
                    raise GraphError(f"line {eq.line}: argument {i + 1} of `{tree.func}` must be a "
                                     f"number (it is applied to every entry of the first)")
                extra.append(t.item())
            extra += list(spec.defaults[len(args) - spec.min_arity:]) if len(args) < spec.arity else []
            return self._record(*_pair(apply_function(spec, args[0], tuple(extra), where,
                                                      "mask" in self.mistakes), (args[0],)))
        raise TypeError(f"not a syntax tree node: {tree!r}")

    def _after_softmax(self, spec, args, where: Where) -> Tensor:
        """A loss of probabilities (cross-entropy): when they come straight from a softmax, the
        pair is differentiated at once, the logits receiving δ directly."""
        p, y = args
        producer = self.produced_by.get(id(p))
        logits = None
        if producer is not None and getattr(producer.vjp, "softmax_of", None) is not None:
            logits = producer.vjp.softmax_of
        out, vjp = spec.op(p, y, where, logits, "targets" in self.mistakes)
        entry = TapeEntry(out, (p, y), vjp)
        entry.fused = logits
        self.tape.append(entry)
        self.produced_by[id(out)] = entry
        return out

    # -- reverse mode --

    def adjoints(self, of: str) -> dict[str, Tensor]:
        """∂of/∂n for every name n (a tensor of n's shape), by one reverse sweep of the tape."""
        if of in self._adjoints:
            return self._adjoints[of]
        target = self.values[of]
        if not target.scalar:
            raise GraphError(f"`{of}` is {'a vector' if target.a.shape[1] == 1 else 'a matrix'}; "
                             f"gradients are taken of a scalar (sum it, or pick a loss)")
        with gc_paused():
            adj: dict[int, Tensor] = {id(target): scalar(S.One)}
            shown: dict[int, Tensor] = {}  # reported but not propagated (p of softmax + CE)
            for entry in reversed(self.tape):
                G = adj.get(id(entry.out))
                if G is None:
                    continue
                result = entry.vjp(G)
                fused = None
                if isinstance(result, tuple):
                    result, fused = result
                for i, (inp, g) in enumerate(zip(entry.inputs, result)):
                    if g is None or inp.const or inp.index:
                        continue
                    if fused is not None and i == 0:
                        _accumulate(shown, inp, g)
                    else:
                        _accumulate(adj, inp, g)
                if fused is not None:
                    _accumulate(adj, entry.fused, fused)
            result = {}
            for name, t in self.values.items():
                g = adj.get(id(t))
                extra = shown.get(id(t))
                if g is not None and extra is not None:
                    g = _sum(g, extra)
                result[name] = g if g is not None else (extra if extra is not None else zeros(t.shape))
        self._adjoints[of] = result
        return result

    def grad(self, wrt: str, of: str) -> Tensor:
        return self.adjoints(of)[wrt]


def uses_tensor_syntax(equations: list[Equation]) -> bool:
    """True when an equation uses ``@``, ``.T`` or a tensor function (softmax, sum …)."""
    stack = [eq.tree for eq in equations]
    while stack:
        node = stack.pop()
        if isinstance(node, Transpose) or (isinstance(node, BinOp) and node.op == "@") or (
                isinstance(node, Call) and node.func in TENSOR_FUNCTIONS):
            return True
        stack.extend(_operands(node))
    return False


def _operands(tree) -> tuple:
    if isinstance(tree, BinOp):
        return (tree.left, tree.right)
    if isinstance(tree, Call):
        return tree.args
    if isinstance(tree, (Neg, Transpose)):
        return (tree.operand,)
    return ()


def _pair(op_result, inputs):
    out, vjp = op_result
    return out, inputs, vjp


def _sum(a: Tensor, b: Tensor) -> Tensor:
    return binary_values("+", a, b, a.shape, "Σ")


def _accumulate(adj: dict, t: Tensor, g: Tensor):
    key = id(t)
    adj[key] = g if key not in adj else _sum(adj[key], g)



def _shape_of_given(name: str, value) -> tuple:
    """A user's shape: [rows, columns], [n] (a column vector), [] or 1-free scalar forms."""
    from .errors import InvalidValue
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or len(value) > 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        raise InvalidValue(f"shapes: `{name}: {value!r}` is not a shape; write [rows, columns] "
                           f"(e.g. `W: [3, 2]`), [n] for a column vector or [] for a scalar")
    if not value:
        return ()
    return (value[0], 1) if len(value) == 1 else (value[0], value[1])


class ShapeEvaluation:
    """Shapes of every node from the inputs' shapes alone, for a symbolic matrix derivation
    (no values): the same shape rules, and the same messages, as the evaluation with numbers.

    >>> from derive.core.parser import parse_equations
    >>> from derive.core.tensor import TENSOR_FUNCTIONS
    >>> g = TensorGraph(parse_equations("z = W @ x + b\\nL = sum(z)", {**FUNCTIONS, **TENSOR_FUNCTIONS}))
    >>> ShapeEvaluation(g, {"W": [3, 2], "x": [2], "b": [3]}).shapes["z"]
    (3, 1)
    """

    def __init__(self, graph: TensorGraph, shapes: dict):
        from .errors import InvalidValue
        unknown = [k for k in shapes if k not in graph.inputs]
        if unknown:
            raise InvalidValue(f"shapes given for unknown name(s) {', '.join(map(repr, unknown))}; "
                               f"the inputs are: {', '.join(graph.inputs)}")
        missing = [n for n in graph.inputs if n not in shapes]
        if missing:
            raise InvalidValue(f"missing shape(s) for {', '.join(missing)}; give every input a "
                               f"shape, e.g. `{missing[0]}: [3, 1]`")
        self.graph = graph
        self.shapes = {n: _shape_of_given(n, shapes[n]) for n in graph.inputs}
        for eq in graph.equations:
            self.shapes[eq.name] = self._shape(eq.tree, eq)

    def _shape(self, tree, eq: Equation) -> tuple:
        from .tensor import ShapeError, shape_text
        if isinstance(tree, Num):
            return ()
        if isinstance(tree, Name):
            return self.shapes[tree.id]
        where = Where(eq.line, tuple(source_text(a) for a in _operands(tree)))
        if isinstance(tree, Neg):
            return self._shape(tree.operand, eq)
        if isinstance(tree, Transpose):
            s = self._shape(tree.operand, eq)
            return s if s == () else (s[1], s[0])
        if isinstance(tree, BinOp):
            a, b = self._shape(tree.left, eq), self._shape(tree.right, eq)
            if tree.op == "@":
                if a == () or b == ():
                    raise ShapeError(f"{where.prefix()}`@` multiplies vectors and matrices; "
                                     f"{where.text(0 if a == () else 1, 'an operand')} is a scalar "
                                     f"— use * to scale by a number")
                if a[1] != b[0]:
                    left, right = where.text(0, "A"), where.text(1, "B")
                    raise ShapeError(f"{where.prefix()}{left} @ {right} needs {right} with {a[1]} "
                                     f"rows ({left} is {a[0]}×{a[1]}), got {b[0]} (it is "
                                     f"{b[0]}×{b[1]}); transpose one of them or fix the shapes")
                return (a[0], b[1])
            if a == ():
                return b
            if b == ():
                return a
            r = a[0] if a[0] == b[0] or b[0] == 1 else (b[0] if a[0] == 1 else None)
            c = a[1] if a[1] == b[1] or b[1] == 1 else (b[1] if a[1] == 1 else None)
            if r is None or c is None:
                raise ShapeError(f"{where.prefix()}{where.text(0, 'the left side')} {tree.op} "
                                 f"{where.text(1, 'the right side')} needs equal shapes (or one "
                                 f"that broadcasts: a scalar, a column vector over columns, a row "
                                 f"over rows), got {shape_text(a)} and {shape_text(b)}")
            return (r, c)
        if isinstance(tree, Call):
            shapes = [self._shape(a, eq) for a in tree.args]
            if tree.func in TENSOR_FUNCTIONS:
                spec = TENSOR_FUNCTIONS[tree.func]
                numbers = [a.value if isinstance(a, Num) else None for a in tree.args]
                if spec.shape is None:
                    if shapes[0] == () and spec.layer:
                        raise ShapeError(f"{where.prefix()}{tree.func} needs a vector (or a batch "
                                         f"of vectors as columns); {where.text(0, 'its argument')} "
                                         f"is a scalar")
                    return shapes[0]
                return spec.shape(shapes, numbers)
            for i, s in enumerate(shapes[1:], start=1):
                if s != () or not isinstance(tree.args[i], Num):
                    raise GraphError(f"line {eq.line}: argument {i + 1} of `{tree.func}` must be a "
                                     f"number (it is applied to every entry of the first)")
            return shapes[0]
        raise TypeError(f"not a syntax tree node: {tree!r}")
