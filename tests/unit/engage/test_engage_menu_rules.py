"""WeChat's menu limits, checked locally."""

from __future__ import annotations

import pytest

from engage.menu_rules import MenuInvalid, absolute_urls, validate_menu
from engage.publish_menu import DEMO_MENU


def click(name: str, key: str) -> dict:
    return {"type": "click", "name": name, "key": key}


def test_the_demo_menu_is_valid_and_its_paths_become_absolute() -> None:
    menu = validate_menu(DEMO_MENU, base_url="https://shop.example.com")
    out = absolute_urls(menu, "https://shop.example.com")
    assert out["button"][0]["url"] == "https://shop.example.com/auth/wechat?next=/"
    assert out["button"][2]["sub_button"][1]["url"] == "https://shop.example.com/auth/wechat?next=/member"
    assert out["button"][1] == click("附近门店", "NEAREST_STORES")


@pytest.mark.parametrize(
    ("menu", "problem"),
    [
        ({"button": [click(f"b{i}", f"k{i}") for i in range(4)]}, "at most 3"),
        ({"button": [{"name": "更多", "sub_button": [click(f"s{i}", f"k{i}") for i in range(6)]}]}, "at most 5"),
        ({"button": [click("一二三四五六", "k")]}, "1 to 16 bytes"),  # 18 bytes
        ({"button": [{"name": "多", "sub_button": [click("字" * 21, "k")]}]}, "1 to 60 bytes"),
        ({"button": [click("a", "k" * 129)]}, "key of 1 to 128"),
        ({"button": [{"type": "view", "name": "a", "url": "javascript:alert(1)"}]}, "url must be"),
        ({"button": [{"type": "view", "name": "a", "url": "//evil.example"}]}, "url must be"),
        ({"button": [{"type": "view", "name": "a", "url": "https://x/" + "a" * 1100}]}, "url must be"),
        ({"button": [{"type": "scancode_push", "name": "a", "key": "k"}]}, "type must be"),
        ({"button": [{"type": "miniprogram", "name": "a", "url": "https://x"}]}, "appid and pagepath"),
        ({"button": [click("a", "k"), click("b", "k")]}, "unique"),
        ({"button": ["x"]}, "must be an object"),
    ],
)
def test_menus_over_the_limits_are_refused(menu: dict, problem: str) -> None:
    with pytest.raises(MenuInvalid) as err:
        validate_menu(menu, base_url="http://h")
    assert problem in err.value.detail
    assert err.value.status_code == 400


@pytest.mark.parametrize("menu", [None, {}, {"button": []}, {"button": "x"}, []])
def test_shapeless_menus_are_refused(menu: object) -> None:
    with pytest.raises(MenuInvalid):
        validate_menu(menu)


def test_every_problem_is_named_at_once() -> None:
    menu = {"button": [click("一二三四五六", "k"), {"type": "view", "name": "", "url": "x"}]}
    with pytest.raises(MenuInvalid) as err:
        validate_menu(menu)
    assert len(err.value.extra["problems"]) == 3


def test_unknown_fields_are_dropped() -> None:
    menu = {
        "button": [
            {**click("a", "k"), "colour": "red"},
            {"name": "更多", "type": "x", "sub_button": [click("b", "k2")]},
        ]
    }
    assert validate_menu(menu) == {"button": [click("a", "k"), {"name": "更多", "sub_button": [click("b", "k2")]}]}
