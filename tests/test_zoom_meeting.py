"""In the meeting, against the scripted stand-in SDK: the roster, state changes, chat and audio reach the
pipeline's handler as the simulator's events; recording permission; leaving when alone or at the limit."""
from __future__ import annotations

from fake_zoom_sdk import FakeUser, FakeZoom

from analysis.meeting_state import MeetingState
from bot.zoom.credentials import ZoomCredentials
from bot.lifecycle import Outcome, Phase
from bot.zoom.session import JoinSpec, ZoomConfig, ZoomSession

SPEC = JoinSpec(85012345678, "pass", "Rollcall", "rollcall-job-1")


class Recorder:
    def __init__(self) -> None:
        self.events, self.audio, self.times = [], [], []

    def on_meeting_event(self, e) -> None:
        self.events.append(e)

    def on_one_way_audio(self, data, node_id) -> None:
        self.audio.append((node_id, data.GetTimeStamp(), len(data.GetBuffer())))

    def on_media_time(self, t) -> None:
        self.times.append(t)


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


def start(fake: FakeZoom, config: ZoomConfig | None = None):
    clock, rec = Clock(), Recorder()
    s = ZoomSession(fake, ZoomCredentials(client_id="cid", client_secret="c" * 32), SPEC, rec, config=config,
                    clock=clock)
    s.start()
    step(s, fake, clock, 2.0)
    return s, rec, clock


def step(s, fake, clock, seconds: float) -> None:
    end = clock.t + seconds
    while clock.t < end - 1e-9 and not s.done:
        fake.pump()
        s.tick()
        clock.t += 0.01


def kinds(events):
    return [(e.type, e.key) for e in events]


def with_people(**kw) -> FakeZoom:
    fake = FakeZoom(**kw)
    fake.users[100] = FakeUser(100, "pA", "Ana", muted=False, customer_key="emp-1")
    fake.users[101] = FakeUser(101, "pB", "Ben", role="HOST", video=True)
    return fake


def test_roster_state_chat_and_audio_reach_the_pipeline():
    fake = with_people()
    s, rec, clock = start(fake)
    assert s.lifecycle.phase is Phase.RECORDING and {"JoinVoip", "StartRawRecording"} <= set(fake.calls)
    assert kinds(rec.events) == [("join", "pA"), ("unmute", "pA"), ("join", "pB"), ("video_on", "pB")]
    assert rec.events[2].role == "host" and rec.events[0].customer_key == "emp-1" and rec.events[0].t == 0.0

    for _ in range(3):  # 10 ms chunks, arriving with jitter; the bot's own audio is skipped
        fake.audio(100, bytes(640))
        fake.audio(1, bytes(640))
        clock.t += 0.013
    stamps = [ts for uid, ts, _ in rec.audio]
    assert [uid for uid, _, _ in rec.audio] == [100, 100, 100]
    assert [round(b - a, 6) for a, b in zip(stamps, stamps[1:])] == [10.0, 10.0]  # continuous, not jittery
    clock.t += 1.0
    fake.audio(100, bytes(640))  # after a second of silence: a gap, at its arrival time
    assert rec.audio[-1][1] - stamps[-1] > 900

    fake.chat(100, "here", to=1)
    fake.users[100].video = True  # no event: the poll finds it
    fake.add_user(FakeUser(102, "pC", "Cy"))
    step(s, fake, clock, 4.0)
    fake.remove_user(101)
    step(s, fake, clock, 0.1)
    new = rec.events[4:]  # the poll may find Cy before the join callback does: order aside, each once
    assert sorted(kinds(new)) == [("chat", "pA"), ("join", "pC"), ("leave", "pB"), ("video_on", "pA")]
    chat = next(e for e in new if e.type == "chat")
    assert (chat.text, chat.to, chat.user_id) == ("here", "bot", 100)
    assert rec.times and rec.times == sorted(rec.times) and rec.times[-1] > 5.0


def test_recording_permission_is_requested_and_granted():
    fake = with_people(can_record=False)
    s, rec, _ = start(fake)
    assert "RequestLocalRecordingPrivilege" in fake.calls and s.lifecycle.phase is Phase.RECORDING


def test_recording_permission_denied_or_never_answered_keeps_the_bot_with_an_audio_gap():
    for answer in ("RequestLocalRecording_Denied", "RequestLocalRecording_Timeout", None):
        fake = with_people(can_record=False, host_answer=answer)
        s, rec, clock = start(fake)
        step(s, fake, clock, 300.0)  # no deadline: the bot stays for presence and chat
        assert not s.done and s.lifecycle.phase is Phase.IN_MEETING, answer
        assert ("gap_start", "recording_not_permitted") in [(e.type, e.reason) for e in rec.events]


