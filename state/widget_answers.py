"""The AI's widget answers, written by this web worker: its own and those it takes over.

An answer is a task of its own, started the moment the question is stored. Not a chained
(background) event: that would travel to the browser and back, and it was queued in the
visitor's state, whose save can fail under overload (a lock expired) — the stored question
was then never answered (bench/widget_load.py). The task needs nothing from the visitor's
state, and no browser can call it.

The task holds the question's lease in PostgreSQL (backend_services/conversations/
pending_answers.py) and renews it while it lives. Every worker also looks, every
`answer_recovery_seconds`, for questions whose writer's lease ran out (it was killed, or
lost Redis or PostgreSQL mid-answer) and answers them here, streaming to whoever watches
the dialog. A stopping worker lets its running answers finish for up to
`answer_drain_seconds`, then hands the rest on at once (`pending_answers.release`).

Whatever happens, the shared dialog state ends on what PostgreSQL holds: the stored answer,
or no streamed text and no typing dots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import reflex as rx

from backend_services.conversations import handoff, pending_answers, turns
from backend_services.conversations.actors import ContactActor
from backend_services.conversations.admission import AnswerGate
from backend_services.core import outages
from backend_services.core.errors import Busy, DomainError, RateLimited
from backend_services.core.settings import get_settings
from backend_services.widget.settings import strings_for
from state.live import refresh_dialog, show_notice, show_stored_answer, show_streaming

log = logging.getLogger(__name__)

# How often a streaming answer is pushed to the shared state: each push takes the
# dialog's lock and re-sends the partial text to every viewer, so four a second reads as
# streaming without making every answer a dozen fan-outs (bench/widget_load.py).
STREAM_PUSH_SECONDS = 0.25
# How long a stopping worker waits for its cancelled answers to clean up.
DRAIN_CLEANUP_SECONDS = 2.0
# Why a question tried this many times goes to a person (the handoff's recorded reason).
GAVE_UP_REASON = "the AI could not finish an answer"

# This web worker's AI answers in flight (backend_services/conversations/admission.py).
_gate: AnswerGate | None = None
# Answers being written by this worker, by question id; a task must stay referenced until
# it ends, and one question gets one task here however often it is asked for.
_answers: dict[int, asyncio.Task[None]] = {}


def answer_gate() -> AnswerGate:
    global _gate
    if _gate is None:
        _gate = AnswerGate(get_settings().widget_answers_per_worker)
    return _gate


def notice_for(exc: DomainError, strings: dict[str, str]) -> str:
    """What the visitor reads for a refusal, in the widget's language where we have it."""
    if isinstance(exc, RateLimited):
        return strings.get("rate_limited", exc.message)
    if isinstance(exc, Busy):
        return strings.get("busy", exc.message)
    return exc.message


@dataclass(frozen=True)
class NoticeTo:
    """Where a failed answer's notice goes: the visitor's tab and the state showing it."""

    client_token: str
    state: type[rx.State]


def start_answer(actor: ContactActor, dialog_id: int, question_id: int,
                 strings: dict[str, str], notice_to: NoticeTo | None = None) -> None:
    """Answer `question_id` in a task of this worker (which holds its lease). A taken-over
    answer has no tab to tell when it fails (`notice_to` None)."""
    if question_id in _answers:
        return
    task = asyncio.create_task(_answer(actor, dialog_id, question_id, strings, notice_to))
    _answers[question_id] = task
    task.add_done_callback(lambda _t: _answers.pop(question_id, None))


