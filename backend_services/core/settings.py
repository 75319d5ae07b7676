"""The one place configuration is read. Every variable is documented in the README table.

Embedded mode (no DATABASE_URL / REDIS_URL) is for one machine: the launcher starts
PostgreSQL and Valkey from pip packages and generates the secret and encryption keys
into the data directory once. Production mode refuses to start on anything that would
be unsafe to expose: missing keys, no explicit allowed origins, default credentials.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]


class ConfigError(RuntimeError):
    """Settings that must not be run with; the message says what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REPLYX_", extra="ignore", populate_by_name=True)

    env: Literal["development", "production"] = "development"
    data_dir: Path = ROOT / ".replyx-data"

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "REPLYX_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "REPLYX_REDIS_URL")
    )

    secret_key: str | None = None
    encryption_key: str | None = None

    host: str = "127.0.0.1"
    port: int = 3000
    public_url: str | None = None
    allowed_origins: list[str] = Field(default_factory=list)
    web_workers: int = 1
    trusted_proxy_hops: int = 0

    session_idle_minutes: int = 8 * 60
    session_max_hours: int = 7 * 24
    login_max_failures_account: int = 5
    login_max_failures_ip: int = 20
    login_lockout_seconds: int = 300
    # Temporary address bans (backend_services/core/bans.py, the fail2ban of the old system):
    # this many failures (wrong passwords, refused sign-ins, widget origin refusals,
    # Telegram webhook secret mismatches) from one address within the window ban it for
    # `ban_seconds`. Exempt addresses are never counted: a local reverse proxy seen as
    # 127.0.0.1 (REPLYX_TRUSTED_PROXY_HOPS unset) must not get every user banned at once.
    ban_after_failures: int = 30
    ban_window_seconds: int = 600
    ban_seconds: int = 900
    ban_exempt_addresses: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    @field_validator("ban_exempt_addresses")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        """A typo here must stop the start, not make every ban check fail at run time."""
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"REPLYX_BAN_EXEMPT_ADDRESSES: {entry!r} is no address "
                                 "or network") from exc
        return value
    email_token_hours: int = 48
    # How long a workspace an owner asked to delete keeps working (any owner can cancel).
    workspace_deletion_grace_days: int = 7
    reset_token_minutes: int = 60

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "ReplyX <no-reply@replyx.dev>"
    # Visitors' e-mail replies (conversations/email_thread.py): the jobs process listens
    # for them by SMTP on this port (0: not at all); replies are addressed to
    # reply+<conversation>-<signature>@<reply domain> (default: mail_from's domain).
    inbound_smtp_host: str = "127.0.0.1"
    inbound_smtp_port: int = 0
    reply_domain: str | None = None

    # Payment gateways (billing/gateways; docs/billing.md). A gateway is offered for
    # top-ups when its credentials are set; the API URLs are for their test environments
    # (and our emulators in tests).
    tinkoff_terminal_key: str | None = None
    tinkoff_password: str | None = None
    tinkoff_api_url: str = "https://securepay.tinkoff.ru/v2"
    yookassa_shop_id: str | None = None
    yookassa_secret_key: str | None = None
    yookassa_api_url: str = "https://api.yookassa.ru/v3"
    # Accept YooKassa notifications only from its documented address ranges (on top of
    # re-reading the payment from its API, which is what makes a notification trusted).
    yookassa_check_source: bool = True
    payment_timeout_seconds: float = 15.0
    topup_min_minor: int = 100
    topup_max_minor: int = 100_000_000

    demo_seed: bool = True
    # Where uploaded files live (backend_services/core/file_store.py): in PostgreSQL (every
    # process on every host reads them, pg_dump and `replyx backup` include them), or in
    # S3-compatible object storage (bucket, endpoint for MinIO/Ceph/Yandex/…, keys).
    file_store: Literal["postgres", "s3"] = "postgres"
    s3_bucket: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_prefix: str = ""
    heartbeat_seconds: int = 10
    # Telegram fleet: worker processes (bots are sharded by channel id) and the most bots
    # one worker is sized for (its HTTP connection pool; DESIGN.md §7: ~1,500 at most).
    fleet_workers: int = 2
    fleet_max_bots_per_worker: int = 1000
    # A claimed outbox message not confirmed within this time (its worker died mid-send)
    # may be claimed again by another worker.
    fleet_outbox_lease_seconds: int = 60
    jobs_concurrency: int = 2
    jobs_heartbeat_seconds: float = 5.0
    jobs_stalled_seconds: float = 30.0
    crawl_allow_private: bool = False
    widget_token_minutes: int = 120
    widget_sessions_per_ip_per_minute: int = 60
    presence_ttl_seconds: int = 45
    # How often one web worker re-checks every open staff tab's live links, which ends the
    # live views of sessions that expired without any event (state/live_access.py).
    live_recheck_seconds: int = 60
    visitor_messages_per_minute: int = 20
    # Requests one workspace API key may make per minute (integrations/api_keys.py).
    api_requests_per_minute: int = 120
    visitor_messages_per_ip_per_minute: int = 60
    # AI answers one workspace gets per minute from all its visitors together: a ceiling
    # on what a flood of visitors can spend (conversations/answer_ceiling.py; 0 = none).
    ai_answers_per_workspace_per_minute: int = 30
    # The platform's currency, chosen at install (billing; docs/billing.md): new workspaces'
    # balances, the tariff and model prices are in it. Changing it later does not convert
    # existing balances; a balance in another currency is not charged.
    currency: Literal["USD", "RUB"] = "USD"
    # AI answers one web worker writes at once; past it new widget messages are refused
    # with a "busy, send again" notice instead of queueing without bound
    # (bench/widget_load.py: ~6 answers/s per worker on a shared core, so ~3 s at most).
    widget_answers_per_worker: int = 16
    # Unfinished widget answers (backend_services/conversations/pending_answers.py): the
    # lease a web worker holds while it writes one (renewed every third of it), how often
    # every worker looks for leases that ran out, how many workers may try one question,
    # and how long a stopping worker lets its running answers finish before handing them on.
    answer_lease_seconds: int = 30
    answer_recovery_seconds: float = 5.0
    answer_max_attempts: int = 3
    answer_drain_seconds: float = 15.0
    # Level of our own log lines in web workers (replyx_app/web_logging.py).
    web_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # CPU threads one web worker's query embedding uses (replyx_app/launcher.py).
    web_embed_threads: int = 1
    # Knowledge embeddings from an OpenAI-compatible endpoint instead of the bundled local
    # model (knowledge/embeddings.py). Unset URL = local. The model must give vectors of
    # the index's dimension (384): text-embedding-3-* are asked for it, others must have it.
    embeddings_url: str | None = None
    embeddings_model: str = "text-embedding-3-small"
    embeddings_api_key: str | None = None
    # Telegram sends, shared by every fleet worker through Redis (channels/telegram/limiter.py)
    # and the durable outbox of operator/system messages (channels/telegram/outbox.py).
    telegram_chat_messages_per_second: int = 1
    telegram_group_messages_per_minute: int = 20
    # Telegram allows 30; 25 leaves room for the jitter between reserving a slot and the
    # request reaching Telegram (bench/fleet_load.py saw 34 arrive within 0.97 s at 30).
    telegram_bot_messages_per_second: int = 25
    telegram_outbox_max_attempts: int = 8
    telegram_outbox_retry_base_seconds: float = 2.0
    telegram_outbox_retry_cap_seconds: float = 300.0
    telegram_outbox_catchup_hours: int = 24
    # Telegram channels: the Bot API (a self-hosted Bot API server works too), the public
    # base URL Telegram calls in webhook mode (default: base_url), and how long a bot's
    # status may go without a refresh from the fleet before the page says "fleet offline".
    telegram_api_base: str = "https://api.telegram.org"
    telegram_webhook_base: str | None = None
    telegram_status_stale_seconds: int = 60

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def embedded(self) -> bool:
        return self.database_url is None or self.redis_url is None

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def outbox_dir(self) -> Path:
        """Where mail lands when no SMTP server is configured (development only)."""
        return self.data_dir / "outbox"

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigError("DATABASE_URL is not set and no embedded server was started")
        return self.database_url

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise ConfigError("REDIS_URL is not set and no embedded server was started")
        return self.redis_url


