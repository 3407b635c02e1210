"""Self-checking worksheets (``--format worksheet``): an example's problem, an answer box per
asked step (the spec's ``ask:`` list, else the worked solution's steps, as ``derive check
--interactive`` asks them), and per step what the page needs to check an answer offline: the
exact value (as a float, or a matrix of floats), the tutor's hints (the rule, then the formula with
its numbers), the value with its justification, and the catalogue's mistakes that need no other
answer, recomputed for this example. The page is laid out by ``derive.rendering.worksheet``.

>>> import derive
>>> page = worksheet(derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1))
>>> page.startswith("<!DOCTYPE html>"), page.count('class="step"')
(True, 8)
"""
from __future__ import annotations

from ..core.errors import DeriveError


def _floats(value):
    """An exact value as the page compares it: a float, or a matrix as rows of floats."""
    a = getattr(value, "a", None)
    if a is None:
        return float(value)
    if getattr(value, "scalar", False):
        return float(a.ravel()[0])
    return [[float(e) for e in row] for row in a]


def _mistakes(ex, key: str) -> list:
    """(value, words) of each scalar catalogue mistake that explains an answer to ``key`` on its
    own (one needing other answers cannot be told apart without them)."""
    from ..checking.answers import parse_key
    from ..checking.mistakes import MISTAKES, Diagnosis
    from ..checking.report import Checker
    if getattr(ex, "matrices", False):
        return []
    checker = Checker(ex, {key: "0"})  # the key alone: no other answer is given
    parsed = parse_key(ex, key)
    found = {}
    for m in MISTAKES:
        if m.values != "scalar":
            continue
        try:
            candidates = m.alternatives(checker, parsed)
        except Exception:  # noqa: BLE001 - as diagnose(): a mistake that does not fit this graph
            continue
        for c in candidates:
            if c.value is None or c.needs:
                continue
            try:
                value = float(c.value)
            except (TypeError, ValueError):
                continue
            text = Diagnosis(m.name, c.title or m.title, c.hint or m.hint, c.detail).text
            found.setdefault(value, text)
    return [[v, t] for v, t in found.items()]


class _Unsupported(Exception):
    """A function the page's little evaluator does not compute (its step is not carried)."""


# The functions the page's evaluator computes (worksheet.js ``FUNCTIONS``), by SymPy class name.
PAGE_FUNCTIONS = {"exp": 1, "log": 1, "tanh": 1, "sin": 1, "cos": 1, "Abs": 1, "sign": 1,
                  "Relu": 1, "LeakyRelu": 2, "Sigmoid": 1, "Softplus": 1, "Elu": 2, "Silu": 1,
                  "IdentityActivation": 1, "Indicator": 1, "Maximum": None, "Minimum": None,
                  "Max": None, "Min": None, "LogSumExp": None}
RELATIONS = {">": ">", "<": "<", ">=": ">=", "<=": "<=", "==": "==", "!=": "!="}


def _tree(e, ref) -> object:
    """A SymPy expression as the page's evaluator reads it: a number, ``["v", id]`` (the value
    of another meaning: the student's answer when given, else its own rule), or ``[op, args…]``."""
    import sympy as sp
    if e.is_Symbol:
        return ["v", ref(str(e))]
    if e is sp.true or e is sp.false:
        return 1.0 if e is sp.true else 0.0
    if e.is_Number:
        return float(e)
    if e.is_NumberSymbol:
        return float(e)
    if isinstance(e, sp.Add):
        return ["+", *[_tree(a, ref) for a in e.args]]
    if isinstance(e, sp.Mul):
        return ["*", *[_tree(a, ref) for a in e.args]]
    if isinstance(e, sp.Pow):
        return ["^", _tree(e.base, ref), _tree(e.exp, ref)]
    if isinstance(e, sp.core.relational.Relational) and e.rel_op in RELATIONS:
        return [RELATIONS[e.rel_op], _tree(e.lhs, ref), _tree(e.rhs, ref)]
    if isinstance(e, (sp.And, sp.Or)):
        return ["and" if isinstance(e, sp.And) else "or", *[_tree(a, ref) for a in e.args]]
    name = type(e).__name__
    if isinstance(e, sp.Function) and name in PAGE_FUNCTIONS and \
            PAGE_FUNCTIONS[name] in (None, len(e.args)):
        return ["f", name, *[_tree(a, ref) for a in e.args]]
    raise _Unsupported(name)


def _meaning_id(kind, name="", of="", wrt="") -> str:
    return ":".join((kind, name, of, wrt))


