"""What a photometry job item measures with: catalogue query and fit options, and their hash."""

from __future__ import annotations

from pydantic import BaseModel, Field

from dsa110_contimg.config import AdaptiveSettings, FittingOptions, Settings
from dsa110_contimg.database.products import params_hash

__all__ = ["PhotometryParams"]


class PhotometryParams(BaseModel):
    """Parameters of one product's forced photometry (stored with every job item)."""

    catalog: str = "nvss"
    radius_deg: float | None = Field(None, gt=0)
    normalize: bool = True
    fitting: FittingOptions = Field(default_factory=FittingOptions)
    adaptive: AdaptiveSettings = Field(default_factory=AdaptiveSettings)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> PhotometryParams:
        """The configured photometry parameters, with keyword overrides."""
        base = settings.photometry.model_dump(exclude={"enabled"})
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(base)

    def digest(self) -> str:
        """Stable 16-hex hash of the measurement parameters (part of each photometry row's key).

        The sub-band binning (``adaptive``) is left out: it changes how a product's spectra
        are binned, not what its MFS photometry measures, and a re-run replaces the spectra.
        """
        return params_hash(self.model_dump(mode="json", exclude={"adaptive"}))
