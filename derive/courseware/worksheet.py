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


def _problem(ex) -> str:
    """The problem as HTML: the instructions and the document's section that states the
    computation and the given values (never a section with results)."""
    from ..rendering.blocks import Content
    from ..rendering.formats import render_content
    sections = ex.content().sections
    chosen = [s for s in sections if s.title == "The computation"] or sections[:1]
    html = render_content(Content("", chosen), "html", ex.latex_names, ex.precision or 4, fragment=True,
                          notation=ex.document_notation(ex.notation))
    instructions = ex.meta.get("instructions")
    if instructions:
        import html as markup
        html = f"<p class=\"instructions\">{markup.escape(instructions)}</p>\n" + html
    return html


def worksheet(ex, tolerance=None, steps=None, title: str | None = None) -> str:
    """The worksheet page for ``ex`` (an example with values); ``tolerance``: a spec's
    ``Tolerance`` (relative or absolute, replacing the digits rule as in ``derive check``);
    ``steps``: the answer keys asked (default: the spec's ``ask:``, else the worked solution's)."""
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
                       "reveal": list(told.reveal), "mistakes": _mistakes(ex, st.key)})
    title = title or ex.title or "Worksheet"
    data = {"steps": secret, "tolerance": tolerance.check_args() if tolerance is not None else None,
            "solution": ex.render("html", fragment=True)}
    return page(title, _problem(ex), steps, data, seed=title)


def to_worksheet(ex) -> str:
    """The format registry's writer for ``worksheet`` (``ex.render("worksheet")``)."""
    return worksheet(ex)
