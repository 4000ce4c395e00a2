"""``Annotated`` dependency aliases every router uses; no module-level singletons.

The composition root puts the wired :class:`~gateway.bootstrap.Container` on ``app.state``; the
authorization dependency (``gateway.api.security.authorize``) puts the caller's
:class:`~gateway.identity.principal.Principal` on ``request.state`` before any route runs.

One alias per service (``GatewayDep``, ``ContactsDep``, ...): a route names the service it needs and
gets it typed. A service the container was built without (``build_in_memory`` has none) is a 503
``UNAVAILABLE`` saying so. Declare ``PrincipalDep`` before a service alias, so an anonymous caller is
told to sign in (401) before being told what this server lacks.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

from fastapi import Depends, Request

# Imported for real, not only for the type checker: FastAPI resolves these annotations at start-up.
from gateway.ai.service import AIService
from gateway.auth.identity import CognitoIdentity, LocalIdentity
from gateway.bootstrap import Container
from gateway.bulk.report import BulkReports
from gateway.bulk.service import BulkService
from gateway.contacts.service import ContactService
from gateway.decisions import DecisionService
from gateway.dlq import DlqService
from gateway.errors import Unauthenticated, Unavailable
from gateway.identity.principal import Principal
from gateway.inbound.service import InboundService
from gateway.inbox.service import InboxService
from gateway.messages.query import MessageQueryService
from gateway.outbound.gateway import Gateway
from gateway.policy import PolicyEngine
from gateway.system_config import SystemConfigService
from gateway.users import UserService

Identity: TypeAlias = LocalIdentity | CognitoIdentity  # the same union as ``Container.identity``


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def get_principal(request: Request) -> Principal:
    principal: Any = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthenticated("sign in first: send 'Authorization: Bearer <token>'")
    return principal


ContainerDep = Annotated[Container, Depends(get_container)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


# Each ``get_*`` below may also be called directly with a container (``get_identity(container)``).


def get_identity(container: ContainerDep) -> Identity:
    if container.identity is None:
        raise Unavailable("sign-in is not configured on this server")
    return container.identity


def get_policy(container: ContainerDep) -> PolicyEngine:
    if container.policy is None:
        raise Unavailable("the policy engine is not configured in this deployment")
    return container.policy


def get_decisions(container: ContainerDep) -> DecisionService:
    if container.decisions is None:
        raise Unavailable("the decision log is not configured in this deployment")
    return container.decisions


def get_gateway(container: ContainerDep) -> Gateway:
    if container.gateway is None:
        raise Unavailable("sending is not configured on this server")
    return container.gateway


def get_messages(container: ContainerDep) -> MessageQueryService:
    if container.messages is None:
        raise Unavailable("message history is not configured on this server")
    return container.messages


def get_contacts(container: ContainerDep) -> ContactService:
    if container.contacts is None:
        raise Unavailable("contacts are not configured on this server")
    return container.contacts


def get_users(container: ContainerDep) -> UserService:
    if container.users is None:
        raise Unavailable("user administration is not configured on this server")
    return container.users


def get_dlq(container: ContainerDep) -> DlqService:
    if container.dlq is None:
        raise Unavailable("dead-letter queues are not configured in this deployment")
    return container.dlq


def get_inbound(container: ContainerDep) -> InboundService:
    if container.inbound is None:
        raise Unavailable("the inbound pipeline is not configured in this deployment")
    return container.inbound


def get_bulk(container: ContainerDep) -> BulkService:
    if container.bulk is None:
        raise Unavailable("bulk messaging is not configured on this server")
    return container.bulk


def get_bulk_reports(container: ContainerDep) -> BulkReports:
    if container.bulk_reports is None:
        raise Unavailable("bulk reports are not configured on this server")
    return container.bulk_reports


def get_ai(container: ContainerDep) -> AIService:
    if container.ai is None:
        raise Unavailable("AI-suggested replies are not configured on this server")
    return container.ai


def get_system_config(container: ContainerDep) -> SystemConfigService:
    if container.system_config is None:
        raise Unavailable("system configuration is not available on this server")
    return container.system_config


def get_inbox(container: ContainerDep) -> InboxService:
    if container.inbox is None:
        raise Unavailable("the DM inbox is not available on this server")
    return container.inbox


IdentityDep = Annotated[Identity, Depends(get_identity)]
PolicyDep = Annotated[PolicyEngine, Depends(get_policy)]
DecisionsDep = Annotated[DecisionService, Depends(get_decisions)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]
MessagesDep = Annotated[MessageQueryService, Depends(get_messages)]
ContactsDep = Annotated[ContactService, Depends(get_contacts)]
UsersDep = Annotated[UserService, Depends(get_users)]
DlqDep = Annotated[DlqService, Depends(get_dlq)]
InboundDep = Annotated[InboundService, Depends(get_inbound)]
BulkDep = Annotated[BulkService, Depends(get_bulk)]
BulkReportsDep = Annotated[BulkReports, Depends(get_bulk_reports)]
AIDep = Annotated[AIService, Depends(get_ai)]
SystemConfigDep = Annotated[SystemConfigService, Depends(get_system_config)]
InboxDep = Annotated[InboxService, Depends(get_inbox)]
