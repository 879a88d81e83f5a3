"""Scenario generator: a short YAML *script* -> a simulator scenario directory + exact ground truth.

Script format (YAML; the models are in ``bot.generator.script``)::

    meeting:                       # copied into scenario.yaml
      id: "85012345678"
      topic: "Quarterly compliance training"
      start: "2026-11-20T15:00:00Z"  # ISO 8601 with a time zone
      duration_s: 60               # > 0, at most a day
      sample_rate: 32000           # what the simulated SDK delivers (32000 | 48000; default 32000)
      frame_ms: 10                 # optional, 1..100 (default 10)
    audio_rate: 22050              # optional: rate of the WAVs, 8000..48000 (default: eSpeak's, 22050)
    participants:
      - key: p1                    # letters, digits, - and _; not everyone/host/bot (chat targets)
        name: "Dana Host"
        role: host                 # host | cohost | attendee (default attendee)
        customer_key: "emp-1001"   # optional, at most 35 characters (Zoom's limit)
        email: "dana@example.com"  # optional
        consent: true              # optional (written only when given)
        voice: {name: en-us, variant: m3, rate: 165, pitch: 40, range: 60}   # or "en-us+m3"; also volume, wordgap
        gain_db: -6                # optional, speech level applied to eSpeak output (default -6)
        noise_db: -60              # optional steady background noise floor, RMS dBFS (< 0)
        leak_from: all             # optional crosstalk: "all" or a list of (other) keys
        leak_db: -18               #   level of the leaked copies relative to the source's speech (<= 0)
        leak_delay_ms: 4           #   acoustic delay of the leaked copies (>= 0, default 4)
    timeline:                      # any order; sorted by t (stable); 0 <= t <= duration_s
      - {t: 0.0, type: join, who: p1}
      - {t: 0.0, type: unmute, who: p1}
      - {t: 1.0, type: say, who: p1, text: "Welcome, everyone."}
      - {t: 9.0, type: chat, who: p2, text: "Is this recorded?", to: everyone}   # or host, bot, a key
      - {t: 9.5, type: reaction, who: p2, emoji: "👍"}
      - {t: 9.8, type: rename, who: p2, name: "Raj P."}
      # the other scenario event types are passed through as they are (with just t, type and who):
      # join leave mute unmute video_on video_off raise_hand lower_hand share_start share_end
      # (`end` is optional; it is always written at duration_s)

Unknown fields are errors, numbers must be finite numbers (not text), and text, emoji and name must
not be blank. A bad script raises ``ValueError`` naming the place (``meeting.start: …``,
``participant p1: leak_db: …``, ``timeline[3] (t=12, say, who=p2, …): …``).

Semantics (violations raise ``ValueError`` naming the timeline line):

* a ``say`` puts the synthesised utterance on the speaker's track so that its first non-silent
  sample is at ``t`` (to the nearest sample); the utterance must lie entirely inside a span where
  the speaker is joined and unmuted, must not overlap the speaker's previous ``say`` and must end
  by ``duration_s``;
* every event's ``who`` must be a declared participant; join/leave must alternate; other
  participant events need the participant to be joined;
* a (re)join starts muted, camera off, hand down, not sharing.  Before each ``leave`` the
  generator writes explicit ``mute``/``video_off``/``lower_hand``/``share_end`` events (same t) for
  whatever is still on, so the scenario does not depend on the simulator's rejoin semantics.

Output directory::

    scenario.yaml           simulator format, events sorted by t, ``end`` at duration_s
    channels/<key>.wav      16-bit PCM mono microphone track per participant, length duration_s
    truth.json              exact ground truth (see ``_truth``)
    .script_sha256          cache key (script bytes + generator and eSpeak NG versions)

Entry points: ``generate(script_path, out_dir, progress=None)`` (cached on the script hash),
``ensure_demo_scenario(cache_dir, progress=None)`` (bot/generator/scenarios/demo_training.yaml), ``build``
(uncached, takes a parsed dict); on the command line ``rollcall generate SCRIPT OUT_DIR``.

Ground truth speech intervals are the sample extents of the utterances as written (eSpeak's
leading/trailing silence removed, everything below -50 dBFS at the edges cut off, so the clean
speech signal is exactly zero outside them).  Leakage and noise are never part of a participant's
speech truth.  Same script -> byte-identical outputs (noise is seeded from the participant key).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from bot.generator import tts
from bot.generator.script import describe, parse_script

GENERATOR_VERSION = "1"
SCRIPTS = Path(__file__).with_name("scenarios")  # the generator scripts the product ships (demo, benches)
DEMO_SCRIPT = SCRIPTS / "demo_training.yaml"

TRIM_DBFS = -50.0

Progress = Callable[[str], None] | None


# --------------------------------------------------------------------------- parsing


@dataclass
class _Participant:
    key: str
    fields: dict[str, Any]            # what goes into scenario.yaml (without audio)
    voice: tts.Voice
    gain_db: float
    noise_db: float | None
    leak_from: list[str]              # resolved: keys, never "all"
    leak_db: float | None
    leak_delay_ms: float


@dataclass
class _Line:
    index: int                        # position in the script's timeline (for messages)
    t: float
    type: str
    who: str
    extra: dict[str, Any]             # the line's other fields (text, to, emoji, name), in the script's order

    def describe(self) -> str:
        return describe(self.index, {"t": self.t, "type": self.type, "who": self.who, **self.extra})


def _parse(raw: Any) -> tuple[dict[str, Any], int | None, dict[str, _Participant], list[_Line]]:
    """Validate the script (``bot.generator.script``) and turn it into the generator's working data: the
    scenario's meeting mapping, the WAV rate, the participants by key, the timeline in time order."""
    script = parse_script(raw)
    keys = [p.key for p in script.participants]
    parts = {p.key: _Participant(key=p.key, fields=p.scenario_fields(), voice=p.voice.voice(),
                                 gain_db=p.gain_db, noise_db=p.noise_db, leak_from=p.leaks_from(keys),
                                 leak_db=p.leak_db, leak_delay_ms=p.leak_delay_ms)
             for p in script.participants}
    lines = [_Line(i, ln.t, ln.type, ln.who, ln.payload()) for i, ln in script.lines()]
    return script.meeting.scenario_fields(), script.audio_rate, parts, lines


