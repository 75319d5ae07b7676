"""Turn an uploaded document into a title and a flat list of structural blocks.

Retrieval quality depends on knowing *where* text sits: a heading gives a passage its
context and a table must stay together to make sense. So every format is reduced to the
same small vocabulary — heading, paragraph, list item, table, code — which the chunker
packs without caring where the text came from.

Call `check_upload` (safety.py) first; `extract` assumes the bytes already passed it.
Parsers are treated as untrusted machinery: any exception they raise becomes
`ExtractionFailed` with a plain message, and the technical cause is only chained
(`__cause__`) for the logs, never put into the message.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from backend_services.core.errors import ValidationFailed
from backend_services.knowledge.safety import (
    SourceKind,
    UploadLimits,
    UploadRejected,
    decode_text,
)


class BlockKind(StrEnum):
    """Structural role of a block; a `StrEnum` so it compares equal to "heading" etc."""

    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST_ITEM = "list_item"
    TABLE = "table"
    CODE = "code"


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit of a document.

    `level` is the heading level (1 = top) for headings and 0 for everything else. A
    table's text is its rows joined by newlines, cells joined by " | ", the first line
    being the header row — the chunker relies on that to repeat headers when it must
    split a huge table.
    """

    kind: BlockKind
    text: str
    level: int = 0


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    """A document's title and its blocks in reading order."""

    title: str
    blocks: list[Block] = field(default_factory=list)


class ExtractionFailed(ValidationFailed):
    """The file passed the upload checks but its content could not be read.

    `message` is written for the uploader and never contains parser internals.
    """

    code = "extraction_failed"


NO_TEXT = "No text could be found in this file."
CSV_ROWS_PER_BLOCK = 20

_WS = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_BULLET = re.compile(r"^\s*(?:[-*•▪◦‣–]|\(?\d{1,3}[.)]|\(?[a-zа-я]\))\s+")
_SENTENCE_END = re.compile(r"[.!?…:;»\"”)]$")
_FRONT_MATTER = re.compile(
    r"\A(?:\ufeff)?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S
)


def extract(
    data: bytes, kind: SourceKind, filename: str, limits: UploadLimits | None = None
) -> ExtractedDocument:
    """Extract title and blocks from `data` of format `kind`.

    Raises `ExtractionFailed` for unreadable content (with a plain message) and
    `UploadRejected` for content limits that can only be seen once parsing starts
    (PDF page count, extracted text size).
    """
    limits = limits or UploadLimits()
    extractor = _EXTRACTORS[SourceKind(kind)]
    fallback_title = _title_from_filename(filename)
    try:
        title, blocks = extractor(data, limits)
    except (ExtractionFailed, UploadRejected):
        raise
    except RecursionError as exc:
        raise ExtractionFailed("This file is nested too deeply to be read safely.") from exc
    except Exception as exc:  # parser internals must never reach the user
        raise ExtractionFailed(_DAMAGED[SourceKind(kind)]) from exc
    blocks = [b for b in blocks if b.text.strip()]
    if not blocks:
        raise ExtractionFailed(NO_TEXT)
    total = sum(len(b.text) for b in blocks)
    if total > limits.max_extracted_chars:
        raise UploadRejected(
            "This file contains more text than a single upload may hold. Split it into "
            "smaller files and upload them separately."
        )
    return ExtractedDocument(title=_clean_inline(title) or fallback_title, blocks=blocks)


_DAMAGED: dict[SourceKind, str] = {
    SourceKind.PDF: "This PDF is damaged or cannot be read.",
    SourceKind.DOCX: "This Word document is damaged or cannot be read.",
    SourceKind.TXT: "This text file could not be read.",
    SourceKind.MD: "This Markdown file could not be read.",
    SourceKind.HTML: "This web page could not be read.",
    SourceKind.CSV: "This CSV file could not be read. Check that it is a valid CSV table.",
}


