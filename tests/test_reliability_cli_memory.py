"""`contimg photometry measure` memory is bounded in the number of positions: positions are
measured in bands (``--chunk-size``), so 10× more positions cost little more memory."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from dsa110_contimg.api.local_server import command_peak_memory
from dsa110_contimg.imaging.simulate import make_sky, simulate_image

RA0, DEC0 = 150.0, 37.2


def _peak_mib(image, positions, output) -> float:
    run = command_peak_memory(
        [
            "photometry",
            "measure",
            str(image),
            "--positions",
            str(positions),
            "-o",
            str(output),
            "--chunk-size",
            "1000",
        ],
        timeout_s=600,
    )
    return run.peak / 2**20


def test_cli_memory_does_not_grow_with_the_number_of_positions(tmp_path):
    sky = make_sky(RA0, DEC0, 0.2, seed=3, n_sources=30)
    image = simulate_image(
        tmp_path / "field-image-pb.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=1024,
        pb=None,
        seed=1,
        beam_major_arcsec=10.0,
        beam_minor_arcsec=8.0,
        date_obs="2026-05-01T00:00:00",
    ).path
    rng = np.random.default_rng(5)
    peaks = {}
    for n in (1000, 10000):
        positions = tmp_path / f"targets-{n}.csv"
        Table(
            {
                "ra_deg": RA0 + rng.uniform(-0.25, 0.25, n),
                "dec_deg": DEC0 + rng.uniform(-0.25, 0.25, n),
            }
        ).write(positions, format="ascii.csv")
        output = tmp_path / f"out-{n}.csv"
        peaks[n] = _peak_mib(image, positions, output)
        assert len(Table.read(output, format="ascii.csv")) == n
    assert peaks[10000] < peaks[1000] + 100, peaks  # 10× the positions: < 100 MiB more
    assert peaks[10000] < 1024, peaks
