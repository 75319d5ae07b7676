"""Knowledge page: sources with live progress, Q&A pairs, chunk preview, and a test chat."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import reflex as rx

from backend_services.assistants import service as assistants
from backend_services.conversations import intent
from backend_services.core.errors import DomainError, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.knowledge import answers as answer_engine
from backend_services.knowledge import review, sources
from backend_services.knowledge.safety import UploadLimits
from backend_services.models import Role
from state.assistant_scoped import AssistantScoped
from state.reflex_typing import event
from state.session import SessionState, fail, guarded

ACTIVE = ("queued", "extracting", "chunking", "embedding")
FLAG_LABEL = {
    "instruction": "Addresses the assistant",
    "payment": "Payment details",
    "phone": "Phone number",
    "link": "Link to another site",
}
STAGE_LABEL = {
    "queued": "Queued",
    "extracting": "Extracting text",
    "chunking": "Chunking",
    "embedding": "Embedding",
    "ready": "Indexed",
    "failed": "Failed",
}


class KnowledgeState(AssistantScoped, SessionState):
    documents: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    qa_pairs: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    held: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    uploading: rx.Field[bool] = rx.field(False)
    upload_errors: rx.Field[list[str]] = rx.field(default_factory=list)
    watching: rx.Field[bool] = rx.field(False)
    preview_title: rx.Field[str] = rx.field("")
    preview_chunks: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    preview_open: rx.Field[bool] = rx.field(False)
    qa_editing_id: rx.Field[int] = rx.field(0)
    qa_question: rx.Field[str] = rx.field("")
    qa_answer: rx.Field[str] = rx.field("")
    qa_error: rx.Field[str] = rx.field("")
    chat_question: rx.Field[str] = rx.field("")
    chat_answer: rx.Field[str] = rx.field("")
    chat_sources: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    chat_confidence: rx.Field[float] = rx.field(0.0)
    chat_mode: rx.Field[str] = rx.field("")
    chat_busy: rx.Field[bool] = rx.field(False)

    async def _reload(self, principal: Principal) -> None:
        if not self.selected:
            self.documents, self.qa_pairs, self.held = [], [], []
            return
        docs = await sources.list_documents(principal, self.selected)
        self.documents = [
            {**asdict(d), "stage": STAGE_LABEL.get(d.status, d.status),
             "active": d.status in ACTIVE, "size_kb": max(1, d.size_bytes // 1024)}
            for d in docs
        ]
        self.qa_pairs = [asdict(q) for q in await sources.list_qa(principal, self.selected)]
        self.held = [
            {**asdict(h), "flags": [FLAG_LABEL.get(f, f) for f in h.flags]}
            for h in await review.held_passages(principal, self.selected)
        ]

    async def _reloaded(self, principal: Principal, done: str) -> Any:
        """After a change: the page shows the assistant's knowledge as it is now."""
        await self._reload(principal)
        return rx.toast.success(done)

    @guarded(Role.ADMIN)
    async def approve_passage(self, chunk_id: int, *, principal: Principal) -> Any:
        await review.approve(principal, int(chunk_id))
        return await self._reloaded(principal,
                                    "Approved: the passage answers visitors from now on.")

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> Any:
        self.assistant_id = await self._pick_assistant(principal)
        await self._reload(principal)
        self.loaded = True
        return KnowledgeState.watch_progress

    @guarded(Role.ADMIN)
    async def choose_assistant(self, value: str, *, principal: Principal) -> None:
        self.assistant_id = value
        self.chat_answer, self.chat_sources, self.chat_mode = "", [], ""
        await self._reload(principal)

    @guarded(Role.ADMIN)
    async def upload(self, files: list[rx.UploadFile], *, principal: Principal) -> Any:
        self.upload_errors = []
        if not self.selected:
            return rx.toast.error("Create an assistant first.")
        limit = UploadLimits().max_file_bytes
        added = 0
        for f in files:
            name = f.name or "upload"
            data = await f.read(limit + 1)
            if len(data) > limit:
                self.upload_errors.append(
                    f"{name}: the file is larger than {limit // (1024 * 1024)} MB.")
                continue
            try:
                await sources.add_file(principal, self.selected, name, data)
                added += 1
            except DomainError as exc:
                self.upload_errors.append(f"{name}: {exc.message}")
        await self._reload(principal)
        return [rx.clear_selected_files("knowledge-files"), KnowledgeState.watch_progress,
                *( [rx.toast.success(f"{added} file(s) queued for indexing.")] if added else [])]

    @guarded(Role.ADMIN)
    async def add_url(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.upload_errors = []
        if not self.selected:
            return rx.toast.error("Create an assistant first.")
        url = str(form.get("url", ""))
        sitemap = str(form.get("sitemap", "")) in ("on", "true", "1")
        try:
            await sources.add_url(principal, self.selected, url, sitemap=sitemap)
        except DomainError as exc:
            self.upload_errors = [f"{url}: {exc.message}"]
            return None
        await self._reload(principal)
        return [rx.set_value("knowledge-url", ""), KnowledgeState.watch_progress]

    @event(background=True)
    async def watch_progress(self) -> None:
        """Poll while anything is being indexed so progress bars move without a reload."""
        async with self:
            if self.watching:
                return
            self.watching = True
        try:
            for _ in range(1800):  # at most about 15 minutes per watch
                async with self:
                    try:
                        principal = await self._principal(Role.ADMIN)
                        await self._reload(principal)
                    except DomainError:
                        return
                    if not any(d["active"] for d in self.documents):
                        return
                await asyncio.sleep(0.5)  # poll: progress lives in PostgreSQL
        finally:
            async with self:
                self.watching = False

    @guarded(Role.ADMIN)
    async def delete_document(self, document_id: int, *, principal: Principal) -> Any:
        await sources.delete_document(principal, int(document_id))
        return await self._reloaded(principal, "Source deleted; it no longer feeds answers.")

    @guarded(Role.ADMIN)
    async def retry_document(self, document_id: int, *, principal: Principal) -> Any:
        await sources.retry_document(principal, int(document_id))
        await self._reload(principal)
        return KnowledgeState.watch_progress

    @guarded(Role.ADMIN)
    async def open_preview(self, document_id: int, *, principal: Principal) -> None:
        chunks = await sources.preview_chunks(principal, int(document_id))
        self.preview_chunks = [asdict(c) for c in chunks]
        self.preview_title = next(
            (d["title"] for d in self.documents if d["id"] == int(document_id)), "")
        self.preview_open = True

    @event
    def set_preview_open(self, value: bool) -> None:
        self.preview_open = value

    @event
    def edit_qa(self, qa_id: int, question: str, answer: str) -> None:
        self.qa_editing_id, self.qa_question, self.qa_answer = int(qa_id), question, answer
        self.qa_error = ""

    @event
    def new_qa(self) -> None:
        self.qa_editing_id, self.qa_question, self.qa_answer, self.qa_error = 0, "", "", ""

    @guarded(Role.ADMIN)
    async def save_qa(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.qa_error = ""
        try:
            await sources.save_qa(principal, self.selected, self.qa_editing_id or None,
                                  str(form.get("question", "")), str(form.get("answer", "")))
        except ValidationFailed as exc:
            self.qa_error = exc.message
            return None
        self.qa_editing_id, self.qa_question, self.qa_answer = 0, "", ""
        await self._reload(principal)
        return [rx.toast.success("Q&A pair saved."), rx.set_value("qa-question", ""),
                rx.set_value("qa-answer", "")]

    @guarded(Role.ADMIN)
    async def delete_qa(self, qa_id: int, *, principal: Principal) -> Any:
        await sources.delete_qa(principal, int(qa_id))
        return await self._reloaded(principal, "Q&A pair deleted.")

    @event(background=True)
    async def ask(self, form: dict[str, Any]) -> Any:
        """Test chat: stream the answer exactly as a visitor would get it."""
        question = str(form.get("question", "")).strip()
        if not question:
            return None
        async with self:
            try:
                principal = await self._principal(Role.ADMIN)
                assistant = await assistants.get_assistant(principal, self.selected)
            except DomainError as exc:
                return fail(exc)
            if self.chat_busy:
                return None
            self.chat_busy, self.chat_question = True, question
            self.chat_answer, self.chat_sources, self.chat_mode = "", [], ""
        try:
            said = await intent.classify(question)
            async for item in answer_engine.answer(
                assistant, question,
                small_talk=said.detail if said.kind == "smalltalk" else "",
            ):
                async with self:
                    if isinstance(item, answer_engine.Delta):
                        self.chat_answer += item.text
                    else:
                        self.chat_answer = item.text
                        self.chat_sources = [
                            {"title": s.title, "passage": s.passage[:400], "kind": s.kind}
                            for s in item.sources
                        ]
                        self.chat_confidence = item.confidence
                        self.chat_mode = item.mode
        except Exception as exc:
            async with self:
                self.chat_answer = f"The answer failed: {type(exc).__name__}."
        finally:
            async with self:
                self.chat_busy = False
        return rx.set_value("chat-question", "")
