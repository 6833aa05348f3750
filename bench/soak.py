"""`make soak`: mixed load against `make run`'s own serving setup (`o2o run` on .data/soak: embedded PostgreSQL and
Redis, migrations, demo data, `o2o serve`, `o2o worker`, the sandbox) for SOAK_SECONDS (default 600):
browse 70 % (catalogue pages, search), order 20 % (place a pickup order, pay it in the sandbox), staff 10 % (orders
and offers of a store). Every SOAK_SAMPLE_SECONDS it samples the RSS of the web server, the worker and PostgreSQL
and PostgreSQL's connection count; then prints the table and a verdict: a linear fit of each series after the
warm-up (the first fifth) must not show clear growth, and no request may fail (5xx or a dropped connection).
Exits 1 when either happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import asyncpg
import httpx
import psutil

from bench.common import ROOT, free_port, log

DATA_DIR = ROOT / ".data" / "soak"
SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
SAMPLE = float(os.environ.get("SOAK_SAMPLE_SECONDS", "10" if SECONDS >= 300 else "5"))
USERS = int(os.environ.get("SOAK_USERS", "20"))
TERMS = ["感冒", "牛奶", "饼干", "维生素", "口罩", "茶", "纸", "咖啡"]
# Growth that counts as a leak: over the measured window, more than this share of the first value AND more
# than this absolute amount, on a good linear fit.
GROWTH_SHARE, GROWTH_MB, GROWTH_CONNECTIONS, MIN_R2 = 0.2, 30.0, 5, 0.6


@dataclass
class Tally:
    ok: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # 4xx: answers, e.g. out of stock
    refusals: dict[str, str] = field(default_factory=dict)  # the first of each kind, for the report
    errors: list[str] = field(default_factory=list)  # 5xx and transport errors

    def count(self, kind: str, r: httpx.Response) -> None:
        if r.status_code >= 500:
            self.errors.append(f"{kind}: {r.status_code} {r.text[:160]}")
        elif r.status_code >= 400:
            self.refused[kind] = self.refused.get(kind, 0) + 1
            self.refusals.setdefault(f"{kind} {r.status_code}", r.text[:200])
        else:
            self.ok[kind] = self.ok.get(kind, 0) + 1


@dataclass
class World:
    stores: list[int]
    products: list[tuple[int, int]]  # (store, sku) with stock
    customers: list[str]  # bearer tokens
    staff: list[tuple[int, str]]  # (store, bearer token)


def dsn() -> str:
    state = json.loads((DATA_DIR / "services.json").read_text())
    return f"postgresql://postgres@127.0.0.1:{state['postgres']['port']}/o2o"


async def prepare() -> World:
    """Customers and a staff user per store of the demo chain (inserted once; tokens signed like the app's)."""
    from core.auth import issue_token
    from core.users import hash_password

    conn = await asyncpg.connect(dsn())
    try:
        account = await conn.fetchval("SELECT id FROM official_accounts ORDER BY is_default DESC, id LIMIT 1")
        await conn.execute(
            "INSERT INTO customers (account_id, openid) SELECT $1, 'o-soak-' || g FROM generate_series(1, 200) g "
            "ON CONFLICT DO NOTHING",
            account,
        )
        customers = [r["id"] for r in await conn.fetch("SELECT id FROM customers WHERE openid LIKE 'o-soak-%'")]
        stores = [r["id"] for r in await conn.fetch("SELECT id FROM stores WHERE status = 'active' ORDER BY id")]
        products = [
            (r["store_id"], r["sku_id"])
            for r in await conn.fetch(
                "SELECT l.store_id, l.sku_id FROM stock_levels l JOIN store_listings s USING (store_id, sku_id) "
                "JOIN skus k ON k.id = l.sku_id JOIN products p ON p.id = k.product_id "
                "WHERE s.listed AND NOT p.prescription_required AND l.on_hand - l.reserved > 50"
            )
        ]
        # Orders go to stores open around the clock (a soak at night would otherwise be mostly "closed now").
        always_open = {
            r["store_id"]
            for r in await conn.fetch(
                "SELECT store_id FROM store_hours WHERE open_min = 0 AND close_min >= 1440 "
                "GROUP BY store_id HAVING count(DISTINCT weekday) = 7"
            )
        }
        products = [p for p in products if p[0] in always_open] or products
        # Stock enough for ten minutes of orders (receipts through the movement log, like goods in).
        await conn.execute(
            "INSERT INTO stock_movements (store_id, sku_id, kind, on_hand_delta, reserved_delta, ref, actor, reason, "
            "created_at) SELECT store_id, sku_id, 'receive', 100000, 0, 'soak', 'soak', 'soak stock', now() "
            "FROM stock_levels"
        )
        await conn.execute("UPDATE stock_levels SET on_hand = on_hand + 100000")
        password = hash_password("soak-password-1")
        staff = []
        for store in stores:
            uid = await conn.fetchval(
                "INSERT INTO users (username, password_hash, role, display_name, active, created_at, updated_at) "
                "VALUES ($1, $2, 'staff', 'soak', true, now(), now()) "
                "ON CONFLICT (username) DO UPDATE SET active = true RETURNING id",
                f"soak.staff{store}",
                password,
            )
            await conn.execute(
                "INSERT INTO store_staff (store_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", store, uid
            )
            staff.append((store, issue_token("user", uid, "staff")))
    finally:
        await conn.close()
    tokens = [issue_token("customer", c, "customer") for c in customers]
    return World(stores, products, tokens, staff)


async def browse(client: httpx.AsyncClient, w: World, t: Tally) -> None:
    if random.random() < 0.6:
        store = random.choice(w.stores)
        r = await client.get(f"/api/stores/{store}/catalogue?page={random.randint(1, 4)}&page_size=20")
    else:
        r = await client.get(f"/api/catalogue/search?q={quote(random.choice(TERMS))}")
    t.count("browse", r)


async def order(client: httpx.AsyncClient, w: World, t: Tally) -> None:
    store, sku = random.choice(w.products)
    me = {"Authorization": f"Bearer {random.choice(w.customers)}"}
    body = {"store_id": store, "kind": "pickup", "lines": [{"sku_id": sku, "qty": 1}]}
    r = await client.post("/api/orders/", json=body, headers={**me, "Idempotency-Key": os.urandom(12).hex()})
    t.count("order", r)
    if r.status_code != 201:
        return
    r = await client.post("/api/payments", json={"order_id": r.json()["id"], "channel": "JSAPI"}, headers=me)
    t.count("pay_start", r)
    if r.status_code == 200 and random.random() < 0.8:  # some customers never pay: their deadline cancels
        t.count("pay", await client.post("/sandbox/api/pay/jsapi", json=r.json()["jsapi_params"]))


async def staff(client: httpx.AsyncClient, w: World, t: Tally) -> None:
    store, token = random.choice(w.staff)
    me = {"Authorization": f"Bearer {token}"}
    if random.random() < 0.5:
        r = await client.get(f"/api/staff/orders?store_id={store}", headers=me)
    else:
        r = await client.get("/api/staff/offers", headers=me)
    t.count("staff", r)


async def user(client: httpx.AsyncClient, w: World, t: Tally, until: float) -> None:
    while time.monotonic() < until:
        roll = random.random()
        action = browse if roll < 0.7 else order if roll < 0.9 else staff
        try:
            await action(client, w, t)
        except httpx.HTTPError as exc:
            t.errors.append(f"{action.__name__}: {type(exc).__name__}")
        await asyncio.sleep(random.uniform(0.0, 0.05))


def processes(run: subprocess.Popen[bytes]) -> dict[str, list[psutil.Process]]:
    found: dict[str, list[psutil.Process]] = {"web": [], "worker": [], "postgresql": []}
    for child in psutil.Process(run.pid).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            cmd = " ".join(child.cmdline())
            key = "worker" if " worker" in cmd else "web" if " serve" in cmd else None
            if key:
                found[key] += [child, *child.children(recursive=True)]
    needle = str(DATA_DIR / "pg")
    for p in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.NoSuchProcess, TypeError):
            if (p.info["name"] or "").startswith("postgres") and (
                needle in " ".join(p.info["cmdline"] or []) or _parent_is(p, needle)
            ):
                found["postgresql"].append(p)
    return found


