"""Upload checks that run before any parser sees the bytes.

Knowledge files come from tenants, so every byte is untrusted. Parsers for PDF, Word
and HTML are large and have a history of pathological inputs (zip bombs, XML entity
bombs, mislabelled binaries), so this module answers the cheap questions first — is the
file too big, is it really what its name says, would it expand to something huge — using
only the file's bytes and a zip central directory, never by decompressing or parsing the
document itself. Every refusal is an `UploadRejected` whose message is written for the
person who uploaded the file, not for a developer.
"""

from __future__ import annotations

import io
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from xml.sax.handler import ContentHandler

import charset_normalizer
import defusedxml.sax
from defusedxml import DefusedXmlException

from backend_services.core.errors import ValidationFailed
from backend_services.core.units import MIB, format_size


class SourceKind(StrEnum):
    """The document formats the knowledge base accepts.

    A `StrEnum` so the value can be stored and compared as a plain string ("pdf").
    """

    PDF = "pdf"
    DOCX = "docx"
    TXT = "txt"
    MD = "md"
    HTML = "html"
    CSV = "csv"


_EXTENSIONS: dict[str, SourceKind] = {
    ".pdf": SourceKind.PDF,
    ".docx": SourceKind.DOCX,
    ".txt": SourceKind.TXT,
    ".text": SourceKind.TXT,
    ".md": SourceKind.MD,
    ".markdown": SourceKind.MD,
    ".html": SourceKind.HTML,
    ".htm": SourceKind.HTML,
    ".csv": SourceKind.CSV,
}

ACCEPTED_TYPES = (
    "PDF (.pdf), Word (.docx), plain text (.txt), Markdown (.md), "
    "web pages (.html) and CSV tables (.csv)"
)

# Formats people often try; a specific hint beats a generic "not accepted".
_CONVERT_HINTS: dict[str, str] = {
    ".doc": "Old Word .doc files can't be read. Open the file in Word, save it as .docx "
    "and upload it again.",
    ".rtf": "RTF files can't be read. Save the file as .docx or .txt and upload it again.",
    ".odt": "OpenDocument files can't be read. Save the file as .docx and upload it again.",
    ".xls": "Excel files can't be read directly. Save the sheet as CSV (.csv) and upload that.",
    ".xlsx": "Excel files can't be read directly. Save the sheet as CSV (.csv) and upload that.",
    ".pages": "Pages files can't be read. Export the document as PDF or .docx and upload that.",
}

# Signatures of common binary formats, so a renamed file gets a message naming what it
# really is instead of a vague "not text".
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a compressed archive (for example a Word or Excel file)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x7fELF", "a program"),
    (b"\x1f\x8b", "a compressed (gzip) file"),
    (b"Rar!\x1a\x07", "a compressed (RAR) archive"),
    (b"7z\xbc\xaf\x27\x1c", "a compressed (7-Zip) archive"),
)

_DOCX_REQUIRED = ("[Content_Types].xml", "word/document.xml")

# Entries smaller than this cannot do harm however well they compress, and tiny XML
# parts legitimately reach high ratios; the ratio test only applies above it.
_RATIO_MIN_ENTRY_BYTES = MIB

_HTML_MARKERS = re.compile(
    r"<\s*(?:!doctype\s+html|html|head|body|title|meta|div|p|h[1-6]|table|ul|ol|span|"
    r"a|section|article|main|br|img|strong|em)\b",
    re.IGNORECASE,
)

# C0 controls other than tab, newline, vertical tab, form feed and carriage return
# almost never appear in real text; a noticeable share of them means binary data.
_ALLOWED_CONTROLS = frozenset("\t\n\x0b\x0c\r")
_MAX_CONTROL_SHARE = 0.01


