"""Batch photometry jobs: creation (`service`), execution (`worker`, `executor`)."""
