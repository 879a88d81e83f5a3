"""Permission to record, raw recording and the audio subscription, as the production-proven peer and the
SDK's sample handle them (``../shared/reference/zoom-meeting-sdk.md`` §5–6):

- the request reaches only a host who is present, so the bot asks when it arrives and again whenever a
  host arrives; no deadline runs while nobody can answer;
- only "feature not supported" means nobody can be asked (e.g. a Zoom Rooms host); a denial or an
  unanswered request is not the end: the bot stays, observes presence and chat, and asks the next host;
- the privilege can be taken back and granted again mid-meeting: raw recording stops, and restarts when
  it is granted again;
- SDK calls are never made from inside an SDK callback: callbacks set flags, :meth:`tick` acts on them;
- ``subscribe``'s answer is checked, and a recording that delivers no audio while Zoom reports people
  talking is noticed: subscribed again once, then given up as an error instead of an empty report.

While the bot cannot record, an audio gap is open (the report's ``observer.gaps``): talk time there is
not measured, not zero.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from bot.zoom.guard import SdkGuard
from bot.lifecycle import Outcome

log = structlog.get_logger("rollcall.zoom")

OK = "SDKERR_SUCCESS"


@dataclass(frozen=True)
class RecordingConfig:
    start_retry_s: float = 1.0  # StartRawRecording refused as too frequent, or subscribe failed: again after
    subscribe_attempts: int = 3  # subscribe refused this often (JoinVoip again between): no audio
    detect_s: float = 2.0  # Zoom reports talk and no chunk has come this long: an audio gap opens
    no_audio_s: float = 120.0  # ... this long: subscribe again; as long again: the run ends in an error


class Recording:
    """One meeting's recording state. ``gap(reason, open)`` marks audio gaps, ``finish(outcome, detail)``
    ends the run; ``on_audio`` is the raw-audio callback (already guarded by the caller)."""

    def __init__(self, sdk: Any, guard: SdkGuard, on_audio: Callable[[Any, int], None],
                 gap: Callable[[str, bool], None], finish: Callable[[Outcome, str], None],
                 config: RecordingConfig | None = None) -> None:
        self.sdk, self.guard, self.gap, self.finish = sdk, guard, gap, finish
        self.config = config or RecordingConfig()
        self._audio_sink = guard.keep(sdk.ZoomSDKAudioRawDataDelegateCallbacks(
            onOneWayAudioRawDataReceivedCallback=guard.callback("audio", on_audio)))
        self._controller: Any = None
        self._audio_controller: Any = None
        self._helper: Any = None  # the raw-data helper, once subscribed
        self.recording = False  # raw recording running (audio flows)
        self.cannot_ask = False  # the host's client cannot grant the privilege
        self._want_start = False  # granted: start on the next tick (never inside the callback)
        self._stop_on_tick = False  # revoked: stop on the next tick
        self._retry_at: float | None = None
        self._subscribe_failures = 0
        self._gap: str | None = None  # the audio gap open now, if any
        self.chunks = 0  # audio chunks since recording last (re)started; bumped on the SDK's audio thread
        self.chunks_total = 0
        self._unanswered_from: float | None = None  # the first report of talk not answered by audio
        self._resubscribed = False

    # ---- from the session --------------------------------------------------------------------
    def attach(self, controller: Any, audio_controller: Any, now: float, host_here: bool) -> None:
        """In the meeting (again): the controllers the SDK hands out now, and the first move."""
        self._controller, self._audio_controller = controller, audio_controller
        if controller.CanStartRawRecording().name == OK:
            self._want_start = True
            return
        if self.recording:
            self.recording = False  # moved (waiting room, breakout) and not allowed here: ask again
        self._open_gap("recording_not_permitted")
        if controller.IsSupportRequestLocalRecordingPrivilege().name != OK:
            self.cannot_ask = True
            log.warning("recording: the host's client cannot grant permission (e.g. a Zoom Rooms host); "
                        "presence and chat only")
            return
        self.ask("joined" + ("" if host_here else "; no host yet"))

    def ask(self, why: str) -> None:
        """Ask the host(s) present to allow recording."""
        if self.recording or self.cannot_ask or self._controller is None:
            return
        log.info("recording: asking the host for permission (%s)", why)
        self._controller.RequestLocalRecordingPrivilege()

    def on_privilege(self, granted: bool) -> None:
        """``onRecordPrivilegeChangedCallback``: granted, or taken back."""
        if granted:
            self._want_start = True
        elif self.recording or self._want_start:
            log.warning("recording: the host revoked the permission; no audio until it is granted again")
            self._want_start = False
            self.recording = False
            self._open_gap("recording_revoked")
            self._stop_on_tick = True

    def on_request_status(self, status: Any) -> None:
        """``onLocalRecordingPrivilegeRequestStatusCallback``: a denial or a timeout is logged; the bot
        stays and asks the next host who arrives."""
        name = status.name.removeprefix("RequestLocalRecording_")
        if name != "Granted":
            log.warning("recording: the request was %s; staying without audio, asking again when a host arrives",
                        name.lower())

    def on_speaker(self, now: float) -> None:
        """Zoom reports someone talking: audio should be arriving."""
        if self.recording and self.chunks == 0 and self._unanswered_from is None:
            self._unanswered_from = now

    def on_chunk(self) -> None:
        self.chunks += 1
        self.chunks_total += 1

    def tick(self, now: float) -> None:
        if self._stop_on_tick:
            self._stop_on_tick = False
            self._controller.StopRawRecording()  # already stopped by Zoom; the peer stops it too
        if self._want_start and (self._retry_at is None or now >= self._retry_at):
            self._start(now)
        elif self._retry_at is not None and now >= self._retry_at and self.recording and self._helper is None:
            self._subscribe(now)
        if not self.recording:
            return
        if self.chunks:
            self._unanswered_from = None
            if self._gap == "no_audio":
                self._close_gap()
            return
        if self._unanswered_from is None:
            return
        waited = now - self._unanswered_from
        if waited >= self.config.no_audio_s:
            if self._resubscribed:
                self.finish(Outcome.NO_AUDIO, f"no audio for {2 * self.config.no_audio_s:.0f} s while people talked")
                return
            log.warning("recording: no audio for %.0f s while people talk; joining audio and subscribing again",
                        self.config.no_audio_s)
            self._resubscribed, self._unanswered_from = True, now
            self._resubscribe(now)
        elif waited >= self.config.detect_s:
            self._open_gap("no_audio")

    def audio_never_arrived(self) -> bool:
        """At the end: Zoom reported people talking while the bot recorded, and not one chunk came."""
        return self.chunks_total == 0 and self._gap == "no_audio"

    def stop(self) -> None:
        """Leaving: no more audio."""
        if self._helper is not None:
            self._helper.unSubscribe()
            self._helper = None

    # ---- internals ---------------------------------------------------------------------------
    def _start(self, now: float) -> None:
        result = self._controller.StartRawRecording().name
        if result == "SDKERR_TOO_FREQUENT_CALL":
            self._retry_at = now + self.config.start_retry_s
            return
        self._want_start, self._retry_at = False, None
        if result != OK:
            log.warning("recording: StartRawRecording refused (%s); waiting for the permission", result.lower())
            self._open_gap("recording_not_permitted")
            return
        self.recording, self.chunks, self._unanswered_from = True, 0, None
        if self._helper is None:
            self._subscribe(now)
        if self._helper is not None:
            self._close_gap()

    def _subscribe(self, now: float) -> None:
        helper = self.sdk.GetAudioRawdataHelper()
        result = helper.subscribe(self._audio_sink, False).name
        if result == OK:
            self._helper, self._subscribe_failures, self._retry_at = helper, 0, None
            self._close_gap()
            return
        self._subscribe_failures += 1
        log.warning("recording: subscribing to raw audio failed (%s), attempt %d of %d", result.lower(),
                    self._subscribe_failures, self.config.subscribe_attempts)
        if self._subscribe_failures >= self.config.subscribe_attempts:
            self._open_gap("no_audio")
            self.finish(Outcome.NO_AUDIO, f"subscribing to raw audio failed: {result.lower()}")
            return
        self._audio_controller.JoinVoip()  # error 32 (not joined to audio) is the known cause
        self._retry_at = now + self.config.start_retry_s

    def _resubscribe(self, now: float) -> None:
        self.stop()
        self._audio_controller.JoinVoip()
        self._subscribe(now)

    def _open_gap(self, reason: str) -> None:
        if self._gap == reason:
            return
        self._close_gap()
        self._gap = reason
        self.gap(reason, True)

    def _close_gap(self) -> None:
        if self._gap is not None:
            self.gap(self._gap, False)
            self._gap = None
