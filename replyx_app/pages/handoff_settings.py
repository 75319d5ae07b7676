"""Handoff page: when an assistant's conversations go to a person, and what happens if no one
is there. One form per assistant; Enter in any one-line field saves it."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

import reflex as rx

from components.actions import save_and_discard
from components.forms import error_callout, field, switch_row, textarea_field
from components.panels import hint, loading, section
from components.pickers import assistant_scoped
from replyx_app.pages.registry import Nav, dashboard_page
from state.handoff_settings import WEEKDAYS, HandoffSettingsState

_REGIONS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)
TIMEZONES = ["UTC", *sorted(z for z in available_timezones() if z.startswith(_REGIONS))]


def _switch(name: str, title: str, checked: Any, note: str = "") -> rx.Component:
    return switch_row(name, title, note, name=name, default_checked=checked, margin_top="2px")


def _lines_field(title: str, name: str, value: Any, note: str, **props: Any) -> rx.Component:
    return rx.vstack(
        textarea_field(title, name, default_value=value, **{"rows": "6", **props}),
        hint(note),
        spacing="1",
        width="100%",
    )


def _number(title: str, name: str, low: str, high: str, value: Any,
            note: str = "") -> rx.Component:
    return rx.box(field(title, name, type="number", min=low, max=high, default_value=value),
                  *([hint(note)] if note else []), width="100%", max_width="20rem")


def _triggers() -> rx.Component:
    h = HandoffSettingsState
    return section(
        "When to hand over",
        _switch("on_visitor_request", "The visitor asks for a person", h.on_visitor_request,
                "The “talk to a human” button, or one of these phrases anywhere in a "
                "message (the last word may be inflected: “оператора” matches “оператор”)."),
        rx.grid(
            _lines_field("English phrases", "phrases_en", h.phrases_en, "One per line."),
            _lines_field("Russian phrases", "phrases_ru", h.phrases_ru, "One per line."),
            columns=rx.breakpoints(initial="1", md="2"), spacing="4", width="100%",
        ),
        rx.separator(size="4"),
        _switch("on_low_confidence", "The AI is not sure of its answer", h.on_low_confidence),
        _switch("on_no_answer", "The AI found nothing in the knowledge", h.on_no_answer),
        _lines_field("Your keywords", "keywords", h.keywords,
                     "One per line; a message that mentions any of them goes to a person, "
                     "e.g. refund, complaint, lawyer.", rows="4"),
        _number("Failed answers in a row", "failed_answers_threshold", "0", "20",
                h.failed_answers_threshold,
                "Hand over after this many unhelpful AI answers in a row; 0 turns it off."),
    )


def _day(i: int, name: str) -> rx.Component:
    return rx.hstack(
        rx.text(name, as_="label", html_for=f"hours_{i}", size="2", weight="medium", width="7rem"),
        rx.input(name=f"hours_{i}", id=f"hours_{i}", default_value=HandoffSettingsState.hours[i],
                 placeholder="closed", flex="1", font_family="var(--code-font-family)"),
        align="center", width="100%", class_name="hours-day",
    )


def _business_hours() -> rx.Component:
    h = HandoffSettingsState
    zone = field("Time zone", "timezone", default_value=h.timezone, required=True,
                 placeholder="Europe/Moscow", auto_complete="off",
                 custom_attrs={"list": "timezones"})
    return section(
        "Business hours",
        rx.hstack(
            rx.box(zone, rx.el.datalist(*[rx.el.option(value=z) for z in TIMEZONES],
                                        id="timezones"), flex="1", max_width="20rem"),
            rx.badge(rx.cond(h.open_now, "open now", "closed now"),
                     color_scheme=rx.cond(h.open_now, "green", "gray"), variant="soft",
                     id="open-now", margin_bottom="0.4rem"),
            align="end", spacing="3", width="100%",
        ),
        _switch("always_open", "Always open", h.always_open,
                "Ignore the table below: a person is always expected to answer."),
        rx.vstack(*[_day(i, name) for i, name in enumerate(WEEKDAYS)], spacing="2",
                  width="100%", max_width="28rem"),
        hint("Write 09:00-18:00; several intervals separated by commas "
             "(09:00-13:00, 14:00-18:00); leave a day empty when you are closed."),
    )


_ON_TIMEOUT = (
    ("Show the offline message and ask for the visitor's contact details", "offline_message",
     "on-timeout-offline"),
    ("Hand the conversation back to the AI", "back_to_ai", "on-timeout-ai"),
)


def _no_one_accepts() -> rx.Component:
    h = HandoffSettingsState
    return section(
        "When nobody accepts",
        _number("Minutes to wait for an operator", "accept_timeout_minutes", "1", "1440",
                h.accept_timeout_minutes),
        rx.vstack(
            rx.text("Then", size="2", weight="medium", id="on-timeout-label"),
            rx.radio_group.root(
                rx.vstack(*[rx.radio_group.item(text, value=value, id=element_id)
                            for text, value, element_id in _ON_TIMEOUT], spacing="2"),
                name="on_timeout", default_value=h.on_timeout,
                aria_labelledby="on-timeout-label",
            ),
            spacing="2",
        ),
        hint("Outside business hours this happens at once, without waiting."),
        rx.grid(
            *[textarea_field(f"Offline message ({language})", f"offline_message_{code}",
                             default_value=value, rows="3", max_length=1000)
              for language, code, value in (("English", "en", h.offline_message_en),
                                            ("Russian", "ru", h.offline_message_ru))],
            columns=rx.breakpoints(initial="1", md="2"), spacing="4", width="100%",
        ),
    )


def _form() -> rx.Component:
    h = HandoffSettingsState
    return rx.form(
        rx.vstack(
            rx.el.input(type="hidden", name="assistant_id", value=h.assistant_id),
            section("Handoff", _switch(
                "enabled", "Hand conversations to people", h.enabled,
                "Off: the AI answers everything and never calls an operator.")),
            _triggers(),
            _business_hours(),
            _no_one_accepts(),
            error_callout(h.error),
            save_and_discard("handoff-save", h.choose_assistant(h.assistant_id), submit=True),
            spacing="4", width="100%",
        ),
        key=h.form_key, on_submit=h.save, reset_on_submit=False, width="100%",
        max_width="60rem",
    )


@dashboard_page("/handoff", "Handoff", role="admin", on_load=[HandoffSettingsState.load],
                nav=Nav("Handoff", "hand_helping", 50))
def handoff_page() -> rx.Component:
    h = HandoffSettingsState
    return rx.cond(
        ~h.loaded,
        loading(),
        assistant_scoped(h.assistant_options, h.assistant_id, h.choose_assistant,
                         "handoff-assistant",
                         "Create an assistant first: each assistant has its own handoff policy.",
                         _form(), as_label=True),
    )
