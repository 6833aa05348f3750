"""Customers: official accounts (the default one mirrors WECHAT_* settings), customers per (account, openid),
their profile, referral source, tags and delivery addresses."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from sqlalchemy import func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import Conflict, InvalidInput
from core.settings import get_settings
from shop.customers.models import Customer, CustomerAddress, OfficialAccount
from shop.errors import not_found
from shop.pagination import Page, check_page
from shop.stores.geo import check_point

log = structlog.get_logger(__name__)

PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")
MAX_ADDRESSES = 20


# --- official accounts -----------------------------------------------------------------------------------


async def upsert_default_account(session: AsyncSession) -> OfficialAccount:
    """The account of the WECHAT_* settings as the default row (settings win over what the row held)."""
    s = get_settings()
    await session.execute(
        update(OfficialAccount)
        .where(OfficialAccount.is_default, OfficialAccount.appid != s.wechat_appid)
        .values(is_default=False, updated_at=clock.now())
    )
    values = {
        "secret": s.wechat_secret,
        "token": s.wechat_token,
        "aes_key": s.wechat_aes_key,
        "is_default": True,
        "active": True,
        "updated_at": clock.now(),
    }
    insert = pg_insert(OfficialAccount).values(
        appid=s.wechat_appid, name="默认服务号", created_at=clock.now(), **values
    )
    stmt = insert.on_conflict_do_update(index_elements=[OfficialAccount.appid], set_=values).returning(OfficialAccount)
    account = (await session.scalars(stmt, execution_options={"populate_existing": True})).one()
    log.info("official_account_upserted", appid=account.appid, account_id=account.id)
    return account


async def get_account(session: AsyncSession, appid: str | None = None) -> OfficialAccount:
    """By appid, or the default account (created from settings if the row is missing)."""
    if appid:
        account = await session.scalar(select(OfficialAccount).where(OfficialAccount.appid == appid))
        if account is None or not account.active:
            raise not_found("official account", appid)
        return account
    account = await session.scalar(select(OfficialAccount).where(OfficialAccount.is_default))
    return account if account is not None else await upsert_default_account(session)


async def create_account(
    session: AsyncSession, *, appid: str, name: str, secret: str, token: str = "", aes_key: str | None = None
) -> OfficialAccount:
    if not re.match(r"^wx[0-9A-Za-z]{6,30}$", appid or ""):
        raise InvalidInput("appid must look like wx followed by letters and digits")
    if aes_key is not None and len(aes_key) != 43:
        raise InvalidInput("aes_key must be the 43-character EncodingAESKey")
    if await session.scalar(select(OfficialAccount.id).where(OfficialAccount.appid == appid)):
        raise Conflict(f"official account {appid} already exists")
    account = OfficialAccount(appid=appid, name=name[:100], secret=secret, token=token, aes_key=aes_key)
    session.add(account)
    await session.flush()
    return account


# --- customers -------------------------------------------------------------------------------------------


async def find_or_create_customer(
    session: AsyncSession,
    account_id: int,
    openid: str,
    *,
    unionid: str | None = None,
    nickname: str | None = None,
    avatar_url: str | None = None,
    signed_in: bool = False,
) -> tuple[Customer, bool]:
    """The customer of (account, openid), created on first sight; returns (customer, created).

    Race-free: one INSERT … ON CONFLICT; a profile only overwrites what WeChat actually sent.
    """
    if not openid or len(openid) > 64:
        raise InvalidInput("openid is missing or too long")
    now = clock.now()
    ins = pg_insert(Customer).values(
        account_id=account_id,
        openid=openid,
        unionid=unionid,
        nickname=(nickname or "")[:64],
        avatar_url=(avatar_url or "")[:500],
        tags=[],
        last_sign_in_at=now if signed_in else None,
        created_at=now,
        updated_at=now,
    )
    ex = ins.excluded
    stmt = ins.on_conflict_do_update(
        index_elements=[Customer.account_id, Customer.openid],
        set_={
            "unionid": func.coalesce(ex.unionid, Customer.unionid),
            "nickname": func.coalesce(func.nullif(ex.nickname, ""), Customer.nickname),
            "avatar_url": func.coalesce(func.nullif(ex.avatar_url, ""), Customer.avatar_url),
            "last_sign_in_at": func.coalesce(ex.last_sign_in_at, Customer.last_sign_in_at),
            "updated_at": now,
        },
    ).returning(Customer, (literal_column("customers.xmax") == 0).label("inserted"))
    row = (await session.execute(stmt, execution_options={"populate_existing": True})).one()
    customer, created = row[0], bool(row[1])
    if created:
        log.info("customer_created", customer_id=customer.id, account_id=account_id)
    return customer, created


async def get_customer(session: AsyncSession, customer_id: int) -> Customer:
    c = await session.get(Customer, customer_id)
    if c is None:
        raise not_found("customer", customer_id)
    return c


async def customer_openid(session: AsyncSession, customer_id: int) -> str | None:
    """The customer's openid (JSAPI payments need it), without loading the customer."""
    return await session.scalar(select(Customer.openid).where(Customer.id == customer_id))


async def update_profile(session: AsyncSession, customer_id: int, changes: Mapping[str, Any]) -> Customer:
    customer = await get_customer(session, customer_id)
    for k, v in changes.items():
        if k == "nickname":
            if not isinstance(v, str) or len(v) > 64:
                raise InvalidInput("nickname must be at most 64 characters")
        elif k == "phone":
            if v is not None and (not isinstance(v, str) or not PHONE.match(v)):
                raise InvalidInput("phone must be digits (5–20), optionally starting with +")
        else:
            raise InvalidInput(f"unknown profile field {k}")
        setattr(customer, k, v)
    await session.flush()
    return customer


