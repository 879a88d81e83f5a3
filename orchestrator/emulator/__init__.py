"""A Zoom REST emulator on loopback (development tool, not product code): meetings from scenarios or
synthetic, Zoom's rules and faults."""
