"""A printable receipt for one payment."""

from __future__ import annotations

import reflex as rx

from components.panels import loading
from replyx_app.pages.registry import dashboard_page
from state.billing_receipt import ReceiptState


def _receipt() -> rx.Component:
    return rx.card(rx.vstack(
        rx.heading("Receipt", size="5"),
        rx.text("ReplyX balance top-up", color_scheme="gray"),
        rx.grid(rx.foreach(ReceiptState.lines, lambda line: rx.fragment(
            rx.text(line[0], size="2", color_scheme="gray"),
            rx.text(line[1], size="2", class_name="receipt-value"))),
            columns="2", spacing="2", width="100%"),
        rx.hstack(rx.button(rx.icon("printer", size=16), "Print", variant="soft",
                            on_click=rx.call_script("window.print()")),
                  rx.link("Back to billing", href="/billing"), align="center", spacing="4"),
        spacing="3", width="100%"), max_width="36rem", id="receipt")


@dashboard_page("/billing/receipt", "Receipt", role="admin", on_load=[ReceiptState.load])
def billing_receipt_page() -> rx.Component:
    return rx.cond(~ReceiptState.loaded, loading(), rx.cond(
        ReceiptState.found, _receipt(),
        rx.callout("That payment was not found.", icon="triangle_alert", color_scheme="red")))
