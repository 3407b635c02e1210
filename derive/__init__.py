"""derive: step-by-step, exact chain-rule derivations for teaching backpropagation.

>>> import derive
>>> ex = derive.neuron(x=2, w=3, b=1, y=5, activation="relu", lr=0.1)
>>> ex.grad("w"), ex.update("w")
(8, 11/5)

Names are imported on first use (PEP 562), so the command line starts fast.
"""
import os as _os

# SymPy's expression cache holds 1000 entries by default; a deep network touches more distinct
# expressions than that per pass, and the thrashing made 1000-layer chains superlinear. The size is
# read when SymPy is first imported, so this only takes effect if derive is imported first.
_os.environ.setdefault("SYMPY_CACHE_SIZE", "20000")

from .errors import DeriveError  # noqa: E402

__version__ = "0.1.0"

_EXPORTS = {
    "Example": "example", "neuron": "builders", "chain": "builders", "mlp": "builders",
    "compare_activations": "compare", "FUNCTIONS": "functions", "ACTIVATIONS": "functions",
    "LOSSES": "losses", "Report": "checking", "variance_derivation": "initialization",
    "simulate_variance": "initialization", "remedies": "remedies",
}

__all__ = ["DeriveError", *_EXPORTS]


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
