"""API shapes of customers, their addresses and official accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from shop.customers.models import Customer, CustomerAddress, OfficialAccount

Phone = Annotated[str, Meta(pattern=r"^\+?[0-9][0-9 -]{4,19}$")]
Lat = Annotated[float, Meta(ge=-90, le=90)]
Lng = Annotated[float, Meta(ge=-180, le=180)]


class CustomerOut(msgspec.Struct):
    id: int
    nickname: str
    avatar_url: str
    phone: str | None
    tags: list[str]
    created_at: datetime

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(c.id, c.nickname, c.avatar_url, c.phone, list(c.tags), c.created_at)


class CustomerAdminOut(msgspec.Struct):
    id: int
    account_id: int
    openid: str
    unionid: str | None
    nickname: str
    phone: str | None
    tags: list[str]
    referral_scene: str | None
    referrer_customer_id: int | None
    referral_store_id: int | None
    last_sign_in_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, c: Customer) -> CustomerAdminOut:
        return cls(
            c.id,
            c.account_id,
            c.openid,
            c.unionid,
            c.nickname,
            c.phone,
            list(c.tags),
            c.referral_scene,
            c.referrer_customer_id,
            c.referral_store_id,
            c.last_sign_in_at,
            c.created_at,
        )


class CustomerPage(msgspec.Struct):
    items: list[CustomerAdminOut]
    total: int
    page: int
    page_size: int


class ProfilePatch(msgspec.Struct, forbid_unknown_fields=True):
    nickname: Annotated[str, Meta(max_length=64)] | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET


class AddressIn(msgspec.Struct, forbid_unknown_fields=True):
    contact_name: Annotated[str, Meta(min_length=1, max_length=50)]
    phone: Phone
    address: Annotated[str, Meta(min_length=1, max_length=300)]
    lat: Lat
    lng: Lng
    detail: Annotated[str, Meta(max_length=200)] = ""
    is_default: bool = False


class AddressPatch(msgspec.Struct, forbid_unknown_fields=True):
    contact_name: Annotated[str, Meta(min_length=1, max_length=50)] | UnsetType = UNSET
    phone: Phone | UnsetType = UNSET
    address: Annotated[str, Meta(min_length=1, max_length=300)] | UnsetType = UNSET
    lat: Lat | UnsetType = UNSET
    lng: Lng | UnsetType = UNSET
    detail: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    is_default: bool | UnsetType = UNSET


class AddressOut(msgspec.Struct):
    id: int
    contact_name: str
    phone: str
    address: str
    detail: str
    lat: float
    lng: float
    is_default: bool

    @classmethod
    def of(cls, a: CustomerAddress) -> AddressOut:
        return cls(a.id, a.contact_name, a.phone, a.address, a.detail, a.lat, a.lng, a.is_default)


class AccountIn(msgspec.Struct, forbid_unknown_fields=True):
    appid: Annotated[str, Meta(pattern=r"^wx[0-9A-Za-z]{6,30}$")]
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    secret: Annotated[str, Meta(min_length=1, max_length=128)]
    token: Annotated[str, Meta(max_length=64)] = ""
    aes_key: Annotated[str, Meta(min_length=43, max_length=43)] | None = None


class AccountOut(msgspec.Struct):
    """Never the secret, token or AES key."""

    id: int
    appid: str
    name: str
    is_default: bool
    active: bool

    @classmethod
    def of(cls, a: OfficialAccount) -> AccountOut:
        return cls(a.id, a.appid, a.name, a.is_default, a.active)


class JsConfigOut(msgspec.Struct):
    debug: bool
    appId: str
    timestamp: int
    nonceStr: str
    signature: str
    jsApiList: list[str]
