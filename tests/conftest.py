"""Shared fixtures: an isolated state dir and settings for every test."""

from __future__ import annotations

import uuid
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


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A throwaway PostgreSQL server (pip package pgserver) for this test session/worker."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file, migrated to head."""
    from dsa110_contimg.database.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    """A fresh migrated database on SQLite and on a real PostgreSQL server."""
    from dsa110_contimg.database.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"test_{uuid.uuid4().hex[:12]}"
        server.psql(f"CREATE DATABASE {name};")
        url = server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1)
    upgrade(url)
    return url
