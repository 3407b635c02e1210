"""One exception family for everything a user can get wrong.

Every message names the culprit and says how to fix it, e.g.
``line 3, column 5: relu takes 1 argument, got 2``. Catch ``DeriveError`` for all of them, or a
subclass for one kind:

>>> import derive
>>> try:
...     derive.Example.from_equations("z = w*x", values={"w": 1})
... except derive.InvalidValue as e:
...     print(e)
missing value(s) for x; give every input a value (or none, for a symbolic derivation)
"""
from __future__ import annotations


class DeriveError(Exception):
    """Base class: bad input to derive. The CLI prints it as one line (exit status 2).

    >>> issubclass(ParseError, DeriveError)
    True
    """


class ParseError(DeriveError):
    """The equation text is not in the equation language.

    >>> str(ParseError("unexpected `)`", line=2, column=7))
    'line 2, column 7: unexpected `)`'
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        from .escape import visible
        self.line, self.column = line, column
        message = visible(message)  # it quotes the user's text, which may hold control characters
        where = ""
        if line is not None:
            where = f"line {line}, column {column}: " if column is not None else f"line {line}: "
        super().__init__(where + message)


class GraphError(DeriveError):
    """The equations parse but do not form a valid staged computation (cycle, reassignment…).

    >>> issubclass(GraphError, DeriveError)
    True
    """


class InvalidValue(DeriveError):
    """A value is missing or malformed (``values={"x": "two"}``).

    >>> issubclass(UndefinedValue, InvalidValue)
    True
    """


class UndefinedValue(InvalidValue):
    """The math is undefined at the given values (log 0, division by zero, …).

    >>> issubclass(UndefinedValue, DeriveError)
    True
    """


class UnknownName(DeriveError):
    """A name that is neither an input nor a node of the example (``ex.grad("v")``).

    >>> issubclass(UnknownName, DeriveError)
    True
    """


class AnswerError(DeriveError):
    """An answer set that cannot be checked (not a mapping, an unreadable key…).

    >>> issubclass(AnswerError, DeriveError)
    True
    """


class UnknownKeyError(AnswerError, KeyError):
    """An answer key that names nothing in the example (``dL/dq``); the message lists the valid
    keys. Also a ``KeyError``, as a missing key of a mapping is.

    >>> issubclass(UnknownKeyError, DeriveError) and issubclass(UnknownKeyError, KeyError)
    True
    """

    def __str__(self):  # KeyError would quote the message
        return Exception.__str__(self)


class SpecError(DeriveError):
    """A spec file (YAML) is malformed or has a bad field.

    >>> issubclass(SpecError, DeriveError)
    True
    """


class RegistrationError(DeriveError):
    """A function given to ``register_activation`` cannot be registered: its name, formula or
    ``latex=`` would break later calls or documents.

    >>> issubclass(RegistrationError, DeriveError)
    True
    """


class OutputExists(DeriveError):
    """A file or folder to be written exists already; pass ``force=True`` (``--force``).

    >>> issubclass(OutputExists, DeriveError)
    True
    """


class NotApplicable(DeriveError):
    """A call that cannot apply to this kind of example (a scalar-only method on a tensor
    example, or the reverse), refused by name with the reason and what to use instead.

    >>> issubclass(NotApplicable, DeriveError)
    True
    """


__all__ = ["DeriveError", "ParseError", "GraphError", "InvalidValue", "UndefinedValue",
           "UnknownName", "AnswerError", "SpecError", "OutputExists",
           "RegistrationError", "NotApplicable"]


class DeriveWarning(UserWarning):
    """Equations that derive evaluates as written but that likely mean something else: a softmax
    over the axis whose size is the number of examples (a batch written in the other convention).
    The document says the same in words."""
