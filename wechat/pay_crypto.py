"""WeChat Pay v3 cryptography: request signing, platform signature checks, AES-GCM resources, paySign."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core import clock

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
SIGNATURE_TYPE = AUTH_SCHEME
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"
MAX_CLOCK_SKEW_SECONDS = 300
AEAD_ALGORITHM = "AEAD_AES_256_GCM"

HEADER_TIMESTAMP = "Wechatpay-Timestamp"
HEADER_NONCE = "Wechatpay-Nonce"
HEADER_SIGNATURE = "Wechatpay-Signature"
HEADER_SERIAL = "Wechatpay-Serial"
HEADER_SIGNATURE_TYPE = "Wechatpay-Signature-Type"

_NONCE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


# --- errors ---------------------------------------------------------------------------------------


class PayCryptoError(Exception):
    """Base of the WeChat Pay protocol's cryptographic failures."""


class SignatureError(PayCryptoError):
    """A signature that must not be trusted; `reason` is a short machine-readable cause."""

    reason = "bad_signature"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason:
            self.reason = reason


class MissingSignatureHeaders(SignatureError):
    reason = "missing_headers"


class UnknownSerial(SignatureError):
    reason = "unknown_serial"


class StaleTimestamp(SignatureError):
    reason = "stale_timestamp"


class SignTestProbe(SignatureError):
    reason = "signtest_probe"


class DecryptError(PayCryptoError):
    """An AES-GCM resource that does not decrypt with the APIv3 key (wrong key, tampered data)."""


# --- keys -----------------------------------------------------------------------------------------


def load_private_key(pem: bytes | str | Path) -> rsa.RSAPrivateKey:
    """A PKCS#8/PKCS#1 PEM private key, from its text or a file path."""
    data = Path(pem).read_bytes() if isinstance(pem, Path) else (pem.encode() if isinstance(pem, str) else pem)
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PayCryptoError("the WeChat Pay merchant key must be an RSA private key")
    return key


def load_public_key(pem: bytes | str | Path) -> rsa.RSAPublicKey:
    """A PEM public key (or the public key of a PEM certificate), from its text or a file path."""
    data = Path(pem).read_bytes() if isinstance(pem, Path) else (pem.encode() if isinstance(pem, str) else pem)
    if b"BEGIN CERTIFICATE" in data:
        from cryptography import x509

        key: Any = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise PayCryptoError("the WeChat Pay platform key must be an RSA public key")
    return key


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# --- primitives -----------------------------------------------------------------------------------


