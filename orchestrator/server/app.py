"""The orchestrator's HTTP service: Zoom's webhooks in, the API (``orchestrator/server/routes.py``), a health
check, and ``serve`` (``rollcall serve``), which runs it with the consumer that turns queued webhooks into
meeting logs and reconciliation jobs."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import redis
import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from orchestrator.live import page as live_page
from orchestrator.server import routes
from orchestrator.webhooks import events as webhook_events
from orchestrator.webhooks import receiver as webhooks
from orchestrator.dispatch.calendar_sync import CalendarSync
from orchestrator.dispatch.rtms_streams import RtmsStreams
from orchestrator.outbound import OutboundWebhooks
from orchestrator.reconciliation.queue import ReconcileQueue
from orchestrator.zoom.rate_limits import Priority
from orchestrator.reconciliation.reconciler import Reconciler
from orchestrator.report_store import ReportStore
from orchestrator.redis_conn import open_redis
from orchestrator.settings import Settings
from orchestrator.zoom.client import open_zoom

log = structlog.get_logger(__name__)


def create_app(settings: Settings, redis_client: redis.Redis, *, clock: Callable[[], float] = time.time,
               stream_limits: live_page.StreamLimits | None = None) -> FastAPI:
    """The app, with its dependencies on ``app.state`` so tests can give their own Redis, clock and caps on
    live streams (default: ``settings.live_streams``). Its OpenAPI is served by the admin API, behind the token."""
    app = FastAPI(title="Rollcall", description="Zoom webhooks in; schedules, bots and final records out.",
                  openapi_url=None, docs_url=None, redoc_url=None)
    app.state.settings, app.state.redis, app.state.clock = settings, redis_client, clock
    app.state.live_streams = live_page.StreamSlots(stream_limits or settings.live_streams)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.include_router(webhooks.router)
    app.include_router(routes.router)
    app.include_router(live_page.router)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            redis_client.ping()
        except redis.RedisError as exc:
            return JSONResponse({"status": "redis unavailable", "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app


async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """A 422 naming each field at fault and why, without FastAPI's echo of the input: it may hold a passcode,
    and a NaN or Infinity in it cannot be written as JSON (the answer would be a 500)."""
    return JSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]},
                        status_code=422)


def _reconcile_forever(settings: Settings, r: redis.Redis, stop: threading.Event) -> None:
    """Reconcile the jobs meeting.ended webhooks queue, as they fall due."""
    with open_zoom(settings, r) as api:
        outbound = OutboundWebhooks.from_settings(settings, r, api.http)
        Reconciler(api, ReportStore(r), ReconcileQueue(r), outbound,
                   repeat_after_s=settings.reconcile_repeat_s or None).follow(stop)


def _consume_webhooks(settings: Settings, r: redis.Redis, stop: threading.Event) -> None:
    """The webhook consumer. With trainers and the Zoom app configured, meeting.updated/deleted/started
    also reach the training calendar (moved, cancelled and early-started sessions); RTMS streams of the
    accounts observed that way start and stop their workers."""
    kwargs = {"consumer_name": socket.gethostname(), "block_ms": 1000, "stop": stop}
    calendar = settings.calendar
    streams = RtmsStreams(r, accounts=settings.rtms_account_ids)
    if calendar.trainers and settings.zoom_account_id and settings.zoom_client_id and settings.zoom_client_secret:
        with open_zoom(settings, r, priority=Priority.LIVE) as api:
            sync = CalendarSync(api, r, calendar)

            def hook(envelope: dict) -> object:
                rtms = envelope.get("event") in webhook_events.RTMS_EVENTS
                return streams.on_webhook(envelope) if rtms else sync.on_webhook(envelope)

            webhook_events.consume(r, ReconcileQueue(r), settings, on_meeting_change=hook, **kwargs)
    else:
        webhook_events.consume(r, ReconcileQueue(r), settings,
                               on_meeting_change=lambda envelope: streams.on_webhook(envelope)
                               if envelope.get("event") in webhook_events.RTMS_EVENTS else None, **kwargs)


class _Server(uvicorn.Server):
    """Stopping, it first ends the open live streams (within a second; the browsers reconnect with their
    last event), which would otherwise hold a graceful shutdown for as long as the pages stay open."""

    def __init__(self, config: uvicorn.Config, streams: live_page.StreamSlots) -> None:
        super().__init__(config)
        self.streams = streams

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.streams.stopping = True
        await super().shutdown(sockets)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the service until interrupted, with the webhook consumer beside it on a daemon thread, and the
    reconciler on another when the Zoom app's credentials are configured."""
    with open_redis(settings.redis_url, settings.data_dir) as r:
        stop = threading.Event()
        workers = [threading.Thread(target=_consume_webhooks, args=(settings, r, stop), name="webhook-consumer",
                                    daemon=True)]
        if settings.zoom_account_id and settings.zoom_client_id and settings.zoom_client_secret:
            workers.append(threading.Thread(target=_reconcile_forever, args=(settings, r, stop), name="reconciler",
                                            daemon=True))
        else:
            log.warning("no Zoom Server-to-Server credentials: meeting.ended jobs wait for `rollcall reconcile --pending`")
        for w in workers:
            w.start()
        try:
            app = create_app(settings, r)
            # log_config=None: uvicorn's loggers keep no handlers of their own and propagate to the root
            # one, so their lines have the one format and redaction (analysis/logs.py)
            config = uvicorn.Config(app, host=host, port=port, log_level="warning", log_config=None,
                                    timeout_graceful_shutdown=5)
            log.info("serving on http://%s:%d (webhooks at /webhooks/zoom, API, live pages)", host, port)
            _Server(config, app.state.live_streams).run()
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=5)
                if w.is_alive():
                    log.warning("%s did not stop within 5 s", w.name)
