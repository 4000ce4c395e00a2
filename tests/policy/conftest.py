from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.policy.bundle import Bundle
from gateway.policy.engine import PolicyEngine
from gateway.policy.loader import load_bundle, read_bundle_files
from gateway.policy.runner import merge

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"
CASES = REPO / "policy-tests"

NOW = 1_764_067_200
ALLOWLISTED = "phone-number-id-baa217c3f11b4ffd956f6f3afb44ce54"

BASE_INPUT: dict[str, Any] = {
    "now": NOW,
    "request": {
        "channel": "whatsapp",
        "kind": "text",
        "origin": "api",
        "phoneNumberId": ALLOWLISTED,
        "bodyLength": 12,
        "templateName": "",
        "approvedBy": "",
    },
    "contact": {
        "found": True,
        "deleted": False,
        "optInWhatsApp": True,
        "optInSms": True,
        "optInEmail": True,
        "hasPhone": True,
        "hasEmail": True,
        "lastInboundMessageAt": NOW - 3600,
        "whatsappUnreachable": False,
    },
    "environment": {"name": "production", "sendMode": "DRY_RUN", "paused": False},
    "tier": {"limit": 250, "used24h": 10, "opensConversation": False},
}


def policy_input(**patch: Any) -> dict[str, Any]:
    """The base input (an allowed WhatsApp text inside the window) with sections patched."""
    return merge(copy.deepcopy(BASE_INPUT), patch)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    return load_bundle(POLICIES)


@pytest.fixture(scope="session")
def fast(bundle: Bundle) -> PolicyEngine:
    return PolicyEngine(bundle, "fast")


@pytest.fixture(scope="session")
def celpy_engine(bundle: Bundle) -> PolicyEngine:
    return PolicyEngine(bundle, "celpy")


@pytest.fixture(scope="session")
def bundle_files() -> dict[str, str]:
    return read_bundle_files(POLICIES)


@pytest.fixture
def make_input() -> Callable[..., dict[str, Any]]:
    return policy_input
