"""Conditions a participant's microphone audio meets before it reaches the bot, for the robustness
benchmark and tests (a development tool; nothing in the product imports it): a different gain, Zoom's
Opus round trip, steady noise and babble at a set SNR, a reverberant far-field room, the other
participants leaking into one microphone, and a television playing speech in the background.

Signals are float mono at ``RATE`` (16 kHz), full scale ±1. Every random choice comes from a seeded
generator, so a condition is the same signal on every run. Levels are active speech levels
(:func:`active_level_db`), so "SNR 10 dB" and "30 dB below the meeting" mean the same on any recording.
"""
from __future__ import annotations

from collections.abc import Sequence

import av
import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

RATE = 16000
_FRAME = RATE * 30 // 1000  # level measurement frames: 30 ms
_OPUS_PRE_SKIP = 312  # libopus's look-ahead at 48 kHz (the pre-skip its Ogg headers carry)


def db(x: float) -> float:
    return 10 ** (x / 20)


def active_level_db(x: np.ndarray) -> float:
    """Active speech level in dBFS, in the spirit of ITU-T P.56: the mean power of the 30 ms frames that
    lie within 25 dB of the loudest 1 % (pauses and the noise floor do not dilute it)."""
    n = len(x) // _FRAME
    if n == 0:
        return -120.0
    power = np.mean(x[:n * _FRAME].reshape(n, _FRAME).astype(np.float64) ** 2, axis=1) + 1e-15
    frames_db = 10 * np.log10(power)
    active = frames_db >= np.percentile(frames_db, 99) - 25.0
    return float(10 * np.log10(np.mean(power[active])))


def with_gain(x: np.ndarray, gain_db: float) -> np.ndarray:
    return (x * db(gain_db)).astype(np.float32)


def quantise(x: np.ndarray) -> np.ndarray:
    """As the SDK delivers it: 16-bit PCM (clipped at full scale, rounded)."""
    return (np.clip(np.round(x * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)


def opus_round_trip(x: np.ndarray, kbps: int) -> np.ndarray:
    """Encode with libopus (VoIP mode, 20 ms frames, ``kbps`` kb/s, at 48 kHz as Zoom's client does) and
    decode again, time-aligned with the input (the encoder's look-ahead removed)."""
    up = resample_poly(x, 3, 1).astype(np.float32)
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format, enc.bit_rate = 48000, "mono", "flt", kbps * 1000
    enc.options = {"application": "voip"}
    enc.open()
    dec = av.CodecContext.create("libopus", "r")
    dec.sample_rate, dec.layout = 48000, "mono"
    dec.open()
    n, out = enc.frame_size, []
    padded = np.pad(up, (0, -len(up) % n))
    for i in range(0, len(padded), n):
        frame = av.AudioFrame.from_ndarray(padded[None, i:i + n], format="flt", layout="mono")
        frame.sample_rate, frame.pts = 48000, i
        out += [d for p in enc.encode(frame) for d in dec.decode(p)]
    out += [d for p in enc.encode(None) for d in dec.decode(p)]
    decoded = np.concatenate([_as_float(d.to_ndarray()) for d in out])
    decoded = decoded[_OPUS_PRE_SKIP:][:len(up)]
    return resample_poly(np.pad(decoded, (0, len(up) - len(decoded))), 1, 3).astype(np.float32)


def _as_float(a: np.ndarray) -> np.ndarray:
    a = a.reshape(-1)
    return a.astype(np.float32) / 32768.0 if a.dtype == np.int16 else a.astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise (3 dB per octave down), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0
    y = np.fft.irfft(spectrum, n)
    return (y / np.sqrt(np.mean(y ** 2))).astype(np.float32)


def fan_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """A desk fan or air conditioning: low-passed broadband noise with a motor hum and its harmonics that
    wander slowly in level, unit RMS."""
    air = sosfilt(butter(2, 900, "low", fs=RATE, output="sos"), rng.standard_normal(n))
    t = np.arange(n) / RATE
    wobble = 1 + 0.2 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 2 * np.pi))
    hum = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) / k for k, f in enumerate((120, 240, 360), 1))
    y = air / np.std(air) + 0.5 * wobble * hum / np.std(hum)
    return (y / np.sqrt(np.mean(y ** 2))).astype(np.float32)


