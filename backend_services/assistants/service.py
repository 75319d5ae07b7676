"""Assistants of a workspace: list, read, create, update, delete. Admins and owners only."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.assistants.templates import DEFAULT_INDUSTRY, TEMPLATES
from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.scoped import in_workspace
from backend_services.core.views import view_from
from backend_services.models import Assistant, Role

LANGUAGES = {"en": "English", "ru": "Русский"}
DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class AssistantInput:
    name: str
    system_prompt: str = ""
    model: str = DEFAULT_MODEL
    temperature: float = 0.3
    language: str = "en"
    greeting: str = ""
    is_active: bool = True
    fallback_models: tuple[str, ...] = ()
    chunk_max_tokens: int = 300
    chunk_overlap_tokens: int = 40
    industry: str = DEFAULT_INDUSTRY

    def validated(self) -> AssistantInput:
        name = self.name.strip()
        if not name:
            raise ValidationFailed("Give the assistant a name.")
        if len(name) > 80:
            raise ValidationFailed("The name is too long (80 characters at most).")
        if len(self.system_prompt) > 8000:
            raise ValidationFailed("The system prompt is too long (8,000 characters at most).")
        if len(self.greeting) > 500:
            raise ValidationFailed("The greeting is too long (500 characters at most).")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValidationFailed("Temperature must be between 0 and 2.")
        if self.language not in LANGUAGES:
            raise ValidationFailed("Choose a supported language.")
        model = self.model.strip() or DEFAULT_MODEL
        if len(model) > 120:
            raise ValidationFailed("The model name is too long.")
        fallbacks = tuple(dict.fromkeys(m.strip() for m in self.fallback_models if m.strip()))
        if len(fallbacks) > 5 or any(len(m) > 120 for m in fallbacks):
            raise ValidationFailed("Give at most five fallback models.")
        if not 100 <= self.chunk_max_tokens <= 1000:
            raise ValidationFailed("Chunk size must be between 100 and 1,000 tokens.")
        if not 0 <= self.chunk_overlap_tokens <= self.chunk_max_tokens // 2:
            raise ValidationFailed("Chunk overlap must be between 0 and half the chunk size.")
        if self.industry not in TEMPLATES:
            raise ValidationFailed("Choose an industry from the list.")
        return AssistantInput(
            name=name,
            system_prompt=self.system_prompt.strip(),
            model=model,
            temperature=round(self.temperature, 2),
            language=self.language,
            greeting=self.greeting.strip(),
            is_active=self.is_active,
            fallback_models=tuple(m for m in fallbacks if m != model),
            chunk_max_tokens=self.chunk_max_tokens,
            chunk_overlap_tokens=self.chunk_overlap_tokens,
            industry=self.industry,
        )

    def columns(self) -> dict[str, Any]:
        """Values for the table (JSON needs a list, not a tuple)."""
        values = dict(self.__dict__)
        values["fallback_models"] = list(self.fallback_models)
        return values


async def in_scope(
    session: AsyncSession, scope: Principal | int, assistant_id: int, *, lock: bool = False
) -> Assistant:
    """The workspace's assistant (every domain that takes an assistant id loads it here);
    another workspace's looks missing."""
    return await in_workspace(session, Assistant, assistant_id, scope,
                              missing="Assistant not found.", lock=lock)


async def _owned(session: AsyncSession, principal: Principal, assistant_id: int) -> Assistant:
    return await in_scope(session, principal, assistant_id, lock=True)


@dataclass(frozen=True)
class AssistantView:
    """An assistant as callers see it (states, REST, other domains): never the table row,
    which would let a caller write to the database by setting an attribute."""

    id: int
    workspace_id: int
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
    created_at: datetime


def view_of(row: Assistant) -> AssistantView:
    return view_from(AssistantView, row, id=row.id or 0,
                     fallback_models=list(row.fallback_models or []))


async def list_assistants(principal: Principal) -> list[AssistantView]:
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        rows = await session.exec(
            select(Assistant)
            .where(Assistant.workspace_id == principal.workspace_id)
            .order_by(col(Assistant.id))
        )
        return [view_of(r) for r in rows]


async def get_assistant(principal: Principal, assistant_id: int) -> AssistantView:
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        return view_of(await in_scope(session, principal, assistant_id))


@dataclass(frozen=True)
class AssistantVoice:
    """What a channel needs to speak for an assistant on its own (a Telegram bot's /start
    greeting and fixed replies), and nothing else of it."""

    language: str
    greeting: str


async def voice_of(workspace_id: int, assistant_id: int) -> AssistantVoice | None:
    """For system work (the bot fleet acts for a workspace, not a user). None when the
    assistant is gone or not the workspace's: the caller then speaks English defaults."""
    async with session_scope() as session:
        try:
            row = await in_scope(session, workspace_id, assistant_id)
        except NotFound:
            return None
        return AssistantVoice(language=row.language, greeting=row.greeting)


async def create_assistant(principal: Principal, data: AssistantInput) -> AssistantView:
    """A new assistant; given no prompt, it starts from its industry template's text (the
    same the editor fills in), so an assistant made through the API gets it too."""
    principal.require(Role.ADMIN)
    data = data.validated()
    if not data.system_prompt:
        data = replace(data, system_prompt=TEMPLATES[data.industry].prompt(data.language))
    async with session_scope() as session:
        row = Assistant(workspace_id=principal.workspace_id, **data.columns())
        session.add(row)
        await session.flush()
        await audit.record_by(session, principal, "assistant_created", f"assistant:{row.id}")
        return view_of(row)


async def update_assistant(
    principal: Principal, assistant_id: int, data: AssistantInput
) -> AssistantView:
    principal.require(Role.ADMIN)
    data = data.validated()
    async with session_scope() as session:
        row = await _owned(session, principal, assistant_id)
        for key, value in data.columns().items():
            setattr(row, key, value)
        row.updated_at = datetime.now(UTC)
        session.add(row)
        await audit.record_by(session, principal, "assistant_updated", f"assistant:{row.id}")
        return view_of(row)


async def delete_assistant(principal: Principal, assistant_id: int) -> None:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        row = await _owned(session, principal, assistant_id)
        await session.delete(row)
        await audit.record_by(
            session, principal, "assistant_deleted", f"assistant:{assistant_id}:{row.name}"
        )
