"""Sandbox trade bills: a business day's payments and refunds as WeChat's CSV, behind download tokens.

Payment lines carry the order amounts (应结订单金额/订单金额) in the bill of the day they were paid;
refund lines carry the refund amounts (退款金额/申请退款金额, order amounts 0.00) in the bill of the
day the refund succeeded. The fee is 0.60 % rounded half up to the fen, given back pro rata on refunds.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.clock import SHANGHAI
from wechat.pay_bills import TradeBillRow, bill_digest, gzip_bill, render_trade_bill
from wechat.sandbox.pay_common import PayApiError
from wechat.sandbox.pay_models import PayBillFile, PayOrder, PayRefund

FEE_RATE_BASIS_POINTS = 60
FEE_RATE_TEXT = "0.60%"
BILL_TYPES = ("ALL", "SUCCESS", "REFUND")
BILL_READY_HOUR = 10  # WeChat produces a day's bill by 10:00 the next day
BILL_HISTORY_DAYS = 92
DOWNLOAD_VALIDITY = timedelta(minutes=5)


def fee_fen(amount_fen: int) -> int:
    return (amount_fen * FEE_RATE_BASIS_POINTS + 5000) // 10000


def business_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a Shanghai business day, as aware datetimes."""
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def check_bill_available(day: date, *, allow_today: bool, now: datetime | None = None) -> None:
    """WeChat's rules: a day's bill from 10:00 the next day, three months back; dev may also ask for today so far."""
    local_now = (now or clock.now()).astimezone(SHANGHAI)
    today = local_now.date()
    if day > today:
        raise PayApiError(400, "NO_STATEMENT_EXIST", "账单日期不能晚于今天")
    if day == today:
        if not allow_today:
            raise PayApiError(400, "NO_STATEMENT_EXIST", "当日账单次日10点后生成")
        return
    if day == today - timedelta(days=1) and local_now.hour < BILL_READY_HOUR:
        raise PayApiError(400, "STATEMENT_CREATING", "账单生成中，请于10点后再下载")
    if day < today - timedelta(days=BILL_HISTORY_DAYS):
        raise PayApiError(400, "NO_STATEMENT_EXIST", "只能下载三个月以内的账单")


async def bill_rows(session: AsyncSession, mchid: str, day: date, bill_type: str = "ALL") -> list[TradeBillRow]:
    start, end = business_day_bounds(day)
    end = min(end, clock.now())  # "today so far" holds only what has happened
    rows: list[tuple[datetime, int, TradeBillRow]] = []
    if bill_type in ("ALL", "SUCCESS"):
        orders = (
            await session.scalars(
                select(PayOrder)
                .where(PayOrder.mchid == mchid, PayOrder.success_time >= start, PayOrder.success_time < end)
                .order_by(PayOrder.success_time, PayOrder.id)
            )
        ).all()
        for o in orders:
            assert o.success_time is not None
            rows.append((o.success_time, o.id, _payment_row(o)))
    if bill_type in ("ALL", "REFUND"):
        refunds = (
            await session.execute(
                select(PayRefund, PayOrder)
                .join(PayOrder, PayOrder.id == PayRefund.order_id)
                .where(
                    PayRefund.mchid == mchid,
                    PayRefund.status == "SUCCESS",
                    PayRefund.success_time >= start,
                    PayRefund.success_time < end,
                )
                .order_by(PayRefund.success_time, PayRefund.id)
            )
        ).all()
        for r, o in refunds:
            assert r.success_time is not None
            rows.append((r.success_time, r.id, _refund_row(r, o)))
    rows.sort(key=lambda t: (t[0], t[1]))
    return [r for _, _, r in rows]


