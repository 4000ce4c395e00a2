"""CEL text → :mod:`nodes` AST, on cel-python's Lark grammar.

Both evaluators therefore read an expression identically. The grammar's tokens are decoded
here (integer ranges, string and bytes escapes per the CEL specification), macros are expanded
into :class:`~gateway.policy.cel.nodes.Comprehension` / test-only selects, and anything the
policy engine does not evaluate (message construction, leading-dot names, unknown macros forms)
is refused with :class:`CelSyntaxError` naming the place, so it can never be evaluated wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from celpy.celparser import CELParseError, CELParser
from lark import Token, Tree

from gateway.policy.cel import nodes as n
from gateway.policy.cel.values import INT64_MAX, INT64_MIN, UINT64_MAX, Uint


class CelSyntaxError(Exception):
    """The expression cannot be parsed or uses CEL the engine does not support."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return f"{self.message} (line {self.line}, column {self.column})"


_PARSER: Any = None


def _lark() -> Any:
    # Imported lazily: building the Lark parser takes a moment and is only needed to load a bundle.
    global _PARSER  # noqa: PLW0603 - a parser cache is stateless for callers
    if _PARSER is None:
        _PARSER = CELParser()
    return _PARSER


def parse(text: str) -> n.Node:
    """Parse one CEL expression; raise :class:`CelSyntaxError` on any problem."""
    if not text.strip():
        raise CelSyntaxError("empty expression")
    try:
        tree = _lark().parse(text)
    except CELParseError as exc:
        first = str(exc.args[0]).strip().splitlines()
        message = "syntax error" + (f": {first[-1].strip()}" if first else "")
        raise CelSyntaxError(message, exc.line or 1, exc.column or 1) from None
    except Exception as exc:  # lark raises a few other kinds on malformed input
        raise CelSyntaxError(f"syntax error: {exc}") from None
    return _Converter().expr(tree)


def _pos(item: LTree | Token) -> tuple[int, int]:
    if isinstance(item, Token):
        return item.line or 1, item.column or 1
    meta = item.meta
    return getattr(meta, "line", 1) or 1, getattr(meta, "column", 1) or 1


LTree = Tree[Any]
MACRO_NAMES = frozenset({"all", "exists", "exists_one", "map", "filter"})


