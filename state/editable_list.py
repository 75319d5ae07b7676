"""What a page listing the workspace's items with an editor dialog shares: the items, the
editor's open/closed state and error, and the delete confirmation.

Assistants and Canned responses use it. A mixin, like `AssistantScoped`, so each page keeps
its own copy of these vars.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from state.reflex_typing import event


class EditableList(rx.State, mixin=True):
    items: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    editor_open: rx.Field[bool] = rx.field(False)
    editing_id: rx.Field[int] = rx.field(0)  # 0: the editor makes a new item
    form_error: rx.Field[str] = rx.field("")
    confirm_delete_id: rx.Field[int] = rx.field(0)  # 0: no confirmation shown

    @event
    def set_editor_open(self, value: bool) -> None:
        self.editor_open = value

    @event
    def cancel_delete(self) -> None:
        self.confirm_delete_id = 0

    def _saved(self, message: str) -> Any:
        """Close the editor after a save and say so."""
        self.editor_open = False
        return rx.toast.success(message)
