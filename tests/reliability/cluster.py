"""A deployment in miniature for the reliability suites: the test's own PostgreSQL and Redis, `o2o serve` and
`o2o worker` as real processes (kill -9 and restart any of them), a city of stores with one SKU, customers,
and a staff user working at every store. Seeded with plain SQL; everything else goes through HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import psutil

from core import embedded
from core.users import hash_password
from tests.conftest import ROOT, _free_port, alembic_upgrade

# People's Square; stores north of the customers at these distances (1° latitude ≈ 111.2 km).
BASE_LAT, BASE_LNG = 31.2304, 121.4737
STORE_DISTANCES = (300, 700, 1100, 3500, 4500)  # ring 1 = the three nearest, ring 2 = the other two
PRICE_FEN = 1500


def north(metres: float) -> tuple[float, float]:
    return BASE_LAT + metres / 111_195.0, BASE_LNG


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    url: str | None = None
    ready: str = "/health/live"
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "core.cli", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """kill -9: no shutdown hook, no rollback but PostgreSQL's, in-flight requests and jobs cut."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.kill9()

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class World:
    account_id: int
    stores: list[int]
    hq: int
    sku: int
    customers: list[int]
    staff_user: int
    staff_username: str

    @property
    def origin(self) -> int:
        return self.stores[0]


