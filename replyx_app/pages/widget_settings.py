"""Widget tab: how an assistant's website chat looks, where it may load, and its snippet."""

from __future__ import annotations

from typing import Any

import reflex as rx

from components.actions import save_and_discard
from components.forms import error_callout, labelled, switch_row
from components.panels import section
from components.pickers import assistant_scoped
from replyx_app.pages.registry import Nav, dashboard_page
from state.widget_settings import WidgetSettingsState

_LANGUAGES = [("en", "English"), ("ru", "Русский")]


def _text_field(title: str, field: str, value: Any, **props: Any) -> rx.Component:
    element_id = f"widget-{field.replace('_', '-')}"
    note = props.pop("hint", None)
    return labelled(title, element_id, rx.input(
        id=element_id, value=value, on_change=WidgetSettingsState.edit(field), width="100%",
        **props), note)


def _text_area(title: str, field: str, value: Any, note: str, **props: Any) -> rx.Component:
    element_id = f"widget-{field.split('_')[0]}"
    return labelled(title, element_id, rx.text_area(
        id=element_id, value=value, on_change=WidgetSettingsState.edit(field), width="100%",
        **props), note)


def _colour() -> rx.Component:
    picker_style = {"width": "2.5rem", "height": "2rem", "border": "none", "padding": "0",
                    "background": "none", "cursor": "pointer"}
    return labelled("Colour", "widget-color", rx.hstack(
        rx.el.input(type="color", value=WidgetSettingsState.preview_color,
                    on_change=WidgetSettingsState.edit("primary_color"),
                    id="widget-color-picker", aria_label="Pick a colour", style=picker_style),
        rx.input(id="widget-color", value=WidgetSettingsState.primary_color,
                 on_change=WidgetSettingsState.edit("primary_color"), max_length=7,
                 width="7rem"),
        align="center", spacing="2",
    ), width=None)


def _form() -> rx.Component:
    position = rx.segmented_control.root(
        rx.segmented_control.item("Left", value="left"),
        rx.segmented_control.item("Right", value="right"),
        value=WidgetSettingsState.position, on_change=WidgetSettingsState.edit("position"),
        id="widget-position",
    )
    language = rx.select.root(
        rx.select.trigger(id="widget-language"),
        rx.select.content(*[rx.select.item(name, value=code) for code, name in _LANGUAGES]),
        value=WidgetSettingsState.language, on_change=WidgetSettingsState.edit("language"),
    )
    return rx.card(
        rx.vstack(
            switch_row("widget-enabled", "Widget switched on", align="center", spacing="2",
                       checked=WidgetSettingsState.enabled,
                       on_change=WidgetSettingsState.set_enabled),
            _text_field("Title", "title", WidgetSettingsState.title, max_length=80,
                        placeholder="Shown at the top of the chat",
                        hint="Empty: the assistant's name."),
            _text_area("Greeting", "greeting", WidgetSettingsState.greeting,
                       "The assistant's first message. Shared with the assistant's settings.",
                       max_length=500, rows="3",
                       placeholder="Hi! Ask me anything about our products."),
            _text_field("Launcher text", "launcher_text", WidgetSettingsState.launcher_text,
                        max_length=40, placeholder=WidgetSettingsState.strings["launcher"]),
            rx.grid(
                _colour(),
                labelled("Position", "widget-position", position, width=None),
                labelled("Language", "widget-language", language, width=None),
                columns="3", spacing="4", width="100%",
            ),
            _text_field("Avatar image", "avatar_url", WidgetSettingsState.avatar_url, type="url",
                        placeholder="https://…/avatar.png",
                        hint="An https:// address, or empty for none."),
            _text_area("Allowed websites", "origins_text", WidgetSettingsState.origins_text,
                       "One origin per line (scheme and host, optionally :port), up to 20. "
                       "The widget loads only on these sites; with none it loads nowhere.",
                       rows="4", placeholder="https://www.example.com\nhttps://shop.example.com",
                       font_family="var(--code-font-family)"),
            error_callout(WidgetSettingsState.error),
            save_and_discard("widget-save", WidgetSettingsState.discard,
                             on_save=WidgetSettingsState.save),
            spacing="4", width="100%",
        ),
        width="100%",
    )


def _bubble(text: Any, mine: bool = False) -> rx.Component:
    return rx.box(
        rx.text(text, size="2", white_space="pre-wrap"),
        padding="0.5rem 0.75rem", border_radius="12px", max_width="85%",
        align_self="flex-end" if mine else "flex-start",
        background=WidgetSettingsState.preview_color if mine else "#f1f5f9",
        color="white" if mine else "#0f172a",
    )


def _preview_header() -> rx.Component:
    s = WidgetSettingsState
    return rx.hstack(
        rx.cond(
            s.avatar_url != "",
            rx.avatar(src=s.avatar_url, size="2", radius="full"),
            rx.center(rx.text("AI", size="1", weight="bold", color=s.preview_color),
                      width="32px", height="32px", border_radius="50%", background="white",
                      flex_shrink="0"),
        ),
        rx.vstack(
            rx.text(s.preview_title, weight="bold", size="2", color="white", id="preview-title"),
            rx.text(s.strings["ai_label"], size="1", color="rgba(255,255,255,0.85)"),
            spacing="0",
        ),
        rx.spacer(),
        rx.icon("x", size=16, color="white"),
        background=s.preview_color, padding="0.75rem", width="100%", align="center",
    )


