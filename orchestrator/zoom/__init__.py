"""Zoom's REST API: the client, its OAuth token, the response models and the account's rate limits."""
