"""Rebuild each dispatch from its audit trail alone and compare with the tables: the timeline tells the whole story."""

from __future__ import annotations

from sqlalchemy import text

from core.db import unit_of_work

OFFER_STATE = {
    "offer_sent": "open",
    "offer_claimed": "accepted",
    "offer_declined": "declined",
    "offer_expired": "expired",
    "offer_withdrawn": "withdrawn",
    "fallback_hq": "accepted",
}
DISPATCH_STATE = {
    "created": "pending",
    "waiting": "offering",
    "offer_sent": "offering",
    "offer_claimed": "accepted",
    "cancelled": "cancelled",
    "failed": "failed",
}


async def replay_mismatches() -> list[str]:
    """Every difference between what the timeline says and what the tables hold (empty when they agree)."""
    problems: list[str] = []
    async with unit_of_work() as s:
        dispatches = (await s.execute(text("SELECT id, order_id, status, accepted_store_id FROM dispatches"))).all()
        for d in dispatches:
            events = (
                await s.execute(
                    text(
                        "SELECT kind, store_id, offer_id, reason FROM dispatch_events WHERE dispatch_id = :d ORDER BY id"
                    ),
                    {"d": d.id},
                )
            ).all()
            status, store, offers = None, None, {}
            for e in events:
                if e.kind in OFFER_STATE and e.offer_id is not None:
                    offers[e.offer_id] = OFFER_STATE[e.kind]
                if e.kind == "stage" and e.reason == "delivered":
                    status = "delivered"
                elif e.kind in DISPATCH_STATE and not (e.kind == "offer_sent" and status == "accepted"):
                    status = DISPATCH_STATE[e.kind]
                if e.kind in ("offer_claimed",):
                    store = e.store_id
            actual = dict(
                (
                    await s.execute(text("SELECT id, status FROM dispatch_offers WHERE dispatch_id = :d"), {"d": d.id})
                ).all()
            )
            if status != d.status:
                problems.append(f"order {d.order_id}: timeline says {status}, table says {d.status}")
            if store != d.accepted_store_id:
                problems.append(f"order {d.order_id}: timeline says store {store}, table says {d.accepted_store_id}")
            if offers != actual:
                problems.append(f"order {d.order_id}: offers from the timeline {offers} != table {actual}")
    return problems
