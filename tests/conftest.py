"""Shared fixtures: an isolated state dir and settings for every test."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from dsa110_contimg.config import get_settings

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "test-data"


@pytest.fixture(autouse=True, scope="session")
def temporary_data_root(tmp_path_factory: pytest.TempPathFactory):
    """Tests write their files anywhere under pytest's temporary directories (module-scoped
    fixtures included): those are their data root (``CONTIMG_DATA_ROOTS``)."""
    saved = os.environ.get("CONTIMG_DATA_ROOTS")
    os.environ["CONTIMG_DATA_ROOTS"] = str(tmp_path_factory.getbasetemp())
    yield
    if saved is None:
        os.environ.pop("CONTIMG_DATA_ROOTS")
    else:
        os.environ["CONTIMG_DATA_ROOTS"] = saved


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


def require_wsclean() -> str:
    """Path of the WSClean program; skips the test without it (fails instead when
    ``CONTIMG_REQUIRE_WSCLEAN`` is set, as in CI)."""
    path = shutil.which("wsclean")
    if path:
        return path
    message = (
        "WSClean is not installed: install the Debian/Ubuntu package 'wsclean' "
        "(apt-get install wsclean)"
    )
    if os.environ.get("CONTIMG_REQUIRE_WSCLEAN"):
        pytest.fail(message + " — CONTIMG_REQUIRE_WSCLEAN is set")
    pytest.skip(message)


def require_chromium() -> str:
    """Path of the Chromium browser (driven through the pip package playwright); skips the
    test without it (fails instead when ``CONTIMG_REQUIRE_CHROMIUM`` is set, as in CI)."""
    path = shutil.which("chromium")
    if path:
        return path
    message = (
        "Chromium is not installed: install the Debian/Ubuntu package 'chromium' "
        "(apt-get install chromium)"
    )
    if os.environ.get("CONTIMG_REQUIRE_CHROMIUM"):
        pytest.fail(message + " — CONTIMG_REQUIRE_CHROMIUM is set")
    pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (``item.rep_call``), for fixtures that act
    on failure (the browser tests' screenshots)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A throwaway PostgreSQL server (pip package pgserver) for this test session/worker.

    It holds a template database migrated to head, which `db_url` clones for each test. A server
    that cannot start fails the tests that need it (never a skip).
    """
    import pgserver

    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.session import get_engine

    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    server.psql(f"CREATE DATABASE {PG_TEMPLATE};")
    url = _psycopg_url(server, PG_TEMPLATE)
    upgrade(url)
    get_engine(url).dispose()  # a template must have no open connections to be cloned
    yield server
    server.cleanup()


def _psycopg_url(server, name: str) -> str:
    return server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1)


PG_TEMPLATE = "contimg_template"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file, migrated to head."""
    from dsa110_contimg.database.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path):
    """A fresh database migrated to head: a SQLite file, and one on a real PostgreSQL server
    (a new database per test, cloned from the server's migrated template)."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.session import get_engine

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"test_{uuid.uuid4().hex[:12]}"
        server.psql(f"CREATE DATABASE {name} TEMPLATE {PG_TEMPLATE};")
        url = _psycopg_url(server, name)
    upgrade(url)
    yield url
    get_engine(url).dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path: Path):
    """A database with no tables at all: a new SQLite file, and a new database on the real
    PostgreSQL server (not cloned from the migrated template)."""
    from dsa110_contimg.database.session import get_engine

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"empty_{uuid.uuid4().hex[:12]}"
        server.psql(f"CREATE DATABASE {name};")
        url = _psycopg_url(server, name)
    yield url
    get_engine(url).dispose()


@pytest.fixture
def sim_field(tmp_path: Path) -> tuple[Path, list[Path], tuple[str, ...]]:
    """A simulated field centred on `SIM_FIELD_CENTER`: ``(catalogue CSV of its sky, three
    640² images of it, their DATE-OBS)``; the dates are out of file order and differ from the
    file times."""
    import os
    import time

    from astropy.table import Table

    from dsa110_contimg.imaging.simulate import make_sky, simulate_image

    ra0, dec0 = SIM_FIELD_CENTER
    sky = make_sky(ra0, dec0, 0.25, seed=5, n_sources=60, min_flux_jy=0.02, max_flux_jy=0.2)
    sky["major_arcsec"] = 0.0
    sky["minor_arcsec"] = 0.0
    catalogue = tmp_path / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(catalogue, format="ascii.csv")
    paths = []
    for k, date in enumerate(SIM_FIELD_DATES):
        sim = simulate_image(
            tmp_path / f"epoch{k}-image-pb.fits",
            sky,
            center_ra_deg=ra0,
            center_dec_deg=dec0,
            npix=640,
            pb=None,
            date_obs=date,
            seed=k,
        )
        mtime = time.time() - 1000 * k
        os.utime(sim.path, (mtime, mtime))
        paths.append(sim.path)
    return catalogue, paths, SIM_FIELD_DATES


SIM_FIELD_CENTER = (150.0, 37.2)
SIM_FIELD_DATES = ("2026-03-05T10:00:00", "2026-01-02T03:00:00", "2026-02-10T22:30:00")
