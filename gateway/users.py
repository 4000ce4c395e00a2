"""User accounts in the ``Users`` table: local (embedded) accounts with Argon2 password hashes, and the
accounts Cognito signs in (recorded on first sight so ``lastLoginAt`` is kept in AWS too).

Items: ``userId`` (``usr_`` + uuid hex for local accounts, the Cognito ``sub`` otherwise), ``kind="user"``,
``email`` (lower-cased; the ``byEmail`` index), ``role``, ``disabled``, ``source`` (local | cognito),
``createdAt``, ``updatedAt``, ``lastLoginAt`` (absent until the first sign-in), ``passwordHash`` (local
only; never leaves this module — see :func:`public`).

E-mail uniqueness comes from a guard item ``userId="email#<address>"`` (``kind="guard"``) written with a
must-not-exist condition; guards never carry ``email`` (the index key).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

from gateway.audit import AuditLog
from gateway.auth import passwords as pw
from gateway.auth.principal import Role
from gateway.clock import Clock
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.store.conditions import Attr, eq, exists, not_exists
from gateway.store.port import ConditionFailed, InvalidCursor, Item, Tables, Update

PUBLIC_FIELDS = ("userId", "email", "role", "disabled", "source", "createdAt", "updatedAt", "lastLoginAt")


def normalise_email(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("an e-mail address is required", details={"field": "email"})
    try:
        valid = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"not a valid e-mail address: {exc}", details={"field": "email"}) from None
    return valid.normalized.lower()


def parse_role(raw: object) -> Role:
    if isinstance(raw, Role):
        return raw
    if not isinstance(raw, str):
        raise InvalidInput("role must be Viewer, Operator or Admin", details={"field": "role"})
    try:
        return Role.parse(raw)
    except ValueError as exc:
        raise InvalidInput(str(exc), details={"field": "role"}) from None


def public(user: Mapping[str, Any]) -> dict[str, Any]:
    """What the API may show of a user (never the password hash)."""
    out = {k: user[k] for k in PUBLIC_FIELDS if k in user}
    out.setdefault("disabled", False)
    out.setdefault("lastLoginAt", None)
    return out


@dataclass(frozen=True)
class UserPage:
    items: list[dict[str, Any]]
    cursor: str | None


class UserService:
    def __init__(
        self, tables: Tables, clock: Clock, audit: AuditLog, passwords: pw.Passwords | None = None
    ) -> None:
        self._table = tables["Users"]
        self._clock = clock
        self._audit = audit
        self._passwords = passwords or pw.Passwords()

    # ---- reads -------------------------------------------------------------------------------------
    def get(self, user_id: str) -> dict[str, Any]:
        item = self._table.get({"userId": user_id}) if user_id else None
        if item is None or item.get("kind") != "user":
            raise NotFound(f"no user {user_id}", details={"userId": user_id})
        return item

    def find_by_email(self, email: str) -> dict[str, Any] | None:
        try:
            address = normalise_email(email)
        except InvalidInput:
            return None
        page = self._table.query(address, index="byEmail", filter=eq("kind", "user"), limit=1)
        return page.items[0] if page.items else None

    def list_page(self, *, limit: int = 50, cursor: str | None = None) -> UserPage:
        try:
            page = self._table.scan(filter=eq("kind", "user"), limit=max(1, min(limit, 200)), cursor=cursor)
        except InvalidCursor as exc:
            raise InvalidInput(str(exc), details={"field": "cursor"}) from None
        return UserPage(page.items, page.cursor)

    def count_admins(self) -> int:
        count, cursor = 0, None
        while True:
            page = self._table.scan(
                filter=eq("kind", "user") & eq("role", Role.Admin.name) & Attr("disabled", "ne", True),
                limit=200, cursor=cursor,
            )
            count += len(page.items)
            cursor = page.cursor
            if cursor is None:
                return count

    # ---- local accounts ----------------------------------------------------------------------------
    def create(
        self, email: str, role: Role | str, *, actor: str, password: str | None = None
    ) -> tuple[dict[str, Any], str | None]:
        """A new local account; returns it and the generated password when none was given (shown once)."""
        address = normalise_email(email)
        level = parse_role(role)
        generated = None
        if password is None:
            password = generated = pw.generate()
        reason = pw.problem(password)
        if reason is not None:
            raise InvalidInput(reason, details={"field": "password"})
        now = self._clock.now()
        user_id = "usr_" + uuid.uuid4().hex
        guard = {"userId": "email#" + address, "kind": "guard", "ref": user_id, "createdAt": now}
        try:
            self._table.put(guard, condition=not_exists("userId"))
        except ConditionFailed:
            existing = self._table.get({"userId": "email#" + address}) or {}
            raise Conflict(
                f"a user with e-mail {address} already exists",
                details={"userId": existing.get("ref"), "field": "email"},
            ) from None
        item: Item = {
            "userId": user_id, "kind": "user", "email": address, "role": level.name, "disabled": False,
            "source": "local", "createdAt": now, "updatedAt": now,
            "passwordHash": self._passwords.hash(password),
        }
        self._table.put(item, condition=not_exists("userId"))
        self._audit.record(actor, "user.create", "user", user_id, {"email": address, "role": level.name})
        return item, generated

    def ensure_first_admin(self, email: str = "admin@wecare.digital") -> tuple[dict[str, Any], str] | None:
        """On a fresh store, create an Admin and return it with its password (print it once); else None."""
        if self._table.scan(filter=eq("kind", "user"), limit=1).items:
            return None
        try:
            user, password = self.create(email, Role.Admin, actor="system")
        except Conflict:
            return None  # another process created it a moment ago
        assert password is not None
        return user, password

    def set_role(self, user_id: str, role: Role | str, *, actor: str) -> dict[str, Any]:
        level = parse_role(role)
        user = self.get(user_id)
        old = user.get("role")
        if old == level.name:
            return user
        if old == Role.Admin.name and not user.get("disabled") and self.count_admins() <= 1:
            raise Conflict("the last Admin cannot be demoted; make another Admin first",
                           details={"userId": user_id})
        updated = self._update(user_id, {"role": level.name})
        self._audit.record(actor, "user.role_change", "user", user_id, {"old": old, "new": level.name})
        return updated

    def set_disabled(self, user_id: str, disabled: bool, *, actor: str) -> dict[str, Any]:
        user = self.get(user_id)
        if bool(user.get("disabled")) == disabled:
            return user
        if disabled and user.get("role") == Role.Admin.name and self.count_admins() <= 1:
            raise Conflict("the last Admin cannot be disabled; make another Admin first",
                           details={"userId": user_id})
        updated = self._update(user_id, {"disabled": disabled})
        self._audit.record(actor, "user.disable" if disabled else "user.enable", "user", user_id, {})
        return updated

    def set_password(self, user_id: str, password: str, *, actor: str) -> None:
        reason = pw.problem(password)
        if reason is not None:
            raise InvalidInput(reason, details={"field": "password"})
        self.get(user_id)
        self._update(user_id, {"passwordHash": self._passwords.hash(password)})
        self._audit.record(actor, "user.password_change", "user", user_id, {})

    def check_password(self, email: str, password: str) -> dict[str, Any] | None:
        """The enabled local account these credentials open, or None (same cost whether or not it exists)."""
        user = self.find_by_email(email)
        stored = user.get("passwordHash") if user is not None else None
        ok = self._passwords.verify(stored if isinstance(stored, str) else None, password)
        if not ok or user is None or user.get("disabled"):
            return None
        if isinstance(stored, str) and self._passwords.needs_rehash(stored):
            self._update(user["userId"], {"passwordHash": self._passwords.hash(password)})
        return user

    def record_login(self, user_id: str, at: float) -> None:
        """``lastLoginAt`` moves forward only."""
        with contextlib.suppress(ConditionFailed):
            self._table.update(
                {"userId": user_id}, Update(set={"lastLoginAt": at}),
                condition=exists("userId") & (not_exists("lastLoginAt") | Attr("lastLoginAt", "lt", at)),
            )

    def record_external_login(self, user_id: str, email: str, role: Role, at: float) -> None:
        """Remember a Cognito user (first sight creates the row) and move its ``lastLoginAt`` forward."""
        now = self._clock.now()
        try:
            self._table.update(
                {"userId": user_id},
                Update(set={"kind": "user", "email": email.lower(), "role": role.name, "source": "cognito",
                            "lastLoginAt": at, "updatedAt": now}),
                condition=not_exists("userId") | (eq("kind", "user") & (
                    not_exists("lastLoginAt") | Attr("lastLoginAt", "lt", at))),
            )
        except ConditionFailed:
            return
        with contextlib.suppress(ConditionFailed):
            self._table.update({"userId": user_id}, Update(set={"createdAt": now, "disabled": False}),
                               condition=not_exists("createdAt"))

    def _update(self, user_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self._table.update(
                {"userId": user_id}, Update(set={**values, "updatedAt": self._clock.now()}),
                condition=eq("kind", "user"),
            )
        except ConditionFailed:
            raise NotFound(f"no user {user_id}", details={"userId": user_id}) from None
