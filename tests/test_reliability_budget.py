"""Budgets of synchronous measurements: past its time budget, with no slot free in time, or
with the server's memory over its budget, a measurement gets 503 with the reason — never a
500 — and the server goes on answering."""

from __future__ import annotations

import resource
import threading

import httpx
import psutil
import pytest
from reliability_support import DEC0, RA0, field_image, measurement_client

from dsa110_contimg.api.local_server import local_server
from dsa110_contimg.api.routes import photometry as photometry_routes
from dsa110_contimg.photometry import forced


@pytest.fixture
def image(tmp_path):
    """A 512² image of 2″ pixels under ``<tmp>/data``."""
    return field_image(tmp_path, npix=512, radius_deg=0.1, n_sources=10, sky_seed=3, noise_seed=1)


def _batch(image, n: int) -> dict:
    """``n`` positions on a 0.2° line through the field."""
    return {
        "image": image.name,
        "positions": [{"ra_deg": RA0 - 0.1 + 0.2 * k / n, "dec_deg": DEC0} for k in range(n)],
    }


def test_measurement_past_its_time_budget_gets_503_and_the_server_goes_on(
    image, tmp_path, sqlite_url
):
    # 1 ms: less than reading the image takes, however fast the machine.
    with measurement_client(tmp_path, sqlite_url, request_timeout_s=0.001) as client:
        late = client.post("/api/photometry/measure-batch", json=_batch(image, 300))
        assert late.status_code == 503, late.text
        assert late.json()["detail"].startswith(
            "the measurement took longer than its budget of 0.001 s (api.request_timeout_s)"
        )
        assert late.headers["Retry-After"] == "1"
        assert client.get("/api/data").status_code == 200  # reads still served
    # A budget long enough (a cold start compiles the fitting kernels first): answered.
    with measurement_client(tmp_path, sqlite_url, request_timeout_s=600) as client:
        response = client.post("/api/photometry/measure-batch", json=_batch(image, 300))
        assert response.status_code == 200, response.text
        assert response.json()["count"] == 300


def test_measurement_past_its_deadline_stops_and_gives_its_slot_back(
    image, tmp_path, sqlite_url, monkeypatch
):
    """One slot. Each measurement is held after admission (reading its image) until the test
    has its 503, so both pass their deadline whatever the machine's speed. The second is
    admitted only once the first has given its slot back, and by then the first must have
    stopped: it never reached the error calibration, a stage its measurement would otherwise
    have run before ending."""
    gates = [threading.Event(), threading.Event()]
    calibrations_at_admission: list[int] = []
    calibrations: list[int] = []

    def held_load(*args, **kwargs):
        gate = gates[len(calibrations_at_admission)]
        calibrations_at_admission.append(len(calibrations))
        gate.wait()
        return load_image(*args, **kwargs)

    def counted_calibration(*args, **kwargs):
        calibrations.append(1)
        return calibrate(*args, **kwargs)

    load_image, calibrate = photometry_routes.load_image, forced.calibrate_error_scale
    monkeypatch.setattr(photometry_routes, "load_image", held_load)
    monkeypatch.setattr(forced, "calibrate_error_scale", counted_calibration)
    with measurement_client(
        tmp_path,
        sqlite_url,
        request_timeout_s=0.05,
        max_concurrent_measurements=1,
        queue_timeout_s=120,  # the slot comes back only when the first has stopped
    ) as client:
        try:
            for gate in gates:
                late = client.post("/api/photometry/measure-batch", json=_batch(image, 300))
                gate.set()  # the 503 is out: let the measurement go on to its next stage
                assert late.status_code == 503, late.text
                assert late.json()["detail"].startswith(
                    "the measurement took longer than its budget of 0.05 s"
                )  # admitted, then timed out (never "server busy")
        finally:
            for gate in gates:
                gate.set()
    assert calibrations_at_admission == [0, 0]


def test_a_cancelled_measurement_in_bands_starts_none(image):
    cancel = threading.Event()
    cancel.set()
    ra = [RA0 - 0.05 + 0.1 * k / 30 for k in range(30)]
    with pytest.raises(forced.MeasurementCancelled, match="cancelled after its maps stage"):
        forced.measure_in_chunks(image, ra, [DEC0] * 30, chunk_size=10, cancel=cancel)


