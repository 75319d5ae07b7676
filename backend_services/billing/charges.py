"""What an answer, a document and a delivered message cost, charged where the usage is
recorded (the same transaction, so there is never usage without its charge or the reverse)
and checked before new work starts (the hard stop at zero).

Decisions (docs/billing.md): the flat price per answer applies to answers that carry
knowledge or a model's text (`llm`, `extractive`, `qa`); "I don't know" and small talk pay
only the model tokens they used (none in extractive mode). The Knowledge page's test chat
pays the model tokens it used, never the flat price or a channel's message price. An
indexed document pays per page of about PAGE_TOKENS tokens, once per content: re-running
the job for the same text charges nothing, a changed text is a new indexing.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.ai.pricing import MICRO
from backend_services.billing import ledger, tariffs
from backend_services.billing.ledger import Kind, Posted
from backend_services.billing.tariffs import TariffView
from backend_services.core.db import session_scope
from backend_services.core.errors import BalanceSpent

# One billed page: about a printed page of text (~2,000 characters).
PAGE_TOKENS = 500
FLAT_MODES = frozenset({"llm", "extractive", "qa"})


def token_charge(tariff: TariffView, cost_micro: int) -> int:
    """The model's cost times the markup, in whole minor units rounded up."""
    scaled = max(0, cost_micro) * tariff.token_markup_percent
    return -(-scaled // (100 * MICRO))


def answer_price(tariff: TariffView, *, mode: str, cost_micro: int, channel_kind: str,
                 test: bool = False) -> int:
    flat = 0 if test or mode not in FLAT_MODES else tariff.answer_flat_minor
    delivered = 0 if test else tariff.message_minor(channel_kind)
    return flat + delivered + token_charge(tariff, cost_micro)


def pages_of(token_count: int) -> int:
    return max(1, -(-token_count // PAGE_TOKENS))


def content_key(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for t in texts:
        digest.update(t.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


class _Answered(Protocol):
    @property
    def mode(self) -> str: ...
    @property
    def cost_micro(self) -> int: ...
    @property
    def cost_currency(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def tokens_in(self) -> int: ...
    @property
    def tokens_out(self) -> int: ...


@dataclass(frozen=True)
class AnswerUsage:
    mode: str
    cost_micro: int
    cost_currency: str
    model: str
    tokens_in: int
    tokens_out: int

    @classmethod
    def of(cls, answer: _Answered) -> AnswerUsage:
        """From the answer engine's result (billing does not import the engine)."""
        return cls(answer.mode, answer.cost_micro, answer.cost_currency, answer.model,
                   answer.tokens_in, answer.tokens_out)


async def charge_answer(
    session: AsyncSession, workspace_id: int, *, message_id: int, dialog_id: int | None,
    channel_kind: str, usage: AnswerUsage, test_key: str = "",
) -> Posted | None:
    """Charge one stored AI answer (key: its message, or `test_key` for the test chat).
    None when it costs nothing."""
    sheet = await tariffs.in_force(session)
    # The model's price must be in the sheet's currency for its tokens to count.
    cost = usage.cost_micro if usage.cost_currency in ("", sheet.currency) else 0
    amount = answer_price(sheet, mode=usage.mode, cost_micro=cost, channel_kind=channel_kind,
                          test=bool(test_key))
    if amount <= 0:
        return None
    return await ledger.post(
        session, workspace_id, -amount, Kind.ANSWER,
        test_key or f"answer:{message_id}", low_threshold_minor=sheet.low_balance_minor,
        reference="test chat" if test_key else f"{channel_kind} answer",
        dialog_id=dialog_id, message_id=message_id or None, only_currency=sheet.currency,
        details={"mode": usage.mode, "model": usage.model, "tokens_in": usage.tokens_in,
                 "tokens_out": usage.tokens_out, "cost_micro": usage.cost_micro,
                 "channel": "test" if test_key else channel_kind},
    )


async def charge_test_chat(workspace_id: int, usage: AnswerUsage) -> None:
    """The Knowledge page's test chat pays the model tokens it used, nothing more."""
    async with session_scope() as session:
        await charge_answer(session, workspace_id, message_id=0, dialog_id=None,
                            channel_kind="test", usage=usage,
                            test_key=f"test:{uuid.uuid4().hex}")


async def charge_document(
    session: AsyncSession, workspace_id: int, *, document_id: int, title: str,
    token_count: int, content: str,
) -> Posted | None:
    """Charge an indexed document once per content (`content` is its text's digest)."""
    sheet = await tariffs.in_force(session)
    if sheet.page_minor <= 0:
        return None
    pages = pages_of(token_count)
    return await ledger.post(
        session, workspace_id, -pages * sheet.page_minor, Kind.DOCUMENT,
        f"document:{document_id}:{content}", low_threshold_minor=sheet.low_balance_minor,
        reference=title, document_id=document_id, only_currency=sheet.currency,
        details={"pages": pages, "tokens": token_count},
    )


async def spent_sheet(workspace_id: int) -> TariffView | None:
    """The price sheet in force when the workspace's balance is spent and that sheet applies
    to it (same currency); None while the balance still pays for something."""
    async with session_scope() as session:
        balance, currency = await ledger.balance_of(session, workspace_id)
        if balance > 0:
            return None
        sheet = await tariffs.in_force(session)
        return sheet if currency == sheet.currency else None


async def may_answer(workspace_id: int) -> bool:
    """False when the balance is spent and answers cost money: no new AI answer starts."""
    sheet = await spent_sheet(workspace_id)
    return sheet is None or not sheet.charges_answers


async def check_upload(workspace_id: int) -> None:
    """Refuse new knowledge when indexing costs money and the balance is spent."""
    sheet = await spent_sheet(workspace_id)
    if sheet is not None and sheet.page_minor > 0:
        raise BalanceSpent("The workspace's balance is spent: top up the balance to add "
                           "knowledge. What is already indexed keeps working.")
