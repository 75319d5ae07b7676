"""What the app answers over plain HTTP: security headers, metrics, API docs, 401s."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_health_http import csp_directives


async def test_app_pages_send_frame_ancestors_self(clean: None, app_server: Any) -> None:
    async with httpx.AsyncClient(base_url=app_server.url) as http:
        for path in ("/login/", "/dashboard/", "/api/health"):
            r = await http.get(path)
            assert r.status_code in (200, 503), (path, r.status_code)
            assert "frame-ancestors 'self'" in r.headers.get("content-security-policy", ""), path
            assert r.headers.get("x-frame-options", "").upper() == "SAMEORIGIN", path
            assert r.headers.get("x-content-type-options") == "nosniff", path
        page = await http.get("/login/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
    # Pages load scripts from this origin only, no plugins, no foreign <base> or form target.
    policy = csp_directives(page.headers["content-security-policy"])
    assert policy["script-src"].split()[0] == "'self'" and "http" not in policy["script-src"]
    assert (policy["object-src"], policy["base-uri"], policy["form-action"]) == (
        "'none'", "'self'", "'self'")


async def test_metrics_parse_as_prometheus_text(
    clean: None, app_server: Any, new_context: Any
) -> None:
    # One page with its websocket open, and one plain request, so both metrics have data.
    page = await (await new_context()).new_page()
    await page.goto("/login")
    await page.locator("#login-submit").wait_for()
    async with httpx.AsyncClient(base_url=app_server.url) as http:
        assert (await http.get("/login/")).status_code == 200
        r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")

    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    requests = families.get("replyx_http_requests") or families.get("replyx_http_requests_total")
    assert requests is not None, sorted(families)
    assert requests.type == "counter"
    served = [s for s in requests.samples if s.name == "replyx_http_requests_total"]
    assert any(s.labels.get("route") == "frontend" and s.value >= 1 for s in served), served

    sockets = families.get("replyx_websocket_connections")
    assert sockets is not None, sorted(families)
    assert sockets.type == "gauge"
    assert sum(s.value for s in sockets.samples) >= 1  # our page's socket is open


async def test_openapi_docs_are_served(clean: None, app_server: Any, new_context: Any) -> None:
    async with httpx.AsyncClient(base_url=app_server.url) as http:
        spec = await http.get("/api/openapi.json")
    assert spec.status_code == 200
    body = spec.json()
    assert body["info"]["title"] == "ReplyX API"
    for path in ("/api/v1/assistants", "/api/v1/assistants/{assistant_id}",
                 "/api/v1/assistants/{assistant_id}/documents", "/api/v1/documents/{document_id}",
                 "/api/v1/dialogs", "/api/v1/dialogs/{dialog_id}/messages", "/api/v1/contacts"):
        assert path in body["paths"], path
    assert not [p for p in body["paths"] if p.startswith("/api/auth/")]  # cookie plumbing hidden

    # In a browser with every other host unreachable, Swagger UI still draws the API.
    page = await (await new_context()).new_page()
    elsewhere: list[str] = []

    async def only_here(route: Any) -> None:
        if route.request.url.startswith(app_server.url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_here)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto("/api/docs")
    await expect(page.locator(".swagger-ui .title")).to_contain_text("ReplyX API")
    await expect(page.locator(".opblock-summary-path", has_text="/api/v1/dialogs").first
                 ).to_be_visible()
    assert elsewhere == [] and errors == []



async def test_unauthenticated_api_calls_get_401(clean: None, app_server: Any) -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/assistants", {}),
        ("GET", "/api/v1/assistants/1", {}),
        ("POST", "/api/v1/assistants", {"json": {"name": "x"}}),
        ("PUT", "/api/v1/assistants/1", {"json": {"name": "x"}}),
        ("DELETE", "/api/v1/assistants/1", {"headers": {"X-Requested-With": "test"}}),
    ]
    async with httpx.AsyncClient(base_url=app_server.url) as http:
        for method, path, extra in calls:
            r = await http.request(method, path, **extra)
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            assert "sign in" in r.json()["detail"].lower()
        # A made-up or stale cookie is no better than none.
        forged = await http.get("/api/v1/assistants",
                                headers={"Cookie": "replyx_session=" + "A" * 22})
        assert forged.status_code == 401
