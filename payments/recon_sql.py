"""The reconciliation's SQL: the staging table, the matching rules (one statement each), the queue upsert."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from payments.order_payables import ORDER_LEG_SQL

EXPECTED_FEE_BP = 60
WORK_MEM = "128MB"  # the merchant's contractual WeChat Pay rate (0.60 %), per line, rounded half up

CREATE_STAGING = (
    """
CREATE TEMP TABLE recon_bill_lines (
    line_no bigint NOT NULL, trade_time text NOT NULL, appid text NOT NULL, mchid text NOT NULL,
    transaction_id text NOT NULL, out_trade_no text NOT NULL, trade_state text NOT NULL,
    settle_fen bigint NOT NULL, order_fen bigint NOT NULL, refund_id text NOT NULL, out_refund_no text NOT NULL,
    refund_fen bigint NOT NULL, refund_status text NOT NULL, fee_fen bigint NOT NULL, is_refund boolean NOT NULL
) ON COMMIT DROP
""",
    """
CREATE TEMP TABLE recon_found (
    kind text NOT NULL, key text NOT NULL, bill_amount_fen bigint, local_amount_fen bigint,
    bill_status text, local_status text, detail text NOT NULL
) ON COMMIT DROP
""",
)

INDEX_STAGING = (
    "CREATE INDEX ON recon_bill_lines (out_trade_no) WHERE NOT is_refund",
    "CREATE INDEX ON recon_bill_lines (out_refund_no) WHERE is_refund",
    "ANALYZE recon_bill_lines",
)

# Bill payment lines against our intents: unknown here, not paid here, other amount, other transaction.
PAYMENTS_IN_BILL = """
INSERT INTO recon_found
SELECT CASE WHEN i.id IS NULL THEN 'missing_locally'
            WHEN i.status <> 'paid' THEN 'status_differs'
            WHEN i.paid_fen <> b.order_fen THEN 'amount_differs'
            ELSE 'status_differs' END,
       b.out_trade_no, b.order_fen, coalesce(i.paid_fen, i.amount_fen), b.trade_state, i.status,
       CASE WHEN i.id IS NULL THEN 'paid at WeChat (' || b.transaction_id || '), no such payment here'
            WHEN i.status <> 'paid' THEN 'paid at WeChat, ' || i.status || ' here'
            WHEN i.paid_fen <> b.order_fen THEN 'amounts differ'
            ELSE 'transaction ' || b.transaction_id || ' at WeChat, ' || i.transaction_id || ' here' END
FROM recon_bill_lines b
LEFT JOIN payment_intents i ON i.out_trade_no = b.out_trade_no
WHERE NOT b.is_refund
  AND (i.id IS NULL OR i.status <> 'paid' OR i.paid_fen <> b.order_fen
       OR i.transaction_id IS DISTINCT FROM b.transaction_id)
