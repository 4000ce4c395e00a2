"""The closure compiler's CEL semantics beyond the conformance files: error absorption, lazy
variables, specialised fast paths, constant folding that keeps errors for run time, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.policy.cel.compiler import Compiler
from gateway.policy.cel.parser import CelSyntaxError, parse
from gateway.policy.cel.values import CelError, Uint


def run(expr: str, **act: Any) -> Any:
    return Compiler(names=frozenset(act)).compile(parse(expr))(dict(act))


def fails(expr: str, **act: Any) -> str:
    with pytest.raises(CelError) as info:
        run(expr, **act)
    return str(info.value)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("x.missing || true", True),
        ("true || x.missing", True),
        ("x.missing && false", False),
        ("false && x.missing", False),
        ("x.s || true", True),  # a non-bool operand is absorbed like an error
        ("[1, 0].exists(i, 1 / i == 1)", True),
        ("[0, 1].all(i, 1 / i == 1 && false)", False),
    ],
)
def test_logical_operators_absorb_errors_when_the_other_side_decides(expr: str, expected: bool) -> None:
    assert run(expr, x={"s": "str"}) is expected


@pytest.mark.parametrize(
    "expr", ["x.missing || false", "true && x.missing", "x.s && true", "[0].all(i, 1 / i > 0)"]
)
def test_logical_operators_keep_errors_when_nothing_decides(expr: str) -> None:
    fails(expr, x={"s": "str"})


def test_string_equality_fast_path_follows_heterogeneous_equality() -> None:
    assert run("x == 'a'", x="a") is True
    assert run("x == 'a'", x=1) is False
    assert run("x != 'a'", x=None) is True
    assert run("'a' == x", x="a") is True


def test_bool_equality_fast_path_does_not_treat_one_as_true() -> None:
    assert run("x == true", x=1) is False
    assert run("x == true", x=True) is True
    assert run("x != false", x=0) is True


def test_membership_fast_path_and_its_generic_fallback() -> None:
    assert run("x in ['a', 'b']", x="b") is True
    assert run("x in ['a', 'b']", x="c") is False
    assert run("x in ['a', 'b']", x=1) is False
    assert run("x in [1, 2.0]", x=Uint(2)) is True


def test_int_arithmetic_overflows_to_an_error_not_a_big_number() -> None:
    assert "overflow" in fails("x * 100", x=2**62)
    assert "overflow" in fails("x + 1", x=2**63 - 1)
    assert run("x * 100", x=10) == 1000


def test_numbers_never_convert_implicitly_in_arithmetic() -> None:
    assert "no such overload" in fails("x + 1.5", x=1)
    assert run("x < 1.5", x=1) is True  # comparisons do compare across numeric types


def test_constant_errors_are_kept_for_evaluation_time() -> None:
    fn = Compiler(names=frozenset()).compile(parse("1 / 0 == 1 || true"))
    assert fn({}) is True
    with pytest.raises(CelError):
        Compiler(names=frozenset()).compile(parse("1 / 0 == 1"))({})


def test_variables_are_evaluated_lazily_once_per_activation() -> None:
    calls = []

    def expensive(act: dict[Any, Any]) -> int:
        calls.append(1)
        return int(act["x"]) * 2

    compiler = Compiler(names=frozenset({"x"}), variables={"double": expensive})
    fn = compiler.compile(parse("variables.double + variables.double == 4"))
    assert fn({"x": 1}) is True
    assert len(calls) == 1
    unused = compiler.compile(parse("x == 1"))
    assert unused({"x": 1}) is True
    assert len(calls) == 1


def test_an_erroring_variable_errors_only_where_it_is_needed() -> None:
    compiler = Compiler(names=frozenset({"x"}), variables={})
    compiler.add_variable("bad", compiler.compile(parse("x.missing")))
    assert compiler.compile(parse("false && variables.bad"))({"x": {}}) is False
    with pytest.raises(CelError):
        compiler.compile(parse("variables.bad"))({"x": {}})


def test_params_are_folded_as_constants() -> None:
    compiler = Compiler(names=frozenset({"x"}), constants={"params": {"ids": ("a", "b"), "n": 3}})
    assert compiler.compile(parse("x in params.ids && params.n == 3"))({"x": "a"}) is True
    assert compiler.compile(parse("params.n"))({}) == 3  # needs nothing from the activation
    with pytest.raises(CelError):
        compiler.compile(parse("params.missing"))({})


def test_unknown_policy_variables_are_refused_at_compile_time() -> None:
    compiler = Compiler(names=frozenset({"x"}), variables={})
    with pytest.raises(CelSyntaxError, match="no variable named 'nothing'"):
        compiler.compile(parse("variables.nothing"))
    with pytest.raises(CelSyntaxError, match="has\\(\\) is for input fields"):
        compiler.compile(parse("has(variables.nothing)"))


def test_comprehension_variables_shadow_and_nest() -> None:
    assert run("[1, 2].all(x, [3].exists(y, y > x))", x=100) is True
    assert run("[[1], [2, 3]].map(x, x.size())") == [1, 2]
    assert run("{'a': 1, 'b': 2}.filter(k, k != 'a')") == ["b"]
    assert run("[1, 2, 3].map(x, x > 1, x * 10)") == [20, 30]


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("Msg{a: 1}", "message construction"),
        (".x", "leading-dot"),
        ("timestamp('2020-01-01T00:00:00Z')", "unsupported function 'timestamp'"),
        ("x.exists(1, true)", "variable name"),
        ("has(x)", "has() takes one field selection"),
        ("x +", "syntax error"),
        ("'abc'.size(1)", "takes 0 argument"),
        ("nope == 1", "undeclared reference to 'nope'"),
        ("", "empty expression"),
    ],
)
def test_unsupported_or_invalid_expressions_are_refused_at_compile_time(expr: str, fragment: str) -> None:
    with pytest.raises(CelSyntaxError) as info:
        Compiler(names=frozenset({"x"})).compile(parse(expr))
    assert fragment in str(info.value)


def test_syntax_errors_name_the_line_and_column() -> None:
    with pytest.raises(CelSyntaxError) as info:
        parse("a &&\n  b ==")
    assert info.value.line == 2


def test_string_literals_decode_cel_escapes() -> None:
    assert run(r"'\u00e9\x41\101\n'") == "éAA\n"
    assert run(r"b'\xff\101'") == b"\xffA"
    assert run(r"r'\n'") == "\\n"
    assert run('"""a\nb"""') == "a\nb"


def test_matches_uses_re2_and_reports_bad_patterns_as_errors() -> None:
    assert run(r"x.matches('\\S')", x="  a ") is True
    assert run(r"x.matches('\\S')", x="   ") is False
    assert "invalid regular expression" in fails("x.matches('(')", x="a")
