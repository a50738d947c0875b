"""SCIM filter expressions as Okta parses them for `filter` and `search` (users, groups) and System Log `filter`.

Grammar (https://developer.okta.com/docs/reference/core-okta-api/#filter, RFC 7644 section 3.4.2.2):
attribute operators eq ne co sw ew pr gt ge lt le; logical `and`, `or`, `not (...)`; grouping with
parentheses; literals are JSON strings, numbers, true, false, null. Attribute names are case-sensitive,
operators case-insensitive. Precedence: attribute operators, then parentheses, then `and`, then `or`.

Each endpoint allows only part of this; a `Dialect` states which attributes, operators and logical
operators it accepts and whether string comparison ignores case, so one parser serves all endpoints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

OPERATORS = ("eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le")
Literal = str | int | float | bool | None


class FilterError(ValueError):
    """The expression is malformed or uses what the endpoint doesn't support; `kind` picks the error code."""

    def __init__(self, message: str, kind: str = "syntax") -> None:
        super().__init__(message)
        self.kind = kind  # "syntax", "operator", "attribute", "unsupported", "date"


@dataclass(frozen=True)
class Compare:
    attr: str
    op: str
    value: Literal


@dataclass(frozen=True)
class Present:
    attr: str


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Compare | Present | And | Or | Not


