"""The orchestrator's configuration, from the environment (names in README.md, "Configuration").

Secrets are ``SecretStr`` so a settings object can be logged or printed without leaking them. An empty or
blank secret is not configured (None): an HMAC key anyone can guess would let forged requests and links in.
"""
from __future__ import annotations

import logging
from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    # shared state: an external Redis, or (unset) a private redis-server under the data directory
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    data_dir: Path = Field(default=Path("rollcall-data"), alias="ROLLCALL_DATA_DIR")

    # Zoom REST through a Server-to-Server OAuth app
    zoom_account_id: str | None = Field(default=None, alias="ZOOM_ACCOUNT_ID")
    zoom_client_id: str | None = Field(default=None, alias="ZOOM_CLIENT_ID")
    zoom_client_secret: SecretStr | None = Field(default=None, alias="ZOOM_CLIENT_SECRET")
    zoom_api_url: str = Field(default="https://api.zoom.us/v2", alias="ZOOM_API_URL")
    zoom_oauth_url: str = Field(default="https://zoom.us/oauth/token", alias="ZOOM_OAUTH_URL")
    # the account's plan sets the rate limits (free | pro | business); the share is how much of them
    # Rollcall may use, since every app on the account draws on the same limits
    zoom_plan: str = Field(default="business", alias="ZOOM_PLAN")
    zoom_rate_share: float = Field(default=0.8, gt=0, le=1, alias="ROLLCALL_ZOOM_RATE_SHARE")
    # the account's shared Heavy + Resource-intensive daily cap, when it is not the plan's
    zoom_daily_cap: int | None = Field(default=None, gt=0, alias="ZOOM_DAILY_CAP")
    # rows per page asked of Heavy lists (the participants report): at most 300 by the endpoint's definition,
    # but Zoom's pagination guide allows some Heavy lists only 30, 50 or 100
    zoom_heavy_page_size: int = Field(default=300, ge=1, le=300, alias="ZOOM_HEAVY_PAGE_SIZE")

    # the API's bearer token (schedules, bots, records); without it the API is closed
    admin_token: SecretStr | None = Field(default=None, alias="ROLLCALL_ADMIN_TOKEN")
    # signs the hosts' and managers' links to live pages (`rollcall live-link`)
    live_secret: SecretStr | None = Field(default=None, alias="ROLLCALL_LIVE_SECRET")

    # webhooks in (from Zoom) and out (the final record, to configured receivers)
    webhook_secret_token: SecretStr | None = Field(default=None, alias="ZOOM_WEBHOOK_SECRET_TOKEN")
    outbound_webhook_urls: list[str] = Field(default_factory=list, alias="ROLLCALL_OUTBOUND_WEBHOOK_URLS")
    outbound_webhook_secret: SecretStr | None = Field(default=None, alias="ROLLCALL_OUTBOUND_WEBHOOK_SECRET")
    # how long after meeting.ended reconciliation runs (Zoom's reports fill in after the end), and when it
    # runs a second pass for rows Zoom adds late (0: no second pass)
    reconcile_delay_s: float = Field(default=60.0, ge=0, alias="ROLLCALL_RECONCILE_DELAY_S")
    reconcile_repeat_s: float = Field(default=6 * 3600.0, ge=0, alias="ROLLCALL_RECONCILE_REPEAT_S")

    @field_validator("zoom_client_secret", "admin_token", "live_secret", "webhook_secret_token",
                     "outbound_webhook_secret")
    @classmethod
    def _blank_is_unset(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """``VAR=""`` in a manifest or .env file sets it; the code must still see no secret, and say so."""
        if v is not None and not v.get_secret_value().strip():
            log.warning("%s is set but blank: treated as not set", cls.model_fields[info.field_name].alias)
            return None
        return v

    def secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.zoom_client_secret, self.webhook_secret_token,
                                               self.outbound_webhook_secret, self.admin_token, self.live_secret)
                if s is not None]
