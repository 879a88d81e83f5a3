"""The GLib main loop the SDK needs (without it the authentication callback never fires): PyGObject's
when it can be imported (the distro's ``python3-gi``), otherwise GLib's default context pumped through
ctypes; the SDK uses the system ``libglib-2.0``, so both drive the same loop. Callbacks then run on the
thread that pumps."""
from __future__ import annotations

import ctypes
import time
from collections.abc import Callable


class GLibLoop:
    def __init__(self) -> None:
        try:
            from gi.repository import GLib

            context = GLib.MainContext.default()
            self._iterate: Callable[[], bool] = lambda: context.iteration(False)
            self.backend = "pygobject"
        except ImportError:
            glib = ctypes.CDLL("libglib-2.0.so.0")
            glib.g_main_context_iteration.argtypes = [ctypes.c_void_p, ctypes.c_int]
            glib.g_main_context_iteration.restype = ctypes.c_int
            self._iterate = lambda: bool(glib.g_main_context_iteration(None, 0))
            self.backend = "ctypes"

    def run(self, done: Callable[[], bool], tick: Callable[[], None], tick_s: float = 0.1,
            idle_sleep_s: float = 0.005) -> None:
        """Dispatch SDK events until ``done()``, calling ``tick()`` every ``tick_s``."""
        next_tick = time.monotonic()
        while not done():
            if not self._iterate():
                time.sleep(idle_sleep_s)
            if time.monotonic() >= next_tick:
                tick()
                next_tick = time.monotonic() + tick_s
