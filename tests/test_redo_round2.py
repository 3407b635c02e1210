"""Arithmetic a student can redo, round 2 (issue 26, item 2): the step tables of training
documents for every optimizer, and the matrix lines of tensor documents (bias sums, δ xᵀ
products, the update W − η·G), redone from the printed text only.

Independent of derive's printer and of its optimizer registry: the text is parsed, each
optimizer's update is written here from PyTorch's documented semantics, and every printed result
is recomputed from the printed operands (``Fraction``; ``mpmath`` at 50 digits under a root), then
rounded to the printed result's last digit."""
from __future__ import annotations

import random
import re
from decimal import Decimal
from fractions import Fraction

import mpmath
import numpy as np
import pytest

import derive
from test_arithmetic import NUMBER, number, rounds_to

mpmath.mp.dps = 50

CELL = re.compile(rf"≈ ?({NUMBER})|({NUMBER})")


def _mp(x):
    return mpmath.mpf(x.numerator) / x.denominator if isinstance(x, Fraction) else x


def cell_numbers(text: str) -> list[list[str]]:
    """A table cell as rows of printed numbers: "≈ −0.4878" -> [["−0.4878"]], "[1, 2; 3, 4]"
    -> [["1", "2"], ["3", "4"]]."""
    text = text.strip().removeprefix("≈").strip()
    if text.startswith("["):
        return [[e.strip().removeprefix("≈").strip() for e in row.split(",")] for row in text[1:-1].split(";")]
    return [[text]]


def tables(text: str):
    """(k, header, {parameter: [cells]}) of every update's table in "Step by step"."""
    lines = text[text.index("Step by step"):].splitlines()
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"Update (\d+) \(", lines[i])
        if m and i + 2 < len(lines) and lines[i + 2].strip().startswith("---------"):
            dashes = lines[i + 2]
            spans = [(mm.start(), mm.end()) for mm in re.finditer(r"-+", dashes)]
            cut = lambda line: [line[a:(spans[n + 1][0] if n + 1 < len(spans) else None)].strip()  # noqa: E731
                                for n, (a, _) in enumerate(spans)]
            header = cut(lines[i + 1])
            rows, j = {}, i + 3
            while j < len(lines) and lines[j].startswith("    ") and lines[j].strip():
                cells = cut(lines[j])
                rows[cells[0]] = [cell_numbers(c) for c in cells[1:]]
                j += 1
            beyond = set()
            while j < len(lines) and not lines[j].startswith("Update ") and lines[j].strip():
                j += 1
            said = " ".join(lines[i:j])
            named = re.search(r"Here (.*?) at step \d+ follows? from the row's numbers only with more digits", said)
            beyond = set(re.findall(r"\w+", named.group(1))) - {"and"} if named else set()
            out.append((int(m.group(1)), header[1:], rows, beyond))
            i = j
            continue
        i += 1
    return out


def hyper(text: str) -> dict:
    """η, β₁, β₂, ε, α, μ, λ from the document's words and hyperparameter table."""
    h = {}
    m = re.search(rf"learning rate η = ({NUMBER})", text)
    h["lr"] = number(m.group(1))
    for label, key in (("ε", "eps"), ("α (average of g²)", "alpha"), ("momentum μ", "mu")):
        m = re.search(rf"^    {re.escape(label)}\s+({NUMBER})\s*$", text, re.M)
        if m:
            h[key] = number(m.group(1))
    m = re.search(rf"^    β₁, β₂\s+({NUMBER}), ({NUMBER})", text, re.M)
    if m:
        h["b1"], h["b2"] = number(m.group(1)), number(m.group(2))
    m = re.search(rf"^    weight decay λ \((.*)\)\s+({NUMBER})\s*$", text, re.M)
    if m:
        h["decay"], h["decay_kind"] = number(m.group(2)), m.group(1)
    return h


