"""Webhooks: the workspace's events POSTed to its own systems, signed, with a log."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from backend_services.integrations.webhooks import EVENTS
from components.actions import action_button, delete_icon_button
from components.forms import field, form_card
from components.panels import data_table, empty_state, hint, loaded_list, section
from replyx_app.pages.registry import Nav, dashboard_page
from state.webhooks import WebhooksState as S


def _endpoint(e: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.vstack(rx.code(e["url"]), rx.text(e["description"], size="1",
                                                      color_scheme="gray"), spacing="1"),
                rx.spacer(),
                rx.switch(checked=e["active"], on_change=lambda v: S.set_active(e["id"], v),
                          aria_label="Active"),
                width="100%", align="start"),
            hint(e["events"]),
            rx.text(e["summary"], size="1"),
            rx.hstack(
                action_button("send", "Send test event", S.send_test(e["id"])),
                action_button("scroll_text", "Delivery log", S.show_log(e["id"])),
                action_button("key_round", "New secret", S.rotate(e["id"])),
                delete_icon_button("Delete webhook", S.delete(e["id"])),
                spacing="2", wrap="wrap"),
            spacing="2", width="100%"),
        width="100%", class_name="webhook-row",
    )


def _delivery(d: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(d["at"], white_space="nowrap")),
        rx.table.cell(rx.code(d["event"])),
        rx.table.cell(rx.badge(d["status"], color_scheme=rx.match(
            d["status"], ("delivered", "green"), ("pending", "amber"), "red"))),
        rx.table.cell(d["attempts"]),
        rx.table.cell(d["code"]),
        rx.table.cell(rx.vstack(rx.text(d["answer"], size="1", style={"word_break": "break-all"}),
                                rx.cond(d["next"] != "", hint("next attempt ", d["next"])),
                                spacing="0")),
        rx.table.cell(rx.cond(d["retry"], action_button(None, "Send again",
                                                        S.retry(d["id"])))),
        class_name="delivery-row",
    )


def _secret_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Signing secret"),
            rx.vstack(
                rx.callout("Copy it now: it is shown only this once.", icon="triangle_alert",
                           color_scheme="amber", width="100%"),
                rx.hstack(rx.code(S.new_secret, id="webhook-secret",
                                  style={"word_break": "break-all"}),
                          rx.button(rx.icon("copy", size=16), "Copy", variant="soft",
                                    on_click=rx.set_clipboard(S.new_secret)), align="center"),
                hint("Each request carries X-ReplyX-Signature: t=<time>,v1=<HMAC-SHA256 of "
                     "\"<time>.<body>\" with this secret>."),
                rx.dialog.close(rx.button("Done", id="webhook-secret-done")),
                spacing="3", align="end"),
            max_width="40rem"),
        open=S.new_secret != "", on_open_change=S.forget_secret,
    )


@dashboard_page("/webhooks", "Webhooks", role="admin", on_load=[S.load],
                nav=Nav("Webhooks", "webhook", 123))
def webhooks_page() -> rx.Component:
    return rx.vstack(
        rx.text("ReplyX POSTs what happens in your conversations to your own systems, "
                "signed, retried with backoff when they do not answer 2xx.",
                color_scheme="gray"),
        form_card(
            "New webhook",
            field("URL", "url", placeholder="https://crm.example.com/replyx", required=True,
                  id="webhook-url"),
            field("Description", "description", placeholder="CRM", id="webhook-description"),
            rx.flex(*[rx.hstack(rx.checkbox(name=f"event_{e}", id=f"event-{e}",
                                            default_checked=True),
                                rx.vstack(rx.text(e, as_="label", html_for=f"event-{e}",
                                                  weight="medium", size="2"),
                                          hint(text), spacing="0"),
                                align="start", spacing="2", width="18rem")
                      for e, text in EVENTS.items()], wrap="wrap", spacing="4"),
            rx.button("Add webhook", type="submit", id="webhook-create"),
            on_submit=S.create, reset_on_submit=True,
        ),
        loaded_list(S.loaded, S.endpoints,
                    empty_state("webhook", rx.text("No webhook yet.")),
                    rx.vstack(rx.foreach(S.endpoints, _endpoint), spacing="3", width="100%")),
        rx.cond(S.log_of != 0, section(
            "Delivery log",
            rx.hstack(hint("Newest first; the receiver's status and the start of its answer."),
                      rx.spacer(), action_button("refresh_cw", "Refresh", S.refresh_log),
                      width="100%"),
            rx.cond(S.log.length() > 0,
                    rx.box(data_table(("Queued", "Event", "Status", "Attempts", "HTTP",
                                       "Answer", ""), S.log, _delivery, size="1"),
                           width="100%", overflow_x="auto"),
                    hint("Nothing sent yet.")),
        )),
        _secret_dialog(),
        spacing="4", width="100%",
    )
