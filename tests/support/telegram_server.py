"""A Telegram Bot API test server on 127.0.0.1 (aiohttp): many bots, long polling, webhooks.

The fleet talks to it through real aiogram (`TelegramAPIServer.from_base(server.base_url)`)
or plain HTTP (`{base_url}/bot{token}/{method}`, JSON, urlencoded or multipart bodies, GET
query strings), so tests see what aiogram makes of each answer: 401 for a revoked token, 429
with `retry_after`, 409 when two pollers fight or a webhook is set, 5xx, slow answers, and
400 for text Telegram would refuse (too long, broken HTML / MarkdownV2).

It behaves like the real Bot API where the fleet can notice the difference:
- updates are kept per bot until confirmed by a getUpdates `offset` above their id, so an
  update handed out but not confirmed comes again (redelivery after a crash);
- a new getUpdates terminates the one already waiting for that bot (the *older* request
  gets 409 "terminated by other getUpdates request");
- while a webhook is set getUpdates answers 409, and updates are POSTed to the webhook
  one at a time, in order, with `X-Telegram-Bot-Api-Secret-Token`, retried on failure;
- a bot can only write to chats it has heard from (`push_message`, `add_chat`).

Every request is recorded as a `Call` (monotonic timestamps, params, response); every
accepted send feeds a rate checker that lists windows over Telegram's limits and can also
enforce them with 429 like Telegram's flood control. Nothing here uses a thread per bot:
a waiting poll is one coroutine on one event, so 1,000 bots long-polling cost 1,000
pending handlers and nothing else.

It runs inside the test's own event loop; `stop()` releases every waiting poll and slow
handler first so shutdown never waits for a timeout to expire.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import html
import itertools
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

T = TypeVar("T")

MAX_TEXT_LENGTH = 4096
_KEPT_MESSAGES = 2000
UNAUTHORIZED = {"ok": False, "error_code": 401, "description": "Unauthorized"}
NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
SET_WEBHOOK_CONFLICT = "Conflict: terminated by setWebhook request"
# Telegram's default when allowed_updates is empty: everything except these.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: POLL_CONFLICT,
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# Form fields that are plain strings even when they look like JSON ("123", "true").
_STRING_FIELDS = frozenset(
    [
        "text",
        "parse_mode",
        "url",
        "secret_token",
        "action",
        "caption",
        "ip_address",
        "callback_query_id",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "language_code",
        "description",
        "short_description",
        "name",
        "title",
        "emoji",
    ]
)


# ---------------------------------------------------------------------- records


@dataclass
class Call:
    """One Bot API request. `status`/`response`/`done_at` stay None while it is in flight
    (a waiting long poll); `status` 499 means the client went away before the answer."""

    token: str
    bot_id: int | None
    method: str
    params: dict[str, Any]
    at: float
    via: str = "http"  # "http", or "webhook-reply" for a method answered in a webhook body
    status: int | None = None
    response: dict[str, Any] | None = None
    done_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def pending(self) -> bool:
        return self.status is None

    @property
    def result(self) -> Any:
        return (self.response or {}).get("result")

    @property
    def description(self) -> str | None:
        return (self.response or {}).get("description")


@dataclass(frozen=True)
class SentMessage:
    """A message a bot got accepted: `text` is what the user sees (markup parsed away),
    `raw_text` what the bot sent."""

    token: str
    chat_id: int | str
    message_id: int
    text: str
    raw_text: str
    parse_mode: str | None
    reply_markup: Any
    at: float


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to a webhook; `status` None when the connection failed."""

    token: str
    update_id: int
    url: str
    attempt: int
    secret_token: str | None
    status: int | None
    error: str | None
    at: float


@dataclass(frozen=True)
class RateViolation:
    """`count` accepted sends within `window` seconds (from `start` to `end`) where at most
    `limit` are allowed. kind: "chat" (per chat per second), "group" (per group per
    minute) or "bot" (per bot per second; chat_id None)."""

    kind: str
    token: str
    chat_id: int | str | None
    start: float
    end: float
    count: int
    limit: int
    window: float


@dataclass(frozen=True)
class RateLimits:
    per_chat_per_second: int = 1
    per_group_per_minute: int = 20
    per_bot_per_second: int = 30


# ---------------------------------------------------------------------- internals


