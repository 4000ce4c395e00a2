"""``Annotated`` dependency aliases every router uses; no module-level singletons.

The composition root puts the wired :class:`~gateway.bootstrap.Container` on ``app.state``; the
authorization dependency (``gateway.api.security.authorize``) puts the caller's
:class:`~gateway.auth.principal.Principal` on ``request.state`` before any route runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from gateway.auth.principal import Principal
from gateway.errors import Unauthenticated

if TYPE_CHECKING:
    from gateway.bootstrap import Container


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def get_principal(request: Request) -> Principal:
    principal: Any = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthenticated("sign in first: send 'Authorization: Bearer <token>'")
    return principal


ContainerDep = Annotated["Container", Depends(get_container)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
