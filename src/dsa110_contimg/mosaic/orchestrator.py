"""The mosaic orchestrator: group registered images, build mosaics, measure them, publish.

One pass (`run_once`) does, in order:

1. **Group** the registered images that are not yet a mosaic's input by observation mid-time
   window (``mosaic.window_minutes``, windows aligned on MJD 0) and declination strip
   (``mosaic.dec_strip_deg``). A group is ready when it holds ``mosaic.images_per_mosaic``
   images, or when its window has closed — an image of the same strip was observed after the
   window's end (data time, never the clock) — and it holds at least ``mosaic.min_images``;
   a closed window with fewer is skipped with a WARNING. Nothing is built early.
2. **Build** each ready group (`dsa110_contimg.mosaic.builder.build_mosaic`: mosaic + noise
   map in ``mosaic.output_dir``; unreadable inputs are left out with a WARNING), **register**
   it as a ``mosaic`` whose metadata names its noise map, and record its **lineage** (each
   input → mosaic, relationship ``mosaic_input``). Lineage is what makes a group built once:
   its images are no longer candidates, across restarts.
3. **Phase 10.5 — photometry** for every staged mosaic: queue it
   (`dsa110_contimg.jobs.triggers.trigger_photometry_for_mosaic`, the worker measures the
   catalogue sources on the mosaic's valid pixels with the noise map as rms map) and link the
   job to the mosaic's ``data_id``; with ``publish.wait_for_photometry`` wait (polling the
   registry, at most ``mosaic.photometry_timeout_s`` per pass) for a terminal status. A
   mosaic still waiting stays unpublished, with a WARNING, until a later pass.
4. **Validate and publish**: the mosaic and its noise map must read back with a beam and a
   time; then `finalize_data` and `trigger_auto_publish` move it to the published directory
   (the noise map stays in ``mosaic.output_dir``, where the registry metadata points).

With ``photometry.enabled = false`` no job is queued and mosaics are published directly (logged).
A mosaic registered by an interrupted pass is picked up by step 3 of the next one.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.time import Time

from dsa110_contimg.config import Settings, derived_dir, get_settings
from dsa110_contimg.database.products import photometry_for_product
from dsa110_contimg.database.registry import (
    finalize_data,
    get_data,
    get_photometry_status,
    image_times,
    link_data,
    link_photometry_to_data,
    list_data,
    register_data,
    trigger_auto_publish,
    unlinked_images,
)
from dsa110_contimg.imaging.fits_io import ImageReadError, load_image, load_plane
from dsa110_contimg.imaging.primary_beam import PrimaryBeam
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.triggers import trigger_photometry_for_mosaic
from dsa110_contimg.mosaic.builder import MosaicError, build_mosaic, noise_map_path

__all__ = [
    "INPUT_RELATIONSHIP",
    "ImageGroup",
    "MosaicOutcome",
    "PassSummary",
    "plan_groups",
    "run_once",
]

log = logging.getLogger(__name__)

#: Lineage relationship from each input image to its mosaic.
INPUT_RELATIONSHIP = "mosaic_input"


@dataclass(frozen=True)
class ImageGroup:
    """Registered images to be combined into one mosaic."""

    strip: int
    window: int
    data_ids: tuple[str, ...]
    paths: tuple[Path, ...]
    mjd_mids: tuple[float, ...]
    dec_deg: float

    @property
    def name(self) -> str:
        """The mosaic's file name: first image's mid-time and the strip's centre declination."""
        start = Time(min(self.mjd_mids), format="mjd", scale="utc").strftime("%Y%m%dT%H%M%S")
        return f"mosaic-{start}-dec{self.dec_deg:+06.2f}-pb.fits"


@dataclass
class MosaicOutcome:
    """What a pass did with one mosaic."""

    data_id: str
    path: Path
    n_images: int | None = None
    job_id: int | None = None
    photometry_status: str | None = None
    photometry_error: str | None = None
    n_measured: int | None = None
    n_failed: int | None = None
    median_snr: float | None = None
    published_path: Path | None = None
    reason: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass
