"""Sandbox key generation: once, where dev settings read them, safe when two processes start together."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from core.settings import Settings
from wechat.pay import PlatformVerifier, sign_response
from wechat.pay_crypto import load_private_key, public_key_pem
from wechat.sandbox.keys import SandboxKeyError, ensure_sandbox_keys


def _settings(data_dir: Path, **over) -> Settings:
    return Settings(o2o_env="dev", o2o_data_dir=data_dir, **over)


def _child(data_dir: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    keys = ensure_sandbox_keys(_settings(Path(data_dir)))
    out.put(public_key_pem(keys.platform_public).decode() + public_key_pem(keys.merchant_public).decode())


def test_keys_are_generated_once_where_settings_read_them(tmp_path):
    s = _settings(tmp_path)
    keys = ensure_sandbox_keys(s)
    assert s.merchant_key_path.exists() and s.platform_public_key_paths[0].exists()
    assert keys.platform_private_key_path == s.platform_public_key_paths[0].parent / "platform_private_key.pem"
    assert oct(s.merchant_key_path.stat().st_mode & 0o777) == "0o600"
    assert oct(keys.platform_private_key_path.stat().st_mode & 0o777) == "0o600"
    assert keys.platform_serial == s.platform_serials[0] and keys.merchant_serial == s.wechatpay_merchant_serial
    # what the app's verifier reads from settings verifies what the sandbox signs
    verifier = PlatformVerifier.from_files(s.platform_serials, s.platform_public_key_paths)
    verifier.verify(sign_response(b"{}", private_key=keys.platform_private, serial=keys.platform_serial), b"{}")
    before = {p: p.read_bytes() for p in (s.merchant_key_path, s.platform_public_key_paths[0])}
    again = ensure_sandbox_keys(s)
    assert {p: p.read_bytes() for p in before} == before
    assert again.merchant_public.public_numbers() == load_private_key(s.merchant_key_path).public_key().public_numbers()
    assert "PRIVATE" not in repr(again)


def test_two_processes_starting_at_once_agree_on_one_key_pair(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(str(tmp_path), out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(30)
    assert len(results) == 1
    assert not [f for f in os.listdir(tmp_path / "sandbox-keys") if f.startswith(".") and f != ".keys.lock"]


def test_a_broken_pair_in_the_sandbox_dir_is_regenerated(tmp_path):
    s = _settings(tmp_path)
    first = ensure_sandbox_keys(s)
    first.platform_private_key_path.unlink()
    second = ensure_sandbox_keys(s)
    assert second.platform_private.public_key().public_numbers() == second.platform_public.public_numbers()


def test_keys_configured_elsewhere_are_never_generated(tmp_path):
    missing = tmp_path / "ops" / "apiclient_key.pem"
    with pytest.raises(SandboxKeyError, match="WECHATPAY_MERCHANT_KEY_FILE"):
        ensure_sandbox_keys(_settings(tmp_path, wechatpay_merchant_key_file=missing))
    assert not missing.exists()
    real_platform = tmp_path / "ops" / "wechatpay_pub.pem"
    real_platform.parent.mkdir(parents=True, exist_ok=True)
    real_platform.write_bytes(public_key_pem(load_private_key(_pem()).public_key()))
    with pytest.raises(SandboxKeyError, match="platform"):
        ensure_sandbox_keys(_settings(tmp_path, wechatpay_platform_public_key_file=str(real_platform)))


def _pem() -> bytes:
    from wechat.pay_crypto import generate_private_key, private_key_pem

    return private_key_pem(generate_private_key())
