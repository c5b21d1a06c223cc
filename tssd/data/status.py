"""The verdict of ``python -m tssd data check`` for one dataset (shared by every loader)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class DatasetStatus:
    """Whether a dataset is present, complete and valid under a data root, and where it was sought.

    ``present``: its files were found. ``complete``: every expected file/sample is there (counts
    equal the official ones). ``valid``: every file's header and size are what its format says
    (every file decoded with ``--deep``). ``problems`` lists what is wrong, each naming the file.
    ``misplaced``: the files were found in another layout; the message says what to move where.
    """

    name: str
    present: bool
    complete: bool = False
    valid: bool = False
    where: str = ""
    """The path found, or the paths searched when absent."""
    layout: str = ""
    """The expected layout and how to get the data (shown when absent or broken)."""
    counts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    misplaced: str = ""

    @property
    def ok(self) -> bool:
        """Absent, or present, complete and valid (what the exit status of ``data check`` uses)."""
        if self.misplaced:
            return False
        return not self.present or (self.complete and self.valid and not self.problems)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for ``--json``."""
        return {**asdict(self), "ok": self.ok}
