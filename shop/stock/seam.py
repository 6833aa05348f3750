"""The stock seam used by orders and delivery: reserve, release, commit (sell), return, transfer — by ref.

Every operation runs in the caller's transaction, locks stock rows through `lock_stock_rows` (primary-key
order), checks what it needs under those locks before writing anything (so a typed error leaves the
transaction as it was), changes levels with one statement that also writes the movement rows, and is
idempotent by `ref`: repeating a call returns the first result instead of acting twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.driver_sql import DriverStatement, fetch, fetchrow, fetchval
from core.errors import InvalidInput, NotFound
from shop.catalogue.cache import mark_store_catalogue_changed, mark_store_stock_changed
from shop.errors import (
    OutOfStock,
    RefReused,
    ReservationNotFound,
    ReservationStateError,
    ReturnExceedsSold,
)
from shop.stock.locks import LockedLevel, lock_stock_rows
from shop.stock.models import StockMovement, StockReservation, StockReservationLine

log = structlog.get_logger(__name__)

MAX_QTY = 1_000_000


@dataclass(frozen=True, slots=True, order=True)
class StockLine:
    sku_id: int
    qty: int


@dataclass(frozen=True)
class Reservation:
    ref: str
    store_id: int
    status: str  # held | released | committed
    lines: tuple[StockLine, ...]
    returned: tuple[StockLine, ...] = ()
    created: bool = False  # False when an earlier call made it (an idempotent repeat)


LineInput = StockLine | tuple[int, int] | Mapping[str, int]


def normalize_lines(lines: Iterable[LineInput]) -> tuple[StockLine, ...]:
    """Whole positive quantities per SKU, duplicates summed, sorted by SKU id."""
    total: dict[int, int] = {}
    for line in lines:
        if isinstance(line, StockLine):
            sku_id, qty = line.sku_id, line.qty
        elif isinstance(line, Mapping):
            sku_id, qty = line.get("sku_id"), line.get("qty")  # type: ignore[assignment]
        else:
            sku_id, qty = line
        for name, value in (("sku_id", sku_id), ("qty", qty)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(f"{name} must be a whole number, got {value!r}")
        if qty <= 0 or qty > MAX_QTY:
            raise InvalidInput(f"quantity of SKU {sku_id} must be between 1 and {MAX_QTY}, got {qty}")
        total[sku_id] = total.get(sku_id, 0) + qty
    if not total:
        raise InvalidInput("at least one line is needed")
    return tuple(StockLine(k, v) for k, v in sorted(total.items()))


def _check_ref(ref: str) -> str:
    if not isinstance(ref, str) or not 1 <= len(ref) <= 100:
        raise InvalidInput("ref must be text of 1–100 characters")
    return ref


# Changes levels and writes one movement per changed row, in one round trip. Callers have locked the
# rows and checked the result stays within the CHECK constraints, so every row matches.
_APPLY = text(
    """
    WITH d AS (
        SELECT * FROM unnest(CAST(:stores AS bigint[]), CAST(:skus AS bigint[]), CAST(:dh AS bigint[]),
                             CAST(:dr AS bigint[]), CAST(:kinds AS text[])) AS d(store_id, sku_id, dh, dr, kind)
    ),
    upd AS (
        UPDATE stock_levels s SET on_hand = s.on_hand + d.dh, reserved = s.reserved + d.dr, updated_at = :now
        FROM d WHERE s.store_id = d.store_id AND s.sku_id = d.sku_id
        RETURNING s.sku_id
    ),
    mv AS (
        INSERT INTO stock_movements (store_id, sku_id, kind, on_hand_delta, reserved_delta, ref, actor, reason, created_at)
        SELECT store_id, sku_id, kind, dh, dr, :ref, :actor, :reason, :now FROM d
    )
    SELECT count(*) FROM upd
    """
)


@dataclass(frozen=True, slots=True)
class Delta:
    store_id: int
    sku_id: int
    on_hand: int
    reserved: int
    kind: str


async def apply_deltas(
    session: AsyncSession,
    deltas: list[Delta],
    *,
    ref: str | None,
    reason: str,
    actor: str = "system",
    by_order: bool = False,
) -> None:
    """`by_order`: an order's reservation, release, sale or return — the catalogue shows it within
    a second (coalesced); a staff adjustment or import shows at once."""
    changed = await session.scalar(
        _APPLY,
        {
            "stores": [d.store_id for d in deltas],
            "skus": [d.sku_id for d in deltas],
            "dh": [d.on_hand for d in deltas],
            "dr": [d.reserved for d in deltas],
            "kinds": [d.kind for d in deltas],
            "ref": ref,
            "actor": actor,
            "reason": reason[:200],
            "now": clock.now(),
        },
    )
    if changed != len(deltas):  # the locks make this impossible; refuse rather than log a lie
        raise RuntimeError(f"stock update for {ref} changed {changed} of {len(deltas)} rows")
    for store_id in {d.store_id for d in deltas}:
        if by_order:
            mark_store_stock_changed(session, store_id)
        else:
            mark_store_catalogue_changed(session, store_id)


def _shortages(
    store_id: int, lines: Iterable[StockLine], levels: dict[tuple[int, int], LockedLevel]
) -> list[dict[str, int]]:
    short = []
    for line in lines:
        level = levels.get((store_id, line.sku_id))
        available = level.available if level else 0
        if available < line.qty:
            short.append({"sku_id": line.sku_id, "wanted": line.qty, "available": max(available, 0)})
    return short


async def _load(
    session: AsyncSession, ref: str, *, lock: bool
) -> tuple[StockReservation, list[StockReservationLine]] | None:
    q = select(StockReservation).where(StockReservation.ref == ref)
    if lock:
        q = q.with_for_update()
    res = await session.scalar(q.execution_options(populate_existing=True))
    if res is None:
        return None
    lines = (
        await session.scalars(
            select(StockReservationLine)
            .where(StockReservationLine.reservation_id == res.id)
            .order_by(StockReservationLine.sku_id)
            .execution_options(populate_existing=True)
        )
    ).all()
    return res, list(lines)


def _result(res: StockReservation, lines: list[StockReservationLine], *, created: bool = False) -> Reservation:
    return Reservation(
        ref=res.ref,
        store_id=res.store_id,
        status=res.status,
        lines=tuple(StockLine(x.sku_id, x.qty) for x in lines),
        returned=tuple(StockLine(x.sku_id, x.returned) for x in lines if x.returned),
        created=created,
    )


async def get_reservation(session: AsyncSession, ref: str) -> Reservation | None:
    found = await _load(session, ref, lock=False)
    return _result(*found) if found else None


async def _require(session: AsyncSession, ref: str) -> tuple[StockReservation, list[StockReservationLine]]:
    found = await _load(session, _check_ref(ref), lock=True)
    if found is None:
        raise ReservationNotFound(f"no stock reservation with ref {ref!r}")
    return found


# A reservation is two statements on the driver. The first claims the ref and then locks and reads the
# stock rows in key order: the claim runs before any stock row is touched (it gates the scan as a one-time
# filter), so a concurrent caller with the same ref waits on the ref's row before it locks stock, as when
# they were two statements; a ref already claimed locks no stock row at all (a repeat then locks only the
# reservation, in the order release and commit take them: reservation, then stock). The second — only when every line is available — changes the levels, writes
# the movements and the reservation lines at once. (Locking and updating in one statement was tried:
# under concurrent transfers its FOR UPDATE in a WITH query returned levels older than the ones its UPDATE
# then met, so the check must come before the update, in its own statement.)
_CLAIM_AND_LOCK = DriverStatement(
    """
    WITH claim AS (
        INSERT INTO stock_reservations (ref, store_id, status, created_at, updated_at)
        SELECT :ref, id, 'held', :now, :now FROM stores WHERE id = :store_id
        ON CONFLICT (ref) DO NOTHING
        RETURNING id
    )
    SELECT s.sku_id, s.on_hand - s.reserved AS available, (SELECT id FROM claim) AS rid
    FROM stock_levels s
    WHERE (SELECT count(*) FROM claim) = 1
      AND s.store_id = :store_id AND s.sku_id = ANY(CAST(:skus AS bigint[]))
    ORDER BY s.sku_id
    FOR UPDATE OF s
    """
)
# No row from the first statement: the ref was claimed before, or none of the SKUs has a stock row at the
# store, or the store does not exist. A reservation committed earlier always has its lines; ours has none.
_CLAIMED = DriverStatement(
    """
    SELECT r.id, NOT EXISTS (SELECT 1 FROM stock_reservation_lines l WHERE l.reservation_id = r.id) AS ours
    FROM stock_reservations r WHERE r.ref = :ref
    """
)
_HOLD = DriverStatement(
    """
    WITH want AS (
        SELECT * FROM unnest(CAST(:skus AS bigint[]), CAST(:qtys AS bigint[])) AS w(sku_id, qty)
    ), upd AS (
        UPDATE stock_levels s SET reserved = s.reserved + w.qty, updated_at = :now
        FROM want w WHERE s.store_id = :store_id AND s.sku_id = w.sku_id
        RETURNING s.sku_id
    ), mv AS (
        INSERT INTO stock_movements (store_id, sku_id, kind, on_hand_delta, reserved_delta, ref, actor, reason,
                                     created_at)
        SELECT :store_id, sku_id, 'reserve', 0, qty, :ref, 'system', 'reserved', :now FROM want
    ), rl AS (
        INSERT INTO stock_reservation_lines (reservation_id, sku_id, qty, returned)
        SELECT :rid, sku_id, qty, 0 FROM want
    )
    SELECT count(*) FROM upd
    """
)
_UNCLAIM = DriverStatement("DELETE FROM stock_reservations WHERE id = :id")


async def reserve_stock(session: AsyncSession, store_id: int, lines: Iterable[LineInput], ref: str) -> Reservation:
    """Hold units at a store for `ref` (an order): all lines or none (OutOfStock names what is short).

    A repeat with the same ref and lines returns the first reservation (`created=False`), in whatever
    state it now is; the same ref with other lines is RefReused.
    """
    wanted = normalize_lines(lines)
    _check_ref(ref)
    now = clock.now()
    skus = [x.sku_id for x in wanted]
    rows = await fetch(session, _CLAIM_AND_LOCK, {"ref": ref, "store_id": store_id, "now": now, "skus": skus})
    if rows:
        rid = rows[0]["rid"]  # rows come only after our claim
    else:
        found = await fetchrow(session, _CLAIMED, {"ref": ref})
        if found is None:  # nothing was claimed: the store is not there
            raise NotFound(f"store {store_id} does not exist")
        if not found["ours"]:  # a repeat: the first reservation, locked (reservation before stock)
            res, have = await _require(session, ref)
            if tuple(StockLine(x.sku_id, x.qty) for x in have) != wanted:
                raise RefReused(f"ref {ref!r} already reserved other lines; use a new ref for a new reservation")
            return _result(res, have)
        rid = found["id"]
    available = {r["sku_id"]: r["available"] for r in rows}
    short = [
        {"sku_id": x.sku_id, "wanted": x.qty, "available": max(available.get(x.sku_id, 0), 0)}
        for x in wanted
        if available.get(x.sku_id, 0) < x.qty
    ]
    if short:
        # Undo the claim so the caller's transaction holds nothing of this attempt.
        await fetchval(session, _UNCLAIM, {"id": rid})
        raise OutOfStock(store_id, short)
    changed = await fetchval(
        session,
        _HOLD,
        {"skus": skus, "qtys": [x.qty for x in wanted], "store_id": store_id, "ref": ref, "rid": rid, "now": now},
    )
    if changed != len(wanted):  # the locks make this impossible; refuse rather than log a lie
        raise RuntimeError(f"stock update for {ref} changed {changed} of {len(wanted)} rows")
    mark_store_stock_changed(session, store_id)
    log.info("stock_reserved", ref=ref, store_id=store_id, lines=len(wanted))
    return Reservation(ref=ref, store_id=store_id, status="held", lines=wanted, created=True)


async def _set_status(session: AsyncSession, res: StockReservation, status: str, store_id: int | None = None) -> None:
    res.status = status
    if store_id is not None:
        res.store_id = store_id
    res.updated_at = clock.now()
    await session.flush()


async def release_stock(session: AsyncSession, ref: str) -> Reservation:
    """Give held units back (order cancelled or unpaid). Releasing twice is a no-op; a sold one is refused."""
    res, lines = await _require(session, ref)
    if res.status == "released":
        return _result(res, lines)
    if res.status != "held":
        raise ReservationStateError(f"reservation {ref!r} is {res.status}; return the stock instead")
    await lock_stock_rows(session, ((res.store_id, x.sku_id) for x in lines))
    await apply_deltas(
        session,
        [Delta(res.store_id, x.sku_id, 0, -x.qty, "release") for x in lines],
        ref=ref,
        reason="released",
        by_order=True,
    )
    await _set_status(session, res, "released")
    log.info("stock_released", ref=ref, store_id=res.store_id)
    return _result(res, lines)


async def commit_stock(session: AsyncSession, ref: str) -> Reservation:
    """The held units are sold (handed over): on_hand and reserved both go down. Twice is a no-op."""
    res, lines = await _require(session, ref)
    if res.status == "committed":
        return _result(res, lines)
    if res.status != "held":
        raise ReservationStateError(f"reservation {ref!r} was released; it cannot be sold")
    await lock_stock_rows(session, ((res.store_id, x.sku_id) for x in lines))
    await apply_deltas(
        session,
        [Delta(res.store_id, x.sku_id, -x.qty, -x.qty, "sell") for x in lines],
        ref=ref,
        reason="sold",
        by_order=True,
    )
    await _set_status(session, res, "committed")
    log.info("stock_committed", ref=ref, store_id=res.store_id)
    return _result(res, lines)


async def return_stock(
    session: AsyncSession, ref: str, lines: Iterable[LineInput] | None = None, *, return_ref: str | None = None
) -> Reservation:
    """Sold units come back to the shelf of the store that sold them (after-sales). `lines=None` returns
    everything not yet returned.

    Idempotent by `return_ref` (default: derived from ref and lines, so an identical repeat is a no-op;
    pass the refund's own id to make two identical partial returns both count).
    """
    res, have = await _require(session, ref)
    if res.status != "committed":
        raise ReservationStateError(f"reservation {ref!r} is {res.status}; only sold stock can be returned")
    by_sku = {x.sku_id: x for x in have}
    wanted = (
        normalize_lines(lines)
        if lines is not None
        else tuple(StockLine(x.sku_id, x.qty - x.returned) for x in have if x.qty > x.returned)
    )
    if not wanted:
        return _result(res, have)
    key = _check_ref(return_ref or f"{ref}:return:" + ",".join(f"{x.sku_id}x{x.qty}" for x in wanted)[:60])
    done = await session.scalar(
        select(StockMovement.id).where(StockMovement.kind == "return", StockMovement.ref == key).limit(1)
    )
    if done is not None:
        return _result(res, have)
    for line in wanted:
        sold = by_sku.get(line.sku_id)
        if sold is None:
            raise ReturnExceedsSold(f"SKU {line.sku_id} was not sold under {ref!r}")
        if line.qty > sold.qty - sold.returned:
            raise ReturnExceedsSold(
                f"SKU {line.sku_id}: returning {line.qty} but only {sold.qty - sold.returned} sold and not yet returned"
            )
    await lock_stock_rows(session, ((res.store_id, x.sku_id) for x in wanted))
    await apply_deltas(
        session,
        [Delta(res.store_id, x.sku_id, x.qty, 0, "return") for x in wanted],
        ref=key,
        reason=f"returned from {ref}",
        by_order=True,
    )
    for line in wanted:
        by_sku[line.sku_id].returned += line.qty
    await session.flush()
    log.info("stock_returned", ref=ref, return_ref=key, store_id=res.store_id)
    return _result(res, have)


async def transfer_reservation(session: AsyncSession, ref: str, to_store_id: int) -> Reservation:
    """Move held units to another store (another store claimed the urgent order): the destination must
    have them available (else OutOfStock, nothing changed). Moving to where it already is is a no-op."""
    res, lines = await _require(session, ref)
    if res.store_id == to_store_id:
        return _result(res, lines)
    if res.status != "held":
        raise ReservationStateError(f"reservation {ref!r} is {res.status}; only held stock can move")
    exists = await session.scalar(text("SELECT 1 FROM stores WHERE id = :id"), {"id": to_store_id})
    if exists is None:
        raise NotFound(f"store {to_store_id} does not exist")
    from_store = res.store_id
    wanted = [StockLine(x.sku_id, x.qty) for x in lines]
    levels = await lock_stock_rows(
        session, [(from_store, x.sku_id) for x in wanted] + [(to_store_id, x.sku_id) for x in wanted]
    )
    short = _shortages(to_store_id, wanted, levels)
    if short:
        raise OutOfStock(to_store_id, short)
    await apply_deltas(
        session,
        [Delta(from_store, x.sku_id, 0, -x.qty, "release") for x in wanted]
        + [Delta(to_store_id, x.sku_id, 0, x.qty, "reserve") for x in wanted],
        ref=ref,
        reason=f"transferred from store {from_store} to store {to_store_id}",
        by_order=True,
    )
    await _set_status(session, res, "held", store_id=to_store_id)
    log.info("stock_transferred", ref=ref, from_store=from_store, to_store=to_store_id)
    return _result(res, lines)
