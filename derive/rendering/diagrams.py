"""Computation-graph diagrams of any example, as CS231n draws circuits: inputs and operations as
nodes laid out left to right, each edge labelled with the forward value above (blue) and the
gradient flowing back along it below (red). A scalar example draws its computation graph, an
``mlp`` its network (the units, without the weights, whose gradients are tabled), a tensor example
its layer graph with each node's shape. A network's and a tensor's values sit on the nodes instead
(above: value, below: gradient; over each column its operation): their edges cross, and labels on
crossing edges would overlap.

``Diagram`` is plain data (columns, rows, labels, values). It is drawn as TikZ for LaTeX and as
SVG (written here, so the bytes never depend on an installed tool) for HTML, beside a handout's
Markdown and, as data-URI images, inside Markdown and notebooks (``to_mermaid`` and ``to_dot``
remain for readers who want them). Nothing is ever scaled down: a graph too large to read is
summarised (the weights left out, a column's middle units collapsed into "⋮", the middle layers
left out) and a wide one is cut into ``pieces`` of at most ``PIECE_COLUMNS`` columns, drawn one
under the other (on slides, one per frame); a piece repeats, dashed, the nodes it continues from.

>>> import derive
>>> d = diagram(derive.neuron(x=2, w=3, b=1, y=5))
>>> [(e.parent, e.child, e.forward, e.gradient) for e in d.edges if e.parent == "w"]
[('w', 'z', 3, 8)]
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from xml.sax.saxutils import escape

import sympy as sp

from ..core.numbers import format_number, significant

MAX_NODES = 30  # more drawn nodes than this: only the first and last layers are drawn
MAX_ROWS = 4  # more nodes in one column: the first two, "⋮" and the last
PIECE_COLUMNS = 6  # columns of one piece: a 16:9 frame's width (and a page's) at 8 pt labels
TENSOR_ENTRIES = 3  # a tensor with at most this many entries is labelled with them, else its norm


@dataclass(frozen=True)
class DNode:
    name: str
    column: int
    row: int
    kind: str  # "input", "op", "more" (collapsed units: ``op`` says how many) or "ghost"
    op: str  # short description of the operation ("+", "ReLU", "(·)²" …) or the shape
    shape: str = ""  # a tensor node's shape ("2×3"); empty for scalars
    forward: object = None  # the node's value and ∂output/∂node, drawn beside it (networks)
    gradient: object = None
    formula: object = None  # a tensor line's right-hand side (a math object), printed over it


@dataclass(frozen=True)
class DEdge:
    parent: str
    child: str
    forward: object  # the parent's value (exact number or Tensor) or None
    gradient: object  # ∂output/∂parent contribution along this edge, or None


@dataclass
class Diagram:
    nodes: list
    edges: list
    output: str
    summary: str = ""  # non-empty when the graph was too large and was summarised
    names: dict = field(default_factory=dict)  # LaTeX names
    svg_name: str | None = None  # set by a writer that rendered the SVG beside the document
    kind: str = "computation graph"  # what is drawn: "computation graph", "network", "layer graph"
    gaps: tuple = ()  # column indices after which layers were left out (a piece ends there)
    # values on the nodes (above: forward, below: gradient), the operation over each column: a
    # network's layers are fully connected, and labels on crossing edges would overlap
    on_nodes: bool = False
    digits: int = 4  # significant digits of the labels: the document's precision (``at_precision``)
    row_scale: float = 1.0  # the rows' distance apart, of the usual (a slide's tall piece: closer)

    @property
    def columns(self) -> int:
        return 1 + max((n.column for n in self.nodes), default=0)

    def pieces(self, columns: int = PIECE_COLUMNS) -> list["Diagram"]:
        """The diagram cut into consecutive runs of at most ``columns`` columns (and at every
        gap); each later piece starts with a dashed copy of the nodes its edges come from.

        >>> import derive
        >>> d = diagram(derive.chain(depth=4, weight=2))
        >>> [p.columns for p in d.pieces()]
        [6, 5]
        """
        if self.columns <= columns and not self.gaps:
            return [self]
        by_name = {n.name: n for n in self.nodes}
        bounds, start = [], 0
        while start < self.columns:
            end = min(start + (columns if start == 0 else columns - 1), self.columns)
            gap = next((g + 1 for g in sorted(self.gaps) if start <= g < end - 1), None)
            end = gap or end
            bounds.append((start, end))
            start = end
        out = []
        for start, end in bounds:
            inside = [n for n in self.nodes if start <= n.column < end]
            names = {n.name for n in inside}
            edges = [e for e in self.edges if e.child in names]
            ghosts = sorted({e.parent for e in edges if e.parent not in names},
                            key=lambda p: (by_name[p].column, by_name[p].row))
            shift = 1 if ghosts else 0
            nodes = [DNode(g, 0, i, "ghost", by_name[g].op if by_name[g].kind == "input" else "",
                           by_name[g].shape) for i, g in enumerate(ghosts)]
            nodes += [replace(n, column=n.column - start + shift) for n in inside]
            out.append(replace(self, nodes=nodes, edges=edges, svg_name=None, gaps=()))
        return out


def _op_label(node) -> str:
    from ..core.functions import BY_CLASS
    expr = node.expr
    spec = BY_CLASS.get(type(expr))
    if spec is not None:
        return spec.unicode
    squares = [e for e in sp.preorder_traversal(expr) if e.is_Pow and e.exp == 2]
    if squares and (expr.is_Pow or expr.is_Mul or expr.is_Add):
        return "½(·)²" if expr.is_Mul and sp.Rational(1, 2) in expr.args else "(·)²"
    if expr.is_Add:
        return "+"
    if expr.is_Mul:
        return "×"
    if expr.is_Pow:
        return f"(·)^{expr.exp}"
    return "="


def _formula(ex, tree):
    """A tensor line's right-hand side as the documents write it (W x + b, σ(u1), a ⊙ a)."""
    from ..core.tensor import display
    return display(tree, ex.structure.of)


def _formula_text(formula, names) -> str:
    """The formula as text, when it is short enough to head a column (else empty)."""
    from .printing import printer_for
    text = printer_for("text", names).doprint(formula)
    return text if len(text) <= 16 else ""


def _shape(value) -> str:
    shape = getattr(value, "shape", None)
    if shape is None or getattr(value, "scalar", True):
        return ""
    return "×".join(str(n) for n in shape)


def diagram(ex) -> Diagram:
    """The diagram of any example (scalar, network or tensor), with its values and gradients."""
    graph = ex.graph
    tensor = bool(getattr(ex, "matrices", False))
    names = list(graph.inputs) + list(graph.nodes)
    summary, kind = "", "layer graph" if tensor else "computation graph"
    if len(names) > 12 and ex.params and not tensor:
        # A network: leave the weights and biases out of the picture (their gradients are tabled);
        # the data flow x → z → a → L stays readable.
        names = [n for n in names if n not in ex.params]
        summary = "The weights and biases are not drawn; their gradients are in the tables. "
        if ex.kind == "mlp":  # its targets too: they only enter the loss
            kind = "network"
            names = [n for n in names if n not in graph.inputs
                     or set(graph.consumers[n]) != {ex.output}]
            summary = "The weights, biases and targets are not drawn; their values are in the tables. "
    depth: dict[str, int] = {n: 0 for n in graph.inputs}
    for name, node in graph.nodes.items():
        depth[name] = 1 + max((depth[p] for p in node.parents), default=0)
    # Inputs sit just left of their first consumer, so a late input (y) is drawn near the loss.
    for name in graph.inputs:
        consumers = [depth[c] for c in graph.consumers[name]]
        depth[name] = max(0, min(consumers, default=1) - 1)
    levels = sorted({depth[n] for n in names})
    gaps: tuple = ()
    keep_levels = set(levels)
    if len(names) > MAX_NODES and len(levels) > 2 * PIECE_COLUMNS - 1:
        # A deep graph: the first and last layers, and a note of how many were left out.
        head, tail = levels[:PIECE_COLUMNS], levels[-(PIECE_COLUMNS - 1):]
        keep_levels = set(head) | set(tail)
        left_out = len(levels) - len(keep_levels)
        gaps = (len(head) - 1,)
        summary += (f"The graph has {len(levels)} columns of nodes; only the first {len(head)} and "
                    f"the last {len(tail)} are drawn; the {left_out} in the middle are left out. ")
    columns: dict[int, list[str]] = {}
    for name in names:
        if depth[name] in keep_levels:
            columns.setdefault(depth[name], []).append(name)
    row_of: dict[str, int] = {}
    for c in sorted(columns):  # operations in the order of their parents' rows, inputs after them
        col = sorted(columns[c], key=lambda n: (n in graph.inputs and c > 0, _mean_row(graph, n, row_of)))
        columns[c] = col
        row_of.update((n, r) for r, n in enumerate(col))
    col_index = {c: i for i, c in enumerate(sorted(columns))}
    values = None if ex.symbolic else ex.evaluation.values
    trees = {eq.name: eq.tree for eq in getattr(graph, "equations", ())}  # a tensor line's form
    nodes, collapsed = [], 0
    for c in sorted(columns):
        col = columns[c]
        shown = col if len(col) <= MAX_ROWS else col[:2] + [None] + col[-1:]
        collapsed += len(col) > MAX_ROWS
        for row, name in enumerate(shown):
            if name is None:
                nodes.append(DNode(f"more{c}", col_index[c], row, "more", f"{len(col) - 3} more"))
                continue
            node_kind = "input" if name in graph.inputs else "op"
            formula = _formula(ex, trees[name]) if tensor and node_kind == "op" else None
            op = ("" if node_kind == "input" else _formula_text(formula, ex.latex_names) if tensor
                  else _op_label(graph.nodes[name]))
            shape = _shape(values[name]) if values is not None else _symbolic_shape(ex, name)
            nodes.append(DNode(name, col_index[c], row, node_kind, op, shape, formula=formula))
    # a network's layers are fully connected and a tensor's labels are long: values on the nodes
    on_nodes = kind in ("network", "layer graph") and values is not None
    if kind == "network":  # a unit's sum is the weighted sum; the output node is the loss
        nodes = [replace(n, op="loss" if n.name == ex.output else "Σ w·a + b" if n.op == "+" else n.op)
                 for n in nodes]
    adj = None if ex.symbolic else ex.evaluation.adjoints(ex.output)
    if on_nodes:
        # Class indices (a cross-entropy's targets, an embedding's rows) are data that takes no
        # gradient: a discrete index has no derivative, and a "gradient 0" would read as one.
        indices = {n.name for n in nodes if n.kind == "input" and ex.is_index(n.name)}
        nodes = [replace(n, forward=values[n.name], gradient=None if n.name in indices else adj.get(n.name))
                 if n.kind != "more" else n for n in nodes]
        if indices:
            summary += "Class indices take no gradient: only their values are written. "
    if collapsed:
        summary += ("Where a layer has more than four units, the middle ones are collapsed "
                    "into ⋮. ")
    drawn = {n.name for n in nodes}
    edges = []
    for name, node in graph.nodes.items():
        if name not in drawn:
            continue
        for p in node.parents:
            if p not in drawn:
                continue
            forward = None if values is None or on_nodes else values[p]
            gradient = None
            if adj is not None and name in adj and not on_nodes:
                gradient = _along(ex, adj, name, p, tensor)
            edges.append(DEdge(p, name, forward, gradient))
    return Diagram(nodes, edges, ex.output, summary.strip(), dict(ex.latex_names or {}),
                   kind=kind, gaps=gaps, on_nodes=on_nodes)


