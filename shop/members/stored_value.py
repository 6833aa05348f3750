"""Stored value on member cards: hold at placement, capture when paid, release on cancel, credit back (refunds, top-ups).

Principal and bonus (rules, also in the README of the member API):
- A spend takes principal and bonus **in proportion** to the card's balances at that moment (bonus rounded
  down, so principal never pays less than its share); the split is kept on the hold.
- A refund of an order gives back in the **same proportion** as the order's hold took it (cumulative, so
  a series of partial refunds ends exactly at the hold's split); a credit with no hold behind it (a
  goodwill credit) is principal.
- Bonus is a gift: it is never paid out in cash. A top-up's principal is the cash paid; its bonus is
  booked as a marketing expense (ledger account `member_bonus_expense`) when granted.
- The card's balances never go below zero: the card row is locked, the UPDATE is conditional and CHECK
  constraints back it. Every step is idempotent by its ref and appears in the card statement.

The ledger: a hold moves nothing (the liability `customer_stored_value` is still owed until the order is
paid); capture is booked by payments' sale posting; refunds by payments' refund postings; top-ups by the
top-up payable's payment posting. So Σ(card balances) + Σ(held) = the liability in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from shop.members.cards import CardRow, apply_change, entry_exists, lock_card
from shop.members.errors import HoldConflict, InsufficientStoredValue, NoMemberCard

log = structlog.get_logger(__name__)

SV = "stored_value"


@dataclass(frozen=True, slots=True)
class Hold:
    id: int
    ref: str
    card_id: int
    fen: int
    principal_fen: int
    bonus_fen: int
    state: str
    returned_principal_fen: int
    returned_bonus_fen: int


_HOLD_COLS = "id, ref, card_id, fen, principal_fen, bonus_fen, state, returned_principal_fen, returned_bonus_fen"


async def find_hold(session: AsyncSession, ref: str, *, kind: str = SV, lock: bool = False) -> Hold | None:
    sql = f"SELECT {_HOLD_COLS} FROM member_holds WHERE kind = :k AND ref = :r" + (" FOR UPDATE" if lock else "")
    row = (await session.execute(text(sql), {"k": kind, "r": ref})).first()
    return Hold(*row) if row is not None else None


def split_spend(card: CardRow, fen: int) -> tuple[int, int]:
    """(principal, bonus) a spend of `fen` takes: bonus in proportion to the balances, rounded down."""
    total = card.balance_fen
    if fen > total:
        raise InsufficientStoredValue(
            f"储值余额不足：余额 {total / 100:.2f} 元，本单要用 {fen / 100:.2f} 元，请减少储值支付金额"
        )
    bonus = fen * card.bonus_fen // total
    return fen - bonus, bonus


def _check_fen(fen: int) -> None:
    if isinstance(fen, bool) or not isinstance(fen, int) or fen <= 0:
        raise InvalidInput("储值金额必须是正整数（分）")


async def hold_stored_value(session: AsyncSession, card_id: int, fen: int, ref: str) -> Hold:
    """Set `fen` aside on the card for `ref` (an order); idempotent: the same ref answers with its hold."""
    _check_fen(fen)
    card = await lock_card(session, card_id)
    existing = await find_hold(session, ref)
    if existing is not None:
        if (existing.card_id, existing.fen) != (card_id, fen):
            raise HoldConflict(f"{ref} 已经占用了 {existing.fen / 100:.2f} 元储值")
        return existing
    if not card.active:
        raise NoMemberCard("会员卡已停用，不能使用储值")
    principal, bonus = split_spend(card, fen)
    await apply_change(
        session,
        card,
        ref=f"sv:hold:{ref}",
        kind="spend",
        principal_fen=-principal,
        bonus_fen=-bonus,
        memo=f"消费 {ref}",
    )
    now = clock.now()
    row = (
        await session.execute(
            text(
                f"""
                INSERT INTO member_holds (kind, ref, card_id, fen, principal_fen, bonus_fen, points, state,
                    returned_principal_fen, returned_bonus_fen, created_at, updated_at)
                VALUES ('stored_value', :ref, :card, :fen, :p, :b, 0, 'held', 0, 0, :now, :now)
                RETURNING {_HOLD_COLS}
                """
            ),
            {"ref": ref, "card": card_id, "fen": fen, "p": principal, "b": bonus, "now": now},
        )
    ).one()
    log.info("stored_value_held", card_id=card_id, ref=ref, fen=fen, principal_fen=principal, bonus_fen=bonus)
    return Hold(*row)


async def _move(session: AsyncSession, ref: str, to: str) -> Hold | None:
    row = (
        await session.execute(
            text(
                f"UPDATE member_holds SET state = :to, updated_at = :now "
                f"WHERE kind = 'stored_value' AND ref = :ref AND state = 'held' RETURNING {_HOLD_COLS}"
            ),
            {"to": to, "ref": ref, "now": clock.now()},
        )
    ).first()
    return Hold(*row) if row is not None else None


async def capture_hold(session: AsyncSession, ref: str) -> None:
    """The order was paid: the held stored value is spent for good (idempotent)."""
    hold = await _move(session, ref, "captured")
    if hold is not None:
        log.info("stored_value_captured", card_id=hold.card_id, ref=ref, fen=hold.fen)
        return
    existing = await find_hold(session, ref)
    if existing is None:
        raise HoldConflict(f"{ref} 没有占用储值，无法扣款")
    if existing.state == "released":
        raise HoldConflict(f"{ref} 的储值已退回，无法再扣款")


async def release_hold(session: AsyncSession, ref: str) -> None:
    """The order was cancelled unpaid: the held stored value goes back, principal and bonus as taken (idempotent)."""
    existing = await find_hold(session, ref)
    if existing is None or existing.state == "released":
        return
    card = await lock_card(session, existing.card_id)  # cards before holds, like every other step
    hold = await _move(session, ref, "released")
    if hold is None:
        again = await find_hold(session, ref)
        if again is not None and again.state == "captured":
            raise HoldConflict(f"{ref} 的储值已扣款，应走退款退回")
        return
    await apply_change(
        session,
        card,
        ref=f"sv:release:{ref}",
        kind="release",
        principal_fen=hold.principal_fen,
        bonus_fen=hold.bonus_fen,
        memo=f"订单取消退回 {ref}",
    )
    log.info("stored_value_released", card_id=hold.card_id, ref=ref, fen=hold.fen)


def split_back(hold: Hold, fen: int) -> tuple[int, int]:
    """(principal, bonus) to give back of a captured hold: cumulative, in the hold's proportion."""
    done = hold.returned_principal_fen + hold.returned_bonus_fen
    if done + fen > hold.fen:
        raise HoldConflict(f"{hold.ref} 退回储值 {(done + fen) / 100:.2f} 元，超过了支付的 {hold.fen / 100:.2f} 元")
    bonus_target = hold.bonus_fen * (done + fen) // hold.fen
    bonus = bonus_target - hold.returned_bonus_fen
    return fen - bonus, bonus


