"""The Knowledge page's quality tabs: what went unanswered, and the knowledge check.

Part of the Knowledge page (pages/knowledge.py registers it); kept apart because the two
tabs are one feature, the quality loop (backend_services/knowledge/quality.py, checks.py).
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.actions import action_button, delete_icon_button
from components.panels import data_table, empty_state, hint, loaded_list
from state.knowledge import GAP_DAYS, KnowledgeState

_CHECK_COLOR = {"pass": "green", "miss": "orange", "deleted": "red"}


def _reason(label: rx.Var[str]) -> rx.Component:
    return rx.badge(label, variant="soft", color_scheme=rx.match(
        label, ("No answer", "red"), ("Low confidence", "orange"), "blue"))


def _gap_card(g: ObjectVar[dict[str, Any]]) -> rx.Component:
    reply = g["reply"].to(str)
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(g["question"], weight="medium", class_name="gap-question"),
                rx.badge("×", g["count"], color_scheme="gray", class_name="gap-count"),
                rx.foreach(g["reasons"].to(list[str]), _reason),
                align="center", wrap="wrap", spacing="2",
            ),
            rx.foreach(g["wordings"].to(list[str]),
                       lambda w: rx.text("“", w, "”", size="1", color_scheme="gray")),
            rx.text(rx.cond(g["first"] == g["last"], g["last"],
                            rx.text.span(g["first"], " – ", g["last"])),
                    size="1", color_scheme="gray"),
            rx.cond(
                reply != "",
                rx.box(rx.text("An operator answered:", size="1", weight="bold"),
                       rx.text(reply, size="2", white_space="pre-wrap"),
                       padding_left="0.5rem", width="100%",
                       border_left=f"2px solid {rx.color('green', 7)}"),
            ),
            rx.hstack(
                rx.cond(
                    reply != "",
                    action_button("book_plus", "Save the reply as a Q&A pair",
                                  KnowledgeState.reply_to_qa(g["reply_id"]),
                                  class_name="gap-save-reply"),
                    action_button("pencil", "Write an answer",
                                  KnowledgeState.answer_gap(g["question"]),
                                  class_name="gap-answer"),
                ),
                rx.link("Open the conversation", href=f"/console?d={g['dialog_id']}",
                        size="2"),
                align="center", spacing="4", wrap="wrap",
            ),
            spacing="2", width="100%",
        ),
        width="100%", class_name="gap-row",
    )


def gaps_tab() -> rx.Component:
    period = rx.select.root(
        rx.select.trigger(id="gap-days", aria_label="Period"),
        rx.select.content(*[rx.select.item(f"Last {d} days", value=d) for d in GAP_DAYS]),
        value=KnowledgeState.gap_days, on_change=KnowledgeState.set_gap_days,
    )
    empty = empty_state("party_popper",
                        rx.text("Nothing went unanswered in this period."),
                        id="gaps-empty")
    return rx.vstack(
        hint("Questions visitors asked that got “I don't know”, an answer with low "
             "confidence, or a person. Questions that ask the same thing are grouped; "
             "an answer you save here answers the next visitor."),
        rx.hstack(period,
                  rx.button(rx.icon("refresh_cw", size=14), "Refresh", variant="soft",
                            on_click=KnowledgeState.load_gaps, loading=KnowledgeState.gaps_busy,
                            id="gaps-refresh"),
                  spacing="3", align="center"),
        loaded_list(KnowledgeState.gaps_loaded, KnowledgeState.gaps, empty,
                    rx.vstack(rx.foreach(KnowledgeState.gaps, _gap_card), spacing="3",
                              width="100%")),
        spacing="3", width="100%", padding_top="1rem", id="gaps-tab",
    )


def _check_row(c: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(c["question"], weight="medium"),
                                rx.text(c["expects"], size="1", color_scheme="gray"),
                                spacing="1")),
        rx.table.cell(rx.vstack(
            rx.badge(c["label"], color_scheme=rx.match(
                c["status"], *[(k, v) for k, v in _CHECK_COLOR.items()], "gray")),
            rx.text(c["detail"], size="1", color_scheme="gray"),
            spacing="1")),
        rx.table.cell(rx.text(c["checked"], size="1")),
        rx.table.cell(delete_icon_button("Remove check", KnowledgeState.delete_check(c["id"]))),
        class_name="check-row",
    )


def checks_tab() -> rx.Component:
    empty = empty_state("list_checks",
                        rx.text("No checks yet. Every Q&A pair you save becomes one, and the "
                                "test chat can keep an answer as one."),
                        id="checks-empty")
    running = rx.vstack(
        rx.progress(value=KnowledgeState.check_done, max=rx.cond(
            KnowledgeState.check_total > 0, KnowledgeState.check_total, 1), width="100%"),
        rx.text("Checked ", KnowledgeState.check_done, " of ", KnowledgeState.check_total,
                size="1"),
        width="100%", spacing="1", id="check-progress",
    )
    return rx.vstack(
        hint("Each check asks a saved question again, through the same search that answers "
             "visitors, and says whether it still finds its Q&A pair or document."),
        rx.hstack(
            rx.button(rx.icon("play", size=14), "Run knowledge check",
                      on_click=KnowledgeState.run_checks, loading=KnowledgeState.check_busy,
                      disabled=KnowledgeState.check_rows.length() == 0, id="run-checks"),
            rx.text(KnowledgeState.check_summary, size="2", id="check-summary"),
            align="center", spacing="3", wrap="wrap",
        ),
        rx.cond(KnowledgeState.check_busy, running),
        loaded_list(KnowledgeState.loaded, KnowledgeState.check_rows, empty,
                    data_table(("Question", "Result", "Checked", ""), KnowledgeState.check_rows,
                               _check_row)),
        spacing="3", width="100%", padding_top="1rem", id="checks-tab",
    )