class ApiError(Exception):
    """A Telegram error answer: {"ok": false, "error_code": status, "description": ...}."""

    def __init__(
        self,
        status: int,
        description: str,
        parameters: dict[str, Any] | None = None,
        *,
        raw: str | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters
        self.raw = raw

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


class EntityError(ValueError):
    """Markup Telegram cannot parse; the message is tdlib's."""


@dataclass
class _Failure:
    token: str | None
    method: str | None
    error: ApiError
    remaining: int


@dataclass
class _Delay:
    token: str | None
    method: str | None
    seconds: float
    remaining: int


@dataclass
class _Poll:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    error: ApiError | None = None  # how the waiting request must end instead of updates

    def end(self, error: ApiError) -> None:
        self.error = error
        self.event.set()


@dataclass
class _Bot:
    token: str
    bot_id: int
    username: str
    first_name: str
    revoked: bool = False
    updates: collections.deque[dict[str, Any]] = field(default_factory=collections.deque)
    next_update_id: int = 10_000
    poll: _Poll | None = None
    allowed_updates: list[str] = field(default_factory=list)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_max_connections: int = 40
    webhook_last_error: tuple[int, str] | None = None
    webhook_task: asyncio.Task[None] | None = None
    webhook_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    chats: dict[int | str, dict[str, Any]] = field(default_factory=dict)
    last_message_id: dict[int | str, int] = field(default_factory=dict)
    messages: dict[tuple[int | str, int], dict[str, Any]] = field(default_factory=dict)
    blocked: set[int | str] = field(default_factory=set)
    commands: list[dict[str, Any]] = field(default_factory=list)

    def user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }


def bot_id_of(token: str) -> int | None:
    head = token.split(":", 1)[0]
    return int(head) if head.isdigit() else None


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def _chat_id(value: Any) -> int | str:
    if isinstance(value, bool):
        raise bad_request("chat not found")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return text


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


# ---------------------------------------------------------------------- markup parsing

_HTML_TAGS = frozenset(
    [
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    ]
)
_HTML_ENTITY = re.compile(r"&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_TAG_NAME = re.compile(r"[a-zA-Z0-9-]*")
_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")


def parse_html(text: str) -> str:
    """The visible text of `text` with parse_mode=HTML, or EntityError like tdlib's."""
    out: list[str] = []
    stack: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            m = _HTML_ENTITY.match(text, i)
            if m:
                out.append(html.unescape(m.group(0)))
                i = m.end()
            else:
                out.append("&")
                i += 1
            continue
        if c != "<":
            out.append(c)
            i += 1
            continue
        offset = _byte_offset(text, i)
        end = text.find(">", i)
        if text.startswith("</", i):
            if end < 0:
                raise EntityError(f"Unclosed end tag at byte offset {offset}")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise EntityError(f"Unexpected end tag at byte offset {offset}")
            if name != stack[-1]:
                raise EntityError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
            i = end + 1
            continue
        m = _TAG_NAME.match(text, i + 1)
        name = m.group(0).lower() if m else ""
        if name not in _HTML_TAGS:
            raise EntityError(f'Unsupported start tag "{name}" at byte offset {offset}')
        if end < 0:
            raise EntityError(f"Unclosed start tag at byte offset {offset}")
        attributes = text[i + 1 + len(name) : end]
        if name == "span" and not re.search(r"""class\s*=\s*["']?tg-spoiler""", attributes):
            raise EntityError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        stack.append(name)
        i = end + 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def parse_markdown_v2(text: str) -> str:
    """The visible text of `text` with parse_mode=MarkdownV2, or EntityError like tdlib's."""
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            i += 2
            continue
        top = stack[-1][0] if stack else None
        if top == "Code" or top == "Pre":
            if top == "Code" and c == "`":
                stack.pop()
                i += 1
            elif top == "Pre" and text.startswith("```", i):
                stack.pop()
                i += 3
            else:
                out.append(c)
                i += 1
            continue
        if c not in _MDV2_RESERVED:
            out.append(c)
            i += 1
            continue
        # The end of the innermost entity?
        closes = {
            "Bold": c == "*",
            "Italic": c == "_" and not text.startswith("__", i),
            "Underline": text.startswith("__", i),
            "Strikethrough": c == "~",
            "Spoiler": text.startswith("||", i),
            "TextUrl": c == "]",
        }
        if top is not None and closes.get(top, False):
            stack.pop()
            i += 2 if top in ("Underline", "Spoiler") else 1
            if top == "TextUrl" and i < n and text[i] == "(":
                j = i + 1
                while j < n and text[j] != ")":
                    j += 2 if text[j] == "\\" else 1
                if j >= n:
                    raise EntityError(
                        f"Can't find end of a URL at byte offset {_byte_offset(text, i)}"
                    )
                i = j + 1
            continue
        offset = _byte_offset(text, i)
        if c == "_":
            kind, width = ("Underline", 2) if text.startswith("__", i) else ("Italic", 1)
        elif c == "*":
            kind, width = "Bold", 1
        elif c == "~":
            kind, width = "Strikethrough", 1
        elif c == "|" and text.startswith("||", i):
            kind, width = "Spoiler", 2
        elif c == "[":
            kind, width = "TextUrl", 1
        elif text.startswith("```", i):
            kind, width = "Pre", 3
            newline = text.find("\n", i + 3)
            closing = text.find("```", i + 3)
            if 0 <= newline < closing and " " not in text[i + 3 : newline]:
                width = newline + 1 - i  # the language line is not part of the text
        elif c == "`":
            kind, width = "Code", 1
        elif c == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # a blockquote line: the marker is not part of the text
            continue
        else:
            raise EntityError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )
        stack.append((kind, offset))
        i += width
    if stack:
        kind, offset = stack[-1]
        raise EntityError(f"Can't find end of {kind} entity at byte offset {offset}")
    return "".join(out)


