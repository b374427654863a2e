"""Request and response models of the HTTP API.

Units are in the field names (``_deg``, ``_jyb`` = Jy/beam, ``_jy``, ``_mjy``, ``_s``); times
are MJD (``mjd_``; ``mjd_mid`` is an observation's mid-time) or ISO 8601 (``_at``; registry
times are Unix seconds). Fields renamed to these names are still sent under their earlier
names, marked deprecated (`earlier_name`). Values that could not
be measured are ``null`` in JSON (NaN in the engine), with flags saying why. Lists are pages:
``{"data": [...], "count": total, "limit": ..., "offset": ...}``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    model_validator,
)
from pydantic.json_schema import JsonDict

from dsa110_contimg.config import FittingOptions
from dsa110_contimg.imaging.fits_io import Beam

__all__ = [
    "BatchPhotometryRequest",
    "BeamIn",
    "ConeSource",
    "DataRecord",
    "ErrorResponse",
    "Health",
    "JobDetail",
    "JobItem",
    "JobSummaryOut",
    "LegacyMeasureResult",
    "LightCurve",
    "BinnedLightCurve",
    "LightCurveBin",
    "LightCurvePoint",
    "Lineage",
    "LineageLink",
    "Measurement",
    "MeasureBatchRequest",
    "MeasureBatchResponse",
    "MeasureRequest",
    "MeasureResponse",
    "NormalizeRequest",
    "NormalizeResponse",
    "NormalizedMeasurement",
    "Page",
    "Position",
    "SourceDetail",
    "SpectralFitOut",
    "SpectralIndexEpoch",
    "SpectralIndexHistory",
    "Spectrum",
    "SpectrumBinOut",
    "StoredMeasurement",
]

T = TypeVar("T")
#: Largest integer key (64-bit); larger ids cannot exist.
MAX_ID = 2**63 - 1
#: Largest job id (jobs have 32-bit keys).
MAX_JOB_ID = 2**31 - 1


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


#: A stored UTC time (SQLite returns it without its zone).
UtcTime = Annotated[datetime, AfterValidator(_utc)]
#: A float output that is ``null`` when not finite (unmeasured).
OptFloat = Annotated[float | None, BeforeValidator(_nan_to_none)]
#: Free text from a request: bounded, no NUL characters (which no database stores).
Text = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00]+$")]
#: A file path from a request (confined to the data roots by the route).
PathText = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]
SourceId = Annotated[int, Field(ge=1, le=MAX_ID)]
RaDeg = Annotated[
    float,
    Field(ge=0.0, le=360.0, allow_inf_nan=False, description="Right ascension (ICRS), degrees."),
]
DecDeg = Annotated[
    float, Field(ge=-90.0, le=90.0, allow_inf_nan=False, description="Declination (ICRS), degrees.")
]
#: Marks a request field kept for the original DSA-110 clients in the OpenAPI document.
LEGACY: JsonDict = {"deprecated": True}


def earlier_name(field: str) -> Any:
    """A deprecated response field that repeats ``field`` under the name it had before.

    Parameters
    ----------
    field : str
        The current name of the (float) field, e.g. ``"mjd_mid"``.

    Returns
    -------
    pydantic computed field
        Assigned in a model's body under the earlier name, e.g. ``mjd = earlier_name("mjd_mid")``.
    """
    return computed_field(
        return_type=float | None,
        json_schema_extra=LEGACY,
        description=f"Deprecated: the earlier name of '{field}' (new clients read '{field}').",
    )(property(lambda self: getattr(self, field)))


class ErrorResponse(BaseModel):
    """Every error: a readable ``detail``; validation errors also list each problem."""

    detail: str = Field(description="What was wrong.")
    errors: list[dict[str, Any]] | None = Field(
        None, description="For 422 validation errors: one entry (loc, msg, type) per problem."
    )


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    data: list[T]
    count: int = Field(description="Total number of items (all pages).")
    limit: int = Field(description="Page size applied.")
    offset: int = Field(description="Items skipped before this page.")


class Health(BaseModel):
    """Liveness and database reachability."""

    status: Literal["ok"]
    database: Literal["ok"]
    revision: str | None = Field(description="Alembic revision of the database schema.")
    version: str


# --------------------------------------------------------------------------- photometry


class BeamIn(BaseModel):
    """A restoring beam, for images whose header has none."""

    model_config = ConfigDict(extra="forbid")

    major_arcsec: float = Field(gt=0, le=36000, allow_inf_nan=False)
    minor_arcsec: float = Field(gt=0, le=36000, allow_inf_nan=False)
    pa_deg: float = Field(ge=-360, le=360, allow_inf_nan=False)

    def to_beam(self) -> Beam:
        """The engine's `Beam` (axes sorted so that major ≥ minor)."""
        return Beam(
            max(self.major_arcsec, self.minor_arcsec),
            min(self.major_arcsec, self.minor_arcsec),
            self.pa_deg,
        )


