"""Model prices and what an answer cost.

Prices are platform-wide, set by platform admins, per million tokens in micro-units
(millionths of a minor unit: cents, kopecks) with a currency. Whole minor units per 1,000
tokens could not express a cheap model (USD 0.075 per million tokens is 0.0075 cents per
1,000), so every answer of such a model was billed at zero or rounded up a hundredfold.

A change is a new row, never an edit: the newest row whose `effective_from` has come is
the price in force, so history stays readable and a price can be scheduled ahead. Money is
never a float: a price is parsed from its decimal text, a cost is computed in integers
(micro-units, rounded up), and only the ledger (billing) rounds to whole minor units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from sqlmodel import col, select

from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.views import view_from
from backend_services.models import Price

MICRO = 1_000_000  # micro-units per minor unit
TOKENS_PER_PRICE = 1_000_000
# 1,000,000 major units per million tokens is far beyond any real price; it keeps every
# product below 2**63 even for a billion tokens.
MAX_PRICE_PER_MTOK_MICRO = 1_000_000 * 100 * MICRO
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Cost:
    """What some tokens cost under the price in force; currency "" when no price is set."""

    micro: int
    currency: str

    @property
    def minor(self) -> int:
        """Whole minor units, rounded up (what a ledger entry would carry)."""
        return -(-self.micro // MICRO)


@dataclass(frozen=True)
class PriceView:
    id: int
    model: str
    input_per_mtok_micro: int
    output_per_mtok_micro: int
    currency: str
    effective_from: datetime


def _view(row: Price) -> PriceView:
    assert row.id is not None
    return view_from(PriceView, row)


def cost_of(price: Price | PriceView | None, tokens_in: int, tokens_out: int) -> Cost:
    """Integer arithmetic only: micro-units, rounded up to the next whole micro-unit."""
    if price is None:
        return Cost(0, "")
    scaled = (
        max(0, tokens_in) * price.input_per_mtok_micro
        + max(0, tokens_out) * price.output_per_mtok_micro
    )
    return Cost(-(-scaled // TOKENS_PER_PRICE), price.currency)


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


def parse_price(text: str | int | Decimal, what: str = "") -> int:
    """A price per million tokens in major units ("0.075" dollars) -> micro minor units.

    Decimal, never float: "0.1" must be exactly 10 cents. More precision than a
    micro-unit of a minor unit is refused rather than silently rounded.
    """
    label = f"The {what} price" if what else "The price"
    try:
        value = Decimal(str(text).strip().replace(",", "."))
    except InvalidOperation:
        raise ValidationFailed(f"{label} must be a number, e.g. 0.15.") from None
    if not value.is_finite():
        raise ValidationFailed(f"{label} must be a number, e.g. 0.15.")
    if value < 0:
        raise ValidationFailed(f"{label} cannot be negative.")
    micro = value * 100 * MICRO
    if micro != micro.to_integral_value():
        raise ValidationFailed(f"{label} has more decimal places than can be billed.")
    if micro > MAX_PRICE_PER_MTOK_MICRO:
        raise ValidationFailed(f"{label} is unreasonably large.")
    return int(micro)


def format_micro(micro: int, currency: str) -> str:
    """Micro minor units as major units with the digits that matter: 0.0075 USD, 12.50 RUB."""
    major = Decimal(micro) / (100 * MICRO)
    text = f"{major:.8f}".rstrip("0")
    whole, _, frac = text.partition(".")
    frac = frac.ljust(2, "0")
    return f"{whole}.{frac} {currency}".strip()


def _clean_price(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"The {what} price must be a whole number of micro-units.")
    if value < 0:
        raise ValidationFailed(f"The {what} price cannot be negative.")
    if value > MAX_PRICE_PER_MTOK_MICRO:
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
    input_per_mtok_micro: int,
    output_per_mtok_micro: int,
    currency: str,
) -> PriceView:
    """A new price for the model, in force from now; the previous rows stay as history.

    Prices are micro minor units per million tokens; `parse_price` turns "0.15" into one.
    """
    principal.require_platform_admin()
    row = Price(
        model=_clean_model(model),
        input_per_mtok_micro=_clean_price(input_per_mtok_micro, "input"),
        output_per_mtok_micro=_clean_price(output_per_mtok_micro, "output"),
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
                "input_per_mtok_micro": row.input_per_mtok_micro,
                "output_per_mtok_micro": row.output_per_mtok_micro,
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