def parse_markdown(text: str) -> str:
    """The visible text of `text` with the legacy parse_mode=Markdown."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            i += 1
            continue
        error = EntityError(
            f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
        )
        if c == "[":
            j = text.find("]", i + 1)
            if j < 0:
                raise error
            out.append(text[i + 1 : j])
            i = j + 1
            if i < n and text[i] == "(":
                k = text.find(")", i)
                if k < 0:
                    raise error
                i = k + 1
            continue
        if text.startswith("```", i):
            j = text.find("```", i + 3)
            if j < 0:
                raise error
            body = text[i + 3 : j]
            first, sep, rest = body.partition("\n")
            out.append(rest if sep and first and " " not in first else body)
            i = j + 3
            continue
        j = text.find(c, i + 1)
        if j < 0:
            raise error
        out.append(text[i + 1 : j])
        i = j + 1
    return "".join(out)


def visible_text(text: str, parse_mode: str | None) -> str:
    """What the user sees for `text` sent with `parse_mode`; ApiError 400 if unparsable."""
    mode = (parse_mode or "").strip().lower()
    try:
        if mode == "html":
            return parse_html(text)
        if mode == "markdownv2":
            return parse_markdown_v2(text)
        if mode == "markdown":
            return parse_markdown(text)
    except EntityError as e:
        raise bad_request(f"can't parse entities: {e}") from None
    if mode:
        raise bad_request(f"unsupported parse_mode {parse_mode}")
    return text


_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")


def command_entities(text: str) -> list[dict[str, Any]]:
    """bot_command entities (UTF-16 offsets, as Telegram counts them)."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: m.start()]),
            "length": utf16_len(m.group(0)),
        }
        for m in _COMMAND.finditer(text)
    ]


def _violations(
    times: list[float],
    limit: int,
    window: float,
    tolerance: float,
    *,
    kind: str,
    token: str,
    chat_id: int | str | None,
) -> list[RateViolation]:
    found: list[RateViolation] = []
    span = window - tolerance
    for i in range(len(times) - limit):
        if times[i + limit] - times[i] < span:
            count = bisect.bisect_left(times, times[i] + span, lo=i) - i
            found.append(
                RateViolation(
                    kind, token, chat_id, times[i], times[i + count - 1], count, limit, window
                )
            )
    return found


# ---------------------------------------------------------------------- the server

Handler = Callable[["_Bot", dict[str, Any]], Awaitable[Any]]


