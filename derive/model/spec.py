"""Spec files (YAML, safe loader): validated into a plain ``Spec``; errors name the field."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import DeriveError, SpecError

# Every field a spec may hold, by the kind of spec that uses it. A field is either used or refused
# with a message that names it and says what to do instead — never silently dropped.
EQUATION_FIELDS = ("title", "instructions", "equations", "values", "random", "constraints", "ask",
                   "lr", "params", "data", "constants", "output", "precision", "focus", "notation",
                   "tolerance", "train", "shapes", "batch")
MLP_FIELDS = ("title", "inputs", "weights", "biases", "targets", "activation", "activations", "loss",
              "lr", "focus", "precision", "notation", "train", "batch")
KNOWN_FIELDS = tuple(dict.fromkeys(EQUATION_FIELDS + MLP_FIELDS))

# What to do with a field that belongs to the other kind of spec.
_NOT_IN_EQUATIONS = {
    "loss": "write the loss as an equation line instead, e.g. `L = binary_cross_entropy(a, y)` "
            "(every registry loss is callable in equations)",
    "activation": "write the activation in the equations instead, e.g. `a = relu(z)`",
    "activations": "write each activation in the equations instead, e.g. `a1 = relu(z1)`",
    "inputs": "`inputs`, `weights`, `biases` and `targets` describe a network for `derive mlp`; an "
              "equations spec gives every input a value under `values:`",
}
_NOT_IN_EQUATIONS.update({k: _NOT_IN_EQUATIONS["inputs"] for k in ("weights", "biases", "targets")})
_NOT_IN_MLP = "it belongs to an equations spec (`derive render`); an mlp spec gives inputs, " \
              "weights, biases, targets, activation, loss, lr, focus, precision and notation"
def train_fields() -> tuple:
    """The fields of a spec's ``train:`` section: steps, optimizer, and every hyperparameter of
    the optimizer registry (generated from its entries)."""
    from ..training.optimizers import options
    return ("steps", "optimizer") + tuple(hp.name for hp in options())


@dataclass
class Spec:
    title: str | None = None
    instructions: str | None = None
    equations: str | None = None
    values: dict = field(default_factory=dict)
    random: dict = field(default_factory=dict)
    constraints: list = field(default_factory=list)
    ask: list = field(default_factory=list)
    lr: object = None
    params: list | None = None
    output: str | None = None
    precision: int | None = None
    notation: dict | None = None  # {total: d | ∂}
    tolerance: object = None  # derive.core.tolerance.Tolerance: LMS exports, the key, `check`
    raw: dict = field(default_factory=dict)
    source: str = ""
    data: list | None = None
    constants: list | None = None
    focus: str | None = None
    shapes: dict | None = None  # {W: [3, 2]}: a symbolic matrix derivation (no values)
    batch: str = "columns"  # the examples of a mini-batch: the columns (W @ X + b) or the rows (X @ W + b)


def load_yaml(path, what: str = "spec file") -> dict:
    """A YAML mapping from ``path``: a regular UTF-8 file under the size cap, no aliases, no
    duplicate keys (``derive.io.inputs``). ``what`` names the file in errors."""
    from ..io.inputs import load_yaml_file
    path = Path(path)
    data = load_yaml_file(path, what)
    if not isinstance(data, dict):
        example = ("title:, equations:, values: …" if what == "spec file"
                   else "`dL/dw: 8`, one answer per line")
        raise SpecError(f"{path}: the {what} must be a YAML mapping ({example}), "
                        f"got {type(data).__name__}")
    return data


def load_answers(path) -> dict:
    """A student's answers: YAML (``dL/dW1: [[0.1, 0.2], …]``) or a numpy ``.npz`` archive whose
    array names are the answer keys (``np.savez("a.npz", **{"dL/dW1": grad})``)."""
    if str(path).lower().endswith(".npz"):
        from ..io.inputs import load_npz  # shapes and sizes checked before anything is inflated
        return load_npz(path)
    return load_yaml(path, "answers file")


def _number_map(data: dict, key: str, path) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise SpecError(f"{path}: `{key}` must be a mapping like {{x: 2, w: 3}}, got {value!r}")
    for k in value:
        if not isinstance(k, str):
            raise SpecError(f"{path}: `{key}` has a non-name key {k!r}")
    return dict(value)


def _refuse_unknown(data: dict, path, allowed: tuple):
    unknown = [k for k in data if k not in KNOWN_FIELDS]
    if unknown:
        raise SpecError(f"{path}: unknown field(s) {', '.join(map(str, unknown))}; known fields: "
                        f"{', '.join(allowed)}")


def _names(data: dict, key: str, path) -> list | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise SpecError(f"{path}: `{key}` must be a list of input names, like [w, b]")
    return value


def load_spec(path) -> Spec:
    """An equations spec (``derive render``, ``check``, ``homework``), validated field by field.

    >>> load_spec("examples/relu-homework.yaml").ask
    ['dL/dw', 'dL/db', 'w_new']
    """
    data = load_yaml(path)
    _refuse_unknown(data, path, EQUATION_FIELDS)
    for key, fix in _NOT_IN_EQUATIONS.items():
        if key in data:
            raise SpecError(f"{path}: `{key}` is not used by an equations spec; {fix}")
    eqs = data.get("equations")
    if eqs is not None and not isinstance(eqs, str):
        raise SpecError(f"{path}: `equations` must be text, one `name = expression` per line "
                        f"(use `equations: |` in YAML)")
    for key in ("title", "instructions", "output"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise SpecError(f"{path}: `{key}` must be text")
    ask = data.get("ask") or []
    if not isinstance(ask, list) or not all(isinstance(a, str) for a in ask):
        raise SpecError(f"{path}: `ask` must be a list like [\"dL/dw\", \"w_new\"]")
    constraints = data.get("constraints") or []
    if not isinstance(constraints, list) or not all(isinstance(c, str) for c in constraints):
        raise SpecError(f"{path}: `constraints` must be a list of conditions like [\"z > 0\"]")
    params = _names(data, "params", path)
    focus = data.get("focus")
    if focus is not None and not isinstance(focus, str):
        raise SpecError(f"{path}: `focus` must be one input name, e.g. `focus: w`")
    random = _number_map(data, "random", path)
    precision = data.get("precision")
    if precision is not None and (not isinstance(precision, int) or not 1 <= precision <= 30):
        raise SpecError(f"{path}: `precision` must be a whole number from 1 to 30")
    from ..core.tolerance import parse_tolerance
    tolerance = parse_tolerance(data.get("tolerance"), str(path))
    return Spec(title=data.get("title"), instructions=data.get("instructions"), equations=eqs,
                values=_number_map(data, "values", path), random=random, constraints=constraints,
                ask=ask, lr=data.get("lr"), params=params, output=data.get("output"),
                precision=precision, notation=_notation(data, path), tolerance=tolerance, raw=data,
                source=str(path), data=_names(data, "data", path),
                constants=_names(data, "constants", path), focus=focus, shapes=_shapes(data, path),
                batch=_batch(data, path))


def _batch(data: dict, path) -> str:
    """``batch: columns | rows``: the examples of a mini-batch are the columns (the default,
    ``W @ X + b``) or the rows (as in PyTorch and CS231n, ``X @ W + b``)."""
    batch = data.get("batch", "columns")
    if batch not in ("columns", "rows"):
        raise SpecError(f"{path}: `batch: {batch}` is not a convention; write `batch: columns` (the "
                        f"examples are the columns, W @ X + b) or `batch: rows` (they are the rows, "
                        f"X @ W + b, as in PyTorch)")
    return batch


def _shapes(data: dict, path):
    """``shapes: {W: [3, 2], x: [2]}``: each input's shape, for a derivation without values."""
    shapes = data.get("shapes")
    if shapes is None:
        return None
    if not isinstance(shapes, dict) or not all(isinstance(k, str) for k in shapes):
        raise SpecError(f"{path}: `shapes` must map input names to shapes, e.g. `shapes: {{W: [3, 2], "
                        f"x: [2]}}`")
    if data.get("values"):
        raise SpecError(f"{path}: give `values` (numbers) or `shapes` (a symbolic matrix "
                        f"derivation), not both — values have their own shapes")
    for name, shape in shapes.items():
        if not isinstance(shape, list) or len(shape) > 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape):
            raise SpecError(f"{path}: `shapes: {name}: {shape!r}` is not a shape; write [rows, "
                            f"columns], [n] for a column vector or [] for a scalar")
    return dict(shapes)


