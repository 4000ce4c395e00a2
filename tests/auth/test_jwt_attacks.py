"""JWT verification: one verifier for Cognito and local tokens; every attack is a 401, never a 5xx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from gateway.auth.errors import InvalidToken, NoRole
from gateway.auth.jwks import RemoteJwks
from gateway.auth.tokens import TokenVerifier, cognito_issuer, cognito_jwks_url, role_from_groups
from gateway.clock import FakeClock
from gateway.identity.passwords import Passwords
from gateway.identity.principal import Role

from .support import (
    CLIENT_ID,
    ISSUER,
    POOL_ID,
    FakeJwksEndpoint,
    MintToken,
    World,
    b64,
    bearer,
    cognito_claims,
    cognito_world,
    jwks_document,
)


@pytest.fixture
def endpoint(pool_key: RSAPrivateKey) -> FakeJwksEndpoint:
    return FakeJwksEndpoint(jwks_document(("pool-kid-1", pool_key)))


@pytest.fixture
def verifier(endpoint: FakeJwksEndpoint, clock: FakeClock) -> TokenVerifier:
    jwks = RemoteJwks(cognito_jwks_url(POOL_ID), endpoint, clock, min_refresh_interval=60)
    return TokenVerifier(jwks, issuer=ISSUER, client_id=CLIENT_ID, clock=clock)


@pytest.fixture
def cworld(tmp_path: Path, clock: FakeClock, cheap_passwords: Passwords, endpoint: FakeJwksEndpoint) -> World:
    return cognito_world(tmp_path, clock, cheap_passwords, endpoint)


def _sign_hs256(header: dict[str, object], claims: dict[str, object], secret: bytes) -> str:
    signing_input = f"{b64(header)}.{b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _tamper(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{b64(claims)}.{signature}"


Attack = Callable[[MintToken, RSAPrivateKey, RSAPrivateKey, FakeClock], str]

ATTACKS: dict[str, tuple[Attack, str]] = {
    "alg none, empty signature": (
        lambda mint, pk, ok, clock: (
            f"{b64({'alg': 'none', 'kid': 'pool-kid-1'})}.{b64(cognito_claims(clock.now()))}."
        ),
        "malformed",
    ),
    "alg none, junk signature": (
        lambda mint, pk, ok, clock: (
            f"{b64({'alg': 'none', 'kid': 'pool-kid-1'})}.{b64(cognito_claims(clock.now()))}.c2ln"
        ),
        "bad_algorithm",
    ),
    "HS256 signed with the public key": (
        lambda mint, pk, ok, clock: _sign_hs256(
            {"alg": "HS256", "kid": "pool-kid-1", "typ": "JWT"},
            cognito_claims(clock.now()),
            pk.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        ),
        "bad_algorithm",
    ),
    "RS512 with the right key": (
        lambda mint, pk, ok, clock: jwt.encode(
            cognito_claims(clock.now()), pk, algorithm="RS512", headers={"kid": "pool-kid-1"}
        ),
        "bad_algorithm",
    ),
    "unknown kid": (lambda mint, pk, ok, clock: mint(_key=ok, _kid="attacker-kid"), "unknown_kid"),
    "no kid": (
        lambda mint, pk, ok, clock: jwt.encode(cognito_claims(clock.now()), pk, algorithm="RS256"),
        "unknown_kid",
    ),
    "our kid, another key": (lambda mint, pk, ok, clock: mint(_key=ok), "bad_signature"),
    "expired": (
        lambda mint, pk, ok, clock: mint(exp=int(clock.now()) - 3600, iat=int(clock.now()) - 7200),
        "expired",
    ),
    "not yet valid (nbf)": (lambda mint, pk, ok, clock: mint(nbf=int(clock.now()) + 3600), "not_yet_valid"),
    "issued in the future (iat)": (
        lambda mint, pk, ok, clock: mint(iat=int(clock.now()) + 3600),
        "not_yet_valid",
    ),
    "no expiry": (lambda mint, pk, ok, clock: mint(exp=None), "malformed"),
    "wrong issuer": (
        lambda mint, pk, ok, clock: mint(iss=cognito_issuer("us-east-1_Another12")),
        "wrong_issuer",
    ),
    "wrong client id": (lambda mint, pk, ok, clock: mint(client_id="some-other-app-client"), "wrong_client"),
    "id token where access is required": (
        lambda mint, pk, ok, clock: mint(token_use="id", client_id=None, aud=CLIENT_ID),
        "wrong_token_use",
    ),
    "tampered payload (Viewer → Admin)": (
        lambda mint, pk, ok, clock: _tamper(
            mint(**{"cognito:groups": ["Viewer"]}), **{"cognito:groups": ["Admin"]}
        ),
        "bad_signature",
    ),
    "tampered payload (expiry extended)": (
        lambda mint, pk, ok, clock: _tamper(
            mint(exp=int(clock.now()) - 10_000), exp=int(clock.now()) + 10_000
        ),
        "bad_signature",
    ),
    "malformed header (not base64)": (lambda mint, pk, ok, clock: "!!!!.eyJ9.c2ln", "malformed"),
    "malformed header (not JSON)": (
        lambda mint, pk, ok, clock: (
            base64.urlsafe_b64encode(b"{not json").decode().rstrip("=") + ".eyJ9.c2ln"
        ),
        "malformed",
    ),
    "malformed header (JSON array)": (
        lambda mint, pk, ok, clock: base64.urlsafe_b64encode(b"[1,2]").decode().rstrip("=") + ".eyJ9.c2ln",
        "malformed",
    ),
    "two segments": (lambda mint, pk, ok, clock: ".".join(mint().split(".")[:2]), "malformed"),
    "oversized": (lambda mint, pk, ok, clock: "a" * 9000 + ".b.c", "malformed"),
    "a token from another pool": (
        lambda mint, pk, ok, clock: mint(
            _key=ok, _kid="other-pool-kid", iss=cognito_issuer("eu-west-1_OtherPool1")
        ),
        "unknown_kid",
    ),
    "another pool's token re-labelled with our kid": (
        lambda mint, pk, ok, clock: mint(_key=ok, iss=cognito_issuer("eu-west-1_OtherPool1")),
        "bad_signature",
    ),
}


Forge = Callable[[str], str]


@pytest.fixture
def forge(mint: MintToken, pool_key: RSAPrivateKey, other_key: RSAPrivateKey, clock: FakeClock) -> Forge:
    """forge(attack name) -> the attacker's token."""
    return lambda name: ATTACKS[name][0](mint, pool_key, other_key, clock)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_refused_by_the_verifier(name: str, verifier: TokenVerifier, forge: Forge) -> None:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(forge(name))
    assert caught.value.reason == ATTACKS[name][1]


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_a_401_through_the_api(name: str, cworld: World, forge: Forge) -> None:
    reply = cworld.client.get("/api/contacts", headers=bearer(forge(name)))
    assert reply.status_code == 401, reply.text
    assert reply.json()["error"]["code"] == "UNAUTHENTICATED"


