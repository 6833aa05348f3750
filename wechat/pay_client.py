"""Async WeChat Pay v3 client: signed requests, verified answers, the ~10 calls the project makes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa

from core.clock import SHANGHAI
from core.settings import Settings, get_settings
from wechat.pay_bills import TradeBill, open_bill_file, parse_trade_bill
from wechat.pay_crypto import (
    HEADER_SIGNATURE,
    PlatformVerifier,
    build_authorization,
    jsapi_pay_params,
    load_private_key,
    load_public_key,
)
from wechat.pay_types import (
    BillDescriptor,
    PayNotify,
    Refund,
    Transaction,
    UnexpectedResponse,
    WeChatPayUnavailable,
    error_from_response,
    parse_notify,
)

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "o2o-wechatpay/1.0 (+httpx)"


@dataclass(frozen=True)
class PayResponse:
    status_code: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError:
            raise UnexpectedResponse(self.status_code, "BAD_BODY", "the answer is not JSON") from None
        if not isinstance(data, dict):
            raise UnexpectedResponse(self.status_code, "BAD_BODY", "the answer is not a JSON object")
        return data


def _compact_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def rfc3339(value: datetime) -> str:
    """WeChat wants `2018-06-08T10:34:56+08:00`: seconds, an explicit offset."""
    if value.tzinfo is None:
        raise ValueError("time_expire must be timezone-aware")
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds")


class WeChatPayClient:
    """One merchant's v3 API. Signs paths relative to `base_url`; verifies every answer it trusts."""

    def __init__(
        self,
        *,
        base_url: str,
        mchid: str,
        appid: str,
        merchant_private_key: rsa.RSAPrivateKey | bytes | str | Path,
        merchant_serial: str,
        platform_keys: PlatformVerifier | Mapping[str, rsa.RSAPublicKey] | Iterable[tuple[str, rsa.RSAPublicKey]],
        apiv3_key: str,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.mchid = mchid
        self.appid = appid
        self.merchant_serial = merchant_serial
        self._private_key = (
            merchant_private_key
            if isinstance(merchant_private_key, rsa.RSAPrivateKey)
            else load_private_key(merchant_private_key)
        )
        self.verifier = (
            platform_keys if isinstance(platform_keys, PlatformVerifier) else PlatformVerifier(platform_keys)
        )
        if len(apiv3_key.encode()) != 32:
            raise ValueError("the APIv3 key must be exactly 32 bytes")
        self._apiv3_key = apiv3_key
        self._base_raw_path = httpx.URL(self.base_url + "/").raw_path.decode("ascii").rstrip("/")
        self._http = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:  # never show keys
        return f"WeChatPayClient(base_url={self.base_url!r}, mchid={self.mchid!r})"

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> WeChatPayClient:
        s = settings or get_settings()
        kwargs: dict[str, Any] = {
            "base_url": s.wechatpay_api,
            "mchid": s.wechatpay_mchid,
            "appid": s.wechat_appid,
            "merchant_private_key": s.merchant_key_path,
            "merchant_serial": s.wechatpay_merchant_serial,
            "apiv3_key": s.wechatpay_apiv3_key,
        }
        if "platform_keys" not in overrides:
            kwargs["platform_keys"] = PlatformVerifier.from_files(s.platform_serials, s.platform_public_key_paths)
        kwargs.update(overrides)
        return cls(**kwargs)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> WeChatPayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- transport ----------------------------------------------------------------------------

    def _url(self, path: str, params: Mapping[str, Any] | None) -> httpx.URL:
        if params:
            path = f"{path}?{urlencode({k: v for k, v in params.items() if v is not None})}"
        return httpx.URL(self.base_url + path)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        url: httpx.URL | None = None,
        verify: bool = True,
    ) -> PayResponse:
        """Send one signed request; raise WeChatPayError for error answers, SignatureError for forged ones."""
        url = url or self._url(path, params)
        body = _compact_json(json_body) if json_body is not None else b""
        # Sign exactly the bytes on the wire, relative to the base URL's path (works under a mount prefix).
        wire_path = url.raw_path.decode("ascii")
        if wire_path.startswith(self._base_raw_path + "/"):
            wire_path = wire_path[len(self._base_raw_path) :]
        headers = {
            "Authorization": build_authorization(
                method,
                wire_path,
                body,
                mchid=self.mchid,
                serial_no=self.merchant_serial,
                private_key=self._private_key,
            ),
            # Public-key mode: tell WeChat which platform key we hold (needed for sensitive-field encryption).
            "Wechatpay-Serial": self.verifier.serials[0],
        }
        if body:
            headers["Content-Type"] = "application/json"
        try:
            resp = await self._http.request(method, url, content=body or None, headers=headers)
        except httpx.TimeoutException as exc:
            log.warning("wechatpay_timeout", method=method, path=path)
            raise WeChatPayUnavailable(
                0, "TIMEOUT", f"no answer from WeChat Pay in time ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            log.warning("wechatpay_unreachable", method=method, path=path, error=type(exc).__name__)
            raise WeChatPayUnavailable(0, "UNREACHABLE", f"WeChat Pay is unreachable ({type(exc).__name__})") from exc
        result = PayResponse(resp.status_code, resp.headers, resp.content)
        if 200 <= resp.status_code < 300:
            if verify:
                self.verifier.verify(resp.headers, resp.content)
            log.debug("wechatpay_call", method=method, path=path, status=resp.status_code)
            return result
        verified = False
        if verify and resp.headers.get(HEADER_SIGNATURE):
            # A signed error answer must verify; an unsigned one is reported as unverified.
            self.verifier.verify(resp.headers, resp.content)
            verified = True
        error = error_from_response(resp.status_code, resp.content, verified=verified)
        log.info("wechatpay_error", method=method, path=path, status=resp.status_code, code=error.code)
        raise error

    # --- orders -------------------------------------------------------------------------------

    def _order_body(
        self,
        *,
        out_trade_no: str,
        description: str,
        total_fen: int,
        notify_url: str,
        time_expire: datetime | None,
        attach: str | None,
    ) -> dict[str, Any]:
        if isinstance(total_fen, bool) or not isinstance(total_fen, int) or total_fen <= 0:
            raise ValueError("total_fen must be a positive integer number of fen")
        body: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "description": description,
            "out_trade_no": out_trade_no,
            "notify_url": notify_url,
            "amount": {"total": total_fen, "currency": "CNY"},
        }
        if time_expire is not None:
            body["time_expire"] = rfc3339(time_expire)
        if attach:
            body["attach"] = attach
        return body

    async def create_jsapi_order(
        self,
        *,
        out_trade_no: str,
        description: str,
        total_fen: int,
        openid: str,
        notify_url: str,
        time_expire: datetime | None = None,
        attach: str | None = None,
    ) -> str:
        """Place a JSAPI order; returns the prepay_id (valid 2 h) for `jsapi_params`."""
        body = self._order_body(
            out_trade_no=out_trade_no,
            description=description,
            total_fen=total_fen,
            notify_url=notify_url,
            time_expire=time_expire,
            attach=attach,
        )
        body["payer"] = {"openid": openid}
        data = (await self.request("POST", "/v3/pay/transactions/jsapi", json_body=body)).json()
        prepay_id = data.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise UnexpectedResponse(200, "NO_PREPAY_ID", "the JSAPI order answer has no prepay_id")
        return prepay_id

    async def create_native_order(
        self,
        *,
        out_trade_no: str,
        description: str,
        total_fen: int,
        notify_url: str,
        time_expire: datetime | None = None,
        attach: str | None = None,
    ) -> str:
        """Place a Native (QR) order; returns the code_url to render as a QR code."""
        body = self._order_body(
            out_trade_no=out_trade_no,
            description=description,
            total_fen=total_fen,
            notify_url=notify_url,
            time_expire=time_expire,
            attach=attach,
        )
        data = (await self.request("POST", "/v3/pay/transactions/native", json_body=body)).json()
        code_url = data.get("code_url")
        if not isinstance(code_url, str) or not code_url:
            raise UnexpectedResponse(200, "NO_CODE_URL", "the Native order answer has no code_url")
        return code_url

    def jsapi_params(self, prepay_id: str) -> dict[str, str]:
        """The `getBrandWCPayRequest` object for a prepay_id, signed with the merchant key."""
        return jsapi_pay_params(self._private_key, app_id=self.appid, prepay_id=prepay_id)

    async def query_order(self, out_trade_no: str) -> Transaction:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}"
        data = (await self.request("GET", path, params={"mchid": self.mchid})).json()
        return Transaction.from_json(data)

    async def close_order(self, out_trade_no: str) -> None:
        """Close an unpaid order (WeChat answers 204); raises OrderPaid when it was paid meanwhile."""
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close"
        await self.request("POST", path, json_body={"mchid": self.mchid})

    # --- refunds ------------------------------------------------------------------------------

    async def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        notify_url: str | None = None,
        reason: str | None = None,
    ) -> Refund:
        """Ask for a refund; idempotent on WeChat's side by out_refund_no. Usually answers PROCESSING."""
        for name, value in (("refund_fen", refund_fen), ("total_fen", total_fen)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer number of fen")
        body: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"},
        }
        if notify_url:
            body["notify_url"] = notify_url
        if reason:
            body["reason"] = reason
        data = (await self.request("POST", "/v3/refund/domestic/refunds", json_body=body)).json()
        return Refund.from_json(data)

    async def query_refund(self, out_refund_no: str) -> Refund:
        path = f"/v3/refund/domestic/refunds/{quote(out_refund_no, safe='')}"
        return Refund.from_json((await self.request("GET", path)).json())

    # --- bills --------------------------------------------------------------------------------

    async def trade_bill(self, bill_date: date, *, bill_type: str = "ALL", gzip: bool = False) -> BillDescriptor:
        params = {
            "bill_date": bill_date.isoformat(),
            "bill_type": bill_type,
            "tar_type": "GZIP" if gzip else None,
        }
        data = (await self.request("GET", "/v3/bill/tradebill", params=params)).json()
        try:
            return BillDescriptor(str(data["hash_type"]), str(data["hash_value"]), str(data["download_url"]))
        except KeyError as exc:
            raise UnexpectedResponse(200, "BAD_BILL", f"the trade bill answer lacks {exc.args[0]}") from None

    async def download_bill(self, descriptor: BillDescriptor) -> bytes:
        """The decompressed bill file, after its digest matched the one from the (verified) bill answer."""
        url = httpx.URL(descriptor.download_url)
        # WeChat does not sign the file itself; the verified hash_value is what makes it trustworthy.
        resp = await self.request("GET", url.raw_path.decode("ascii"), url=url, verify=False)
        return open_bill_file(resp.body, hash_type=descriptor.hash_type, hash_value=descriptor.hash_value)

    async def fetch_trade_bill(self, bill_date: date, *, bill_type: str = "ALL", gzip: bool = True) -> TradeBill:
        descriptor = await self.trade_bill(bill_date, bill_type=bill_type, gzip=gzip)
        return parse_trade_bill(await self.download_bill(descriptor))

    # --- callbacks ----------------------------------------------------------------------------

    def parse_notify(self, headers: Mapping[str, str] | Any, raw_body: bytes) -> PayNotify:
        """Verify then decrypt a notify (see `wechat.pay_types.parse_notify`)."""
        return parse_notify(headers, raw_body, verifier=self.verifier, apiv3_key=self._apiv3_key)


def platform_verifier_from_settings(settings: Settings | None = None) -> PlatformVerifier:
    s = settings or get_settings()
    return PlatformVerifier.from_files(s.platform_serials, s.platform_public_key_paths)


def load_platform_keys(pairs: Iterable[tuple[str, str | bytes | Path]]) -> PlatformVerifier:
    """Serial/PEM pairs (a rotation holds two) into a verifier."""
    return PlatformVerifier((serial, load_public_key(pem)) for serial, pem in pairs)
