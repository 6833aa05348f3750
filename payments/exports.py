"""Finance exports: CSV (UTF-8 with BOM, so Excel reads the Chinese headers) and XLSX (openpyxl), amounts in yuan."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from core.clock import SHANGHAI
from core.money import fen_to_yuan

# The reports finance can export: their Chinese column headers, in order.
HEADERS: dict[str, tuple[str, ...]] = {
    "summary": (
        "日期",
        "支付笔数",
        "成交总额(元)",
        "微信实收(元)",
        "退款(元)",
        "手续费(元)",
        "净额(元)",
        "对账状态",
        "未处理差异",
    ),
    "mismatches": (
        "账单日期",
        "差异类型",
        "单号",
        "账单金额(元)",
        "本地金额(元)",
        "账单状态",
        "本地状态",
        "说明",
        "处理状态",
        "处理备注",
        "处理人",
        "处理时间",
    ),
    "refunds": (
        "退款ID",
        "商户退款单号",
        "类型",
        "订单",
        "退款金额(元)",
        "微信部分(元)",
        "储值部分(元)",
        "状态",
        "原因",
        "尝试次数",
        "最近错误",
        "申请时间",
        "成功时间",
    ),
    "payments": ("商户订单号", "微信订单号", "订单", "渠道", "金额(元)", "支付时间", "入账结果", "门店"),
    "settlements": (
        "结算单ID",
        "门店",
        "开始日期",
        "结束日期",
        "状态",
        "销售额(元)",
        "配送收入(元)",
        "退款(元)",
        "优惠券成本(总部承担)(元)",
        "佣金比例(%)",
        "佣金(元)",
        "应付门店(元)",
        "确认人",
        "付款参考号",
    ),
}

KIND_NAMES = {
    "missing_locally": "本地缺失",
    "missing_in_bill": "账单缺失",
    "amount_differs": "金额不符",
    "status_differs": "状态不符",
    "refund_differs": "退款不符",
    "fee_totals": "手续费合计不符",
}
STATUS_NAMES = {
    "open": "待处理",
    "resolved": "已处理",
    "cleared": "已自动消除",
    "done": "已完成",
    "refused": "账单被拒",
    "failed": "失败",
    "running": "进行中",
    "not_run": "未对账",
    "draft": "草稿",
    "confirmed": "已确认",
    "paid": "已付款",
}


class Yuan:
    """A fen amount that exports print in yuan (text in CSV, an exact number in XLSX)."""

    __slots__ = ("fen",)

    def __init__(self, fen: int | None) -> None:
        self.fen = fen


def _local(value: datetime) -> datetime:
    return value.astimezone(SHANGHAI).replace(tzinfo=None)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, Yuan):
        return "" if value.fen is None else fen_to_yuan(value.fen)
    if isinstance(value, datetime):
        return _local(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else value


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, Yuan):
        return None if value.fen is None else Decimal(fen_to_yuan(value.fen))
    if isinstance(value, datetime):
        return _local(value)
    return value


def to_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    bold = Font(bold=True)
    header_cells = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=h)
        cell.font = bold
        header_cells.append(cell)
    ws.append(header_cells)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(ws, value=_xlsx_cell(value))
            if isinstance(value, Yuan):
                cell.number_format = "#,##0.00"
            elif isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        ws.append(cells)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def summary_rows(days: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            d["day"],
            d["payments"],
            Yuan(d["gmv_fen"]),
            Yuan(d["paid_fen"]),
            Yuan(d["refunded_fen"]),
            Yuan(d["fees_fen"]),
            Yuan(d["net_fen"]),
            STATUS_NAMES.get(d["reconciliation"], d["reconciliation"]),
            d["open_mismatches"],
        ]
        for d in days
    ]


def mismatch_rows(items: Iterable[Any]) -> list[list[Any]]:
    return [
        [
            m.bill_date,
            KIND_NAMES.get(m.kind, m.kind),
            m.key,
            Yuan(m.bill_amount_fen),
            Yuan(m.local_amount_fen),
            m.bill_status,
            m.local_status,
            m.detail,
            STATUS_NAMES.get(m.status, m.status),
            m.note,
            m.resolved_by,
            m.resolved_at,
        ]
        for m in items
    ]


def refund_rows(items: Iterable[Any]) -> list[list[Any]]:
    return [
        [
            r.id,
            r.out_refund_no,
            r.kind,
            f"{r.payable_kind}:{r.payable_id}",
            Yuan(r.amount_fen),
            Yuan(r.wechat_fen),
            Yuan(r.stored_value_fen),
            r.status,
            r.reason,
            r.attempts,
            r.last_error,
            r.created_at,
            r.succeeded_at,
        ]
        for r in items
    ]


def payment_rows(items: Iterable[Any]) -> list[list[Any]]:
    return [
        [
            i.out_trade_no,
            i.transaction_id,
            f"{i.payable_kind}:{i.payable_id}",
            i.channel,
            Yuan(i.paid_fen),
            i.paid_at,
            i.credit_outcome,
            i.store_id,
        ]
        for i in items
    ]


def settlement_rows(items: Iterable[Any]) -> list[list[Any]]:
    return [
        [
            s.id,
            s.store_id,
            s.period_start,
            s.period_end,
            STATUS_NAMES.get(s.status, s.status),
            Yuan(s.sales_fen),
            Yuan(s.delivery_income_fen),
            Yuan(s.refunds_fen),
            Yuan(s.coupon_cost_fen),
            Decimal(s.commission_bp) / 100,
            Yuan(s.commission_fen),
            Yuan(s.net_payable_fen),
            s.confirmed_by,
            s.payout_ref,
        ]
        for s in items
    ]
