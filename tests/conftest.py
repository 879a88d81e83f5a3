from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
AMI_DIR = SHARED_DATA / "meetings" / "ami-es2004a-750s"


@pytest.fixture(scope="session")
def ami_dir() -> Path:
    if not AMI_DIR.exists():
        pytest.skip(f"shared data not found at {AMI_DIR} (CI always has it)")
    return AMI_DIR
