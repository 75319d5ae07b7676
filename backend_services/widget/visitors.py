"""Anonymous website visitors: a long-lived credential and short-lived signed tokens.

A visitor has no account. The loader keeps a *credential* in the host page's own
localStorage (first-party storage, so it survives third-party storage blocking): a random
visitor id and an HMAC over (widget public id, visitor id). Presenting it again proves
"same visitor of the same widget", so history survives reloads and new tabs; a credential
minted for widget A is worthless for widget B, which simply sees a new visitor.

The credential buys a *token*: a signed, expiring statement naming the workspace, the
assistant, the widget, the visitor and the embedding origin. The widget page (in the
iframe) acts only on what a verified token says; a workspace or assistant id sent by the
browser is never trusted. Tokens are signed, not encrypted: they carry ids, no secrets.

Signing uses itsdangerous (HMAC-SHA256) with the app's secret key and a distinct salt per
purpose, so a credential signature can never pass as a token or the other way round.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadData, Signer, URLSafeSerializer

from backend_services.core import bans, ratelimit
from backend_services.core.errors import NotAuthenticated, NotFound, PermissionDenied
from backend_services.core.settings import get_settings
from backend_services.widget.settings import (
    PublicWidgetConfig,
    normalize_origin,
    origin_allowed,
    public_config,
)

_CREDENTIAL_SALT = "replyx.widget.visitor-credential"
_TOKEN_SALT = "replyx.widget.visitor-token"
_VISITOR_ID_RE = re.compile(r"^v_[A-Za-z0-9_-]{22}$")
TOKEN_VERSION = 1


def _secret() -> str:
    key = get_settings().secret_key
    if not key:
        raise RuntimeError("REPLYX_SECRET_KEY is not set")
    return key


def _signer() -> Signer:
    return Signer(_secret(), salt=_CREDENTIAL_SALT, digest_method=hashlib.sha256)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(
        _secret(), salt=_TOKEN_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class VisitorCredential:
    visitor_id: str
    visitor_sig: str


def _credential_message(public_id: str, visitor_id: str) -> bytes:
    return f"{public_id}|{visitor_id}".encode()


def new_credential(public_id: str) -> VisitorCredential:
    """A fresh visitor of this widget: 128 random bits and their signature."""
    visitor_id = "v_" + secrets.token_urlsafe(16)
    sig = _signer().get_signature(_credential_message(public_id, visitor_id)).decode()
    return VisitorCredential(visitor_id=visitor_id, visitor_sig=sig)


def credential_valid(public_id: str, visitor_id: str | None, visitor_sig: str | None) -> bool:
    """True only for a credential this server minted for this very widget."""
    if not visitor_id or not visitor_sig or not _VISITOR_ID_RE.match(visitor_id):
        return False
    if len(visitor_sig) > 128:
        return False
    return _signer().verify_signature(
        _credential_message(public_id, visitor_id), visitor_sig.encode()
    )


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class VisitorClaims:
    """A verified visitor: the principal for everything a widget visitor does."""

    workspace_id: int
    assistant_id: int
    widget_public_id: str
    visitor_id: str
    origin: str
    expires_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    expires_in: int  # seconds


def issue_token(config: PublicWidgetConfig, visitor_id: str, origin: str) -> IssuedToken:
    """A token for this visitor of this widget, embedded on `origin` (already checked)."""
    ttl = max(60, get_settings().widget_token_minutes * 60)
    exp = int(time.time()) + ttl
    payload = {
        "v": TOKEN_VERSION,
        "ws": config.workspace_id,
        "as": config.assistant_id,
        "wid": config.public_id,
        "vid": visitor_id,
        "o": origin,
        "exp": exp,
    }
    token = _serializer().dumps(payload)
    return IssuedToken(token=str(token), expires_at=datetime.fromtimestamp(exp, UTC),
                       expires_in=ttl)


_BAD_TOKEN = "Your chat session is not valid. Please reload the page."
_EXPIRED_TOKEN = "Your chat session has expired. Please reload the page."


def verify_token(token: str, *, now: float | None = None) -> VisitorClaims:
    """The claims of a token this server issued and that has not expired (as of `now`).

    Raises NotAuthenticated for anything else: forged, altered, truncated, expired, or
    signed with another key. Does not look at the database: callers that need the widget
    to still be switched on check `public_config` as well.
    """
    if not token or len(token) > 2048:
        raise NotAuthenticated(_BAD_TOKEN)
    try:
        data: Any = _serializer().loads(token)
    except BadData as exc:
        raise NotAuthenticated(_BAD_TOKEN) from exc
    if not isinstance(data, dict) or data.get("v") != TOKEN_VERSION:
        raise NotAuthenticated(_BAD_TOKEN)
    try:
        claims = VisitorClaims(
            workspace_id=int(data["ws"]),
            assistant_id=int(data["as"]),
            widget_public_id=str(data["wid"]),
            visitor_id=str(data["vid"]),
            origin=str(data["o"]),
            expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAuthenticated(_BAD_TOKEN) from exc
    if claims.expires_at.timestamp() <= (time.time() if now is None else now):
        raise NotAuthenticated(_EXPIRED_TOKEN)
    return claims


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class VisitorSession:
    """What the loader gets back: a token, the (possibly new) credential, the widget config."""

    token: IssuedToken
    credential: VisitorCredential
    config: PublicWidgetConfig
    new_visitor: bool


def unknown_widget_message(public_id: str) -> str:
    shown = public_id[:40]
    return (
        f"ReplyX: no active chat widget has the id “{shown}”. Copy the snippet again from "
        "the assistant's Widget tab, and check the widget is switched on."
    )


def origin_refused_message(origin: str | None) -> str:
    where = origin if origin and origin != "null" else "this page"
    return (
        f"ReplyX: the chat widget is not allowed on {where[:200]}. Add this origin to the "
        "allowed website origins on the assistant's Widget tab."
    )


async def open_session(
    public_id: str,
    origin: str | None,
    *,
    ip: str,
    visitor_id: str | None = None,
    visitor_sig: str | None = None,
) -> VisitorSession:
    """Start or resume a visitor's chat session for a page of `origin` (its Origin header).

    Rate-limited per client IP first (every attempt counts, valid or not). Unknown or
    switched-off widgets raise NotFound, other origins PermissionDenied (and count
    towards a temporary ban of the address, backend_services.core.bans); both messages
    are written for the site owner reading the browser console. A missing, forged or
    other widget's credential is not an error: the visitor just starts afresh.
    """
    await ratelimit.check_widget_session(ip)
    config = await public_config(public_id)
    if config is None:
        raise NotFound(unknown_widget_message(public_id))
    if not origin_allowed(config, origin):
        # Counts towards a ban of the address: a script probing which sites may embed a
        # widget, or replaying tokens from elsewhere, keeps failing here.
        await bans.record_failure(bans.WIDGET_ORIGIN, ip)
        raise PermissionDenied(origin_refused_message(origin))
    assert origin is not None
    known = credential_valid(config.public_id, visitor_id, visitor_sig)
    if known:
        assert visitor_id is not None and visitor_sig is not None
        credential = VisitorCredential(visitor_id=visitor_id, visitor_sig=visitor_sig)
    else:
        credential = new_credential(config.public_id)
    token = issue_token(config, credential.visitor_id, normalize_origin(origin))
    return VisitorSession(token=token, credential=credential, config=config,
                          new_visitor=not known)
