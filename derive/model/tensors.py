"""``TensorExample``: staged equations over vectors and matrices, with exact values and gradients.

``Example.from_equations`` returns one when the values include lists or arrays, or the equations
use ``@``, ``.T`` or a tensor function (``softmax``, ``sum`` …). It has the API of ``Example``
(both are an ``ExampleBase``: the same methods, documents in every format): ``value`` and
``grad`` return a ``sympy.Matrix`` of the node's shape (a SymPy number for a scalar). What
cannot apply to matrices (hand-style rounding, the scalar edge-by-edge ``derivation``) is refused
by name (``NotApplicable``) with what to use instead. An image (C×H×W) or a kernel
(C_out×C_in×kh×kw) is given as lists nested three or four deep and comes back as a ``sympy.Array``.

The batch convention is a choice (``batch="columns"``, the default, or ``"rows"``): the examples of
a mini-batch are the columns (``W @ X + b``), or the rows as in PyTorch and CS231n
(``X @ W + b``). Under rows a list is a row vector (a bias broadcasts over the rows), and softmax,
cross-entropy and the feature statistics of ``layer_norm`` go along each row.
"""
from __future__ import annotations

import copy
import re

import numpy as np

import sympy as sp

from ..core.engine import Quantity, public_form
from ..core.errors import DeriveError, InvalidValue, NotApplicable
from ..core.numbers import to_exact
from ..core.parser import Call, Name
from ..core.engine import Graph
from ..core.tensor import (TENSOR_FUNCTIONS, ShapeEvaluation, Tensor, TensorEvaluation, binary_values,
                           scalar, shape_text)
from ..core.roles import CONSTANT_NAME
from ..core.staging import staged_graph
from .base import ExampleBase

BATCH_CONVENTIONS = ("columns", "rows")
_PARAM = re.compile(r"^(w|b|W|B|theta|bias|weight|gamma|beta|k|kernel)")
_DATA = re.compile(r"^(x|X|y|Y|t|target|label|input|h0|mask|upstream)")
PUBLIC_ENTRIES = 400  # up to this many entries, value/grad expand small exact forms (as Example)


