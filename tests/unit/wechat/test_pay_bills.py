"""Trade bill format: backticks, yuan with 2 decimals, summary rows, SHA1 over the decompressed file, gzip."""

from __future__ import annotations

import gzip
import hashlib
from datetime import datetime

import pytest

from core.clock import SHANGHAI
from wechat.pay import BillError, BillHashMismatch, TradeBillRow, open_bill_file, parse_trade_bill
from wechat.pay_bills import SUMMARY_HEADER, TRADE_BILL_HEADER, gzip_bill, render_trade_bill, summarize


def _row(**over) -> TradeBillRow:
    base = dict(
        trade_time=datetime(2025, 3, 14, 9, 30, 5, tzinfo=SHANGHAI),
        appid="wx5andb0x0000demo",
        mchid="1900000109",
        sub_mchid="0",
        device_info="",
        transaction_id="4200000123202503141234567890",
        out_trade_no="O20250314093000ABC",
        openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        trade_type="JSAPI",
        trade_state="SUCCESS",
        bank_type="OTHERS",
        currency="CNY",
        settlement_total_fen=12345,
        coupon_fen=0,
        refund_id="0",
        out_refund_no="0",
        refund_fen=0,
        coupon_refund_fen=0,
        refund_type="",
        refund_status="",
        description="鲜牛奶, 2瓶",
        attach="",
        fee_fen=74,
        fee_rate="0.60%",
        total_fen=12345,
        requested_refund_fen=0,
    )
    base.update(over)
    return TradeBillRow(**base)


def test_render_is_wechats_format():
    refund = _row(
        trade_state="REFUND",
        settlement_total_fen=0,
        total_fen=0,
        refund_id="50300000001202503141234567890",
        out_refund_no="R1",
        refund_fen=5,
        requested_refund_fen=5,
        refund_type="ORIGINAL",
        refund_status="SUCCESS",
        fee_fen=0,
    )
    text = render_trade_bill([_row(), refund]).decode("utf-8")
    lines = text.split("\r\n")
    assert lines[0] == ",".join(TRADE_BILL_HEADER)
    assert lines[1].startswith(
        "`2025-03-14 09:30:05,`wx5andb0x0000demo,`1900000109,`0,`,`4200000123202503141234567890,"
    )
    assert ",`123.45,`0.00," in lines[1] and '"`鲜牛奶, 2瓶"' in lines[1]
    assert ",`0.05,`0.00,`ORIGINAL,`SUCCESS," in lines[2]
    assert lines[3] == ",".join(SUMMARY_HEADER)
    assert lines[4] == "`2,`123.45,`0.05,`0.00,`0.74,`123.45,`0.05"
    assert all(field.startswith("`") for field in lines[4].split(","))


def test_parse_round_trip_in_fen():
    rows = [_row(), _row(out_trade_no="O2", settlement_total_fen=1, total_fen=1, fee_fen=0)]
    bill = parse_trade_bill(render_trade_bill(rows))
    assert bill.rows == rows
    assert bill.summary == summarize(rows)
    assert bill.summary.settlement_total_fen == 12346
    bill.check_summary()
    assert not bill.rows[0].is_refund


def test_parse_a_bill_as_wechat_writes_it_with_five_decimal_fees_and_bom():
    text = (
        "\ufeff" + ",".join(TRADE_BILL_HEADER) + "\r\n"
        "`2025-03-13 10:00:00,`wx1,`1900000109,`0,`,`4200001,`O1,`oA,`JSAPI,`SUCCESS,`OTHERS,`CNY,"
        "`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`商品,`,`0.00006,`0.60%,`0.01,`0.00,`\r\n"
        "`2025-03-13 11:00:00,`wx1,`1900000109,`0,`,`4200002,`O2,`oB,`JSAPI,`REFUND,`OTHERS,`CNY,"
        "`0.00,`0.00,`5030001,`R2,`100.50,`0.00,`ORIGINAL,`SUCCESS,`商品,`,`-0.60300,`0.60%,`0.00,`100.50,`\r\n"
        + ",".join(SUMMARY_HEADER)
        + "\r\n"
        "`2,`0.01,`100.50,`0.00,`-0.60294,`0.01,`100.50\r\n"
    )
    bill = parse_trade_bill(text.encode())
    assert [r.out_trade_no for r in bill.rows] == ["O1", "O2"]
    assert bill.rows[0].fee_fen == 0 and bill.rows[1].fee_fen == -60
    assert bill.rows[1].refund_fen == 10050 and bill.rows[1].is_refund
    assert bill.rows[0].trade_time == datetime(2025, 3, 13, 10, 0, tzinfo=SHANGHAI)
    assert bill.summary is not None and bill.summary.refund_fen == 10050 and bill.summary.count == 2


def test_empty_day_has_header_and_zero_summary():
    bill = parse_trade_bill(render_trade_bill([]))
    assert bill.rows == [] and bill.summary is not None and bill.summary.count == 0
    bill.check_summary()


def test_summary_mismatch_and_bad_amounts_are_errors():
    data = render_trade_bill([_row()]).replace(b"`1,`123.45", b"`1,`123.46")
    with pytest.raises(BillError, match="summary"):
        parse_trade_bill(data).check_summary()
    with pytest.raises(BillError):
        parse_trade_bill(render_trade_bill([_row()]).replace(b"`123.45,`0.00,`0,", b"`12.345,`0.00,`0,"))
    with pytest.raises(BillError):
        parse_trade_bill(b"not,a,bill\r\n")


def test_sha1_is_over_the_decompressed_file_and_gzip_is_detected():
    data = render_trade_bill([_row()])
    digest = hashlib.sha1(data).hexdigest()
    assert open_bill_file(data, hash_type="SHA1", hash_value=digest) == data
    assert open_bill_file(gzip_bill(data), hash_type="SHA1", hash_value=digest.upper()) == data
    assert open_bill_file(gzip.compress(data), hash_type="SHA1", hash_value=digest) == data
    with pytest.raises(BillHashMismatch):
        open_bill_file(data + b"\r\n", hash_type="SHA1", hash_value=digest)
    with pytest.raises(BillHashMismatch):
        # the hash of the compressed bytes is not the one WeChat announces
        open_bill_file(gzip_bill(data), hash_type="SHA1", hash_value=hashlib.sha1(gzip_bill(data)).hexdigest())
    with pytest.raises(BillError):
        open_bill_file(gzip_bill(data)[:20], hash_type="SHA1", hash_value=digest)
