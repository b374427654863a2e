"""Schema: Alembic is its only definition; old databases are upgraded in place."""

from __future__ import annotations

import json
import sqlite3

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from dsa110_contimg.cli import app
from dsa110_contimg.config import get_settings
from dsa110_contimg.database.migrate import alembic_config, current_revision, upgrade
from dsa110_contimg.database.products import photometry_for_product
from dsa110_contimg.database.registry import (
    get_data_lineage,
    get_photometry_status,
    update_photometry_status,
)


def _head(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def test_schema_is_created_by_alembic(db_url):
    assert current_revision(db_url) == _head(db_url)
    upgrade(db_url)  # idempotent
    assert current_revision(db_url) == _head(db_url)
    command.check(alembic_config(db_url))  # raises if the models and migrations disagree


def test_every_migration_reverses(db_url):
    config = alembic_config(db_url)
    command.downgrade(config, "base")
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert current_revision(db_url) == _head(db_url)
    command.check(config)


def test_db_upgrade_creates_the_schema_in_an_empty_state_dir(isolated_settings):
    runner = CliRunner()
    assert runner.invoke(app, ["db", "current"]).output.strip() == "none"
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (isolated_settings.state_dir / "contimg.sqlite3").is_file()
    head = _head(isolated_settings.database_url)
    assert runner.invoke(app, ["db", "current"]).output.strip() == head


_OLD_REGISTRY = """
    CREATE TABLE data_registry (
        id INTEGER PRIMARY KEY AUTOINCREMENT, data_type TEXT NOT NULL,
        data_id TEXT NOT NULL UNIQUE, base_path TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'staging', stage_path TEXT NOT NULL,
        published_path TEXT, created_at REAL NOT NULL, staged_at REAL NOT NULL,
        published_at REAL, publish_mode TEXT, metadata_json TEXT, qa_status TEXT,
        validation_status TEXT, finalization_status TEXT DEFAULT 'pending',
        auto_publish_enabled INTEGER DEFAULT 1, UNIQUE(data_type, data_id));
    CREATE TABLE data_relationships (
        id INTEGER PRIMARY KEY AUTOINCREMENT, parent_data_id TEXT NOT NULL,
        child_data_id TEXT NOT NULL, relationship_type TEXT NOT NULL,
        FOREIGN KEY (parent_data_id) REFERENCES data_registry(data_id),
        FOREIGN KEY (child_data_id) REFERENCES data_registry(data_id),
        UNIQUE(parent_data_id, child_data_id, relationship_type));
    CREATE INDEX idx_data_registry_status ON data_registry(status);
    CREATE TABLE images (id INTEGER PRIMARY KEY, path TEXT);
"""
#: What the original code ran on start once photometry tracking was added to it.
_SEED_PHOTOMETRY_COLUMNS = """
    ALTER TABLE data_registry ADD COLUMN photometry_status TEXT DEFAULT NULL;
    ALTER TABLE data_registry ADD COLUMN photometry_job_id TEXT DEFAULT NULL;
"""


@pytest.mark.parametrize("seed_columns", [False, True], ids=["original", "with-seed-columns"])
def test_old_registry_database_is_upgraded_in_place(tmp_path, monkeypatch, seed_columns):
    """A registry made by the original DSA-110 code keeps every row and value."""
    path = tmp_path / "products.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(_OLD_REGISTRY + (_SEED_PHOTOMETRY_COLUMNS if seed_columns else ""))
    rows = [
        (
            t,
            f"{t}_{i}",
            "/stage",
            "published" if i % 2 else "staging",
            f"/stage/{t}_{i}",
            f"/data/{t}_{i}" if i % 2 else None,
            1.7e9 + i,
            1.7e9 + i,
            json.dumps({"i": i}),
            "passed",
        )
        for i in range(50)
        for t in ("image", "mosaic")
    ]
    conn.executemany(
        "INSERT INTO data_registry (data_type, data_id, base_path, status, "
        "stage_path, published_path, created_at, staged_at, metadata_json, "
        "qa_status) VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    if seed_columns:
        conn.execute(
            "UPDATE data_registry SET photometry_status = 'completed', "
            "photometry_job_id = '17' WHERE data_id = 'image_4'"
        )
    conn.execute(
        "INSERT INTO data_relationships (parent_data_id, child_data_id, "
        "relationship_type) VALUES ('image_0', 'mosaic_0', 'input')"
    )
    conn.execute("INSERT INTO images (path) VALUES ('/stage/x.fits')")
    conn.commit()
    old_columns = [r[1] for r in conn.execute("PRAGMA table_info(data_registry)")]
    before = conn.execute(
        f"SELECT {', '.join(old_columns)} FROM data_registry ORDER BY id"
    ).fetchall()
    conn.close()

    url = f"sqlite:///{path}"
    result = CliRunner().invoke(app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert current_revision(url) == _head(url)
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(data_registry)")]
    assert {"photometry_status", "photometry_job_id", "photometry_error"} <= set(columns)
    # Its Unix-second times are UTC timestamps since revision 0015: read back as Unix seconds.
    as_unix = "CAST(strftime('%s', {c}) AS REAL) + CAST(substr({c}, 20) AS REAL)"
    selected = [
        as_unix.format(c=c) if c in ("created_at", "staged_at", "published_at") else c
        for c in old_columns
    ]
    after = conn.execute(f"SELECT {', '.join(selected)} FROM data_registry ORDER BY id")
    if seed_columns:  # the seed's TEXT job ids become integers
        before = [row[:-1] + (None if row[-1] is None else int(row[-1]),) for row in before]
    assert after.fetchall() == before
    assert conn.execute("SELECT COUNT(*) FROM images").fetchone() == (1,)
    conn.close()
    assert get_data_lineage("mosaic_0", url=url)["parents"] == [
        {"data_id": "image_0", "relationship": "input"}
    ]
    if seed_columns:
        status = get_photometry_status("image_4", url=url)
        assert (status.status, status.job_id) == ("completed", 17)
    update_photometry_status("image_3", "pending", url=url)
    assert get_photometry_status("image_3", url=url).status == "pending"
    monkeypatch.setenv("CONTIMG_DATABASE_URL", url)
    get_settings.cache_clear()
    shown = json.loads(CliRunner().invoke(app, ["data", "show", "image_3", "--json"]).output)
    assert shown["photometry_status"] == "pending" and shown["qa_status"] == "passed"


def test_photometry_migrations_keep_rows(tmp_path):
    """Rows keyed by a text params hash (revision 0004) survive the later key changes."""
    path = tmp_path / "old.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url, "0004")
    conn = sqlite3.connect(path)
    conn.executescript("""
        INSERT INTO catalog (id, name, n_sources) VALUES (1, 'c', 2);
        INSERT INTO catalog_source (id, catalog_id, name, ra_deg, dec_deg, zone)
            VALUES (1, 1, 'a', 0, 0, 0), (2, 1, 'b', 0, 0, 0);
        INSERT INTO data_registry (data_type, data_id, base_path, status, stage_path,
            created_at, staged_at) VALUES ('image', 'i1', '/', 'staging', '/1', 0, 0);
        INSERT INTO product (id, data_id, data_type, pb_corrected) VALUES (1, 'i1', 'image', 0);
        INSERT INTO photometry (product_id, source_id, params_hash, ra_deg, dec_deg, flags,
            peak_jyb) VALUES (1, 1, 'aaaa', 0, 0, 0, 0.5), (1, 2, 'bbbb', 0, 0, 0, 0.7);
    """)
    conn.commit()
    conn.close()
    upgrade(url)
    stored = photometry_for_product("i1", url=url)
    assert sorted(zip(stored["params_hash"], stored["peak_jyb"])) == [("aaaa", 0.5), ("bbbb", 0.7)]
    assert len(photometry_for_product("i1", params_hash="aaaa", url=url)) == 1


def test_old_registry_with_unusable_job_ids_is_not_changed(tmp_path):
    path = tmp_path / "products.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(_OLD_REGISTRY + _SEED_PHOTOMETRY_COLUMNS)
    conn.execute(
        "INSERT INTO data_registry (data_type, data_id, base_path, stage_path, "
        "created_at, staged_at, photometry_job_id) VALUES "
        "('image', 'image_1', '/stage', '/stage/1', 0, 0, 'job-abc')"
    )
    conn.commit()
    conn.close()
    result = CliRunner().invoke(app, ["db", "upgrade", "--database-url", f"sqlite:///{path}"])
    assert result.exit_code != 0
    assert "image_1='job-abc'" in result.output
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT photometry_job_id FROM data_registry").fetchall() == [("job-abc",)]
    conn.close()
