"""Branching logic and calculations in the REDCap syntax people already write.

``[pain_now] >= 5 and ([sex] = '2' or [age] < 30)`` is parsed once into a tree of
nodes; evaluating the tree reads answers and nothing else. Nothing here calls
eval(), exec() or compile(), so a definition cannot run code.

Values follow REDCap's rules: an unanswered field is the empty string, comparisons
are numeric when both sides look like numbers and textual otherwise, arithmetic on
a blank gives a blank (None), and sum()/mean() skip blanks.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_LENGTH = 4000
MAX_DEPTH = 60


class ExpressionError(ValueError):
    """An expression that cannot be parsed, with the position of the problem."""

    def __init__(self, message: str, position: int | None = None):
        self.position = position
        where = f" (at character {position + 1})" if position is not None else ""
        super().__init__(f"{message}{where}")


# ---------------------------------------------------------------------------
# Tokens

TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<field>\[[^\[\]]*\])
  | (?P<number>\d+(?:\.\d*)?|\.\d+)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<op><>|!=|<=|>=|==|&&|\|\||[=<>+\-*/^(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
FIELD_RE = re.compile(r"^\[([a-z][a-z0-9_]*)(?:\(([A-Za-z0-9_\-]+)\))?\]$")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters")
    tokens = []
    position = 0
    while position < len(source):
        match = TOKEN_RE.match(source, position)
        if not match:
            raise ExpressionError(
                f"unexpected character {source[position]!r}", position
            )
        kind = match.lastgroup
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


# ---------------------------------------------------------------------------
# Values


def is_blank(value: Any) -> bool:
    return value is None or value == ""


def as_number(value: Any) -> float | None:
    """The value as a float, or None when it is blank or not a number."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        text = value.strip()
        if not text or not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
            return None
        return float(text)
    return None


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    number = as_number(value)
    if number is not None:
        return number != 0
    return not is_blank(value)


def as_date(value: Any, today: dt.date) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        if value.strip().lower() == "today":
            return today
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def finite_or_none(number: float | complex) -> float | None:
    if isinstance(number, complex) or not math.isfinite(number):
        return None
    return number


@dataclass(frozen=True)
class Context:
    """What an expression can see: answers by variable name, and today's date."""

    answers: Mapping[str, Any]
    today: dt.date

    def field(self, name: str, code: str | None) -> Any:
        value = self.answers.get(name)
        if code is not None:
            if isinstance(value, list | tuple | set | frozenset):
                return "1" if code in {as_text(v) for v in value} else "0"
            return "0"
        if isinstance(value, list | tuple | set | frozenset):
            return ",".join(sorted(as_text(v) for v in value))
        return "" if value is None else value


# ---------------------------------------------------------------------------
# Nodes


class Node:
    def evaluate(self, context: Context) -> Any:
        raise NotImplementedError

    def fields(self) -> Iterator[tuple[str, str | None]]:
        yield from ()

    def to_json(self) -> list:
        raise NotImplementedError


@dataclass(frozen=True)
class Literal(Node):
    value: str | float

    def evaluate(self, context: Context) -> Any:
        return self.value

    def to_json(self) -> list:
        return ["lit", self.value]


@dataclass(frozen=True)
class Field(Node):
    name: str
    code: str | None = None

    def evaluate(self, context: Context) -> Any:
        return context.field(self.name, self.code)

    def fields(self) -> Iterator[tuple[str, str | None]]:
        yield self.name, self.code

    def to_json(self) -> list:
        return ["field", self.name, self.code]


@dataclass(frozen=True)
class Not(Node):
    operand: Node

    def evaluate(self, context: Context) -> bool:
        return not truthy(self.operand.evaluate(context))

    def fields(self) -> Iterator[tuple[str, str | None]]:
        yield from self.operand.fields()

    def to_json(self) -> list:
        return ["not", self.operand.to_json()]


@dataclass(frozen=True)
class Negate(Node):
    operand: Node

    def evaluate(self, context: Context) -> float | None:
        number = as_number(self.operand.evaluate(context))
        return None if number is None else -number

    def fields(self) -> Iterator[tuple[str, str | None]]:
        yield from self.operand.fields()

    def to_json(self) -> list:
        return ["neg", self.operand.to_json()]


