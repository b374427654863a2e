"""Imaging backends behind one interface, and recognising the FITS products imagers write.

An `Imager` finds the observations waiting in a directory and turns one observation into a
FITS image:

* `ExternalImager` — an imager outside this package (WSClean, CASA) already wrote the images;
  observations are the product groups found in the directory.
* `CommandImager` — runs a configured imaging command per observation (a file or directory
  matching a pattern), with a timeout, and finds what it wrote.
* `SimulatedImager` — images a simulated sky described by a small JSON file per observation
  (demo and tests).

Product names follow the imagers' conventions (`product_name`): WSClean writes
``<name>-image.fits``, ``<name>-image-pb.fits`` (primary-beam corrected), ``<name>-MFS-…`` for
multi-frequency synthesis and ``<name>-pb.fits`` (the beam itself); CASA exports
``<name>.image.fits``, ``<name>.image.pbcor.fits`` or ``<name>.pbcor.fits``, ``<name>.pb.fits``
and ``.tt0`` Taylor terms. `choose_image` prefers the PB-corrected multi-frequency image and
says which it took.

Examples
--------
>>> product_name("obs1-MFS-image-pb.fits")
ProductName(base='obs1', convention='wsclean', role='image', mfs=True, pb_corrected=True)
>>> product_name("obs1.image.pbcor.fits").pb_corrected
True
>>> product_name("obs1-pb.fits").role
'pb'
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.time import Time

from dsa110_contimg.errors import ExternalToolError
from dsa110_contimg.imaging.simulate import simulate_image
from dsa110_contimg.process_lifetime import command_dying_with_parent

__all__ = [
    "CommandImager",
    "ExternalImager",
    "Imager",
    "ImagingError",
    "ImagingResult",
    "Observation",
    "ProductName",
    "SimulatedImager",
    "choose_image",
    "compile_grouping",
    "find_grouped",
    "is_temporary",
    "product_name",
    "text_tail",
]

log = logging.getLogger(__name__)

_FITS_SUFFIXES = (".fits", ".fit", ".fts")
_TEMPORARY = re.compile(r"(^\.|~$|\.(tmp|part|partial|filepart|swp)$)", re.IGNORECASE)
# WSClean: <base>[-MFS][-NNNN|-tNNNN]-<role>[-pb].fits (channel/interval images are auxiliary).
_WSCLEAN = re.compile(
    r"^(?P<base>.+?)(?P<mfs>-MFS)?(?P<index>-t?\d{4})?"
    r"-(?P<role>image-pb|image|pb|residual|model|psf|dirty|beam-\d+)\.fits$"
)
# CASA exports: <base>.<role>[.tt0][.pbcor].fits, or <base>.pbcor.fits.
_CASA = re.compile(
    r"^(?P<base>.+?)\.(?P<role>image|pbcor|pb|residual|model|psf|mask|sumwt|weight)"
    r"(?P<tt>\.tt\d)?(?P<pbcor>\.pbcor)?\.fits$"
)


class ImagingError(ExternalToolError):
    """An observation could not be imaged (the message says why)."""


@dataclass(frozen=True)
class ProductName:
    """What a FITS file name says about the product in it."""

    base: str
    convention: str
    role: str
    mfs: bool = False
    pb_corrected: bool = False


@dataclass(frozen=True)
class Observation:
    """One unit of imaging work: a stable key, the files or directories it consists of and,
    when known, how many files make it complete and which parts (e.g. sub-bands) are
    missing."""

    key: str
    paths: tuple[Path, ...]
    expected_files: int | None = None
    missing: tuple[str, ...] = ()

    @property
    def missing_files(self) -> int:
        """Files still expected (0 when complete or when the count is not known)."""
        return max(0, (self.expected_files or 0) - len(self.paths))

    def describe_missing(self) -> str:
        """What is missing, e.g. ``"15 of 16 files; missing sb03"``."""
        text = f"{len(self.paths)} of {self.expected_files} files"
        return text + (f"; missing {', '.join(self.missing)}" if self.missing else "")


@dataclass(frozen=True)
class ImagingResult:
    """The image to measure, which product it is, and every product found beside it.

    ``metadata`` is recorded with the registered product (e.g. the sub-band images of a
    WSClean run); ``timings_s`` are the imaging stages' wall times.
    """

    image: Path
    convention: str
    product: str
    pb_corrected: bool
    products: dict[str, Path] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


def is_temporary(path: Path) -> bool:
    """True for names that writers use before an atomic rename (hidden, ``.tmp``, ``.part``…)."""
    return bool(_TEMPORARY.search(path.name))


def product_name(name: str) -> ProductName | None:
    """Parse an imager product's file name (None when it is not a FITS file).

    Channel and time-interval images (``-0001-image.fits``) get role ``channel-image`` and
    CASA Taylor terms above ``tt0`` e.g. ``image-tt1``: they are never chosen as the product to
    measure. A FITS name that follows no imager convention
    is a ``plain`` image.
    """
    if not name.lower().endswith(_FITS_SUFFIXES):
        return None
    if match := _WSCLEAN.match(name):
        role = match["role"]
        pb_corrected = role == "image-pb"
        role = "image" if pb_corrected else role
        if match["index"] and role == "image":
            role = "channel-image"
        return ProductName(match["base"], "wsclean", role, bool(match["mfs"]), pb_corrected)
    if match := _CASA.match(name):
        pb_corrected = bool(match["pbcor"]) or match["role"] == "pbcor"
        role = "image" if match["role"] in ("image", "pbcor") else match["role"]
        if match["tt"] and match["tt"] != ".tt0":  # higher Taylor terms are not images
            role = f"{role}-{match['tt'][1:]}"
        return ProductName(match["base"], "casa", role, bool(match["tt"]), pb_corrected)
    stem = name.rsplit(".", 1)[0]
    return ProductName(stem, "plain", "image")


def choose_image(paths: list[Path]) -> ImagingResult:
    """Pick the image to measure from one observation's products.

    Preference: primary-beam corrected over not, multi-frequency (MFS / Taylor term 0) over
    single-plane.

    Raises
    ------
    ImagingError
        No image among the products.
    """
    named = [(p, product_name(p.name)) for p in paths]
    products = {_product_label(n): p for p, n in named if n is not None}
    images = [(p, n) for p, n in named if n is not None and n.role == "image"]
    if not images:
        raise ImagingError(f"no image among the products {sorted(products)}")
    path, name = max(images, key=lambda pn: (pn[1].pb_corrected, pn[1].mfs))
    return ImagingResult(path, name.convention, _product_label(name), name.pb_corrected, products)


class Imager(ABC):
    """Finds observations in a directory and images them."""

    #: Short name recorded with every product ("external", "command", "simulated").
    name: str = ""

    @abstractmethod
    def find_observations(self, directory: Path) -> list[Observation]:
        """Observations in ``directory`` (complete or not; the caller checks completeness)."""

    @abstractmethod
    def image(self, observation: Observation, output_dir: Path) -> ImagingResult:
        """Image ``observation`` into ``output_dir`` (or locate its existing image).

        Raises
        ------
        ImagingError
            With the reason, when no image can be made.
        """


class ExternalImager(Imager):
    """Images written by an external imager: each product group is one observation."""

    name = "external"

    def find_observations(self, directory: Path) -> list[Observation]:
        groups: dict[str, list[Path]] = defaultdict(list)
        for path in _entries(directory):
            name = product_name(path.name)
            if name is not None and path.is_file():
                groups[name.base].append(path)
        return [Observation(base, tuple(sorted(paths))) for base, paths in sorted(groups.items())]

    def image(self, observation: Observation, output_dir: Path) -> ImagingResult:
        return choose_image(list(observation.paths))


class CommandImager(Imager):
    """Runs an imaging command for each observation matching ``pattern``.

    Parameters
    ----------
    command : list of str
        Program and arguments. ``{input}``, ``{output_dir}`` and ``{name}`` are replaced by the
        observation's (first) path, its output directory and its key; an argument that is
        exactly ``{inputs}`` becomes one argument per file of the observation. No shell is
        involved.
    pattern : str
        Glob of observation files or directories in the watched directory (e.g. ``*.ms``).
    timeout_s : float
        The command is killed after this long and the observation fails.
    group : str, optional
        A regular expression with a group named ``key`` that collects several files into one
        observation, e.g. ``(?P<key>.+)_sb\\d{2}\\.hdf5`` for the 16 sub-band files DSA-110
        writes per 5-minute observation.
    files_per_observation : int, optional
        With ``group``, how many files make an observation complete.
    """

    name = "command"

    def __init__(
        self,
        command: list[str],
        pattern: str = "*.ms",
        timeout_s: float = 3600.0,
        *,
        group: str | None = None,
        files_per_observation: int | None = None,
    ):
        if not command:
            raise ValueError("the command imager needs a command")
        self.command = list(command)
        self.pattern = pattern
        self.timeout_s = timeout_s
        self.group = compile_grouping(group) if group else None
        self.files_per_observation = files_per_observation

    def find_observations(self, directory: Path) -> list[Observation]:
        return find_grouped(directory, self.pattern, self.group, self.files_per_observation)

    def image(self, observation: Observation, output_dir: Path) -> ImagingResult:
        out = output_dir / observation.key
        out.mkdir(parents=True, exist_ok=True)
        values = {
            "input": str(observation.paths[0]),
            "output_dir": str(out),
            "name": observation.key,
        }
        args = []
        for part in self.command:
            args += (
                [str(p) for p in observation.paths]
                if part == "{inputs}"
                else [part.format(**values)]
            )
        try:
            done = subprocess.run(
                command_dying_with_parent(args),
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ImagingError(
                f"imaging command timed out after {self.timeout_s:g} s: {text_tail(exc.stderr)}"
            ) from exc
        except OSError as exc:
            raise ImagingError(f"imaging command could not start: {exc}") from exc
        if done.returncode != 0:
            raise ImagingError(
                f"imaging command exited with status {done.returncode}: {text_tail(done.stderr)}"
            )
        written = [p for p in out.iterdir() if p.is_file() and not is_temporary(p)]
        try:
            return choose_image(written)
        except ImagingError as exc:
            raise ImagingError(
                f"imaging command wrote no FITS image into {out} "
                f"({exc}); stderr: {text_tail(done.stderr)}"
            ) from exc


class SimulatedImager(Imager):
    """Images a simulated sky; each observation is a ``*.obs.json`` file.

    The JSON gives ``sky`` (an ECSV table from `dsa110_contimg.imaging.simulate.make_sky`,
    relative to the JSON file), ``ra_deg``, ``dec_deg``, ``date_obs`` and optionally ``npix``,
    ``pixel_arcsec``, ``noise_jy``, ``exposure_s``, ``gain`` (a calibration error applied to
    the whole image) and ``seed``. Sky rows with ``dip_depth``, ``dip_mjd`` and ``dip_days``
    columns vary: their flux is multiplied by ``1 − depth·exp(−½((t − t₀)/w)²)`` at the
    observation's mid-time, an extreme-scattering-event-like dip. The image is PB-corrected
    (Gaussian primary beam) and written as ``<key>-image-pb.fits``.
    """

    name = "simulated"

    def find_observations(self, directory: Path) -> list[Observation]:
        return [
            Observation(p.name[: -len(".obs.json")], (p,))
            for p in sorted(directory.glob("*.obs.json"))
            if not is_temporary(p)
        ]

    def image(self, observation: Observation, output_dir: Path) -> ImagingResult:
        spec_path = observation.paths[0]
        try:
            spec = json.loads(spec_path.read_text())
            sky = Table.read(spec_path.parent / spec["sky"], format="ascii.ecsv")
            ra, dec, date_obs = float(spec["ra_deg"]), float(spec["dec_deg"]), spec["date_obs"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ImagingError(
                f"{spec_path.name}: not a valid observation description: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        exposure_s = float(spec.get("exposure_s", 300.0))
        mid_mjd = Time(date_obs, scale="utc").mjd + exposure_s / 2 / 86400.0
        sky["flux_jy"] = sky_flux_at(sky, mid_mjd) * float(spec.get("gain", 1.0))
        output_dir.mkdir(parents=True, exist_ok=True)
        final = output_dir / f"{observation.key}-image-pb.fits"
        partial = output_dir / f".{final.name}.part"
        simulate_image(
            partial,
            sky,
            center_ra_deg=ra,
            center_dec_deg=dec,
            npix=_npix(spec.get("npix", 2048)),
            pixel_arcsec=float(spec.get("pixel_arcsec", 2.0)),
            noise_jy=float(spec.get("noise_jy", 1e-3)),
            date_obs=date_obs,
            exposure_s=exposure_s,
            pb="gaussian",
            pb_corrected=True,
            seed=int(spec.get("seed", 0)),
        )
        os.replace(partial, final)
        return ImagingResult(final, "wsclean", "image-pb", True, {"image-pb": final})


def compile_grouping(group: str) -> re.Pattern:
    """Compile an observation-grouping regular expression, which needs a group ``key`` (and
    may have a group ``sb``, the sub-band number, to name missing sub-bands)."""
    pattern = re.compile(group)
    if "key" not in pattern.groupindex:
        raise ValueError(f"the observation grouping {group!r} has no group named 'key'")
    return pattern


def find_grouped(
    directory: Path, pattern: str, group: re.Pattern | None, files_per_observation: int | None
) -> list[Observation]:
    """Observations in ``directory``: each entry matching the glob ``pattern``, or, with
    ``group``, the entries whose names share its ``key`` (complete at
    ``files_per_observation``; the missing ``sb`` numbers are named)."""
    found = [p for p in sorted(directory.glob(pattern)) if not is_temporary(p)]
    if group is None:
        return [Observation(_stem(p), (p,)) for p in found]
    groups: dict[str, list[tuple[Path, str | None]]] = defaultdict(list)
    for path in found:
        if match := group.fullmatch(path.name):
            groups[match["key"]].append((path, match["sb"] if "sb" in group.groupindex else None))
    observations = []
    for key, members in sorted(groups.items()):
        missing: tuple[str, ...] = ()
        numbers = [sb for _, sb in members if sb is not None]
        if files_per_observation and numbers:
            width = len(numbers[0])
            present = {int(sb) for sb in numbers}
            missing = tuple(
                f"sb{n:0{width}d}" for n in range(files_per_observation) if n not in present
            )
        observations.append(
            Observation(key, tuple(p for p, _ in members), files_per_observation, missing)
        )
    return observations


def sky_flux_at(sky: Table, mjd: float) -> np.ndarray:
    """Integrated fluxes (Jy) of a simulated sky at ``mjd``, with its sources' dips applied."""
    flux = np.asarray(sky["flux_jy"], dtype=float).copy()
    if "dip_depth" in sky.colnames:
        depth = np.nan_to_num(np.asarray(sky["dip_depth"], dtype=float))
        t0 = np.asarray(sky["dip_mjd"], dtype=float)
        width = np.asarray(sky["dip_days"], dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            profile = np.exp(-0.5 * ((mjd - t0) / width) ** 2)
        flux *= 1.0 - depth * np.nan_to_num(profile)
    return flux


def _entries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if not is_temporary(p)]


def _product_label(name: ProductName) -> str:
    parts = (["MFS"] if name.mfs else []) + [name.role] + (["pb"] if name.pb_corrected else [])
    return "-".join(parts)


def _stem(path: Path) -> str:
    return path.name.split(".", 1)[0] if not path.name.startswith(".") else path.name


def _npix(value: int | list[int] | tuple[int, int]) -> int | tuple[int, int]:
    if isinstance(value, (list, tuple)):
        nx, ny = (int(v) for v in value)
        return nx, ny
    return int(value)


def text_tail(text: str | bytes | None, limit: int = 500) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    text = (text or "").strip()
    return ("…" + text[-limit:]) if len(text) > limit else (text or "(no stderr)")
