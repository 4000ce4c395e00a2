"""The embedded identity's signing key: created once, private to its owner, rotatable."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest

from gateway.auth import keys
from gateway.auth.errors import InvalidToken
from gateway.auth.identity import local_identity
from gateway.clock import FakeClock

from .support import World, bearer, build_world, cheap_passwords_instance


def test_the_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = keys.load_or_create(tmp_path / "data")
    path = tmp_path / "data" / keys.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = keys.load_or_create(tmp_path / "data")
    assert again.kid == first.kid


def test_a_loose_key_file_is_tightened(tmp_path: Path) -> None:
    keys.load_or_create(tmp_path)
    path = tmp_path / keys.KEY_FILE
    path.chmod(0o644)
    keys.load_or_create(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_corrupt_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / keys.KEY_FILE).write_text("not a key")
    (tmp_path / keys.KEY_FILE).chmod(0o600)
    with pytest.raises(keys.KeyFileError, match="not a PEM RSA private key"):
        keys.load_or_create(tmp_path)


def test_tokens_survive_a_restart_and_a_rotation(tmp_path: Path) -> None:
    clock = FakeClock()
    world = build_world(tmp_path, clock, cheap_passwords_instance())
    token = world.account("Viewer")
    # A restart: a new identity over the same data dir accepts the token.
    restarted = local_identity(tmp_path / "data", users=world.users, audit=world.audit, clock=clock)
    assert restarted.verify(token).role.name == "Viewer"
    # A rotation: new tokens get the new key, tokens signed by the previous key still verify.
    old_kid = keys.load_or_create(tmp_path / "data").kid
    new = keys.rotate(tmp_path / "data")
    assert new.kid != old_kid
    rotated = local_identity(tmp_path / "data", users=world.users, audit=world.audit, clock=clock)
    assert rotated.verify(token).user_id
    world.container.identity = rotated
    fresh = world.login(_email(world), "correct horse battery")
    assert world.client.get("/api/me", headers=bearer(fresh)).status_code == 200
    assert rotated.verifier.verify(fresh) and _kid(fresh) == new.kid


def _email(world: World) -> str:
    users = [u for u in world.tables["Users"].scan(limit=10).items if u.get("kind") == "user"]
    return str(users[0]["email"])


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_another_data_dir_does_not_accept_our_tokens(tmp_path: Path) -> None:
    clock = FakeClock()
    world = build_world(tmp_path / "one", clock, cheap_passwords_instance())
    token = world.account("Viewer")
    elsewhere = local_identity(tmp_path / "two", users=world.users, audit=world.audit, clock=clock)
    # The same users table, a different data dir: the key alone decides, and it is not ours.
    with pytest.raises(InvalidToken, match="key we do not know"):
        elsewhere.verify(token)
