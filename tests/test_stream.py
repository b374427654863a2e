"""The streaming converter: images of every naming convention get measured without a manual
step; exactly once across kills; failures keep their reason and the stream goes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from astropy.time import Time
from sqlalchemy import func, select
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.cli import app
from dsa110_contimg.conversion.streaming.ledger import Ledger
from dsa110_contimg.conversion.streaming.streaming_converter import StreamingConverter
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.models import BatchJobItem, DataRegistry, Photometry, Product
from dsa110_contimg.database.registry import get_photometry_status
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.imaging.imager import (
    CommandImager,
    ExternalImager,
    SimulatedImager,
    choose_image,
)
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.worker import run_worker
from dsa110_contimg.photometry.forced import measure_many

RA0, DEC0 = 150.0, 37.2
NPIX = 256
CATALOG = "stream-sky"


@pytest.fixture
def sky(tmp_path: Path, isolated_settings) -> Table:
    """A simulated sky around the test field, ingested as the catalogue ``stream-sky``."""
    upgrade()
    sky = make_sky(RA0, DEC0, 0.3, seed=7, min_flux_jy=5e-3, n_sources=300)
    csv = tmp_path / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(csv, format="ascii.csv")
    ingest_catalog(csv, CATALOG)
    sky.write(tmp_path / "sky.ecsv", format="ascii.ecsv")
    return sky


def _converter(imager, tmp_path: Path, photometry: bool = True) -> StreamingConverter:
    return StreamingConverter(
        imager,
        tmp_path / "incoming",
        tmp_path / "images",
        PhotometryParams(catalog=CATALOG) if photometry else None,
        settle_s=0.0,
        ledger=Ledger(tmp_path / "ledger"),
    )


def _image(
    path: Path,
    sky: Table,
    *,
    pb_corrected: bool = True,
    seed: int = 0,
    date_obs: str = "2026-11-24T06:00:00",
) -> Path:
    simulate_image(
        path,
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=NPIX,
        noise_jy=1e-3,
        pb_corrected=pb_corrected,
        date_obs=date_obs,
        seed=seed,
    )
    return path


def _registry() -> dict[str, DataRegistry]:
    with session_scope() as session:
        rows = session.scalars(select(DataRegistry)).all()
        session.expunge_all()
    return {Path(r.stage_path).name: r for r in rows}


def _rows(data_id: str) -> int:
    with session_scope() as session:
        return session.scalar(
            select(func.count())
            .select_from(Photometry)
            .join(Product, Product.id == Photometry.product_id)
            .where(Product.data_id == data_id)
        )


def test_wsclean_casa_and_plain_images_are_measured_without_a_manual_step(tmp_path, sky):
    converter = _converter(ExternalImager(), tmp_path)
    incoming = converter.input_dir
    _image(incoming / "obsA-MFS-image.fits", sky, pb_corrected=False)
    _image(incoming / "obsA-MFS-image-pb.fits", sky, seed=1)
    _image(incoming / "obsA-0000-image.fits", sky, pb_corrected=False, seed=2)
    _image(incoming / "obsA-MFS-psf.fits", sky, seed=3)
    _image(
        incoming / "obsB.image.fits",
        sky,
        pb_corrected=False,
        seed=4,
        date_obs="2026-11-24T06:05:00",
    )
    _image(incoming / "obsB.image.pbcor.fits", sky, seed=5, date_obs="2026-11-24T06:05:00")
    _image(incoming / "obsC.fits", sky, seed=6, date_obs="2026-11-24T06:10:00")
    (incoming / ".obsD.fits.part").write_bytes(b"still being written")

    records = converter.drain()
    assert sorted(r.key for r in records) == ["obsA", "obsB", "obsC"]
    assert all(r.status == "done" for r in records)
    assert {r.key: r.product for r in records} == {
        "obsA": "MFS-image-pb",
        "obsB": "image-pb",
        "obsC": "image",
    }

    run_worker(stop_when_idle=True)
    registry = _registry()
    assert sorted(registry) == ["obsA-MFS-image-pb.fits", "obsB.image.pbcor.fits", "obsC.fits"]
    for record in registry.values():
        assert record.photometry_status == "completed", record.photometry_error
        assert record.photometry_job_id is not None
        assert _rows(record.data_id) == record.photometry_n_measured + record.photometry_n_failed
        assert record.photometry_n_measured > 5
    assert json.loads(registry["obsB.image.pbcor.fits"].metadata_json)["convention"] == "casa"
    # Nothing is processed twice.
    assert converter.drain() == []


def test_choose_image_prefers_pb_corrected_mfs_and_refuses_product_sets_without_image(tmp_path):
    names = ["x-0001-image.fits", "x-image.fits", "x-MFS-image.fits", "x-pb.fits"]
    result = choose_image([tmp_path / n for n in names])
    assert (result.image.name, result.pb_corrected) == ("x-MFS-image.fits", False)
    assert (
        choose_image(
            [
                tmp_path / "y.image.tt0.fits",
                tmp_path / "y.image.tt1.fits",
                tmp_path / "y.image.tt0.pbcor.fits",
            ]
        ).image.name
        == "y.image.tt0.pbcor.fits"
    )
    with pytest.raises(Exception, match="no image among the products"):
        choose_image([tmp_path / "z-psf.fits", tmp_path / "z-pb.fits"])


def test_incomplete_files_wait_until_settled(tmp_path, sky):
    converter = _converter(ExternalImager(), tmp_path)
    converter.settle_s = 30.0
    path = _image(converter.input_dir / "late-image-pb.fits", sky)
    assert converter.run_once() == []
    old = time.time() - 60
    os.utime(path, (old, old))
    assert [r.key for r in converter.run_once()] == ["late"]


def test_bad_images_fail_with_reasons_and_the_rest_goes_on(tmp_path, sky):
    converter = _converter(ExternalImager(), tmp_path)
    (converter.input_dir / "corrupt-image-pb.fits").write_bytes(b"SIMPLE  =  T" + b"\0" * 100)
    _image(converter.input_dir / "good-image-pb.fits", sky)
    records = {r.key: r for r in converter.drain()}
    assert records["corrupt"].status == "failed"
    assert "corrupt-image-pb.fits" in records["corrupt"].error
    assert records["good"].status == "done"
    # The failure is kept (not retried on every pass) until asked.
    assert converter.drain() == []
    assert converter.ledger.forget_failed() == ["corrupt"]
    assert [r.key for r in converter.drain()] == ["corrupt"]


def test_photometry_disabled_registers_without_requesting(tmp_path, sky):
    converter = _converter(ExternalImager(), tmp_path, photometry=False)
    _image(converter.input_dir / "quiet-image-pb.fits", sky)
    (record,) = converter.drain()
    assert record.job_id is None
    assert get_photometry_status(record.data_id).status is None


IMAGING_SCRIPT = """
import shutil, sys, time
source, output_dir, name, mode = sys.argv[1:5]
if mode == "fail":
    print("calibration table missing for", name, file=sys.stderr)
    sys.exit(3)
