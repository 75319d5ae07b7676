"""The web tier (`replyx web`): build the frontend only when its inputs changed, then serve
the app and the built frontend on one port with granian, respawning a worker that dies.

Why not `reflex run --env prod` (Reflex 0.10.1, granian 2.8.9):
- `reflex/reflex.py` `_run_prod` compiles and runs `build.setup_frontend_prod` on every
  start, so each restart of a crashed web process rebuilt the frontend;
- `reflex/utils/exec.py` `run_granian_backend_prod` builds granian's `Server` with only
  `workers=`; `respawn_failed_workers` defaults to False (granian/server/common.py
  `_serve_loop`: "if not self.respawn_failed_workers: break"), and GRANIAN_* variables are
  read only by granian's own CLI, so one SIGKILLed worker shut the whole server down.

The build is `reflex export --frontend-only --no-zip` (the same compile + setup_frontend +
build steps); a stamp next to the build records the digest of everything it was built
from (our Python packages, assets, rxconfig, Reflex versions, the frontend-relevant config).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from backend_services.core.settings import ROOT

STAMP = "replyx-build.json"
_SKIP_DIRS = {"tests", "bench", "docs", "alembic", "node_modules", "__pycache__"}
# Config keys that only the backend reads: a new Redis/database URL needs no new build.
_BACKEND_ONLY = ("redis", "db_url", "_non_default_attributes", "backend_host", "bun_path")


def web_dir() -> Path:
    # Imported here: start-up path: granian and Reflex's server load only in the web process.
    from reflex.utils import prerequisites

    path = prerequisites.get_web_dir()
    return path if path.is_absolute() else ROOT / path


def _source_files() -> list[Path]:
    files: list[Path] = [ROOT / "rxconfig.py"]
    for top in sorted(ROOT.iterdir()):
        if top.name.startswith(".") or top.name in _SKIP_DIRS or not top.is_dir():
            continue
        if top.name == "assets":
            files += sorted(p for p in top.rglob("*") if p.is_file())
        elif (top / "__init__.py").exists():
            # .po: the dashboard's texts are compiled into the pages as their English
            # fallbacks (components/i18n.py).
            files += sorted(p for p in top.rglob("*") if p.suffix in (".py", ".po")
                            and not (_SKIP_DIRS & set(p.relative_to(ROOT).parts)))
    return files


def build_digest() -> str:
    # Imported here: start-up path: granian and Reflex's server load only in the web process.
    from reflex_base.config import get_config

    h = hashlib.sha256()
    for f in _source_files():
        h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    versions = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
                      if (d.metadata["Name"] or "").lower().startswith("reflex"))
    config = {k: v for k, v in json.loads(get_config().json()).items()
              if not any(b in k for b in _BACKEND_ONLY)}
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("REFLEX_", "VITE_")) and "REDIS" not in k and "DB_URL" not in k}
    h.update(json.dumps([versions, config, sorted(env.items())], sort_keys=True).encode())
    return h.hexdigest()


def build_is_current(digest: str) -> bool:
    wdir = web_dir()
    try:
        stamp = json.loads((wdir / STAMP).read_text())
    except (OSError, ValueError):
        return False
    return bool(stamp.get("digest") == digest and (wdir / "build" / "client").is_dir())


def ensure_build() -> None:
    digest = build_digest()
    if build_is_current(digest):
        print("[replyx] the frontend build is current; not rebuilding", flush=True)
        return
    print("[replyx] building the frontend (its sources or settings changed)", flush=True)
    (web_dir() / STAMP).unlink(missing_ok=True)
    code = subprocess.call(
        [sys.executable, "-m", "reflex", "export", "--frontend-only", "--no-zip",
         "--loglevel", "warning"], cwd=ROOT)
    if code != 0:
        raise SystemExit(code)
    (web_dir() / STAMP).write_text(json.dumps({"digest": digest}))


def serve(host: str, port: int, workers: int, kill_timeout: int) -> None:
    """Reflex's `run_granian_backend_prod` (0.10.1), plus the compiled frontend mounted on
    the same port and failed workers respawned instead of the server shutting down."""
    # Imported here: start-up path: granian and Reflex's server load only in the web process.
    import multiprocessing

    from granian.constants import Interfaces, RuntimeModes
    from granian.log import LogLevels
    from granian.server import Server
    from reflex.utils import exec as rx_exec
    from reflex_base import constants
    from reflex_base.environment import environment

    environment.REFLEX_ENV_MODE.set(constants.Env.PROD)
    environment.REFLEX_SKIP_COMPILE.set(True)  # the build above compiled the pages
    environment.REFLEX_MOUNT_FRONTEND_COMPILED_APP.set(True)
    if (start_method := rx_exec._backend_start_method()) is not None:
        multiprocessing.set_start_method(start_method, force=True)
        if start_method == "fork" and not rx_exec._preload_for_fork(None):
            multiprocessing.set_start_method("spawn", force=True)
    print(f"[replyx] web serving at http://{host}:{port}/ with {workers} workers", flush=True)
    Server(
        target=rx_exec.get_app_instance_from_file(),
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        # granian's default for ASGI is the multi-threaded runtime, whose shutdown with open
        # websockets sometimes panics a worker ("Cannot drop pointer into Python heap",
        # emmett-framework/granian#799, #884) before its owed answers are handed on.
        runtime_mode=RuntimeModes.st,
        log_level=LogLevels(os.getenv("GRANIAN_LOG_LEVEL", "warning")),
        log_dictconfig=rx_exec._granian_log_dictconfig(),
        workers=workers,
        respawn_failed_workers=True,
        respawn_interval=float(os.getenv("GRANIAN_RESPAWN_INTERVAL", "0.5")),
        # A stopping worker first finishes the answers it owes (answer_drain_seconds).
        workers_kill_timeout=kill_timeout,
    ).serve()


def main() -> None:
    # Imported here: start-up path: granian and Reflex's server load only in the web process.
    from backend_services.core.settings import get_settings

    settings = get_settings()
    os.chdir(ROOT)
    ensure_build()
    serve(settings.host, settings.port, int(os.getenv("GRANIAN_WORKERS", "1")),
          kill_timeout=int(settings.answer_drain_seconds) + 10)


if __name__ == "__main__":
    main()
