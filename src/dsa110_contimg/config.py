"""One typed configuration for the whole package.

Settings are read, in increasing order of precedence, from built-in defaults, a TOML file
(``$CONTIMG_CONFIG`` or ``<state_dir>/contimg.toml``), environment variables prefixed
``CONTIMG_`` (nested sections use ``__``, e.g. ``CONTIMG_PHOTOMETRY__CATALOG=first``), and
explicit keyword arguments (what CLI flags pass). This is the only module that reads the
environment.

Examples
--------
>>> from dsa110_contimg.config import Settings
>>> s = Settings(state_dir="/tmp/contimg-example")
>>> s.database_url
'sqlite:////tmp/contimg-example/contimg.sqlite3'
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from dsa110_contimg.photometry.options import FittingOptions

__all__ = [
    "AdaptiveSettings",
    "ApiSettings",
    "FittingOptions",
    "JobSettings",
    "MosaicSettings",
    "PhotometrySettings",
    "PrimaryBeamSettings",
    "PublishSettings",
    "Settings",
    "StreamSettings",
    "VariabilitySettings",
    "WSCleanSettings",
    "derived_dir",
    "get_settings",
    "move_earlier_keys",
]

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path(".state")
#: The kinds of registered product whose measurements can feed the statistics.
ProductType = Literal["image", "mosaic"]


class AdaptiveSettings(BaseModel):
    """Sub-band spectra measured after the MFS photometry of a product that has sub-band
    images (see `dsa110_contimg.photometry.adaptive`)."""

    enabled: bool = Field(
        True,
        description="Measure spectra when a product has sub-band images (WSClean -channels-out).",
    )
    target_snr: float = Field(5.0, gt=0.0, description="S/N each spectral bin should reach.")
    max_width: int | None = Field(
        None, ge=1, description="Most sub-bands in one bin (None: the whole band)."
    )
    bridge_gaps: bool = Field(
        False,
        description="Let a bin run across flagged or missing "
        "sub-bands (otherwise a gap ends a bin).",
    )
    max_curvature_err: float = Field(
        0.5,
        gt=0.0,
        description="Report the spectral curvature β (and the curved fit) only "
        "where its 1σ error is at most this.",
    )


class PhotometrySettings(BaseModel):
    """What the pipeline measures on each new image or mosaic."""

    enabled: bool = True
    catalog: str = "nvss"
    radius_deg: float | None = Field(
        None, gt=0.0, description="Cone radius; None means the image's valid-pixel footprint."
    )
    normalize: bool = True
    fitting: FittingOptions = Field(default_factory=FittingOptions)
    adaptive: AdaptiveSettings = Field(default_factory=AdaptiveSettings)


class JobSettings(BaseModel):
    """How batch photometry jobs are executed."""

    executor: Literal["local", "dask"] = "local"
    workers: int = Field(2, ge=1, description="Local worker processes.")
    dask_scheduler: str | None = Field(None, description="e.g. tcp://scheduler:8786")
    dask_retry_s: float = Field(
        60.0,
        gt=0,
        description="After losing the Dask scheduler, the "
        "local pool works this long before the scheduler is tried "
        "again.",
    )
    lease_s: float = Field(120.0, gt=0, description="An item's lease; re-claimable after it.")
    max_attempts: int = Field(3, ge=1, description="Attempts before an item fails for good.")
    retry_backoff_s: float = Field(
        10.0, ge=0, description="Delay before a retry, doubled per attempt."
    )
    poll_s: float = Field(1.0, gt=0, description="Idle worker polling interval.")


class PublishSettings(BaseModel):
    """Finalizing products and publishing them (moving files from stage to published)."""

    published_dir: Path | None = Field(
        None,
        description="Where published products are moved (inside the data roots); "
        "default <state_dir>/data/published.",
    )
    wait_for_photometry: bool = Field(
        True,
        description="Finalize and publish a product (image or mosaic) only once its "
        "photometry is completed or failed.",
    )


class PrimaryBeamSettings(BaseModel):
    """The dishes' primary beam (`dsa110_contimg.imaging.primary_beam`): the one model the
    imager writes into every image it makes, mosaics weight by, and photometry corrects with."""

    model: Literal["gaussian", "airy"] = Field(
        "gaussian", description="gaussian: FWHM 1.2 λ/D; airy: uniformly illuminated aperture."
    )
    dish_diameter_m: float = Field(4.65, gt=0.0, description="Dish diameter D.")


def move_earlier_keys(data: object, *, level: int = logging.WARNING) -> object:
    """Settings (or stored photometry parameters) with the keys of earlier versions moved.

    ``photometry.fitting.pb_model``/``dish_diameter_m`` and ``mosaic.pb_model`` became the
    ``primary_beam`` section (``model``, ``dish_diameter_m``) and
    ``photometry.fitting.model_pb`` (true unless ``pb_model`` was ``"none"``);
    ``mosaic.wait_for_photometry`` became ``publish.wait_for_photometry``. ``data`` is the
    mapping given to `Settings` (with ``photometry``) or to
    `dsa110_contimg.jobs.params.PhotometryParams` (with ``fitting`` at the top); anything else
    is returned as it is. The moved keys are logged with their new names at ``level``
    (WARNING for settings a user wrote; stored parameters pass DEBUG).
    """
    if not isinstance(data, dict):
        return data
    data = dict(data)
    photometry = data.get("photometry")
    nested = isinstance(photometry, dict)
    holder = dict(photometry) if isinstance(photometry, dict) else data
    fitting = holder.get("fitting")
    beam = dict(data.get("primary_beam") or {})
    moved: list[str] = []
    if isinstance(fitting, dict) and ("pb_model" in fitting or "dish_diameter_m" in fitting):
        fitting = dict(fitting)
        prefix = "photometry.fitting" if nested else "fitting"
        model = fitting.pop("pb_model", None)
        if model is not None:
            fitting.setdefault("model_pb", model != "none")
            if model != "none":
                beam.setdefault("model", model)
            moved.append(f"{prefix}.pb_model → primary_beam.model, {prefix}.model_pb")
        if "dish_diameter_m" in fitting:
            beam.setdefault("dish_diameter_m", fitting.pop("dish_diameter_m"))
            moved.append(f"{prefix}.dish_diameter_m → primary_beam.dish_diameter_m")
        holder["fitting"] = fitting
        if nested:
            data["photometry"] = holder
    mosaic = dict(data.get("mosaic") or {}) if isinstance(data.get("mosaic"), dict) else None
    if mosaic is not None and "pb_model" in mosaic:
        beam.setdefault("model", mosaic.pop("pb_model"))
        moved.append("mosaic.pb_model → primary_beam.model")
    if mosaic is not None and "wait_for_photometry" in mosaic:
        publish = dict(data.get("publish") or {})
        publish.setdefault("wait_for_photometry", mosaic.pop("wait_for_photometry"))
        data["publish"] = publish
        moved.append("mosaic.wait_for_photometry → publish.wait_for_photometry")
    if mosaic is not None:
        data["mosaic"] = mosaic
    if beam:
        data["primary_beam"] = beam
    if moved:
        log.log(
            level,
            "settings of an earlier version moved (each is set in one place now): %s",
            "; ".join(moved),
        )
    return data


class WSCleanSettings(BaseModel):
    """How the ``wsclean`` imager runs WSClean on each observation's Measurement Set."""

    binary: str = Field("wsclean", description="The WSClean program (name or path).")
    size: int | None = Field(
        None,
        ge=16,
        description="Image size in pixels (square); default: the field of view "
        "(fov_pb_fwhm) at the pixel scale.",
    )
    scale_arcsec: float | None = Field(
        None,
        gt=0,
        description="Pixel size; default: λ_min / longest baseline / pixels_per_resolution.",
    )
    pixels_per_resolution: float = Field(5.0, gt=1.0)
    fov_pb_fwhm: float = Field(
        1.5,
        gt=0,
        description="Field of view in primary-beam FWHM at the lowest frequency, "
        "plus the drift of the beam during the observation.",
    )
    channels_out: int = Field(
        16,
        ge=1,
        description="Output sub-band images (joined deconvolution); 16 = one per "
        "DSA-110 sub-band, plus the MFS image.",
    )
    fit_spectral_pol: int = Field(
        2,
        ge=0,
        description="Joined-channel cleaning fits a polynomial of this many terms "
        "over frequency (0: no fit); sources have spectral indices.",
    )
    weight: list[str] = Field(default_factory=lambda: ["briggs", "0"])
    niter: int = Field(100000, ge=0)
    mgain: float = Field(0.8, gt=0, le=1)
    auto_threshold: float = Field(
        1.0, gt=0, description="Clean down to this many σ (in the auto-mask)."
    )
    auto_mask: float = Field(4.0, gt=0, description="Auto-mask at this many σ.")
    threads: int | None = Field(None, ge=1, description="-j; default: all cores.")
    extra_args: list[str] = Field(
        default_factory=list, description="More WSClean arguments, appended as given."
    )
    keep_ms: bool = Field(False, description="Keep the intermediate Measurement Set.")


