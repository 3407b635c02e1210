"""``Example``: the object users hold — a staged computation with (optional) values, its exact
forward values and gradients, and its documents."""
from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from ..core.derivation import Derivation
from ..core.engine import Evaluation, Graph, graph_of, public_form
from ..solutions.content import build
from ..solutions.steps import resolve_notation
from ..core.errors import DeriveError, InvalidValue, NotApplicable, UnknownName
from .base import ExampleBase
from ..core.numbers import to_exact
from ..core.parser import parse_equations, parse_expression
from ..core.staging import stage_expression
from ..core.roles import CONSTANT_NAME, DATA_NAME  # inputs' roles recognised by name


def classify_inputs(inputs, params=None, data=None, constants=None) -> dict[str, str]:
    """Each input's role: "parameter" (updated by gradient descent), "data" or "constant".

    ``params`` when given; otherwise every input except data and constants, which are the names
    listed under ``data``/``constants`` or recognised by name (see ``DATA_NAME``, ``CONSTANT_NAME``).
    When nothing is left to train (``q = x*y``), the data inputs are differentiated instead.

    >>> classify_inputs(["x", "gamma", "beta", "eps"])
    {'x': 'data', 'gamma': 'parameter', 'beta': 'parameter', 'eps': 'constant'}
    """
    inputs = list(inputs)
    lists = {}
    for label, names in (("params", params), ("data", data), ("constants", constants)):
        if names is None:
            continue
        names = [names] if isinstance(names, str) else list(names)
        for n in names:
            if not isinstance(n, str) or n not in inputs:
                raise DeriveError(f"{label}: {n!r} is not an input; the inputs are: {', '.join(inputs)}")
        lists[label] = names
    seen: dict[str, str] = {}
    for label, names in lists.items():
        for n in names:
            if n in seen and seen[n] != label:
                raise DeriveError(f"{n!r} is listed under both `{seen[n]}` and `{label}`; keep one")
            seen[n] = label
    roles = {}
    for n in inputs:
        if "params" in lists:
            roles[n] = "parameter" if n in lists["params"] else (
                "constant" if n in lists.get("constants", ()) or (
                    n not in lists.get("data", ()) and CONSTANT_NAME.match(n)) else "data")
        elif n in lists.get("data", ()):
            roles[n] = "data"
        elif n in lists.get("constants", ()):
            roles[n] = "constant"
        elif DATA_NAME.match(n):
            roles[n] = "data"
        elif CONSTANT_NAME.match(n):
            roles[n] = "constant"
        else:
            roles[n] = "parameter"
    if "params" not in lists and "parameter" not in roles.values():  # nothing to train: the
        # inputs recognised as data by name are what the gradients are about (q = x*y)
        roles = {n: "parameter" if r == "data" and n not in lists.get("data", ()) else r
                 for n, r in roles.items()}
    return roles


if TYPE_CHECKING:
    from ..checking.report import Report



