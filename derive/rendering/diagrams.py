"""Computation-graph diagrams of any Example, as CS231n draws circuits: inputs and operations as
nodes laid out left to right, each edge labelled with the forward value above (blue) and the
gradient flowing back along it below (red).

``Diagram`` is plain data (positions, labels, values); it is drawn as TikZ for LaTeX, as SVG by
Graphviz ``dot`` for Markdown (when dot is installed), else as a Mermaid block. Graphs of more than
``MAX_NODES`` nodes are summarised (first and last layers) and say so.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field

import sympy as sp

from ..core.numbers import format_number

MAX_NODES = 30


@dataclass(frozen=True)
class DNode:
    name: str
    column: int
    row: int
    kind: str  # "input" or "op"
    op: str  # short description of the operation ("+", "ReLU", "(·)²" …)


@dataclass(frozen=True)
class DEdge:
    parent: str
    child: str
    forward: object  # the parent's value (exact) or None
    gradient: object  # ∂output/∂parent contribution along this edge, or None


@dataclass
class Diagram:
    nodes: list
    edges: list
    output: str
    summary: str = ""  # non-empty when the graph was too large and was summarised
    names: dict = field(default_factory=dict)  # LaTeX names
    svg_name: str | None = None  # set by a writer that rendered the SVG beside the document


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


def diagram(ex) -> Diagram:
    graph = ex.graph
    names = list(graph.inputs) + list(graph.nodes)
    summary = ""
    if len(names) > 12 and ex.params:
        # A network: leave the weights and biases out of the picture (their gradients are tabled);
        # the data flow x → z → a → L stays readable.
        names = [n for n in names if n not in ex.params]
        summary = "Weights and biases are not drawn; their gradients are listed in the table. "
    keep = set(names)
    if len(names) > MAX_NODES:
        # Keep the output's neighbourhood and the inputs of the first nodes; say what is left out.
        order = list(graph.nodes)
        head = order[:6]
        tail = order[-8:]
        kept_nodes = set(head) | set(tail)
        kept_inputs = {p for n in kept_nodes for p in graph.nodes[n].parents
                       if p in graph.inputs and p in names}
        keep = kept_nodes | kept_inputs
        summary += (f"The graph has {len(names)} nodes; only the first {len(head)} and last "
                    f"{len(tail)} operations (and their inputs) are drawn.")
    depth: dict[str, int] = {n: 0 for n in graph.inputs}
    for name, node in graph.nodes.items():
        depth[name] = 1 + max((depth[p] for p in node.parents), default=0)
    # Inputs sit just left of their first consumer, so a late input (y) is drawn near the loss.
    for name in graph.inputs:
        consumers = [depth[c] for c in graph.consumers[name] if c in keep]
        depth[name] = max(0, min(consumers, default=1) - 1)
    columns: dict[int, list[str]] = {}
    for name in names:
        if name in keep:
            columns.setdefault(depth[name], []).append(name)
    ordered_cols = sorted(columns)
    col_index = {c: i for i, c in enumerate(ordered_cols)}
    nodes = []
    for c in ordered_cols:
        for row, name in enumerate(columns[c]):
            kind = "input" if name in graph.inputs else "op"
            op = "" if kind == "input" else _op_label(graph.nodes[name])
            nodes.append(DNode(name, col_index[c], row, kind, op))
    edges = []
    adj = None if ex.symbolic else ex.evaluation.adjoints(ex.output)
    for name, node in graph.nodes.items():
        if name not in keep:
            continue
        for p in node.parents:
            if p not in keep:
                continue
            forward = None if ex.symbolic else ex.evaluation.values[p]
            gradient = None
            if adj is not None and name in adj:
                gradient = adj[name] * ex.evaluation.local(name, p).value
            edges.append(DEdge(p, name, forward, gradient))
    return Diagram(nodes, edges, ex.output, summary, dict(ex.latex_names))


def _short(value) -> str:
    return format_number(value, 4)


def _labels(e: DEdge) -> list:
    """An edge's labels: ("forward", value) and ("gradient", value), where known."""
    return [(kind, _short(v)) for kind, v in (("forward", e.forward), ("gradient", e.gradient))
            if v is not None]


# --- TikZ ---------------------------------------------------------------------------------


