"""`rollcall bench asr`: word error rate, throughput under backlog, latency and memory of transcription.

WER is scored after Whisper's English text normaliser (`whisper-normalizer`: lower case, no punctuation,
numbers and spellings standardised, fillers such as "um" and "mm" dropped) on both sides, corpus-level
(jiwer). "Offline" is plain faster-whisper on each whole file with the same model and settings (greedy,
English, no text carried over): the ceiling for this model. "Live" is the whole pipeline: the file as a
participant's 32 kHz SDK audio → ingest → talk detector → utterances → scheduler → transcript, at
real-time pacing (how a bot runs: each utterance decoded as soon as it ends) and as fast as possible
(every utterance queues at once and is decoded packed).
"""
from __future__ import annotations

import csv
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
import yaml
from rich.console import Console
from rich.table import Table
from scipy.signal import resample_poly
from whisper_normalizer.english import EnglishTextNormalizer

from analysis.transcript import SAMPLE_RATE, Utterance, pack
from bot.asr import AsrScheduler, WhisperRecognizer
from bot.bench_talk import AMI, AMI_CHANNELS, rttm_turns
from bot.replay import replay
from bot.transcriber import AsrConfig

ASR = AMI.parents[1] / "asr"
# Which text/mixture.X file is whose words: read off the content against each speaker's turns in
# reference.rttm (the data README's letter list does not match the text files).
AMI_TEXT = {"MEO015": "A", "FEE013": "B", "MEE014": "C", "FEE016": "D"}
normalise = EnglishTextNormalizer()


