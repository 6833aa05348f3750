"""Member API shapes (msgspec): the card, statement pages, levels, top-up plans, QR tokens, verified members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from shop.members.models import MemberCardEntry, MemberLevel, TopUp, TopUpPlan


class LevelOut(msgspec.Struct):
    id: int
    code: str
    name: str
    min_growth_fen: int
    discount_pct: int
    points_per_yuan: int
    benefits: list[str]

    @classmethod
    def of(cls, x: MemberLevel) -> LevelOut:
        return cls(x.id, x.code, x.name, x.min_growth_fen, x.discount_pct, x.points_per_yuan, list(x.benefits or []))


class LevelIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, Meta(pattern=r"^[a-z0-9_]{2,32}$")]
    name: Annotated[str, Meta(min_length=1, max_length=32)]
    min_growth_fen: Annotated[int, Meta(ge=0, le=10**10)]
    discount_pct: Annotated[int, Meta(ge=0, le=30)] = 0
    points_per_yuan: Annotated[int, Meta(ge=0, le=100)] = 1
    benefits: Annotated[list[Annotated[str, Meta(max_length=100)]], Meta(max_length=20)] = []


class LevelPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=32)] | UnsetType = UNSET
    min_growth_fen: Annotated[int, Meta(ge=0, le=10**10)] | UnsetType = UNSET
    discount_pct: Annotated[int, Meta(ge=0, le=30)] | UnsetType = UNSET
    points_per_yuan: Annotated[int, Meta(ge=0, le=100)] | UnsetType = UNSET
    benefits: Annotated[list[Annotated[str, Meta(max_length=100)]], Meta(max_length=20)] | UnsetType = UNSET


class NextLevelOut(msgspec.Struct):
    name: str
    min_growth_fen: int
    growth_needed_fen: int


class CardOut(msgspec.Struct):
    id: int
    card_no: str
    level: LevelOut
    next_level: NextLevelOut | None
    growth_fen: int
    points: int
    principal_fen: int
    bonus_fen: int
    balance_fen: int
    held_fen: int


class EntryOut(msgspec.Struct):
    id: int
    kind: str
    principal_delta_fen: int
    bonus_delta_fen: int
    points_delta: int
    balance_after_fen: int
    points_after: int
    memo: str
    at: datetime

    @classmethod
    def of(cls, e: MemberCardEntry) -> EntryOut:
        return cls(
            e.id,
            e.kind,
            e.principal_delta_fen,
            e.bonus_delta_fen,
            e.points_delta,
            e.principal_after_fen + e.bonus_after_fen,
            e.points_after,
            e.memo,
            e.at,
        )


class EntryPage(msgspec.Struct):
    items: list[EntryOut]
    total: int
    page: int
    page_size: int


class CodeOut(msgspec.Struct):
    token: str
    qr_text: str
    expires_at: datetime
    ttl_seconds: int


class VerifyIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, Meta(min_length=1, max_length=200)]


class VerifiedOut(msgspec.Struct):
    card_id: int
    card_no: str
    customer_id: int
    nickname: str
    phone: str | None
    level_name: str
    discount_pct: int
    points: int
    balance_fen: int


class PlanOut(msgspec.Struct):
    id: int
    name: str
    pay_fen: int
    bonus_fen: int
    active: bool

    @classmethod
    def of(cls, p: TopUpPlan) -> PlanOut:
        return cls(p.id, p.name, p.pay_fen, p.bonus_fen, p.active)


class PlanIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=50)]
    pay_fen: Annotated[int, Meta(ge=100, le=1_000_000)]
    bonus_fen: Annotated[int, Meta(ge=0, le=1_000_000)] = 0
    active: bool = True


class PlanPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=50)] | UnsetType = UNSET
    bonus_fen: Annotated[int, Meta(ge=0, le=1_000_000)] | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class TopUpIn(msgspec.Struct, forbid_unknown_fields=True):
    plan_id: int | None = None
    pay_fen: int | None = None
    channel: str = "JSAPI"


class TopUpOut(msgspec.Struct):
    id: int
    number: str
    pay_fen: int
    bonus_fen: int
    status: str
    deadline_at: datetime
    paid_at: datetime | None

    @classmethod
    def of(cls, t: TopUp) -> TopUpOut:
        return cls(t.id, t.number, t.pay_fen, t.bonus_fen, t.status, t.deadline_at, t.paid_at)
