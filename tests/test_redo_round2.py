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
from fractions import Fraction

import mpmath
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
            note = lines[j] if j < len(lines) else ""
            beyond = set()
            while j < len(lines) and not lines[j].startswith("Update ") and lines[j].strip():
                if "nearly equal numbers" in lines[j] or beyond:
                    beyond |= set(re.findall(r"(\w+)(?: and| at step)", lines[j]))
                j += 1
            out.append((int(m.group(1)), header[1:], rows, beyond if "nearly equal" in " ".join(lines[i:j]) else set()))
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
    assert "Here b at step 1 is a difference of nearly equal numbers" in text
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
