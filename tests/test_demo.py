"""`contimg demo` runs end to end on the embedded default and finds the injected sky."""

from typer.testing import CliRunner

from dsa110_contimg.cli import app
from dsa110_contimg.demo import run_demo


def test_demo_recovers_the_injected_sky(isolated_settings):
    result = run_demo(isolated_settings, npix=2048)
    assert result.measurements.is_file()
    assert len(result.table) > 30
    assert abs(result.median_ratio() - 1.0) < 0.02
    assert 0.5 < result.pull_width() < 1.5


def test_demo_command_prints_a_summary(isolated_settings):
    output = CliRunner().invoke(app, ["demo", "--npix", "512", "--rows", "3"])
    assert output.exit_code == 0, output.output
    assert "forced photometry of demo-image-pb.fits" in output.output
    assert "median measured/injected" in output.output
