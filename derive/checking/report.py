"""Checking a student's answers: per key a verdict ("correct", "incorrect", "carried": wrong, but
right given the student's own earlier answers, or "unreadable": the answer or its key could not be
read — the reason says where and what was expected), a tolerance that respects the significant
figures the student wrote (and a relative 1e-9 for machine floats such as ``0.1*3``; see
``derive.checking.answers``), symbolic answers compared symbolically, and diagnosed mistakes from
the catalogue in ``derive.checking.mistakes``.

Carried forward: a wrong step is recomputed from the student's own other answers, each standing
for every number that rounds to it (0.0350 for [0.03495, 0.03505]; a machine float for itself
± its relative tolerance; an exactly right answer for itself), by the engine's one forward pass
and one reverse accumulation over intervals (``derive.core.interval``). The step is carried when
the student's answer, at the digits written, lies in that range — however the student rounded
on the way — and a carried step gets no diagnosis (the slip is named where it was made).

>>> import derive
>>> ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1)
>>> ex.check({"z": 7, "dL/dw": 8, "w_new": 2.2}).ok
True
>>> report = ex.check({"z": 7.0, "dL/dw": "8 +", "gradient": 8})
>>> report
<Report 1 correct, 2 unreadable>
>>> report.status("dL/dw"), report.hint("dL/dw")
('unreadable', 'cannot read this answer: column 4: the expression ends too early')
>>> float(report.expected("dL/dw")), report.expected("dL/dw", as_float=True)
(8.0, 8.0)
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import mpmath
import sympy as sp

from ..core.approx import Undefined, approx
from ..core.engine import accumulate, descend, propagate
from ..core.errors import AnswerError, DeriveError
from ..core.interval import Interval, evaluate

from .answers import (Answer, Key, MIN_SIGNIFICANT, as_machine, expected_value, half_unit,  # noqa: F401
                      key_from_display, matches, meanings, parse_answer, parse_key)


STATUSES = ("correct", "carried", "incorrect", "unreadable")

INTERVAL_DIGITS = 30  # working precision of carried intervals (far below a machine value's rtol)


KEYS_LISTED = "ex.keys() lists them"  # how Python lists every key (the command line passes its own)


@dataclass
class Verdict:
    key: str
    given: object
    expected: sp.Expr | None  # None when the key itself could not be read
    status: str  # correct / incorrect / carried / unreadable
    hint: str = ""
    diagnosis: str = ""  # name of the catalogue mistake, if one explains the answer
    note: str = ""  # how the answer was compared, when that is not the usual rule (machine floats)


@dataclass
class Report:
    """The outcome of ``Example.check``: one ``Verdict`` per answer key, in the order given.

    In a REPL its repr counts the statuses; in a notebook it displays as a table (HTML or
    Markdown); ``str(report)`` is the plain-text table with hints.

    >>> import derive
    >>> report = derive.neuron(x=2, w=3, b=1, y=5, lr=0.1).check({"z": 7, "dL/dw": 9})
    >>> report
    <Report 1 correct, 1 incorrect>
    >>> report.counts()
    {'correct': 1, 'incorrect': 1}
    >>> report.expected("dL/dw", as_float=True)
    8.0
    """

    verdicts: dict = field(default_factory=dict)
    title: str = "Your answers, checked"
    example: object = field(default=None, repr=False, compare=False)  # for keys not answered

    @property
    def ok(self) -> bool:
        """True when every answer is correct (carried-forward credit is not "ok").

        >>> import derive
        >>> derive.neuron(x=2, w=3, b=1, y=5).check({"z": 7}).ok
        True
        """
        return all(v.status == "correct" for v in self.verdicts.values())

    def counts(self) -> dict:
        """How many answers have each status (statuses that occur only), in a fixed order.

        >>> import derive
        >>> derive.neuron(x=2, w=3, b=1, y=5).check({"z": 7, "a": 1}).counts()
        {'correct': 1, 'incorrect': 1}
        """
        counts = {s: sum(v.status == s for v in self.verdicts.values()) for s in STATUSES}
        return {s: n for s, n in counts.items() if n}

    def __repr__(self) -> str:
        counts = self.counts()
        return "<Report " + (", ".join(f"{n} {s}" for s, n in counts.items()) or "empty") + ">"

    def keys(self) -> list[str]:
        """The answer keys checked, in the order given.

        >>> import derive
        >>> derive.neuron(x=2, w=3, b=1, y=5).check({"dL/dw": 8, "z": 7}).keys()
        ['dL/dw', 'z']
        """
        return list(self.verdicts)

    def _get(self, key):
        for k, v in self.verdicts.items():
            if k == key or k.replace("∂", "d") == key.replace("∂", "d"):
                return v
        raise KeyError(f"no answer was given for {key!r}")

    def status(self, key: str) -> str:
        """The verdict on one answer: "correct", "incorrect", "carried" (right given your earlier
        answers) or "unreadable".

        >>> import derive
        >>> derive.neuron(x=2, w=3, b=1, y=5).check({"z": 7, "dL/dw": 9}).status("dL/dw")
        'incorrect'
        """
        return self._get(key).status

    def hint(self, key: str) -> str:
        """What to look at again for one answer ("" when it is correct).

        >>> import derive
        >>> derive.neuron(x=2, w=3, b=1, y=5).check({"z": 7}).hint("z")
        ''
        """
        return self._get(key).hint

    def expected(self, key: str, as_float: bool = False):
        """The exact value ``key`` asks for (a SymPy number, so ``float()`` works on it; a formula
        for a symbolic example); ``as_float=True`` returns it as a Python float.

        >>> import derive
        >>> derive.neuron(x=2, w=3, b=1, y=5).check({"dL/dw": 9}).expected("dL/dw")
        8
        """
        value = self._expected(key)
        if as_float:
            if value is None or not getattr(value, "is_number", False):
                raise DeriveError(f"{key!r} has no numeric value to give as a float "
                                  f"(expected: {value})")
            return float(value)
        return value

    def _expected(self, key):
        """The value of an answered key, else of any valid key of the example (unanswered):
        an unknown key raises ``UnknownKeyError`` listing the valid ones."""
        try:
            return self._get(key).expected
        except KeyError:
            if self.example is None:
                raise
        from ..core.engine import public_form
        from ..core.errors import UnknownKeyError
        ex = self.example
        try:
            parsed = parse_key(ex, key)
        except AnswerError as e:
            shown = key_from_display(ex, key) if isinstance(key, str) else None
            if shown is None:
                raise UnknownKeyError(unknown_key_reason(ex, key, e)) from None
            parsed = parse_key(ex, shown)
        return public_form(symbolic_truth(ex, parsed) if ex.symbolic else expected_value(ex, parsed))

    def expected_float(self, key: str) -> float:
        """``expected(key)`` as a Python float.

        >>> import derive
        >>> derive.neuron(x=2, w=3, b=1, y=5).check({"dL/dw": 9}).expected_float("dL/dw")
        8.0
        """
        return self.expected(key, as_float=True)

    def diagnosis(self, key: str) -> str:
        """The likely slip behind a wrong answer, from the mistake catalogue ("" if none fits).

        >>> import derive
        >>> derive.neuron(x=2, w=3, b=1, y=5).check({"z": 7}).diagnosis("z")
        ''
        """
        return self._get(key).diagnosis

    def content(self):
        """The report as format-free content (a table of the answers and the hints), which the
        ``to_*`` methods print.

        >>> import derive
        >>> derive.neuron(x=2, w=3, b=1, y=5).check({"z": 7}).content().sections[0].title
        'Step by step'
        """
        from ..core.derivation import Value
        from ..rendering.blocks import Content, Section
        from ..core.functions import Sentence
        from .grids import cell, grid_blocks
        s = Section("Step by step")
        rows = []
        for v in self.verdicts.values():
            given = v.given if isinstance(v.given, str) else str(v.given)
            # a formula is printed like the worked solution prints it (σ(z), ·), not as SymPy code
            expected = ("—" if v.expected is None
                        else str(v.expected) if not isinstance(v.expected, sp.Basic)
                        else Value(v.expected) if v.expected.is_number else v.expected)
            mark = {"correct": "✓ correct", "incorrect": "✗ incorrect", "carried": "✓ carried forward",
                    "unreadable": "? unreadable"}[v.status]
            given, expected = cell(v.given, given), cell(v.expected, expected)  # a matrix: a grid below
            rows.append([v.key, given, expected, mark])
        s.tabulate(["step", "your answer", "correct value", "verdict"], rows)
        grid_blocks(s, self.verdicts.values())  # the matrices of the table, as grids
        hints = Section("Hints")
        for v in self.verdicts.values():
            if v.hint:
                hints.bullet(Sentence(f"{v.key}: {v.hint}"))
            if v.note:
                hints.bullet(Sentence(f"{v.key}: {v.note}"))
        total = len(self.verdicts)
        good = sum(v.status in ("correct", "carried") for v in self.verdicts.values())
        carried = any(v.status == "carried" for v in self.verdicts.values())
        s.say(Sentence(credit_sentence(good, total, carried)))
        return Content(self.title, [s] + ([hints] if hints.blocks else []))

    def to_text(self) -> str:
        """The report as a plain-text table with the hints (also ``str(report)``).

        >>> import derive
        >>> "✓ correct" in derive.neuron(x=2, w=3, b=1, y=5).check({"z": 7}).to_text()
        True
        """
        from ..rendering.formats import render_content
        return render_content(self.content(), "text")

    def to_markdown(self) -> str:
        """The report as Markdown (a pipe table and a list of hints).

        >>> import derive
        >>> derive.neuron(x=2, w=3, b=1, y=5).check({"z": 7}).to_markdown().startswith("#")
        True
        """
        from ..rendering.formats import render_content
        return render_content(self.content(), "markdown")

    def to_latex(self, fragment: bool = False) -> str:
        """The report as a LaTeX document (``fragment=True``: the body only, to include).

        >>> import derive
        >>> "begin{document}" in derive.neuron(x=2, w=3, b=1, y=5).check({"z": 7}).to_latex()
        True
        """
        from ..rendering.formats import render_content
        return render_content(self.content(), "latex", fragment=fragment)

    def __str__(self):
        return self.to_text()

    def to_html(self, fragment: bool = True) -> str:
        """The report as HTML (a fragment for a notebook by default; ``fragment=False``: a page).

        >>> import derive
        >>> "<table" in derive.neuron(x=2, w=3, b=1, y=5).check({"z": 7}).to_html()
        True
        """
        from ..rendering.formats import render_content
        return render_content(self.content(), "html", fragment=fragment)

    def _repr_html_(self):
        return self.to_html(fragment=True)

    def _repr_markdown_(self):
        return self.to_markdown()

    def _repr_latex_(self):
        return self.to_latex(fragment=True)


class Checker:
    """Expected and carried-forward values for the keys of one example."""

    def __init__(self, ex, answers: dict, rtol=None, atol=None, listed: str = KEYS_LISTED):
        if not isinstance(answers, dict) or not answers:
            raise AnswerError("answers must be a non-empty mapping like {\"z\": 7, \"dL/dw\": 8}")
        self.ex, self.ev = ex, ex.evaluation
        self.rtol, self.atol = rtol, atol
        # A key or an answer that cannot be read is reported for that key; the others are checked.
        self.keys, self.unknown = {}, {}
        for k in answers:
            try:
                self.keys[k] = parse_key(ex, k)
            except AnswerError as e:
                shown = key_from_display(ex, k) if isinstance(k, str) else None
                if shown is not None:  # written as the document shows it: ∂L/∂w⁽¹⁾₁,₁
                    self.keys[k] = replace(parse_key(ex, shown), text=k)
                else:
                    self.unknown[k] = unknown_key_reason(ex, k, e, listed)
        self.answers = {k: parse_answer(ex, answers[k]) for k in self.keys}
        self.other_reading: dict = {}  # key -> the reading the answer did not take (dz2/dz1)
        if not ex.symbolic:
            for k in list(self.keys):
                self._read_ambiguous(k)
        self.by_meaning = {}
        self.text_of = {}  # meaning -> the key as the student wrote it
        self.meanings: dict = {}  # key -> every meaning its answer stands for
        for k, key in self.keys.items():
            self.meanings[k] = meanings(ex, key)
            for m in self.meanings[k]:  # the key's own reading first: a second key never displaces it
                if m not in self.by_meaning or m == _meaning(key):
                    self.by_meaning[m] = self.answers[k]
                    self.text_of[m] = k
        self._intervals: dict = {}
        self._right: dict = {}  # meaning -> is the answer right as written
        self._top: frozenset = frozenset()
        self._used: set = set()
        self._upstream: tuple = (frozenset(), frozenset())

    def _read_ambiguous(self, k):
        """``dz2/dz1`` where z1 also reaches z2 another way names the total and — as a worked
        solution lists it under "The local derivatives" — the local ∂z2/∂z1: the answer says
        which it gives. An answer equal to the local (and not the total) is read as the local;
        the other reading is kept for the report's words."""
        from .answers import local_reading, other_paths
        key, answer = self.keys[k], self.answers[k]
        if key.kind != "derivative" or answer.value is None or getattr(self.ex, "aliases", None) is not None \
                or not other_paths(self.ex, key.of, key.wrt):
            return
        local = Key(key.text, "local", of=key.of, wrt=key.wrt, note=key.note)
        reading = local_reading(self.ex, key)
        total, own = self.expected(key), self.expected(local)
        if reading is not None and matches(answer, own, self.rtol, self.atol) \
                and not matches(answer, total, self.rtol, self.atol):
            self.keys[k], self.other_reading[k] = reading, key
        else:
            self.other_reading[k] = local

    # -- exact values --

    def expected(self, key: Key):
        return expected_value(self.ex, key)

    # -- values computed from the student's own earlier answers --

    def given(self, kind, name="", of="", wrt=""):
        """The student's answer with this meaning as what it stands for: the exact value when it
        is exactly right, else an ``Interval`` (± half a unit in the last digit written; a machine
        value ± its relative tolerance, 1e-9 for a float). None when not given, not a number, or the answer being judged."""
        meaning = (kind, name, of, wrt)
        if meaning in self._top:  # never the answer being judged
            return None
        answer = self.by_meaning.get(meaning)
        if answer is None or answer.value is None:
            return None
        if meaning not in self._intervals:
            self._intervals[meaning] = self._stands_for(answer, Key("", kind, name, of, wrt))
        value = self._intervals[meaning]
        if value is not None:
            self._used.add(meaning)
        return value

    def _stands_for(self, answer: Answer, key: Key):
        try:
            exact = self.expected(key)
        except DeriveError:  # an update without a learning rate: reported on its own key
            return None
        if answer.value == exact:
            return exact
        value = approx(answer.value)
        radius = half_unit(answer)
        if radius is None:  # an exact form: exactly what it says
            return Interval(value)
        if answer.machine:  # a float's accidental digits: its relative tolerance instead
            radius = max(radius, abs(value) * mpmath.mpf(answer.rtol))
        return Interval.around(value, radius)

    def carried(self, key: Key):
        """``key`` recomputed from the student's *other* answers, each standing for every number
        that rounds to it: an ``Interval`` (or an exact value when no answer enters), by the
        engine's one forward pass and one reverse accumulation; None when the student's values
        leave the math undefined. ``inherited()`` then names the answers that entered."""
        self._top = frozenset(meanings(self.ex, key))
        self._used, self._upstream = set(), _upstream(self.ex, key)
        try:
            with mpmath.workdps(INTERVAL_DIGITS):
                return self._carried(key)
        except (Undefined, ZeroDivisionError):
            return None
        finally:
            self._top = frozenset()

    def inherited(self) -> list[str]:
        """The keys of the answers the last ``carried`` used that are not right as written, and
        that the step inherits: upstream of it along the graph (a value from the values before
        it; a gradient also from the local derivatives and gradients on its paths)."""
        out = []
        values, steps = self._upstream
        for meaning in self._used:
            if not (meaning[1] in values if meaning[0] == "value" else
                    meaning[0] == "update" or (meaning[2], meaning[3]) in steps
                    or (meaning[0] == "derivative" and meaning[3] in steps)):
                continue
            if meaning not in self._right:
                answer, exact = self.by_meaning[meaning], self.expected(Key("", *meaning))
                too_few = (answer.digits is not None and answer.digits < MIN_SIGNIFICANT
                           and answer.value != exact)
                self._right[meaning] = not too_few and matches(answer, exact)
            if not self._right[meaning] and self.text_of[meaning] not in out:
                out.append(self.text_of[meaning])
        return sorted(out, key=list(self.keys).index)

    def consistent(self, answer: Answer, carried, rtol=None, atol=None) -> bool:
        """Does ``answer`` round to a value in ``carried`` at the digits written (or within
        rtol/atol of one)?"""
        if answer.value is None or carried is None:
            return False
        if not isinstance(carried, Interval):
            return matches(answer, carried, rtol, atol)
        with mpmath.workdps(INTERVAL_DIGITS):  # the slack of an exact form is below double precision
            return self._within(answer, carried, rtol, atol)

    @staticmethod
    def _within(answer: Answer, carried: Interval, rtol, atol) -> bool:
        given = approx(answer.value)
        if rtol is not None or atol is not None:
            slack = (atol or 0) + (rtol or 0) * max(abs(carried.lo), abs(carried.hi))
        else:
            slack = half_unit(answer)
            if slack is None:  # an exact form: rounding noise only
                slack = mpmath.mpf(10) ** -30 * max(1, abs(given))
            elif answer.machine:
                slack = max(slack, abs(given) * mpmath.mpf(answer.rtol))
        slack = slack * (1 + mpmath.mpf(10) ** -9) + mpmath.mpf(10) ** -(INTERVAL_DIGITS - 5) * abs(given)
        return carried.lo - slack <= given <= carried.hi + slack

    def _carried(self, key: Key):
        ex, ev, graph = self.ex, self.ev, self.ex.graph
        values = propagate(graph, ev.values, lambda n: self.given("value", name=n),
                           lambda node, subs: evaluate(node.expr, subs))
        changed = {n for n in values if values[n] is not ev.values[n]}

        def at_parents(node):
            return {graph.symbols[q]: values[q] for q in node.parents}

        if key.kind == "value":
            if key.name in graph.inputs:
                return values[key.name]
            node = graph.nodes[key.name]
            if not any(q in changed for q in node.parents):
                return ev.values[key.name]
            return evaluate(node.expr, at_parents(node))

        def local(c, p):
            mine = self.given("local", of=c, wrt=p)
            if mine is not None:
                return mine
            node = graph.nodes[c]
            if not any(q in changed for q in node.parents):
                return ev.local(c, p).value
            return evaluate(ev.symbolic_local(c, p), at_parents(node))

        def accumulated(of):
            exact = ev.adjoints(of)

            def settle(n, adjoint):
                mine = self.given("derivative", of=of, wrt=n)  # never the judged key's own
                if mine is not None:
                    return mine
                # no student value reached it: the engine's own (compact) adjoint
                return adjoint if isinstance(adjoint, Interval) else exact[n]
            return accumulate(graph, of, local, settle)

        if key.kind == "local":
            return local(key.of, key.wrt)
        if key.kind == "derivative":
            if key.of == key.wrt:
                return sp.S.One
            return accumulated(key.of).get(key.wrt, sp.S.Zero)
        grad = self.given("derivative", of=ex.output, wrt=key.name)
        if grad is None:
            grad = accumulated(ex.output).get(key.name, sp.S.Zero)
        return descend(ev.values[key.name], ex.lr, grad)


