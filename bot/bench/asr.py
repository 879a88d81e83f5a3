"""`rollcall bench asr`: word error rate, coverage under backlog, CPU cost, latency and memory of
transcription, and one alternative model against the one shipped.

WER is scored after Whisper's English text normaliser (`whisper-normalizer`: lower case, no punctuation,
numbers and spellings standardised, fillers such as "um" and "mm" dropped) on both sides, corpus-level
(jiwer). "Offline" is plain faster-whisper on each whole file with the same model and settings (greedy,
English, no text carried over): the ceiling for this model. The pipeline runs each file as a participant's
32 kHz SDK audio → ingest → talk detector → transcriber, at real-time pacing (how a bot runs) and as fast
as possible (everything queues at once), and gives two texts: the **live** lines (each talk turn decoded
as soon as it is final) and the **settled** transcript of the report (each speaker's stretch decoded again
as one).
"""
from __future__ import annotations

import csv
import ctypes
import json
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
from bot.bench.talk import AMI, AMI_CHANNELS, rttm_turns
from bot.simulator.replay import replay
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


def _texts(result) -> tuple[dict[str, str], dict[str, str]]:
    """Per participant: the report's (settled) transcript text, and the text of the live lines."""
    settled: dict[str, list[str]] = {}
    for e in result.report.transcript:
        settled.setdefault(e.participant, []).append(e.text)
    live: dict[str, list[str]] = {}
    for ln in result.transcriber_lines:
        if ln.entry is not None and not ln.interim and not ln.settled:
            live.setdefault(ln.entry.participant, []).append(ln.entry.text)
    return ({k: " ".join(v) for k, v in settled.items()}, {k: " ".join(v) for k, v in live.items()})


def _live(files: list[Path], asr: AsrConfig, tmp: Path, speed: float | None = 1.0) -> tuple[list[str], list[str]]:
    """Each file replayed as a one-person meeting through the whole pipeline, at real-time pacing as a
    live meeting runs (``speed=None``: as fast as possible, which queues every utterance at once);
    its settled transcript and its live lines."""
    settled, live = [], []
    tmp.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(files):
        duration = float(sf.info(str(f)).duration) + 3.0  # the last live line is final before the end
        scenario = {"meeting": {"id": str(i), "topic": f.name, "start": "2026-01-01T00:00:00Z",
                                "duration_s": duration, "sample_rate": 32000, "frame_ms": 10},
                    "participants": [{"key": "p", "name": "P", "audio": str(f.resolve())}],
                    "events": [{"t": 0.0, "type": "join", "who": "p"}, {"t": 0.0, "type": "unmute", "who": "p"}]}
        path = tmp / f"s{i}.yaml"
        path.write_text(yaml.safe_dump(scenario))
        s_text, l_text = _texts(replay(path, tmp / f"o{i}", speed=speed, asr=asr))
        settled.append(s_text.get("p", ""))
        live.append(l_text.get("p", ""))
    return settled, live