class _ImageRef(BaseModel):
    """Which image to measure: a FITS path under a data root, or a registered product."""

    model_config = ConfigDict(extra="forbid")

    image: PathText | None = Field(
        None,
        description="FITS file inside a data root (relative paths are relative to the first root).",
    )
    data_id: Text | None = Field(None, description="A registered product instead of a path.")
    beam: BeamIn | None = Field(
        None,
        description="Beam to use when the header has none. It must make sense for the "
        "image (422 otherwise): minor axis at least 0.5 pixel, major axis at "
        "most a quarter of the image's smaller side.",
    )
    fits_path: PathText | None = Field(
        None,
        json_schema_extra=LEGACY,
        description="Deprecated: the original DSA-110 name of 'image' (new clients send 'image').",
    )

    @model_validator(mode="after")
    def _one_image(self):
        if self.fits_path is not None:
            if self.image is not None:
                raise ValueError("give 'image' or its legacy name 'fits_path', not both")
            self.image, self.fits_path = self.fits_path, None
        if (self.image is None) == (self.data_id is None):
            raise ValueError("give exactly one of 'image' (a path) or 'data_id'")
        return self


class MeasureRequest(_ImageRef):
    """Forced photometry of one position on one image."""

    ra_deg: RaDeg
    dec_deg: DecDeg


class Position(BaseModel):
    """One target of a batch measurement."""

    model_config = ConfigDict(extra="forbid")

    ra_deg: RaDeg
    dec_deg: DecDeg
    name: Annotated[str, StringConstraints(max_length=128, pattern=r"^[^\x00]*$")] | None = None
    source_id: SourceId | None = Field(None, description="Catalogue source id, if known.")


class MeasureBatchRequest(_ImageRef):
    """Forced photometry of many positions (or a catalogue's sources) on one image.

    Give ``positions``, or ``catalog`` (with an optional ``radius_deg``; default: the image's
    valid-pixel footprint). At most ``api.max_sync_positions`` targets are measured
    synchronously; larger requests are refused (use a batch job).
    """

    positions: list[Position] | None = Field(None, min_length=1, max_length=100_000)
    catalog: Text | None = Field(
        None, description="Measure this ingested catalogue's sources in the image field."
    )
    radius_deg: float | None = Field(
        None,
        gt=0,
        le=10,
        allow_inf_nan=False,
        description="Cone radius for 'catalog' (default: the image footprint).",
    )
    coordinates: list[Position] | None = Field(
        None,
        min_length=1,
        max_length=100_000,
        json_schema_extra=LEGACY,
        description="Deprecated: the original DSA-110 name of 'positions' (a list of "
        "{ra_deg, dec_deg}).",
    )

    @model_validator(mode="after")
    def _one_target_kind(self):
        if self.coordinates is not None:
            if self.positions is not None:
                raise ValueError("give 'positions' or its legacy name 'coordinates', not both")
            self.positions, self.coordinates = self.coordinates, None
        if (self.positions is None) == (self.catalog is None):
            raise ValueError("give exactly one of 'positions' or 'catalog'")
        if self.radius_deg is not None and self.catalog is None:
            raise ValueError("'radius_deg' goes with 'catalog'")
        return self


