"""The engine: staged equations -> graph -> exact forward values -> local derivatives -> gradients.

Differentiation is staged. Each edge gets its local derivative (``sympy.diff`` of one small line);
gradients are combined by the chain rule in reverse topological order (adjoint accumulation),
summing over consumers where a node fans out. The composed formula is never differentiated as a
whole, and every traversal is iterative, so depth is no problem.

Exactness at depth: values such as σ(w·σ(w·σ(…))) nest as deep as the network. SymPy recurses
through nested expressions (hashing, assumptions, evalf, retrying precision) — slow already at
depth 10 and a stack overflow near 1000 — so every irrational value is held as a ``Quantity``: an
exact number that stands for its (shallow) definition, carries a 60-digit approximation, and looks
like an atom to SymPy. The public API expands Quantities back into explicit form when that is small
(``1/(1 + exp(-7))``).
"""
from __future__ import annotations

import functools
import gc
import hashlib
import heapq
import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType

import sympy as sp
from sympy import S
from sympy.core.expr import AtomicExpr

import mpmath

from .approx import DIGITS, Undefined, approx
from .derivation import (AdjointStep, Derivation, ForwardStep, LocalStep, PathTerm, Subst,
                         Update, ordered_symbols)
from . import budget
from .errors import GraphError, UndefinedValue
from .exact import domain, may_hide_undefined, substitute
from .functions import BY_CLASS, Sentence
from .parser import Equation, names_in, to_sympy

MAX_PATHS = 24  # show the sum over paths only up to this many paths
MAX_PATH_GRAPH = 60  # ... and only for graphs up to this many nodes


# --- exact numbers that stay small for SymPy --------------------------------------------------


class Quantity(AtomicExpr):
    """An exact real number defined by a shallow expression over Rationals and other Quantities.

    SymPy sees an atom, so nothing recurses through the definition; its sign and its evalf come
    from a 60-digit approximation computed once, straight-line (``derive.core.approx``). Two
    Quantities with the same definition are equal (a fingerprint of the definition, computed once
    from the fingerprints of the Quantities inside it, so comparing deep values never recurses).
    It prints as its approximation, converts with ``float()`` and ``sympy.N``, and ``doit()``
    gives the explicit exact form.

    >>> import sympy as sp
    >>> q = compact("a", 1 / (1 + sp.exp(-7)))
    >>> q
    ≈ 0.9991…
    >>> float(q) == float(sp.N(q)), q.doit()
    (True, 1/(exp(-7) + 1))
    >>> q == compact("another label", 1 / (1 + sp.exp(-7)))
    True
    """

    is_number = True
    is_commutative = True
    is_extended_real = True
    is_real = True
    is_finite = True
    is_comparable = True

    __slots__ = ("label", "definition", "approx_mpf", "_key")

    def __new__(cls, label: str, definition: sp.Expr, approx_mpf):
        obj = AtomicExpr.__new__(cls)
        obj.label = label
        obj.definition = definition
        obj.approx_mpf = approx_mpf
        obj._key = _fingerprint(definition)
        return obj

    def _hashable_content(self):
        return (self._key,)

    @staticmethod
    def unique_key() -> bytes:
        """A key for a subclass whose definition is built lazily (it cannot be fingerprinted
        up front): such a Quantity equals only itself."""
        return b"U%d" % next(_SERIAL)

    def __getnewargs__(self):
        return (self.label, self.definition, self.approx_mpf)

    @property
    def free_symbols(self):
        return set()

    def _eval_evalf(self, prec):
        from mpmath.libmp import prec_to_dps
        dps = prec_to_dps(prec)
        if dps <= DIGITS - 5:
            return sp.Float(self.approx_mpf, dps)
        return expand_quantities(self).evalf(dps)

    def _decided(self) -> bool:
        return abs(self.approx_mpf) > _TINY

    def _eval_is_extended_positive(self):
        return bool(self.approx_mpf > 0) if self._decided() else None

    def _eval_is_extended_negative(self):
        return bool(self.approx_mpf < 0) if self._decided() else None

    def _eval_is_zero(self):
        return False if self._decided() else None

    def _eval_is_integer(self):
        return False if self.approx_mpf != int(self.approx_mpf) else None

    def _eval_is_rational(self):
        return None

    def doit(self, **hints):
        """The explicit exact form (every nested Quantity replaced by its definition), built
        without re-evaluating (SymPy would re-walk the tower at every level). For a deep
        network this is a tower of nested exponentials: ask for it only when you need it."""
        order, seen, stack = [], {self}, [(self, False)]
        while stack:  # dependencies first (iterative post-order over the Quantities)
            q, done = stack.pop()
            if done:
                order.append(q)
                continue
            stack.append((q, True))
            for inner in q.definition.atoms(Quantity):
                if inner not in seen:
                    seen.add(inner)
                    stack.append((inner, False))
        explicit: dict = {}
        for q in order:
            explicit[q] = _replace(q.definition, explicit)
        return explicit[self]

    def _readable(self) -> str:
        from .numbers import significant
        return "≈ " + significant(self, 4).replace("-", "−") + "…"

    def _sympystr(self, printer):
        return self._readable()

    def _latex(self, printer):
        from .numbers import significant
        text = significant(self, 4)
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = rf"{mantissa} \times 10^{{{int(exponent)}}}"
        return rf"\approx {text}\ldots"

    def _repr_latex_(self):
        return f"${self._latex(None)}$"


