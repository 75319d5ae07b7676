"""Telling a workspace that its balance is low or spent: once per crossing, by e-mail to its
owners and admins (a job, so a slow mail server never delays a turn), and as the banner the
dashboard shows while it lasts (`banner`).

The crossing itself is decided in the ledger's transaction (`Posted.crossed_low`,
`reached_zero`), so two concurrent charges cannot both announce it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from procrastinate import Blueprint
from sqlmodel import col, select

from backend_services.billing import ledger, tariffs
from backend_services.billing.ledger import Posted
from backend_services.billing.money import format_money
from backend_services.core import audit, jobs, mailer
from backend_services.core.db import session_scope
from backend_services.core.principal import Principal
from backend_services.core.settings import get_settings
from backend_services.models import Membership, Role, User, Workspace

log = logging.getLogger(__name__)
blueprint = Blueprint()
NOTIFY_TASK = jobs.TaskRef("billing", "notify_balance", queue="billing")


async def after_charge(workspace_id: int, posted: Posted | None) -> None:
    """Call after the charge's transaction committed."""
    if posted is None or posted.duplicate:
        return
    state = "zero" if posted.reached_zero else "low" if posted.crossed_low else ""
    if not state:
        return
    try:
        await jobs.defer(NOTIFY_TASK, workspace_id=workspace_id, state=state)
    except Exception:  # the banner still shows it; the mail is best effort
        log.exception("could not schedule the balance notice of workspace %s", workspace_id)


_SUBJECT = {
    "low": "ReplyX: the balance of {name} is running low",
    "zero": "ReplyX: the balance of {name} is spent — the AI has stopped answering",
}
_BODY = {
    "low": ("The balance of {name} is {balance}, under the {threshold} you are warned at.\n"
            "Top it up on the Billing page to keep the AI answering: {url}\n"),
    "zero": ("The balance of {name} is spent. The AI no longer answers: visitors are told "
             "so and their conversations go to your operators, who keep working. New "
             "knowledge cannot be added.\nEverything resumes the moment a payment lands: "
             "{url}\n"),
}


@blueprint.task(name=NOTIFY_TASK.name, queue=NOTIFY_TASK.queue, pass_context=False)
async def notify_balance(workspace_id: int, state: str) -> int:
    """Mail the workspace's owners and admins; returns the mails sent."""
    async with session_scope() as session:
        workspace = await session.get(Workspace, workspace_id)
        if workspace is None or state not in _SUBJECT:
            return 0
        balance, currency = await ledger.balance_of(session, workspace_id)
        sheet = await tariffs.in_force(session)
        people = list(await session.exec(
            select(User.email).join(Membership, col(Membership.user_id) == col(User.id))
            .where(col(Membership.workspace_id) == workspace_id,
                   col(Membership.role).in_((Role.OWNER.value, Role.ADMIN.value)))))
        await audit.record(session, f"balance_{state}_notice", workspace_id=workspace_id,
                           details={"balance_minor": balance})
        name = workspace.name
    values = {"name": name, "balance": format_money(balance, currency),
              "threshold": format_money(sheet.low_balance_minor, currency),
              "url": f"{get_settings().base_url}/billing"}
    sent = 0
    for email in people:
        try:
            await mailer.send(email, _SUBJECT[state].format(**values),
                              _BODY[state].format(**values))
            sent += 1
        except mailer.MailError:
            log.warning("could not mail the balance notice of workspace %s", workspace_id)
    return sent


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


jobs.register(NOTIFY_TASK.namespace, blueprint)
