"""The engage API for the consoles: keyword rules, menu, templates and texts, QR codes and referrals,
segments and pushes, the agent inbox, auto-answer statistics, domain-verification files.

Every route takes `appid` (query) to choose an account of the matrix; without it, the default account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody

from core.auth import require_principal, roles_guard
from core.db import DbSession, unit_of_work
from core.errors import Forbidden
from core.settings import get_settings
from engage import account_settings, inbox, publish_menu, qr_codes, rules
from engage.accounts import resolve_account
from engage.coupon_campaigns import CouponCampaignController
from engage.referrals import referral_counts
from engage.schemas import (
    InboxOut,
    MenuOut,
    PushIn,
    PushOut,
    QrIn,
    QrOut,
    ReplyIn,
    RuleIn,
    RuleOut,
    SegmentIn,
    SegmentOut,
    TextsIn,
    TryIn,
    VerifyFileOut,
)
from engage.segments import parse_segment, segment_members, segment_size
from engage.send_push import create_push, push_log
from engage.verify_files import delete_verify_file, list_verify_files, upload_verify_file
from shop.services import authorize_store, stores_of_user

Req = Request[Any, Any, Any]
Appid = FromQuery[str | None]


def _user_id(request: Req) -> int:
    return require_principal(request).id


@dataclass
class VerifyFileUpload:
    """The multipart form: a form without a `file` part is a 400 (a bare UploadFile made Litestar fail with 500)."""

    file: UploadFile


class EngageAdminController(Controller):
    path = "/api/engage"
    tags = ["engage (admin)"]
    guards = [roles_guard("admin")]

    # --- keyword rules -----------------------------------------------------------------------------------

    @get("/rules", summary="Keyword rules in the order they are tried")
    async def list_rules(self, db_session: DbSession, appid: Appid = None) -> list[RuleOut]:
        account = await resolve_account(db_session, appid)
        return [RuleOut.of(r) for r in await rules.list_rules(db_session, account.id)]

    @post("/rules", summary="Add a keyword rule (exact / contains / regex; text, news, link, coupon or intent)")
    async def add_rule(self, db_session: DbSession, data: JSONBody[RuleIn], appid: Appid = None) -> RuleOut:
        account = await resolve_account(db_session, appid)
        values = {
            f: getattr(data, f) for f in ("name", "match_type", "pattern", "priority", "reply_type", "reply", "active")
        }
        rule = await rules.create_rule(db_session, None if data.all_accounts else account.id, values)
        return RuleOut.of(rule)

    @patch("/rules/{rule_id:int}", summary="Change a keyword rule (any of its fields)")
    async def change_rule(
        self, db_session: DbSession, rule_id: FromPath[int], data: JSONBody[dict[str, Any]]
    ) -> RuleOut:
        return RuleOut.of(await rules.update_rule(db_session, rule_id, data))

    @delete("/rules/{rule_id:int}", summary="Remove a keyword rule", status_code=204)
    async def remove_rule(self, db_session: DbSession, rule_id: FromPath[int]) -> None:
        await rules.delete_rule(db_session, rule_id)

    @post("/rules/try", summary="Which rule or intent would answer this text", status_code=200)
    async def try_rule(self, db_session: DbSession, data: JSONBody[TryIn], appid: Appid = None) -> dict[str, Any]:
        account = await resolve_account(db_session, appid)
        return await rules.try_text(db_session, account.id, data.text)

    # --- menu ---------------------------------------------------------------------------------------------

    @get("/menu", summary="The account's custom menu and its publication state")
    async def menu(self, db_session: DbSession, appid: Appid = None) -> MenuOut:
        account = await resolve_account(db_session, appid)
        return MenuOut.of(await publish_menu.get_menu(db_session, account.id))

    @put("/menu", summary="Save the menu as a draft (refused when it breaks WeChat's limits)")
    async def save_menu(
        self, request: Req, db_session: DbSession, data: JSONBody[dict[str, Any]], appid: Appid = None
    ) -> MenuOut:
        account = await resolve_account(db_session, appid)
        return MenuOut.of(await publish_menu.save_menu(db_session, account.id, data, _user_id(request)))

    @post(
        "/menu/publish", summary="Publish the menu (the body, or the saved draft) through menu/create", status_code=202
    )
    async def publish(
        self, request: Req, db_session: DbSession, data: JSONBody[dict[str, Any] | None] = None, appid: Appid = None
    ) -> MenuOut:
        account = await resolve_account(db_session, appid)
        menu = data if data else None
        return MenuOut.of(await publish_menu.publish_menu(db_session, account.id, _user_id(request), menu))

    # --- templates and texts ------------------------------------------------------------------------------

    @get("/templates", summary="Template ids per notification purpose")
    async def templates(self, db_session: DbSession, appid: Appid = None) -> dict[str, str | None]:
        account = await resolve_account(db_session, appid)
        return await account_settings.get_templates(db_session, account.id)

    @put("/templates", summary="Set template ids ({purpose: id}; null removes one)")
    async def set_templates(
        self, db_session: DbSession, data: JSONBody[dict[str, str | None]], appid: Appid = None
    ) -> dict[str, str | None]:
        account = await resolve_account(db_session, appid)
        return await account_settings.set_templates(db_session, account.id, data)

    @get("/texts", summary="Welcome and fallback replies")
    async def texts(self, db_session: DbSession, appid: Appid = None) -> dict[str, str]:
        account = await resolve_account(db_session, appid)
        return await account_settings.get_texts(db_session, account.id)

    @put("/texts", summary="Change the welcome and/or fallback reply")
    async def set_texts(self, db_session: DbSession, data: JSONBody[TextsIn], appid: Appid = None) -> dict[str, str]:
        account = await resolve_account(db_session, appid)
        return await account_settings.set_texts(
            db_session, account.id, welcome_text=data.welcome_text, fallback_text=data.fallback_text
        )

    # --- referrals, segments, pushes, statistics -------------------------------------------------------------

    @get("/referrals", summary="Scans, follows and attributed customers per store, referrer or campaign")
    async def referrals(
        self, db_session: DbSession, by: FromQuery[str] = "store", appid: Appid = None
    ) -> list[dict[str, Any]]:
        account = await resolve_account(db_session, appid)
        return await referral_counts(db_session, account.id, by)

    @post("/segments/preview", summary="How many followers a segment holds", status_code=200)
    async def preview(self, db_session: DbSession, data: JSONBody[SegmentIn], appid: Appid = None) -> SegmentOut:
        account = await resolve_account(db_session, appid)
        segment = parse_segment(data.segment)
        sample = await segment_members(db_session, account.id, segment, limit=20)
        return SegmentOut(await segment_size(db_session, account.id, segment), [m.customer_id for m in sample])

    @post("/pushes", summary="Push to a segment (template, customer-service or mass by tag)", status_code=202)
    async def push(self, request: Req, db_session: DbSession, data: JSONBody[PushIn], appid: Appid = None) -> PushOut:
        account = await resolve_account(db_session, appid)
        p = await create_push(
            db_session,
            account,
            name=data.name,
            segment=data.segment,
            mode=data.mode,
            content=data.content,
            user_id=_user_id(request),
        )
        return PushOut.of(p)

    @get("/pushes", summary="The push log with counts sent / failed / skipped")
    async def pushes(self, db_session: DbSession, limit: FromQuery[int] = 50, appid: Appid = None) -> list[PushOut]:
        account = await resolve_account(db_session, appid)
        return [PushOut.of(e["push"], e) for e in await push_log(db_session, account.id, limit)]

    @get("/stats/auto-answer", summary="Per day: customer messages and the share answered automatically")
    async def auto_answer(
        self, db_session: DbSession, days: FromQuery[int] = 14, appid: Appid = None
    ) -> list[dict[str, Any]]:
        account = await resolve_account(db_session, appid)
        return await inbox.auto_answer_share(db_session, account.id, days)

    # --- domain verification files -------------------------------------------------------------------------

    @post("/verify-files", summary="Upload WeChat's MP_verify_*.txt (served at the site root)", status_code=201)
    async def upload(
        self,
        request: Req,
        db_session: DbSession,
        data: Annotated[VerifyFileUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> VerifyFileOut:
        raw = await data.file.read(1024)
        row = await upload_verify_file(db_session, data.file.filename or "", raw, _user_id(request))
        return VerifyFileOut(row.filename, row.content, row.uploaded_at, f"{get_settings().base_url}/{row.filename}")

    @get("/verify-files", summary="Uploaded verification files")
    async def verify_files(self, db_session: DbSession) -> list[VerifyFileOut]:
        base = get_settings().base_url
        return [
            VerifyFileOut(f.filename, f.content, f.uploaded_at, f"{base}/{f.filename}")
            for f in await list_verify_files(db_session)
        ]

    @delete("/verify-files/{filename:str}", summary="Remove a verification file", status_code=204)
    async def remove_verify_file(self, db_session: DbSession, filename: FromPath[str]) -> None:
        await delete_verify_file(db_session, filename)


class EngageStaffController(Controller):
    """What store staff use too (admins pass): the agent inbox and their stores' QR codes."""

    path = "/api/engage"
    tags = ["engage (staff)"]
    guards = [roles_guard("staff")]

    @get("/inbox", summary="Customer messages no rule answered (status: open, handled, all)")
    async def inbox(
        self,
        db_session: DbSession,
        status: FromQuery[str] = "open",
        limit: FromQuery[int] = 50,
        before_id: FromQuery[int | None] = None,
        appid: Appid = None,
    ) -> list[InboxOut]:
        account = await resolve_account(db_session, appid)
        items = await inbox.list_inbox(db_session, account.id, status=status, limit=limit, before_id=before_id)
        return [InboxOut(**i.__dict__) for i in items]

    @post(
        "/inbox/{message_id:int}/reply", summary="Answer as a customer-service message (within 48 h)", status_code=202
    )
    async def reply(
        self,
        request: Req,
        db_session: DbSession,
        message_id: FromPath[int],
        data: JSONBody[ReplyIn],
        appid: Appid = None,
    ) -> dict[str, Any]:
        account = await resolve_account(db_session, appid)
        outbound_id = await inbox.reply_to_message(
            db_session, message_id, data.content, _user_id(request), account_id=account.id
        )
        return {"message_id": message_id, "outbound_id": outbound_id, "status": "queued"}

    @post("/inbox/{message_id:int}/close", summary="Mark handled without replying", status_code=200)
    async def close(
        self, request: Req, db_session: DbSession, message_id: FromPath[int], appid: Appid = None
    ) -> dict[str, Any]:
        account = await resolve_account(db_session, appid)
        await inbox.close_message(db_session, message_id, _user_id(request), account_id=account.id)
        return {"message_id": message_id, "status": "handled"}

    @get("/qrcodes", summary="QR codes with their counters (staff: their stores' codes)")
    async def qrcodes(
        self, request: Req, db_session: DbSession, kind: FromQuery[str | None] = None, appid: Appid = None
    ) -> list[QrOut]:
        principal = require_principal(request)
        account = await resolve_account(db_session, appid)
        store_ids = None if principal.role == "admin" else await stores_of_user(db_session, principal.id)
        rows = await qr_codes.list_qr_codes(db_session, account.id, kind=kind, store_ids=store_ids)
        return [QrOut.of(q) for q in rows]

    @post(
        "/qrcodes",
        summary="The QR code of a store (staff: their own), a referrer or a campaign (admin)",
        status_code=200,
    )
    async def create_qr(self, request: Req, data: JSONBody[QrIn], appid: Appid = None) -> QrOut:
        principal = require_principal(request)
        async with unit_of_work() as session:
            account = await resolve_account(session, appid)
            if data.kind == "store" and data.store_id is not None:
                await authorize_store(session, principal, data.store_id, "read")
            elif principal.role != "admin":
                raise Forbidden("only admins create referrer and campaign QR codes")
        row = await qr_codes.ensure_qr_code(
            account,
            data.kind,
            store_id=data.store_id,
            referrer_customer_id=data.referrer_customer_id,
            campaign=data.campaign,
            label=data.label,
        )
        return QrOut.of(row)

    @get("/qrcodes/{qr_id:int}/png", summary="The QR code as a PNG image (to print or show)")
    async def qr_png(self, request: Req, db_session: DbSession, qr_id: FromPath[int]) -> Response[bytes]:
        principal = require_principal(request)
        row = await qr_codes.get_qr_code(db_session, qr_id)
        if principal.role != "admin":
            if row.store_id is None:
                raise Forbidden("only admins see referrer and campaign QR codes")
            await authorize_store(db_session, principal, row.store_id, "read")
        return Response(
            qr_codes.qr_png(row.url),
            media_type="image/png",
            headers={"Content-Disposition": f'inline; filename="qr-{row.scene.replace(":", "-")}.png"'},
        )


ADMIN_ROUTES = [EngageAdminController, EngageStaffController, CouponCampaignController]
