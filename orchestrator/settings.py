"""The orchestrator's configuration: one ``Settings``, read from the environment and a ``.env`` file.

Every variable, its default and which process reads it: ``docs/configuration.md``, the one reference.
``rollcall serve``, ``rollcall orchestrator`` and the other orchestrator commands build ``Settings()`` once
(``orchestrator/cli.py``) and hand its sections down: ``settings.calendar`` to the training calendar sync,
``settings.k8s`` to the Kubernetes launcher, ``settings.live_streams`` to the live pages. A section keeps
the flat variable names it always had (``ROLLCALL_TRAINERS``, not ``CALENDAR__TRAINERS``): its fields'
aliases are read from the environment and the ``.env`` file like the top-level ones.

Precedence, highest first: arguments to ``Settings(...)``, the process environment, ``.env`` in the
working directory (``_env_file=None`` skips it). Names are case-insensitive.

Secrets are ``SecretStr`` so a settings object can be logged or printed without leaking them; ``REDIS_URL``
may carry a password and is left out of the repr. An empty or blank secret is not configured (None): an
HMAC key anyone can guess would let forged requests and links in.

The bot is a separate process with its own configuration (``bot/settings.py``); neither imports the other.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (BaseSettings, DotEnvSettingsSource, EnvSettingsSource, PydanticBaseSettingsSource,
                               SettingsConfigDict, SettingsError)
import structlog

log = structlog.get_logger(__name__)


class Section(BaseModel):
    """A group of settings, each field read from the variable its alias names."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class CalendarSettings(Section):
    """The training calendar sync (``orchestrator/dispatch/calendar_sync.py``): whose calendars, which meetings are
    trainings, how early their bots go, how often and how far ahead it looks."""

    trainers: list[str] = Field(default_factory=list, alias="ROLLCALL_TRAINERS")
    training_topic: str | None = Field(default=None, alias="ROLLCALL_TRAINING_TOPIC")
    training_field: str | None = Field(default=None, alias="ROLLCALL_TRAINING_FIELD")
    bot_lead_s: float = Field(default=60.0, ge=0, alias="ROLLCALL_BOT_LEAD_S")
    sync_every_s: float = Field(default=900.0, gt=0, alias="ROLLCALL_SYNC_EVERY_S")
    horizon_days: float = Field(default=14.0, gt=0, alias="ROLLCALL_SYNC_HORIZON_DAYS")
    # the policy the trainings' bots check ("default" or a policy file on the bots' host)
    policy: str = Field(default="default", alias="ROLLCALL_TRAINING_POLICY")

    @field_validator("trainers", mode="before")
    @classmethod
    def _comma_separated(cls, v: Any) -> Any:
        items = v.split(",") if isinstance(v, str) else v
        return [str(t).strip() for t in items if str(t).strip()] if isinstance(items, list | tuple) else items

    @field_validator("training_topic", "training_field", mode="before")
    @classmethod
    def _blank(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("training_topic")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"ROLLCALL_TRAINING_TOPIC is not a regular expression: {exc}") from None
        return v

    @field_validator("training_field")
    @classmethod
    def _field_value(cls, v: str | None) -> str | None:
        if v is not None and ("=" not in v or not v.partition("=")[0].strip()):
            raise ValueError("ROLLCALL_TRAINING_FIELD must be Field=Value (a tracking field and its value)")
        return v

    @property
    def topic_pattern(self) -> re.Pattern[str] | None:
        """The topic rule; None when only the tracking field selects (then the topic selects nothing)."""
        if self.training_topic is not None:
            return re.compile(self.training_topic, re.IGNORECASE)
        return None if self.training_field is not None else re.compile("")

    @property
    def field_rule(self) -> tuple[str, str] | None:
        if self.training_field is None:
            return None
        name, _, value = self.training_field.partition("=")
        return name.strip().casefold(), value.strip().casefold()


