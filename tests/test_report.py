"""report.json models and the HTML page."""
from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import pytest

from analysis.events import MeetingEvent as E
from analysis.events import SpeechSegment as S
from analysis.meeting_state import MeetingState
from analysis.report import Report, TranscriptEntry, build_report
from bot.report_html import render_report_html

EVIL = "<script>alert(1)</script>"
INFO = {"id": 85012345678, "topic": "Quarterly <compliance> training", "start": "2026-11-20T15:00:00Z",
        "duration_s": 60}


def _meeting() -> tuple[MeetingState, list[S]]:
    st = MeetingState()
    st.apply_all([
        E(0, "join", "p1", 1, name="Dana Host", role="host", customer_key="emp-1001"),
        E(0, "unmute", "p1"), E(0, "join", "p2", 2, name=EVIL), E(1, "join", "p3", 3, name="Lee", consent=False),
        E(3, "video_on", "p1"), E(12.5, "chat", "p2", text="Is this <b>recorded</b>?", to="everyone"),
        E(13, "chat", "p3", text="my private note"), E(20, "raise_hand", "p3"), E(21, "raise_hand", "p2"),
        E(30, "reaction", "p2", emoji="👍"), E(31, "share_start", "p1"), E(35, "share_end", "p1"),
        E(40, "leave", "p3"), E(45, "join", "p3", 33), E(50, "rename", "p2", name="Sam (IT)"),
        E(55, "mute", "p2"), E(60, "end"),
    ])
    segments = [S("p1", 0, 10), S("p1", 12, 30), S("p2", 5, 13), S("p2", 35, 39),
                S("p3", 1, 5)]  # p3 opted out: must be dropped even if a detector emitted it
    return st, segments


@pytest.fixture
def report() -> Report:
    st, segments = _meeting()
    tx = [TranscriptEntry(participant="p1", start_s=0, end_s=10, text="Welcome"),
          {"participant": "p3", "start_s": 1, "end_s": 5, "text": "should not be kept"}]
    return build_report(INFO, st, segments, tx)


CONTRACT = {
    "meeting": {"id", "topic", "started_at", "ended_at", "duration_s"},
    "participants": {"key", "name", "customer_key", "persistent_id", "consent", "presence", "present_s",
                     "talk_time_s", "speaking_pct", "turns", "longest_monologue_s", "interruptions_made",
                     "interrupted_by_others", "camera_on_s", "chat_messages", "reactions", "hand_raises",
                     "attention_score", "engagement_score", "compliance"},
    "presence": {"join_s", "leave_s"},
    "transcript": {"participant", "start_s", "end_s", "text"},
    "meeting_metrics": {"talk_balance", "overlap_s", "silence_s"},
}


def test_report_json_has_every_contract_key(report):
    d = json.loads(report.model_dump_json())
    assert {"meeting", "participants", "transcript", "meeting_metrics"} <= set(d)
    assert CONTRACT["meeting"] <= set(d["meeting"])
    assert CONTRACT["meeting_metrics"] <= set(d["meeting_metrics"])
    assert d["participants"] and d["transcript"]
    for p in d["participants"]:
        assert CONTRACT["participants"] <= set(p), CONTRACT["participants"] - set(p)
        for span in p["presence"]:
            assert CONTRACT["presence"] <= set(span)
    for line in d["transcript"]:
        assert CONTRACT["transcript"] <= set(line)
    assert d["meeting"]["started_at"] == "2026-11-20T15:00:00Z"
    assert d["meeting"]["ended_at"] == "2026-11-20T15:01:00Z"
    assert d["meeting"]["id"] == "85012345678" and d["meeting"]["duration_s"] == 60
    assert Report.model_validate(d) == report  # round-trips


