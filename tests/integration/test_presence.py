"""Operator presence in Redis: statuses per workspace, heartbeats, and a closed tab going
offline by itself when its status expires."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend_services.conversations import presence
from backend_services.core.errors import ValidationFailed
from backend_services.core.redis_client import get_redis
from backend_services.core.settings import reset_settings_cache
from tests.integration.conversation_helpers import eventually, shop


@pytest.fixture
def presence_ttl(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A one-second status life, so expiry is observable without waiting long."""
    monkeypatch.setenv("REPLYX_PRESENCE_TTL_SECONDS", "1")
    reset_settings_cache()
    yield
    monkeypatch.delenv("REPLYX_PRESENCE_TTL_SECONDS")
    reset_settings_cache()


async def test_operators_set_online_away_and_offline_per_workspace(clean: None) -> None:
    s = await shop()
    other = await shop("b")
    await presence.set_status(s.anna, "online")
    await presence.set_status(s.boris, "away")
    await presence.set_status(other.anna, "online")

    assert await presence.statuses(s.owner.workspace_id) == {
        s.anna.user_id: "online", s.boris.user_id: "away"}
    assert await presence.online_operator_count(s.owner.workspace_id) == 1
    assert await presence.statuses(other.owner.workspace_id) == {other.anna.user_id: "online"}

    await presence.set_status(s.anna, "offline")
    assert await presence.statuses(s.owner.workspace_id) == {s.boris.user_id: "away"}
    assert await presence.online_operator_count(s.owner.workspace_id) == 0
    with pytest.raises(ValidationFailed):
        await presence.set_status(s.anna, "busy")


async def test_a_closed_tab_goes_offline_by_itself_without_heartbeats(
    clean: None, presence_ttl: None
) -> None:
    s = await shop()
    await presence.set_status(s.anna, "online")
    assert await presence.statuses(s.owner.workspace_id) == {s.anna.user_id: "online"}

    async def gone() -> bool:
        return await presence.statuses(s.owner.workspace_id) == {}

    await eventually(gone, "Anna going offline after her heartbeats stopped")
    assert await presence.online_operator_count(s.owner.workspace_id) == 0
    assert await presence.heartbeat(s.anna) == "offline"  # the console must set it again


async def test_a_heartbeat_renews_the_status_for_another_full_period(
    clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await shop()
    monkeypatch.setenv("REPLYX_PRESENCE_TTL_SECONDS", "1")
    reset_settings_cache()
    await presence.set_status(s.anna, "away")
    monkeypatch.setenv("REPLYX_PRESENCE_TTL_SECONDS", "600")
    reset_settings_cache()
    try:
        assert await presence.heartbeat(s.anna) == "away"
        left = await get_redis().ttl(f"replyx:presence:{s.owner.workspace_id}:{s.anna.user_id}")
        assert left > 60  # renewed to the (new) full period, far beyond the first second
        assert await presence.statuses(s.owner.workspace_id) == {s.anna.user_id: "away"}
    finally:
        monkeypatch.delenv("REPLYX_PRESENCE_TTL_SECONDS")
        reset_settings_cache()
