"""The two identities behind ``container.identity``: both turn a bearer token into a :class:`Principal`
through the same :class:`TokenVerifier`; only the key set and the issuer differ.

* :class:`CognitoIdentity` (AWS): user-pool access tokens, keys from the pool's JWKS (cached, refreshed
  on rotation), role from ``cognito:groups`` (several groups → the highest; none → 403).
* :class:`LocalIdentity` (embedded default): accounts in the ``Users`` table, ``POST /api/auth/login``
  issues RS256 access tokens shaped like Cognito's (``iss="wecare-local"``, ``token_use="access"``,
  ``client_id``, ``cognito:groups=[role]``, ``sub=userId``, 1 h) signed by the data dir's key and checked
  against a local JWKS. Each request re-reads the account, so a disabled account or a changed role takes
  effect at once rather than when the token expires.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from gateway.audit import AuditLog
from gateway.auth import keys as signing_keys
from gateway.auth.errors import InvalidCredentials, InvalidToken, LoginThrottled, NoRole
from gateway.auth.jwks import Fetch, RemoteJwks, http_fetch
from gateway.auth.throttle import LoginThrottle
from gateway.auth.tokens import TokenUse, TokenVerifier, cognito_issuer, cognito_jwks_url, role_from_groups
from gateway.clock import Clock
from gateway.errors import NotFound
from gateway.identity.principal import Principal, Role
from gateway.users import UserService, public

log = logging.getLogger("wecare.auth")

LOCAL_ISSUER = "wecare-local"
LOCAL_CLIENT_ID = "wecare-local-ui"
LOCAL_TOKEN_TTL = 3600
# The account's session epoch a local token was issued in; a password change moves the account's on.
SESSION_EPOCH_CLAIM = "wecare:sessionEpoch"


class CognitoIdentity:
    local = False

    def __init__(self, verifier: TokenVerifier, users: UserService | None = None) -> None:
        self.verifier = verifier
        self._users = users
        self._seen: OrderedDict[tuple[str, float], None] = OrderedDict()
        self._seen_lock = threading.Lock()

    def verify(self, token: str) -> Principal:
        claims = self.verifier.verify(token)
        role = role_from_groups(claims.get("cognito:groups"))
        sub = str(claims["sub"])
        email = str(claims.get("email") or claims.get("username") or sub)
        self._note_login(sub, email, role, claims.get("auth_time"))
        return Principal(user_id=sub, email=email, role=role, issuer="cognito")

    def _note_login(self, sub: str, email: str, role: Role, auth_time: Any) -> None:
        # One Users write per sign-in (auth_time), not per request: remember what we have recorded.
        if self._users is None or not isinstance(auth_time, int | float) or isinstance(auth_time, bool):
            return
        key = (sub, float(auth_time))
        with self._seen_lock:
            if key in self._seen:
                return
            self._seen[key] = None
            while len(self._seen) > 10_000:
                self._seen.popitem(last=False)
        try:
            self._users.record_external_login(sub, email, role, float(auth_time))
        except Exception:  # recording a login must never refuse a valid token
            log.exception("could not record a Cognito sign-in", extra={"userId": sub})


class LocalTokenSigner:
    def __init__(
        self,
        key: signing_keys.SigningKey,
        clock: Clock,
        *,
        issuer: str = LOCAL_ISSUER,
        client_id: str = LOCAL_CLIENT_ID,
        ttl: int = LOCAL_TOKEN_TTL,
    ) -> None:
        self._key = key
        self._clock = clock
        self.issuer = issuer
        self.client_id = client_id
        self.ttl = ttl

    def issue(self, user_id: str, email: str, role: Role, *, session_epoch: int = 0) -> str:
        now = int(self._clock.now())
        claims = {
            SESSION_EPOCH_CLAIM: session_epoch,
            "iss": self.issuer,
            "sub": user_id,
            "client_id": self.client_id,
            "token_use": "access",
            "cognito:groups": [role.name],
            "username": email,
            "email": email,
            "scope": "wecare/api",
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl,
            "auth_time": now,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key.private_key, algorithm="RS256", headers={"kid": self._key.kid})


@dataclass(frozen=True)
class LoginResult:
    access_token: str
    expires_in: int
    user: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "accessToken": self.access_token,
            "tokenType": "Bearer",
            "expiresIn": self.expires_in,
            "user": self.user,
        }


class LocalIdentity:
    local = True

    def __init__(
        self,
        verifier: TokenVerifier,
        signer: LocalTokenSigner,
        *,
        users: UserService,
        audit: AuditLog,
        clock: Clock,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.verifier = verifier
        self.signer = signer
        self.users = users
        self._audit = audit
        self._clock = clock
        self.throttle = throttle or LoginThrottle(clock)

    def verify(self, token: str) -> Principal:
        claims = self.verifier.verify(token)
        # A token without a role group is refused exactly like a Cognito one.
        role_from_groups(claims.get("cognito:groups"))
        try:
            user = self.users.get(str(claims["sub"]))
        except NotFound:
            raise InvalidToken("the account no longer exists", reason="unknown_user") from None
        if user.get("disabled"):
            raise InvalidToken("the account is disabled", reason="disabled")
        if claims.get(SESSION_EPOCH_CLAIM, 0) != user.get("sessionEpoch", 0):
            # Issued before the account's password changed: that ended every session it had.
            raise InvalidToken("the session has ended", reason="revoked")
        try:
            role = Role.parse(str(user.get("role")))
        except ValueError:
            raise NoRole("the account has no valid role") from None
        return Principal(user_id=user["userId"], email=str(user.get("email", "")), role=role, issuer="local")

    def token_for(self, user: dict[str, Any]) -> LoginResult:
        """A fresh token for an account as it is now (after its own password change, for this client)."""
        role = Role.parse(str(user["role"]))
        token = self.signer.issue(
            user["userId"], str(user["email"]), role, session_epoch=int(user.get("sessionEpoch", 0))
        )
        return LoginResult(token, self.signer.ttl, public(user))

    def login(self, email: str, password: str, *, client: str) -> LoginResult:
        """A token for these credentials; every attempt is logged and audited (never the password).

        A throttled *account* is refused before its password is checked. A throttled *address* is not:
        people behind one NAT share it, so its right passwords still sign in and only its wrong ones
        are answered 429 instead of 401 (see :mod:`gateway.auth.throttle`). The check runs either
        way, so the answer's timing says no more than its status.
        """
        account = email.strip() if isinstance(email, str) else ""
        try:
            self.throttle.check_account(account)
        except LoginThrottled as exc:
            self._outcome("throttled", account, client, None, reason=f"throttled_{exc.scope}")
            raise
        # Read before this attempt counts: an address is answered 429 only when it failed too fast.
        over_pace = self.throttle.client_wait(client) > 0
        user = self.users.check_password(account, password) if account and password else None
        if user is None:
            self.throttle.failure(account, client)
            known = self.users.find_by_email(account) if account else None
            reason = (
                "unknown_account"
                if known is None
                else ("disabled" if known.get("disabled") else "bad_password")
            )
            self._outcome(
                "failure",
                account,
                client,
                known["userId"] if known else None,
                reason=reason,
                throttled="client" if over_pace else None,
            )
            if over_pace:
                raise LoginThrottled(
                    "too many failed sign-in attempts; try again later",
                    retry_after=self.throttle.client_wait(client),
                    scope="client",
                )
            raise InvalidCredentials("wrong e-mail or password")
        self.throttle.success(account)  # clears the account only; the address keeps its failures
        now = self._clock.now()
        self.users.record_login(user["userId"], now)
        role = Role.parse(str(user["role"]))
        token = self.signer.issue(
            user["userId"], str(user["email"]), role, session_epoch=int(user.get("sessionEpoch", 0))
        )
        self._outcome("success", account, client, user["userId"], reason="ok")
        user = {**user, "lastLoginAt": now}
        return LoginResult(token, self.signer.ttl, public(user))

    def _outcome(
        self,
        outcome: str,
        account: str,
        client: str,
        user_id: str | None,
        *,
        reason: str,
        throttled: str | None = None,
    ) -> None:
        fields = {
            "event": "auth.login",
            "outcome": outcome,
            "user": account,
            "userId": user_id or "anonymous",
            "source": client,
            "reason": reason,
        }
        details = {"email": account, "source": client, "reason": reason}
        if throttled is not None:
            fields["throttled"] = details["throttled"] = throttled
        if outcome == "success":
            log.info("sign-in succeeded", extra=fields)
        else:
            log.warning("sign-in refused", extra=fields)
        try:
            self._audit.record(
                user_id or "anonymous", f"auth.login.{outcome}", "user", user_id or account, details
            )
        except Exception:
            log.exception("could not audit a sign-in attempt")


def local_identity(
    data_dir: Path,
    *,
    users: UserService,
    audit: AuditLog,
    clock: Clock,
    token_ttl: int = LOCAL_TOKEN_TTL,
    throttle: LoginThrottle | None = None,
) -> LocalIdentity:
    """The embedded identity over ``data_dir`` (signing key created there on first use)."""
    key, jwks = signing_keys.local_jwks(data_dir)
    verifier = TokenVerifier(jwks, issuer=LOCAL_ISSUER, client_id=LOCAL_CLIENT_ID, clock=clock)
    signer = LocalTokenSigner(key, clock, ttl=token_ttl)
    return LocalIdentity(verifier, signer, users=users, audit=audit, clock=clock, throttle=throttle)


def cognito_identity(
    *,
    pool_id: str,
    client_id: str,
    clock: Clock,
    fetch: Fetch = http_fetch,
    users: UserService | None = None,
    token_use: TokenUse = "access",
    leeway: float = 30.0,
    min_refresh_interval: float = 60.0,
) -> CognitoIdentity:
    """The AWS identity: tokens of user pool ``pool_id`` for app client ``client_id``."""
    jwks = RemoteJwks(cognito_jwks_url(pool_id), fetch, clock, min_refresh_interval=min_refresh_interval)
    verifier = TokenVerifier(
        jwks,
        issuer=cognito_issuer(pool_id),
        client_id=client_id,
        clock=clock,
        token_use=token_use,
        leeway=leeway,
    )
    return CognitoIdentity(verifier, users)
