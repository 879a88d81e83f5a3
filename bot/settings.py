"""The bot process's configuration: one ``BotSettings``, read from the environment and a ``.env`` file.

Every variable, its default and which process reads it: ``docs/configuration.md``, the one reference. The
bot is a separate process from the orchestrator and has its own settings (``orchestrator/settings.py`` is
the orchestrator's); neither package imports the other. A launcher passes the bot what it needs in its
environment (``orchestrator/dispatch/launchers.py`` ``BOT_ENV``, or the Kubernetes Job's env and Secret).

Precedence, highest first: arguments to ``BotSettings(...)``, the process environment, ``.env`` in the
bot's working directory (``_env_file=None`` skips it). Names are case-insensitive. An empty value is the
same as an unset one.

Every credential and token is a ``SecretStr``, and ``REDIS_URL`` (which may carry a password) is left out
of the repr, so a ``BotSettings`` can be printed or logged without leaking them.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class BotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      populate_by_name=True)

    # the orchestrator's Redis (heartbeat, live snapshots, observations, report); unset: a standalone run
    redis_url: str | None = Field(default=None, alias="REDIS_URL", repr=False)  # may carry a password

    # the Meeting SDK app's credentials (required to join a real meeting)
    sdk_client_id: str | None = Field(default=None, alias="ZOOM_SDK_CLIENT_ID")
    sdk_client_secret: SecretStr | None = Field(default=None, alias="ZOOM_SDK_CLIENT_SECRET")
    # join tokens: as that user (ZAK), on behalf of a user in the meeting (OBF), recording without asking
    # the host (app privilege), and a webinar's join token
    zak: SecretStr | None = Field(default=None, alias="ZOOM_ZAK")
    obf_token: SecretStr | None = Field(default=None, alias="ZOOM_OBF_TOKEN")
    app_privilege_token: SecretStr | None = Field(default=None, alias="ZOOM_APP_PRIVILEGE_TOKEN")
    webinar_token: SecretStr | None = Field(default=None, alias="ZOOM_WEBINAR_TOKEN")

    # the RTMS app's credentials (a General app with Realtime Media Streams): they sign the stream's handshake
    rtms_client_id: str | None = Field(default=None, alias="ZOOM_RTMS_CLIENT_ID")
    rtms_client_secret: SecretStr | None = Field(default=None, alias="ZOOM_RTMS_CLIENT_SECRET")

    # the bot's private HOME, when the container entrypoint prepared one (PulseAudio runs there); unset:
    # ``home`` under the bot's work directory
    bot_home: Path | None = Field(default=None, alias="ROLLCALL_BOT_HOME")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        """``VAR=`` in a manifest or .env file: as if it were not set, as the bot always took it."""
        return None if isinstance(v, str) and not v else v

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> BotSettings:
        """The settings that ``env`` alone gives (the names as in the environment): neither the process
        environment nor a ``.env`` file is read."""
        return _MappingOnly(**env)

    def secrets(self) -> list[str]:
        """Every secret value set, for redacting output."""
        return [s.get_secret_value() for s in (self.sdk_client_secret, self.zak, self.obf_token,
                                               self.app_privilege_token, self.webinar_token, self.rtms_client_secret)
                if s is not None]


class _MappingOnly(BotSettings):
    """``BotSettings`` from its arguments alone (``BotSettings.from_mapping``)."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   **_others: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)
