"""The one place a bot is built: its outputs, the transcriber, a training's live checks and the
pipeline that wires them, the same for a replay, a simulated bot and a Zoom bot. Each way of running
only brings its transport and says what it knows of the meeting."""
from __future__ import annotations

import gc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from analysis.live import LiveSnapshot
from analysis.observations import Observation, PolicyApplied
from analysis.policy import TrainingPolicy
from analysis.report import MeetingInfo
from bot.compliance_live import ComplianceMonitor
from bot.outputs import MeetingOutputs
from bot.pipeline import MeetingPipeline, PipelineConfig
from bot.redis_link import BotLink
from bot.transcriber import AsrConfig, Transcriber


@dataclass(frozen=True)
class Training:
    """A training policy as it applies to one bot."""

    policy: TrainingPolicy
    duration_s: float  # the session's scheduled length
    expected: Mapping[str, tuple[str, str]]  # the roster the training expects: key → (name, role)
    live: bool = True  # runs the live checks; a bot that joined late cannot (it did not see the start)


class ChatOut:
    """The transport's chat, for a transport that is built after the pipeline (the Zoom session takes
    the pipeline); a message before it is connected is not sent."""

    def __init__(self) -> None:
        self.send: Callable[[str, str | None], object] | None = None

    def __call__(self, text: str, to: str | None) -> None:
        if self.send is not None:
            self.send(text, to)


class Bot(NamedTuple):
    pipeline: MeetingPipeline
    outputs: MeetingOutputs
    transcriber: Transcriber | None


def assemble(info: MeetingInfo, out_dir: str | Path, *, chat: Callable[[str, str | None], object],
             config: PipelineConfig | None = None, asr: AsrConfig | None = None,
             on_snapshot: Sequence[Callable[[LiveSnapshot], None]] = (), link: BotLink | None = None,
             training: Training | None = None) -> Bot:
    """The bot for a meeting: every snapshot to ``on_snapshot`` and the link, every observation to
    ``out_dir``'s log and the link; with ``asr``, a transcriber; with a ``training``, its checks (live,
    through ``chat``) or, for a bot that cannot run them, the policy named in its log so the session can
    be judged from every bot's log."""
    config = config or PipelineConfig()
    viewers = [*on_snapshot, *([link.snapshot] if link is not None else [])]
    outputs = MeetingOutputs(out_dir, (lambda snap: [f(snap) for f in viewers]) if viewers else None)
    sinks = [outputs.log, *([link.log] if link is not None else [])]

    def log(record: Observation) -> None:
        for sink in sinks:
            sink(record)

    compliance = None
    if training is not None and training.live:
        compliance = ComplianceMonitor(training.policy, training.duration_s, info.id, chat, training.expected)
    elif training is not None:
        log(PolicyApplied(policy=training.policy, meeting_id=info.id, duration_s=training.duration_s,
                          expected=dict(training.expected)))
    transcriber = Transcriber(asr, config.talk.frame_ms) if asr is not None else None
    pipeline = MeetingPipeline(info, config, on_snapshot=outputs.snapshot, on_log=log, transcriber=transcriber,
                               compliance=compliance)
    settle()
    return Bot(pipeline, outputs, transcriber)


def settle() -> None:
    """What a bot holds before its meeting (modules, the model, the pipeline) lives as long as the bot:
    frozen, the garbage collector stops rescanning it on every collection during the meeting (about 8 %
    of the signal path's CPU in `rollcall bench ingest`)."""
    gc.collect()
    gc.freeze()
