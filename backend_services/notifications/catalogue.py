"""The events people can be told about, who hears of each by default, and how.

`gate_online`: told only when no operator of the workspace is online — someone in the
console sees it already. `throttled`: at most one mail per person per THROTTLE for the
event; what comes in the meantime goes out as one digest when the window ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from backend_services.models import Role

THROTTLE = timedelta(minutes=10)
_PEOPLE = (Role.OPERATOR, Role.ADMIN, Role.OWNER)
_MONEY = (Role.ADMIN, Role.OWNER)


@dataclass(frozen=True)
class Event:
    name: str
    label: str  # what the settings page calls it
    roles: tuple[Role, ...]  # who may hear of it (and does, unless they turn it off)
    gate_online: bool = False
    throttled: bool = False


EVENTS: dict[str, Event] = {e.name: e for e in (
    Event("waiting", "A visitor waits for a person and nobody is online", _PEOPLE,
          gate_online=True, throttled=True),
    Event("sla", "A visitor has waited past the handoff timeout", _PEOPLE),
    Event("contact", "A visitor left their contact while nobody was online", _PEOPLE,
          gate_online=True),
    Event("balance_low", "The balance is running low", _MONEY),
    Event("balance_zero", "The balance is spent", _MONEY),
    Event("payment_paid", "A payment was received", _MONEY),
    Event("payment_failed", "A payment failed", _MONEY),
    Event("weekly", "The weekly summary", _MONEY),
)}


def may_hear(event: Event, role: Role) -> bool:
    return role in event.roles
