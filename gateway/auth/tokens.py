"""The one JWT verifier, for Cognito user-pool tokens and for the embedded identity's own tokens alike.

Checks, in order (each failure is an :class:`InvalidToken` with a reason code, never anything else):

1. shape: a string of three base64url segments, at most 8 KB;
2. header: ``alg`` is exactly ``RS256`` (so ``none`` and HS256-with-the-public-key are refused before any
   key is touched) and ``kid`` names a key of the set (an unknown kid triggers one rate-limited refresh);
3. signature (RS256 only) over the untouched header and payload;
4. claims: ``iss`` equals the expected issuer; ``exp`` (required) and ``nbf``/``iat`` (when present)
   against the injected clock with a small leeway; ``token_use`` equals the configured use; the app
   client id — ``client_id`` for access tokens, ``aud`` for id tokens; a ``sub`` is present.

Cognito issues *access* tokens (``client_id`` claim) and *id* tokens (``aud`` claim). We accept access
tokens by default: they are the ones meant for APIs, and they carry ``cognito:groups``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

import jwt

from gateway.auth.errors import InvalidToken, NoRole
from gateway.auth.jwks import KeySource
from gateway.clock import Clock
from gateway.identity.principal import Role

TokenUse = Literal["access", "id"]
Claims = dict[str, Any]

MAX_TOKEN_LENGTH = 8192
_SEGMENT = r"[A-Za-z0-9_-]+"
_SHAPE = re.compile(rf"^{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}$")


def cognito_issuer(pool_id: str) -> str:
    region = pool_id.split("_", 1)[0]
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def cognito_jwks_url(pool_id: str) -> str:
    return cognito_issuer(pool_id) + "/.well-known/jwks.json"


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        client_id: str,
        clock: Clock,
        token_use: TokenUse = "access",
        leeway: float = 30.0,
    ) -> None:
        if not client_id:
            raise ValueError("a client id is required: tokens for other app clients must be refused")
        self._keys = keys
        self.issuer = issuer
        self.client_id = client_id
        self._clock = clock
        self.token_use = token_use
        self._leeway = leeway

    def verify(self, token: object) -> Claims:
        """The token's claims when every check passes; :class:`InvalidToken` otherwise."""
        if not isinstance(token, str) or not token:
            raise InvalidToken("no token", reason="missing")
        if len(token) > MAX_TOKEN_LENGTH or not _SHAPE.match(token):
            raise InvalidToken("the token is not a JWT", reason="malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token header cannot be read", reason="malformed") from None
        if header.get("alg") != "RS256":
            raise InvalidToken("only RS256 tokens are accepted", reason="bad_algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key", reason="unknown_kid")
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("the token was signed by a key we do not know", reason="unknown_kid")
        try:
            claims: Claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                # Time and audience checks are ours: time comes from the injected clock, and Cognito
                # access tokens carry the client id in ``client_id``, not ``aud``.
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "require": [],
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token signature does not verify", reason="bad_signature") from None
        except jwt.PyJWTError:
            raise InvalidToken("the token cannot be decoded", reason="malformed") from None
        if not isinstance(claims, dict):
            raise InvalidToken("the token payload is not an object", reason="malformed")
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: Claims) -> None:
        if claims.get("iss") != self.issuer:
            raise InvalidToken("the token was issued by someone else", reason="wrong_issuer")
        now = self._clock.now()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise InvalidToken("the token has no expiry", reason="malformed")
        if now > exp + self._leeway:
            raise InvalidToken("the token has expired", reason="expired")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is None:
                continue
            if not _is_number(value):
                raise InvalidToken(f"the token's {name} is not a time", reason="malformed")
            if value > now + self._leeway:
                raise InvalidToken("the token is not valid yet", reason="not_yet_valid")
        if claims.get("token_use") != self.token_use:
            raise InvalidToken(f"only {self.token_use} tokens are accepted", reason="wrong_token_use")
        audience = claims.get("client_id") if self.token_use == "access" else claims.get("aud")
        if audience != self.client_id:
            raise InvalidToken("the token was issued for another app client", reason="wrong_client")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("the token names no subject", reason="malformed")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def role_from_groups(groups: object) -> Role:
    """The highest of the known roles among ``cognito:groups``; a user in several groups gets the highest.

    Group names are matched exactly (Viewer, Operator, Admin); other groups are ignored. No known group
    is :class:`NoRole` (403: the caller is authenticated but may do nothing).
    """
    names: Iterable[object] = groups if isinstance(groups, list) else ()
    roles = [Role[name] for name in names if isinstance(name, str) and name in Role.__members__]
    if not roles:
        raise NoRole("the account is in no role group (Viewer, Operator or Admin)")
    return max(roles)
