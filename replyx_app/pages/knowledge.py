"""Knowledge page: upload sources, watch them index, curate Q&A, review held passages, see
what went unanswered, run the knowledge check, try the assistant."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from backend_services.knowledge import refresh
from components.actions import action_button, delete_icon_button, row_actions
from components.dialogs import confirm_dialog
from components.forms import error_callout
from components.panels import data_table
from components.pickers import assistant_scoped
from replyx_app.pages.knowledge_quality import checks_tab, gaps_tab
from replyx_app.pages.registry import Nav, dashboard_page
from state.knowledge import KnowledgeState

ACCEPT = {
    "application/pdf": [".pdf"],
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": [".docx"],
    "text/plain": [".txt"],
    "text/markdown": [".md", ".markdown"],
    "text/html": [".html", ".htm"],
    "text/csv": [".csv"],
}

_STATUS_COLOR = {"ready": "green", "failed": "red"}


def _refresh_picker(d: ObjectVar[dict[str, Any]]) -> rx.Component:
    """How often a web page or sitemap is fetched again (re-indexed only when changed)."""
    return rx.hstack(
        rx.text("Fetch again", size="1", color_scheme="gray"),
        rx.select.root(
            rx.select.trigger(aria_label="Fetch again", class_name="doc-refresh"),
            rx.select.content(*[rx.select.item(text, value=str(hours))
                                for hours, text in refresh.SCHEDULES.items()]),
            value=d["refresh"].to(str), size="1",
            on_change=lambda v: KnowledgeState.set_refresh(d["id"].to(int), v),
        ),
        rx.cond(d["fetched"] != "",
                rx.text("Fetched ", d["fetched"], " UTC", size="1", color_scheme="gray")),
        spacing="2", align="center", wrap="wrap",
    )


def _doc_row(d: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(
            rx.text(d["title"], weight="medium"),
            rx.text(d["source_type"].to(str).upper(), " · ", d["size_kb"], " KB · ",
                    d["chunk_count"], rx.cond(d["chunk_count"] == 1, " chunk", " chunks"),
                    size="1", color_scheme="gray"),
            rx.cond(d["web"], _refresh_picker(d)),
            spacing="1")),
        rx.table.cell(
            rx.cond(
                d["active"],
                rx.vstack(rx.progress(value=d["progress"].to(int), max=100, width="12rem"),
                          rx.text(d["stage"], " · ", d["progress"], "%", size="1"),
                          spacing="1"),
                rx.vstack(
                    rx.badge(d["stage"], color_scheme=rx.cond(d["status"] == "ready", "green",
                                                              "red")),
                    rx.cond(d["error"] != "",
                            rx.text(d["error"], size="1", color_scheme="red", max_width="22rem")),
                    spacing="1"),
            ),
            class_name="doc-status",
        ),
        rx.table.cell(row_actions(
            rx.cond(d["status"] == "ready",
                    action_button(None, "Preview", KnowledgeState.open_preview(d["id"]))),
            rx.cond(d["status"] == "failed",
                    action_button(None, "Retry", KnowledgeState.retry_document(d["id"]))),
            delete_icon_button("Delete source", KnowledgeState.delete_document(d["id"])),
        )),
        class_name="doc-row",
    )


def _sources_tab() -> rx.Component:
    return rx.vstack(
        rx.upload(
            rx.vstack(
                rx.icon("cloud_upload", size=32, color=rx.color("accent", 9)),
                rx.text("Drop files here or click to choose"),
                rx.text("PDF, DOCX, TXT, Markdown, HTML, CSV · up to 20 MB each", size="1",
                        color_scheme="gray"),
                align="center", spacing="2",
            ),
            id="knowledge-files",
            multiple=True,
            accept=ACCEPT,
            max_size=20 * 1024 * 1024,
            border=f"2px dashed {rx.color('gray', 7)}",
            border_radius="var(--radius-4)",
            padding="1.5rem",
            width="100%",
            cursor="pointer",
        ),
        rx.hstack(
            rx.foreach(rx.selected_files("knowledge-files"),
                       lambda f: rx.badge(f, variant="outline")),
            wrap="wrap",
        ),
        rx.button(rx.icon("upload", size=16), "Upload",
                  on_click=KnowledgeState.upload(
                      rx.upload_files(upload_id="knowledge-files")),
                  id="upload-button"),
        rx.form(
            rx.hstack(
                rx.input(name="url", id="knowledge-url", type="url", flex="1",
                         placeholder="Web page or sitemap URL"),
                rx.hstack(rx.checkbox(name="sitemap", id="knowledge-sitemap"),
                          rx.text("It is a sitemap", as_="label", html_for="knowledge-sitemap",
                                  size="2"), align="center"),
                rx.button(rx.icon("globe", size=16), "Add", type="submit", variant="soft",
                          id="add-url"),
                width="100%", align="center",
            ),
            on_submit=KnowledgeState.add_url,
            width="100%",
        ),
        rx.foreach(KnowledgeState.upload_errors,
                   lambda e: rx.callout(e, icon="triangle_alert", color_scheme="red",
                                        width="100%", class_name="upload-error")),
        rx.cond(
            KnowledgeState.documents.length() == 0,
            rx.text("No sources yet. Upload your help-centre pages, FAQs or manuals.",
                    color_scheme="gray"),
            data_table(("Source", "Status", ""), KnowledgeState.documents, _doc_row),
        ),
        _preview_dialog(),
        spacing="3", width="100%", padding_top="1rem",
    )


def _preview_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(KnowledgeState.preview_title),
            rx.scroll_area(
                rx.vstack(
                    rx.foreach(KnowledgeState.preview_chunks, lambda c: rx.card(
                        rx.text("#", c["position"], " · ", c["heading_path"], " · ",
                                c["token_count"], " tokens", size="1", color_scheme="gray"),
                        rx.text(c["content"], size="2", white_space="pre-wrap"),
                        width="100%", class_name="chunk-card")),
                    spacing="2",
                ),
                max_height="60vh",
            ),
            rx.dialog.close(rx.button("Close", variant="soft", margin_top="1rem")),
            max_width="48rem",
        ),
        open=KnowledgeState.preview_open,
        on_open_change=KnowledgeState.set_preview_open,
    )


def _qa_row(q: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.vstack(rx.text(q["question"], weight="medium"),
                      rx.text(q["answer"], size="2", color_scheme="gray", white_space="pre-wrap"),
                      spacing="1", flex="1"),
            action_button(None, "Edit", KnowledgeState.edit_qa(q["id"], q["question"],
                                                               q["answer"])),
            delete_icon_button("Delete Q&A pair", KnowledgeState.ask_delete_qa(q["id"])),
            align="start", width="100%",
        ),
        width="100%", class_name="qa-row",
    )


def _qa_tab() -> rx.Component:
    return rx.vstack(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading(rx.cond(KnowledgeState.qa_editing_id != 0, "Edit Q&A pair",
                                       rx.cond(KnowledgeState.qa_from_reply != 0,
                                               "New Q&A pair from an operator's reply",
                                               "New Q&A pair")), size="3", id="qa-heading"),
                    error_callout(KnowledgeState.qa_error),
                    rx.input(name="question", id="qa-question", placeholder="Question",
                             default_value=KnowledgeState.qa_question,
                             key=KnowledgeState.qa_fill.to(str) + "q", width="100%"),
                    rx.text_area(name="answer", id="qa-answer", placeholder="Answer", rows="4",
                                 default_value=KnowledgeState.qa_answer,
                                 key=KnowledgeState.qa_fill.to(str) + "a", width="100%"),
                    rx.hstack(
                        rx.button("Save", type="submit", id="qa-save"),
                        rx.cond((KnowledgeState.qa_editing_id != 0)
                                | (KnowledgeState.qa_from_reply != 0),
                                rx.button("Cancel", type="button", variant="soft",
                                          on_click=KnowledgeState.new_qa)),
                    ),
                    spacing="2",
                ),
                on_submit=KnowledgeState.save_qa,
            ),
            width="100%",
        ),
        rx.foreach(KnowledgeState.qa_pairs, _qa_row),
        confirm_dialog(
            "Delete this Q&A pair?",
            "Its answer is no longer given, and its knowledge check goes with it.",
            confirm="Delete",
            on_confirm=KnowledgeState.delete_qa(KnowledgeState.confirm_qa_id),
            on_cancel=KnowledgeState.cancel_delete_qa, open=KnowledgeState.confirm_qa_id != 0),
        spacing="3", width="100%", padding_top="1rem",
    )


def _held_row(h: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(h["document_title"], weight="medium"),
                rx.foreach(h["flags"].to(list[str]),
                           lambda f: rx.badge(f, color_scheme="orange", variant="soft")),
                rx.spacer(),
                rx.button("Approve", size="1", variant="soft", class_name="approve-passage",
                          on_click=KnowledgeState.approve_passage(h["chunk_id"])),
                align="center", width="100%", wrap="wrap",
            ),
            rx.text(h["content"], size="2", white_space="pre-wrap", color_scheme="gray"),
            spacing="2", width="100%",
        ),
        width="100%", class_name="held-passage",
    )


def _review_tab() -> rx.Component:
    return rx.vstack(
        rx.text("Passages that address the assistant, carry payment details, phone numbers "
                "or links to other sites are held here when a source is indexed: they are "
                "neither quoted to visitors nor shown to a model until you approve them. "
                "Delete the source if a passage was planted.", size="2",
                color_scheme="gray"),
        rx.cond(
            KnowledgeState.held.length() == 0,
            rx.callout("Nothing is waiting for review.", icon="shield_check",
                       color_scheme="green", width="100%", id="review-empty"),
            rx.foreach(KnowledgeState.held, _held_row),
        ),
        spacing="3", width="100%", padding_top="1rem", id="review-tab",
    )


def _chat_panel() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Test chat", size="3"),
            rx.text("Ask what a customer would ask; the answer streams in with its sources.",
                    size="1", color_scheme="gray"),
            rx.form(
                rx.hstack(
                    rx.input(name="question", id="chat-question", placeholder="Ask a question…",
                             flex="1"),
                    rx.button("Ask", type="submit", loading=KnowledgeState.chat_busy,
                              id="chat-ask"),
                    width="100%",
                ),
                on_submit=KnowledgeState.ask,
                reset_on_submit=False,
            ),
            rx.cond(
                KnowledgeState.chat_answer != "",
                rx.vstack(
                    rx.text(KnowledgeState.chat_question, weight="medium", size="2"),
                    rx.box(rx.text(KnowledgeState.chat_answer, white_space="pre-wrap", size="2"),
                           id="chat-answer", padding="0.75rem", width="100%",
                           background=rx.color("gray", 3), border_radius="var(--radius-3)"),
                    rx.cond(
                        KnowledgeState.chat_mode != "",
                        rx.hstack(
                            rx.badge("confidence ",
                                     (KnowledgeState.chat_confidence * 100).to(int), "%",
                                     color_scheme=rx.cond(KnowledgeState.chat_confidence < 0.25,
                                                          "red", "green"),
                                     id="chat-confidence"),
                            rx.badge(KnowledgeState.chat_mode, variant="outline",
                                     id="chat-mode"),
                            rx.cond(KnowledgeState.chat_keepable,
                                    rx.button(rx.icon("list_checks", size=14), "Keep as a check",
                                              size="1", variant="soft", id="chat-keep",
                                              on_click=KnowledgeState.keep_chat_answer)),
                            align="center", wrap="wrap",
                        ),
                    ),
                    rx.foreach(KnowledgeState.chat_sources, lambda s: rx.box(
                        rx.text(s["title"], size="1", weight="bold"),
                        rx.text(s["passage"], size="1", color_scheme="gray"),
                        class_name="chat-source", padding_left="0.5rem",
                        border_left=f"2px solid {rx.color('accent', 7)}")),
                    spacing="2", width="100%",
                ),
            ),
            spacing="3", width="100%",
        ),
        width="100%",
    )


@dashboard_page(
    "/knowledge", "Knowledge", role="admin", on_load=[KnowledgeState.load],
    nav=Nav("Knowledge", "book_open", 30),
)
def knowledge_page() -> rx.Component:
    tabs = rx.tabs.root(
        rx.tabs.list(rx.tabs.trigger("Sources", value="sources"),
                     rx.tabs.trigger("Q&A pairs", value="qa"),
                     rx.tabs.trigger(
                         rx.hstack(rx.text("Review"),
                                   rx.cond(KnowledgeState.held.length() > 0,
                                           rx.badge(KnowledgeState.held.length(),
                                                    color_scheme="orange")),
                                   spacing="2", align="center"),
                         value="review", id="review-trigger"),
                     rx.tabs.trigger("Unanswered", value="gaps", id="gaps-trigger"),
                     rx.tabs.trigger("Checks", value="checks", id="checks-trigger"),
                     wrap="wrap"),
        rx.tabs.content(_sources_tab(), value="sources"),
        rx.tabs.content(_qa_tab(), value="qa"),
        rx.tabs.content(_review_tab(), value="review"),
        rx.tabs.content(gaps_tab(), value="gaps"),
        rx.tabs.content(checks_tab(), value="checks"),
        value=KnowledgeState.tab, on_change=KnowledgeState.set_tab,
    )
    return assistant_scoped(
        KnowledgeState.assistant_options, KnowledgeState.assistant_id,
        KnowledgeState.choose_assistant, "knowledge-assistant",
        "Create an assistant first: knowledge belongs to an assistant.",
        rx.grid(tabs, _chat_panel(), columns=rx.breakpoints(initial="1", lg="2"), spacing="5",
                width="100%"),
    )