class TensorExample(ExampleBase):
    """A staged computation over exact vectors and matrices.

    >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]})
    >>> ex.grad("W")
    Matrix([
    [5, 6],
    [5, 6]])
    """

    kind = "tensor"
    matrices = True  # values and gradients are matrices

    def __init__(self, graph: Graph, values, params=None, lr=None, title: str | None = None,
                 kind: str = "tensor", meta: dict | None = None, aliases: dict | None = None,
                 shapes: dict | None = None, batch: str | None = None):
        if batch is None:  # the graph's own (an example rebuilt at new values keeps it)
            batch = getattr(graph, "batch", "columns")
        if batch not in BATCH_CONVENTIONS:
            raise DeriveError(f"batch must be \"columns\" (the examples of a mini-batch are the "
                              f"columns: W @ X + b) or \"rows\" (they are the rows, as in PyTorch: "
                              f"X @ W + b), got {batch!r}")
        self.batch = batch
        graph = staged_graph(graph)  # compound arguments named (u1 = W x + b, then σ(u1)): every step one rule
        graph.batch = batch  # the convention travels with the graph: training and checking rebuild from it
        if values and shapes:
            raise DeriveError("give either values (a worked example with numbers) or shapes (a "
                              "symbolic derivation), not both: the values have their own shapes")
        if not values and not shapes:
            raise DeriveError("equations over vectors and matrices need values (lists for vectors, "
                              "nested lists for matrices), or shapes for a symbolic derivation, "
                              "e.g. shapes={\"W\": [3, 2], \"x\": [2, 1]}")
        if shapes:
            if not hasattr(shapes, "items"):
                raise DeriveError(f"shapes must be a mapping like {{\"W\": [3, 2]}}, got "
                                  f"{type(shapes).__name__}")
            self._init_symbolic(graph, dict(shapes), params, lr, title, kind, meta)
            return
        given = dict(values)
        unknown = [k for k in given if k not in graph.inputs]
        if unknown:
            computed = [k for k in unknown if k in graph.by_name]
            if computed:
                raise InvalidValue(f"`{computed[0]}` is computed on line "
                                  f"{graph.by_name[computed[0]].line}; it cannot be given a value")
            raise InvalidValue(f"values given for unknown name(s) {', '.join(map(repr, unknown))}; "
                              f"the inputs are: {', '.join(graph.inputs)}")
        missing = [n for n in graph.inputs if n not in given]
        if missing:
            raise InvalidValue(f"missing value(s) for {', '.join(missing)}; give every input a value")
        self.graph = graph
        self.title = title
        self.kind = kind
        self.meta = dict(meta or {})
        self.aliases = dict(aliases or {})  # scalar name -> (tensor name, row, column)
        self.lr = None if lr is None else to_exact(lr, "lr")
        self.evaluation = TensorEvaluation(graph, given, rows=batch == "rows")
        self.structure = self.evaluation.structure  # shapes and sites: what the rules read
        self.values = {n: self.evaluation.values[n] for n in graph.inputs}
        if params is None:
            params = _default_params(graph)
        else:
            params = [params] if isinstance(params, str) else list(params)
            for p in params:
                if p not in graph.inputs and p not in self.aliases:
                    raise DeriveError(f"parameter {p!r} is not an input; the inputs are: "
                                      f"{', '.join(graph.inputs)}")
        self.params = params
        self._settings()
        self._warn_about_the_convention()

    def _warn_about_the_convention(self):
        """A likely mismatch of the batch convention, said as a ``DeriveWarning`` and in the
        document (``meta["warnings"]``)."""
        said = convention_warnings(self)
        if said:
            import warnings
            from ..core.errors import DeriveWarning
            self.meta["warnings"] = said
            for message in said:
                warnings.warn(message, DeriveWarning, stacklevel=4)

    def _init_symbolic(self, graph, shapes, params, lr, title, kind, meta):
        """A derivation from shapes alone: the matrix rules with their shapes, no numbers."""
        self.graph = graph
        self.title = title
        self.kind = kind
        self.meta = dict(meta or {})
        self.aliases = {}
        self.lr = None if lr is None else to_exact(lr, "lr")
        self.evaluation = None
        self.structure = ShapeEvaluation(graph, shapes, rows=self.batch == "rows")  # what the rules read
        self.shapes = self.structure.shapes
        self.values = None
        if params is None:
            params = _default_params(graph)
        else:
            params = [params] if isinstance(params, str) else list(params)
            for p in params:
                if p not in graph.inputs:
                    raise DeriveError(f"parameter {p!r} is not an input; the inputs are: "
                                      f"{', '.join(graph.inputs)}")
        self.params = params
        self._settings()

    def _settings(self):
        """What every example has beside its numbers: the inputs' roles and document settings."""
        trained = {self.aliases[p][0] if p in self.aliases else p for p in self.params}
        self.roles = {n: "parameter" if n in trained else "constant" if CONSTANT_NAME.match(n)
                      else "data" for n in self.graph.inputs}
        self.precision = 4  # significant digits of ≈ numbers in documents
        self.exact = False  # documents also show exact forms
        self.notation = None  # the course's notation preset, e.g. from a spec
        self.latex_names = None

    @classmethod
    def from_equations(cls, text: str, values=None, params=None, lr=None, output=None,
                       title: str | None = None, shapes=None, batch: str | None = None) -> "TensorExample":
        """Staged tensor equations with values, or with ``shapes`` for a symbolic derivation.

        >>> ex = TensorExample.from_equations("z = W @ x + b\\nL = sum(z)",
        ...                                   shapes={"W": [3, 2], "x": [2], "b": [3]})
        >>> ex.symbolic, ex.shape("z")
        (True, (3, 1))
        """
        from ..core.functions import FUNCTIONS
        from ..core.parser import parse_equations
        from ..core.tensor import TENSOR_FUNCTIONS
        return cls(Graph(parse_equations(text, {**FUNCTIONS, **TENSOR_FUNCTIONS}), output, tensor=True),
                   values, params, lr, title, shapes=shapes, batch=batch)

    # --- the graph --------------------------------------------------------------------------

    @property
    def symbolic(self) -> bool:
        """True for a derivation from shapes alone (no values)."""
        return self.evaluation is None

    def shape(self, name: str) -> tuple:
        """The shape of a node or input: () for a scalar, (rows, columns) otherwise.

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]}, lr=1)
        >>> ex.shape("W"), ex.shape("x"), ex.shape("L")
        ((2, 2), (2, 1), ())
        """
        self._check_name(name)
        if name in self.aliases:
            return ()
        if self.symbolic:
            return self.shapes[name]
        return self.evaluation.values[name].shape

    def is_index(self, name: str) -> bool:
        """True when ``name`` holds class indices (the targets of a cross-entropy, one per
        example) rather than a one-hot matrix of the probabilities' shape.

        >>> ex = TensorExample.from_equations("p = softmax(z)\\nL = cross_entropy(p, y)", values={"z": [1, 2], "y": [0, 1]})
        >>> ex.is_index("y")
        False
        """
        if not self.symbolic:
            return bool(self.evaluation.values[name].index)
        for eq in self.graph.equations:
            t = eq.tree
            if (isinstance(t, Call) and t.func in TENSOR_FUNCTIONS and TENSOR_FUNCTIONS[t.func].after_softmax
                    and isinstance(t.args[1], Name) and t.args[1].id == name and isinstance(t.args[0], Name)):
                return self.shapes[name] != self.shapes[t.args[0].id]
        return False

    def _check_name(self, name: str):
        known = self.shapes if self.symbolic else self.evaluation.values
        if name not in known and name not in self.aliases:
            known = ", ".join(self.inputs + self.nodes)
            raise DeriveError(f"unknown name {name!r}; known names: {known}")

    def _numbers(self, what: str):
        if self.symbolic:
            raise DeriveError(f"{what}: this example is symbolic (shapes only, no values); give "
                              f"values=… for numbers, or read the derivation (ex.to_text())")

    def _tensor(self, name: str, table: dict) -> Tensor | sp.Expr:
        if name in self.aliases:
            base, i, j = self.aliases[name]
            return table[base].a[i, j]
        return table[name]

    # --- values and gradients ---------------------------------------------------------------

    def tensor(self, name: str) -> Tensor:
        """The exact forward Tensor of a node or input (entries: Rationals and exact atoms).

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]}, lr=1)
        >>> ex.tensor("z").shape
        (2, 1)
        """
        self._numbers("tensor")
        self._check_name(name)
        return self.evaluation.values[self.aliases[name][0] if name in self.aliases else name]

    def _public_of(self, name: str, table: dict, key: tuple):
        """The public form of a node, or of one entry through its scalar alias: the entry as
        the whole matrix shows it (one form per matrix), computed once per matrix."""
        if name not in self.aliases:
            return _public(table[name])
        base, i, j = self.aliases[name]
        if table[base].size > PUBLIC_ENTRIES:
            return public_form(table[base].a[i, j])
        cache = self.__dict__.setdefault("_public_cache", {})
        if key + (base,) not in cache:
            cache[key + (base,)] = _public(table[base])
        whole = cache[key + (base,)]
        return whole[i, j] if isinstance(whole, sp.MatrixBase) else whole

    def value(self, name: str):
        """Exact forward value: a ``sympy.Matrix`` of the node's shape, or a number.

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]}, lr=1)
        >>> ex.value("L")
        56
        """
        self._numbers("value")
        self._check_name(name)
        return self._public_of(name, self.evaluation.values, ("value",))

    def grad_tensor(self, wrt: str, of: str | None = None) -> Tensor:
        """∂of/∂wrt as the engine's exact Tensor (``grad`` gives its public ``sympy.Matrix``).

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]}, lr=1)
        >>> ex.grad_tensor("x").shape
        (2, 1)
        """
        self._numbers("grad")
        of = of or self.output
        self._check_name(wrt)
        self._check_name(of)
        base = self.aliases[wrt][0] if wrt in self.aliases else wrt
        return self.evaluation.grad(base, of)

    def grad(self, wrt: str, of: str | None = None):
        """∂of/∂wrt (default: the output): a ``sympy.Matrix`` of wrt's shape, exact.

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]}, lr=1)
        >>> ex.grad("x")
        Matrix([
        [4],
        [6]])
        """
        self._numbers("grad")
        of = of or self.output
        self._check_name(wrt)
        self._check_name(of)
        return self._public_of(wrt, self.evaluation.adjoints(of), ("grad", of))

    def update(self, name: str):
        """One gradient-descent step ``name − lr·∂L/∂name``, exact.

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]}, lr=1)
        >>> ex.update("x")
        Matrix([
        [1],
        [0]])
        """
        self._numbers("update")
        self._check_name(name)
        if self.lr is None:
            raise DeriveError("no learning rate: give lr=… to compute an update")
        base = self.aliases[name][0] if name in self.aliases else name
        if base not in self.graph.inputs:
            raise DeriveError(f"{name!r} is computed, not a parameter; updates apply to inputs "
                              f"such as {', '.join(self.params[:4])}")
        old = self._tensor(name, self.evaluation.values)
        g = self._tensor(name, self.evaluation.adjoints(self.output))
        if not isinstance(old, Tensor):
            old, g = scalar(old), scalar(g)
        # One sgd step of the optimizer registry, entry by entry: its rule is written once, there.
        from ..training.optimizers import OPTIMIZERS
        theta, grad = sp.Dummy("theta"), sp.Dummy("g")
        rule = OPTIMIZERS["sgd"].step(theta, grad, self.lr)
        new = np.empty(old.a.shape, dtype=object)
        for i in np.ndindex(old.a.shape):
            new[i] = rule.xreplace({theta: old.a[i], grad: g.a[i]})
        return _public(Tensor(new, scalar=old.scalar))

    def gradients(self) -> dict:
        """∂output/∂p for every parameter (exact Tensors' public form), in parameter order.

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]}, lr=1)
        >>> ex.gradients()["W"]
        Matrix([
        [5, 6],
        [5, 6]])
        """
        return {p: self.grad(p) for p in self.params}

    def matrix_derivation(self):
        """Every tensor's value and gradient as documents read them (a ``MatrixDerivation``).

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]})
        >>> ex.matrix_derivation().gradients["x"].a.tolist()
        [[4], [6]]
        """
        from types import MappingProxyType
        from ..core.derivation import MatrixDerivation
        if self.symbolic:
            return MatrixDerivation(self.output)
        return MatrixDerivation(self.output, MappingProxyType(dict(self.evaluation.values)),
                                MappingProxyType(dict(self.evaluation.adjoints(self.output))))

    def check(self, answers: dict, rtol=None, atol=None, *, listed: str | None = None):
        """Compare answers (numbers, nested lists or arrays) entry by entry; see
        ``derive.checking.matrixcheck``.

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]}, lr=1)
        >>> ex.check({"dL/dx": [4, 6]}).ok
        True
        """
        from ..checking.report import KEYS_LISTED
        from ..checking.matrixcheck import check_tensor_answers
        self._numbers("check")
        return check_tensor_answers(self, answers, rtol=rtol, atol=atol,
                                    listed=listed or KEYS_LISTED)

    # --- documents ------------------------------------------------------------------------

    def content(self):
        """The matrix-form worked solution as format-free content (sections of math objects).

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]}, lr=1)
        >>> ex.content().sections[0].title != ""
        True
        """
        from ..solutions.matrixdoc import build_matrix
        return build_matrix(self)

    def _under_notation(self, notation) -> "TensorExample":
        """A copy numbering its entries from the render's ``index_base`` where that differs from
        the example's own (the document counts entries as it is built, not as it is printed).

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]})
        >>> ex._under_notation({"index_base": 0}).notation["index_base"], ex.notation
        (0, None)
        """
        own = self.notation or {}
        base = (notation or {}).get("index_base")
        if base is None or base == own.get("index_base", 1):
            return self
        other = copy.copy(self)
        other.notation = {**own, "index_base": base}
        return other

    def document_notation(self, notation):
        """The notation preset the matrix documents print with (``notation``, else the spec's).

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]})
        >>> ex.document_notation({"total": "d"})["total"]
        'd'
        """
        from ..solutions.matrixdoc import matrix_notation  # δ for the pre-activations' gradients
        return matrix_notation(self, notation)

    # --- what does not take images and kernels yet, refused by name -------------------------

    def _images(self) -> list[str]:
        """The names whose tensors have more than two axes (a C×H×W image, a kernel)."""
        shapes = self.shapes if self.symbolic else {n: t.shape for n, t in self.evaluation.values.items()}
        return [n for n, shape in shapes.items() if len(shape) > 2]

    def _refuse_images(self, what: str, instead: str):
        images = self._images()
        if images:
            listed = ", ".join(images[:3]) + (" …" if len(images) > 3 else "")
            raise NotApplicable(f"{what} takes vectors and matrices; {listed} "
                                f"{'is an image or a kernel' if len(images) == 1 else 'are images or kernels'} "
                                f"(more than two axes): {instead}")

    def train(self, steps: int, optimizer: str = "sgd", lr=None, **options):
        """As ``Example.train``; refused by name for images and kernels (conv2d, pooling).

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z*z)", values={"W": [[1, 2]], "x": [1, 1]})
        >>> ex.train(1, lr=0.1).loss
        [9, 81/25]
        """
        self._refuse_images("train()", "take a step with ex.update(name), which works on them")
        return super().train(steps, optimizer, lr, **options)

    def table(self, as_dataframe: bool = False):
        """As ``Example.table``; refused by name for images and kernels (conv2d, pooling).

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2]], "x": [3, 4]})
        >>> ex.table()[0].name
        'W[1,1]'
        """
        self._refuse_images("table()", "ex.value(name) and ex.grad(name) give each as a sympy Array")
        return super().table(as_dataframe)

    def _refuse_format(self, chosen) -> None:
        """The PyTorch export and the notebook (which runs that export as its check) are refused
        by name for images and kernels and for the rows convention, each refusal naming the
        format asked for (the documents — md, tex, pdf, text, html — show every step).

        >>> ex = TensorExample.from_equations("o = maxpool2d(x, 2)\\nL = sum(o)", values={"x": [[[1, 2], [3, 4]]]})
        >>> ex.render("text").splitlines()[0]
        'Backpropagation in matrix form'
        """
        if chosen.printer is not None and chosen.name != "ipynb":
            return
        what = f"the {chosen.name} format" + (" (its PyTorch check)" if chosen.name == "ipynb" else "")
        self._refuse_images(what, "the document formats (md, tex, pdf, text, html) show every step of it")
        if self.batch == "rows":  # the export's code reads softmax and cross-entropy down the
            # columns: refused rather than silently transposed
            export = what if chosen.name == "ipynb" else f"the {chosen.name} export"
            raise NotApplicable(f"{export} writes the columns convention; this example's examples "
                                f"are rows (batch=\"rows\"): the document formats show every step")

    # --- what applies to scalar examples only, refused by name -------------------------------

    def derivation(self, wrt: str | None = None, of: str | None = None):
        """Refused: the scalar derivation goes edge by edge through scalar nodes; a tensor
        example's derivation is in matrix form, ``matrix_derivation()``.

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]})
        >>> ex.derivation()
        Traceback (most recent call last):
        ...
        derive.core.errors.NotApplicable: derivation() goes edge by edge through scalar nodes; this example's nodes are matrices: use ex.matrix_derivation() (every tensor's value and gradient) or ex.to_text() (the matrix rules)
        """
        raise NotApplicable("derivation() goes edge by edge through scalar nodes; this example's "
                            "nodes are matrices: use ex.matrix_derivation() (every tensor's value "
                            "and gradient) or ex.to_text() (the matrix rules)")

    def rounded(self, digits: int):
        """Refused: hand-style rounding recomputes a scalar derivation step by step; a tensor
        example's numbers are exact matrices (``ex.table()`` lists them as floats).

        >>> ex = TensorExample.from_equations("z = W @ x\\nL = sum(z)", values={"W": [[1, 2], [3, 4]], "x": [5, 6]})
        >>> ex.rounded(3)
        Traceback (most recent call last):
        ...
        derive.core.errors.NotApplicable: rounded(): hand-style rounding recomputes a scalar derivation step by step; this example's nodes are matrices: ex.table() lists every entry as a float
        """
        raise NotApplicable("rounded(): hand-style rounding recomputes a scalar derivation step by "
                            "step; this example's nodes are matrices: ex.table() lists every "
                            "entry as a float")

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n} {shape_text(self.shape(n))}" for n in self.inputs[:6])
        return f"<derive.TensorExample {self.output} of {shapes}: {len(self.nodes)} nodes>"


