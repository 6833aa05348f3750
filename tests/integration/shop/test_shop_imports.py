"""CSV imports of the catalogue and of a store's stock: all or nothing per file, errors name their lines,
through the API and through `o2o import-catalogue` / `o2o import-stock`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from core.db import unit_of_work
from shop.audit import CLI
from shop.catalogue.import_csv import import_catalogue
from shop.errors import ImportFailed
from shop.stock.seam import reserve_stock
from tests.conftest import ROOT
from tests.integration.shop.conftest import bearer, count, make_store, make_user, scalar, stock_of

GOOD = """category,title,sku_code,price,subtitle,spec,barcode,prescription_required,tags,image_urls
药品/感冒发烧,999感冒灵颗粒,MCF-001,15.80,解热镇痛,10g*9袋,6901234567892,0,OTC|感冒,https://img.example/a.png
药品/感冒发烧,连花清瘟胶囊,MCF-002-1,23.5,清瘟解毒,24粒,,0,OTC,
药品/感冒发烧,连花清瘟胶囊,MCF-002-2,32,清瘟解毒,36粒,,否,OTC,
药品/处方药,阿莫西林胶囊,MRX-001,12.80,凭处方,24粒,,是,,
饮料/饮用水,农夫山泉,BWT-001,2.00,,550ml,,,,
"""


def counts() -> list[str]:
    return ["categories", "products", "skus", "shop_audit_log", "stock_movements", "stock_levels"]


async def snapshot() -> list[int]:
    return [await count(t) for t in counts()]


async def run_import(text: str) -> object:
    async with unit_of_work() as s:
        return await import_catalogue(s, text.splitlines(keepends=True), CLI)


async def test_catalogue_import_creates_then_updates_with_audited_prices(clean: None) -> None:
    r = await run_import(GOOD)
    assert (r.rows, r.products_created, r.skus_created, r.categories_created) == (5, 4, 5, 5)  # type: ignore[attr-defined]
    assert await scalar("SELECT base_price_fen FROM skus WHERE code = 'MCF-002-1'") == 2350
    assert await scalar("SELECT prescription_required FROM products WHERE title = '阿莫西林胶囊'") is True
    assert await scalar("SELECT tags FROM products WHERE title = '999感冒灵颗粒'") == ["OTC", "感冒"]
    r = await run_import(GOOD.replace("MCF-001,15.80", "MCF-001,16.50"))
    assert (r.products_created, r.skus_created, r.skus_updated, r.prices_changed) == (0, 0, 5, 1)  # type: ignore[attr-defined]
    assert await count("products") == 4
    assert await scalar("SELECT after FROM shop_audit_log WHERE action = 'price.base'") == {"base_price_fen": 1650}


@pytest.mark.parametrize(
    ("bad_line", "line", "message"),
    [
        ("药品/感冒发烧,坏价格,BAD-1,-3.00,,,,,,", 7, "must not be negative"),
        ("药品/感冒发烧,坏价格,BAD-1,1e3,,,,,,", 7, "at most 2 decimals"),
        ("药品/感冒发烧,坏价格,BAD-1,12.345,,,,,,", 7, "at most 2 decimals"),
        ("药品/感冒发烧,坏价格,BAD-1,,,,,,,", 7, "price"),
        ("药品/感冒发烧,重复,MCF-001,1.00,,,,,,", 7, "duplicate sku_code 'MCF-001' (also on line 2)"),
        ("药品/感冒发烧,坏编码,has space,1.00,,,,,,", 7, "SKU code"),
        (",无分类,BAD-2,1.00,,,,,,", 7, "category"),
        ("药品/感冒发烧,坏处方,BAD-3,1.00,,,,maybe,,", 7, "prescription_required"),
        ("药品/感冒发烧,多字段,BAD-4,1.00,,,,,,,extra", 7, "more fields"),
        ("药品/感冒发烧,少字段,BAD-5", 7, "fewer fields"),
    ],
)
async def test_a_bad_row_rolls_the_whole_file_back(clean: None, bad_line: str, line: int, message: str) -> None:
    before = await snapshot()
    with pytest.raises(ImportFailed) as exc:
        await run_import(GOOD + bad_line + "\n" + "饮料/饮用水,怡宝,BWT-002,2.00,,,,,,\n")
    assert exc.value.errors[0][0] == line and message in exc.value.errors[0][1], exc.value.errors
    assert f"line {line}" in exc.value.detail
    assert await snapshot() == before  # the good rows before it were not kept either


async def test_header_errors(clean: None) -> None:
    for text, message in (
        ("category,title,sku_code\nx,y,z\n", "missing column(s) price"),
        ("category,title,sku_code,price,colour\n", "unknown column(s) colour"),
        ("category,title,sku_code,price\n", "no rows"),
    ):
        with pytest.raises(ImportFailed, match=re.escape(message)):
            await run_import(text)
    assert await snapshot() == [0] * len(counts())


async def test_catalogue_import_over_http(client: httpx.AsyncClient) -> None:
    admin = bearer("user", await make_user("boss", "admin"), "admin")
    r = await client.post(
        "/api/admin/catalogue/import", content=GOOD.encode(), headers={**admin, "Content-Type": "text/csv"}
    )
    assert r.status_code == 200 and r.json()["skus_created"] == 5
    before = await snapshot()
    r = await client.post(
        "/api/admin/catalogue/import",
        content=(GOOD.replace("MCF-001,15.80", "MCF-001,-1") + "x,y,MCF-001,1,,,,,,\n").encode(),
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert r.status_code == 400
    errors = r.json()["extra"]["errors"]
    assert [e["line"] for e in errors] == [2, 7] and "nothing was imported" in r.json()["detail"]
    assert await snapshot() == before
    r = await client.post("/api/admin/catalogue/import", content=b"\xff\xfe\x00bad", headers=admin)
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]


async def test_stock_import_refuses_below_reserved_and_unknown_skus(client: httpx.AsyncClient) -> None:
    await run_import(GOOD)
    store = await make_store("S1")
    staff = bearer("user", await make_user("s1.staff", "staff", [store]), "staff")
    url = f"/api/admin/stores/{store}/stock/import"
    ok = "sku_code,on_hand,reason\nMCF-001,20,到货\nMRX-001,5,\n"
    r = await client.post(url, content=ok.encode(), headers=staff)
    assert r.status_code == 200 and r.json() == {"store_id": store, "rows": 2, "changed": 2, "unchanged": 0}
    sku = await scalar("SELECT id FROM skus WHERE code = 'MCF-001'")
    async with unit_of_work() as s:
        await reserve_stock(s, store, [(sku, 8)], "order:1")
    before = await snapshot()
    bad = "sku_code,on_hand\nMRX-001,1\nMCF-001,7\nNOPE,3\nMRX-001,2\nBWT-001,2.5\n"
    r = await client.post(url, content=bad.encode(), headers=staff)
    assert r.status_code == 400
    lines = {e["line"]: e["error"] for e in r.json()["extra"]["errors"]}
    assert set(lines) == {4, 5, 6}, lines  # unknown, duplicate, not whole — found while streaming
    assert await snapshot() == before and await stock_of(store, sku) == (20, 8)
    r = await client.post(url, content=b"sku_code,on_hand\nMRX-001,1\nMCF-001,7\n", headers=staff)
    assert r.status_code == 400 and r.json()["extra"]["errors"] == [
        {"line": 3, "error": "on_hand 7 is below the 8 units reserved for orders"}
    ]
    assert await snapshot() == before


def o2o(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


async def test_cli_imports(clean: None, tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text("\ufeff" + GOOD, encoding="utf-8")  # Excel's BOM
    done = o2o("import-catalogue", str(catalogue))
    assert done.returncode == 0, done.stderr
    assert "imported 5 rows" in done.stdout
    store = await make_store("SH01")
    stock = tmp_path / "stock.csv"
    stock.write_text(
        "sku_code,on_hand\n" + "".join(f"{c},{i + 1}\n" for i, c in enumerate(["MCF-001", "MCF-002-1", "BWT-001"]))
    )
    done = o2o("import-stock", "SH01", str(stock))
    assert done.returncode == 0, done.stderr
    assert "3 levels changed" in done.stdout
    assert await stock_of(store, await scalar("SELECT id FROM skus WHERE code = 'BWT-001'")) == (3, 0)
    before = await snapshot()
    stock.write_text("sku_code,on_hand\nMCF-001,9\nMCF-002-1,-4\n")
    failed = o2o("import-stock", "SH01", str(stock))
    assert failed.returncode == 1
    assert "line 3" in failed.stderr and "nothing was imported" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert await snapshot() == before
    assert o2o("import-stock", "NOSUCH", str(stock)).returncode == 1
    assert "does not exist" in o2o("import-stock", "NOSUCH", str(stock)).stderr
    assert o2o("import-catalogue", str(tmp_path / "missing.csv")).returncode == 1


async def test_a_large_file_streams(clean: None) -> None:
    rows = "".join(f"零食/测试,商品{i},T-{i:05d},{i % 100}.{i % 10}0,,,,,,\n" for i in range(3000))
    r = await run_import(GOOD.splitlines()[0] + "\n" + rows)
    assert r.skus_created == 3000 and r.products_created == 3000  # type: ignore[attr-defined]
