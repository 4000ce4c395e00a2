"""The synthesised Amplify backend against the requirements (10, 11, 14.6-14.7, 17, 18).

Every check reads the CloudFormation templates CDK wrote (see conftest.py); values crossing nested
stacks (queue URLs, function ARNs) are followed to the resource they name. Expected values come from
the requirements and from the Python side itself (tables.json, Settings, the permission table,
RUNTIME_REQUIREMENTS, the AMPLIFY_SSM_ENV_CONFIG parser), so either side drifting fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest

from gateway.auth.permissions import ROUTES as APP_ROUTES
from gateway.config import RUNTIME_REQUIREMENTS, ConfigError, Settings, load_settings
from gateway.lambdas import FUNCTIONS
from gateway.metrics import ALARM_DIMENSION, BULK_JOBS_FAILED, EMF_NAMESPACE, TIER_USAGE_PERCENT
from gateway.secrets import parse_ssm_env_config
from tests.lambda_support import REQUIRED_FUNCTIONS
from tests.amplify.conftest import (
    LEAKS,
    MAIN_APP_CLIENT_ID,
    MAIN_COGNITO_DOMAIN,
    NAMESPACE,
    PROBE_CASES,
    REPO,
    VARIANTS,
    Amplify,
    Resource,
    Synth,
    Target,
)

pytestmark = pytest.mark.slow

KEYS = [v.key for v in VARIANTS]

ROLE_ARN = "arn:aws:iam::809904170947:role/base-wecare-digital"
TOPIC_ARN = "arn:aws:sns:us-east-1:809904170947:base-wecare-digital"
CERTIFICATE_ARN = "arn:aws:acm:us-east-1:809904170947:certificate/9df65f48-cdff-4f45-8e6d-f33c8c0beb92"
LOG_GROUP = "/base-wecare-digital/common"
BRANCH_LINKER = "AmplifyBranchLinker"

ALL_FUNCTIONS = (*REQUIRED_FUNCTIONS, "send-recovery")
HANDLER_EXCEPTIONS = {
    "inbound-whatsapp-handler": "gateway.lambdas.inbound_whatsapp_handler",
    "send-recovery": "gateway.lambdas.send_recovery_handler",
}


def expected_handler(name: str) -> str:
    return HANDLER_EXCEPTIONS.get(name, f"gateway.lambdas.{name.replace('-', '_')}_handler")


# "Lambda Environment Variables Configuration" (AWS_REGION excluded: Lambda reserves and sets it).
GLOBAL_VARS = frozenset({"SEND_MODE", "LOG_LEVEL", "ENVIRONMENT", "COGNITO_USER_POOL_ID", "COGNITO_DOMAIN"})
# What the Python Lambda runtime cannot start without, on every function.
WIRING_VARS = frozenset(RUNTIME_REQUIREMENTS["lambda"])
QUEUE_VARS = {
    "BULK_QUEUE_URL": "bulk-queue",
    "AI_QUEUE_URL": "ai-queue",
    "INBOUND_DLQ_URL": "inbound-dlq",
    "BULK_DLQ_URL": "bulk-dlq",
    "OUTBOUND_DLQ_URL": "outbound-dlq",
}
SECRET_VARS = frozenset({"WHATSAPP_ACCESS_TOKEN", "APP_SECRET"})
SSM_CONFIG = "AMPLIFY_SSM_ENV_CONFIG"
GROUPS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    "messaging": (
        frozenset({"outbound-whatsapp", "outbound-sms", "outbound-email"}),
        frozenset(
            {
                "WHATSAPP_PHONE_NUMBER_ID_1",
                "WHATSAPP_PHONE_NUMBER_ID_2",
                "SMS_POOL_ID",
                "SES_SENDER_EMAIL",
                "SES_SENDER_NAME",
            }
        ),
    ),
    "storage": (
        frozenset({"inbound-whatsapp-handler", "outbound-whatsapp"}),
        frozenset({"MEDIA_BUCKET", "MEDIA_INBOUND_PREFIX", "MEDIA_OUTBOUND_PREFIX"}),
    ),
    # BULK_QUEUE_URL, listed here by the requirements, is wiring every function gets.
    "bulk": (
        frozenset({"bulk-job-create", "bulk-worker"}),
        frozenset({"REPORT_BUCKET", "REPORT_PREFIX", "BULK_CONFIRMATION_THRESHOLD"}),
    ),
    "ai": (
        frozenset({"ai-query-kb", "ai-generate-response"}),
        frozenset(
            {"BEDROCK_KB_ID", "BEDROCK_AGENT_ID", "BEDROCK_AGENT_ALIAS_ID", "BEDROCK_FOUNDATION_MODEL"}
        ),
    ),
}
# Values that come from the deployment rather than from the Settings defaults.
NOT_FROM_SETTINGS = frozenset({"BEDROCK_AGENT_ALIAS_ID"})
COGNITO_PLACEHOLDER = "UNSET-set-COGNITO_APP_CLIENT_ID-in-Amplify-Hosting"

EXPECTED_MODE = {
    "main": ("production", "LIVE"),
    "hotfix": ("production", "LIVE"),
    "release": ("staging", "DRY_RUN"),
    "feature": ("preview", "DRY_RUN"),
    "experiment": ("preview", "DRY_RUN"),
    "feature-live": ("preview", "DRY_RUN"),
}

# App routes deliberately not on the HTTP API: inbound events arrive through the SNS subscription,
# and /metrics is for a scraper inside the embedded default (docs/deployment.md).
NOT_EXPOSED = frozenset({("POST", "/webhooks/sns"), ("GET", "/webhooks/meta"), ("POST", "/webhooks/meta")})
NOT_EXPOSED_PATHS = frozenset({"/metrics"})
PUBLIC_ROUTES = frozenset({"GET /api/auth/config", "POST /api/auth/login", "GET /healthz"})
# Every route gateway/functions.json gives a function (gateway/lambdas.py serves exactly those), on the
# API to that same function.
EXPECTED_ROUTES = {
    route: spec.name
    for spec in FUNCTIONS.values()
    for route in spec.routes
    if tuple(route.split(" ", 1)) not in NOT_EXPOSED and route.split(" ", 1)[1] not in NOT_EXPOSED_PATHS
}


# -- helpers ------------------------------------------------------------------------------------------


def python_functions(synth: Synth) -> dict[str, Resource]:
    """name (without the branch prefix) → function resource, for every python3.12 function."""
    found: dict[str, Resource] = {}
    for res in synth.resources("AWS::Lambda::Function"):
        if res.properties.get("Runtime") != "python3.12":
            continue
        physical = res.properties.get("FunctionName", "")
        assert physical.startswith(synth.prefix), f"{res.logical_id}: FunctionName {physical!r}"
        name = physical.removeprefix(synth.prefix)
        assert name not in found, f"two functions named {physical}"
        found[name] = res
    return found


def name_of(synth: Synth, template: str, value: Any) -> str:
    """The physical name of the function or queue a Ref/GetAtt points to (across nested stacks)."""
    target = synth.resolve(template, value)
    assert isinstance(target, Target), f"{value!r} in {template} does not name a resource"
    res = synth.resource(target)
    for key in ("FunctionName", "QueueName", "TableName"):
        if key in res.properties:
            return str(res.properties[key])
    raise AssertionError(f"{target} ({res.type}) has no physical name")


def queues(synth: Synth) -> dict[str, Resource]:
    return {
        res.properties["QueueName"].removeprefix(synth.prefix): res
        for res in synth.resources("AWS::SQS::Queue")
    }


def environment(res: Resource) -> dict[str, Any]:
    variables: dict[str, Any] = res.properties.get("Environment", {}).get("Variables", {})
    return variables


def settings_default(name: str) -> str:
    return str(Settings.model_fields[name].default)


def tables_json() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((REPO / "gateway" / "store" / "tables.json").read_text("utf-8"))
    tables: dict[str, Any] = doc["tables"]
    return tables


def route_regex(path: str) -> re.Pattern[str]:
    pattern = re.escape(path).replace(re.escape("{proxy+}"), ".+")
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
    return re.compile(f"^{pattern}$")


def api_routes(synth: Synth) -> dict[str, Resource]:
    return {res.properties["RouteKey"]: res for res in synth.resources("AWS::ApiGatewayV2::Route")}


# -- the toolchain --------------------------------------------------------------------------------


def test_typescript_type_checks(amplify: Amplify) -> None:
    run = amplify.typecheck
    assert run.returncode == 0, f"tsc --noEmit -p amplify failed (exit {run.returncode}):\n{run.output}"


@pytest.mark.parametrize("key", KEYS)
def test_each_branch_synthesises_all_its_stacks(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    nested = sorted(lid for (_, lid) in synth.children)
    assert [re.sub(r"[0-9A-F]{8}$", "", lid) for lid in nested] == [
        "api",
        "data",
        "function",
        "monitoring",
    ], f"{key}: nested stacks {nested}"
    if key == "main":
        # Synthesised with CDK's CloudFormation schema validation, its findings as errors.
        report = json.loads((synth.outdir / "validation-report.json").read_text(encoding="utf-8"))
        failed = [r for r in report["pluginReports"] if r.get("conclusion") != "success"]
        assert failed == [], f"CloudFormation validation of main's templates: {json.dumps(failed)[:2000]}"
        # COGNITO_APP_CLIENT_ID is set for main: nothing to warn about.
        assert "[wecare] warning" not in synth.output, f"main warned:\n{synth.output}"
    else:
        assert "COGNITO_APP_CLIENT_ID is not set" in synth.output, f"{key}: no warning:\n{synth.output}"


# -- the branch → environment module ----------------------------------------------------------------


def test_branch_environment_module(amplify: Amplify) -> None:
    run = amplify.probe
    assert run.returncode == 0, f"scripts/branch-environment.ts failed:\n{run.output}"
    results = json.loads(run.output)
    assert [r["input"] for r in results] == PROBE_CASES
    got = {
        (r["input"]["branch"], r["input"].get("sendMode"), r["input"].get("backendType", "branch")): (
            (r["deployment"]["environment"], r["deployment"]["sendMode"], r["deployment"]["resourcePrefix"])
            if "deployment" in r
            else ("error", r["error"], "")
        )
        for r in results
    }
    expected = {
        ("main", None, "branch"): ("production", "LIVE", "wecare-main-"),
        ("main", "DRY_RUN", "branch"): ("production", "DRY_RUN", "wecare-main-"),
        ("hotfix/urgent", None, "branch"): ("production", "LIVE", "wecare-hotfix-urgent-"),
        ("hotfix/urgent", "DRY_RUN", "branch"): ("production", "DRY_RUN", "wecare-hotfix-urgent-"),
        ("release/1.2", "LIVE", "branch"): ("staging", "DRY_RUN", "wecare-release-1-2-"),
        ("feature/x", "LIVE", "branch"): ("preview", "DRY_RUN", "wecare-feature-x-"),
        ("experiment", "LIVE", "branch"): ("preview", "DRY_RUN", "wecare-experiment-"),
        ("mainline", "LIVE", "branch"): ("preview", "DRY_RUN", "wecare-mainline-"),
        ("Feature/Bulk_UI", None, "branch"): ("preview", "DRY_RUN", "wecare-feature-bulk-ui-"),
        ("jane", "LIVE", "sandbox"): ("preview", "DRY_RUN", "wecare-sandbox-jane-"),
    }
    for case, want in expected.items():
        assert got[case] == want, f"branch {case}: got {got[case]}, want {want}"
    assert got[("main", "live", "branch")][0] == "error", "a SEND_MODE other than LIVE/DRY_RUN must fail"
    assert "LIVE or DRY_RUN" in got[("main", "live", "branch")][1]
    assert got[("///", None, "branch")][0] == "error", "a branch with no letters or digits must fail"
    long_prefix = got[("feature/a-really-long-branch-name-that-goes-on-and-on", None, "branch")][2]
    assert re.fullmatch(r"wecare-[a-z0-9-]{1,24}-", long_prefix), f"long branch prefix {long_prefix!r}"
    # The longest function name must still fit Lambda's 64 characters.
    assert len(f"{long_prefix}inbound-whatsapp-handler") <= 64


@pytest.mark.parametrize("key", KEYS)
def test_send_mode_and_environment_per_branch(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    want_env, want_mode = EXPECTED_MODE[key]
    for name, res in python_functions(synth).items():
        env = environment(res)
        assert (env["ENVIRONMENT"], env["SEND_MODE"]) == (want_env, want_mode), (
            f"{key} ({synth.variant.branch}) {name}: ENVIRONMENT={env['ENVIRONMENT']} "
            f"SEND_MODE={env['SEND_MODE']}, want {want_env}/{want_mode}"
        )


# -- functions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_the_seventeen_python_functions(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    functions = python_functions(synth)
    assert sorted(functions) == sorted(ALL_FUNCTIONS), (
        f"{key}: python3.12 functions {sorted(functions)}, want the 16 of the requirements + send-recovery"
    )
    for name, res in functions.items():
        assert res.properties["Handler"] == expected_handler(name), f"{name}: {res.properties['Handler']}"
        tags = {t["Key"]: t["Value"] for t in res.properties.get("Tags", [])}
        assert tags.get("amplify:friendly-name") == name, f"{name}: tags {tags}"
    others = [
        r for r in synth.resources("AWS::Lambda::Function") if r.properties.get("Runtime") != "python3.12"
    ]
    assert all(r.logical_id.startswith(BRANCH_LINKER) for r in others), (
        f"{key}: functions other than the 17 and Amplify's branch linker: {[r.logical_id for r in others]}"
    )
    assert len(others) == 2, f"{key}: Amplify's branch linker should bring 2 Node functions: {others}"


@pytest.mark.parametrize("key", KEYS)
def test_timeouts_and_memory_are_sensible(synths: dict[str, Synth], key: str) -> None:
    functions = python_functions(synths[key])
    http = set(EXPECTED_ROUTES.values())
    for name in http:
        assert functions[name].properties["Timeout"] <= 29, f"{name}: API Gateway waits 30 s at most"
    assert functions["bulk-worker"].properties["Timeout"] == 120
    assert functions["ai-generate-response"].properties["Timeout"] == 60
    for name, res in functions.items():
        assert 256 <= res.properties["MemorySize"] <= 3008, (
            f"{name}: MemorySize {res.properties['MemorySize']}"
        )


@pytest.mark.parametrize("key", KEYS)
def test_placeholder_code_is_used_in_tests(synths: dict[str, Synth], key: str) -> None:
    for name, res in python_functions(synths[key]).items():
        code = res.properties["Code"]
        assert "WECARE_LAMBDA_ASSET=placeholder" in code.get("ZipFile", ""), (
            f"{name}: expected the inline placeholder (WECARE_LAMBDA_ASSET=placeholder), got {code}"
        )


@pytest.mark.parametrize("key", KEYS)
def test_every_function_runs_as_the_existing_role(synths: dict[str, Synth], key: str) -> None:
    for name, res in python_functions(synths[key]).items():
        assert res.properties["Role"] == ROLE_ARN, f"{name}: Role {res.properties['Role']!r}"


@pytest.mark.parametrize("key", KEYS)
def test_no_iam_outside_amplifys_branch_linker(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    forbidden = [
        f"{r.template}:{r.logical_id} ({r.type})"
        for r in synth.resources()
        if (r.type.startswith("AWS::IAM::") or r.type in {"Custom::LogRetention", "AWS::SQS::QueuePolicy"})
        and not r.logical_id.startswith(BRANCH_LINKER)
    ]
    assert forbidden == [], f"{key}: IAM / LogRetention / queue policies created: {forbidden}"
    linker = [r.type for r in synth.resources() if r.logical_id.startswith(BRANCH_LINKER)]
    assert linker.count("AWS::IAM::Role") == 2, linker
    assert linker.count("AWS::IAM::Policy") == 2, linker
    assert linker.count("AWS::IAM::ManagedPolicy") == 0, linker
    assert all(r.template == synth.root for r in synth.resources() if r.logical_id.startswith(BRANCH_LINKER))


@pytest.mark.parametrize("key", KEYS)
def test_existing_resources_are_referenced_not_created(synths: dict[str, Synth], key: str) -> None:
    created = {r.type for r in synths[key].resources()}
    for type_ in (
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::IdentityPool",
        "AWS::SNS::Topic",
        "AWS::S3::Bucket",
        "AWS::CertificateManager::Certificate",
        "AWS::SES::EmailIdentity",
    ):
        assert type_ not in created, f"{key}: creates {type_}; the existing one must be referenced"


@pytest.mark.parametrize("key", KEYS)
def test_bulk_worker_reserved_concurrency(synths: dict[str, Synth], key: str) -> None:
    functions = python_functions(synths[key])
    reserved = functions["bulk-worker"].properties.get("ReservedConcurrentExecutions")
    assert isinstance(reserved, int) and 2 <= reserved <= 5, f"bulk-worker reserved concurrency {reserved!r}"


# -- environment and secrets ----------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_environment_of_every_function(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    function_template = synth.nested("function")
    for name, res in python_functions(synth).items():
        env = environment(res)
        groups = [g for g, (members, _) in GROUPS.items() if name in members]
        want = GLOBAL_VARS | WIRING_VARS | SECRET_VARS | {SSM_CONFIG}
        for group in groups:
            want |= GROUPS[group][1]
        assert set(env) == want, (
            f"{key} {name}: unexpected {sorted(set(env) - want)}, missing {sorted(want - set(env))}"
        )
        assert "AWS_REGION" not in env, f"{name}: AWS_REGION is reserved; Lambda sets it"
        assert env["TABLE_PREFIX"] == synth.prefix
        assert (
            env["COGNITO_USER_POOL_ID"] == settings_default("COGNITO_USER_POOL_ID") == "us-east-1_CC9u1fYh6"
        )
        assert env["LOG_LEVEL"] == "INFO"
        want_client = MAIN_APP_CLIENT_ID if key == "main" else COGNITO_PLACEHOLDER
        assert env["COGNITO_APP_CLIENT_ID"] == want_client, f"{name}: {env['COGNITO_APP_CLIENT_ID']}"
        want_domain = MAIN_COGNITO_DOMAIN if key == "main" else ""
        assert env["COGNITO_DOMAIN"] == want_domain, f"{name}: COGNITO_DOMAIN {env['COGNITO_DOMAIN']!r}"
        for var, queue in QUEUE_VARS.items():
            assert name_of(synth, function_template, env[var]) == f"{synth.prefix}{queue}", f"{name}: {var}"
        for group in groups:
            for var in GROUPS[group][1] - NOT_FROM_SETTINGS:
                assert env[var] == settings_default(var), (
                    f"{name}: {var}={env[var]!r} but gateway/config.py's default is {settings_default(var)!r}"
                )
        if "ai" in groups:
            assert env["BEDROCK_AGENT_ALIAS_ID"] == "TSTALIASID", (
                "unset BEDROCK_AGENT_ALIAS_ID: the draft alias"
            )


@pytest.mark.parametrize("key", KEYS)
def test_the_python_runtime_accepts_each_environment(synths: dict[str, Synth], key: str) -> None:
    """Every function's variables, as Lambda would see them, pass gateway.config.load_settings."""
    synth = synths[key]
    for name, res in python_functions(synth).items():
        env = {
            k: v if isinstance(v, str) else f"https://sqs.us-east-1.amazonaws.com/809904170947/{k.lower()}"
            for k, v in environment(res).items()
        }
        try:
            settings = load_settings("lambda", env)
        except ConfigError as exc:
            pytest.fail(f"{key} {name}: the Lambda runtime would refuse to start:\n{exc}")
        assert synth.prefix == settings.TABLE_PREFIX


