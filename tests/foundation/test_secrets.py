from __future__ import annotations

import json
import logging

import boto3
import pytest
from moto import mock_aws

from gateway.config import ConfigError
from gateway.logs import JsonFormatter
from gateway.secrets import load_from_ssm, parse_ssm_env_config


@pytest.fixture
def ssm():  # type: ignore[no-untyped-def]
    with mock_aws():
        client = boto3.client("ssm", region_name="us-east-1")
        client.put_parameter(
            Name="/amplify/app/main/WHATSAPP_ACCESS_TOKEN", Value="tok-123", Type="SecureString"
        )
        client.put_parameter(Name="/amplify/shared/app/APP_SECRET", Value="app-sec-456", Type="SecureString")
        yield client


def test_both_config_shapes_parse() -> None:
    new = parse_ssm_env_config(json.dumps({"APP_SECRET": {"path": "/a/b", "sharedPath": "/s/b"}}))
    old = parse_ssm_env_config(json.dumps({"/a/b": {"name": "APP_SECRET", "sharedPath": "/s/b"}}))
    assert new == old and new[0].name == "APP_SECRET" and new[0].shared_path == "/s/b"


def test_secrets_come_from_ssm_with_shared_fallback(ssm) -> None:  # type: ignore[no-untyped-def]
    config = json.dumps(
        {
            "WHATSAPP_ACCESS_TOKEN": {"path": "/amplify/app/main/WHATSAPP_ACCESS_TOKEN"},
            "APP_SECRET": {
                "path": "/amplify/app/main/APP_SECRET",
                "sharedPath": "/amplify/shared/app/APP_SECRET",
            },
        }
    )
    secrets = load_from_ssm(ssm, config)
    assert secrets.whatsapp_access_token is not None
    assert secrets.whatsapp_access_token.get_secret_value() == "tok-123"
    assert secrets.app_secret is not None and secrets.app_secret.get_secret_value() == "app-sec-456"
    assert "tok-123" not in repr(secrets) and "app-sec-456" not in repr(secrets)


def test_missing_secret_names_it_but_never_leaks_values(ssm) -> None:  # type: ignore[no-untyped-def]
    config = json.dumps({"WHATSAPP_ACCESS_TOKEN": {"path": "/amplify/app/main/WHATSAPP_ACCESS_TOKEN"}})
    with pytest.raises(ConfigError) as info:
        load_from_ssm(ssm, config)
    assert "APP_SECRET" in str(info.value)
    assert "tok-123" not in str(info.value)


def test_malformed_config_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="AMPLIFY_SSM_ENV_CONFIG"):
        parse_ssm_env_config("{nope")


def test_log_lines_redact_secret_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "t",
            "levelname": "INFO",
            "msg": "login",
            "password": "hunter2",
            "authorization": "Bearer abc",
            "user": "a@b.c",
        }
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["password"] == "[redacted]" and line["authorization"] == "[redacted]"
    assert line["user"] == "a@b.c" and line["message"] == "login" and line["level"] == "INFO"