class PassSummary:
    """Everything one pass built, measured, published, left waiting or skipped."""

    built: list[MosaicOutcome] = field(default_factory=list)
    published: list[MosaicOutcome] = field(default_factory=list)
    waiting: list[MosaicOutcome] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def plan_groups(
    *, settings: Settings | None = None, url: str | None = None, flush: bool = False
) -> tuple[list[ImageGroup], list[tuple[str, str]]]:
    """The groups of registered images ready to become mosaics, and those skipped (why).

    Parameters
    ----------
    settings : Settings, optional
    url : str, optional
        Database URL (default from settings).
    flush : bool
        Treat every window as closed (end of a run): partial groups with at least
        ``mosaic.min_images`` images are ready too.

    Returns
    -------
    (list of ImageGroup, list of (str, str))
        Ready groups in time order, and ``(group description, reason)`` for closed groups too
        small to build.
    """
    settings = settings or get_settings()
    cfg = settings.mosaic
    images = [
        r
        for r in unlinked_images(INPUT_RELATIONSHIP, url=url)
        if r["mjd_mid"] is not None and r["dec_deg"] is not None
    ]
    candidates: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for record in images:
        window = math.floor(record["mjd_mid"] * 1440.0 / cfg.window_minutes)
        candidates[(_strip(record["dec_deg"], cfg.dec_strip_deg), window)].append(record)
    # A window closes once a later image of its strip exists; older images cannot close it.
    latest: dict[int, float] = defaultdict(lambda: -math.inf)
    since = min((r["mjd_mid"] for r in images), default=math.inf)
    for dec, mjd in image_times(since, url=url) if images else ():
        strip = _strip(dec, cfg.dec_strip_deg)
        latest[strip] = max(latest[strip], mjd)
    ready: list[ImageGroup] = []
    skipped: list[tuple[str, str]] = []
    for (strip, window), records in sorted(candidates.items(), key=lambda kv: kv[0][::-1]):
        records.sort(key=lambda r: r["mjd_mid"])
        window_end = (window + 1) * cfg.window_minutes / 1440.0
        closed = flush or latest[strip] > window_end
        dec = (strip + 0.5) * cfg.dec_strip_deg - 90.0
        for first in range(0, len(records), cfg.images_per_mosaic):
            chunk = records[first : first + cfg.images_per_mosaic]
            group = ImageGroup(
                strip,
                window,
                tuple(r["data_id"] for r in chunk),
                tuple(Path(r["path"]) for r in chunk),
                tuple(r["mjd_mid"] for r in chunk),
                dec,
            )
            if len(chunk) == cfg.images_per_mosaic or (closed and len(chunk) >= cfg.min_images):
                ready.append(group)
            elif closed:
                reason = (
                    f"window closed with {len(chunk)} image(s), fewer than "
                    f"mosaic.min_images = {cfg.min_images}"
                )
                log.warning(
                    "mosaic group %s (%s): not built: %s",
                    group.name,
                    ", ".join(group.data_ids),
                    reason,
                )
                skipped.append((group.name, reason))
            else:
                log.debug("mosaic group %s: %d image(s), window still open", group.name, len(chunk))
    return ready, skipped


def run_once(
    *, settings: Settings | None = None, url: str | None = None, flush: bool = False
) -> PassSummary:
    """One orchestrator pass: build ready groups, measure and publish staged mosaics.

    Parameters
    ----------
    settings : Settings, optional
        Default: `get_settings`.
    url : str, optional
        Database URL (default from settings).
    flush : bool
        Build partial groups of open windows too (see `plan_groups`).

    Returns
    -------
    PassSummary
    """
    settings = settings or get_settings()
    summary = PassSummary()
    groups, summary.skipped = plan_groups(settings=settings, url=url, flush=flush)
    for group in groups:
        outcome = _build_and_register(group, settings, url)
        if outcome.reason is not None:
            summary.skipped.append((group.name, outcome.reason))
        else:
            summary.built.append(outcome)
    built = {o.data_id: o for o in summary.built}
    staged = list_data(data_type="mosaic", status="staging", url=url)[0]
    staged.sort(key=lambda r: (r["mjd_start"] or 0.0, r["data_id"]))
    outcomes = [
        built.get(r["data_id"]) or MosaicOutcome(r["data_id"], Path(r["path"])) for r in staged
    ]
    for outcome in outcomes:
        _request_photometry(outcome, settings, url)
    deadline = time.monotonic() + settings.mosaic.photometry_timeout_s
    for outcome in outcomes:
        if _photometry_done(outcome, settings, deadline, url):
            _publish(outcome, settings, url)
        (summary.published if outcome.published_path else summary.waiting).append(outcome)
    return summary


def _strip(dec_deg: float, width_deg: float) -> int:
    """Index of the declination strip holding ``dec_deg``."""
    return math.floor((dec_deg + 90.0) / width_deg)


def _build_and_register(group: ImageGroup, settings: Settings, url: str | None) -> MosaicOutcome:
    cfg = settings.mosaic
    path = derived_dir(cfg.output_dir) / group.name
    outcome = MosaicOutcome("", path, n_images=len(group.data_ids))
    start = time.perf_counter()
    try:
        result = build_mosaic(
            group.paths,
            path,
            primary_beam=PrimaryBeam.from_settings(settings.primary_beam),
            pb_min=cfg.pb_min,
            beam_tolerance=cfg.beam_tolerance,
            min_inputs=cfg.min_images,
            on_bad_input="skip",
        )
    except (MosaicError, ImageReadError, OSError) as exc:
        outcome.reason = f"not built: {exc}"
        log.warning("mosaic %s (%s): %s", group.name, ", ".join(group.data_ids), outcome.reason)
        return outcome
    outcome.timings_s["build"] = time.perf_counter() - start
    start = time.perf_counter()
    used = [d for d, p in zip(group.data_ids, group.paths) if p in result.inputs]
    outcome.data_id = register_data(
        result.path,
        "mosaic",
        metadata={"noise_map": str(result.noise_path), "inputs": used},
        url=url,
    )
    for data_id in used:
        link_data(data_id, outcome.data_id, INPUT_RELATIONSHIP, url=url)
    outcome.n_images = len(used)
    outcome.timings_s["register"] = time.perf_counter() - start
    if result.skipped:
        log.warning(
            "%s: built without %d unreadable input(s): %s",
            outcome.data_id,
            len(result.skipped),
            "; ".join(result.skipped.values()),
        )
    log.info(
        "%s: mosaic of %d images built in %.1f s (%s)",
        outcome.data_id,
        len(used),
        outcome.timings_s["build"],
        result.path,
    )
    return outcome


