"""Per-assistant handoff policy: when a conversation goes to a human, and what happens when
no human can take it.

The policy is one JSON document per assistant (table `handoff_policies`); an assistant
without a row uses `HandoffPolicy()` defaults, so a new assistant hands off when the
visitor asks in Russian or English, when the AI is unsure or found nothing, with no
business hours (always open) and a five-minute wait before the offline message.
`trigger_for` and `is_open` are pure functions so every channel and the tests share them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.assistants import service as assistants
from backend_services.conversations.intent import SIMILAR_REASON, Intent
from backend_services.conversations.sql import run
from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.knowledge.answers import LOW_CONFIDENCE
from backend_services.models import Role
from backend_services.models.conversations import HandoffPolicyRow

OnTimeout = Literal["offline_message", "back_to_ai"]
ON_TIMEOUT: tuple[str, ...] = get_args(OnTimeout)

# Phrases that always hand over, on top of the built-in detection (conversations.intent),
# which is what catches indirect and frustrated requests. No bare "operator" or
# "менеджер": inside an ordinary question ("how do I add a manager?") they are no request.
DEFAULT_PHRASES_EN: tuple[str, ...] = (
    "talk to a human", "talk to a person", "speak to a human", "speak to a person",
    "speak with a human", "talk to someone", "real person", "live person", "live agent",
    "human agent", "connect me to a human",
)
DEFAULT_PHRASES_RU: tuple[str, ...] = (
    "позовите человека", "позови человека", "живой человек", "живого человека",
    "живым человеком", "соедините с человеком", "соедини с человеком",
    "поговорить с человеком", "переключите на человека", "позовите сотрудника",
    "позови сотрудника", "позовите оператора",
)
# The defaults before the built-in detection: a policy saved with them unchanged gets
# today's defaults (the bare words would keep firing on near misses).
_LEGACY_DEFAULTS = {
    "phrases_en": (
        "talk to a human", "talk to a person", "speak to a human", "speak to a person",
        "speak with a human", "talk to someone", "real person", "live person", "live agent",
        "human agent", "operator", "connect me to a human",
    ),
    "phrases_ru": (
        "оператор", "позовите человека", "позови человека", "живой человек",
        "живого человека", "живым человеком", "соедините с человеком", "соедини с человеком",
        "поговорить с человеком", "переключите на человека", "позовите сотрудника",
        "позови сотрудника", "менеджер",
    ),
}
DEFAULT_OFFLINE_EN = ("Our team is offline right now. Leave your name and e-mail, and we will "
                      "get back to you.")
DEFAULT_OFFLINE_RU = ("Сейчас все сотрудники не в сети. Оставьте имя и e-mail — мы вам "
                      "ответим.")

MAX_PHRASES = 50
MAX_PHRASE_CHARS = 100
MAX_OFFLINE_CHARS = 1000
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")

# Reasons recorded on handoff events and shown in the console.
REASON_VISITOR_BUTTON = "visitor asked for a human"
REASON_LOW_CONFIDENCE = "the AI was not sure of its answer"
REASON_NO_ANSWER = "the AI found no answer"


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours in a time zone: weekday (0 = Monday) -> [(start, end)] as "HH:MM".

    An interval is [start, end) within one day; "24:00" closes at midnight. Days missing
    from `days` are closed. `always_open` ignores the table.
    """

    timezone: str = "UTC"
    days: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    always_open: bool = True


@dataclass(frozen=True)
class HandoffPolicy:
    enabled: bool = True
    on_visitor_request: bool = True
    phrases_en: list[str] = field(default_factory=lambda: list(DEFAULT_PHRASES_EN))
    phrases_ru: list[str] = field(default_factory=lambda: list(DEFAULT_PHRASES_RU))
    on_low_confidence: bool = True
    on_no_answer: bool = True
    keywords: list[str] = field(default_factory=list)
    failed_answers_threshold: int = 0  # N failed AI answers in a row; 0 = off
    business_hours: BusinessHours = field(default_factory=BusinessHours)
    accept_timeout_minutes: int = 5
    on_timeout: str = "offline_message"  # an OnTimeout once validated() passed (forms send str)
    offline_message_en: str = DEFAULT_OFFLINE_EN
    offline_message_ru: str = DEFAULT_OFFLINE_RU

    def offline_message(self, language: str) -> str:
        return self.offline_message_ru if language == "ru" else self.offline_message_en


