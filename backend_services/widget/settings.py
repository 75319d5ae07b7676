"""Website widget settings of an assistant: look, language, and where it may be embedded.

One row per assistant, created with defaults the first time anyone reads it, so an
assistant always has a snippet to copy. The row's random `public_id` is the only
identifier that ever appears on a tenant's website; the numeric ids stay server-side.

`allowed_origins` is a whitelist: an empty list means the widget loads nowhere. The same
list feeds the session endpoint's origin check and the widget page's `frame-ancestors`.
"""

from __future__ import annotations

import html
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.core import audit, catalogue
from backend_services.core.db import session_scope
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.views import view_from
from backend_services.models import Assistant, Role, WidgetSettings, Workspace
from backend_services.onboarding import checklist

LANGUAGES = {"en": "English", "ru": "Русский"}
POSITIONS = ("right", "left")
MAX_ORIGINS = 20
DEFAULT_COLOR = "#4f46e5"
PUBLIC_ID_PREFIX = "wid_"
PUBLIC_ID_RE = re.compile(r"^wid_[A-Za-z0-9_-]{20}$")
_COLOR_RE = re.compile(r"^#[0-9a-f]{6}$")
_HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Every string the visitor can see in the widget, per language, from the one catalogue
# (keys `widget.*`; every language has every key, a test checks). `{name}` is filled in by
# the widget with a display name.
WIDGET_STRINGS: dict[str, dict[str, str]] = {
    lang: catalogue.section(lang, "widget") for lang in catalogue.LANGUAGES
}


def strings_for(language: str) -> dict[str, str]:
    return catalogue.section(language, "widget")


# --------------------------------------------------------------------------- validation


def normalize_origin(raw: str) -> str:
    """`scheme://host[:port]` as a browser would send it in `Origin`, or ValidationFailed.

    Lower-case scheme and host, IDNA (punycode) host, default port dropped, a trailing
    slash tolerated; paths, queries, credentials and wildcards are refused.
    """
    text = raw.strip()
    shown = text if len(text) <= 80 else text[:77] + "…"
    problem = ValidationFailed(
        f"“{shown}” is not a website origin: write it as https://example.com "
        "(scheme and host, optionally :port, nothing after)."
    )
    if not text or any(c.isspace() for c in text) or "*" in text:
        raise problem
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise problem from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise problem
    if parts.username or parts.password or parts.query or parts.fragment:
        raise problem
    if parts.path not in ("", "/"):
        raise problem
    host = parts.hostname.lower()
    if host.startswith("[") or ":" in host:  # urlsplit strips the brackets of IPv6
        host_out = f"[{host}]"
    else:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise problem from exc
        if len(host) > 253 or not all(_HOST_LABEL_RE.match(lbl) for lbl in host.split(".")):
            raise problem
        host_out = host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host_out}:{port}"
    return f"{scheme}://{host_out}"


def parse_origins(text: str) -> tuple[str, ...]:
    """Origins typed one per line (commas and spaces also separate them)."""
    return tuple(p for p in re.split(r"[\s,]+", text) if p)


def _normalize_origins(items: tuple[str, ...]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(normalize_origin(o) for o in items if o.strip()))
    if len(out) > MAX_ORIGINS:
        raise ValidationFailed(f"List at most {MAX_ORIGINS} website origins.")
    return out


@dataclass(frozen=True)
class WidgetInput:
    """What the Widget tab edits. Greeting is the assistant's (see `set_greeting`)."""

    title: str = ""
    primary_color: str = DEFAULT_COLOR
    position: str = "right"
    avatar_url: str = ""
    launcher_text: str = ""
    language: str = "en"
    allowed_origins: tuple[str, ...] = ()
    enabled: bool = True

    def validated(self) -> WidgetInput:
        title = self.title.strip()
        if len(title) > 80:
            raise ValidationFailed("The title is too long (80 characters at most).")
        color = self.primary_color.strip().lower()
        if len(color) == 4 and re.fullmatch(r"#[0-9a-f]{3}", color):
            color = "#" + "".join(c * 2 for c in color[1:])
        if not _COLOR_RE.match(color):
            raise ValidationFailed("The colour must be a hex colour such as #4f46e5.")
        if self.position not in POSITIONS:
            raise ValidationFailed("Position must be right or left.")
        avatar = self.avatar_url.strip()
        if avatar:
            try:
                parts = urlsplit(avatar)
            except ValueError:
                parts = None
            if (
                parts is None
                or parts.scheme.lower() != "https"
                or not parts.hostname
                or parts.username
                or parts.password
                or any(c.isspace() or c in "\"'<>\\" for c in avatar)
            ):
                raise ValidationFailed("The avatar must be an https:// image address.")
            if len(avatar) > 500:
                raise ValidationFailed("The avatar address is too long (500 characters).")
        launcher = self.launcher_text.strip()
        if len(launcher) > 40:
            raise ValidationFailed("The launcher text is too long (40 characters at most).")
        if self.language not in LANGUAGES:
            raise ValidationFailed("Choose a supported widget language.")
        return WidgetInput(
            title=title,
            primary_color=color,
            position=self.position,
            avatar_url=avatar,
            launcher_text=launcher,
            language=self.language,
            allowed_origins=_normalize_origins(self.allowed_origins),
            enabled=self.enabled,
        )


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class WidgetSettingsView:
    """The Widget tab's data: the settings plus the assistant's greeting and name."""

    assistant_id: int
    assistant_name: str
    public_id: str
    enabled: bool
    title: str
    primary_color: str
    position: str
    avatar_url: str
    launcher_text: str
    language: str
    allowed_origins: tuple[str, ...]
    greeting: str


