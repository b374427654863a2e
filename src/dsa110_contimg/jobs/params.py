"""What a photometry job item measures with: catalogue query and fit options, and their hash."""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field, model_validator

from dsa110_contimg.config import (
    AdaptiveSettings,
    FittingOptions,
    PrimaryBeamSettings,
    Settings,
    move_earlier_keys,
)
from dsa110_contimg.database.products import params_hash

__all__ = ["PhotometryParams"]


class PhotometryParams(BaseModel):
    """Parameters of one product's forced photometry (stored with every job item)."""

    catalog: str = "nvss"
    radius_deg: float | None = Field(None, gt=0)
    normalize: bool = True
    fitting: FittingOptions = Field(default_factory=FittingOptions)
    adaptive: AdaptiveSettings = Field(default_factory=AdaptiveSettings)
    primary_beam: PrimaryBeamSettings = Field(default_factory=PrimaryBeamSettings)

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: object) -> object:
        """Parameters stored by earlier versions (``fitting.pb_model``) read as today's."""
        return move_earlier_keys(data, level=logging.DEBUG)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> PhotometryParams:
        """The configured photometry parameters, with keyword overrides."""
        base = settings.photometry.model_dump(exclude={"enabled"})
        base["primary_beam"] = settings.primary_beam.model_dump()
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(base)

    def digest(self) -> str:
        """Stable 16-hex hash of the measurement parameters (part of each photometry row's key).

        The sub-band binning (``adaptive``) is left out: it changes how a product's spectra
        are binned, not what its MFS photometry measures, and a re-run replaces the spectra.
        The primary beam enters as the fit options held it before it had a section of its own
        (``fitting.pb_model``, ``"none"`` unless ``model_pb``, and ``fitting.dish_diameter_m``),
        so parameters that measure the same keep the hash of their existing rows.
        """
        values = self.model_dump(mode="json", exclude={"adaptive", "primary_beam"})
        fitting = values["fitting"]
        fitting["pb_model"] = self.primary_beam.model if fitting.pop("model_pb") else "none"
        fitting["dish_diameter_m"] = self.primary_beam.dish_diameter_m
        return params_hash(values)
