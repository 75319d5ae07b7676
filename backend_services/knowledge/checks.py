"""Knowledge checks: saved questions that must keep retrieving the answer they were given.

Why: knowledge drifts. A source gets deleted or re-uploaded, a new page starts competing on
a topic, someone edits a pair, or the embedder changes, and a question that was answered
last month quietly stops being answered. Every saved Q&A pair becomes a case (its
question, or the visitor's own words when the pair came from a dialog). An admin can also
keep a test-chat answer as a case, which expects the answer's document. "Run knowledge
check" asks every case's question again through the same retrieval that answers visitors
and reports which cases still find their source.

A case passes when:
- for a pair: it is the nearest pair and close enough to be quoted
  (`Retrieval.qa_matches`, the rule `answers._extractive` quotes by);
- for a document: one of its passages is among the first CHECK_DEPTH passages.

When its source is deleted, the foreign key is set to NULL and the case reports "deleted".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.assistants import service as assistants
from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.literals import one_of
from backend_services.core.principal import Principal
from backend_services.core.scoped import in_workspace
from backend_services.knowledge.retrieval import Retrieval, retrieve
from backend_services.models import KnowledgeCheck, KnowledgeDocument, QAPair, Role
from backend_services.models.knowledge import (
    CHECK_KINDS,
    CHECK_STATUSES,
    CheckKind,
    CheckStatus,
)

CHECK_NOT_FOUND = "Knowledge check not found."
# The passages a visitor's answer is built from (answers.py quotes at most three of them,
# and a model sees a few more): a document found below this rank does not answer.
CHECK_DEPTH = 5
# Cases one run checks at the most (each costs one question embedding and one search).
MAX_CASES = 1000

Progress = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True)
class CheckView:
    id: int
    question: str
    kind: CheckKind
    expected_title: str
    status: CheckStatus
    detail: str
    checked_at: datetime | None


@dataclass(frozen=True)
class CheckReport:
    cases: list[CheckView]

    def count(self, status: CheckStatus) -> int:
        return sum(1 for c in self.cases if c.status == status)


def _view(row: KnowledgeCheck) -> CheckView:
    return CheckView(id=row.id or 0, question=row.question,
                     kind=one_of(row.kind, CHECK_KINDS) or "qa",
                     expected_title=row.expected_title,
                     status=one_of(row.status, CHECK_STATUSES) or "",
                     detail=row.detail, checked_at=row.checked_at)


async def keep_pair(session: AsyncSession, pair: QAPair, question: str = "") -> None:
    """The case of a saved pair (in the pair's transaction). A new pair gets one asking
    `question` (the visitor's words) or the pair's own question; an edited pair keeps the
    question its case was made with."""
    existing = (await session.exec(select(KnowledgeCheck).where(
        col(KnowledgeCheck.workspace_id) == pair.workspace_id,
        col(KnowledgeCheck.qa_pair_id) == pair.id))).first()
    if existing is not None:
        existing.expected_title = pair.question[:1000]
        session.add(existing)
        return
    session.add(KnowledgeCheck(
        workspace_id=pair.workspace_id, assistant_id=pair.assistant_id,
        question=(question.strip() or pair.question)[:1000], kind="qa", qa_pair_id=pair.id,
        expected_title=pair.question[:1000]))


async def keep_answer(
    principal: Principal, assistant_id: int, question: str, document_id: int
) -> CheckView:
    """Keep a test-chat answer as a case: `question` must keep finding `document_id`."""
    principal.require(Role.ADMIN)
    question = question.strip()
    if not question:
        raise ValidationFailed("Ask a question first.")
    async with session_scope() as session:
        await assistants.in_scope(session, principal, assistant_id)
        document = await in_workspace(session, KnowledgeDocument, document_id, principal,
                                      missing="Source not found.")
        if document.assistant_id != assistant_id:
            raise NotFound("Source not found.")
        row = KnowledgeCheck(workspace_id=principal.workspace_id, assistant_id=assistant_id,
                             question=question[:1000], kind="document",
                             document_id=document.id, expected_title=document.title[:1000])
        session.add(row)
        await session.flush()
        await audit.record_by(session, principal, "knowledge_check_kept",
                              f"knowledge_check:{row.id}")
        return _view(row)


async def list_checks(principal: Principal, assistant_id: int) -> list[CheckView]:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        await assistants.in_scope(session, principal, assistant_id)
        return [_view(r) for r in await _cases(session, principal.workspace_id, assistant_id)]


async def delete_check(principal: Principal, check_id: int) -> None:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        row = await in_workspace(session, KnowledgeCheck, check_id, principal,
                                 missing=CHECK_NOT_FOUND)
        await session.delete(row)
        await audit.record_by(session, principal, "knowledge_check_deleted",
                              f"knowledge_check:{check_id}")


async def _cases(session: AsyncSession, workspace_id: int,
                 assistant_id: int) -> list[KnowledgeCheck]:
    return list(await session.exec(
        select(KnowledgeCheck).where(col(KnowledgeCheck.workspace_id) == workspace_id,
                                     col(KnowledgeCheck.assistant_id) == assistant_id)
        .order_by(col(KnowledgeCheck.id)).limit(MAX_CASES)))


def _first(found: Retrieval) -> str:
    """What the question finds first now, in words."""
    if found.qa is not None and found.qa_matches:
        return f"the Q&A pair «{found.qa.question}»"
    if found.passages:
        return f"«{found.passages[0].title}»"
    return "nothing"


def judge(row: KnowledgeCheck, found: Retrieval) -> tuple[CheckStatus, str]:
    """(status, detail) of one case against what its question retrieves now."""
    first = _first(found)
    if row.qa_pair_id is None and row.document_id is None:
        what = "document" if row.kind == "document" else "Q&A pair"
        return "deleted", (f"Its {what} «{row.expected_title}» was deleted; the question now "
                           f"finds {first}.")
    if row.kind == "qa":
        if found.qa is None or found.qa.qa_id != row.qa_pair_id:
            return "miss", f"The question now finds {first} instead of its pair."
        if found.qa_matches:
            return "pass", ""
        return "miss", ("Its pair is the nearest but no longer close enough to be quoted; "
                        f"the question now finds {first}.")
    if any(p.document_id == row.document_id for p in found.passages[:CHECK_DEPTH]):
        return "pass", ""
    return "miss", (f"No passage of «{row.expected_title}» among the first {CHECK_DEPTH}; "
                    f"the question now finds {first}.")


async def run_checks(
    principal: Principal, assistant_id: int, progress: Progress | None = None
) -> CheckReport:
    """Ask every case's question again and record what it finds (audited)."""
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        await assistants.in_scope(session, principal, assistant_id)
        cases = await _cases(session, principal.workspace_id, assistant_id)
    done: list[CheckView] = []
    for n, case in enumerate(cases, start=1):
        found = await retrieve(principal.workspace_id, assistant_id, case.question)
        async with session_scope() as session:
            # Re-read: the case (or its source) may have been deleted while we searched.
            row = await session.get(KnowledgeCheck, case.id, with_for_update=True)
            if row is not None:
                status, detail = judge(row, found)
                row.status, row.detail, row.checked_at = status, detail, datetime.now(UTC)
                session.add(row)
                done.append(_view(row))
        if progress is not None:
            await progress(n, len(cases))
    report = CheckReport(done)
    async with session_scope() as session:
        await audit.record_by(session, principal, "knowledge_check_run",
                              f"assistant:{assistant_id}",
                              {"pass": report.count("pass"), "miss": report.count("miss"),
                               "deleted": report.count("deleted")})
    return report
