"""Assistants page: list, create, edit, delete. Thin: every handler is guarded."""

from __future__ import annotations

import json
from typing import Any

import reflex as rx

from backend_services.ai import keys
from backend_services.assistants import service as assistants
from backend_services.assistants.service import LANGUAGES, AssistantInput
from backend_services.assistants.templates import TEMPLATES
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Role
from state.editable_list import EditableList
from state.reflex_typing import ObjectField, event, object_field
from state.rows import picked
from state.session import SessionState, guarded


def _row(a: Any) -> dict[str, Any]:
    return picked(a, "id", "name", "model", "language", "temperature", "greeting",
                  "system_prompt", "is_active", "chunk_max_tokens", "chunk_overlap_tokens",
                  "industry", fallback_models=", ".join(a.fallback_models or []))


def _input(form: dict[str, Any]) -> AssistantInput:
    try:
        temperature = float(str(form.get("temperature", "0.3")).replace(",", ".") or 0.3)
    except ValueError as exc:
        raise ValidationFailed("Temperature must be a number between 0 and 2.") from exc
    try:
        chunk_max = int(str(form.get("chunk_max_tokens", "300")) or 300)
        chunk_overlap = int(str(form.get("chunk_overlap_tokens", "40")) or 40)
    except ValueError as exc:
        raise ValidationFailed("Chunk size and overlap must be whole numbers.") from exc
    return AssistantInput(
        name=str(form.get("name", "")),
        system_prompt=str(form.get("system_prompt", "")),
        model=str(form.get("model", "")),
        temperature=temperature,
        language=str(form.get("language", "en")),
        greeting=str(form.get("greeting", "")),
        is_active=str(form.get("is_active", "")) in ("on", "true", "True", "1"),
        fallback_models=tuple(str(form.get("fallback_models", "")).split(",")),
        chunk_max_tokens=chunk_max,
        chunk_overlap_tokens=chunk_overlap,
        industry=str(form.get("industry", "general")),
    )


# Reads the editor's prompt and greeting as typed (the fields are uncontrolled).
_READ_TEXTS = ("JSON.stringify([document.getElementById('system_prompt')?.value ?? '', "
               "document.getElementById('greeting')?.value ?? ''])")


class AssistantsState(EditableList, SessionState):
    draft: ObjectField[dict[str, Any]] = object_field(dict)
    # The models the platform's AI keys serve; whether one serves any; whether any key is
    # configured at all (none: every answer quotes the knowledge, whatever the model).
    model_options: rx.Field[list[str]] = rx.field(default_factory=list)
    any_model: rx.Field[bool] = rx.field(True)
    provider_configured: rx.Field[bool] = rx.field(True)
    _chosen_industry: str = ""

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> None:
        self.items = [_row(a) for a in await assistants.list_assistants(principal)]
        choices = await keys.model_choices(principal)
        self.model_options = choices.models
        self.any_model, self.provider_configured = choices.any_model, choices.configured
        self.loaded = True

    @event
    def set_draft_language(self, language: str) -> None:
        self.draft = {**self.draft, "language": str(language)}

    @event
    def choose_template(self, industry: str) -> Any:
        """A template fills the prompt and greeting, unless the tenant wrote their own."""
        if industry not in TEMPLATES:
            return None
        self._chosen_industry = industry
        self.draft = {**self.draft, "industry": industry}
        return rx.call_script(_READ_TEXTS, callback=AssistantsState.fill_from_template)

    @event
    def fill_from_template(self, typed: str) -> Any:
        try:
            prompt, greeting = (str(v) for v in json.loads(typed))
        except (ValueError, TypeError):
            return None
        template = TEMPLATES.get(self._chosen_industry)
        if template is None:
            return None
        language = str(self.draft.get("language", "en"))
        ours_prompts = {t.prompt(lang) for t in TEMPLATES.values() for lang in LANGUAGES}
        ours_greetings = {t.greeting_in(lang) for t in TEMPLATES.values() for lang in LANGUAGES}
        fills = []
        if prompt.strip() in ours_prompts:  # empty, or another template's text
            fills.append(rx.set_value("system_prompt", template.prompt(language)))
        if greeting.strip() in ours_greetings | {""}:
            fills.append(rx.set_value("greeting", template.greeting_in(language)))
        if prompt.strip() not in ours_prompts:
            fills.append(rx.toast.info("Your own prompt is kept; the template's text was not "
                                       "put over it."))
        return fills

    @guarded(Role.ADMIN)
    async def open_new(self, *, principal: Principal) -> None:
        self.editing_id = 0
        self.form_error = ""
        self.draft = {"name": "", "system_prompt": "", "model": assistants.DEFAULT_MODEL,
                      "temperature": 0.3, "language": "en", "greeting": "", "is_active": True,
                      "fallback_models": "", "chunk_max_tokens": 300, "chunk_overlap_tokens": 40,
                      "industry": "general"}
        self.editor_open = True

    @guarded(Role.ADMIN)
    async def open_edit(self, assistant_id: int, *, principal: Principal) -> None:
        row = await assistants.get_assistant(principal, int(assistant_id))
        self.editing_id = int(row.id or 0)
        self.form_error = ""
        self.draft = _row(row)
        self.editor_open = True

    @event
    def close_editor(self) -> None:
        self.editor_open = False

    @guarded(Role.ADMIN)
    async def save(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.form_error = ""
        try:
            data = _input(form)
            if self.editing_id:
                await assistants.update_assistant(principal, self.editing_id, data)
                msg = f"Saved “{data.name.strip()}”."
            else:
                await assistants.create_assistant(principal, data)
                msg = f"Created “{data.name.strip()}”."
        except ValidationFailed as exc:
            self.form_error = exc.message
            return None
        self.items = [_row(a) for a in await assistants.list_assistants(principal)]
        return self._saved(msg)

    @event
    def ask_delete(self, assistant_id: int) -> None:
        self.confirm_delete_id = int(assistant_id)

    @guarded(Role.ADMIN)
    async def delete(self, assistant_id: int, *, principal: Principal) -> Any:
        await assistants.delete_assistant(principal, int(assistant_id))
        self.confirm_delete_id = 0
        self.items = [_row(a) for a in await assistants.list_assistants(principal)]
        return rx.toast.success("Assistant deleted.")
