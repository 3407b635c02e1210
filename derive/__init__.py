"""derive: step-by-step, exact chain-rule derivations for teaching backpropagation.

>>> import derive
>>> ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1)
>>> ex.grad("w"), ex.update("w")
(8, 11/5)
"""
from .builders import chain, mlp, neuron
from .compare import compare_activations
from .errors import DeriveError
from .example import Example
from .functions import ACTIVATIONS, FUNCTIONS
from .losses import LOSSES

__all__ = ["Example", "neuron", "chain", "mlp", "compare_activations", "DeriveError", "FUNCTIONS", "ACTIVATIONS", "LOSSES"]
__version__ = "0.1.0"
