"""What a notification's template reads: reloaded from the database when the mail is
written (a request carries ids; names and figures are read now, in the workspace the
request belongs to, so a mail can only ever speak of its own workspace)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.billing import gateways, ledger, tariffs
from backend_services.billing.money import format_money
from backend_services.core.settings import get_settings

PREVIEW = 300

_WORKSPACE_SQL = text("SELECT name FROM workspaces WHERE id = :w")
_DIALOG_SQL = text("""
SELECT d.id, c.name, c.email,
       (SELECT m.content FROM messages m
        WHERE m.dialog_id = d.id AND m.workspace_id = :w AND m.sender = 'visitor'
        ORDER BY m.id DESC LIMIT 1)
FROM dialogs d JOIN contacts c ON c.id = d.contact_id AND c.workspace_id = :w
WHERE d.id = :d AND d.workspace_id = :w
""")
_PAYMENT_SQL = text("""
SELECT order_id, gateway, amount_minor, currency, failure FROM payments
WHERE id = :p AND workspace_id = :w
""")


async def _one(session: AsyncSession, sql: Any, **params: Any) -> Any:
    return (await session.exec(sql, params=params)).first()  # type: ignore[call-overload]


async def _dialog(session: AsyncSession, workspace_id: int, ctx: dict[str, Any]) -> dict[str, Any]:
    base = get_settings().base_url
    row = await _one(session, _DIALOG_SQL, w=workspace_id, d=int(ctx.get("dialog_id", 0)))
    preview = (row[3] if row and row[3] else "")[:PREVIEW]
    return {"dialog_url": f"{base}/console?d={int(ctx.get('dialog_id', 0))}",
            "preview": preview, "reason": str(ctx.get("reason", "")),
            "contact_name": row[1] if row else "", "contact_email": row[2] if row else "",
            "minutes": ctx.get("minutes", "")}


async def context_for(session: AsyncSession, workspace_id: int, event: str,
                      items: list[dict[str, Any]], *, recipient: str,
                      language: str) -> tuple[str, dict[str, Any]]:
    """(template, context) for one mail; several `items` make the event's digest."""
    base = get_settings().base_url
    workspace = await _one(session, _WORKSPACE_SQL, w=workspace_id)
    common: dict[str, Any] = {"workspace": workspace[0] if workspace else "",
                              "name": recipient, "base_url": base,
                              "settings_url": f"{base}/settings",
                              "billing_url": f"{base}/billing",
                              "console_url": f"{base}/console",
                              "analytics_url": f"{base}/analytics"}
    ctx = items[0]
    if event in ("waiting", "sla", "contact"):
        if len(items) > 1:
            return "digest", {**common, "items": [await _dialog(session, workspace_id, i)
                                                  for i in items]}
        return event, {**common, **await _dialog(session, workspace_id, ctx)}
    if event in ("balance_low", "balance_zero"):
        # The balance when it crossed (the mail may be written after later charges).
        balance, currency = await ledger.balance_of(session, workspace_id)
        if "balance_minor" in ctx:
            balance, currency = int(ctx["balance_minor"]), str(ctx["currency"])
        threshold = ctx.get("threshold_minor")
        if threshold is None:
            threshold = (await tariffs.in_force(session)).low_balance_minor
        return event, {**common, "balance": format_money(balance, currency),
                       "threshold": format_money(int(threshold), currency)}
    if event in ("payment_paid", "payment_failed"):
        row = await _one(session, _PAYMENT_SQL, w=workspace_id, p=int(ctx["payment_id"]))
        balance, currency = await ledger.balance_of(session, workspace_id)
        order, gateway, amount, payment_currency, failure = row
        return event, {**common, "amount": format_money(amount, payment_currency),
                       "method": gateways.LABELS.get(gateway, gateway),
                       "balance": format_money(balance, currency), "reason": failure,
                       "receipt_url": f"{base}/billing/receipt?order={order}"}
    if event == "weekly":
        figures = ctx["figures"].get(language) or ctx["figures"]["en"]
        return event, {**common, "period": ctx["period"], "figures": figures}
    raise ValueError(f"no context for {event}")
