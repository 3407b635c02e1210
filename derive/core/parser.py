"""The equation language, parsed by a whitelist.

Nothing the user writes reaches ``eval``, ``exec``, ``sympify`` or ``parse_expr``. A small tokenizer
accepts numbers, names, ``+ - * / ** ^ ( ) ,`` (and comparisons where the caller allows them); a
precedence-climbing parser builds a tiny syntax tree of plain dataclasses; ``to_sympy`` turns that
tree into SymPy objects directly. Anything else is a ``ParseError`` with line and column.

Grammar (``^`` is a synonym of ``**``; ``-x**2`` is ``-(x**2)``; ``2**-1`` is allowed; ``@`` is the
matrix product, as binding as ``*``; ``.T`` transposes, binding tightest)::

    equation   := NAME '=' expr
    expr       := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?     # only where allowed
    sum        := product (('+' | '-') product)*
    product    := unary (('*' | '/' | '@') unary)*
    unary      := ('-' | '+') unary | power
    power      := postfix (('**' | '^') unary)?
    postfix    := atom ('.T')*
    atom       := NUMBER | NAME | NAME '(' arg (',' arg)* ')' | '(' expr ')'
    arg        := expr, or a comparison where the function takes one (``where(x > 0, x, 0)``),
                  or NAME '=' expr, last, for a function whose arguments have names
                  (``conv2d(x, k, padding=1)``: placed by name, the skipped ones defaulted)
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

import sympy as sp

from . import budget
from .errors import ParseError
from .numbers import parse_decimal

# Python keywords that are ordinary names in maths: λ is a regularisation strength. Nothing the user
# writes is ever executed, and the PyTorch export prefixes every name (v_lambda), so this is safe.
ALLOWED_KEYWORDS = frozenset({"lambda"})

# --- syntax tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: sp.Rational
    text: str
    column: int


@dataclass(frozen=True)
class Name:
    id: str
    column: int


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple
    column: int


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / ** and comparisons
    left: object
    right: object
    column: int


@dataclass(frozen=True)
class Neg:
    operand: object
    column: int


@dataclass(frozen=True)
class Transpose:
    """``x.T``: the transpose of a vector or matrix (tensor equations only)."""

    operand: object
    column: int


@dataclass(frozen=True)
class Equation:
    """One line ``name = expression`` of the user's text."""

    name: str
    tree: object
    line: int
    source: str  # the right-hand side as written


# --- tokenizer ------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>[ \t]+)
  | (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|<=|>=|==|!=|\.T(?![A-Za-z0-9_])|[-+*/^(),=<>@])
""", re.VERBOSE | re.ASCII)  # ASCII: `٣` is not a digit, U+2028 not a space

_FORBIDDEN = {
    "'": "strings are not allowed",
    '"': "strings are not allowed",
    "[": "subscripts and lists are not allowed; name each value (w1, w2, …)",
    "]": "subscripts and lists are not allowed",
    "{": "sets and dicts are not allowed",
    "}": "sets and dicts are not allowed",
    ".": "attribute access is not allowed; only plain names, registry functions and `.T`",
    ":": "`:` is not allowed (no lambdas, slices or annotations)",
    ";": "one equation per line; `;` is not allowed",
    "%": "`%` is not allowed",
    "&": "bitwise operators are not allowed",
    "|": "bitwise operators are not allowed; write abs(x) for |x|",
    "~": "bitwise operators are not allowed",
    "!": "`!` is not allowed",
}


@dataclass(frozen=True)
class Token:
    kind: str  # number, name, op, end
    text: str
    column: int  # 1-based


def tokenize(text: str, line: int, column0: int = 1) -> list[Token]:
    budget.check_brackets(text, lambda col: f"line {line}, column {column0 + col - 1}: expression")
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        col = column0 + pos
        if not m:
            ch = text[pos]
            if ch in _FORBIDDEN:
                raise ParseError(f"{_FORBIDDEN[ch]} (found `{ch}`)", line, col)
            raise ParseError(f"unexpected character `{ch}`", line, col)
        kind = m.lastgroup
        tok = m.group()
        if kind == "number" and m.end() < len(text) and (text[m.end()].isalpha() or text[m.end()] == "_"):
            raise ParseError(f"a number cannot run into a name (`{text[pos:m.end() + 1]}`); "
                             f"write a product with *, e.g. `2*x`", line, col)
        if kind == "name" and tok[0] == "_":
            raise ParseError(f"names may not start with `_` (found `{tok}`)", line, col)
        if kind == "name" and keyword.iskeyword(tok) and tok not in ALLOWED_KEYWORDS:
            raise ParseError(f"`{tok}` is a Python keyword and is not allowed; equations hold only "
                             f"numbers, names, + - * / ** and registry functions", line, col)
        if kind != "space":
            tokens.append(Token(kind, tok, col))
        pos = m.end()
    tokens.append(Token("end", "", column0 + len(text)))
    return tokens


# --- parser ---------------------------------------------------------------------------------

_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


def _unknown_function(name: str, functions) -> str:
    """``unknown function `sigmod` (did you mean `sigmoid`?); known functions: …``: a typo gets
    the nearest registry names (difflib), the list stays the registry's."""
    import difflib
    from .functions import FUNCTIONS
    candidates = sorted({f for f in list(FUNCTIONS) + list(functions or ()) if f.isidentifier()})
    near = difflib.get_close_matches(name, candidates, n=2, cutoff=0.7)
    mean = f" (did you mean {' or '.join(f'`{n}`' for n in near)}?)" if near else ""
    return f"unknown function `{name}`{mean}; known functions: {', '.join(sorted(FUNCTIONS))}"