class Measurement(BaseModel):
    """One forced measurement, as the engine makes it."""

    name: str
    source_id: int = Field(description="Catalogue source id (-1 when not a catalogue source).")
    ra_deg: float
    dec_deg: float
    x_pix: OptFloat = Field(description="0-based pixel position on the image.")
    y_pix: OptFloat
    peak_jyb: OptFloat = Field(description="Fitted peak; null when unmeasurable (see flags).")
    peak_err_jyb: OptFloat
    int_flux_jy: OptFloat
    int_flux_err_jy: OptFloat
    local_rms_jyb: OptFloat
    background_jyb: OptFloat
    snr: OptFloat
    chisq: OptFloat = Field(description="Reduced residual χ² over the source's support.")
    dof: OptFloat
    group_id: int
    group_size: int
    edge_dist_pix: OptFloat
    pb_response: OptFloat
    flags: int = Field(description="Bit flags (dsa110_contimg.photometry.flags).")
    flag_names: list[str]
    method: str = Field(description="Measurement method.")


class LegacyMeasureResult(BaseModel):
    """The measurement under the field names of the original DSA-110 API (deprecated)."""

    ra_deg: float
    dec_deg: float
    peak_jyb: OptFloat
    peak_err_jyb: OptFloat
    local_rms_jy: OptFloat = Field(description="Local rms (Jy/beam): 'local_rms_jyb'.")
    success: bool = Field(description="A finite peak was measured.")
    error_message: str | None = Field(description="Why not (the flag names), when not.")
    method: str

    @classmethod
    def from_measurement(cls, m: Measurement) -> LegacyMeasureResult:
        """The legacy view of a measurement."""
        success = m.peak_jyb is not None
        return cls(
            ra_deg=m.ra_deg,
            dec_deg=m.dec_deg,
            peak_jyb=m.peak_jyb,
            peak_err_jyb=m.peak_err_jyb,
            local_rms_jy=m.local_rms_jyb,
            success=success,
            error_message=None
            if success
            else "not measured: " + (", ".join(m.flag_names) or "no finite peak"),
            method=m.method,
        )


class MeasureResponse(Measurement):
    """One measurement, and the same under the original DSA-110 field names (``result``)."""

    result: LegacyMeasureResult = Field(
        json_schema_extra=LEGACY,
        description="Deprecated: the measurement with the original DSA-110 field names, for "
        "old clients; new clients read the fields above.",
    )


class MeasureBatchResponse(BaseModel):
    """Measurements in input order (catalogue mode: nearest the field centre first)."""

    image: str = Field(description="The image measured, relative to the data root holding it.")
    data_id: str | None
    mjd_mid: OptFloat = Field(description="Observation mid-time of the image.")
    error_scale: OptFloat = Field(description="Correlated-noise error factor κ applied.")
    error_calibration: str
    count: int
    measurements: list[Measurement]

    mjd_obs = earlier_name("mjd_mid")


class NormalizeRequest(BaseModel):
    """Normalize a stored measurement, or all of a product's, by a correction factor.

    Without ``factor`` the product's stored correction factor is used (409 when it has none);
    with it, ``factor`` ± ``factor_err`` is applied as given.
    """

    model_config = ConfigDict(extra="forbid")

    data_id: Text
    source_id: SourceId | None = Field(
        None, description="One measurement; default: all of the product's (paged)."
    )
    factor: float | None = Field(None, gt=0, le=1e6, allow_inf_nan=False)
    factor_err: float | None = Field(None, ge=0, le=1e6, allow_inf_nan=False)

    @model_validator(mode="after")
    def _factor_pair(self):
        if (self.factor is None) != (self.factor_err is None):
            raise ValueError(
                "give 'factor' and 'factor_err' together (or neither, to use the stored factor)"
            )
        return self