def _rules(ex, ofs=()) -> dict:
    """Carried forward in the page: per meaning (a value, a local derivative, a derivative, an
    update) derive's own local rule in terms of other meanings — a node's line at its parents'
    values, the local derivative at them, a derivative as the sum over the node's children of
    (the child's derivative × the local), an update as θ − η·(its gradient) — so the page
    recomputes a step from the student's earlier answers as ``derive check`` does (its forward
    pass and reverse accumulation). {} for a matrix or symbolic example (not carried in the page);
    a rule whose function the page cannot compute is left out (that step is not carried)."""
    if getattr(ex, "matrices", False) or ex.symbolic or getattr(ex, "aliases", None) is not None:
        return {}
    graph, edges = ex.graph, ex.derivation().edges  # each edge's local rule, symbolically

    def value(name):
        return _meaning_id("value", name)
    rules = {}

    def add(key, build):
        try:
            rules[key] = build()
        except (_Unsupported, TypeError, ValueError):
            pass
    for name in graph.inputs:
        add(value(name), lambda name=name: float(ex.value(name)))
    children = {n: [] for n in list(graph.inputs) + list(graph.nodes)}
    for c, node in graph.nodes.items():
        add(value(c), lambda node=node: _tree(node.expr, value))
        for p in node.parents:
            children.setdefault(p, []).append(c)
            if (c, p) in edges:
                add(_meaning_id("local", "", c, p), lambda c=c, p=p: _tree(edges[(c, p)].symbolic, value))
    outputs = {ex.output} | {o for o in ofs if o in graph.nodes}  # the derivatives the steps ask
    for of in outputs:
        for n in children:
            if n == of:
                rules[_meaning_id("derivative", "", of, n)] = 1.0
                continue
            terms = [["*", ["v", _meaning_id("derivative", "", of, c)], ["v", _meaning_id("local", "", c, n)]]
                     for c in children.get(n, [])]
            rules[_meaning_id("derivative", "", of, n)] = ["+", *terms] if terms else 0.0
    if ex.lr is not None:
        for name in graph.inputs:
            try:
                rules[_meaning_id("update", name)] = ["+", float(ex.value(name)), [
                    "*", -float(ex.lr), ["v", _meaning_id("derivative", "", ex.output, name)]]]
            except (TypeError, ValueError):
                pass
    return rules


GIVEN_GAP = '<mo>&#x0002C;</mo><mspace width="2em" />'  # the printer's "A, \\qquad B" in a row


def _given_rows(html: str) -> str:
    """A display of several given values side by side (``W = …, X = …, b = …``) as one formula
    each in a wrapping row, so a narrow screen shows every value instead of hiding the last."""
    import re

    def split(m):
        body = m.group(2)
        if GIVEN_GAP not in body:
            return m.group(0)
        parts = body.split(GIVEN_GAP)
        comma = GIVEN_GAP[:GIVEN_GAP.index("<mspace")]
        return ('<div class="math given">' + "".join(
            f'<math{m.group(1)}><mrow>{p}{comma if n < len(parts) - 1 else ""}</mrow></math>'
            for n, p in enumerate(parts)) + "</div>")
    return re.sub(r'<div class="math"><math([^>]*)><mrow>(.*?)</mrow></math></div>', split, html)


def _problem(ex) -> str:
    """The problem as HTML: the instructions and the document's section that states the
    computation and the given values (never a section with results)."""
    from ..rendering.blocks import Content
    from ..rendering.formats import render_content
    sections = ex.content().sections
    chosen = [s for s in sections if s.title == "The computation"] or sections[:1]
    if ex.lr is not None and not any("learning rate" in str(getattr(b, "sentence", "")) for s in chosen
                                     for b in s.blocks):
        # a matrix example's computation omits η, which the asked updates need: state it
        import sympy as sp
        from dataclasses import replace
        from ..core.derivation import Chain, Value
        from ..core.functions import Sentence
        given = replace(chosen[-1], blocks=list(chosen[-1].blocks))
        given.say(Sentence("The learning rate is {0}.", (Chain(sp.Symbol("eta"), "=", Value(ex.lr)),)))
        chosen = chosen[:-1] + [given]
    html = render_content(Content("", chosen), "html", ex.latex_names, ex.precision or 4, fragment=True,
                          notation=ex.document_notation(ex.notation))
    html = _given_rows(html)
    import html as markup
    for key in ("variant", "instructions"):  # the spec's words, and which variant this page is
        if ex.meta.get(key):
            html = f"<p class=\"{key}\">{markup.escape(ex.meta[key])}</p>\n" + html
    return html


def worksheet(ex, tolerance=None, steps=None, title: str | None = None) -> str:
    """The worksheet page for ``ex`` (an example with values); ``tolerance``: a spec's
    ``Tolerance`` (relative or absolute, replacing the digits rule as in ``derive check``);
    ``steps``: the answer keys asked (default: the spec's ``ask:``, else the worked solution's)."""
    from ..checking.answers import meanings, parse_key
    from ..checking.tutor import Tutor
    from ..rendering.formats import Writer, get_format
    from ..rendering.worksheet import page
    if ex.symbolic:
        raise DeriveError("a worksheet needs an example with values: give every input a value")
    tutor = Tutor(ex, steps=steps)
    html = Writer(get_format("html"), precision=ex.precision or 4, notation=ex.notation)
    steps, secret = [], []
    for st in tutor.steps:
        told = tutor.help(st.key)
        steps.append({"key": st.key, "label": html.inline(told.label)})
        secret.append({"value": _floats(told.expected), "hints": [told.rule, told.formula],
                       "reveal": list(told.reveal), "mistakes": _mistakes(ex, st.key),
                       "meanings": [_meaning_id(*m) for m in meanings(ex, parse_key(ex, st.key))]})
    title = title or ex.title or "Worksheet"
    ofs = {parse_key(ex, st.key).of for st in tutor.steps}
    data = {"steps": secret, "rules": _rules(ex, ofs), "tolerance": tolerance.check_args() if tolerance is not None else None,
            "solution": ex.render("html", fragment=True)}
    return page(title, _problem(ex), steps, data, seed=title)


def to_worksheet(ex) -> str:
    """The format registry's writer for ``worksheet`` (``ex.render("worksheet")``)."""
    return worksheet(ex)
