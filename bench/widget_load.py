"""Concurrent widget visitors against the real app: latency, delivery, memory per visitor.

Why: a visitor's message travels through a Reflex event on one web worker, PostgreSQL,
the AI stream pushed into the shared dialog state (`DialogLive`, linked to `dlg-<id>`),
the `dialogs` Redis stream consumer that refreshes the workspace inbox (`InboxLive`,
`inbox-<workspace id>`), and Reflex's Redis fan-out to whichever worker holds each
socket. DESIGN.md §4 says overload shows as growing latency with no errors, so this
reports latency percentiles and delivery completeness, not just error counts.

What runs (all private to this run, nothing shared with the tests or the dev data):
- an embedded PostgreSQL and Valkey in temporary directories;
- the tests' OpenAI-compatible server (tests/support/openai_server.py) in its own process,
  answering instantly; each answer starts with the `[b:<tag>]` of the question, so a
  streamed token is attributed to the exact message that asked for it;
- `python -m replyx_app.cli web` (production build, REPLYX_WEB_WORKERS web workers) as
  tests/conftest.py `app_server` starts it. The per-IP message limit is raised, because
  every simulated visitor comes from 127.0.0.1; everything else is the default app;
- per round (one per N): a freshly started app on an emptied Valkey, so a saturated round's
  backlog cannot leak into the next; a new workspace with an assistant that knows one Q&A
  pair (handoff policy off, so the AI keeps every dialog), its widget, and `--operators`
  operator consoles open on `/console` (linked to the inbox); a short unmeasured warm-up
  (the first turn in each worker loads the embedding model).
- before each app start it waits until no pytest run of this checkout may be building
  `.web` and the machine is idle (< 0.5 busy cores, up to `--wait-for-idle` s): the two
  cores are shared, and other work would be measured as the app's latency.

Each simulated visitor is one websocket speaking what the browser speaks (captured from a
real Chromium session): the socket.io CONNECT packet carries `hydrate_and_load` for
`/widget/?w=<public id>#t=<token>` (with the compiled frontend's state hashes and schema
from `.web/utils/context.jsx`), the page's `boot` asks for the token through a
`_call_script` whose callback is answered with `WidgetChatState.start(token)`; the input's
focus sends `typing(true)`; messages go as `WidgetChatState.send(form)`. Visitors join over
a ramp, then each sends a message every `--interval` seconds (x0.5..1.5 jitter, open loop:
a slow answer does not delay the next question) for `--duration` seconds; the run then
waits up to `--drain` seconds for answers still on their way.

Measured per N:
- send -> first streamed token visible: the first `DialogLive` delta on the visitor's
  socket whose `streaming` (or stored AI message) carries the message's tag;
- send -> complete answer visible (the stored AI message in `DialogLive.messages`), and
  send -> the visitor's own message back in `DialogLive` (the `send` event's round trip);
- send -> operator console inbox update: the first `InboxLive` delta on an operator's
  socket where the visitor's dialog shows a `last_message_id` at least the message's id
  (ids read from PostgreSQL after the round), for every operator console;
- delivery completeness: answers seen / messages sent, and what PostgreSQL holds
  (stored but never seen; not stored), then again once the app has gone quiet (up to
  60 s): a visitor message still without an answer then was dropped, not just late;
- errors: failed connects or session starts, dropped sockets, notices shown to visitors
  (rate limit, "something went wrong"), and the app log's errors by kind (lock expiry,
  connection pool timeouts, ...) with the event or our code's frame they came from;
- memory: RSS (and USS) of the web process tree before and after the N visitors connect,
  divided by N, plus Valkey's used_memory (Reflex keeps every client's state there);
- CPU seconds (and cores) of the web processes, PostgreSQL, Valkey, this load generator
  and everything else on the machine, web CPU per stored answer, the load generator's
  event-loop lag (a lagging generator inflates latencies), and every 2 s while sending:
  the app's PostgreSQL connections by state and Valkey's clients (latency that grows
  while CPU is free points at a queue, not at work).

Percentiles are over delivered messages only; read them together with completeness.
Beyond what a worker can answer (`REPLYX_WIDGET_ANSWERS_PER_WORKER` answers in flight) the
app refuses new messages with a "busy, send it again" notice and stores nothing: those
count as notices (by text in `visitor_notices_by_text`) and as "not stored", not as lost.
Every visitor message is a full AI turn in the app: rate limits, the handoff policy
check, storing it, query embedding with the local e5 model and hybrid retrieval, the
(instant) model call, storing the answer with its sources and usage.

Run (about 15-18 minutes on 2 cores when the machine is idle, app starts included):

    .venv/bin/python bench/widget_load.py > bench/out/widget_load.json

`--visitors 100,500` picks the rounds, `--duration`/`--interval` the conversation,
`--max-round-seconds` caps a round, `--workspaces` spreads visitors over tenants.

Prints JSON to stdout, progress to stderr, draws bench/out/widget_load.png.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchdb import OUT, ROOT, bench_database, log, machine_info, percentile

PASSWORD = "Bench-horse-9-staple"
QUESTION = "How long do refunds take?"
ANSWER = "Refunds reach your card within five working days."
TAG = re.compile(r"\[b:([A-Za-z0-9]+)\]")
SITE = "http://shop.example"  # the tenant's website, as the loader would have checked it

ROOT_STATE = "reflex___state____state"
WIDGET_STATE = f"{ROOT_STATE}.state___widget_chat____widget_chat_state"
CONSOLE_STATE = (f"{ROOT_STATE}.state___session____session_state"
                 ".state___console____console_state")
DIALOG_LIVE = "state___live____dialog_live"  # suffix of the delta key (shared state)
INBOX_LIVE = "state___live____inbox_live"
EVENT_PREFIX = "42/_event,"


# --------------------------------------------------------------------------- fake AI


def serve_openai() -> None:
    """Child process: the tests' OpenAI-compatible server, echoing each question's tag.

    Runs in its own process so its replies stay instant however busy the load generator
    is.
    """
    from tests.support.openai_server import OpenAITestServer, Reply

    class TaggingServer(OpenAITestServer):
        _tag: str = ""

        async def _record(self, request: Any) -> Any:
            rec, body = await super()._record(request)
            self.requests.clear()  # nobody reads them; a long run would keep them all
            users = [m for m in rec.messages if m.get("role") == "user"]
            found = TAG.search(str(users[-1].get("content", ""))) if users else None
            self._tag = found.group(0) if found else ""
            return rec, body

        def behaviour_for(self, key: str, model: str) -> Any:
            # _chat calls this right after _record, with no await in between: the tag
            # is this request's.
            return Reply(text=f"{self._tag} {ANSWER} [1]".strip())

    async def run() -> None:
        srv = TaggingServer()
        await srv.start()
        print(srv.base_url, flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


# --------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def e2e_running() -> bool:
    """A pytest run in this checkout that may start the app builds its frontend into the
    same `.web` folder (unit and integration runs do not start the app; a run in another
    clone builds its own `.web`)."""
    import psutil

    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        args = proc.info["cmdline"] or []
        if proc.info["pid"] == os.getpid() or not any("pytest" in a for a in args):
            continue
        if proc.info["cwd"] and Path(proc.info["cwd"]).resolve() != ROOT.resolve():
            continue
        paths = [a for a in args if a.startswith("tests")]
        if not paths or any("e2e" in a or a.rstrip("/") == "tests" for a in paths):
            return True
    return False


def busy_cores(seconds: float = 3.0) -> float:
    """How many cores the whole machine keeps busy (other sessions' tests count too)."""
    import psutil

    def busy() -> float:
        t = psutil.cpu_times()
        return sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq",
                                                 "steal"))

    before = busy()
    time.sleep(seconds)  # a measurement window, not synchronisation
    return (busy() - before) / seconds


