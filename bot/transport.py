"""The interface every transport (Zoom SDK, simulator) drives: one handler, the SDK's callback shapes."""
from __future__ import annotations

from typing import Protocol

from analysis.events import MeetingEvent


class RawAudio(Protocol):
    """What the SDK's ``onOneWayAudioRawDataReceivedCallback`` hands over (``AudioRawData``)."""

    def GetBuffer(self) -> bytes: ...  # noqa: N802 - the SDK's names
    def GetSampleRate(self) -> int: ...  # noqa: N802
    def GetTimeStamp(self) -> float: ...  # noqa: N802 - media time of the first sample, ms


class MeetingHandler(Protocol):
    def on_meeting_event(self, event: MeetingEvent) -> None:
        """A normalised roster/state event."""

    def on_one_way_audio(self, data: RawAudio, node_id: int) -> None:
        """One participant's raw PCM chunk. Must only copy and queue: it runs on the SDK's thread."""

    def on_media_time(self, t_s: float) -> None:
        """The media clock reached t_s: everything before it has been delivered."""