def lookup_indices(graph) -> set[str]:
    """The inputs a lookup reads as indices (``i`` in ``embedding(E, i)``): data, never trained."""
    from ..core.parser import Call, Name
    return {node.args[1].id for eq in graph.equations for node in _walk(eq.tree)
            if isinstance(node, Call) and node.func == "embedding" and len(node.args) > 1
            and isinstance(node.args[1], Name)}


def _default_params(graph) -> list[str]:
    """What training updates when the caller does not say: the inputs named like parameters (W,
    b, …), else those not named like data — never a lookup's indices (embedding(E, i): i picks
    rows of E, it is data whatever its name)."""
    indices = lookup_indices(graph)
    inputs = [n for n in graph.inputs if n not in indices]
    return ([n for n in inputs if _PARAM.match(n)] or [n for n in inputs if not _DATA.match(n)]
            or inputs or list(graph.inputs))


def _walk(tree):
    from ..core.tensor import operands
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(operands(node))


def convention_warnings(ex) -> list[str]:
    """Sentences about a likely mismatch of the batch convention: a softmax (or a cross-entropy)
    that normalises over an axis whose size is the number of examples rather than the classes'
    (the examples counted from the data matrices the products read: the columns of X in W @ X
    and the rows of X in … @ X.T, the rows of X in X @ W and the columns in X.T @ …), and a bias
    broadcast the other convention's way (a 1×k row added to every row under batch: columns, a
    k×1 column added to every column under batch: rows). At most one sentence of each kind."""
    return _softmax_axis_warnings(ex)[:1] + _bias_warnings(ex)[:1]


