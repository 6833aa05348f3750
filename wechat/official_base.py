"""Plumbing of the WeChat JSON API clients (official account, OAuth, WeCom): HTTP, errcodes, shared tokens."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import structlog
from redis.exceptions import RedisError

from core import clock
from core.redis import get_redis
from wechat.errors import AccessTokenError, WeChatAPIError, WeChatTransportError, api_error

log = structlog.get_logger(__name__)

# httpx logs every request URL at INFO, and WeChat puts access tokens and app secrets in query strings.
logging.getLogger("httpx").setLevel(logging.WARNING)

DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=3.0)

_http: httpx.AsyncClient | None = None
_http_loop: asyncio.AbstractEventLoop | None = None


def http_client() -> httpx.AsyncClient:
    """One pooled client per event loop (a client cannot outlive the loop it was opened in)."""
    global _http, _http_loop
    loop = asyncio.get_running_loop()
    if _http is None or _http_loop is not loop or _http.is_closed:
        _http = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, limits=httpx.Limits(max_connections=200))
        _http_loop = loop
    return _http


async def aclose_http() -> None:
    """Close the shared client (app shutdown)."""
    global _http, _http_loop
    if _http is not None and _http_loop is asyncio.get_running_loop():
        await _http.aclose()
    _http = None
    _http_loop = None


def mask(secret: str | None) -> str:
    """What may appear in logs of a token or secret: its first 6 characters."""
    if not secret:
        return ""
    return secret[:6] + "…"


async def request_json(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    endpoint: str,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    timeout: httpx.Timeout | float | None = None,
) -> dict[str, Any]:
    """Call a WeChat JSON endpoint; non-zero errcode → typed WeChatAPIError, anything else odd → transport."""
    content = None
    headers = {}
    if body is not None:
        # UTF-8 JSON with Chinese unescaped: some WeChat endpoints show \uXXXX escapes to users verbatim.
        content = json.dumps(body, ensure_ascii=False).encode()
        headers["Content-Type"] = "application/json; charset=utf-8"
    try:
        resp = await http.request(
            method,
            url,
            params=dict(params or {}),
            content=content,
            headers=headers,
            timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
        )
    except httpx.TimeoutException:
        raise WeChatTransportError("WeChat did not answer in time", endpoint=endpoint) from None
    except httpx.HTTPError as exc:
        raise WeChatTransportError(f"WeChat could not be reached ({type(exc).__name__})", endpoint=endpoint) from None
    if resp.status_code != 200:
        raise WeChatTransportError(f"WeChat answered HTTP {resp.status_code}", endpoint=endpoint)
    try:
        data = resp.json()
    except ValueError:
        raise WeChatTransportError("WeChat answered something that is not JSON", endpoint=endpoint) from None
    if not isinstance(data, dict):
        raise WeChatTransportError("WeChat answered JSON that is not an object", endpoint=endpoint)
    errcode = data.get("errcode") or 0
    if errcode:
        raise api_error(int(errcode), str(data.get("errmsg", "")), endpoint=endpoint)
    return data


# --- a credential shared by every process ---------------------------------------------------------------

_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_DELETE_IF_VALUE = """
if redis.call('hget', KEYS[1], 'v') == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

Fetcher = Callable[[], Awaitable[tuple[str, int]]]


