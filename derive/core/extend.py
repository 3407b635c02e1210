"""Extending the function registry at run time: ``register_activation`` turns a formula in one
variable into a registry entry (a SymPy function whose derivative SymPy derives), found by every
lookup from then on — equations, builders, documents, checking and the PyTorch export."""
from __future__ import annotations

import re

import sympy as sp
from sympy import S

from .errors import RegistrationError
from .roles import CONSTANT_NAME, DATA_NAME
from .functions import BY_CLASS, FUNCTIONS, FunctionSpec, Sentence, register
from .functions import unregister as _remove

__all__ = ["register_activation", "unregister", "registered"]


# Names builders and users write as variables (x, w1, w1_2_1, z2, L), the Greek names derive prints
# as letters, the learning rate and the constants: an activation with such a name would make every
# later equation using the variable a call of the function.
_VARIABLE_LIKE = re.compile(r"^[A-Za-z]\d*(?:_\d+)*$")
_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "lambda", "mu", "sigma",
          "tau", "phi", "psi", "omega", "rho", "kappa", "nu", "xi", "zeta", "chi", "iota", "upsilon",
          "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega")
_GREEK_LIKE = re.compile(r"^(?:" + "|".join(_GREEK) + r")\d*(?:_\d+)*$")
_RESERVED = ("lr", "eta", "pi", "e", "inf", "nan")
_CONSTANTS = ("pi", "e", "inf", "nan")  # constants a formula may not name (it has one variable)

# The LaTeX commands a custom ``latex=`` name may use: letters, fonts and accents — nothing that
# reads files, defines macros or changes modes.
_LATEX_COMMANDS = frozenset(_GREEK) | {
    "varepsilon", "vartheta", "varphi", "varrho", "varsigma", "varpi", "pi", "ell", "imath",
    "jmath", "mathrm", "mathit", "mathbf", "mathsf", "mathtt", "mathcal", "mathbb", "mathfrak",
    "boldsymbol", "operatorname", "text", "textrm", "textit", "textbf", "textsf", "hat", "tilde",
    "bar", "check", "breve", "dot", "ddot", "vec", "widehat", "widetilde", "overline",
    "underline", "prime", "star", "ast", "circ", "dagger", "_", ",", ";", "!", " "}


_INLINE_OPS = 6  # a derivative rule with more operations is shown displayed, not inside a sentence


def _suggest(name: str) -> str:
    return f"{name}_act" if name.isidentifier() else "my_activation"


def _check_name(name) -> None:
    import keyword
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise RegistrationError(f"activation name {name!r} must be a plain identifier such as swish2 "
                                f"(letters, digits and underscores, not starting with _)")
    # data words (target, label2, mask_a) and hyperparameters (lam, eps_bn) are values in
    # equations; a word that merely starts with x or y (xlogx) is not
    data_word = DATA_NAME.match(name) and not re.match(r"^[xyXY][A-Za-z]", name)
    if (_VARIABLE_LIKE.match(name) or _GREEK_LIKE.match(name) or name in _RESERVED
            or data_word or CONSTANT_NAME.match(name)):
        what = ("a constant" if name in _CONSTANTS else "the learning rate" if name in ("lr", "eta")
                else "a data name" if data_word
                else "a hyperparameter's name" if CONSTANT_NAME.match(name) else "a variable name")
        raise RegistrationError(f"activation name `{name}` is {what} in derive's equations "
                                f"(x, w1, z2, L, alpha … name values); register it under a longer "
                                f"name such as {_suggest(name)}")


def _check_latex(name: str, latex: str) -> None:
    """``latex=`` goes verbatim into every LaTeX document: balanced braces, no special characters,
    only the commands of ``_LATEX_COMMANDS``."""
    def refuse(why: str):
        raise RegistrationError(f"latex= {latex!r} of `{name}` {why}; write e.g. "
                                f"r\"\\operatorname{{{name.replace('_', '')}}}\" or r\"\\phi_2\"")
    if not isinstance(latex, str) or not latex.strip():
        refuse("must be a non-empty string")
    bad = [c for c in latex if c in "#%&$~" or ord(c) < 32 or ord(c) == 127]
    if bad:
        refuse(f"contains {bad[0]!r}, which LaTeX treats specially")
    if not latex.isascii():
        refuse("must be plain ASCII (write Greek letters as \\phi)")
    depth = 0
    for c in latex:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            refuse("closes a brace it never opened")
    if depth:
        refuse("leaves a brace open")
    for command in re.findall(r"\\([A-Za-z]+|.?)", latex):
        if command not in _LATEX_COMMANDS:
            refuse(f"uses \\{command}, which is not one of the allowed commands (Greek letters, "
                   f"\\mathrm, \\mathit, \\mathbf, \\mathcal, \\operatorname, \\text, \\hat, "
                   f"\\tilde, \\bar, \\prime …)")


