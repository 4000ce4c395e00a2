"""User accounts in the ``Users`` table: local (embedded) accounts with Argon2 password hashes, and the
accounts Cognito signs in (recorded on first sight so ``lastLoginAt`` is kept in AWS too).

Items: ``userId`` (``usr_`` + uuid hex for local accounts, the Cognito ``sub`` otherwise), ``kind="user"``,
``email`` (lower-cased; the ``byEmail`` index), ``role``, ``disabled``, ``source`` (local | cognito),
``createdAt``, ``updatedAt``, ``lastLoginAt`` (absent until the first sign-in), ``passwordHash`` (local
only; never leaves this module — see :func:`public`), ``rev`` (bumped by every change of ``role`` or
``disabled``; absent on rows written before it existed, which reads as 0).

E-mail uniqueness comes from a guard item ``userId="email#<address>"`` (``kind="guard"``) written with a
must-not-exist condition; guards never carry ``email`` (the index key).

The last-Admin rule ("there is always an enabled Admin") comes from the guard item
``userId="guard#admins"`` (``kind="guard"``): ``admins`` (the ids of enabled local Admins), ``version``
(every write is conditional on it: optimistic concurrency, as the store has no multi-item
transactions) and ``removing`` (user id → ``{"rev", "at"}``: the account revision a removal was decided
on, and when). Invariant: every
id in ``admins`` is an enabled Admin, so a guard that never becomes empty means an Admin always exists.
Kept by ordering the two writes so a crash between them can only make the guard under-count:

* an Admin leaving (disabled or demoted): the guard drops it first (refused when none would be left),
  then the account changes, conditional on the ``rev`` the decision was made on;
* an Admin arriving (created, enabled or promoted): the account changes first, then the guard takes
  it, unless a removal decided at that same ``rev`` may still be on its way (``removing``): adding
  it then could leave a disabled account in the guard.

A missing guard (stores from before it) is built from a scan of enabled Admins with a must-not-exist
put. An under-counting one (after a crash) is repaired from a scan when it would refuse a removal; an
Admin whose removal was decided over a minute ago but never written is first *fenced* (its ``rev``
bumped, so that removal's conditional account write can never land) and then counted again.
Cognito accounts are never in the guard: their role is Cognito's (rewritten at every sign-in from the
pool's groups, disabled in the pool where this service cannot see it), so counting them could claim an
Admin that no longer is one; and with Cognito the user-administration API is refused anyway.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email

from gateway.audit import AuditLog
from gateway.clock import Clock
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.identity import passwords as pw
from gateway.identity.principal import Role
from gateway.store.conditions import Attr, Condition, eq, exists, not_exists
from gateway.store.cursor import as_invalid_input
from gateway.store.port import ConditionFailed, Item, Tables, Update

log = logging.getLogger("wecare.users")

PUBLIC_FIELDS = ("userId", "email", "role", "disabled", "source", "createdAt", "updatedAt", "lastLoginAt")
ADMIN_GUARD_ID = "guard#admins"
# Optimistic retries against other Admins' changes; only a storm of concurrent changes exhausts them.
_ATTEMPTS = 50
# A removal that has not written its account this long after deciding is taken to have crashed. Only
# liveness depends on it: the fence makes even a late write of a live one fail.
STALE_REMOVAL_SECONDS = 60.0


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


def counts_as_admin(user: Mapping[str, Any]) -> bool:
    """An enabled local Admin: what the last-Admin guard counts."""
    return (
        user.get("kind") == "user"
        and user.get("role") == Role.Admin.name
        and not user.get("disabled")
        and user.get("source") != "cognito"
    )


def _rev(user: Mapping[str, Any]) -> int:
    value = user.get("rev", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _at_rev(rev: int) -> Condition:
    same = eq("rev", rev)
    return eq("kind", "user") & ((not_exists("rev") | same) if rev == 0 else same)


def _role_rank(name: object) -> int:
    try:
        return int(Role.parse(str(name)))
    except ValueError:
        return 0


@dataclass(frozen=True)
class AdminGuard:
    """The ``guard#admins`` item as read: what the next conditional write is based on."""

    version: int
    admins: tuple[str, ...]
    removing: Mapping[str, tuple[int, float]]  # user id -> (rev the removal was decided on, when)

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> AdminGuard:
        version = item.get("version", 0)
        admins = item.get("admins") or []
        removing: dict[str, tuple[int, float]] = {}
        for user_id, entry in (item.get("removing") or {}).items():
            rev, at = (entry.get("rev"), entry.get("at")) if isinstance(entry, Mapping) else (None, None)
            if isinstance(rev, int) and not isinstance(rev, bool) and isinstance(at, int | float):
                removing[user_id] = (rev, float(at))
        return cls(
            version=version if isinstance(version, int) and not isinstance(version, bool) else 0,
            admins=tuple(sorted({a for a in admins if isinstance(a, str)})),
            removing=removing,
        )

    def removal_rev(self, user_id: str) -> int:
        """The newest revision a removal of ``user_id`` was decided on (-1: none pending)."""
        entry = self.removing.get(user_id)
        return entry[0] if entry is not None else -1


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

    def email_of(self, actor: object) -> str | None:
        """The e-mail of a local or Cognito account id (``usr_…`` or a ``sub``), for showing who did
        something; None for a system actor (``bulk:…``, ``system:…``) or an account that is gone."""
        if not isinstance(actor, str) or not actor or ":" in actor:
            return None
        try:
            user = self.get(actor)
        except NotFound:
            return None
        email = user.get("email")
        return str(email) if email else None

    def find_by_email(self, email: str) -> dict[str, Any] | None:
        try:
            address = normalise_email(email)
        except InvalidInput:
            return None
        page = self._table.query(address, index="byEmail", filter=eq("kind", "user"), limit=1)
        return page.items[0] if page.items else None

    def list_page(self, *, limit: int = 50, cursor: str | None = None) -> UserPage:
        with as_invalid_input():  # a cursor this API did not issue is the caller's mistake (422)
            page = self._table.scan(filter=eq("kind", "user"), limit=max(1, min(limit, 200)), cursor=cursor)
        return UserPage(page.items, page.cursor)

    def count_admins(self) -> int:
        """Enabled Admins by a scan: a snapshot for display; decisions go through the guard item."""
        return sum(1 for _ in self._enabled_admins())

    def admin_guard(self) -> AdminGuard:
        """The last-Admin guard (built from a scan when the store predates it)."""
        item = self._table.get({"userId": ADMIN_GUARD_ID})
        return AdminGuard.of(item if item is not None else self._build_admin_guard())

    def _enabled_admins(self) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self._table.scan(
                filter=eq("kind", "user") & eq("role", Role.Admin.name) & Attr("disabled", "ne", True),
                limit=200,
                cursor=cursor,
            )
            yield from page.items
            cursor = page.cursor
            if cursor is None:
                return

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
            "userId": user_id,
            "kind": "user",
            "email": address,
            "role": level.name,
            "disabled": False,
            "source": "local",
            "createdAt": now,
            "updatedAt": now,
            "rev": 0,
            "passwordHash": self._passwords.hash(password),
        }
        self._table.put(item, condition=not_exists("userId"))
        if counts_as_admin(item):
            self._admit(user_id, 0)  # after the account exists: a crash in between only under-counts
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
        updated, before = self._change_access(
            user_id,
            lambda user: None if user.get("role") == level.name else {"role": level.name},
            actor=actor,
            verb="demote",
        )
        if before is not None:
            self._audit.record(
                actor, "user.role_change", "user", user_id, {"old": before.get("role"), "new": level.name}
            )
        return updated

    def set_disabled(self, user_id: str, disabled: bool, *, actor: str) -> dict[str, Any]:
        updated, before = self._change_access(
            user_id,
            lambda user: None if bool(user.get("disabled")) == disabled else {"disabled": disabled},
            actor=actor,
            verb="disable",
        )
        if before is not None:
            self._audit.record(actor, "user.disable" if disabled else "user.enable", "user", user_id, {})
        return updated

    def set_password(self, user_id: str, password: str, *, actor: str, field: str = "password") -> None:
        """A new password; every session of the account ends (its ``sessionEpoch`` moves on, and a
        token carries the epoch it was issued in)."""
        reason = pw.problem(password)
        if reason is not None:
            raise InvalidInput(reason, details={"field": field})
        self.get(user_id)
        self._update(user_id, {"passwordHash": self._passwords.hash(password)}, add={"sessionEpoch": 1})
        how = "own" if actor == user_id else "set"
        self._audit.record(
            actor, "user.password_change", "user", user_id, {"how": how, "sessionsEnded": True}
        )

    def change_own_password(self, user_id: str, current: str, new: str) -> dict[str, Any]:
        """The signed-in user's own change: the current password must be right (422 otherwise)."""
        user = self.get(user_id)
        if self.check_password(str(user.get("email", "")), current) is None:
            self._audit.record(user_id, "user.password_change.refused", "user", user_id, {"reason": "wrong"})
            raise InvalidInput(
                "the current password is not right",
                code="WRONG_PASSWORD",
                details={"fields": [{"field": "currentPassword", "problem": "not the current password"}]},
            )
        if new == current:
            raise InvalidInput(
                "the new password is the same as the current one",
                details={"fields": [{"field": "newPassword", "problem": "same as the current password"}]},
            )
        self.set_password(user_id, new, actor=user_id, field="newPassword")
        return self.get(user_id)

    def reset_password(self, user_id: str, *, actor: str) -> tuple[dict[str, Any], str]:
        """An Admin's reset: a generated one-time password (returned once, only its hash is kept)."""
        password = pw.generate()
        self.set_password(user_id, password, actor=actor)
        return self.get(user_id), password

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
                {"userId": user_id},
                Update(set={"lastLoginAt": at}),
                condition=exists("userId") & (not_exists("lastLoginAt") | Attr("lastLoginAt", "lt", at)),
            )

    def record_external_login(self, user_id: str, email: str, role: Role, at: float) -> None:
        """Remember a Cognito user (first sight creates the row) and move its ``lastLoginAt`` forward.

        Cognito accounts stay out of the last-Admin guard (see the module docstring), and a local
        account is never rewritten here: its role may change only through the guard.
        """
        now = self._clock.now()
        try:
            self._table.update(
                {"userId": user_id},
                Update(
                    set={
                        "kind": "user",
                        "email": email.lower(),
                        "role": role.name,
                        "source": "cognito",
                        "lastLoginAt": at,
                        "updatedAt": now,
                    }
                ),
                condition=not_exists("userId")
                | (
                    eq("kind", "user")
                    & Attr("source", "ne", "local")
                    & (not_exists("lastLoginAt") | Attr("lastLoginAt", "lt", at))
                ),
            )
        except ConditionFailed:
            return
        with contextlib.suppress(ConditionFailed):
            self._table.update(
                {"userId": user_id},
                Update(set={"createdAt": now, "disabled": False}),
                condition=not_exists("createdAt"),
            )

    # ---- the last-Admin guard ----------------------------------------------------------------------
    def _change_access(
        self,
        user_id: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        *,
        actor: str,
        verb: Literal["demote", "disable"],
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Apply a role/disabled change under the guard; (the account after, before) or (it, None) if no-op.

        Every attempt re-reads the account and decides again, so a change raced by another one is
        judged on what the account has become, never on what it was.
        """
        repaired = False
        for _ in range(_ATTEMPTS):
            user = self.get(user_id)
            values = change(user)
            if values is None:
                return user, None
            after = {**user, **values}
            if actor == user_id and (
                after.get("disabled") is True or _role_rank(after.get("role")) < _role_rank(user.get("role"))
            ):
                # An Admin locking themselves out is a mistake far more often than an intent, and
                # the last-Admin rule must not be the only thing stopping the last one doing it.
                raise Conflict(
                    f"you cannot {verb} your own account; ask another Admin to do it",
                    details={"reason": "self", "userId": user_id},
                )
            rev = _rev(user)
            if counts_as_admin(user) and not counts_as_admin(after):
                guard = self.admin_guard()
                others = [a for a in guard.admins if a != user_id]
                if not others:
                    if not repaired and self._repair_admin_guard(guard):
                        repaired = True
                        continue
                    raise Conflict(
                        f"the last Admin cannot be {verb}d; make another Admin first",
                        details={"reason": "last_admin", "userId": user_id},
                    )
                pending = (max(rev, guard.removal_rev(user_id)), self._clock.now())
                removing = {**guard.removing, user_id: pending}
                if not self._write_guard(guard, others, removing):
                    continue  # another change of the Admins came first: decide again
            try:
                updated = self._table.update(
                    {"userId": user_id},
                    Update(set={**values, "updatedAt": self._clock.now()}, add={"rev": 1}),
                    condition=_at_rev(rev),
                )
            except ConditionFailed:
                continue  # the account changed (or went) meanwhile: decide again on what it is now
            if counts_as_admin(updated) and not counts_as_admin(user):
                self._admit(user_id, _rev(updated))
            return updated, user
        raise Conflict(
            "the account kept changing while this change was tried; try again",
            details={"reason": "contention", "userId": user_id},
        )

    def _admit(self, user_id: str, rev: int) -> bool:
        """Add an account that is an enabled Admin at ``rev`` to the guard; True when it was added."""
        for _ in range(_ATTEMPTS):
            guard = self.admin_guard()
            if user_id in guard.admins:
                return False
            if guard.removal_rev(user_id) >= rev:
                # A removal decided at this revision may not have written the account yet; once it
                # does, an entry added now would count a disabled account. Leaving it out only
                # under-counts (_repair_admin_guard fences and adds it if that removal never lands).
                return False
            removing = {k: v for k, v in guard.removing.items() if k != user_id}
            if self._write_guard(guard, [*guard.admins, user_id], removing):
                return True
        log.warning(
            "the last-Admin guard kept changing; an Admin is not counted yet", extra={"userId": user_id}
        )
        return False

    def _repair_admin_guard(self, guard: AdminGuard) -> bool:
        """Add enabled Admins the guard misses (left out by a crash between two writes); True if any."""
        added = False
        now = self._clock.now()
        for user in self._enabled_admins():
            user_id = user["userId"]
            if not counts_as_admin(user) or user_id in guard.admins:
                continue
            rev = _rev(user)
            pending = guard.removing.get(user_id)
            if pending is not None and pending[0] >= rev:
                if now - pending[1] < STALE_REMOVAL_SECONDS:
                    continue  # that removal is probably still on its way: let it finish
                try:
                    # The fence: its account write is conditional on ``rev``, so it can never land now.
                    fenced = self._table.update(
                        {"userId": user_id}, Update(add={"rev": 1}), condition=_at_rev(rev)
                    )
                except ConditionFailed:
                    continue  # the account changed meanwhile; whoever changed it keeps the guard right
                rev = _rev(fenced)
            added = self._admit(user_id, rev) or added
        return added

    def _build_admin_guard(self) -> Item:
        now = self._clock.now()
        admins = sorted(u["userId"] for u in self._enabled_admins() if counts_as_admin(u))
        item: Item = {
            "userId": ADMIN_GUARD_ID,
            "kind": "guard",
            "admins": admins,
            "removing": {},
            "version": 0,
            "createdAt": now,
            "updatedAt": now,
        }
        try:
            self._table.put(item, condition=not_exists("userId"))
        except ConditionFailed:
            # Built by another process meanwhile: no removal can have happened before a guard existed,
            # so whichever snapshot won is sound.
            found = self._table.get({"userId": ADMIN_GUARD_ID})
            if found is None:
                raise Conflict(
                    "the Admin guard changed while it was built; try again", details={"reason": "contention"}
                ) from None
            return found
        return item

    def _write_guard(
        self, guard: AdminGuard, admins: list[str], removing: Mapping[str, tuple[int, float]]
    ) -> bool:
        entries = {user_id: {"rev": rev, "at": at} for user_id, (rev, at) in removing.items()}
        try:
            self._table.update(
                {"userId": ADMIN_GUARD_ID},
                Update(
                    set={"admins": sorted(admins), "removing": entries, "updatedAt": self._clock.now()},
                    add={"version": 1},
                ),
                condition=eq("kind", "guard") & eq("version", guard.version),
            )
        except ConditionFailed:
            return False
        return True

    def _update(
        self, user_id: str, values: Mapping[str, Any], *, add: Mapping[str, int] | None = None
    ) -> dict[str, Any]:
        try:
            return self._table.update(
                {"userId": user_id},
                Update(set={**values, "updatedAt": self._clock.now()}, add=dict(add or {})),
                condition=eq("kind", "user"),
            )
        except ConditionFailed:
            raise NotFound(f"no user {user_id}", details={"userId": user_id}) from None
