"""Shared pytest fixtures and paths.

Every file the suite reads ships in ``tests/fixtures`` (provenance in its SOURCES.md), so a
clone runs every test with nothing beside it.
"""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
