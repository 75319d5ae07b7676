"""Upload safety checks and structure-aware extraction, on real files.

Files are generated here (a hand-written PDF, python-docx documents, zip bombs built
with zipfile) or taken from the real help pages in shared/sample-knowledge, so nothing
depends on stored binaries.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from backend_services.core.errors import ValidationFailed
from backend_services.core.units import format_size
from backend_services.knowledge.extract import (
    Block,
    BlockKind,
    ExtractedDocument,
    ExtractionFailed,
    extract,
)
from backend_services.knowledge.safety import (
    SourceKind,
    UploadLimits,
    UploadRejected,
    check_upload,
)

# shared/ sits beside the work tree (and beside CI's fresh clone).
SAMPLES = Path(__file__).resolve().parents[2] / "replyx_app" / "demo_knowledge"
MIB = 1024 * 1024


def ingest(data: bytes, filename: str, limits: UploadLimits | None = None) -> ExtractedDocument:
    """The real pipeline order: safety checks, then extraction."""
    kind = check_upload(data, filename, limits)
    return extract(data, kind, filename, limits)


def texts(doc: ExtractedDocument, kind: BlockKind) -> list[str]:
    return [b.text for b in doc.blocks if b.kind is kind]


# --- generators ------------------------------------------------------------------------


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


PdfLine = str | tuple[int, str]


def make_pdf(pages: list[list[PdfLine]], title: str | None = None) -> bytes:
    """A minimal valid PDF written by hand: Helvetica text, one line per `Tj`.

    A line given as (size, text) is set in that font size, like a heading.
    """
    objects: dict[int, bytes] = {}
    count = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(count))
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[2] = f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode()
    objects[3] = (
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    for i, lines in enumerate(pages):
        page_id, content_id = 4 + 2 * i, 5 + 2 * i
        ops = " ".join(
            f"({_pdf_escape(line)}) Tj T*"
            if isinstance(line, str)
            else f"/F1 {line[0]} Tf ({_pdf_escape(line[1])}) Tj T* /F1 11 Tf"
            for line in lines
        )
        stream = f"BT /F1 11 Tf 14 TL 72 760 Td {ops} ET".encode("latin-1")
        objects[page_id] = (
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>"
        ).encode()
        objects[content_id] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    info_id = 0
    if title:
        info_id = 4 + 2 * count
        objects[info_id] = f"<< /Title ({_pdf_escape(title)}) >>".encode("latin-1")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for oid in sorted(objects):
        offsets[oid] = len(out)
        out += b"%d 0 obj\n" % oid + objects[oid] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for oid in range(1, size):
        out += b"%010d 00000 n \n" % offsets[oid]
    info = f" /Info {info_id} 0 R" if info_id else ""
    out += f"trailer\n<< /Size {size} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


GUIDE_PAGES: list[list[PdfLine]] = [
    [
        (18, "Refund policy"),
        "",
        "Refunds are available for annual plans within 30 days of purchase. Contact",
        "support with your invoice number and we will process the request.",
        "",
        "Monthly plans are not refunded, but you can cancel at any time and keep",
        "access until the end of the paid period.",
    ],
    ["Invoices are sent by email after every payment."],
]


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Customer guide", 0)
    document.add_heading("Billing", 1)
    document.add_paragraph("We bill monthly. Invoices are emailed after each payment.")
    document.add_heading("Refunds", 2)
    document.add_paragraph("Refunds take up to 14 days to appear on your card.")
    document.add_paragraph("Open Settings", style="List Bullet")
    document.add_paragraph("Click Request refund", style="List Bullet")
    table = document.add_table(rows=3, cols=2)
    for r, row in enumerate([("Plan", "Price"), ("Basic", "$9"), ("Pro", "$19")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("Questions? Write to support.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_zip(entries: dict[str, bytes], *, level: int = 9) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def make_zero_bomb(zero_bytes: int, extra: dict[str, bytes] | None = None) -> bytes:
    """A .docx-looking zip whose document.xml is `zero_bytes` of zeros, streamed in."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\x00" * MIB
            remaining = zero_bytes
            while remaining > 0:
                member.write(block[: min(MIB, remaining)])
                remaining -= MIB
    return buffer.getvalue()