def _examples_read(ex) -> dict:
    """{number of examples: (their unit as the product reads them, the words for it)} from the
    data matrices multiplied, as written or transposed."""
    from ..core.parser import BinOp, Transpose
    data = {n for n in ex.graph.inputs if ex.roles.get(n) == "data" and len(ex.shape(n)) == 2
            and not ex.is_index(n) and min(ex.shape(n)) > 1}
    examples: dict = {}
    for eq in ex.graph.equations:
        for node in _walk(eq.tree):
            if not (isinstance(node, BinOp) and node.op == "@"):
                continue
            for side, operand in (("left", node.left), ("right", node.right)):
                flipped = isinstance(operand, Transpose)
                name = operand.operand if flipped else operand
                if not (isinstance(name, Name) and name.id in data):
                    continue
                written = f"{name.id}.T" if flipped else name.id
                product = f"{written} @ …" if side == "left" else f"… @ {written}"
                unit = "rows" if side == "left" else "columns"  # of the product's operand
                axis = (0 if side == "left" else 1) ^ flipped  # that unit's axis of X itself
                own = ("rows", "columns")[axis]
                examples.setdefault(ex.shape(name.id)[axis], (unit, f"the {own} of {name.id}, as "
                                                                  f"{product} reads them"))
    return examples


