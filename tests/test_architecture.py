"""The import rules of the design, checked on the source: dependencies point inward.

* the policy engine is pure: no boto3, no store, no queue, no clock, no other service;
* channel drivers know nothing of the gateway (contacts, policies, stores, HTTP);
* API routes reach services, never the store or queue adapters;
* only the gateway (the choke point) and the composition root touch the channel drivers.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _violations(folder: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for path in _modules(folder):
        for name in _imports(path):
            if name.startswith(forbidden) and not name.startswith(allowed):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


def test_the_policy_engine_is_pure() -> None:
    forbidden = (
        "boto3",
        "botocore",
        "sqlite3",
        "gateway",
        "channels",
        "time",
        "socket",
        "urllib",
        "threading",
        "subprocess",
    )
    assert _violations("gateway/policy", forbidden, allowed=("gateway.policy",)) == []


def test_channel_drivers_know_nothing_of_the_gateway() -> None:
    assert _violations("channels", ("gateway", "fastapi", "starlette")) == []


def test_api_routes_never_reach_the_adapters() -> None:
    assert _violations("gateway/api", ("gateway.store", "gateway.queue", "boto3", "sqlite3")) == []


def test_only_the_choke_point_and_the_composition_root_touch_drivers() -> None:
    # Types and the DRY_RUN record shape may be shared; the driver modules themselves may not.
    driver_modules = (
        "channels.whatsapp",
        "channels.sms",
        "channels.email",
        "channels.wiring",
        "channels.aws",
    )
    allowed_files = {"gateway/outbound/gateway.py", "gateway/bootstrap.py"}
    bad = [
        violation
        for violation in _violations("gateway", driver_modules)
        if violation.split(" imports ")[0] not in allowed_files
    ]
    assert bad == []


def test_the_checks_see_real_code() -> None:
    # Guard against a refactor that moves the folders and silently empties the checks above.
    assert len(_modules("gateway/policy")) > 5 and len(_modules("channels")) > 5
    assert "channels.base" in _imports(ROOT / "gateway" / "outbound" / "gateway.py")
