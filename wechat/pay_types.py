"""WeChat Pay v3 typed results and errors, and notify parsing (verify, then decrypt)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wechat.pay_crypto import PayCryptoError, PlatformVerifier, decrypt_resource

# --- errors from WeChat ---------------------------------------------------------------------------


class WeChatPayError(Exception):
    """An error answer from WeChat Pay: its HTTP status, its `code` and `message` as WeChat sent them."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        detail: Any = None,
        verified: bool = False,
    ) -> None:
        super().__init__(f"WeChat Pay {status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.detail = detail
        # Error answers are not always signed by WeChat; callers may weigh an unverified one less.
        self.verified = verified

    @property
    def retryable(self) -> bool:
        """Worth the same call again later (WeChat's own advice for these codes)."""
        return self.status_code >= 500 or self.code in _RETRYABLE_CODES


class OrderNotFound(WeChatPayError):
    pass


class OrderPaid(WeChatPayError):
    pass


class OrderClosed(WeChatPayError):
    pass


class SignRejected(WeChatPayError):
    """WeChat refused our signature (401 SIGN_ERROR): keys, serial or clock are wrong."""


class NotEnoughFunds(WeChatPayError):
    pass


class WeChatPayUnavailable(WeChatPayError):
    """No usable answer: timeout, connection failure, 5xx or SYSTEM_ERROR. Safe to retry the same request."""

    @property
    def retryable(self) -> bool:
        return True


class UnexpectedResponse(WeChatPayError):
    """A verified 2xx whose body is not what the API promises."""


_RETRYABLE_CODES = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED", "BANK_ERROR", "SYSTEMERROR", "BANKERROR"})
_BY_CODE: dict[str, type[WeChatPayError]] = {
    "ORDER_NOT_EXIST": OrderNotFound,
    "ORDERNOTEXIST": OrderNotFound,
    "RESOURCE_NOT_EXISTS": OrderNotFound,
    "ORDERPAID": OrderPaid,
    "ORDER_PAID": OrderPaid,
    "ORDER_CLOSED": OrderClosed,
    "ORDERCLOSED": OrderClosed,
    "SIGN_ERROR": SignRejected,
    "NOT_ENOUGH": NotEnoughFunds,
    "SYSTEM_ERROR": WeChatPayUnavailable,
}


def error_from_response(status_code: int, body: bytes, *, verified: bool) -> WeChatPayError:
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    code = str(data.get("code") or f"HTTP_{status_code}")
    message = str(data.get("message") or body[:200].decode("utf-8", "replace") or "no message")
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = WeChatPayUnavailable if status_code >= 500 else WeChatPayError
    return cls(status_code, code, message, detail=data.get("detail"), verified=verified)


# --- typed results --------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """WeChat's RFC 3339 times (`2018-06-08T10:34:56+08:00`)."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Transaction:
    """A payment as WeChat reports it (query answer or decrypted TRANSACTION.* notify)."""

    appid: str
    mchid: str
    out_trade_no: str
    trade_state: str
    trade_state_desc: str
    transaction_id: str | None
    trade_type: str | None
    total_fen: int | None
    payer_total_fen: int | None
    currency: str | None
    openid: str | None
    success_time: datetime | None
    attach: str | None
    bank_type: str | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Transaction:
        amount = data.get("amount") or {}
        payer = data.get("payer") or {}
        return cls(
            appid=str(data.get("appid", "")),
            mchid=str(data.get("mchid", "")),
            out_trade_no=str(data.get("out_trade_no", "")),
            trade_state=str(data.get("trade_state", "")),
            trade_state_desc=str(data.get("trade_state_desc", "")),
            transaction_id=data.get("transaction_id") or None,
            trade_type=data.get("trade_type") or None,
            total_fen=_int(amount.get("total")),
            payer_total_fen=_int(amount.get("payer_total")),
            currency=amount.get("currency"),
            openid=payer.get("openid"),
            success_time=parse_time(data.get("success_time")),
            attach=data.get("attach"),
            bank_type=data.get("bank_type"),
            raw=dict(data),
        )

    @property
    def paid(self) -> bool:
        # REFUND means it was paid and (partly) refunded since.
        return self.trade_state in ("SUCCESS", "REFUND")


@dataclass(frozen=True)
class Refund:
    """A refund as WeChat reports it (refund/query answers, or a decrypted REFUND.* notify)."""

    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    status: str
    refund_fen: int | None
    total_fen: int | None
    currency: str | None
    success_time: datetime | None
    create_time: datetime | None
    user_received_account: str | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Refund:
        amount = data.get("amount") or {}
        return cls(
            out_refund_no=str(data.get("out_refund_no", "")),
            refund_id=str(data.get("refund_id", "")),
            out_trade_no=str(data.get("out_trade_no", "")),
            transaction_id=str(data.get("transaction_id", "")),
            # the API says `status`, the notify says `refund_status`
            status=str(data.get("status") or data.get("refund_status") or ""),
            refund_fen=_int(amount.get("refund")),
            total_fen=_int(amount.get("total")),
            currency=amount.get("currency"),
            success_time=parse_time(data.get("success_time")),
            create_time=parse_time(data.get("create_time")),
            user_received_account=data.get("user_received_account"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class BillDescriptor:
    hash_type: str
    hash_value: str
    download_url: str


# --- notifies -------------------------------------------------------------------------------------


class NotifyError(Exception):
    """A notify body that verified but is not a WeChat Pay notification we can read."""


@dataclass(frozen=True)
class PayNotify:
    """A verified, decrypted notification: `resource` is the plaintext object."""

    id: str
    create_time: datetime | None
    event_type: str
    resource_type: str
    summary: str
    original_type: str
    resource: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def is_transaction(self) -> bool:
        return self.event_type.startswith("TRANSACTION.")

    @property
    def is_refund(self) -> bool:
        return self.event_type.startswith("REFUND.")

    def transaction(self) -> Transaction:
        if not self.is_transaction:
            raise NotifyError(f"{self.event_type} is not a payment notification")
        return Transaction.from_json(self.resource)

    def refund(self) -> Refund:
        if not self.is_refund:
            raise NotifyError(f"{self.event_type} is not a refund notification")
        return Refund.from_json(self.resource)


def parse_notify(
    headers: Mapping[str, str] | Any,
    raw_body: bytes,
    *,
    verifier: PlatformVerifier,
    apiv3_key: str | bytes,
    now: datetime | None = None,
) -> PayNotify:
    """Verify the platform signature over the raw body, then decrypt the resource.

    Raises SignatureError (untrusted: answer 401), DecryptError or NotifyError (answer 400). Nothing
    from the body is looked at before the signature verified.
    """
    verifier.verify(headers, raw_body, now=now)
    try:
        envelope = json.loads(raw_body)
    except ValueError:
        raise NotifyError("the notify body is not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("resource"), dict):
        raise NotifyError("the notify has no resource object")
    if envelope.get("resource_type", "encrypt-resource") != "encrypt-resource":
        raise NotifyError(f"unsupported resource_type {str(envelope.get('resource_type'))[:40]!r}")
    plaintext = decrypt_resource(envelope["resource"], apiv3_key)
    try:
        resource = json.loads(plaintext)
    except ValueError:
        raise NotifyError("the decrypted resource is not JSON") from None
    if not isinstance(resource, dict):
        raise NotifyError("the decrypted resource is not an object")
    return PayNotify(
        id=str(envelope.get("id", "")),
        create_time=parse_time(envelope.get("create_time")),
        event_type=str(envelope.get("event_type", "")),
        resource_type=str(envelope.get("resource_type", "")),
        summary=str(envelope.get("summary", "")),
        original_type=str(envelope["resource"].get("original_type", "")),
        resource=resource,
        raw=envelope,
    )


__all__ = [
    "BillDescriptor",
    "NotEnoughFunds",
    "NotifyError",
    "OrderClosed",
    "OrderNotFound",
    "OrderPaid",
    "PayCryptoError",
    "PayNotify",
    "Refund",
    "SignRejected",
    "Transaction",
    "UnexpectedResponse",
    "WeChatPayError",
    "WeChatPayUnavailable",
    "error_from_response",
    "parse_notify",
    "parse_time",
]
