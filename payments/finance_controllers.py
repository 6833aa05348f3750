"""Finance API (finance and admin only): summaries and chart data, reconciliation, mismatches, refunds,
settlements, the ledger check, and CSV/XLSX exports. Thin: each route calls a service and shapes its answer."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from core import clock
from core.auth import require_principal, roles_guard
from core.db import DbSession
from core.errors import Conflict, InvalidInput, NotFound
from core.jobs import enqueue
from payments import exports, reports, settlement
from payments.execute_refund import retry_refund
from payments.ledger import check_ledger
from payments.models import MISMATCH_KINDS, ReconMismatch
from payments.reconcile_day import RECONCILE_JOB, ensure_daily_job
from payments.schemas import (
    DaySummaryOut,
    LedgerCheckOut,
    MismatchOut,
    PayoutIn,
    ReconRunOut,
    RefundOut,
    ResolveIn,
    RunReconcileIn,
    StatementIn,
    StatementOut,
    SummaryOut,
    TermsIn,
    TermsOut,
)


def _actor(request: Request[Any, Any, Any]) -> str:
    p = require_principal(request)
    return f"{p.role}:{p.id}"


def _range(first: date | None, last: date | None) -> tuple[date, date]:
    default_first, default_last = reports.default_range()
    return first or default_first, last or default_last


def _mismatch_out(m: ReconMismatch) -> MismatchOut:
    return MismatchOut(
        m.id,
        m.bill_date,
        m.kind,
        m.key,
        m.status,
        m.bill_amount_fen,
        m.local_amount_fen,
        m.bill_status,
        m.local_status,
        m.detail,
        m.note,
        m.resolved_by,
        m.resolved_at,
    )


def _statement_out(s: Any) -> StatementOut:
    return StatementOut(
        s.id,
        s.store_id,
        s.period_start,
        s.period_end,
        s.status,
        s.sales_fen,
        s.delivery_income_fen,
        s.refunds_fen,
        s.coupon_cost_fen,
        s.commission_bp,
        s.commission_fen,
        s.net_payable_fen,
        s.confirmed_by,
        s.confirmed_at,
        s.paid_by,
        s.paid_at,
        s.payout_ref,
    )


class FinanceController(Controller):
    path = "/api/finance"
    tags = ["finance"]
    guards = [roles_guard("finance")]

    @get("/summary", summary="Daily GMV, WeChat receipts, refunds, fees and net, with reconciliation status")
    async def summary(
        self, db_session: DbSession, start: FromQuery[date | None] = None, end: FromQuery[date | None] = None
    ) -> SummaryOut:
        first, last = _range(start, end)
        days = await reports.daily_summary(db_session, first, last)
        return SummaryOut(days=[DaySummaryOut(**d) for d in days], totals=reports.totals(days))

    @get("/charts/daily", summary="Series for charts: one array per figure, aligned with `days`")
    async def chart(
        self, db_session: DbSession, start: FromQuery[date | None] = None, end: FromQuery[date | None] = None
    ) -> dict[str, list[Any]]:
        first, last = _range(start, end)
        days = await reports.daily_summary(db_session, first, last)
        keys = ("payments", "gmv_fen", "paid_fen", "refunded_fen", "fees_fen", "net_fen", "open_mismatches")
        return {"days": [d["day"].isoformat() for d in days], **{k: [d[k] for d in days] for k in keys}}

    @get("/reconciliation", summary="Reconciliation runs per day (latest first)")
    async def runs(
        self, db_session: DbSession, start: FromQuery[date | None] = None, end: FromQuery[date | None] = None
    ) -> list[ReconRunOut]:
        first, last = _range(start, end)
        return [
            ReconRunOut(
                r.id,
                r.bill_date,
                r.source,
                r.status,
                r.triggered_by,
                r.bill_rows,
                r.bill_paid_fen,
                r.bill_refund_fen,
                r.bill_fee_fen,
                r.local_paid_fen,
                r.local_refund_fen,
                r.mismatches,
                r.error,
                r.seconds,
                r.started_at,
                r.finished_at,
            )
            for r in await reports.recon_runs(db_session, first, last)
        ]

    @post("/reconciliation", status_code=202, summary="Reconcile a day now (runs in the worker)")
    async def run(
        self, request: Request[Any, Any, Any], data: JSONBody[RunReconcileIn], db_session: DbSession
    ) -> dict[str, Any]:
        if data.day > clock.now_shanghai().date():
            raise InvalidInput("that day has not happened yet")
        job_id = await enqueue(db_session, RECONCILE_JOB, {"day": data.day.isoformat(), "by": _actor(request)})
        await ensure_daily_job(db_session)
        return {"job_id": job_id, "day": data.day.isoformat(), "status": "queued"}

    @get("/mismatches", summary="The mismatch queue")
    async def list_mismatches(
        self,
        db_session: DbSession,
        day: FromQuery[date | None] = None,
        status: FromQuery[str | None] = "open",
        kind: FromQuery[str | None] = None,
        limit: FromQuery[int] = 200,
        offset: FromQuery[int] = 0,
    ) -> list[MismatchOut]:
        if kind and kind not in MISMATCH_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(MISMATCH_KINDS)}")
        items = await reports.mismatches(
            db_session, day=day, status=None if status == "all" else status, kind=kind, limit=limit, offset=offset
        )
        return [_mismatch_out(m) for m in items]

    @post("/mismatches/{mismatch_id:int}/resolve", status_code=200, summary="Resolve a mismatch with a note (kept)")
    async def resolve(
        self,
        request: Request[Any, Any, Any],
        mismatch_id: FromPath[int],
        data: JSONBody[ResolveIn],
        db_session: DbSession,
    ) -> MismatchOut:
        note = data.note.strip()
        if not 1 <= len(note) <= 2000:
            raise InvalidInput("write what was found and done (1–2000 characters)")
        m = await db_session.get(ReconMismatch, mismatch_id, with_for_update=True)
        if m is None:
            raise NotFound(f"mismatch {mismatch_id} does not exist")
        if m.status == "resolved":
            raise Conflict(f"mismatch {mismatch_id} was already resolved by {m.resolved_by}")
        now = clock.now()
        m.status, m.note, m.resolved_by, m.resolved_at, m.updated_at = "resolved", note, _actor(request), now, now
        await db_session.flush()
        return _mismatch_out(m)

    @get("/refunds", summary="Refunds, e.g. status=abnormal (the money could not reach the customer) or failed")
    async def list_refunds(
        self, db_session: DbSession, status: FromQuery[str | None] = None, limit: FromQuery[int] = 200
    ) -> list[RefundOut]:
        return [
            RefundOut(
                r.id,
                r.ref,
                r.out_refund_no,
                r.kind,
                r.payable_kind,
                r.payable_id,
                r.amount_fen,
                r.wechat_fen,
                r.stored_value_fen,
                r.status,
                r.reason,
                r.attempts,
                r.last_error,
                r.created_at,
                r.succeeded_at,
            )
            for r in await reports.refunds(db_session, status=status, limit=limit)
        ]

    @post("/refunds/{refund_id:int}/retry", status_code=200, summary="Send a failed refund again (same out_refund_no)")
    async def retry(
        self, request: Request[Any, Any, Any], refund_id: FromPath[int], db_session: DbSession
    ) -> RefundOut:
        r = await retry_refund(db_session, refund_id, _actor(request))
        return RefundOut(
            r.id,
            r.ref,
            r.out_refund_no,
            r.kind,
            r.payable_kind,
            r.payable_id,
            r.amount_fen,
            r.wechat_fen,
            r.stored_value_fen,
            r.status,
            r.reason,
            r.attempts,
            r.last_error,
            r.created_at,
            r.succeeded_at,
        )

    @get("/settlements", summary="Settlement statements")
    async def list_statements(
        self, db_session: DbSession, store_id: FromQuery[int | None] = None, status: FromQuery[str | None] = None
    ) -> list[StatementOut]:
        return [_statement_out(s) for s in await reports.statements(db_session, store_id=store_id, status=status)]

    @post("/settlements", status_code=200, summary="Draft (or redraft) a store's statement for a period")
    async def draft(
        self, request: Request[Any, Any, Any], data: JSONBody[StatementIn], db_session: DbSession
    ) -> StatementOut:
        st = await settlement.generate_statement(
            db_session, data.store_id, data.period_start, data.period_end, _actor(request)
        )
        return _statement_out(st)

    @post("/settlements/{statement_id:int}/confirm", status_code=200, summary="Confirm a draft statement")
    async def confirm(
        self, request: Request[Any, Any, Any], statement_id: FromPath[int], db_session: DbSession
    ) -> StatementOut:
        return _statement_out(await settlement.confirm_statement(db_session, statement_id, _actor(request)))

    @post("/settlements/{statement_id:int}/pay", status_code=200, summary="Record the payout of a confirmed statement")
    async def pay(
        self,
        request: Request[Any, Any, Any],
        statement_id: FromPath[int],
        data: JSONBody[PayoutIn],
        db_session: DbSession,
    ) -> StatementOut:
        return _statement_out(
            await settlement.pay_statement(db_session, statement_id, data.payout_ref, _actor(request))
        )

    @get("/settlement-terms/{store_id:int}", summary="A store's commission rate")
    async def terms(self, store_id: FromPath[int], db_session: DbSession) -> TermsOut:
        return TermsOut(store_id, await settlement.commission_bp(db_session, store_id))

    @put("/settlement-terms/{store_id:int}", summary="Set a store's commission rate (basis points)")
    async def set_terms(
        self, request: Request[Any, Any, Any], store_id: FromPath[int], data: JSONBody[TermsIn], db_session: DbSession
    ) -> TermsOut:
        return TermsOut(store_id, await settlement.set_terms(db_session, store_id, data.commission_bp, _actor(request)))

    @get("/ledger/check", summary="Σdebits = Σcredits per transaction and overall; postings match payments")
    async def ledger_check(self, db_session: DbSession) -> LedgerCheckOut:
        return LedgerCheckOut(**(await check_ledger(db_session)).as_dict())  # type: ignore[arg-type]

    @get("/exports/{report:str}", summary="CSV or XLSX export with Chinese headers (fmt=csv|xlsx)")
    async def export(
        self,
        db_session: DbSession,
        report: FromPath[str],
        fmt: FromQuery[str] = "csv",
        start: FromQuery[date | None] = None,
        end: FromQuery[date | None] = None,
        status: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        if report not in exports.HEADERS:
            raise NotFound(f"no export {report!r}; there are {', '.join(exports.HEADERS)}")
        if fmt not in ("csv", "xlsx"):
            raise InvalidInput("fmt must be csv or xlsx")
        first, last = _range(start, end)
        rows: list[list[Any]]
        if report == "summary":
            rows = exports.summary_rows(await reports.daily_summary(db_session, first, last))
        elif report == "mismatches":
            items = [
                m
                for m in await reports.mismatches(db_session, status=status, limit=5000)
                if first <= m.bill_date <= last
            ]
            rows = exports.mismatch_rows(items)
        elif report == "refunds":
            rows = exports.refund_rows(await reports.refunds(db_session, status=status, limit=5000))
        elif report == "payments":
            rows = exports.payment_rows(await reports.payments_between(db_session, first, last))
        else:
            rows = exports.settlement_rows(await reports.statements(db_session, status=status))
        name = f"{report}-{first.isoformat()}-{last.isoformat()}.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "csv":
            return Response(
                exports.to_csv(exports.HEADERS[report], rows), media_type="text/csv; charset=utf-8", headers=headers
            )
        return Response(
            exports.to_xlsx(report, exports.HEADERS[report], rows),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers=headers,
        )


FINANCE_ROUTES: list[Any] = [FinanceController]