# --------------------------------------------------------------------------- state replay


@dataclass
class _State:
    joined: bool = False
    unmuted: bool = False
    video: bool = False
    hand: bool = False
    sharing: bool = False


def _replay(meeting: dict[str, Any], parts: dict[str, _Participant], lines: list[_Line]):
    """Apply the events in order. Returns (scenario events incl. implied ones, per-key span lists
    for presence/unmuted/video, per-key counters). Raises on inconsistent state."""
    dur = meeting["duration_s"]
    st = {k: _State() for k in parts}
    opened: dict[tuple[str, str], float] = {}
    spans: dict[str, dict[str, list[list[float]]]] = {
        k: {"presence": [], "unmuted": [], "video": []} for k in parts}
    counts = {k: {"chat_messages": 0, "chat_to": {}, "hand_raises": 0, "reactions": 0, "renames": []}
              for k in parts}
    events: list[dict[str, Any]] = []

    def open_(k, what, t):
        opened[(k, what)] = t

    def close(k, what, t):
        t0 = opened.pop((k, what))
        if t > t0:
            spans[k][what].append([t0, t])

    def emit(t, typ, who, **kw):
        events.append({"t": t, "type": typ, "who": who, **kw})

    for ln in lines:
        if ln.type == "say":
            continue
        k, s, t = ln.who, st[ln.who], ln.t
        need_joined = ln.type != "join"
        if need_joined and not s.joined:
            raise ValueError(f"{ln.describe()}: {k} is not joined at t={t:g}")
        if ln.type == "join":
            if s.joined:
                raise ValueError(f"{ln.describe()}: {k} is already joined")
            s.joined = True
            open_(k, "presence", t)
        elif ln.type == "leave":
            for flag, off, span in (("unmuted", "mute", "unmuted"), ("video", "video_off", "video"),
                                    ("hand", "lower_hand", None), ("sharing", "share_end", None)):
                if getattr(s, flag):
                    emit(t, off, k)
                    setattr(s, flag, False)
                    if span:
                        close(k, span, t)
            s.joined = False
            close(k, "presence", t)
        elif ln.type in ("unmute", "mute"):
            on = ln.type == "unmute"
            if s.unmuted != on:
                s.unmuted = on
                (open_ if on else close)(k, "unmuted", t)
        elif ln.type in ("video_on", "video_off"):
            on = ln.type == "video_on"
            if s.video != on:
                s.video = on
                (open_ if on else close)(k, "video", t)
        elif ln.type == "raise_hand":
            if not s.hand:
                counts[k]["hand_raises"] += 1
            s.hand = True
        elif ln.type == "lower_hand":
            s.hand = False
        elif ln.type == "share_start":
            s.sharing = True
        elif ln.type == "share_end":
            s.sharing = False
        elif ln.type == "chat":
            counts[k]["chat_messages"] += 1
            to = ln.extra["to"]
            counts[k]["chat_to"][to] = counts[k]["chat_to"].get(to, 0) + 1
        elif ln.type == "reaction":
            counts[k]["reactions"] += 1
        elif ln.type == "rename":
            counts[k]["renames"].append(ln.extra["name"])
        emit(t, ln.type, k, **ln.extra)
    for (k, what) in list(opened):
        close(k, what, dur)
    events.append({"t": dur, "type": "end"})
    return events, spans, counts


