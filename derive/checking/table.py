"""Every number of an example as Python floats, one row per input and node: its value, its local
derivatives (∂node/∂parent) and its gradient (∂output/∂name) — for a REPL, a notebook or a
plotting script. The exact values stay in the example; these are their float approximations.
A tensor example has one row per entry (``W1[2,1]``, ``b1[3]``; a builder's entry by its own name
such as ``w1_2_1``), with the entry's value and ∂output/∂entry; its local derivatives are
Jacobians of whole tensors, which the matrix documents state as rules, so ``local`` is empty.

>>> import derive
>>> table = derive.neuron(x=2, w=3, b=1, y=5).table()
>>> [(row.name, row.value, row.gradient) for row in table][:3]
[('x', 2.0, 12.0), ('w', 3.0, 8.0), ('b', 1.0, 4.0)]
>>> table.row("a").local
{'z': 1.0}
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..core.approx import approx
from ..core.errors import DeriveError, UnknownName


@dataclass(frozen=True)
class Row:
    """One input or node: ``local`` maps each parent p to ∂name/∂p (empty for an input)."""

    name: str
    display: str
    kind: str  # "parameter", "data", "constant" (inputs) or "node"
    value: float
    gradient: float  # ∂output/∂name (1.0 for the output itself)
    local: dict = field(default_factory=dict)


class Table(list):
    """A list of ``Row`` with lookups and conversions (``to_pandas``, ``to_dicts``)."""

    def row(self, name: str) -> Row:
        for r in self:
            if r.name == name:
                return r
        raise UnknownName(f"no row {name!r}; the rows are: {', '.join(r.name for r in self)}")

    def to_dicts(self) -> list[dict]:
        """The rows as plain dicts (``local`` stays a dict)."""
        return [asdict(r) for r in self]

    def to_pandas(self):
        """The table as a ``pandas.DataFrame`` indexed by name; the local derivatives are one
        column each, ``∂name/∂parent`` written ``d/dparent`` (NaN where a node has no such parent).
        Needs pandas (an optional dependency)."""
        try:
            import pandas as pd
        except ImportError:
            raise DeriveError("to_pandas needs pandas (pip install pandas); the rows themselves "
                              "are plain data: table.to_dicts()") from None
        parents = []
        for r in self:
            parents += [p for p in r.local if p not in parents]
        records = []
        for r in self:
            record = {"name": r.name, "display": r.display, "kind": r.kind, "value": r.value,
                      "gradient": r.gradient}
            record.update({f"d/d{p}": r.local.get(p, float("nan")) for p in parents})
            records.append(record)
        return pd.DataFrame.from_records(records, index="name")


def _float(value) -> float:
    return float(approx(value))


def value_table(ex) -> Table:
    """The ``Table`` of an example with values (see the module docstring)."""
    from .answers import display_name
    if ex.symbolic:
        raise DeriveError("a table of numbers needs an example with values; give values=…")
    if ex.matrices:
        return _entry_table(ex)
    graph, d = ex.graph, ex.derivation()
    rows = Table()
    for name in list(graph.inputs) + list(graph.nodes):
        node = graph.nodes.get(name)
        kind = "node" if node is not None else ex.roles.get(name, "parameter")
        gradient = 1.0 if name == ex.output else _float(d.total_of(name))
        local = {}
        if node is not None and node.parents:  # a node the output does not use: its own derivation has its edges
            own = d if (name, node.parents[0]) in d.edges else ex.derivation(of=name)
            local = {p: _float(own.local_step(name, p).value) for p in node.parents}
        rows.append(Row(name, display_name(name), kind, _float(d.value(name)), gradient, local))
    return rows


def entry_name(name: str, i: int, j: int, shape: tuple) -> str:
    """An entry of a tensor, 1-based as courses write it: ``W1[2,1]``, ``b1[3]`` (a column).

    >>> entry_name("W1", 1, 0, (3, 2)), entry_name("b1", 2, 0, (3, 1))
    ('W1[2,1]', 'b1[3]')
    """
    return f"{name}[{i + 1}]" if shape[1] == 1 else f"{name}[{i + 1},{j + 1}]"


def _entry_table(ex) -> Table:
    """One row per entry of every input and node of a tensor example (see the module docstring)."""
    from .answers import display_name
    gradients = ex.matrix_derivation().gradients
    own = {entry: name for name, entry in getattr(ex, "aliases", {}).items()}  # w1_2_1 for W1[2,1]
    rows = Table()
    for name in list(ex.inputs) + list(ex.nodes):
        value, gradient = ex.tensor(name), gradients.get(name)
        kind = "node" if name in ex.nodes else ex.roles.get(name, "parameter")
        shape = value.a.shape
        for i in range(shape[0]):
            for j in range(shape[1]):
                g = 1.0 if name == ex.output else (0.0 if gradient is None else _float(gradient.a[i, j]))
                if value.scalar:
                    label, shown = name, display_name(name)
                else:
                    label = own.get((name, i, j)) or entry_name(name, i, j, shape)
                    shown = display_name(label) if label in own.values() else \
                        entry_name(display_name(name), i, j, shape)
                rows.append(Row(label, shown, kind, _float(value.a[i, j]), g))
    return rows


__all__ = ["Row", "Table", "value_table", "entry_name"]
