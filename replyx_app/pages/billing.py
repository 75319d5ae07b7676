"""Billing: the workspace's balance, what it buys, spend per day and the ledger."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.charts import bar_chart
from components.forms import error_callout
from components.panels import data_table, empty_state, hint, loading, section
from replyx_app.pages.registry import Nav, dashboard_page
from state.billing import KIND_LABELS, BillingState


def _card(title: str, *children: rx.Component) -> rx.Component:
    return rx.card(rx.vstack(rx.text(title, size="2", color_scheme="gray"), *children,
                             spacing="1"), min_width="15rem", flex="1")


def _banner() -> rx.Component:
    return rx.match(
        BillingState.banner,
        ("zero", rx.callout(
            "The balance is spent: the AI does not answer (visitors are told, and their "
            "conversations go to your operators) and new knowledge cannot be added. "
            "Everything resumes as soon as the balance is topped up.",
            icon="octagon_alert", color_scheme="red", width="100%", id="billing-banner")),
        ("low", rx.callout("The balance is running low.", icon="triangle_alert",
                           color_scheme="amber", width="100%", id="billing-banner")),
        rx.fragment(),
    )


def _entry(e: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(e["time"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(e["kind"], size="2")),
        rx.table.cell(rx.cond(e["dialog_link"] != "",
                              rx.link(e["for"], href=e["dialog_link"].to(str), size="2",
                                      class_name="ledger-dialog"),
                              rx.text(e["for"], size="2"))),
        rx.table.cell(rx.vstack(
            rx.text(e["amount"], size="2", weight="medium",
                    color=rx.cond(e["credit"], rx.color("green", 11), rx.color("gray", 12))),
            rx.cond(e["waived"] != "", rx.text("rest waived: ", e["waived"], size="1",
                                               color_scheme="gray")),
            spacing="0", align="end"), text_align="right"),
        rx.table.cell(rx.text(e["after"], size="2", white_space="nowrap"), text_align="right"),
        class_name="ledger-row",
    )


STATUS_COLOURS = (("paid", "green"), ("pending", "amber"), ("created", "amber"),
                  ("refunded", "gray"), ("review", "orange"))


def status_badge(status: Any, label: Any) -> rx.Component:
    return rx.badge(label, color_scheme=rx.match(status, *STATUS_COLOURS, "red"),
                    class_name="payment-status")


def _payment(p: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(p["time"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(p["amount"], size="2", weight="medium")),
        rx.table.cell(rx.text(p["method"], size="2")),
        rx.table.cell(rx.vstack(status_badge(p["status"], p["status_label"]),
                                rx.cond(p["failure"] != "", rx.text(p["failure"], size="1",
                                                                    color_scheme="gray")),
                                spacing="1")),
        rx.table.cell(rx.cond(p["receipt"], rx.link(
            "Receipt", href="/billing/receipt?order=" + p["order"].to(str), size="2"))),
        class_name="payment-row",
    )


def _topup() -> rx.Component:
    form = rx.form(
        rx.vstack(
            error_callout(BillingState.topup_error, id="topup-error"),
            rx.hstack(
                rx.input(name="amount", id="topup-amount", placeholder="50.00",
                         input_mode="decimal", aria_label="Amount", required=True,
                         width="9rem", size="3"),
                rx.text(BillingState.currency, size="3"),
                rx.radio_group.root(
                    rx.foreach(BillingState.methods, lambda m: rx.radio_group.item(
                        m[1], value=m[0])),
                    name="method", default_value=BillingState.method,
                    direction="row", spacing="4", aria_label="Payment method"),
                rx.button("Pay", type="submit", id="topup-pay", size="3",
                          loading=BillingState.paying),
                wrap="wrap", spacing="3", align="center",
            ),
            hint("You go to the payment page of the method you choose, and come back here "
                 "when it is done. The balance grows once the payment is confirmed."),
            spacing="2", width="100%",
        ),
        on_submit=BillingState.pay, width="100%",
    )
    return section(
        "Top up",
        rx.cond(BillingState.methods.length() > 0, form, rx.text(
            "No payment method is connected on this installation. Your platform "
            "administrator can credit the balance.", color_scheme="gray", size="2")),
        rx.cond(BillingState.payments.length() > 0, rx.box(
            data_table(("Started", "Amount", "Method", "Status", ""),
                       BillingState.payments, _payment),
            overflow_x="auto", width="100%")),
    )


def _filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.select.root(
                rx.select.trigger(aria_label="Kind of entry"),
                rx.select.content(rx.select.item("All kinds", value="all"),
                                  *[rx.select.item(label, value=kind)
                                    for kind, label in KIND_LABELS.items()]),
                name="kind", default_value="all"),
            rx.input(type="date", name="since", aria_label="From", id="ledger-since"),
            rx.input(type="date", name="until", aria_label="To", id="ledger-until"),
            rx.button("Apply", type="submit", variant="soft", id="ledger-apply"),
            rx.spacer(),
            rx.button(rx.icon("download", size=16), "Export CSV", variant="outline",
                      type="button", on_click=BillingState.export, id="ledger-export"),
            wrap="wrap", spacing="2", width="100%", align="center",
        ),
        on_submit=BillingState.filter, width="100%",
    )


def _pager() -> rx.Component:
    return rx.hstack(
        rx.text(BillingState.total, " entries · page ", BillingState.page, " of ",
                BillingState.pages, size="2", color_scheme="gray", id="ledger-pages"),
        rx.spacer(),
        rx.button("Previous", variant="soft", size="1",
                  disabled=BillingState.page <= 1,
                  on_click=BillingState.go(BillingState.page - 1)),
        rx.button("Next", variant="soft", size="1", id="ledger-next",
                  disabled=BillingState.page >= BillingState.pages,
                  on_click=BillingState.go(BillingState.page + 1)),
        width="100%", align="center",
    )


def _body() -> rx.Component:
    return rx.vstack(
        _banner(),
        rx.flex(
            _card("Balance", rx.text(BillingState.balance, size="8", weight="bold",
                                     id="billing-balance")),
            _card("At today's prices it buys",
                  rx.cond(BillingState.buys.length() == 0,
                          rx.text("Answers cost only the model tokens they use.", size="2"),
                          rx.foreach(BillingState.buys, lambda b: rx.text(b, size="3")))),
            _card("Spent in the last 30 days", rx.text(BillingState.spent, size="6",
                                                       weight="bold")),
            wrap="wrap", gap="4", width="100%",
        ),
        _topup(),
        section("Spend per day",
                bar_chart(BillingState.series, "day",
                          [("answers", "AI answers", "indigo"),
                           ("documents", "Indexed documents", "teal")], stacked=True)),
        section("AI answers per day",
                bar_chart(BillingState.series, "day", [("count", "Answers", "indigo")],
                          height=180)),
        section("Today's prices", rx.cond(
            BillingState.prices.length() == 0,
            rx.text("No prices are set on this installation: nothing is charged.",
                    size="2", color_scheme="gray"),
            rx.grid(rx.foreach(BillingState.prices, lambda p: rx.fragment(
                rx.text(p[0], size="2", color_scheme="gray"), rx.text(p[1], size="2"))),
                columns="2", spacing="2", max_width="36rem"))),
        section("Ledger",
                _filters(),
                rx.cond(BillingState.entries.length() == 0,
                        empty_state("receipt", rx.text(
                            "No entries here yet. Charges appear as your assistants answer "
                            "and your documents are indexed.", color_scheme="gray")),
                        rx.vstack(
                            rx.box(data_table(("Time", "Kind", "For", ("Amount", "9rem"),
                                               ("Balance after", "9rem")),
                                              BillingState.entries, _entry),
                                   overflow_x="auto", width="100%"),
                            _pager(), width="100%")),
                ),
        spacing="5", width="100%",
    )


@dashboard_page("/billing", "Billing", role="admin", on_load=[BillingState.load],
                nav=Nav("Billing", "wallet", 115))
def billing_page() -> rx.Component:
    return rx.cond(BillingState.loaded, _body(), loading())