# --- PDF -------------------------------------------------------------------------------


def test_pdf_extracted_into_paragraphs_with_metadata_title() -> None:
    data = make_pdf(GUIDE_PAGES, title="Refund guide")
    assert check_upload(data, "guide.pdf") is SourceKind.PDF
    doc = ingest(data, "guide.pdf")
    assert doc.title == "Refund guide"
    assert doc.blocks[0] == Block(BlockKind.HEADING, "Refund policy", 1)
    paragraphs = texts(doc, BlockKind.PARAGRAPH)
    assert paragraphs == [
        "Refunds are available for annual plans within 30 days of purchase. Contact support "
        "with your invoice number and we will process the request.",
        "Monthly plans are not refunded, but you can cancel at any time and keep access until "
        "the end of the paid period.",
        "Invoices are sent by email after every payment.",
    ]


def test_pdf_without_title_uses_file_name() -> None:
    doc = ingest(make_pdf(GUIDE_PAGES), "Refund_policy.pdf")
    assert doc.title == "Refund policy"


def test_pdf_running_headers_and_page_numbers_dropped() -> None:
    pages: list[list[PdfLine]] = [
        ["ACME Handbook", "", f"Section {n} explains", f"topic {n} in", "plain words.", "", str(n)]
        for n in range(1, 5)
    ]
    doc = ingest(make_pdf(pages), "handbook.pdf")
    assert [b.text for b in doc.blocks] == [
        "ACME Handbook",
        "Section 1 explains topic 1 in plain words.",
        "Section 2 explains topic 2 in plain words.",
        "Section 3 explains topic 3 in plain words.",
        "Section 4 explains topic 4 in plain words.",
    ]


def test_pdf_page_limit_enforced() -> None:
    data = make_pdf([["Page text."]] * 4)
    with pytest.raises(UploadRejected) as err:
        ingest(data, "long.pdf", UploadLimits(max_pdf_pages=3))
    assert err.value.message == "This PDF has 4 pages; the limit is 3."


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n" + bytes(range(256)) * 40,
        make_pdf(GUIDE_PAGES)[:150],
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n",
    ],
    ids=["garbage", "truncated", "no-pages"],
)
def test_corrupt_pdf_fails_with_plain_message(data: bytes) -> None:
    assert check_upload(data, "broken.pdf") is SourceKind.PDF  # header is fine
    with pytest.raises(ExtractionFailed) as err:
        extract(data, SourceKind.PDF, "broken.pdf")
    assert err.value.message == "This PDF is damaged or cannot be read."
    assert err.value.__cause__ is not None  # the technical cause is kept for logs only


def test_password_protected_pdf_refused() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(GUIDE_PAGES))))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(ExtractionFailed) as err:
        ingest(buffer.getvalue(), "locked.pdf")
    assert "password-protected" in err.value.message


def test_pdf_restricted_only_by_owner_password_is_read() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(GUIDE_PAGES))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    doc = ingest(buffer.getvalue(), "restricted.pdf")
    assert "Invoices are sent by email after every payment." in texts(doc, BlockKind.PARAGRAPH)


def test_scanned_pdf_without_text_reports_no_text() -> None:
    with pytest.raises(ExtractionFailed) as err:
        ingest(make_pdf([[]]), "scan.pdf")
    assert err.value.message == "No text could be found in this file."


# --- DOCX ------------------------------------------------------------------------------