def wait_for_quiet(tests_most: float, idle_most: float, cores: float = 0.5) -> float:
    """Wait until no pytest run may be building `.web` (up to `tests_most` s, then give
    up) and the machine is nearly idle (up to `idle_most` s, then measure anyway: other
    work on these cores would be measured as the app's latency). Returns busy cores."""
    started = time.monotonic()
    while True:
        if e2e_running():
            if time.monotonic() - started > tests_most:
                raise RuntimeError("a pytest run is still active; it would build the same "
                                   ".web folder as this app: try again later")
            log("waiting: a pytest run is active (it builds the same .web folder)")
            time.sleep(10)  # poll: another session's test run
            continue
        now = busy_cores()
        if now < cores:
            return round(now, 2)
        if time.monotonic() - started > idle_most:
            log(f"the machine is still busy ({now:.1f} cores); measuring anyway")
            return round(now, 2)
        log(f"waiting for the machine to go idle ({now:.1f} cores busy)")
        time.sleep(7)  # poll: other sessions' work


def _wait_http(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the app exited during start-up:\n"
                               + log_path.read_text(errors="replace")[-4000:])
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)  # poll: waiting for the production build to come up
    raise RuntimeError("the app did not come up in time:\n"
                       + log_path.read_text(errors="replace")[-4000:])


@dataclass
class Stack:
    """The data servers and the fake AI, shared by every round; the app is per round."""

    tmp: Path
    env: dict[str, str]
    ai_base_url: str
    redis_url: str
    valkey_pid: int | None
    wait_for_tests: float
    wait_for_idle: float
    logs: list[Path] = field(default_factory=list)


@dataclass
class App:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    start_seconds: float
    machine_busy_cores_before: float


@contextlib.contextmanager
def stack(workers: int, wait_for_tests: float, wait_for_idle: float) -> Iterator[Stack]:
    """Private PostgreSQL + Valkey (temporary directories) and the fake AI."""
    from backend_services.core.embedded_servers import EmbeddedValkey
    from backend_services.core.settings import reset_settings_cache

    with bench_database("replyx_widget_bench") as db_url:
        tmp = Path(tempfile.mkdtemp(prefix="replyx-bench-web-"))
        tmp.chmod(0o755)
        valkey = EmbeddedValkey(tmp / "valkey")
        ai: subprocess.Popen[bytes] | None = None
        st: Stack | None = None
        try:
            redis_url = valkey.start()
            env = {
                "DATABASE_URL": db_url,
                "REDIS_URL": redis_url,
                "REPLYX_SECRET_KEY": secrets.token_urlsafe(48),
                "REPLYX_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "REPLYX_DEMO_SEED": "false",
                "REPLYX_HOST": "127.0.0.1",
                "REPLYX_WEB_WORKERS": str(workers),
                # Every simulated visitor comes from 127.0.0.1: the per-IP limit (meant
                # for one abusive address) would refuse all but 60 messages a minute.
                "REPLYX_VISITOR_MESSAGES_PER_IP_PER_MINUTE": "1000000",
                # All visitors ask one workspace's assistant: its answers-per-minute
                # ceiling (a guard against floods) would cap the load being measured.
                "REPLYX_AI_ANSWERS_PER_WORKSPACE_PER_MINUTE": "0",
                "PYTHONUNBUFFERED": "1",
                "COLUMNS": "400",  # one log record per line (rich wraps at 80 otherwise)
            }
            os.environ.update(env)
            reset_settings_cache()
            ai = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--serve-openai"], cwd=ROOT,
                stdout=subprocess.PIPE, env={**os.environ}, start_new_session=True,
            )
            assert ai.stdout is not None
            ai_url = ai.stdout.readline().decode().strip()
            st = Stack(tmp, env, ai_url, redis_url, valkey.pid, wait_for_tests,
                       wait_for_idle)
            yield st
        finally:
            if ai is not None:
                _stop_group(ai)
            with contextlib.suppress(Exception):
                valkey.stop()
            keep = os.environ.get("WIDGET_BENCH_KEEP_LOGS")  # a directory
            if keep and st is not None:
                for path in st.logs:
                    with contextlib.suppress(OSError):
                        shutil.copy(path, Path(keep) / path.name)
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def web_app(st: Stack, name: str) -> Iterator[App]:
    """`python -m replyx_app.cli web` as tests/conftest.py `app_server` starts it, on an
    empty Valkey (no state, stream backlog or rate-limit counters from an earlier round).
    """
    import redis

    client = redis.Redis.from_url(st.redis_url)
    client.flushall()
    client.close()
    idle = wait_for_quiet(st.wait_for_tests, st.wait_for_idle)
    port = _free_port()
    app_log = st.tmp / f"app-{name}.log"
    st.logs.append(app_log)
    with app_log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "replyx_app.cli", "web"], cwd=ROOT,
            env={**os.environ, "REPLYX_PORT": str(port)}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        log(f"[{name}] starting the app at {url} (production build)")
        started = time.monotonic()
        _wait_http(f"{url}/login/", proc, app_log, timeout=900)
        took = time.monotonic() - started
        log(f"[{name}] app up after {took:.0f} s")
        yield App(url, proc, app_log, took, idle)
    finally:
        _stop_group(proc)


def frontend_boot_fields() -> tuple[list[str], str]:
    """The compiled frontend's state hashes and schema, as the browser sends them."""
    text = (ROOT / ".web" / "utils" / "context.jsx").read_text()
    hashes = re.search(r"^export const initialStateHashes = (\[.*?\]);?$", text, re.M)
    schema = re.search(r"^export const stateSchema = (\"[0-9a-f]*\");?$", text, re.M)
    if not hashes or not schema:
        raise RuntimeError(".web/utils/context.jsx has no initialStateHashes/stateSchema")
    return list(json.loads(hashes.group(1))), str(json.loads(schema.group(1)))


# --------------------------------------------------------------------------- resources