def credit_sentence(good: int, total: int, carried: bool = False) -> str:
    """How many steps earn credit, in words that agree: one step is "The step", several are
    counted ("2 of 3 steps earn credit").

    >>> credit_sentence(0, 1), credit_sentence(1, 1, carried=True), credit_sentence(1, 3)
    ('The step earns no credit.', 'The step earns credit (carried forward: right given your earlier answers).', '1 of 3 steps earn credit.')
    """
    if total == 1:
        head = "The step earns credit" if good else "The step earns no credit"
        return head + (" (carried forward: right given your earlier answers)." if carried else ".")
    return (f"{good} of {total} steps earn credit"
            + (" (carried-forward steps are right given your earlier answers)." if carried else "."))


def _listed(names: list) -> str:
    """``z``, ``z and a``, ``z, a and L``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _meaning(key: Key) -> tuple:
    return (key.kind, key.name, key.of, key.wrt)


def _upstream(ex, key: Key) -> tuple:
    """(names whose values a step inherits, the steps it inherits): for a value, everything
    before it; for ∂of/∂wrt, the values before ``of`` and every edge (and node) on a path from
    ``wrt`` to ``of``; an update inherits its gradient's."""
    graph = ex.graph
    if key.kind == "value":
        return frozenset(graph.ancestors(key.name)) if key.name in graph.nodes else frozenset(), frozenset()
    of, wrt = (key.of, key.wrt) if key.kind in ("derivative", "local") else (ex.output, key.name)
    values = frozenset(graph.ancestors(of))
    if key.kind == "local":
        return values, frozenset()
    below, stack = {wrt}, [wrt]  # what wrt reaches, along its consumers
    while stack:
        for c in graph.consumers.get(stack.pop(), ()):
            if c not in below:
                below.add(c)
                stack.append(c)
    between = {wrt, of} | (below & values)
    edges = {(c, p) for c in between if c in graph.nodes for p in graph.nodes[c].parents if p in between}
    return values, frozenset(edges) | frozenset(between)


