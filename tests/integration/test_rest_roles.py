"""REST applies the dashboard's roles: what a page hides from a role, the API hides too."""

from __future__ import annotations

import httpx

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.identity import auth
from backend_services.models import Role
from tests.e2e.helpers import PASSWORD, add_member, make_workspace_owner, owner_principal
from tests.integration.test_health_http import api_url  # noqa: F401  (fixture)

PROMPT = "Never mention the 40% partner discount code PARTNER40."


async def _cookie(email: str) -> dict[str, str]:
    return {"replyx_session": (await auth.login(email=email, password=PASSWORD)).session_id}


async def test_an_operator_reads_assistants_without_their_prompt_or_settings(
    clean: None, api_url: str  # noqa: F811
) -> None:
    owner, ws = await make_workspace_owner("roles")
    made = await assistants.create_assistant(
        await owner_principal(ws), AssistantInput(name="Shop helper", system_prompt=PROMPT))
    operator = await add_member(ws, Role.OPERATOR, "olga")

    async with httpx.AsyncClient(base_url=api_url, cookies=await _cookie(operator)) as http:
        listed = await http.get("/api/v1/assistants")
        one = await http.get(f"/api/v1/assistants/{made.id}")
    assert listed.status_code == 200 and one.status_code == 200
    assert [a["name"] for a in listed.json()] == ["Shop helper"]  # the console's view
    for body in (listed.text, one.text):
        assert "PARTNER40" not in body
        assert "system_prompt" not in body and "model" not in body

    # The owner, whose Assistants page shows the prompt, reads it through REST as well.
    async with httpx.AsyncClient(base_url=api_url, cookies=await _cookie(owner)) as http:
        full = await http.get(f"/api/v1/assistants/{made.id}")
    assert full.status_code == 200 and full.json()["system_prompt"] == PROMPT