class _Converter:
    def expr(self, tree: LTree) -> n.Node:
        kids = tree.children
        if len(kids) == 1:
            return self.conditionalor(kids[0])
        line, col = _pos(tree)
        return n.Call(
            line, col, n.COND, (self.conditionalor(kids[0]), self.conditionalor(kids[1]), self.expr(kids[2]))
        )

    def conditionalor(self, tree: LTree) -> n.Node:
        kids = tree.children
        if len(kids) == 1:
            return self.conditionaland(kids[0])
        line, col = _pos(tree)
        return n.Call(line, col, n.OR, (self.conditionalor(kids[0]), self.conditionaland(kids[1])))

    def conditionaland(self, tree: LTree) -> n.Node:
        kids = tree.children
        if len(kids) == 1:
            return self.relation(kids[0])
        line, col = _pos(tree)
        return n.Call(line, col, n.AND, (self.conditionaland(kids[0]), self.relation(kids[1])))

    _RELATIONS = {
        "relation_lt": n.LT,
        "relation_le": n.LE,
        "relation_gt": n.GT,
        "relation_ge": n.GE,
        "relation_eq": n.EQ,
        "relation_ne": n.NE,
        "relation_in": n.IN,
    }
    _ADDITIONS = {"addition_add": n.ADD, "addition_sub": n.SUB}
    _MULTIPLICATIONS = {"multiplication_mul": n.MUL, "multiplication_div": n.DIV, "multiplication_mod": n.MOD}

    def relation(self, tree: LTree) -> n.Node:
        return self._left_assoc(tree, self.relation, self.addition, self._RELATIONS)

    def addition(self, tree: LTree) -> n.Node:
        return self._left_assoc(tree, self.addition, self.multiplication, self._ADDITIONS)

    def multiplication(self, tree: LTree) -> n.Node:
        return self._left_assoc(tree, self.multiplication, self.unary, self._MULTIPLICATIONS)

    @staticmethod
    def _left_assoc(
        tree: LTree,
        same: Callable[[LTree], n.Node],
        tighter: Callable[[LTree], n.Node],
        operators: Mapping[str, str],
    ) -> n.Node:
        """One left-associative binary level of the grammar: ``same op tighter`` or just ``tighter``."""
        kids = tree.children
        if len(kids) == 1:
            return tighter(kids[0])
        op_tree, right = kids
        line, col = _pos(tree)
        left = same(op_tree.children[0])
        return n.Call(line, col, operators[op_tree.data], (left, tighter(right)))

    def unary(self, tree: LTree) -> n.Node:
        kids = tree.children
        if len(kids) == 1:
            return self.member(kids[0])
        op, operand = kids
        line, col = _pos(tree)
        inner = self.unary(operand)
        if op.data == "unary_neg":
            return n.Call(line, col, n.NEG, (inner,))
        return n.Call(line, col, n.NOT, (inner,))

    def member(self, tree: LTree) -> n.Node:
        (kid,) = tree.children
        kind = kid.data
        line, col = _pos(kid)
        if kind == "primary":
            return self.primary(kid)
        if kind == "member_dot":
            operand, ident = kid.children
            return n.Select(line, col, self.member(operand), str(ident))
        if kind == "member_dot_arg":
            operand, ident, *rest = kid.children
            args = self.exprlist(rest[0]) if rest else ()
            target = self.member(operand)
            name = str(ident)
            if name in MACRO_NAMES:
                return self.macro(line, col, name, target, args)
            return n.Call(line, col, name, args, target)
        if kind == "member_index":
            operand, index = kid.children
            return n.Call(line, col, n.INDEX, (self.member(operand), self.expr(index)))
        if kind == "member_object":
            raise CelSyntaxError("message construction (Type{field: value}) is not supported", line, col)
        raise CelSyntaxError(f"unsupported construct {kind}", line, col)  # pragma: no cover

    def macro(self, line: int, col: int, name: str, target: n.Node, args: tuple[n.Node, ...]) -> n.Node:
        if not args or not isinstance(args[0], n.Ident):
            if name in ("all", "exists", "exists_one", "map", "filter") and args:
                raise CelSyntaxError(f"{name}() needs a variable name as its first argument", line, col)
            raise CelSyntaxError(f"{name}() needs a variable name and an expression", line, col)
        var = args[0].name
        if name == "map" and len(args) == 3:
            return n.Comprehension(line, col, "map", target, var, args[1], args[2])
        if len(args) != 2:
            raise CelSyntaxError(f"{name}() takes a variable name and one expression", line, col)
        if name == "map":
            return n.Comprehension(line, col, "map", target, var, None, args[1])
        kind: n.ComprehensionKind = name  # type: ignore[assignment]
        return n.Comprehension(line, col, kind, target, var, args[1])

    def primary(self, tree: LTree) -> n.Node:
        (kid,) = tree.children
        kind = kid.data
        line, col = _pos(kid)
        if kind == "literal":
            token = kid.children[0]
            assert isinstance(token, Token)
            return n.Lit(line, col, decode_literal(token))
        if kind == "ident":
            return n.Ident(line, col, str(kid.children[0]))
        if kind == "paren_expr":
            return self.expr(kid.children[0])
        if kind == "list_lit":
            items = self.exprlist(kid.children[0]) if kid.children else ()
            return n.ListLit(line, col, items)
        if kind == "map_lit":
            entries: list[tuple[n.Node, n.Node]] = []
            if kid.children:
                parts = kid.children[0].children
                for i in range(0, len(parts), 2):
                    entries.append((self.expr(parts[i]), self.expr(parts[i + 1])))
            return n.MapLit(line, col, tuple(entries))
        if kind == "ident_arg":
            ident, *rest = kid.children
            args = self.exprlist(rest[0]) if rest else ()
            name = str(ident)
            if name == "has":
                if len(args) != 1 or not isinstance(args[0], n.Select):
                    raise CelSyntaxError("has() takes one field selection, e.g. has(x.f)", line, col)
                sel = args[0]
                return n.Select(sel.line, sel.column, sel.operand, sel.field, test_only=True)
            return n.Call(line, col, name, args)
        if kind in ("dot_ident", "dot_ident_arg"):
            raise CelSyntaxError("leading-dot (root-scoped) names are not supported", line, col)
        raise CelSyntaxError(f"unsupported construct {kind}", line, col)  # pragma: no cover

    def exprlist(self, tree: LTree) -> tuple[n.Node, ...]:
        return tuple(self.expr(child) for child in tree.children)


