"""A meeting played from a scenario instead of joined through Zoom (development and demo, not product
code): the transport, a late joiner's view, and the simulated bot the orchestrator launches."""