DEFAULT_CREDENTIAL_MARKERS = ("changeme", "password", "postgres", "replyx", "secret", "admin")


def validate_for_production(s: Settings) -> None:
    """Refuse to run in production with settings that are only fit for a laptop."""
    if not s.production:
        return
    problems: list[str] = []
    if not s.secret_key or len(s.secret_key) < 32:
        problems.append("REPLYX_SECRET_KEY must be set (at least 32 characters)")
    if not s.encryption_key:
        problems.append("REPLYX_ENCRYPTION_KEY must be set (a Fernet key)")
    if not s.allowed_origins or "*" in s.allowed_origins:
        problems.append("REPLYX_ALLOWED_ORIGINS must list the dashboard origins explicitly")
    if not s.database_url or not s.redis_url:
        problems.append("DATABASE_URL and REDIS_URL must be set (no embedded servers)")
    if not s.smtp_host:
        problems.append("REPLYX_SMTP_HOST must be set: confirmation and reset mails need it")
    if s.file_store == "s3" and not s.s3_bucket:
        problems.append("REPLYX_S3_BUCKET must be set when REPLYX_FILE_STORE is s3")
    for name, value in (("DATABASE_URL", s.database_url), ("REDIS_URL", s.redis_url)):
        if value and any(f":{m}@" in value for m in DEFAULT_CREDENTIAL_MARKERS):
            problems.append(f"{name} uses a default password")
    if s.secret_key and s.secret_key.lower() in DEFAULT_CREDENTIAL_MARKERS:
        problems.append("REPLYX_SECRET_KEY is a default value")
    if problems:
        raise ConfigError("refusing to start in production:\n  - " + "\n  - ".join(problems))


def ensure_local_keys(s: Settings) -> Settings:
    """In development, generate the secret and encryption keys once into the data dir."""
    if s.production:
        return s
    s.data_dir.mkdir(parents=True, exist_ok=True)
    updates: dict[str, str] = {}
    fresh = {
        "secret_key": secrets.token_urlsafe(48),
        "encryption_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    for name, value in fresh.items():
        if getattr(s, name):
            continue
        path = s.data_dir / f"{name}.txt"
        if not path.exists():
            path.write_text(value)
            path.chmod(0o600)
        updates[name] = path.read_text().strip()
    return s.model_copy(update=updates) if updates else s


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; the launcher exports resolved URLs to children via the env."""
    return ensure_local_keys(Settings())


def reset_settings_cache() -> None:
    get_settings.cache_clear()