def _preview_input() -> rx.Component:
    s = WidgetSettingsState
    return rx.hstack(
        rx.box(
            rx.text(s.strings["input_placeholder"], size="2", color="#94a3b8",
                    white_space="nowrap", overflow="hidden", text_overflow="ellipsis"),
            min_width="0", flex="1", padding="0.4rem 0.6rem", border="1px solid #e2e8f0",
            border_radius="8px", background="white",
        ),
        rx.box(rx.text(s.strings["send"], size="2", color="white"), background=s.preview_color,
               padding="0.4rem 0.8rem", border_radius="8px"),
        padding="0.75rem", width="100%", spacing="2",
    )


def _preview() -> rx.Component:
    """A static picture of the widget on a page: the open chat above the launcher."""
    s = WidgetSettingsState
    left = rx.cond(s.position == "left", "16px", "auto")
    right = rx.cond(s.position == "left", "auto", "16px")
    question = rx.cond(s.language == "ru", "Как вернуть товар?", "How do I return an item?")
    panel = rx.vstack(
        _preview_header(),
        rx.vstack(
            rx.cond(s.greeting != "", _bubble(s.greeting)),
            _bubble(question, mine=True),
            rx.text(s.strings["ai_typing"], size="1", color="#64748b"),
            spacing="2", padding="0.75rem", width="100%", flex="1",
        ),
        rx.hstack(rx.text(s.strings["talk_to_human"], size="1", color=s.preview_color,
                          weight="medium"), padding_x="0.75rem", width="100%"),
        _preview_input(),
        rx.text(s.strings["powered_by"], size="1", color="#94a3b8", align="center",
                width="100%", padding_bottom="0.4rem"),
        spacing="0", width="290px", height="400px", background="white",
        border_radius="14px", overflow="hidden", box_shadow="0 8px 30px rgba(0,0,0,.25)",
        position="absolute", bottom="76px", left=left, right=right,
    )
    launcher = rx.hstack(
        rx.icon("message_circle", size=22, color="white"),
        rx.text(s.preview_launcher, weight="bold", size="2", color="white",
                id="preview-launcher"),
        background=s.preview_color, height="48px", padding_x="1rem", border_radius="24px",
        align="center", spacing="2", box_shadow="0 4px 14px rgba(0,0,0,.25)",
        position="absolute", bottom="16px", left=left, right=right,
    )
    page_lines = [rx.box(height=h, width=w, background=c, border_radius="4px")
                  for h, w, c in (("10px", "40%", "#cbd5e1"), ("8px", "70%", "#e2e8f0"),
                                  ("8px", "60%", "#e2e8f0"))]
    return rx.box(
        rx.vstack(*page_lines, spacing="2", padding="1.25rem"),
        panel,
        launcher,
        position="relative", height="500px", width="100%", overflow="hidden",
        background="#f8fafc", border=f"1px solid {rx.color('gray', 6)}",
        border_radius="var(--radius-4)", id="widget-preview",
        aria_label="Preview of the widget on a web page", role="img",
    )


def _snippet() -> rx.Component:
    code_style = {"white_space": "pre-wrap", "word_break": "break-all", "font_size": "0.8rem"}
    return section(
        "Add it to your site",
        rx.text("Paste this line before </body> on every page that should show the chat.",
                size="2", color_scheme="gray"),
        rx.box(rx.el.code(WidgetSettingsState.snippet, id="widget-snippet", style=code_style),
               padding="0.75rem", width="100%", background=rx.color("gray", 3),
               border_radius="var(--radius-3)"),
        rx.button(rx.icon("copy", size=16), "Copy snippet",
                  on_click=WidgetSettingsState.copy_snippet, variant="soft", id="widget-copy"),
        rx.cond(
            WidgetSettingsState.saved_origins.length() == 0,
            rx.callout("The widget loads nowhere yet: add your website under Allowed websites "
                       "and save.", icon="info", color_scheme="amber", width="100%",
                       id="widget-no-origins"),
        ),
        spacing="3",
    )


@dashboard_page("/widget-settings", "Widget", role="admin",
                on_load=[WidgetSettingsState.load],
                nav=Nav("Widget", "message_square_code", 40))
def widget_settings_page() -> rx.Component:
    return assistant_scoped(
        WidgetSettingsState.assistant_options, WidgetSettingsState.assistant_id,
        WidgetSettingsState.choose_assistant, "widget-assistant",
        "Create an assistant first: the widget belongs to an assistant.",
        rx.grid(
            _form(),
            rx.vstack(rx.heading("Preview", size="3", as_="h2"), _preview(), _snippet(),
                      spacing="3", width="100%"),
            columns=rx.breakpoints(initial="1", lg="2"), spacing="5", width="100%",
        ),
    )
