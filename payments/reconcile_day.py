"""Three-way reconciliation of one business day: WeChat's trade bill ↔ our payments and refunds ↔ the orders.

The bill is streamed into a temporary table with binary COPY (parsed in a thread, a batch at a time)
inside one transaction; PostgreSQL then does the matching with a few set-based statements, and the
mismatch queue is upserted per (day, kind, key), so rerunning a day is idempotent: what is found
again keeps its status and note, what is no longer found is marked cleared. A bill with a wrong hash,
a broken line or a summary that does not add up is refused and nothing of it is imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.clock import SHANGHAI
from core.db import unit_of_work
from core.jobs import enqueue
from core.settings import get_settings
from payments import ledger, recon_sql
from payments.gateway import pay_client
from payments.payables import Line
from payments.trade_bill_file import BATCH, COLUMNS, BillReader, BillRefused, BillStats
from wechat.pay import BillError, WeChatPayError

log = structlog.get_logger(__name__)

RECONCILE_JOB = "payments.reconcile_day"
DAILY_JOB = "payments.daily_reconcile"
DAILY_AT = dtime(10, 30)  # Asia/Shanghai; WeChat's bills are ready from 10:00 the next day


@dataclass
class ReconResult:
    run_id: int
    bill_date: date
    status: str
    rows: int = 0
    found: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    sha1: str | None = None
    phases: dict[str, float] = field(default_factory=dict)  # where the time went

    @property
    def mismatches(self) -> int:
        return sum(self.found.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "bill_date": self.bill_date.isoformat(),
            "status": self.status,
            "rows": self.rows,
            "mismatches": self.mismatches,
            "found": self.found,
            "error": self.error,
            "seconds": round(self.seconds, 2),
            "sha1": self.sha1,
            "phases": {k: round(v, 2) for k, v in self.phases.items()},
        }


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, dtime(0), tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def bills_dir() -> Path:
    path = get_settings().data_dir / "bills"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def download_bill(day: date) -> tuple[Path | None, str | None]:
    """Fetch the day's ALL bill (gzip) from WeChat, check its SHA1, keep a copy; (None, None) when there is none."""
    client = await pay_client()
    try:
        descriptor = await client.trade_bill(day, gzip=True)
    except WeChatPayError as exc:
        if exc.code == "NO_STATEMENT_EXIST" and day < clock.now_shanghai().date():
            return None, None  # no trade that day: an empty bill
        raise
    try:
        data = await client.download_bill(descriptor)
    except BillError as exc:
        raise BillRefused(str(exc)) from None
    path = bills_dir() / f"tradebill-{day.isoformat()}.csv"
    await asyncio.to_thread(path.write_bytes, data)
    return path, descriptor.hash_value


async def _records(reader: BillReader) -> AsyncIterator[tuple[Any, ...]]:
    """Parse in a worker thread, one batch ahead of the COPY, so the event loop stays free."""
    batches: Iterator[list[tuple[Any, ...]]] = reader.batches(BATCH)

    def take() -> list[tuple[Any, ...]] | None:
        return next(batches, None)

    pending = asyncio.ensure_future(asyncio.to_thread(take))
    try:
        while True:
            batch = await pending
            if batch is None:
                return
            pending = asyncio.ensure_future(asyncio.to_thread(take))
            for record in batch:
                yield record
    finally:
        if not pending.done():
            with contextlib.suppress(Exception):
                await pending


async def load_bill(session: AsyncSession, reader: BillReader | None) -> BillStats:
    """Create and fill the transaction's staging table (dropped at commit); empty when there is no bill."""
    for statement in recon_sql.CREATE_STAGING:
        await session.execute(text(statement))
    if reader is None:
        return BillStats()
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table("recon_bill_lines", records=_records(reader), columns=list(COLUMNS))
    for statement in recon_sql.INDEX_STAGING:
        await session.execute(text(statement))
    return reader.stats


async def _start_run(day: date, source: str, triggered_by: str) -> int:
    async with unit_of_work() as session:
        run_id = await session.scalar(
            text(
                "INSERT INTO recon_runs (bill_date, source, status, triggered_by, started_at, bill_rows, payment_rows, "
                "refund_rows, bill_paid_fen, bill_refund_fen, bill_fee_fen, local_paid_fen, local_refund_fen, "
                "mismatches) VALUES (:d, :s, 'running', :by, :now, 0, 0, 0, 0, 0, 0, 0, 0, 0) RETURNING id"
            ),
            {"d": day, "s": source, "by": triggered_by[:64], "now": clock.now()},
        )
    return int(run_id)


async def _end_run(run_id: int, status: str, error: str, seconds: float) -> None:
    async with unit_of_work() as session:
        await session.execute(
            text("UPDATE recon_runs SET status = :st, error = :e, seconds = :sec, finished_at = :now WHERE id = :id"),
            {"st": status, "e": error[:4000], "sec": seconds, "now": clock.now(), "id": run_id},
        )


