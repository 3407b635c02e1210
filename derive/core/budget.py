"""The budget for exact work: every limit that keeps derive's work bounded on any input, in one place.

Exact arithmetic has no natural ceiling: ``1e999999999``, ``3**100000000``, ``2**2**2**2**2**2``,
a chain of forty squarings or ``exp`` nested five deep would each run for minutes or exhaust memory.
Every such case is refused *before* the expensive step, with a ``BudgetError`` naming the limit,
the culprit and how to raise the limit:

====================  =========  ================================================================
limit                 default    what it bounds
====================  =========  ================================================================
``max_digits``        4000       digits of a number literal, and of the numerator or denominator
                                 of any exact value (it replaces Python's int-string limit, see
                                 ``python_digits``)
``max_exponent``      10000      the ``e`` exponent of a literal and an integer power's exponent
``max_magnitude``     4000       decimal orders of magnitude of any value (``exp(1e6)`` is refused)
``max_nesting``       100        parentheses, unary signs and calls nested in one expression
``max_nodes``         5000       nodes plus inputs of one graph (a chain of depth d has 2d + 1)
``max_terms``         20000      operations (+ − * /) in one text of equations
``max_variants``      5000       homework variants per run, and the index in a variant id
``simplify_seconds``  0.5        time for ``simplify`` in symbolic comparison; past it derive
                                 compares at random points instead
``max_file_bytes``    1000000    size of a spec, equations or answers file, and the uncompressed
                                 size of an ``.npz`` answers archive
``max_answer_chars``  20000      characters of one answer (longer ones are not graded)
``max_choices``       5000       items of a homework ``choice:`` list
``max_yaml_values``   20000      values (scalars, lists, mappings) in one YAML file
====================  =========  ================================================================

The limits are options: ``configure(max_digits=20000)`` for the process, ``limits(...)`` as a
context manager, the environment variable ``DERIVE_LIMITS="max_digits=20000,max_nodes=9000"`` or
``derive --limit max_digits=20000 …`` on the command line.

>>> from derive.core import budget
>>> budget.current().max_digits
4000
>>> with budget.limits(max_digits=10):
...     budget.check_literal("12345678901")
Traceback (most recent call last):
...
derive.core.budget.BudgetError: the number 12345678901 has 11 digits, more than the limit max_digits = 10; ...
"""
from __future__ import annotations

import math
import os
import re
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace

from .errors import DeriveError


class BudgetError(DeriveError):
    """Work beyond a limit of the budget; the message names the limit, the culprit and the fix."""

    def __init__(self, limit: str, message: str):
        self.limit, self.message = limit, message
        super().__init__(f"{message}; {_raise_hint(limit)}")

    def located(self, where: str) -> "BudgetError":
        """The same error, prefixed with where it happened (``line 3: …``)."""
        where = where.rstrip(": ")
        return BudgetError(self.limit, f"{where}: {self.message}" if where else self.message)


def _raise_hint(limit: str) -> str:
    return (f"raise it with --limit {limit}=N (Python: derive.core.budget.configure({limit}=N)) "
            f"if you really need more")


@dataclass(frozen=True)
class Limits:
    """The limits in force (see the module docstring for each)."""

    max_digits: int = 4000
    max_exponent: int = 10000
    max_magnitude: int = 4000
    max_nesting: int = 100
    max_nodes: int = 5000
    max_terms: int = 20_000
    max_variants: int = 5000
    simplify_seconds: float = 0.5
    max_file_bytes: int = 1_000_000
    max_answer_chars: int = 20_000
    max_choices: int = 5000
    max_yaml_values: int = 20_000


_FLOAT_LIMITS = {"simplify_seconds"}