def _mean_row(graph, name: str, row_of: dict) -> float:
    """The mean row of a node's parents drawn so far (inputs: of their consumers' other parents
    is unknown yet, so they keep their order)."""
    node = graph.nodes.get(name)
    rows = [row_of[p] for p in (node.parents if node is not None else ()) if p in row_of]
    return sum(rows) / len(rows) if rows else 0.0


DIAGRAM_TITLES = {"computation graph": "The computation graph", "network": "The network diagram",
                  "layer graph": "The layer graph"}


def diagram_section(ex, d: Diagram | None = None):
    """The section holding the example's diagram (``d``, else drawn here), its caption first."""
    from ..core.functions import Sentence
    from .blocks import Section
    d = diagram(ex) if d is None else d
    s = Section(DIAGRAM_TITLES[d.kind])
    s.say(Sentence(caption(d).replace("{", "{{").replace("}", "}}")))
    s.diagram(d)
    return s


def with_diagram(content, ex):
    """``content`` with the example's diagram section after the section that states the
    computation (or the network), so the picture comes before the passes it annotates.

    >>> import derive
    >>> c = with_diagram(derive.neuron(x=2, w=3, b=1, y=5).content(), derive.neuron(x=2, w=3, b=1, y=5))
    >>> [s.title for s in c.sections][:4]
    ['The activation function', 'The computation', 'The computation graph', 'Forward pass']
    """
    from .blocks import Content
    sections = list(content.sections)
    if any(b.kind == "diagram" for s in sections for b in s.blocks):
        return content
    at = next((i + 1 for i, s in enumerate(sections)
               if s.title.startswith(("The computation", "The network"))), min(1, len(sections)))
    sections.insert(at, diagram_section(ex))
    return Content(content.title, sections, content.footer)


def shared_diagrams(examples, varying: str = "f") -> list:
    """One diagram for examples that share a graph (``compare``'s neurons, one per activation):
    the common structure, a node whose operation differs labelled ``varying``, and only the
    values and gradients every example has in common written on it (the others differ, and are
    tabled side by side). Examples of different graphs: each its own diagram.

    >>> import derive
    >>> [d] = shared_diagrams([derive.neuron(x=2, w=3, b=1, y=5, activation=a) for a in ["relu", "tanh"]])
    >>> [n.op for n in d.nodes if n.name == "a"], [(e.parent, e.forward) for e in d.edges if e.child == "z"]
    (['f'], [('w', 3), ('x', 2), ('b', 1)])
    """
    drawn = [diagram(ex) for ex in examples]
    first = drawn[0]

    def structure(d):
        return ([(n.name, n.column, n.row, n.kind) for n in d.nodes], [(e.parent, e.child) for e in d.edges],
                d.kind, d.on_nodes)

    if len(drawn) == 1 or any(structure(d) != structure(first) for d in drawn[1:]):
        return drawn

    def common(values):  # a value as every example shows it, else none
        shown = {None if v is None else _short(v) for v in values}
        return values[0] if len(shown) == 1 else None

    nodes = [replace(n, op=n.op if len({d.nodes[i].op for d in drawn}) == 1 else varying,
                     forward=common([d.nodes[i].forward for d in drawn]),
                     gradient=common([d.nodes[i].gradient for d in drawn]))
             for i, n in enumerate(first.nodes)]
    edges = [replace(e, forward=common([d.edges[i].forward for d in drawn]),
                     gradient=common([d.edges[i].gradient for d in drawn]))
             for i, e in enumerate(first.edges)]
    left_off = any(a != b for a, b in zip(nodes + edges, first.nodes + first.edges))
    summary = " ".join(t for t in (first.summary, "Only the values every column shares are written; the "
                                   "others differ by column and are in the table." if left_off else "") if t)
    return [replace(first, nodes=nodes, edges=edges, summary=summary)]


def _symbolic_shape(ex, name) -> str:
    shapes = getattr(ex, "shapes", None) or {}
    shape = shapes.get(name)
    if shape is None or len(tuple(shape)) != 2 or tuple(shape) == (1, 1):
        return ""  # a scalar
    return f"{shape[0]}×{shape[1]}"


def _along(ex, adj, child: str, parent: str, tensor: bool):
    """The gradient flowing back along the edge parent → child: the upstream gradient times the
    local derivative (scalar); for tensors the parent's whole gradient (its VJP sum)."""
    if tensor:
        return adj.get(parent)
    return adj[child] * ex.evaluation.local(child, parent).value


def _short(value, digits: int = 4) -> str:
    """An edge label: a number to ``digits`` significant digits (the document's precision), a
    small tensor's entries and a large one's norm to at most 3 (they share one label)."""
    if hasattr(value, "a") and hasattr(value, "scalar"):  # a Tensor
        if value.scalar:
            return _compact(value.item(), digits)
        entries = list(value.a.flat)  # any rank: a vector, a matrix, an image, a kernel
        if len(entries) <= TENSOR_ENTRIES:
            return "(" + ", ".join(_compact(e, min(digits, 3)) for e in entries) + ")"
        norm = sp.sqrt(sum(sp.Abs(e) ** 2 for e in entries))
        return "‖·‖ = " + _compact(norm, min(digits, 3))
    return _compact(value, digits)


def at_precision(d: Diagram, printer=None) -> Diagram:
    """``d`` with its labels to the digits of the document ``printer`` prints (its precision)."""
    settings = getattr(printer, "_settings", None) or {}
    digits = settings.get("precision") or d.digits
    return d if digits == d.digits else replace(d, digits=int(digits))


def _compact(value, digits: int) -> str:
    """A number short enough for a label: very small and very large ones in scientific form
    (−1.35e−7 rather than −0.000000135), whole numbers as they are."""
    if isinstance(value, int):
        value = sp.Integer(value)
    if getattr(value, "is_Integer", False) and abs(value) < 10 ** 6:
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return format_number(value, digits)
    if number != 0 and not 1e-3 <= abs(number) < 1e4:
        mantissa, exponent = f"{number:.{min(digits, 3) - 1}e}".split("e")  # 3 digits: it fits an edge
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    # rounded as the document rounds (ties away from zero, as its text shows them), whatever its
    # exact form: a label, not a result; no trailing zeros (0.125, not 0.1250)
    text = significant(value if isinstance(value, sp.Basic) else sp.Float(number), digits)
    if "e" not in text and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _labels(e: DEdge, digits: int = 4) -> list:
    """An edge's labels: ("forward", value) and ("gradient", value), where known."""
    return [(kind, _short(v, digits)) for kind, v in (("forward", e.forward), ("gradient", e.gradient))
            if v is not None]