def test_no_slot_free_in_time_gets_503_busy(image, tmp_path, sqlite_url):
    with measurement_client(
        tmp_path, sqlite_url, max_concurrent_measurements=1, queue_timeout_s=0.05
    ) as client:
        codes: list[int] = []
        details: list[str] = []
        start = threading.Barrier(3)

        def post() -> None:
            start.wait()  # the three requests leave together, so they overlap
            response = client.post("/api/photometry/measure-batch", json=_batch(image, 300))
            codes.append(response.status_code)
            details.append(response.json()["detail"] if response.status_code != 200 else "")

        threads = [threading.Thread(target=post) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # One is measured; the others find the one slot taken (a loaded machine may let the
        # last one in after the first has ended, never all three at once).
        assert codes.count(200) >= 1 and codes.count(503) >= 1, (codes, details)
        assert set(codes) <= {200, 503}, (codes, details)
        assert all(
            d.startswith("server busy: 1 synchronous measurements running") for d in details if d
        )
        # The slot is given back: the next one is measured.
        again = client.post("/api/photometry/measure-batch", json=_batch(image, 10))
        assert again.status_code == 200


def test_image_too_large_for_a_synchronous_measurement_gets_422(image, tmp_path, sqlite_url):
    with measurement_client(tmp_path, sqlite_url, max_sync_image_pixels=100_000) as client:
        for endpoint, body in (
            ("measure", {"ra_deg": RA0, "dec_deg": DEC0}),
            ("measure-batch", _batch(image, 3)),
        ):
            response = client.post(
                f"/api/photometry/{endpoint}", json={**body, "image": image.name}
            )
            assert response.status_code == 422, response.text
            assert response.json()["detail"] == (
                "field-image-pb.fits: 262144 pixels, more than the 100000 a synchronous "
                "measurement reads (api.max_sync_image_pixels); submit a batch job "
                "(POST /api/batch/photometry)"
            )


def test_server_memory_over_its_budget_refuses_measurements(image, tmp_path, sqlite_url):
    with measurement_client(tmp_path, sqlite_url, memory_budget_bytes=1 << 26) as client:
        response = client.post(
            "/api/photometry/measure", json={"image": image.name, "ra_deg": RA0, "dec_deg": DEC0}
        )
        assert response.status_code == 503
        assert "over the budget of 64 MiB (api.memory_budget_bytes)" in response.json()["detail"]
        assert client.get("/api/data").status_code == 200  # only measurements are refused
        documented = client.get("/openapi.json").json()["paths"]
    assert "503" in documented["/api/photometry/measure"]["post"]["responses"]
    assert "503" not in documented["/api/data"]["get"]["responses"]


def test_measurement_out_of_memory_gets_503_and_the_server_goes_on(tmp_path, sqlite_url):
    """The real server with its address space capped just above what it uses (a machine out
    of memory): the largest measurement allowed fails to allocate and is answered 503."""
    image = field_image(
        tmp_path,
        npix=1024,
        radius_deg=0.2,
        n_sources=30,
        sky_seed=3,
        noise_seed=1,
        name="big-image-pb.fits",
    )
    largest = {
        **_batch(image, 1000),
        "beam": {"major_arcsec": 500.0, "minor_arcsec": 480.0, "pa_deg": 0.0},
    }
    env = {
        "CONTIMG_DATABASE_URL": sqlite_url,
        "CONTIMG_DATA_ROOTS": str(tmp_path / "data"),
        "CONTIMG_STATE_DIR": str(tmp_path / "state"),
        "CONTIMG_LOG_LEVEL": "WARNING",
        "CONTIMG_API__REQUEST_TIMEOUT_S": "600",
    }  # the largest measurement allowed, on a loaded machine
    with (
        local_server(env, log_path=tmp_path / "server.log") as server,
        httpx.Client(base_url=server.base_url, timeout=600) as client,
    ):
        few = {**largest, "positions": largest["positions"][:3]}
        assert client.post("/api/photometry/measure-batch", json=few).status_code == 200
        process = psutil.Process(server.process.pid)
        process.rlimit(
            psutil.RLIMIT_AS, (process.memory_info().vms + (50 << 20), resource.RLIM_INFINITY)
        )
        refused = client.post("/api/photometry/measure-batch", json=largest)
        assert refused.status_code == 503, refused.text[:300]
        assert refused.json()["detail"].startswith("not enough memory for this measurement")
        small = client.post(
            "/api/photometry/measure",  # the image's own beam, one position
            json={"image": image.name, "ra_deg": RA0, "dec_deg": DEC0},
        )
        assert small.status_code == 200, small.text[:300]
        assert client.get("/api/data").status_code == 200
