"""``contimg serve`` makes the fitting kernels ready before it answers: the first synchronous
measurements are not charged for compiling them (a cold compile can exceed the 30 s budget)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from reliability_support import DEC0, RA0, field_image

#: Builds the app in a fresh interpreter (no kernel compiled or loaded yet), starts it, and
#: prints the number of compiled signatures of each numba kernel once it is ready and again
#: after a single and a batch measurement, with their statuses.
_PROBE = """
import json, sys
from fastapi.testclient import TestClient
from numba.core.dispatcher import Dispatcher
from dsa110_contimg.api.app import create_app
from dsa110_contimg.config import Settings
from dsa110_contimg.photometry import _kernels

state, url, root, warm, requests = sys.argv[1:]

def compiled():
    return {
        name: len(kernel.signatures)
        for name, kernel in vars(_kernels).items()
        if isinstance(kernel, Dispatcher)
    }

settings = Settings(
    state_dir=state, database_url=url, data_roots=[root], api={"request_timeout_s": 600}
)
with TestClient(create_app(settings, warm_kernels=warm == "warm")) as client:
    ready = compiled()
    codes = [client.post(path, json=body).status_code for path, body in json.loads(requests)]
    print(json.dumps({"ready": ready, "after": compiled(), "codes": codes}))
"""


def _probe(tmp_path, url: str, image, warm: bool) -> dict:
    positions = [{"ra_deg": RA0 - 0.05 + 0.1 * k / 200, "dec_deg": DEC0} for k in range(200)]
    requests = [
        ("/api/photometry/measure", {"image": image.name, "ra_deg": RA0, "dec_deg": DEC0}),
        ("/api/photometry/measure-batch", {"image": image.name, "positions": positions}),
    ]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            str(tmp_path / "state"),
            url,
            str(image.parent),
            "warm" if warm else "cold",
            json.dumps(requests),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("warm", [True, False], ids=["as-contimg-serve", "without-warm-up"])
def test_serve_makes_the_kernels_ready_before_answering(tmp_path, sqlite_url, warm):
    image = field_image(tmp_path, npix=512, radius_deg=0.1, n_sources=10, sky_seed=3, noise_seed=1)
    probe = _probe(tmp_path, sqlite_url, image, warm)
    assert probe["codes"] == [200, 200]
    used = {name for name, n in probe["after"].items() if n}
    assert len(used) >= 3, probe  # the measurements ran compiled kernels
    if warm:  # every kernel the requests used was ready before the first of them
        assert probe["after"] == probe["ready"], probe
    else:  # the control: otherwise the first requests compile (or load) them
        assert not any(probe["ready"].values()), probe
