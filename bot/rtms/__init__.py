"""The second way into a meeting: Zoom Realtime Media Streams (RTMS), receive-only, started by Zoom.

``stream`` says which stream to open, ``traps`` holds everything the ``rtms`` 1.1.0 module can do wrong,
``session`` turns its callbacks into the transport interface's calls, ``run`` is `rollcall rtms`.
"""
