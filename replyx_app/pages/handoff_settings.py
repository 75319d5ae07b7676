"""Handoff page: when an assistant's conversations go to a person, and what happens if no one
is there. One form per assistant; Enter in any one-line field saves it."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

import reflex as rx

from components.forms import error_callout, field, textarea_field
from components.panels import hint, loading, section
from components.pickers import assistant_picker
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
    return rx.hstack(
        rx.switch(name=name, id=name, default_checked=checked, margin_top="2px"),
        rx.vstack(
            rx.text(title, as_="label", html_for=name, size="2", weight="medium"),
            *([hint(note)] if note else []),
            spacing="0",
        ),
        align="start",
        spacing="3",
    )


def _lines_field(title: str, name: str, value: Any, note: str, **props: Any) -> rx.Component:
    return rx.vstack(
        textarea_field(title, name, default_value=value, **{"rows": "6", **props}),
        hint(note),
        spacing="1",
        width="100%",
    )


def _triggers() -> rx.Component:
    return section(
        "When to hand over",
        _switch(
            "on_visitor_request",
            "The visitor asks for a person",
            HandoffSettingsState.on_visitor_request,
            "The “talk to a human” button, or one of these phrases anywhere in a "
            "message (the last word may be inflected: “оператора” matches “оператор”).",
        ),
        rx.grid(
            _lines_field(
                "English phrases", "phrases_en", HandoffSettingsState.phrases_en, "One per line."
            ),
            _lines_field(
                "Russian phrases", "phrases_ru", HandoffSettingsState.phrases_ru, "One per line."
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        rx.separator(size="4"),
        _switch(
            "on_low_confidence",
            "The AI is not sure of its answer",
            HandoffSettingsState.on_low_confidence,
        ),
        _switch(
            "on_no_answer",
            "The AI found nothing in the knowledge",
            HandoffSettingsState.on_no_answer,
        ),
        _lines_field(
            "Your keywords",
            "keywords",
            HandoffSettingsState.keywords,
            "One per line; a message that mentions any of them goes to a person, "
            "e.g. refund, complaint, lawyer.",
            rows="4",
        ),
        rx.box(
            field(
                "Failed answers in a row",
                "failed_answers_threshold",
                type="number",
                min="0",
                max="20",
                default_value=HandoffSettingsState.failed_answers_threshold,
            ),
            hint("Hand over after this many unhelpful AI answers in a row; 0 turns it off."),
            width="100%",
            max_width="20rem",
        ),
    )


def _day(i: int, name: str) -> rx.Component:
    return rx.hstack(
        rx.text(name, as_="label", html_for=f"hours_{i}", size="2", weight="medium", width="7rem"),
        rx.input(
            name=f"hours_{i}",
            id=f"hours_{i}",
            default_value=HandoffSettingsState.hours[i],
            placeholder="closed",
            flex="1",
            font_family="var(--code-font-family)",
        ),
        align="center",
        width="100%",
        class_name="hours-day",
    )


def _business_hours() -> rx.Component:
    return section(
        "Business hours",
        rx.hstack(
            rx.box(
                field(
                    "Time zone",
                    "timezone",
                    default_value=HandoffSettingsState.timezone,
                    required=True,
                    placeholder="Europe/Moscow",
                    auto_complete="off",
                    custom_attrs={"list": "timezones"},
                ),
                rx.el.datalist(*[rx.el.option(value=z) for z in TIMEZONES], id="timezones"),
                flex="1",
                max_width="20rem",
            ),
            rx.badge(
                rx.cond(HandoffSettingsState.open_now, "open now", "closed now"),
                color_scheme=rx.cond(HandoffSettingsState.open_now, "green", "gray"),
                variant="soft",
                id="open-now",
                margin_bottom="0.4rem",
            ),
            align="end",
            spacing="3",
            width="100%",
        ),
        _switch(
            "always_open",
            "Always open",
            HandoffSettingsState.always_open,
            "Ignore the table below: a person is always expected to answer.",
        ),
        rx.vstack(
            *[_day(i, name) for i, name in enumerate(WEEKDAYS)],
            spacing="2",
            width="100%",
            max_width="28rem",
        ),
        hint(
            "Write 09:00-18:00; several intervals separated by commas "
            "(09:00-13:00, 14:00-18:00); leave a day empty when you are closed."
        ),
    )


def _no_one_accepts() -> rx.Component:
    return section(
        "When nobody accepts",
        rx.box(
            field(
                "Minutes to wait for an operator",
                "accept_timeout_minutes",
                type="number",
                min="1",
                max="1440",
                default_value=HandoffSettingsState.accept_timeout_minutes,
            ),
            width="100%",
            max_width="20rem",
        ),
        rx.vstack(
            rx.text("Then", size="2", weight="medium", id="on-timeout-label"),
            rx.radio_group.root(
                rx.vstack(
                    rx.radio_group.item(
                        "Show the offline message and ask for the visitor's contact details",
                        value="offline_message",
                        id="on-timeout-offline",
                    ),
                    rx.radio_group.item(
                        "Hand the conversation back to the AI",
                        value="back_to_ai",
                        id="on-timeout-ai",
                    ),
                    spacing="2",
                ),
                name="on_timeout",
                default_value=HandoffSettingsState.on_timeout,
                aria_labelledby="on-timeout-label",
            ),
            spacing="2",
        ),
        hint("Outside business hours this happens at once, without waiting."),
        rx.grid(
            textarea_field(
                "Offline message (English)",
                "offline_message_en",
                default_value=HandoffSettingsState.offline_message_en,
                rows="3",
                max_length=1000,
            ),
            textarea_field(
                "Offline message (Russian)",
                "offline_message_ru",
                default_value=HandoffSettingsState.offline_message_ru,
                rows="3",
                max_length=1000,
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
    )


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.el.input(
                type="hidden", name="assistant_id", value=HandoffSettingsState.assistant_id
            ),
            section(
                "Handoff",
                _switch(
                    "enabled",
                    "Hand conversations to people",
                    HandoffSettingsState.enabled,
                    "Off: the AI answers everything and never calls an operator.",
                ),
            ),
            _triggers(),
            _business_hours(),
            _no_one_accepts(),
            error_callout(HandoffSettingsState.error),
            rx.hstack(
                rx.button(rx.icon("save", size=16), "Save", type="submit", id="handoff-save"),
                rx.button(
                    "Discard changes",
                    type="button",
                    variant="soft",
                    color_scheme="gray",
                    on_click=HandoffSettingsState.choose_assistant(
                        HandoffSettingsState.assistant_id
                    ),
                ),
                spacing="3",
            ),
            spacing="4",
            width="100%",
        ),
        key=HandoffSettingsState.form_key,
        on_submit=HandoffSettingsState.save,
        reset_on_submit=False,
        width="100%",
        max_width="60rem",
    )


@dashboard_page(
    "/handoff",
    "Handoff",
    role="admin",
    on_load=[HandoffSettingsState.load],
    nav=Nav("Handoff", "hand_helping", 50),
)
def handoff_page() -> rx.Component:
    return rx.cond(
        ~HandoffSettingsState.loaded,
        loading(),
        rx.cond(
            HandoffSettingsState.assistant_options.length() == 0,
            rx.callout(
                "Create an assistant first: each assistant has its own handoff policy.", icon="info"
            ),
            rx.vstack(
                assistant_picker(HandoffSettingsState.assistant_options,
                                 HandoffSettingsState.assistant_id,
                                 HandoffSettingsState.choose_assistant, "handoff-assistant",
                                 as_label=True),
                _form(),
                spacing="4",
                width="100%",
            ),
        ),
    )