@dataclass(frozen=True)
class PublicWidgetConfig:
    """What the session endpoint and the widget page work from, for one public id.

    `workspace_id`, `assistant_id` and `allowed_origins` are for the server (token claims,
    origin checks, CSP); `client_dict()` is the part a visitor's browser receives.
    """

    public_id: str
    workspace_id: int
    assistant_id: int
    allowed_origins: tuple[str, ...]
    title: str
    greeting: str
    primary_color: str
    position: str
    avatar_url: str
    launcher_text: str
    language: str
    strings: dict[str, str] = field(default_factory=dict)

    def client_dict(self) -> dict[str, Any]:
        return {
            "widget": self.public_id,
            "title": self.title,
            "greeting": self.greeting,
            "color": self.primary_color,
            "position": self.position,
            "avatar_url": self.avatar_url,
            "launcher_text": self.launcher_text,
            "language": self.language,
            "strings": dict(self.strings),
        }


def _view(row: WidgetSettings, assistant: Assistant) -> WidgetSettingsView:
    return view_from(WidgetSettingsView, row, assistant_name=assistant.name,
                     allowed_origins=tuple(row.allowed_origins or ()),
                     greeting=assistant.greeting)


def new_public_id() -> str:
    """`wid_` + 20 URL-safe characters (120 random bits)."""
    return PUBLIC_ID_PREFIX + secrets.token_urlsafe(15)


# --------------------------------------------------------------------------- queries



async def _ensure_row(
    session: AsyncSession, assistant: Assistant, *, lock: bool = False
) -> WidgetSettings:
    """The assistant's row, inserted with defaults if missing (safe under concurrent reads)."""
    assert assistant.id is not None
    query = select(WidgetSettings).where(
        WidgetSettings.assistant_id == assistant.id,
        WidgetSettings.workspace_id == assistant.workspace_id,
    )
    if lock:
        query = query.with_for_update()
    row = (await session.exec(query)).first()
    if row is not None:
        return row
    # Two first reads may race: the unique assistant_id lets exactly one insert win.
    await session.exec(
        insert(WidgetSettings)
        .values(
            workspace_id=assistant.workspace_id,
            assistant_id=assistant.id,
            public_id=new_public_id(),
            enabled=True,
            title=assistant.name[:80],
            primary_color=DEFAULT_COLOR,
            position="right",
            avatar_url="",
            launcher_text="",
            language=assistant.language if assistant.language in LANGUAGES else "en",
            allowed_origins=[],
        )
        .on_conflict_do_nothing(index_elements=["assistant_id"])
    )
    return (await session.exec(query)).one()


async def get_settings(principal: Principal, assistant_id: int) -> WidgetSettingsView:
    """The assistant's widget settings (created with defaults on first read). Admins."""
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        assistant = await assistants.in_scope(session, principal, assistant_id)
        row = await _ensure_row(session, assistant)
        return _view(row, assistant)


async def update_settings(
    principal: Principal, assistant_id: int, data: WidgetInput
) -> WidgetSettingsView:
    """Save the Widget tab. Audited with the names of the fields that changed."""
    principal.require(Role.ADMIN)
    data = data.validated()
    async with session_scope() as session:
        assistant = await assistants.in_scope(session, principal, assistant_id)
        row = await _ensure_row(session, assistant, lock=True)
        values: dict[str, Any] = {
            "title": data.title,
            "primary_color": data.primary_color,
            "position": data.position,
            "avatar_url": data.avatar_url,
            "launcher_text": data.launcher_text,
            "language": data.language,
            "allowed_origins": list(data.allowed_origins),
            "enabled": data.enabled,
        }
        changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = datetime.now(UTC)
        session.add(row)
        await audit.record_by(
            session,
            principal,
            "widget_settings_updated",
            f"assistant:{assistant_id}",
            {"changed": changed, "allowed_origins": list(data.allowed_origins)},
        )
        await checklist.record(session, principal.workspace_id, checklist.WIDGET_STYLED)
        view = _view(row, assistant)
    forget_cached(view.public_id)
    return view


