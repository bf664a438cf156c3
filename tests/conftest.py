"""Shared pytest fixtures.

`../shared` (beside the project root) holds the reference material and real data used by the
tests; tests that need it skip with a clear reason when it is absent.
"""
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The `../shared` folder, or a skip naming where it was looked for."""
    if not SHARED.is_dir():
        pytest.skip(f"reference data folder {SHARED} is absent (expected beside the project root)")
    return SHARED