def check(ex, answers: dict, rtol=None, atol=None, listed: str = KEYS_LISTED) -> Report:
    """Check ``answers`` ({key: answer}) against ``ex``; see ``Example.check`` for the rules.
    ``listed``: how the student lists every key, named when an unknown key's hint cannot show
    them all (``ex.keys()`` in Python; the command line names its ``--keys`` option)."""
    from ..core.engine import public_form
    from .mistakes import diagnose, diagnose_formula
    from .answers import check_tolerance
    from .machine import note as machine_note
    rtol, atol = check_tolerance("rtol", rtol), check_tolerance("atol", atol)
    checker = Checker(ex, answers, rtol, atol, listed)
    report = Report(example=ex)
    for text in answers:
        if text in checker.unknown:
            report.verdicts[text] = Verdict(str(text), answers[text], None, "unreadable",
                                            checker.unknown[text])
            continue
        key, answer = checker.keys[text], checker.answers[text]
        try:
            expected = symbolic_truth(ex, key) if ex.symbolic else checker.expected(key)
        except AnswerError as e:  # w_new without a learning rate
            report.verdicts[text] = Verdict(text, answer.raw, None, "unreadable", str(e))
            continue
        shown_expected = public_form(expected)
        if answer.unreadable:
            report.verdicts[text] = Verdict(text, answer.raw, shown_expected, "unreadable",
                                            f"cannot read this answer: {answer.unreadable}")
            continue
        if answer.problem:  # beyond the work budget: graded, never a hang
            report.verdicts[text] = Verdict(text, answer.raw, shown_expected, "incorrect", answer.problem)
            continue
        if answer.formula is not None and key.kind == "update" and not ex.symbolic:
            # w − 0.1·(−0.01457): an update written in the example's names, at its values
            answer = replace(answer, value=_at_values(ex, answer.formula), formula=None)
        restated = _restated(ex, key, answer.formula) if answer.formula is not None else None
        if restated:  # `z: z` would be true of any z: not a value, whatever the example
            report.verdicts[text] = Verdict(text, answer.raw, shown_expected, "incorrect", restated)
            continue
        if answer.formula is not None:
            status, hint = _check_formula(checker, key, answer.formula)
            verdict = Verdict(text, answer.raw, shown_expected, status, hint)
            found = diagnose_formula(checker, key, answer.formula, answer.raw) \
                if status == "incorrect" else None
            if found is not None:  # a catalogue slip inside the formula (2*(y - a))
                verdict.diagnosis, verdict.hint = found.name, found.text
            report.verdicts[text] = verdict
            continue
        if ex.symbolic:  # a number for a formula: right only where the truth is a constant
            right = expected.is_number and matches(answer, expected, rtol, atol)
            report.verdicts[text] = Verdict(
                text, answer.raw, shown_expected, "correct" if right else "incorrect",
                "" if right else "this example has no values: write this step as a formula in its "
                                 f"names ({', '.join(ex.inputs)})")
            continue
        explicit = rtol is not None or atol is not None
        if answer.noise and matches(as_machine(answer), expected, rtol, atol):
            answer = as_machine(answer)  # the float is the value itself, not noise around a decimal
        # an exact form with a short literal (tanh(0.5)) is exact, not too few digits
        too_few = (not explicit and answer.digits is not None and answer.digits < MIN_SIGNIFICANT
                   and answer.slack is None
                   and not matches(replace(answer, digits=None, rtol=None), expected)
                   # np.float32(-0.80000001) prints "-0.8", yet holds 7 digits: judged as float32
                   and not (answer.precision is not None and matches(replace(answer, digits=None), expected)))
        if not too_few and (matches(answer, expected, rtol, atol)
                            or not explicit and _within_rounding(ex, key, answer, expected)):
            verdict = Verdict(text, answer.raw, shown_expected, "correct", note=machine_note(answer))
            if not verdict.note and answer.noise:
                verdict.note = (f"the float {answer.noise} read as {_short_text(answer)}: the rest of "
                                f"its digits are binary rounding noise")
            if not verdict.note and answer.machine and not matches(replace(answer, rtol=None), expected, rtol, atol):
                verdict.note = (f"read as a machine float ({answer.digits} significant digits, "
                                f"most of them binary rounding noise): compared within a relative "
                                f"tolerance of {answer.rtol:g}")
            verdict.note = "; ".join(n for n in (verdict.note, _reading_note(checker, text)) if n)
            report.verdicts[text] = verdict
            continue
        # a float32 marked wrong says it was judged as float32 (the tolerance it missed)
        verdict = Verdict(text, answer.raw, shown_expected, "incorrect",
                          note="; ".join(n for n in (machine_note(answer), _reading_note(checker, text)) if n))
        if answer.whole and not explicit and _rounds_to(expected, answer.value):
            too_few = True  # 1 for 0.9991: the value to one figure, so too few digits, not wrong
        if too_few and (answer.whole or matches(answer, expected)):
            verdict.hint = (f"too few digits: give at least {MIN_SIGNIFICANT} significant figures "
                            f"(the value is {_fmt(expected)})")
            report.verdicts[text] = verdict
            continue
        carried = checker.carried(key)
        if checker.consistent(answer, carried, rtol, atol):
            # right given the student's own earlier answers: credit, and no diagnosis (the
            # mistake, if any, is diagnosed where it was made)
            verdict.status = "carried"
            inherited = checker.inherited()
            given = (f"your {_listed(inherited)}, which this step inherits" if inherited
                     else "your earlier answers as written (carry more digits)")
            verdict.hint = f"right given {given} (with exact earlier values it would be {_fmt(expected)})"
            report.verdicts[text] = verdict
            continue
        other = checker.other_reading.get(text)
        if other is not None and matches(answer, checker.expected(other), rtol, atol):
            # the other reading of the key, not a slip: say which quantity the answer is
            verdict.hint = _other_reading_hint(checker, key, other)
            report.verdicts[text] = verdict
            continue
        found = diagnose(checker, key, answer)
        if found is not None:
            verdict.diagnosis, verdict.hint = found.name, found.text
        if verdict.status == "incorrect" and not verdict.hint:
            also = (f" (the local ∂{key.of}/∂{key.wrt} of {key.of}'s own line is "
                    f"{_fmt(checker.expected(other))})" if other is not None and other.kind == "local" else "")
            verdict.hint = f"the correct value is {_fmt(expected)}{also}; recheck this step"
        report.verdicts[text] = verdict
    return report


