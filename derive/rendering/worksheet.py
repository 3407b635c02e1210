"""The self-checking worksheet page (``--format worksheet``): one offline HTML file with the
problem, an answer box per asked step, the keys scrambled inside the page and a small vendored
script that checks answers by ``derive check``'s tolerance rules (``static/worksheet.js``).

This module only lays out what it is given — the problem as HTML, the steps' labels and the
scrambled data (values, hints, the worked solution); ``derive.courseware.worksheet`` computes
them from an example.

>>> unscramble(scramble({"a": [1, "é"]}, "seed"), "seed")
{'a': [1, 'é']}
"""
from __future__ import annotations

import base64
import functools
import json
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
# For the lecturer, in an HTML comment (never in the page's body): students read the page, not
# its markup. No "--" inside: an HTML comment must not hold it.
NOTE = ("Note for the lecturer: the answers are inside this file, scrambled but not encrypted; "
        "anyone who reads its markup can find them. Use it to practise; for graded work use the "
        "homework LMS exports (moodle, qti or gift) or the check command.")


def _stream(seed: str, size: int) -> bytes:
    """The bytes XORed over the data: xorshift32 from the FNV-1a hash of the seed (the page's
    script makes the same stream in a few lines; obfuscation, not a secret)."""
    state = 0x811C9DC5
    for byte in seed.encode("utf-8"):
        state = ((state ^ byte) * 0x01000193) & 0xFFFFFFFF
    state = state or 1
    out = bytearray(size)
    for i in range(size):
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        out[i] = state & 0xFF
    return bytes(out)


def scramble(data, seed: str) -> str:
    """``data`` (JSON-able) as base64 of its UTF-8 JSON XOR a stream from ``seed``."""
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.b64encode(bytes(a ^ b for a, b in zip(raw, _stream(seed, len(raw))))).decode("ascii")


def unscramble(text: str, seed: str):
    raw = base64.b64decode(text)
    return json.loads(bytes(a ^ b for a, b in zip(raw, _stream(seed, len(raw)))).decode("utf-8"))


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2
    from .formats import templates_dir
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "worksheet")),
                              undefined=jinja2.StrictUndefined, autoescape=True,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


@functools.lru_cache(maxsize=None)
def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def page(title: str, problem: str, steps: list, secret: dict, seed: str) -> str:
    """The page: ``title`` (plain text, escaped here), ``problem`` (HTML from derive's printer),
    ``steps`` ({"key", "label"}: the label as MathML), ``secret`` (per step the value, hints,
    reveal lines and known mistakes; the tolerance; the worked solution as HTML), scrambled with
    ``seed``."""
    script = _static("worksheet.js")
    if "</script" in script.lower():  # the script is inlined: it must not end its own element
        raise ValueError("worksheet.js must not contain </script")
    return _environment().get_template("page.j2").render(
        title=title, problem=problem, steps=steps, data=scramble(secret, seed), seed=seed,
        note=NOTE, script=script, style=_static("worksheet.css"))
