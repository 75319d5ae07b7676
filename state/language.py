"""The language a tab's pages are drawn in (English or Russian), and its texts.

Dashboard components look their texts up in `texts` (components/i18n.py), falling back to
the English written into the page: a page prerendered at build time and its first render
in the browser are English alike (no hydration mismatch), and as soon as the tab's
language is known — the person's own for a signed-in page, the browser's
`Accept-Language` or an earlier choice (a cookie) for sign-in pages — the Russian texts
arrive in one delta. English tabs carry no texts at all.

A separate substate, not part of SessionState: every event of every page loads
SessionState, and the texts would travel along each time; this one is loaded only when
the language is set.
"""

from __future__ import annotations

import reflex as rx

from backend_services.core import catalogue
from backend_services.core.errors import NotAuthenticated
from backend_services.identity import account, auth
from state.cookies import read_session_cookie
from state.reflex_typing import event

COOKIE = "replyx_lang"
ONE_YEAR = 365 * 24 * 3600


def from_accept_language(header: str) -> str:
    """The first of the browser's preferred languages that we have; English otherwise."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()[:2]))
    for _q, _pos, language in sorted(ranked):
        if language in catalogue.LANGUAGES:
            return language
    return catalogue.DEFAULT_LANGUAGE


class LanguageState(rx.State):
    lang: rx.Field[str] = rx.field("")  # "" until known: the page shows its English
    texts: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    chosen: str = rx.Cookie("", name=COOKIE, max_age=ONE_YEAR, same_site="lax")

    def _use(self, language: str) -> None:
        """Draw this tab in `language` (assigned only on a change: no delta otherwise)."""
        language = catalogue.language_or_default(language)
        if language == self.lang:
            return
        self.lang = language
        self.texts = {} if language == catalogue.DEFAULT_LANGUAGE else \
            catalogue.section(language, "ui")

    def _tr(self, key: str, **values: str) -> str:
        """A text for a toast or a message set by a handler, in this tab's language."""
        return catalogue.text(self.lang or catalogue.DEFAULT_LANGUAGE, f"ui.{key}", **values)

    @event
    def detect(self) -> None:
        """Sign-in pages: the visitor's earlier choice, else the browser's language."""
        if self.chosen in catalogue.LANGUAGES:
            self._use(self.chosen)
        else:
            self._use(from_accept_language(self.router.headers.accept_language or ""))

    @event
    async def choose(self, language: str) -> None:
        """The header's switch: this tab now, this browser from now on, and the person's
        own language (pages and e-mails) when signed in."""
        if language not in catalogue.LANGUAGES:
            return
        self.chosen = language
        self._use(language)
        try:
            principal = await auth.authenticate(read_session_cookie(self.router.headers.cookie))
        except NotAuthenticated:
            return
        await account.set_language(principal, language)
