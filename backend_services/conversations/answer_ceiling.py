"""A ceiling on the AI answers one workspace gets per minute, whoever asks.

Per-visitor and per-address limits (ratelimit.check_visitor_message) stop one noisy
client, but a handful of addresses each opening a few visitors could still make the AI
answer as fast as it can, at the workspace's expense. Past the ceiling the visitor's
message is still stored (an operator sees it in the console), the AI stays quiet, and the
visitor gets a polite system message in the assistant's language; the workspace's owners
are mailed at most once an hour (a job, so a slow mail server never delays a turn).
"""

from __future__ import annotations

import logging

from procrastinate import Blueprint
from sqlmodel import col, select

from backend_services.conversations import system_notes
from backend_services.conversations.actors import ContactActor
from backend_services.core import audit, jobs, mailer, ratelimit
from backend_services.core.db import session_scope
from backend_services.core.redis_client import get_redis
from backend_services.core.settings import get_settings
from backend_services.models import Membership, Role, User, Workspace

log = logging.getLogger(__name__)

blueprint = Blueprint()
NOTIFY_TASK = jobs.TaskRef("answers", "notify_answer_ceiling", queue="conversations")
NOTE_EVERY_SECONDS = 3600


async def admit(workspace_id: int) -> bool:
    """Count one AI answer against the workspace's minute; False past the ceiling."""
    ceiling = get_settings().ai_answers_per_workspace_per_minute
    if ceiling <= 0:
        return True
    return await ratelimit.take("ai-answers-ws", str(workspace_id), ceiling, 60)


async def hold_back(actor: ContactActor, dialog_id: int) -> None:
    """Tell the visitor the assistant is saturated, and let the owners know (once an hour)."""
    await system_notes.tell(actor, dialog_id, "ai_saturated")
    try:
        if await get_redis().set(f"replyx:ai-ceiling-note:{actor.workspace_id}", "1",
                                 nx=True, ex=NOTE_EVERY_SECONDS):
            await jobs.defer(NOTIFY_TASK, workspace_id=actor.workspace_id)
    except Exception:  # the visitor was told; the owners' note is best effort
        log.exception("could not schedule the answer-ceiling note of workspace %s",
                      actor.workspace_id)


@blueprint.task(name=NOTIFY_TASK.name, queue=NOTIFY_TASK.queue, pass_context=False)
async def notify_answer_ceiling(workspace_id: int) -> int:
    """Mail the workspace's owners that visitors were held back; returns mails sent."""
    ceiling = get_settings().ai_answers_per_workspace_per_minute
    async with session_scope() as session:
        workspace = await session.get(Workspace, workspace_id)
        if workspace is None:
            return 0
        owners = list(await session.exec(
            select(User.email).join(Membership, col(Membership.user_id) == col(User.id))
            .where(col(Membership.workspace_id) == workspace_id,
                   col(Membership.role) == Role.OWNER.value)))
        await audit.record(session, "ai_answer_ceiling_reached", workspace_id=workspace_id,
                           details={"per_minute": ceiling})
        name = workspace.name
    sent = 0
    for email in owners:
        try:
            await mailer.send(
                email, f"ReplyX: visitors of {name} are asking faster than the AI may answer",
                f"Your workspace {name} reached its ceiling of {ceiling} AI answers per "
                "minute. Visitors past it were asked to write again in a minute; their "
                "messages are in the operator console.\n\n"
                "This protects your balance from a flood of questions. If the traffic is "
                "real, ask your platform administrator to raise the ceiling.\n")
            sent += 1
        except mailer.MailError:
            log.warning("could not mail the answer-ceiling note of workspace %s", workspace_id)
    return sent


jobs.register(NOTIFY_TASK.namespace, blueprint)
