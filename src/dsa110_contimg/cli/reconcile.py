"""``contimg reconcile``: queue photometry that is missing, failed, stale or stuck."""

from __future__ import annotations

import json
from typing import Literal

import typer
from rich.console import Console

__all__ = ["reconcile"]

console = Console()


def reconcile(
    retry_failed: str = typer.Option(
        "all",
        "--retry-failed",
        help="all: queue every failed product again; changed: only those whose file or "
        "catalogue changed since; none: leave failed products alone.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; queue nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Find registered products whose photometry is missing, failed, stale (other parameters or
    an updated catalogue) or stuck, and queue them in one job."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.jobs.reconcile import reconcile as reconcile_products

    if retry_failed not in ("all", "changed", "none"):
        raise typer.BadParameter("must be all, changed or none", param_hint="--retry-failed")
    mode: Literal["all", "changed", "none"] = retry_failed  # type: ignore[assignment]
    upgrade()
    report = reconcile_products(retry_failed=mode, dry_run=dry_run)
    if as_json:
        print(
            json.dumps(
                {
                    "missing": report.missing,
                    "failed": report.failed,
                    "stale": report.stale,
                    "stuck": report.stuck,
                    "expired_leases": report.expired_leases,
                    "job_id": report.job_id,
                },
                indent=1,
            )
        )
        return
    for reason in ("missing", "failed", "stale", "stuck"):
        ids = getattr(report, reason)
        console.print(
            f"{reason:8s} {len(ids):6d}  {' '.join(ids[:5])}{' …' if len(ids) > 5 else ''}",
            markup=False,
        )
    console.print(f"expired leases (workers re-claim them): {report.expired_leases}", markup=False)
    console.print(
        f"queued in job {report.job_id}"
        if report.job_id is not None
        else ("nothing queued (dry run)" if dry_run and report.queued else "nothing to do"),
        markup=False,
    )
