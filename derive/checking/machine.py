"""Numbers from machines: answers computed in float32 (or float16, bfloat16) by numpy or PyTorch,
judged at the precision they were computed in.

A float32 carries about 7 significant digits; the rest of what it prints as a Python float is the
binary widening (``torch.tensor(-0.8).item()`` is ``-0.800000011920929``), and a float32 forward
and backward pass is off from the exact value by a few units of its last place. Such a value is
right when it is within ``ULPS`` float32 units (``ULPS · eps``, relative) of the exact value — in
a matrix, of the exact entry or of the matrix's largest entry, and for one number of its terms
(``rounding_scale``: a sum's largest term, a gradient's largest path), since a value that
cancels to almost nothing keeps the rounding of the terms it cancelled (as ``numpy.allclose`` has
an absolute part).

Recognised as float32 (and named so in the report's note):

* numpy ``float32``/``float16`` scalars and arrays;
* torch tensors of any dtype and device: moved to the CPU and detached (torch itself is imported
  only for an object whose type comes from torch, never otherwise);
* a Python float that is exactly a float32 and prints with 10 or more digits (``t.item()``), and
  a float64 array or tensor of such values (``t.double()``);
* a float32 as numpy and torch print it: ``np.float32(-0.8000001)``, ``tensor(-0.80000007)``
  (torch's default dtype), ``array([0.1, 0.2], dtype=float32)``.

A number typed by a person is held to the digits written, however many: ``-0.80000007`` typed
is right only within 5e-9.

>>> import numpy as np
>>> precision_of(np.float32(0.25)).name, precision_of(np.float64(0.25))
('float32', None)
>>> widened_float32(float(np.float32(-0.8))), widened_float32(-0.8), widened_float32(0.1 * 3)
(True, False, False)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# units in the last place of float32 a machine value may be off by: a forward and backward pass in
# float32 rounds at every operation, and they add up (measured: up to 30 units in an entry of a
# [4, 8, 3] batch gradient, 3 units of its largest entry). The half formats are mostly copies of
# float32 results (.half(), autocast): a few units of their much coarser last place.
ULPS = 16
HALF_ULPS = 4


@dataclass(frozen=True)
class Precision:
    """A floating-point format narrower than a Python float: its machine epsilon and the
    significant decimal digits it carries."""

    name: str
    eps: float
    digits: int
    ulps: int = ULPS

    @property
    def rtol(self) -> float:
        """The relative tolerance a value of this format is judged with (``ulps · eps``)."""
        return self.ulps * self.eps

    def note(self, source: str = "", matrix: bool = False, printed: bool = False) -> str:
        """How such an answer was judged, for the report: "read as float32 …"."""
        of = f" ({source})" if source else ""
        where = (" of each entry, or of the matrix's largest entry" if matrix
                 else " of the value, or of its terms where they cancel")
        within = f"within a relative {self.rtol:.2g} ({self.ulps} units in its last place){where}"
        if printed:  # its digits are the printer's, and the value behind them is a float32's
            return f"read as {self.name}{of}: judged to the digits printed or {within}, whichever is wider"
        return f"read as {self.name}{of}: judged to its {self.digits} significant digits, {within}"


PRECISIONS = {
    "float32": Precision("float32", float(np.finfo(np.float32).eps), 7),
    "float16": Precision("float16", float(np.finfo(np.float16).eps), 3, HALF_ULPS),
    "bfloat16": Precision("bfloat16", 2.0 ** -7, 2, HALF_ULPS),
}


def plain(value):
    """``value`` with a torch tensor replaced by the numpy array it holds, and the tensor's dtype
    name ("" for anything else): ``derive.core.numbers.from_torch``."""
    from ..core.numbers import from_torch
    return from_torch(value)


def precision_of(value, dtype: str = "") -> Precision | None:
    """The narrow float format of a numpy value (or of the torch dtype ``dtype`` it came from);
    None for float64, integers and everything else."""
    if dtype in PRECISIONS:
        return PRECISIONS[dtype]
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind != "f":
        return None
    return PRECISIONS.get(str(value.dtype))


def _significant(text: str) -> int:
    mantissa = re.split(r"[eE]", text.strip().lstrip("+-"))[0]
    return len(mantissa.replace(".", "").lstrip("0")) or 1


def widened_float32(number: float) -> bool:
    """A float32 seen as a Python float: exactly a float32, printing with 10 or more digits."""
    if not isinstance(number, float) or number != number or abs(number) == float("inf"):
        return False
    with np.errstate(over="ignore"):
        narrow = np.float32(number)
    return float(narrow) == number and _significant(float.__repr__(number)) >= 10


def float32_text(number: float) -> str:
    """The shortest decimal of the float32 ``number`` is (``-0.8000000715255737`` → ``-0.8000001``)."""
    return str(np.float32(number))


# what numpy and torch print for one float32: np.float32(-0.8000001), tensor(-0.80000007) (torch's
# default dtype unless a dtype= follows), array(-0.8, dtype=float32)
_PRINTED = re.compile(r"^\s*(?:(?:np|numpy)\.(float32|float16)\(\s*([^()]*?)\s*\)|"
                      r"(?:torch\.)?tensor\(\s*([^(),\[\]]*?)\s*((?:,\s*\w+\s*=[^,()]*(?:\([^()]*\))?)*)\)|"
                      r"(?:np\.|numpy\.)?array\(\s*([^(),\[\]]*?)\s*,\s*dtype\s*=\s*(?:np\.|numpy\.)?(float32|float16)\s*\))\s*$")


def printed_machine(text: str):
    """(number text, format name) of a float32 (float16) printed by numpy or torch —
    ``np.float32(-0.8000001)``, ``tensor(-0.80000007)``, ``array(0.5, dtype=float32)`` — else None.

    >>> printed_machine("tensor(-0.80000007, grad_fn=<AddBackward0>)"), printed_machine("0.25")
    (('-0.80000007', 'float32'), None)
    """
    m = _PRINTED.match(text) if isinstance(text, str) else None
    if not m:
        return None
    if m.group(1):
        return m.group(2), m.group(1)
    if m.group(5) is not None:
        return m.group(5), m.group(6)
    dtype = re.search(r"dtype\s*=\s*(?:torch\.)?(\w+)", m.group(4) or "")
    name = dtype.group(1) if dtype else "float32"  # torch prints no dtype for its default, float32
    return (m.group(3), name) if name in PRECISIONS else None


@dataclass(frozen=True)
class Read:
    """How a machine answer was read: its format and where it came from ("torch.float32
    tensor"), for the report's note."""

    precision: Precision
    source: str
    printed: bool = False  # read from the text numpy or torch printed (its digits count too)

    def note(self, matrix: bool = False) -> str:
        return self.precision.note(self.source, matrix, self.printed)


@dataclass(frozen=True)
class MachineNumber:
    """A number as a machine holds it: ``raw`` to show, its exact ``value`` (the decimal it
    prints as in its own precision), the ``text`` whose digits it has, and how it was ``read``
    (None: an ordinary number, such as a float64 tensor's, to be read as usual from ``raw``)."""

    raw: object
    value: object = None
    text: str = ""
    read: Read | None = None


def machine_number(raw) -> MachineNumber | None:
    """A machine value to judge at its own precision — a torch tensor, a numpy float32/float16,
    a Python float widened from a float32, a float32 as numpy or torch print it — else None (the
    usual rules apply). A tensor of float64 or of integers comes back as the numpy value it holds
    (``read`` None); a tensor of several numbers raises (it answers no one key)."""
    from ..core.errors import AnswerError
    from ..core.numbers import parse_decimal, to_exact
    raw, dtype = plain(raw)
    if dtype:  # a torch tensor, now its numpy array
        if raw.size != 1:
            raise AnswerError(f"expected one number for this key, got a tensor of shape "
                              f"{tuple(raw.shape)}")
        raw = raw.reshape(())[()]
    if type(raw).__module__ == "numpy" and getattr(raw, "shape", None) is not None:
        if raw.size != 1:
            return None  # the usual reader says what is wrong with it
        precision = precision_of(raw, dtype)
        scalar = raw.reshape(())[()]
        if precision is not None:
            source = f"a torch.{dtype} tensor" if dtype else f"numpy {scalar.dtype}"
            return MachineNumber(scalar, to_exact(scalar, "answer"), str(scalar), Read(precision, source))
        if scalar.dtype != np.float64 or not widened_float32(float(scalar)):
            return MachineNumber(scalar) if dtype else None
        raw = float(scalar)  # float32 results widened (.double()): judged as float32
    if isinstance(raw, float) and widened_float32(raw):
        text = float32_text(raw)
        return MachineNumber(raw, parse_decimal(text), text,
                             Read(PRECISIONS["float32"], "a float holding a float32"))
    printed = printed_machine(raw)
    if printed is not None:
        number, name = printed
        value = parse_decimal(number.replace("−", "-"))
        if value is not None:
            return MachineNumber(raw, value, number, Read(PRECISIONS[name], "as numpy or torch print it", True))
    return None


def rounding_scale(ex, key) -> float:
    """The magnitude a machine's rounding in computing ``key`` is relative to: the step's value
    with every sum replaced by its largest term in absolute value — the operands of a sum that
    cancels (z2 = w3·z1 + w2·h), and for a gradient its largest path contribution (a fan-out
    whose two paths nearly cancel keeps the rounding of each; each edge's local derivative at its
    own value, so a float16 value is not excused for a rule's internal 1 − σ). A float32 answer within its
    relative tolerance of this scale is right, as a matrix entry within it of the matrix's
    largest entry.

    >>> import derive
    >>> from derive.checking.answers import parse_key
    >>> ex = derive.Example.from_equations("u = a*x\\nv = a*b\\nL = u - v", values={"a": 1, "b": 1.999, "x": 2})
    >>> float(ex.value("L")), rounding_scale(ex, parse_key(ex, "L")), rounding_scale(ex, parse_key(ex, "dL/da"))
    (0.001, 2.0, 2.0)
    """
    from ..core.engine import accumulate
    ev, graph = ex.evaluation, ex.graph
    names = {symbol: name for name, symbol in graph.symbols.items()}
    magnitudes: dict = {}

    def of_value(symbol):  # a symbol of the graph (or its name): its line's magnitude
        name = names.get(symbol, symbol)
        if name not in magnitudes:
            node = graph.nodes.get(name)
            magnitudes[name] = _float(ev.values[name]) if node is None else _magnitude(ev, node.expr, of_value)
        return magnitudes[name]

    def local(of, wrt):  # an edge's own rule at its |value| (σ' = σ(1 − σ) is no sum of paths)
        return _float(ev.local(of, wrt).value)
    if key.kind == "value":
        return of_value(key.name)
    if key.kind == "local":
        return local(key.of, key.wrt)
    def largest(name, collected, term):  # the largest path contribution, not their sum
        return max(collected, term)
    if key.kind == "derivative":
        return float(accumulate(graph, key.of, local, combine=largest).get(key.wrt, 0))
    gradient = float(accumulate(graph, ex.output, local, combine=largest).get(key.name, 0))
    return max(_float(ev.values[key.name]), _float(ex.lr if ex.lr is not None else 0) * gradient)


def _float(value) -> float:
    from ..core.approx import approx
    try:
        return abs(float(approx(value)))
    except (TypeError, ValueError):
        return 0.0


def _magnitude(ev, expr, of_value) -> float:
    """|expr| at the example's values with each sum replaced by its largest term in absolute
    value (a symbol: its line's magnitude; a function or a power other than a positive whole
    one: its own |value|)."""
    if expr.is_Symbol:
        return of_value(expr)
    if expr.is_Number:
        return abs(float(expr))
    if expr.is_Add:
        return max(_magnitude(ev, t, of_value) for t in expr.args)
    if expr.is_Mul:
        out = 1.0
        for f in expr.args:
            out *= _magnitude(ev, f, of_value)
        return out
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        return _magnitude(ev, expr.base, of_value) ** int(expr.exp)
    return _float(ev.at(expr))


def note(answer) -> str:
    """The report's note on an answer read at a narrow precision ("" for any other)."""
    read = getattr(answer, "precision", None)
    return read.note() if read is not None else ""


__all__ = ["Precision", "PRECISIONS", "ULPS", "Read", "MachineNumber", "plain", "precision_of",
           "machine_number", "printed_machine", "widened_float32", "note", "rounding_scale"]
