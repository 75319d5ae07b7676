"""Configuration: safe production checks, and keys generated once in development."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend_services.core.settings import (
    ConfigError,
    Settings,
    ensure_local_keys,
    validate_for_production,
)

GOOD = {
    "env": "production",
    "secret_key": "k" * 48,
    "encryption_key": "x" * 44,
    "allowed_origins": ["https://app.example.com"],
    "database_url": "postgresql://replyx:Str0ng-unique@db/replyx",
    "redis_url": "redis://cache:6379/0",
    "smtp_host": "smtp.example.com",
}


def test_production_starts_with_complete_settings() -> None:
    validate_for_production(Settings(**GOOD))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"secret_key": None}, "REPLYX_SECRET_KEY"),
        ({"encryption_key": None}, "REPLYX_ENCRYPTION_KEY"),
        ({"allowed_origins": []}, "REPLYX_ALLOWED_ORIGINS"),
        ({"allowed_origins": ["*"]}, "REPLYX_ALLOWED_ORIGINS"),
        ({"database_url": None}, "DATABASE_URL"),
        ({"database_url": "postgresql://postgres:postgres@db/x"}, "default password"),
        ({"smtp_host": None}, "SMTP"),
    ],
)
def test_production_refuses_unsafe_settings(override: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_for_production(Settings(**{**GOOD, **override}))


def test_development_generates_keys_once_and_keeps_them(tmp_path: Path) -> None:
    first = ensure_local_keys(Settings(data_dir=tmp_path, secret_key=None, encryption_key=None))
    second = ensure_local_keys(Settings(data_dir=tmp_path, secret_key=None, encryption_key=None))
    assert first.secret_key and first.encryption_key
    assert (first.secret_key, first.encryption_key) == (second.secret_key, second.encryption_key)
    assert (tmp_path / "secret_key.txt").stat().st_mode & 0o777 == 0o600


def test_urls_come_from_the_plain_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@h/db")
    monkeypatch.setenv("REDIS_URL", "redis://h:1/0")
    s = Settings()
    assert (s.database_url, s.redis_url, s.embedded) == (
        "postgresql://u:p@h/db", "redis://h:1/0", False)