def caption(d: Diagram) -> str:
    """The sentence above a diagram: how to read it, and what was summarised."""
    shapes = " Each node's shape is written under it." if d.kind == "layer graph" else ""
    if d.on_nodes and d.kind == "layer graph":
        return ("Above each node, its value (blue: a small tensor's entries, else its norm); "
                "below it, the gradient of the loss with respect to it (red). Over each column, the "
                "operation and the shape it gives; an input's shape is in its box. " + d.summary).strip()
    if d.on_nodes:
        return (f"Above each unit, its value (blue); below it, the gradient of the loss with respect "
                f"to it (red). Over each column, the layer's operation. " + d.summary).strip()
    if not any(_labels(e) for e in d.edges):  # symbolic: no numbers to write on the edges
        return (f"Inputs in boxes, operations in circles, each line of the computation one "
                f"node.{shapes} " + d.summary).strip()
    return (f"Above each edge, the forward value (blue); below it, the gradient flowing back along "
            f"it (red).{shapes} " + d.summary).strip()


def _heights(d: Diagram) -> dict:
    heights = {}
    for n in d.nodes:
        heights[n.column] = max(heights.get(n.column, 0), n.row + 1)
    return heights


# --- Edge routing and label placement (shared by SVG and TikZ) -------------------------------
# Both writers lay the same diagram out in their own units (SVG pixels, TikZ centimetres), with
# y growing downwards here (TikZ negates it). An edge whose straight line would pass through a
# node or its caption (a skip edge, u → L past p) bends into a cubic Bézier above or below the
# columns it crosses, the least bend that clears them; its labels then go where along it they
# overlap no other label, node or caption (boxes estimated from text length × font size).


@dataclass(frozen=True)
class Box:
    """What an edge must not cross and a label must not cover: a node (``round``: its circle of
    radius ``hw``) or a caption, centred at (x, y) with half-width ``hw`` and half-height ``hh``."""
    x: float
    y: float
    hw: float
    hh: float
    owner: str  # the node it belongs to (an edge may touch its own endpoints)
    round: bool = False

    def hits(self, px: float, py: float, margin: float) -> bool:
        if self.round:
            return math.hypot(px - self.x, py - self.y) < self.hw + margin
        return abs(px - self.x) < self.hw + margin and abs(py - self.y) < self.hh + margin

    def corners(self) -> list:
        return [(self.x + sx * self.hw, self.y + sy * self.hh) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]


@dataclass(frozen=True)
class Route:
    """One edge as drawn: ``points`` its straight segment (2) or Bézier (start, two controls,
    end), each from node border to node border; ``labels`` (kind, text, t, corners) with t the
    curve parameter the label sits at (TikZ's ``pos``) and its box's four corners."""
    edge: DEdge
    points: tuple
    labels: tuple = ()
    clear: bool = True  # its labels are clear of every node, caption and edge (their own place)

    @property
    def curved(self) -> bool:
        return len(self.points) == 4

    def at(self, t: float) -> tuple:
        return _bezier(self.points, t)

    def angle(self, t: float) -> float:
        """The direction (degrees, y downwards) of the edge at t."""
        dx, dy = _tangent(self.points, t)
        return math.degrees(math.atan2(dy, dx))

    def samples(self, step: float) -> list:
        (x0, y0), (x1, y1) = self.points[0], self.points[-1]
        n = max(16, int(3 * math.hypot(x1 - x0, y1 - y0) / step) + 1)
        return [self.at(i / n) for i in range(n + 1)]


def _bezier(points, t: float) -> tuple:
    if len(points) == 2:
        (x0, y0), (x1, y1) = points
        return x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
    s = 1 - t
    weights = (s ** 3, 3 * s * s * t, 3 * s * t * t, t ** 3)
    return (sum(w * p[0] for w, p in zip(weights, points)), sum(w * p[1] for w, p in zip(weights, points)))


def _tangent(points, t: float) -> tuple:
    if len(points) == 2:
        return points[1][0] - points[0][0], points[1][1] - points[0][1]
    s = 1 - t
    weights = (-3 * s * s, 3 * s * s - 6 * s * t, 6 * s * t - 3 * t * t, 3 * t * t)
    return (sum(w * p[0] for w, p in zip(weights, points)), sum(w * p[1] for w, p in zip(weights, points)))


def _border(box: Box, toward: tuple) -> tuple:
    """The point where the ray from a node's centre toward ``toward`` leaves its circle or box."""
    dx, dy = toward[0] - box.x, toward[1] - box.y
    length = math.hypot(dx, dy) or 1.0
    if box.round:
        return box.x + dx / length * box.hw, box.y + dy / length * box.hw
    scale = min(box.hw / abs(dx) if dx else math.inf, box.hh / abs(dy) if dy else math.inf)
    return box.x + dx * scale, box.y + dy * scale


# A label's glyphs' widths in em, the wider of Helvetica's (SVG) and Computer Modern's (TikZ):
# digits 0.556 and 0.5, the minus 0.584 and 0.778; other characters at most 0.75.
LABEL_EM = {**dict.fromkeys("0123456789", 0.556), ".": 0.278, ",": 0.278, " ": 0.333, "−": 0.778,
            "-": 0.778, "(": 0.389, ")": 0.389, "‖": 0.5, "·": 0.278, "=": 0.778}


def _label_width(text: str, size: float) -> float:
    return size * sum(LABEL_EM.get(ch, 0.75) for ch in text)


def _label_extent(text: str, size: float) -> tuple:
    """(height above the baseline, depth below it) of a label: a number's digits rise 0.72 em
    and have no depth; parentheses and bars reach 0.75 em up and 0.25 em down."""
    tall = any(ch in "()‖" for ch in text)
    return size * (0.75 if tall else 0.72), size * (0.25 if tall else 0.02)


# labels tried at these places along an edge, the middle first, then alternately nearer its
# ends (in fans of edges into one node the middles crowd, the far ends are apart)
LABEL_PLACES = (0.5,) + tuple(t for k in range(1, 10) for t in (0.5 - 0.04 * k, 0.5 + 0.04 * k))


# clear places kept per edge: enough for the search to give neighbouring labels room
CLEAR_PLACES = 6


def route(edges, nodes: dict, obstacles: list, label_box, *, step: float, margin: float,
          digits: int = 4, gap: float = 0.0, arrow: tuple = (0.0, 0.0)) -> list:
    """The drawn ``Route`` of every edge. ``nodes``: name -> its ``Box``; ``obstacles``: every
    node's box and caption; ``label_box(kind, text)`` -> (half-width, top, bottom), the label's
    extent across the edge in the edge's own frame (negative: above it); ``step``: the row
    spacing, whose fraction a bend grows by; ``margin``: the clearance kept from a node; ``gap``:
    the clearance kept between a label and any other edge; ``arrow``: an arrowhead's (length,
    half-width), the part of an edge a label keeps the wider clearance from. A label never lies
    across another edge, nor its own where that one bends into it."""
    paths = [_path(e, nodes, obstacles, step, margin) for e in edges]
    drawn = [Route(e, p) for e, p in zip(edges, paths)]
    inks = [_ink(r, step, arrow) for r in drawn]
    options = {}  # edge index -> its labels' places: (score, t, corners), the best first
    for i, (e, r) in enumerate(zip(edges, drawn)):
        texts = _labels(e, digits)
        if not texts:
            continue
        others = [seg for j, ink in enumerate(inks) if j != i for seg in ink]
        places = []
        for order, t in enumerate(LABEL_PLACES):
            boxes = [_label_corners(r, t, label_box(kind, text)) for kind, text in texts]
            hard = sum(_overlap(b, o.corners()) for b in boxes for o in obstacles)
            crossed = sum(_crossed(b, others, gap) for b in boxes)  # across another edge
            crossed += sum(_crossed(b, inks[i], -gap) for b in boxes)  # its own curve bent into it
            places.append(((hard + crossed, hard, order), t, boxes))
            if sum(p[0][0] == 0 for p in places) >= CLEAR_PLACES:
                break  # enough clear places for the search; the rest would be tried after these
        options[i] = sorted(places, key=lambda p: p[0])
    chosen = _place(options)
    routes = []
    for i, (e, points) in enumerate(zip(edges, paths)):
        if i not in chosen:
            routes.append(Route(e, points))
            continue
        (bad, _, _), t, boxes = chosen[i]
        routes.append(Route(e, points, tuple((kind, text, t, box) for (kind, text), box in zip(_labels(e, digits), boxes)),
                            clear=bad == 0))
    return routes


def _ink(r: Route, step: float, arrow: tuple) -> list:
    """The drawn line of a route as segments (a, b, clearance added): a curve flattened finely
    enough that a label clear of the segments is clear of the curve; the last ``arrow[0]`` of
    it, the arrowhead, ``arrow[1]`` wide on either side."""
    length, half = arrow
    if r.curved:
        (x0, y0), (x1, y1) = r.points[0], r.points[-1]
        n = max(24, int(6 * math.hypot(x1 - x0, y1 - y0) / step))
        points = [r.at(k / n) for k in range(n + 1)]
    else:
        points = list(r.points)
    # cut off the arrowhead: the stretch within ``length`` of the tip
    tip, back = points[-1], [points[-1]]
    remaining, k = length, len(points) - 1
    while k > 0 and remaining > 0:
        (ax, ay), (bx, by) = points[k - 1], points[k]
        seg = math.hypot(bx - ax, by - ay)
        if seg >= remaining:
            f = remaining / seg if seg else 0.0
            back.append((bx + (ax - bx) * f, by + (ay - by) * f))
            remaining = 0
        else:
            back.append((ax, ay))
            remaining -= seg
            k -= 1
    body = points[:k] + [back[-1]] if length > 0 else points
    segments = [(a, b, 0.0) for a, b in zip(body, body[1:]) if a != b]
    head = back[::-1]
    segments += [(a, b, half) for a, b in zip(head, head[1:]) if a != b]
    del tip
    return segments


