"""The orchestrator's commands of the `rollcall` command line (registered by ``bot/cli.py``, the one
console entry): ``serve``, ``reconcile``, ``report``, ``register``, ``limits``, ``zoom-emulator``,
``schedule add|list|cancel``, ``orchestrator``, ``status`` and ``bench reconcile|orchestrator|serve``. Each
finds Redis through ``REDIS_URL`` or the data directory's embedded server."""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

EXIT_USAGE = 2
EXIT_RESUME_LATER = 75  # EX_TEMPFAIL: the daily API cap stopped the run; rerun after it resets
err = Console(stderr=True)


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings(data_dir: Path | None):
    """The one configuration (environment and ``.env``, docs/configuration.md); a bad value is exit 2 with
    the variable named."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from orchestrator.settings import Settings, describe_error

    try:
        s = Settings()
    except (ValidationError, SettingsError) as exc:
        raise _fail(f"configuration: {describe_error(exc)}") from None
    return s.model_copy(update={"data_dir": data_dir}) if data_dir else s


def _logging(settings) -> None:
    """INFO log lines for the long-running commands, in the one format (``analysis/logs.py``), with every
    configured secret and the Redis password redacted."""
    from urllib.parse import urlsplit

    from analysis.logs import configure

    password = urlsplit(settings.redis_url).password if settings.redis_url else None
    configure(secrets=settings.secrets() + ([password] if password else []), level=logging.INFO)


AsJson = Annotated[bool, typer.Option("--json", help="One JSON document on stdout instead of tables.")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where the embedded Redis keeps its data "
                                                                 "(default ROLLCALL_DATA_DIR or ./rollcall-data); "
                                                                 "ignored when REDIS_URL is set.")]


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    data_dir: DataDir = None,
) -> None:
    """The HTTP side: Zoom webhooks at POST /webhooks/zoom (secret from ZOOM_WEBHOOK_SECRET_TOKEN), the
    API (its OpenAPI at /openapi.json, with the admin token) and the live pages; meeting.ended is reconciled
    automatically when Zoom credentials are set."""
    from orchestrator.server.app import serve as run
    from orchestrator.redis_conn import RedisUnavailable

    settings = _settings(data_dir)
    _logging(settings)
    if settings.webhook_secret_token is None:
        err.print("[yellow]warning:[/] ZOOM_WEBHOOK_SECRET_TOKEN is not set: webhooks are refused (503)")
    try:
        run(settings, host, port)
    except RedisUnavailable as exc:
        raise _fail(str(exc)) from None


def reconcile(
    meetings: Annotated[list[str] | None, typer.Argument(
        help="Meeting instance UUIDs, or meeting numbers (every past instance).")] = None,
    pending: Annotated[bool, typer.Option("--pending", help="Also work through the queue (meeting.ended "
                                                            "jobs and earlier runs' leftovers).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Reconcile again even if already done.")] = False,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Parallel requests from this process.")] = 4,
    data_dir: DataDir = None,
) -> None:
    """Join Zoom's participant reports with the bots' reports into each meeting's final record (stored;
    see `rollcall report`). Stops cleanly at the daily API cap (exit 75) and resumes where it stopped."""
    from orchestrator.outbound import OutboundWebhooks
    from orchestrator.zoom.rate_limits import DailyCapReached
    from orchestrator.reconciliation.queue import ReconcileJob, ReconcileQueue
    from orchestrator.reconciliation.reconciler import Reconciler
    from orchestrator.redis_conn import RedisUnavailable, open_redis
    from orchestrator.report_store import ReportStore
    from orchestrator.zoom.api import ZoomApiError
    from orchestrator.zoom.client import MissingZoomCredentials, open_zoom

    if not meetings and not pending:
        raise _fail("name meetings to reconcile, or use --pending for the queue")
    settings = _settings(data_dir)
    try:
        with open_redis(settings.redis_url, settings.data_dir) as r, open_zoom(settings, r) as api:
            queue = ReconcileQueue(r)
            for m in meetings or []:
                uuids = [i.uuid for i in api.past_instances(m)] if m.isdigit() else [m]
                for u in uuids:
                    if not queue.add(ReconcileJob(uuid=u, meeting_id=m if m.isdigit() else None), force=force):
                        err.print(f"{escape(u)}: already reconciled (use --force to redo)")
            outbound = OutboundWebhooks.from_settings(settings, r, api.http)
            total = queue.counts()["due"]
            step = max(1, total // 20)

            def progress(s):
                if s.done % step == 0:
                    err.print(f"reconciled {s.done} of {total}", highlight=False)

            summary = Reconciler(api, ReportStore(r), queue, outbound, repeat_after_s=settings.reconcile_repeat_s or None
                                 ).run(workers=workers, progress=progress)
            usage = {u.category.value: u for u in api.governor.usage()}
    except (MissingZoomCredentials, RedisUnavailable, ValueError) as exc:
        raise _fail(str(exc)) from None
    except DailyCapReached as exc:
        raise _fail(f"{exc}; rerun after it", EXIT_RESUME_LATER) from None
    except ZoomApiError as exc:
        raise _fail(str(exc), 1) from None
    heavy = usage["heavy"]
    typer.echo(f"reconciled {summary.done}, failed {summary.failed}, left {summary.left}, queued for later "
               f"{summary.later}; Zoom calls "
               f"{api.stats.total} ({', '.join(f'{k} {v}' for k, v in sorted(api.stats.calls.items()))}), "
               f"429s {api.stats.rate_limited}; heavy daily budget left {heavy.daily_remaining}")
    for uuid, reason in summary.failures:
        err.print(f"{escape(uuid)}: {escape(reason)}", highlight=False)
    if summary.stopped_by in ("zoom credentials", "zoom access"):
        raise _fail(f"{summary.detail}; {summary.left} meetings are left", EXIT_USAGE)
    if summary.stopped_by:
        err.print(f"[yellow]stopped:[/] the daily Zoom API cap is reached; {summary.left} meetings are left and "
                  f"resume after {summary.resets_at:%Y-%m-%d %H:%M} UTC (rerun `rollcall reconcile --pending`)")
        raise typer.Exit(EXIT_RESUME_LATER)
    if summary.failed:
        raise typer.Exit(1)


def report(
    meeting: Annotated[str, typer.Argument(help="A meeting instance UUID, or a meeting number (latest instance).")],
    data_dir: DataDir = None,
) -> None:
    """Print the stored final record of a meeting as JSON."""
    from orchestrator.redis_conn import RedisUnavailable, open_redis
    from orchestrator.report_store import ReportStore

    settings = _settings(data_dir)
    try:
        with open_redis(settings.redis_url, settings.data_dir) as r:
            record = ReportStore(r).record(meeting)
    except RedisUnavailable as exc:
        raise _fail(str(exc)) from None
    if record is None:
        raise _fail(f"no final record for {meeting} (run `rollcall reconcile {meeting}`)", 1)
    typer.echo(json.dumps(record, indent=2, ensure_ascii=False))


def register(
    meeting_id: Annotated[str, typer.Argument(help="The meeting number.")],
    customer_key: Annotated[str, typer.Option(help="The attendee's id in your systems (employee id).")],
    first_name: Annotated[str, typer.Option(help="First name, as Zoom shows it.")],
    email: Annotated[str, typer.Option(help="E-mail Zoom sends the registration to.")],
    last_name: Annotated[str | None, typer.Option(help="Last name.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Register an attendee and print their personal join link; their report rows then carry a
    registrant id that reconciliation maps back to --customer-key."""
    from orchestrator.redis_conn import RedisUnavailable, open_redis
    from orchestrator.reconciliation.registration import register_attendee
    from orchestrator.report_store import ReportStore
    from orchestrator.zoom.api import ZoomApiError
    from orchestrator.zoom.client import MissingZoomCredentials, open_zoom

    settings = _settings(data_dir)
    try:
        with open_redis(settings.redis_url, settings.data_dir) as r, open_zoom(settings, r) as api:
            reg = register_attendee(api, ReportStore(r), meeting_id, customer_key, first_name, email, last_name)
    except (MissingZoomCredentials, RedisUnavailable, ValueError) as exc:
        raise _fail(str(exc)) from None
    except ZoomApiError as exc:
        raise _fail(str(exc), 1) from None
    typer.echo(reg.join_url or f"registered ({reg.registrant_id}); no join link: the host approves registrations")