def _replace(expr: sp.Basic, mapping: dict) -> sp.Basic:
    """``expr`` with atoms replaced, unevaluated (recurses only as deep as ``expr`` itself)."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    args = [_replace(a, mapping) for a in expr.args]
    if all(a is b for a, b in zip(args, expr.args)):
        return expr
    return expr.func(*args, evaluate=False)


_SERIAL = itertools.count()


def _int_bytes(n: int) -> bytes:
    return n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True)


def _fingerprint(expr: sp.Expr) -> bytes:
    """A digest of ``expr``'s tree (prefix order with arities, so unambiguous), with nested
    Quantities entering by their own fingerprints: iterative, and linear in the size of the
    definition (huge integers are hashed as bytes, never turned into decimal strings)."""
    h = hashlib.blake2b(digest_size=20)
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, Quantity):
            h.update(b"Q" + e._key)
        elif e.is_Rational:
            h.update(b"R" + _int_bytes(int(e.p)) + b"/" + _int_bytes(int(e.q)))
        elif e.is_Symbol:
            h.update(b"S" + e.name.encode() + b";")
        elif e.is_Float:
            h.update(b"F" + repr(e._mpf_).encode())
        elif not e.args:
            h.update(b"A" + sp.srepr(e).encode() + b";")
        else:
            h.update(b"(" + type(e).__name__.encode() + b"%d;" % len(e.args))
            stack.extend(reversed(e.args))
    return h.digest()


_TINY = mpmath.mpf(10) ** (20 - DIGITS)


PUBLIC_EXPANSION_LIMIT = 12  # Quantities (transitively) that the API expands into explicit form


def public_form(expr: sp.Expr) -> sp.Expr:
    """What the API hands out: exact SymPy that never shows engine internals. Small results are
    expanded into the explicit form (``1/(1 + exp(-7))``); deep ones become one ``Quantity``
    (still exact; prints as ``≈ 2.534e−12…``, ``doit()`` expands it) — the explicit form of a deep
    sigmoid chain is a tower of nested exponentials that SymPy itself cannot evaluate in
    reasonable time.

    >>> public_form(compact("a", 1 / (1 + sp.exp(-7))))
    1/(exp(-7) + 1)
    """
    if not isinstance(expr, sp.Basic):
        return expr
    return _public_form(expr, budget.current().max_magnitude)


# Checks and documents hand out the same values many times. (The magnitude limit is part of the
# key: a deep value is compacted, which checks its size.)
@functools.lru_cache(maxsize=4096)
def _public_form(expr: sp.Basic, max_magnitude: int) -> sp.Expr:
    seen: set = set()
    stack = list(expr.atoms(Quantity))
    while stack:
        q = stack.pop()
        if q in seen:
            continue
        seen.add(q)
        if len(seen) > PUBLIC_EXPANSION_LIMIT:
            return expr if isinstance(expr, Quantity) else compact("value", expr)
        stack.extend(q.definition.atoms(Quantity))
    if not seen:
        return expr
    if _expanded_size(expr, PUBLIC_EVALUATED_NODES) > PUBLIC_EVALUATED_NODES and _transcendental(expr):
        return _spelled_out(expr)
    return expand_quantities(expr)


# Larger explicit forms are built as they stand, not re-evaluated: a size counted before the form
# is built, not a time, so the same input gives the same output on any machine.
PUBLIC_EVALUATED_NODES = 60


def _transcendental(expr: sp.Basic) -> bool:
    """Whether the explicit form applies a function (exp, sin, erf …): re-evaluating those is the
    slow part, while algebraic forms (roots, quotients) may simplify to a Rational and must."""
    seen, stack = set(), [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Quantity):
            if node not in seen:
                seen.add(node)
                stack.append(node.definition)
            continue
        if isinstance(node, sp.Function):
            return True
        stack.extend(node.args)
    return False


def _spelled_out(expr: sp.Basic) -> sp.Basic:
    """``expand_quantities(expr)`` without SymPy re-evaluating each rebuilt node: the definitions
    are evaluated already, and evaluating ``sin``, ``erf`` and ``exp`` of a large exact argument
    again asks SymPy's assumptions (and evalf) about it at every level — seconds for a 100-node
    gradient of eight lines."""
    done: dict = {}
    stack = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if isinstance(node, Quantity):
            inner = node.definition
            if inner in done:
                done[node] = done[inner]
            else:
                stack += [(node, False), (inner, False)]
            continue
        if not node.args:
            done[node] = node
            continue
        if not expanded:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in done)
            continue
        args = [done[a] for a in node.args]
        if all(a is b for a, b in zip(args, node.args)):
            done[node] = node
            continue
        try:
            done[node] = node.func(*args, evaluate=False)
        except TypeError:  # a class without the option
            done[node] = node.func(*args)
    return done[expr]


def _expanded_size(expr: sp.Basic, limit: int) -> int:
    """Tree nodes of ``expand_quantities(expr)``, counted without building it (at most past
    ``limit``): each Quantity counts as its definition."""
    count, stack = 0, [expr]
    while stack and count <= limit:
        node = stack.pop()
        if isinstance(node, Quantity):
            stack.append(node.definition)
            continue
        count += 1
        stack.extend(node.args)
    return count


def expand_quantities(expr: sp.Expr, limit: int | None = None):
    """Replace every Quantity by its definition (the fully explicit exact form). With ``limit``,
    give up (return None) once the expression grows past ``limit`` tree nodes."""
    while True:
        quantities = expr.atoms(Quantity)
        if not quantities:
            return expr
        expr = expr.xreplace({q: q.definition for q in quantities})
        if limit is not None and _size(expr, limit) > limit:
            return None


def _size(expr: sp.Basic, limit: int) -> int:
    """Number of tree nodes in ``expr``, counting at most ``limit`` (iterative)."""
    count, stack = 0, [expr]
    while stack and count <= limit:
        node = stack.pop()
        count += 1
        stack.extend(node.args)
    return count


_BAD = (S.ComplexInfinity, S.NaN, S.Infinity, S.NegativeInfinity, S.ImaginaryUnit)


def compact(label: str, expr: sp.Expr) -> sp.Expr:
    """``expr`` as a Rational if it is one, else as a Quantity. Raises ``Undefined``."""
    if expr.is_Rational:
        budget.check_rational(expr, label)
        return expr
    if isinstance(expr, Quantity):
        return expr
    if expr.has(*_BAD):
        raise Undefined(f"{sp.sstr(expr)} is not a finite real number")
    return Quantity(label, expr, approx(expr))


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while thousands of long-lived SymPy objects are
    built: its collections grow with the heap and would make deep graphs superlinear."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- the graph -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One computed node ``name = expr``."""

    name: str
    symbol: sp.Symbol
    expr: sp.Expr  # evaluated SymPy form: values and derivatives come from here
    display: sp.Expr  # as written, for documents
    parents: tuple  # names used by expr, in order of first appearance
    line: int | None
    source: str


