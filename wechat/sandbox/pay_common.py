"""Sandbox Pay shared pieces: WeChat-shaped errors, WeChat-looking ids, and the sandbox's own settings."""

from __future__ import annotations

import secrets
import string
import time
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.clock import SHANGHAI
from wechat.sandbox.pay_models import PayConfig


class PayApiError(Exception):
    """An answer WeChat would give: HTTP status plus `{"code": …, "message": …}`."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


def param_error(message: str) -> PayApiError:
    return PayApiError(400, "PARAM_ERROR", message)


# --- ids that look like WeChat's --------------------------------------------------------------------


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def new_prepay_id(now: datetime | None = None) -> str:
    stamp = (now or clock.now()).astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
    return f"wx{stamp}{secrets.token_hex(10)}"


def new_transaction_id(now: datetime | None = None) -> str:
    day = (now or clock.now()).astimezone(SHANGHAI).strftime("%Y%m%d")
    return f"42000{_digits(5)}{day}{_digits(10)}"  # 28 digits


def new_refund_id(now: datetime | None = None) -> str:
    day = (now or clock.now()).astimezone(SHANGHAI).strftime("%Y%m%d")
    return f"503{_digits(8)}{day}{_digits(10)}"  # 29 digits


def new_code_url() -> str:
    alphabet = string.ascii_letters + string.digits
    return "weixin://wxpay/bizpayurl?pr=" + "".join(secrets.choice(alphabet) for _ in range(10))


def new_openid() -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "o" + "".join(secrets.choice(alphabet) for _ in range(27))


def rfc3339(value: datetime) -> str:
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds")


# --- the sandbox's own settings (rows, so every process agrees) -------------------------------------

DEFAULT_CONFIG: dict[str, Any] = {
    # Multiplies WeChat's notify retry schedule (15 s, 15 s, 30 s, 3 min, …); tests use e.g. 0.001.
    "retry_time_factor": 1.0,
    # How long a refund stays PROCESSING before it settles (real WeChat: seconds to days).
    "refund_delay_seconds": 1.0,
    # How long the sandbox waits for the merchant to answer a notify (WeChat: 5 s).
    "notify_timeout_seconds": 5.0,
    # Whether a bill for today ("so far") is served; WeChat only serves yesterday and older after 10:00.
    "bill_today": True,
}
_LIMITS: dict[str, tuple[float, float]] = {
    "retry_time_factor": (0.0, 1.0),
    "refund_delay_seconds": (0.0, 86400.0),
    "notify_timeout_seconds": (0.05, 30.0),
}
_CACHE_SECONDS = 1.0
_cache: tuple[float, dict[str, Any]] | None = None
# Bumped whenever the settings change (and again once the change is committed): a read that began before
# does not store what it read, so a reader racing a change (the notify loop, while a test sets
# retry_time_factor) cannot keep the old settings cached for another second.
_generation = 0


async def _read_config(session: AsyncSession) -> dict[str, Any]:
    rows = (await session.execute(select(PayConfig.key, PayConfig.value))).all()
    return {**DEFAULT_CONFIG, **{k: v for k, v in rows if k in DEFAULT_CONFIG}}


async def get_config(session: AsyncSession) -> dict[str, Any]:
    global _cache
    if _cache is not None and _cache[0] > time.monotonic():
        return dict(_cache[1])
    began = _generation
    config = await _read_config(session)
    if began == _generation:
        _cache = (time.monotonic() + _CACHE_SECONDS, config)
    return dict(config)


async def set_config(session: AsyncSession, updates: dict[str, Any]) -> dict[str, Any]:
    for key, value in updates.items():
        if key not in DEFAULT_CONFIG:
            raise param_error(f"unknown sandbox setting {key!r}; known: {', '.join(DEFAULT_CONFIG)}")
        if key in _LIMITS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise param_error(f"{key} must be a number")
            low, high = _LIMITS[key]
            if not low <= value <= high:
                raise param_error(f"{key} must be between {low} and {high}")
        elif not isinstance(value, bool):
            raise param_error(f"{key} must be true or false")
        stmt = insert(PayConfig).values(key=key, value=value)
        await session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
    forget_config_cache()
    event.listen(session.sync_session, "after_commit", lambda _s: forget_config_cache(), once=True)
    return await _read_config(session)  # ours, not yet committed: read past the cache


def forget_config_cache() -> None:
    global _cache, _generation
    _cache = None
    _generation += 1