def _notation(data: dict, path):
    """The spec's notation preset, checked now so a typo is reported with the file."""
    if data.get("notation") is None:
        return None
    from ..rendering.formats import check_notation
    from ..core.errors import DeriveError
    try:
        check_notation(data["notation"])
    except DeriveError as e:
        raise SpecError(f"{path}: {e}") from None
    return dict(data["notation"])


def example_from_spec(spec: Spec):
    """The ``Example`` a spec describes (fixed values only; homework adds the random ones)."""
    from .example import Example
    if not spec.equations:
        raise SpecError(f"{spec.source}: `equations` is missing; write e.g.\n"
                        f"equations: |\n  z = w*x + b\n  a = relu(z)\n  L = (a - y)**2")
    if spec.random:
        raise SpecError(f"{spec.source}: `random` values are for `derive homework`; "
                        f"give fixed `values` to render one example")
    if spec.constraints:
        raise SpecError(f"{spec.source}: `constraints` filter the `random` draws of `derive "
                        f"homework`; with fixed `values` there is nothing to filter — remove them")
    try:
        ex = Example.from_equations(spec.equations, values=spec.values or None, params=spec.params,
                                    lr=spec.lr, output=spec.output, title=spec.title,
                                    data=spec.data, constants=spec.constants, shapes=spec.shapes,
                                    batch=spec.batch)
    except SpecError:
        raise
    except DeriveError as e:
        raise SpecError(f"{spec.source}: {e}") from None
    if spec.focus is not None and ex.matrices:
        ex.meta["focus"] = str(spec.focus)  # a matrix entry to zoom into, e.g. W1[2,1]
    elif spec.focus is not None:
        if spec.focus not in ex.inputs:
            raise SpecError(f"{spec.source}: `focus: {spec.focus}` is not an input; the inputs are "
                            f"{', '.join(ex.inputs)}")
        ex.meta["focus"] = spec.focus
    if spec.ask:
        from ..checking.answers import parse_key
        for key in spec.ask:
            try:
                parse_key(ex, key)
            except DeriveError as e:
                raise SpecError(f"{spec.source}: `ask` entry {key!r}: {e}") from None
        ex.meta["ask"] = list(spec.ask)
    ex.notation = spec.notation
    if spec.instructions:
        ex.meta["instructions"] = spec.instructions.strip()
    if spec.precision is not None:
        ex.precision = spec.precision
    return ex


