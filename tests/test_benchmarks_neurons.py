"""Smoke test of benchmarks/neurons.py: it runs end to end and writes a well-formed CSV.

No timing is asserted (the machine is shared and noisy); only that every candidate produced a
finite measurement and that ratios are computed against the stated baseline.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.backends]


def load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "bench_neurons", ROOT / "benchmarks" / "neurons.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_writes_one_row_per_measurement(tmp_path):
    bench = load_benchmark()
    assert bench.main(["--quick", "--sections", "layer,micro,tssd", "--out", str(tmp_path)]) == 0
    files = list(tmp_path.glob("cpu-float32-torch*.csv"))
    assert len(files) == 1
    rows = list(csv.DictReader(files[0].open()))
    layer = [r for r in rows if r["section"] == "layer" and r["metric"] == "time"]
    expected = {"relu", *bench.CANDIDATES}
    assert {r["candidate"] for r in layer if r["case"] == "T=8"} == expected
    for r in layer + [r for r in rows if r["section"] == "micro"]:
        assert math.isfinite(float(r["value"])) and float(r["value"]) > 0
        if r["candidate"] == r["baseline"]:
            assert float(r["ratio"]) == 1.0
    assert all(r["memory_method"].startswith("torch.profiler") for r in rows)
    assert "targets" not in {r["section"] for r in rows}  # a quick run gives no verdicts
