"""Homework: seeded variants of one exercise, with constraints, problem and solution sheets, answer
keys (CSV, JSON) and Moodle XML.

Reproducibility contract. A variant is identified by (spec hash, seed, index) and its id is
printed on every sheet. Each random value is drawn from its own SHA-256 stream keyed by
(seed, index, name, attempt) — not from ``random``, whose algorithms may change between Python
versions — so the same spec and seed give the same bytes everywhere, and adding a parameter to the
spec does not change the values of the others.

Random matrices: ``random: {W: {integers: [-2, 2], shape: [3, 2]}}`` (also ``uniform`` with
``decimals``, ``choice``, ``exclude``; ``shape: [n]`` is a column vector) draws every entry from
its own stream, keyed by the entry (``W[2,1]``). A matrix answer is one numeric part per entry
in the LMS exports and one column per entry in answers.csv; answers.json holds nested lists.
Constraints compare numbers: over a scalar node of a tensor example (the loss) they work as for
scalars; over a matrix node they are refused by name.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import sympy as sp

from ..core.errors import DeriveError, SpecError
from ..core.numbers import to_exact

MAX_ATTEMPTS = 400  # draws per variant before the constraints are declared unsatisfiable
FORMATS = ("md", "tex", "pdf", "html", "ipynb", "moodle", "qti", "gift", "text", "worksheet")


# --- random values -----------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    name: str
    kind: str  # integers, choice, uniform
    low: object = None
    high: object = None
    exclude: tuple = ()
    choices: tuple = ()
    decimals: int = 2
    shape: tuple = ()  # (rows, columns) of a random matrix; () for a number

    def entries(self) -> list[tuple[int, int]]:
        """The (row, column) of every entry, row by row ([] for a number)."""
        return [(i, j) for i in range(self.shape[0]) for j in range(self.shape[1])] if self.shape else []

    def draw_value(self, seed: int, index: int, attempt: int):
        """This input's value for one variant and attempt: a number, or for a random matrix a
        list of rows (a list for a column vector), each entry from its own stream."""
        if not self.shape:
            return self.draw(stream(seed, index, self.name, attempt))
        rows = [[self.draw(stream(seed, index, f"{self.name}[{i + 1},{j + 1}]", attempt))
                 for j in range(self.shape[1])] for i in range(self.shape[0])]
        return [r[0] for r in rows] if self.column else rows

    column: bool = False  # shape [n]: a column vector, given as a list

    def first(self):
        """The value every entry's stream 0 gives (the lowest allowed), for reading the spec."""
        if not self.shape:
            return self.draw(0)
        rows = [[self.draw(0)] * self.shape[1] for _ in range(self.shape[0])]
        return [r[0] for r in rows] if self.column else rows

    def draw(self, stream: int) -> sp.Rational:
        """A value from a 256-bit uniform integer ``stream``."""
        if self.kind == "integers":
            # The k-th allowed integer, without listing the range (it may be huge).
            k = stream % self.entry_size
            value = self.low + k
            for excluded in sorted(e for e in set(self.exclude) if self.low <= e <= self.high):
                if excluded <= value:
                    value += 1
            return sp.Integer(value)
        if self.kind == "choice":
            return self.choices[stream % len(self.choices)]
        u = Fraction(stream, 2 ** 256)
        value = Fraction(self.low) + (Fraction(self.high) - Fraction(self.low)) * u
        step = Fraction(1, 10 ** self.decimals)
        rounded = (value / step).__round__() * step  # round half to even: platform-independent
        return sp.Rational(rounded.numerator, rounded.denominator)

    @property
    def size(self) -> int | None:
        """How many distinct values it can take (a matrix: every combination of its entries)."""
        per_entry = self.entry_size
        return per_entry ** len(self.entries()) if self.shape else per_entry

    @property
    def entry_size(self) -> int:
        if self.kind == "integers":
            excluded = {e for e in self.exclude if self.low <= e <= self.high}
            return self.high - self.low + 1 - len(excluded)
        if self.kind == "choice":
            return len(self.choices)
        span = (Fraction(self.high) - Fraction(self.low)) * 10 ** self.decimals
        return int(span) + 1


