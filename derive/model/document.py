"""The document protocol, written once for every kind of example: one ``render(fmt, …)``, and a
``to_<format>`` method and Jupyter's ``_repr_*_`` display methods for every format of the
registry (``derive.rendering.formats``), made from the registry's entries rather than written
per class. A format registered later gets its ``to_<format>`` too (looked up when asked for).

A class that holds a worked example supplies ``content()`` (its format-free sections), and
``title``, ``precision``, ``exact``, ``latex_names`` and ``document_notation(notation)``; the rest
follows from each format's entry: a document format is printed and laid out by its templates, a
converted one (PDF from LaTeX, a notebook from Markdown) is made from its source format, and an
export (the PyTorch script) is written by the function its entry names.

>>> import derive
>>> ex = derive.Example.from_equations("L = (w*x)**2", values={"w": 3, "x": 2})
>>> ex.to_text() == ex.render("text") == ex.render("txt")
True
"""
from __future__ import annotations

import functools

from ..core.errors import DeriveError, NotApplicable
from ..rendering.formats import FORMATS, get_format, render_content


def check_precision(precision) -> int:
    """Significant digits of ≈ numbers: a whole number from 1 to 30.

    >>> check_precision(4)
    4
    """
    if isinstance(precision, bool) or not isinstance(precision, int) or not 1 <= precision <= 30:
        raise DeriveError(f"precision must be a whole number from 1 to 30, got {precision!r}")
    return precision


def exporter(fmt):
    """The writer an export format's entry names (``"derive.io.pytorch:to_pytorch"``)."""
    from importlib import import_module
    module, _, function = fmt.export.partition(":")
    return getattr(import_module(module), function)


class Document:
    """The document protocol (see the module docstring): ``render`` and, from the format
    registry, ``to_markdown``, ``to_latex``, ``to_text``, ``to_html``, ``to_pdf``, ``to_ipynb``,
    ``to_pytorch`` …, ``_repr_html_`` and ``_repr_markdown_``.

    >>> import derive
    >>> ex = derive.Example.from_equations("L = (w*x)**2", values={"w": 3, "x": 2})
    >>> ex.to_markdown() == ex.render("markdown")
    True
    """

    title = None
    precision = 4
    exact = False
    notes = False  # the remarks for the lecturer (how numbers were obtained), in a closing section
    latex_names = None  # LaTeX for names (the builders' w⁽¹⁾₁,₁); None: from the names

    def content(self):  # pragma: no cover - each kind of example supplies its own
        raise NotImplementedError

    def document_notation(self, notation):
        """The course's notation preset this example's documents print with."""
        return notation

    def _refuse_format(self, chosen) -> None:
        """Raise ``NotApplicable`` naming why this example cannot be written in the registered
        format ``chosen``; every format applies by default. (A hook, so ``render`` stays one.)"""

    def writes(self, fmt: str) -> bool:
        """True when the example can be written in the registered format ``fmt`` (``render``
        would refuse it by name otherwise: a PyTorch export of an image, say).

        >>> import derive
        >>> derive.neuron(x=2, w=3, b=1, y=5).writes("ipynb")
        True
        """
        try:
            self._refuse_format(get_format(fmt))
        except NotApplicable:
            return False
        return True

    def document_content(self):
        """What the documents print: ``content()`` and, for an example, its diagram."""
        return self.content()

    def _under_notation(self, notation) -> "Document":
        """The document to print under the render's ``notation``: itself, unless its content
        depends on the preset when it is built (a tensor example numbers its entries then)."""
        return self

    def to_slides(self, fmt: str = "latex", precision: int | None = None, *,
                  exact: bool | None = None, notation: dict | None = None):
        """The worked example as a beamer deck, one idea per frame (``derive.rendering.slides``):
        LaTeX, or with ``fmt="pdf"`` the compiled PDF (bytes).

        >>> import derive
        >>> "begin{frame}" in derive.neuron(x=2, w=3, b=1, y=5).to_slides()
        True
        """
        from ..rendering.slides import render_slides
        chosen = get_format(fmt)
        if chosen.name not in ("latex", "pdf"):
            raise DeriveError(f"slides are a beamer deck: use the format tex or pdf, not {fmt}")
        precision = check_precision(self.precision if precision is None else precision)
        exact = self.exact if exact is None else exact
        from ..core.engine import gc_paused
        with gc_paused():
            tex = render_slides(self._under_notation(notation).document_content(), self.latex_names, precision, exact,
                                self.document_notation(notation))
        if chosen.name == "pdf":
            from ..io.files import compile_pdf
            return compile_pdf(tex)
        return tex

    def render(self, fmt: str, precision: int | None = None, *, fragment: bool = False,
               exact: bool | None = None, notation: dict | None = None,
               paper: str | None = None, notes: bool | None = None,
               section_level="section"):
        """The worked example in one registered format, by name or alias (``"md"``, ``"tex"``,
        ``"pdf"`` — bytes —, ``"ipynb"``, ``"pytorch"`` …). ``precision``: significant digits
        of ≈ numbers (default the example's); ``fragment``: the body only (LaTeX, HTML);
        ``exact``: also exact forms; ``notation``: the course's preset (default the example's own);
        ``paper``: ``"a4"`` or ``"letter"`` for LaTeX and PDF; ``notes``: also the remarks for
        the lecturer, in a closing section (default the example's ``notes``, off);
        ``section_level``: the headings' depth (``"subsection"``: a fragment nests under the
        including document's sections).

        >>> import derive
        >>> ex = derive.Example.from_equations("L = (w*x)**2", values={"w": 3, "x": 2})
        >>> ex.render("md").startswith("# ")
        True
        """
        chosen = get_format(fmt)
        self._refuse_format(chosen)
        precision = check_precision(self.precision if precision is None else precision)
        exact = self.exact if exact is None else exact
        notes = self.notes if notes is None else notes
        if chosen.printer is None:  # an export: its own writer, from the example's numbers
            return exporter(chosen)(self)
        if chosen.source is not None:  # made from another format
            source = self.render(chosen.source, precision, exact=exact, notation=notation,
                                 paper=paper, notes=notes)
            if chosen.binary:
                from ..io.files import compile_pdf
                return compile_pdf(source)
            return chosen.convert(source, [(self.title or "the example", self)])
        from ..core.engine import gc_paused
        with gc_paused():  # thousands of short-lived printer objects for a deep network
            text = render_content(self._under_notation(notation).document_content(), chosen.name, self.latex_names, precision,
                                  fragment, exact=exact, notation=self.document_notation(notation),
                                  notes=notes, level=section_level)
        if paper is not None and chosen.paper is not None:
            text = chosen.paper(text, paper)
        return text

    def __getattr__(self, name: str):
        # to_<format> for a format registered after this class was made (formats.register)
        if name.startswith("to_") and name[3:] in FORMATS and FORMATS[name[3:]].listed:
            return functools.partial(self.render, name[3:])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __str__(self) -> str:
        return self.render("text")


