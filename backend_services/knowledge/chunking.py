"""Split an extracted document into retrieval chunks that keep their context.

A chunk is what retrieval returns and what the model reads, so it must make sense on
its own: it belongs to one section (its heading path is recorded beside it, not pasted
into the text, so the text embeds as content and the path can be shown or weighted
separately), a table stays whole so its rows keep their header, and consecutive
paragraphs are packed together so chunks are neither fragments nor walls of text. When
a section needs several chunks, the last sentences of one are repeated at the start of
the next, so a fact phrased across a chunk boundary is still found.

Token counts come from a caller-supplied function so the limits match the embedding
model in use; `approx_token_count` is the fallback when no tokenizer is available.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from backend_services.knowledge.extract import Block, BlockKind, ExtractedDocument

CountTokens = Callable[[str], int]

_TOKEN = re.compile(r"\w+|[^\w\s]")
# A sentence ends at . ! ? … (plus closing quotes/brackets) before whitespace, or at a
# line break; the candidate is accepted only if the next text starts like a sentence,
# which keeps "e.g. this" and Russian "т. е. это" in one piece.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s)|\n")
_SENTENCE_START = frozenset("\"'«“„([—–-•*")
_MARKED_ITEM = re.compile(r"^(?:[-*•▪◦‣–]|\(?\d{1,3}[.)]|\(?[a-zа-я]\))\s")
_PROSE = frozenset({BlockKind.PARAGRAPH, BlockKind.LIST_ITEM})


def approx_token_count(text: str) -> int:
    """Count words and punctuation marks: a tokenizer-free stand-in for token counts.

    `\\w` is Unicode-aware, so Cyrillic and other scripts count per word just like
    English. Subword tokenizers produce more tokens than this for long or non-English
    words, so pass the model's tokenizer when one is available and size `max_tokens`
    with some headroom when it is not.
    """
    return len(_TOKEN.findall(text))


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrieval unit: `position` in the document, its section path and its text."""

    position: int
    heading_path: str
    text: str
    token_count: int


@dataclass(frozen=True, slots=True)
class _Piece:
    """A unit the packer places whole.

    `continues` marks a piece that carries on the previous piece's paragraph (a sentence
    of a split paragraph), joined with a space instead of a paragraph break; `overlap`
    marks text repeated from the previous chunk.
    """

    text: str
    kind: BlockKind
    tokens: int
    continues: bool = False
    overlap: bool = False


def split_sentences(text: str) -> list[str]:
    """Split text into sentences (English and Russian punctuation rules are the same)."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        following = text[end:].lstrip()[:1]
        if (
            match.group() == "\n"
            or not following
            or following.isupper()
            or following.isdigit()
            or following in _SENTENCE_START
        ):
            sentence = text[start:end].strip()
            if sentence:
                sentences.append(sentence)
            start = end
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def chunk_document(
    doc: ExtractedDocument,
    count_tokens: CountTokens = approx_token_count,
    max_tokens: int = 300,
    overlap_tokens: int = 40,
) -> list[Chunk]:
    """Chunk `doc` section by section; every chunk has `token_count <= max_tokens`.

    Headings never appear in chunk text; they form `heading_path` ("Billing > Refunds").
    Overlap never crosses a heading: a new section starts fresh.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError("overlap_tokens must be between 0 and max_tokens - 1")
    return _Chunker(count_tokens, max_tokens, overlap_tokens).run(doc.blocks)