class NormalizedMeasurement(BaseModel):
    """A stored measurement and its normalized flux."""

    source_id: int
    name: str
    mjd_mid: OptFloat
    peak_jyb: OptFloat
    peak_err_jyb: OptFloat
    peak_norm_jyb: OptFloat = Field(description="Normalized peak S/C.")
    peak_norm_err_jyb: OptFloat
    flags: int

    mjd_obs = earlier_name("mjd_mid")
    normalized_flux_jyb = earlier_name("peak_norm_jyb")
    normalized_flux_err_jyb = earlier_name("peak_norm_err_jyb")


class NormalizeResponse(Page[NormalizedMeasurement]):
    """The factor used and the normalized measurements (a page of them)."""

    data_id: str
    factor: float
    factor_err: float
    factor_source: Literal["stored", "request"]
    n_references: int | None = Field(description="References behind a stored factor.")
    reference_source_ids: list[int] | None


# --------------------------------------------------------------------------- batch jobs


class BatchPhotometryRequest(BaseModel):
    """A batch photometry job over images (paths) and/or registered products.

    Sources: ``source_ids``, else ``catalog`` (default: the configured catalogue) over each
    product's footprint or ``radius_deg``.
    """

    model_config = ConfigDict(extra="forbid")

    images: list[PathText] = Field(
        default_factory=list,
        max_length=10_000,
        description="FITS files inside the data roots (registered when new).",
    )
    data_ids: list[Text] = Field(default_factory=list, max_length=10_000)
    catalog: Text | None = None
    radius_deg: float | None = Field(None, gt=0, le=10, allow_inf_nan=False)
    source_ids: list[SourceId] | None = Field(None, min_length=1, max_length=100_000)
    normalize: bool | None = None
    fitting: FittingOptions | None = Field(None, description="Fit options (default: configured).")
    fits_paths: list[PathText] | None = Field(
        None,
        max_length=10_000,
        json_schema_extra=LEGACY,
        description="Deprecated: the original DSA-110 name of 'images'.",
    )
    coordinates: list[Position] | None = Field(
        None,
        min_length=1,
        max_length=2000,
        json_schema_extra=LEGACY,
        description="Deprecated (original DSA-110 shape): positions, each measured as the "
        "nearest source of the catalogue within legacy_match_radius_arcsec (15″); "
        "a position without one is refused (422). New clients send 'source_ids'.",
    )

    @model_validator(mode="after")
    def _some_products(self):
        if self.fits_paths is not None:
            self.images = [*self.images, *self.fits_paths]
            self.fits_paths = None
        if self.coordinates is not None and self.source_ids is not None:
            raise ValueError("give 'source_ids' or the legacy 'coordinates', not both")
        if not self.images and not self.data_ids:
            raise ValueError("give at least one of 'images' or 'data_ids'")
        return self


class JobItem(BaseModel):
    """One product of a job."""

    id: int
    data_id: str
    status: str
    attempts: int
    error: str | None
    n_measured: int | None
    n_failed: int | None
    lease_owner: str | None
    started_at: UtcTime | None
    finished_at: UtcTime | None


class JobSummaryOut(BaseModel):
    """A job's status and counters."""

    id: int
    status: str = Field(
        description="pending, running, completed, completed_with_errors, failed or cancelled."
    )
    n_items: int
    n_completed: int
    n_failed: int
    n_pending: int
    progress: float = Field(description="Fraction of items finished (0–1).")
    created_at: UtcTime | None
    finished_at: UtcTime | None
    params: dict[str, Any] | None


class JobDetail(JobSummaryOut):
    """A job with a page of its items (``limit``/``offset`` page the items)."""

    items: Page[JobItem]


# --------------------------------------------------------------------------- registry