class _Parser:
    def __init__(self, tokens: list[Token], line: int, functions, allow_comparison: bool,
                 names: frozenset | None = None):
        self.tokens, self.i, self.line = tokens, 0, line
        self.functions, self.allow_comparison = functions, allow_comparison
        self.depth = 0
        # answer mode (``names`` given: the example's names): products may be implicit
        # (2(a − y), σ(z)(1 − σ(z)), wx) and superscripts are powers (x², 10⁻²)
        self.names = names

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: Token | None = None):
        tok = tok or self.tok
        raise ParseError(message, self.line, tok.column)

    def take(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def expect(self, text: str):
        if self.tok.text != text:
            found = f"`{self.tok.text}`" if self.tok.kind != "end" else "the end of the line"
            self.error(f"expected `{text}`, found {found}")
        return self.take()

    def nest(self):
        self.depth += 1
        try:
            budget.check_nesting(self.depth, f"line {self.line}, column {self.tok.column}: expression")
        except budget.BudgetError as e:
            e.line, e.column = self.line, self.tok.column
            raise

    def parse(self):
        if self.tok.kind == "end":
            self.error("expected an expression, found nothing")
        node = self.expr()
        if self.tok.kind != "end":
            tok = self.tok
            if tok.text == "=":
                self.error("`=` may appear once per line, after the name being defined; "
                           "comparisons are not allowed here" if not self.allow_comparison
                           else "use == to compare")
            if tok.text in _COMPARISONS:
                self.error("comparisons are not allowed in equations")
            if tok.kind in ("name", "number") or tok.text == "(":
                self.error(f"missing operator before `{tok.text}` (write products with *)")
            self.error(f"unexpected `{tok.text}`")
        return node

    def expr(self):
        left = self.sum()
        if self.tok.text in _COMPARISONS:
            if not self.allow_comparison:
                self.error("comparisons are not allowed in equations")
            op = self.take()
            right = self.sum()
            if self.tok.text in _COMPARISONS:
                self.error("chained comparisons are not allowed; combine two constraints instead")
            return BinOp(op.text, left, right, op.column)
        return left

    def condition(self):
        """A comparison, where a function takes one (the first argument of ``where``)."""
        allowed, self.allow_comparison = self.allow_comparison, True
        try:
            return self.expr()
        finally:
            self.allow_comparison = allowed

    def sum(self):
        node = self.product()
        while self.tok.text in ("+", "-"):
            op = self.take()
            node = BinOp(op.text, node, self.product(), op.column)
        return node

    def product(self):
        node = self.unary()
        while self.tok.text in ("*", "/", "@") or self._implicit():
            if self.tok.text in ("*", "/", "@"):
                op = self.take()
                node = BinOp(op.text, node, self.unary(), op.column)
            else:  # juxtaposition: 2(a − y), x(1 − a)
                node = BinOp("*", node, self.power(), self.tok.column)
        return node

    def _implicit(self) -> bool:
        """In an answer, does the next token start a factor multiplied by juxtaposition?"""
        tok = self.tok
        return self.names is not None and (tok.kind in ("number", "name", "prefix", "bracket")
                                           or tok.text == "(")

    def unary(self):
        if self.tok.text in ("-", "+"):
            op = self.take()
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return Neg(operand, op.column) if op.text == "-" else operand
        return self.power()

    def power(self):
        base = self.atom()
        while self.tok.text == ".T":
            base = Transpose(base, self.take().column)
        if self.tok.kind == "sup":  # x², 10⁻²
            return BinOp("**", base, self.superscript(), self.tok.column)
        if self.tok.text in ("**", "^"):
            op = self.take()
            self.nest()
            exponent = self.unary()
            self.depth -= 1
            return BinOp("**", base, exponent, op.column)
        return base

    def superscript(self):
        tok = self.take()
        value = int(tok.text)
        number = Num(sp.Integer(abs(value)), str(abs(value)), tok.column)
        return Neg(number, tok.column) if value < 0 else number

    def atom(self):
        tok = self.tok
        if tok.kind == "prefix":  # √x, √(x + 1)
            self.take()
            self.nest()
            argument = self.power()
            self.depth -= 1
            return Call(tok.text, (argument,), tok.column)
        if (self.names is not None and tok.kind == "name" and tok.text in self.functions
                and (self.tokens[self.i + 1].kind == "sup" or self.tokens[self.i + 1].text in ("**", "^"))):
            # tanh²(z), \tanh^{2}(z): the power of a call, written before its argument
            self.take()
            if self.tok.kind == "sup":
                exponent = self.superscript()
            else:
                self.take()
                exponent = self.atom()
            if self.tok.text != "(":
                self.error(f"expected `(` after `{tok.text}`")
            return BinOp("**", self.call(tok), exponent, tok.column)
        if tok.kind == "number":
            self.take()
            try:
                value = parse_decimal(tok.text)
            except budget.BudgetError as e:
                raise e.located(f"line {self.line}, column {tok.column}") from None
            return Num(value, tok.text, tok.column)
        if tok.kind == "name":
            self.take()
            if self.tok.text == "(" and (self.names is None or tok.text not in self.names):
                return self.call(tok)
            if tok.text in self.functions:
                self.error(f"`{tok.text}` is a function; call it like `{tok.text}(z)` "
                           f"or pick another variable name", tok)
            return Name(tok.text, tok.column)
        if tok.text == "(":
            self.take()
            self.nest()
            node = self.expr()
            self.depth -= 1
            if self.tok.text == ",":
                self.error("tuples are not allowed")
            self.expect(")")
            return node
        if tok.kind == "bracket":  # an answer's [z > 0] is Iverson's bracket, [a − y] a group
            self.take()
            self.nest()
            node = self.condition()
            self.depth -= 1
            self.expect("]")
            if isinstance(node, BinOp) and node.op in _COMPARISONS:
                return Call("Indicator", (node,), tok.column)
            return node
        if tok.kind == "end":
            self.error("the expression ends too early")
        self.error(f"unexpected `{tok.text}`")

    def call(self, name: Token):
        from .functions import FUNCTIONS, lookup
        if name.text not in self.functions and name.text not in FUNCTIONS:
            raise ParseError(_unknown_function(name.text, self.functions), self.line, name.column)
        spec = lookup(name.text, self.line, name.column) if name.text not in self.functions else self.functions[name.text]
        self.take()  # (
        self.nest()
        args = []
        conditions = getattr(spec, "conditions", ())  # the tensor registry's entries have none
        variadic = getattr(spec, "variadic", False)
        keywords: dict = {}  # name -> tree, for a function that names its arguments (conv2d's stride)
        if self.tok.text != ")":
            while True:
                if self.tok.kind == "name" and self.tokens[self.i + 1].text == "=":
                    self._keyword(name, spec, args, keywords)
                elif keywords:
                    self.error(f"a positional argument follows a keyword argument in "
                               f"`{name.text}(…)`; give the keyword arguments last")
                else:
                    args.append(self.condition() if len(args) in conditions else self.expr())
                if self.tok.text != ",":
                    break
                self.take()
        self.expect(")")
        self.depth -= 1
        if keywords:
            args = self._by_position(name, spec, args, keywords)
        if variadic and len(args) < spec.arity:
            self.error(f"`{name.text}` takes at least {spec.arity} arguments, got {len(args)}", name)
        if not variadic and not spec.min_arity <= len(args) <= spec.arity:
            want = (str(spec.arity) if spec.min_arity == spec.arity
                    else f"{spec.min_arity} or {spec.arity}")
            plural = "" if want == "1" else "s"
            self.error(f"`{name.text}` takes {want} argument{plural}, got {len(args)}", name)
        for i in conditions:
            if i < len(args) and not (isinstance(args[i], BinOp) and args[i].op in _COMPARISONS):
                self.error(f"argument {i + 1} of `{name.text}` must be a comparison, "
                           f"e.g. `{name.text}(x > 0, x, 0)`", name)
        return Call(name.text, tuple(args), name.column)

    def _keyword(self, name: Token, spec, args: list, keywords: dict):
        """``stride=2`` inside a call of a function whose arguments have names (``params``)."""
        params = getattr(spec, "params", ())
        key = self.tok
        if not params:
            self.error("keyword arguments are not allowed; pass values by position, "
                       f"e.g. `{name.text}(z, 0.1)`")
        if key.text not in params:
            self.error(f"`{name.text}` has no argument `{key.text}`; its arguments are "
                       f"{', '.join(params)}", key)
        if key.text in keywords or params.index(key.text) < len(args):
            self.error(f"argument `{key.text}` of `{name.text}` is given twice", key)
        self.take()  # the name
        self.take()  # =
        keywords[key.text] = self.expr()

    def _by_position(self, name: Token, spec, args: list, keywords: dict) -> list:
        """The arguments in their positions: keywords placed, the ones they skip filled with their
        defaults (``conv2d(x, k, padding=1)`` is ``conv2d(x, k, 1, 1)``); later ones left out."""
        params = spec.params
        last = max(params.index(k) for k in keywords)
        out = list(args)
        for i in range(len(args), last + 1):
            if params[i] in keywords:
                out.append(keywords[params[i]])
                continue
            if i < spec.min_arity:
                self.error(f"`{name.text}` needs its argument `{params[i]}` (argument {i + 1})", name)
            value = spec.defaults[i - spec.min_arity]
            out.append(Num(value, str(value), name.column))
        return out


def parse_expression(text: str, line: int = 1, column0: int = 1, allow_comparison: bool = False,
                     functions: dict | None = None):
    """Parse one expression (no ``name =``) into the syntax tree. ``functions`` is the registry of
    callable names (default: the scalar registry; the tensor language adds softmax, sum …)."""
    from .functions import FUNCTIONS
    return _Parser(tokenize(text, line, column0), line, functions or FUNCTIONS,
                   allow_comparison).parse()


# --- answers: the notation derive's own documents print -----------------------------------------
# An answer may be copied from a derive document or from Python: Unicode minus, ·, ×, implicit
# products, superscripts, 𝟙[z > 0], σ(z), ReLU'(z), |a − y|, √x, the names as displayed
# (w⁽¹⁾₁,₁, λ), and the LaTeX subset the Markdown prints (\frac{…}{…}, \left( … \right),
# \operatorname{ReLU}, \mathbb{1}[…]). Each is translated, token by token, into the tokens of the
# equation language; the same whitelist parser then builds the tree (columns are the answer's).

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅙": (1, 6),
           "⅛": (1, 8)}
