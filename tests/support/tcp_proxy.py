"""A TCP proxy on 127.0.0.1 that a test can cut and restore: a real network outage of one
dependency (PostgreSQL, Valkey) for the processes pointed at it, while the test itself and
every other process keep their direct connections.

`cut()` resets every open connection and stops listening (new connections are refused, as
when a server is down); `restore()` listens again on the same port. The upstream is a TCP
address or a Unix socket path (the embedded PostgreSQL listens on one).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


class TcpProxy:
    def __init__(self, upstream_host: str | None = None, upstream_port: int | None = None,
                 upstream_unix: str | None = None) -> None:
        if upstream_unix is None and (upstream_host is None or upstream_port is None):
            raise ValueError("a TCP address or a Unix socket path")
        self.upstream_host, self.upstream_port = upstream_host, upstream_port
        self.upstream_unix = upstream_unix
        self.port = 0
        self.connections = 0  # accepted since start: shows the client really came through
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = int(s.getsockname()[1])
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                  reuse_address=True)

    @property
    def up(self) -> bool:
        return self._server is not None

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            transport = writer.transport
            with contextlib.suppress(Exception):
                sock = transport.get_extra_info("socket")
                if sock is not None:  # RST rather than FIN: a broken network, not a goodbye
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
            transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        if self._server is None:
            await self.start()

    async def stop(self) -> None:
        await self.cut()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream_unix is not None:
            return await asyncio.open_unix_connection(self.upstream_unix)
        return await asyncio.open_connection(self.upstream_host, self.upstream_port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:
            writer.transport.abort()
            return
        self.connections += 1
        try:
            up_reader, up_writer = await self._open_upstream()
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
