"""The interactive tutor behind ``derive check --interactive``: a student answers one step of the
worked solution at a time and gets a verdict after each.

The session is a plain state machine (``Tutor``): it is fed one line at a time and answers with
the lines to show, so it is tested without a terminal. ``run`` drives it with any line reader:
``terminal_reader`` (prompt_toolkit: line editing and history) when both ends are a terminal,
``line_reader`` (line by line, the answers echoed as a transcript) for piped input.

The rules of a session:

* the steps come in the worked solution's order (forward values, local derivatives, the gradient,
  the update), or in the order of the spec's ``ask:`` list;
* an answer the checker cannot read is asked again and does not count as a try;
* three tries per step; the hints escalate: after the first wrong answer the diagnosed mistake or
  the rule that applies, after the second the formula with the numbers in it, after the third the
  value. ``hint`` shows the next hint at once (it costs no try), ``help`` says how to answer,
  ``?`` shows the value at once (the step then earns no credit), ``q`` stops — none of them is
  ever taken as an answer;
* every local derivative of the worked solution is asked, a skip edge's too: where its parent
  also reaches the line by another path, under the key of the line's own partial
  (``dz2/dz1|direct``), beside the total;
* every verdict comes from ``Example.check`` on all answers so far, so an answer that is right
  given the student's own earlier (wrong) answers is carried forward — consistent, and credited;
* at the end a summary table; the session succeeds (exit status 0) only when every step is
  correct or carried forward — a step not answered counts against it.

A tensor example gets the same session over whole matrices (``MatrixTutor``, which ``Tutor``
returns for one): the steps of the matrix solution in its order (each line's value, then the
gradients going backwards, the parameters' gradients and their updates), answers typed as nested
lists (``[[1, 2], [3, 4]]``) or in the printed form (``[1, 2; 3, 4]``; a column ``[1; 2]`` or
``[1, 2]``), verdicts from the matrix check (entry by entry, transposes and other slips
diagnosed), hints from the matrix rules. ``entries`` answers the current matrix entry by entry
(``dL/dW[1,2] = ``), each entry judged at once as a number (carried forward from the student's
earlier matrices too), the whole matrix then counting as the step's answer for the later steps.

>>> import derive
>>> tutor = Tutor(derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1))
>>> tutor.prompt()
'z = '
>>> tutor.respond("7").lines
('  ✓ correct',)
>>> tutor.respond("3").lines[0]
'  ✗ not right yet'
>>> tutor.respond("q").done, tutor.exit_code
(True, 1)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..core.derivation import Chain, Partial, Product, Sum, Total, Value
from ..core.errors import DeriveError
from .matrixcheck import read_matrix  # the one reader of typed matrices, shared with check

TRIES = 3  # tries per step before the value is shown
QUIT = frozenset({"q", "quit", "exit"})
SHOW = "?"
HINT = frozenset({"hint"})  # never a single letter: "h" may be a name of the example
HELP = frozenset({"help"})
ENTRIES = frozenset({"entries", "entry by entry", "by entry"})
# A step earns credit when it ends in one of these.
CREDITED = ("correct", "carried")
STATUS_TEXT = {"correct": "✓ correct", "carried": "✓ carried forward", "incorrect": "✗ incorrect",
               "shown": "shown (?)", "not answered": "not answered"}
WIDTH = 88  # wrap long hint lines for an ordinary terminal


@dataclass
class StepState:
    """One step of a session: its answer key, the readable answers given, how it ended."""

    key: str
    attempts: list = field(default_factory=list)  # every readable answer, in order
    status: str = "not answered"  # correct, carried, incorrect, shown, not answered
    hints: int = 0  # hints shown so far (asked with `hint`, or after a wrong answer)

    @property
    def tries(self) -> int:
        return len(self.attempts)

    @property
    def answer(self) -> str:
        return self.attempts[-1] if self.attempts else ""


@dataclass(frozen=True)
class Reply:
    """What the tutor says to one line, and whether the session is over."""

    lines: tuple
    done: bool = False


@dataclass(frozen=True)
class StepHelp:
    """What the tutor says about one step before any answer, for pages that show it on request
    (``derive serve``, worksheets): the step's label (a math object), its exact value, the rule,
    the formula with its numbers, and the value with its justification (lines of text)."""

    label: object
    expected: object
    rule: str
    formula: str
    reveal: tuple


def worked_steps(ex) -> list[str]:
    """The answer keys of a worked solution of ``ex``, in the order the document shows them: the
    forward values, the local derivatives (from the output back along a single path; in graph
    order when several paths meet), the gradient of the focus parameter and its update.
    A spec's ``ask:`` list, when given, replaces them.

    >>> import derive
    >>> worked_steps(derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1))
    ['z', 'a', 'L', 'dL/da', 'da/dz', 'dz/dw', 'dL/dw', 'w_new']
    """
    if ex.meta.get("ask"):
        return list(ex.meta["ask"])
    d = ex.derivation()
    steps = [f.name for f in d.forward]
    single = d.paths is not None and len(d.paths) == 1
    local = list(d.local)[::-1] if single else list(d.local)
    # A local derivative is asked under d(of)/d(wrt) when it equals that total (the edge is the
    # only way from wrt to of); a skip edge's, under the key of the line's own partial
    # (dL/dw|direct beside an L2 term's total dL/dw), where the keys have one.
    steps += [f"d{s.of}/d{s.wrt}" if _only_edge(ex, s.of, s.wrt) else _direct_key(ex, s.of, s.wrt)
              for s in local]
    steps = [k for k in steps if k]
    steps.append(f"d{d.output}/d{d.wrt}")
    if d.update is not None:
        steps.append(f"{d.wrt}_new")
    return list(dict.fromkeys(steps))


def _direct_key(ex, of: str, wrt: str) -> str:
    """The key of the local ∂of/∂wrt of a skip edge (``dz2/dz1|direct``), "" where the answer
    keys have no such form."""
    from .answers import parse_key
    key = f"d{of}/d{wrt}|direct"
    try:
        parse_key(ex, key)
    except DeriveError:
        return ""
    return key


def _only_edge(ex, of: str, wrt: str) -> bool:
    graph = ex.graph
    return not any(wrt in graph.ancestors(q) for q in graph.nodes[of].parents if q != wrt)


class Tutor:
    """A checking session over ``steps`` (default: ``worked_steps(ex)``), fed one line at a time.

    ``respond(line)`` returns a ``Reply``; ``prompt()`` is what to ask next; ``stop()`` ends the
    session (``q``, end of input); ``summary()`` is the closing table as document content and
    ``exit_code`` 0 only when every step earned credit.

    >>> import derive
    >>> tutor = Tutor(derive.neuron(x=2, w=3, b=1, y=5, lr=0.1), steps=["z", "dL/dw"])
    >>> [tutor.respond(a).done for a in ("7", "8")], tutor.exit_code
    ([False, True], 0)
    """

    def __new__(cls, ex=None, *args, **kwargs):
        if cls is Tutor and getattr(ex, "matrices", False):
            cls = MatrixTutor  # a tensor example: the same session over whole matrices
        return super().__new__(cls)

    def __init__(self, ex, steps=None, tries: int = TRIES, rtol=None, atol=None):
        if ex.symbolic:
            raise DeriveError("the tutor needs an example with values (give every input a value)")
        if not isinstance(tries, int) or tries < 1:
            raise DeriveError(f"tries must be a whole number ≥ 1, got {tries!r}")
        keys = list(dict.fromkeys(steps)) if steps else self.worked_steps(ex)
        for k in keys:
            self.key_of(ex, k)  # an unknown step is an error now, not in the middle of a session
        self.ex, self.tries, self.rtol, self.atol = ex, tries, rtol, atol
        self.steps = [StepState(k) for k in keys]
        self.index = 0
        self.stopped = False
        from ..rendering.formats import Writer, get_format
        self.writer = Writer(get_format("text"), precision=ex.precision or 4, notation=ex.notation)

    @staticmethod
    def worked_steps(ex) -> list[str]:
        """The steps a session asks by default (see ``worked_steps``)."""
        return worked_steps(ex)

    @staticmethod
    def key_of(ex, text: str):
        """What the answer key ``text`` names, as the check reads it."""
        from .answers import parse_key
        return parse_key(ex, text)

    def read(self, text: str):
        """An answer as the checker takes it (the typed text; a matrix session reads lists)."""
        return text

    # -- the state --

    @property
    def current(self) -> StepState | None:
        return self.steps[self.index] if self.index < len(self.steps) else None

    @property
    def done(self) -> bool:
        return self.stopped or self.current is None

    @property
    def exit_code(self) -> int:
        return 0 if all(s.status in CREDITED for s in self.steps) else 1

    def prompt(self) -> str:
        return f"{self.current.key} = " if self.current else ""

    def intro(self) -> list[str]:
        """The opening lines: the title, the given values, how to answer."""
        ex, m = self.ex, self.writer.math
        given = [m(Chain(ex.graph.symbols[n], "=", Value(ex.evaluation.values[n]))) for n in ex.inputs]
        if ex.lr is not None:
            given.append(m(Chain(sp.Symbol("eta"), "=", Value(ex.lr))))
        n = len(self.steps)
        return [ex.title or "Derivation", *_joined("Given: ", given),
                f"Answer each of the {n} step{'s' if n != 1 else ''} with a number or a formula: "
                f"{self.tries} tries per step; hint gives a hint, help says how, ? shows the value, "
                f"q stops."]

    # -- one line of input --

    def respond(self, line: str) -> Reply:
        """The tutor's answer to one line the student typed."""
        if self.done:
            return Reply((), True)
        text = (line or "").strip()
        step = self.current
        if text.lower() in QUIT:
            return self.stop()
        if not text:
            return Reply((f"  type your answer for {step.key} ({self.answer_form}); "
                          f"hint, help, ? shows the value, q stops",))
        if text.lower() in HELP:
            return Reply(tuple(self.usage()))
        if text.lower() in HINT:
            return Reply(tuple(self.next_hint(step)))
        command = self.command(text.lower())
        if command is not None:
            return command
        if text == SHOW:
            step.status = "shown"
            return self._advance(self._reveal(step.key))
        report, unreadable = self._judge(step.key, text)
        if unreadable is not None:
            said = unreadable if unreadable.startswith("cannot read") else f"cannot read that: {unreadable}"
            return Reply((f"  {said.rstrip('.')}. Try again (this does not count as a try).",))
        misfit = self._misfit(report, step.key, text)
        if misfit:  # the wrong kind of answer, not a wrong value: asked again at no cost
            return Reply((f"  {misfit} Try again (this does not count as a try).",))
        step.attempts.append(text)
        status = report.status(step.key)
        if status == "correct":
            step.status = "correct"
            return self._advance(["  ✓ correct"])
        if status == "carried":
            step.status = "carried"
            return self._advance([f"  ✓ carried forward: {report.hint(step.key)}"])
        left = self.tries - step.tries
        lines = ["  ✗ not right yet" if left else "  ✗ incorrect"]
        said = self._diagnosis(report, step.key)
        if said:
            lines.append(f"  {said}")
        if not left:
            step.status = "incorrect"
            return self._advance(lines + self._reveal(step.key))
        if step.tries == 1 and not said:
            lines.append(f"  Hint: {self._rule(step.key)}")
            step.hints = max(step.hints, 1)
        elif step.tries >= 2:
            lines.append(f"  Hint: {self._formula(step.key)}")
            step.hints = max(step.hints, 2)
        lines.append(f"  Try again ({left} {'try' if left == 1 else 'tries'} left; ? shows the value).")
        return Reply(tuple(lines))

    # -- the commands: help, hint --

    answer_form = "a number or a formula"

    def usage(self) -> list[str]:
        """What the command ``help`` shows: how to answer the current step, and the commands."""
        step = self.current
        return [f"  Answer {step.key} with {self.answer_form}; {self.tries} tries per step.",
                *self.commands()]

    def commands(self) -> list[str]:
        return ["  hint: the next hint for this step (costs no try)",
                "  ?: show the value (the step then earns no credit)",
                "  q: stop (the steps left are not answered)"]

    def command(self, text: str) -> Reply | None:
        """A session command beyond help, hint, ? and q (None: the line is an answer)."""
        return None

    def next_hint(self, step) -> list[str]:
        """The next hint of the step's ladder (the rule, then the formula with its numbers), at no
        cost; after the last one, how to see the value."""
        ladder = (self._rule, self._formula)
        if step.hints >= len(ladder):
            return ["  No more hints for this step: ? shows the value (the step then earns no credit)."]
        hint = ladder[step.hints](step.key)
        step.hints += 1
        return [f"  Hint: {hint}"]

    def stop(self, reason: str = "Stopped") -> Reply:
        """End the session (``q``, or ``reason="End of input"``): the remaining steps are not
        answered."""
        self.stopped = True
        missing = [s.key for s in self.steps if s.status == "not answered"]
        if not missing:
            return Reply((), True)
        return Reply(tuple(_joined(f"{reason}; not answered: ", missing, ".")), True)

    def _advance(self, lines) -> Reply:
        self.index += 1
        return Reply(tuple(lines), self.done)

    def help(self, key: str) -> StepHelp:
        """The label, value and hints of the step ``key`` (see ``StepHelp``).

        >>> import derive
        >>> Tutor(derive.neuron(x=2, w=3, b=1, y=5)).help("z").formula
        'z = wx + b = 3 · 2 + 1'
        """
        k = self._kind(key)
        return StepHelp(self._label(k), self._expected(k), self._rule(key), self._formula(key),
                        tuple(line.strip() for line in self._reveal(key)))

    def diagnosis(self, report, key: str) -> str:
        """What the checker's ``report`` says about a wrong answer to ``key`` without giving its
        value ("" when nothing is diagnosed): the words the tutor shows after a wrong try."""
        return self._diagnosis(report, key)

    # -- judging, through the public checking API --

    def given(self, credited_only: bool = False) -> dict:
        """The answers earlier steps ended with: the basis of carried-forward credit. With
        ``credited_only`` just the steps that earned credit; a step whose value was shown then
        counts with its exact value, which the student now knows."""
        return {s.key: s.answer for s in self.steps[:self.index]
                if s.attempts and (s.status in CREDITED or not credited_only)}

    def _judge(self, key: str, text: str):
        """(report, None), or (None, why) when the answer cannot be read.

        A later answer may build on the values shown for steps the student missed, or on the
        student's own earlier (wrong) answers: it is checked against the credited answers first
        and, unless that makes it correct, against all of them, keeping the better verdict
        (correct, else carried forward)."""
        rank = {"correct": 0, "carried": 1}
        try:
            read = {k: self.read(v) for k, v in {**self.given(True), key: text}.items()}
            best = self.ex.check(read, rtol=self.rtol, atol=self.atol)
        except DeriveError as e:  # an unreadable answer (the checker also says so per key)
            return None, str(e)
        if best.status(key) == "unreadable":
            return None, best.hint(key) or "not a number or a formula"
        everything = self.given()
        if best.status(key) != "correct" and everything != self.given(True):
            try:
                read = {k: self.read(v) for k, v in {**everything, key: text}.items()}
                report = self.ex.check(read, rtol=self.rtol, atol=self.atol)
            except DeriveError:  # the student's own values leave the math undefined or huge
                report = None
            if report is not None and rank.get(report.status(key), 2) < rank.get(best.status(key), 2):
                best = report
        return best, None

    def _misfit(self, report, key: str, text: str) -> str:
        """Why a readable answer is not an answer to ``key`` at all ("" when it is one): a
        scalar session has no such answers."""
        return ""

    def _diagnosis(self, report, key: str) -> str:
        """What the checker says about a wrong answer, never the value itself: a diagnosed
        mistake, or a request for more digits when the answer is right to the digits written."""
        if report.diagnosis(key):
            return report.hint(key)
        hint = report.hint(key)
        if hint.startswith("too few digits"):
            from .answers import MIN_SIGNIFICANT
            return (f"right to the digits you wrote, but too few digits: give at least "
                    f"{MIN_SIGNIFICANT} significant figures")
        return ""

    # -- hints, from the derivation --

    def _kind(self, key: str):
        return self.key_of(self.ex, key)

    def _label(self, k):
        ex = self.ex
        if k.kind == "value":
            return ex.graph.symbols[k.name]
        if k.kind == "update":
            return sp.Symbol(f"{k.name}_new")
        if k.kind == "local":  # a skip edge's own partial, beside the total (∂L/∂w|direct)
            return Partial(k.of, k.wrt, direct=True)
        return Partial(k.of, k.wrt) if ex.graph.nodes.get(k.of) and k.wrt in ex.graph.nodes[k.of].parents \
            and _only_edge(ex, k.of, k.wrt) else Total(k.of, k.wrt)

    def _expected(self, k):
        from .answers import expected_value
        return expected_value(self.ex, k)

    def _reveal(self, key: str) -> list[str]:
        """The value, and for a local derivative the sentence that justifies it."""
        k = self._kind(key)
        lines = [f"  The value: {self.writer.math(Chain(self._label(k), '=', Value(self._expected(k))))}"]
        if isinstance(self._label(k), Partial):
            step = self.ex.evaluation.local(k.of, k.wrt)
            lines += [f"    ({why})" for why in dict.fromkeys(self.writer.sentence(s) for s in step.justification)]
        return lines

    def _rule(self, key: str) -> str:
        """Which rule gives this step, without its numbers."""
        k, m, ex = self._kind(key), self.writer.math, self.ex
        if k.kind == "value":
            if k.name in ex.graph.inputs:
                return f"{key} is given"
            node = ex.graph.nodes[k.name]
            plural = "s" if len(node.parents) > 1 else ""
            return (f"the forward pass: {m(Chain(node.symbol, '=', node.display))}, with the "
                    f"value{plural} of {self._names(node.parents)}")
        if k.kind == "update":
            return ("gradient descent: " + m(Chain(sp.Symbol(f"{k.name}_new"), "=", ex.graph.symbols[k.name],
                                                   "-", Product((sp.Symbol("eta"), Total(ex.output, k.name))))))
        if k.of == k.wrt:
            return f"the derivative of {self._names([k.of])} with respect to itself"
        if isinstance(self._label(k), Partial):
            node = ex.graph.nodes[k.of]
            return (f"the local derivative of the line {m(Chain(node.symbol, '=', node.display))} "
                    f"with respect to {self._names([k.wrt])}, the other inputs held fixed")
        d = ex.derivation(k.wrt, k.of)
        if not d.paths and d.paths is not None:
            return f"{k.of} does not depend on {k.wrt}"
        if d.paths is not None and len(d.paths) == 1:
            return "the chain rule: " + m(Chain(Total(k.of, k.wrt), "=", self._path_product(d)[0]))
        consumers = d.adjoints[-1].consumers
        how = (f"summed over every use of {self._names([k.wrt])}" if len(consumers) > 1
               else f"through {self._names(consumers)}")
        return f"the chain rule, {how}: " + m(Chain(Total(k.of, k.wrt), "=", self._consumer_sum(d)[0]))

    def _formula(self, key: str) -> str:
        """The formula of this step with the numbers in it, short of the result. (The sentence
        that justifies a local derivative often states its value — "z = 7 > 0, so ReLU' = 1" —
        so it comes with the value.)"""
        k, m, ex = self._kind(key), self.writer.math, self.ex
        if k.kind == "value":
            if k.name in ex.graph.inputs:
                return f"{key} is given"
            node = ex.graph.nodes[k.name]
            items = [node.symbol, "=", node.display]
            if not node.display.is_Symbol:
                items += ["=", ex.evaluation.substituted(node.display)]
            return m(Chain(*items))
        if k.kind == "update":
            ev = ex.evaluation
            return m(Chain(sp.Symbol(f"{k.name}_new"), "=", ex.graph.symbols[k.name], "-",
                           Product((sp.Symbol("eta"), Total(ex.output, k.name))), "=",
                           Value(ev.values[k.name]), "-",
                           Product((Value(ex.lr), Value(ev.grad(k.name, ex.output))))))
        if k.of == k.wrt:
            return self._rule(key)
        label = self._label(k)
        if isinstance(label, Partial):
            step = ex.evaluation.local(k.of, k.wrt)
            if step.symbolic.is_Number:  # the formula would be the value: the rule alone
                return f"{self._rule(key)}; it is a constant, the same at any values"
            items = [label, "=", step.symbolic]
            # a bare symbol (∂z/∂w = x) substituted would be the value itself
            if not step.symbolic.is_Symbol and step.substituted is not None and step.substituted.values:
                items += ["=", step.substituted]
            return m(Chain(*items))
        d = ex.derivation(k.wrt, k.of)
        if not d.paths and d.paths is not None:
            return self._rule(key)
        if d.paths is not None and len(d.paths) == 1:
            rule, numbers = self._path_product(d)
        else:
            rule, numbers = self._consumer_sum(d)
        return m(Chain(Total(k.of, k.wrt), "=", rule, "=", numbers))

    def _names(self, names) -> str:
        """Graph names as printed (δ for delta), joined: "w, x and b"."""
        names = [self.writer.math(self.ex.graph.symbols[n]) for n in names]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    def _path_product(self, d):
        """The chain rule along the one path: (symbolic product, product of the local values)."""
        path = d.paths[0].nodes
        edges = list(zip(path, path[1:]))[::-1]  # from the output back
        ev = self.ex.evaluation
        return (Product(tuple(Partial(b, a) for a, b in edges)),
                Product(tuple(Value(ev.local(b, a).value) for a, b in edges)))

    def _consumer_sum(self, d):
        """Reverse accumulation at ``d.wrt``: Σ over its consumers c of d(out)/dc · ∂c/∂wrt."""
        ev, wrt, of = self.ex.evaluation, d.wrt, d.output
        consumers = d.adjoints[-1].consumers
        rule = [Partial(c, wrt) if c == of else Product((Total(of, c), Partial(c, wrt))) for c in consumers]
        numbers = [Value(ev.local(c, wrt).value) if c == of
                   else Product((Value(ev.grad(c, of)), Value(ev.local(c, wrt).value))) for c in consumers]
        if len(rule) == 1:
            return rule[0], numbers[0]
        return Sum(tuple(rule)), Sum(tuple(numbers))

    # -- the end --

    def summary(self):
        """The closing table (step, your answer, status, tries) as document content."""
        from ..core.functions import Sentence
        from ..rendering.blocks import Content, Section
        s = Section("Summary")
        s.tabulate(["step", "your answer", "status", "tries"],
                   [[st.key, st.answer or "—", STATUS_TEXT[st.status], str(st.tries)] for st in self.steps])
        good = sum(st.status in CREDITED for st in self.steps)
        total = len(self.steps)
        s.say(Sentence(f"{good} of {total} step{'' if total == 1 else 's'} "
                       f"earn{'s' if good == 1 and total == 1 else ''} credit."))
        for status, label in (("not answered", "Not answered"), ("shown", "Shown with ?"),
                              ("incorrect", "Incorrect after " + str(self.tries) + " tries")):
            keys = [st.key for st in self.steps if st.status == status]
            if keys:
                s.say(Sentence(f"{label}: {', '.join(keys)}."))
        return Content(self.ex.title or "Your session", [s])

    def summary_text(self, fmt: str = "text") -> str:
        from ..rendering.formats import render_content
        return render_content(self.summary(), fmt)


