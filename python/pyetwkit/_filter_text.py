"""Reading filters from text: the syntax ``repr`` prints (see
:func:`pyetwkit.filters.parse`). Python's own parser reads it, but the tree is
never compiled or evaluated: only the node types below are accepted, and calls
go to the functions of :mod:`pyetwkit.filters`."""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable
from typing import TypeGuard

from pyetwkit.filters import (
    Filter,
    event_id,
    event_name,
    join_filters,
    keywords_all,
    keywords_any,
    max_level,
    opcode,
    pid,
    process_glob,
    process_name,
    property_contains,
    property_equals,
    property_glob,
    property_range,
    property_regex,
    provider,
)

_FACTORIES: dict[str, Callable[..., Filter]] = {
    factory.__name__: factory
    for factory in (
        provider,
        event_id,
        event_name,
        opcode,
        max_level,
        keywords_any,
        keywords_all,
        pid,
        process_name,
        process_glob,
        property_equals,
        property_contains,
        property_regex,
        property_glob,
        property_range,
    )
}
_CHAINS = {ast.BitAnd: ("all", " & "), ast.BitOr: ("any", " | ")}
_MAX_TEXT_LENGTH = 64 * 1024  # characters
# Levels of ~ and of runs of & or |: well above what a
# person writes, and far from the Python stack limit the reader recurses on.
_MAX_NESTING = 100
_KINDS = {
    ast.Attribute: "attribute access",
    ast.BoolOp: "'and'/'or' (use & and |)",
    ast.Call: "call",
    ast.Compare: "comparison",
    ast.Constant: "literal",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.JoinedStr: "f-string",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.Name: "name",
    ast.SetComp: "comprehension",
    ast.Starred: "*argument",
    ast.Subscript: "subscript",
    ast.keyword: "**argument",
}
_OPERATORS = {
    ast.Add: "+",
    ast.BitXor: "^",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.LShift: "<<",
    ast.MatMult: "@",
    ast.Mod: "%",
    ast.Mult: "*",
    ast.Not: "'not' (use ~)",
    ast.Pow: "**",
    ast.RShift: ">>",
    ast.Sub: "-",
    ast.UAdd: "+",
    ast.USub: "-",
}


def _is_literal(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float))  # bool is an int


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(node: ast.AST) -> str:
    op = getattr(node, "op", None)
    if op is not None and type(op) in _OPERATORS:
        return f"operator {_OPERATORS[type(op)]}"
    return _KINDS.get(type(node), type(node).__name__)


class _Reader:
    """Reads one filter text, keeping it to say where an error is."""

    def __init__(self, text: str) -> None:
        if len(text) > _MAX_TEXT_LENGTH:
            raise ValueError(
                f"filter text too long: {len(text)} characters, at most {_MAX_TEXT_LENGTH}"
            )
        # Leading blanks are fine, as for eval(); ast.parse would call them an indent.
        self.body = text.lstrip(" \t")
        self.indent = len(text) - len(self.body)
        self.lines = self.body.replace("\r\n", "\n").replace("\r", "\n").split("\n")

    def read(self) -> Filter:
        if not self.body.strip():
            raise ValueError("empty filter")
        return self.filter(self.syntax_tree().body, depth=0)

    def syntax_tree(self) -> ast.Expression:
        try:
            # An invalid escape such as '\.' is only a warning to Python, which
            # would print it or, under -W error, fail; make it always an error.
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                return ast.parse(self.body, mode="eval")
        except SyntaxError as e:
            where = f" at {self.where(e.lineno, e.offset)}" if e.lineno and e.offset else ""
            raise ValueError(f"filter syntax error{where}: {e.msg}") from None
        except (RecursionError, MemoryError):
            # Python's parser gives up on deep nesting (~~~...) or on chains of
            # some thousands of operands, before the size limit is reached.
            raise ValueError("filter nested too deeply or too long for Python's parser") from None
        except ValueError as e:  # text Python cannot encode, such as lone surrogates
            raise ValueError(f"filter text not readable: {e}") from None

    def filter(self, node: ast.expr, depth: int) -> Filter:
        if depth > _MAX_NESTING:
            raise ValueError(
                f"filter nested more than {_MAX_NESTING} levels deep at {self.where_node(node)}"
            )
        if isinstance(node, ast.BinOp) and type(node.op) in _CHAINS:
            return self.chain(node, depth)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            return ~self.filter(node.operand, depth + 1)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.unexpected(node, "a filter such as pid(4)")

    def chain(self, node: ast.BinOp, depth: int) -> Filter:
        # a | b | c is a tree leaning left; reading it as one list keeps long
        # chains from counting as nesting, and joins them in one step.
        op = type(node.op)
        operands: list[ast.expr] = []
        left: ast.expr = node
        while isinstance(left, ast.BinOp) and isinstance(left.op, op):
            operands.append(left.right)
            left = left.left
        operands.append(left)
        parts = [self.filter(operand, depth + 1) for operand in reversed(operands)]
        return join_filters(*_CHAINS[op], parts)

    def call(self, node: ast.Call) -> Filter:
        factory = self.factory(node.func)
        args = [self.literal(arg) for arg in node.args]
        kwargs: dict[str, object] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.unexpected(keyword, "a literal argument")
            kwargs[keyword.arg] = self.literal(keyword.value)
        try:
            return factory(*args, **kwargs)
        except TypeError as e:  # wrong number or type of arguments
            raise ValueError(f"{e} at {self.where_node(node)}") from None

    def factory(self, node: ast.expr) -> Callable[..., Filter]:
        if isinstance(node, ast.Name) and node.id in _FACTORIES:
            return _FACTORIES[node.id]
        if isinstance(node, ast.Name):
            raise ValueError(
                f"unknown filter function {node.id!r} at {self.where_node(node)};"
                f" the filter functions are {', '.join(_FACTORIES)}"
            )
        raise self.unexpected(node, "a filter function name such as pid")

    def literal(self, node: ast.expr) -> object:
        if isinstance(node, ast.Constant) and _is_literal(node.value):
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and _is_number(node.operand.value)
        ):
            return -node.operand.value
        raise self.unexpected(node, "a string, number, True, False or None")

    def unexpected(self, node: ast.expr | ast.keyword, expected: str) -> ValueError:
        found = ast.get_source_segment(self.body, node) or ""
        if len(found) > 40:
            found = found[:37] + "..."
        return ValueError(
            f"expected {expected} at {self.where_node(node)}, found {_kind(node)} `{found}`"
        )

    def where_node(self, node: ast.expr | ast.keyword) -> str:
        # ast counts columns in UTF-8 bytes from 0; people count characters from 1.
        line = self.lines[node.lineno - 1].encode()
        return self.where(node.lineno, len(line[: node.col_offset].decode()) + 1)

    def where(self, line: int, column: int) -> str:
        if line == 1:
            column += self.indent
        return f"column {column}" if len(self.lines) == 1 else f"line {line}, column {column}"


def parse_filter(text: str) -> Filter:
    if not isinstance(text, str):
        raise TypeError(f"parse() needs a str, not {type(text).__name__}")
    return _Reader(text).read()
