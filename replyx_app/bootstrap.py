"""Self-installing entry point: `python3 -m replyx_app run` / `python3 -m replyx_app test`.

Standard library only, because it runs under the system interpreter before anything is
installed. It creates `.venv`, installs the project when `pyproject.toml` changed, fetches
bun from the npm registry (Reflex's own bun download needs the open internet), and then
re-executes itself inside the virtualenv where the real CLI lives.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
TOOLS = ROOT / ".tools"
BUN_VERSION = "1.4.5"
STAMP = VENV / ".replyx-installed"


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _say(msg: str) -> None:
    print(f"[replyx] {msg}", flush=True)


def _pyproject_digest() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv() -> None:
    """Create the virtualenv and install the project (with test extras) when needed."""
    if not _venv_python().exists():
        _say(f"creating virtualenv in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = _pyproject_digest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    _say("installing Python packages (first run or pyproject.toml changed)")
    py = str(_venv_python())
    subprocess.check_call([py, "-m", "pip", "install", "-q", "--upgrade", "pip"], cwd=ROOT)
    subprocess.check_call([py, "-m", "pip", "install", "-q", "-e", ".[dev]"], cwd=ROOT)
    STAMP.write_text(digest)


def bun_dir() -> Path:
    return TOOLS / "node_modules" / ".bin"


def ensure_bun() -> None:
    """Install bun from the npm registry into .tools (Reflex uses it with REFLEX_USE_SYSTEM_BUN)."""
    if (bun_dir() / "bun").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is required to install bun for the Reflex frontend build")
    _say(f"installing bun {BUN_VERSION} from the npm registry")
    TOOLS.mkdir(exist_ok=True)
    subprocess.check_call(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(TOOLS), f"bun@{BUN_VERSION}"],
        cwd=TOOLS,
    )


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium; install it with apt when it is missing."""
    if Path("/usr/bin/chromium").exists():
        return
    _say("installing Chromium with apt (needed by the browser tests)")
    prefix: list[str] = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.check_call([*prefix, "apt-get", "update", "-qq"], env=env)
    subprocess.check_call([*prefix, "apt-get", "install", "-y", "-qq", "chromium"], env=env)


def main(argv: list[str]) -> None:
    if not _in_venv():
        ensure_venv()
        os.execv(str(_venv_python()), [str(_venv_python()), "-m", "replyx_app", *argv])
    ensure_venv()  # the stamp check is cheap; keeps an edited pyproject honest
    ensure_bun()
    os.environ["PATH"] = f"{bun_dir()}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("REFLEX_USE_SYSTEM_BUN", "1")
    if argv[:1] == ["test"]:
        ensure_chromium()
    # Imported here: start-up path: the CLI loads once the virtualenv exists.
    from replyx_app.cli import main as cli_main

    cli_main(argv)