def _is_condition(a) -> bool:
    """A comparison or truth value (where's first argument); a Symbol is a SymPy Boolean too."""
    from sympy.logic.boolalg import BooleanAtom, BooleanFunction
    return isinstance(a, (sp.core.relational.Relational, BooleanFunction, BooleanAtom))


def _alternatives(e) -> list | None:
    """The expressions a piecewise part equals on its pieces (a superset will do: the candidates
    are filtered by their slopes), or None for a smooth part."""
    if type(e) is sp.Abs:
        return [e.args[0], -e.args[0]]
    spec = BY_CLASS.get(type(e))
    if spec is None or not (spec.kink or spec.conditions):
        return None
    plain = [a for a in e.args if not _is_condition(a)]
    extra = [plain[0] * plain[1]] if len(plain) == 2 and not spec.variadic else []  # LeakyReLU: αz
    return plain + [sp.S.Zero] + extra


def _branches(expr: sp.Expr, t: sp.Symbol, cap: int = 64) -> list:
    """``expr`` with each piecewise part replaced by each of its pieces, innermost first."""
    out, done = [expr], []
    while out and len(done) < cap:
        x = out.pop()
        part = next((e for e in sp.postorder_traversal(x) if e.has(t) and _alternatives(e)), None)
        if part is None:
            done.append(x)
        else:
            out += [x.xreplace({part: alt}) for alt in _alternatives(part)]
    return done


def _kink_candidates(body: sp.Expr, t: sp.Symbol) -> list:
    """Points where a part of ``body`` may bend: zeros of the arguments of kinked parts (relu, abs),
    ties between the arguments of max/min, and the switch points of a where's condition — each
    solved on every piece of the parts inside it (max(-1, min(1, z)) ties at z = -1)."""
    equations = []
    for e in sp.preorder_traversal(body):
        if not e.has(t) or _alternatives(e) is None:
            continue
        for a in e.args:
            if isinstance(a, sp.core.relational.Relational):
                equations.append(a.lhs - a.rhs)
            elif not _is_condition(a):
                equations.append(a)
        plain = [a for a in e.args if not _is_condition(a)]
        equations += [a - b for i, a in enumerate(plain) for b in plain[i + 1:]]
    points = []
    for eq in equations:
        for piece in _branches(eq, t):
            if not piece.has(t):
                continue
            try:
                solutions = sp.solveset(piece, t, sp.S.Reals)
            except Exception:  # noqa: BLE001 (an equation SymPy cannot solve names no kink)
                continue
            if isinstance(solutions, sp.FiniteSet):
                points += [p for p in solutions if p.is_real and p not in points]
    return sorted(points, key=lambda p: float(p))


def _kinks(rule: sp.Expr, t: sp.Symbol, candidates: list) -> tuple:
    """The candidates where the one-sided derivatives differ (the slopes a hair's breadth either
    side, at 50 digits): abs(z - 2) bends at 2, z/(1 + abs(z)) is smooth at 0."""
    out = []
    h = sp.Rational(1, 10 ** 20)
    for k in candidates:
        try:
            left, right = (sp.N(rule.xreplace({t: k + s * h}), 50) for s in (-1, 1))
        except Exception:  # noqa: BLE001
            continue
        if not (left.is_finite and right.is_finite):
            continue
        if abs(left - right) > sp.Float("1e-10"):
            out.append(k)
    return tuple(out)


