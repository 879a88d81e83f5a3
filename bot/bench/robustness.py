"""`rollcall bench robustness`: talk time on meetings nobody tuned for.

The talk detector runs on every condition of ``bot.bench.audio_conditions`` built from real human speech (the
shared AMI minute, against its human reference) and from a generated overlap-heavy meeting (against the
generator's exact truth): each channel's gain (all at once, and different per channel), Zoom's Opus round
trip, fan, pink and babble noise on one channel, a reverberant far-field channel, a microphone that picks
up everyone else, and in every condition a fifth participant who never speaks but sits near a television.
One table: per condition, each participant's error in seconds, and the mean and worst absolute error per
minute of meeting; then the issue's acceptance checks.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.console import Console
from rich.table import Table
from scipy.signal import resample_poly

from analysis import presence as iv
from analysis.events import SpeechSegment
from analysis.frames import FrameBatch
from analysis.talk_detector import TalkConfig, TalkDetector
from analysis.talk_metrics import compute_talk_metrics
from bot.bench import audio_conditions as ac
from bot.bench.talk import AMI, AMI_CHANNELS, QUIET, rttm_turns
from bot.generator.scenario_gen import SCRIPTS, cache_dir, generate
from native import EnergyGate, Ingest

ASR = AMI.parents[1] / "asr"
OVERLAP_SCRIPT = SCRIPTS / "overlap_meeting.yaml"
TV = "TV"  # the participant who never speaks, near a television 30 dB below the meeting
TV_BELOW_DB, FLOOR_BELOW_DB = 30.0, 45.0
MAIN = ("FEE013", "FEE016", "MEO015")  # the AMI minute's three main speakers

Channels = dict[str, np.ndarray]


@dataclass(frozen=True)
class Material:
    """What the conditions are built from: a meeting's clean channels, its truth, and speech sources."""

    name: str
    channels: Channels
    truth: dict[str, list[tuple[float, float]]]  # each participant's speech
    sources: list[np.ndarray]  # other speech, for babble and the television
    minutes: float


@dataclass(frozen=True)
class Condition:
    group: str  # gain | mixed | codec | suppression | noise | room | leakage
    name: str
    build: Callable[[Material, np.random.Generator], Channels]
    suppress_dbfs: float | None = None  # Zoom's silence suppression: 10 ms chunks quieter than this are not sent


@dataclass(frozen=True)
class Result:
    material: str
    condition: Condition
    errors: dict[str, float]  # measured − truth, seconds
    overlap: tuple[float, float]  # (measured, truth) seconds of two or more talking
    minutes: float

    def per_minute(self, keys: Iterable[str] | None = None) -> list[float]:
        return [abs(self.errors[k]) / self.minutes for k in (keys or self.errors)]


def detect(channels: Channels, config: TalkConfig | None = None, gate=EnergyGate,
           suppress_dbfs: float | None = None) -> dict[str, list[SpeechSegment]]:
    """The product's talk detector (native ingest at 16 kHz → energy gate in C++ → webrtcvad → turns) on
    whole channels, as 16-bit PCM; with ``suppress_dbfs``, as Zoom sends them: 10 ms chunks, none for
    those quieter than that."""
    cfg = config or TalkConfig()
    keys = list(channels)
    ingest = Ingest(cfg.frame_ms, max(len(x) for x in channels.values()) / ac.RATE + 1.0)
    chunk = ac.RATE // 100
    for s, key in enumerate(keys):
        pcm = (ac.quantise(channels[key]) * 32768).astype("<i2")
        if suppress_dbfs is None:
            ingest.push(s, pcm.tobytes(), ac.RATE, 0.0)
            continue
        n = len(pcm) // chunk
        rms_db = 10 * np.log10(np.mean((pcm[:n * chunk].reshape(n, chunk) / 32768.0) ** 2, axis=1) + 1e-15)
        for i in np.flatnonzero(rms_db >= suppress_dbfs):
            ingest.push(s, pcm[i * chunk:(i + 1) * chunk].tobytes(), ac.RATE, i * 10.0)
    detector = TalkDetector(cfg, gate=gate)
    detector.push(FrameBatch(keys, *ingest.drain(flush=True)))
    out: dict[str, list[SpeechSegment]] = {k: [] for k in keys}
    for seg in detector.finish():
        out[seg.key].append(seg)
    return out