@pytest.mark.parametrize("key", KEYS)
def test_secrets_are_amplify_secrets_not_values(synths: dict[str, Synth], key: str) -> None:
    for name, res in python_functions(synths[key]).items():
        env = environment(res)
        for var in SECRET_VARS:
            assert env[var] == "<value will be resolved during runtime>", f"{name}: {var}={env[var]!r}"
        sources = {s.name: s for s in parse_ssm_env_config(env[SSM_CONFIG])}
        assert set(sources) == SECRET_VARS, f"{name}: AMPLIFY_SSM_ENV_CONFIG names {sorted(sources)}"
        for secret_name, source in sources.items():
            assert re.fullmatch(
                rf"/amplify/{NAMESPACE}/[A-Za-z0-9-]+-branch-[0-9a-f]+/{secret_name}", source.path
            ), f"{name}: branch path {source.path}"
            assert source.shared_path == f"/amplify/shared/{NAMESPACE}/{secret_name}", source.shared_path


@pytest.mark.parametrize("key", KEYS)
def test_no_secret_value_in_any_file_of_the_assembly(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    for path in synth.files():
        data = path.read_bytes()
        for var, value in LEAKS.items():
            assert value.encode() not in data, f"{key}: the value of {var} leaked into {path}"


# -- data --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_tables_match_tables_json(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    spec = tables_json()
    tables = {r.properties["TableName"]: r for r in synth.resources("AWS::DynamoDB::Table")}
    assert sorted(tables) == sorted(f"{synth.prefix}{name}" for name in spec), (
        f"{key}: tables {sorted(tables)}"
    )
    assert len(tables) == 11
    for logical, definition in spec.items():
        props = tables[f"{synth.prefix}{logical}"].properties
        assert props["BillingMode"] == "PAY_PER_REQUEST", logical
        assert "SSESpecification" not in props, f"{logical}: SSE must stay the default (AWS owned key)"
        want_keys = [{"AttributeName": definition["partitionKey"]["name"], "KeyType": "HASH"}]
        if "sortKey" in definition:
            want_keys.append({"AttributeName": definition["sortKey"]["name"], "KeyType": "RANGE"})
        assert props["KeySchema"] == want_keys, f"{logical}: {props['KeySchema']}"
        want_attrs = {definition["partitionKey"]["name"]: definition["partitionKey"]["type"]}
        if "sortKey" in definition:
            want_attrs[definition["sortKey"]["name"]] = definition["sortKey"]["type"]
        want_gsis = {}
        for index_name, index in definition.get("indexes", {}).items():
            keys = [{"AttributeName": index["partitionKey"]["name"], "KeyType": "HASH"}]
            want_attrs[index["partitionKey"]["name"]] = index["partitionKey"]["type"]
            if "sortKey" in index:
                keys.append({"AttributeName": index["sortKey"]["name"], "KeyType": "RANGE"})
                want_attrs[index["sortKey"]["name"]] = index["sortKey"]["type"]
            want_gsis[index_name] = {
                "IndexName": index_name,
                "KeySchema": keys,
                "Projection": {"ProjectionType": "ALL"},
            }
        got_attrs = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        assert got_attrs == want_attrs, f"{logical}: attribute types {got_attrs}, want {want_attrs}"
        got_gsis = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
        assert got_gsis == want_gsis, f"{logical}: GSIs {got_gsis}, want {want_gsis}"
        ttl = props.get("TimeToLiveSpecification")
        if "ttlAttribute" in definition:
            assert ttl == {"AttributeName": definition["ttlAttribute"], "Enabled": True}, (
                f"{logical}: TTL {ttl}"
            )
        else:
            assert ttl is None, f"{logical}: TTL {ttl} but tables.json names none"


def test_ttl_attributes_are_the_required_ones() -> None:
    ttl = {name: d["ttlAttribute"] for name, d in tables_json().items() if "ttlAttribute" in d}
    assert ttl == {
        "Messages": "expiresAt",
        "DLQMessages": "expiresAt",
        "AuditLogs": "expiresAt",
        "RateLimitTrackers": "lastUpdatedAt",
    }, "requirement 17.2-17.5"


@pytest.mark.parametrize("key", KEYS)
def test_production_data_protection_only_on_main(synths: dict[str, Synth], key: str) -> None:
    on = key == "main"
    for res in synths[key].resources("AWS::DynamoDB::Table"):
        name = res.properties["TableName"]
        pitr = res.properties.get("PointInTimeRecoverySpecification", {}).get(
            "PointInTimeRecoveryEnabled", False
        )
        assert pitr is on, f"{key} {name}: point-in-time recovery {pitr}, want {on}"
        assert res.properties.get("DeletionProtectionEnabled", False) is on, (
            f"{key} {name}: deletion protection"
        )
        assert res.raw.get("DeletionPolicy") == ("Retain" if on else "Delete"), (
            f"{key} {name}: DeletionPolicy"
        )


@pytest.mark.parametrize("key", KEYS)
def test_queues_redrive_visibility_and_encryption(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    data = synth.nested("data")
    found = queues(synth)
    assert sorted(found) == sorted(
        ["ai-dlq", "ai-queue", "bulk-dlq", "bulk-queue", "inbound-dlq", "outbound-dlq"]
    ), f"{key}: queues {sorted(found)}"
    for name, res in found.items():
        assert res.properties.get("SqsManagedSseEnabled") is True, f"{name}: SSE (SQS-managed) must be on"
    functions = python_functions(synth)
    for queue, dlq, consumer in (
        ("bulk-queue", "bulk-dlq", "bulk-worker"),
        ("ai-queue", "ai-dlq", "ai-generate-response"),
    ):
        props = found[queue].properties
        redrive = props["RedrivePolicy"]
        assert name_of(synth, data, redrive["deadLetterTargetArn"]) == f"{synth.prefix}{dlq}", (
            f"{queue} redrive"
        )
        assert 1 <= redrive["maxReceiveCount"] <= 10, f"{queue}: maxReceiveCount {redrive['maxReceiveCount']}"
        timeout = functions[consumer].properties["Timeout"]
        assert props["VisibilityTimeout"] >= 6 * timeout, (
            f"{queue}: visibility {props['VisibilityTimeout']} s < 6 x {consumer}'s timeout {timeout} s"
        )
    for dlq in ("ai-dlq", "bulk-dlq", "inbound-dlq", "outbound-dlq"):
        assert found[dlq].properties["MessageRetentionPeriod"] == 14 * 24 * 3600, f"{dlq}: keep 14 days"


# -- triggers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_queue_event_sources_report_batch_item_failures(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    mappings = {
        name_of(synth, r.template, r.properties["FunctionName"]): r
        for r in synth.resources("AWS::Lambda::EventSourceMapping")
    }
    want = {f"{synth.prefix}bulk-worker": "bulk-queue", f"{synth.prefix}ai-generate-response": "ai-queue"}
    assert sorted(mappings) == sorted(want), f"{key}: event source mappings on {sorted(mappings)}"
    for fn, queue in want.items():
        props = mappings[fn].properties
        assert name_of(synth, mappings[fn].template, props["EventSourceArn"]) == f"{synth.prefix}{queue}"
        assert props.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], f"{fn}: {props}"
        assert 1 <= props.get("BatchSize", 10) <= 10