# ---- literals -------------------------------------------------------------------------------


def decode_literal(token: Token) -> Any:
    kind = token.type
    text = str(token)
    line, col = _pos(token)
    if kind == "BOOL_LIT":
        return text == "true"
    if kind == "NULL_LIT":
        return None
    if kind == "INT_LIT":
        value = _parse_int(text)
        if value < INT64_MIN or value > INT64_MAX:
            raise CelSyntaxError(f"int literal {text} is out of the int64 range", line, col)
        return value
    if kind == "UINT_LIT":
        value = _parse_int(text[:-1])
        if value < 0 or value > UINT64_MAX:
            raise CelSyntaxError(f"uint literal {text} is out of the uint64 range", line, col)
        return Uint(value)
    if kind == "FLOAT_LIT":
        return float(text)
    if kind in ("STRING_LIT", "MLSTRING_LIT"):
        return _decode_string(text, line, col, as_bytes=False)
    if kind == "BYTES_LIT":
        return _decode_string(text[1:], line, col, as_bytes=True)
    raise CelSyntaxError(f"unsupported literal {text}", line, col)  # pragma: no cover


def _parse_int(text: str) -> int:
    negative = text.startswith("-")
    digits = text[1:] if negative else text
    value = int(digits[2:], 16) if digits[:2].lower() == "0x" else int(digits, 10)
    return -value if negative else value


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "?": "?",
}
_OCTAL = re.compile(r"[0-3][0-7]{2}")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _decode_string(text: str, line: int, col: int, *, as_bytes: bool) -> str | bytes:  # noqa: PLR0912, PLR0915 - one branch per CEL escape form, in one scan
    raw = text[0] in "rR"
    if raw:
        text = text[1:]
    quote = text[:3] if text[:3] in ('"""', "'''") else text[0]
    body = text[len(quote) : -len(quote)]
    if raw:
        return body.encode("utf-8") if as_bytes else body
    out_bytes = bytearray()
    out_str: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            if as_bytes:
                out_bytes += ch.encode("utf-8")
            else:
                out_str.append(ch)
            i += 1
            continue
        if i + 1 >= len(body):
            raise CelSyntaxError("string ends with a lone backslash", line, col)
        esc = body[i + 1]
        if esc in _SIMPLE_ESCAPES:
            if as_bytes:
                out_bytes += _SIMPLE_ESCAPES[esc].encode("utf-8")
            else:
                out_str.append(_SIMPLE_ESCAPES[esc])
            i += 2
            continue
        if esc in "xX":
            digits = body[i + 2 : i + 4]
            if len(digits) != 2 or not _HEX.fullmatch(digits):
                raise CelSyntaxError("\\x needs two hex digits", line, col)
            code = int(digits, 16)
            if as_bytes:
                out_bytes.append(code)
            else:
                out_str.append(chr(code))
            i += 4
            continue
        if esc in "uU":
            if as_bytes:
                raise CelSyntaxError("\\u and \\U escapes are not allowed in bytes literals", line, col)
            width = 4 if esc == "u" else 8
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not _HEX.fullmatch(digits):
                raise CelSyntaxError(f"\\{esc} needs {width} hex digits", line, col)
            code = int(digits, 16)
            if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                raise CelSyntaxError(f"\\{esc}{digits} is not a valid code point", line, col)
            out_str.append(chr(code))
            i += 2 + width
            continue
        octal = body[i + 1 : i + 4]
        if _OCTAL.fullmatch(octal):
            code = int(octal, 8)
            if as_bytes:
                out_bytes.append(code)
            else:
                out_str.append(chr(code))
            i += 4
            continue
        raise CelSyntaxError(f"unknown escape \\{esc}", line, col)
    return bytes(out_bytes) if as_bytes else "".join(out_str)
