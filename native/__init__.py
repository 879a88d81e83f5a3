"""The raw-audio ingest path, and the talk detector's per-frame energy gate, in C++ (see native/src).
Import from here, not from `_ingest`."""
from native._ingest import OUT_RATE, EnergyGate, Ingest, Resampler

__all__ = ["OUT_RATE", "EnergyGate", "Ingest", "Resampler"]