def _overlap(spans: dict[str, list[tuple[float, float]]]) -> float:
    return iv.total(iv.depth_at_least([iv.union(v) for v in spans.values() if v], 2))


def run(material: Material, condition: Condition, seed: int = 0, config: TalkConfig | None = None,
        gate=EnergyGate) -> Result:
    channels = condition.build(material, np.random.default_rng(seed))
    segments = detect(channels, config, gate, condition.suppress_dbfs)
    talk = {k: sum(s.duration_s for s in v) for k, v in segments.items()}
    truth = {k: iv.total(iv.union(material.truth.get(k, []))) for k in channels}
    window = (0.0, material.minutes * 60.0)
    measured_overlap = compute_talk_metrics(segments, window=window).overlap_s
    return Result(material.name, condition, {k: talk[k] - truth[k] for k in channels},
                  (measured_overlap, _overlap(material.truth)), material.minutes)


# ---- materials -------------------------------------------------------------------------------
def _load(path: Path) -> np.ndarray:
    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    return resample_poly(x, ac.RATE, rate).astype(np.float32) if rate != ac.RATE else x


def speech_sources() -> list[np.ndarray]:
    """The shared ASR set's utterances (read and spontaneous speech, many voices) at 16 kHz."""
    return [_load(p) for p in sorted(ASR.iterdir()) if p.suffix in (".wav", ".flac")]


def ami_minute(sources: list[np.ndarray]) -> Material:
    channels = {k: _load(AMI / "channels" / f) for k, f in AMI_CHANNELS.items()}
    return Material("AMI minute", channels, rttm_turns(AMI / "reference.rttm"), sources, 1.0)


def overlap_meeting(sources: list[np.ndarray], cache: Path) -> Material:
    """The generated overlap-heavy meeting (built once into ``cache``)."""

    scenario = generate(OVERLAP_SCRIPT, cache / "overlap_meeting")
    truth = json.loads((scenario.parent / "truth.json").read_text())
    channels = {k: _load(scenario.parent / "channels" / f"{k}.wav") for k in truth["participants"]}
    spans = {k: [tuple(s) for s in p["speech"]] for k, p in truth["participants"].items()}
    return Material("overlap meeting", channels, spans, sources, truth["meeting"]["duration_s"] / 60.0)


# ---- conditions ------------------------------------------------------------------------------
def _with_tv(m: Material, channels: Channels) -> Channels:
    """The condition's channels plus the television participant, 30 dB below the condition's meeting
    speech level (the median of its speakers' levels); the same programme in every condition."""
    n = len(next(iter(channels.values())))
    level = float(np.median([ac.active_level_db(x) for k, x in channels.items() if m.truth.get(k)]))
    tv = ac.television(n, m.sources, np.random.default_rng(1), level - TV_BELOW_DB, level - FLOOR_BELOW_DB)
    return {**channels, TV: tv}


def _gain(db: float) -> Condition:
    return Condition("gain", f"all {db:+.0f} dB", lambda m, rng: _with_tv(
        m, {k: ac.with_gain(x, db) for k, x in m.channels.items()}))


def _mixed(gains: tuple[float, ...]) -> Condition:
    """Different gains per channel, assigned in channel order (a loud and a quiet participant)."""
    def build(m: Material, rng: np.random.Generator) -> Channels:
        return _with_tv(m, {k: ac.with_gain(x, g) for (k, x), g in zip(m.channels.items(), gains)})
    return Condition("mixed", "mixed " + " / ".join(f"{g:+.0f}" for g in gains), build)


def _codec(kbps: int, suppress_dbfs: float | None = None) -> Condition:
    name = f"Opus {kbps} kb/s" + (f", no audio below {suppress_dbfs:.0f} dBFS" if suppress_dbfs is not None else "")
    return Condition("codec" if suppress_dbfs is None else "suppression", name, lambda m, rng: {
        k: ac.opus_round_trip(x, kbps) for k, x in _with_tv(m, dict(m.channels)).items()}, suppress_dbfs)


