"""Per-product flux correction factors: stored, read back, and applied to the photometry rows.

A product's correction ``C`` (table ``image_corrections``) is the robust ensemble ratio of its
reference sources' measured fluxes to their baselines (`dsa110_contimg.photometry.normalize`);
its measurements' normalized fluxes are ``S / C`` (columns ``flux_norm_jyb``,
``flux_norm_err_jyb`` of the photometry rows; raw fluxes are kept).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from dsa110_contimg.database.models import ImageCorrection, PhotometryParamSet, Product
from dsa110_contimg.database.session import get_engine

__all__ = ["ImageCorrectionRecord", "get_image_correction"]


@dataclass(frozen=True)
class ImageCorrectionRecord:
    """A product's stored correction factor.

    Attributes
    ----------
    value, error : float
        The factor ``C`` (measured / baseline flux of the references) and its 1σ error.
    n_references : int
        How many references the ensemble kept.
    reference_source_ids : tuple of int
        Their catalogue source ids.
    method : str
        How the factor was computed.
    params_hash : str
        The photometry parameter set whose measurements it normalizes.
    """

    value: float
    error: float
    n_references: int
    reference_source_ids: tuple[int, ...]
    method: str
    params_hash: str


def get_image_correction(data_id: str, *, params_hash: str | None = None,
                         url: str | None = None) -> ImageCorrectionRecord | None:
    """The correction factor of a product, or None when it has none.

    Parameters
    ----------
    data_id : str
        The registered product.
    params_hash : str, optional
        A photometry parameter set; default: the most recently stored correction (that of the
        product's current measurement).
    url : str, optional
        Database URL (default from settings).
    """
    query = (select(ImageCorrection, PhotometryParamSet.params_hash)
             .join(Product, Product.id == ImageCorrection.product_id)
             .join(PhotometryParamSet, PhotometryParamSet.id == ImageCorrection.params_id)
             .where(Product.data_id == data_id)
             .order_by(ImageCorrection.created_at.desc(), ImageCorrection.id.desc()).limit(1))
    if params_hash is not None:
        query = query.where(PhotometryParamSet.params_hash == params_hash)
    with get_engine(url).connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return ImageCorrectionRecord(
        value=float(row.value), error=float(row.error), n_references=int(row.n_references),
        reference_source_ids=tuple(int(s) for s in row.reference_source_ids),
        method=str(row.method), params_hash=str(row.params_hash))
