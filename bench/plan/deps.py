"""The harness's optional dependencies, checked before the first run instead of after the last.

``pip install -e '.[harness]'`` installs them all; each command asks only for what it will use
(figures need matplotlib, ``--launcher slurm`` needs submitit, running needs filelock), so a
missing one fails in one line with its install command, before any run starts.
"""

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


def missing(modules: list[str]) -> list[str]:
    """The modules of ``modules`` that cannot be imported."""
    out = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            out.append(name)
    return out


def require(needs: dict[str, str]) -> None:
    """Check that every module of ``needs`` (module -> what needs it) imports.

    Raises:
        SpecError: one line naming what needs which missing module and the pip command.
    """
    gone = missing(list(needs))
    if gone:
        why = "; ".join(f"{needs[m]} needs {m}" for m in gone)
        pins = " ".join(f"'{REQUIREMENTS.get(m, m)}'" for m in gone)
        raise SpecError(
            f"{why}, which is not installed; install it with: pip install {pins} "
            "(or pip install -e '.[harness]')"
        )
