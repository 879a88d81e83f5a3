"""Wires a transport to the analysis: native ingest → talk detector → live snapshots → final report.

The handler methods are the ones every transport calls (see bot.transport). Audio only touches the
native ingest (a bounded copy into the participant's queue); all analysis runs in ``on_media_time`` on
media time, so a replay at any speed gives the same talk time and metrics.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from analysis.events import MeetingEvent, SpeechSegment
from analysis.frames import FrameBatch
from analysis.live import LiveSnapshot, LiveTracker
from analysis.meeting_state import MeetingState
from analysis.observations import (BotChat, ComplianceChange, Decided, Event, Observation, RollCallPosted, Speech,
                                   Transcript)
from analysis.reliability import assess
from analysis.report import MeetingInfo, Report, TranscriptEntry, build_report
from analysis.talk_detector import TalkConfig, TalkDetector
from bot.compliance_live import ComplianceMonitor
from bot.transcriber import Line, Transcriber
from bot.transport import RawAudio
from native import EnergyGate, Ingest


@dataclass
class PipelineConfig:
    ring_capacity_s: float = 10.0  # per-participant bound on undrained audio
    idle_ms: float = 60.0  # a stream this long without audio is finished; frames older than that are final
    snapshot_every_s: float = 1.0
    asr_finish_timeout_s: float = 120.0  # at the end, how long to wait for the transcript to catch up
    talk: TalkConfig = field(default_factory=TalkConfig)  # talk.frame_ms is the analysis frame


class MeetingPipeline:
    def __init__(self, info: MeetingInfo, config: PipelineConfig | None = None, *,
                 on_snapshot: Callable[[LiveSnapshot], None] | None = None,
                 on_log: Callable[[Observation], None] | None = None,
                 transcriber: Transcriber | None = None, compliance: ComplianceMonitor | None = None) -> None:
        self.info = info
        self.compliance = compliance  # a training policy's live checks, when one applies
        self.exceptions: list[dict] | None = None  # the failed rules at the end (with a policy)
        self.transcriber = transcriber  # None: no ASR (talk time and everything else still run)
        self.transcript: list[TranscriptEntry] = []
        self._new_lines: list[TranscriptEntry] = []  # for the next live snapshot
        self._interim: dict[str, TranscriptEntry] = {}  # latest provisional text per participant
        self.config = config or PipelineConfig()
        self.frame_ms = self.config.talk.frame_ms
        self.ingest = Ingest(self.frame_ms, self.config.ring_capacity_s, self.config.idle_ms)
        self.detector = TalkDetector(self.config.talk, gate=EnergyGate)
        self.state = MeetingState()
        self.live = LiveTracker(info.not_observed)
        self.segments: list[SpeechSegment] = []
        self._on_snapshot = on_snapshot or (lambda s: None)
        self._log = on_log or (lambda d: None)
        self._stream_of_user: dict[int, int] = {}  # SDK user id → native stream (one per participant key)
        self._stream_of_key: dict[str, int] = {}
        self._key_of_stream: list[str] = []
        self._next_snapshot = 0.0
        self._now = 0.0
        self._counts_lock = threading.Lock()  # the counters below are bumped from SDK threads
        self.unknown_audio_chunks = 0  # audio from a user id no join has announced
        self.rejected_audio_chunks = 0  # chunks the ingest refused, or a callback that failed
        if compliance is not None:
            self._log(compliance.applied())  # first in the log: the session can be judged from the log alone

    # ---- transport handler -------------------------------------------------------------------
    def on_meeting_event(self, event: MeetingEvent) -> None:
        self.state.apply(event)
        if self.compliance is not None:
            self.compliance.on_event(event)
        if event.type == "join" and event.key is not None and event.user_id is not None:
            stream = self._stream_of_key.get(event.key)
            if stream is None:
                stream = len(self._key_of_stream)
                self._stream_of_key[event.key] = stream
                self._key_of_stream.append(event.key)
            # Consent as the meeting state holds it (once opted out, out for the whole meeting), set
            # before the first chunk of this join can arrive: opted-out audio never reaches a buffer.
            participant = self.state.participants.get(event.key)
            self.ingest.set_consent(stream, bool(participant and participant.consent))
            self._stream_of_user[event.user_id] = stream
        self._log_event(event)

    def on_one_way_audio(self, data: RawAudio, node_id: int) -> None:
        """Runs on the SDK's thread for every chunk: never raises; what it cannot take is counted."""
        stream = self._stream_of_user.get(node_id)
        if stream is None:
            with self._counts_lock:
                self.unknown_audio_chunks += 1
            return
        try:
            self.ingest.push(stream, data.GetBuffer(), data.GetSampleRate(), float(data.GetTimeStamp()))
        except Exception:  # noqa: BLE001 - an exception escaping an SDK callback aborts the process
            with self._counts_lock:
                self.rejected_audio_chunks += 1

    def on_media_time(self, t_s: float) -> None:
        self._now = t_s
        self._feed(self.ingest.drain(now_ms=t_s * 1000.0))
        # A stream's partial frame stays open until it has been idle for idle_ms, and the resampler holds
        # back its last few samples: so frames ending before t - idle_ms - one frame are final.
        watermark = math.floor((t_s * 1000.0 - self.config.idle_ms) / self.frame_ms) - 1
        self._accept(self.detector.advance(watermark))
        if self.transcriber is not None:
            turns = {key: turn for key in self._key_of_stream
                     if (turn := self.detector.open_turn(key)) is not None and self._consented(key)}
            self.transcriber.running(self.detector.decided_s, turns)
            self._collect(self.transcriber.ready())
        if t_s + 1e-9 >= self._next_snapshot:
            opened = {key: (round(a, 3), round(b, 3)) for key in self._key_of_stream
                      if (turn := self.detector.open_turn(key)) is not None and self._consented(key) for a, b in [turn]}
            self._log(Decided(t=round(self.detector.decided_s, 3), open=opened))
            snap = self._with_doubts(self.live.snapshot(t_s, self.state, self.detector.talking_now(),
                                                        self.detector.open_turn))
            snap = self._with_compliance(t_s, snap)
            self._on_snapshot(snap.model_copy(update={"transcript": self._take_new_lines(),
                                                      "interim": list(self._interim.values())}))
            self._next_snapshot = t_s + self.config.snapshot_every_s

    # ---- end of meeting ---------------------------------------------------------------------
    def finish(self) -> Report:
        """End of meeting: decide the rest of the audio, send the last snapshot, build the report."""
        self._feed(self.ingest.drain(flush=True))
        end = max(self._now, self.info.duration_s or 0.0)
        self._accept(self.detector.finish(math.ceil(end * 1000.0 / self.frame_ms)))
        if self.transcriber is not None:
            self._collect(self.transcriber.finish(self.config.asr_finish_timeout_s))
        final = self.live.snapshot(end, self.state, self.detector.talking_now(), self.detector.open_turn)
        self._on_snapshot(final.model_copy(update={"ended": True, "transcript": self._take_new_lines()}))
        transcript = sorted(self.transcript, key=lambda e: (e.start_s, e.participant))
        compliance = roll_call = None
        if self.compliance is not None:
            compliance, self.exceptions = self.compliance.finish(self.state, self._talk(final))
            roll_call = self.compliance.roll_call_counts(self.state)
        asr = None
        if self.transcriber is not None:
            talk: dict[str, list[tuple[float, float]]] = {}
            for s in self.segments:
                if self._consented(s.key):
                    talk.setdefault(s.key, []).append((s.start_s, s.end_s))
            asr = self.transcriber.summary(talk)
        return build_report(self.info, self.state, self.segments, transcript, compliance=compliance,
                            roll_call=roll_call, transcribed=self.transcriber is not None,
                            channels={k: self.detector.channel_stats(k) for k in self._key_of_stream}, asr=asr)

    def _with_doubts(self, snap: LiveSnapshot) -> LiveSnapshot:
        """The snapshot with what makes each participant's talk time doubtful so far (their channel only;
        the meeting's gaps are in ``not_observed``)."""
        rows = []
        for p in snap.participants:
            stats = self.detector.channel_stats(p.key) if p.consent else None
            doubts = assess(stats, 0.0, 0.0).doubts if stats is not None else []
            rows.append(p.model_copy(update={"talk_doubts": [d.value for d in doubts]}) if doubts else p)
        return snap.model_copy(update={"participants": rows})

    def _talk(self, snap: LiveSnapshot) -> dict[str, tuple[float, int]]:
        return {p.key: (p.talk_time_s or 0.0, p.turns or 0) for p in snap.participants}

    def _with_compliance(self, t_s: float, snap: LiveSnapshot) -> LiveSnapshot:
        """The snapshot with each attendee's compliance status, and the changes since the last one (also
        logged, with what the bot said in the chat)."""
        if self.compliance is None:
            return snap
        said, posted = len(self.compliance.sent), len(self.compliance.prompts_posted)
        verdicts, alerts = self.compliance.on_time(t_s, self.state, self._talk(snap))
        for index, t in self.compliance.prompts_posted[posted:]:
            self._log(RollCallPosted(index=index, t=round(t, 3)))
        for t, to, text in self.compliance.sent[said:]:
            self._log(BotChat(t=round(t, 3), to=to or "everyone", text=text))
        for a in alerts:
            self._log(ComplianceChange(**a.model_dump()))
        rows = [p.model_copy(update={"compliance": verdicts[p.key].status, "compliance_reasons": verdicts[p.key].reasons})
                if p.key in verdicts else p for p in snap.participants]
        return snap.model_copy(update={"participants": rows, "alerts": alerts})

    def ingest_stats(self) -> dict[str, dict[str, int]]:
        return {self._key_of_stream[s]: st for s, st in self.ingest.stats().items()}

    # ---- internals --------------------------------------------------------------------------
    def _feed(self, drained: tuple) -> None:
        batch = FrameBatch(self._key_of_stream, *drained)
        self.detector.push(batch)
        if self.transcriber is not None:
            self.transcriber.add_frames(batch)

    def _accept(self, segments: list[SpeechSegment]) -> None:
        segments = [s for s in segments if self._consented(s.key)]
        if not segments:
            return
        self.segments.extend(segments)
        self.live.add_segments(segments)
        for s in segments:
            self._log(Speech(key=s.key, start_s=round(s.start_s, 3), end_s=round(s.end_s, 3)))
            if self.transcriber is not None:
                self.transcriber.turn_ended(s)

    def _collect(self, lines: list[Line]) -> None:
        for line in lines:
            e = line.entry
            if e is None or not self._consented(e.participant):
                continue
            if line.interim:
                self._interim[e.participant] = e
                continue
            if line.settled:  # the stretch decoded again as one: its text replaces the live lines within it
                self.transcript = [x for x in self.transcript if not (
                    x.participant == e.participant and e.start_s <= (x.start_s + x.end_s) / 2 <= e.end_s)]
            else:
                self._interim.pop(e.participant, None)
                self._new_lines.append(e)  # the live channel carries live lines
            self.transcript.append(e)
            self._log(Transcript(**e.model_dump()))

    def _take_new_lines(self) -> list[TranscriptEntry]:
        lines, self._new_lines = self._new_lines, []
        return lines

    def _consented(self, key: str) -> bool:
        participant = self.state.participants.get(key)
        return bool(participant and participant.consent)

    def _log_event(self, event: MeetingEvent) -> None:
        p = self.state.participants.get(event.key) if event.key else None
        if event.type == "chat" and (p is None or not p.consent):
            event = replace(event, text=None)  # no text is kept for opted-out participants
        self._log(Event(**asdict(event)))
