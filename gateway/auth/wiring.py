"""Wiring of identity, audit, users and contacts into a container (called by the composition root).

After :func:`wire_identity` the container has ``audit`` (:class:`AuditLog`), ``users``
(:class:`UserService`), ``contacts`` (:class:`ContactService`) and ``identity``: the embedded identity
over the data dir's signing key, or — for the ``lambda`` runtime — Cognito user pool
``COGNITO_USER_POOL_ID`` for app client ``COGNITO_APP_CLIENT_ID``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.audit import AuditLog
from gateway.auth.identity import cognito_identity, local_identity
from gateway.auth.jwks import Fetch, http_fetch
from gateway.auth.passwords import Passwords
from gateway.contacts.service import WINDOW_SECONDS, ContactService
from gateway.outbound.policy_input import window_seconds_from_params
from gateway.users import UserService


def wire_identity(
    container: Any,
    *,
    data_dir: Path | None = None,
    fetch: Fetch | None = None,
    passwords: Passwords | None = None,
    default_region: str | None = None,
) -> None:
    clock, tables, settings = container.clock, container.tables, container.settings
    audit = AuditLog(tables, clock)
    users = UserService(tables, clock, audit, passwords)
    contacts = ContactService(tables, clock, audit, default_region=default_region,
                              window_seconds=_window_seconds(getattr(container, "bundle", None)))
    if container.runtime == "lambda":
        identity: Any = cognito_identity(
            pool_id=settings.COGNITO_USER_POOL_ID, client_id=settings.COGNITO_APP_CLIENT_ID,
            clock=clock, fetch=fetch or http_fetch, users=users,
        )
    else:
        identity = local_identity(data_dir or Path(settings.WECARE_DATA_DIR), users=users, audit=audit,
                                  clock=clock)
    container.audit = audit
    container.users = users
    container.contacts = contacts
    container.identity = identity


def _window_seconds(bundle: Any) -> int:
    """The bundle's WhatsApp window (``params.whatsapp.windowSeconds``) when a bundle is loaded."""
    if bundle is None:
        return WINDOW_SECONDS
    return window_seconds_from_params(bundle.params)


def first_admin_lines(container: Any, email: str = "admin@wecare.digital") -> list[str]:
    """On a store without users, create an Admin and return the lines that show its sign-in (print once)."""
    users: UserService | None = getattr(container, "users", None)
    if users is None or not getattr(getattr(container, "identity", None), "local", False):
        return []
    created = users.ensure_first_admin(email)
    if created is None:
        return []
    user, password = created
    return [
        "First start: an Admin account was created. Its password is shown only this once:",
        f"  e-mail:   {user['email']}",
        f"  password: {password}",
        "Add more accounts with: wecare users add EMAIL --role Viewer|Operator|Admin",
    ]
