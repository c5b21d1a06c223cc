"""The reproduction harness: plan -> execute -> analyse -> present, one sub-package per stage,
none importing a later one (bench/README.md, "Data flow"); ``tssd`` only through ``tssd.api``."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""Repository root (holds ``paper_tables/`` and the default ``results/``)."""
BENCH_DIR = Path(__file__).resolve().parent
EXPERIMENTS_DIR = BENCH_DIR / "experiments"
PROFILES_DIR = BENCH_DIR / "profiles"
PAPER_TABLES_DIR = ROOT / "paper_tables"