def test_report_values(report):
    p = {x.key: x for x in report.participants}
    assert p["p1"].talk_time_s == 28 and p["p1"].speaking_pct == 70 and p["p1"].longest_monologue_s == 18
    assert p["p1"].camera_on_s == 57 and p["p1"].customer_key == "emp-1001" and p["p1"].role == "host"
    assert [(s.start_s, s.end_s) for s in p["p1"].share] == [(31, 35)]
    assert p["p2"].name == "Sam (IT)" and [h.name for h in p["p2"].name_history] == [EVIL, "Sam (IT)"]
    assert p["p2"].chat_messages == 1 and p["p2"].reactions == 1 and p["p2"].hand_raises == 1
    mm = report.meeting_metrics
    assert mm.overlap_s == 6 and mm.silence_s == 26  # speech 0..30 and 35..39 in 0..60
    assert mm.talk_balance == pytest.approx(0.6)  # two eligible talkers, 28 vs 12
    assert mm.interruption_matrix == {"p2": {"p1": 1}, "p1": {"p2": 1}}
    assert mm.participants_total == 3 and mm.peak_present == 3
    # scores are in 0..1 and explained by their components: the weighted mean of those that apply
    for x in (p["p1"], p["p2"]):
        assert 0 <= x.attention_score <= 1 and 0 <= x.engagement_score <= 1
        a, w = x.attention, x.attention.weights
        assert a.responsiveness is None and "responsiveness" not in w  # no roll call: left out, the rest scaled
        assert sum(w.values()) == pytest.approx(1.0, abs=1e-3)
        want = (w["presence"] * a.presence_share + w["camera"] * a.camera_share + w["interaction"] * a.interaction
                + w["speaking"] * a.speaking)
        assert x.attention_score == pytest.approx(want, abs=1e-3)
    # p1: here all along, camera 57 of 60 s, no chat/reactions/hands, spoke: (0.35 + 0.2 × 0.95 + 0.1) / 0.8
    assert p["p1"].attention_score == pytest.approx((0.35 * 1 + 0.2 * 57 / 60 + 0.15 * 0 + 0.1 * 1) / 0.8, abs=1e-3)
    e = p["p2"].engagement
    assert e.talk_component == pytest.approx(0.6)  # 30 % share vs 50 % equal share
    assert e.spread == 0.75  # turns at 5 and 35 s, chat at 12.5, hand at 21, reaction at 30: quarters 1, 2, 3
    assert p["p2"].engagement_score == pytest.approx(0.6 * 0.6 + 0.2 * 0.75 + 0.2 * 1.0)  # 3 non-verbal actions


def test_opted_out_participant_has_presence_only(report):
    p3 = next(p for p in report.participants if p.key == "p3")
    assert p3.consent is False
    assert [(s.join_s, s.leave_s) for s in p3.presence] == [(1, 40), (45, 60)]
    assert p3.present_s == 54
    for field in ("talk_time_s", "speaking_pct", "turns", "longest_monologue_s", "interruptions_made",
                  "interrupted_by_others", "camera_on_s", "chat_messages", "reactions", "hand_raises",
                  "attention_score", "engagement_score"):
        assert getattr(p3, field) is None, field
    assert p3.speech == [] and p3.chat_times == []
    assert all(m.sender != "p3" for m in report.chat)
    assert all(t.participant != "p3" for t in report.transcript)
    assert "my private note" not in report.model_dump_json()
    assert "should not be kept" not in report.model_dump_json()
    # p3's (bogus) segment 1..5 did not count anywhere
    assert report.meeting_metrics.total_talk_s == 40


def test_report_from_flat_segments_without_end_event():
    st = MeetingState()
    st.apply_all([E(2, "join", "a", 1, name="A"), E(2, "join", "b", 2, name="B"), E(30, "leave", "b")])
    r = build_report({"id": "1", "topic": "t", "start": "2026-01-01T10:00:00+01:00", "duration_s": 40},
                     st, [S("a", 2, 12)])
    assert r.meeting.started_at == "2026-01-01T09:00:00Z"
    a, b = r.participants
    assert [(s.join_s, s.leave_s) for s in a.presence] == [(2, 40)]  # open presence closed at the end
    assert b.talk_time_s == 0 and b.turns == 0 and b.speaking_pct == 0
    assert r.meeting_metrics.window.start_s == 2 and r.meeting_metrics.silence_s == 28
    assert r.meeting_metrics.talk_balance == 0  # one of the two present people did all the talking


# ------------------------------------------------------------------ HTML
def test_html_is_self_contained_and_escaped(report):
    page = render_report_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Is this &lt;b&gt;recorded&lt;/b&gt;?" in page
    assert "Quarterly &lt;compliance&gt; training" in page
    assert "my private note" not in page


def test_html_one_timeline_row_per_participant(report):
    page = render_report_html(report)
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    rows = re.findall(r'<g class="row" data-key="([^"]*)"', svg)
    assert rows == [p.key for p in report.participants]
    assert "opted out" in page
    assert svg.count('fill="url(#hatch)"') == len(report.meeting_metrics.overlap_intervals) == 2


def test_html_scales_to_many_participants():
    st = MeetingState()
    segs = []
    for i in range(50):
        st.apply(E(float(i), "join", f"k{i}", i, name=f"Person {i}"))
        segs.append(S(f"k{i}", 100 + i * 10, 105 + i * 10))
    st.apply(E(3600 * 1.5, "end"))
    r = build_report({"id": "9", "topic": "big", "start": "2026-11-20T15:00:00Z"}, st, segs)
    page = render_report_html(r)
    assert r.meeting.duration_s == 5400
    assert len(re.findall(r'<g class="row"', page)) == 50
    assert "1:30:00" in page  # hour-style axis labels


