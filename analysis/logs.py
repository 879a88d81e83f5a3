"""Every process's log lines: one structlog configuration, one format per mode, secrets redacted.

It lives in ``analysis`` although it is not domain logic because the bot and the orchestrator must write
their logs in one format, and ``analysis`` is the only package they both import (``bot`` and
``orchestrator`` never import each other). Nothing happens at import: each process's entry point calls
:func:`configure` (``rollcall`` for every command at WARNING, ``serve``, ``orchestrator`` and the bots
again at INFO with their secrets), and modules take ``structlog.get_logger(__name__)``.

- Format: JSON lines (``timestamp``, ``level``, ``logger``, ``event``, any bound keys, ``exception``) when
  stderr is not a terminal (containers, bots launched by the orchestrator, pipes); structlog's console
  renderer on a terminal. Like the rest of ``analysis``, it reads no configuration: the caller may force
  one with ``json=``.
- Every line goes through stdlib ``logging`` to one stderr handler whose formatter is structlog's
  ``ProcessorFormatter``: ours (``%``-style arguments kept, by ``PositionalArgumentsFormatter``) and the
  libraries' (uvicorn, httpx, kubernetes…) alike, so all of them are rendered the same way and all of them
  pass :func:`redact_processor`.
- Redaction, in that one processor, of every string in the line (the message, bound values, the formatted
  traceback): the secrets the process passed to :func:`configure` (the Meeting SDK secret, join tokens,
  the passcode, the orchestrator's secrets), anything that looks like a JWT, ``pwd=`` values of join
  links, and e-mail addresses, which never reach a log (the product's privacy rule).
"""
from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import structlog

_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
_PWD = re.compile(r"(pwd=)[^&#\s]+")
_FIRST = ("timestamp", "level", "logger", "event")
_EMAIL = re.compile(r"[\w.+%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with every secret, every JWT-looking token, every ``pwd=`` value and every e-mail address
    replaced."""
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, "[redacted]")
    text = _JWT.sub("[redacted-jwt]", text)
    text = _PWD.sub(r"\1[redacted]", text)
    return _EMAIL.sub("[redacted-email]", text)


class _Redactor:
    """The one redaction processor: every string value of the event dict (nested ones too; any other
    object by its ``str``), with the process's secrets."""

    def __init__(self) -> None:
        self.secrets: tuple[str, ...] = ()

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, self.secrets)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._value(v) for v in value]
        return redact(str(value), self.secrets)

    def __call__(self, _logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        first = [k for k in _FIRST if k in event_dict]  # a line reads when, how bad, where, what
        return {k: self._value(event_dict[k]) for k in [*first, *(k for k in event_dict if k not in _FIRST)]}


redact_processor = _Redactor()

# both ours and the libraries' records get these before the formatter's processors
_SHARED: list[Any] = [
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on whatever ``sys.stderr`` is when a line is written (tests swap it; the Zoom bot moves
    fd 1, never stderr)."""

    rollcall_logs = True  # the one configure() installs and replaces

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _wants_json(json: bool | None) -> bool:
    if json is not None:
        return json
    try:
        return not sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return True


def formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    """The one ``logging`` formatter: JSON lines or the console renderer, after the redaction."""
    renderer: Any
    if json:
        renderer = structlog.processors.JSONRenderer(serializer=lambda obj, **kw: jsonlib.dumps(
            obj, ensure_ascii=False, **kw))
    else:  # the traceback is already text (so it was redacted): printed as it is
        renderer = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    redact_processor,
                    renderer])


def configure(*, secrets: Sequence[str] = (), json: bool | None = None, level: int = logging.INFO) -> None:
    """Route structlog and stdlib ``logging`` to one stderr handler in one format. ``json`` None: JSON
    lines unless stderr is a terminal. ``secrets`` are added to the ones already known (a second call
    never forgets one). Calling it again replaces the handler (no duplicate lines) and sets the level."""
    redact_processor.secrets = tuple(sorted({*redact_processor.secrets, *(s for s in secrets if s)}))
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level,
                    *_SHARED,
                    structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.processors.StackInfoRenderer(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # a later configure() still applies to loggers already used
    )
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "rollcall_logs", False)]:
        root.removeHandler(h)
    handler = _StderrHandler()
    handler.setFormatter(formatter(json=_wants_json(json)))
    root.addHandler(handler)
    root.setLevel(level)
