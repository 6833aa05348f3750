"""Official-account message security: callback signatures, safe-mode AES encryption, message XML in and out."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import xmltodict
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy import parse_message as _wechatpy_parse_message
from wechatpy.replies import create_reply as _wechatpy_create_reply

from wechat.errors import DecryptError, InvalidAppId, InvalidSignature

_BLOCK = 32  # WeChat pads to 32 bytes (PKCS#7 with a 32-byte block), not AES's 16


def make_signature(*parts: str) -> str:
    """sha1 over the sorted parts joined without a separator (token, timestamp, nonce[, encrypt])."""
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode()).hexdigest()  # noqa: S324 - WeChat's


def check_signature(token: str, signature: str, timestamp: str, nonce: str) -> None:
    """Raise InvalidSignature unless signature = sha1(sorted(token, timestamp, nonce))."""
    if not signature or not hmac.compare_digest(make_signature(token, timestamp, nonce), signature.lower()):
        raise InvalidSignature("signature does not match the configured token")


def aes_key_bytes(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError("EncodingAESKey must be the 43-character base64 key from the WeChat console")
    return key


def _pad(data: bytes) -> bytes:
    n = _BLOCK - len(data) % _BLOCK
    return data + bytes([n]) * n


class MessageCrypto:
    """AES-256-CBC of WeChat's safe mode for one account (appid) or WeCom app (corpid).

    plaintext = 16 random bytes + 4-byte big-endian length + xml + appid; key = b64(EncodingAESKey + "="),
    IV = key[:16].
    """

    def __init__(self, token: str, encoding_aes_key: str, appid: str) -> None:
        self.token = token
        self.appid = appid
        self._key = aes_key_bytes(encoding_aes_key)

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, xml: str, *, random16: bytes | None = None) -> str:
        body = xml.encode()
        prefix = random16 if random16 is not None else os.urandom(16)
        plain = _pad(prefix + struct.pack(">I", len(body)) + body + self.appid.encode())
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode()

    def decrypt(self, encrypt: str) -> str:
        """Decrypt an `Encrypt` value and check it is addressed to our AppId."""
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError("Encrypt is not base64") from None
        if not raw or len(raw) % 16:
            raise DecryptError("Encrypt has a length that AES-CBC cannot have")
        dec = self._cipher().decryptor()
        plain = dec.update(raw) + dec.finalize()
        n = plain[-1]
        if not 1 <= n <= _BLOCK or plain[-n:] != bytes([n]) * n:
            raise DecryptError("bad padding: wrong EncodingAESKey?")
        content = plain[16:-n]
        if len(content) < 4:
            raise DecryptError("plaintext too short")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise DecryptError("length field larger than the plaintext: wrong EncodingAESKey?")
        xml, from_id = content[4 : 4 + length], content[4 + length :]
        if not hmac.compare_digest(from_id, self.appid.encode()):
            raise InvalidAppId("the message is encrypted for another AppId")
        try:
            return xml.decode()
        except UnicodeDecodeError:
            raise DecryptError("plaintext is not UTF-8") from None

    def msg_signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return make_signature(self.token, timestamp, nonce, encrypt)

    def encrypt_message(self, xml: str, *, nonce: str | None = None, timestamp: str | int | None = None) -> str:
        """The encrypted envelope WeChat expects as a passive reply (and sends as a safe-mode message)."""
        nonce = nonce or secrets.token_hex(8)
        ts = str(timestamp if timestamp is not None else int(time.time()))
        encrypt = self.encrypt(xml)
        return to_xml(
            {
                "Encrypt": encrypt,
                "MsgSignature": self.msg_signature(ts, nonce, encrypt),
                "TimeStamp": ts,
                "Nonce": nonce,
            }
        )

    def decrypt_message(self, body: bytes | str, msg_signature: str, timestamp: str, nonce: str) -> str:
        """Check msg_signature over the envelope's Encrypt, then decrypt it."""
        encrypt = parse_xml(body).get("Encrypt")
        if not encrypt:
            raise DecryptError("the message has no Encrypt element")
        expected = self.msg_signature(timestamp, nonce, encrypt)
        if not msg_signature or not hmac.compare_digest(expected, msg_signature.lower()):
            raise InvalidSignature("msg_signature does not match")
        return self.decrypt(encrypt)


