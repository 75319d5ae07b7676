"""Writing a notification: subject, plain text and HTML from the Jinja2 template of its
event in the reader's language (`templates/<event>.<language>.j2`, one block each).

The same files are read by two environments: the HTML one escapes every value (a
visitor's words go into these mails), the text one does not (a plain-text mail has no
markup to break, and "&amp;" would be wrong there). Templates are files so that wording
changes, and translations, need no code change; `tests/integration/test_notifications.py`
renders every event in both languages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

LANGUAGES = ("en", "ru")
_DIR = Path(__file__).with_name("templates")
_text = Environment(loader=FileSystemLoader(_DIR), autoescape=False,  # noqa: S701 (plain text)
                    undefined=StrictUndefined, keep_trailing_newline=True)
_html = Environment(loader=FileSystemLoader(_DIR), autoescape=True, undefined=StrictUndefined)
_FOOTER = {
    "en": ("You receive this because of your notification settings.", "Change them"),
    "ru": ("Вы получили это письмо по своим настройкам уведомлений.", "Изменить"),
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _block(template: Template, name: str, context: dict[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(context)))


def render(template: str, language: str, context: dict[str, Any]) -> Rendered:
    """`template`: an event name, or "digest"; `context` must hold every name it uses
    (StrictUndefined: a missing value is a bug, not an empty line in someone's inbox)."""
    language = language if language in LANGUAGES else "en"
    name = f"{template}.{language}.j2"
    text_t, html_t = _text.get_template(name), _html.get_template(name)
    subject = " ".join(_block(text_t, "subject", context).split())
    footer, settings_label = _FOOTER[language]
    html = _html.get_template("layout.html.j2").render(
        **context, language=language, subject=subject, footer=footer,
        settings_label=settings_label,
        body=Markup(_block(html_t, "html", context)))  # noqa: S704 (escaped by _html)
    return Rendered(subject, _block(text_t, "text", context).strip() + "\n", html)