def test_docx_headings_lists_and_tables_in_order() -> None:
    doc = ingest(make_docx(), "guide.docx")
    assert doc.title == "Customer guide"
    summary = [(b.kind.value, b.level, b.text) for b in doc.blocks]
    assert summary == [
        ("heading", 1, "Customer guide"),
        ("heading", 2, "Billing"),
        ("paragraph", 0, "We bill monthly. Invoices are emailed after each payment."),
        ("heading", 3, "Refunds"),
        ("paragraph", 0, "Refunds take up to 14 days to appear on your card."),
        ("list_item", 0, "Open Settings"),
        ("list_item", 0, "Click Request refund"),
        ("table", 0, "Plan | Price\nBasic | $9\nPro | $19"),
        ("paragraph", 0, "Questions? Write to support."),
    ]


def test_docx_heading_levels_kept_without_title_style() -> None:
    document = docx.Document()
    document.core_properties.title = "Shipping FAQ"
    document.add_heading("Delivery", 1)
    document.add_heading("Express", 2)
    document.add_paragraph("Express delivery takes one day.")
    buffer = io.BytesIO()
    document.save(buffer)
    doc = ingest(buffer.getvalue(), "faq.docx")
    assert doc.title == "Shipping FAQ"
    assert [(b.kind.value, b.level) for b in doc.blocks] == [
        ("heading", 1),
        ("heading", 2),
        ("paragraph", 0),
    ]


def test_zip_bomb_disguised_as_docx_refused_before_decompressing() -> None:
    bomb = make_zero_bomb(120 * MIB)
    assert len(bomb) < 1 * MIB  # tiny on disk
    with pytest.raises(UploadRejected) as err:
        check_upload(bomb, "report.docx")
    assert err.value.message == "This archive would expand to over 100 MB — refused as unsafe."


def test_highly_compressed_entry_refused_as_bomb() -> None:
    bomb = make_zero_bomb(30 * MIB)  # under the size limit, but ~1000:1
    with pytest.raises(UploadRejected) as err:
        check_upload(bomb, "report.docx")
    assert err.value.message == (
        "This archive is compressed over 100 times, which is typical of a zip bomb — "
        "refused as unsafe."
    )


def test_zip_with_too_many_entries_refused() -> None:
    entries = {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<d/>"}
    entries.update({f"word/media/{i}.xml": b"<x/>" for i in range(30)})
    with pytest.raises(UploadRejected) as err:
        check_upload(make_zip(entries), "many.docx", UploadLimits(max_zip_entries=10))
    assert err.value.message == (
        "This archive contains 32 files (the limit is 10) — refused as unsafe."
    )


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path.xml", "word\\..\\..\\x.xml"])
def test_zip_with_path_traversal_names_refused(name: str) -> None:
    data = make_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<d/>", name: b"x"})
    with pytest.raises(UploadRejected) as err:
        check_upload(data, "evil.docx")
    assert "suspicious name" in err.value.message


def test_docx_with_xml_entity_bomb_refused() -> None:
    billion_laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<w:document>&lol2;</w:document>"
    )
    data = make_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": billion_laughs})
    with pytest.raises(UploadRejected) as err:
        check_upload(data, "lol.docx")
    assert err.value.message == "This Word document contains unsafe content and was refused."


