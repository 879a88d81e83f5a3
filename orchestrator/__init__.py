"""Scheduling, job queue and launchers, Zoom REST client, webhooks, reconciliation, live channel."""
