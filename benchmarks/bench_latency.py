"""Latency from an image appearing in the watched directory to its photometry being committed.

Runs the pipeline service (`dsa110_contimg.runner.run_pipeline`: streaming converter with file
events, two worker processes measuring, storing and normalizing) on a temporary state,
delivers N simulated 2048² images of ~600 catalogue sources one at a time by atomic rename
(as an imager finishing a file does), and prints per-stage and total latencies.

    .venv/bin/python benchmarks/bench_latency.py [--images 20] [--interval 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from astropy.table import Table
from sqlalchemy import select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--interval", type=float, default=3.0, help="Seconds between images.")
    parser.add_argument("--npix", type=int, default=2048)
    parser.add_argument("--sources", type=int, default=600)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="contimg-latency-"))
    os.environ.update(
        {
            "CONTIMG_STATE_DIR": str(state),
            "CONTIMG_STREAM__SETTLE_S": "0.1",
            "CONTIMG_STREAM__POLL_S": "1",
            "CONTIMG_JOBS__POLL_S": "0.1",
            "CONTIMG_PHOTOMETRY__CATALOG": "bench-sky",
            "CONTIMG_LOG_LEVEL": "WARNING",
            "CONTIMG_MOSAIC__INTERVAL_S": "3600",
        }
    )
    # Imported after the environment is set: worker processes read the same settings.
    from dsa110_contimg.catalog.ingest import ingest_catalog
    from dsa110_contimg.catalog.master import build_master
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.models import BatchJobItem, DataRegistry, unix_seconds
    from dsa110_contimg.database.session import session_scope
    from dsa110_contimg.imaging.simulate import make_sky, simulate_image
    from dsa110_contimg.logging_setup import configure_logging
    from dsa110_contimg.runner import run_pipeline

    settings = get_settings()
    configure_logging("WARNING")
    upgrade(settings.database_url)
    ra0, dec0 = 180.0, 37.23
    half = args.npix * 2.0 / 3600 / 2
    sky = make_sky(ra0, dec0, half * 1.45, seed=1, n_sources=int(args.sources * 1.65))
    catalogue = state / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(catalogue, format="ascii.csv")
    ingest_catalog(catalogue, "bench-sky")
    build_master("bench-sky")  # reference sources: each image is normalized, as in operation
    staging = state / "staging"
    staging.mkdir()
    print(f"simulating {args.images + 1} images of {args.npix}² …", flush=True)
    names = []
    for i in range(args.images + 1):
        name = f"img{i:03d}-image-pb.fits"
        simulate_image(
            staging / name,
            sky,
            center_ra_deg=ra0,
            center_dec_deg=dec0,
            npix=args.npix,
            noise_jy=1e-3,
            pb_corrected=True,
            seed=i,
            date_obs=f"2026-11-24T{6 + i // 12:02d}:{5 * (i % 12):02d}:00",
        )
        names.append(name)

    stop = threading.Event()
    service = threading.Thread(
        target=run_pipeline, args=(settings,), kwargs={"stop": stop, "workers": 2}, daemon=True
    )
    service.start()
    incoming = settings.stream.input_dir
    appeared: dict[str, float] = {}

    def deliver(name: str) -> None:
        os.replace(staging / name, incoming / name)
        appeared[name] = time.time()

    def wait_for(name: str, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with session_scope() as session:
                status = session.scalar(
                    select(DataRegistry.photometry_status).where(
                        DataRegistry.stage_path == str(incoming / name)
                    )
                )
            if status in ("completed", "failed"):
                return
            time.sleep(0.05)
        raise TimeoutError(name)

    time.sleep(2.0)
    deliver(names[0])  # warm-up: worker start and compilation are not latency
    wait_for(names[0])
    for name in names[1:]:
        deliver(name)
        time.sleep(args.interval)
    wait_for(names[-1])
    stop.set()
    service.join(timeout=120)

    rows = []
    with session_scope() as session:
        for name in names[1:]:
            record = session.scalars(
                select(DataRegistry).where(DataRegistry.stage_path == str(incoming / name))
            ).one()
            item = session.scalars(
                select(BatchJobItem).where(BatchJobItem.data_id == record.data_id)
            ).one()
            t0 = appeared[name]
            rows.append(
                (
                    record.photometry_status,
                    unix_seconds(record.created_at) - t0,
                    unix_seconds(item.started_at) - unix_seconds(record.created_at)
                    if item.started_at
                    else float("nan"),
                    unix_seconds(record.photometry_updated_at) - unix_seconds(item.started_at),
                    unix_seconds(record.photometry_updated_at) - t0,
                    record.photometry_n_measured,
                )
            )
    print(f"\n{'stage':<34}{'median s':>10}{'p90 s':>10}{'max s':>10}")
    labels = (
        "appeared → registered and queued",
        "queued → claimed by a worker",
        "claimed → rows and status committed",
        "appeared → photometry committed",
    )
    for k, label in enumerate(labels, start=1):
        values = sorted(r[k] for r in rows)
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        print(f"{label:<34}{statistics.median(values):>10.2f}{p90:>10.2f}{values[-1]:>10.2f}")
    print(
        f"\n{len(rows)} images, {statistics.median(r[5] for r in rows):.0f} sources measured "
        f"per image (median), statuses: {sorted({r[0] for r in rows})}"
    )


if __name__ == "__main__":
    main()