def _crossed(corners: list, segments: list, gap: float) -> bool:
    """Whether any segment comes nearer the label's box than ``gap`` (plus its own clearance); a
    negative ``gap``: whether one reaches that far into it (the label's own edge touches it)."""
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
    for a, b, extra in segments:
        reach = gap + extra
        if (max(a[0], b[0]) < lo_x - reach or min(a[0], b[0]) > hi_x + reach
                or max(a[1], b[1]) < lo_y - reach or min(a[1], b[1]) > hi_y + reach):
            continue
        if reach >= 0:
            if _segment_polygon_distance(a, b, corners) < reach - 1e-9:
                return True
        elif _depth(a, b, corners) > -reach + 1e-9:
            return True
    return False


def _segment_polygon_distance(a, b, poly) -> float:
    """The distance from the segment ab to the convex polygon (0 when they meet)."""
    if _inside(a, poly) or _inside(b, poly):
        return 0.0
    edges = list(zip(poly, poly[1:] + poly[:1]))
    if any(_segments_cross(a, b, p, q) for p, q in edges):
        return 0.0
    return min([_point_segment(c, a, b) for c in poly] + [_point_segment(a, p, q) for p, q in edges]
               + [_point_segment(b, p, q) for p, q in edges])


def _depth(a, b, poly) -> float:
    """How far the segment ab reaches into the convex polygon (its deepest point's distance
    from the polygon's border; 0 if it stays outside)."""
    def depth(pt):
        if not _inside(pt, poly):
            return 0.0
        return min(_point_segment(pt, p, q) for p, q in zip(poly, poly[1:] + poly[:1]))
    return max(depth(a), depth(b), depth(((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)))


def _point_segment(pt, a, b) -> float:
    (px, py), (ax, ay), (bx, by) = pt, a, b
    dx, dy = bx - ax, by - ay
    length = dx * dx + dy * dy
    f = 0.0 if length == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length))
    return math.hypot(px - ax - f * dx, py - ay - f * dy)


def _segments_cross(a, b, c, d) -> bool:
    def side(p, q, r):
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    d1, d2, d3, d4 = side(c, d, a), side(c, d, b), side(a, b, c), side(a, b, d)
    return (d1 > 0) != (d2 > 0) and (d3 > 0) != (d4 > 0) and d1 * d2 < 0 and d3 * d4 < 0


def _place(options: dict, budget: int = 4000) -> dict:
    """One place per edge with no two edges' labels overlapping: a depth-first search over the
    places clear of every node and caption (the most constrained edge first, each edge's best
    place first), within ``budget`` tries; else, edge by edge, the place of fewest overlaps."""
    clear = {i: [p for p in places if p[0][0] == 0] for i, places in options.items()}
    order = sorted(options, key=lambda i: (len(clear[i]), i))
    chosen: dict = {}
    tries = [0]

    def free(place):
        return not any(_overlap(b, c) for b in place[2] for other in chosen.values() for c in other[2])

    def search(k: int) -> bool:
        if k == len(order):
            return True
        for place in clear[order[k]]:
            tries[0] += 1
            if tries[0] > budget:
                return False
            if free(place):
                chosen[order[k]] = place
                if search(k + 1):
                    return True
                del chosen[order[k]]
        return False

    if search(0):
        return chosen
    chosen.clear()
    for i in sorted(options):  # nothing is clear of everything: the fewest overlaps, greedily
        # a label covering a node or another label first, one lying across an edge next
        chosen[i] = min(options[i], key=lambda p: (p[0][1] + (not free(p)), p[0][0], p[0][2]))
    return chosen


def _path(e: DEdge, nodes: dict, obstacles: list, step: float, margin: float) -> tuple:
    """A straight segment if it clears every other node and caption, else the least bend (above
    or below, in steps of a quarter row) that does."""
    a, b = nodes[e.parent], nodes[e.child]
    others = [o for o in obstacles if o.owner not in (e.parent, e.child)]

    def clear(points):
        r = Route(e, points)
        return not any(o.hits(px, py, margin) for px, py in r.samples(step) for o in others)

    straight = (_border(a, (b.x, b.y)), _border(b, (a.x, a.y)))
    if clear(straight):
        return straight
    dx = b.x - a.x
    for k in range(1, 41):
        for sign in (-1, 1):  # above first: a skip edge over the graph reads like a bridge
            off = sign * k * step / 4
            # the controls at most 1.2 rows in from the ends: a long skip edge rises and lands
            # steeply, clear of the edges that leave and reach its nodes beside it
            reach = math.copysign(min(abs(dx) / 3, 1.2 * step), dx)
            c1, c2 = (a.x + reach, a.y + off), (b.x - reach, b.y + off)
            points = (_border(a, c1), c1, c2, _border(b, c2))
            if clear(points):
                return points
    return straight  # nothing clears (never met): the plain line


def _label_corners(r: Route, t: float, extent) -> list:
    half, top, bottom = extent
    x, y = r.at(t)
    turn = math.radians(r.angle(t))
    c, s = math.cos(turn), math.sin(turn)
    return [(x + px * c - py * s, y + px * s + py * c)
            for px, py in ((-half, top), (half, top), (half, bottom), (-half, bottom))]


def _overlap(p: list, q: list) -> bool:
    """Whether two convex quadrilaterals overlap (no separating axis among their edges; touching
    is not overlapping)."""
    for poly in (p, q):
        for i in range(4):
            (x0, y0), (x1, y1) = poly[i], poly[(i + 1) % 4]
            nx, ny = y0 - y1, x1 - x0
            a = [nx * x + ny * y for x, y in p]
            b = [nx * x + ny * y for x, y in q]
            tie = 1e-9 * (abs(nx) + abs(ny))  # a label's two halves share the edge line: touching
            if max(a) <= min(b) + tie or max(b) <= min(a) + tie:
                return False
    return True


def _inside(pt: tuple, poly: list) -> bool:
    signs = [(x1 - x0) * (pt[1] - y0) - (y1 - y0) * (pt[0] - x0)
             for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1])]
    return all(s > 0 for s in signs) or all(s < 0 for s in signs)


# --- TikZ ---------------------------------------------------------------------------------

# Sizes are nominal: \small (9 pt on a 10 pt beamer frame, 10 pt in an 11 pt article) for node
# names and \footnotesize (8 pt, 9 pt) for edge labels; the picture is never scaled, so they stay
# at least 8 pt on derive's pages and frames (only a narrower text, a fragment's, has \\derivefit
# shrink it to the line). 2.7 cm between columns: a piece of six columns is 14.4 cm,
# inside a 16:9 frame's text width (14.6 cm) and an A4 page's.
TIKZ_DX, TIKZ_DY = 2.7, 1.45
# Values on the nodes: no edge label to make room for, but a value 0.47 cm above a node and a
# gradient 0.47 cm below it, each about 0.45 cm tall (\footnotesize, ‖ and its inner sep), so
# rows 2.05 cm apart keep 0.15 cm between one node's gradient and the next one's value, and a
# column's heading sits 1.05 cm over its top node, clear of the value written there.
TIKZ_DX_NODES, TIKZ_DY_NODES = 2.5, 2.05
TIKZ_HEADER = 1.05
# A label keeps 0.06 cm (1.7 pt) from any other edge, and more from an arrowhead: stealth's tip
# at the default line width is about 0.2 cm long and 0.09 cm to either side of the line.
TIKZ_GAP, TIKZ_ARROW = 0.06, (0.22, 0.1)


def _column_ops(d: Diagram) -> dict:
    """column -> the operation of its nodes ("tanh", "+"), when values are on the nodes."""
    if not d.on_nodes:
        return {}
    ops: dict = {}
    for n in d.nodes:
        if n.kind == "op" and (n.op or n.shape):
            ops.setdefault(n.column, [])
            if n not in ops[n.column]:
                ops[n.column].append(n)
    return ops


def _header(nodes, op_text) -> str:
    """A column's heading: each operation (``op_text(node)``) with the shape it gives."""
    labels = []
    for n in nodes:
        label = " ".join(t for t in (op_text(n), n.shape) if t)
        if label not in labels:
            labels.append(label)
    return " / ".join(labels)


def to_tikz(d: Diagram, printer) -> str:
    """The diagram as TikZ pictures (one per piece, one under the other); node names printed by
    the (one) LaTeX printer."""
    # Each piece a centred paragraph of its own, the first tied to what comes before (no page
    # break: not a center environment, whose list penalty would allow one), so a heading and the
    # caption that introduce the diagram never stay behind at a page's foot; a piece may start a
    # page of its own after the previous one.
    d = at_precision(d, printer)
    pictures = [f"{{\\centering\\noindent\\derivefit{{%\n{_tikz_piece(p, printer)}}}\\par}}" for p in d.pieces()]
    return "\n".join([r"\par\nopagebreak\smallskip", "\n\\medskip\n".join(pictures), r"\medskip"])