def _payment_row(o: PayOrder) -> TradeBillRow:
    assert o.success_time is not None
    return TradeBillRow(
        trade_time=o.success_time,
        appid=o.appid,
        mchid=o.mchid,
        sub_mchid="0",
        device_info="",
        transaction_id=o.transaction_id or "",
        out_trade_no=o.out_trade_no,
        openid=o.payer_openid or "",
        trade_type=o.trade_type,
        trade_state="SUCCESS",
        bank_type=o.bank_type or "OTHERS",
        currency="CNY",
        settlement_total_fen=o.total_fen,
        coupon_fen=0,
        refund_id="0",
        out_refund_no="0",
        refund_fen=0,
        coupon_refund_fen=0,
        refund_type="",
        refund_status="",
        description=o.description,
        attach=o.attach or "",
        fee_fen=fee_fen(o.total_fen),
        fee_rate=FEE_RATE_TEXT,
        total_fen=o.total_fen,
        requested_refund_fen=0,
    )


def _refund_row(r: PayRefund, o: PayOrder) -> TradeBillRow:
    assert r.success_time is not None
    return TradeBillRow(
        trade_time=r.success_time,
        appid=o.appid,
        mchid=o.mchid,
        sub_mchid="0",
        device_info="",
        transaction_id=r.transaction_id,
        out_trade_no=r.out_trade_no,
        openid=o.payer_openid or "",
        trade_type=o.trade_type,
        trade_state="REFUND",
        bank_type=o.bank_type or "OTHERS",
        currency="CNY",
        settlement_total_fen=0,
        coupon_fen=0,
        refund_id=r.refund_id,
        out_refund_no=r.out_refund_no,
        refund_fen=r.refund_fen,
        coupon_refund_fen=0,
        refund_type="ORIGINAL",
        refund_status="SUCCESS",
        description=o.description,
        attach=o.attach or "",
        fee_fen=-fee_fen(r.refund_fen),
        fee_rate=FEE_RATE_TEXT,
        total_fen=0,
        requested_refund_fen=r.refund_fen,
    )


async def build_trade_bill(session: AsyncSession, mchid: str, day: date, bill_type: str = "ALL") -> bytes:
    """The decompressed bill file for a day (for "today", what has happened so far)."""
    if bill_type not in BILL_TYPES:
        raise PayApiError(400, "PARAM_ERROR", f"bill_type must be one of {', '.join(BILL_TYPES)}")
    return render_trade_bill(await bill_rows(session, mchid, day, bill_type))


async def issue_bill_download(
    session: AsyncSession,
    *,
    mchid: str,
    day: date,
    bill_type: str,
    tar_type: str | None,
    base_url: str,
) -> dict[str, str]:
    """Freeze the bill's bytes behind a token, answer `{hash_type, hash_value, download_url}`."""
    if tar_type not in (None, "GZIP"):
        raise PayApiError(400, "PARAM_ERROR", "tar_type must be GZIP or absent")
    data = await build_trade_bill(session, mchid, day, bill_type)
    digest = bill_digest(data)  # over the decompressed file, as WeChat defines it
    token = secrets.token_urlsafe(24)
    now = clock.now()
    session.add(
        PayBillFile(
            token=token,
            mchid=mchid,
            bill_date=day,
            bill_type=bill_type,
            tar_type=tar_type,
            hash_value=digest,
            content=gzip_bill(data) if tar_type == "GZIP" else data,
            created_at=now,
            expires_at=now + DOWNLOAD_VALIDITY,
        )
    )
    return {
        "hash_type": "SHA1",
        "hash_value": digest,
        "download_url": f"{base_url.rstrip('/')}/v3/billdownload/file?token={token}",
    }


async def read_bill_file(session: AsyncSession, mchid: str, token: str) -> PayBillFile:
    bill = await session.get(PayBillFile, token)
    if bill is None or bill.mchid != mchid:
        raise PayApiError(404, "RESOURCE_NOT_EXISTS", "账单文件不存在")
    if bill.expires_at < clock.now():
        raise PayApiError(400, "INVALID_REQUEST", "下载链接已过期，请重新申请账单")
    return bill
