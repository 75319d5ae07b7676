"""Errors of the AI provider pool.

They are domain errors so the UI can map them in one place, but their messages are
written for a platform admin (which key, which model, what the provider said): the
answer engine decides what a visitor sees instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend_services.core.errors import DomainError


@dataclass(frozen=True)
class Attempt:
    """One try of one key for one model, as the admin should read it in a failure summary."""

    model: str
    key_id: int | None
    key_name: str
    status: str
    detail: str

    def describe(self) -> str:
        who = f"key “{self.key_name}” (#{self.key_id})" if self.key_id else "no key"
        return f"{who}: {self.detail}"


class AllProvidersFailed(DomainError):
    """Every key of every model in the chain was skipped or failed; nothing was streamed."""

    code = "ai_unavailable"

    def __init__(self, message: str, attempts: list[Attempt] | None = None) -> None:
        super().__init__(message)
        self.attempts: list[Attempt] = list(attempts or [])


class NoUsableKeys(AllProvidersFailed):
    """Not one key could even be tried: none configured, all disabled, cooling down or at
    their limits. The engine may answer extractively instead of reporting an outage."""

    code = "ai_not_configured"


class ProviderStreamBroken(DomainError):
    """The provider failed after text was already sent on; failing over would repeat or
    contradict what the reader saw, so the caller decides (keep the partial answer, hand
    off to a human, or retry the whole answer)."""

    code = "ai_stream_broken"

    def __init__(self, message: str, *, partial_text: str, key_id: int, model: str) -> None:
        super().__init__(message)
        self.partial_text = partial_text
        self.key_id = key_id
        self.model = model
