"""Fixtures for identity tests (helpers live in ``support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from gateway.clock import FakeClock
from gateway.identity.passwords import Passwords

from .support import MintToken, World, build_world, cheap_passwords_instance, make_minter, new_key


@pytest.fixture(scope="session")
def cheap_passwords() -> Passwords:
    return cheap_passwords_instance()


@pytest.fixture(scope="session")
def pool_key() -> RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="session")
def other_key() -> RSAPrivateKey:
    return new_key()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mint(pool_key: RSAPrivateKey, clock: FakeClock) -> MintToken:
    return make_minter(pool_key, clock)


@pytest.fixture
def world(tmp_path: Path, clock: FakeClock, cheap_passwords: Passwords) -> Iterator[World]:
    w = build_world(tmp_path, clock, cheap_passwords)
    yield w
    w.client.close()
