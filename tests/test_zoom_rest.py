"""The Zoom REST client against the API emulator on loopback: tokens, paging, UUID encoding, retries,
429s of both kinds, and the endpoints the scheduler and the bot need."""
from __future__ import annotations

import contextlib
import math
import time
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr

from orchestrator.emulator.data import synthetic_meetings
from orchestrator.emulator.rules import ALL_SCOPES
from orchestrator.zoom.rate_limits import HEAVY_GROUP, Category, DailyCapReached, Governor, Priority, plan_limits
from orchestrator.settings import Settings
from orchestrator.zoom.api import AccessRefused, NotFound, ZoomApi, ZoomApiError
from orchestrator.zoom.client import open_zoom
from orchestrator.emulator.server import EmulatorServer, Faults, ZoomEmulator
from orchestrator.zoom.oauth import OAuthError, ServerToServerToken

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


# --- where Zoom's published definitions and the first real account disagreed with us (issue 12) ----------

@contextlib.contextmanager
def client_for(emu: ZoomEmulator, redis_client, plan: str = "business", **api_kwargs):
    with EmulatorServer(emu) as server, httpx.Client(timeout=2.0) as http:
        token = ServerToServerToken(http, server.oauth_url, emu.account_id, emu.client_id, SecretStr(emu.client_secret))
        yield ZoomApi(http, server.api_url, token, Governor(redis_client, emu.account_id, plan_limits(plan)),
                      backoff_s=0.01, **api_kwargs)


def test_a_missing_scope_is_a_400_with_code_4700_naming_it(redis_client):
    meeting = synthetic_meetings(1, 3, start=START)[0]
    with client_for(ZoomEmulator([meeting], scopes=ALL_SCOPES - {"report:read:admin"}), redis_client) as api:
        api.token.get()
        assert "report:read:admin" not in api.token.scopes and "meeting:read:admin" in api.token.scopes
        with pytest.raises(AccessRefused) as refused:
            api.report_participants(meeting.uuid)
        assert (refused.value.status, refused.value.code) == (400, 4700)
        assert "does not contain scopes:[report:read:admin]" in refused.value.message
        assert len(api.past_meeting_participants(meeting.uuid)) == 4  # meeting:read:admin is there


def test_a_free_plan_is_refused_the_report_and_the_past_participants(redis_client):
    meeting = synthetic_meetings(1, 3, start=START)[0]
    emu = ZoomEmulator([meeting], plan="free")
    with client_for(emu, redis_client, plan="free") as api:
        for call in (api.report_participants, api.past_meeting_participants):
            with pytest.raises(AccessRefused) as refused:
                call(meeting.uuid)
            assert (refused.value.status, refused.value.code) == (400, 200)
        assert "Only available for paid account: emu-account" in refused.value.message
        assert api.past_meeting(meeting.uuid).uuid == meeting.uuid  # details need no paid plan


def test_past_participants_carry_registrant_ids_only_when_asked_and_no_report_only_fields(cloud):
    emu, api, meetings = cloud
    m = meetings[0]
    m.rows[0]["registrant_id"] = "reg-1"
    rows = api.past_meeting_participants(m.uuid)
    assert [r.registrant_id for r in rows if r.registrant_id] == ["reg-1"]
    assert all(r.customer_key is None and r.bo_mtg_id is None and r.participant_user_id is None for r in rows)
    assert all(r.internal_user is not None for r in rows)
    raw = api.http.get(f"{api.base}/past_meetings/{quote(m.uuid, safe='')}/participants",
                       headers={"Authorization": f"Bearer {api.token.get()}"}).json()["participants"]
    assert all("registrant_id" not in r for r in raw)  # not asked for: left out, as Zoom does


def test_a_heavy_list_paged_below_300_is_asked_and_counted_at_zoom_s_size(redis_client, caplog):
    big = synthetic_meetings(1, 700, start=START)[0]  # 701 rows
    emu = ZoomEmulator([big], page_limits={"report_participants": 100})
    with client_for(emu, redis_client) as api:
        assert api.pages_needed(Category.HEAVY, 701) == 3  # what 300 a page would cost
        assert len(api.report_participants(big.uuid)) == 701
        assert emu.stats.endpoints["report_participants"] == 8
        assert emu.stats.page_sizes == [300] + [100] * 7  # asked for what Zoom gives, once it said so
        assert api.page_size(Category.HEAVY) == 100 and api.pages_needed(Category.HEAVY, 701) == 8
        assert "ZOOM_HEAVY_PAGE_SIZE" in caplog.text
    with client_for(emu, redis_client, page_sizes={Category.HEAVY: 50}) as configured:
        emu.stats.page_sizes.clear()
        assert len(configured.report_participants(big.uuid)) == 701
        assert emu.stats.page_sizes == [50] * 15


def test_settings_set_the_heavy_page_size(redis_client):
    settings = Settings(ZOOM_ACCOUNT_ID="a", ZOOM_CLIENT_ID="c", ZOOM_CLIENT_SECRET="s", ZOOM_HEAVY_PAGE_SIZE=100)
    with open_zoom(settings, redis_client) as api:
        assert api.page_size(Category.HEAVY) == 100 and api.page_size(Category.MEDIUM) == 300
    with pytest.raises(ValueError):
        Settings(ZOOM_HEAVY_PAGE_SIZE=301)


def test_a_running_meeting_is_unknown_to_the_past_meeting_endpoints(cloud):
    emu, api, meetings = cloud
    running = synthetic_meetings(1, 3, start=START)[0]
    running.uuid, running.end_time = "running==", None
    emu.add_meeting(running)
    with pytest.raises(NotFound) as details:
        api.past_meeting(running.uuid)
    assert details.value.code == 3001 and "has not ended" in details.value.message
    for call in (api.past_meeting_participants, api.report_participants):
        with pytest.raises(NotFound, match="not end"):
            call(running.uuid)


def test_a_rate_limit_429_says_when_in_x_ratelimit_reset_and_the_pause_lasts_until_then(cloud):
    emu, api, meetings = cloud
    window = emu._windows[Category.HEAVY]
    at = time.time() - 0.5
    window.times.extend([at] * window.limit)  # other apps used this second's Heavy calls half a second ago
    resp = api.http.get(f"{api.base}/report/meetings/{quote(meetings[0].uuid, safe='')}/participants",
                        headers={"Authorization": f"Bearer {api.token.get()}"})
    assert resp.status_code == 429 and "retry-after" not in resp.headers
    assert resp.headers["x-ratelimit-type"] == "QPS" and int(resp.headers["x-ratelimit-reset"]) == math.ceil(at + 1)
    pause = api.governor.on_429(Category.HEAVY, resp.headers)
    assert pause == pytest.approx(math.ceil(at + 1) - time.time(), abs=0.05)
