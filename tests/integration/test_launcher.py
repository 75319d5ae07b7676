"""`replyx run` on a fresh data directory: starts everything, Ctrl-C stops everything, and a
second start keeps the data. Runs the real launcher as a user would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from backend_services.core.embedded_servers import EmbeddedValkey
from replyx_app.launcher import DATA_RESTART_LIMIT, DataServerLost, DataServers
from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Launch:
    """The launcher in its own session; its output is collected line by line."""

    def __init__(self, data_dir: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "REDIS_URL", "REPLYX_SMTP_HOST", "REPLYX_SMTP_PORT",
                            "REPLYX_DEMO_SEED")}
        env.update({"REPLYX_DATA_DIR": str(data_dir), "REPLYX_PORT": str(port),
                    "PYTHONUNBUFFERED": "1"})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "replyx_app.cli", "run"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self.lines: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip())
                self.cond.notify_all()

    def wait_for_line(self, needle: str, timeout: float = 600) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(needle in x for x in self.lines) or
                                    self.proc.poll() is not None, timeout=timeout)
            found = any(needle in x for x in self.lines)
        assert ok and found, f"{needle!r} never printed:\n" + "\n".join(self.lines[-40:])

    def output(self) -> str:
        with self.cond:
            return "\n".join(self.lines)


def _health(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=5) as r:  # noqa: S310
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_healthy(url: str, launch: Launch) -> dict[str, object]:
    import time

    deadline = time.monotonic() + 120
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        assert launch.proc.poll() is None, launch.output()[-3000:]
        try:
            status, body = _health(url)
            if status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.5)  # poll: workers report their first heartbeat
    raise AssertionError(f"never healthy: {body}\n{launch.output()[-3000:]}")


def _processes_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline", "cwd"]):
        try:
            text = " ".join(p.info["cmdline"] or []) + " " + (p.info["cwd"] or "")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(data_dir) in text:
            found.append(p)
    return found


def _ctrl_c(launch: Launch) -> int:
    if launch.proc.poll() is not None:  # it stopped by itself: the caller asserts on the code
        return launch.proc.returncode
    os.killpg(launch.proc.pid, signal.SIGINT)
    return launch.proc.wait(90)


def test_run_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"

    first = Launch(data_dir, port)
    try:
        first.wait_for_line("web serving at")
        body = _wait_healthy(url, first)
        assert body["status"] == "ok"
    finally:
        code = _ctrl_c(first)
    out = first.output()
    assert code == 0, out[-3000:]
    assert "These passwords are shown only once" in out
    assert "owner@demo.replyx.dev" in out
    assert _processes_using(data_dir) == []
    assert (data_dir / "postgres" / "PG_VERSION").exists()

    second = Launch(data_dir, port)
    try:
        second.wait_for_line("web serving at")
        _wait_healthy(url, second)
    finally:
        assert _ctrl_c(second) == 0
    assert "shown only once" not in second.output()  # the demo data was kept
    assert _processes_using(data_dir) == []


def _app_pids(launch: Launch) -> set[int]:
    """The web, fleet and jobs processes: the launcher's children other than Valkey."""
    return {c.pid for c in psutil.Process(launch.proc.pid).children()
            if "valkey" not in c.name()}


def _postmaster(data_dir: Path) -> tuple[int, str]:
    """The running postmaster's pid and a conninfo for its `replyx` database."""
    lines = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()
    return int(lines[0]), f"host={lines[4]} port={lines[3]} dbname=replyx user=postgres"


def _users(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM users").fetchone()
    assert row is not None
    return int(row[0])


def test_embedded_data_servers_killed_under_run_come_back_with_their_data(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    launch = Launch(data_dir, port)
    try:
        launch.wait_for_line("web serving at")
        _wait_healthy(url, launch)
        app = _app_pids(launch)
        assert len(app) == 3

        valkey_port = int((data_dir / "valkey" / "port").read_text())
        r = redis.Redis(port=valkey_port)
        r.config_set("appendfsync", "always")  # the key must be on disk before the kill
        r.set("kept-through-a-kill", "yes")
        (valkey,) = [p for p in _processes_using(data_dir) if "valkey" in p.name()]
        valkey.kill()
        launch.wait_for_line("Valkey is back", timeout=60)
        assert redis.Redis(port=valkey_port).get("kept-through-a-kill") == b"yes"
        _wait_healthy(url, launch)

        old_pid, conninfo = _postmaster(data_dir)
        users = _users(conninfo)
        assert users > 0  # the demo workspace's people
        os.kill(old_pid, signal.SIGKILL)
        launch.wait_for_line("PostgreSQL is back", timeout=120)
        new_pid, conninfo = _postmaster(data_dir)
        assert new_pid != old_pid
        assert _users(conninfo) == users
        _wait_healthy(url, launch)
        # The app processes rode the outages out: none of them was restarted.
        assert _app_pids(launch) == app
        assert "exited with code" not in launch.output()
    finally:
        code = _ctrl_c(launch)
    assert code == 0, launch.output()[-3000:]
    assert _processes_using(data_dir) == []


def test_embedded_valkey_left_running_is_adopted_not_duplicated(tmp_path: Path) -> None:
    first = EmbeddedValkey(tmp_path / "valkey")
    url = first.start()
    second = EmbeddedValkey(tmp_path / "valkey")
    try:
        assert second.start() == url
        second.stop()  # the adopter can shut the server down
        assert first._proc is not None
        assert first._proc.wait(10) == 0
    finally:
        first.stop()


def test_a_data_server_that_keeps_dying_is_given_up_with_its_log(tmp_path: Path) -> None:
    valkey = EmbeddedValkey(tmp_path / "valkey")
    valkey.start()
    servers = DataServers(valkey=valkey)
    try:
        for _ in range(DATA_RESTART_LIMIT):
            valkey.kill()
            servers.watch()  # started again, same port, data kept
            assert valkey.running()
        valkey.kill()
        with pytest.raises(DataServerLost, match=r"valkey\.log"):
            servers.watch()
    finally:
        valkey.stop()
