"""Canned responses page: the workspace's saved replies, listed, created, edited, deleted.

Admins edit them here; operators insert them in the console. The response an edit applies
to travels in the editor's form (as `canned_id`), so a save always goes to the response the
admin opened; the service checks that it belongs to the admin's workspace.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import reflex as rx

from backend_services.conversations import canned
from backend_services.core.errors import Conflict, NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Role
from state.arguments import id_from_text
from state.editable_list import EditableList
from state.reflex_typing import ObjectField, event, object_field
from state.session import SessionState, guarded

EMPTY_DRAFT = {"shortcut": "", "title": "", "body": ""}


class CannedResponsesState(EditableList, SessionState):
    editor_key: rx.Field[int] = rx.field(0)
    draft: ObjectField[dict[str, str]] = object_field(lambda: dict(EMPTY_DRAFT))
    confirm_delete_shortcut: rx.Field[str] = rx.field("")

    async def _reload(self, principal: Principal) -> None:
        self.items = [asdict(c) for c in await canned.list_canned(principal)]
        self.loaded = True

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> None:
        await self._reload(principal)

    def _open(self, canned_id: int, draft: dict[str, str]) -> None:
        self.editing_id, self.draft, self.form_error = canned_id, draft, ""
        self.editor_key += 1  # the form's inputs re-mount with this draft
        self.editor_open = True

    @guarded(Role.ADMIN)
    async def open_new(self, *, principal: Principal) -> None:
        self._open(0, dict(EMPTY_DRAFT))

    @guarded(Role.ADMIN)
    async def open_edit(self, canned_id: int, *, principal: Principal) -> None:
        await self._reload(principal)  # edit what the database holds now
        row = next((c for c in self.items if c["id"] == int(canned_id)), None)
        if row is None:
            raise NotFound("Canned response not found.")
        self._open(int(canned_id), {k: str(row[k]) for k in EMPTY_DRAFT})

    @guarded(Role.ADMIN)
    async def save(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.form_error = ""
        raw_id = str(form.get("canned_id", "0") or "0").strip()
        canned_id = id_from_text(raw_id)  # 0: a new one
        if not canned_id and raw_id != "0":
            raise NotFound("Canned response not found.")
        shortcut, title = str(form.get("shortcut", "")), str(form.get("title", ""))
        body = str(form.get("body", ""))
        try:
            if canned_id:
                view = await canned.update_canned(principal, canned_id, shortcut, title, body)
            else:
                view = await canned.create_canned(principal, shortcut, title, body)
        except (ValidationFailed, Conflict) as exc:
            self.form_error = exc.message
            return None
        await self._reload(principal)
        return self._saved(f"Saved /{view.shortcut}.")

    @event
    def ask_delete(self, canned_id: int, shortcut: str) -> None:
        self.confirm_delete_id, self.confirm_delete_shortcut = int(canned_id), shortcut

    @guarded(Role.ADMIN)
    async def delete(self, canned_id: int, *, principal: Principal) -> Any:
        self.confirm_delete_id = 0
        await canned.delete_canned(principal, int(canned_id))
        await self._reload(principal)
        return rx.toast.success("Canned response deleted.")