def register_activation(name: str, formula: str, latex: str | None = None) -> FunctionSpec:
    """Add an activation defined by a formula in one variable; its derivative comes from SymPy.
    The name then works in equations, builders (``neuron``, ``mlp``, ``chain``), documents,
    checking and the PyTorch export. Its kinks (where the derivative jumps) are found from the
    formula; there derive uses the value its parts' conventions give, as PyTorch does.

    >>> spec = register_activation("hardclip", "max(-1, min(1, z))")
    >>> spec.kinks
    (-1, 1)
    >>> from derive import neuron
    >>> float(neuron(x=1, w=1, b=0, y=0, activation="hardclip").grad("w"))  # 2(a - y)·½·x at z = 1
    1.0
    >>> unregister("hardclip")
    """
    from .budget import BudgetError, check_exponents
    from .parser import names_in, parse_expression, to_sympy
    _check_name(name)
    existing = FUNCTIONS.get(name)
    if existing is not None and not existing.formula:
        raise RegistrationError(f"`{name}` is a built-in function; register the activation under "
                                f"another name such as {name}2")
    if not isinstance(formula, str) or not formula.strip():
        raise RegistrationError("register_activation needs a formula in one variable, e.g. "
                                "\"z*sigmoid(2*z)\"")
    if latex is not None:
        _check_latex(name, latex)
    tree = parse_expression(formula.strip())
    variables = list(dict.fromkeys(names_in(tree)))
    constants = [v for v in variables if v in _CONSTANTS]
    if constants:
        raise RegistrationError(f"the formula of `{name}` uses `{constants[0]}`, a constant that is "
                                f"not allowed in a registered formula; write its value as a number "
                                f"(e.g. 3.14159 for pi)")
    if len(variables) != 1:
        raise RegistrationError(f"the formula of `{name}` must use exactly one variable (its input), "
                                f"found {len(variables)}: {', '.join(variables) or 'none'}; e.g. "
                                f"\"z*sigmoid(2*z)\"")
    t = sp.Symbol(variables[0], real=True)
    body = to_sympy(tree, {variables[0]: t}, True)
    if not body.has(t):
        raise RegistrationError(f"the formula of `{name}` does not depend on {variables[0]}; "
                                f"write one that does, e.g. \"{variables[0]}*sigmoid({variables[0]})\"")
    try:  # refused now, not at its first use (a huge power stalls every evaluation)
        check_exponents(body, formula.strip())
    except BudgetError as e:
        raise e.located(f"register_activation({name!r})") from None
    rule = sp.diff(body, t)

    def at(expr, arg):
        return expr.xreplace({t: arg})

    def numeric(z):
        from .approx import approx
        return approx(body.xreplace({t: sp.Float(z, 60)}))

    def _eval(cls, z):
        if z.is_number:  # within the budget, as an equation's own powers are (z**z**z… fails fast)
            from .approx import Undefined
            from .exact import substitute
            try:
                return substitute(body, {t: z}, f"{name}({sp.sstr(z)})")
            except Undefined:  # named where it is used, as recip(z) with z = 0, not 1/t inside
                return S.NaN
        return None

    def _fdiff(self, argindex=1):
        return at(rule, self.args[0])

    def _sympystr(self, printer):  # messages print the registered name, never the class's
        return f"{name}({', '.join(printer._print(a) for a in self.args)})"

    cls = type(f"Registered_{name}", (sp.Function,), {
        "nargs": 1, "eval": classmethod(_eval), "fdiff": _fdiff, "numeric": staticmethod(numeric),
        "_eval_is_extended_real": lambda self: self.args[0].is_extended_real,
        "_sympystr": _sympystr, "__module__": __name__})
    kinks = _kinks(rule, t, _kink_candidates(body, t))

    def kink(args):
        return any(args[0] == k for k in kinks)

    latex_name = latex or r"\operatorname{" + name.replace("_", r"\_") + "}"

    def justify(arg, value, at_kink: bool):
        # the rule and the definition in the application's own argument (z₁, not the formula's w)
        from .derivation import Chain, Prime, Value
        if at_kink and value is not None:  # the value used where f' is not defined, as ReLU's
            return Sentence(f"{{0}} is a kink of {name}, where its derivative is not defined; "
                            f"we take {{1}}, as PyTorch does",
                            (Chain(arg, "=", Value(value)), Chain(Prime(name, value), "=",
                                                                  Value(at(rule, value)))))
        definition = Chain(cls(arg), "=", at(body, arg))
        if sp.count_ops(rule) > _INLINE_OPS:  # a long rule is no inline formula: name it only
            return Sentence("by the derivative rule {0} stated with the activation above, from its "
                            "definition {1}", (Prime(name, arg), definition))
        return Sentence("by the derivative rule {0}, from its definition {1}",
                        (Chain(Prime(name, arg), "=", at(rule, arg)), definition))

    spec = FunctionSpec(
        name, cls, cls, 1, "activation", latex_name, name, None, kink=kink if kinks else None,
        kinks=kinks, justify=justify,
        description=f"the activation {name}",
        convention=("at a kink, the conventions of its parts (as PyTorch)" if kinks else ""),
        expand=lambda z: at(body, z), formula=formula.strip())
    return register(spec)


def unregister(name: str) -> None:
    """Remove an activation added by ``register_activation`` (built-in functions stay).

    >>> _ = register_activation("cube3", "z**3")
    >>> unregister("cube3")
    >>> "cube3" in FUNCTIONS
    False
    """
    spec = FUNCTIONS.get(name)
    if spec is None or not spec.formula:
        what = "a built-in function" if spec is not None else "not a registered activation"
        raise RegistrationError(f"`{name}` is {what}; unregister removes only activations added "
                                f"by register_activation ({', '.join(registered()) or 'none now'})")
    _remove(name)


def registered() -> list[str]:
    """The names of the activations added by ``register_activation``, in order.

    >>> _ = register_activation("cube3", "z**3"); registered()[-1]
    'cube3'
    >>> unregister("cube3")
    """
    return [n for n, s in FUNCTIONS.items() if s.formula]
