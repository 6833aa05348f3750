"""What a received message means (pure): its dedupe key, its context for answering, and an answer's shape."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engage.scenes import Scene, parse_scene

_OPENID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_DIGITS = re.compile(r"^\d{1,20}$")
USER_MESSAGE_TYPES = ("text", "image", "voice", "video", "shortvideo", "location", "link")


class MalformedMessage(ValueError):
    """A verified message that is not one WeChat would send (no sender, no type, odd CreateTime)."""


def check_fields(fields: dict[str, Any]) -> None:
    sender = fields.get("FromUserName")
    if not isinstance(sender, str) or not _OPENID.match(sender):
        raise MalformedMessage("FromUserName is missing or not an openid")
    msg_type = fields.get("MsgType")
    if not isinstance(msg_type, str) or not re.match(r"^[a-z_]{1,32}$", msg_type):
        raise MalformedMessage("MsgType is missing or unknown")
    if not isinstance(fields.get("CreateTime"), str) or not _DIGITS.match(fields["CreateTime"]):
        raise MalformedMessage("CreateTime is missing or not a number")
    if msg_type == "event" and not isinstance(fields.get("Event"), str):
        raise MalformedMessage("an event without Event")
    for name, value in fields.items():
        if not isinstance(value, str | None):
            raise MalformedMessage(f"{name} has nested elements")


def dedupe_key(fields: dict[str, Any]) -> str:
    """WeChat retries a message with the same MsgId, an event with the same sender, CreateTime and Event."""
    msgid = fields.get("MsgId") or fields.get("MsgID")
    if msgid:
        return f"msg:{str(msgid)[:64]}"
    return f"evt:{fields['FromUserName']}:{fields['CreateTime']}:{str(fields.get('Event') or '')[:32]}"


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) != float("inf") else None


def location_of(fields: dict[str, Any]) -> tuple[float, float] | None:
    """(lat, lng) of a location message (Location_X/Y) or a LOCATION event (Latitude/Longitude)."""
    if fields.get("MsgType") == "location":
        lat, lng = _float(fields.get("Location_X")), _float(fields.get("Location_Y"))
    elif fields.get("MsgType") == "event" and fields.get("Event") == "LOCATION":
        lat, lng = _float(fields.get("Latitude")), _float(fields.get("Longitude"))
    else:
        return None
    if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    return lat, lng


@dataclass(frozen=True)
class MessageContext:
    """A received message as the answering code sees it."""

    account_id: int
    appid: str
    message_id: int
    customer_id: int
    openid: str
    msg_type: str
    event: str | None  # subscribe | unsubscribe | SCAN | LOCATION | CLICK | VIEW | …
    content: str  # the text (or voice recognition), the event key, or the URL
    location: tuple[float, float] | None = None  # this message's own location
    scene: Scene | None = None

    @property
    def is_user_message(self) -> bool:
        return self.msg_type in USER_MESSAGE_TYPES


def build_context(
    fields: dict[str, Any], *, account_id: int, appid: str, message_id: int, customer_id: int
) -> MessageContext:
    msg_type = str(fields["MsgType"])
    event = str(fields["Event"]) if msg_type == "event" and fields.get("Event") else None
    if event and event.lower() in ("subscribe", "unsubscribe"):
        event = event.lower()
    elif event:
        event = event.upper()
    if msg_type == "text":
        content = str(fields.get("Content") or "")
    elif msg_type == "voice":
        content = str(fields.get("Recognition") or "")  # WeChat's speech-to-text, when enabled
    elif msg_type == "link":
        content = str(fields.get("Title") or "")
    elif event:
        content = str(fields.get("EventKey") or "")
    else:
        content = ""
    scene = None
    if event in ("subscribe", "SCAN"):
        scene = parse_scene(content, subscribe=event == "subscribe")
    return MessageContext(
        account_id=account_id,
        appid=appid,
        message_id=message_id,
        customer_id=customer_id,
        openid=str(fields["FromUserName"]),
        msg_type=msg_type,
        event=event,
        content=content[:2048],
        location=location_of(fields),
        scene=scene,
    )


def text_reply(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def news_reply(title: str, description: str, url: str, picurl: str = "") -> dict[str, Any]:
    return {"type": "news", "articles": [{"title": title, "description": description, "url": url, "picurl": picurl}]}


@dataclass(frozen=True)
class Answer:
    """What to say: a passive reply (or none), who answered, and customer-service messages to follow."""

    reply: dict[str, Any] | None
    answered_by: str  # rule | intent | fallback | none
    rule_id: int | None = None
    needs_agent: bool = False
    follow_ups: tuple[dict[str, Any], ...] = field(default_factory=tuple)


NO_ANSWER = Answer(None, "none")


def custom_message(reply: dict[str, Any]) -> dict[str, Any]:
    """A reply as a customer-service message body ({"msgtype": …, <msgtype>: …})."""
    if reply["type"] == "text":
        return {"msgtype": "text", "text": {"content": reply["content"]}}
    return {"msgtype": "news", "news": {"articles": reply["articles"][:1]}}
