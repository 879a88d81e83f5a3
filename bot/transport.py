"""The interface every transport (Zoom SDK, simulator) drives: one handler, the SDK's callback shapes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from analysis.events import MeetingEvent


class RawAudio(Protocol):
    """What the SDK's ``onOneWayAudioRawDataReceivedCallback`` hands over (``AudioRawData``)."""

    def GetBuffer(self) -> bytes: ...  # noqa: N802 - the SDK's names
    def GetSampleRate(self) -> int: ...  # noqa: N802
    def GetTimeStamp(self) -> float: ...  # noqa: N802 - media time of the first sample, ms


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A raw audio chunk with the SDK's ``AudioRawData`` accessors, stamped on our media clock: what the
    simulator delivers, and what the Zoom session hands on after stamping the SDK's chunks."""

    buffer: bytes
    sample_rate: int
    ts_ms: float

    def GetBuffer(self) -> bytes:  # noqa: N802 - the SDK's names
        return self.buffer

    def GetBufferLen(self) -> int:  # noqa: N802
        return len(self.buffer)

    def GetSampleRate(self) -> int:  # noqa: N802
        return self.sample_rate

    def GetChannelNum(self) -> int:  # noqa: N802
        return 1

    def GetTimeStamp(self) -> float:  # noqa: N802
        return self.ts_ms


class MeetingHandler(Protocol):
    def on_meeting_event(self, event: MeetingEvent) -> None:
        """A normalised roster/state event."""

    def on_one_way_audio(self, data: RawAudio, node_id: int) -> None:
        """One participant's raw PCM chunk. Must only copy and queue: it runs on the SDK's thread."""

    def on_media_time(self, t_s: float) -> None:
        """The media clock reached t_s: everything before it has been delivered."""
