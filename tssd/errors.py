"""The errors the core raises across module boundaries, in a module that imports nothing.

Registries (datasets, methods, neuron backends), the config validator above them and the run
directory all raise these; keeping them here lets a low-level module raise a :class:`ConfigError`
without importing :mod:`tssd.config` (which imports the registries to validate a config).
Data errors live in :mod:`tssd.data.errors`.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names file, key and expectation."""


class RunFailed(RuntimeError):
    """The run stopped on a non-finite loss (or another fatal condition), or its run directory
    cannot be read; the message names the file (a failed run's summary.json says why)."""