# --------------------------------------------------------------------------- audio


def _trim(x: np.ndarray) -> np.ndarray:
    above = np.flatnonzero(np.abs(x) > 10 ** (TRIM_DBFS / 20))
    if above.size == 0:
        return x[:0]
    return x[above[0]: above[-1] + 1]


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst:
        return x
    from scipy.signal import resample_poly
    g = math.gcd(src, dst)
    return resample_poly(x, dst // g, src // g).astype(np.float32)


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "little")


def _noise(n: int, rate: int, dbfs: float, key: str) -> np.ndarray:
    """Steady, slightly pink-ish noise floor (white noise through a one-pole low-pass),
    scaled to exactly ``dbfs`` RMS. Seeded from the participant key."""
    from scipy.signal import lfilter
    rng = np.random.default_rng(_seed("noise", key))
    w = rng.standard_normal(n + rate // 10)
    y = lfilter([1.0], [1.0, -0.7], w)[rate // 10:]  # drop filter warm-up
    y *= 10 ** (dbfs / 20) / np.sqrt(np.mean(y ** 2))
    return y


def _write_wav(path: Path, x: np.ndarray, rate: int) -> None:
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    tmp = path.with_name(path.name + ".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _r(x: float) -> float:
    return round(float(x), 6)


def _json(obj: Any, ind: str = "") -> str:
    """Readable JSON: one key per line, lists of scalars / small records on one line."""
    def flat(o: Any) -> bool:
        if isinstance(o, list):
            return all(not isinstance(v, (list, dict)) or (isinstance(v, list) and flat(v)) for v in o)
        return False
    if isinstance(obj, dict) and obj:
        inner = ind + "  "
        items = [f"{inner}{json.dumps(k)}: {_json(v, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + ind + "}"
    if isinstance(obj, list) and obj and not flat(obj):
        inner = ind + "  "
        return "[\n" + ",\n".join(inner + _json(v, inner) for v in obj) + "\n" + ind + "]"
    return json.dumps(obj, ensure_ascii=False)


# --------------------------------------------------------------------------- main entry points


def build(script: dict[str, Any], out_dir: Path, *, script_name: str = "script",
          progress: Progress = None) -> dict[str, Any]:
    """Validate ``script`` (a parsed YAML mapping), synthesise and write the scenario into
    ``out_dir`` unconditionally. Returns the truth dict. Prefer ``generate`` (cached)."""
    say = progress or (lambda msg: None)
    meeting, audio_rate, parts, lines = _parse(script)
    events, spans, counts = _replay(meeting, parts, lines)
    dur = meeting["duration_s"]

    def audible_span(k: str, t: float) -> list[float] | None:
        for a, b in spans[k]["unmuted"]:
            if a <= t < b:
                return [a, b]
        return None

    # cheap checks before synthesis
    says = [ln for ln in lines if ln.type == "say"]
    for ln in says:
        if not any(a <= ln.t < b for a, b in spans[ln.who]["presence"]):
            raise ValueError(f"{ln.describe()}: {ln.who} is not joined at t={ln.t:g}")
        if audible_span(ln.who, ln.t) is None:
            raise ValueError(f"{ln.describe()}: {ln.who} is muted at t={ln.t:g}")

    native = tts.sample_rate()
    rate = audio_rate or native
    n_total = int(round(dur * rate))
    clean = {k: np.zeros(n_total, np.float64) for k in parts}
    utts: dict[str, list[dict[str, Any]]] = {k: [] for k in parts}
    for i, ln in enumerate(says, 1):
        p = parts[ln.who]
        say(f"synthesising {i}/{len(says)}: {ln.who} at t={ln.t:g}")
        audio, sr = tts.synthesize(ln.extra["text"], p.voice, seed=_seed("say", ln.who) & 0x7FFFFFFF)
        seg = _trim(_resample(_trim(audio), sr, rate).astype(np.float64) * 10 ** (p.gain_db / 20))
        if seg.size == 0:
            raise ValueError(f"{ln.describe()}: eSpeak produced no audible speech")
        s0 = int(round(ln.t * rate))
        s1 = s0 + seg.size
        start, end = s0 / rate, s1 / rate
        span = audible_span(ln.who, ln.t)
        if end > span[1] and span[1] < dur:
            raise ValueError(f"{ln.describe()}: speech lasts until {end:.3f}s but {ln.who} is muted "
                             f"or leaves at {span[1]:g}s")
        if s1 > n_total or end > span[1]:
            raise ValueError(f"{ln.describe()}: speech ends at {end:.3f}s, after the meeting end ({dur:g}s)")
        prev = utts[ln.who][-1] if utts[ln.who] else None
        if prev and start < prev["end"]:
            raise ValueError(f"{ln.describe()}: overlaps {ln.who}'s previous say line "
                             f"timeline[{prev['line']}] ({prev['start']:.3f}-{prev['end']:.3f}s)")
        clean[ln.who][s0:s1] = seg
        utts[ln.who].append({"start": start, "end": end, "text": ln.extra["text"], "line": ln.index,
                             "samples": [s0, s1]})

    # mix microphone tracks: own speech + crosstalk leakage + noise floor
    out_dir.mkdir(parents=True, exist_ok=True)
    chan_dir = out_dir / "channels"
    chan_dir.mkdir(exist_ok=True)
    for k, p in parts.items():
        say(f"mixing channels/{k}.wav")
        track = clean[k].copy()
        if p.leak_from:
            d = int(round(p.leak_delay_ms * rate / 1000))
            g = 10 ** (p.leak_db / 20)
            for src in p.leak_from:
                track[d:] += g * clean[src][: n_total - d]
        if p.noise_db is not None:
            track += _noise(n_total, rate, p.noise_db, k)
        _write_wav(chan_dir / f"{k}.wav", track, rate)
    keep = {f"{k}.wav" for k in parts}
    for f in chan_dir.glob("*.wav"):
        if f.name not in keep:
            f.unlink()

    # scenario.yaml
    plist = []
    for k, p in parts.items():
        plist.append({**p.fields, "audio": f"channels/{k}.wav", "audio_offset_s": 0.0})
    head = {"meeting": {**meeting}, "participants": plist}
    ev_lines = []
    for e in sorted(events, key=lambda e: e["t"]):  # stable
        e = {**e, "t": _r(e["t"])}
        ev_lines.append("  - " + yaml.safe_dump(e, default_flow_style=True, sort_keys=False,
                                                allow_unicode=True, width=10_000).strip())
    text = (f"# Generated by bot.generator.scenario_gen from {script_name}; do not edit (edit the script).\n"
            + yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=10_000)
            + "events:\n" + "\n".join(ev_lines) + "\n")
    _write_text(out_dir / "scenario.yaml", text)

    truth = _truth(meeting, rate, parts, spans, counts, utts)
    _write_text(out_dir / "truth.json", _json(truth) + "\n")
    return truth


def _truth(meeting, rate, parts, spans, counts, utts) -> dict[str, Any]:
    """truth.json layout::

        {"generator_version", "meeting": {...}, "audio_rate", "trim_dbfs",
         "participants": {key: {
             "name", "role",
             "speech": [[start_s, end_s], ...],      # exact sample extents of the utterances
             "utterances": [{"start", "end", "text", "samples": [s0, s1]}, ...],
             "talk_s",                               # sum of speech
             "presence": [[join_s, leave_s], ...],   # rejoins are separate intervals
             "present_s", "unmuted": [[a, b], ...], "camera_on": [[a, b], ...], "camera_on_s",
             "chat_messages", "chat_to": {target: n}, "hand_raises", "reactions", "renames",
             "noise_db", "leak": {"from", "db", "delay_ms"} | null}},
         "overlaps": [{"a", "b", "start", "end"}, ...]}   # cross-talk between different people
    """
    out: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "meeting": meeting,
        "audio_rate": rate,
        "trim_dbfs": TRIM_DBFS,
        "participants": {},
    }
    for k, p in parts.items():
        sp = spans[k]
        u = utts[k]
        out["participants"][k] = {
            "name": p.fields["name"],
            "role": p.fields["role"],
            "speech": [[_r(x["start"]), _r(x["end"])] for x in u],
            "utterances": [{"start": _r(x["start"]), "end": _r(x["end"]), "text": x["text"],
                            "samples": x["samples"]} for x in u],
            "talk_s": _r(sum(x["end"] - x["start"] for x in u)),
            "presence": [[_r(a), _r(b)] for a, b in sp["presence"]],
            "present_s": _r(sum(b - a for a, b in sp["presence"])),
            "unmuted": [[_r(a), _r(b)] for a, b in sp["unmuted"]],
            "camera_on": [[_r(a), _r(b)] for a, b in sp["video"]],
            "camera_on_s": _r(sum(b - a for a, b in sp["video"])),
            **counts[k],
            "noise_db": p.noise_db,
            "leak": ({"from": p.leak_from, "db": p.leak_db, "delay_ms": p.leak_delay_ms}
                     if p.leak_from else None),
        }
    overlaps = []
    keys = list(parts)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            for x in utts[a]:
                for y in utts[b]:
                    s, e = max(x["start"], y["start"]), min(x["end"], y["end"])
                    if s < e:
                        overlaps.append({"a": a, "b": b, "start": _r(s), "end": _r(e)})
    out["overlaps"] = sorted(overlaps, key=lambda o: o["start"])
    return out


def _script_hash(data: bytes) -> str:
    """Cache key: script bytes + generator version + eSpeak NG package version."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        espeak = version("espeakng-loader")
    except PackageNotFoundError:
        espeak = "?"
    head = f"rollcall-scenario-gen-v{GENERATOR_VERSION}/espeakng-loader-{espeak}\0".encode()
    return hashlib.sha256(head + data).hexdigest()


def generate(script_path: str | Path, out_dir: str | Path, progress: Progress = None) -> Path:
    """Build the scenario for ``script_path`` into ``out_dir`` unless ``out_dir`` already holds the
    output of the same script content (and generator version). Returns ``out_dir/scenario.yaml``."""
    script_path, out_dir = Path(script_path), Path(out_dir)
    data = script_path.read_bytes()
    digest = _script_hash(data)
    marker = out_dir / ".script_sha256"
    scenario = out_dir / "scenario.yaml"
    if marker.is_file() and marker.read_text().strip() == digest and scenario.is_file() \
            and (out_dir / "truth.json").is_file():
        truth = json.loads((out_dir / "truth.json").read_text(encoding="utf-8"))
        if all((out_dir / "channels" / f"{k}.wav").is_file() for k in truth.get("participants", {})):
            if progress:
                progress(f"scenario up to date: {out_dir}")
            return scenario
    script = yaml.safe_load(data.decode("utf-8"))
    if marker.exists():
        marker.unlink()  # invalidate first: a crash mid-build must not look like a cache hit
    if progress:
        progress(f"generating scenario from {script_path.name} into {out_dir}")
    build(script, out_dir, script_name=script_path.name, progress=progress)
    _write_text(marker, digest + "\n")
    if progress:
        progress("scenario ready")
    return scenario


def cache_dir() -> Path:
    """Where generated scenarios are kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rollcall"


def ensure_demo_scenario(cache_dir: str | Path, progress: Progress = None) -> Path:
    """Build (once; cached) the demo compliance-training scenario into ``cache_dir/demo_training``.
    Returns the path of its ``scenario.yaml``; ``truth.json`` is next to it."""
    return generate(DEMO_SCRIPT, Path(cache_dir) / "demo_training", progress=progress)
