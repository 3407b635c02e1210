"""Remedies for exploding (and vanishing) gradients, worked on the conversation's 3-layer ReLU
chain (every weight 5, x = 1, y = 0, so every ∂L/∂w = 3125) — through the equation engine wherever
the remedy is itself a computation: weight decay, a residual connection, a normalisation step.
Gradient clipping acts on the gradient vector after backpropagation and is computed exactly here.
"""
from __future__ import annotations

import sympy as sp

from ..model.builders import chain
from ..core.derivation import Chain, Note, Partial, Prime, Product, Sum, Total, Value, Vector
from ..core.functions import FUNCTIONS
from ..core.notation import Indexed, Norm, SumOver
from ..rendering.blocks import Content, Section
from ..model.example import Example
from ..core.functions import Sentence

ETA = sp.Rational(1, 1000)  # a learning rate for the before/after updates
# the general formulas' symbols: layer l, unit i, weight w, λ
L, I, W, A, Z, LAM = sp.symbols("l i w a z lambda")
CLIP = sp.Integer(5)  # clipping threshold (norm and value)
DECAY = sp.Rational(1, 10)  # λ


def _base():
    return chain(depth=3, weight=5, x=1, activation="relu", loss="half_squared_error", y=0, lr=ETA)


def clipping_section() -> tuple[Section, dict]:
    ex = _base()
    grads = [ex.grad(f"w{l}") for l in (1, 2, 3)]
    norm = sp.sqrt(sum(g ** 2 for g in grads))
    scale = sp.Min(1, CLIP / norm)
    by_norm = [sp.nsimplify(g * scale) for g in grads]
    by_value = [sp.Max(-CLIP, sp.Min(CLIP, g)) for g in grads]
    g, c = sp.Symbol("g"), sp.Symbol("c")
    s = Section("Gradient clipping")
    s.say(Sentence("Backpropagation gives the gradient vector {0}. Its length is {1}.",
                   (Chain(g, "=", Vector(tuple(Value(x) for x in grads))),
                    Chain(Norm(g), "=", norm, "=", Value(norm)))))
    s.say(Sentence("Clipping by norm rescales the whole vector to length at most {0}, keeping its "
                   "direction:", (Chain(sp.Symbol("c"), "=", Value(CLIP)),)))
    s.show(Chain(sp.Symbol("g_clipped"), "=", sp.Mul(g, sp.Min(1, c / Norm(g)), evaluate=False),
                 "=", Vector(tuple(Value(x) for x in by_norm))))
    s.say(Sentence("Clipping by value caps each component at ±c instead: every component becomes "
                   "{0} (here the same, because all components are equal; in general the direction "
                   "changes).", (Value(by_value[0]),)))
    s.say(Sentence("The update of w1 with learning rate {0}:", (Chain(sp.Symbol("eta"), "=", Value(ETA)),)))
    before = 5 - ETA * grads[0]
    after = 5 - ETA * by_norm[0]
    s.show(Chain(sp.Symbol("w1_new"), "=", Value(sp.Integer(5)), "-",
                 Product((Value(ETA), Value(grads[0]))), "=", Value(before), Note("unclipped")))
    s.show(Chain(sp.Symbol("w1_new"), "=", Value(sp.Integer(5)), "-",
                 Product((Value(ETA), Value(by_norm[0]))), "=", Value(after), Note("clipped by norm")))
    s.say(Sentence("Clipping does not make the gradient correct — it bounds the step, so one huge "
                   "gradient cannot throw the weights far away."))
    return s, {"norm": norm, "by_norm": by_norm[0], "by_value": by_value[0], "before": before, "after": after}


