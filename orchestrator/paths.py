"""The one place where identifiers (meeting ids, schedule ids, job ids) become filesystem paths.

Identifiers come from outside: a scenario's ``meeting.id``, the API, a calendar. A job id is built from
them, so joined onto the data directory unchecked, ``../../../../tmp/x`` would put a bot's files wherever
this user can write. Here an identifier is one plain path component from a small alphabet, and the path
built from it is checked to stay under its root even after symlinks are followed.
"""
from __future__ import annotations

import re
from pathlib import Path

ID_MAX = 100  # a meeting number has 9 to 11 digits; a job id adds about 40 characters to its meeting id
NAME_MAX = 255  # the longest file name Linux file systems take
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")  # no separator, no leading '.' (..) or '-' (an option)


class InvalidIdentifier(ValueError):
    """An identifier that cannot name a file or folder under the data directory. It is the caller's
    mistake: the API answers it with 422, the CLI with exit code 2."""


def _check(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit or not _ID.fullmatch(value):
        raise InvalidIdentifier(f"{what} {value!r} is not allowed: use at most {limit} letters, digits and "
                                f"'_' '.' '@' '-', starting with a letter, digit or '_'")
    return value


def check_id(value: object, what: str = "identifier") -> str:
    """``value`` if it is a valid identifier, for refusing one where it enters (API, CLI, calendar)."""
    return _check(value, what, ID_MAX)


def under(root: Path, name: str, what: str = "identifier") -> Path:
    """``root/name``, absolute; InvalidIdentifier if ``name`` is not one plain component or the path
    leaves ``root``."""
    base = Path(root).resolve()
    path = (base / _check(name, what, NAME_MAX)).resolve()
    if path.parent != base:
        raise InvalidIdentifier(f"{what} {name!r} leads outside {base}")
    return path


def bot_dir(data_dir: Path, job_id: str) -> Path:
    """A local bot's working directory, ``DATA_DIR/bots/JOB``."""
    return under(Path(data_dir) / "bots", job_id, "job id")
