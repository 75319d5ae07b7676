"""Platform admin: AI providers."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.actions import delete_icon_button, toggle_button
from components.forms import error_callout, field, form_card
from components.panels import data_table
from replyx_app.pages.registry import Nav, dashboard_page
from state.admin_ai import AdminAIState


def _key_row(k: ObjectVar[dict[str, Any]]) -> rx.Component:
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
            toggle_button(k["enabled"], ("Disable", AdminAIState.set_enabled(k["id"], False)),
                          ("Enable", AdminAIState.set_enabled(k["id"], True))),
            delete_icon_button("Delete key", AdminAIState.delete(k["id"])),
        )),
        class_name="ai-key-row",
    )


@dashboard_page(
    "/admin/ai", "AI providers", role="platform_admin", on_load=[AdminAIState.load],
    nav=Nav("AI providers", "cpu", 150),
)
def admin_ai_page() -> rx.Component:
    fields = rx.grid(
        field("Name", "name", placeholder="OpenAI main", required=True),
        field("Base URL", "base_url", placeholder="https://api.openai.com/v1", required=True),
        field("API key", "api_key", type="password", id="ai-api-key", auto_complete="off",
              required=True),
        field("Models (comma separated, empty = any)", "models",
              placeholder="gpt-4o-mini, gpt-4o"),
        field("Requests per minute", "rpm", type="number", default_value="60"),
        field("Tokens per minute", "tpm", type="number", default_value="100000"),
        columns="2", spacing="3", width="100%",
    )
    return rx.vstack(
        form_card("Add an OpenAI-compatible endpoint", error_callout(AdminAIState.form_error),
                  fields, rx.button("Add key", type="submit", id="ai-add"),
                  on_submit=AdminAIState.add, reset_on_submit=True),
        rx.cond(
            AdminAIState.items.length() == 0,
            rx.callout("No provider configured: assistants answer in extractive mode (best "
                       "matching passages with sources).", icon="info"),
            data_table(("Endpoint", "Models", "Limits", "Last 24 h", "State", ""),
                       AdminAIState.items, _key_row),
        ),
        spacing="4", width="100%",
    )
