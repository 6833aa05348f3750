"""Message security: signatures, safe-mode AES against wechatpy and Tencent's own sample."""

from __future__ import annotations

import hashlib

import pytest
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.utils import check_signature as wechatpy_check_signature

from wechat.crypto import (
    MessageCrypto,
    check_signature,
    make_signature,
    open_message,
    parse_xml,
    seal_reply,
    text_reply,
    to_xml,
)
from wechat.errors import DecryptError, InvalidAppId, InvalidSignature

TOKEN = "spamtest"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx2c2769f8efd9abc2"

# Tencent's WXBizMsgCrypt sample (Sample.py of the official SDK): a message it encrypted.
SAMPLE_TIMESTAMP = "1409735669"
SAMPLE_NONCE = "1320562132"
SAMPLE_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9"
    "FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt"
    "+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h"
    "0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)

PLAIN = (
    "<xml><ToUserName><![CDATA[gh_abc]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[你好，附近的店]]></Content><MsgId>1234567890123456</MsgId></xml>"
)


def test_signature_is_sha1_of_sorted_parts() -> None:
    expected = hashlib.sha1("".join(sorted(["tok", "1700000000", "nonce1"])).encode()).hexdigest()
    assert make_signature("tok", "1700000000", "nonce1") == expected
    check_signature("tok", expected, "1700000000", "nonce1")
    wechatpy_check_signature("tok", expected, "1700000000", "nonce1")


def test_signature_vector() -> None:
    # the parts sort as strings: "1320562132" < "1409735669" < "spamtest"
    assert (
        make_signature(TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE)
        == hashlib.sha1(b"13205621321409735669spamtest").hexdigest()
    )


@pytest.mark.parametrize("bad", ["", "0" * 40, make_signature("other", "1", "2")])
def test_bad_signature_refused(bad: str) -> None:
    with pytest.raises(InvalidSignature):
        check_signature("tok", bad, "1", "2")


