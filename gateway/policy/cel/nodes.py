"""The CEL abstract syntax tree every other part of the policy engine works on.

Operators are calls with CEL's canonical function names (``_&&_``, ``_==_``, ``!_``, ``_[_]``,
…), as in the CEL specification's own AST, so the evaluator, the type checker and the linter
handle one uniform shape. Positions are 1-based line and column within the expression text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ComprehensionKind = Literal["all", "exists", "exists_one", "map", "filter"]


@dataclass(frozen=True, slots=True)
class Node:
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Lit(Node):
    """A literal: int, Uint, float, str, bytes, bool or None (null)."""

    value: Any


@dataclass(frozen=True, slots=True)
class Ident(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Select(Node):
    """``operand.field``; ``test_only`` is the ``has(operand.field)`` macro."""

    operand: Node
    field: str
    test_only: bool = False


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A function or operator call; ``target`` is the receiver of a method-style call."""

    function: str
    args: tuple[Node, ...]
    target: Node | None = None


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MapLit(Node):
    entries: tuple[tuple[Node, Node], ...]


@dataclass(frozen=True, slots=True)
class Comprehension(Node):
    """One of the comprehension macros over ``range`` binding ``var``.

    ``predicate`` is the condition (all/exists/exists_one/filter) or the filter of the
    three-argument ``map``; ``transform`` is ``map``'s result expression.
    """

    kind: ComprehensionKind
    range: Node
    var: str
    predicate: Node | None
    transform: Node | None = None


# Operator function names, as in the CEL specification.
AND = "_&&_"
OR = "_||_"
NOT = "!_"
NEG = "-_"
COND = "_?_:_"
INDEX = "_[_]"
IN = "@in"
EQ = "_==_"
NE = "_!=_"
LT = "_<_"
LE = "_<=_"
GT = "_>_"
GE = "_>=_"
ADD = "_+_"
SUB = "_-_"
MUL = "_*_"
DIV = "_/_"
MOD = "_%_"

OPERATOR_SYMBOLS = {
    AND: "&&",
    OR: "||",
    NOT: "!",
    NEG: "-",
    COND: "?:",
    INDEX: "[]",
    IN: "in",
    EQ: "==",
    NE: "!=",
    LT: "<",
    LE: "<=",
    GT: ">",
    GE: ">=",
    ADD: "+",
    SUB: "-",
    MUL: "*",
    DIV: "/",
    MOD: "%",
}


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(children(current)))
    return out


def children(node: Node) -> list[Node]:
    if isinstance(node, Select):
        return [node.operand]
    if isinstance(node, Call):
        return ([node.target] if node.target is not None else []) + list(node.args)
    if isinstance(node, ListLit):
        return list(node.items)
    if isinstance(node, MapLit):
        return [part for entry in node.entries for part in entry]
    if isinstance(node, Comprehension):
        return [n for n in (node.range, node.predicate, node.transform) if n is not None]
    return []


def field_path(node: Node) -> tuple[str, ...] | None:
    """``("request", "channel")`` for ``request.channel``; None when not a plain field chain."""
    parts: list[str] = []
    current = node
    while isinstance(current, Select) and not current.test_only:
        parts.append(current.field)
        current = current.operand
    if not isinstance(current, Ident):
        return None
    parts.append(current.name)
    return tuple(reversed(parts))
