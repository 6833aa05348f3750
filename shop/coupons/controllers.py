"""Coupon routes: customers (my coupons, coupon centre, claim), admins (templates, campaigns, issue, usage),
staff (verify and redeem a customer's coupon at the counter of their store)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from core.auth import customer_guard, require_principal, user_guard
from core.db import DbSession
from shop.access import actor_of, authorize_store, principal_of, require_role
from shop.audit import record_audit
from shop.coupons import templates as tpl
from shop.coupons.claim_coupon import claim_coupon
from shop.coupons.issue_coupons import issue_to
from shop.coupons.queries import coupon_centre, my_coupons
from shop.coupons.redeem_coupon import check_redeemable, find_by_code, redeem_in_store
from shop.coupons.schemas import (
    CentreItemOut,
    ClaimedOut,
    CouponPage,
    IssueIn,
    IssueOut,
    RedeemIn,
    RedeemOut,
    TemplateIn,
    TemplateOut,
    TemplatePage,
    TemplatePatch,
    UsageOut,
)
from shop.strict import strict_body

PageNo = Annotated[int, QueryParameter(ge=1, le=100_000)]
PageSize = Annotated[int, QueryParameter(ge=1, le=100)]
Req = Request[Any, Any, Any]


class CustomerCouponController(Controller):
    path = "/api/coupons"
    tags = ["coupons"]
    guards = [customer_guard]

    @get("/mine", summary="My coupons (state: available, locked, used, returned, expired, or usable)")
    async def mine(
        self,
        request: Req,
        db_session: DbSession,
        state_filter: Annotated[str | None, QueryParameter(query="state")] = None,
        page: PageNo = 1,
        page_size: PageSize = 20,
    ) -> CouponPage:
        me = require_principal(request)
        result = await my_coupons(db_session, me.id, state=state_filter, page=page, page_size=page_size)
        return CouponPage(result.items, result.total, page, page_size)

    @get("/centre", summary="Coupon centre: templates I can claim now, with why not")
    async def centre(self, request: Req, db_session: DbSession) -> list[CentreItemOut]:
        return await coupon_centre(db_session, require_principal(request).id)

    @post("/claim/{template_id:int}", summary="Claim one coupon of a template (quota and limits enforced)")
    async def claim(self, request: Req, db_session: DbSession, template_id: FromPath[int]) -> ClaimedOut:
        me = require_principal(request)
        claimed = await claim_coupon(db_session, me.id, template_id)
        t = await tpl.get_template(db_session, template_id)
        return ClaimedOut(claimed.coupon_id, template_id, t.title, claimed.valid_until)


class AdminCouponController(Controller):
    path = "/api/admin/coupons"
    tags = ["admin: coupons"]
    guards = [user_guard]

    @get("/templates", summary="Coupon templates (admin, finance)")
    async def list_(
        self,
        request: Req,
        db_session: DbSession,
        status: FromQuery[Literal["active", "paused", "ended"] | None] = None,
        page: PageNo = 1,
        page_size: PageSize = 50,
    ) -> TemplatePage:
        await require_role(db_session, principal_of(request), "finance")
        result = await tpl.templates_page(db_session, status=status, page=page, page_size=page_size)
        return TemplatePage([tpl.template_out(t) for t in result.items], result.total, page, page_size)

    @get("/campaigns", summary="Campaigns running now: active templates whose claim window is open (admin, finance)")
    async def campaigns(
        self, request: Req, db_session: DbSession, page: PageNo = 1, page_size: PageSize = 50
    ) -> TemplatePage:
        await require_role(db_session, principal_of(request), "finance")
        result = await tpl.templates_page(db_session, status=None, page=page, page_size=page_size, open_now=True)
        return TemplatePage([tpl.template_out(t) for t in result.items], result.total, page, page_size)

    @post("/templates", summary="Create a coupon template (admin)")
    async def create(self, request: Req, db_session: DbSession, data: JSONBody[TemplateIn]) -> TemplateOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        return tpl.template_out(await tpl.create_template(db_session, data, actor_of(p)))

    @get("/templates/{template_id:int}", summary="One coupon template (admin, finance)")
    async def read(self, request: Req, db_session: DbSession, template_id: FromPath[int]) -> TemplateOut:
        await require_role(db_session, principal_of(request), "finance")
        return tpl.template_out(await tpl.get_template(db_session, template_id))

    @patch("/templates/{template_id:int}", summary="Change title, status, quota or claim window (admin)")
    async def change(
        self, request: Req, db_session: DbSession, template_id: FromPath[int], data: JSONBody[TemplatePatch]
    ) -> TemplateOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        return tpl.template_out(await tpl.change_template(db_session, template_id, data, actor_of(p)))

    @delete("/templates/{template_id:int}", summary="Remove a template nobody holds yet (admin)")
    async def remove(self, request: Req, db_session: DbSession, template_id: FromPath[int]) -> None:
        p = principal_of(request)
        await require_role(db_session, p)
        await tpl.remove_template(db_session, template_id, actor_of(p))

    @post("/templates/{template_id:int}/issue", summary="Issue one coupon each to these customers (admin)")
    async def issue(
        self, request: Req, db_session: DbSession, template_id: FromPath[int], data: JSONBody[IssueIn]
    ) -> IssueOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        return await issue_to(db_session, template_id, data.customer_ids, actor_of(p), source="admin")

    @get("/report", summary="Usage per template: issued, available, locked, used, returned, expired (admin, finance)")
    async def report(
        self, request: Req, db_session: DbSession, template_id: FromQuery[int | None] = None
    ) -> list[UsageOut]:
        await require_role(db_session, principal_of(request), "finance")
        return await tpl.usage_report(db_session, template_id)


class StaffCouponController(Controller):
    path = "/api/staff/coupons"
    tags = ["staff: coupons"]
    guards = [user_guard]

    @get("/{code:str}", summary="Check a customer's coupon code before redeeming it at this store")
    async def verify(
        self, request: Req, db_session: DbSession, code: FromPath[str], store_id: FromQuery[int]
    ) -> RedeemOut:
        await authorize_store(db_session, principal_of(request), store_id, "operate")
        row: Any = await find_by_code(db_session, code)
        check_redeemable(row, store_id)
        return RedeemOut(row.id, row.title, row.state, row.customer_id, row.valid_until)

    @post("/redeem", summary="Redeem a customer's coupon at the counter of my store (marks it used)", status_code=200)
    async def redeem(self, request: Req, db_session: DbSession, data: JSONBody[RedeemIn]) -> RedeemOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await authorize_store(db_session, p, data.store_id, "operate")
        row: Any = await redeem_in_store(db_session, data.code, data.store_id)
        await record_audit(
            db_session,
            actor_of(p),
            "coupon.redeem",
            "customer_coupon",
            row.id,
            store_id=data.store_id,
            after={"state": "used"},
        )
        return RedeemOut(row.id, row.title, "used", row.customer_id, row.valid_until)


ROUTES = [CustomerCouponController, AdminCouponController, StaffCouponController]