def _request_photometry(outcome: MosaicOutcome, settings: Settings, url: str | None) -> None:
    """Queue a staged mosaic's photometry (once) and link the job to its ``data_id``."""
    status = get_photometry_status(outcome.data_id, url=url)
    if status.status is not None:
        outcome.job_id, outcome.photometry_status = status.job_id, status.status
        return
    if not settings.photometry.enabled:
        log.info(
            "%s: photometry disabled (photometry.enabled = false); publishing without it",
            outcome.data_id,
        )
        return
    start = time.perf_counter()
    record = get_data(outcome.data_id, url=url)
    params = PhotometryParams.from_settings(settings)
    outcome.job_id = trigger_photometry_for_mosaic(
        record["path"],
        None,
        params=params,
        metadata={"noise_map": str(noise_map_path(record["stage_path"]))},
        url=url,
    )
    link_photometry_to_data(outcome.data_id, outcome.job_id, url=url)
    outcome.photometry_status = "pending"
    outcome.timings_s["queue"] = time.perf_counter() - start


def _photometry_done(
    outcome: MosaicOutcome, settings: Settings, deadline: float, url: str | None
) -> bool:
    """Wait (until ``deadline``) for a terminal photometry status when publishing waits."""
    if outcome.photometry_status is None or not settings.publish.wait_for_photometry:
        return True
    start = time.perf_counter()
    while True:
        status = get_photometry_status(outcome.data_id, url=url)
        outcome.photometry_status, outcome.job_id = status.status, status.job_id or outcome.job_id
        if status.terminal or time.monotonic() >= deadline:
            break
        time.sleep(settings.mosaic.poll_s)
    outcome.timings_s["photometry_wait"] = time.perf_counter() - start
    if not status.terminal:
        outcome.reason = (
            f"photometry still {status.status} (job {status.job_id}) after "
            f"waiting {settings.mosaic.photometry_timeout_s:g} s; not published "
            "yet, retried on the next pass"
        )
        log.warning("%s: %s", outcome.data_id, outcome.reason)
        return False
    outcome.n_measured, outcome.n_failed = status.n_measured, status.n_failed
    if status.status == "failed":
        outcome.photometry_error = status.error
        log.warning(
            "%s: photometry failed (job %s): %s", outcome.data_id, status.job_id, status.error
        )
    else:
        snr = np.asarray(photometry_for_product(outcome.data_id, url=url)["snr"], dtype=float)
        outcome.median_snr = float(np.nanmedian(snr)) if np.isfinite(snr).any() else None
        log.info(
            "%s: photometry completed (job %s): %s measured, %s failed, median S/N %s",
            outcome.data_id,
            status.job_id,
            status.n_measured,
            status.n_failed,
            "n/a" if outcome.median_snr is None else f"{outcome.median_snr:.1f}",
        )
    return True


def _publish(outcome: MosaicOutcome, settings: Settings, url: str | None) -> None:
    """Validate the mosaic and its noise map, then finalize and publish it."""
    start = time.perf_counter()
    record = get_data(outcome.data_id, url=url)
    reason = _invalid_reason(Path(record["path"]), noise_map_path(record["stage_path"]))
    if reason is None:
        wait = settings.publish.wait_for_photometry
        try:
            if finalize_data(outcome.data_id, wait_for_photometry=wait, url=url):
                outcome.published_path = trigger_auto_publish(
                    outcome.data_id,
                    settings.publish.published_dir,
                    wait_for_photometry=wait,
                    url=url,
                )
            if outcome.published_path is None:
                reason = "not finalized or auto-publish disabled (see the log)"
        except (FileExistsError, FileNotFoundError) as exc:
            reason = str(exc)
    outcome.timings_s["publish"] = time.perf_counter() - start
    if reason is not None:
        outcome.reason = f"not published: {reason}"
        log.warning("%s: %s", outcome.data_id, outcome.reason)
        return
    log.info(
        "%s: published to %s (%s)",
        outcome.data_id,
        outcome.published_path,
        ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in outcome.timings_s.items()),
    )


def _invalid_reason(path: Path, noise_path: Path) -> str | None:
    """Why a mosaic may not be published (unreadable, no time, noise map unusable), or None."""
    try:
        image = load_image(path)
        if image.mjd_mid is None:
            return f"{path}: no observation time in the header"
        noise = load_plane(noise_path, image)
        if not np.isfinite(noise).any() or np.nanmin(noise) <= 0:
            return f"{noise_path}: noise map has no positive finite pixel"
    except ImageReadError as exc:
        return str(exc)
    return None