class StreamSettings(BaseModel):
    """The streaming converter: where observations arrive, how they are imaged."""

    input_dir: Path | None = Field(
        None, description="Watched directory; default <state_dir>/data/incoming."
    )
    output_dir: Path | None = Field(
        None, description="Where images are written; default <state_dir>/data/images."
    )
    imager: Literal["external", "command", "wsclean", "simulated"] = Field(
        "external",
        description="external: images written by WSClean/CASA arrive in input_dir; command: run "
        "imaging_command per observation; wsclean: UVH5 sub-band files → "
        "Measurement Set → WSClean; simulated: image *.obs.json sky models.",
    )
    imaging_command: list[str] = Field(
        default_factory=list,
        description="Program and arguments; {input}, {output_dir} and {name} are substituted.",
    )
    observation_pattern: str = Field("*.ms", description="Glob of observations (command imager).")
    observation_group: str | None = Field(
        None,
        description="Regular expression with a group named 'key' that collects several "
        "files into one observation (command imager; an optional group 'sb' "
        "names missing sub-bands), e.g. '(?P<key>.+)_sb(?P<sb>\\d{2})\\.hdf5' "
        "for DSA-110 sub-band files (the wsclean imager's default).",
    )
    files_per_observation: int | None = Field(
        None,
        ge=1,
        description="With observation_group: files that make an observation "
        "complete (16 sub-bands for DSA-110; the wsclean imager's "
        "default).",
    )
    incomplete_after_s: float = Field(
        900.0,
        gt=0,
        description="An observation still missing files after this long is "
        "failed, naming what is missing (or imaged with what arrived, "
        "with incomplete = 'image').",
    )
    incomplete: Literal["fail", "image"] = Field(
        "fail",
        description="What happens to an observation still incomplete after incomplete_after_s.",
    )
    imaging_timeout_s: float = Field(3600.0, gt=0)
    wsclean: WSCleanSettings = Field(default_factory=WSCleanSettings)
    settle_s: float = Field(
        2.0, ge=0, description="A file counts as complete once unchanged for this long."
    )
    poll_s: float = Field(
        5.0, gt=0, description="Rescan interval (events from the file watcher wake it sooner)."
    )
    use_polling: bool = Field(
        False,
        description="Poll the directory instead of using OS file events (network filesystems).",
    )
    reconcile_interval_s: float = Field(
        600.0,
        gt=0,
        description="How often the running service sweeps for products whose "
        "photometry is missing, stale or stuck.",
    )