FRAME_CM = 14.6  # a 16:9 frame's text width (415 pt): a piece on a slide is never wider (8 pt labels at 8 pt)
MIN_ROW_SCALE = 0.85  # rows closer than this: a unit's gradient below would touch the next one's value
SLIDE_ROWS = 3  # a slide's network too tall for its frame: a layer's first unit, "⋮" and its last


def tikz_size(d: Diagram, printer) -> tuple:
    """(width, height) of a TikZ piece as printed, in centimetres, estimated from its layout: its
    columns' span and the widest labels of its first and last columns; its rows' span with a
    unit's value above and gradient below, and the operations over the columns."""
    d = at_precision(d, printer)
    xs, dy, _, _ = _tikz_layout(d, printer)
    widths = _column_widths(d, _namer(d, printer), 0.16, lambda n: 0.9)
    rows = max(_heights(d).values(), default=1)
    if d.on_nodes:
        top = TIKZ_HEADER + 0.45 if _column_ops(d) else 0.95
        bottom = 0.95
    else:
        top, bottom = 0.9, 1.2  # the note under a node, an edge's labels
    return xs[-1] - xs[0] + (widths[0] + widths[-1]) / 2 + 0.1, (rows - 1) * dy + top + bottom


def fewer_rows(d: Diagram, rows: int = SLIDE_ROWS) -> Diagram:
    """A network with each layer of more than ``rows`` units drawn as its first unit, "⋮ k more"
    and its last (the caption says so); any other diagram as it is."""
    if d.kind != "network" or max(_heights(d).values(), default=1) <= rows:
        return d
    by_column: dict = {}
    for n in d.nodes:
        by_column.setdefault(n.column, []).append(n)
    nodes = []
    for c, col in sorted(by_column.items()):
        col = sorted(col, key=lambda n: n.row)
        if len(col) <= rows:
            nodes += col
            continue
        hidden = sum(int(n.op.split()[0]) if n.kind == "more" else 1 for n in col[1:-1])
        nodes += [replace(col[0], row=0), DNode(f"more{c}", c, 1, "more", f"{hidden} more"),
                  replace(col[-1], row=2)]
    kept = {n.name for n in nodes}
    edges = [e for e in d.edges if e.parent in kept and e.child in kept]
    note = "Where a layer has more than three units, the middle ones are collapsed into ⋮."
    summary = re.sub(r"Where a layer has more than four units[^.]*\. ?", "", d.summary).strip()
    return replace(d, nodes=nodes, edges=edges, summary=f"{summary} {note}".strip(), svg_name=None)


def slide_pieces(d: Diagram, printer, heights: tuple) -> tuple:
    """(diagram, pieces) for a slide: ``d`` cut into pieces of as many columns as fit a frame's
    width unscaled (``FRAME_CM``), each no taller than its frame leaves (``heights``: the first
    piece's, under the caption, and the others', in centimetres): its rows closer, down to
    ``MIN_ROW_SCALE``, and a network's layers to ``SLIDE_ROWS`` units if that is not enough.
    ``diagram`` is ``d`` or its summary (whose caption the frame then prints)."""
    def fitted(base):
        pieces = base.pieces()
        for columns in range(PIECE_COLUMNS, 1, -1):
            pieces = base.pieces(columns)
            if all(tikz_size(p, printer)[0] <= FRAME_CM for p in pieces):
                break
        out, ok = [], True
        for k, p in enumerate(pieces):
            budget = heights[0] if k == 0 else heights[1]
            scale = 1.0
            while tikz_size(replace(p, row_scale=scale), printer)[1] > budget and scale > MIN_ROW_SCALE:
                scale = round(max(MIN_ROW_SCALE, scale - 0.05), 2)
            p = replace(p, row_scale=scale)
            ok = ok and tikz_size(p, printer)[1] <= budget
            out.append(p)
        return out, ok
    pieces, ok = fitted(d)
    if not ok and fewer_rows(d) is not d:
        d = fewer_rows(d)
        pieces, ok = fitted(d)
    return d, pieces


def _tikz_xs(d: Diagram, printer) -> list:
    """Each column's x (centimetres)."""
    dx = TIKZ_DX_NODES if d.on_nodes else TIKZ_DX
    # a \footnotesize digit is half its 8-9 pt: 0.16 cm
    return _column_xs(d, _namer(d, printer), dx, 0.16, 0.4) if d.on_nodes else [c * dx for c in range(d.columns)]


def edge_layout(d: Diagram, target: str = "svg", printer=None) -> tuple:
    """(obstacles, routes) of one piece as ``target`` ("svg": pixels, "tikz": centimetres, y
    downwards in both) draws it: every node's and caption's ``Box`` and every edge's ``Route``
    with its labels' corners (what tests check for crossings and overlaps)."""
    d = at_precision(d, printer)
    if target == "svg":
        return _svg_layout(d, _namer(d, printer))[2:]
    from .printing import printer_for
    return _tikz_layout(d, printer or printer_for("latex", d.names))[2:]


def _spread(layout, span: float, widest: float, rows: int) -> tuple:
    """(sx, sy, layout(sx, sy)): ``layout(sx, sy)`` -> (obstacles, routes) with the columns ``sx``
    and the rows ``sy`` times their usual distance apart. The usual distance, unless some labels
    cannot be placed clear of each other and of the nodes there (a fan of edges into one node
    crowds them): then the least spread, in tenths, that clears them, the first column to the
    last (``span`` at 1) within ``widest`` and the ``rows`` no taller than MAX_ROWS rows."""
    first = layout(1.0, 1.0)
    if _labels_clear(*first):
        return 1.0, 1.0, first
    best = (_faults(*first), 1.0, 1.0, first)
    most_x = max(1.0, widest / span) if span else 1.0
    most_y = max(1.0, (MAX_ROWS - 1) / (rows - 1)) if rows > 1 else 1.0
    k = 1.0
    while k < max(most_x, most_y):
        k += 0.1
        sx, sy = min(k, most_x), min(k, most_y)
        found = layout(sx, sy)
        if _labels_clear(*found):
            return sx, sy, found
        best = min(best, (_faults(*found), sx, sy, found), key=lambda b: b[:3])
    return best[1], best[2], best[3]  # as large as a page allows: the fewest faults


def _faults(obstacles, routes) -> tuple:
    """(labels covering another label or a node, labels lying across an edge) of a layout."""
    boxes = [corners for r in routes for *_, corners in r.labels]
    covering = sum(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    covering += sum(_overlap(a, o.corners()) for a in boxes for o in obstacles)
    return covering, sum(not r.clear for r in routes)


def _labels_clear(obstacles, routes) -> bool:
    boxes = [corners for r in routes for *_, corners in r.labels]
    return all(r.clear for r in routes) and not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]) and \
        not any(_overlap(a, o.corners()) for a in boxes for o in obstacles)


def _tikz_layout(d: Diagram, printer) -> tuple:
    """(xs, dy, obstacles, routes) of a TikZ piece: six columns' width at most (a frame's text)."""
    heights, xs = _heights(d), _tikz_xs(d, printer)
    dy = (TIKZ_DY_NODES if d.on_nodes else TIKZ_DY) * d.row_scale
    sx, sy, (obstacles, routes) = _spread(
        lambda kx, ky: _tikz_routes(d, printer, [x * kx for x in xs], heights, dy * ky),
        xs[-1] - xs[0], (PIECE_COLUMNS - 1) * TIKZ_DX, max(heights.values(), default=1))
    return [x * sx for x in xs], dy * sy, obstacles, routes


def _tikz_routes(d: Diagram, printer, xs: list, heights: dict, dy: float) -> tuple:
    """The nodes' and captions' boxes of a TikZ piece and its edges routed around them, in
    centimetres with y downwards (the caller negates it). Sizes as the styles give them: a 9 mm circle, a box at
    least 9 × 7 mm, \\footnotesize labels (at most 9 pt: 0.18 cm a character, 0.38 cm high)."""
    name = _namer(d, printer)
    nodes, obstacles = {}, []
    for n in d.nodes:
        x, y = xs[n.column], (n.row - (heights[n.column] - 1) / 2) * dy
        chars = len(_plain(_svg_name(name(n.name)))) + (len(n.shape) + 1 if d.on_nodes and n.shape else 0)
        if n.kind == "more":
            box = Box(x, y, (len(n.op) + 2) * 0.09 + 0.1, 0.3, n.name)
        elif n.kind == "op":
            box = Box(x, y, max(0.45, chars * 0.1 + 0.1), max(0.45, chars * 0.1 + 0.1), n.name, round=True)
        else:
            box = Box(x, y, max(0.45, chars * 0.1 + 0.12), 0.35, n.name)
        nodes[n.name] = box
        obstacles.append(box)
        under = " ".join(t for t in (n.op if n.kind == "op" else "", n.shape) if t)
        if under and not d.on_nodes and n.kind != "more":  # the note under the node (anchor north)
            obstacles.append(Box(x, y + 0.47 + 0.2, len(under) * 0.09 + 0.07, 0.2, n.name))

    def label_box(kind, text):  # \footnotesize is at most 9 pt = 0.316 cm; inner sep 1.5 pt = 0.053 cm
        half, (up, down) = _label_width(text, 0.316) / 2 + 0.053, _label_extent(text, 0.316)
        tall = up + down + 2 * 0.053  # "above"/"below" put the label's box against the edge
        return (half, -tall, 0.0) if kind == "forward" else (half, 0.0, tall)

    return obstacles, route(d.edges, nodes, obstacles, label_box, step=dy, margin=0.06, digits=d.digits,
                            gap=TIKZ_GAP, arrow=TIKZ_ARROW)


