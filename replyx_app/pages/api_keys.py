"""API keys: how the workspace's own systems use the public REST API."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from backend_services.integrations.api_keys import SCOPES
from components.actions import action_button
from components.forms import field, form_card
from components.panels import data_table, empty_state, hint, loaded_list
from replyx_app.pages.registry import Nav, dashboard_page
from state.api_keys import ApiKeysState as S


def _row(k: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(k["name"], weight="medium"),
                                rx.code(k["prefix"], "_…", size="1"), spacing="1")),
        rx.table.cell(k["scopes"]),
        rx.table.cell(rx.text(k["created"], size="1")),
        rx.table.cell(rx.text(k["last_used"], size="1")),
        rx.table.cell(rx.cond(k["revoked"], rx.badge("revoked", color_scheme="gray"),
                              action_button(None, "Revoke", S.revoke(k["id"]),
                                            color_scheme="red"))),
        class_name="api-key-row",
    )


def _token_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Your new API key"),
            rx.vstack(
                rx.callout("Copy it now: it is shown only this once. ReplyX keeps only a "
                           "fingerprint of it.", icon="triangle_alert", color_scheme="amber",
                           width="100%"),
                rx.hstack(
                    rx.code(S.new_token, id="new-api-key", style={"word_break": "break-all"}),
                    rx.button(rx.icon("copy", size=16), "Copy", variant="soft",
                              on_click=rx.set_clipboard(S.new_token)),
                    align="center", width="100%"),
                hint("Send it as the header Authorization: Bearer <key>."),
                rx.dialog.close(rx.button("Done", id="api-key-done")),
                spacing="3", align="end",
            ),
            max_width="40rem",
        ),
        open=S.new_token != "",
        on_open_change=S.forget_token,
    )


@dashboard_page("/api-keys", "API keys", role="admin", on_load=[S.load],
                nav=Nav("API keys", "key_round", 122))
def api_keys_page() -> rx.Component:
    return rx.vstack(
        rx.text("Your own systems (a CRM, a help desk, scripts) use the REST API with these "
                "keys. ", rx.link("API reference", href="/api/docs", is_external=True),
                color_scheme="gray"),
        form_card(
            "New key",
            field("Name (what uses it)", "name", placeholder="CRM sync", required=True,
                  id="api-key-name"),
            rx.hstack(*[rx.hstack(rx.checkbox(name=f"scope_{s}", id=f"scope-{s}",
                                              default_checked=s == "read"),
                                  rx.vstack(rx.text(s, as_="label", html_for=f"scope-{s}",
                                                    weight="medium", size="2"),
                                            hint(text), spacing="0"),
                                  align="start", spacing="2")
                        for s, text in SCOPES.items()], spacing="5", wrap="wrap"),
            rx.button("Create key", type="submit", id="api-key-create"),
            on_submit=S.create, reset_on_submit=True,
        ),
        loaded_list(S.loaded, S.keys,
                    empty_state("key_round", rx.text("No API key yet.")),
                    rx.box(data_table(("Key", "Scopes", "Created", "Last used", ""),
                                      S.keys, _row), width="100%", overflow_x="auto")),
        _token_dialog(),
        spacing="4", width="100%",
    )
