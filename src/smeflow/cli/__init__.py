"""The ``smeflow`` command line."""

from smeflow.cli._main import app, main

__all__ = ["app", "main"]
