"""Hostile sizes through the real server: beams, radii, positions, limits and body sizes drawn by
hypothesis and sent to ``contimg serve`` (uvicorn in its own process) — no response is a 500,
every refusal is a JSON error with a reason, and the server's resident memory stays under
`MEMORY_BOUND_BYTES` over the whole run, concurrent worst cases included."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from astropy.table import Table
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from dsa110_contimg.api.local_server import PeakMemory, local_server
from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.database.registry import register_data
from dsa110_contimg.imaging.simulate import make_sky, simulate_image

RA0, DEC0 = 150.0, 37.2
#: The documented bound of the server's resident memory (README, "Limits").
MEMORY_BOUND_BYTES = 2 * 1024**3
#: Requests drawn by hypothesis (≈ 30 s on 2 busy cores with the worst cases below).
EXAMPLES = 60
IMAGE = "field-image-pb.fits"

#: Hostile numbers: zero, negative, tiny, at and past the documented bounds, huge.
hostile = st.one_of(
    st.sampled_from([0.0, -1.0, 1e-12, 1e-3, 0.5, 2.0, 58.0, 500.0, 36000.0, 36000.1, 1e9, 1e300]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
ra = st.one_of(st.floats(RA0 - 0.3, RA0 + 0.3), hostile)
dec = st.one_of(st.floats(DEC0 - 0.3, DEC0 + 0.3), hostile)
beam = st.one_of(
    st.none(),
    st.fixed_dictionaries({"major_arcsec": hostile, "minor_arcsec": hostile, "pa_deg": hostile}),
)
huge_int = st.one_of(
    st.sampled_from([-1, 0, 1, 1000, 1001, 2**31, 2**63, 10**30]), st.integers(-(10**6), 10**6)
)


@st.composite
def requests(draw) -> tuple[str, str, dict]:
    """One request: (method, path, keyword arguments of `httpx.Client.request`)."""
    kind = draw(
        st.sampled_from(["measure", "positions", "catalog", "data", "cone", "lightcurve", "padded"])
    )
    if kind == "measure":
        body = {"image": IMAGE, "ra_deg": draw(ra), "dec_deg": draw(dec), "beam": draw(beam)}
        return "POST", "/api/photometry/measure", {"json": body}
    if kind == "positions":
        n = draw(st.sampled_from([0, 1, 50, 1000, 1001, 20000]))
        spread = draw(st.sampled_from([0.01, 0.2, 50.0]))
        positions = [
            {
                "ra_deg": RA0 + spread * ((7 * k) % 101 / 100 - 0.5),
                "dec_deg": DEC0 + spread * ((13 * k) % 97 / 96 - 0.5),
            }
            for k in range(n)
        ]
        body = {"image": IMAGE, "positions": positions, "beam": draw(beam)}
        return "POST", "/api/photometry/measure-batch", {"json": body}
    if kind == "catalog":
        body = {"image": IMAGE, "catalog": "sim", "radius_deg": draw(hostile), "beam": draw(beam)}
        return "POST", "/api/photometry/measure-batch", {"json": body}
    if kind == "data":
        return "GET", "/api/data", {"params": {"limit": draw(huge_int), "offset": draw(huge_int)}}
    if kind == "cone":
        return (
            "GET",
            "/api/sources",
            {
                "params": {
                    "ra": draw(ra),
                    "dec": draw(dec),
                    "radius": draw(hostile),
                    "limit": draw(huge_int),
                }
            },
        )
    if kind == "lightcurve":
        return "GET", "/api/sources/1/lightcurve", {"params": {"bin_snr": draw(hostile)}}
    return padded(draw(st.sampled_from([0, 1000, (1 << 20) - 200, (1 << 20) + 1, 8 << 20])))


def measure(beam_: dict | None) -> tuple[str, str, dict]:
    """One position at the field centre with ``beam_``."""
    return (
        "POST",
        "/api/photometry/measure",
        {"json": {"image": IMAGE, "ra_deg": RA0, "dec_deg": DEC0, "beam": beam_}},
    )


def padded(size: int) -> tuple[str, str, dict]:
    """A measurement whose body carries ``size`` more bytes (an unknown field)."""
    body = json.dumps({"image": IMAGE, "ra_deg": RA0, "dec_deg": DEC0, "pad": "x" * size})
    return (
        "POST",
        "/api/photometry/measure",
        {"content": body, "headers": {"Content-Type": "application/json"}},
    )


@pytest.fixture
def served(tmp_path, sqlite_url):
    """``contimg serve`` on a database with one registered 1024² image and its sky ingested."""
    data = tmp_path / "data"
    data.mkdir()
    sky = make_sky(RA0, DEC0, 0.25, seed=9, n_sources=40, min_flux_jy=0.02, max_flux_jy=0.3)
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(tmp_path / "sky.csv", format="ascii.csv")
    ingest_catalog(tmp_path / "sky.csv", "sim", url=sqlite_url)
    image = simulate_image(
        data / IMAGE,
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=1024,
        pb=None,
        seed=4,
        date_obs="2026-05-01T00:00:00",
    ).path
    register_data(image, url=sqlite_url, roots=[data])
    env = {
        "CONTIMG_DATABASE_URL": sqlite_url,
        "CONTIMG_DATA_ROOTS": str(data),
        "CONTIMG_STATE_DIR": str(tmp_path / "state"),
        "CONTIMG_LOG_LEVEL": "WARNING",
    }
    with local_server(env, log_path=tmp_path / "server.log") as server:
        yield server


def test_hostile_sizes_through_the_real_server(served):
    statuses: dict[int, int] = {}
    with (
        PeakMemory(served.process.pid) as memory,
        httpx.Client(base_url=served.base_url, timeout=120) as client,
    ):

        def send(method: str, path: str, kwargs: dict) -> httpx.Response:
            response = client.request(method, path, **kwargs)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500 or response.status_code == 503, (
                f"{method} {path}: {response.status_code} {response.text[:500]}"
            )
            if response.status_code >= 400:
                assert response.json()["detail"], response.text  # a reason, as JSON
            return response

        @given(request=requests())
        @example(request=padded(8 << 20))  # 413
        @example(request=padded((1 << 20) + 1))  # 413, one byte over
        @example(request=measure({"major_arcsec": 36000, "minor_arcsec": 100, "pa_deg": 0}))
        @example(request=measure({"major_arcsec": 0.001, "minor_arcsec": 0.001, "pa_deg": 0}))
        @example(
            request=(
                "POST",
                "/api/photometry/measure-batch",
                {"json": {"image": IMAGE, "catalog": "sim", "radius_deg": 10.0}},
            )
        )
        @example(request=("GET", "/api/data", {"params": {"limit": 10**30}}))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(request: tuple[str, str, dict]) -> None:
            send(*request)

        fuzz()
        # The worst case allowed, six at once: a beam at the upper bound (a quarter of the
        # image), 1000 positions each; the budgets answer what does not fit.
        worst = {
            "image": IMAGE,
            "beam": {"major_arcsec": 500.0, "minor_arcsec": 480.0, "pa_deg": 0.0},
            "positions": [
                {
                    "ra_deg": RA0 + 0.25 * (k % 40 / 40 - 0.5),
                    "dec_deg": DEC0 + 0.25 * (k // 40 / 25 - 0.5),
                }
                for k in range(1000)
            ],
        }
        with ThreadPoolExecutor(6) as pool:
            answers = list(
                pool.map(
                    lambda _: send("POST", "/api/photometry/measure-batch", {"json": worst}),
                    range(6),
                )
            )
        assert any(a.status_code == 200 for a in answers), [a.text[:200] for a in answers]
        assert client.get("/health").status_code == 200  # still serving
    print(
        f"\nstatuses {dict(sorted(statuses.items()))}; server peak RSS "
        f"{memory.peak / 2**20:.0f} MiB"
    )
    assert 500 not in statuses
    assert sum(statuses.values()) >= EXAMPLES
    assert statuses.get(200, 0) > 5 and statuses.get(422, 0) > 5 and statuses.get(413, 0) > 0
    assert 0 < memory.peak < MEMORY_BOUND_BYTES
