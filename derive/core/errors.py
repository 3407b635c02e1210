"""One exception family for everything a user can get wrong.

Every message names the culprit and says how to fix it, e.g.
``line 3, column 5: relu takes 1 argument, got 2``.
"""
from __future__ import annotations


class DeriveError(Exception):
    """Base class: bad input to derive. The CLI prints it as one line."""


class ParseError(DeriveError):
    """The equation text is not in the equation language."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.line, self.column = line, column
        where = ""
        if line is not None:
            where = f"line {line}, column {column}: " if column is not None else f"line {line}: "
        super().__init__(where + message)


class GraphError(DeriveError):
    """The equations parse but do not form a valid staged computation (cycle, reassignment…)."""


class ValueError_(DeriveError):
    """A value is missing, malformed, or the math is undefined at the given values."""


class SpecError(DeriveError):
    """A spec file (YAML) is malformed or has a bad field."""


# Friendlier public aliases.
MissingValueError = ValueError_
UndefinedMathError = ValueError_