def parse_random(random: dict, source: str) -> list[Distribution]:
    out = []
    for name, rule in random.items():
        where = f"{source}: random.{name}"
        if not isinstance(rule, dict) or not rule:
            raise SpecError(f"{where}: give {{integers: [lo, hi]}}, {{choice: [...]}} or "
                            f"{{uniform: [lo, hi], decimals: 1}}")
        kinds = [k for k in ("integers", "choice", "uniform") if k in rule]
        if len(kinds) != 1:
            raise SpecError(f"{where}: use exactly one of integers, choice, uniform (got {sorted(rule)})")
        kind = kinds[0]
        extra = set(rule) - {kind, "exclude", "decimals", "shape"}
        if extra:
            raise SpecError(f"{where}: unknown option(s) {', '.join(sorted(extra))}; known: "
                            f"{kind}, exclude, decimals, shape")
        shape, column = _shape(rule.get("shape"), where)
        if kind == "integers":
            bounds = rule["integers"]
            if (not isinstance(bounds, list) or len(bounds) != 2
                    or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
                    or bounds[0] > bounds[1]):
                raise SpecError(f"{where}: integers needs [lo, hi] with whole numbers lo ≤ hi, got {bounds!r}")
            exclude = rule.get("exclude", [])
            if not isinstance(exclude, list) or not all(isinstance(e, int) for e in exclude):
                raise SpecError(f"{where}: exclude must be a list of whole numbers")
            d = Distribution(name, kind, bounds[0], bounds[1], exclude=tuple(exclude), shape=shape,
                             column=column)
            if d.entry_size == 0:
                raise SpecError(f"{where}: every value in {bounds} is excluded")
        elif kind == "choice":
            options = rule["choice"]
            if isinstance(options, (list, tuple)):
                from ..core.budget import check_choices
                check_choices(len(options), f"{where}: choice")  # before any is read
            if not isinstance(options, list) or not options:
                raise SpecError(f"{where}: choice needs a non-empty list, e.g. [-1, 0, 1]")
            d = Distribution(name, kind, choices=tuple(to_exact(o, where) for o in options),
                             shape=shape, column=column)
        else:
            bounds = rule["uniform"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise SpecError(f"{where}: uniform needs [lo, hi], got {bounds!r}")
            lo, hi = (Fraction(str(to_exact(b, where))) for b in bounds)
            if lo > hi:
                raise SpecError(f"{where}: uniform needs lo ≤ hi, got {bounds!r}")
            decimals = rule.get("decimals", 2)
            if not isinstance(decimals, int) or not 0 <= decimals <= 10:
                raise SpecError(f"{where}: decimals must be a whole number from 0 to 10")
            d = Distribution(name, kind, lo, hi, decimals=decimals, shape=shape, column=column)
        out.append(d)
    return out


MAX_RANDOM_ENTRIES = 400  # entries of one random matrix (each drawn and shown on every sheet)


def _shape(shape, where: str) -> tuple[tuple, bool]:
    """``shape: [rows, columns]`` or ``[n]`` (a column vector) of a random matrix: ((r, c), column)."""
    if shape is None:
        return (), False
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)):
        raise SpecError(f"{where}: shape must be [rows, columns] or [n] (a column vector) with whole "
                        f"numbers ≥ 1, got {shape!r}")
    rows, columns = (shape[0], 1) if len(shape) == 1 else tuple(shape)
    if rows * columns > MAX_RANDOM_ENTRIES:
        raise SpecError(f"{where}: shape {shape} has {rows * columns} entries, more than "
                        f"{MAX_RANDOM_ENTRIES}; a homework matrix is written out on every sheet")
    return (rows, columns), len(shape) == 1


def stream(seed: int, index: int, name: str, attempt: int) -> int:
    digest = hashlib.sha256(f"derive-homework:{seed}:{index}:{name}:{attempt}".encode()).digest()
    return int.from_bytes(digest, "big")


