"""The harness's optional dependencies, checked before the first run, not after the last."""

from __future__ import annotations

import importlib

from bench.plan.schema import SpecError

REQUIREMENTS = {
    "matplotlib": "matplotlib>=3.8",
    "seaborn": "seaborn>=0.13",
    "filelock": "filelock>=3.12",
    "submitit": "submitit>=1.5",
}
"""Module -> the requirement that installs it (as in pyproject.toml's ``harness`` extra)."""


def require(needs: dict[str, str]) -> None:
    """Raise a one-line :class:`SpecError` naming what needs which missing module of ``needs``
    (module -> what needs it) and the pip command that installs it."""
    gone = []
    for name in needs:
        try:
            importlib.import_module(name)
        except ImportError:
            gone.append(name)
    if gone:
        why = "; ".join(f"{needs[m]} needs {m}" for m in gone)
        pins = " ".join(f"'{REQUIREMENTS.get(m, m)}'" for m in gone)
        raise SpecError(
            f"{why}, which is not installed; install it with: pip install {pins} "
            "(or pip install -e '.[harness]')"
        )
