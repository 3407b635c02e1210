"""Input roles recognised by name: data (given, never updated) and constants (hyperparameters).

Both the examples (which inputs gradient descent updates) and the function registry (which names
an activation may not take, since equations use them as values) read these.

>>> bool(DATA_NAME.match("x1")), bool(CONSTANT_NAME.match("eps_bn")), bool(CONSTANT_NAME.match("w"))
(True, True, False)
"""
from __future__ import annotations

import re

# Inputs that are given, never updated, recognised by name: x…, y… (inputs and targets), t and h
# with an index (a target, a hidden state carried in: `U*x + V*h`), target…, label…, mask…, input…
DATA_NAME = re.compile(r"^(?:[xyXY]\w*|[thTH](?:\d\w*|_\w*)?|target\w*|label\w*|mask\w*|input\w*)$")
# Hyperparameters, never updated: a regularisation strength λ, a BatchNorm ε, a dropout p, a margin …
CONSTANT_NAME = re.compile(r"^(?:lam|lambda|eps|epsilon|p|delta|alpha|margin|eta|lr|tau|temperature|"
                           r"keep|momentum|decay|n|N)(?:\d+|_\w*)?$")

__all__ = ["DATA_NAME", "CONSTANT_NAME"]