@dataclass(frozen=True)
class Logical(Node):
    operator: str  # "and" | "or"
    left: Node
    right: Node

    def evaluate(self, context: Context) -> bool:
        left = truthy(self.left.evaluate(context))
        if self.operator == "and":
            return left and truthy(self.right.evaluate(context))
        return left or truthy(self.right.evaluate(context))

    def fields(self) -> Iterator[tuple[str, str | None]]:
        yield from self.left.fields()
        yield from self.right.fields()

    def to_json(self) -> list:
        return [self.operator, self.left.to_json(), self.right.to_json()]


def compare(operator: str, left: Any, right: Any) -> bool:
    left_number, right_number = as_number(left), as_number(right)
    both_numbers = left_number is not None and right_number is not None
    if operator in ("=", "<>"):
        if both_numbers:
            equal = left_number == right_number
        else:
            equal = as_text(left) == as_text(right)
        return equal if operator == "=" else not equal
    if both_numbers:
        a, b = left_number, right_number
    elif is_blank(left) or is_blank(right):
        return False
    else:
        a, b = as_text(left), as_text(right)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]


@dataclass(frozen=True)
class Comparison(Node):
    operator: str  # = <> < <= > >=
    left: Node
    right: Node

    def evaluate(self, context: Context) -> bool:
        return compare(
            self.operator, self.left.evaluate(context), self.right.evaluate(context)
        )

    def fields(self) -> Iterator[tuple[str, str | None]]:
        yield from self.left.fields()
        yield from self.right.fields()

    def to_json(self) -> list:
        return ["cmp", self.operator, self.left.to_json(), self.right.to_json()]


def arithmetic(operator: str, a: float, b: float) -> float | None:
    try:
        if operator == "+":
            return finite_or_none(a + b)
        if operator == "-":
            return finite_or_none(a - b)
        if operator == "*":
            return finite_or_none(a * b)
        if operator == "/":
            return None if b == 0 else finite_or_none(a / b)
        if abs(b) > 1024:  # "^": keep powers bounded in time and size
            return None
        return finite_or_none(a**b)
    except (OverflowError, ZeroDivisionError):
        return None


@dataclass(frozen=True)
class Arithmetic(Node):
    operator: str  # + - * / ^
    left: Node
    right: Node

    def evaluate(self, context: Context) -> float | None:
        a = as_number(self.left.evaluate(context))
        b = as_number(self.right.evaluate(context))
        if a is None or b is None:
            return None
        return arithmetic(self.operator, a, b)

    def fields(self) -> Iterator[tuple[str, str | None]]:
        yield from self.left.fields()
        yield from self.right.fields()

    def to_json(self) -> list:
        return ["arith", self.operator, self.left.to_json(), self.right.to_json()]


def _numbers(values: list[Any]) -> list[float]:
    return [n for n in (as_number(v) for v in values) if n is not None]


def _round(values: list[Any], rounding: Callable[[float], float]) -> float | None:
    number = as_number(values[0])
    places = as_number(values[1]) if len(values) > 1 else 0.0
    if number is None or places is None:
        return None
    places = int(max(min(places, 10), -10))
    factor = 10.0**places
    return finite_or_none(rounding(number * factor) / factor)


def _half_up(number: float) -> float:
    return math.floor(number + 0.5) if number >= 0 else -math.floor(-number + 0.5)


def _toward_zero(number: float) -> float:
    return math.trunc(number)


def _away_from_zero(number: float) -> float:
    return math.ceil(number) if number >= 0 else math.floor(number)


def _sum(values, context):
    numbers = _numbers(values)
    return finite_or_none(math.fsum(numbers)) if numbers else None


def _mean(values, context):
    numbers = _numbers(values)
    return finite_or_none(math.fsum(numbers) / len(numbers)) if numbers else None


def _min(values, context):
    numbers = _numbers(values)
    return min(numbers) if numbers else None


def _max(values, context):
    numbers = _numbers(values)
    return max(numbers) if numbers else None


def _abs(values, context):
    number = as_number(values[0])
    return None if number is None else abs(number)


