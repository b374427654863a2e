"""The named choices the command line and the API offer: file formats, detection presets and
candidate review states.

They live apart from the modules that act on them (`dsa110_contimg.catalog.readers`,
`dsa110_contimg.photometry.table_io`, `dsa110_contimg.variability.candidates`) so that offering
them — in ``contimg --help``, in an option's help text — imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CANDIDATE_STATUSES", "CATALOG_FORMATS", "OUTPUT_FORMATS", "PRESETS", "Preset"]

#: Catalogue formats `dsa110_contimg.catalog.readers.read_catalog` reads, and what they are.
CATALOG_FORMATS: dict[str, str] = {
    "nvss-raw": "NRAO NVSS CATALOG.FIT (AIPS VL table)",
    "nvss-vz": "Obit condensed NVSS (AIPS VZ table)",
    "nvss-vizier": "NVSS VizieR VIII/65 export (TSV, CSV or VOTable)",
    "first": "FIRST catalogue FITS table",
    "vlass": "CIRADA VLASS component CSV",
    "csv": "generic CSV (name, ra_deg, dec_deg, ... or --map)",
    "fits": "generic FITS table (name, ra_deg, dec_deg, ... or --map)",
    "votable": "generic VOTable (name, ra_deg, dec_deg, ... or --map)",
}

#: Measurement-table formats and their astropy ``Table.write`` format names.
OUTPUT_FORMATS = {"csv": "ascii.csv", "parquet": "parquet", "votable": "votable"}

#: Review states of a variability candidate.
CANDIDATE_STATUSES = ("active", "dismissed", "confirmed")


@dataclass(frozen=True)
class Preset:
    """Detection settings: fewest epochs and the false-alarm probability per source."""

    name: str
    min_epochs: int
    false_alarm: float


#: The variability detection presets, strictest first.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("conservative", min_epochs=5, false_alarm=1e-4),
        Preset("moderate", min_epochs=5, false_alarm=1e-3),
        Preset("sensitive", min_epochs=3, false_alarm=1e-2),
    )
}