def test_docx_with_malformed_xml_refused_as_damaged() -> None:
    data = make_zip(
        {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document><w:body>"}
    )
    with pytest.raises(UploadRejected) as err:
        check_upload(data, "cut.docx")
    assert err.value.message == "This Word document is damaged or cannot be read."


def test_pdf_renamed_to_docx_refused() -> None:
    with pytest.raises(UploadRejected) as err:
        check_upload(make_pdf(GUIDE_PAGES), "contract.docx")
    assert err.value.message == (
        "This .docx file is not a real Word document — it is actually a PDF document."
    )


def test_password_protected_word_file_gets_a_specific_message() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    with pytest.raises(UploadRejected) as err:
        check_upload(ole, "secret.docx")
    assert err.value.message.startswith("This Word document is password-protected")


def test_plain_zip_renamed_to_docx_refused() -> None:
    with pytest.raises(UploadRejected) as err:
        check_upload(make_zip({"notes.txt": b"hello"}), "notes.docx")
    assert err.value.message == "This .docx file is not a real Word document."


def test_docx_with_unexpected_xml_fails_cleanly() -> None:
    source = zipfile.ZipFile(io.BytesIO(make_docx()))
    entries = {
        info.filename: b"<foo/>" if info.filename == "word/document.xml" else source.read(info)
        for info in source.infolist()
    }
    data = make_zip(entries)
    assert check_upload(data, "odd.docx") is SourceKind.DOCX
    with pytest.raises(ExtractionFailed) as err:
        extract(data, SourceKind.DOCX, "odd.docx")
    assert err.value.message == "This Word document is damaged or cannot be read."
    assert "Traceback" not in err.value.message and "Error" not in err.value.message


# --- text kinds and renamed binaries ---------------------------------------------------


def test_binary_renamed_to_txt_refused() -> None:
    with pytest.raises(UploadRejected) as err:
        check_upload(bytes(range(256)) * 8, "notes.txt")
    assert err.value.message == "This .txt file does not contain readable text."


def test_pdf_renamed_to_txt_refused() -> None:
    with pytest.raises(UploadRejected) as err:
        check_upload(make_pdf(GUIDE_PAGES), "notes.txt")
    assert err.value.message == "This .txt file is actually a PDF document, not text."


def test_image_renamed_to_md_refused() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x01" * 40
    with pytest.raises(UploadRejected) as err:
        check_upload(png, "help.md")
    assert err.value.message == "This .md file is actually a PNG image, not text."


def test_text_renamed_to_pdf_refused() -> None:
    with pytest.raises(UploadRejected) as err:
        check_upload(b"just some words", "manual.pdf")
    assert err.value.message == "This .pdf file is not a real PDF document."


def test_html_must_look_like_html() -> None:
    with pytest.raises(UploadRejected) as err:
        check_upload(b"Refunds take 14 days.\nNo markup here.", "page.html")
    assert err.value.message == "This .html file does not look like a web page."


def test_oversized_file_refused_with_sizes() -> None:
    with pytest.raises(UploadRejected) as err:
        check_upload(b"a" * (21 * MIB), "big.txt")
    assert err.value.message == "This file is 21 MB; the limit is 20 MB."


def test_just_over_the_limit_never_reads_as_equal() -> None:
    assert format_size(20 * MIB + 1, round_up=True) == "20.1 MB"
    assert format_size(350 * 1024) == "350 KB"
    assert format_size(int(2.5 * 1024 * MIB)) == "2.5 GB"  # the System page's databases
    assert format_size(-12 * 1024) == "-12 KB"  # a table that shrank
    with pytest.raises(UploadRejected) as err:
        check_upload(b"x" * 2048, "small.txt", UploadLimits(max_file_bytes=1024))
    assert err.value.message == "This file is 2 KB; the limit is 1 KB."


def test_empty_file_refused() -> None:
    with pytest.raises(UploadRejected) as err:
        check_upload(b"", "empty.txt")
    assert err.value.message == "This file is empty."


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("virus.exe", "Files of type .exe can't be added. Accepted types: PDF (.pdf), Word"),
        ("README", '"README" has no file extension, so its type is unknown. Accepted types:'),
        ("old.doc", "Old Word .doc files can't be read. Open the file in Word, save it as .docx"),
        ("prices.xlsx", "Excel files can't be read directly. Save the sheet as CSV (.csv)"),
    ],
)
def test_unknown_extension_lists_accepted_types(filename: str, expected: str) -> None:
    with pytest.raises(UploadRejected) as err:
        check_upload(b"data", filename)
    assert err.value.message.startswith(expected)


def test_rejections_are_domain_validation_errors() -> None:
    assert issubclass(UploadRejected, ValidationFailed)
    assert issubclass(ExtractionFailed, ValidationFailed)


