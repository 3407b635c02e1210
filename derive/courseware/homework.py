"""Homework: seeded variants of one exercise, with constraints, problem and solution sheets, answer
keys (CSV, JSON) and Moodle XML.

Reproducibility contract. A variant is identified by (spec hash, seed, index) and its id is
printed on every sheet. Each random value is drawn from its own SHA-256 stream keyed by
(seed, index, name, attempt) — not from ``random``, whose algorithms may change between Python
versions — so the same spec and seed give the same bytes everywhere, and adding a parameter to the
spec does not change the values of the others.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import sympy as sp

from ..core.errors import DeriveError, SpecError
from ..core.numbers import to_exact

MAX_ATTEMPTS = 400  # draws per variant before the constraints are declared unsatisfiable
FORMATS = ("md", "tex", "pdf", "moodle", "text")


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

    def draw(self, stream: int) -> sp.Rational:
        """A value from a 256-bit uniform integer ``stream``."""
        if self.kind == "integers":
            # The k-th allowed integer, without listing the range (it may be huge).
            k = stream % self.size
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
        extra = set(rule) - {kind, "exclude", "decimals"}
        if extra:
            raise SpecError(f"{where}: unknown option(s) {', '.join(sorted(extra))}")
        if kind == "integers":
            bounds = rule["integers"]
            if (not isinstance(bounds, list) or len(bounds) != 2
                    or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
                    or bounds[0] > bounds[1]):
                raise SpecError(f"{where}: integers needs [lo, hi] with whole numbers lo ≤ hi, got {bounds!r}")
            exclude = rule.get("exclude", [])
            if not isinstance(exclude, list) or not all(isinstance(e, int) for e in exclude):
                raise SpecError(f"{where}: exclude must be a list of whole numbers")
            d = Distribution(name, kind, bounds[0], bounds[1], exclude=tuple(exclude))
            if d.size == 0:
                raise SpecError(f"{where}: every value in {bounds} is excluded")
        elif kind == "choice":
            options = rule["choice"]
            if not isinstance(options, list) or not options:
                raise SpecError(f"{where}: choice needs a non-empty list, e.g. [-1, 0, 1]")
            d = Distribution(name, kind, choices=tuple(to_exact(o, where) for o in options))
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
            d = Distribution(name, kind, lo, hi, decimals=decimals)
        out.append(d)
    return out


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
    values = {}
    for sym in constraint.relation.free_symbols:
        name = sym.name
        deriv = next((d for d in constraint.derivatives if d[0] == name), None)
        if deriv is not None:
            values[sym] = ex.evaluation.grad(deriv[2], deriv[1])
        elif name in ex.evaluation.values:
            values[sym] = ex.evaluation.values[name]
        elif name.endswith("_new"):
            values[sym] = ex.evaluation.values[name[:-4]] - ex.lr * ex.evaluation.grad(name[:-4], ex.output)
    lhs = approx(constraint.relation.lhs.xreplace(values))
    rhs = approx(constraint.relation.rhs.xreplace(values))
    return compare_relation(constraint.relation.rel_op, lhs, rhs)


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
        from ..core.parser import parse_equations
        if not spec.equations:
            raise SpecError(f"{spec.source}: `equations` is missing")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise DeriveError(f"--seed must be a whole number, got {seed!r}")
        self.spec, self.seed = spec, seed
        self.graph = Graph(parse_equations(spec.equations), spec.output)
        self.random = parse_random(spec.random, spec.source)
        fixed = {k: to_exact(v, f"{spec.source}: values.{k}") for k, v in spec.values.items()}
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
        from ..teaching.checking import parse_key
        probe = self._example(dict(fixed, **{d.name: d.draw(0) for d in self.random}), check=False)
        for key in self.ask:
            if probe is not None:
                parse_key(probe, key)
        if any(k.endswith("_new") for k in self.ask) and spec.lr is None:
            raise SpecError(f"{spec.source}: `ask` has an update but no `lr` is given")

    def _example(self, values, check=True):
        from ..model.example import Example
        from ..core.errors import ValueError_
        try:
            return Example(self.graph, values, self.spec.params, self.spec.lr, self.spec.title)
        except ValueError_:
            if not check:
                return None
            raise

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
                    values[d.name] = d.draw(stream(self.seed, index, d.name, attempt))
                signature = tuple(values[n] for n in self.graph.inputs)
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
    from ..teaching.checking import expected_value, parse_key
    from ..core.engine import public_form
    ex = v.example
    return {key: public_form(expected_value(ex, parse_key(ex, key))) for key in ask_keys(gen, ex)}


def _number(value) -> float | int:
    if isinstance(value, sp.Integer):
        return int(value)
    from ..core.approx import approx
    return float(approx(value))


def answer_key_json(gen, variants, answers) -> str:
    rows = []
    for v in variants:
        rows.append({"id": v.id,
                     "values": {n: _number(x) for n, x in v.values.items()},
                     "answers": {k: _number(a) for k, a in answers[v.id].items()},
                     "exact": {k: sp.sstr(a) for k, a in answers[v.id].items()}})
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"


def answer_key_csv(gen, variants, answers) -> str:
    buf = io.StringIO()
    if not variants:
        return ""
    inputs = list(variants[0].values)
    keys = list(answers[variants[0].id])
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", *inputs, *keys])
    for v in variants:
        writer.writerow([v.id, *[_number(v.values[n]) for n in inputs],
                         *[repr(_number(answers[v.id][k])) for k in keys]])
    return buf.getvalue()


def tolerance(value) -> float:
    """Moodle tolerance: half a unit in the 4th significant figure (what the sheets print)."""
    import math
    x = abs(_number(value))
    if x == 0:
        return 1e-6
    return 0.5 * 10 ** (math.floor(math.log10(x)) - 3)


def moodle_xml(gen, variants, answers) -> str:
    from ..core.numbers import format_number
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<quiz>"]
    title = gen.spec.title or "Backpropagation"
    for v in variants:
        given = ", ".join(f"{n} = {format_number(x)}" for n, x in v.values.items())
        keys = list(answers[v.id])
        lines.append('  <question type="%s">' % ("numerical" if len(keys) == 1 else "cloze"))
        lines.append(f"    <name><text>{xml_escape(title)} — variant {v.index} ({v.id})</text></name>")
        eqs = "<br/>".join(xml_escape(line.strip()) for line in gen.spec.equations.strip().splitlines())
        intro = f"<p>{xml_escape(gen.spec.instructions or 'Compute the following.')}</p><p>{eqs}</p><p>Given {xml_escape(given)}" + (
            f", learning rate {format_number(v.example.lr)}" if v.example.lr is not None else "") + ".</p>"
        if len(keys) == 1:
            k = keys[0]
            a = answers[v.id][k]
            lines.append(f'    <questiontext format="html"><text><![CDATA[{intro}<p>{xml_escape(k)} = ?</p>]]></text></questiontext>')
            lines.append(f'    <answer fraction="100"><text>{_number(a)!r}</text><tolerance>{tolerance(a)!r}</tolerance></answer>')
        else:
            parts = "".join(f"<p>{xml_escape(k)} = {{1:NUMERICAL:={_number(answers[v.id][k])!r}:{tolerance(answers[v.id][k])!r}}}</p>"
                            for k in keys)
            lines.append(f'    <questiontext format="html"><text><![CDATA[{intro}{parts}]]></text></questiontext>')
        lines.append("  </question>")
    lines.append("</quiz>")
    return "\n".join(lines) + "\n"


# --- sheets ------------------------------------------------------------------------------


def _problem_sections(gen, v, number: int):
    from ..core.derivation import Chain, Value
    from ..rendering.blocks import Section
    from ..core.functions import Sentence
    ex = v.example
    s = Section(f"Problem {number}")
    if gen.spec.instructions:
        s.say(Sentence(gen.spec.instructions.strip()))
    for node in ex.graph.nodes.values():
        s.show(Chain(node.symbol, "=", node.display))
    s.say(Sentence("Given " + ", ".join(f"{{{i}}}" for i in range(len(v.values)))
                   + (", and the learning rate {%d}" % len(v.values) if ex.lr is not None else "") + ".",
                   tuple(Chain(ex.graph.symbols[n], "=", Value(x)) for n, x in v.values.items())
                   + ((Chain(sp.Symbol("eta"), "=", Value(ex.lr)),) if ex.lr is not None else ())))
    keys = ask_keys(gen, ex)
    s.say(Sentence("Compute " + ", ".join(f"{{{i}}}" for i in range(len(keys))) + ".",
                   tuple(_key_math(ex, k) for k in keys)))
    s.say(Sentence(f"Variant {v.id}"))
    return [s]


def _key_math(ex, key: str):
    """An ask key as math: ∂L/∂w, z, w_new."""
    from ..teaching.checking import parse_key
    from ..core.derivation import Total
    k = parse_key(ex, key)
    if k.kind == "derivative":
        return Total(k.of, k.wrt)
    return sp.Symbol(k.name if k.kind == "value" else f"{k.name}_new")


def _solution_sections(gen, v, number: int):
    from ..rendering.blocks import Section
    from ..teaching.content import build
    from ..core.functions import Sentence
    content = build(v.example)
    head = Section(f"Solution {number}")
    head.say(Sentence(f"Variant {v.id}"))
    out = [head]
    for s in content.sections:
        s.title = f"{number}. {s.title}"
        out.append(s)
    out[-1].say(Sentence(f"End of solution {number} — variant {v.id}"))
    return out


def _sheet_body(gen, variants, fmt: str, solutions: bool, precision: int = 4) -> str:
    """The body (no title, no footer) of a sheet for some variants."""
    from ..rendering.blocks import Content
    from ..rendering.formats import render_content
    sections = []
    for v in variants:
        sections += (_solution_sections if solutions else _problem_sections)(gen, v, v.index)
    return render_content(Content("", sections, ""), fmt, None, precision, fragment=True)


def _sheet(gen, fmt: str, solutions: bool, body: str) -> str:
    from ..rendering.blocks import Content
    from ..rendering.formats import render_content
    title = (gen.spec.title or "Homework") + (" — solutions" if solutions else " — problems")
    footer = (f"Generated by derive from spec {gen.hash} with seed {gen.seed}; each variant shows "
              f"its id (spec-seed-index).")
    return render_content(Content(title, [], footer), fmt, None, body=body)


# Set in the parent before forking: workers render from the variants already derived.
_SHARED: dict = {}


def _render_chunk(args):
    """Worker: the sheet bodies for one chunk of variants (indices into _SHARED['variants'])."""
    indices, fmts = args
    gen, variants = _SHARED["gen"], _SHARED["variants"]
    chosen = [variants[i] for i in indices]
    out = {(fmt, sol): _sheet_body(gen, chosen, fmt, sol) for fmt in fmts for sol in (False, True)}
    out["answers"] = {v.id: answers_of(gen, v) for v in chosen}
    return out


def generate(spec, variants: int, seed: int, out, formats=("md",), jobs: int | None = None,
             force: bool = False, progress: bool | None = None) -> list[Path]:
    """Write problems.*, solutions.*, answers.csv/json (and moodle.xml) into ``out``, atomically."""
    formats = [f.strip().lower() for f in formats if f.strip()]
    for f in formats:
        if f not in FORMATS:
            raise DeriveError(f"unknown homework format {f!r}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DeriveError(f"{out} is a file; give a folder for --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DeriveError(f"{out}/ exists and is not empty; pass --force to replace it")
    gen = Generator(spec, seed)
    chosen = gen.variants(variants)
    text_formats = [{"md": "markdown", "tex": "latex", "text": "text"}[f] for f in formats if f in ("md", "tex", "text")]
    if "pdf" in formats and "latex" not in text_formats:
        text_formats.append("latex")
    # Derivations, documents and answers are computed in the workers (in variant order).
    sheets, answers = _render_parallel(gen, spec, seed, chosen, text_formats, jobs, progress)
    from ..io.files import make_staging_dir
    staging = make_staging_dir(out.parent, f".{out.name}.")
    try:
        ext = {"markdown": "md", "latex": "tex", "text": "txt"}
        for fmt in text_formats:
            if fmt == "latex" and "tex" not in formats:
                continue
            (staging / f"problems.{ext[fmt]}").write_text(sheets[(fmt, False)], encoding="utf-8")
            (staging / f"solutions.{ext[fmt]}").write_text(sheets[(fmt, True)], encoding="utf-8")
        if "pdf" in formats:
            from ..io.files import compile_pdf
            (staging / "problems.pdf").write_bytes(compile_pdf(sheets[("latex", False)]))
            (staging / "solutions.pdf").write_bytes(compile_pdf(sheets[("latex", True)]))
        (staging / "answers.json").write_text(answer_key_json(gen, chosen, answers), encoding="utf-8")
        (staging / "answers.csv").write_text(answer_key_csv(gen, chosen, answers), encoding="utf-8")
        if "moodle" in formats:
            (staging / "moodle.xml").write_text(moodle_xml(gen, chosen, answers), encoding="utf-8")
        # Everything is written: swap the folder in (the old one, if forced, goes last).
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
        os.replace(staging, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(out.iterdir())


def _render_parallel(gen, spec, seed, chosen, fmts, jobs, progress):
    """Render the sheets, splitting the variants over ``jobs`` processes; same bytes either way."""
    jobs = jobs or os.cpu_count() or 1
    count = len(chosen)
    show = progress if progress is not None else (sys.stderr.isatty() and count >= 50)
    _SHARED.update(gen=gen, variants=chosen)
    try:
        if jobs <= 1 or count < 20:
            results = [_render_chunk((list(range(count)), fmts))]
        else:
            import multiprocessing as mp
            size = -(-count // (jobs * 4))
            chunks = [list(range(i, min(i + size, count))) for i in range(0, count, size)]
            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
            results = []
            with ctx.Pool(jobs) as pool:
                for done, r in enumerate(pool.imap(_render_chunk, [(c, fmts) for c in chunks]), 1):
                    results.append(r)
                    if show:
                        sys.stderr.write(f"\rrendering variants: {min(done * size, count)}/{count}")
                        sys.stderr.flush()
            if show:
                sys.stderr.write("\n")
    finally:
        _SHARED.clear()
    sheets = {(fmt, sol): _sheet(gen, fmt, sol, "".join(r[(fmt, sol)] for r in results))
              for fmt in fmts for sol in (False, True)}
    answers = {}
    for r in results:
        answers.update(r["answers"])
    return sheets, answers


__all__ = ["generate", "Generator", "parse_random", "parse_constraint", "stream", "moodle_xml",
           "answer_key_json", "answer_key_csv"]