async def credit_stored_value(
    session: AsyncSession, card_id: int, fen: int, ref: str, *, origin_ref: str | None = None
) -> None:
    """Give stored value back to a card (refunds); idempotent by ref.

    `origin_ref` names the hold the money came from (an order's ref), so it returns principal and bonus
    in the proportion it was taken; orders' cancel credits under "<hold ref>:cancel", read the same way.
    """
    _check_fen(fen)
    card = await lock_card(session, card_id)
    entry_ref = f"sv:credit:{ref}"
    if await entry_exists(session, entry_ref):
        return
    if origin_ref is None and ref.endswith(":cancel"):
        origin_ref = ref.removesuffix(":cancel")
    hold = await find_hold(session, origin_ref, lock=True) if origin_ref else None
    if hold is not None and hold.card_id == card_id and hold.state == "captured":
        principal, bonus = split_back(hold, fen)
        await session.execute(
            text(
                "UPDATE member_holds SET returned_principal_fen = returned_principal_fen + :p, "
                "returned_bonus_fen = returned_bonus_fen + :b, updated_at = :now WHERE id = :id"
            ),
            {"p": principal, "b": bonus, "id": hold.id, "now": clock.now()},
        )
    else:
        principal, bonus = fen, 0
    await apply_change(
        session, card, ref=entry_ref, kind="refund", principal_fen=principal, bonus_fen=bonus, memo=f"退款退回 {ref}"
    )
    log.info("stored_value_credited", card_id=card_id, ref=ref, principal_fen=principal, bonus_fen=bonus)


async def credit_topup(session: AsyncSession, card_id: int, principal_fen: int, bonus_fen: int, ref: str) -> bool:
    """A paid top-up: principal (the cash) and bonus (the gift) onto the card, once per ref."""
    card = await lock_card(session, card_id)
    entry_ref = f"sv:topup:{ref}"
    if await entry_exists(session, entry_ref):
        return False
    await apply_change(
        session,
        card,
        ref=entry_ref,
        kind="topup",
        principal_fen=principal_fen,
        bonus_fen=bonus_fen,
        memo=f"充值 {principal_fen / 100:.2f} 元" + (f"，赠送 {bonus_fen / 100:.2f} 元" if bonus_fen else ""),
    )
    return True
