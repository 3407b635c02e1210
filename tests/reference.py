"""Independent references for gradients: SymPy's own elementary functions (Piecewise, exp, erf)
differentiated with plain ``sympy.diff``; central finite differences; PyTorch float64 autograd."""
from __future__ import annotations

import sympy as sp

from derive.core import functions as F

# Each registry function in SymPy's own elementary terms (not our fdiff rules).
ELEMENTARY = {
    "relu": lambda z: sp.Piecewise((z, z > 0), (0, True)),
    "leaky_relu": lambda z, a: sp.Piecewise((z, z > 0), (a * z, True)),
    "sigmoid": lambda z: 1 / (1 + sp.exp(-z)),
    "tanh": sp.tanh,
    "softplus": lambda z: sp.log(1 + sp.exp(z)),
    "elu": lambda z, a: sp.Piecewise((z, z > 0), (a * (sp.exp(z) - 1), True)),
    "gelu": lambda z: z * (1 + sp.erf(z / sp.sqrt(2))) / 2,
    "silu": lambda z: z / (1 + sp.exp(-z)),
    "identity": lambda z: z,
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
    "max": lambda *a: sp.Max(*a),
    "min": lambda *a: sp.Min(*a),
    "pool_max": lambda *a: sp.Max(*a),
    "where": lambda c, a, b: sp.Piecewise((a, c), (b, True)),
    "sin": sp.sin,
    "cos": sp.cos,
    "normal_cdf": lambda z: (1 + sp.erf(z / sp.sqrt(2))) / 2,
    "normal_pdf": lambda z: sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi),
    "logsumexp": lambda *a: sp.log(sp.Add(*[sp.exp(v) for v in a])),
    "squared_error": lambda a, y: (a - y) ** 2,
    "half_squared_error": lambda a, y: (a - y) ** 2 / 2,
    "mse": lambda a, y: (a - y) ** 2,
    "absolute_error": lambda a, y: sp.Abs(a - y),
    "binary_cross_entropy": lambda a, y: -(y * sp.log(a) + (1 - y) * sp.log(1 - a)),
    "huber": lambda r, d: sp.Piecewise((r ** 2 / 2, sp.Abs(r) <= d), (d * (sp.Abs(r) - d / 2), True)),
    "hinge": lambda y, s: sp.Piecewise((1 - y * s, y * s <= 1), (0, True)),
}

_BY_CLASS = {spec.cls: name for name, spec in F.FUNCTIONS.items() if name != "sqrt"}


def elementary(expr):
    """Replace derive's function classes by SymPy elementary forms (bottom-up)."""
    if not expr.args:
        return expr
    args = [elementary(a) for a in expr.args]
    name = _BY_CLASS.get(type(expr))
    if name is not None and name in ELEMENTARY and not isinstance(expr, (sp.exp, sp.log, sp.tanh, sp.Abs)):
        return ELEMENTARY[name](*args)
    return expr.func(*args)


def composed(ex, of=None):
    """The whole formula of the output in the inputs (what derive never differentiates)."""
    of = of or ex.output
    graph = ex.graph
    expr = graph.nodes[of].expr
    for name in reversed(list(graph.nodes)):
        expr = expr.xreplace({graph.symbols[name]: graph.nodes[name].expr})
    return expr


def torch_functions():
    import torch
    import torch.nn.functional as Fn
    return {
        "relu": torch.relu,
        "leaky_relu": lambda z, a: Fn.leaky_relu(z, float(a)),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softplus": Fn.softplus,
        "elu": lambda z, a: Fn.elu(z, float(a)),
        "gelu": Fn.gelu,
        "silu": Fn.silu,
        "identity": lambda z: z,
        "exp": torch.exp,
        "log": torch.log,
        "sqrt": torch.sqrt,
        "abs": torch.abs,
        "max": lambda *a: torch.amax(torch.stack(torch.broadcast_tensors(*a)), 0),
        "min": lambda *a: torch.amin(torch.stack(torch.broadcast_tensors(*a)), 0),
        "pool_max": lambda *a: Fn.max_pool1d(torch.stack(torch.broadcast_tensors(*a)).reshape(1, 1, -1),
                                             len(a)).reshape(()),
        "where": torch.where,
        "sin": torch.sin,
        "cos": torch.cos,
        "normal_cdf": torch.special.ndtr,
        "normal_pdf": lambda z: torch.exp(-z ** 2 / 2) / (2 * torch.pi) ** 0.5,
        "logsumexp": lambda *a: torch.logsumexp(torch.stack(torch.broadcast_tensors(*a)), 0),
        # PyTorch's own losses, not our formulas: an independent reference
        "squared_error": lambda a, y: Fn.mse_loss(a, y, reduction="sum"),
        "half_squared_error": lambda a, y: Fn.mse_loss(a, y, reduction="sum") / 2,
        "mse": Fn.mse_loss,
        "absolute_error": Fn.l1_loss,
        "binary_cross_entropy": Fn.binary_cross_entropy,
        "huber": lambda r, d: Fn.huber_loss(r, torch.zeros_like(r), delta=float(d)),
        "hinge": lambda y, s: Fn.hinge_embedding_loss(y * s, torch.tensor(-1.0)),
    }


def torch_eval(expr, env):
    """Evaluate a SymPy node expression with torch tensors (float64) bound to its symbols."""
    import torch
    fns = torch_functions()
    if expr.is_Symbol:
        return env[expr.name]
    if expr.is_Number:
        return torch.tensor(float(expr), dtype=torch.float64)
    if isinstance(expr, sp.core.relational.Relational):
        import operator
        ops = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
        return ops[expr.rel_op](torch_eval(expr.lhs, env), torch_eval(expr.rhs, env))
    args = [torch_eval(a, env) if not (a.is_Number and _BY_CLASS.get(type(expr)) in ("leaky_relu", "elu")
                                       and a is expr.args[-1]) else a for a in expr.args]
    if expr.is_Add:
        out = args[0]
        for a in args[1:]:
            out = out + a
        return out
    if expr.is_Mul:
        out = args[0]
        for a in args[1:]:
            out = out * a
        return out
    if expr.is_Pow:
        if expr.exp == sp.S.Half:
            return torch.sqrt(args[0])
        return torch.pow(args[0], args[1])
    name = _BY_CLASS.get(type(expr))
    if name is None:
        raise TypeError(f"no torch mapping for {type(expr).__name__}")
    return fns[name](*args)


def torch_gradients(ex):
    """Forward values and d(output)/d(input) for every input, by PyTorch float64 autograd."""
    import torch
    env = {n: torch.tensor(float(ex.evaluation.values[n]), dtype=torch.float64, requires_grad=True)
           for n in ex.inputs}
    for name, node in ex.graph.nodes.items():
        env[name] = torch_eval(node.expr, env)
    out = env[ex.output]
    if not out.requires_grad:  # SymPy folded the output to a constant (x1 - x1): every gradient is 0
        return ({n: float(env[n].detach()) for n in env}, {n: 0.0 for n in ex.inputs})
    grads = torch.autograd.grad(out, [env[n] for n in ex.inputs], allow_unused=True)
    return ({n: float(env[n].detach()) for n in env},
            {n: (0.0 if g is None else float(g)) for n, g in zip(ex.inputs, grads)})
