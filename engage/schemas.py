"""Request and response shapes of the engage API (msgspec)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from engage.models import KeywordRule, Menu, Push, QrCode


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    match_type: str
    pattern: str
    reply_type: str
    reply: dict[str, Any]
    name: str = ""
    priority: int = 0
    active: bool = True
    all_accounts: bool = False  # answer on every account of the matrix


class RuleOut(msgspec.Struct):
    id: int
    account_id: int | None
    name: str
    match_type: str
    pattern: str
    priority: int
    reply_type: str
    reply: dict[str, Any]
    active: bool
    hits: int
    updated_at: datetime

    @classmethod
    def of(cls, r: KeywordRule) -> RuleOut:
        return cls(
            r.id,
            r.account_id,
            r.name,
            r.match_type,
            r.pattern,
            r.priority,
            r.reply_type,
            r.reply,
            r.active,
            r.hits,
            r.updated_at,
        )


class TryIn(msgspec.Struct):
    text: str


class MenuOut(msgspec.Struct):
    menu: dict[str, Any]
    version: int
    status: str
    published_version: int | None
    published_at: datetime | None
    error: str | None

    @classmethod
    def of(cls, m: Menu) -> MenuOut:
        return cls(m.menu, m.version, m.status, m.published_version, m.published_at, m.error)


class TextsIn(msgspec.Struct, forbid_unknown_fields=True):
    welcome_text: str | None = None
    fallback_text: str | None = None


class QrIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    store_id: int | None = None
    referrer_customer_id: int | None = None
    campaign: str | None = None
    label: str = ""


class QrOut(msgspec.Struct):
    id: int
    kind: str
    scene: str
    label: str
    store_id: int | None
    referrer_customer_id: int | None
    url: str
    png: str  # where the console gets the image
    scans: int
    subscribes: int
    referrals: int
    created_at: datetime

    @classmethod
    def of(cls, q: QrCode) -> QrOut:
        return cls(
            q.id,
            q.kind,
            q.scene,
            q.label,
            q.store_id,
            q.referrer_customer_id,
            q.url,
            f"/api/engage/qrcodes/{q.id}/png",
            q.scans,
            q.subscribes,
            q.referrals,
            q.created_at,
        )


class SegmentIn(msgspec.Struct):
    segment: dict[str, Any]


class SegmentOut(msgspec.Struct):
    count: int
    sample: list[int]  # a few customer ids


class PushIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    segment: dict[str, Any]
    mode: str  # template | custom | mass
    content: dict[str, Any]


class PushOut(msgspec.Struct):
    id: int
    name: str
    mode: str
    segment: dict[str, Any]
    content: dict[str, Any]
    status: str
    recipients: int
    sent: int
    failed: int
    skipped: int
    queued: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, p: Push, counts: dict[str, int] | None = None) -> PushOut:
        c = counts or {}
        return cls(
            p.id,
            p.name,
            p.mode,
            p.segment,
            p.content,
            p.status,
            p.recipients,
            c.get("sent", 0),
            c.get("failed", 0),
            c.get("skipped", 0),
            c.get("queued", 0),
            p.error,
            p.created_at,
            p.finished_at,
        )


class ReplyIn(msgspec.Struct):
    content: str


class InboxOut(msgspec.Struct):
    message_id: int
    customer_id: int | None
    nickname: str
    openid: str
    msg_type: str
    content: str
    received_at: datetime
    handled_at: datetime | None
    window_open: bool
    window_closes_at: datetime | None


class VerifyFileOut(msgspec.Struct):
    filename: str
    content: str
    uploaded_at: datetime
    url: str