class ApiSettings(BaseModel):
    """The HTTP API (``contimg serve``)."""

    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8000, ge=1, le=65535)
    token: SecretStr | None = Field(
        None,
        description="Bearer token required by the write endpoints; without one the "
        "server binds only a loopback address.",
    )
    max_sync_positions: int = Field(
        1000,
        ge=1,
        description="Most positions one synchronous measure-batch request may ask "
        "for; larger requests go through a batch job.",
    )
    max_body_bytes: int = Field(
        1 << 20, ge=1024, description="Largest request body accepted; a larger one gets 413."
    )
    max_concurrent_measurements: int = Field(
        2,
        ge=1,
        description="Synchronous measurements (POST /api/photometry/...) running at "
        "once; more wait for a slot.",
    )
    queue_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for a measurement slot; then 503 (busy)."
    )
    request_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Time budget of one synchronous measurement; past it the "
        "client gets 503 (the work ends in the background, holding "
        "its slot).",
    )
    max_sync_image_pixels: int = Field(
        8192 * 8192,
        ge=1,
        description="Largest image (pixels of its plane) a synchronous "
        "measurement reads; a larger one gets 422 (a batch job "
        "measures it).",
    )
    memory_budget_bytes: int = Field(
        3 << 29,
        ge=1 << 26,
        description="Synchronous measurements are admitted only while the "
        "server's resident memory is below this (1.5 GiB); "
        "503 otherwise.",
    )
    default_page_size: int = Field(50, ge=1, description="Items per page of a list by default.")
    max_page_size: int = Field(1000, ge=1, description="Largest page a list request gets.")

    @field_validator("token", mode="before")
    @classmethod
    def _blank_token_is_none(cls, value: object) -> object:
        """An empty ``CONTIMG_API__TOKEN`` means no token (never an empty password)."""
        return None if isinstance(value, str) and not value.strip() else value


