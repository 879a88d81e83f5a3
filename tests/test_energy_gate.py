"""The energy gate: the C++ one (what the bot runs) makes exactly the numpy reference's decisions, frame by
frame; decisions do not depend on how often the detector is asked."""
from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest
import soundfile as sf
from conftest import AMI_DIR, require_shared_data

import native
from analysis.energy_gate import EnergyGate
from analysis.frames import FrameBatch
from analysis.talk_detector import TalkConfig, TalkDetector
from native import Ingest

AMI_FILES = ["source0.wav", "source1.wav", "source2.wav", "source3.wav"]
# the defaults, with low caps so that halving happens
PARAMS = asdict(replace(TalkConfig().gate_params(), margin=10 ** 0.5, max_tilt=10 ** 1.9, prior_weight=3.0, cap=300.0,
                        level_cap=150.0))


def ami_frames(seconds: float = 40.0) -> tuple[list[str], FrameBatch]:
    require_shared_data(AMI_DIR)
    keys = [f"ch{i}" for i in range(len(AMI_FILES))]
    ing = Ingest(30, seconds + 1)
    for s, name in enumerate(AMI_FILES):
        x, sr = sf.read(str(AMI_DIR / "channels" / name), dtype="float64")
        pcm = np.clip(np.rint(x[: int(seconds * sr)] * 32768), -32768, 32767).astype("<i2")
        ing.push(s, pcm.tobytes(), sr, 0.0)
    return keys, FrameBatch(keys, *ing.drain(flush=True))


def perturbed_rows(b: FrameBatch, rng: np.random.Generator):
    """The rows of a batch as (channel, index, voice, full, pcm), with what live audio brings: frames missing
    (silence suppression below -55 dBFS on channel 2, a network gap on channel 0), channel 3 joining
    20 s late, and some frames delivered twice."""
    keep = ~((b.stream == 2) & (b.energy < 10 ** -5.5))
    keep &= ~((b.stream == 0) & (b.index >= 300) & (b.index < 340))
    keep &= ~((b.stream == 3) & (b.index < 667))
    idx = np.flatnonzero(keep)
    dup = rng.choice(idx, size=40, replace=False)
    idx = np.sort(np.concatenate([idx, dup]), kind="stable")
    # channel 1 at -30 dB and channel 3 at -45 dB: quiet microphones, and one far below the meeting
    scale = np.array([1.0, 1e-3, 1.0, 10 ** -4.5])[b.stream[idx]]
    pcm = np.rint(b.pcm[idx] * np.sqrt(scale)[:, None]).astype(np.int16)
    return (b.stream[idx].astype(np.int64), b.index[idx], b.voice_energy[idx].astype(np.float64) * scale,
            b.energy[idx].astype(np.float64) * scale, pcm)


def test_native_gate_makes_the_reference_decisions_frame_by_frame():
    _, b = ami_frames()
    channel, index, voice, full, pcm = perturbed_rows(b, np.random.default_rng(1))
    gates = [EnergyGate(**PARAMS), native.EnergyGate(**PARAMS)]
    for g in gates:
        for _ in range(3):
            g.add_channel()
    last = int(index.max()) + 1
    start, step, calls, total = 0, 0, 0, 0
    sizes = [1, 9, 4, 31, 2, 64, 7]
    while start < last:
        n = min(sizes[calls % len(sizes)], last - start)
        calls += 1
        if start >= 600 and gates[0].channels == 3:  # the fourth participant appears mid-meeting
            for g in gates:
                g.add_channel()
        sel = (index >= start - 5) & (index < start + n + 5)  # rows outside [start, start + n) too
        sel &= (channel < gates[0].channels)
        args = (channel[sel], index[sel] - start, voice[sel], full[sel], n, pcm[sel])
        (ref, ref_pcm, ref_snr), (got, got_pcm, got_snr) = gates[0].process(*args), gates[1].process(*args)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(got_pcm, ref_pcm)  # the same gain, sample for sample
        np.testing.assert_allclose(got_snr, ref_snr, rtol=1e-12)
        total += len(ref)
        start += n
    assert total > 500  # a real amount of speech went through
    np.testing.assert_allclose(gates[1].gains(), gates[0].gains(), rtol=1e-12)
    assert (gates[1].gains() > 10 ** -2.9).sum() >= 4  # couplings were learned, not just the prior
    ref, got = gates[0].stats(), gates[1].stats()
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-12, err_msg=name)
    assert ref["has_level"].all() and ref["has_background"].any()
    assert ref["frames"].sum() == total
    assert list(ref["relevant"]) == [True, True, True, False]  # 45 dB below the others: background


def test_detector_decisions_do_not_depend_on_the_step():
    keys, b = ami_frames(30.0)
    results = []
    for step_s in (0.03, 0.24, 1.92):
        det = TalkDetector(TalkConfig(step_s=step_s), gate=native.EnergyGate)
        segs = []
        for lo in range(0, 1000, 4):  # 120 ms drains, as the pipeline would
            sel = (b.index >= lo) & (b.index < lo + 4)
            det.push(b.select(sel))
            segs += det.advance(lo + 4)
        segs += det.finish()
        results.append(sorted(segs, key=lambda s: (s.start_s, s.key)))
    assert len(results[0]) > 10
    assert results[0] == results[1] == results[2]


def test_native_gate_rejects_bad_rows():
    g = native.EnergyGate(**PARAMS)
    g.add_channel()
    one, frame = np.zeros(1), np.zeros((1, 160), dtype=np.int16)
    with pytest.raises(ValueError, match="channel"):
        g.process(np.array([1]), np.array([0]), one, one, 1, frame)
    with pytest.raises(ValueError, match="one length"):
        g.process(np.array([0, 0]), np.array([0]), one, one, 1, frame)
    with pytest.raises(ValueError, match="pcm"):
        g.process(np.array([0]), np.array([0]), one, one, 1, np.zeros((2, 160), dtype=np.int16))
    assert len(g.process(np.array([0]), np.array([5]), one, one, 1, frame)[0]) == 0  # outside: ignored