def _short_text(answer) -> str:
    from .answers import short_decimal
    return short_decimal(float(answer.noise)) or answer.noise


def _within_rounding(ex, key, answer, expected) -> bool:
    """A machine answer within its relative tolerance of the step's rounding scale (its sums'
    largest terms, its largest path): a float32 result whose terms nearly cancel keeps their
    rounding, as a matrix entry keeps its matrix's (``derive.checking.machine.rounding_scale``)."""
    from .machine import rounding_scale
    if not answer.machine or answer.value is None or not expected.is_number:
        return False
    try:
        scale = rounding_scale(ex, key)
    except (DeriveError, TypeError, ValueError, KeyError):
        return False
    return abs(approx(answer.value) - approx(expected)) <= answer.rtol * scale


def _paths_words(ex, of: str, wrt: str) -> str:
    """"both paths (z1 → z2, z1 → a1 → z2)", "all 3 paths", "every path"."""
    paths = ex.evaluation.paths(wrt, of, 3)
    if paths is None:
        return "every path"
    if len(paths) == 2:
        return "both paths (" + ", ".join(" → ".join(p) for p in paths) + ")"
    return f"all {len(paths)} paths"


def _reading_note(checker, text) -> str:
    """How the key was read, when that needs saying: a name in another case (``dl/dw``), or the
    local reading of ``dz2/dz1`` with the total it is not."""
    key = checker.keys[text]
    notes = [key.note] if key.note else []
    other = checker.other_reading.get(text)
    if key.kind == "local" and other is not None and other.kind == "derivative":
        notes.append(f"that is the local derivative ∂{key.of}/∂{key.wrt} of {key.of}'s own line, as "
                     f"the worked solution lists it; the total over "
                     f"{_paths_words(checker.ex, key.of, key.wrt)} is {_fmt(checker.expected(other))} "
                     f"(d{key.of}/d{key.wrt}|direct names the local alone)")
    return "; ".join(notes)


