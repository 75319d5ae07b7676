"""Amounts typed by people, and amounts shown to them. Never a float: "0.10" is 10 cents."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from backend_services.core.errors import ValidationFailed

# No single amount a person types is anywhere near this (ten million major units).
MAX_AMOUNT_MINOR = 10_000_000 * 100


def parse_amount(text: str | int | Decimal, what: str = "The amount", *,
                 negative: bool = False) -> int:
    """Major units as typed ("12.50", "12,5", "-3") -> minor units, refusing what cannot be
    billed exactly (a third decimal place) rather than rounding it."""
    try:
        value = Decimal(str(text).strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise ValidationFailed(f"{what} must be a number, e.g. 12.50.") from None
    if not value.is_finite():
        raise ValidationFailed(f"{what} must be a number, e.g. 12.50.")
    if value < 0 and not negative:
        raise ValidationFailed(f"{what} cannot be negative.")
    minor = value * 100
    if minor != minor.to_integral_value():
        raise ValidationFailed(f"{what} has more than two decimal places.")
    if abs(minor) > MAX_AMOUNT_MINOR:
        raise ValidationFailed(f"{what} is unreasonably large.")
    return int(minor)


def major(minor: int) -> str:
    """12.50 for 1250, -0.05 for -5: the figure without its currency (forms, CSV)."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"


def format_money(minor: int, currency: str) -> str:
    """What a person reads: "1 250.00 RUB", "12.50 USD" (thin groups keep big sums legible)."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole:,}".replace(",", "\u202f") + f".{cents:02d} {currency}"
