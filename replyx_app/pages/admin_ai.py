"""Platform admin: AI providers."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.actions import delete_icon_button, toggle_button
from components.dialogs import confirm_dialog, dialog_buttons, editor_dialog
from components.forms import error_callout, field, form_card
from components.panels import data_table, hint
from replyx_app.pages.registry import Nav, dashboard_page
from state.admin_ai import AdminAIState


def _key_row(k: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(k["name"], weight="medium"),
                                rx.text(k["base_url"], size="1", color_scheme="gray"),
                                rx.text("key ", k["key_hint"], " · priority ", k["priority"],
                                        size="1", color_scheme="gray"),
                                spacing="0")),
        rx.table.cell(rx.text(k["models"], size="2")),
        rx.table.cell(rx.vstack(rx.text(k["limits"], size="1"),
                                rx.text("today ", k["today"], size="1"),
                                rx.text("this month ", k["month"], size="1"), spacing="0")),
        rx.table.cell(rx.vstack(
            rx.text(k["usage"], size="1"),
            rx.cond(k["last_success_at"] != "",
                    rx.text("last answer ", k["last_success_at"], size="1",
                            color_scheme="gray")),
            spacing="0")),
        rx.table.cell(rx.vstack(
            rx.badge(k["state"], color_scheme=rx.match(k["state"], ("active", "green"),
                                                       ("cooling down", "amber"),
                                                       ("daily quota used", "amber"),
                                                       ("monthly quota used", "amber"), "red")),
            rx.cond(k["cooldown"] != "", rx.text("until ", k["cooldown"], size="1")),
            rx.cond(k["reason"] != "", rx.text(k["reason"], size="1", color_scheme="red",
                                               max_width="16rem")),
            rx.cond(k["last_error"] != "",
                    rx.text("last error ", k["last_error_at"], ": ", k["last_error"], size="1",
                            color_scheme="gray", max_width="16rem", class_name="ai-last-error")),
            spacing="1")),
        rx.table.cell(rx.hstack(
            rx.button("Edit", size="1", variant="soft", on_click=AdminAIState.edit(k["id"]),
                      class_name="ai-key-edit"),
            toggle_button(k["enabled"], ("Disable", AdminAIState.set_enabled(k["id"], False)),
                          ("Enable", AdminAIState.set_enabled(k["id"], True))),
            delete_icon_button("Delete key", AdminAIState.ask_delete(k["id"])),
        )),
        class_name="ai-key-row",
    )


def _limit_fields(values: Any | None) -> list[rx.Component]:
    """Limits, priority and quotas; pre-filled from `values` (the edited key) if given."""
    def value(key: str, default: str) -> dict[str, Any]:
        if values is None:
            return {"default_value": default}
        return {"default_value": values[key].to_string(), "key": values["id"].to_string()}

    prefix = "edit-" if values is not None else ""
    return [
        field("Requests per minute", "rpm", type="number", id=f"{prefix}rpm",
              **value("rpm", "60")),
        field("Tokens per minute", "tpm", type="number", id=f"{prefix}tpm",
              **value("tpm", "100000")),
        field("Priority (lower is tried first)", "priority", type="number", min=0,
              id=f"{prefix}priority", **value("priority", "100")),
        field("Daily token quota (0 = none)", "daily_quota", type="number", min=0,
              id=f"{prefix}daily-quota", **value("daily_quota", "0")),
        field("Monthly token quota (0 = none)", "monthly_quota", type="number", min=0,
              id=f"{prefix}monthly-quota", **value("monthly_quota", "0")),
    ]


def _edit_dialog() -> rx.Component:
    k = AdminAIState.editing
    ident: dict[str, Any] = {"key": k["id"].to_string()}
    return editor_dialog(
        ["Edit ", k["name"]],
        rx.form(
            rx.vstack(
                error_callout(AdminAIState.edit_error, id="edit-error"),
                rx.grid(
                    field("Name", "name", id="edit-name", required=True,
                          default_value=k["name"].to(str), **ident),
                    field("Base URL", "base_url", id="edit-base-url", required=True,
                          default_value=k["base_url"].to(str), **ident),
                    field("Models (comma separated, empty = any)", "models", id="edit-models",
                          default_value=k["models_raw"].to(str), **ident),
                    field("New API key (empty keeps the current one)", "new_api_key",
                          type="password", id="edit-api-key", auto_complete="off",
                          placeholder=rx.Var.create("current ends ") + k["key_hint"].to(str),
                          **ident),
                    *_limit_fields(k),
                    columns="2", spacing="3", width="100%",
                ),
                hint("A new key replaces the old one at once on every host and clears a "
                     "disabled state: the pool tries it on the next answer."),
                dialog_buttons("Save", "edit-save"),
                spacing="3",
            ),
            on_submit=AdminAIState.save_edit,
        ),
        open=AdminAIState.edit_open, on_open_change=AdminAIState.set_edit_open,
        max_width="44rem",
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
        *_limit_fields(None),
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
            rx.box(data_table(("Endpoint", "Models", "Limits and quotas", "Use",
                               "State", ""), AdminAIState.items, _key_row),
                   width="100%", overflow_x="auto"),
        ),
        _edit_dialog(),
        confirm_dialog(
            "Delete this key?",
            "Answers stop using it at once; a key that is only misbehaving can be turned off "
            "instead and kept.",
            confirm="Delete", on_confirm=AdminAIState.delete(AdminAIState.confirm_delete_id),
            on_cancel=AdminAIState.cancel_delete, open=AdminAIState.confirm_delete_id != 0),
        spacing="4", width="100%",
    )