def _other_reading_hint(checker, key: Key, other: Key) -> str:
    """An answer equal to the local ∂L/∂w|direct under the total's key: named, never a slip."""
    return (f"that is the direct partial ∂{key.of}/∂{key.wrt}|direct of {key.of}'s own line, "
            f"{key.wrt}'s other paths held fixed; ∂{key.of}/∂{key.wrt} is the total over "
            f"{_paths_words(checker.ex, key.of, key.wrt)}, {_fmt(checker.expected(key))} "
            f"(give the direct partial under the key d{key.of}/d{key.wrt}|direct)")


def symbolic_truth(ex, key: Key) -> sp.Expr:
    """What ``key`` asks for in the names of the graph (no values): a node's definition, a
    derivative's symbolic form, an update ``w − lr·∂L/∂w``."""
    from ..core.engine import Evaluation
    graph = ex.graph
    if key.kind == "value":
        return graph.symbols[key.name] if key.name in graph.inputs else graph.nodes[key.name].expr
    symbolic = Evaluation(graph, None)
    if key.kind == "derivative":
        return symbolic.grad(key.wrt, key.of)
    if key.kind == "local":
        return symbolic.symbolic_local(key.of, key.wrt)
    if ex.lr is None:
        raise AnswerError(f"answer key {key.text!r} needs a learning rate (lr) in the example")
    return descend(graph.symbols[key.name], ex.lr, symbolic.grad(key.name, graph.output))