@contextlib.asynccontextmanager
async def _renewing(question_id: int) -> AsyncIterator[None]:
    """Keep the lease while the answer is written (a slow model is not a dead worker)."""
    holder = pending_answers.holder_id()
    every = max(1.0, get_settings().answer_lease_seconds / 3)

    async def renew() -> None:
        while True:
            await asyncio.sleep(every)  # a timer: the lease's renewal period
            try:
                await pending_answers.renew(question_id, holder)
            except Exception as exc:  # an outage: the lease may run out; so be it
                log.warning("could not renew the answer lease of question %s: %r",
                            question_id, exc)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def _answer(actor: ContactActor, dialog_id: int, question_id: int,
                  strings: dict[str, str], notice_to: NoticeTo | None) -> None:
    """Stream the answer into the shared dialog state, then show the stored answer."""
    text, pushed = "", 0.0
    done: turns.AiReplyDone | None = None
    notice = ""
    with answer_gate().answering():
        try:
            async with _renewing(question_id):
                await show_streaming(dialog_id, "", typing=True)
                async for item in turns.stream_ai_reply(actor, dialog_id, question_id):
                    if isinstance(item, str):
                        text += item
                        if time.monotonic() - pushed >= STREAM_PUSH_SECONDS:
                            await show_streaming(dialog_id, text)
                            pushed = time.monotonic()
                    else:
                        done = item
        except DomainError as exc:
            # Told to the visitor (no key, no balance, a person took over): no answer is
            # owed any more.
            notice = notice_for(exc, strings)
            with contextlib.suppress(Exception):
                await pending_answers.drop(question_id)
        except Exception as exc:
            # The question stays owed: its lease runs out and a worker answers it.
            if outages.is_transient(exc):
                log.warning("AI answer for dialog %s interrupted by an outage: %r",
                            dialog_id, exc)
            else:
                log.exception("AI answer for dialog %s failed", dialog_id)
            notice = strings.get("answer_delayed", strings.get("error", ""))
        finally:
            await _converge(dialog_id, done)
    if notice and notice_to is not None and notice_to.client_token:
        with contextlib.suppress(Exception):
            await show_notice(notice_to.client_token, notice_to.state, notice)


async def _converge(dialog_id: int, done: turns.AiReplyDone | None) -> None:
    """End on what PostgreSQL holds: the stored answer replaces the streamed text in one
    delta (the consumer reconciles the rest); a handoff it caused changes more, so that
    re-reads the dialog; a failed stream leaves no half-answer and no typing dots."""
    with contextlib.suppress(Exception):
        if done is not None and done.handoff is None:
            await show_stored_answer(dialog_id, done.message)
            return
        await refresh_dialog(dialog_id, notes=False)
        await show_streaming(dialog_id, "", typing=False)


async def take_over_expired() -> int:
    """Answer here the questions whose writers' leases ran out; returns how many."""
    gate = answer_gate()
    room = gate.limit - gate.in_flight
    owed = await pending_answers.claim_expired(pending_answers.holder_id(), max(0, room))
    limit = get_settings().answer_max_attempts
    for item in owed:
        if item.attempts > limit:
            await _give_up(item)
            continue
        log.info("taking over the unfinished answer to question %s (attempt %s)",
                 item.question_id, item.attempts)
        # The widget's language is unknown here; a taken-over answer shows no notice.
        start_answer(item.actor, item.dialog_id, item.question_id, strings_for("en"))
    return len(owed)


async def _give_up(item: pending_answers.Owed) -> None:
    """Tried on every worker that could: a person answers instead of the AI retrying for
    ever (a question that kills its writer each time must not take the tier down)."""
    log.error("question %s could not be answered after %s attempts; asking for a person",
              item.question_id, item.attempts - 1)
    await pending_answers.drop(item.question_id)
    with contextlib.suppress(DomainError):
        await handoff.request(item.dialog_id, item.actor.workspace_id,
                              reason=GAVE_UP_REASON, by="system")
    await refresh_dialog(item.dialog_id, notes=False)
    await show_streaming(item.dialog_id, "", typing=False)


async def recover_forever(stop: asyncio.Event) -> None:
    """Every worker's watch for answers nobody is writing any more."""
    every = get_settings().answer_recovery_seconds
    while not stop.is_set():
        try:
            await take_over_expired()
        except Exception as exc:  # an outage: try again next round
            log.warning("could not look for unfinished answers: %r", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)  # the recovery period


async def drain() -> None:
    """A stopping worker: let running answers finish (bounded), then hand the rest on."""
    running = list(_answers.values())
    if running:
        log.info("letting %s running answers finish before stopping", len(running))
        _, pending = await asyncio.wait(running, timeout=get_settings().answer_drain_seconds)
        for task in pending:
            task.cancel()
        if pending:
            # Their clean-up (no half answer left on screen) runs before the hand-on, but
            # an outage in it must not keep the hand-on from happening.
            await asyncio.wait(pending, timeout=DRAIN_CLEANUP_SECONDS)
    try:
        handed = await pending_answers.release(pending_answers.holder_id())
    except Exception as exc:  # their leases run out instead; the other workers answer
        log.warning("could not hand on unfinished answers: %r", exc)
        return
    if handed:
        log.warning("handed %s unfinished answers to the other workers", handed)