# --- XML --------------------------------------------------------------------------------------------------


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """A WeChat <xml> document as a dict of its children (no DTDs: expat refuses external entities)."""
    try:
        doc = xmltodict.parse(body, disable_entities=True)
    except Exception as exc:
        raise DecryptError(f"not a WeChat XML document ({type(exc).__name__})") from None
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise DecryptError("not a WeChat XML document (no <xml> root)")
    return root


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _element(name: str, value: Any) -> str:
    if isinstance(value, Mapping):
        inner = "".join(_element(k, v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        return "".join(_element(name, v) for v in value)
    elif isinstance(value, bool):
        inner = str(int(value))
    elif isinstance(value, int | float):
        inner = str(value)
    else:
        inner = _cdata(str(value))
    return f"<{name}>{inner}</{name}>"


def to_xml(fields: Mapping[str, Any]) -> str:
    """WeChat's XML: strings in CDATA, numbers bare, nested mappings as child elements."""
    return "<xml>" + "".join(_element(k, v) for k, v in fields.items()) + "</xml>"


# --- the message endpoint ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncomingMessage:
    """A verified (and, in safe mode, decrypted) message from WeChat."""

    xml: str
    encrypted: bool
    fields: dict[str, Any]

    def parsed(self) -> Any:
        """wechatpy's typed message/event object."""
        return _wechatpy_parse_message(self.xml)


def open_message(
    body: bytes | str,
    query: Mapping[str, str],
    *,
    token: str,
    appid: str,
    encoding_aes_key: str | None,
) -> IncomingMessage:
    """Verify a POST to the message endpoint and return its plaintext XML.

    Plain mode needs a valid `signature`; safe mode (`encrypt_type=aes`) needs `msg_signature` over the
    Encrypt element and the configured AES key, and the AppId inside must be ours.
    """
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    check_signature(token, query.get("signature", ""), timestamp, nonce)
    if query.get("encrypt_type", "raw").lower() == "aes":
        if not encoding_aes_key:
            raise DecryptError("an encrypted message arrived but WECHAT_AES_KEY is not configured")
        crypto = MessageCrypto(token, encoding_aes_key, appid)
        xml = crypto.decrypt_message(body, query.get("msg_signature", ""), timestamp, nonce)
        return IncomingMessage(xml=xml, encrypted=True, fields=parse_xml(xml))
    xml = body.decode() if isinstance(body, bytes) else body
    fields = parse_xml(xml)
    if "Encrypt" in fields and "MsgType" not in fields:
        raise DecryptError("an encrypted body arrived without encrypt_type=aes")
    return IncomingMessage(xml=xml, encrypted=False, fields=fields)


def seal_reply(
    reply_xml: str,
    incoming: IncomingMessage,
    *,
    token: str,
    appid: str,
    encoding_aes_key: str | None,
    nonce: str | None = None,
    timestamp: str | int | None = None,
) -> str:
    """The body to answer with: encrypted when the request was; "success" stays plain as WeChat allows."""
    if not reply_xml or reply_xml == "success" or not incoming.encrypted:
        return reply_xml or "success"
    assert encoding_aes_key  # open_message refused encrypted input without a key
    return MessageCrypto(token, encoding_aes_key, appid).encrypt_message(reply_xml, nonce=nonce, timestamp=timestamp)


def text_reply(incoming: IncomingMessage, content: str, *, create_time: int | None = None) -> str:
    """A passive text reply to the sender of `incoming` (XML, not yet sealed)."""
    reply = _wechatpy_create_reply(content, incoming.parsed())
    if create_time is not None:
        reply.time = create_time
    return str(reply.render())


def render_reply(reply: Any, incoming: IncomingMessage) -> str:
    """Any wechatpy reply value (text, BaseReply, list of articles) addressed back to the sender."""
    return str(_wechatpy_create_reply(reply, incoming.parsed(), render=True) or "")