@dataclass
class Cluster:
    data_dir: Path
    webs: int = 1
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    world: World | None = None

    def __post_init__(self) -> None:
        self.pg = embedded.start_postgres(self.data_dir)  # durable settings: it gets restarted
        self.redis = embedded.start_redis(self.data_dir)
        self.database_url = embedded.pg_url(self.pg.port)
        self.dsn = self.database_url.replace("postgresql+asyncpg://", "postgresql://")
        alembic_upgrade(self.database_url)
        # WeChat's own records (the sandbox's schema) live in a PostgreSQL of their own: WeChat does not go
        # down when our database restarts.
        (self.data_dir / "wechat").mkdir(exist_ok=True)
        self.wechat_pg = embedded.start_postgres(self.data_dir / "wechat", fast=True)
        self.wechat_database_url = embedded.pg_url(self.wechat_pg.port)
        self.wechat_dsn = self.wechat_database_url.replace("postgresql+asyncpg://", "postgresql://")
        alembic_upgrade(self.wechat_database_url)
        base = {k: v for k, v in os.environ.items() if k not in ("PORT", "PUBLIC_BASE_URL")}
        self.web_ports = [_free_port() for _ in range(self.webs)]
        self.sandbox_port = _free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.env = {
            **base,
            **prod_env(self.data_dir, self.sandbox_url),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            "O2O_DATA_DIR": str(self.data_dir),
            # WeChat calls back (pay notifies) to the first web process, as to a load balancer's address.
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.web_ports[0]}",
            "LOG_LEVEL": "WARNING",
            "LOG_JSON": "true",  # as in production; the console renderer's tracebacks cost far more CPU
            "JOB_LEASE_SECONDS": "6",  # a killed worker's jobs are taken over after this
            "DISPATCH_OFFER_DEADLINE_S": "10",
            "DISPATCH_NOTIFY_STAFF": "true",
            **self.extra_env,
        }
        # WeChat itself: the sandbox in its own process (never killed here), as WeChat is outside a deployment.
        self.procs["sandbox"] = Proc(
            "sandbox",
            ["sandbox", "--port", str(self.sandbox_port)],
            {**self.env, "DATABASE_URL": self.wechat_database_url},
            self.data_dir / "sandbox.log",
            url=self.sandbox_url,
            ready="/api/pay/config",
        )
        for i, port in enumerate(self.web_ports):
            name = f"web{i}"
            self.procs[name] = Proc(
                name,
                ["serve", "--server", "uvicorn", "--port", str(port)],
                {**self.env, "PORT": str(port)},
                self.data_dir / f"{name}.log",
                url=f"http://127.0.0.1:{port}",
            )
        for i in range(self.workers):
            name = f"worker{i}"
            self.procs[name] = Proc(name, ["worker"], self.env, self.data_dir / f"{name}.log")

    # --- processes ---------------------------------------------------------------------------------

    def web(self, i: int = 0) -> Proc:
        return self.procs[f"web{i}"]

    def worker(self, i: int = 0) -> Proc:
        return self.procs[f"worker{i}"]

    async def start_all(self) -> None:
        await asyncio.gather(*(self.start(p) for p in self.procs.values()))

    def token(self, kind: str, subject_id: int, role: str) -> str:
        now = int(time.time())
        payload = {"sub": f"{kind}:{subject_id}", "role": role, "iat": now, "exp": now + 86_400}
        return str(jwt.encode(payload, self.env["SECRET_KEY"], algorithm="HS256"))

    def customer_headers(self, customer_id: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token('customer', customer_id, 'customer')}"}

    def staff_headers(self, user_id: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token('user', user_id, 'staff')}"}

    async def start(self, proc: Proc) -> None:
        proc.start()
        if proc.url is None:
            return
        deadline = time.monotonic() + 90  # a loaded 2-core machine starts Python slowly
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if not proc.alive():
                    raise AssertionError(f"{proc.name} exited at start:\n{proc.tail()}")
                try:
                    if (await client.get(proc.url + proc.ready)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{proc.name} did not start:\n{proc.tail()}")

    async def quick_notify_retries(self) -> None:
        """WeChat retries a failed notify after 15 s, 15 s, 30 s, 3 min …: here a hundredth of that."""
        async with httpx.AsyncClient(base_url=self.sandbox_url, timeout=10) as client:
            r = await client.post("/api/pay/config", json={"retry_time_factor": 0.01})
            assert r.status_code == 200, r.text

    async def restart(self, proc: Proc) -> None:
        proc.kill9()
        await self.start(proc)

    def kill_redis(self) -> None:
        p = psutil.Process(self.redis.pid)
        p.send_signal(signal.SIGKILL)
        p.wait(10)

    def start_redis_again(self) -> None:
        """Same port (as a managed Redis's address stays), empty: nothing was persisted."""
        self.redis = embedded.start_redis(self.data_dir, port=self.redis.port)

    def kill_postgres(self) -> None:
        p = psutil.Process(self.pg.pid)
        p.send_signal(signal.SIGKILL)
        p.wait(10)

    def stop_postgres(self) -> None:
        """A restart as an operator or a managed service does it: fast shutdown (connections are terminated)."""
        embedded._stop_one(self.pg)

    def start_postgres_again(self) -> None:
        for _ in range(50):  # the orphaned backends notice the postmaster's death and exit
            try:
                self.pg = embedded.start_postgres(self.data_dir, port=self.pg.port)
                return
            except embedded.EmbeddedError:
                time.sleep(0.2)
        self.pg = embedded.start_postgres(self.data_dir, port=self.pg.port)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        for svc in (self.pg, self.redis, self.wechat_pg):
            embedded._stop_one(svc)

    # --- data ----------------------------------------------------------------------------------------

    async def sql(self, query: str, *args: Any, wechat: bool = False) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.wechat_dsn if wechat else self.dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def val(self, query: str, *args: Any) -> Any:
        rows = await self.sql(query, *args)
        return rows[0][0] if rows else None

    async def seed(self, customers: int) -> World:
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                account = await conn.fetchval(
                    "INSERT INTO official_accounts (appid, name) VALUES ('wxreliab0001', '可靠性') RETURNING id"
                )
                stores = []
                for n, d in enumerate(STORE_DISTANCES):
                    lat, lng = north(d)
                    stores.append(await _store(conn, f"R{n}", lat, lng, partner=True, hq=False))
                hq = await _store(conn, "RHQ", *north(2000), partner=False, hq=True)
                category = await conn.fetchval("INSERT INTO categories (name) VALUES ('可靠性') RETURNING id")
                product = await conn.fetchval(
                    "INSERT INTO products (category_id, title) VALUES ($1, '布洛芬缓释胶囊') RETURNING id", category
                )
                sku = await conn.fetchval(
                    "INSERT INTO skus (product_id, code, spec, base_price_fen) VALUES ($1, 'R-SKU-1', '盒', $2) "
                    "RETURNING id",
                    product,
                    PRICE_FEN,
                )
                for store in [*stores, hq]:
                    await conn.execute(
                        "INSERT INTO store_listings (store_id, sku_id, listed) VALUES ($1, $2, true)", store, sku
                    )
                    await conn.execute(
                        "INSERT INTO stock_levels (store_id, sku_id, on_hand, reserved) VALUES ($1, $2, 100000, 0)",
                        store,
                        sku,
                    )
                    await conn.execute(
                        "INSERT INTO stock_movements (store_id, sku_id, kind, on_hand_delta, reserved_delta, ref, "
                        "actor, reason, created_at) VALUES ($1, $2, 'receive', 100000, 0, 'seed', 'test', 'seed', now())",
                        store,
                        sku,
                    )
                customer_ids = [
                    r["id"]
                    for r in await conn.fetch(
                        "INSERT INTO customers (account_id, openid) "
                        "SELECT $1, 'o-reliab-' || g FROM generate_series(1, $2) g RETURNING id",
                        account,
                        customers,
                    )
                ]
        finally:
            await conn.close()
        staff_id, username = await self._staff_user([*stores, hq])
        return World(account, stores, hq, sku, customer_ids, staff_id, username)

    async def _staff_user(self, stores: list[int]) -> tuple[int, str]:
        """A staff user working at every store."""
        username = "reliab-staff"
        user_id = int(
            await self.val(
                "INSERT INTO users (username, password_hash, role, display_name, active, created_at, updated_at) "
                "VALUES ($1, $2, 'staff', '店员', true, now(), now()) RETURNING id",
                username,
                hash_password("correct horse battery"),
            )
        )
        for store in stores:
            await self.sql("INSERT INTO store_staff (store_id, user_id) VALUES ($1, $2)", store, user_id)
        return user_id, username

    async def ledger_check(self) -> dict[str, Any]:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "core.cli", "ledger", "check", "--json"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return report


async def _store(conn: asyncpg.Connection, code: str, lat: float, lng: float, *, partner: bool, hq: bool) -> int:
    store = int(
        await conn.fetchval(
            "INSERT INTO stores (code, name, lat, lng, radius_m, is_partner, is_hq, status, urgent_capacity) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', 500) RETURNING id",
            code,
            f"可靠性门店 {code}",
            lat,
            lng,
            30000 if hq else 8000,
            partner,
            hq,
        )
    )
    await conn.execute(
        "INSERT INTO store_hours (store_id, weekday, open_min, close_min) "
        "SELECT $1, d, 0, 1440 FROM generate_series(0, 6) d",
        store,
    )
    return store


def prod_env(data_dir: Path, sandbox_url: str) -> dict[str, str]:
    """A production-shaped configuration (O2O_ENV=prod) whose WeChat base URLs are the standalone sandbox."""
    from core.settings import Settings
    from wechat.sandbox.keys import ensure_sandbox_keys

    keys = ensure_sandbox_keys(Settings(o2o_env="dev", o2o_data_dir=data_dir))  # type: ignore[call-arg]
    return {
        "O2O_ENV": "prod",
        "SECRET_KEY": "reliab-" + "s" * 40,
        "WECHAT_APPID": "wxreliab000000001",
        "WECHAT_SECRET": "reliab-secret-000000000000000000000",
        "WECHAT_TOKEN": "reliabtoken",
        "WECHAT_AES_KEY": "R" * 43,
        "WECHATPAY_MCHID": "1900007777",
        "WECHATPAY_APIV3_KEY": "reliabapiv3key0123456789abcdefgh",
        "WECHATPAY_MERCHANT_SERIAL": "RELIABMERCHANTSERIAL00000000001",
        "WECHATPAY_PLATFORM_SERIAL": "PUB_KEY_ID_RELIAB000000000000000001",
        "WECHATPAY_MERCHANT_KEY_FILE": str(keys.merchant_key_path),
        "WECHATPAY_PLATFORM_PUBLIC_KEY_FILE": str(keys.platform_public_key_path),
        "WECHATPAY_API_BASE": sandbox_url,
        "WECOM_CORPID": "wwreliab0001",
        "WECOM_SECRET": "reliab-wecom-secret-000000000000000",
        "WECOM_API_BASE": f"{sandbox_url}/qyapi",
        "WECHAT_API_BASE": sandbox_url,
        "WECHAT_OPEN_BASE": sandbox_url,
        "WECHAT_MP_BASE": sandbox_url,
    }
