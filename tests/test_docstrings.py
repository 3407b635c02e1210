"""Every public function and class of ``derive`` (its ``__all__``) and every public method of the
objects users get back (Example, Report, TensorExample, Training, Comparison, Handout …) has a
docstring with a short example; the examples run as doctests (``--doctest-modules``)."""
from __future__ import annotations

import inspect

import derive


def returned_classes():
    """Classes users receive from the public API without naming them."""
    from derive.courseware.compare import Comparison
    from derive.initialization.variance import Handout, Simulation
    from derive.training.run import Training
    return {"Training": Training, "Comparison": Comparison, "Handout": Handout,
            "Simulation": Simulation}


def public_members(cls):
    """(name, function, is_property) for the methods and properties a class defines itself."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            yield name, value.fget, True
        elif isinstance(value, (classmethod, staticmethod)):
            yield name, value.__func__, False
        elif inspect.isfunction(value):
            yield name, value, False


def undocumented(objects: dict) -> list[str]:
    """What lacks a docstring, or (functions, methods and non-exception classes) an example."""
    wrong = []

    def check(obj, qualname, example=True):
        doc = inspect.getdoc(obj) or ""
        if not doc.strip():
            wrong.append(f"{qualname}: no docstring")
        elif example and ">>>" not in doc:
            wrong.append(f"{qualname}: no example (>>>) in its docstring")

    for name, obj in objects.items():
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # registries (FUNCTIONS, LOSSES …) are documented where they are defined
        exception = inspect.isclass(obj) and issubclass(obj, BaseException)
        check(obj, name, example=not exception)
        if inspect.isclass(obj) and not exception:
            for member, function, is_property in public_members(obj):
                check(function, f"{name}.{member}", example=not is_property)
    return wrong


def test_every_public_name_has_a_docstring_with_an_example():
    objects = {name: getattr(derive, name) for name in derive.__all__}
    objects.update(returned_classes())
    wrong = undocumented(objects)
    assert not wrong, "\n".join(wrong)


def test_the_docstring_check_can_fail():
    class Bare:
        """A class with an example.

        >>> Bare().documented()
        1
        """

        def documented(self):
            """Returns 1.

            >>> Bare().documented()
            1
            """
            return 1

        def silent(self):
            return 2

        @property
        def size(self):
            return 3

    def no_example():
        """Does something."""

    assert undocumented({"Bare": Bare, "no_example": no_example}) == [
        "Bare.silent: no docstring", "Bare.size: no docstring",
        "no_example: no example (>>>) in its docstring"]
