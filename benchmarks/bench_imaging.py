"""Per-stage cost from raw visibilities to photometry, with the real WSClean.

For each array size, one simulated 5-minute DSA-110 observation (16 UVH5 sub-band files) goes
through the streaming converter with the ``wsclean`` imager and a worker, and the table shows
the wall time of each stage — simulate (not part of the pipeline), read + convert to a
Measurement Set, WSClean, header fixes, registration + queueing, photometry — with the
antenna count, visibilities, image size and disk use, and the flux recovery of the bright
sources.

    .venv/bin/python benchmarks/bench_imaging.py [--antennas 48 96] [--integrations 20]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--antennas", type=int, nargs="+", default=[48, 96])
    parser.add_argument("--integrations", type=int, default=20)
    parser.add_argument("--channels", type=int, default=4, help="Channels per sub-band.")
    parser.add_argument("--sources", type=int, default=40)
    args = parser.parse_args()
    print(
        "| antennas | visibilities | image | simulate | read+convert | WSClean | headers | "
        "register+queue | photometry | MS / images MB | S/N>100 median meas/inj (n) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n_antennas in args.antennas:
        row = _run(n_antennas, args.integrations, args.channels, args.sources)
        print("| " + " | ".join(row) + " |", flush=True)


def _run(n_antennas: int, integrations: int, channels: int, n_sources: int) -> list[str]:
    state = Path(tempfile.mkdtemp(prefix="contimg-imaging-"))
    os.environ.update(
        {
            "CONTIMG_STATE_DIR": str(state),
            "CONTIMG_STREAM__IMAGER": "wsclean",
            "CONTIMG_STREAM__SETTLE_S": "0",
            "CONTIMG_PHOTOMETRY__CATALOG": "bench",
            "CONTIMG_PHOTOMETRY__NORMALIZE": "false",
            "CONTIMG_LOG_LEVEL": "WARNING",
        }
    )
    import numpy as np
    from astropy.table import Table
    from sqlalchemy import select

    from dsa110_contimg.catalog.ingest import ingest_catalog
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.conversion.streaming.streaming_converter import StreamingConverter
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.models import DataRegistry
    from dsa110_contimg.database.products import photometry_for_product
    from dsa110_contimg.database.session import session_scope
    from dsa110_contimg.imaging.fits_io import load_image
    from dsa110_contimg.imaging.simulate import make_sky
    from dsa110_contimg.imaging.simulate_visibilities import (
        ObservationSpec,
        injected_flux,
        pointing_track,
        simulate_observation,
    )
    from dsa110_contimg.jobs.worker import run_worker

    get_settings.cache_clear()
    settings = get_settings()
    upgrade(settings.database_url)
    # Noise per visibility scaled so that the image noise stays that of 48 antennas.
    n_bl = n_antennas * (n_antennas - 1) / 2
    spec = ObservationSpec(
        start="2026-11-24T06:00:00",
        dec_deg=45.0,
        n_antennas=n_antennas,
        ew_length_m=500.0,
        ns_length_m=300.0,
        n_integrations=integrations,
        channels_per_subband=channels,
        noise_jy=0.6 * float(np.sqrt(n_bl / 1128 * integrations / 20)),
    )
    sky = make_sky(
        *pointing_track(spec).centre,
        2.0,
        seed=5,
        n_sources=n_sources,
        min_flux_jy=0.03,
        max_flux_jy=2.0,
        extended_fraction=0.0,
    )
    sky["spectral_index"] = np.random.default_rng(5).normal(-0.7, 0.2, len(sky))
    csv = state / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(csv, format="ascii.csv")
    ingest_catalog(csv, "bench")
    start = time.perf_counter()
    truth = simulate_observation(settings.stream.input_dir, sky, spec).truth
    simulate_s = time.perf_counter() - start
    converter = StreamingConverter.from_settings(settings)
    (record,) = converter.drain()
    if record.status != "done":
        raise SystemExit(f"{n_antennas} antennas: {record.error}")
    start = time.perf_counter()
    run_worker(stop_when_idle=True, settings=settings.jobs)
    photometry_s = time.perf_counter() - start
    image = load_image(record.image)
    table = photometry_for_product(record.data_id)
    index = {str(n): i for i, n in enumerate(table["name"])}
    expected = injected_flux(truth, image.freq_hz)
    ratios = []
    for k, row in enumerate(truth):
        i = index[str(row["name"])]
        if table["snr"][i] > 100 and row["pb_response"] >= 0.5:
            ratios.append(float(table["peak_jyb"][i]) / expected[k])
    with session_scope() as session:
        metadata = json.loads(
            session.scalar(
                select(DataRegistry.metadata_json).where(DataRegistry.data_id == record.data_id)
            )
        )
    t = record.timings_s
    n_vis = int(n_bl * integrations * 16 * channels * 2)
    return [
        str(n_antennas),
        f"{n_vis / 1e6:.1f} M",
        f"{image.shape[1]}²",
        f"{simulate_s:.1f} s",
        f"{t['convert']:.1f} s",
        f"{t['wsclean']:.1f} s",
        f"{t['headers']:.2f} s",
        f"{t['register_and_queue']:.2f} s",
        f"{photometry_s:.2f} s",
        f"{metadata['ms_bytes'] / 1e6:.0f} / {metadata['images_bytes'] / 1e6:.0f}",
        f"{np.median(ratios):.4f} ({len(ratios)})" if ratios else "-",
    ]


if __name__ == "__main__":
    main()