# -- a tensor example: the same session over whole matrices ---------------------------------------


def matrix_steps(ex) -> list[str]:
    """The steps of a tensor example's worked solution, in its order: each line's value, the
    gradient of every line the output depends on going backwards, each parameter's gradient and,
    with a learning rate, its update. A spec's ``ask:`` list replaces them.

    >>> import derive
    >>> ex = derive.Example.from_equations("z = W @ x + b\\nL = sum(relu(z))",
    ...                                    values={"W": [[1, 2]], "x": [3, 4], "b": [1]}, lr=0.1)
    >>> matrix_steps(ex)
    ['z', 'u1', 'L', 'dL/du1', 'dL/dz', 'dL/dW', 'dL/db', 'W_new', 'b_new']
    """
    if ex.meta.get("ask"):
        return list(ex.meta["ask"])
    out, uses = ex.output, ex.graph.uses
    relevant, pending = {out}, [out]
    while pending:  # everything the output depends on
        for n in uses.get(pending.pop(), ()):
            if n not in relevant:
                relevant.add(n)
                pending.append(n)
    steps = list(ex.nodes)
    steps += [f"d{out}/d{eq.name}" for eq in reversed(ex.graph.equations)
              if eq.name in relevant and eq.name != out]
    params = [n for n in ex.inputs if ex.roles.get(n) == "parameter" and n in relevant]
    steps += [f"d{out}/d{p}" for p in params]
    if ex.lr is not None:  # a builder's matrices update entry by entry (w1_1_1_new), not as W1_new
        steps += [f"{p}_new" for p in params if not getattr(ex, "params", None) or p in ex.params]
    return steps