class _Chunker:
    def __init__(self, count: CountTokens, max_tokens: int, overlap_tokens: int) -> None:
        self.count = count
        self.max = max_tokens
        self.overlap_budget = overlap_tokens
        self.chunks: list[Chunk] = []

    def run(self, blocks: list[Block]) -> list[Chunk]:
        headings: list[tuple[int, str]] = []
        section: list[Block] = []
        for block in blocks:
            if block.kind is BlockKind.HEADING:
                self._pack_section(section, headings)
                section = []
                level = max(block.level, 1)
                while headings and headings[-1][0] >= level:
                    headings.pop()
                headings.append((level, block.text.strip()))
            elif block.text.strip():
                section.append(block)
        self._pack_section(section, headings)
        return self.chunks

    # -- pieces -------------------------------------------------------------------------

    def _pieces(self, block: Block) -> list[_Piece]:
        """Render a block; split it only when it alone exceeds the limit."""
        text = _render(block)
        tokens = self.count(text)
        if tokens <= self.max:
            return [_Piece(text, block.kind, tokens)]
        if block.kind is BlockKind.TABLE:
            return self._split_table(text)
        if block.kind is BlockKind.CODE:
            parts = self._pack_lines(text.split("\n"), self.max)
            return [_Piece(p, BlockKind.CODE, self.count(p)) for p in parts]
        pieces: list[_Piece] = []
        for sentence in split_sentences(text):
            for part in self._force_fit(sentence, self.max):
                pieces.append(_Piece(part, block.kind, self.count(part), continues=bool(pieces)))
        return pieces

    def _split_table(self, text: str) -> list[_Piece]:
        """Split an oversized table by rows, repeating the header row in every part."""
        lines = [line for line in text.split("\n") if line.strip()]
        header, rows = lines[0], lines[1:]
        header_tokens = self.count(header)
        if not rows or header_tokens >= self.max // 2:
            # No usable header to repeat: fall back to plain row packing.
            parts = self._pack_lines(lines, self.max)
            return [_Piece(p, BlockKind.TABLE, self.count(p)) for p in parts]
        body_limit = self.max - header_tokens - self.count("\n")
        parts = self._pack_lines(rows, max(body_limit, 1))
        pieces: list[_Piece] = []
        for part in parts:
            part_text = f"{header}\n{part}"
            for fitted in self._force_fit(part_text, self.max):
                pieces.append(_Piece(fitted, BlockKind.TABLE, self.count(fitted)))
        return pieces

    def _pack_lines(self, lines: list[str], limit: int) -> list[str]:
        """Greedily group whole lines into texts of at most `limit` tokens."""
        parts: list[str] = []
        current: list[str] = []
        estimate = 0
        for line in lines:
            tokens = self.count(line)
            if current and estimate + tokens > limit:
                parts.extend(self._force_fit("\n".join(current), limit))
                current, estimate = [], 0
            current.append(line)
            estimate += tokens
        if current:
            parts.extend(self._force_fit("\n".join(current), limit))
        return parts

    def _force_fit(self, text: str, limit: int) -> list[str]:
        """Return `text` cut into parts of at most `limit` tokens.

        Greedy word grouping by per-word counts keeps this linear for huge unpunctuated
        text; each group is then verified with a real count and halved if the tokenizer
        disagrees, down to character level for a single enormous "word".
        """
        if self.count(text) <= limit:
            return [text]
        words = text.split(" ") if "\n" not in text else re.split(r"(?<=\n)", text)
        groups: list[str] = []
        current: list[str] = []
        estimate = 0
        for word in words:
            tokens = self.count(word)
            if current and estimate + tokens > limit:
                groups.append(_glue(current))
                current, estimate = [], 0
            current.append(word)
            estimate += tokens
        if current:
            groups.append(_glue(current))
        out: list[str] = []
        for group in groups:
            out.extend(self._halve(group.strip(), limit))
        return [part for part in out if part]

    def _halve(self, text: str, limit: int) -> list[str]:
        if not text or self.count(text) <= limit or len(text) < 2:
            return [text]
        middle = len(text) // 2
        cut = text.rfind(" ", 0, middle)
        if cut <= 0:
            cut = text.find(" ", middle)
        if cut <= 0:
            cut = middle
        return self._halve(text[:cut].strip(), limit) + self._halve(text[cut:].strip(), limit)

    # -- packing ------------------------------------------------------------------------

    def _pack_section(self, blocks: list[Block], headings: list[tuple[int, str]]) -> None:
        if not blocks:
            return
        path = " › ".join(text for _, text in headings if text)
        pending: deque[_Piece] = deque(p for block in blocks for p in self._pieces(block))
        current: list[_Piece] = []
        estimate = 0
        while pending or current:
            only_overlap = len(current) == 1 and current[0].overlap
            if pending and (
                not current or only_overlap or estimate + pending[0].tokens <= self.max
            ):
                piece = pending.popleft()
                current.append(piece)
                estimate += piece.tokens
                continue
            emitted = self._emit(current, pending, path)
            current, estimate = [], 0
            if pending and self.overlap_budget:
                carried = self._overlap(emitted)
                if carried is not None and self.count(_join([carried, pending[0]])) <= self.max:
                    current, estimate = [carried], carried.tokens

    def _emit(self, current: list[_Piece], pending: deque[_Piece], path: str) -> list[_Piece]:
        """Store a chunk; pieces the real count says do not fit go back to `pending`."""
        text = _join(current)
        tokens = self.count(text)
        floor = 2 if current[0].overlap else 1
        while tokens > self.max and len(current) > floor:
            pending.appendleft(current.pop())
            text = _join(current)
            tokens = self.count(text)
        self.chunks.append(
            Chunk(position=len(self.chunks), heading_path=path, text=text, token_count=tokens)
        )
        return current

    def _overlap(self, emitted: list[_Piece]) -> _Piece | None:
        """Trailing sentences of the emitted chunk's prose worth `overlap_budget` tokens.

        Tables and code are not carried over: a fragment of either is noise. If even the
        last sentence is too long, its last words are carried instead.
        """
        selected: list[str] = []
        used = 0
        done = False
        for piece in reversed(emitted):
            if piece.kind not in _PROSE:
                break
            for sentence in reversed(split_sentences(piece.text)):
                tokens = self.count(sentence)
                if used + tokens > self.overlap_budget:
                    done = True
                    break
                selected.insert(0, sentence)
                used += tokens
            if done:
                break
        if not selected and emitted and emitted[-1].kind in _PROSE:
            words = emitted[-1].text.split()
            while words:
                tokens = self.count(words[-1])
                if used + tokens > self.overlap_budget:
                    break
                selected.insert(0, words.pop())
                used += tokens
            selected = [" ".join(selected)] if selected else []
        # Per-part counts are an estimate for subword tokenizers: verify the joined text.
        while selected and self.count(" ".join(selected)) > self.overlap_budget:
            selected.pop(0)
        if not selected:
            return None
        text = " ".join(selected)
        return _Piece(text, BlockKind.PARAGRAPH, self.count(text), overlap=True)


def _render(block: Block) -> str:
    """Block text as it appears in a chunk; bullets get a "- " marker."""
    text = block.text.strip()
    if block.kind is BlockKind.LIST_ITEM and not _MARKED_ITEM.match(text):
        return f"- {text}"
    return text


def _join(pieces: list[_Piece]) -> str:
    """Join pieces: space inside a split paragraph, newline between list items."""
    out = ""
    previous: _Piece | None = None
    for piece in pieces:
        if previous is None:
            out = piece.text
        elif piece.continues:
            out = f"{out} {piece.text}"
        elif piece.kind is BlockKind.LIST_ITEM and previous.kind is BlockKind.LIST_ITEM:
            out = f"{out}\n{piece.text}"
        else:
            out = f"{out}\n\n{piece.text}"
        previous = piece
    return out


def _glue(words: list[str]) -> str:
    """Rejoin words split by `_force_fit` (space-split words, or newline-kept lines)."""
    if any(word.endswith("\n") for word in words):
        return "".join(words)
    return " ".join(words)