def test_txt_paragraphs_split_on_blank_lines() -> None:
    data = (
        b"Shipping takes 3 days.\nExpress is next day.\n\n\n"
        b"Returns are free within\na month.\n\n- Pack the item\n- Print the label\n"
    )
    doc = ingest(data, "shipping_notes.txt")
    assert doc.title == "shipping notes"
    assert [(b.kind.value, b.text) for b in doc.blocks] == [
        ("paragraph", "Shipping takes 3 days. Express is next day."),
        ("paragraph", "Returns are free within a month."),
        ("list_item", "- Pack the item"),
        ("list_item", "- Print the label"),
    ]


def test_txt_in_legacy_cyrillic_encoding_is_decoded() -> None:
    text = (
        "Возврат средств выполняется в течение десяти рабочих дней после получения "
        "заявления. Деньги поступают на ту же банковскую карту, с которой была "
        "произведена оплата услуг."
    )
    doc = ingest(text.encode("cp1251"), "возврат.txt")
    assert texts(doc, BlockKind.PARAGRAPH) == [text]


def test_utf16_text_with_bom_is_accepted() -> None:
    doc = ingest("Hello from Notepad.\r\n".encode("utf-16"), "note.txt")
    assert texts(doc, BlockKind.PARAGRAPH) == ["Hello from Notepad."]


def test_whitespace_only_text_has_no_text() -> None:
    with pytest.raises(ExtractionFailed) as err:
        ingest(b"   \n\n\t\n", "blank.txt")
    assert err.value.message == "No text could be found in this file."


# --- HTML ------------------------------------------------------------------------------

HTML_PAGE = """<!DOCTYPE html>
<html><head><title>Help centre — Refunds</title><style>p{color:red}</style>
<script>var tracking = "secret";</script></head>
<body>
<header><a href="/">Home</a> Sign in</header>
<nav><ul><li>Docs</li><li>Pricing</li></ul></nav>
<main>
  <h1>Refunds</h1>
  <p>Refunds are issued to the original <b>payment method</b>.</p>
  <div>Text directly in a div is content too.</div>
  <h2>Steps</h2>
  <ol><li>Open <a href="/billing">Billing</a></li><li>Click <em>Refund</em></li></ol>
  <table><tr><th>Plan</th><th>Refund window</th></tr>
         <tr><td>Annual</td><td>30 days</td></tr></table>
  <pre>curl -X POST /refunds</pre>
  <form><input name="q"><button>Search</button></form>
</main>
<aside>Related articles</aside>
<footer>© 2026 Example Inc.</footer>
</body></html>"""


def test_html_content_without_site_chrome() -> None:
    doc = ingest(HTML_PAGE.encode(), "refunds.html")
    assert doc.title == "Help centre — Refunds"
    assert [(b.kind.value, b.level, b.text) for b in doc.blocks] == [
        ("heading", 1, "Refunds"),
        ("paragraph", 0, "Refunds are issued to the original payment method."),
        ("paragraph", 0, "Text directly in a div is content too."),
        ("heading", 2, "Steps"),
        ("list_item", 0, "Open Billing"),
        ("list_item", 0, "Click Refund"),
        ("table", 0, "Plan | Refund window\nAnnual | 30 days"),
        ("code", 0, "curl -X POST /refunds"),
    ]
    everything = " ".join(b.text for b in doc.blocks)
    for chrome in ("tracking", "Sign in", "Pricing", "Related articles", "2026", "Search"):
        assert chrome not in everything


def test_html_title_falls_back_to_first_h1() -> None:
    doc = ingest(b"<html><body><h1>Contact us</h1><p>Mail us.</p></body></html>", "c.htm")
    assert doc.title == "Contact us"


def test_html_with_only_scripts_has_no_text() -> None:
    with pytest.raises(ExtractionFailed) as err:
        ingest(b"<html><body><script>alert(1)</script></body></html>", "empty.html")
    assert err.value.message == "No text could be found in this file."


# --- Markdown --------------------------------------------------------------------------


