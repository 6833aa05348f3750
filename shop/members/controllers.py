"""Member HTTP (thin): the customer's card, QR code and statement; top-up plans; admin levels and plans; staff QR check.

Creating and paying a top-up is payments' (payments/topup_controllers.py), since it starts a payment.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from core.auth import customer_guard, require_principal, user_guard
from core.db import DbSession
from shop.access import actor_of, authorize_store, principal_of, require_role
from shop.members.cards import require_card
from shop.members.member_code import issue_code, verify_code
from shop.members.schemas import (
    CardOut,
    CodeOut,
    EntryPage,
    LevelIn,
    LevelOut,
    LevelPatch,
    PlanIn,
    PlanOut,
    PlanPatch,
    VerifiedOut,
    VerifyIn,
)
from shop.members.services import (
    card_view,
    create_level,
    create_plan,
    list_levels,
    list_plans,
    statement,
    update_level,
    update_plan,
)
from shop.members.topups import active_plans
from shop.stores.schemas import changes_of
from shop.strict import strict_body

Req = Request[Any, Any, Any]
PageNo = Annotated[int, QueryParameter(ge=1, le=100_000)]
PageSize = Annotated[int, QueryParameter(ge=1, le=100)]


class MemberController(Controller):
    path = "/api/member"
    tags = ["member card"]
    guards = [customer_guard]

    @get("/card", summary="My member card: level, growth, points, stored value (opened on first view)")
    async def card(self, request: Req, db_session: DbSession) -> CardOut:
        return await card_view(db_session, require_principal(request).id)

    @post("/code", status_code=201, summary="A fresh member QR token (valid 60 s, single use)")
    async def code(self, request: Req, db_session: DbSession) -> CodeOut:
        issued = await issue_code(db_session, require_principal(request).id)
        return CodeOut(issued.token, issued.qr_text, issued.expires_at, issued.ttl_seconds)

    @get("/statement", summary="My card statement, newest first (kind: stored_value or points)")
    async def statement(
        self,
        request: Req,
        db_session: DbSession,
        page: PageNo = 1,
        page_size: PageSize = 20,
        kind: Annotated[Literal["stored_value", "points"] | None, QueryParameter()] = None,
    ) -> EntryPage:
        card = await require_card(db_session, require_principal(request).id)
        return await statement(db_session, card.id, page=page, page_size=page_size, kind=kind)

    @get("/levels", summary="The member levels and what they give")
    async def levels(self, db_session: DbSession) -> list[LevelOut]:
        return [LevelOut.of(x) for x in await list_levels(db_session)]

    @get("/topup-plans", summary="Top-up plans on offer (pay X get X + bonus)")
    async def plans(self, db_session: DbSession) -> list[PlanOut]:
        return [PlanOut.of(p) for p in await active_plans(db_session)]


class MemberAdminController(Controller):
    path = "/api/admin/members"
    tags = ["admin: members"]
    guards = [user_guard]

    @get("/levels", summary="Member levels")
    async def levels(self, request: Req, db_session: DbSession) -> list[LevelOut]:
        await require_role(db_session, principal_of(request), "finance")
        return [LevelOut.of(x) for x in await list_levels(db_session)]

    @post("/levels", summary="Add a member level")
    async def add_level(self, request: Req, db_session: DbSession, data: JSONBody[LevelIn]) -> LevelOut:
        p = principal_of(request)
        await require_role(db_session, p)
        data = await strict_body(request, data)
        return LevelOut.of(await create_level(db_session, actor_of(p), changes_of(data)))

    @patch("/levels/{level_id:int}", summary="Change a member level")
    async def change_level(
        self, request: Req, db_session: DbSession, level_id: FromPath[int], data: JSONBody[LevelPatch]
    ) -> LevelOut:
        p = principal_of(request)
        await require_role(db_session, p)
        data = await strict_body(request, data)
        return LevelOut.of(await update_level(db_session, actor_of(p), level_id, changes_of(data)))

    @get("/topup-plans", summary="Top-up plans (active and retired)")
    async def plans(self, request: Req, db_session: DbSession) -> list[PlanOut]:
        await require_role(db_session, principal_of(request), "finance")
        return [PlanOut.of(x) for x in await list_plans(db_session)]

    @post("/topup-plans", summary="Add a top-up plan")
    async def add_plan(self, request: Req, db_session: DbSession, data: JSONBody[PlanIn]) -> PlanOut:
        p = principal_of(request)
        await require_role(db_session, p)
        data = await strict_body(request, data)
        return PlanOut.of(await create_plan(db_session, actor_of(p), changes_of(data)))

    @patch("/topup-plans/{plan_id:int}", summary="Change or retire a top-up plan")
    async def change_plan(
        self, request: Req, db_session: DbSession, plan_id: FromPath[int], data: JSONBody[PlanPatch]
    ) -> PlanOut:
        p = principal_of(request)
        await require_role(db_session, p)
        data = await strict_body(request, data)
        return PlanOut.of(await update_plan(db_session, actor_of(p), plan_id, changes_of(data)))


class MemberStaffController(Controller):
    path = "/api/staff/stores/{store_id:int}/member-code"
    tags = ["staff: members"]
    guards = [user_guard]

    @post("/verify", status_code=200, summary="Identify a member in store by the QR code on their phone (once)")
    async def verify(
        self, request: Req, db_session: DbSession, store_id: FromPath[int], data: JSONBody[VerifyIn]
    ) -> VerifiedOut:
        p = principal_of(request)
        await authorize_store(db_session, p, store_id, "operate")
        v = await verify_code(db_session, data.code, store_id=store_id, user_id=p.id)
        return VerifiedOut(
            v.card_id,
            v.card_no,
            v.customer_id,
            v.nickname,
            v.phone,
            v.level_name,
            v.discount_pct,
            v.points,
            v.balance_fen,
        )


ROUTES = [MemberController, MemberAdminController, MemberStaffController]
