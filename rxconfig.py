"""Reflex configuration, derived from ReplyX settings (backend_services.core.settings)."""

import reflex as rx
from reflex_base.plugins.sitemap import SitemapPlugin

from backend_services.core.settings import get_settings

_s = get_settings()
_origins = _s.allowed_origins or [_s.base_url]

config = rx.Config(
    app_name="replyx_app",
    telemetry_enabled=False,
    redis_url=_s.redis_url,
    cors_allowed_origins=_origins,
    trusted_proxy_hops=_s.trusted_proxy_hops,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="inherit", accent_color="indigo", radius="medium")
        )
    ],
    disable_plugins=[SitemapPlugin],
    frontend_port=_s.port,
    backend_port=_s.port,
)