class DataRecord(BaseModel):
    """A registered product: location, statuses (with photometry) and science metadata."""

    data_id: str
    data_type: str
    status: str = Field(description="staging or published.")
    path: str = Field(
        description="Current file location, relative to the data root that holds it (the "
        "file name alone when no root does)."
    )
    stage_path: str = Field(description="Where the file was staged, relative as 'path'.")
    published_path: str | None = Field(description="Where it was published, relative as 'path'.")
    created_at: OptFloat = Field(description="Registration time, Unix seconds.")
    published_at: OptFloat
    qa_status: str | None
    validation_status: str | None
    finalization_status: str | None
    auto_publish_enabled: int | None
    photometry_status: str | None = Field(
        description="null (not requested), pending, running, completed or failed."
    )
    photometry_job_id: int | None
    photometry_error: str | None
    photometry_n_measured: int | None
    photometry_n_failed: int | None
    photometry_updated_at: OptFloat
    mjd_start: OptFloat
    mjd_mid: OptFloat
    mjd_end: OptFloat
    ra_deg: OptFloat
    dec_deg: OptFloat
    radius_deg: OptFloat
    freq_hz: OptFloat


class LineageLink(BaseModel):
    """A related product."""

    data_id: str
    relationship: str


class Lineage(BaseModel):
    """Parents (what a product was made from) and children (what was made from it)."""

    data_id: str
    parents: list[LineageLink]
    children: list[LineageLink]


class StoredMeasurement(BaseModel):
    """A stored photometry row of a product (its current measurement of one source)."""

    source_id: int
    name: str
    mjd_mid: OptFloat
    ra_deg: OptFloat
    dec_deg: OptFloat
    peak_jyb: OptFloat
    peak_err_jyb: OptFloat
    int_flux_jy: OptFloat
    int_flux_err_jy: OptFloat
    local_rms_jyb: OptFloat
    snr: OptFloat
    chisq: OptFloat
    dof: OptFloat
    flags: int
    flag_names: list[str]
    group_id: int
    group_size: int
    pb_response: OptFloat
    peak_norm_jyb: OptFloat = Field(description="Normalized peak (null until normalized).")
    peak_norm_err_jyb: OptFloat
    params_hash: str
    job_id: int

    mjd_obs = earlier_name("mjd_mid")
    flux_norm_jyb = earlier_name("peak_norm_jyb")
    flux_norm_err_jyb = earlier_name("peak_norm_err_jyb")


# --------------------------------------------------------------------------- sources


class ConeSource(BaseModel):
    """A catalogue source found by a cone search, with its latest measurement."""

    source_id: int
    name: str
    ra_deg: float
    dec_deg: float
    flux_mjy: OptFloat
    flux_err_mjy: OptFloat
    peak_flux_mjy: OptFloat
    sep_deg: float
    latest_mjd: OptFloat
    latest_peak_jyb: OptFloat
    latest_peak_err_jyb: OptFloat


class SourceDetail(BaseModel):
    """A catalogue source and a summary of its measurements."""

    source_id: int
    catalog: str
    name: str
    ra_deg: float
    dec_deg: float
    flux_mjy: OptFloat
    flux_err_mjy: OptFloat
    peak_flux_mjy: OptFloat
    peak_flux_err_mjy: OptFloat
    major_arcsec: OptFloat
    minor_arcsec: OptFloat
    pa_deg: OptFloat
    ra_err_arcsec: OptFloat
    dec_err_arcsec: OptFloat
    n_measurements: int
    first_mjd: OptFloat
    last_mjd: OptFloat


class LightCurvePoint(BaseModel):
    """One product's measurement of a source."""

    data_id: str
    mjd_mid: OptFloat = Field(description="Observation mid-time of the product.")
    peak_jyb: OptFloat
    peak_err_jyb: OptFloat
    peak_norm_jyb: OptFloat = Field(description="Normalized peak (null until normalized).")
    peak_norm_err_jyb: OptFloat
    flags: int
    flag_names: list[str]
    local_rms_jyb: OptFloat
    snr: OptFloat
    pb_response: OptFloat

    mjd = earlier_name("mjd_mid")
    normalized_flux_jy = earlier_name("peak_norm_jyb")
    normalized_flux_err_jy = earlier_name("peak_norm_err_jyb")


