"""Payments HTTP: the WeChat Pay notify endpoint, the customer's payment API, and the finance API (thin)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody
from sqlalchemy import select

from core.auth import customer_guard, require_principal
from core.db import DbSession
from core.errors import NotFound
from payments.finance_controllers import FINANCE_ROUTES
from payments.gateway import NOTIFY_PATH
from payments.handle_notification import handle_notification
from payments.models import PaymentIntent
from payments.order_payables import order_id_of
from payments.schemas import PaymentStartOut, PaymentStatusOut, StartPaymentIn
from payments.start_payment import qr_png, start_payment
from payments.topup_controllers import TopUpController


@post(
    NOTIFY_PATH,
    status_code=200,  # the answer sets its own: 204, or 4xx/5xx with a FAIL body
    summary="WeChat Pay v3 notifications (payments and refunds)",
    description="Verified on the raw body with the platform key; 204 when applied (or already), "
    '`{"code": "FAIL", "message": …}` with 4xx/5xx when WeChat must not be trusted or should retry.',
    tags=["payments"],
)
async def wechatpay_notify(request: Request[Any, Any, Any]) -> Response[Any]:
    raw = await request.body()
    answer = await handle_notification(request.headers, raw)
    if answer.body is None:
        return Response(content=None, status_code=204)
    return Response(answer.body, status_code=answer.status_code)


async def _own_intent(session: Any, out_trade_no: str, customer_id: int) -> PaymentIntent:
    intent = await session.scalar(select(PaymentIntent).where(PaymentIntent.out_trade_no == out_trade_no))
    if intent is None:
        raise NotFound(f"payment {out_trade_no} does not exist")
    from payments.payables import payable_source

    payable = await payable_source(intent.payable_kind).load(session, intent.payable_id)
    if payable.customer_id != customer_id:  # orders and top-ups alike: only the payer's own
        raise NotFound(f"payment {out_trade_no} does not exist")
    return intent


class CustomerPaymentController(Controller):
    path = "/api/payments"
    tags = ["payments"]
    guards = [customer_guard]

    @post("/", status_code=200, summary="Start (or resume) paying an order: JSAPI pay-sheet parameters or a QR code")
    async def start(
        self, request: Request[Any, Any, Any], data: JSONBody[StartPaymentIn], db_session: DbSession
    ) -> PaymentStartOut:
        p = require_principal(request)
        order_id = await order_id_of(db_session, data.order_id)
        started = await start_payment(db_session, order_id, data.channel, customer_id=p.id)
        return PaymentStartOut.of(started)

    @get("/{out_trade_no:str}", summary="A payment's status (the page polls it after the pay sheet closes)")
    async def status(
        self, request: Request[Any, Any, Any], out_trade_no: str, db_session: DbSession
    ) -> PaymentStatusOut:
        intent = await _own_intent(db_session, out_trade_no, require_principal(request).id)
        return PaymentStatusOut(
            out_trade_no=intent.out_trade_no,
            channel=intent.channel,
            amount_fen=intent.amount_fen,
            status=intent.status,
            paid_at=intent.paid_at,
            expires_at=intent.time_expire,
        )

    @get("/{out_trade_no:str}/qr.png", summary="The Native payment's QR code", media_type="image/png")
    async def qr(self, request: Request[Any, Any, Any], out_trade_no: str, db_session: DbSession) -> Response[bytes]:
        intent = await _own_intent(db_session, out_trade_no, require_principal(request).id)
        if not intent.code_url:
            raise NotFound(f"payment {out_trade_no} has no QR code (it is a {intent.channel} payment)")
        return Response(qr_png(intent.code_url), media_type="image/png", headers={"Cache-Control": "no-store"})


ROUTES = [wechatpay_notify, CustomerPaymentController, TopUpController, *FINANCE_ROUTES]