@pytest.mark.parametrize("key", KEYS)
def test_inbound_handler_subscribes_to_the_existing_topic(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    subscriptions = synth.resources("AWS::SNS::Subscription")
    assert len(subscriptions) == 1, f"{key}: subscriptions {subscriptions}"
    sub = subscriptions[0]
    assert sub.properties["TopicArn"] == TOPIC_ARN
    assert sub.properties["Protocol"] == "lambda"
    assert (
        name_of(synth, sub.template, sub.properties["Endpoint"]) == f"{synth.prefix}inbound-whatsapp-handler"
    )
    allowed = [
        r
        for r in synth.resources("AWS::Lambda::Permission")
        if r.properties["Principal"] == "sns.amazonaws.com" and r.properties.get("SourceArn") == TOPIC_ARN
    ]
    assert len(allowed) == 1, f"{key}: SNS may invoke the inbound handler exactly once: {allowed}"


@pytest.mark.parametrize("key", KEYS)
def test_send_recovery_runs_every_minute(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    rules = synth.resources("AWS::Events::Rule")
    assert len(rules) == 1, f"{key}: rules {rules}"
    rule = rules[0]
    assert rule.properties["ScheduleExpression"] == "rate(1 minute)"
    targets = rule.properties["Targets"]
    assert len(targets) == 1 and "RoleArn" not in targets[0], targets
    assert name_of(synth, rule.template, targets[0]["Arn"]) == f"{synth.prefix}send-recovery"
    assert any(
        r.properties["Principal"] == "events.amazonaws.com"
        for r in synth.resources("AWS::Lambda::Permission")
    )


# -- logs and alarms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_logs_go_to_the_common_log_group(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    groups = synth.resources("AWS::Logs::LogGroup")
    if key == "main":
        assert len(groups) == 1, f"main owns the log group: {groups}"
        group = groups[0]
        assert group.properties["LogGroupName"] == LOG_GROUP
        assert group.properties["RetentionInDays"] == 30, "14.6: logs kept at least 30 days"
        assert group.raw.get("DeletionPolicy") == "Retain"
    else:
        assert groups == [], f"{key}: only main creates {LOG_GROUP} (one per account); others refer to it"
    for name, res in python_functions(synth).items():
        target = res.properties["LoggingConfig"]["LogGroup"]
        if key == "main":
            resolved = synth.resolve(res.template, target)
            assert isinstance(resolved, Target) and synth.resource(resolved).type == "AWS::Logs::LogGroup", (
                name
            )
        else:
            assert target == LOG_GROUP, f"{key} {name}: LoggingConfig.LogGroup {target!r}"


@pytest.mark.parametrize("key", KEYS)
def test_alarms_publish_to_the_existing_topic(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    alarms = synth.resources("AWS::CloudWatch::Alarm")
    for alarm in alarms:
        assert alarm.properties["AlarmActions"] == [TOPIC_ARN], f"{alarm.properties['AlarmName']}: actions"
    by_metric: dict[tuple[str, str], set[str]] = {}
    for alarm in alarms:
        props = alarm.properties
        dims = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        subject = ""
        if "FunctionName" in dims:
            subject = name_of(synth, alarm.template, dims["FunctionName"]).removeprefix(synth.prefix)
        elif "QueueName" in dims:
            subject = name_of(synth, alarm.template, dims["QueueName"]).removeprefix(synth.prefix)
        elif ALARM_DIMENSION in dims:
            assert dims[ALARM_DIMENSION] == synth.prefix, f"{props['AlarmName']}: {dims}"
            subject = "deployment"
        by_metric.setdefault((props["Namespace"], props["MetricName"]), set()).add(subject)
        if props["MetricName"] == "ApproximateNumberOfMessagesVisible":
            assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold", props
    assert by_metric[("AWS/Lambda", "Errors")] == set(ALL_FUNCTIONS), "an Errors alarm per function"
    assert by_metric[("AWS/Lambda", "Throttles")] == set(ALL_FUNCTIONS), "a Throttles alarm per function"
    assert by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")] == {
        "inbound-dlq",
        "bulk-dlq",
        "outbound-dlq",
        "ai-dlq",
    }, "every dead-letter queue alarms when not empty"
    # The names the Python side publishes (gateway/metrics.py), so the alarms cannot watch a metric
    # nobody writes.
    assert by_metric[(EMF_NAMESPACE, BULK_JOBS_FAILED)] == {"deployment"}
    assert by_metric[(EMF_NAMESPACE, TIER_USAGE_PERCENT)] == {"deployment"}
    tier = next(a for a in alarms if a.properties["MetricName"] == TIER_USAGE_PERCENT).properties
    assert tier["Threshold"] == 80 and tier["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", tier


# -- HTTP API ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_http_api_routes_and_authorizer(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    apis = synth.resources("AWS::ApiGatewayV2::Api")
    assert len(apis) == 1 and apis[0].properties["ProtocolType"] == "HTTP", apis
    authorizers = synth.resources("AWS::ApiGatewayV2::Authorizer")
    assert len(authorizers) == 1, authorizers
    auth = authorizers[0]
    props = auth.properties
    assert props["AuthorizerType"] == "REQUEST"
    assert props["AuthorizerPayloadFormatVersion"] == "2.0"
    assert props["EnableSimpleResponses"] is True
    assert props["IdentitySource"] == ["$request.header.Authorization"]
    assert 0 < props["AuthorizerResultTtlInSeconds"] <= 3600
    uri_parts = props["AuthorizerUri"]["Fn::Join"][1]
    fn_ref = next(
        p for p in uri_parts if isinstance(p, dict) and "Ref" in p and p["Ref"].startswith("reference")
    )
    assert name_of(synth, auth.template, fn_ref) == f"{synth.prefix}auth-middleware"

    routes = api_routes(synth)
    assert sorted(routes) == sorted(EXPECTED_ROUTES), f"{key}: routes {sorted(routes)}"
    integrations = {r.logical_id: r for r in synth.resources("AWS::ApiGatewayV2::Integration")}
    for route_key, route in routes.items():
        if route_key in PUBLIC_ROUTES:
            assert route.properties["AuthorizationType"] == "NONE", f"{route_key} is public"
        else:
            assert route.properties["AuthorizationType"] == "CUSTOM", f"{route_key} needs the authorizer"
            assert route.properties["AuthorizerId"] == {"Ref": auth.logical_id}, route_key
        integration_id = route.properties["Target"]["Fn::Join"][1][1]["Ref"]
        integration = integrations[integration_id].properties
        assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
        fn = name_of(synth, route.template, integration["IntegrationUri"]).removeprefix(synth.prefix)
        assert fn == EXPECTED_ROUTES[route_key], f"{route_key} → {fn}, want {EXPECTED_ROUTES[route_key]}"


def test_every_app_route_is_reachable_through_the_api(synths: dict[str, Synth]) -> None:
    """Each route of the app's permission table is served by some API route, and vice versa."""
    routes = [key.split(" ", 1) for key in api_routes(synths["main"])]

    def served(method: str, path: str) -> bool:
        sample = re.sub(r"\{[^}]+\}", "x", path)
        return any(
            m in (method, "ANY") and (route_regex(p).match(sample) or route_regex(path).match(p))
            for m, p in routes
        )

    unreachable = [
        f"{method} {path}"
        for method, path in APP_ROUTES
        if (method, path) not in NOT_EXPOSED and path not in NOT_EXPOSED_PATHS and not served(method, path)
    ]
    assert unreachable == [], f"app routes no API route reaches: {unreachable}"
    for method, path in routes:
        if "{proxy+}" in path:
            assert any(route_regex(path).match(re.sub(r"\{[^}]+\}", "x", p)) for _, p in APP_ROUTES), path
            continue
        same = re.sub(r"\{[^}]+\}", "{}", path)
        known = any(
            m == method and (re.sub(r"\{[^}]+\}", "{}", p) == same or route_regex(p).match(path))
            for m, p in APP_ROUTES
        )
        assert known, f"API route {method} {path}: the app has no such route"


@pytest.mark.parametrize("key", KEYS)
def test_custom_domain_only_on_main(synths: dict[str, Synth], key: str) -> None:
    synth = synths[key]
    domains = synth.resources("AWS::ApiGatewayV2::DomainName")
    mappings = synth.resources("AWS::ApiGatewayV2::ApiMapping")
    if key != "main":
        assert domains == [] and mappings == [], (
            f"{key}: base.wecare.digital exists once per account (main's)"
        )
        return
    assert len(domains) == 1 and len(mappings) == 1, (domains, mappings)
    domain = domains[0].properties
    assert domain["DomainName"] == "base.wecare.digital"
    assert domain["DomainNameConfigurations"] == [
        {"CertificateArn": CERTIFICATE_ARN, "EndpointType": "REGIONAL"}
    ]
    mapping = mappings[0].properties
    api = synth.resources("AWS::ApiGatewayV2::Api")[0]
    assert mapping["ApiId"] == {"Ref": api.logical_id}
    assert mapping["DomainName"] == {"Ref": domains[0].logical_id}
    assert mapping["Stage"] == "$default" and "ApiMappingKey" not in mapping
