"""The package boundaries the README's layout describes, pinned: what importing a package
brings in (each checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _imported(module: str) -> set[str]:
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('dsa110_contimg', "
        "'sqlalchemy', 'fastapi', 'dask')))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


@pytest.mark.parametrize(
    "engine", ["dsa110_contimg.photometry.forced", "dsa110_contimg.photometry.adaptive"]
)
def test_the_measurement_engine_needs_neither_settings_nor_database(engine):
    imported = _imported(engine)
    assert "dsa110_contimg.config" not in imported
    assert not {
        m
        for m in imported
        if m.startswith(("dsa110_contimg.database", "sqlalchemy", "dsa110_contimg.variability"))
    }


def test_the_database_layer_does_not_import_the_science_packages():
    """(The settings it reads hold the engine's `FittingOptions`, a plain data model.)"""
    imported = _imported("dsa110_contimg.database.products") - {
        "dsa110_contimg.photometry",
        "dsa110_contimg.photometry.options",
    }
    assert not {
        m
        for m in imported
        if m.startswith(
            (
                "dsa110_contimg.catalog",
                "dsa110_contimg.photometry",
                "dsa110_contimg.variability",
                "dsa110_contimg.jobs",
            )
        )
    }
