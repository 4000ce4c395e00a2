"""How the web UI signs in, as ``GET /api/auth/config`` tells it before anyone is signed in.

* ``{"mode": "local"}``: the embedded identity; the UI shows its e-mail and password form
  (``POST /api/auth/login``).
* ``{"mode": "cognito", "authorizeUrl", "tokenUrl", "logoutUrl", "clientId", "scopes"}``: the Cognito
  user pool (AWS). The UI runs the OAuth 2.0 authorization-code flow with PKCE (S256) against the
  pool's Hosted UI as a public client (no secret), and keeps the **access token** it gets: the one the
  API's verifier accepts (``token_use=access``, ``client_id`` = the app client, ``cognito:groups``).
  The redirect URI (and the sign-out URI) is the UI's own address, which only the browser knows; both
  must be registered on the app client.
* ``{"mode": "unavailable", "message"}``: Cognito verifies the tokens here but no Hosted UI is
  configured (``COGNITO_DOMAIN``), or no identity is wired at all: nobody can sign in, and the UI says why.

Nothing here is secret: the client id and the endpoints are what any browser sees during a sign-in.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from gateway.auth.identity import CognitoIdentity, LocalIdentity

SCOPES: Final = ("openid", "email")


def hosted_ui_endpoints(base: str, client_id: str) -> dict[str, Any]:
    """The Cognito answer for a Hosted UI at ``base`` (``https://host``) and app client ``client_id``."""
    return {
        "mode": "cognito",
        "authorizeUrl": f"{base}/oauth2/authorize",
        "tokenUrl": f"{base}/oauth2/token",
        # The UI adds ``logout_uri`` (its own address, a registered sign-out URL of the app client).
        "logoutUrl": f"{base}/logout?{urlencode({'client_id': client_id})}",
        "clientId": client_id,
        "scopes": list(SCOPES),
    }


def sign_in_config(identity: LocalIdentity | CognitoIdentity | None, hosted_ui: str) -> dict[str, Any]:
    """What the UI needs to sign someone in with ``identity``; ``hosted_ui`` is the Hosted UI's base URL
    (``Settings.cognito_hosted_ui``, "" when ``COGNITO_DOMAIN`` is not set)."""
    if isinstance(identity, LocalIdentity):
        return {"mode": "local"}
    if isinstance(identity, CognitoIdentity):
        if not hosted_ui:
            return {
                "mode": "unavailable",
                "message": "Sign-in through the organisation account is not set up on this server: "
                "its COGNITO_DOMAIN setting (the Cognito Hosted UI domain) is empty.",
            }
        # The verifier's own audience: a token for any other app client would be refused anyway.
        return hosted_ui_endpoints(hosted_ui, identity.verifier.client_id)
    return {"mode": "unavailable", "message": "No sign-in is configured on this server."}
