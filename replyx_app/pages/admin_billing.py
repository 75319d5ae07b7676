"""Platform admin: prices (the sheet in force, scheduled and past) and balances."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.forms import error_callout, field, form_card
from components.panels import data_table, hint, loading
from replyx_app.pages.registry import Nav, dashboard_page
from state.admin_billing import AdminBillingState

S = AdminBillingState


def _sheet_row(t: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(
            rx.text(t["from"], size="2", white_space="nowrap"),
            rx.cond(t["scheduled"], rx.badge("scheduled", color_scheme="amber"),
                    rx.cond(t["id"] == S.in_force_id, rx.badge("in force", color_scheme="green"),
                            rx.badge("past", color_scheme="gray"))),
            spacing="1")),
        *[rx.table.cell(rx.text(t[k], size="2")) for k in
          ("answer", "markup", "page", "messages", "bonus", "low")],
        rx.table.cell(rx.cond(t["scheduled"], rx.button(
            "Withdraw", size="1", variant="soft", color_scheme="red",
            on_click=S.withdraw(t["id"])))),
        class_name="tariff-row",
    )


def _workspace_row(w: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(rx.table.cell(w["id"]), rx.table.cell(w["name"]),
                        rx.table.cell(w["balance"], text_align="right"),
                        class_name="balance-row")


def _payment_row(p: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(p["time"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(p["workspace"], size="2")),
        rx.table.cell(rx.text(p["amount"], size="2")),
        rx.table.cell(rx.vstack(rx.text(p["gateway"], size="2"),
                                rx.text(p["gateway_id"], size="1", color_scheme="gray"),
                                spacing="0")),
        rx.table.cell(rx.text(p["order"], size="1", color_scheme="gray")),
        rx.table.cell(rx.vstack(rx.badge(p["status"]), rx.cond(
            p["failure"] != "", rx.text(p["failure"], size="1", color_scheme="gray",
                                        max_width="18rem")), spacing="1")),
        class_name="admin-payment-row",
    )


def _sheet_form() -> rx.Component:
    def money(label: str, name: str) -> rx.Component:
        return field(f"{label} ({S.currency})", name, default_value=S.current[name],
                     input_mode="decimal", key=S.in_force_id.to_string() + name)

    return form_card(
        "Prices",
        hint("A new sheet applies from its start; the old one stays in the history. Leave "
             "the start empty to apply it now."),
        error_callout(S.sheet_error, id="sheet-error"),
        rx.grid(
            money("Per AI answer", "answer_flat"),
            field("Model tokens charged at (% of the model's price)", "markup",
                  default_value=S.current["markup"], input_mode="numeric",
                  key=S.in_force_id.to_string() + "markup"),
            money("Per indexed page (~500 tokens)", "page"),
            money("Per widget message", "widget_message"),
            money("Per Telegram message", "telegram_message"),
            money("Welcome bonus of a new workspace", "welcome_bonus"),
            money("Warn when the balance falls under", "low_balance"),
            field("Starts (UTC, optional)", "starts", type="datetime-local"),
            columns=rx.breakpoints(initial="1", sm="2"), spacing="3", width="100%"),
        rx.button("Save prices", type="submit", id="sheet-save"),
        on_submit=S.save_sheet,
    )


def _model_row(m: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(rx.table.cell(rx.text(m["model"], weight="medium")),
                        rx.table.cell(m["input"]), rx.table.cell(m["output"]),
                        rx.table.cell(rx.text(m["since"], size="1")),
                        class_name="model-price-row")


def _model_prices() -> rx.Component:
    return form_card(
        "Model prices",
        hint("What a model's tokens cost the platform, per million tokens. An answer pays "
             "this times the token percentage above; a new price applies from now."),
        error_callout(S.model_error, id="model-error"),
        rx.grid(field("Model", "model", placeholder="gpt-4o-mini", required=True,
                      id="model-name"),
                field(f"Input, per 1M tokens ({S.currency})", "input", placeholder="0.15",
                      input_mode="decimal", required=True, id="model-input"),
                field(f"Output, per 1M tokens ({S.currency})", "output", placeholder="0.60",
                      input_mode="decimal", required=True, id="model-output"),
                columns=rx.breakpoints(initial="1", sm="3"), spacing="3", width="100%"),
        rx.button("Save model price", type="submit", id="model-save"),
        rx.cond(S.models.length() > 0, rx.box(
            data_table(("Model", "Input / 1M", "Output / 1M", "Since"), S.models, _model_row),
            overflow_x="auto", width="100%")),
        on_submit=S.save_model_price,
    )


def _adjust_form() -> rx.Component:
    return form_card(
        "Adjust a balance",
        hint("Adds (or, negative, takes away) an amount, with the reason the workspace will "
             "see in its ledger. Audited."),
        error_callout(S.adjust_error, id="adjust-error"),
        rx.grid(field("Workspace number", "workspace_id", input_mode="numeric",
                      required=True),
                field(f"Amount ({S.currency})", "amount", placeholder="100.00 or -5.00",
                      required=True),
                columns="2", spacing="3", width="100%"),
        field("Reason", "reason", placeholder="Compensation for the outage on 3 May",
              required=True),
        rx.button("Adjust balance", type="submit", id="adjust-save"),
        on_submit=S.adjust, reset_on_submit=True,
    )


def _body() -> rx.Component:
    return rx.vstack(
        rx.text("Platform currency: ", rx.text.strong(S.currency),
                " (REPLYX_CURRENCY, chosen at install)", color_scheme="gray"),
        _sheet_form(),
        rx.cond(S.sheets.length() > 0,
                rx.box(data_table(("Starts", "Per answer", "Tokens", "Per page",
                                   "Widget / Telegram msg", "Welcome bonus", "Low under", ""),
                                  S.sheets, _sheet_row), overflow_x="auto", width="100%"),
                rx.callout("No prices set: nothing is charged and a zero balance stops "
                           "nothing.", icon="info")),
        _model_prices(),
        _adjust_form(),
        rx.card(rx.vstack(
            rx.form(rx.hstack(rx.input(name="search", placeholder="Workspace name or number",
                                       aria_label="Find a workspace", width="20rem"),
                              rx.button("Find", type="submit", variant="soft")),
                    on_submit=S.find),
            data_table(("No.", "Workspace", ("Balance", "10rem")), S.workspaces,
                       _workspace_row),
            spacing="3", width="100%"), width="100%"),
        rx.card(rx.vstack(
            rx.heading("Payments", size="3"),
            rx.cond(S.payments.length() == 0,
                    rx.text("No payments yet.", color_scheme="gray", size="2"),
                    rx.box(data_table(("Started", "Workspace", "Amount", "Gateway", "Order",
                                       "Status"), S.payments, _payment_row),
                           overflow_x="auto", width="100%")),
            spacing="3", width="100%"), width="100%"),
        spacing="4", width="100%",
    )


@dashboard_page("/admin/billing", "Prices and balances", role="platform_admin",
                on_load=[S.load], nav=Nav("Prices & balances", "badge_dollar_sign", 145))
def admin_billing_page() -> rx.Component:
    return rx.cond(S.loaded, _body(), loading())
