"""Shared set-up for the benchmarks: a private embedded PostgreSQL, migrated, then removed.

Each benchmark gets its own server in a fresh temporary directory (never the app's
`.replyx-data` or the test suite's `.replyx-test`), so a run cannot disturb, or be
disturbed by, anything else on the machine. `DATABASE_URL` and `REPLYX_DATA_DIR` are
exported and the settings cache reset before `backend_services.core.db` is used, exactly as
the launcher and the tests do.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def log(message: str) -> None:
    """Progress goes to stderr: stdout carries only the JSON result."""
    print(message, file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def bench_database(name: str = "replyx_bench") -> Iterator[str]:
    """Start a throw-away embedded PostgreSQL, create and migrate `name`, yield its URL."""
    from backend_services.core import migrations
    from backend_services.core.embedded_servers import EmbeddedPostgres
    from backend_services.core.settings import reset_settings_cache

    # A plain `kill` must still stop the server and remove its directory: turn SIGTERM
    # into an exception so the cleanup below runs.
    signal.signal(signal.SIGTERM, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="replyx-bench-"))
    # The server runs as an unprivileged user when we are root: it must reach its dir.
    tmp.chmod(0o755)
    pg = EmbeddedPostgres(tmp / "postgres", stop_on_exit=True)
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "REPLYX_DATA_DIR")}
    try:
        log(f"starting embedded PostgreSQL in {tmp}")
        pg.start()
        url = pg.ensure_database(name, recreate=True)
        os.environ["DATABASE_URL"] = url
        os.environ["REPLYX_DATA_DIR"] = str(tmp / "data")
        reset_settings_cache()
        migrations.upgrade(url)
        yield url
    finally:
        with contextlib.suppress(Exception):
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings_cache()


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        mem_gb = round(int(first.split()[1]) / 1024 / 1024, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def sync_dsn(url: str) -> str:
    """A libpq/psycopg connection string for the embedded server's URL."""
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