def weight_decay_section() -> tuple[Section, dict]:
    text = ("z1 = w1*x\na1 = relu(z1)\nz2 = w2*a1\na2 = relu(z2)\nz3 = w3*a2\na3 = relu(z3)\n"
            "L = 1/2*(a3 - y)**2\nR = L + lam/2*(w1**2 + w2**2 + w3**2)")
    ex = Example.from_equations(text, values={"x": 1, "y": 0, "w1": 5, "w2": 5, "w3": 5, "lam": DECAY},
                                params=["w1", "w2", "w3"], lr=ETA, output="R")
    s = Section("Weight decay (L2 regularisation)")
    s.say(Sentence("Add {0} to the loss. Its derivative adds {1} to every weight's gradient, "
                   "pulling large weights back towards 0:",
                   (sp.Mul(sp.Rational(1, 2), LAM, SumOver(Indexed(W, L) ** 2, L), evaluate=False),
                    sp.Mul(LAM, Indexed(W, L), evaluate=False))))
    g = ex.grad("w1")
    s.show(Chain(Total("R", "w1"), "=", Sum((Total("L", "w1"), Product((LAM,
                                                                                 sp.Symbol("w1"))))),
                 "=", Sum((Value(ex.grad("w1", of="L")), Product((Value(DECAY), Value(sp.Integer(5)))))),
                 "=", Value(g)))
    new = ex.update("w1")
    s.show(Chain(sp.Symbol("w1_new"), "=", Value(sp.Integer(5)), "-",
                 Product((Value(ETA), Value(g))), "=", Value(new)))
    s.say(Sentence("Weight decay mostly prevents the weights from growing large in the first place; "
                   "on its own it does not tame a gradient that is already 3125."))
    return s, {"grad": g, "new": new}


def residual_section() -> tuple[Section, dict]:
    relu = FUNCTIONS["relu"].function  # the remedy is for a ReLU chain
    weight = sp.Rational(1, 10)  # small weights: the plain chain vanishes
    plain = chain(depth=3, weight=weight, x=1, activation="relu", loss="half_squared_error", y=0)
    text = ("z1 = w1*x\na1 = relu(z1) + x\nz2 = w2*a1\na2 = relu(z2) + a1\nz3 = w3*a2\n"
            "a3 = relu(z3) + a2\nL = 1/2*(a3 - y)**2")
    res = Example.from_equations(text, values={"x": 1, "y": 0, "w1": weight, "w2": weight, "w3": weight},
                                 params=["w1", "w2", "w3"])
    d = res.derivation("w1")
    local = d.local_step("a2", "a1")
    s = Section("A residual connection")
    s.say(Sentence("With small weights {0} the plain chain's gradient vanishes: {1}. A residual "
                   "(skip) connection adds each layer's input to its output, {2}, so the local "
                   "derivative gains a 1:",
                   (Chain(sp.Symbol("w"), "=", Value(weight)),
                    Chain(Total("L", "w1"), "=", Value(plain.grad("w1"))),
                    Chain(Indexed(A, L), "=", sp.Add(relu(Indexed(Z, L)), Indexed(A, L - 1), evaluate=False)))))
    total = res.grad("a1", of="a2")  # the direct edge (1) plus the path through z2
    s.show(Chain(Partial("a2", "a1"), "=",
                 Sum((sp.S.One, Product((Prime("relu", sp.Symbol("z2")), sp.Symbol("w2"))))), "=",
                 Sum((Value(local.value), Product((Value(d.local_step("a2", "z2").value),
                                                   Value(weight))))), "=", Value(total)))
    s.say(Sentence("With the skips, the same chain gives {0}: the identity path "
                   "keeps the gradient alive however small the weights are.",
                   (Chain(Total("L", "w1"), "=", Value(res.grad("w1"))),)))
    return s, {"plain": plain.grad("w1"), "residual": res.grad("w1"), "local": total}