_ANSWER_OPS = {"−": "-", "–": "-", "·": "*", "⋅": "*", "×": "*", "∙": "*", "÷": "/", "≤": "<=",
               "≥": ">=", "≠": "!="}
_LATEX_OPS = {"cdot": "*", "times": "*", "div": "/", "le": "<=", "leq": "<=", "ge": ">=",
              "geq": ">=", "lt": "<", "gt": ">", "ne": "!=", "neq": "!="}
_LATEX_SKIP = {",", ";", ":", "!", " ", "quad", "qquad", "left", "right", "bigl", "bigr", "Bigl",
               "Bigr", "biggl", "biggr", "big", "Big", "bigg", "displaystyle", "textstyle"}
_LATEX_FRACTIONS = {"frac", "tfrac", "dfrac"}
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.ASCII)
_LATEX_COMMAND = re.compile(r"\\([A-Za-z]+|[,;:! ])")


@dataclass(frozen=True)
class AnswerFunction:
    """A function an answer may call that is not an equation's: 𝟙[…], heaviside, sign, f'(z)."""

    name: str
    function: object
    arity: int
    conditions: tuple = ()
    defaults: tuple = ()
    variadic: bool = False
    cls: type = object

    @property
    def min_arity(self) -> int:
        return self.arity - len(self.defaults)


