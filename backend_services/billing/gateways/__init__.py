"""Payment gateways behind one interface (`base.Gateway`): T-Bank (Tinkoff) acquiring and
YooKassa. `available()` lists those whose credentials are configured."""

from __future__ import annotations

from backend_services.billing.gateways.base import Gateway
from backend_services.billing.gateways.tinkoff import TinkoffGateway
from backend_services.billing.gateways.yookassa import YooKassaGateway
from backend_services.core.settings import get_settings

LABELS = {"tinkoff": "T-Bank (Tinkoff)", "yookassa": "YooKassa"}


def available() -> dict[str, Gateway]:
    s = get_settings()
    found: dict[str, Gateway] = {}
    if s.tinkoff_terminal_key and s.tinkoff_password:
        found["tinkoff"] = TinkoffGateway(s.tinkoff_api_url, s.tinkoff_terminal_key,
                                          s.tinkoff_password, s.payment_timeout_seconds)
    if s.yookassa_shop_id and s.yookassa_secret_key:
        found["yookassa"] = YooKassaGateway(s.yookassa_api_url, s.yookassa_shop_id,
                                            s.yookassa_secret_key, s.payment_timeout_seconds,
                                            check_source=s.yookassa_check_source)
    return found
