"""The policy bundle: data model, validation against the bundle schema, and its digest.

:func:`parse_bundle` is pure (file names → texts in, :class:`Bundle` out); reading the folder is
the loader's job. Every problem is reported with its file and line, and all of them at once.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from gateway.policy.errors import BundleError, Problem
from gateway.policy.yamlsrc import Located, YamlError, load

Action = Literal["deny", "warn", "audit"]
ACTIONS: tuple[Action, ...] = ("deny", "warn", "audit")
POLICY_ERROR = "POLICY_ERROR"

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REASON = re.compile(r"^[A-Z][A-Z0-9_]*$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class Expression:
    """One CEL expression and where it is written."""

    source: str
    file: str
    line: int
    located: Located | None = field(default=None, compare=False, repr=False)
    path: tuple[str | int, ...] = field(default=(), compare=False, repr=False)

    def file_line(self, line_in_expression: int, column: int = 1) -> int:
        """The file line of a position in this expression (for diagnostics)."""
        if self.located is None:
            return self.line + line_in_expression - 1
        return self.located.text_line(self.path, line_in_expression, column)


@dataclass(frozen=True)
class Variable:
    name: str
    expression: Expression


@dataclass(frozen=True)
class Rule:
    name: str
    expression: Expression
    reason: str
    message: str
    action: Action
    file: str
    line: int
    match: Expression | None = None
    message_expression: Expression | None = None
    description: str = ""


@dataclass(frozen=True)
class Policy:
    name: str
    file: str
    description: str
    header: str  # the file's leading comment: which requirement, and why
    requirements: tuple[str, ...]
    match: Expression | None
    variables: tuple[Variable, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class ChangelogEntry:
    version: str
    date: str
    changes: tuple[str, ...]


@dataclass(frozen=True)
class Bundle:
    name: str
    version: str
    digest: str  # "sha256:<hex>" over the canonical contents of every file of the bundle
    description: str
    changelog: tuple[ChangelogEntry, ...]
    params: dict[str, Any]
    policies: tuple[Policy, ...]
    files: tuple[str, ...]
    params_file: str

    def rules(self) -> list[tuple[Policy, Rule]]:
        """Every rule, in evaluation order."""
        return [(policy, rule) for policy in self.policies for rule in policy.rules]

    def reasons(self) -> list[str]:
        seen: dict[str, None] = {}
        for _, rule in self.rules():
            seen.setdefault(rule.reason, None)
        seen.setdefault(POLICY_ERROR, None)
        return list(seen)

    def with_rule_expression(self, policy_name: str, rule_name: str, source: str) -> Bundle:
        """A copy with one rule's expression replaced (mutation testing, what-if)."""
        policies = []
        for policy in self.policies:
            if policy.name != policy_name:
                policies.append(policy)
                continue
            rules = tuple(
                replace(rule, expression=replace(rule.expression, source=source))
                if rule.name == rule_name
                else rule
                for rule in policy.rules
            )
            policies.append(replace(policy, rules=rules))
        return replace(self, policies=tuple(policies), digest=self.digest + "+mutant")


# ---- the digest --------------------------------------------------------------------------------


