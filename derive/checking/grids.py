"""Matrices in a checking report, shown as grids: the report's table of steps names a matrix by
its shape, and under the table the student's matrix and the correct one are tables, one row per
matrix row — which every format prints as its own table (aligned columns in text, a pipe
table in Markdown, ``<table>`` in HTML), so a grid's markup comes from each format's one printer.

A ``Grid`` is the matrix's one-line printed form (``[1, 2; 3, 4]``, what ``str`` gives and what
can be pasted back as an answer) carrying its entries as printed and the entries that differ.

>>> import derive
>>> from derive.core.tensor import tensor_value
>>> g = grid(tensor_value([[1, -2], [0.5, 3]], "W"))
>>> str(g), g.shape, g.cells[0]
('[1, −2; 0.5, 3]', (2, 2), ('1', '−2'))
"""
from __future__ import annotations

from ..core.matrixmath import MatrixValue

LIMIT = 10  # rows or columns shown in full (beyond: the first and last ones, with dots)
DIFFERS = " ✗"  # after an entry of the student's matrix that differs from the correct one


class Grid(str):
    """A matrix as printed on one line (a ``str``), with ``cells`` (rows of printed entries,
    elided with ⋯ beyond ``LIMIT``), its ``shape`` and the entries marked as differing."""

    cells: tuple
    shape: tuple
    marked: frozenset

    def __new__(cls, line: str, cells: tuple, shape: tuple, marked=frozenset()):
        self = super().__new__(cls, line)
        self.cells, self.shape, self.marked = cells, shape, frozenset(marked)
        return self

    def describe(self) -> str:
        """What the report's table says in the matrix's place: its shape, shown below."""
        if len(self.shape) != 2:  # an image or a kernel: its rows, slice after slice
            return "×".join(map(str, self.shape)) + " tensor, below (its last two indices as rows and columns, slice after slice)"
        r, c = self.shape
        what = f"column of {r}" if c == 1 else f"row of {c}" if r == 1 else f"{r}×{c} matrix"
        return f"{what}, below"


def grid(tensor, marked=(), printer=None, texts=None) -> Grid:
    """The Grid of an exact Tensor; ``marked``: flat (row-major) indices of entries to mark;
    ``texts``: the entries as the student gave them (row-major), shown instead of the printed
    values (a differing entry may agree with the correct one to the 4 digits printed)."""
    from ..rendering.printing import printer_for
    printer = printer or printer_for("text")
    line = printer.doprint(MatrixValue.of(tensor))
    a = tensor.a if tensor.a.ndim == 2 else tensor.a.reshape(-1, tensor.a.shape[-1])
    r, c = a.shape
    rows = _kept(r)
    cols = _kept(c)
    marked = frozenset(marked)
    cells = []
    for i in rows:
        if i is None:
            cells.append(tuple("⋮" if j is not None else "⋱" for j in cols))
            continue
        row = []
        for j in cols:
            if j is None:
                row.append("⋯")
                continue
            text = texts[i * c + j] if texts is not None else printer.number(a[i, j])
            row.append(text + DIFFERS if i * c + j in marked else text)
        cells.append(tuple(row))
    return Grid(line, tuple(cells), tuple(tensor.a.shape), marked)


def as_given(raw, value, printer) -> str:
    """One entry as the student gave it: typed text as typed, a float to at most 7 significant
    digits (its binary noise left out), anything else as printed."""
    if isinstance(raw, str):
        text = raw.strip()
    elif isinstance(raw, float) or type(raw).__module__ == "numpy":
        number = float(raw)
        text = repr(number) if len(repr(number).lstrip("-0.").replace(".", "")) <= 7 else f"{number:.7g}"
    else:
        return printer.number(value)
    return text.replace("-", "−")


def _kept(n: int) -> list:
    """Indices shown of n rows (or columns): all up to LIMIT, else 4 first, ⋮ (None), 2 last."""
    return list(range(n)) if n <= LIMIT else [0, 1, 2, 3, None, n - 2, n - 1]


def cell(value, shown):
    """A report table cell: a Grid by its shape (it is shown in full after the table), anything
    else as ``shown``."""
    return value.describe() if isinstance(value, Grid) else shown


def grid_blocks(section, verdicts) -> None:
    """The grids under a report's table, added to its ``section``: for each verdict on a matrix,
    the student's matrix (entries that differ marked ✗) and the correct one."""
    from ..core.functions import Sentence
    for v in verdicts:
        shown = [(what, m) for what, m in (("your answer", v.given), ("correct value", v.expected))
                 if isinstance(m, Grid)]
        for what, m in shown:
            section.say(Sentence(f"{v.key}, {what}:"))
            section.tabulate(_header(m), _body(m))


def _header(m: Grid) -> list:
    cols = _kept(m.shape[1])
    return [""] + ["⋯" if j is None else str(j + 1) for j in cols]


def _body(m: Grid) -> list:
    rows = _kept(m.shape[0])
    return [["⋮" if i is None else str(i + 1), *cells] for i, cells in zip(rows, m.cells)]


__all__ = ["Grid", "grid", "cell", "grid_blocks", "as_given", "LIMIT"]
