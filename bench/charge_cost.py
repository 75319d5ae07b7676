"""What charging adds to an AI turn: the price sheet read, the balance lock, the
idempotency check, the balance update and the ledger row, inside the transaction that
stores the answer (as `turns.stream_ai_reply` does), against a private embedded
PostgreSQL. Also the hard-stop check made before a turn starts (`charges.may_answer`).

Prints JSON: the median and p95 milliseconds of a transaction with and without the
charge, their difference, and of `may_answer`.

    .venv/bin/python bench/charge_cost.py > bench/out/charge_cost.json
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

from _benchdb import bench_database, log, machine_info

ROUNDS = 2_000


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered) * 1000, 3),
            "p95": round(ordered[int(len(ordered) * 0.95)] * 1000, 3)}


async def _run() -> dict[str, Any]:
    import sqlalchemy as sa

    from backend_services.billing import charges, ledger
    from backend_services.billing.ledger import Kind
    from backend_services.core.db import session_scope
    from backend_services.identity.workspaces import create_workspace
    from backend_services.models import Tariff

    async with session_scope() as session:
        workspace_id = await create_workspace(session, name="bench")
        session.add(Tariff(currency="USD", answer_flat_minor=1, token_markup_percent=150,
                           page_minor=0, widget_message_minor=0, telegram_message_minor=0,
                           welcome_bonus_minor=0, low_balance_minor=0,
                           effective_from=sa.func.now()))
    async with session_scope() as session:
        await ledger.post(session, workspace_id, 10**9, Kind.ADJUSTMENT, "bench-credit")
    usage = charges.AnswerUsage("llm", 1_234_567, "USD", "gpt-x", 1000, 200)
    plain: list[float] = []
    charged: list[float] = []
    checks: list[float] = []
    for i in range(ROUNDS):
        start = time.perf_counter()
        async with session_scope() as session:
            await session.exec(sa.select(sa.literal(1)))  # type: ignore[call-overload]
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        async with session_scope() as session:
            await session.exec(sa.select(sa.literal(1)))  # type: ignore[call-overload]
            await charges.charge_answer(session, workspace_id, message_id=0, dialog_id=None,
                                        channel_kind="widget", usage=usage,
                                        test_key=f"bench:{i}")
        charged.append(time.perf_counter() - start)
        start = time.perf_counter()
        await charges.may_answer(workspace_id)
        checks.append(time.perf_counter() - start)
    base, with_charge = _ms(plain), _ms(charged)
    return {
        "benchmark": "charge_cost", "rounds": ROUNDS, "machine": machine_info(),
        "transaction_ms": base, "transaction_with_charge_ms": with_charge,
        "added_by_charge_ms": {k: round(with_charge[k] - base[k], 3) for k in base},
        "may_answer_ms": _ms(checks),
    }


def main() -> None:
    with bench_database("replyx_bench_charges"):
        log(f"timing {ROUNDS} transactions with and without a charge")
        print(json.dumps(asyncio.run(_run()), indent=2))


if __name__ == "__main__":
    main()