@dataclass
class EntryState:
    """A matrix step answered entry by entry: the entries typed (row-major), how each ended."""

    key: str
    wanted: object  # the exact Tensor
    index: int = 0
    tries: int = 0  # tries over all entries
    start: int = 0  # ``tries`` when the current entry began
    hints: int = 0
    texts: list = field(default_factory=list)
    statuses: list = field(default_factory=list)

    def entry_tries(self) -> int:
        return self.tries - self.start

    def label(self, i: int) -> str:
        rows, cols = self.wanted.a.shape
        r, c = divmod(i, cols)
        return f"[{r + 1}]" if cols == 1 else f"[{c + 1}]" if rows == 1 else f"[{r + 1},{c + 1}]"

    def count(self) -> str:
        rows, cols = self.wanted.a.shape
        n = rows * cols
        return f"{n} entr{'y' if n == 1 else 'ies'}" + (f" ({rows}×{cols})" if rows > 1 and cols > 1 else "")

    def matrix_text(self) -> str:
        """The entries as one matrix in the printed form (rows split by ;), for the later steps."""
        rows, cols = self.wanted.a.shape
        texts = [t.replace("−", "-") for t in self.texts]
        return "[" + "; ".join(", ".join(texts[r * cols:(r + 1) * cols]) for r in range(rows)) + "]"

    def summary(self) -> str:
        parts = []
        for status in ("correct", "carried", "incorrect", "shown"):
            n = self.statuses.count(status)
            if n:
                word = {"carried": "carried forward", "shown": "shown with ?"}.get(status, status)
                parts.append(f"{n} {word}")
        return ", ".join(parts) + f", of {len(self.statuses)} entries"


