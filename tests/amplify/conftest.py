"""Synthesise the Amplify backend offline, once per session, for every kind of branch.

``scripts/amplify-deps.sh`` makes ``amplify/node_modules`` ready (from its cache when it can); then the
type check, the branch-environment probe and one synthesis per branch run in parallel subprocesses,
each synthesis into its own CDK_OUTDIR. No AWS account is involved: CDK writes the CloudFormation
templates and Amplify's branch linker only needs the backend id given in the CDK context.

The functions' code is the inline placeholder (``WECARE_LAMBDA_ASSET=placeholder``): nothing is
bundled and nothing under build/ is read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]
AMPLIFY = REPO / "amplify"
BIN = AMPLIFY / "node_modules" / ".bin"
NAMESPACE = "wecaretestapp"  # the Amplify app id in the backend identifier
TIMEOUT = 600

# Values a careless backend might copy from the environment into a template; none may appear anywhere.
LEAKS: Mapping[str, str] = {
    "WHATSAPP_ACCESS_TOKEN": "sk-should-not-leak-123",
    "APP_SECRET": "app-secret-should-not-leak-456",
    "METRICS_TOKEN": "metrics-token-should-not-leak-789",
}
MAIN_APP_CLIENT_ID = "test-app-client-id-main"
MAIN_COGNITO_DOMAIN = "wecare-main"

# Hosting variables the backend reads; cleared so the developer's own shell cannot change a synthesis.
_HOSTING_VARS = (
    "AWS_BRANCH",
    "SEND_MODE",
    "LOG_LEVEL",
    "COGNITO_APP_CLIENT_ID",
    "COGNITO_DOMAIN",
    "BEDROCK_AGENT_ALIAS_ID",
    "BULK_WORKER_CONCURRENCY",
    "WECARE_LAMBDA_ASSET",
    "CDK_OUTDIR",
    "CDK_CONTEXT_JSON",
)


@dataclass(frozen=True)
class Variant:
    key: str
    branch: str
    prefix: str  # the physical-name prefix expected for this branch (TABLE_PREFIX)
    env: Mapping[str, str] = field(default_factory=dict)


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "main",
        "main",
        "wecare-main-",
        {"COGNITO_APP_CLIENT_ID": MAIN_APP_CLIENT_ID, "COGNITO_DOMAIN": MAIN_COGNITO_DOMAIN},
    ),
    Variant("hotfix", "hotfix/x", "wecare-hotfix-x-"),
    Variant("feature", "feature/x", "wecare-feature-x-"),
    Variant("release", "release/x", "wecare-release-x-"),
    Variant("experiment", "experiment", "wecare-experiment-"),
    # A non-production branch whose hosting variables ask for LIVE must still synthesise DRY_RUN.
    Variant("feature-live", "feature/x", "wecare-feature-x-", {"SEND_MODE": "LIVE"}),
)


class Target(NamedTuple):
    """A resource a value refers to (Ref or Fn::GetAtt), after following nested-stack plumbing."""

    template: str
    logical_id: str
    attribute: str  # "Ref" or the GetAtt attribute


class Resource(NamedTuple):
    template: str
    logical_id: str
    type: str
    properties: dict[str, Any]
    raw: dict[str, Any]


_ASSET_HASH = re.compile(r"/([0-9a-f]{64})\.json")


@dataclass
class Synth:
    """One synthesis: every template of the cloud assembly, with a resolver across nested stacks."""

    variant: Variant
    outdir: Path
    seconds: float
    output: str
    root: str = ""
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    # nested template file → (parent template file, logical id of its AWS::CloudFormation::Stack)
    parents: dict[str, tuple[str, str]] = field(default_factory=dict)
    children: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return self.variant.prefix

    def load(self) -> None:
        manifest = json.loads((self.outdir / "manifest.json").read_text(encoding="utf-8"))
        stacks = [a for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"]
        assert len(stacks) == 1, f"{self.variant.key}: expected one root stack, manifest has {len(stacks)}"
        self.root = stacks[0]["properties"]["templateFile"]
        sources: dict[str, str] = {}
        for assets in self.outdir.glob("*.assets.json"):
            for digest, entry in json.loads(assets.read_text(encoding="utf-8"))["files"].items():
                sources[digest] = entry["source"]["path"]
        pending = [self.root]
        while pending:
            name = pending.pop()
            template = json.loads((self.outdir / name).read_text(encoding="utf-8"))
            self.templates[name] = template
            for logical_id, res in template.get("Resources", {}).items():
                if res["Type"] != "AWS::CloudFormation::Stack":
                    continue
                match = _ASSET_HASH.search(json.dumps(res["Properties"]["TemplateURL"]))
                assert match, f"{self.variant.key}: nested stack {logical_id} has no asset hash in its URL"
                child = sources[match.group(1)]
                self.parents[child] = (name, logical_id)
                self.children[(name, logical_id)] = child
                pending.append(child)
        on_disk = {p.name for p in self.outdir.glob("*.template.json")}
        assert on_disk == set(self.templates), (
            f"{self.variant.key}: templates on disk {sorted(on_disk)} != reachable {sorted(self.templates)}"
        )

    def resources(self, type_: str | None = None) -> list[Resource]:
        found = []
        for name, template in self.templates.items():
            for logical_id, res in template.get("Resources", {}).items():
                if type_ is None or res["Type"] == type_:
                    found.append(Resource(name, logical_id, res["Type"], res.get("Properties", {}), res))
        return found

    def resource(self, target: Target) -> Resource:
        res = self.templates[target.template]["Resources"][target.logical_id]
        return Resource(target.template, target.logical_id, res["Type"], res.get("Properties", {}), res)

    def nested(self, suffix: str) -> str:
        """The nested template whose stack logical id starts with ``suffix`` (function, data, api...)."""
        names = [child for (_, lid), child in self.children.items() if lid.startswith(suffix)]
        assert len(names) == 1, f"{self.variant.key}: nested stacks named {suffix}*: {names}"
        return names[0]

    def resolve(self, template: str, value: Any) -> Any:
        """Follow Ref/GetAtt through nested-stack parameters and outputs to a Target (or a literal)."""
        if isinstance(value, dict) and len(value) == 1:
            if "Ref" in value:
                name = value["Ref"]
                doc = self.templates[template]
                if name in doc.get("Parameters", {}) and template in self.parents:
                    parent, stack_id = self.parents[template]
                    given = self.templates[parent]["Resources"][stack_id]["Properties"]["Parameters"][name]
                    return self.resolve(parent, given)
                if name in doc.get("Resources", {}):
                    return Target(template, name, "Ref")
            elif "Fn::GetAtt" in value:
                logical_id, attribute = value["Fn::GetAtt"]
                res = self.templates[template]["Resources"][logical_id]
                if res["Type"] == "AWS::CloudFormation::Stack" and attribute.startswith("Outputs."):
                    child = self.children[(template, logical_id)]
                    output = self.templates[child]["Outputs"][attribute.removeprefix("Outputs.")]["Value"]
                    return self.resolve(child, output)
                return Target(template, logical_id, attribute)
        return value

    def files(self) -> Iterator[Path]:
        return (p for p in self.outdir.rglob("*") if p.is_file())


@dataclass
class Run:
    name: str
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None
    started: float = 0.0
    seconds: float = 0.0
    output: str = ""
    returncode: int | None = None


@dataclass
class Amplify:
    synths: dict[str, Synth]
    typecheck: Run
    probe: Run
    deps_seconds: float
    seconds: float


def _base_env() -> dict[str, str]:
    # PYTEST_* and NODE_ENV would switch CDK into its "in-memory test" app mode; a deploy sees neither.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _HOSTING_VARS and not k.startswith(("CDK_", "PYTEST_")) and k != "NODE_ENV"
    }
    env.update(LEAKS)
    env["WECARE_LAMBDA_ASSET"] = "placeholder"
    env["NO_COLOR"] = "1"
    return env


def _context(branch: str, validate: bool) -> str:
    context: dict[str, Any] = {
        "amplify-backend-namespace": NAMESPACE,
        "amplify-backend-name": branch,
        "amplify-backend-type": "branch",
        "aws:cdk:bundling-stacks": [],
    }
    if validate:
        # CDK's built-in CloudFormation schema validation, with its findings as errors (synthesis fails).
        context["@aws-cdk/core:validateAgainstDefaultRules"] = True
    return json.dumps(context)


# Cases of the branch → environment module, checked by test_backend (run through its own CLI).
PROBE_CASES: list[dict[str, str]] = [
    {"branch": "main"},
    {"branch": "main", "sendMode": "DRY_RUN"},
    {"branch": "main", "sendMode": "live"},
    {"branch": "hotfix/urgent"},
    {"branch": "hotfix/urgent", "sendMode": "DRY_RUN"},
    {"branch": "release/1.2", "sendMode": "LIVE"},
    {"branch": "feature/x", "sendMode": "LIVE"},
    {"branch": "experiment", "sendMode": "LIVE"},
    {"branch": "mainline", "sendMode": "LIVE"},
    {"branch": "Feature/Bulk_UI"},
    {"branch": "feature/a-really-long-branch-name-that-goes-on-and-on"},
    {"branch": "///"},
    {"branch": "jane", "backendType": "sandbox", "sendMode": "LIVE"},
]


@pytest.fixture(scope="session")
def amplify(tmp_path_factory: pytest.TempPathFactory) -> Amplify:
    started = time.monotonic()
    deps = subprocess.run(
        ["bash", str(REPO / "scripts" / "amplify-deps.sh")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    deps_seconds = time.monotonic() - started
    if deps.returncode != 0:
        pytest.fail(
            f"scripts/amplify-deps.sh failed (exit {deps.returncode}):\n{deps.stdout}\n{deps.stderr}",
            pytrace=False,
        )

    base = _base_env()
    typecheck = Run("tsc", [str(BIN / "tsc"), "--noEmit", "-p", str(AMPLIFY)], base)
    probe = Run(
        "probe",
        [str(BIN / "tsx"), "scripts/branch-environment.ts", "--json", json.dumps(PROBE_CASES)],
        base,
    )
    synth_runs: dict[str, tuple[Run, Path]] = {}
    for variant in VARIANTS:
        outdir = tmp_path_factory.mktemp(f"cdk-{variant.key}")
        # The schema validation costs ~6 s of CPU a synthesis; one branch (main, the most complete) is enough.
        validate = variant.key == "main"
        env = {
            **base,
            **variant.env,
            "AWS_BRANCH": variant.branch,
            "CDK_OUTDIR": str(outdir),
            "CDK_CONTEXT_JSON": _context(variant.branch, validate),
            **({} if validate else {"CDK_VALIDATION": "false"}),
        }
        synth_runs[variant.key] = (Run(variant.key, [str(BIN / "tsx"), "backend.ts"], env), outdir)

    runs = [typecheck, probe, *(run for run, _ in synth_runs.values())]
    for run in runs:
        run.started = time.monotonic()
        run.proc = subprocess.Popen(
            run.args,
            cwd=AMPLIFY,
            env=run.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    for run in runs:
        assert run.proc is not None
        try:
            run.output, _ = run.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.output, _ = run.proc.communicate()
        run.returncode = run.proc.returncode
        run.seconds = time.monotonic() - run.started

    synths: dict[str, Synth] = {}
    for variant in VARIANTS:
        run, outdir = synth_runs[variant.key]
        if run.returncode != 0:
            pytest.fail(
                f"synthesis for branch {variant.branch!r} ({variant.key}) failed (exit {run.returncode}):\n"
                f"{run.output}",
                pytrace=False,
            )
        if not (outdir / "manifest.json").is_file():
            pytest.fail(
                f"synthesis for {variant.branch!r} exited 0 but wrote no cloud assembly in {outdir} "
                f"(CDK_OUTDIR not honoured?):\n{run.output}",
                pytrace=False,
            )
        synth = Synth(variant, outdir, run.seconds, run.output)
        synth.load()
        synths[variant.key] = synth
    return Amplify(synths, typecheck, probe, deps_seconds, time.monotonic() - started)


@pytest.fixture(scope="session")
def synths(amplify: Amplify) -> dict[str, Synth]:
    return amplify.synths
