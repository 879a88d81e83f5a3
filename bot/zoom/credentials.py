"""What the bot needs to join: the Meeting SDK JWT, the join tokens, the customer key, all from the bot's
configuration (``bot/settings.py``: the environment and ``.env``). Secrets are redacted from anything
printed by ``analysis.logs.redact``, the log lines' one redaction."""
from __future__ import annotations

import re
import time
from collections.abc import Mapping

import jwt
from pydantic import BaseModel, SecretStr

from analysis.events import CUSTOMER_KEY_MAX
from analysis.logs import redact
from bot.settings import BotSettings

JWT_MIN_S, JWT_MAX_S = 1800, 48 * 3600  # Zoom's bounds on exp - iat for Meeting SDK JWTs


class MissingCredentials(ValueError):
    """A required credential is not in the environment."""


class ZoomCredentials(BaseModel):
    """From ``ZOOM_SDK_CLIENT_ID``, ``ZOOM_SDK_CLIENT_SECRET`` and the optional join tokens ``ZOOM_ZAK``
    (join as that user), ``ZOOM_OBF_TOKEN`` (on behalf of a user who must be in the meeting),
    ``ZOOM_APP_PRIVILEGE_TOKEN`` (record without asking the host) and ``ZOOM_WEBINAR_TOKEN``."""

    client_id: str
    client_secret: SecretStr
    zak: SecretStr | None = None
    obf_token: SecretStr | None = None
    app_privilege_token: SecretStr | None = None
    webinar_token: SecretStr | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ZoomCredentials:
        """From the bot's settings (the environment and ``.env``), or from ``env`` alone when given."""
        s = BotSettings() if env is None else BotSettings.from_mapping(env)
        missing = [name for name, value in (("ZOOM_SDK_CLIENT_ID", s.sdk_client_id),
                                            ("ZOOM_SDK_CLIENT_SECRET", s.sdk_client_secret)) if value is None]
        if missing:
            raise MissingCredentials(f"set {' and '.join(missing)} (the Meeting SDK app's credentials)")
        assert s.sdk_client_id is not None and s.sdk_client_secret is not None
        return cls(client_id=s.sdk_client_id, client_secret=s.sdk_client_secret, zak=s.zak, obf_token=s.obf_token,
                   app_privilege_token=s.app_privilege_token, webinar_token=s.webinar_token)

    def secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.client_secret, self.zak, self.obf_token,
                                               self.app_privilege_token, self.webinar_token) if s is not None]


def make_jwt(client_id: str, client_secret: str, *, now: float | None = None, lifetime_s: int = 24 * 3600) -> str:
    """The Meeting SDK JWT: HS256 with the app's secret, claims appKey, iat, exp and tokenExp (= exp).
    ``iat`` is backdated 30 s against clock skew; the lifetime must lie within Zoom's bounds."""
    if not JWT_MIN_S <= lifetime_s <= JWT_MAX_S:
        raise ValueError(f"JWT lifetime must be {JWT_MIN_S}..{JWT_MAX_S} s, not {lifetime_s}")
    iat = int(now if now is not None else time.time()) - 30
    exp = iat + lifetime_s
    return jwt.encode({"appKey": client_id, "iat": iat, "exp": exp, "tokenExp": exp}, client_secret,
                      algorithm="HS256")


def customer_key_for(job_id: str) -> str:
    """The ``customer_key`` the bot joins with, so its own row can be found in Zoom's reports later:
    ``rollcall-`` and the job id, kept to Zoom's 35 characters and to letters, digits, ``-`` and ``_``."""
    key = "rollcall-" + re.sub(r"[^A-Za-z0-9_-]", "", job_id)
    return key[:CUSTOMER_KEY_MAX]


def meeting_from_url(url: str) -> tuple[int, str | None]:
    """Meeting number and passcode from a join link (``https://…zoom.us/j/85012345678?pwd=…``)."""
    m = re.search(r"/(?:j|w|wc/join|s)/(\d{9,11})", url)
    if not m:
        raise ValueError(f"not a Zoom meeting link: {redact(url, [])}")
    pwd = re.search(r"[?&]pwd=([^&#]+)", url)
    return int(m.group(1)), (pwd.group(1) if pwd else None)
