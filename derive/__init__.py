"""derive: step-by-step, exact chain-rule derivations for teaching backpropagation.

>>> import derive
>>> ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1)
>>> ex.grad("w"), ex.update("w")
(8, 11/5)

Names are imported on first use (PEP 562), so the command line starts fast.

Importing derive has one side effect a caller can see: it sets the environment variable
``SYMPY_CACHE_SIZE`` to 20000 unless it is set already (SymPy reads it once, when it is first
imported; see below). It changes no other global state: no matplotlib backend, no garbage
collector setting, no SymPy option.
"""
import os as _os

# SymPy's expression cache holds 1000 entries by default; a deep network touches more distinct
# expressions than that per pass, and the thrashing made 1000-layer chains superlinear. The size is
# read when SymPy is first imported, so this only takes effect if derive is imported first.
_os.environ.setdefault("SYMPY_CACHE_SIZE", "20000")

from .core.errors import (AnswerError, DeriveError, DeriveWarning, GraphError, InvalidValue,  # noqa: E402
                          NotApplicable, OutputExists, ParseError, RegistrationError, SpecError,
                          UndefinedValue, UnknownName)

__version__ = "0.1.0"

# The layers of the package, bottom first. A module imports only from its own layer or from those
# before it (tests/test_architecture.py parses every import, function-level ones included):
#   core        parser, exact numbers, function and loss registries, graph, engine, derivation data
#   rendering   printers (one per format), content blocks, the format registry, diagrams
#   io          atomic files and folders, exports that only need the core (PyTorch script)
#   solutions   worked-solution content (scalar and matrix), observations, deep networks: built
#               from a graph and its derivation
#   checking    answer keys and the answer reader, verdicts, the mistake catalogue, the tutor
#   training    the optimizer registry, exact training runs, their observations and document
#   initialization  He/LeCun/Glorot derived, and the variance simulation
#   model       the examples users build: Example, builders, spec files
#   courseware  documents made of several examples: comparison, remedies, homework, handout, demo,
#               self-checking worksheets
#   serve       the web app of `derive serve` (Starlette): derive, check and train in the browser
#   cli         the command line, thin over the rest
LAYERS = ("core", "rendering", "io", "solutions", "checking", "training", "initialization", "model",
          "courseware", "serve", "cli", "__main__")

_EXPORTS = {
    "Example": "model.example", "neuron": "model.builders", "chain": "model.builders",
    "mlp": "model.builders", "compare_activations": "courseware.compare",
    "FUNCTIONS": "core.functions", "ACTIVATIONS": "core.functions", "LOSSES": "core.losses",
    "Report": "checking.report", "variance_derivation": "initialization.variance",
    "simulate_variance": "initialization.variance", "remedies": "courseware.remedies",
    "TensorExample": "model.tensors", "from_torch": "model.fromtorch",
    "batchnorm": "model.layers", "rnn": "model.layers", "conv1d": "model.layers",
    "conv2d": "model.layers", "maxpool": "model.layers", "dropout": "model.layers",
    "batchnorm_simplified": "model.layers",
    "register_activation": "core.extend",  # the documented extension point (DESIGN.md: Extending)
    "unregister": "core.extend",
}

__all__ = ["DeriveError", "ParseError", "GraphError", "InvalidValue", "UndefinedValue",
           "UnknownName", "AnswerError", "SpecError", "OutputExists", "RegistrationError",
           "NotApplicable", "DeriveWarning", *_EXPORTS]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'derive' has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