def _restated(ex, key: Key, formula: sp.Expr) -> str:
    """Why a formula answer is no answer: it names the quantity asked for, or a step computed
    after it (``z: z``, ``L: L``, ``z: a``), so it holds of any value. A step's answer may use
    the inputs and the steps before it; a derivative's, every step up to the one differentiated
    (``da/dz = a(1 − a)``). Empty when the formula is an answer.

    >>> import derive
    >>> ex = derive.neuron(x=2, w=3, b=1, y=5)
    >>> _restated(ex, parse_key(ex, "z"), ex.graph.symbols["z"])
    'not a value: the answer restates z (write it in the inputs x, w, b, y)'
    """
    graph = ex.graph
    order = list(graph.nodes)
    names = {s: n for n, s in graph.symbols.items()}
    used = [names[s] for s in sorted(formula.free_symbols, key=str) if s in names]
    if key.kind == "value" and key.name in graph.inputs and ex.symbolic:
        return ""  # without values an input is its own symbol: `x: x` is the answer
    if key.kind == "value":
        banned = {key.name} | (set(order[order.index(key.name):]) if key.name in order else set())
    elif key.kind in ("derivative", "local") and key.of in order:
        banned = set(order[order.index(key.of) + 1:])
    else:
        return ""
    named = [n for n in used if n in banned]
    if not named:
        return ""
    if key.kind == "value" and key.name in graph.inputs:
        return f"not a value: the answer restates {key.name}; give its value"
    before = order[:order.index(key.name)] if key.kind == "value" and key.name in order else []
    allowed = ", ".join(graph.inputs) + (", or the steps before it" if before else "")
    what = "restates " + key.name if key.kind == "value" and key.name in named else \
        "uses " + ", ".join(named) + ", computed after this step"
    return f"not a value: the answer {what} (write it in the inputs {allowed})"


