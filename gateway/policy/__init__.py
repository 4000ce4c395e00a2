"""The policy engine: a versioned YAML/CEL bundle compiled once, evaluated per message.

Pure: no boto3, no store, no clock reads; file I/O only in :mod:`gateway.policy.loader`.
"""

from __future__ import annotations

from gateway.policy.bundle import Bundle
from gateway.policy.decision import Decision, Finding
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import BundleError, PolicyError, Problem
from gateway.policy.loader import load_bundle

__all__ = [
    "Bundle",
    "BundleError",
    "Decision",
    "Finding",
    "PolicyEngine",
    "PolicyError",
    "Problem",
    "load_bundle",
]
