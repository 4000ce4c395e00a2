from __future__ import annotations

import pytest

from gateway.config import ConfigError, Environment, SendMode, load_settings


def test_defaults_are_the_seed_values() -> None:
    s = load_settings("embedded", {})
    assert s.SEND_MODE is SendMode.DRY_RUN
    assert s.COGNITO_USER_POOL_ID == "us-east-1_CC9u1fYh6"
    assert s.whatsapp_phone_number_ids == (
        "phone-number-id-baa217c3f11b4ffd956f6f3afb44ce54",
        "phone-number-id-1447bc72d1b040f4bf2341c9e04b2e06",
    )
    assert s.SMS_POOL_ID == "pool-6fbf5a5f390d4eeeaa7dbae39d78933e"
    assert s.SES_SENDER_EMAIL == "one@wecare.digital"
    assert s.MEDIA_BUCKET == "auth.wecare.digital"
    assert s.REPORT_BUCKET == "stream.wecare.digital"
    assert s.BULK_CONFIRMATION_THRESHOLD == 20
    assert s.BEDROCK_FOUNDATION_MODEL == "amazon.nova-pro-v1:0"


@pytest.mark.parametrize("env", ["preview", "staging", "local"])
def test_live_outside_production_refuses_to_start(env: str) -> None:
    with pytest.raises(ConfigError, match="SEND_MODE=LIVE is forbidden"):
        load_settings("embedded", {"SEND_MODE": "LIVE", "ENVIRONMENT": env})


def test_live_in_production_is_allowed() -> None:
    s = load_settings("embedded", {"SEND_MODE": "LIVE", "ENVIRONMENT": "production"})
    assert s.ENVIRONMENT is Environment.production and s.SEND_MODE is SendMode.LIVE


def test_every_bad_variable_is_named_in_one_message() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            "embedded",
            {
                "LOG_LEVEL": "LOUD",
                "BULK_CONFIRMATION_THRESHOLD": "many",
                "SMS_POOL_ID": "x",
                "MEDIA_INBOUND_PREFIX": "/abs",
            },
        )
    text = str(info.value)
    for name in ("LOG_LEVEL", "BULK_CONFIRMATION_THRESHOLD", "SMS_POOL_ID", "MEDIA_INBOUND_PREFIX"):
        assert name in text


def test_lambda_runtime_declares_what_it_requires() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings("lambda", {})
    assert "TABLE_PREFIX" in str(info.value) and "BULK_QUEUE_URL" in str(info.value)


def test_live_outside_production_is_reported_with_the_other_problems() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings("embedded", {"SEND_MODE": "LIVE", "ENVIRONMENT": "staging", "LOG_LEVEL": "LOUD"})
    text = str(info.value)
    assert "SEND_MODE=LIVE is forbidden when ENVIRONMENT=staging" in text and "LOG_LEVEL" in text
    assert text.count("SEND_MODE=LIVE is forbidden") == 1


def test_bulk_worker_concurrency_is_two_to_five() -> None:
    assert load_settings("embedded", {}).BULK_WORKER_CONCURRENCY == 2
    assert load_settings("embedded", {"BULK_WORKER_CONCURRENCY": "5"}).BULK_WORKER_CONCURRENCY == 5
    for bad in ("1", "6", "two"):
        with pytest.raises(ConfigError) as info:
            load_settings("embedded", {"BULK_WORKER_CONCURRENCY": bad, "LOG_LEVEL": "LOUD"})
        text = str(info.value)
        assert "BULK_WORKER_CONCURRENCY" in text and "LOG_LEVEL" in text  # reported with the others
        assert "a whole number from 2 to 5" in text