"""

# Our payments of the day that the bill does not have.
PAYMENTS_NOT_IN_BILL = """
INSERT INTO recon_found
SELECT 'missing_in_bill', i.out_trade_no, NULL, i.paid_fen, NULL, i.status,
       'paid here at ' || to_char(i.paid_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI:SS') || ', not in the bill'
FROM payment_intents i
WHERE i.status = 'paid' AND i.paid_at >= :start AND i.paid_at < :end
  AND NOT EXISTS (SELECT 1 FROM recon_bill_lines b WHERE NOT b.is_refund AND b.out_trade_no = i.out_trade_no)
"""

REFUNDS_IN_BILL = """
INSERT INTO recon_found
SELECT 'refund_differs', b.out_refund_no, b.refund_fen, r.wechat_fen, b.refund_status, r.status,
       CASE WHEN r.id IS NULL THEN 'refunded at WeChat, no such refund here'
            WHEN r.status <> 'success' THEN 'refunded at WeChat, ' || r.status || ' here'
            ELSE 'refund amounts differ' END
FROM recon_bill_lines b
LEFT JOIN payment_refunds r ON r.out_refund_no = b.out_refund_no
WHERE b.is_refund AND (r.id IS NULL OR r.status <> 'success' OR r.wechat_fen <> b.refund_fen)
"""

REFUNDS_NOT_IN_BILL = """
INSERT INTO recon_found
SELECT 'refund_differs', r.out_refund_no, NULL, r.wechat_fen, NULL, r.status, 'refunded here, not in the bill'
FROM payment_refunds r
WHERE r.status = 'success' AND r.wechat_fen > 0 AND r.succeeded_at >= :start AND r.succeeded_at < :end
  AND NOT EXISTS (SELECT 1 FROM recon_bill_lines b WHERE b.is_refund AND b.out_refund_no = r.out_refund_no)
"""

# Paid but not refunded although no order took the money (late or duplicate payments).
UNALLOCATED_NOT_REFUNDED = """
INSERT INTO recon_found
SELECT 'status_differs', i.out_trade_no, NULL, i.paid_fen, NULL, 'paid/' || i.credit_outcome,
       'paid ' || i.credit_outcome || ', but no refund gives it back'
FROM payment_intents i
WHERE i.status = 'paid' AND i.paid_at >= :start AND i.paid_at < :end AND i.credit_outcome IN ('late', 'duplicate')
  AND coalesce((SELECT sum(r.wechat_fen) FROM payment_refunds r
                WHERE r.intent_id = i.id AND r.status IN ('pending', 'processing', 'success')), 0) < i.paid_fen
"""

FEE_TOTALS = f"""
INSERT INTO recon_found
SELECT 'fee_totals', 'fees', f.bill_fee, f.expected, NULL, NULL,
       'fees in the bill differ from {EXPECTED_FEE_BP / 100:.2f} % of the amounts'
FROM (
    SELECT coalesce(sum(fee_fen), 0) AS bill_fee,
           coalesce(sum(CASE WHEN is_refund THEN -((refund_fen * {EXPECTED_FEE_BP} + 5000) / 10000)
                             ELSE (order_fen * {EXPECTED_FEE_BP} + 5000) / 10000 END), 0) AS expected
    FROM recon_bill_lines
) f
WHERE f.bill_fee <> f.expected
"""

UPSERT = """
WITH found AS (
    SELECT DISTINCT ON (kind, key) kind, key, bill_amount_fen, local_amount_fen, bill_status, local_status, detail
    FROM recon_found ORDER BY kind, key
)
INSERT INTO recon_mismatches (bill_date, kind, key, status, bill_amount_fen, local_amount_fen, bill_status,
                              local_status, detail, first_run_id, last_run_id, created_at, updated_at)
SELECT :day, kind, left(key, 64), 'open', bill_amount_fen, local_amount_fen, left(bill_status, 24),
       left(local_status, 24), left(detail, 300), :run, :run, :now, :now
FROM found
ON CONFLICT (bill_date, kind, key) DO UPDATE SET
    last_run_id = EXCLUDED.last_run_id, bill_amount_fen = EXCLUDED.bill_amount_fen,
    local_amount_fen = EXCLUDED.local_amount_fen, bill_status = EXCLUDED.bill_status,
    local_status = EXCLUDED.local_status, detail = EXCLUDED.detail, updated_at = EXCLUDED.updated_at,
    status = CASE WHEN recon_mismatches.status = 'cleared' THEN 'open' ELSE recon_mismatches.status END
"""

CLEAR_GONE = """
UPDATE recon_mismatches SET status = 'cleared', updated_at = :now
WHERE bill_date = :day AND status = 'open' AND last_run_id <> :run
"""

COUNT_FOUND = "SELECT kind, count(DISTINCT key) FROM recon_found GROUP BY kind"

FINISH_RUN = """
UPDATE recon_runs SET status = 'done', bill_sha1 = :sha1, bill_rows = :rows, payment_rows = :pay_rows,
    refund_rows = :refund_rows, bill_paid_fen = :paid, bill_refund_fen = :refunded, bill_fee_fen = :fee,
    local_paid_fen = :local_paid, local_refund_fen = :local_refunded, mismatches = :mismatches, seconds = :sec,
    finished_at = :now
WHERE id = :id
"""

FEES_POSTED = """
SELECT coalesce(sum(e.debit_fen - e.credit_fen), 0) FROM ledger_entries e
JOIN ledger_transactions t ON t.id = e.transaction_id
WHERE t.kind = 'fees' AND t.business_date = :d AND e.account = 'fees'
"""

LOCAL_TOTALS = """
SELECT (SELECT coalesce(sum(paid_fen), 0) FROM payment_intents
        WHERE status = 'paid' AND paid_at >= :start AND paid_at < :end),
       (SELECT coalesce(sum(wechat_fen), 0) FROM payment_refunds
        WHERE status = 'success' AND succeeded_at >= :start AND succeeded_at < :end)
"""

RULES = (
    PAYMENTS_IN_BILL,
    PAYMENTS_NOT_IN_BILL,
    REFUNDS_IN_BILL,
    REFUNDS_NOT_IN_BILL,
    UNALLOCATED_NOT_REFUNDED,
    ORDER_LEG_SQL,
    FEE_TOTALS,
)


async def find_mismatches(
    session: AsyncSession, day: date, start: datetime, end: datetime, run_id: int
) -> dict[str, int]:
    """Run every rule into recon_found, upsert the queue, clear what is gone; returns counts by kind."""
    window = {"start": start, "end": end}
    for rule in RULES:
        await session.execute(text(rule), window if ":start" in rule else {})
    now = clock.now()
    await session.execute(text(UPSERT), {"day": day, "run": run_id, "now": now})
    await session.execute(text(CLEAR_GONE), {"day": day, "run": run_id, "now": now})
    rows = await session.execute(text(COUNT_FOUND))
    return {str(kind): int(n) for kind, n in rows}


async def local_totals(session: AsyncSession, start: datetime, end: datetime) -> tuple[int, int]:
    row = (await session.execute(text(LOCAL_TOTALS), {"start": start, "end": end})).one()
    return int(row[0]), int(row[1])
