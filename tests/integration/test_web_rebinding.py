"""SSRF by DNS rebinding: a tenant's URL names a host whose DNS answer is public when we
check it and loopback when we connect. Each test runs a scenario in a private network
(tests/support/netns_lab.py) with a real DNS server whose answers change
(tests/support/dns_server.py), a "public" web server on a global address and an
internal one on 127.0.0.1 that serves a secret; the real `web.fetch` is pointed at it.
"""

from __future__ import annotations

import datetime
import os
import ssl
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web as aioweb

from tests.support.dns_server import RebindingDns
from tests.support.netns_lab import PUBLIC, run_in_lab

SECRET = "internal admin secret 7f3a"


@dataclass
class Lab:
    dns: RebindingDns
    hits: list[dict[str, str]] = field(default_factory=list)
    sni: list[str] = field(default_factory=list)

    def seen_by(self, server: str) -> list[dict[str, str]]:
        return [h for h in self.hits if h["server"] == server]


def _tls_files(tmp: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate for shop.test signed by it (cert, key, CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lab CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.test")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("shop.test")]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    cert_file, key_file, ca_file = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    cert_file.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ca_file.write_bytes(ca.public_bytes(pem))
    return cert_file, key_file, ca_file


@asynccontextmanager
async def _lab(answers: dict[str, list[list[str]]]) -> AsyncIterator[Lab]:
    """DNS on 127.0.0.1:53; the same little site on PUBLIC and on 127.0.0.1, ports 80
    and 443 (TLS, certificate for shop.test). The 127.0.0.1 one is the internal service:
    every page there is the secret."""
    lab = Lab(dns=RebindingDns(answers))
    with tempfile.TemporaryDirectory() as tmp:
        cert, key, ca = _tls_files(Path(tmp))
        os.environ["SSL_CERT_FILE"] = str(ca)  # the fetcher trusts the lab CA only
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(cert, key)
        server_tls.sni_callback = lambda _sock, name, _ctx: lab.sni.append(name or "")

        def app(server: str) -> aioweb.Application:
            async def any_page(request: aioweb.Request) -> aioweb.Response:
                lab.hits.append({"server": server, "path": request.path,
                                 "host": request.headers.get("Host", "")})
                if server == "public" and request.path.startswith("/go/"):
                    raise aioweb.HTTPFound(f"http://{request.path.removeprefix('/go/')}/page")
                text = SECRET if server == "internal" else f"public page {request.path}"
                return aioweb.Response(text=f"<html><body><p>{text}</p></body></html>",
                                       content_type="text/html")

            application = aioweb.Application()
            application.router.add_get("/{tail:.*}", any_page)
            return application

        runners = []
        async with lab.dns:
            for server, address in (("public", PUBLIC), ("internal", "127.0.0.1")):
                runner = aioweb.AppRunner(app(server))
                await runner.setup()
                await aioweb.TCPSite(runner, address, 80).start()
                await aioweb.TCPSite(runner, address, 443, ssl_context=server_tls).start()
                runners.append(runner)
            try:
                yield lab
            finally:
                for runner in runners:
                    await runner.cleanup()


async def _fetch(url: str) -> dict[str, Any]:
    from backend_services.knowledge import web

    try:
        page = await web.fetch(url)
    except web.FetchFailed as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "url": page.url, "body": page.body.decode()}


# --- scenarios (run inside the lab) -------------------------------------------------


async def lab_first_hop_rebinds() -> dict[str, Any]:
    async with _lab({"rebind.test": [[PUBLIC], ["127.0.0.1"]]}) as lab:
        result = await _fetch("http://rebind.test/page")
        return {"fetch": result, "internal": lab.seen_by("internal"),
                "public": lab.seen_by("public"), "lookups": lab.dns.a_queries("rebind.test")}


async def lab_redirect_hop_rebinds() -> dict[str, Any]:
    async with _lab({"shop.test": [[PUBLIC]],
                     "rebind.test": [[PUBLIC], ["127.0.0.1"]]}) as lab:
        result = await _fetch("http://shop.test/go/rebind.test")
        return {"fetch": result, "internal": lab.seen_by("internal"),
                "public": lab.seen_by("public"), "lookups": lab.dns.a_queries("rebind.test")}


async def lab_private_answers_are_refused() -> dict[str, Any]:
    async with _lab({"shop.test": [[PUBLIC]], "inside.test": [["127.0.0.1"]],
                     "mixed.test": [[PUBLIC, "127.0.0.1"]],
                     "nat64.test": [["64:ff9b::7f00:1"]]}) as lab:
        return {"redirect": await _fetch("http://shop.test/go/inside.test"),
                "mixed": await _fetch("http://mixed.test/page"),
                "nat64": await _fetch("http://nat64.test/page"),
                "internal": lab.seen_by("internal")}


async def lab_pinned_connections_keep_the_name() -> dict[str, Any]:
    async with _lab({"shop.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]],
                     "flip.test": [["127.0.0.1"], [PUBLIC]]}) as lab:
        out = {"http": await _fetch("http://shop.test/page"),
               "https": await _fetch("https://shop.test/page"),
               "wrong_cert": await _fetch("https://other.test/page"),
               "flip": await _fetch("http://flip.test/page")}
        return {**out, "hits": lab.hits, "sni": lab.sni}


# --- tests ---------------------------------------------------------------------------


def test_a_name_that_rebinds_to_loopback_after_the_check_never_reaches_loopback() -> None:
    out = run_in_lab(f"{__name__}:lab_first_hop_rebinds")
    assert out["fetch"]["ok"], out
    assert SECRET not in out["fetch"]["body"]
    assert "public page /page" in out["fetch"]["body"]
    assert out["internal"] == []
    assert out["lookups"] == 1  # resolved once: the checked answer is the one dialled


def test_a_redirect_to_a_name_that_rebinds_never_reaches_loopback() -> None:
    out = run_in_lab(f"{__name__}:lab_redirect_hop_rebinds")
    assert out["fetch"]["ok"], out
    assert out["fetch"]["url"] == "http://rebind.test/page"
    assert SECRET not in out["fetch"]["body"]
    assert out["internal"] == []
    assert [h["path"] for h in out["public"]] == ["/go/rebind.test", "/page"]
    assert out["lookups"] == 1


def test_a_redirect_or_name_answering_a_private_address_is_refused() -> None:
    out = run_in_lab(f"{__name__}:lab_private_answers_are_refused")
    assert not out["redirect"]["ok"]
    assert "private network" in out["redirect"]["error"]
    assert not out["mixed"]["ok"]
    assert "private network" in out["mixed"]["error"]
    assert not out["nat64"]["ok"]  # IPv6 that a NAT64 gateway would deliver to 127.0.0.1
    assert "private network" in out["nat64"]["error"]
    assert out["internal"] == []


def test_pinned_connections_keep_host_header_sni_and_certificate_checks() -> None:
    """With private addresses allowed (development), a name mapped to 127.0.0.1 is
    fetched over the pinned address with the name intact: Host header, SNI and a
    certificate checked against the name; and the address dialled is the one resolved."""
    out = run_in_lab(f"{__name__}:lab_pinned_connections_keep_the_name",
                     env={"REPLYX_CRAWL_ALLOW_PRIVATE": "true"})
    assert out["http"]["ok"] and out["https"]["ok"], out
    assert out["https"]["url"] == "https://shop.test/page"
    assert [h["host"] for h in out["hits"] if h["path"] == "/page"][:2] == [
        "shop.test", "shop.test"]
    assert "shop.test" in out["sni"]
    assert not out["wrong_cert"]["ok"]  # other.test presents shop.test's certificate
    assert "could not be reached" in out["wrong_cert"]["error"]
    assert out["flip"]["ok"] and SECRET in out["flip"]["body"]  # dialled the checked 127.0.0.1
    assert not any(h["server"] == "public" for h in out["hits"])
