"""One exception hierarchy, mapped once: HTTP status, exit code and worker action per kind."""

from __future__ import annotations

import logging
import subprocess
import sys
from types import SimpleNamespace

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dsa110_contimg.api.errors import install_handlers
from dsa110_contimg.api.paths import MissingFileError
from dsa110_contimg.api.security import InsecureBindError
from dsa110_contimg.catalog.columns import CatalogFormatError, CoordinateError
from dsa110_contimg.catalog.master import MissingMasterCatalogError
from dsa110_contimg.catalog.query import UnknownCatalogError
from dsa110_contimg.cli.errors import ReportingGroup
from dsa110_contimg.config import JobSettings
from dsa110_contimg.conversion.streaming.ledger import LedgerLockedError
from dsa110_contimg.data_roots import PathOutsideRootsError
from dsa110_contimg.database.registry import InvalidTransitionError, UnknownDataError
from dsa110_contimg.errors import (
    ConflictError,
    ContimgError,
    ExternalToolError,
    ForbiddenError,
    InputError,
    NotFoundError,
    UnavailableError,
)
from dsa110_contimg.imaging.fits_io import (
    BeamSizeError,
    ImageReadError,
    MissingBeamError,
    MissingTimeError,
    NotAnImageError,
)
from dsa110_contimg.imaging.imager import ImagingError
from dsa110_contimg.imaging.measurement_set import ConversionError
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs import worker as worker_module
from dsa110_contimg.jobs.executor import SchedulerLostError
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import create_batch_photometry_job, get_job
from dsa110_contimg.jobs.worker import claim_item, process_item
from dsa110_contimg.mosaic.builder import MosaicError
from dsa110_contimg.photometry.table_io import PositionsError
from dsa110_contimg.variability.candidates import UnknownCandidateError
from dsa110_contimg.variability.corrections import NormalizationError

#: kind → (HTTP status, exit code, the worker fails the item at once).
MAPPING = {
    InputError: (422, 2, True),
    NotFoundError: (404, 2, True),
    ForbiddenError: (403, 2, True),
    ConflictError: (409, 3, True),
    ExternalToolError: (502, 4, False),
    UnavailableError: (503, 5, False),
}


@pytest.mark.parametrize(
    "error, kind",
    [
        (CatalogFormatError, InputError),
        (CoordinateError, InputError),
        (ImageReadError, InputError),
        (MissingBeamError, InputError),
        (NotAnImageError, InputError),
        (MissingTimeError, InputError),
        (BeamSizeError, InputError),
        (MosaicError, InputError),
        (PositionsError, InputError),
        (UnknownCatalogError, NotFoundError),
        (UnknownDataError, NotFoundError),
        (UnknownCandidateError, NotFoundError),
        (MissingFileError, NotFoundError),
        (PathOutsideRootsError, ForbiddenError),
        (InsecureBindError, ForbiddenError),
        (InvalidTransitionError, ConflictError),
        (NormalizationError, ConflictError),
        (MissingMasterCatalogError, ConflictError),
        (ImagingError, ExternalToolError),
        (ConversionError, ExternalToolError),
        (LedgerLockedError, UnavailableError),
        (SchedulerLostError, UnavailableError),
    ],
)
def test_every_project_error_has_one_kind(error, kind):
    assert issubclass(error, kind) and issubclass(error, ContimgError)
    assert [k for k in MAPPING if issubclass(error, k)] == [kind]


def test_builtin_meanings_are_kept_but_builtins_are_not_kinds():
    assert issubclass(InputError, ValueError) and issubclass(NotFoundError, LookupError)
    assert issubclass(MissingFileError, FileNotFoundError)
    assert issubclass(PathOutsideRootsError, PermissionError)
    assert not issubclass(ValueError, ContimgError)


def _api() -> TestClient:
    app = FastAPI()
    app.state.settings = SimpleNamespace(data_roots=[])
    install_handlers(app)
    kinds = {kind.__name__: kind for kind in MAPPING}

    @app.get("/raise/{name}")
    def _raise(name: str) -> None:
        if name == "ValueError":
            raise ValueError("a bug, not bad input")
        raise kinds[name](f"a {name}")

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("kind", list(MAPPING))
def test_http_status_per_kind(kind):
    response = _api().get(f"/raise/{kind.__name__}")
    assert response.status_code == MAPPING[kind][0]
    assert response.json() == {"detail": f"a {kind.__name__}", "errors": None}


def test_a_plain_value_error_is_a_server_error_not_a_bad_request():
    assert _api().get("/raise/ValueError").status_code == 500


def _cli(exc: Exception) -> typer.Typer:
    app = typer.Typer(cls=ReportingGroup)

    @app.command("fail")
    def _fail() -> None:
        raise exc

    @app.command("other")
    def _other() -> None:
        """A second command, so that ``fail`` is a subcommand as in ``contimg``."""

    return app