@dataclass(frozen=True)
class Dialect:
    """What one endpoint accepts. `attributes` are exact names; `prefixes` admit whole families (profile.)."""

    attributes: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    any_attribute: bool = False
    operators: frozenset[str] = frozenset(OPERATORS)
    # Per-attribute operator restrictions, e.g. {"status": {"eq"}}; attributes not listed use `operators`.
    attribute_operators: dict[str, frozenset[str]] = field(default_factory=dict)
    allow_not: bool = False
    case_insensitive_values: bool = False
    date_attributes: frozenset[str] = frozenset()
    forbidden_attributes: frozenset[str] = frozenset()
    # (operator, attribute) pairs Okta refuses with E0000031 "combination of operator and field".
    unsupported_pairs: frozenset[tuple[str, str]] = frozenset()

    def allows_attribute(self, attr: str) -> bool:
        return self.any_attribute or attr in self.attributes or attr.startswith(self.prefixes)

    def operators_for(self, attr: str) -> frozenset[str]:
        return self.attribute_operators.get(attr, self.operators)


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\() | (?P<rparen>\)) |
        (?P<string>"(?:[^"\\]|\\.)*") |
        (?P<number>-?\d+(?:\.\d+)?(?![\w.])) |
        (?P<word>[A-Za-z_$][\w.:$-]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(expr: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(expr):
        if expr[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(expr, pos)
        if m is None or m.lastgroup is None:
            raise FilterError(f"Unexpected character {expr[pos]!r} at position {pos}")
        tokens.append(_Tok(m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, expr: str, dialect: Dialect) -> None:
        self.expr = expr
        self.dialect = dialect
        self.tokens = _tokenize(expr)
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise FilterError("Unexpected end of expression")
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text.lower() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Node:
        if not self.tokens:
            raise FilterError("Empty expression")
        node = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise FilterError(f"Unexpected token '{tok.text}' at position {tok.pos}")
        return node

    def parse_or(self) -> Node:
        parts = [self.parse_and()]
        while self.keyword("or"):
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def parse_and(self) -> Node:
        parts = [self.parse_unary()]
        while self.keyword("and"):
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def parse_unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text.lower() == "not":
            if not self.dialect.allow_not:
                raise FilterError("The 'not' operator isn't supported", kind="operator")
            self.i += 1
            if self.take().kind != "lparen":
                raise FilterError("Expected '(' after 'not'")
            inner = self.parse_or()
            if self.take().kind != "rparen":
                raise FilterError("Expected ')'")
            return Not(inner)
        if tok is not None and tok.kind == "lparen":
            self.i += 1
            inner = self.parse_or()
            closing = self.peek()
            if closing is None or closing.kind != "rparen":
                raise FilterError("Expected ')'")
            self.i += 1
            return inner
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        attr_tok = self.take()
        if attr_tok.kind != "word":
            raise FilterError(f"Expected an attribute at position {attr_tok.pos}")
        attr = attr_tok.text
        op_tok = self.take()
        op = op_tok.text.lower()
        if op_tok.kind != "word" or op not in OPERATORS:
            raise FilterError(
                f"Unrecognized attribute operator '{op_tok.text}' at position {op_tok.pos}. "
                f"Expected: {','.join(sorted(self.dialect.operators, key=OPERATORS.index))}",
                kind="operator",
            )
        self.check(attr, op)
        if op == "pr":
            return Present(attr)
        return Compare(attr, op, self.literal())

    def literal(self) -> Literal:
        tok = self.take()
        if tok.kind == "string":
            try:
                value = json.loads(tok.text)
            except json.JSONDecodeError as exc:
                raise FilterError(f"Invalid string literal at position {tok.pos}") from exc
            assert isinstance(value, str)
            return value
        if tok.kind == "number":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "word" and tok.text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[tok.text]
        raise FilterError(f"Expected a value at position {tok.pos}")

    def check(self, attr: str, op: str) -> None:
        d = self.dialect
        if attr in d.forbidden_attributes or not d.allows_attribute(attr):
            raise FilterError(f"field is not valid: {attr}", kind="attribute")
        if (op, attr) in d.unsupported_pairs:
            raise FilterError(
                "The supplied combination of operator and field is not currently supported. "
                f"Operator: {op}, Field: {attr}",
                kind="unsupported",
            )
        if op not in d.operators_for(attr):
            raise FilterError(f"Operator '{op}' isn't supported for {attr}", kind="operator")


def parse(expr: str, dialect: Dialect) -> Node:
    """Parse and validate `expr` for `dialect`; raises FilterError."""
    node = _Parser(expr, dialect).parse()
    _check_dates(node, dialect)
    return node


def parse_date(text: str) -> datetime:
    """Okta's date literal: ISO 8601 with milliseconds and zone (Z or +hh:mm); seconds-only also accepted."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("date without a time zone")
    return parsed.astimezone(UTC)


def _check_dates(node: Node, dialect: Dialect) -> None:
    for cmp in _comparisons(node):
        if cmp.attr in dialect.date_attributes:
            if not isinstance(cmp.value, str):
                raise FilterError(f"Invalid date for {cmp.attr}", kind="date")
            try:
                parse_date(cmp.value)
            except ValueError as exc:
                raise FilterError(f"Invalid date for {cmp.attr}: {cmp.value}", kind="date") from exc


def _comparisons(node: Node) -> Iterable[Compare]:
    if isinstance(node, Compare):
        yield node
    elif isinstance(node, And | Or):
        for part in node.parts:
            yield from _comparisons(part)
    elif isinstance(node, Not):
        yield from _comparisons(node.part)


Getter = Callable[[str], Sequence[object]]


def _match_one(actual: object, op: str, expected: Literal, dialect: Dialect, is_date: bool) -> bool:
    if actual is None:
        return op == "ne" and expected is not None
    if is_date and isinstance(actual, str) and isinstance(expected, str):
        try:
            a: object = parse_date(actual)
            e: object = parse_date(expected)
        except ValueError:
            return False
    elif isinstance(actual, str) and isinstance(expected, str):
        a, e = actual, expected
        if dialect.case_insensitive_values:
            a, e = actual.lower(), expected.lower()
    else:
        a, e = actual, expected
    if op == "eq":
        return a == e
    if op == "ne":
        return a != e
    if isinstance(a, str) and isinstance(e, str):
        if op == "co":
            return e in a
        if op == "sw":
            return a.startswith(e)
        if op == "ew":
            return a.endswith(e)
    try:
        if op == "gt":
            return bool(a > e)  # type: ignore[operator]
        if op == "ge":
            return bool(a >= e)  # type: ignore[operator]
        if op == "lt":
            return bool(a < e)  # type: ignore[operator]
        if op == "le":
            return bool(a <= e)  # type: ignore[operator]
    except TypeError:
        return False
    return False


def evaluate(node: Node, get: Getter, dialect: Dialect) -> bool:
    """True when the resource whose attribute values `get` returns matches; array attributes match on any."""
    if isinstance(node, And):
        return all(evaluate(p, get, dialect) for p in node.parts)
    if isinstance(node, Or):
        return any(evaluate(p, get, dialect) for p in node.parts)
    if isinstance(node, Not):
        return not evaluate(node.part, get, dialect)
    if isinstance(node, Present):
        return any(v not in (None, "", [], {}) for v in get(node.attr))
    values = get(node.attr)
    is_date = node.attr in dialect.date_attributes
    if not values:
        return node.op == "ne"
    if node.op == "ne":
        return all(_match_one(v, "ne", node.value, dialect, is_date) for v in values)
    return any(_match_one(v, node.op, node.value, dialect, is_date) for v in values)


def path_getter(document: dict[str, object]) -> Getter:
    """Attribute lookup by dotted path in a JSON document; lists along the path are flattened."""

    def get(attr: str) -> Sequence[object]:
        current: list[object] = [document]
        for part in attr.split("."):
            following: list[object] = []
            for item in current:
                if isinstance(item, dict):
                    value = item.get(part)
                    if isinstance(value, list):
                        following.extend(value)
                    elif value is not None:
                        following.append(value)
            current = following
            if not current:
                break
        return current

    return get


def equality_terms(node: Node, attr: str) -> set[str] | None:
    """The values `attr` must equal for `node` to match (a SQL prefilter), or None if not so constrained.

    `a eq x` -> {x}; `or` of such terms on the same attribute -> their union; `and` -> the tightest part.
    Anything else -> None (no pushdown; the full expression is still evaluated on every candidate).
    """
    if isinstance(node, Compare):
        if node.attr == attr and node.op == "eq" and isinstance(node.value, str):
            return {node.value}
        return None
    if isinstance(node, Or):
        union: set[str] = set()
        for part in node.parts:
            terms = equality_terms(part, attr)
            if terms is None:
                return None
            union |= terms
        return union
    if isinstance(node, And):
        best: set[str] | None = None
        for part in node.parts:
            terms = equality_terms(part, attr)
            if terms is not None and (best is None or len(terms) < len(best)):
                best = terms
        return best
    return None
