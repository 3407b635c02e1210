"""The whitelist parser: hostile or malformed text raises DeriveError with a clear message, and
nothing runs."""
import pytest
import sympy as sp

from derive import DeriveError, Example
from derive.core.parser import parse_equations


@pytest.mark.parametrize("text, message", [
    ("x = __import__('os').system('touch /tmp/derive-pwned')", "line 1, column 5: names may not start with `_`"),
    ("x = a.b", "line 1, column 6: attribute access is not allowed"),
    ("x = os.system('ls')", "attribute access is not allowed"),
    ("x = lambda: 1", "`:` is not allowed (no lambdas"),
    ("x = lambda y: y", "`:` is not allowed"),
    ("x = where(a, b, c)", "argument 1 of `where` must be a comparison"),
    ("x = where(a > 0, b)", "`where` takes 3 arguments, got 2"),
    ("x = max(a, b > 0)", "comparisons are not allowed in equations"),
    ("x = def + 1", "`def` is a Python keyword"),
    ("x = [i for i in y]", "subscripts and lists are not allowed"),
    ("x = y[0]", "line 1, column 6: subscripts and lists are not allowed"),
    ("x = 'abc'", "strings are not allowed"),
    ('x = "abc"', "strings are not allowed"),
    ("x = relu(z, 2)", "`relu` takes 1 argument, got 2"),
    ("x = leaky_relu()", "`leaky_relu` takes 1 or 2 arguments, got 0"),
    ("x = max(a)", "`max` takes at least 2 arguments, got 1"),
    ("x = logsumexp(a)", "`logsumexp` takes at least 2 arguments, got 1"),
    ("x = hinge(y)", "`hinge` takes 2 arguments, got 1"),
    ("x = foo(z)", "unknown function `foo`; known functions: abs, absolute_error, binary_cross_entropy"),
    ("x = eval(z)", "unknown function `eval`"),
    ("", "no equations given"),
    ("# only a comment\n\n", "no equations given"),
    ("x = 2x", "a number cannot run into a name"),
    ("x = (1 + y", "expected `)`, found the end of the line"),
    ("x = y = 2", "`=` may appear once per line"),
    ("relu = 3", "`relu` is a function name"),
    ("x = exp", "`exp` is a function; call it like `exp(z)`"),
    ("x = a b", "missing operator before `b`"),
    ("x = {1: 2}", "sets and dicts are not allowed"),
    ("x = a if b else c", "`if` is a Python keyword"),
    ("x = relu(z=1)", "keyword arguments are not allowed"),
    ("x = a; y = b", "one equation per line"),
    ("x = a @ b", "need values (lists for vectors, nested lists for matrices), or shapes for a symbolic derivation"),
    ("x = a.shape", "attribute access is not allowed; only plain names, registry functions and `.T`"),
    ("x = a.Tx", "attribute access is not allowed"),
    ("x = a > b", "comparisons are not allowed in equations"),
    ("x + 1", "expected `name = expression`"),
    ("x = " + "(" * 200 + "1" + ")" * 200, "nested too deeply"),
])
def test_hostile_and_malformed_text(text, message):
    with pytest.raises(DeriveError) as err:
        Example.from_equations(text)
    assert message in str(err.value)


def test_nothing_runs(tmp_path):
    target = tmp_path / "pwned"
    for text in [f"x = __import__('os').system('touch {target}')",
                 f"x = exec('open(\"{target}\", \"w\")')", "x = globals()"]:
        with pytest.raises(DeriveError):
            Example.from_equations(text)
    assert not target.exists()


def test_errors_carry_line_and_column():
    with pytest.raises(DeriveError) as err:
        Example.from_equations("z = w*x + b\na = relu(z\nL = a")
    assert str(err.value).startswith("line 2, column 11:")


def test_reassignment_names_both_lines():
    with pytest.raises(DeriveError, match="`z` is assigned twice, on line 1 and line 3"):
        Example.from_equations("z = w*x\na = relu(z)\nz = a + 1")


def test_self_reference_and_cycles():
    with pytest.raises(DeriveError, match="line 1: `a` is defined in terms of itself"):
        Example.from_equations("a = a + 1")
    with pytest.raises(DeriveError, match="cycle: .*a.*b.*a|cycle: .*b.*a.*b"):
        Example.from_equations("a = b + 1\nb = 2*a\nL = a + b")


def test_caret_is_power_and_precedence():
    eq = parse_equations("f = -x^2 + 2**-1")[0]
    ex = Example.from_equations("f = -x^2 + 2**-1", values={"x": 3})
    assert eq.name == "f" and ex.value("f") == sp.Rational(-17, 2)


def test_forward_references_are_fine():
    ex = Example.from_equations("L = (a - y)**2\na = relu(z)\nz = w*x + b",
                                values={"x": 2, "w": 3, "b": 1, "y": 5}, output="L")
    assert ex.grad("w") == 8


def test_unknown_output_and_names():
    with pytest.raises(DeriveError, match="output `q` is not a computed node"):
        Example.from_equations("z = w*x", output="q")
    ex = Example.from_equations("z = w*x", values={"w": 1, "x": 2})
    with pytest.raises(DeriveError, match="unknown name 'q'"):
        ex.grad("q")
