"""Handoff page: one assistant's handoff policy, edited as a plain form.

The form is uncontrolled (its inputs keep what the admin typed); `form_key` changes when a
policy is saved, chosen or discarded, so the inputs re-mount with the stored values. A page
load re-mounts only when the stored policy differs from what the form shows: after a reload
the browser shows the previous state at once, and what the admin starts typing then is not
wiped when the load answers. The assistant a
save applies to travels in the form itself, so a save always goes to the assistant whose
policy the admin was looking at; the service checks that it is in the admin's workspace.
Parsing here only turns text fields into the policy's shapes; every rule is checked by
`policy.validated` in the service, whose message is shown in the page's callout.
"""

from __future__ import annotations

import json
import re
from typing import Any

import reflex as rx

from backend_services.conversations import policy as handoff_policy
from backend_services.conversations.policy import BusinessHours, HandoffPolicy
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Role
from state.arguments import id_from_text
from state.assistant_scoped import AssistantScoped
from state.session import SessionState, guarded

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ON = ("on", "true", "True", "1")
_SHORT_HOUR = re.compile(r"^\d:\d\d$")


def _lines(text: Any) -> list[str]:
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


def _whole(form: dict[str, Any], name: str, what: str) -> int:
    raw = str(form.get(name, "")).strip()
    try:
        return int(raw)
    except ValueError as exc:
        raise ValidationFailed(f"{what} must be a whole number.") from exc


def _time(text: str) -> str:
    text = text.strip()
    return f"0{text}" if _SHORT_HOUR.match(text) else text  # "9:00" means "09:00"


def _intervals(day: str, text: Any) -> list[tuple[str, str]]:
    """ "09:00-13:00, 14:00-18:00" -> [("09:00", "13:00"), ("14:00", "18:00")]; empty = closed."""
    out: list[tuple[str, str]] = []
    for part in str(text or "").replace("–", "-").replace("—", "-").split(","):
        if not part.strip():
            continue
        bounds = part.split("-")
        if len(bounds) != 2:
            raise ValidationFailed(f"{day}: write opening hours as 09:00-18:00 (several "
                                   "intervals separated by commas), or leave it empty.")
        out.append((_time(bounds[0]), _time(bounds[1])))
    return out


def _hours_text(intervals: list[tuple[str, str]]) -> str:
    return ", ".join(f"{start}-{end}" for start, end in intervals)


def policy_from_form(form: dict[str, Any]) -> HandoffPolicy:
    """The policy the form describes (switches send "on" only when checked)."""
    days = {i: _intervals(name, form.get(f"hours_{i}", "")) for i, name in enumerate(WEEKDAYS)}
    return HandoffPolicy(
        enabled=str(form.get("enabled", "")) in _ON,
        on_visitor_request=str(form.get("on_visitor_request", "")) in _ON,
        phrases_en=_lines(form.get("phrases_en")),
        phrases_ru=_lines(form.get("phrases_ru")),
        on_low_confidence=str(form.get("on_low_confidence", "")) in _ON,
        on_no_answer=str(form.get("on_no_answer", "")) in _ON,
        keywords=_lines(form.get("keywords")),
        failed_answers_threshold=_whole(form, "failed_answers_threshold",
                                        "Failed answers in a row"),
        business_hours=BusinessHours(
            timezone=str(form.get("timezone", "")).strip(),
            days={d: iv for d, iv in days.items() if iv},
            always_open=str(form.get("always_open", "")) in _ON,
        ),
        accept_timeout_minutes=_whole(form, "accept_timeout_minutes", "The waiting time"),
        on_timeout=str(form.get("on_timeout", "")),
        offline_message_en=str(form.get("offline_message_en", "")),
        offline_message_ru=str(form.get("offline_message_ru", "")),
    )


class HandoffSettingsState(AssistantScoped, SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    form_key: rx.Field[int] = rx.field(0)
    _shown: str = ""  # which assistant and policy the form was last mounted with
    error: rx.Field[str] = rx.field("")
    open_now: rx.Field[bool] = rx.field(True)
    # the stored policy, as the form shows it
    enabled: rx.Field[bool] = rx.field(True)
    on_visitor_request: rx.Field[bool] = rx.field(True)
    phrases_en: rx.Field[str] = rx.field("")
    phrases_ru: rx.Field[str] = rx.field("")
    on_low_confidence: rx.Field[bool] = rx.field(True)
    on_no_answer: rx.Field[bool] = rx.field(True)
    keywords: rx.Field[str] = rx.field("")
    failed_answers_threshold: rx.Field[str] = rx.field("0")
    timezone: rx.Field[str] = rx.field("UTC")
    always_open: rx.Field[bool] = rx.field(True)
    hours: rx.Field[list[str]] = rx.field(default_factory=lambda: [""] * 7)
    accept_timeout_minutes: rx.Field[str] = rx.field("5")
    on_timeout: rx.Field[str] = rx.field("offline_message")
    offline_message_en: rx.Field[str] = rx.field("")
    offline_message_ru: rx.Field[str] = rx.field("")

    def _show_policy(self, assistant_id: int, p: HandoffPolicy, *, remount: bool = True) -> None:
        shown = json.dumps([assistant_id, handoff_policy.to_json(p)], sort_keys=True)
        if remount or shown != self._shown:
            self.form_key += 1
        self._shown = shown
        self.assistant_id = str(assistant_id)
        self.enabled = p.enabled
        self.on_visitor_request = p.on_visitor_request
        self.phrases_en = "\n".join(p.phrases_en)
        self.phrases_ru = "\n".join(p.phrases_ru)
        self.on_low_confidence = p.on_low_confidence
        self.on_no_answer = p.on_no_answer
        self.keywords = "\n".join(p.keywords)
        self.failed_answers_threshold = str(p.failed_answers_threshold)
        self.timezone = p.business_hours.timezone
        self.always_open = p.business_hours.always_open
        self.hours = [_hours_text(p.business_hours.days.get(i, [])) for i in range(7)]
        self.accept_timeout_minutes = str(p.accept_timeout_minutes)
        self.on_timeout = p.on_timeout
        self.offline_message_en = p.offline_message_en
        self.offline_message_ru = p.offline_message_ru
        self.open_now = handoff_policy.is_open(p.business_hours)
        self.error = ""

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> None:
        chosen = await self._pick_assistant(principal)
        if chosen:
            policy = await handoff_policy.get_policy(principal, int(chosen))
            self._show_policy(int(chosen), policy, remount=False)
        else:
            self.assistant_id = ""
        self.loaded = True

    @guarded(Role.ADMIN)
    async def choose_assistant(self, value: str, *, principal: Principal) -> None:
        # Read first: a refused id (another workspace's) leaves the page as it was.
        assistant_id = id_from_text(value)
        policy = await handoff_policy.get_policy(principal, assistant_id)
        self._show_policy(assistant_id, policy)

    @guarded(Role.ADMIN)
    async def save(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.error = ""
        assistant_id = id_from_text(form.get("assistant_id", ""))
        if not assistant_id:
            self.error = "Choose an assistant."
            return None
        try:
            wanted = policy_from_form(form)
            saved = await handoff_policy.update_policy(principal, assistant_id, wanted)
        except ValidationFailed as exc:
            self.error = exc.message
            return None
        self._show_policy(assistant_id, saved)
        return rx.toast.success("Handoff policy saved.")
