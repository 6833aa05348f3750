"""Reading a WeChat Pay trade bill file as a stream: gzip or plain, SHA1 over the decompressed bytes, strict rows.

A 1,000,000-line bill is never held in memory: lines are parsed one at a time into small tuples,
handed out in batches, and summed as they pass so the summary line can be checked at the end. Any
broken line, a wrong header, a bad summary or a wrong hash raises `BillRefused`; the caller imports
inside one transaction, so a refused bill leaves nothing behind.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from core.money import MoneyError, yuan_to_fen
from wechat.pay_bills import GZIP_MAGIC, SUMMARY_HEADER, TRADE_BILL_HEADER

BATCH = 5000
# The columns reconciliation uses (交易时间 公众账号ID 商户号 微信订单号 商户订单号 交易状态 应结订单金额 微信退款单号
# 商户退款单号 退款金额 充值券退款金额 退款状态 手续费 订单金额 申请退款金额).
_pick = operator.itemgetter(0, 1, 2, 5, 6, 9, 12, 14, 15, 16, 17, 19, 22, 24, 25)
# The columns of the staging table, in the order of the tuples `iter_batches` yields.
COLUMNS = (
    "line_no",
    "trade_time",
    "appid",
    "mchid",
    "transaction_id",
    "out_trade_no",
    "trade_state",
    "settle_fen",
    "order_fen",
    "refund_id",
    "out_refund_no",
    "refund_fen",
    "refund_status",
    "fee_fen",
    "is_refund",
)


class BillRefused(ValueError):
    """The bill file cannot be trusted or read; nothing of it is imported."""


class _HashingReader(io.RawIOBase):
    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha1 = hashlib.sha1(usedforsecurity=False)
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha1.update(data)
        self.size += n
        return n


def open_decompressed(path: Path) -> IO[bytes]:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


@functools.lru_cache(maxsize=65536)
def _fen(text: str) -> int:
    return yuan_to_fen(text, allow_negative=True)


def _fee(text: str) -> int:
    """Fees may carry up to 5 decimals; a bill's fee total is settled in fen: round half up once, here."""
    whole, _, frac = text.partition(".")
    if len(frac) <= 2:
        return _fen(text)
    sign = -1 if whole.startswith("-") else 1
    digits = whole.lstrip("-") or "0"
    if not (digits.isdigit() and frac.isdigit() and len(frac) <= 5):
        raise MoneyError(f"{text!r} is not an amount")
    units = int(digits) * 100_000 + int(frac.ljust(5, "0"))
    return sign * ((units + 500) // 1000)


@dataclass
class BillStats:
    rows: int = 0
    payment_rows: int = 0
    refund_rows: int = 0
    settle_fen: int = 0
    order_fen: int = 0
    refund_fen: int = 0
    requested_refund_fen: int = 0
    coupon_refund_fen: int = 0
    fee_fen: int = 0
    sha1: str = ""
    bytes: int = 0
    summary: dict[str, int] = field(default_factory=dict)


class BillReader:
    """Iterate a bill file's lines as staging tuples; `stats` holds sums, the summary and the SHA1 afterwards."""

    def __init__(self, path: Path, *, mchid: str | None = None, expected_sha1: str | None = None) -> None:
        self.path = path
        self.mchid = mchid
        self.expected_sha1 = expected_sha1.lower() if expected_sha1 else None
        self.stats = BillStats()

    def lines(self) -> Iterator[tuple[Any, ...]]:
        raw = _HashingReader(open_decompressed(self.path))
        try:
            text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding="utf-8-sig", newline="")
            yield from self._parse(csv.reader(text))
            text.read()  # anything after the summary still counts for the hash
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
            raise BillRefused(f"the bill file cannot be read: {type(exc).__name__}: {exc}") from None
        finally:
            raw.raw.close()
        self.stats.sha1 = raw.sha1.hexdigest()
        self.stats.bytes = raw.size
        if self.expected_sha1 and self.stats.sha1 != self.expected_sha1:
            raise BillRefused(f"bill SHA1 {self.stats.sha1} does not match the announced {self.expected_sha1}")
        self._check_summary()

    def batches(self, size: int = BATCH) -> Iterator[list[tuple[Any, ...]]]:
        batch: list[tuple[Any, ...]] = []
        for line in self.lines():
            batch.append(line)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _parse(self, reader: Any) -> Iterator[tuple[Any, ...]]:
        header: list[str] | None = None
        summary_next = False
        s = self.stats
        for lineno, cells in enumerate(reader, start=1):
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if header is None:
                header = [c.strip() for c in cells]
                if header[: len(TRADE_BILL_HEADER) - 1] != TRADE_BILL_HEADER[: len(TRADE_BILL_HEADER) - 1]:
                    raise BillRefused(f"line {lineno} is not the trade bill header ({','.join(header[:4])}…)")
                width = len(header)
                continue
            first = cells[0].strip()
            if first == SUMMARY_HEADER[0]:
                summary_next = True
                continue
            if summary_next:
                self._read_summary(lineno, cells)
                summary_next = False
                continue
            if s.summary:
                raise BillRefused(f"line {lineno}: a trade line after the summary")
            if len(cells) != width:
                raise BillRefused(f"line {lineno}: {len(cells)} fields, a trade bill line has {width}")
            # Only the columns reconciliation uses; every WeChat value starts with a backtick.
            (
                when,
                appid,
                mchid,
                txn,
                out_trade_no,
                state,
                settle_t,
                refund_id,
                out_refund_no,
                refund_t,
                coupon_refund_t,
                refund_status,
                fee_t,
                order_t,
                requested_t,
            ) = [x[1:].strip() if x[:1] == "`" else x.strip() for x in _pick(cells)]
            try:
                settle, refund = _fen(settle_t), _fen(refund_t)
                order, fee = _fen(order_t), _fee(fee_t)
                requested, coupon_refund = _fen(requested_t), _fen(coupon_refund_t)
            except MoneyError as exc:
                raise BillRefused(f"line {lineno}: {exc}") from None
            if len(when) != 19 or when[4] != "-" or when[13] != ":":
                raise BillRefused(f"line {lineno}: 交易时间 {when!r} is not YYYY-MM-DD HH:MM:SS")
            if self.mchid is not None and mchid != self.mchid:
                raise BillRefused(f"line {lineno}: merchant {mchid!r} is not ours ({self.mchid}); wrong bill file?")
            is_refund = out_refund_no not in ("", "0")
            if not out_trade_no:
                raise BillRefused(f"line {lineno}: no 商户订单号")
            s.rows += 1
            if is_refund:
                s.refund_rows += 1
            else:
                s.payment_rows += 1
            s.settle_fen += settle
            s.order_fen += order
            s.refund_fen += refund
            s.requested_refund_fen += requested
            s.coupon_refund_fen += coupon_refund
            s.fee_fen += fee
            yield (
                s.rows,
                when,
                appid,
                mchid,
                txn,
                out_trade_no,
                state,
                settle,
                order,
                refund_id,
                out_refund_no,
                refund,
                refund_status,
                fee,
                is_refund,
            )
        if header is None:
            raise BillRefused("the bill file is empty")

    def _read_summary(self, lineno: int, cells: list[str]) -> None:
        v = [c.strip().removeprefix("`") for c in cells]
        if len(v) < len(SUMMARY_HEADER):
            raise BillRefused(f"line {lineno}: the summary has {len(v)} fields, expected {len(SUMMARY_HEADER)}")
        try:
            self.stats.summary = {
                "count": int(v[0]),
                "settle_fen": _fen(v[1]),
                "refund_fen": _fen(v[2]),
                "coupon_refund_fen": _fen(v[3]),
                "fee_fen": _fee(v[4]),
                "order_fen": _fen(v[5]),
                "requested_refund_fen": _fen(v[6]),
            }
        except (MoneyError, ValueError) as exc:
            raise BillRefused(f"line {lineno}: bad summary: {exc}") from None

    def _check_summary(self) -> None:
        s, summary = self.stats, self.stats.summary
        if not summary:
            raise BillRefused("the bill has no summary line (truncated?)")
        computed = {
            "count": s.rows,
            "settle_fen": s.settle_fen,
            "refund_fen": s.refund_fen,
            "coupon_refund_fen": s.coupon_refund_fen,
            "fee_fen": s.fee_fen,
            "order_fen": s.order_fen,
            "requested_refund_fen": s.requested_refund_fen,
        }
        wrong = [f"{k}: summary {summary[k]} vs lines {computed[k]}" for k in computed if summary[k] != computed[k]]
        if wrong:
            raise BillRefused("the bill's summary does not add up to its lines (" + "; ".join(wrong) + ")")
