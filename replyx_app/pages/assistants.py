"""Assistants: list, create from an industry template, edit, delete."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from backend_services.assistants.service import LANGUAGES
from backend_services.assistants.templates import TEMPLATES
from components.actions import action_button, new_button, row_actions
from components.dialogs import confirm_dialog, dialog_buttons, editor_dialog
from components.forms import error_callout, field, select_field, textarea_field
from components.panels import data_table, empty_state, hint, list_page
from replyx_app.pages.registry import Nav, dashboard_page
from state.assistants import AssistantsState


def _assistant_row(a: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(a["name"], weight="medium")),
        rx.table.cell(a["model"]),
        rx.table.cell(a["language"]),
        rx.table.cell(a["temperature"]),
        rx.table.cell(rx.cond(a["is_active"], rx.badge("active", color_scheme="green"),
                              rx.badge("paused", color_scheme="gray"))),
        rx.table.cell(row_actions(
            action_button("pencil", "Edit", AssistantsState.open_edit(a["id"])),
            action_button("trash_2", "Delete", AssistantsState.ask_delete(a["id"]),
                          color_scheme="red"),
        )),
        class_name="assistant-row",
    )


def _extractive_notice(element_id: str) -> rx.Component:
    """Said plainly: without an AI provider, answers quote the knowledge."""
    return rx.cond(
        ~AssistantsState.provider_configured,
        rx.callout("No AI provider is configured on this platform yet, so answers quote the "
                   "best-matching passages of your knowledge with their sources (extractive "
                   "mode). The model and temperature apply once a provider is added.",
                   icon="info", width="100%", id=element_id),
    )


def _assistant_editor() -> rx.Component:
    d = AssistantsState.draft
    return editor_dialog(
        rx.cond(AssistantsState.editing_id == 0, "New assistant", "Edit assistant"),
        rx.form(
            rx.vstack(
                error_callout(AssistantsState.form_error),
                _extractive_notice("editor-extractive-notice"),
                rx.el.datalist(rx.foreach(AssistantsState.model_options,
                                          lambda m: rx.el.option(value=m)),
                               id="model-options"),
                field("Name", "name", default_value=d["name"].to(str), required=True,
                      auto_focus=True, max_length=80),
                textarea_field("System prompt", "system_prompt",
                               default_value=d["system_prompt"].to(str), rows="5",
                               placeholder="You are the support assistant of …"),
                rx.hstack(
                    field("Model", "model", default_value=d["model"].to(str),
                          list="model-options", auto_complete="off"),
                    field("Temperature (0–2)", "temperature", type="number", step="0.1",
                          min="0", max="2", default_value=d["temperature"].to(str)),
                    width="100%", spacing="3",
                ),
                rx.hstack(
                    select_field("Language", "language", LANGUAGES.items(),
                                 default_value=d["language"].to(str),
                                 on_change=AssistantsState.set_draft_language),
                    select_field("Industry template", "industry",
                                 [(t.key, t.label) for t in TEMPLATES.values()],
                                 default_value=d["industry"].to(str),
                                 on_change=AssistantsState.choose_template),
                    width="100%", spacing="3",
                ),
                hint("A template fills the prompt and the greeting in the assistant's "
                     "language; edit them as you like. Your own prompt is never replaced."),
                textarea_field("Greeting", "greeting", default_value=d["greeting"].to(str),
                               rows="2", placeholder="Hi! How can I help?"),
                field("Fallback models (comma separated, tried in order)", "fallback_models",
                      default_value=d["fallback_models"].to(str),
                      placeholder="gpt-4o, llama3.1"),
                rx.hstack(
                    field("Chunk size (tokens)", "chunk_max_tokens", type="number",
                          min="100", max="1000", default_value=d["chunk_max_tokens"].to(str)),
                    field("Chunk overlap (tokens)", "chunk_overlap_tokens", type="number",
                          min="0", max="500",
                          default_value=d["chunk_overlap_tokens"].to(str)),
                    width="100%", spacing="3",
                ),
                rx.hstack(rx.switch(name="is_active", default_checked=d["is_active"].to(bool),
                                    id="is_active"),
                          rx.text("Active (answers visitors)", as_="label",
                                  html_for="is_active", size="2")),
                dialog_buttons("Save", "assistant-save"),
                spacing="3",
            ),
            on_submit=AssistantsState.save,
            reset_on_submit=False,
        ),
        open=AssistantsState.editor_open,
        on_open_change=AssistantsState.set_editor_open,
    )


def _delete_confirm() -> rx.Component:
    return confirm_dialog(
        "Delete this assistant?",
        "Its knowledge, channels and conversations are deleted with it. This cannot be undone.",
        confirm="Delete", on_confirm=AssistantsState.delete(AssistantsState.confirm_delete_id),
        on_cancel=AssistantsState.cancel_delete, open=AssistantsState.confirm_delete_id != 0,
    )


@dashboard_page("/assistants", "Assistants", role="admin", on_load=[AssistantsState.load],
                nav=Nav("Assistants", "bot", 20))
def assistants_page() -> rx.Component:
    empty = empty_state("bot", rx.text("No assistants yet."),
                        rx.button("Create your first assistant",
                                  on_click=AssistantsState.open_new))
    table = data_table(("Name", "Model", "Language", "Temperature", "Status", ""),
                       AssistantsState.items, _assistant_row)
    return list_page("Assistants answer your visitors from your knowledge.",
                     new_button("New assistant", AssistantsState.open_new, "new-assistant"),
                     AssistantsState.loaded, AssistantsState.items, empty, table,
                     _extractive_notice("extractive-notice"), _assistant_editor(),
                     _delete_confirm())
