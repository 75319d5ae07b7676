"""One-machine supervisor for `replyx run`: data servers, migrations, demo data, then the web,
fleet and jobs processes. Ctrl-C stops the app processes first and the data servers last.

Children run in their own sessions (process groups), so the terminal's SIGINT reaches only
this process, which then terminates each group and waits; nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from backend_services.core.embedded_servers import EmbeddedPostgres, EmbeddedValkey
from backend_services.core.settings import ROOT, Settings, get_settings, reset_settings_cache

RESTART_BACKOFF_MAX = 30.0
# An embedded data server that dies this often in this window is failing for a reason a
# restart will not cure (disk full, corrupt files): stop and point at its log instead.
DATA_RESTART_LIMIT = 5
DATA_RESTART_WINDOW = 300.0


def say(msg: str) -> None:
    print(f"[replyx] {msg}", flush=True)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff: float = 1.0
    next_start: float = 0.0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, start_new_session=True
        )
        self.started_at = time.monotonic()

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop in {timeout:.0f} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        # Granian / Reflex may leave grandchildren in the group: make sure none survive.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


class DataServerLost(RuntimeError):
    """An embedded data server kept dying or could not be started again."""


class _Restartable(Protocol):
    @property
    def log_path(self) -> Path: ...

    def running(self) -> bool: ...

    def restart(self) -> object: ...


@dataclass
class DataServers:
    pg: EmbeddedPostgres | None = None
    valkey: EmbeddedValkey | None = None
    env: dict[str, str] = field(default_factory=dict)
    deaths: dict[str, list[float]] = field(default_factory=dict)

    def watch(self) -> None:
        """Start a dead embedded server again on its own data; the app processes ride out
        the gap with their own retries. Raises DataServerLost when that keeps failing."""
        servers: list[tuple[str, _Restartable | None]] = [
            ("PostgreSQL", self.pg),
            ("Valkey", self.valkey),
        ]
        for name, server in servers:
            if server is None or server.running():
                continue
            now = time.monotonic()
            recent = [t for t in self.deaths.get(name, []) if now - t < DATA_RESTART_WINDOW]
            self.deaths[name] = [*recent, now]
            if len(recent) >= DATA_RESTART_LIMIT:
                raise DataServerLost(
                    f"{name} stopped {len(recent) + 1} times in "
                    f"{DATA_RESTART_WINDOW / 60:.0f} min; giving up — see {server.log_path}"
                )
            say(f"{name} stopped unexpectedly; starting it again (its data is kept)")
            try:
                server.restart()
            except Exception as exc:
                raise DataServerLost(
                    f"{name} could not be started again ({exc}); see {server.log_path}"
                ) from exc
            say(f"{name} is back")

    def start(self, settings: Settings) -> None:
        if settings.database_url is None:
            say("starting embedded PostgreSQL (pgvector)")
            self.pg = EmbeddedPostgres(settings.data_dir / "postgres")
            self.pg.start()
            self.env["DATABASE_URL"] = self.pg.ensure_database("replyx")
        if settings.redis_url is None:
            say("starting embedded Valkey")
            self.valkey = EmbeddedValkey(settings.data_dir / "valkey")
            self.env["REDIS_URL"] = self.valkey.start()
        os.environ.update(self.env)
        reset_settings_cache()

    def stop(self) -> None:
        if self.valkey is not None:
            say("stopping Valkey")
            self.valkey.stop()
        if self.pg is not None:
            say("stopping PostgreSQL")
            self.pg.stop()


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def web_argv(settings: Settings) -> list[str]:
    # Our own granian start (replyx_app/web_server.py): builds only when the frontend's
    # inputs changed and respawns a failed worker instead of shutting the server down.
    del settings  # host, port and workers reach it through the environment
    return [sys.executable, "-m", "replyx_app.web_server"]


def web_env(settings: Settings) -> dict[str, str]:
    prom = settings.data_dir / "prometheus"
    prom.mkdir(parents=True, exist_ok=True)
    for f in prom.glob("*.db"):
        f.unlink()
    bun_dir = ROOT / ".tools" / "node_modules" / ".bin"
    return {
        # Reflex builds with bun from the npm registry (its own download needs the internet).
        "PATH": f"{bun_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "REFLEX_USE_SYSTEM_BUN": "1",
        "GRANIAN_WORKERS": str(settings.web_workers),
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
        "REFLEX_REDIS_MAX_CONNECTIONS": "50",
        # One thread per query embedding: a web worker embeds one short question at a
        # time, and OpenMP's threads of every worker spinning on the same few cores cost
        # ~16 % more CPU per question (32 vs 27 ms) than they save in wall time. The jobs
        # worker, which embeds whole documents in batches, keeps every core.
        "OMP_NUM_THREADS": str(settings.web_embed_threads),
    }


def run_all() -> int:
    settings = get_settings()
    servers = DataServers()
    children: list[Child] = []
    stopping = {"flag": False}

    def on_signal(signum: int, _frame: object) -> None:
        if not stopping["flag"]:
            say("stopping… (press Ctrl-C again to force)")
        else:
            raise KeyboardInterrupt
        stopping["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        servers.start(settings)
        settings = get_settings()
        # Imported here: start-up path: migrations and the seed load only when this runs them.
        from backend_services.core import file_store, migrations
        from replyx_app import seed

        say("applying migrations")
        migrations.upgrade()
        moved = asyncio.run(file_store.import_local_uploads_at_start())
        if moved:
            say(f"moved {moved} uploaded files from the data directory into the file store")
        if settings.demo_seed:
            asyncio.run(seed.ensure_demo())
        py = sys.executable
        children = [
            Child("web", web_argv(settings), child_env(web_env(settings))),
            Child("fleet", [py, "-m", "bot_fleet"], child_env({})),
            Child("jobs", [py, "-m", "replyx_app.cli", "jobs"], child_env({})),
        ]
        for c in children:
            c.start()
        say(f"ReplyX is starting at {settings.base_url} (the first start builds the frontend)")
        if not settings.smtp_host:
            say(f"mail goes to {settings.outbox_dir} and {settings.base_url}/api/dev/mail "
                "(served only to browsers on this machine and to signed-in platform admins)")
        say("press Ctrl-C to stop")
        _supervise(children, servers, stopping)
    except DataServerLost as exc:
        say(str(exc))
        code = 1
    finally:
        for c in reversed(children):
            c.stop()
        servers.stop()
        say("stopped")
    return code


def _supervise(
    children: list[Child], servers: DataServers, stopping: dict[str, bool]
) -> None:
    """Restart a dead data server at once and a crashed child with exponential backoff;
    a long healthy run resets the child's backoff."""
    while not stopping["flag"]:
        servers.watch()
        now = time.monotonic()
        for c in children:
            if c.proc is None:
                if now >= c.next_start:
                    c.start()
                continue
            code = c.proc.poll()
            if code is None:
                if now - c.started_at > 60:
                    c.backoff = 1.0
                continue
            c.restarts += 1
            say(f"{c.name} exited with code {code}; restarting in {c.backoff:.0f} s")
            c.proc = None
            c.next_start = now + c.backoff
            c.backoff = min(c.backoff * 2, RESTART_BACKOFF_MAX)
        time.sleep(0.5)  # poll: supervising child processes


def run_web_only() -> int:
    """Become the web server (exec): a SIGTERM then reaches a process that waits for its
    workers to drain, and whoever supervises `replyx web` sees it exit only when it is done."""
    settings = get_settings()
    env = child_env(web_env(settings))
    argv = web_argv(settings)
    os.chdir(ROOT)
    os.execve(argv[0], argv, env)