def _suppressed(gain_db: float, suppress_dbfs: float) -> Condition:
    """Zoom sends no audio for quiet 10 ms chunks: the detector sees gaps, not silence."""
    return Condition("suppression", f"all {gain_db:+.0f} dB, no audio below {suppress_dbfs:.0f} dBFS", lambda m, rng: _with_tv(
        m, {k: ac.with_gain(x, gain_db) for k, x in m.channels.items()}), suppress_dbfs)


def _one(m: Material, index: int) -> str:
    """The channel a one-channel condition applies to: the conditions take turns over the speakers."""
    speakers = [k for k in m.channels if m.truth.get(k)]
    return speakers[index % len(speakers)]


def _noise(kind: str, snr_db: float, index: int) -> Condition:
    def build(m: Material, rng: np.random.Generator) -> Channels:
        key = _one(m, index)
        x = m.channels[key]
        noise = {"fan": ac.fan_noise, "pink": ac.pink_noise}[kind](len(x), rng) if kind != "babble" \
            else ac.babble(len(x), m.sources, rng)
        return _with_tv(m, {**m.channels, key: ac.add_noise(x, noise, snr_db)})
    return Condition("noise", f"{kind} SNR {snr_db:.0f} dB on speaker {index + 1}", build)


def _far(index: int) -> Condition:
    def build(m: Material, rng: np.random.Generator) -> Channels:
        key = _one(m, index)
        return _with_tv(m, {**m.channels, key: ac.far_field(m.channels[key], rng)})
    return Condition("room", f"far-field reverberant, speaker {index + 1}", build)


def _leak(index: int, leak_db: float = -10.0) -> Condition:
    def build(m: Material, rng: np.random.Generator) -> Channels:
        key = _one(m, index)
        others = [x for k, x in m.channels.items() if k != key]
        return _with_tv(m, {**m.channels, key: ac.leaking(m.channels[key], others, leak_db)})
    return Condition("leakage", f"speaker {index + 1} hears everyone at {leak_db:.0f} dB", build)


GAINS = (6.0, 0.0, -10.0, -20.0, -30.0, -40.0)
ISSUE_GROUPS = ("codec", "noise", "room", "leakage")  # acceptance 2; silence suppression is ours, reported apart
MIXED = ((6.0, -14.0, -10.0, 0.0), (-20.0, 0.0, -4.0, -10.0), (-30.0, -40.0, -24.0, -20.0), (0.0, -10.0, 6.0, -14.0))


def conditions() -> list[Condition]:
    out = [_gain(g) for g in GAINS] + [_mixed(g) for g in MIXED] + [_codec(k) for k in (16, 24, 32)]
    out += [_suppressed(0.0, -50.0), _suppressed(-20.0, -60.0), _codec(16, -50.0)]
    out += [_noise(kind, snr, i) for i, (kind, snr) in enumerate(
        (k, s) for k in ("fan", "pink", "babble") for s in (20.0, 10.0))]
    out += [_far(i) for i in range(3)] + [_leak(i) for i in range(2)]
    return out


# ---- limits (issue 13's acceptance) ------------------------------------------------------------
def within_limits(result: Result) -> dict[str, bool]:
    """Each participant's verdict against the acceptance limits of its group (the generated meeting: 1 s
    per minute, and the television 0.5 s, in every condition)."""
    if result.material != "AMI minute":
        return {k: (e <= 0.5 if k == TV else abs(e) <= 1.0 * result.minutes) for k, e in result.errors.items()}
    strict = result.condition.group in ("gain", "mixed")
    ok = {}
    for k, e in result.errors.items():
        if k == TV:
            ok[k] = e <= 0.5
        elif k == QUIET:
            ok[k] = abs(e) <= (2.0 if strict else 2.5)
        else:
            truth = iv.total(iv.union(rttm_turns(AMI / "reference.rttm")[k]))
            ok[k] = abs(e) <= (0.10 if strict else 0.12) * truth
    return ok