def normalisation_section() -> tuple[Section, dict]:
    # A 2-unit layer with large weights, then RMS normalisation of the layer (as LayerNorm does,
    # without the mean): the output no longer grows with the weights' scale.
    text = ("z1 = w1*x\nz2 = w2*x\na1 = relu(z1)\na2 = relu(z2)\n"
            "r = sqrt((a1**2 + a2**2)/2)\nn1 = a1/r\nn2 = a2/r\nq = v1*n1 + v2*n2\nL = 1/2*(q - y)**2")
    values = {"x": 1, "w1": 5, "w2": 15, "v1": 5, "v2": 5, "y": 0}
    ex = Example.from_equations(text, values=values, params=["w1", "w2", "v1", "v2"])
    plain = Example.from_equations("z1 = w1*x\nz2 = w2*x\na1 = relu(z1)\na2 = relu(z2)\n"
                                   "q = v1*a1 + v2*a2\nL = 1/2*(q - y)**2", values=values,
                                   params=["w1", "w2", "v1", "v2"])
    s = Section("A normalisation step")
    s.say(Sentence("Normalise a layer's activations by their root mean square, {0} and {1}. With "
                   "weights 5 and 15 the layer's outputs are {2} and {3}; after normalisation "
                   "they are {4} and {5}, whatever the weights' scale.",
                   (Chain(ex.graph.symbols["r"], "=", ex.graph.nodes["r"].display),
                    Chain(Indexed(sp.Symbol("n"), I), "=", Indexed(sp.Symbol("a"), I) / sp.Symbol("r")),
                    Chain(sp.Symbol("a1"), "=", Value(ex.value("a1"))), Chain(sp.Symbol("a2"), "=", Value(ex.value("a2"))),
                    Chain(sp.Symbol("n1"), "=", Value(ex.value("n1"))), Chain(sp.Symbol("n2"), "=", Value(ex.value("n2"))))))
    s.say(Sentence("The gradient reaching the first-layer weight shrinks accordingly: {0} without "
                   "normalisation, {1} with it (the gradient flows through r as well).",
                   (Chain(Total("L", "w1"), "=", Value(plain.grad("w1"))),
                    Chain(Total("L", "w1"), "=", Value(ex.grad("w1"))))))
    return s, {"plain": plain.grad("w1"), "normalised": ex.grad("w1")}


def remedies():
    """The worked remedies and a summary table like the conversation's, generated (a
    ``Handout``: renders as Markdown, LaTeX or text).

    >>> r = remedies()
    >>> r.results["clipping"]["norm"], r.results["clipping"]["by_norm"]
    (3125*sqrt(3), 5*sqrt(3)/3)
    """
    from ..initialization.variance import Handout
    clip, c = clipping_section()
    decay, d = weight_decay_section()
    resid, r = residual_section()
    norm, n = normalisation_section()
    intro = Section("The problem")
    base = _base()
    intro.say(Sentence("The 3-layer ReLU chain with every weight 5 (x = 1, y = 0, half squared "
                       "error) has {0} for every weight. ReLU passes gradients through unchanged, so "
                       "it cannot stop this; the remedies below act elsewhere.",
                       (Chain(Total("L", "w1"), "=", Value(base.grad("w1"))),)))
    summary = Section("Summary")
    summary.tabulate(
        ["technique", "what it does", "on the examples"],
        [["He initialisation", "weights with variance 2/n_in keep each layer's scale at 1",
          Sentence("see the He handout (simulation)")],
         ["gradient clipping (norm)", "rescales the gradient vector to length ≤ c",
          Sentence("{0} → {1}", (Value(base.grad("w1")), Value(c["by_norm"])))],
         ["gradient clipping (value)", "caps each component at ±c",
          Sentence("{0} → {1}", (Value(base.grad("w1")), Value(c["by_value"])))],
         ["weight decay (L2)", "adds λw to each gradient; keeps weights small",
          Sentence("{0} → {1}", (Value(base.grad("w1")), Value(d["grad"])))],
         ["residual connection", "adds an identity path: local derivative 1 + ReLU'(z)·w",
          Sentence("{0} → {1} (small weights)", (Value(r["plain"]), Value(r["residual"])))],
         ["normalisation", "rescales a layer's activations to unit size",
          Sentence("{0} → {1}", (Value(n["plain"]), Value(n["normalised"])))]])
    content = Content("Remedies for exploding and vanishing gradients, worked",
                      [intro, clip, decay, resid, norm, summary])
    return Handout(content, {"clipping": c, "decay": d, "residual": r, "normalisation": n})
