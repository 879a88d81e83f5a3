"""`rollcall bench talk`: talk-time accuracy against human and synthetic references.

1. The AMI ES2004a minute (four headsets, real crosstalk): each speaker's talk time against the union of
   their turns in reference.rttm, through the whole replay path (32 kHz SDK chunks → ingest → detector);
   then the same channels perturbed (one channel at ±6 dB with white noise added to all), and the
   detector's main constants moved off their defaults, to show how much the result depends on them.
2. The generated demo training (eSpeak voices, a noise floor, crosstalk leakage, a rejoin): each
   participant's talk time against the generator's exact ground truth.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.console import Console
from rich.table import Table

from analysis.frames import FrameBatch
from analysis.talk_detector import TalkConfig, TalkDetector
from bot.simulator.replay import replay
from native import EnergyGate, Ingest

AMI = Path(__file__).resolve().parents[3] / "shared" / "data" / "meetings" / "ami-es2004a-750s"
AMI_CHANNELS = {"MEO015": "source0.wav", "FEE013": "source1.wav", "MEE014": "source2.wav", "FEE016": "source3.wav"}
QUIET = "MEE014"  # says only "Mm. Yeah."


def rttm_turns(rttm: Path) -> dict[str, list[tuple[float, float]]]:
    """Each speaker's turns (start_s, end_s) in an RTTM file."""
    turns: dict[str, list[tuple[float, float]]] = {}
    for line in rttm.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            turns.setdefault(f[7], []).append((float(f[3]), float(f[3]) + float(f[4])))
    return turns


def reference_talk(rttm: Path) -> dict[str, float]:
    """Union of each speaker's turns in an RTTM file, in seconds."""
    out = {}
    for spk, iv in rttm_turns(rttm).items():
        total, end = 0.0, -1.0
        for a, b in sorted(iv):
            if b > end:
                total += b - max(a, end)
                end = b
        out[spk] = total
    return out


def passes(key: str, got: float, ref: float) -> bool:
    return abs(got - ref) <= 2.0 if key == QUIET else abs(got - ref) <= 0.10 * ref


def _detector_totals(cfg: TalkConfig, gains_db: dict[str, float], noise: float) -> dict[str, float]:
    """The detector on the AMI channels (fed through the native ingest at 16 kHz), optionally perturbed."""
    keys = list(AMI_CHANNELS)
    ing = Ingest(cfg.frame_ms, 120.0)
    rng = np.random.default_rng(0)
    for s, key in enumerate(keys):
        x, _ = sf.read(str(AMI / "channels" / AMI_CHANNELS[key]), dtype="float64")
        y = x * 32768 * 10 ** (gains_db.get(key, 0.0) / 20) + rng.standard_normal(len(x)) * noise
        ing.push(s, np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes(), 16000, 0.0)
    det = TalkDetector(cfg, gate=EnergyGate)
    det.push(FrameBatch(keys, *ing.drain(flush=True)))
    totals = dict.fromkeys(keys, 0.0)
    for seg in det.finish():
        totals[seg.key] += seg.duration_s
    return totals


def run_talk_bench(console: Console | None = None) -> dict:
    console = console or Console()
    if not AMI.exists():
        raise FileNotFoundError(f"AMI data not found under {AMI}")
    ref = reference_talk(AMI / "reference.rttm")
    keys = list(AMI_CHANNELS)
    results: dict = {}

    with tempfile.TemporaryDirectory() as tmp:
        report = replay(AMI / "scenario.yaml", Path(tmp) / "ami").report
    got = {p.key: p.talk_time_s or 0.0 for p in report.participants}
    table = Table(title="AMI ES2004a 750–810 s: talk time (s), `rollcall replay` path")
    for col in ("speaker", "reference", "Rollcall", "error", "criterion"):
        table.add_column(col, justify="right" if col != "speaker" else "left")
    for k in keys:
        err = got[k] - ref[k]
        crit = "±2.0 s" if k == QUIET else "±10 %"
        ok = "✓" if passes(k, got[k], ref[k]) else "✗"
        pct = f" ({100 * err / ref[k]:+.1f} %)" if k != QUIET else ""
        table.add_row(k, f"{ref[k]:.2f}", f"{got[k]:.2f}", f"{err:+.2f}{pct}", f"{crit} {ok}")
    console.print(table)
    results["ami"] = {"reference": ref, "rollcall": got}

    base = TalkConfig()
    variants: list[tuple[str, TalkConfig, dict[str, float], float]] = [
        ("defaults", base, {}, 0.0),
        ("white noise σ=30 on every channel", base, {}, 30.0),
    ]
    for k in keys:
        variants.append((f"{k} −6 dB, noise σ=30", base, {k: -6.0}, 30.0))
        variants.append((f"{k} +6 dB, noise σ=30", base, {k: 6.0}, 30.0))
    for field, values in (("margin_db", (4.0, 6.0, 8.0)), ("max_low_tilt_db", (16.0, 22.0)),
                          ("bridge_s", (0.5, 0.7)), ("vad_mode", (2,)), ("frame_ms", (10, 20))):
        for v in values:
            variants.append((f"{field} = {v}", replace(base, **{field: v}), {}, 0.0))
    sens = Table(title="Sensitivity: detector alone on the AMI channels (✗ = outside the criterion)")
    sens.add_column("variant")
    for k in keys:
        sens.add_column(k, justify="right")
    results["sensitivity"] = {}
    for name, cfg, gains, noise in variants:
        tot = _detector_totals(cfg, gains, noise)
        results["sensitivity"][name] = tot
        sens.add_row(name, *(f"{tot[k]:.1f}{'' if passes(k, tot[k], ref[k]) else ' ✗'}" for k in keys))
    console.print(sens)

    from bot.generator.scenario_gen import cache_dir, ensure_demo_scenario

    scenario = ensure_demo_scenario(cache_dir() / "demo")
    truth = json.loads((scenario.parent / "truth.json").read_text())["participants"]
    with tempfile.TemporaryDirectory() as tmp:
        report = replay(scenario, Path(tmp) / "demo").report
    gen = Table(title="Generated demo training (eSpeak): talk time (s) against exact ground truth")
    for col in ("participant", "truth", "Rollcall", "error", "setup"):
        gen.add_column(col, justify="right" if col not in ("participant", "setup") else "left")
    results["generated"] = {}
    for p in report.participants:
        t = truth[p.key]
        setup = ", ".join(filter(None, [f"noise {t['noise_db']} dBFS" if t.get("noise_db") is not None else "",
                                        f"leakage {t['leak']['db']} dB" if t.get("leak") else "",
                                        f"{len(t['presence'])} joins" if len(t["presence"]) > 1 else ""]))
        got_s = p.talk_time_s or 0.0
        gen.add_row(p.key, f"{t['talk_s']:.2f}", f"{got_s:.2f}", f"{got_s - t['talk_s']:+.2f}", setup)
        results["generated"][p.key] = {"truth": t["talk_s"], "rollcall": got_s}
    console.print(gen)
    return results
