"""Widget settings per assistant and anonymous visitor credentials (service level).

Real PostgreSQL and Valkey. What a tenant configures on the Widget tab, what a visitor's
browser is told, and which visitor credentials and tokens the server accepts.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from itsdangerous import URLSafeSerializer
from sqlmodel import col, select

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.core.db import session_scope
from backend_services.core.errors import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from backend_services.core.principal import Principal
from backend_services.core.settings import get_settings
from backend_services.identity import auth
from backend_services.models import AuditLog, Role
from backend_services.widget import settings as widget
from backend_services.widget import visitors
from backend_services.widget.settings import WIDGET_STRINGS, WidgetInput

PW = "Correct-horse-9"
SHOP = "https://shop.example.com"


async def _owner(email: str, ws_name: str) -> Principal:
    await auth.signup(email=email, password=PW, name="Owner", workspace_name=ws_name)
    await auth.create_user(email=email, password=PW, name="Owner", workspace_id=None)
    return (await auth.login(email=email, password=PW)).principal


async def _member(ws: int, email: str, role: Role) -> Principal:
    await auth.create_user(email=email, password=PW, name="m", workspace_id=ws, role=role)
    return (await auth.login(email=email, password=PW)).principal


async def _assistant(p: Principal, name: str = "Helper", **kw: object) -> int:
    row = await assistants.create_assistant(p, AssistantInput(name=name, **kw))  # type: ignore[arg-type]
    assert row.id is not None
    return row.id


async def _live_widget(p: Principal, origins: tuple[str, ...] = (SHOP,), **kw: object) -> str:
    """An assistant whose widget may load on `origins`; returns the widget's public id."""
    aid = await _assistant(p, **kw)
    view = await widget.update_settings(p, aid, WidgetInput(allowed_origins=origins))
    return view.public_id


# --------------------------------------------------------------------------- settings