def canonical(text: str) -> bytes:
    """A file's canonical content: UTF-8, no byte-order mark, LF line endings."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")


def digest(files: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode("utf-8") + b"\0")
        h.update(canonical(files[name]) + b"\0")
    return "sha256:" + h.hexdigest()


# ---- params --------------------------------------------------------------------------------------


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Template(_P):
    """An approved WhatsApp template as operators pick it: ``{{n}}`` in ``body`` are its variables."""

    name: StrictStr = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: StrictStr = Field(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    body: StrictStr = Field(min_length=1, max_length=1024)


class _WhatsAppParams(_P):
    allowlist: list[StrictStr] = Field(min_length=1)
    windowSeconds: StrictInt = Field(gt=0)
    templates: list[_Template] = Field(default_factory=list)


class _PerSecond(_P):
    perSecond: StrictInt = Field(gt=0)


class _WhatsAppRates(_P):
    perPhoneNumberPerSecond: StrictInt = Field(gt=0)
    accountPerSecond: StrictInt = Field(gt=0)


class _RateLimits(_P):
    whatsapp: _WhatsAppRates
    sms: _PerSecond
    email: _PerSecond


class _Tier(_P):
    defaultLimit: StrictInt = Field(gt=0)
    windowSeconds: StrictInt = Field(gt=0)
    warnAtPercent: StrictInt = Field(gt=0, le=100)


class _WhatsAppContent(_P):
    textMaxChars: StrictInt = Field(gt=0)
    captionMaxChars: StrictInt = Field(gt=0)


class _SmsContent(_P):
    maxChars: StrictInt = Field(gt=0)


class _Content(_P):
    whatsapp: _WhatsAppContent
    sms: _SmsContent


class BundleParams(_P):
    """The versioned parameters every part of the gateway reads (never constants in code)."""

    whatsapp: _WhatsAppParams
    rateLimits: _RateLimits
    tier: _Tier
    content: _Content


# ---- parsing -------------------------------------------------------------------------------------

_BUNDLE_KEYS = {"name", "version", "description", "changelog", "params", "policies"}
_POLICY_KEYS = {"name", "description", "requirements", "match", "variables", "rules"}
_RULE_KEYS = {
    "name",
    "description",
    "match",
    "expression",
    "reason",
    "message",
    "messageExpression",
    "action",
}
_VARIABLE_KEYS = {"name", "expression"}


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, file: str, line: int, message: str) -> None:
        self.problems.append(Problem(file, line, message))


def _header(text: str) -> str:
    lines = []
    for raw in text.lstrip("\ufeff").splitlines():
        stripped = raw.strip()
        if stripped.startswith("#"):
            lines.append(stripped.lstrip("#").strip())
        elif stripped == "" and not lines:
            continue
        else:
            break
    return "\n".join(lines).strip()


def _suggest(word: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


YamlPath = tuple[str | int, ...]


class _Source:
    """One YAML file being validated: reports problems at the line of the offending value."""

    def __init__(self, file: str, doc: Located, out: _Collector) -> None:
        self.file = file
        self.doc = doc
        self.out = out

    @classmethod
    def load(cls, file: str, text: str, out: _Collector) -> _Source | None:
        try:
            doc = load(text)
        except YamlError as exc:
            out.add(file, exc.line, exc.message)
            return None
        if not isinstance(doc.value, dict):
            out.add(file, 1, "expected a mapping at the top of the file")
            return None
        return cls(file, doc, out)

    @property
    def root(self) -> dict[str, Any]:
        value: dict[str, Any] = self.doc.value
        return value

    def problem(self, path: YamlPath, message: str) -> None:
        self.out.add(self.file, self.doc.line(path), message)

    def keys(
        self, path: YamlPath, value: dict[str, Any], allowed: set[str], required: set[str], what: str
    ) -> None:
        for key in value:
            if key not in allowed:
                self.problem(
                    (*path, key),
                    f"unknown key {key!r} in {what}{_suggest(key, allowed)}; allowed: "
                    f"{', '.join(sorted(allowed))}",
                )
        for key in sorted(required - set(value)):
            self.problem(path, f"{what} is missing required key {key!r}")

    def string(
        self, path: YamlPath, value: Any, what: str, *, pattern: re.Pattern[str] | None = None, rule: str = ""
    ) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.problem(path, f"{what} must be a non-empty string, got {value!r}")
            return None
        if pattern is not None and not pattern.match(value):
            self.problem(path, f"{what} {value!r} must be {rule}")
            return None
        return value

    def name(self, path: YamlPath, value: Any, what: str) -> str | None:
        return self.string(path, value, what, pattern=_NAME, rule="lower-case words joined by '-'")

    def expression(self, path: YamlPath, value: Any, what: str) -> Expression | None:
        if isinstance(value, bool):
            value = "true" if value else "false"
        text = self.string(path, value, what)
        if text is None:
            return None
        return Expression(text.strip(), self.file, self.doc.text_line(path, 1), self.doc, path)

    def optional_expression(
        self, item: dict[str, Any], path: YamlPath, key: str, what: str
    ) -> Expression | None:
        return self.expression((*path, key), item[key], what) if key in item else None


def _parse_policy(file: str, text: str, out: _Collector) -> Policy | None:
    src = _Source.load(file, text, out)
    if src is None:
        return None
    raw = src.root
    src.keys((), raw, _POLICY_KEYS, {"name", "rules"}, "a policy")
    name = src.name(("name",), raw.get("name"), "policy name")
    description = raw.get("description", "")
    if not isinstance(description, str):
        src.problem(("description",), "description must be a string")
        description = ""
    requirements = raw.get("requirements", [])
    if isinstance(requirements, str | int | float):
        requirements = [requirements]
    if not isinstance(requirements, list):
        src.problem(("requirements",), "requirements must be a list of requirement numbers")
        requirements = []
    match = src.optional_expression(raw, (), "match", "match")
    variables = _parse_variables(src, raw.get("variables", []))
    rules: list[Rule] = []
    raw_rules = raw.get("rules", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        src.problem(("rules",), "rules must be a non-empty list")
        raw_rules = []
    seen_rules: set[str] = set()
    for i, item in enumerate(raw_rules):
        rule = _parse_rule(src, ("rules", i), item)
        if rule is None:
            continue
        if rule.name in seen_rules:
            out.add(file, rule.line, f"rule {rule.name!r} is defined twice in this policy")
        seen_rules.add(rule.name)
        rules.append(rule)
    if name is None:
        return None
    return Policy(
        name,
        file,
        description.strip(),
        _header(text),
        tuple(str(r) for r in requirements),
        match,
        tuple(variables),
        tuple(rules),
    )


def _parse_variables(src: _Source, raw_vars: Any) -> list[Variable]:
    if not isinstance(raw_vars, list):
        src.problem(("variables",), "variables must be a list of {name, expression}")
        return []
    variables: list[Variable] = []
    seen: set[str] = set()
    for i, var in enumerate(raw_vars):
        path: YamlPath = ("variables", i)
        if not isinstance(var, dict):
            src.problem(path, "each variable must be a mapping with name and expression")
            continue
        src.keys(path, var, _VARIABLE_KEYS, _VARIABLE_KEYS, "a variable")
        var_name = src.string(
            (*path, "name"),
            var.get("name"),
            "variable name",
            pattern=_IDENT,
            rule="an identifier (letters, digits, _)",
        )
        expr = src.expression((*path, "expression"), var.get("expression"), "variable expression")
        if var_name is not None and var_name in seen:
            src.problem((*path, "name"), f"variable {var_name!r} is defined twice")
        if var_name is not None and expr is not None:
            seen.add(var_name)
            variables.append(Variable(var_name, expr))
    return variables


def _parse_rule(src: _Source, path: YamlPath, item: Any) -> Rule | None:
    if not isinstance(item, dict):
        src.problem(path, "each rule must be a mapping")
        return None
    src.keys(path, item, _RULE_KEYS, {"name", "expression", "reason", "message", "action"}, "a rule")
    name = src.name((*path, "name"), item.get("name"), "rule name")
    expression = src.optional_expression(item, path, "expression", "rule expression")
    reason = None
    if "reason" in item:
        reason = src.string(
            (*path, "reason"),
            item["reason"],
            "reason",
            pattern=_REASON,
            rule="an upper-case code like OPT_IN_REQUIRED",
        )
        if reason == POLICY_ERROR:
            src.problem((*path, "reason"), "POLICY_ERROR is reserved for rules that fail to evaluate")
            reason = None
    message = src.string((*path, "message"), item["message"], "message") if "message" in item else None
    action = item.get("action")
    if "action" in item and action not in ACTIONS:
        src.problem((*path, "action"), f"action must be one of deny, warn, audit; got {action!r}")
        action = None
    match = src.optional_expression(item, path, "match", "rule match")
    message_expr = src.optional_expression(item, path, "messageExpression", "messageExpression")
    description = item.get("description", "")
    if name is None or expression is None or reason is None or message is None or action is None:
        return None
    return Rule(
        name,
        expression,
        reason,
        message.strip(),
        action,
        src.file,
        src.doc.line(path),
        match,
        message_expr,
        str(description).strip(),
    )


def parse_bundle(files: Mapping[str, str]) -> Bundle:  # noqa: PLR0912 - reads bundle.yaml top to bottom, collecting every problem before failing once
    """Build a bundle from its files (name → text); ``bundle.yaml`` names the rest."""
    out = _Collector()
    if "bundle.yaml" not in files:
        raise BundleError([Problem("bundle.yaml", 0, "the bundle has no bundle.yaml")])
    src = _Source.load("bundle.yaml", files["bundle.yaml"], out)
    if src is None:
        raise BundleError(out.problems)
    raw = src.root
    src.keys((), raw, _BUNDLE_KEYS, {"name", "version", "changelog", "policies"}, "bundle.yaml")
    name = src.name(("name",), raw.get("name"), "bundle name") or "?"
    version = (
        src.string(
            ("version",),
            str(raw.get("version", "")),
            "version",
            pattern=_SEMVER,
            rule="a semantic version like 1.2.0",
        )
        or "0.0.0"
    )
    changelog = _parse_changelog(src, raw.get("changelog"), version)
    params_file = raw.get("params", "params.yaml")
    params: dict[str, Any] = {}
    referenced = {"bundle.yaml"}
    if not isinstance(params_file, str) or params_file not in files:
        src.problem(("params",), f"params file {params_file!r} is missing")
    else:
        referenced.add(params_file)
        params = _parse_params(params_file, files[params_file], out)
    policy_files = raw.get("policies", [])
    if not isinstance(policy_files, list) or not all(isinstance(p, str) for p in policy_files):
        src.problem(("policies",), "policies must be a list of policy file names")
        policy_files = []
    policies: list[Policy] = []
    for i, file in enumerate(policy_files):
        if file in referenced:
            src.problem(("policies", i), f"{file} is listed twice")
            continue
        referenced.add(file)
        if file not in files:
            src.problem(("policies", i), f"policy file {file} does not exist")
            continue
        policy = _parse_policy(file, files[file], out)
        if policy is not None:
            policies.append(policy)
    for file in sorted(set(files) - referenced):
        out.add(file, 0, "this file is in the bundle folder but not listed in bundle.yaml policies")
    seen: dict[str, str] = {}
    for policy in policies:
        if policy.name in seen:
            out.add(policy.file, 1, f"policy name {policy.name!r} is also used by {seen[policy.name]}")
        seen[policy.name] = policy.file
    if out.problems:
        raise BundleError(out.problems)
    description = raw.get("description", "")
    return Bundle(
        name,
        version,
        digest(files),
        str(description).strip(),
        changelog,
        params,
        tuple(policies),
        tuple(sorted(files)),
        str(params_file),
    )


def _parse_changelog(src: _Source, raw: Any, version: str) -> tuple[ChangelogEntry, ...]:
    if not isinstance(raw, list) or not raw:
        src.problem(("changelog",), "changelog must be a non-empty list of {version, date, changes}")
        return ()
    entries = []
    for i, item in enumerate(raw):
        path: YamlPath = ("changelog", i)
        if not isinstance(item, dict):
            src.problem(path, "each changelog entry must be a mapping")
            continue
        src.keys(path, item, {"version", "date", "changes"}, {"version", "changes"}, "a changelog entry")
        changes = item.get("changes", [])
        if isinstance(changes, str):
            changes = [changes]
        entries.append(
            ChangelogEntry(
                str(item.get("version", "")),
                str(item.get("date", "")),
                tuple(str(c) for c in changes if c is not None),
            )
        )
    if entries and all(e.version != version for e in entries):
        src.problem(("changelog",), f"the changelog has no entry for version {version}: say what changed")
    return tuple(entries)


def _parse_params(file: str, text: str, out: _Collector) -> dict[str, Any]:
    src = _Source.load(file, text, out)
    if src is None:
        return {}
    try:
        BundleParams.model_validate(src.root)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else str(err["msg"])
            src.problem(loc, f"{'.'.join(str(p) for p in loc)}: {msg}")
    return src.root
