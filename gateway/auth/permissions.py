"""The one permission table: every route (method + path template) and every finer action → minimum role.

``gateway.api.security.authorize`` looks every request up here; a route that is not in the table is
refused (fail closed), and the RBAC matrix test fails for it, so a new route cannot ship without a
line here. Path templates are the ones FastAPI reports (``request.scope["route"].path``), with the
``/api`` and ``/webhooks`` prefixes.

To add a route: add ``("METHOD", "/path/{param}"): Role.X`` (or ``PUBLIC``, only for endpoints that
authenticate the caller another way, e.g. a verified signature) to :data:`ROUTES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from gateway.identity.principal import Role

PUBLIC: Final = "PUBLIC"
Rule = Role | Literal["PUBLIC"]

Viewer, Operator, Admin = Role.Viewer, Role.Operator, Role.Admin

ROUTES: Mapping[tuple[str, str], Rule] = {
    # identity
    ("GET", "/api/auth/config"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("GET", "/api/me"): Viewer,
    ("POST", "/api/me/password"): Viewer,
    ("GET", "/api/users"): Admin,
    ("POST", "/api/users"): Admin,
    ("PATCH", "/api/users/{user_id}"): Admin,
    ("POST", "/api/users/{user_id}/password"): Admin,
    # contacts
    ("POST", "/api/contacts"): Operator,
    ("GET", "/api/contacts"): Viewer,
    ("GET", "/api/contacts/{contact_id}"): Viewer,
    ("PATCH", "/api/contacts/{contact_id}"): Operator,
    ("DELETE", "/api/contacts/{contact_id}"): Operator,
    # messages
    ("POST", "/api/messages"): Operator,
    ("POST", "/api/channels/{channel}/messages"): Operator,
    ("GET", "/api/messages"): Viewer,
    ("GET", "/api/messages/{message_id}"): Viewer,
    # the DM inbox: anyone signed in reads it; opening a thread as an Operator marks it seen
    ("GET", "/api/conversations"): Viewer,
    ("POST", "/api/conversations/{contact_id}/read"): Operator,
    # bulk
    ("POST", "/api/bulk-jobs"): Operator,
    ("POST", "/api/bulk-jobs/preflight"): Operator,
    ("GET", "/api/bulk-jobs"): Viewer,
    ("GET", "/api/bulk-jobs/{job_id}"): Viewer,
    ("GET", "/api/bulk-jobs/{job_id}/recipients"): Viewer,
    ("POST", "/api/bulk-jobs/{job_id}/pause"): Operator,
    ("POST", "/api/bulk-jobs/{job_id}/resume"): Operator,
    ("POST", "/api/bulk-jobs/{job_id}/cancel"): Operator,
    ("GET", "/api/bulk-jobs/{job_id}/report"): Viewer,
    # dead-letter queues
    ("GET", "/api/dlq"): Operator,
    ("POST", "/api/dlq/replay"): Operator,
    # policies and decisions
    ("GET", "/api/policies"): Viewer,
    ("GET", "/api/decisions"): Viewer,
    ("POST", "/api/policies/evaluate"): Viewer,
    # AI-suggested replies: anyone signed in reads them, an Operator acts on them
    ("GET", "/api/ai/suggestions"): Viewer,
    ("GET", "/api/ai/suggestions/{interaction_id}"): Viewer,
    ("GET", "/api/ai/stats"): Viewer,
    ("POST", "/api/ai/suggestions"): Operator,
    ("POST", "/api/ai/suggestions/{interaction_id}/approve"): Operator,
    ("POST", "/api/ai/suggestions/{interaction_id}/reject"): Operator,
    ("POST", "/api/ai/suggestions/{interaction_id}/feedback"): Operator,
    # system configuration
    ("GET", "/api/config"): Admin,
    ("PUT", "/api/config/{key}"): Admin,
    # inbound webhooks: authenticated by their message signatures, not by a user token
    ("POST", "/webhooks/sns"): PUBLIC,
    ("GET", "/webhooks/meta"): PUBLIC,
    ("POST", "/webhooks/meta"): PUBLIC,
    # operations
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
}

# Whole sub-trees with one rule, for any method: every AI route (suggestions, approvals, feedback) is an
# Operator action. An exact entry in ROUTES wins over a prefix.
PREFIXES: tuple[tuple[str, Rule], ...] = (("/api/ai/", Operator),)

# Finer checks inside a route (a parameter or a field that needs more than the route's role).
ACTIONS: Mapping[str, Role] = {
    "contacts.include_deleted": Admin,
    "users.manage": Admin,
}


def rule_for(method: str, path: str | None) -> Rule | None:
    """The rule for one route template, or None when there is none (the caller must refuse)."""
    if path is None:
        return None
    verb = "GET" if method.upper() == "HEAD" else method.upper()
    exact = ROUTES.get((verb, path))
    if exact is not None:
        return exact
    for prefix, rule in PREFIXES:
        if path.startswith(prefix):
            return rule
    return None


def action_role(action: str) -> Role:
    try:
        return ACTIONS[action]
    except KeyError:
        # An action nobody declared is Admin-only: fail closed.
        return Role.Admin