if mode == "hang":
    time.sleep(30)
shutil.copy(source, f"{output_dir}/{name}-MFS-image-pb.fits")
"""


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("ok", None),
        ("fail", "exited with status 3: calibration table missing for obs1"),
        ("hang", "timed out after 1 s"),
    ],
)
def test_command_imager_runs_a_program_and_reports_its_failure(tmp_path, sky, mode, expected):
    script = tmp_path / "imager.py"
    script.write_text(IMAGING_SCRIPT)
    template = _image(tmp_path / "template.fits", sky)
    imager = CommandImager(
        [sys.executable, str(script), str(template), "{output_dir}", "{name}", mode],
        pattern="*.ms",
        timeout_s=1.0,
    )
    converter = _converter(imager, tmp_path)
    (converter.input_dir / "obs1.ms").mkdir()
    (converter.input_dir / "obs1.ms" / "table.dat").write_text("visibilities")
    (record,) = converter.drain()
    if expected is None:
        assert record.status == "done"
        assert record.image.endswith("images/obs1/obs1-MFS-image-pb.fits")
        run_worker(stop_when_idle=True)
        assert get_photometry_status(record.data_id).status == "completed"
    else:
        assert record.status == "failed"
        assert expected in record.error


def _observation(incoming: Path, sky_path: Path, index: int) -> None:
    """A 5-minute drift-scan observation description for the simulated imager."""
    spec = {
        "sky": str(sky_path),
        "ra_deg": RA0,
        "dec_deg": DEC0,
        "npix": NPIX,
        "date_obs": f"2026-11-24T06:{5 * index:02d}:00",
        "seed": index,
    }
    partial = incoming / f".obs{index:02d}.obs.json.part"
    partial.write_text(json.dumps(spec))
    partial.rename(incoming / f"obs{index:02d}.obs.json")


def test_killed_and_restarted_stream_processes_every_observation_exactly_once(tmp_path, sky):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    n = 10
    for i in range(n):
        _observation(incoming, tmp_path / "sky.ecsv", i)
    command = [
        sys.executable,
        "-m",
        "dsa110_contimg.cli",
        "stream",
        "--imager",
        "simulated",
        "--input-dir",
        str(incoming),
        "--output-dir",
        str(tmp_path / "images"),
        "--photometry-catalog",
        CATALOG,
        "--settle",
        "0",
    ]
    ledger = Ledger(Path(os.environ["CONTIMG_STATE_DIR"]) / "stream" / "ledger")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while sum(r.status == "done" for r in ledger.records()) < 3:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the stream processed nothing"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before_kill = sum(r.status == "done" for r in ledger.records())
    assert done_before_kill < n, "the kill came too late to interrupt anything"

    subprocess.run(command + ["--once"], check=True, capture_output=True)
    run_worker(stop_when_idle=True)

    records = ledger.records()
    assert sorted(r.key for r in records) == [f"obs{i:02d}" for i in range(n)]
    assert all(r.status == "done" for r in records)
    registry = _registry()
    assert len(registry) == n
    with session_scope() as session:
        items = session.execute(
            select(BatchJobItem.data_id, func.count()).group_by(BatchJobItem.data_id)
        ).all()
    assert len(items) == n and all(count == 1 for _, count in items)
    assert all(r.photometry_status == "completed" for r in registry.values())
    times = sorted(r.mjd_mid for r in _products())
    assert np.allclose(np.diff(times) * 1440, 5.0)


def _products() -> list[Product]:
    with session_scope() as session:
        rows = session.scalars(select(Product)).all()
        session.expunge_all()
    return rows


def test_simulated_imager_applies_dips_and_gain(tmp_path):
    one = Table(
        {
            "source_id": [1, 2],
            "name": ["dipper", "steady"],
            "ra_deg": [RA0, RA0],
            "dec_deg": [DEC0, DEC0 + 0.03],
            "flux_jy": [0.1, 0.1],
            "major_arcsec": [0.0, 0.0],
            "minor_arcsec": [0.0, 0.0],
            "pa_deg": [0.0, 0.0],
            "dip_depth": [0.5, 0.0],
            "dip_mjd": [61000.0, 61000.0],
            "dip_days": [1.0, 1.0],
        }
    )
    one.write(tmp_path / "dip.ecsv", format="ascii.ecsv")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    start = Time(61000.0 - 150 / 86400.0, format="mjd").isot  # mid-exposure at the dip
    (incoming / "dip.obs.json").write_text(
        json.dumps(
            {
                "sky": "../dip.ecsv",
                "ra_deg": RA0,
                "dec_deg": DEC0,
                "npix": NPIX,
                "date_obs": start,
                "gain": 1.1,
                "noise_jy": 1e-5,
            }
        )
    )
    imager = SimulatedImager()
    result = imager.image(imager.find_observations(incoming)[0], tmp_path / "out")
    assert result.image.name == "dip-image-pb.fits" and result.pb_corrected
    table = measure_many(result.image, one["ra_deg"], one["dec_deg"])
    assert np.asarray(table["peak_jyb"]) == pytest.approx([0.055, 0.11], rel=0.01)


SUBBAND_SCRIPT = """
import shutil, sys
template, output_dir, name, *inputs = sys.argv[1:]
with open(f"{output_dir}/inputs.txt", "w") as listing:
    listing.write("\\n".join(inputs))
