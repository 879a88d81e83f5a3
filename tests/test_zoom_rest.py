"""The Zoom REST client against the API emulator on loopback: tokens, paging, UUID encoding, retries,
429s of both kinds, and the endpoints the scheduler and the bot need."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr

from orchestrator.emulator_data import synthetic_meetings
from orchestrator.rate_limits import HEAVY_GROUP, Category, DailyCapReached, Governor, Priority, plan_limits
from orchestrator.zoom_api import NotFound, ZoomApi, ZoomApiError
from orchestrator.zoom_emulator import EmulatorServer, Faults, ZoomEmulator
from orchestrator.zoom_oauth import OAuthError, ServerToServerToken

START = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture()
def cloud(redis_client):
    """An emulator with 60 meetings (two of them with UUIDs that need double encoding), and a client."""
    meetings = synthetic_meetings(60, 10, start=START)
    big = synthetic_meetings(1, 700, start=START)[0]  # 701 rows: three pages
    big.id, big.uuid = "89999999999", "big-meeting=="
    emu = ZoomEmulator([*meetings, big], users={"trainer-1": [
        {"id": 85000000001, "uuid": "u1==", "topic": "Safety training", "type": 2, "start_time": "2026-12-01T09:00:00Z",
         "duration": 60, "join_url": "https://zoom.us/j/85000000001"}]})
    with EmulatorServer(emu) as server, httpx.Client(timeout=1.0) as http:
        token = ServerToServerToken(http, server.oauth_url, emu.account_id, emu.client_id, SecretStr(emu.client_secret))
        governor = Governor(redis_client, emu.account_id, plan_limits("business"))
        api = ZoomApi(http, server.api_url, token, governor, backoff_s=0.01)
        yield emu, api, meetings


def test_pages_of_300_are_followed_to_the_end(cloud):
    emu, api, _ = cloud
    rows = api.report_participants("big-meeting==")
    assert len(rows) == 701 and len({r.user_id for r in rows}) == 701
    assert emu.stats.endpoints["report_participants"] == 3  # 300 + 300 + 101


def test_uuids_needing_double_encoding_reach_the_right_meeting(cloud):
    emu, api, meetings = cloud
    odd = [m for m in meetings if m.uuid.startswith("/") or "//" in m.uuid]
    assert len(odd) >= 2
    for m in odd:
        assert api.past_meeting(m.uuid).uuid == m.uuid
        assert len(api.report_participants(m.uuid)) == 11
    # encoded only once, Zoom (and the emulator) cannot route such a UUID
    resp = api.http.get(f"{api.base}/past_meetings/{quote(odd[0].uuid, safe='')}",
                        headers={"Authorization": f"Bearer {api.token.get()}"})
    assert resp.status_code == 404 and resp.json()["code"] == 3001


def test_a_token_is_fetched_once_and_again_after_a_401(cloud):
    emu, api, meetings = cloud
    for m in meetings[:5]:
        api.past_meeting(m.uuid)
    assert (api.token.fetched, emu.stats.tokens_issued) == (1, 1)
    emu.expire_tokens()
    assert api.past_meeting(meetings[0].uuid).uuid == meetings[0].uuid
    assert api.token.fetched == 2


def test_wrong_credentials_are_a_clear_error(cloud):
    emu, api, _ = cloud
    bad = ServerToServerToken(api.http, api.base.removesuffix("/v2") + "/oauth/token", emu.account_id, emu.client_id,
                              SecretStr("wrong"))
    with pytest.raises(OAuthError, match="ZOOM_CLIENT_SECRET"):
        bad.get()


def test_5xx_and_stalls_are_retried(cloud):
    emu, api, meetings = cloud
    emu.faults = Faults(error_rate=0.3, stall_rate=0.1, stall_s=1.5, seed=3)
    for m in meetings[:20]:
        assert len(api.report_participants(m.uuid)) == 11
    assert api.stats.retried > 0 and emu.stats.faults == api.stats.retried
    emu.faults = Faults(error_rate=1.0)
    with pytest.raises(ZoomApiError, match="gave up after 5 retries"):
        api.past_meeting(meetings[0].uuid)


def test_missing_fields_and_clock_durations_still_give_every_row(cloud):
    emu, api, meetings = cloud
    emu.faults = Faults(drop_fields=("leave_time", "participant_user_id"), clock_durations=True)
    rows = api.report_participants(meetings[3].uuid)
    assert len(rows) == 11 and all(r.leave_time is None for r in rows)
    assert all(isinstance(r.duration, int) and r.duration > 0 for r in rows)


def test_an_expired_page_token_restarts_the_listing(cloud):
    emu, api, _ = cloud
    real = emu.clock
    # the second page is asked for 16 minutes after the first: its token has expired
    emu.clock = lambda: real() + (960 if emu.stats.endpoints["report_participants"] == 2 else 0)
    rows = api.report_participants("big-meeting==")
    assert len(rows) == 701 and len({r.user_id for r in rows}) == 701
    assert emu.stats.endpoints["report_participants"] == 2 + 3  # page 1, the refused page 2, then all three


def test_a_qps_429_from_other_apps_pauses_and_retries(cloud):
    emu, api, meetings = cloud
    window = emu._windows[Category.HEAVY]
    window.times.extend([time.time()] * window.limit)  # other apps used this second's Heavy calls
    assert len(api.report_participants(meetings[0].uuid)) == 11
    assert api.stats.rate_limited == 1 and emu.stats.rate_limited["heavy"] == 1


def test_a_daily_limit_429_stops_heavy_calls_until_the_reset(cloud):
    emu, api, meetings = cloud
    emu.use_daily(HEAVY_GROUP, 60_000)  # another app spent the account's daily cap
    with pytest.raises(DailyCapReached) as stop:
        api.report_participants(meetings[0].uuid)
    assert stop.value.resets_at.hour == 0 and stop.value.resets_at > datetime.now(UTC)
    assert api.governor.try_acquire(Category.RESOURCE_INTENSIVE).reason == "daily"
    assert api.past_meeting(meetings[0].uuid).uuid == meetings[0].uuid  # Light calls go on
    heavy = next(u for u in api.governor.usage() if u.category is Category.HEAVY)
    assert heavy.daily_remaining == 0 and heavy.paused_until is not None


def test_instances_registrants_upcoming_meetings_and_join_tokens(cloud):
    emu, api, meetings = cloud
    assert [i.uuid for i in api.past_instances(meetings[0].id)] == [meetings[0].uuid]
    reg = api.add_registrant(meetings[0].id, "Ana", "ana@example.com", "Li")
    assert reg.registrant_id and reg.join_url and reg.join_url.startswith("https://")
    assert [r.id for r in api.registrants(meetings[0].id)] == [reg.registrant_id]
    upcoming = api.upcoming_meetings("trainer-1")
    assert [(m.id, m.topic, m.duration) for m in upcoming] == [("85000000001", "Safety training", 60)]
    live = ZoomApi(api.http, api.base, api.token, api.governor, priority=Priority.LIVE)
    assert live.user_token("trainer-1", "zak").startswith("zak-trainer-1-")
    with pytest.raises(NotFound):
        api.past_meeting("no-such-meeting==")
    with pytest.raises(ValueError):
        api.user_token("trainer-1", "password")


def test_a_registrants_own_daily_limit_fails_that_call_and_pauses_nobody(cloud):
    emu, api, meetings = cloud
    for _ in range(3):  # Zoom allows three additions a day per registrant
        api.add_registrant(meetings[1].id, "Ana", "ana@example.com")
    with pytest.raises(ZoomApiError) as refused:
        api.add_registrant(meetings[1].id, "Ana", "ana@example.com")
    assert refused.value.status == 429
    live = ZoomApi(api.http, api.base, api.token, api.governor, priority=Priority.LIVE)
    t0 = time.monotonic()
    assert live.user_token("trainer-1", "onbehalf", meetings[1].id)
    assert time.monotonic() - t0 < 0.5 and api.governor.try_acquire(Category.LIGHT).reason in ("ok", "rate")


def test_an_expired_page_token_answered_with_http_300_is_not_taken_for_a_last_page(cloud):
    emu, api, _ = cloud
    with pytest.raises(ZoomApiError) as refused:
        api.request("GET", "/report/meetings/big-meeting==/participants", Category.HEAVY,
                    params={"page_size": 300, "next_page_token": "no-such-token"})
    assert (refused.value.status, refused.value.code) == (300, 300)
