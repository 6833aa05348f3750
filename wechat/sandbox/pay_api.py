"""Sandbox Pay test API (`/api/pay/...`): a simulated user pays, tests read notifies, set knobs, pull bills."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from core import clock
from core.clock import SHANGHAI
from core.db import unit_of_work
from core.settings import get_settings
from wechat.pay_bills import bill_digest, gzip_bill
from wechat.pay_crypto import public_key_pem, verify_jsapi_pay_params
from wechat.sandbox import bills, pay_faults, pay_refunds, pay_service
from wechat.sandbox.keys import sandbox_keys
from wechat.sandbox.pay_common import PayApiError, get_config, param_error, rfc3339, set_config
from wechat.sandbox.pay_loop import wake_notify_loop
from wechat.sandbox.pay_models import PayNotify, PayNotifyAttempt, PayOrder, PayRefund
from wechat.sandbox.pay_notify import deliver_due_notifies, release_held


def _order_json(o: PayOrder) -> dict[str, Any]:
    return {
        "out_trade_no": o.out_trade_no,
        "mchid": o.mchid,
        "appid": o.appid,
        "trade_type": o.trade_type,
        "prepay_id": o.prepay_id,
        "code_url": o.code_url,
        "transaction_id": o.transaction_id,
        "description": o.description,
        "total_fen": o.total_fen,
        "payer_openid": o.payer_openid,
        "trade_state": o.trade_state,
        "notify_url": o.notify_url,
        "time_expire": rfc3339(o.time_expire) if o.time_expire else None,
        "success_time": rfc3339(o.success_time) if o.success_time else None,
        "created_at": rfc3339(o.created_at),
    }


def _notify_json(n: PayNotify, attempts: list[PayNotifyAttempt]) -> dict[str, Any]:
    return {
        "id": n.id,
        "notify_id": n.notify_id,
        "event_type": n.event_type,
        "out_trade_no": n.out_trade_no,
        "out_refund_no": n.out_refund_no,
        "notify_url": n.notify_url,
        "status": n.status,
        "attempts": n.attempts,
        "next_attempt_at": rfc3339(n.next_attempt_at) if n.next_attempt_at else None,
        "faults": n.faults,
        "delivered_at": rfc3339(n.delivered_at) if n.delivered_at else None,
        "resource": n.resource_plain,
        "log": [
            {
                "attempt": a.attempt,
                "fault": a.fault,
                "status_code": a.status_code,
                "error": a.error,
                "response_body": a.response_body,
                "ms": a.duration_ms,
                "at": rfc3339(a.at),
            }
            for a in attempts
        ],
    }


# --- paying ---------------------------------------------------------------------------------------


async def _pay(data: dict[str, Any]) -> dict[str, Any]:
    async with unit_of_work() as session:
        order = await pay_service.pay_order(
            session,
            prepay_id=data.get("prepay_id"),
            out_trade_no=data.get("out_trade_no"),
            code_url=data.get("code_url"),
            openid=data.get("openid"),
            outcome=str(data.get("outcome") or "SUCCESS"),
            bank_type=data.get("bank_type"),
        )
        result = _order_json(order)
    wake_notify_loop()
    return result


@post("/api/pay/pay", status_code=200)
async def pay(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """A simulated user pays the order named by prepay_id, out_trade_no or code_url (outcome SUCCESS by default)."""
    return await _pay(data)


@post("/api/pay/jsapi", status_code=200)
async def pay_jsapi(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """The phone page's pay sheet: check getBrandWCPayRequest's paySign as WeChat's client does, then pay."""
    keys = sandbox_keys()
    if data.get("appId") != get_settings().wechat_appid:
        raise PayApiError(400, "APPID_MCHID_NOT_MATCH", "appId 与商户号不匹配")
    if not verify_jsapi_pay_params(data, keys.merchant_public):
        raise PayApiError(400, "SIGN_ERROR", "支付验证签名失败")
    package = str(data.get("package", ""))
    if not package.startswith("prepay_id="):
        raise param_error("package must be prepay_id=…")
    return await _pay(
        {
            "prepay_id": package.removeprefix("prepay_id="),
            "openid": data.get("openid"),
            "outcome": data.get("outcome") or "SUCCESS",
        }
    )


# --- reading --------------------------------------------------------------------------------------


@get("/api/pay/orders")
async def list_orders(limit: FromQuery[int] = 50) -> list[dict[str, Any]]:
    async with unit_of_work() as session:
        rows = await session.scalars(select(PayOrder).order_by(PayOrder.id.desc()).limit(max(1, min(limit, 500))))
        return [_order_json(o) for o in rows]


@get("/api/pay/orders/{out_trade_no:str}")
async def get_order(out_trade_no: FromPath[str]) -> dict[str, Any]:
    async with unit_of_work() as session:
        order = await session.scalar(select(PayOrder).where(PayOrder.out_trade_no == out_trade_no))
        if order is None:
            raise PayApiError(404, "ORDER_NOT_EXIST", "订单不存在")
        refunds = (await session.scalars(select(PayRefund).where(PayRefund.order_id == order.id))).all()
        return {**_order_json(order), "refunds": [pay_refunds.refund_json(r) for r in refunds]}


