"""Catalogue store on SQLite and PostgreSQL: ingest, stable ids, exact cone searches."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table, vstack
from conftest import shared_data

from dsa110_contimg.catalog import (
    CoordinateError,
    UnknownCatalogError,
    cone_search,
    ingest_catalog,
    list_catalogs,
)
from dsa110_contimg.catalog.zones import angular_separation_deg

CIRADA = ("CIRADA-Tools+vlass_cat", "test_data")
TKP_NVSS = ("transientskp+tkp", "database", "catalog", "nvss")


def _everything(catalog: str, url: str) -> Table:
    return cone_search(catalog, 0.0, 90.0, 180.0, url=url)


def _brute_force(rows: Table, ra: float, dec: float, radius: float) -> list[str]:
    """Names within the radius, nearest first (ties by id), by a plain angular cut."""
    sep = angular_separation_deg(ra, dec, rows["ra_deg"], rows["dec_deg"])
    keep = sep <= radius
    order = np.lexsort((np.asarray(rows["source_id"])[keep], sep[keep]))
    return list(np.asarray(rows["name"])[keep][order])


def _sky(n: int, seed: int, prefix: str = "S") -> Table:
    """Uniform sky plus dense patches at both poles and across RA 0/360."""
    rng = np.random.default_rng(seed)
    ra = np.concatenate(
        [rng.uniform(0, 360, n), rng.uniform(0, 360, n // 2), rng.uniform(-2, 2, n // 2) % 360.0]
    )
    dec = np.concatenate(
        [
            np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
            rng.choice([-1, 1], n // 2) * rng.uniform(87, 90, n // 2),
            rng.uniform(-3, 3, n // 2),
        ]
    )
    table = Table()
    table["name"] = [f"{prefix}{i:06d}" for i in range(len(ra))]
    table["ra_deg"] = ra
    table["dec_deg"] = dec
    table["flux_mjy"] = rng.uniform(1, 100, len(ra))
    return table


@pytest.mark.realdata
def test_both_nvss_forms_ingest_and_cone_search_is_exact(db_url):
    raw = ingest_catalog(shared_data(*CIRADA, "test_nvss.fits"), "NVSS", url=db_url)
    assert (raw.catalog, raw.fmt, raw.n_sources, raw.unchanged) == ("nvss", "nvss-raw", 562, False)
    rows = _everything("nvss", db_url)
    assert len(rows) == 562
    for radius in (0.3, 0.75, 1.5):
        found = cone_search("nvss", 227.5, 46.5, radius, url=db_url)
        assert list(found["name"]) == _brute_force(rows, 227.5, 46.5, radius)
        assert np.all(np.diff(found["sep_deg"]) >= 0)
    assert len(cone_search("nvss", 227.5, 46.5, 0.75, url=db_url)) == 87
    bright = cone_search("nvss", 227.5, 46.5, 1.5, url=db_url, with_extra=True)
    assert {"field", "rms_mjy"} <= set(bright["extra"][0])
    assert np.nanmax(bright["peak_flux_mjy"]) > 100  # mJy, not Jy

    folder = shared_data(*TKP_NVSS)
    vizier = ingest_catalog(
        folder / "nvss-few.csv", "nvss_vizier", header=folder / "nvss-header.txt", url=db_url
    )
    assert (vizier.fmt, vizier.n_sources) == ("nvss-vizier", 20)
    rows = _everything("nvss_vizier", db_url)
    for ra, dec, radius in ((359.9, 0.0, 5.0), (0.5, -30.0, 10.0), (180.0, 10.0, 100.0)):
        found = cone_search("nvss_vizier", ra, dec, radius, url=db_url)
        assert list(found["name"]) == _brute_force(rows, ra, dec, radius)
    assert list(cone_search("nvss_vizier", 359.99, 0.68, 0.05, url=db_url)["name"]) == [
        "NVSS J000000+004100"
    ]


def test_cones_across_ra_zero_and_the_poles_equal_brute_force(db_url, tmp_path):
    path = tmp_path / "sky.csv"
    _sky(6000, seed=1).write(path, format="ascii.csv")
    ingest_catalog(path, "sky", url=db_url)
    rows = _everything("sky", db_url)
    assert len(rows) == 12000
    cones = [
        (0.0, 0.0, 1.0),
        (359.5, 2.0, 1.5),
        (0.8, -1.0, 2.5),
        (123.0, 89.6, 1.0),
        (300.0, -89.9, 0.5),
        (45.0, 88.0, 2.5),
        (200.0, -87.5, 3.0),
        (90.0, 90.0, 0.7),
        (10.0, -45.0, 30.0),
        (270.0, 60.0, 3.0),
    ]
    for ra, dec, radius in cones:
        found = cone_search("sky", ra, dec, radius, url=db_url)
        assert list(found["name"]) == _brute_force(rows, ra, dec, radius), (ra, dec, radius)
        assert len(found) > 0


def test_limit_is_applied_after_the_exact_cut(db_url, tmp_path):
    path = tmp_path / "sky.csv"
    _sky(3000, seed=2).write(path, format="ascii.csv")
    ingest_catalog(path, "sky", url=db_url)
    rows = _everything("sky", db_url)
    for ra, dec, radius in ((0.2, 0.0, 2.0), (33.0, 89.0, 2.0)):
        nearest = _brute_force(rows, ra, dec, radius)
        assert len(nearest) > 10
        assert list(cone_search("sky", ra, dec, radius, limit=7, url=db_url)["name"]) == nearest[:7]
    assert len(cone_search("sky", 0.2, 0.0, 2.0, limit=0, url=db_url)) == 0
    with pytest.raises(ValueError, match="limit"):
        cone_search("sky", 0.2, 0.0, 2.0, limit=-1, url=db_url)


def test_reingest_is_idempotent_and_updates_keep_source_ids(db_url, tmp_path):
    path = tmp_path / "mine.csv"
    sky = _sky(200, seed=3)
    sky.write(path, format="ascii.csv")
    first = ingest_catalog(path, "mine", url=db_url)
    before = _everything("mine", db_url)
    again = ingest_catalog(path, "Mine", url=db_url)
    assert again.unchanged and again.rows_written == 0 and again.n_sources == first.n_sources
    same = _everything("mine", db_url)
    assert dict(zip(same["name"], same["source_id"])) == dict(
        zip(before["name"], before["source_id"])
    )
    ingested_at = list_catalogs(url=db_url)["ingested_at"][0]

    updated = sky[1:].copy()  # one source dropped from the new release,
    updated["flux_mjy"] *= 2  # new values for the others,
    added = Table(rows=[("NEW1", 12.0, -7.0, 5.0)], names=sky.colnames)
    vstack([added, updated]).write(path, format="ascii.csv", overwrite=True)  # one new source
    report = ingest_catalog(path, "mine", url=db_url)
    assert not report.unchanged and report.rows_written == len(sky)
    after = _everything("mine", db_url)
    assert report.n_sources == len(after) == len(sky) + 1  # the dropped source is kept
    ids_after = dict(zip(after["name"], after["source_id"]))
    assert all(ids_after[n] == i for n, i in zip(before["name"], before["source_id"]))
    assert ids_after["NEW1"] not in set(before["source_id"])
    flux = dict(zip(after["name"], after["flux_mjy"]))
    assert flux[sky["name"][5]] == pytest.approx(2 * sky["flux_mjy"][5])
    assert flux[sky["name"][0]] == pytest.approx(sky["flux_mjy"][0])
    assert list_catalogs(url=db_url)["ingested_at"][0] != ingested_at


def test_unknown_catalogue_names_the_ingested_ones(db_url, tmp_path):
    with pytest.raises(UnknownCatalogError, match="unknown catalogue 'nvss'; ingested: none"):
        cone_search("nvss", 10.0, 10.0, 1.0, url=db_url)
    path = tmp_path / "a.csv"
    path.write_text("name,ra_deg,dec_deg,flux_mjy\nA,10,10,1\n")
    ingest_catalog(path, "alpha", url=db_url)
    ingest_catalog(path, "beta", url=db_url)
    with pytest.raises(
        UnknownCatalogError, match="unknown catalogue 'gamma'; ingested: alpha, beta"
    ):
        cone_search("gamma", 10.0, 10.0, 1.0, url=db_url)
    listed = list_catalogs(url=db_url)
    assert list(listed["name"]) == ["alpha", "beta"] and list(listed["n_sources"]) == [1, 1]


def test_a_bad_file_writes_nothing(db_url, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,ra_deg,dec_deg,flux_mjy\nA,10,10,1\nB,10,-91,1\n")
    with pytest.raises(CoordinateError, match="row 2: dec_deg=-91.0 is outside"):
        ingest_catalog(path, "bad", url=db_url)
    assert len(list_catalogs(url=db_url)) == 0