# ------------------------------------------------------------------------ pure decisions


def _norm(text: str) -> str:
    return " ".join(text.casefold().replace("ё", "е").split())


def _mentions(text: str, phrase: str) -> bool:
    """The phrase starts at a word boundary; its last word may be inflected
    ("оператор" matches "оператора", "operator" matches "operators")."""
    words = _norm(phrase).split()
    if not words:
        return False
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words)
    return re.search(pattern, text) is not None


def trigger_for(
    policy: HandoffPolicy,
    text: str,
    *,
    intent: Intent | None = None,
    answer_confidence: float | None = None,
    found_nothing: bool = False,
    failed_in_row: int = 0,
) -> str | None:
    """Why this message or answer should go to a human, or None.

    Called with the visitor's text and its `intent` (conversations.intent.classify: the
    tenant's phrases, the built-in detection, keywords), and again after the AI answered
    (confidence, nothing found, the failed streak including this answer).
    """
    if not policy.enabled:
        return None
    norm = _norm(text)
    if norm and policy.on_visitor_request:
        for phrase in (*policy.phrases_ru, *policy.phrases_en):
            if _mentions(norm, phrase):
                return f"visitor asked: “{phrase}”"
    if norm:
        for keyword in policy.keywords:
            if _mentions(norm, keyword):
                return f"keyword: “{keyword}”"
    if norm and policy.on_visitor_request and intent is not None and intent.kind == "handoff":
        said = f" ({intent.reason})" if intent.reason == SIMILAR_REASON \
            else f": “{intent.reason}”"
        if intent.detail == "frustration":
            return f"visitor is frustrated{said}"
        return f"visitor asked for a person{said}"
    if found_nothing and policy.on_no_answer:
        return REASON_NO_ANSWER
    if (policy.on_low_confidence and answer_confidence is not None
            and answer_confidence < LOW_CONFIDENCE):
        return REASON_LOW_CONFIDENCE
    if policy.failed_answers_threshold and failed_in_row >= policy.failed_answers_threshold:
        return f"{failed_in_row} failed AI answers in a row"
    return None


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def is_open(hours: BusinessHours, now: datetime | None = None) -> bool:
    """Whether a human is expected to be there at `now` (aware; default: now)."""
    if hours.always_open:
        return True
    moment = (now or datetime.now(UTC)).astimezone(ZoneInfo(hours.timezone))
    minute = moment.hour * 60 + moment.minute
    for start, end in hours.days.get(moment.weekday(), []):
        if _minutes(start) <= minute < _minutes(end):
            return True
    return False


# ------------------------------------------------------------------------ validation


def _clean_list(values: list[str], what: str) -> list[str]:
    cleaned = list(dict.fromkeys(" ".join(v.split()) for v in values if v and v.strip()))
    if len(cleaned) > MAX_PHRASES:
        raise ValidationFailed(f"Give at most {MAX_PHRASES} {what}.")
    if any(len(v) > MAX_PHRASE_CHARS for v in cleaned):
        raise ValidationFailed(f"Each of the {what} must be {MAX_PHRASE_CHARS} characters "
                               "at most.")
    return cleaned


