"""Settings: one pydantic-settings class with the public names of contract.md."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Sandbox identities: the dev defaults. `O2O_ENV=prod` refuses to start with any of them.
SANDBOX_APPID = "wx5andb0x0000demo"
SANDBOX_SECRET = "sandbox-secret-0123456789abcdef0"
SANDBOX_TOKEN = "sandboxtoken"
SANDBOX_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 chars, as WeChat's EncodingAESKey
SANDBOX_MCHID = "1900000109"
SANDBOX_APIV3_KEY = "sandboxapiv3key0123456789abcdefg"  # 32 bytes
SANDBOX_MERCHANT_SERIAL = "5A4D5B0C0FA1E1D3SANDBOX0000000001"
SANDBOX_PLATFORM_SERIAL = "PUB_KEY_ID_0114232134912410000000000000SANDBOX"
SANDBOX_WECOM_CORPID = "ww5andb0xc0rp0001"
SANDBOX_WECOM_SECRET = "sandbox-wecom-secret-000000000000"
SANDBOX_WECOM_AGENTID = "1000002"

SANDBOX_VALUES = {
    "wechat_appid": SANDBOX_APPID,
    "wechat_secret": SANDBOX_SECRET,
    "wechat_token": SANDBOX_TOKEN,
    "wechat_aes_key": SANDBOX_AES_KEY,
    "wechatpay_mchid": SANDBOX_MCHID,
    "wechatpay_apiv3_key": SANDBOX_APIV3_KEY,
    "wechatpay_merchant_serial": SANDBOX_MERCHANT_SERIAL,
    "wechatpay_platform_serial": SANDBOX_PLATFORM_SERIAL,
    "wecom_corpid": SANDBOX_WECOM_CORPID,
    "wecom_secret": SANDBOX_WECOM_SECRET,
}


class SettingsError(ValueError):
    """Settings that cannot run; the message says which and what to do."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    o2o_env: str = Field("dev", pattern="^(dev|test|prod)$")
    o2o_data_dir: Path = Path(".data")
    database_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    public_base_url: str | None = None
    o2o_sandbox: bool = True  # dev only: mount the WeChat sandbox at /sandbox (off when it runs standalone)
    secret_key: str = "dev-only-secret-key-change-me-0123456789"  # signs session JWTs

    wechat_appid: str = SANDBOX_APPID
    wechat_secret: str = SANDBOX_SECRET
    wechat_token: str = SANDBOX_TOKEN
    wechat_aes_key: str | None = SANDBOX_AES_KEY
    wechat_api_base: str | None = None
    wechat_open_base: str | None = None
    wechat_mp_base: str | None = None

    wechatpay_mchid: str = SANDBOX_MCHID
    wechatpay_apiv3_key: str = SANDBOX_APIV3_KEY
    wechatpay_merchant_key_file: Path | None = None
    wechatpay_merchant_serial: str = SANDBOX_MERCHANT_SERIAL
    wechatpay_platform_public_key_file: str | None = None  # comma-separated during a rotation
    wechatpay_platform_serial: str = SANDBOX_PLATFORM_SERIAL  # comma-separated, matched by position
    wechatpay_api_base: str | None = None

    wecom_corpid: str = SANDBOX_WECOM_CORPID
    wecom_secret: str = SANDBOX_WECOM_SECRET
    wecom_agentid: str = SANDBOX_WECOM_AGENTID
    wecom_api_base: str | None = None

    # Operational knobs (not part of the public contract).
    # Sized for the expected concurrency (benchmarks drive 50 connections): overflow connections are
    # closed after use, so a pool smaller than the load reconnects on every request.
    db_pool_size: int = 50
    db_max_overflow: int = 20
    log_level: str = "INFO"
    log_json: bool = False
    worker_concurrency: int = 8
    job_lease_seconds: int = 60
    job_max_attempts: int = 8
    # Abuse limits (core/security.py): `on`, `off` (benchmarks), or overrides like `login=5/minute,offer_claim=off`.
    o2o_rate_limits: str = "on"
    o2o_max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)  # larger request bodies get 413
    o2o_csrf_trusted_origins: str = ""  # comma-separated extra origins allowed to send cookie-authenticated writes

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.wechat_aes_key and len(self.wechat_aes_key) != 43:
            raise SettingsError("WECHAT_AES_KEY must be the 43-character EncodingAESKey from the WeChat console")
        if len(self.wechatpay_apiv3_key.encode()) != 32:
            raise SettingsError("WECHATPAY_APIV3_KEY must be exactly 32 bytes (the APIv3 key of the merchant)")
        if self.o2o_env == "prod":
            self.assert_production_ready()
        return self

    def assert_production_ready(self) -> None:
        problems = []
        for name, sandbox_value in SANDBOX_VALUES.items():
            if getattr(self, name) == sandbox_value:
                problems.append(f"{name.upper()} still has the sandbox value")
        for name in ("wechatpay_merchant_key_file", "wechatpay_platform_public_key_file", "public_base_url"):
            if not getattr(self, name):
                problems.append(f"{name.upper()} is not set")
        if self.secret_key.startswith("dev-only"):
            problems.append("SECRET_KEY is the development default")
        if problems:
            raise SettingsError("O2O_ENV=prod refuses to start: " + "; ".join(problems))

    # --- derived values -------------------------------------------------------------------
    @property
    def is_dev(self) -> bool:
        return self.o2o_env in ("dev", "test")

    @property
    def data_dir(self) -> Path:
        return self.o2o_data_dir.expanduser().resolve()

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def sandbox_base(self) -> str:
        return f"{self.base_url}/sandbox"

    def _wechat(self, value: str | None, real: str) -> str:
        if value:
            return value.rstrip("/")
        return self.sandbox_base if self.is_dev else real

    @property
    def wechat_api(self) -> str:
        return self._wechat(self.wechat_api_base, "https://api.weixin.qq.com")

    @property
    def wechat_open(self) -> str:
        return self._wechat(self.wechat_open_base, "https://open.weixin.qq.com")

    @property
    def wechat_mp(self) -> str:
        return self._wechat(self.wechat_mp_base, "https://mp.weixin.qq.com")

    @property
    def wechatpay_api(self) -> str:
        return self._wechat(self.wechatpay_api_base, "https://api.mch.weixin.qq.com")

    @property
    def wecom_api(self) -> str:
        # WeCom's /cgi-bin paths collide with the official account's, so the sandbox serves them under /qyapi.
        if self.wecom_api_base:
            return self.wecom_api_base.rstrip("/")
        return f"{self.sandbox_base}/qyapi" if self.is_dev else "https://qyapi.weixin.qq.com"

    @property
    def sandbox_keys_dir(self) -> Path:
        return self.data_dir / "sandbox-keys"

    @property
    def merchant_key_path(self) -> Path:
        return self.wechatpay_merchant_key_file or self.sandbox_keys_dir / "merchant_private_key.pem"

    @property
    def platform_public_key_paths(self) -> list[Path]:
        if self.wechatpay_platform_public_key_file:
            return [Path(p.strip()) for p in self.wechatpay_platform_public_key_file.split(",") if p.strip()]
        return [self.sandbox_keys_dir / "platform_public_key.pem"]

    @property
    def platform_serials(self) -> list[str]:
        return [s.strip() for s in self.wechatpay_platform_serial.split(",") if s.strip()]


@functools.cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # values come from the environment


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