def _expiry(expires_in: int) -> float:
    # Refresh before WeChat does: 5 minutes early for 2-hour tokens, proportionally for short test TTLs.
    margin = min(300, expires_in // 10)
    return clock.now().timestamp() + max(1, expires_in - margin)


class SharedToken:
    """An access token or ticket cached in Redis for all processes, refreshed by one holder of a lock.

    The others wait and read what the refresher wrote, so WeChat sees one fetch per expiry however many
    callers there are. Expiry is judged by `core.clock` (tests move it); Redis' own TTL is only a backstop.
    When Redis is down, each process keeps its own copy behind an asyncio lock.
    """

    def __init__(
        self,
        key: str,
        fetch: Fetcher,
        *,
        lock_timeout: float = 15.0,
        poll_interval: float = 0.05,
        error_hold: float = 2.0,
    ) -> None:
        self.key = key
        self._fetch = fetch
        self._lock_key = key + ":lock"
        self._error_key = key + ":error"
        self._lock_timeout = lock_timeout
        self._poll = poll_interval
        self._error_hold = error_hold
        self._local: tuple[str, float] | None = None
        self._local_lock = asyncio.Lock()

    @staticmethod
    def _usable(value: str | None, exp: float, stale: str | None) -> bool:
        return bool(value) and value != stale and exp > clock.now().timestamp()

    async def _read(self, redis: Any) -> tuple[str | None, float]:
        value, exp = await redis.hmget(self.key, ["v", "exp"])
        if not value or not exp:
            return None, 0.0
        return value.decode(), float(exp)

    async def _write(self, redis: Any, value: str, expires_in: int) -> None:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, mapping={"v": value, "exp": repr(_expiry(expires_in))})
            pipe.expire(self.key, max(1, expires_in))
            await pipe.execute()

    async def get(self, *, stale: str | None = None) -> str:
        """A valid value; `stale` is one WeChat just refused, so it is not taken from the cache again."""
        try:
            return await self._get_shared(stale)
        except RedisError as exc:
            log.warning("wechat_token_redis_unavailable", key=self.key, error=type(exc).__name__)
            return await self._get_local(stale)

    async def invalidate(self, value: str) -> None:
        """Forget `value` if it is still the cached one (another caller may already have replaced it)."""
        if self._local and self._local[0] == value:
            self._local = None
        try:
            await get_redis().eval(_DELETE_IF_VALUE, 1, self.key, value)
        except RedisError:
            pass

    async def _get_shared(self, stale: str | None) -> str:
        redis = get_redis()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_timeout + 5
        started = clock.now().timestamp()
        while True:
            value, exp = await self._read(redis)
            if self._usable(value, exp, stale):
                assert value is not None
                return value
            owner = secrets.token_hex(8)
            if await redis.set(self._lock_key, owner, nx=True, px=int(self._lock_timeout * 1000)):
                try:
                    value, exp = await self._read(redis)
                    if self._usable(value, exp, stale):
                        assert value is not None
                        return value
                    return await self._refresh(redis)
                finally:
                    await redis.eval(_RELEASE_IF_OWNER, 1, self._lock_key, owner)
            # Another process is refreshing: fail fast if its attempt just failed, otherwise wait for it.
            failure = await redis.get(self._error_key)
            if failure:
                err = json.loads(failure)
                if err.get("at", 0) >= started - self._error_hold:
                    raise _rebuild_error(err)
            if loop.time() > deadline:
                raise WeChatTransportError("timed out waiting for another process to refresh the token")
            await asyncio.sleep(self._poll)

    async def _refresh(self, redis: Any) -> str:
        try:
            value, expires_in = await self._fetch()
        except (WeChatAPIError, WeChatTransportError) as exc:
            await redis.set(self._error_key, json.dumps(_describe_error(exc)), px=int(self._error_hold * 1000))
            raise
        await self._write(redis, value, expires_in)
        log.info("wechat_token_refreshed", key=self.key, token=mask(value), expires_in=expires_in)
        return value

    async def _get_local(self, stale: str | None) -> str:
        async with self._local_lock:
            if self._local and self._usable(self._local[0], self._local[1], stale):
                return self._local[0]
            value, expires_in = await self._fetch()
            self._local = (value, _expiry(expires_in))
            return value


def _describe_error(exc: Exception) -> dict[str, Any]:
    out: dict[str, Any] = {"at": clock.now().timestamp(), "message": str(exc)}
    if isinstance(exc, WeChatAPIError):
        out.update(errcode=exc.errcode, errmsg=exc.errmsg, endpoint=exc.endpoint)
    return out


def _rebuild_error(err: dict[str, Any]) -> Exception:
    if "errcode" in err:
        return api_error(int(err["errcode"]), err.get("errmsg", ""), endpoint=err.get("endpoint", ""))
    return WeChatTransportError("token refresh failed in another process: " + err.get("message", ""))


async def call_with_token(
    token: SharedToken,
    send: Callable[[str], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run `send(access_token)`; on a token errcode refresh once and retry once, never more."""
    value = await token.get()
    try:
        return await send(value)
    except AccessTokenError as exc:
        log.info("wechat_token_refused", key=token.key, token=mask(value), errcode=exc.errcode)
        await token.invalidate(value)
        fresh = await token.get(stale=value)
        return await send(fresh)