@pytest.mark.parametrize("kind", list(MAPPING))
def test_exit_code_per_kind(kind):
    result = CliRunner().invoke(_cli(kind("went wrong")), ["fail"])
    assert result.exit_code == MAPPING[kind][1]
    assert "error: went wrong" in result.output


def test_a_bug_in_a_command_keeps_its_traceback():
    result = CliRunner().invoke(_cli(KeyError("no such key")), ["fail"])
    assert result.exit_code == 1 and isinstance(result.exception, KeyError)


def test_contimg_exit_codes_for_unknown_ids():
    from dsa110_contimg.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["data", "show", "nope"]).exit_code == 2
    assert runner.invoke(app, ["jobs", "show", "999"]).exit_code == 2


@pytest.fixture
def item(tmp_path, sqlite_url) -> int:
    """A claimed job item of one small simulated image (never measured: `_measure` raises)."""
    sky = make_sky(150.0, 37.2, 0.05, seed=1, n_sources=3)
    image = simulate_image(
        tmp_path / "one-image-pb.fits",
        sky,
        center_ra_deg=150.0,
        center_dec_deg=37.2,
        npix=128,
        pb=None,
        seed=1,
    ).path
    create_batch_photometry_job([image], params=PhotometryParams(catalog="sim"), url=sqlite_url)
    claimed = claim_item("w1", url=sqlite_url)
    assert claimed is not None
    return claimed


@pytest.mark.parametrize(
    "raised, fails_now",
    [
        *((kind("bad"), fails_now) for kind, (_, _, fails_now) in MAPPING.items()),
        (ValueError("a bug"), False),
        (TypeError("a bug"), False),
    ],
)
def test_worker_fails_or_retries_by_kind(item, sqlite_url, monkeypatch, caplog, raised, fails_now):
    def measure(*_args, **_kwargs):
        raise raised

    monkeypatch.setattr(worker_module, "_measure", measure)
    settings = JobSettings(max_attempts=3, retry_backoff_s=0.0)
    with caplog.at_level(logging.WARNING, logger="dsa110_contimg.jobs.worker"):
        outcome = process_item(item, "w1", settings=settings, url=sqlite_url)
    assert outcome.status == ("failed" if fails_now else "pending")
    assert outcome.error == f"{type(raised).__name__}: {raised}"
    bug = not isinstance(raised, ContimgError)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert bool(errors) == bug  # a bug is logged at ERROR with its traceback; a kind is not
    assert all(r.exc_info is not None for r in errors)


def test_a_retried_item_fails_with_the_reason_after_its_last_attempt(item, sqlite_url, monkeypatch):
    def measure(*_args, **_kwargs):
        raise ExternalToolError("tool crashed")

    monkeypatch.setattr(worker_module, "_measure", measure)
    settings = JobSettings(max_attempts=2, retry_backoff_s=0.0)
    assert process_item(item, "w1", settings=settings, url=sqlite_url).status == "pending"
    again = claim_item("w1", settings=settings, url=sqlite_url)
    final = process_item(again, "w1", settings=settings, url=sqlite_url)
    assert final.status == "failed"
    assert final.error == "ExternalToolError: tool crashed (after 2 attempts)"
    job = get_job(1, url=sqlite_url)
    assert (job.status, job.n_failed) == ("failed", 1)


def test_the_command_line_imports_no_heavy_module():
    heavy = (
        "fastapi",
        "uvicorn",
        "dask",
        "distributed",
        "scipy",
        "astropy",
        "numpy",
        "sqlalchemy",
        "alembic",
        "pandas",
        "matplotlib",
        "bokeh",
        "pyuvdata",
        "numba",
        "pydantic_settings",
        "reproject",
    )
    code = (
        "import sys, dsa110_contimg.cli; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert loaded.isdisjoint(heavy), sorted(loaded & set(heavy))


def test_measuring_listed_positions_imports_no_database_or_web_stack(tmp_path):
    sky = make_sky(150.0, 37.2, 0.05, seed=2, n_sources=5)
    sim = simulate_image(
        tmp_path / "field-image-pb.fits",
        sky,
        center_ra_deg=150.0,
        center_dec_deg=37.2,
        npix=128,
        pb=None,
        seed=2,
    )
    positions = tmp_path / "positions.csv"
    positions.write_text("ra_deg,dec_deg\n150.0,37.2\n150.01,37.21\n")
    heavy = (
        "sqlalchemy",
        "alembic",
        "fastapi",
        "dask",
        "distributed",
        "pandas",
        "matplotlib",
        "bokeh",
        "pyuvdata",
        "reproject",
        "uvicorn",
        "scipy.signal",
        "scipy.stats",
    )
    code = (
        "import sys; from dsa110_contimg.cli import app; "
        "app(sys.argv[1:], standalone_mode=False); "
        "print(' '.join(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "photometry",
            "measure",
            str(sim.path),
            "--positions",
            str(positions),
            "-o",
            str(tmp_path / "out.csv"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(done.stdout.split())
    assert not {m for m in loaded if m in heavy or m.split(".")[0] in heavy}
    assert (tmp_path / "out.csv").read_text().count("\n") == 3
