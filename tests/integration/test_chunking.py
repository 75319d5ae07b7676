"""Chunking keeps sections, tables and sentences intact, within token limits."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from backend_services.knowledge.chunking import (
    Chunk,
    approx_token_count,
    chunk_document,
    split_sentences,
)
from backend_services.knowledge.extract import Block, BlockKind, ExtractedDocument, extract
from backend_services.knowledge.safety import check_upload

SAMPLES = Path(__file__).resolve().parents[2] / "replyx_app" / "demo_knowledge"

H = BlockKind.HEADING
P = BlockKind.PARAGRAPH
LI = BlockKind.LIST_ITEM
T = BlockKind.TABLE


def doc(*blocks: Block) -> ExtractedDocument:
    return ExtractedDocument(title="Test", blocks=list(blocks))


def sentences(prefix: str, count: int) -> str:
    return " ".join(
        f"{prefix} sentence number {i} explains one small detail of the policy."
        for i in range(count)
    )


def load_sample(path: Path) -> ExtractedDocument:
    data = path.read_bytes()
    return extract(data, check_upload(data, path.name), path.name)


def test_approx_token_count_counts_words_and_punctuation() -> None:
    assert approx_token_count("Refunds take 14 days.") == 5
    assert approx_token_count("Привет, мир! Как дела?") == 7
    assert approx_token_count("") == 0
    assert approx_token_count("e-mail") == 3


def test_split_sentences_english_and_russian() -> None:
    assert split_sentences("First one. Second one! Third? e.g. not split. Last") == [
        "First one.",
        "Second one!",
        "Third? e.g. not split.",
        "Last",
    ]
    assert split_sentences("Оплата картой. Возврат — через 10 дней, т. е. быстро. Всё!") == [
        "Оплата картой.",
        "Возврат — через 10 дней, т. е. быстро.",
        "Всё!",
    ]


def test_heading_paths_follow_the_outline() -> None:
    chunks = chunk_document(
        doc(
            Block(H, "Billing", 1),
            Block(P, "We bill monthly."),
            Block(H, "Refunds", 2),
            Block(P, "Refunds take 14 days."),
            Block(H, "Card refunds", 3),
            Block(P, "Cards take longer."),
            Block(H, "Invoices", 2),
            Block(P, "Invoices are emailed."),
            Block(H, "Security", 1),
            Block(P, "Use 2FA."),
        )
    )
    assert [(c.heading_path, c.text) for c in chunks] == [
        ("Billing", "We bill monthly."),
        ("Billing › Refunds", "Refunds take 14 days."),
        ("Billing › Refunds › Card refunds", "Cards take longer."),
        ("Billing › Invoices", "Invoices are emailed."),
        ("Security", "Use 2FA."),
    ]
    assert [c.position for c in chunks] == [0, 1, 2, 3, 4]
    assert all("Billing" not in c.text for c in chunks)  # the path is not pasted in


def test_text_before_any_heading_has_empty_path() -> None:
    chunks = chunk_document(doc(Block(P, "Intro."), Block(H, "Next", 2), Block(P, "Body.")))
    assert [(c.heading_path, c.text) for c in chunks] == [("", "Intro."), ("Next", "Body.")]


def test_consecutive_paragraphs_and_list_items_are_packed() -> None:
    chunks = chunk_document(
        doc(
            Block(P, "To request a refund:"),
            Block(LI, "Open Billing"),
            Block(LI, "Click Refund"),
            Block(LI, "2. Confirm"),
            Block(P, "That is all."),
        )
    )
    assert len(chunks) == 1
    assert chunks[0].text == (
        "To request a refund:\n\n- Open Billing\n- Click Refund\n2. Confirm\n\nThat is all."
    )
    assert chunks[0].token_count == approx_token_count(chunks[0].text)


def test_tables_are_never_split_when_they_fit() -> None:
    table = "Plan | Price | Limit\n" + "\n".join(f"Plan {i} | ${i}9 | {i}0k" for i in range(12))
    table_tokens = approx_token_count(table)
    assert 60 < table_tokens < 100
    chunks = chunk_document(
        doc(Block(P, sentences("Before", 4)), Block(T, table), Block(P, sentences("After", 4))),
        max_tokens=100,
        overlap_tokens=0,
    )
    holding = [c for c in chunks if "Plan | Price | Limit" in c.text]
    assert len(holding) == 1
    assert table in holding[0].text
    assert all(c.token_count <= 100 for c in chunks)


def test_oversized_table_split_by_rows_repeating_header() -> None:
    header = "Country | Currency | VAT"
    rows = [f"Country {i} | CUR{i} | {i}%" for i in range(60)]
    chunks = chunk_document(doc(Block(T, "\n".join([header, *rows]))), max_tokens=60)
    assert len(chunks) > 3
    seen: list[str] = []
    for chunk in chunks:
        lines = chunk.text.split("\n")
        assert lines[0] == header
        seen.extend(lines[1:])
        assert chunk.token_count <= 60
    assert seen == rows  # every row exactly once, in order, none cut in half


def test_oversized_paragraph_split_at_sentence_boundaries() -> None:
    text = sentences("Long", 30)
    chunks = chunk_document(doc(Block(P, text)), max_tokens=50, overlap_tokens=0)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.token_count <= 50
        assert chunk.text.startswith("Long sentence number")
        assert chunk.text.endswith("policy.")
    assert " ".join(c.text for c in chunks) == text


def test_overlap_carries_trailing_sentences_within_a_section() -> None:
    chunks = chunk_document(
        doc(
            Block(H, "Policy", 1),
            Block(P, sentences("Alpha", 12)),
            Block(H, "Other", 1),
            Block(P, sentences("Beta", 12)),
        ),
        max_tokens=60,
        overlap_tokens=15,
    )
    alpha = [c for c in chunks if c.heading_path == "Policy"]
    beta = [c for c in chunks if c.heading_path == "Other"]
    assert len(alpha) > 2 and len(beta) > 2
    for section in (alpha, beta):
        for previous, current in itertools.pairwise(section):
            carried = split_sentences(current.text)[0]
            assert previous.text.endswith(carried)
            assert approx_token_count(carried) <= 15
            assert current.token_count <= 60
    # a new section starts fresh: nothing of "Policy" leaks into "Other"
    assert beta[0].text.startswith("Beta sentence number 0")
    assert all("Alpha" not in c.text for c in beta)


def test_overlap_zero_means_no_repetition() -> None:
    text = sentences("Gamma", 20)
    chunks = chunk_document(doc(Block(P, text)), max_tokens=40, overlap_tokens=0)
    assert " ".join(c.text for c in chunks) == text


def test_huge_unpunctuated_text_is_force_split() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    chunks = chunk_document(doc(Block(P, text)), max_tokens=100, overlap_tokens=10)
    assert all(c.token_count <= 100 for c in chunks)
    assert chunks[0].text.startswith("word0 word1")
    assert "word1999" in chunks[-1].text


def test_custom_tokenizer_limits_are_respected() -> None:
    def by_chars(text: str) -> int:  # a stand-in tokenizer that counts 4 chars per token
        return (len(text) + 3) // 4

    blocks = [Block(P, sentences(f"Part{i}", 5)) for i in range(6)]
    blocks.append(Block(T, "A | B\n" + "\n".join(f"{i} | {'x' * 30}" for i in range(40))))
    chunks = chunk_document(doc(*blocks), count_tokens=by_chars, max_tokens=120, overlap_tokens=20)
    assert all(c.token_count == by_chars(c.text) <= 120 for c in chunks)


def test_code_block_split_on_lines() -> None:
    code = "\n".join(f"step_{i} = run({i})" for i in range(80))
    chunks = chunk_document(doc(Block(BlockKind.CODE, code)), max_tokens=60)
    assert all(c.token_count <= 60 for c in chunks)
    assert "\n".join(c.text for c in chunks) == code


def test_invalid_parameters_rejected() -> None:
    with pytest.raises(ValueError):
        chunk_document(doc(Block(P, "x")), max_tokens=0)
    with pytest.raises(ValueError):
        chunk_document(doc(Block(P, "x")), max_tokens=10, overlap_tokens=10)


def test_russian_text_chunks_at_sentence_boundaries_with_overlap() -> None:
    text = " ".join(
        f"Бонус номер {i} начисляется на счёт проекта после регистрации." for i in range(25)
    )
    chunks = chunk_document(
        doc(Block(H, "Бонусы", 2), Block(P, text)), max_tokens=40, overlap_tokens=12
    )
    assert len(chunks) > 3
    for previous, current in itertools.pairwise(chunks):
        assert current.heading_path == "Бонусы"
        assert current.token_count <= 40
        assert current.text.startswith("Бонус номер")
        assert current.text.endswith("регистрации.")
        assert previous.text.endswith(split_sentences(current.text)[0])


def _sample_paths() -> list[Path]:
    return sorted(SAMPLES.glob("*/*.md"))


@pytest.mark.parametrize("path", _sample_paths(), ids=lambda p: p.name)
@pytest.mark.parametrize("max_tokens", [80, 300])
def test_real_help_pages_chunk_within_limits(path: Path, max_tokens: int) -> None:
    document = load_sample(path)
    chunks = chunk_document(document, max_tokens=max_tokens, overlap_tokens=20)
    assert chunks
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert isinstance(chunk, Chunk)
        assert 0 < chunk.token_count <= max_tokens
        assert chunk.token_count == approx_token_count(chunk.text)
        assert chunk.heading_path.startswith(document.title)
    # Every paragraph sentence lands in some chunk: nothing is dropped.
    corpus = "\n".join(c.text for c in chunks)
    for block in document.blocks:
        if block.kind is P:
            for sentence in split_sentences(block.text):
                assert sentence in corpus


def test_real_english_table_stays_whole() -> None:
    document = load_sample(SAMPLES / "plausible" / "plausible-data-access.md")
    table = next(b.text for b in document.blocks if b.kind is T)
    chunks = chunk_document(document)
    holding = [c for c in chunks if table in c.text]
    assert len(holding) == 1
    assert holding[0].heading_path == "Accessing your Plausible data › Quick reference"


def test_real_russian_page_heading_paths() -> None:
    document = load_sample(SAMPLES / "vkcloud" / "vkcloud-billing-faq.md")
    chunks = chunk_document(document)
    paths = {c.heading_path for c in chunks}
    assert (
        "Вопросы и ответы › Оплата, возврат, бонусы › "
        "Как получить бонусы за регистрацию в личном кабинете?"
    ) in paths
    bonus = next(c for c in chunks if c.heading_path.endswith("в личном кабинете?"))
    assert bonus.text.startswith("Бонусы начисляются при регистрации новой учетной записи.")