def _parent_is(p: psutil.Process, needle: str) -> bool:
    with contextlib.suppress(psutil.NoSuchProcess, TypeError):
        parent = p.parent()
        return parent is not None and needle in " ".join(parent.cmdline())
    return False


def rss_mb(procs: list[psutil.Process]) -> float:
    """Proportional set size: PostgreSQL's backends share their buffers, and plain RSS counts those once per
    backend (a sum that grows as backends touch pages, without any memory being used)."""
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            info = p.memory_full_info()
            total += getattr(info, "pss", 0) or info.rss
    return round(total / 2**20, 1)


async def sample(run: subprocess.Popen[bytes], started: float) -> dict[str, float]:
    procs = processes(run)
    conn = await asyncpg.connect(dsn())
    try:
        connections = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = 'o2o'")
    finally:
        await conn.close()
    return {
        "t_s": round(time.monotonic() - started, 1),
        "web_mb": rss_mb(procs["web"]),
        "worker_mb": rss_mb(procs["worker"]),
        "pg_mb": rss_mb(procs["postgresql"]),
        "pg_connections": float(connections),
    }


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares slope (per second) and R²."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return 0.0, 0.0
    slope = sxy / sxx
    return slope, (sxy * sxy) / (sxx * syy)


def verdict(samples: list[dict[str, float]]) -> tuple[list[str], list[str]]:
    """(lines describing each series' trend, the series that clearly grow)."""
    measured = samples[max(1, len(samples) // 5) :]
    lines, growing = [], []
    if len(measured) < 3:
        return ["too few samples for a trend (raise SOAK_SECONDS)"], []
    xs = [s["t_s"] for s in measured]
    window = xs[-1] - xs[0]
    for key in ("web_mb", "worker_mb", "pg_mb", "pg_connections"):
        ys = [s[key] for s in measured]
        slope, r2 = fit(xs, ys)
        growth = slope * window
        if key == "pg_connections":
            clear = growth > GROWTH_CONNECTIONS and r2 >= MIN_R2
        else:
            clear = growth > max(GROWTH_MB, GROWTH_SHARE * ys[0]) and r2 >= MIN_R2
        lines.append(
            f"{key:<15} first {ys[0]:>8.1f}  last {ys[-1]:>8.1f}  trend {slope * 60:+8.2f}/min  R² {r2:.2f}"
            f"  -> {'GROWS' if clear else 'flat'}"
        )
        if clear:
            growing.append(key)
    return lines, growing


@contextlib.contextmanager
def make_run(port: int):  # type: ignore[no-untyped-def]
    """`o2o run` (what `make run` starts) on the soak's own data dir and port; Ctrl-C'd at the end."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PORT", "PUBLIC_BASE_URL")}
    env.update({"O2O_DATA_DIR": str(DATA_DIR), "PORT": str(port), "LOG_LEVEL": "WARNING"})
    out = (DATA_DIR / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "run"], cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        out.close()


async def soak(url: str, run: subprocess.Popen[bytes]) -> int:
    w = await prepare()
    t = Tally()
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    until = started + SECONDS
    limits = httpx.Limits(max_connections=USERS * 2)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        users = [asyncio.create_task(user(client, w, t, until)) for _ in range(USERS)]
        while time.monotonic() < until:
            samples.append(await sample(run, started))
            s = samples[-1]
            done = sum(t.ok.values())
            log(
                f"soak {s['t_s']:>6.0f}s  web {s['web_mb']:.0f} MB  worker {s['worker_mb']:.0f} MB  "
                f"pg {s['pg_mb']:.0f} MB  pg conns {s['pg_connections']:.0f}  ok {done}  errors {len(t.errors)}"
            )
            await asyncio.sleep(max(0.0, min(SAMPLE, until - time.monotonic())))
        await asyncio.gather(*users)
    samples.append(await sample(run, started))
    print("\n  t_s   web_mb  worker_mb   pg_mb  pg_conns")
    for s in samples:
        print(
            f"{s['t_s']:>6.0f} {s['web_mb']:>8.1f} {s['worker_mb']:>10.1f} {s['pg_mb']:>7.1f} {s['pg_connections']:>9.0f}"
        )
    lines, growing = verdict(samples)
    total = sum(t.ok.values()) + sum(t.refused.values()) + len(t.errors)
    print(f"\nrequests {total} in {SECONDS:.0f}s ({total / SECONDS:.0f}/s): ok {t.ok}, refused (4xx) {t.refused}")
    for kind, text in t.refusals.items():
        print(f"  first refusal {kind}: {text}")
    print(f"errors (5xx, dropped connections): {len(t.errors)} {t.errors[:5]}")
    print("trends after warm-up:\n  " + "\n  ".join(lines))
    ok = not t.errors and not growing
    print(f"\nsoak verdict: {'PASS' if ok else 'FAIL'}" + (f" (growing: {', '.join(growing)})" if growing else ""))
    return 0 if ok else 1


def main() -> int:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    shutil.rmtree(DATA_DIR / "pg", ignore_errors=True)  # a fresh database each soak
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    log(f"soak: `o2o run` on {DATA_DIR} :{port}, {USERS} users, {SECONDS:.0f}s, a sample every {SAMPLE:.0f}s")
    with make_run(port) as run:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if run.poll() is not None:
                print((DATA_DIR / "run.log").read_text()[-3000:], file=sys.stderr)
                return 1
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200 and len(processes(run)["worker"]):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            log("soak: make run did not come up")
            return 1
        return asyncio.run(soak(url, run))


if __name__ == "__main__":
    raise SystemExit(main())