class TelegramTestServer:
    """Bot API server for tests and the benchmark; see the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        enforce_rate_limits: bool = False,
        limits: RateLimits | None = None,
        record_calls: bool = True,
        webhook_attempts: int = 4,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        # Answer 429 (like flood control) instead of only recording over-limit sends.
        self.enforce_rate_limits = enforce_rate_limits
        self.limits = limits or RateLimits()
        # False keeps no Call objects (the benchmark): counters, sends and rates still work.
        self.record_calls = record_calls
        self.webhook_attempts = webhook_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.counts: collections.Counter[tuple[str, int]] = collections.Counter()
        self._bots: dict[str, _Bot] = {}
        self._calls: list[Call] = []
        self._sent: list[SentMessage] = []
        self._deliveries: list[WebhookDelivery] = []
        self._chat_sends: dict[tuple[str, int | str], list[float]] = {}
        self._bot_sends: dict[str, list[float]] = {}
        self._failures: list[_Failure] = []
        self._delays: list[_Delay] = []
        self._changed: asyncio.Event | None = None
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._user_ids: dict[str, int] = {}
        self._callback_ids = itertools.count(1)
        self._methods: dict[str, tuple[str, Handler]] = {}
        for name, handler in (
            ("getMe", self._get_me),
            ("getUpdates", self._get_updates),
            ("sendMessage", self._send_message),
            ("sendChatAction", self._send_chat_action),
            ("editMessageText", self._edit_message_text),
            ("deleteMessage", self._delete_message),
            ("answerCallbackQuery", self._true),
            ("setWebhook", self._set_webhook),
            ("deleteWebhook", self._delete_webhook),
            ("getWebhookInfo", self._get_webhook_info),
            ("setMyCommands", self._set_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
            ("close", self._true),
            ("logOut", self._true),
        ):
            self._methods[name.lower()] = (name, handler)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        # handler_cancellation: a poll whose client went away stops waiting at once, so a
        # restarted bot's next poll is not reported as a conflict with a dead connection.
        self._runner = web.AppRunner(
            app, shutdown_timeout=1.0, access_log=None, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])
        self._client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),  # 1,000 webhook bots deliver at once
            timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
        )

    async def stop(self) -> None:
        self._stopping.set()
        tasks = []
        for bot in self._bots.values():
            if bot.poll is not None:
                bot.poll.event.set()
            if bot.webhook_task is not None:
                bot.webhook_task.cancel()
                tasks.append(bot.webhook_task)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramTestServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """For aiogram: `TelegramAPIServer.from_base(server.base_url)`."""
        return f"http://{self.host}:{self.port}"

    def url(self, token: str, method: str) -> str:
        return f"{self.base_url}/bot{token}/{method}"

    # ------------------------------------------------------------------ bots and chats

    def add_bot(self, token: str, username: str, *, first_name: str | None = None) -> int:
        """Register a bot; its id is the number before the colon of `token`."""
        bot_id = bot_id_of(token)
        if bot_id is None:
            raise ValueError("a bot token starts with the bot id and a colon")
        if token in self._bots:
            self._bots[token].revoked = False
            return bot_id
        self._bots[token] = _Bot(token, bot_id, username, first_name or username)
        return bot_id

    def revoke(self, token: str) -> None:
        """From now on every call with this token answers 401, like a revoked token."""
        bot = self._bot(token)
        bot.revoked = True
        if bot.poll is not None:
            bot.poll.end(ApiError(401, "Unauthorized"))

    def add_chat(
        self,
        token: str,
        chat_id: int | str,
        *,
        chat_type: str = "private",
        title: str | None = None,
        first_name: str = "Ann",
    ) -> dict[str, Any]:
        """Make a chat known to the bot (as if its user had written) without an update."""
        bot = self._bot(token)
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = title or f"Group {chat_id}"
        bot.chats[chat_id] = chat
        return chat

    def block(self, token: str, chat_id: int | str) -> None:
        """The user blocked the bot: sends to this chat answer 403 from now on."""
        self._bot(token).blocked.add(chat_id)

    def is_polling(self, token: str) -> bool:
        """A getUpdates for this bot is waiting right now."""
        bot = self._bots.get(token)
        return bot is not None and bot.poll is not None

    def pending_updates(self, token: str) -> list[dict[str, Any]]:
        """Updates not yet confirmed (delivered ones stay until a higher offset)."""
        return list(self._bot(token).updates)

    def webhook(self, token: str) -> tuple[str | None, str | None]:
        """(url, secret_token) currently set for the bot."""
        bot = self._bot(token)
        return bot.webhook_url, bot.webhook_secret

    # ------------------------------------------------------------------ updates

    def push_update(self, token: str, update: dict[str, Any]) -> int:
        """Queue an update (any type: message, callback_query, ...); returns its update_id."""
        bot = self._bot(token)
        update_id = bot.next_update_id
        bot.next_update_id += 1
        kind = next((k for k in update if k != "update_id"), "")
        allowed = bot.allowed_updates
        if (kind in allowed) if allowed else (kind not in _OPT_IN_UPDATES):
            bot.updates.append({"update_id": update_id, **update})
            if bot.poll is not None:
                bot.poll.event.set()
            if bot.webhook_url is not None:
                bot.webhook_wakeup.set()
        self._notify()
        return update_id

    def push_message(
        self,
        token: str,
        chat_id: int,
        text: str,
        *,
        chat_type: str = "private",
        from_name: str = "Ann",
        user_id: int | None = None,
        title: str | None = None,
    ) -> int:
        """A user writes `text` to the bot (private chat by default); returns the update_id.
        Commands (/start, /operator@bot) carry bot_command entities like Telegram's."""
        bot = self._bot(token)
        if user_id is None:
            user_id = chat_id if chat_type == "private" else self._user_id(from_name)
        chat = bot.chats.get(chat_id)
        if chat is None or chat["type"] != chat_type:
            chat = self.add_chat(
                token, chat_id, chat_type=chat_type, title=title, first_name=from_name
            )
        message: dict[str, Any] = {
            "message_id": self._next_message_id(bot, chat_id),
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": from_name,
                "language_code": "en",
            },
            "chat": dict(chat),
            "date": int(time.time()),
            "text": text,
        }
        if entities := command_entities(text):
            message["entities"] = entities
        self._remember(bot, message)
        return self.push_update(token, {"message": message})

    def push_callback(
        self,
        token: str,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        from_name: str = "Ann",
        user_id: int | None = None,
    ) -> int:
        """A user presses an inline button with callback `data` under one of the bot's
        messages (the latest in the chat by default); returns the update_id."""
        bot = self._bot(token)
        chat = bot.chats.get(chat_id) or self.add_chat(token, chat_id, first_name=from_name)
        if message_id is None:
            message_id = bot.last_message_id.get(chat_id, 0)
        message = bot.messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "chat": chat,
            "date": int(time.time()),
            "text": "",
        }
        user = {
            "id": user_id if user_id is not None else chat_id,
            "is_bot": False,
            "first_name": from_name,
        }
        return self.push_update(
            token,
            {
                "callback_query": {
                    "id": str(next(self._callback_ids)),
                    "from": user,
                    "message": message,
                    "chat_instance": str(chat_id),
                    "data": data,
                }
            },
        )

    # ------------------------------------------------------------------ scripting

    def fail_next(
        self,
        token: str | None,
        method: str | None,
        status: int = 429,
        retry_after: int = 3,
        *,
        description: str | None = None,
        raw: str | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` (None: any) by `token` (None: any bot) fail
        with `status`. Rules are consumed in the order they were added. 429 carries
        `parameters.retry_after`; `raw` replaces the JSON body (e.g. nginx's HTML 502)."""
        if status == 429:
            error = too_many_requests(retry_after)
            if description:
                error.description = description
        else:
            text = description or _DEFAULT_DESCRIPTIONS.get(status, "Error")
            error = ApiError(status, text, raw=raw)
        self._failures.append(_Failure(token, self._canonical(method), error, times))

    def slow(
        self, token: str | None, method: str | None, seconds: float, *, times: int = 1
    ) -> None:
        """The next `times` matching calls wait `seconds` before being handled."""
        self._delays.append(_Delay(token, self._canonical(method), seconds, times))

    def reset_scripts(self) -> None:
        self._failures.clear()
        self._delays.clear()

    # ------------------------------------------------------------------ observation

    def calls(self, token: str | None = None, method: str | None = None) -> list[Call]:
        """Recorded calls in arrival order (including ones still in flight)."""
        wanted = self._canonical(method)
        return [
            c
            for c in self._calls
            if (token is None or c.token == token) and (wanted is None or c.method == wanted)
        ]

    def sent_messages(
        self, token: str | None = None, chat_id: int | str | None = None
    ) -> list[SentMessage]:
        return [
            s
            for s in self._sent
            if (token is None or s.token == token) and (chat_id is None or s.chat_id == chat_id)
        ]

    def deliveries(self, token: str | None = None) -> list[WebhookDelivery]:
        return [d for d in self._deliveries if token is None or d.token == token]

    def clear_records(self) -> None:
        """Forget calls, sends, deliveries, counters and rate history (bots stay)."""
        self._calls.clear()
        self._sent.clear()
        self._deliveries.clear()
        self._chat_sends.clear()
        self._bot_sends.clear()
        self.counts.clear()

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until `predicate()` is truthy (checked on every change: request, answer,
        update, delivery) and return its value; TimeoutError after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_for_messages(
        self,
        token: str,
        chat_id: int | str | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[SentMessage]:
        """Wait until at least `count` messages were sent by `token` (to `chat_id`)."""

        def enough() -> list[SentMessage]:
            sent = self.sent_messages(token, chat_id)
            return sent if len(sent) >= count else []

        return await self.wait_for(enough, timeout)

    async def wait_until_polling(self, token: str, timeout: float = 5.0) -> None:
        await self.wait_for(lambda: self.is_polling(token), timeout)

    def max_rate_violations(
        self,
        per_chat_per_second: int = 1,
        per_group_per_minute: int = 20,
        per_bot_per_second: int = 30,
        *,
        token: str | None = None,
        tolerance: float = 0.0,
    ) -> list[RateViolation]:
        """Every window in which accepted sends exceeded a limit (empty list: none).

        A window counts sends accepted within `window - tolerance` seconds of its first
        one; `tolerance` absorbs network jitter between a client-side limiter and this
        server's clock (0 = strict)."""
        found: list[RateViolation] = []
        for (tok, chat_id), times in self._chat_sends.items():
            if token is not None and tok != token:
                continue
            found += _violations(
                times, per_chat_per_second, 1.0, tolerance, kind="chat", token=tok, chat_id=chat_id
            )
            if self._is_group(tok, chat_id):
                found += _violations(
                    times,
                    per_group_per_minute,
                    60.0,
                    tolerance,
                    kind="group",
                    token=tok,
                    chat_id=chat_id,
                )
        for tok, times in self._bot_sends.items():
            if token is not None and tok != token:
                continue
            found += _violations(
                times, per_bot_per_second, 1.0, tolerance, kind="bot", token=tok, chat_id=None
            )
        return sorted(found, key=lambda v: v.start)

    # ------------------------------------------------------------------ request plumbing

    def _bot(self, token: str) -> _Bot:
        try:
            return self._bots[token]
        except KeyError:
            raise KeyError("unknown bot token; add_bot() it first") from None

    def _canonical(self, method: str | None) -> str | None:
        if method is None:
            return None
        known = self._methods.get(method.lower())
        return known[0] if known else method

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def _user_id(self, name: str) -> int:
        """A stable user id per name for group members."""
        if name not in self._user_ids:
            self._user_ids[name] = 700_000_001 + len(self._user_ids)
        return self._user_ids[name]

    @staticmethod
    def _remember(bot: _Bot, message: dict[str, Any]) -> None:
        """Keep messages for edits and callbacks, the most recent _KEPT_MESSAGES per bot."""
        bot.messages[(message["chat"]["id"], message["message_id"])] = message
        if len(bot.messages) > _KEPT_MESSAGES:
            del bot.messages[next(iter(bot.messages))]

    @staticmethod
    def _next_message_id(bot: _Bot, chat_id: int | str) -> int:
        message_id = bot.last_message_id.get(chat_id, 0) + 1
        bot.last_message_id[chat_id] = message_id
        return message_id

    def _is_group(self, token: str, chat_id: int | str) -> bool:
        bot = self._bots.get(token)
        chat = bot.chats.get(chat_id) if bot else None
        if chat is not None:
            return chat["type"] in ("group", "supergroup")
        return isinstance(chat_id, int) and chat_id < 0

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def _take(self, rules: list[Any], token: str, method: str) -> Any:
        for rule in rules:
            if (rule.token is None or rule.token == token) and (
                rule.method is None or rule.method == method
            ):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    rules.remove(rule)
                return rule
        return None

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        # Query and form values are strings; Telegram reads numbers, booleans and JSON
        # arrays/objects out of them field by field. A JSON body is typed already.
        strings: dict[str, Any] = dict(request.query.items())
        typed: dict[str, Any] = {}
        ctype = request.content_type
        if request.can_read_body and ctype == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError:
                raise bad_request("can't parse JSON object") from None
            if isinstance(body, dict):
                typed = body
        elif request.can_read_body and ctype in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    typed[key] = f"<file {value.filename}>"
                else:
                    strings[key] = value
        for key, value in list(strings.items()):
            if isinstance(value, str) and key not in _STRING_FIELDS:
                with contextlib.suppress(ValueError):
                    strings[key] = json.loads(value)
        return {**strings, **typed}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method = self._canonical(request.match_info["method"]) or ""
        try:
            params = await self._params(request)
        except ApiError as e:
            return web.json_response(e.payload(), status=e.status)
        call = self._begin(token, method, params, via="http")
        status, payload, raw = 499, {"ok": False, "error_code": 499, "description": "gone"}, None
        try:
            status, payload, raw = await self._execute(token, method, params)
        finally:
            self._finish(call, method, status, payload)
        if raw is not None:
            return web.Response(status=status, text=raw, content_type="text/html")
        return web.json_response(payload, status=status)

    def _begin(self, token: str, method: str, params: dict[str, Any], via: str) -> Call | None:
        if not self.record_calls:
            return None
        call = Call(token, bot_id_of(token), method, params, time.monotonic(), via)
        self._calls.append(call)
        self._notify()
        return call

    def _finish(self, call: Call | None, method: str, status: int, payload: dict[str, Any]) -> None:
        self.counts[(method, status)] += 1
        if call is not None:
            call.status, call.response, call.done_at = status, payload, time.monotonic()
        self._notify()

    async def _execute(
        self, token: str, method: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any], str | None]:
        delay = self._take(self._delays, token, method)
        if delay is not None:
            await self._pause(delay.seconds)
        bot = self._bots.get(token)
        if bot is None or bot.revoked:
            return 401, dict(UNAUTHORIZED), None
        failure = self._take(self._failures, token, method)
        if failure is not None:
            return failure.error.status, failure.error.payload(), failure.error.raw
        known = self._methods.get(method.lower())
        if known is None:
            return 404, dict(NOT_FOUND), None
        try:
            result = await known[1](bot, params)
        except ApiError as e:
            return e.status, e.payload(), None
        payload: dict[str, Any] = {"ok": True, "result": result}
        if isinstance(result, tuple):  # (result, description) as setWebhook answers
            payload = {"ok": True, "result": result[0], "description": result[1]}
        return 200, payload, None

    # ------------------------------------------------------------------ rate limits

    def _check_rate(self, bot: _Bot, chat_id: int | str, now: float) -> None:
        if not self.enforce_rate_limits:
            return
        checks: list[tuple[list[float], int, float]] = [
            (self._chat_sends.get((bot.token, chat_id), []), self.limits.per_chat_per_second, 1.0),
            (self._bot_sends.get(bot.token, []), self.limits.per_bot_per_second, 1.0),
        ]
        if self._is_group(bot.token, chat_id):
            checks.append(
                (
                    self._chat_sends.get((bot.token, chat_id), []),
                    self.limits.per_group_per_minute,
                    60.0,
                )
            )
        wait = 0.0
        for times, limit, window in checks:
            first = bisect.bisect_right(times, now - window)
            if len(times) - first >= limit:
                wait = max(wait, times[len(times) - limit] + window - now)
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))

    def _record_send(self, bot: _Bot, chat_id: int | str, now: float) -> None:
        self._chat_sends.setdefault((bot.token, chat_id), []).append(now)
        self._bot_sends.setdefault(bot.token, []).append(now)

    # ------------------------------------------------------------------ methods

    def _chat(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat_id = _chat_id(raw)
        chat = bot.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        if chat_id in bot.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    async def _true(self, bot: _Bot, params: dict[str, Any]) -> Any:
        return True

    async def _get_me(self, bot: _Bot, params: dict[str, Any]) -> Any:
        return {
            **bot.user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, bot: _Bot, params: dict[str, Any]) -> Any:
        if bot.webhook_url is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = max(_int_param(params, "timeout", 0), 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            bot.allowed_updates = [str(a) for a in allowed]
        if bot.poll is not None:  # the newer request wins, the older one gets 409
            bot.poll.end(ApiError(409, POLL_CONFLICT))
            bot.poll = None
        if offset < 0:
            while len(bot.updates) > -offset:
                bot.updates.popleft()
        else:
            while bot.updates and bot.updates[0]["update_id"] < offset:
                bot.updates.popleft()
        if bot.updates or timeout == 0:
            return list(itertools.islice(bot.updates, limit))
        poll = _Poll()
        bot.poll = poll
        self._notify()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(poll.event.wait(), timeout)
        finally:
            if bot.poll is poll:
                bot.poll = None
        if poll.error is not None:
            raise poll.error
        return list(itertools.islice(bot.updates, limit))

    def _text(self, params: dict[str, Any]) -> tuple[str, str]:
        raw = params.get("text")
        if raw is None or raw == "":
            raise bad_request("message text is empty")
        raw = str(raw)
        shown = visible_text(raw, params.get("parse_mode"))
        if not shown.strip():
            raise bad_request("message text is empty")
        if len(shown) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return raw, shown

    async def _send_message(self, bot: _Bot, params: dict[str, Any]) -> Any:
        chat = self._chat(bot, params)
        raw, shown = self._text(params)
        now = time.monotonic()
        self._check_rate(bot, chat["id"], now)
        self._record_send(bot, chat["id"], now)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(bot, chat["id"]),
            "from": bot.user(),
            "chat": dict(chat),
            "date": int(time.time()),
            "text": shown,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._remember(bot, message)
        self._sent.append(
            SentMessage(
                bot.token,
                chat["id"],
                message["message_id"],
                shown,
                raw,
                params.get("parse_mode"),
                markup,
                now,
            )
        )
        return message

    async def _send_chat_action(self, bot: _Bot, params: dict[str, Any]) -> Any:
        self._chat(bot, params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def _edit_message_text(self, bot: _Bot, params: dict[str, Any]) -> Any:
        chat = self._chat(bot, params)
        message_id = _int_param(params, "message_id", 0)
        message = bot.messages.get((chat["id"], message_id))
        if message is None or message.get("from", {}).get("id") != bot.bot_id:
            raise bad_request("message to edit not found")
        _, shown = self._text(params)
        markup = params.get("reply_markup")
        if shown == message.get("text") and markup == message.get("reply_markup"):
            raise bad_request(
                "message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        message["text"] = shown
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return {**message, "edit_date": int(time.time())}

    async def _delete_message(self, bot: _Bot, params: dict[str, Any]) -> Any:
        chat = self._chat(bot, params)
        key = (chat["id"], _int_param(params, "message_id", 0))
        if bot.messages.pop(key, None) is None:
            raise bad_request("message to delete not found")
        return True

    async def _set_my_commands(self, bot: _Bot, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("parameter commands is required")
        bot.commands = commands
        return True

    async def _get_my_commands(self, bot: _Bot, params: dict[str, Any]) -> Any:
        return bot.commands

    async def _delete_my_commands(self, bot: _Bot, params: dict[str, Any]) -> Any:
        bot.commands = []
        return True

    # ------------------------------------------------------------------ webhooks

    async def _set_webhook(self, bot: _Bot, params: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(bot, params)
        if not re.match(r"^https?://[^/\s]+", url):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        secret = None if secret in (None, "") else str(secret)
        if secret is not None:
            if len(secret) > 256:
                raise bad_request("secret token is too long")
            if not re.fullmatch(r"[A-Za-z0-9_-]+", secret):
                raise bad_request("secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            bot.allowed_updates = [str(a) for a in allowed]
        if params.get("drop_pending_updates") is True:
            bot.updates.clear()
        same = bot.webhook_url == url and bot.webhook_secret == secret
        bot.webhook_url, bot.webhook_secret = url, secret
        bot.webhook_max_connections = _int_param(params, "max_connections", 40)
        bot.webhook_last_error = None
        if bot.poll is not None:
            bot.poll.end(ApiError(409, SET_WEBHOOK_CONFLICT))
        if bot.webhook_task is None or bot.webhook_task.done():
            bot.webhook_task = asyncio.create_task(self._deliver(bot))
        bot.webhook_wakeup.set()
        return True, "Webhook is already set" if same else "Webhook was set"

    async def _delete_webhook(self, bot: _Bot, params: dict[str, Any]) -> Any:
        if params.get("drop_pending_updates") is True:
            bot.updates.clear()
        was_set = bot.webhook_url is not None
        bot.webhook_url = bot.webhook_secret = None
        bot.webhook_last_error = None
        bot.webhook_wakeup.set()
        return True, "Webhook was deleted" if was_set else "Webhook is already deleted"

    async def _get_webhook_info(self, bot: _Bot, params: dict[str, Any]) -> Any:
        info: dict[str, Any] = {
            "url": bot.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if bot.webhook_url:
            info["max_connections"] = bot.webhook_max_connections
            info["ip_address"] = "127.0.0.1"
            if bot.allowed_updates:
                info["allowed_updates"] = bot.allowed_updates
        if bot.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = bot.webhook_last_error
        return info

    async def _deliver(self, bot: _Bot) -> None:
        """Post the bot's updates to its webhook one at a time, in order; an update is
        confirmed by a 2xx and dropped after `webhook_attempts` failures."""
        attempt = 0
        while not self._stopping.is_set():
            url, secret = bot.webhook_url, bot.webhook_secret
            if url is None:
                return
            if not bot.updates:
                bot.webhook_wakeup.clear()
                await bot.webhook_wakeup.wait()
                continue
            update = bot.updates[0]
            attempt += 1
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
            status: int | None = None
            error: str | None = None
            body: Any = None
            assert self._client is not None
            try:
                async with self._client.post(url, json=update, headers=headers) as resp:
                    status = resp.status
                    if 200 <= status < 300:
                        with contextlib.suppress(ValueError, aiohttp.ContentTypeError):
                            body = await resp.json(content_type=None)
                    else:
                        error = f"Wrong response from the webhook: {status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError) as e:
                error = f"Connection failed: {type(e).__name__}"
            self._deliveries.append(
                WebhookDelivery(
                    bot.token,
                    update["update_id"],
                    url,
                    attempt,
                    secret,
                    status,
                    error,
                    time.monotonic(),
                )
            )
            self._notify()
            if error is None:
                if bot.updates and bot.updates[0] is update:
                    bot.updates.popleft()
                attempt = 0
                if isinstance(body, dict) and isinstance(body.get("method"), str):
                    await self._webhook_reply(bot, body)
                continue
            bot.webhook_last_error = (int(time.time()), error)
            if attempt >= self.webhook_attempts:
                if bot.updates and bot.updates[0] is update:
                    bot.updates.popleft()
                attempt = 0
                continue
            await self._pause(self.webhook_retry_delay * attempt)

    async def _webhook_reply(self, bot: _Bot, body: dict[str, Any]) -> None:
        """Telegram runs a method returned in the webhook's response body."""
        method = self._canonical(str(body["method"])) or ""
        params = {k: v for k, v in body.items() if k != "method"}
        if "chat_id" in params:
            params["chat_id"] = _chat_id(params["chat_id"])
        call = self._begin(bot.token, method, params, via="webhook-reply")
        status, payload, _ = await self._execute(bot.token, method, params)
        self._finish(call, method, status, payload)


@contextlib.asynccontextmanager
async def serving(env: Any, bots: dict[str, str]) -> collections.abc.AsyncIterator[
        TelegramTestServer]:
    """A server knowing `bots` (token → username), which this process's settings call
    (`env`: the tests' monkeypatch fixture, undone after the test)."""
    from backend_services.core.settings import reset_settings_cache

    async with TelegramTestServer() as server:
        for token, username in bots.items():
            server.add_bot(token, username, first_name=username.replace("_", " ").title())
        env.setenv("REPLYX_TELEGRAM_API_BASE", server.base_url)
        reset_settings_cache()
        yield server
