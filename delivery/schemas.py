"""The dispatch API's shapes (msgspec): offers for the staff console, deliveries with their SLA clock, the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class OfferLineOut(msgspec.Struct):
    sku_id: int
    title: str
    qty: int


class OfferOut(msgspec.Struct):
    offer_id: int
    order_id: str  # the order's public id
    number: str
    store_id: int
    ring: int
    rank: int
    distance_m: int
    status: str
    sent_at: datetime
    deadline_at: datetime
    seconds_to_deadline: int
    promise_at: datetime
    minutes_to_promise: int
    seen: bool
    lines: list[OfferLineOut]
    decline_reason: str | None = None


class StagesOut(msgspec.Struct):
    paid_at: datetime
    first_offer_at: datetime | None
    accepted_at: datetime | None
    preparing_at: datetime | None
    out_for_delivery_at: datetime | None
    delivered_at: datetime | None


class DeliveryOut(msgspec.Struct):
    order_id: str
    number: str
    dispatch_status: str
    order_status: str
    ring: int
    store_id: int | None  # the claiming (fulfilling) store
    fallback: str | None
    promise_at: datetime
    minutes_left: int  # negative once the promise is missed
    stages: StagesOut
    courier_user_id: int | None
    risk_level: int
    proof_photo_url: str | None


class CustomerDispatchOut(msgspec.Struct):
    order_id: str
    number: str
    stage: str  # finding_store | accepted | preparing | out_for_delivery | delivered | cancelled
    store_name: str | None
    promise_at: datetime
    minutes_left: int
    stages: StagesOut
    handoff_code: str | None  # shown until delivered: the customer tells it to whoever delivers


class TimelineEntryOut(msgspec.Struct):
    at: datetime
    kind: str
    actor: str
    store_id: int | None
    offer_id: int | None
    ring: int | None
    reason: str
    data: dict[str, Any] | None


class TimelineOut(msgspec.Struct):
    order_id: str
    number: str
    dispatch_status: str
    promise_at: datetime
    stages: StagesOut
    entries: list[TimelineEntryOut]


class ClaimOut(msgspec.Struct):
    order_id: str
    store_id: int
    offer_id: int
    status: str = "claimed"


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    store_id: int


class DeclineIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""


class DeclineOut(msgspec.Struct):
    offer_id: int
    status: str
    next_step: str


class StageIn(msgspec.Struct, forbid_unknown_fields=True):
    stage: str


class CourierIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: int


class DeliverIn(msgspec.Struct, forbid_unknown_fields=True):
    handoff_code: str
    proof_photo_url: str | None = None


class BusyIn(msgspec.Struct, forbid_unknown_fields=True):
    busy: bool
    minutes: int | None = None
    reason: str = ""


class BusyOut(msgspec.Struct):
    store_id: int
    busy: bool
    until: datetime | None
    reason: str