class MosaicSettings(BaseModel):
    """The mosaic orchestrator: grouping registered images, building, publishing."""

    images_per_mosaic: int = Field(
        12, ge=1, description="A group is built as soon as it holds this many images."
    )
    window_minutes: float = Field(
        60.0,
        gt=0,
        description="Images are grouped by observation mid-time into windows of "
        "this length (aligned on MJD 0).",
    )
    dec_strip_deg: float = Field(
        1.0, gt=0, description="...and by declination into strips of this width."
    )
    min_images: int = Field(
        4, ge=1, description="Fewest images a closed window needs to become a mosaic."
    )
    output_dir: Path | None = Field(
        None,
        description="Where mosaics and noise maps are written; default <state_dir>/data/mosaics.",
    )
    photometry_timeout_s: float = Field(
        600.0,
        ge=0,
        description="How long one pass waits for a mosaic's photometry before "
        "leaving it unpublished until the next pass.",
    )
    poll_s: float = Field(1.0, gt=0, description="Registry polling interval while waiting.")
    interval_s: float = Field(60.0, gt=0, description="Time between passes of `contimg mosaic`.")
    pb_min: float = Field(0.1, gt=0, lt=1, description="Pixels below this PB are left out.")
    beam_tolerance: float = Field(
        0.01,
        ge=0,
        description="Inputs whose beam area is this fraction below the common "
        "beam's are convolved to it.",
    )


