"""The Zoom SDK's process-killing traps, handled here and nowhere else (see
``../shared/reference/zoom-meeting-sdk.md`` §10):

- an exception escaping a callback into the SDK aborts the process: every callback goes through
  :meth:`SdkGuard.callback`, which logs and contains it;
- the SDK keeps raw pointers to the strings and callback objects handed to it: :meth:`SdkGuard.keep`
  holds them for the bot's lifetime;
- ``InitSDK`` and ``Join`` print every parameter (passcode, tokens) to file descriptor 1:
  :func:`isolate_stdout` points fd 1 at /dev/null at the OS level and gives our own output its own fd;
- the SDK writes ``~/.zoomsdk`` and ``~/.config/zoomus.conf``: :func:`private_home` gives each bot its own;
- a normal interpreter exit with the SDK initialised segfaults: the bot ends with ``CleanUPSDK`` then
  ``os._exit`` (see the transport); :class:`ExitGuard` ends the process anyway if the cleanup hangs.
"""
from __future__ import annotations

import io
import os
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("rollcall.zoom")


class SdkGuard:
    def __init__(self) -> None:
        self._kept: list[Any] = []
        self.errors: Counter[str] = Counter()  # callback name -> exceptions contained
        self._lock = threading.Lock()

    def keep(self, *objects: Any) -> Any:
        """Hold references for the bot's lifetime (strings set on SDK structs, callback objects)."""
        self._kept.extend(objects)
        return objects[0] if len(objects) == 1 else objects

    def callback(self, name: str, fn: Callable[..., Any]) -> Callable[..., None]:
        """``fn`` as the SDK may call it: never raises, returns None; an exception is counted and logged
        (with its type and message only, so no argument such as a chat message reaches the log)."""

        def guarded(*args: Any) -> None:
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - anything escaping aborts the process
                with self._lock:
                    self.errors[name] += 1
                    first = self.errors[name] == 1
                if first or self.errors[name] % 1000 == 0:
                    log.error("callback %s raised %s: %s (contained; %d so far)", name, type(exc).__name__,
                              exc, self.errors[name])

        guarded.__name__ = f"guarded_{name}"
        return guarded


class ExitGuard:
    """``with ExitGuard(seconds, code):`` — if the block has not finished after ``seconds``, log it and end
    the process with ``code`` (``os._exit``: nothing else can interrupt a native call that hangs). Used
    around the SDK's cleanup, once everything worth keeping is saved. ``exit`` is replaceable for tests."""

    def __init__(self, seconds: float, code: int, exit: Callable[[int], Any] = os._exit) -> None:
        self.seconds, self.code, self._exit = seconds, code, exit
        self._done = threading.Event()

    def __enter__(self) -> ExitGuard:
        threading.Thread(target=self._watch, name="exit-guard", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()

    def _watch(self) -> None:
        if not self._done.wait(self.seconds):
            log.error("cleanup did not finish in %.0f s: exiting with %d", self.seconds, self.code)
            self._exit(self.code)


def isolate_stdout() -> io.TextIOWrapper:
    """Send fd 1 to /dev/null (the SDK's prints, passcode and tokens included, go nowhere) and return a
    text stream on a duplicate of the original stdout for our own output."""
    import sys

    sys.stdout.flush()
    ours = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    stream = io.TextIOWrapper(os.fdopen(ours, "wb", buffering=0), encoding="utf-8", line_buffering=True,
                              write_through=True)
    sys.stdout = stream
    return stream


def private_home(path: Path) -> Path:
    """Make ``path`` this process's HOME, with what the SDK expects there (its log directory, and
    ``zoomus.conf`` selecting the default audio device)."""
    path = path.resolve()  # the SDK rejects a relative HOME
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for d in (".zoomsdk", ".zoomsdk/logs", ".config"):  # the SDK's logs name people: this user's only
        (path / d).mkdir(exist_ok=True, mode=0o700)
    conf = path / ".config" / "zoomus.conf"
    if not conf.exists():
        with os.fdopen(os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write("[General]\nsystem.audio.type=default\n")
    os.environ["HOME"] = str(path)
    return path