def mlp_from_spec(path, focus: str | None = None, training: bool = False):
    """``derive mlp net.yaml``: inputs, weights, biases, targets, activation, loss, lr."""
    from .builders import mlp
    data = load_yaml(path)
    _refuse_unknown(data, path, MLP_FIELDS)
    for key in data:
        if key not in MLP_FIELDS:
            raise SpecError(f"{path}: `{key}` is not used by an mlp spec; {_NOT_IN_MLP}")
    missing = [k for k in ("inputs", "weights", "biases", "targets") if k not in data]
    if missing:
        raise SpecError(f"{path}: missing field(s) {', '.join(missing)}; an mlp spec needs inputs, "
                        f"weights, biases and targets (see `derive mlp --help`)")
    if "activation" in data and "activations" in data:
        raise SpecError(f"{path}: give `activation` (one for every layer) or `activations` (a list, "
                        f"one per layer), not both")
    activation = data.get("activation", data.get("activations", "sigmoid"))
    precision = data.get("precision")
    if precision is not None and (not isinstance(precision, int) or not 1 <= precision <= 30):
        raise SpecError(f"{path}: `precision` must be a whole number from 1 to 30")
    ex = mlp(data["inputs"], data["weights"], data["biases"], data["targets"],
             activation=activation, loss=data.get("loss", "half_squared_error"),
             lr=None if training and isinstance(data.get("lr"), dict) else data.get("lr"),
             focus=focus or data.get("focus"), title=data.get("title"), batch=_batch(data, path))
    if precision is not None:
        ex.meta["precision"] = ex.precision = precision
    ex.notation = _notation(data, path)  # δ and 0-based layers matter most for networks
    return ex


def train_options(data: dict, path) -> dict:
    """The spec's ``train:`` section (every key of ``Example.train``), checked by name; a
    per-parameter ``lr: {w: 0.1, b: 0.01}`` at the top level belongs to training too."""
    section = data.get("train") or {}
    if not isinstance(section, dict):
        raise SpecError(f"{path}: `train` must be a mapping like {{steps: 10, optimizer: adam, lr: 0.01}}")
    from ..training.optimizers import options as hyperparameters
    fields = train_fields()
    unknown = [k for k in section if k not in fields]
    if unknown:
        raise SpecError(f"{path}: unknown field(s) in `train`: {', '.join(map(str, unknown))}; known: "
                        f"{', '.join(fields)}")
    options = dict(section)
    if isinstance(data.get("lr"), dict) and "lr" not in options:
        options["lr"] = data["lr"]
    for hp in hyperparameters():  # the written form each kind takes (the values are checked by the run)
        if hp.name not in options:
            continue
        if hp.kind == "pair" and (not isinstance(options[hp.name], list) or len(options[hp.name]) != 2):
            raise SpecError(f"{path}: `train.{hp.name}` must be two numbers like [0.9, 0.999]")
        if hp.kind == "flag" and not isinstance(options[hp.name], bool):
            raise SpecError(f"{path}: `train.{hp.name}` must be true or false")
    if "optimizer" in options and not isinstance(options["optimizer"], str):
        raise SpecError(f"{path}: `train.optimizer` must be a name such as adam")
    if isinstance(options.get("lr"), dict):
        for k in options["lr"]:
            if not isinstance(k, str):
                raise SpecError(f"{path}: `lr` has a non-name key {k!r}")
    return options


def training_from_spec(path):
    """``derive train SPEC``: the example (equations, or an mlp's inputs/weights/…) and its
    ``train:`` options."""
    data = load_yaml(path)
    if "equations" not in data and "weights" in data:
        example = mlp_from_spec(path, training=True)
    else:
        spec = load_spec(path)
        if isinstance(spec.lr, dict):
            spec.lr = None  # a learning rate per parameter: a training option
        example = example_from_spec(spec)
    return example, train_options(data, path)

