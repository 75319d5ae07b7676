"""Platform admin: AI providers."""

from __future__ import annotations

import reflex as rx

from components.forms import error_callout, field
from components.panels import data_table
from replyx_app.pages.registry import Nav, dashboard_page
from state.admin_ai import AdminAIState


def _key_row(k: rx.Var) -> rx.Component:  # type: ignore[type-arg]
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(k["name"], weight="medium"),
                                rx.text(k["base_url"], size="1", color_scheme="gray"),
                                rx.text("key ", k["key_hint"], size="1", color_scheme="gray"),
                                spacing="0")),
        rx.table.cell(rx.text(k["models"], size="2")),
        rx.table.cell(rx.text(k["limits"], size="1")),
        rx.table.cell(rx.text(k["usage"], size="1")),
        rx.table.cell(rx.vstack(
            rx.badge(k["state"], color_scheme=rx.match(k["state"], ("active", "green"),
                                                       ("cooling down", "amber"), "red")),
            rx.cond(k["cooldown"] != "", rx.text("until ", k["cooldown"], size="1")),
            rx.cond(k["reason"] != "", rx.text(k["reason"], size="1", color_scheme="red",
                                               max_width="16rem")),
            spacing="1")),
        rx.table.cell(rx.hstack(
            rx.cond(k["enabled"],
                    rx.button("Disable", size="1", variant="soft",
                              on_click=AdminAIState.set_enabled(k["id"], False)),
                    rx.button("Enable", size="1", variant="soft",
                              on_click=AdminAIState.set_enabled(k["id"], True))),
            rx.button(rx.icon("trash_2", size=14), size="1", variant="soft", color_scheme="red",
                      aria_label="Delete key", on_click=AdminAIState.delete(k["id"])),
        )),
        class_name="ai-key-row",
    )


@dashboard_page(
    "/admin/ai", "AI providers", role="platform_admin", on_load=[AdminAIState.load],
    nav=Nav("AI providers", "cpu", 150),
)
def admin_ai_page() -> rx.Component:
    return rx.vstack(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Add an OpenAI-compatible endpoint", size="3"),
                    error_callout(AdminAIState.form_error),
                    rx.grid(
                        field("Name", "name", placeholder="OpenAI main", required=True),
                        field("Base URL", "base_url", placeholder="https://api.openai.com/v1",
                              required=True),
                        field("API key", "api_key", type="password", id="ai-api-key",
                              auto_complete="off", required=True),
                        field("Models (comma separated, empty = any)", "models",
                              placeholder="gpt-4o-mini, gpt-4o"),
                        field("Requests per minute", "rpm", type="number", default_value="60"),
                        field("Tokens per minute", "tpm", type="number",
                              default_value="100000"),
                        columns="2", spacing="3", width="100%",
                    ),
                    rx.button("Add key", type="submit", id="ai-add"),
                    spacing="3",
                ),
                on_submit=AdminAIState.add,
                reset_on_submit=True,
            ),
            width="100%",
        ),
        rx.cond(
            AdminAIState.items.length() == 0,
            rx.callout("No provider configured: assistants answer in extractive mode (best "
                       "matching passages with sources).", icon="info"),
            data_table(("Endpoint", "Models", "Limits", "Last 24 h", "State", ""),
                       AdminAIState.items, _key_row),
        ),
        spacing="4", width="100%",
    )
