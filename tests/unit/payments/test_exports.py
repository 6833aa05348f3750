"""Exports: Chinese headers, amounts in yuan exactly, CSV Excel can open (BOM), XLSX openpyxl can read back."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import load_workbook

from payments import exports

DAYS = [
    {
        "day": date(2026, 3, 1),
        "payments": 3,
        "gmv_fen": 123456,
        "paid_fen": 120000,
        "refunded_fen": 1,
        "fees_fen": 720,
        "net_fen": 119279,
        "reconciliation": "done",
        "open_mismatches": 0,
    }
]


def test_csv_has_a_bom_chinese_headers_and_yuan() -> None:
    data = exports.to_csv(exports.HEADERS["summary"], exports.summary_rows(DAYS))
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8-sig").splitlines()
    assert text[0].split(",")[:3] == ["日期", "支付笔数", "成交总额(元)"]
    assert text[1] == "2026-03-01,3,1234.56,1200.00,0.01,7.20,1192.79,已完成,0"


def test_xlsx_reads_back_exact_amounts() -> None:
    data = exports.to_xlsx("summary", exports.HEADERS["summary"], exports.summary_rows(DAYS))
    ws = load_workbook(io.BytesIO(data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "日期" and rows[0][7] == "对账状态"
    assert rows[1][2] == Decimal("1234.56") or rows[1][2] == 1234.56
    assert rows[1][4] == 0.01 and rows[1][7] == "已完成"


def test_datetimes_are_shown_in_shanghai_time() -> None:
    class M:
        bill_date = date(2026, 3, 1)
        kind = "amount_differs"
        key = "P1"
        bill_amount_fen = 100
        local_amount_fen = None
        bill_status = "SUCCESS"
        local_status = "paid"
        detail = "amounts differ"
        status = "resolved"
        note = "对过了"
        resolved_by = "finance:1"
        resolved_at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

    text = exports.to_csv(exports.HEADERS["mismatches"], exports.mismatch_rows([M()])).decode("utf-8-sig")
    assert "金额不符" in text and ",1.00,," in text and "2026-03-02 10:00:00" in text
