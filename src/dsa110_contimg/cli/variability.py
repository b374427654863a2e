"""``contimg variability``: detect variable / ESE candidates, review them, rebuild statistics."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.choices import CANDIDATE_STATUSES, PRESETS

__all__ = ["app"]

app = typer.Typer(
    help="Variability statistics and variable / ESE candidates.", no_args_is_help=True
)
console = Console(stderr=True)
_SHOWN = (
    "source_id",
    "name",
    "kind",
    "score",
    "status",
    "n_epochs",
    "eta",
    "v",
    "m_max",
    "deviation_sigma",
)


#: Also shown for freshly detected candidates.
_DETECTED = ("false_alarm", "driver", "dip_start_mjd", "dip_end_mjd", "dip_depth")


def _show(
    candidates: list[dict], title: str, as_json: bool, columns: tuple[str, ...] = _SHOWN
) -> None:
    if as_json:
        for candidate in candidates:
            typer.echo(json.dumps(candidate))
        return
    view = RichTable(title=title)
    for column in columns:
        view.add_column(
            column,
            justify="left" if column in ("name", "kind", "status") else "right",
            no_wrap=column == "name",
        )
    for candidate in candidates:
        view.add_row(
            *(
                f"{v:.3g}" if isinstance(v, float) else "-" if v is None else str(v)
                for v in (candidate[c] for c in columns)
            )
        )
    Console().print(view)


@app.command("detect")
def detect_command(
    preset: str | None = typer.Option(
        None, "--preset", help=f"One of {', '.join(PRESETS)} (default: configured)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per candidate."),
) -> None:
    """Flag variable and ESE candidates from every source's statistics (highest score first),
    with their false-alarm probability, the test(s) that flagged them and the dip found."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.variability.candidates import detect

    if preset is not None and preset not in PRESETS:
        raise typer.BadParameter(f"must be one of {', '.join(PRESETS)}", param_hint="--preset")
    upgrade()
    candidates = detect(preset=preset)
    _show(candidates, f"{len(candidates)} candidate(s)", as_json, _SHOWN + _DETECTED)


@app.command("list")
def list_command(
    status: str | None = typer.Option(None, help=f"One of {', '.join(CANDIDATE_STATUSES)}."),
    limit: int = typer.Option(100, min=1),
    offset: int = typer.Option(0, min=0),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per candidate."),
) -> None:
    """List stored candidates (highest score first)."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.variability.candidates import list_candidates

    if status is not None and status not in CANDIDATE_STATUSES:
        raise typer.BadParameter(
            f"must be one of {', '.join(CANDIDATE_STATUSES)}", param_hint="--status"
        )
    upgrade()
    candidates, total = list_candidates(status=status, limit=limit, offset=offset)
    _show(candidates, f"{len(candidates)} of {total} candidate(s)", as_json)


@app.command("status")
def status_command(
    source: str = typer.Argument(..., help="Catalogue source id or name."),
    status: str = typer.Argument(..., help=f"One of {', '.join(CANDIDATE_STATUSES)}."),
    catalog: str | None = typer.Option(None, help="Catalogue of the name."),
) -> None:
    """Record a review decision for a candidate (dismissed / confirmed stay across detections)."""
    from dsa110_contimg.catalog.sources import resolve_source
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.variability.candidates import set_candidate_status

    if status not in CANDIDATE_STATUSES:
        raise typer.BadParameter(
            f"must be one of {', '.join(CANDIDATE_STATUSES)}", param_hint="STATUS"
        )
    upgrade()
    source_id, name = resolve_source(source, catalog=catalog)
    set_candidate_status(source_id, status)
    console.print(f"{name} (id {source_id}): {status}", markup=False)


@app.command("recompute")
def recompute_command() -> None:
    """Rebuild every source's statistics in batch from the stored normalized measurements."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.session import get_engine
    from dsa110_contimg.variability.store import recompute

    upgrade()
    with get_engine().begin() as conn:
        n = recompute(conn)
    console.print(f"statistics rebuilt for {n} source(s)", markup=False)
