"""Extending the function registry at run time: ``register_activation`` turns a formula in one
variable into a registry entry (a SymPy function whose derivative SymPy derives), found by every
lookup from then on — equations, builders, documents, checking and the PyTorch export."""
from __future__ import annotations

import sympy as sp

from .functions import BY_CLASS, FUNCTIONS, FunctionSpec, Sentence, register, unregister

__all__ = ["register_activation", "unregister"]


def register_activation(name: str, formula: str, latex: str | None = None) -> FunctionSpec:
    """Add an activation defined by a formula in one variable; its derivative comes from SymPy.
    The name then works in equations, builders (``neuron``, ``mlp``, ``chain``), documents,
    checking and the PyTorch export.

    >>> spec = register_activation("swish2", "z*sigmoid(2*z)")
    >>> from derive import neuron
    >>> float(neuron(x=1, w=1, b=0, y=0, activation="swish2").grad("w")) > 0
    True
    >>> unregister("swish2")
    """
    import keyword
    from .errors import DeriveError
    from .parser import names_in, parse_expression, to_sympy
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise DeriveError(f"activation name {name!r} must be a plain identifier such as swish2 "
                          f"(letters, digits and underscores, not starting with _)")
    existing = FUNCTIONS.get(name)
    if existing is not None and not existing.formula:
        raise DeriveError(f"`{name}` is a built-in function; register the activation under another "
                          f"name")
    if not isinstance(formula, str) or not formula.strip():
        raise DeriveError("register_activation needs a formula in one variable, e.g. \"z*sigmoid(2*z)\"")
    tree = parse_expression(formula.strip())
    variables = list(dict.fromkeys(names_in(tree)))
    if len(variables) != 1:
        raise DeriveError(f"the formula of `{name}` must use exactly one variable (its input), "
                          f"found {len(variables)}: {', '.join(variables) or 'none'}; e.g. "
                          f"\"z*sigmoid(2*z)\"")
    t = sp.Symbol(variables[0], real=True)
    body = to_sympy(tree, {variables[0]: t}, True)
    rule = sp.diff(body, t)
    if not body.has(t):
        raise DeriveError(f"the formula of `{name}` does not depend on {variables[0]}")

    def at(expr, arg):
        return expr.xreplace({t: arg})

    def numeric(z):
        from .approx import approx
        return approx(body.xreplace({t: sp.Float(z, 60)}))

    def _eval(cls, z):
        if z.is_number:
            return at(body, z)
        return None

    def _fdiff(self, argindex=1):
        return at(rule, self.args[0])

    cls = type(f"Registered_{name}", (sp.Function,), {
        "nargs": 1, "eval": classmethod(_eval), "fdiff": _fdiff, "numeric": staticmethod(numeric),
        "_eval_is_extended_real": lambda self: self.args[0].is_extended_real,
        "__module__": __name__})
    inner = [e for e in sp.preorder_traversal(body) if type(e) in BY_CLASS and BY_CLASS[type(e)].kink]

    def kink(args):
        z = args[0]
        return any(BY_CLASS[type(e)].kink([at(a, z) for a in e.args]) for e in inner)

    latex_name = latex or r"\operatorname{" + name.replace("_", r"\_") + "}"

    def justify(arg, value, at_kink: bool):
        from .derivation import Chain, Prime
        return Sentence("by the derivative rule {0}, from its definition {1}",
                        (Chain(Prime(name, t), "=", rule), Chain(cls(t), "=", body)))

    spec = FunctionSpec(
        name, cls, cls, 1, "activation", latex_name, name, None, kink=kink if inner else None,
        justify=justify, description=f"the activation {name} (registered as {formula.strip()})",
        convention=("at a kink of its parts, their conventions" if inner else ""),
        expand=lambda z: at(body, z), formula=formula.strip())
    return register(spec)
