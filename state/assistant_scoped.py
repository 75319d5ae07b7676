"""What every page about one assistant at a time shares: the picker's options and choice.

Knowledge, Widget and Handoff each show one of the workspace's assistants, chosen with
`components.pickers.assistant_picker` or named by `?assistant=` in the address (the
Assistants page links there). A mixin, not a parent state: a parent's vars would be one
copy shared by all three pages, and each page keeps its own choice.
"""

from __future__ import annotations

import reflex as rx

from backend_services.assistants import service as assistants
from backend_services.core.principal import Principal
from state.arguments import id_from_text


async def assistant_choices(principal: Principal) -> list[dict[str, str]]:
    """The workspace's assistants as select options ({"id", "name"}) for any page."""
    return [{"id": str(a.id), "name": a.name} for a in await assistants.list_assistants(principal)]


class AssistantScoped(rx.State, mixin=True):
    assistant_options: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    assistant_id: rx.Field[str] = rx.field("")

    @rx.var
    def selected(self) -> int:
        return id_from_text(self.assistant_id)

    async def _pick_assistant(self, principal: Principal) -> str:
        """Refresh the options and return the assistant to show: the one the address
        names, else the one already shown, else the first ("" when there is none)."""
        self.assistant_options = await assistant_choices(principal)
        ids = [o["id"] for o in self.assistant_options]
        wanted = self.router.url.query_parameters.get("assistant", "")
        if wanted in ids:
            return wanted
        if self.assistant_id in ids:
            return self.assistant_id
        return ids[0] if ids else ""
