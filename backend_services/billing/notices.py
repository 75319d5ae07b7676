"""The banner the dashboard shows while a workspace's balance is low or spent.

The e-mail is sent once per crossing by the notifications domain: the ledger asks for it
(core.notify) in the transaction of the entry that crossed, so two concurrent charges
cannot both announce it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from procrastinate import Blueprint

from backend_services.billing import ledger, tariffs
from backend_services.billing.money import format_money
from backend_services.core import jobs
from backend_services.core.db import session_scope
from backend_services.core.principal import Principal
from backend_services.models import Role

log = logging.getLogger(__name__)
blueprint = Blueprint()
NOTIFY_TASK = jobs.TaskRef("billing", "notify_balance", queue="billing")


@dataclass(frozen=True)
class Banner:
    state: str  # "", "low" or "zero"
    balance: str


async def banner(principal: Principal) -> Banner:
    """What the dashboard warns the workspace's admins about, from the balance as it is."""
    if not principal.has_role(Role.ADMIN):
        return Banner("", "")
    async with session_scope() as session:
        balance, currency = await ledger.balance_of(session, principal.workspace_id)
        sheet = await tariffs.in_force(session)
    shown = format_money(balance, currency)
    if balance <= 0 and sheet.charges_answers:
        return Banner("zero", shown)
    if sheet.low_balance_minor > 0 and balance < sheet.low_balance_minor:
        return Banner("low", shown)
    return Banner("", shown)

