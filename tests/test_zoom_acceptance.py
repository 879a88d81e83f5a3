"""The Zoom path end to end with the stand-in SDK: the AMI meeting's four headsets delivered as the SDK
delivers audio (10 ms chunks at 32 kHz, per participant, through the session's audio callback) give the
same talk time as the simulator on the same input."""
from __future__ import annotations

from conftest import AMI_DIR, require_shared_data
from fake_zoom_sdk import FakeUser, FakeZoom

from analysis.report import MeetingInfo
from bot.pipeline import MeetingPipeline, PipelineConfig
from bot.simulator.replay import replay
from bot.scenario import load_scenario, load_track
from bot.zoom.credentials import ZoomCredentials
from bot.lifecycle import Phase
from bot.zoom.session import JoinSpec, ZoomSession


class Clock:
    t = 500.0

    def __call__(self) -> float:
        return self.t


def test_zoom_transport_gives_the_simulators_talk_time(tmp_path):
    scenario_path = require_shared_data(AMI_DIR) / "scenario.yaml"
    scenario = load_scenario(scenario_path)
    rate, dur = scenario.meeting.sample_rate, scenario.end_s
    tracks = {p.key: load_track(scenario_path, i, p, rate, dur) for i, p in enumerate(scenario.participants)}

    fake = FakeZoom()
    uids = {}
    for i, p in enumerate(scenario.participants):
        uids[p.key] = 100 + i
        fake.users[100 + i] = FakeUser(100 + i, p.key, p.name, muted=False, customer_key=p.customer_key or "")
    info = MeetingInfo(id=scenario.meeting.id, topic=scenario.meeting.topic, start=scenario.meeting.start,
                       duration_s=dur)
    pipeline = MeetingPipeline(info, PipelineConfig())
    clock = Clock()
    s = ZoomSession(fake, ZoomCredentials(client_id="cid", client_secret="c" * 32),
                    JoinSpec(85012345678, "pass", "Rollcall", "rollcall-ami"), pipeline, clock=clock)
    s.start()
    while s.lifecycle.phase is not Phase.RECORDING and not s.done:
        fake.pump()
        s.tick()
    step = rate // 100  # 10 ms
    for k in range(int(dur * 100)):
        clock.t += 0.01  # a chunk arrives once it has been recorded
        for key, track in tracks.items():
            chunk = track[k * step:(k + 1) * step]
            if len(chunk) == step:
                fake.audio(uids[key], chunk.tobytes(), rate)
        if k % 10 == 9:
            fake.pump()
            s.tick()
    fake.end("EndByHost")
    while not s.done:
        fake.pump()
    zoom_report = pipeline.finish()
    assert s.lifecycle.exit_code == 0 and s.guard.errors == {}

    sim_report = replay(scenario_path, tmp_path / "sim").report
    zoom_talk = {p.key: p.talk_time_s for p in zoom_report.participants}
    sim_talk = {p.key: p.talk_time_s for p in sim_report.participants}
    assert zoom_talk == sim_talk and sum(sim_talk.values()) > 60
