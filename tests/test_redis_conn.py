"""The embedded Redis: started under the data directory when there is no REDIS_URL, shared by every
command on that directory, stopped by whoever started it, and its data kept across restarts."""
from __future__ import annotations

import pytest

from orchestrator.redis_conn import RedisUnavailable, open_redis


def test_the_embedded_redis_is_shared_stopped_by_its_owner_and_persistent(tmp_path):
    data = tmp_path / "data"
    with open_redis(None, data) as owner:
        port = (data / "redis" / "port").read_text()
        owner.set("rollcall:test", "kept")
        with open_redis(None, data) as guest:  # another command on the same directory: the same server
            assert guest.get("rollcall:test") == "kept"
            assert guest.connection_pool.connection_kwargs["port"] == int(port)
        assert owner.ping()  # the guest leaving did not stop it
    assert not (data / "redis" / "port").exists()
    with open_redis(None, data) as again:  # a new server, the same data (append-only file)
        assert again.get("rollcall:test") == "kept"


def test_an_unreachable_redis_url_is_a_clear_error(tmp_path):
    with pytest.raises(RedisUnavailable, match="cannot reach Redis at redis://:\\*\\*\\*@127.0.0.1:1/0"):
        with open_redis("redis://:hunter2@127.0.0.1:1/0", tmp_path):
            pass


def test_the_embedded_redis_needs_its_password_and_keeps_its_files_private(tmp_path):
    import redis as redis_lib

    data = tmp_path / "data"
    with open_redis(None, data) as r:
        r.set("rollcall:test", "passcode-123")
        port = int((data / "redis" / "port").read_text())
        with pytest.raises(redis_lib.AuthenticationError):
            redis_lib.Redis(port=port).get("rollcall:test")
        r.bgrewriteaof()
    folder = data / "redis"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / "password").stat().st_mode & 0o777 == 0o600
    assert all(p.stat().st_mode & 0o077 == 0 for p in folder.rglob("*") if p.is_file())
