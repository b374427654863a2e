"""The streaming converter: watch, image, register, trigger photometry."""
