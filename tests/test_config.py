from pathlib import Path

import pytest
from pydantic import ValidationError

from dsa110_contimg.config import Settings, get_settings


def test_defaults_follow_state_dir(isolated_settings, monkeypatch):
    monkeypatch.delenv("CONTIMG_DATA_ROOTS")
    s = Settings()
    assert s.database_url == f"sqlite:///{s.state_dir / 'contimg.sqlite3'}"
    assert s.data_roots == [s.state_dir / "data"]
    assert s.mosaic.output_dir == s.state_dir / "data" / "mosaics"
    assert s.publish.published_dir == s.state_dir / "data" / "published"
    assert s.photometry.catalog == "nvss"
    assert s.photometry.radius_deg is None


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("CONTIMG_DATABASE_URL", "postgresql+psycopg://u@localhost/x")
    monkeypatch.setenv("CONTIMG_DATA_ROOTS", "/data/a:/data/b")
    monkeypatch.setenv("CONTIMG_PHOTOMETRY__FITTING__LOW_SNR", "5")
    get_settings.cache_clear()
    s = get_settings()
    assert s.database_url.startswith("postgresql+psycopg://")
    assert s.data_roots == [Path("/data/a"), Path("/data/b")]
    assert s.photometry.fitting.low_snr == 5.0


def test_toml_file_is_read_and_env_wins(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[photometry]\ncatalog = "first"\nradius_deg = 1.5\n')
    monkeypatch.setenv("CONTIMG_CONFIG", str(cfg))
    assert Settings().photometry.catalog == "first"
    assert Settings().photometry.radius_deg == 1.5
    monkeypatch.setenv("CONTIMG_PHOTOMETRY__CATALOG", "vlass")
    assert Settings().photometry.catalog == "vlass"


def test_invalid_values_are_refused():
    with pytest.raises(ValidationError, match="radius_deg"):
        Settings(photometry={"radius_deg": -1})
    with pytest.raises(ValidationError, match="error_calibration"):
        Settings(photometry={"fitting": {"error_calibration": "guess"}})
