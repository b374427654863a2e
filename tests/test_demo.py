"""`contimg demo` runs the whole pipeline on the embedded default and ends with a summary and
light-curve plots."""

from sqlalchemy import func, select
from typer.testing import CliRunner

from dsa110_contimg.cli import app
from dsa110_contimg.database.models import DataRegistry
from dsa110_contimg.database.session import session_scope


def test_demo_measures_every_image_and_mosaic_and_plots_light_curves(isolated_settings):
    result = CliRunner().invoke(
        app, ["demo", "--days", "2", "--images", "3", "--width", "1536", "--height", "768"]
    )
    assert result.exit_code == 0, result.output
    assert "6 observation(s), 0 failed" in result.output
    assert "latency image written → photometry committed" in result.output
    assert "injected dips found as ESE" in result.output
    assert "false candidates among" in result.output and "expected)" in result.output
    assert "serve" in result.output and "http://127.0.0.1:8000/" in result.output
    state = isolated_settings.state_dir / "demo"
    url = f"sqlite:///{state / 'contimg.sqlite3'}"
    with session_scope(url) as session:
        counts = dict(
            session.execute(
                select(DataRegistry.data_type, func.count())
                .where(DataRegistry.photometry_status == "completed")
                .group_by(DataRegistry.data_type)
            ).all()
        )
        published = session.scalar(
            select(func.count())
            .select_from(DataRegistry)
            .where(DataRegistry.data_type == "mosaic", DataRegistry.status == "published")
        )
    assert counts == {"image": 6, "mosaic": 2}
    assert published == 2
    plots = sorted(state.glob("lightcurve-*.png"))
    assert len(plots) >= 2 and all(p.stat().st_size > 10_000 for p in plots)
