"""How the account talks: order statuses, distances and opening hours in Chinese, and the default texts."""

from __future__ import annotations

from datetime import date

from shop.stores.hours import Schedule, format_hhmm

DEFAULT_WELCOME = (
    "欢迎关注！发送“附近”或点击菜单「附近门店」，为您找到离您最近的门店；点击「点单」即可在线下单，"
    "急用药品最快1小时送达。"
)
DEFAULT_FALLBACK = "您好，您的消息已收到，客服会尽快回复您。您也可以发送“附近”查找最近的门店，发送“订单”查看订单状态。"
ASK_LOCATION = "请点击输入框旁的“+”发送您的位置，我们为您查找离您最近的门店。"
UNKNOWN_MENU = "该功能即将上线，敬请期待。"

ORDER_STATUS = {
    "created": "待支付",
    "paid": "已支付",
    "reviewing": "药师审核中",
    "dispatching": "正在为您分配门店",
    "accepted": "门店已接单",
    "preparing": "门店备货中",
    "ready": "已备好，待取货",
    "out_for_delivery": "配送中",
    "delivered": "已送达",
    "picked_up": "已取货",
    "completed": "已完成",
    "cancelled": "已取消",
}


def order_status(status: str) -> str:
    return ORDER_STATUS.get(status, status)


def distance(metres: float) -> str:
    """350 m → '350米', 1234 m → '1.2公里'."""
    if metres < 1000:
        return f"{max(1, round(metres))}米"
    return f"{metres / 1000:.1f}公里"


def hours_on(schedule: Schedule, day: date) -> str:
    """'08:00-22:00', '08:00-11:00、13:00-次日01:00', '全天营业' or '今日休息'."""
    intervals = schedule.intervals_on(day)
    if not intervals:
        return "今日休息"
    if len(intervals) == 1 and intervals[0].open_min == 0 and intervals[0].close_min >= 1440:
        return "全天营业"
    parts = []
    for iv in intervals:
        close = format_hhmm(iv.close_min)
        parts.append(f"{format_hhmm(iv.open_min)}-{'次日' if iv.overnight else ''}{close}")
    return "、".join(parts)
