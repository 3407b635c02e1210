"""The conversation's comparison table (ReLU vs sigmoid …) for any list of activations."""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..model.builders import neuron
from ..core.derivation import Chain, Partial, Product, Value
from ..rendering.blocks import Content, Section
from ..core.functions import Sentence, activation as _activation

# The "gradient strength" row judges each column's |∂L/∂w| against the largest |∂L/∂w| of the
# compared columns (the row above it), so a label can never contradict the printed gradients:
# bands of that ratio, each label printed with the ratio it was judged from.
STRENGTH = ((sp.Rational(1, 100), "vanishing"),
            (sp.Rational(1, 5), "weak"),
            (sp.Rational(9, 10), "moderate"))


def strength(gradient, largest) -> str:
    """The label of ``gradient`` relative to ``largest`` (the largest |∂L/∂w| compared), with
    the ratio as a percentage: ``strength(-0.4, 0.8) == "moderate (50%)"``.

    >>> strength(0, 3), strength(3, 3), strength(sp.Rational(1, 2), 4)
    ('zero (0%)', 'strong (100%)', 'weak (12.5%)')
    """
    from ..core.approx import approx
    # strict: numbers only, never a string (sympify would evaluate one as code)
    mag, top = abs(approx(sp.sympify(gradient, strict=True))), abs(approx(sp.sympify(largest, strict=True)))
    if mag == 0 or top == 0:
        return "zero (0%)"
    ratio = mag / top
    percent = f"{float(ratio) * 100:.3g}%"
    for bound, label in STRENGTH:
        if ratio < approx(bound):
            return f"{label} ({percent})"
    return f"strong ({percent})"


STRENGTH_ROW = "gradient strength: |∂L/∂{0}| ÷ the largest"


