"""The C++ ingest: resampling quality, framing on the media grid, gaps, consent, exact accounting."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from native import Ingest, Resampler

F30 = 480  # 30 ms at 16 kHz


def snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    err = got - ref
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-30)))


def sweep(rate: int, seconds: float, f0: float = 50.0, f1: float = 7000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * 32767 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2))


def push_all(ing: Ingest, stream: int, x: np.ndarray, rate: int, chunk: int, t0_ms: float = 0.0) -> None:
    pcm = np.clip(np.round(x), -32768, 32767).astype("<i2")
    for i in range(0, len(pcm), chunk):
        ing.push(stream, pcm[i:i + chunk].tobytes(), rate, t0_ms + i * 1000 / rate)


def collect(out: tuple) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A drain's frames per stream: {stream: (index, pcm, energy)}."""
    stream, idx, pcm, energy, _voice = out
    return {int(s): (idx[stream == s], pcm[stream == s], energy[stream == s]) for s in np.unique(stream)}


@pytest.mark.parametrize("rate", [32000, 48000])
def test_resampler_matches_resample_poly_on_a_sweep(rate: int) -> None:
    x = sweep(rate, 2.0)
    r = Resampler(rate)
    step = rate // 100
    y = np.concatenate([r.process(x[i:i + step].astype(np.float32)) for i in range(0, len(x), step)] + [r.flush()])
    ref = resample_poly(x, 1, rate // 16000)
    assert len(y) == len(ref)
    snr = snr_db(ref, y)
    print(f"sweep {rate} Hz -> 16 kHz: SNR vs resample_poly {snr:.1f} dB")
    assert snr >= 60


@pytest.mark.parametrize("rate", [32000, 48000])
def test_ingest_frames_match_resample_poly_on_speech(ami_dir, rate: int) -> None:
    speech16, sr = sf.read(str(ami_dir / "channels" / "source1.wav"), dtype="float64")
    assert sr == 16000
    speech = resample_poly(speech16[: 16000 * 10], rate // 16000, 1) * 32768  # what Zoom would deliver
    ing = Ingest(30, 20.0)
    push_all(ing, 7, speech, rate, rate // 100)  # 10 ms chunks, as the SDK sends them
    idx, pcm, energy = collect(ing.drain(flush=True))[7]
    assert np.array_equal(idx, np.arange(len(idx)))  # contiguous frames from t=0
    got = pcm.reshape(-1).astype(np.float64)
    ref = resample_poly(np.clip(np.round(speech), -32768, 32767), 1, rate // 16000)
    n = min(len(ref), len(got))
    snr = snr_db(ref[:n], got[:n])
    print(f"speech {rate} Hz -> 16 kHz through the ingest: SNR vs resample_poly {snr:.1f} dB")
    assert snr >= 60
    expected_energy = np.mean((pcm.astype(np.float64) / 32768) ** 2, axis=1)
    assert np.allclose(energy, expected_energy, rtol=1e-3, atol=1e-9)


def test_resampler_rejects_aliases() -> None:
    rate = 32000
    t = np.arange(rate) / rate
    tone = 0.5 * 32767 * np.sin(2 * np.pi * 12000 * t)  # above the 8 kHz output Nyquist
    r = Resampler(rate)
    y = np.concatenate([r.process(tone.astype(np.float32)), r.flush()])
    attenuation = 10 * np.log10(np.mean(y[200:-200] ** 2) / np.mean(tone**2))
    assert attenuation < -45, attenuation  # dropping every other sample would alias it to 4 kHz at 0 dB


def test_odd_byte_counts_are_counted_not_fatal() -> None:
    ing = Ingest(10, 5.0)
    data = np.arange(320, dtype="<i2").tobytes() + b"\x7f"
    assert ing.push(1, data, 32000, 0.0) == 320
    assert ing.push(1, b"\x01", 32000) == 0
    ing.drain(flush=True)
    st = ing.stats()[1]
    assert st["odd_bytes"] == 2
    assert st["pushed_samples"] == st["drained_samples"] == 320


def test_timestamp_gap_is_represented_and_small_jitter_is_not() -> None:
    ing = Ingest(30, 5.0)
    x = sweep(32000, 1.0)
    push_all(ing, 1, x, 32000, 320, t0_ms=0.0)
    push_all(ing, 1, x, 32000, 320, t0_ms=1000.0 + 1.5)  # 1.5 ms of clock jitter: continuous
    push_all(ing, 1, x, 32000, 320, t0_ms=2500.0)  # 500 ms without audio: a gap
    idx, _, _ = collect(ing.drain(flush=True))[1]
    assert ing.stats()[1]["gaps"] == 2  # the jump, and the end of stream
    missing = sorted(set(range(idx.max() + 1)) - set(idx.tolist()))
    last_before_gap = (2000 * 16 - 1) // F30  # the jittered second is placed right after the first
    assert missing == list(range(last_before_gap + 1, 2500 * 16 // F30))
    assert idx[-1] == (3500 * 16 - 1) // F30


def test_a_missing_chunk_leaves_silence_at_its_true_time() -> None:
    """Zoom sends nothing for a silent 10 ms: the audio after it must land exactly where it belongs."""
    ing = Ingest(30, 5.0)
    x = sweep(32000, 2.0)
    gapped = x.copy()
    gapped[50 * 320:51 * 320] = 0.0
    pcm = np.clip(np.round(x), -32768, 32767).astype("<i2")
    for i in range(0, len(pcm), 320):
        if i // 320 != 50:
            ing.push(1, pcm[i:i + 320].tobytes(), 32000, i / 32)
    _, got, _ = collect(ing.drain(flush=True))[1]
    ref = resample_poly(np.clip(np.round(gapped), -32768, 32767), 1, 2)
    got = got.reshape(-1).astype(np.float64)[:len(ref)]
    assert ing.stats()[1]["gaps"] == 2
    gap = slice(50 * 160, 51 * 160)  # the missing chunk at 16 kHz
    assert np.all(got[gap] == 0)  # silence, not smeared audio
    # Everything else is where it belongs (no drift), except the filter's ring-out and pre-ring at the
    # gap's edges, which a stream that stops and restarts does not have.
    keep = np.ones(len(ref), bool)
    keep[gap.start - 10:gap.stop + 10] = False
    assert snr_db(ref[keep], got[keep]) >= 60


def test_idle_stream_is_finished_at_the_media_clock() -> None:
    ing = Ingest(30, 5.0)
    push_all(ing, 3, sweep(32000, 0.1), 32000, 320)  # 100 ms: 3 full frames and a partial one
    idx, _, _ = collect(ing.drain(now_ms=105.0))[3]
    assert idx.tolist() == [0, 1, 2]  # partial frame waits while the stream may still be talking
    idx2, pcm, _ = collect(ing.drain(now_ms=200.0))[3]
    assert idx2.tolist() == [3]  # idle for more than a frame: the partial frame is emitted
    assert np.all(pcm[0, 200:] == 0)  # 90..100 ms real audio (+ filter tail), then silence


def test_rate_change_mid_stream() -> None:
    ing = Ingest(30, 5.0)
    t32 = np.arange(32000) / 32000
    t48 = np.arange(48000) / 48000
    push_all(ing, 1, 8000 * np.sin(2 * np.pi * 440 * t32), 32000, 320, t0_ms=0.0)
    push_all(ing, 1, 8000 * np.sin(2 * np.pi * 440 * t48), 48000, 480, t0_ms=1000.0)
    idx, pcm, _ = collect(ing.drain(flush=True))[1]
    st = ing.stats()[1]
    assert st["rate_changes"] == 1
    assert st["pushed_samples"] == st["drained_samples"] == 80000
    # Two seconds of 16 kHz output on the grid; the 440 Hz tone survives both rates.
    y = pcm.reshape(-1).astype(np.float64)
    assert abs(len(y) - 32000) <= F30
    for half in (y[2000:14000], y[18000:30000]):
        spectrum = np.abs(np.fft.rfft(half))
        assert abs(np.argmax(spectrum) * 16000 / len(half) - 440) < 3


def test_opted_out_participant_is_dropped_before_buffering() -> None:
    ing = Ingest(30, 5.0)
    ing.set_consent(9, False)
    chunk = (np.ones(320) * 1000).astype("<i2").tobytes()
    assert ing.push(9, chunk, 32000, 0.0) == 0
    ing.push(2, chunk, 32000, 0.0)
    out = collect(ing.drain(flush=True))
    assert 9 not in out and 2 in out
    st = ing.stats()[9]
    assert st["dropped_consent_samples"] == 320 and st["drained_samples"] == 0 and st["buffered_samples"] == 0


def test_opting_out_mid_stream_discards_what_is_buffered() -> None:
    ing = Ingest(30, 5.0)
    chunk = (np.ones(320) * 1000).astype("<i2").tobytes()
    for i in range(5):
        ing.push(4, chunk, 32000, i * 10.0)
    ing.set_consent(4, False)
    ing.push(4, chunk, 32000, 50.0)
    assert collect(ing.drain(flush=True)) == {}
    st = ing.stats()[4]
    assert st["dropped_consent_samples"] == 6 * 320 and st["drained_samples"] == 0


def test_overflow_drops_the_oldest_audio_and_keeps_time() -> None:
    ing = Ingest(30, capacity_s=0.5)
    push_all(ing, 1, sweep(32000, 2.0), 32000, 320)  # 2 s into a 0.5 s ring, no drain in between
    idx, _, _ = collect(ing.drain(flush=True))[1]
    st = ing.stats()[1]
    assert st["dropped_overflow_samples"] == 48000
    assert st["pushed_samples"] == st["drained_samples"] + st["dropped_overflow_samples"]
    assert idx[0] == 1500 * 16 // F30  # what is left is the last 0.5 s, at its own media time


def test_threaded_producers_account_for_every_sample() -> None:
    ing = Ingest(20, capacity_s=0.3)
    rng = np.random.default_rng(1)
    payload = rng.integers(-20000, 20000, 48000 * 4).astype("<i2").tobytes()
    n_threads, pushes = 6, 1500
    stop = threading.Event()
    frames_seen: dict[int, int] = {}
    sent = [0] * n_threads

    as_array = np.frombuffer(payload, dtype=np.uint8)

    def producer(k: int) -> None:
        r = np.random.default_rng(100 + k)
        rate = 32000 if k % 2 else 48000
        stream = k % 4  # two threads share some streams
        ts = 0.0
        for i in range(pushes):
            nbytes = int(r.integers(1, 2000))  # odd sizes too
            # numpy buffers take the path that releases the GIL, so producers really run in parallel
            data = as_array[:nbytes] if i % 2 else payload[:nbytes]
            ing.push(stream, data, rate, float("nan") if r.random() < 0.5 else ts)
            sent[k] += nbytes // 2
            ts += (nbytes // 2) * 1000 / rate
            if k == 5 and i % 300 == 150:
                ing.set_consent(3, i % 600 != 150)  # stream 3 opts out and back in while others push

    def consumer() -> None:
        while not stop.is_set():
            streams, idx, pcm, energy, _voice = ing.drain()
            assert pcm.shape == (len(idx), 320) and energy.shape == idx.shape == streams.shape
            for stream in streams.tolist():
                frames_seen[stream] = frames_seen.get(stream, 0) + 1

    c = threading.Thread(target=consumer)
    c.start()
    producers = [threading.Thread(target=producer, args=(k,)) for k in range(n_threads)]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    stop.set()
    c.join()
    for stream in ing.drain(flush=True)[0].tolist():
        frames_seen[stream] = frames_seen.get(stream, 0) + 1
    stats = ing.stats()
    assert sum(st["pushed_samples"] for st in stats.values()) == sum(sent)
    for stream, st in stats.items():
        assert st["buffered_samples"] == 0
        assert st["pushed_samples"] == st["drained_samples"] + st["dropped_overflow_samples"] + st["dropped_consent_samples"]
        assert st["frames"] == frames_seen.get(stream, 0)
    assert sum(st["dropped_overflow_samples"] for st in stats.values()) > 0  # the bound was exercised


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="frame_ms"):
        Ingest(25, 1.0)
    ing = Ingest(30, 1.0)
    with pytest.raises(ValueError, match="sample rate"):
        ing.push(1, b"\x00\x00", 0, 0.0)
    with pytest.raises(ValueError, match="sample rate"):
        ing.push(1, b"\x00\x00", 191_999, 0.0)  # would need a filter with millions of taps
    with pytest.raises(ValueError, match="ts_ms"):
        ing.push(1, b"\x00\x00", 32000, float("inf"))
    with pytest.raises(ValueError, match="ts_ms"):
        ing.push(1, b"\x00\x00", 32000, 1.7e15)
    with pytest.raises(TypeError):
        ing.push(1, b"\x00\x00")
    assert 1 not in ing.stats()  # a refused chunk creates nothing and is counted nowhere as pushed


def _voice_reference(pcm16: np.ndarray) -> np.ndarray:
    """Voice-band energy per 30 ms frame computed independently: pairs averaged to 8 kHz, then scipy's
    4th-order Butterworth high-pass at 300 Hz run continuously."""
    from scipy.signal import butter, sosfilt

    x = pcm16.astype(np.float64)
    x8 = 0.5 * (x[0::2] + x[1::2])
    y = sosfilt(butter(4, 300, btype="high", fs=8000, output="sos"), x8)
    n = len(y) // 240
    return np.mean((y[: n * 240].reshape(n, 240) / 32768.0) ** 2, axis=1)


def test_voice_band_energy_matches_a_continuous_reference(ami_dir) -> None:
    speech, _ = sf.read(str(ami_dir / "channels" / "source3.wav"), dtype="int16")
    ing = Ingest(30, 20.0)
    ing.push(0, speech[: 16000 * 10].tobytes(), 16000, 0.0)
    _, idx, pcm, energy, voice = ing.drain(flush=True)
    ref = _voice_reference(pcm.reshape(-1))
    loud = energy > 1e-6  # where the comparison means something (well above int16 rounding)
    assert loud.sum() > 100
    err_db = 10 * np.log10(voice[loud] / ref[loud])
    assert np.percentile(np.abs(err_db), 99) < 0.1, np.percentile(np.abs(err_db), [50, 99, 100])
    tone = (8000 * np.sin(2 * np.pi * 100 * np.arange(16000) / 16000)).astype("<i2")  # below the band
    ing2 = Ingest(30, 5.0)
    ing2.push(0, tone.tobytes(), 16000, 0.0)
    _, _, _, e, v = ing2.drain(flush=True)
    assert np.all(10 * np.log10(v[5:-1] / e[5:-1]) < -30)  # a 100 Hz hum is not voice (the last frame holds the cut-off click)


def test_voice_band_energy_does_not_depend_on_the_drain_cadence(ami_dir) -> None:
    speech, _ = sf.read(str(ami_dir / "channels" / "source1.wav"), dtype="int16")
    x = np.repeat(speech[: 16000 * 4], 2)  # at 32 kHz
    results = []
    for every in (1, 7, 10_000):
        ing = Ingest(30, 20.0)
        parts = []
        for i in range(0, len(x), 320):
            ing.push(0, x[i:i + 320].tobytes(), 32000, i / 32)
            if (i // 320) % every == 0:
                parts.append(ing.drain(now_ms=i / 32))
        parts.append(ing.drain(flush=True))
        results.append((np.concatenate([p[1] for p in parts]), np.concatenate([p[4] for p in parts])))
    for idx, voice in results[1:]:
        assert np.array_equal(idx, results[0][0]) and np.array_equal(voice, results[0][1])
