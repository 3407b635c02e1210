"""User text made harmless for the places it lands: a terminal, one line of a file format, XML.

A student's answers file, a spec's title or an equation may hold control characters
(``\\x1b]0;pwned\\x07``, NUL) or line breaks. Written raw they would drive the teacher's terminal,
break an XML file or start a new record of a line-based format (GIFT). Each writer calls one of
these at the one place it produces its text; the format's own escaping (HTML, TeX, GIFT) comes
on top.

>>> visible("a\\x1b[2Jb\\x00")
'a\\\\x1b[2Jb\\\\x00'
>>> one_line("Week 5\\n\\n::Q2::{=1}")
'Week 5 ::Q2::{=1}'
"""
from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls (ESC's 8-bit twin CSI is \x9b), and the
# Unicode characters that reorder or hide text on a terminal (bidi overrides, isolates) or
# break lines where a line-based reader does not expect it.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                      "\u2028\u2029\ufeff]")


def _spell(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    r"""Control characters spelled as visible escapes (``\x1b``, ``\x00``, ``\u202e``); tab and
    newline kept. For text that reaches a terminal or a plain-text file.

    >>> visible("ok\tfine\n")
    'ok\tfine\n'
    >>> visible("\r\x9b")
    '\\x0d\\x9b'
    """
    return _CONTROL.sub(_spell, text)


def one_line(text: str) -> str:
    """``visible`` text on one line: every run of whitespace (line breaks, tabs) is one space, so
    a title cannot start a record of its own in a line-based format (GIFT, a CSV row, a heading).

    >>> one_line("  a\\r\\n\\n b\\t")
    'a b'
    """
    return visible(" ".join(str(text).split()))


def xml_text(text: str) -> str:
    r"""Text XML 1.0 can carry: it has no escape for most control characters (a NUL makes the
    file unreadable), so they are spelled visibly; tab, newline and carriage return stay.

    >>> xml_text("a\x00b\r\n")
    'a\\x00b\r\n'
    """
    return re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]", _spell, text)


def safe_url(url: str) -> bool:
    """A link target a document may carry: web, mail or a relative path; never ``javascript:``,
    ``data:`` or ``vbscript:`` (whatever their case and the spaces or controls hidden in them).

    >>> safe_url("https://pytorch.org"), safe_url(" JaVa\\tscript:alert(1)"), safe_url("fig.png")
    (True, False, True)
    """
    squeezed = re.sub(r"[\x00-\x20\x7f]", "", url).lower()
    scheme = re.match(r"([a-z][a-z0-9+.-]*):", squeezed)
    return scheme is None or scheme.group(1) in ("http", "https", "mailto")


__all__ = ["visible", "one_line", "xml_text", "safe_url"]
