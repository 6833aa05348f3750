"""The finance console (/finance): per-day reconciliation status, the mismatch queue with resolution notes,
the daily summary with charts (GMV, refunds, fees; SLA % by store), settlements per store and downloads.
Finance and admin only. Running a reconciliation, resolving a mismatch and drafting a statement call the
finance API (payments/finance_controllers.py) from staff.js."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from litestar import Response, get
from litestar.params import FromQuery
from sqlalchemy import select

from core import clock
from core.auth import current_principal
from core.db import DbSession
from delivery.sla_report import sla_by_store
from payments import exports, reports
from payments.reconcile_day import day_bounds
from shop.stores.models import Store
from web.render import Req, render
from web.svg_charts import bar_chart, line_chart

FINANCE_ROLES = ("finance", "admin")
QUEUE_PAGE = 50
RANGES = {7: "近 7 天", 30: "近 30 天", 90: "近 90 天"}


@get("/finance", include_in_schema=False)
async def finance_console(
    request: Req,
    db_session: DbSession,
    days: FromQuery[int] = 30,
    status: FromQuery[str] = "open",
    page: FromQuery[int] = 1,
) -> Response[Any]:
    p = current_principal(request)
    if p is None or not p.is_user or p.role not in FINANCE_ROLES:
        return render("staff_login.html", wrong_role=p is not None, console="财务对账台", who="财务")
    days = days if days in RANGES else 30
    status = status if status in ("open", "resolved", "all") else "open"
    page = max(1, min(page, 10_000))
    first, last = reports.default_range(days)
    summary = await reports.daily_summary(db_session, first, last)
    totals = reports.totals(summary)
    runs = await reports.recon_runs(db_session, first, last)
    latest: dict[date, Any] = {}
    for r in runs:  # newest first: keep each day's latest run
        latest.setdefault(r.bill_date, r)
    queue = await reports.mismatches(
        db_session,
        status=None if status == "all" else status,
        limit=QUEUE_PAGE + 1,
        offset=(page - 1) * QUEUE_PAGE,
    )
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    sla = await sla_by_store(db_session, start, end, clock.now())
    labels = [d["day"].strftime("%m-%d") for d in summary]
    money_chart = line_chart(
        labels,
        {
            "成交 GMV": [d["gmv_fen"] for d in summary],
            "退款": [d["refunded_fen"] for d in summary],
            "手续费": [d["fees_fen"] for d in summary],
        },
        title="每日成交、退款、手续费",
    )
    if not any(d["gmv_fen"] or d["refunded_fen"] or d["fees_fen"] or d["payments"] for d in summary):
        money_chart = count_chart = ""  # the template says there is nothing to draw
    else:
        count_chart = line_chart(
            labels, {"支付笔数": [d["payments"] for d in summary]}, money=False, title="每日支付笔数"
        )
    sla_chart = bar_chart([(s.store_name, s.percent) for s in sla], title="各门店急送准时率") if sla else ""
    statements = await reports.statements(db_session)
    troubled = [
        r for status_ in ("failed", "abnormal") for r in await reports.refunds(db_session, status=status_, limit=100)
    ]
    store_names = dict((await db_session.execute(select(Store.id, Store.name).order_by(Store.id).limit(2000))).all())
    today = clock.now_shanghai().date()
    return render(
        "finance.html",
        range_days=days,
        ranges=RANGES,
        first=first,
        last=last,
        days=list(reversed(summary)),
        runs=latest,
        totals=totals,
        mismatches=queue[:QUEUE_PAGE],
        more=len(queue) > QUEUE_PAGE,
        page=page,
        status=status,
        kind_names=exports.KIND_NAMES,
        status_names=exports.STATUS_NAMES,
        reports=list(exports.HEADERS),
        money_chart=money_chart,
        count_chart=count_chart,
        sla=sla,
        sla_chart=sla_chart,
        statements=statements,
        troubled=troubled,
        store_names=store_names,
        today=today,
        month_start=today.replace(day=1),
        yesterday=today - timedelta(days=1),
    )


ROUTES = [finance_console]
