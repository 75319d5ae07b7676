"""`replyx` command: run | web | migrate | fleet | jobs | create-admin | analytics-rebuild |
backup | restore | test."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

from backend_services.core.settings import ROOT, ConfigError, get_settings, validate_for_production


def _check_config() -> None:
    try:
        validate_for_production(get_settings())
    except ConfigError as exc:
        print(f"[replyx] {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def cmd_run(_: argparse.Namespace) -> int:
    _check_config()
    # Imported here: start-up path: each command loads only its own process.
    from replyx_app.launcher import run_all

    return run_all()


def cmd_web(_: argparse.Namespace) -> int:
    _check_config()
    # Imported here: start-up path: each command loads only its own process.
    from replyx_app.launcher import run_web_only

    return run_web_only()


def cmd_migrate(_: argparse.Namespace) -> int:
    _check_config()
    # Imported here: start-up path: each command loads only its own process.
    from backend_services.core import file_store, migrations

    migrations.upgrade()
    print(f"[replyx] database at revision {migrations.head_revision()}")
    moved = asyncio.run(file_store.import_local_uploads_at_start())
    if moved:
        print(f"[replyx] moved {moved} uploaded files from this host's disk into the "
              f"{get_settings().file_store} file store")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    _check_config()
    # Imported here: start-up path: each command loads only its own process.
    from replyx_app.backup_commands import run_backup

    return run_backup(Path(args.output) if args.output else None)


def cmd_restore(args: argparse.Namespace) -> int:
    _check_config()
    # Imported here: start-up path: each command loads only its own process.
    from replyx_app.backup_commands import run_restore

    return run_restore(Path(args.archive), force=args.force,
                       accept_other_key=args.accept_other_key)


def cmd_fleet(_: argparse.Namespace) -> int:
    _check_config()
    # Imported here: start-up path: each command loads only its own process.
    from bot_fleet.supervisor import run

    run()
    return 0


def cmd_jobs(_: argparse.Namespace) -> int:
    _check_config()
    # Imported here: start-up path: each command loads only its own process.
    from replyx_app.jobs_worker import run

    run()
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    _check_config()
    # Imported here: start-up path: each command loads only its own process.
    from replyx_app.admin_account import create_platform_admin

    asyncio.run(create_platform_admin(args.email, args.password, args.name))
    print(f"[replyx] {args.email} is a platform administrator")
    return 0


def cmd_analytics_rebuild(_: argparse.Namespace) -> int:
    """Recompute the analytics roll-ups from the conversation and billing tables (after a
    restore, or when they are wrong); the jobs process embeds the questions as usual."""
    _check_config()
    # Imported here: start-up path: each command loads only its own process.
    from backend_services.analytics import rollup
    from backend_services.core.db import dispose_engine

    async def rebuild() -> rollup.Refreshed:
        try:
            return await rollup.refresh(from_scratch=True)
        finally:
            await dispose_engine()

    done = asyncio.run(rebuild())
    print(f"[replyx] analytics rebuilt: {done.dialogs} conversations")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Lint, type-check, then the whole pytest suite (real PostgreSQL, Valkey, Chromium)."""
    py = sys.executable
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    steps = [
        ("ruff", [py, "-m", "ruff", "check", "."]),
        ("mypy", [py, "-m", "mypy"]),
    ]
    for name, argv in steps:
        print(f"[replyx] {name}", flush=True)
        code = subprocess.call(argv, cwd=ROOT, env=env)
        if code != 0:
            print(f"[replyx] {name} failed", flush=True)
            return code
    return subprocess.call([py, "-m", "pytest", *args.pytest_args], cwd=ROOT, env=env)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="replyx", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="everything on one machine (embedded DB/Redis when unset)")
    sub.add_parser("web", help="the web app only (Reflex + API)")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("fleet", help="the Telegram bot fleet supervisor")
    sub.add_parser("jobs", help="the background job worker")
    p = sub.add_parser("create-admin", help="create or reset a platform administrator")
    p.add_argument("--email", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--name", default="Administrator")
    sub.add_parser("analytics-rebuild", help="recompute the analytics roll-ups from scratch")
    b = sub.add_parser("backup", help="the database and uploaded files in one archive")
    b.add_argument("--output", help="the archive to write (default: "
                                    "replyx-backup-<UTC time>.tar here)")
    r = sub.add_parser("restore", help="restore an archive made by `replyx backup`")
    r.add_argument("archive")
    r.add_argument("--force", action="store_true",
                   help="replace everything in a database that is not empty")
    r.add_argument("--accept-other-key", action="store_true",
                   help="restore although the encryption key differs (secrets are lost)")
    t = sub.add_parser("test", help="lint, type-check and run the whole test suite")
    t.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args, extra = parser.parse_known_args(argv)
    if args.command == "test":
        args.pytest_args = [*extra, *args.pytest_args]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    handler = {
        "run": cmd_run,
        "web": cmd_web,
        "migrate": cmd_migrate,
        "backup": cmd_backup,
        "restore": cmd_restore,
        "fleet": cmd_fleet,
        "jobs": cmd_jobs,
        "create-admin": cmd_create_admin,
        "analytics-rebuild": cmd_analytics_rebuild,
        "test": cmd_test,
    }[args.command]
    raise SystemExit(handler(args))


if __name__ == "__main__":
    main()
