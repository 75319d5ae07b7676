"""The platform's price sheet: what an answer, an indexed page and a delivered message
cost, the welcome bonus and the low-balance threshold.

Each change is a new row with the moment it takes effect, so the sheet in force at any
moment can be read back, history stays, and a change can be scheduled ahead (it applies
from its moment, not before). Before any sheet is set nothing is charged: a fresh install
is free until a platform admin says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.settings import get_settings
from backend_services.core.views import view_from
from backend_services.models import Tariff

# A token markup beyond this is a typo, not a price.
MAX_MARKUP_PERCENT = 10_000
# A sheet "from now" typed a little late is still now, not the past.
PAST_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class TariffView:
    id: int
    currency: str
    answer_flat_minor: int
    token_markup_percent: int
    page_minor: int
    widget_message_minor: int
    telegram_message_minor: int
    welcome_bonus_minor: int
    low_balance_minor: int
    effective_from: datetime | None

    @property
    def charges_answers(self) -> bool:
        """Whether an AI answer can cost anything: then a zero balance stops the AI."""
        return bool(self.answer_flat_minor or self.token_markup_percent
                    or self.widget_message_minor or self.telegram_message_minor)

    def message_minor(self, channel_kind: str) -> int:
        return {"widget": self.widget_message_minor,
                "telegram": self.telegram_message_minor}.get(channel_kind, 0)


def free_sheet() -> TariffView:
    """What applies before a platform admin sets any price: nothing is charged."""
    return TariffView(0, get_settings().currency, 0, 0, 0, 0, 0, 0, 0, None)


def _view(row: Tariff) -> TariffView:
    assert row.id is not None
    return view_from(TariffView, row, id=row.id)


async def in_force(session: AsyncSession, at: datetime | None = None) -> TariffView:
    """The newest sheet whose moment has come (one indexed row)."""
    moment = at or datetime.now(UTC)
    row = (await session.exec(
        select(Tariff).where(col(Tariff.effective_from) <= moment)
        .order_by(col(Tariff.effective_from).desc(), col(Tariff.id).desc()).limit(1)
    )).first()
    return _view(row) if row is not None else free_sheet()


async def current() -> TariffView:
    async with session_scope() as session:
        return await in_force(session)


def _amount(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationFailed(f"{what} must be zero or more.")
    return value


async def set_tariff(
    principal: Principal,
    *,
    answer_flat_minor: int = 0,
    token_markup_percent: int = 100,
    page_minor: int = 0,
    widget_message_minor: int = 0,
    telegram_message_minor: int = 0,
    welcome_bonus_minor: int = 0,
    low_balance_minor: int = 0,
    effective_from: datetime | None = None,
) -> TariffView:
    """A new sheet from `effective_from` (now when not given); earlier sheets stay."""
    principal.require_platform_admin()
    now = datetime.now(UTC)
    moment = effective_from or now
    if moment.tzinfo is None:
        raise ValidationFailed("Give the start time with its time zone.")
    if moment < now - PAST_GRACE:
        raise ValidationFailed("A price cannot start in the past: history is kept as it was.")
    moment = max(moment, now)
    markup = _amount(token_markup_percent, "The token markup")
    if markup > MAX_MARKUP_PERCENT:
        raise ValidationFailed(f"The token markup is at most {MAX_MARKUP_PERCENT} %.")
    row = Tariff(
        currency=get_settings().currency,
        answer_flat_minor=_amount(answer_flat_minor, "The price per answer"),
        token_markup_percent=markup,
        page_minor=_amount(page_minor, "The price per page"),
        widget_message_minor=_amount(widget_message_minor, "The price per widget message"),
        telegram_message_minor=_amount(telegram_message_minor,
                                       "The price per Telegram message"),
        welcome_bonus_minor=_amount(welcome_bonus_minor, "The welcome bonus"),
        low_balance_minor=_amount(low_balance_minor, "The low-balance threshold"),
        effective_from=moment,
        created_by_user_id=principal.user_id,
    )
    async with session_scope() as session:
        session.add(row)
        await session.flush()
        view = _view(row)
        await audit.record(
            session, "tariff_set", actor_user_id=principal.user_id, target=f"tariff:{view.id}",
            ip=principal.ip,
            details={k: v for k, v in view.__dict__.items() if k not in ("id",)}
            | {"effective_from": moment.isoformat()},
        )
    return view


async def history(principal: Principal, limit: int = 50) -> list[TariffView]:
    """Every sheet, newest start first (scheduled ones on top)."""
    principal.require_platform_admin()
    async with session_scope() as session:
        rows = await session.exec(
            select(Tariff).order_by(col(Tariff.effective_from).desc(), col(Tariff.id).desc())
            .limit(limit))
        return [_view(r) for r in rows]


async def cancel_scheduled(principal: Principal, tariff_id: int) -> None:
    """Withdraw a sheet that has not started; one in force or past is history and stays."""
    principal.require_platform_admin()
    async with session_scope() as session:
        row = await session.get(Tariff, tariff_id, with_for_update=True)
        if row is None:
            raise NotFound("That price sheet was not found.")
        if row.effective_from <= datetime.now(UTC):
            raise ValidationFailed("Only a price sheet that has not started can be withdrawn.")
        await session.delete(row)
        await audit.record(session, "tariff_withdrawn", actor_user_id=principal.user_id,
                           target=f"tariff:{tariff_id}", ip=principal.ip)