def test_markdown_structure() -> None:
    source = """---
title: Account help
lang: en
---

# Account

Intro paragraph with a [link](https://example.com) and `code`.

## Steps

1. Open **Settings**
2. Choose *Security*
   - Enable 2FA

| Setting | Default |
|---|---|
| 2FA | off |

```bash
replyx login
```
"""
    doc = ingest(source.encode(), "account.md")
    assert doc.title == "Account help"
    assert [(b.kind.value, b.level, b.text) for b in doc.blocks] == [
        ("heading", 1, "Account"),
        ("paragraph", 0, "Intro paragraph with a link and code."),
        ("heading", 2, "Steps"),
        ("list_item", 0, "1. Open Settings"),
        ("list_item", 0, "2. Choose Security"),
        ("list_item", 0, "Enable 2FA"),
        ("table", 0, "Setting | Default\n2FA | off"),
        ("code", 0, "replyx login"),
    ]


def _sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*/*.md"))


def test_sample_knowledge_is_present() -> None:
    files = _sample_files()
    assert any(p.parent.name == "plausible" for p in files)
    assert any(p.parent.name == "vkcloud" for p in files)


@pytest.mark.parametrize("path", _sample_files(), ids=lambda p: p.name)
def test_real_help_pages_extract(path: Path) -> None:
    data = path.read_bytes()
    doc = ingest(data, path.name)
    first_h1 = next(
        line[2:].strip() for line in data.decode().splitlines() if line.startswith("# ")
    )
    assert doc.title == first_h1
    assert doc.blocks[0].kind is BlockKind.HEADING and doc.blocks[0].level == 1
    assert texts(doc, BlockKind.PARAGRAPH)
    joined = "\n".join(b.text for b in doc.blocks)
    assert "origin:" not in joined and "source: https" not in joined  # front matter dropped
    if path.parent.name == "vkcloud":
        assert any("а" <= ch <= "я" for ch in joined)


def test_russian_help_page_keeps_structure() -> None:
    doc = ingest((SAMPLES / "vkcloud" / "vkcloud-billing-faq.md").read_bytes(), "faq.md")
    assert doc.title == "Вопросы и ответы"
    headings = [(b.level, b.text) for b in doc.blocks if b.kind is BlockKind.HEADING]
    assert (2, "Оплата, возврат, бонусы") in headings
    assert (3, "Как получить бонусы за регистрацию в личном кабинете?") in headings


def test_english_help_page_table_extracted_whole() -> None:
    path = SAMPLES / "plausible" / "plausible-data-access.md"
    doc = ingest(path.read_bytes(), path.name)
    table = texts(doc, BlockKind.TABLE)[0]
    lines = table.split("\n")
    assert lines[0] == "I want to... | Option"
    assert "Query stats programmatically or build a custom dashboard | Stats API" in lines
    assert len(lines) == 11


# --- CSV -------------------------------------------------------------------------------


def test_csv_rows_become_labelled_lines_in_groups_of_20() -> None:
    rows = ["sku;name;price"] + [f"A{i};Widget {i};{i}.00" for i in range(45)]
    doc = ingest("\n".join(rows).encode(), "price_list.csv")
    tables = texts(doc, BlockKind.TABLE)
    assert len(tables) == 3
    first = tables[0].split("\n")
    assert first[0] == "sku | name | price"
    assert first[1] == "sku: A0; name: Widget 0; price: 0.00"
    assert len(first) == 21
    assert tables[2].split("\n")[-1] == "sku: A44; name: Widget 44; price: 44.00"


def test_csv_with_quoted_commas_and_missing_values() -> None:
    data = b'question,answer\n"Can I pay by card, or PayPal?",Both work.\nEmpty answer,\n'
    doc = ingest(data, "faq.csv")
    assert texts(doc, BlockKind.TABLE) == [
        "question | answer\n"
        "question: Can I pay by card, or PayPal?; answer: Both work.\n"
        "question: Empty answer"
    ]
