"""The one ru/en catalogue of what people read: visitors (widget), Telegram users, and
the dashboard, console and admin panel (the `ui` surface, in `dashboard.<language>.po`).

The texts are gettext PO files, one per language (`locales/<language>.po`), read with Babel
at import: translators' tools edit them as they are, and a text is changed without touching
code. Each msgid is a key, `surface.name` (`system.joined`, `widget.send`,
`answer.unknown`, `telegram.greeting`), not the English text, because callers (and the
widget in the browser) look texts up by name. Why PO and Babel rather than a Python
module: docs/decisions.md, 73.

Lookups never fail on the language: one the catalogue lacks reads English, the language
every text is written in first. A missing key is a programming error and raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from babel.messages.pofile import read_po

LANGUAGES: tuple[str, ...] = ("en", "ru")
DEFAULT_LANGUAGE = "en"
_LOCALES = Path(__file__).with_name("locales")


def _read(path: Path, language: str) -> dict[str, str]:
    """Translated entries only: a fuzzy or empty one is not a text yet (gettext's rule), so
    the completeness test reports it as missing instead of the visitor seeing it."""
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, ignore_obsolete=True, abort_invalid=True)
    return {
        str(m.id): str(m.string) for m in catalog
        if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string
        and not m.fuzzy
    }


def _load(language: str) -> Mapping[str, str]:
    """A language's texts from its files: `<language>.po` (visitors, Telegram) and
    `dashboard.<language>.po` (staff surfaces, keys `ui.…`). A key in both is an error."""
    table: dict[str, str] = {}
    for path in (_LOCALES / f"{language}.po", _LOCALES / f"dashboard.{language}.po"):
        part = _read(path, language)
        clash = set(part) & set(table)
        if clash:
            raise ValueError(f"{path.name} repeats keys of another file: {sorted(clash)[:5]}")
        table |= part
    return MappingProxyType(table)


_TABLES: dict[str, Mapping[str, str]] = {lang: _load(lang) for lang in LANGUAGES}


def language_or_default(language: str) -> str:
    return language if language in _TABLES else DEFAULT_LANGUAGE


def messages(language: str) -> Mapping[str, str]:
    """Every text of `language` by key (read-only)."""
    return _TABLES[language_or_default(language)]


def text(language: str, key: str, **values: str) -> str:
    """The text `key` in `language`, with `{placeholders}` filled from `values`. Without
    values it is returned as written, braces and all (the widget fills its own)."""
    template = messages(language)[key]
    return template.format(**values) if values else template


def section(language: str, surface: str) -> dict[str, str]:
    """The texts of one surface (`widget`…) by their short names, as a fresh dict: the
    widget's strings travel to the browser like this."""
    prefix = f"{surface}."
    return {key[len(prefix):]: value for key, value in messages(language).items()
            if key.startswith(prefix)}
