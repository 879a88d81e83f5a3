"""A ready Zoom REST client from the settings: HTTP connection, Server-to-Server token, shared governor."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import redis

from orchestrator.zoom.rate_limits import Category, Governor, Priority, plan_limits
from orchestrator.settings import Settings
from orchestrator.zoom.api import ZoomApi
from orchestrator.zoom.oauth import ServerToServerToken


class MissingZoomCredentials(ValueError):
    """The Server-to-Server OAuth app's credentials are not configured."""


def governor_for(settings: Settings, r: redis.Redis) -> Governor:
    if not settings.zoom_account_id:
        raise MissingZoomCredentials("set ZOOM_ACCOUNT_ID (the Zoom account whose API limits are governed)")
    limits = plan_limits(settings.zoom_plan)
    heavy = limits.daily_of(Category.HEAVY)
    if settings.zoom_daily_cap is not None and heavy is not None:
        limits = limits.with_daily_cap(heavy.name, settings.zoom_daily_cap)
    return Governor(r, settings.zoom_account_id, limits, share=settings.zoom_rate_share)


@contextlib.contextmanager
def open_zoom(settings: Settings, r: redis.Redis, *, priority: Priority = Priority.BACKFILL,
              timeout_s: float = 20.0) -> Iterator[ZoomApi]:
    missing = [name for name, value in (("ZOOM_ACCOUNT_ID", settings.zoom_account_id),
                                        ("ZOOM_CLIENT_ID", settings.zoom_client_id),
                                        ("ZOOM_CLIENT_SECRET", settings.zoom_client_secret)) if not value]
    if missing:
        raise MissingZoomCredentials(f"set {', '.join(missing)} (a Server-to-Server OAuth app of the account)")
    assert settings.zoom_account_id and settings.zoom_client_id and settings.zoom_client_secret
    with httpx.Client(timeout=timeout_s, limits=httpx.Limits(max_connections=16)) as http:
        token = ServerToServerToken(http, settings.zoom_oauth_url, settings.zoom_account_id, settings.zoom_client_id,
                                    settings.zoom_client_secret)
        yield ZoomApi(http, settings.zoom_api_url, token, governor_for(settings, r), priority=priority,
                      page_sizes={Category.HEAVY: settings.zoom_heavy_page_size})