def spec_hash(spec) -> str:
    canonical = json.dumps(spec.raw, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


# --- constraints ---------------------------------------------------------------------------

_DERIV = re.compile(r"(?<![A-Za-z0-9_])(?:d|∂)([A-Za-z][A-Za-z0-9_]*)\s*/\s*(?:d|∂)([A-Za-z][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Constraint:
    text: str
    relation: sp.Basic
    derivatives: tuple  # (placeholder name, of, wrt)


def parse_constraint(text: str, graph, source: str) -> Constraint:
    from ..core.parser import parse_expression, to_sympy, names_in
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{source}: each constraint must be text like \"z > 0\"")
    derivatives = []

    def placeholder(m):
        name = f"dd{len(derivatives)}x"
        derivatives.append((name, m.group(1), m.group(2)))
        return name
    rewritten = _DERIV.sub(placeholder, text)
    try:
        tree = parse_expression(rewritten, allow_comparison=True)
    except DeriveError as e:
        raise SpecError(f"{source}: constraint {text!r}: {e}") from None
    known = set(graph.inputs) | set(graph.nodes) | {d[0] for d in derivatives}
    updates = {f"{p}_new" for p in graph.inputs}
    for name in names_in(tree):
        if name not in known and name not in updates:
            raise SpecError(f"{source}: constraint {text!r} uses unknown name {name!r}; use node or "
                            f"input names, derivatives like dL/dw, or updates like w_new")
    for _, of, wrt in derivatives:
        for n in (of, wrt):
            if n not in graph.symbols:
                raise SpecError(f"{source}: constraint {text!r}: unknown name {n!r} in d{of}/d{wrt}")
    symbols = {n: sp.Symbol(n, real=True) for n in names_in(tree)}
    relation = to_sympy(tree, symbols)
    if not isinstance(relation, sp.core.relational.Relational):
        raise SpecError(f"{source}: constraint {text!r} is not a comparison; write e.g. \"z > 0\"")
    return Constraint(text, relation, tuple(derivatives))


def holds(constraint: Constraint, ex) -> bool:
    from ..core.approx import approx
    from ..core.approx import compare_relation
    from ..core.engine import descend
    if ex.matrices:
        return _holds_for_tensors(constraint, ex)
    derivations = {}  # of -> its derivation, whose totals hold ∂of/∂n for every n

    def derivation(of):
        if of not in derivations:
            derivations[of] = ex.derivation(ex.focus, of)
        return derivations[of]

    # Values straight from the example: most drawn values fail a constraint such as z > 0 on
    # values alone, and building a derivation for each of them dominated drawing the variants.
    named = set(ex.graph.inputs) | set(ex.graph.nodes)
    values = {}
    for sym in constraint.relation.free_symbols:
        name = sym.name
        deriv = next((d for d in constraint.derivatives if d[0] == name), None)
        if deriv is not None:
            values[sym] = derivation(deriv[1]).total_of(deriv[2])
        elif name in named:
            values[sym] = ex.value(name)
        elif name.endswith("_new"):
            d = derivation(ex.output)
            values[sym] = descend(d.value(name[:-4]), ex.lr, d.total_of(name[:-4]))
    lhs = approx(constraint.relation.lhs.xreplace(values))
    rhs = approx(constraint.relation.rhs.xreplace(values))
    return compare_relation(constraint.relation.rel_op, lhs, rhs)


def _holds_for_tensors(constraint: Constraint, ex) -> bool:
    """A constraint over the scalar nodes of a tensor example (the loss, a sum), its scalar
    derivatives and updates (``_numbers_only`` refused the rest when the spec was read)."""
    from ..core.approx import approx, compare_relation
    values = {}
    for sym in constraint.relation.free_symbols:
        deriv = next((d for d in constraint.derivatives if d[0] == sym.name), None)
        if deriv is not None:
            values[sym] = ex.grad(deriv[2], of=deriv[1])
        elif sym.name in ex.inputs or sym.name in ex.nodes:
            values[sym] = ex.value(sym.name)
        else:
            values[sym] = ex.update(sym.name[:-4])
    lhs = approx(constraint.relation.lhs.xreplace(values))
    rhs = approx(constraint.relation.rhs.xreplace(values))
    return compare_relation(constraint.relation.rel_op, lhs, rhs)


def _numbers_only(constraint: Constraint, ex, source: str) -> None:
    """A constraint compares numbers: one that names a vector or a matrix of a tensor example
    (``z > 0`` for a column z) is refused by name, with what to constrain instead."""
    from ..core.tensor import shape_text
    named = {d[0]: d for d in constraint.derivatives}
    for sym in sorted(constraint.relation.free_symbols, key=lambda s: s.name):
        name = sym.name
        if name in named:
            _, of, wrt = named[name]
            shapes = [(of, ex.shape(of)), (wrt, ex.shape(wrt))]
        else:
            base = name[:-4] if name.endswith("_new") and name not in ex.inputs + ex.nodes else name
            shapes = [(base, ex.shape(base))]
        for n, shape in shapes:
            if shape != ():
                raise SpecError(f"{source}: constraints: {constraint.text!r} compares {n}, "
                                f"{shape_text(shape)}; a constraint compares numbers — constrain a "
                                f"scalar node such as {ex.output} (e.g. \"{ex.output} > 0.1\"), or "
                                f"draw the matrix's entries from a narrower range")


def _hashable(value):
    """A drawn value as a key for telling variants apart (a matrix as a tuple of rows)."""
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


# --- variants -------------------------------------------------------------------------------


@dataclass
class Variant:
    id: str
    index: int  # 1-based
    values: dict  # every input, exact
    example: object


class Generator:
    """Draws constrained, distinct variants of one spec; the graph is parsed once."""

    def __init__(self, spec, seed: int):
        from ..core.engine import Graph
        from ..core.functions import FUNCTIONS
        from ..core.parser import parse_equations
        from ..core.tensor import TENSOR_FUNCTIONS, is_tensor_value, uses_tensor_syntax
        if not spec.equations:
            raise SpecError(f"{spec.source}: `equations` is missing")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise DeriveError(f"--seed must be a whole number, got {seed!r}")
        self.spec, self.seed = spec, seed
        self.random = parse_random(spec.random, spec.source)
        equations = parse_equations(spec.equations, {**FUNCTIONS, **TENSOR_FUNCTIONS})
        # vectors and matrices (random matrices, list values, @ or softmax …): a tensor example
        self.matrices = (any(d.shape for d in self.random) or uses_tensor_syntax(equations)
                         or any(is_tensor_value(v) for v in spec.values.values()))
        self.graph = Graph(equations, spec.output, tensor=self.matrices)
        fixed = {k: v if is_tensor_value(v) else to_exact(v, f"{spec.source}: values.{k}")
                 for k, v in spec.values.items()}
        both = set(fixed) & {d.name for d in self.random}
        if both:
            raise SpecError(f"{spec.source}: {', '.join(sorted(both))} appear in both values and random; keep one")
        given = set(fixed) | {d.name for d in self.random}
        unknown = sorted(given - set(self.graph.inputs))
        if unknown:
            raise SpecError(f"{spec.source}: {', '.join(unknown)} are not inputs of the equations "
                            f"(the inputs are {', '.join(self.graph.inputs)})")
        missing = [n for n in self.graph.inputs if n not in given]
        if missing:
            raise SpecError(f"{spec.source}: no value for {', '.join(missing)}; add it to `values` or `random`")
        self.fixed = fixed
        self.constraints = [parse_constraint(c, self.graph, f"{spec.source}: constraints")
                            for c in spec.constraints]
        self.hash = spec_hash(spec)
        self.ask = list(spec.ask)
        self.tolerance = getattr(spec, "tolerance", None)
        from ..checking.report import parse_key
        probe = self._example(dict(fixed, **{d.name: d.first() for d in self.random}), check=False)
        for key in self.ask:
            if probe is not None:
                parse_key(probe, key)
        if probe is not None and self.matrices:
            for c in self.constraints:
                _numbers_only(c, probe, spec.source)
        if any(k.endswith("_new") for k in self.ask) and spec.lr is None:
            raise SpecError(f"{spec.source}: `ask` has an update but no `lr` is given")

    def _example(self, values, check=True):
        from ..core.errors import InvalidValue
        try:
            if self.matrices:
                return self._tensor_example(values)
            from ..model.example import Example
            return Example(self.graph, values, self.spec.params, self.spec.lr, self.spec.title,
                           data=self.spec.data, constants=self.spec.constants)
        except InvalidValue:
            if not check:
                return None
            raise

    def _tensor_example(self, values):
        from ..model.example import classify_inputs
        from ..model.tensors import TensorExample
        params = self.spec.params
        if params is None:  # as for scalars: every input but data and constants
            roles = classify_inputs(self.graph.inputs, None, self.spec.data, self.spec.constants)
            params = [n for n in self.graph.inputs if roles[n] == "parameter"]
        return TensorExample(self.graph, values, params, self.spec.lr, self.spec.title,
                             batch=self.spec.batch)

    def variant_id(self, index: int) -> str:
        return f"{self.hash}-s{self.seed}-{index}"

    def variants(self, count: int) -> list[Variant]:
        if not isinstance(count, int) or count < 1:
            raise DeriveError(f"--variants must be at least 1, got {count!r}")
        from ..core.budget import check_variants
        check_variants(count, "the number of variants (or a variant's index)")
        space = 1
        for d in self.random:
            space *= d.size or 1
        if self.random and count > space:
            raise DeriveError(f"only {space} distinct combinations of the random values exist, "
                              f"but {count} variants were asked for; widen the ranges or ask for fewer")
        if not self.random and count > 1:
            raise DeriveError("the spec has no `random` values, so every variant would be the same; "
                              "add a `random:` section or ask for 1 variant")
        seen: set = set()
        out = []
        held = [0] * len(self.constraints)
        tried = 0
        for index in range(1, count + 1):
            duplicates = 0
            for attempt in range(MAX_ATTEMPTS):
                values = dict(self.fixed)
                for d in self.random:
                    values[d.name] = d.draw_value(self.seed, index, attempt)
                signature = tuple(_hashable(values[n]) for n in self.graph.inputs)
                if signature in seen:
                    duplicates += 1
                    continue
                ex = self._example(values, check=False)
                tried += 1
                if ex is None:
                    continue  # undefined math at these values (log 0 …): draw again
                ok = True
                for i, c in enumerate(self.constraints):
                    if holds(c, ex):
                        held[i] += 1
                    else:
                        ok = False
                if ok:
                    seen.add(signature)
                    ordered = {n: values[n] for n in self.graph.inputs}
                    out.append(Variant(self.variant_id(index), index, ordered, ex))
                    break
            else:
                if duplicates > MAX_ATTEMPTS // 2:
                    raise DeriveError(
                        f"only {len(seen)} distinct variants could be found (variant {index} kept "
                        f"repeating earlier ones) but {count} were asked for: the space of values "
                        f"satisfying the constraints is too small; widen the random ranges or ask "
                        f"for fewer variants")
                if self.constraints and tried:
                    worst = min(range(len(self.constraints)), key=lambda i: held[i])
                    raise DeriveError(
                        f"variant {index}: no values satisfy the constraints after {MAX_ATTEMPTS} "
                        f"draws; `{self.constraints[worst].text}` held in {held[worst]} of {tried} "
                        f"draws — loosen it or change the random ranges")
                raise DeriveError(f"variant {index}: could not find a new distinct variant in "
                                  f"{MAX_ATTEMPTS} draws; the space is too small for {count} variants")
        return out


# --- answers -------------------------------------------------------------------------------


def ask_keys(gen: Generator, ex) -> list[str]:
    if gen.ask:
        return gen.ask
    keys = [f"d{ex.output}/d{p}" for p in ex.params]
    if ex.lr is not None:
        keys += [f"{p}_new" for p in ex.params]
    return keys


def answers_of(gen: Generator, v: Variant) -> dict:
    """The exact answers of one variant, for the keys the spec asks."""
    ex = v.example
    if ex.matrices:  # each answer a Tensor (a number is a 1×1 one)
        from ..checking.matrixcheck import expected_answer
        return {key: expected_answer(ex, key) for key in ask_keys(gen, ex)}
    from ..checking.report import expected_value, parse_key
    from ..core.engine import public_form
    return {key: public_form(expected_value(ex, parse_key(ex, key))) for key in ask_keys(gen, ex)}


def _number(value) -> float | int:
    if isinstance(value, sp.Integer):
        return int(value)
    from ..core.approx import approx
    return float(approx(value))


def _key_number(value) -> float | int | str:
    """A number for the answer keys (JSON, CSV): a float, or, for an exact value beyond a
    double's range, its 17 significant digits as text ("1.9355…e+347"), never ``inf``."""
    x = _number(value)
    if isinstance(x, float) and not math.isfinite(x):
        import mpmath
        from ..core.approx import approx
        return mpmath.nstr(approx(value), 17, min_fixed=1, max_fixed=0)
    return x


def _entries(value) -> list[tuple[str, object]]:
    """A value's numbers with the suffix that names each: ``[("", x)]`` for a number, and
    ``[("[1,1]", …), ("[1,2]", …) …]`` (``[i]`` for a column vector) for a matrix, row by row —
    a drawn input as the spec gives it (lists) or an answer as the key holds it (a Tensor)."""
    from ..core.tensor import Tensor
    if isinstance(value, Tensor):
        if value.scalar:
            return [("", value.item())]
        rows = value.a.tolist()
    elif isinstance(value, (list, tuple)):
        rows = [list(r) if isinstance(r, (list, tuple)) else [r] for r in value]
    else:
        return [("", value)]
    column = len(rows[0]) == 1
    return [(f"[{i + 1}]" if column else f"[{i + 1},{j + 1}]", e)
            for i, row in enumerate(rows) for j, e in enumerate(row)]


def _plain(value, convert=None):
    """A value for answers.json: a number, or nested lists of numbers (a column vector as a list)."""
    from ..core.tensor import Tensor
    convert = convert or _key_number
    if isinstance(value, Tensor):
        if value.scalar:
            return convert(value.item())
        rows = value.a.tolist()
        return [convert(r[0]) for r in rows] if value.a.shape[1] == 1 else \
            [[convert(e) for e in r] for r in rows]
    if isinstance(value, (list, tuple)):
        return [_plain(v, convert) for v in value]
    return convert(to_exact(value) if isinstance(value, (int, float, str)) else value)


def answer_key_json(gen, variants, answers) -> str:
    rows = []
    for v in variants:
        rows.append({"id": v.id,
                     "values": {n: _plain(x) for n, x in v.values.items()},
                     "answers": {k: _plain(a) for k, a in answers[v.id].items()},
                     "exact": {k: _plain(a, sp.sstr) for k, a in answers[v.id].items()},
                     # the accepted |answer − exact| under the spec's `tolerance:` rule (per entry)
                     "tolerance": {k: _plain(a, lambda e: _key_tolerance(e, gen))
                                   for k, a in answers[v.id].items()}})
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"


def answer_key_csv(gen, variants, answers) -> str:
    buf = io.StringIO()
    if not variants:
        return ""
    first = variants[0]
    inputs = [n + suffix for n, x in first.values.items() for suffix, _ in _entries(x)]
    keys = [k + suffix for k, a in answers[first.id].items() for suffix, _ in _entries(a)]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", *inputs, *keys])  # a matrix: one column per entry, W[1,1] W[1,2] …
    for v in variants:
        writer.writerow([v.id, *[_number(_exact(e)) for x in v.values.values() for _, e in _entries(x)],
                         *[str(_key_number(e)) if isinstance(_key_number(e), str) else repr(_number(e))
                           for a in answers[v.id].values() for _, e in _entries(a)]])
    return buf.getvalue()


def _key_tolerance(value, gen) -> float | str:
    """The tolerance for the JSON key; beyond a double's range, computed at high precision and
    written as text, as the answer is (``Infinity`` is not JSON)."""
    bound = tolerance(value, gen)
    if math.isfinite(bound):
        return bound
    import mpmath
    from ..core.approx import approx
    r, x = rule(gen), abs(approx(value))
    if r.kind == "absolute":
        return float(r.amount)
    exact = (mpmath.mpf(r.amount) * x if r.kind == "relative" else
             mpmath.mpf(10) ** (int(mpmath.floor(mpmath.log10(x))) - int(r.amount) + 1) / 2)
    return mpmath.nstr(exact, 17, min_fixed=1, max_fixed=0)


def _exact(value):
    return to_exact(value) if isinstance(value, (int, float, str)) else value


DEFAULT_TOLERANCE = ("sig_figs", 4)  # without `tolerance:` in the spec: what the sheets print


def rule(gen):
    """The spec's tolerance, or half a unit in the 4th significant figure."""
    from ..core.tolerance import Tolerance
    return gen.tolerance or Tolerance(*DEFAULT_TOLERANCE)


def tolerance(value, gen=None) -> float:
    """The accepted |answer − value| for an exact ``value`` under the spec's rule."""
    from ..core.tolerance import Tolerance
    return (rule(gen) if gen is not None else Tolerance(*DEFAULT_TOLERANCE)).bound(_number(value))


def lms_questions(gen, variants, answers) -> list:
    """One LMS question per variant: the problem in HTML with MathJax TeX, a numeric part per
    asked step (value and tolerance from the spec's rule), the worked solution as feedback."""
    from ..io.lms import Part, Question
    from ..rendering.blocks import Content
    from ..rendering.formats import Writer, get_format, render_content
    fmt = get_format("html_tex")
    title = gen.spec.title or "Backpropagation"
    out = []
    for v in variants:
        notation = _notation(gen, v.example)
        writer = Writer(fmt, notation=notation)
        problem = _problem_sections(gen, v, v.index)[0]
        problem.blocks = problem.blocks[:-2 if gen.tolerance is None else -3]  # not "Compute …", tolerance, id
        text = render_content(Content("", [problem], ""), "html_tex", v.example.latex_names, fragment=True,
                              carry=1, notation=notation)
        text = text.replace(f"<h2>Problem {v.index}</h2>", "")
        solution = _definitions(gen, [v]) + _solution_sections(gen, v, v.index)[1:]
        feedback = render_content(Content("", solution, ""), "html_tex", v.example.latex_names, fragment=True,
                                  carry=1, notation=notation)
        # a matrix answer: one numeric part per entry, labelled with the entry
        parts = [Part(k + suffix, writer.inline(_key_math(v.example, k)) + _entry_label(suffix),
                      float(_number(e)), tolerance(e, gen))
                 for k, a in answers[v.id].items() for suffix, e in _entries(a)]
        out.append(Question(v.id, f"{title} — variant {v.index} ({v.id})", " ".join(text.split("\n")),
                            parts, feedback))
    return out


def _entry_label(suffix: str) -> str:
    """``[2,1]`` -> ", entry (2, 1)": which entry of a matrix answer an LMS part asks for."""
    if not suffix:
        return ""
    return f", entry ({suffix[1:-1].replace(',', ', ')})"


def moodle_xml(gen, variants, answers, questions=None) -> str:
    """Moodle XML: a category, one cloze question per variant (a part per asked step)."""
    from ..io.lms import moodle_xml as write
    return write(gen.spec.title or "Backpropagation",
                 questions if questions is not None else lms_questions(gen, variants, answers))


# --- sheets ------------------------------------------------------------------------------


def _is_definition(section) -> bool:
    """The activation's definition, which a sheet gives once at the top, not per variant."""
    return section.title.startswith("The activation function")


def _problem_sections(gen, v, number: int, per_page: bool = False):
    from ..core.derivation import Chain, Value
    from ..rendering.blocks import NameLine, PageBreak, Section
    from ..core.functions import Sentence
    ex = v.example
    s = Section(f"Problem {number}")
    if per_page:  # each page goes to a different student, with the definitions it needs
        s.add(NameLine())
        for d in _definitions(gen, [v]):
            s.blocks.extend(d.blocks)
    if gen.spec.instructions:
        s.say(Sentence(gen.spec.instructions.strip()))
    if ex.matrices:  # the equations, shapes and given matrices, as the solution states them
        for block in ex.content().sections[0].blocks:
            s.add(block)
        if ex.lr is not None:
            s.say(Sentence("The learning rate is {0}.", (Chain(sp.Symbol("eta"), "=", Value(ex.lr)),)))
    else:
        for node in ex.graph.nodes.values():
            s.show(Chain(node.symbol, "=", node.display))
        s.say(Sentence("Given " + ", ".join(f"{{{i}}}" for i in range(len(v.values)))
                       + (", and the learning rate {%d}" % len(v.values) if ex.lr is not None else "") + ".",
                       tuple(Chain(ex.graph.symbols[n], "=", Value(x)) for n, x in v.values.items())
                       + ((Chain(sp.Symbol("eta"), "=", Value(ex.lr)),) if ex.lr is not None else ())))
    keys = ask_keys(gen, ex)
    s.say(Sentence("Compute " + ", ".join(f"{{{i}}}" for i in range(len(keys))) + ".",
                   tuple(_key_math(ex, k) for k in keys)))
    if gen.tolerance is not None:
        s.say(Sentence(f"Answers within {gen.tolerance.describe()} of the exact value are accepted."))
    s.say(Sentence(f"Variant {v.id}"))
    if per_page:  # the next variant starts on a new page (breaks end a page: headings stay on theirs)
        s.add(PageBreak())
    return [s]


def _key_math(ex, key: str):
    """An ask key as math: ∂L/∂w, z, w_new."""
    from ..checking.report import parse_key
    from ..core.derivation import Total
    k = parse_key(ex, key)
    if k.kind == "derivative":
        return Total(k.of, k.wrt)
    return sp.Symbol(k.name if k.kind == "value" else f"{k.name}_new")


def _solution_sections(gen, v, number: int, per_page: bool = False):
    """Solution ``number``: its parts numbered ``number.1``, ``number.2`` … (headings never repeat
    across variants); the activation's definition is left to the top of the sheet."""
    from ..rendering.blocks import PageBreak, Section
    from ..core.functions import Sentence
    content = v.example.content()  # scalar or matrix form: the example's own worked solution
    head = Section(f"Solution {number}")
    head.say(Sentence(f"Variant {v.id}"))
    if per_page:  # a page handed back on its own states the definitions it uses
        for d in _definitions(gen, [v]):
            head.blocks.extend(d.blocks)
    out = [head]
    for part, s in enumerate((s for s in content.sections if not _is_definition(s)), 1):
        s.title = f"{number}.{part} {s.title}"
        out.append(s)
    if per_page:
        out[-1].add(PageBreak())
    return out


def _definitions(gen, variants):
    """The activation's definition (from the first variant: every variant has the same graph)."""
    return [s for s in variants[0].example.content().sections if _is_definition(s)][:1]


def _sheet_body(gen, variants, fmt: str, solutions: bool, precision: int = 4,
                per_page: bool = False) -> str:
    """The body (no title, no footer) of a sheet for some variants. Shown substitutions carry
    one digit more than results, so the arithmetic on the sheet adds up at the shown precision."""
    from ..rendering.blocks import Content
    from ..rendering.formats import render_content
    sections = []
    for v in variants:
        sections += (_solution_sections if solutions else _problem_sections)(gen, v, v.index, per_page)
    ex = variants[0].example if variants else None
    # the sheet's preamble states the macros once: a part repeats none of them
    # a part of a whole sheet, not a fragment for the user's document: no "% A fragment to \input"
    return render_content(Content("", sections, ""), fmt, ex.latex_names if ex else None, precision,
                          part=True, carry=1, notation=_notation(gen, ex) if ex else gen.spec.notation,
                          macros=False)


def _sheet(gen, fmt: str, solutions: bool, body: str, variants=(), per_page: bool = False,
           notes: bool = False) -> str:
    from ..core.functions import Sentence
    from ..rendering.blocks import Content, NameLine, PageBreak, Section
    from ..rendering.formats import render_content
    title = (gen.spec.title or "Homework") + (" — solutions" if solutions else " — problems")
    top = []
    if not solutions and not per_page:
        head = Section("Your details")
        head.add(NameLine())
        top.append(head)
    if variants and not per_page:  # per page: each page states them (_problem_sections)
        top += _definitions(gen, variants)
    if per_page and top:
        top[-1].add(PageBreak())
    ex = variants[0].example if variants else None
    text = render_content(Content(title, top), fmt, ex.latex_names if ex else None, body=body, carry=1,
                          notation=_notation(gen, ex) if ex else gen.spec.notation)
    if notes and solutions:  # for the lecturer only, after the solutions: how to make them again
        note = Section("")
        note.lecturer_note(Sentence(f"Made from spec {gen.hash} with seed {gen.seed}: the same spec and "
                                    f"seed give the same variants. Each variant shows its id "
                                    f"(spec-seed-index)."))
        text = _before_end(text, render_content(Content("", [note]), fmt, part=True, notes=True,
                                                macros=False))
    return text


def _before_end(document: str, part: str) -> str:
    """``part`` placed at the end of a whole document (before LaTeX's and HTML's closing lines)."""
    for end in ("\\end{document}", "</main>"):
        if end in document:
            head, _, tail = document.rpartition(end)
            return head + part + end + tail
    return document + part


def _notation(gen, ex):
    """The spec's notation preset, completed for the variants' graph (they all share it)."""
    return ex.document_notation(gen.spec.notation)


# Set in the parent before forking: workers render from the variants already derived.
_SHARED: dict = {}


def _render_chunk(args):
    """Worker: the sheet bodies for one chunk of variants (indices into _SHARED['variants'])."""
    indices, fmts = args
    gen, variants, per_page = _SHARED["gen"], _SHARED["variants"], _SHARED["per_page"]
    chosen = [variants[i] for i in indices]
    out = {(fmt, sol): _sheet_body(gen, chosen, fmt, sol, per_page=per_page)
           for fmt in fmts for sol in (False, True)}
    out["answers"] = {v.id: answers_of(gen, v) for v in chosen}
    return out


def generate(spec, variants: int, seed: int, out, formats=("md",), jobs: int | None = None,
             force: bool = False, progress: bool | None = None, per_page: bool = False,
             paper: str = "a4", notes: bool = False) -> list[Path]:
    """Write problems.*, solutions.*, answers.csv/json (and moodle.xml) into ``out``, atomically.
    The bytes depend on the spec, the seed and the options only, never on ``jobs`` or the machine's
    cores. ``notes``: the solutions end with a note for the lecturer (the spec's hash and seed)."""
    formats = [f.strip().lower() for f in formats if f.strip()]
    for f in formats:
        if f not in FORMATS:
            raise DeriveError(f"unknown homework format {f!r}; choose from {', '.join(FORMATS)}")
    from ..io.files import FolderClaim, check_folder_replaceable
    out = Path(out)
    check_folder_replaceable(out, force)  # before any work: --force replaces only derive's output
    from ..core.engine import gc_paused
    # Thousands of long-lived derivations: the cyclic collector's full passes over them took a
    # sixth of the time (and, in forked workers, touch every shared page). Paused, then restored.
    with FolderClaim(out), gc_paused():  # a concurrent run into the same folder fails now, clearly
        return _generate(spec, variants, seed, out, formats, jobs, force, progress, per_page, paper,
                         notes)


def _generate(spec, variants, seed, out, formats, jobs, force, progress, per_page=False,
              paper="a4", notes=False) -> list[Path]:
    gen = Generator(spec, seed)
    chosen = gen.variants(variants)
    text_formats = [{"md": "markdown", "tex": "latex", "text": "text", "html": "html"}[f]
                    for f in formats if f in ("md", "tex", "text", "html")]
    if "pdf" in formats and "latex" not in text_formats:
        text_formats.append("latex")
    if "ipynb" in formats and "markdown" not in text_formats:
        text_formats.append("markdown")
    # Derivations, documents and answers are computed in the workers (in variant order).
    sheets, answers = _render_parallel(gen, spec, seed, chosen, text_formats, jobs, progress, per_page,
                                       notes)
    if "latex" in text_formats:
        from ..rendering.latex_layout import set_paper
        for sol in (False, True):
            sheets[("latex", sol)] = set_paper(sheets[("latex", sol)], paper)
    from ..io.files import make_staging_dir
    staging = make_staging_dir(out.parent, f".{out.name}.")
    try:
        ext = {"markdown": "md", "latex": "tex", "text": "txt", "html": "html"}
        for fmt in text_formats:
            if (fmt == "latex" and "tex" not in formats) or (fmt == "markdown" and "md" not in formats):
                continue
            (staging / f"problems.{ext[fmt]}").write_text(sheets[(fmt, False)], encoding="utf-8")
            (staging / f"solutions.{ext[fmt]}").write_text(sheets[(fmt, True)], encoding="utf-8")
        if "pdf" in formats:
            from ..io.files import compile_pdf
            (staging / "problems.pdf").write_bytes(compile_pdf(sheets[("latex", False)]))
            (staging / "solutions.pdf").write_bytes(compile_pdf(sheets[("latex", True)]))
        if "ipynb" in formats:
            from ..rendering.notebook import notebook
            (staging / "solutions.ipynb").write_text(
                notebook(sheets[("markdown", True)], [(f"Variant {v.id}", v.example) for v in chosen]),
                encoding="utf-8")
        if "worksheet" in formats:  # one self-checking page per variant, named by its id
            from .worksheet import worksheet
            for n, v in enumerate(chosen, 1):
                if gen.spec.instructions:
                    v.example.meta["instructions"] = gen.spec.instructions.strip()
                v.example.meta["variant"] = f"Variant id {v.id}"
                page = worksheet(v.example, gen.spec.tolerance, ask_keys(gen, v.example),
                                 f"{gen.spec.title or 'Problem set'}, variant {n}")
                (staging / f"worksheet-{v.id}.html").write_text(page, encoding="utf-8")
        (staging / "answers.json").write_text(answer_key_json(gen, chosen, answers), encoding="utf-8")
        (staging / "answers.csv").write_text(answer_key_csv(gen, chosen, answers), encoding="utf-8")
        if {"moodle", "qti", "gift"} & set(formats):
            from ..io import lms
            category = gen.spec.title or "Backpropagation"
            questions = lms_questions(gen, chosen, answers)
            if "moodle" in formats:
                (staging / "moodle.xml").write_text(moodle_xml(gen, chosen, answers, questions),
                                                    encoding="utf-8")
            if "gift" in formats:
                (staging / "questions.gift").write_text(lms.gift(category, questions), encoding="utf-8")
            if "qti" in formats:
                (staging / "qti.zip").write_bytes(
                    lms.qti_zip(f"derive-{gen.hash}-s{gen.seed}", category, questions))
        # Everything is written: swap the folder in (the old one, if forced, goes last).
        from ..io.files import publish_folder
        publish_folder(staging, out, force)
    except BaseException:
        from ..io.files import uninterruptible
        with uninterruptible():
            shutil.rmtree(staging, ignore_errors=True)
        raise
    from ..io.files import MANIFEST
    return sorted(p for p in out.iterdir() if p.name != MANIFEST)


def _quiet_worker():
    """Pool workers leave Ctrl-C and SIGTERM to the parent, which stops them: no worker prints a
    traceback when the user interrupts."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


CHUNK = 4  # variants per unit of work: fixed, so the parts joined never depend on --jobs


def _render_parallel(gen, spec, seed, chosen, fmts, jobs, progress, per_page=False, notes=False):
    """Render the sheets, splitting the variants over ``jobs`` processes. The chunks are the same
    for any ``jobs`` (and the serial path renders the same chunks), so the bytes are too."""
    jobs = jobs or os.cpu_count() or 1
    count = len(chosen)
    show = progress if progress is not None else (sys.stderr.isatty() and count >= 50)
    _SHARED.update(gen=gen, variants=chosen, per_page=per_page)
    size = CHUNK
    chunks = [list(range(i, min(i + size, count))) for i in range(0, count, size)]
    try:
        if jobs <= 1 or count < 20:
            results = [_render_chunk((c, fmts)) for c in chunks]
        else:
            import multiprocessing as mp
            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
            results = []
            with ctx.Pool(jobs, initializer=_quiet_worker) as pool:
                for done, r in enumerate(pool.imap(_render_chunk, [(c, fmts) for c in chunks]), 1):
                    results.append(r)
                    if show:
                        sys.stderr.write(f"\rrendering variants: {min(done * size, count)}/{count}")
                        sys.stderr.flush()
            if show:
                sys.stderr.write("\n")
    finally:
        _SHARED.clear()
    sheets = {(fmt, sol): _sheet(gen, fmt, sol, "".join(r[(fmt, sol)] for r in results), chosen, per_page,
                                 notes)
              for fmt in fmts for sol in (False, True)}
    answers = {}
    for r in results:
        answers.update(r["answers"])
    return sheets, answers


__all__ = ["generate", "Generator", "parse_random", "parse_constraint", "stream", "moodle_xml",
           "answer_key_json", "answer_key_csv"]