def babble(n: int, sources: Sequence[np.ndarray], rng: np.random.Generator, talkers: int = 6) -> np.ndarray:
    """A room of ``talkers`` people talking among themselves (each a random speech source looped from a
    random point, at random levels within ±3 dB), unit RMS."""
    y = np.zeros(n)
    for _ in range(talkers):
        s = sources[rng.integers(len(sources))]
        s = s / np.sqrt(np.mean(s ** 2) + 1e-12)
        start = int(rng.integers(len(s)))
        y += db(rng.uniform(-3, 3)) * np.resize(np.roll(s, -start), n)
    return (y / np.sqrt(np.mean(y ** 2))).astype(np.float32)


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x`` plus ``noise`` scaled so that ``x``'s active speech level is ``snr_db`` above the noise's RMS."""
    rms_db = 10 * np.log10(np.mean(noise.astype(np.float64) ** 2) + 1e-15)
    return (x + noise * db(active_level_db(x) - snr_db - rms_db)).astype(np.float32)


def room_response(rng: np.random.Generator, rt60_s: float = 0.6, drr_db: float = -3.0) -> np.ndarray:
    """A synthetic room impulse response: a direct path, then exponentially decaying noise (reverberation
    time ``rt60_s``) whose energy is ``-drr_db`` dB relative to the direct path (a microphone across the
    room hears more room than voice: negative direct-to-reverberant ratio)."""
    n = int(rt60_s * 1.2 * RATE)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # 60 dB down at rt60_s
    tail[: int(0.003 * RATE)] = 0  # the first reflections arrive a few ms after the direct sound
    tail *= db(-drr_db) / np.sqrt(np.sum(tail ** 2))
    tail[0] = 1.0
    return tail


def far_field(x: np.ndarray, rng: np.random.Generator, rt60_s: float = 0.6, drr_db: float = -3.0) -> np.ndarray:
    """``x`` as a laptop microphone across a reverberant room hears it, at the same active level."""
    y = fftconvolve(x, room_response(rng, rt60_s, drr_db))[: len(x)]
    return (y * db(active_level_db(x) - active_level_db(y))).astype(np.float32)


def leaking(own: np.ndarray, others: Sequence[np.ndarray], leak_db: float, delay_ms: float = 8.0) -> np.ndarray:
    """``own`` plus every other participant's signal ``leak_db`` below its own level, a little later (a
    shared room: this microphone picks up everyone)."""
    d = int(delay_ms * RATE / 1000)
    y = own.astype(np.float64).copy()
    for o in others:
        y[d:] += db(leak_db) * o[: len(y) - d]
    return y.astype(np.float32)


def television(n: int, sources: Sequence[np.ndarray], rng: np.random.Generator, level_db: float,
               floor_db: float) -> np.ndarray:
    """A participant who never speaks, unmuted in a room where a television plays speech: one talker at a
    time (the sources one after another, as a programme), through a small loudspeaker (150 Hz–6 kHz) and
    the room, at active level ``level_db`` dBFS, over a room noise floor at ``floor_db`` dBFS RMS."""
    order = rng.permutation(len(sources))
    speech = np.concatenate([np.r_[sources[i], np.zeros(int(rng.uniform(0.2, 0.8) * RATE))] for i in order])
    speech = np.resize(speech, n)
    band = sosfilt(butter(2, [150, 6000], "band", fs=RATE, output="sos"), speech)
    tv = fftconvolve(band, room_response(rng, 0.5, 0.0))[:n]
    tv *= db(level_db - active_level_db(tv))
    return (tv + pink_noise(n, rng) * db(floor_db)).astype(np.float32)