def test_a_valid_pool_token_is_accepted(cworld: World, mint: MintToken) -> None:
    reply = cworld.client.get("/api/me", headers=bearer(mint()))
    assert reply.status_code == 200
    assert reply.json() == {
        "userId": "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab",
        "email": "olivia",
        "role": "Operator",
        "issuer": "cognito",
        "sendingPaused": None,
    }


def test_expiry_has_a_small_leeway(verifier: TokenVerifier, mint: MintToken, clock: FakeClock) -> None:
    token = mint(exp=int(clock.now()) - 20)
    assert verifier.verify(token)["sub"]
    clock.advance(15)  # now 35 s past exp: beyond the 30 s leeway
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)


def test_an_expired_token_says_so(cworld: World, mint: MintToken, clock: FakeClock) -> None:
    reply = cworld.client.get("/api/me", headers=bearer(mint(exp=int(clock.now()) - 100)))
    assert reply.status_code == 401
    assert reply.json()["error"]["details"] == {"reason": "expired"}


def test_id_tokens_can_be_chosen_instead(
    endpoint: FakeJwksEndpoint, clock: FakeClock, mint: MintToken
) -> None:
    jwks = RemoteJwks(cognito_jwks_url(POOL_ID), endpoint, clock)
    ids = TokenVerifier(jwks, issuer=ISSUER, client_id=CLIENT_ID, clock=clock, token_use="id")
    assert ids.verify(mint(token_use="id", client_id=None, aud=CLIENT_ID))["token_use"] == "id"
    with pytest.raises(InvalidToken, match="another app client"):
        ids.verify(mint(token_use="id", client_id=None, aud="other-client"))
    with pytest.raises(InvalidToken):
        ids.verify(mint())  # an access token


@pytest.mark.parametrize(
    ("groups", "role"),
    [
        (["Viewer"], Role.Viewer),
        (["Operator"], Role.Operator),
        (["Admin"], Role.Admin),
        (["Viewer", "Admin"], Role.Admin),
        (["Operator", "Viewer", "marketing"], Role.Operator),
    ],
)
def test_the_highest_group_is_the_role(groups: list[str], role: Role) -> None:
    assert role_from_groups(groups) is role


@pytest.mark.parametrize("groups", [None, [], ["marketing"], "Admin", ["admin"], [1, 2]])
def test_no_known_group_is_no_role(groups: object) -> None:
    with pytest.raises(NoRole):
        role_from_groups(groups)


def test_a_token_without_a_role_group_is_403_and_audited(cworld: World, mint: MintToken) -> None:
    reply = cworld.client.get("/api/contacts", headers=bearer(mint(**{"cognito:groups": None})))
    assert reply.status_code == 403
    records = cworld.audit_records("authz.denied")
    assert len(records) == 1
    assert records[0]["userId"] == "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"
    assert records[0]["details"]["reason"] == "no_role"


def test_a_cognito_sign_in_is_recorded_once_per_sign_in(
    cworld: World, mint: MintToken, clock: FakeClock
) -> None:
    first = int(clock.now())
    for _ in range(3):
        assert cworld.client.get("/api/me", headers=bearer(mint(auth_time=first))).status_code == 200
    user = cworld.users.get("0f1e2d3c-aaaa-bbbb-cccc-1234567890ab")
    assert user["lastLoginAt"] == first and user["source"] == "cognito" and user["role"] == "Operator"
    clock.advance(600)
    assert cworld.client.get("/api/me", headers=bearer(mint(auth_time=int(clock.now())))).status_code == 200
    assert cworld.users.get("0f1e2d3c-aaaa-bbbb-cccc-1234567890ab")["lastLoginAt"] == first + 600


def test_local_and_cognito_tokens_do_not_cross(world: World, cworld: World, mint: MintToken) -> None:
    local_token = world.account("Admin")
    # The local identity refuses a pool token, and the pool refuses a local token.
    assert world.client.get("/api/me", headers=bearer(mint())).status_code == 401
    assert cworld.client.get("/api/me", headers=bearer(local_token)).status_code == 401
