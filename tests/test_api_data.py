"""``/api/data``: the registry over HTTP (paged lists, records, finalize, publish, lineage)
agrees with the registry service and the files on disk."""

from __future__ import annotations

from pathlib import Path

from api_support import api_env

from dsa110_contimg.database.registry import get_data, link_data, register_data
from dsa110_contimg.jobs.worker import run_worker


def test_list_record_finalize_publish_and_lineage(tmp_path, db_url):
    with api_env(tmp_path, db_url, n_images=3) as env:
        client = env.client
        ids = [register_data(path, url=db_url) for path in env.images]
        page = client.get("/api/data", params={"limit": 2}).json()
        assert (page["count"], page["limit"], page["offset"]) == (3, 2, 0)
        assert [r["data_id"] for r in page["data"]] == ids[::-1][:2]  # newest first
        rest = client.get("/api/data", params={"limit": 2, "offset": 2}).json()
        assert [r["data_id"] for r in rest["data"]] == [ids[0]]
        assert client.get("/api/data", params={"type": "mosaic"}).json()["count"] == 0
        assert client.get("/api/data", params={"photometry_status": "none"}).json()["count"] == 3

        record = client.get(f"/api/data/{ids[0]}").json()
        stored = get_data(ids[0], url=db_url)
        shown = {"path": "images/epoch0-image-pb.fits", "stage_path": "images/epoch0-image-pb.fits"}
        assert record == {**stored, **shown, "photometry_status": None}  # relative to the root
        assert stored["path"] == str(env.images[0]) and record["mjd_mid"] > 61000

        # Photometry requested: finalize and publish wait for it.
        client.post("/api/batch/photometry", json={"data_ids": [ids[0]]})
        for action in ("finalize", "publish"):
            response = client.post(f"/api/data/{ids[0]}/{action}")
            assert response.status_code == 409
            assert "photometry is pending" in response.json()["detail"]
        run_worker(stop_when_idle=True, url=db_url)
        response = client.post(f"/api/data/{ids[0]}/finalize")
        assert response.status_code == 200 and response.json()["finalization_status"] == "finalized"
        response = client.post(f"/api/data/{ids[0]}/publish")
        assert response.status_code == 200, response.text
        published = response.json()
        target = Path(env.settings.publish.published_dir) / env.images[0].name
        assert published["status"] == "published"
        assert published["path"] == str(target.relative_to(env.root))
        assert target.is_file() and not env.images[0].exists()
        assert client.get(f"/api/data/{ids[0]}").json()["data_id"] == ids[0]
        assert client.post(f"/api/data/{ids[0]}/publish").status_code == 200  # idempotent
        # The published product's photometry is still served under the same id.
        assert client.get(f"/api/data/{ids[0]}/photometry").json()["count"] > 5

        link_data(ids[1], ids[2], "derived_from", url=db_url)
        lineage = client.get(f"/api/data/{ids[2]}/lineage").json()
        assert lineage == {
            "data_id": ids[2],
            "children": [],
            "parents": [{"data_id": ids[1], "relationship": "derived_from"}],
        }

        for path in (
            "/api/data/image-nope",
            "/api/data/image-nope/lineage",
            "/api/data/image-nope/photometry",
        ):
            response = client.get(path)
            assert response.status_code == 404 and "image-nope" in response.json()["detail"]
        assert client.post("/api/data/image-nope/finalize").status_code == 404
        response = client.get("/api/data", params={"limit": 0})
        assert response.status_code == 422 and "query.limit" in response.json()["detail"]
        response = client.get("/api/data", params={"limit": 10**6})
        assert response.status_code == 422
        capped = client.get("/api/data", params={"limit": 5000}).json()
        assert capped["limit"] == env.settings.api.max_page_size
