"""Streaming a trade bill: backticks, yuan → fen exactly, gzip, SHA1 over the decompressed file, strict refusals."""

from __future__ import annotations

import gzip
import hashlib
from datetime import datetime
from pathlib import Path

import pytest

from core.clock import SHANGHAI
from payments.trade_bill_file import BillReader, BillRefused
from wechat.pay_bills import TradeBillRow, render_trade_bill

MCHID = "1900000109"


def row(n: int, fen: int, *, refund_fen: int = 0, fee: int | None = None) -> TradeBillRow:
    refund = refund_fen > 0
    return TradeBillRow(
        trade_time=datetime(2026, 3, 1, 12, 0, n % 60, tzinfo=SHANGHAI),
        appid="wxapp",
        mchid=MCHID,
        sub_mchid="0",
        device_info="",
        transaction_id=f"42000{n:023d}",
        out_trade_no=f"P{n:020d}",
        openid="o-x",
        trade_type="JSAPI",
        trade_state="REFUND" if refund else "SUCCESS",
        bank_type="OTHERS",
        currency="CNY",
        settlement_total_fen=0 if refund else fen,
        coupon_fen=0,
        refund_id=f"503{n}" if refund else "0",
        out_refund_no=f"R{n}" if refund else "0",
        refund_fen=refund_fen,
        coupon_refund_fen=0,
        refund_type="ORIGINAL" if refund else "",
        refund_status="SUCCESS" if refund else "",
        description="商品, 含逗号",  # the csv module quotes it
        attach="",
        fee_fen=fee if fee is not None else ((-1 if refund else 1) * ((max(fen, refund_fen) * 60 + 5000) // 10000)),
        fee_rate="0.60%",
        total_fen=0 if refund else fen,
        requested_refund_fen=refund_fen,
    )


def write(tmp_path: Path, data: bytes, name: str = "bill.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_all(path: Path, **kw: object) -> tuple[list[tuple], BillReader]:
    reader = BillReader(path, mchid=MCHID, **kw)  # type: ignore[arg-type]
    return [r for batch in reader.batches(2) for r in batch], reader


def test_lines_amounts_and_sums(tmp_path: Path) -> None:
    data = render_trade_bill([row(1, 1999), row(2, 1), row(3, 0, refund_fen=500)])
    lines, reader = read_all(write(tmp_path, data), expected_sha1=hashlib.sha1(data).hexdigest())
    assert [(x[5], x[8], x[11], x[13], x[14]) for x in lines] == [
        ("P00000000000000000001", 1999, 0, 12, False),
        ("P00000000000000000002", 1, 0, 0, False),
        ("P00000000000000000003", 0, 500, -3, True),
    ]
    s = reader.stats
    assert (s.rows, s.payment_rows, s.refund_rows, s.order_fen, s.refund_fen, s.fee_fen) == (3, 2, 1, 2000, 500, 9)
    assert s.sha1 == hashlib.sha1(data).hexdigest()


def test_gzip_is_read_and_hashed_decompressed(tmp_path: Path) -> None:
    data = render_trade_bill([row(1, 100), row(2, 250)])
    lines, reader = read_all(
        write(tmp_path, gzip.compress(data), "bill.csv.gz"), expected_sha1=hashlib.sha1(data).hexdigest()
    )
    assert len(lines) == 2 and reader.stats.order_fen == 350


def test_wrong_hash_is_refused(tmp_path: Path) -> None:
    data = render_trade_bill([row(1, 100)])
    with pytest.raises(BillRefused, match="SHA1"):
        read_all(write(tmp_path, data), expected_sha1="0" * 40)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: t.replace("`19.99", "`19.9x"), "line 2"),
        (lambda t: t.replace(",`wxapp", "", 1), "fields"),
        (lambda t: t.replace("`2026-03-01 12:00:01", "`yesterday"), "交易时间"),
        (lambda t: t.rsplit("\r\n", 3)[0] + "\r\n", "no summary"),
        (lambda t: t.replace("`2,`20.00", "`2,`19.98"), "does not add up"),
        (lambda t: t.replace(f"`{MCHID}", "`1234567890", 1), "not ours"),
        (lambda t: "交易时间,foo\r\n", "header"),
        (lambda t: "", "empty"),
    ],
)
def test_broken_bills_are_refused(tmp_path: Path, mangle, message: str) -> None:  # type: ignore[no-untyped-def]
    text = render_trade_bill([row(1, 1999), row(2, 1)]).decode()
    with pytest.raises(BillRefused, match=message):
        read_all(write(tmp_path, mangle(text).encode()))


def test_fees_with_five_decimals_round_half_up_once(tmp_path: Path) -> None:
    text = render_trade_bill([row(1, 1000, fee=6)]).decode()
    text = text.replace("`0.06,", "`0.06499,").replace(
        "`1,`10.00,`0.00,`0.00,`0.06,", "`1,`10.00,`0.00,`0.00,`0.06499,"
    )
    lines, reader = read_all(write(tmp_path, text.encode()))
    assert lines[0][13] == 6 and reader.stats.fee_fen == 6
