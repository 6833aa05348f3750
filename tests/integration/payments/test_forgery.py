"""The forgery matrix: every forged or broken notify is refused, changes nothing, posts nothing, and is stored."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import clock
from payments.start_payment import PaymentStart
from tests.integration.orders.factories import World
from tests.integration.payments.conftest import (
    Paying,
    deliver,
    intent_status,
    ledger_count,
    ledger_ok,
    notify_body,
    order_status,
    place,
    rows,
    scalar,
    signed,
    start,
    transaction_resource,
)
from wechat.pay_crypto import SIGNTEST_PREFIX, generate_private_key

TXN = "4200000001202603010000000001"


@pytest.fixture
async def unpaid(live_app: str, shop_world: World) -> tuple[Paying, PaymentStart]:
    p = await place(shop_world)
    return p, await start(p.order_id)


def _resource(intent: PaymentStart, **over: Any) -> dict[str, Any]:
    return transaction_resource(intent.out_trade_no, intent.amount_fen, TXN, **over)


def _tamper_resource(body: bytes, field: str) -> bytes:
    envelope = json.loads(body)
    if field == "ciphertext":
        raw = bytearray(base64.b64decode(envelope["resource"]["ciphertext"]))
        raw[3] ^= 0x01
        envelope["resource"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    else:
        envelope["resource"]["associated_data"] = "refund"
    return json.dumps(envelope, separators=(",", ":")).encode()


# Each case: (name, build(intent) -> (body, headers), expected status)
Case = Callable[[PaymentStart], tuple[bytes, dict[str, str]]]


def bad_signature(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i))
    headers = signed(body)
    sig = bytearray(base64.b64decode(headers["Wechatpay-Signature"]))
    sig[10] ^= 0xFF
    headers["Wechatpay-Signature"] = base64.b64encode(bytes(sig)).decode()
    return body, headers


def body_changed_after_signing(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i))
    return body.replace(b'"summary"', b'"Summary"'), signed(body)


def stranger_key(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i))
    return body, signed(body, private_key=generate_private_key())


def unknown_serial(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i))
    return body, signed(body, serial="PUB_KEY_ID_0000UNKNOWN")


def stale(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i))
    return body, signed(body, timestamp=int(clock.now().timestamp()) - 301)


def future(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i))
    return body, signed(body, timestamp=int(clock.now().timestamp()) + 301)


def signtest(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i))
    headers = signed(body)
    headers["Wechatpay-Signature"] = SIGNTEST_PREFIX + headers["Wechatpay-Signature"][20:]
    return body, headers


def missing_headers(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i))
    headers = signed(body)
    del headers["Wechatpay-Nonce"]
    return body, headers


def tampered_ciphertext(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = _tamper_resource(notify_body(_resource(i)), "ciphertext")
    return body, signed(body)  # even validly signed, it must not decrypt


def tampered_aad(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = _tamper_resource(notify_body(_resource(i)), "associated_data")
    return body, signed(body)


def wrong_apiv3_key(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i), apiv3_key="x" * 32)
    return body, signed(body)


def amount_mismatch(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(
        _resource(i, amount={"total": i.amount_fen + 1, "payer_total": i.amount_fen + 1, "currency": "CNY"})
    )
    return body, signed(body)


def amount_lower(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i, amount={"total": 1, "payer_total": 1, "currency": "CNY"}))
    return body, signed(body)


def mchid_mismatch(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i, mchid="1900009999"))
    return body, signed(body)


def appid_mismatch(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i, appid="wx0000000000other"))
    return body, signed(body)


def not_paid_state(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(_resource(i, trade_state="NOTPAY"))
    return body, signed(body)


def unknown_trade(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = notify_body(transaction_resource("P20260301000000NOSUCHONE", i.amount_fen, TXN))
    return body, signed(body)


def malformed_json_signed(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    body = b'{"id": "EV-1", "resource": {'
    return body, signed(body)


def malformed_json_unsigned(i: PaymentStart) -> tuple[bytes, dict[str, str]]:
    return b"<xml>not json</xml>", {}


CASES: list[tuple[str, Case, int]] = [
    ("bad signature", bad_signature, 401),
    ("body changed after signing", body_changed_after_signing, 401),
    ("signed with another key", stranger_key, 401),
    ("unknown serial", unknown_serial, 401),
    ("stale timestamp", stale, 401),
    ("future timestamp", future, 401),
    ("SIGNTEST probe", signtest, 401),
    ("missing headers", missing_headers, 401),
    ("tampered ciphertext", tampered_ciphertext, 400),
    ("tampered associated data", tampered_aad, 400),
    ("wrong APIv3 key", wrong_apiv3_key, 400),
    ("amount higher", amount_mismatch, 400),
    ("amount lower", amount_lower, 400),
    ("mchid mismatch", mchid_mismatch, 400),
    ("appid mismatch", appid_mismatch, 400),
    ("trade state not paid", not_paid_state, 400),
    ("unknown out_trade_no", unknown_trade, 404),
    ("malformed JSON, signed", malformed_json_signed, 400),
    ("malformed JSON, unsigned", malformed_json_unsigned, 401),
]


@pytest.mark.parametrize(("name", "build", "status"), CASES, ids=[c[0] for c in CASES])
async def test_forged_notify_is_refused_without_effect(
    unpaid: tuple[Paying, PaymentStart], name: str, build: Case, status: int
) -> None:
    p, intent = unpaid
    body, headers = build(intent)
    answer = await deliver(body, headers)
    assert answer.status_code == status, answer
    assert answer.body is not None and answer.body["code"] == "FAIL" and answer.body["message"]
    assert await intent_status(intent.out_trade_no) == "pending"
    assert await order_status(p.order_id) == "created"
    assert await ledger_count() == 0
    assert await scalar("SELECT count(*) FROM payment_events WHERE to_status = 'paid'") == 0
    [audit] = await rows("SELECT verified, outcome, http_status, error, body FROM payment_notifies")
    assert (audit.outcome, audit.http_status) == ("rejected", status)
    assert audit.verified is (status != 401) and audit.error
    assert audit.body == body.decode("utf-8", "replace")


async def test_fail_answer_over_http_has_wechats_shape(
    http: httpx.AsyncClient, unpaid: tuple[Paying, PaymentStart]
) -> None:
    _, intent = unpaid
    body, headers = signtest(intent)
    r = await http.post(
        "/payments/wechatpay/notify", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 401
    assert r.json()["code"] == "FAIL" and "signtest" in r.json()["message"]
    await ledger_ok()


async def test_replay_of_another_orders_transaction_is_refused(http: httpx.AsyncClient, shop_world: World) -> None:
    """A validly signed notify for order B carrying order A's (credited) transaction id never pays B."""
    a, b = await place(shop_world), await place(shop_world)
    ia, ib = await start(a.order_id), await start(b.order_id)
    first = notify_body(transaction_resource(ia.out_trade_no, ia.amount_fen, TXN))
    assert (await deliver(first)).status_code == 204
    replay = notify_body(transaction_resource(ib.out_trade_no, ib.amount_fen, TXN), notify_id="EV-2")
    answer = await deliver(replay)
    assert answer.status_code == 400 and "already paid" in answer.body["message"]  # type: ignore[index]
    assert await intent_status(ib.out_trade_no) == "pending" and await order_status(b.order_id) == "created"
    # The byte-identical replay of A's own notify is a harmless repeat: 204, nothing new.
    entries = await ledger_count()
    again = await deliver(first)
    assert again.status_code == 204 and again.outcome == "repeat"
    assert await ledger_count() == entries
    await ledger_ok()


