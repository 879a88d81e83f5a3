"""First contact with real Zoom (issue 12, items 1–13): each behaviour a production-proven bot on the same
binding handles, reproduced against the stand-in SDK made faithful to it (sources in tests/STAND-INS.md).
Every test here failed against the session as it was before, and passes now."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fake_zoom_sdk import FakeUser, FakeZoom

from bot.zoom.credentials import ZoomCredentials
from bot.lifecycle import Outcome, Phase
from bot.zoom.session import JoinSpec, ZoomConfig, ZoomSession

SECRET = "c" * 32
SPEC = JoinSpec(85012345678, "pass", "Rollcall", "rollcall-job-1")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Recorder:
    def __init__(self) -> None:
        self.events, self.audio = [], []

    def on_meeting_event(self, e) -> None:
        self.events.append(e)

    def on_one_way_audio(self, data, node_id) -> None:
        self.audio.append(node_id)

    def on_media_time(self, t) -> None:
        pass

    def gaps(self) -> list[tuple[str, str, float]]:
        return [(e.type, e.reason, round(e.t)) for e in self.events if e.type in ("gap_start", "gap_end")]

    def of(self, key: str) -> list[str]:
        return [e.type for e in self.events if e.key == key]


class Meeting:
    """The session in a scripted meeting: ``run(s)`` pumps and ticks for ``s`` seconds of clock."""

    def __init__(self, fake: FakeZoom, config: ZoomConfig | None = None, creds: ZoomCredentials | None = None,
                 clock: Clock | None = None) -> None:
        self.fake, self.clock, self.rec = fake, clock or Clock(), Recorder()
        self.s = ZoomSession(fake, creds or ZoomCredentials(client_id="cid", client_secret=SECRET), SPEC, self.rec,
                             config=config, clock=self.clock)
        self.s.start()
        self.run(2.0)

    def run(self, seconds: float, dt: float = 0.05) -> None:
        end = self.clock.t + seconds
        while self.clock.t < end - 1e-9 and not self.s.done:
            self.fake.pump()
            self.s.tick()
            self.clock.t += dt

    def talk(self, *uids: int) -> list[bool]:
        """A 10 ms chunk from each; whether the SDK delivered it."""
        return [self.fake.audio(uid, bytes(640)) for uid in uids]


def people(**kw) -> FakeZoom:
    fake = FakeZoom(**kw)
    fake.users[100] = FakeUser(100, "pA", "Ana", muted=False)
    fake.users[101] = FakeUser(101, "pB", "Ben", role="HOST", video=True)
    return fake


def test_1_in_an_ordinary_meeting_the_bot_is_an_attendee_and_records():
    m = Meeting(people())  # the bot's role is ATTENDEE, as every non-host's is
    assert m.fake.users[1].GetUserRole().name == "USERROLE_ATTENDEE"
    assert m.s.lifecycle.phase is Phase.RECORDING and not m.s.done
    webinar = Meeting(people(meeting_type="WEBINAR"))  # only in a webinar does that mean no rights
    assert webinar.s.lifecycle.outcome is Outcome.WEBINAR_NO_RIGHTS


def test_2_an_absent_on_behalf_user_is_waited_for_through_failed_and_ended():
    for code in (501, 65535):  # the SDK answers either for the same situation
        clock = Clock()
        fake = people(authorized_user_at=clock.t + 20.0, obf_code=code, clock=clock)
        creds = ZoomCredentials(client_id="cid", client_secret=SECRET, obf_token="obf-1")
        m = Meeting(fake, creds=creds, clock=clock)
        m.run(30.0)
        assert m.s.lifecycle.phase is Phase.RECORDING and not m.s.done, (code, m.s.lifecycle.summary())
        assert len(fake.join_params) > 2 and [s for s, _ in fake.statuses].count("ENDED") == len(fake.join_params) - 1


def test_3_recording_permission_without_a_host_waits_and_a_denial_is_not_the_end():
    fake = FakeZoom(can_record=False, host_answer="RequestLocalRecording_Denied")
    fake.users[100] = FakeUser(100, "pA", "Ana", muted=False)
    m = Meeting(fake)
    m.run(300.0)  # nobody can answer: no deadline runs
    assert not m.s.done and fake.requests == 1 and m.s.lifecycle.phase is Phase.IN_MEETING
    fake.add_user(FakeUser(101, "pB", "Ben", role="HOST"))
    m.run(5.0)
    assert fake.requests == 2 and not m.s.done  # asked, denied: the bot stays for presence and chat
    fake.remove_user(101)
    fake.host_answer = "RequestLocalRecording_Granted"
    fake.add_user(FakeUser(102, "pC", "Cat", role="HOST"))
    m.run(5.0)
    assert fake.requests == 3 and m.s.lifecycle.phase is Phase.RECORDING
    assert m.rec.gaps() == [("gap_start", "recording_not_permitted", 0), ("gap_end", "recording_not_permitted", 307)]


def test_4_permission_revoked_mid_meeting_then_granted_restarts_raw_recording():
    m = Meeting(people())
    assert m.talk(100) == [True]
    m.fake.revoke()
    m.run(1.0)
    assert m.s.lifecycle.phase is Phase.IN_MEETING and "StopRawRecording" in m.fake.calls
    assert m.talk(100) == [False]  # Zoom sends nothing: an audio gap, not silence
    m.run(10.0)
    m.fake.grant()
    m.run(1.0)
    assert m.fake.calls.count("StartRawRecording") == 2 and m.s.lifecycle.phase is Phase.RECORDING
    assert m.talk(100) == [True]
    assert m.rec.gaps() == [("gap_start", "recording_revoked", 2), ("gap_end", "recording_revoked", 13)]


def test_5_breakout_rooms_the_bot_follows_its_room_and_is_not_alone_while_others_are_in_theirs():
    fake = people()
    fake.users[102] = FakeUser(102, "pC", "Cy")
    m = Meeting(fake, ZoomConfig(alone_s=60.0))
    fake.open_breakouts({"room 1": [100, 101, 102]})  # the bot is not assigned: alone in the main session
    m.run(200.0)
    assert not m.s.done  # everyone is in a room: not alone
    assert "leave" not in m.rec.of("pA") and "leave" not in m.rec.of("pB")  # out of view, not gone
    back = fake.close_breakouts()
    m.run(5.0)
    assert m.rec.of("pA").count("join") == 2 and "leave" not in m.rec.of("pA")  # same presence, new user id
    assert m.rec.events[-1].type != "gap_start" and [g[:2] for g in m.rec.gaps()] == [
        ("gap_start", "breakout"), ("gap_end", "breakout")]
    assert m.talk(back[100]) == [True]

    fake = people()
    fake.users[102] = FakeUser(102, "pC", "Cy", muted=False)
    m = Meeting(fake)
    ids = fake.open_breakouts({"room 1": [100], "room 2": [101, 102]}, bot_room="room 2")
    m.run(5.0)
    assert "JoinBo" in fake.calls and fake.bot_room == "room 2" and m.s.lifecycle.phase is Phase.RECORDING
    assert m.talk(ids[102]) == [True]  # the bot hears its own room
    m.run(100.0)
    fake.close_breakouts()
    m.run(5.0)
    for key in ("pA", "pB", "pC"):
        assert "leave" not in m.rec.of(key), key  # continuous presence across the rooms


def test_6_a_reconnect_hanging_in_connecting_is_timed_out_and_the_duration_still_counts():
    m = Meeting(people(), ZoomConfig(reconnect_timeout_s=60.0))
    m.fake.reconnect(completes=True)
    m.run(2.0)
    assert m.s.lifecycle.phase is Phase.RECORDING and [g[:2] for g in m.rec.gaps()] == [
        ("gap_start", "reconnecting"), ("gap_end", "reconnecting")]
    m.fake.reconnect(completes=False)
    m.run(59.0)
    assert not m.s.done
    m.run(2.0)
    assert m.s.lifecycle.outcome is Outcome.CONNECTION_LOST and "reconnecting" in m.s.lifecycle.detail
    m = Meeting(people(), ZoomConfig(reconnect_timeout_s=600.0, max_duration_s=100.0))
    m.fake.reconnect(completes=False)
    m.run(120.0)
    assert m.s.lifecycle.outcome is Outcome.LEFT_MAX_DURATION


def test_7_a_private_message_does_not_make_the_next_roll_call_private():
    m = Meeting(people())
    assert m.s.send_chat("You are at risk", to="pB") and m.s.send_chat("Roll call: reply 'here'")
    assert m.fake.sent[1] == {"text": "Roll call: reply 'here'", "to": 0, "type": "To_All"}


def test_9_a_failed_subscription_or_a_recording_without_audio_is_an_error_not_an_empty_report():
    fake = people()
    fake.subscribe_result = "SDKERR_NOT_JOIN_AUDIO"
    m = Meeting(fake)
    m.run(10.0)
    assert m.s.lifecycle.outcome is Outcome.NO_AUDIO and fake.calls.count("subscribe") == 3
    assert fake.calls.count("JoinVoip") >= 3  # joined to audio again between attempts

    fake = people()
    fake.voip_works = False  # subscribed, but Zoom delivers nothing
    m = Meeting(fake)
    for _ in range(3):
        fake.active_speaker(100)  # Zoom says Ana talks
        m.run(1.0)
    assert ("gap_start", "no_audio") in [g[:2] for g in m.rec.gaps()] and not m.s.done
    for _ in range(250):
        fake.active_speaker(100)
        m.run(1.0)
    assert m.s.lifecycle.outcome is Outcome.NO_AUDIO and fake.calls.count("subscribe") == 2

    fake = people()
    fake.voip_works = False
    m = Meeting(fake)
    fake.active_speaker(100)
    m.run(30.0)
    fake.end("EndByHost")
    m.run(1.0)
    m.s.leave()
    assert m.s.lifecycle.outcome is Outcome.NO_AUDIO and m.s.lifecycle.exit_code == 23


def test_11_controllers_are_fetched_again_after_the_waiting_room():
    m = Meeting(people())
    m.fake.to_waiting_room()
    m.run(5.0)
    assert m.s.lifecycle.phase is Phase.WAITING_ROOM
    m.fake.admit()  # the SDK hands out new controllers
    m.run(1.0)
    m.fake.chat(100, "back")
    m.run(1.0)
    assert [e.text for e in m.rec.events if e.type == "chat"] == ["back"]
    assert [g[:2] for g in m.rec.gaps()] == [("gap_start", "waiting_room"), ("gap_end", "waiting_room")]


def test_12_no_sdk_call_inside_a_callback_sdkauth_checked_one_join_token():
    fake = people(can_record=False)
    m = Meeting(fake)
    assert m.s.lifecycle.phase is Phase.RECORDING and fake.reentrant == []  # started on the next tick
    fake = people()
    fake.auth_call = "SDKERR_INVALID_PARAMETER"
    clock = Clock()
    s = ZoomSession(fake, ZoomCredentials(client_id="cid", client_secret=SECRET), SPEC, clock=clock)
    s.start()
    assert s.lifecycle.outcome is Outcome.BAD_CREDENTIALS and "sdkauth" in s.lifecycle.detail.lower()
    creds = ZoomCredentials(client_id="cid", client_secret=SECRET, zak="zak-1", webinar_token="wt-1")
    m = Meeting(people(), creds=creds)
    assert m.fake.join_params[0]["userZAK"] == "zak-1" and "webinarToken" not in m.fake.join_params[0]


def test_13_other_bots_are_not_company_and_a_share_running_at_join_is_seen():
    fake = people()
    fake.users[102] = FakeUser(102, "n1", "Meeting Notes", bot=True)  # the SDK knows it is a bot
    fake.users[103] = FakeUser(103, "n2", "Fireflies.ai Notetaker")  # only its name says so
    fake.sharing.add(101)
    m = Meeting(fake, ZoomConfig(alone_s=60.0))
    assert ("share_start", "pB") in [(e.type, e.key) for e in m.rec.events]
    fake.remove_user(100)
    fake.remove_user(101)
    m.run(62.0)
    assert m.s.lifecycle.outcome is Outcome.LEFT_ALONE


def test_10_leaving_waits_for_ended_before_cleaning_up():
    m = Meeting(people())
    m.s.lifecycle.finish(Outcome.LEFT_ON_SIGNAL)
    m.s.leave()
    while not m.s.left:
        m.fake.pump()
    m.s.cleanup()
    ended = next(turn for status, turn in m.fake.statuses if status == "ENDED")
    assert m.fake.call_turns["Leave"][0] < ended <= m.fake.call_turns["DestroyMeetingService"][0]
    assert m.fake.call_turns["CleanUPSDK"][0] >= ended


HUNG_CLEANUP = r"""
import os, sys, time
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from fake_zoom_sdk import FakeUser, FakeZoom
from test_zoom_cli import SignalLoop
from bot.zoom.credentials import ZoomCredentials
from bot.zoom.run import run_meeting
from bot.zoom.session import JoinSpec
fake = FakeZoom()
fake.users[100] = FakeUser(100, "pA", "Ana", muted=False)
fake.CleanUPSDK = lambda: time.sleep(600)  # the SDK's cleanup hangs
run_meeting(fake, SignalLoop(fake, 0.5), JoinSpec(85012345678, "p", "Rollcall", "rollcall-h"),
            ZoomCredentials(client_id="cid", client_secret="c" * 32), Path(sys.argv[1]), cleanup_kill_s=2.0)
os._exit(99)  # not reached: the guard ends the process with the run's exit code
"""


def test_10_a_cleanup_that_hangs_is_cut_short_after_the_report_is_saved(tmp_path):
    proc = subprocess.run([sys.executable, "-c", HUNG_CLEANUP, str(tmp_path), str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == Outcome.LEFT_ON_SIGNAL.exit_code, proc.stderr[-2000:]
    assert json.loads((tmp_path / "report.json").read_text())["participants"][0]["name"] == "Ana"