class Meter:
    """CPU and memory of the app's processes, PostgreSQL, Valkey and this process."""

    def __init__(self, app_pid: int, valkey_pid: int | None, redis_url: str) -> None:
        import psutil

        self.psutil = psutil
        self.app_pid = app_pid
        self.valkey_pid = valkey_pid
        self.redis_url = redis_url

    def web_procs(self) -> list[Any]:
        root = self.psutil.Process(self.app_pid)
        return [root, *root.children(recursive=True)]

    def memory(self) -> dict[str, Any]:
        rss = uss = 0
        procs = []
        for p in self.web_procs():
            with contextlib.suppress(self.psutil.Error):
                info = p.memory_full_info()
                rss += info.rss
                uss += info.uss
                procs.append({"pid": p.pid, "cmd": " ".join(p.cmdline())[:70],
                              "rss_mb": round(info.rss / 2**20, 1)})
        return {"web_rss_bytes": rss, "web_uss_bytes": uss, "processes": procs,
                "valkey_used_memory_bytes": self.valkey_memory()}

    async def quiet(self, cores: float = 0.25, most: float = 180.0) -> float:
        """Wait until the web processes idle (a previous round's backlog is done)."""
        started = time.monotonic()
        last = self.cpu()["web"]
        while time.monotonic() - started < most:
            await asyncio.sleep(2)
            now = self.cpu()["web"]
            if (now - last) / 2 < cores:
                break
            last = now
        return time.monotonic() - started

    def valkey_memory(self) -> int:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            info: dict[str, Any] = client.info("memory")  # type: ignore[assignment]
            return int(info["used_memory"])
        finally:
            client.close()

    def cpu(self) -> dict[str, float]:
        def total(procs: list[Any]) -> float:
            t = 0.0
            for p in procs:
                with contextlib.suppress(self.psutil.Error):
                    c = p.cpu_times()
                    t += c.user + c.system
            return t

        postgres = [p for p in self.psutil.process_iter(["name", "cmdline"])
                    if (p.info["name"] or "").startswith("postgres")
                    and "replyx-bench-" in " ".join(p.info["cmdline"] or [])]
        # pgserver's backends do not carry the data dir in their command line: count all
        # children of the postmaster whose data dir is ours.
        pg: list[Any] = []
        for p in postgres:
            pg.append(p)
            with contextlib.suppress(self.psutil.Error):
                pg.extend(p.children(recursive=True))
        valkey = []
        if self.valkey_pid:
            with contextlib.suppress(self.psutil.Error):
                valkey = [self.psutil.Process(self.valkey_pid)]
        busy = self.psutil.cpu_times()
        machine = sum(getattr(busy, k, 0.0) for k in ("user", "nice", "system", "irq",
                                                      "softirq", "steal"))
        return {"web": total(self.web_procs()), "postgres": total(pg),
                "valkey": total(valkey), "load_generator": total([self.psutil.Process()]),
                "machine": machine}


LOG_KINDS = (  # what the app's log says when real time suffers (first match wins)
    # an event's state could not be saved: its changes (and what it queued) are lost
    ("lock_expired", re.compile(r"^reflex_base\.utils\.exceptions\.LockExpiredError")),
    ("lock_held_too_long", re.compile(r"Lock for token .* held too long")),
    ("db_pool_timeout", re.compile(r"^sqlalchemy\.exc\.TimeoutError: QueuePool")),
    ("redis_pool_exhausted",
     re.compile(r"^redis\.exceptions\.ConnectionError: No connection available")),
    ("failed_events", re.compile(r"\[Reflex Backend Exception\]")),
    ("other_exceptions", re.compile(r"^[\w.]+(Error|Exception)\b")),
    ("error_lines", re.compile(r"\bERROR\b|CRITICAL")),
    ("warning_lines", re.compile(r"\bWARNING\b|^Warning:")),
)


def app_log_problems(path: Path, start: int) -> tuple[int, dict[str, Any]]:
    """Count error and warning lines after byte offset `start`, by kind, with samples."""
    with path.open("rb") as f:
        f.seek(start)
        data = f.read()
    counts: dict[str, int] = {}
    samples: dict[str, list[str]] = {}
    where: dict[str, int] = {}  # our code's frames in the tracebacks, most frequent first
    frames: list[str] = []
    text = data.decode(errors="replace")
    for line in text.splitlines():
        if "DeprecationWarning" in line or "RouterData.page" in line:
            continue
        frame = re.match(r'\s*File "/[^"]*/((?:state|backend_services|replyx_app)/[^"]+)", '
                         r"line (\d+), in (\w+)", line)
        if frame:
            frames.append(f"{frame.group(1)}:{frame.group(2)} {frame.group(3)}")
            continue
        for kind, pattern in LOG_KINDS:
            if pattern.search(line):
                counts[kind] = counts.get(kind, 0) + 1
                if len(samples.setdefault(kind, [])) < 2:
                    samples[kind].append(line[:300])
                if kind in ("lock_expired", "db_pool_timeout", "redis_pool_exhausted",
                            "other_exceptions") and frames:
                    key = f"{kind} in {frames[-1]}"
                else:
                    key = ""
                if key:
                    where[key] = where.get(key, 0) + 1
                break
        if line.startswith("Traceback") or line.startswith("[Reflex Backend Exception]"):
            frames = []
    # Which event lost its state write, and on which kind of state (the message spans
    # two lines: the expected lock id, then "Happened in event: ...").
    for m in re.finditer(r"^reflex_base\.utils\.exceptions\.LockExpiredError: Lock expired "
                         r"for token (dlg-|inbox-)?\S*?(\w+) while.*?\n.*?Happened in "
                         r"event: [\w.]*?(\w+\.\w+)\s*$", text, re.M):
        target = f"shared {m.group(1)}<id>" if m.group(1) else m.group(2).rsplit("____", 1)[-1]
        key = f"lock_expired saving {target} in event {m.group(3)}"
        where[key] = where.get(key, 0) + 1
    for shared in ("dlg-", "inbox-"):
        found = len(re.findall(rf"Lock expired for token {shared}\d", text))
        if found:
            where[f"lock_expired lines naming a shared {shared}<id> state"] = found
    top = dict(sorted(where.items(), key=lambda kv: -kv[1])[:10])
    return start + len(data), {"counts": counts, "where": top, "samples": samples}


# --------------------------------------------------------------------------- tenant data


@dataclass
class Tenant:
    workspace_id: int
    assistant_id: int
    public_id: str
    operator_sessions: list[str]


