"""The Zoom transport's plain parts: the lifecycle and its exit codes, credentials and redaction, and the
callback guard. No SDK needed (the contract tests check the SDK names against the real module)."""
from __future__ import annotations

import gc
import weakref

import jwt
import pytest

from bot.zoom.credentials import (CUSTOMER_KEY_MAX, MissingCredentials, ZoomCredentials, customer_key_for,
                                  make_jwt, meeting_from_url, redact)
from bot.zoom.guard import SdkGuard
from bot.lifecycle import Lifecycle, Outcome, Phase
from bot.zoom.outcomes import auth_outcome, end_outcome, fail_outcome

SECRET = "s" * 32


def test_every_outcome_has_its_own_exit_code_and_reason():
    codes = [o.exit_code for o in Outcome]
    assert len(set(codes)) == len(codes) and 1 not in codes and 2 not in codes  # 1: crash, 2: usage error
    assert all(o.reason and "\n" not in o.reason for o in Outcome)


def test_lifecycle_follows_the_join_and_refuses_impossible_moves():
    lc = Lifecycle()
    assert not lc.to(Phase.RECORDING) and lc.phase is Phase.IDLE
    for phase in (Phase.AUTHENTICATING, Phase.JOINING, Phase.WAITING_FOR_HOST, Phase.WAITING_ROOM,
                  Phase.IN_MEETING, Phase.RECORDING, Phase.IN_MEETING):
        assert lc.to(phase), phase
    lc.finish(Outcome.LEFT_ALONE, "alone for 300 s")
    lc.finish(Outcome.REMOVED_BY_HOST)  # the first way out is the one reported
    lc.ended()
    assert (lc.phase, lc.exit_code, lc.summary()) == (
        Phase.ENDED, 3, "left: no one else was in the meeting (alone for 300 s)")
    assert not lc.to(Phase.IN_MEETING)


def test_sdk_results_map_to_outcomes():
    assert auth_outcome("AUTHRET_SUCCESS") is None
    assert auth_outcome("AUTHRET_JWTTOKENWRONG") is Outcome.BAD_CREDENTIALS
    assert auth_outcome("AUTHRET_NETWORKISSUE") is Outcome.CONNECTION_LOST
    assert fail_outcome("MEETING_FAIL_APP_CAN_NOT_ANONYMOUS_JOIN_MEETING")[0] is Outcome.ANONYMOUS_JOIN_REFUSED
    assert fail_outcome("MEETING_FAIL_UNABLE_TO_JOIN_EXTERNAL_MEETING")[0].exit_code == 15
    assert fail_outcome("MEETING_FAIL_MEETING_USER_FULL") == (Outcome.JOIN_REFUSED, "meeting_user_full")
    assert end_outcome("EndMeetingReason_KickByHost") is Outcome.REMOVED_BY_HOST
    assert end_outcome("EndMeetingReason_EndByHost") is Outcome.MEETING_ENDED


def test_jwt_has_zooms_claims_and_lifetime():
    token = make_jwt("client-id", SECRET, now=1_800_000_000)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
    assert claims["appKey"] == "client-id" and claims["tokenExp"] == claims["exp"]
    assert claims["exp"] - claims["iat"] == 24 * 3600 and claims["iat"] == 1_800_000_000 - 30
    with pytest.raises(ValueError, match="1800"):
        make_jwt("client-id", SECRET, lifetime_s=600)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "x" * 32, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})


def test_customer_key_fits_zoom_and_keeps_the_job_id_readable():
    key = customer_key_for("job 2026-11-21T10:00:00Z/85012345678/very-long-suffix")
    assert len(key) <= CUSTOMER_KEY_MAX and key.startswith("rollcall-job2026-11-21T100000Z")
    assert set(key) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def test_credentials_come_from_the_environment_with_a_clear_error():
    with pytest.raises(MissingCredentials, match="ZOOM_SDK_CLIENT_SECRET"):
        ZoomCredentials.from_env({"ZOOM_SDK_CLIENT_ID": "id"})
    c = ZoomCredentials.from_env({"ZOOM_SDK_CLIENT_ID": "id", "ZOOM_SDK_CLIENT_SECRET": SECRET, "ZOOM_ZAK": "zak-1"})
    assert c.secrets() == [SECRET, "zak-1"] and "zak-1" not in repr(c) and SECRET not in repr(c)


def test_meeting_links_and_redaction():
    assert meeting_from_url("https://us02web.zoom.us/j/85012345678?pwd=Abc.1#success") == (85012345678, "Abc.1")
    assert meeting_from_url("https://zoom.us/j/850123456") == (850123456, None)
    with pytest.raises(ValueError, match="not a Zoom meeting link"):
        meeting_from_url("https://example.com/x?pwd=S3cret")
    token = make_jwt("id", SECRET)
    text = redact(f"join pwd=S3cret!x&a=1 with {token} and S3cretPass! as {SECRET}", ["S3cretPass!", SECRET])
    assert "S3cret" not in text and token not in text and SECRET not in text
    assert "pwd=[redacted]&a=1" in text


def test_guarded_callbacks_never_raise_and_are_counted():
    guard = SdkGuard()
    seen = []

    def handler(x):
        seen.append(x)
        if x < 0:
            raise ValueError("bad")

    cb = guard.callback("onThing", handler)
    assert cb(1) is None and cb(-1) is None and cb(-2) is None
    assert seen == [1, -1, -2] and guard.errors["onThing"] == 2


def test_kept_objects_live_as_long_as_the_guard():
    guard = SdkGuard()

    class Callbacks:
        pass

    ref = weakref.ref(guard.keep(Callbacks()))
    gc.collect()
    assert ref() is not None
