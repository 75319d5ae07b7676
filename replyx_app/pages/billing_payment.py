"""Back from the payment page: pending → paid (or failed) as the gateway confirms."""

from __future__ import annotations

import reflex as rx

from components.panels import loading, section
from replyx_app.pages.billing import status_badge
from replyx_app.pages.registry import dashboard_page
from state.billing_payment import PaymentReturnState

S = PaymentReturnState


def _found() -> rx.Component:
    p = S.payment
    return section(
        "Your payment",
        rx.hstack(rx.text(p["amount"].to(str), size="6", weight="bold", id="payment-amount"),
                  rx.text("via ", p["method"].to(str), color_scheme="gray"), align="center"),
        rx.hstack(rx.text("Status:"), rx.box(status_badge(p["status"], p["status_label"]),
                                             id="payment-status"), align="center"),
        rx.cond(p["failure"].to(str) != "", rx.text(p["failure"].to(str), size="2",
                                                    color_scheme="gray")),
        rx.cond(S.watching, rx.hstack(rx.spinner(size="1"), rx.text(
            "Waiting for the payment service to confirm…", size="2"), align="center")),
        rx.hstack(rx.text("Balance:"), rx.text(S.balance, weight="bold", id="payment-balance"),
                  align="center"),
        rx.hstack(
            rx.link("Back to billing", href="/billing"),
            rx.cond(p["receipt"].to(bool), rx.link(
                "Receipt", href="/billing/receipt?order=" + p["order"].to(str),
                id="payment-receipt")),
            spacing="4"),
    )


@dashboard_page("/billing/payment", "Payment", role="admin", on_load=[S.load])
def billing_payment_page() -> rx.Component:
    return rx.cond(~S.loaded, loading(), rx.cond(
        S.missing, rx.callout("That payment was not found.", icon="triangle_alert",
                              color_scheme="red"), _found()))
