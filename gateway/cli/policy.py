"""``wecare policy test|lint|explain|replay``: the policy bundle from the command line.

test     run policy-tests/*.yaml: per-case pass/fail, rule coverage, optional mutation check
lint     compile and type-check every expression against the policy input schema
explain  one decision with every rule's outcome and every variable's value
replay   re-evaluate recorded decisions under a candidate bundle and report every flip
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from gateway import safejson
from gateway.clock import SystemClock
from gateway.decisions import DecisionService
from gateway.policy.bundle import Bundle, parse_bundle
from gateway.policy.engine import ENGINES, PolicyEngine
from gateway.policy.errors import BundleError, CaseFileError, Problem
from gateway.policy.lint import lint_bundle
from gateway.policy.loader import load_bundle, read_bundle_files, read_case_files
from gateway.policy.replay import ReplayRecord, replay
from gateway.policy.runner import mutate, parse_cases, reason_codes, run_cases
from gateway.store.sqlite import SqliteTables

SubParsers = argparse._SubParsersAction


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("policy", help="policy bundle: test, lint, explain, replay")
    commands = parser.add_subparsers(dest="policy_command", metavar="COMMAND", required=True)

    test = commands.add_parser("test", help="run the policy test cases")
    _policies(test)
    test.add_argument(
        "--cases",
        action="append",
        type=Path,
        metavar="DIR",
        help="case folder or file (repeatable; default: policy-tests/)",
    )
    test.add_argument("--format", choices=("text", "json"), default="text")
    test.add_argument(
        "--min-coverage",
        type=float,
        metavar="PCT",
        help="fail when fewer than PCT %% of rules were seen both passing and failing",
    )
    test.add_argument(
        "--mutate",
        action="store_true",
        help="negate each rule and replace it by true in turn; some case must fail for each",
    )
    test.add_argument("--engine", choices=ENGINES, default="fast")
    test.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML for CI")
    test.add_argument("--quiet", action="store_true", help="list failing cases only")
    test.set_defaults(func=run_test)

    lint = commands.add_parser("lint", help="compile and type-check every expression")
    _policies(lint)
    lint.add_argument("--format", choices=("text", "json"), default="text")
    lint.set_defaults(func=run_lint)

    explain = commands.add_parser("explain", help="one decision, every rule with its outcome")
    explain.add_argument(
        "input",
        type=Path,
        metavar="INPUT.json",
        help="a policy input document, or a stored message ('-': stdin)",
    )
    _policies(explain)
    explain.add_argument("--format", choices=("text", "json"), default="text")
    explain.add_argument("--engine", choices=ENGINES, default="fast")
    explain.set_defaults(func=run_explain)

    rep = commands.add_parser("replay", help="re-evaluate recorded decisions under a candidate bundle")
    rep.add_argument(
        "--candidate", type=Path, required=True, metavar="DIR", help="the candidate bundle folder"
    )
    _policies(rep)
    rep.add_argument(
        "--data-dir",
        type=Path,
        metavar="D",
        help="read the recorded messages of this embedded instance (default: $WECARE_DATA_DIR)",
    )
    rep.add_argument(
        "--inputs",
        type=Path,
        metavar="FILE.jsonl",
        help="policy inputs, one JSON document (or stored message) per line, instead of a data dir",
    )
    rep.add_argument("--examples", type=int, default=3, help="example message ids per reason (default 3)")
    rep.add_argument("--format", choices=("text", "json"), default="text")
    rep.set_defaults(func=run_replay)


def _policies(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies",
        type=Path,
        default=Path("policies"),
        metavar="DIR",
        help="the bundle folder (default: policies/)",
    )


def _problems(problems: tuple[Problem, ...] | list[Problem], base: Path, out: TextIO) -> None:
    for p in problems:
        where = f"{base / p.file}:{p.line}" if p.line else str(base / p.file)
        out.write(f"{where}: {p.severity}: {p.message}\n")


def _load(directory: Path, err: TextIO) -> Bundle | None:
    try:
        return load_bundle(directory)
    except BundleError as exc:
        err.write(f"the policy bundle in {directory} does not load:\n")
        _problems(exc.problems, directory, err)
        return None


# ---- test ------------------------------------------------------------------------------------


def run_test(args: argparse.Namespace) -> int:
    return test_command(args, sys.stdout, sys.stderr)


def test_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    bundle = _load(args.policies, err)
    if bundle is None:
        return 1
    files: dict[str, str] = {}
    for folder in args.cases or [Path("policy-tests")]:
        try:
            for name, text in read_case_files(folder).items():
                files[str(folder / name) if folder.is_dir() else str(folder)] = text
        except FileNotFoundError as exc:
            err.write(f"wecare: {exc}\n")
            return 1
    try:
        cases = parse_cases(files, reason_codes(bundle))
    except CaseFileError as exc:
        err.write("the policy test cases do not load:\n")
        _problems(exc.problems, Path(), err)
        return 1
    engine = PolicyEngine(bundle, args.engine)
    report = run_cases(engine, cases, min_coverage=args.min_coverage)
    if args.mutate:
        report.mutants = mutate(bundle, cases, args.engine)
    if args.junit is not None:
        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_text(report.junit(), encoding="utf-8")
    if args.format == "json":
        out.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        out.write(report.text(verbose=not args.quiet) + "\n")
    return 0 if report.ok else 1


# ---- lint ------------------------------------------------------------------------------------


def run_lint(args: argparse.Namespace) -> int:
    return lint_command(args, sys.stdout, sys.stderr)


def lint_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        bundle = parse_bundle(read_bundle_files(args.policies))
        problems = lint_bundle(bundle)
    except BundleError as exc:
        problems = list(exc.problems)
    errors = [p for p in problems if p.severity == "error"]
    if args.format == "json":
        out.write(
            json.dumps(
                {
                    "ok": not errors,
                    "problems": [
                        {
                            "file": str(args.policies / p.file),
                            "line": p.line,
                            "severity": p.severity,
                            "message": p.message,
                        }
                        for p in problems
                    ],
                },
                indent=2,
            )
            + "\n"
        )
    else:
        _problems(problems, args.policies, out)
        warnings = len(problems) - len(errors)
        out.write(
            f"{len(errors)} error(s), {warnings} warning(s)\n"
            if problems
            else f"{args.policies}: every expression compiles and type-checks\n"
        )
    return 1 if errors else 0


# ---- explain ---------------------------------------------------------------------------------


def run_explain(args: argparse.Namespace) -> int:
    return explain_command(args, sys.stdout, sys.stderr, sys.stdin)


def explain_command(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    bundle = _load(args.policies, err)
    if bundle is None:
        return 1
    try:
        text = stdin.read() if str(args.input) == "-" else args.input.read_text(encoding="utf-8")
        document = safejson.loads(text, "the policy input")
    except (OSError, safejson.JsonInputError) as exc:
        err.write(f"wecare: cannot read the policy input {args.input}: {exc}\n")
        return 1
    if isinstance(document, dict) and isinstance(document.get("policyInput"), dict):
        document = document["policyInput"]  # a stored message: explain the input it was decided on
    explanation = PolicyEngine(bundle, args.engine).explain(document)
    if args.format == "json":
        out.write(json.dumps(explanation, indent=2) + "\n")
    else:
        out.write(format_explanation(explanation) + "\n")
    return 0


def _show(entry: dict[str, Any]) -> str:
    if "error" in entry:
        return f"error: {entry['error']}"
    return json.dumps(entry.get("value"))


def format_explanation(explanation: dict[str, Any]) -> str:
    d = explanation["decision"]
    b = d["bundle"]
    verdict = "ALLOW" if d["allowed"] else "DENY"
    lines = [
        f"decision: {verdict}"
        + (f"  reasons: {', '.join(d['reasons'])}" if d["reasons"] else "")
        + (f"  warnings: {', '.join(d['warnings'])}" if d["warnings"] else "")
        + (f"  audits: {', '.join(d['audits'])}" if d["audits"] else ""),
        f"bundle {b['name']} {b['version']} {b['digest']} (engine {explanation['engine']})",
    ]
    for problem in d.get("inputProblems", []):
        lines.append(f"input problem: {problem}")
    for policy in explanation["policies"]:
        lines.append(f"policy {policy['policy']}  match: {_show(policy['match'])}")
        for name, value in policy["variables"].items():
            lines.append(f"    variable {name} = {_show(value)}")
        for rule in policy["rules"]:
            detail = f"  — {rule['message']}" if "message" in rule else ""
            outcome = rule["outcome"].upper()
            lines.append(f"  {outcome:8} {rule['rule']:36} {rule['action']:5} {rule['reason']}{detail}")
            if rule["outcome"] == "error":
                lines.append(f"           {_show(rule['value'])}")
    return "\n".join(lines)


# ---- replay ----------------------------------------------------------------------------------


def run_replay(args: argparse.Namespace) -> int:
    return replay_command(args, sys.stdout, sys.stderr)


def _records_from_file(path: Path) -> Iterator[ReplayRecord]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            doc = safejson.loads(line, f"line {number}")
            if isinstance(doc, dict) and isinstance(doc.get("policyInput"), dict):
                yield ReplayRecord(
                    str(doc.get("messageId") or doc.get("id") or f"line {number}"),
                    doc["policyInput"],
                    doc.get("decision"),
                )
            else:
                yield ReplayRecord(f"line {number}", doc)


def _records_from_store(data_dir: Path) -> Iterator[ReplayRecord]:
    tables = SqliteTables(data_dir / "wecare.db", SystemClock())
    try:
        for rec in DecisionService(tables, SystemClock()).iter_recorded():
            yield ReplayRecord(rec.message_id, rec.policy_input, rec.decision)
    finally:
        tables.close()


def replay_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    baseline_bundle = _load(args.policies, err)
    candidate_bundle = _load(args.candidate, err)
    if baseline_bundle is None or candidate_bundle is None:
        return 1
    if args.inputs is not None:
        if not args.inputs.is_file():
            err.write(f"wecare: no such inputs file: {args.inputs}\n")
            return 1
        records = _records_from_file(args.inputs)
    else:
        data_dir = args.data_dir or Path(os.environ.get("WECARE_DATA_DIR", ".wecare"))
        if not (data_dir / "wecare.db").is_file():
            err.write(
                f"wecare: no recorded messages in {data_dir} (no wecare.db); "
                "pass --inputs FILE.jsonl to replay a file of policy inputs\n"
            )
            return 1
        records = _records_from_store(data_dir)
    try:
        report = replay(
            records,
            PolicyEngine(baseline_bundle),
            PolicyEngine(candidate_bundle),
            examples_per_reason=max(0, args.examples),
        )
    except safejson.JsonInputError as exc:
        err.write(f"wecare: {args.inputs} is not JSON lines: {exc}\n")
        return 1
    if args.format == "json":
        out.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        out.write(report.text() + "\n")
    return 0
