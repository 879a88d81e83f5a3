"""Whether a participant's talk time can be trusted, and if not, why: an error that looks precise is worse
than an honest "doubtful". From what the talk detector measured of the channel (its speech level against
its noise floor and against the meeting, the leakage it hears, clipping, background speech it did not
count) and from the stretches the bot could not hear. Definitions in docs/metrics.md."""
from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from pydantic import BaseModel


class Doubt(str, Enum):
    """Why a talk time is doubtful."""

    NEAR_NOISE_FLOOR = "near_noise_floor"
    """The voice stands less than ``FLOOR_DB`` above the channel's noise floor: weak syllables are lost."""
    QUIET_MICROPHONE = "quiet_microphone"
    """The channel is more than ``QUIET_DB`` quieter than the meeting's loud end: close to being taken for
    background."""
    HEAVY_LEAKAGE = "heavy_leakage"
    """The microphone hears another participant within ``LEAK_DB`` of that participant's own level: talk
    over them is hard to tell from their voice."""
    CLIPPING = "clipping"
    """More than ``CLIP_SHARE`` of the channel's speech frames are clipped: the microphone is overdriven."""
    AUDIO_GAPS = "audio_gaps"
    """No audio for more than ``GAP_SHARE`` of the participant's time in the meeting (no permission to
    record, reconnecting, breakout rooms, lost audio): talk there is not measured."""
    BACKGROUND_SPEECH = "background_speech"
    """Speech-like sound far below the meeting's level (a television, a radio, someone in the room) was
    heard on this channel and not counted as talk."""


FLOOR_DB = 20.0
QUIET_DB = 18.0
LEAK_DB = -12.0
CLIP_SHARE = 0.02
GAP_SHARE = 0.10
BACKGROUND_S = 2.0


class ChannelStats(NamedTuple):
    """What the talk detector measured of one participant's channel."""

    snr_db: float | None  # speech level over the noise floor (voice band); None before a level is known
    below_meeting_db: float | None  # how far the channel's level is below the meeting's loud end
    leak_db: float  # the strongest coupling from another participant into this microphone, dB
    clipped_share: float  # share of the channel's candidate frames with clipped samples
    background_s: float  # speech-like audio heard but not counted (the channel was background)


class TalkReliability(BaseModel):
    reliable: bool
    doubts: list[Doubt]


def assess(stats: ChannelStats | None, present_s: float, unheard_s: float) -> TalkReliability:
    """The verdict for one participant. ``unheard_s``: their time present in stretches the bot could not
    hear (the report's gaps)."""
    doubts: list[Doubt] = []
    if stats is not None:
        if stats.snr_db is not None and stats.snr_db < FLOOR_DB:
            doubts.append(Doubt.NEAR_NOISE_FLOOR)
        if stats.below_meeting_db is not None and stats.below_meeting_db > QUIET_DB:
            doubts.append(Doubt.QUIET_MICROPHONE)
        if stats.leak_db > LEAK_DB:
            doubts.append(Doubt.HEAVY_LEAKAGE)
        if stats.clipped_share > CLIP_SHARE:
            doubts.append(Doubt.CLIPPING)
        if stats.background_s >= BACKGROUND_S:
            doubts.append(Doubt.BACKGROUND_SPEECH)
    if present_s > 0 and unheard_s > GAP_SHARE * present_s:
        doubts.append(Doubt.AUDIO_GAPS)
    return TalkReliability(reliable=not doubts, doubts=doubts)
