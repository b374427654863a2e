"""``/api/batch``: a job created over HTTP is run by a real worker and its progress, counts,
items and errors are visible over HTTP, as the database records them."""

from __future__ import annotations

from api_support import TOKEN, api_env, auth

from dsa110_contimg.database.products import photometry_count, photometry_for_product
from dsa110_contimg.database.registry import get_photometry_status
from dsa110_contimg.jobs.service import get_job
from dsa110_contimg.jobs.worker import run_worker


def test_job_created_over_http_runs_to_completion(tmp_path, db_url):
    with api_env(tmp_path, db_url, n_images=2, token=TOKEN) as env:
        client = env.client
        images = ["images/epoch0-image-pb.fits", str(env.images[1])]
        response = client.post("/api/batch/photometry", json={"images": images}, headers=auth())
        assert response.status_code == 201, response.text
        job = response.json()
        assert response.headers["location"] == f"/api/batch/{job['id']}"
        assert (job["status"], job["n_items"], job["n_pending"], job["progress"]) == (
            "pending",
            2,
            2,
            0.0,
        )
        assert job["params"]["catalog"] == "sim"  # the configured catalogue
        again = client.post("/api/batch/photometry", json={"images": images}, headers=auth())
        assert again.json()["id"] == job["id"]  # already queued: the same job

        assert run_worker(stop_when_idle=True, url=db_url) == 2
        response = client.get(f"/api/batch/{job['id']}")
        assert response.status_code == 200
        done = response.json()
        stored = get_job(job["id"], url=db_url)
        assert (done["status"], done["n_completed"], done["n_failed"], done["progress"]) == (
            "completed",
            2,
            0,
            1.0,
        )
        assert done["items"]["count"] == 2
        for item, db_item in zip(done["items"]["data"], stored.items):
            assert item["status"] == "completed" and item["error"] is None
            assert item["n_measured"] == db_item["n_measured"] > 5
            record = client.get(f"/api/data/{item['data_id']}").json()
            assert (record["photometry_status"], record["photometry_job_id"]) == (
                "completed",
                job["id"],
            )
            assert record["photometry_n_measured"] == item["n_measured"]

        second = client.get(f"/api/batch/{job['id']}", params={"limit": 1, "offset": 1}).json()
        assert (second["items"]["count"], second["items"]["limit"]) == (2, 1)
        assert [i["id"] for i in second["items"]["data"]] == [stored.items[1]["id"]]

        listing = client.get("/api/batch", params={"status": "completed"}).json()
        assert listing["count"] == 1 and listing["data"][0]["id"] == job["id"]
        assert client.get("/api/batch", params={"status": "failed"}).json()["count"] == 0

        data_id = done["items"]["data"][0]["data_id"]
        rows = photometry_for_product(data_id, url=db_url)
        page = client.get(
            f"/api/data/{data_id}/photometry", params={"limit": 3, "offset": 2}
        ).json()
        assert page["count"] == len(rows) == photometry_count(data_id, url=db_url)
        assert [r["source_id"] for r in page["data"]] == list(rows["source_id"][2:5])
        assert [r["peak_jyb"] for r in page["data"]] == list(rows["peak_jyb"][2:5])

        metrics = client.get("/metrics").text
        assert 'contimg_jobs{status="completed"} 1.0' in metrics
        assert "contimg_queue_depth 0.0" in metrics
        assert "contimg_photometry_latency_seconds_count 2.0" in metrics


def test_failed_items_cancellation_and_unknown_ids(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url, n_images=2) as env:
        client = env.client
        env.images[1].write_bytes(b"SIMPLE  = T" + b"\0" * 100)  # corrupt after staging
        job = client.post(
            "/api/batch/photometry", json={"images": ["images/epoch0-image-pb.fits"]}
        ).json()
        response = client.post(
            "/api/batch/photometry", json={"images": ["images/epoch1-image-pb.fits"]}
        )
        assert response.status_code == 422  # unreadable: refused before queueing
        assert "not a readable FITS image" in response.json()["detail"]

        data_id = job["items"]["data"][0]["data_id"]
        env.images[0].write_bytes(b"SIMPLE  = T" + b"\0" * 100)  # corrupt once queued
        run_worker(stop_when_idle=True, url=sqlite_url)
        failed = client.get(f"/api/batch/{job['id']}").json()
        assert (failed["status"], failed["n_failed"]) == ("failed", 1)
        reason = failed["items"]["data"][0]["error"]
        assert "not a readable FITS image" in reason
        assert client.get(f"/api/data/{data_id}").json()["photometry_error"] == reason

        # A new request for the failed product, cancelled before any worker runs it.
        second = client.post("/api/batch/photometry", json={"data_ids": [data_id]}).json()
        assert second["id"] != job["id"]
        cancelled = client.post(f"/api/batch/{second['id']}/cancel").json()
        assert cancelled["status"] == "cancelled"
        assert cancelled["items"]["data"][0]["status"] == "cancelled"
        status = get_photometry_status(data_id, url=sqlite_url)
        assert (status.status, status.error) == ("failed", f"job {second['id']} cancelled")

        for method, path in (("get", "/api/batch/999"), ("post", "/api/batch/999/cancel")):
            response = getattr(client, method)(path)
            assert response.status_code == 404 and "999" in response.json()["detail"]
        response = client.post("/api/batch/photometry", json={"data_ids": ["image-nope"]})
        assert response.status_code == 404 and "image-nope" in response.json()["detail"]
        response = client.post(
            "/api/batch/photometry", json={"data_ids": [data_id], "catalog": "nope"}
        )
        assert response.status_code == 404 and "unknown catalogue" in response.json()["detail"]
        response = client.post("/api/batch/photometry", json={})
        assert response.status_code == 422 and "at least one" in response.json()["detail"]
        listing = client.get("/api/batch", params={"limit": 1}).json()
        assert (listing["count"], len(listing["data"]), listing["data"][0]["id"]) == (
            2,
            1,
            second["id"],
        )