def torch_rule(optimizer: str, h: dict, k: int, theta, g, before: dict, row: dict) -> dict:
    """One update of one entry as torch.optim documents it: {column: value} (the new state and
    "new", the parameter after the update). ``before``: the state printed for update k − 1;
    ``row``: the state printed in this row, from which a student computes the new parameter."""
    root = lambda x: mpmath.sqrt(_mp(x))  # noqa: E731
    if h.get("decay") and not h["decay_kind"].startswith("decoupled"):
        g = g + h["decay"] * theta
    if optimizer == "sgd":
        return {"new": theta - h["lr"] * g}
    if optimizer in ("momentum", "nesterov"):
        v = h["mu"] * before.get("v", 0) + g if k > 1 else g
        step = g + h["mu"] * row["v"] if optimizer == "nesterov" else row["v"]
        return {"v": v, "new": theta - h["lr"] * step}
    if optimizer == "rmsprop":
        s = h["alpha"] * before.get("s", 0) + (1 - h["alpha"]) * g * g
        return {"s": s, "new": _mp(theta) - _mp(h["lr"]) * _mp(g) / (root(row["s"]) + _mp(h["eps"]))}
    if optimizer == "adagrad":
        G = before.get("G", 0) + g * g
        return {"G": G, "new": _mp(theta) - _mp(h["lr"]) * _mp(g) / (root(row["G"]) + _mp(h["eps"]))}
    if optimizer in ("adam", "adamw"):
        if optimizer == "adamw":
            theta = theta * (1 - h["lr"] * h.get("decay", 0))
        m = h["b1"] * before.get("m", 0) + (1 - h["b1"]) * g
        v = h["b2"] * before.get("v", 0) + (1 - h["b2"]) * g * g
        m_hat, v_hat = row["m"] / (1 - h["b1"] ** k), row["v"] / (1 - h["b2"] ** k)
        return {"m": m, "v": v, "new": _mp(theta) - _mp(h["lr"]) * _mp(m_hat) / (root(v_hat) + _mp(h["eps"]))}
    raise AssertionError(optimizer)


STATE = {"sgd": (), "momentum": ("v",), "nesterov": ("v",), "rmsprop": ("s",), "adagrad": ("G",),
         "adam": ("m", "v"), "adamw": ("m", "v")}


def check_training(text: str, optimizer: str) -> tuple[int, list]:
    """Redo every printed state and new parameter of every table row from the row's printed
    numbers and the state printed in the previous update's table."""
    h = hyper(text)
    checked, wrong, previous = 0, [], {}
    for k, header, rows, beyond in tables(text):
        state_columns = [c for c in header if c in STATE[optimizer]]
        assert state_columns == list(STATE[optimizer]), (header, optimizer)
        clipped = "clipped" in header
        g_column = header.index("clipped") if clipped else 1
        for p, cells in rows.items():
            prev, g = cells[0], cells[g_column]
            state = {c: cells[header.index(c)] for c in state_columns}
            new = cells[-1]
            for i, row in enumerate(prev):
                for j, printed_prev in enumerate(row):
                    before = {c: number(previous[(p, c)][i][j]) for c in state_columns if (p, c) in previous}
                    if k > 1 and len(before) < len(state_columns):
                        continue  # the state before is in a table left out
                    here = {c: number(state[c][i][j]) for c in state_columns}
                    redone = torch_rule(optimizer, h, k, number(printed_prev), number(g[i][j]), before, here)
                    for column, value in redone.items():
                        printed = (new if column == "new" else state[column])[i][j]
                        if column == "new" and p in beyond:
                            continue  # named under its table: more digits than shown
                        checked += 1
                        if not rounds_to(value, printed):
                            wrong.append(f"update {k}, {p}[{i},{j}] {column}: printed {printed}, "
                                         f"the printed numbers give {mpmath.nstr(_mp(value), 12)}")
            for c in state_columns:
                previous[(p, c)] = state[c]
    return checked, wrong


def _dec(rng, lo, hi, places):
    return round(rng.uniform(lo, hi), places) or 0.5


