"""Figures as a person reads them, in English or Russian (the page and the weekly mail)."""

from __future__ import annotations

from backend_services.analytics.report import Metric
from backend_services.billing.money import format_money

_UNITS = {"en": ("s", "min", "h", "d"), "ru": ("с", "мин", "ч", "д")}


def duration(seconds: float | None, language: str = "en") -> str:
    """'4.2 s', '3 min 05 s', '2 h 05 min', '3 d 4 h' (the page, the mails, the console)."""
    s, m, h, d = _UNITS.get(language, _UNITS["en"])
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} {s}".replace(f".0 {s}", f" {s}")
    total = round(seconds)
    if total < 3600:
        return f"{total // 60} {m} {total % 60:02d} {s}"
    if total < 86400:
        return f"{total // 3600} {h} {total % 3600 // 60:02d} {m}"
    return f"{total // 86400} {d} {total % 86400 // 3600} {h}"


def shown(m: Metric, value: float | None, currency: str, language: str = "en") -> str:
    if value is None:
        return "—"
    if m.unit == "share":
        return f"{value * 100:.0f} %"
    if m.unit == "seconds":
        return duration(value, language)
    if m.unit == "stars":
        return f"{value:.2f} ★"
    if m.unit == "money":
        return format_money(int(value), currency)
    return f"{int(value):,}".replace(",", "\u202f")
