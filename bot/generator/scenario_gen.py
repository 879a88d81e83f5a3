"""Scenario generator: a short YAML *script* -> a simulator scenario directory + exact ground truth.

Script format (YAML)::

    meeting:                       # copied into scenario.yaml
      id: "85012345678"
      topic: "Quarterly compliance training"
      start: "2026-11-20T15:00:00Z"  # ISO 8601 with a time zone
      duration_s: 60
      sample_rate: 32000           # what the simulated SDK delivers (32000 | 48000)
      frame_ms: 10
    audio_rate: 22050              # optional: rate of the written WAVs (default: eSpeak native, 22050)
    participants:
      - key: p1
        name: "Dana Host"
        role: host                 # host | cohost | attendee
        customer_key: "emp-1001"   # optional
        email: "dana@example.com"  # optional
        consent: true              # optional
        voice: {name: en-us, variant: m3, rate: 165, pitch: 40, range: 60}   # or "en-us+m3"
        gain_db: -6                # optional, speech level applied to eSpeak output (default -6)
        noise_db: -60              # optional steady background noise floor, RMS dBFS
        leak_from: all             # optional crosstalk: "all" or a list of keys
        leak_db: -18               #   level of the leaked copies relative to the source's speech
        leak_delay_ms: 4           #   acoustic delay of the leaked copies (default 4)
    timeline:                      # any order; sorted by t (stable)
      - {t: 0.0, type: join, who: p1}
      - {t: 0.0, type: unmute, who: p1}
      - {t: 1.0, type: say, who: p1, text: "Welcome, everyone."}
      - {t: 9.0, type: chat, who: p2, text: "Is this recorded?", to: everyone}
      # every other scenario event type is passed through unchanged:
      # join leave mute unmute video_on video_off chat raise_hand lower_hand reaction
      # share_start share_end rename   (`end` is optional; it is always written at duration_s)

Semantics and checks (violations raise ``ValueError`` naming the timeline line):

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
    .script_sha256          cache key (script bytes + generator version)

Entry points: ``generate(script_path, out_dir, progress=None)`` (cached on the script hash),
``ensure_demo_scenario(cache_dir, progress=None)`` (bot/generator/scenarios/demo_training.yaml), ``build``
(uncached, takes a parsed dict) and ``python -m bot.generator.scenario_gen SCRIPT OUT_DIR``.

Ground truth speech intervals are the sample extents of the utterances as written (eSpeak's
leading/trailing silence removed, everything below -50 dBFS at the edges cut off, so the clean
speech signal is exactly zero outside them).  Leakage and noise are never part of a participant's
speech truth.  Same script -> byte-identical outputs (noise is seeded from the participant key).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from bot.generator import tts

GENERATOR_VERSION = "1"
SCRIPTS = Path(__file__).with_name("scenarios")  # the generator scripts the product ships (demo, benches)
DEMO_SCRIPT = SCRIPTS / "demo_training.yaml"

TRIM_DBFS = -50.0
DEFAULT_GAIN_DB = -6.0
DEFAULT_LEAK_DELAY_MS = 4.0

ROLES = {"host", "cohost", "attendee"}
CHAT_TARGETS_FIXED = {"everyone", "host", "bot"}
# event type -> (required fields, optional fields) besides t/type/who
EVENT_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "join": (set(), set()), "leave": (set(), set()),
    "mute": (set(), set()), "unmute": (set(), set()),
    "video_on": (set(), set()), "video_off": (set(), set()),
    "raise_hand": (set(), set()), "lower_hand": (set(), set()),
    "share_start": (set(), set()), "share_end": (set(), set()),
    "chat": ({"text"}, {"to"}), "reaction": ({"emoji"}, set()), "rename": ({"name"}, set()),
    "say": ({"text"}, set()),
}
PARTICIPANT_FIELDS = {"key", "name", "role", "customer_key", "email", "consent", "voice", "gain_db",
                      "noise_db", "leak_from", "leak_db", "leak_delay_ms"}
VOICE_FIELDS = {"name", "variant", "rate", "pitch", "range", "volume", "wordgap"}

Progress = Callable[[str], None] | None


# --------------------------------------------------------------------------- parsing


@dataclass
class _Participant:
    key: str
    fields: dict[str, Any]            # what goes into scenario.yaml (without audio)
    voice: tts.Voice
    gain_db: float
    noise_db: float | None
    leak_from: list[str]
    leak_db: float | None
    leak_delay_ms: float


@dataclass
class _Line:
    index: int                        # position in the script's timeline (for messages)
    t: float
    type: str
    who: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        s = f"timeline[{self.index}] (t={self.t:g}, {self.type}"
        if self.who:
            s += f", who={self.who}"
        if "text" in self.extra:
            text = str(self.extra["text"])
            s += f", text={text[:40] + '...' if len(text) > 40 else text!r}"
        return s + ")"


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def _parse_voice(spec: Any, key: str) -> tts.Voice:
    if spec is None:
        return tts.Voice()
    if isinstance(spec, str):
        name, _, variant = spec.partition("+")
        return tts.Voice(name=name, variant=variant or None)
    if not isinstance(spec, dict):
        raise ValueError(f"participant {key}: voice must be a string or a mapping, got {spec!r}")
    unknown = set(spec) - VOICE_FIELDS
    if unknown:
        raise ValueError(f"participant {key}: unknown voice field(s) {sorted(unknown)}")
    kw: dict[str, Any] = {}
    for f in ("name", "variant"):
        if spec.get(f) is not None:
            kw[f] = str(spec[f])
    for f in ("rate", "pitch", "range", "volume", "wordgap"):
        if f in spec:
            kw[f] = int(_num(spec[f], f"participant {key}: voice.{f}"))
    return tts.Voice(**kw)


def _parse(script: dict[str, Any]) -> tuple[dict[str, Any], int | None, dict[str, _Participant], list[_Line]]:
    if not isinstance(script, dict):
        raise ValueError("script must be a YAML mapping")
    unknown = set(script) - {"meeting", "participants", "timeline", "audio_rate"}
    if unknown:
        raise ValueError(f"unknown top-level script key(s) {sorted(unknown)}")
    m = script.get("meeting")
    if not isinstance(m, dict):
        raise ValueError("script needs a 'meeting' mapping")
    for f in ("id", "topic", "start", "duration_s"):
        if f not in m:
            raise ValueError(f"meeting.{f} is required")
    start = m["start"]
    if isinstance(start, _dt.datetime):  # YAML parses unquoted timestamps
        start = start.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if start.tzinfo \
            else start.strftime("%Y-%m-%dT%H:%M:%S")
    try:
        start_dt = _dt.datetime.fromisoformat(str(start))
    except ValueError:
        raise ValueError(f"meeting.start {start!r} is not an ISO 8601 timestamp") from None
    if start_dt.tzinfo is None:
        raise ValueError(f"meeting.start {start!r} needs a time zone, e.g. 2026-11-20T15:00:00Z")
    meeting = {
        "id": str(m["id"]),
        "topic": str(m["topic"]),
        "start": str(start),
        "duration_s": _num(m["duration_s"], "meeting.duration_s"),
        "sample_rate": int(m.get("sample_rate", 32000)),
        "frame_ms": int(m.get("frame_ms", 10)),
    }
    if meeting["duration_s"].is_integer():
        meeting["duration_s"] = int(meeting["duration_s"])
    if meeting["duration_s"] <= 0:
        raise ValueError("meeting.duration_s must be > 0")
    if meeting["sample_rate"] not in (32000, 48000):
        raise ValueError(f"meeting.sample_rate must be 32000 or 48000, got {meeting['sample_rate']}")
    extra_m = set(m) - set(meeting)
    if extra_m:
        raise ValueError(f"unknown meeting field(s) {sorted(extra_m)}")
    audio_rate = script.get("audio_rate")
    if audio_rate is not None:
        audio_rate = int(_num(audio_rate, "audio_rate"))
        if not 8000 <= audio_rate <= 48000:
            raise ValueError(f"audio_rate {audio_rate} out of range 8000..48000")

    plist = script.get("participants")
    if not isinstance(plist, list) or not plist:
        raise ValueError("script needs a non-empty 'participants' list")
    parts: dict[str, _Participant] = {}
    for i, p in enumerate(plist):
        if not isinstance(p, dict) or "key" not in p or "name" not in p:
            raise ValueError(f"participants[{i}] needs at least 'key' and 'name'")
        key = str(p["key"])
        if key in parts:
            raise ValueError(f"participants[{i}]: duplicate key {key!r}")
        if key in CHAT_TARGETS_FIXED or not key.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"participants[{i}]: invalid key {key!r} (alphanumeric, not everyone/host/bot)")
        unknown = set(p) - PARTICIPANT_FIELDS
        if unknown:
            raise ValueError(f"participant {key}: unknown field(s) {sorted(unknown)}")
        role = p.get("role", "attendee")
        if role not in ROLES:
            raise ValueError(f"participant {key}: role must be one of {sorted(ROLES)}, got {role!r}")
        fields: dict[str, Any] = {"key": key, "name": str(p["name"]), "role": role}
        for f in ("customer_key", "email"):
            if p.get(f) is not None:
                fields[f] = str(p[f])
        if len(fields.get("customer_key", "")) > 35:
            raise ValueError(f"participant {key}: customer_key is longer than 35 characters (Zoom's limit)")
        if "consent" in p:
            if not isinstance(p["consent"], bool):
                raise ValueError(f"participant {key}: consent must be true/false")
            fields["consent"] = p["consent"]
        leak_from = p.get("leak_from")
        leak_db = p.get("leak_db")
        if (leak_from is None) != (leak_db is None):
            raise ValueError(f"participant {key}: leak_from and leak_db go together")
        parts[key] = _Participant(
            key=key, fields=fields, voice=_parse_voice(p.get("voice"), key),
            gain_db=_num(p.get("gain_db", DEFAULT_GAIN_DB), f"participant {key}: gain_db"),
            noise_db=None if p.get("noise_db") is None else _num(p["noise_db"], f"participant {key}: noise_db"),
            leak_from=[] if leak_from is None else (["all"] if leak_from == "all" else leak_from),
            leak_db=None if leak_db is None else _num(leak_db, f"participant {key}: leak_db"),
            leak_delay_ms=_num(p.get("leak_delay_ms", DEFAULT_LEAK_DELAY_MS), f"participant {key}: leak_delay_ms"),
        )
    for p in parts.values():
        if p.leak_from == ["all"]:
            p.leak_from = [k for k in parts if k != p.key]
        elif p.leak_from:
            if not isinstance(p.leak_from, list):
                raise ValueError(f"participant {p.key}: leak_from must be 'all' or a list of keys")
            for k in p.leak_from:
                if k not in parts or k == p.key:
                    raise ValueError(f"participant {p.key}: leak_from names unknown participant {k!r}")
        if p.leak_db is not None and p.leak_db > 0:
            raise ValueError(f"participant {p.key}: leak_db must be <= 0 dB")
        if p.noise_db is not None and p.noise_db >= 0:
            raise ValueError(f"participant {p.key}: noise_db must be < 0 dBFS")
        if p.leak_delay_ms < 0:
            raise ValueError(f"participant {p.key}: leak_delay_ms must be >= 0")

    tl = script.get("timeline")
    if not isinstance(tl, list):
        raise ValueError("script needs a 'timeline' list")
    lines: list[_Line] = []
    dur = meeting["duration_s"]
    for i, e in enumerate(tl):
        if not isinstance(e, dict) or "t" not in e or "type" not in e:
            raise ValueError(f"timeline[{i}]: each line needs 't' and 'type' ({e!r})")
        t = _num(e["t"], f"timeline[{i}].t")
        typ = str(e["type"])
        if typ == "end":
            if t != dur or set(e) - {"t", "type"}:
                raise ValueError(f"timeline[{i}]: 'end' may only appear at t=duration_s ({dur:g}); "
                                 "it is written automatically")
            continue
        if typ not in EVENT_FIELDS:
            raise ValueError(f"timeline[{i}] (t={t:g}): unknown type {typ!r}")
        if not 0 <= t <= dur:
            raise ValueError(f"timeline[{i}] (t={t:g}, {typ}): t outside 0..duration_s ({dur:g})")
        who = e.get("who")
        if who is None:
            raise ValueError(f"timeline[{i}] (t={t:g}, {typ}): 'who' is required")
        who = str(who)
        if who not in parts:
            raise ValueError(f"timeline[{i}] (t={t:g}, {typ}): unknown participant {who!r}")
        req, opt = EVENT_FIELDS[typ]
        extra = {k: v for k, v in e.items() if k not in ("t", "type", "who")}
        missing = req - set(extra)
        bad = set(extra) - req - opt
        if missing or bad:
            raise ValueError(f"timeline[{i}] (t={t:g}, {typ}, who={who}): "
                             f"missing {sorted(missing)} / unexpected {sorted(bad)} field(s)")
        for k in req:
            if not isinstance(extra[k], str) or not extra[k].strip():
                raise ValueError(f"timeline[{i}] (t={t:g}, {typ}, who={who}): '{k}' must be a non-empty string")
        if typ == "chat":
            to = str(extra.get("to", "everyone"))
            if to not in CHAT_TARGETS_FIXED and to not in parts:
                raise ValueError(f"timeline[{i}] (t={t:g}, chat, who={who}): unknown chat target {to!r}")
            extra["to"] = to
        lines.append(_Line(i, t, typ, who, extra))
    lines.sort(key=lambda ln: ln.t)  # stable: ties keep script order
    return meeting, audio_rate, parts, lines


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


if __name__ == "__main__":  # python -m bot.generator.scenario_gen SCRIPT OUT_DIR
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m bot.generator.scenario_gen SCRIPT.yaml OUT_DIR")
    print(generate(sys.argv[1], sys.argv[2], progress=lambda m: print(m, file=sys.stderr)))