def _tikz_piece(d: Diagram, printer) -> str:
    lines = [r"\begin{tikzpicture}[>=stealth, every node/.style={font=\small},"
             r" var/.style={draw, rounded corners, minimum width=9mm, minimum height=7mm, fill=gray!8},"
             r" op/.style={draw, circle, minimum size=9mm, inner sep=1pt, fill=orange!12},"
             r" ghost/.style={draw, dashed, rounded corners, minimum width=9mm, minimum height=7mm, text=gray},"
             r" note/.style={font=\footnotesize, text=black!60},"
             r" fwd/.style={above, sloped, pos=0.5, inner sep=1.5pt, text=blue!70!black, font=\footnotesize},"
             r" bwd/.style={below, sloped, pos=0.5, inner sep=1.5pt, text=red!75!black, font=\footnotesize}]"]
    if d.on_nodes:  # the same colours for the values beside the nodes, upright, over the edges
        lines[0] = (lines[0].replace("above, sloped, pos=0.5, ", "fill=white, fill opacity=0.85, text opacity=1, ")
                    .replace("below, sloped, pos=0.5, ", "fill=white, fill opacity=0.85, text opacity=1, "))
    heights = _heights(d)
    ids = _ids(d)
    over = []  # the values on the nodes: drawn after the edges, over them
    top = max(heights.values(), default=1) - 1
    xs, dy, _, routes = _tikz_layout(d, printer)  # moved apart where labels would crowd

    def op_tex(n):  # a formula in the document's own LaTeX, else the short label
        if n.formula is not None and n.op:
            return f"${printer.doprint(n.formula)}$"
        return _tex_text(n.op)

    for column, ops in _column_ops(d).items():  # a network's layer operations, over its columns
        head = _header(ops, op_tex)
        lines.append(rf"\node[note, anchor=south] at ({xs[column]:.2f},{top / 2 * dy + TIKZ_HEADER:.2f}) "
                     rf"{{{head}}};")
    for n in d.nodes:
        x = xs[n.column]
        y = round(-(n.row - (heights[n.column] - 1) / 2) * dy, 2) + 0.0  # never "-0.00"
        if n.kind == "more":
            lines.append(rf"\node[note] ({ids[n.name]}) at ({x:.2f},{y:.2f}) {{$\vdots$ {n.op}}};")
            continue
        label = f"${printer.doprint(sp.Symbol(n.name))}$"
        if d.on_nodes and n.shape and n.kind != "op":  # an input's shape in its box
            label += rf"\,{{\footnotesize\color{{black!60}}{_tex_text(n.shape)}}}"
        style = {"input": "var", "op": "op", "ghost": "ghost"}[n.kind]
        lines.append(rf"\node[{style}] ({ids[n.name]}) at ({x:.2f},{y:.2f}) {{{label}}};")
        if d.on_nodes:
            for value, where, colour in ((n.forward, "south", "fwd"), (n.gradient, "north", "bwd")):
                if value is not None and n.kind != "ghost":
                    offset = 0.47 if where == "south" else -0.47
                    over.append(rf"\node[{colour}, anchor={where}] at ({x:.2f},{y + offset:.2f}) "
                                rf"{{${_tex_number(value, d.digits)}$}};")
            continue
        under = " ".join(t for t in (_tex_text(n.op) if n.kind == "op" else "", _tex_text(n.shape)) if t)
        if under:
            lines.append(rf"\node[note, anchor=north] at ({x:.2f},{y - 0.47:.2f}) {{{under}}};")
    edge = "->, black!45" if d.on_nodes else "->"  # light under the values on the nodes
    for r in routes:
        labels = "".join(rf"node[{'fwd' if kind == 'forward' else 'bwd'}, pos={t:.2f}] {{${_tex_short(text)}$}} "
                         for kind, text, t, _ in r.labels)
        a, b = ids[r.edge.parent], ids[r.edge.child]
        if r.curved:  # TikZ clips the curve at both nodes' borders, toward the controls
            (c1x, c1y), (c2x, c2y) = r.points[1:3]
            lines.append(rf"\draw[{edge}] ({a}) .. controls ({c1x:.2f},{-c1y:.2f}) and ({c2x:.2f},{-c2y:.2f}) .. "
                         rf"{labels}({b});")
        else:
            lines.append(rf"\draw[{edge}] ({a}) -- {labels}({b});")
    lines += over
    lines.append(r"\end{tikzpicture}")
    return "\n".join(lines)


_TEX_TEXT = {"×": r"$\times$", "σ": r"$\sigma$", "^": r"\^{}", "½": r"$\frac12$", "²": r"$^2$",
             "ⁿ": r"$^n$", "·": r"$\cdot$", "⊙": r"$\odot$", "−": r"$-$", "÷": r"$\div$",
             "ᵀ": r"$^\top$", "_": r"\_", "‖": r"$\|$", "φ": r"$\varphi$", "Φ": r"$\Phi$",
             "≈": r"$\approx$", "Σ": r"$\Sigma$", "∑": r"$\Sigma$"}


def _tex_text(text: str) -> str:
    """A short label (an operation, a shape) as LaTeX text: its special characters spelled (ours,
    else latexcodec's; a character neither knows is dropped rather than break the document)."""
    import latexcodec  # noqa: F401  (registers the "latex" codec)
    out = []
    for ch in text:
        if ch in _TEX_TEXT:
            out.append(_TEX_TEXT[ch])
        elif ch.isascii():
            out.append(ch if ch.isalnum() or ch in " +-*/=()[].,:;'!?" else "")
        else:
            try:
                out.append(ch.encode("latex").decode("ascii"))
            except UnicodeError:
                out.append("")
    return "".join(out)


def _tex_number(value, digits: int = 4) -> str:
    return _tex_short(_short(value, digits))


def _tex_short(text: str) -> str:
    """A label (``_short``'s text) as LaTeX math."""
    if text.startswith("‖·‖ = "):
        return r"\|\cdot\| = " + _tex_number_text(text[6:])
    if text.startswith("("):
        return r"(" + ", ".join(_tex_number_text(t) for t in text[1:-1].split(", ")) + ")"
    return _tex_number_text(text)


def _tex_number_text(text: str) -> str:
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}{{\\times}}10^{{{int(exponent)}}}"
    return text


def _ids(d: Diagram) -> dict:
    """Node ids by position (n0, n1 …): a drawing's source never spells the equations' names."""
    return {n.name: f"n{i}" for i, n in enumerate(d.nodes)}


# --- SVG ------------------------------------------------------------------------------------

# Pixels at the page's 1:1 size: 136 px between columns keeps a piece of six columns within a
# 46rem (830 px) column, so the browser never shrinks the 13 px labels.
SVG_DX, SVG_DY, SVG_MARGIN = 136, 78, 36
SVG_RADIUS = 19  # an operation's circle
SVG_DY_NODES = 104  # a network's rows: a value above each node and its gradient below
SVG_COLOURS = {"forward": "#1f4e9c", "gradient": "#b22222"}
# A label keeps 2 px from any other edge, and more from an arrowhead: the marker is 7 stroke
# widths (8.4 px) long and 4.2 px to either side, its tip 2 px short of the node.
SVG_GAP, SVG_ARROW = 2.0, (11.0, 4.5)


def to_svg(d: Diagram, printer=None) -> bytes:
    """The diagram as one standalone SVG file (the pieces one under the other, each an inner
    ``<svg>`` of the one document element)."""
    d = at_precision(d, printer)
    name = _namer(d, printer)
    pieces = _svg_pieces(d, name)
    if len(pieces) == 1:
        return ('<?xml version="1.0" encoding="UTF-8"?>\n' + pieces[0] + "\n").encode("utf-8")
    sizes = [tuple(int(v) for v in re.search(r'width="(\d+)" height="(\d+)"', p).groups()) for p in pieces]
    width, y, inner = max(w for w, _ in sizes), 0, []
    for piece, (_, h) in zip(pieces, sizes):
        inner.append(piece.replace("<svg ", f'<svg x="0" y="{y}" ', 1))
        y += h + 12
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {y - 12}" width="{width}" '
            f'height="{y - 12}">\n' + "\n".join(inner) + "\n</svg>\n").encode("utf-8")


def svg_markup(d: Diagram, printer=None) -> str:
    """The diagram as SVG markup for an HTML page (one ``<svg>`` per piece)."""
    d = at_precision(d, printer)
    name = _namer(d, printer)
    return "\n".join(_svg_pieces(d, name))


# The widest SVG drawn at its own size: an HTML page's text column at an 800 px window is 755 px
# (46rem of 18 px, less the padding, is wider), where the 13 px labels stay 13 px. A wider
# piece would be shrunk by the browser; it is cut into pieces of fewer columns instead.
SVG_MAX_WIDTH = 755


def _svg_width(markup: str) -> int:
    return int(re.search(r'width="(\d+)"', markup).group(1))