def _prime_of(spec):
    """f' of a registry entry with one written argument (and optional ones such as α)."""
    def derivative(z, *rest):
        dummy = sp.Dummy("z", real=True)
        return sp.diff(spec.function(dummy, *rest), dummy).xreplace({dummy: z})
    return AnswerFunction(spec.name + "'", derivative, spec.arity, defaults=spec.defaults)


def answer_functions() -> tuple[dict, dict]:
    """What an answer may call: (name -> entry, alias -> name). The registry's entries and, for
    each with one written argument, its derivative ``f'``; ``Indicator`` / ``heaviside`` /
    ``sign``; each entry also by its printed names (``σ``, ``ReLU``, ``\\sigma``,
    ``\\operatorname{ReLU}``) and SymPy class name (``Sigmoid``, as ``str()`` prints it)."""
    from .functions import FUNCTIONS
    from .operations import Indicator
    state = tuple((name, id(spec)) for name, spec in FUNCTIONS.items())  # the registry as it is now
    if _ANSWER_FUNCTIONS and _ANSWER_FUNCTIONS[0] == state:
        return _ANSWER_FUNCTIONS[1], _ANSWER_FUNCTIONS[2]
    functions: dict = dict(FUNCTIONS)
    functions["Indicator"] = AnswerFunction("Indicator", Indicator, 1, conditions=(0,))
    functions["heaviside"] = AnswerFunction(  # numpy's heaviside(z, h0): h0 at 0, 0 by default
        "heaviside", lambda z, h0=sp.S.Zero: Indicator(sp.StrictGreaterThan(z, 0))
        + h0 * Indicator(sp.Eq(z, 0)), 2, defaults=(sp.S.Zero,))
    functions["sign"] = AnswerFunction("sign", sp.sign, 1)
    functions["erf"] = AnswerFunction("erf", sp.erf, 1)  # GELU's exact values print with it
    aliases: dict = {"𝟙": "Indicator", "\\mathbb{1}": "Indicator", "\\mathbf{1}": "Indicator",
                     "Heaviside": "heaviside",
                     "√": "sqrt"}
    for spec in FUNCTIONS.values():
        if not spec.variadic and not spec.conditions and spec.min_arity == 1:
            functions[spec.name + "'"] = _prime_of(spec)
        class_name = spec.cls.__name__ if issubclass(spec.cls, sp.Function) else ""  # sqrt is a Pow
        for alias in (spec.unicode, spec.latex, class_name):
            if alias and alias not in functions and alias != "√":
                aliases.setdefault(alias, spec.name)
    _ANSWER_FUNCTIONS[:] = [state, functions, aliases]
    return functions, aliases


