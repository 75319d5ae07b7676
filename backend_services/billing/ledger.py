"""The one way a balance changes: an entry in the ledger, in the caller's transaction.

`post` locks the workspace's balance row, so entries of one workspace are applied one at a
time whatever the concurrency; the idempotency key makes a retried answer, a re-run job or
a repeated payment notification write nothing the second time. A charge larger than the
balance takes what is left and records what was asked (`requested_minor`): the balance
never goes below zero, and the last answer before zero is not refused after the fact.

Lock order: callers lock their own rows (the dialog, the document, the payment) first and
the balance last, and nothing locks a balance then something else, so no two of them can
deadlock.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.billing import tariffs
from backend_services.core import notify
from backend_services.core.settings import get_settings

log = logging.getLogger(__name__)


class Kind(StrEnum):
    ANSWER = "answer"  # an AI answer (widget, Telegram, the test chat's model tokens)
    DOCUMENT = "document"  # indexed document pages
    PAYMENT = "payment"  # a verified top-up
    ADJUSTMENT = "adjustment"  # a platform admin's correction, with its reason
    WELCOME = "welcome"  # the bonus a new workspace starts with
    REFUND = "refund"  # a payment given back by the gateway


@dataclass(frozen=True)
class Posted:
    entry_id: int
    amount_minor: int  # what the balance changed by (0 for a charge on an empty balance)
    balance_after_minor: int
    duplicate: bool  # the key was posted before: nothing changed now
    crossed_low: bool = False  # this entry took the balance under the low threshold
    reached_zero: bool = False  # this entry took the balance to zero


# The balance, locked: entries of one workspace are applied one at a time.
_LOCK = sa.text(
    "SELECT amount_minor, currency, low_noticed_at FROM balances "
    "WHERE workspace_id = :w FOR UPDATE")
# The entry and the new balance in one round trip; the balance changes only when the entry
# was new. ON CONFLICT sees entries committed by the previous holder of the lock (the
# unique index is checked against committed rows, not this statement's snapshot), so a key
# posted before is never applied twice.
_APPLY = sa.text(
    "WITH added AS (INSERT INTO ledger_entries (workspace_id, amount_minor, currency, kind, "
    "idempotency_key, balance_after_minor, reference, dialog_id, message_id, document_id, "
    "actor_user_id, payment_id, requested_minor, details) VALUES (:w, :amount, :currency, "
    ":kind, :k, :after, :reference, :dialog_id, :message_id, :document_id, :actor_user_id, "
    ":payment_id, :requested, CAST(:details AS jsonb)) "
    "ON CONFLICT (workspace_id, idempotency_key) DO NOTHING RETURNING id), "
    "changed AS (UPDATE balances SET amount_minor = :after, updated_at = now(), "
    "low_noticed_at = :noticed WHERE workspace_id = :w AND EXISTS (SELECT 1 FROM added)) "
    "SELECT id FROM added")
_SEEN = sa.text(
    "SELECT id, amount_minor, balance_after_minor FROM ledger_entries "
    "WHERE workspace_id = :w AND idempotency_key = :k")
_BALANCE = sa.text("SELECT amount_minor, currency FROM balances WHERE workspace_id = :w")
_CREATE = sa.text(
    "INSERT INTO balances (workspace_id, currency, amount_minor) VALUES (:w, :currency, 0) "
    "ON CONFLICT (workspace_id) DO NOTHING")


async def _sql(session: AsyncSession, statement: sa.TextClause, **params: Any) -> Any:
    """A text statement through `session.exec` (SQLModel's `execute` is deprecated)."""
    return await session.exec(statement.bindparams(**params))  # type: ignore[call-overload]


class NoBalance(Exception):
    """The workspace has no balance row (it is being deleted)."""


async def _lock(session: AsyncSession, workspace_id: int) -> Any:
    row = (await _sql(session, _LOCK, w=workspace_id)).first()
    if row is None:
        # create_workspace gives every workspace one; a row made directly (the benches do)
        # gets it here.
        await _sql(session, _CREATE, w=workspace_id, currency=get_settings().currency)
        row = (await _sql(session, _LOCK, w=workspace_id)).first()
        if row is None:
            raise NoBalance(workspace_id)
    return row


async def post(
    session: AsyncSession,
    workspace_id: int,
    amount_minor: int,
    kind: Kind,
    key: str,
    *,
    low_threshold_minor: int | None = None,
    reference: str = "",
    dialog_id: int | None = None,
    message_id: int | None = None,
    document_id: int | None = None,
    actor_user_id: int | None = None,
    payment_id: int | None = None,
    details: dict[str, Any] | None = None,
    only_currency: str = "",
) -> Posted | None:
    """Apply `amount_minor` (negative: a charge) once per `key`, in the caller's transaction.

    `low_threshold_minor` is the sheet's low-balance threshold, which charges pass: the
    result says whether this entry crossed it (told once per crossing; a credit back above
    the line re-arms the notice). Without it a charge leaves the notice as it is.
    `only_currency`: post nothing (None) when the balance is in another currency."""
    if len(key) > 128:
        raise ValueError("idempotency keys are at most 128 characters")
    row = await _lock(session, workspace_id)
    before, currency, noticed = int(row[0]), str(row[1]), row[2]
    if only_currency and currency != only_currency:
        log.warning("workspace %s has a %s balance, the tariff is in %s: not charged",
                    workspace_id, currency, only_currency)
        return None
    applied = max(amount_minor, -before)
    after = before + applied
    threshold = low_threshold_minor
    if threshold is None and applied > 0:
        # A credit (payment, adjustment) re-arms the notice once above the sheet's line.
        threshold = (await tariffs.in_force(session)).low_balance_minor
    crossed_low = False
    if threshold is not None:
        crossed_low = threshold > 0 and after < threshold and noticed is None and applied < 0
        if crossed_low:
            noticed = datetime.now(UTC)
        elif after >= threshold:
            noticed = None
    entry_id = (await _sql(
        session, _APPLY, w=workspace_id, amount=applied, currency=currency, kind=kind.value,
        k=key, after=after, noticed=noticed, reference=reference[:300], dialog_id=dialog_id,
        message_id=message_id, document_id=document_id, actor_user_id=actor_user_id,
        payment_id=payment_id, requested=amount_minor,
        details=json.dumps(details) if details else None,
    )).scalar_one_or_none()
    if entry_id is None:  # posted before under this key: nothing changed now
        seen = (await _sql(session, _SEEN, w=workspace_id, k=key)).one()
        return Posted(int(seen[0]), int(seen[1]), int(seen[2]), duplicate=True)
    reached_zero = before > 0 and after == 0
    # Told once per crossing: the request commits with the entry that crossed. Zero is news
    # only where it stops the AI (a price sheet that charges answers).
    if reached_zero and (await tariffs.in_force(session)).charges_answers:
        await notify.request(session, workspace_id, "balance_zero", f"balance:{entry_id}")
    elif crossed_low:
        await notify.request(session, workspace_id, "balance_low", f"balance:{entry_id}",
                             threshold_minor=threshold, balance_minor=after,
                             currency=currency)
    return Posted(int(entry_id), applied, after, duplicate=False, crossed_low=crossed_low,
                  reached_zero=reached_zero)


async def balance_of(session: AsyncSession, workspace_id: int) -> tuple[int, str]:
    """(minor units, currency) without locking; (0, platform currency) when none exists."""
    row = (await _sql(session, _BALANCE, w=workspace_id)).first()
    if row is None:
        return 0, get_settings().currency
    return int(row[0]), str(row[1])