def _to_format(fmt) -> callable:
    """``to_<format>``, made from the format's registry entry."""
    name = fmt.name

    def method(self, precision: int | None = None, *, fragment: bool = False,
               exact: bool | None = None, notation: dict | None = None, paper: str | None = None,
               notes: bool | None = None, path=None, force: bool = False):
        if fmt.binary:  # to_pdf("out.pdf"): a file name first is where to write, not precision
            precision, path = _path_first(fmt, precision, path)
        data = self.render(name, precision, fragment=fragment, exact=exact, notation=notation,
                           paper=paper, notes=notes)
        if path is None:
            return data
        from ..core.errors import OutputExists
        from ..io.files import write_atomic  # atomic; an existing file only with force=True
        try:
            return write_atomic(path, data, force)
        except OutputExists as refused:  # said in Python's words, not the command line's
            raise OutputExists(str(refused).replace("pass --force", "pass force=True")) from None

    method.__name__ = method.__qualname__ = f"to_{name}"
    kind = ("bytes" if fmt.binary else "a string")
    method.__doc__ = (f"The worked example as {fmt.description or fmt.name} ({kind}); the same as "
                      f"``render({name!r}, …)``, whose options it takes.\n\n"
                      f"        >>> import derive\n"
                      f"        >>> ex = derive.Example.from_equations(\"L = (w*x)**2\", "
                      f"values={{\"w\": 3, \"x\": 2}})\n"
                      f"        >>> ex.to_{name}() == ex.render({name!r})"
                      + ("  # doctest: +SKIP" if fmt.binary else "") + "\n        True\n")
    return method


def _path_first(fmt, precision, path) -> tuple:
    """(precision, path) for a binary format's ``to_<format>(first, …)``: a first argument that
    is a path (an ``os.PathLike``, or a str ending ``.<extension>``) is the file to write."""
    import os
    if isinstance(precision, os.PathLike) or (
            isinstance(precision, str) and precision.lower().endswith(f".{fmt.extension}")):
        if path is not None:
            raise DeriveError(f"to_{fmt.name}: the file is given twice ({precision!s} and "
                              f"path={path!r}); give it once")
        return None, precision
    if isinstance(precision, str):
        raise DeriveError(f"to_{fmt.name}: {precision!r} is neither a precision (significant "
                          f"digits, 1 to 30) nor a .{fmt.extension} file name: to write a file "
                          f"give path={precision!r} (or a name ending .{fmt.extension}); without "
                          f"a path, to_{fmt.name}() returns the bytes")
    return precision, path


def _notebook_repr(fmt) -> callable:
    name, fragment = fmt.name, fmt.notebook_fragment

    def method(self):
        return self.render(name, fragment=fragment)

    method.__name__ = method.__qualname__ = fmt.notebook_repr
    method.__doc__ = f"Jupyter's rich display: the worked example as {fmt.description or name}."
    return method


for _fmt in list(FORMATS.values()):
    if _fmt.listed:
        setattr(Document, f"to_{_fmt.name}", _to_format(_fmt))
    if _fmt.notebook_repr:
        setattr(Document, _fmt.notebook_repr, _notebook_repr(_fmt))

__all__ = ["Document", "NotApplicable", "check_precision", "exporter"]
