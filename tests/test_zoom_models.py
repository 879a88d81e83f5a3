"""Zoom REST rows parse tolerantly (nothing dropped, blanks are None, durations in any of Zoom's
formats), and meeting UUIDs are encoded as Zoom's routing needs."""
from __future__ import annotations

import pytest

from orchestrator.zoom.models import ReportParticipant, encode_meeting_uuid, parse_duration_s


@pytest.mark.parametrize("uuid, encoded", [
    ("aDYlohsHRtCd4ii1uC2+hA==", "aDYlohsHRtCd4ii1uC2%2BhA%3D%3D"),
    ("/aDYlohsHRtCd4ii1uC2+hA==", "%252FaDYlohsHRtCd4ii1uC2%252BhA%253D%253D"),
    ("aDYl//ohsHRt==", "aDYl%252F%252FohsHRt%253D%253D"),
    ("ab/cd", "ab%2Fcd"),
])
def test_uuids_are_encoded_once_or_twice(uuid, encoded):
    assert encode_meeting_uuid(uuid) == encoded


@pytest.mark.parametrize("value, seconds", [(1834, 1834), ("1834", 1834), ("00:30:34", 1834), ("16:08", 968),
                                            ("1:02:03", 3723), ("", None), (None, None), (12.7, 12)])
def test_durations_in_every_format(value, seconds):
    assert parse_duration_s(value) == seconds


def test_report_rows_keep_everything_and_blank_out_what_zoom_left_blank():
    external = ReportParticipant.model_validate({
        "id": "", "user_id": 16778240, "name": "Smith# Ana", "user_email": "", "registrant_id": "r-9",
        "join_time": "2026-11-21T10:00:05Z", "duration": "00:05:00", "customer_key": "", "attentiveness_score": ""})
    assert (external.id, external.user_email, external.customer_key) == (None, None, None)
    assert (external.user_id, external.name, external.duration, external.registrant_id) == (
        "16778240", "Smith, Ana", 300, "r-9")
    assert external.leave_time is None and external.join_time.year == 2026
    assert external.model_extra == {"attentiveness_score": None}  # unknown fields kept (blank is None)
    bot = ReportParticipant.model_validate({"user_id": "16779264", "name": "Rollcall", "customer_key": "rollcall-job-1",
                                            "join_time": "2026-11-21T09:59:00Z", "leave_time": "2026-11-21T11:00:00Z",
                                            "duration": 3660})
    assert bot.customer_key == "rollcall-job-1" and bot.duration == 3660