_RSS_PROBE = """
import sys
from bot.cli import app
try:
    app(["replay", sys.argv[1], "--out", sys.argv[2]])
except SystemExit:
    pass
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def _load16k(path: Path) -> np.ndarray:
    x, rate = sf.read(str(path), dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if rate != SAMPLE_RATE:
        g = np.gcd(int(rate), SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, int(rate) // g)
    return x.astype(np.float32)


def _offline(recognizer: WhisperRecognizer, audio: np.ndarray) -> str:
    segments, _ = recognizer.model.transcribe(audio, language="en", beam_size=recognizer.beam_size,
                                              temperature=0.0, condition_on_previous_text=False, vad_filter=False)
    return " ".join(s.text.strip() for s in segments)


def _wer(refs: list[str], hyps: list[str]) -> float:
    return jiwer.wer([normalise(r) for r in refs], [normalise(h) or "-" for h in hyps])


def _live(files: list[Path], asr: AsrConfig, tmp: Path, speed: float | None = 1.0) -> list[str]:
    """Each file replayed as a one-person meeting through the whole pipeline, at real-time pacing as a
    live meeting runs (``speed=None``: as fast as possible, which queues every utterance at once and
    so measures the packed path); its transcript text."""
    out = []
    tmp.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(files):
        duration = float(sf.info(str(f)).duration) + 1.0
        scenario = {"meeting": {"id": str(i), "topic": f.name, "start": "2026-01-01T00:00:00Z",
                                "duration_s": duration, "sample_rate": 32000, "frame_ms": 10},
                    "participants": [{"key": "p", "name": "P", "audio": str(f.resolve())}],
                    "events": [{"t": 0.0, "type": "join", "who": "p"}, {"t": 0.0, "type": "unmute", "who": "p"}]}
        path = tmp / f"s{i}.yaml"
        path.write_text(yaml.safe_dump(scenario))
        report = replay(path, tmp / f"o{i}", speed=speed, asr=asr).report
        out.append(" ".join(e.text for e in report.transcript))
    return out


def read_speech_meeting(out_dir: Path, readers: int = 4, each_s: float = 50.0, seed: int = 0) -> Path:
    """A meeting of people reading aloud one after another (the shared set's LibriVox and MFA recordings,
    in a different order for each reader, with pauses of 0.3-2 s between them), each reading about
    ``each_s`` seconds: long spans of read speech, which a CPU that falls behind must not lose. Returns
    its scenario file."""
    sources = [_load16k(f) for f in sorted(ASR.iterdir()) if f.name.startswith(("librivox", "mfa"))]
    if not sources:
        raise FileNotFoundError(f"no LibriVox or MFA recordings under {ASR}")
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    placed: list[tuple[int, int, np.ndarray]] = []  # reader, first sample, audio
    at = int(0.5 * SAMPLE_RATE)
    for reader in range(readers):
        read = 0.0
        for k in rng.permutation(len(sources)):
            placed.append((reader, at, sources[k]))
            at += len(sources[k]) + int(rng.uniform(0.3, 2.0) * SAMPLE_RATE)
            read += len(sources[k]) / SAMPLE_RATE
            if read >= each_s:
                break
        at += SAMPLE_RATE
    total = at + SAMPLE_RATE
    participants = []
    for reader in range(readers):
        x = np.zeros(total, dtype=np.float32)
        for who, first, audio in placed:
            if who == reader:
                x[first:first + len(audio)] = audio
        path = out_dir / f"reader{reader + 1}.wav"
        sf.write(str(path), x, SAMPLE_RATE, subtype="PCM_16")
        participants.append({"key": f"reader{reader + 1}", "name": f"Reader {reader + 1}", "audio": path.name})
    scenario = {"meeting": {"id": "read-speech", "topic": "people reading aloud in turn", "start": "2026-01-01T00:00:00Z",
                            "duration_s": total / SAMPLE_RATE, "sample_rate": 32000, "frame_ms": 10},
                "participants": participants,
                "events": [{"t": 0.0, "type": kind, "who": p["key"]} for p in participants for kind in ("join", "unmute")]}
    path = out_dir / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path


def _merged(spans: list[tuple[float, float]], gap_s: float) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a - out[-1][1] < gap_s:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _ami_reference(letter: str) -> str:
    text = (AMI / "text" / f"mixture.{letter}.words_joined.txt").read_text()
    return re.sub(r"\b((?:[A-Za-z]_)+)", lambda m: m.group(1).replace("_", ""), text)  # L_C_D_ -> LCD


def run_asr_bench(console: Console | None = None, realtime: bool = True) -> dict:
    console = console or Console()
    if not ASR.exists():
        raise FileNotFoundError(f"ASR data not found under {ASR}")
    asr = AsrConfig()
    recognizer = WhisperRecognizer(asr.model_dir, cpu_threads=asr.cpu_threads,
                                   decoder_threads=asr.decoder_threads, beam_size=asr.beam_size)
    rows = list(csv.DictReader((ASR / "references.tsv").open(encoding="utf-8"), delimiter="\t"))
    files = [ASR / r["file"] for r in rows]
    refs = [r["text"] for r in rows]
    audio = [_load16k(f) for f in files]
    results: dict = {}

    # 1. WER: the shared ASR set and the AMI channels, offline and live, in this run. Live at real-time
    # pacing is how the bot runs (each utterance decoded as soon as it is final); as fast as possible,
    # every utterance queues at once and is decoded packed.
    offline = [_offline(recognizer, a) for a in audio]
    paces = ([("realtime", 1.0)] if realtime else []) + [("max", None)]
    live: dict[str, list[str]] = {}
    ami_live: dict[str, dict[str, str]] = {}
    rt = None
    with tempfile.TemporaryDirectory() as tmp:
        for pace, speed in paces:
            live[pace] = _live(files, asr, Path(tmp) / pace, speed=speed)
            result = replay(AMI / "scenario.yaml", Path(tmp) / f"ami-{pace}", speed=speed, asr=asr)
            if pace == "realtime":
                rt, rt_finished = result, time.monotonic()
            ami_live[pace] = {k: " ".join(e.text for e in result.report.transcript if e.participant == k)
                              for k in AMI_CHANNELS}
    # Offline on a headset channel would transcribe everyone the headset hears; its ceiling is the
    # channel decoded within its speaker's reference turns only (oracle segmentation).
    turns = rttm_turns(AMI / "reference.rttm")
    ami_off = {}
    for k, name in AMI_CHANNELS.items():
        x = _load16k(AMI / "channels" / name)
        ami_off[k] = " ".join(_offline(recognizer, x[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)])
                              for a, b in _merged(turns[k], 1.5))
    keys = list(AMI_CHANNELS)
    ami_refs = [_ami_reference(AMI_TEXT[k]) for k in keys]
    results["wer"] = {
        "asr_set": {"offline": _wer(refs, offline), **{p: _wer(refs, live[p]) for p, _ in paces}},
        "ami": {"offline": _wer(ami_refs, [ami_off[k] for k in keys]),
                **{p: _wer(ami_refs, [ami_live[p][k] for k in keys]) for p, _ in paces}},
    }
    t = Table(title="Word error rate (Whisper English normaliser, corpus level)")
    columns = ["data", "offline faster-whisper"] + [
        {"realtime": "live, real-time pacing", "max": "live, max speed (packed)"}[p] for p, _ in paces] + ["live / offline"]
    for c in columns:
        t.add_column(c, justify="right" if c != "data" else "left")
    for name, label in (("asr_set", f"shared ASR set ({len(files)} files)"),
                        ("ami", "AMI minute, 4 headsets (offline: within reference turns)")):
        w = results["wer"][name]
        t.add_row(label, f"{100 * w['offline']:.1f} %", *[f"{100 * w[p]:.1f} %" for p, _ in paces],
                  " / ".join(f"{w[p] / w['offline']:.2f}" for p, _ in paces) if w["offline"] else "—")
    console.print(t)

    # 2. Throughput with a full queue: the whole ASR set, its meeting-length utterances (≤ 6 s), and the
    # AMI minute's talk turns (each speaker's reference turns cut from their headset channel).
    recognizer.words(audio[0][:SAMPLE_RATE])  # warm up
    ami_turns = [x[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)] for k, name in AMI_CHANNELS.items()
                 for x in [_load16k(AMI / "channels" / name)] for a, b in _merged(turns[k], 1.5)]
    results["throughput"] = {}
    t = Table(title="Throughput under backlog, × real time (same run)")
    for c in ("utterances", "each decoded alone", "scheduler, full queue", "gain", "one full window"):
        t.add_column(c, justify="right" if c != "utterances" else "left")
    sets = (("shared ASR set, all 22", audio),
            ("shared ASR set, the ones ≤ 6 s", [a for a in audio if len(a) <= 6 * SAMPLE_RATE]),
            (f"AMI minute, {len(ami_turns)} reference turns", ami_turns))
    for label, chosen in sets:
        utts = [Utterance(i, "p", 0.0, len(a) / SAMPLE_RATE, a) for i, a in enumerate(chosen)]
        speech_s = sum(u.duration_s for u in utts)
        t0 = time.perf_counter()
        for u in utts:
            recognizer.words(u.audio)
        alone = time.perf_counter() - t0
        scheduler = AsrScheduler(recognizer, lambda r: None, window_s=asr.window_s, gap_s=asr.gap_s,
                                 max_batch=asr.max_batch)
        t0 = time.perf_counter()
        with scheduler.paused():  # the whole backlog is there before the scheduler looks
            for u in utts:
                scheduler.submit(u)
        scheduler.close()
        packed = time.perf_counter() - t0
        window = pack(utts, asr.window_s, asr.gap_s)
        t0 = time.perf_counter()
        recognizer.words(window.audio)
        limit = time.perf_counter() - t0
        limit_speech = sum(u.duration_s for u in window.members)
        results["throughput"][label] = {"per_utterance_xrt": speech_s / alone, "backlog_xrt": speech_s / packed,
                                        "gain": alone / packed, "one_window_xrt": limit_speech / limit,
                                        "batches": scheduler.calls, "utterances": len(utts), "speech_s": speech_s}
        t.add_row(f"{label} ({speech_s:.0f} s)", f"{speech_s / alone:.1f}",
                  f"{speech_s / packed:.1f} ({scheduler.calls} batches)", f"{alone / packed:.2f}×",
                  f"{limit_speech / limit:.1f} ({limit_speech:.0f} s)")
    console.print(t)

    # 3. Latency at real-time pacing (the real-time AMI run above), and memory.
    if rt is not None:
        t0 = rt.run_started
        lat = np.array([ln.done_at - (t0 + ln.speech_end_s) for ln in rt.transcriber_lines
                        if ln.entry and not ln.interim and ln.entry.end_s - ln.entry.start_s <= 10.0])
        behind = rt_finished - (t0 + rt.report.meeting.duration_s)
        results["latency"] = {"p50_s": float(np.percentile(lat, 50)), "p95_s": float(np.percentile(lat, 95)),
                              "max_s": float(lat.max()), "n": int(len(lat)), "complete_after_end_s": behind}
        console.print(f"Latency at --speed 1 (AMI minute): end of speech → final text p50 "
                      f"{results['latency']['p50_s']:.2f} s, p95 {results['latency']['p95_s']:.2f} s, "
                      f"max {lat.max():.2f} s over {len(lat)} utterances ≤ 10 s; transcript complete "
                      f"{behind:.2f} s after the end")
    # Memory of a bot process: a separate `rollcall replay` of the AMI minute with ASR on. Its own
    # high-water mark (VmHWM) is read inside it: a forked child's rusage also counts the parent's pages.
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(AMI / "scenario.yaml"), str(Path(tmp) / "rss")],
                              check=True, capture_output=True, text=True)
    rss_mb = int(proc.stdout.strip().splitlines()[-1]) / 1024
    results["peak_rss_mb"] = rss_mb
    console.print(f"Peak resident memory of a `rollcall replay` process with ASR on (AMI minute): {rss_mb:.0f} MB")
    return results
