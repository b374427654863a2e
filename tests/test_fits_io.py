"""The FITS image model: axes, beam, time, footprint, and clear errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from conftest import shared_data

from dsa110_contimg.imaging.fits_io import (
    Beam,
    ImageReadError,
    MissingBeamError,
    get_field_center_from_fits,
    load_image,
)

NX, NY = 64, 48


def _header(axes: tuple[str, ...] = ("RA", "DEC", "FREQ", "STOKES")) -> fits.Header:
    """A CASA/WSClean-like header with the given axis order."""
    h = fits.Header()
    spec = {
        "RA": ("RA---SIN", NX, NX / 2 + 1, -2.0 / 3600, 150.0),
        "DEC": ("DEC--SIN", NY, NY / 2 + 1, 2.0 / 3600, 37.0),
        "FREQ": ("FREQ", 1, 1.0, 2.5e8, 1.405e9),
        "STOKES": ("STOKES", 1, 1.0, 1.0, 1.0),
    }
    h["NAXIS"] = len(axes)
    for k, name in enumerate(axes, start=1):
        ctype, n, crpix, cdelt, crval = spec[name]
        h[f"NAXIS{k}"] = n
        h[f"CTYPE{k}"] = ctype
        h[f"CRPIX{k}"] = crpix
        h[f"CDELT{k}"] = cdelt
        h[f"CRVAL{k}"] = crval
    h["BUNIT"] = "JY/BEAM"
    h["BMAJ"] = 58.0 / 3600
    h["BMIN"] = 18.0 / 3600
    h["BPA"] = 110.0
    h["DATE-OBS"] = "2026-03-01T12:00:00"
    h["EXPOSURE"] = 300.0
    return h


def _write(path, header: fits.Header, plane: np.ndarray, axes: tuple[str, ...]) -> None:
    """Write ``plane`` ([dec, ra]) into the FITS axis layout ``axes`` (degenerate extra axes)."""
    numpy_axes = list(reversed(axes))
    shape = [NX if a == "RA" else NY if a == "DEC" else 1 for a in numpy_axes]
    data = np.zeros(shape, dtype=">f4")
    index = tuple(slice(None) if a in ("RA", "DEC") else 0 for a in numpy_axes)
    dec_first = numpy_axes.index("DEC") < numpy_axes.index("RA")
    data[index] = plane if dec_first else plane.T
    fits.writeto(path, data, header, overwrite=True)


@pytest.mark.parametrize(
    "axes",
    [
        ("RA", "DEC"),
        ("RA", "DEC", "FREQ"),
        ("RA", "DEC", "FREQ", "STOKES"),
        ("RA", "DEC", "STOKES", "FREQ"),
        ("DEC", "RA", "FREQ", "STOKES"),
    ],
)
def test_plane_orientation_and_metadata_for_any_axis_order(tmp_path, axes):
    plane = np.arange(NY * NX, dtype=np.float32).reshape(NY, NX)
    path = tmp_path / "img.fits"
    _write(path, _header(axes), plane, axes)
    image = load_image(path)
    assert image.data.dtype == np.dtype("float32") and image.data.dtype.isnative
    np.testing.assert_array_equal(image.data, plane)
    assert image.beam == Beam(58.0, 18.0, 110.0)
    assert image.mjd_start == pytest.approx(61100.5)
    assert image.mjd_mid == pytest.approx(61100.5 + 150 / 86400)
    assert image.mjd_end == pytest.approx(61100.5 + 300 / 86400)
    if "FREQ" in axes:
        assert image.freq_hz == pytest.approx(1.405e9)
    # Pixel (x, y) maps to the same sky position whatever the axis order.
    ra, dec = image.pixel_to_sky(np.array([10.0]), np.array([20.0]))
    x, y = image.sky_to_pixel(ra, dec)
    assert (float(x[0]), float(y[0])) == pytest.approx((10.0, 20.0), abs=1e-6)
    assert float(ra[0]) > 150.0  # x < centre is east (CDELT1 < 0)
    centre = get_field_center_from_fits(path)
    assert centre == pytest.approx(
        tuple(
            float(v[0])
            for v in image.pixel_to_sky(np.array([(NX - 1) / 2]), np.array([(NY - 1) / 2]))
        ),
        abs=1e-9,
    )


def test_stokes_i_plane_is_selected(tmp_path):
    h = _header(("RA", "DEC", "STOKES"))
    h["NAXIS3"] = 4
    cube = np.stack([np.full((NY, NX), v, dtype=np.float32) for v in (1, 2, 3, 4)])
    path = tmp_path / "iquv.fits"
    fits.writeto(path, cube, h)
    assert np.all(load_image(path).data == 1.0)
    h["CRVAL3"] = -5.0  # XX, YY, ... : no Stokes I
    fits.writeto(path, cube, h, overwrite=True)
    with pytest.raises(ImageReadError, match="no Stokes I plane"):
        load_image(path)


def test_multichannel_cube_is_refused(tmp_path):
    h = _header(("RA", "DEC", "FREQ"))
    h["NAXIS3"] = 3
    path = tmp_path / "cube.fits"
    fits.writeto(path, np.zeros((3, NY, NX), np.float32), h)
    with pytest.raises(ImageReadError, match="single-channel"):
        load_image(path)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("AIPS   CLEAN BMAJ=  1.6111E-02 BMIN=  5.0000E-03 BPA= 110.00", Beam(58.0, 18.0, 110.0)),
        ("Restoring beam: 58.0 arcsec, 18.0 arcsec, 110.0 deg", Beam(58.0, 18.0, 110.0)),
    ],
)
def test_beam_from_history(tmp_path, line, expected):
    h = _header(("RA", "DEC"))
    for key in ("BMAJ", "BMIN", "BPA"):
        del h[key]
    h.add_history("an unrelated history line")
    h.add_history(line)
    path = tmp_path / "hist.fits"
    fits.writeto(path, np.zeros((NY, NX), np.float32), h)
    beam = load_image(path).beam
    assert beam.major_arcsec == pytest.approx(expected.major_arcsec, rel=1e-3)
    assert beam.minor_arcsec == pytest.approx(expected.minor_arcsec, rel=1e-3)
    assert beam.pa_deg == pytest.approx(expected.pa_deg)


def test_missing_beam_is_a_clear_error_unless_supplied(tmp_path):
    h = _header(("RA", "DEC"))
    for key in ("BMAJ", "BMIN", "BPA"):
        del h[key]
    path = tmp_path / "nobeam.fits"
    fits.writeto(path, np.zeros((NY, NX), np.float32), h)
    with pytest.raises(MissingBeamError, match="no restoring beam"):
        load_image(path)
    assert load_image(path, beam=Beam(30.0, 20.0, 0.0)).beam.major_arcsec == 30.0


@pytest.mark.parametrize(
    "content, message",
    [
        (b"SIMPLE  = T" + b" " * 100, "not a readable FITS image"),
        (b"", "not a readable FITS image"),
    ],
)
def test_corrupt_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.fits"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message):
        load_image(path)


def test_missing_file_and_no_celestial_axes(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        load_image(tmp_path / "absent.fits")
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = "LINEAR", "LINEAR"
    path = tmp_path / "linear.fits"
    fits.writeto(path, np.zeros((4, 4), np.float32), h)
    with pytest.raises(ImageReadError, match="no celestial"):
        load_image(path)


def test_footprint_covers_valid_pixels_only(tmp_path):
    plane = np.ones((NY, NX), np.float32)
    plane[:, : NX // 2] = np.nan  # left half blank
    path = tmp_path / "half.fits"
    fits.writeto(path, plane, _header(("RA", "DEC")))
    image = load_image(path)
    fp = image.footprint()
    ra_c, dec_c = image.pixel_to_sky(np.array([3 * NX / 4]), np.array([NY / 2]))
    assert fp.ra_deg == pytest.approx(float(ra_c[0]), abs=2 / 3600)
    half_diag = np.hypot(NX / 4, NY / 2) * 2.0 / 3600
    assert half_diag <= fp.radius_deg <= half_diag * 1.15


def test_all_nan_image_has_no_footprint(tmp_path):
    path = tmp_path / "nan.fits"
    fits.writeto(path, np.full((NY, NX), np.nan, np.float32), _header(("RA", "DEC")))
    with pytest.raises(ImageReadError, match="no finite pixels"):
        load_image(path).footprint()


@pytest.mark.realdata
@pytest.mark.parametrize(
    "relpath",
    [
        ("PaulHancock+Aegean", "tests", "test_files", "1904-66_SIN.fits"),
        ("SKA-INAF+caesar", "data", "ScorpioS17Field.fits"),
        ("astropy+astroquery", "astroquery", "magpis", "tests", "data", "image.fits"),
        ("transientskp+pyse", "test", "data", "GRB120422A-120429.fits"),
    ],
)
def test_real_headers(relpath):
    path = shared_data(*relpath)
    image = load_image(path)
    ra, dec = get_field_center_from_fits(path)
    assert 0 <= ra < 360 and -90 <= dec <= 90
    fp = image.footprint()
    # Field centre and footprint centre agree to within the footprint radius.
    sep = np.degrees(
        np.arccos(
            np.clip(
                np.sin(np.radians(dec)) * np.sin(np.radians(fp.dec_deg))
                + np.cos(np.radians(dec))
                * np.cos(np.radians(fp.dec_deg))
                * np.cos(np.radians(ra - fp.ra_deg)),
                -1,
                1,
            )
        )
    )
    assert sep < fp.radius_deg
    assert image.beam.major_arcsec > 0


@pytest.mark.realdata
def test_galactic_image_positions_are_icrs():
    image = load_image(
        shared_data("astropy+astroquery", "astroquery", "magpis", "tests", "data", "image.fits")
    )
    # MAGPIS cutout at l=10.5, b=0: RA/Dec ≈ (272.2, -19.85).
    ra, dec = get_field_center_from_fits(image.path)
    assert (ra, dec) == pytest.approx((272.2, -19.85), abs=0.05)