def run_robustness_bench(console: Console | None = None, cache: Path | None = None) -> dict:
    console = console or Console()
    if not AMI.exists():
        raise FileNotFoundError(f"AMI data not found under {AMI}")

    t0 = time.perf_counter()
    sources = speech_sources()
    ami = ami_minute(sources)
    generated = overlap_meeting(sources, cache or cache_dir())
    results: list[Result] = []
    with console.status("running conditions") as status:
        for c in conditions():
            status.update(f"AMI minute: {c.name}")
            results.append(run(ami, c))
        for c in conditions():
            status.update(f"overlap meeting: {c.name}")
            results.append(run(generated, c))
    _print(console, results)
    summary = _summary(results)
    console.print(f"Finished in {time.perf_counter() - t0:.0f} s.")
    for line in summary["lines"]:
        console.print(line)
    return {"results": [_json(r) for r in results], "summary": summary}


def _print(console: Console, results: list[Result]) -> None:
    for material in dict.fromkeys(r.material for r in results):
        rows = [r for r in results if r.material == material]
        keys = list(rows[0].errors)
        table = Table(title=f"{material}: talk time error (measured − truth, s); ✗ outside the acceptance limit")
        for col in ("condition", *keys, "mean |err|/min", "worst |err|/min"):
            table.add_column(col, justify="left" if col == "condition" else "right")
        for r in rows:
            ok = within_limits(r)
            cells = [f"{r.errors[k]:+.2f}{'' if ok[k] else ' ✗'}" for k in keys]
            pm = r.per_minute()
            table.add_row(r.condition.name, *cells, f"{np.mean(pm):.2f}", f"{max(pm):.2f}")
        console.print(table)


def _summary(results: list[Result]) -> dict:
    ami = [r for r in results if r.material == "AMI minute"]
    gen = [r for r in results if r.material != "AMI minute"]
    every = [e for r in results for e in r.per_minute()]
    checks = {
        "1 gains within ±10 % (MEE014 ±2.0 s)": all(all(within_limits(r).values()) for r in ami
                                                     if r.condition.group in ("gain", "mixed")),
        "2 codec/noise/room/leakage within ±12 % (MEE014 ±2.5 s), TV ≤ 0.5 s": all(
            all(within_limits(r).values()) for r in ami if r.condition.group in ISSUE_GROUPS),
        "3 overlap meeting (any level, codec) within 1.0 s/min, overlap within 15 %": all(
            all(within_limits(r).values()) and abs(r.overlap[0] - r.overlap[1]) <= 0.15 * r.overlap[1]
            for r in gen if r.condition.group in ("gain", "mixed", "codec")),
        "4 mean error ≤ 0.6 s/min": float(np.mean(every)) <= 0.6,
        "+ beyond the issue: silence suppression within the limits of 2, TV ≤ 0.5 s in every condition": all(
            all(within_limits(r).values()) for r in ami if r.condition.group == "suppression")
        and all(r.errors[TV] <= 0.5 for r in results),
    }
    lines = [f"{'✓' if ok else '✗'} {name}" for name, ok in checks.items()]
    clean = next(r for r in gen if r.condition.name == "all +0 dB")
    lines.insert(3, f"   overlap, all +0 dB: {clean.overlap[0]:.1f} s measured, {clean.overlap[1]:.1f} s true; worst of any "
                    f"level or codec: {max(abs(r.overlap[0] / r.overlap[1] - 1) for r in gen if r.condition.group in ('gain', 'mixed', 'codec')):.1%}")
    lines.insert(5, f"   mean |error| {np.mean(every):.3f} s/min over {len(every)} participant-conditions; "
                 f"worst {max(every):.2f} s/min")
    return {"checks": checks, "mean_s_per_min": float(np.mean(every)), "worst_s_per_min": float(max(every)),
            "lines": lines}


def _json(r: Result) -> dict:
    return {"material": r.material, "group": r.condition.group, "condition": r.condition.name,
            "errors_s": {k: round(v, 3) for k, v in r.errors.items()},
            "overlap_s": [round(x, 3) for x in r.overlap], "minutes": r.minutes}