def _svg_pieces(d: Diagram, name) -> list:
    """The SVG markup of each piece: of PIECE_COLUMNS columns, or fewer where that is wider than
    SVG_MAX_WIDTH (a layer graph's long labels), so no label is ever drawn smaller."""
    for columns in range(PIECE_COLUMNS, 1, -1):
        pieces = [_svg_piece(p, name) for p in d.pieces(columns)]
        if all(_svg_width(m) <= SVG_MAX_WIDTH for m in pieces):
            return pieces
    return pieces


# A label's width is estimated, generously, from its length: Helvetica's widest common glyphs
# (digits, capitals, "−") are about 0.6 em; its ascent is 0.8 em and its descent 0.25 em.
SVG_CHAR_EM, SVG_ASCENT, SVG_DESCENT, SVG_PAD = 0.62, 0.8, 0.25, 4


class _SvgCanvas:
    """The elements of one SVG piece, and the box around everything drawn: the viewBox is that
    box (a label's estimated extent, rotated with it, included), so no text is cut at its edge
    and no margin is left empty."""

    def __init__(self):
        self.out: list[str] = []
        self.box = [math.inf, math.inf, -math.inf, -math.inf]

    def cover(self, points):
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        self.box = [min(self.box[0], min(xs) - SVG_PAD), min(self.box[1], min(ys) - SVG_PAD),
                    max(self.box[2], max(xs) + SVG_PAD), max(self.box[3], max(ys) + SVG_PAD)]

    def shape(self, markup: str, x0: float, y0: float, x1: float, y1: float):
        self.out.append(markup)
        self.cover([(x0, y0), (x1, y1)])

    def text(self, x: float, y: float, size: float, markup: str, plain: str, attrs: str = ""):
        """A centred label at (x, y) (its baseline), ``plain`` its characters for the estimate."""
        half = len(plain) * size * SVG_CHAR_EM / 2
        corners = [(x + dx, y + dy) for dx in (-half, half)
                   for dy in (-SVG_ASCENT * size, SVG_DESCENT * size)]
        self.out.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="middle"'
                        f'{attrs}>{markup}</text>')
        self.cover(corners)

    def rotated_text(self, x: float, y: float, dy: float, size: float, markup: str, plain: str,
                     attrs: str, angle: float):
        """A label ``dy`` below (x, y) before the whole is turned by ``angle`` about (x, y)."""
        half = len(plain) * size * SVG_CHAR_EM / 2
        turn = math.radians(angle)
        corners = []
        for px in (-half, half):
            for py in (dy - SVG_ASCENT * size, dy + SVG_DESCENT * size):
                corners.append((x + px * math.cos(turn) - py * math.sin(turn),
                                y + px * math.sin(turn) + py * math.cos(turn)))
        self.out.append(f'<text x="{x:.1f}" y="{y + dy:.1f}" font-size="{size:g}" text-anchor="middle"'
                        f'{attrs} transform="rotate({angle:.1f} {x:.1f} {y:.1f})">{markup}</text>')
        self.cover(corners)

    def svg(self, head: str, defs: str) -> str:
        x0, y0, x1, y1 = (math.floor(self.box[0]), math.floor(self.box[1]), math.ceil(self.box[2]),
                          math.ceil(self.box[3]))
        width, height = x1 - x0, y1 - y0
        return "\n".join([f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="{x0} {y0} {width} '
                           f'{height}" width="{width}" height="{height}" {head}>', defs]
                          + self.out + ["</svg>"])


def _plain(markup: str) -> str:
    """The characters a label shows (its markup's tags and entities taken out)."""
    from xml.sax.saxutils import unescape
    return unescape(re.sub(r"<[^>]+>", "", markup))


def _column_xs(d: Diagram, name, spacing: float, char: float, gap: float, box=None) -> list:
    """Each column's x: ``spacing`` apart, or further where the labels written beside two
    neighbouring columns' nodes (a network's or a tensor's values, a column's operation) are
    wider than that, so they never run into each other. ``char``: a label character's width
    (a digit's, not the generous estimate that sizes an SVG's viewBox), ``gap`` between labels,
    both in the drawing's units; ``box(node)``: a node's drawn width, where it is known."""
    widths = _column_widths(d, name, char, box)
    xs = [0.0]
    for c in range(1, d.columns):
        xs.append(xs[-1] + max(spacing, (widths[c - 1] + widths[c]) / 2 + gap))
    return xs


def _column_widths(d: Diagram, name, char: float, box=None) -> list:
    """Each column's widest label (or node, by ``box``), in the drawing's units."""
    widths = [0.0] * d.columns
    for n in d.nodes:
        if box is not None:
            widths[n.column] = max(widths[n.column], box(n))
        texts = [_svg_name(name(n.name)) + (f" {n.shape}" if d.on_nodes and n.shape else "")]
        if d.on_nodes:
            texts += [_svg_number(_short(v, d.digits)) for v in (n.forward, n.gradient) if v is not None]
        widths[n.column] = max([widths[n.column]] + [len(_plain(t)) * char for t in texts])
    for column, ops in _column_ops(d).items():
        widths[column] = max(widths[column], len(_header(ops, lambda n: n.op)) * char)
    return widths


def _svg_routes(d: Diagram, name, pos: dict, radius: float) -> tuple:
    """The nodes' and captions' boxes of an SVG piece, and its edges routed around them
    (pixels, as drawn)."""
    nodes, obstacles = {}, []
    for n in d.nodes:
        x, y = pos[n.name]
        if n.kind == "more":
            box = Box(x, y - 1, len(n.op) * 13 * SVG_CHAR_EM / 2 + 8, 7, n.name)
        elif n.kind == "op":
            box = Box(x, y, radius, radius, n.name, round=True)
        else:
            box = Box(x, y, 34 if d.on_nodes and n.shape else 22, 15, n.name)
        nodes[n.name] = box
        obstacles.append(box)
        under = " ".join(t for t in (n.op if n.kind == "op" else "", n.shape) if t)
        if under and not d.on_nodes and n.kind != "more":  # the caption under the node
            obstacles.append(Box(x, y + radius + 12, len(under) * 12 * SVG_CHAR_EM / 2, 7, n.name))

    def label_box(kind, text):  # 13 px, its baseline 5 px above the edge or 14 px below it
        half, (up, down) = _label_width(_plain(_svg_number(text)), 13) / 2 + 1, _label_extent(text, 13)
        base = -5 if kind == "forward" else 14
        return half, base - up, base + down

    step = SVG_DY_NODES if d.on_nodes else SVG_DY
    return obstacles, route(d.edges, nodes, obstacles, label_box, step=step, margin=3, digits=d.digits,
                            gap=SVG_GAP, arrow=SVG_ARROW)


def _svg_grid(d: Diagram, name, sx: float = 1.0, sy: float = 1.0) -> tuple:
    """Each column's x and each node's centre (pixels, y downwards), the distances between
    columns ``sx`` and between rows ``sy`` times the usual."""
    heights = _heights(d)
    tallest = max(heights.values(), default=1)
    dy = (SVG_DY_NODES if d.on_nodes else SVG_DY) * sy
    header = 24 if d.on_nodes else 0  # the layers' operations, over the columns
    height = 2 * SVG_MARGIN + (tallest - 1) * dy + 30 + header
    mid = (height + header) / 2
    xs = [SVG_MARGIN + 20 + x * sx for x in _column_xs(  # Helvetica digits; an input's box as drawn
        d, name, SVG_DX, 13 * 0.56, 12, lambda n: 2 * _svg_box_half(n, name, d.on_nodes) if n.kind != "op" else 38)]
    return xs, {n.name: (xs[n.column], mid + (n.row - (heights[n.column] - 1) / 2) * dy) for n in d.nodes}


def _svg_layout(d: Diagram, name) -> tuple:
    """(xs, pos, obstacles, routes) of an SVG piece: six columns' width at most (46rem)."""
    xs = _svg_grid(d, name)[0]
    sx, sy, (obstacles, routes) = _spread(
        lambda kx, ky: _svg_routes(d, name, _svg_grid(d, name, kx, ky)[1], SVG_RADIUS),
        xs[-1] - xs[0], (PIECE_COLUMNS - 1) * SVG_DX, max(_heights(d).values(), default=1))
    return (*_svg_grid(d, name, sx, sy), obstacles, routes)


