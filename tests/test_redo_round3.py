"""Arithmetic a student can redo, round 3 (issue 26, item 2; QA items 5–7): lines redone from
what is printed *on other lines*.

* A sum over paths adds the path results exactly as the path lines print them (and those lines
  redo from their own printed factors), on two- and three-path graphs written here.
* A matrix line with an activation's derivative (∂L/∂a1 ⊙ (1 − tanh²(z1))) redoes from the
  printed activation too (1 − a1², with a1 as printed in the forward pass), as a student would.
* One value, one printed form: a copied gradient (∂L/∂a = ∂L/∂u1 = […]) prints its source's
  entries, and a parameter at the foot of one step table is printed as at the head of the next.

Independent of derive's printer: the text output is parsed (the parsers of the earlier rounds)."""
from __future__ import annotations

import random
import re

import pytest

import derive
from test_arithmetic import NUMBER, check_document, number
from test_redo_round2 import check_tensor_document, random_net, tables

SIGNED = re.compile(rf"(^|[+−])\s*\(?({NUMBER})\)?")


def path_sums(text: str):
    """(path results as printed, the sum line's terms as printed, the sum line) of every sum over
    paths: each path line's last member, and the signed terms of "∂L/∂w = t₁ − t₂ + t₃ ≈ …"."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not re.match(r"There (?:is|are) \d+ paths?; each contributes", line):
            continue
        results, j = [], i + 1
        while not lines[j].startswith("The gradient is the sum over the paths"):
            if lines[j].startswith("    ") and not lines[j].startswith("        "):
                results.append(number(re.split(r" [=≈] ", lines[j].strip())[-1]))
            j += 1
        members = re.split(r" [=≈] ", lines[j + 1].strip())
        terms = [number(m.group(2)) * (-1 if m.group(1) == "−" else 1)
                 for m in SIGNED.finditer(members[1].replace(" ", ""))]
        yield results, terms, lines[j + 1].strip()


# two- and three-path graphs: a node used twice (u feeds h and L; h feeds p and q)
GRAPHS = [
    "u = w*x + b\nh = tanh(u)\nL = (h - y)**2 + c*u",                     # w, b: 2 paths
    "u = w*x\np = sigmoid(u)\nq = u*v\nL = p*q - y",                        # w: 2 paths, v: 1
    "u = w*x + b\nh = tanh(u)\np = v*h\nq = h*h\nL = p + 0.5*q - y*u",    # w, b: 3 paths
    "u = w*x + b\na = sigmoid(u)\ns = softplus(u)\nL = v*a + s*s - y*u",   # w, b: 3 paths
    "z = w*x\nh = tanh(z)\nL = h*w + (z - y)**2",                          # w: 3 paths (two via z)
]


def graph_example(seed: int):
    rng = random.Random(seed)
    equations = GRAPHS[seed % len(GRAPHS)]
    names = sorted(set(re.findall(r"\b[a-z]\b", equations)) - {"u", "h", "p", "q", "a", "s", "z"}
                   - set(re.findall(r"^(\w+) =", equations, re.M)))
    values = {n: round(rng.uniform(-2, 2), rng.choice([1, 2])) or 0.5 for n in names}
    return derive.Example.from_equations(equations, values=values, lr=rng.choice([0.1, 0.2, 0.05]))


def test_the_qa_graph_sums_the_printed_path_results():
    ex = derive.Example.from_equations(GRAPHS[2], values={"x": 1.3, "w": -0.7, "b": 0.4, "v": 1.6, "y": 0.25},
                                       lr=0.2)
    sums = list(path_sums(ex.to_text()))
    assert len(sums) == 2 and all(len(r) == 3 for r, _, _ in sums)
    for results, terms, line in sums:
        assert results == terms, line
    assert "≈ 1.6206" in ex.to_text()  # the path the QA redid: 1 · 1.6 · 0.7792 · 1.3 gave 1.6207


def test_path_sum_check_catches_a_term_that_differs_from_its_path_line():
    text = ("There are 2 paths; each contributes the product of the local derivatives along it:\n"
            "    ∂L/∂p · ∂p/∂w = 1 · 1.6 ≈ 1.621\n"
            "        (path 1: w → p → L)\n"
            "    ∂L/∂u · ∂u/∂w = (−0.25) · 1.3 = −0.325\n"
            "The gradient is the sum over the paths:\n"
            "    ∂L/∂w = 1.6206 − 0.325 ≈ 1.296\n")
    (results, terms, _), = path_sums(text)
    assert results == [number("1.621"), number("−0.325")] and terms == [number("1.6206"), number("−0.325")]


@pytest.mark.parametrize("chunk", range(4))
def test_every_path_sum_of_random_multi_path_graphs_adds_the_printed_paths(chunk):
    sums, checked, wrong = 0, 0, []
    for seed in range(chunk * 30, chunk * 30 + 30):
        text = graph_example(seed).to_text()
        for results, terms, line in path_sums(text):
            sums += 1
            if results != terms:
                wrong.append(f"seed {seed}: {line}   [the path lines print {results}]")
        n, bad = check_document(text)  # and each path line redoes from its printed factors
        checked += n
        wrong += [f"seed {seed}: {w}" for w in bad]
    assert not wrong, "\n".join(wrong[:20])
    assert sums >= 30 and checked >= 30 * 8


# --- matrix lines through the printed activation --------------------------------------------

FORWARD = re.compile(r"^    (\w+) = (σ|tanh)\((\w+)\) = \[")


def through_activations(text: str) -> str:
    """The text with each later σ(z) / tanh(z) written as the activation printed for it (a1 for
    tanh(z1) after "a1 = tanh(z1) = […]"): the lines a student redoes from the forward pass."""
    out = []
    seen: dict = {}
    for line in text.splitlines():
        m = FORWARD.match(line)
        if line.startswith("    ") and "∂L/∂" in line:
            for (f, z), a in seen.items():
                line = line.replace(f"{f}²({z})", f"{a}²").replace(f"{f}({z})", a)
        out.append(line)
        if m:
            seen[(m.group(2), m.group(3))] = m.group(1)
    return "\n".join(out)


def test_the_qa_classifier_redoes_from_the_printed_a1():
    ex = derive.Example.from_equations(
        "z1 = W1 @ X + b1\na1 = tanh(z1)\nz2 = W2 @ a1 + b2\np = softmax(z2)\nL = cross_entropy(p, y)",
        values={"X": [[0.6], [-1.2], [0.3]], "W1": [[0.4, -0.3, 0.8], [-0.7, 0.2, 0.5]], "b1": [0.1, -0.2],
                "W2": [[1.2, -0.6], [-0.9, 0.7]], "b2": [0.05, -0.15], "y": [1]}, lr=0.3)
    text = through_activations(ex.to_text())
    assert "∂L/∂z1 = ∂L/∂a1 ⊙ (1 − a1²) = [" in text
    checked, wrong = check_tensor_document(text, False)
    assert checked >= 20 and not wrong, wrong


@pytest.mark.parametrize("chunk", range(3))
def test_matrix_lines_of_random_nets_redo_from_the_printed_activations(chunk):
    checked, rewritten, wrong = 0, 0, []
    for seed in range(chunk * 12, chunk * 12 + 12):
        ex, rows = random_net(seed)
        text = ex.to_text()
        read = through_activations(text)
        rewritten += read != text
        n, bad = check_tensor_document(read, rows)
        checked += n
        wrong += [f"seed {seed}: {w}" for w in bad]
    assert not wrong, "\n".join(wrong[:20])
    assert checked >= 12 * 20 and rewritten >= 6  # relu nets have no σ/tanh to read


# --- one value, one printed form ---------------------------------------------------------------

COPY = re.compile(r"^    (∂L/∂\w+) = (∂L/∂\w+) = (\[.*\])$")
LINE = re.compile(r"^    (∂L/∂\w+) = .* = (\[.*\])$")


def copies_differing(text: str) -> list:
    printed, out = {}, []
    for line in text.splitlines():
        m = COPY.match(line)
        if m and m.group(2) in printed and printed[m.group(2)] != m.group(3):
            out.append(f"{line.strip()}   [{m.group(2)} printed {printed[m.group(2)]}]")
        m = LINE.match(line)
        if m:
            printed[m.group(1)] = m.group(2)
    return out


def test_a_copied_gradient_prints_its_sources_entries():
    ex = derive.Example.from_equations(
        "z = W @ X + b\na = sigmoid(z)\nL = mean((a - Y)**2)",
        values={"W": [[0.5, -0.25], [-1, 0.75]], "X": [[1, 0, -2], [2, -1, 0.5]], "b": [0.1, -0.3],
                "Y": [[1, 0, 1], [0, 1, 0]]}, lr=0.5)
    text = ex.to_text()
    assert "∂L/∂a = ∂L/∂u1 = [" in text and not copies_differing(text), copies_differing(text)
    assert copies_differing("    ∂L/∂u = ∂L/∂v ⊙ 2u = [0.19554]\n    ∂L/∂a = ∂L/∂u = [0.1955]\n")


def test_copied_gradients_of_random_nets_print_alike():
    differing, copies = [], 0
    for seed in range(16):
        text = random_net(seed)[0].to_text()
        copies += sum(bool(COPY.match(line)) for line in text.splitlines())
        differing += [f"seed {seed}: {w}" for w in copies_differing(text)]
    assert copies >= 16
    assert len(differing) <= copies // 10, "\n".join(differing)  # a bias update's tie may keep its own digits


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "momentum", "sgd"])
def test_a_parameter_at_the_foot_of_one_table_is_printed_as_at_the_head_of_the_next(optimizer):
    compared, wrong = 0, []
    for seed in range(3):
        rng = random.Random(seed)
        ex = derive.neuron(x=round(rng.uniform(-2, 2), 1), w=round(rng.uniform(-1, 1), 2) or 0.5,
                           b=round(rng.uniform(-0.5, 0.5), 1), y=round(rng.uniform(0, 1), 1),
                           activation=rng.choice(["softplus", "sigmoid", "tanh"]))
        found = tables(ex.train(3, optimizer=optimizer, lr=[0.05, 0.1, 0.5][seed]).to_text())
        for (k, _, rows, beyond), (k1, _, rows1, _) in zip(found, found[1:]):
            for p in rows:
                if k1 == k + 1 and p not in beyond:
                    compared += 1
                    if rows[p][-1] != rows1[p][0]:
                        wrong.append(f"seed {seed}, {p}: step {k} ends {rows[p][-1]}, step {k1} starts {rows1[p][0]}")
    assert compared >= 12 and not wrong, "\n".join(wrong)
