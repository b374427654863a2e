"""Helpers of the web-page tests: a products database filled by the pipeline, and a live
server on 127.0.0.1.

`build_site` runs, in order: the demo pipeline on a small simulated drift scan (stream,
imaging, registry, workers, mosaics, publishing), the same service again with a broken
observation (a failure with its reason in the stream's ledger), a measured four-epoch field
with a dip (batch job, worker, normalization, variability detection), a catalogue whose one
source has HTML in its name (measured through a batch job), and a job whose image disappeared
before the worker ran (a failed item and product, with the reason).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uvicorn
from astropy.table import Table
from variability_support import make_field, run_photometry

from dsa110_contimg.api import create_app
from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.sources import resolve_source
from dsa110_contimg.config import Settings
from dsa110_contimg.demo import demo_environment, run_demo, settings_environment
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import create_batch_photometry_job, get_job
from dsa110_contimg.jobs.worker import run_worker
from dsa110_contimg.runner import run_pipeline
from dsa110_contimg.variability.candidates import detect

TOKEN = "web-token-123"
#: A catalogue name as hostile as a catalogue could make it.
EVIL_NAME = '<script>window.pwned=1</script><b id="evil">J1</b>'
DEMO_DAYS, DEMO_IMAGES = 2, 3


@dataclass
class Site:
    """The filled database and what the tests look for in it."""

    settings: Settings
    url: str
    sim_images: list[Path]
    evil_source_id: int
    failed_data_id: str
    dipper: str


#: Epochs of the field with a dipping source.
FIELD_EPOCHS = 6


def _brightest_central(sky: Table) -> int:
    near = np.hypot(sky["ra_deg"] - 150.0, sky["dec_deg"] - 37.2) < 0.1
    return int(np.argmax(np.where(near, sky["flux_jy"], 0.0)))


def _dipping(sky: Table) -> np.ndarray:
    """The brightest central source halves for two epochs (one low epoch is no ESE)."""
    factors = np.ones((FIELD_EPOCHS, len(sky)))
    factors[2:4, _brightest_central(sky)] = 0.5
    return factors


def build_site(root: Path) -> Site:
    """Fill ``<root>/demo`` by running the pipeline (see the module docstring)."""
    base = Settings(state_dir=root, jobs={"workers": 2})
    report = run_demo(base, days=DEMO_DAYS, images_per_day=DEMO_IMAGES, npix=(512, 1024))
    environment = demo_environment(base, images_per_day=DEMO_IMAGES)
    with settings_environment(environment) as demo:
        (demo.stream.input_dir / "broken.obs.json").write_text("{not json")
        run_pipeline(demo, until_idle=True)
        settings, url = demo, demo.database_url
    images = settings.data_roots[0] / "field"
    images.mkdir(parents=True)
    field = make_field(
        images,
        url,
        n_epochs=FIELD_EPOCHS,
        n_sources=60,
        npix=512,
        radius_deg=0.2,
        seed=3,
        factors=_dipping,
        extended_fraction=0.0,
        min_flux_jy=0.01,
    )
    run_photometry(field.paths, url)
    flagged = detect(preset="sensitive", url=url)
    dipper = next(c["name"] for c in flagged if c["kind"] == "ese")

    brightest = _brightest_central(field.sky)
    evil_csv = root / "evil.csv"
    Table(
        {
            "name": [EVIL_NAME],
            "ra_deg": [field.sky["ra_deg"][brightest]],
            "dec_deg": [field.sky["dec_deg"][brightest]],
            "flux_mjy": [100.0],
        }
    ).write(evil_csv, format="ascii.csv")
    ingest_catalog(evil_csv, "evil", url=url)
    create_batch_photometry_job(field.paths[:2], params=PhotometryParams(catalog="evil"), url=url)
    gone = images / "gone-image-pb.fits"
    shutil.copy(field.paths[0], gone)
    job = create_batch_photometry_job([gone], params=PhotometryParams(catalog="sim"), url=url)
    gone.unlink()
    run_worker(stop_when_idle=True, url=url)
    evil_id, _ = resolve_source(EVIL_NAME, catalog="evil", url=url)
    failed = get_job(job, url=url).items[0]["data_id"]
    assert report.summary.products, "the demo registered nothing"
    served = Settings(
        state_dir=settings.state_dir,
        database_url=url,
        data_roots=settings.data_roots,
        api={"token": TOKEN},
    )
    return Site(served, url, list(field.paths), evil_id, failed, dipper)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """The application under uvicorn on 127.0.0.1 (a thread); yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