async def make_tenant(index: int, ai_base_url: str, operators: int, first: bool) -> Tenant:
    """A workspace with one assistant that knows one Q&A pair, its widget, its operators."""
    from backend_services.ai import keys
    from backend_services.assistants import service as assistants
    from backend_services.assistants.service import AssistantInput
    from backend_services.conversations import policy
    from backend_services.identity import auth
    from backend_services.knowledge import sources
    from backend_services.models import Role
    from backend_services.widget import settings as widget
    from backend_services.widget.settings import WidgetInput

    email = f"owner{index}-{secrets.token_hex(3)}@example.com"
    signed = await auth.signup(email=email, password=PASSWORD, name=f"Owner {index}",
                               workspace_name=f"Bench shop {index}")
    await auth.create_user(email=email, password=PASSWORD, name=f"Owner {index}",
                           workspace_id=None, confirmed=True)
    ws = signed.workspace_id
    owner = (await auth.login(email=email, password=PASSWORD)).principal
    if first:  # one provider key for the platform, with limits far above the load
        await auth.create_user(email=email, password=PASSWORD, name=f"Owner {index}",
                               workspace_id=None, platform_admin=True)
        admin = (await auth.login(email=email, password=PASSWORD)).principal
        await keys.add_key(admin, "bench", ai_base_url, "sk-bench-0001", [], 1_000_000,
                           1_000_000_000)
    assistant = await assistants.create_assistant(owner, AssistantInput(name="Shop helper"))
    assert assistant.id is not None
    await sources.save_qa(owner, assistant.id, None, QUESTION, ANSWER)
    # The AI keeps every conversation: a stub's answer must not look "unsure" and hand
    # the dialog to a person, which would stop the AI answering.
    await policy.update_policy(owner, assistant.id, policy.HandoffPolicy(enabled=False))
    view = await widget.update_settings(owner, assistant.id, WidgetInput(
        title="Shop support", allowed_origins=(SITE,)))
    sessions = []
    for k in range(operators):
        op_email = f"op{index}-{k}-{secrets.token_hex(3)}@example.com"
        await auth.create_user(email=op_email, password=PASSWORD, name=f"Operator {k}",
                               workspace_id=ws, role=Role.OPERATOR)
        sessions.append((await auth.login(email=op_email, password=PASSWORD)).session_id)
    return Tenant(ws, assistant.id, view.public_id, sessions)


async def visitor_token(public_id: str) -> str:
    """What POST /api/widget/session hands the loader: a signed token for a new visitor."""
    from backend_services.widget import settings as widget
    from backend_services.widget import visitors

    config = await widget.public_config(public_id)
    assert config is not None
    visitor_id = visitors.new_credential(public_id).visitor_id
    return visitors.issue_token(config, visitor_id, SITE).token


async def stored_messages(prefix: str) -> dict[str, dict[str, Any]]:
    """tag -> {dialog, visitor message id, ai message id} for this round, from PostgreSQL."""
    from sqlalchemy import text

    from backend_services.core.db import get_engine

    out: dict[str, dict[str, Any]] = {}
    async with get_engine().connect() as conn:
        rows = (await conn.execute(text(
            "SELECT id, dialog_id, sender, content FROM messages WHERE content LIKE :p"),
            {"p": f"%[b:{prefix}%"})).all()
    for mid, dialog_id, sender, content in rows:
        found = TAG.search(content or "")
        if not found:
            continue
        entry = out.setdefault(found.group(1), {"dialog": dialog_id})
        entry[sender] = min(mid, entry.get(sender, mid))
    return out


class Sampler:
    """Every 2 s while visitors talk: the app's PostgreSQL connections by state and wait,
    and Valkey's clients. Latency that grows while CPU stays free points at a queue:
    a connection pool, a lock, a sequential consumer."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.rows: list[dict[str, int]] = []
        self.idle_in_tx: dict[str, int] = {}  # last statement of connections left open
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> dict[str, int]:
        from redis.asyncio import Redis
        from sqlalchemy import text

        from backend_services.core.db import get_engine

        row: dict[str, int] = {}
        async with get_engine().connect() as conn:
            for state, wait, count in (await conn.execute(text(
                "SELECT coalesce(state, '?'), coalesce(wait_event_type, '-'), count(*) "
                "FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() GROUP BY 1, 2"))).all():
                row["pg_connections"] = row.get("pg_connections", 0) + int(count)
                key = "pg_" + str(state).replace(" ", "_")
                row[key] = row.get(key, 0) + int(count)
                if wait == "Lock":
                    row["pg_waiting_on_row_locks"] = (row.get("pg_waiting_on_row_locks", 0)
                                                      + int(count))
            for (query,) in (await conn.execute(text(
                "SELECT regexp_replace(left(query, 120), '\\s+', ' ', 'g') "
                "FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'idle in transaction'"))).all():
                self.idle_in_tx[query] = self.idle_in_tx.get(query, 0) + 1
        client = Redis.from_url(self.redis_url)
        try:
            info = await client.info("clients")
            row["valkey_clients"] = int(info.get("connected_clients", 0))
            row["valkey_blocked_clients"] = int(info.get("blocked_clients", 0))
            row["valkey_pubsub_clients"] = int(info.get("pubsub_clients", 0))
        finally:
            await client.aclose()
        return row

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                self.rows.append(await self._sample())
            await asyncio.sleep(2)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, Any]:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        keys = sorted({k for r in self.rows for k in r})
        out: dict[str, Any] = {
            k: {"mean": round(sum(r.get(k, 0) for r in self.rows) / len(self.rows), 1),
                "max": max(r.get(k, 0) for r in self.rows)} for k in keys}
        out["idle_in_transaction_last_statements"] = dict(
            sorted(self.idle_in_tx.items(), key=lambda kv: -kv[1])[:6])
        return out


# --------------------------------------------------------------------------- clients


class Lag:
    """How late this process's event loop wakes up: a loaded generator inflates latency."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.1)
            self.samples.append(max(0.0, time.perf_counter() - t - 0.1))

    def start(self) -> None:
        self.samples.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class Sent:
    tag: str
    at: float
    echo: float | None = None  # the visitor's own message back in DialogLive
    first_token: float | None = None
    complete: float | None = None


