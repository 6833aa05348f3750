"""Links the account sends customers into the H5 storefront, always through WeChat sign-in (OAuth).

The storefront pages belong to `web/`; these are the paths engage points at: `/?store=<id>` (order from a
store), `/orders` and `/orders/<public id>`, `/member`, `/coupons`, and `/coupons/claim/<template id>` for
the coupon issue's claim page.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from core.settings import get_settings

SIGN_IN_PATH = "/auth/wechat"


def absolute(url_or_path: str) -> str:
    """A site path made absolute against PUBLIC_BASE_URL; absolute URLs pass through."""
    if url_or_path.startswith(("http://", "https://")):
        return url_or_path
    return get_settings().base_url + ("" if url_or_path.startswith("/") else "/") + url_or_path


def h5_url(path: str, appid: str | None = None) -> str:
    """A storefront page opened after WeChat sign-in (the page comes back to `path`)."""
    params = {"next": path}
    if appid and appid != get_settings().wechat_appid:
        params["appid"] = appid
    return absolute(SIGN_IN_PATH) + "?" + urlencode(params, quote_via=quote, safe="/")


def store_order_url(store_id: int, appid: str | None = None) -> str:
    return h5_url(f"/?store={int(store_id)}", appid)


def orders_url(appid: str | None = None) -> str:
    return h5_url("/orders", appid)


def order_url(public_id: str, appid: str | None = None) -> str:
    return h5_url(f"/orders/{quote(public_id, safe='')}", appid)


def coupon_claim_url(template_id: int, appid: str | None = None) -> str:
    """The seam for the coupon issue: where a keyword's coupon link sends the customer to claim."""
    return h5_url(f"/coupons/claim/{int(template_id)}", appid)
