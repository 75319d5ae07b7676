"""REST: the workspace's assistants, for a signed-in session or a workspace API key (read
scope to list, write scope to change). Same service calls, same scoping, same roles as the
dashboard: the Assistants page (prompts, models, settings) is for admins and owners, so an
operator's token reads only what the console shows of an assistant — its name, language
and whether it is on — never its system prompt or configuration."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput, AssistantView
from backend_services.core.principal import Principal
from backend_services.models import Role
from replyx_app.api.deps import READ, WRITE, require_json

router = APIRouter(prefix="/api/v1/assistants", tags=["assistants"],
                   dependencies=[Depends(require_json)])


class AssistantIn(BaseModel):
    name: str = Field(max_length=80)
    system_prompt: str = ""
    model: str = assistants.DEFAULT_MODEL
    temperature: float = 0.3
    language: str = "en"
    greeting: str = ""
    is_active: bool = True
    fallback_models: list[str] = []
    chunk_max_tokens: int = 300
    chunk_overlap_tokens: int = 40
    industry: str = "general"

    def to_input(self) -> AssistantInput:
        data = self.model_dump()
        data["fallback_models"] = tuple(self.fallback_models)
        return AssistantInput(**data)


class AssistantSummary(BaseModel):
    """What an operator may read of an assistant."""

    id: int
    name: str
    language: str
    is_active: bool


class AssistantOut(BaseModel):
    id: int
    name: str
    system_prompt: str
    model: str
    temperature: float
    language: str
    greeting: str
    is_active: bool
    fallback_models: list[str]
    chunk_max_tokens: int
    chunk_overlap_tokens: int
    industry: str


def _view(a: AssistantView, p: Principal) -> AssistantOut | AssistantSummary:
    if p.has_role(Role.ADMIN):
        return _out(a)
    return AssistantSummary(id=a.id or 0, name=a.name, language=a.language,
                            is_active=a.is_active)


def _out(a: AssistantView) -> AssistantOut:
    return AssistantOut(
        id=a.id or 0, name=a.name, system_prompt=a.system_prompt, model=a.model,
        temperature=a.temperature, language=a.language, greeting=a.greeting,
        is_active=a.is_active, fallback_models=list(a.fallback_models or []),
        chunk_max_tokens=a.chunk_max_tokens, chunk_overlap_tokens=a.chunk_overlap_tokens,
        industry=a.industry,
    )


@router.get("", response_model=list[AssistantOut | AssistantSummary])
async def list_(
    p: Principal = Depends(READ),
) -> list[AssistantOut | AssistantSummary]:
    return [_view(a, p) for a in await assistants.list_assistants(p)]


@router.get("/{assistant_id}", response_model=AssistantOut | AssistantSummary)
async def get(
    assistant_id: int, p: Principal = Depends(READ)
) -> AssistantOut | AssistantSummary:
    return _view(await assistants.get_assistant(p, assistant_id), p)


@router.post("", response_model=AssistantOut, status_code=201)
async def create(body: AssistantIn, p: Principal = Depends(WRITE)) -> AssistantOut:
    return _out(await assistants.create_assistant(p, body.to_input()))


@router.put("/{assistant_id}", response_model=AssistantOut)
async def update(
    assistant_id: int, body: AssistantIn, p: Principal = Depends(WRITE)
) -> AssistantOut:
    return _out(
        await assistants.update_assistant(p, assistant_id, body.to_input())
    )


@router.delete("/{assistant_id}", status_code=204)
async def delete(assistant_id: int, p: Principal = Depends(WRITE)) -> None:
    await assistants.delete_assistant(p, assistant_id)