_ANSWER_FUNCTIONS: list = []  # [registry state, functions, aliases]: rebuilt when the registry changes


def tokenize_answer(text: str, names: dict[str, str], functions: dict, aliases: dict,
                    column0: int = 1) -> list[Token]:
    """The tokens of an answer written in derive's printed notation (see above). ``names`` maps
    each way a name is displayed (``w1_1_1``, ``w⁽¹⁾₁,₁``, ``w^{(1)}_{1,1}``, ``λ``) to the name."""
    out: list[Token] = []
    plain = {n: v for n, v in names.items() if _IDENTIFIER.fullmatch(n)}
    fancy = sorted((n for n in names if n not in plain), key=len, reverse=True)
    fancy_functions = sorted((a for a in aliases if not _IDENTIFIER.fullmatch(a)), key=len, reverse=True)
    known = set(plain.values()) | set(names.values())
    braces: list[str] = []  # what each open { closes into
    pending_fraction: list[str] = []
    bars = 0  # open |…| pairs
    brackets: list[str] = []  # what each open [ closes into
    pos = 0

    def emit(kind, tok, col):
        out.append(Token(kind, tok, col))

    def ends_operand() -> bool:
        return bool(out) and (out[-1].kind in ("number", "name", "sup") or out[-1].text == ")")

    def function_token(name: str, col: int, end: int) -> int:
        """A function name; a following ' (or ′) makes it the derivative f'."""
        if end < len(text) and text[end] in "'′" and name + "'" in functions:
            emit("name", name + "'", col)
            return end + 1
        emit("name", name, col)
        return end

    def split_name(word: str, col: int) -> bool:
        """``wx`` as w·x when it is made of the example's names (the text document writes wx)."""
        parts, i = [], 0
        while i < len(word):
            for j in range(len(word), i, -1):
                if word[i:j] in known:
                    parts.append((word[i:j], col + i))
                    i = j
                    break
            else:
                return False
        for part, c in parts:
            emit("name", part, c)
        return True

    while pos < len(text):
        col = column0 + pos
        ch = text[pos]
        if ch in " \t":
            pos += 1
            continue
        matched = next((n for n in fancy if text.startswith(n, pos)), None)
        if matched:
            emit("name", names[matched], col)
            pos += len(matched)
            continue
        matched = next((a for a in fancy_functions if text.startswith(a, pos)), None)
        if matched:
            target = aliases[matched]
            if target == "sqrt" and matched == "√":
                emit("prefix", "sqrt", col)
                pos += 1
            else:
                pos = function_token(target, col, pos + len(matched))
            continue
        if ch == "\\":
            m = _LATEX_COMMAND.match(text, pos)
            if not m:
                raise ParseError("a `\\` must start a LaTeX command such as \\frac", 1, col)
            command = m.group(1)
            pos = m.end()
            if command in _LATEX_SKIP:
                if command in ("left", "right") and text.startswith(".", pos):
                    pos += 1  # \left. : no delimiter
                continue
            if command in _LATEX_OPS:
                emit("op", _LATEX_OPS[command], col)
            elif command in _LATEX_FRACTIONS:
                emit("op", "(", col)
                pending_fraction.append("numerator")
            elif command == "sqrt":
                emit("name", "sqrt", col)
            elif command in ("operatorname", "mathrm", "text", "mathit"):
                inner = re.match(r"\{([A-Za-z][A-Za-z0-9_\\]*)\}", text[pos:])
                if not inner:
                    raise ParseError(f"expected `{{name}}` after \\{command}", 1, column0 + pos)
                word = inner.group(1).replace("\\_", "_")
                end = pos + inner.end()
                if word in functions or word in aliases:
                    pos = function_token(aliases.get(word, word), col, end)
                else:
                    emit("name", word, col)
                    pos = end
            elif command == "approx" and not out:
                pass
            else:
                raise ParseError(f"unknown LaTeX command `\\{command}` (answers may use \\frac, "
                                 f"\\cdot, \\left( \\right), \\sigma, \\operatorname{{…}} and "
                                 f"the example's names)", 1, col)
            continue
        if ch == "{":
            if pending_fraction:
                part = pending_fraction.pop()
                emit("op", "(", col)
                braces.append(part)
            else:
                emit("op", "(", col)
                braces.append("group")
            pos += 1
            continue
        if ch == "}":
            if not braces:
                raise ParseError("unmatched `}`", 1, col)
            part = braces.pop()
            emit("op", ")", col)
            if part == "numerator":
                emit("op", "/", col)
                pending_fraction.append("denominator")
            elif part == "denominator":
                emit("op", ")", col)
            pos += 1
            continue
        if ch == "[":
            if out and out[-1].text == "Indicator":  # 𝟙[z > 0]
                emit("op", "(", col)
                brackets.append(")")
            else:  # Iverson's [z > 0] or a bracketed group; the parser tells them apart
                if pos and (text[pos - 1].isalnum() or text[pos - 1] == "_"):  # y[0]
                    raise ParseError(f"{_FORBIDDEN['[']} (found `[`)", 1, col)
                emit("bracket", "[", col)
                brackets.append("]")
            pos += 1
            continue
        if ch == "]":
            if not brackets:
                raise ParseError("unmatched `]`", 1, col)
            emit("op", brackets.pop(), col)
            pos += 1
            continue
        if ch == "|":
            if bars and ends_operand():
                emit("op", ")", col)
                bars -= 1
            else:
                emit("name", "abs", col)
                emit("op", "(", col)
                bars += 1
            pos += 1
            continue
        if ch in _ANSWER_OPS:
            emit("op", _ANSWER_OPS[ch], col)
            pos += 1
            continue
        if ch in _VULGAR:
            p, q = _VULGAR[ch]
            emit("op", "(", col)
            emit("number", str(p), col)
            emit("op", "/", col)
            emit("number", str(q), col)
            emit("op", ")", col)
            pos += 1
            continue
        if ch in "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺":
            end = pos
            while end < len(text) and text[end] in "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺":
                end += 1
            exponent = text[pos:end].translate(_SUPERSCRIPTS)
            if not re.fullmatch(r"[-+]?[0-9]+", exponent):
                raise ParseError(f"cannot read the superscript `{text[pos:end]}`", 1, col)
            budget.check_literal(exponent)
            emit("sup", str(int(exponent)), col)
            pos = end
            continue
        if ch == "^" and text.startswith("{", pos + 1):
            emit("op", "**", col)
            pos += 1
            continue
        m = _IDENTIFIER.match(text, pos)
        if m:
            word = m.group()
            end = m.end()
            while end < len(text) and text[end] in "₀₁₂₃₄₅₆₇₈₉":  # x₁ is x1
                end += 1
            word += text[m.end():end].translate(_SUBSCRIPTS)
            if keyword.iskeyword(word) and word not in ALLOWED_KEYWORDS:
                raise ParseError(f"`{word}` is a Python keyword and is not allowed in an answer", 1, col)
            if word in plain:
                emit("name", plain[word], col)
                pos = end
            elif word in functions or word in aliases:
                pos = function_token(aliases.get(word, word) if word not in functions else word, col, end)
            elif split_name(word, col):
                pos = end
            else:
                emit("name", word, col)
                pos = end
            continue
        if ch == "_" or ch == ".":
            # `_` starts no name, `.` no attribute (the equation tokenizer says why)
            tokenize(ch + "x" if ch == "_" else ch, 1, col)
        m = _TOKEN.match(text, pos)
        if not m or m.lastgroup == "space":
            if ch in _FORBIDDEN:
                raise ParseError(f"{_FORBIDDEN[ch]} (found `{ch}`)", 1, col)
            raise ParseError(f"unexpected character `{ch}`", 1, col)
        if (m.lastgroup == "number" and not m.group().isdigit() and m.end() < len(text)
                and (text[m.end()].isalpha() or text[m.end()] == "_")):
            # 2x is a product as the documents write it; 0.9x is more likely a typo
            raise ParseError(f"a decimal cannot run into a name (`{text[pos:m.end() + 1]}`); write "
                             f"a product with * or ·, e.g. `{m.group()}·{text[m.end()]}`", 1, col)
        emit(m.lastgroup, m.group(), col)
        pos = m.end()
    if braces:
        raise ParseError("a `{` is never closed", 1, column0 + len(text))
    if bars:
        raise ParseError("a `|` is never closed", 1, column0 + len(text))
    if brackets:
        raise ParseError("a `[` is never closed", 1, column0 + len(text))
    budget.check_nodes(len(out), "the answer")
    out.append(Token("end", "", column0 + len(text)))
    return out


