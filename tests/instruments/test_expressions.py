"""The branching and calculation language: REDCap syntax, evaluated safely."""

import builtins
import contextlib
import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instruments import expressions
from instruments.expressions import ExpressionError, parse

TODAY = dt.date(2026, 12, 1)


def shows(source: str, **answers) -> bool:
    return parse(source).is_true(answers, today=TODAY)


def value(source: str, **answers):
    return parse(source).evaluate(answers, today=TODAY)


def test_the_example_from_the_issue():
    rule = "[pain_now] >= 5 and ([sex] = '2' or [age] < 30)"
    assert shows(rule, pain_now=7, sex="2", age=50)
    assert shows(rule, pain_now="5", sex="1", age="29")
    assert not shows(rule, pain_now=4, sex="2", age=20)
    assert not shows(rule, pain_now=9, sex="1", age=30)


@pytest.mark.parametrize("operator", ["<>", "!="])
def test_not_equal_has_two_spellings(operator):
    assert shows(f"[sex] {operator} '1'", sex="2")
    assert not shows(f"[sex] {operator} '1'", sex="1")


def test_not_and_parentheses():
    assert shows("not ([a] = '1' or [b] = '1')", a="0", b="0")
    assert not shows("not [a] = '1'", a="1")


def test_checkbox_codes_are_read_as_one_or_zero():
    assert shows("[reasons(3)] = '1'", reasons=["1", "3"])
    assert shows("[reasons(2)] = '0'", reasons=["1", "3"])
    assert shows("[reasons(2)] = '0'")


def test_empty_string_tests_blank_answers():
    assert shows("[note] = ''")
    assert shows('[note] = ""', note="")
    assert shows("[note] <> ''", note="something")
    assert not shows("[note] <> ''")


def test_numbers_compare_as_numbers_and_text_as_text():
    assert shows("[score] = 5", score="5.0")
    assert shows("[score] > 10", score="9") is False
    assert shows("[code] = 'abc'", code="abc")
    assert shows("[visit] > '2026-01-01'", visit="2026-05-04")


def test_a_blank_answer_is_neither_larger_nor_smaller():
    assert not shows("[pain] > 3")
    assert not shows("[pain] < 3")


def test_arithmetic_follows_precedence():
    assert value("1 + 2 * 3") == 7
    assert value("(1 + 2) * 3") == 9
    assert value("2 ^ 3 ^ 2") == 512
    assert value("-2 ^ 2") == -4
    assert value("10 / 4") == 2.5


def test_arithmetic_on_blanks_and_division_by_zero_is_blank():
    assert value("[a] + 1") is None
    assert value("[a] / 0", a=3) is None
    assert value("9 ^ 9 ^ 9") is None
    assert value("(-8) ^ 0.5") is None


def test_sum_and_mean_skip_blanks():
    assert value("sum([a], [b], [c])", a=1, b="", c=4) == 5
    assert value("mean([a], [b], [c])", a=1, c=4) == 2.5
    assert value("mean([a], [b])") is None


def test_rounding_functions():
    assert value("round(2.345, 2)") == 2.35
    assert value("round(2.5)") == 3
    assert value("rounddown(2.99)") == 2
    assert value("roundup(2.01)") == 3
    assert value("abs(-3)") == 3
    assert value("sqrt(16)") == 4
    assert value("sqrt(-1)") is None
    assert value("min(3, [a], 1)", a=2) == 1
    assert value("max(3, [a], 1)", a=7) == 7


def test_if_chooses_a_branch():
    assert value("if([sex] = '1', 10, 20)", sex="1") == 10
    assert value("if([sex] = '1', 10, 20)", sex="2") == 20


def test_datediff_in_days_and_whole_years_on_birthdays():
    assert value("datediff('2026-11-01', 'today', 'd')") == 30
    assert value("rounddown(datediff([dob], 'today', 'y'))", dob="2008-12-01") == 18
    assert value("rounddown(datediff([dob], 'today', 'y'))", dob="2008-12-02") == 17
    assert value("rounddown(datediff([dob], 'today', 'y'))", dob="2000-02-29") == 26
    assert value("datediff([dob], 'today', 'y')") is None