shutil.copy(template, f"{output_dir}/{name}-MFS-image-pb.fits")
"""


def test_sub_band_files_make_one_observation_once_all_arrived_or_too_late(tmp_path, sky):
    script = tmp_path / "subbands.py"
    script.write_text(SUBBAND_SCRIPT)
    template = _image(tmp_path / "template.fits", sky)
    imager = CommandImager(
        [sys.executable, str(script), str(template), "{output_dir}", "{name}", "{inputs}"],
        pattern="*.hdf5",
        group=r"(?P<key>.+)_sb\d{2}\.hdf5",
        files_per_observation=4,
    )
    converter = _converter(imager, tmp_path)
    converter.incomplete_after_s = 60.0
    converter.incomplete = "image"
    incoming = converter.input_dir
    for band in range(3):
        (incoming / f"2026-11-24T06:00:00_sb{band:02d}.hdf5").write_text("visibilities")
    assert converter.run_once() == []  # one sub-band still missing
    (incoming / "2026-11-24T06:00:00_sb03.hdf5").write_text("visibilities")
    (record,) = converter.run_once()
    assert (record.key, record.status, record.note) == ("2026-11-24T06:00:00", "done", None)
    listing = (tmp_path / "images" / record.key / "inputs.txt").read_text().split()
    assert [Path(p).name for p in listing] == [
        f"2026-11-24T06:00:00_sb{b:02d}.hdf5" for b in range(4)
    ]

    late = [incoming / f"2026-11-24T06:05:00_sb{band:02d}.hdf5" for band in (0, 2)]
    old = time.time() - 120
    for path in late:
        path.write_text("visibilities")
        os.utime(path, (old, old))
    (record,) = converter.run_once()
    assert record.status == "done"
    assert record.note == "imaged with 2 of 4 files: 2 never arrived"


def test_cli_stream_once_and_observations_show_failures_with_reasons(isolated_settings, sky):
    incoming = isolated_settings.stream.input_dir
    incoming.mkdir(parents=True)
    (incoming / "broken-image-pb.fits").write_bytes(b"not a FITS file at all")
    _image(incoming / "fine-image-pb.fits", sky)
    runner = CliRunner()
    result = runner.invoke(
        app, ["stream", "--once", "--settle", "0", "--photometry-catalog", CATALOG]
    )
    assert result.exit_code == 1  # one observation failed
    assert "2 observation(s) processed, 1 failed" in result.output
    assert "photometry: 1 completed, 0 failed, 0 waiting for a worker" in result.output
    assert _registry()["fine-image-pb.fits"].photometry_status == "completed"
    result = runner.invoke(app, ["observations", "--failed", "--json"])
    (failed,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert failed["key"] == "broken" and "broken-image-pb.fits" in failed["error"]


def test_cli_stream_once_queue_only_says_what_waits_for_a_worker(isolated_settings, sky):
    incoming = isolated_settings.stream.input_dir
    incoming.mkdir(parents=True)
    _image(incoming / "a-image-pb.fits", sky)
    _image(incoming / "b-image-pb.fits", sky, seed=1)
    result = CliRunner().invoke(
        app, ["stream", "--once", "--queue-only", "--settle", "0", "--photometry-catalog", CATALOG]
    )
    assert result.exit_code == 0, result.output
    assert "photometry: 0 completed, 0 failed, 2 waiting for a worker" in result.output
    assert {r.photometry_status for r in _registry().values()} == {"pending"}
