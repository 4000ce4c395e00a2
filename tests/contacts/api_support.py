"""A wired app for the contact API tests: in-memory store, embedded identity, cheap password hashing."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from starlette.exceptions import StarletteDeprecationWarning

from gateway.api.app import create_app
from gateway.audit import AuditLog
from gateway.auth.identity import local_identity
from gateway.bootstrap import build_in_memory
from gateway.clock import FakeClock
from gateway.config import Settings
from gateway.contacts.service import ContactService
from gateway.identity.passwords import Passwords
from gateway.users import UserService

with warnings.catch_warnings():
    # The test client warns that it prefers another HTTP library; that is not what these tests check.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"


class ApiWorld:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        container = build_in_memory(Settings(), self.clock)
        self.tables = container.tables
        self.audit = AuditLog(self.tables, self.clock)
        self.users = UserService(
            self.tables,
            self.clock,
            self.audit,
            Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)),
        )
        self.contacts = ContactService(self.tables, self.clock, self.audit)
        container.audit = self.audit
        container.users = self.users
        container.contacts = self.contacts
        container.identity = local_identity(
            tmp_path / "data",
            users=self.users,
            audit=self.audit,
            clock=self.clock,
        )
        self.client = TestClient(create_app(container), raise_server_exceptions=False)
        self._n = 0

    def headers(self, role: str) -> dict[str, str]:
        """A new account with ``role``, signed in: its Authorization header."""
        self._n += 1
        email = f"{role.lower()}{self._n}@example.com"
        user, _ = self.users.create(email, role, actor="test", password=PASSWORD)
        reply = self.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        self.last_user: dict[str, Any] = user
        return {"Authorization": f"Bearer {reply.json()['accessToken']}"}