@dataclass
class Comparison:
    """One neuron per activation, same inputs; ``rows`` for tables, ``examples`` for detail.

    >>> c = compare_activations(["relu", "sigmoid"], x=2, w=3, b=1, y=5)
    >>> list(c.examples), c.rows[0]["dL/dw"]
    (['relu', 'sigmoid'], 8)
    """

    activations: list
    examples: dict
    loss: str = "squared_error"

    @property
    def largest_gradient(self):
        """The largest |∂L/∂w| of the compared columns: what the strength row is judged against."""
        from ..core.approx import approx
        return max((abs(ex.grad(ex.focus)) for ex in self.examples.values()), key=approx)

    @property
    def rows(self) -> list[dict]:
        """One dict per activation: its output a, local derivative da/dz, dL/dw, the gradient's
        strength and (with a learning rate) the updated weight.

        >>> compare_activations(["relu", "sigmoid"], x=2, w=3, b=1, y=5).rows[0]["da/dz"]
        1
        """
        out = []
        largest = self.largest_gradient
        for name, ex in self.examples.items():
            from ..core.engine import public_form
            local = ex.derivation().local_step("a", "z").value
            row = {"activation": name, "a": ex.value("a"), "da/dz": public_form(local), "dL/dw": ex.grad(ex.focus),
                   "strength": strength(ex.grad(ex.focus), largest)}
            if ex.lr is not None:
                row["w_new"] = ex.update(ex.focus)
            out.append(row)
        return out

    def content(self) -> Content:
        """The comparison as a document: the side-by-side table, each neuron's chain rule and the
        key takeaways.

        >>> compare_activations(["relu", "sigmoid"], x=2, w=3, b=1, y=5).content().title
        'Comparison: ReLU vs. sigmoid'
        """
        names = list(self.examples)
        first = self.examples[names[0]]
        specs = [_activation(n) for n in names]
        title = "Comparison: " + " vs. ".join(s.unicode if s.unicode.isascii() else s.name for s in specs)
        s = Section("The same neuron, different activations")
        vals = first.derivation().values
        given = [n for n in first.inputs]
        s.say(Sentence("Inputs " + ", ".join(f"{{{i}}}" for i in range(len(given))) + "; "
                       "the loss and the learning rate are the same for every column.",
                       tuple(Chain(first.graph.symbols[n], "=", Value(vals[n])) for n in given)))
        _state_the_setup(s, self, first)
        header = ["", *[s.unicode if s.unicode.isascii() else s.name for s in specs]]
        focus = first.focus
        derivations = [ex.derivation(focus) for ex in self.examples.values()]
        # the row labels' symbols set as math (italic ∂a/∂z), as everywhere else in the document
        eta = sp.Symbol("eta")
        update = Chain(sp.Symbol(focus), "-", Product((eta, Partial("L", focus))))
        rows = [[Sentence("forward output {0}", (sp.Symbol("a"),))] + [Value(ex.value("a")) for ex in self.examples.values()],
                [Sentence("local gradient {0}", (Partial("a", "z"),))]
                + [Value(d.local_step("a", "z").value) for d in derivations],
                [Sentence("gradient {0}", (Partial("L", focus),))] + [Value(d.total) for d in derivations]]
        if first.lr is not None:
            rows.append([Sentence("updated weight {0}", (update,))] + [Value(ex.update(focus))
                                                                       for ex in self.examples.values()])
        rows.append([STRENGTH_ROW.format(focus)] + [r["strength"] for r in self.rows])
        s.tabulate(header, rows)  # the strength row's label and percentages say what it measures
        sections = [s]
        # the neuron every column shares, drawn once (its activation f, the shared values on it)
        from ..rendering.diagrams import diagram_section, shared_diagrams
        drawn = [_loss_named(d, self.loss) for d in shared_diagrams(list(self.examples.values()))]
        for name, d in zip(names if len(drawn) > 1 else [None], drawn):
            t = diagram_section(None, d)
            if name is not None:
                t = Section(f"{t.title}: {_shown(name)}", t.blocks)
            sections.append(t)
        for name, ex in self.examples.items():
            t = Section(f"With {_activation(name).unicode if _activation(name).unicode.isascii() else name}")
            t.show(_chain_line(ex, ex.derivation()))
            t.say(Sentence("Forward output {0}; the chain rule gives {1}.",
                           (_eq("a", ex.value("a")), _grad_eq(ex))))
            sections.append(t)
        obs = Section("Key takeaways")
        for name, ex in self.examples.items():
            from ..solutions.observations import observations
            for o in observations(ex, ex.derivation())[:1]:
                obs.bullet(_attributed(o, name))
        sections.append(obs)
        return Content(title, sections)

    def render(self, fmt: str, precision: int = 4, fragment: bool = False) -> str:
        """The comparison in one format (``"text"``, ``"markdown"``, ``"latex"``, ``"html"``).

        >>> c = compare_activations(["relu", "tanh"], x=0.5, w=-1.5, b=0.25, y=1)
        >>> "ReLU" in c.render("text") and c.render("text") == c.to_text()
        True
        """
        return render_comparison(self, fmt, precision, fragment)

    def to_text(self, precision: int = 4) -> str:
        """The comparison as plain text (tables, chain rules, takeaways).

        >>> compare_activations(["relu", "elu"], x=1, w=-2, b=0, y=1).to_text().splitlines()[0]
        'Comparison: ReLU vs. ELU'
        """
        return self.render("text", precision)

    def to_markdown(self, precision: int = 4) -> str:
        """The comparison as Markdown (math in $…$).

        >>> compare_activations(["relu", "elu"], x=1, w=-2, b=0, y=1).to_markdown().splitlines()[0]
        '# Comparison: ReLU vs. ELU'
        """
        return self.render("markdown", precision)

    def to_latex(self, precision: int = 4, fragment: bool = False) -> str:
        """The comparison as a LaTeX document (or a fragment to \\input).

        >>> compare_activations(["relu", "elu"], x=1, w=-2, b=0, y=1).to_latex().startswith(r"\\documentclass")
        True
        """
        return self.render("latex", precision, fragment)

    def to_html(self, precision: int = 4, fragment: bool = False) -> str:
        """The comparison as an HTML page (or a fragment).

        >>> "<table" in compare_activations(["relu", "elu"], x=1, w=-2, b=0, y=1).to_html(fragment=True)
        True
        """
        return self.render("html", precision, fragment)


def _loss_named(d, loss: str):
    """The shared diagram with its loss node captioned by the loss's name (SE(a, y), as the
    setup defines it), not by the shape of its formula."""
    from dataclasses import replace
    from ..core.functions import FUNCTIONS
    spec = FUNCTIONS.get(loss)
    if spec is None:
        return d
    label = f"{spec.unicode}({', '.join(str(a) for a in spec.arguments)})"
    return replace(d, nodes=[replace(n, op=label) if n.name == d.output else n for n in d.nodes])


def _shown(name: str) -> str:
    spec = _activation(name)
    return spec.unicode if spec.unicode.isascii() else name


def _attributed(sentence: Sentence, name: str) -> Sentence:
    """A takeaway that names its column: several activations can share a sentence ("The
    gradient is positive …"), which would otherwise repeat without saying whose it is."""
    text, spec = sentence.template, _activation(name)
    shown = spec.unicode if spec.unicode.lower() == name.lower() else name  # ReLU; identity, not id
    if any(n.lower() in text.lower() for n in (spec.unicode, spec.name, shown)):
        return sentence
    acronym = len(text) > 1 and text[0].isupper() and text[1].isupper()  # keep "ReLU", "ELU"
    first = text[:1] if acronym else text[:1].lower()
    return Sentence(f"With {shown}, {first}{text[1:]}", sentence.math)