def test_html_legend_marks_and_overlap_bands(report):
    page = render_report_html(report)
    legend = re.search(r"<div class='legend'>.*?</div></div>", page, re.S).group(0)
    for p in report.participants:  # every participant in the colour key, opted-out ones marked
        assert f"title='{html.escape(p.name, quote=True)}'" in legend
    assert "(opted out)" in legend and "opted out: presence only" in legend
    for mark in ("talking", "camera on", "sharing screen", "chat message", "hand raised", "2+ talking at once",
                 "interruption"):
        assert mark in legend, mark
    svg = re.search(r"<svg class=\"timeline\".*?</svg>", page, re.S).group(0)
    # each overlap stretch: one hatched bar in the overlap row and one band across all rows
    assert svg.count('<rect class="ovl"') == len(report.meeting_metrics.overlap_intervals)
    # each interruption: one arrow from the interrupter's row to the interrupted one
    assert svg.count('<g class="cutin"') == len(report.interruptions) == 2
    # the opted-out participant: presence only, flagged in the timeline and in the table
    assert 'data-key="p3" data-opted-out="true"' in svg
    row = re.search(r'<tr class="optout">.*?</tr>', page, re.S).group(0)
    assert "Opted out of analytics" in row and "score" not in row


def test_html_no_external_references_even_with_urls_in_user_text():
    st = MeetingState()
    st.apply_all([E(0, "join", "a", 1, name="A https://evil.example/x.png"),
                  E(5, "chat", "a", text='see https://example.com/a?b=1&c="2" <a href="//x">x</a>'),
                  E(9, "reaction", "a", emoji="<img src=//x>"), E(10, "end")])
    page = render_report_html(build_report({"id": "1", "topic": "t", "start": "2026-11-20T15:00:00Z"}, st,
                                           [S("a", 1, 4)]))
    refs: list[str] = []

    class Refs(HTMLParser):  # every attribute that could load something, as a browser parses the page
        def handle_starttag(self, tag, attrs):
            refs.extend(f"{tag}:{v}" for k, v in attrs if k in ("src", "href", "xlink:href", "action", "srcset"))
            refs.extend(f"{tag}:{v}" for k, v in attrs if k in ("style", "fill", "stroke", "marker-end")
                        and "url(" in (v or "") and "url(#" not in v)

    Refs().feed(page)
    assert refs == []
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    assert "//" not in css.replace("://", "") and "url(" not in css
    assert "@import" not in page and "<script" not in page.lower() and "<link" not in page.lower()
    assert "&lt;a href=&quot;//x&quot;&gt;x&lt;/a&gt;" in page and "&lt;img src=//x&gt;" in page


def test_gaps_are_in_the_report_and_said_plainly_in_the_html():
    st, segments = _meeting()
    gapped = MeetingState()
    gapped.apply_all([E(0, "join", "p1", 1, name="Dana Host", role="host"), E(0, "gap_start", reason="recording_not_permitted"),
                      E(10, "gap_end", reason="recording_not_permitted"), E(40, "gap_start", reason="breakout"),
                      E(40, "gap_start", reason="breakout"), E(60, "end")])
    r = build_report(INFO, gapped, [S("p1", 12, 20)])
    assert [(g.reason, g.start_s, g.end_s, g.audio_only) for g in r.observer.gaps] == [
        ("recording_not_permitted", 0.0, 10.0, True), ("breakout", 40.0, 60.0, False)]
    assert r.observer.audio_observed_s == 30.0 and gapped.redundant == 1  # a gap opened twice is one gap
    page = render_report_html(r)
    assert "Not fully observed" in page and "0:00–0:10 not recorded: the host had not allowed recording" in page
    assert "Not fully observed" not in render_report_html(build_report(INFO, st, segments))


def test_transcript_coverage_accounts_for_talk_and_html_marks_what_was_dropped():
    from analysis.transcript_coverage import DropReason, Outcome, summarise

    st, segments = _meeting()
    talk = {"p1": [(0, 10), (12, 30)], "p2": [(5, 13), (35, 39)]}
    outcomes = [Outcome("p1", -0.2, 10.2, "hello there"), Outcome("p1", 11.8, 20.0, None, DropReason.BACKLOG),
                Outcome("p1", 20.0, 24.0, None, DropReason.BACKLOG), Outcome("p1", 24.0, 30.2, "and so on"),
                Outcome("p2", 4.8, 13.2, ""), Outcome("p3", 1, 5, None, DropReason.SHUTDOWN)]  # p3 opted out
    asr = summarise("tiny", {"beam_size": 1}, talk, outcomes, [0.9, 1.1, 1.4], redecoded=0)
    assert asr.talk_s == 40 and asr.transcribed_s == 16 + 8 and asr.empty_s == 8
    assert asr.dropped_s == {"backlog": 12.0} and asr.uncovered_s == 4  # p2's 35-39 s reached no recogniser
    assert [d.participant for d in asr.drops] == ["p1", "p1"]  # nothing of who opted out
    r = build_report(INFO, st, segments, [TranscriptEntry(participant="p1", start_s=0, end_s=10, text="hello there")],
                     transcribed=True, asr=asr)
    assert Report.model_validate_json(r.model_dump_json()).asr == asr
    page = render_report_html(r)
    assert "[0:12–0:24 not transcribed: CPU backlog]" in page  # the two drops as one stretch
    assert "60% of 40 s of talk transcribed; not transcribed: 12 s CPU backlog; 4 s unaccounted for" in page
