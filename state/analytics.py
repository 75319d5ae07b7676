"""Analytics page: a period's figures against the previous period, charts, tables and
their CSV (owners and admins)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import reflex as rx

from backend_services.analytics import questions as asked
from backend_services.analytics.formatting import duration, shown
from backend_services.analytics.period import Filters
from backend_services.analytics.report import WEEKDAYS, Metric, Report, change, metrics, report
from backend_services.analytics.report import csv_table as report_csv
from backend_services.assistants import service as assistants
from backend_services.billing.money import format_money
from backend_services.conversations.actors import CHANNEL_KINDS
from backend_services.conversations.policy import get_policy
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Role
from state.session import SessionState, guarded

DEFAULT_DAYS = 30
PRESETS = ("7", "30", "90")
# Zones offered besides those the workspace's business hours name.
ZONES = ("UTC", "Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg",
         "Asia/Omsk", "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk",
         "Asia/Vladivostok", "Europe/London", "Europe/Berlin", "Europe/Kyiv", "Asia/Almaty",
         "Asia/Tashkent", "Asia/Dubai", "America/New_York", "America/Chicago",
         "America/Los_Angeles")
# Which way is better for a figure (1 up, -1 down); the others are neither.
BETTER = {"ai_only_share": 1, "ai_first_response": -1, "human_first_response": -1,
          "resolution": -1, "csat_ai": 1, "csat_human": 1}
CHANNEL_LABELS = {"widget": "Website widget", "telegram": "Telegram"}


def _trend(key: str, delta: float | None) -> str:
    if delta is None or abs(delta) < 0.005 or key not in BETTER:
        return "same"
    return "good" if (delta > 0) == (BETTER[key] > 0) else "bad"


def _delta(m: Metric, delta: float | None) -> str:
    if delta is None:
        return ""
    if m.unit == "share":
        text = f"{delta * 100:+.0f} pp"
    elif m.unit == "stars":
        text = f"{delta:+.2f} ★"
    else:
        text = f"{delta * 100:+.0f} %"
    return text.replace("-", "−")


def card(m: Metric, currency: str) -> dict[str, Any]:
    delta = change(m)
    return {"key": m.key, "label": m.label, "value": shown(m, m.now, currency),
            "before": shown(m, m.before, currency), "delta": _delta(m, delta),
            "trend": _trend(m.key, delta)}


def iso_date(text: Any) -> date:
    try:
        return date.fromisoformat(str(text or "").strip())
    except ValueError:
        raise ValidationFailed("Dates are written as YYYY-MM-DD.") from None


class AnalyticsState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    error: rx.Field[str] = rx.field("")
    since: rx.Field[str] = rx.field("")
    until: rx.Field[str] = rx.field("")
    assistant: rx.Field[str] = rx.field("all")
    channel: rx.Field[str] = rx.field("all")
    tz: rx.Field[str] = rx.field("UTC")
    assistants: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    zones: rx.Field[list[str]] = rx.field(default_factory=list)
    compared: rx.Field[str] = rx.field("")  # the previous period, as dates
    cards: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    empty: rx.Field[bool] = rx.field(True)
    days: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    handling: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    reasons: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    timings: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    stars: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    ratings: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    heat: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    cost_total: rx.Field[str] = rx.field("")
    cost_answers: rx.Field[str] = rx.field("")
    cost_per: rx.Field[str] = rx.field("")
    questions_loaded: rx.Field[bool] = rx.field(False)
    top: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    questions_read: rx.Field[int] = rx.field(0)
    unanswered: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)

    def _filters(self) -> Filters:
        return Filters(
            since=iso_date(self.since), until=iso_date(self.until),
            assistant_id=None if self.assistant == "all" else int(self.assistant),
            channel="" if self.channel == "all" else self.channel, tz=self.tz)

    async def _default_zone(self, principal: Principal) -> str:
        """The first assistant's business-hours zone: where the business reads its day."""
        listed = await assistants.list_assistants(principal)
        zones = {(await get_policy(principal, a.id)).business_hours.timezone for a in listed}
        self.zones = sorted(set(ZONES) | zones)
        self.assistants = [{"id": str(a.id), "name": a.name} for a in listed]
        if listed:
            return (await get_policy(principal, listed[0].id)).business_hours.timezone
        return "UTC"

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> Any:
        self.tz = await self._default_zone(principal)
        today = datetime.now(ZoneInfo(self.tz)).date()
        self.since = (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        self.until = today.isoformat()
        self.assistant, self.channel = "all", "all"
        return await self._present(principal)

    async def _present(self, principal: Principal) -> Any:
        self.error = ""
        try:
            r = await report(principal, self._filters())
        except ValidationFailed as exc:
            self.error = exc.message
            return None
        self._draw(r)
        self.loaded, self.questions_loaded = True, False
        return AnalyticsState.load_questions

    def _draw(self, r: Report) -> None:
        now, f = r.current, r.filters
        prev = f.previous()
        self.compared = f"{prev.since.isoformat()} – {prev.until.isoformat()}"
        self.cards = [card(m, r.currency) for m in metrics(r)]
        self.empty = now.conversations == 0 and now.messages == 0
        self.days = [{"day": d.day[5:], "ai_only": d.conversations - d.handed_over,
                      "handed": d.handed_over, "visitor": d.visitor_messages,
                      "ai": d.ai_messages, "operator": d.operator_messages} for d in now.days]
        self.handling = [{"name": "AI alone", "value": now.ai_only, "fill": "var(--indigo-9)"},
                         {"name": "A person", "value": now.handed_over,
                          "fill": "var(--amber-9)"}]
        self.reasons = [{"reason": reason, "count": n,
                         "share": f"{n / now.handed_over * 100:.0f} %" if now.handed_over else ""}
                        for reason, n in now.reasons]
        self.timings = [
            {"label": label, "median": duration(t.median), "p90": duration(t.p90),
             "count": str(t.count)}
            for label, t in (("AI first response", now.ai_first_response),
                             ("Human first response", now.human_first_response),
                             ("Time to resolution", now.resolution))]
        self.stars = [{"stars": f"{i + 1} ★", "ai": now.rated_ai.distribution[i],
                       "human": now.rated_human.distribution[i]} for i in range(5)]
        self.ratings = [
            {"label": label, "count": str(s.count),
             "average": "—" if s.average is None else f"{s.average:.2f} ★"}
            for label, s in (("AI alone", now.rated_ai), ("With a person", now.rated_human))]
        peak = max((max(row) for row in now.hours), default=0) or 1
        self.heat = [{"weekday": WEEKDAYS[i][:3], "cells": [
            {"hour": h, "n": n, "alpha": round(n / peak, 3),
             "title": f"{WEEKDAYS[i]} {h:02d}:00–{h + 1:02d}:00: {n}"}
            for h, n in enumerate(row)]} for i, row in enumerate(now.hours)]
        per = now.ai_cost_minor / now.conversations if now.conversations else None
        self.cost_total = format_money(now.ai_cost_minor, r.currency)
        self.cost_answers = f"{now.answers_charged:,}".replace(",", "\u202f")
        self.cost_per = "—" if per is None else format_money(round(per), r.currency)

    @guarded(Role.ADMIN)
    async def apply(self, form: dict[str, Any], *, principal: Principal) -> Any:
        assistant = str(form.get("assistant", "all"))
        channel = str(form.get("channel", "all"))
        self.assistant = assistant if assistant == "all" or assistant.isdigit() else "all"
        self.channel = channel if channel in CHANNEL_KINDS else "all"
        self.since, self.until = str(form.get("since", "")), str(form.get("until", ""))
        self.tz = str(form.get("tz", self.tz))
        return await self._present(principal)

    @guarded(Role.ADMIN)
    async def preset(self, days: str, *, principal: Principal) -> Any:
        if days not in PRESETS:
            return None
        until = iso_date(self.until) if self.until else datetime.now(UTC).date()
        self.since = (until - timedelta(days=int(days) - 1)).isoformat()
        self.until = until.isoformat()
        return await self._present(principal)

    @guarded(Role.ADMIN)
    async def load_questions(self, *, principal: Principal) -> None:
        try:
            q = await asked.questions(principal, self._filters())
        except ValidationFailed:
            return
        days = (iso_date(self.until) - iso_date(self.since)).days + 1
        gap_days = next((d for d in ("7", "30", "90") if int(d) >= days), "90")
        self.top = [{"question": t.question, "count": t.count,
                     "share": f"{t.share * 100:.0f} %",
                     "link": f"/console?d={t.dialog_id}"} for t in q.top]
        self.questions_read = q.read
        self.unanswered = [{"assistant": u.assistant, "weak": u.weak_answers,
                            "handed": u.handed_over,
                            "link": f"/knowledge?assistant={u.assistant_id}&tab=gaps"
                                    f"&days={gap_days}"} for u in q.unanswered]
        self.questions_loaded = True

    @guarded(Role.ADMIN)
    async def export(self, table: str, *, principal: Principal) -> Any:
        r = await report(principal, self._filters())
        return rx.download(data=report_csv(r, str(table)),
                           filename=f"replyx-analytics-{table}-{r.filters.since}"
                                    f"-{r.filters.until}.csv")

    @guarded(Role.ADMIN)
    async def export_questions(self, table: str, *, principal: Principal) -> Any:
        q = await asked.questions(principal, self._filters())
        kind = "unanswered" if table == "unanswered" else "questions"
        return rx.download(data=asked.csv_text(q, kind),
                           filename=f"replyx-analytics-{kind}.csv")
