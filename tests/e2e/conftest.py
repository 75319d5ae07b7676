"""Fixtures of the browser tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from backend_services.core.settings import reset_settings_cache
from tests.support.telegram_server import TelegramTestServer


@pytest_asyncio.fixture
async def telegram(
    clean: None, telegram_api: TelegramTestServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TelegramTestServer]:
    """The test server the app talks to; service calls made by the test use it too."""
    monkeypatch.setenv("REPLYX_TELEGRAM_API_BASE", telegram_api.base_url)
    reset_settings_cache()
    yield telegram_api
    monkeypatch.undo()
    reset_settings_cache()