def to_tikz(d: Diagram, printer) -> str:
    """TikZ picture; node names printed by the (one) LaTeX printer."""
    dx, dy = 3.2, 1.7
    wide = max((n.column for n in d.nodes), default=0) >= 5
    lines = [r"\begin{center}", r"\resizebox{\linewidth}{!}{%" if wide else "", r"\begin{tikzpicture}[>=stealth, every node/.style={font=\small},"
             r" var/.style={draw, rounded corners, minimum width=10mm, minimum height=7mm, fill=gray!8},"
             r" op/.style={draw, circle, minimum size=9mm, fill=orange!12},"
             r" fwd/.style={above, sloped, pos=0.42, text=blue!70!black, font=\scriptsize},"
             r" bwd/.style={below, sloped, pos=0.42, text=red!75!black, font=\scriptsize}]"]
    heights = {}
    for n in d.nodes:
        heights[n.column] = max(heights.get(n.column, 0), n.row + 1)
    for n in d.nodes:
        y = -(n.row - (heights[n.column] - 1) / 2) * dy
        label = printer.doprint(sp.Symbol(n.name))
        if n.kind == "input":
            lines.append(rf"\node[var] ({_id(n.name)}) at ({n.column * dx:.2f},{y:.2f}) {{${label}$}};")
        else:
            op = n.op.replace("×", r"$\times$").replace("σ", r"$\sigma$").replace("^", r"\^{}")
            lines.append(rf"\node[op] ({_id(n.name)}) at ({n.column * dx:.2f},{y:.2f}) {{${label}$}};")
            lines.append(rf"\node[font=\scriptsize, gray] at ({n.column * dx:.2f},{y - 0.62:.2f}) {{{op}}};")
    for e in d.edges:
        fwd = f"${_tex_number(e.forward)}$" if e.forward is not None else ""
        bwd = f"${_tex_number(e.gradient)}$" if e.gradient is not None else ""
        lines.append(rf"\draw[->] ({_id(e.parent)}) -- node[fwd] {{{fwd}}} node[bwd] {{{bwd}}} ({_id(e.child)});")
    lines.append(r"\end{tikzpicture}")
    if wide:
        lines.append("}")  # a long chain is scaled to the text width
    lines.append(r"\end{center}")
    return "\n".join(line for line in lines if line)


def _tex_number(value) -> str:
    text = _short(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}\\times 10^{{{int(exponent)}}}"
    return text


def _id(name: str) -> str:
    return "n" + name.replace("_", "")


# --- Graphviz and Mermaid ----------------------------------------------------------------


def to_dot(d: Diagram) -> str:
    from xml.sax.saxutils import escape
    lines = ["digraph derive {", '  rankdir=LR; nodesep=0.5; ranksep=1.0;',
             '  node [fontname="Helvetica", fontsize=12];', '  edge [fontname="Helvetica", fontsize=10];']
    for n in d.nodes:
        if n.kind == "input":
            lines.append(f'  {_id(n.name)} [label="{n.name}", shape=box, style="rounded,filled", fillcolor="#f0f0f0"];')
        else:
            lines.append(f'  {_id(n.name)} [label=<{escape(n.name)}<br/><font point-size="9" color="#666666">'
                         f'{escape(n.op)}</font>>, shape=circle, style=filled, fillcolor="#fde8d0"];')
    colours = {"forward": "#1f4e9c", "gradient": "#b22222"}
    for e in d.edges:
        parts = [f'<font color="{colours[kind]}">{escape(text)}</font>' for kind, text in _labels(e)]
        label = f" [label=<{'<br/>'.join(parts)}>]" if parts else ""
        lines.append(f"  {_id(e.parent)} -> {_id(e.child)}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_available() -> bool:
    return shutil.which("dot") is not None


def to_svg(d: Diagram) -> bytes:
    run = subprocess.run(["dot", "-Tsvg"], input=to_dot(d).encode(), capture_output=True, check=True)
    return run.stdout


def to_mermaid(d: Diagram) -> str:
    lines = ["```mermaid", "graph LR"]
    for n in d.nodes:
        shape = f'["{n.name}"]' if n.kind == "input" else f'(("{n.name} {n.op}"))'
        lines.append(f"  {_id(n.name)}{shape}")
    for e in d.edges:
        parts = [f"{'fwd' if kind == 'forward' else 'grad'} {text}" for kind, text in _labels(e)]
        label = f'|"{" / ".join(parts)}"|' if parts else ""
        lines.append(f"  {_id(e.parent)} -->{label} {_id(e.child)}")
    lines.append("```")
    return "\n".join(lines)


def to_text(d: Diagram) -> str:
    out = []
    for e in d.edges:
        info = ", ".join(f"{kind} {text}" for kind, text in _labels(e))
        out.append(f"    {e.parent} ──▶ {e.child}" + (f"   ({info})" if info else ""))
    return "\n".join(out)
