"""Turning observations into registered images (the streaming converter)."""
