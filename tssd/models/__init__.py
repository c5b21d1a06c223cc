"""Registered spiking architectures. Each returns per-timestep logits ``[T, B, classes]`` and, on
request, one stage's feature for the weak classifier (:class:`~tssd.models.heads.WeakClassifier`).
"""

from tssd.models import micro, resnet, vgg  # noqa: F401  (registration side effects)
from tssd.models.base import (
    NetOutput,
    SpikingNet,
    count_macs,
    count_params,
    encode_static,
    to_sequence,
)
from tssd.models.heads import WeakClassifier
from tssd.models.registry import (
    MODELS,
    ModelConfig,
    WeakHeadConfig,
    build_for_run,
    build_model,
    register_model,
)

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
