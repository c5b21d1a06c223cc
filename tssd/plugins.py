"""Plugins: methods, datasets, models or neuron backends added without editing the suite.

A plugin is a Python file or module that registers what it adds when it is imported
(:func:`tssd.methods.register_method`, :func:`tssd.data.register_dataset`,
:func:`tssd.models.register_model`). Name plugins in the environment variable ``TSSD_PLUGINS``,
comma-separated, each a dotted module name importable from ``sys.path`` or a path to a ``.py``
file::

    TSSD_PLUGINS=my_lab.methods,/home/me/tiny_set.py python -m bench run table1 --profile quick
    TSSD_PLUGINS=/home/me/tiny_set.py python -m tssd train run.yaml

Where they are loaded: before any run config is validated (:func:`tssd.config.validate`, so
``python -m tssd train``, ``config`` and every worker that builds a config), before the harness
plans (``bench.plan.expand``) and by ``python -m tssd data check``. The harness also hands the list
it loaded to every run job (``bench.execute.worker.RunJob.plugins``), so a worker forked from a fork
server started before the variable was set, a torchrun rank and a SLURM task load the same plugins.
Loading is idempotent: an entry already imported is skipped.

Plugins change no config hash by being loaded; a plugin method's hash follows the fields its
:class:`~tssd.methods.MethodSpec` says it reads, exactly like a built-in method's. A plugin that
imports torch makes planning import it too; one that registers its step, factory or loader as a
:class:`~tssd.deferred.Deferred` (``"my_lab.steps:my_step"``) keeps planning torch-free, as the
built-in ones do.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from tssd.errors import ConfigError

ENV = "TSSD_PLUGINS"
_LOADED: dict[str, ModuleType] = {}
"""Entry (as written) -> its imported module, in load order."""


def requested() -> list[str]:
    """The entries named by ``$TSSD_PLUGINS`` (empty when unset)."""
    return [e.strip() for e in os.environ.get(ENV, "").split(",") if e.strip()]


def loaded() -> tuple[str, ...]:
    """The entries imported so far in this process, in load order."""
    return tuple(_LOADED)


def _is_path(entry: str) -> bool:
    return entry.endswith(".py") or os.sep in entry or "/" in entry


def _import_file(entry: str) -> ModuleType:
    path = Path(entry).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(
            f"{ENV}: plugin {entry!r}: file not found; expected a dotted module name or a path "
            "to a .py file"
        )
    # One stable module name per file, so that a file named twice (relative and absolute)
    # is imported once and its registrations never run twice.
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    name = f"tssd_plugin_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{ENV}: plugin {entry!r}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_plugins(entries: Iterable[str] | None = None) -> tuple[str, ...]:
    """Import the plugins ``entries`` names (default: ``$TSSD_PLUGINS``) not imported yet.

    Returns:
        Every entry loaded in this process so far (what a worker must load to see the same
        registries).

    Raises:
        ConfigError: an entry cannot be found or its import fails (naming ``TSSD_PLUGINS``, the
            entry and the error).
    """
    for entry in requested() if entries is None else list(entries):
        if entry in _LOADED:
            continue
        try:
            module = _import_file(entry) if _is_path(entry) else importlib.import_module(entry)
        except ConfigError:
            raise
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if _is_path(entry) or not (entry == missing or entry.startswith(missing + ".")):
                raise ConfigError(
                    f"{ENV}: plugin {entry!r} failed to import: {type(exc).__name__}: {exc}"
                ) from exc
            raise ConfigError(
                f"{ENV}: plugin {entry!r}: no module named {missing!r}; expected a dotted module "
                "name importable from sys.path or a path to a .py file"
            ) from exc
        except Exception as exc:  # noqa: BLE001  (any error in a plugin's code is the plugin's)
            raise ConfigError(
                f"{ENV}: plugin {entry!r} failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        _LOADED[entry] = module
    return loaded()
