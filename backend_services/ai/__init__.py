"""AI providers: the key pool (who answers, failover, limits) and key management.

Import the submodules directly (`backend_services.ai.pool`, `.keys`, `.errors`); this
package re-exports what the answer engine and the admin panel need most.
"""

from backend_services.ai.errors import (
    AllProvidersFailed,
    Attempt,
    NoUsableKeys,
    ProviderStreamBroken,
)
from backend_services.ai.pool import (
    ChatDone,
    ChatEvent,
    TextDelta,
    UsageStatus,
    close_clients,
    has_usable_keys,
    stream_chat,
)

__all__ = [
    "AllProvidersFailed",
    "Attempt",
    "ChatDone",
    "ChatEvent",
    "NoUsableKeys",
    "ProviderStreamBroken",
    "TextDelta",
    "UsageStatus",
    "close_clients",
    "has_usable_keys",
    "stream_chat",
]