class MatrixTutor(Tutor):
    """The tutor over a tensor example's steps (whole matrices); ``Tutor(ex)`` returns one for
    a tensor example. Hints come from the matrix rules of the worked solution.

    >>> import derive
    >>> ex = derive.Example.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]})
    >>> tutor = Tutor(ex, steps=["z", "dL/dW"])
    >>> type(tutor).__name__, tutor.respond("[17; 39]").lines, tutor.respond("[[5, 6], [5, 6]]").lines
    ('MatrixTutor', ('  ✓ correct',), ('  ✓ correct',))
    """

    answer_form = "a number or a whole matrix ([[1, 2], [3, 4]] or [1, 2; 3, 4])"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.entries: EntryState | None = None  # the step being answered entry by entry

    @staticmethod
    def worked_steps(ex) -> list[str]:
        return matrix_steps(ex)

    @staticmethod
    def key_of(ex, text: str):
        """A tensor example's key: whole tensors (W1_new) and their entries' own names."""
        from .matrixcheck import tensor_key
        return tensor_key(ex, text)

    def read(self, text: str):
        return read_matrix(text)

    # -- entry by entry --

    def commands(self) -> list[str]:
        return ["  entries: answer this matrix entry by entry (each entry judged at once)",
                *super().commands()]

    def usage(self) -> list[str]:
        if self.entries is not None:
            e = self.entries
            return [f"  Answer entry {e.label(e.index)} of {e.key} with a number; {self.tries} tries "
                    f"per entry.", *super().commands()]
        return super().usage()

    def prompt(self) -> str:
        if self.entries is not None and self.current is not None:
            return f"{self.entries.key}{self.entries.label(self.entries.index)} = "
        return super().prompt()

    def command(self, text: str) -> Reply | None:
        if text not in ENTRIES:
            return None
        step = self.current
        wanted = self._expected(self._kind(step.key))
        if wanted.a.size == 1:
            return Reply((f"  {step.key} is one number: answer it as it is.",))
        if self.entries is None:
            self.entries = EntryState(step.key, wanted)
        e = self.entries
        return Reply((f"  {step.key} entry by entry: {e.count()}, row by row. ? shows an entry's "
                      f"value, hint gives a hint.",))

    def respond(self, line: str) -> Reply:
        if self.entries is None or self.done:
            return super().respond(line)
        text = (line or "").strip()
        e, step = self.entries, self.current
        if text.lower() in QUIT:
            return self.stop()
        if not text:
            return Reply((f"  type entry {e.label(e.index)} of {e.key} (a number); hint, help, "
                          f"? shows its value, q stops",))
        if text.lower() in HELP:
            return Reply(tuple(self.usage()))
        if text.lower() in HINT:
            if e.hints >= 2:
                return Reply(("  No more hints for this entry: ? shows its value.",))
            e.hints += 1
            return Reply((f"  Hint: {self._entry_hint(e, e.hints - 1)}",))
        if text.lower() in ENTRIES:
            return Reply((f"  already entry by entry: entry {e.label(e.index)} of {e.key}",))
        if text == SHOW:
            return self._entry_done(e, "shown", [f"  The value: {e.key}{e.label(e.index)} = "
                                                 f"{self.writer.math(Value(e.wanted.a.ravel()[e.index]))}"])
        from .matrixcheck import entry_answer, entry_verdict
        try:
            answer = entry_answer(text)
        except DeriveError as err:
            said = str(err)
            return Reply((f"  {said[said.find('cannot read'):] if 'cannot read' in said else said}. "
                          f"Try again (this does not count as a try).",))
        status = entry_verdict(self.ex, {k: self.read(v) for k, v in self.given().items()},
                               e.key, e.index, answer, self.rtol, self.atol)
        if status == "few":
            from .answers import MIN_SIGNIFICANT
            return Reply((f"  right to the digits you wrote, but too few digits: give at least "
                          f"{MIN_SIGNIFICANT} significant figures. Try again (this does not count "
                          f"as a try).",))
        e.tries += 1
        if status in CREDITED:
            e.texts.append(text)
            return self._entry_done(e, status, ["  ✓ correct" if status == "correct" else
                                                "  ✓ carried forward: right given your earlier answers"])
        left = self.tries - e.entry_tries()
        if not left:
            e.texts.append(text)
            return self._entry_done(e, "incorrect", ["  ✗ incorrect", f"  The value: {e.key}"
                                    f"{e.label(e.index)} = {self.writer.math(Value(e.wanted.a.ravel()[e.index]))}"])
        e.hints = max(e.hints, min(e.entry_tries(), 2))
        return Reply(("  ✗ not right yet", f"  Hint: {self._entry_hint(e, e.entry_tries() - 1)}",
                      f"  Try again ({left} {'try' if left == 1 else 'tries'} left; ? shows the value)."))

    def _entry_hint(self, e, level: int) -> str:
        """The rule of the whole step, then where this entry sits in it (never its value)."""
        rule = self._rule(e.key)
        if level <= 0:
            return f"entry {e.label(e.index)} of {e.key}: {rule}"
        rows, cols = e.wanted.a.shape
        r, c = divmod(e.index, cols)
        return (f"{rule}; {e.key} is {self._described(e.wanted)}, and this entry is its row {r + 1}, "
                f"column {c + 1}")

    def _entry_done(self, e, status: str, lines: list) -> Reply:
        """One entry ended (``status``): the next entry, or the step ends with the whole matrix."""
        e.statuses.append(status)
        if status == "shown":
            e.texts.append(self.writer.math(Value(e.wanted.a.ravel()[e.index])))
        e.index += 1
        e.start = e.tries
        e.hints = 0
        if e.index < e.wanted.a.size:
            return Reply(tuple(lines))
        step = self.current
        step.attempts.append(e.matrix_text())
        step.status = ("shown" if "shown" in e.statuses else "incorrect" if "incorrect" in e.statuses
                       else "carried" if "carried" in e.statuses else "correct")
        self.entries = None
        return self._advance(lines + [f"  {step.key}: {STATUS_TEXT[step.status]} "
                                      f"({e.summary()})"])

    def _shown(self, tensor):
        from ..core.matrixmath import MatrixValue
        return Value(tensor.item()) if tensor.scalar else MatrixValue.of(tensor)

    def intro(self) -> list[str]:
        ex, m = self.ex, self.writer.math
        given = [m(Chain(sp.Symbol(n), "=", self._shown(ex.tensor(n)))) for n in ex.inputs]
        if ex.lr is not None:
            given.append(m(Chain(sp.Symbol("eta"), "=", Value(ex.lr))))
        n = len(self.steps)
        return [ex.title or "Derivation in matrix form", *_joined("Given: ", given),
                f"Answer each of the {n} step{'s' if n != 1 else ''} with a number or a whole "
                f"matrix, as nested lists [[1, 2], [3, 4]] or rows split by ; as printed "
                f"[1, 2; 3, 4]: {self.tries} tries per step; entries answers a matrix entry by "
                f"entry, hint gives a hint, help says how, ? shows the value, q stops."]

    def _label(self, k):
        from ..core.matrixmath import Updated
        if k.kind == "value":
            return sp.Symbol(k.name)
        if k.kind == "update":
            return Updated(k.name)
        return Partial(k.of, k.wrt)

    def _expected(self, k):
        from .matrixcheck import expected_answer
        return expected_answer(self.ex, k.text)

    def _misfit(self, report, key: str, text: str) -> str:
        """A number for a 4×3 matrix, or a matrix of another shape with no slip to explain it (a
        transpose is a slip, and costs a try): the shape wanted, at no cost."""
        from .matrixcheck import answer_tensor
        if report.status(key) in CREDITED or report.diagnosis(key):
            return ""
        wanted = self._expected(self._kind(key))
        given = answer_tensor(self.read(text), key, wanted.a.shape)
        if given.shape == wanted.shape:
            return ""
        return (f"{key} is {self._described(wanted)}, but that is {self._described(given)}; "
                f"answer with {self._described(wanted)}.")

    @staticmethod
    def _described(tensor) -> str:
        from ..core.tensor import shape_text
        return "a number" if tensor.scalar else shape_text(tensor.shape)

    def _diagnosis(self, report, key: str) -> str:
        """The matrix check's word on a wrong matrix: a diagnosed slip (a transpose, a missing
        1/B …), the shapes that differ, or how many entries differ — never the entries."""
        return report.hint(key) or ""

    def _reveal(self, key: str) -> list[str]:
        k = self._kind(key)
        return [f"  The value: {self.writer.math(Chain(self._label(k), '=', self._shown(self._expected(k))))}"]

    def _shape(self, name: str) -> str:
        from ..core.tensor import shape_text
        return shape_text(self.ex.shape(name))

    def _rule(self, key: str) -> str:
        from ..solutions.matrixdoc import backward_formula, display
        from ..core.matrixmath import Updated
        k, m, ex = self._kind(key), self.writer.math, self.ex
        if k.kind == "value":
            if k.name in ex.inputs:
                return f"{key} is given"
            eq = ex.graph.by_name[k.name]
            return f"the forward pass: {m(Chain(sp.Symbol(k.name), '=', display(eq.tree)))}"
        if k.kind == "update":
            return "gradient descent: " + m(Chain(Updated(k.name), "=", sp.Symbol(k.name), "-",
                                                  Product((sp.Symbol("eta"), Partial(ex.output, k.name)))))
        formula = backward_formula(ex, k.wrt) if k.of == ex.output else None
        if formula is None:
            return (f"the chain rule through every line that uses {k.wrt}, entry by entry")
        return "the backward pass: " + m(Chain(Partial(k.of, k.wrt), "=", formula))

    def _formula(self, key: str) -> str:
        k = self._kind(key)
        name = k.name or k.wrt
        if k.kind == "update":
            return (f"{self._rule(key)}, with {self.writer.math(Chain(sp.Symbol('eta'), '=', Value(self.ex.lr)))} "
                    f"and the gradient of {k.name} ({self._shape(k.name)})")
        return f"{self._rule(key)}; the answer is {self._shape(name)}, the shape of {name}"


