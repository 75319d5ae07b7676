"""What the Billing page shows, read from the ledger only, so every figure on it can be
traced to ledger rows: the balance, what it buys at today's prices, daily spend by kind,
answers per day, and the ledger itself (filters, paging, CSV)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.billing import ledger, tariffs
from backend_services.billing.ledger import Kind
from backend_services.billing.money import major
from backend_services.billing.tariffs import TariffView
from backend_services.core.dates import each_day
from backend_services.core.db import session_scope
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import KnowledgeDocument, LedgerEntry, Role

PER_PAGE = 25
CSV_MAX_ROWS = 100_000
KINDS: tuple[str, ...] = tuple(k.value for k in Kind)


@dataclass(frozen=True)
class Filters:
    kind: str = ""
    since: date | None = None
    until: date | None = None  # inclusive

    def clean(self) -> Filters:
        if self.kind and self.kind not in KINDS:
            raise ValidationFailed("Unknown kind of entry.")
        if self.since and self.until and self.since > self.until:
            raise ValidationFailed("The start date is after the end date.")
        return self


@dataclass(frozen=True)
class EntryView:
    id: int
    created_at: datetime
    kind: str
    amount_minor: int
    balance_after_minor: int
    currency: str
    reference: str
    dialog_id: int | None
    document_id: int | None
    document_title: str
    requested_minor: int


@dataclass(frozen=True)
class LedgerPage:
    entries: list[EntryView]
    total: int
    page: int
    pages: int


def _where(workspace_id: int, f: Filters) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = [col(LedgerEntry.workspace_id) == workspace_id]
    if f.kind:
        clauses.append(col(LedgerEntry.kind) == f.kind)
    if f.since:
        clauses.append(col(LedgerEntry.created_at) >= datetime.combine(f.since, time(), UTC))
    if f.until:
        clauses.append(col(LedgerEntry.created_at)
                       < datetime.combine(f.until + timedelta(days=1), time(), UTC))
    return clauses


def _rows(workspace_id: int, f: Filters) -> sa.Select[tuple[LedgerEntry, str | None]]:
    return (select(LedgerEntry, KnowledgeDocument.title)  # type: ignore[return-value]
            .join(KnowledgeDocument,
                  col(KnowledgeDocument.id) == col(LedgerEntry.document_id), isouter=True)
            .where(*_where(workspace_id, f))
            .order_by(col(LedgerEntry.created_at).desc(), col(LedgerEntry.id).desc()))


def _entry(row: LedgerEntry, title: str | None) -> EntryView:
    assert row.id is not None
    return EntryView(row.id, row.created_at, row.kind, row.amount_minor,
                     row.balance_after_minor, row.currency, row.reference, row.dialog_id,
                     row.document_id, title or "", row.requested_minor)


async def entries(principal: Principal, filters: Filters = Filters(), page: int = 1,
                  per_page: int = PER_PAGE) -> LedgerPage:
    principal.require(Role.ADMIN)
    f = filters.clean()
    async with session_scope() as session:
        total = int((await session.exec(
            select(sa.func.count()).select_from(LedgerEntry)
            .where(*_where(principal.workspace_id, f)))).one())
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        rows = (await session.exec(  # type: ignore[call-overload]
            _rows(principal.workspace_id, f).offset((page - 1) * per_page).limit(per_page)
        )).all()
    return LedgerPage([_entry(r, t) for r, t in rows], total, page, pages)


CSV_HEADER = ("id", "time (UTC)", "kind", "amount", "balance after", "currency", "for",
              "dialog", "document", "asked")


async def csv_text(principal: Principal, filters: Filters = Filters()) -> str:
    """The same entries as the page, all of them (newest first), amounts in major units."""
    principal.require(Role.ADMIN)
    f = filters.clean()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    async with session_scope() as session:
        rows = (await session.exec(  # type: ignore[call-overload]
            _rows(principal.workspace_id, f).limit(CSV_MAX_ROWS))).all()
    for r, title in rows:
        e = _entry(r, title)
        writer.writerow((e.id, e.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                         e.kind, major(e.amount_minor), major(e.balance_after_minor),
                         e.currency, e.reference, e.dialog_id or "",
                         e.document_title or (e.document_id or ""),
                         major(e.requested_minor)))
    return out.getvalue()


@dataclass(frozen=True)
class DaySpend:
    day: str  # ISO date
    answers_minor: int
    documents_minor: int
    answers: int  # answers charged that day


@dataclass(frozen=True)
class Overview:
    balance_minor: int
    currency: str
    sheet: TariffView
    answers_left: int | None  # None: an answer's price depends on the model's tokens only
    pages_left: int | None
    days: list[DaySpend]
    spent_minor: int  # over `days`


def _left(balance: int, unit: int) -> int | None:
    return balance // unit if unit > 0 else None


async def _days(session: AsyncSession, workspace_id: int, since: date,
                until: date) -> list[DaySpend]:
    day = sa.func.date(sa.func.timezone("UTC", col(LedgerEntry.created_at)))
    spent = -col(LedgerEntry.amount_minor)
    rows = (await session.exec(
        select(day,
               sa.func.coalesce(sa.func.sum(spent).filter(
                   col(LedgerEntry.kind) == Kind.ANSWER.value), 0),
               sa.func.coalesce(sa.func.sum(spent).filter(
                   col(LedgerEntry.kind) == Kind.DOCUMENT.value), 0),
               sa.func.count().filter(col(LedgerEntry.kind) == Kind.ANSWER.value))
        .where(col(LedgerEntry.workspace_id) == workspace_id,
               col(LedgerEntry.kind).in_((Kind.ANSWER.value, Kind.DOCUMENT.value)),
               col(LedgerEntry.created_at) >= datetime.combine(since, time(), UTC))
        .group_by(day))).all()
    by_day = {r[0]: r for r in rows}
    out: list[DaySpend] = []
    for current in each_day(since, until):
        r = by_day.get(current)
        out.append(DaySpend(current.isoformat(), int(r[1]) if r else 0,
                            int(r[2]) if r else 0, int(r[3]) if r else 0))
    return out


async def overview(principal: Principal, days: int = 30) -> Overview:
    principal.require(Role.ADMIN)
    until = datetime.now(UTC).date()
    since = until - timedelta(days=days - 1)
    async with session_scope() as session:
        balance, currency = await ledger.balance_of(session, principal.workspace_id)
        sheet = await tariffs.in_force(session)
        series = await _days(session, principal.workspace_id, since, until)
    unit = sheet.answer_flat_minor + sheet.widget_message_minor
    return Overview(balance, currency, sheet, _left(balance, unit),
                    _left(balance, sheet.page_minor), series,
                    sum(d.answers_minor + d.documents_minor for d in series))
