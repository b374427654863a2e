"""``python -m dsa110_contimg.cli`` runs the ``contimg`` command."""

from dsa110_contimg.cli import main

main()