def test_decrypts_tencent_sample() -> None:
    crypto = MessageCrypto(TOKEN, AES_KEY, APPID)
    body = to_xml({"ToUserName": "gh_10f6c3c3ac5a", "Encrypt": SAMPLE_ENCRYPT})
    xml = crypto.decrypt_message(body, SAMPLE_MSG_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE)
    fields = parse_xml(xml)
    assert fields["Content"] == "abcdteT"
    assert fields["FromUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"


def test_wechatpy_encrypts_we_decrypt() -> None:
    theirs = WeChatCrypto(TOKEN, AES_KEY, APPID)
    envelope = theirs.encrypt_message(PLAIN, "n0nce", "1700000001")
    fields = parse_xml(envelope)
    ours = MessageCrypto(TOKEN, AES_KEY, APPID)
    assert ours.decrypt_message(envelope, fields["MsgSignature"], "1700000001", "n0nce") == PLAIN


def test_we_encrypt_wechatpy_decrypts() -> None:
    ours = MessageCrypto(TOKEN, AES_KEY, APPID)
    envelope = ours.encrypt_message(PLAIN, nonce="n0nce", timestamp=1700000002)
    fields = parse_xml(envelope)
    theirs = WeChatCrypto(TOKEN, AES_KEY, APPID)
    assert theirs.decrypt_message(envelope, fields["MsgSignature"], "1700000002", "n0nce") == PLAIN


def test_padding_boundaries_roundtrip() -> None:
    ours = MessageCrypto(TOKEN, AES_KEY, APPID)
    theirs = WeChatCrypto(TOKEN, AES_KEY, APPID)
    for n in range(0, 70):
        xml = "<xml>" + "x" * n + "</xml>"
        enc = ours.encrypt(xml)
        assert ours.decrypt(enc) == xml
        envelope = theirs.encrypt_message(xml, "n", "1")
        assert ours.decrypt(parse_xml(envelope)["Encrypt"]) == xml


def test_other_appid_refused_both_ways() -> None:
    other = MessageCrypto(TOKEN, AES_KEY, "wxOTHER")
    enc = other.encrypt(PLAIN)
    with pytest.raises(InvalidAppId):
        MessageCrypto(TOKEN, AES_KEY, APPID).decrypt(enc)
    envelope = other.encrypt_message(PLAIN, nonce="n", timestamp=1)
    with pytest.raises(InvalidAppIdException):
        WeChatCrypto(TOKEN, AES_KEY, APPID).decrypt_message(envelope, parse_xml(envelope)["MsgSignature"], "1", "n")


def test_wrong_key_or_garbage_is_a_decrypt_error() -> None:
    enc = MessageCrypto(TOKEN, AES_KEY, APPID).encrypt(PLAIN)
    wrong = MessageCrypto(TOKEN, "A" * 43, APPID)
    with pytest.raises((DecryptError, InvalidAppId)):
        wrong.decrypt(enc)
    for garbage in ["", "not base64!!", "QUJD", "A" * 44]:
        with pytest.raises(DecryptError):
            MessageCrypto(TOKEN, AES_KEY, APPID).decrypt(garbage)


def test_tampered_envelope_signature_refused() -> None:
    crypto = MessageCrypto(TOKEN, AES_KEY, APPID)
    envelope = crypto.encrypt_message(PLAIN, nonce="n", timestamp=5)
    with pytest.raises(InvalidSignature):
        crypto.decrypt_message(envelope, "0" * 40, "5", "n")
    with pytest.raises(InvalidSignature):
        crypto.decrypt_message(envelope, parse_xml(envelope)["MsgSignature"], "6", "n")


def test_bad_aes_key_rejected() -> None:
    with pytest.raises(ValueError):
        MessageCrypto(TOKEN, "short", APPID)


def _query(token: str, ts: str, nonce: str, **extra: str) -> dict[str, str]:
    return {"signature": make_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce, **extra}


def test_open_plain_message_and_reply_stays_plain() -> None:
    incoming = open_message(PLAIN.encode(), _query(TOKEN, "10", "n"), token=TOKEN, appid=APPID, encoding_aes_key=None)
    assert not incoming.encrypted
    assert incoming.fields["Content"] == "你好，附近的店"
    reply = text_reply(incoming, "欢迎")
    sealed = seal_reply(reply, incoming, token=TOKEN, appid=APPID, encoding_aes_key=AES_KEY)
    assert sealed == reply
    fields = parse_xml(sealed)
    assert fields["ToUserName"] == "oUser" and fields["FromUserName"] == "gh_abc" and fields["Content"] == "欢迎"


def test_open_safe_mode_message_and_reply_is_encrypted() -> None:
    theirs = WeChatCrypto(TOKEN, AES_KEY, APPID)
    envelope = theirs.encrypt_message(PLAIN, "n", "11")
    query = _query(TOKEN, "11", "n", encrypt_type="aes", msg_signature=parse_xml(envelope)["MsgSignature"])
    incoming = open_message(envelope, query, token=TOKEN, appid=APPID, encoding_aes_key=AES_KEY)
    assert incoming.encrypted and incoming.fields["MsgId"] == "1234567890123456"
    assert incoming.parsed().content == "你好，附近的店"
    sealed = seal_reply(text_reply(incoming, "收到"), incoming, token=TOKEN, appid=APPID, encoding_aes_key=AES_KEY)
    env = parse_xml(sealed)
    reply_xml = theirs.decrypt_message(sealed, env["MsgSignature"], env["TimeStamp"], env["Nonce"])
    assert parse_xml(reply_xml)["Content"] == "收到"
    # "success" needs no encryption, as WeChat allows
    assert seal_reply("", incoming, token=TOKEN, appid=APPID, encoding_aes_key=AES_KEY) == "success"


def test_open_message_refuses_bad_input() -> None:
    with pytest.raises(InvalidSignature):
        open_message(
            PLAIN, {"signature": "x", "timestamp": "1", "nonce": "2"}, token=TOKEN, appid=APPID, encoding_aes_key=None
        )
    envelope = MessageCrypto(TOKEN, AES_KEY, APPID).encrypt_message(PLAIN, nonce="n", timestamp=1)
    with pytest.raises(DecryptError):  # encrypted but no key configured
        open_message(
            envelope, _query(TOKEN, "1", "n", encrypt_type="aes"), token=TOKEN, appid=APPID, encoding_aes_key=None
        )
    with pytest.raises(DecryptError):  # encrypted body passed off as plain
        open_message(envelope, _query(TOKEN, "1", "n"), token=TOKEN, appid=APPID, encoding_aes_key=AES_KEY)
    with pytest.raises(DecryptError):
        open_message(b"<not-xml", _query(TOKEN, "1", "n"), token=TOKEN, appid=APPID, encoding_aes_key=None)


def test_xml_entities_not_expanded() -> None:
    evil = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><A>&e;</A></xml>'
    with pytest.raises(DecryptError):
        parse_xml(evil)


def test_to_xml_escapes_cdata_end() -> None:
    xml = to_xml({"Content": "a]]>b", "CreateTime": 5, "Nested": {"X": "y"}})
    assert parse_xml(xml) == {"Content": "a]]>b", "CreateTime": "5", "Nested": {"X": "y"}}