class LightCurve(Page[LightCurvePoint]):
    """A source's light curve, ordered by MJD (a page of it)."""

    source_id: int
    name: str


class LightCurveBin(BaseModel):
    """Consecutive epochs merged until the point reaches the target S/N (``bin_snr``)."""

    mjd: OptFloat = Field(description="Inverse-variance weighted mean MJD of the epochs.")
    mjd_first: OptFloat = Field(description="First epoch merged into this point.")
    mjd_last: OptFloat = Field(description="Last epoch merged into this point.")
    n_epochs: int = Field(description="Measured epochs merged.")
    flux_jy: OptFloat = Field(
        description="Inverse-variance weighted mean flux density (null for an upper limit)."
    )
    flux_err_jy: OptFloat
    snr: OptFloat
    upper_limit: bool = Field(description="Even all epochs together stay below the target.")
    limit_jy: OptFloat = Field(description="The upper limit: max(flux, 0) + 3σ.")


class BinnedLightCurve(Page[LightCurveBin]):
    """A source's light curve merged over epochs to a target S/N (a page of it)."""

    source_id: int
    name: str
    target_snr: float
    flux: Literal["normalized_flux", "peak"] = Field(
        description="Which flux was merged: normalized where every epoch has one, else the "
        "raw peak."
    )


class SpectrumBinOut(BaseModel):
    """Adjacent sub-bands merged to the target S/N: the weighted mean flux density at the
    weighted mean frequency, or an upper limit."""

    bin: int
    first_subband: int
    last_subband: int
    freq_hz: float
    flux_jy: OptFloat = Field(description="Null for an upper limit.")
    flux_err_jy: OptFloat
    snr: OptFloat
    upper_limit: bool
    limit_jy: OptFloat


class SpectralFitOut(BaseModel):
    """``S = ref_flux_jy (ν / ref_freq_hz)^(alpha + curvature · ln(ν / ref_freq_hz))`` fitted
    in flux density to the detected bins (α null with fewer than two bins; never quote α
    without ``alpha_err``; ``curvature`` null where the S/N does not constrain it, the fit
    then being a power law)."""

    alpha: OptFloat
    alpha_err: OptFloat
    curvature: OptFloat = Field(
        None,
        description="Spectral curvature β, where its error is "
        "within photometry.adaptive.max_curvature_err.",
    )
    curvature_err: OptFloat = None
    ref_freq_hz: OptFloat
    ref_flux_jy: OptFloat
    ref_flux_err_jy: OptFloat
    chisq: OptFloat
    n_bins: int = Field(description="Detected bins fitted.")
    n_subbands: int = Field(description="Usable sub-bands measured.")
    target_snr: float
    upper_limit: bool = Field(description="Below the target S/N even over the whole band.")


class Spectrum(BaseModel):
    """A source's adaptive sub-band spectrum on one product."""

    source_id: int
    name: str
    data_id: str
    mjd_mid: OptFloat = Field(description="Observation mid-time of the product.")
    fit: SpectralFitOut
    bins: list[SpectrumBinOut]

    mjd = earlier_name("mjd_mid")


class SpectralIndexEpoch(SpectralFitOut):
    """The spectral index measured on one product."""

    data_id: str
    mjd_mid: OptFloat = Field(description="Observation mid-time of the product.")

    mjd = earlier_name("mjd_mid")


class SpectralIndexHistory(Page[SpectralIndexEpoch]):
    """A source's spectral index over time, with all epochs combined (inverse-variance mean)."""

    source_id: int
    name: str
    alpha: OptFloat = Field(description="All epochs' α combined.")
    alpha_err: OptFloat
    chi2_nu: OptFloat = Field(
        description="Reduced χ² of the epochs about the combined α "
        "(≈ 1 for a steady spectrum and calibrated errors)."
    )
    n_epochs: int = Field(description="Epochs with a measured α.")
