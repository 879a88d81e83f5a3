"""The raw-audio ingest path, in C++ (see native/src). Import from here, not from `_ingest`."""
from native._ingest import OUT_RATE, Ingest, Resampler

__all__ = ["OUT_RATE", "Ingest", "Resampler"]
