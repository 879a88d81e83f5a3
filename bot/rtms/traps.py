"""What the ``rtms`` 1.1.0 module does wrong, contained here and nowhere else
(``../shared/reference/zoom-rtms.md`` §3, §7):

- a call into the SDK from inside one of its callbacks (``leave``, ``uuid``, ``subscribe_event``, any
  ``on_*``) deadlocks the whole process: every callback goes through :class:`Inbox`, which only copies its
  arguments into a queue and never raises; the session calls the SDK from the main thread only;
- event subscriptions made before ``join()`` are never sent, and ``subscribe_event`` after it can deadlock
  against a callback in flight (it takes the client's lock while holding the GIL; the callback holds the
  lock and waits for the GIL): the session registers ``on_user_update`` before the join, which makes the
  SDK send the subscription itself, and never calls ``subscribe_event``; ``on_user_update`` reports no
  leaves, so the roster comes from the events (``on_event_ex``);
- invalid audio parameters make the join fail silently (``join()`` still says True, no callback ever
  comes): :func:`audio_params` refuses them before the join, and the session's join watchdog turns a
  silence into an outcome;
- ``enable_audio(False)`` and its siblings are inverted: never called;
- after a dropped socket the SDK does not reconnect (``on_leave(960)``) and the client keeps being polled
  until ``leave()``: the session leaves from the main thread and the worker ends with a retryable exit
  code, so the orchestrator starts a replacement;
- ``leave()`` takes the poll lock while holding the GIL, so it can deadlock against a poll inside a
  callback; ``uninitialize()`` hangs; an interpreter exit with a live client aborts: the worker stops and
  joins the event loop first, then leaves (not at all if the loop would not stop), and ends with
  ``os._exit``, never ``uninitialize``;
- after a TCP reset the SDK reconnects by itself, without ``on_join_confirm`` and without its event
  subscription: audio goes on, roster events stop (leaves after it are not seen). Not handled: it shows
  only as a second of missing audio;
- the C SDK writes ``./logs/`` with the handshake's signature in it (and floods stderr if it is
  missing), the Python layer prints info lines to stdout, and ``ZM_RTMS_CLIENT``/``ZM_RTMS_SECRET``
  override the credentials we pass: :func:`prepare_process`.
"""
from __future__ import annotations

import os
import queue
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import structlog

from bot.zoom.guard import isolate_stdout

log = structlog.get_logger("rollcall.rtms")

RATES_HZ = (8000, 16000, 32000, 48000)  # L16 rates RTMS sends (AudioSampleRate SR_8K .. SR_48K)
_RATE_MEMBERS = {8000: "SR_8K", 16000: "SR_16K", 32000: "SR_32K", 48000: "SR_48K"}
SDK_ENVIRONMENT = ("ZM_RTMS_CLIENT", "ZM_RTMS_SECRET")  # would override the credentials we pass


class RtmsConfigError(ValueError):
    """A setting RTMS cannot work with, found before joining (the worker exits 2)."""


def audio_params(rtms: Any, rate_hz: int, duration_ms: int = 20) -> Any:
    """Raw L16 mono audio, one stream per participant, at ``rate_hz`` in packets of ``duration_ms``, with
    the ``frame_size`` the SDK wants for that pair (a wrong one fails the join without a word)."""
    if rate_hz not in RATES_HZ:
        raise RtmsConfigError(f"RTMS sends L16 audio at {', '.join(map(str, RATES_HZ))} Hz, not {rate_hz}")
    if duration_ms % 20 or not 20 <= duration_ms <= 1000:
        raise RtmsConfigError(f"an RTMS packet lasts a multiple of 20 ms up to 1000 ms, not {duration_ms}")
    p = rtms.AudioParams()
    p.content_type = rtms.AudioContentType.RAW_AUDIO
    p.codec = rtms.AudioCodec.L16
    p.sample_rate = getattr(rtms.AudioSampleRate, _RATE_MEMBERS[rate_hz])
    p.channel = rtms.AudioChannel.MONO
    p.data_opt = rtms.DataOption.AUDIO_MULTI_STREAMS
    p.duration = duration_ms
    p.frame_size = rate_hz * duration_ms // 1000
    return p


class Delivery(NamedTuple):
    """One callback, as the SDK's thread handed it over."""

    kind: str
    at: float  # time.monotonic() when it arrived
    args: tuple[Any, ...]


class Inbox:
    """The only thing the SDK's thread touches: each callback copies its arguments (``copy``) into a queue
    and returns; nothing it does can raise into the SDK or call back into it."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self.errors: Counter[str] = Counter()  # callback kind -> exceptions contained

    def callback(self, kind: str, copy: Callable[..., tuple[Any, ...]] = lambda *a: a) -> Callable[..., None]:
        def deliver(*args: Any) -> None:
            try:
                self._queue.put(Delivery(kind, time.monotonic(), copy(*args)))
            except BaseException as exc:  # noqa: BLE001 - nothing may escape into the SDK
                self.errors[kind] += 1
                if self.errors[kind] == 1:
                    log.error("rtms callback %s raised %s (contained)", kind, type(exc).__name__)

        deliver.__name__ = f"inbox_{kind}"
        return deliver

    def drain(self, limit: int = 100_000) -> list[Delivery]:
        """What arrived since the last drain, in order (at most ``limit``, so a backlog burst cannot hold
        the main loop forever)."""
        out: list[Delivery] = []
        while len(out) < limit:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return out


def prepare_process(work_dir: Path) -> TextIO:
    """Before ``import rtms``: the SDK's ``./logs`` (they hold the signature) in a private directory, its
    credential overrides gone from the environment, its Python log lines to errors only, and fd 1 away
    from its prints (our own output on the returned stream)."""
    private = work_dir / "rtms-sdk"
    (private / "logs").mkdir(mode=0o700, parents=True, exist_ok=True)  # missing, the SDK floods stderr
    os.chmod(private, 0o700)
    os.chdir(private)
    for name in SDK_ENVIRONMENT:
        os.environ.pop(name, None)
    os.environ["ZM_RTMS_LOG_LEVEL"] = "error"
    return isolate_stdout()
