"""Reconciliation, the pure part: Zoom's participant rows plus the bot's report(s) → one final record.

No I/O; everything arrives as arguments. The rules (``../shared/reference/zoom-rest-webhooks.md`` §5, §8):

- **Who is who.** Rows are per join. Rows sharing a customer key, registrant id, Zoom user id or
  e-mail are one person; a row with none of those (a breakout move, an external attendee) joins the
  one person with the same normalised name, or forms its own. The bot's rows (customer key
  ``rollcall-…``) are not a person: they are what the bot observed. Each bot participant is matched
  by customer key, then persistent id (= Zoom user id), then registrant binding, then name.
- **How long.** A person's presence is the union of their ``in_meeting`` rows (rejoins, two devices,
  breakout rooms), clipped to the instance's window; waiting-room rows count separately, never as
  presence. A row without a leave time ends at the meeting's end (flagged inferred).
- **Which clock.** Bot times are seconds since the bot joined; its own row's join time in Zoom's report
  puts them on Zoom's clock (else the bot's wall-clock start, flagged).
- **How much is known.** For each person, ``coverage`` is the share of their presence the bot was there
  to observe (its time in the meeting, less the gaps it reported: reconnecting, waiting room, breakout
  rooms); talk, camera and chat figures describe only that share. ``heard_s`` is the part of it the bot
  also had audio for (less its audio gaps: no permission to record, no audio): talk figures describe that.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from analysis import presence as iv
from analysis import scores
from analysis.report import iso_utc
from analysis.report import rounded as _r
from orchestrator.zoom.models import ReportParticipant

BOT_KEY_PREFIX = "rollcall-"
RECORD_VERSION = 1

# bot figures copied per person (summed over the bot participants matched to them)
_SUMMED = ("talk_time_s", "camera_on_s", "overlap_s")
JOIN_MATCH_S = 5.0  # a bot's first sight of someone and Zoom's join time of their row: clocks and delays

_COUNTED = ("turns", "interruptions_made", "interrupted_by_others", "chat_messages", "reactions", "hand_raises")
_MAXED = ("longest_monologue_s",)


def normalise_name(name: str | None) -> str:
    """Case, accents, punctuation and spacing do not tell people apart; report names show '#' for ','."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKD", name.replace("#", ","))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def _email(e: str | None) -> str | None:
    return e.strip().lower() if e and "@" in e else None


@dataclass(frozen=True)
class MeetingWindow:
    """What is known about the instance's start and end, best source first."""

    uuid: str
    meeting_id: str
    topic: str
    start: datetime
    end: datetime | None  # from Zoom's details, else the meeting.ended webhook
    end_source: str = "zoom"  # zoom | webhook


# ------------------------------------------------------------------------------------------ identities
class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def _strong_keys(row: ReportParticipant) -> list[tuple[str, str]]:
    out = []
    if row.customer_key:
        out.append(("customer_key", row.customer_key))
    if row.registrant_id:
        out.append(("registrant_id", row.registrant_id))
    for uid in {row.participant_user_id, row.id} - {None}:
        out.append(("zoom_user_id", uid))
    if _email(row.user_email):
        out.append(("email", _email(row.user_email)))
    return out


def group_rows(rows: Sequence[ReportParticipant]) -> list[list[int]]:
    """Indices of ``rows`` grouped by person (rows of the bot must be left out by the caller)."""
    uf = _UnionFind(len(rows))
    owner: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        for k in _strong_keys(row):
            if k in owner:
                uf.join(i, owner[k])
            else:
                owner[k] = i
    keyed = [i for i, r in enumerate(rows) if _strong_keys(r)]
    by_name: dict[str, set[int]] = {}
    for i in keyed:
        by_name.setdefault(normalise_name(rows[i].name), set()).add(uf.find(i))
    loose: dict[str, int] = {}
    for i, row in enumerate(rows):
        name = normalise_name(row.name)
        if _strong_keys(row) or not name:  # a row with neither keys nor a name is someone on their own
            continue
        people = by_name.get(name, set())
        if len({uf.find(p) for p in people}) == 1:
            uf.join(i, next(iter(people)))
        elif name in loose:
            uf.join(i, loose[name])
        else:
            loose[name] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(rows)):
        groups.setdefault(uf.find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: min(g))