def _title_from_filename(filename: str) -> str:
    """Fallback title: the file name without extension, as the user named it."""
    stem = PurePosixPath(filename.replace("\\", "/")).stem
    return _clean_inline(stem.replace("_", " ")) or "Untitled"


def _clean_inline(text: str) -> str:
    """Collapse runs of whitespace inside one line of text."""
    return " ".join(text.split())


def _clean_multiline(text: str) -> str:
    """Normalise spaces on each line and drop blank edge lines, keeping line breaks."""
    lines = [_WS.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(line for line in lines if line)


def _table_text(rows: Iterable[Iterable[str]]) -> str:
    """Render table rows as 'a | b' lines; empty rows disappear."""
    out: list[str] = []
    for row in rows:
        cells = [_clean_inline(cell) for cell in row]
        if any(cells):
            out.append(" | ".join(cells))
    return "\n".join(out)


_Extractor = Callable[[bytes, UploadLimits], tuple[str, list[Block]]]


# --- PDF -------------------------------------------------------------------------------


def _extract_pdf(data: bytes, limits: UploadLimits) -> tuple[str, list[Block]]:
    """Page text via pypdf, regrouped into paragraphs.

    PDF has no paragraphs, only positioned lines, so lines are rejoined: a blank line, a
    bullet, or a short line ending a sentence closes a paragraph, and words hyphenated
    across lines are mended. Owner-password-only PDFs (printing restrictions) open with
    the empty password, which readers do too; a real user password is refused.
    """
    # Imported here: a parser loads when a file of its kind arrives; web workers never need it.
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionFailed(
                "This PDF is password-protected. Remove the password and upload it again."
            )
        page_count = len(reader.pages)
    except ExtractionFailed:
        raise
    except Exception as exc:  # pypdf raises PdfReadError and many plain errors alike
        raise ExtractionFailed("This PDF is damaged or cannot be read.") from exc
    if page_count == 0:
        raise ExtractionFailed("This PDF is damaged or cannot be read.")
    if page_count > limits.max_pdf_pages:
        raise UploadRejected(
            f"This PDF has {page_count} pages; the limit is {limits.max_pdf_pages}."
        )
    title = ""
    try:
        meta = reader.metadata
        title = (meta.title or "") if meta is not None else ""
    except Exception:  # metadata is optional; a broken info dict must not fail the file
        title = ""
    pages: list[list[_PdfLine]] = []
    chars = 0
    for page in reader.pages:
        page_lines = _pdf_page_lines(page)
        chars += sum(len(line.text) for line in page_lines)
        if chars > limits.max_extracted_chars:
            raise UploadRejected(
                "This file contains more text than a single upload may hold. Split it into "
                "smaller files and upload them separately."
            )
        pages.append(page_lines)
    repeated = _running_headers(pages)
    seen: set[str] = set()
    lines: list[_PdfLine] = []
    for page_lines in pages:
        for line in page_lines:
            text = line.text.strip()
            if _PAGE_NOISE.match(text):
                continue
            key = _key(text)
            if key in repeated:
                if key in seen:
                    continue  # keep the first one: it is often the title on page one
                seen.add(key)
            lines.append(line)
        lines.append(_PdfLine("", None, 0.0))  # a page break ends a paragraph
    blocks = _pdf_blocks(lines)
    if not title.strip():
        title = next((b.text for b in blocks if b.kind is BlockKind.HEADING and b.level == 1), "")
    return title, blocks


# Page numbers ("12", "iv", "Page 3 of 9") and table-of-contents lines with dot leaders
# carry no knowledge and would otherwise become paragraphs of their own.
_PAGE_NOISE = re.compile(
    r"^(?:\d{1,4}|[ivxlcdm]{1,7}|(?:page|стр\.?|страница)\s*\d+(?:\s*(?:of|из)\s*\d+)?"
    r"|.*(?:\.\s?){5,}\s*[\divxlc]+)$",
    re.IGNORECASE,
)


def _key(text: str) -> str:
    """Compare running headers without their page numbers."""
    return re.sub(r"\d+", "#", " ".join(text.split()).lower())


def _running_headers(pages: list[list[_PdfLine]]) -> set[str]:
    """Lines repeated at the top or bottom of most pages: running headers and footers."""
    if len(pages) < 3:
        return set()
    counts: dict[str, int] = {}
    for page_lines in pages:
        texts = [line.text.strip() for line in page_lines if line.text.strip()]
        for text in {*texts[:1], *texts[-1:]}:
            counts[_key(text)] = counts.get(_key(text), 0) + 1
    threshold = max(3, len(pages) // 2)
    return {text for text, count in counts.items() if count >= threshold}


@dataclass(frozen=True, slots=True)
class _PdfLine:
    """One text line of a PDF page with its baseline height and largest font size."""

    text: str
    y: float | None
    size: float


def _pdf_page_lines(page: Any) -> list[_PdfLine]:
    """Lines of a page in content order, with position and size from pypdf's visitor.

    Plain extraction keeps content-stream order (columns stay apart, unlike layout
    mode), but drops vertical gaps and font sizes, which are the only paragraph and
    heading signals a PDF has; the visitor reports both. An empty line is inserted where
    the gap to the previous line is clearly larger than the page's usual line spacing.
    If the visitor's text disagrees with pypdf's own output, that output is used as is.
    """
    raw: list[tuple[str, float | None, float]] = []
    parts: list[str] = []
    line_y: float | None = None
    line_size = 0.0

    def visit(text: str, cm: Any, tm: Any, font: Any, font_size: Any) -> None:
        nonlocal parts, line_y, line_size
        if not text:
            return
        try:
            y = float(tm[4] * cm[1] + tm[5] * cm[3] + cm[5])
            scale = math.hypot(tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3])
            size = abs(float(font_size)) * scale
        except (TypeError, ValueError, IndexError):
            y, size = math.nan, 0.0
        for index, piece in enumerate(text.split("\n")):
            if index:
                raw.append(("".join(parts), line_y, line_size))
                parts, line_y, line_size = [], None, 0.0
            if piece.strip():
                if line_y is None and not math.isnan(y):
                    line_y = y
                line_size = max(line_size, size)
            parts.append(piece)

    text = page.extract_text(visitor_text=visit) or ""
    raw.append(("".join(parts), line_y, line_size))
    if re.sub(r"\s", "", "".join(t for t, _, _ in raw)) != re.sub(r"\s", "", text):
        return [_PdfLine(line, None, 0.0) for line in text.split("\n")]
    positions = [y for t, y, _ in raw if t.strip() and y is not None]
    # The usual line spacing is the most common gap (ties go to the smaller one), so a
    # few paragraph gaps on a short page cannot pass for the normal spacing.
    gaps: dict[float, int] = {}
    for a, b in itertools.pairwise(positions):
        if a - b > 0:
            key = round(a - b, 1)
            gaps[key] = gaps.get(key, 0) + 1
    usual = min(gaps, key=lambda g: (-gaps[g], g)) if gaps else 0.0
    out: list[_PdfLine] = []
    previous: float | None = None
    for line_text, y, size in raw:
        if not line_text.strip():
            out.append(_PdfLine("", None, 0.0))
            continue
        if previous is not None and y is not None and usual > 0:
            gap = previous - y
            if gap > usual * 1.4 or gap < -usual:  # wide gap, or a jump up (new column)
                out.append(_PdfLine("", None, 0.0))
        out.append(_PdfLine(line_text, y, size))
        previous = y if y is not None else previous
    return out


def _pdf_blocks(lines: list[_PdfLine]) -> list[Block]:
    """Headings from font size, the rest grouped into paragraphs and list items.

    Body size is the size carrying most characters; short lines set clearly larger are
    headings, ranked by size (largest = level 1). Consecutive heading lines of one size
    are one wrapped heading.
    """
    weight: dict[float, int] = {}
    for line in lines:
        if line.size > 0:
            key = round(line.size * 2) / 2
            weight[key] = weight.get(key, 0) + len(line.text)
    body = max(weight, key=lambda k: weight[k]) if weight else 0.0

    def is_heading(line: _PdfLine) -> bool:
        text = line.text.strip()
        return (
            body > 0
            and line.size >= body * 1.15
            and 0 < len(text) <= 150
            and not text.endswith((".", ",", ";"))
        )

    sizes = sorted({round(line.size * 2) / 2 for line in lines if is_heading(line)}, reverse=True)
    levels = {size: min(index + 1, 6) for index, size in enumerate(sizes)}
    blocks: list[Block] = []
    pending: list[str] = []
    for index, line in enumerate(lines):
        if is_heading(line):
            blocks.extend(_lines_to_blocks(pending, reflow=True))
            pending = []
            level = levels[round(line.size * 2) / 2]
            previous = lines[index - 1] if index else None
            if (
                blocks
                and blocks[-1].kind is BlockKind.HEADING
                and blocks[-1].level == level
                and previous is not None
                and is_heading(previous)
            ):
                merged = f"{blocks[-1].text} {_clean_inline(line.text)}"
                blocks[-1] = Block(BlockKind.HEADING, merged, level)
            else:
                blocks.append(Block(BlockKind.HEADING, _clean_inline(line.text), level))
        else:
            pending.append(line.text)
    blocks.extend(_lines_to_blocks(pending, reflow=True))
    return blocks


def _lines_to_blocks(lines: list[str], *, reflow: bool) -> list[Block]:
    """Group raw lines into paragraph and list-item blocks.

    With `reflow`, hard-wrapped lines (PDF, plain text) are joined into one paragraph
    until something looks like a paragraph end; without it each blank-line-separated
    group is one paragraph.
    """
    cleaned = [_WS.sub(" ", line).strip() for line in lines]
    widths = sorted(len(line) for line in cleaned if line)
    typical = widths[int(len(widths) * 0.9)] if widths else 0
    blocks: list[Block] = []
    current: list[str] = []
    current_kind = BlockKind.PARAGRAPH

    def flush() -> None:
        nonlocal current, current_kind
        if current:
            text = _join_wrapped(current)
            if text:
                blocks.append(Block(current_kind, text))
        current = []
        current_kind = BlockKind.PARAGRAPH

    for line in cleaned:
        if not line:
            flush()
            continue
        if _BULLET.match(line):
            flush()
            current_kind = BlockKind.LIST_ITEM
            current.append(line)
            continue
        current.append(line)
        if reflow and typical and _SENTENCE_END.search(line) and len(line) < 0.8 * typical:
            flush()
    flush()
    return blocks


def _join_wrapped(lines: list[str]) -> str:
    """Join wrapped lines, mending 'exam-' + 'ple' hyphenation."""
    out = ""
    for line in lines:
        if not out:
            out = line
        elif re.search(r"\w-$", out) and line[:1].islower():
            out = out[:-1] + line
        else:
            out = f"{out} {line}"
    return out.strip()


# --- DOCX ------------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _extract_docx(data: bytes, limits: UploadLimits) -> tuple[str, list[Block]]:
    """Paragraphs and tables in document order via python-docx.

    python-docx parses with lxml and entity resolution off; `check_upload` has already
    bounded the archive and refused any part with a DTD, so parsing here is safe.
    Headings come from the built-in "Title" / "Heading N" styles (including custom
    styles based on them), list paragraphs from list styles or numbering.
    """
    # Imported here: a parser loads when a file of its kind arrives; web workers never need it.
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ExtractionFailed("This Word document is damaged or cannot be read.") from exc
    title = document.core_properties.title or ""
    title_style_text = ""
    blocks: list[Block] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            text = _table_text(_docx_table_rows(item))
            if text:
                blocks.append(Block(BlockKind.TABLE, text))
            continue
        if not isinstance(item, Paragraph):
            continue
        text = _clean_multiline(item.text)
        if not text:
            continue
        kind, level = _docx_paragraph_role(item)
        if kind is BlockKind.HEADING:
            text = _clean_inline(text)
            if level == 0:
                title_style_text = title_style_text or text
        blocks.append(Block(kind, text, level))
    if title_style_text:
        # A "Title" paragraph sits above "Heading 1", as "# Title" sits above "## Section"
        # in Markdown: make it level 1 and push real headings one level down, so heading
        # paths read the same whatever format the help page came in.
        blocks = [
            Block(b.kind, b.text, b.level + 1) if b.kind is BlockKind.HEADING else b for b in blocks
        ]
    if not title:
        title = title_style_text or next(
            (b.text for b in blocks if b.kind is BlockKind.HEADING and b.level == 1), ""
        )
    return title, blocks


def _docx_table_rows(table: Any) -> Iterator[list[str]]:
    """Cell texts per row; horizontally merged cells appear once, not repeated."""
    for row in table.rows:
        cells: list[str] = []
        last: Any = None
        for cell in row.cells:
            if last is not None and cell._tc is last:  # merged span repeats the cell
                continue
            last = cell._tc
            cells.append(cell.text)
        yield cells


def _docx_paragraph_role(paragraph: Any) -> tuple[BlockKind, int]:
    """Classify a paragraph by its style chain and numbering.

    Returns (HEADING, 0) for the Title style so the caller can treat it as the title.
    """
    style = paragraph.style
    depth = 0
    while style is not None and depth < 6:
        name = (style.name or "").strip()
        lowered = name.lower()
        match = _HEADING_STYLE.match(name)
        if match:
            return BlockKind.HEADING, max(1, int(match.group(1)))
        if lowered == "title":
            return BlockKind.HEADING, 0
        if lowered.startswith("list"):
            return BlockKind.LIST_ITEM, 0
        if "code" in lowered or lowered in {"html preformatted", "plain text"}:
            return BlockKind.CODE, 0
        style = style.base_style
        depth += 1
    if paragraph._p.xpath("./w:pPr/w:numPr"):
        return BlockKind.LIST_ITEM, 0
    outline = paragraph._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    if outline and str(outline[0]).isdigit() and int(outline[0]) < 9:
        return BlockKind.HEADING, int(outline[0]) + 1
    return BlockKind.PARAGRAPH, 0


# --- Markdown --------------------------------------------------------------------------


def _extract_markdown(data: bytes, limits: UploadLimits) -> tuple[str, list[Block]]:
    """Blocks from markdown-it tokens, with YAML front matter removed.

    Front matter would otherwise parse as a rule plus a setext heading made of metadata;
    its `title:` is used as the document title when present. Tables are enabled (GFM
    style, as help centres use them); raw HTML blocks are reduced to their text.
    """
    # Imported here: a parser loads when a file of its kind arrives; web workers never need it.
    from markdown_it import MarkdownIt

    text = decode_text(data, SourceKind.MD).replace("\r\n", "\n")
    title = ""
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group(1).splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "title":
                title = value.strip().strip("\"'")
        text = text[match.end() :]
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    tokens = md.parse(text)
    blocks = _markdown_blocks(tokens)
    if not title:
        title = next((b.text for b in blocks if b.kind is BlockKind.HEADING and b.level == 1), "")
    return title, blocks


def _inline_text(token: Any) -> str:
    """Plain text of an inline token: link and emphasis markup dropped, text kept."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in {"text", "code_inline"}:
            parts.append(child.content)
        elif child.type in {"softbreak", "hardbreak"}:
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
        elif child.type == "html_inline" and child.content.lower().startswith("<br"):
            parts.append("\n")
    return "".join(parts)


def _markdown_blocks(tokens: list[Any]) -> list[Block]:
    blocks: list[Block] = []
    # Each open list item collects its own paragraphs; a nested list flushes the parent
    # first so items keep reading order.
    items: list[list[str]] = []
    item_prefix: list[str] = []
    heading_level = 0
    table_rows: list[list[str]] | None = None
    row: list[str] | None = None

    def flush_item() -> None:
        if items and items[-1]:
            body = _clean_multiline("\n".join(items[-1]))
            if body:
                blocks.append(Block(BlockKind.LIST_ITEM, item_prefix[-1] + body))
            items[-1] = []

    for tok in tokens:
        kind = tok.type
        if kind == "heading_open":
            heading_level = int(tok.tag[1:])
        elif kind == "heading_close":
            heading_level = 0
        elif kind in {"bullet_list_open", "ordered_list_open"}:
            flush_item()
        elif kind == "list_item_open":
            marker = f"{tok.info}{tok.markup} " if tok.info else ""
            items.append([])
            item_prefix.append(marker)
        elif kind == "list_item_close":
            flush_item()
            items.pop()
            item_prefix.pop()
        elif kind == "table_open":
            table_rows = []
        elif kind == "table_close":
            if table_rows is not None:
                text = _table_text(table_rows)
                if text:
                    blocks.append(Block(BlockKind.TABLE, text))
            table_rows = None
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            if table_rows is not None and row is not None:
                table_rows.append(row)
            row = None
        elif kind == "inline":
            content = _inline_text(tok)
            if row is not None:
                row.append(content)
            elif heading_level:
                heading = _clean_inline(content)
                if heading:
                    blocks.append(Block(BlockKind.HEADING, heading, heading_level))
            elif items:
                items[-1].append(content)
            else:
                para = _clean_multiline(content)
                if para:
                    blocks.append(Block(BlockKind.PARAGRAPH, para))
        elif kind in {"fence", "code_block"}:
            code = tok.content.strip("\n")
            if code.strip():
                flush_item()
                blocks.append(Block(BlockKind.CODE, code))
        elif kind == "html_block":
            flush_item()
            inner = _html_fragment_text(tok.content)
            if inner:
                target = BlockKind.LIST_ITEM if items else BlockKind.PARAGRAPH
                blocks.append(Block(target, inner))
    return blocks


def _html_fragment_text(fragment: str) -> str:
    # Imported here: a parser loads when a file of its kind arrives; web workers never need it.
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, "html.parser")
    for tag in soup.find_all(list(_HTML_DROP)):
        tag.decompose()
    return _clean_multiline(soup.get_text("\n"))


# --- HTML ------------------------------------------------------------------------------

_HTML_DROP = frozenset(
    {
        "script", "style", "nav", "footer", "header", "aside", "form", "noscript",
        "template", "svg", "iframe", "button", "input", "select", "textarea", "canvas",
        "object", "embed", "dialog", "menu",
    }
)  # fmt: skip
_HTML_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "body", "blockquote", "ul", "ol", "dl",
        "dt", "dd", "figure", "figcaption", "address", "hr", "br", "details", "summary",
        "fieldset", "legend", "caption", "center", "html",
    }
)  # fmt: skip


def _extract_html(data: bytes, limits: UploadLimits) -> tuple[str, list[Block]]:
    """Readable content of a web page, without site chrome.

    Navigation, headers, footers, sidebars, forms and scripts are dropped because they
    repeat on every page of a site and would pollute retrieval. The rest is walked in
    document order; text sitting directly in <div>s (common on real sites) becomes
    paragraphs too, not only <p>.
    """
    # Imported here: a parser loads when a file of its kind arrives; web workers never need it.
    from bs4 import BeautifulSoup

    text = decode_text(data, SourceKind.HTML)
    soup = BeautifulSoup(text, "lxml")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag is not None else ""
    for tag in soup.find_all(list(_HTML_DROP)):
        tag.decompose()
    for tag in soup.find_all("head"):
        tag.decompose()
    walker = _HtmlWalker()
    walker.walk(soup)
    walker.flush()
    if not title:
        title = next(
            (b.text for b in walker.blocks if b.kind is BlockKind.HEADING and b.level == 1), ""
        )
    return title, walker.blocks


class _HtmlWalker:
    """Recursive walk that accumulates inline text and emits it at block boundaries."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.buffer: list[str] = []
        self.kinds: list[BlockKind] = [BlockKind.PARAGRAPH]

    def flush(self) -> None:
        text = _clean_inline("".join(self.buffer))
        self.buffer = []
        if text:
            self.blocks.append(Block(self.kinds[-1], text))

    def walk(self, node: Any) -> None:
        # Imported here: a parser loads when a file of its kind arrives; web workers never need it.
        from bs4.element import NavigableString, PreformattedString, Tag

        for child in node.children:
            if isinstance(child, PreformattedString):
                continue  # comments, CDATA, doctype, processing instructions
            if isinstance(child, NavigableString):
                self.buffer.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = (child.name or "").lower()
            if re.fullmatch(r"h[1-6]", name):
                self.flush()
                heading = child.get_text(" ", strip=True)
                if heading:
                    self.blocks.append(
                        Block(BlockKind.HEADING, _clean_inline(heading), int(name[1]))
                    )
            elif name == "table":
                self.flush()
                text = _table_text(self._table_rows(child))
                if text:
                    self.blocks.append(Block(BlockKind.TABLE, text))
            elif name == "pre":
                self.flush()
                code = child.get_text().strip("\n")
                if code.strip():
                    self.blocks.append(Block(BlockKind.CODE, code))
            elif name == "li":
                self.flush()
                self.kinds.append(BlockKind.LIST_ITEM)
                self.walk(child)
                self.flush()
                self.kinds.pop()
            elif name in _HTML_BLOCK or name == "[document]":
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.walk(child)

    @staticmethod
    def _table_rows(table: Any) -> Iterator[list[str]]:
        for tr in table.find_all("tr"):
            if tr.find_parent("table") is not table:
                continue  # rows of a nested table are read as cell text of the outer one
            cells = tr.find_all(["th", "td"], recursive=False)
            yield [cell.get_text(" ", strip=True) for cell in cells]


# --- TXT and CSV -----------------------------------------------------------------------


def _extract_txt(data: bytes, limits: UploadLimits) -> tuple[str, list[Block]]:
    """Paragraphs split on blank lines; hard-wrapped lines inside one are rejoined."""
    text = decode_text(data, SourceKind.TXT).replace("\r\n", "\n").replace("\r", "\n")
    return "", _lines_to_blocks(text.split("\n"), reflow=False)


def _extract_csv(data: bytes, limits: UploadLimits) -> tuple[str, list[Block]]:
    """Rows as 'column: value; column: value' lines, ~20 rows per table block.

    Naming every value with its column keeps a row meaningful even when a chunk holds
    only part of the table; the first line of each block is the header row so a block
    reads like the other tables.
    """
    text = decode_text(data, SourceKind.CSV)
    sample = text[:16384]
    try:
        dialect: type[csv.Dialect] = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    if not rows:
        return "", []
    header = [_clean_inline(h) for h in rows[0]]
    blocks: list[Block] = []
    lines: list[str] = []

    def flush() -> None:
        if lines:
            blocks.append(Block(BlockKind.TABLE, "\n".join([" | ".join(header), *lines])))
            lines.clear()

    for row in rows[1:]:
        pairs: list[str] = []
        for index, value in enumerate(row):
            value = _clean_inline(value)
            if not value:
                continue
            name = header[index] if index < len(header) and header[index] else f"column {index + 1}"
            pairs.append(f"{name}: {value}")
        if pairs:
            lines.append("; ".join(pairs))
        if len(lines) >= CSV_ROWS_PER_BLOCK:
            flush()
    flush()
    if not blocks and any(header):
        blocks.append(Block(BlockKind.TABLE, " | ".join(header)))
    return "", blocks


_EXTRACTORS: dict[SourceKind, _Extractor] = {
    SourceKind.PDF: _extract_pdf,
    SourceKind.DOCX: _extract_docx,
    SourceKind.MD: _extract_markdown,
    SourceKind.HTML: _extract_html,
    SourceKind.TXT: _extract_txt,
    SourceKind.CSV: _extract_csv,
}
