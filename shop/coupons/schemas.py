"""API shapes of coupons (msgspec): templates for admins, coupons for customers, redemption for staff."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

Fen = Annotated[int, Meta(ge=0, le=10**9)]
Kind = Literal["threshold", "percent", "cash", "newcomer", "free_delivery"]
Scope = Literal["all", "categories", "products", "stores"]
State = Literal["available", "locked", "used", "returned", "expired"]


class TemplateIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, Meta(min_length=1, max_length=60)]
    kind: Kind
    total_quota: Annotated[int, Meta(ge=1, le=100_000_000)]
    description: Annotated[str, Meta(max_length=200)] = ""
    code: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_\-.]{1,64}$")] | None = None
    threshold_fen: Fen = 0
    off_fen: Fen = 0
    percent_off: Annotated[int, Meta(ge=1, le=99)] | None = None
    cap_fen: Annotated[int, Meta(ge=1, le=10**9)] | None = None
    scope: Scope = "all"
    scope_ids: Annotated[list[int], Meta(max_length=500)] = []
    claim_starts_at: datetime | None = None
    claim_ends_at: datetime | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: Annotated[int, Meta(ge=1, le=3650)] | None = None
    per_customer_limit: Annotated[int, Meta(ge=1, le=100)] = 1
    per_day_limit: Annotated[int, Meta(ge=1, le=100)] | None = None
    claimable: bool = True
    auto_issue: Literal["subscribe"] | None = None


class TemplatePatch(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, Meta(min_length=1, max_length=60)] | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    status: Literal["active", "paused", "ended"] | UnsetType = UNSET
    total_quota: Annotated[int, Meta(ge=1, le=100_000_000)] | UnsetType = UNSET
    claim_starts_at: datetime | UnsetType | None = UNSET
    claim_ends_at: datetime | UnsetType | None = UNSET
    claimable: bool | UnsetType = UNSET
    auto_issue: Literal["subscribe"] | UnsetType | None = UNSET


class TemplateOut(msgspec.Struct):
    id: int
    code: str | None
    title: str
    description: str
    kind: str
    value: str  # e.g. 满¥100.00减¥20.00
    threshold_fen: int
    off_fen: int
    percent_off: int | None
    cap_fen: int | None
    scope: str
    scope_ids: list[int]
    claim_starts_at: datetime | None
    claim_ends_at: datetime | None
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    total_quota: int
    issued: int
    per_customer_limit: int
    per_day_limit: int | None
    claimable: bool
    auto_issue: str | None
    status: str


class TemplatePage(msgspec.Struct):
    items: list[TemplateOut]
    total: int
    page: int
    page_size: int


class CentreItemOut(msgspec.Struct):
    template_id: int
    title: str
    description: str
    value: str
    left: int  # still to be claimed
    claimed_by_me: int
    can_claim: bool
    reason: str | None  # why not, in Chinese
    claim_ends_at: datetime | None
    valid_until: datetime | None
    valid_days: int | None


class CouponOut(msgspec.Struct):
    id: int
    template_id: int
    title: str
    value: str
    kind: str
    state: str
    code: str
    source: str
    valid_from: datetime
    valid_until: datetime
    claimed_at: datetime
    used_at: datetime | None


class CouponPage(msgspec.Struct):
    items: list[CouponOut]
    total: int
    page: int
    page_size: int


class ClaimedOut(msgspec.Struct):
    coupon_id: int
    template_id: int
    title: str
    valid_until: datetime


class IssueIn(msgspec.Struct, forbid_unknown_fields=True):
    customer_ids: Annotated[list[int], Meta(min_length=1, max_length=10_000)]


class IssueOut(msgspec.Struct):
    issued: int
    skipped: int
    coupon_ids: list[int]


class UsageOut(msgspec.Struct):
    template_id: int
    title: str
    status: str
    total_quota: int
    issued: int
    available: int
    locked: int
    used: int
    returned: int
    expired: int
    times_returned: int


class RedeemIn(msgspec.Struct, forbid_unknown_fields=True):
    store_id: int
    code: Annotated[str, Meta(min_length=4, max_length=32)]


class RedeemOut(msgspec.Struct):
    coupon_id: int
    title: str
    state: str
    customer_id: int
    valid_until: datetime
