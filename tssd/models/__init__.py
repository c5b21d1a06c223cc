"""Registered spiking architectures. Each returns per-timestep logits ``[T, B, classes]`` and, on
request, one stage's feature for the weak classifier (:class:`~tssd.models.heads.WeakClassifier`).

Importing this package imports no torch: the registry (:mod:`tssd.models.registry`) declares the
architectures by name, and the torch names below (networks, heads, counters) are read from their
modules on first use.
"""

from __future__ import annotations

from tssd.deferred import lazy_attributes
from tssd.models.registry import (
    MODELS,
    ModelConfig,
    WeakHeadConfig,
    build_for_run,
    build_model,
    register_model,
)

LAZY: dict[str, str] = {
    "NetOutput": "tssd.models.base",
    "SpikingNet": "tssd.models.base",
    "count_macs": "tssd.models.base",
    "count_params": "tssd.models.base",
    "encode_static": "tssd.models.base",
    "to_sequence": "tssd.models.base",
    "WeakClassifier": "tssd.models.heads",
}
"""Name -> the module (torch) it is read from on first use."""

__all__ = [
    "MODELS",
    "ModelConfig",
    "NetOutput",
    "SpikingNet",
    "WeakClassifier",
    "WeakHeadConfig",
    "build_for_run",
    "build_model",
    "count_macs",
    "count_params",
    "encode_static",
    "register_model",
    "to_sequence",
]

__getattr__ = lazy_attributes(__name__, LAZY)