def new_nonce(length: int = 32) -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def _b(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def rsa_sign(private_key: rsa.RSAPrivateKey, message: bytes | str) -> str:
    """base64(RSA-SHA256 PKCS#1 v1.5) — the one signature every v3 message uses."""
    return base64.b64encode(private_key.sign(_b(message), padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def rsa_verify(public_key: rsa.RSAPublicKey, message: bytes | str, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key.verify(signature, _b(message), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def unix_now() -> int:
    return int(clock.now().timestamp())


# --- merchant → WeChat: request signature ---------------------------------------------------------


def request_message(method: str, path_with_query: str, timestamp: str | int, nonce: str, body: bytes | str) -> bytes:
    """`METHOD\\nPATH\\nTS\\nNONCE\\nBODY\\n` over the exact body bytes sent (empty for GET)."""
    head = f"{method.upper()}\n{path_with_query}\n{timestamp}\n{nonce}\n".encode()
    return head + _b(body) + b"\n"


def build_authorization(
    method: str,
    path_with_query: str,
    body: bytes | str,
    *,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    timestamp: int | str | None = None,
    nonce: str | None = None,
) -> str:
    """The Authorization header value; the path is relative to the API base, as WeChat sees it."""
    ts = str(timestamp if timestamp is not None else unix_now())
    nonce = nonce or new_nonce()
    signature = rsa_sign(private_key, request_message(method, path_with_query, ts, nonce, body))
    return (
        f'{AUTH_SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{ts}",serial_no="{serial_no}"'
    )


@dataclass(frozen=True)
class Authorization:
    mchid: str
    nonce_str: str
    signature: str
    timestamp: str
    serial_no: str


def parse_authorization(header: str | None) -> Authorization:
    """Split an Authorization header into its parameters; raises SignatureError when malformed."""
    if not header:
        raise MissingSignatureHeaders("the Authorization header is missing")
    scheme, _, rest = header.strip().partition(" ")
    if scheme != AUTH_SCHEME:
        raise SignatureError(f"unsupported authorization scheme {scheme[:40]!r}", reason="bad_scheme")
    params = dict(_AUTH_PARAM.findall(rest))
    missing = [k for k in ("mchid", "nonce_str", "signature", "timestamp", "serial_no") if not params.get(k)]
    if missing:
        raise SignatureError(f"the Authorization header lacks {', '.join(missing)}", reason="bad_header")
    return Authorization(
        params["mchid"], params["nonce_str"], params["signature"], params["timestamp"], params["serial_no"]
    )


def check_timestamp(timestamp: str, *, now: datetime | None = None) -> int:
    """Refuse a timestamp further than 300 s from the (injectable) clock, either way."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        raise StaleTimestamp(f"timestamp {str(timestamp)[:20]!r} is not a number") from None
    current = int((now or clock.now()).timestamp())
    if abs(current - ts) > MAX_CLOCK_SKEW_SECONDS:
        raise StaleTimestamp(f"timestamp {ts} is {current - ts} s away from now (limit ±{MAX_CLOCK_SKEW_SECONDS} s)")
    return ts


def verify_request(
    method: str,
    path_with_query: str,
    body: bytes,
    authorization: str | None,
    *,
    merchant_keys: Mapping[str, rsa.RSAPublicKey],
    mchid: str | None = None,
    now: datetime | None = None,
) -> Authorization:
    """The checks WeChat makes on a merchant request (so does the sandbox): serial, mchid, time, signature."""
    auth = parse_authorization(authorization)
    if mchid is not None and auth.mchid != mchid:
        raise SignatureError(f"mchid {auth.mchid!r} is not this merchant", reason="bad_mchid")
    key = merchant_keys.get(auth.serial_no)
    if key is None:
        raise UnknownSerial(f"merchant certificate serial {auth.serial_no[:64]!r} is not known")
    check_timestamp(auth.timestamp, now=now)
    message = request_message(method, path_with_query, auth.timestamp, auth.nonce_str, body)
    if not rsa_verify(key, message, auth.signature):
        raise SignatureError("the request signature does not verify with the merchant key")
    return auth


# --- WeChat → merchant: response and callback signatures ------------------------------------------


def response_message(timestamp: str | int, nonce: str, body: bytes | str) -> bytes:
    return f"{timestamp}\n{nonce}\n".encode() + _b(body) + b"\n"


def sign_response(
    body: bytes,
    *,
    private_key: rsa.RSAPrivateKey,
    serial: str,
    timestamp: int | str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The five Wechatpay-* headers WeChat puts on a response or a callback (the sandbox sends them)."""
    ts = str(timestamp if timestamp is not None else unix_now())
    nonce = nonce or new_nonce()
    return {
        HEADER_TIMESTAMP: ts,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: rsa_sign(private_key, response_message(ts, nonce, body)),
        HEADER_SERIAL: serial,
        HEADER_SIGNATURE_TYPE: SIGNATURE_TYPE,
    }


def _header(headers: Mapping[str, str] | Any, name: str) -> str | None:
    # httpx.Headers, Litestar headers and plain dicts: try as given, then case-insensitively.
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key in headers:
            if isinstance(key, str) and key.lower() == lowered:
                return headers[key]
    return value


@dataclass(frozen=True)
class VerifiedHeaders:
    serial: str
    timestamp: int
    nonce: str


class PlatformVerifier:
    """Verifies WeChat Pay responses and callbacks with platform public keys (two during a rotation)."""

    def __init__(self, keys: Mapping[str, rsa.RSAPublicKey] | Iterable[tuple[str, rsa.RSAPublicKey]]) -> None:
        items = keys.items() if isinstance(keys, Mapping) else keys
        self._keys: dict[str, rsa.RSAPublicKey] = {serial: key for serial, key in items}
        if not self._keys:
            raise PayCryptoError("at least one WeChat Pay platform public key is needed")

    @classmethod
    def from_files(cls, serials: list[str], paths: list[Path]) -> PlatformVerifier:
        if len(serials) != len(paths):
            raise PayCryptoError(
                f"{len(serials)} platform serial(s) but {len(paths)} public key file(s): "
                "WECHATPAY_PLATFORM_SERIAL and WECHATPAY_PLATFORM_PUBLIC_KEY_FILE are matched by position"
            )
        return cls(zip(serials, [load_public_key(p) for p in paths], strict=True))

    @property
    def serials(self) -> list[str]:
        return list(self._keys)

    def verify(self, headers: Mapping[str, str] | Any, body: bytes, *, now: datetime | None = None) -> VerifiedHeaders:
        """Raise a SignatureError subclass unless a known platform key signed the raw body, recently."""
        timestamp = _header(headers, HEADER_TIMESTAMP)
        nonce = _header(headers, HEADER_NONCE)
        signature = _header(headers, HEADER_SIGNATURE)
        serial = _header(headers, HEADER_SERIAL)
        if not (timestamp and nonce and signature and serial):
            raise MissingSignatureHeaders("Wechatpay-Timestamp/-Nonce/-Signature/-Serial are required")
        sig_type = _header(headers, HEADER_SIGNATURE_TYPE)
        if sig_type and sig_type != SIGNATURE_TYPE:
            raise SignatureError(f"unsupported signature type {sig_type[:40]!r}", reason="bad_signature_type")
        # WeChat sends probes to check that merchants really verify; accepting one would be the bug.
        if signature.startswith(SIGNTEST_PREFIX):
            raise SignTestProbe("a WECHATPAY/SIGNTEST/ probe signature is never valid")
        key = self._keys.get(serial)
        if key is None:
            raise UnknownSerial(f"platform serial {serial[:64]!r} is not configured")
        ts = check_timestamp(timestamp, now=now)
        if not rsa_verify(key, response_message(timestamp, nonce, body), signature):
            raise SignatureError("the Wechatpay-Signature does not verify over the raw body")
        return VerifiedHeaders(serial, ts, nonce)


# --- AEAD_AES_256_GCM resources -------------------------------------------------------------------


def _apiv3_key_bytes(apiv3_key: str | bytes) -> bytes:
    key = _b(apiv3_key)
    if len(key) != 32:
        raise DecryptError("the APIv3 key must be exactly 32 bytes")
    return key


def aes_gcm_decrypt(apiv3_key: str | bytes, nonce: str, ciphertext_b64: str, associated_data: str | None) -> bytes:
    try:
        data = base64.b64decode(ciphertext_b64, validate=True)
        return AESGCM(_apiv3_key_bytes(apiv3_key)).decrypt(_b(nonce), data, _b(associated_data or ""))
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise DecryptError("the resource does not decrypt with the APIv3 key (wrong key or tampered)") from exc


def aes_gcm_encrypt(apiv3_key: str | bytes, nonce: str, plaintext: bytes | str, associated_data: str | None) -> str:
    data = AESGCM(_apiv3_key_bytes(apiv3_key)).encrypt(_b(nonce), _b(plaintext), _b(associated_data or ""))
    return base64.b64encode(data).decode("ascii")


def decrypt_resource(resource: Mapping[str, Any], apiv3_key: str | bytes) -> bytes:
    """Decrypt a notify's `resource` object; returns the plaintext bytes (JSON)."""
    algorithm = resource.get("algorithm")
    if algorithm != AEAD_ALGORITHM:
        raise DecryptError(f"unsupported resource algorithm {str(algorithm)[:40]!r}")
    nonce, ciphertext = resource.get("nonce"), resource.get("ciphertext")
    if not isinstance(nonce, str) or not isinstance(ciphertext, str):
        raise DecryptError("the resource lacks nonce or ciphertext")
    return aes_gcm_decrypt(apiv3_key, nonce, ciphertext, resource.get("associated_data"))


def encrypt_resource(
    plaintext: bytes | str,
    apiv3_key: str | bytes,
    *,
    associated_data: str,
    original_type: str,
    nonce: str | None = None,
) -> dict[str, str]:
    """A notify `resource` object as WeChat builds it (12-char nonce)."""
    nonce = nonce or new_nonce(12)
    return {
        "original_type": original_type,
        "algorithm": AEAD_ALGORITHM,
        "ciphertext": aes_gcm_encrypt(apiv3_key, nonce, plaintext, associated_data),
        "associated_data": associated_data,
        "nonce": nonce,
    }


# --- JSAPI payment parameters ---------------------------------------------------------------------


def jsapi_sign_message(app_id: str, timestamp: str, nonce: str, package: str) -> bytes:
    return f"{app_id}\n{timestamp}\n{nonce}\n{package}\n".encode()


def jsapi_pay_sign(private_key: rsa.RSAPrivateKey, app_id: str, timestamp: str, nonce: str, package: str) -> str:
    return rsa_sign(private_key, jsapi_sign_message(app_id, timestamp, nonce, package))


def jsapi_pay_params(
    private_key: rsa.RSAPrivateKey,
    *,
    app_id: str,
    prepay_id: str,
    timestamp: int | str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The object the page passes to `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`."""
    ts = str(timestamp if timestamp is not None else unix_now())
    nonce = nonce or new_nonce()
    package = f"prepay_id={prepay_id}"
    return {
        "appId": app_id,
        "timeStamp": ts,
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": jsapi_pay_sign(private_key, app_id, ts, nonce, package),
    }


def verify_jsapi_pay_params(params: Mapping[str, Any], merchant_key: rsa.RSAPublicKey) -> bool:
    """What WeChat's client does with getBrandWCPayRequest parameters (the sandbox's pay sheet uses it)."""
    try:
        message = jsapi_sign_message(
            str(params["appId"]), str(params["timeStamp"]), str(params["nonceStr"]), str(params["package"])
        )
    except KeyError:
        return False
    return params.get("signType") == "RSA" and rsa_verify(merchant_key, message, str(params.get("paySign", "")))