def _clean_hours(hours: BusinessHours) -> BusinessHours:
    try:
        ZoneInfo(hours.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed("Choose a valid time zone, e.g. Europe/Moscow.") from exc
    days: dict[int, list[tuple[str, str]]] = {}
    for day, intervals in hours.days.items():
        day = int(day)
        if not 0 <= day <= 6:
            raise ValidationFailed("Weekdays go from 0 (Monday) to 6 (Sunday).")
        checked: list[tuple[str, str]] = []
        for start, end in intervals:
            if not (_HHMM.match(start) and _HHMM.match(end)):
                raise ValidationFailed("Write times as HH:MM, e.g. 09:00.")
            if _minutes(start) >= _minutes(end):
                raise ValidationFailed("Each opening interval must end after it starts.")
            checked.append((start, end))
        if checked:
            days[day] = sorted(checked)
    if not hours.always_open and not days:
        raise ValidationFailed("Add opening hours for at least one day, or choose "
                               "“always open”.")
    return BusinessHours(timezone=hours.timezone, days=days, always_open=hours.always_open)


def validated(policy: HandoffPolicy) -> HandoffPolicy:
    if policy.on_timeout not in ON_TIMEOUT:
        raise ValidationFailed("Choose what happens when nobody accepts in time.")
    if not 1 <= policy.accept_timeout_minutes <= 24 * 60:
        raise ValidationFailed("The waiting time must be between 1 minute and 24 hours.")
    if not 0 <= policy.failed_answers_threshold <= 20:
        raise ValidationFailed("Failed answers in a row must be between 0 (off) and 20.")
    offline_en = policy.offline_message_en.strip() or DEFAULT_OFFLINE_EN
    offline_ru = policy.offline_message_ru.strip() or DEFAULT_OFFLINE_RU
    if max(len(offline_en), len(offline_ru)) > MAX_OFFLINE_CHARS:
        raise ValidationFailed(f"The offline message is too long ({MAX_OFFLINE_CHARS:,} "
                               "characters at most).")
    return replace(
        policy,
        phrases_en=_clean_list(policy.phrases_en, "English phrases"),
        phrases_ru=_clean_list(policy.phrases_ru, "Russian phrases"),
        keywords=_clean_list(policy.keywords, "keywords"),
        business_hours=_clean_hours(policy.business_hours),
        offline_message_en=offline_en,
        offline_message_ru=offline_ru,
    )


# ------------------------------------------------------------------------ storage


def to_json(policy: HandoffPolicy) -> dict[str, Any]:
    data = asdict(policy)
    data["business_hours"]["days"] = {
        str(day): [list(i) for i in intervals]
        for day, intervals in policy.business_hours.days.items()
    }
    return data


def from_json(data: dict[str, Any] | None) -> HandoffPolicy:
    """Tolerant: a key missing from an older row takes its default."""
    if not data:
        return HandoffPolicy()
    known = {f for f in HandoffPolicy.__dataclass_fields__ if f != "business_hours"}
    values = {k: v for k, v in data.items() if k in known}
    for key, legacy in _LEGACY_DEFAULTS.items():
        if tuple(values.get(key) or ()) == legacy:
            values.pop(key)
    raw_hours = data.get("business_hours") or {}
    hours = BusinessHours(
        timezone=str(raw_hours.get("timezone", "UTC")),
        days={int(d): [(str(a), str(b)) for a, b in iv]
              for d, iv in (raw_hours.get("days") or {}).items()},
        always_open=bool(raw_hours.get("always_open", True)),
    )
    return HandoffPolicy(**values, business_hours=hours)


async def load_policy(session: AsyncSession, workspace_id: int, assistant_id: int) -> HandoffPolicy:
    row = (await session.exec(
        select(HandoffPolicyRow).where(col(HandoffPolicyRow.assistant_id) == assistant_id,
                                       col(HandoffPolicyRow.workspace_id) == workspace_id)
    )).first()
    return from_json(row.settings if row else None)


async def _assistant_of(session: AsyncSession, workspace_id: int, assistant_id: int) -> None:
    await assistants.in_scope(session, workspace_id, assistant_id)


async def get_policy(who: Principal | int, assistant_id: int) -> HandoffPolicy:
    """An operator's view of the policy (or the system's, given a workspace id)."""
    if isinstance(who, Principal):
        who.require(Role.OPERATOR)
        workspace_id = who.workspace_id
    else:
        workspace_id = who
    async with session_scope() as session:
        await _assistant_of(session, workspace_id, assistant_id)
        return await load_policy(session, workspace_id, assistant_id)


async def update_policy(
    principal: Principal, assistant_id: int, policy: HandoffPolicy
) -> HandoffPolicy:
    principal.require(Role.ADMIN)
    policy = validated(policy)
    async with session_scope() as session:
        await _assistant_of(session, principal.workspace_id, assistant_id)
        stmt = insert(HandoffPolicyRow).values(
            workspace_id=principal.workspace_id, assistant_id=assistant_id,
            settings=to_json(policy), updated_at=datetime.now(UTC),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["assistant_id"],
            set_={"settings": stmt.excluded.settings, "updated_at": stmt.excluded.updated_at},
        )
        await run(session, stmt)
        await audit.record_by(
            session, principal, "handoff_policy_updated", f"assistant:{assistant_id}",
            details={"enabled": policy.enabled, "on_timeout": policy.on_timeout,
                     "accept_timeout_minutes": policy.accept_timeout_minutes},
        )
    return policy
