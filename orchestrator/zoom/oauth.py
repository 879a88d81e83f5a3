"""Server-to-Server OAuth access tokens for Zoom's REST API.

The account-credentials grant gives a one-hour token and no refresh token (``../shared/reference/
zoom-rest-webhooks.md`` §4): the token is cached until shortly before it expires, and fetched again then,
or once when Zoom answers 401 (the app was re-authorised or its scopes changed). Several valid tokens may
coexist, so each process keeps its own. The scopes each token carries are kept and logged when they
change: a missing scope shows at the first token, not as a 4700 on some later call.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
from pydantic import SecretStr
import structlog

log = structlog.get_logger(__name__)


class OAuthError(RuntimeError):
    """Zoom refused the credentials, or the token endpoint could not be reached."""


class ServerToServerToken:
    def __init__(self, http: httpx.Client, oauth_url: str, account_id: str, client_id: str,
                 client_secret: SecretStr, *, margin_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.http, self.oauth_url = http, oauth_url
        self.account_id, self.client_id, self._secret = account_id, client_id, client_secret
        self.margin_s, self.clock = margin_s, clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.fetched = 0  # how many tokens this process asked for
        self.scopes: frozenset[str] = frozenset()  # what the latest token was granted

    def get(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires - self.margin_s:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Drop ``token`` after a 401 so the next ``get`` fetches a new one (unless another thread has)."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> None:
        try:
            resp = self.http.post(self.oauth_url, auth=(self.client_id, self._secret.get_secret_value()),
                                  data={"grant_type": "account_credentials", "account_id": self.account_id},
                                  timeout=15.0)
        except httpx.HTTPError as exc:
            raise OAuthError(f"cannot reach Zoom's token endpoint: {type(exc).__name__}") from None
        if resp.status_code != 200:
            try:
                reason = resp.json().get("reason") or resp.json().get("error") or resp.text[:200]
            except ValueError:
                reason = resp.text[:200]
            raise OAuthError(f"Zoom refused the Server-to-Server OAuth credentials (HTTP {resp.status_code}: "
                             f"{reason}); check ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET")
        body = resp.json()
        self._token = body["access_token"]
        self._expires = self.clock() + float(body.get("expires_in", 3600))
        self.fetched += 1
        scopes = frozenset(str(body.get("scope") or "").split())
        if scopes != self.scopes:
            log.info("Zoom granted the app these scopes: %s", " ".join(sorted(scopes)) or "(none listed)")
            self.scopes = scopes