OPTIMIZER_SETTINGS = [
    ("adam", {}), ("adam", {"betas": (0.8, 0.99)}), ("adamw", {"weight_decay": 0.1}),
    ("rmsprop", {}), ("rmsprop", {"alpha": 0.9}), ("adagrad", {}), ("nesterov", {}),
    ("nesterov", {"momentum": 0.5}), ("momentum", {}), ("sgd", {}), ("sgd", {"weight_decay": 0.01}),
]


def scalar_example(seed: int):
    rng = random.Random(seed)
    return derive.neuron(x=_dec(rng, -3, 3, 1), w=_dec(rng, -2, 2, 2), b=_dec(rng, -1, 1, 1),
                         y=_dec(rng, -1, 2, 1), activation=rng.choice(["sigmoid", "tanh", "relu", "softplus"]),
                         loss=rng.choice(["squared_error", "half_squared_error"]))


def tensor_example(seed: int):
    rng = random.Random(seed)
    n, m = rng.randint(2, 3), rng.randint(2, 3)
    act = rng.choice(["sigmoid", "tanh", "relu"])
    return derive.Example.from_equations(
        f"z = W @ x + b\na = {act}(z)\nL = sum((a - y)**2)",
        values={"W": [[_dec(rng, -1, 1, 1) for _ in range(n)] for _ in range(m)],
                "x": [_dec(rng, -1, 1, 1) for _ in range(n)], "b": [_dec(rng, -0.5, 0.5, 1) for _ in range(m)],
                "y": [rng.choice([0, 1]) for _ in range(m)]})


@pytest.mark.parametrize("optimizer, options", OPTIMIZER_SETTINGS)
def test_every_optimizers_step_tables_redo_from_the_printed_numbers(optimizer, options):
    checked, wrong = 0, []
    for seed in range(4):
        lr = [0.1, 0.05, 0.01, 0.5][seed]
        ex = tensor_example(seed) if seed == 3 else scalar_example(seed)
        text = ex.train(3, optimizer=optimizer, lr=lr, **options).to_text()
        n, bad = check_training(text, optimizer)
        checked += n
        wrong += [f"seed {seed}: {w}" for w in bad]
    assert not wrong, "\n".join(wrong[:20])
    assert checked >= 20


def test_a_cancellation_no_digits_mend_is_named_and_the_rest_still_redo():
    # b = η = 0.1 and Adam's first step is η·(1 − tiny): b at step 1 is about 7×10⁻⁹
    ex = derive.Example.from_equations("z = W @ x + b\na = sigmoid(z)\nL = sum((a - y)**2)",
                                       values={"W": [[0.2, -0.5], [1.5, 1.3]], "x": [1, 2], "b": [0.1, -0.2],
                                               "y": [0, 1]})
    text = ex.train(2, optimizer="adam", lr=0.1).to_text()
    assert ("Here b at step 1 follows from the row's numbers only with more digits than the table shows"
            in " ".join(text.split()))
    checked, wrong = check_training(text, "adam")
    assert checked >= 30 and not wrong, wrong
    # the unrounded run is unchanged: the table only chose digits
    tr = ex.train(2, optimizer="adam", lr=0.1)
    assert abs(float(tr.value("b", step=1)[0]) - 6.797e-9) < 1e-11


def test_the_tables_digits_are_needed_without_them_rows_do_not_redo():
    """The check can fail: with the document's digits alone (no carries) some rows are wrong."""
    from derive.training import document
    ex = scalar_example(1)
    tr = ex.train(3, optimizer="adam", lr=0.1)
    real = document._table_carries
    try:
        document._table_carries = lambda tr, listed, precision: ({}, set())
        text = tr.to_text()
    finally:
        document._table_carries = real
    _, wrong = check_training(text, "adam")
    assert wrong
    assert not check_training(tr.to_text(), "adam")[1]


# --- tensor documents: every matrix line redone from the matrices printed before it ---------------

