"""The pages over HTTP (no browser): every page answers HTML from a database filled by a
batch job and a worker, names from catalogues are escaped, every asset is served by the
application itself, and unknown ids get a 404 page."""

from __future__ import annotations

import re

from api_support import api_env
from astropy.table import Table

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.sources import resolve_source
from dsa110_contimg.database.products import photometry_count
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import create_batch_photometry_job
from dsa110_contimg.jobs.worker import run_worker

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_pages_answer_escaped_html_with_local_assets_only(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url, n_images=2) as env:
        evil_csv = tmp_path / "evil.csv"
        Table(
            {
                "name": [EVIL],
                "ra_deg": [float(env.sky["ra_deg"][0])],
                "dec_deg": [float(env.sky["dec_deg"][0])],
                "flux_mjy": [50.0],
            }
        ).write(evil_csv, format="ascii.csv")
        ingest_catalog(evil_csv, "evil", url=sqlite_url)
        job = create_batch_photometry_job(
            env.images, params=PhotometryParams(catalog="sim"), url=sqlite_url
        )
        assert run_worker(stop_when_idle=True, url=sqlite_url) == 2
        data_id = env.client.get(f"/api/batch/{job}").json()["items"]["data"][0]["data_id"]
        evil_id, _ = resolve_source(EVIL, catalog="evil", url=sqlite_url)
        source_id = int(
            env.client.get(
                "/api/sources",
                params={
                    "ra": float(env.sky["ra_deg"][0]),
                    "dec": float(env.sky["dec_deg"][0]),
                    "radius": 0.01,
                    "catalog": "sim",
                },
            ).json()["data"][0]["source_id"]
        )
        pages = [
            "/",
            "/overview/live",
            "/products",
            "/products?type=image&photometry=completed",
            f"/products/{data_id}",
            "/sources",
            "/sources?name=%3Cscript&catalog=evil",
            f"/sources/{source_id}",
            f"/sources/{evil_id}",
            "/candidates",
            "/jobs",
            f"/jobs/{job}",
        ]
        for page in pages:
            response = env.client.get(page)
            assert response.status_code == 200, (page, response.text[:500])
            assert response.headers["content-type"].startswith("text/html")
            html = response.text
            assert "<script>alert" not in html and "<img src=x" not in html, page
            # Every script, stylesheet and image comes from this server.
            for url in re.findall(r'(?:src|href)="([^"]+)"', html):
                assert not re.match(r"^(https?:)?//", url), (page, url)
        assert (
            "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
            in env.client.get(f"/sources/{evil_id}").text
        )
        for asset in ("/static/bokeh/js/bokeh.min.js", "/static/app/app.js", "/static/app/app.css"):
            assert env.client.get(asset).status_code == 200, asset

        csv = env.client.get(f"/products/{data_id}/photometry.csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert len(csv.text.strip().splitlines()) == photometry_count(data_id, url=sqlite_url) + 1
        for missing in ("/products/image-nope", "/sources/999999999", "/jobs/424242"):
            response = env.client.get(missing)
            assert response.status_code == 404 and "Not found" in response.text
        # The pages are not part of the API's document.
        assert not [
            p
            for p in env.client.get("/openapi.json").json()["paths"]
            if not p.startswith(("/api", "/health", "/metrics"))
        ]
