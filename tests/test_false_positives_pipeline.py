"""False-positive rate of the variability detection on constant sources measured by the real
pipeline (FITS files, registration, batch job, worker, normalization, stored statistics) at 6,
12 and 30 epochs: at most twice the configured false-alarm probability, and at most 1 % with the
default preset.

Each field is ~600 constant sources in 1024² images with a ~5 % global gain error per epoch and
its own thermal noise; none varies, so every candidate is false. Measured at the sensitive
preset (1e-2 per source), with the ensemble's η scale (two-sided) and its spread folded in:
1.2 % at 6 epochs, 1.9 % at 12 (11 of 586), 0.17 % at 30 (1 of 585, where
5.9 are expected); at the moderate preset 0.35 %, 0 and 0. A position-dependent gain error
that normalization leaves in (±1 % at the corners) is not in the error model: it makes bright
sources near the edges false candidates (2.0 % at the sensitive preset and 0.34 % at the
moderate one with 12 epochs, measured before the dip search's tighter look-elsewhere bound).
"""

from __future__ import annotations

import pytest
from variability_support import make_field, run_photometry

from dsa110_contimg.variability.candidates import PRESETS, count_tested, detect


@pytest.mark.parametrize("n_epochs,seed", [(6, 21), (12, 22), (30, 23)])
def test_false_positive_rate_holds_at_any_number_of_epochs(tmp_path, sqlite_url, n_epochs, seed):
    field = make_field(
        tmp_path,
        sqlite_url,
        n_epochs=n_epochs,
        n_sources=600,
        npix=1024,
        radius_deg=0.28,
        seed=seed,
    )
    run_photometry(field.paths, sqlite_url)
    rates = {}
    for name in ("sensitive", "moderate"):
        false = len(detect(preset=name, url=sqlite_url))
        tested = count_tested(PRESETS[name], url=sqlite_url)
        rates[name] = (false, tested, false / tested)
    print(f"\n{n_epochs} epochs: false candidates / sources tested (rate) {rates}")
    assert rates["sensitive"][1] >= 500
    assert rates["sensitive"][2] <= 2 * PRESETS["sensitive"].false_alarm
    assert rates["moderate"][2] <= 0.01
