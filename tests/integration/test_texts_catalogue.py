"""The one ru/en catalogue of what widget visitors and Telegram users read
(backend_services/core/catalogue.py, locales/*.po): complete in every language, the same
placeholders everywhere, and read by every surface that shows those texts."""

from __future__ import annotations

import string

import pytest

from backend_services.conversations import texts as system_texts
from backend_services.core import catalogue
from backend_services.knowledge import answers
from backend_services.widget import settings as widget


def _placeholders(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def test_every_language_has_every_text_of_every_surface() -> None:
    english = set(catalogue.messages("en"))
    assert {k.split(".")[0] for k in english} == {"system", "widget", "answer", "telegram",
                                                  "ui"}
    for language in catalogue.LANGUAGES:
        table = catalogue.messages(language)
        assert set(table) == english, f"{language}: missing {english - set(table)}, " \
                                      f"extra {set(table) - english}"
        assert all(value.strip() for value in table.values()), language


def test_placeholders_are_the_same_in_every_language() -> None:
    for key, text in catalogue.messages("en").items():
        for language in catalogue.LANGUAGES:
            translated = catalogue.messages(language)[key]
            assert _placeholders(translated) == _placeholders(text), (language, key)


def test_russian_is_translated_not_copied() -> None:
    en, ru = catalogue.messages("en"), catalogue.messages("ru")
    same = [k for k in en if en[k] == ru[k] and _placeholders(en[k]) != {en[k].strip("{}")}]
    assert same == [], same
    assert all(any("а" <= ch <= "я" for ch in ru[k].lower()) for k in ru
               if not ru[k].startswith("{")), "a Russian text without Cyrillic"


def test_an_unknown_language_reads_english_and_values_fill_placeholders() -> None:
    assert catalogue.text("de", "system.closed") == catalogue.text("en", "system.closed")
    assert catalogue.text("ru", "system.joined", name="Анна") == "Анна подключился к разговору."
    # Without values the template comes back as written: the widget fills {name} itself.
    assert "{name}" in catalogue.text("en", "widget.typing")
    with pytest.raises(KeyError):
        catalogue.text("en", "widget.no_such_text")


def test_every_surface_reads_the_catalogue() -> None:
    """The widget's strings, the fixed parts of answers and the system messages are the
    catalogue's sections, not copies of their own."""
    for language in catalogue.LANGUAGES:
        assert widget.strings_for(language) == catalogue.section(language, "widget")
        assert answers.STRINGS[language] == catalogue.section(language, "answer")
        assert system_texts.text(language, "closed") == \
            catalogue.messages(language)["system.closed"]
    assert catalogue.section("ru", "telegram")["greeting"].startswith("Здравствуйте")


def test_every_page_has_its_title_and_sidebar_entry_in_both_languages() -> None:
    """The registry declares each page's English title and sidebar label; the catalogue
    must say the same in English and have the Russian (the layout reads the catalogue)."""
    from components.i18n import route_key
    from replyx_app.pages import load_all
    from replyx_app.pages.registry import ROUTES

    load_all()
    en = catalogue.messages("en")
    for route in ROUTES:
        if route.path in ("/", "/widget"):  # bare pages: their own frame and texts
            continue
        key = route_key(route.path)
        assert en[f"ui.page.{key}"] == route.title.removesuffix(" · ReplyX"), route.path
        if route.nav is not None:
            assert en[f"ui.nav.{key}"] == route.nav.label, route.path
        for language in catalogue.LANGUAGES:
            assert f"ui.page.{key}" in catalogue.messages(language), (language, route.path)