def _sqrt(values, context):
    number = as_number(values[0])
    return None if number is None or number < 0 else math.sqrt(number)


def _datediff(values, context):
    first = as_date(values[0], context.today)
    second = as_date(values[1], context.today)
    unit = as_text(values[2]) if len(values) > 2 else "d"
    if first is None or second is None or unit not in DATEDIFF_UNITS:
        return None
    if unit == "y":
        return _calendar_years(first, second)
    return (second - first).days / DATEDIFF_UNITS[unit]


def _calendar_years(first: dt.date, second: dt.date) -> float:
    """Years from ``first`` to ``second``, whole on each anniversary.

    Dividing days by 365.25 leaves someone a day short of 18 on their birthday;
    ages are counted by anniversaries, with the part-year as a fraction.
    """
    if second < first:
        return -_calendar_years(second, first)
    years = second.year - first.year
    if _anniversary(first, second.year) > second:
        years -= 1
    start = _anniversary(first, first.year + years)
    end = _anniversary(first, first.year + years + 1)
    return years + (second - start).days / (end - start).days


def _anniversary(date: dt.date, year: int) -> dt.date:
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        year = min(max(year, dt.MINYEAR), dt.MAXYEAR)
    try:
        return date.replace(year=year)
    except ValueError:  # 29 February in a common year
        return dt.date(year, 2, 28)


DATEDIFF_UNITS = {"d": 1.0, "w": 7.0, "M": 30.44, "y": 365.2425}


@dataclass(frozen=True)
class FunctionSpec:
    implementation: Callable[[list[Any], Context], Any]
    min_args: int
    max_args: int | None


FUNCTIONS: dict[str, FunctionSpec] = {
    "sum": FunctionSpec(_sum, 1, None),
    "mean": FunctionSpec(_mean, 1, None),
    "min": FunctionSpec(_min, 1, None),
    "max": FunctionSpec(_max, 1, None),
    "abs": FunctionSpec(_abs, 1, 1),
    "sqrt": FunctionSpec(_sqrt, 1, 1),
    "round": FunctionSpec(lambda v, c: _round(v, _half_up), 1, 2),
    "rounddown": FunctionSpec(lambda v, c: _round(v, _toward_zero), 1, 2),
    "roundup": FunctionSpec(lambda v, c: _round(v, _away_from_zero), 1, 2),
    "datediff": FunctionSpec(_datediff, 2, 4),
}


@dataclass(frozen=True)
class Call(Node):
    name: str
    arguments: tuple[Node, ...]

    def evaluate(self, context: Context) -> Any:
        if self.name == "if":
            condition, then, otherwise = self.arguments
            chosen = then if truthy(condition.evaluate(context)) else otherwise
            return chosen.evaluate(context)
        values = [argument.evaluate(context) for argument in self.arguments]
        return FUNCTIONS[self.name].implementation(values, context)

    def fields(self) -> Iterator[tuple[str, str | None]]:
        for argument in self.arguments:
            yield from argument.fields()

    def to_json(self) -> list:
        return ["call", self.name, [argument.to_json() for argument in self.arguments]]


# ---------------------------------------------------------------------------
# Parser

COMPARISONS = {"=": "=", "==": "=", "<>": "<>", "!=": "<>"}
COMPARISONS.update({op: op for op in ("<", "<=", ">", ">=")})


