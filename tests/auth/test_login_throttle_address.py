"""Sign-in throttling per client address paces failures; it never refuses a right password.

Many people can share one address (an office behind a NAT), so one attacker there must not lock the
others out: an address over its pace gets its *wrong* passwords answered 429, while a right password
for an account that is not itself throttled still signs in. The per-account limit is unchanged.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from gateway.auth.errors import InvalidCredentials, LoginThrottled
from gateway.auth.throttle import LoginThrottle
from gateway.clock import FakeClock

from .support import World, bearer

with warnings.catch_warnings():
    # As in .support: the test client's preference for another HTTP library is not under test.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"
ADDRESS_LOCK = 900.0


def _post(
    world: World, email: str, password: str, client: TestClient | None = None
) -> tuple[int, dict[str, str], Any]:
    reply = (client or world.client).post("/api/auth/login", json={"email": email, "password": password})
    return reply.status_code, dict(reply.headers), reply.json()


def _spray(world: World, failures: int) -> list[int]:
    """``failures`` wrong passwords from the test client's address, each against a different account
    (so no account's own limit is reached), without the clock moving."""
    return [_post(world, f"victim{n}@example.com", "guess guess")[0] for n in range(failures)]


def test_after_a_hundred_failures_a_right_password_from_the_same_address_signs_in(world: World) -> None:
    user, _ = world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    statuses = _spray(world, 110)
    assert statuses[:20] == [401] * 20  # the address's free failures
    assert set(statuses[20:]) == {429}  # then its failures come too fast

    status, _, body = _post(world, "olivia@example.com", PASSWORD)
    assert status == 200, body
    token = body["accessToken"]
    assert isinstance(token, str)
    assert world.client.get("/api/me", headers=bearer(token)).json()["userId"] == user["userId"]


def test_wrong_passwords_from_an_address_over_its_pace_are_429_with_retry_after(world: World) -> None:
    world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    _spray(world, 100)  # the 100th failure locks the address for 15 minutes
    for email, password in [("olivia@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)]:
        status, headers, body = _post(world, email, password)
        assert status == 429
        details = body["error"]["details"]
        assert details["scope"] == "client" and details["retryAfterSeconds"] >= ADDRESS_LOCK
        assert int(headers["retry-after"]) >= ADDRESS_LOCK
    # Wrong attempts from it still count for their account: the per-account limit keeps working.
    assert world.identity.throttle.failures("olivia@example.com") == 1


def test_a_success_does_not_clear_the_address_for_other_accounts(world: World) -> None:
    world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    _spray(world, 100)
    assert _post(world, "olivia@example.com", PASSWORD)[0] == 200
    assert _post(world, "victim1@example.com", "guess guess")[0] == 429
    assert _post(world, "olivia@example.com", "wrong password!")[0] == 429


def test_the_address_slows_failures_before_it_locks(world: World) -> None:
    world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    assert _spray(world, 20) == [401] * 20
    status, headers, _ = _post(world, "victim20@example.com", "guess guess")
    # The 21st failure came within a second of the 20th; it counts too, so the next must wait 2 s
    # (the API rounds Retry-After up).
    assert status == 429 and headers["retry-after"] == "3"
    world.clock.advance(2.5)
    assert _post(world, "victim21@example.com", "guess guess")[0] == 401  # within the pace again
    assert _post(world, "olivia@example.com", PASSWORD)[0] == 200


def test_other_addresses_are_not_affected(world: World) -> None:
    world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    _spray(world, 100)
    elsewhere = TestClient(world.client.app, raise_server_exceptions=False, client=("203.0.113.9", 40000))
    try:
        assert _post(world, "olivia@example.com", "wrong password!", elsewhere)[0] == 401
        assert _post(world, "olivia@example.com", PASSWORD, elsewhere)[0] == 200
    finally:
        elsewhere.close()


def test_the_account_limit_still_locks_a_right_password(world: World) -> None:
    world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    world.users.create("omar@example.com", "Operator", actor="test", password=PASSWORD)
    _spray(world, 100)  # the address is over its pace too: the account rule must still win
    for _ in range(10):
        world.clock.advance(61)  # past every slow-down, so each of the 10 failures is checked
        assert _post(world, "olivia@example.com", "wrong password!")[0] == 429  # the address's lock
    status, headers, body = _post(world, "olivia@example.com", PASSWORD)
    assert status == 429 and body["error"]["details"]["scope"] == "account"
    assert int(headers["retry-after"]) > 0
    # Another account from the same, still throttled, address is not locked with it.
    assert _post(world, "omar@example.com", PASSWORD)[0] == 200


def test_the_account_lock_holds_from_a_quiet_address_too(world: World) -> None:
    world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    for _ in range(10):
        world.clock.advance(61)
        assert _post(world, "olivia@example.com", "wrong password!")[0] == 401
    assert _post(world, "olivia@example.com", PASSWORD)[0] == 429
    world.clock.advance(901)
    assert _post(world, "olivia@example.com", PASSWORD)[0] == 200


def test_after_the_lock_the_address_recovers(world: World) -> None:
    world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    _spray(world, 100)
    world.clock.advance(ADDRESS_LOCK - 1)
    assert _post(world, "olivia@example.com", "wrong password!")[0] == 429
    world.clock.advance(ADDRESS_LOCK + 1)  # quiet since then: that failure has passed the window too
    assert _post(world, "olivia@example.com", "wrong password!")[0] == 401
    assert _post(world, "victim1@example.com", "guess guess")[0] == 401


def test_a_throttled_failure_is_audited_as_a_failure_with_its_reason(world: World) -> None:
    user, _ = world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    _spray(world, 100)
    assert _post(world, "olivia@example.com", "wrong password!")[0] == 429
    last = [r for r in world.audit_records("auth.login.failure") if r["userId"] == user["userId"]]
    assert [(r["details"]["reason"], r["details"].get("throttled")) for r in last] == [
        ("bad_password", "client")
    ]


def test_the_throttle_itself_never_refuses_an_address_before_the_check() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for n in range(100):
        throttle.failure(f"victim{n}@example.com", "198.51.100.7")
    throttle.check_account("olivia@example.com")  # does not raise: the address is not an account
    assert throttle.client_wait("198.51.100.7") == pytest.approx(ADDRESS_LOCK)
    assert throttle.client_wait("198.51.100.8") == 0.0
    clock.advance(ADDRESS_LOCK + 1)
    assert throttle.client_wait("198.51.100.7") == 0.0


def test_the_identity_raises_the_right_errors(world: World) -> None:
    world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    for n in range(100):
        with pytest.raises((InvalidCredentials, LoginThrottled)):
            world.identity.login(f"victim{n}@example.com", "guess guess", client="192.0.2.1")
    with pytest.raises(LoginThrottled) as refused:
        world.identity.login("olivia@example.com", "wrong password!", client="192.0.2.1")
    assert refused.value.scope == "client" and refused.value.retry_after > 0
    assert world.identity.login("olivia@example.com", PASSWORD, client="192.0.2.1").access_token
