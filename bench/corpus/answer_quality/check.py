"""Validate the answer-quality evaluation sets in this folder.

Run as ``python bench/corpus/answer_quality/check.py`` (Python 3.11+, stdlib only).
Prints a counts table and exits 1 with one message per problem if anything is wrong.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LANGS = ("en", "ru")
SPLITS = ("dev", "test")
SPLIT_TOLERANCE = 0.15  # dev share within each kind x lang: 0.5 +/- this (or off by one)
MIN_QUOTE_CHARS = 20
MIN_QUESTIONS_PER_PAGE = 4

Record = dict[str, Any]


def knowledge_root() -> Path:
    """The sample knowledge: next to the repository if present, else the shared default."""
    near = Path(__file__).resolve().parents[4] / "shared" / "sample-knowledge"
    if near.is_dir():
        return near
    return Path("/work/shared/sample-knowledge")


def norm_ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def norm_question(text: str) -> str:
    """Lower-cased letters and digits only: catches duplicates that differ in punctuation."""
    return " ".join(re.findall(r"\w+", text.lower()))


class Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.root = knowledge_root()
        self.pages: dict[str, str] = {}
        for path in sorted(self.root.glob("*/*.md")):
            rel = path.relative_to(self.root).as_posix()
            self.pages[rel] = norm_ws(path.read_text(encoding="utf-8"))
        if not self.pages:
            self.errors.append(f"no knowledge pages found under {self.root}")
        self.ids: set[str] = set()
        self.texts: dict[str, str] = {}
        self.tables: list[tuple[str, Counter[tuple[str, str, str]]]] = []

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    # ----------------------------------------------------------------- loading
    def load(self, name: str) -> list[Record]:
        path = HERE / name
        if not path.is_file():
            self.error(name, "file is missing")
            return []
        records: list[Record] = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                self.error(f"{name}:{number}", "empty line")
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                self.error(f"{name}:{number}", f"invalid JSON ({exc})")
                continue
            if not isinstance(value, dict):
                self.error(f"{name}:{number}", "line is not a JSON object")
                continue
            value["_where"] = f"{name}:{number}"
            records.append(value)
        return records

    # ------------------------------------------------------------ field checks
    def common(
        self,
        records: list[Record],
        id_prefix: str,
        text_field: str,
        kinds: Iterable[str],
        required: Iterable[str] = (),
    ) -> None:
        allowed_kinds = set(kinds)
        for rec in records:
            where = str(rec["_where"])
            for field in ("id", "lang", text_field, "kind", "split", *required):
                if field not in rec:
                    self.error(where, f"missing field '{field}'")
            rid = rec.get("id")
            if not isinstance(rid, str) or not re.fullmatch(rf"{id_prefix}-\d{{3,}}", rid):
                self.error(where, f"id {rid!r} should look like '{id_prefix}-001'")
            elif rid in self.ids:
                self.error(where, f"duplicate id {rid}")
            else:
                self.ids.add(rid)
            lang = rec.get("lang")
            if lang not in LANGS:
                self.error(where, f"lang {lang!r} not in {LANGS}")
            if rec.get("kind") not in allowed_kinds:
                self.error(where, f"kind {rec.get('kind')!r} not in {sorted(allowed_kinds)}")
            if rec.get("split") not in SPLITS:
                self.error(where, f"split {rec.get('split')!r} not in {SPLITS}")
            text = rec.get(text_field)
            if not isinstance(text, str) or not text.strip():
                self.error(where, f"'{text_field}' must be a non-empty string")
                continue
            self.check_script(where, lang, text)
            key = norm_question(text) or text.strip()
            if key in self.texts:
                self.error(where, f"duplicate text, also at {self.texts[key]}: {text!r}")
            else:
                self.texts[key] = where

    def check_script(self, where: str, lang: object, text: str) -> None:
        has_cyrillic = re.search(r"[А-Яа-яЁё]", text) is not None
        has_latin = re.search(r"[A-Za-z]", text) is not None
        if lang == "en" and has_cyrillic:
            self.error(where, "lang 'en' but the text contains Cyrillic")
        if lang == "ru" and has_latin and not has_cyrillic:
            self.error(where, "lang 'ru' but the text has no Cyrillic")

    def check_answers(self, where: str, answers: object, min_count: int = 1) -> list[str]:
        """Validate an answers list; return the docs it cites."""
        if not isinstance(answers, list) or len(answers) < min_count:
            self.error(where, f"'answers' must be a list with at least {min_count} entries")
            return []
        docs: list[str] = []
        for index, answer in enumerate(answers):
            at = f"{where} answers[{index}]"
            if not isinstance(answer, dict):
                self.error(at, "must be an object with 'doc' and 'quote'")
                continue
            doc, quote = answer.get("doc"), answer.get("quote")
            if not isinstance(doc, str) or doc not in self.pages:
                self.error(at, f"doc {doc!r} not found under {self.root}")
                continue
            docs.append(doc)
            if not isinstance(quote, str) or len(quote.strip()) < MIN_QUOTE_CHARS:
                self.error(at, f"quote shorter than {MIN_QUOTE_CHARS} characters: {quote!r}")
                continue
            if norm_ws(quote) not in self.pages[doc]:
                self.error(at, f"quote is not an exact substring of {doc}: {quote!r}")
        return docs

    def min_counts(self, name: str, records: list[Record], minimum: dict[str, int]) -> None:
        counts = Counter(rec.get("kind") for rec in records)
        for kind, needed in minimum.items():
            if counts[kind] < needed:
                self.error(name, f"{counts[kind]} records of kind '{kind}', need at least {needed}")

    def both_langs(self, name: str, records: list[Record]) -> None:
        present = {rec.get("lang") for rec in records}
        for lang in LANGS:
            if lang not in present:
                self.error(name, f"no records in lang '{lang}'")

    def split_balance(self, name: str, records: list[Record]) -> None:
        cells: Counter[tuple[str, str, str]] = Counter()
        for rec in records:
            cells[(str(rec.get("kind")), str(rec.get("lang")), str(rec.get("split")))] += 1
        self.tables.append((name, cells))
        for kind, lang in sorted({(k, lg) for k, lg, _ in cells}):
            dev, test = cells[(kind, lang, "dev")], cells[(kind, lang, "test")]
            total = dev + test
            if total == 0 or abs(dev - test) <= 1:
                continue
            if abs(dev / total - 0.5) > SPLIT_TOLERANCE:
                self.error(name, f"{kind}/{lang}: dev {dev} vs test {test} is not ~50/50")

    # ------------------------------------------------------------- per file
    def answerable(self) -> None:
        name = "answerable.jsonl"
        records = self.load(name)
        self.common(
            records,
            "a",
            "question",
            ("direct", "paraphrase", "two_passages", "competing"),
            ("answers",),
        )
        per_page: Counter[str] = Counter()
        for rec in records:
            where = str(rec["_where"])
            two = rec.get("kind") == "two_passages"
            docs = self.check_answers(where, rec.get("answers"), 2 if two else 1)
            if two and len({(a.get("doc"), a.get("quote")) for a in rec["answers"]}) < 2:
                self.error(where, "two_passages needs two different quotes")
            for doc in set(docs):
                per_page[doc] += 1
            also = rec.get("also_in", [])
            if not isinstance(also, list) or any(d not in self.pages for d in also):
                self.error(where, f"also_in must list existing docs: {also!r}")
        for page in self.pages:
            if per_page[page] < MIN_QUESTIONS_PER_PAGE:
                self.error(name, f"{page} has {per_page[page]} questions, need 4")
        if len(records) < 170:
            self.error(name, f"{len(records)} questions, need at least 170")
        self.min_counts(name, records, {"paraphrase": 50, "two_passages": 25, "competing": 25})
        self.both_langs(name, records)
        self.split_balance(name, records)
        self.per_page = per_page

    def off_knowledge(self) -> None:
        name = "off_knowledge.jsonl"
        records = self.load(name)
        self.common(records, "o", "question", ("near_topic", "unrelated"))
        if len(records) < 90:
            self.error(name, f"{len(records)} questions, need at least 90")
        self.min_counts(name, records, {"near_topic": 60, "unrelated": 12})
        self.both_langs(name, records)
        self.split_balance(name, records)

    def handoff(self) -> None:
        name = "handoff.jsonl"
        records = self.load(name)
        kinds = ("explicit", "indirect", "frustration", "near_miss")
        self.common(records, "h", "text", kinds, ("handoff",))
        for rec in records:
            expected = rec.get("kind") != "near_miss"
            if rec.get("handoff") is not expected:
                self.error(str(rec["_where"]), f"handoff must be {expected} for {rec.get('kind')}")
        if len(records) < 170:
            self.error(name, f"{len(records)} utterances, need at least 170")
        minimum = {"explicit": 40, "indirect": 35, "frustration": 30, "near_miss": 50}
        self.min_counts(name, records, minimum)
        self.both_langs(name, records)
        self.split_balance(name, records)

    def smalltalk(self) -> None:
        name = "smalltalk.jsonl"
        records = self.load(name)
        talk = ("greeting", "thanks", "ack", "goodbye", "chitchat")
        self.common(records, "s", "text", (*talk, "greeting_with_question"))
        for rec in records:
            where = str(rec["_where"])
            if rec.get("kind") == "greeting_with_question":
                has_answers = "answers" in rec
                if has_answers == (rec.get("off_knowledge") is True):
                    self.error(where, "needs exactly one of 'answers' or 'off_knowledge': true")
                if has_answers:
                    self.check_answers(where, rec.get("answers"))
            elif "answers" in rec or "off_knowledge" in rec:
                self.error(where, "plain small talk carries no answers/off_knowledge")
        plain = sum(1 for rec in records if rec.get("kind") in talk)
        if plain < 50:
            self.error(name, f"{plain} small-talk utterances, need at least 50")
        self.min_counts(name, records, {"greeting_with_question": 8})
        self.both_langs(name, records)
        self.split_balance(name, records)

    def poisoned(self) -> None:
        name = "poisoned.jsonl"
        records = self.load(name)
        kinds = ("instruction", "payment", "foreign_contact")
        self.common(records, "p", "text", kinds, ("question",))
        for rec in records:
            where, text = str(rec["_where"]), str(rec.get("text", ""))
            question = rec.get("question")
            if not isinstance(question, str) or not question.strip():
                self.error(where, "'question' must be a non-empty string")
            else:
                self.check_script(where, rec.get("lang"), question)
            if rec.get("kind") == "payment" and not payment_detail(text):
                self.error(where, "payment snippet has no card number, IBAN or wallet")
            if rec.get("kind") == "foreign_contact" and not foreign_contacts(text):
                self.error(where, "foreign_contact snippet has no foreign link or phone")
        if len(records) < 24:
            self.error(name, f"{len(records)} snippets, need at least 24")
        self.min_counts(name, records, {k: 6 for k in kinds})
        self.both_langs(name, records)
        self.split_balance(name, records)

    def clean(self) -> None:
        name = "clean.jsonl"
        records = self.load(name)
        self.common(records, "c", "text", ("clean",))
        for rec in records:
            where, text = str(rec["_where"]), str(rec.get("text", ""))
            if payment_detail(text):
                self.error(where, "clean snippet contains a full payment detail")
            foreign = foreign_contacts(text)
            if foreign:
                self.error(where, f"clean snippet names a foreign contact: {foreign}")
        if len(records) < 24:
            self.error(name, f"{len(records)} snippets, need at least 24")
        self.both_langs(name, records)
        self.split_balance(name, records)

    # ---------------------------------------------------------------- report
    def report(self) -> None:
        for name, cells in self.tables:
            total = sum(cells.values())
            print(f"\n{name}: {total}")
            print(f"  {'kind':<24}{'en dev':>8}{'en test':>8}{'ru dev':>8}{'ru test':>8}{'all':>6}")
            for kind in sorted({k for k, _, _ in cells}):
                row = [cells[(kind, lang, split)] for lang in LANGS for split in SPLITS]
                print(f"  {kind:<24}" + "".join(f"{n:>8}" for n in row) + f"{sum(row):>6}")
            row = [
                sum(n for (_, lg, sp), n in cells.items() if lg == lang and sp == split)
                for lang in LANGS
                for split in SPLITS
            ]
            print(f"  {'total':<24}" + "".join(f"{n:>8}" for n in row) + f"{sum(row):>6}")
        per_page: Counter[str] = getattr(self, "per_page", Counter())
        if per_page:
            print("\nanswerable questions per page:")
            for page in sorted(self.pages):
                print(f"  {page:<46}{per_page[page]:>4}")


# Tenant-owned domains: plausible.io for the English pages, VK's own for the Russian ones.
OWN_DOMAINS = ("plausible.io", "cloud.vk.ru", "vk.com", "vk.ru", "vk.company", "vkcloud.kz")
OWN_PHONES = ("+7 (499) 350-97-03", "+7 (495) 790-70-70")


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def payment_detail(text: str) -> list[str]:
    """Full card numbers (Luhn-valid), IBANs and crypto wallets found in text."""
    found: list[str] = []
    for match in re.finditer(r"(?<![\d*])(?:\d[ -]?){13,19}(?!\d)", text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            found.append(match.group().strip())
    found += re.findall(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,4})?\b", text)
    found += re.findall(
        r"\b(?:bc1[a-z0-9]{25,60}|0x[0-9a-fA-F]{40}|T[1-9A-HJ-NP-Za-km-z]{33})\b", text
    )
    return found


def foreign_contacts(text: str) -> list[str]:
    """Domains not owned by the tenant, and phone numbers other than the pages' own."""
    found: list[str] = []
    for host in re.findall(r"(?:https?://)?(?:[\w-]+\.)+(?:[a-z]{2,}|рф)(?=[/\s,.;:)»\"]|$)", text):
        host = re.sub(r"^https?://", "", host).lower().rstrip(".")
        if "@" in host or re.fullmatch(r"[\d.]+", host) or re.fullmatch(r"v?\d+(\.\d+)+", host):
            continue
        if not any(host == own or host.endswith("." + own) for own in OWN_DOMAINS):
            found.append(host)
    for email in re.findall(r"[\w.+-]+@((?:[\w-]+\.)+[a-z]{2,})", text):
        if not any(email == own or email.endswith("." + own) for own in OWN_DOMAINS):
            found.append(email)
    for phone in re.findall(r"\+\d[\d ()-]{8,}\d", text):
        if phone not in OWN_PHONES:
            found.append(phone)
    return sorted(set(found))


def main() -> int:
    checker = Checker()
    checker.answerable()
    checker.off_knowledge()
    checker.handoff()
    checker.smalltalk()
    checker.poisoned()
    checker.clean()
    checker.report()
    grouped: defaultdict[str, list[str]] = defaultdict(list)
    for message in checker.errors:
        grouped[message.split(":", 1)[0]].append(message)
    if checker.errors:
        print(f"\nFAILED: {len(checker.errors)} problem(s)")
        for messages in grouped.values():
            for message in messages:
                print(f"  - {message}")
        return 1
    print("\nOK: all files valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