def _eq(name, value):
    from ..core.derivation import Chain
    return Chain(sp.Symbol(name), "=", Value(value))


def _grad_eq(ex):
    from ..core.derivation import Chain
    from ..core.derivation import Total
    return Chain(Total("L", ex.focus), "=", Value(ex.grad(ex.focus)))


def _chain_line(ex, d):
    from ..core.derivation import Chain, Product
    edges = [("L", "a"), ("a", "z"), ("z", ex.focus)]
    from ..core.derivation import Total
    return Chain(Total("L", ex.focus), "=", Product(tuple(Partial(a, b) for a, b in edges)), "=",
                 Product(tuple(Value(d.local_step(a, b).value) for a, b in edges)), "=",
                 Value(ex.grad(ex.focus)))


def _state_setup_math(first):
    z, a, f = sp.Symbol("z"), sp.Symbol("a"), sp.Function("f")
    wx = sp.Mul(sp.Symbol("w"), sp.Symbol("x"), evaluate=False)
    return Chain(z, "=", sp.Add(wx, sp.Symbol("b"), evaluate=False)), Chain(a, "=", f(z))


def _state_the_setup(s, comp, first) -> None:
    """What every column computes, stated once: the neuron, each activation's definition, the
    loss and the update with its learning rate (a reader cannot redo the table without them)."""
    from ..core.functions import FUNCTIONS
    neuron_line, act_line = _state_setup_math(first)
    s.say(Sentence("Each column is the neuron {0}, {1}, with its own activation {2}:",
                   (neuron_line, act_line, sp.Symbol("f"))))
    for name in comp.activations:
        spec = _activation(name)
        if spec.defaults:  # its parameters as every column's neuron takes them (α of LeakyReLU)
            values = tuple(Chain(arg, "=", Value(v)) for arg, v in zip(spec.arguments[1:], spec.defaults))
            s.say(Sentence(f"{_shown(name)} with " + " and ".join(f"{{{i}}}" for i in range(len(values))) + ":",
                           values))
        s.show(spec.definition)
    loss = FUNCTIONS.get(comp.loss)
    if loss is not None:
        s.say(Sentence("The loss is {0}.", (loss.definition,)))
    if first.lr is not None:
        focus = first.focus
        eta = sp.Symbol("eta")
        new = Chain(sp.Symbol(f"{focus}_new"), "=", sp.Symbol(focus), "-", Product((eta, Partial("L", focus))))
        s.say(Sentence("One step of gradient descent updates the weight: {0}, with learning rate {1}.",
                       (new, Chain(eta, "=", Value(first.lr)))))


def compare_activations(activations, x=None, w=None, b=None, y=None, loss: str = "squared_error",
                        lr=None) -> Comparison:
    """The same neuron under each activation, side by side.

    >>> c = compare_activations(["relu", "sigmoid"], x=2, w=3, b=1, y=5, lr=0.1)
    >>> [str(r["w_new"]) for r in c.rows][0]
    '11/5'
    """
    if isinstance(activations, str):
        activations = [a.strip() for a in activations.split(",") if a.strip()]
    if not activations:
        from ..core.errors import DeriveError
        raise DeriveError("compare needs at least one activation, e.g. relu,sigmoid")
    for name, value in (("x", x), ("w", w), ("b", b), ("y", y)):
        if isinstance(value, (list, tuple)) and any(isinstance(v, (list, tuple)) for v in value) \
                or hasattr(value, "ndim") and getattr(value, "ndim", 0) > 1:
            from ..core.errors import NotApplicable
            raise NotApplicable(f"compare_activations compares one neuron (numbers, or a list of "
                                f"inputs and weights) under several activations; {name} is a "
                                f"matrix — for a layer, write the equations once per activation "
                                f"(derive.Example.from_equations) and compare their gradients")
    examples = {name: neuron(x=x, w=w, b=b, y=y, activation=name, loss=loss, lr=lr)
                for name in activations}
    return Comparison(list(activations), examples, loss)


def render_comparison(comp: Comparison, fmt: str, precision: int = 4, fragment: bool = False,
                      exact: bool = False, section_level="section", notes: bool = False) -> str:
    from ..rendering.formats import render_content
    return render_content(comp.content(), fmt, None, precision, fragment, exact=exact,
                          level=section_level, notes=notes)
