"""The ledger refuses edits and unbalanced postings; `o2o ledger check` and `o2o reconcile` as operators run them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import clock
from core.db import unit_of_work
from payments import ledger
from payments.payables import Line
from tests.integration.orders.factories import World
from tests.integration.payments.conftest import eventually, order_status, place, sandbox_pay, scalar, start

ROOT = Path(__file__).resolve().parents[3]


async def o2o(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "core.cli",
        *args,
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_the_ledger_is_append_only_and_balanced(clean: None) -> None:
    async with unit_of_work() as s:
        await ledger.post(s, ref="t:1", kind="test", lines=[Line("a", debit_fen=5), Line("b", credit_fen=5)])
        assert (
            await ledger.post(s, ref="t:1", kind="test", lines=[Line("a", debit_fen=5), Line("b", credit_fen=5)])
            is None
        )
    with pytest.raises(DBAPIError, match="append-only"):
        async with unit_of_work() as s:
            await s.execute(text("UPDATE ledger_entries SET debit_fen = 6 WHERE debit_fen = 5"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with unit_of_work() as s:
            await s.execute(text("DELETE FROM ledger_transactions"))
    with pytest.raises(DBAPIError, match="unbalanced"):
        async with unit_of_work() as s:  # bypassing post(): the database still refuses it at commit
            tx = await s.scalar(
                text(
                    "INSERT INTO ledger_transactions (ref, kind, business_date, occurred_at, memo) "
                    "VALUES ('t:2', 'test', current_date, now(), '') RETURNING id"
                )
            )
            await s.execute(
                text(
                    "INSERT INTO ledger_entries (transaction_id, account, debit_fen, credit_fen) VALUES (:t, 'a', 7, 0)"
                ),
                {"t": tx},
            )
    assert await scalar("SELECT count(*) FROM ledger_entries") == 2


async def test_o2o_ledger_check_and_reconcile(http: httpx.AsyncClient, shop_world: World, tmp_path: Path) -> None:
    p = await place(shop_world)
    intent = await start(p.order_id)
    await sandbox_pay(http, intent.out_trade_no)

    async def paid() -> bool:
        return await order_status(p.order_id) == "paid"

    await eventually(paid, what="the notify")
    code, out, err = await o2o("ledger", "check", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and report["debit_fen"] == report["credit_fen"] == intent.amount_fen

    today = clock.now_shanghai().date().isoformat()
    bill = tmp_path / "bill.csv"
    bill.write_bytes((await http.get("/sandbox/api/pay/bills/today")).content)
    code, out, err = await o2o("reconcile", "--date", today, "--bill-file", str(bill), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["status"], result["rows"], result["mismatches"]) == ("done", 1, 0)
    code, out, err = await o2o("reconcile", "--date", today, "--bill-file", str(bill), "--sha1", "0" * 40)
    assert code == 1 and "refused" in err and "SHA1" in out + err
