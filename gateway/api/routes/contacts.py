"""HTTP routes: contacts (the five contact functions of the seed: create, read, update, delete, search)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from gateway.api.deps import ContactsDep, PrincipalDep
from gateway.api.security import require_action

router = APIRouter()

ClientSource = Literal["api", "ui", "import"]


class ContactFields(BaseModel):
    # Unknown fields are refused, opt-ins must be real booleans (no "true", no 1): consent is explicit.
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=320)
    optInWhatsApp: StrictBool | None = None
    optInSms: StrictBool | None = None
    optInEmail: StrictBool | None = None
    source: ClientSource = "api"
    consentEvidence: str | dict[str, Any] | None = None


def _changes(body: ContactFields) -> tuple[dict[str, Any], str]:
    given = body.model_dump(exclude_unset=True)
    source = given.pop("source", "api")
    return given, source


@router.post("/contacts", status_code=201)
def create_contact(body: ContactFields, principal: PrincipalDep, contacts: ContactsDep) -> dict[str, Any]:
    data, source = _changes(body)
    for attr in ("optInWhatsApp", "optInSms", "optInEmail", "name"):
        if attr in data and data[attr] is None:
            data.pop(attr)  # an explicit null opt-in on create means "not given": stays false
    created = contacts.create(data, actor=principal.user_id, source=source)
    return contacts.present(created)


@router.get("/contacts")
def search_contacts(
    request: Request,
    contacts: ContactsDep,
    *,
    q: str | None = Query(None, max_length=200),
    limit: int = Query(20, ge=1, le=100),
    cursor: str | None = Query(None, max_length=4096),
    includeDeleted: bool = Query(False),
) -> dict[str, Any]:
    if includeDeleted:
        require_action(request, "contacts.include_deleted")
    if q is not None and q.strip():
        page = contacts.search(q, limit=limit, cursor=cursor, include_deleted=includeDeleted)
    else:
        page = contacts.list_page(limit=limit, cursor=cursor, include_deleted=includeDeleted)
    return {"items": [contacts.present(c, history=False) for c in page.items], "cursor": page.cursor}


@router.get("/contacts/{contact_id}")
def read_contact(
    contact_id: str,
    request: Request,
    contacts: ContactsDep,
    includeDeleted: bool = Query(False),
) -> dict[str, Any]:
    if includeDeleted:
        require_action(request, "contacts.include_deleted")
    return contacts.present(contacts.get(contact_id, include_deleted=includeDeleted))


@router.patch("/contacts/{contact_id}")
def update_contact(
    contact_id: str, body: ContactFields, principal: PrincipalDep, contacts: ContactsDep
) -> dict[str, Any]:
    changes, source = _changes(body)
    updated = contacts.update(contact_id, changes, actor=principal.user_id, source=source)
    return contacts.present(updated)


@router.delete("/contacts/{contact_id}", status_code=204)
def delete_contact(contact_id: str, principal: PrincipalDep, contacts: ContactsDep) -> Response:
    contacts.delete(contact_id, actor=principal.user_id)
    return Response(status_code=204)