def _coerce(name: str, value) -> int | float:
    known = {f.name for f in fields(Limits)}
    if name not in known:
        raise DeriveError(f"unknown limit {name!r}; the limits are: {', '.join(sorted(known))}")
    if isinstance(value, str):
        try:
            value = float(value) if name in _FLOAT_LIMITS else int(value.strip())
        except ValueError:
            raise DeriveError(f"limit {name}: {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DeriveError(f"limit {name}: expected a number, got {value!r}")
    if isinstance(value, int) and value.bit_length() > 40:  # math.isfinite would overflow
        raise DeriveError(f"limit {name}: at most 10^12, got an integer of {digits_of_int(value)} digits")
    if name not in _FLOAT_LIMITS and value != int(value):
        raise DeriveError(f"limit {name}: expected a whole number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise DeriveError(f"limit {name}: must be a positive finite number, got {value!r}")
    return float(value) if name in _FLOAT_LIMITS else int(value)


def parse_assignments(text: str) -> dict:
    """``"max_digits=20000, max_nodes=9000"`` -> {"max_digits": 20000, "max_nodes": 9000}."""
    out = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise DeriveError(f"limit {part.strip()!r}: write NAME=VALUE, e.g. max_digits=20000")
        out[name.strip()] = _coerce(name.strip(), value.strip())
    return out


def _from_environment() -> Limits:
    text = os.environ.get("DERIVE_LIMITS", "")
    try:
        return replace(Limits(), **parse_assignments(text)) if text.strip() else Limits()
    except DeriveError as e:
        raise DeriveError(f"DERIVE_LIMITS: {e}") from None


_current: Limits | None = None


def python_digits(lim: Limits) -> int:
    """Python's own limit on int <-> str conversion (4300 digits by default) that derive keeps in
    force: enough for any value within ``max_digits`` (a numerator and a denominator, and their
    product on the way), so a number inside the budget always converts and one beyond it is
    refused by the budget's digit count, with a ``BudgetError``, before any conversion."""
    return 4 * lim.max_digits + 100


def _follow(lim: Limits) -> Limits:
    import sys
    if hasattr(sys, "get_int_max_str_digits"):
        now = sys.get_int_max_str_digits()
        if now != 0 and now < python_digits(lim):  # only ever raised (0 is: no limit)
            sys.set_int_max_str_digits(python_digits(lim))
    return lim


def current() -> Limits:
    """The limits in force."""
    global _current
    if _current is None:
        _current = _follow(_from_environment())
    return _current


def configure(**changes) -> Limits:
    """Change limits for the rest of the process; returns the previous limits.

    >>> old = configure(max_nodes=9000); _ = configure(**vars(old))
    """
    global _current
    previous = current()
    _current = _follow(replace(previous, **{k: _coerce(k, v) for k, v in changes.items()}))
    return previous


@contextmanager
def limits(**changes):
    """The same as ``configure``, undone on leaving the block."""
    global _current
    previous = configure(**changes)
    try:
        yield current()
    finally:
        _current = previous


# --- the checks ---------------------------------------------------------------------------------


def _digits_of_bits(bits: int) -> int:
    return int(bits * 0.30103) + 1


def _show(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width // 2] + "…" + text[-width // 4:]


def digits_of_int(number: int) -> int:
    """Decimal digits of ``abs(number)``, from its bit length: never ``str()`` (Python refuses
    that past its own limit, and it is quadratic). Exact or one too many.

    >>> digits_of_int(10**5000), digits_of_int(-7)
    (5001, 1)
    """
    bits = abs(int(number)).bit_length()
    if bits <= 64:
        return len(str(abs(int(number))))
    return _digits_of_bits(bits)


def check_int(number: int, culprit="") -> None:
    """A Python int (a value, a bound, an answer) of at most ``max_digits`` digits, counted before
    it is converted to anything."""
    lim = current()
    if abs(int(number)).bit_length() > lim.max_digits * 3.3219 + 4 and digits_of_int(number) > lim.max_digits:
        where = _named(culprit)
        raise BudgetError("max_digits", f"{where + ': ' if where else ''}the integer has about "
                          f"{digits_of_int(number)} digits, more than the limit max_digits = "
                          f"{lim.max_digits}")


def check_literal(text: str, mantissa_digits: int | None = None, exponent: int | None = None) -> None:
    """A number literal as written (``1e999999999``, a 5000-digit integer): refused before any
    arithmetic. ``mantissa_digits``/``exponent`` may be given when already split."""
    lim = current()
    if mantissa_digits is None:
        body = text.strip().lstrip("+-")
        mantissa, _, exp_text = body.replace("E", "e").partition("e")
        mantissa_digits = sum(c.isdigit() for c in mantissa)
        if exp_text:
            exp_digits = exp_text.lstrip("+-")
            if len(exp_digits) > 12:
                raise BudgetError("max_exponent", f"the number {_show(text)} has an exponent of "
                                  f"{len(exp_digits)} digits, beyond the limit max_exponent = "
                                  f"{lim.max_exponent}")
            exponent = int(exp_text)
    if mantissa_digits > lim.max_digits:
        raise BudgetError("max_digits", f"the number {_show(text)} has {mantissa_digits} digits, more "
                          f"than the limit max_digits = {lim.max_digits}")
    if exponent is not None and abs(exponent) > lim.max_exponent:
        raise BudgetError("max_exponent", f"the number {_show(text)} has the exponent {exponent}, "
                          f"beyond the limit max_exponent = {lim.max_exponent}")


def _named(culprit) -> str:
    """The culprit's text; callers on hot paths pass a function that writes it, called only when a
    limit is exceeded (printing every checked expression dominated exact evaluation)."""
    return culprit() if callable(culprit) else culprit


def check_rational(value, culprit="") -> None:
    """An exact value whose numerator or denominator has too many digits (a squaring chain).
    ``culprit``: text naming where it arose, or a function returning it."""
    p, q = getattr(value, "p", None), getattr(value, "q", None)
    if p is None:
        return
    lim = current()
    bits = max(abs(int(p)).bit_length(), int(q).bit_length())
    if bits > lim.max_digits * 3.3219 + 4 and _digits_of_bits(bits) > lim.max_digits:
        culprit = _named(culprit)
        where = f" ({culprit})" if culprit else ""
        raise BudgetError("max_digits", f"an exact value{where} has about {_digits_of_bits(bits)} "
                          f"digits, more than the limit max_digits = {lim.max_digits}")


def check_power(base, exponent, culprit="") -> None:
    """``base ** exponent`` with exact numbers: its size is estimated before it is computed.

    The exponent must be at most ``max_exponent`` in size (unless the base is 0 or ±1), and the
    result's numerator and denominator at most ``max_digits`` digits. ``culprit``: text naming
    the power, or a function returning it."""
    if not (getattr(base, "is_Rational", False) and getattr(exponent, "is_Rational", False)):
        return
    if base in (0, 1, -1):
        return
    lim = current()

    def where() -> str:
        text = _named(culprit)
        return f" in {_show(text)}" if text else ""
    # the digits of p**(m/n) are (m/n)·digits(p): estimated from bit lengths, never computed
    e_num, e_den = abs(int(exponent.p)), int(exponent.q)
    if e_num.bit_length() > 64 or e_num > lim.max_exponent * e_den:
        raise BudgetError("max_exponent", f"the power with exponent {_show(str(exponent))}{where()} "
                          f"is beyond the limit max_exponent = {lim.max_exponent}")
    bits = max(abs(int(base.p)).bit_length(), int(base.q).bit_length())
    digits = _digits_of_bits(bits) * e_num / e_den
    if digits > lim.max_digits:
        raise BudgetError("max_digits", f"the power {_show(str(base))}**{_show(str(exponent))}{where()} "
                          f"would have about {int(digits)} digits, more than the limit "
                          f"max_digits = {lim.max_digits}")


def check_exponents(expr, culprit="") -> None:
    """Every power in ``expr`` whose exponent is an exact number: at most ``max_exponent`` in size,
    also when the base is a symbol (``z**99999999`` would stall the first evaluation).

    >>> import sympy as sp
    >>> check_exponents(sp.Symbol("z") ** 3)
    """
    import sympy as sp
    lim = current()
    for e in sp.preorder_traversal(expr):
        if e.is_Pow and e.exp.is_Rational and e.base not in (0, 1, -1):
            num, den = abs(int(e.exp.p)), int(e.exp.q)
            if num.bit_length() > 64 or num > lim.max_exponent * den:
                where = _named(culprit)
                raise BudgetError("max_exponent", f"the power with exponent {_show(str(e.exp))}"
                                  f"{' in ' + _show(where) if where else ''} is beyond the limit "
                                  f"max_exponent = {lim.max_exponent}")


def check_magnitude(log10_abs: float, culprit: str = "") -> None:
    """A value whose size is more than ``max_magnitude`` orders of magnitude (``exp(exp(10))``)."""
    lim = current()
    if log10_abs > lim.max_magnitude:
        where = f" ({_show(culprit)})" if culprit else ""
        size = f"about 10^{int(log10_abs)}" if log10_abs < 1e15 else "astronomically large"
        raise BudgetError("max_magnitude", f"a value{where} is {size}, beyond the limit "
                          f"max_magnitude = {lim.max_magnitude} (orders of magnitude)")


def check_nesting(depth: int, where: str = "expression") -> None:
    lim = current()
    if depth > lim.max_nesting:
        raise BudgetError("max_nesting", f"{where} nested too deeply (more than {lim.max_nesting} "
                          f"levels, the limit max_nesting); split it into several equations")


def check_brackets(text: str, where=lambda column: "expression") -> None:
    """The brackets of ``text`` nested at most ``max_nesting`` deep, found by one scan *before*
    the text is tokenized or parsed (400000 nested parentheses took seconds to reach the parser's
    own check). ``where(column)`` names the place (column 1-based in ``text``).

    >>> check_brackets("((x))")
    """
    lim = current()
    signs = re.search(r"[-+−](?:\s*[-+−]){%d}" % lim.max_nesting, text)  # - - - … x: unary signs nest
    if signs:
        check_nesting(lim.max_nesting + 1, where(signs.start() + 1))
    if text.count("(") + text.count("[") + text.count("{") <= lim.max_nesting:
        return
    depth = 0
    for m in re.finditer(r"[(\[{)\]}]", text):
        depth += 1 if m.group() in "([{" else -1
        if depth > lim.max_nesting:
            check_nesting(depth, where(m.start() + 1))


def check_answer_size(text: str) -> None:
    """An answer of at most ``max_answer_chars`` characters, checked before it is read."""
    lim = current()
    if len(text) > lim.max_answer_chars:
        raise BudgetError("max_answer_chars", f"the answer has {len(text)} characters, more than the "
                          f"limit max_answer_chars = {lim.max_answer_chars}")


def check_choices(count: int, where: str = "choice") -> None:
    """A homework ``choice:`` list of at most ``max_choices`` items, checked before any is read."""
    lim = current()
    if count > lim.max_choices:
        raise BudgetError("max_choices", f"{where} has {count} items, more than the limit "
                          f"max_choices = {lim.max_choices}")


def check_nodes(count: int, what: str = "the graph") -> None:
    lim = current()
    if count > lim.max_nodes:
        raise BudgetError("max_nodes", f"{what} has {count} nodes and inputs, more than the limit "
                          f"max_nodes = {lim.max_nodes}")


def check_terms(text: str, what: str = "the equations") -> None:
    """At most ``max_terms`` operations (+ − * /) in ``text``, counted by one scan *before* it is
    tokenized: parsing and differentiating are linear in the terms, but a sum of 10⁵ terms still
    takes seconds, and a refusal must take none."""
    lim = current()
    count = len(_OPERATOR.findall(text))
    if count > lim.max_terms:
        raise BudgetError("max_terms", f"{what} have {count} operations (+ − * /), more than the "
                          f"limit max_terms = {lim.max_terms}")


_OPERATOR = re.compile(r"\*\*|[-+*/−·×÷]")


def check_variants(count: int, what: str = "--variants") -> None:
    lim = current()
    if count > lim.max_variants:
        raise BudgetError("max_variants", f"{what} is {count}, more than the limit max_variants = "
                          f"{lim.max_variants}")


def check_file_size(size: int, path) -> None:
    lim = current()
    if size > lim.max_file_bytes:
        raise BudgetError("max_file_bytes", f"{path} is {size} bytes, more than the limit "
                          f"max_file_bytes = {lim.max_file_bytes}")


# --- time budget ----------------------------------------------------------------------------------


class _OutOfTime(BaseException):
    """Raised by the timer inside the guarded block (BaseException: no library swallows it)."""


@contextmanager
def deadline(seconds: float):
    """Run the block for at most ``seconds``; yields a one-item list set to True if it timed out
    (the block is then interrupted). The timer is SIGALRM, so it works in the main thread of a
    POSIX process; elsewhere the block runs unguarded (callers also cap the size of its input)."""
    state = [False]
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if not usable:
        yield state
        return

    active = [True]

    def expire(signum, frame):
        if active[0]:  # never after the block has ended
            # Python may deliver the exception where it is ignored (a __del__ or weakref callback
            # during the block), so keep firing every 50 ms until the block really stops.
            state[0] = True
            if frame is not None and frame.f_code in _PLUMBING:
                # not yet (or no longer) inside the block: raised here, the exception would leave
                # the timer armed and this handler installed for good; fire again in 1 ms
                signal.setitimer(signal.ITIMER_REAL, 0.001)
                return
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            raise _OutOfTime()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield state
    except _OutOfTime:
        active[0] = False
        state[0] = True
    finally:
        active[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# The frames between arming the timer and entering the block (and between leaving it and
# disarming): deadline's own generator and contextlib's enter/exit.
_PLUMBING = frozenset({deadline.__wrapped__.__code__,
                       deadline(0).__class__.__enter__.__code__,
                       deadline(0).__class__.__exit__.__code__})

SIMPLIFY_MAX_OPS = 400  # larger differences go straight to the random-point comparison


def is_zero(expr) -> bool | None:
    """Whether ``simplify(expr) == 0``, decided within ``simplify_seconds``; None if undecided (too
    large or out of time: compare at random points instead).

    >>> import sympy as sp; x = sp.Symbol("x")
    >>> with limits(simplify_seconds=60):  # time enough on a busy machine too
    ...     is_zero(sp.sin(x)**2 + sp.cos(x)**2 - 1)
    True
    """
    import sympy as sp
    if sp.count_ops(expr, visual=False) > SIMPLIFY_MAX_OPS:
        return None
    if not _timer_usable():
        return None  # no way to stop simplify in time here: compare at random points instead
    result = None
    with deadline(current().simplify_seconds) as timed_out:
        result = sp.simplify(expr) == 0
    return None if timed_out[0] else result


def _timer_usable() -> bool:
    return (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0)


__all__ = ["BudgetError", "Limits", "current", "configure", "limits", "parse_assignments",
           "check_literal", "check_rational", "check_int", "digits_of_int", "python_digits", "check_power", "check_magnitude", "check_nesting",
           "check_nodes", "check_variants", "check_brackets", "check_answer_size", "check_choices", "check_file_size", "deadline", "is_zero"]
