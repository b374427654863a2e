"""No product leaves without its photometry: finalizing or publishing a product whose
photometry was never requested queues it and waits for it, as for a triggered product."""

from __future__ import annotations

from api_support import api_env

from dsa110_contimg.database.products import photometry_count
from dsa110_contimg.database.registry import get_data, get_photometry_status, register_data
from dsa110_contimg.jobs.service import get_job
from dsa110_contimg.jobs.worker import run_worker


def test_finalize_and_publish_queue_photometry_never_requested(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url) as env:
        client = env.client
        data_id = register_data(env.images[0], url=sqlite_url)  # no photometry requested
        assert get_photometry_status(data_id, url=sqlite_url).status is None

        refused = client.post(f"/api/data/{data_id}/finalize")
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert "photometry is pending" in detail and "queued now in job" in detail
        status = get_photometry_status(data_id, url=sqlite_url)
        assert status.status == "pending" and status.job_id is not None
        assert [i["data_id"] for i in get_job(status.job_id, url=sqlite_url).items] == [data_id]

        waiting = client.post(f"/api/data/{data_id}/publish")  # queued once, not twice
        assert waiting.status_code == 409
        assert "photometry is pending" in waiting.json()["detail"]
        assert "queued now" not in waiting.json()["detail"]
        assert get_photometry_status(data_id, url=sqlite_url).job_id == status.job_id
        assert env.images[0].is_file()  # nothing moved
        assert get_data(data_id, url=sqlite_url)["finalization_status"] == "pending"

        run_worker(stop_when_idle=True, url=sqlite_url)
        assert client.post(f"/api/data/{data_id}/finalize").status_code == 200
        published = client.post(f"/api/data/{data_id}/publish")
        assert published.status_code == 200, published.text
        assert published.json()["photometry_status"] == "completed"
        assert photometry_count(data_id, url=sqlite_url) > 5
        assert (env.root / published.json()["path"]).is_file() and not env.images[0].exists()


def test_published_directly_when_photometry_is_disabled(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url) as env:
        data_id = register_data(env.images[0], url=sqlite_url)
        settings = env.settings.model_copy(
            update={"photometry": env.settings.photometry.model_copy(update={"enabled": False})}
        )
        env.client.app.state.settings = settings
        response = env.client.post(f"/api/data/{data_id}/publish")
        assert response.status_code == 200, response.text
        assert response.json()["photometry_status"] is None
        assert get_photometry_status(data_id, url=sqlite_url).job_id is None
