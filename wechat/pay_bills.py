"""WeChat Pay trade bill file format: columns, writing, parsing, SHA1/gzip checks."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.clock import SHANGHAI
from core.money import MoneyError, fen_to_yuan, yuan_to_fen

TRADE_BILL_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
    "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
).split(",")
SUMMARY_HEADER = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额".split(
    ","
)
BILL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
GZIP_MAGIC = b"\x1f\x8b"


class BillError(ValueError):
    """A bill file that is not what WeChat's format or hash says."""


class BillHashMismatch(BillError):
    pass


@dataclass(frozen=True)
class TradeBillRow:
    """One line of the bill. Payment lines have amounts in settlement/order; refund lines in refund fields."""

    trade_time: datetime
    appid: str
    mchid: str
    sub_mchid: str
    device_info: str
    transaction_id: str
    out_trade_no: str
    openid: str
    trade_type: str
    trade_state: str
    bank_type: str
    currency: str
    settlement_total_fen: int
    coupon_fen: int
    refund_id: str
    out_refund_no: str
    refund_fen: int
    coupon_refund_fen: int
    refund_type: str
    refund_status: str
    description: str
    attach: str
    fee_fen: int
    fee_rate: str
    total_fen: int
    requested_refund_fen: int
    fee_rate_note: str = ""

    @property
    def is_refund(self) -> bool:
        # WeChat writes `0 in the refund-number columns of payment lines
        return self.out_refund_no not in ("", "0")


@dataclass(frozen=True)
class TradeBillSummary:
    count: int
    settlement_total_fen: int
    refund_fen: int
    coupon_refund_fen: int
    fee_fen: int
    total_fen: int
    requested_refund_fen: int


@dataclass
class TradeBill:
    rows: list[TradeBillRow] = field(default_factory=list)
    summary: TradeBillSummary | None = None

    def check_summary(self) -> None:
        """Raise BillError when the summary line does not add up to the lines (a truncated or edited file)."""
        if self.summary is None:
            raise BillError("the bill has no summary lines")
        computed = summarize(self.rows)
        if computed != self.summary:
            raise BillError(f"the bill summary {self.summary} does not match its lines {computed}")


def summarize(rows: Sequence[TradeBillRow]) -> TradeBillSummary:
    return TradeBillSummary(
        count=len(rows),
        settlement_total_fen=sum(r.settlement_total_fen for r in rows),
        refund_fen=sum(r.refund_fen for r in rows),
        coupon_refund_fen=sum(r.coupon_refund_fen for r in rows),
        fee_fen=sum(r.fee_fen for r in rows),
        total_fen=sum(r.total_fen for r in rows),
        requested_refund_fen=sum(r.requested_refund_fen for r in rows),
    )


# --- writing (the sandbox) ------------------------------------------------------------------------


def _tick(value: object) -> str:
    # WeChat prefixes every value with a backtick so spreadsheets keep long ids as text.
    return "`" + str(value)


def _row_fields(r: TradeBillRow) -> list[str]:
    return [
        r.trade_time.astimezone(SHANGHAI).strftime(BILL_TIME_FORMAT),
        r.appid,
        r.mchid,
        r.sub_mchid,
        r.device_info,
        r.transaction_id,
        r.out_trade_no,
        r.openid,
        r.trade_type,
        r.trade_state,
        r.bank_type,
        r.currency,
        fen_to_yuan(r.settlement_total_fen),
        fen_to_yuan(r.coupon_fen),
        r.refund_id,
        r.out_refund_no,
        fen_to_yuan(r.refund_fen),
        fen_to_yuan(r.coupon_refund_fen),
        r.refund_type,
        r.refund_status,
        r.description,
        r.attach,
        fen_to_yuan(r.fee_fen),
        r.fee_rate,
        fen_to_yuan(r.total_fen),
        fen_to_yuan(r.requested_refund_fen),
        r.fee_rate_note,
    ]


def render_trade_bill(rows: Iterable[TradeBillRow]) -> bytes:
    """The bill file as WeChat serves it (UTF-8, CRLF), summary computed from the lines."""
    rows = list(rows)
    out = io.StringIO()
    # Free text (description, attach) may hold commas: the csv module quotes those fields.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TRADE_BILL_HEADER)
    for r in rows:
        writer.writerow([_tick(v) for v in _row_fields(r)])
    s = summarize(rows)
    writer.writerow(SUMMARY_HEADER)
    writer.writerow(
        [
            _tick(s.count),
            _tick(fen_to_yuan(s.settlement_total_fen)),
            _tick(fen_to_yuan(s.refund_fen)),
            _tick(fen_to_yuan(s.coupon_refund_fen)),
            _tick(fen_to_yuan(s.fee_fen)),
            _tick(fen_to_yuan(s.total_fen)),
            _tick(fen_to_yuan(s.requested_refund_fen)),
        ]
    )
    return out.getvalue().encode("utf-8")


# --- reading (the merchant) -----------------------------------------------------------------------

_FEE = re.compile(r"^(?P<sign>-)?(?P<int>\d+)(?:\.(?P<frac>\d{1,5}))?$")


def _untick(value: str) -> str:
    value = value.strip()
    return value[1:] if value.startswith("`") else value


