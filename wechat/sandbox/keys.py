"""Sandbox key pairs: the WeChat Pay platform key and the merchant key, generated once where dev settings read them."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric import rsa

from core.settings import Settings, get_settings
from wechat.pay_crypto import (
    generate_private_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
)

log = structlog.get_logger(__name__)

PLATFORM_PRIVATE_KEY_NAME = "platform_private_key.pem"


class SandboxKeyError(RuntimeError):
    """The sandbox cannot hold the keys it needs; the message says which file and what to do."""


@dataclass(frozen=True)
class SandboxKeys:
    """Everything the Pay sandbox signs and verifies with (never logged)."""

    merchant_public: rsa.RSAPublicKey
    merchant_serial: str
    platform_private: rsa.RSAPrivateKey
    platform_public: rsa.RSAPublicKey
    platform_serial: str
    merchant_key_path: Path
    platform_public_key_path: Path
    platform_private_key_path: Path

    def __repr__(self) -> str:
        return f"SandboxKeys(merchant_serial={self.merchant_serial!r}, platform_serial={self.platform_serial!r})"


def platform_private_key_path(settings: Settings) -> Path:
    return settings.platform_public_key_paths[0].parent / PLATFORM_PRIVATE_KEY_NAME


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    # Readers never see half a PEM: write a temp file in the same directory, then rename over.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _keys_lock(directory: Path):
    # Two processes starting at once (app and `o2o sandbox`) must not generate two different pairs.
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".keys.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False


def _same_key(private: rsa.RSAPrivateKey, public: rsa.RSAPublicKey) -> bool:
    return private.public_key().public_numbers() == public.public_numbers()


def ensure_sandbox_keys(settings: Settings | None = None) -> SandboxKeys:
    """Generate missing sandbox keys (idempotent, safe across processes) and load them.

    Writes the merchant private key at `settings.merchant_key_path`, the platform public key at
    `settings.platform_public_key_paths[0]` and the platform private key beside it. Keys configured
    outside the sandbox key directory are never overwritten.
    """
    s = settings or get_settings()
    keys_dir = s.sandbox_keys_dir
    merchant_path = s.merchant_key_path
    platform_pub_path = s.platform_public_key_paths[0]
    platform_priv_path = platform_private_key_path(s)
    with _keys_lock(keys_dir):
        if not merchant_path.exists():
            if not _inside(merchant_path, keys_dir):
                raise SandboxKeyError(
                    f"WECHATPAY_MERCHANT_KEY_FILE points at {merchant_path}, which does not exist; "
                    "fix the path or unset it to use the sandbox's generated key"
                )
            _write_atomic(merchant_path, private_key_pem(generate_private_key()), 0o600)
            log.info("sandbox_key_generated", which="merchant", path=str(merchant_path))
        pair_ok = False
        if platform_pub_path.exists() and platform_priv_path.exists():
            pair_ok = _same_key(load_private_key(platform_priv_path), load_public_key(platform_pub_path))
        if not pair_ok:
            if not (_inside(platform_pub_path, keys_dir) and _inside(platform_priv_path, keys_dir)):
                raise SandboxKeyError(
                    f"the sandbox needs the private key of the platform public key {platform_pub_path} "
                    f"at {platform_priv_path}; unset WECHATPAY_PLATFORM_PUBLIC_KEY_FILE in dev to use sandbox keys"
                )
            platform = generate_private_key()
            # Private first: a reader that finds the public key can always find its private half.
            _write_atomic(platform_priv_path, private_key_pem(platform), 0o600)
            _write_atomic(platform_pub_path, public_key_pem(platform.public_key()), 0o644)
            log.info("sandbox_key_generated", which="platform", path=str(platform_pub_path))
    merchant_private = load_private_key(merchant_path)
    return SandboxKeys(
        merchant_public=merchant_private.public_key(),
        merchant_serial=s.wechatpay_merchant_serial,
        platform_private=load_private_key(platform_priv_path),
        platform_public=load_public_key(platform_pub_path),
        platform_serial=s.platform_serials[0],
        merchant_key_path=merchant_path,
        platform_public_key_path=platform_pub_path,
        platform_private_key_path=platform_priv_path,
    )


_cache: dict[tuple[str, ...], SandboxKeys] = {}
_cache_lock = threading.Lock()


def sandbox_keys(settings: Settings | None = None) -> SandboxKeys:
    """The keys for the current settings, generated on first use and cached per process."""
    s = settings or get_settings()
    cache_key = (
        str(s.merchant_key_path),
        str(s.platform_public_key_paths[0]),
        s.wechatpay_merchant_serial,
        s.platform_serials[0],
    )
    with _cache_lock:
        keys = _cache.get(cache_key)
        if keys is None:
            keys = _cache[cache_key] = ensure_sandbox_keys(s)
        return keys


def forget_sandbox_keys() -> None:
    """Drop cached keys (tests that rewrite key files)."""
    with _cache_lock:
        _cache.clear()
