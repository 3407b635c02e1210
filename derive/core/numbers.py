"""Exact numbers in, exact numbers through, rounded numbers only on display.

* ``to_exact`` turns what a user types (int, float, str, Fraction, Decimal, numpy scalar, SymPy
  number) into an exact SymPy number. A float is the decimal it prints as: ``0.1`` is 1/10, not
  3602879701896397/2**55; ``np.float32(3.001)`` is 3.001.
* ``format_number`` is the one display policy: integers and terminating decimals print as themselves
  (7, 2.2, 7812.5); everything else as ≈ with N significant digits.
"""
from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import sympy as sp

from .budget import check_literal, check_rational
from .budget import current as current_limits
from .errors import InvalidValue

# ASCII digits only: ``\d`` would also read Arabic-Indic ``٣`` or full-width ``３`` as numbers.
_DECIMAL = re.compile(r"^\s*([+-]?)([0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?\s*$", re.ASCII)
_FRACTION = re.compile(r"^\s*([+-]?[0-9]+)\s*/\s*([0-9]+)\s*$", re.ASCII)


def parse_decimal(text: str) -> sp.Rational | None:
    """The exact rational a decimal literal like ``-0.15`` or ``2e-3`` denotes, else None."""
    m = _DECIMAL.match(text)
    if not m:
        return None
    sign, digits, exponent = m.groups()
    # refused before any arithmetic: Fraction(10) ** 999999999 would never finish
    check_literal(text)
    value = Fraction(Decimal(digits)) * (Fraction(10) ** int(exponent or 0))
    if sign == "-":
        value = -value
    result = sp.Rational(value.numerator, value.denominator)
    check_rational(result, text.strip())
    return result