def parse_answer_expression(text: str, names: dict[str, str], column0: int = 1):
    """Parse an answer written in derive's printed notation (``2(a − y)·σ'(z)``,
    ``𝟙[z > 0]``, ``\\frac{1}{2}``…) into the syntax tree; ``names`` maps each displayed form of
    the example's names to the name. Build it with ``to_sympy(tree, symbols,
    functions=answer_functions()[0])``.

    >>> tree = parse_answer_expression("2(a − y)·𝟙[z > 0]", {"a": "a", "y": "y", "z": "z"})
    >>> to_sympy(tree, {n: sp.Symbol(n) for n in "ayz"}, functions=answer_functions()[0])
    2*(a - y)*Indicator(z > 0)
    """
    functions, aliases = answer_functions()
    budget.check_brackets(text, lambda col: f"column {column0 + col - 1}: the answer")
    tokens = tokenize_answer(text, names, functions, aliases, column0)
    return _Parser(tokens, 1, functions, False, frozenset(names.values())).parse()


_ASSIGN = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*)=(?!=)")


def parse_equations(text: str, functions: dict | None = None) -> list[Equation]:
    """Parse staged equations, one ``name = expression`` per line (``#`` comments, blank lines).
    ``functions``: the callable names, as for ``parse_expression``."""
    from .functions import FUNCTIONS
    functions = functions or FUNCTIONS
    if not isinstance(text, str):
        raise ParseError(f"equations must be text, got {type(text).__name__}")
    equations: list[Equation] = []
    # Lines end at \n (or \r\n) only: str.splitlines() would also split at U+2028, \x0c, \x1c …,
    # which no editor shows as a line break.
    lines = text.replace("\r\n", "\n").split("\n")
    budget.check_nodes(sum(1 for l in lines if l.strip() and not l.lstrip().startswith("#")),
                       "the text of the equations")  # before parsing thousands of lines
    budget.check_terms(text)  # before parsing a sum of 10⁵ terms
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        m = _ASSIGN.match(line)
        if not m:
            tokens = tokenize(line, number)  # report forbidden characters precisely first
            first = tokens[0]
            if first.kind == "name" and len(tokens) > 1 and tokens[1].text == "=":
                pass
            raise ParseError("expected `name = expression`", number, first.column)
        name = m.group(2)
        col = len(m.group(1)) + 1
        tokenize(name, number, col)  # keyword / underscore checks
        if name in functions:
            raise ParseError(f"`{name}` is a function name; choose another name for this node",
                             number, col)
        rhs_col = m.end() + 1
        rhs = line[m.end():]
        tree = parse_expression(rhs, number, rhs_col, functions=functions)
        equations.append(Equation(name, tree, number, rhs.strip()))
    if not equations:
        raise ParseError("no equations given; write one `name = expression` per line, "
                         "e.g. `z = w*x + b`")
    return equations


