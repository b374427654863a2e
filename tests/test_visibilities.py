"""Raw DSA-110 data: the UVH5 simulator keeps pyuvdata's sign and uvw conventions, and the
conversion to a Measurement Set takes every time from the visibilities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time
from pyuvdata import UVData

from dsa110_contimg.imaging.measurement_set import ConversionError, convert_observation
from dsa110_contimg.imaging.primary_beam import PrimaryBeam
from dsa110_contimg.imaging.simulate_visibilities import (
    ObservationSpec,
    pointing_track,
    simulate_observation,
)

SMALL = dict(n_antennas=8, n_integrations=3, channels_per_subband=2, dec_deg=45.0)


def _one_source(spec: ObservationSpec, offset_deg: float, flux: float = 1.0) -> Table:
    ra0, dec0 = pointing_track(spec).centre
    where = SkyCoord(ra0 * u.deg, dec0 * u.deg).directional_offset_by(
        60 * u.deg, offset_deg * u.deg
    )
    return Table(
        {
            "name": ["src"],
            "ra_deg": [where.ra.deg],
            "dec_deg": [where.dec.deg],
            "flux_jy": [flux],
            "spectral_index": [0.0],
        }
    )


def test_visibilities_phase_to_zero_at_the_source_with_pyuvdata(tmp_path):
    """A source 1° from the drift-scan phase centre, rephased by pyuvdata to its position,
    has zero phase on every baseline, time and channel: the simulator's sign and baseline
    direction are pyuvdata's. Its amplitude is the flux times the beam at each integration."""
    spec = ObservationSpec(start="2026-11-24T06:00:00", noise_jy=0.0, **SMALL)
    sky = _one_source(spec, 1.0)
    observation = simulate_observation(tmp_path, sky, spec)
    uvd = UVData.from_file([str(p) for p in observation.files], axis="freq", file_type="uvh5")
    (centre,) = uvd.phase_center_catalog.values()
    assert centre["cat_type"] == "driftscan"
    uvd.phase(
        lon=math.radians(sky["ra_deg"][0]),
        lat=math.radians(sky["dec_deg"][0]),
        epoch="J2000",
        cat_name="src",
    )
    data = uvd.data_array
    assert np.abs(np.angle(data)).max() < 1e-4
    response = observation.truth["pb_response"][0]
    assert np.abs(data).mean() == pytest.approx(response, rel=0.02)
    assert observation.truth["pb_response_direct"][0] == pytest.approx(response, rel=1e-4)


def test_sixteen_subband_files_named_as_dsa110_writes_them(tmp_path):
    spec = ObservationSpec(start="2026-11-24T06:00:00", noise_jy=0.1, **SMALL)
    observation = simulate_observation(tmp_path, _one_source(spec, 0.5), spec)
    names = [p.name for p in observation.files]
    assert names == [f"2026-11-24T06:00:00_sb{n:02d}.hdf5" for n in range(16)]
    lowest = [
        float(UVData.from_file(str(p), file_type="uvh5").freq_array.min())
        for p in observation.files
    ]
    assert lowest == sorted(lowest, reverse=True)  # sb00 is the highest sub-band
    assert not list(tmp_path.glob("*.tmp"))


def test_conversion_takes_times_and_pointing_from_the_visibilities(tmp_path):
    from casacore.tables import table

    spec = ObservationSpec(start="2026-11-24T06:00:00", noise_jy=0.1, **SMALL)
    observation = simulate_observation(tmp_path / "raw", _one_source(spec, 0.5), spec)
    shuffled = observation.files[5:] + observation.files[:5]
    converted = convert_observation(shuffled, tmp_path / "obs.ms", beam=PrimaryBeam())
    assert converted.mjd_start == pytest.approx(Time(spec.start).mjd, abs=1e-3 / 86400)
    assert converted.mjd_mid == pytest.approx(observation.mjd_mid, abs=1e-3 / 86400)
    assert converted.duration_s == pytest.approx(spec.duration_s, abs=1e-3)
    assert converted.track.az_deg == pytest.approx(0.0) and converted.n_channels == 32
    assert converted.phase_centre_deg == pytest.approx(pointing_track(spec).centre, abs=1e-6)
    with table(str(converted.ms_path / "SPECTRAL_WINDOW"), ack=False) as spw:
        freqs = spw.getcol("CHAN_FREQ").ravel()
    assert np.all(np.diff(freqs) > 0)
    with table(str(converted.ms_path / "FIELD"), ack=False) as field:
        ra, dec = np.degrees(field.getcol("PHASE_DIR")[0, 0])
    assert (ra % 360, dec) == pytest.approx(converted.phase_centre_deg, abs=1e-6)


def test_a_truncated_subband_file_is_named_in_the_error(tmp_path):
    spec = ObservationSpec(start="2026-11-24T06:00:00", noise_jy=0.1, **SMALL)
    observation = simulate_observation(tmp_path, _one_source(spec, 0.5), spec)
    broken = observation.files[7]
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 3])
    with pytest.raises(ConversionError, match=r"_sb07\.hdf5: not a readable UVH5 file"):
        convert_observation(observation.files, tmp_path / "obs.ms", beam=PrimaryBeam())
