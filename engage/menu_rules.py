"""WeChat's custom-menu limits, checked before anything is sent: ≤ 3 buttons, ≤ 5 sub-buttons, names,
keys and URLs within their byte limits, types click / view / miniprogram."""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_TOP_NAME_BYTES = 16
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024
TYPES = ("click", "view", "miniprogram")


class MenuInvalid(InvalidInput):
    """The menu breaks WeChat's rules; `extra.problems` lists every one."""


def _bytes(value: Any) -> int:
    return len(str(value).encode()) if isinstance(value, str) else 0


def _url_ok(url: Any, base_url: str) -> bool:
    if not isinstance(url, str) or not url:
        return False
    if url.startswith("/") and not url.startswith("//"):
        url = base_url + url
    return url.startswith(("http://", "https://")) and _bytes(url) <= MAX_URL_BYTES


def _leaf(button: dict[str, Any], where: str, max_name: int, base_url: str, problems: list[str]) -> dict[str, Any]:
    name = button.get("name")
    if not isinstance(name, str) or not name.strip() or _bytes(name) > max_name:
        problems.append(f"{where}: name must be 1 to {max_name} bytes (a Chinese character is 3)")
    kind = button.get("type")
    out: dict[str, Any] = {"type": kind, "name": name}
    if kind not in TYPES:
        problems.append(f"{where}: type must be one of {', '.join(TYPES)}")
    elif kind == "click":
        key = button.get("key")
        if not isinstance(key, str) or not key or _bytes(key) > MAX_KEY_BYTES:
            problems.append(f"{where}: a click button needs a key of 1 to {MAX_KEY_BYTES} bytes")
        out["key"] = key
    else:
        url = button.get("url")
        if not _url_ok(url, base_url):
            problems.append(f"{where}: url must be http(s):// or a site path starting with /, at most 1024 bytes")
        out["url"] = url
        if kind == "miniprogram":
            appid, pagepath = button.get("appid"), button.get("pagepath")
            if not isinstance(appid, str) or not appid or not isinstance(pagepath, str) or not pagepath:
                problems.append(f"{where}: a miniprogram button needs appid and pagepath (url is the fallback page)")
            out.update(appid=appid, pagepath=pagepath)
    return out


def validate_menu(menu: Any, *, base_url: str = "") -> dict[str, Any]:
    """The menu as WeChat takes it (only known fields), or MenuInvalid naming every problem."""
    buttons = menu.get("button") if isinstance(menu, dict) else None
    if not isinstance(buttons, list) or not buttons:
        raise MenuInvalid('a menu is {"button": [...]} with 1 to 3 buttons')
    problems: list[str] = []
    if len(buttons) > MAX_BUTTONS:
        problems.append(f"{len(buttons)} buttons: WeChat allows at most {MAX_BUTTONS}")
    out: list[dict[str, Any]] = []
    keys: list[str] = []
    for i, button in enumerate(buttons, start=1):
        where = f"button {i}"
        if not isinstance(button, dict):
            problems.append(f"{where}: must be an object")
            continue
        subs = button.get("sub_button")
        if subs:
            if not isinstance(subs, list):
                problems.append(f"{where}: sub_button must be a list")
                continue
            name = button.get("name")
            if not isinstance(name, str) or not name.strip() or _bytes(name) > MAX_TOP_NAME_BYTES:
                problems.append(f"{where}: name must be 1 to {MAX_TOP_NAME_BYTES} bytes (a Chinese character is 3)")
            if len(subs) > MAX_SUB_BUTTONS:
                problems.append(f"{where}: {len(subs)} sub-buttons, WeChat allows at most {MAX_SUB_BUTTONS}")
            leaves = []
            for j, sub in enumerate(subs, start=1):
                if not isinstance(sub, dict):
                    problems.append(f"{where} sub-button {j}: must be an object")
                    continue
                leaf = _leaf(sub, f"{where} sub-button {j}", MAX_SUB_NAME_BYTES, base_url, problems)
                leaves.append(leaf)
                if leaf.get("type") == "click" and isinstance(leaf.get("key"), str):
                    keys.append(leaf["key"])
            out.append({"name": name, "sub_button": leaves})
        else:
            leaf = _leaf(button, where, MAX_TOP_NAME_BYTES, base_url, problems)
            out.append(leaf)
            if leaf.get("type") == "click" and isinstance(leaf.get("key"), str):
                keys.append(leaf["key"])
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        problems.append(f"click keys must be unique: {', '.join(duplicates)}")
    if problems:
        raise MenuInvalid("the menu breaks WeChat's rules: " + "; ".join(problems), extra={"problems": problems})
    return {"button": out}


def absolute_urls(menu: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The menu with site paths (`/…`) made absolute: what is sent to menu/create."""

    def fix(button: dict[str, Any]) -> dict[str, Any]:
        b = dict(button)
        if b.get("sub_button"):
            b["sub_button"] = [fix(s) for s in b["sub_button"]]
        url = b.get("url")
        if isinstance(url, str) and url.startswith("/") and not url.startswith("//"):
            b["url"] = base_url + url
        return b

    return {"button": [fix(b) for b in menu["button"]]}
