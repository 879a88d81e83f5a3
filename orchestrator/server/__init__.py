"""The orchestrator's HTTP service: the app (webhooks, API, live pages) and the API's routes."""