def _softmax_axis_warnings(ex) -> list[str]:
    from ..core.tensor import axis_of, class_axis
    examples = _examples_read(ex)
    said, lines = [], set()
    for eq in ex.graph.equations:
        for node in _walk(eq.tree):
            if not (isinstance(node, Call) and node.func in ("softmax", "log_softmax", "cross_entropy")):
                continue
            site = ex.structure.site(node)
            shape = site.shapes[0]
            if len(shape) != 2 or eq.line in lines:
                continue
            axis = class_axis(site) if node.func == "cross_entropy" else axis_of(site)
            n, other = shape[axis], shape[1 - axis]
            if n in examples and n > 1 and other != n:
                unit, read = examples[n]
                lines.add(eq.line)
                call = f"{node.func}({', '.join(getattr(a, 'id', '…') for a in node.args[:1])})"
                if unit != ex.batch:
                    fix = _OTHER_CONVENTION[unit] + ", or give the axis"
                else:
                    fix = f"the classes are along the other axis: give axis={1 - axis}"
                said.append(f"line {eq.line}: {call} normalises over an axis of {n} entries, the number "
                            f"of examples ({read}), not over the {other} classes: {fix}")
    return said  # the first such line is said: the rest follow from it (the cross-entropy of that softmax)


_OTHER_CONVENTION = {
    "rows": "the equations look like the other batch convention — take the row convention "
            "(batch=\"rows\", in a spec batch: rows; the examples are the rows, as in PyTorch)",
    "columns": "the equations look like the other batch convention — take the column convention "
               "(batch=\"columns\"; the examples are the columns)",
}


