"""Creating a workspace: the one place that knows what a new workspace needs.

Sign-up, the demo seed and `replyx create-admin` all call `create_workspace`, so a
workspace made any of these ways starts the same (a balance in the platform's currency with
the welcome bonus of the price sheet in force), and whatever is added later to every new
workspace is added in one place.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.billing import ledger, tariffs
from backend_services.core.settings import get_settings
from backend_services.identity import platform_settings
from backend_services.identity.platform_settings import MIB
from backend_services.models import Balance, Membership, Role, Workspace


async def create_workspace(
    session: AsyncSession, *, name: str, is_demo: bool = False, owner_user_id: int | None = None,
    welcome_bonus: bool = True,
) -> int:
    """Add the workspace in the caller's transaction, so it commits (or not) together with
    the account or assistants made with it; returns its id. `welcome_bonus` is False for a
    further workspace of someone who already has one: a bonus per workspace would be free
    credit for the asking."""
    currency = get_settings().currency
    limits = await platform_settings.read(session)
    workspace = Workspace(name=name, is_demo=is_demo, currency=currency,
                          storage_quota_bytes=limits.new_workspace_storage_mb * MIB)
    session.add(workspace)
    await session.flush()
    assert workspace.id is not None
    session.add(Balance(workspace_id=workspace.id, currency=currency))
    await session.flush()
    sheet = await tariffs.in_force(session)
    if welcome_bonus and sheet.welcome_bonus_minor > 0 and sheet.currency == currency:
        await ledger.post(session, workspace.id, sheet.welcome_bonus_minor, ledger.Kind.WELCOME,
                          "welcome", reference="welcome bonus")
    if owner_user_id is not None:
        session.add(
            Membership(workspace_id=workspace.id, user_id=owner_user_id, role=Role.OWNER.value)
        )
    return workspace.id