# ------------------------------------------------------------------------------------------ the record
@dataclass
class _Person:
    rows: list[ReportParticipant] = field(default_factory=list)
    bot: list[dict] = field(default_factory=list)  # bot report participants, each with "_offset_s"
    matched_by: str | None = None

    def keys(self) -> set[tuple[str, str]]:
        return {k for r in self.rows for k in _strong_keys(r)}

    def names(self) -> set[str]:
        return {normalise_name(r.name) for r in self.rows if r.name}


def _seconds(t: datetime | None, start: datetime) -> float | None:
    return None if t is None else (t - start).total_seconds()


def _spans(a: np.ndarray) -> list[dict[str, float]]:
    return [{"join_s": _r(s), "leave_s": _r(e)} for s, e in a]


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t


def _is_bot(row: ReportParticipant, observer_keys: set[str], observer_names: set[str]) -> bool:
    """The bot's own row: its customer key; in lists without customer keys (past participants), an
    anonymous row (no Zoom user id, no e-mail) under the bot's display name."""
    if row.customer_key:
        return row.customer_key in observer_keys or row.customer_key.startswith(BOT_KEY_PREFIX)
    return not row.id and not row.user_email and not row.registrant_id and normalise_name(row.name) in observer_names


def reconcile(window: MeetingWindow, rows: Sequence[ReportParticipant], bot_reports: Sequence[Mapping[str, Any]],
              *, bindings: Mapping[str, str] | None = None, now: datetime | None = None,
              rows_from: str | None = "report") -> dict[str, Any]:
    """The final record of one meeting instance. ``bindings`` maps registrant ids to the customer keys
    (employee ids) they were registered for, so an external attendee known only by registrant id is
    named. ``rows_from`` says which Zoom list the rows came from (report | past_participants; None for a
    simulated meeting, which has only its bots' reports)."""
    zoom_source = f"zoom_{rows_from}" if rows_from else "bots"
    start = _aware(window.start)
    observer_keys = {(r.get("observer") or {}).get("customer_key") for r in bot_reports} - {None}
    observer_names = {normalise_name((r.get("observer") or {}).get("name")) for r in bot_reports} - {""}
    # the bot's time in the waiting room is neither observation nor its media time 0
    bot_rows = [r for r in rows if _is_bot(r, observer_keys, observer_names) and r.status != "in_waiting_room"]
    human = [r for r in rows if not _is_bot(r, observer_keys, observer_names)]

    # the meeting's end: Zoom, the webhook, else the latest thing anyone saw (flagged)
    end_s = _seconds(_aware(window.end), start) if window.end else None
    end_source = window.end_source if window.end else None
    if end_s is None:
        seen = [_seconds(_aware(r.leave_time), start) for r in rows if r.leave_time]
        seen += [_seconds(_aware(r.join_time), start) for r in rows if r.join_time]
        seen += [_bot_start_s(b, bot_rows, start)[0] + float(b["meeting"]["duration_s"]) for b in bot_reports]
        end_s, end_source = (max(seen) if seen else 0.0), "inferred"
    end_s = max(0.0, end_s)

    def row_span(r: ReportParticipant) -> tuple[float, float, bool]:
        a = _seconds(_aware(r.join_time), start) if r.join_time else 0.0
        b = _seconds(_aware(r.leave_time), start) if r.leave_time else None
        inferred = b is None
        if b is None:
            b = a + r.duration if r.duration is not None else end_s
        return a, b, inferred

    # what the bot observed, on Zoom's clock: its time in the meeting less the gaps it reported; what it
    # heard: less its audio gaps too
    observed_parts, heard_parts, bot_gaps, clocks = [], [], [], []
    for b in bot_reports:
        offset, clock = _bot_start_s(b, bot_rows, start)
        clocks.append(clock)
        key = (b.get("observer") or {}).get("customer_key")
        rtms = (b.get("observer") or {}).get("transport") == "rtms"  # a stream has no row of its own
        own = [] if rtms else [row_span(r)[:2] for r in bot_rows
                               if (r.customer_key == key if r.customer_key else True)]
        span = own or [(offset, offset + float(b["meeting"]["duration_s"]))]
        gaps = [(offset + g["start_s"], offset + g["end_s"], g["reason"], bool(g.get("audio_only")))
                for g in (b.get("observer") or {}).get("gaps", [])]
        bot_gaps += gaps
        observed_parts += iv.to_pairs(iv.subtract(span, [(a, e) for a, e, _, audio in gaps if not audio]))
        heard_parts += iv.to_pairs(iv.subtract(span, [(a, e) for a, e, _, _ in gaps]))
    if not bot_reports:
        observed_parts = heard_parts = [row_span(r)[:2] for r in bot_rows]
    observed = iv.clip(observed_parts, 0.0, end_s)
    heard = iv.clip(heard_parts, 0.0, end_s)

    # people from Zoom's rows, then the bot's participants matched to them
    people = [_Person(rows=[human[i] for i in g]) for g in group_rows(human)]
    bound = {v: k for k, v in (bindings or {}).items()}  # customer key → registrant id
    for b in bot_reports:
        offset = _bot_start_s(b, bot_rows, start)[0]
        for p in b.get("participants", []):
            joined = start + timedelta(seconds=offset + p["first_join_s"]) if p.get("first_join_s") is not None else None
            person, how = _match(people, p, bound, joined)
            if person is None:
                person = _Person()
                people.append(person)
                how = "bot_only"
            person.bot.append({**p, "_offset_s": offset})
            person.matched_by = person.matched_by or how

    duration = end_s
    out_people = []
    for n, person in enumerate(people, 1):
        in_meeting = [row_span(r) for r in person.rows if (r.status or "in_meeting") != "in_waiting_room"]
        waiting = [row_span(r) for r in person.rows if r.status == "in_waiting_room"]
        presence = iv.clip([s[:2] for s in in_meeting], 0.0, end_s)
        source = zoom_source
        if not person.rows:  # only the bot saw them (e.g. a one-person report gap)
            presence = iv.clip([(x["join_s"] + bp["_offset_s"], x["leave_s"] + bp["_offset_s"])
                                for bp in person.bot for x in bp.get("presence", [])], 0.0, end_s)
            source = "bot"
        waiting_iv = iv.subtract(iv.clip([s[:2] for s in waiting], 0.0, end_s), presence)
        present_s = iv.total(presence)
        seen_s = iv.total(iv.intersect(presence, observed))
        heard_s = iv.total(iv.intersect(presence, heard))
        out_people.append(_person_record(n, person, presence, present_s, waiting_iv, seen_s, heard_s, duration, source,
                                         inferred=any(s[2] for s in in_meeting), bindings=bindings or {},
                                         zoom=zoom_source))

    transcript = []
    for b in bot_reports:
        offset = _bot_start_s(b, bot_rows, start)[0]
        transcript += [{**e, "start_s": _r(e["start_s"] + offset), "end_s": _r(e["end_s"] + offset)}
                       for e in b.get("transcript", [])]
    transcript.sort(key=lambda e: (e["start_s"], e["participant"]))
    key_of = {bp["key"]: rec["key"] for person, rec in zip(people, out_people) for bp in person.bot}
    for e in transcript:
        e["participant"] = key_of.get(e["participant"], e["participant"])

    metrics: dict[str, Any] = {}
    if len(bot_reports) == 1:  # the bot's talk metrics, its spans moved onto Zoom's clock
        metrics = dict(bot_reports[0].get("meeting_metrics", {}))
        offset = _bot_start_s(bot_reports[0], bot_rows, start)[0]
        moved = lambda x: {"start_s": _r(x["start_s"] + offset), "end_s": _r(x["end_s"] + offset)}  # noqa: E731
        if "window" in metrics:
            metrics["window"] = moved(metrics["window"])
        metrics["overlap_intervals"] = [moved(x) for x in metrics.get("overlap_intervals", [])]
    present_sets = [np.asarray([[s["join_s"], s["leave_s"]] for s in p["presence"]]).reshape(-1, 2) for p in out_people]
    metrics.update({
        "participants_total": len(out_people),
        "peak_present": iv.peak(present_sets),
        "attended_s_total": _r(sum(p["present_s"] for p in out_people)),
        "observed_share": _r(iv.total(observed) / duration, 4) if duration > 0 else None,
    })
    return {
        "record_version": RECORD_VERSION,
        "meeting": {"id": window.meeting_id, "uuid": window.uuid, "topic": window.topic,
                    "started_at": iso_utc(start), "ended_at": iso_utc(start + timedelta(seconds=end_s)),
                    "duration_s": _r(end_s),
                    "source": {"start": "zoom", "end": end_source, "participants": zoom_source}},
        "observer": {"customer_keys": sorted(observer_keys | {r.customer_key for r in bot_rows if r.customer_key}),
                     "observed": [{"start_s": _r(a), "end_s": _r(b)} for a, b in observed],
                     "gaps": [{"start_s": _r(a), "end_s": _r(b)} for a, b in iv.subtract([(0.0, end_s)], observed)
                              if b - a >= 0.01],
                     "observed_s": _r(iv.total(observed)), "heard_s": _r(iv.total(heard)),
                     "bot_gaps": [{"start_s": _r(max(0.0, a)), "end_s": _r(min(end_s, e)), "reason": reason,
                                   "audio_only": audio} for a, e, reason, audio in sorted(bot_gaps) if min(end_s, e) > a],
                     "clock": sorted(set(clocks)) or ["zoom_bot_row"],
                     "transports": sorted({(b.get("observer") or {}).get("transport", "zoom_sdk")
                                           for b in bot_reports})},
        "participants": out_people,
        "transcript": transcript,
        "meeting_metrics": metrics,
        "reconciled_at": iso_utc(now) if now else None,
    }


