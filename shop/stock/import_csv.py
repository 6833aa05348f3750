"""CSV import of one store's stock (a stocktake): `sku_code,on_hand[,reason]` sets each SKU's on_hand.

The file is validated while it streams (unknown or repeated SKUs, quantities that are not whole numbers);
then every row is locked in primary-key order in one pass and applied, refusing any on_hand below what
is reserved for orders. Any bad row: ImportFailed naming the lines, and the caller's transaction keeps
nothing of the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shop.audit import Actor, record_audit
from shop.catalogue.models import Sku
from shop.csv_rows import Errors, read_rows
from shop.stock.locks import lock_stock_rows
from shop.stock.seam import MAX_QTY, Delta, apply_deltas
from shop.stock.services import ensure_levels
from shop.stores.services import get_store

REQUIRED = ("sku_code", "on_hand")
OPTIONAL = ("reason",)
BATCH = 1000
_WHOLE = re.compile(r"^\d+$")


@dataclass
class StockImportResult:
    store_id: int
    rows: int = 0
    changed: int = 0
    unchanged: int = 0


async def import_stock(
    session: AsyncSession,
    store_id: int,
    lines: Iterable[str],
    actor: Actor,
    *,
    progress: Callable[[int], None] | None = None,
) -> StockImportResult:
    await get_store(session, store_id)
    errors = Errors()
    targets: dict[int, tuple[int, int, str]] = {}  # sku_id -> (line, on_hand, reason)
    seen: dict[str, int] = {}
    pending: list[tuple[int, str, int, str]] = []
    rows = 0

    async def resolve(batch: list[tuple[int, str, int, str]]) -> None:
        codes = {code for _, code, _, _ in batch}
        ids = dict((await session.execute(select(Sku.code, Sku.id).where(Sku.code.in_(codes)))).all())
        for line, code, qty, reason in batch:
            if code not in ids:
                errors.add(line, f"unknown sku_code {code!r}")
            else:
                targets[ids[code]] = (line, qty, reason)

    for line, raw in read_rows(lines, required=REQUIRED, optional=OPTIONAL):
        rows += 1
        code, qty_text, reason = raw["sku_code"], raw["on_hand"], raw.get("reason", "")
        if not code:
            errors.add(line, "sku_code is empty")
            continue
        if code in seen:
            errors.add(line, f"duplicate sku_code {code!r} (also on line {seen[code]})")
            continue
        seen[code] = line
        if not _WHOLE.match(qty_text) or int(qty_text) > MAX_QTY:
            errors.add(line, f"on_hand must be a whole number from 0 to {MAX_QTY}, got {qty_text!r}")
            continue
        if len(reason) > 200:
            errors.add(line, "reason is longer than 200 characters")
            continue
        pending.append((line, code, int(qty_text), reason))
        if len(pending) >= BATCH:
            await resolve(pending)
            pending = []
            if progress:
                progress(rows)
    if pending:
        await resolve(pending)
    if rows == 0:
        errors.add(2, "the file has a header but no rows")
    errors.raise_if_any(rows)

    result = StockImportResult(store_id, rows)
    sku_ids = sorted(targets)
    for i in range(0, len(sku_ids), BATCH):
        chunk = sku_ids[i : i + BATCH]  # ascending chunks keep the global lock order
        await ensure_levels(session, store_id, chunk)
        levels = await lock_stock_rows(session, [(store_id, s) for s in chunk])
        deltas = []
        for sku_id in chunk:
            line, qty, reason = targets[sku_id]
            level = levels[(store_id, sku_id)]
            if qty < level.reserved:
                errors.add(line, f"on_hand {qty} is below the {level.reserved} units reserved for orders")
            elif qty != level.on_hand:
                deltas.append((Delta(store_id, sku_id, qty - level.on_hand, 0, "adjust"), reason))
            else:
                result.unchanged += 1
        if errors:
            continue
        for reason in sorted({r for _, r in deltas}):
            group = [d for d, r in deltas if r == reason]
            await apply_deltas(session, group, ref=None, reason=reason or "stock import", actor=actor.label)
        result.changed += len(deltas)
        if progress:
            progress(min(rows, i + BATCH))
    errors.raise_if_any(rows)
    await record_audit(session, actor, "stock.import", "store", store_id, store_id=store_id, after=asdict(result))
    return result
