"""``contimg catalog`` through Typer's runner, on the configured (per-test) database."""

from __future__ import annotations

import json

import pytest
from conftest import shared_data
from typer.testing import CliRunner

from dsa110_contimg.catalog import FORMATS
from dsa110_contimg.cli import app

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, ["catalog", *args])


def _text(result) -> str:
    """The output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.strip().splitlines() if line.startswith("{")]


def test_ingest_query_and_list_a_generic_csv(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(
        "name,ra_deg,dec_deg,flux_mjy,flux_err_mjy\nsrcA,0.05,37.2,12.5,0.5\n"
        "srcB,359.95,37.2,3.0,0.4\nfar,10.0,-20.0,1.0,0.1\n"
    )
    result = _invoke("ingest", str(path), "--catalog", "Mine")
    assert result.exit_code == 0, result.output
    assert "catalogue mine: 3 rows written" in _text(result) and "format csv" in _text(result)
    result = _invoke("ingest", str(path), "--catalog", "mine")
    assert result.exit_code == 0 and "unchanged" in _text(result)
    result = _invoke(
        "query", "--catalog", "mine", "--ra", "0.0", "--dec", "37.2", "--radius", "0.5", "--json"
    )
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.output)
    assert [r["name"] for r in rows] == ["srcA", "srcB"]  # across RA 0/360
    assert rows[0]["flux_mjy"] == 12.5 and rows[0]["peak_flux_mjy"] is None
    result = _invoke(
        "query",
        "--catalog",
        "mine",
        "--ra",
        "0.0",
        "--dec",
        "37.2",
        "--radius",
        "0.5",
        "--limit",
        "1",
        "--json",
    )
    assert [r["name"] for r in _json_lines(result.output)] == ["srcA"]
    result = _invoke(
        "query", "--catalog", "mine", "--ra", "0.0", "--dec", "37.2", "--radius", "0.5"
    )
    assert result.exit_code == 0 and "srcB" in result.output
    result = _invoke("list", "--json")
    assert [(r["name"], r["n_sources"]) for r in _json_lines(result.output)] == [("mine", 3)]


def test_ingest_with_a_column_map(tmp_path):
    path = tmp_path / "mapped.csv"
    path.write_text("id,RA,DEC,S\nx1,150.0,37.2,7.0\n")
    result = _invoke(
        "ingest",
        str(path),
        "--catalog",
        "mapped",
        "--format",
        "csv",
        "--map",
        "name=id",
        "--map",
        "ra_deg=RA",
        "--map",
        "dec_deg=DEC",
        "--map",
        "flux_mjy=S",
    )
    assert result.exit_code == 0, result.output
    result = _invoke(
        "query", "--catalog", "mapped", "--ra", "150", "--dec", "37.2", "--radius", "0.1", "--json"
    )
    assert _json_lines(result.output)[0]["flux_mjy"] == 7.0
    result = _invoke("ingest", str(path), "--catalog", "x", "--map", "flux_mjy")
    assert result.exit_code == 2 and "--map expects target=column" in _text(result)


@pytest.mark.realdata
def test_ingest_vizier_rows_with_their_header_file():
    folder = shared_data("transientskp+tkp", "database", "catalog", "nvss")
    result = _invoke(
        "ingest",
        str(folder / "nvss-few.csv"),
        "--catalog",
        "nvss",
        "--header",
        str(folder / "nvss-header.txt"),
    )
    assert result.exit_code == 0, result.output
    assert "format nvss-vizier" in _text(result) and "20 sources stored" in _text(result)


def test_errors_are_precise_and_exit_2(tmp_path):
    result = _invoke("query", "--catalog", "nope", "--ra", "1", "--dec", "1", "--radius", "1")
    assert result.exit_code == 2 and "unknown catalogue 'nope'; ingested: none" in _text(result)
    result = _invoke("query", "--catalog", "nope", "--ra", "1", "--dec", "91", "--radius", "1")
    assert result.exit_code == 2 and "declination" in _text(result)
    odd = tmp_path / "odd.txt"
    odd.write_text("a b c\n1 2 3\n")
    result = _invoke("ingest", str(odd), "--catalog", "odd")
    assert result.exit_code == 2 and "cannot tell the catalogue format" in _text(result)
    assert all(fmt in _text(result) for fmt in FORMATS)
    result = _invoke("ingest", str(odd), "--catalog", "odd", "--format", "nvss2")
    assert result.exit_code == 2 and "unknown catalogue format 'nvss2'" in _text(result)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,ra_deg,dec_deg,flux_mjy\na,10,20,1\nb,10,95,1\n")
    result = _invoke("ingest", str(bad), "--catalog", "bad")
    assert result.exit_code == 2
    assert "row 2: dec_deg=95.0 is outside [-90, 90]" in _text(result)
