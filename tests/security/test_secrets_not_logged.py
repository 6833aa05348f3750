"""Secrets and tokens never reach the logs: a whole flow (staff sign-in, WeChat OAuth, JS-SDK config, pay, notify)
runs with every log line captured (DEBUG and up, as the app formats them), then the text is searched for the
configured secrets and for every token that was issued along the way."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from core.db import unit_of_work
from core.settings import get_settings
from tests.integration.orders.factories import customer_headers, staff_user, world
from tests.integration.payments.conftest import eventually, order_status, place
from tests.integration.shop.test_shop_sign_in import authorize


class Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record the app's formatter cannot render: keep its raw form
            self.lines.append(f"{record.msg!r} {record.args!r}")


@pytest.fixture
def captured_logs() -> Iterator[Capture]:
    root = logging.getLogger()
    formatter = root.handlers[0].formatter if root.handlers else None
    handler = Capture(formatter)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def _issued_tokens() -> list[str]:
    async with unit_of_work() as s:
        rows = await s.execute(text("SELECT value FROM sandbox.oa_credentials"))
        codes = await s.execute(text("SELECT code FROM sandbox.oauth_codes"))
        return [r[0] for r in rows] + [r[0] for r in codes]


async def test_a_whole_flow_logs_no_secret_and_no_token(http: httpx.AsyncClient, captured_logs: Capture) -> None:
    s = get_settings()
    # Staff sign-in: the session token comes back in the body and the cookie.
    await staff_user("counter")
    r = await http.post("/api/auth/login", json={"username": "counter", "password": "correct horse"})
    assert r.status_code == 200
    staff_token = r.json()["token"]
    await http.post("/api/auth/logout")

    # WeChat OAuth sign-in through the sandbox, then the JS-SDK config (access token + jsapi ticket).
    callback = await authorize(http, scope="snsapi_userinfo")
    r = await http.get(callback)
    assert r.status_code == 302
    customer_session = http.cookies.get("o2o_session")
    assert customer_session
    assert (await http.get("/api/wechat/jssdk-config", params={"url": f"{s.base_url}/cart"})).status_code == 200
    http.cookies.clear()

    # An order paid on the sandbox: the signed, encrypted notify comes back over HTTP.
    w = await world(price_fen=990)
    p = await place(w)
    me = customer_headers(w.customer_id)
    r = await http.post("/api/payments", json={"order_id": p.public_id, "channel": "JSAPI"}, headers=me)
    assert r.status_code == 200, r.text
    paid = await http.post("/sandbox/api/pay/jsapi", json=r.json()["jsapi_params"])
    assert paid.status_code == 200, paid.text

    async def order_paid() -> bool:
        return await order_status(p.order_id) == "paid"

    await eventually(order_paid, what="the notify to pay the order")

    logs = "\n".join(captured_logs.lines)
    assert len(captured_logs.lines) > 10 and "request" in logs  # the capture did see the flow
    secrets = {
        "WECHATPAY_APIV3_KEY": s.wechatpay_apiv3_key,
        "WECHAT_SECRET": s.wechat_secret,
        "WECHAT_AES_KEY": s.wechat_aes_key or "",
        "WECOM_SECRET": s.wecom_secret,
        "SECRET_KEY": s.secret_key,
        "staff session token": staff_token,
        "customer session cookie": customer_session,
        "customer bearer token": me["Authorization"].split(" ", 1)[1],
        "merchant private key": s.merchant_key_path.read_text().splitlines()[1][:40],
    }
    for i, token in enumerate(await _issued_tokens()):
        secrets[f"WeChat-issued token/code #{i}"] = token
    assert len(secrets) > 10
    leaked = [name for name, value in secrets.items() if value and value in logs]
    assert not leaked, f"found in the logs: {leaked}"