class VariabilitySettings(BaseModel):
    """Master catalogue, per-image flux normalization and variability detection."""

    confusion_radius_arcsec: float = Field(
        120.0, gt=0.0, description="Neighbours within this radius can confuse a source."
    )
    confusion_flux_ratio: float = Field(
        0.1,
        ge=0.0,
        description="A neighbour at least this fraction of a source's flux makes it confused.",
    )
    match_radius_arcsec: float = Field(
        10.0, gt=0.0, description="Cross-match radius to FIRST / VLASS."
    )
    max_size_arcsec: float = Field(
        20.0, ge=0.0, description="Sources with a larger deconvolved major axis are resolved."
    )
    min_compactness: float = Field(
        0.8, ge=0.0, description="Peak / integrated flux below which a source is resolved."
    )
    catalog_rms_mjy: float = Field(
        0.45, gt=0.0, description="Catalogue noise for S/N where a source has no flux error."
    )
    reference_min_catalog_snr: float = Field(
        20.0, ge=0.0, description="Catalogue S/N a reference-eligible source needs."
    )
    reference_min_snr: float = Field(
        30.0, ge=0.0, description="S/N a reference needs in the image being normalized."
    )
    max_references: int = Field(20, ge=1, description="References used per image.")
    min_references: int = Field(5, ge=1, description="Fewer usable references: no correction.")
    reference_min_history: int = Field(
        3,
        ge=1,
        description="Normalized epochs before a reference's own mean is its baseline "
        "(until then: its catalogue flux, rescaled).",
    )
    reference_max_eta: float = Field(
        5.0, gt=0.0, description="References whose light curve has a larger η are excluded."
    )
    reference_max_deviation: float = Field(
        5.0, gt=0.0, description="References with an epoch deviating more (σ) are excluded."
    )
    statistics_product_types: list[ProductType] = Field(
        default_factory=lambda: list[ProductType](["image"]),
        description="Products whose normalized measurements feed the variability statistics. "
        "A mosaic holds its images' data, so counting both would count it twice; "
        "light curves show every product either way.",
    )
    preset: Literal["conservative", "moderate", "sensitive"] = Field(
        "moderate", description="Default detection preset."
    )


class Settings(BaseSettings):
    """All settings of dsa110_contimg."""

    model_config = SettingsConfigDict(
        env_prefix="CONTIMG_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    state_dir: Path = DEFAULT_STATE_DIR
    database_url: str = ""
    data_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"
    photometry: PhotometrySettings = Field(default_factory=PhotometrySettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    variability: VariabilitySettings = Field(default_factory=VariabilitySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    mosaic: MosaicSettings = Field(default_factory=MosaicSettings)
    primary_beam: PrimaryBeamSettings = Field(default_factory=PrimaryBeamSettings)

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: object) -> object:
        return move_earlier_keys(data)

    @field_validator("data_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        """Accept a ``:``-separated string (as in ``CONTIMG_DATA_ROOTS``)."""
        if isinstance(value, str):
            return [p for p in value.split(os.pathsep) if p]
        return value

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        self.state_dir = Path(self.state_dir).expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.state_dir / 'contimg.sqlite3'}"
        if not self.data_roots:
            self.data_roots = [self.state_dir / "data"]
        self.data_roots = [Path(p).expanduser().resolve() for p in self.data_roots]
        self.stream.input_dir = (
            Path(self.stream.input_dir or self.state_dir / "data" / "incoming")
            .expanduser()
            .resolve()
        )
        self.stream.output_dir = (
            Path(self.stream.output_dir or self.state_dir / "data" / "images")
            .expanduser()
            .resolve()
        )
        data = self.state_dir / "data"
        self.publish.published_dir = (
            Path(self.publish.published_dir or data / "published").expanduser().resolve()
        )
        self.mosaic.output_dir = (
            Path(self.mosaic.output_dir or data / "mosaics").expanduser().resolve()
        )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def _config_file() -> Path | None:
    """The TOML file to read: ``$CONTIMG_CONFIG``, else ``<state dir>/contimg.toml`` if present."""
    explicit = os.environ.get("CONTIMG_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"CONTIMG_CONFIG points to {path}, which is not a file")
        return path
    state_dir = Path(os.environ.get("CONTIMG_STATE_DIR", DEFAULT_STATE_DIR)).expanduser()
    candidate = state_dir / "contimg.toml"
    return candidate if candidate.is_file() else None


def derived_dir(value: Path | None) -> Path:
    """A directory setting whose default `Settings` derives from ``state_dir``.

    Raises
    ------
    RuntimeError
        If ``value`` is unset: its section was built on its own, outside `Settings`.
    """
    if value is None:
        raise RuntimeError("directory setting unset: build its section through Settings")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (built once; tests call ``get_settings.cache_clear()``)."""
    return Settings()
