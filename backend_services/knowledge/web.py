"""Fetching web pages and sitemaps for the knowledge base, safely.

The server fetches URLs a tenant typed in, so it must not become a way into our own
network (SSRF): every hop of a redirect is resolved and refused when it points at a
private, loopback or link-local address (unless REPLYX_CRAWL_ALLOW_PRIVATE is set, for
development and tests). Crawls stay on the host the tenant named, with page and size caps.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from defusedxml import ElementTree

from backend_services.errors import ValidationFailed
from backend_services.settings import get_settings

MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_SITEMAP_BYTES = 5 * 1024 * 1024
MAX_PAGES = 50
MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
USER_AGENT = "ReplyX-KnowledgeBot/1.0 (+https://replyx.dev/bot)"


class FetchFailed(ValidationFailed):
    code = "fetch_failed"


@dataclass(frozen=True)
class Fetched:
    url: str
    content_type: str
    body: bytes


def normalize_url(raw: str) -> str:
    raw = raw.strip()
    if "://" not in raw:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!\d)", raw):  # mailto:, javascript:, …
            raise FetchFailed("Enter a web address starting with http:// or https://.")
        raw = "https://" + raw
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise FetchFailed("That web address has an invalid port.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchFailed("Enter a web address starting with http:// or https://.")
    if len(raw) > 2000:
        raise FetchFailed("That web address is too long.")
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


async def _check_host(url: str) -> None:
    if get_settings().crawl_allow_private:
        return
    host = urlsplit(url).hostname or ""
    port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchFailed(f"The site {host} could not be found.") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if not ip.is_global:
            raise FetchFailed(f"{host} points to a private network address; only public "
                              "websites can be added.")


def same_site(a: str, b: str) -> bool:
    return (urlsplit(a).hostname or "").removeprefix("www.") == (
        urlsplit(b).hostname or ""
    ).removeprefix("www.")


async def fetch(
    url: str, *, max_bytes: int = MAX_PAGE_BYTES, stay_on: str | None = None
) -> Fetched:
    """GET with manual redirects (each hop re-checked) and a hard size cap."""
    url = normalize_url(url)
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False,
                                 headers={"User-Agent": USER_AGENT}) as client:
        for _ in range(MAX_REDIRECTS + 1):
            if stay_on is not None and not same_site(url, stay_on):
                raise FetchFailed(f"{url} is on another site; only {urlsplit(stay_on).hostname} "
                                  "is crawled.")
            await _check_host(url)
            try:
                async with client.stream("GET", url) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        url = normalize_url(urljoin(url, resp.headers["location"]))
                        continue
                    if resp.status_code >= 400:
                        raise FetchFailed(f"The page answered with HTTP {resp.status_code}.")
                    declared = int(resp.headers.get("content-length") or 0)
                    if declared > max_bytes:
                        raise FetchFailed(f"The page is larger than {max_bytes // 1024} KB.")
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise FetchFailed(f"The page is larger than {max_bytes // 1024} KB.")
                        chunks.append(chunk)
                    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                    return Fetched(url=url, content_type=ctype, body=b"".join(chunks))
            except httpx.TimeoutException as exc:
                raise FetchFailed("The site did not answer in time.") from exc
            except httpx.HTTPError as exc:
                raise FetchFailed("The site could not be reached.") from exc
        raise FetchFailed("The page redirects too many times.")


def parse_sitemap(body: bytes) -> tuple[list[str], list[str]]:
    """(page URLs, nested sitemap URLs) of a sitemap or sitemap index."""
    try:
        root = ElementTree.fromstring(body)
    except Exception as exc:
        raise FetchFailed("This address is not a valid XML sitemap.") from exc
    tag = root.tag.rsplit("}", 1)[-1]
    locs = [
        (el.text or "").strip()
        for el in root.iter()
        if el.tag.rsplit("}", 1)[-1] == "loc" and (el.text or "").strip()
    ]
    if tag == "sitemapindex":
        return [], locs
    if tag != "urlset":
        raise FetchFailed("This address is not a sitemap (expected <urlset> or <sitemapindex>).")
    return locs, []


async def sitemap_pages(url: str, limit: int = MAX_PAGES) -> list[str]:
    """Same-site page URLs from a sitemap (one level of sitemap index), at most `limit`."""
    first = await fetch(url, max_bytes=MAX_SITEMAP_BYTES)
    pages, nested = parse_sitemap(first.body)
    for child in nested[:10]:
        if len(pages) >= limit:
            break
        if same_site(child, first.url):
            more, _ = parse_sitemap((await fetch(child, max_bytes=MAX_SITEMAP_BYTES,
                                                 stay_on=first.url)).body)
            pages.extend(more)
    out: list[str] = []
    for page in pages:
        try:
            norm = normalize_url(page)
        except FetchFailed:
            continue
        if same_site(norm, first.url) and norm not in out:
            out.append(norm)
        if len(out) >= limit:
            break
    return out
