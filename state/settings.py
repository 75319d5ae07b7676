"""Settings page: the user's own profile, password and notifications."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.channels.telegram import operators as telegram_operators
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.identity import auth
from backend_services.models import Role
from backend_services.notifications import preferences
from state.language import LanguageState
from state.session import SessionState, guarded


class SettingsState(SessionState):
    profile_name: rx.Field[str] = rx.field("")
    password_error: rx.Field[str] = rx.field("")
    notices: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    mail_language: rx.Field[str] = rx.field("en")
    telegram_bots: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    telegram_linked: rx.Field[str] = rx.field("")  # "<name> through @<bot>" once linked
    telegram_link: rx.Field[str] = rx.field("")  # the one-time deep link, just made

    async def _show_telegram(self, principal: Principal) -> None:
        self.telegram_bots = [[str(i), f"@{u}"] for i, u in
                              await telegram_operators.linkable_bots(principal)]
        status = await telegram_operators.link_status(principal)
        self.telegram_linked = (f"{status.telegram_name or 'your account'} through "
                                f"@{status.bot_username}" if status and status.linked else "")

    def _show_preferences(self, p: preferences.Preferences) -> None:
        self.mail_language = p.language
        self.notices = [{"event": e.event, "label": e.label, "on": e.email} for e in p.events]

    @guarded(Role.OPERATOR)
    async def load(self, *, principal: Principal) -> None:
        self.profile_name = principal.name
        self._show_preferences(await preferences.preferences(principal))
        self.telegram_link = ""
        await self._show_telegram(principal)

    @guarded(Role.OPERATOR)
    async def link_telegram(self, form: dict[str, Any], *, principal: Principal) -> None:
        bot = str(form.get("bot", "") or (self.telegram_bots[0][0] if self.telegram_bots
                                          else ""))
        started = await telegram_operators.start_link(principal, int(bot) if bot.isdigit()
                                                      else 0)
        self.telegram_link = started.link_url
        await self._show_telegram(principal)

    @guarded(Role.OPERATOR)
    async def check_telegram(self, *, principal: Principal) -> None:
        await self._show_telegram(principal)
        if self.telegram_linked:
            self.telegram_link = ""

    @guarded(Role.OPERATOR)
    async def unlink_telegram(self, *, principal: Principal) -> Any:
        await telegram_operators.unlink(principal)
        self.telegram_link = ""
        await self._show_telegram(principal)
        return rx.toast.success("Telegram unlinked: nothing more arrives there.")

    @guarded(Role.OPERATOR)
    async def save_notifications(self, form: dict[str, Any], *, principal: Principal) -> Any:
        """A checkbox left unticked is absent from the form: every event this person may
        hear of is set, ticked or not."""
        allowed = [e.event for e in (await preferences.preferences(principal)).events]
        chosen = {event: bool(form.get(f"notify_{event}")) for event in allowed}
        language = str(form.get("mail_language", "en"))
        self._show_preferences(await preferences.set_preferences(principal, language, chosen))
        # One language for the person's e-mails and pages: this tab follows at once.
        (await self.get_state(LanguageState))._use(language)
        return rx.toast.success("Notification settings saved.")

    @guarded(Role.OPERATOR)
    async def save_profile(self, form: dict[str, Any], *, principal: Principal) -> Any:
        await auth.update_profile(principal, str(form.get("name", "")))
        self.user_name = str(form.get("name", "")).strip()
        self.profile_name = self.user_name
        return rx.toast.success("Profile saved.")

    @guarded(Role.OPERATOR)
    async def change_password(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.password_error = ""
        new = str(form.get("new_password", ""))
        if new != str(form.get("new_password2", "")):
            self.password_error = "The two new passwords differ."
            return None
        try:
            await auth.change_password(principal, str(form.get("current_password", "")), new)
        except ValidationFailed as exc:
            self.password_error = exc.message
            return None
        return [rx.toast.success("Password changed."), rx.set_value("current_password", ""),
                rx.set_value("new_password", ""), rx.set_value("new_password2", "")]
