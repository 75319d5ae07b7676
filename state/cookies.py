"""The cookies the server reads from a tab's websocket handshake: the HttpOnly session
and browser ids. Reflex keeps handshake headers server-side, so these are trustworthy."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

SESSION_COOKIE = "replyx_session"
# A random id per browser (HttpOnly, SameSite=Strict, set on page loads by
# replyx_app/cross_site.py): what a login ticket is bound to.
BROWSER_COOKIE = "replyx_browser"


def read_cookie(cookie_header: str, name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header or "")
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def read_session_cookie(cookie_header: str) -> str | None:
    return read_cookie(cookie_header, SESSION_COOKIE)
