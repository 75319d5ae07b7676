"""Fetching web pages and sitemaps for the knowledge base, safely.

The server fetches URLs a tenant typed in, so it must not become a way into our own
network (SSRF): every hop of a redirect is resolved and refused when it points at a
private, loopback or link-local address (unless REPLYX_CRAWL_ALLOW_PRIVATE is set, for
development and tests), and the connection then goes to the very address that was checked,
so a DNS answer that changes between check and connect cannot steer it inside. Crawls stay
on the host the tenant named, with page and size caps.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpcore
import httpx
from defusedxml import ElementTree

from backend_services.core.errors import ValidationFailed
from backend_services.core.settings import get_settings

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


async def _resolve(host: str, port: int) -> list[str]:
    """The addresses of `host`, looked up once; these are the only ones we will dial."""
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
            TIMEOUT.connect,
        )
    except (OSError, TimeoutError) as exc:
        raise FetchFailed(f"The site {host} could not be found.") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise FetchFailed(f"The site {host} could not be found.")
    return addresses


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[
    ipaddress.IPv4Address | ipaddress.IPv6Address
]:
    """The address and any IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, Teredo):
    a gateway on the way would deliver to the embedded one, so it must be public too."""
    out: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            out = [ip.ipv4_mapped]
        if ip in _NAT64:
            out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None:
            out.append(ip.sixtofour)
        if ip.teredo is not None:
            out.extend(ip.teredo)
    return out


def _refuse_private(host: str, addresses: list[str]) -> None:
    """Refuse the hop when any address is not on the public internet: a name that also
    resolves to a private address is not fetched from its public one either."""
    if get_settings().crawl_allow_private:
        return
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError as exc:
            raise FetchFailed(f"The site {host} could not be found.") from exc
        if not all(a.is_global for a in _embedded(ip)):
            raise FetchFailed(f"{host} points to a private network address; only public "
                              "websites can be added.")


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Dials only the addresses that were resolved and checked for a host, never the name.

    Without this, httpx would resolve the name a second time when it connects, and a
    name whose DNS answer changes between the check and the connect (DNS rebinding)
    would reach loopback or the internal network. The URL keeps the host name, so the
    Host header, TLS SNI and certificate verification are for the name as usual.
    """

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._pins: dict[tuple[str, int], list[str]] = {}

    def pin(self, host: str, port: int, addresses: list[str]) -> None:
        self._pins[(host.lower(), port)] = addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self._pins.get((host.lower(), port))
        if not addresses:
            raise httpcore.ConnectError(f"{host}:{port} was not resolved and checked")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never dialled for web sources")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# httpcore's errors and httpx's of the same name, most specific first.
_HTTPCORE_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = tuple(
    (getattr(httpcore, name), getattr(httpx, name))
    for name in (
        "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "ConnectError",
        "ReadError", "WriteError", "RemoteProtocolError", "LocalProtocolError",
        "UnsupportedProtocol", "TimeoutException", "NetworkError", "ProtocolError",
    )
)


def _as_httpx_error(exc: Exception) -> Exception:
    for core, ours in _HTTPCORE_ERRORS:
        if isinstance(exc, core):
            return ours(str(exc))
    return exc


class _PinnedStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as exc:
            mapped = _as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        closer = getattr(self._stream, "aclose", None)
        if closer is not None:
            await closer()


class _PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that dials through `_PinnedBackend`
    (httpx's own transport does not take a network backend). No proxies: a proxy would
    resolve the name itself."""

    def __init__(self, backend: _PinnedBackend) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=backend,
            max_connections=4,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                             port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            resp = await self._pool.handle_async_request(core_request)
        except Exception as exc:
            mapped = _as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        assert isinstance(resp.stream, AsyncIterable)
        return httpx.Response(status_code=resp.status, headers=resp.headers,
                              stream=_PinnedStream(resp.stream), extensions=resp.extensions)

    async def aclose(self) -> None:
        await self._pool.aclose()


async def _pin_hop(backend: _PinnedBackend, url: str) -> None:
    """Resolve this hop's host once, refuse private answers, and pin what was checked."""
    target = httpx.URL(url)
    host = target.raw_host.decode("ascii")
    port = target.port or (443 if target.scheme == "https" else 80)
    addresses = await _resolve(host, port)
    _refuse_private(target.host, addresses)
    backend.pin(host, port, addresses)


def same_site(a: str, b: str) -> bool:
    return (urlsplit(a).hostname or "").removeprefix("www.") == (
        urlsplit(b).hostname or ""
    ).removeprefix("www.")


async def fetch(
    url: str, *, max_bytes: int = MAX_PAGE_BYTES, stay_on: str | None = None
) -> Fetched:
    """GET with manual redirects and a hard size cap. Each hop's host is resolved once,
    checked, and connected to at exactly the checked addresses (no DNS rebinding)."""
    url = normalize_url(url)
    backend = _PinnedBackend()
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False,
                                 transport=_PinnedTransport(backend),
                                 headers={"User-Agent": USER_AGENT}) as client:
        for _ in range(MAX_REDIRECTS + 1):
            if stay_on is not None and not same_site(url, stay_on):
                raise FetchFailed(f"{url} is on another site; only {urlsplit(stay_on).hostname} "
                                  "is crawled.")
            await _pin_hop(backend, url)
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


@dataclass(frozen=True)
class Posted:
    status: int
    body: str  # the start of the receiver's answer, for the delivery log


async def post(url: str, body: bytes, headers: dict[str, str], *,
               wait_seconds: float = 10.0, keep_bytes: int = 1000) -> Posted:
    """POST to a tenant's URL (outgoing webhooks) with the same guard as fetching: the
    host is resolved once, refused when private, and connected to at the checked
    address. Redirects are not followed (a receiver that moved says so by its status)."""
    url = normalize_url(url)
    backend = _PinnedBackend()
    await _pin_hop(backend, url)
    async with httpx.AsyncClient(timeout=httpx.Timeout(wait_seconds, connect=5.0),
                                 follow_redirects=False, trust_env=False,
                                 transport=_PinnedTransport(backend)) as client:
        try:
            async with client.stream("POST", url, content=body, headers=headers) as resp:
                kept = b""
                async for chunk in resp.aiter_bytes():
                    kept += chunk
                    if len(kept) >= keep_bytes:
                        break
                return Posted(resp.status_code,
                              kept[:keep_bytes].decode("utf-8", errors="replace"))
        except httpx.TimeoutException as exc:
            raise FetchFailed(f"No answer within {wait_seconds:g} s.") from exc
        except httpx.HTTPError as exc:
            raise FetchFailed("The receiver could not be reached.") from exc


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