def _bot_start_s(report: Mapping[str, Any], bot_rows: Sequence[ReportParticipant],
                 start: datetime) -> tuple[float, str]:
    """Where the bot's media time 0 (its join) falls on Zoom's clock, and how that is known."""
    observer = report.get("observer") or {}
    started = datetime.fromisoformat(report["meeting"]["started_at"])
    if observer.get("transport") == "rtms":  # no row of its own: media time 0 is the stream's start, on Zoom's clock
        return (_aware(started) - start).total_seconds(), "rtms_stream"
    key = observer.get("customer_key")
    own = sorted((r.join_time for r in bot_rows if r.join_time and (r.customer_key == key if r.customer_key else True)),
                 key=lambda t: _aware(t))
    if own:
        return (_aware(own[0]) - start).total_seconds(), "zoom_bot_row"
    return (_aware(started) - start).total_seconds(), "bot_wall_clock"


def _match(people: list[_Person], p: Mapping[str, Any], bound: Mapping[str, str],
           joined: datetime | None = None) -> tuple[_Person | None, str | None]:
    """The one person of Zoom's rows a bot's participant is, by the strongest key that names exactly one; two
    people of one name (an RTMS stream knows no more than names and per-join ids) are told apart by the
    join time the bot saw, when exactly one of them joined then (``JOIN_MATCH_S``)."""
    ck, pid = p.get("customer_key"), p.get("persistent_id")
    tries = []
    if ck:
        tries.append(("customer_key", lambda x: ("customer_key", ck) in x.keys()))
        if ck in bound:
            tries.append(("registrant_id", lambda x: ("registrant_id", bound[ck]) in x.keys()))
    if pid:
        tries.append(("zoom_user_id", lambda x: ("zoom_user_id", pid) in x.keys()))
    joins = {str(u) for u in p.get("user_ids", [])}
    if joins:  # the per-join user id Zoom gives both the transport (RTMS, the SDK) and the report's rows
        tries.append(("user_id", lambda x: any(r.user_id in joins for r in x.rows)))
    names = {normalise_name(p.get("name"))} | {normalise_name(h.get("name")) for h in p.get("name_history", [])}
    names.discard("")
    tries.append(("name", lambda x: bool(names & x.names())))
    for how, test in tries:
        found = [x for x in people if x.rows and test(x)]
        if len(found) > 1 and joined is not None:
            found = [x for x in found if any(r.join_time and abs((_aware(r.join_time) - joined).total_seconds())
                                             <= JOIN_MATCH_S for r in x.rows)]
            how = f"{how}+join_time"
        if len(found) == 1:
            return found[0], how
    # a person only the bots saw: another bot (a replacement after a crash) saw them under the same key
    same = [x for x in people if not x.rows and any(b.get("key") == p.get("key") for b in x.bot)]
    return (same[0], "bot_key") if len(same) == 1 else (None, None)


