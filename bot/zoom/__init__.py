"""The Zoom Meeting SDK transport (``zoom_meeting_sdk``): lifecycle, credentials, and the SDK's traps.

Only ``guard.py`` and the transport touch the SDK module; everything else here is plain logic, tested
without it.
"""
