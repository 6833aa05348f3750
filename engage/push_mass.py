"""Mass send by tag (quota-limited by WeChat: 4 a month for a service account): the WeChat tag of the
segment's customer tag is brought in line with the segment's members, then one mass/sendall."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from engage.accounts import Account, client_for
from engage.models import Push
from engage.segments import Segment, segment_members
from wechat.errors import WeChatAPIError
from wechat.official import OfficialAccount as WeChatClient

log = structlog.get_logger(__name__)

TAG_BATCH = 50  # batchtagging takes at most 50 openids


async def _tag_id(client: WeChatClient, name: str) -> int:
    for tag in await client.get_tags():
        if tag.get("name") == name:
            return int(tag["id"])
    return await client.create_tag(name)


async def _current_members(client: WeChatClient, tag_id: int) -> set[str]:
    found: set[str] = set()
    cursor = ""
    while True:
        openids, cursor = await client.tag_members(tag_id, cursor)
        found.update(openids)
        if not cursor:
            return found


async def sync_tag(client: WeChatClient, name: str, openids: set[str]) -> int:
    """The WeChat tag `name` holds exactly these followers; returns its id."""
    tag_id = await _tag_id(client, name)
    current = await _current_members(client, tag_id)
    extra, missing = sorted(current - openids), sorted(openids - current)
    for i in range(0, len(extra), TAG_BATCH):
        await client.untag_users(tag_id, extra[i : i + TAG_BATCH])
    for i in range(0, len(missing), TAG_BATCH):
        await client.tag_users(tag_id, missing[i : i + TAG_BATCH])
    return tag_id


async def send_mass(session: AsyncSession, push: Push, account: Account, segment: Segment) -> None:
    """Runs in the expand job: a refusal (quota, content) fails the push; a transport error retries the job."""
    members = await segment_members(session, account.id, segment)
    client = client_for(account)
    try:
        tag_id = await sync_tag(client, segment.tags[0], {m.openid for m in members})
        push.mass_msg_id = await client.send_mass_text(push.content["text"], tag_id=tag_id)
    except WeChatAPIError as exc:
        push.status, push.error, push.finished_at = "failed", f"{exc.errcode} {exc.errmsg}"[:500], clock.now()
        log.warning("push_mass_refused", push_id=push.id, errcode=exc.errcode)
        return
    push.recipients = len(members)
    push.status, push.finished_at = "done", clock.now()
    log.info("push_mass_sent", push_id=push.id, recipients=len(members), msg_id=push.mass_msg_id)
