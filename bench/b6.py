"""B6 reconciliation: a generated 1,000,000-line trade bill with planted mismatches against matching payments,
reconciled by `o2o reconcile --bill-file` in its own process: seconds, that process's peak RSS, planted vs found."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import DATA_DIR, ROOT, log
from core.clock import SHANGHAI
from core.money import fen_to_yuan
from wechat.pay_bills import SUMMARY_HEADER, TRADE_BILL_HEADER

ROWS = int(os.environ.get("B6_ROWS", "1000000"))
PLANT = 10  # of each kind, and one fee difference
REFUND_EVERY = 50  # one refund line per this many payments
BILL_DAY = date(2026, 1, 15)
MCHID = "1900000109"
APPID = "wx5andb0x0000demo"
KINDS = ("missing_locally", "missing_in_bill", "amount_differs", "status_differs", "refund_differs", "fee_totals")


def fee(fen: int) -> int:
    return (fen * 60 + 5000) // 10000


def amount(n: int) -> int:
    return 100 + (n * 7919) % 50000


def trade_no(n: int) -> str:
    return f"PB{n:024d}"


def txn_id(n: int) -> str:
    return f"4200{n:024d}"


def refund_no(n: int) -> str:
    return f"RB{n:024d}"


def write_bill(path: Path) -> dict[str, int]:
    """Lines for payments 1..ROWS (refund lines among them), with mismatches planted; summary consistent."""
    rnd = random.Random(6)
    plan = list(range(1, ROWS + 1))
    # Planted where no refund line is (one mismatch each, nothing else disturbed).
    picks = rnd.sample([n for n in plan if n % REFUND_EVERY], PLANT * 4 + 1)
    amount_off = set(picks[:PLANT])
    not_in_bill = set(picks[PLANT : 2 * PLANT])  # local payments WeChat does not have
    status_off = set(picks[2 * PLANT : 3 * PLANT])  # local intents left unpaid
    refund_off = set(picks[3 * PLANT : 4 * PLANT])  # refund lines with one fen more than ours
    fee_off = picks[4 * PLANT]
    start = datetime.combine(BILL_DAY, datetime.min.time(), tzinfo=SHANGHAI)
    totals = {"count": 0, "settle": 0, "refund": 0, "fee": 0, "order": 0, "requested": 0}
    header = ",".join(TRADE_BILL_HEADER)

    def line(n: int, when: datetime, *, refund: bool) -> str:
        fen = amount(n)
        if refund:
            back = fen // 2 + (1 if n in refund_off else 0)
            f = -fee(back)
            totals["refund"] += back
            totals["requested"] += back
            vals = [
                txn_id(n),
                trade_no(n),
                "REFUND",
                "0.00",
                f"50300{n:024d}",
                refund_no(n),
                fen_to_yuan(back),
                "ORIGINAL",
                "SUCCESS",
                fen_to_yuan(f),
                "0.00",
                fen_to_yuan(back),
            ]
        else:
            billed = fen + (1 if n in amount_off else 0)
            f = fee(billed) + (1 if n == fee_off else 0)
            totals["settle"] += billed
            totals["order"] += billed
            vals = [
                txn_id(n),
                trade_no(n),
                "SUCCESS",
                fen_to_yuan(billed),
                "0",
                "0",
                "0.00",
                "",
                "",
                fen_to_yuan(f),
                fen_to_yuan(billed),
                "0.00",
            ]
        totals["count"] += 1
        totals["fee"] += f
        t, o, state, settle, rid, rno, rfen, rtype, rstatus, fee_text, order, requested = vals
        cells = [
            when.strftime("%Y-%m-%d %H:%M:%S"),
            APPID,
            MCHID,
            "0",
            "",
            t,
            o,
            "oBENCH",
            "JSAPI",
            state,
            "OTHERS",
            "CNY",
            settle,
            "0.00",
            rid,
            rno,
            rfen,
            "0.00",
            rtype,
            rstatus,
            "商品",
            "",
            fee_text,
            "0.60%",
            order,
            requested,
            "",
        ]
        return ",".join("`" + c for c in cells)

    step = 86_000 / (ROWS + PLANT)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(header + "\r\n")
        buf = []
        for n in plan:
            when = start + timedelta(seconds=int(n * step))
            if n not in not_in_bill:
                buf.append(line(n, when, refund=False))
            if n % REFUND_EVERY == 0 or n in refund_off:
                buf.append(line(n, when, refund=True))
            if len(buf) >= 10_000:
                fh.write("\r\n".join(buf) + "\r\n")
                buf.clear()
        for k in range(PLANT):  # paid at WeChat, unknown here
            buf.append(line(ROWS + 1 + k, start + timedelta(seconds=86_100 + k), refund=False))
        fh.write("\r\n".join(buf) + "\r\n")
        fh.write(",".join(SUMMARY_HEADER) + "\r\n")
        summary = [
            str(totals["count"]),
            fen_to_yuan(totals["settle"]),
            fen_to_yuan(totals["refund"]),
            "0.00",
            fen_to_yuan(totals["fee"]),
            fen_to_yuan(totals["order"]),
            fen_to_yuan(totals["requested"]),
        ]
        fh.write(",".join("`" + s for s in summary) + "\r\n")
    return {"lines": totals["count"], "status_off": len(status_off), "planted": PLANT * 5 + 1, "_status": status_off}  # type: ignore[dict-item]


async def seed_payments(status_off: set[int]) -> None:
    """ROWS paid intents (one per bill payment) and the refunds, straight in SQL; the planted unpaid ones stay open."""
    from sqlalchemy import text

    from core.db import dispose_engine, unit_of_work

    start = datetime.combine(BILL_DAY, datetime.min.time(), tzinfo=SHANGHAI)
    step = 86_000 / (ROWS + PLANT)
    async with unit_of_work() as s:
        await s.execute(text("DELETE FROM payment_refunds WHERE payable_kind = 'bench'"))
        await s.execute(text("DELETE FROM payment_intents WHERE payable_kind = 'bench'"))
        await s.execute(text("DELETE FROM recon_mismatches WHERE bill_date = :d"), {"d": BILL_DAY})
    async with unit_of_work() as s:
        await s.execute(text("SET LOCAL synchronous_commit = off"))
        await s.execute(
            text(
                """
                INSERT INTO payment_intents (out_trade_no, payable_kind, payable_id, channel, amount_fen, description,
                    appid, mchid, status, time_expire, transaction_id, paid_fen, paid_at, paid_via, credit_outcome,
                    checks, created_at, updated_at)
                SELECT 'PB' || lpad(n::text, 24, '0'), 'bench', n, 'JSAPI', 100 + (n * 7919) % 50000, '商品',
                       :appid, :mchid,
                       CASE WHEN n = ANY(:off) THEN 'closed' ELSE 'paid' END,
                       CAST(:start AS timestamptz) + interval '1 day',
                       CASE WHEN n = ANY(:off) THEN NULL ELSE '4200' || lpad(n::text, 24, '0') END,
                       CASE WHEN n = ANY(:off) THEN NULL ELSE 100 + (n * 7919) % 50000 END,
                       CASE WHEN n = ANY(:off) THEN NULL
                            ELSE CAST(:start AS timestamptz) + make_interval(secs => floor(n * :step)) END,
                       'notify', CASE WHEN n = ANY(:off) THEN NULL ELSE 'credited' END, 0, :start, :start
                FROM generate_series(CAST(1 AS bigint), CAST(:rows AS bigint)) n
                """
            ),
            {"appid": APPID, "mchid": MCHID, "off": sorted(status_off), "start": start, "step": step, "rows": ROWS},
        )
        await s.execute(
            text(
                """
                INSERT INTO payment_refunds (ref, out_refund_no, kind, payable_kind, payable_id, intent_id, amount_fen,
                    wechat_fen, stored_value_fen, reason, status, attempts, requested_by, succeeded_at, finished_at,
                    created_at, updated_at)
                SELECT 'bench:' || i.payable_id, 'RB' || lpad(i.payable_id::text, 24, '0'), 'order', 'bench',
                       i.payable_id, i.id, i.paid_fen / 2, i.paid_fen / 2, 0, 'bench', 'success', 1, 'bench',
                       i.paid_at, i.paid_at, i.paid_at, i.paid_at
                FROM payment_intents i
                WHERE i.payable_kind = 'bench' AND i.status = 'paid' AND i.payable_id % :every = 0
                """
            ),
            {"every": REFUND_EVERY},
        )
        await s.execute(text("ANALYZE payment_intents"))
        await s.execute(text("ANALYZE payment_refunds"))
    await dispose_engine()


def reconcile(path: Path) -> tuple[dict[str, Any], float, float]:
    """`o2o reconcile` in its own process; (result, wall seconds, peak RSS MB of that process)."""
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    out_path, err_path = path.with_suffix(".out"), path.with_suffix(".err")
    started = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "core.cli",
                "reconcile",
                "--date",
                BILL_DAY.isoformat(),
                "--bill-file",
                str(path),
                "--sha1",
                _sha1(path),
                "--json",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage: ru_maxrss is its peak RSS (KB)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"reconcile failed: {err_path.read_text()[-2000:]}")
    result = json.loads(out_path.read_text().strip().splitlines()[-1])
    out_path.unlink()
    err_path.unlink()
    return result, wall, usage.ru_maxrss / 1024


def _sha1(path: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def run() -> dict[str, Any]:
    path = DATA_DIR / "b6-tradebill.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"B6: writing a {ROWS:,}-payment trade bill with planted mismatches ...")
    t = time.perf_counter()
    plan = write_bill(path)
    log(
        f"B6: {plan['lines']:,} lines, {path.stat().st_size / 2**20:.0f} MB in {time.perf_counter() - t:.1f}s; seeding payments ..."
    )
    t = time.perf_counter()
    asyncio.run(seed_payments(plan["_status"]))  # type: ignore[arg-type]
    log(f"B6: {ROWS:,} payments seeded in {time.perf_counter() - t:.1f}s; reconciling ...")
    result, wall, rss_mb = reconcile(path)
    found = result["found"]
    figures = {
        "rows": result["rows"],
        "seconds": round(result["seconds"], 2),
        "peak_rss_mb": round(rss_mb, 1),
        "planted": plan["planted"],
        "found": sum(found.values()),
        "found_by_kind": {k: found.get(k, 0) for k in KINDS},
        "process_seconds": round(wall, 2),
        "phases": result.get("phases", {}),
        "status": result["status"],
        "machine_load_1m": round(os.getloadavg()[0], 2),
    }
    path.unlink(missing_ok=True)
    asyncio.run(remove_payments())
    return figures


async def remove_payments() -> None:
    """The generated payments never went through the ledger: take them out so the bench database stays coherent."""
    from sqlalchemy import text

    from core.db import dispose_engine, unit_of_work

    async with unit_of_work() as s:
        await s.execute(text("DELETE FROM payment_refunds WHERE payable_kind = 'bench'"))
        await s.execute(text("DELETE FROM payment_intents WHERE payable_kind = 'bench'"))
    await dispose_engine()
