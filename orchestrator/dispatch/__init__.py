"""Bots to meetings: schedules (by hand and from trainers' calendars), the dispatcher that launches, watches
and replaces bots, and the launchers (local processes, Kubernetes Jobs)."""
