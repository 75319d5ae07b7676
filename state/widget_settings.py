"""Widget tab: an assistant's website widget, edited as a draft with a live preview.

The draft lives in this browser's state only; `edit` changes nothing anywhere else, so it
needs no session check (like the page's open/close toggles). Loading, switching assistant
and saving are guarded: saving re-validates everything in the service.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.settings import get_settings
from backend_services.models import Role
from backend_services.widget import settings as widget
from backend_services.widget.settings import WIDGET_STRINGS, WidgetInput, WidgetSettingsView
from state.arguments import id_from_text
from state.assistant_scoped import AssistantScoped
from state.reflex_typing import event
from state.session import SessionState, guarded
from state.widget_look import WidgetLook

DRAFT_FIELDS = frozenset({"title", "greeting", "primary_color", "position", "avatar_url",
                          "launcher_text", "language", "origins_text"})


class WidgetSettingsState(AssistantScoped, WidgetLook, SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    public_id: rx.Field[str] = rx.field("")
    snippet: rx.Field[str] = rx.field("")
    saved_origins: rx.Field[list[str]] = rx.field(default_factory=list)
    # the draft, with the look (title, greeting, avatar, language) of WidgetLook
    enabled: rx.Field[bool] = rx.field(True)
    primary_color: rx.Field[str] = rx.field(widget.DEFAULT_COLOR)
    position: rx.Field[str] = rx.field("right")
    launcher_text: rx.Field[str] = rx.field("")
    origins_text: rx.Field[str] = rx.field("")
    error: rx.Field[str] = rx.field("")

    @rx.var
    def strings(self) -> dict[str, str]:
        """The visitor-facing strings of the draft's language, for the preview."""
        return dict(WIDGET_STRINGS.get(self.language, WIDGET_STRINGS["en"]))

    @rx.var
    def preview_launcher(self) -> str:
        table = WIDGET_STRINGS.get(self.language, WIDGET_STRINGS["en"])
        return self.launcher_text.strip() or table["launcher"]

    @rx.var
    def preview_color(self) -> str:
        """The draft colour when it is a valid hex colour, else the saved default."""
        try:
            return WidgetInput(primary_color=self.primary_color).validated().primary_color
        except ValidationFailed:
            return widget.DEFAULT_COLOR

    @rx.var
    def preview_title(self) -> str:
        name = next((o["name"] for o in self.assistant_options
                     if o["id"] == self.assistant_id), "")
        return self.title.strip() or name

    def _show_view(self, view: WidgetSettingsView) -> None:
        self.public_id = view.public_id
        self.snippet = widget.snippet(get_settings().base_url, view.public_id)
        self.saved_origins = list(view.allowed_origins)
        self.enabled = view.enabled
        self._show_look(view)
        self.primary_color = view.primary_color
        self.position = view.position
        self.launcher_text = view.launcher_text
        self.origins_text = "\n".join(view.allowed_origins)
        self.error = ""

    async def _reload(self, principal: Principal) -> None:
        if self.selected:
            self._show_view(await widget.get_settings(principal, self.selected))

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> None:
        self.assistant_id = await self._pick_assistant(principal)
        await self._reload(principal)
        self.loaded = True

    @guarded(Role.ADMIN)
    async def choose_assistant(self, value: str, *, principal: Principal) -> None:
        if not id_from_text(value):
            return
        # get_settings refuses other workspaces' assistants
        view = await widget.get_settings(principal, id_from_text(value))
        self.assistant_id = value
        self._show_view(view)

    @event
    def edit(self, field: str, value: str | list[str]) -> None:
        """A draft change (no session check: it touches nothing but this page's draft)."""
        if isinstance(value, list):  # the segmented control may send a list
            value = value[0] if value else ""
        if field in DRAFT_FIELDS:
            setattr(self, field, str(value)[:8000])

    @event
    def set_enabled(self, value: bool) -> None:
        self.enabled = bool(value)

    @guarded(Role.ADMIN)
    async def discard(self, *, principal: Principal) -> None:
        await self._reload(principal)

    @guarded(Role.ADMIN)
    async def save(self, *, principal: Principal) -> Any:
        if not self.selected:
            return rx.toast.error("Create an assistant first.")
        data = WidgetInput(
            title=self.title,
            primary_color=self.primary_color,
            position=self.position,
            avatar_url=self.avatar_url,
            launcher_text=self.launcher_text,
            language=self.language,
            allowed_origins=widget.parse_origins(self.origins_text),
            enabled=self.enabled,
        )
        self.error = ""
        try:
            data = data.validated()  # everything is checked before anything is written
            await widget.set_greeting(principal, self.selected, self.greeting)
            view = await widget.update_settings(principal, self.selected, data)
        except ValidationFailed as exc:
            self.error = exc.message
            return None
        self._show_view(view)
        return rx.toast.success("Widget settings saved.")

    @event
    def copy_snippet(self) -> Any:
        return [rx.set_clipboard(self.snippet), rx.toast.success("Snippet copied.")]
