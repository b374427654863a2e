"""The fitting kernels made ready before the server accepts measurements.

The forced-photometry engine's numba kernels are compiled on their first call (``cache=True``
keeps the machine code on disk, so later processes only load it); compiling them from cold
can take longer than a synchronous measurement's budget (``api.request_timeout_s``) on a
fresh install. ``contimg serve`` therefore measures a small simulated field with the server's
own fitting options while the application starts (`dsa110_contimg.api.app.create_app` with
``warm_kernels``): uvicorn binds its port only after that, so no request is charged for it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from dsa110_contimg.config import Settings
from dsa110_contimg.imaging.fits_io import load_image
from dsa110_contimg.imaging.primary_beam import PrimaryBeam
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.photometry.forced import measure_forced_peak, measure_many

__all__ = ["warm_up_measurements"]

#: Centre of the simulated field (any sky position works).
_RA, _DEC = 150.0, 37.2


def warm_up_measurements(settings: Settings) -> float:
    """Measure one position and a field of blended positions on a simulated 512² image with
    ``settings``' fitting options and primary beam, as the synchronous endpoints do.

    Parameters
    ----------
    settings : Settings
        ``photometry.fitting`` and ``primary_beam`` of the server.

    Returns
    -------
    float
        Wall seconds taken (compiling, or loading the compiled kernels from numba's cache).
    """
    start = time.perf_counter()
    options = settings.photometry.fitting
    primary_beam = PrimaryBeam.from_settings(settings.primary_beam)
    sky = make_sky(_RA, _DEC, 0.06, seed=0, n_sources=20)
    with tempfile.TemporaryDirectory(prefix="contimg-warm-up-") as tmp:
        image = load_image(
            simulate_image(
                Path(tmp) / "warm-up-image-pb.fits",
                sky,
                center_ra_deg=_RA,
                center_dec_deg=_DEC,
                npix=512,
                pb=None,
                date_obs="2026-01-01T00:00:00",
            ).path
        )
    measure_forced_peak(image, _RA, _DEC, options=options, primary_beam=primary_beam)
    measure_many(image, sky["ra_deg"], sky["dec_deg"], options=options, primary_beam=primary_beam)
    return time.perf_counter() - start
