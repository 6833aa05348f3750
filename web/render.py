"""What every page shares: the Jinja2 environment and its filters, labels, `render`, the signed-in customer."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote as urlquote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response
from litestar.response import Redirect

from core.auth import Principal, current_principal
from core.clock import SHANGHAI
from core.money import format_yuan
from core.settings import get_settings

TEMPLATES = Path(__file__).resolve().parent / "templates"

STATUS_LABELS = {
    "created": "待支付",
    "paid": "已支付",
    "reviewing": "审核中",
    "dispatching": "派单中",
    "accepted": "已接单",
    "preparing": "备货中",
    "ready": "待取货",
    "out_for_delivery": "配送中",
    "delivered": "已送达",
    "picked_up": "已取货",
    "completed": "已完成",
    "cancelled": "已取消",
}
ACTION_LABELS = {
    "accepted": "接单",
    "preparing": "开始备货",
    "ready": "备好待取",
    "picked_up": "确认取货",
    "out_for_delivery": "出发配送",
    "delivered": "确认送达",
    "completed": "完成",
    "cancelled": "取消订单",
}
KIND_LABELS = {"pickup": "到店自提", "delivery": "配送", "urgent": "急送（1小时达）"}

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
_env.filters["yuan"] = format_yuan
_env.filters["status"] = lambda s: STATUS_LABELS.get(s, s)
_env.filters["action"] = lambda s: ACTION_LABELS.get(s, s)
_env.filters["kind"] = lambda k: KIND_LABELS.get(k, k)
# Times are shown in China's time (the business day), whatever the server's own zone is.
_env.filters["hm"] = lambda d: d.astimezone(SHANGHAI).strftime("%m-%d %H:%M") if isinstance(d, datetime) else ""
_env.filters["iso"] = lambda d: d.isoformat() if isinstance(d, datetime) else ""
_env.filters["km"] = lambda m: f"{m / 1000:.1f}公里" if m >= 1000 else f"{round(m)}米"

Req = Request[Any, Any, Any]


def render(name: str, status_code: int = 200, **ctx: Any) -> Response[str]:
    s = get_settings()
    ctx.setdefault("jsbridge", f"{s.sandbox_base}/static/jsbridge.js" if s.is_dev else None)
    html = _env.get_template(name).render(**ctx)
    return Response(html, media_type="text/html; charset=utf-8", status_code=status_code)


def signed_in_customer(request: Req) -> Principal | None:
    p = current_principal(request)
    return p if p is not None and p.is_customer else None


def sign_in_redirect(request: Req) -> Redirect:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/auth/wechat?next={urlquote(path, safe='')}", status_code=302)
