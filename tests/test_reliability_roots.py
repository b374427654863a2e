"""Data roots everywhere: symlinks out of the roots are never registered, measured, finalized or
published, and publishing never moves a file out of the roots."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from dsa110_contimg.api.app import create_app
from dsa110_contimg.config import Settings, get_settings
from dsa110_contimg.conversion.streaming.ledger import Ledger
from dsa110_contimg.conversion.streaming.streaming_converter import StreamingConverter
from dsa110_contimg.data_roots import PathOutsideRootsError
from dsa110_contimg.database.registry import list_data, register_data
from dsa110_contimg.imaging.imager import ExternalImager
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import create_batch_photometry_job, get_job
from dsa110_contimg.jobs.worker import run_worker


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """``<tmp>/data`` is the only data root; ``<tmp>/outside/secret-image-pb.fits`` is not in it."""
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "incoming").mkdir(parents=True)
    outside.mkdir()
    monkeypatch.setenv("CONTIMG_DATA_ROOTS", str(data))
    get_settings.cache_clear()
    sky = make_sky(150.0, 37.2, 0.1, seed=2, n_sources=5)
    images = [
        simulate_image(
            directory / name,
            sky,
            center_ra_deg=150.0,
            center_dec_deg=37.2,
            npix=128,
            pb=None,
            seed=1,
            date_obs="2026-05-01T00:00:00",
        ).path
        for directory, name in ((outside, "secret-image-pb.fits"), (data, "good-image-pb.fits"))
    ]
    return data, images[0], images[1]


def test_stream_refuses_a_symlink_out_of_the_roots_and_goes_on(roots, sqlite_url):
    data, secret, good = roots
    (data / "incoming" / "evil-image-pb.fits").symlink_to(secret)
    shutil.copy(good, data / "incoming" / "fine-image-pb.fits")
    converter = StreamingConverter(
        ExternalImager(),
        data / "incoming",
        data / "images",
        None,
        settle_s=0.0,
        ledger=Ledger(data / "ledger"),
        url=sqlite_url,
    )
    records = {r.key: r for r in converter.run_once()}
    assert records["evil"].status == "failed"
    assert "evil-image-pb.fits is outside the data roots" in records["evil"].error
    assert str(secret.parent) not in records["evil"].error  # no server path in the reason
    assert records["fine"].status == "done"
    rows, total = list_data(url=sqlite_url)
    assert total == 1 and rows[0]["path"] == str(data / "incoming" / "fine-image-pb.fits")
    with pytest.raises(PathOutsideRootsError):
        register_data(secret, url=sqlite_url)


def test_stream_refuses_to_start_watching_outside_the_roots(roots, tmp_path):
    settings = Settings(
        state_dir=tmp_path / "state",
        data_roots=[roots[0]],
        stream={"input_dir": tmp_path / "outside"},
    )
    with pytest.raises(PathOutsideRootsError, match="stream.input_dir"):
        StreamingConverter.from_settings(settings)


def test_product_swapped_for_a_symlink_is_refused_by_data_id(roots, tmp_path, sqlite_url):
    """Registered inside the roots, then replaced by a symlink out of them."""
    data, secret, good = roots
    data_id = register_data(good, url=sqlite_url)
    good.unlink()
    good.symlink_to(secret)
    settings = Settings(
        state_dir=tmp_path / "state",
        database_url=sqlite_url,
        data_roots=[data],
        publish={"published_dir": data / "published"},
    )
    with TestClient(create_app(settings)) as client:
        measured = client.post(
            "/api/photometry/measure", json={"data_id": data_id, "ra_deg": 150.0, "dec_deg": 37.2}
        )
        finalized = client.post(f"/api/data/{data_id}/finalize")
        published = client.post(f"/api/data/{data_id}/publish")
    for response in (measured, finalized, published):
        assert response.status_code == 403, response.text
        assert "outside the data roots" in response.json()["detail"]
        assert str(tmp_path) not in response.text
    assert secret.is_file() and good.is_symlink()  # nothing moved
    job_id = create_batch_photometry_job(
        [data_id], params=PhotometryParams(catalog="none"), url=sqlite_url
    )
    run_worker(stop_when_idle=True, url=sqlite_url)
    item = get_job(job_id, url=sqlite_url).items[0]
    assert item["status"] == "failed" and "outside the data roots" in item["error"]
    assert item["attempts"] == 1  # refused at once, not retried


def test_publishing_never_moves_a_file_out_of_the_roots(roots, tmp_path, sqlite_url):
    data, _secret, good = roots
    data_id = register_data(good, url=sqlite_url)
    settings = Settings(
        state_dir=tmp_path / "state",
        database_url=sqlite_url,
        data_roots=[data],
        publish={"published_dir": tmp_path / "elsewhere"},
    )
    with TestClient(create_app(settings)) as client:
        response = client.post(f"/api/data/{data_id}/publish")
    assert response.status_code == 403
    assert (
        "published name (publish.published_dir) is outside the data roots"
        in response.json()["detail"]
    )
    assert good.is_file() and not (tmp_path / "elsewhere").exists()


def test_successful_answers_name_paths_relative_to_the_data_root(roots, tmp_path, sqlite_url):
    """The registry's records and a batch measurement's image are answered relative to the
    root that holds them, in the new and the original request shapes, and such an answer can
    be sent back as a request's path."""
    data, _, good = roots
    (data / "images").mkdir()
    image = shutil.copy(good, data / "images" / "field-image-pb.fits")
    data_id = register_data(image, url=sqlite_url)
    settings = Settings(state_dir=tmp_path / "state", database_url=sqlite_url, data_roots=[data])
    positions = [{"ra_deg": 150.0, "dec_deg": 37.2}, {"ra_deg": 150.01, "dec_deg": 37.2}]
    with TestClient(create_app(settings)) as client:
        answers = [
            client.get("/api/data"),
            client.get(f"/api/data/{data_id}"),
            client.post(
                "/api/photometry/measure-batch", json={"data_id": data_id, "positions": positions}
            ),
            client.post(  # the original DSA-110 shape, with an absolute path
                "/api/photometry/measure-batch",
                json={"fits_path": str(image), "coordinates": positions},
            ),
        ]
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        listed, record, by_id, legacy = (a.json() for a in answers)
        shown = "images/field-image-pb.fits"
        assert listed["data"][0]["path"] == record["path"] == record["stage_path"] == shown
        assert by_id["image"] == legacy["image"] == shown and legacy["count"] == 2
        again = client.post(
            "/api/photometry/measure-batch", json={"image": shown, "positions": positions}
        )
        assert again.status_code == 200 and again.json()["measurements"] == by_id["measurements"]
    assert not any(str(tmp_path) in a.text for a in answers)
