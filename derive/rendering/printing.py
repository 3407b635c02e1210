"""The printers: all LaTeX comes from ``LatexPrinter`` (a SymPy ``LatexPrinter`` subclass), all
plain text from ``TextPrinter`` (a ``StrPrinter`` subclass). They print SymPy expressions the way a
lecturer writes them (σ(z), ReLU(z), 𝟙[z > 0], ∂L/∂w, ½(a − y)²) and the derivation's math objects
(``Chain``, ``Value``, ``Subst``, ``Partial``, ``Product``, ``Sum``). Templates receive finished
strings from here; nothing else builds math text."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import sympy as sp
from sympy.core.function import AppliedUndef, Function, UndefinedFunction
from sympy.printing.latex import LatexPrinter as _SympyLatex
from sympy.printing.str import StrPrinter

from ..core.derivation import (Chain, Note, Ordinal, Partial, Prime, Product, Remark, Row, Subst,  # noqa: F401
                               Sum, Total, Value, Vector)
from ..core.functions import BY_CLASS, FUNCTIONS, Indicator
if TYPE_CHECKING:  # the matrix objects are imported where they are printed: a scalar document
    # (every CLI start) need not build their classes
    from ..core.matrixmath import (BatchSum, Entry, Hadamard, MatProduct, MatrixValue, Scaled,
                                   ShapeOf, Dots, TensorCall, Transposed, Updated)
from ..core.notation import Hat, Indexed, Layered, Notation, PartialOf, ProductOver, SumOver
from ..core.numbers import format_number, terminating_decimal
from .arithmetic import Carried, member_carries, short_fraction

_GREEK_TEXT = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
               "eta": "η",
               "theta": "θ", "lambda": "λ", "mu": "μ", "sigma": "σ", "tau": "τ", "phi": "φ",
               "psi": "ψ", "omega": "ω", "rho": "ρ", "kappa": "κ", "nu": "ν", "xi": "ξ",
               "zeta": "ζ", "chi": "χ", "iota": "ι", "upsilon": "υ",
               # capitals that differ from Latin letters (LaTeX has no \Alpha)
               "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
               "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω"}
_GREEK_TEXT["eps"] = "ε"  # the usual short name of ε (a variance's ε, Adam's ε)
_GREEK = set(_GREEK_TEXT)
_GREEK_LATEX = {"eps": "varepsilon", "epsilon": "varepsilon"}  # ε as in the text, not the lunate ϵ
_LAYERED = re.compile(r"^([A-Za-z]+)(\d+)((?:_\d+)+)$")  # w1_2_1 -> w^{(1)}_{21}
_INDEXED = re.compile(r"^([A-Za-z]+?)(\d+)$")  # x1 -> x_{1}
_SUFFIXED = re.compile(r"^([A-Za-z]+)_([A-Za-z0-9_]+)$")  # a_prev -> a_{prev}
_HATTED = re.compile(r"^([A-Za-z])hat(\d*)$")  # yhat -> ŷ, xhat1 -> x̂1 (an estimate, as on the board)


def latex_name(name: str, names: dict | None = None) -> str:
    """LaTeX for a variable name: ``w1`` -> ``w_{1}``, ``w1_2_1`` -> ``w^{(1)}_{2,1}``,
    ``alpha`` -> ``\\alpha``, ``a_prev`` -> ``a_{\\mathrm{prev}}``; builders may override
    with a display object (a SymPy expression such as σ², printed here) or a LaTeX string."""
    if names and name in names:
        shown = names[name]
        return shown if isinstance(shown, str) else _display(LatexPrinter, shown)
    if name.endswith("_new") and len(name) > 4:  # an updated parameter: w₁⁽ⁿᵉʷ⁾, not w1\_new
        base = latex_name(name[:-4], names)
        base = f"{{{base}}}" if "^" in base else base
        return f"{base}^{{(\\mathrm{{new}})}}"
    if name in _GREEK:
        return "\\" + _GREEK_LATEX.get(name, name)
    m = _HATTED.match(name)
    if m:
        return f"\\hat{{{m.group(1)}}}" + (f"_{{{m.group(2)}}}" if m.group(2) else "")
    m = _LAYERED.match(name)
    if m:
        base, layer, rest = m.groups()
        idx = ",".join(rest.strip("_").split("_"))
        return f"{latex_name(base)}^{{({layer})}}_{{{idx}}}"
    m = _INDEXED.match(name)
    if m:
        return f"{latex_name(m.group(1))}_{{{m.group(2)}}}"
    m = _SUFFIXED.match(name)
    if m:
        sub = m.group(2)
        sub = sub if sub.isdigit() else r"\mathrm{" + sub.replace("_", r"\_") + "}"
        return f"{latex_name(m.group(1))}_{{{sub}}}"
    if len(name) > 1:
        return r"\mathrm{" + name.replace("_", r"\_") + "}"
    return name


def text_name(name: str, names: dict | None = None) -> str:
    """Plain-text name: Greek names as Greek letters, with any index kept (``lambda1`` -> λ1); a
    builder's display object (``var`` shown as σ²) printed as text — the same object the LaTeX
    printer prints, so every format shows the same symbol. (A LaTeX string is LaTeX only.)"""
    if names and name in names and not isinstance(names[name], str):
        return _display(TextPrinter, names[name])
    if name in _GREEK_TEXT:
        return _GREEK_TEXT[name]
    m = _HATTED.match(name)
    if m:
        import unicodedata  # ŷ has a precomposed letter, x̂ only the combining hat
        return unicodedata.normalize("NFC", f"{m.group(1)}\u0302") + m.group(2)
    m = re.match(r"^([A-Za-z]+)(\d[\d_]*|_\w+)$", name)  # lambda1, delta2_1
    if m and m.group(1) in _GREEK_TEXT:
        return _GREEK_TEXT[m.group(1)] + m.group(2)
    return name


def _display(printer: type, shown) -> str:
    """A display object (σ², ε, x̂₁) printed by a plain printer of that kind."""
    return printer({}).doprint(shown)


_NUMBERED = re.compile(r"^([A-Za-z]+?)(\d+)((?:_\d+)*)(_new)?$")  # x1, w1_2_1, xhat1, w2_new


def name_indices(name: str) -> list[int]:
    """The numeric indices of a name as the printers read them: ``w1_2_1`` -> [1, 2, 1], ``x1`` ->
    [1], ``w_hh`` -> []."""
    m = _NUMBERED.match(name)
    if m is None:
        return []
    return [int(m.group(2))] + [int(i) for i in m.group(3).split("_")[1:]]


def renumber(name: str, shift: int) -> str:
    """A name with its unit indices moved by ``shift`` (the notation preset ``index_base: 0``
    shows the builders' 1-based units from 0). The first of several indices is the layer, which
    the 0-based convention still counts from 1, the input being layer 0 (a⁽⁰⁾ = x):
    ``renumber("w1_2_1", -1)`` -> ``"w1_1_0"``.

    >>> renumber("x1", -1), renumber("w_hh", -1), renumber("z2_1", 0), renumber("z2_1", -1)
    ('x0', 'w_hh', 'z2_1', 'z2_0')
    """
    m = _NUMBERED.match(name) if shift else None
    if m is None:
        return name
    indices = name_indices(name)
    moved = indices[:1] + [i + shift for i in indices[1:]] if len(indices) > 1 else [indices[0] + shift]
    return m.group(1) + "_".join(map(str, moved)) + (m.group(4) or "")


def renumber_latex(text: str, shift: int) -> str:
    r"""LaTeX of a name with its unit indices (subscripts ``_{2,1}``) moved by ``shift``, also in
    names a builder spelled itself (``\hat{x}_{1}``); a layer superscript ``^{(1)}`` stays (see
    ``renumber``).

    >>> renumber_latex(r"w^{(1)}_{2,1}", -1)
    'w^{(1)}_{1,0}'
    """
    if not shift:
        return text
    return re.sub(r"_\{([\d,]+)\}", lambda m: "_{" + ",".join(str(int(i) + shift) for i in m.group(1).split(","))
                  + "}", text)


def _scientific(text: str):
    """'1.953e+6' -> ('1.953', 6); None when not scientific."""
    if "e" not in text:
        return None
    mantissa, exponent = text.split("e")
    return mantissa, int(exponent)


def _split_product(expr):
    """A product as written by hand: (rational coefficient, numerator factors — symbols and
    functions before bracketed sums —, denominator factors)."""
    factors = list(expr.args)
    coeff = sp.S.One
    if factors and factors[0].is_Rational:
        coeff = factors.pop(0)
    # a logarithm goes last, as it is written by hand: (1 − y) log(1 − a), not log(1 − a)(1 − y)
    factors = ([f for f in factors if not f.is_Add and not isinstance(f, sp.log)]
               + [f for f in factors if f.is_Add] + [f for f in factors if isinstance(f, sp.log)])
    numerator, denominator = [], []
    for f in factors:
        # x^(−1/2) stays a power (an optimiser's step reads so), but a constant's goes below: √π
        if f.is_Pow and f.exp.is_Rational and f.exp.is_negative and (
                f.exp != -sp.S.Half or f.base.is_number):
            denominator.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp, evaluate=False))
        else:
            numerator.append(f)
    return coeff, numerator, denominator


def _inner_product_grouped(product) -> bool:
    """An inner product needs its brackets only if it has a coefficient or a denominator of its
    own (2·(3x), a·(b/c)); y·u inside −(y·u) reads as −yu, as the text printer writes it."""
    coeff, _, denominator = _split_product(product)
    return coeff != 1 or bool(denominator)


def _one_group(text: str) -> bool:
    """``text`` is one bracketed group, "(a + b)" — not "(a + 1)(b + 1)", whose first bracket
    closes early: a denominator like that needs brackets of its own."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(text) - 1:
            return False
    return True


_OWN = "own"  # the object prints itself (its ``_latex`` / ``_sympystr``)
_DISPATCH: dict = {}  # (printer class, object class) -> the method that prints it
_NAMES: dict = {}  # (print method, name, index shift) -> the name as printed


def _resolve(printer: type, cls: type) -> str | None:
    """The method SymPy's ``Printer._print`` would choose for objects of class ``cls`` (the same
    rules, applied to the class): the object's own print method, else ``_print_<C>`` for the first
    class C along its MRO that the printer knows, else None (the empty printer)."""
    if printer.printmethod and hasattr(cls, printer.printmethod):
        return _OWN
    classes = cls.__mro__
    if AppliedUndef in classes:  # Function("gamma") is not printed as gamma
        classes = classes[classes.index(AppliedUndef):]
    if UndefinedFunction in classes:
        classes = classes[classes.index(UndefinedFunction):]
    if Function in classes:  # a renamed subclass of a known function is not printed as it
        i = classes.index(Function)
        classes = tuple(c for c in classes[:i] if c.__name__ == classes[0].__name__
                        or c.__name__.endswith("Base")) + classes[i:]
    for c in classes:
        if hasattr(printer, "_print_" + c.__name__):
            return "_print_" + c.__name__
    return None


class _HandWritten:
    """What both printers share: sums and relation chains written as by hand. A printer sets
    ``MINUS`` (the minus sign it prints) and ``RELATIONS`` (how it spells =, ≈, >, …)."""

    MINUS = "-"
    RELATIONS: dict = {}

    def _print(self, expr, **kwargs) -> str:
        """SymPy's dispatch, its choice remembered per class: SymPy walks the object's MRO,
        building method names, for every node of every formula — a tenth of a document's time."""
        cls = type(expr)
        if isinstance(expr, type):  # a class itself (rare): SymPy's own rules
            return super()._print(expr, **kwargs)
        key = (type(self), cls)
        try:
            method = _DISPATCH[key]
        except KeyError:
            method = _DISPATCH[key] = _resolve(type(self), cls)
        self._print_level += 1
        try:
            if method is _OWN:
                return getattr(expr, self.printmethod)(self, **kwargs)
            if method is None:
                return self.emptyPrinter(expr)
            return getattr(self, method)(expr, **kwargs)
        finally:
            self._print_level -= 1

    def _arguments(self, expr, spec) -> str:
        """A registry function's arguments; a numeric parameter after z (LeakyReLU's α) as the
        decimal it was written as, 0.2 rather than 1/5, as the sentence "here α = 0.2" says it."""
        out = []
        for i, a in enumerate(expr.args):
            text = None
            if i >= 1 and spec is not None and spec.parameters and isinstance(a, sp.Rational) \
                    and not a.is_Integer:
                text = terminating_decimal(a, 6)
            out.append(self._bare(a) if text is None else text.replace("-", self.MINUS))
        return ", ".join(out)

    def _signed_join(self, texts) -> str:
        out = []
        for i, text in enumerate(texts):
            negative = text.startswith(self.MINUS) or text.startswith("-")
            if i == 0:
                out.append(text)
            elif negative:
                out.append(f" {self.MINUS} {text[1:].lstrip()}")
            else:
                out.append(f" + {text}")
        return "".join(out)

    def _bare(self, expr) -> str:
        """``expr`` where no bracket is needed around a substituted negative number (a function's
        argument, a side of a comparison, the first term of a sum): relu(−7), not relu((−7))."""
        values = self._settings["values"]
        if values and expr in values:
            return self.number(values[expr])
        return self._print(expr)

    def _print_Add(self, expr, order=None):
        terms = _hand_order(expr.args)
        return self._signed_join([self._bare(terms[0])] + [self._print(t) for t in terms[1:]])

    def _print_Sum(self, s: Sum):
        return self._signed_join([self._print(t) for t in s.terms])

    def _plain(self, **settings):
        """A printer of the same kind with the same names and precision (for sub-expressions)."""
        return type(self)({"names": self._settings["names"], "precision": self._settings["precision"],
                           "notation": self._settings["notation"],
                           "fractions": self._settings.get("fractions", False), **settings})

    def _notation(self) -> dict:
        return self._settings["notation"] or {}

    def _name(self, name: str) -> str:
        """A name as the notation preset shows it (indices from 0 under ``index_base: 0``)."""
        shift = self._notation().get("renumber", 0)
        if self._settings["names"]:
            return self._spelled(name, shift)
        key = (self.printmethod, name, shift)  # the same few names, printed again and again
        try:
            return _NAMES[key]
        except KeyError:
            if len(_NAMES) >= 4096:
                _NAMES.clear()
            text = _NAMES[key] = self._spelled(name, shift)
            return text

    def _spelled(self, name: str, shift: int) -> str:
        if self.printmethod == "_latex":
            return renumber_latex(latex_name(name, self._settings["names"]), shift)
        # a builder's a0 = x shown from 0 is a₋₁: "a_(−1)" in text, never "a-1" (a minus one)
        return re.sub(r"-(\d+)", r"_(−\1)", text_name(renumber(name, shift), self._settings["names"]))

    def _delta(self, t) -> str | None:
        """δ for the total derivative of the output with respect to a pre-activation, under the
        preset ``delta: true`` (δ, δ₁, δ⁽²⁾₁ for z, z1, z2_1; δ_s for another name s)."""
        n = self._notation()
        if not n.get("delta") or not t.abbreviate or t.of != n.get("output"):
            return None
        deltas = n.get("deltas") or {}
        if t.wrt not in deltas:
            return None
        if deltas[t.wrt]:
            return self._name(deltas[t.wrt])
        sub = self._name(t.wrt)
        return f"\\delta_{{{sub}}}" if self.printmethod == "_latex" else f"δ_{sub}"

    def _print_Ordinal(self, o: Ordinal):
        return str(o.number)  # a layer: from 1 under either index base (the input is layer 0)

    def _total_symbol(self) -> str:
        """The notation preset's symbol for total derivatives: "∂" (default) or "d"."""
        return (self._settings["notation"] or {}).get("total", "∂")

    def _entry(self, v) -> str:
        """A matrix entry: a number, a ``Value`` with the digits its table row needs, or a
        ``Carried`` number with the extra digits a later line needs."""
        if isinstance(v, Value):
            return self._plain(precision=v.digits).number(v.number) if v.digits else self.number(v.number)
        if isinstance(v, Carried):
            return self._plain(precision=self._settings["precision"] + v.extra, fractions=True).number(v.number)
        return self.number(v)

    def _print_Value(self, v: Value):
        if v.digits is not None:  # just enough digits to tell two values apart
            return self._plain(precision=v.digits).number(v.number)
        form = exact_form(v.number) if self._settings["exact"] else None
        if form is not None:
            approx_sign = self.RELATIONS.get("≈", "≈")
            return f"{self._plain().doprint(form)} {approx_sign} {self.number(v.number)}"
        return self.number(v.number)

    def _print_Subst(self, s: Subst):
        """The expression with its symbols replaced by numbers, not evaluated: 3 · 2 + 1."""
        return self._plain(values=dict(s.values),
                           precision=self._settings["precision"] + self._settings.get("carry", 0)).doprint(s.expr)

    def _print_Vector(self, v: Vector):
        text = ", ".join(self._print(item) for item in v.items)
        return self._bracketed(text) if v.brackets else text

    def _print_Row(self, r: Row):
        return self.ROW_GAP.join(self._print(item) for item in r.items)

    def _function_name(self, name: str) -> str:
        """A registry function's name (σ, ReLU), or a general f as a plain symbol."""
        spec = FUNCTIONS.get(name)
        if spec is not None:
            return spec.latex if isinstance(self, LatexPrinter) else spec.unicode
        return self._print(sp.Symbol(name))

    def _print_Chain(self, c: Chain):
        out = []
        items = c.items
        # a member combining shown numbers shows enough digits to give the shown result
        carries, approximate = (member_carries(items, self._settings["precision"], self._settings.get("carry", 0))
                                if len(items) > 2 and any(isinstance(i, Value) for i in items) else ({}, set()))
        wider = {}
        for i, item in enumerate(items):
            if not isinstance(item, str):
                if i in carries:
                    if carries[i] not in wider:
                        settings = {k: self._settings[k] for k in self._default_settings}
                        wider[carries[i]] = type(self)({**settings, "fractions": True,
                                                        "precision": self._settings["precision"] + carries[i]})
                    text = wider[carries[i]]._print(item)
                else:
                    text = self._print(item)
                if len(out) >= 2 and out[-1].strip() in ("=", "\\approx", "≈") and text == out[-2]:
                    out.pop()  # "∂y/∂x = 40 = 40": the second member adds nothing
                    continue
                out.append(text)
                continue
            relation = item
            following = items[i + 1] if i + 1 < len(items) else None
            shown = following.items if isinstance(following, Vector) else (following,)
            if relation == "=" and shown and all(isinstance(v, Value) for v in shown) and any(
                    not _exact(v.number) and not (self._settings["exact"] and exact_form(v.number) is not None)
                    for v in shown):
                relation = "≈"  # the value shown is rounded
            if relation == "=" and i in approximate:
                relation = "≈"  # the shown numbers give the result only to its digits
            out.append(f" {self.RELATIONS.get(relation, relation)} ")
        return "".join(out)


class LatexPrinter(_HandWritten, _SympyLatex):
    """The one LaTeX printer. Settings: ``names`` (symbol -> LaTeX), ``values`` (symbol -> number,
    printed in place of the symbol), ``precision`` (significant digits of ≈ values)."""

    _default_settings = dict(_SympyLatex._default_settings, names=None, values=None, precision=4,
                             order="none", exact=False, notation=None, carry=0,
                             fractions=False)
    RELATIONS = {"≈": "\\approx", "≥": "\\ge", "≤": "\\le", "→": "\\to", "∝": "\\propto", "~": "\\sim",
                 "·": "\\cdot"}
    ROW_GAP = ", \\qquad "

    def _bracketed(self, text: str) -> str:
        return f"\\left({text}\\right)"

    # -- numbers --

    def number(self, value) -> str:
        if isinstance(value, Value):  # a substituted number with the digits its line gives it
            return self._plain(precision=value.digits).number(value.number) if value.digits \
                else self.number(value.number)
        if self._settings.get("fractions") and short_fraction(value) is not None:
            return self._print_Rational(value)  # 1/3 in a combining line: exact, unlike 0.3333
        text = format_number(value, self._settings["precision"])
        sci = _scientific(text)
        if sci:
            mantissa, exponent = sci
            text = f"{mantissa} \\times 10^{{{exponent}}}"
        return text.replace("-", "-", 1)

    def _print_Rational(self, expr):
        if expr.q == 1:
            return str(expr.p)
        if 10 ** len(str(expr.q)) // 10 == expr.q or expr.q in (4, 8, 20, 25, 40, 50):
            text = terminating_decimal(expr)
            if text is not None:
                return text
        sign = "- " if expr.p < 0 else ""
        return f"{sign}\\frac{{{abs(expr.p)}}}{{{expr.q}}}"

    def _print_Quantity(self, expr):
        return self.number(expr)

    # -- names and substitution --

    def _print_Symbol(self, expr, style="plain"):
        values = self._settings["values"]
        if values and expr in values:
            v = values[expr]
            text = self.number(v)
            bare = expr is getattr(self, "_bare_arg", None)
            return f"\\left({text}\\right)" if text.startswith("-") and not bare else text
        return self._name(expr.name)

    # -- functions of the registry --

    def _print_Function(self, expr, exp=None):
        spec = BY_CLASS.get(type(expr))
        if isinstance(expr, AppliedUndef):  # a general f(z) of a textbook rule
            args = ", ".join(self._bare(a) for a in expr.args)
            return f"{latex_name(expr.func.__name__)}\\left({args}\\right)"
        if spec is None or isinstance(expr, (sp.exp, sp.log, sp.tanh, sp.Abs)):
            # SymPy's own layout; a substituted negative argument needs no second bracket:
            # \tanh(-2.088), not \tanh((-2.088))
            self._bare_arg = expr.args[0] if len(expr.args) == 1 else None
            try:
                return super()._print_Function(expr, exp)
            finally:
                self._bare_arg = None
        args = self._arguments(expr, spec)
        name = spec.latex
        if exp is not None:
            name = f"{name}^{{{exp}}}"
        if all(a.is_Atom for a in expr.args):  # σ(z), not σ\left(z\right): tighter, as by hand
            return f"{name}({args})"
        return f"{name}\\left({args}\\right)"

    def _print_Indicator(self, expr, exp=None):
        # a bold one: one glyph in every format (pdflatex, MathJax, MathML), no font package, no
        # macro a fragment's host document must define
        return f"\\mathbf{{1}}\\left[{self._print(expr.args[0])}\\right]"

    def _print_Where(self, expr, exp=None):
        """where(c, a, b) as a lecturer writes it: cases."""
        condition, a, b = expr.args
        return (f"\\begin{{cases}} {self._print(a)}, & {self._print(condition)} \\\\ "
                f"{self._print(b)}, & \\text{{otherwise}} \\end{{cases}}")

    def _print_exp(self, expr, exp=None):
        inner = self._bare(expr.args[0])  # e^{-2.5}: the exponent's braces already group it
        base = f"e^{{{inner}}}"
        return f"\\left({base}\\right)^{{{exp}}}" if exp else base

    # -- products written by hand: ½(a − y)², 3 · 2, \frac{x}{2} --

    def _print_Mul(self, expr):
        values = self._settings["values"]
        dot = " \\cdot " if values else " "
        coeff, numerator, denominator = _split_product(expr)
        if not numerator and not denominator:
            return self._print(coeff)

        def join(parts):
            out = []
            for p in parts:
                text = self._print(p)
                if p.is_Add or (p.is_Mul and not values and _inner_product_grouped(p)) \
                        or (p.is_Rational and p < 0):
                    text = f"\\left({text}\\right)"
                out.append(text)
            sep = dot
            if not values and all(p.is_Symbol or p.is_Function or p.is_Pow for p in parts):
                sep = " "
            if sep == " " and len(out) > 1 and (any(_multi_letter(t) for t in out)
                                                or any(a == b for a, b in zip(parts, parts[1:]))):
                sep = " \\cdot "  # lam · w1, not lamw1; x · x, not xx
            return sep.join(out)

        sign = ""
        if coeff.is_negative:
            sign, coeff = "- ", -coeff
        body = join(numerator) if numerator else "1"
        if denominator:
            if len(numerator) == 1 and numerator[0].is_Add and not (coeff.is_Integer and coeff != 1):
                body = self._print(numerator[0])  # the fraction bar brackets it: \frac{a - y}{…}
            if coeff.is_Integer and coeff != 1:
                body = f"{coeff}{dot}{body}" if numerator else str(coeff)
                coeff = sp.S.One
            elif len(numerator) == 1 and (numerator[0].is_Add or not sign):
                # the fraction bar groups it: \frac{1 - y}{1 - p}, \frac{-2.625}{1.781}
                body = self._bare(numerator[0])
            # A lone sum in a fraction's denominator needs no brackets: \frac{2}{n + m}.
            den = self._bare(denominator[0]) if len(denominator) == 1 else join(denominator)
            body = f"\\frac{{{body}}}{{{den}}}"
        if coeff == 1:
            return sign + body
        # a number before the indicator takes a dot: 0.1 · 𝟏[z ≤ 0], never 0.1𝟏 (read 0.11)
        indicator = bool(numerator) and isinstance(numerator[0], Indicator)
        sep = " \\cdot " if indicator else (dot if (values or coeff.is_Integer) else " ")
        slope = terminating_decimal(coeff, 4) if indicator and coeff.q % 5 == 0 else None
        # a gate's slope as the decimal α is given as (0.2, not 1/5), the same in every format
        return f"{sign}{slope or self._print(coeff)}{sep}{body}"

    def _print_Pow(self, expr):
        if expr.exp == 1:  # a power rule's x^(2−1), kept unevaluated: x
            return self._print(expr.base)
        if _named_power(expr):  # tanh^2(z), as by hand, not (tanh(z))^2
            return self._print_Function(expr.base, exp=self._print(expr.exp))
        if expr.exp == sp.S.Half:
            return f"\\sqrt{{{self._print(expr.base)}}}"
        if expr.exp == -1:
            return f"\\frac{{1}}{{{self._print(expr.base)}}}"
        base = self._print(expr.base)
        b = expr.base
        if b.is_Add or b.is_Mul or b.is_Pow or isinstance(b, Layered) or (b.is_Rational and (b.q != 1 or b < 0)):
            base = f"\\left({base}\\right)"
        elif "^" in base:  # a layered name a^{(1)}_{1}: a second superscript needs a group
            base = f"{{{base}}}"
        return f"{base}^{{{self._print(expr.exp)}}}"

    # -- the derivation's math objects --

    def _print_Piecewise(self, expr, exp=None):
        r"""Cases as a lecturer writes them: ``z, & z > 0 \\ 0, & z \le 0``; the last condition
        "otherwise" is written out when it is the negation of the one before (z ≤ 0)."""
        otherwise = "\\text{otherwise}"
        rows = [f"{self._print(e)}, & {otherwise if c is None else self._print(c)}"
                for e, c in _cases(expr)]
        return "\\begin{cases} " + " \\\\ ".join(rows) + " \\end{cases}"

    def _print_OneLine(self, e, exp=None):
        out = []
        for v, c in e.args[0].args:
            if c is sp.true:
                out.append(f"\\text{{, else }} {self._print(v)}")
            else:
                out.append(("\\text{, } " if out else "") + f"{self._print(v)} \\text{{ if }} {self._print(c)}")
        return "".join(out)

    def _print_Derivative(self, expr):
        """d/dx f(x) (∂/∂a for one of several variables), the operator in front."""
        d = "\\partial " if len(expr.expr.free_symbols) > 1 else "d"
        below = " ".join(f"{d}{self._print(v)}" for v in expr.variables)
        body = self._print(expr.expr)
        if expr.expr.is_Add:
            body = f"\\left({body}\\right)"
        return f"\\frac{{{d.strip()}}}{{{below}}} {body}"

    def _print_Partial(self, p: Partial):
        text = f"\\frac{{\\partial {self._name(p.of)}}}{{\\partial {self._name(p.wrt)}}}"
        if p.direct and self._total_symbol() == "∂":  # the total is written with ∂ too: mark this one
            return f"\\left.{text}\\right|_{{\\mathrm{{direct}}}}"
        return text

    def _print_Total(self, t: Total):
        delta = self._delta(t)
        if delta is not None:
            return delta
        d = "\\partial " if self._total_symbol() == "∂" else "d"
        return f"\\frac{{{d}{self._name(t.of)}}}{{{d}{self._name(t.wrt)}}}"

    def _print_Prime(self, p: Prime):
        arg = self._print(p.arg)
        name = self._function_name(p.function)
        atom = getattr(p.arg, "is_Atom", True)  # a shown number (Value) is one
        return f"{name}'({arg})" if atom else f"{name}'\\left({arg}\\right)"

    # -- textbook notation (derive.core.notation) --

    def _print_Norm(self, e, exp=None):
        return f"\\lVert {self._print(e.args[0])} \\rVert"

    def _square_brackets(self, e) -> str:
        """[x]; stretched only around something tall (a fraction, a sum)."""
        inner = self._print(e.args[0])
        return f"\\left[{inner}\\right]" if "\\frac" in inner or "\\sum" in inner else f"[{inner}]"

    def _print_Expectation(self, e, exp=None):
        return f"\\mathbb{{E}}{self._square_brackets(e)}"

    def _print_Variance(self, e, exp=None):
        return f"\\operatorname{{Var}}{self._square_brackets(e)}"

    def _print_StdDev(self, e, exp=None):
        return f"\\operatorname{{std}}{self._square_brackets(e)}"

    def _print_Normal(self, e, exp=None):
        return f"\\mathcal{{N}}\\left({self._print(e.args[0])}, {self._print(e.args[1])}\\right)"

    def _over(self, symbol: str, e) -> str:
        body, index, *bounds = e.args
        below = self._print(index) + (f" = {self._print(bounds[0])}" if bounds else "")
        above = f"^{{{self._print(bounds[1])}}}" if bounds else ""
        inner = self._print(body)
        if body.is_Add:
            inner = f"\\left({inner}\\right)"
        return f"{symbol}_{{{below}}}{above} {inner}"

    def _print_SumOver(self, e, exp=None):
        return self._over("\\sum", e)

    def _print_ProductOver(self, e, exp=None):
        return self._over("\\prod", e)

    def _index(self, index, sep: str) -> str:
        if isinstance(index, sp.Tuple):
            if any(not i.is_Symbol for i in index):
                sep = ","  # p_{y_b, b}: an index that is not one letter needs the comma
            return sep.join(self._print(i) for i in index)
        return self._print(index)

    def _print_Layered(self, e, exp=None):
        base, layer, *index = e.args
        text = f"{self._print(base)}^{{({self._print(layer)})}}"
        return text + (f"_{{{self._index(index[0], ',')}}}" if index else "")

    def _print_Indexed(self, e, exp=None):
        return f"{self._print(e.args[0])}_{{{self._index(e.args[1], '')}}}"

    def _print_Hat(self, e, exp=None):
        return f"\\hat{{{self._print(e.args[0])}}}"

    def _print_Ones(self, e, exp=None):
        return "\\mathbf{1}"

    def _print_Nabla(self, e, exp=None):
        return f"\\nabla {self._print(e.args[0])}"

    def _print_PartialOf(self, e, exp=None):
        return f"\\frac{{\\partial {self._print(e.args[0])}}}{{\\partial {self._print(e.args[1])}}}"

    def _print_TotalOf(self, e, exp=None):
        d = "\\partial " if self._total_symbol() == "∂" else "d"
        return f"\\frac{{{d}{self._print(e.args[0])}}}{{{d}{self._print(e.args[1])}}}"

    def _print_Note(self, n: Note):
        text = "".join("\\" + c if c in "&%$#_{}" else c for c in n.text)
        return f"\\quad\\text{{({text})}}"

    def _print_Remark(self, r: Remark):
        def words(text):
            return "\\text{" + "".join("\\" + c if c in "&%$#_{}" else c for c in text) + "}"
        # brackets in math: no space between "(" and an operator name after it, and TeX may break
        # the remark after its relations when the display is too wide
        return "\\quad(" + _fill(r, self._print, words) + ")"


    def _print_Product(self, p: Product):
        if len(p.factors) == 1:  # one factor is no product: −0.24, not \left(-0.24\right)
            return self._print(p.factors[0])
        if len(p.factors) == 2 and p.factors[0] is sp.S.NegativeOne and not isinstance(
                p.factors[1], (Sum, Value)):  # a negated matrix term: −onehot(Y), not −1 · onehot(Y)
            return "-" + self._print_factor(p.factors[1])
        parts = [self._print_factor(f) for f in p.factors]
        if p.elide and len(parts) > 2 * p.elide + 1:
            parts = parts[:p.elide] + ["\\cdots"] + parts[-p.elide:]
        return " \\cdot ".join(parts)

    def _print_factor(self, f):
        text = self._print(f)
        if (isinstance(f, Value) and text.startswith("-")) or isinstance(f, Sum) or (
                isinstance(f, sp.Basic) and f.is_Add):
            return f"\\left({text}\\right)"
        return text

    # -- matrices --

    def _print_MatrixValue(self, m: MatrixValue):
        more_rows, more_cols = m.elided()
        lines = []
        for i, row in enumerate(m.rows):
            cells = [self._entry(v) for v in row]
            if more_cols:
                cells = cells[:3] + ["\\cdots"] + cells[3:]
            lines.append(" & ".join(cells))
            if more_rows and i == 2:
                dots = ["\\vdots"] * len(cells)
                if more_cols:
                    dots[3] = "\\ddots"
                lines.append(" & ".join(dots))
        body = " \\\\ ".join(lines)
        text = f"\\begin{{bmatrix}} {body} \\end{{bmatrix}}"
        if more_rows or more_cols:
            # the shape subscripts the whole bracketed matrix: one group, so MathML's <msub> gets
            # one base (the brackets and the table), not the brackets and table as three
            text = f"{{{text}}}_{{{m.shape[0]} \\times {m.shape[1]}}}"
        return text

    def _matrix_factor(self, f, first: bool = True) -> str:
        """A factor of a matrix or entrywise product: bracketed when it is a sum, a product with
        · or a quotient, or (after the first) when it has a sign — 𝟏ᵀ (−z/T² · g) 𝟏, never
        𝟏ᵀ −z/T² · g 𝟏."""
        from ..core.matrixmath import Hadamard, Scaled
        text = self._print(f)
        if isinstance(f, (Sum, Hadamard, Scaled)) or (isinstance(f, sp.Basic) and f.is_Add) or (
                isinstance(f, Product) and len(f.factors) > 1 and not (
                    len(f.factors) == 2 and f.factors[0] is sp.S.NegativeOne and first)) or (
                not first and text.startswith("-")):
            return f"\\left({text}\\right)"
        return text

    def _print_MatProduct(self, p: MatProduct):
        return " ".join(self._matrix_factor(f, i == 0) for i, f in enumerate(p.factors))

    def _print_Hadamard(self, p: Hadamard):
        from ..core.matrixmath import MatProduct
        return " \\odot ".join(f"\\left({self._print(f)}\\right)" if isinstance(f, MatProduct)
                                else self._matrix_factor(f, i == 0) for i, f in enumerate(p.factors))

    def _print_Transposed(self, t: Transposed):
        from ..core.matrixmath import MatProduct
        inner = self._matrix_factor(t.operand)
        if isinstance(t.operand, (Partial, MatProduct, Layered)):
            inner = f"\\left({self._print(t.operand)}\\right)"
        return f"{inner}^{{\\top}}"

    def _print_BatchSum(self, b: BatchSum):
        return f"\\sum_{{\\text{{batch}}}} {self._matrix_factor(b.operand)}"

    def _print_Scaled(self, s: Scaled):
        return f"\\frac{{{self._print(s.operand)}}}{{{self._print(s.divisor)}}}"

    def _print_Entry(self, e: Entry):
        entry = f"\\left({self._name(e.name)}\\right)_{{{','.join(map(str, e.indices))}}}"
        if e.of:
            return f"\\frac{{\\partial {self._name(e.of)}}}{{\\partial {entry}}}"
        return entry

    def _print_ShapeOf(self, s: ShapeOf):
        return "\\text{scalar}" if s.shape == () else " \\times ".join(map(str, s.shape))

    def _print_Updated(self, u: Updated):
        return latex_name(f"{u.name}_new", self._settings["names"])


    def _print_TensorCall(self, c: TensorCall):
        return f"{c.latex}\\left({', '.join(self._print(a) for a in c.args)}\\right)"

    def _print_Dots(self, d: Dots):
        return "\\cdots"

    def _print_Relational(self, expr):
        ops = {"<": "<", "<=": "\\le", ">": ">", ">=": "\\ge", "==": "=", "!=": "\\ne"}
        return f"{self._bare(expr.lhs)} {ops[expr.rel_op]} {self._bare(expr.rhs)}"

    def _print_And(self, expr):
        """Conditions that all hold, as in 𝟙[a ≥ b, a ≥ c] (max's gate)."""
        return ",\\ ".join(self._print(a) for a in expr.args)

    def _print_sign(self, expr, exp=None):
        return f"\\operatorname{{sign}}\\left({self._bare(expr.args[0])}\\right)"

    def _print_Abs(self, expr, exp=None):
        text = f"\\left|{self._bare(expr.args[0])}\\right|"
        return f"{text}^{{{exp}}}" if exp else text


def _fill(remark, math, words) -> str:
    """A remark's template with its words passed through ``words`` and its holes printed by
    ``math``; empty words are dropped."""
    out = []
    for part in re.split(r"(\{\d+\})", remark.template):
        hole = re.fullmatch(r"\{(\d+)\}", part)
        if hole:
            out.append(math(remark.math[int(hole.group(1))]))
        elif part:
            out.append(words(part))
    return "".join(out)


def _cases(expr) -> list:
    """The (value, condition) rows of a ``Piecewise``; the condition of a last "otherwise" row is
    the negation of the row before when that reads as one relation (z ≤ 0), else None."""
    rows = [(e, c) for e, c in expr.args]
    out = []
    for i, (e, c) in enumerate(rows):
        if c is sp.true:
            negation = sp.Not(rows[i - 1][1]) if i == 1 else None
            c = negation if isinstance(negation, sp.core.relational.Relational) else None
        out.append((e, c))
    return out


def _named_power(expr) -> bool:
    """f(z)^n for a named function (tanh, σ, sin …) and a small positive integer n: printed f^n(z)."""
    base = expr.base
    return (isinstance(base, sp.Function) and not isinstance(base, (sp.exp, sp.Abs, Indicator))
            and BY_CLASS.get(type(base)) is not None and expr.exp.is_Integer and 1 < expr.exp < 10)


def _grouped(text: str, power: bool = False, below: bool = True) -> str:
    """``text`` as one side of a slash on one line: bracketed when it has more than one term or
    factor (a space, a slash, a sign inside — a leading sign too ``below`` the slash), unless it
    is one bracketed group already; with ``power``, a power such as (a + b)² is one group too."""
    if _one_group(text):
        return text
    if power and re.fullmatch(r"\(.*\)[⁰¹²³⁴⁵⁶⁷⁸⁹]+", text) and _one_group(text.rstrip("⁰¹²³⁴⁵⁶⁷⁸⁹")):
        return text  # (a + b)²
    body = text[1:] if text.startswith("−") and not below else text
    if _one_group(body):
        return text
    if any(c in body for c in " /·⊙+−"):
        return f"({text})"
    return f"({text})" if below and text.startswith("−") else text


def _decimal_coefficient(coeff) -> bool:
    """A rational written as a short decimal (0.1, 0.25, 0.01): shown as such in front of a
    product, the way the user typed it, rather than as a fraction bar over the whole product."""
    q = int(coeff.q)
    return q > 1 and 10 ** (len(str(q)) - 1) == q and abs(coeff) < 1


def _multi_letter(text: str) -> bool:
    """A name printed upright (mathrm, operatorname): juxtaposed, it would read as one word."""
    return text.startswith("\\mathrm") or text.startswith("\\operatorname")


def _exact(number) -> bool:
    from ..core.numbers import is_exact_display
    return is_exact_display(number)


def _hand_order(args) -> list:
    """SymPy sorts a number to the front of a sum (−1 + D); by hand it goes last (D − 1)."""
    args = list(args)
    if len(args) > 1 and args[0].is_Number and not args[1].could_extract_minus_sign():
        return args[1:] + args[:1]  # −1 + D -> D − 1, but 1 − σ(z) stays
    return args


_VULGAR = {(1, 2): "½", (1, 3): "⅓", (2, 3): "⅔", (1, 4): "¼", (3, 4): "¾", (1, 5): "⅕",
           (1, 8): "⅛"}


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_LETTER_SUPERSCRIPT = dict(zip("ijklmnt", "ⁱʲᵏˡᵐⁿᵗ"))
_SUBSCRIPT = dict(zip("0123456789+-−aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₋ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ"))


class TextPrinter(_HandWritten, StrPrinter):
    """The plain-text (Unicode) printer: σ(z)(1 − σ(z)), 𝟙[z > 0], ∂L/∂w, 3 · 2 + 1."""

    _default_settings = dict(StrPrinter._default_settings, names=None, values=None, precision=4,
                             order="none", exact=False, notation=None, carry=0,
                             fractions=False)
    MINUS = "−"
    RELATIONS = {"-": "−"}
    ROW_GAP = ",    "

    def _bracketed(self, text: str) -> str:
        return f"({text})"

    def number(self, value) -> str:
        if isinstance(value, Value):  # a substituted number with the digits its line gives it
            return self._plain(precision=value.digits).number(value.number) if value.digits \
                else self.number(value.number)
        if self._settings.get("fractions") and short_fraction(value) is not None:
            return self._print_Rational(value)  # 1/3 in a combining line: exact, unlike 0.3333
        text = format_number(value, self._settings["precision"])
        sci = _scientific(text)
        if sci:
            mantissa, exponent = sci
            text = f"{mantissa}×10{str(exponent).translate(_SUPERSCRIPT)}"
        return text.replace("-", "−")

    def _print_Rational(self, expr):
        text = terminating_decimal(expr) if 10 ** len(str(expr.q)) // 10 == expr.q else None
        if expr.q == 1:
            text = str(expr.p)
        return (text or f"{expr.p}/{expr.q}").replace("-", "−")

    def _print_Pi(self, expr):
        return "π"

    def _print_Integer(self, expr):
        return str(expr.p).replace("-", "−")

    def _print_Quantity(self, expr):
        return self.number(expr)

    def _print_Symbol(self, expr):
        values = self._settings["values"]
        if values and expr in values:
            text = self.number(values[expr])
            return f"({text})" if text.startswith("−") or "/" in text else text
        return self._name(expr.name)

    def _print_Function(self, expr):
        spec = BY_CLASS.get(type(expr))
        args = self._arguments(expr, spec)
        if isinstance(expr, sp.exp):
            arg = expr.args[0]  # e^(1/2), not e^1/2 (which reads back as e/2)
            simple = arg.is_Atom and not args.startswith("−") and not (arg.is_Rational and not arg.is_Integer)
            return f"e^{args}" if simple else f"e^({args})"
        name = spec.unicode if spec else expr.func.__name__
        return f"{name}({args})"

    def _print_Indicator(self, expr):
        return f"𝟙[{self._print(expr.args[0])}]"

    def _print_Min(self, expr):
        return f"min({', '.join(self._bare(a) for a in expr.args)})"

    def _print_Max(self, expr):
        return f"max({', '.join(self._bare(a) for a in expr.args)})"

    def _print_Abs(self, expr):
        return f"|{self._bare(expr.args[0])}|"

    def _print_Mul(self, expr):
        values = self._settings["values"]
        coeff, numerator, denominator = _split_product(expr)

        def join(parts):
            out = []
            for p in parts:
                text = self._print(p)
                if p.is_Add or (p.is_Rational and p < 0):
                    text = f"({text})"
                out.append(text)
            if values:
                return " · ".join(out)
            # By hand: wx, σ(z)(1 − σ(z)); a dot only where juxtaposition would be ambiguous.
            text = out[0]
            for prev, part, shown in zip(parts, parts[1:], out[1:]):
                tight = part.is_Add or (prev.is_Symbol and part.is_Symbol and len(shown) == 1
                                        and len(text.split(" ")[-1]) == 1 and prev != part)  # x · x, not xx
                text += ("" if tight else " · ") + shown
            return text

        sign = ""
        if coeff.is_negative:
            sign, coeff = "−", -coeff
        body = join(numerator) if numerator else ""
        if denominator:
            den = join(denominator)
            if (len(denominator) > 1 or denominator[0].is_Mul) and not _one_group(den):
                den = f"({den})"
            num = body or "1"
            if numerator and len(numerator) > 1:  # a lone sum is bracketed by join already
                num = f"({num})"
            if coeff.is_Integer and coeff != 1:
                num = f"{coeff} · {num}" if body else str(coeff)
                coeff = sp.S.One
            body = f"{num}/{den}"
        if coeff == 1:
            return sign + (body or "1")
        c = self._print(coeff)
        if not body:
            return sign + c
        if coeff.q != 1 and not denominator:
            gate = bool(numerator) and isinstance(numerator[0], Indicator)
            # a fifth or a tenth as written (0.2, 0.05); ½ and ¼ stay the fractions they read as
            slope = terminating_decimal(coeff, 4) if gate and coeff.q % 5 == 0 else None
            if slope is not None:  # 0.2·𝟙[z ≤ 0]: a gate's slope as the decimal α is given as
                return f"{sign}{slope}{' · ' if values else '·'}{body}"
            vulgar = _VULGAR.get((int(coeff.p), int(coeff.q)))
            if vulgar and not values:  # ⅓·𝟙[z ≤ 0]: a dot before the indicator, as tex/html
                return f"{sign}{vulgar}{'·' if gate else ''}{body}"
            if not values and _decimal_coefficient(coeff):
                return f"{sign}{c}·{body}"  # 0.1·𝟙[z ≤ 0], as the user wrote the slope
            if not values:
                top = body if coeff.p == 1 else f"{coeff.p}{body}"
                if len(numerator) > 1 or numerator[0].is_Add:
                    top = f"({top})" if coeff.p != 1 or len(numerator) > 1 else top
                return f"{sign}{top}/{coeff.q}"
        if coeff.q != 1:
            c = f"({c})" if "/" in c else c
        sep = " · " if values or not (numerator and numerator[0].is_Add) else ""
        if not values and coeff.q == 1 and not (numerator and numerator[0].is_Number):
            sep = "·" if numerator and isinstance(numerator[0], Indicator) else ""  # 2·𝟙[z > 0]
        return f"{sign}{c}{sep}{body}"

    def _print_Pow(self, expr, rational=False):
        if expr.exp == 1:  # a power rule's x^(2−1), kept unevaluated: x
            return self._print(expr.base)
        if _named_power(expr):  # tanh²(z), as by hand
            text = self._print(expr.base)
            cut = text.index("(")
            return text[:cut] + str(expr.exp).translate(_SUPERSCRIPT) + text[cut:]
        if expr.exp == sp.S.Half:
            inner = self._print(expr.base)
            return f"√{inner}" if expr.base.is_Atom else f"√({inner})"
        if expr.exp == -1:
            base = self._print(expr.base)
            return f"1/({base})" if not expr.base.is_Atom else f"1/{base}"
        if expr.exp.is_Integer and expr.exp < 0:  # 1/(a + b)², not (a + b)^−2
            return f"1/{_grouped(self._print(sp.Pow(expr.base, -expr.exp, evaluate=False)), power=True)}"
        base = self._print(expr.base)
        if isinstance(expr.base, sp.Abs):  # |z|³: the bars already group it
            pass
        elif isinstance(expr.base, Notation) and not isinstance(expr.base, (SumOver, ProductOver)):
            pass  # ‖g‖², wₗ², E[a]²: the notation groups it already
        elif not expr.base.is_Atom or base.startswith("−") or base.startswith("("):
            base = base if base.startswith("(") and base.endswith(")") and expr.base.is_Symbol else f"({base})"
        if expr.exp.is_Integer and 0 <= expr.exp <= 999:
            return base + str(expr.exp).translate(_SUPERSCRIPT)
        if expr.exp.is_Symbol and expr.exp.name in _LETTER_SUPERSCRIPT:  # β₁ᵗ: an index as exponent
            return base + _LETTER_SUPERSCRIPT[expr.exp.name]
        exponent = self._print(expr.exp)
        if not expr.exp.is_Atom or (expr.exp.is_Rational and not expr.exp.is_Integer):  # x^(−1/2), not x^−1/2
            exponent = f"({exponent})"
        return f"{base}^{exponent}"

    def _print_Relational(self, expr):
        ops = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "=", "!=": "≠"}
        return f"{self._bare(expr.lhs)} {ops[expr.rel_op]} {self._bare(expr.rhs)}"

    def _print_And(self, expr):
        return ", ".join(self._print(a) for a in expr.args)

    def _print_Piecewise(self, expr):
        """z if z > 0, else 0."""
        parts = [f"else {self._print(e)}" if c is sp.true else f"{self._print(e)} if {self._print(c)}"
                 for e, c in expr.args]
        return ", ".join(parts)

    def _print_OneLine(self, e):
        return self._print(e.args[0])

    def _print_Derivative(self, expr):
        """d/dx eˣ-style: d/dx f(x), or ∂/∂a f(a, b) for one of several variables."""
        d = "∂" if len(expr.expr.free_symbols) > 1 else "d"
        below = "".join(f"{d}{self._print(v)}" for v in expr.variables)
        body = self._print(expr.expr)
        return f"{d}/{below} " + (f"({body})" if expr.expr.is_Add else body)

    def _print_Partial(self, p: Partial):
        text = f"∂{self._name(p.of)}/∂{self._name(p.wrt)}"
        return f"{text}|direct" if p.direct and self._total_symbol() == "∂" else text

    def _print_Total(self, t: Total):
        delta = self._delta(t)
        if delta is not None:
            return delta
        d = self._total_symbol()
        return f"{d}{self._name(t.of)}/{d}{self._name(t.wrt)}"

    def _print_Prime(self, p: Prime):
        return f"{self._function_name(p.function)}'({self._print(p.arg)})"

    # -- textbook notation (derive.core.notation) --

    def _print_Norm(self, e):
        return f"‖{self._print(e.args[0])}‖"

    def _print_Expectation(self, e):
        return f"E[{self._print(e.args[0])}]"

    def _print_Variance(self, e):
        return f"Var[{self._print(e.args[0])}]"

    def _print_StdDev(self, e):
        return f"std[{self._print(e.args[0])}]"

    def _print_Normal(self, e):
        return f"N({self._print(e.args[0])}, {self._print(e.args[1])})"

    def _over(self, symbol: str, e) -> str:
        body, index, *bounds = e.args
        below = self._print(index)
        if bounds:
            below = f"{{{below}={self._print(bounds[0])}..{self._print(bounds[1])}}}"
        inner = self._print(body)
        return f"{symbol}_{below} " + (f"({inner})" if body.is_Add else inner)

    def _print_SumOver(self, e):
        return self._over("Σ", e)

    def _print_ProductOver(self, e):
        return self._over("∏", e)

    def _index(self, index, sep: str) -> str:
        if isinstance(index, sp.Tuple):
            if any(not i.is_Symbol for i in index):
                sep = ","  # p_{y_b, b}: an index that is not one letter needs the comma
            return sep.join(self._print(i) for i in index)
        return self._print(index)

    def _print_Layered(self, e):
        base, layer, *index = e.args
        layer_text = self._print(layer).replace(" ", "")  # a(l−1), tight as by hand
        text = self._print(base) + (layer_text if layer.is_Integer else f"({layer_text})")
        return text + (f"_{self._index(index[0], ',')}" if index else "")

    def _print_Indexed(self, e):
        base, index = self._print(e.args[0]), self._index(e.args[1], "").replace(" ", "")
        if all(c in _SUBSCRIPT for c in index):  # θₜ₋₁, wᵢ
            return base + "".join(_SUBSCRIPT[c] for c in index)
        # a compound subscript bracketed: p_(y+1), p_(y_b,b), never p_y+1 (read as p_y + 1)
        return f"{base}_{index}" if index.isalnum() else f"{base}_({index})"

    def _print_Hat(self, e):
        return self._print(e.args[0]) + "\u0302"

    def _print_Ones(self, e):
        return "𝟏"

    def _print_Nabla(self, e):
        return f"∇{self._print(e.args[0])}"

    def _print_PartialOf(self, e):
        return f"∂{self._print(e.args[0])}/∂{self._print(e.args[1])}"

    def _print_TotalOf(self, e):
        d = self._total_symbol()
        return f"{d}{self._print(e.args[0])}/{d}{self._print(e.args[1])}"

    def _print_Note(self, n: Note):
        return f"   ({n.text})"

    def _print_Remark(self, r: Remark):
        return " " + _fill(Remark(f"({r.template})", r.math), self._print, lambda text: text)


    def _print_Product(self, p: Product):
        if len(p.factors) == 1:  # one factor is no product: −0.24, not (−0.24)
            return self._print(p.factors[0])
        if len(p.factors) == 2 and p.factors[0] is sp.S.NegativeOne and not isinstance(
                p.factors[1], (Sum, Value)):  # a negated matrix term: −onehot(Y), not −1 · onehot(Y)
            return "−" + self._print(p.factors[1])
        parts = []
        for f in p.factors:
            text = self._print(f)
            wrap = (isinstance(f, Value) and (text.startswith("−") or "/" in text)) or isinstance(f, Sum) or (
                isinstance(f, sp.Basic) and f.is_Add)
            parts.append((f"[{text}]" if text.startswith("(") else f"({text})") if wrap else text)
        if p.elide and len(parts) > 2 * p.elide + 1:
            parts = parts[:p.elide] + ["…"] + parts[-p.elide:]
        return " · ".join(parts)

    def _print_sign(self, expr):
        return f"sign({self._bare(expr.args[0])})"

    # -- matrices: one line, rows separated by ; --

    def _print_MatrixValue(self, m: MatrixValue):
        more_rows, more_cols = m.elided()
        rows = []
        for i, row in enumerate(m.rows):
            cells = [self._entry(v) for v in row]
            if more_cols:
                cells = cells[:3] + ["…"] + cells[3:]
            rows.append(", ".join(cells))
            if more_rows and i == 2:
                rows.append("⋮")
        text = "[" + "; ".join(rows) + "]"
        if more_rows or more_cols:
            text += f" ({m.shape[0]}×{m.shape[1]})"
        return text

    def _matrix_factor(self, f, first: bool = True) -> str:
        """A factor of a matrix or entrywise product: bracketed when it is a sum, a product with
        · or a quotient, or (after the first) when it has a sign — 𝟏ᵀ (−z/T² · g) 𝟏, never
        𝟏ᵀ −z/T² · g 𝟏."""
        from ..core.matrixmath import Hadamard, Scaled
        text = self._print(f)
        if isinstance(f, (Sum, Hadamard, Scaled)) or (isinstance(f, sp.Basic) and f.is_Add) or (
                isinstance(f, Product) and len(f.factors) > 1 and not (
                    len(f.factors) == 2 and f.factors[0] is sp.S.NegativeOne and first)) or (
                not first and text.startswith(("−", "-"))):
            return f"({text})"
        return text

    def _print_MatProduct(self, p: MatProduct):
        return " ".join(self._matrix_factor(f, i == 0) for i, f in enumerate(p.factors))

    def _print_Hadamard(self, p: Hadamard):
        from ..core.matrixmath import MatProduct
        return " ⊙ ".join(f"({self._print(f)})" if isinstance(f, MatProduct) else self._matrix_factor(f, i == 0)
                          for i, f in enumerate(p.factors))

    def _print_Transposed(self, t: Transposed):
        from ..core.matrixmath import MatProduct
        inner = self._matrix_factor(t.operand)
        if isinstance(t.operand, (Partial, MatProduct, Layered)):
            inner = f"({self._print(t.operand)})"
        return f"{inner}ᵀ"

    def _print_BatchSum(self, b: BatchSum):
        return f"Σ_batch {self._matrix_factor(b.operand)}"

    def _print_Scaled(self, s: Scaled):
        # a compound side of a slash is bracketed: (m ⊙ g)/(1 − p), (∂L/∂d)/(a + b), never
        # ∂L/∂d/a + b — on one line the slash binds only the nearest symbol
        divisor = self._print(s.divisor)
        if isinstance(s.divisor, sp.Mul) and not _one_group(divisor):
            divisor = f"({divisor})"  # x/(ab): juxtaposed factors are one side too
        return f"{_grouped(self._print(s.operand), below=False)}/{_grouped(divisor)}"

    def _print_Entry(self, e: Entry):
        entry = f"{self._name(e.name)}[{','.join(map(str, e.indices))}]"
        return f"∂{self._name(e.of)}/∂{entry}" if e.of else entry

    def _print_ShapeOf(self, s: ShapeOf):
        return "scalar" if s.shape == () else "×".join(map(str, s.shape))

    def _print_Updated(self, u: Updated):
        return f"{text_name(u.name, self._settings['names'])}⁽ⁿᵉʷ⁾"  # as LaTeX's W_1^(new)

    def _print_TensorCall(self, c: TensorCall):
        return f"{c.text}({', '.join(self._print(a) for a in c.args)})"

    def _print_Dots(self, d: Dots):
        return "…"


def printer_for(kind: str, names=None, precision: int = 4, exact: bool = False, notation=None,
                carry: int = 0):
    """A printer for ``kind`` ("latex" or "text"); ``exact`` shows exact forms before ≈;
    ``notation`` is the course's preset ({"total": "d" | "∂", …}); ``carry``: extra digits of
    rounded numbers substituted into a formula, so the shown arithmetic reproduces the shown
    result (homework sheets)."""
    settings = {"names": names, "precision": precision, "exact": exact, "notation": notation,
                "carry": carry}
    if kind == "latex":
        return LatexPrinter(settings)
    return TextPrinter(settings)


def exact_form(number):
    """The explicit exact form of a value for display (1/(1 + e^(−7))), or None if it is a plain
    number already or too large to be worth showing."""
    if _exact(number):
        return None
    from ..core.engine import public_form
    from ..core.engine import Quantity
    form = public_form(number)
    if form.has(Quantity) or sp.count_ops(form) > 12 or form.is_Rational and form.q > 10**6:
        return None
    return form


__all__ = ["LatexPrinter", "TextPrinter", "latex_name", "text_name", "printer_for", "Indicator", "renumber",
           "renumber_latex", "name_indices"]
