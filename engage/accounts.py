"""Which official account a request or job is about (rows owned by shop), and its WeChat API client."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.settings import get_settings
from shop.customers.models import OfficialAccount
from shop.services import get_account
from wechat.official import OfficialAccount as WeChatClient


@dataclass(frozen=True)
class Account:
    """What engage needs of an account row, detached from any session."""

    id: int
    appid: str
    secret: str
    token: str
    aes_key: str | None
    is_default: bool


def _view(row: OfficialAccount) -> Account:
    return Account(row.id, row.appid, row.secret, row.token, row.aes_key, row.is_default)


async def resolve_account(session: AsyncSession, appid: str | None = None) -> Account:
    """By appid, or the default account (upserted from WECHAT_* settings when missing); NotFound otherwise."""
    return _view(await get_account(session, appid))


async def account_by_id(session: AsyncSession, account_id: int) -> Account:
    row = await session.scalar(select(OfficialAccount).where(OfficialAccount.id == account_id))
    if row is None:
        raise NotFound(f"official account {account_id} does not exist")
    return _view(row)


def client_for(account: Account) -> WeChatClient:
    s = get_settings()
    return WeChatClient(account.appid, account.secret, api_base=s.wechat_api, mp_base=s.wechat_mp)