class Example(ExampleBase):
    """A staged computation ready to be derived.

    >>> ex = Example.from_equations("z = w*x + b\\na = relu(z)\\nL = (a - y)**2",
    ...                             values={"x": 2, "w": 3, "b": 1, "y": 5}, lr=0.1)
    >>> ex.value("z"), ex.grad("w"), ex.update("w")
    (7, 8, 11/5)
    """

    def __init__(self, graph: Graph, values=None, params=None, lr=None, title: str | None = None,
                 kind: str = "generic", meta: dict | None = None, latex_names: dict | None = None,
                 data=None, constants=None):
        self.graph = graph
        self.title = title
        self.kind = kind  # "neuron", "chain", "mlp" or "generic": which document layout
        self.meta = dict(meta or {})
        self.latex_names = dict(latex_names or {})
        self.precision = 4  # significant digits of ≈ numbers in documents
        self.exact = False  # documents also show exact forms: σ(7) = 1/(1 + e^(−7)) ≈ 0.9991
        self.notation = None  # the course's notation preset ({"total": "d"}), e.g. from a spec
        if not graph.inputs:
            raise DeriveError(f"the equations have no inputs: `{graph.output}` is a constant, so "
                              f"there is nothing to differentiate; use a name such as x in them "
                              f"(e.g. `{graph.output} = 2*x`)")
        if values is not None and not hasattr(values, "items"):
            raise DeriveError(f"values must be a mapping like {{\"x\": 2}}, got {type(values).__name__}")
        given = {} if values is None else dict(values)
        unknown = [k for k in given if k not in graph.inputs]
        if unknown:
            computed = [k for k in unknown if k in graph.nodes]
            if computed:
                k = computed[0]
                raise InvalidValue(f"`{k}` is computed on line {graph.nodes[k].line}; it cannot be "
                                  f"given a value (give values only to the inputs: "
                                  f"{', '.join(graph.inputs)})")
            raise InvalidValue(f"values given for unknown name(s) {', '.join(map(repr, unknown))}; "
                              f"the inputs are: {', '.join(graph.inputs) or '(none)'}")
        if given:
            missing = [n for n in graph.inputs if n not in given]
            if missing:
                raise InvalidValue(f"missing value(s) for {', '.join(missing)}; give every input a "
                                  f"value (or none, for a symbolic derivation)")
            exact = {n: to_exact(given[n], n) for n in graph.inputs}
        else:
            exact = None
        self.values = exact
        self.lr = None if lr is None else to_exact(lr, "lr")
        if params is not None:
            params = [params] if isinstance(params, str) else params
            if not isinstance(params, (list, tuple)) or not all(isinstance(p, str) for p in params):
                raise DeriveError(f"params must be an input name or a list of input names, "
                                  f"got {params!r}")
            params = list(params)
            for p in params:
                if p not in graph.inputs:
                    raise DeriveError(f"parameter {p!r} is not an input; the inputs are: "
                                      f"{', '.join(graph.inputs)}")
        self.roles = classify_inputs(graph.inputs, params, data, constants)
        self.params = params if params is not None else [
            n for n in graph.inputs if self.roles[n] == "parameter"]
        self.evaluation = Evaluation(graph, exact)

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def from_equations(cls, text: str, values=None, params=None, lr=None, output=None,
                       title: str | None = None, data=None, constants=None,
                       shapes=None, batch: str = "columns") -> "Example":
        """Staged equations, one ``name = expression`` per line. ``params`` are the inputs gradient
        descent updates; without it, every input but data and constants (by name, or listed in
        ``data``/``constants``).

        >>> Example.from_equations("q = x*y\\nf = q + x", values={"x": 2, "y": 3}).grad("x")
        4
        >>> Example.from_equations("L = (gamma*x + beta - y)**2 + lam*gamma**2").params
        ['gamma', 'beta']

        With vectors or matrices (lists, nested lists, numpy arrays) or ``@``, ``.T``, ``softmax``
        …, the result is a ``TensorExample`` (same API; values and gradients are matrices).
        ``shapes`` instead of values (``{"W": [3, 2], "x": [2]}``) gives a symbolic matrix
        derivation: the rules with their shapes, no numbers. ``batch``: the examples of a
        mini-batch are the ``"columns"`` (the default, ``W @ X + b``) or the ``"rows"`` (as in
        PyTorch, ``X @ W + b``).
        """
        from ..core.functions import FUNCTIONS
        from ..core.tensor import TENSOR_FUNCTIONS, is_tensor_value
        from ..core.tensor import uses_tensor_syntax
        equations = parse_equations(text, {**FUNCTIONS, **TENSOR_FUNCTIONS})
        if values is not None and not hasattr(values, "items"):
            raise DeriveError(f"values must be a mapping like {{\"x\": 2}}, got {type(values).__name__}")
        if shapes is not None or uses_tensor_syntax(equations) or any(
                is_tensor_value(v) for v in (values or {}).values()):
            from .tensors import TensorExample, lookup_indices
            graph = Graph(equations, output, tensor=True)
            if params is None:  # the same rule as for scalars: every input but data and constants
                # (and a lookup's indices, whatever their name: they pick rows, nothing trains them)
                indices = lookup_indices(graph)
                given = [data] if isinstance(data, str) else list(data or ())
                roles = classify_inputs(graph.inputs, None, [*given, *sorted(indices - set(given))],
                                        constants)
                params = [n for n in graph.inputs if roles[n] == "parameter"]
            return TensorExample(graph, values, params, lr, title, shapes=shapes, batch=batch)
        if batch != "columns":
            from .tensors import BATCH_CONVENTIONS
            if batch not in BATCH_CONVENTIONS:
                raise DeriveError(f"batch must be \"columns\" or \"rows\", got {batch!r}")
        return cls(graph_of(text, output, equations=equations), values, params, lr, title,
                   data=data, constants=constants)

    @classmethod
    def from_expr(cls, text: str, values=None, params=None, lr=None, name: str = "f",
                  title: str | None = None, data=None, constants=None) -> "Example":
        """Any expression, auto-staged into named intermediates u1, u2, …: one node per
        function application, per compound function argument and per operand of the top-level
        operation; the whole expression is ``name``.

        >>> ex = Example.from_expr("1/(1 + exp(-(w0*x0 + w1*x1 + w2)))")
        >>> [n for n in ex.nodes]
        ['u1', 'u2', 'u3', 'u4', 'f']
        """
        if not isinstance(text, str) or not text.strip():
            raise DeriveError("from_expr needs an expression, e.g. \"relu(w*x + b)\"")
        if "\n" in text.strip():
            raise DeriveError("from_expr takes one expression; for several lines use from_equations")
        tree = parse_expression(text.strip())
        try:
            equations = stage_expression(tree, name)
        except RecursionError:
            raise DeriveError("expression too deeply nested to stage; write it as equations") from None
        return cls(Graph(equations, name), values, params, lr, title, data=data, constants=constants)

    # --- the graph --------------------------------------------------------------------------

    @property
    def symbolic(self) -> bool:
        """True when no values were given: the derivation is in the names only.

        >>> Example.from_equations("z = w*x").symbolic
        True
        """
        return self.values is None

    def _check_name(self, name: str, what: str = "name"):
        if name not in self.graph.symbols:
            known = ", ".join(self.inputs + self.nodes)
            raise UnknownName(f"unknown {what} {name!r}; known names: {known}")

    # --- values and gradients ---------------------------------------------------------------

    def value(self, name: str) -> sp.Expr:
        """Exact forward value of an input or node (``7``, ``1/(1 + exp(-7))``). A value whose
        explicit form would be huge (deep networks) is one exact number that prints as
        ``≈ 0.7568…``; ``float()``, ``sympy.N`` and ``.doit()`` (the explicit form) work on it.

        >>> ex = Example.from_equations("a = sigmoid(z)", values={"z": 7})
        >>> ex.value("a"), ex.value("z")
        (1/(exp(-7) + 1), 7)
        """
        self._check_name(name)
        if self.symbolic:
            raise DeriveError("this example has no values (it is symbolic); give values=… "
                              "to compute numbers")
        return public_form(self.evaluation.values[name])

    def grad(self, wrt: str, of: str | None = None) -> sp.Expr:
        """Total derivative of ``of`` (default: the output) with respect to ``wrt``, exact
        (huge forms as one exact number, like ``value``). Symbolic (in the node names) when the
        example has no values.

        >>> ex = Example.from_equations("q = x*y\\nf = q + x", values={"x": 2, "y": 3})
        >>> ex.grad("x"), ex.grad("x", of="q")
        (4, 3)
        >>> Example.from_equations("q = x*y\\nf = q + x").grad("x")
        y + 1
        """
        self._check_name(wrt)
        of = of or self.output
        self._check_name(of)
        return public_form(self.evaluation.grad(wrt, of))

    def update(self, name: str) -> sp.Expr:
        """One gradient-descent step: ``name - lr * d(output)/d(name)``.

        >>> Example.from_equations("L = (w*x - 1)**2", values={"w": 1, "x": 2}, lr=0.1).update("w")
        3/5
        """
        self._check_name(name)
        if self.lr is None:
            raise DeriveError("no learning rate: give lr=… to compute an update")
        if name not in self.graph.inputs:
            raise DeriveError(f"{name!r} is computed, not a parameter; updates apply to inputs "
                              f"such as {', '.join(self.params)}")
        from ..training.optimizers import OPTIMIZERS  # one sgd step of the optimizer registry
        sgd = OPTIMIZERS["sgd"]
        if self.symbolic:
            return sgd.step(self.graph.symbols[name], self.grad(name), self.lr)
        return public_form(sgd.step(self.evaluation.values[name], self.evaluation.grad(name, self.output),
                                    self.lr))

    def derivation(self, wrt: str | None = None, of: str | None = None) -> Derivation:
        """The step-by-step derivation of ∂of/∂wrt as plain data (forward steps, local
        derivatives, paths, adjoints, total, update).

        >>> d = Example.from_equations("z = w*x\\nL = z**2", values={"w": 3, "x": 2}).derivation("w")
        >>> [step.name for step in d.forward], d.total
        (['z', 'L'], 24)
        """
        wrt = wrt or self.focus
        self._check_name(wrt)
        of = of or self.output
        self._check_name(of)
        return self.evaluation.derivation(wrt, of, self.lr if wrt in self.params else None)

    def gradients(self) -> dict[str, sp.Expr]:
        """∂output/∂p for every parameter, in parameter order (the same numbers as ``grad``).

        >>> Example.from_equations("z = w*x + b\\nL = z**2", values={"w": 3, "x": 2, "b": 1}).gradients()
        {'w': 28, 'b': 14}
        """
        return {p: public_form(self.evaluation.grad(p, self.output)) for p in self.params}

    def rounded(self, digits: int) -> dict:
        """Hand-style rounding: the derivation recomputed with every intermediate value, local
        derivative and gradient rounded to ``digits`` significant figures as it is computed —
        the numbers a textbook gets (σ(7) → 0.999, σ'(7) → 0.000999 with 3 digits).

        >>> ex = Example.from_equations("a = sigmoid(z)", values={"z": 7})
        >>> ex.rounded(3)["a"]
        999/1000
        """
        from ..checking.mistakes import hand_rounded
        if not isinstance(digits, int) or not 1 <= digits <= 30:
            raise DeriveError(f"rounding needs a number of significant digits from 1 to 30, got {digits!r}")
        if self.symbolic:
            raise DeriveError("hand-style rounding needs an example with values")
        return hand_rounded(self, digits)

    def check(self, answers: dict, rtol=None, atol=None, *, listed: str | None = None) -> "Report":
        """Compare a student's answers ``{key: answer}`` with the exact ones; see
        ``derive.checking.report``. ``ex.keys()`` lists the keys (``"z"``, ``"dL/dw"``,
        ``"w_new"``; also as displayed, ``"∂L/∂w⁽¹⁾₁,₁"``).

        An answer is a number — int, float, ``Fraction``, ``Decimal``, a numpy scalar or
        one-element array — or text: a number as derive prints it (``−0.01457``, ``≈ 0.9991``,
        ``1.457 × 10^−2``, ``1.457e-2``) or a formula in the example's names, in the notation of
        its documents or of ``str()`` (``2(a − y)·σ'(z)``, ``2*x*(a - y)*Indicator(z > 0)``,
        ``𝟙[z > 0]``, ``relu'(z)``, ``heaviside(z)``, ``λ``, and the Markdown's LaTeX), read by the
        whitelist parser. A formula is compared symbolically; an example without values is
        checked symbolically.

        How close a number must be: a short decimal is right when it is the exact value rounded
        to the significant figures written; a *machine value* — a float whose shortest repr has
        10 or more significant digits, such as ``0.1*3`` (0.30000000000000004) or
        ``float(ex.grad("w"))`` — is right within a relative tolerance of 1e-9 (the report notes
        it); an exact form (``3/20``, ``Fraction(3, 20)``) must be exact. A single-digit whole
        number written without a point (``0``, ``1``, ``-1``) is exact, not rounded: ``1`` for
        0.5 or ``0`` for 0.01 is incorrect (and diagnosed), while ``1`` for 0.9991 — the value to
        one figure — gets "too few digits"; from ``10`` on a whole number counts its significant
        figures (``12`` for 12.3 is right). In a formula whole numbers are exact, a decimal that
        equals one of the example's exact values is that value, and any other decimal stands for
        ± half a unit in its last digit, carried through the formula (``1 - tanh(-0.3)``: ±0.046);
        "too few digits" is said of plain numbers only. ``rtol``/``atol`` replace the
        significant-figure rule.

        Each key gets a status: "correct", "incorrect", "carried" (right given the student's
        earlier answers) or "unreadable" (the reason says where and what was expected; unknown
        keys list the valid ones); one unreadable answer does not stop the others being checked.
        ``listed``: how the student lists every key, named in an unknown key's hint when the
        valid keys are too many to show (default "ex.keys() lists them"; ``derive check``
        names its ``--keys`` option).

        >>> ex = Example.from_equations("z = w*x\\nL = z**2", values={"w": 3, "x": 2})
        >>> report = ex.check({"z": 6, "dL/dw": 20})
        >>> report.status("z"), report.status("dL/dw")
        ('correct', 'incorrect')
        >>> Example.from_equations("z = w*x", values={"w": 0.1, "x": 3}).check({"z": 0.1 * 3}).ok
        True
        >>> ex.check({"dL/dw": "2·z·x", "dL/dz": "2 × 6", "z": "6 +"})
        <Report 2 correct, 1 unreadable>
        """
        from ..checking.report import KEYS_LISTED, check
        return check(self, answers, rtol=rtol, atol=atol, listed=listed or KEYS_LISTED)

    # --- the tensor side's methods, as they apply to scalars -----------------------------------

    def shape(self, name: str) -> tuple:
        """The shape of a value: ``()``, every value of a scalar example is a number.

        >>> Example.from_equations("z = w*x").shape("z")
        ()
        """
        self._check_name(name)
        return ()

    def is_index(self, name: str) -> bool:
        """False: class indices (a cross-entropy's targets) are tensors of a tensor example.

        >>> Example.from_equations("z = w*x").is_index("x")
        False
        """
        self._check_name(name)
        return False

    def tensor(self, name: str):
        """Refused: a scalar example's values are numbers; ``value(name)`` gives one.

        >>> Example.from_equations("z = w*x", values={"w": 3, "x": 2}).tensor("z")
        Traceback (most recent call last):
        ...
        derive.core.errors.NotApplicable: tensor(): this example's values are scalar numbers, not tensors; use ex.value(name)
        """
        raise NotApplicable("tensor(): this example's values are scalar numbers, not tensors; "
                            "use ex.value(name)")

    def grad_tensor(self, wrt: str, of: str | None = None):
        """Refused: a scalar example's gradients are numbers; ``grad(wrt)`` gives one.

        >>> Example.from_equations("z = w*x", values={"w": 3, "x": 2}).grad_tensor("w")
        Traceback (most recent call last):
        ...
        derive.core.errors.NotApplicable: grad_tensor(): this example's gradients are scalar numbers, not tensors; use ex.grad(name)
        """
        raise NotApplicable("grad_tensor(): this example's gradients are scalar numbers, not "
                            "tensors; use ex.grad(name)")

    def matrix_derivation(self):
        """Refused: the matrix form is for vectors and matrices; a scalar example's derivation
        is ``derivation()``, edge by edge.

        >>> Example.from_equations("z = w*x").matrix_derivation()
        Traceback (most recent call last):
        ...
        derive.core.errors.NotApplicable: matrix_derivation(): this example's nodes are scalars; its derivation is ex.derivation() (edge by edge through the chain rule)
        """
        raise NotApplicable("matrix_derivation(): this example's nodes are scalars; its "
                            "derivation is ex.derivation() (edge by edge through the chain rule)")

    # --- documents (the protocol and every format's to_* come from Document) -----------------

    def content(self):
        """The worked solution as format-free content (sections of math objects and sentences).

        >>> Example.from_equations("L = (w*x)**2", values={"w": 3, "x": 2}).content().sections[0].title != ""
        True
        """
        return build(self)

    def document_notation(self, notation):
        """The notation preset completed for this example (``notation``, else the spec's own).

        >>> Example.from_equations("L = (w*x)**2").document_notation({"total": "d"})["total"]
        'd'
        """
        return resolve_notation(self, notation)

    def __repr__(self) -> str:
        from ..core.numbers import plural
        vals = "symbolic" if self.symbolic else plural(len(self.values), "value")
        return f"<derive.Example {self.output} of {', '.join(self.inputs)}: {plural(len(self.nodes), 'node')}, {vals}>"



def render(example, fmt_name: str, precision: int | None = None, fragment: bool = False,
           exact: bool | None = None, notation: dict | None = None) -> str:
    """The worked example for ``example`` (any kind) in one format ("markdown", "latex",
    "text" …): ``example.render`` (``derive.model.document``); ``notation`` defaults to the
    example's own preset (from its spec).

    >>> render(Example.from_equations("L = (w*x)**2", values={"w": 3, "x": 2}), "text").startswith("Derivative")
    True
    """
    return example.render(fmt_name, precision, fragment=fragment, exact=exact, notation=notation)
