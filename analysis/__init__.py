"""The domain core: pure computation on media time. No I/O, no wall clock, no network."""