async def set_greeting(principal: Principal, assistant_id: int, greeting: str) -> None:
    """The widget's greeting is the assistant's own: change it through the assistants service."""
    current = await assistants.get_assistant(principal, assistant_id)
    if current.greeting == greeting.strip():
        return
    fields = {name: getattr(current, name) for name in AssistantInput.__dataclass_fields__}
    fields["fallback_models"] = tuple(current.fallback_models or ())
    fields["greeting"] = greeting
    await assistants.update_assistant(principal, assistant_id, AssistantInput(**fields))


async def public_config(public_id: str) -> PublicWidgetConfig | None:
    """The widget as a visitor may see it, or None when unknown, switched off or inactive."""
    if not PUBLIC_ID_RE.match(public_id or ""):
        return None
    async with session_scope() as session:
        found = (
            await session.exec(
                select(WidgetSettings, Assistant)
                .join(Assistant, Assistant.id == WidgetSettings.assistant_id)  # type: ignore[arg-type]
                .join(Workspace, col(Workspace.id) == col(WidgetSettings.workspace_id))
                .where(
                    WidgetSettings.public_id == public_id,
                    Assistant.workspace_id == WidgetSettings.workspace_id,
                    col(Workspace.blocked_at).is_(None),
                )
            )
        ).first()
    if found is None:
        return None
    row, assistant = found
    if not row.enabled or not assistant.is_active:
        return None
    return PublicWidgetConfig(
        public_id=row.public_id,
        workspace_id=row.workspace_id,
        assistant_id=row.assistant_id,
        allowed_origins=tuple(row.allowed_origins or ()),
        title=row.title or assistant.name,
        greeting=assistant.greeting,
        primary_color=row.primary_color,
        position=row.position,
        avatar_url=row.avatar_url,
        launcher_text=row.launcher_text or strings_for(row.language)["launcher"],
        language=row.language,
        strings=strings_for(row.language),
    )


def origin_allowed(config: PublicWidgetConfig | None, origin: str | None) -> bool:
    """Is a page of `origin` (the browser's `Origin` header) allowed to embed the widget?"""
    if config is None or not origin or origin == "null":
        return False
    try:
        normalized = normalize_origin(origin)
    except ValidationFailed:
        return False
    return normalized in config.allowed_origins


def snippet(base_url: str, public_id: str) -> str:
    """The one line a tenant pastes into their site."""
    src = html.escape(f"{base_url.rstrip('/')}/widget.js", quote=True)
    wid = html.escape(public_id, quote=True)
    return f'<script src="{src}" data-assistant="{wid}" async></script>'


# --------------------------------------------------------------------------- cached lookups

CACHE_SECONDS = 10.0
_CACHE_MAX = 5000
_cache: dict[str, tuple[float, tuple[str, ...] | None]] = {}


async def cached_allowed_origins(public_id: str) -> tuple[str, ...] | None:
    """Allowed origins of a widget (None: unknown or off), cached in-process for ~10 s.

    For the widget page's `frame-ancestors`, which is computed on every page load: a
    change on the Widget tab reaches every web process within CACHE_SECONDS.
    """
    if not PUBLIC_ID_RE.match(public_id or ""):
        return None  # not worth a cache slot
    now = time.monotonic()
    hit = _cache.get(public_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    config = await public_config(public_id)
    origins = config.allowed_origins if config is not None else None
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[public_id] = (now + CACHE_SECONDS, origins)
    return origins


def forget_cached(public_id: str) -> None:
    """Drop this process's cached entry (other processes expire theirs by time)."""
    _cache.pop(public_id, None)


@dataclass(frozen=True)
class DemoWidget:
    public_id: str
    title: str
    language: str


async def demo_widgets() -> list[DemoWidget]:
    """The enabled widgets of the demo workspace (shown on the app's own /demo page)."""
    async with session_scope() as session:
        rows = await session.exec(
            select(WidgetSettings)
            .join(Workspace, Workspace.id == WidgetSettings.workspace_id)  # type: ignore[arg-type]
            .where(Workspace.is_demo == True, WidgetSettings.enabled == True)  # noqa: E712
            .order_by(WidgetSettings.id)  # type: ignore[arg-type]
        )
        return [DemoWidget(r.public_id, r.title, r.language) for r in rows]