async def test_an_assistant_gets_widget_defaults_and_a_random_public_id(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    first = await _assistant(owner, "Sales bot", language="ru")
    second = await _assistant(owner, "Support bot")
    view = await widget.get_settings(owner, first)
    assert view.public_id.startswith("wid_") and len(view.public_id) == 24
    assert widget.PUBLIC_ID_RE.match(view.public_id)
    assert (view.title, view.language, view.position) == ("Sales bot", "ru", "right")
    assert view.allowed_origins == ()  # loads nowhere until the tenant says where
    assert view.enabled
    again = await widget.get_settings(owner, first)
    assert again.public_id == view.public_id
    other = await widget.get_settings(owner, second)
    assert other.public_id != view.public_id


async def test_concurrent_first_reads_agree_on_one_public_id(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    aid = await _assistant(owner)
    views = await asyncio.gather(*(widget.get_settings(owner, aid) for _ in range(6)))
    assert len({v.public_id for v in views}) == 1


async def test_widget_settings_are_validated_with_clear_messages(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    aid = await _assistant(owner)
    cases = [
        (WidgetInput(primary_color="blue"), "hex colour"),
        (WidgetInput(primary_color="#12345g"), "hex colour"),
        (WidgetInput(position="top"), "right or left"),
        (WidgetInput(avatar_url="http://cdn.example.com/a.png"), "https://"),
        (WidgetInput(avatar_url="javascript:alert(1)"), "https://"),
        (WidgetInput(avatar_url='https://x.example.com/a.png" onerror="x'), "https://"),
        (WidgetInput(language="de"), "language"),
        (WidgetInput(title="t" * 81), "title is too long"),
        (WidgetInput(launcher_text="l" * 41), "launcher text is too long"),
        (WidgetInput(allowed_origins=("https://shop.example.com/checkout",)), "not a website"),
        (WidgetInput(allowed_origins=("ftp://shop.example.com",)), "not a website"),
        (WidgetInput(allowed_origins=("https://*.example.com",)), "not a website"),
        (WidgetInput(allowed_origins=("shop.example.com",)), "not a website"),
        (WidgetInput(allowed_origins=("https://user@shop.example.com",)), "not a website"),
        (WidgetInput(allowed_origins=tuple(f"https://s{i}.example.com" for i in range(21))),
         "at most 20"),
    ]
    for data, message in cases:
        with pytest.raises(ValidationFailed, match=message):
            await widget.update_settings(owner, aid, data)
    unchanged = await widget.get_settings(owner, aid)
    assert (unchanged.primary_color, unchanged.allowed_origins) == (widget.DEFAULT_COLOR, ())


async def test_origins_are_normalised_as_browsers_send_them(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    aid = await _assistant(owner)
    typed = widget.parse_origins(
        "HTTPS://Shop.Example.com:443/\nhttp://localhost:8080, https://shop.example.com "
        "https://пример.рф"
    )
    view = await widget.update_settings(
        owner, aid, WidgetInput(allowed_origins=typed, primary_color="#ABC")
    )
    assert view.allowed_origins == (
        "https://shop.example.com", "http://localhost:8080", "https://xn--e1afmkfd.xn--p1ai"
    )
    assert view.primary_color == "#aabbcc"


async def test_saving_widget_settings_is_audited_with_what_changed(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    aid = await _assistant(owner)
    await widget.update_settings(owner, aid, WidgetInput(
        title="Ask us", primary_color="#0f766e", position="left", language="ru",
        avatar_url="https://cdn.example.com/bot.png", launcher_text="Вопрос?",
        allowed_origins=(SHOP,)))
    view = await widget.get_settings(owner, aid)
    assert (view.title, view.primary_color, view.position, view.language, view.avatar_url,
            view.launcher_text, view.allowed_origins) == (
        "Ask us", "#0f766e", "left", "ru", "https://cdn.example.com/bot.png", "Вопрос?",
        (SHOP,))
    async with session_scope() as session:
        rows = list(await session.exec(
            select(AuditLog).where(AuditLog.action == "widget_settings_updated")
            .order_by(col(AuditLog.id))))
    assert len(rows) == 1
    assert rows[0].workspace_id == owner.workspace_id
    assert rows[0].actor_user_id == owner.user_id
    assert rows[0].target == f"assistant:{aid}"
    assert rows[0].details is not None
    assert set(rows[0].details["changed"]) >= {"title", "primary_color", "allowed_origins"}


async def test_operators_cannot_read_or_change_widget_settings(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    aid = await _assistant(owner)
    op = await _member(owner.workspace_id, "op@example.com", Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        await widget.get_settings(op, aid)
    with pytest.raises(PermissionDenied):
        await widget.update_settings(op, aid, WidgetInput(allowed_origins=(SHOP,)))
    with pytest.raises(PermissionDenied):
        await widget.set_greeting(op, aid, "Hi from an operator")


async def test_admin_of_workspace_a_cannot_read_or_change_workspace_b_widget(clean: None) -> None:
    a = await _owner("a@example.com", "A")
    b = await _owner("b@example.com", "B")
    theirs = await _assistant(b, "B bot")
    b_view = await widget.get_settings(b, theirs)
    with pytest.raises(NotFound):
        await widget.get_settings(a, theirs)
    with pytest.raises(NotFound):
        await widget.update_settings(a, theirs, WidgetInput(allowed_origins=("https://evil.example",)))
    with pytest.raises(NotFound):
        await widget.set_greeting(a, theirs, "Hijacked")
    after = await widget.get_settings(b, theirs)
    assert after.allowed_origins == () and after.public_id == b_view.public_id
    assert (await assistants.get_assistant(b, theirs)).greeting == ""


async def test_the_greeting_is_the_assistants_own(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    aid = await _assistant(owner, model="m1", fallback_models=("m2",), temperature=0.7)
    await widget.set_greeting(owner, aid, "  Hello! How can we help?  ")
    row = await assistants.get_assistant(owner, aid)
    assert row.greeting == "Hello! How can we help?"
    assert (row.model, row.fallback_models, row.temperature) == ("m1", ["m2"], 0.7)
    assert (await widget.get_settings(owner, aid)).greeting == "Hello! How can we help?"
    with pytest.raises(ValidationFailed, match="greeting is too long"):
        await widget.set_greeting(owner, aid, "g" * 501)


def test_every_widget_language_has_every_string() -> None:
    assert set(WIDGET_STRINGS) == set(widget.LANGUAGES) == {"en", "ru"}
    english = set(WIDGET_STRINGS["en"])
    for lang, table in WIDGET_STRINGS.items():
        assert set(table) == english, lang
        assert all(v.strip() for v in table.values()), lang
    for key in ("input_placeholder", "send", "talk_to_human", "operator_joined", "operator_left",
                "rate_prompt", "thanks", "offline", "email_placeholder", "typing", "powered_by"):
        assert key in english
    assert WIDGET_STRINGS["ru"]["send"] != WIDGET_STRINGS["en"]["send"]


async def test_public_config_tells_the_visitor_only_what_they_may_see(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    aid = await _assistant(owner, "Помощник", language="ru", greeting="Здравствуйте!")
    public_id = (await widget.get_settings(owner, aid)).public_id
    await widget.update_settings(owner, aid, WidgetInput(
        title="", language="ru", primary_color="#ff0000", allowed_origins=(SHOP,)))
    config = await widget.public_config(public_id)
    assert config is not None
    assert (config.workspace_id, config.assistant_id) == (owner.workspace_id, aid)
    sent = config.client_dict()
    assert set(sent) == {"widget", "title", "greeting", "color", "position", "avatar_url",
                         "launcher_text", "language", "strings"}
    assert sent["widget"] == public_id
    assert sent["title"] == "Помощник"  # an empty title falls back to the assistant's name
    assert sent["greeting"] == "Здравствуйте!"
    assert sent["launcher_text"] == WIDGET_STRINGS["ru"]["launcher"]
    assert sent["strings"] == WIDGET_STRINGS["ru"]


async def test_unknown_switched_off_or_inactive_widgets_have_no_public_config(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    aid = await _assistant(owner)
    on = WidgetInput(allowed_origins=(SHOP,))
    public_id = (await widget.update_settings(owner, aid, on)).public_id
    assert await widget.public_config(public_id) is not None
    assert await widget.public_config("wid_" + "x" * 20) is None
    assert await widget.public_config("not-a-widget-id") is None
    assert await widget.public_config("") is None
    await widget.update_settings(owner, aid, WidgetInput(allowed_origins=(SHOP,), enabled=False))
    assert await widget.public_config(public_id) is None
    await widget.update_settings(owner, aid, on)
    assert await widget.public_config(public_id) is not None
    await assistants.update_assistant(owner, aid, AssistantInput(name="Helper", is_active=False))
    assert await widget.public_config(public_id) is None
    await assistants.delete_assistant(owner, aid)
    assert await widget.public_config(public_id) is None


async def test_only_listed_origins_may_embed_the_widget(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    public_id = await _live_widget(owner, (SHOP, "http://localhost:8080"))
    config = await widget.public_config(public_id)
    assert config is not None
    assert widget.origin_allowed(config, "https://shop.example.com")
    assert widget.origin_allowed(config, "https://SHOP.example.com:443")
    assert widget.origin_allowed(config, "http://localhost:8080")
    for refused in ("http://shop.example.com", "https://shop.example.com:8443",
                    "https://evil.example.com", "https://shop.example.com.evil.example",
                    "http://localhost:8081", "null", "", None, "garbage"):
        assert not widget.origin_allowed(config, refused), refused
    assert not widget.origin_allowed(None, SHOP)


def test_the_snippet_is_one_line_pointing_at_the_configured_host() -> None:
    line = widget.snippet("https://replyx.example.com/", "wid_AbCdEfGhIjKlMnOpQrSt")
    assert line == ('<script src="https://replyx.example.com/widget.js" '
                    'data-assistant="wid_AbCdEfGhIjKlMnOpQrSt" async></script>')


# --------------------------------------------------------------------------- visitors


async def test_a_visitor_session_names_workspace_assistant_widget_visitor_and_origin(
    clean: None,
) -> None:
    owner = await _owner("o@example.com", "Acme")
    public_id = await _live_widget(owner)
    session = await visitors.open_session(public_id, "https://Shop.example.com", ip="10.0.0.1")
    assert session.new_visitor
    assert session.config.public_id == public_id
    claims = visitors.verify_token(session.token.token)
    assert claims.workspace_id == owner.workspace_id
    assert claims.assistant_id == session.config.assistant_id
    assert claims.widget_public_id == public_id
    assert claims.visitor_id == session.credential.visitor_id
    assert claims.origin == SHOP
    expected = get_settings().widget_token_minutes * 60
    assert session.token.expires_in == expected
    assert abs(claims.expires_at.timestamp() - (time.time() + expected)) < 120


async def test_a_returning_visitor_keeps_their_id_and_a_forged_one_starts_afresh(
    clean: None,
) -> None:
    owner = await _owner("o@example.com", "Acme")
    public_id = await _live_widget(owner)
    first = await visitors.open_session(public_id, SHOP, ip="10.0.0.1")
    cred = first.credential
    again = await visitors.open_session(public_id, SHOP, ip="10.0.0.1",
                                        visitor_id=cred.visitor_id, visitor_sig=cred.visitor_sig)
    assert not again.new_visitor
    assert again.credential == cred
    assert visitors.verify_token(again.token.token).visitor_id == cred.visitor_id
    # Someone else's visitor id with a made-up signature is just a new visitor.
    forged = await visitors.open_session(public_id, SHOP, ip="10.0.0.1",
                                         visitor_id=cred.visitor_id,
                                         visitor_sig=cred.visitor_sig[:-2] + "AA")
    assert forged.new_visitor and forged.credential.visitor_id != cred.visitor_id


async def test_a_credential_for_widget_a_never_works_for_widget_b(clean: None) -> None:
    a = await _owner("a@example.com", "A")
    b = await _owner("b@example.com", "B")
    widget_a = await _live_widget(a)
    widget_b = await _live_widget(b)
    on_a = await visitors.open_session(widget_a, SHOP, ip="10.0.0.1")
    cred = on_a.credential
    assert visitors.credential_valid(widget_a, cred.visitor_id, cred.visitor_sig)
    assert not visitors.credential_valid(widget_b, cred.visitor_id, cred.visitor_sig)
    on_b = await visitors.open_session(widget_b, SHOP, ip="10.0.0.1",
                                       visitor_id=cred.visitor_id, visitor_sig=cred.visitor_sig)
    assert on_b.new_visitor
    assert on_b.credential.visitor_id != cred.visitor_id
    claims_b = visitors.verify_token(on_b.token.token)
    assert (claims_b.workspace_id, claims_b.widget_public_id) == (b.workspace_id, widget_b)
    assert visitors.verify_token(on_a.token.token).workspace_id == a.workspace_id


async def test_forged_altered_or_foreign_tokens_are_refused(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    public_id = await _live_widget(owner)
    token = (await visitors.open_session(public_id, SHOP, ip="10.0.0.1")).token.token
    payload, sig = token.rsplit(".", 1)
    # Change the first character: it carries six whole bits of the signature (the last
    # one of unpadded base64 partly pads, so changing it may decode to the same bytes).
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    claims = visitors.verify_token(token)
    stolen = {"v": 1, "ws": claims.workspace_id + 1, "as": claims.assistant_id,
              "wid": public_id, "vid": claims.visitor_id, "o": SHOP,
              "exp": int(time.time()) + 3600}
    other_key = URLSafeSerializer("another-installation-secret-key-0123456789",
                                  salt="replyx.widget.visitor-token",
                                  signer_kwargs={"digest_method": hashlib.sha256})
    body_of_other = other_key.dumps(stolen).rsplit(".", 1)[0]
    bad = [
        "",
        "garbage",
        f"{payload}.{flipped}",
        f"{body_of_other}.{sig}",  # someone else's claims with our signature
        str(other_key.dumps(stolen)),  # well-formed, signed with another key
        token + "x",
        "x" * 5000,
    ]
    for forged in bad:
        with pytest.raises(NotAuthenticated):
            visitors.verify_token(forged)
    # A credential signature is not a token, even though both are ours.
    cred = (await visitors.open_session(public_id, SHOP, ip="10.0.0.1")).credential
    with pytest.raises(NotAuthenticated):
        visitors.verify_token(f"{cred.visitor_id}.{cred.visitor_sig}")


async def test_a_token_is_refused_once_it_has_expired(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    public_id = await _live_widget(owner)
    issued = (await visitors.open_session(public_id, SHOP, ip="10.0.0.1")).token
    just_before = issued.expires_at.timestamp() - 1
    assert visitors.verify_token(issued.token, now=just_before).widget_public_id == public_id
    with pytest.raises(NotAuthenticated, match="expired"):
        visitors.verify_token(issued.token, now=issued.expires_at.timestamp())
    with pytest.raises(NotAuthenticated, match="expired"):
        visitors.verify_token(issued.token, now=time.time() + 3 * 3600)


async def test_sessions_are_refused_for_other_origins_and_unknown_widgets(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    public_id = await _live_widget(owner)
    for origin in ("https://evil.example.com", "null", None, "http://shop.example.com"):
        with pytest.raises(PermissionDenied, match="not allowed on") as refused:
            await visitors.open_session(public_id, origin, ip="10.0.0.1")
        assert "Widget tab" in refused.value.message
    with pytest.raises(NotFound, match="no active chat widget"):
        await visitors.open_session("wid_" + "Z" * 20, SHOP, ip="10.0.0.1")
    nowhere = await _assistant(owner, "Unlisted")
    unlisted = (await widget.get_settings(owner, nowhere)).public_id
    with pytest.raises(PermissionDenied):
        await visitors.open_session(unlisted, SHOP, ip="10.0.0.1")


async def test_one_address_cannot_open_sessions_without_limit(clean: None) -> None:
    owner = await _owner("o@example.com", "Acme")
    public_id = await _live_widget(owner)
    allowed = get_settings().widget_sessions_per_ip_per_minute
    for _ in range(allowed):
        await visitors.open_session(public_id, SHOP, ip="10.0.0.9")
    with pytest.raises(RateLimited, match="Too many chat sessions") as limited:
        await visitors.open_session(public_id, SHOP, ip="10.0.0.9")
    assert 1 <= limited.value.retry_after <= 60
    # Another address is not affected.
    await visitors.open_session(public_id, SHOP, ip="10.0.0.10")