class Socket:
    """One Reflex client: socket.io over a websocket at /_event/, as the browser speaks it."""

    def __init__(self, http: Any, base: str, page: str, boot: tuple[list[str], str],
                 cookie: str = "") -> None:
        self.http = http
        self.base = base
        self.page = page  # e.g. "/widget/?w=...#t=..." (path + query + fragment)
        self.boot = boot
        self.cookie = cookie
        self.ws: Any = None
        self.closed_early = False  # the server or the network ended it, not us
        self.closing = False
        self.mismatch = False
        self.frames_in = 0
        self.bytes_in = 0

    def router_data(self) -> dict[str, Any]:
        path, _, rest = self.page.partition("?")
        query = rest.partition("#")[0]
        data: dict[str, Any] = {"pathname": path, "asPath": self.page}
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if params:
            data["query"] = params
        return data

    async def connect(self) -> None:
        token = str(uuid.uuid4())
        ws_url = self.base.replace("http", "ws", 1) + (
            f"/_event/?token={token}&EIO=4&transport=websocket")
        headers = {"Origin": self.base}
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.ws = await self.http.ws_connect(ws_url, protocols=("0.10.1",), headers=headers,
                                             heartbeat=None, max_msg_size=0, autoping=True)
        opened = await self.ws.receive(timeout=60)
        if not str(opened.data).startswith("0"):
            raise RuntimeError(f"unexpected engine.io open: {opened.data!r}")
        hashes, schema = self.boot
        auth = {"event": {"name": f"{ROOT_STATE}.hydrate_and_load",
                          "payload": {"hashes": hashes}, "router_data": self.router_data()},
                "state_schema": schema}
        await self.ws.send_str("40/_event," + json.dumps(auth))

    async def emit(self, handler: str, payload: dict[str, Any]) -> None:
        frame = ["event", {"name": handler, "payload": payload,
                           "router_data": self.router_data()}]
        await self.ws.send_str(EVENT_PREFIX + json.dumps(frame))

    async def frames(self) -> Any:
        """Yield (arrival time, decoded update) for each Reflex update; answer pings."""
        import aiohttp

        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.ERROR):
                    break
                continue
            now = time.perf_counter()
            data: str = msg.data
            self.frames_in += 1
            self.bytes_in += len(data)
            if data == "2":
                await self.ws.send_str("3")
                continue
            if data.startswith(EVENT_PREFIX):
                kind, update = json.loads(data[len(EVENT_PREFIX):])
                if kind == "event":
                    yield now, update
                elif kind == "state_mismatch":
                    self.mismatch = True
            elif data.startswith("44/_event"):  # connect refused
                raise RuntimeError(f"connect refused: {data[:200]}")

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.close()


def _live(update: dict[str, Any], suffix: str) -> dict[str, Any] | None:
    for key, value in (update.get("delta") or {}).items():
        if key.endswith(suffix):
            return dict(value)
    return None


class Visitor:
    def __init__(self, index: int, sock: Socket, token: str, tag_prefix: str) -> None:
        self.index = index
        self.sock = sock
        self.token = token
        self.tag_prefix = tag_prefix
        self.ready = asyncio.Event()
        self.connect_started = 0.0
        self.ready_at: float | None = None
        self.error = ""
        self.notices: list[str] = []
        self.sent: dict[str, Sent] = {}
        self.seq = 0
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.connect_started = time.perf_counter()
        try:
            await self.sock.connect()
        except Exception as exc:
            self.error = f"connect: {type(exc).__name__}: {exc}"[:200]
            self.ready.set()
            return
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for now, update in self.sock.frames():
                self._on_update(now, update)
        except Exception as exc:
            if not self.error:
                self.error = f"socket: {type(exc).__name__}: {exc}"[:200]
        finally:
            self.sock.closed_early = not self.sock.closing
            self.ready.set()

    def _on_update(self, now: float, update: dict[str, Any]) -> None:
        for event in update.get("events") or []:
            if event.get("name") == "_call_script":
                callback = str((event.get("payload") or {}).get("callback") or "")
                if ".start" in callback:  # boot asks the page for the token in its URL
                    asyncio.get_running_loop().create_task(
                        self.sock.emit(f"{WIDGET_STATE}.start", {"token": self.token}))
        delta = update.get("delta") or {}
        chat = delta.get(WIDGET_STATE)
        if chat:
            if chat.get("error_rx_state_"):
                self.error = "start: " + str(chat["error_rx_state_"])[:200]
                self.ready.set()
            if chat.get("ready_rx_state_") is True and self.ready_at is None:
                self.ready_at = now
                self.ready.set()
            if chat.get("notice_rx_state_"):
                self.notices.append(str(chat["notice_rx_state_"])[:200])
        live = _live(update, DIALOG_LIVE)
        if not live or not self.sent:
            return
        streaming = live.get("streaming_rx_state_")
        if streaming:
            found = TAG.match(streaming)
            if found and (s := self.sent.get(found.group(1))) and s.first_token is None:
                s.first_token = now
        for m in live.get("messages_rx_state_") or []:
            found = TAG.search(str(m.get("content", "")))
            if not found or not (s := self.sent.get(found.group(1))):
                continue
            if m.get("sender") == "ai" and s.complete is None:
                s.complete = now
                if s.first_token is None:
                    s.first_token = now
            elif m.get("sender") == "visitor" and s.echo is None:
                s.echo = now

    async def focus(self) -> None:
        await self.sock.emit(f"{WIDGET_STATE}.typing", {"active": True})

    async def send(self) -> None:
        self.seq += 1
        tag = f"{self.tag_prefix}v{self.index}m{self.seq}"
        text = f"{QUESTION} [b:{tag}]"
        client_id = uuid.uuid4().hex
        self.sent[tag] = Sent(tag, time.perf_counter())
        form = {"__reflex_form_data__": [["client_id", client_id], ["text", text],
                                         ["widget_input", text]]}
        await self.sock.emit(f"{WIDGET_STATE}.send", {"form": form})


class Operator:
    """An operator's console on /console: linked to the workspace inbox by its on_load."""

    def __init__(self, sock: Socket, workspace_id: int) -> None:
        self.sock = sock
        self.workspace_id = workspace_id
        self.ready = asyncio.Event()
        self.error = ""
        # dialog id -> [(arrival, last_message_id)] each time it grew
        self.history: dict[int, list[tuple[float, int]]] = {}
        self._last: dict[int, int] = {}
        self.inbox_deltas = 0
        self.tasks: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        try:
            await self.sock.connect()
        except Exception as exc:
            self.error = f"connect: {type(exc).__name__}: {exc}"[:200]
            self.ready.set()
            return
        self.tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._beat())]

    async def _beat(self) -> None:
        while True:  # the page's rx.moment ticks every 15 s
            await asyncio.sleep(15)
            await self.sock.emit(f"{CONSOLE_STATE}.heartbeat", {"_": time.ctime()})

    async def _read(self) -> None:
        try:
            async for now, update in self.sock.frames():
                inbox = _live(update, INBOX_LIVE)
                if inbox is None or "dialogs_rx_state_" not in inbox:
                    continue
                self.inbox_deltas += 1
                self.ready.set()
                for d in inbox["dialogs_rx_state_"]:
                    did, lmid = int(d["id"]), int(d.get("last_message_id") or 0)
                    if lmid > self._last.get(did, 0):
                        self._last[did] = lmid
                        self.history.setdefault(did, []).append((now, lmid))
        except Exception as exc:
            self.error = f"socket: {type(exc).__name__}: {exc}"[:200]
        finally:
            self.ready.set()

    def seen_at(self, dialog_id: int, message_id: int, after: float) -> float | None:
        for at, lmid in self.history.get(dialog_id, ()):
            if lmid >= message_id and at >= after:
                return at
        return None

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await self.sock.close()


# --------------------------------------------------------------------------- one round


@dataclass
class RoundConfig:
    visitors: int
    duration: float
    interval: float
    ramp: float
    drain: float
    cap: float
    label: str
    settle: float = 60.0


