"""What a message means: dedupe keys, scenes, locations, wording."""

from __future__ import annotations

from datetime import date

import pytest

from engage import wording
from engage.conversation import MalformedMessage, build_context, check_fields, custom_message, dedupe_key, news_reply
from engage.scenes import campaign_scene, parse_scene, referrer_scene, store_scene
from shop.stores.hours import build_schedule, interval_from_text


def fields(**kw: str) -> dict[str, str]:
    return {"ToUserName": "gh_1", "FromUserName": "oUser1", "CreateTime": "1700000000", **kw}


def test_dedupe_keys_follow_wechat_retries() -> None:
    assert dedupe_key(fields(MsgType="text", Content="x", MsgId="123")) == "msg:123"
    event = fields(MsgType="event", Event="subscribe", EventKey="")
    assert dedupe_key(event) == "evt:oUser1:1700000000:subscribe"
    assert dedupe_key({**event, "CreateTime": "1700000001"}) != dedupe_key(event)
    assert dedupe_key({**event, "Event": "unsubscribe"}) != dedupe_key(event)


@pytest.mark.parametrize(
    "bad",
    [
        {"MsgType": "text"},
        fields(FromUserName="o<script>", MsgType="text"),
        fields(MsgType="text", CreateTime="yesterday"),
        fields(MsgType="event"),
        fields(MsgType="TEXT!"),
        fields(MsgType="text", Content={"nested": "x"}),  # type: ignore[arg-type]
    ],
)
def test_malformed_messages(bad: dict) -> None:
    with pytest.raises(MalformedMessage):
        check_fields(bad)


def test_scenes() -> None:
    assert parse_scene("qrscene_store:12", subscribe=True).store_id == 12  # type: ignore[union-attr]
    assert parse_scene("ref:7", subscribe=False).referrer_customer_id == 7  # type: ignore[union-attr]
    assert parse_scene("qrscene_spring-sale", subscribe=True).kind == "campaign"  # type: ignore[union-attr]
    assert parse_scene("", subscribe=True) is None
    assert parse_scene("store:12", subscribe=True) is None  # a subscribe's key has the qrscene_ prefix
    assert parse_scene("qrscene_" + "x" * 65, subscribe=True) is None
    assert (store_scene(3), referrer_scene(4), campaign_scene("c1")) == ("store:3", "ref:4", "c1")
    with pytest.raises(ValueError):
        campaign_scene("store:5")


def test_contexts() -> None:
    sub = build_context(
        fields(MsgType="event", Event="subscribe", EventKey="qrscene_store:9"),
        account_id=1,
        appid="wx1",
        message_id=2,
        customer_id=3,
    )
    assert (sub.event, sub.scene.store_id, sub.is_user_message) == ("subscribe", 9, False)  # type: ignore[union-attr]
    loc = build_context(
        fields(MsgType="location", Location_X="31.2", Location_Y="121.4", MsgId="5"),
        account_id=1,
        appid="wx1",
        message_id=2,
        customer_id=3,
    )
    assert loc.location == (31.2, 121.4) and loc.is_user_message
    report = build_context(
        fields(MsgType="event", Event="LOCATION", Latitude="91", Longitude="121"),
        account_id=1,
        appid="wx1",
        message_id=2,
        customer_id=3,
    )
    assert report.location is None  # off the globe
    voice = build_context(
        fields(MsgType="voice", Recognition="附近的药店", MsgId="6"),
        account_id=1,
        appid="wx1",
        message_id=2,
        customer_id=3,
    )
    assert voice.content == "附近的药店"
    click = build_context(
        fields(MsgType="event", Event="click", EventKey="MY_ORDERS"),
        account_id=1,
        appid="wx1",
        message_id=2,
        customer_id=3,
    )
    assert (click.event, click.content) == ("CLICK", "MY_ORDERS")


def test_custom_message_bodies() -> None:
    assert custom_message({"type": "text", "content": "hi"}) == {"msgtype": "text", "text": {"content": "hi"}}
    news = custom_message(news_reply("t", "d", "https://x"))
    assert news["news"]["articles"][0]["url"] == "https://x"


def test_wording() -> None:
    assert (wording.distance(0.2), wording.distance(350.4), wording.distance(1234)) == ("1米", "350米", "1.2公里")
    day = date(2026, 3, 3)  # a Tuesday
    schedule = build_schedule(
        [(1, interval_from_text("08:00", "11:00")), (1, interval_from_text("13:00", "01:00"))]
        + [(wd, interval_from_text("00:00", "24:00")) for wd in (2,)]
    )
    assert wording.hours_on(schedule, day) == "08:00-11:00、13:00-次日01:00"
    assert wording.hours_on(schedule, date(2026, 3, 4)) == "全天营业"
    assert wording.hours_on(schedule, date(2026, 3, 5)) == "今日休息"
    assert wording.order_status("out_for_delivery") == "配送中"
