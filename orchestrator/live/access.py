"""Who may see a meeting's live page, and how much.

- the **host** gets a signed link for one meeting that expires (``rollcall live-link``): everything;
- an **admin** token (``ROLLCALL_ADMIN_TOKEN``) sees every meeting: everything;
- a **manager** gets a signed token for one meeting and a list of their people (participant keys or
  customer keys): those people's rows only, and no transcript;
- anything else: 401 (no token, a bad or expired one) or 403 (a valid token for another meeting).

Tokens are ``base64url(JSON claims).hex(HMAC-SHA256)`` with ``ROLLCALL_LIVE_SECRET``, compared in
constant time. Signed is not enough: the claims must have the shape ``issue`` gives them (``Claims``), or
the token is a 401 like any bad one; an ``exp`` that is not a finite number never means "never expires".
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Denied(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Access:
    role: str  # host | admin | manager
    people: frozenset[str] = frozenset()  # for a manager: whose rows they see

    @property
    def transcripts(self) -> bool:
        return self.role != "manager"


class Claims(BaseModel):
    """A link's claims: its meeting, role, expiry (epoch seconds) and, for a manager, their people. Strict:
    ``"exp": "nan"`` or ``1e999`` (infinite) would compare as never expired."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, frozen=True)

    m: str
    r: Literal["host", "manager"]
    exp: float
    p: list[str] = []


def _mac(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def issue(secret: str, meeting_id: str, role: str, ttl_s: float, *, people: list[str] | None = None,
          now: float | None = None) -> str:
    if role not in ("host", "manager"):
        raise ValueError("links are for a host or a manager")
    claims = {"m": meeting_id, "r": role, "exp": int((now or time.time()) + ttl_s)}
    if role == "manager":
        claims["p"] = sorted(people or [])
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{body}.{_mac(secret, body)}"


def check(token: str | None, meeting_id: str, *, secret: str | None, admin_token: str | None,
          now: float | None = None) -> Access:
    """The access ``token`` gives to ``meeting_id``, or Denied (401/403)."""
    if not token:
        raise Denied(401, "a token is needed (the host's link, or an admin or manager token)")
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Access("admin")
    body, _, mac = token.partition(".")
    if not secret or not mac or not hmac.compare_digest(mac.encode(), _mac(secret, body).encode()):
        raise Denied(401, "the token is not valid")
    try:
        claims = Claims.model_validate_json(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:  # not base64, or not claims (a ValidationError, whatever the JSON or its depth)
        raise Denied(401, "the token is not valid") from None
    if claims.exp < (time.time() if now is None else now):
        raise Denied(401, "the link has expired")
    if claims.m != meeting_id:
        raise Denied(403, "this token is for another meeting")
    if claims.r == "manager":
        return Access("manager", frozenset(claims.p))
    return Access("host")
