"""`promessa serve` lives in ``api/cli.py`` (the HTTP layer); this module keeps the command mounted
until ``promessa/cli.py`` mounts ``api.cli`` itself."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``serve`` (``api.cli.register``)."""
    from api import cli

    cli.register(sub)
