"""Knowledge page: sources with live progress, Q&A pairs, chunk preview, passages held for
review, the questions the assistant could not answer, knowledge checks, and a test chat."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

import reflex as rx

from backend_services.assistants import service as assistants
from backend_services.billing import charges
from backend_services.conversations import intent
from backend_services.core.errors import DomainError, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.knowledge import answers as answer_engine
from backend_services.knowledge import checks, quality, refresh, review, sources
from backend_services.knowledge.safety import UploadLimits
from backend_services.models import Role
from backend_services.onboarding import checklist
from state.arguments import id_from_text
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
GAP_DAYS = ("7", "30", "90")
REASON_LABEL = {"unknown": "No answer", "low": "Low confidence", "handoff": "Handed over"}
CHECK_LABEL = {"": "Not run", "pass": "Passes", "miss": "Misses", "deleted": "Source deleted"}
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
    confirm_qa_id: rx.Field[int] = rx.field(0)  # the Q&A pair the dialog asks about
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
    # Bumped whenever the editor is filled from the server, so its inputs take the new text.
    qa_fill: rx.Field[int] = rx.field(0)
    chat_question: rx.Field[str] = rx.field("")
    chat_answer: rx.Field[str] = rx.field("")
    chat_sources: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    chat_confidence: rx.Field[float] = rx.field(0.0)
    chat_mode: rx.Field[str] = rx.field("")
    chat_busy: rx.Field[bool] = rx.field(False)
    # The test chat's answer can be kept as a knowledge check: the document it quoted first
    # (server-side only, so a crafted event cannot name another).
    _chat_document_id: int = 0
    chat_keepable: rx.Field[bool] = rx.field(False)
    tab: rx.Field[str] = rx.field("sources")
    # Unanswered questions (knowledge/quality.py), computed on demand.
    gaps: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    gap_days: rx.Field[str] = rx.field("30")
    gaps_busy: rx.Field[bool] = rx.field(False)
    gaps_loaded: rx.Field[bool] = rx.field(False)
    # A Q&A pair being made from an operator's reply (its message id), 0 otherwise.
    qa_from_reply: rx.Field[int] = rx.field(0)
    # Knowledge checks (knowledge/checks.py).
    check_rows: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    check_busy: rx.Field[bool] = rx.field(False)
    check_done: rx.Field[int] = rx.field(0)
    check_total: rx.Field[int] = rx.field(0)
    check_summary: rx.Field[str] = rx.field("")

    async def _reload(self, principal: Principal) -> None:
        if not self.selected:
            self.documents, self.qa_pairs, self.held = [], [], []
            return
        docs = await sources.list_documents(principal, self.selected)
        self.documents = [
            {**asdict(d), "stage": STAGE_LABEL.get(d.status, d.status),
             "active": d.status in ACTIVE, "size_kb": max(1, d.size_bytes // 1024),
             "web": d.source_type in refresh.WEB_KINDS, "refresh": str(d.refresh_hours)}
            for d in docs
        ]
        self.qa_pairs = [asdict(q) for q in await sources.list_qa(principal, self.selected)]
        self.held = [
            {**asdict(h), "flags": [FLAG_LABEL.get(f, f) for f in h.flags]}
            for h in await review.held_passages(principal, self.selected)
        ]
        self._show_checks(await checks.list_checks(principal, self.selected))

    def _show_checks(self, cases: list[checks.CheckView]) -> None:
        self.check_rows = [{
            "id": c.id, "question": c.question, "status": c.status,
            "label": CHECK_LABEL.get(c.status, c.status), "detail": c.detail,
            "expects": ("Q&A pair «" if c.kind == "qa" else "Document «") + c.expected_title + "»",
            "checked": c.checked_at.strftime("%Y-%m-%d %H:%M") if c.checked_at else "",
        } for c in cases]
        n = checks.CheckReport(cases).count
        self.check_summary = (
            f"{n('pass')} pass · {n('miss')} miss · {n('deleted')} source deleted"
            if any(c.status for c in cases) else "")

    def _fill_editor(self, qa_id: int = 0, question: str = "", answer: str = "",
                     from_reply: int = 0) -> None:
        """What the Q&A editor shows: a pair to edit, a new one (maybe from a reply), or
        nothing; bumping qa_fill makes its inputs take the text."""
        self.qa_editing_id, self.qa_question, self.qa_answer = qa_id, question, answer
        self.qa_from_reply, self.qa_error = from_reply, ""
        self.qa_fill += 1

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
        reply = id_from_text(self.router.url.query_parameters.get("reply", ""))
        refused = None
        if reply:
            # From the console: an operator's reply to make a Q&A pair of.
            try:
                await self._fill_from_reply(principal, reply)
            except DomainError as exc:
                refused = fail(exc)
        await self._reload(principal)
        self.loaded = True
        then: list[Any] = [KnowledgeState.watch_progress]
        # From Analytics: the unanswered questions of an assistant (?tab=gaps&days=N).
        if self.router.url.query_parameters.get("tab", "") == "gaps":
            days = self.router.url.query_parameters.get("days", "")
            self.tab, self.gap_days = "gaps", days if days in GAP_DAYS else self.gap_days
            self.gaps, self.gaps_loaded = [], False
            then.append(KnowledgeState.load_gaps)
        return [*then, *([refused] if refused is not None else [])]

    @guarded(Role.ADMIN)
    async def choose_assistant(self, value: str, *, principal: Principal) -> None:
        self.assistant_id = value
        self.chat_answer, self.chat_sources, self.chat_mode = "", [], ""
        self._chat_document_id, self.chat_keepable = 0, False
        self.gaps, self.gaps_loaded = [], False
        await self._reload(principal)

    @event
    def set_tab(self, value: str) -> Any:
        self.tab = value
        if value == "gaps" and not self.gaps_loaded:
            return KnowledgeState.load_gaps
        return None

    @event
    def set_gap_days(self, value: str) -> Any:
        self.gap_days = value if value in GAP_DAYS else "30"
        return KnowledgeState.load_gaps

    @contextlib.asynccontextmanager
    async def _work(self, busy: str) -> AsyncIterator[tuple[Principal, int] | None]:
        """A long background task: the admin and the assistant, with the flag `busy` set
        until it ends; None when it is running already or there is no assistant. Raises
        DomainError when the caller may not."""
        async with self:
            principal = await self._principal(Role.ADMIN)
            started = None if getattr(self, busy) or not self.selected else (
                principal, self.selected)
            if started is not None:
                setattr(self, busy, True)
        try:
            yield started
        finally:
            if started is not None:
                async with self:
                    setattr(self, busy, False)

    @event(background=True)
    async def load_gaps(self) -> Any:
        """Group the unanswered questions (a few hundred short embeddings at most)."""
        try:
            async with self._work("gaps_busy") as started:
                if started is None:
                    return None
                principal, assistant_id = started
                found = await quality.gaps(principal, assistant_id, days=int(self.gap_days))
        except DomainError as exc:
            return fail(exc)
        async with self:
            if assistant_id != self.selected:
                return None  # another assistant was chosen meanwhile
            self.gaps = [{
                "question": g.question, "wordings": list(g.wordings), "count": g.count,
                "first": g.first_at.strftime("%Y-%m-%d"), "last": g.last_at.strftime("%Y-%m-%d"),
                "reasons": [REASON_LABEL[r] for r in g.reasons], "dialog_id": g.dialog_id,
                "reply_id": g.reply_message_id, "reply": g.reply,
            } for g in found]
            self.gaps_loaded = True
        return None

    @guarded(Role.ADMIN)
    async def answer_gap(self, question: str, *, principal: Principal) -> None:
        """Write the answer to an unanswered question: the Q&A editor, filled in."""
        self._fill_editor(question=str(question)[:1000])
        self.tab = "qa"

    async def _fill_from_reply(self, principal: Principal, message_id: int) -> None:
        """An operator's reply as a Q&A pair, in the editor, for the dialog's assistant."""
        draft = await quality.reply_draft(principal, message_id)
        self._fill_editor(question=draft.question, answer=draft.answer, from_reply=message_id)
        self.tab, self.assistant_id = "qa", str(draft.assistant_id)

    @guarded(Role.ADMIN)
    async def reply_to_qa(self, message_id: int, *, principal: Principal) -> None:
        """An operator's reply as a Q&A pair, in the editor to be edited and saved."""
        shown = self.assistant_id
        await self._fill_from_reply(principal, int(message_id))
        if self.assistant_id != shown:
            await self._reload(principal)

    @event(background=True)
    async def run_checks(self) -> Any:
        """Ask every check's question again; the progress bar follows each case."""

        async def progress(done: int, total: int) -> None:
            async with self:
                self.check_done, self.check_total = done, total

        try:
            async with self._work("check_busy") as started:
                if started is None:
                    return None
                principal, assistant_id = started
                await progress(0, len(self.check_rows))
                report = await checks.run_checks(principal, assistant_id, progress)
        except DomainError as exc:
            return fail(exc)
        async with self:
            if assistant_id == self.selected:
                self._show_checks(report.cases)
        return rx.toast.success(f"Knowledge check done: {report.count('pass')} of "
                                f"{len(report.cases)} pass.")

    @guarded(Role.ADMIN)
    async def delete_check(self, check_id: int, *, principal: Principal) -> Any:
        await checks.delete_check(principal, int(check_id))
        return await self._reloaded(principal, "Check removed.")

    @guarded(Role.ADMIN)
    async def keep_chat_answer(self, *, principal: Principal) -> Any:
        if not self._chat_document_id:
            return rx.toast.error("Ask a question that a source answers first.")
        await checks.keep_answer(principal, self.selected, self.chat_question,
                                 self._chat_document_id)
        self.chat_keepable = False
        return await self._reloaded(principal, "Kept: the knowledge check will ask it again.")

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
    async def set_refresh(self, document_id: int, hours: str, *, principal: Principal) -> Any:
        try:
            every = int(hours)
        except ValueError:
            every = -1  # refused below with the list of choices
        await refresh.set_schedule(principal, int(document_id), every)
        await self._reload(principal)
        return rx.toast.success(
            "This source is no longer fetched again." if every == 0 else
            f"Fetched again {refresh.SCHEDULES[every].lower()}; re-indexed only when its "
            "text changes.")

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
        self._fill_editor(int(qa_id), question, answer)

    @event
    def new_qa(self) -> None:
        self._fill_editor()

    @guarded(Role.ADMIN)
    async def save_qa(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.qa_error = ""
        question, answer = str(form.get("question", "")), str(form.get("answer", ""))
        try:
            if self.qa_from_reply:
                await quality.save_reply(principal, self.qa_from_reply, question, answer)
            else:
                await sources.save_qa(principal, self.selected, self.qa_editing_id or None,
                                      question, answer)
        except ValidationFailed as exc:
            self.qa_error = exc.message
            return None
        self._fill_editor()
        await self._reload(principal)
        return [rx.toast.success("Q&A pair saved."), rx.set_value("qa-question", ""),
                rx.set_value("qa-answer", "")]

    @guarded(Role.ADMIN)
    async def delete_qa(self, qa_id: int, *, principal: Principal) -> Any:
        await sources.delete_qa(principal, int(qa_id))
        self.confirm_qa_id = 0
        return await self._reloaded(principal, "Q&A pair deleted.")

    @event
    def ask_delete_qa(self, qa_id: int) -> None:
        self.confirm_qa_id = int(qa_id)

    @event
    def cancel_delete_qa(self) -> None:
        self.confirm_qa_id = 0

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
            self._chat_document_id, self.chat_keepable = 0, False
        final: answer_engine.Answer | None = None
        try:
            said = await intent.classify(question)
            # At zero the test chat still answers, from the knowledge alone (no model bill).
            paid = await charges.may_answer(principal.workspace_id)
            async for item in answer_engine.answer(
                assistant, question,
                small_talk=said.detail if said.kind == "smalltalk" else "", use_models=paid,
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
                        self._chat_document_id = next(
                            (s.ref_id for s in item.sources if s.kind == "document"), 0)
                        self.chat_keepable = bool(self._chat_document_id)
                        final = item
            if final is not None:
                await charges.charge_test_chat(principal.workspace_id,
                                               charges.AnswerUsage.of(final))
                await checklist.reach(principal, checklist.TEST_CHAT)
        except Exception as exc:
            async with self:
                self.chat_answer = f"The answer failed: {type(exc).__name__}."
        finally:
            async with self:
                self.chat_busy = False
        return rx.set_value("chat-question", "")