def _at_values(ex, formula: sp.Expr):
    """A formula in the example's names at the example's values (exact, within the budget)."""
    from ..core.exact import substitute
    graph, values = ex.graph, ex.evaluation.values
    return substitute(formula, {graph.symbols[n]: v for n, v in values.items()})


def unknown_key_reason(ex, key, error: Exception, listed: str = KEYS_LISTED) -> str:
    """Why a key is not one of ``ex``'s, with the valid keys listed (the first dozen) and, when
    there are more, ``listed``: how the student can see them all where they are."""
    from .answers import answer_keys
    valid = list(answer_keys(ex))
    shown = ", ".join(valid[:12]) + (f", … ({len(valid)} in all; {listed})"
                                     if len(valid) > 12 else "")
    return f"{error}; valid keys: {shown}"


def _rounds_to(value, whole) -> bool:
    """Is ``value`` ``whole`` when rounded to one significant figure (0.9991 → 1; 0.5 → 0.5,
    not 1; 0.01 → 0.01, not 0)? Decides when a single-digit answer is "too few digits"."""
    from .mistakes import round_significant
    if whole == 0 or not getattr(value, "is_number", False) or not value.is_real:
        return False
    return round_significant(value, 1) == whole


def _fmt(value) -> str:
    from ..core.numbers import is_exact_display
    from ..rendering.printing import printer_for
    text = printer_for("text").number(value)  # as the table prints it: −0.2913, 8.655×10⁻⁶
    return text if is_exact_display(value) else f"≈ {text}"


