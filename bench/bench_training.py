"""Training speed: exact steps that cost the same at step 20 as at step 1.

Targets (issue 14): 20 Adam steps on Mazur's 2-2-2 sigmoid network, with the document, ≤ 0.5 s;
100 SGD steps of the conversation's sigmoid neuron (x = 2, w = 3, b = 1, y = 5, η = 0.1) ≤ 1 s.
Also prints the cost per step at 5, 20 and 80 steps (it should stay flat). Prints medians.
Each median is also given as a ratio to a same-run `python -c "import sympy"` (reference.py).
Run: python bench/bench_training.py [repeats]
"""
import statistics
import sys
import time

import derive
from reference import Reference

NETWORK = dict(inputs=[0.05, 0.10], weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
               biases=[[0.35, 0.35], [0.60, 0.60]], targets=[0.01, 0.99], activation="sigmoid",
               loss="half_squared_error")


def adam_with_document() -> float:
    start = time.perf_counter()
    tr = derive.mlp(**NETWORK).train(20, optimizer="adam", lr=0.1)
    document = tr.to_markdown(figure="loss.png")
    elapsed = time.perf_counter() - start
    assert len(tr.loss) == 21 and "Adam" in document
    return elapsed


def sgd_sigmoid_neuron(steps: int = 100) -> float:
    start = time.perf_counter()
    tr = derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid", loss="squared_error").train(steps, lr=0.1)
    elapsed = time.perf_counter() - start
    assert len(tr.loss) == steps + 1
    return elapsed


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    adam_with_document(), sgd_sigmoid_neuron(5)  # warm up (imports, SymPy's caches)
    ref, adam, sgd = Reference(), [], []
    for _ in range(repeats):
        ref.sample()
        adam.append(adam_with_document())
        sgd.append(sgd_sigmoid_neuron())
    print(ref.summary())
    print(ref.line("20 Adam steps, 2-2-2 network, with the document", adam) + " (target ≤ 0.5 s)")
    print(ref.line("100 SGD steps, sigmoid neuron", sgd) + " (target ≤ 1 s)")
    for steps in (5, 20, 80):
        per = statistics.median(sgd_sigmoid_neuron(steps) for _ in range(3)) / steps
        print(f"  sigmoid neuron, {steps:3d} steps: {1000 * per:.2f} ms per step")


if __name__ == "__main__":
    main()
