"""Issue 12's acceptance: whole meetings scripted against the faithful stand-in SDK, through the Zoom session
and the real pipeline, with real speech (the AMI minute) delivered as the SDK delivers it.

2. An ordinary meeting: the bot joins before the host; the host arrives after 3 minutes and allows
   recording, takes it back and allows it again, opens breakout rooms (the bot is sent to one) and closes
   them; another notetaker bot is there throughout. The report is complete, with the gaps marked.
3. An on-behalf join whose authorising user arrives after 40 s: the bot keeps trying, joins and records.
"""
from __future__ import annotations

from conftest import AMI_DIR, require_shared_data
from fake_zoom_sdk import FakeUser, FakeZoom

from analysis import presence as iv
from analysis.report import MeetingInfo
from bot.pipeline import MeetingPipeline, PipelineConfig
from bot.scenario import load_scenario, load_track
from bot.zoom.credentials import ZoomCredentials
from bot.lifecycle import Outcome, Phase
from bot.zoom.session import JoinSpec, ZoomSession

SECRET = "c" * 32


class Clock:
    def __init__(self) -> None:
        self.t = 5000.0

    def __call__(self) -> float:
        return self.t


def _reference(path) -> dict[str, list[tuple[float, float]]]:
    turns: dict[str, list[tuple[float, float]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            turns.setdefault(f[7], []).append((float(f[3]), float(f[3]) + float(f[4])))
    return turns


def test_an_ordinary_meeting_with_late_host_revoked_permission_breakouts_and_another_bot():
    ami = require_shared_data(AMI_DIR)
    scenario = load_scenario(ami / "scenario.yaml")
    rate = scenario.meeting.sample_rate
    tracks = {p.key: load_track(ami / "scenario.yaml", i, p, rate, 60.0) for i, p in enumerate(scenario.participants)}
    names = {p.key: p.name for p in scenario.participants}

    clock = Clock()
    fake = FakeZoom(can_record=False, host_answer="RequestLocalRecording_Granted")
    uid = {"MEO015": 100}  # there before the bot, like the other notetaker
    fake.users[100] = FakeUser(100, "MEO015", names["MEO015"], muted=False)
    fake.users[200] = FakeUser(200, "otter", "Otter.ai Notetaker")
    pipeline = MeetingPipeline(MeetingInfo(id="85012345678", start="2026-12-01T10:00:00Z"), PipelineConfig())
    s = ZoomSession(fake, ZoomCredentials(client_id="cid", client_secret=SECRET),
                    JoinSpec(85012345678, "pass", "Rollcall", "rollcall-scripted"), pipeline, clock=clock)
    s.start()
    while s.t0 is None:
        fake.pump()
        s.tick()
        clock.t += 0.01

    def at() -> float:
        return clock.t - s.t0

    def run_until(t_end: float, audio_from: float | None = None) -> None:
        """Pump and tick every 100 ms; with ``audio_from``, everyone in the meeting speaks their AMI channel
        from that moment on, in 10 ms chunks (delivered only if Zoom would: recording, and in the bot's room)."""
        step = rate // 100
        k = 0
        while at() < t_end - 1e-9 and not s.done:
            clock.t += 0.01
            if audio_from is not None:
                i = int(round((at() - audio_from) * 100)) - 1
                for key, track in tracks.items():
                    chunk = track[i * step:(i + 1) * step]
                    if key in uid and len(chunk) == step:
                        fake.audio(uid[key], chunk.tobytes(), rate)
            k += 1
            if k % 10 == 0:
                fake.pump()
                s.tick()

    run_until(180.0, audio_from=120.0)  # MEO015 talks, but no one can allow recording yet
    assert not s.done and fake.requests == 1 and s.lifecycle.phase is Phase.IN_MEETING
    uid["FEE016"] = 101
    fake.add_user(FakeUser(101, "FEE016", names["FEE016"], role="HOST", muted=False))  # asked again: grants
    uid["FEE013"], uid["MEE014"] = 102, 103
    fake.add_user(FakeUser(102, "FEE013", names["FEE013"], muted=False))
    fake.add_user(FakeUser(103, "MEE014", names["MEE014"], muted=False))
    run_until(200.0, audio_from=180.0)
    assert s.lifecycle.phase is Phase.RECORDING and fake.requests == 2
    fake.revoke()
    run_until(210.0, audio_from=180.0)
    fake.grant()
    run_until(240.0, audio_from=180.0)
    moved = fake.open_breakouts({"room 1": [uid["FEE016"], uid["MEO015"]], "room 2": [uid["FEE013"], uid["MEE014"]]},
                                bot_room="room 1")
    for key in ("FEE016", "MEO015"):
        uid[key] = moved[uid[key]]
    for key in ("FEE013", "MEE014"):
        uid.pop(key)  # in the other room: the bot cannot hear them
    away = {101: "FEE016", 100: "MEO015", 102: "FEE013", 103: "MEE014"}
    run_until(300.0, audio_from=240.0)
    back = fake.close_breakouts()
    uid = {key: back[old] for old, key in away.items()}
    run_until(330.0, audio_from=300.0)
    fake.end("EndByHost")
    while not s.done:
        fake.pump()
        s.tick()
    s.leave()
    report = pipeline.finish()

    assert (s.lifecycle.outcome, s.lifecycle.exit_code, s.guard.errors) == (Outcome.MEETING_ENDED, 0, {})
    assert fake.reentrant == [] and "JoinBo" in fake.calls
    people = {p.key: p for p in report.participants}
    assert sorted(people) == ["FEE013", "FEE016", "MEE014", "MEO015", "otter"]
    for key, joined in (("MEO015", 0.0), ("FEE016", 180.0), ("FEE013", 180.0), ("MEE014", 180.0)):
        (span,) = people[key].presence  # one continuous stretch, across the breakout rooms
        assert abs(span.join_s - joined) < 0.5 and abs(span.leave_s - 330.0) < 0.5, (key, span)
    gaps = [(g.reason, round(g.start_s), round(g.end_s), g.audio_only) for g in report.observer.gaps]
    assert gaps == [("recording_not_permitted", 0, 180, True), ("recording_revoked", 200, 210, True),
                    ("breakout", 240, 300, False)], gaps
    assert abs(report.observer.audio_observed_s - 80.0) < 1.5

    # Talk time is what was heard: the AMI minute's stretches that reached the bot, against the human reference.
    ref = _reference(ami / "reference.rttm")
    windows = {key: [(0.0, 20.0), (30.0, 60.0), (0.0, 30.0)] + ([(0.0, 60.0)] if key in ("FEE016", "MEO015") else [])
               for key in ref}
    for key, spans in windows.items():
        truth = sum(iv.total(iv.clip(iv.union(ref[key]), a, b)) for a, b in spans)
        measured = people[key].talk_time_s
        if key == "MEE014":
            assert abs(measured - truth) <= 2.0, (key, measured, truth)
        else:
            assert abs(measured - truth) <= 0.12 * truth, (key, measured, truth)
    for p in report.participants:  # nothing counted where the bot could not listen
        unheard = [(0.0, 180.0), (200.5, 210.0)] + ([(240.5, 300.0)] if p.key in ("FEE013", "MEE014") else [])
        heard = iv.total(iv.intersect([(x.start_s, x.end_s) for x in p.speech], unheard))
        assert heard == 0.0, (p.key, heard)


def test_an_on_behalf_join_whose_user_arrives_after_40_s_joins_and_records():
    clock = Clock()
    arrives = clock.t + 40.0
    fake = FakeZoom(authorized_user_at=arrives, clock=clock)
    fake.users[100] = FakeUser(100, "pA", "Ana", role="HOST", muted=False)
    s = ZoomSession(fake, ZoomCredentials(client_id="cid", client_secret=SECRET, obf_token="obf-1"),
                    JoinSpec(85012345678, "pass", "Rollcall", "rollcall-obf"), clock=clock)
    s.start()
    while not s.done and s.lifecycle.phase is not Phase.RECORDING and clock.t < arrives + 60:
        fake.pump()
        s.tick()
        clock.t += 0.05
    assert s.lifecycle.phase is Phase.RECORDING and not s.done
    assert arrives <= s.t0 <= arrives + 5.0  # in within one retry of the user's arrival
    assert len(fake.join_params) >= 10 and all(p["onBehalfToken"] == "obf-1" for p in fake.join_params)
