"""``python -m smeflow`` is the ``smeflow`` command."""

from smeflow.cli import main

main()
