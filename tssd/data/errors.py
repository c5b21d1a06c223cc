"""The errors every data loader raises: one base type, so that a command line turns any bad data
into one line naming the file (``python -m tssd train`` exits 2 on it)."""

from __future__ import annotations


class DataError(Exception):
    """Missing or bad data; the message names the file (or folder) and what was expected."""


class DatasetUnavailable(DataError, FileNotFoundError):
    """A real dataset is not where it was expected; the message names the path and the layout."""


class DatasetCorrupt(DataError, ValueError):
    """A data file exists but cannot be decoded, or a dataset's files are not what it declares
    (wrong counts, an empty split); the message names the file and what is wrong."""
