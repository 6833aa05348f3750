"""QR scene strings: what a parametric QR code carries back in subscribe (`qrscene_…`) and SCAN events."""

from __future__ import annotations

import re
from dataclasses import dataclass

SUBSCRIBE_PREFIX = "qrscene_"
MAX_SCENE = 64  # WeChat's limit for scene_str
_STORE = re.compile(r"^store:(\d{1,18})$")
_REFERRER = re.compile(r"^ref:(\d{1,18})$")
_CAMPAIGN = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")


@dataclass(frozen=True)
class Scene:
    raw: str
    kind: str  # store | referrer | campaign
    store_id: int | None = None
    referrer_customer_id: int | None = None


def store_scene(store_id: int) -> str:
    return f"store:{int(store_id)}"


def referrer_scene(customer_id: int) -> str:
    return f"ref:{int(customer_id)}"


def campaign_scene(name: str) -> str:
    name = name.strip()
    if not _CAMPAIGN.match(name) or _STORE.match(name) or _REFERRER.match(name):
        raise ValueError("a campaign scene is 1 to 64 letters, digits or _-:. and not store:/ref: followed by digits")
    return name


def parse_scene(event_key: str | None, *, subscribe: bool) -> Scene | None:
    """The scene of a subscribe (EventKey `qrscene_<scene>`) or SCAN (EventKey `<scene>`) event; None without one."""
    key = (event_key or "").strip()
    if subscribe:
        if not key.startswith(SUBSCRIBE_PREFIX):
            return None
        key = key[len(SUBSCRIBE_PREFIX) :]
    if not key or len(key) > MAX_SCENE:
        return None
    if m := _STORE.match(key):
        return Scene(key, "store", store_id=int(m.group(1)))
    if m := _REFERRER.match(key):
        return Scene(key, "referrer", referrer_customer_id=int(m.group(1)))
    return Scene(key, "campaign")