def _fen(value: str, *, column: str) -> int:
    try:
        return yuan_to_fen(_untick(value) or "0", allow_negative=True)
    except MoneyError as exc:
        raise BillError(f"column {column}: {exc}") from None


def _fee_fen(value: str) -> int:
    # WeChat prints fees with up to 5 decimals; a bill total is settled in fen, so round half up once here.
    text = _untick(value) or "0"
    m = _FEE.match(text)
    if not m:
        raise BillError(f"column 手续费: {text!r} is not an amount")
    hundred_thousandths = int(m.group("int")) * 100_000 + int((m.group("frac") or "").ljust(5, "0"))
    fen = (hundred_thousandths + 500) // 1000
    return -fen if m.group("sign") else fen


def _parse_time(value: str) -> datetime:
    try:
        return datetime.strptime(_untick(value), BILL_TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise BillError(f"column 交易时间: {value!r} is not YYYY-MM-DD HH:MM:SS") from None


def parse_trade_bill(data: bytes | str) -> TradeBill:
    """Parse a decompressed trade bill (ALL/SUCCESS/REFUND) into lines and its summary, amounts in fen."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text))
    bill = TradeBill()
    header: list[str] | None = None
    in_summary = False
    for lineno, raw in enumerate(reader, start=1):
        if not raw or not any(cell.strip() for cell in raw):
            continue
        cells = [c.strip() for c in raw]
        if header is None:
            header = cells
            if header[:3] != TRADE_BILL_HEADER[:3]:
                raise BillError(f"line 1 is not a trade bill header: {','.join(header[:4])}…")
            continue
        if cells[0] == SUMMARY_HEADER[0]:
            in_summary = True
            continue
        if in_summary:
            if len(cells) < len(SUMMARY_HEADER):
                raise BillError(f"line {lineno}: the summary has {len(cells)} fields, expected 7")
            bill.summary = TradeBillSummary(
                count=int(_untick(cells[0]) or "0"),
                settlement_total_fen=_fen(cells[1], column="应结订单总金额"),
                refund_fen=_fen(cells[2], column="退款总金额"),
                coupon_refund_fen=_fen(cells[3], column="充值券退款总金额"),
                fee_fen=_fee_fen(cells[4]),
                total_fen=_fen(cells[5], column="订单总金额"),
                requested_refund_fen=_fen(cells[6], column="申请退款总金额"),
            )
            continue
        row = dict(zip(header, cells, strict=False))
        if len(cells) < 26:
            raise BillError(f"line {lineno}: {len(cells)} fields, a trade bill line has {len(header)}")
        bill.rows.append(
            TradeBillRow(
                trade_time=_parse_time(row["交易时间"]),
                appid=_untick(row["公众账号ID"]),
                mchid=_untick(row["商户号"]),
                sub_mchid=_untick(row.get("特约商户号", "")),
                device_info=_untick(row.get("设备号", "")),
                transaction_id=_untick(row["微信订单号"]),
                out_trade_no=_untick(row["商户订单号"]),
                openid=_untick(row["用户标识"]),
                trade_type=_untick(row["交易类型"]),
                trade_state=_untick(row["交易状态"]),
                bank_type=_untick(row.get("付款银行", "")),
                currency=_untick(row.get("货币种类", "")),
                settlement_total_fen=_fen(row["应结订单金额"], column="应结订单金额"),
                coupon_fen=_fen(row.get("代金券金额", ""), column="代金券金额"),
                refund_id=_untick(row.get("微信退款单号", "")),
                out_refund_no=_untick(row.get("商户退款单号", "")),
                refund_fen=_fen(row.get("退款金额", ""), column="退款金额"),
                coupon_refund_fen=_fen(row.get("充值券退款金额", ""), column="充值券退款金额"),
                refund_type=_untick(row.get("退款类型", "")),
                refund_status=_untick(row.get("退款状态", "")),
                description=_untick(row.get("商品名称", "")),
                attach=_untick(row.get("商户数据包", "")),
                fee_fen=_fee_fen(row.get("手续费", "")),
                fee_rate=_untick(row.get("费率", "")),
                total_fen=_fen(row.get("订单金额", ""), column="订单金额"),
                requested_refund_fen=_fen(row.get("申请退款金额", ""), column="申请退款金额"),
                fee_rate_note=_untick(row.get("费率备注", "")),
            )
        )
    if header is None:
        raise BillError("the bill file is empty")
    return bill


# --- file integrity -------------------------------------------------------------------------------


def bill_digest(data: bytes, hash_type: str = "SHA1") -> str:
    if hash_type.upper() != "SHA1":
        raise BillError(f"unsupported bill hash type {hash_type!r}")
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def gzip_bill(data: bytes) -> bytes:
    # mtime=0 so the same bill compresses to the same bytes (repeatable downloads).
    return gzip.compress(data, mtime=0)


def open_bill_file(payload: bytes, *, hash_type: str, hash_value: str) -> bytes:
    """Decompress (when gzip) and check the digest over the decompressed file, as WeChat defines it."""
    data = payload
    if payload[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(payload)
        except (OSError, EOFError) as exc:
            raise BillError(f"the gzip bill file is corrupt: {exc}") from None
    digest = bill_digest(data, hash_type)
    if digest.lower() != hash_value.lower():
        raise BillHashMismatch(f"bill {hash_type} {digest} does not match the announced {hash_value}")
    return data
