"""``contimg simulate``: raw DSA-110 data with known truth, for trials, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

__all__ = ["app"]

app = typer.Typer(help="Simulate DSA-110 data with known truth.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("observation")
def observation(
    out_dir: Path = typer.Argument(..., help="Where the 16 UVH5 sub-band files are written."),
    start: str = typer.Option(
        ..., "--start", help="UTC start (ISO), e.g. 2026-11-24T06:00:00; it names the files."
    ),
    dec: float = typer.Option(37.23, "--dec", help="Declination of the meridian pointing (deg)."),
    sky: Path | None = typer.Option(
        None,
        "--sky",
        help="Sky table (ECSV/CSV/FITS): ra_deg, dec_deg, flux_jy at 1.4 GHz, "
        "optional name, spectral_index, dip_depth/dip_mjd/dip_days.",
    ),
    sources: int = typer.Option(
        30, "--sources", help="Without --sky: this many random sources within 2° of the pointing."
    ),
    antennas: int = typer.Option(32, "--antennas", help="Antennas in the T layout."),
    ew_length: float = typer.Option(600.0, "--ew-length", help="East-west arm length (m)."),
    ns_length: float = typer.Option(350.0, "--ns-length", help="North arm length (m)."),
    integrations: int = typer.Option(10, "--integrations", help="Integrations in 5 minutes."),
    channels: int = typer.Option(4, "--channels", help="Channels per sub-band."),
    noise: float = typer.Option(0.3, "--noise", help="Visibility noise (Jy, per real/imag)."),
    gain: float = typer.Option(1.0, "--gain", help="Global gain error of this epoch."),
    gain_rms: float = typer.Option(0.0, "--gain-rms", help="Per-antenna amplitude gain rms."),
    seed: int = typer.Option(0, "--seed", help="Random seed (noise, gains, random sky)."),
    truth: Path | None = typer.Option(None, "--truth", help="Write the truth table (ECSV) here."),
) -> None:
    """Write one drift-scan observation as DSA-110 writes it: 16 UVH5 sub-band files
    ``<start>_sb<NN>.hdf5`` (sb00 the highest frequency), visibilities of the sky seen through
    a primary beam fixed in azimuth/elevation, with gain errors and thermal noise."""
    import numpy as np
    from astropy.table import Table

    from dsa110_contimg.imaging.simulate import make_sky
    from dsa110_contimg.imaging.simulate_visibilities import (
        ObservationSpec,
        pointing_track,
        simulate_observation,
    )

    spec = ObservationSpec(
        start=start,
        dec_deg=dec,
        n_antennas=antennas,
        ew_length_m=ew_length,
        ns_length_m=ns_length,
        n_integrations=integrations,
        channels_per_subband=channels,
        noise_jy=noise,
        gain=gain,
        gain_amplitude_rms=gain_rms,
        seed=seed,
    )
    if sky is not None:
        table = Table.read(sky)
    else:
        ra0, dec0 = pointing_track(spec).centre
        table = make_sky(
            ra0,
            dec0,
            2.0,
            seed=seed,
            n_sources=sources,
            min_flux_jy=0.05,
            max_flux_jy=2.0,
            extended_fraction=0.0,
        )
        table["spectral_index"] = np.random.default_rng(seed).normal(-0.7, 0.2, len(table))
    with console.status(
        f"simulating {antennas} antennas × {integrations} integrations × {16 * channels} channels…"
    ):
        result = simulate_observation(out_dir, table, spec)
    if truth is not None:
        result.truth.write(truth, format="ascii.ecsv", overwrite=True)
    console.print(
        f"wrote {len(result.files)} files to {out_dir} (MJD {result.mjd_start:.6f}–"
        f"{result.mjd_end:.6f}, beam centre at mid-time "
        f"{result.track.centre[0]:.4f}, {result.track.centre[1]:.4f})",
        markup=False,
    )