def test_leaves_when_alone_and_at_the_maximum_duration():
    fake = with_people()
    s, _, clock = start(fake, ZoomConfig(alone_s=60.0))
    fake.remove_user(100)
    fake.remove_user(101)
    step(s, fake, clock, 59.0)
    assert not s.done
    step(s, fake, clock, 2.0)
    assert (s.lifecycle.outcome, s.lifecycle.exit_code) == (Outcome.LEFT_ALONE, 3)
    fake = with_people()
    s, _, clock = start(fake, ZoomConfig(max_duration_s=30.0))
    step(s, fake, clock, 30.0)
    assert (s.lifecycle.outcome, s.lifecycle.exit_code) == (Outcome.LEFT_MAX_DURATION, 4)


def test_the_host_is_asked_again_when_one_arrives():
    fake = FakeZoom(can_record=False, host_answer=None)  # no host yet: the request goes nowhere
    fake.users[100] = FakeUser(100, "pA", "Ana")
    s, _, clock = start(fake)
    assert fake.requests == 1 and not s.done
    fake.host_answer = "RequestLocalRecording_Granted"
    fake.add_user(FakeUser(101, "pB", "Ben", role="HOST"))
    step(s, fake, clock, 1.0)
    assert fake.requests == 2 and s.lifecycle.phase is Phase.RECORDING


def test_recording_cannot_be_asked_for_or_a_webinar_attendee():
    fake = with_people(can_record=False)
    fake.can_ask = False
    s, rec, clock = start(fake)
    step(s, fake, clock, 60.0)
    assert not s.done and fake.requests == 0 and s.recording.cannot_ask  # stays: presence and chat only
    assert rec.events[-1].type == "gap_start" or ("gap_start", "recording_not_permitted") in [
        (e.type, e.reason) for e in rec.events]
    fake = with_people(meeting_type="WEBINAR")  # the bot, like every non-host, has the role ATTENDEE
    s, _, _ = start(fake)
    assert (s.lifecycle.outcome, s.lifecycle.exit_code) == (Outcome.WEBINAR_NO_RIGHTS, 20)


def test_early_bot_waits_for_people_before_the_alone_timer_starts():
    fake = FakeZoom()  # nobody here yet
    s, _, clock = start(fake, ZoomConfig(alone_s=60.0))
    step(s, fake, clock, 120.0)
    assert not s.done
    fake.add_user(FakeUser(100, "pA", "Ana"))
    step(s, fake, clock, 1.0)
    fake.remove_user(100)
    step(s, fake, clock, 61.0)
    assert s.lifecycle.outcome is Outcome.LEFT_ALONE


def test_sharing_is_reported_and_the_bot_can_chat_to_everyone_or_one_person():
    fake = with_people()
    s, rec, clock = start(fake)
    fake.share(101, True)
    fake.share(101, False)
    fake.active_speaker(100)
    step(s, fake, clock, 0.1)
    assert kinds(rec.events[-3:]) == [("share_start", "pB"), ("share_end", "pB"), ("active_speaker", "pA")]
    state = MeetingState()
    assert not state.apply(rec.events[-1]) and state.redundant == 0  # logged, not a state change
    assert s.send_chat("Roll call: reply 'here'") and s.send_chat("You are at risk", to="pA")
    assert not s.send_chat("hello", to="nobody")
    assert fake.sent == [{"text": "Roll call: reply 'here'", "to": 0, "type": "To_All"},
                         {"text": "You are at risk", "to": 100, "type": "To_Individual"}]


def test_a_rejoin_with_a_new_user_id_is_the_same_participant():
    fake = with_people()
    s, rec, clock = start(fake)
    fake.remove_user(100)
    step(s, fake, clock, 0.1)
    fake.add_user(FakeUser(107, "pA", "Ana", muted=False))  # back, with a new user id
    step(s, fake, clock, 0.1)
    assert kinds(rec.events[-3:]) == [("leave", "pA"), ("join", "pA"), ("unmute", "pA")]
    assert rec.events[-2].user_id == 107
    state = MeetingState()
    for e in rec.events:
        state.apply(e)
    assert sorted(state.participants) == ["pA", "pB"] and len(state.presence_intervals("pA", until=5.0)) == 2
