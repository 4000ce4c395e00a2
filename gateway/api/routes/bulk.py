"""HTTP routes: bulk jobs — preflight, create (with confirmation above the threshold), control, read.

Thin: the body is validated here (the content models are ``POST /api/messages``'s), everything else is
:class:`~gateway.bulk.service.BulkService`'s. Answers:

- ``POST /api/bulk-jobs/preflight`` → 200 ``{"preflight": {"total", "wouldSend", "refused": {CODE: n},
  "opensConversations"}}``, writing nothing;
- ``POST /api/bulk-jobs`` → 201 ``{"job": {...}}``; above ``BULK_CONFIRMATION_THRESHOLD`` distinct
  recipients without a valid ``confirmationToken`` → 409 ``CONFIRMATION_REQUIRED`` with a fresh token
  and the preflight (a token for other content, recipients, channel or creator, or an expired one, is
  answered the same way: see :mod:`gateway.bulk.confirmation`); recipients by ``filter``
  (``q`` and/or ``optedIn``) are the contacts it matches at creation time, and a confirmation is
  bound to that resolved list; a WhatsApp job over the tier capacity left → 422 ``TIER_LIMIT``;
- ``GET /api/bulk-jobs`` (newest first), ``GET /api/bulk-jobs/{job_id}``, its recipients, its report
  (``?format=csv|json``: the stored one of an ended job, this moment's for a running one);
- ``POST /api/bulk-jobs/{job_id}/pause|resume|cancel`` → 200 ``{"job": ...}``; an invalid transition is
  409 with ``details.status`` the current state; an unknown job is 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.api.deps import BulkDep, BulkReportsDep, ContactsDep, ContainerDep, PrincipalDep
from gateway.api.routes.messages import EmailIn, MediaIn, TemplateIn, TextIn, require_one_content
from gateway.bootstrap import Container
from gateway.bulk import confirmation
from gateway.bulk.content import content_document
from gateway.bulk.jobs import JobStatus, RecipientStatus
from gateway.bulk.service import MAX_RECIPIENTS
from gateway.contacts.service import ContactService
from gateway.errors import Conflict, InvalidInput
from gateway.outbound.types import Content, EmailContent, MediaContent, TemplateContent, TextContent

router = APIRouter(tags=["bulk"])

ContactId = Annotated[str, Field(min_length=1, max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecipientFilter(_Strict):
    q: str | None = Field(default=None, max_length=200)
    optedIn: bool | None = None


class RecipientsIn(_Strict):
    """Either a list of contact ids or a contact filter: search text and/or opted in to the channel."""

    contactIds: list[ContactId] | None = Field(default=None, min_length=1, max_length=MAX_RECIPIENTS)
    filter: RecipientFilter | None = None

    @model_validator(mode="after")
    def _one_source(self) -> RecipientsIn:
        if (self.contactIds is None) == (self.filter is None):
            raise ValueError("give exactly one of contactIds or filter")
        return self


class BulkJobIn(_Strict):
    channel: Literal["whatsapp", "sms", "email"]
    text: TextIn | None = None
    media: MediaIn | None = None
    template: TemplateIn | None = None
    email: EmailIn | None = None
    recipients: RecipientsIn
    name: str = Field(default="", max_length=200)
    phoneNumberId: str | None = Field(default=None, min_length=1, max_length=200)
    phoneNumberIds: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None,
        min_length=2,
        max_length=10,
        description="WhatsApp: send from several numbers, recipients alternating between them (each "
        "recipient always from the same one); instead of phoneNumberId",
    )
    sendAt: float | None = Field(default=None, ge=0, le=1e11, description="epoch seconds, ≤ 35 days ahead")
    confirmationToken: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_content(self) -> BulkJobIn:
        require_one_content(self)
        if self.media is not None and self.media.fileId is None:
            raise ValueError("bulk media is sent by media.fileId (upload the file first)")
        return self


def _content(body: BulkJobIn) -> Content:
    if body.text is not None:
        return TextContent(body.text.body)
    if body.template is not None:
        return TemplateContent(body.template.name, body.template.language, tuple(body.template.components))
    if body.email is not None:
        return EmailContent(body.email.subject, body.email.text, body.email.html)
    assert body.media is not None and body.media.fileId is not None  # checked by the model
    return MediaContent(
        media_kind=body.media.mediaKind,
        file_id=body.media.fileId,
        caption=body.media.caption,
        filename=body.media.filename,
    )


class Recipients:
    """The recipients of a request, readable more than once (preflight, confirmation, create): the
    listed ids, or the contacts the filter matches now — resolved again on each read, page by page."""

    def __init__(self, body: BulkJobIn, contacts: ContactService) -> None:
        self._ids = body.recipients.contactIds
        self._filter = body.recipients.filter
        self._channel = body.channel
        self._contacts = contacts
        if self._filter is not None and not self._filter.q and not self._filter.optedIn:
            raise InvalidInput(
                "a recipient filter needs search text (q) or optedIn: true (every contact opted in "
                "to the channel)",
                code="INVALID_FILTER",
                details={"field": "recipients.filter"},
            )

    def ids(self) -> Iterator[str]:
        if self._ids is not None:
            return iter(self._ids)
        assert self._filter is not None
        return self._contacts.matching_ids(
            self._filter.q or None, opted_in=self._channel if self._filter.optedIn else None
        )

    def terms(self) -> str:
        """What a confirmation binds: the resolved list (a filter that now matches others needs a new one)."""
        return confirmation.recipients_digest(self.ids())


def _preflight(bulk: BulkDep, body: BulkJobIn, content: Content, recipients: Recipients) -> dict[str, Any]:
    return bulk.preflight(
        channel=body.channel,
        content=content,
        contact_ids=recipients.ids(),
        phone_number_id=body.phoneNumberId,
        phone_number_ids=body.phoneNumberIds or (),
    )


def _signer(container: Container) -> confirmation.Signer:
    # The deployment key the cursors are signed with, under the confirmation purpose.
    return container.tables.cursors


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]


@router.post("/bulk-jobs/preflight")
def preflight_job(body: BulkJobIn, bulk: BulkDep, contacts: ContactsDep) -> dict[str, Any]:
    content = _content(body)
    return {"preflight": _preflight(bulk, body, content, Recipients(body, contacts))}


@router.post("/bulk-jobs", status_code=201)
def create_job(
    body: BulkJobIn,
    principal: PrincipalDep,
    *,
    bulk: BulkDep,
    contacts: ContactsDep,
    container: ContainerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    content = _content(body)
    recipients = Recipients(body, contacts)
    result = _preflight(bulk, body, content, recipients)
    threshold = container.settings.BULK_CONFIRMATION_THRESHOLD
    if result["total"] > threshold:
        terms = confirmation.JobTerms(
            creator=principal.user_id,
            channel=body.channel,
            content=content_document(content),
            recipients=recipients.terms(),
            phone_number_id=",".join(body.phoneNumberIds) if body.phoneNumberIds else body.phoneNumberId,
            send_at=body.sendAt,
        )
        signer, now = _signer(container), container.clock.now()
        token = body.confirmationToken
        if token is None or not confirmation.verify(signer, terms, token, now):
            raise Conflict(
                f"a job for more than {threshold} recipients needs confirmation: check the preflight, "
                "then send the same request again with this confirmationToken"
                + ("" if token is None else " (the one given is expired or for a different job)"),
                code="CONFIRMATION_REQUIRED",
                details={
                    "confirmationToken": confirmation.issue(signer, terms, now),
                    "expiresInSeconds": confirmation.TOKEN_TTL_SECONDS,
                    "threshold": threshold,
                    "preflight": result,
                },
            )
    job, created = bulk.create(
        actor=principal.user_id,
        channel=body.channel,
        content=content,
        contact_ids=recipients.ids(),
        idempotency_key=idempotency_key,
        name=body.name,
        phone_number_id=body.phoneNumberId,
        phone_number_ids=body.phoneNumberIds or (),
        send_at=body.sendAt,
        preflight_result=result,
    )
    headers = {} if created else {"Idempotent-Replayed": "true"}
    return JSONResponse({"job": job.view()}, status_code=201, headers=headers)


@router.get("/bulk-jobs")
def list_jobs(
    bulk: BulkDep,
    *,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> dict[str, Any]:
    items, next_cursor = bulk.list(status, limit=limit, cursor=cursor)
    return {"items": items, "cursor": next_cursor}


@router.get("/bulk-jobs/{job_id}")
def read_job(job_id: str, bulk: BulkDep) -> dict[str, Any]:
    return {"job": bulk.get(job_id)}


@router.get("/bulk-jobs/{job_id}/recipients")
def list_recipients(
    job_id: str,
    bulk: BulkDep,
    *,
    status: RecipientStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> dict[str, Any]:
    items, next_cursor = bulk.recipient_page(job_id, status, limit=limit, cursor=cursor)
    return {"items": items, "cursor": next_cursor}


@router.get("/bulk-jobs/{job_id}/report")
def download_report(job_id: str, reports: BulkReportsDep, format: Literal["csv", "json"] = "csv") -> Response:
    body = reports.read(job_id, format)
    if format == "json":
        return Response(body, media_type="application/json")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{job_id}-report.csv"'},
    )


@router.post("/bulk-jobs/{job_id}/pause")
def pause_job(job_id: str, principal: PrincipalDep, bulk: BulkDep) -> dict[str, Any]:
    return {"job": bulk.pause(job_id, principal.user_id).view()}


@router.post("/bulk-jobs/{job_id}/resume")
def resume_job(job_id: str, principal: PrincipalDep, bulk: BulkDep) -> dict[str, Any]:
    return {"job": bulk.resume(job_id, principal.user_id).view()}


@router.post("/bulk-jobs/{job_id}/cancel")
def cancel_job(job_id: str, principal: PrincipalDep, bulk: BulkDep) -> dict[str, Any]:
    return {"job": bulk.cancel(job_id, principal.user_id).view()}
