"""What several test modules share (imported as ``helpers``: pytest puts ``tests/`` on the path).

:func:`write_tiny` writes the harness's smallest table experiment, one CIFAR10 column (the quick
profile maps it to the digits) and a row per method, for the tests that run ``bench run`` end to
end.
"""

from __future__ import annotations

from pathlib import Path

TINY_LAYOUT = """\
id: tiny
kind: table
title: tiny
status: inferred
columns:
  - {id: c10, label: CIFAR10, match: {dataset: cifar10}}
rows:
"""

TINY_EXPERIMENT = """\
id: tiny
kind: table
title: tiny
layout: {layout}
set: {{{sets}}}
grid:
  method: {methods}
  dataset: [cifar10]
  t_s: [1]
derive: {{method.t_t: "t_s + 1"}}
"""


def write_tiny(
    tmp_path: Path, rows: list[tuple[str, str, str]], sets: str, methods: str = "", more: str = ""
) -> Path:
    """``tmp_path/tiny.yaml`` and its layout ``tmp_path/layouts/tiny.yaml``: one row per
    ``(row id, label, method)``, the grid of ``methods`` (a YAML list; default the rows' methods)
    on cifar10 at ``t_s`` 1 with ``t_t = t_s + 1``, ``sets`` (the body of a YAML mapping) set on
    every run and ``more`` (further top-level YAML: method variants, claims) appended."""
    (tmp_path / "layouts").mkdir(exist_ok=True)
    layout = tmp_path / "layouts" / "tiny.yaml"
    layout.write_text(
        TINY_LAYOUT
        + "".join(
            f"  - {{id: {i}, label: {label}, match: {{method: {m}}}}}\n" for i, label, m in rows
        )
    )
    exp = tmp_path / "tiny.yaml"
    methods = methods or "[" + ", ".join(m for _, _, m in rows) + "]"
    exp.write_text(TINY_EXPERIMENT.format(layout=layout, sets=sets, methods=methods) + more)
    return exp
