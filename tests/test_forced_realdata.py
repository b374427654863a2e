"""Forced photometry on real images in ../shared/test-data against their published catalogues."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from conftest import shared_data

from dsa110_contimg.imaging.fits_io import load_image
from dsa110_contimg.photometry.forced import measure_many

pytestmark = pytest.mark.realdata

AEGEAN = ("PaulHancock+Aegean", "tests", "test_files")
VAST = ("askap-vast+vast-pipeline", "vast_pipeline", "tests", "data")


@pytest.fixture(scope="module")
def parkes():
    """The real Parkes 1.4 GHz map (undersampled 14.4′ beam on 4′ pixels, reference pixel at the
    pole off the image, NaN corners), its rms/background maps and Aegean's catalogue."""
    folder = shared_data(*AEGEAN)
    catalogue = Table.read(folder / "1904_comp.fits")
    image = load_image(folder / "1904-66_SIN.fits")
    return folder, catalogue, image


def _agreement(catalogue: Table, table: Table) -> tuple[float, float]:
    good = np.asarray(catalogue["flags"]) == 0
    ours = np.asarray(table["peak_jyb"])
    theirs = np.asarray(catalogue["peak_flux"], dtype=float)
    their_err = np.asarray(catalogue["err_peak_flux"], dtype=float)
    combined = np.hypot(np.asarray(table["peak_err_jyb"]), np.where(their_err > 0, their_err, 0))
    within = np.abs(ours - theirs) < 3 * combined  # NaN (unmeasured) counts as disagreement
    return float(np.nanmedian((ours / theirs)[good])), float(within[good].mean())


def test_parkes_map_matches_aegean_with_catalogue_shapes(parkes):
    folder, catalogue, image = parkes
    # Many components of this 14′-resolution map are resolved; Aegean's peak_flux is the peak of
    # a Gaussian of the catalogued (image-plane) shape, so force-fit exactly that shape.
    shapes = (catalogue["a"], catalogue["b"], catalogue["pa"])
    table = measure_many(
        image,
        catalogue["ra"],
        catalogue["dec"],
        shapes=shapes,
        shapes_convolved=True,
        rms_map=folder / "1904-66_SIN_rms.fits",
        background_map=folder / "1904-66_SIN_bkg.fits",
    )
    median_ratio, fraction = _agreement(catalogue, table)
    assert median_ratio == pytest.approx(1.0, abs=0.03)
    assert fraction >= 0.8


def test_parkes_compact_sources_match_with_the_beam_alone(parkes):
    folder, catalogue, image = parkes
    table = measure_many(
        image,
        catalogue["ra"],
        catalogue["dec"],
        rms_map=folder / "1904-66_SIN_rms.fits",
        background_map=folder / "1904-66_SIN_bkg.fits",
    )
    compact = (np.asarray(catalogue["flags"]) == 0) & (
        np.asarray(catalogue["int_flux"]) / np.asarray(catalogue["peak_flux"]) < 1.2
    )
    ratio = np.asarray(table["peak_jyb"])[compact] / np.asarray(catalogue["peak_flux"])[compact]
    assert compact.sum() >= 10
    assert np.nanmedian(ratio) == pytest.approx(1.0, abs=0.03)


def test_parkes_nan_corners_are_flagged(parkes):
    folder, catalogue, image = parkes
    table = measure_many(
        image,
        catalogue["ra"],
        catalogue["dec"],
        rms_map=folder / "1904-66_SIN_rms.fits",
        background_map=folder / "1904-66_SIN_bkg.fits",
    )
    unmeasured = ~np.isfinite(np.asarray(table["peak_jyb"]))
    assert unmeasured.any()
    assert np.all(np.asarray(table["flags"])[unmeasured] != 0)
    assert np.all(np.asarray(table["edge_dist_pix"])[unmeasured] < 5)


def _selavy(path) -> pd.DataFrame:
    columns = path.read_text().splitlines()[0].lstrip("#").split()
    return pd.read_csv(path, sep=r"\s+", comment="#", header=None, names=columns, index_col=False)


@pytest.mark.parametrize("epoch", ["01", "02", "03", "04"])
@pytest.mark.parametrize("with_maps", [True, False])
def test_vast_epochs_recover_selavy_components(epoch, with_maps):
    folder = shared_data(*VAST)
    components = _selavy(folder / f"epoch{epoch}.selavy.components.txt")
    maps = {}
    if with_maps:
        maps = {
            "rms_map": folder / f"epoch{epoch}.noiseMap.fits",
            "background_map": folder / f"epoch{epoch}.meanMap.fits",
        }
    table = measure_many(
        folder / f"epoch{epoch}.fits", components["ra_deg_cont"], components["dec_deg_cont"], **maps
    )
    ratio = np.asarray(table["peak_jyb"]) * 1e3 / components["flux_peak"].to_numpy()
    np.testing.assert_allclose(ratio, 1.0, atol=0.01)
