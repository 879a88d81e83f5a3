"""The session's way into a meeting, against the scripted stand-in SDK: every way a join can fail ends in
its own outcome and exit code; waiting for the on-behalf user retries; callbacks that raise are contained."""
from __future__ import annotations

import jwt
import pytest
from fake_zoom_sdk import FakeZoom

from bot.zoom.credentials import ZoomCredentials
from bot.lifecycle import Outcome, Phase
from bot.zoom.session import JoinSpec, ZoomConfig, ZoomSession

SECRET = "c" * 32
SPEC = JoinSpec(85012345678, "S3cretPass!", "Rollcall", "rollcall-job-1")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def run(fake: FakeZoom, *, creds: ZoomCredentials | None = None, until_phase: Phase | None = None,
        max_s: float = 4000.0, clock: Clock | None = None) -> ZoomSession:
    clock = clock or Clock()
    s = ZoomSession(fake, creds or ZoomCredentials(client_id="cid", client_secret=SECRET), SPEC, clock=clock)
    s.start()
    while not s.done and clock.t < 1000.0 + max_s and (until_phase is None or s.lifecycle.phase != until_phase):
        fake.pump()
        s.tick()
        clock.t += 0.1
    return s


def test_successful_join_sets_every_join_field_and_ends_with_the_meeting():
    fake = FakeZoom()
    creds = ZoomCredentials(client_id="cid", client_secret=SECRET, zak="zak-1", app_privilege_token="apt-1")
    s = run(fake, creds=creds, until_phase=Phase.RECORDING)
    assert s.lifecycle.phase is Phase.RECORDING and not s.done
    p = fake.join_params[0]
    assert (p["meetingNumber"], p["psw"], p["userName"], p["customer_key"]) == (
        85012345678, "S3cretPass!", "Rollcall", "rollcall-job-1")
    assert (p["userZAK"], p["app_privilege_token"], "onBehalfToken" in p) == ("zak-1", "apt-1", False)
    assert p["userType"].name == "SDK_UT_WITHOUT_LOGIN" and p["eAudioRawdataSamplingRate"].name.endswith("_32K")
    assert (p["isVideoOff"], p["isAudioOff"], p["isAudioRawDataStereo"]) == (True, False, False)
    assert jwt.decode(fake.jwt, SECRET, algorithms=["HS256"])["appKey"] == "cid"
    fake.end("EndByHost")
    fake.pump()
    assert (s.lifecycle.phase, s.lifecycle.exit_code) == (Phase.ENDED, 0)
    s.leave()
    assert s.left  # the meeting is over: nothing to leave
    s.cleanup()
    assert "Leave" not in fake.calls and fake.calls[-3:] == ["DestroyMeetingService", "DestroyAuthService", "CleanUPSDK"]


@pytest.mark.parametrize("auth, joins, outcome", [
    ("AUTHRET_JWTTOKENWRONG", None, Outcome.BAD_CREDENTIALS),
    ("AUTHRET_KEYORSECRETWRONG", None, Outcome.BAD_CREDENTIALS),
    (None, None, Outcome.CONNECTION_LOST),  # no answer at all (offline): the auth watchdog
    ("AUTHRET_SUCCESS", [[("CONNECTING", 0)]], Outcome.WRONG_PASSCODE),  # the SDK's wrong-passcode hang
    ("AUTHRET_SUCCESS", [[("CONNECTING", 0), ("FAILED", 4)]], Outcome.WRONG_PASSCODE),
    ("AUTHRET_SUCCESS", [[("CONNECTING", 0), ("WAITINGFORHOST", 0)]], Outcome.MEETING_NOT_STARTED),
    ("AUTHRET_SUCCESS", [[("CONNECTING", 0), ("IN_WAITING_ROOM", 0)]], Outcome.WAITING_ROOM_TIMEOUT),
    ("AUTHRET_SUCCESS", [[("CONNECTING", 0), ("FAILED", 63)]], Outcome.EXTERNAL_MEETING_NOT_ALLOWED),
    ("AUTHRET_SUCCESS", [[("CONNECTING", 0), ("FAILED", 504)]], Outcome.ANONYMOUS_JOIN_REFUSED),
    ("AUTHRET_SUCCESS", [[("CONNECTING", 0), ("FAILED", 501)]], Outcome.AUTHORIZED_USER_NOT_IN_MEETING),  # no OBF
    ("AUTHRET_SUCCESS", [[("CONNECTING", 0), ("INMEETING", 0), ("ENDED", 1)]], Outcome.REMOVED_BY_HOST),
    ("AUTHRET_SUCCESS", [[("CONNECTING", 0), ("FAILED", 1)]], Outcome.CONNECTION_LOST),
    ("AUTHRET_SUCCESS", [[("CONNECTING", 0), ("FAILED", 9)]], Outcome.JOIN_REFUSED),
])
def test_each_way_a_join_fails_ends_in_its_outcome(auth, joins, outcome):
    s = run(FakeZoom(auth=auth, joins=joins))
    assert s.lifecycle.outcome is outcome, s.lifecycle.summary()
    assert s.lifecycle.exit_code == outcome.exit_code and "\n" not in s.lifecycle.summary()


def test_on_behalf_user_never_arriving_is_retried_after_each_ended_then_given_up():
    clock = Clock()
    fake = FakeZoom(authorized_user_at=float("inf"), clock=clock)
    creds = ZoomCredentials(client_id="cid", client_secret=SECRET, obf_token="obf-1")
    s = run(fake, creds=creds, clock=clock)
    cfg = ZoomConfig()
    assert s.lifecycle.outcome is Outcome.AUTHORIZED_USER_NOT_IN_MEETING and "waited 600 s" in s.lifecycle.detail
    assert cfg.obf_wait_s / (cfg.obf_retry_s + 0.5) < len(fake.join_params) <= cfg.obf_wait_s / cfg.obf_retry_s + 1


def test_an_unnamed_fail_code_keeps_its_number():
    s = run(FakeZoom(joins=[[("CONNECTING", 0), ("FAILED", 77777)]]))
    assert s.lifecycle.outcome is Outcome.JOIN_REFUSED and s.lifecycle.detail == "77777"


def test_a_callback_that_raises_is_contained():
    fake = FakeZoom()
    s = run(fake, until_phase=Phase.RECORDING)
    fake.pending.append(lambda: fake._meeting_cb.onMeetingStatusChangedCallback(None, 0))  # no .name: raises inside
    fake.pump()
    assert s.guard.errors["status"] == 1 and s.lifecycle.phase is Phase.RECORDING and not s.done
