"""Hostile input at the admin API and the live pages' tokens (issue 15): the OpenAPI is behind the admin
token, a scenario path never gets a server file's lines echoed, times and lengths out of range are a 422
(not a 500 from the date arithmetic), a signed live token with malformed claims is a 401 and an ``exp`` that
is not a finite number never means "never expires", and `rollcall schedule add` refuses a start in the
past. Ends with property-based fuzzing of the API's JSON bodies and of live tokens: never a 500."""
from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.cli import app as rollcall
from orchestrator import keys
from orchestrator.server.app import create_app
from orchestrator.live.access import ALGORITHM, issue
from orchestrator.settings import Settings

ADMIN, SECRET = "admin-token-hostile", "live-secret-hostile-0123456789abcd"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
MEETING = "85012345678"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture()
def api(redis_client) -> TestClient:
    """Unhandled exceptions are raised into the test, so "never a 500" is checked by every request."""
    return TestClient(create_app(Settings(ROLLCALL_ADMIN_TOKEN=ADMIN, ROLLCALL_LIVE_SECRET=SECRET), redis_client))


def soon(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def schedule(api: TestClient, body: object):
    """POST /schedules; the body as Python writes it, NaN and Infinity included (they parse on the server)."""
    return api.post("/schedules", content=json.dumps(body), headers={**AUTH, "Content-Type": "application/json"})


def signed(claims: bytes) -> str:
    """A live token over any bytes, correctly signed with the server's secret."""
    return jwt.api_jws.PyJWS().encode(claims, SECRET, algorithm=ALGORITHM)


# --- (4) the OpenAPI needs the admin token; no /docs page ---------------------------------------------------

def test_the_openapi_needs_the_admin_token_and_there_are_no_docs_pages(api, redis_client):
    assert api.get("/openapi.json").status_code == 401
    assert api.get("/openapi.json", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert "/schedules" in api.get("/openapi.json", headers=AUTH).json()["paths"]
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        for headers in ({}, AUTH):
            assert api.get(page, headers=headers).status_code == 404, page
    with TestClient(create_app(Settings(), redis_client)) as closed:  # no token configured: closed, not open
        assert closed.get("/openapi.json").status_code == 503


# --- (5) a scenario path: the field named, never the file's content -----------------------------------------

def test_a_scenario_naming_a_server_file_never_gets_its_lines_echoed(api, redis_client, tmp_path):
    secret_lines = tmp_path / "credentials.txt"
    secret_lines.write_text("db_password: hunter2-SECRET\nroot:x:0:0:SECRET-LINE:/root:/bin/bash\n")
    not_yaml = tmp_path / "notes.yaml"
    not_yaml.write_text("first line SECRET-ONE\n  - [ unclosed SECRET-TWO\n")
    bad_field = tmp_path / "config.yaml"
    bad_field.write_text("SECRET_KEY_NAME: SECRET-VALUE\n")
    targets = [secret_lines, not_yaml, bad_field, tmp_path / "missing.yaml", tmp_path]
    if Path("/etc/passwd").is_file():
        targets.append(Path("/etc/passwd"))
    for path in targets:
        got = schedule(api, {"at": soon(hours=1), "scenario": str(path)})
        assert got.status_code == 422, (path, got.text)
        assert got.json() == {"detail": "scenario: file not found, unreadable, or not a valid scenario"}, path
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer forever; /dev/zero would never end
    for path in (fifo, Path("/dev/zero"), Path("/dev/stdin")):
        got = schedule(api, {"at": soon(hours=1), "scenario": str(path)})
        assert got.status_code == 422, path
    nul = schedule(api, {"at": soon(hours=1), "scenario": "a\0b.yaml"})
    assert nul.status_code == 422 and "scenario: not a file name" in nul.text
    assert api.get("/schedules", headers=AUTH).json() == []


# --- (8) times and lengths out of range are a 422 --------------------------------------------------------

@pytest.mark.parametrize("body, problem", [
    ({"at": "9999-12-31T23:59:59Z"}, "days ahead"),
    ({"at": "9999-12-31T23:59:59-01:00"}, "days ahead"),  # in UTC, past the last year datetime has
    ({"at": "0001-01-01T00:00:00Z"}, "in the past"),
    ({"at": "0001-01-01T00:00:00+01:00"}, "in the past"),
    ({"at": "2020-01-01T09:00:00Z"}, "in the past"),
    ({"duration_s": 1e300}, "less than or equal"),
    ({"lead_s": 1e300}, "less than or equal"),
    ({"duration_s": math.inf}, "finite"),
    ({"lead_s": math.inf}, "finite"),
    ({"duration_s": math.nan}, "finite"),
    ({"duration_s": 90_000}, "less than or equal"),
    ({"topic": "x" * 501}, "at most 500"),
])
def test_times_and_lengths_out_of_range_are_a_422(api, redis_client, body, problem):
    got = schedule(api, {"at": soon(hours=1), "meeting_id": MEETING, **body})
    assert got.status_code == 422 and problem in got.text, got.text
    assert api.get("/schedules", headers=AUTH).json() == []


def test_a_meeting_under_way_can_still_get_a_bot_from_now(api):
    assert schedule(api, {"at": soon(seconds=-30), "meeting_id": MEETING}).status_code == 201
    far = schedule(api, {"at": soon(days=700), "meeting_id": MEETING, "duration_s": 86_400, "lead_s": 86_400})
    assert far.status_code == 201


# --- (8) live tokens: signed is not enough ----------------------------------------------------------------

FAR = 4_000_000_000


@pytest.mark.parametrize("claims", [
    b"[]", b'"host"', b"42", b"null", b"not json", b"\xff\xfe", b"[" * 5000 + b"]" * 5000,
    json.dumps({"m": MEETING, "r": "host", "exp": "nan"}).encode(),
    json.dumps({"m": MEETING, "r": "host", "exp": "inf"}).encode(),
    json.dumps({"m": MEETING, "r": "host", "exp": "Infinity"}).encode(),
    b'{"m":"85012345678","r":"host","exp":NaN}',
    b'{"m":"85012345678","r":"host","exp":Infinity}',
    b'{"m":"85012345678","r":"host","exp":1e999}',
    json.dumps({"m": MEETING, "r": "host", "exp": str(FAR)}).encode(),  # a number, not text
    json.dumps({"m": MEETING, "r": "host", "exp": True}).encode(),
    json.dumps({"m": MEETING, "r": "host", "exp": None}).encode(),
    json.dumps({"m": MEETING, "r": "host"}).encode(),
    json.dumps({"m": int(MEETING), "r": "host", "exp": FAR}).encode(),
    json.dumps({"m": MEETING, "r": "admin", "exp": FAR}).encode(),  # an admin is a token, never a link
    json.dumps({"m": MEETING, "exp": FAR}).encode(),
    json.dumps({"m": MEETING, "r": "manager", "exp": FAR, "p": "p1"}).encode(),
    json.dumps({"m": MEETING, "r": "manager", "exp": FAR, "p": [1, 2]}).encode(),
])
def test_a_signed_token_with_malformed_claims_is_a_401(api, redis_client, claims):
    redis_client.xadd(keys.live_stream(MEETING), {"job": "j", "snapshot": json.dumps(
        {"t": 1.0, "ended": True, "participants": [], "alerts": []})})
    token = signed(claims)
    for url in (f"/live/{MEETING}", f"/live/{MEETING}/events"):
        got = api.get(url, params={"token": token})
        assert got.status_code == 401 and got.json() == {"detail": "the token is not valid"}, (claims, got.text)


def test_well_formed_claims_still_open_the_page(api):
    assert api.get(f"/live/{MEETING}", params={"token": signed(json.dumps(
        {"m": MEETING, "r": "host", "exp": FAR + 0.5}).encode())}).status_code == 200
    assert api.get(f"/live/{MEETING}", params={"token": issue(SECRET, MEETING, "manager", 60, people=["p1"])}
                   ).status_code == 200
    expired = signed(json.dumps({"m": MEETING, "r": "host", "exp": 1_000_000_000}).encode())
    assert api.get(f"/live/{MEETING}", params={"token": expired}).json() == {"detail": "the link has expired"}


# --- (10) `rollcall schedule add` refuses a start in the past ----------------------------------------------

@pytest.mark.parametrize("at, message", [
    ("2020-01-01T09:00:00Z", "2020-01-01T09:00:00+00:00 is in the past"),
    ("+-3600", "is in the past"),
    ("0001-01-01T00:00:00+01:00", "is in the past"),
    ("9999-12-31T23:59:59Z", "more than 731 days ahead"),
    ("+1e300", "use +SECONDS or an ISO 8601 time"),
    ("+inf", "use +SECONDS or an ISO 8601 time"),
])
def test_schedule_add_refuses_a_start_in_the_past_or_out_of_range(redis_server, redis_client, at, message):
    result = CliRunner().invoke(rollcall, ["schedule", "add", "--meeting-id", MEETING, "--at", at],
                                env={"REDIS_URL": redis_server.url, "COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output and "scheduled" not in result.stdout
    assert redis_client.zcard(keys.SCHEDULES) == 0


def test_schedule_add_takes_a_meeting_under_way_from_now(redis_server, redis_client):
    result = CliRunner().invoke(rollcall, ["schedule", "add", "--meeting-id", MEETING, "--at", "+0"],
                                env={"REDIS_URL": redis_server.url})
    assert result.exit_code == 0 and result.stdout.startswith("scheduled "), result.output
    listed = CliRunner().invoke(rollcall, ["schedule", "list"], env={"REDIS_URL": redis_server.url, "COLUMNS": "200"})
    assert MEETING in listed.stdout


# --- fuzzing: never a 500 ---------------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
ZONES = st.integers(min_value=-1439, max_value=1439).map(lambda m: timezone(timedelta(minutes=m)))
TIMES = (st.datetimes(timezones=ZONES | st.none()).map(datetime.isoformat)
         | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=ZONES).map(
             datetime.isoformat)
         | st.floats(min_value=-60, max_value=86_400 * 800).map(lambda s: soon(seconds=s))
         | st.integers() | st.floats() | st.text(max_size=30))
SECONDS = st.floats() | st.integers() | st.floats(min_value=0, max_value=100_000) | st.text(max_size=10)
BODIES = st.fixed_dictionaries({}, optional={
    "at": TIMES, "meeting_id": st.from_regex(r"\d{9,12}", fullmatch=True) | st.text(max_size=14),
    "scenario": st.text(max_size=30) | st.sampled_from(["/", "/dev/null", "/etc/hostname", ".", "\0"]),
    "duration_s": SECONDS, "lead_s": SECONDS, "passcode": st.text(max_size=10) | JSON,
    "topic": st.text(max_size=20) | JSON, "asr": st.booleans() | JSON, "extra": JSON})


@FUZZ
@given(body=BODIES | JSON)
def test_fuzz_schedule_bodies_are_a_201_or_a_4xx(api, body):
    got = schedule(api, body)
    assert got.status_code in (201, 400, 422), got.text
    if got.status_code == 201:
        (s,) = [s for s in api.get("/schedules", headers=AUTH).json() if s["id"] == got.json()["id"]]
        assert datetime.fromisoformat(s["end_at"]) > datetime.fromisoformat(s["start_at"]) >= datetime.fromisoformat(
            s["join_at"])


def expected_status(claims: object) -> int:
    """What a correctly signed token with these claims must get on MEETING's page (the spec, restated)."""
    if not (isinstance(claims, dict) and claims.get("r") in ("host", "manager") and isinstance(claims.get("m"), str)):
        return 401
    exp, people = claims.get("exp"), claims.get("p", [])
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(float(exp)):
        return 401
    if not (isinstance(people, list) and all(isinstance(p, str) for p in people)):
        return 401
    if exp < datetime.now(UTC).timestamp():
        return 401
    return 200 if claims["m"] == MEETING else 403


CLAIMS = st.fixed_dictionaries({}, optional={
    "m": st.sampled_from([MEETING, "85000000000"]) | JSON, "r": st.sampled_from(["host", "manager", "admin"]) | JSON,
    "exp": st.sampled_from([FAR, 1.0, "nan", "inf", str(FAR)]) | st.floats() | st.integers() | JSON,
    "p": st.lists(st.text(max_size=4), max_size=3) | JSON, "x": JSON})


@FUZZ
@given(claims=CLAIMS | JSON)
def test_fuzz_signed_claims_open_the_page_only_when_well_formed(api, claims):
    got = api.get(f"/live/{MEETING}", params={"token": signed(json.dumps(claims).encode())})
    assert got.status_code == expected_status(claims), (claims, got.text)


@FUZZ
@given(token=st.text(max_size=120) | st.binary(max_size=90).map(signed)
       | st.builds(lambda body, mac: f"{body}.{mac}", st.text(max_size=40), st.text("0123456789abcdef", max_size=64)))
def test_fuzz_random_tokens_never_get_a_500(api, token):
    got = api.get(f"/live/{MEETING}", params={"token": token})
    assert got.status_code in (401, 403) or (got.status_code == 200 and token == ADMIN), got.text


# --- (3) a meeting id that would name a folder outside the data directory -----------------------------------

def test_a_scenario_whose_meeting_id_climbs_out_is_refused_by_the_api_and_the_cli(api, tmp_path):
    from typer.testing import CliRunner

    bad = tmp_path / "escape.yaml"
    bad.write_text("meeting: {id: '../../../../tmp/x', topic: t, start: '2026-01-01T00:00:00Z', duration_s: 60}\n"
                   "participants: []\nevents: []\n")
    got = schedule(api, {"at": soon(hours=1), "scenario": str(bad)})
    assert got.status_code == 422 and "meeting.id" in got.text, got.text
    assert api.get("/schedules", headers=AUTH).json() == []
    result = CliRunner().invoke(rollcall, ["schedule", "add", "--scenario", str(bad), "--at", "+60",
                                           "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2 and "meeting.id" in result.output, result.output
