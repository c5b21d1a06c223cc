"""The config hash: the run cache's key and the name of a run directory.

Kept apart from :mod:`tssd.config` (which loads the registries and YAML) so that a run record is
checked against its config by hashing its stored fields alone (:mod:`bench.execute.records`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def config_hash(semantic: dict[str, Any]) -> str:
    """Stable 12-hex-digit hash of a config's semantic dict
    (:meth:`tssd.config.RunConfig.semantic_dict`)."""
    blob = json.dumps(semantic, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