class UploadRejected(ValidationFailed):
    """A file was refused before parsing; `message` is safe to show to the uploader."""

    code = "upload_rejected"


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Per-upload ceilings.

    Defaults suit a help-centre knowledge base: generous for real manuals, far below
    what would let one upload exhaust a worker's memory or CPU. They are a parameter so
    a plan or a test can tighten them.
    """

    max_file_bytes: int = 20 * MIB
    max_pdf_pages: int = 500
    max_zip_uncompressed_bytes: int = 100 * MIB
    max_zip_entries: int = 2000
    max_zip_ratio: int = 100
    # Caps the text a parser may produce, so a small but pathological PDF cannot turn
    # into gigabytes of extracted text.
    max_extracted_chars: int = 10_000_000


def kind_for_filename(filename: str) -> SourceKind:
    """Decide the format from the extension, or refuse with the list of accepted types.

    The extension is what the user chose and sees, so it decides the format; the
    content is then required to agree with it (see `check_upload`).
    """
    name = PurePosixPath(filename.replace("\\", "/")).name
    suffix = PurePosixPath(name).suffix.lower()
    if not suffix:
        raise UploadRejected(
            f'"{name or filename}" has no file extension, so its type is unknown. '
            f"Accepted types: {ACCEPTED_TYPES}."
        )
    kind = _EXTENSIONS.get(suffix)
    if kind is not None:
        return kind
    if suffix in _CONVERT_HINTS:
        raise UploadRejected(_CONVERT_HINTS[suffix])
    raise UploadRejected(
        f"Files of type {suffix} can't be added. Accepted types: {ACCEPTED_TYPES}."
    )


def check_upload(data: bytes, filename: str, limits: UploadLimits | None = None) -> SourceKind:
    """Refuse unsafe or mislabelled uploads and return the file's format.

    Runs before any document parser: size first (cheapest), then the extension, then a
    content sniff that must agree with the extension. Raises `UploadRejected`.
    """
    limits = limits or UploadLimits()
    if len(data) > limits.max_file_bytes:
        raise UploadRejected(
            f"This file is {format_size(len(data), round_up=True)}; "
            f"the limit is {format_size(limits.max_file_bytes)}."
        )
    kind = kind_for_filename(filename)
    if not data:
        raise UploadRejected("This file is empty.")
    if kind is SourceKind.PDF:
        _check_pdf(data)
    elif kind is SourceKind.DOCX:
        _check_docx(data, limits)
    else:
        text = decode_text(data, kind)
        if kind is SourceKind.HTML and not _HTML_MARKERS.search(text[:65536]):
            raise UploadRejected("This .html file does not look like a web page.")
    return kind


def _check_pdf(data: bytes) -> None:
    """A PDF must carry the %PDF- header (readers allow it within the first 1 KB)."""
    if b"%PDF-" not in data[:1024]:
        raise UploadRejected(f"This .pdf file is not a real PDF document{_really(data)}.")


def _really(data: bytes) -> str:
    """Phrase naming what a mislabelled file actually is, when we can tell."""
    for signature, what in _BINARY_SIGNATURES:
        if data.startswith(signature):
            return f" — it is actually {what}"
    return ""


def _check_docx(data: bytes, limits: UploadLimits) -> None:
    """Validate a .docx from its zip directory before anything is decompressed.

    The central directory declares every entry's sizes; zipfile enforces the declared
    uncompressed size and CRC when reading, so bounding the declared figures bounds
    what any later reader (python-docx) can inflate. Only after that do we inflate the
    XML parts, bounded, to refuse DTDs and entity declarations (XML bombs, external
    entities), which a genuine Word document never contains.
    """
    not_word = "This .docx file is not a real Word document"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        # Word stores password-protected .docx files in this older container format.
        raise UploadRejected(
            "This Word document is password-protected or saved in the old .doc format. "
            "Remove the password or save it as .docx, then upload it again."
        )
    if not data.startswith(b"PK"):
        raise UploadRejected(f"{not_word}{_really(data)}.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise UploadRejected(f"{not_word}: it is damaged or not a Word file.") from exc
    with archive:
        infos = archive.infolist()
        _check_zip_directory(infos, limits)
        names = {info.filename for info in infos}
        if not all(required in names for required in _DOCX_REQUIRED):
            raise UploadRejected(f"{not_word}.")
        for info in infos:
            lowered = info.filename.lower()
            if not (lowered.endswith(".xml") or lowered.endswith(".rels")):
                continue
            try:
                # Streaming SAX: memory stays flat however large the part is.
                with archive.open(info) as stream:
                    defusedxml.sax.parse(stream, ContentHandler(), forbid_dtd=True)
            except DefusedXmlException as exc:
                raise UploadRejected(
                    "This Word document contains unsafe content and was refused."
                ) from exc
            except Exception as exc:  # any inflate or XML error means a damaged file
                raise UploadRejected("This Word document is damaged or cannot be read.") from exc


def _check_zip_directory(infos: list[zipfile.ZipInfo], limits: UploadLimits) -> None:
    """Bound entry count, declared total size and compression ratio; refuse odd names."""
    unsafe = "refused as unsafe."
    if len(infos) > limits.max_zip_entries:
        raise UploadRejected(
            f"This archive contains {len(infos)} files (the limit is "
            f"{limits.max_zip_entries}) — {unsafe}"
        )
    total = 0
    seen: set[str] = set()
    for info in infos:
        if _unsafe_member_name(info.filename) or info.filename in seen:
            raise UploadRejected(f"This archive contains a file with a suspicious name — {unsafe}")
        seen.add(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UploadRejected(f"This archive contains a link to another file — {unsafe}")
        if info.flag_bits & 0x1:
            raise UploadRejected(
                "This document is password-protected. Remove the password and upload it again."
            )
        total += info.file_size
        if total > limits.max_zip_uncompressed_bytes:
            raise UploadRejected(
                f"This archive would expand to over "
                f"{format_size(limits.max_zip_uncompressed_bytes)} — {unsafe}"
            )
        if info.file_size >= _RATIO_MIN_ENTRY_BYTES and (
            info.file_size > limits.max_zip_ratio * max(info.compress_size, 1)
        ):
            raise UploadRejected(
                f"This archive is compressed over {limits.max_zip_ratio} times, which is "
                f"typical of a zip bomb — {unsafe}"
            )


def _unsafe_member_name(name: str) -> bool:
    """Absolute paths, drive letters, '..' parts and control characters are never legit."""
    if not name or "\x00" in name or name.startswith(("/", "\\")):
        return True
    if re.match(r"^[A-Za-z]:", name):
        return True
    parts = re.split(r"[/\\]", name)
    return any(part == ".." for part in parts)


def decode_text(data: bytes, kind: SourceKind = SourceKind.TXT) -> str:
    """Decode an uploaded text file, or refuse it as not being text.

    UTF-8 is tried first because it is the overwhelming majority and decoding it
    strictly is an excellent text test; a BOM selects UTF-16/32 (Windows Notepad);
    otherwise charset-normalizer guesses a legacy encoding (cp1251, latin-1 …). NUL
    bytes and a noticeable share of control characters mean binary data renamed to a
    text extension. Shared with `extract` so both decode identically.
    """
    ext = f".{kind.value}"
    for signature, what in _BINARY_SIGNATURES:
        if data.startswith(signature):
            raise UploadRejected(f"This {ext} file is actually {what}, not text.")
    text: str | None = None
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        text = _try_decode(data, "utf-32")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _try_decode(data, "utf-16")
    elif b"\x00" in data:
        raise UploadRejected(f"This {ext} file does not contain readable text.")
    else:
        text = _try_decode(data, "utf-8-sig")
        if text is None:
            best = charset_normalizer.from_bytes(data).best()
            text = None if best is None else str(best)
    if text is None:
        raise UploadRejected(
            f"The text in this {ext} file could not be read. Save it with UTF-8 encoding "
            "and upload it again."
        )
    if "\x00" in text or _control_share(text) > _MAX_CONTROL_SHARE:
        raise UploadRejected(f"This {ext} file does not contain readable text.")
    return text


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _control_share(text: str) -> float:
    if not text:
        return 0.0
    sample = text[:200_000]
    controls = sum(
        1 for ch in sample if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) == "Cc"
    )
    return controls / len(sample)