# --- syntax tree -> SymPy --------------------------------------------------------------------

def names_in(tree) -> list[str]:
    """Names a tree uses, in order of first appearance (iterative: no recursion limit)."""
    seen: dict[str, None] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            seen.setdefault(node.id, None)
        elif isinstance(node, Call):
            stack.extend(reversed(node.args))
        elif isinstance(node, BinOp):
            stack.append(node.right)
            stack.append(node.left)
        elif isinstance(node, (Neg, Transpose)):
            stack.append(node.operand)
    return list(seen)


def to_sympy(tree, symbols: dict[str, sp.Symbol], evaluate: bool = True, functions: dict | None = None):
    """Build the SymPy expression for ``tree``; with ``evaluate=False`` the order and shape the user
    wrote is kept for display (``w*x + b`` stays ``w x + b``). ``functions``: the callable names
    (default: the registry; answers add ``answer_functions()``)."""
    from .functions import FUNCTIONS
    FUNCTIONS = functions or FUNCTIONS  # noqa: N806 (the table this tree's calls come from)
    if isinstance(tree, Num):
        return tree.value
    if isinstance(tree, Transpose) or (isinstance(tree, BinOp) and tree.op == "@") or (
            isinstance(tree, Call) and tree.func not in FUNCTIONS):
        what = ("`.T`" if isinstance(tree, Transpose) else "`@`" if isinstance(tree, BinOp)
                else f"`{tree.func}`")
        raise ParseError(f"{what} works on vectors and matrices: give the inputs as lists "
                         f"(column vectors) or nested lists (matrices)", None, tree.column)
    if isinstance(tree, Name):
        return symbols[tree.id]
    if isinstance(tree, Neg):
        operand = to_sympy(tree.operand, symbols, evaluate, functions)
        if isinstance(operand, sp.Number):
            return -operand
        return sp.Mul(sp.S.NegativeOne, operand, evaluate=evaluate)
    if isinstance(tree, Call):
        spec = FUNCTIONS[tree.func]
        args = [to_sympy(a, symbols, evaluate, functions) for a in tree.args]
        args += list(spec.defaults[len(args) - spec.min_arity:]) if len(args) < spec.arity else []
        if evaluate:
            return spec.function(*args)
        if not issubclass(spec.cls, sp.Function):  # sqrt is a power, x**(1/2)
            return sp.Pow(args[0], sp.S.Half, evaluate=False)
        return spec.function(*args, evaluate=False)
    if isinstance(tree, BinOp) and tree.op in ("+", "-", "*", "/"):
        return _chain_to_sympy(tree, symbols, evaluate, functions)
    if isinstance(tree, BinOp):
        left = to_sympy(tree.left, symbols, evaluate, functions)
        right = to_sympy(tree.right, symbols, evaluate, functions)
        op = tree.op
        if isinstance(left, sp.Number) and isinstance(right, sp.Number) and op in "+-*/":
            if op == "/" and right == 0:
                raise ParseError("division by zero", None)
            return {"+": lambda: left + right, "-": lambda: left - right,
                    "*": lambda: left * right, "/": lambda: left / right}[op]()
        if op == "+":
            return sp.Add(left, right, evaluate=evaluate)
        if op == "-":
            neg = -right if isinstance(right, sp.Number) else sp.Mul(sp.S.NegativeOne, right, evaluate=evaluate)
            return sp.Add(left, neg, evaluate=evaluate)
        if op == "*":
            return sp.Mul(left, right, evaluate=evaluate)
        if op == "/":
            if isinstance(right, sp.Number) and right == 0:
                raise ParseError("division by zero")
            if evaluate:
                return left / right
            if left == 1:
                return sp.Pow(right, -1, evaluate=False)
            return sp.Mul(left, sp.Pow(right, -1, evaluate=False), evaluate=False)
        if op == "**":
            if evaluate:  # 2**2**2**2**2**2: estimated before SymPy computes it
                budget.check_power(left, right, _source(tree))
            return sp.Pow(left, right, evaluate=evaluate)
        relation = {"<": sp.StrictLessThan, "<=": sp.LessThan, ">": sp.StrictGreaterThan,
                    ">=": sp.GreaterThan, "==": sp.Eq, "!=": sp.Ne}[op]
        return relation(left, right, evaluate=evaluate)
    raise TypeError(f"not a syntax tree node: {tree!r}")