def _joined(head: str, items, tail: str = "") -> list[str]:
    """``head`` and the items joined by ", " on lines of at most WIDTH characters, broken only
    between items (never inside "y = 5")."""
    lines, line = [], head
    for i, item in enumerate(items):
        text = item + (", " if i < len(items) - 1 else tail)
        if len(line) + len(text.rstrip()) > WIDTH and line.strip():
            lines.append(line.rstrip())
            line = "  "
        line += text
    return lines + [line.rstrip()]


# -- driving a session ---------------------------------------------------------------------------


def run(tutor: Tutor, read, write, fmt: str = "text") -> int:
    """Run a session: ``read(prompt)`` returns the next line (raises EOFError at the end of the
    input, KeyboardInterrupt on Ctrl-C: both stop the session), ``write(line)`` shows one line.
    Returns the exit status (0: every step correct or carried forward).

    >>> import derive
    >>> lines = iter(["7", "?"])
    >>> def read(prompt):
    ...     return next(lines)
    >>> run(Tutor(derive.neuron(x=2, w=3, b=1, y=5), steps=["z", "L"]), read, lambda s: None)
    1
    """
    from ..core.escape import visible
    shown = write
    write = lambda line: shown(visible(line))  # noqa: E731 - the transcript quotes the student
    for line in tutor.intro():
        write(line)
    while not tutor.done:
        try:
            reply = tutor.respond(read(tutor.prompt()))
        except EOFError:  # a pipe ran dry, or Ctrl-D
            reply = tutor.stop("End of input")
        except KeyboardInterrupt:  # Ctrl-C: stop, but still show the summary
            reply = tutor.stop()
        for line in reply.lines:
            write(line)
    write("")
    write(tutor.summary_text(fmt).rstrip("\n"))
    return tutor.exit_code


def line_reader(stream, write):
    """Answers read line by line from a non-terminal ``stream`` (a pipe, a file): each prompt is
    written with the answer after it, so the output reads as a transcript."""
    def read(prompt: str) -> str:
        line = stream.readline()
        if not line:
            raise EOFError
        line = line.rstrip("\r\n")
        from ..core.escape import visible
        write(visible(prompt + line))  # the student's control characters never reach the terminal
        return line
    return read


def terminal_reader():
    """Answers typed at a terminal with line editing (arrow keys, Home/End, Ctrl-A/E …) and the
    session's history (↑ recalls an earlier answer), by prompt_toolkit."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import InMemoryHistory
    session = PromptSession(history=InMemoryHistory())
    return lambda prompt: session.prompt(prompt)


__all__ = ["Tutor", "MatrixTutor", "StepState", "Reply", "worked_steps", "matrix_steps", "read_matrix",
           "run", "line_reader", "terminal_reader", "TRIES"]
