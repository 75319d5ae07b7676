"""The durable Telegram outbox: operator and system messages reach the chat after a crash,
a restart or a Redis outage, in the order they were written.

What goes in. Messages the fleet does not send itself while handling an update: sender
"operator" (a reply from the console) and "system" (joined, handed back, closed,
"connecting you…", the offline message …) of dialogs whose contact is a Telegram user and
whose bot (channel) still exists. Everything a person or the system writes into a
Telegram dialog comes through here; visitors' own messages and notes never do. AI answers
are the fleet's choice: sent directly while handling the update (the default here), or
stored first and delivered through the outbox too, in which case every call passes
`include_ai=True` so the answers take part in the order and the catch-up. Rows are made
from the dialog stream (`handle_dialog_event`, consumer group "fleet-outbox"), and
`enqueue_missing` sweeps for messages whose event was lost (Redis down, fleet stopped).

Order. A chat is (channel, chat id). Only the oldest pending row of a chat, by message
id, can be claimed, and a row stays pending while it waits for a retry, so a later
message never overtakes an earlier one, whichever worker holds which. Making a row for a
message also makes the rows of the dialog's earlier operator and system messages that
have none, in the same transaction, so an event handled out of order cannot let a later
message go first either.

Guarantee: at least once, in order per chat. Telegram has no idempotency key, so a
worker that dies after Telegram accepted a part but before `mark_part_sent` committed
sends that part again after its lease expires: the duplicate window is one part, never
a whole multi-part message (parts already recorded are skipped). A worker whose lease
expired and was taken over learns it at its next `mark_*` call (False / None) and must
stop. A message that cannot be sent is retried with capped exponential backoff and marked
failed after `telegram_outbox_max_attempts`, the reason kept; a failed row no longer
blocks its chat.

Scope. The fleet is the actor here: it claims only for the channels (bots) it runs, and
every row carries the workspace of its message, checked against its channel's.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.channels.telegram.text import split_for_telegram
from backend_services.conversations.events import DialogChanged
from backend_services.conversations.sql import run
from backend_services.core import events
from backend_services.core.db import session_scope
from backend_services.core.settings import get_settings
from backend_services.models import Channel, Contact, Dialog, Message
from backend_services.models.telegram import TelegramOutbox

log = logging.getLogger(__name__)

OutboxStatus = Literal["queued", "sending", "sent", "failed"]
# Messages from these senders are delivered through the outbox; see the module docstring.
OUTBOX_SENDERS = ("operator", "system")
# Dialog event kinds that never concern a message the chat must receive.
_SILENT_KINDS = frozenset({"note", "typing", "read", "rating"})
_CHAT_ID = r"^-?[0-9]{1,18}$"  # a Telegram chat id; anything else cannot be sent to
_ERROR_MAX = 500
_ENQUEUE_BATCH = 500
_PENDING = ("queued", "sending")


class OutboxQueued(events.Event):
    """New rows wait for a bot: a hint (pub/sub, lossy) so its worker claims now instead of
    at its next poll. Losing it only delays delivery until that poll."""

    type: ClassVar[str] = "telegram.outbox_queued"
    workspace_id: int
    channel_id: int


@dataclass(frozen=True)
class OutboxItem:
    """One message to deliver, as claimed (or looked up).

    Send `pending_parts` in order; after each, call `mark_part_sent` with its index and
    Telegram's message id, then `mark_sent`. `token` proves the lease: pass it back.
    """

    id: int
    workspace_id: int
    channel_id: int
    chat_id: int
    dialog_id: int
    message_id: int | None  # None: an alert or a forward to an operator (operators.py)
    text: str
    parts: tuple[str, ...]
    telegram_message_ids: tuple[int, ...]
    status: str
    attempts: int
    token: str
    lease_until: datetime | None
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str
    reply_markup: dict[str, Any] | None = None  # an inline keyboard under the last part

    @property
    def is_group(self) -> bool:
        """Groups, supergroups and channels have negative chat ids in the Bot API."""
        return self.chat_id < 0

    @property
    def parts_sent(self) -> int:
        return len(self.telegram_message_ids)

    @property
    def pending_parts(self) -> list[tuple[int, str]]:
        """(index, text) of the parts not yet delivered, in order."""
        return list(enumerate(self.parts))[self.parts_sent:]


def _item(row: Any) -> OutboxItem:
    return OutboxItem(
        id=int(row.id),
        workspace_id=int(row.workspace_id),
        channel_id=int(row.channel_id),
        chat_id=int(row.chat_id),
        dialog_id=int(row.dialog_id),
        message_id=None if row.message_id is None else int(row.message_id),
        text=str(row.text),
        parts=tuple(str(p) for p in (row.parts or ())),
        telegram_message_ids=tuple(int(i) for i in (row.telegram_message_ids or ())),
        status=str(row.status),
        attempts=int(row.attempts),
        token=str(row.lease_token or ""),
        lease_until=row.lease_until,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        last_error=str(row.last_error or ""),
        reply_markup=row.reply_markup,
    )


_T = TelegramOutbox.__table__  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ enqueue


def _senders(include_ai: bool) -> tuple[str, ...]:
    return (*OUTBOX_SENDERS, "ai") if include_ai else OUTBOX_SENDERS


def _deliverable(
    include_ai: bool = False,
) -> sa.Select[int | None, int, int, str, int | None, str]:
    """Operator and system (and, if asked, AI) messages of Telegram dialogs whose bot still
    exists, with what a row needs. The channel must belong to the message's workspace: a
    row never points a tenant's message at another tenant's bot."""
    return (
        sa.select(
            col(Message.id),
            col(Message.workspace_id),
            col(Message.dialog_id),
            col(Message.content),
            col(Dialog.channel_id),
            col(Contact.external_id),
        )
        .join(Dialog, col(Dialog.id) == col(Message.dialog_id))
        .join(Contact, col(Contact.id) == col(Dialog.contact_id))
        .join(Channel, col(Channel.id) == col(Dialog.channel_id))
        .where(
            col(Message.sender).in_(_senders(include_ai)),
            col(Contact.kind) == "telegram",
            col(Channel.kind) == "telegram",
            col(Channel.workspace_id) == col(Message.workspace_id),
            col(Dialog.workspace_id) == col(Message.workspace_id),
            col(Contact.external_id).regexp_match(_CHAT_ID),
        )
    )


def _without_row() -> sa.ColumnElement[bool]:
    return ~sa.exists().where(_T.c.message_id == col(Message.id))


async def _insert(
    session: AsyncSession, rows: Iterable[Any]
) -> tuple[set[int], set[tuple[int, int]]]:
    """Insert outbox rows for the selected messages; returns the message ids that got a new
    row and the (workspace, channel) pairs to wake. Concurrent inserts of the same message
    end with one row (the unique message_id decides)."""
    values = []
    for r in rows:
        parts = split_for_telegram(r.content)
        if not parts:
            continue
        values.append({
            "workspace_id": r.workspace_id,
            "channel_id": r.channel_id,
            "chat_id": int(r.external_id),
            "dialog_id": r.dialog_id,
            "message_id": r.id,
            "text": r.content,
            "parts": parts,
            "status": "queued",
            "attempts": 0,
            "lease_token": "",
            "last_error": "",
            "telegram_message_ids": [],
        })
    if not values:
        return set(), set()
    # Message-id order: concurrent enqueuers of overlapping rows take the unique-index
    # locks in the same order and cannot deadlock.
    values.sort(key=lambda v: int(v["message_id"]))
    stmt = insert(_T).values(values).on_conflict_do_nothing(index_elements=["message_id"])
    result = await run(session, stmt.returning(_T.c.message_id, _T.c.workspace_id,
                                               _T.c.channel_id))
    created: set[int] = set()
    wake: set[tuple[int, int]] = set()
    for row in result.all():
        created.add(int(row.message_id))
        wake.add((int(row.workspace_id), int(row.channel_id)))
    return created, wake


async def _wake(pairs: Iterable[tuple[int, int]]) -> None:
    for workspace_id, channel_id in sorted(pairs):
        try:
            await events.publish(OutboxQueued(workspace_id=workspace_id, channel_id=channel_id))
        except Exception:  # a hint only: the rows are committed and the poll finds them
            log.warning("could not announce outbox rows for channel %s", channel_id,
                        exc_info=True)


def _catchup_window() -> timedelta:
    return timedelta(hours=get_settings().telegram_outbox_catchup_hours)


async def enqueue_message(
    message_id: int, *, workspace_id: int | None = None, include_ai: bool = False
) -> bool:
    """Queue a stored message for its Telegram chat; True if a row was made now.

    Idempotent: a second call (a redelivered event, the sweep) makes nothing. A message
    that is not an operator or system message of a Telegram dialog with an existing bot is
    ignored (False). With `workspace_id` (from an event), a message of another workspace
    is ignored too. The dialog's earlier operator and system messages (within the
    catch-up window) that have no row yet get theirs first, in the same transaction, so
    order holds even when events are handled out of order.

    `include_ai`: the fleet delivers AI answers through the outbox too (instead of sending
    them while handling the update). Then pass it to every call (`handle_dialog_event`,
    `enqueue_missing` too): the dialog's earlier AI answers are then part of the order, and
    an answer whose enqueue was lost is caught up. Without it AI messages are ignored.
    """
    async with session_scope() as session:
        target = (await run(session, _deliverable(include_ai).where(
            col(Message.id) == message_id))).first()
        if target is None or (workspace_id is not None and target.workspace_id != workspace_id):
            return False
        earlier = (await run(session, _deliverable(include_ai).where(
            col(Message.dialog_id) == target.dialog_id,
            col(Message.id) < message_id,
            col(Message.created_at) >= sa.func.now() - _catchup_window(),
            _without_row(),
        ).order_by(col(Message.id)))).all()
        created, wake = await _insert(session, [*earlier, target])
    await _wake(wake)
    return message_id in created


async def enqueue_for_operator(
    session: AsyncSession, *, workspace_id: int, channel_id: int, chat_id: int,
    dialog_id: int, key: str, text: str, reply_markup: dict[str, Any] | None = None,
) -> bool:
    """Queue a text for an operator's own chat with the bot (an alert, or a visitor's
    message forwarded), once per `key`, in the caller's transaction; True if queued now.
    It goes through the same claims, leases, retries and rate limits as every message;
    call `wake` after the commit."""
    parts = split_for_telegram(text)
    if not parts:
        return False
    stmt = insert(_T).values(
        workspace_id=workspace_id, channel_id=channel_id, chat_id=chat_id,
        dialog_id=dialog_id, message_id=None, alert_key=key[:120], text=text, parts=parts,
        reply_markup=reply_markup, status="queued", attempts=0, lease_token="",
        last_error="", telegram_message_ids=[],
    ).on_conflict_do_nothing(index_elements=["alert_key"])
    return bool((await run(session, stmt.returning(_T.c.id))).first())


async def wake(workspace_id: int, channel_id: int) -> None:
    await _wake([(workspace_id, channel_id)])


async def handle_dialog_event(event: events.Event, *, include_ai: bool = False) -> None:
    """StreamConsumer handler on DIALOG_STREAM: queue the event's message when it is one a
    Telegram chat must receive. Raising leaves the entry pending for redelivery, which
    `enqueue_message`'s idempotency makes safe. (With `include_ai`, bind it with
    functools.partial.)"""
    if not isinstance(event, DialogChanged) or event.message_id is None:
        return
    if event.kind in _SILENT_KINDS:
        return
    if event.kind == "message" and (event.by == "visitor" or (event.by == "ai"
                                                             and not include_ai)):
        return  # the visitor's own message, or an AI answer the fleet sends itself
    await enqueue_message(event.message_id, workspace_id=event.workspace_id,
                          include_ai=include_ai)


async def enqueue_missing(
    since: timedelta, channel_ids: Collection[int] | None = None, *, include_ai: bool = False
) -> int:
    """Queue operator and system messages of Telegram dialogs written in the last `since`
    that have no outbox row (their event was lost while the fleet was down); returns how
    many rows were made. Oldest first, in batches, so a long outage is caught up without
    one huge transaction. `since` is capped by the catch-up window (rows of messages older
    than it may already have been purged and must not be sent again)."""
    window = min(since, _catchup_window())
    total = 0
    wake_all: set[tuple[int, int]] = set()
    after = 0
    while True:
        async with session_scope() as session:
            stmt = _deliverable(include_ai).where(
                col(Message.created_at) >= sa.func.now() - window,
                col(Message.id) > after,
                _without_row(),
            )
            if channel_ids is not None:
                stmt = stmt.where(col(Dialog.channel_id).in_(list(channel_ids)))
            rows = (await run(session, stmt.order_by(col(Message.id)).limit(_ENQUEUE_BATCH))).all()
            if not rows:
                break
            created, wake = await _insert(session, rows)
        total += len(created)
        wake_all |= wake
        after = int(rows[-1].id)
        if len(rows) < _ENQUEUE_BATCH:
            break
    await _wake(wake_all)
    return total


# ------------------------------------------------------------------------------ delivery

# The head of each chat is its oldest pending row by message id. The status and lease
# conditions are on `o`, the locked table, so that when another claimer changed the row
# meanwhile PostgreSQL re-checks them on the new version (and skips it) instead of trusting
# the snapshot that chose the head.
_CLAIM = sa.text("""
WITH heads AS (
    SELECT DISTINCT ON (channel_id, chat_id) id
    FROM telegram_outbox
    WHERE channel_id = ANY(:channels) AND status IN ('queued', 'sending')
    ORDER BY channel_id, chat_id, message_id NULLS LAST, id
), picked AS (
    SELECT o.id
    FROM telegram_outbox o JOIN heads h ON h.id = o.id
    WHERE (o.status = 'queued' AND o.next_attempt_at <= now())
       OR (o.status = 'sending' AND o.lease_until <= now())
    ORDER BY o.next_attempt_at, o.id
    LIMIT :limit
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE telegram_outbox t
SET status = 'sending',
    attempts = t.attempts + 1,
    lease_until = now() + make_interval(secs => :lease),
    lease_token = gen_random_uuid()::text,
    updated_at = now()
FROM picked
WHERE t.id = picked.id
RETURNING t.*
""")

# A lease that expired this many times (the worker died each time) is not taken again.
_GIVE_UP_EXPIRED = sa.text("""
UPDATE telegram_outbox
SET status = 'failed', lease_until = NULL, updated_at = now(),
    last_error = left('delivery interrupted ' || attempts || ' times; last error: '
                      || coalesce(nullif(last_error, ''), 'none'), 500)
WHERE channel_id = ANY(:channels) AND status = 'sending' AND lease_until <= now()
  AND attempts >= :max_attempts
""")


async def claim(channel_ids: Collection[int], limit: int, lease_seconds: int) -> list[OutboxItem]:
    """Take up to `limit` messages to send now for these bots, at most one per chat (the
    oldest undelivered one), leased for `lease_seconds` to this caller.

    Other claimers skip rows held here (`FOR UPDATE SKIP LOCKED`) and the chats they head;
    a lease that expires (the worker died mid-send) makes its row claimable again, with
    its delivered parts still recorded. Each claim counts as an attempt.
    """
    channels = sorted({int(c) for c in channel_ids})
    if not channels or limit <= 0:
        return []
    max_attempts = get_settings().telegram_outbox_max_attempts
    async with session_scope() as session:
        await run(session, _GIVE_UP_EXPIRED.bindparams(channels=channels,
                                                       max_attempts=max_attempts))
        rows = (await run(session, _CLAIM.bindparams(
            channels=channels, limit=limit, lease=float(lease_seconds)))).all()
    items = [_item(r) for r in rows]
    items.sort(key=lambda i: (i.next_attempt_at, i.id))
    return items


def _held(item_id: int, token: str | None) -> list[sa.ColumnElement[bool]]:
    conds = [_T.c.id == item_id, _T.c.status == "sending"]
    if token is not None:
        conds.append(_T.c.lease_token == token)
    return conds


async def mark_part_sent(
    item_id: int, part_index: int, telegram_message_id: int, *, token: str | None = None
) -> bool:
    """Record that part `part_index` reached the chat (Telegram gave it this id) and renew
    the lease by its length. True when recorded (or recorded before with the same index);
    False when this caller no longer holds the row: stop sending it."""
    async with session_scope() as session:
        # updated_at moves with lease_until, so their difference stays the lease length.
        renewed = (await run(session, sa.update(_T).where(
            *_held(item_id, token),
            sa.func.jsonb_array_length(_T.c.telegram_message_ids) == part_index,
        ).values(
            telegram_message_ids=_T.c.telegram_message_ids.op("||")(
                sa.func.jsonb_build_array(sa.cast(telegram_message_id, sa.BigInteger))),
            lease_until=sa.func.now() + (_T.c.lease_until - _T.c.updated_at),
            updated_at=sa.func.now(),
        ).returning(_T.c.id))).first()
        if renewed is not None:
            return True
        sent = (await run(session, sa.select(
            sa.func.jsonb_array_length(_T.c.telegram_message_ids)).where(
                *_held(item_id, token)))).scalar_one_or_none()
    return sent is not None and int(sent) > part_index


async def mark_sent(item_id: int, *, token: str | None = None) -> bool:
    """The whole message is delivered. False when this caller no longer held the row."""
    async with session_scope() as session:
        done = (await run(session, sa.update(_T).where(*_held(item_id, token)).values(
            status="sent", sent_at=sa.func.now(), lease_until=None, last_error="",
            updated_at=sa.func.now(),
        ).returning(_T.c.id))).first()
    return done is not None


def backoff_seconds(attempts: int) -> float:
    """Delay before the next try after `attempts` failed ones: base · 2^(n-1), capped."""
    s = get_settings()
    exponent = max(0, min(attempts - 1, 30))
    return float(min(s.telegram_outbox_retry_base_seconds * (2 ** exponent),
                     s.telegram_outbox_retry_cap_seconds))


async def retry_later(
    item_id: int, delay_seconds: float | None, error: str, *, token: str | None = None
) -> OutboxStatus | None:
    """This attempt failed (network error, 5xx, a 429 answer): try again later, or give up.

    The next try waits at least `delay_seconds` (e.g. Telegram's `retry_after`) and at
    least the backoff for the attempts made. After `telegram_outbox_max_attempts` the row
    is failed with `error` kept. Returns the new status, or None when this caller no
    longer held the row. The chat's later messages keep waiting behind it meanwhile.
    """
    max_attempts = get_settings().telegram_outbox_max_attempts
    async with session_scope() as session:
        row = (await run(session, sa.select(_T.c.attempts).where(*_held(item_id, token))
                         .with_for_update())).first()
        if row is None:
            return None
        attempts = int(row.attempts)
        status: OutboxStatus = "failed" if attempts >= max_attempts else "queued"
        delay = max(float(delay_seconds or 0.0), backoff_seconds(attempts))
        await run(session, sa.update(_T).where(_T.c.id == item_id).values(
            status=status,
            lease_until=None,
            next_attempt_at=sa.func.now() + timedelta(seconds=delay),
            last_error=error[:_ERROR_MAX],
            updated_at=sa.func.now(),
        ))
    return status


async def postpone(item_id: int, delay_seconds: float, *, token: str | None = None) -> bool:
    """Put a claimed row back without counting an attempt: the message was fine but the
    bot could not send now (paused after a 429, stopping). False if no longer held."""
    async with session_scope() as session:
        done = (await run(session, sa.update(_T).where(*_held(item_id, token)).values(
            status="queued",
            attempts=sa.func.greatest(_T.c.attempts - 1, 0),
            lease_until=None,
            next_attempt_at=sa.func.now() + timedelta(seconds=max(0.0, delay_seconds)),
            updated_at=sa.func.now(),
        ).returning(_T.c.id))).first()
    return done is not None


async def mark_failed(item_id: int, error: str, *, token: str | None = None) -> bool:
    """Give up on this message now (e.g. 403: the user blocked the bot; 400: chat not
    found), keeping the reason. The chat's later messages may go. False if not held."""
    async with session_scope() as session:
        done = (await run(session, sa.update(_T).where(*_held(item_id, token)).values(
            status="failed", lease_until=None, last_error=error[:_ERROR_MAX],
            updated_at=sa.func.now(),
        ).returning(_T.c.id))).first()
    return done is not None


# ------------------------------------------------------------------------------ reading


async def queue_depth(channel_ids: Collection[int] | None = None) -> int:
    """Messages waiting or being sent (for /metrics), for these bots or all."""
    stmt = sa.select(sa.func.count()).select_from(_T).where(_T.c.status.in_(_PENDING))
    if channel_ids is not None:
        stmt = stmt.where(_T.c.channel_id.in_(sorted({int(c) for c in channel_ids})))
    async with session_scope() as session:
        return int((await run(session, stmt)).scalar_one())


async def delivery_of(message_id: int) -> OutboxItem | None:
    """The outbox row of a stored message, if it has one (status, parts sent, error)."""
    async with session_scope() as session:
        row = (await run(session, sa.select(_T).where(_T.c.message_id == message_id))).first()
    return _item(row) if row is not None else None


async def purge_finished(older_than: timedelta) -> int:
    """Delete sent and failed rows last touched before `older_than` ago; returns how many.
    Never younger than the catch-up window: a message with no row in that window would be
    queued (and sent) again by `enqueue_missing`."""
    keep = max(older_than, _catchup_window() + timedelta(hours=1))
    async with session_scope() as session:
        result = await run(session, sa.delete(_T).where(
            _T.c.status.in_(("sent", "failed")),
            sa.func.coalesce(_T.c.updated_at, _T.c.created_at) < sa.func.now() - keep,
        ))
    return int(getattr(result, "rowcount", 0) or 0)