def _chain_to_sympy(tree, symbols, evaluate, functions=None):
    """A left-leaning run of + − (or * /) as one flat Add (Mul): long sums don't recurse."""
    additive = tree.op in ("+", "-")
    ops = ("+", "-") if additive else ("*", "/")
    terms = []  # (op, subtree), leftmost first
    node = tree
    while isinstance(node, BinOp) and node.op in ops:
        terms.append((node.op, node.right))
        node = node.left
    terms.append(("+" if additive else "*", node))
    terms.reverse()
    parts = []
    for op, sub in terms:
        value = to_sympy(sub, symbols, evaluate, functions)
        if op == "-":
            value = -value if isinstance(value, sp.Number) else sp.Mul(sp.S.NegativeOne, value, evaluate=evaluate)
        elif op == "/":
            if isinstance(value, sp.Number) and value == 0:
                raise ParseError("division by zero: the divisor is the constant 0")
            if evaluate or not isinstance(value, sp.Number) or not parts or not isinstance(parts[-1], sp.Number):
                value = 1 / value if (evaluate and isinstance(value, sp.Number)) else sp.Pow(value, -1, evaluate=evaluate)
            else:
                value = 1 / value  # 1/2 between numbers is the number one half
        parts.append(value)
    # Fold neighbouring constants (``1/2``, ``2*3``) so numbers read as the user meant them.
    folded = []
    for part in parts:
        if folded and isinstance(part, sp.Number) and isinstance(folded[-1], sp.Number) and not additive:
            folded[-1] = folded[-1] * part
        else:
            folded.append(part)
    for part in folded:
        if isinstance(part, sp.Rational):
            budget.check_rational(part, "a product of numbers")
    if len(folded) == 1:
        return folded[0]
    if additive and evaluate and len(folded) > 8:
        # x + x + … + x: like terms counted here, in one pass, so SymPy's Add sorts a handful
        # of terms rather than collecting 10⁵ equal ones
        counts: dict = {}
        for part in folded:
            counts[part] = counts.get(part, 0) + 1
        if len(counts) < len(folded):
            folded = [part if n == 1 else sp.Integer(n) * part for part, n in counts.items()]
    if additive:
        return sp.Add(*folded, evaluate=evaluate)
    if not evaluate and folded[0] == 1 and len(folded) == 2:
        return folded[1]
    return sp.Mul(*folded, evaluate=evaluate)


def _source(tree) -> str:
    """A short rendering of a power for error messages: ``2**65536``."""
    def short(node):
        if isinstance(node, Num):
            return node.text
        if isinstance(node, Name):
            return node.id
        if isinstance(node, BinOp) and node.op == "**":
            return f"{short(node.left)}**{short(node.right)}"
        return "(…)"
    return short(tree)
