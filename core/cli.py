"""The `o2o` console script: run, serve, worker, migrate, seed-demo, sandbox, create-user and domain commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import getpass
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.embedded import EmbeddedError, Services, ensure_services, port_answers
from core.settings import Settings, SettingsError, get_settings, reset_settings


class CLIError(SystemExit):
    """A one-line error for the operator and a non-zero exit."""

    def __init__(self, message: str) -> None:
        print(f"o2o: {message}", file=sys.stderr)
        super().__init__(1)


def load_settings() -> Settings:
    try:
        return get_settings()
    except (SettingsError, ValueError) as exc:
        text = str(exc)
        if "refuses to start" in text or "must be" in text:
            first = next((line for line in text.splitlines() if "refuses" in line or "must be" in line), text)
            raise CLIError(first.split("[type=")[0].strip().removeprefix("Value error, ")) from None
        raise CLIError(f"invalid settings: {text.splitlines()[0]}") from None


@contextlib.contextmanager
def services(fast: bool = False) -> Iterator[Services]:
    """Services for this command: the configured URLs, or embedded ones found or started under O2O_DATA_DIR."""
    s = load_settings()
    try:
        svc = ensure_services(s.data_dir, database_url=s.database_url, redis_url=s.redis_url, fast=fast)
    except EmbeddedError as exc:
        raise CLIError(str(exc)) from None
    os.environ["DATABASE_URL"] = svc.database_url
    os.environ["REDIS_URL"] = svc.redis_url
    reset_settings()
    try:
        yield svc
    finally:
        svc.stop()


def _check_database(url: str) -> None:
    async def probe() -> None:
        import asyncpg

        from core.db import database_url

        dsn = database_url().replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        raise CLIError(
            f"cannot connect to the database ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "check DATABASE_URL, or unset it to use the embedded PostgreSQL"
        ) from None


def migrate(revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(Path(__file__).resolve().parent.parent / "alembic.ini"))
    command.upgrade(cfg, revision)


# --- commands ----------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> None:
    with services():
        _check_database(os.environ["DATABASE_URL"])
        migrate(args.revision)
        print(f"database migrated to {args.revision}")


def cmd_serve(args: argparse.Namespace) -> None:
    s = load_settings()
    host = args.host or s.host
    port = args.port or s.port
    if port_answers(port) and host in ("127.0.0.1", "localhost", "0.0.0.0"):
        raise CLIError(f"port {port} is already in use; stop what uses it or set PORT to another port")
    with services():
        _check_database(os.environ["DATABASE_URL"])
        serve(host, port, workers=args.workers, server=args.server)


def serve(host: str, port: int, *, workers: int = 1, server: str = "granian") -> None:
    if server == "granian":
        from granian import Granian
        from granian.constants import Interfaces, Loops

        Granian(
            "core.app:create_served_app",
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            factory=True,
            workers=workers,
            loop=Loops.uvloop,
            log_access=False,
        ).serve()
        return
    import uvicorn

    uvicorn.run(
        "core.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


def cmd_worker(args: argparse.Namespace) -> None:
    from core.app import register_domain_handlers
    from core.jobs import run_worker
    from core.logging import configure_logging

    with services():
        s = get_settings()
        configure_logging(s.log_level, s.log_json)
        register_domain_handlers()
        stop = asyncio.Event()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            try:
                await run_worker(stop, concurrency=args.concurrency)
            finally:
                from core.db import dispose_engine
                from core.redis import close_redis

                await dispose_engine()
                await close_redis()

        asyncio.run(main())


def cmd_create_user(args: argparse.Namespace) -> None:
    from core.db import unit_of_work
    from core.errors import DomainError
    from core.users import create_user

    password = args.password or os.environ.get("O2O_NEW_PASSWORD") or getpass.getpass("password: ")
    with services():

        async def main() -> int:
            async with unit_of_work() as session:
                user = await create_user(
                    session,
                    username=args.username,
                    password=password,
                    role=args.role,
                    display_name=args.name or args.username,
                )
                return user.id

        try:
            user_id = asyncio.run(main())
        except DomainError as exc:
            raise CLIError(exc.detail) from None
        print(f"created {args.role} user {args.username!r} (id {user_id})")


def cmd_seed_demo(args: argparse.Namespace) -> None:
    with services():
        seed_demo()


def seed_demo() -> None:
    """Run every domain's idempotent demo seeder, in layer order."""
    from core.app import DOMAINS, _optional_module

    async def main() -> None:
        from core.db import dispose_engine

        try:
            for pkg in DOMAINS:
                mod = _optional_module(f"{pkg}.seed")
                if mod is not None:
                    await mod.seed_demo()
        finally:
            await dispose_engine()

    asyncio.run(main())


def cmd_sandbox(args: argparse.Namespace) -> None:
    s = load_settings()
    port = args.port
    if port_answers(port):
        raise CLIError(f"port {port} is already in use; pass --port")
    with services():
        import uvicorn

        uvicorn.run(
            "wechat.sandbox.app:create_standalone_app",
            factory=True,
            host=s.host,
            port=port,
            log_config=None,
            access_log=False,
        )