@get("/api/pay/notifies")
async def list_notifies(
    out_trade_no: FromQuery[str | None] = None,
    event_type: FromQuery[str | None] = None,
    limit: FromQuery[int] = 100,
) -> list[dict[str, Any]]:
    async with unit_of_work() as session:
        query = select(PayNotify).order_by(PayNotify.id).limit(max(1, min(limit, 1000)))
        if out_trade_no:
            query = query.where(PayNotify.out_trade_no == out_trade_no)
        if event_type:
            query = query.where(PayNotify.event_type == event_type)
        notifies = (await session.scalars(query)).all()
        attempts = (
            await session.scalars(
                select(PayNotifyAttempt)
                .where(PayNotifyAttempt.notify_pk.in_([n.id for n in notifies]))
                .order_by(PayNotifyAttempt.id)
            )
        ).all()
        by_notify: dict[int, list[PayNotifyAttempt]] = {}
        for a in attempts:
            by_notify.setdefault(a.notify_pk, []).append(a)
        return [_notify_json(n, by_notify.get(n.id, [])) for n in notifies]


@post("/api/pay/notifies/deliver", status_code=200)
async def deliver_now() -> dict[str, int]:
    """Run one delivery pass now (tests that do not want to wait for the loop's tick)."""
    return {"sent": await deliver_due_notifies()}


@post("/api/pay/notifies/release", status_code=200)
async def release_now() -> dict[str, int]:
    """Release held reorder batches even if incomplete (newest first)."""
    async with unit_of_work() as session:
        released = await release_held(session)
    wake_notify_loop()
    return {"released": released}


# --- knobs ----------------------------------------------------------------------------------------


@get("/api/pay/config")
async def read_config() -> dict[str, Any]:
    async with unit_of_work() as session:
        return await get_config(session)


@post("/api/pay/config", status_code=200)
async def write_config(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    async with unit_of_work() as session:
        return await set_config(session, data)


@get("/api/pay/faults")
async def read_faults() -> list[dict[str, Any]]:
    async with unit_of_work() as session:
        return [pay_faults.fault_json(f) for f in await pay_faults.list_faults(session)]


@post("/api/pay/faults", status_code=201)
async def add_fault(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """`{"kind": "duplicate", "scope": "notify", "count": 1, "params": {...}, "out_trade_no": …, "event_type": …}`."""
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise param_error("params must be an object")
    async with unit_of_work() as session:
        fault = await pay_faults.add_fault(
            session,
            kind=str(data.get("kind") or ""),
            scope=str(data.get("scope") or "notify"),
            count=data.get("count", 1),
            params=params,
            out_trade_no=data.get("out_trade_no"),
            event_type=data.get("event_type"),
        )
        return pay_faults.fault_json(fault)


@delete("/api/pay/faults", status_code=200)
async def clear_faults() -> dict[str, int]:
    async with unit_of_work() as session:
        return {"cleared": await pay_faults.clear_faults(session)}


# --- bills and keys -------------------------------------------------------------------------------


@get("/api/pay/bills/{bill_date:str}")
async def bill_file(
    bill_date: FromPath[str], bill_type: FromQuery[str] = "ALL", gzip: FromQuery[bool] = False
) -> Response[bytes]:
    """A day's bill file directly ("today" = so far), for demos and reconciling without the v3 dance."""
    if bill_date == "today":
        day = clock.now().astimezone(SHANGHAI).date()
    else:
        try:
            day = date.fromisoformat(bill_date)
        except ValueError:
            raise param_error("bill_date must be YYYY-MM-DD or today") from None
    async with unit_of_work() as session:
        data = await bills.build_trade_bill(session, get_settings().wechatpay_mchid, day, bill_type)
    headers = {
        "X-Hash-Type": "SHA1",
        "X-Hash-Value": bill_digest(data),
        "Content-Disposition": f'attachment; filename="tradebill-{day.isoformat()}.csv{".gz" if gzip else ""}"',
    }
    if gzip:
        return Response(gzip_bill(data), media_type="application/octet-stream", headers=headers)
    return Response(data, media_type="text/csv; charset=utf-8", headers=headers)


@get("/api/pay/keys")
async def public_keys() -> dict[str, Any]:
    """Public halves only: what a merchant would download from the WeChat Pay console."""
    keys = sandbox_keys()
    s = get_settings()
    return {
        "mchid": s.wechatpay_mchid,
        "appid": s.wechat_appid,
        "merchant_serial": keys.merchant_serial,
        "platform_serial": keys.platform_serial,
        "platform_public_key_pem": public_key_pem(keys.platform_public).decode(),
        "merchant_public_key_pem": public_key_pem(keys.merchant_public).decode(),
    }


API_HANDLERS = [
    pay,
    pay_jsapi,
    list_orders,
    get_order,
    list_notifies,
    deliver_now,
    release_now,
    read_config,
    write_config,
    read_faults,
    add_fault,
    clear_faults,
    bill_file,
    public_keys,
]
