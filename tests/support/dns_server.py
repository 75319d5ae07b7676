"""A tiny authoritative DNS server (UDP, the real wire protocol) whose answers change.

It stands in for an attacker's name server in DNS-rebinding tests: each name has a
sequence of answer sets, one per A query, and the last one repeats. Every answer has
TTL 0, so the system resolver asks again each time, as it would for a real rebinding
domain. AAAA queries are answered from the same set (IPv6 addresses only); unknown
names are NXDOMAIN. It must be the resolver in /etc/resolv.conf, which is why the tests
run it inside a network and mount namespace (tests/support/netns_lab.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from dataclasses import dataclass, field
from types import TracebackType

A, AAAA, IN = 1, 28, 1


def _read_name(packet: bytes, offset: int) -> tuple[str, int]:
    labels: list[str] = []
    while True:
        length = packet[offset]
        offset += 1
        if length == 0:
            return ".".join(labels).lower(), offset
        labels.append(packet[offset:offset + length].decode("ascii"))
        offset += length


@dataclass
class RebindingDns:
    answers: dict[str, list[list[str]]]
    host: str = "127.0.0.1"
    port: int = 53
    queries: list[tuple[str, int]] = field(default_factory=list)
    _served: dict[str, int] = field(default_factory=dict)
    _transport: asyncio.DatagramTransport | None = None

    def a_queries(self, name: str) -> int:
        return sum(1 for n, t in self.queries if n == name and t == A)

    def _answer_set(self, name: str, qtype: int) -> list[str]:
        sets = self.answers[name]
        if qtype == A:
            index = self._served.get(name, 0)
            self._served[name] = index + 1
            chosen = sets[min(index, len(sets) - 1)]
        else:  # AAAA: whatever set the last A query got (or the first)
            chosen = sets[max(0, min(self._served.get(name, 1) - 1, len(sets) - 1))]
        return chosen

    def reply(self, packet: bytes) -> bytes:
        (ident,) = struct.unpack("!H", packet[:2])
        name, end = _read_name(packet, 12)
        qtype, _qclass = struct.unpack("!HH", packet[end:end + 4])
        question = packet[12:end + 4]
        self.queries.append((name, qtype))
        if name not in self.answers:
            return struct.pack("!HHHHHH", ident, 0x8583, 1, 0, 0, 0) + question
        records = b""
        count = 0
        for address in self._answer_set(name, qtype):
            ip = ipaddress.ip_address(address)
            if (qtype, ip.version) not in ((A, 4), (AAAA, 6)):
                continue
            records += struct.pack("!HHHIH", 0xC00C, qtype, IN, 0, len(ip.packed)) + ip.packed
            count += 1
        return struct.pack("!HHHHHH", ident, 0x8580, 1, count, 0, 0) + question + records

    async def __aenter__(self) -> RebindingDns:
        server = self

        class _Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                if server._transport is not None:
                    server._transport.sendto(server.reply(data), addr)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            _Protocol, local_addr=(self.host, self.port)
        )
        self._transport = transport
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._transport is not None:
            self._transport.close()
