"""Sandbox Pay fault knobs: what tests ask to go wrong with the next notifies, API answers or refunds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from wechat.sandbox.pay_common import param_error
from wechat.sandbox.pay_models import PayFault

# Faults on the signature of one delivery attempt (or one API answer): the merchant must refuse it.
SIGNATURE_FAULTS = ("tamper", "wrong_key", "stale_timestamp", "signtest", "unknown_serial")
NOTIFY_KINDS = ("duplicate", "delay", "drop", "reorder", *SIGNATURE_FAULTS)
RESPONSE_KINDS = (*SIGNATURE_FAULTS, "error", "delay")
REFUND_KINDS = ("refund_outcome",)
SCOPES = {"notify": NOTIFY_KINDS, "response": RESPONSE_KINDS, "refund": REFUND_KINDS}


def _int(params: dict[str, Any], key: str, default: int | None, low: int, high: int) -> int | None:
    value = params.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise param_error(f"{key} must be an integer from {low} to {high}")
    return value


def _seconds(params: dict[str, Any], key: str, default: float, high: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise param_error(f"{key} must be a number of seconds from 0 to {high}")
    return float(value)


def normalize_params(scope: str, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate a knob's parameters and fill defaults, so deliveries never meet a bad knob."""
    if kind in SIGNATURE_FAULTS:
        out: dict[str, Any] = {"attempts": _int(params, "attempts", 1, 1, 16)}
        if kind == "stale_timestamp":
            out["seconds"] = _seconds(params, "seconds", 600, 86400)
        return out
    if kind == "duplicate":
        return {"copies": _int(params, "copies", 1, 1, 10), "concurrent": bool(params.get("concurrent", False))}
    if kind == "delay":
        return {"seconds": _seconds(params, "seconds", 30, 86400)}
    if kind == "drop":
        # attempts=None: the notify is never sent at all (the merchant must query); n: the first n are lost.
        return {"attempts": _int(params, "attempts", None, 1, 16)}
    if kind == "reorder":
        return {}
    if kind == "error":
        status = _int(params, "status", 500, 400, 599)
        return {
            "status": status,
            "code": str(params.get("code") or ("SYSTEM_ERROR" if (status or 500) >= 500 else "INVALID_REQUEST")),
            "message": str(params.get("message") or "系统错误"),
        }
    if kind == "refund_outcome":
        status = params.get("status", "ABNORMAL")
        if status not in ("ABNORMAL", "CLOSED", "SUCCESS"):
            raise param_error("refund_outcome status must be ABNORMAL, CLOSED or SUCCESS")
        return {"status": status}
    raise param_error(f"unknown fault kind {kind!r}")


async def add_fault(
    session: AsyncSession,
    *,
    kind: str,
    scope: str = "notify",
    count: int = 1,
    params: dict[str, Any] | None = None,
    out_trade_no: str | None = None,
    event_type: str | None = None,
) -> PayFault:
    if scope not in SCOPES:
        raise param_error(f"scope must be one of {', '.join(SCOPES)}")
    if kind not in SCOPES[scope]:
        raise param_error(f"fault {kind!r} does not apply to scope {scope!r}; it takes {', '.join(SCOPES[scope])}")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise param_error("count must be an integer from 1 to 1000")
    if kind == "reorder" and count < 2:
        raise param_error("reorder needs count >= 2 (the batch whose order is reversed)")
    fault = PayFault(
        kind=kind,
        scope=scope,
        remaining=count,
        params=normalize_params(scope, kind, params or {}),
        out_trade_no=out_trade_no,
        event_type=event_type,
    )
    session.add(fault)
    await session.flush()
    return fault


async def list_faults(session: AsyncSession) -> list[PayFault]:
    return list((await session.scalars(select(PayFault).order_by(PayFault.id))).all())


async def clear_faults(session: AsyncSession) -> int:
    result = await session.execute(delete(PayFault))
    return int(getattr(result, "rowcount", 0) or 0)


def fault_json(f: PayFault) -> dict[str, Any]:
    return {
        "id": f.id,
        "kind": f.kind,
        "scope": f.scope,
        "remaining": f.remaining,
        "params": f.params,
        "out_trade_no": f.out_trade_no,
        "event_type": f.event_type,
    }


@dataclass
class Consumed:
    """The faults one notify (or answer) carries, by kind, and whether it completed a reorder batch."""

    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    hold_group: str | None = None
    release_group: str | None = None


def _matches(f: PayFault, *, out_trade_no: str | None, event_type: str | None) -> bool:
    if f.out_trade_no and f.out_trade_no != out_trade_no:
        return False
    return not (f.event_type and not (event_type or "").startswith(f.event_type))


async def consume(
    session: AsyncSession,
    scope: str,
    *,
    out_trade_no: str | None = None,
    event_type: str | None = None,
) -> Consumed:
    """Take one use of each matching knob (the oldest per kind), under a row lock so uses are counted once."""
    knobs = (
        await session.scalars(
            select(PayFault)
            .where(PayFault.scope == scope, PayFault.remaining > 0)
            .order_by(PayFault.id)
            .with_for_update()
        )
    ).all()
    result = Consumed()
    for knob in knobs:
        if knob.kind in result.faults or not _matches(knob, out_trade_no=out_trade_no, event_type=event_type):
            continue
        knob.remaining -= 1
        result.faults[knob.kind] = dict(knob.params)
        if knob.kind == "reorder":
            result.hold_group = f"reorder-{knob.id}"
            if knob.remaining == 0:
                result.release_group = result.hold_group
    return result