@contextlib.contextmanager
def _run_lock(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    fh = open(data_dir / "run.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        raise CLIError(
            f"`make run` is already running for {data_dir}; stop it with Ctrl-C, or set O2O_DATA_DIR "
            "and PORT to run a second copy"
        ) from None
    fh.truncate(0)
    fh.write(str(os.getpid()))
    fh.flush()
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def cmd_run(args: argparse.Namespace) -> None:
    """Everything for a newcomer: services, migrations, demo data, web app + worker; Ctrl-C stops it all."""
    s = load_settings()
    try:
        s.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create the data directory {s.data_dir} ({exc.strerror}); set O2O_DATA_DIR") from None
    with _run_lock(s.data_dir):
        if port_answers(s.port):
            raise CLIError(f"port {s.port} is already in use; stop what uses it or run `PORT=8080 make run`")
        print(f"starting PostgreSQL and Redis under {s.data_dir} (unless DATABASE_URL/REDIS_URL are set) ...")
        with services() as svc:
            _check_database(svc.database_url)
            print("applying migrations ...")
            migrate()
            print("loading demo data ...")
            seed_demo()
            env = {**os.environ, "DATABASE_URL": svc.database_url, "REDIS_URL": svc.redis_url}
            exe = [sys.executable, "-m", "core.cli"]
            children = [subprocess.Popen([*exe, "serve"], env=env)]
            # The worker starts once the app answers: the demo's first jobs call the sandbox inside it.
            _wait_for_web(s.port, children[0])
            children.append(subprocess.Popen([*exe, "worker"], env=env))
            _print_urls(s)
            _supervise(children)


def _wait_for_web(port: int, server: subprocess.Popen[Any], timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1):
                return
        except OSError:
            time.sleep(0.2)


def _print_urls(s: Settings) -> None:
    base = s.base_url
    lines = [
        "",
        "  O2O is starting:",
        f"    storefront (customer H5)  {base}/",
        f"    staff console             {base}/staff",
        f"    finance console           {base}/finance",
        f"    admin console             {base}/admin",
        f"    API schema                {base}/schema",
        f"    health                    {base}/health",
    ]
    if s.is_dev:
        lines.append(f"    WeChat sandbox phone      {base}/sandbox/phone")
        lines += _demo_sign_ins()
    lines += ["  Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)


def _demo_sign_ins() -> list[str]:
    """Lines from each domain's seed module (`demo_sign_ins()`), e.g. the demo accounts of the consoles."""
    from core.app import DOMAINS, _optional_module

    lines: list[str] = []
    for pkg in DOMAINS:
        mod = _optional_module(f"{pkg}.seed")
        fn = getattr(mod, "demo_sign_ins", None) if mod is not None else None
        if fn is not None:
            lines += [f"    {line}" for line in fn()]
    return lines


def _supervise(children: list[subprocess.Popen[Any]]) -> None:
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        if any(c.poll() is not None for c in children):
            print("o2o: a child process exited; stopping everything", file=sys.stderr)
            break
        time.sleep(0.3)
    for c in children:
        if c.poll() is None:
            c.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for c in children:
        try:
            c.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            c.kill()
    print("stopped web app and worker; stopping PostgreSQL and Redis ...", flush=True)


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], None], str]] = {
    "run": (cmd_run, "set up and run everything with demo data (what `make run` does)"),
    "serve": (cmd_serve, "run the web app"),
    "worker": (cmd_worker, "run the background worker (jobs, timers, outbox)"),
    "migrate": (cmd_migrate, "apply database migrations"),
    "seed-demo": (cmd_seed_demo, "load the demo chain (idempotent)"),
    "sandbox": (cmd_sandbox, "run the WeChat sandbox alone on its own port"),
    "create-user": (cmd_create_user, "create a staff, finance or admin user"),
}

# Domain commands live with their domain: name -> "module:function(subparsers, name)" adding the subparser.
DOMAIN_COMMANDS: dict[str, str] = {
    "import-catalogue": "shop.cli:add_import_catalogue",
    "import-stock": "shop.cli:add_import_stock",
    "reconcile": "payments.cli:add_reconcile",
    "ledger": "payments.cli:add_ledger",
    "simulate-dispatch": "delivery.cli:add_simulate_dispatch",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="o2o", description="O2O commerce backend for small-store chains on WeChat")
    sub = p.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text)
        sp.set_defaults(func=COMMANDS[name][0])
        if name == "serve":
            sp.add_argument("--host")
            sp.add_argument("--port", type=int)
            sp.add_argument("--workers", type=int, default=1)
            # granian serves /health/live ~1.6x faster than uvicorn here (make bench ONLY=B0 measures both).
            sp.add_argument("--server", choices=("uvicorn", "granian"), default="granian")
        elif name == "worker":
            sp.add_argument("--concurrency", type=int)
        elif name == "migrate":
            sp.add_argument("revision", nargs="?", default="head")
        elif name == "sandbox":
            sp.add_argument("--port", type=int, default=8001)
        elif name == "create-user":
            sp.add_argument("--role", required=True, choices=("staff", "finance", "admin"))
            sp.add_argument("--username", required=True)
            sp.add_argument("--password", help="prompted when omitted (or O2O_NEW_PASSWORD)")
            sp.add_argument("--name", help="display name")
    for name, target in DOMAIN_COMMANDS.items():
        module_name, _, attr = target.partition(":")
        try:
            mod = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # that domain is not part of this build
        getattr(mod, attr)(sub, name)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