ENTRY = rf"(?:{NUMBER}|−?\d+/\d+)"
MATRIX = re.compile(rf"^\[(?:{ENTRY}(?:, |; )?)+\]$")
RTOKEN = re.compile(r"\s*(∂L/∂[A-Za-z][A-Za-z0-9_]*|Σ_batch|σ|tanh|ReLU|onehot|Σ|mean|softmax|CE|𝟏|𝟙|η|"
                    r"\d+(?:\.\d+)?|[A-Za-z][A-Za-z0-9_]*|[()\[\]+−·⊙/ᵀ²>≤<,])")


def entry(text: str) -> Fraction:
    if "/" in text:
        a, b = text.replace("−", "-").split("/")
        return Fraction(int(a), int(b))
    return number(text)


def matrix(text: str):
    rows = [[entry(e.strip()) for e in row.split(",")] for row in text[1:-1].split(";")]
    return np.array(rows, dtype=object)


class Lazy:
    """𝟏 or onehot(y): a matrix whose shape comes from the line it is used in."""

    def __init__(self, make):
        self.make = make


class MatrixParser:
    """A printed rule over printed matrices: juxtaposed names, transposes, 𝟏ᵀ and Σ_batch are
    matrix products and sums; a function's value or a bracket juxtaposed is entrywise."""

    def __init__(self, toks, env, shape, rows_batch):
        self.toks, self.i, self.env, self.shape, self.rows = toks, 0, env, shape, rows_batch

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self):
        self.i += 1
        return self.toks[self.i - 1]

    def expression(self):
        negative = self.peek() == "−"
        if negative:
            self.take()
        value = self.hadamard()
        value = self.scale(-1, value) if negative else value
        while self.peek() in ("+", "−"):
            op = self.take()
            other = self.hadamard()
            value = self.add(value, other if op == "+" else self.scale(-1, other))
        return value

    def hadamard(self):
        value = self.product()
        while self.peek() == "⊙":
            self.take()
            value = self.entrywise(value, self.product())
        return value

    def product(self):
        value, entrywise = self.factor()
        while self.peek() not in (None, "+", "−", "⊙", ")", "]", ","):
            if self.peek() == "·":
                self.take()
                nxt, _ = self.factor()
                value = self.times(value, nxt)
                continue
            if self.peek() == "/":
                self.take()
                nxt, _ = self.factor()
                value = self.entrywise(value, nxt, divide=True)
                continue
            nxt, elementwise = self.factor()
            if entrywise or elementwise or self.is_scalar(value) or self.is_scalar(nxt):
                value = self.entrywise(value, nxt)
            else:
                value = self.matmul(value, nxt)
            entrywise = entrywise or elementwise
        return value

    def factor(self):
        """(value, entrywise): a bracket or a function's value multiplies entry by entry."""
        t = self.take()
        entrywise = False
        if t == "(":
            value = self.expression()
            assert self.take() == ")"
            entrywise = True
        elif t in ("σ", "tanh", "ReLU"):
            power = 1
            if self.peek() == "²":
                self.take()
                power = 2
            assert self.take() == "("
            arg = self.expression()
            assert self.take() == ")"
            f = {"σ": lambda x: 1 / (1 + mpmath.exp(-_mp(x))), "tanh": lambda x: mpmath.tanh(_mp(x)),
                 "ReLU": lambda x: max(x, 0)}[t]
            value = self.map(arg, lambda x: f(x) ** power)
            entrywise = True
        elif t in ("Σ", "mean"):
            assert self.take() == "("
            arg = self.expression()
            assert self.take() == ")"
            entries = list(arg.ravel())
            value = sum(entries[1:], entries[0])
            value = value / len(entries) if t == "mean" else value
        elif t == "Σ_batch":
            arg, _ = self.factor()
            value = self.batch_sum(arg)
        elif t == "onehot":
            assert self.take() == "("
            y = self.expression()
            assert self.take() == ")"
            value = Lazy(lambda shape, y=y: self.onehot(y, shape))
        elif t == "𝟏":
            if self.peek() == "ᵀ":
                self.take()
                nxt, _ = self.factor()
                return self.column_sums(nxt), False
            value = Lazy(lambda shape: self.ones(shape))
        elif t in ("softmax", "CE", "𝟙"):
            raise NotRedone(t)
        elif re.match(r"\d", t):
            value = Fraction(Decimal(t))
        else:
            if t not in self.env:
                raise NotRedone(t)
            value = self.env[t]
        while self.peek() in ("ᵀ", "²"):
            op = self.take()
            if op == "ᵀ" and isinstance(value, Lazy):  # onehot(y)ᵀ: the examples as rows
                value = Lazy(lambda shape, lazy=value: lazy.make(shape[::-1]).T)
            else:
                value = value.T if op == "ᵀ" else self.entrywise(value, value)
        return value, entrywise

    # arithmetic over Fractions (mpf after a function) in numpy object arrays
    @staticmethod
    def is_scalar(x):
        return not hasattr(x, "shape") and not isinstance(x, Lazy)

    def resolve(self, x, like):
        if isinstance(x, Lazy):
            return x.make(like.shape if hasattr(like, "shape") else self.shape)
        return x

    def map(self, x, f):
        if self.is_scalar(x):
            return f(x)
        return np.vectorize(f, otypes=[object])(x)

    def entrywise(self, a, b, divide=False):
        a, b = self.resolve(a, b), self.resolve(b, a)
        op = (lambda x, y: _div(x, y)) if divide else (lambda x, y: _mul(x, y))
        if self.is_scalar(a) and self.is_scalar(b):
            return op(a, b)
        a, b = self.broadcast(a, b)
        return np.vectorize(op, otypes=[object])(a, b)

    def times(self, a, b):
        return self.entrywise(a, b)

    def scale(self, k, x):
        return self.entrywise(Fraction(k), x) if not isinstance(x, Lazy) else Lazy(lambda s: -x.make(s))

    def add(self, a, b):
        a, b = self.resolve(a, b), self.resolve(b, a)
        if self.is_scalar(a) and self.is_scalar(b):
            return _add(a, b)
        a, b = self.broadcast(a, b)
        return np.vectorize(_add, otypes=[object])(a, b)

    def broadcast(self, a, b):
        """A bias vector spread over the batch: as printed it is a column; under batch: rows the
        examples are rows, so it is added to each row."""
        if self.is_scalar(a):
            a = np.full(b.shape, a, dtype=object)
        if self.is_scalar(b):
            b = np.full(a.shape, b, dtype=object)
        if a.shape != b.shape:
            if b.shape[1] == 1 and b.shape[0] == a.shape[1] and (self.rows or b.shape[0] != a.shape[0]):
                b = b.T
            if a.shape[1] == 1 and a.shape[0] == b.shape[1] and (self.rows or a.shape[0] != b.shape[0]):
                a = a.T
            a, b = np.broadcast_arrays(a, b)
        return a, b

    def matmul(self, a, b):
        if isinstance(b, Lazy):  # ∂L/∂z 𝟏: a column of ones sums each row
            b = b.make((a.shape[1], 1))
        out = np.empty((a.shape[0], b.shape[1]), dtype=object)
        for i in range(a.shape[0]):
            for j in range(b.shape[1]):
                total = Fraction(0)
                for k in range(a.shape[1]):
                    total = _add(total, _mul(a[i, k], b[k, j]))
                out[i, j] = total
        return out

    def batch_sum(self, x):
        sums = [sum(list(x[i, :]), Fraction(0)) for i in range(x.shape[0])]
        return np.array(sums, dtype=object).reshape(-1, 1)

    def column_sums(self, x):
        return np.array([[sum(list(x[:, j]), Fraction(0)) for j in range(x.shape[1])]], dtype=object)

    def ones(self, shape):
        return np.full(shape, Fraction(1), dtype=object)

    def onehot(self, y, shape):
        out = np.full(shape, Fraction(0), dtype=object)
        for b, cls in enumerate(y.ravel()):  # a class per column (written onehot(y)ᵀ for rows)
            out[int(cls), b] = Fraction(1)
        return out