async def reconcile_day(
    day: date,
    *,
    bill_file: Path | None = None,
    expected_sha1: str | None = None,
    triggered_by: str = "system",
) -> ReconResult:
    """Reconcile `day` (Asia/Shanghai) against WeChat's bill, or against a bill file downloaded by hand."""
    started = time.perf_counter()
    run_id = await _start_run(day, "file" if bill_file else "api", triggered_by)
    result = ReconResult(run_id, day, "running")
    path: Path | None
    try:
        if bill_file is not None:
            path, sha1 = bill_file, expected_sha1
        else:
            path, sha1 = await download_bill(day)
            result.phases["download"] = time.perf_counter() - started
        reader = BillReader(path, mchid=get_settings().wechatpay_mchid, expected_sha1=sha1) if path else None
        async with unit_of_work() as session:
            # One big batch: let PostgreSQL hash a day's lines in memory instead of spilling to disk.
            await session.execute(text(f"SET LOCAL work_mem = '{recon_sql.WORK_MEM}'"))
            mark = time.perf_counter()
            stats = await load_bill(session, reader)
            result.phases["parse_and_copy"] = time.perf_counter() - mark
            mark = time.perf_counter()
            start, end = day_bounds(day)
            found = await recon_sql.find_mismatches(session, day, start, end, run_id)
            local = await recon_sql.local_totals(session, start, end)
            await _post_fees(session, day, stats.fee_fen, run_id)
            result.phases["match"] = time.perf_counter() - mark
            result.seconds = time.perf_counter() - started
            await session.execute(
                text(recon_sql.FINISH_RUN),
                {
                    "id": run_id,
                    "sha1": stats.sha1 or None,
                    "rows": stats.rows,
                    "pay_rows": stats.payment_rows,
                    "refund_rows": stats.refund_rows,
                    "paid": stats.order_fen,
                    "refunded": stats.refund_fen,
                    "fee": stats.fee_fen,
                    "local_paid": local[0],
                    "local_refunded": local[1],
                    "mismatches": sum(found.values()),
                    "sec": result.seconds,
                    "now": clock.now(),
                },
            )
        result.status, result.rows, result.found, result.sha1 = "done", stats.rows, found, stats.sha1 or None
    except BillRefused as exc:
        result.status, result.error = "refused", str(exc)
    except Exception as exc:
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        result.seconds = time.perf_counter() - started
        await _end_run(run_id, "failed", result.error, result.seconds)
        log.exception("reconcile_failed", bill_date=day.isoformat(), run_id=run_id)
        raise
    result.seconds = time.perf_counter() - started
    if result.status == "refused":
        await _end_run(run_id, "refused", result.error or "", result.seconds)
        log.error("bill_refused", bill_date=day.isoformat(), run_id=run_id, error=result.error)
    else:
        log.info(
            "reconciled",
            bill_date=day.isoformat(),
            run_id=run_id,
            rows=result.rows,
            found=result.found,
            seconds=round(result.seconds, 2),
        )
    return result


async def _post_fees(session: AsyncSession, day: date, bill_fee: int, run_id: int) -> None:
    """WeChat's fees for the day as the bill states them; a rerun posts only a difference (append-only)."""
    posted = await session.scalar(text(recon_sql.FEES_POSTED), {"d": day})
    delta = bill_fee - int(posted or 0)
    if delta == 0:
        return
    lines = (
        [Line(ledger.FEES, debit_fen=delta), Line(ledger.WECHAT_CLEARING, credit_fen=delta)]
        if delta > 0
        else [Line(ledger.WECHAT_CLEARING, debit_fen=-delta), Line(ledger.FEES, credit_fen=-delta)]
    )
    _, end = day_bounds(day)
    await ledger.post(
        session,
        ref=f"fees:{day.isoformat()}:{run_id}",
        kind="fees",
        lines=lines,
        occurred_at=end - timedelta(seconds=1),
        memo=f"WeChat Pay fees {day.isoformat()} (bill)",
    )


# --- jobs -----------------------------------------------------------------------------------------


def next_daily_run(now: datetime | None = None) -> datetime:
    local = (now or clock.now()).astimezone(SHANGHAI)
    at = datetime.combine(local.date(), DAILY_AT, tzinfo=SHANGHAI)
    return at if local < at else at + timedelta(days=1)


async def ensure_daily_job(session: AsyncSession) -> None:
    """The next 10:30 run exists (idempotent: one job per day by its dedupe key)."""
    at = next_daily_run()
    day = at.date() - timedelta(days=1)
    await enqueue(session, DAILY_JOB, {"day": day.isoformat()}, run_at=at, dedupe_key=f"reconcile:daily:{day}")


async def daily_reconcile(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Job at 10:30 Asia/Shanghai: reconcile the previous day, then schedule tomorrow's run."""
    day = date.fromisoformat(str(payload["day"]))
    await ensure_daily_job(session)
    result = await reconcile_day(day, triggered_by="daily job")
    if result.status == "refused":
        raise RuntimeError(f"the bill of {day} was refused: {result.error}")  # retried; finance sees the run


async def reconcile_job(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Job: reconcile a day on demand (finance console)."""
    await reconcile_day(date.fromisoformat(str(payload["day"])), triggered_by=str(payload.get("by") or "finance"))