def limits(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Zoom API calls made today and what is left, per rate-limit category (Rollcall's share)."""
    from orchestrator.redis_conn import RedisUnavailable, open_redis
    from orchestrator.zoom.client import MissingZoomCredentials, governor_for

    settings = _settings(data_dir)
    try:
        with open_redis(settings.redis_url, settings.data_dir) as r:
            usage = governor_for(settings, r).usage()
    except (MissingZoomCredentials, RedisUnavailable, ValueError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps({
            "account": settings.zoom_account_id, "plan": settings.zoom_plan, "share": settings.zoom_rate_share,
            "categories": [{"category": u.category.value, "rate_per_s": u.rate_per_s, "calls_today": u.calls_today,
                            "daily_group": u.daily_group, "daily_cap": u.daily_cap,
                            "daily_remaining": u.daily_remaining,
                            "paused_until": u.paused_until.isoformat() if u.paused_until else None}
                           for u in usage]}, indent=2))
        return
    table = Table(title=f"Zoom API, account {settings.zoom_account_id} ({settings.zoom_plan} plan, "
                        f"{settings.zoom_rate_share:.0%} share)")
    for col in ("category", "rate/s", "calls today", "daily cap", "left today", "paused until"):
        table.add_column(col, justify="left" if col == "category" else "right")
    for u in usage:
        table.add_row(u.category.value, f"{u.rate_per_s:g}", str(u.calls_today),
                      f"{u.daily_cap} ({u.daily_group})" if u.daily_cap is not None else "-",
                      str(u.daily_remaining) if u.daily_remaining is not None else "-",
                      f"{u.paused_until:%H:%M:%S}" if u.paused_until else "-")
    Console().print(table)


def zoom_emulator(
    scenario: Annotated[list[Path] | None, typer.Option(help="A scenario file whose meeting the emulator "
                                                             "knows (repeatable).")] = None,
    synthetic: Annotated[int, typer.Option(min=0, help="Also this many generated one-hour meetings.")] = 0,
    participants: Annotated[int, typer.Option(min=1, help="People per generated meeting.")] = 10,
    plan: Annotated[str, typer.Option(help="Rate limits of this plan: free, pro or business.")] = "business",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")] = 0,
) -> None:
    """Run the Zoom API emulator on loopback (local development without a Zoom account)."""
    import time
    from datetime import UTC, datetime, timedelta

    from analysis.scenario import ScenarioError
    from orchestrator.emulator.data import meeting_from_scenario, synthetic_meetings
    from orchestrator.scenario_file import read_scenario
    from orchestrator.emulator.server import EmulatorServer, ZoomEmulator

    meetings = []
    try:
        for path in scenario or []:
            meetings.append(meeting_from_scenario(read_scenario(path)))
        emu = ZoomEmulator(meetings + synthetic_meetings(
            synthetic, participants, start=datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)), plan=plan)
    except (ScenarioError, ValueError) as exc:
        raise _fail(str(exc)) from None
    with EmulatorServer(emu, port or None) as server:
        typer.echo(f"Zoom API emulator on {server.base_url} with {len(meetings) + synthetic} meetings ({plan} limits)\n"
                   f"  export ZOOM_API_URL={server.api_url} ZOOM_OAUTH_URL={server.oauth_url} "
                   f"ZOOM_ACCOUNT_ID={emu.account_id} ZOOM_CLIENT_ID={emu.client_id} "
                   f"ZOOM_CLIENT_SECRET={emu.client_secret} ZOOM_PLAN={plan}")
        for m in meetings:
            typer.echo(f"  meeting {m.id}  uuid {m.uuid}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def bench_reconcile(
    meetings: Annotated[int, typer.Option(min=1, help="Past meetings to reconcile.")] = 2000,
    participants: Annotated[int, typer.Option(min=1, help="People per meeting.")] = 10,
    processes: Annotated[int, typer.Option(min=1, max=8, help="Reconciler processes sharing the budget.")] = 2,
) -> None:
    """Reconcile many past meetings against the emulator at Business limits: calls made vs the minimum,
    429s, time, and a daily-cap stop and resume."""
    from orchestrator.bench.reconcile import run_reconcile_bench

    run_reconcile_bench(Console(), meetings=meetings, participants=participants, processes=processes)


def _when(value: str) -> datetime:
    """``--at``: an ISO 8601 time with a zone, or ``+SECONDS`` from now; not in the past (nothing would
    show the schedule, and its bot would be sent at once), nor years ahead."""
    from orchestrator.dispatch.schedule_store import start_problem

    now = datetime.now(UTC)
    try:
        when = (now + timedelta(seconds=float(value[1:])) if value.startswith("+")
                else datetime.fromisoformat(value))
    except (ValueError, OverflowError):
        raise _fail(f"--at: {value!r}: use +SECONDS or an ISO 8601 time") from None
    if when.tzinfo is None:
        raise _fail("--at: give a time zone, e.g. 2026-11-22T15:00:00Z")
    problem = start_problem(when, now)
    if problem is not None:
        raise _fail(f"--at: {problem}")
    return when


def schedule_add(
    at: Annotated[str, typer.Option(help="When the meeting starts: ISO 8601 with a zone, or +SECONDS from now.")],
    meeting_id: Annotated[str | None, typer.Option(help="A Zoom meeting number.")] = None,
    scenario: Annotated[Path | None, typer.Option(help="A simulated meeting (scenario file) instead of Zoom.")] = None,
    duration: Annotated[float | None, typer.Option(  # max: schedule_store.MAX_LENGTH_S, as for the API
        min=1, max=86_400, help="Expected length in seconds (default: the scenario's; 3600 for Zoom).")] = None,
    lead: Annotated[float | None, typer.Option(
        min=0, max=86_400, help="Seconds before the start the bot is sent (default 60 for Zoom; 3 for a "
                                "scenario, whose bot then waits for t=0).")] = None,
    passcode: Annotated[str | None, typer.Option(envvar="ROLLCALL_PASSCODE", help="The meeting passcode.")] = None,
    topic: Annotated[str, typer.Option(help="A label for lists.")] = "",
    no_asr: Annotated[bool, typer.Option("--no-asr", help="The bot skips transcription.")] = False,
    policy: Annotated[str | None, typer.Option(
        help="A Zoom training: 'default' or a policy file on the bots' host (a scenario names its own).")] = None,
    transport: Annotated[str, typer.Option(
        help="How a Zoom meeting is observed: 'sdk' (a bot joins) or 'rtms' (no bot: the worker starts when the "
             "host starts the meeting's RTMS stream, with this schedule's ASR and policy).")] = "sdk",
    data_dir: DataDir = None,
) -> None:
    """Schedule a bot for a meeting; the orchestrator sends it. The same meeting and start again changes
    the schedule instead of adding another."""
    from analysis.scenario import ScenarioError
    from orchestrator.redis_conn import RedisUnavailable, open_redis
    from orchestrator.scenario_file import read_scenario
    from orchestrator.dispatch.schedule_store import Schedule, ScheduleStore

    if (meeting_id is None) == (scenario is None):
        raise _fail("give either --meeting-id or --scenario")
    start = _when(at)
    if scenario is not None:
        from orchestrator.paths import InvalidIdentifier, check_id

        try:
            sc = read_scenario(scenario)
            check_id(sc.meeting.id, f"{scenario}: meeting.id")  # it names the bot's folder
        except (ScenarioError, InvalidIdentifier) as exc:
            raise _fail(str(exc)) from None
        spec = Schedule(meeting_id=sc.meeting.id, kind="scenario", scenario=str(scenario.resolve()),
                        start_at=start, join_at=start - timedelta(seconds=3.0 if lead is None else lead),
                        end_at=start + timedelta(seconds=duration or sc.end_s),
                        topic=topic or sc.meeting.topic, asr=not no_asr)
    else:
        assert meeting_id is not None
        if not meeting_id.isdigit():
            raise _fail(f"--meeting-id: {meeting_id!r} is not a Zoom meeting number")
        if transport not in ("sdk", "rtms"):
            raise _fail(f"--transport: 'sdk' or 'rtms', not {transport!r}")
        spec = Schedule(meeting_id=meeting_id, start_at=start, join_at=start - timedelta(seconds=60.0 if lead is None else lead),
                        end_at=start + timedelta(seconds=duration or 3600), passcode=passcode, topic=topic,
                        asr=not no_asr, policy=policy, transport="rtms" if transport == "rtms" else "zoom_sdk")
    settings = _settings(data_dir)
    try:
        with open_redis(settings.redis_url, settings.data_dir) as r:
            sid, new = ScheduleStore(r).add(spec)
    except RedisUnavailable as exc:
        raise _fail(str(exc)) from None
    when = ("observed through RTMS once the host starts the stream" if spec.transport == "rtms"
            else f"bot joins at {spec.join_at:%Y-%m-%d %H:%M:%S} UTC")
    typer.echo(f"{'scheduled' if new else 'already scheduled'} {sid}: {when}")


def schedule_list(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Schedules of the last week and ahead."""
    _print_status(data_dir, bots=False, as_json=as_json)


def schedule_cancel(
    schedule_id: Annotated[str, typer.Argument(help="The schedule's id (MEETING@START, from `schedule list`).")],
    data_dir: DataDir = None,
) -> None:
    """Cancel a schedule (a bot already in the meeting stays; stop it with its process or Job)."""
    from orchestrator.redis_conn import RedisUnavailable, open_redis
    from orchestrator.dispatch.schedule_store import ScheduleStore

    settings = _settings(data_dir)
    try:
        with open_redis(settings.redis_url, settings.data_dir) as r:
            found = ScheduleStore(r).cancel(schedule_id)
    except RedisUnavailable as exc:
        raise _fail(str(exc)) from None
    if not found:
        raise _fail(f"no schedule {schedule_id}", 1)
    typer.echo(f"cancelled {schedule_id}")


def orchestrator(
    data_dir: DataDir = None,
    launcher: Annotated[str, typer.Option(help="How bots run: local (subprocesses) or kubernetes (Jobs).")] = "local",
    capacity: Annotated[int, typer.Option(min=1, help="Live bots at most.")] = 50,
) -> None:
    """Send bots to scheduled meetings, watch them, replace the ones that die, and finish simulated
    meetings' records. Runs until interrupted; several can share one Redis."""
    import httpx

    from orchestrator.dispatch.dispatcher import DispatchConfig, Dispatcher
    from orchestrator.dispatch.launchers import LocalLauncher
    from orchestrator.outbound import OutboundWebhooks
    from orchestrator.redis_conn import RedisUnavailable, embedded_url, open_redis

    settings = _settings(data_dir)
    _logging(settings)
    if launcher not in ("local", "kubernetes"):
        raise _fail(f"--launcher: {launcher!r}: use local or kubernetes")
    try:
        with open_redis(settings.redis_url, settings.data_dir) as r:
            url = settings.redis_url or embedded_url(settings.data_dir)
            assert url is not None
            if launcher == "local":
                chosen = LocalLauncher(settings.data_dir, url)
            else:
                from orchestrator.dispatch.k8s_launcher import KubernetesLauncher

                chosen = KubernetesLauncher.from_settings(settings)
            # a pod may take minutes to pull its image before its first heartbeat
            grace = 45.0 if launcher == "local" else 300.0
            http = httpx.Client(timeout=10.0)
            outbound = OutboundWebhooks.from_settings(settings, r, http)
            dispatcher = Dispatcher(r, chosen, DispatchConfig(capacity=capacity, launch_grace_s=grace), outbound=outbound)
            err.print(f"orchestrator {dispatcher.consumer}: {launcher} bots, capacity {capacity}")
            stop = threading.Event()
            calendar = start_calendar_sync(settings, r, stop)
            try:
                dispatcher.run(stop.is_set)
            finally:
                stop.set()
                if calendar is not None:
                    calendar.join(10)
                if isinstance(chosen, LocalLauncher):
                    chosen.stop_all()
    except (RedisUnavailable, ValueError) as exc:  # ValueError: the Kubernetes launcher's configuration
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        pass


def start_calendar_sync(settings, r, stop: threading.Event) -> threading.Thread | None:
    """The training calendar sync on a thread, when trainers and the Zoom app's credentials are set."""
    from orchestrator.dispatch.calendar_sync import CalendarSync
    from orchestrator.zoom.rate_limits import Priority
    from orchestrator.zoom.client import open_zoom

    cal = settings.calendar
    if not cal.trainers:
        return None
    if not (settings.zoom_account_id and settings.zoom_client_id and settings.zoom_client_secret):
        err.print("[yellow]warning:[/] ROLLCALL_TRAINERS is set but the Zoom app's credentials are not: no calendar sync")
        return None

    def run() -> None:
        with open_zoom(settings, r, priority=Priority.LIVE) as api:
            CalendarSync(api, r, cal).run(stop)

    thread = threading.Thread(target=run, name="calendar-sync", daemon=True)
    thread.start()
    err.print(f"calendar sync: {len(cal.trainers)} trainers every {cal.sync_every_s:.0f} s")
    return thread


def watch(
    meeting: Annotated[str, typer.Argument(help="The meeting number (a simulated meeting's id).")],
    data_dir: DataDir = None,
    once: Annotated[bool, typer.Option("--once", help="Print the latest snapshot and exit.")] = False,
) -> None:
    """The meeting's live view in the terminal, from its Redis live channel (the same figures as the
    host's page)."""
    from rich.live import Live

    from analysis.contract import LiveEntry
    from analysis.live import LiveSnapshot
    from analysis.live_view import LiveView
    from orchestrator import keys
    from orchestrator.redis_conn import RedisUnavailable, open_redis

    settings = _settings(data_dir)
    view = LiveView(f"meeting {meeting}")
    console = Console()
    try:
        with open_redis(settings.redis_url, settings.data_dir) as r:
            latest = r.xrevrange(keys.live_stream(meeting), count=1)
            snap = LiveSnapshot.model_validate_json(LiveEntry.parse(latest[0][1]).snapshot) if latest else None
            if once:
                if snap is None:
                    raise _fail(f"nothing live for meeting {meeting} yet", 1)
                console.print(view.render(snap))
                return
            pubsub = r.pubsub()
            pubsub.subscribe(keys.live_channel(meeting))
            with Live(view.render(snap) if snap else f"waiting for meeting {meeting}…", console=console,
                      refresh_per_second=4) as screen:
                while snap is None or not snap.ended:
                    msg = pubsub.get_message(timeout=1.0)
                    if msg and msg["type"] == "message":
                        snap = LiveSnapshot.model_validate_json(msg["data"])
                        screen.update(view.render(snap))
    except RedisUnavailable as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        pass


def live_link(
    meeting: Annotated[str, typer.Argument(help="The meeting number (a simulated meeting's id).")],
    base_url: Annotated[str, typer.Option(help="Where `rollcall serve` is reached.")] = "http://127.0.0.1:8080",
    hours: Annotated[float, typer.Option(min=0.01, help="How long the link works.")] = 4.0,
    manager: Annotated[list[str] | None, typer.Option(
        help="Instead of the host's link, a manager's: only these people (participant keys; repeatable).")] = None,
) -> None:
    """A signed link to the meeting's live page: the host's (everything), or a manager's (their people's
    figures only, no transcript). Needs ROLLCALL_LIVE_SECRET, the same as `rollcall serve` has."""
    from urllib.parse import quote

    from orchestrator.live.access import issue

    settings = _settings(None)
    if settings.live_secret is None:
        raise _fail("set ROLLCALL_LIVE_SECRET (the same value `rollcall serve` runs with)")
    token = issue(settings.live_secret.get_secret_value(), meeting, "manager" if manager else "host", hours * 3600,
                  people=manager)
    typer.echo(f"{base_url.rstrip('/')}/live/{quote(meeting)}?token={token}")


def status(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Bots and schedules, as tables (ids in full: `schedule cancel` and the API take them)."""
    _print_status(data_dir, bots=True, as_json=as_json)


def _print_status(data_dir: Path | None, *, bots: bool, as_json: bool) -> None:
    from analysis.contract import BotField
    from orchestrator import keys
    from orchestrator.redis_conn import RedisUnavailable, open_redis
    from orchestrator.dispatch.schedule_store import ScheduleStore

    settings = _settings(data_dir)
    try:
        with open_redis(settings.redis_url, settings.data_dir) as r:
            rows = [(sid, sc, r.lrange(keys.schedule_jobs(sid), 0, -1)) for sid, sc in ScheduleStore(r).all()]
            states = {job: r.hgetall(keys.bot(job)) for _, _, jobs in rows for job in jobs} if bots else {}
    except RedisUnavailable as exc:
        raise _fail(str(exc)) from None
    shown = (BotField.MEETING_ID, BotField.STATUS, BotField.ATTEMPT, BotField.HEARTBEAT_AT, BotField.REASON)
    if as_json:
        doc: dict = {"schedules": [{"id": sid, "kind": sc.kind, "topic": sc.topic, "meeting_id": sc.meeting_id,
                                    "start_at": sc.start_at.isoformat(), "join_at": sc.join_at.isoformat(),
                                    "status": sc.status, "bots": jobs} for sid, sc, jobs in rows]}
        if bots:
            doc["bots"] = [{"job": job, **{f.value: h.get(f) for f in shown}} for job, h in states.items()]
        typer.echo(json.dumps(doc, indent=2))
        return
    console = Console()
    t = Table(title="schedules")
    for col in ("id", "kind", "topic", "starts (UTC)", "bot joins", "status", "bots"):
        t.add_column(col, overflow="fold" if col == "id" else "ellipsis")
    for sid, sc, jobs in rows:
        t.add_row(sid, sc.kind, sc.topic, f"{sc.start_at:%m-%d %H:%M:%S}", f"{sc.join_at:%H:%M:%S}", sc.status,
                  str(len(jobs)))
    console.print(t)
    if not bots:
        return
    b = Table(title="bots")
    for col in ("job", "meeting", "status", "attempt", "heartbeat", "reason"):
        b.add_column(col, overflow="fold" if col == "job" else "ellipsis")
    for job, h in states.items():
        beat = f"{time.time() - float(h[BotField.HEARTBEAT_AT]):.0f} s ago" if h.get(BotField.HEARTBEAT_AT) else "-"
        b.add_row(job, h.get(BotField.MEETING_ID, ""), h.get(BotField.STATUS, ""), h.get(BotField.ATTEMPT, ""), beat,
                  h.get(BotField.REASON, ""))
    console.print(b)


def bench_orchestrator(
    schedules: Annotated[int, typer.Option(min=1, help="Schedules due within the window.")] = 1000,
    window: Annotated[float, typer.Option(min=1, help="Seconds over which they fall due.")] = 60.0,
) -> None:
    """Dispatch at scale: lateness of launches and duplicates, two orchestrators on one Redis."""
    from orchestrator.bench.dispatch import run_orchestrator_bench

    run_orchestrator_bench(Console(), schedules=schedules, window_s=window)


def bench_serve(
    streams: Annotated[int, typer.Option(min=1, help="Live-page event streams kept open.")] = 200,
    rate: Annotated[float, typer.Option(min=0.1, max=1000, help="Signed webhooks a second.")] = 20.0,
    seconds: Annotated[float, typer.Option(min=1, max=600, help="How long the load runs.")] = 30.0,
    polls: Annotated[float, typer.Option(min=0.1, max=1000, help="GET /schedules a second.")] = 5.0,
    together: Annotated[bool, typer.Option("--together", help="The meetings' bots all publish their snapshot "
                                                               "at the same instant (the worst case).")] = False,
) -> None:
    """`rollcall serve` under load on loopback: webhook and admin API latency with live streams open, and
    the 429s past the caps on streams."""
    from orchestrator.bench.serve import run_serve_bench

    try:
        run_serve_bench(Console(), streams=streams, rate=rate, seconds=seconds, polls=polls, together=together)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def add_commands(app: typer.Typer, bench_app: typer.Typer) -> None:
    for fn in (serve, reconcile, report, register, limits, orchestrator, status, watch):
        app.command()(fn)
    app.command("live-link")(live_link)
    schedule_app = typer.Typer(no_args_is_help=True, help="Bots for meetings: add, list, cancel.")
    schedule_app.command("add")(schedule_add)
    schedule_app.command("list")(schedule_list)
    schedule_app.command("cancel")(schedule_cancel)
    app.add_typer(schedule_app, name="schedule")
    app.command("zoom-emulator")(zoom_emulator)
    bench_app.command("reconcile")(bench_reconcile)
    bench_app.command("orchestrator")(bench_orchestrator)
    bench_app.command("serve")(bench_serve)
