"""Customer top-ups over HTTP: create a top-up (a plan or a whole-yuan amount) and start paying it in one call."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath

from core.auth import customer_guard, require_principal
from core.db import DbSession, unit_of_work
from payments.schemas import PaymentStartOut
from payments.start_payment import start_payment
from shop.members.errors import BadTopUp
from shop.members.schemas import TopUpIn, TopUpOut
from shop.members.topups import cancel_unpaid_topup, create_topup, own_topup


class TopUpStartOut(msgspec.Struct):
    topup: TopUpOut
    payment: PaymentStartOut


async def _body(request: Request[Any, Any, Any]) -> TopUpIn:
    try:
        return msgspec.json.decode(await request.body(), type=TopUpIn, strict=True)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadTopUp(f"充值请求格式不对：{exc}") from None


class TopUpController(Controller):
    path = "/api/member/topups"
    tags = ["member card"]
    guards = [customer_guard]

    @post("/", status_code=201, summary="Top up stored value: creates the top-up and starts its WeChat payment")
    async def create(self, request: Request[Any, Any, Any], db_session: DbSession) -> TopUpStartOut:
        data = await _body(request)
        customer_id = require_principal(request).id
        topup = await create_topup(db_session, customer_id, plan_id=data.plan_id, pay_fen=data.pay_fen)
        try:
            started = await start_payment(
                db_session, topup.id, data.channel, payable_kind="topup", customer_id=customer_id
            )
        except Exception:
            # start_payment commits the new top-up before it asks WeChat Pay (no connection waits on WeChat):
            # a top-up whose payment could not start is cancelled, so a failed attempt leaves nothing open.
            async with unit_of_work() as s:
                await cancel_unpaid_topup(s, topup.id)
            raise
        return TopUpStartOut(
            TopUpOut.of(topup),
            PaymentStartOut.of(started),
        )

    @get("/{topup_id:int}", summary="One of my top-ups (the page polls it after paying)")
    async def one(self, request: Request[Any, Any, Any], db_session: DbSession, topup_id: FromPath[int]) -> TopUpOut:
        return TopUpOut.of(await own_topup(db_session, require_principal(request).id, topup_id))