def _check_formula(checker, key: Key, formula: sp.Expr):
    """Compare a symbolic answer with the symbolic truth: structurally, else at random points
    (inputs sampled on both sides of every kink)."""
    ex = checker.ex
    graph = ex.graph
    if key.kind == "update" and not ex.symbolic:
        return "incorrect", "give the updated value as a number"
    truth = symbolic_truth(ex, key)
    from ..core.budget import is_zero
    if is_zero(formula - truth):  # within the time budget; undecided: compare at random points
        return "correct", ""
    # Express both sides in the inputs, then compare at random points.
    def in_inputs(expr):
        for name in reversed(list(graph.nodes)):
            expr = expr.xreplace({graph.symbols[name]: graph.nodes[name].expr})
        return expr
    left, right = in_inputs(formula), in_inputs(truth)
    from ..core.exact import substitute  # exact, within the budget (x**100000000 is refused)
    rng = random.Random(0)
    compared = 0
    for _ in range(12):
        point = {graph.symbols[n]: sp.Rational(rng.choice([-1, 1]) * rng.randint(1, 40), rng.randint(3, 9))
                 for n in graph.inputs}
        try:
            a, b = approx(substitute(left, point)), approx(substitute(right, point))
        except DeriveError:  # undefined or beyond the budget at this point: try another
            continue
        compared += 1
        if abs(a - b) > mpmath.mpf(10) ** -20 * (1 + abs(b)):
            return "incorrect", "this formula differs from the correct one at some inputs"
    if not compared:
        return "incorrect", "this formula could not be evaluated at any test point"
    return "correct", ""


__all__ = ["check", "Report", "Verdict", "parse_key", "parse_answer", "matches", "Checker",
           "symbolic_truth", "STATUSES"]
