"""Model prices and what an answer cost.

Prices are platform-wide, set by platform admins, per 1,000 tokens in integer minor units
(cents, kopecks) with a currency. A change is a new row, never an edit: the newest row
whose `effective_from` has come is the price in force, so history stays readable and a
price can be scheduled ahead. Money is never a float: a cost is computed in integers and
rounded up to a whole minor unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, select

from backend_services import audit
from backend_services.db import session_scope
from backend_services.errors import ValidationFailed
from backend_services.models import Price
from backend_services.principal import Principal

# The price columns are 32-bit integers.
MAX_PRICE_PER_1K_MINOR = 1_000_000_000
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Cost:
    """What some tokens cost under the price in force; currency "" when no price is set."""

    minor: int
    currency: str


@dataclass(frozen=True)
class PriceView:
    id: int
    model: str
    input_per_1k_minor: int
    output_per_1k_minor: int
    currency: str
    effective_from: datetime


def _view(row: Price) -> PriceView:
    assert row.id is not None
    return PriceView(
        id=row.id,
        model=row.model,
        input_per_1k_minor=row.input_per_1k_minor,
        output_per_1k_minor=row.output_per_1k_minor,
        currency=row.currency,
        effective_from=row.effective_from,
    )


def cost_of(price: Price | PriceView | None, tokens_in: int, tokens_out: int) -> Cost:
    """Integer arithmetic only: the exact cost in thousandths of a minor unit, rounded up."""
    if price is None:
        return Cost(0, "")
    thousandths = (
        max(0, tokens_in) * price.input_per_1k_minor
        + max(0, tokens_out) * price.output_per_1k_minor
    )
    return Cost(-(-thousandths // 1000), price.currency)


async def current_price(model: str) -> Price | None:
    """The newest price row for the model that is already in force.

    "Now" is the application's clock, the one that stamps `effective_from` on new rows.
    """
    async with session_scope() as session:
        return (
            await session.exec(
                select(Price)
                .where(col(Price.model) == model.strip())
                .where(col(Price.effective_from) <= datetime.now(UTC))
                .order_by(col(Price.effective_from).desc(), col(Price.id).desc())
                .limit(1)
            )
        ).first()


async def cost(model: str, tokens_in: int, tokens_out: int) -> Cost:
    return cost_of(await current_price(model), tokens_in, tokens_out)


async def cost_minor(model: str, tokens_in: int, tokens_out: int) -> int:
    """What the tokens cost in minor units of the price's currency; 0 when no price is set."""
    return (await cost(model, tokens_in, tokens_out)).minor


def _clean_price(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"The {what} price must be a whole number of minor units.")
    if value < 0:
        raise ValidationFailed(f"The {what} price cannot be negative.")
    if value > MAX_PRICE_PER_1K_MINOR:
        raise ValidationFailed(f"The {what} price is unreasonably large.")
    return value


def _clean_model(model: str) -> str:
    model = model.strip()
    if not model:
        raise ValidationFailed("Name the model the price is for, e.g. “gpt-4o-mini”.")
    if len(model) > 120:
        raise ValidationFailed("The model name is too long (120 characters at most).")
    return model


def _clean_currency(currency: str) -> str:
    currency = currency.strip().upper()
    if not _CURRENCY.match(currency):
        raise ValidationFailed("The currency must be a three-letter ISO code, e.g. USD or RUB.")
    return currency


async def set_price(
    principal: Principal,
    model: str,
    input_per_1k_minor: int,
    output_per_1k_minor: int,
    currency: str,
) -> PriceView:
    """A new price for the model, in force from now; the previous rows stay as history."""
    principal.require_platform_admin()
    row = Price(
        model=_clean_model(model),
        input_per_1k_minor=_clean_price(input_per_1k_minor, "input"),
        output_per_1k_minor=_clean_price(output_per_1k_minor, "output"),
        currency=_clean_currency(currency),
        effective_from=datetime.now(UTC),
    )
    async with session_scope() as session:
        session.add(row)
        await session.flush()
        assert row.id is not None
        # Prices belong to the platform, not the admin's workspace: logged globally.
        await audit.record(
            session,
            "price_set",
            actor_user_id=principal.user_id,
            target=f"price:{row.id}",
            ip=principal.ip,
            details={
                "model": row.model,
                "input_per_1k_minor": row.input_per_1k_minor,
                "output_per_1k_minor": row.output_per_1k_minor,
                "currency": row.currency,
            },
        )
        return _view(row)


async def list_prices(principal: Principal, *, history: bool = False) -> list[PriceView]:
    """The price in force per model (by model name); `history` adds every row, newest first."""
    principal.require_platform_admin()
    async with session_scope() as session:
        query = select(Price).order_by(
            col(Price.model), col(Price.effective_from).desc(), col(Price.id).desc()
        )
        if not history:
            query = query.where(col(Price.effective_from) <= datetime.now(UTC))
        rows = (await session.exec(query)).all()
    if history:
        return [_view(r) for r in rows]
    current: dict[str, PriceView] = {}
    for r in rows:
        current.setdefault(r.model, _view(r))
    return list(current.values())
