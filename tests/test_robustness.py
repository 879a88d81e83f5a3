"""Talk time that holds on any microphone (issue 13): a few of `rollcall bench robustness`'s conditions, held
to the same limits, so that a regression fails CI. Built from the shared AMI minute (real speech, human
reference) with the benchmark's own condition builders; a fifth participant never speaks and sits near a
television 30 dB below the meeting."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import AMI_DIR, require_shared_data

from analysis import presence as iv
from analysis.reliability import Doubt, assess
from analysis.talk_detector import TalkConfig
from bot.bench import audio_conditions as ac
from bot.bench import robustness as bench


@pytest.fixture(scope="module")
def ami():
    require_shared_data(AMI_DIR)
    return bench.ami_minute(bench.speech_sources())


def condition(name: str) -> bench.Condition:
    return next(c for c in bench.conditions() if c.name == name)


@pytest.mark.parametrize("name", ["all -30 dB", "all -40 dB", "all +6 dB", "mixed +6 / -14 / -10 / +0",
                                  "mixed -30 / -40 / -24 / -20", "Opus 16 kb/s", "fan SNR 20 dB on speaker 1",
                                  "speaker 1 hears everyone at -10 dB"])
def test_talk_time_does_not_depend_on_the_microphone_level_the_codec_noise_or_leakage(ami, name):
    """A voice heard loudly in another microphone is leakage that microphone's owner talks over, not a
    background that hides them; a fan's steady noise is the floor."""
    result = bench.run(ami, condition(name))
    verdicts = bench.within_limits(result)
    assert all(verdicts.values()), {k: round(e, 2) for k, e in result.errors.items()}
    assert result.errors[bench.TV] <= 0.5  # the television is not talk, at any level


def test_the_same_meeting_at_any_gain_gives_the_same_talk_time(ami):
    totals = []
    for gain in (6.0, -10.0, -25.0):  # well above 16-bit quantisation (at -40 dB the quietest is not)
        segments = bench.detect({k: ac.with_gain(x, gain) for k, x in ami.channels.items()})
        totals.append({k: sum(s.duration_s for s in v) for k, v in segments.items()})
    for key in ami.channels:
        values = [t[key] for t in totals]
        assert max(values) - min(values) <= max(0.08 * max(values), 0.3), (key, values)


def _stats(channels: dict[str, np.ndarray]):
    from analysis.frames import FrameBatch
    from analysis.talk_detector import TalkDetector
    from native import EnergyGate, Ingest

    keys = list(channels)
    ingest = Ingest(30, 70.0)
    for s, key in enumerate(keys):
        ingest.push(s, (ac.quantise(channels[key]) * 32768).astype("<i2").tobytes(), ac.RATE, 0.0)
    detector = TalkDetector(TalkConfig(), gate=EnergyGate)
    detector.push(FrameBatch(keys, *ingest.drain(flush=True)))
    detector.finish()
    return {k: detector.channel_stats(k) for k in keys}


def test_a_doubtful_talk_time_says_why(ami):
    rng = np.random.default_rng(3)
    noisy = dict(ami.channels)
    x = noisy["FEE016"]
    noisy["FEE016"] = ac.add_noise(x, ac.pink_noise(len(x), rng), 10.0)  # speech 10 dB above pink noise
    noisy["FEE013"] = ac.leaking(ami.channels["FEE013"], [v for k, v in ami.channels.items() if k != "FEE013"], -6.0)
    noisy["MEO015"] = ac.with_gain(ami.channels["MEO015"], 24.0)  # overdriven: clips
    noisy = bench._with_tv(ami, noisy)
    doubts = {k: assess(s, 60.0, 0.0).doubts for k, s in _stats(noisy).items()}
    assert Doubt.NEAR_NOISE_FLOOR in doubts["FEE016"]
    assert Doubt.HEAVY_LEAKAGE in doubts["FEE013"]
    assert Doubt.CLIPPING in doubts["MEO015"]
    assert Doubt.BACKGROUND_SPEECH in doubts[bench.TV]
    clean = {k: assess(s, 60.0, 0.0) for k, s in _stats(dict(ami.channels)).items()}
    assert all(r.reliable for r in clean.values()), clean  # the AMI minute's headsets are fine
    assert assess(None, 600.0, 90.0).doubts == [Doubt.AUDIO_GAPS]  # 15 % of their time unheard


def test_the_overlap_heavy_meeting_is_within_a_second_per_minute(tmp_path):
    require_shared_data(AMI_DIR)
    meeting = bench.overlap_meeting(bench.speech_sources(), tmp_path)
    result = bench.run(meeting, condition("all +0 dB"))
    assert all(abs(e) <= result.minutes for e in result.errors.values()), result.errors
    measured, truth = result.overlap
    assert truth > 0.2 * 60 * result.minutes and abs(measured - truth) <= 0.15 * truth
    assert iv.total(iv.union(meeting.truth["p1"])) > 30  # a real amount of speech each
