"""SCIM filters (RFC 7644 §3.4.2.2) to SQLAlchemy expressions over an explicit attribute map.

`scim2-filter-parser` turns the text into a syntax tree; this module walks the tree and builds bound
SQLAlchemy expressions (never SQL text). Only the attributes in the map can be filtered on; anything
else is `invalidFilter`. Supported: eq ne co sw ew gt ge lt le pr, and, or, not, and value paths such
as `emails[value eq "x"]` or `members[value eq "id"]`."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError
from scim2_models import InvalidFilterException

MAX_FILTER = 1000
OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr")


@dataclass(frozen=True)
class Column:
    """A filterable attribute: a column (or SQL expression) and how its values compare."""

    expr: Any
    kind: str = "string"          # string | boolean | datetime
    case_exact: bool = False


# a custom attribute: (operator, value) -> expression (e.g. group members, found through another table)
Custom = Callable[[str, str | None], sa.ColumnElement[bool]]
AttributeMap = Mapping[str, Column | Custom]


def translate(text: str, attributes: AttributeMap, core_schema: str) -> sa.ColumnElement[bool]:
    """The SQLAlchemy condition for a filter; InvalidFilterException when it cannot be read or used.
    `attributes` keys are lower-case dotted names (`username`, `emails.value`, `meta.lastmodified`)."""
    if len(text) > MAX_FILTER:
        raise InvalidFilterException(detail=f"the filter is longer than {MAX_FILTER} characters")
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except (SCIMParserError, ValueError) as exc:   # ValueError: the lexer, on an illegal character
        raise InvalidFilterException(detail=f"the filter cannot be read: {exc}") from None
    if tree is None:
        raise InvalidFilterException(detail="the filter cannot be read")
    return _Builder(attributes, core_schema.lower()).node(tree, None)


class _Builder:
    def __init__(self, attributes: AttributeMap, core_schema: str) -> None:
        self.attributes = attributes
        self.core_schema = core_schema

    def node(self, node: ast.AST, namespace: str | None) -> sa.ColumnElement[bool]:
        if isinstance(node, ast.Filter):
            inner_ns = self._name(node.namespace, None) if node.namespace is not None else namespace
            expr = self.node(node.expr, inner_ns)
            return sa.not_(expr) if node.negated else expr
        if isinstance(node, ast.LogExpr):
            left, right = self.node(node.expr1, namespace), self.node(node.expr2, namespace)
            return sa.and_(left, right) if node.op.lower() == "and" else sa.or_(left, right)
        if isinstance(node, ast.AttrExpr):
            return self._comparison(node, namespace)
        raise InvalidFilterException(detail="the filter cannot be read")

    def _name(self, path: ast.AttrPath, namespace: str | None) -> str:
        uri = (path.uri or "").lower()
        if uri and uri != self.core_schema:
            prefix = f"{uri}:"
        else:
            prefix = f"{namespace}." if namespace else ""
        name = prefix + path.attr_name
        if path.sub_attr is not None:
            name += "." + path.sub_attr.value
        return name.lower()

    def _comparison(self, node: ast.AttrExpr, namespace: str | None) -> sa.ColumnElement[bool]:
        name = self._name(node.attr_path, namespace)
        op = node.value.lower()
        target = self.attributes.get(name)
        if target is None:
            raise InvalidFilterException(detail=f"filtering on {name!r} is not supported "
                                                f"(supported: {', '.join(sorted(self.attributes))})")
        if op not in OPERATORS:
            raise InvalidFilterException(detail=f"unknown operator {op!r}")
        value = None if node.comp_value is None else node.comp_value.value
        if not isinstance(target, Column):
            return target(op, value)
        return compare(target, op, value)


def compare(column: Column, op: str, value: str | None) -> sa.ColumnElement[bool]:
    """One comparison, with RFC 7644 semantics for strings, booleans and date-times."""
    if op == "pr":
        present = column.expr.is_not(None)
        return sa.and_(present, column.expr != "") if column.kind == "string" else present
    if value is None:
        raise InvalidFilterException(detail=f"{op!r} needs a value")
    if column.kind == "boolean":
        return _boolean(column, op, value)
    if column.kind == "datetime":
        return _ordered(column.expr, op, _datetime(value))
    expr, text = (column.expr, value) if column.case_exact else (sa.func.lower(column.expr), value.lower())
    if op in ("co", "sw", "ew"):
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = {"co": f"%{escaped}%", "sw": f"{escaped}%", "ew": f"%{escaped}"}[op]
        return expr.like(pattern, escape="\\")
    return _ordered(expr, op, text)


def _ordered(expr: Any, op: str, value: Any) -> sa.ColumnElement[bool]:
    comparisons = {"eq": expr == value, "ne": sa.or_(expr != value, expr.is_(None)), "gt": expr > value,
                   "ge": expr >= value, "lt": expr < value, "le": expr <= value}
    if op not in comparisons:
        raise InvalidFilterException(detail=f"{op!r} cannot compare this attribute")
    return comparisons[op]


def _boolean(column: Column, op: str, value: str) -> sa.ColumnElement[bool]:
    wanted = {"true": True, "false": False}.get(value.lower())
    if wanted is None or op not in ("eq", "ne"):
        raise InvalidFilterException(detail="a boolean attribute compares with eq or ne to true or false")
    return column.expr == wanted if op == "eq" else column.expr != wanted


def _datetime(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFilterException(detail=f"{value!r} is not a date-time (RFC 3339)") from None
    if when.tzinfo is None:
        raise InvalidFilterException(detail=f"{value!r} has no time zone")
    return when
