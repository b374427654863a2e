"""Shared fixtures: an isolated state dir and settings for every test."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsa110_contimg.config import get_settings

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "test-data"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point the package at a fresh state dir so no test touches another's files."""
    monkeypatch.setenv("CONTIMG_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("CONTIMG_DATABASE_URL", raising=False)
    monkeypatch.delenv("CONTIMG_CONFIG", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def shared_data(*parts: str) -> Path:
    """Path into ../shared/test-data, skipping the test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared real test data not available at {path}")
    return path
