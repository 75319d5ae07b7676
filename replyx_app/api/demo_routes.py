"""`/demo`: a stand-in for a tenant's website with the demo workspace's widgets on it, so a
fresh install can try the chat as a visitor would (the demo widgets allow the app's own
origin). Nothing is served when there is no demo workspace."""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from backend_services.core.settings import get_settings
from backend_services.widget import settings as widget

router = APIRouter(tags=["demo"])


@router.get("/demo", response_class=HTMLResponse, include_in_schema=False)
async def demo_page(lang: str = "") -> HTMLResponse:
    widgets = await widget.demo_widgets()
    if not widgets:
        return HTMLResponse("<!doctype html><title>No demo</title><p>No demo workspace.</p>",
                            status_code=404)
    chosen = next((w for w in widgets if w.language == lang), widgets[0])
    links = " · ".join(
        f'<a href="/demo?lang={html.escape(w.language)}">{html.escape(w.title or w.language)}</a>'
        for w in widgets)
    body = f"""<!doctype html>
<html lang="{html.escape(chosen.language)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo shop · ReplyX</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;
line-height:1.5;color:#1f2937}}code{{background:#f3f4f6;padding:.1rem .3rem}}</style></head>
<body><h1>A tenant's website</h1>
<p>This page stands in for a customer's site. The chat launcher in the corner is the
ReplyX widget, loaded by one line:</p>
<p><code>{html.escape(widget.snippet(get_settings().base_url, chosen.public_id))}</code></p>
<p>Ask it something from the demo help centre, ask for a human, and answer from the
<a href="/console">operator console</a> signed in as the demo operator.</p>
<p>Widgets: {links}</p>
{widget.snippet(get_settings().base_url, chosen.public_id)}
</body></html>"""
    return HTMLResponse(body)
