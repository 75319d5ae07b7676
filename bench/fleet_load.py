"""The Telegram fleet under load: memory per bot, updates per second, update-to-reply time.

Why: issue #5 replaces a process per bot (up to 150 MB each) with a supervisor and a few
worker processes that each run hundreds of bots as asyncio tasks; the target is 1,000
bots in at most 4 worker processes using under 1 MB per bot in total. DESIGN.md §7 lists
what went wrong with bare aiogram at that scale (connection-pool starvation, sockets,
GC pauses), so this runs the real fleet and watches for those.

What runs (all private to the round, nothing shared with the tests or the dev data):
- an embedded PostgreSQL (bench/_benchdb.py) and Valkey in temporary directories;
- the Telegram Bot API test server (tests/support/telegram_server.py) inside this
  process's event loop, `record_calls=False`; its rate checker sees every accepted send;
- `python -m replyx_app.cli fleet` (the supervisor and REPLYX_FLEET_WORKERS workers),
  started exactly as tests/integration/test_fleet.py starts it;
- one workspace per bot with an owner, an assistant and one Q&A pair saved through
  `knowledge.sources.save_qa`. No AI provider is configured, so the answer is the Q&A
  pair (extractive mode): every update is a full visitor turn (rate limit, contact and
  dialog, stored message, handoff check, query embedding with the local e5 model,
  hybrid retrieval, stored answer, durable outbox, shared Redis limiter, sendMessage)
  without a model's latency in it. Channel rows are inserted in bulk (tokens encrypted
  with `backend_services.core.security.encrypt_secret`, as `add_bot` stores them, which would
  call getMe for each) and announced with `publish_fleet_changed`, like `add_bot`.

One round per fleet size:
1. the fleet starts with no bots; once every worker has sent its heartbeat and the
   fleet is idle, its RSS is the baseline;
2. N bots are inserted and announced; time until every bot has a getUpdates waiting
   at the server; RSS with N idle polling bots;
3. warm-up: one message in every chat the later phases use (contacts and dialogs
   created, the embedding model loaded in every worker), until all are answered;
4. steady stream for `--duration` seconds at `--rate` updates/s in total, open loop:
   the k-th update goes to bot k mod N, chat (k div N) mod `--chats`, so each bot gets a
   message every N/rate seconds and each chat every N*chats/rate seconds; then wait
   for the last replies;
5. probes aimed at the rate limits: `--burst-chats` bots each get 3 messages at once in
   one chat (replies must be >= 1 s apart) and one bot gets `--hot-chats` messages in as
   many new chats at once (at most 30 sends/s per bot);
6. saturation: `--saturate-rate` updates/s (more than 2 cores can answer) for
   `--saturate-duration` s over the same chats; answers/s until the backlog is gone is
   the fleet's throughput on this machine, and what it drops or doubles under overload
   shows here.

Measured per round:
- fleet memory: sum of VmRSS (and PSS) of the supervisor and its workers from /proc:
  with 0 bots, with N idle bots, under load (median of the steady phase's last 10 s) and
  its peak; per bot = (RSS with N bots - RSS with 0 bots) / N, idle and under load,
  and the fleet's whole RSS / N (the issue's "in total");
- updates handled per second: answers accepted by the server per second in the steady
  window (equal to the offered rate while the fleet keeps up), the fleet's CPU per
  update, and the saturation throughput;
- update-to-reply time: from `push_message` (the update is queued at the server) to the
  answer's arrival at the server (`SentMessage.at`, same monotonic clock), p50/p95/p99
  over the steady updates; probes reported apart (their waits are the limiter's);
- rate-limit violations from the server's checker (per chat 1/s, per group 20/min, per
  bot 30/s), strict and with 50 ms tolerance as the tests use; must be 0;
- the fleet's own counters (updates, sent, send_errors, rate_limited, bot_errors,
  update_errors) from Redis, every bot's reported status (what the Channels page would
  show), ERROR / Traceback lines in the fleet's log (the log is kept as
  bench/out/fleet_load-<bots>.log), duplicate answers (more answers than questions in a
  chat);
- with the bots idle: the fleet's and PostgreSQL's CPU and getUpdates per second;
- this process's event-loop lag (it hosts the Bot API server: a lagging loop inflates
  every latency) and the CPU of the fleet, PostgreSQL, Valkey and this process.

Run (defaults: 100 bots with 2 workers, then 1,000 bots with 4; about 3 + 5 minutes on
2 cores):

    .venv/bin/python bench/fleet_load.py > bench/out/fleet_load.json

`--bots 1000 --workers 4` runs one round. Prints JSON to stdout, progress to stderr,
draws bench/out/fleet_load.png (matplotlib, the `bench` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchdb import OUT, ROOT, bench_database, log, machine_info, percentile

QUESTION = "How long do refunds take?"
ANSWER = "Refunds reach your card within five working days."
TOKEN_BASE = 7_300_000_000
STEADY_CHAT = 100_001  # chats 100001.. carry the steady stream (and the warm-up)
BURST_CHAT = 900_001  # one chat per probed bot gets 3 messages at once
HOT_CHAT = 800_001  # the hot bot's fresh chats
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# --------------------------------------------------------------------------- /proc


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (workers are the supervisor's children)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(fields[1])].append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _pss_kb(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    return 0.0


def _threads(pid: int) -> int:
    return _status_kb(pid, "Threads")


def _open_fds(pid: int) -> int:
    with contextlib.suppress(OSError):
        return len(os.listdir(f"/proc/{pid}/fd"))
    return 0


# --------------------------------------------------------------------------- the fleet


class Fleet:
    """`python -m replyx_app.cli fleet` as a process group of its own (as in the tests)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "replyx_app.cli", "fleet"], cwd=ROOT, env=self.env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def pids(self) -> list[int]:
        return [self.pid, *_children(self.pid)]

    def workers(self) -> list[int]:
        return _children(self.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def memory(self) -> dict[str, Any]:
        per = {pid: _status_kb(pid, "VmRSS") for pid in self.pids()}
        return {"rss_kb": sum(per.values()), "per_process_kb": per}

    def pss_kb(self) -> int:
        return sum(_pss_kb(pid) for pid in self.pids())

    def cpu(self) -> float:
        return sum(_cpu_seconds(pid) for pid in self.pids())

    def log_problems(self) -> dict[str, Any]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        counts: dict[str, int] = {}
        samples: dict[str, list[str]] = {}
        kinds = (("traceback", re.compile(r"Traceback \(most recent call last\)")),
                 ("error", re.compile(r"\bERROR\b|\bCRITICAL\b")),
                 ("warning", re.compile(r"\bWARNING\b")))
        for line in text.splitlines():
            for kind, pattern in kinds:
                if pattern.search(line):
                    counts[kind] = counts.get(kind, 0) + 1
                    if len(samples.setdefault(kind, [])) < 5:
                        samples[kind].append(line[:400])
                    break
        return {"counts": counts, "samples": samples, "lines": len(text.splitlines())}


class Meter:
    """Samples the fleet's RSS once a second and this loop's lag every 50 ms."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.t0 = time.monotonic()
        self.rss: list[tuple[float, int, int]] = []  # (t, fleet rss kb, processes)
        self.lag: list[tuple[float, float]] = []  # (t, seconds late)
        self.marks: list[tuple[float, str]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._sample()), asyncio.create_task(self._lag())]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def mark(self, what: str) -> float:
        now = time.monotonic()
        self.marks.append((now - self.t0, what))
        return now

    async def _sample(self) -> None:
        while True:
            if self.fleet.alive():
                mem = self.fleet.memory()
                self.rss.append((time.monotonic() - self.t0, mem["rss_kb"],
                                 len(mem["per_process_kb"])))
            await asyncio.sleep(1.0)  # a sampling period

    async def _lag(self) -> None:
        period = 0.05
        while True:
            before = time.monotonic()
            await asyncio.sleep(period)  # a sampling period
            late = time.monotonic() - before - period
            self.lag.append((before - self.t0, max(0.0, late)))

    def rss_between(self, start: float, end: float) -> list[int]:
        a, b = start - self.t0, end - self.t0
        return [kb for t, kb, _ in self.rss if a <= t <= b]

    def lag_between(self, start: float, end: float) -> list[float]:
        a, b = start - self.t0, end - self.t0
        return [s for t, s in self.lag if a <= t <= b]


def other_cpu(valkey_pid: int | None) -> dict[str, float]:
    """CPU seconds of this round's PostgreSQL and Valkey, and of this process."""
    import psutil

    # Other benchmarks may run their own embedded PostgreSQL: only ours (its directory is
    # in DATABASE_URL) counts.
    found = re.search(r"replyx-bench-[A-Za-z0-9_]+", os.environ.get("DATABASE_URL", ""))
    ours = found.group(0) if found else "replyx-bench-"
    pg: list[Any] = []
    for p in psutil.process_iter(["name", "cmdline"]):
        if (p.info["name"] or "").startswith("postgres") and ours in " ".join(
                p.info["cmdline"] or []):
            pg.append(p)
            with contextlib.suppress(psutil.Error):
                pg.extend(p.children(recursive=True))

    def total(procs: list[Any]) -> float:
        t = 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                c = p.cpu_times()
                t += c.user + c.system
        return t

    valkey = []
    if valkey_pid:
        with contextlib.suppress(psutil.Error):
            valkey = [psutil.Process(valkey_pid)]
    return {"postgres": total(pg), "valkey": total(valkey),
            "load_generator": total([psutil.Process()])}


# --------------------------------------------------------------------------- data


@dataclass
class BotSpec:
    index: int
    token: str
    username: str
    workspace_id: int = 0
    assistant_id: int = 0
    owner_id: int = 0


def make_specs(n: int) -> list[BotSpec]:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
    return [BotSpec(i, f"{TOKEN_BASE + i}:AA" + "".join(secrets.choice(alphabet)
                                                        for _ in range(33)),
                    f"bench{i:04d}_bot") for i in range(n)]


async def create_tenants(specs: list[BotSpec]) -> float:
    """A workspace, owner and assistant per bot (bulk), and its Q&A pair via save_qa."""
    from backend_services.core.db import session_scope
    from backend_services.core.principal import Principal
    from backend_services.knowledge import sources
    from backend_services.models import Assistant, Membership, Role, User, Workspace

    started = time.monotonic()
    async with session_scope() as s:
        workspaces = [Workspace(name=f"Bench shop {b.index}") for b in specs]
        users = [User(email=f"owner{b.index}@bench.example", name=f"Owner {b.index}",
                      password_hash="!") for b in specs]
        s.add_all(workspaces + users)
        await s.flush()
        assistants = []
        for b, ws, user in zip(specs, workspaces, users, strict=True):
            assert ws.id is not None and user.id is not None
            b.workspace_id, b.owner_id = ws.id, user.id
            s.add(Membership(workspace_id=ws.id, user_id=user.id, role=Role.OWNER.value))
            assistants.append(Assistant(workspace_id=ws.id, name=f"Helper {b.index}",
                                        greeting="Hello! Ask me anything."))
        s.add_all(assistants)
        await s.flush()
        for b, a in zip(specs, assistants, strict=True):
            assert a.id is not None
            b.assistant_id = a.id
    gate = asyncio.Semaphore(4)

    async def qa(b: BotSpec) -> None:
        owner = Principal(user_id=b.owner_id, workspace_id=b.workspace_id, role=Role.OWNER,
                          email=f"owner{b.index}@bench.example", name=f"Owner {b.index}",
                          workspace_name=f"Bench shop {b.index}")
        async with gate:
            await sources.save_qa(owner, b.assistant_id, None, QUESTION, ANSWER)

    await asyncio.gather(*(qa(b) for b in specs))
    return time.monotonic() - started


async def insert_channels(specs: list[BotSpec]) -> None:
    """Channel rows as `telegram_bots.add_bot` stores them (minus the getMe per token),
    then the same announcement: bot status "starting" and FleetChanged after commit."""
    from datetime import UTC, datetime

    from backend_services.channels.telegram import bots as telegram_bots
    from backend_services.channels.telegram import status as bot_status
    from backend_services.channels.telegram.events import publish_fleet_changed
    from backend_services.core.db import session_scope
    from backend_services.core.security import encrypt_secret
    from backend_services.models import Channel

    rows = []
    async with session_scope() as s:
        for b in specs:
            rows.append(Channel(
                workspace_id=b.workspace_id, assistant_id=b.assistant_id,
                kind=telegram_bots.KIND, name=f"Bench {b.index}",
                token_encrypted=encrypt_secret(b.token),
                webhook_secret_encrypted=encrypt_secret(secrets.token_urlsafe(32)),
                external_id=str(TOKEN_BASE + b.index), username=b.username,
                mode="polling", is_active=True, version=1, updated_at=datetime.now(UTC)))
        s.add_all(rows)
    for row in rows:
        assert row.id is not None
        await bot_status.report_status(row.id, "starting", version=row.version)
        await publish_fleet_changed(row.workspace_id, row.id, "added", row.version)


async def fleet_counters() -> dict[str, float]:
    from backend_services.channels.telegram import stats as fleet_stats

    totals: dict[str, float] = defaultdict(float)
    for figures in (await fleet_stats.read_all()).values():
        for k, v in figures.items():
            totals[k] += float(v)
    return dict(totals)


async def bot_statuses() -> dict[str, Any]:
    """What the Channels page would show: the fleet's reports per status."""
    from sqlmodel import col, select

    from backend_services.channels.telegram import status as bot_status
    from backend_services.core.db import session_scope
    from backend_services.models import Channel

    async with session_scope() as s:
        ids = list(await s.exec(select(col(Channel.id))))
    found = await bot_status.statuses([i for i in ids if i is not None])
    counts: dict[str, int] = defaultdict(int)
    errors: dict[str, list[int]] = defaultdict(list)
    for channel_id, st in found.items():
        shown = "stale" if st is not None and st.stale else (st.status if st else "none")
        counts[shown] += 1
        if st is not None and st.status == "error":
            errors[st.error].append(channel_id)
    return {"counts": dict(counts),
            "errors": {e: {"bots": len(c), "channel_ids": sorted(c)[:12]}
                       for e, c in errors.items()}}


async def outbox_stream_backlog() -> int:
    """Dialog events the fleet's `fleet-outbox` consumers have not handled yet (lag plus
    pending): every answer publishes a few, and the fleet turns them into outbox rows."""
    from backend_services.conversations.events import DIALOG_STREAM
    from backend_services.core.events import stream_key
    from backend_services.core.redis_client import get_redis

    with contextlib.suppress(Exception):
        for g in await get_redis().xinfo_groups(stream_key(DIALOG_STREAM)):
            if g.get("name") == "fleet-outbox":
                return int(g.get("lag") or 0) + int(g.get("pending") or 0)
    return 0


async def worker_heartbeats() -> int:
    from backend_services.core import heartbeats

    return len((await heartbeats.alive()).get("fleet-worker", []))


# --------------------------------------------------------------------------- traffic


@dataclass
class Push:
    token: str
    chat: int
    at: float
    kind: str  # warmup | steady | burst | hot
    reply_at: float | None = None


@dataclass
class Traffic:
    server: Any
    pushes: list[Push] = field(default_factory=list)

    async def play(self, schedule: list[tuple[float, str, int, str]]) -> None:
        """Open loop: each update is pushed at its time whatever the fleet is doing."""
        schedule.sort(key=lambda e: e[0])
        for at, token, chat, kind in schedule:
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # the schedule's pacing
            self.server.push_message(token, chat, QUESTION, from_name="Ann")
            self.pushes.append(Push(token, chat, time.monotonic(), kind))

    def match(self) -> dict[str, Any]:
        """Pair each chat's updates with its answers in order (a chat's replies keep
        their order); other texts are counted apart."""
        answers: dict[tuple[str, int], list[float]] = defaultdict(list)
        other: list[str] = []
        for m in self.server.sent_messages():
            if ANSWER in m.text:
                answers[(m.token, int(m.chat_id))].append(m.at)
            else:
                other.append(m.text[:160])
        by_chat: dict[tuple[str, int], list[Push]] = defaultdict(list)
        for p in self.pushes:
            p.reply_at = None
            by_chat[(p.token, p.chat)].append(p)
        extra = 0
        for key, pushes in by_chat.items():
            times = sorted(answers.get(key, []))
            for p, t in zip(pushes, times, strict=False):
                p.reply_at = t
            extra += max(0, len(times) - len(pushes))
        return {"other_texts": len(other), "other_samples": sorted(set(other))[:5],
                "extra_answers": extra}

    def unanswered(self) -> int:
        answered: dict[tuple[str, int], int] = defaultdict(int)
        for m in self.server.sent_messages():
            if ANSWER in m.text:
                answered[(m.token, int(m.chat_id))] += 1
        pushed: dict[tuple[str, int], int] = defaultdict(int)
        for p in self.pushes:
            pushed[(p.token, p.chat)] += 1
        return sum(max(0, n - answered[k]) for k, n in pushed.items())


async def wait_answered(traffic: Traffic, most: float, what: str, stall: float = 30.0
                        ) -> float:
    """Until every update has its answer; gives up after `most` seconds, or after `stall`
    seconds without a new answer (the fleet dropped the rest)."""
    started = time.monotonic()
    last_report = last_change = started
    before = -1
    while True:
        missing = traffic.unanswered()
        now = time.monotonic()
        if missing == 0:
            return now - started
        if missing != before:
            before, last_change = missing, now
        if now - started > most or now - last_change > stall:
            log(f"  {what}: {missing} updates still unanswered after {now - started:.0f} s")
            return now - started
        if now - last_report > 10:
            log(f"  {what}: {missing} unanswered")
            last_report = now
        await asyncio.sleep(0.5)  # poll: the fleet answers in its own processes


def latency_stats(values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    if not ms:
        return {"count": 0}
    return {"count": len(ms), "p50_ms": round(percentile(ms, 50), 1),
            "p95_ms": round(percentile(ms, 95), 1), "p99_ms": round(percentile(ms, 99), 1),
            "max_ms": round(max(ms), 1), "mean_ms": round(statistics.fmean(ms), 1)}


# --------------------------------------------------------------------------- one round


@contextlib.contextmanager
def private_stack() -> Iterator[tuple[dict[str, str], int | None, Path]]:
    """Embedded PostgreSQL + Valkey of this round, and the env the fleet gets."""
    from backend_services.core.embedded_servers import EmbeddedValkey
    from backend_services.core.settings import reset_settings_cache

    with bench_database("replyx_fleet_bench") as db_url:
        tmp = Path(tempfile.mkdtemp(prefix="replyx-bench-fleet-"))
        tmp.chmod(0o755)
        valkey = EmbeddedValkey(tmp / "valkey")
        try:
            redis_url = valkey.start()
            env = {
                "DATABASE_URL": db_url,
                "REDIS_URL": redis_url,
                "REPLYX_SECRET_KEY": secrets.token_urlsafe(48),
                "REPLYX_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "REPLYX_DEMO_SEED": "false",
                "PYTHONUNBUFFERED": "1",
            }
            os.environ.update(env)
            reset_settings_cache()
            yield env, valkey.pid, tmp
        finally:
            with contextlib.suppress(Exception):
                valkey.stop()
            shutil.rmtree(tmp, ignore_errors=True)


def rotation(specs: list[BotSpec], chats: int, first: int, count: int
             ) -> list[tuple[str, int]]:
    """(token, chat) of updates first..first+count-1: update k goes to bot k mod N, chat
    (k div N) mod chats, so bots take turns and a bot's chats take turns."""
    n = len(specs)
    return [(specs[k % n].token, STEADY_CHAT + (k // n) % chats)
            for k in range(first, first + count)]


def timed(pairs: list[tuple[str, int]], start: float, rate: float, kind: str
          ) -> list[tuple[float, str, int, str]]:
    return [(start + i / rate, token, chat, kind) for i, (token, chat) in enumerate(pairs)]


def probes(specs: list[BotSpec], at: float, args: argparse.Namespace
           ) -> list[tuple[float, str, int, str]]:
    """Two probes aimed at the rate limits, pushed at `at`."""
    n = len(specs)
    events = []
    # A user who sends three messages at once: the replies must be >= 1 s apart.
    step = max(1, n // max(1, args.burst_chats))
    for i in range(min(args.burst_chats, n)):
        b = specs[(i * step + 1) % n]
        for j in range(3):
            events.append((at + i * 0.01 + j * 0.001, b.token, BURST_CHAT, "burst"))
    # One bot suddenly talked to in many new chats: at most 30 sends/s per bot.
    for j in range(args.hot_chats):
        events.append((at + 0.5 + j * 0.001, specs[0].token, HOT_CHAT + j, "hot"))
    return events


async def run_round(n: int, workers: int, args: argparse.Namespace,
                    env: dict[str, str], valkey_pid: int | None, tmp: Path) -> dict[str, Any]:
    from backend_services.core.db import dispose_engine
    from backend_services.core.redis_client import close_redis
    from backend_services.knowledge.embeddings import get_default_embedder
    from tests.support.telegram_server import TelegramTestServer

    result: dict[str, Any] = {"bots": n, "workers": workers, "chats_per_bot": args.chats,
                              "rate_per_s": args.rate, "duration_s": args.duration}
    specs = make_specs(n)
    server = TelegramTestServer(record_calls=False)
    await server.start()
    fleet: Fleet | None = None
    meter: Meter | None = None
    try:
        for b in specs:
            server.add_bot(b.token, b.username, first_name=f"Bench {b.index}")
        log(f"[{n}] creating {n} workspaces, assistants and Q&A pairs")
        await get_default_embedder().embed_queries(["warm-up"])  # load the model once
        result["setup_seconds"] = round(await create_tenants(specs), 1)
        log(f"[{n}] tenants ready in {result['setup_seconds']} s")

        fleet = Fleet({**os.environ, **env, "REPLYX_TELEGRAM_API_BASE": server.base_url,
                       "REPLYX_FLEET_WORKERS": str(workers)}, tmp / f"fleet-{n}.log")
        meter = Meter(fleet)
        meter.start()
        started = meter.mark("fleet start")
        fleet.start()
        deadline = started + 120
        while await worker_heartbeats() < workers or len(fleet.workers()) < workers:
            if time.monotonic() > deadline or not fleet.alive():
                raise RuntimeError("the fleet's workers did not start:\n"
                                   + fleet.log_path.read_text(errors="replace")[-3000:])
            await asyncio.sleep(0.25)  # poll: worker processes start
        result["fleet_start_seconds"] = round(time.monotonic() - started, 1)
        # idle: wait until the fleet's CPU use settles, then take the baseline
        await settle(fleet)
        base = [fleet.memory()["rss_kb"] for _ in range(3)]
        result["rss_0_bots_kb"] = int(statistics.median(base))
        result["pss_0_bots_kb"] = fleet.pss_kb()
        result["processes"] = len(fleet.pids())
        result["per_process_rss_0_bots_kb"] = list(fleet.memory()["per_process_kb"].values())
        log(f"[{n}] fleet up ({len(fleet.pids())} processes) in "
            f"{result['fleet_start_seconds']} s, RSS {result['rss_0_bots_kb'] / 1024:.0f} MB")

        # --- bots start
        t_add = meter.mark("bots added")
        await insert_channels(specs)
        polling_at: dict[str, float] = {}
        deadline = t_add + args.start_timeout
        last_change = t_add
        while len(polling_at) < n and time.monotonic() < deadline:
            now = time.monotonic()
            for b in specs:
                if b.token not in polling_at and server.is_polling(b.token):
                    polling_at[b.token] = now - t_add
                    last_change = now
            if polling_at and now - last_change > 30:
                break  # nothing new for 30 s: the rest are not coming (backoff is shorter)
            await asyncio.sleep(0.2)  # poll: bots start in the fleet's processes
        times = sorted(polling_at.values())
        result["bots_polling"] = len(polling_at)
        result["start_all_polling_s"] = round(times[-1], 1) if len(times) == n else None
        result["start_half_polling_s"] = round(times[len(times) // 2], 1) if times else None
        log(f"[{n}] {len(polling_at)}/{n} bots polling after "
            f"{(times[-1] if times else 0):.1f} s")
        if len(polling_at) < n:
            missing = [b.index for b in specs if b.token not in polling_at]
            result["never_polling_sample"] = missing[:20]
        await settle(fleet)
        idle = [fleet.memory()["rss_kb"] for _ in range(3)]
        result["rss_idle_bots_kb"] = int(statistics.median(idle))
        result["pss_idle_bots_kb"] = fleet.pss_kb()
        result["per_process_rss_idle_kb"] = list(fleet.memory()["per_process_kb"].values())
        cpu_a, other_a, gu_a = fleet.cpu(), other_cpu(valkey_pid), get_updates(server)
        await asyncio.sleep(args.idle_window)  # a measuring window
        cpu_b, other_b, gu_b = fleet.cpu(), other_cpu(valkey_pid), get_updates(server)
        result["idle_with_bots"] = {
            "fleet_cpu_cores": round((cpu_b - cpu_a) / args.idle_window, 3),
            "postgres_cpu_cores": round((other_b["postgres"] - other_a["postgres"])
                                        / args.idle_window, 3),
            "get_updates_per_s": round((gu_b - gu_a) / args.idle_window, 1)}
        result["worker_fds_idle"] = [_open_fds(p) for p in fleet.workers()]
        result["worker_threads_idle"] = [_threads(p) for p in fleet.workers()]
        log(f"[{n}] RSS with {n} idle bots {result['rss_idle_bots_kb'] / 1024:.0f} MB")

        # --- warm-up: every chat the measured phases use says its first message
        traffic = Traffic(server)
        n_steady = int(args.rate * args.duration)
        n_sat = int(args.saturate_rate * args.saturate_duration)
        steady_pairs = rotation(specs, args.chats, 0, n_steady)
        sat_pairs = rotation(specs, args.chats, 0, n_sat)
        warm_pairs = list(dict.fromkeys(steady_pairs + sat_pairs))
        result["bots_talked_to"] = len({t for t, _ in warm_pairs})
        result["chats_talked_to"] = len(warm_pairs)
        t_warm = meter.mark("warm-up")
        log(f"[{n}] warm-up: {len(warm_pairs)} chats' first updates at {args.warmup_rate}/s")
        await traffic.play(timed(warm_pairs, t_warm, args.warmup_rate, "warmup"))
        took = await wait_answered(traffic, args.drain, "warm-up")
        result["warmup_seconds"] = round(time.monotonic() - t_warm, 1)
        result["warmup_drain_s"] = round(took, 1)
        result["settle_after_warmup"] = await settle(fleet)
        result["rss_after_warmup_kb"] = fleet.memory()["rss_kb"]

        # --- steady stream
        cpu0, other0, gu0 = fleet.cpu(), other_cpu(valkey_pid), get_updates(server)
        t0 = meter.mark("steady") + 0.5
        schedule = timed(steady_pairs, t0, args.rate, "steady")
        log(f"[{n}] steady: {args.rate}/s for {args.duration} s (each bot every "
            f"{n / args.rate:.0f} s, each chat every {n * args.chats / args.rate:.0f} s)")
        await traffic.play(schedule)
        t_end = meter.mark("steady end")
        cpu1, other1, gu1 = fleet.cpu(), other_cpu(valkey_pid), get_updates(server)
        result["event_backlog_steady_end"] = await outbox_stream_backlog()
        took = await wait_answered(traffic, args.drain, "drain")
        result["drain_s"] = round(took, 1)
        await asyncio.sleep(2)  # the last answers' bookkeeping
        mem_end = fleet.memory()
        result["rss_end_kb"] = mem_end["rss_kb"]
        result["pss_end_kb"] = fleet.pss_kb()
        result["per_process_rss_end_kb"] = list(mem_end["per_process_kb"].values())

        # --- probes aimed at the rate limits (apart, so they do not queue the steady ones)
        if args.burst_chats or args.hot_chats:
            t_probe = meter.mark("probes") + 0.5
            log(f"[{n}] probes: {args.burst_chats} chats x 3 at once, "
                f"{args.hot_chats} chats of one bot at once")
            await traffic.play(probes(specs, t_probe, args))
            await wait_answered(traffic, args.drain, "probes")

        # --- saturation: more than the fleet can answer, to see how many it can
        sat: dict[str, Any] = {"offered_per_s": args.saturate_rate,
                               "duration_s": args.saturate_duration}
        if n_sat:
            await settle(fleet)
            cpu_s0, gu_s0 = fleet.cpu(), get_updates(server)
            t_sat = meter.mark("saturation") + 0.5
            log(f"[{n}] saturation: {args.saturate_rate}/s for {args.saturate_duration} s")
            await traffic.play(timed(sat_pairs, t_sat, args.saturate_rate, "saturate"))
            meter.mark("saturation end")
            await wait_answered(traffic, args.drain, "saturation drain")
            meter.mark("drained")
            sat["event_backlog_when_answered"] = await outbox_stream_backlog()
            traffic.match()
            pushed = [p for p in traffic.pushes if p.kind == "saturate"]
            done = sorted(p.reply_at for p in pushed if p.reply_at is not None)
            if done:
                span = done[-1] - t_sat
                sat["answered"] = len(done)
                sat["unanswered"] = len(pushed) - len(done)
                sat["handled_per_s"] = round(len(done) / span, 1)
                sat["last_answer_after_s"] = round(span, 1)
                # kept up: the last answer came about when the last update was pushed
                sat["kept_up"] = span < args.saturate_duration + 2 and len(done) == len(pushed)
                sat["fleet_cpu_cores"] = round((fleet.cpu() - cpu_s0) / span, 2)
                sat["get_updates_per_s"] = round((get_updates(server) - gu_s0) / span, 1)
                sat["latency"] = latency_stats([p.reply_at - p.at for p in pushed
                                                if p.reply_at is not None])
            result["rss_after_saturation_kb"] = fleet.memory()["rss_kb"]
        result["saturation"] = sat

        # --- figures
        matched = traffic.match()
        result["replies"] = matched
        steady = [p for p in traffic.pushes if p.kind == "steady"]
        lat = [p.reply_at - p.at for p in steady if p.reply_at is not None]
        result["steady_updates"] = len(steady)
        result["steady_unanswered"] = sum(p.reply_at is None for p in steady)
        result["latency"] = latency_stats(lat)
        result["latency_histogram_100ms"] = histogram(lat)
        result["warmup_latency"] = latency_stats(
            [p.reply_at - p.at for p in traffic.pushes
             if p.kind == "warmup" and p.reply_at is not None])
        window = (t0, t_end)
        arrivals = sorted(p.reply_at for p in traffic.pushes
                          if p.reply_at is not None and p.kind == "steady")
        in_window = bisect.bisect_right(arrivals, window[1]) - bisect.bisect_left(
            arrivals, window[0])
        span = window[1] - window[0]
        result["handled_per_s"] = round(in_window / span, 1)
        result["offered_per_s"] = round(
            sum(1 for p in traffic.pushes if p.kind == "steady") / span, 1)
        fleet_cpu = cpu1 - cpu0
        result["cpu_seconds_steady"] = {
            "fleet": round(fleet_cpu, 1),
            **{k: round(other1[k] - other0[k], 1) for k in other0},
            "window_s": round(span, 1)}
        result["steady_get_updates_per_s"] = round((gu1 - gu0) / span, 1)
        handled = sum(1 for p in traffic.pushes if p.kind == "steady")
        result["fleet_cpu_ms_per_update"] = round(fleet_cpu * 1000 / max(1, handled), 1)
        steady_rss = meter.rss_between(t_end - 10, t_end)
        all_rss = meter.rss_between(t_add, time.monotonic())
        result["rss_load_kb"] = int(statistics.median(steady_rss)) if steady_rss else None
        result["rss_peak_kb"] = max(all_rss) if all_rss else None
        result["memory_per_bot_kb"] = {
            "idle": round((result["rss_idle_bots_kb"] - result["rss_0_bots_kb"]) / n, 1),
            "under_load": round(((result["rss_load_kb"] or 0) - result["rss_0_bots_kb"]) / n, 1),
            "fleet_total_over_bots": round((result["rss_load_kb"] or 0) / n, 1),
            "pss_idle": round((result["pss_idle_bots_kb"] - result["pss_0_bots_kb"]) / n, 1),
        }
        lag = meter.lag_between(t0, t_end)
        result["load_generator_loop_lag_ms"] = {
            "p50": round(percentile(lag, 50) * 1000, 1) if lag else None,
            "p99": round(percentile(lag, 99) * 1000, 1) if lag else None,
            "max": round(max(lag) * 1000, 1) if lag else None}

        probed: dict[str, Any] = {}
        bursts = defaultdict(list)
        for p in traffic.pushes:
            if p.kind == "burst" and p.reply_at is not None:
                bursts[p.token].append(p.reply_at)
        gaps = [b - a for times in map(sorted, bursts.values())
                for a, b in itertools.pairwise(times)]
        probed["chat_burst"] = {
            "chats": len(bursts), "updates": sum(p.kind == "burst" for p in traffic.pushes),
            "answered": sum(len(v) for v in bursts.values()),
            "min_gap_between_replies_s": round(min(gaps), 3) if gaps else None,
            "latency": latency_stats([p.reply_at - p.at for p in traffic.pushes
                                      if p.kind == "burst" and p.reply_at is not None])}
        hot = sorted(p.reply_at for p in traffic.pushes
                     if p.kind == "hot" and p.reply_at is not None)
        best = 0
        for i, t in enumerate(hot):
            best = max(best, bisect.bisect_left(hot, t + 1.0) - i)
        probed["hot_bot"] = {
            "chats": args.hot_chats, "answered": len(hot),
            "max_replies_in_any_1s": best,
            "all_answered_after_s": round(hot[-1] - min(p.at for p in traffic.pushes
                                                         if p.kind == "hot"), 2) if hot else None}
        result["probes"] = probed

        strict = server.max_rate_violations()
        tolerant = server.max_rate_violations(tolerance=0.05)
        by_kind: dict[str, int] = defaultdict(int)
        for v in strict:
            by_kind[v.kind] += 1
        result["rate_limit_violations"] = {
            "strict": len(strict), "tolerance_50ms": len(tolerant),
            "strict_by_kind": dict(by_kind),
            "worst": [{"kind": v.kind, "chat_id": v.chat_id, "count": v.count,
                       "limit": v.limit, "window": v.window,
                       "span_s": round(v.end - v.start, 3)}
                      for v in sorted(strict, key=lambda v: (v.count - v.limit) / v.limit
                                      - (v.end - v.start) / v.window, reverse=True)[:5]]}
        result["server_counts"] = {f"{m} {s}": c for (m, s), c in sorted(server.counts.items())}
        result["fleet_counters"] = await fleet_counters()
        result["bot_statuses"] = await bot_statuses()
        result["fleet_log"] = fleet.log_problems()
        result["series"] = {
            "t0": round(t_add - meter.t0, 1),
            "rss_mb": [(round(t, 1), round(kb / 1024, 1)) for t, kb, _ in meter.rss],
            "marks": [(round(t, 1), w) for t, w in meter.marks],
            "replies_per_s": per_second(
                [p.reply_at - meter.t0 for p in traffic.pushes if p.reply_at is not None]),
            "pushes_per_s": per_second([p.at - meter.t0 for p in traffic.pushes]),
            "latency_ms": [(round(p.at - meter.t0, 2), round((p.reply_at - p.at) * 1000, 1))
                           for p in traffic.pushes
                           if p.kind == "steady" and p.reply_at is not None],
        }
        log(f"[{n}] handled {result['handled_per_s']}/s, latency {result['latency']}, "
            f"RSS under load {(result['rss_load_kb'] or 0) / 1024:.0f} MB, "
            f"violations {len(strict)}")
        return result
    finally:
        if meter is not None:
            await meter.stop()
        if fleet is not None:
            fleet.stop()
            keep = OUT / f"fleet_load-{n}.log"
            with contextlib.suppress(OSError):
                shutil.copy(fleet.log_path, keep)
        await server.stop()
        await dispose_engine()
        await close_redis()


async def settle(fleet: Fleet, cores: float = 0.2, most: float = 60.0) -> dict[str, float]:
    """Wait until the fleet idles (start-up work done, dialog events handled), at least
    3 s; returns how long it took and the event backlog it started with."""
    started = time.monotonic()
    backlog = await outbox_stream_backlog()
    last = fleet.cpu()
    await asyncio.sleep(3)  # minimum settling time
    while time.monotonic() - started < most:
        await asyncio.sleep(2)  # poll: CPU use of other processes
        now = fleet.cpu()
        if (now - last) / 2 < cores and await outbox_stream_backlog() == 0:
            break
        last = now
    return {"seconds": round(time.monotonic() - started, 1), "event_backlog": backlog}


def histogram(seconds: list[float], bucket: float = 0.1) -> dict[str, int]:
    """Counts per 100 ms bucket (the shape of the tail: queueing or a fixed wait)."""
    counts: dict[int, int] = defaultdict(int)
    for v in seconds:
        counts[int(v / bucket)] += 1
    return {f"{k * bucket:.1f}": c for k, c in sorted(counts.items())}


def get_updates(server: Any) -> int:
    return sum(c for (method, _), c in server.counts.items() if method == "getUpdates")


def per_second(times: list[float]) -> list[tuple[int, int]]:
    counts: dict[int, int] = defaultdict(int)
    for t in times:
        counts[int(t)] += 1
    return sorted(counts.items())


# --------------------------------------------------------------------------- plot


def plot(rounds: list[dict[str, Any]], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    (ax_mem, ax_rate), (ax_lat, ax_bar) = axes
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for r, colour in zip(rounds, colours, strict=False):
        s = r["series"]
        t0 = s["t0"]
        label = f"{r['bots']} bots / {r['workers']} workers"
        ax_mem.plot([t - t0 for t, _ in s["rss_mb"]], [mb for _, mb in s["rss_mb"]],
                    color=colour, label=label)
        for t, what in s["marks"]:
            if what in ("warm-up", "steady", "probes", "saturation"):
                ax_mem.axvline(t - t0, color=colour, alpha=0.25, ls=":")
        marks = {what: t for t, what in s["marks"]}
        steady = marks.get("steady", t0)
        for key, style, what in (("pushes_per_s", "--", "updates pushed/s"),
                                 ("replies_per_s", "-", "answers/s")):
            counts = dict(s[key])
            if not counts:
                continue
            seconds = range(min(counts), max(counts) + 1)  # seconds without any count: 0
            ax_rate.plot([t - steady for t in seconds], [counts.get(t, 0) for t in seconds],
                         color=colour, ls=style, alpha=0.4 if style == "--" else 1.0,
                         lw=1.0, label=f"{label}: {what}")
        lat = sorted(ms for _, ms in s["latency_ms"])
        if lat:
            ax_lat.plot(lat, [i / len(lat) for i in range(1, len(lat) + 1)], color=colour,
                        label=f"{label}: p50 {r['latency']['p50_ms']:.0f}, p95 "
                              f"{r['latency']['p95_ms']:.0f}, p99 {r['latency']['p99_ms']:.0f} ms")
    ax_mem.set(title="Fleet RSS (supervisor + workers)\n"
                     "dotted: warm-up, steady, probes, saturation",
               xlabel="seconds since the bots were added", ylabel="MB")
    ax_mem.legend(fontsize=8)
    for x in (0, rounds[0]["duration_s"]) if rounds else ():
        ax_rate.axvline(x, color="grey", ls=":", lw=0.8)
    ax_rate.set(title="Updates pushed and answers received per second\n"
                      "warm-up | steady (between the dotted lines) | probes, saturation",
                xlabel="seconds since the steady phase began", ylabel="per second")
    ax_rate.legend(fontsize=7)
    ax_lat.set(title="Update → reply at the Bot API server (steady updates), CDF",
               xlabel="ms", ylabel="share of updates", xscale="log")
    ax_lat.grid(alpha=0.3)
    ax_lat.legend(fontsize=8)
    labels = [f"{r['bots']} bots\n{r['workers']} workers" for r in rounds]
    x = range(len(rounds))
    idle = [r["memory_per_bot_kb"]["idle"] for r in rounds]
    load = [r["memory_per_bot_kb"]["under_load"] for r in rounds]
    total = [r["memory_per_bot_kb"]["fleet_total_over_bots"] for r in rounds]
    w = 0.27
    ax_bar.bar([i - w for i in x], idle, w, label="added by a bot, idle")
    ax_bar.bar(list(x), load, w, label="added by a bot, under load")
    ax_bar.bar([i + w for i in x], total, w, label="whole fleet / bots")
    ax_bar.axhline(1024, color="red", ls="--", label="target: 1 MB per bot in total")
    for i, v in zip(x, total, strict=False):
        ax_bar.text(i + w, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    for i, v in zip(x, load, strict=False):
        ax_bar.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    for i, v in zip(x, idle, strict=False):
        ax_bar.text(i - w, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax_bar.set_xticks(list(x), labels)
    ax_bar.set(title="Memory per bot (KB)", ylabel="KB per bot", yscale="log")
    ax_bar.legend(fontsize=8)
    fig.suptitle("ReplyX Telegram fleet against the Bot API test server")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path.relative_to(ROOT))


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bots", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--workers", type=int, nargs="+", default=None,
                        help="worker processes per round (default: 2 up to 250 bots, else 4)")
    parser.add_argument("--rate", type=float, default=6.0,
                        help="updates per second in total during the steady phase")
    parser.add_argument("--saturate-rate", type=float, default=25.0,
                        help="updates per second offered in the saturation phase (0: none)")
    parser.add_argument("--saturate-duration", type=float, default=12.0)
    parser.add_argument("--idle-window", type=float, default=25.0,
                        help="seconds of idle CPU measured with the bots polling (25 = "
                             "one long-poll period, so every bot polls once)")
    parser.add_argument("--duration", type=float, default=60.0, help="steady phase, s")
    parser.add_argument("--chats", type=int, default=3, help="chats per bot")
    parser.add_argument("--warmup-rate", type=float, default=10.0,
                        help="updates per second while every chat says its first message")
    parser.add_argument("--burst-chats", type=int, default=10)
    parser.add_argument("--hot-chats", type=int, default=40)
    parser.add_argument("--start-timeout", type=float, default=120.0)
    parser.add_argument("--drain", type=float, default=120.0,
                        help="longest wait for the last answers of a phase")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()
    workers = args.workers or [2 if n <= 250 else 4 for n in args.bots]
    if len(workers) != len(args.bots):
        parser.error("--workers needs one value per --bots value")

    result: dict[str, Any] = {"benchmark": "fleet_load", "machine": machine_info(),
                              "settings": vars(args), "rounds": []}
    for n, w in zip(args.bots, workers, strict=True):
        log(f"=== round: {n} bots, {w} workers")
        with private_stack() as (env, valkey_pid, tmp):
            result["rounds"].append(asyncio.run(run_round(n, w, args, env, valkey_pid, tmp)))
    result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    if not args.no_plot:
        result["plot"] = plot(result["rounds"], OUT / "fleet_load.png")
    with contextlib.suppress(OSError):  # with the time series, for a later look
        (OUT / "fleet_load-full.json").write_text(json.dumps(result))
    for r in result["rounds"]:
        r.pop("series", None)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
