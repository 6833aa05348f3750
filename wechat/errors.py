"""Typed errors of the WeChat protocol layer: what WeChat answered (errcode/errmsg) or why we refused it."""

from __future__ import annotations

# errcodes that mean "this access token is no good": 40001 invalid/not latest, 40014 malformed, 42001 expired.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})


class WeChatError(Exception):
    """Base of every error raised by `wechat/`."""


class WeChatAPIError(WeChatError):
    """WeChat answered with a non-zero errcode; `errcode`/`errmsg` are WeChat's own."""

    def __init__(self, errcode: int, errmsg: str, *, endpoint: str = "") -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.endpoint = endpoint
        where = f" ({endpoint})" if endpoint else ""
        super().__init__(f"WeChat errcode {errcode}: {errmsg}{where}")


class AccessTokenError(WeChatAPIError):
    """The access token was refused (40001/40014/42001); the client refreshes once and retries."""


class OAuthCodeError(WeChatAPIError):
    """The OAuth code is invalid, expired (40029) or already used (40163); the user must sign in again."""


class CustomerServiceWindowClosed(WeChatAPIError):
    """A customer-service message outside the 48 h window (45015) or to a user who does not follow."""


class WeChatTransportError(WeChatError):
    """WeChat could not be reached, timed out, or answered something that is not its JSON.

    The message names the endpoint path only: query strings carry tokens and secrets.
    """

    def __init__(self, message: str, *, endpoint: str = "") -> None:
        self.endpoint = endpoint
        super().__init__(f"{message} ({endpoint})" if endpoint else message)


class InvalidSignature(WeChatError):
    """A callback whose signature does not match: never trust its content."""


class InvalidAppId(WeChatError):
    """A decrypted message addressed to another AppId (or CorpID)."""


class DecryptError(WeChatError):
    """Ciphertext that does not decrypt to a well-formed WeChat message."""


class OAuthStateMismatch(WeChatError):
    """The `state` returned by the authorize redirect is not the one we issued (possible CSRF)."""


_SPECIFIC: dict[int, type[WeChatAPIError]] = {
    **dict.fromkeys(TOKEN_ERRCODES, AccessTokenError),
    40029: OAuthCodeError,
    40163: OAuthCodeError,
    45015: CustomerServiceWindowClosed,
}


def api_error(errcode: int, errmsg: str, *, endpoint: str = "") -> WeChatAPIError:
    """The most specific typed exception for a WeChat errcode."""
    cls = _SPECIFIC.get(errcode, WeChatAPIError)
    return cls(errcode, errmsg, endpoint=endpoint)