def _with_tail(scenario: Path, out: Path, tail_s: float = 3.0) -> Path:
    """A copy of a scenario that goes on ``tail_s`` after its audio: the last turns' live lines are final
    before the meeting ends (at the end, a stretch's settled decode stands in for live lines not yet
    decoded), so live lines are measured as a host sees them during a meeting."""
    data = yaml.safe_load(scenario.read_text())
    data["meeting"]["duration_s"] = float(data["meeting"]["duration_s"]) + tail_s
    for e in data.get("events", []):
        if e["type"] == "end":
            e["t"] = float(e["t"]) + tail_s
    for p in data["participants"]:
        if p.get("audio"):
            p["audio"] = str((scenario.parent / p["audio"]).resolve())
    out.mkdir(parents=True, exist_ok=True)
    path = out / scenario.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def read_speech_meeting(out_dir: Path, readers: int = 4, each_s: float = 50.0, seed: int = 0) -> Path:
    """A meeting of people reading aloud one after another (the shared set's LibriVox and MFA recordings,
    in a different order for each reader, with pauses of 0.3-2 s between them), each reading about
    ``each_s`` seconds: long spans of read speech, which a CPU that falls behind must not lose. Returns
    its scenario file; ``read.json`` next to it lists the files each reader read, in order."""
    names = sorted(f.name for f in ASR.iterdir() if f.name.startswith(("librivox", "mfa")))
    sources = [_load16k(ASR / n) for n in names]
    if not sources:
        raise FileNotFoundError(f"no LibriVox or MFA recordings under {ASR}")
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    placed: list[tuple[int, int, np.ndarray]] = []  # reader, first sample, audio
    read_what: dict[str, list[str]] = {f"reader{r + 1}": [] for r in range(readers)}
    at = int(0.5 * SAMPLE_RATE)
    for reader in range(readers):
        read = 0.0
        for k in rng.permutation(len(sources)):
            placed.append((reader, at, sources[k]))
            read_what[f"reader{reader + 1}"].append(names[k])
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
    (out_dir / "read.json").write_text(json.dumps(read_what))  # which files each reader read, in order
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
    cpu0 = _cpu_s()
    recognizer = WhisperRecognizer(asr.model_dir, cpu_threads=asr.cpu_threads,
                                   decoder_threads=asr.decoder_threads, beam_size=asr.beam_size)
    load_cpu = _cpu_s() - cpu0
    rows = list(csv.DictReader((ASR / "references.tsv").open(encoding="utf-8"), delimiter="\t"))
    files = [ASR / r["file"] for r in rows]
    refs = [r["text"] for r in rows]
    audio = [_load16k(f) for f in files]
    results: dict = {}

    # 1. WER: the shared ASR set and the AMI channels, offline, live lines and settled transcript, at
    # real-time pacing (how the bot runs) and as fast as possible (everything queues at once). The
    # real-time AMI replay is also the CPU measurement: nothing else runs in this process meanwhile.
    offline = [_offline(recognizer, a) for a in audio]
    paces = ([("realtime", 1.0)] if realtime else []) + [("max", None)]
    texts: dict[str, dict[str, list[str]]] = {}  # pace -> {"settled" | "live": one text per file}
    ami_texts: dict[str, dict[str, dict[str, str]]] = {}  # pace -> {"settled" | "live": per speaker}
    rt = None
    with tempfile.TemporaryDirectory() as tmp:
        for pace, speed in paces:
            with console.status(f"replaying the shared ASR set ({pace})"):
                settled, live = _live(files, asr, Path(tmp) / pace, speed=speed)
            texts[pace] = {"settled": settled, "live": live}
            with console.status(f"replaying the AMI minute ({pace})"):
                cpu0 = _cpu_s()
                result = replay(_with_tail(AMI / "scenario.yaml", Path(tmp) / "ami"), Path(tmp) / f"ami-{pace}",
                                speed=speed, asr=asr)
                cpu = _cpu_s() - cpu0
            if pace == "realtime":
                rt, rt_finished, rt_cpu = result, time.monotonic(), cpu
            s_text, l_text = _texts(result)
            ami_texts[pace] = {"settled": {k: s_text.get(k, "") for k in AMI_CHANNELS},
                               "live": {k: l_text.get(k, "") for k in AMI_CHANNELS}}
    # Offline on a headset channel would transcribe everyone the headset hears; its ceiling is the
    # channel decoded within its speaker's reference turns only (oracle segmentation).
    turns = rttm_turns(AMI / "reference.rttm")
    ami_turn_audio = {k: [x[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)] for a, b in _merged(turns[k], 1.5)]
                      for k, name in AMI_CHANNELS.items() for x in [_load16k(AMI / "channels" / name)]}
    ami_off = {k: " ".join(_offline(recognizer, x) for x in xs) for k, xs in ami_turn_audio.items()}
    keys = list(AMI_CHANNELS)
    ami_refs = [_ami_reference(AMI_TEXT[k]) for k in keys]
    wer = results["wer"] = {"asr_set": {"offline": _wer(refs, offline)}, "ami": {"offline": _wer(ami_refs, [ami_off[k] for k in keys])}}
    for pace, _ in paces:
        for kind in ("settled", "live"):
            wer["asr_set"][f"{kind}_{pace}"] = _wer(refs, texts[pace][kind])
            wer["ami"][f"{kind}_{pace}"] = _wer(ami_refs, [ami_texts[pace][kind][k] for k in keys])
    t = Table(title="Word error rate (Whisper English normaliser, corpus level); × offline in brackets")
    # (as fast as possible, stretches settle while their turns still wait, so they are decoded once,
    # settled, and there are few live lines to score)
    cols = [(f"{kind}_{pace}", f"{kind}, {'real time' if pace == 'realtime' else 'max speed'}")
            for pace, _ in paces for kind in ("settled", "live") if (pace, kind) != ("max", "live")]
    t.add_column("data")
    t.add_column("offline", justify="right")
    for _, label in cols:
        t.add_column(label, justify="right")
    for name, label in (("asr_set", f"shared ASR set ({len(files)} files)"),
                        ("ami", "AMI minute, 4 headsets (offline: within reference turns)")):
        w = wer[name]
        t.add_row(label, f"{100 * w['offline']:.1f} %",
                  *[f"{100 * w[c]:.1f} % ({w[c] / w['offline']:.2f})" if w["offline"] else f"{100 * w[c]:.1f} %"
                    for c, _ in cols])
    console.print(t)

    # 1b. Nothing lost: a long read-aloud meeting and the AMI minute at max speed; every second of talk
    # must end as text, as "nothing intelligible", or as a recorded drop.
    results["coverage"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scenario = read_speech_meeting(Path(tmp) / "readers")
        read = json.loads((scenario.parent / "read.json").read_text())
        by_file = dict(zip((f.name for f in files), refs))
        off_by_file = dict(zip((f.name for f in files), offline))
        with console.status("replaying the read-aloud meeting as fast as possible"):
            mono = replay(scenario, Path(tmp) / "out", speed=None, asr=asr)
        amimax = replay(AMI / "scenario.yaml", Path(tmp) / "ami", speed=None, asr=asr)
    mono_settled, _ = _texts(mono)
    readers = list(read)
    results["coverage"]["read_aloud"] = {
        **mono.report.asr.model_dump(include={"talk_s", "transcribed_s", "dropped_s", "uncovered_s", "lines_settled"}),
        "duration_s": mono.report.meeting.duration_s,
        "wer_settled": _wer([" ".join(by_file[f] for f in read[r]) for r in readers], [mono_settled.get(r, "") for r in readers]),
        "wer_offline": _wer([" ".join(by_file[f] for f in read[r]) for r in readers],
                            [" ".join(off_by_file[f] for f in read[r]) for r in readers])}
    results["coverage"]["ami"] = amimax.report.asr.model_dump(include={"talk_s", "transcribed_s", "dropped_s", "uncovered_s", "lines_settled"})
    t = Table(title="Nothing lost at max speed: seconds of talk and what became of them")
    for c in ("meeting", "talk", "transcribed", "dropped", "without a line or a drop", "settled WER (offline)"):
        t.add_column(c, justify="right" if c != "meeting" else "left")
    m = results["coverage"]["read_aloud"]
    t.add_row(f"{len(readers)} people reading in turn ({m['duration_s'] / 60:.1f} min)", f"{m['talk_s']:.1f}",
              f"{m['transcribed_s']:.1f}", f"{sum(m['dropped_s'].values()):.1f}", f"{m['uncovered_s']:.1f}",
              f"{100 * m['wer_settled']:.1f} % ({100 * m['wer_offline']:.1f} %)")
    m = results["coverage"]["ami"]
    t.add_row("AMI minute", f"{m['talk_s']:.1f}", f"{m['transcribed_s']:.1f}", f"{sum(m['dropped_s'].values()):.1f}",
              f"{m['uncovered_s']:.1f}", "—")
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
                        if ln.entry and not ln.interim and not ln.settled and ln.entry.end_s - ln.entry.start_s <= 10.0])
        behind = rt_finished - (t0 + rt.report.meeting.duration_s)
        results["latency"] = {"p50_s": float(np.percentile(lat, 50)), "p95_s": float(np.percentile(lat, 95)),
                              "max_s": float(lat.max()), "n": int(len(lat)), "complete_after_end_s": behind}
        console.print(f"Latency at --speed 1 (AMI minute): end of speech → final live line p50 "
                      f"{results['latency']['p50_s']:.2f} s, p95 {results['latency']['p95_s']:.2f} s, "
                      f"max {lat.max():.2f} s over {len(lat)} lines ≤ 10 s; settled transcript complete "
                      f"{behind:.2f} s after the end")
        minutes = rt.report.meeting.duration_s / 60.0
        results["cpu"] = {"replay_cpu_s": rt_cpu, "per_meeting_minute_s": rt_cpu / minutes, "model_load_cpu_s": load_cpu}
        console.print(f"CPU at --speed 1 (AMI minute, the whole replay process): {rt_cpu:.1f} s for "
                      f"{minutes:.1f} min of meeting = [bold]{rt_cpu / minutes:.1f} CPU s per minute[/] "
                      f"(of which {load_cpu:.1f} s loading the model once)")
    # Memory of a bot process: a separate `rollcall replay` of the AMI minute with ASR on. Its own
    # high-water mark (VmHWM) is read inside it: a forked child's rusage also counts the parent's pages.
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(AMI / "scenario.yaml"), str(Path(tmp) / "rss")],
                              check=True, capture_output=True, text=True)
    rss_mb = int(proc.stdout.strip().splitlines()[-1]) / 1024
    results["peak_rss_mb"] = rss_mb
    console.print(f"Peak resident memory of a `rollcall replay` process with ASR on (AMI minute): {rss_mb:.0f} MB")

    # 4. The next model up: Moonshine base (weights inside the moonshine-cpp wheel) against the shipped
    # Whisper tiny.en, on the same audio decoded whole (the ASR set's files; AMI within reference turns).
    results["models"] = _compare_models(console, recognizer, audio, refs, ami_turn_audio, ami_refs, keys)
    return results