class Parser:
    def __init__(self, source: str):
        self.tokens = tokenize(source)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        return self.current.kind == "word" and self.current.text.lower() in words

    def at_op(self, *ops: str) -> bool:
        return self.current.kind == "op" and self.current.text in ops

    def expect_op(self, op: str) -> None:
        if not self.at_op(op):
            raise ExpressionError(
                f"expected {op!r} but found {self.describe(self.current)}",
                self.current.position,
            )
        self.advance()

    @staticmethod
    def describe(token: Token) -> str:
        return "the end" if token.kind == "end" else repr(token.text)

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise ExpressionError("the expression is empty", 0)
        node = self.parse_or()
        if self.current.kind != "end":
            raise ExpressionError(
                f"unexpected {self.describe(self.current)}", self.current.position
            )
        return node

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("the expression is nested too deeply")
        try:
            return parse()
        finally:
            self.depth -= 1

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.at_word("or") or self.at_op("||"):
            self.advance()
            node = Logical("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while self.at_word("and") or self.at_op("&&"):
            self.advance()
            node = Logical("and", node, self.parse_not())
        return node

    def parse_not(self) -> Node:
        if self.at_word("not"):
            self.advance()
            return Not(self.nested(self.parse_not))
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        node = self.parse_additive()
        if self.current.kind == "op" and self.current.text in COMPARISONS:
            operator = COMPARISONS[self.advance().text]
            node = Comparison(operator, node, self.parse_additive())
            if self.current.kind == "op" and self.current.text in COMPARISONS:
                raise ExpressionError(
                    "comparisons cannot be chained; join them with and/or",
                    self.current.position,
                )
        return node

    def parse_additive(self) -> Node:
        node = self.parse_term()
        while self.at_op("+", "-"):
            operator = self.advance().text
            node = Arithmetic(operator, node, self.parse_term())
        return node

    def parse_term(self) -> Node:
        node = self.parse_unary()
        while self.at_op("*", "/"):
            operator = self.advance().text
            node = Arithmetic(operator, node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.at_op("-"):
            self.advance()
            return Negate(self.nested(self.parse_unary))
        if self.at_op("+"):
            self.advance()
            return self.nested(self.parse_unary)
        return self.parse_power()

    def parse_power(self) -> Node:
        node = self.parse_atom()
        if self.at_op("^"):
            self.advance()
            node = Arithmetic("^", node, self.nested(self.parse_unary))
        return node

    def parse_atom(self) -> Node:
        token = self.current
        if token.kind == "number":
            self.advance()
            return Literal(float(token.text))
        if token.kind == "string":
            self.advance()
            return Literal(token.text[1:-1])
        if token.kind == "field":
            self.advance()
            match = FIELD_RE.match(token.text)
            if not match:
                raise ExpressionError(
                    f"{token.text} is not a field reference such as [pain_now] "
                    "or [reasons(3)]",
                    token.position,
                )
            return Field(match.group(1), match.group(2))
        if token.kind == "op" and token.text == "(":
            self.advance()
            node = self.nested(self.parse_or)
            self.expect_op(")")
            return node
        if token.kind == "word":
            return self.parse_call()
        raise ExpressionError(f"unexpected {self.describe(token)}", token.position)

    def parse_call(self) -> Node:
        token = self.advance()
        name = token.text.lower()
        if name in ("true", "false") and not self.at_op("("):
            return Literal(1.0 if name == "true" else 0.0)
        if name != "if" and name not in FUNCTIONS:
            raise ExpressionError(
                f"unknown function or word {token.text!r}", token.position
            )
        self.expect_op("(")
        arguments = []
        if not self.at_op(")"):
            arguments.append(self.nested(self.parse_or))
            while self.at_op(","):
                self.advance()
                arguments.append(self.nested(self.parse_or))
        self.expect_op(")")
        if name == "if":
            low, high = 3, 3
        else:
            low, high = FUNCTIONS[name].min_args, FUNCTIONS[name].max_args
        if len(arguments) < low or (high is not None and len(arguments) > high):
            expected = str(low) if low == high else f"at least {low}"
            if high is not None and high != low:
                expected = f"{low} to {high}"
            raise ExpressionError(
                f"{name}() takes {expected} arguments, not {len(arguments)}",
                token.position,
            )
        return Call(name, tuple(arguments))


@dataclass(frozen=True)
class Expression:
    """A parsed expression with the text it came from."""

    source: str
    tree: Node

    def evaluate(self, answers: Mapping[str, Any], *, today: dt.date | None = None):
        return self.tree.evaluate(Context(answers, today or dt.date.today()))

    def is_true(self, answers: Mapping[str, Any], *, today: dt.date | None = None):
        return truthy(self.evaluate(answers, today=today))

    def fields(self) -> list[tuple[str, str | None]]:
        return list(dict.fromkeys(self.tree.fields()))

    def to_json(self) -> list:
        return self.tree.to_json()


def parse(source: str) -> Expression:
    """Parse ``source``; raises ExpressionError naming the problem and where."""
    try:
        return Expression(source, Parser(source).parse())
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply") from None