def _svg_piece(d: Diagram, name) -> str:
    xs, pos, _, routes = _svg_layout(d, name)
    canvas = _SvgCanvas()
    radius = SVG_RADIUS
    for column, ops in _column_ops(d).items():
        head = escape(_header(ops, lambda n: n.op))
        canvas.text(xs[column], SVG_MARGIN - 8, 13, head, _plain(head), ' fill="#666"')
    stroke = "#999" if d.on_nodes else "#333"  # light under the values on the nodes
    for r in routes:
        *rest, (x2, y2) = r.points
        tx, ty = _tangent(r.points, 1.0)
        back = 2 / (math.hypot(tx, ty) or 1)  # the arrow's tip stops 2 px short of the border
        x2, y2 = x2 - tx * back, y2 - ty * back
        xs_, ys_ = [p[0] for p in r.points], [p[1] for p in r.points]
        if r.curved:
            (sx, sy), (c1x, c1y), (c2x, c2y) = rest
            path = f'<path d="M{sx:.1f},{sy:.1f} C{c1x:.1f},{c1y:.1f} {c2x:.1f},{c2y:.1f} {x2:.1f},{y2:.1f}" fill="none"'
        else:
            (sx, sy), = rest
            path = f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"'
        canvas.shape(f'{path} stroke="{stroke}" stroke-width="1.2" marker-end="url(#arrow)"/>',
                     min(xs_), min(ys_), max(xs_), max(ys_))
        for kind, text, t, _ in r.labels:
            label = _svg_number(text)
            (lx, ly), angle = r.at(t), r.angle(t)
            canvas.rotated_text(round(lx, 1), round(ly, 1), -5 if kind == "forward" else 14, 13, label,
                                _plain(label), f' fill="{SVG_COLOURS[kind]}"', angle)
    for n in d.nodes:
        x, y = pos[n.name]
        if n.kind == "more":
            more = f"⋮ {escape(n.op)}"
            canvas.text(x, y + 5, 13, more, _plain(more), ' fill="#666"')
            continue
        if n.kind == "op":
            canvas.shape(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="#fde8d0" stroke="#333"/>',
                         x - radius, y - radius, x + radius, y + radius)
        else:
            dash = ' stroke-dasharray="4 3"' if n.kind == "ghost" else ""
            fill = "#ffffff" if n.kind == "ghost" else "#f0f0f0"
            half = _svg_box_half(n, name, d.on_nodes)
            canvas.shape(f'<rect x="{x - half:.1f}" y="{y - 15:.1f}" width="{2 * half}" height="30" rx="6" '
                         f'fill="{fill}" stroke="#333"{dash}/>', x - half, y - 15, x + half, y + 15)
        shape = (f'<tspan font-size="11" fill="#666"> {escape(n.shape)}</tspan>'
                 if d.on_nodes and n.shape and n.kind != "op" else "")
        label = f"{_svg_name(name(n.name))}{shape}"
        canvas.text(x, y + 5, 15, label, _plain(label))
        if d.on_nodes:
            for value, dy_text, kind in ((n.forward, -radius - 6, "forward"), (n.gradient, radius + 17, "gradient")):
                if value is not None and n.kind != "ghost":
                    number = _svg_number(_short(value, d.digits))
                    canvas.text(x, y + dy_text, 13, number, _plain(number),
                                f' fill="{SVG_COLOURS[kind]}" stroke="#fff" stroke-width="3" paint-order="stroke"')
            continue
        under = " ".join(t for t in (n.op if n.kind == "op" else "", n.shape) if t)
        if under:
            canvas.text(x, y + radius + 15, 12, escape(under), under, ' fill="#666"')
    return canvas.svg('font-family="Helvetica, Arial, sans-serif"',
                      '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                      'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
                      'fill="#333"/></marker></defs>')


def _svg_box_half(n: DNode, name, on_nodes: bool) -> float:
    """Half an input box's width: at least 22 px, and wide enough for its name (15 px) and, on a
    layer graph, its shape (11 px), estimated generously, so "k 2×1×3×3" stays inside it."""
    text = len(_plain(_svg_name(name(n.name)))) * 15 * SVG_CHAR_EM
    if on_nodes and n.shape:
        text += len(f" {n.shape}") * 11 * SVG_CHAR_EM
    return max(22.0, math.ceil(text / 2) + 6)


_NAME = re.compile(r"^([A-Za-z]+?)(\d+)((?:_\d+)*)$")


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _svg_number(text: str) -> str:
    """A label for SVG: a true minus, 1.35e-7 as 1.35×10⁻⁷."""
    return escape(_text_number(text))


def _text_number(text: str) -> str:
    """A label as the text shows numbers: the true minus sign (−0.4256, as every other number of
    the document has it), 1.35e-7 as 1.35×10⁻⁷.

    >>> _text_number("-1.35e-7"), _text_number("(0.5, -1)")
    ('−1.35×10⁻⁷', '(0.5, −1)')
    """
    def sci(m):
        return f"{m.group(1)}×10{m.group(2).translate(_SUPERSCRIPT)}"
    return re.sub(r"(\d(?:\.\d+)?)e(-?\d+)", sci, text).replace("-", "−")


def _svg_name(name: str) -> str:
    """A name as the text printer writes it, its indices set as SVG sub- and superscripts:
    w1 → w₁, w1_2_1 → w⁽¹⁾₂,₁ (x̂1, σ² as they are)."""
    m = _NAME.match(name)
    if not m:
        return escape(name)
    base, first, rest = m.groups()
    base = escape(base)
    sub = '<tspan baseline-shift="sub" font-size="11">{}</tspan>'
    if not rest:
        return base + sub.format(first)
    return (base + f'<tspan baseline-shift="super" font-size="10">({first})</tspan>'
            + sub.format(",".join(rest.strip("_").split("_"))))


# --- Markdown, Graphviz, Mermaid and text -----------------------------------------------------


def to_dot(d: Diagram) -> str:
    """The diagram as Graphviz source (for readers who lay it out with their own dot)."""
    ids = _ids(d)
    lines = ["digraph derive {", '  rankdir=LR; nodesep=0.5; ranksep=1.0;',
             '  node [fontname="Helvetica", fontsize=12];', '  edge [fontname="Helvetica", fontsize=10];']
    for n in d.nodes:
        if n.kind != "op":
            lines.append(f'  {ids[n.name]} [label="{escape(n.name if n.kind != "more" else "⋮")}", '
                         f'shape=box, style="rounded,filled", fillcolor="#f0f0f0"];')
        else:
            lines.append(f'  {ids[n.name]} [label=<{escape(n.name)}<br/><font point-size="9" color="#666666">'
                         f'{escape(n.op)}</font>>, shape=circle, style=filled, fillcolor="#fde8d0"];')
    for e in d.edges:
        parts = [f'<font color="{SVG_COLOURS[kind]}">{escape(text)}</font>' for kind, text in _labels(e, d.digits)]
        label = f" [label=<{'<br/>'.join(parts)}>]" if parts else ""
        lines.append(f"  {ids[e.parent]} -> {ids[e.child]}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_markdown_image(d: Diagram, printer=None) -> str:
    """The diagram as Markdown images carrying their SVG (data URIs, one per piece): the
    document stays one file, and Jupyter, pandoc and editors show it as drawn for HTML."""
    import base64
    d = at_precision(d, printer)
    name = _namer(d, printer)
    return "\n\n".join(
        f"![{d.kind.capitalize()}: forward values in blue, gradients in red]"
        f"(data:image/svg+xml;base64,{base64.b64encode(_svg_file(m)).decode('ascii')})"
        for m in _svg_pieces(d, name))


def _svg_file(markup: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + markup + "\n").encode("utf-8")


def to_svg_piece(d: Diagram, name) -> bytes:
    """One piece as a standalone SVG file."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + _svg_piece(d, name) + "\n").encode("utf-8")


def dot_available() -> bool:
    """SVG needs no tool any more (``to_svg`` writes it); kept for callers that asked."""
    return True


def to_mermaid(d: Diagram, printer=None) -> str:
    d = at_precision(d, printer)
    name = _namer(d, printer)
    ids = _ids(d)
    lines = ["```mermaid", "graph LR"]
    for n in d.nodes:
        if n.kind == "ghost":
            continue
        shape_note = f" {n.shape}" if n.shape else ""
        if n.kind == "more":
            shape = f'["⋮ {n.op}"]'
        elif n.kind == "input":
            shape = f'["{name(n.name)}{shape_note}{_node_values(n, d.digits)}"]'
        else:
            shape = f'(("{name(n.name)} {n.op}{shape_note}{_node_values(n, d.digits)}"))'
        lines.append(f"  {ids[n.name]}{shape}")
    for e in d.edges:
        parts = [f"{'fwd' if kind == 'forward' else 'grad'} {_text_number(text)}"
                 for kind, text in _labels(e, d.digits)]
        label = f'|"{" / ".join(parts)}"|' if parts else ""
        lines.append(f"  {ids[e.parent]} -->{label} {ids[e.child]}")
    lines.append("```")
    return "\n".join(lines)


def _node_values(n: DNode, digits: int = 4) -> str:
    """A network node's values, for Mermaid and text: ": value 0.3775, gradient −0.1309" (words,
    not "=": the node's gradient is not its value)."""
    parts = [f"{'value' if kind == 'forward' else 'gradient'} {_text_number(_short(v, digits))}"
             for kind, v in (("forward", n.forward), ("gradient", n.gradient)) if v is not None]
    return ": " + ", ".join(parts) if parts else ""


def _namer(d: Diagram, printer=None):
    """name -> the name as the document's text shows it (x̂1, ŷ, σ², w0_1_0 under index_base 0):
    the text printer with the document's names and notation."""
    from .printing import printer_for
    settings = getattr(printer, "_settings", {}) if printer is not None else {}
    text = printer_for("text", settings.get("names") or d.names, notation=settings.get("notation"))
    return lambda name: text.doprint(sp.Symbol(name))


def to_text(d: Diagram, printer=None) -> str:
    name = _namer(d, printer)
    d = at_precision(d, printer)
    out = [f"    {name(n.name)}{_node_values(n, d.digits)}" for n in d.nodes if n.forward is not None]
    for e in d.edges:
        info = ", ".join(f"{kind} {_text_number(text)}" for kind, text in _labels(e, d.digits))
        out.append(f"    {name(e.parent)} ──▶ {name(e.child)}" + (f"   ({info})" if info else ""))
    return "\n".join(out)
