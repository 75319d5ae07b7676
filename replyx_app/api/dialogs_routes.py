"""REST: conversations and contacts. List and read dialogs (with every message, notes
included: this is staff's view), export one as JSON or a text transcript, send a message
as an operator and close a dialog; list contacts. Read scope to read, write scope to act."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from backend_services.conversations import contacts, dialogs, export, handoff
from backend_services.conversations.contacts import ContactView
from backend_services.conversations.dialogs import DialogFilter
from backend_services.conversations.views import DialogView, MessageView
from backend_services.core.principal import Principal
from replyx_app.api.deps import READ, WRITE, require_json

router = APIRouter(prefix="/api/v1", tags=["dialogs"], dependencies=[Depends(require_json)])


class DialogOut(BaseModel):
    id: int
    assistant_id: int
    assistant_name: str
    channel: str
    contact_id: int
    contact_name: str
    contact_email: str
    status: str = Field(description="ai, requested (waiting for a person), active or closed")
    assigned_to: str
    rating: int | None
    created_at: datetime
    updated_at: datetime | None
    handoff_requested_at: datetime | None
    closed_at: datetime | None
    handoff_reason: str
    last_message_preview: str


class MessageOut(BaseModel):
    id: int
    sender: str = Field(description="visitor, ai, operator, system or note (staff only)")
    author_name: str
    content: str
    created_at: datetime | None
    sources: list[dict[str, object]]
    confidence: float | None


class DialogWithMessages(DialogOut):
    messages: list[MessageOut]


class MessageIn(BaseModel):
    text: str = Field(max_length=4000)
    client_id: str | None = Field(None, max_length=64, description="Your id for this "
                                  "message: a retry with the same id is not sent twice")


class CloseIn(BaseModel):
    reason: str = Field("", max_length=300)


class ContactOut(BaseModel):
    id: int
    channel: str
    external_id: str
    name: str
    email: str
    created_at: datetime
    dialogs: int
    last_dialog_at: datetime | None


def _dialog(d: DialogView) -> DialogOut:
    return DialogOut(
        id=d.id, assistant_id=d.assistant_id, assistant_name=d.assistant_name,
        channel=d.channel_kind, contact_id=d.contact_id, contact_name=d.contact_name,
        contact_email=d.contact_email, status=d.status, assigned_to=d.assigned_user_name,
        rating=d.rating, created_at=d.created_at, updated_at=d.updated_at,
        handoff_requested_at=d.handoff_requested_at, closed_at=d.closed_at,
        handoff_reason=d.handoff_reason, last_message_preview=d.last_message_preview)


def _message(m: MessageView) -> MessageOut:
    return MessageOut(id=m.id, sender=m.sender, author_name=m.author_name, content=m.content,
                      created_at=m.created_at, sources=list(m.sources),
                      confidence=m.confidence)


def _contact(c: ContactView) -> ContactOut:
    return ContactOut(id=c.id, channel=c.channel_kind, external_id=c.external_id, name=c.name,
                      email=c.email, created_at=c.created_at, dialogs=c.dialogs,
                      last_dialog_at=c.last_dialog_at)


@router.get("/dialogs", response_model=list[DialogOut])
async def list_dialogs(
    status: str | None = Query(None, max_length=16),
    assistant_id: int | None = None,
    q: str = Query("", max_length=200, description="Text in messages, contact name or e-mail"),
    since: date | None = None, until: date | None = None,
    limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0, le=100_000),
    p: Principal = Depends(READ),
) -> list[DialogOut]:
    """Newest activity first."""
    found = await dialogs.search(p, DialogFilter(status=status, assistant_id=assistant_id,
                                                 text=q, date_from=since, date_to=until),
                                 limit=limit, offset=offset)
    return [_dialog(d) for d in found]


@router.get("/dialogs/{dialog_id}", response_model=DialogWithMessages)
async def get_dialog(dialog_id: int, p: Principal = Depends(READ)) -> DialogWithMessages:
    whole = await export.export_dialog(p, dialog_id)
    return DialogWithMessages(**_dialog(whole.dialog).model_dump(),
                              messages=[_message(m) for m in whole.messages])


@router.get("/dialogs/{dialog_id}/export", response_model=None)
async def export_dialog(dialog_id: int, format: str = Query("json", pattern="^(json|text)$"),
                        p: Principal = Depends(READ)) -> Response:
    """The whole conversation as a file: JSON (as `GET /dialogs/{id}`) or a text
    transcript."""
    whole = await export.export_dialog(p, dialog_id)
    ext = "txt" if format == "text" else "json"
    disposition = {"Content-Disposition": f'attachment; filename="dialog-{dialog_id}.{ext}"'}
    if format == "text":
        return PlainTextResponse(export.as_text(whole), headers=disposition)
    body = DialogWithMessages(**_dialog(whole.dialog).model_dump(),
                              messages=[_message(m) for m in whole.messages])
    return Response(body.model_dump_json(), media_type="application/json",
                    headers=disposition)


@router.post("/dialogs/{dialog_id}/messages", response_model=MessageOut, status_code=201)
async def send_message(dialog_id: int, body: MessageIn,
                       p: Principal = Depends(WRITE)) -> MessageOut:
    """Sent as an operator (the key's creator): the conversation is taken over first, as
    an operator's reply would, unless another operator has it (409)."""
    await handoff.accept(p, dialog_id)
    return _message(await dialogs.operator_reply(p, dialog_id, body.text, body.client_id))


@router.post("/dialogs/{dialog_id}/close", response_model=DialogOut)
async def close_dialog(dialog_id: int, body: CloseIn,
                       p: Principal = Depends(WRITE)) -> DialogOut:
    return _dialog(await dialogs.close(p, dialog_id, body.reason))


@router.get("/contacts", response_model=list[ContactOut])
async def list_contacts(
    q: str = Query("", max_length=100, description="Part of the name or e-mail"),
    limit: int = Query(50, ge=1, le=200),
    before_id: int | None = Query(None, description="The last id of the previous page"),
    p: Principal = Depends(READ),
) -> list[ContactOut]:
    return [_contact(c) for c in await contacts.list_contacts(p, q, limit, before_id)]


@router.get("/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: int, p: Principal = Depends(READ)) -> ContactOut:
    return _contact(await contacts.get_contact(p, contact_id))