async def test_both_platform_keys_verify_during_a_rotation(
    unpaid: tuple[Paying, PaymentStart], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WECHATPAY_PLATFORM_SERIAL / _PUBLIC_KEY_FILE take a comma-separated pair, matched by position."""
    from core.settings import get_settings, reset_settings
    from wechat.pay_crypto import public_key_pem

    s = get_settings()
    new_key = generate_private_key()
    new_pem = tmp_path / "platform_new.pem"
    new_pem.write_bytes(public_key_pem(new_key.public_key()))
    old_path = s.platform_public_key_paths[0]
    monkeypatch.setenv("WECHATPAY_PLATFORM_SERIAL", f"{s.platform_serials[0]},PUB_KEY_ID_NEW0000000000000001")
    monkeypatch.setenv("WECHATPAY_PLATFORM_PUBLIC_KEY_FILE", f"{old_path},{new_pem}")
    reset_settings()
    try:
        p, intent = unpaid
        body = notify_body(_resource(intent))
        answer = await deliver(body, signed(body, private_key=new_key, serial="PUB_KEY_ID_NEW0000000000000001"))
        assert (answer.status_code, answer.outcome) == (204, "credited")
        again = await deliver(body)  # the old key still verifies
        assert (again.status_code, again.outcome) == (204, "repeat")
        mixed = await deliver(body, signed(body, private_key=new_key))  # new key under the old serial: no
        assert mixed.status_code == 401
        assert await order_status(p.order_id) == "paid"
    finally:
        monkeypatch.undo()
        reset_settings()
    await ledger_ok()