def _bias_warnings(ex) -> list[str]:
    """A parameter shaped as the other convention's bias, broadcast over more than one example:
    under columns a 1×k row added to every row of an m×k matrix (CS231n's X @ W + b, written
    with the examples as rows); under rows a k×1 column added to every column."""
    from ..core.parser import BinOp
    params = {n for n in ex.graph.inputs if ex.roles.get(n) == "parameter"}
    batched = {n for n in ex.graph.inputs if ex.roles.get(n) == "data" and len(ex.shape(n)) == 2
               and not ex.is_index(n)}  # what is computed from the examples: a bias is added to it
    rows = ex.batch == "rows"
    said = []
    for eq in ex.graph.equations:
        for node in _walk(eq.tree):
            if not (isinstance(node, BinOp) and node.op in "+-"):
                continue
            out = ex.structure.site(node).out
            for operand, other in ((node.left, node.right), (node.right, node.left)):
                if not (isinstance(operand, Name) and operand.id in params) or len(out) != 2 or not any(
                        isinstance(n, Name) and n.id in batched for n in _walk(other)):
                    continue
                shape = ex.shape(operand.id)
                along = 0 if rows else 1  # the axis a bias of this convention would not have
                if len(shape) == 2 and shape[1 - along] == 1 and shape[along] > 1 \
                        and out[along] == shape[along] and out[1 - along] > 1:
                    k, m = shape[along], out[1 - along]
                    what = (f"a column ({k}×1) added to every column of a {k}×{m} matrix" if rows
                            else f"a row (1×{k}) added to every row of a {m}×{k} matrix")
                    usual = ("a bias is a row (one entry per output, broadcast over the example "
                             "rows)" if rows else "a bias is a column (one entry per output, "
                             "broadcast over the example columns)")
                    said.append(f"line {eq.line}: {operand.id} is {what}; under batch: {ex.batch} "
                                f"{usual}: {_OTHER_CONVENTION['columns' if rows else 'rows']}, or "
                                f"give {operand.id} as a {'row' if rows else 'column'}")
        if any(isinstance(n, Name) and n.id in batched for n in _walk(eq.tree)):
            batched.add(eq.name)
    return said


def _public(value):
    if not isinstance(value, Tensor):
        return public_form(value)
    if value.scalar:
        return public_form(value.item())
    if value.a.ndim > 2:  # an image or a kernel: an N-d SymPy array
        entries = list(value.a.ravel())
        if value.size <= PUBLIC_ENTRIES:
            entries = [public_form(e) for e in entries]
        return sp.ImmutableDenseNDimArray(entries, value.a.shape)
    rows = value.a.tolist()
    if value.size <= PUBLIC_ENTRIES:
        forms = [public_form(e) for row in rows for e in row]
        # one form for the whole matrix: when an entry is too deep to expand (it stays an exact
        # atom, printing as ≈ its value), the others are shown that way too, not as formulas
        if (not any(isinstance(f, Quantity) for f in forms)
                or all(isinstance(f, Quantity) or f.is_Rational for f in forms)):
            return sp.Matrix(value.a.shape[0], value.a.shape[1], forms)
    return sp.Matrix(rows)
