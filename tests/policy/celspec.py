"""Runs google/cel-spec's simple conformance files against the fast evaluator.

Each test ends as ``pass``, ``fail`` (a wrong value or a missing error: never acceptable) or
``rejected`` (the expression uses CEL the engine refuses at load time, e.g. protobuf messages,
timestamps, or a test needs a type environment or container). Run as a script for a summary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.policy.cel.compiler import Compiler
from gateway.policy.cel.parser import CelSyntaxError, parse
from gateway.policy.cel.values import TYPES, CelError, CelType, Uint

from .textproto import Message
from .textproto import parse as parse_textproto

DATA = Path(__file__).resolve().parent.parent / "data" / "cel-spec"
FILES = (
    "basic",
    "comparisons",
    "logic",
    "fields",
    "lists",
    "string",
    "integer_math",
    "macros",
    "conversions",
)


class Unrepresentable(Exception):
    """The test's value needs a type the engine does not have (message, enum, timestamp…)."""


@dataclass(frozen=True)
class Result:
    file: str
    section: str
    name: str
    expr: str
    outcome: str  # pass | fail | rejected
    detail: str = ""


def _scalar(msg: Message, key: str) -> Any:
    return msg[key][0]


# The conformance Value kinds that are one conversion of their raw field.
_SCALARS: dict[str, Callable[[Any], Any]] = {
    "int64_value": int,
    "uint64_value": lambda raw: Uint(int(raw)),
    "string_value": lambda raw: raw.decode("utf-8"),
    "bytes_value": bytes,
    "bool_value": lambda raw: raw == "true",
    "null_value": lambda raw: None,
}


def to_value(msg: Message) -> Any:
    if not msg:
        raise Unrepresentable("empty value")
    (key,) = msg.keys()
    raw = msg[key][0]
    if key in _SCALARS:
        return _SCALARS[key](raw)
    if key == "double_value":
        text = str(raw).lower()
        if text in ("inf", "infinity"):
            return math.inf
        if text in ("-inf", "-infinity"):
            return -math.inf
        if text == "nan":
            return math.nan
        return float(text)
    if key == "list_value":
        return [to_value(v) for v in raw.get("values", [])]
    if key == "map_value":
        out: dict[Any, Any] = {}
        for entry in raw.get("entries", []):
            out[to_value(entry["key"][0])] = to_value(entry["value"][0])
        return out
    if key == "type_value":
        name = raw.decode("utf-8")
        if name not in TYPES:
            raise Unrepresentable(f"type {name}")
        return TYPES[name]
    raise Unrepresentable(key)


def same(a: Any, b: Any) -> bool:
    """Strict equality: same CEL type and value (NaN equals NaN here)."""
    ta, tb = type(a), type(b)
    if ta in (list, tuple) and tb in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if ta is not tb:
        return False
    if ta is dict:
        if len(a) != len(b):
            return False
        for k, v in a.items():
            match = [bk for bk in b if type(bk) is type(k) and bk == k]
            if not match or not same(v, b[match[0]]):
                return False
        return True
    if ta is float:
        if math.isnan(a) and math.isnan(b):
            return True
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if ta is CelType:
        return bool(a == b)
    return bool(a == b)


def run_test(file: str, section: str, test: Message) -> Result:  # noqa: PLR0912 - one early return per reason a case is rejected, in the order it is read
    name = _scalar(test, "name").decode()
    expr = _scalar(test, "expr").decode("utf-8")

    def result(outcome: str, detail: str = "") -> Result:
        return Result(file, section, name, expr, outcome, detail)

    if "container" in test or "type_env" in test:
        # A container or a typed environment means protobuf messages or checked-only semantics.
        needs = "container" if "container" in test else "type_env"
        if needs == "container" or any(
            "message" in d.get("ident", [{}])[0].get("type", [{}])[0] for d in test["type_env"]
        ):
            return result("rejected", f"needs {needs}")
    if "disable_macros" in test:
        return result("rejected", "macros cannot be disabled")
    try:
        bindings = {}
        for entry in test.get("bindings", []):
            key = entry["key"][0].decode()
            bindings[key] = to_value(entry["value"][0]["value"][0])
    except Unrepresentable as exc:
        return result("rejected", f"binding of unsupported type {exc}")
    try:
        expected_kind = next(
            k
            for k in ("value", "eval_error", "any_eval_errors", "typed_result", "unknown", "any_unknowns")
            if k in test
        )
    except StopIteration:
        expected_kind = "value"
        test = {**test, "value": [{"bool_value": ["true"]}]}  # the proto default: a true result
    if expected_kind not in ("value", "eval_error", "any_eval_errors"):
        return result("rejected", f"expects {expected_kind}")
    try:
        expected = to_value(test["value"][0]) if expected_kind == "value" else None
    except Unrepresentable as exc:
        return result("rejected", f"result of unsupported type {exc}")
    try:
        fn = Compiler(names=frozenset(bindings)).compile(parse(expr))
    except CelSyntaxError as exc:
        return result("rejected", str(exc))
    try:
        actual = fn(dict(bindings))
    except CelError as exc:
        if expected_kind == "value":
            return result("fail", f"error {exc}, expected {expected!r}")
        return result("pass")
    if expected_kind != "value":
        return result("fail", f"value {actual!r}, expected an error")
    if same(actual, expected):
        return result("pass")
    return result("fail", f"value {actual!r}, expected {expected!r}")


def run_suite(files: tuple[str, ...] = FILES) -> list[Result]:
    results: list[Result] = []
    for file in files:
        doc = parse_textproto((DATA / f"{file}.textproto").read_text(encoding="utf-8"))
        for section in doc.get("section", []):
            section_name = section["name"][0].decode()
            for test in section.get("test", []):
                results.append(run_test(file, section_name, test))
    return results


if __name__ == "__main__":
    import collections
    import sys

    results = run_suite()
    by_file: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for r in results:
        by_file[r.file][r.outcome] += 1
    for file, counts in by_file.items():
        print(f"{file:14} pass {counts['pass']:4}  fail {counts['fail']:3}  rejected {counts['rejected']:3}")
    total = collections.Counter(r.outcome for r in results)
    print(f"{'total':14} pass {total['pass']:4}  fail {total['fail']:3}  rejected {total['rejected']:3}")
    verbose = "-v" in sys.argv
    for r in results:
        if r.outcome == "fail" or (verbose and r.outcome == "rejected"):
            print(f"  {r.outcome.upper()} {r.file}/{r.section}/{r.name}: {r.expr!r} — {r.detail}")