class Graph:
    """The DAG of staged equations: inputs, nodes in a deterministic topological order, output.

    One graph for every kind of value. The structure (inputs in a builder's order, nodes in
    order, the output, consumers, and the checks for a name assigned twice, a cycle, an unknown
    output) is built here, once. A scalar graph (the default) also holds each node's SymPy
    expression, which ``Evaluation`` differentiates; a tensor graph (``tensor=True``: ``@``,
    ``.T``, softmax … over vectors and matrices) keeps the parsed trees only, which
    ``derive.core.tensor.TensorEvaluation`` evaluates (its nodes' ``expr`` and ``display`` are
    None).

    >>> from derive.core.parser import parse_equations
    >>> from derive.core.functions import FUNCTIONS
    >>> from derive.core.tensor import TENSOR_FUNCTIONS
    >>> g = Graph(parse_equations("z = W @ x\\nL = sum(z)", {**FUNCTIONS, **TENSOR_FUNCTIONS}), tensor=True)
    >>> g.inputs, list(g.nodes), g.output, g.consumers["z"]
    (['W', 'x'], ['z', 'L'], 'L', ['L'])
    """

    def __init__(self, equations: list[Equation], output: str | None = None, symbols=None,
                 inputs: list[str] | None = None, tensor: bool = False):
        defined: dict[str, Equation] = {}
        for eq in equations:
            if eq.name in defined:
                first = defined[eq.name]
                raise GraphError(
                    f"`{eq.name}` is assigned twice, on line {first.line} and line {eq.line}; "
                    f"every name is defined once — give the second one its own name "
                    f"(e.g. `{eq.name}2`)")
            defined[eq.name] = eq
        uses = {eq.name: names_in(eq.tree) for eq in equations}
        for eq in equations:
            if eq.name in uses[eq.name]:
                raise GraphError(f"line {eq.line}: `{eq.name}` is defined in terms of itself; "
                                 f"use a new name for the new value (e.g. `{eq.name}2 = …`)")
        order_hint = inputs
        inputs: dict[str, None] = {}
        for eq in equations:
            for name in uses[eq.name]:
                if name not in defined:
                    inputs.setdefault(name, None)
        if order_hint is not None:  # a builder's preferred order (x, w, b, y), where it fits
            ranked = {name: i for i, name in enumerate(order_hint)}
            inputs = dict.fromkeys(sorted(inputs, key=lambda n: (ranked.get(n, len(ranked)), list(inputs).index(n))))
        self.inputs: list[str] = list(inputs)
        self.symbols: dict[str, sp.Symbol] = dict(symbols or {})
        for name in list(inputs) + [eq.name for eq in equations]:
            self.symbols.setdefault(name, sp.Symbol(name, real=True))
        budget.check_nodes(len(self.inputs) + len(equations))
        order = self._topological_order(equations, uses, defined)
        self.tensor = tensor
        self.equations: list[Equation] = order  # in evaluation order
        self.by_name: dict[str, Equation] = defined
        self.uses: dict[str, list[str]] = uses  # names each line uses, in order of first use
        self.nodes: dict[str, Node] = {}
        for eq in order:
            if tensor:  # evaluated from its tree by the tensor evaluator
                self.nodes[eq.name] = Node(eq.name, self.symbols[eq.name], None, None,
                                           tuple(uses[eq.name]), eq.line, eq.source)
                continue
            try:
                evaluated = to_sympy(eq.tree, self.symbols, True)
                shown = to_sympy(eq.tree, self.symbols, False)
            except RecursionError:
                raise budget.BudgetError("max_nesting", f"line {eq.line}: `{eq.name} = …` is nested "
                                         f"too deeply to process") from None
            except budget.BudgetError as e:
                raise e.located(f"line {eq.line}") from None
            self.nodes[eq.name] = Node(eq.name, self.symbols[eq.name], evaluated, shown,
                                       tuple(uses[eq.name]), eq.line, eq.source)
        if output is None:
            output = max(equations, key=lambda e: e.line).name
        if output not in self.nodes:
            known = ", ".join(self.nodes)
            raise GraphError(f"output `{output}` is not a computed node; choose one of: {known}")
        self.output = output
        self.consumers: dict[str, list[str]] = {name: [] for name in self.inputs + list(self.nodes)}
        for node in self.nodes.values():
            for parent in node.parents:
                self.consumers[parent].append(node.name)
        self.position = {name: i for i, name in enumerate(self.inputs + list(self.nodes))}
        # What depends only on the graph, never on the numbers: computed once per graph, so the
        # evaluations of many values (homework variants, training steps, mistake scenarios)
        # share it. A Graph is not changed after it is built.
        self._rules: dict[tuple[str, str], sp.Expr] = {}
        self._applied: dict[tuple[str, str], list] = {}
        self._paths: dict[tuple[str, str, int], list | None] = {}

    @staticmethod
    def _topological_order(equations, uses, defined):
        """Kahn's algorithm, ties broken by line number: the order the user wrote, when valid."""
        pending = {eq.name: sum(1 for u in uses[eq.name] if u in defined) for eq in equations}
        consumers: dict[str, list[str]] = {name: [] for name in defined}
        for eq in equations:
            for u in uses[eq.name]:
                if u in defined:
                    consumers[u].append(eq.name)
        ready = [(defined[n].line, n) for n, k in pending.items() if k == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            _, name = heapq.heappop(ready)
            order.append(defined[name])
            for c in consumers[name]:
                pending[c] -= 1
                if pending[c] == 0:
                    heapq.heappush(ready, (defined[c].line, c))
        if len(order) < len(equations):
            stuck = {n for n, k in pending.items() if k > 0}
            cycle = Graph._find_cycle(stuck, uses, defined)
            where = ", ".join(f"`{n}` (line {defined[n].line})" for n in cycle[:-1])
            raise GraphError(f"the equations form a cycle: {' -> '.join(cycle)}; "
                             f"involved: {where}. Each value may only use values defined "
                             f"without it")
        return order

    @staticmethod
    def _find_cycle(stuck, uses, defined):
        start = min(stuck, key=lambda n: defined[n].line)
        path, seen = [start], {start: 0}
        while True:
            nxt = next(u for u in uses[path[-1]] if u in stuck)
            if nxt in seen:
                cycle = path[seen[nxt]:] + [nxt]
                return list(reversed(cycle))
            seen[nxt] = len(path)
            path.append(nxt)

    def ancestors(self, name: str) -> set[str]:
        seen, stack = set(), [name]
        while stack:
            n = stack.pop()
            if n in self.nodes:
                for p in self.nodes[n].parents:
                    if p not in seen:
                        seen.add(p)
                        stack.append(p)
        return seen

    def line_of(self, name: str) -> str:
        node = self.nodes.get(name)
        return f"line {node.line}: " if node and node.line else ""


# --- evaluation ------------------------------------------------------------------------------


def _diagnose(expr: sp.Expr, subs: dict, reason: Exception) -> str:
    """Name the first sub-expression of ``expr`` that is undefined at ``subs`` (postorder)."""
    stack, post = [expr], []
    while stack:
        e = stack.pop()
        post.append(e)
        stack.extend(e.args)
    for e in reversed(post):
        if not e.args or not isinstance(e, (sp.log, sp.Pow)):
            continue
        try:
            approx(e.xreplace(subs)) if not e.xreplace(subs).has(*_BAD) else approx(
                type(e)(*[a.xreplace(subs) for a in e.args], evaluate=False))
        except Undefined as inner:
            return f"{inner} in {sp.sstr(e)}"
        except Exception:  # pragma: no cover - fall back to the outer reason
            break
    return str(reason)


_GRAPHS: dict = {}  # (text, output, inputs, registry, limits) -> (Graph, the registry's specs)
_GRAPHS_SIZE = 32


def graph_of(text: str, output: str | None = None, inputs: list[str] | None = None,
             equations: list[Equation] | None = None) -> Graph:
    """``Graph(parse_equations(text), output, inputs=inputs)``, built once per text. A Graph is
    never changed after it is built, so examples with the same equations and other numbers (a
    homework's variants, a student's retries, a course's neurons) share it and the facts it
    remembers: symbolic local derivatives, paths, function applications.

    >>> graph_of("z = w*x\\nL = z**2") is graph_of("z = w*x\\nL = z**2")
    True

    The function registry is part of the key, so a function registered or replaced later is
    parsed with its new meaning; so are the budget limits the graph was checked against.
    ``equations``: ``text`` already parsed (used when the graph is not known yet).
    """
    from .functions import FUNCTIONS
    from .parser import parse_equations
    specs = tuple(FUNCTIONS.items())
    # Specs enter the key by identity (a FunctionSpec holds dicts, so it has no hash); the cache
    # keeps them alive with the graph, so an id is never reused while its key exists.
    key = (text, output, None if inputs is None else tuple(inputs),
           tuple((name, id(spec)) for name, spec in specs), budget.current())
    hit = _GRAPHS.get(key)
    if hit is not None:
        return hit[0]
    graph = Graph(parse_equations(text) if equations is None else equations, output, inputs=inputs)
    if len(_GRAPHS) >= _GRAPHS_SIZE:
        del _GRAPHS[next(iter(_GRAPHS))]  # the oldest
    _GRAPHS[key] = (graph, specs)
    return graph


def _short(v: sp.Expr) -> str:
    from .numbers import format_number
    return format_number(v, 4)


_HIDES_UNDEFINED: dict = {}  # (node expr, display) -> whether simplification removed a partial op


def _may_hide_undefined(graph, node) -> bool:
    key = (node.expr, node.display)
    known = _HIDES_UNDEFINED.get(key)
    if known is None:
        if len(_HIDES_UNDEFINED) > 20000:
            _HIDES_UNDEFINED.clear()
        known = _HIDES_UNDEFINED[key] = may_hide_undefined(node.display, node.expr)
    return known


class Evaluation:
    """Exact forward values and gradients of a graph at given input values (or symbolically)."""

    def __init__(self, graph: Graph, values: dict[str, sp.Expr] | None):
        self.graph = graph
        self.symbolic = values is None
        self.values: dict[str, sp.Expr] = {}
        self._subs: dict[sp.Symbol, sp.Expr] = {}
        self._local: dict[tuple[str, str], LocalStep] = {}
        self._adjoints: dict[str, dict[str, sp.Expr]] = {}
        self._roots_at_zero: dict[str, list] = {}  # node -> written roots u**p with u = 0 here
        if values is not None:
            for name in graph.inputs:
                self.values[name] = values[name]
                self._subs[graph.symbols[name]] = values[name]
            with gc_paused():
                self._forward()

    def _forward(self):
        """Exact forward values in topological order."""
        graph = self.graph
        for node in graph.nodes.values():
            try:
                if _may_hide_undefined(graph, node):  # x/x, sqrt(x)**2: checked as written
                    self._roots_at_zero[node.name] = domain(node.display, self._subs)
                value = substitute(node.expr, self._subs)
            except Undefined as reason:  # named precisely where it arose (sqrt(x) with x = -1)
                raise UndefinedValue(
                    f"{graph.line_of(node.name)}`{node.name} = {node.source}` is undefined at "
                    f"the given values: {reason}; change the values or the equation") from None
            except budget.BudgetError as e:
                raise e.located(f"{graph.line_of(node.name)}`{node.name}`".rstrip()) from None
            try:
                value = compact(node.name, value)
            except budget.BudgetError as e:
                raise e.located(f"{graph.line_of(node.name)}`{node.name}`".rstrip()) from None
            except Undefined as reason:
                raise UndefinedValue(
                    f"{graph.line_of(node.name)}`{node.name} = {node.source}` is undefined at "
                    f"the given values: {_diagnose(node.expr, self._subs, reason)}; change "
                    f"the values or the equation") from None
            self.values[node.name] = value
            self._subs[node.symbol] = value

    # -- values of expressions in the graph's symbols (for documents) --

    def at(self, expr: sp.Expr) -> sp.Expr:
        """The exact value of any expression in the graph's symbols at the given values."""
        return compact("value", expr.xreplace(self._subs))

    def substituted(self, expr: sp.Expr) -> Subst:
        """``expr`` with its symbols' values shown in place, not evaluated (3 · 2 + 1)."""
        return Subst(expr, tuple((s, self._subs[s]) for s in _ordered_symbols(expr)))

    # -- local derivatives, one per edge --

    def symbolic_local(self, of: str, wrt: str) -> sp.Expr:
        key = (of, wrt)
        rules = self.graph._rules
        if key not in rules:
            node = self.graph.nodes[of]
            rules[key] = _local_rule(node.expr, node.parents, wrt, self.graph.symbols)
        return rules[key]

    def local(self, of: str, wrt: str) -> LocalStep:
        key = (of, wrt)
        if key in self._local:
            return self._local[key]
        graph = self.graph
        node = graph.nodes[of]
        symbolic = self.symbolic_local(of, wrt)
        for root, bases in self._roots_at_zero.get(of, ()):
            if graph.symbols[wrt] in bases:  # simplification removed it: ∂ would come out finite
                raise UndefinedValue(
                    f"{graph.line_of(of)}the derivative of `{of} = {node.source}` with respect to "
                    f"`{wrt}` is undefined at the given values: the root {sp.sstr(root)} has an "
                    f"infinite derivative where {sp.sstr(root.base)} = 0; change the values or the "
                    f"equation")
        if self.symbolic:
            step = LocalStep(of, wrt, symbolic, None, None, self._justify(node, wrt), False)
        else:
            try:
                value = compact(f"∂{of}/∂{wrt}", substitute(symbolic, self._subs))
            except budget.BudgetError as e:
                raise e.located(f"{graph.line_of(of)}∂{of}/∂{wrt}") from None
            except Undefined as reason:
                raise UndefinedValue(
                    f"{graph.line_of(of)}the derivative of `{of} = {node.source}` with respect to "
                    f"`{wrt}` is undefined at the given values: "
                    f"{_diagnose(symbolic, self._subs, reason)}; change the values or the "
                    f"equation") from None
            shown = tuple((s, self._subs[s]) for s in _ordered_symbols(symbolic))
            kink = self._at_kink(node, wrt)
            step = LocalStep(of, wrt, symbolic, Subst(symbolic, shown), value,
                             self._justify(node, wrt), kink)
        self._local[key] = step
        return step

    def _applications(self, node: Node, wrt: str):
        """Registry function applications in ``node`` whose argument depends on ``wrt``."""
        key = (node.name, wrt)
        known = self.graph._applied.get(key)
        if known is not None:
            return known
        sym = self.graph.symbols[wrt]
        every = self.graph._applied.get((node.name, None))
        if every is None:  # one walk per node, not per parent (a sum of n inputs has n parents)
            every, stack = [], [node.expr]
            while stack:
                e = stack.pop()
                spec = BY_CLASS.get(type(e))
                if spec is not None:
                    every.append((spec, e))
                stack.extend(reversed(e.args))
            self.graph._applied[(node.name, None)] = every
        found = [(spec, e) for spec, e in every if sym in e.free_symbols]
        self.graph._applied[key] = found
        return found

    def _at_kink(self, node: Node, wrt: str) -> bool:
        for spec, app in self._applications(node, wrt):
            if spec.kink and spec.kink([a.xreplace(self._subs) for a in app.args]):
                return True
        return False

    def _justify(self, node: Node, wrt: str) -> tuple:
        sentences = []
        for spec, app in self._applications(node, wrt):
            arg = app.args[0]
            if spec.justify_call is not None:  # needs every argument (max, min: which one wins)
                argvals = None if self.symbolic else [a.xreplace(self._subs) for a in app.args]
                sentences.append(spec.justify_call(app, argvals, self.graph.symbols[wrt]))
                continue
            if self.symbolic:
                sentences.append(spec.justify(arg, None, False))
                continue
            argvals = [a.xreplace(self._subs) for a in app.args]
            at_kink = bool(spec.kink and spec.kink(argvals))
            sentences.append(spec.justify(arg, argvals[0], at_kink))
        if not sentences:
            sym = self.graph.symbols[wrt]
            d = self.symbolic_local(node.name, wrt)
            if not d.has(sym) and (node.expr.is_Add or node.expr.is_Mul):
                sentences.append(Sentence("{0} is linear in {1}; its coefficient is the derivative",
                                          (node.symbol, sym)))
            elif any(e.is_Pow and e.has(sym) and not e.exp.has(sym) for e in sp.preorder_traversal(node.expr)):
                sentences.append(Sentence("by the power rule and the chain rule"))
            else:
                sentences.append(Sentence("by the sum, product and chain rules"))
        return tuple(sentences)

    # -- reverse mode --

    def adjoints(self, of: str) -> dict[str, sp.Expr]:
        """∂of/∂n for every node n that ``of`` depends on, by reverse accumulation."""
        if of in self._adjoints:
            return self._adjoints[of]
        with gc_paused():
            return self._accumulate(of)

    def _accumulate(self, of: str) -> dict[str, sp.Expr]:
        if self.symbolic:
            adjoint = accumulate(self.graph, of, self.symbolic_local)
            adjoint = {n: _common_factor(v) for n, v in adjoint.items()}
        else:
            # Final once every consumer has contributed: then held compact, so a deep chain's
            # adjoints stay shallow.
            adjoint = accumulate(self.graph, of, lambda c, p: self.local(c, p).value,
                                 settle=lambda n, v: compact(f"∂{of}/∂{n}", v))
        self._adjoints[of] = adjoint
        return adjoint

    def grad(self, wrt: str, of: str) -> sp.Expr:
        self._hidden_roots(wrt, of)
        return self.adjoints(of).get(wrt, S.Zero)

    def _hidden_roots(self, wrt: str, of: str) -> None:
        """A root at 0 in a line as written whose dependency on ``wrt`` simplification removed
        (``x**(1/3) - x**(1/3)`` at 0 has no edge to x, but its derivative is ∞ − ∞)."""
        graph = self.graph
        for name, roots in self._roots_at_zero.items():
            if wrt in graph.nodes[name].parents:
                continue  # the edge exists: ``local`` refuses it
            for root, bases in roots:
                if graph.symbols.get(wrt) in bases and (name == of or self.paths(name, of, 1) != []):
                    node = graph.nodes[name]
                    raise UndefinedValue(
                        f"{graph.line_of(name)}the derivative of `{name} = {node.source}` with "
                        f"respect to `{wrt}` is undefined at the given values: the root "
                        f"{sp.sstr(root)} has an infinite derivative where {sp.sstr(root.base)} = 0; "
                        f"change the values or the equation")

    def paths(self, wrt: str, of: str, limit: int = MAX_PATHS) -> list[tuple[str, ...]] | None:
        """Every path wrt -> … -> of (deterministic order), or None if more than ``limit``."""
        key = (wrt, of, limit)
        if key not in self.graph._paths:
            self.graph._paths[key] = self._find_paths(wrt, of, limit)
        found = self.graph._paths[key]
        return None if found is None else list(found)

    def _find_paths(self, wrt: str, of: str, limit: int):
        graph = self.graph
        relevant = graph.ancestors(of) | {of}
        if wrt not in relevant:
            return []
        found: list[tuple[str, ...]] = []
        stack = [(wrt,)]
        while stack:
            path = stack.pop()
            last = path[-1]
            if last == of:
                found.append(path)
                if len(found) > limit:
                    return None
                continue
            for c in reversed(graph.consumers[last]):
                if c in relevant:
                    stack.append(path + (c,))
        return found

    def derivation(self, wrt: str, of: str, lr: sp.Expr | None = None) -> Derivation:
        graph = self.graph
        relevant = graph.ancestors(of) | {of}
        forward = []
        for node in graph.nodes.values():
            if node.name not in relevant:
                continue
            if self.symbolic:
                forward.append(ForwardStep(node.name, node.display, None, None, node.line, node.parents))
            else:
                shown = tuple((s, self._subs[s]) for s in _ordered_symbols(node.display))
                forward.append(ForwardStep(node.name, node.display, Subst(node.display, shown),
                                           self.values[node.name], node.line, node.parents))
        descendants = _descendants(graph, wrt) & relevant
        local = [self.local(n, p) for n in graph.nodes if n in descendants
                 for p in graph.nodes[n].parents if p == wrt or p in descendants]
        adjoint = self.adjoints(of)
        paths = None
        if len(graph.nodes) + len(graph.inputs) <= MAX_PATH_GRAPH:
            found = self.paths(wrt, of)
            if found is not None:
                paths = []
                for p in found:
                    value = None
                    if not self.symbolic:
                        value = S.One
                        for a, b in zip(p, p[1:]):
                            value = value * self.local(b, a).value
                    paths.append(PathTerm(p, value))
                paths = tuple(paths)
        order = [n for n in reversed(list(graph.nodes)) if n in descendants or n == of]
        adjoints = tuple(AdjointStep(n, tuple(c for c in graph.consumers[n] if c in relevant),
                                     adjoint.get(n, S.Zero)) for n in order)
        adjoints += (AdjointStep(wrt, tuple(c for c in graph.consumers[wrt] if c in relevant),
                                 adjoint.get(wrt, S.Zero)),)
        total = adjoint.get(wrt, S.Zero)
        update = None
        if lr is not None and not self.symbolic and wrt in self.graph.inputs:
            old = self.values[wrt]
            update = Update(wrt, old, lr, total, compact(f"{wrt}_new", descend(old, lr, total)))
        edges = {(n, p): self.local(n, p) for n in relevant if n in graph.nodes
                 for p in graph.nodes[n].parents}
        return Derivation(of, wrt, tuple(forward), tuple(local), paths, adjoints, total, update,
                          values=MappingProxyType(self.values), totals=MappingProxyType(adjoint),
                          edges=MappingProxyType(edges), subs=MappingProxyType(self._subs),
                          multipath=self._multipath(of), symbolic=self.symbolic)

    def _multipath(self, of: str) -> frozenset:
        """The names that reach ``of`` along more than one path (counted backwards, capped at 2)."""
        graph = self.graph
        count = {of: 1}
        for n in reversed([*graph.inputs, *graph.nodes]):
            if n != of:
                count[n] = min(2, sum(count.get(c, 0) for c in graph.consumers[n]))
        return frozenset(n for n, k in count.items() if k > 1)


# --- the chain rule and the update rule, once ---------------------------------------------


def accumulate(graph: Graph, of: str, local, settle=None, combine=None) -> dict[str, sp.Expr]:
    """∂of/∂n for every n that ``of`` depends on: reverse accumulation, iterative.

    Nodes are visited in reverse topological order; a node's adjoint is final once all its
    consumers have contributed ``adjoint[consumer] * local(consumer, node)`` (sums over fan-out).
    Hooks make this the one chain rule for every user:

    * ``local(consumer, parent)`` — the local derivative to use on that edge (the engine's exact
      value, the student's own answer, a mistake scenario's altered value, a rounded one);
    * ``settle(name, adjoint)`` — applied once the adjoint of ``name`` is final (the engine keeps
      it compact, hand rounding rounds it, checking substitutes the student's own ∂of/∂name);
    * ``combine(name, collected, term)`` — how a further consumer's contribution joins the ones
      ``name`` has collected (the chain rule adds them; a mistake scenario multiplies them).

    Values may be any numbers that support ``+`` and ``*`` with SymPy numbers: exact SymPy,
    or the intervals of carried-forward checking (``derive.core.interval``).

    The adjoint of ``of`` itself is 1 and is not settled.

    >>> from derive.core.parser import parse_equations
    >>> g = Graph(parse_equations("q = x*y\\nf = q + x"))
    >>> ones = accumulate(g, "f", lambda c, p: 1)  # every local derivative 1: counts paths
    >>> ones["x"], ones["y"]
    (2, 1)
    """
    adjoint: dict[str, sp.Expr] = {of: S.One}
    if of not in graph.nodes:
        return adjoint
    relevant = graph.ancestors(of)
    for name in reversed(list(graph.nodes)):
        if name != of and name not in relevant or name not in adjoint:
            continue
        if settle is not None and name != of:
            adjoint[name] = settle(name, adjoint[name])
        up = adjoint[name]
        for parent in graph.nodes[name].parents:
            term = up * local(name, parent)
            if parent not in adjoint:
                adjoint[parent] = term
            elif combine is None:
                adjoint[parent] = adjoint[parent] + term
            else:
                adjoint[parent] = combine(parent, adjoint[parent], term)
    if settle is not None:
        for name in graph.inputs:
            if name in adjoint:
                adjoint[name] = settle(name, adjoint[name])
    return adjoint


def propagate(graph: Graph, values: dict, override=None, evaluate=None,
              recompute_all: bool = False) -> dict:
    """Forward values with some of them replaced, iterative: the one forward pass for checking,
    mistake scenarios and hand rounding.

    ``values`` holds exact values of every input and node. ``override(name)`` returns a value
    to use instead (or None); every node downstream of a replaced value is recomputed with
    ``evaluate(node, subs)`` (``subs`` maps the parents' symbols to their values); the rest keep
    their values, so nothing is recomputed when nothing changed (``recompute_all``: every node is
    recomputed, as hand rounding needs).

    >>> from derive.core.parser import parse_equations
    >>> g = Graph(parse_equations("z = 2*x\\nL = z + 1"))
    >>> propagate(g, {"x": 1, "z": 2, "L": 3}, override=lambda n: 5 if n == "x" else None,
    ...           evaluate=lambda node, subs: node.expr.xreplace(subs))
    {'x': 5, 'z': 10, 'L': 11}
    """
    out: dict = {}
    changed: set[str] = set()
    for name in graph.inputs:
        mine = override(name) if override is not None else None
        out[name] = values[name] if mine is None else mine
        if mine is not None:
            changed.add(name)
    for node in graph.nodes.values():
        mine = override(node.name) if override is not None else None
        if mine is not None:
            out[node.name] = mine
            changed.add(node.name)
        elif recompute_all or any(p in changed for p in node.parents):
            out[node.name] = evaluate(node, {graph.symbols[p]: out[p] for p in node.parents})
            changed.add(node.name)
        else:
            out[node.name] = values[node.name]
    return out


# Gradient descent's update rule, stated once as math: the optimizer registry's ``sgd`` entry
# (derive.training.optimizers) writes its rule with this expression, and every single-step update
# (``Example.update``, answer keys, worked solutions) substitutes into it.
THETA, ETA, GRADIENT = (sp.Symbol(n, real=True) for n in ("θ", "η", "g"))
DESCENT = sp.Add(THETA, sp.Mul(-1, ETA, GRADIENT, evaluate=False), evaluate=False)  # θ − η·g


def descend(value: sp.Expr, lr: sp.Expr, gradient: sp.Expr) -> sp.Expr:
    """One step of gradient descent, ``DESCENT`` (θ − η·g) at these numbers.

    >>> descend(3, sp.Rational(1, 10), 8)
    11/5
    """
    return _arithmetic(DESCENT, {THETA: value, ETA: lr, GRADIENT: gradient})


def _arithmetic(rule: sp.Expr, values: dict):
    """A rule of sums and products at ``values`` by their own + and · (exact numbers, symbols or
    the checker's intervals alike)."""
    if rule in values:
        return values[rule]
    if rule.is_Add or rule.is_Mul:
        parts = [_arithmetic(a, values) for a in rule.args]
        result = parts[0]
        for part in parts[1:]:
            result = result + part if rule.is_Add else result * part
        return result
    return rule


def _descendants(graph: Graph, name: str) -> set[str]:
    seen, stack = set(), [name]
    while stack:
        n = stack.pop()
        for c in graph.consumers.get(n, ()):
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return seen


_ordered_symbols = ordered_symbols  # one definition, in the derivation data


_PLACEHOLDERS = [sp.Symbol(f"p{i}", real=True) for i in range(64)]
_RULES: dict = {}
_LINES: dict = {}


def _local_rule(expr, parents, wrt, symbols):
    """∂expr/∂wrt, differentiated once per *shape*: the layers of a chain or an MLP share one
    template (parents renamed p0, p1 …), so a 1000-layer chain costs a handful of ``diff`` calls.
    The common numeric factor is pulled out: 2(a − y), as by hand (SymPy distributes the 2)."""
    if len(parents) > len(_PLACEHOLDERS):
        return _common_factor(_diff(expr, symbols[wrt]))
    # The same line in another graph (every neuron, every variant built anew) has the same rule.
    line = (expr, tuple(symbols[p] for p in parents), symbols[wrt])
    known = _LINES.get(line)
    if known is not None:
        return known
    forward = {symbols[p]: _PLACEHOLDERS[i] for i, p in enumerate(parents)}
    template = expr.xreplace(forward)
    index = parents.index(wrt)
    key = (template, index)
    rule = _RULES.get(key)
    if rule is None:
        rule = _common_factor(_diff(template, _PLACEHOLDERS[index]))
        if len(_RULES) > 4096:
            _RULES.clear()
        _RULES[key] = rule
    rule = rename(rule, {v: k for k, v in forward.items()})
    if len(_LINES) >= 4096:
        del _LINES[next(iter(_LINES))]  # the oldest
    _LINES[line] = rule
    return rule


def _diff(expr: sp.Expr, symbol: sp.Symbol) -> sp.Expr:
    """``sp.diff(expr, symbol)`` in time that follows the terms that hold ``symbol``: a sum of n
    inputs has n local derivatives, and SymPy's diff of the whole sum visits all n terms for each
    (quadratic: 400 inputs took 9 s). A sum keeps only its terms with ``symbol``; a product with
    one factor holding it is that factor's derivative times the rest."""
    if (expr.is_Add or expr.is_Mul) and len(expr.args) > 2:
        args = expr.args
        holding = _args_holding(expr).get(symbol, [])
        if expr.is_Add and len(holding) < len(args):
            return sp.Add(*(_diff(args[i], symbol) for i in holding)) if holding else sp.S.Zero
        if expr.is_Mul and len(holding) == 1:
            (i,) = holding
            return sp.Mul(*args[:i], *args[i + 1:]) * _diff(args[i], symbol)
    return sp.diff(expr, symbol)


_HOLDING: dict = {}


def _args_holding(expr: sp.Expr) -> dict:
    """symbol -> the positions of the arguments of ``expr`` that hold it, built once per
    expression. Positions, not the arguments themselves: the cache is keyed by equality, and an
    equal expression built elsewhere has equal but distinct arguments (an identity test against
    those once kept a factor in "the rest", giving −y·log(a)/a for ∂(−y·log a)/∂a)."""
    known = _HOLDING.get(expr)
    if known is None:
        known = {}
        for i, a in enumerate(expr.args):
            for symbol in a.free_symbols:
                known.setdefault(symbol, []).append(i)
        if len(_HOLDING) > 256:
            _HOLDING.clear()
        _HOLDING[expr] = known
    return known


def rename(expr: sp.Expr, mapping: dict) -> sp.Expr:
    """Replace symbols without re-evaluating: keeps 2(a − y) as built. (``sympy.evaluate(False)``
    would do the same but clears SymPy's cache on every switch, which costs more than all the
    rest of a deep chain.)"""
    if expr in mapping:
        return mapping[expr]
    if not expr.args or not expr.free_symbols & mapping.keys():
        return expr
    args = [rename(a, mapping) for a in expr.args]
    if isinstance(expr, sp.core.relational.Relational):
        return type(expr)(*args, evaluate=False)
    return expr.func(*args, evaluate=False)


def _common_factor(expr: sp.Expr) -> sp.Expr:
    """2a − 2y -> 2(a − y): pull a common rational coefficient out of a sum (cheap, unlike
    ``factor_terms``, whose first call alone costs more than a whole neuron)."""
    if not expr.is_Add:
        return expr
    coefficients = [term.as_coeff_Mul()[0] for term in expr.args]
    if not all(c.is_Rational for c in coefficients):
        return expr
    g = sp.gcd_list(coefficients) if len(coefficients) > 1 else coefficients[0]
    if all(c < 0 for c in coefficients):  # −2a − 2y -> −2(a + y); otherwise keep g > 0
        g = -g
    if g in (0, 1):
        return expr
    # Only when it tidies: 2a − 2y -> 2(a − y), ½a − ½y -> ½(a − y); but 𝟙[z > 0] + 0.1·𝟙[z ≤ 0]
    # stays as written (pulling 1/10 out would give (10·𝟙[z > 0] + 𝟙[z ≤ 0])/10).
    if sum(abs(c / g) != 1 for c in coefficients) >= sum(abs(c) != 1 for c in coefficients):
        return expr
    inner = sp.Add(*[sp.Mul(t.as_coeff_Mul()[0] / g, t.as_coeff_Mul()[1]) for t in expr.args])
    return sp.Mul(g, inner, evaluate=False)