def test_fields_lists_each_reference_once():
    expression = parse("[a] = '1' and [b(2)] = '1' or [a] > 3")
    assert expression.fields() == [("a", None), ("b", "2")]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "empty"),
        ("[a] = ", "unexpected the end"),
        ("[a] = '1' and", "unexpected the end"),
        ("([a] = 1", "expected ')'"),
        ("[a] = 1)", "unexpected ')'"),
        ("[A-b] = 1", "not a field reference"),
        ("[event_1][a] = 1", "unexpected"),
        ("1 < 2 < 3", "cannot be chained"),
        ("system('ls')", "unknown function"),
        ("__import__('os')", "unknown function"),
        ("[a] = 1; [b]", "unexpected character"),
        ("round()", "takes 1 to 2 arguments"),
        ("if([a], 1)", "takes 3 arguments"),
        ("'unclosed", "unexpected character"),
    ],
)
def test_malformed_expressions_say_what_is_wrong(source, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        parse(source)


def test_deep_nesting_is_refused_not_crashed():
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("(" * 500 + "1" + ")" * 500)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("not " * 500 + "1")


def test_tree_serialises_for_the_browser():
    tree = parse("[a(2)] = '1' and not [b] > 3").to_json()
    assert tree == [
        "and",
        ["cmp", "=", ["field", "a", "2"], ["lit", "1"]],
        ["not", ["cmp", ">", ["field", "b", None], ["lit", 3.0]]],
    ]


# ---------------------------------------------------------------------------
# Property-based: any expression of the grammar evaluates without raising, and
# arbitrary text either parses or raises ExpressionError, never anything else.

FIELD_NAMES = ["a", "b", "pain_now", "reasons"]
literals = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: f"{abs(f):.3f}"),
    st.text("abc012 -", max_size=6).map(lambda s: f"'{s}'"),
    st.just("''"),
    st.just("'today'"),
)
fields = st.one_of(
    st.sampled_from(FIELD_NAMES).map(lambda n: f"[{n}]"),
    st.integers(0, 5).map(lambda code: f"[reasons({code})]"),
)
atoms = st.one_of(literals, fields)


def combine(children):
    binary = st.tuples(
        children,
        st.sampled_from(
            ["+", "-", "*", "/", "^", "=", "<>", "!=", "<", "<=", ">", ">="]
            + [" and ", " or "]
        ),
        children,
    ).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
    unary = st.tuples(st.sampled_from(["not ", "-"]), children).map(
        lambda t: f"({t[0]}({t[1]}))"
    )
    calls = st.one_of(
        st.tuples(
            st.sampled_from(["sum", "mean", "min", "max"]),
            st.lists(children, min_size=1, max_size=3),
        ).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(st.sampled_from(["abs", "sqrt", "round", "rounddown"]), children).map(
            lambda t: f"{t[0]}({t[1]})"
        ),
        st.tuples(children, children, children).map(
            lambda t: f"if({t[0]}, {t[1]}, {t[2]})"
        ),
        st.tuples(children, children, st.sampled_from(["'d'", "'y'", "'M'"])).map(
            lambda t: f"datediff({t[0]}, {t[1]}, {t[2]})"
        ),
    )
    return st.one_of(binary, unary, calls)


grammar = st.recursive(atoms, combine, max_leaves=25)
answer_values = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.integers(-100, 100),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(0, 5).map(str), max_size=3),
    st.dates().map(dt.date.isoformat),
)
answer_sets = st.dictionaries(st.sampled_from(FIELD_NAMES), answer_values)


@settings(max_examples=400, deadline=None)
@given(source=grammar, answers=answer_sets)
def test_any_expression_of_the_grammar_evaluates_without_raising(source, answers):
    expression = parse(source)
    result = expression.evaluate(answers, today=TODAY)
    assert result is None or isinstance(result, bool | float | int | str)
    expressions.truthy(result)


@settings(max_examples=400, deadline=None)
@given(source=st.text(max_size=80))
def test_arbitrary_text_parses_or_raises_expression_error(source):
    with contextlib.suppress(ExpressionError):
        parse(source)


@settings(max_examples=200, deadline=None)
@given(source=grammar, answers=answer_sets)
def test_evaluation_never_executes_code(source, answers):
    forbidden = []
    originals = {name: getattr(builtins, name) for name in ("eval", "exec", "compile")}

    def trap(name):
        def refuse(*args, **kwargs):
            forbidden.append(name)
            raise AssertionError(f"{name} was called")

        return refuse

    try:
        for name in originals:
            setattr(builtins, name, trap(name))
        parse(source).evaluate(answers, today=TODAY)
    finally:
        for name, original in originals.items():
            setattr(builtins, name, original)
    assert forbidden == []


def test_code_looking_text_is_data_not_code():
    payload = "__import__('os').system('touch /tmp/pwned')"
    assert shows(f'[note] = "{payload}"', note=payload)
    with pytest.raises(ExpressionError):
        parse(payload)
