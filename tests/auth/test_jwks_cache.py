"""The pool's key set is cached, refreshed on rotation, and never fetched on every request."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from gateway.auth.errors import InvalidToken
from gateway.auth.jwks import RemoteJwks, parse_jwks, public_jwk, thumbprint
from gateway.auth.tokens import TokenVerifier, cognito_jwks_url
from gateway.clock import FakeClock

from .support import CLIENT_ID, ISSUER, POOL_ID, FakeJwksEndpoint, MintToken, jwks_document


def _verifier(endpoint: FakeJwksEndpoint, clock: FakeClock) -> tuple[TokenVerifier, RemoteJwks]:
    jwks = RemoteJwks(cognito_jwks_url(POOL_ID), endpoint, clock, max_age=3600, min_refresh_interval=60)
    return TokenVerifier(jwks, issuer=ISSUER, client_id=CLIENT_ID, clock=clock), jwks


def test_keys_are_fetched_once_from_the_pool_url(
    pool_key: RSAPrivateKey, clock: FakeClock, mint: MintToken
) -> None:
    endpoint = FakeJwksEndpoint(jwks_document(("pool-kid-1", pool_key)))
    verifier, jwks = _verifier(endpoint, clock)
    for _ in range(50):
        verifier.verify(mint())
    assert endpoint.urls == [
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_CC9u1fYh6/.well-known/jwks.json"
    ]
    assert jwks.fetch_count == 1


def test_unknown_kids_cannot_force_a_fetch_per_request(
    pool_key: RSAPrivateKey, other_key: RSAPrivateKey, clock: FakeClock, mint: MintToken
) -> None:
    endpoint = FakeJwksEndpoint(jwks_document(("pool-kid-1", pool_key)))
    verifier, jwks = _verifier(endpoint, clock)
    verifier.verify(mint())
    for n in range(200):
        with pytest.raises(InvalidToken):
            verifier.verify(mint(_key=other_key, _kid=f"made-up-{n}"))
    assert jwks.fetch_count == 1  # within a minute of the last fetch: no refetch at all
    clock.advance(61)
    for n in range(200):
        with pytest.raises(InvalidToken):
            verifier.verify(mint(_key=other_key, _kid=f"made-up-again-{n}"))
    assert jwks.fetch_count == 2  # one refresh after the interval, not one per token


def test_key_rotation_is_picked_up_on_the_first_token_with_the_new_kid(
    pool_key: RSAPrivateKey, other_key: RSAPrivateKey, clock: FakeClock, mint: MintToken
) -> None:
    endpoint = FakeJwksEndpoint(jwks_document(("pool-kid-1", pool_key)))
    verifier, _ = _verifier(endpoint, clock)
    verifier.verify(mint())
    clock.advance(120)
    endpoint.document = jwks_document(("pool-kid-1", pool_key), ("pool-kid-2", other_key))  # the pool rotates
    claims = verifier.verify(mint(_key=other_key, _kid="pool-kid-2"))
    assert claims["sub"]
    assert verifier.verify(mint())["sub"]  # the old key still verifies while it is published


def test_the_set_is_refreshed_when_it_grows_old(
    pool_key: RSAPrivateKey, other_key: RSAPrivateKey, clock: FakeClock, mint: MintToken
) -> None:
    endpoint = FakeJwksEndpoint(jwks_document(("pool-kid-1", pool_key)))
    verifier, jwks = _verifier(endpoint, clock)
    verifier.verify(mint())
    endpoint.document = jwks_document(("pool-kid-2", other_key))  # pool-kid-1 withdrawn
    clock.advance(3601)
    with pytest.raises(InvalidToken, match="key we do not know"):
        verifier.verify(mint())
    assert jwks.fetch_count == 2


def test_a_failed_refresh_keeps_the_cached_keys(
    pool_key: RSAPrivateKey, clock: FakeClock, mint: MintToken
) -> None:
    endpoint = FakeJwksEndpoint(jwks_document(("pool-kid-1", pool_key)))
    verifier, _ = _verifier(endpoint, clock)
    verifier.verify(mint())
    endpoint.fail = True
    clock.advance(3601)
    assert verifier.verify(mint())["sub"]  # stale but still the pool's key: better than refusing everyone


def test_an_unreachable_endpoint_refuses_tokens_without_raising_anything_else(
    pool_key: RSAPrivateKey, clock: FakeClock, mint: MintToken
) -> None:
    endpoint = FakeJwksEndpoint(b"")
    endpoint.fail = True
    verifier, _ = _verifier(endpoint, clock)
    with pytest.raises(InvalidToken, match="key we do not know"):
        verifier.verify(mint())


def test_parse_keeps_only_rs256_signing_keys(pool_key: RSAPrivateKey) -> None:
    good = public_jwk(pool_key.public_key(), "good")
    document = {
        "keys": [
            good,
            {**good, "kid": "enc", "use": "enc"},
            {**good, "kid": "es", "alg": "ES256"},
            {"kid": "oct", "kty": "oct", "k": "c2VjcmV0"},
            {**good, "kid": "broken", "n": "!!!"},
            "not an object",
        ]
    }
    assert list(parse_jwks(document)) == ["good"]
    with pytest.raises(ValueError, match="not a JWKS"):
        parse_jwks(b'{"no": "keys"}')


def test_thumbprint_is_the_rfc7638_value() -> None:
    # RFC 7638 section 3.1 example key and its thumbprint.
    import base64  # noqa: PLC0415

    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers  # noqa: PLC0415

    n_b64 = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    n = int.from_bytes(base64.urlsafe_b64decode(n_b64 + "=" * (-len(n_b64) % 4)), "big")
    key = RSAPublicNumbers(65537, n).public_key()
    assert thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