async def record_referral(
    session: AsyncSession,
    customer_id: int,
    *,
    scene: str | None = None,
    referrer_customer_id: int | None = None,
    store_id: int | None = None,
) -> bool:
    """First touch wins: sets the referral source only when none is recorded yet. True when it was set."""
    if referrer_customer_id == customer_id:
        referrer_customer_id = None
    res = await session.execute(
        update(Customer)
        .where(
            Customer.id == customer_id,
            Customer.referral_scene.is_(None),
            Customer.referrer_customer_id.is_(None),
            Customer.referral_store_id.is_(None),
        )
        .values(
            referral_scene=(scene or None) and scene[:64],
            referrer_customer_id=referrer_customer_id,
            referral_store_id=store_id,
            updated_at=clock.now(),
        )
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]


async def set_tags(session: AsyncSession, customer_id: int, tags: Iterable[str]) -> Customer:
    clean = sorted({t.strip() for t in tags if t and t.strip()})
    if any(len(t) > 32 for t in clean) or len(clean) > 50:
        raise InvalidInput("at most 50 tags of at most 32 characters")
    customer = await get_customer(session, customer_id)
    customer.tags = clean
    await session.flush()
    return customer


async def customers_page(
    session: AsyncSession, *, q: str | None = None, page: int = 1, page_size: int = 50
) -> Page[Customer]:
    limit, offset = check_page(page, page_size)
    query = select(Customer)
    if q:
        pat = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                Customer.nickname.ilike(pat, escape="\\"),
                Customer.phone.ilike(pat, escape="\\"),
                Customer.openid == q.strip(),
            )
        )
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = (await session.scalars(query.order_by(Customer.id.desc()).limit(limit).offset(offset))).all()
    return Page(list(rows), total, page, page_size)


# --- addresses -------------------------------------------------------------------------------------------

_ADDRESS_FIELDS = ("contact_name", "phone", "address", "detail", "lat", "lng", "is_default")


def _check_address(values: Mapping[str, Any]) -> None:
    unknown = set(values) - set(_ADDRESS_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown address fields: {', '.join(sorted(unknown))}")
    for f, hi in (("contact_name", 50), ("address", 300), ("detail", 200)):
        if f in values and (
            not isinstance(values[f], str) or len(values[f]) > hi or (f != "detail" and not values[f].strip())
        ):
            raise InvalidInput(f"{f} must be text of at most {hi} characters")
    if "phone" in values and not (isinstance(values["phone"], str) and PHONE.match(values["phone"])):
        raise InvalidInput("phone must be digits (5–20), optionally starting with +")
    if "lat" in values or "lng" in values:
        check_point(values.get("lat"), values.get("lng"))


async def list_addresses(session: AsyncSession, customer_id: int) -> list[CustomerAddress]:
    q = (
        select(CustomerAddress)
        .where(CustomerAddress.customer_id == customer_id)
        .order_by(CustomerAddress.is_default.desc(), CustomerAddress.id)
    )
    return list((await session.scalars(q)).all())


async def get_address(session: AsyncSession, customer_id: int, address_id: int) -> CustomerAddress:
    """The customer's own address; another customer's id is simply not found."""
    a = await session.scalar(
        select(CustomerAddress).where(CustomerAddress.id == address_id, CustomerAddress.customer_id == customer_id)
    )
    if a is None:
        raise not_found("address", address_id)
    return a


async def _only_default(session: AsyncSession, customer_id: int, keep: int) -> None:
    await session.execute(
        update(CustomerAddress)
        .where(CustomerAddress.customer_id == customer_id, CustomerAddress.id != keep, CustomerAddress.is_default)
        .values(is_default=False)
    )


async def add_address(session: AsyncSession, customer_id: int, values: Mapping[str, Any]) -> CustomerAddress:
    for required in ("contact_name", "phone", "address", "lat", "lng"):
        if required not in values:
            raise InvalidInput(f"{required} is required")
    _check_address(values)
    # Lock the customer row: counting and the default flag must not race with a parallel add.
    await session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update())
    count = await session.scalar(select(func.count()).where(CustomerAddress.customer_id == customer_id)) or 0
    if count >= MAX_ADDRESSES:
        raise Conflict(f"at most {MAX_ADDRESSES} addresses; delete one first")
    a = CustomerAddress(
        customer_id=customer_id, **{**values, "is_default": bool(values.get("is_default")) or count == 0}
    )
    session.add(a)
    await session.flush()
    if a.is_default:
        await _only_default(session, customer_id, a.id)
    return a


async def update_address(
    session: AsyncSession, customer_id: int, address_id: int, changes: Mapping[str, Any]
) -> CustomerAddress:
    a = await get_address(session, customer_id, address_id)
    merged = {"lat": a.lat, "lng": a.lng, **changes}
    _check_address({k: v for k, v in merged.items() if k in changes or k in ("lat", "lng")})
    for k, v in changes.items():
        setattr(a, k, v)
    await session.flush()
    if changes.get("is_default"):
        await _only_default(session, customer_id, a.id)
    return a


async def delete_address(session: AsyncSession, customer_id: int, address_id: int) -> None:
    a = await get_address(session, customer_id, address_id)
    await session.delete(a)
    await session.flush()