class KubernetesSettings(Section):
    """Where and how bot Jobs run (``rollcall orchestrator --launcher kubernetes``), and where the cluster's
    API is found. The bots' Redis is the top-level ``REDIS_URL``, which the pods must be able to reach."""

    namespace: str = Field(default="rollcall", alias="ROLLCALL_K8S_NAMESPACE")
    image: str = Field(default="rollcall-bot:latest", alias="ROLLCALL_BOT_IMAGE")
    secret: str = Field(default="rollcall-bot", alias="ROLLCALL_K8S_SECRET")
    cpu: str = Field(default="1", alias="ROLLCALL_K8S_CPU")
    memory: str = Field(default="1Gi", alias="ROLLCALL_K8S_MEMORY")
    ttl_s: int = Field(default=3600, ge=0, alias="ROLLCALL_K8S_TTL_S")
    service_account: str = Field(default="rollcall-bot", alias="ROLLCALL_K8S_SERVICE_ACCOUNT")
    # set by Kubernetes in every pod: then the pod's service account is used, else the kube config
    service_host: str | None = Field(default=None, alias="KUBERNETES_SERVICE_HOST")
    kubeconfig: str | None = Field(default=None, alias="KUBECONFIG")

    @field_validator("service_host", "kubeconfig", mode="before")
    @classmethod
    def _blank(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v


class StreamLimits(Section):
    """Open live-page event streams allowed at once, per signed link (a shared or leaked link cannot take
    the server; the admin token has none) and in all (each holds a socket and a Redis connection)."""

    per_link: int = Field(default=5, ge=1, alias="ROLLCALL_LIVE_STREAMS_PER_LINK")
    total: int = Field(default=250, ge=1, alias="ROLLCALL_LIVE_STREAMS_MAX")


def _section(field: FieldInfo) -> type[Section] | None:
    ann = field.annotation
    return ann if isinstance(ann, type) and issubclass(ann, Section) else None


class _WithSections(PydanticBaseSettingsSource):
    """The environment or the .env file as pydantic-settings reads it, and each section gathered from its
    fields' own variables (their aliases): nested sections keep the flat names."""

    def __init__(self, settings_cls: type[BaseSettings], inner: EnvSettingsSource) -> None:
        super().__init__(settings_cls)
        self.inner = inner

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        data = self.inner()
        for name, field in self.settings_cls.model_fields.items():
            section = _section(field)
            if section is None:
                continue
            found = {}
            for sub_name, sub in section.model_fields.items():
                var = sub.alias or sub_name
                raw = self.inner.env_vars.get(var if self.inner.case_sensitive else var.lower())
                if raw is not None:
                    found[var] = raw
            if found:
                data[field.alias or name] = found
        return data

    def __repr__(self) -> str:
        return f"_WithSections({self.inner!r})"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      populate_by_name=True)

    # shared state: an external Redis, or (unset) a private redis-server under the data directory
    redis_url: str | None = Field(default=None, alias="REDIS_URL", repr=False)  # may carry a password
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
    # the Zoom accounts whose meetings are observed through RTMS streams (comma-separated ids, or *): their
    # meeting.rtms_started starts a worker; others' streams are left alone
    rtms_accounts: str = Field(default="", alias="ROLLCALL_RTMS_ACCOUNTS")
    outbound_webhook_secret: SecretStr | None = Field(default=None, alias="ROLLCALL_OUTBOUND_WEBHOOK_SECRET")
    # how long after meeting.ended reconciliation runs (Zoom's reports fill in after the end), and when it
    # runs a second pass for rows Zoom adds late (0: no second pass)
    reconcile_delay_s: float = Field(default=60.0, ge=0, alias="ROLLCALL_RECONCILE_DELAY_S")
    reconcile_repeat_s: float = Field(default=6 * 3600.0, ge=0, alias="ROLLCALL_RECONCILE_REPEAT_S")

    # sections, each read from its own flat variables
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    k8s: KubernetesSettings = Field(default_factory=KubernetesSettings)
    live_streams: StreamLimits = Field(default_factory=StreamLimits)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        assert isinstance(env_settings, EnvSettingsSource) and isinstance(dotenv_settings, DotEnvSettingsSource)
        return (init_settings, _WithSections(settings_cls, env_settings), _WithSections(settings_cls, dotenv_settings),
                file_secret_settings)

    @field_validator("zoom_client_secret", "admin_token", "live_secret", "webhook_secret_token",
                     "outbound_webhook_secret")
    @classmethod
    def _blank_is_unset(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """``VAR=""`` in a manifest or .env file sets it; the code must still see no secret, and say so."""
        if v is not None and not v.get_secret_value().strip():
            log.warning("%s is set but blank: treated as not set", cls.model_fields[info.field_name].alias)
            return None
        return v

    @property
    def rtms_account_ids(self) -> list[str]:
        return [a.strip() for a in self.rtms_accounts.split(",") if a.strip()]

    def secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.zoom_client_secret, self.webhook_secret_token,
                                               self.outbound_webhook_secret, self.admin_token, self.live_secret)
                if s is not None]


def describe_error(exc: ValidationError | SettingsError) -> str:
    """A configuration error as one line naming the variable(s) at fault, never the value given (it may be
    a secret): ``ROLLCALL_K8S_TTL_S: Input should be greater than or equal to 0``."""
    if isinstance(exc, SettingsError):  # a list or JSON variable that does not parse: name it by its variable
        return re.sub(r'field "(\w+)"', lambda m: _variable(m.group(1)), str(exc))
    parts = []
    for e in exc.errors():
        names = [str(p) for p in e["loc"] if isinstance(p, str)]
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{names[-1] if names else 'settings'}: {msg}")
    return "; ".join(parts)


def _variable(field_name: str) -> str:
    field = Settings.model_fields.get(field_name)
    return (field.alias or field_name) if field is not None else field_name
