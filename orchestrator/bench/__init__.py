"""`rollcall bench orchestrator|reconcile|serve`: load and speed measurements (development tools)."""
