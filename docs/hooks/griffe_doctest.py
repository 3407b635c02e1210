"""A griffe extension for the API reference: the docstrings' doctest examples (``>>>`` lines and
their output) become fenced ``pycon`` blocks, so Markdown shows them as code instead of nested
block quotes. The docstrings stay plain doctest, which ``pytest --doctest-modules`` runs."""
from __future__ import annotations

import griffe


def fence_doctests(text: str) -> str:
    """Wrap each run of ``>>>``/``...`` lines and the output lines after them in a fence; a blank
    line (or a line that dedents below the prompt) ends the example, as doctest reads it."""
    out, block, indent = [], None, ""
    for line in text.splitlines():
        stripped = line.lstrip()
        if block is None:
            if stripped.startswith(">>>"):
                indent = line[: len(line) - len(stripped)]
                block = [stripped]
            else:
                out.append(line)
            continue
        if not stripped or not line.startswith(indent):
            out.extend([f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"])
            block = None
            out.append(line)
            if stripped.startswith(">>>"):  # a dedented new example
                indent = line[: len(line) - len(stripped)]
                block, _ = [stripped], out.pop()
            continue
        block.append(line[len(indent):])
    if block is not None:
        out.extend([f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"])
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    def on_object(self, *, obj, **kwargs) -> None:  # every module, class, function, attribute
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
