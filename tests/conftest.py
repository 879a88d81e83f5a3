from __future__ import annotations

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


@pytest.fixture(scope="session")
def ami_dir() -> Path:
    return require_shared_data(AMI_DIR)
