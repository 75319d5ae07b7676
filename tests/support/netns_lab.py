"""Run one async scenario inside a private network: a laboratory for SSRF tests.

An SSRF defence can only be tested end to end with a *public* address the test can
reach, and a DNS server the system resolver really asks. Neither exists on a test
machine, so `run_in_lab` starts a child in fresh user, network and mount namespaces
(`unshare -rnm`, no privileges needed): its loopback interface also carries the global
address PUBLIC, /etc/resolv.conf points at 127.0.0.1 (where the scenario runs
tests/support/dns_server.py) and /etc/hosts only knows localhost. Nothing outside the
child sees any of it, and the child cannot reach the outside network.

The scenario is `module:function`, an async function returning a JSON-able dict of what
it observed; the calling test asserts on that dict.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
PUBLIC = "93.184.216.34"  # a global unicast address; inside the lab it is ours


def run_in_lab(scenario: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        resolv = Path(tmp) / "resolv.conf"
        hosts = Path(tmp) / "hosts"
        resolv.write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
        hosts.write_text("127.0.0.1 localhost\n::1 localhost\n")
        script = " && ".join([
            "ip link set lo up",
            f"ip addr add {PUBLIC}/32 dev lo",
            f"mount --bind {shlex.quote(str(resolv))} /etc/resolv.conf",
            f"mount --bind {shlex.quote(str(hosts))} /etc/hosts",
            f"exec {shlex.quote(sys.executable)} -m tests.support.netns_lab "
            f"{shlex.quote(scenario)}",
        ])
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("REPLYX_")}
        child_env.update(env or {})
        proc = subprocess.run(
            ["unshare", "-rnm", "sh", "-c", script], cwd=ROOT, env=child_env,
            capture_output=True, text=True, timeout=120, check=False,
        )
    if proc.returncode != 0:
        raise AssertionError(f"lab scenario {scenario} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _main(scenario: str) -> None:
    module, _, name = scenario.partition(":")
    func = getattr(importlib.import_module(module), name)
    print(json.dumps(asyncio.run(func())))


if __name__ == "__main__":
    _main(sys.argv[1])