def _person_record(n: int, person: _Person, presence: np.ndarray, present_s: float, waiting: np.ndarray,
                   seen_s: float, heard_s: float, duration: float, source: str, *, inferred: bool,
                   bindings: Mapping[str, str], zoom: str) -> dict[str, Any]:
    rows, bots = person.rows, person.bot
    zoom_name = next((r.name for r in sorted(rows, key=lambda r: r.join_time or datetime.min.replace(tzinfo=timezone.utc))
                      [::-1] if r.name), None)
    first_bot = bots[0] if bots else {}
    keys = person.keys()
    pick = lambda kind: next((v for k, v in sorted(keys) if k == kind), None)  # noqa: E731
    consent = None if not bots else all(b.get("consent", True) for b in bots)
    coverage = _r(seen_s / present_s, 4) if present_s > 0 else None
    rec: dict[str, Any] = {
        "key": first_bot.get("key") or f"zoom-{n}",
        "name": first_bot.get("name") or zoom_name or "",
        "customer_key": first_bot.get("customer_key") or pick("customer_key") or bindings.get(pick("registrant_id") or ""),
        "persistent_id": first_bot.get("persistent_id") or pick("zoom_user_id"),
        "consent": consent,
        "identity": {"matched_by": person.matched_by or ("zoom_only" if rows else None),
                     "rows_linked_by": sorted({k for k, _ in keys}),
                     "registrant_id": pick("registrant_id"), "zoom_user_id": pick("zoom_user_id"),
                     "email": pick("email"), "zoom_rows": len(rows)},
        "presence": _spans(presence), "present_s": _r(present_s),
        "first_join_s": _r(presence[0, 0]) if len(presence) else None,
        "waiting_room": [{"start_s": _r(a), "end_s": _r(b)} for a, b in waiting], "waiting_s": _r(iv.total(waiting)),
        "coverage": coverage, "observed_s": _r(seen_s), "heard_s": _r(heard_s),
    }
    analysed = bool(bots) and consent is not False
    for k in _SUMMED + _COUNTED:
        vals = [b.get(k) for b in bots if b.get(k) is not None]
        rec[k] = (int(sum(vals)) if k in _COUNTED else _r(sum(vals))) if analysed and vals else None
    for k in _MAXED:
        vals = [b.get(k) for b in bots if b.get(k) is not None]
        rec[k] = _r(max(vals)) if analysed and vals else None
    if rec["talk_time_s"] is not None and heard_s > 0:
        rec["speaking_pct"] = _r(100.0 * rec["talk_time_s"] / heard_s, 2)  # of the time the bot heard them present
    else:
        rec["speaking_pct"] = None
    rec["engagement_score"] = first_bot.get("engagement_score") if analysed and len(bots) == 1 else None
    rec["engagement"] = first_bot.get("engagement") if analysed and len(bots) == 1 else None
    rec["attention_score"], rec["attention"] = _attention(rec, present_s, seen_s, duration, analysed,
                                                          first_bot.get("attention") if len(bots) == 1 else None)
    rec["compliance"] = first_bot.get("compliance")
    bot_src = "bot" if analysed else "none"
    rec["source"] = {"presence": source, "presence_end": "inferred" if inferred else source,
                     "waiting_room": zoom if rows else "none", "talk": bot_src, "camera": bot_src,
                     "chat": bot_src, "attention": f"{zoom}+bot" if analysed and rows else bot_src,
                     "engagement": bot_src}
    return rec


def _attention(rec: dict, present_s: float, seen_s: float, duration: float, analysed: bool,
               bot_attention: Mapping[str, Any] | None = None) -> tuple[float | None, dict | None]:
    """The report's attention score with presence from Zoom (the whole meeting) and the camera share of
    the observed presence; responsiveness, interaction and speaking as the bot measured them."""
    if not analysed:
        return None, None
    bot = bot_attention or {}
    counted = [rec[k] for k in ("chat_messages", "reactions", "hand_raises") if rec[k] is not None]
    actions = sum(counted) if counted else None  # None: no bot could observe any of them (RTMS)
    camera = None if rec["camera_on_s"] is None else rec["camera_on_s"] / seen_s if seen_s > 0 else 0.0
    score, comps, weights = scores.attention(present_s / duration if duration > 0 else 0.0, camera,
                                             bot.get("responsiveness"), actions, (rec["turns"] or 0) > 0)
    return _r(score), {**comps, "weights": weights}