def to_exact(value, name: str = "value") -> sp.Expr:
    """Convert a user-supplied number to an exact SymPy number.

    >>> to_exact(0.1), to_exact("3/20"), to_exact(7)
    (1/10, 3/20, 7)
    """
    if isinstance(value, bool):
        raise InvalidValue(f"{name}: got a boolean ({value}); give a number such as 2 or 0.5")
    value = from_torch(value)[0]
    if type(value).__module__ == "numpy":
        value = _from_numpy(value, name)
    if isinstance(value, int):
        check_rational(sp.Integer(value), name)
        return sp.Integer(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidValue(f"{name}: {value} is not a finite number")
        # repr() is the shortest decimal that round-trips: the number the user typed. (float's own
        # repr: a float subclass such as numpy.float64 prints as "np.float64(0.1)".)
        return parse_decimal(float.__repr__(value))
    if isinstance(value, Fraction):
        result = sp.Rational(value.numerator, value.denominator)
        check_rational(result, name)
        return result
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidValue(f"{name}: {value} is not a finite number")
        _, digits, exponent = value.as_tuple()
        check_literal(str(value), len(digits), exponent)  # before Fraction() expands 10**exponent
        f = Fraction(value)
        return sp.Rational(f.numerator, f.denominator)
    if isinstance(value, str):
        exact = parse_decimal(value)
        if exact is None:
            m = _FRACTION.match(value)
            if m:
                check_literal(m.group(1))
                check_literal(m.group(2))
            if m and int(m.group(2)) != 0:
                exact = sp.Rational(int(m.group(1)), int(m.group(2)))
        if exact is None:
            raise InvalidValue(
                f"{name}: cannot read {value!r} as a number; write it like 2, -0.15, 1e-3 or 3/20")
        return exact
    if isinstance(value, sp.Basic):
        if value.is_number and value.is_extended_real and value.is_finite:
            check_rational(value, name)
            return value
        raise InvalidValue(f"{name}: {value} is not a finite real number")
    try:  # numpy scalars and the like
        import numbers
        if isinstance(value, numbers.Integral):
            return sp.Integer(int(value))
        if isinstance(value, numbers.Real):
            return to_exact(float(value), name)
    except InvalidValue:
        raise
    raise InvalidValue(f"{name}: expected a number, got {type(value).__name__} {value!r}")


def from_torch(value):
    """(the numpy array a torch tensor holds — on the CPU, detached; bfloat16 as float32, which
    holds it exactly — and the tensor's dtype name), or (``value``, "") for anything else. Torch
    is imported only for an object whose type comes from it.

    >>> from_torch(0.5)
    (0.5, '')
    """
    if type(value).__module__.split(".", 1)[0] != "torch" or not hasattr(value, "detach"):
        return value, ""
    import torch
    tensor = value.detach().cpu()
    dtype = str(tensor.dtype).removeprefix("torch.")
    if tensor.is_complex():
        raise InvalidValue(f"a complex tensor ({dtype}) is not a real number; give real values")
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.to(torch.float32)
    return tensor.numpy(), dtype


def _from_numpy(value, name: str):
    """A numpy scalar (or 0-d array) as the Python number it stands for: an integer as ``int``, a
    float as the shortest decimal *of its own precision* (``np.float32(3.001)`` is 3.001, not
    3.0009999275207520 — ``str`` of a numpy float is that decimal)."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return value
    if shape != ():
        raise InvalidValue(f"{name}: expected one number, got an array of shape {tuple(shape)}; "
                           f"give a scalar (or a list where the example takes a vector)")
    value = value[()]  # a 0-d array's scalar; a scalar's own value
    kind = value.dtype.kind
    if kind == "b":
        raise InvalidValue(f"{name}: got a boolean ({value}); give a number such as 2 or 0.5")
    if kind in "iu":
        return int(value)
    if kind == "f":
        if not bool(value == value) or abs(float(value)) == float("inf"):
            raise InvalidValue(f"{name}: {value} is not a finite number")
        return str(value)
    raise InvalidValue(f"{name}: expected a real number, got numpy {value.dtype} {value!r}")


def terminating_decimal(value: sp.Rational, max_digits: int = 15) -> str | None:
    """``value`` written out exactly as a decimal, if it terminates within ``max_digits`` digits."""
    if not isinstance(value, sp.Rational):
        return None
    p, q = int(value.p), int(value.q)
    if q > 10**12:  # more than 12 decimal places: never shown as a plain decimal (and fast to reject)
        return None
    if abs(p).bit_length() - q.bit_length() > 3.33 * max_digits + 4:
        return None  # too many integer digits (also: str() of a huge int is slow, then refused)
    twos = fives = 0
    while q % 2 == 0:
        q //= 2
        twos += 1
    while q % 5 == 0:
        q //= 5
        fives += 1
    if q != 1:
        return None
    places = max(twos, fives)
    scaled = abs(p) * 10 ** places // int(value.q)
    digits = str(scaled).rjust(places + 1, "0")
    if len(digits.lstrip("0")) > max_digits:
        return None
    text = digits if places == 0 else digits[:-places] + "." + digits[-places:]
    return ("-" if p < 0 else "") + text


UNDECIDED = "1e-40"  # what the engine's approximations (60 digits) cannot tell from 0


def significant(value, digits: int) -> str:
    """``value`` (any real SymPy number) rounded to ``digits`` significant digits: plain notation for
    moderate magnitudes, ``1.953e+6`` style beyond (printers turn that into ×10^k)."""
    import mpmath

    from .approx import approx
    with mpmath.workdps(digits + 15):
        x = approx(value) if isinstance(value, sp.Basic) else mpmath.mpf(value)
        if x == 0:
            return "0"
        # An exact quantity this close to 0 is below what its approximation can tell from 0 (a
        # cancelled sum, e.g. a bias before BatchNorm): its digits would be rounding noise.
        if getattr(value, "approx_mpf", None) is not None and abs(x) <= mpmath.mpf(UNDECIDED):
            return "0"
        # N significant figures means N digits shown: trailing zeros are kept (7.000, 0.2500)
        text = mpmath.nstr(x, digits, min_fixed=-5, max_fixed=max(digits + 1, 7), strip_zeros=False)
    text = text.replace(".e", "e")  # one significant figure: 7, 6e+12 (no bare point)
    return text[:-1] if text.endswith(".") else text


def is_exact_display(value) -> bool:
    """True when ``format_number`` shows ``value`` exactly (no ≈)."""
    if not isinstance(value, sp.Rational):
        return False
    return terminating_decimal(value, 15 if value.q == 1 else 10) is not None


def format_number(value, precision: int = 4) -> str:
    """The display policy: ``7``, ``2.2``, ``7812.5`` exactly; ``≈0.9991`` otherwise.

    Returns the number without the ≈ sign; use ``is_exact_display`` to decide whether to add one.
    """
    # A document prints the same value many times (a step, its product, the update, a table):
    # each is rounded once. The type is part of the key: SymPy's 2.0 equals 2, yet prints "2.000".
    key = (type(value), value, precision, current_limits().max_magnitude)
    try:
        text = _PRINTED.get(key)
    except TypeError:  # an unhashable number type: rounded every time
        return _format_number(value, precision)
    if text is None:
        text = _format_number(value, precision)
        if len(_PRINTED) >= 4096:
            try:
                del _PRINTED[next(iter(_PRINTED))]  # the oldest
            except (KeyError, RuntimeError, StopIteration):  # another thread (documents built in a pool) evicted it
                pass
        _PRINTED[key] = text
    return text


_PRINTED: dict = {}


def _format_number(value, precision: int) -> str:
    if isinstance(value, sp.Rational):
        # Integers up to 15 digits and short terminating decimals print exactly; a long decimal
        # (0.000003814697265625) is shown rounded like any other number.
        exact = terminating_decimal(value, 15 if value.q == 1 else 10)
        if exact is not None:
            return exact
    return significant(value, precision)


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` with its noun in the right number: "1 value", "3 values", "1 path".

    >>> plural(1, "value"), plural(2, "value"), plural(2, "child", "children")
    ('1 value', '2 values', '2 children')
    """
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