class NotRedone(Exception):
    """A rule without arithmetic to redo on the page (softmax, cross-entropy)."""


def _add(a, b):
    return a + b if isinstance(a, Fraction) and isinstance(b, Fraction) else _mp(a) + _mp(b)


def _mul(a, b):
    return a * b if isinstance(a, Fraction) and isinstance(b, Fraction) else _mp(a) * _mp(b)


def _div(a, b):
    return a / b if isinstance(a, Fraction) and isinstance(b, Fraction) else _mp(a) / _mp(b)


def printed_entries(text: str) -> list[str]:
    return [e.strip() for row in text[1:-1].split(";") for e in row.split(",")]


def check_tensor_document(text: str, rows_batch: bool) -> tuple[int, list]:
    """Every display line "name = rule = [matrix]" (or "= number") whose rule is arithmetic on
    matrices printed before it, redone entry by entry from them."""
    env, checked, wrong = {}, 0, []
    named = {}  # entries the document says follow only with more digits than shown: not redone
    flat = " ".join(text.split())
    for m in re.finditer(r"Here (?:entr(?:y|ies) ((?:\(\d+, \d+\)(?:, )?)+) of )?(\S+) follows? from "
                         r"the numbers above only with more digits", flat):
        cells = re.findall(r"\((\d+), (\d+)\)", m.group(1) or "")
        named[m.group(2)] = {(int(i) - 1, int(j) - 1) for i, j in cells} or {()}
    m = re.search(rf"learning rate η = ({NUMBER})", text)
    if m:
        env["η"] = number(m.group(1))
    for line in text.splitlines():
        if not line.startswith("    ") or line.startswith("        "):
            continue  # displays are indented by 4; justifications by 8
        parts = line.strip().split(",    ")  # given values side by side: W = […],    x = […]
        if any("   " in part for part in parts):
            continue  # a table row
        for part in parts:
            pieces = re.split(r" [=≈] ", part)
            if len(pieces) < 2:
                continue
            lhs, result = pieces[0], pieces[-1]
            name = lhs.replace("⁽ⁿᵉʷ⁾", "_new")
            is_matrix = bool(MATRIX.match(result))
            if not is_matrix and not re.match(rf"^{NUMBER}$", result):
                continue
            value = matrix(result) if is_matrix else number(result)
            for rule in pieces[1:-1]:
                toks = _rule_tokens(rule)
                if toks is None:
                    continue
                try:
                    parser = MatrixParser(toks, env, value.shape if is_matrix else (), rows_batch)
                    redone = parser.expression()
                    redone = parser.resolve(redone, value)
                    assert parser.peek() is None, (rule, toks[parser.i:])
                except NotRedone:
                    continue
                got = list(redone.ravel()) if hasattr(redone, "ravel") else [redone]
                want = printed_entries(result) if is_matrix else [result]
                if len(got) != len(want):
                    wrong.append(f"{line.strip()}   [shape: {len(got)} entries redone]")
                    continue
                columns = value.shape[1] if is_matrix else 1
                for n, (g, w) in enumerate(zip(got, want)):
                    if (n // columns, n % columns) in named.get(lhs, ()) or () in named.get(lhs, ()):
                        continue
                    if "/" in w:
                        ok = g == entry(w)
                    else:
                        ok = rounds_to(g, w)
                    checked += 1
                    if not ok:
                        wrong.append(f"{line.strip()}   [an entry redoes to {mpmath.nstr(_mp(g), 10)}, not {w}]")
            env[name] = value
    return checked, wrong


def _rule_tokens(rule: str):
    out, i = [], 0
    while i < len(rule):
        if rule[i] == " ":
            i += 1
            continue
        m = RTOKEN.match(rule, i)
        if m is None:
            return None
        out.append(m.group(1))
        i = m.end()
    return out


def random_net(seed: int):
    """A random small net: 2–4 units, relu/sigmoid/tanh or softmax + cross-entropy, batch 1–3,
    examples as columns or as rows."""
    rng = random.Random(seed)
    n, h, batch = rng.randint(2, 3), rng.randint(2, 4), rng.randint(1, 3)
    rows = seed % 2 == 1
    act = rng.choice(["sigmoid", "tanh", "relu"])
    X = [[_dec(rng, -2, 2, 1) for _ in range(batch)] for _ in range(n)]
    W1 = [[_dec(rng, -1, 1, 1) for _ in range(n)] for _ in range(h)]
    b1 = [_dec(rng, -0.5, 0.5, 1) for _ in range(h)]
    if rows:
        X = [list(r) for r in zip(*X)]
        W1 = [list(r) for r in zip(*W1)]
    softmax = seed % 3 == 0
    k = rng.randint(2, 3) if softmax else rng.randint(1, 2)
    W2 = [[_dec(rng, -1, 1, 1) for _ in range(h)] for _ in range(k)]
    b2 = [_dec(rng, -0.5, 0.5, 1) for _ in range(k)]
    if rows:
        W2 = [list(r) for r in zip(*W2)]
    first = "z1 = X @ W1 + b1" if rows else "z1 = W1 @ X + b1"
    second = "z2 = a1 @ W2 + b2" if rows else "z2 = W2 @ a1 + b2"
    if softmax:
        y = [rng.randint(0, k - 1) for _ in range(batch)]
        tail = "p = softmax(z2" + (", axis=1" if rows else "") + ")\nL = cross_entropy(p, y)"
    else:
        y = [[rng.choice([0, 1]) for _ in range(batch)] for _ in range(k)]
        if rows:
            y = [list(r) for r in zip(*y)]
        tail = "L = mean((z2 - y)**2)"
    return derive.Example.from_equations(f"{first}\na1 = {act}(z1)\n{second}\n{tail}",
                                         values={"X": X, "W1": W1, "b1": b1, "W2": W2, "b2": b2, "y": y},
                                         lr=rng.choice(["0.1", "0.5", "0.05"]),
                                         batch="rows" if rows else "columns"), rows


def test_the_matrix_redo_reads_the_lines_a_student_would():
    text = ("    W = [0.2, −0.5; 1.5, 1.3],    x = [1; 2],    b = [0.1; −0.2]\n"
            "    z = W x + b = [−0.7; 3.9]\n"
            "    ∂L/∂z = (z − b)/2 = [−0.4; 2.05]\n"
            "    ∂L/∂W = ∂L/∂z xᵀ = [−0.4, −0.8; 2.05, 4.1]\n"
            "    ∂L/∂b = Σ_batch ∂L/∂z = [−0.4; 2.05]\n")
    checked, wrong = check_tensor_document(text, False)
    assert checked == 2 + 2 + 4 + 2 and not wrong, wrong
    bad = text.replace("[−0.4, −0.8; 2.05, 4.1]", "[−0.4, −0.8; 2.05, 4.2]")
    assert len(check_tensor_document(bad, False)[1]) == 1


@pytest.mark.parametrize("chunk", range(4))
def test_every_matrix_line_of_random_tensor_nets_redoes(chunk):
    checked, wrong = 0, []
    for seed in range(chunk * 10, chunk * 10 + 10):
        ex, rows = random_net(seed)
        n, bad = check_tensor_document(ex.to_text(), rows)
        checked += n
        wrong += [f"seed {seed}: {w}" for w in bad]
    assert not wrong, "\n".join(wrong[:20])
    assert checked >= 10 * 20


def test_without_the_entries_digits_matrix_lines_do_not_redo(monkeypatch):
    """The check can fail: with the document's digits alone, some bias sums, products and
    updates of these nets are off in their last digit."""
    from derive.solutions import matrixdoc
    monkeypatch.setattr(matrixdoc, "matrix_carries", lambda *args: ({}, set()))
    wrong = []
    for seed in (0, 1, 2, 6):
        ex, rows = random_net(seed)
        wrong += check_tensor_document(ex.to_text(), rows)[1]
    assert len(wrong) >= 4
    assert any("Σ_batch" in w or "𝟏ᵀ" in w or "ᵀ" in w for w in wrong)


def check_first_update(text: str, optimizer: str, parameter: str) -> tuple[int, list]:
    """A tensor run's "Update 1 with the numbers" matrices (g₁, m₁, v₁, m̂₁, v̂₁ / s₁ / G₁ / v₁,
    then the new parameter), each redone entry by entry from the matrices printed above it."""
    h = hyper(text)
    flat = " ".join(text.split())
    named = set(re.findall(r"(\S+)(?= and| follows? from the numbers above only with more digits than are "
                           r"shown, in some entries)", flat))
    given = re.search(rf"^    (?:.*,    )?{parameter} = (\[[^\]]*\])", text, re.M)
    section = text[text.index("Update 1 with the numbers"):text.index("Entry by entry")]
    shown = {}
    for line in section.splitlines()[1:]:
        if not line.startswith("    "):
            continue  # a sentence naming what needs more digits
        lhs, *_, result = line.strip().split(" = ")
        shown[lhs] = matrix(result)
    theta, g = matrix(given.group(1)), shown["g₁"]
    root = lambda x: mpmath.sqrt(_mp(x))  # noqa: E731
    b1, b2, lr, eps = h.get("b1"), h.get("b2"), h["lr"], h.get("eps")
    redo = {
        "adam": [("m₁", lambda i: (1 - b1) * g[i]), ("v₁", lambda i: (1 - b2) * g[i] ** 2),
                 ("m̂₁", lambda i: shown["m₁"][i] / (1 - b1)), ("v̂₁", lambda i: shown["v₁"][i] / (1 - b2)),
                 ("new", lambda i: _mp(theta[i]) - _mp(lr) * _mp(shown["m̂₁"][i])
                  / (root(shown["v̂₁"][i]) + _mp(eps)))],
        "rmsprop": [("s₁", lambda i: (1 - h["alpha"]) * g[i] ** 2),
                    ("new", lambda i: _mp(theta[i]) - _mp(lr) * _mp(g[i]) / (root(shown["s₁"][i]) + _mp(eps)))],
        "adagrad": [("G₁", lambda i: g[i] ** 2),
                    ("new", lambda i: _mp(theta[i]) - _mp(lr) * _mp(g[i]) / (root(shown["G₁"][i]) + _mp(eps)))],
        "nesterov": [("v₁", lambda i: g[i]), ("new", lambda i: theta[i] - lr * (g[i] + h["mu"] * shown["v₁"][i]))],
    }[optimizer]
    checked, wrong = 0, []
    for name, f in redo:
        key = f"{parameter}_new" if name == "new" else name
        if key in named:
            continue
        printed = printed_entries(section.split(f"{key} = ")[1].splitlines()[0].split(" = ")[-1])
        for n, index in enumerate(np.ndindex(*g.shape)):
            checked += 1
            if not rounds_to(f(index), printed[n]):
                wrong.append(f"{key}{index}: printed {printed[n]}, redone {mpmath.nstr(_mp(f(index)), 10)}")
    return checked, wrong


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "adagrad", "nesterov"])
def test_a_tensor_runs_first_update_matrices_redo(optimizer):
    checked, wrong = 0, []
    for seed in range(4):
        tr = tensor_example(seed).train(1, optimizer=optimizer, lr=[0.1, 0.05, 0.5, 0.01][seed])
        n, bad = check_first_update(tr.to_text(), optimizer, "W")
        checked += n
        wrong += [f"seed {seed}: {w}" for w in bad]
    assert not wrong, "\n".join(wrong[:20])
    assert checked >= 4 * 8
