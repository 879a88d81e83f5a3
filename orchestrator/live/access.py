"""Who may see a meeting's live page, and how much.

- the **host** gets a signed link for one meeting that expires (``rollcall live-link``): everything;
- an **admin** token (``ROLLCALL_ADMIN_TOKEN``) sees every meeting: everything;
- a **manager** gets a signed token for one meeting and a list of their people (participant keys or
  customer keys): those people's rows only, and no transcript;
- anything else: 401 (no token, a bad or expired one) or 403 (a valid token for another meeting).

Tokens are JWTs (PyJWT, HS256 with ``ROLLCALL_LIVE_SECRET``; only that algorithm is accepted). Signed is
not enough: the claims must have the shape ``issue`` gives them (``Claims``), or the token is a 401 like
any bad one; an ``exp`` that is not a finite number never means "never expires".
"""
from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict, ValidationError


ALGORITHM = "HS256"


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


def issue(secret: str, meeting_id: str, role: str, ttl_s: float, *, people: list[str] | None = None,
          now: float | None = None) -> str:
    if role not in ("host", "manager"):
        raise ValueError("links are for a host or a manager")
    claims = {"m": meeting_id, "r": role, "exp": int((now or time.time()) + ttl_s)}
    if role == "manager":
        claims["p"] = sorted(people or [])
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def check(token: str | None, meeting_id: str, *, secret: str | None, admin_token: str | None,
          now: float | None = None) -> Access:
    """The access ``token`` gives to ``meeting_id``, or Denied (401/403)."""
    if not token:
        raise Denied(401, "a token is needed (the host's link, or an admin or manager token)")
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Access("admin")
    if not secret:
        raise Denied(401, "the token is not valid")
    try:
        # the expiry is judged below, on the strict claims (PyJWT would read "exp" as int(…))
        claims = Claims.model_validate(jwt.decode(token, secret, algorithms=[ALGORITHM],
                                                  options={"verify_exp": False}))
    except (jwt.InvalidTokenError, ValidationError, RecursionError):  # forged, damaged, or not our claims
        raise Denied(401, "the token is not valid") from None
    if claims.exp < (time.time() if now is None else now):
        raise Denied(401, "the link has expired")
    if claims.m != meeting_id:
        raise Denied(403, "this token is for another meeting")
    if claims.r == "manager":
        return Access("manager", frozenset(claims.p))
    return Access("host")