def _stats(values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    if not ms:
        return {"count": 0}
    return {"count": len(ms), "p50_ms": round(percentile(ms, 50), 1),
            "p95_ms": round(percentile(ms, 95), 1), "p99_ms": round(percentile(ms, 99), 1),
            "max_ms": round(max(ms), 1), "mean_ms": round(sum(ms) / len(ms), 1)}


async def run_round(app: App, tenants: list[Tenant], cfg: RoundConfig, meter: Meter,
                    boot: tuple[list[str], str], log_offset: int,
                    measured: bool = True) -> tuple[dict[str, Any], int]:
    import aiohttp

    n = cfg.visitors
    prefix = cfg.label
    round_started = time.monotonic()
    hard_stop = round_started + cfg.cap
    log(f"[{prefix}] {n} visitors: issuing tokens")
    tokens = [await visitor_token(tenants[i % len(tenants)].public_id) for i in range(n)]
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    http = aiohttp.ClientSession(connector=connector,
                                 timeout=aiohttp.ClientTimeout(total=None, connect=60))
    operators: list[Operator] = []
    visitors: list[Visitor] = []
    lag = Lag()
    try:
        for t in tenants:
            for sid in t.operator_sessions:
                op = Operator(Socket(http, app.url, "/console/", boot,
                                     cookie=f"replyx_session={sid}"), t.workspace_id)
                operators.append(op)
                await op.open()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(o.ready.wait() for o in operators)), 60)
        await asyncio.sleep(2)
        mem_before = meter.memory()
        cpu_before = meter.cpu()
        cpu_t0 = time.perf_counter()
        lag.start()

        # ---- visitors join over the ramp
        log(f"[{prefix}] connecting {n} visitors over {cfg.ramp:.0f} s")
        step = cfg.ramp / n if n else 0
        t0 = time.perf_counter()
        for i in range(n):
            t = tenants[i % len(tenants)]
            page = f"/widget/?w={t.public_id}#t={tokens[i]}"
            v = Visitor(i, Socket(http, app.url, page, boot), tokens[i], prefix)
            visitors.append(v)
            asyncio.get_running_loop().create_task(v.open())
            delay = t0 + (i + 1) * step - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        join_wait = min(hard_stop - time.monotonic(), max(60.0, cfg.ramp))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(v.ready.wait() for v in visitors)),
                                   max(1.0, join_wait))
        ready = [v for v in visitors if v.ready_at is not None and not v.error]
        join_s = time.perf_counter() - t0
        log(f"[{prefix}] {len(ready)}/{n} sessions ready after {join_s:.1f} s")
        for v in ready:
            await v.focus()
        await asyncio.sleep(3)
        mem_connected = meter.memory()

        # ---- conversation: every visitor sends every interval (x0.5..1.5), open loop
        send_start = time.perf_counter()
        send_end = send_start + cfg.duration
        errors_send: list[str] = []

        async def talk(v: Visitor) -> None:
            await asyncio.sleep(random.uniform(0, cfg.interval))
            while time.perf_counter() < send_end and time.monotonic() < hard_stop:
                if v.sock.closed_early:
                    return
                try:
                    await v.send()
                except Exception as exc:
                    errors_send.append(f"{type(exc).__name__}: {exc}"[:200])
                    return
                await asyncio.sleep(cfg.interval * random.uniform(0.5, 1.5))

        log(f"[{prefix}] sending for {cfg.duration:.0f} s")
        sampler = Sampler(meter.redis_url)
        sampler.start()
        talkers = [asyncio.create_task(talk(v)) for v in ready]
        progress_at = time.perf_counter() + 15
        while time.perf_counter() < send_end and time.monotonic() < hard_stop:
            await asyncio.sleep(1)
            if time.perf_counter() >= progress_at:
                progress_at += 15
                sent = sum(len(v.sent) for v in ready)
                done = sum(1 for v in ready for s in v.sent.values() if s.complete)
                log(f"[{prefix}]   {time.perf_counter() - send_start:.0f} s: sent {sent}, "
                    f"answered {done}")
        for task in talkers:
            task.cancel()
        await asyncio.gather(*talkers, return_exceptions=True)
        send_seconds = time.perf_counter() - send_start
        pools = await sampler.stop()
        mem_after = meter.memory()

        # ---- drain: wait for answers still on their way
        drain_end = min(hard_stop, time.monotonic() + cfg.drain)
        while time.monotonic() < drain_end:
            missing = sum(1 for v in ready for s in v.sent.values() if s.complete is None)
            if not missing:
                break
            await asyncio.sleep(0.5)  # poll: answers still streaming
        await asyncio.sleep(1)  # the inbox refresh follows the answer
        cpu_after = meter.cpu()
        window = time.perf_counter() - cpu_t0
        await lag.stop()
    finally:
        for v in visitors:
            await v.sock.close()
            if v.reader:
                v.reader.cancel()
        for o in operators:
            await o.close()
        await http.close()

    # ---- figures
    stored = await stored_messages(prefix)
    # Answers still owed may come late (a backlog) or never (the work was dropped): let
    # the app finish what it has queued, then ask PostgreSQL again.
    settle = await meter.quiet(cores=0.25, most=cfg.settle) if measured else 0.0
    late = await stored_messages(prefix) if measured else stored
    all_sent = [s for v in ready for s in v.sent.values()]
    first = [s.first_token - s.at for s in all_sent if s.first_token]
    complete = [s.complete - s.at for s in all_sent if s.complete]
    echo = [s.echo - s.at for s in all_sent if s.echo]
    inbox: list[float] = []
    inbox_missing = 0
    for s in all_sent:
        row = stored.get(s.tag)
        if not row or "visitor" not in row:
            continue
        for op in operators:
            if op.workspace_id != _workspace_of(tenants, s.tag, prefix):
                continue
            seen = op.seen_at(int(row["dialog"]), int(row["visitor"]), s.at)
            if seen is None:
                inbox_missing += 1
            else:
                inbox.append(seen - s.at)
    stored_visitor = sum(1 for s in all_sent if "visitor" in stored.get(s.tag, {}))
    stored_ai = sum(1 for s in all_sent if "ai" in stored.get(s.tag, {}))
    answered = sum(1 for s in all_sent if s.complete)
    lost = sum(1 for s in all_sent if "ai" in stored.get(s.tag, {}) and not s.complete)
    log_offset, problems = app_log_problems(app.log, log_offset)
    errors = [v.error for v in visitors if v.error] + errors_send
    cpu = {k: round(cpu_after[k] - cpu_before[k], 1) for k in cpu_before}
    # Whatever else ran on the machine meanwhile (the fake AI, other people's tests).
    cpu["other"] = round(cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"), 1)
    ok = len(ready)
    result = {
        "visitors": n,
        "label": prefix,
        "workspaces": len(tenants),
        "operators": len(operators),
        "sessions_ready": ok,
        "session_open": _stats([v.ready_at - v.connect_started for v in ready
                                if v.ready_at]),
        "join_seconds": round(join_s, 1),
        "send_seconds": round(send_seconds, 1),
        "messages_sent": len(all_sent),
        "offered_messages_per_second": round(ok / cfg.interval, 1),
        # answers seen by the end of the drain, per second of sending
        "achieved_answers_per_second": round(answered / max(send_seconds, 1e-9), 1),
        # steady state: answers that arrived while visitors were still sending
        "answers_per_second_while_sending": round(
            sum(1 for s in all_sent if s.complete and s.complete <= send_end)
            / max(send_seconds, 1e-9), 1),
        "first_token": _stats(first),
        "complete_answer": _stats(complete),
        "own_message_echo": _stats(echo),
        "operator_inbox": _stats(inbox),
        "completeness": {
            "answers_seen": answered,
            "answers_seen_ratio": round(answered / len(all_sent), 4) if all_sent else None,
            "first_token_seen": len(first),
            "inbox_updates_seen_ratio": (round(len(inbox) / (len(inbox) + inbox_missing), 4)
                                         if inbox or inbox_missing else None),
            "visitor_messages_stored": stored_visitor,
            "ai_answers_stored": stored_ai,
            "stored_but_not_seen": lost,
            "not_stored": len(all_sent) - stored_visitor,
            "settle_seconds": round(settle, 1),
            "visitor_messages_stored_after_settle": sum(
                1 for s in all_sent if "visitor" in late.get(s.tag, {})),
            "never_answered_after_settle": sum(
                1 for s in all_sent if "visitor" in late.get(s.tag, {})
                and "ai" not in late.get(s.tag, {})),
        },
        "errors": {
            "count": len(errors) + sum(1 for o in operators if o.error)
            + sum(1 for v in visitors if v.ready_at is None and not v.error),
            "sessions_not_ready": n - ok,
            "sample": (errors + [o.error for o in operators if o.error])[:10],
            "sockets_dropped": sum(1 for v in ready if v.sock.closed_early),
            "state_mismatch": sum(1 for v in visitors if v.sock.mismatch),
            "visitor_notices": sum(len(v.notices) for v in visitors),
            "notice_sample": sorted({x for v in visitors for x in v.notices})[:5],
            # "busy" refusals (admission control: not stored, send again) apart from the rest
            "visitor_notices_by_text": dict(collections.Counter(
                x for v in visitors for x in v.notices).most_common(5)),
            "app_log": problems,
        },
        "memory": {
            "web_rss_before_mb": round(mem_before["web_rss_bytes"] / 2**20, 1),
            "web_rss_connected_mb": round(mem_connected["web_rss_bytes"] / 2**20, 1),
            "web_rss_after_mb": round(mem_after["web_rss_bytes"] / 2**20, 1),
            "processes_connected": mem_connected["processes"],
            "web_rss_per_visitor_kb": round(
                (mem_connected["web_rss_bytes"] - mem_before["web_rss_bytes"]) / max(ok, 1)
                / 1024, 1),
            "web_uss_per_visitor_kb": round(
                (mem_connected["web_uss_bytes"] - mem_before["web_uss_bytes"]) / max(ok, 1)
                / 1024, 1),
            "web_rss_per_visitor_after_talk_kb": round(
                (mem_after["web_rss_bytes"] - mem_before["web_rss_bytes"]) / max(ok, 1)
                / 1024, 1),
            "valkey_per_visitor_kb": round(
                (mem_after["valkey_used_memory_bytes"]
                 - mem_before["valkey_used_memory_bytes"]) / max(ok, 1) / 1024, 1),
        },
        "cpu_seconds": cpu,
        "cpu_cores": {k: round(v / max(window, 1e-9), 2) for k, v in cpu.items()},
        # what one AI turn costs the web workers (the join and failed events included)
        "web_cpu_ms_per_stored_answer": round(1000 * cpu["web"] / max(stored_ai, 1)),
        "queues_while_sending": pools,
        "cpu_window_seconds": round(window, 1),
        "load_generator": {
            "loop_lag": _stats(lag.samples),
            "frames_in": sum(v.sock.frames_in for v in visitors)
            + sum(o.sock.frames_in for o in operators),
            "mb_in": round((sum(v.sock.bytes_in for v in visitors)
                            + sum(o.sock.bytes_in for o in operators)) / 2**20, 1),
            "operator_inbox_deltas": [o.inbox_deltas for o in operators],
        },
        "timeline": _timeline(all_sent, send_start) if measured else [],
    }
    return result, log_offset


def _workspace_of(tenants: list[Tenant], tag: str, prefix: str) -> int:
    index = int(tag[len(prefix) + 1:].split("m", 1)[0])
    return tenants[index % len(tenants)].workspace_id


def _timeline(sent: list[Sent], start: float, bucket: float = 5.0) -> list[dict[str, Any]]:
    """First-token latency per 5 s of send time: does it grow while the load stays?"""
    buckets: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    for s in sent:
        b = int((s.at - start) // bucket)
        counts[b] = counts.get(b, 0) + 1
        if s.first_token:
            buckets.setdefault(b, []).append((s.first_token - s.at) * 1000)
    return [{"t": b * bucket, "sent": counts[b], "seen": len(buckets.get(b, [])),
             "p50_ms": round(percentile(buckets[b], 50), 1) if buckets.get(b) else None,
             "p95_ms": round(percentile(buckets[b], 95), 1) if buckets.get(b) else None}
            for b in sorted(counts)]


# --------------------------------------------------------------------------- plot


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = results["rounds"]
    ns = [r["visitors"] for r in rounds]
    xs = list(range(len(ns)))  # one slot per N: 20 and 100 would overlap on a linear axis

    def labelled(ax: Any) -> None:
        ax.set_xticks(xs)
        ax.set_xticklabels([str(n) for n in ns])
        ax.set_xlabel("concurrent visitors (N)")

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    for ax, key, title in ((axes[0][0], "first_token", "send → first streamed token visible"),
                           (axes[0][1], "operator_inbox", "send → operator inbox update")):
        for q, style in (("p50_ms", "o-"), ("p95_ms", "s--"), ("p99_ms", "^:")):
            ys = [r[key].get(q) for r in rounds]
            ax.plot(xs, [y if y is not None else float("nan") for y in ys], style, label=q[:3])
        ax.set_yscale("log")
        ax.set_ylabel("ms (delivered messages only)")
        ax.set_title(title)
        labelled(ax)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    ax = axes[1][0]
    ratio = [100 * (r["completeness"]["answers_seen_ratio"] or 0) for r in rounds]
    inbox_ratio = [100 * (r["completeness"]["inbox_updates_seen_ratio"] or 0) for r in rounds]
    ax.bar([x - 0.18 for x in xs], ratio, width=0.36, label="answers seen / sent, %")
    ax.bar([x + 0.18 for x in xs], inbox_ratio, width=0.36, label="inbox updates seen, %")
    for x, r in zip(xs, rounds, strict=True):
        ax.annotate(f"{r['memory']['web_rss_per_visitor_kb']:.0f} KB\nRSS/visitor",
                    (x, 103), ha="center", fontsize=8)
    ax.set_ylim(0, 140)
    ax.set_ylabel("%")
    labelled(ax)
    ax2 = ax.twinx()
    ax2.plot(xs, [r["offered_messages_per_second"] for r in rounds], "k--",
             label="offered messages/s")
    ax2.plot(xs, [r["achieved_answers_per_second"] for r in rounds], "r-o",
             label="answers seen/s")
    ax2.set_yscale("log")
    ax2.set_ylabel("per second")
    ax.set_title("delivery and throughput")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper center", fontsize=7, ncol=2)
    ax = axes[1][1]
    for r in rounds:
        tl = r["timeline"]
        ax.plot([p["t"] for p in tl], [p["p95_ms"] if p["p95_ms"] is not None else float("nan")
                                       for p in tl], "-o", ms=3, label=f"N={r['visitors']}")
    ax.set_yscale("log")
    ax.set_xlabel("seconds into the send phase (by send time)")
    ax.set_ylabel("first-token p95 per 5 s, ms")
    ax.set_title("latency over the run")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    m = results["machine"]
    fig.suptitle(f"ReplyX widget load — {results['config']['web_workers']} web workers, "
                 f"{m['cores']} cores ({m['cpu']}), a message every "
                 f"{results['config']['interval']:g} s per visitor, instant AI stub",
                 fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------- main


async def bench(args: argparse.Namespace, st: Stack) -> dict[str, Any]:
    """One round per N, each on a freshly started app, an empty Valkey and a new tenant:
    a saturated round leaves a backlog of queued events that must not leak into the next.
    """
    rounds = []
    for ri, n in enumerate(args.visitors):
        label = f"r{ri}"
        with web_app(st, label) as app:
            boot = frontend_boot_fields()  # now, before another build may replace .web
            tenants = [await make_tenant(ri * 100 + w, st.ai_base_url, args.operators,
                                         ri == 0 and w == 0)
                       for w in range(args.workspaces)]
            meter = Meter(app.proc.pid, st.valkey_pid, st.redis_url)
            log(f"[{label}] warm-up: loads the embedding model in every worker (not measured)")
            warm, offset = await run_round(
                app, tenants, RoundConfig(visitors=args.warmup, duration=12, interval=2,
                                          ramp=2, drain=20, cap=90, label=f"w{ri}"),
                meter, boot, 0, measured=False)
            if not warm["completeness"]["answers_seen"]:
                raise RuntimeError(f"the warm-up got no answers: {json.dumps(warm)[:3000]}")
            await asyncio.sleep(args.pause)
            await meter.quiet()
            ramp = args.ramp if args.ramp is not None else min(30.0, max(5.0, n / 40))
            cfg = RoundConfig(visitors=n, duration=args.duration, interval=args.interval,
                              ramp=ramp, drain=args.drain, cap=args.max_round_seconds,
                              label=label)
            result, _ = await run_round(app, tenants, cfg, meter, boot, offset)
            result["app_start_seconds"] = round(app.start_seconds, 1)
            result["machine_busy_cores_before_start"] = app.machine_busy_cores_before
            result["warmup"] = {"messages_sent": warm["messages_sent"],
                                "answers_seen": warm["completeness"]["answers_seen"],
                                "first_token": warm["first_token"]}
        c = result["completeness"]
        log(f"[{label}] N={n}: first token p50/p95/p99 "
            f"{result['first_token'].get('p50_ms')}/{result['first_token'].get('p95_ms')}/"
            f"{result['first_token'].get('p99_ms')} ms, inbox p95 "
            f"{result['operator_inbox'].get('p95_ms')} ms, answers "
            f"{c['answers_seen']}/{result['messages_sent']}, errors "
            f"{result['errors']['count']}, RSS/visitor "
            f"{result['memory']['web_rss_per_visitor_kb']} KB, app log "
            f"{result['errors']['app_log']['counts']}")
        rounds.append(result)
    return {"rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve-openai", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--visitors", default="20,100,500,1000",
                        help="comma-separated N values, one round each; 20 is a reference "
                        "below saturation (default 20,100,500,1000)")
    parser.add_argument("--duration", type=float, default=60,
                        help="seconds of sending per round (default 60)")
    parser.add_argument("--interval", type=float, default=5,
                        help="mean seconds between one visitor's messages (default 5)")
    parser.add_argument("--ramp", type=float, default=None,
                        help="seconds over which visitors join (default N/40, 5..30)")
    parser.add_argument("--drain", type=float, default=30,
                        help="max seconds to wait for answers after sending (default 30)")
    parser.add_argument("--max-round-seconds", type=float, default=200,
                        help="hard cap on one round, joining included (default 200)")
    parser.add_argument("--pause", type=float, default=5,
                        help="idle seconds between the warm-up and the round (default 5)")
    parser.add_argument("--workspaces", type=int, default=1,
                        help="tenants the visitors are spread over (default 1)")
    parser.add_argument("--operators", type=int, default=2,
                        help="operator consoles per workspace (default 2)")
    parser.add_argument("--web-workers", type=int, default=2,
                        help="REPLYX_WEB_WORKERS of the app (default 2)")
    parser.add_argument("--warmup", type=int, default=10, help="visitors in the warm-up")
    parser.add_argument("--wait-for-tests", type=float, default=900,
                        help="max seconds to wait for a running pytest to finish")
    parser.add_argument("--wait-for-idle", type=float, default=300,
                        help="max seconds to wait, before each round, for the machine to "
                        "idle (< 0.5 busy cores); then it measures anyway (default 300)")
    parser.add_argument("--plot", type=Path, default=OUT / "widget_load.png")
    args = parser.parse_args()
    if args.serve_openai:
        serve_openai()
        return
    args.visitors = [int(x) for x in str(args.visitors).split(",") if x.strip()]
    command = " ".join([".venv/bin/python", "bench/widget_load.py", *sys.argv[1:]])
    log(f"command: {command}")
    started = time.monotonic()
    machine = machine_info()
    with stack(args.web_workers, args.wait_for_tests, args.wait_for_idle) as st:
        out = asyncio.run(bench(args, st))
    result = {
        "benchmark": "widget_load",
        "command": command,
        "machine": machine,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "config": {"web_workers": args.web_workers, "workspaces": args.workspaces,
                   "operators_per_workspace": args.operators, "duration": args.duration,
                   "interval": args.interval, "jitter": "x0.5..1.5, open loop",
                   "drain": args.drain, "max_round_seconds": args.max_round_seconds,
                   "ai": "tests/support/openai_server.py, instant, 9 streamed chunks",
                   "per_round": "fresh app, empty Valkey, new workspace, warm-up first"},
        **out,
        "total_seconds": round(time.monotonic() - started, 1),
    }
    plot(result, args.plot)
    log(f"plot: {args.plot}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