class MoonshineBase:
    """Moonshine base (English) from the moonshine-cpp wheel, which ships its weights and ONNX Runtime,
    called through its C API (the wheel's own Python wrapper does not run)."""

    def __init__(self) -> None:
        import moonshine_cpp.moonshine_cpp as m

        models = Path(m.__file__).parent / "models" / "base-en"
        self._lib = m.moonshine_lib
        self._handle = self._lib.moonshine_load_model(
            str(models / "encoder_model.ort").encode(), str(models / "decoder_model_merged.ort").encode(),
            str(models / "tokenizer.bin").encode(), m.MOONSHINE_MODEL_TYPE_BASE)
        if self._handle < 0:
            raise RuntimeError(f"Moonshine base did not load from {models}")

    def transcribe(self, audio: np.ndarray) -> str:
        x = np.ascontiguousarray(audio, dtype=np.float32)
        out = ctypes.c_char_p()
        err = self._lib.moonshine_transcribe(self._handle, x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                             ctypes.c_size_t(len(x)), ctypes.byref(out))
        if err:
            raise RuntimeError(f"Moonshine failed ({err})")
        text = out.value.decode("utf-8")
        self._lib.moonshine_free_text(out)
        return text


def _compare_models(console: Console, whisper: WhisperRecognizer, audio: list[np.ndarray], refs: list[str],
                    ami_turns: dict[str, list[np.ndarray]], ami_refs: list[str], keys: list[str]) -> dict:
    """WER and CPU seconds per minute of audio of each model, on whole files (and whole AMI turns)."""
    cpu0 = _cpu_s()
    moonshine = MoonshineBase()
    out = {"moonshine base (moonshine-cpp 0.1.4)": {"load_cpu_s": _cpu_s() - cpu0}, whisper.name: {}}
    decoders = {whisper.name: lambda x: _offline(whisper, x), "moonshine base (moonshine-cpp 0.1.4)": moonshine.transcribe}
    speech_min = (sum(len(a) for a in audio) + sum(len(x) for xs in ami_turns.values() for x in xs)) / SAMPLE_RATE / 60
    for name, decode in decoders.items():
        with console.status(f"decoding with {name}"):
            cpu0 = _cpu_s()
            hyps = [decode(a) for a in audio]
            ami = [" ".join(decode(x) for x in ami_turns[k]) for k in keys]
            cpu = _cpu_s() - cpu0
        out[name].update({"wer_asr_set": _wer(refs, hyps), "wer_ami": _wer(ami_refs, ami),
                          "cpu_s_per_audio_minute": cpu / speech_min})
    t = Table(title=f"The shipped model against the next one up (same audio, decoded whole; {speech_min:.1f} min of speech)")
    for c in ("model", "WER shared ASR set", "WER AMI (reference turns)", "CPU s per minute of audio"):
        t.add_column(c, justify="right" if c != "model" else "left")
    for name, m in out.items():
        t.add_row(name, f"{100 * m['wer_asr_set']:.1f} %", f"{100 * m['wer_ami']:.1f} %", f"{m['cpu_s_per_audio_minute']:.1f}")
    console.print(t)
    return out
