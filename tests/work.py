"""Work measured by counting, never by a clock: a refusal is "fast" when it makes few calls, and a
count is the same on a busy machine and an idle one. (How long things take is measured by the
scripts in bench/, which print medians.)"""
from __future__ import annotations

import sys
from contextlib import contextmanager


class Calls:
    """The number of Python function calls made in a ``counted()`` block (``.n``)."""

    def __init__(self):
        self.n = 0

    def __repr__(self):
        return f"{self.n} calls"


@contextmanager
def counted():
    """Count the Python function calls made inside the block, in this thread (sys.setprofile):
    a measure of work that does not depend on the machine's speed or load. Imports are not
    counted (a module imported lazily is imported by whichever test runs first, and under xdist
    that order differs from run to run)."""
    calls = Calls()
    importing = [0]

    def profile(frame, event, arg):
        code = frame.f_code
        if code.co_name == "<module>" or code.co_filename.startswith("<frozen importlib"):
            if event == "call":
                importing[0] += 1
            elif event == "return":
                importing[0] -= 1
        elif event == "call" and not importing[0]:
            calls.n += 1
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(previous)
