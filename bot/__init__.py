"""Rollcall bot: Zoom meeting simulator, scenario tools and CLI."""
