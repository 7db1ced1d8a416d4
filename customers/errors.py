"""Errors of the customer master: a bad record names the field and the value; a bad file also the file and row."""

from __future__ import annotations

from promessa.errors import FileRecordError


class CustomerFileError(FileRecordError):
    """A customer file (CSV or JSON) is refused at ``file``, 1-based data ``row``, ``field``, ``value``."""
